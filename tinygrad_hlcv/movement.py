"""Shapes, indexing and in-place changes: view/reshape, flatten, squeeze, permute, transpose,
expand, repeat, flip, roll, pad, cat/stack/split, gather/scatter_add, masked_fill, t[index],
t[index] = value and the in-place methods; and the Python protocols (len, iteration, bool,
float, int, size()).

PyTorch's names and semantics. Each op that moves entries has a backward that moves the
gradient back: where one entry fed several outputs (an index repeated, a repeat, an
expand) its gradient is their sum.
"""

import copy
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Literal, TypeGuard, cast

import numpy as np
import numpy.typing as npt

from . import creation, ops
from .convert import normalize_axis, shown
from .engine import Function, Tensor, _refused, is_grad_enabled, no_grad
from .errors import ConfigError, DTypeError, GraphError, IndexingError, ShapeError

__all__ = [
    "reshape",
    "flatten",
    "unflatten",
    "squeeze",
    "unsqueeze",
    "permute",
    "transpose",
    "tile",
    "flip",
    "roll",
    "pad",
    "cat",
    "concatenate",
    "stack",
    "split",
    "chunk",
    "unbind",
    "gather",
    "scatter_add",
    "narrow",
    "index_select",
    "masked_fill",
    "numel",
]

Array = npt.NDArray[Any]
Shape = tuple[int, ...]
Sizes = int | Sequence[int]
"""Sizes or dims as the user gives them: one int, or a tuple or list of ints."""
Crops = tuple[slice, ...]
Widths = tuple[tuple[int, int], ...]
Operand = Tensor | Array | float
"""What an in-place op takes: a tensor, an array or a number (see Tensor._operand)."""
Casting = Literal["no", "equiv", "safe", "same_kind", "unsafe"]
Grads = tuple[Array | None, Array | None]
"""The gradients of an op's two inputs, None for one that needs none."""
OutOfPlace = Callable[[Any], Tensor]
"""An in-place op's value computed out of place from the old tensor (typed Any: Tensor's
operators and methods are set on it at runtime, where mypy cannot see them)."""
PadMode = Literal["constant", "reflect", "edge", "wrap"]


# ----- arguments ------------------------------------------------------------------------


def _is_int(value: object) -> TypeGuard[int | np.integer[Any]]:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _sizes(what: str, sizes: Sequence[Any]) -> Shape:
    """Sizes given as varargs `f(2, 3)` or packed `f((2, 3))`, as a tuple of ints."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    if not all(_is_int(n) for n in sizes):
        raise ShapeError(f"{what}: expected integer sizes, got {sizes!r}")
    return tuple(int(n) for n in sizes)


def _dim(x: Tensor, dim: Any, what: str, ndim: int | None = None) -> int:
    """One dim as an int in [0, ndim) (ndim defaults to x's)."""
    ndim = x.ndim if ndim is None else ndim
    if not _is_int(dim) or not -ndim <= dim < ndim:
        expected = f"an int in [{-ndim}, {ndim - 1}]" if ndim else "none (a 0-d tensor)"
        raise ShapeError(
            f"{what}: dim={dim!r} does not fit a tensor of shape {x.shape}; expected {expected}"
        )
    return int(dim) % ndim


def _sum_to(g: Array, shape: Shape) -> Array:
    """Sum a broadcast gradient back down to `shape`."""
    extra = g.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and g.shape[extra + i] != 1
    )
    return (g.sum(axis=axes, keepdims=True) if axes else g).reshape(shape)


def _tensor(value: object, what: str) -> Tensor:
    if isinstance(value, Tensor):
        return value
    if isinstance(value, np.ndarray):
        return Tensor(value)
    raise DTypeError(f"{what}: expected a Tensor, got {type(value).__name__}")


def _view(
    x: Tensor,
    out: Tensor,
    view: Callable[[Tensor], Tensor],
    write_back: Callable[[Tensor, Tensor], object],
) -> Tensor:
    """Mark `out` as a view of x when it shares x's array: `view(x)` makes it again and
    `write_back(x, value)` puts a new value of it into x. A recorded in-place op on the view
    then changes x too (as in PyTorch), and not just the view's own graph."""
    if np.may_share_memory(out.data, x.data):
        setattr(out, "_view_of", (x, view, write_back))  # noqa: B010 (not in Tensor's type)
    return out


def _reshaped(x: Tensor, shape: Shape) -> Tensor:
    return _view(
        x,
        ops.Reshape.apply(x, shape=shape),
        lambda base: _reshaped(base, shape),
        lambda base, value: copy_(base, _reshaped(value, base.shape)),
    )


def _transposed(x: Tensor, axes: Shape | None) -> Tensor:
    inverse = None if axes is None else tuple(int(i) for i in np.argsort(axes))
    return _view(
        x,
        ops.Transpose.apply(x, axes=axes),
        lambda base: _transposed(base, axes),
        lambda base, value: copy_(base, _transposed(value, inverse)),
    )


# ----- reshaping ------------------------------------------------------------------------


