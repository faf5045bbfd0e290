"""Turning what a user passes (arrays, numbers, lists, dtypes, axes) into what the
ops take, or into a clear error: NumPy alone would quietly make NaN of None,
parse numbers out of text, or wrap an overflowing value.
"""

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from .dtypes import check_float_dtype, get_default_dtype
from .errors import DTypeError, ShapeError

_KINDS = "fiub"  # float, signed and unsigned integer, bool: what a Tensor can hold
_EXPECTED_DTYPES = "expected float32, float64, an integer or a bool dtype"
_EXPECTED_DATA = "expected a number, a (nested) list of numbers, or a NumPy array"


def _parse_dtype(dtype: npt.DTypeLike) -> np.dtype:
    try:
        dtype = np.dtype(dtype)
    except (TypeError, ValueError):
        raise DTypeError(
            f"Tensor: dtype={dtype!r} is not a NumPy dtype; {_EXPECTED_DTYPES}"
        ) from None
    if dtype.kind == "f":
        check_float_dtype(dtype, "Tensor")
    elif dtype.kind not in _KINDS:
        raise DTypeError(f"Tensor: cannot hold dtype {dtype}; {_EXPECTED_DTYPES}")
    return dtype


def is_real(value: object) -> bool:
    """A finite real number (Python or NumPy scalar), not a bool: so that comparing it
    is meaningful, and a string or None gets our message rather than a TypeError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # a Python int beyond float's range
        return False


def is_whole(value: object) -> bool:
    """A Python or NumPy integer, not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def shown(value: object) -> str:
    """A value for a message: numbers as they print, anything else as a short repr."""
    return str(value) if is_real(value) else f"{value!r:.60}"


def with_article(noun: str) -> str:
    """The noun with its indefinite article, for messages."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _fits(item: object) -> bool:
    """Whether NumPy holds this Python value as a number (a Python int may be too large)."""
    return (
        isinstance(item, (bool, float, np.bool_, np.integer, np.floating))
        or isinstance(item, int)
        and -(2**63) <= item < 2**64
    )


def _show(item: object) -> str:
    """A short description of one Python value that is not a number, for a message."""
    if item is None:
        return "None"
    if isinstance(item, (str, bytes)):
        return f"the text {item!r:.30}"
    if isinstance(item, int):
        return "an integer too large for 64 bits"
    if isinstance(item, complex):
        return f"the complex number {item}"
    return with_article(type(item).__name__)


def _describe(data: object, array: np.ndarray) -> str:
    """What made `array` (from Python `data`) not an array of numbers, for a message."""
    if array.ndim == 0:
        return _show(data)
    if array.dtype.kind in "US":
        return f"a {type(data).__name__} holding text"
    bad = next((x for x in array.flat if not _fits(x)), array.flat[0])
    bad = bad.item() if isinstance(bad, np.generic) else bad
    return f"a {type(data).__name__} holding {_show(bad)}"


def _from_python(data: object) -> np.ndarray:
    """An array of numbers from Python data. NumPy alone would turn None into NaN and
    parse numbers out of strings; both are refused here."""
    try:
        array = np.asarray(data)
    except (TypeError, ValueError, OverflowError) as err:  # ragged lists, ...
        raise DTypeError(
            f"Tensor: cannot make an array from {type(data).__name__} ({err}); {_EXPECTED_DATA}"
        ) from None
    if array.dtype.kind not in _KINDS:
        raise DTypeError(
            f"Tensor: cannot make an array of numbers from "
            f"{_describe(data, array)}; {_EXPECTED_DATA}"
        )
    return array


def _cast(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """`array` as `dtype`, refusing conversions that would silently change values:
    NaN/Inf or out-of-range values into an integer dtype, finite values overflowing."""
    if array.dtype == dtype:
        return array
    if array.size and dtype.kind in "iu" and array.dtype.kind in "iuf":
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise DTypeError(
                f"Tensor: cannot convert NaN or Inf to {dtype}; expected finite "
                "values for an integer dtype"
            )
        info, low, high = np.iinfo(dtype), array.min(), array.max()
        if low < info.min or high > info.max:
            raise DTypeError(
                f"Tensor: values in [{low}, {high}] do not fit {dtype}; expected "
                f"values in [{info.min}, {info.max}]"
            )
    with np.errstate(over="ignore", invalid="ignore"):
        out = array.astype(dtype)
    if out.dtype.kind == "f" and array.dtype.kind in "iuf" and array.size:
        overflowed = ~np.isfinite(out) & np.isfinite(array)
        if overflowed.any():
            raise DTypeError(
                f"Tensor: {array[overflowed].flat[0]} overflows {dtype}; expected "
                f"magnitudes up to {np.finfo(dtype).max:g}"
            )
    return out


def to_array(data: object, dtype: npt.DTypeLike | None = None) -> np.ndarray:
    """NumPy array for `data`: float arrays keep their dtype, integer and bool arrays
    stay as they are (labels, indices), Python numbers and lists get the default dtype."""
    if dtype is not None:
        dtype = _parse_dtype(dtype)
    if isinstance(data, (np.ndarray, np.generic)):
        array = np.asarray(data)
        if array.dtype.kind not in _KINDS:
            raise DTypeError(
                f"Tensor: cannot hold an array of dtype {array.dtype}; {_EXPECTED_DTYPES}"
            )
        if dtype is None:
            if array.dtype.kind == "f":
                check_float_dtype(array.dtype, "Tensor")
            return array
    else:
        array = _from_python(data)
        dtype = dtype if dtype is not None else get_default_dtype()
    return _cast(array, dtype)


def normalize_axis(
    axis: int | Sequence[int] | None, shape: Sequence[int], what: str
) -> tuple[int, ...] | None:
    """`axis` (None, an int, or a tuple or list of ints) as None or a tuple of distinct
    axes in [0, ndim); a ShapeError saying what fits otherwise."""
    if axis is None:
        return None
    ndim = len(shape)
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    if all(
        isinstance(a, (int, np.integer))
        and not isinstance(a, (bool, np.bool_))
        and -ndim <= a < ndim
        for a in axes
    ):
        normalized = tuple(int(a) % ndim for a in axes)
        if len(set(normalized)) == len(normalized):
            return normalized
    expected = (
        f"None or distinct integers in [{-ndim}, {ndim - 1}]"
        if ndim
        else "None (a 0-d tensor has no axes)"
    )
    raise ShapeError(
        f"{what}: axis={axis!r} does not fit a tensor of shape {tuple(shape)}; expected {expected}"
    )
