"""Reductions over dims: sum, mean, prod, max/min (with indices), amax/amin, argmax/argmin,
var/std, norm, logsumexp, all/any, cumsum, softmax and log_softmax.

PyTorch's names and semantics, with both spellings of the arguments: `dim=`/`keepdim=`
(PyTorch) and `axis=`/`keepdims=` (NumPy). `dim` is None (every dim), an int or a
non-empty tuple; an empty tuple is refused, because PyTorch reduces every dim for it and
NumPy none. A 0-d tensor takes dim 0 or -1, as in PyTorch.

This module defines `sum`, `max`, `min`, `all` and `any` as PyTorch does: inside it,
Python's own are `builtins.sum` etc.
"""

import collections
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from . import ops
from .convert import normalize_axis
from .dtypes import get_default_dtype
from .engine import Function, Tensor
from .errors import ConfigError, DTypeError, ShapeError

__all__ = [
    "sum",
    "mean",
    "prod",
    "max",
    "min",
    "amax",
    "amin",
    "argmax",
    "argmin",
    "var",
    "std",
    "norm",
    "logsumexp",
    "all",
    "any",
    "cumsum",
    "softmax",
    "log_softmax",
    "logsoftmax",
]

Array = npt.NDArray[Any]
Shape = tuple[int, ...]
Dims = Shape | None
"""Reduced dims after checking: a tuple of distinct dims in [0, ndim), or None for all."""
DimArg = int | Sequence[int] | None
"""A dim as the user gives it: None, an int, or a tuple or list of ints."""
Keep = bool | None


# ----- arguments ------------------------------------------------------------------------


def _pick(what: str, name: str, value: Any, alias: str, alias_value: Any) -> Any:
    """One of two spellings of an argument (dim/axis, keepdim/keepdims), never both."""
    if alias_value is None:
        return value
    if value is not None:
        raise ConfigError(
            f"{what}: got both {name}={value!r} and {alias}={alias_value!r}; "
            f"expected only one of them (they are the same argument)"
        )
    return alias_value


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _dims(x: Tensor, what: str, dim: DimArg = None, axis: DimArg = None) -> Dims:
    """The reduced dims as None (all) or a tuple of distinct dims in [0, ndim)."""
    dim = _pick(what, "dim", dim, "axis", axis)
    listed = dim if isinstance(dim, (tuple, list)) else (dim,)
    if dim is not None and not listed:
        raise ShapeError(
            f"{what}: dim=() is ambiguous (PyTorch reduces every dim, NumPy "
            "none); expected dim=None for every dim or a non-empty tuple"
        )
    if x.ndim == 0 and len(listed) == 1 and _is_int(listed[0]) and listed[0] in (0, -1):
        return None  # PyTorch: a 0-d tensor has the one dim 0 (or -1)
    return normalize_axis(dim, x.shape, what)


def _keep(what: str, keepdim: Keep = None, keepdims: Keep = None) -> bool:
    keep = _pick(what, "keepdim", keepdim, "keepdims", keepdims)
    if keep is None:
        return False
    if not isinstance(keep, (bool, np.bool_)):
        raise ConfigError(f"{what}: keepdim={keep!r}; expected True or False")
    return bool(keep)


def _one_dim(x: Tensor, what: str, dim: int | None, axis: int | None = None) -> int | None:
    """A single dim as an int in [0, ndim), or None for dim 0 (or -1) of a 0-d tensor."""
    dim = _pick(what, "dim", dim, "axis", axis)
    if dim is None:
        raise ShapeError(f"{what}: expected a dim (an int), got none")
    if not _is_int(dim):
        raise ShapeError(f"{what}: dim={dim!r}; expected one int")
    if x.ndim == 0 and dim in (0, -1):
        return None
    return cast(Shape, normalize_axis(dim, x.shape, what))[0]


def _count(shape: Shape, dims: Dims) -> int:
    """How many entries each reduction over `dims` (None: all) combines."""
    return int(np.prod([shape[d] for d in (range(len(shape)) if dims is None else dims)]))


