"""Making tensors: tensor(), from_numpy(), zeros(), arange(), rand() and the rest, and dtype
conversions (.float(), .to(), .clone(), ...), with PyTorch's names and dtype rules.

Sizes are given as varargs or one tuple (`zeros(2, 3)` or `zeros((2, 3))`); every maker takes
`dtype=` and `requires_grad=` keywords. Without `dtype`, floats get the default dtype
(`set_default_dtype`), Python ints int64 and bools bool, as in PyTorch.
"""

import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from .convert import _cast, _from_python, _parse_dtype, is_real, is_whole, shown, to_array
from .dtypes import check_float_dtype, get_default_dtype
from .engine import Function, Tensor
from .errors import ConfigError, DTypeError, ShapeError
from .random import default_generator

__all__ = [
    "tensor",
    "from_numpy",
    "zeros",
    "ones",
    "full",
    "empty",
    "eye",
    "arange",
    "linspace",
    "rand",
    "randn",
    "randint",
    "zeros_like",
    "ones_like",
    "empty_like",
    "full_like",
    "rand_like",
    "randn_like",
    "clone",
    "float32",
    "float64",
    "int32",
    "int64",
    "bool",
]

float32, float64 = np.dtype(np.float32), np.dtype(np.float64)
int32, int64 = np.dtype(np.int32), np.dtype(np.int64)
BOOL = np.dtype(np.bool_)

Shape = tuple[int, ...]
DType = npt.DTypeLike | None
"""A dtype argument: np.float32, "float64", a Tensor's dtype, ...; None for the default."""
Size = int | Sequence[int]
"""A size argument: `2` or `(2, 3)`."""


def __getattr__(name: str) -> np.dtype:
    """`tinygrad_hlcv.bool` is the bool dtype (like `torch.bool`). It is served from here
    rather than defined as a global, so that `bool` inside this module stays Python's."""
    if name == "bool":
        return BOOL
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ----- argument checks ---------------------------------------------------------------


def _size(size: Sequence[Any], where: str) -> Shape:
    """A shape from varargs `zeros(2, 3)` or one sequence `zeros((2, 3))`."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    if not all(is_whole(n) and n >= 0 for n in size):
        raise ShapeError(
            f"{where}: sizes must be non-negative integers, got {size!r}; "
            "expected e.g. (2, 3) or 2, 3"
        )
    return tuple(int(n) for n in size)


def _shape(size: Size, where: str) -> Shape:
    """A shape given as one argument: an integer or a sequence of integers."""
    return _size(tuple(size) if isinstance(size, (tuple, list)) else (size,), where)


def _dtype(dtype: DType, default: np.dtype) -> np.dtype:
    return default if dtype is None else _parse_dtype(dtype)


def _float_dtype(dtype: DType, where: str) -> np.dtype:
    return get_default_dtype() if dtype is None else check_float_dtype(dtype, where)


def _number_dtype(*values: object) -> np.dtype:
    """PyTorch's dtype for Python numbers: bool if all are bools, int64 if all are
    integers, else the default float dtype."""
    if all(isinstance(v, (bool, np.bool_)) for v in values):
        return BOOL
    if all(is_whole(v) or isinstance(v, (bool, np.bool_)) for v in values):
        return int64
    return get_default_dtype()


def _check_number(value: object, where: str, name: str) -> None:
    if not isinstance(value, (numbers.Real, np.bool_)):
        raise DTypeError(f"{where}: {name} must be a number, got {shown(value)}")


def _tensor_arg(x: object, where: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise DTypeError(
            f"{where}: expected a Tensor, got {type(x).__name__}; make one with "
            "tinygrad_hlcv.tensor(data)"
        )
    return x


# ----- from data ---------------------------------------------------------------------


def tensor(data: object, dtype: DType = None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of `data` (a number, a nested list, an array or a Tensor).

    Without `dtype` a NumPy array keeps its dtype; Python data gets bool, int64 or the default
    float dtype, as in `torch.tensor`.

    Args:
        data: a number, a (nested) list or tuple, a NumPy array or a Tensor; copied.
        dtype: the dtype to convert to (a NumPy dtype, its name, or `tg.float32`, ...).
        requires_grad: whether backward() should fill this tensor's `.grad` (float only).

    Examples:
        >>> tg.tensor([[1, 2], [3, 4]]).dtype, tg.tensor([0.5]).dtype
        (dtype('int64'), dtype('float32'))
        >>> tg.tensor(np.ones(2), requires_grad=True)
        Tensor([1., 1.], dtype=float64, requires_grad=True)
    """
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in data):
        data = [x.data if isinstance(x, Tensor) else x for x in data]
    if isinstance(data, (np.ndarray, np.generic)):
        array = to_array(np.array(data, copy=True), dtype)
    else:
        array = _from_python(data)
        if not array.flags.owndata:  # an object exposing its memory (__array__, buffers)
            array = array.copy()
        kind = array.dtype.kind
        inferred = BOOL if kind == "b" else int64 if kind in "iu" else get_default_dtype()
        array = _cast(array, _dtype(dtype, inferred))
    return Tensor(array, requires_grad=requires_grad)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing `array`'s memory: changing one changes the other."""
    if not isinstance(array, np.ndarray):
        raise DTypeError(f"from_numpy: expected a NumPy array, got {type(array).__name__}")
    to_array(array)  # refuses dtypes a tensor cannot hold
    return Tensor._sharing(array)


