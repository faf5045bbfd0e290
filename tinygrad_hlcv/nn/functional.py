"""The layers as functions: argument checks, then the fused op of `fused.py`.

Every check a user's mistake can trip is here, before any kernel runs, so the
ops themselves are only their maths and a kernel never sees an array it cannot
take.
"""
import numpy as np

from .. import fused
from ..convert import is_real, shown
from ..engine import Tensor
from ..errors import ConfigError, DTypeError, LabelError, ShapeError
from ..random import default_generator


def _as_tensor(x, what):
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return Tensor(x)
    raise DTypeError(f"{what}: expected a Tensor or NumPy array, got {type(x).__name__}")


def linear(x, weight, bias=None):
    x = _as_tensor(x, "Linear")
    if x.dtype.kind != "f":
        raise DTypeError(f"Linear: input must be a float array, got dtype {x.dtype}")
    if x.shape[:1] == (0,):
        raise ShapeError(f"Linear: empty batch (input shape {x.shape}); expected at least "
                         "one row")
    if x.ndim != 2 or x.shape[1] != weight.shape[0]:
        raise ShapeError(f"Linear: input of shape {x.shape} does not fit weight of shape "
                         f"{weight.shape}; expected input (batch, {weight.shape[0]})")
    parents = (x, weight) if bias is None else (x, weight, bias)
    return fused.Linear.apply(*parents)


def relu(x):
    return fused.ReLU.apply(_as_tensor(x, "relu"))


def leaky_relu(x, negative_slope=0.01):
    if not is_real(negative_slope):
        raise ConfigError(f"LeakyReLU: negative_slope must be a finite number, got "
                          f"{shown(negative_slope)}")
    return fused.LeakyReLU.apply(_as_tensor(x, "leaky_relu"), negative_slope=negative_slope)


def check_dropout_p(p):
    if not is_real(p) or not 0 <= p < 1:
        raise ConfigError(f"Dropout: p is the probability of dropping a unit and must be a "
                          f"number in [0, 1), got {shown(p)}")


def dropout_mask(shape, p, generator=None):
    """A 0/1 (bool) mask keeping each entry with probability 1 - p."""
    generator = generator if generator is not None else default_generator()
    return generator.random(shape) >= p


def dropout(x, p, training=True, generator=None, mask=None):
    """Drop each entry with probability p and scale the rest by 1/(1-p) (training only).
    A given `mask` (bool, x's shape) is used instead of drawing one."""
    check_dropout_p(p)
    x = _as_tensor(x, "dropout")
    if not training or p == 0:
        return x
    if x.dtype.kind != "f":  # scaling by 1/(1-p) needs floats
        raise DTypeError(f"Dropout: input must be a float array, got dtype {x.dtype}")
    if mask is None:
        mask = dropout_mask(x.shape, p, generator)
    elif np.shape(mask) != x.shape:
        raise ShapeError(f"dropout: mask of shape {np.shape(mask)} for input of shape "
                         f"{x.shape}; expected the input's shape")
    return fused.Dropout.apply(x, mask=np.ascontiguousarray(mask, dtype=bool),
                                 scale=1.0 / (1.0 - p))


def check_labels(labels, n, num_classes):
    """Labels as a 1-D int64 array of length n with values in [0, num_classes)."""
    labels = labels.data if isinstance(labels, Tensor) else labels
    try:
        labels = np.asarray(labels)
    except (TypeError, ValueError, OverflowError) as err:  # ragged lists, ...
        raise LabelError(f"labels must be a 1-D array of integer class indices, got a "
                         f"{type(labels).__name__} NumPy cannot make an array of ({err})") from None
    if labels.dtype.kind not in "iu":
        got = f"dtype {labels.dtype}"
        if labels.dtype.kind in "fb" and labels.size:
            got += (f" with values in [{labels.min()}, {labels.max()}]; convert them with "
                    ".astype(np.int64)")
        raise LabelError(f"labels must be integers (class indices in [0, {num_classes - 1}]), "
                         f"got {got}")
    if labels.shape != (n,):
        raise LabelError(f"labels of shape {labels.shape} do not match a batch of {n} logits; "
                         f"expected shape ({n},)")
    if n and (labels.min() < 0 or labels.max() >= num_classes):
        raise LabelError(f"labels must lie in [0, {num_classes - 1}] for {num_classes} classes, "
                         f"got values in [{labels.min()}, {labels.max()}]")
    return labels.astype(np.int64, copy=False)


def softmax_cross_entropy(logits, labels):
    logits = _as_tensor(logits, "softmax cross-entropy: logits")
    if logits.ndim != 2:
        raise ShapeError(f"softmax cross-entropy needs 2-D logits (batch, classes), got shape "
                         f"{logits.shape}")
    if logits.dtype.kind != "f":
        raise DTypeError(f"softmax cross-entropy: logits must be a float array, got dtype "
                         f"{logits.dtype}")
    n, c = logits.shape
    if n == 0:
        raise ShapeError(f"softmax cross-entropy of an empty batch (logits shape {logits.shape}); "
                         "expected at least one row")
    if c == 0:
        raise ShapeError(f"softmax cross-entropy needs at least one class, got logits of shape "
                         f"{logits.shape}")
    labels = check_labels(labels, n, c)
    return fused.SoftmaxCrossEntropy.apply(logits, Tensor(labels))
