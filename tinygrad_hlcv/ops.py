"""Primitive ops: each a forward and the chain rule for its backward, side by side.

`backward(g)` receives dL/d(output) and returns dL/d(input) for each input, in
the output's broadcast shape; `Tensor.backward` reduces it to the input's shape.
Backward passes never write into `g`: one gradient array may be handed to several inputs.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from .engine import Function

Array = npt.NDArray[Any]
Grads = tuple[Array | None, ...]  # one gradient per input, None where none is needed
Axis = int | tuple[int, ...] | None

BROADCASTABLE = (
    "shapes that broadcast (NumPy broadcasting: in each trailing axis equal "
    "sizes, or a size of 1) and numeric dtypes"
)


class Add(Function):
    """z = a + b;  dz/da = dz/db = 1."""

    expected = BROADCASTABLE

    def forward(self, a: Array, b: Array) -> Array:
        return a + b

    def backward(self, g: Array) -> Grads:
        return g, g


class Sub(Function):
    """z = a - b;  dz/da = 1, dz/db = -1."""

    expected = BROADCASTABLE

    def forward(self, a: Array, b: Array) -> Array:
        return a - b

    def backward(self, g: Array) -> Grads:
        return g, (-g if self.needs_input_grad[1] else None)


class Mul(Function):
    """z = a b;  dz/da = b, dz/db = a."""

    expected = BROADCASTABLE
    saves = (0, 1)

    def forward(self, a: Array, b: Array) -> Array:
        self.a, self.b = a, b
        return a * b

    def backward(self, g: Array) -> Grads:
        return (
            g * self.b if self.needs_input_grad[0] else None,
            g * self.a if self.needs_input_grad[1] else None,
        )


class Div(Function):
    """z = a / b;  dz/da = 1/b, dz/db = -a/b²."""

    expected = BROADCASTABLE
    saves = (0, 1)

    def forward(self, a: Array, b: Array) -> Array:
        self.a, self.b = a, b
        return a / b

    def backward(self, g: Array) -> Grads:
        ga = g / self.b
        return (
            ga if self.needs_input_grad[0] else None,
            -ga * self.a / self.b if self.needs_input_grad[1] else None,
        )


class Neg(Function):
    """z = -a."""

    def forward(self, a: Array) -> Array:
        return np.negative(a)

    def backward(self, g: Array) -> Array:
        return -g


class Pow(Function):
    """z = a^p for a constant p;  dz/da = p a^(p-1), and 0 for p = 0 (also at a = 0,
    where p a^(p-1) would be 0·∞ = NaN), as in PyTorch."""

    saves = (0,)

    def forward(self, a: Array, exponent: float) -> Array:
        self.a, self.p = a, exponent
        return a**exponent

    def backward(self, g: Array) -> Array:
        if self.p == 0:
            return np.zeros_like(g)
        return g * (self.p * self.a ** (self.p - 1))


class Exp(Function):
    """z = e^a;  dz/da = z."""

    saves_output = True

    def forward(self, a: Array) -> Array:
        self.out = np.exp(a)
        return self.out

    def backward(self, g: Array) -> Array:
        return g * self.out


class Log(Function):
    """z = ln a;  dz/da = 1/a."""

    saves = (0,)

    def forward(self, a: Array) -> Array:
        self.a = a
        return np.log(a)

    def backward(self, g: Array) -> Array:
        return g / self.a


def _restore_reduced_axes(g: Array, shape: tuple[int, ...], axis: Axis, keepdims: bool) -> Array:
    """Give a reduction's gradient back the axes the reduction removed."""
    if axis is not None and not keepdims:
        g = np.expand_dims(g, tuple(np.atleast_1d(axis)))
    elif axis is None and not keepdims:
        g = np.reshape(g, (1,) * len(shape))
    return g


class Sum(Function):
    """z = Σ a over `axis`;  dz/da = 1 everywhere."""

    def forward(self, a: Array, axis: Axis = None, keepdims: bool = False) -> Array:
        self.shape, self.axis, self.keepdims = a.shape, axis, keepdims
        return np.asarray(a.sum(axis=axis, keepdims=keepdims))

    def backward(self, g: Array) -> Array:
        g = _restore_reduced_axes(g, self.shape, self.axis, self.keepdims)
        return np.broadcast_to(g, self.shape)


class Reshape(Function):
    """z = a with a new shape; backward reshapes the gradient back."""

    expected = "sizes whose product is the number of elements (one of them may be -1)"

    def forward(self, a: Array, shape: int | Sequence[int]) -> Array:
        self.shape = a.shape
        return a.reshape(shape)

    def backward(self, g: Array) -> Array:
        return g.reshape(self.shape)


class Transpose(Function):
    """Permute axes (reverse them when `axes` is None); backward applies the inverse."""

    def forward(self, a: Array, axes: Sequence[int] | None = None) -> Array:
        self.axes = axes
        return np.transpose(a, axes)

    def backward(self, g: Array) -> Array:
        return np.transpose(
            g, None if self.axes is None else np.argsort(np.asarray(self.axes) % g.ndim)
        )  # axes may be < 0
