"""Losses, as modules and as functions, with PyTorch's names, arguments and semantics.

Each loss is composed from Tensor ops (its gradient comes from theirs), except the common
case of `cross_entropy` (integer labels, mean, no weight or ignored entry; label smoothing
allowed), which runs the fused softmax cross-entropy. `reduction` is 'mean' (the default),
'sum' or 'none' (one loss per entry).
Unlike PyTorch, an input and a target of different shapes are an error, never a broadcast:
a prediction (N, 1) against targets (N,) would silently average an (N, N) matrix.

This module builds on nn.functional's argument checks (imported as a module, used only
inside functions); nn.functional re-exports the loss functions at its end.
"""

from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from .. import fused
from ..convert import is_real, is_whole, shown, with_article
from ..elementwise import Softplus, where
from ..engine import Tensor
from ..errors import ConfigError, DTypeError, LabelError, ShapeError
from . import functional as F
from .layers import linear_layers
from .module import Module

REDUCTIONS = ("mean", "sum", "none")

# An input, a target or a weight: a Tensor, or a NumPy array taken as a constant.
TensorLike = Tensor | npt.NDArray[Any]


# ----- argument checks ----------------------------------------------------------------------


def _check_reduction(reduction: str, what: str) -> None:
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ConfigError(
            f"{what}: reduction must be 'mean', 'sum' or 'none', got {shown(reduction)}"
        )


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss


def _same_dtype(t: Tensor, x: Tensor, what: str, name: str) -> Tensor:
    """t in x's dtype: a constant is converted, a tensor that needs a gradient must match."""
    if t.dtype == x.dtype:
        return t
    if t.requires_grad:
        raise DTypeError(
            f"{what}: {name} of dtype {t.dtype} for input of dtype {x.dtype}; "
            f"expected one dtype (convert with .to / Tensor(x, dtype=...))"
        )
    return Tensor(t.data.astype(x.dtype))


def _input_and_target(input: TensorLike, target: TensorLike, what: str) -> tuple[Tensor, Tensor]:
    """Float input and target Tensors of one shape and dtype (arrays are constants)."""
    x = F._float_tensor(input, what, "input")
    y = F._float_tensor(target, what, "target")
    if y.shape != x.shape:
        raise ShapeError(
            f"{what}: input of shape {x.shape} and target of shape {y.shape}; "
            "expected one shape (a prediction (N, 1) against targets (N,) would "
            "broadcast to (N, N): reshape one of them)"
        )
    return x, _same_dtype(y, x, what, "target")


def _broadcast_weight(
    weight: TensorLike | None, x: Tensor, what: str, name: str = "weight"
) -> Tensor | None:
    """An optional float weight Tensor that broadcasts to x's shape (not beyond it)."""
    if weight is None:
        return None
    w = F._float_tensor(weight, what, name)
    try:
        fits = np.broadcast_shapes(w.shape, x.shape) == x.shape
    except ValueError:
        fits = False
    if not fits:
        raise ShapeError(
            f"{what}: {name} of shape {w.shape} does not broadcast to the input's shape {x.shape}"
        )
    return _same_dtype(w, x, what, name)


def _check_in_unit_interval(t: Tensor, what: str, name: str, error: type[Exception]) -> None:
    data = t.data
    if data.size and not (np.all(data >= 0) and np.all(data <= 1)):
        raise error(
            f"{what}: every {name} must lie in [0, 1] (a probability), got values in "
            f"[{np.nanmin(data)}, {np.nanmax(data)}]"
            + (
                "; for raw scores use binary_cross_entropy_with_logits (BCEWithLogitsLoss)"
                if name == "input"
                else ""
            )
        )


def _class_weight(
    weight: TensorLike | None, x: Tensor, num_classes: int, what: str
) -> npt.NDArray[Any] | None:
    """The per-class weight as a constant array of x's dtype (PyTorch gives it no gradient)."""
    if weight is None:
        return None
    w = F._float_tensor(weight, what, "weight").data
    if w.shape != (num_classes,):
        raise ShapeError(
            f"{what}: weight of shape {w.shape} for {num_classes} classes; expected "
            f"shape ({num_classes},), one weight per class"
        )
    return w.astype(x.dtype, copy=False)


