"""Adagrad, PyTorch's update rule:
    t ← t + 1;  g ← ∇ + wd·θ;  S ← S + g² (S starts at initial_accumulator_value);
    θ ← θ − clr · g / (√S + ε),  clr = lr / (1 + (t − 1)·lr_decay),
in one fused pass (optim_kernels.adagrad_update).
"""

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from .. import optim_kernels
from ..hyperparams import Hyperparameter
from .optimizer import EPS, RATE, WEIGHT_DECAY, Optimizer, ParamsT

LR_DECAY = Hyperparameter("lr_decay", low=0)
INITIAL_ACCUMULATOR_VALUE = Hyperparameter("initial_accumulator_value", low=0)


class Adagrad(Optimizer):
    """Adagrad: steps scaled by the root of the summed squared gradients, with an optional
    decay of the rate."""

    HYPERPARAMETERS: ClassVar[dict[str, Hyperparameter]] = {
        "lr": RATE,
        "lr_decay": LR_DECAY,
        "weight_decay": WEIGHT_DECAY,
        "initial_accumulator_value": INITIAL_ACCUMULATOR_VALUE,
        "eps": EPS,
    }
    BUFFERS = ("step", "sum")
    NONNEGATIVE = ("sum",)

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ) -> None:
        super().__init__(
            params,
            dict(
                lr=lr,
                lr_decay=lr_decay,
                weight_decay=weight_decay,
                initial_accumulator_value=initial_accumulator_value,
                eps=eps,
            ),
        )

    def _update(
        self, theta: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: Mapping[str, Any]
    ) -> None:
        if "step" not in state:
            state.update(
                step=0, sum=np.full(theta.shape, group["initial_accumulator_value"], theta.dtype)
            )
        state["step"] += 1
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        s = theta.dtype.type
        optim_kernels.update(
            "adagrad_update",
            (theta, grad, state["sum"]),
            (s(clr), s(group["eps"]), s(group["weight_decay"])),
        )
