"""Metrics for `fit(..., metrics=[...])`: plain functions `(outputs, targets) -> float` on
NumPy arrays, named by their `__name__` in the history ('accuracy', 'val_accuracy').

Write your own the same way; a metric should be a mean over examples (as these are), so
that its per-batch values average to the value over the whole set.
"""

from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import ShapeError

__all__ = ["accuracy", "mean_squared_error", "mean_absolute_error"]


def accuracy(outputs: npt.ArrayLike, targets: npt.ArrayLike) -> float:
    """The fraction of rows whose highest score (N×C `outputs`) is the integer label."""
    outputs, targets = np.asarray(outputs), np.asarray(targets)
    if outputs.ndim != 2 or targets.shape != (len(outputs),):
        raise ShapeError(
            f"accuracy: expected N×C scores and N labels, got scores of shape "
            f"{outputs.shape} and labels of shape {targets.shape}"
        )
    return float((outputs.argmax(1) == targets).mean())


def _same_shape(
    name: str, outputs: npt.ArrayLike, targets: npt.ArrayLike
) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    outputs, targets = np.asarray(outputs), np.asarray(targets)
    if outputs.shape != targets.shape:  # (N, 1) against (N,) would broadcast to N×N
        raise ShapeError(
            f"{name}: outputs of shape {outputs.shape} and targets of shape "
            f"{targets.shape}; expected the same shape"
        )
    return outputs, targets


def mean_squared_error(outputs: npt.ArrayLike, targets: npt.ArrayLike) -> float:
    """mean((outputs - targets)²) over all elements."""
    outputs, targets = _same_shape("mean_squared_error", outputs, targets)
    return float(np.mean((outputs - targets) ** 2))


def mean_absolute_error(outputs: npt.ArrayLike, targets: npt.ArrayLike) -> float:
    """mean(|outputs - targets|) over all elements."""
    outputs, targets = _same_shape("mean_absolute_error", outputs, targets)
    return float(np.mean(np.abs(outputs - targets)))
