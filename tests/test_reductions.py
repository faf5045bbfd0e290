"""Reductions (tinygrad_hlcv/reductions.py): float64 gradients against central differences on
0-d, size-1, empty and ordinary shapes; both argument spellings; the cases PyTorch defines
(max with indices, ties, zeros in prod, var's correction, stable softmax); and parity with
PyTorch on a representative set."""

import warnings

import numpy as np
import pytest

import tinygrad_hlcv as tg
from tinygrad_hlcv import Tensor
from tinygrad_hlcv.errors import ConfigError, DTypeError, ShapeError
from tinygrad_hlcv.testing import assert_grads_match

rng = np.random.default_rng(0)


def randn(*shape):
    return rng.standard_normal(shape)


def distinct(*shape):
    """Entries at least 0.05 apart: no ties, and none within a stencil's reach."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.05 - n * 0.025).reshape(shape)


# ----- gradients -------------------------------------------------------------------------

SHAPES_AND_DIMS = [
    ((), None),
    ((), 0),
    ((1,), 0),
    ((4,), None),
    ((3, 1), 1),
    ((2, 3), 0),
    ((2, 3), -1),
    ((2, 3, 4), (0, 2)),
    ((2, 3, 4), None),
]


@pytest.mark.parametrize("shape, dim", SHAPES_AND_DIMS)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("name", ["sum", "mean", "prod", "amax", "amin", "logsumexp", "norm"])
def test_reduction_grads(name, shape, dim, keepdim):
    x = distinct(*shape) + (0.6 if name == "norm" else 0.0)
    assert_grads_match(lambda t: getattr(t, name)(dim=dim, keepdim=keepdim), [x])


@pytest.mark.parametrize("shape, dim", [((3,), None), ((2, 3), 1), ((2, 3, 4), (0, 2))])
@pytest.mark.parametrize("name", ["var", "std"])
@pytest.mark.parametrize(
    "options", [{}, {"unbiased": False}, {"correction": 0}, {"correction": 2}, {"ddof": 1}]
)
def test_var_std_grads(name, shape, dim, options):
    assert_grads_match(lambda t: getattr(t, name)(dim, **options), [randn(*shape)])


@pytest.mark.parametrize("p", [1, 2, "fro", 3.0, 0.5, float("inf"), -float("inf"), 0])
@pytest.mark.parametrize("dim", [None, 1, (0, 1)])
def test_norm_grads(p, dim):
    assert_grads_match(lambda t: t.norm(p, dim), [distinct(2, 3) + 0.01])


@pytest.mark.parametrize("shape, dim", [((), 0), ((4,), 0), ((2, 3), 1), ((2, 3, 2), 0)])
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsoftmax", "cumsum"])
def test_along_one_dim_grads(name, shape, dim):
    assert_grads_match(lambda t: getattr(t, name)(dim), [randn(*shape)])


@pytest.mark.parametrize("shape, dim", [((), 0), ((1,), 0), ((5,), -1), ((2, 3), 1), ((3, 2), 0)])
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_with_dim_grads(name, shape, dim):
    assert_grads_match(lambda t: getattr(t, name)(dim).values, [distinct(*shape)])
    assert_grads_match(lambda t: getattr(t, name)(dim, keepdim=True)[0], [distinct(*shape)])


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_without_dim_grads(name):
    assert_grads_match(lambda t: getattr(t, name)(), [distinct(2, 3)])
    assert_grads_match(lambda t: getattr(tg, name)(t), [distinct()])


@pytest.mark.parametrize("name", ["sum", "prod", "cumsum", "logsumexp", "amax", "norm"])
def test_empty_axes(name):
    """A dim of size 0 that is not reduced gives an empty result and an empty gradient."""
    x = Tensor(np.zeros((0, 3)), requires_grad=True)
    out = getattr(x, name)(dim=1)
    assert out.shape == ((0, 3) if name == "cumsum" else (0,))
    out.sum().backward()
    assert x.grad.shape == (0, 3)


def test_sum_and_prod_over_an_empty_dim():
    x = Tensor(np.zeros((0, 3)), requires_grad=True)
    np.testing.assert_array_equal(x.sum(0).data, [0, 0, 0])
    np.testing.assert_array_equal(x.prod(0).data, [1, 1, 1])
    x.prod(0).sum().backward()
    assert x.grad.shape == (0, 3)


# ----- semantics PyTorch defines ----------------------------------------------------------------


def test_prod_gradient_is_exact_with_zeros():
    """Π_{j≠i} x_j, never Π/x_i: one zero gives the gradient only to that entry, two none."""
    x = Tensor(np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 5.0], [1.0, 2.0, 3.0]]), requires_grad=True)
    x.prod(1).sum().backward()
    np.testing.assert_array_equal(x.grad, [[6, 0, 0], [0, 0, 0], [6, 3, 2]])
    assert_grads_match(lambda t: t.prod(), [np.array([0.0, 1.5, -2.0])])


def test_max_with_dim_returns_values_and_indices():
    x = Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, -1.0]]), requires_grad=True)
    result = x.max(dim=1)
    values, indices = result
    assert result.values is values and result.indices is indices
    np.testing.assert_array_equal(values.data, [3, 2])
    np.testing.assert_array_equal(indices.data, [1, 0])  # the first of tied maxima
    assert indices.dtype == np.int64 and not indices.requires_grad
    values.sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 1, 0], [1, 0, 0]])  # to the index only
    low = tg.min(x, 0, keepdim=True)
    assert low.values.shape == (1, 3) and low.indices.data.tolist() == [[0, 1, 1]]


def test_max_result_cannot_be_used_as_a_tensor():
    """`x - x.max(1)` would otherwise stack values and indices: a silent wrong result."""
    x = Tensor(randn(2, 3))
    with pytest.raises(DTypeError, match="values, indices"):
        x - x.max(1, keepdim=True)
    with pytest.raises(DTypeError):
        np.asarray(x.min(axis=0))


def test_amax_and_max_without_dim_split_ties_evenly():
    x = Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]]), requires_grad=True)
    x.amax(1).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 0.5, 0.5], [0.5, 0, 0.5]])
    y = Tensor(np.array([2.0, 2.0, 2.0, 1.0]), requires_grad=True)
    y.max().backward()
    np.testing.assert_allclose(y.grad, [1 / 3, 1 / 3, 1 / 3, 0])
    z = Tensor(np.array([-1.0, 4.0, -1.0]), requires_grad=True)
    z.amin().backward()
    np.testing.assert_array_equal(z.grad, [0.5, 0, 0.5])


def test_argmax_argmin():
    x = Tensor(np.array([[1.0, 5.0, 5.0], [7.0, 0.0, 7.0]]))
    assert x.argmax().item() == 3 and x.argmax().shape == ()
    np.testing.assert_array_equal(x.argmax(dim=1).data, [1, 0])
    np.testing.assert_array_equal(tg.argmin(x, axis=0, keepdims=True).data, [[0, 1, 0]])
    assert Tensor(3.0).argmax(0).item() == 0
    with pytest.raises(ShapeError, match="non-empty"):
        Tensor(np.zeros((2, 0))).argmax(1)
    assert Tensor(np.zeros((0, 2))).argmax(1).shape == (0,)


def test_var_and_std_corrections():
    a = np.array([[1.0, 2.0, 4.0, 7.0], [0.0, 0.0, 1.0, 1.0]])
    x = Tensor(a)
    np.testing.assert_allclose(x.var().data, np.var(a, ddof=1))
    np.testing.assert_allclose(x.var(1, unbiased=False).data, np.var(a, axis=1))
    np.testing.assert_allclose(x.std(1, correction=2).data, np.std(a, axis=1, ddof=2))
    np.testing.assert_allclose(
        tg.std(x, axis=0, ddof=0, keepdims=True).data, np.std(a, axis=0, keepdims=True)
    )
    with pytest.raises(ShapeError, match="degrees of freedom"):
        Tensor([1.0]).var()
    with pytest.raises(ConfigError, match="only one"):
        x.var(unbiased=True, correction=1)


def test_std_of_a_constant_has_gradient_zero():
    x = Tensor(np.full(4, 2.0), requires_grad=True)
    x.std().backward()
    np.testing.assert_array_equal(x.grad, np.zeros(4))


def test_norm_values_and_gradient_at_zero():
    a = np.array([[3.0, -4.0], [0.0, 1.0]])
    x = Tensor(a, requires_grad=True)
    np.testing.assert_allclose(x.norm().data, np.linalg.norm(a))
    np.testing.assert_allclose(x.norm("fro").data, np.linalg.norm(a))
    np.testing.assert_allclose(x.norm(1, dim=1).data, [7, 1])
    np.testing.assert_allclose(x.norm(float("inf")).data, 4)
    np.testing.assert_allclose(x.norm(0).data, 3)
    zero = Tensor(np.zeros(3), requires_grad=True)
    zero.norm().backward()
    np.testing.assert_array_equal(zero.grad, np.zeros(3))  # a subgradient, not NaN
    with pytest.raises(ConfigError, match="expected 'fro'"):
        x.norm("nuc")


def test_softmax_and_logsumexp_are_stable():
    a = np.array([[1000.0, 1000.0, -1000.0], [-np.inf, 0.0, -np.inf]])
    x = Tensor(a)
    np.testing.assert_allclose(x.softmax(1).data, [[0.5, 0.5, 0], [0, 1, 0]])
    np.testing.assert_allclose(x.log_softmax(1).data[0, :2], np.log([0.5, 0.5]))
    np.testing.assert_allclose(x.logsumexp(1).data, [1000 + np.log(2), 0.0])
    assert tg.logsumexp(Tensor(np.full(2, -np.inf)), 0).item() == -np.inf
    assert np.isfinite(Tensor(np.array([1e4, 0.0])).softmax(0).data).all()


def test_softmax_default_dim_is_the_last():
    a = randn(2, 3)
    e = np.exp(a - a.max(1, keepdims=True))
    np.testing.assert_allclose(tg.softmax(Tensor(a)).data, e / e.sum(1, keepdims=True))


def test_all_any():
    x = Tensor(np.array([[1, 0, 2], [3, 4, 5]]))
    assert x.all().item() is False and x.any().item() is True
    np.testing.assert_array_equal(x.all(dim=1).data, [False, True])
    np.testing.assert_array_equal(
        tg.any(Tensor(x.data == 0), axis=0, keepdims=True).data, [[False, True, False]]
    )
    assert x.all(1).dtype == np.bool_


def test_cumsum_values_and_dim_required():
    a = randn(2, 3)
    np.testing.assert_allclose(Tensor(a).cumsum(1).data, np.cumsum(a, 1))
    np.testing.assert_allclose(tg.cumsum(Tensor(a), axis=0).data, np.cumsum(a, 0))
    with pytest.raises(ShapeError, match="expected a dim"):
        Tensor(a).cumsum()


def test_mean_of_integers_is_a_float_and_empty_mean_is_an_error():
    m = Tensor(np.array([1, 2, 4])).mean()
    assert m.dtype.kind == "f" and m.item() == pytest.approx(7 / 3)
    with pytest.raises(ShapeError, match="empty selection"):
        Tensor(np.zeros((0, 2))).mean(0)
    assert Tensor(np.zeros((0, 2))).mean(1).shape == (0,)


# ----- the two spellings of the arguments -------------------------------------------------------


@pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin", "prod", "logsumexp", "var"])
def test_numpy_and_torch_spellings_agree(name):
    x = Tensor(randn(2, 3, 4))
    torch_way = getattr(x, name)(dim=(0, 2), keepdim=True)
    numpy_way = getattr(x, name)(axis=(0, 2), keepdims=True)
    function = getattr(tg, name)(x, (0, 2), keepdim=True)
    assert torch_way.shape == (1, 3, 1)
    np.testing.assert_array_equal(torch_way.data, numpy_way.data)
    np.testing.assert_array_equal(torch_way.data, function.data)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"dim": 0, "axis": 0}, "both dim=0 and axis=0"),
        ({"keepdim": True, "keepdims": True}, "both keepdim"),
        ({"keepdim": 1}, "True or False"),
        ({"dim": ()}, "ambiguous"),
        ({"dim": 2}, "does not fit"),
        ({"dim": (0, 0)}, "distinct"),
    ],
)
def test_bad_reduction_arguments(kwargs, match):
    with pytest.raises((ConfigError, ShapeError), match=match):
        Tensor(randn(2, 3)).sum(**kwargs)


def test_zero_d_tensor_takes_dim_0():
    x = Tensor(np.float64(2.5))
    for out in (x.sum(0), x.mean(-1), x.amax(0), x.max(0).values, x.softmax(0), x.cumsum(0)):
        assert out.shape == ()
    assert x.softmax(0).item() == 1.0
    with pytest.raises(ShapeError):
        x.sum(1)


def test_max_with_a_tensor_points_to_maximum():
    with pytest.raises(ConfigError, match="maximum"):
        Tensor(randn(3)).max(Tensor(randn(3)))


# ----- parity with PyTorch --------------------------------------------------------------------

PARITY = {
    "sum": (lambda t: t.sum(1), lambda t: t.sum(1)),
    "mean": (lambda t: t.mean((0, 2), keepdim=True), lambda t: t.mean((0, 2), keepdim=True)),
    "prod": (lambda t: t.prod(2), lambda t: t.prod(2)),
    "max_dim": (lambda t: t.max(1).values, lambda t: t.max(1).values),
    "min_dim_indices": (lambda t: t.min(2).indices, lambda t: t.min(2).indices),
    "amax": (lambda t: t.amax((0, 1)), lambda t: t.amax((0, 1))),
    "amin": (lambda t: t.amin(-1, keepdim=True), lambda t: t.amin(-1, keepdim=True)),
    "argmax": (lambda t: t.argmax(), lambda t: t.argmax()),
    "var": (lambda t: t.var(1), lambda t: t.var(1)),
    "std_biased": (
        lambda t: t.std((0, 2), unbiased=False),
        lambda t: t.std((0, 2), unbiased=False),
    ),
    "std_correction": (lambda t: t.std(2, correction=0), lambda t: t.std(2, correction=0)),
    "norm": (lambda t: t.norm(), lambda t: t.norm()),
    "norm_1_dim": (lambda t: t.norm(1, dim=2), lambda t: t.norm(1, dim=2)),
    "norm_inf": (
        lambda t: t.norm(float("inf"), dim=(0, 1)),
        lambda t: t.norm(float("inf"), dim=(0, 1)),
    ),
    "norm_3": (
        lambda t: t.norm(3.0, dim=0, keepdim=True),
        lambda t: t.norm(3.0, dim=0, keepdim=True),
    ),
    "logsumexp": (lambda t: t.logsumexp(1), lambda t: t.logsumexp(1)),
    "softmax": (lambda t: t.softmax(1), lambda t: t.softmax(1)),
    "log_softmax": (lambda t: t.log_softmax(-1), lambda t: t.log_softmax(-1)),
    "cumsum": (lambda t: t.cumsum(2), lambda t: t.cumsum(2)),
    "all": (lambda t: (t * 0 + 1).all(1), lambda t: (t * 0 + 1).all(1)),
}


@pytest.mark.parametrize("name", sorted(PARITY))
def test_matches_torch(name):
    torch = pytest.importorskip("torch")
    ours, theirs = PARITY[name]
    a = distinct(2, 3, 4)
    x, t = Tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    out, expected = ours(x), theirs(t)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-14)
    assert out.shape == tuple(expected.shape)
    if expected.dtype == torch.float64:
        weights = rng.uniform(0.5, 1.5, out.shape)
        (out * Tensor(weights)).sum().backward()
        (expected * torch.tensor(weights)).sum().backward()
        np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_ties_match_torch():
    torch = pytest.importorskip("torch")
    a = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    for ours, theirs in [
        (lambda t: t.amax(1), lambda t: t.amax(1)),
        (lambda t: t.max(), lambda t: t.max()),
        (lambda t: t.max(1).values, lambda t: t.max(1).values),
    ]:
        x, t = Tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        ours(x).sum().backward()
        theirs(t).sum().backward()
        np.testing.assert_array_equal(x.grad, t.grad.numpy())


def test_nan_is_the_extreme_and_gets_the_gradient():
    """A slice holding NaN has the max NaN (as torch.max), and its gradient goes to the NaN."""
    x = Tensor(np.array([[1.0, np.nan, 3.0], [2.0, 5.0, 0.0]]), requires_grad=True)
    top = x.max(1)
    assert np.isnan(top.values.data[0]) and top.indices.data.tolist() == [1, 1]
    top.values.sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 1, 0], [0, 1, 0]])
    y = Tensor(np.array([np.nan, 1.0]), requires_grad=True)
    y.amin().backward()
    np.testing.assert_array_equal(y.grad, [1, 0])


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_an_empty_dim_warns_nothing_and_matches_numpy(name):
    """Over a dim of size 0 NumPy would warn about log(0): the result is empty or -inf
    (logsumexp of nothing), silently, as in PyTorch."""
    x = Tensor(np.zeros((3, 0)), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = getattr(x, name)(dim=1)
    assert out.shape == ((3,) if name == "logsumexp" else (3, 0))
    if name == "logsumexp":
        np.testing.assert_array_equal(out.data, [-np.inf] * 3)
