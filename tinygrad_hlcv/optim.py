"""Optimizers (SGD with momentum/Nesterov, Adam) and per-epoch learning-rate schedules.

The update rules are PyTorch's, so hyperparameters carry over:
  SGD:   g ← ∇ + wd·θ;  v ← μ v + g (v = g on the first step);
         θ ← θ − lr·(g + μ v) with Nesterov, else θ ← θ − lr·v.
  Adam:  g ← ∇ + wd·θ;  m ← β1 m + (1−β1) g;  s ← β2 s + (1−β2) g²;
         θ ← θ − lr · (m / (1−β1ᵗ)) / (√(s / (1−β2ᵗ)) + ε).
With a constant learning rate, SGD's momentum equals the course's
`v ← μ v − lr·g; θ ← θ + v`. Parameters without a gradient are skipped.
"""
import math
from collections.abc import Mapping

import numpy as np

from . import kernels
from .convert import is_real, is_whole, shown
from .errors import ConfigError
from .engine import Tensor


def _check(condition, message):
    if not condition:
        raise ConfigError(message)


class Optimizer:
    _BUFFERS = ()  # the names of each parameter's state buffers (what load_state_dict accepts)

    def __init__(self, params, lr):
        try:
            self.params = list(params)
        except TypeError:
            raise ConfigError(f"optimizer parameters must be an iterable of Tensors (pass "
                              f"model.parameters()), got {type(params).__name__}") from None
        _check(self.params, "optimizer got an empty parameter list; expected the parameters of "
                            "a model (model.parameters())")
        _check(all(isinstance(p, Tensor) and p.requires_grad for p in self.params),
               "optimizer parameters must be Tensors with requires_grad=True "
               "(pass model.parameters())")
        _check(is_real(lr) and lr > 0, f"learning rate must be > 0 (a finite number), got "
                                     f"{shown(lr)}")
        self.lr = float(lr)
        self.state = [{} for _ in self.params]

    def zero_grad(self):
        """Forget the accumulated gradients (backward adds into .grad)."""
        for p in self.params:
            p.grad = None

    def step(self):
        for p, state in zip(self.params, self.state):
            if p.grad is not None:
                self._update(p.data, p.grad, state)

    def _update(self, theta, grad, state):
        raise NotImplementedError

    def state_dict(self):
        """Learning rate and per-parameter buffers, for checkpoints."""
        return {"lr": self.lr, "state": [{k: (v.copy() if isinstance(v, np.ndarray) else v)
                                          for k, v in s.items()} for s in self.state]}

    def load_state_dict(self, state):
        _check(isinstance(state, Mapping) and "lr" in state and "state" in state,
               f"optimizer state must be a dict with 'lr' and 'state' (as state_dict() gives), "
               f"got {sorted(map(str, state)) if isinstance(state, Mapping) else shown(state)}")
        _check(is_real(state["lr"]) and state["lr"] > 0,
               f"optimizer state: learning rate must be > 0, got {shown(state['lr'])}")
        _check(isinstance(state["state"], (list, tuple)),
               f"optimizer state: 'state' must be a list of per-parameter dicts, got "
               f"{type(state['state']).__name__}")
        _check(len(state["state"]) == len(self.params),
               f"optimizer state has {len(state['state'])} parameters, expected "
               f"{len(self.params)} (one per parameter of this optimizer)")
        for i, (p, buffers) in enumerate(zip(self.params, state["state"])):
            _check(isinstance(buffers, Mapping), f"optimizer state of parameter {i}: expected a "
                                                 f"dict of buffers, got {type(buffers).__name__}")
            _check(not buffers or sorted(buffers) == sorted(self._BUFFERS),
                   f"optimizer state of parameter {i}: expected the buffers "
                   f"{sorted(self._BUFFERS)} of {type(self).__name__} (or none), got "
                   f"{sorted(map(str, buffers))}")
            for key, value in buffers.items():
                if key == "step":
                    _check(is_whole(value) and value >= 0, f"optimizer state of parameter {i}: "
                           f"step must be an integer >= 0, got {shown(value)}")
                    continue
                _check(isinstance(value, np.ndarray) and value.dtype.kind == "f"
                       and value.shape == p.shape,
                       f"optimizer state of parameter {i}: expected {key} as a float array of "
                       f"the parameter's shape {p.shape}, got "
                       + (f"{value.dtype} {value.shape}" if isinstance(value, np.ndarray)
                          else shown(value)))
                _check(np.isfinite(value).all() and (key != "s" or (value >= 0).all()),
                       f"optimizer state of parameter {i}: {key} holds NaN, Inf"
                       + (" or negative values" if key == "s" else " values")
                       + "; expected the finite buffers of a healthy run")
        self.lr = float(state["lr"])
        # copy the buffers: _update changes them in place, the checkpoint must not change
        self.state = [{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()}
                      for s in state["state"]]


