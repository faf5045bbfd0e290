"""The layers as functions: argument checks, then the fused op of `fused.py`.

Every check a user's mistake can trip is here, before any kernel runs, so the
ops themselves are only their maths and a kernel never sees an array it cannot
take: a Tensor (or a NumPy array, taken as a constant) of float32 or float64 (relu
also takes integers), of one dtype with the other arrays of the op, of the shape the
op needs.
"""

from typing import Any

import numpy as np
import numpy.typing as npt

from .. import fused
from ..convert import is_real, is_whole, shown, with_article
from ..dtypes import FLOAT_DTYPES
from ..engine import Tensor
from ..errors import ConfigError, DTypeError, LabelError, ShapeError
from ..movement import pad  # noqa: F401  (torch.nn.functional.pad)
from ..random import default_generator
from .conv import (  # noqa: F401
    adaptive_avg_pool2d,
    avg_pool2d,
    batch_norm2d,
    conv2d,
    dropout2d,
    max_pool2d,
)
from .embedding import embedding  # noqa: F401  (public here, as in torch.nn.functional)
from .normalization import batch_norm, layer_norm  # noqa: F401


def _as_tensor(x: Any, what: str, name: str = "input") -> Tensor:
    """x as a Tensor; a NumPy array becomes a constant Tensor (no gradient)."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        try:
            return Tensor(x)
        except DTypeError as err:
            raise DTypeError(f"{what}: {name}: {err}") from None
    raise DTypeError(
        f"{what}: {name} must be a Tensor or a NumPy array, got {with_article(type(x).__name__)}"
    )


def _float_tensor(x: Any, what: str, name: str = "input") -> Tensor:
    """x as a float32 or float64 Tensor: the dtypes the kernels are for."""
    x = _as_tensor(x, what, name)
    if x.dtype not in FLOAT_DTYPES:
        raise DTypeError(
            f"{what}: {name} must be float32 or float64, got dtype {x.dtype}; "
            "convert it with Tensor(x, dtype=np.float32)"
        )
    return x


def linear(
    x: Tensor | npt.NDArray[Any],
    weight: Tensor | npt.NDArray[Any],
    bias: Tensor | npt.NDArray[Any] | None = None,
) -> Tensor:
    """x W + b: x of shape (batch, in_features), W stored (in_features, out_features),
    b of shape (out_features,) or None, all of one float dtype (as PyTorch's F.linear,
    with W transposed). NumPy arrays are taken as constants."""
    x = _float_tensor(x, "Linear", "input")
    weight = _float_tensor(weight, "Linear", "weight")
    if weight.ndim != 2:
        raise ShapeError(
            f"Linear: weight of shape {weight.shape}; expected a 2-D weight "
            "(in_features, out_features)"
        )
    if x.ndim != 2 or x.shape[1] != weight.shape[0]:
        raise ShapeError(
            f"Linear: input of shape {x.shape} does not fit weight of shape "
            f"{weight.shape}; expected input (batch, {weight.shape[0]})"
        )
    if x.shape[0] == 0:
        raise ShapeError(f"Linear: empty batch (input shape {x.shape}); expected at least one row")
    parents: tuple[Tensor, ...] = (x, weight)
    if bias is not None:
        bias = _float_tensor(bias, "Linear", "bias")
        if bias.shape != (weight.shape[1],):
            raise ShapeError(
                f"Linear: bias of shape {bias.shape} does not fit weight of shape "
                f"{weight.shape}; expected shape ({weight.shape[1]},)"
            )
        parents += (bias,)
    if any(p.dtype != weight.dtype for p in parents):
        names = ("input", "weight", "bias")
        got = ", ".join(f"{name} {p.dtype}" for name, p in zip(names, parents))
        raise DTypeError(
            f"Linear: {got}; expected one dtype, the weight's {weight.dtype} "
            f"(convert with Tensor(x, dtype=np.{weight.dtype}))"
        )
    return fused.Linear.apply(*parents)


def relu(x: Tensor | npt.NDArray[Any]) -> Tensor:
    """max(x, 0) element-wise; its derivative at 0 is 0, as in PyTorch. Integer tensors
    stay integers, as PyTorch's and Tensor.relu; a bool tensor is refused."""
    x = _as_tensor(x, "ReLU")
    if x.dtype.kind not in "fiu":
        raise DTypeError(f"ReLU: input must be a float or integer tensor, got dtype {x.dtype}")
    return fused.ReLU.apply(x)


def check_negative_slope(negative_slope: float) -> None:
    """ConfigError unless LeakyReLU's slope is a finite number (the layer checks it once)."""
    if not is_real(negative_slope):
        raise ConfigError(
            f"LeakyReLU: negative_slope must be a finite number, got {shown(negative_slope)}"
        )


def leaky_relu(x: Tensor | npt.NDArray[Any], negative_slope: float = 0.01) -> Tensor:
    """x where x > 0, else negative_slope·x (derivative negative_slope at 0, as PyTorch)."""
    check_negative_slope(negative_slope)
    x = _float_tensor(x, "LeakyReLU")
    return fused.LeakyReLU.apply(x, negative_slope=negative_slope)


def check_dropout_p(p: float) -> None:
    """ConfigError unless the dropout probability is in [0, 1)."""
    if not is_real(p) or not 0 <= p < 1:
        raise ConfigError(
            f"Dropout: p is the probability of dropping a unit and must be a "
            f"number in [0, 1), got {shown(p)}"
        )


def check_label_smoothing(label_smoothing: float, what: str) -> None:
    """ConfigError unless label smoothing ε is in [0, 1]."""
    if not is_real(label_smoothing) or not 0 <= label_smoothing <= 1:
        raise ConfigError(
            f"{what}: label_smoothing must be a number in [0, 1], got {shown(label_smoothing)}"
        )


