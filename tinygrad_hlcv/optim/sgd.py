"""SGD with momentum and Nesterov momentum, PyTorch's update rule:
    g ← ∇ + wd·θ;  v ← μ v + g (v = g on the first step);
    θ ← θ − lr·(g + μ v) with Nesterov, else θ ← θ − lr·v.
With a constant learning rate, the momentum form equals the course's
`v ← μ v − lr·g; θ ← θ + v`. (PyTorch's `dampening` is not offered: it is always 0.)
"""

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from .. import kernels
from ..errors import ConfigError
from ..hyperparams import Hyperparameter
from .optimizer import MOMENTUM, RATE, WEIGHT_DECAY, Optimizer, ParamsT

NESTEROV = Hyperparameter("nesterov", flag=True)


class SGD(Optimizer):
    """SGD with momentum, Nesterov momentum and L2 weight decay (the module docstring has the
    rule), one fused kernel pass per parameter."""

    HYPERPARAMETERS: ClassVar[dict[str, Hyperparameter]] = {
        "lr": RATE,
        "momentum": MOMENTUM,
        "weight_decay": WEIGHT_DECAY,
        "nesterov": NESTEROV,
    }
    BUFFERS = ("momentum_buffer",)

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        momentum: float = 0.0,
        *,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(
            params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)
        )

    def _check_hyperparameters(self, group: Mapping[str, Any], where: str) -> None:
        super()._check_hyperparameters(group, where)
        if group["nesterov"] and not group["momentum"] > 0:
            raise ConfigError(f"{where}Nesterov momentum needs momentum > 0")

    def _required_buffers(self, group: Mapping[str, Any]) -> tuple[str, ...]:
        return ("momentum_buffer",) if group["momentum"] else ()

    def _update(
        self, theta: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: Mapping[str, Any]
    ) -> None:
        """One fused pass over θ, ∇ (and v) with kernels.sgd_update, instead of NumPy's
        weight-sized temporaries (measured in docs/performance.md, "What helped")."""
        velocity, first = np.empty(0, theta.dtype), False
        if group["momentum"]:
            first = "momentum_buffer" not in state
            if first:
                state["momentum_buffer"] = np.empty_like(theta, dtype=grad.dtype)
            velocity = state["momentum_buffer"]
        scalar = theta.dtype.type
        args = (
            scalar(group["lr"]),
            scalar(group["momentum"]),
            scalar(group["weight_decay"]),
            bool(group["nesterov"]),
            first,
        )
        if (
            theta.flags.c_contiguous
            and grad.flags.c_contiguous
            and velocity.flags.c_contiguous
            and theta.dtype == grad.dtype == velocity.dtype
            and theta.shape == grad.shape
        ):
            kernels.active.sgd_update(
                theta.reshape(-1), grad.reshape(-1), velocity.reshape(-1), *args
            )
        else:  # other layouts or dtypes: the twin works on any arrays
            kernels.numpy_kernels.sgd_update(theta, grad, velocity, *args)