def _class_input(input: TensorLike, what: str) -> Tensor:
    """A float input with classes along dim 1 (or dim 0 of a single 1-D sample)."""
    x = F._float_tensor(input, what, "input")
    if x.ndim == 0 or (x.ndim >= 2 and x.shape[1] == 0) or (x.ndim == 1 and x.shape[0] == 0):
        raise ShapeError(
            f"{what}: input of shape {x.shape}; expected (C,), (N, C) or "
            "(N, C, d1, ...) with at least one class C"
        )
    return x


def _class_targets(
    target: Any, shape: tuple[int, ...], ignore_index: int, what: str
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Integer class indices of the input's shape without the class dim, each in [0, C) or
    ignore_index: (int64 labels, bool mask of the entries that count)."""
    data = target.data if isinstance(target, Tensor) else target
    try:
        data = np.asarray(data)
    except (TypeError, ValueError, OverflowError) as err:
        raise LabelError(
            f"{what}: target must be an array of integer class indices, got "
            f"{with_article(type(target).__name__)} ({err})"
        ) from None
    num_classes = shape[1] if len(shape) > 1 else shape[0]
    expected = shape[:1] + shape[2:] if len(shape) > 1 else ()
    if data.dtype.kind not in "iu":
        raise LabelError(
            f"{what}: target of dtype {data.dtype}; expected integer class indices "
            f"in [0, {num_classes - 1}] of shape {expected} (convert them with "
            ".astype(np.int64))"
        )
    if data.shape != expected:
        raise LabelError(
            f"{what}: target of shape {data.shape} for input of shape {shape}; "
            f"expected shape {expected}"
        )
    counted = data != ignore_index
    if np.any(counted & ((data < 0) | (data >= num_classes))):
        bad = data[counted & ((data < 0) | (data >= num_classes))]
        raise LabelError(
            f"{what}: class indices must lie in [0, {num_classes - 1}] for "
            f"{num_classes} classes (or equal ignore_index={ignore_index}), got "
            f"{bad.min() if bad.min() < 0 else bad.max()}"
        )
    return data.astype(np.int64), counted


def _check_ignore_index(ignore_index: int, what: str) -> None:
    if not is_whole(ignore_index):
        raise ConfigError(f"{what}: ignore_index must be an integer, got {shown(ignore_index)}")


def _nll(
    logp: Tensor,
    labels: npt.NDArray[np.int64],
    counted: npt.NDArray[np.bool_],
    weight: npt.NDArray[Any] | None,
    reduction: str,
) -> Tensor:
    """-w[y] logp[n, y] per entry (0 where ignored); 'mean' divides by Σ w[y] of the entries
    that count, as PyTorch. logp has classes along dim 1, labels its other dims."""
    safe = np.where(counted, labels, 0)
    picked = logp.gather(1, np.expand_dims(safe, 1)).reshape(labels.shape)
    w = (np.ones(labels.shape, logp.dtype) if weight is None else weight[safe]) * counted
    loss = -picked * w.astype(logp.dtype)
    if reduction == "mean":
        return loss.sum() / w.sum()
    return loss.sum() if reduction == "sum" else loss


def _batched(x: Tensor, target: Any) -> tuple[Tensor, Any]:
    """A single sample (C,) with a 0-d target as a batch of one."""
    if x.ndim == 1:
        return x.reshape(1, x.shape[0]), np.reshape(
            np.asarray(target.data if isinstance(target, Tensor) else target), (1,)
        )
    return x, target


def _unbatched(loss: Tensor, single: bool, reduction: str) -> Tensor:
    return loss.reshape(()) if single and reduction == "none" else loss


# ----- functions ----------------------------------------------------------------------------


def mse_loss(input: TensorLike, target: TensorLike, *, reduction: str = "mean") -> Tensor:
    """(input - target)² per entry, reduced."""
    _check_reduction(reduction, "mse_loss")
    x, y = _input_and_target(input, target, "mse_loss")
    d = x - y
    return _reduce(d * d, reduction)


def l1_loss(input: TensorLike, target: TensorLike, *, reduction: str = "mean") -> Tensor:
    """|input - target| per entry (derivative 0 where they are equal, as PyTorch)."""
    _check_reduction(reduction, "l1_loss")
    x, y = _input_and_target(input, target, "l1_loss")
    return _reduce((x - y).abs(), reduction)


def smooth_l1_loss(
    input: TensorLike, target: TensorLike, *, reduction: str = "mean", beta: float = 1.0
) -> Tensor:
    """0.5 d²/β where |d| < β, else |d| - 0.5 β (d = input - target); β = 0 is l1_loss."""
    _check_reduction(reduction, "smooth_l1_loss")
    if not is_real(beta) or beta < 0:
        raise ConfigError(f"smooth_l1_loss: beta must be a number >= 0, got {shown(beta)}")
    x, y = _input_and_target(input, target, "smooth_l1_loss")
    d = (x - y).abs()
    if beta == 0:
        return _reduce(d, reduction)
    return _reduce(where(d.data < beta, d * d * (0.5 / beta), d - 0.5 * beta), reduction)


def huber_loss(
    input: TensorLike, target: TensorLike, *, reduction: str = "mean", delta: float = 1.0
) -> Tensor:
    """0.5 d² where |d| < δ, else δ (|d| - 0.5 δ): smooth_l1_loss with β = δ, times δ."""
    _check_reduction(reduction, "huber_loss")
    if not is_real(delta) or delta <= 0:
        raise ConfigError(f"huber_loss: delta must be a number > 0, got {shown(delta)}")
    x, y = _input_and_target(input, target, "huber_loss")
    d = (x - y).abs()
    return _reduce(where(d.data < delta, d * d * 0.5, (d - 0.5 * delta) * delta), reduction)


def _clamped_log(p: Tensor) -> Tensor:
    """max(log p, -100) as PyTorch's BCE, with no log(0) and no 0·∞ in the gradient: p is
    first raised to the smallest positive float (whose log is below -100 in both dtypes)."""
    return p.clamp(min=np.finfo(p.dtype).smallest_subnormal).log().clamp(min=-100.0)


def binary_cross_entropy(
    input: TensorLike,
    target: TensorLike,
    weight: TensorLike | None = None,
    *,
    reduction: str = "mean",
) -> Tensor:
    """-w (y log p + (1 - y) log(1 - p)) for probabilities p = input and targets y in [0, 1],
    each log clamped at -100 as PyTorch (so p = 0 or 1 gives a finite loss)."""
    _check_reduction(reduction, "binary_cross_entropy")
    p, y = _input_and_target(input, target, "binary_cross_entropy")
    _check_in_unit_interval(p, "binary_cross_entropy", "input", ConfigError)
    _check_in_unit_interval(y, "binary_cross_entropy", "target", LabelError)
    w = _broadcast_weight(weight, p, "binary_cross_entropy")
    loss = -(y * _clamped_log(p) + (1 - y) * _clamped_log(1 - p))
    return _reduce(loss if w is None else loss * w, reduction)


def binary_cross_entropy_with_logits(
    input: TensorLike,
    target: TensorLike,
    weight: TensorLike | None = None,
    *,
    reduction: str = "mean",
    pos_weight: TensorLike | None = None,
) -> Tensor:
    """BCE of σ(x), stable for any logit x:  (1 - y) x + (1 + (pw - 1) y) log(1 + e⁻ˣ),
    times the weight; pos_weight pw (broadcast over the input, e.g. one per class) weighs
    the positive term. d/dx = σ(x)(1 + (pw - 1) y) - pw y."""
    what = "binary_cross_entropy_with_logits"
    _check_reduction(reduction, what)
    x, y = _input_and_target(input, target, what)
    w = _broadcast_weight(weight, x, what)
    pw = _broadcast_weight(pos_weight, x, what, "pos_weight")
    softplus = Softplus.apply(-x, beta=1.0, threshold=np.inf)  # log(1 + e⁻ˣ), exact
    loss = (1 - y) * x + (softplus if pw is None else ((pw - 1) * y + 1) * softplus)
    return _reduce(loss if w is None else loss * w, reduction)


def nll_loss(
    input: TensorLike,
    target: Any,
    weight: TensorLike | None = None,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """-w[y] input[n, y] for log-probabilities `input` (N, C) or (N, C, d1, ...) or (C,) and
    class indices `target` (N,) / (N, d1, ...) / (); entries equal to ignore_index count 0,
    and 'mean' divides by the summed weight of those that count."""
    _check_reduction(reduction, "nll_loss")
    _check_ignore_index(ignore_index, "nll_loss")
    x = _class_input(input, "nll_loss")
    labels, counted = _class_targets(target, x.shape, ignore_index, "nll_loss")
    weight = _class_weight(weight, x, x.shape[1] if x.ndim > 1 else x.shape[0], "nll_loss")
    single = x.ndim == 1
    x, labels = _batched(x, labels)
    loss = _nll(x, labels, np.reshape(counted, labels.shape), weight, reduction)
    return _unbatched(loss, single, reduction)


def cross_entropy(
    input: TensorLike,
    target: Any,
    weight: TensorLike | None = None,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """nll_loss of log_softmax(input) over the classes (dim 1, or 0 for a single sample).

    `target` holds class indices (integers, the input's shape without the class dim) or
    class probabilities (floats, the input's shape; ignore_index is then not supported).
    label_smoothing ε mixes the target with the uniform distribution: (1 - ε) y + ε/C.
    Integer labels for (N, C) logits, no class weight, no ignored entry and 'mean' take the
    fused kernel (label smoothing included)."""
    what = "cross_entropy"
    _check_reduction(reduction, what)
    _check_ignore_index(ignore_index, what)
    F.check_label_smoothing(label_smoothing, what)
    x = _class_input(input, what)
    data = target.data if isinstance(target, Tensor) else target
    if isinstance(data, np.ndarray) and data.dtype.kind == "f" and data.shape == x.shape:
        return _cross_entropy_probabilities(
            x, target, weight, ignore_index, reduction, label_smoothing
        )
    labels, counted = _class_targets(target, x.shape, ignore_index, what)
    if x.ndim == 2 and weight is None and reduction == "mean" and counted.all():
        return F.softmax_cross_entropy(x, labels, label_smoothing)
    return _cross_entropy_labels(x, labels, counted, weight, reduction, label_smoothing)


def _cross_entropy_labels(
    x: Tensor,
    labels: npt.NDArray[np.int64],
    counted: npt.NDArray[np.bool_],
    weight: TensorLike | None,
    reduction: str,
    label_smoothing: float,
) -> Tensor:
    """Composed from Tensor ops for class-index targets: the cases the fused kernel does not
    cover (class weight, ignored entries, other reductions, a single sample, 3+ dims)."""
    num_classes = x.shape[1] if x.ndim > 1 else x.shape[0]
    weight = _class_weight(weight, x, num_classes, "cross_entropy")
    single = x.ndim == 1
    x, labels = _batched(x, labels)
    counted = np.reshape(counted, labels.shape)
    logp = x.log_softmax(1)
    loss = _nll(logp, labels, counted, weight, reduction)
    if label_smoothing:
        smooth = _smoothing_loss(logp, labels, counted, weight, reduction)
        loss = loss * (1 - label_smoothing) + smooth * (label_smoothing / num_classes)
    return _unbatched(loss, single, reduction)


def _smoothing_loss(
    logp: Tensor,
    labels: npt.NDArray[np.int64],
    counted: npt.NDArray[np.bool_],
    weight: npt.NDArray[Any] | None,
    reduction: str,
) -> Tensor:
    """PyTorch's smoothing term: -Σ_c w_c logp_c per entry, 0 where ignored; 'mean' divides by
    the same Σ w[y] as the nll part, so the two mix as PyTorch's loss does."""
    num_classes = logp.shape[1]
    shape = (1, num_classes) + (1,) * (logp.ndim - 2)
    w = np.ones(num_classes, logp.dtype) if weight is None else weight
    smooth = -(logp * w.reshape(shape)).sum(1) * counted.astype(logp.dtype)
    if reduction == "mean":
        return smooth.sum() / w[np.where(counted, labels, 0)][counted].sum()
    return smooth.sum() if reduction == "sum" else smooth


def _cross_entropy_probabilities(
    x: Tensor,
    target: TensorLike,
    weight: TensorLike | None,
    ignore_index: int,
    reduction: str,
    label_smoothing: float,
) -> Tensor:
    """-Σ_c w_c y_c logp_c per sample, for class-probability targets y of x's shape."""
    what = "cross_entropy"
    if ignore_index != -100:
        raise ConfigError(
            f"{what}: ignore_index={ignore_index} with class-probability targets; "
            "ignore_index is only supported for class-index targets"
        )
    x, y = _input_and_target(x, target, what)
    class_dim = 1 if x.ndim > 1 else 0
    num_classes = x.shape[class_dim]
    weight = _class_weight(weight, x, num_classes, what)
    if label_smoothing:
        y = y * (1 - label_smoothing) + label_smoothing / num_classes
    terms = x.log_softmax(class_dim) * y
    if weight is not None:
        terms = terms * weight.reshape((num_classes,) + (1,) * (x.ndim - 1 - class_dim))
    loss = -terms.sum(class_dim)
    if reduction == "mean":
        return loss.sum() / (x.data.size // num_classes)
    return loss.sum() if reduction == "sum" else loss


# ----- modules ------------------------------------------------------------------------------


def _weight_buffer(module: Module, name: str, weight: TensorLike | None, what: str) -> None:
    """Keep an optional weight as a buffer (converted by .to(), never a parameter)."""
    if weight is not None and not isinstance(weight, Tensor):
        weight = F._float_tensor(weight, what, name)
    module.register_buffer(name, weight)


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        _check_reduction(reduction, type(self).__name__)
        self.reduction = reduction


class MSELoss(_Loss):
    """Mean squared error: mse_loss."""

    def forward(self, input: TensorLike, target: TensorLike) -> Tensor:
        return mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error: l1_loss."""

    def forward(self, input: TensorLike, target: TensorLike) -> Tensor:
        return l1_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_Loss):
    """smooth_l1_loss with threshold beta."""

    def __init__(self, *, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction)
        self.beta = beta

    def forward(self, input: TensorLike, target: TensorLike) -> Tensor:
        return smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    """huber_loss with threshold delta."""

    def __init__(self, *, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        self.delta = delta

    def forward(self, input: TensorLike, target: TensorLike) -> Tensor:
        return huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class BCELoss(_Loss):
    """binary_cross_entropy of probabilities, with an optional weight."""

    weight: Tensor | None  # a buffer

    def __init__(self, weight: TensorLike | None = None, *, reduction: str = "mean") -> None:
        super().__init__(reduction)
        _weight_buffer(self, "weight", weight, "BCELoss")

    def forward(self, input: TensorLike, target: TensorLike) -> Tensor:
        return binary_cross_entropy(input, target, self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """binary_cross_entropy_with_logits, with optional weight and pos_weight."""

    weight: Tensor | None  # a buffer
    pos_weight: Tensor | None  # a buffer

    def __init__(
        self,
        weight: TensorLike | None = None,
        *,
        reduction: str = "mean",
        pos_weight: TensorLike | None = None,
    ) -> None:
        super().__init__(reduction)
        _weight_buffer(self, "weight", weight, "BCEWithLogitsLoss")
        _weight_buffer(self, "pos_weight", pos_weight, "BCEWithLogitsLoss")

    def forward(self, input: TensorLike, target: TensorLike) -> Tensor:
        return binary_cross_entropy_with_logits(
            input, target, self.weight, reduction=self.reduction, pos_weight=self.pos_weight
        )


class NLLLoss(_Loss):
    """nll_loss of log-probabilities, with optional class weight and ignore_index."""

    weight: Tensor | None  # a buffer

    def __init__(
        self, weight: TensorLike | None = None, *, ignore_index: int = -100, reduction: str = "mean"
    ) -> None:
        super().__init__(reduction)
        _check_ignore_index(ignore_index, "NLLLoss")
        _weight_buffer(self, "weight", weight, "NLLLoss")
        self.ignore_index = ignore_index

    def forward(self, input: TensorLike, target: Any) -> Tensor:
        return nll_loss(
            input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction
        )


class CrossEntropyLoss(_Loss):
    """cross_entropy of logits: class indices or probabilities as targets."""

    weight: Tensor | None  # a buffer

    def __init__(
        self,
        weight: TensorLike | None = None,
        *,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(reduction)
        _check_ignore_index(ignore_index, "CrossEntropyLoss")
        F.check_label_smoothing(label_smoothing, "CrossEntropyLoss")
        _weight_buffer(self, "weight", weight, "CrossEntropyLoss")
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: TensorLike, target: Any) -> Tensor:
        return cross_entropy(
            input,
            target,
            self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )


# ----- the derivation's objective -------------------------------------------------------------


class SoftmaxCrossEntropy(Module):
    """Mean over the batch of -log softmax(logits)[label], fused and numerically stable
    (log-softmax by the max-shift; never the log of an underflowed probability).

    `loss_fn(logits, labels)` takes N×C float logits and N integer labels in [0, C).
    Its gradient with respect to the logits is (P − Y)/N, P the softmax probabilities
    and Y the one-hot labels (computed in the forward pass, so the backward is free).

    Examples:
        >>> loss_fn = nn.SoftmaxCrossEntropy()
        >>> round(loss_fn(tg.zeros(4, 10), np.array([0, 1, 2, 3])).item(), 4)  # log 10
        2.3026
    """

    def forward(self, logits: TensorLike, labels: Any) -> Tensor:
        return F.softmax_cross_entropy(logits, labels)


def l2_penalty(weights: Module | TensorLike | Iterable[TensorLike], lam: float) -> Tensor:
    """λ Σ_l ‖W_l‖²_F as a Tensor: add it to the data loss to get the derivation's J~.

    Its gradient with respect to each W_l is 2λ W_l. Example:
    `loss = nn.SoftmaxCrossEntropy()(model(x), y) + nn.l2_penalty(model, 0.25)`.

    `weights` is a model, whose Linear layers' weights (not biases) are meant, one
    weight tensor, or an iterable of them: float32 or float64 Tensors of any shape
    (NumPy arrays are taken as constants)."""
    if isinstance(weights, Module):
        weights = [layer.weight for layer in linear_layers(weights)]
    elif isinstance(weights, (Tensor, np.ndarray)):
        weights = [weights]
    elif isinstance(weights, (str, bytes)) or not isinstance(weights, Iterable):
        raise DTypeError(
            f"l2_penalty: weights must be a model, a weight tensor or a list of "
            f"them, got {with_article(type(weights).__name__)}"
        )
    tensors = [F._float_tensor(w, "l2_penalty", f"weight {i}") for i, w in enumerate(weights)]
    if not tensors:
        raise ConfigError(
            "l2_penalty: no weights given; expected at least one weight tensor "
            "(a model with a Linear layer)"
        )
    if not is_real(lam) or lam < 0:
        raise ConfigError(
            f"l2_penalty: the strength λ must be a finite number >= 0, got {shown(lam)}"
        )
    return fused.L2Penalty.apply(*tensors, lam=float(lam))
