"""Primitive ops: each a forward and the chain rule for its backward, side by side.

`backward(g)` receives dL/d(output) and returns dL/d(input) for each input, in
the output's broadcast shape; `Tensor.backward` reduces it to the input's shape.
Backward passes never write into `g`: one gradient array may be handed to several inputs.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from .engine import Function, Tensor
from .errors import ShapeError

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


class MatMul(Function):
    """Z = A B for 2-D A (n×k), B (k×m);  dA = G Bᵀ, dB = Aᵀ G."""

    expected = "2-D (n, k) @ (k, m)"
    saves = (0, 1)

    def forward(self, a: Array, b: Array) -> Array:
        self.a, self.b = a, b
        return a @ b

    def backward(self, g: Array) -> Grads:
        return (
            g @ self.b.T if self.needs_input_grad[0] else None,
            self.a.T @ g if self.needs_input_grad[1] else None,
        )


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


class Max(Function):
    """z = max a over `axis`; the gradient goes to the maximal entries, split evenly
    between ties (as `torch.amax`). A slice holding NaN has the maximum NaN, and its
    gradient goes to the NaN entries, as `torch.max()` does (torch.amax gives NaN to every
    entry of the slice instead)."""

    expected = "a non-empty tensor"

    def forward(self, a: Array, axis: Axis = None, keepdims: bool = False) -> Array:
        self.axis, self.keepdims = axis, keepdims
        out = np.asarray(a.max(axis=axis, keepdims=keepdims))
        top = out if keepdims else _restore_reduced_axes(out, a.shape, axis, keepdims)
        self.is_max = a == top
        if a.dtype.kind == "f":  # NaN != NaN; a slice with a NaN has no other maximum
            self.is_max |= np.isnan(a)
        return out

    def backward(self, g: Array) -> Array:
        g = _restore_reduced_axes(g, self.is_max.shape, self.axis, self.keepdims)
        ties = self.is_max.sum(axis=self.axis, keepdims=True)
        return self.is_max * (g / ties)


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


class GetItem(Function):
    """z = a[index] for slices and integer arrays; the gradient is scattered back,
    adding where an integer index repeats an entry."""

    expected = "indices that fit the shape (integers, slices, None, ..., integer or bool arrays)"

    def forward(self, a: Array, index: Any) -> Array:
        self.shape, self.dtype = a.shape, a.dtype
        self.index = _plain_index(index)
        return np.asarray(a[self.index])

    def backward(self, g: Array) -> Array:
        full = np.zeros(self.shape, dtype=g.dtype)
        np.add.at(full, self.index, g)
        return full


def _plain_index(index: Any) -> Any:
    """Replace Tensors inside an index by their arrays."""
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index.data if isinstance(index, Tensor) else index


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """a @ b for 2-D tensors, after checking that the shapes fit."""
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ShapeError(
            f"matmul: cannot multiply shapes {a.shape} and {b.shape}; expected 2-D (n, k) @ (k, m)"
        )
    return MatMul.apply(a, b)
