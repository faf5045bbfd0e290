"""Element-wise ops beyond arithmetic: maths functions, activations, comparisons, logic, where
and clamp, with PyTorch's names, semantics and gradients (its choices at kinks and ties).

Each differentiable op is a Function with its derivative in the docstring; each is a
top-level function and a Tensor method. Maths functions (sqrt, exp, sigmoid, ...) of an
integer tensor work on it converted to the default float dtype, as in PyTorch. Numbers mixed
with tensors are "weak" (`_operand`): they never change a float tensor's dtype.
Comparisons and logic give bool tensors outside the graph.
"""

import numbers
from collections.abc import Callable
from typing import Any, TypeGuard

import numpy as np
import numpy.typing as npt

from . import activation_kernels, fused, ops
from .convert import is_real, is_whole, shown
from .creation import _number_dtype, _tensor_arg
from .dtypes import get_default_dtype
from .engine import Function, Tensor
from .errors import ConfigError, DTypeError, ShapeError

__all__ = [
    "abs",
    "sign",
    "sqrt",
    "rsqrt",
    "exp",
    "log",
    "log1p",
    "expm1",
    "sin",
    "cos",
    "tanh",
    "sigmoid",
    "relu",
    "leaky_relu",
    "gelu",
    "silu",
    "elu",
    "softplus",
    "relu6",
    "hardswish",
    "mish",
    "reciprocal",
    "clamp",
    "clip",
    "maximum",
    "minimum",
    "where",
    "pow",
    "add",
    "sub",
    "mul",
    "div",
    "neg",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "logical_and",
    "logical_or",
    "logical_xor",
    "logical_not",
    "bitwise_and",
    "bitwise_or",
    "bitwise_xor",
    "bitwise_not",
]

BROADCASTABLE = ops.BROADCASTABLE
_KIND_RANK = {"b": 0, "u": 1, "i": 1, "f": 2}

Array = np.ndarray
Grads = tuple[Array | None, ...]
"""What a backward returns for several inputs: one gradient each, None where not needed."""
Operand = Tensor | npt.ArrayLike
"""A tensor, or a number or array to combine with one (`_operand`)."""
UnaryOp = Callable[[Tensor], Tensor]
BinaryOp = Callable[[Tensor, Operand], Tensor]


# ----- operands -------------------------------------------------------------------------


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, (numbers.Real, np.bool_))


def _operand(x: Tensor, other: Operand) -> Tensor:
    """`other` as a Tensor to combine with the tensor x. Tensors and arrays keep their dtype
    (NumPy's promotion then applies: float32 with float64 gives float64). A Python or NumPy
    number is weak, as in PyTorch: it takes x's dtype unless it is of a wider kind (a float
    with an integer tensor gets the default float dtype, an integer with a bool tensor
    int64), so `int_tensor == 3` compares integers."""
    if isinstance(other, Tensor):
        return other
    if not _is_number(other):
        return Tensor(other)
    kind = (
        "b"
        if isinstance(other, (bool, np.bool_))
        else "i"
        if isinstance(other, numbers.Integral)
        else "f"
    )
    dtype = (
        x.dtype
        if _KIND_RANK[kind] <= _KIND_RANK[x.dtype.kind]
        else get_default_dtype()
        if kind == "f"
        else np.dtype(np.int64)
    )
    try:
        return Tensor(np.asarray(other, dtype=dtype))
    except OverflowError:
        raise DTypeError(
            f"the number {other} does not fit the tensor's dtype {dtype}; expected "
            "a value in its range"
        ) from None


def _floating(x: Tensor) -> Tensor:
    """x itself if it is a float tensor, else its values in the default float dtype (an
    integer tensor carries no gradient, so nothing is cut)."""
    return x if x.dtype.kind == "f" else Tensor(x.data.astype(get_default_dtype()))


def _real(value: float, where: str, name: str) -> float:
    if not is_real(value):
        raise ConfigError(f"{where}: {name} must be a finite number, got {shown(value)}")
    return value


def _unary(op: type[Function], name: str, floating: bool = True) -> UnaryOp:
    """The public function (and Tensor method) `name(input)` applying `op`."""

    def function(input: Tensor) -> Tensor:
        x = _tensor_arg(input, name)
        return op.apply(_floating(x) if floating else x)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = op.__doc__
    return function