# ----- filled ------------------------------------------------------------------------


def zeros(*size: Size, dtype: DType = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros (default float dtype unless `dtype` is given)."""
    return Tensor(
        np.zeros(_size(size, "zeros"), _dtype(dtype, get_default_dtype())),
        requires_grad=requires_grad,
    )


def ones(*size: Size, dtype: DType = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones (default float dtype unless `dtype` is given)."""
    return Tensor(
        np.ones(_size(size, "ones"), _dtype(dtype, get_default_dtype())),
        requires_grad=requires_grad,
    )


def empty(*size: Size, dtype: DType = None, requires_grad: bool = False) -> Tensor:
    """A tensor whose values are whatever the memory held (as `torch.empty`): fill it
    before reading it."""
    return Tensor(
        np.empty(_size(size, "empty"), _dtype(dtype, get_default_dtype())),
        requires_grad=requires_grad,
    )


def full(
    size: Size, fill_value: float, *, dtype: DType = None, requires_grad: bool = False
) -> Tensor:
    """A tensor of `size` filled with `fill_value`; its dtype follows the value (bool, int64
    or the default float) unless `dtype` is given."""
    size = _shape(size, "full")
    _check_number(fill_value, "full", "fill_value")
    dtype = _dtype(dtype, _number_dtype(fill_value))
    if dtype.kind in "iu" and not float(fill_value).is_integer():
        raise DTypeError(
            f"full: fill_value {fill_value} is not a whole number; expected one for dtype {dtype}"
        )
    value = _cast(_from_python(fill_value), dtype)
    return Tensor(np.full(size, value, dtype), requires_grad=requires_grad)


def eye(
    n: int, m: int | None = None, *, dtype: DType = None, requires_grad: bool = False
) -> Tensor:
    """The n×m matrix (n×n without m) with ones on the diagonal."""
    m = n if m is None else m
    shape = _size((n, m), "eye")
    dtype = _dtype(dtype, get_default_dtype())
    return Tensor(np.eye(*shape, dtype=dtype), requires_grad=requires_grad)


def arange(
    start: float,
    end: float | None = None,
    step: float = 1,
    *,
    dtype: DType = None,
    requires_grad: bool = False,
) -> Tensor:
    """start, start + step, ... up to but excluding end (`arange(n)` is 0 … n-1); int64 if all
    three are integers, else the default float dtype."""
    if end is None:
        start, end = 0, start
    for name, value in (("start", start), ("end", end), ("step", step)):
        if not is_real(value):
            raise DTypeError(f"arange: {name} must be a finite number, got {shown(value)}")
    if step == 0 or (end - start) * step < 0:
        raise ConfigError(
            f"arange: step {step} never takes {start} to {end}; expected a "
            "non-zero step with the sign of end - start"
        )
    dtype = _dtype(dtype, _number_dtype(start, end, step))
    count = max(0, int(np.ceil((end - start) / step)))
    values = start + step * np.arange(count, dtype=np.float64 if dtype.kind == "f" else None)
    return Tensor(_cast(np.asarray(values), dtype), requires_grad=requires_grad)


def linspace(
    start: float,
    end: float,
    steps: int,
    *,
    dtype: DType = None,
    requires_grad: bool = False,
) -> Tensor:
    """`steps` evenly spaced values from start to end, both included."""
    for name, value in (("start", start), ("end", end)):
        if not is_real(value):
            raise DTypeError(f"linspace: {name} must be a finite number, got {shown(value)}")
    if not is_whole(steps) or steps < 0:
        raise ConfigError(f"linspace: steps must be a non-negative integer, got {shown(steps)}")
    values = np.linspace(start, end, int(steps))
    dtype = _dtype(dtype, get_default_dtype())
    values = values if dtype.kind == "f" else np.trunc(values)
    return Tensor(_cast(values, dtype), requires_grad=requires_grad)


# ----- random (from the generator manual_seed() seeds) ---------------------------------


def _generator(generator: np.random.Generator | None, where: str) -> np.random.Generator:
    if generator is None:
        return default_generator()
    if not isinstance(generator, np.random.Generator):
        raise ConfigError(
            f"{where}: generator must be a numpy.random.Generator, got {type(generator).__name__}"
        )
    return generator


def rand(
    *size: Size,
    dtype: DType = None,
    requires_grad: bool = False,
    generator: np.random.Generator | None = None,
) -> Tensor:
    """Uniform samples from [0, 1)."""
    dtype = _float_dtype(dtype, "rand")
    return Tensor(
        _generator(generator, "rand").random(_size(size, "rand"), dtype=dtype),
        requires_grad=requires_grad,
    )


def randn(
    *size: Size,
    dtype: DType = None,
    requires_grad: bool = False,
    generator: np.random.Generator | None = None,
) -> Tensor:
    """Samples from the standard normal distribution."""
    dtype = _float_dtype(dtype, "randn")
    draw = _generator(generator, "randn").standard_normal
    return Tensor(draw(_size(size, "randn"), dtype=dtype), requires_grad=requires_grad)


def randint(
    low: int,
    high: Any = None,
    size: Any = None,
    *,
    dtype: DType = None,
    requires_grad: bool = False,
    generator: np.random.Generator | None = None,
) -> Tensor:
    """Integers drawn uniformly from [low, high): `randint(high, size)` or
    `randint(low, high, size)`, int64 unless `dtype` is given."""
    if size is None:
        low, high, size = 0, low, high
    if not isinstance(size, (tuple, list)):
        raise ShapeError(
            f"randint: size must be a tuple, got {shown(size)}; expected "
            "randint(high, size) or randint(low, high, size), e.g. randint(10, (3,))"
        )
    if not (is_whole(low) and is_whole(high)) or low >= high:
        raise ConfigError(
            f"randint: expected integers low < high, got low={shown(low)}, high={shown(high)}"
        )
    size = _size((size,), "randint")
    values = _generator(generator, "randint").integers(low, high, size, dtype=np.int64)
    return Tensor(_cast(values, _dtype(dtype, int64)), requires_grad=requires_grad)


# ----- shaped like another tensor ------------------------------------------------------


def zeros_like(input: Tensor, *, dtype: DType = None, requires_grad: bool = False) -> Tensor:
    """Zeros of `input`'s shape and dtype (or `dtype`)."""
    input = _tensor_arg(input, "zeros_like")
    return zeros(
        input.shape, dtype=input.dtype if dtype is None else dtype, requires_grad=requires_grad
    )


def ones_like(input: Tensor, *, dtype: DType = None, requires_grad: bool = False) -> Tensor:
    """Ones of `input`'s shape and dtype (or `dtype`)."""
    input = _tensor_arg(input, "ones_like")
    return ones(
        input.shape, dtype=input.dtype if dtype is None else dtype, requires_grad=requires_grad
    )


def empty_like(input: Tensor, *, dtype: DType = None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor of `input`'s shape and dtype (or `dtype`), as `empty`."""
    input = _tensor_arg(input, "empty_like")
    return empty(
        input.shape, dtype=input.dtype if dtype is None else dtype, requires_grad=requires_grad
    )


def full_like(
    input: Tensor, fill_value: float, *, dtype: DType = None, requires_grad: bool = False
) -> Tensor:
    """`fill_value` in `input`'s shape and dtype (or `dtype`)."""
    input = _tensor_arg(input, "full_like")
    return full(
        input.shape,
        fill_value,
        dtype=input.dtype if dtype is None else dtype,
        requires_grad=requires_grad,
    )


def rand_like(
    input: Tensor,
    *,
    dtype: DType = None,
    requires_grad: bool = False,
    generator: np.random.Generator | None = None,
) -> Tensor:
    """Uniform samples from [0, 1) in `input`'s shape and float dtype (or `dtype`)."""
    input = _tensor_arg(input, "rand_like")
    return rand(
        input.shape,
        dtype=_like_float(input, dtype, "rand_like"),
        requires_grad=requires_grad,
        generator=generator,
    )


def randn_like(
    input: Tensor,
    *,
    dtype: DType = None,
    requires_grad: bool = False,
    generator: np.random.Generator | None = None,
) -> Tensor:
    """Standard normal samples in `input`'s shape and float dtype (or `dtype`)."""
    input = _tensor_arg(input, "randn_like")
    return randn(
        input.shape,
        dtype=_like_float(input, dtype, "randn_like"),
        requires_grad=requires_grad,
        generator=generator,
    )


def _like_float(input: Tensor, dtype: DType, where: str) -> DType:
    if dtype is not None:
        return dtype
    if input.dtype.kind != "f":
        raise DTypeError(
            f"{where}: input has dtype {input.dtype}; expected a float tensor, or pass dtype="
        )
    return input.dtype


# ----- dtype conversions and copies ----------------------------------------------------


class Cast(Function):
    """z = a in another float dtype;  dz/da = 1 (the gradient is cast back to a's dtype)."""

    def forward(self, a: np.ndarray, dtype: np.dtype) -> np.ndarray:
        return _cast(a, dtype)

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g


class Clone(Function):
    """z = a C-contiguous copy of a;  dz/da = 1."""

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.array(a, copy=True, order="C")

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g


def _to(self: Tensor, dtype: npt.DTypeLike) -> Tensor:
    """This tensor as `dtype`: itself if it already is; a differentiable copy for a float
    dtype; a new tensor cut from the graph for an integer or bool dtype (as in PyTorch,
    where those cannot carry gradients)."""
    dtype = _parse_dtype(dtype)
    if dtype == self.dtype:
        return self
    if dtype.kind == "f":
        return Cast.apply(self, dtype=dtype)
    return Tensor(_cast(self.data, dtype))


def to(self: Tensor, *args: Any, dtype: DType = None, copy: bool = False) -> Tensor:
    """`t.to(dtype)`, `t.to(other)` (other's dtype), `t.to("cpu")`, `t.to("cpu", dtype)`;
    itself when nothing changes, unless copy=True. Everything runs on the CPU."""
    for arg in args:
        if isinstance(arg, Tensor):
            arg = arg.dtype
        if isinstance(arg, str) and arg.split(":")[0] in ("cpu", "cuda", "mps", "xpu", "meta"):
            if arg != "cpu":
                raise ConfigError(
                    f"to: device {arg!r} is not available; tinygrad_hlcv runs on "
                    "the CPU only (expected 'cpu')"
                )
            continue
        if dtype is not None:
            raise ConfigError(f"to: more than one dtype given ({dtype!r} and {arg!r})")
        dtype = arg
    out = self if dtype is None else _to(self, dtype)
    return clone(out) if copy and out is self else out


def _type(self: Tensor, dtype: DType = None) -> Tensor | str:
    """`t.type(dtype)` converts like `to(dtype)`; `t.type()` names the dtype."""
    return str(self.dtype) if dtype is None else _to(self, dtype)


def clone(input: Tensor) -> Tensor:
    """A copy of `input` that stays in the graph: gradients flow back through it."""
    return Clone.apply(_tensor_arg(input, "clone"))


def contiguous(self: Tensor) -> Tensor:
    """Itself if its array is C-contiguous, else a contiguous copy (in the graph)."""
    return self if self.data.flags.c_contiguous else Clone.apply(self)


def tolist(self: Tensor) -> Any:
    """The values as (nested) Python lists of Python numbers; a number for a 0-d tensor."""
    return self.data.tolist()


def _converter(name: str, dtype: np.dtype) -> Callable[[Tensor], Tensor]:
    def convert(self: Tensor) -> Tensor:
        return _to(self, dtype)

    convert.__name__ = name
    convert.__doc__ = f"This tensor as {dtype} (itself if it already is); see `to`."
    return convert


_conversions: dict[str, np.dtype] = {
    "float": float32,
    "double": float64,
    "long": int64,
    "int": int32,
    "bool": BOOL,
}
for _name, _dtype_of in _conversions.items():
    setattr(Tensor, _name, _converter(_name, _dtype_of))
_methods = {"to": to, "clone": clone, "contiguous": contiguous, "tolist": tolist, "type": _type}
for _name, _method in _methods.items():
    setattr(Tensor, _name, _method)
del _name, _dtype_of, _method, _conversions, _methods
