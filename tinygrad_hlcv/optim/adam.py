"""Adam and AdamW, PyTorch's update rules (bias-corrected moments, no amsgrad):
    Adam:   g ← ∇ + wd·θ                      (L2: the decay goes through the moments)
    AdamW:  θ ← θ·(1 − lr·wd), g ← ∇           (decoupled weight decay)
    then    m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²;  t ← t + 1;
            θ ← θ − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + ε),
in one fused pass (optim_kernels.adam_update).
"""

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from .. import optim_kernels
from ..hyperparams import Hyperparameter
from .optimizer import EPS, RATE, WEIGHT_DECAY, Optimizer, ParamsT, zeros_like

BETAS = Hyperparameter("betas", low=0, high=1, high_open=True, pair=("β1", "β2"))


class Adam(Optimizer):
    """Adam: bias-corrected first and second moments, L2 weight decay through the gradient (the
    module docstring has the rule)."""

    HYPERPARAMETERS: ClassVar[dict[str, Hyperparameter]] = {
        "lr": RATE,
        "betas": BETAS,
        "eps": EPS,
        "weight_decay": WEIGHT_DECAY,
    }
    BUFFERS = ("step", "exp_avg", "exp_avg_sq")
    NONNEGATIVE = ("exp_avg_sq",)
    decoupled_weight_decay = False

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def _update(
        self, theta: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: Mapping[str, Any]
    ) -> None:
        if "step" not in state:
            state.update(step=0, exp_avg=zeros_like(theta), exp_avg_sq=zeros_like(theta))
        state["step"] += 1
        t, (beta1, beta2), lr = state["step"], group["betas"], group["lr"]
        wd = group["weight_decay"]
        s = theta.dtype.type  # the scalars in θ's dtype, derived here once for kernel and twin
        l2, decay = (0, 1 - lr * wd) if self.decoupled_weight_decay else (wd, 1)
        optim_kernels.update(
            "adam_update",
            (theta, grad, state["exp_avg"], state["exp_avg_sq"]),
            (
                s(beta1),
                s(1 - beta1),
                s(beta2),
                s(1 - beta2),
                s(lr / (1 - beta1**t)),
                s(math.sqrt(1 - beta2**t)),
                s(group["eps"]),
                s(l2),
                s(decay),
            ),
        )


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): θ shrinks by lr·wd·θ each
    step whatever the gradient's scale; the default decay is PyTorch's, 1e-2."""

    decoupled_weight_decay = True

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