# ----- maths functions --------------------------------------------------------------------


class Abs(Function):
    """z = |a|;  dz/da = sign(a) (0 at a = 0, as PyTorch)."""

    fresh_grads = True
    saves = (0,)

    def forward(self, a: Array) -> Array:
        self.a = a
        return np.abs(a)

    def backward(self, g: Array) -> Array:
        return g * np.sign(self.a)


class Sign(Function):
    """z = sign(a) ∈ {-1, 0, 1};  dz/da = 0."""

    fresh_grads = True

    def forward(self, a: Array) -> Array:
        return np.sign(a)

    def backward(self, g: Array) -> Array:
        return np.zeros_like(g)


class Sqrt(Function):
    """z = √a;  dz/da = 1/(2z)."""

    fresh_grads = True
    saves_output = True

    def forward(self, a: Array) -> Array:
        self.out = np.sqrt(a)
        return self.out

    def backward(self, g: Array) -> Array:
        return g / (2 * self.out)


class Rsqrt(Function):
    """z = 1/√a;  dz/da = -z³/2."""

    fresh_grads = True
    saves_output = True

    def forward(self, a: Array) -> Array:
        self.out = 1 / np.sqrt(a)
        return self.out

    def backward(self, g: Array) -> Array:
        return g * (-0.5 * self.out**3)


class Log1p(Function):
    """z = ln(1 + a);  dz/da = 1/(1 + a)."""

    fresh_grads = True
    saves = (0,)

    def forward(self, a: Array) -> Array:
        self.a = a
        return np.log1p(a)

    def backward(self, g: Array) -> Array:
        return g / (1 + self.a)


class Expm1(Function):
    """z = eᵃ - 1;  dz/da = z + 1."""

    fresh_grads = True
    saves_output = True

    def forward(self, a: Array) -> Array:
        self.out = np.expm1(a)
        return self.out

    def backward(self, g: Array) -> Array:
        return g * (self.out + 1)


class Sin(Function):
    """z = sin a;  dz/da = cos a."""

    fresh_grads = True
    saves = (0,)

    def forward(self, a: Array) -> Array:
        self.a = a
        return np.sin(a)

    def backward(self, g: Array) -> Array:
        return g * np.cos(self.a)


class Cos(Function):
    """z = cos a;  dz/da = -sin a."""

    fresh_grads = True
    saves = (0,)

    def forward(self, a: Array) -> Array:
        self.a = a
        return np.cos(a)

    def backward(self, g: Array) -> Array:
        return g * -np.sin(self.a)


class Reciprocal(Function):
    """z = 1/a;  dz/da = -z²."""

    fresh_grads = True
    saves_output = True

    def forward(self, a: Array) -> Array:
        self.out = 1 / a
        return self.out

    def backward(self, g: Array) -> Array:
        return g * -(self.out * self.out)


abs = _unary(Abs, "abs", floating=False)
sign = _unary(Sign, "sign", floating=False)
sqrt = _unary(Sqrt, "sqrt")
rsqrt = _unary(Rsqrt, "rsqrt")
exp = _unary(ops.Exp, "exp")
log = _unary(ops.Log, "log")
log1p = _unary(Log1p, "log1p")
expm1 = _unary(Expm1, "expm1")
sin = _unary(Sin, "sin")
cos = _unary(Cos, "cos")
reciprocal = _unary(Reciprocal, "reciprocal")


# ----- activations --------------------------------------------------------------------


def _sigmoid(a: Array) -> Array:
    """σ(a) = 1/(1 + e⁻ᵃ), from e^(-|a|) ≤ 1 so that no exp overflows."""
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1 / (1 + e), e / (1 + e))


class Tanh(Function):
    """z = tanh a;  dz/da = 1 - z²."""

    fresh_grads = True
    saves_output = True

    def forward(self, a: Array) -> Array:
        self.out = np.tanh(a)
        return self.out

    def backward(self, g: Array) -> Array:
        return g * (1 - self.out * self.out)


class Sigmoid(Function):
    """z = σ(a) = 1/(1 + e⁻ᵃ);  dz/da = z(1 - z)."""

    fresh_grads = True
    saves_output = True

    def forward(self, a: Array) -> Array:
        self.out = _sigmoid(a)
        return self.out

    def backward(self, g: Array) -> Array:
        return g * (self.out * (1 - self.out))


