"""The training objective: softmax cross-entropy, and the L2 penalty on weights."""
from collections.abc import Iterable

import numpy as np

from .. import fused
from ..convert import is_real, shown, with_article
from ..engine import Tensor
from ..errors import ConfigError, DTypeError
from . import functional as F
from .layers import linear_layers
from .module import Module


class SoftmaxCrossEntropy(Module):
    """Mean over the batch of -log softmax(logits)[label], fused and numerically stable
    (log-softmax by the max-shift; never the log of an underflowed probability).

    `loss_fn(logits, labels)` takes N×C float logits and N integer labels in [0, C).
    """

    def forward(self, logits, labels):
        return F.softmax_cross_entropy(logits, labels)


def l2_penalty(weights, lam):
    """λ Σ_l ‖W_l‖²_F as a Tensor: add it to the data loss to get the derivation's J~.

    `weights` is a model, whose Linear layers' weights (not biases) are meant, one
    weight tensor, or an iterable of them: float32 or float64 Tensors of any shape
    (NumPy arrays are taken as constants)."""
    if isinstance(weights, Module):
        weights = [layer.weight for layer in linear_layers(weights)]
    elif isinstance(weights, (Tensor, np.ndarray)):
        weights = [weights]
    elif isinstance(weights, (str, bytes)) or not isinstance(weights, Iterable):
        raise DTypeError(f"l2_penalty: weights must be a model, a weight tensor or a list of "
                         f"them, got {with_article(type(weights).__name__)}")
    weights = [F._float_tensor(w, "l2_penalty", f"weight {i}") for i, w in enumerate(weights)]
    if not weights:
        raise ConfigError("l2_penalty: no weights given; expected at least one weight tensor "
                          "(a model with a Linear layer)")
    if not is_real(lam) or lam < 0:
        raise ConfigError(f"l2_penalty: the strength λ must be a finite number >= 0, got "
                          f"{shown(lam)}")
    return fused.L2Penalty.apply(*weights, lam=float(lam))
