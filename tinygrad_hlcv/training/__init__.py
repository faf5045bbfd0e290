"""The application on top of the framework: the training loop, checkpoints and plots.

It imports the framework and is never imported by it (`import tinygrad_hlcv`
loads neither this package nor matplotlib and tqdm).
"""

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .loop import DivergedError, FitResult, History, Trainer, evaluate, fit, predict

__all__ = [
    "CheckpointError",
    "load_checkpoint",
    "save_checkpoint",
    "DivergedError",
    "FitResult",
    "History",
    "Trainer",
    "evaluate",
    "fit",
    "predict",
]