class SiLU(Function):
    """z = a σ(a);  dz/da = σ(a)(1 + a(1 - σ(a)))."""

    fresh_grads = True
    saves = (0,)

    def forward(self, a: Array) -> Array:
        self.a, self.s = a, _sigmoid(a)
        return a * self.s

    def backward(self, g: Array) -> Array:
        return g * (self.s * (1 + self.a * (1 - self.s)))


class GELU(Function):
    """z = a Φ(a), Φ the standard normal CDF;  dz/da = Φ(a) + a φ(a) (activation_kernels)."""

    fresh_grads = True
    saves = (0,)

    def forward(self, a: Array) -> Array:
        self.a = np.ascontiguousarray(a).reshape(a.shape)
        out = np.empty_like(self.a)
        activation_kernels.active().gelu_forward(self.a.reshape(-1), out.reshape(-1))
        return out

    def backward(self, g: Array) -> Array:
        dz = np.empty_like(self.a)
        g = np.ascontiguousarray(g, dtype=dz.dtype).reshape(-1)
        activation_kernels.active().gelu_backward(g, self.a.reshape(-1), dz.reshape(-1))
        return dz


class GELUTanh(Function):
    """z = a(1 + t)/2, t = tanh u;  dz/da = (1 + t)/2 + a(1 - t²)u'/2
    (PyTorch's approximate='tanh': u = √(2/π)(a + 0.044715a³), u' = √(2/π)(1 + 0.134145a²))."""

    fresh_grads = True
    saves = (0,)
    C, K = float(np.sqrt(2 / np.pi)), 0.044715  # Python floats: they keep float32 float32

    def forward(self, a: Array) -> Array:
        self.a = a
        self.t = np.tanh(self.C * (a + self.K * a**3))
        return 0.5 * a * (1 + self.t)

    def backward(self, g: Array) -> Array:
        a, t = self.a, self.t
        du = self.C * (1 + 3 * self.K * a * a)
        return g * (0.5 * (1 + t) + 0.5 * a * (1 - t * t) * du)


class ELU(Function):
    """z = a if a > 0 else α(eᵃ - 1);  dz/da = 1 if a > 0 else α eᵃ."""

    fresh_grads = True
    saves = (0,)

    def forward(self, a: Array, alpha: float = 1.0) -> Array:
        self.a, self.alpha = a, a.dtype.type(alpha)
        return np.where(a > 0, a, self.alpha * np.expm1(np.minimum(a, 0)))

    def backward(self, g: Array) -> Array:
        a = self.a
        return g * np.where(a > 0, 1, self.alpha * np.exp(np.minimum(a, 0))).astype(g.dtype)


class Softplus(Function):
    """z = ln(1 + e^(βa))/β, or a where βa > threshold;  dz/da = σ(βa) (1 above threshold)."""

    fresh_grads = True

    def forward(self, a: Array, beta: float = 1.0, threshold: float = 20.0) -> Array:
        self.z, self.threshold = a * a.dtype.type(beta), threshold
        return np.where(self.z > threshold, a, np.logaddexp(0, self.z) / a.dtype.type(beta))

    def backward(self, g: Array) -> Array:
        return g * np.where(self.z > self.threshold, 1, _sigmoid(self.z)).astype(g.dtype)


class ReLU6(Function):
    """z = min(max(a, 0), 6);  dz/da = 1 for 0 < a < 6, else 0."""

    fresh_grads = True
    saves = (0,)

    def forward(self, a: Array) -> Array:
        self.a = a
        return np.clip(a, 0, 6)

    def backward(self, g: Array) -> Array:
        return g * ((self.a > 0) & (self.a < 6))


class Hardswish(Function):
    """z = a·relu6(a + 3)/6;  dz/da = 0 for a ≤ -3, a/3 + 1/2 for -3 < a < 3, 1 for a ≥ 3."""

    fresh_grads = True
    saves = (0,)

    def forward(self, a: Array) -> Array:
        self.a = a
        return a * np.clip(a + 3, 0, 6) / 6

    def backward(self, g: Array) -> Array:
        a = self.a
        return g * np.where(a <= -3, 0, np.where(a < 3, a / 3 + 0.5, 1)).astype(g.dtype)


