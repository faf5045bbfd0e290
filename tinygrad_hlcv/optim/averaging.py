"""Weight averaging: Lookahead, an exponential moving average (EMA) of the weights that the
weights are pulled back to every k steps (hlb-CIFAR10's and airbench's LookaheadState).

Every `k`-th step, after the wrapped optimizer's update:

    ema ← ema + (1 − decay)·(w − ema),   w ← ema

so with decay near 1 the weights stay near a slow average of where the optimizer went
(less noise late in training), and with decay 0 nothing changes. airbench schedules the
decay by the fraction f of training elapsed, decay = 0.95⁵·f³ (a schedule sets
`lookahead.decay`), and ends with `sync(1.0)`: the weights become the average.

PyTorch has no Lookahead; its torch.optim.swa_utils.AveragedModel keeps a plain EMA
beside the model without writing it back. The names here follow it where they fit
(`decay` as get_ema_multi_avg_fn's, `update_parameters` for one averaging step).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from ..convert import is_real, is_whole, shown
from ..engine import Tensor
from ..errors import ConfigError, ShapeError
from .optimizer import Optimizer


def _check_decay(decay: object) -> float:
    if not (is_real(decay) and 0.0 <= float(decay) <= 1.0):  # type: ignore[arg-type]
        raise ConfigError(f"Lookahead: decay must be a number in [0, 1], got {shown(decay)}")
    return float(decay)  # type: ignore[arg-type]


def _checked_buffers(buffers: Iterable[Tensor]) -> list[Tensor]:
    buffers = list(buffers)
    for b in buffers:
        if not (isinstance(b, Tensor) and b.data.dtype.kind == "f"):
            raise ConfigError(
                f"Lookahead: buffers must be float Tensors (e.g. BatchNorm's running_mean), "
                f"got {type(b).__name__}"
            )
    return buffers


class Lookahead:
    """Wraps an optimizer (step, zero_grad, state_dict as the optimizer's) and every `k`
    steps pulls its parameters to their EMA with `decay` (see the module docstring).
    Schedules go on the wrapped optimizer (`lookahead.optimizer`); `param_groups` and
    `lr` are the wrapped optimizer's. The EMA covers every parameter of the optimizer's
    groups (frozen ones do not move, so their EMA is themselves) and the `buffers` (Tensors
    such as BatchNorm's running statistics, which airbench averages too)."""

    def __init__(
        self,
        optimizer: Optimizer,
        k: int = 5,
        decay: float = 0.95**5,
        buffers: Iterable[Tensor] = (),
    ) -> None:
        if not isinstance(optimizer, Optimizer):
            raise ConfigError(
                f"Lookahead wraps an optimizer (optim.SGD, ...), got {type(optimizer).__name__}"
            )
        if not (is_whole(k) and k >= 1):
            raise ConfigError(f"Lookahead: k must be an integer >= 1, got {shown(k)}")
        self.optimizer, self.k, self.decay = optimizer, int(k), _check_decay(decay)
        self.params = [p for group in optimizer.param_groups for p in group["params"]]
        self.params += _checked_buffers(buffers)
        self.ema = [p.data.copy() for p in self.params]
        self.steps = 0

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.optimizer.param_groups

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """The optimizer's step; then, every k-th step, update_parameters(decay)."""
        loss = self.optimizer.step(closure)
        self.steps += 1
        if self.steps % self.k == 0:
            self.update_parameters(self.decay)
        return loss

    def update_parameters(self, decay: float) -> None:
        """ema ← ema + (1 − decay)(w − ema), then w ← ema (in place, each weight's version
        bumped, as an optimizer step does). sync(1.0) makes the weights the EMA."""
        decay = _check_decay(decay)
        for p, ema in zip(self.params, self.ema, strict=True):
            ema += (1.0 - decay) * (p.data - ema)
            np.copyto(p.data, ema, casting="same_kind")
            p._versions.value += 1

    sync = update_parameters

    def state_dict(self) -> dict[str, Any]:
        """The wrapped optimizer's state, the EMA (copies), the step count, k and decay."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "ema": [e.copy() for e in self.ema],
            "steps": self.steps,
            "k": self.k,
            "decay": self.decay,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what state_dict() gave; an EMA that does not fit the parameters is refused
        before anything changes."""
        ema = state["ema"]
        shapes = [np.shape(e) for e in ema]
        if shapes != [p.shape for p in self.params]:
            raise ShapeError(
                f"Lookahead state holds an EMA of shapes {shapes}; expected the parameters' "
                f"{[p.shape for p in self.params]}"
            )
        self.optimizer.load_state_dict(state["optimizer"])
        self.ema = [np.array(e, dtype=p.data.dtype) for e, p in zip(ema, self.params, strict=True)]
        self.steps, self.k = int(state["steps"]), int(state["k"])
        self.decay = _check_decay(state["decay"])
