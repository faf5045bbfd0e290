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

import numpy as np

from .errors import ConfigError
from .tensor import Tensor


def _check(condition, message):
    if not condition:
        raise ConfigError(message)


class Optimizer:
    def __init__(self, params, lr):
        self.params = list(params)
        _check(self.params, "optimizer got an empty parameter list")
        _check(all(isinstance(p, Tensor) and p.requires_grad for p in self.params),
               "optimizer parameters must be Tensors with requires_grad=True "
               "(pass model.parameters())")
        _check(lr > 0, f"learning rate must be > 0, got {lr}")
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
        _check(len(state["state"]) == len(self.params),
               f"optimizer state has {len(state['state'])} parameters, this optimizer "
               f"has {len(self.params)}")
        self.lr = float(state["lr"])
        # copy the buffers: _update changes them in place, the checkpoint must not change
        self.state = [{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()}
                      for s in state["state"]]


class SGD(Optimizer):
    def __init__(self, params, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(params, lr)
        _check(0 <= momentum < 1, f"momentum must be in [0, 1), got {momentum}")
        _check(weight_decay >= 0, f"weight_decay must be >= 0, got {weight_decay}")
        _check(not nesterov or momentum > 0, "Nesterov momentum needs momentum > 0")
        self.momentum, self.nesterov, self.weight_decay = momentum, nesterov, weight_decay

    def _update(self, theta, grad, state):
        g = grad + self.weight_decay * theta if self.weight_decay else grad
        if self.momentum:
            v = state.get("momentum_buffer")
            if v is None:
                v = state["momentum_buffer"] = np.array(g, copy=True)
            else:
                v *= self.momentum
                v += g
            g = g + self.momentum * v if self.nesterov else v
        theta -= theta.dtype.type(self.lr) * g


class Adam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        _check(all(0 <= b < 1 for b in betas), f"betas must be in [0, 1), got {betas}")
        _check(eps > 0, f"eps must be > 0, got {eps}")
        _check(weight_decay >= 0, f"weight_decay must be >= 0, got {weight_decay}")
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
        self.base_lr, self.epoch = state["base_lr"], state["epoch"]
        self.optimizer.lr = self.lr_at(self.epoch)


class ExponentialLR(LRScheduler):
    """lr = base · γ^epoch: the course's `learning_rate_decay`."""

    def __init__(self, optimizer, gamma):
        _check(0 < gamma <= 1, f"gamma must be in (0, 1], got {gamma}")
        super().__init__(optimizer)
        self.gamma = gamma

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** epoch


class StepLR(LRScheduler):
    """lr = base · γ^⌊epoch / step_size⌋."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        _check(step_size >= 1, f"step_size must be >= 1, got {step_size}")
        _check(0 < gamma <= 1, f"gamma must be in (0, 1], got {gamma}")
        super().__init__(optimizer)
        self.step_size, self.gamma = step_size, gamma

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """lr = η_min + (base − η_min)(1 + cos(π·epoch / T_max)) / 2, held at η_min after T_max."""

    def __init__(self, optimizer, T_max, eta_min=0.0):
        _check(T_max >= 1, f"T_max must be >= 1, got {T_max}")
        super().__init__(optimizer)
        self.T_max, self.eta_min = T_max, eta_min

    def lr_at(self, epoch):
        progress = min(epoch, self.T_max) / self.T_max
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * progress)) / 2