def _restore(g: Array, shape: Shape, dims: Dims, keepdim: bool) -> Array:
    """A reduction's gradient with the reduced dims back (size 1), ready to broadcast."""
    if keepdim:
        return g
    if dims is None:
        return np.reshape(g, (1,) * len(shape))
    return np.expand_dims(g, dims)


def _as_float(x: Tensor) -> Tensor:
    """x itself if it holds floats, else its values in the default float dtype (an integer
    or bool tensor never requires grad, so no graph is lost)."""
    return x if x.dtype.kind == "f" else Tensor(x.data.astype(get_default_dtype()))


# ----- sum, mean, prod ----------------------------------------------------------------------


def sum(
    x: Tensor,
    dim: DimArg = None,
    keepdim: Keep = None,
    *,
    axis: DimArg = None,
    keepdims: Keep = None,
) -> Tensor:
    """Σ x over `dim` (every dim by default).

    The gradient of a sum is the incoming gradient copied back over the summed dims.
    `dim`/`keepdim` as PyTorch, or NumPy's `axis`/`keepdims`.

    Examples:
        >>> x = tg.tensor([[1.0, 2.0], [3.0, 4.0]])
        >>> x.sum().item(), x.sum(dim=0).tolist(), x.sum(axis=1, keepdims=True).shape
        (10.0, [4.0, 6.0], (2, 1))
    """
    dims = _dims(x, "sum", dim, axis)
    return ops.Sum.apply(x, axis=dims, keepdims=_keep("sum", keepdim, keepdims))


def mean(
    x: Tensor,
    dim: DimArg = None,
    keepdim: Keep = None,
    *,
    axis: DimArg = None,
    keepdims: Keep = None,
) -> Tensor:
    """The mean over `dim`; integers and bools are averaged in the default float dtype.
    An empty selection is an error (PyTorch would give NaN)."""
    dims = _dims(x, "mean", dim, axis)
    count = _count(x.shape, dims)
    if count == 0:
        raise ShapeError(
            f"mean() over an empty selection of a tensor of shape {x.shape}; "
            "expected at least one element"
        )
    total: Any = sum(_as_float(x), dims, _keep("mean", keepdim, keepdims))  # Tensor.__mul__ is set
    return total * (1.0 / count)