class SGD(Optimizer):
    _BUFFERS = ("momentum_buffer",)

    def __init__(self, params, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(params, lr)
        _check(is_real(momentum) and 0 <= momentum < 1,
               f"momentum must be in [0, 1), got {shown(momentum)}")
        _check(is_real(weight_decay) and weight_decay >= 0,
               f"weight_decay must be >= 0 (a finite number), got {shown(weight_decay)}")
        _check(not nesterov or momentum > 0, "Nesterov momentum needs momentum > 0")
        self.momentum, self.nesterov, self.weight_decay = momentum, nesterov, weight_decay

    def _update(self, theta, grad, state):
        """One fused pass over θ, ∇ (and v) with kernels.sgd_update: NumPy's temporaries
        made the plain step θ -= lr·∇ ~3× slower on a 3072×600 weight."""
        velocity, first = np.empty(0, theta.dtype), False
        if self.momentum:
            velocity = state.get("momentum_buffer")
            first = velocity is None
            if first:
                velocity = state["momentum_buffer"] = np.empty_like(theta, dtype=grad.dtype)
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

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        _check(isinstance(betas, (tuple, list)) and len(betas) == 2
               and all(is_real(b) and 0 <= b < 1 for b in betas),
               f"betas must be a pair (β1, β2) of numbers in [0, 1), got {shown(betas)}")
        _check(is_real(eps) and eps > 0, f"eps must be > 0 (a finite number), got {shown(eps)}")
        _check(is_real(weight_decay) and weight_decay >= 0,
               f"weight_decay must be >= 0 (a finite number), got {shown(weight_decay)}")
        self.betas, self.eps, self.weight_decay = tuple(betas), eps, weight_decay

    def _update(self, theta, grad, state):
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

    def __init__(self, optimizer):
        _check(isinstance(optimizer, Optimizer), f"{type(self).__name__} needs an optimizer "
                                                 f"(SGD or Adam), got {type(optimizer).__name__}")
        self.optimizer, self.base_lr, self.epoch = optimizer, optimizer.lr, 0

    def lr_at(self, epoch):
        raise NotImplementedError

    def step(self):
        self.epoch += 1
        self.optimizer.lr = self.lr_at(self.epoch)
        return self.optimizer.lr

    def state_dict(self):
        return {"base_lr": self.base_lr, "epoch": self.epoch}

    def load_state_dict(self, state):
        _check(isinstance(state, Mapping) and is_real(state.get("base_lr"))
               and is_whole(state.get("epoch")) and state["epoch"] >= 0,
               f"schedule state must be a dict with a number 'base_lr' and an integer 'epoch' "
               f">= 0 (as state_dict() gives), got {shown(state)}")
        self.base_lr, self.epoch = state["base_lr"], state["epoch"]
        self.optimizer.lr = self.lr_at(self.epoch)


class ExponentialLR(LRScheduler):
    """lr = base · γ^epoch: the course's `learning_rate_decay`."""

    def __init__(self, optimizer, gamma):
        _check(is_real(gamma) and 0 < gamma <= 1, f"gamma must be in (0, 1], got {shown(gamma)}")
        super().__init__(optimizer)
        self.gamma = gamma

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** epoch


class StepLR(LRScheduler):
    """lr = base · γ^⌊epoch / step_size⌋."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        _check(is_whole(step_size) and step_size >= 1,
               f"step_size must be an integer >= 1, got {shown(step_size)}")
        _check(is_real(gamma) and 0 < gamma <= 1, f"gamma must be in (0, 1], got {shown(gamma)}")
        super().__init__(optimizer)
        self.step_size, self.gamma = step_size, gamma

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """lr = η_min + (base − η_min)(1 + cos(π·epoch / T_max)) / 2, held at η_min after T_max."""

    def __init__(self, optimizer, T_max, eta_min=0.0):
        _check(is_whole(T_max) and T_max >= 1, f"T_max must be an integer >= 1, got {shown(T_max)}")
        _check(is_real(eta_min) and eta_min >= 0,
               f"eta_min must be >= 0 (a finite number), got {shown(eta_min)}")
        super().__init__(optimizer)
        self.T_max, self.eta_min = T_max, eta_min

    def lr_at(self, epoch):
        progress = min(epoch, self.T_max) / self.T_max
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * progress)) / 2