class Mish(Function):
    """z = a tanh(softplus(a));  dz/da = t + a σ(a)(1 - t²), t = tanh(softplus(a))."""

    fresh_grads = True
    saves = (0,)

    def forward(self, a: Array) -> Array:
        self.a, self.t = a, np.tanh(np.logaddexp(0, a))
        return a * self.t

    def backward(self, g: Array) -> Array:
        a, t = self.a, self.t
        return g * (t + a * _sigmoid(a) * (1 - t * t))


tanh = _unary(Tanh, "tanh")
sigmoid = _unary(Sigmoid, "sigmoid")
silu = _unary(SiLU, "silu")
hardswish = _unary(Hardswish, "hardswish")
mish = _unary(Mish, "mish")


def _numeric(x: Tensor, where: str) -> Tensor:
    """x, if it holds numbers rather than truth values."""
    if x.dtype.kind == "b":
        raise DTypeError(
            f"{where}: cannot take a bool tensor; expected a float or integer "
            "tensor (convert with .float())"
        )
    return x


def relu(input: Tensor) -> Tensor:
    """z = max(a, 0);  dz/da = [a > 0] (fused.ReLU on the kernels).

    Examples:
        >>> tg.relu(tg.tensor([-1.0, 0.0, 2.0])).tolist()
        [0.0, 0.0, 2.0]
    """
    return fused.ReLU.apply(_numeric(_tensor_arg(input, "relu"), "relu"))


def relu6(input: Tensor) -> Tensor:
    """z = min(max(a, 0), 6);  dz/da = 1 for 0 < a < 6, else 0."""
    return ReLU6.apply(_numeric(_tensor_arg(input, "relu6"), "relu6"))