class Prod(Function):
    """z = Π a over `dims`;  dz/da_i = Π_{j≠i} a_j, computed as the product of the entries
    before i times the product of those after i, so that zeros need no division."""

    saves = (0,)

    def forward(self, a: Array, dims: Dims, keepdim: bool) -> Array:
        self.a, self.dims, self.keepdim = a, dims, keepdim
        return np.prod(a, axis=dims, keepdims=keepdim)

    def backward(self, g: Array) -> Array:
        a, dims = self.a, tuple(range(self.a.ndim)) if self.dims is None else self.dims
        last = tuple(range(a.ndim - len(dims), a.ndim))
        moved = np.moveaxis(a, dims, last)
        kept = moved.shape[: a.ndim - len(dims)]
        rows: Array = moved.reshape(kept + (int(np.prod(moved.shape[len(kept) :])),))
        ones = np.ones(rows.shape[:-1] + (1,), dtype=a.dtype)
        before = np.cumprod(np.concatenate([ones, rows[..., :-1]], axis=-1), axis=-1)
        after = np.cumprod(np.concatenate([ones, rows[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
        others = (before * after)[..., : rows.shape[-1]].reshape(moved.shape)
        others = np.moveaxis(others, last, dims)
        return _restore(g, a.shape, self.dims, self.keepdim) * others


def prod(
    x: Tensor,
    dim: DimArg = None,
    keepdim: Keep = None,
    *,
    axis: DimArg = None,
    keepdims: Keep = None,
) -> Tensor:
    """Π x over `dim`; its gradient is exact where entries are zero."""
    return Prod.apply(x, dims=_dims(x, "prod", dim, axis), keepdim=_keep("prod", keepdim, keepdims))


# ----- max, min and their relatives ---------------------------------------------------------


class Extremum(Function):
    """z = max (or min) of a over `dims`; the gradient goes to the extreme entries, split
    evenly between ties (as torch.amax)."""

    expected = "a non-empty selection (the max of no entries is undefined)"

    def forward(self, a: Array, dims: Dims, keepdim: bool, largest: bool) -> Array:
        self.dims, self.keepdim, self.shape = dims, keepdim, a.shape
        out = (np.max if largest else np.min)(a, axis=dims, keepdims=keepdim)
        self.is_extreme = a == _restore(out, a.shape, dims, keepdim)
        if a.dtype.kind == "f":  # a slice holding NaN has the extreme NaN: it gets the gradient
            self.is_extreme |= np.isnan(a)
        return out

    def backward(self, g: Array) -> Array:
        ties = self.is_extreme.sum(axis=self.dims, keepdims=True)
        return self.is_extreme * (_restore(g, self.shape, self.dims, self.keepdim) / ties)


class ExtremumAlongDim(Function):
    """z = a at the index of its max (or min) along one dim, the first one among ties
    (torch.max(x, dim)); the gradient goes to that entry only."""

    expected = "a dim of non-zero size"

    def forward(self, a: Array, dim: int, keepdim: bool, largest: bool) -> Array:
        self.shape, self.dim, self.keepdim = a.shape, dim, keepdim
        self.index = (np.argmax if largest else np.argmin)(a, axis=dim, keepdims=True)
        out = np.take_along_axis(a, self.index, axis=dim)
        return out if keepdim else np.squeeze(out, axis=dim)

    def backward(self, g: Array) -> Array:
        full = np.zeros(self.shape, dtype=g.dtype)
        g = g if self.keepdim else np.expand_dims(g, self.dim)
        np.put_along_axis(full, self.index, g, axis=self.dim)
        return full


class _NotAnArray:
    """max(x, dim) returns (values, indices): refusing to become an array makes
    `x - x.max(1)` an error instead of a silent stack of both."""

    __slots__ = ()

    def __array__(self, *args: object, **kwargs: object) -> Array:
        raise DTypeError(
            "max(x, dim) and min(x, dim) return (values, indices); expected "
            "one of them (.values), or amax/amin for the values alone"
        )


class MaxResult(_NotAnArray, collections.namedtuple("max", ["values", "indices"])):
    """(values, indices) of max(x, dim), as torch.return_types.max."""

    __slots__ = ()


class MinResult(_NotAnArray, collections.namedtuple("min", ["values", "indices"])):
    """(values, indices) of min(x, dim), as torch.return_types.min."""

    __slots__ = ()


Extreme = Tensor | MaxResult | MinResult
"""max(x) (a 0-d tensor) or max(x, dim) (values, indices); the same for min."""


def _extreme(
    x: Tensor,
    what: str,
    largest: bool,
    dim: int | None,
    keepdim: Keep,
    axis: int | None,
    keepdims: Keep,
) -> Extreme:
    """max/min: a 0-d tensor without a dim; (values, indices) along one dim."""
    if isinstance(dim, Tensor):
        raise ConfigError(
            f"{what}(x, other): expected maximum/minimum(x, other) for the "
            f"element-wise {what} of two tensors"
        )
    keep = _keep(what, keepdim, keepdims)
    if _pick(what, "dim", dim, "axis", axis) is None:
        return Extremum.apply(x, dims=None, keepdim=keep, largest=largest)
    d = _one_dim(x, what, dim, axis)
    result = MaxResult if largest else MinResult
    if d is None:  # a 0-d tensor
        return result(
            Extremum.apply(x, dims=None, keepdim=False, largest=largest),
            Tensor(np.zeros((), dtype=np.int64)),
        )
    values = ExtremumAlongDim.apply(x, dim=d, keepdim=keep, largest=largest)
    return result(values, argmax(x, d, keep) if largest else argmin(x, d, keep))


def max(
    x: Tensor,
    dim: int | None = None,
    keepdim: Keep = None,
    *,
    axis: int | None = None,
    keepdims: Keep = None,
) -> Extreme:
    """Without `dim`: the largest entry, a 0-d tensor (the gradient split between ties).
    With `dim`: (values, indices) along that dim; the gradient goes to the index."""
    return _extreme(x, "max", True, dim, keepdim, axis, keepdims)


def min(
    x: Tensor,
    dim: int | None = None,
    keepdim: Keep = None,
    *,
    axis: int | None = None,
    keepdims: Keep = None,
) -> Extreme:
    """As `max`, for the smallest entries."""
    return _extreme(x, "min", False, dim, keepdim, axis, keepdims)


def amax(
    x: Tensor,
    dim: DimArg = None,
    keepdim: Keep = None,
    *,
    axis: DimArg = None,
    keepdims: Keep = None,
) -> Tensor:
    """The largest entries over `dim` (an int or a tuple); ties share the gradient evenly."""
    return Extremum.apply(
        x, dims=_dims(x, "amax", dim, axis), keepdim=_keep("amax", keepdim, keepdims), largest=True
    )


def amin(
    x: Tensor,
    dim: DimArg = None,
    keepdim: Keep = None,
    *,
    axis: DimArg = None,
    keepdims: Keep = None,
) -> Tensor:
    """The smallest entries over `dim`; ties share the gradient evenly."""
    return Extremum.apply(
        x, dims=_dims(x, "amin", dim, axis), keepdim=_keep("amin", keepdim, keepdims), largest=False
    )


def _arg(
    x: Tensor,
    what: str,
    find: Callable[..., Any],
    dim: int | None,
    keepdim: Keep,
    axis: int | None,
    keepdims: Keep,
) -> Tensor:
    keep = _keep(what, keepdim, keepdims)
    d = None if _pick(what, "dim", dim, "axis", axis) is None else _one_dim(x, what, dim, axis)
    if (x.data.size if d is None else x.shape[d]) == 0:
        raise ShapeError(
            f"{what}: cannot take the {what} of no entries (a tensor of shape "
            f"{x.shape}, dim={d}); expected a non-empty selection"
        )
    if x.ndim == 0:
        return Tensor(np.zeros((), dtype=np.int64))
    return Tensor(np.asarray(find(x.data, axis=d, keepdims=keep), dtype=np.int64))


def argmax(
    x: Tensor,
    dim: int | None = None,
    keepdim: Keep = None,
    *,
    axis: int | None = None,
    keepdims: Keep = None,
) -> Tensor:
    """The index of the largest entry (the first among ties): into the flattened tensor
    without `dim`, along `dim` with it."""
    return _arg(x, "argmax", np.argmax, dim, keepdim, axis, keepdims)


def argmin(
    x: Tensor,
    dim: int | None = None,
    keepdim: Keep = None,
    *,
    axis: int | None = None,
    keepdims: Keep = None,
) -> Tensor:
    """The index of the smallest entry (the first among ties)."""
    return _arg(x, "argmin", np.argmin, dim, keepdim, axis, keepdims)


# ----- var, std, norm -----------------------------------------------------------------------


class Variance(Function):
    """v = Σ (a - ā)² / (N - c) over `dims`;  dv/da = 2 (a - ā) / (N - c) (the terms through
    ā sum to zero)."""

    def forward(self, a: Array, dims: Dims, keepdim: bool, divisor: float) -> Array:
        self.shape, self.dims, self.keepdim, self.divisor = a.shape, dims, keepdim, divisor
        self.centred = a - a.mean(axis=dims, keepdims=True)
        return np.sum(self.centred * self.centred, axis=dims, keepdims=keepdim) / divisor

    def backward(self, g: Array) -> Array:
        g = _restore(g, self.shape, self.dims, self.keepdim)
        return g * (2.0 / self.divisor) * self.centred


class StandardDeviation(Variance):
    """s = √v (see Variance);  ds/da = (a - ā) / ((N - c) s), and 0 where s = 0 (as
    PyTorch)."""

    saves_output = True

    def forward(self, a: Array, dims: Dims, keepdim: bool, divisor: float) -> Array:
        self.out = np.sqrt(super().forward(a, dims, keepdim, divisor))
        return self.out

    def backward(self, g: Array) -> Array:
        g = _restore(g, self.shape, self.dims, self.keepdim)
        s = _restore(self.out, self.shape, self.dims, self.keepdim)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(s > 0, g * self.centred / (self.divisor * s), 0.0)


def _variance(
    x: Tensor,
    what: str,
    op: type[Variance],
    dim: DimArg,
    unbiased: bool | None,
    keepdim: Keep,
    correction: float | None,
    axis: DimArg,
    keepdims: Keep,
    ddof: float | None,
) -> Tensor:
    dims = _dims(x, what, dim, axis)
    correction = _pick(what, "correction", correction, "ddof", ddof)
    if unbiased is not None and correction is not None:
        raise ConfigError(
            f"{what}: got both unbiased={unbiased!r} and "
            f"correction={correction!r}; expected only one of them"
        )
    if unbiased is not None and not isinstance(unbiased, (bool, np.bool_)):
        raise ConfigError(f"{what}: unbiased={unbiased!r}; expected True or False")
    correction = (1 if unbiased is None or unbiased else 0) if correction is None else correction
    if (
        not isinstance(correction, (int, float, np.integer, np.floating))
        or isinstance(correction, (bool, np.bool_))
        or not 0 <= correction < np.inf
    ):
        raise ConfigError(f"{what}: correction={correction!r}; expected a number >= 0")
    count = _count(x.shape, dims)
    if count - correction <= 0:
        raise ShapeError(
            f"{what}: {count} entries with correction={correction} leave no "
            f"degrees of freedom (tensor of shape {x.shape}); expected more "
            "entries than the correction, or correction=0"
        )
    return op.apply(
        _as_float(x), dims=dims, keepdim=_keep(what, keepdim, keepdims), divisor=count - correction
    )


def var(
    x: Tensor,
    dim: DimArg = None,
    unbiased: bool | None = None,
    keepdim: Keep = None,
    *,
    correction: float | None = None,
    axis: DimArg = None,
    keepdims: Keep = None,
    ddof: float | None = None,
) -> Tensor:
    """The variance over `dim`, divided by N - correction (correction=1 by default, Bessel's;
    `unbiased=False` or `correction=0`/NumPy's `ddof=0` for the population variance)."""
    return _variance(x, "var", Variance, dim, unbiased, keepdim, correction, axis, keepdims, ddof)


def std(
    x: Tensor,
    dim: DimArg = None,
    unbiased: bool | None = None,
    keepdim: Keep = None,
    *,
    correction: float | None = None,
    axis: DimArg = None,
    keepdims: Keep = None,
    ddof: float | None = None,
) -> Tensor:
    """The standard deviation √var over `dim` (see `var`)."""
    return _variance(
        x, "std", StandardDeviation, dim, unbiased, keepdim, correction, axis, keepdims, ddof
    )


class VectorNorm(Function):
    """n = (Σ |a|^p)^(1/p) over `dims`;  dn/da = sign(a) |a|^(p-1) / n^(p-1) (0 where a = 0
    or n = 0). p = inf: max |a|, p = -inf: min |a| (the gradient split between ties);
    p = 0: the number of non-zero entries (gradient 0)."""

    saves, saves_output = (0,), True

    def forward(self, a: Array, dims: Dims, keepdim: bool, p: float) -> Array:
        self.a, self.dims, self.keepdim, self.p = a, dims, keepdim, p
        magnitude = np.abs(a)
        if p == 0:
            self.out = np.sum(magnitude != 0, axis=dims, keepdims=keepdim).astype(a.dtype)
        elif np.isinf(p):
            self.out = (np.max if p > 0 else np.min)(magnitude, axis=dims, keepdims=keepdim)
        elif p == 2:
            self.out = np.sqrt(np.sum(magnitude * magnitude, axis=dims, keepdims=keepdim))
        else:
            self.out = np.sum(magnitude**p, axis=dims, keepdims=keepdim) ** (1.0 / p)
        return self.out

    def backward(self, g: Array) -> Array:
        a, p = self.a, self.p
        g = _restore(g, a.shape, self.dims, self.keepdim)
        n = _restore(self.out, a.shape, self.dims, self.keepdim)
        if p == 0:
            return np.zeros_like(a)
        if np.isinf(p):
            is_extreme = np.abs(a) == n
            return np.sign(a) * is_extreme * (g / is_extreme.sum(axis=self.dims, keepdims=True))
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = np.sign(a) * np.abs(a) ** (p - 1) / n ** (p - 1)
        return g * np.where((a != 0) & (n > 0), slope, 0.0)


def norm(
    x: Tensor,
    p: float | str = 2,
    dim: DimArg = None,
    keepdim: Keep = None,
    *,
    axis: DimArg = None,
    keepdims: Keep = None,
) -> Tensor:
    """The vector p-norm over `dim` (every entry by default): p = 2 or 'fro' (√Σ x², the
    Frobenius norm of a matrix), 1, any real p > 0, inf (max |x|), -inf (min |x|), 0 (the
    number of non-zero entries)."""
    if isinstance(p, str) and p == "fro":
        p = 2
    if not (
        isinstance(p, (int, float, np.integer, np.floating))
        and not isinstance(p, (bool, np.bool_))
        and (p >= 0 or p == -np.inf)
    ):
        raise ConfigError(
            f"norm: p={p!r}; expected 'fro', a number >= 0, inf or -inf "
            "('nuc' and matrix norms are not supported)"
        )
    dims = _dims(x, "norm", dim, axis)
    if np.isinf(p) and _count(x.shape, dims) == 0:
        raise ShapeError(
            f"norm: p={p} over an empty selection of a tensor of shape "
            f"{x.shape}; expected at least one entry"
        )
    return VectorNorm.apply(
        _as_float(x), dims=dims, keepdim=_keep("norm", keepdim, keepdims), p=float(p)
    )


# ----- logsumexp, softmax, log_softmax --------------------------------------------------


def _shift(a: Array, dims: Dims | int) -> Array:
    """The max over `dims` (kept), or 0 where it is not finite: subtracting it keeps exp()
    from overflowing, and rows of -inf stay -inf instead of becoming NaN."""
    top = np.max(a, axis=dims, keepdims=True, initial=-np.inf)
    return np.where(np.isfinite(top), top, 0.0).astype(a.dtype)


class LogSumExp(Function):
    """z = log Σ exp(a) over `dims`, computed as m + log Σ exp(a - m);  dz/da = exp(a - z)
    (the softmax)."""

    saves, saves_output = (0,), True

    def forward(self, a: Array, dims: Dims, keepdim: bool) -> Array:
        self.a, self.dims, self.keepdim = a, dims, keepdim
        m = _shift(a, dims)
        with np.errstate(divide="ignore"):
            self.out = np.log(np.sum(np.exp(a - m), axis=dims, keepdims=True)) + m
        return self.out if keepdim else np.squeeze(self.out, axis=dims)

    def backward(self, g: Array) -> Array:
        return _restore(g, self.a.shape, self.dims, self.keepdim) * np.exp(self.a - self.out)


def logsumexp(
    x: Tensor,
    dim: DimArg = None,
    keepdim: Keep = None,
    *,
    axis: DimArg = None,
    keepdims: Keep = None,
) -> Tensor:
    """log Σ exp(x) over `dim` (every dim by default), without overflow."""
    dims = _dims(x, "logsumexp", dim, axis)
    return LogSumExp.apply(_as_float(x), dims=dims, keepdim=_keep("logsumexp", keepdim, keepdims))


class Softmax(Function):
    """s = exp(a - m) / Σ exp(a - m) along `dim`;  da = s ⊙ (g - Σ g ⊙ s)."""

    saves_output = True

    def forward(self, a: Array, dim: int | None) -> Array:
        self.dim = dim
        e = np.exp(a - _shift(a, dim))
        self.out = e / np.sum(e, axis=dim, keepdims=True)
        return self.out

    def backward(self, g: Array) -> Array:
        s = self.out
        return s * (g - np.sum(g * s, axis=self.dim, keepdims=True))


class LogSoftmax(Function):
    """l = a - m - log Σ exp(a - m) along `dim`;  da = g - exp(l) Σ g."""

    saves_output = True

    def forward(self, a: Array, dim: int | None) -> Array:
        self.dim = dim
        shifted = a - _shift(a, dim)
        with np.errstate(divide="ignore"):  # an empty dim: log(0), as in logsumexp
            self.out = shifted - np.log(np.sum(np.exp(shifted), axis=dim, keepdims=True))
        return self.out

    def backward(self, g: Array) -> Array:
        return g - np.exp(self.out) * np.sum(g, axis=self.dim, keepdims=True)


def softmax(x: Tensor, dim: int | None = -1, *, axis: int | None = None) -> Tensor:
    """exp(x) / Σ exp(x) along `dim` (the last by default), numerically stable."""
    return Softmax.apply(_as_float(x), dim=_one_dim(x, "softmax", dim, axis))


def log_softmax(x: Tensor, dim: int | None = -1, *, axis: int | None = None) -> Tensor:
    """log softmax(x) along `dim` (the last by default), without overflow or log(0)."""
    return LogSoftmax.apply(_as_float(x), dim=_one_dim(x, "log_softmax", dim, axis))


logsoftmax = log_softmax  # tinygrad's name


# ----- all, any, cumsum -----------------------------------------------------------------------


def all(
    x: Tensor,
    dim: DimArg = None,
    keepdim: Keep = None,
    *,
    axis: DimArg = None,
    keepdims: Keep = None,
) -> Tensor:
    """Whether every entry over `dim` is non-zero: a bool tensor (no gradient)."""
    dims = _dims(x, "all", dim, axis)
    return Tensor(np.asarray(np.all(x.data, axis=dims, keepdims=_keep("all", keepdim, keepdims))))


def any(
    x: Tensor,
    dim: DimArg = None,
    keepdim: Keep = None,
    *,
    axis: DimArg = None,
    keepdims: Keep = None,
) -> Tensor:
    """Whether some entry over `dim` is non-zero: a bool tensor (no gradient)."""
    dims = _dims(x, "any", dim, axis)
    return Tensor(np.asarray(np.any(x.data, axis=dims, keepdims=_keep("any", keepdim, keepdims))))


class CumSum(Function):
    """z_i = Σ_{j≤i} a_j along `dim`;  da_j = Σ_{i≥j} g_i (a cumulative sum from the end)."""

    def forward(self, a: Array, dim: int | None) -> Array:
        self.dim = dim
        return np.cumsum(a, axis=dim) if a.ndim else a.copy()

    def backward(self, g: Array) -> Array:
        if g.ndim == 0:
            return g
        return np.flip(np.cumsum(np.flip(g, self.dim), axis=self.dim), self.dim)


def cumsum(x: Tensor, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """The running sum along `dim` (required, as in PyTorch)."""
    return CumSum.apply(x, dim=_one_dim(x, "cumsum", dim, axis))


# ----- Tensor methods -------------------------------------------------------------------------

for _name in __all__:
    setattr(Tensor, _name, globals()[_name])
del _name
