"""Optimizers (SGD with momentum/Nesterov, Adam) and per-epoch learning-rate schedules.

The update rules are PyTorch's, so hyperparameters carry over:
  SGD:   g ← ∇ + wd·θ;  v ← μ v + g (v = g on the first step);
         θ ← θ − lr·(g + μ v) with Nesterov, else θ ← θ − lr·v.
  Adam:  g ← ∇ + wd·θ;  m ← β1 m + (1−β1) g;  s ← β2 s + (1−β2) g²;
         θ ← θ − lr · (m / (1−β1ᵗ)) / (√(s / (1−β2ᵗ)) + ε).
With a constant learning rate, SGD's momentum equals the course's
`v ← μ v − lr·g; θ ← θ + v`. Parameters without a gradient are skipped; each step bumps
the `_version` of the parameters it changes, so a backward through a graph that saved
their old values raises.
"""
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from . import kernels
from .convert import shown
from .engine import Tensor
from .errors import ConfigError
from .hyperparams import Hyperparameter

# Every hyperparameter's valid values, declared once (the defaults are in the signatures);
# constructors and load_state_dict check with these.
LR = Hyperparameter("lr", low=0, low_open=True, words="learning rate")
MOMENTUM = Hyperparameter("momentum", low=0, high=1, high_open=True)
NESTEROV = Hyperparameter("nesterov", flag=True)
WEIGHT_DECAY = Hyperparameter("weight_decay", low=0)
BETAS = Hyperparameter("betas", low=0, high=1, high_open=True, pair=("β1", "β2"))
EPS = Hyperparameter("eps", low=0, low_open=True)
GAMMA = Hyperparameter("gamma", low=0, high=1, low_open=True)
STEP_SIZE = Hyperparameter("step_size", low=1, integer=True)
T_MAX = Hyperparameter("T_max", low=1, integer=True)
ETA_MIN = Hyperparameter("eta_min", low=0)
STEP = Hyperparameter("step", low=0, integer=True)        # Adam's step count, in its state
BASE_LR = Hyperparameter("base_lr", low=0, low_open=True)  # a schedule's, in its state
EPOCH = Hyperparameter("epoch", low=0, integer=True)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _parameter_list(params: Iterable[Tensor]) -> list[Tensor]:
    """The parameters as a list of float leaf Tensors, each once: a tied weight listed twice
    would be updated twice per step. Frozen ones (requires_grad=False) are kept, as in
    PyTorch, and skipped by step(); but at least one must require grad."""
    try:
        params = list(params)
    except TypeError:
        raise ConfigError(f"optimizer parameters must be an iterable of Tensors (pass "
                          f"model.parameters()), got {type(params).__name__}") from None
    _require(bool(params), "optimizer got an empty parameter list; expected the parameters of "
                           "a model (model.parameters())")
    first_index: dict[int, int] = {}
    for i, p in enumerate(params):
        what = (f"of type {type(p).__name__}" if not isinstance(p, Tensor)
                else f"a Tensor of dtype {p.dtype}" if p.dtype.kind != "f"
                else "the result of an op, not a leaf" if not p.is_leaf else None)
        _require(what is None, f"optimizer parameters must be float Tensors that are leaves of "
                               f"the graph (pass model.parameters()); parameter {i} is {what}")
        j = first_index.setdefault(id(p), i)
        _require(i == j, f"optimizer parameter {i} is the same Tensor as parameter {j}; expected "
                         f"each parameter once (a tied weight would be updated twice per step)")
    _require(any(p.requires_grad for p in params),
             "no optimizer parameter requires grad; expected at least one with "
             "requires_grad=True (pass model.parameters(); frozen ones are skipped)")
    return params


def _copy_buffers(state: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()}
            for s in state]


