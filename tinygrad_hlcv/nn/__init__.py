"""Layers, losses and the Module base class."""

from . import functional, init, utils
from .activation import (
    ELU,
    GELU,
    Flatten,
    Identity,
    LogSoftmax,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
    Unflatten,
)
from .containers import ModuleDict, ModuleList, Sequential
from .conv import AdaptiveAvgPool2d, AvgPool2d, BatchNorm2d, Conv2d, MaxPool2d
from .embedding import Embedding
from .layers import Dropout, LeakyReLU, Linear, ReLU, derivation_names, linear_layers
from .loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
    SoftmaxCrossEntropy,
    l2_penalty,
)
from .module import Module
from .normalization import BatchNorm1d, LayerNorm

__all__ = [
    "Module",
    "Linear",
    "ReLU",
    "LeakyReLU",
    "Dropout",
    "Conv2d",
    "MaxPool2d",
    "AvgPool2d",
    "AdaptiveAvgPool2d",
    "BatchNorm2d",
    "Sequential",
    "ModuleList",
    "ModuleDict",
    "SoftmaxCrossEntropy",
    "l2_penalty",
    "linear_layers",
    "derivation_names",
    "functional",
    "init",
    "utils",
    "Identity",
    "Flatten",
    "Unflatten",
    "Sigmoid",
    "Tanh",
    "GELU",
    "SiLU",
    "ELU",
    "Softplus",
    "Softmax",
    "LogSoftmax",
    "BatchNorm1d",
    "LayerNorm",
    "Embedding",
    "MSELoss",
    "L1Loss",
    "SmoothL1Loss",
    "HuberLoss",
    "BCELoss",
    "BCEWithLogitsLoss",
    "NLLLoss",
    "CrossEntropyLoss",
]