def _resolve(old: Shape, shape: Shape, what: str) -> Shape:
    """`shape` with its -1 (at most one) worked out; a ShapeError if it cannot hold as many
    elements as shape `old`."""
    count, known = int(np.prod(old)), int(np.prod([n for n in shape if n != -1]))
    holes = shape.count(-1)
    if holes > 1 or any(n < -1 for n in shape):
        raise ShapeError(
            f"{what}: cannot reshape a tensor of shape {old} into {shape}; "
            "expected sizes >= 0 with at most one -1"
        )
    if holes and known and count % known == 0:
        shape, holes = tuple(count // known if n == -1 else n for n in shape), 0
        known = count
    if holes or known != count:
        raise ShapeError(
            f"{what}: cannot reshape a tensor of shape {old} ({count} "
            f"elements) into {shape}; expected sizes whose product is {count} "
            "(one of them may be -1)"
        )
    return shape


def reshape(x: Tensor, *sizes: Sizes, shape: Sizes | None = None) -> Tensor:
    """x with a new shape of as many elements: reshape(2, 3), reshape((2, 3)) or
    reshape(shape=(2, 3)); one size may be -1.

    Examples:
        >>> tg.arange(6).reshape(2, -1).shape
        (2, 3)"""
    if shape is not None and sizes:
        raise ConfigError("reshape: got sizes both as arguments and as shape=; expected one")
    sizes = _sizes("reshape", (shape,) if shape is not None else sizes)
    return _reshaped(x, _resolve(x.shape, sizes, "reshape"))


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """x with dims start_dim..end_dim merged into one (a 0-d tensor becomes 1-d)."""
    ndim = max(x.ndim, 1)
    start, end = _dim(x, start_dim, "flatten", ndim), _dim(x, end_dim, "flatten", ndim)
    if start > end:
        raise ShapeError(
            f"flatten: start_dim={start_dim} comes after end_dim={end_dim} "
            f"for a tensor of shape {x.shape}; expected start_dim <= end_dim"
        )
    shape = x.shape or (1,)
    merged = int(np.prod(shape[start : end + 1]))
    return _reshaped(x, shape[:start] + (merged,) + shape[end + 1 :])


def unflatten(x: Tensor, dim: int, sizes: Sizes) -> Tensor:
    """x with dim `dim` split into `sizes` (one of them may be -1)."""
    d = _dim(x, dim, "unflatten")
    sizes = _sizes("unflatten", (sizes,))
    if not sizes:
        raise ShapeError("unflatten: sizes=(); expected at least one size")
    sizes = _resolve((x.shape[d],), sizes, f"unflatten(dim={dim})")
    return _reshaped(x, x.shape[:d] + sizes + x.shape[d + 1 :])


def squeeze(x: Tensor, dim: int | Sequence[int] | None = None) -> Tensor:
    """x without its dims of size 1 (only those in `dim`, an int or a tuple, if given; as
    in PyTorch a dim given whose size is not 1 stays)."""
    if dim is None:
        chosen: Iterable[int] = range(x.ndim)
    else:
        listed = dim if isinstance(dim, (tuple, list)) else (dim,)
        chosen = (
            (0,)
            if x.ndim == 0 and all(_is_int(d) and d in (0, -1) for d in listed)
            else cast(Shape, normalize_axis(listed, x.shape, "squeeze"))
        )
    drop = {d for d in chosen if x.ndim and x.shape[d] == 1}
    return _reshaped(x, tuple(n for d, n in enumerate(x.shape) if d not in drop))


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    """x with a new dim of size 1 at `dim` (in [-ndim-1, ndim])."""
    d = _dim(x, dim, "unsqueeze", x.ndim + 1)
    return _reshaped(x, x.shape[:d] + (1,) + x.shape[d:])


def view(x: Tensor, *sizes: Sizes, shape: Sizes | None = None) -> Tensor:
    """reshape (a NumPy reshape is a view whenever the layout allows it)."""
    return reshape(x, *sizes, shape=shape)


# ----- reordering dims -------------------------------------------------------------------


def permute(x: Tensor, *dims: Sizes) -> Tensor:
    """x with its dims reordered: permute(2, 0, 1) or permute((2, 0, 1))."""
    order = _sizes("permute", dims)
    normalized = cast(Shape, normalize_axis(order, x.shape, "permute")) if order else ()
    if sorted(normalized) != list(range(x.ndim)):
        raise ShapeError(
            f"permute: dims {order} do not reorder all the dims of a tensor of "
            f"shape {x.shape}; expected a permutation of {tuple(range(x.ndim))}"
        )
    return _transposed(x, normalized or None)


def transpose(
    x: Tensor, dim0: int | None = None, dim1: int | None = None, *, order: Sizes | None = None
) -> Tensor:
    """x with dims dim0 and dim1 swapped (PyTorch). `transpose(order=(2, 0, 1))` is a full
    reordering, NumPy's transpose(axes) (tinygrad's spelling); also `permute`."""
    if order is not None:
        if dim0 is not None or dim1 is not None:
            raise ConfigError(
                "transpose: got dims and order=; expected either two dims to "
                "swap or order= for a full permutation"
            )
        return permute(x, order)
    if not (_is_int(dim0) and _is_int(dim1)):
        raise ShapeError(
            f"transpose: got dim0={dim0!r}, dim1={dim1!r}; expected two int dims "
            "to swap (PyTorch); for a full reordering use permute(...) or "
            "transpose(order=...), for all dims reversed .T"
        )
    if x.ndim == 0 and dim0 in (0, -1) and dim1 in (0, -1):
        return _transposed(x, None)
    order = list(range(x.ndim))
    d0, d1 = _dim(x, dim0, "transpose"), _dim(x, dim1, "transpose")
    order[d0], order[d1] = d1, d0
    return _transposed(x, tuple(order))


def _T(x: Tensor) -> Tensor:
    """x with all its dims reversed (PyTorch deprecates .T beyond 2-D but allows it)."""
    return _transposed(x, None)


def _mT(x: Tensor) -> Tensor:
    """x with its last two dims swapped: a batch of matrices, each transposed."""
    if x.ndim < 2:
        raise ShapeError(
            f"mT: a tensor of shape {x.shape} has no matrices; expected at least 2 dims"
        )
    return transpose(x, -2, -1)


# ----- repeating ---------------------------------------------------------------------------


class Expand(Function):
    """z = a broadcast to `shape` (a read-only view);  da = g summed over the broadcast dims."""

    def forward(self, a: Array, shape: Shape) -> Array:
        self.shape = a.shape
        return np.broadcast_to(a, shape)

    def backward(self, g: Array) -> Array:
        return _sum_to(g, self.shape)


def expand(x: Tensor, *sizes: Sizes) -> Tensor:
    """x broadcast to `sizes` without copying: new dims in front, size-1 dims stretched;
    -1 keeps a dim's size."""
    sizes = _sizes("expand", sizes)
    lead = len(sizes) - x.ndim
    shape = sizes[:lead] + tuple(n if s == -1 else s for n, s in zip(x.shape, sizes[lead:]))
    if (
        lead < 0
        or any(s < 0 for s in shape)
        or any(n not in (1, s) for n, s in zip(x.shape, shape[lead:]))
    ):
        raise ShapeError(
            f"expand: cannot expand a tensor of shape {x.shape} to {sizes}; "
            "expected at least as many sizes as dims, each equal to the dim's "
            "size or -1, or any size >= 0 where the dim's size is 1"
        )
    return Expand.apply(x, shape=shape)


def expand_as(x: Tensor, other: Tensor | Array) -> Tensor:
    """x expanded to other's shape."""
    return expand(x, _tensor(other, "expand_as").shape)


class Repeat(Function):
    """z = a tiled `reps` times along each dim (np.tile);  da = the sum of g's tiles."""

    def forward(self, a: Array, reps: Shape) -> Array:
        self.shape = (1,) * (len(reps) - a.ndim) + a.shape
        self.reps = reps
        return np.tile(a, reps)

    def backward(self, g: Array) -> Array:
        tiles = g.reshape(tuple(n for pair in zip(self.reps, self.shape) for n in pair))
        return tiles.sum(axis=tuple(range(0, tiles.ndim, 2))).reshape(self.shape)


def repeat(x: Tensor, *sizes: Sizes) -> Tensor:
    """x repeated sizes[i] times along dim i (PyTorch's repeat, NumPy's tile); more sizes
    than dims add dims in front."""
    sizes = _sizes("repeat", sizes)
    if len(sizes) < x.ndim or any(n < 0 for n in sizes):
        raise ShapeError(
            f"repeat: sizes {sizes} for a tensor of shape {x.shape}; expected "
            f"at least {x.ndim} sizes >= 0"
        )
    return Repeat.apply(x, reps=sizes)


def tile(x: Tensor, dims: Sizes) -> Tensor:
    """x repeated dims[i] times along dim i; fewer dims than x has are padded with 1s in
    front (torch.tile)."""
    dims = _sizes("tile", (dims,))
    return repeat(x, (1,) * (x.ndim - len(dims)) + dims)


class Flip(Function):
    """z = a reversed along `dims`;  da = g reversed along them."""

    def forward(self, a: Array, dims: Shape) -> Array:
        self.dims = dims
        return np.flip(a, dims)

    def backward(self, g: Array) -> Array:
        return np.flip(g, self.dims)


def flip(x: Tensor, *dims: Sizes) -> Tensor:
    """x reversed along `dims`: flip(0, 1) or flip((0, 1))."""
    dims = _sizes("flip", dims)
    dims = cast(Shape, normalize_axis(dims, x.shape, "flip")) if dims else ()
    return _view(
        x,
        Flip.apply(x, dims=dims),
        lambda base: flip(base, dims),
        lambda base, value: copy_(base, flip(value, dims)),
    )


class Roll(Function):
    """z = a shifted cyclically by `shifts` along `dims` (flattened if None);  da = g
    shifted back."""

    def forward(self, a: Array, shifts: Shape, dims: Shape | None) -> Array:
        self.shifts, self.dims = shifts, dims
        return np.roll(a, shifts, dims)

    def backward(self, g: Array) -> Array:
        return np.roll(g, tuple(-s for s in self.shifts), self.dims)


def roll(x: Tensor, shifts: Sizes, dims: Sizes | None = None) -> Tensor:
    """x shifted cyclically: entries pushed past the end come back at the start."""
    shifts = _sizes("roll", (shifts,))
    if dims is not None:
        dims = _sizes("roll", (dims,))
        if len(shifts) != len(dims) and len(shifts) != 1:
            raise ShapeError(
                f"roll: {len(shifts)} shifts for {len(dims)} dims; expected one "
                "shift per dim (or one for all)"
            )
        dims = cast(Shape, normalize_axis(dims, x.shape, "roll")) if dims else ()
        shifts = shifts * len(dims) if len(shifts) == 1 else shifts
    elif len(shifts) != 1:
        raise ShapeError(
            f"roll: shifts={shifts} without dims; expected one shift (the "
            "tensor is rolled flattened)"
        )
    return Roll.apply(x, shifts=shifts, dims=dims)


# ----- padding -------------------------------------------------------------------------------

_PAD_MODES: dict[str, PadMode] = {
    "constant": "constant",
    "reflect": "reflect",
    "replicate": "edge",
    "circular": "wrap",
}


class Pad(Function):
    """z = a cropped by `crops` (slices, for negative pads) and padded by `widths`.
    Constant padding: da = g without the padding. Other modes copy entries into the
    padding: da sums g over every place an entry went, found by padding entry numbers."""

    def forward(self, a: Array, crops: Crops, widths: Widths, mode: str, value: float) -> Array:
        self.shape, self.crops, self.widths, self.mode = a.shape, crops, widths, mode
        cropped = a[crops]
        self.cropped_shape = cropped.shape
        if not widths:  # a 0-d tensor
            return cropped.copy()
        if mode == "constant":
            return np.pad(cropped, widths, constant_values=value)
        return np.pad(cropped, widths, mode=_PAD_MODES[mode])

    def backward(self, g: Array) -> Array:
        if not self.widths:
            return g
        if self.mode == "constant":
            inner = g[
                tuple(slice(low, low + n) for (low, _), n in zip(self.widths, self.cropped_shape))
            ]
        else:
            count = int(np.prod(self.cropped_shape))
            source = np.pad(
                np.arange(count).reshape(self.cropped_shape),
                self.widths,
                mode=_PAD_MODES[self.mode],
            )
            inner = np.bincount(source.ravel(), g.ravel(), minlength=count)
            inner = inner.astype(g.dtype).reshape(self.cropped_shape)
        full = np.zeros(self.shape, dtype=g.dtype)
        full[self.crops] = inner
        return full


def pad(x: Tensor, pad: Sizes, mode: str = "constant", value: float | None = None) -> Tensor:
    """x padded as torch.nn.functional.pad: `pad` lists (before, after) for the last dim,
    then the one before it, and so on. Constant padding fills `value` (0 by default) and
    takes negative widths to crop; 'reflect', 'replicate' and 'circular' copy entries."""
    widths = _sizes("pad", (pad,))
    if len(widths) % 2 or len(widths) > 2 * x.ndim:
        raise ShapeError(
            f"pad: {len(widths)} widths for a tensor of shape {x.shape}; "
            f"expected an even number, at most {2 * x.ndim} (two per dim)"
        )
    if mode not in _PAD_MODES:
        raise ConfigError(f"pad: mode={mode!r}; expected one of {sorted(_PAD_MODES)}")
    if mode != "constant" and value is not None:
        raise ConfigError(f"pad: mode={mode!r} takes no value; expected value only with 'constant'")
    fill = 0 if value is None else value
    if not isinstance(fill, (int, float, np.number)) or isinstance(fill, bool):
        raise ConfigError(f"pad: value={fill!r}; expected a number")
    pairs = [(0, 0)] * (x.ndim - len(widths) // 2)
    pairs += [(widths[i], widths[i + 1]) for i in range(len(widths) - 2, -1, -2)]
    crops = tuple(slice(-min(low, 0), n + min(high, 0)) for (low, high), n in zip(pairs, x.shape))
    _check_padding(x, widths, pairs, crops, mode)
    padded = tuple((max(low, 0), max(high, 0)) for low, high in pairs)
    return Pad.apply(x, crops=crops, widths=padded, mode=mode, value=fill)


def _check_padding(
    x: Tensor, widths: Shape, pairs: list[tuple[int, int]], crops: Crops, mode: str
) -> None:
    """A ShapeError unless the widths fit x: negative ones (crops) only with mode='constant'
    and within the dim; the copying modes need entries to copy, 'reflect' fewer padded
    entries than the dim has, 'circular' no more."""
    if any(s.start > s.stop for s in crops) or (mode != "constant" and min(widths, default=0) < 0):
        raise ShapeError(
            f"pad: widths {widths} crop more than a tensor of shape {x.shape} "
            "has; expected negative widths only with mode='constant', and no "
            "more than the dim's size"
        )
    limit = {"reflect": 1, "circular": 0}.get(mode)
    for (low, high), s in zip(pairs, crops):
        n = s.stop - s.start
        if (
            mode != "constant"
            and (low or high)
            and (n == 0 or (limit is not None and max(low, high) > n - limit))
        ):
            raise ShapeError(
                f"pad: mode={mode!r} widths {widths} do not fit a tensor of "
                f"shape {x.shape}; expected widths < the dim's size for "
                "'reflect', <= it for 'circular', and a non-empty dim"
            )


def pad2d(x: Tensor, padding: Sizes, value: float = 0) -> Tensor:
    """The last two dims padded by (left, right, top, bottom), or by one int on all four
    sides (tinygrad's pad2d)."""
    padding = _sizes("pad2d", (padding,) * 4 if _is_int(padding) else (padding,))
    if len(padding) != 4:
        raise ShapeError(
            f"pad2d: padding={padding!r}; expected (left, right, top, bottom) or one int"
        )
    if x.ndim < 2:
        raise ShapeError(f"pad2d: a tensor of shape {x.shape}; expected at least 2 dims")
    return pad(x, padding, value=value)


# ----- joining and splitting -------------------------------------------------------------------


class Cat(Function):
    """z = the inputs joined along `dim`;  each input's gradient is its part of g."""

    def forward(self, *arrays: Array, dim: int) -> Array:
        self.dim = dim
        self.ends = np.cumsum([a.shape[dim] for a in arrays])
        return np.concatenate(arrays, axis=dim)

    def backward(self, g: Array) -> tuple[Array | None, ...]:
        pieces = np.split(g, self.ends[:-1], axis=self.dim)
        return tuple(p if needed else None for p, needed in zip(pieces, self.needs_input_grad))


def _tensors(tensors: object, what: str) -> list[Tensor]:
    if isinstance(tensors, Tensor) or not isinstance(tensors, (tuple, list)) or not tensors:
        raise ShapeError(
            f"{what}: expected a non-empty list or tuple of tensors, got {type(tensors).__name__}"
        )
    return [_tensor(t, what) for t in tensors]


def _either(what: str, dim: int | None, axis: int | None) -> int:
    """dim= (PyTorch) or axis= (NumPy), 0 by default."""
    if dim is not None and axis is not None:
        raise ConfigError(f"{what}: got both dim={dim!r} and axis={axis!r}; expected one")
    if dim is None:
        return 0 if axis is None else axis
    return dim


def cat(tensors: Sequence[Tensor], dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """The tensors joined along an existing dim (0 by default); their other dims must match."""
    tensors = _tensors(tensors, "cat")
    dim = _either("cat", dim, axis)
    first = tensors[0]
    if first.ndim == 0:
        raise ShapeError(
            "cat: a 0-d tensor cannot be joined along a dim; expected tensors "
            "with at least one dim (stack() adds one)"
        )
    d = _dim(first, dim, "cat")
    for t in tensors[1:]:
        if (
            t.ndim != first.ndim
            or t.shape[:d] + t.shape[d + 1 :] != first.shape[:d] + first.shape[d + 1 :]
        ):
            raise ShapeError(
                f"cat: shapes {[t.shape for t in tensors]} along dim {dim}; "
                "expected the same sizes in every other dim"
            )
    return Cat.apply(*tensors, dim=d)


concatenate = cat  # NumPy's name


def stack(tensors: Sequence[Tensor], dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """The tensors, all of one shape, joined along a new dim."""
    tensors = _tensors(tensors, "stack")
    if any(t.shape != tensors[0].shape for t in tensors):
        raise ShapeError(f"stack: shapes {[t.shape for t in tensors]}; expected all equal")
    d = _dim(tensors[0], _either("stack", dim, axis), "stack", tensors[0].ndim + 1)
    return cat([unsqueeze(t, d) for t in tensors], d)


def narrow(x: Tensor, dim: int, start: int, length: int) -> Tensor:
    """The entries start..start+length-1 along `dim` (a view, as x[..., start:start+length])."""
    d = _dim(x, dim, "narrow")
    n = x.shape[d]
    valid = _is_int(start) and _is_int(length)
    start = start + n if valid and start < 0 else start
    if not valid or not 0 <= start <= n or not 0 <= length <= n - start:
        raise IndexingError(
            f"narrow: start={start!r}, length={length!r} along dim {dim} of "
            f"size {n}; expected ints with 0 <= start + length <= {n}"
        )
    return _getitem(x, (slice(None),) * d + (slice(start, start + length),))


def split(x: Tensor, split_size_or_sections: Sizes, dim: int = 0) -> tuple[Tensor, ...]:
    """x cut along `dim` into pieces of one size (the last may be smaller) or of the
    listed sizes, which must add up to the dim's size."""
    d = _dim(x, dim, "split")
    n = x.shape[d]
    if _is_int(split_size_or_sections):
        size = int(split_size_or_sections)
        if size <= 0:
            raise ConfigError(f"split: split_size={size}; expected a size >= 1")
        sizes = [min(size, n - start) for start in range(0, n, size)] or [0]
    else:
        sizes = list(_sizes("split", (split_size_or_sections,)))
        if sum(sizes) != n or any(s < 0 for s in sizes):
            raise ShapeError(
                f"split: sizes {sizes} for dim {dim} of size {n}; expected "
                f"sizes >= 0 adding up to {n}"
            )
    starts = np.cumsum([0] + sizes[:-1])
    return tuple(narrow(x, d, int(start), size) for start, size in zip(starts, sizes))


def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """x cut along `dim` into at most `chunks` pieces of ceil(size / chunks) entries."""
    if not _is_int(chunks) or chunks < 1:
        raise ConfigError(f"chunk: chunks={chunks!r}; expected an int >= 1")
    n = x.shape[_dim(x, dim, "chunk")]
    return split(x, max(-(-n // chunks), 1), dim)


def unbind(x: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    """The slices of x along `dim`, each without that dim."""
    d = _dim(x, dim, "unbind")
    return tuple(_getitem(x, (slice(None),) * d + (i,)) for i in range(x.shape[d]))


# ----- indexing --------------------------------------------------------------------------------


def _index_array(index: object, what: str) -> Array:
    """An integer index array from a Tensor or array (copied: backward must see it as it was)."""
    array = np.array(index.data if isinstance(index, Tensor) else index)
    if array.dtype.kind not in "iu":
        raise DTypeError(f"{what}: index of dtype {array.dtype}; expected an integer tensor")
    return array


def _plain(index: Any) -> Any:
    """An index with its Tensors replaced by (copies of) their arrays and its lists (and
    tuples inside it) by arrays, as NumPy reads them; one NumPy cannot make an array of is
    refused."""
    if isinstance(index, tuple):
        return tuple(_plain_part(i) for i in index)
    return _plain_part(index)


def _plain_part(part: Any) -> Any:
    if isinstance(part, Tensor):
        return np.array(part.data)
    if not isinstance(part, (list, tuple)):
        return part
    try:
        array = np.asarray(part)
    except (ValueError, TypeError):
        raise IndexingError(
            f"index {shown(part)} is not an array NumPy can make (ragged or "
            "mixed); expected ints, slices, None, ..., or integer or bool "
            "arrays"
        ) from None
    return array.astype(np.intp) if array.size == 0 else array  # x[[]] is empty


def _is_basic(index: Any) -> bool:
    """Whether an index has only ints, slices, None and ...: then no entry repeats."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(_is_int(p) or p is None or p is Ellipsis or isinstance(p, slice) for p in parts)


class GetItem(Function):
    """z = a[index] (NumPy indexing);  da = g put back where it came from, added up where
    an integer array picks an entry more than once."""

    expected = (
        "indices that fit the shape: ints in [-size, size), slices, None, ..., "
        "integer or bool arrays"
    )

    def forward(self, a: Array, index: Any) -> Array:
        self.shape, self.index = a.shape, index
        return a[index]

    def backward(self, g: Array) -> Array:
        full = np.zeros(self.shape, dtype=g.dtype)
        if _is_basic(self.index):
            full[self.index] = g
        else:
            np.add.at(full, self.index, g)
        return full


def _ints_first(index: Any) -> tuple[tuple[Any, ...], tuple[Any, ...]] | None:
    """(the ints and basic parts, the rest) of an index that mixes ints with arrays, or
    None. PyTorch selects with the ints first; NumPy counts them as arrays, so that with a
    slice between them the array dims move to the front: x[0, :, [1, 2]] of shape (2, 3, 4)
    is (3, 2) in PyTorch, (2, 3) in NumPy. We follow PyTorch."""
    parts = index if isinstance(index, tuple) else (index,)
    basic = [_is_int(p) or p is None or p is Ellipsis or isinstance(p, slice) for p in parts]
    masks = [not b and np.asarray(p).dtype == np.bool_ for p, b in zip(parts, basic)]
    if (
        all(basic)
        or not any(_is_int(p) for p in parts)
        or any(m and np.ndim(p) == 0 for p, m in zip(parts, masks))
    ):
        return None
    first, rest = [], []
    for p, is_basic, is_mask in zip(parts, basic, masks):
        if is_basic:
            first.append(p)
        else:  # a mask spans as many dims as it has
            first.extend([slice(None)] * (np.ndim(p) if is_mask else 1))
        if not _is_int(p):
            rest.append(p if not is_basic or p is Ellipsis else slice(None))
    return tuple(first), tuple(rest)


def _getitem(x: Tensor, index: Any) -> Tensor:
    """`x[index]`, as PyTorch and NumPy index: ints, slices, None, Ellipsis, and int or bool
    arrays or tensors (advanced indexing). Basic indexing gives a view that shares x's data
    (and version counter); either way the gradient is scattered back into x's shape.

    Examples:
        >>> x = tg.arange(6).reshape(2, 3)
        >>> x[1, ::2].tolist(), x[x > 3].tolist()
        ([3, 5], [4, 5])
    """
    index = _plain(index)
    split = _ints_first(index)
    if split is not None:
        return _getitem(_getitem(x, split[0]), split[1])
    return _view(
        x,
        GetItem.apply(x, index=index),
        lambda base: _getitem(base, index),
        lambda base, value: _setitem(base, index, value),
    )


def _along(index: Array, dim: int) -> tuple[Array, ...]:
    """The full index that picks index[i, j, ...] along `dim` at position (i, j, ...)."""
    where: list[Array] = list(np.indices(index.shape, sparse=True))
    where[dim] = index
    return tuple(where)


def _check_range(index: Array, size: int, what: str) -> None:
    if index.size and (index.min() < 0 or index.max() >= size):
        raise IndexingError(
            f"{what}: index values in [{index.min()}, {index.max()}]; "
            f"expected values in [0, {size - 1}]"
        )


class Gather(Function):
    """z[i, j] = a[index[i, j], j] (for dim 0);  da = g added at those places."""

    def forward(self, a: Array, dim: int, index: Array) -> Array:
        self.shape, self.where = a.shape, _along(index, dim)
        return a[self.where]

    def backward(self, g: Array) -> Array:
        full = np.zeros(self.shape, dtype=g.dtype)
        np.add.at(full, self.where, g)
        return full


def gather(x: Tensor, dim: int, index: Tensor | Array) -> Tensor:
    """Entries of x along `dim` picked by `index` (of x's number of dims, no larger than x
    in the other dims): `out[i][j] = x[index[i][j]][j]` for dim 0."""
    d = _dim(x, dim, "gather")
    index = _index_array(index, "gather")
    if index.ndim != x.ndim or any(
        k > n for i, (k, n) in enumerate(zip(index.shape, x.shape)) if i != d
    ):
        raise ShapeError(
            f"gather: index of shape {index.shape} for a tensor of shape "
            f"{x.shape} along dim {dim}; expected as many dims, and no larger "
            "than the tensor in the other dims"
        )
    _check_range(index, x.shape[d], "gather")
    return Gather.apply(x, dim=d, index=index)


class ScatterAdd(Function):
    """z = a, plus src[i, j] added at z[index[i, j], j] (for dim 0);  da = g, and
    dsrc = g picked at those places (0 for src entries that index does not reach)."""

    def forward(self, a: Array, src: Array, dim: int, index: Array) -> Array:
        self.where = _along(index, dim)
        self.src_shape, self.used = src.shape, tuple(slice(0, n) for n in index.shape)
        out = a.copy()
        np.add.at(out, self.where, src[self.used])
        return out

    def backward(self, g: Array) -> Grads:
        if not self.needs_input_grad[1]:
            return g, None
        dsrc = np.zeros(self.src_shape, dtype=g.dtype)
        dsrc[self.used] = g[self.where]
        return g, dsrc


def scatter_add(x: Tensor, dim: int, index: Tensor | Array, src: Tensor | Array) -> Tensor:
    """x with src's entries added at the places `index` names along `dim`:
    `out[index[i][j]][j] += src[i][j]` for dim 0 (repeated places add up)."""
    d = _dim(x, dim, "scatter_add")
    index, src = _index_array(index, "scatter_add"), _tensor(src, "scatter_add")
    if src.dtype != x.dtype:
        raise DTypeError(
            f"scatter_add: src of dtype {src.dtype} into a tensor of dtype "
            f"{x.dtype}; expected the same dtype"
        )
    if not index.ndim == src.ndim == x.ndim or any(
        k > s or (i != d and k > n)
        for i, (k, s, n) in enumerate(zip(index.shape, src.shape, x.shape))
    ):
        raise ShapeError(
            f"scatter_add: index of shape {index.shape}, src of shape "
            f"{src.shape}, tensor of shape {x.shape}, dim {dim}; expected as "
            "many dims each, index no larger than src, nor than the tensor "
            "outside dim"
        )
    _check_range(index, x.shape[d], "scatter_add")
    return ScatterAdd.apply(x, src, dim=d, index=index)


def index_select(x: Tensor, dim: int, index: Tensor | Array) -> Tensor:
    """The slices of x along `dim` at the positions in the 1-D `index` (repeats allowed)."""
    d = _dim(x, dim, "index_select")
    index = _index_array(index, "index_select")
    if index.ndim > 1:
        raise ShapeError(f"index_select: index of shape {index.shape}; expected 1-D")
    _check_range(index, x.shape[d], "index_select")
    return GetItem.apply(x, index=(slice(None),) * d + (index.reshape(-1),))


class MaskedFill(Function):
    """z = value where mask, else a;  da = g where not mask, dvalue = Σ g where mask."""

    def forward(self, a: Array, value: Array, mask: Array) -> Array:
        self.mask = mask
        return np.where(mask, value, a).astype(a.dtype, copy=False)

    def backward(self, g: Array) -> Grads:
        da = np.where(self.mask, 0, g) if self.needs_input_grad[0] else None
        return da, (np.where(self.mask, g, 0).sum() if self.needs_input_grad[1] else None)


def masked_fill(x: Tensor, mask: Tensor | Array, value: float | Tensor) -> Tensor:
    """x with `value` (a number or a 0-d tensor, which then gets a gradient) wherever the
    bool `mask` (broadcast with x) is True."""
    mask = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
    if mask.dtype != np.bool_:
        raise DTypeError(f"masked_fill: mask of dtype {mask.dtype}; expected a bool mask")
    value = _fill_value(x, value, "masked_fill")
    return MaskedFill.apply(x, value, mask=mask)


def _fill_value(x: Tensor, value: object, what: str) -> Tensor:
    """A fill value as a 0-d tensor: a number takes x's dtype."""
    if isinstance(value, Tensor):
        if value.ndim:
            raise ShapeError(
                f"{what}: value of shape {value.shape}; expected a number or a 0-d tensor"
            )
        return value
    if not isinstance(value, (int, float, bool, np.number, np.bool_)):
        raise DTypeError(f"{what}: value={value!r}; expected a number or a 0-d tensor")
    return Tensor(np.asarray(value).astype(x.dtype))


def numel(x: Tensor) -> int:
    """The number of entries."""
    return int(x.data.size)


# ----- Python protocols ------------------------------------------------------------------------


def _size(x: Tensor, dim: int | None = None) -> Shape | int:
    """The shape (a tuple), or the size of one dim: x.size() and x.size(1) as in PyTorch."""
    return x.shape if dim is None else x.shape[_dim(x, dim, "size")]


def _ndim(x: Tensor) -> int:
    """The number of dims (x.dim() as in PyTorch; also x.ndim)."""
    return x.ndim


def _len(x: Tensor) -> int:
    if x.ndim == 0:
        raise DTypeError("len() of a 0-d tensor; expected a tensor with at least one dim")
    return x.shape[0]


def _iter(x: Tensor) -> Iterator[Tensor]:
    """The rows of x (x[0], x[1], ...), each recorded as x[i] is."""
    if x.ndim == 0:
        raise DTypeError(
            "iteration over a 0-d tensor; expected a tensor with at least one "
            "dim (.item() gives its value)"
        )
    return (_getitem(x, i) for i in range(x.shape[0]))


def _scalar(x: Tensor, what: str) -> Any:
    if x.data.size != 1:
        raise ShapeError(
            f"{what}() of a tensor with {x.data.size} elements (shape {x.shape}) "
            "is ambiguous; expected one element"
            + (" (use .any() or .all())" if what == "bool" else "")
        )
    return x.data.reshape(()).item()


# ----- in-place changes --------------------------------------------------------------------------


class SetItem(Function):
    """z = a with z[index] = value;  da = g with 0 at index, dvalue = g at index (summed
    where value was broadcast; where an integer array repeats an entry, only the write
    that was kept gets the gradient)."""

    expected = GetItem.expected + ", and a value that broadcasts to the selection"

    def forward(self, a: Array, value: Array, index: Any) -> Array:
        self.index, self.value_shape = index, value.shape
        out = a.copy()
        out[index] = value
        return out

    def backward(self, g: Array) -> Grads:
        da = None
        if self.needs_input_grad[0]:
            da = g.copy()
            da[self.index] = 0
        if not self.needs_input_grad[1]:
            return da, None
        picked = g[self.index]
        if not _is_basic(self.index):  # numbers each write; the number kept tells who won
            order = np.arange(picked.size).reshape(picked.shape)
            kept = np.full(g.shape, -1)
            kept[self.index] = order
            picked = np.where(kept[self.index] == order, picked, 0)
        return da, _sum_to(
            np.broadcast_to(picked, np.broadcast_shapes(picked.shape, self.value_shape)),
            self.value_shape,
        )


def _snapshot(t: Tensor) -> Tensor:
    """A node for t's value and history as they are now, so that t itself can become the
    result of a recorded in-place op. Its version counter is its own: later changes of t
    are not changes of the value the op used."""
    old = copy.copy(t)
    old.grad = None
    setattr(old, "_snapshot_of", t)  # noqa: B010 (not in Tensor's type)
    if hasattr(t, "_versions"):
        old._versions = copy.copy(t._versions)
    return old


def _redirect(result: Tensor, t: Tensor, old: Tensor) -> None:
    """Make the ops behind `result` that took t as an input take `old` (t's snapshot)
    instead: they used t's value from before this change, and t is about to become
    `result` (left as it is, `y[1] = f(y[0])` would make a cycle)."""
    stack, seen = [result], set()
    while stack:
        ctx = stack.pop()._ctx
        if ctx is None or id(ctx) in seen:
            continue
        seen.add(id(ctx))
        if any(p is t for p in ctx.parents):
            ctx.parents = tuple(old if p is t else p for p in ctx.parents)
        stack.extend(p for p in ctx.parents if getattr(p, "_snapshot_of", None) is not t)


def _inplace(
    t: Tensor,
    what: str,
    operands: list[Tensor],
    out_of_place: OutOfPlace,
    write: Callable[[Array], None] | None = None,
    casting: Casting = "same_kind",
) -> Tensor:
    """Make t hold out_of_place(t), keeping t's identity. Every change adds 1 to t._version.

    When a graph is recorded (grad mode, and t or an operand requires grad), t becomes the
    recorded result (see _record); this is refused on a leaf that requires grad, as in
    PyTorch. Otherwise the new values are written into t's array, so views of it see them
    (a graph that saved the array notices through the version count)."""
    recorded = is_grad_enabled() and (t.requires_grad or any(o.requires_grad for o in operands))
    if recorded and t.is_leaf and t.requires_grad:
        raise GraphError(
            f"{what}: a leaf tensor that requires grad is being changed in "
            "place; expected the change under no_grad() (as an optimizer "
            "step), or on a copy (t * 1, t.detach())"
        )
    if recorded:
        _record(t, what, out_of_place)
    elif not t.data.flags.writeable:
        raise GraphError(
            f"{what}: the tensor's array is read-only (an expand() view, "
            "or a read-only NumPy array); expected a writeable tensor: "
            "change a copy (t * 1)"
        )
    elif write is not None:
        write(t.data)
    else:
        with no_grad():
            new = _check_shape(t, out_of_place(t), what).data
        t.data[...] = _cast(new, t.dtype, what, casting)
    t._version += 1
    return t


def _record(t: Tensor, what: str, out_of_place: OutOfPlace) -> None:
    """t becomes out_of_place(old), recorded: its data and _ctx are replaced by those of
    the result, whose input `old` is a snapshot of t's value and history. The ops behind
    the result that took t now take `old` (_redirect); an op made from t earlier that the
    result does not reach still takes t, and its backward would go through t's new
    history (the engine's edges are tensors, not PyTorch's grad_fns). If t is a view (a
    slice, a reshape...) of a base tensor, the new value is computed from the base as it
    is, written back into the base (recorded the same way), and t becomes a view of the
    new base."""
    if t.dtype.kind != "f":
        raise DTypeError(
            f"{what}: a gradient cannot flow into a tensor of dtype {t.dtype}; "
            "expected a float tensor"
        )
    view_of = getattr(t, "_view_of", None)
    old = _snapshot(t) if view_of is None else view_of[1](_snapshot(view_of[0]))
    result = _check_shape(t, out_of_place(old), what)
    if result.dtype != t.dtype:
        result = creation.Cast.apply(result, dtype=t.dtype)
    _redirect(result, t, old)
    if view_of is not None:  # write the view's new value back, and view the new base
        base, view, write_back = view_of
        write_back(base, result)
        result = view(_snapshot(base))
    t.data, t._ctx, t.requires_grad = result.data, result._ctx, result.requires_grad
    t._freed = False


def _check_shape(t: Tensor, result: Tensor, what: str) -> Tensor:
    if result.shape != t.shape:
        raise ShapeError(
            f"{what}: the result has shape {result.shape}, the tensor {t.shape}; "
            "expected an operand that broadcasts to the tensor's shape (an "
            "in-place op cannot change it)"
        )
    return result


def _cast(array: Array, dtype: np.dtype[Any], what: str, casting: Casting = "same_kind") -> Array:
    """array as dtype, refusing what PyTorch's in-place arithmetic refuses (floats into an
    integer tensor, numbers into a bool one); copy_ casts anything (casting="unsafe")."""
    if not np.can_cast(array.dtype, dtype, casting=casting):
        raise DTypeError(
            f"{what}: a result of dtype {array.dtype} cannot be stored in a "
            f"tensor of dtype {dtype}; expected a result of the tensor's kind"
        )
    return array.astype(dtype, copy=False)


def _setitem(t: Tensor, index: Any, value: object) -> None:
    """t[index] = value, in place (see _inplace); value is a number, array or tensor."""
    index = _plain(index)
    split = _ints_first(index)
    if split is not None:  # x[0, :, [1, 2]] = v: into the view x[0, :, :] (see _ints_first)
        return _setitem(_getitem(t, split[0]), split[1], value)
    if isinstance(value, (int, float, np.number)) and not isinstance(value, np.complexfloating):
        value = Tensor(value, dtype=t.dtype)  # a number takes t's dtype (if it fits)
    elif not isinstance(value, Tensor):  # None, text, ragged lists are refused
        value = Tensor(value)

    def write(array: Array) -> None:
        try:
            array[index] = value.data
        except (ValueError, TypeError, IndexError) as err:
            raise _refused(SetItem, err, [array, value.data], {"index": index}) from None

    _inplace(
        t, "t[index] = value", [value], lambda old: SetItem.apply(old, value, index=index), write
    )


def add_(t: Tensor, other: Operand, *, alpha: float = 1) -> Tensor:
    """t += alpha * other, in place."""
    operand = t._operand(other)
    return _inplace(
        t, "add_", [operand], lambda old: old + (operand if alpha == 1 else operand * alpha)
    )


def sub_(t: Tensor, other: Operand, *, alpha: float = 1) -> Tensor:
    """t -= alpha * other, in place."""
    operand = t._operand(other)
    return _inplace(
        t, "sub_", [operand], lambda old: old - (operand if alpha == 1 else operand * alpha)
    )


def mul_(t: Tensor, other: Operand) -> Tensor:
    """t *= other, in place."""
    operand = t._operand(other)
    return _inplace(t, "mul_", [operand], lambda old: old * operand)


def div_(t: Tensor, other: Operand) -> Tensor:
    """t /= other, in place."""
    operand = t._operand(other)
    return _inplace(t, "div_", [operand], lambda old: old / operand)


def fill_(t: Tensor, value: float | Tensor) -> Tensor:
    """Every entry of t set to value (a number, or a 0-d tensor that gets the gradient)."""
    value = _fill_value(t, value, "fill_")
    return _inplace(t, "fill_", [value], lambda old: Fill.apply(old, value))


class Fill(Function):
    """z = value broadcast to a's shape and dtype;  da = 0 (a's old values are gone, as
    PyTorch's fill_ and copy_ say), dvalue = g summed over the broadcast dims."""

    def forward(self, a: Array, value: Array) -> Array:
        self.value_shape = value.shape
        out = np.empty_like(a)
        out[...] = value
        return out

    def backward(self, g: Array) -> Grads:
        da = np.zeros_like(g) if self.needs_input_grad[0] else None
        return da, (_sum_to(g, self.value_shape) if self.needs_input_grad[1] else None)


def zero_(t: Tensor) -> Tensor:
    """Every entry of t set to 0."""
    return fill_(t, 0)


def copy_(t: Tensor, src: Operand) -> Tensor:
    """t's entries set to src's (broadcast to t's shape); the gradient flows to src."""
    source = t._operand(src)
    return _inplace(t, "copy_", [source], lambda old: Fill.apply(old, source), casting="unsafe")


def clamp_(t: Tensor, min: Operand | None = None, max: Operand | None = None) -> Tensor:
    """t limited to [min, max], in place."""
    bounds = [b for b in (min, max) if isinstance(b, Tensor)]
    return _inplace(t, "clamp_", bounds, lambda old: old.clamp(min, max))


def requires_grad_(t: Tensor, requires_grad: bool = True) -> Tensor:
    """Start (or stop) recording operations on the leaf t; returns t."""
    if not isinstance(requires_grad, (bool, np.bool_)):
        raise ConfigError(f"requires_grad_({requires_grad!r}); expected True or False")
    if not t.is_leaf and not requires_grad:
        raise GraphError(
            "requires_grad_(False) on a tensor computed by an op; expected a "
            "leaf: use t.detach() for a copy cut off from the graph"
        )
    if requires_grad and t.dtype.kind != "f":
        raise DTypeError(f"only float tensors can require gradients, got dtype {t.dtype}")
    if t.is_leaf:
        t.requires_grad = bool(requires_grad)
    return t


# ----- Tensor methods -----------------------------------------------------------------------------

_METHODS = {
    "reshape": reshape,
    "view": view,
    "flatten": flatten,
    "unflatten": unflatten,
    "squeeze": squeeze,
    "unsqueeze": unsqueeze,
    "permute": permute,
    "transpose": transpose,
    "expand": expand,
    "expand_as": expand_as,
    "repeat": repeat,
    "tile": tile,
    "flip": flip,
    "roll": roll,
    "pad": pad,
    "pad2d": pad2d,
    "split": split,
    "chunk": chunk,
    "unbind": unbind,
    "gather": gather,
    "scatter_add": scatter_add,
    "narrow": narrow,
    "index_select": index_select,
    "masked_fill": masked_fill,
    "numel": numel,
    "size": _size,
    "dim": _ndim,
    "__len__": _len,
    "__iter__": _iter,
    "__bool__": lambda x: bool(_scalar(x, "bool")),
    "__float__": lambda x: float(_scalar(x, "float")),
    "__int__": lambda x: int(_scalar(x, "int")),
    "__getitem__": _getitem,
    "__setitem__": _setitem,
    "add_": add_,
    "sub_": sub_,
    "mul_": mul_,
    "div_": div_,
    "fill_": fill_,
    "zero_": zero_,
    "copy_": copy_,
    "clamp_": clamp_,
    "requires_grad_": requires_grad_,
    "__iadd__": add_,
    "__isub__": sub_,
    "__imul__": mul_,
    "__itruediv__": div_,
}
for _name, _method in _METHODS.items():
    setattr(Tensor, _name, _method)
# setattr: mypy refuses `Tensor.T = ...` on a class that does not declare T
setattr(Tensor, "T", property(_T))  # noqa: B010
setattr(Tensor, "mT", property(_mT))  # noqa: B010
del _name, _method
