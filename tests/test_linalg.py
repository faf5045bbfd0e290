"""Matrix products (tinygrad_hlcv/linalg.py): @/matmul for 1-D, 2-D and batched operands with
broadcasting, mm, bmm and dot; float64 gradients against central differences, the errors for
shapes that do not fit, and parity with NumPy and PyTorch."""

import numpy as np
import pytest

import tinygrad_hlcv as tg
from tinygrad_hlcv import Tensor
from tinygrad_hlcv.errors import DTypeError, ShapeError
from tinygrad_hlcv.testing import assert_grads_match

rng = np.random.default_rng(0)


def randn(*shape):
    return rng.standard_normal(shape)


MATMUL_SHAPES = [
    ((3,), (3,)),  # dot product: 0-d
    ((3,), (3, 2)),  # vector @ matrix
    ((2, 3), (3,)),  # matrix @ vector
    ((2, 3), (3, 4)),
    ((1, 1), (1, 1)),
    ((4, 2, 3), (3, 5)),  # a batch of matrices @ one matrix
    ((3,), (4, 3, 2)),  # a vector @ a batch
    ((4, 2, 3), (3,)),
    ((2, 1, 2, 3), (4, 3, 2)),  # batch dims broadcast both ways
    ((1, 2, 3), (5, 3, 1)),
    ((0, 3), (3, 2)),  # empty rows
    ((2, 0), (0, 3)),  # empty inner dim: zeros
    ((0,), (0,)),
]


@pytest.mark.parametrize("sa, sb", MATMUL_SHAPES)
def test_matmul_values_and_grads(sa, sb):
    a, b = randn(*sa), randn(*sb)
    out = Tensor(a) @ Tensor(b)
    expected = np.matmul(a, b)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.data, expected, rtol=1e-13, atol=1e-14)
    assert_grads_match(lambda x, y: x @ y, [a, b])
    assert_grads_match(lambda x, y: tg.matmul(x, y), [a, b])


def test_matmul_with_ndarray_and_number_operands():
    a, b = randn(2, 3), randn(3, 2)
    assert_grads_match(lambda y: a @ y, [b])  # ndarray @ Tensor
    assert_grads_match(lambda x: x @ b, [a])
    assert_grads_match(lambda x: x.matmul(b), [a])
    with pytest.raises(ShapeError, match="at least one dim"):
        Tensor(a) @ 2.0


def test_batched_gradient_sums_over_the_broadcast_batch():
    w = Tensor(randn(3, 2), requires_grad=True)
    x = randn(5, 4, 3)
    (Tensor(x) @ w).sum().backward()
    np.testing.assert_allclose(w.grad, x.sum(axis=(0, 1))[:, None] * np.ones((1, 2)))


@pytest.mark.parametrize(
    "op, sa, sb",
    [
        ("mm", (2, 3), (3, 4)),
        ("mm", (0, 2), (2, 0)),
        ("bmm", (2, 3, 4), (2, 4, 1)),
        ("dot", (4,), (4,)),
        ("dot", (1,), (1,)),
    ],
)
def test_mm_bmm_dot(op, sa, sb):
    a, b = randn(*sa), randn(*sb)
    np.testing.assert_allclose(getattr(Tensor(a), op)(Tensor(b)).data, np.matmul(a, b), rtol=1e-13)
    assert_grads_match(lambda x, y: getattr(tg, op)(x, y), [a, b])


def test_mismatched_inner_dims_name_both_shapes_and_k():
    with pytest.raises(ShapeError) as info:
        Tensor(np.zeros((2, 3))) @ Tensor(np.zeros((4, 5)))
    assert str(info.value) == (
        "matmul: cannot multiply shapes (2, 3) and (4, 5); expected "
        "(..., n, k) @ (..., k, m) with the same k, got k = 3 and 4"
    )


@pytest.mark.parametrize(
    "op, sa, sb, match",
    [
        ("matmul", (3,), (2, 2), "k = 3 and 2"),
        ("matmul", (2, 3), (2,), "k = 3 and 2"),
        ("matmul", (2, 2, 3), (3, 3, 2), r"batch dims that broadcast, got \(2,\) and \(3,\)"),
        ("matmul", (), (3,), "at least one dim"),
        ("mm", (2, 3), (3,), "two matrices"),
        ("mm", (1, 2, 3), (3, 2), "two matrices"),
        ("bmm", (2, 2, 3), (1, 3, 2), "same b"),
        ("bmm", (2, 3), (3, 2), "same b"),
        ("dot", (2, 3), (3,), "two 1-D"),
        ("dot", (3,), (4,), "k = 3 and 4"),
    ],
)
def test_shape_errors(op, sa, sb, match):
    with pytest.raises(ShapeError, match=match) as info:
        getattr(tg, op)(Tensor(np.ones(sa)), Tensor(np.ones(sb)))
    assert str(sa) in str(info.value) and str(sb) in str(info.value)


def test_bool_operands_are_refused():
    with pytest.raises(DTypeError, match="numeric"):
        Tensor(np.ones((2, 2), bool)) @ Tensor(np.ones((2, 2), bool))


def test_integer_matmul_keeps_integers():
    out = Tensor(np.array([[1, 2]])) @ Tensor(np.array([[3], [4]]))
    assert out.dtype.kind == "i" and out.item() == 11


@pytest.mark.parametrize(
    "sa, sb", [((3,), (3,)), ((2, 3), (3,)), ((4, 2, 3), (3, 5)), ((2, 1, 2, 3), (4, 3, 2))]
)
def test_matches_torch(sa, sb):
    torch = pytest.importorskip("torch")
    a, b = randn(*sa), randn(*sb)
    x, y = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    s, t = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    out, expected = x @ y, s @ t
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12)
    weights = rng.uniform(0.5, 1.5, out.shape)
    (out * Tensor(weights)).sum().backward()
    (expected * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(x.grad, s.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(y.grad, t.grad.numpy(), rtol=1e-12)
