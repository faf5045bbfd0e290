"""Compose before fusing: each fused op of fused.py equals, in values and gradients, its
composition from primitive ops (x @ W + b; masks as constant tensors; log-softmax from
max, exp, sum and log), in float64, on a few shapes and on both kernel sets."""

import numpy as np
import pytest

from tinygrad_hlcv import Tensor, fused, kernels, ops


@pytest.fixture(params=["numba", "numpy"], autouse=True)
def kernel_set(request):
    previous = "numpy" if kernels.active is kernels.numpy_kernels else "numba"
    kernels.select(request.param)
    yield request.param
    kernels.select(previous)


def randn(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


def assert_same_values_and_grads(fused_fn, composed_fn, arrays, upstream=None):
    """Run both on fresh leaves of `arrays`, backward from `upstream` (None: a scalar's 1)."""
    results = []
    for fn in (fused_fn, composed_fn):
        leaves = [Tensor(a.copy(), requires_grad=True) for a in arrays]
        out = fn(*leaves)
        out.backward(None if upstream is None else upstream.copy())
        results.append((out.data, [t.grad for t in leaves]))
    (fused_out, fused_grads), (composed_out, composed_grads) = results
    assert fused_out.dtype == composed_out.dtype == np.float64
    np.testing.assert_allclose(fused_out, composed_out, rtol=1e-12, atol=1e-15)
    for i, (f, c) in enumerate(zip(fused_grads, composed_grads)):
        np.testing.assert_allclose(f, c, rtol=1e-12, atol=1e-15, err_msg=f"gradient {i}")


def _sum(x, axis=None):
    return ops.Sum.apply(x, axis=None if axis is None else (axis,), keepdims=axis is not None)


SHAPES = [(), (5,), (3, 4), (2, 3, 4)]


@pytest.mark.parametrize("n, k, m", [(1, 1, 1), (4, 3, 5), (7, 6, 2)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_is_x_matmul_w_plus_b(n, k, m, bias):
    arrays = [randn((n, k), 0), randn((k, m), 1)] + ([randn(m, 2)] if bias else [])
    composed = (lambda x, w, b: x @ w + b) if bias else (lambda x, w: x @ w)
    assert_same_values_and_grads(fused.Linear.apply, composed, arrays, randn((n, m), 3))


def _with_zeros(shape, seed):
    """Normal values with some exact zeros, where ReLU's derivative is taken as 0."""
    x = randn(shape, seed)
    x.reshape(-1)[::3] = 0.0
    return x


@pytest.mark.parametrize("shape", SHAPES)
def test_relu_is_x_times_its_positive_mask(shape):
    x = _with_zeros(shape, 0)
    positive = Tensor((x > 0).astype(np.float64))
    assert_same_values_and_grads(fused.ReLU.apply, lambda t: t * positive, [x], randn(shape, 1))


@pytest.mark.parametrize("slope", [0.01, 0.2, -0.5])
@pytest.mark.parametrize("shape", SHAPES)
def test_leaky_relu_is_x_times_one_or_the_slope(shape, slope):
    x = _with_zeros(shape, 0)
    factor = Tensor(np.where(x > 0, 1.0, slope))
    assert_same_values_and_grads(
        lambda t: fused.LeakyReLU.apply(t, negative_slope=slope),
        lambda t: t * factor,
        [x],
        randn(shape, 1),
    )


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("shape", SHAPES)
def test_dropout_is_x_times_the_mask_over_the_keep_probability(shape, p):
    x = randn(shape, 0)
    mask = np.random.default_rng(2).random(shape) >= p
    scale = 1.0 / (1.0 - p)
    kept = Tensor(mask * scale)
    assert_same_values_and_grads(
        lambda t: fused.Dropout.apply(t, mask=mask, scale=scale),
        lambda t: t * kept,
        [x],
        randn(shape, 1),
    )


def _cross_entropy(logits, labels):
    """mean_i -log softmax(z_i)[y_i], with log-softmax z - m - log Σ exp(z - m)."""
    n, c = logits.shape
    shifted = logits - logits.amax(dim=1, keepdim=True)
    log_softmax = shifted - _sum(shifted.exp(), axis=1).log()
    one_hot = Tensor(np.eye(c)[labels])
    return _sum(log_softmax * one_hot) * (-1.0 / n)


@pytest.mark.parametrize("scale", [1.0, 30.0])
@pytest.mark.parametrize("upstream", [None, np.array(0.7)])
@pytest.mark.parametrize("n, c", [(1, 1), (1, 3), (5, 4), (8, 10)])
def test_softmax_cross_entropy_is_its_log_softmax_composition(n, c, upstream, scale):
    logits = scale * randn((n, c), 0)
    labels = np.random.default_rng(1).integers(0, c, n)
    assert_same_values_and_grads(
        lambda z: fused.SoftmaxCrossEntropy.apply(z, Tensor(labels)),
        lambda z: _cross_entropy(z, labels),
        [logits],
        upstream,
    )


@pytest.mark.parametrize("upstream", [None, np.array(0.7)])
@pytest.mark.parametrize("shapes", [[(3,)], [(3, 4), (4, 2)], [(2, 3), (5,), (1, 1)]])
def test_l2_penalty_is_lambda_times_the_sum_of_squares(shapes, upstream):
    arrays = [randn(s, i) for i, s in enumerate(shapes)]
    lam = 0.37

    def composed(*weights):
        total = _sum(weights[0] * weights[0])
        for w in weights[1:]:
            total = total + _sum(w * w)
        return total * lam

    assert_same_values_and_grads(
        lambda *w: fused.L2Penalty.apply(*w, lam=lam), composed, arrays, upstream
    )
