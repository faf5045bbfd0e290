"""Optimizers and learning-rate schedules, with PyTorch's names, update rules and state
dicts, so hyperparameters and training code carry over:

    opt = optim.SGD([{"params": weights, "weight_decay": 5e-4},
                     {"params": biases, "weight_decay": 0}], lr=0.1, momentum=0.9)
    schedule = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)

Each update is one fused pass per parameter (kernels.sgd_update, optim_kernels); each
step bumps the `_version` of the parameters it changes, so a backward through a graph that
saved their old values raises. The schedules are also importable from here
(`optim.ExponentialLR`, ...).
"""

from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .averaging import Lookahead
from .lr_scheduler import (
    BudgetedOneCycleLR,
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    LRScheduler,
    MultiStepLR,
    OneCycleLR,
    ReduceLROnPlateau,
    SequentialLR,
    StepLR,
)
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "Lookahead",
    "lr_scheduler",
    "LRScheduler",
    "LambdaLR",
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "LinearLR",
    "OneCycleLR",
    "BudgetedOneCycleLR",
    "SequentialLR",
    "ReduceLROnPlateau",
]
