"""Layers, losses and the Module base class."""

from . import functional
from .layers import Dropout, LeakyReLU, Linear, ReLU, Sequential, derivation_names, linear_layers
from .loss import SoftmaxCrossEntropy, l2_penalty
from .module import Module

__all__ = [
    "Module",
    "Linear",
    "ReLU",
    "LeakyReLU",
    "Dropout",
    "Sequential",
    "SoftmaxCrossEntropy",
    "l2_penalty",
    "linear_layers",
    "derivation_names",
    "functional",
]