def leaky_relu(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """z = a if a > 0 else αa;  dz/da = 1 if a > 0 else α (fused.LeakyReLU)."""
    x = _floating(_tensor_arg(input, "leaky_relu"))
    return fused.LeakyReLU.apply(
        x, negative_slope=_real(negative_slope, "leaky_relu", "negative_slope")
    )


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """GELU a Φ(a) with the exact erf (approximate='none') or PyTorch's tanh formula
    (approximate='tanh')."""
    x = _floating(_tensor_arg(input, "gelu"))
    if approximate == "none":
        return GELU.apply(x)
    if approximate == "tanh":
        return GELUTanh.apply(x)
    raise ConfigError(f"gelu: approximate must be 'none' or 'tanh', got {shown(approximate)}")


def elu(input: Tensor, alpha: float = 1.0) -> Tensor:
    """ELU: a for a > 0, α(eᵃ - 1) otherwise."""
    return ELU.apply(_floating(_tensor_arg(input, "elu")), alpha=_real(alpha, "elu", "alpha"))


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """ln(1 + e^(βa))/β, and a itself where βa > threshold (as PyTorch, for stability)."""
    x = _floating(_tensor_arg(input, "softplus"))
    if _real(beta, "softplus", "beta") == 0:
        raise ConfigError("softplus: beta must not be 0; expected e.g. beta=1")
    return Softplus.apply(x, beta=beta, threshold=_real(threshold, "softplus", "threshold"))


# ----- two inputs: pow, maximum, minimum, clamp, where -------------------------------------


class PowTensor(Function):
    """z = aᵇ;  dz/da = b aᵇ⁻¹ (0 where b = 0), dz/db = z ln a (0 where a = 0 and b ≥ 0)."""

    fresh_grads = True
    saves, saves_output = (0, 1), True
    expected = BROADCASTABLE

    def forward(self, a: Array, b: Array) -> Array:
        self.a, self.b = a, b
        self.out = np.power(a, b)
        return self.out

    def backward(self, g: Array) -> Grads:
        a, b = self.a, self.b
        da = db = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.needs_input_grad[0]:
                da = g * np.where(b == 0, 0, b * np.power(a, b - 1)).astype(g.dtype)
            if self.needs_input_grad[1]:
                db = g * np.where((a == 0) & (b >= 0), 0, self.out * np.log(a)).astype(g.dtype)
        return da, db


def _scalar_pow(x: Tensor, p: float) -> Tensor:
    """x ** p for a number p: ops.Pow, whose exponent is a float."""
    if not _is_number(p):
        raise DTypeError(f"pow: the exponent must be a number or a tensor, got {shown(p)}")
    if is_whole(p) and not -(2**63) <= p < 2**63:
        raise DTypeError(
            f"pow: the exponent {p} does not fit 64 bits; expected an integer "
            "exponent in the int64 range"
        )
    if not np.isfinite(p):
        raise ConfigError(f"pow: the exponent must be finite, got {p}")
    if x.dtype.kind != "f":
        if is_whole(p) and p >= 0:
            return Tensor(x.data ** int(p))  # integers stay integers, as in PyTorch
        if is_whole(p):
            raise DTypeError(
                f"pow: an integer tensor ({x.dtype}) to the negative power {p}; "
                "convert it first with .float()"
            )
        x = _floating(x)
    return ops.Pow.apply(x, exponent=float(p))


def pow(input: Operand, exponent: Operand) -> Tensor:
    """input ** exponent, for a number or tensor exponent, and number ** tensor."""
    if not isinstance(input, Tensor):
        exponent = _tensor_arg(exponent, "pow")
        return PowTensor.apply(_operand(_floating(exponent), input), _floating(exponent))
    if _is_number(exponent):
        return _scalar_pow(input, exponent)
    if not isinstance(exponent, (Tensor, np.ndarray)):
        raise DTypeError(f"pow: the exponent must be a number or a tensor, got {shown(exponent)}")
    exponent = _operand(input, exponent)
    if input.dtype.kind != "f" and exponent.dtype.kind != "f":
        if (exponent.data < 0).any():
            raise DTypeError(
                "pow: integer tensors to negative integer powers; convert the "
                "base first with .float()"
            )
        return _no_grad("pow", np.power, input, exponent)
    return PowTensor.apply(_floating(input), _floating(exponent))


def _rpow(self: Tensor, base: Operand) -> Tensor:
    return pow(base, self)


def _weights(a: Array, b: Array, dtype: np.dtype, bigger: bool) -> Array:
    """The share of the gradient maximum (bigger=True) or minimum sends to a: 1 where a
    is chosen, ½ at ties, 0 where b is (PyTorch's rule; NaN keeps the gradient)."""
    loses = (a < b) if bigger else (a > b)
    w = np.ones(np.broadcast(a, b).shape, dtype=dtype)
    w[np.broadcast_to(a == b, w.shape)] = 0.5
    w[np.broadcast_to(loses, w.shape)] = 0
    return w


class Maximum(Function):
    """z = max(a, b);  dz/da = 1 where a > b, ½ where a = b, 0 where a < b (dz/db alike)."""

    fresh_grads = True
    saves = (0, 1)
    expected = BROADCASTABLE

    def forward(self, a: Array, b: Array) -> Array:
        self.a, self.b = a, b
        return np.maximum(a, b)

    def backward(self, g: Array) -> Grads:
        return (
            g * _weights(self.a, self.b, g.dtype, True) if self.needs_input_grad[0] else None,
            g * _weights(self.b, self.a, g.dtype, True) if self.needs_input_grad[1] else None,
        )


class Minimum(Function):
    """z = min(a, b);  dz/da = 1 where a < b, ½ where a = b, 0 where a > b (dz/db alike)."""

    fresh_grads = True
    saves = (0, 1)
    expected = BROADCASTABLE

    def forward(self, a: Array, b: Array) -> Array:
        self.a, self.b = a, b
        return np.minimum(a, b)

    def backward(self, g: Array) -> Grads:
        return (
            g * _weights(self.a, self.b, g.dtype, False) if self.needs_input_grad[0] else None,
            g * _weights(self.b, self.a, g.dtype, False) if self.needs_input_grad[1] else None,
        )


def _pair(input: Operand, other: Operand, where: str) -> tuple[Tensor, Tensor]:
    """Both operands as tensors; at least one must be a Tensor already."""
    if isinstance(input, Tensor):
        return input, _operand(input, other)
    if isinstance(other, Tensor):
        return _operand(other, input), other
    raise DTypeError(
        f"{where}: expected a Tensor among the operands, got "
        f"{type(input).__name__} and {type(other).__name__}"
    )


def _promoted(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """a and b in PyTorch's result dtype when their kinds differ (bool < integer < float):
    the lower one takes the other's dtype, so an int64 tensor with a float32 one (or with a
    float number, see _operand) gives float32 where NumPy would give float64. The converted
    operand is never a float, so it carries no gradient to lose."""
    rank_a, rank_b = _KIND_RANK[a.dtype.kind], _KIND_RANK[b.dtype.kind]
    if rank_a < rank_b:
        a = Tensor(a.data.astype(b.dtype))
    elif rank_b < rank_a:
        b = Tensor(b.data.astype(a.dtype))
    return a, b


def maximum(input: Operand, other: Operand) -> Tensor:
    """The element-wise maximum of two tensors (or a tensor and a number)."""
    return Maximum.apply(*_pair(input, other, "maximum"))


def minimum(input: Operand, other: Operand) -> Tensor:
    """The element-wise minimum of two tensors (or a tensor and a number)."""
    return Minimum.apply(*_pair(input, other, "minimum"))


class Clamp(Function):
    """z = min(max(a, lo), hi);  dz/da = [lo ≤ a ≤ hi], dz/dlo = [a < lo < hi], dz/dhi = [a > hi]
    (or 1 where hi < lo): PyTorch's choices at the bounds and for lo > hi."""

    fresh_grads = True
    expected = BROADCASTABLE

    def forward(
        self, a: Array, *bounds: Array, has_min: bool = True, has_max: bool = True
    ) -> Array:
        self.a, self.saves = a, tuple(range(1 + len(bounds)))  # the input and its bounds
        self.lo = bounds[0] if has_min else None
        self.hi = bounds[-1] if has_max else None
        out = a if self.lo is None else np.maximum(a, self.lo)
        return out if self.hi is None else np.minimum(out, self.hi)

    def backward(self, g: Array) -> Grads:
        a, lo, hi = self.a, self.lo, self.hi
        above_lo = True if lo is None else a >= lo
        below_hi = True if hi is None else a <= hi
        grads = [g * (above_lo & below_hi)]
        if lo is not None:
            grads.append(g * ((a < lo) & (True if hi is None else lo < hi)))
        if hi is not None:
            grads.append(g * ((a > hi) | (False if lo is None else hi < lo)))
        return tuple(grads)


def clamp(input: Tensor, min: Operand | None = None, max: Operand | None = None) -> Tensor:
    """input limited to [min, max] (numbers or tensors; either may be None, not both)."""
    x = _tensor_arg(input, "clamp")
    if min is None and max is None:
        raise ConfigError("clamp: min and max are both None; expected at least one bound")
    for name, bound in (("min", min), ("max", max)):
        if (
            bound is not None
            and not isinstance(bound, (Tensor, np.ndarray))
            and not _is_number(bound)
        ):
            raise DTypeError(f"clamp: {name} must be a number or a tensor, got {shown(bound)}")
    bounds = [_operand(x, b) for b in (min, max) if b is not None]
    return Clamp.apply(x, *bounds, has_min=min is not None, has_max=max is not None)


clip = clamp


class Where(Function):
    """z = a where condition else b;  dz/da = [condition], dz/db = [not condition]."""

    fresh_grads = True
    expected = "a bool condition and values whose shapes broadcast with it"

    def forward(self, a: Array, b: Array, condition: Array) -> Array:
        self.condition = condition
        return np.where(condition, a, b)

    def backward(self, g: Array) -> Grads:
        zero = np.zeros((), dtype=g.dtype)
        return (
            np.where(self.condition, g, zero) if self.needs_input_grad[0] else None,
            np.where(self.condition, zero, g) if self.needs_input_grad[1] else None,
        )


def where(condition: Operand, input: Operand, other: Operand) -> Tensor:
    """input where condition is True, else other; condition a bool tensor or array, input and
    other tensors or numbers."""
    cond = np.asarray(condition.data if isinstance(condition, Tensor) else condition)
    if cond.dtype != np.bool_:
        raise DTypeError(
            f"where: condition must be a bool tensor, got dtype {cond.dtype}; "
            "compare first, e.g. where(x > 0, x, 0)"
        )
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        if _is_number(input) and _is_number(other):
            dtype = _number_dtype(input, other)
            input, other = Tensor(input, dtype=dtype), Tensor(other, dtype=dtype)
        elif _is_number(input):
            other = Tensor(other)
        else:
            input = Tensor(input)
    input, other = _pair(input, other, "where")
    return Where.apply(input, other, condition=cond)


def _where_method(self: Tensor, condition: Operand, other: Operand) -> Tensor:
    """t.where(condition, other) is where(condition, t, other)."""
    return where(condition, self, other)


# ----- arithmetic under PyTorch's names ------------------------------------------------------


def add(input: Operand, other: Operand, *, alpha: float = 1) -> Tensor:
    """input + alpha·other, in PyTorch's result dtype (`_promoted`)."""
    a, b = _pair(input, other, "add")
    if alpha != 1:
        b = mul(b, _real(alpha, "add", "alpha"))
    return ops.Add.apply(*_promoted(a, b))


def sub(input: Operand, other: Operand, *, alpha: float = 1) -> Tensor:
    """input - alpha·other, in PyTorch's result dtype."""
    a, b = _pair(input, other, "sub")
    if alpha != 1:
        b = mul(b, _real(alpha, "sub", "alpha"))
    return ops.Sub.apply(*_promoted(a, b))


def mul(input: Operand, other: Operand) -> Tensor:
    """input · other, in PyTorch's result dtype."""
    return ops.Mul.apply(*_promoted(*_pair(input, other, "mul")))


def div(input: Operand, other: Operand) -> Tensor:
    """input / other: true division, so integers give the default float dtype (PyTorch's)."""
    a, b = _promoted(*_pair(input, other, "div"))
    if a.dtype.kind != "f":
        a, b = _floating(a), _floating(b)
    return ops.Div.apply(a, b)


def _reflected(function: Callable[[Operand, Tensor], Tensor]) -> BinaryOp:
    """`number <op> tensor`: function(number, tensor)."""

    def reflected(self: Tensor, other: Operand) -> Tensor:
        return function(other, self)

    return reflected


def neg(input: Tensor) -> Tensor:
    """-input."""
    return ops.Neg.apply(_tensor_arg(input, "neg"))


# ----- comparisons and logic: bool tensors, no gradient ---------------------------------------


def _no_grad(name: str, fn: Callable[..., Any], *tensors: Tensor) -> Tensor:
    """fn on the arrays as a new tensor outside the graph; NumPy's broadcasting error as a
    ShapeError."""
    arrays = [t.data for t in tensors]
    try:
        return Tensor(np.asarray(fn(*arrays)))
    except ValueError:
        shapes = " and ".join(str(a.shape) for a in arrays)
        raise ShapeError(
            f"{name}: cannot broadcast shapes {shapes}; expected {BROADCASTABLE}"
        ) from None


def _comparison(ufunc: np.ufunc, name: str, symbol: str) -> BinaryOp:
    def compare(input: Tensor, other: Operand) -> Tensor:
        x = _tensor_arg(input, name)
        return _no_grad(name, ufunc, x, _operand(x, other))

    compare.__name__ = compare.__qualname__ = name
    compare.__doc__ = f"input {symbol} other, element-wise, as a bool tensor (no gradient)."
    return compare


eq = _comparison(np.equal, "eq", "==")
ne = _comparison(np.not_equal, "ne", "!=")
lt = _comparison(np.less, "lt", "<")
le = _comparison(np.less_equal, "le", "<=")
gt = _comparison(np.greater, "gt", ">")
ge = _comparison(np.greater_equal, "ge", ">=")


def _equality_operator(compare: BinaryOp) -> Callable[[Tensor, object], Tensor]:
    """`t == x`, `t != x`: NotImplemented for what is not a number, array or tensor, so
    `t == None` is False as in Python (and as in PyTorch). The orderings (`t < None`) are
    the functions themselves, which raise DTypeError."""

    def operator(self: Tensor, other: object) -> Tensor:
        if not isinstance(other, (Tensor, np.ndarray, list, tuple)) and not _is_number(other):
            return NotImplemented
        return compare(self, other)

    return operator


def _logical(ufunc: np.ufunc, name: str) -> BinaryOp:
    def logical(input: Tensor, other: Operand) -> Tensor:
        x = _tensor_arg(input, name)
        return _no_grad(name, ufunc, x, _operand(x, other))

    logical.__name__ = logical.__qualname__ = name
    logical.__doc__ = f"{name.split('_')[1]} of the truth values (non-zero is True): a bool tensor."
    return logical


logical_and = _logical(np.logical_and, "logical_and")
logical_or = _logical(np.logical_or, "logical_or")
logical_xor = _logical(np.logical_xor, "logical_xor")


def logical_not(input: Tensor) -> Tensor:
    """not of the truth values (non-zero is True): a bool tensor."""
    return _no_grad("logical_not", np.logical_not, _tensor_arg(input, "logical_not"))


def _check_bitwise(t: Tensor, name: str) -> Tensor:
    if t.dtype.kind not in "biu":
        raise DTypeError(
            f"{name}: needs bool or integer tensors, got dtype {t.dtype}; compare "
            "first (e.g. (x > 0) & (y > 0)) or use logical_and/or/xor/not"
        )
    return t


def _bitwise(ufunc: np.ufunc, name: str, symbol: str) -> BinaryOp:
    def bitwise(input: Tensor, other: Operand) -> Tensor:
        x = _check_bitwise(_tensor_arg(input, name), name)
        return _no_grad(name, ufunc, x, _check_bitwise(_operand(x, other), name))

    bitwise.__name__ = bitwise.__qualname__ = name
    bitwise.__doc__ = f"input {symbol} other: logic on bool tensors, bits on integer ones."
    return bitwise


bitwise_and = _bitwise(np.bitwise_and, "bitwise_and", "&")
bitwise_or = _bitwise(np.bitwise_or, "bitwise_or", "|")
bitwise_xor = _bitwise(np.bitwise_xor, "bitwise_xor", "^")


def bitwise_not(input: Tensor) -> Tensor:
    """~input: not on a bool tensor, the bits flipped on an integer one."""
    x = _check_bitwise(_tensor_arg(input, "bitwise_not"), "bitwise_not")
    return _no_grad("bitwise_not", np.invert, x)


def _truth(self: Tensor) -> bool:
    """bool(t) for a one-element tensor, so `if t == u:` works; more elements are ambiguous."""
    if self.size != 1:
        raise ShapeError(
            f"the truth value of a tensor with {self.size} elements is ambiguous; "
            "expected one element (reduce first, e.g. (a == b).all())"
        )
    return bool(self.data.item())


# ----- Tensor methods ---------------------------------------------------------------------

for _function in (
    abs,
    sign,
    sqrt,
    rsqrt,
    exp,
    log,
    log1p,
    expm1,
    sin,
    cos,
    tanh,
    sigmoid,
    relu,
    leaky_relu,
    gelu,
    silu,
    elu,
    softplus,
    relu6,
    hardswish,
    mish,
    reciprocal,
    clamp,
    maximum,
    minimum,
    pow,
    add,
    sub,
    mul,
    div,
    neg,
    eq,
    ne,
    lt,
    le,
    gt,
    ge,
    logical_and,
    logical_or,
    logical_xor,
    logical_not,
    bitwise_and,
    bitwise_or,
    bitwise_xor,
    bitwise_not,
):
    setattr(Tensor, _function.__name__, _function)
_methods = {  # by setattr, as each is a function of this module (mypy cannot see assignments)
    "clip": clip,
    "where": _where_method,
    "__abs__": abs,
    "__neg__": neg,
    "__add__": add,
    "__radd__": _reflected(add),
    "__sub__": sub,
    "__rsub__": _reflected(sub),
    "__mul__": mul,
    "__rmul__": _reflected(mul),
    "__truediv__": div,
    "__rtruediv__": _reflected(div),
    "__pow__": pow,
    "__rpow__": _rpow,
    "__eq__": _equality_operator(eq),
    "__ne__": _equality_operator(ne),
    "__lt__": lt,
    "__le__": le,
    "__gt__": gt,
    "__ge__": ge,
    "__hash__": object.__hash__,  # tensors stay usable as set members and dict keys
    "__bool__": _truth,
    "__and__": bitwise_and,
    "__rand__": bitwise_and,
    "__or__": bitwise_or,
    "__ror__": bitwise_or,
    "__xor__": bitwise_xor,
    "__rxor__": bitwise_xor,
    "__invert__": bitwise_not,
}
for _name, _method in _methods.items():
    setattr(Tensor, _name, _method)
del _function, _name, _method, _methods