class Optimizer:
    """The parameters (each once), the learning rate and each parameter's state buffers;
    a subclass gives the update rule, `_update`, which changes θ in place."""

    _BUFFERS: tuple[str, ...] = ()  # each parameter's state buffers (what load_state_dict takes)

    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        self.params = _parameter_list(params)
        LR.check(lr)
        self.lr = float(lr)
        self.state: list[dict[str, Any]] = [{} for _ in self.params]

    def zero_grad(self) -> None:
        """Forget the accumulated gradients (backward adds into .grad)."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Update, in place, every parameter that has a gradient, and bump its version."""
        for p, state in zip(self.params, self.state):
            if p.grad is not None:
                self._update(p.data, p.grad, state)
                p._version += 1

    def _update(self, theta: np.ndarray, grad: np.ndarray, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Learning rate and per-parameter buffers (copies), for checkpoints."""
        return {"lr": self.lr, "state": _copy_buffers(self.state)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what state_dict() gave; a state that does not fit changes nothing."""
        _require(isinstance(state, Mapping) and "lr" in state and "state" in state,
                 f"optimizer state must be a dict with 'lr' and 'state' (as state_dict() gives), "
                 f"got {sorted(map(str, state)) if isinstance(state, Mapping) else shown(state)}")
        LR.check(state["lr"], where="optimizer state: ")
        _require(isinstance(state["state"], (list, tuple)),
                 f"optimizer state: 'state' must be a list of per-parameter dicts, got "
                 f"{type(state['state']).__name__}")
        _require(len(state["state"]) == len(self.params),
                 f"optimizer state has {len(state['state'])} parameters, expected "
                 f"{len(self.params)} (one per parameter of this optimizer)")
        for i, (p, buffers) in enumerate(zip(self.params, state["state"])):
            self._check_buffers(f"optimizer state of parameter {i}: ", p, buffers)
        self.lr = float(state["lr"])
        # copies: _update changes the buffers in place, the checkpoint must not change
        self.state = _copy_buffers(state["state"])

    def _check_buffers(self, where: str, p: Tensor, buffers: object) -> None:
        if not isinstance(buffers, Mapping):
            raise ConfigError(f"{where}expected a dict of buffers, got {type(buffers).__name__}")
        _require(not buffers or set(buffers) == set(self._BUFFERS),
                 f"{where}expected the buffers {sorted(self._BUFFERS)} of {type(self).__name__} "
                 f"(or none), got {sorted(map(str, buffers))}")
        for key, value in buffers.items():
            if key == "step":
                STEP.check(value, where)
                continue
            _require(isinstance(value, np.ndarray) and value.dtype.kind == "f"
                     and value.shape == p.shape,
                     f"{where}expected {key} as a float array of the parameter's shape {p.shape}, "
                     f"got " + (f"{value.dtype} {value.shape}" if isinstance(value, np.ndarray)
                                else shown(value)))
            _require(bool(np.isfinite(value).all()) and (key != "s" or bool((value >= 0).all())),
                     f"{where}{key} holds NaN, Inf" + (" or negative values" if key == "s"
                                                       else " values")
                     + "; expected the finite buffers of a healthy run")


class SGD(Optimizer):
    _BUFFERS = ("momentum_buffer",)

    def __init__(self, params: Iterable[Tensor], lr: float, momentum: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        MOMENTUM.check(momentum)
        NESTEROV.check(nesterov)
        WEIGHT_DECAY.check(weight_decay)
        _require(not nesterov or momentum > 0, "Nesterov momentum needs momentum > 0")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        self.weight_decay = float(weight_decay)

    def _update(self, theta: np.ndarray, grad: np.ndarray, state: dict[str, Any]) -> None:
        """One fused pass over θ, ∇ (and v) with kernels.sgd_update, instead of NumPy's
        weight-sized temporaries (measured in docs/performance.md, "What helped")."""
        velocity, first = np.empty(0, theta.dtype), False
        if self.momentum:
            first = "momentum_buffer" not in state
            if first:
                state["momentum_buffer"] = np.empty_like(theta, dtype=grad.dtype)
            velocity = state["momentum_buffer"]
        scalar = theta.dtype.type
        args = (scalar(self.lr), scalar(self.momentum), scalar(self.weight_decay),
                bool(self.nesterov), first)
        if (theta.flags.c_contiguous and grad.flags.c_contiguous and velocity.flags.c_contiguous
                and theta.dtype == grad.dtype == velocity.dtype and theta.shape == grad.shape):
            kernels.active.sgd_update(theta.reshape(-1), grad.reshape(-1), velocity.reshape(-1),
                                      *args)
        else:  # other layouts or dtypes: the twin works on any arrays
            kernels.numpy_kernels.sgd_update(theta, grad, velocity, *args)


class Adam(Optimizer):
    _BUFFERS = ("step", "m", "s")

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        BETAS.check(betas)
        EPS.check(eps)
        WEIGHT_DECAY.check(weight_decay)
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps, self.weight_decay = float(eps), float(weight_decay)

    def _update(self, theta: np.ndarray, grad: np.ndarray, state: dict[str, Any]) -> None:
        b1, b2 = self.betas
        g = grad + self.weight_decay * theta if self.weight_decay else grad
        if not state:
            state.update(step=0, m=np.zeros_like(theta), s=np.zeros_like(theta))
        state["step"] += 1
        t, m, s = state["step"], state["m"], state["s"]
        m *= b1
        m += (1 - b1) * g
        s *= b2
        s += (1 - b2) * g * g
        step_size = self.lr / (1 - b1 ** t)
        denom = np.sqrt(s / (1 - b2 ** t)) + self.eps
        theta -= (step_size * m / denom).astype(theta.dtype, copy=False)


class LRScheduler:
    """Sets `optimizer.lr` from the epoch count; call `step()` once per epoch."""

    def __init__(self, optimizer: Optimizer) -> None:
        _require(isinstance(optimizer, Optimizer), f"{type(self).__name__} needs an optimizer "
                                                   f"(SGD or Adam), got {type(optimizer).__name__}")
        self.optimizer, self.base_lr, self.epoch = optimizer, optimizer.lr, 0

    def lr_at(self, epoch: int) -> float:
        raise NotImplementedError

    def step(self) -> float:
        """Advance one epoch; return the new learning rate."""
        self.epoch += 1
        self.optimizer.lr = self.lr_at(self.epoch)
        return self.optimizer.lr

    def state_dict(self) -> dict[str, Any]:
        return {"base_lr": self.base_lr, "epoch": self.epoch}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what state_dict() gave, and the optimizer's lr for that epoch."""
        _require(isinstance(state, Mapping) and "base_lr" in state and "epoch" in state,
                 f"schedule state must be a dict with 'base_lr' and 'epoch' (as state_dict() "
                 f"gives), got {shown(state)}")
        BASE_LR.check(state["base_lr"], where="schedule state: ")
        EPOCH.check(state["epoch"], where="schedule state: ")
        self.base_lr, self.epoch = float(state["base_lr"]), int(state["epoch"])
        self.optimizer.lr = self.lr_at(self.epoch)


class ExponentialLR(LRScheduler):
    """lr = base · γ^epoch: the course's `learning_rate_decay`."""

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        GAMMA.check(gamma)
        super().__init__(optimizer)
        self.gamma = float(gamma)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** epoch


class StepLR(LRScheduler):
    """lr = base · γ^⌊epoch / step_size⌋."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        STEP_SIZE.check(step_size)
        GAMMA.check(gamma)
        super().__init__(optimizer)
        self.step_size, self.gamma = int(step_size), float(gamma)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """lr = η_min + (base − η_min)(1 + cos(π·epoch / T_max)) / 2, held at η_min after T_max."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        T_MAX.check(T_max)
        ETA_MIN.check(eta_min)
        super().__init__(optimizer)
        self.T_max, self.eta_min = int(T_max), float(eta_min)

    def lr_at(self, epoch: int) -> float:
        progress = min(epoch, self.T_max) / self.T_max
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * progress)) / 2