def _check_generator(generator: np.random.Generator | None) -> None:
    if generator is not None and not callable(getattr(generator, "random", None)):
        raise ConfigError(
            f"Dropout: generator must be a numpy.random.Generator "
            f"(np.random.default_rng(seed)) or None, got "
            f"{with_article(type(generator).__name__)}"
        )


def dropout_mask(
    shape: Any, p: float, generator: np.random.Generator | None = None
) -> npt.NDArray[np.bool_]:
    """A 0/1 (bool) mask of `shape` (a size or a tuple of sizes) keeping each entry with
    probability 1 - p."""
    shape = (shape,) if is_whole(shape) else tuple(shape) if isinstance(shape, list) else shape
    if not isinstance(shape, tuple) or not all(is_whole(n) and n >= 0 for n in shape):
        raise ShapeError(f"dropout_mask: shape must be a tuple of sizes >= 0, got {shown(shape)}")
    check_dropout_p(p)
    _check_generator(generator)
    generator = generator if generator is not None else default_generator()
    return generator.random(shape) >= p


def _check_mask(mask: Tensor | npt.NDArray[Any], x: Tensor) -> npt.NDArray[np.bool_]:
    """The mask as a C-contiguous bool array of x's shape."""
    mask = mask.data if isinstance(mask, Tensor) else mask
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
        got = (
            f"an array of dtype {mask.dtype}"
            if isinstance(mask, np.ndarray)
            else with_article(type(mask).__name__)
        )
        raise DTypeError(
            f"dropout: mask must be a bool array (True keeps a unit), got {got}; "
            "convert a 0/1 mask with mask != 0"
        )
    if mask.shape != x.shape:
        raise ShapeError(
            f"dropout: mask of shape {mask.shape} for input of shape "
            f"{x.shape}; expected the input's shape"
        )
    return np.ascontiguousarray(mask)


def dropout(
    x: Tensor | npt.NDArray[Any],
    p: float,
    training: bool = True,
    generator: np.random.Generator | None = None,
    mask: Tensor | npt.NDArray[np.bool_] | None = None,
) -> Tensor:
    """Drop each entry with probability p and scale the rest by 1/(1-p) (training only).
    A given `mask` (bool, x's shape) is used instead of drawing one."""
    check_dropout_p(p)
    _check_generator(generator)
    x = _float_tensor(x, "Dropout")  # scaling by 1/(1-p) needs floats
    if not training or p == 0:
        return x
    mask = dropout_mask(x.shape, p, generator) if mask is None else _check_mask(mask, x)
    return fused.Dropout.apply(x, mask=mask, scale=1.0 / (1.0 - p))


def check_labels(labels: Any, n: int, num_classes: int) -> npt.NDArray[np.int64]:
    """Labels as a 1-D int64 array of length n with values in [0, num_classes)."""
    labels = labels.data if isinstance(labels, Tensor) else labels
    try:
        labels = np.asarray(labels)
    except (TypeError, ValueError, OverflowError) as err:  # ragged lists, ...
        raise LabelError(
            f"labels must be a 1-D array of integer class indices, got a "
            f"{type(labels).__name__} NumPy cannot make an array of ({err})"
        ) from None
    if labels.dtype.kind not in "iu":
        got = f"dtype {labels.dtype}"
        if labels.dtype.kind in "fb" and labels.size:
            got += (
                f" with values in [{labels.min()}, {labels.max()}]; convert them with "
                ".astype(np.int64)"
            )
        raise LabelError(
            f"labels must be integers (class indices in [0, {num_classes - 1}]), got {got}"
        )
    if labels.shape != (n,):
        raise LabelError(
            f"labels of shape {labels.shape} do not match a batch of {n} logits; "
            f"expected shape ({n},)"
        )
    if n and (labels.min() < 0 or labels.max() >= num_classes):
        raise LabelError(
            f"labels must lie in [0, {num_classes - 1}] for {num_classes} classes, "
            f"got values in [{labels.min()}, {labels.max()}]"
        )
    return labels.astype(np.int64, copy=False)


def softmax_cross_entropy(
    logits: Tensor | npt.NDArray[Any], labels: Any, label_smoothing: float = 0.0
) -> Tensor:
    """Mean over the batch of -log softmax(logits)[label]: logits (batch, classes) of a
    float dtype, labels `batch` integers in [0, classes). With label_smoothing ε the target
    is (1 - ε) one-hot + ε/classes, as in cross_entropy."""
    check_label_smoothing(label_smoothing, "softmax cross-entropy")
    logits = _float_tensor(logits, "softmax cross-entropy", "logits")
    if logits.ndim != 2:
        raise ShapeError(
            f"softmax cross-entropy needs 2-D logits (batch, classes), got shape {logits.shape}"
        )
    n, c = logits.shape
    if n == 0:
        raise ShapeError(
            f"softmax cross-entropy of an empty batch (logits shape {logits.shape}); "
            "expected at least one row"
        )
    if c == 0:
        raise ShapeError(
            f"softmax cross-entropy needs at least one class, got logits of shape {logits.shape}"
        )
    labels = check_labels(labels, n, c)
    return fused.SoftmaxCrossEntropy.apply(logits, Tensor(labels), smoothing=float(label_smoothing))


# The losses live in nn/loss.py, which uses the checks above (through `functional.` inside its
# functions): re-exported last, after they exist. nn/__init__ imports this module first.
from .loss import (  # noqa: E402, F401  (public here, as in torch.nn.functional)
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
