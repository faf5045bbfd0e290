"""The application on top of the framework: the training loops, metrics, checkpoints, plots.

It imports the framework and is never imported by it (`import tinygrad_hlcv`
loads neither this package nor matplotlib and tqdm).
"""

from . import metrics
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .diagnostics import Diagnostics
from .loop import (
    Callback,
    DivergedError,
    FitHistory,
    FitResult,
    History,
    Trainer,
    evaluate,
    fit,
    fit_cifar,
    fit_epochs,
    predict,
    scores,
)
from .metrics import accuracy

__all__ = [
    "CheckpointError",
    "load_checkpoint",
    "save_checkpoint",
    "Callback",
    "Diagnostics",
    "DivergedError",
    "FitHistory",
    "FitResult",
    "History",
    "Trainer",
    "accuracy",
    "evaluate",
    "fit",
    "fit_cifar",
    "fit_epochs",
    "metrics",
    "predict",
    "scores",
]
