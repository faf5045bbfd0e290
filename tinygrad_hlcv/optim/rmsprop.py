"""RMSprop, PyTorch's update rule (Hinton's, with the options PyTorch has):
    g ← ∇ + wd·θ;  s ← α s + (1−α) g²;
    centered: a ← α a + (1−α) g, d = √(s − a²) + ε;  else d = √s + ε;
    momentum μ > 0: b ← μ b + g/d, θ ← θ − lr·b;  else θ ← θ − lr·g/d,
in one fused pass (optim_kernels.rmsprop_update).
"""

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from .. import optim_kernels
from ..hyperparams import Hyperparameter
from .optimizer import EPS, MOMENTUM, RATE, WEIGHT_DECAY, Optimizer, ParamsT, zeros_like

ALPHA = Hyperparameter("alpha", low=0, high=1)
CENTERED = Hyperparameter("centered", flag=True)


def buffer(state: dict[str, Any], key: str, theta: np.ndarray) -> np.ndarray:
    """state[key], made as zeros the first time it is needed (an option turned on later)."""
    if key not in state:
        state[key] = zeros_like(theta)
    return state[key]


class RMSprop(Optimizer):
    """RMSprop: steps scaled by a running root-mean-square of the gradient, optionally centered
    and with momentum."""

    HYPERPARAMETERS: ClassVar[dict[str, Hyperparameter]] = {
        "lr": RATE,
        "alpha": ALPHA,
        "eps": EPS,
        "weight_decay": WEIGHT_DECAY,
        "momentum": MOMENTUM,
        "centered": CENTERED,
    }
    BUFFERS = ("step", "square_avg", "momentum_buffer", "grad_avg")
    NONNEGATIVE = ("square_avg",)

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        super().__init__(
            params,
            dict(
                lr=lr,
                alpha=alpha,
                eps=eps,
                weight_decay=weight_decay,
                momentum=momentum,
                centered=centered,
            ),
        )

    def _required_buffers(self, group: Mapping[str, Any]) -> tuple[str, ...]:
        return (
            ("step", "square_avg")
            + ("momentum_buffer",) * (group["momentum"] > 0)
            + ("grad_avg",) * bool(group["centered"])
        )

    def _update(
        self, theta: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: Mapping[str, Any]
    ) -> None:
        state["step"] = state.get("step", 0) + 1
        unused = np.empty(0, theta.dtype)
        momentum, centered = group["momentum"], bool(group["centered"])
        s = theta.dtype.type
        optim_kernels.update(
            "rmsprop_update",
            (
                theta,
                grad,
                buffer(state, "square_avg", theta),
                buffer(state, "grad_avg", theta) if centered else unused,
                buffer(state, "momentum_buffer", theta) if momentum > 0 else unused,
            ),
            (
                s(group["lr"]),
                s(group["alpha"]),
                s(1 - group["alpha"]),
                s(group["eps"]),
                s(group["weight_decay"]),
                s(momentum),
                centered,
            ),
        )
