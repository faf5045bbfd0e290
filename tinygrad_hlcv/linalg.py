"""Matrix products: `a @ b` (matmul) for 1-D, 2-D and batched operands with broadcasting,
as NumPy and PyTorch define it, and the stricter mm (2-D), bmm (3-D, same batch) and dot
(1-D). The products are np.matmul: BLAS GEMMs.
"""

import numpy as np
import numpy.typing as npt

from .engine import Function, Tensor
from .errors import DTypeError, ShapeError
from .movement import _sum_to

__all__ = ["matmul", "mm", "bmm", "dot"]

Shape = tuple[int, ...]
Operand = Tensor | npt.ArrayLike
"""A Tensor, or a number or array to be wrapped as one."""


class MatMul(Function):
    """Z = A B over the last two dims, the batch dims broadcast;  dA = G Bᵀ, dB = Aᵀ G,
    each summed over the batch dims its operand was broadcast along. A 1-D A is a row
    (1, k) and a 1-D B a column (k, 1), and that dim is dropped from Z, as in NumPy."""

    saves = (0, 1)

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.a_shape, self.b_shape = a.shape, b.shape
        self.a = a[None, :] if a.ndim == 1 else a
        self.b = b[:, None] if b.ndim == 1 else b
        return np.matmul(self.a, self.b).reshape(_product_shape(a.shape, b.shape))

    def backward(self, g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        g = g.reshape(
            np.broadcast_shapes(self.a.shape[:-2], self.b.shape[:-2])
            + (self.a.shape[-2], self.b.shape[-1])
        )
        da = db = None
        if self.needs_input_grad[0]:
            da = _sum_to(np.matmul(g, np.swapaxes(self.b, -1, -2)), self.a.shape)
            da = da.reshape(self.a_shape)
        if self.needs_input_grad[1]:
            db = _sum_to(np.matmul(np.swapaxes(self.a, -1, -2), g), self.b.shape)
            db = db.reshape(self.b_shape)
        return da, db


def _product_shape(a: Shape, b: Shape) -> Shape:
    """The shape of a @ b for operand shapes a and b (checked by _check)."""
    batch = np.broadcast_shapes(a[:-2], b[:-2])
    return batch + a[-2:-1] + b[-1:] if len(b) > 1 else batch + a[-2:-1]


def _check(what: str, a: Tensor, b: Tensor, expected: str) -> None:
    """A ShapeError naming both shapes unless a @ b is defined."""
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(
            f"{what}: cannot multiply shapes {a.shape} and {b.shape}; expected "
            f"operands with at least one dim ({expected}; * multiplies by a "
            "scalar)"
        )
    k_a, k_b = a.shape[-1], b.shape[-2 if b.ndim > 1 else 0]
    if k_a != k_b:
        raise ShapeError(
            f"{what}: cannot multiply shapes {a.shape} and {b.shape}; expected "
            f"{expected} with the same k, got k = {k_a} and {k_b}"
        )
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ShapeError(
            f"{what}: cannot multiply shapes {a.shape} and {b.shape}; expected "
            f"batch dims that broadcast, got {a.shape[:-2]} and "
            f"{b.shape[:-2]}"
        ) from None
    if a.dtype == np.bool_ or b.dtype == np.bool_:
        raise DTypeError(
            f"{what}: cannot multiply dtypes {a.dtype} and {b.dtype}; expected "
            "numeric dtypes (convert bool tensors first)"
        )


def matmul(a: Operand, b: Operand) -> Tensor:
    """a @ b: 1-D · 1-D is a dot product, 2-D @ 2-D a matrix product, and N-D operands
    are stacks of matrices in the last two dims whose batch dims broadcast.

    For Z = A B the gradients are dA = G Bᵀ and dB = Aᵀ G (G = ∂L/∂Z).

    Examples:
        >>> a, b = tg.ones(2, 3), tg.ones(3, 4)
        >>> (a @ b).shape, tg.matmul(a, b)[0, 0].item()
        ((2, 4), 3.0)"""
    a, b = _operands(a, b)
    _check("matmul", a, b, "(..., n, k) @ (..., k, m)")
    return MatMul.apply(a, b)


def mm(a: Operand, b: Operand) -> Tensor:
    """The product of two matrices (2-D only: no broadcasting)."""
    a, b = _operands(a, b)
    if a.ndim != 2 or b.ndim != 2:
        raise ShapeError(
            f"mm: shapes {a.shape} and {b.shape}; expected two matrices "
            "(n, k) @ (k, m) (matmul takes other shapes)"
        )
    _check("mm", a, b, "(n, k) @ (k, m)")
    return MatMul.apply(a, b)


def bmm(a: Operand, b: Operand) -> Tensor:
    """Batched products of matrices: (b, n, k) @ (b, k, m), the same batch size b."""
    a, b = _operands(a, b)
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0]:
        raise ShapeError(
            f"bmm: shapes {a.shape} and {b.shape}; expected (b, n, k) @ "
            "(b, k, m) with the same b (matmul broadcasts)"
        )
    _check("bmm", a, b, "(b, n, k) @ (b, k, m)")
    return MatMul.apply(a, b)


def dot(a: Operand, b: Operand) -> Tensor:
    """The dot product of two 1-D tensors of one length: a 0-d tensor."""
    a, b = _operands(a, b)
    if a.ndim != 1 or b.ndim != 1:
        raise ShapeError(
            f"dot: shapes {a.shape} and {b.shape}; expected two 1-D tensors "
            "(matmul takes other shapes)"
        )
    _check("dot", a, b, "(k,) · (k,)")
    return MatMul.apply(a, b)


def _operands(a: Operand, b: Operand) -> tuple[Tensor, Tensor]:
    """Both operands as tensors (a number or an array operand is wrapped as in a + b)."""
    if isinstance(a, Tensor):
        return a, a._operand(b)
    if isinstance(b, Tensor):
        return b._operand(a), b
    return Tensor(a), Tensor(b)


def _rmatmul(b: Tensor, a: Operand) -> Tensor:
    return matmul(b._operand(a), b)


for _name in __all__:
    setattr(Tensor, _name, globals()[_name])
for _name, _method in (("__matmul__", matmul), ("__rmatmul__", _rmatmul)):
    setattr(Tensor, _name, _method)
del _name, _method
