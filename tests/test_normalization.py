"""BatchNorm1d and LayerNorm: the kernels against their NumPy twins (NaN and ±Inf included),
the fused ops' gradients against central differences and against their composition from
primitive ops (float64, both kernel sets), running statistics and eval mode, the argument
checks, and parity with PyTorch."""

import zlib

import numpy as np
import pytest

from tinygrad_hlcv import Tensor, kernels, norm_kernels, normalization, ops
from tinygrad_hlcv.errors import ConfigError, DTypeError, GraphError, ShapeError
from tinygrad_hlcv.nn.normalization import BatchNorm1d, LayerNorm, batch_norm, layer_norm
from tinygrad_hlcv.testing import assert_grads_match

DTYPES = [np.float32, np.float64]
RTOL = {np.float32: 2e-6, np.float64: 1e-12}
SPECIALS = (np.nan, np.inf, -np.inf)


@pytest.fixture(params=["numba", "numpy"])
def kernel_set(request):
    previous = "numpy" if kernels.active is kernels.numpy_kernels else "numba"
    kernels.select(request.param)
    yield request.param
    kernels.select(previous)


def randn(shape, seed=0, dtype=np.float64, specials=False):
    """Normal entries (seeded by the case); with `specials`, a few NaN, +Inf and -Inf."""
    rng = np.random.default_rng(zlib.crc32(repr((shape, seed)).encode()))
    a = rng.standard_normal(shape).astype(dtype)
    if specials:
        spots = rng.choice(a.size, min(a.size, 3 * max(1, a.size // 20)), replace=False)
        for i, spot in enumerate(spots):
            a.flat[spot] = SPECIALS[i % 3]
    return a


# ----- the kernels against their twins ---------------------------------------------------

KERNEL_SHAPES = [(200, 100), (3, 7), (7, 5), (1, 4), (1, 1)]


def run_both(name, make_arrays, outputs):
    """Run kernel `name` and its twin on copies of the same arrays; return both results."""
    results = []
    for kernel_set in (norm_kernels.numba_kernels, norm_kernels.numpy_kernels):
        args = make_arrays()
        with np.errstate(all="ignore"):
            getattr(kernel_set, name)(*args)
        results.append([args[i] for i in outputs])
    return results


def assert_kernel_matches_twin(name, make_arrays, outputs, dtype):
    (kernel, twin) = run_both(name, make_arrays, outputs)
    for k, t in zip(kernel, twin):
        assert k.dtype == t.dtype
        np.testing.assert_allclose(
            k, t, rtol=RTOL[dtype], atol=RTOL[dtype], equal_nan=True, err_msg=name
        )


@pytest.mark.parametrize("specials", [False, True])
@pytest.mark.parametrize("shape", KERNEL_SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_kernels_match_their_twins(shape, dtype, specials):
    n, c = shape
    x, g = randn(shape, 1, dtype, specials), randn(shape, 2, dtype, specials)
    w, b = randn(c, 3, dtype, specials), randn(c, 4, dtype)
    mean, var = np.empty(c), np.empty(c)
    with np.errstate(all="ignore"):
        norm_kernels.batch_norm_statistics_numpy(x, mean, var)
        invstd = 1 / np.sqrt(var + 1e-5)
    assert_kernel_matches_twin(
        "batch_norm_statistics", lambda: (x, np.empty(c), np.empty(c)), (1, 2), dtype
    )
    assert_kernel_matches_twin(
        "batch_norm_forward", lambda: (x, mean, invstd, w, b, np.empty_like(x)), (5,), dtype
    )
    for batch_stats in (True, False):
        inputs = (g, x, mean, invstd, w, batch_stats)
        assert_kernel_matches_twin(
            "batch_norm_backward",
            lambda inputs=inputs: inputs + (np.empty_like(x), np.empty_like(w), np.empty_like(w)),
            (6, 7, 8),
            dtype,
        )


NCL_SHAPES = [(16, 8, 33), (4, 3, 5), (2, 5, 1), (1, 2, 7), (3, 1, 4), (1, 1, 1)]


@pytest.mark.parametrize("specials", [False, True])
@pytest.mark.parametrize("shape", NCL_SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_ncl_kernels_match_their_twins(shape, dtype, specials):
    c = shape[1]
    x, g = randn(shape, 1, dtype, specials), randn(shape, 2, dtype, specials)
    w, b = randn(c, 3, dtype, specials), randn(c, 4, dtype)
    mean, var = np.empty(c), np.empty(c)
    with np.errstate(all="ignore"):
        norm_kernels.batch_norm_statistics_ncl_numpy(x, mean, var)
        invstd = 1 / np.sqrt(var + 1e-5)
    assert_kernel_matches_twin(
        "batch_norm_statistics_ncl", lambda: (x, np.empty(c), np.empty(c)), (1, 2), dtype
    )
    assert_kernel_matches_twin(
        "batch_norm_forward_ncl", lambda: (x, mean, invstd, w, b, np.empty_like(x)), (5,), dtype
    )
    for batch_stats in (True, False):
        inputs = (g, x, mean, invstd, w, batch_stats)
        assert_kernel_matches_twin(
            "batch_norm_backward_ncl",
            lambda inputs=inputs: inputs + (np.empty_like(x), np.empty_like(w), np.empty_like(w)),
            (6, 7, 8),
            dtype,
        )


def previous_batch_norm_3d(x, g, w, b, mean, var, training):
    """The previous 3-D path: x and g copied to (N·L, C) rows, the 2-D kernels, and back;
    returns y, dx, dγ, dβ (and fills mean and var when `training`)."""
    n, c, length = x.shape

    def rows(a):
        return np.ascontiguousarray(np.moveaxis(a, 1, 2)).reshape(-1, c)

    def back(a):
        return a.reshape(n, length, c).transpose(0, 2, 1)

    k = norm_kernels.active()
    if training:
        k.batch_norm_statistics(rows(x), mean, var)
    invstd = 1 / np.sqrt(var + 1e-5)
    out, dx, dw, db = (
        np.empty_like(rows(x)),
        np.empty_like(rows(x)),
        np.empty_like(w),
        np.empty_like(w),
    )
    k.batch_norm_forward(rows(x), mean, invstd, w, b, out)
    k.batch_norm_backward(rows(g), rows(x), mean, invstd, w, training, dx, dw, db)
    return back(out), back(dx), dw, db


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("training", [True, False])
def test_the_3d_op_equals_the_previous_features_last_path(kernel_set, dtype, training):
    n, c, length = shape = (5, 4, 6)
    x, g = randn(shape, 1, dtype) * 2 + 1, randn(shape, 2, dtype)
    w, b = randn(c, 3, dtype), randn(c, 4, dtype)
    running = [Tensor(randn(c, 5, dtype)), Tensor(np.abs(randn(c, 6, dtype)) + 0.5)]
    before = [r.data.astype(np.float64) for r in running]
    leaves = [Tensor(a.copy(), requires_grad=True) for a in (x, w, b)]
    out = batch_norm(leaves[0], *running, *leaves[1:], training=training, momentum=0.3)
    out.backward(g.copy())
    mean, var = (np.empty(c), np.empty(c)) if training else before
    expected = previous_batch_norm_3d(x, g, w, b, mean, var, training)
    tol = dict(rtol=RTOL[dtype], atol=RTOL[dtype])
    for got, want in zip([out.data] + [t.grad for t in leaves], expected):
        np.testing.assert_allclose(got, want, **tol)
    if training:  # running_var moves towards the unbiased variance over N·L values
        unbiased = var * (n * length) / (n * length - 1)
        np.testing.assert_allclose(running[0].data, 0.7 * before[0] + 0.3 * mean, **tol)
        np.testing.assert_allclose(running[1].data, 0.7 * before[1] + 0.3 * unbiased, **tol)


@pytest.mark.parametrize("specials", [False, True])
@pytest.mark.parametrize("shape", KERNEL_SHAPES + [(0, 3)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_norm_kernels_match_their_twins(shape, dtype, specials):
    m, d = shape
    x, g = randn(shape, 1, dtype, specials), randn(shape, 2, dtype, specials)
    w, b = randn(d, 3, dtype, specials), randn(d, 4, dtype)
    assert_kernel_matches_twin(
        "layer_norm_forward",
        lambda: (x, w, b, 1e-5, np.empty(m), np.empty(m), np.empty_like(x)),
        (4, 5, 6),
        dtype,
    )
    mean, invstd = np.empty(m), np.empty(m)
    with np.errstate(all="ignore"):
        norm_kernels.layer_norm_forward_numpy(x, w, b, 1e-5, mean, invstd, np.empty_like(x))
    assert_kernel_matches_twin(
        "layer_norm_backward",
        lambda: (g, x, mean, invstd, w, np.empty_like(x), np.empty_like(w), np.empty_like(w)),
        (5, 6, 7),
        dtype,
    )


def test_a_nan_spreads_to_its_own_feature_or_sample_only():
    x = randn((5, 3))
    x[2, 1] = np.nan
    for kernel_set in (norm_kernels.numba_kernels, norm_kernels.numpy_kernels):
        mean, var = np.empty(3), np.empty(3)
        kernel_set.batch_norm_statistics(x, mean, var)
        assert np.isnan(mean[1]) and np.isnan(var[1]) and np.isfinite(mean[[0, 2]]).all()
        out, m, r = np.empty_like(x), np.empty(5), np.empty(5)
        kernel_set.layer_norm_forward(x, np.ones(3), np.zeros(3), 1e-5, m, r, out)
        assert np.isnan(out[2]).all() and np.isfinite(np.delete(out, 2, axis=0)).all()


@pytest.mark.parametrize(
    "kernel_set", [norm_kernels.numba_kernels, norm_kernels.numpy_kernels], ids=["numba", "numpy"]
)
def test_kernels_refuse_arrays_that_do_not_fit(kernel_set):
    x, c = randn((4, 3)), 3
    with pytest.raises(ValueError, match="batch_norm_statistics"):
        kernel_set.batch_norm_statistics(x, np.empty(c + 1), np.empty(c))
    with pytest.raises(ValueError, match="batch_norm_statistics"):
        kernel_set.batch_norm_statistics(np.empty((0, c)), np.empty(c), np.empty(c))
    with pytest.raises(ValueError, match="batch_norm_forward"):
        kernel_set.batch_norm_forward(
            x, np.zeros(c), np.ones(c), np.ones(c), np.zeros(c), np.empty((4, 2))
        )
    with pytest.raises(ValueError, match="batch_norm_backward"):
        kernel_set.batch_norm_backward(
            randn((3, 3)),
            x,
            np.zeros(c),
            np.ones(c),
            np.ones(c),
            True,
            np.empty_like(x),
            np.empty(c),
            np.empty(c),
        )
    with pytest.raises(ValueError, match="layer_norm_forward"):
        kernel_set.layer_norm_forward(
            x, np.ones(2), np.zeros(c), 1e-5, np.empty(4), np.empty(4), np.empty_like(x)
        )
    with pytest.raises(ValueError, match="layer_norm_backward"):
        kernel_set.layer_norm_backward(
            x, x, np.zeros(3), np.ones(4), np.ones(c), np.empty_like(x), np.empty(c), np.empty(c)
        )


@pytest.mark.parametrize(
    "kernel_set", [norm_kernels.numba_kernels, norm_kernels.numpy_kernels], ids=["numba", "numpy"]
)
def test_ncl_kernels_refuse_arrays_that_do_not_fit(kernel_set):
    x, c = randn((4, 3, 5)), 3
    with pytest.raises(ValueError, match="batch_norm_statistics_ncl"):
        kernel_set.batch_norm_statistics_ncl(x, np.empty(c), np.empty(c - 1))
    for empty in ((0, c, 5), (4, c, 0)):
        with pytest.raises(ValueError, match="batch_norm_statistics_ncl"):
            kernel_set.batch_norm_statistics_ncl(np.empty(empty), np.empty(c), np.empty(c))
    with pytest.raises(ValueError, match="batch_norm_forward_ncl"):
        kernel_set.batch_norm_forward_ncl(
            x, np.zeros(c), np.ones(c), np.ones(c), np.zeros(c), np.empty((4, 3, 4))
        )
    with pytest.raises(ValueError, match="batch_norm_forward_ncl"):
        kernel_set.batch_norm_forward_ncl(
            x, np.zeros(c), np.ones(c), np.ones(c + 1), np.zeros(c), np.empty_like(x)
        )
    for g, dweight in ((randn((4, 3, 4)), np.empty(c)), (x, np.empty(c + 1))):
        with pytest.raises(ValueError, match="batch_norm_backward_ncl"):
            kernel_set.batch_norm_backward_ncl(
                g,
                x,
                np.zeros(c),
                np.ones(c),
                np.ones(c),
                True,
                np.empty_like(x),
                dweight,
                np.empty(c),
            )


# ----- gradients against central differences (float64) -------------------------------------


@pytest.mark.parametrize("shape", [(6, 4), (5, 3, 2), (2, 1), (1, 3, 4), (3, 2, 1)])
def test_batch_norm_training_gradients_match_numerical(kernel_set, shape):
    c = shape[1]
    errors = assert_grads_match(
        lambda x, w, b: batch_norm(x, None, None, w, b, training=True, eps=1e-3),
        [randn(shape, 1), randn(c, 2), randn(c, 3)],
        rtol=1e-6,
        atol=1e-9,
    )
    assert max(errors.values()) < 1e-6


@pytest.mark.parametrize("shape", [(6, 4), (5, 3, 2), (1, 3), (1, 2, 3)])
def test_batch_norm_eval_gradients_match_numerical(kernel_set, shape):
    c = shape[1]
    mean, var = Tensor(randn(c, 4)), Tensor(np.abs(randn(c, 5)) + 0.5)
    assert_grads_match(
        lambda x, w, b: batch_norm(x, mean, var, w, b, training=False, eps=1e-3),
        [randn(shape, 1), randn(c, 2), randn(c, 3)],
        rtol=1e-6,
        atol=1e-9,
    )


@pytest.mark.parametrize("normalized_shape", [(4,), (3, 4), (1,)])
def test_layer_norm_gradients_match_numerical(kernel_set, normalized_shape):
    shape = (5,) + normalized_shape
    assert_grads_match(
        lambda x, w, b: layer_norm(x, normalized_shape, w, b, eps=1e-3),
        [randn(shape, 1), randn(normalized_shape, 2), randn(normalized_shape, 3)],
        rtol=1e-6,
        atol=1e-9,
    )


def test_layer_norm_of_a_single_vector_and_without_affine():
    assert_grads_match(lambda x: layer_norm(x, 6), [randn(6, 1)], rtol=1e-6, atol=1e-9)
    assert_grads_match(
        lambda x, w: layer_norm(x, 6, w), [randn((2, 6), 1), randn(6, 2)], rtol=1e-6, atol=1e-9
    )
    assert_grads_match(
        lambda x, b: batch_norm(x, None, None, None, b, training=True),
        [randn((4, 3), 1), randn(3, 2)],
        rtol=1e-6,
        atol=1e-9,
    )


@pytest.mark.parametrize("op", ["batch", "layer"])
def test_the_input_gradient_is_orthogonal_to_shifts(op):
    """Σ_i ∂J/∂x_i = 0 over each normalised set: shifting the set changes nothing."""
    x = Tensor(randn((8, 5), 1), requires_grad=True)
    out = batch_norm(x, None, None, training=True) if op == "batch" else layer_norm(x, 5)
    out.backward(randn((8, 5), 2))
    axis = 0 if op == "batch" else 1
    np.testing.assert_allclose(x.grad.sum(axis=axis), 0, atol=1e-12)


# ----- the fused ops against their composition from primitive ops ---------------------------


def _mean(x, axis):
    return ops.Sum.apply(x, axis=axis, keepdims=True) * (1.0 / np.prod([x.shape[a] for a in axis]))


def composed_batch_norm(x, w, b, eps):
    axis = (0,) if x.ndim == 2 else (0, 2)
    shape = (1, -1) if x.ndim == 2 else (1, -1, 1)
    centred = x - _mean(x, axis)
    var = _mean(centred * centred, axis)
    return centred / (var + eps) ** 0.5 * w.reshape(shape) + b.reshape(shape)


def composed_layer_norm(x, w, b, eps):
    axis = tuple(range(x.ndim - w.ndim, x.ndim))
    centred = x - _mean(x, axis)
    return centred / (_mean(centred * centred, axis) + eps) ** 0.5 * w + b


@pytest.mark.parametrize("shape", [(7, 5), (4, 3, 6), (2, 3, 1)])
def test_fused_ops_equal_their_composition(kernel_set, shape):
    g = randn(shape, 9)
    cases = [
        (
            lambda x, w, b: batch_norm(x, None, None, w, b, training=True, eps=1e-4),
            lambda x, w, b: composed_batch_norm(x, w, b, 1e-4),
            shape[1:2],
        ),
        (
            lambda x, w, b: layer_norm(x, shape[1:], w, b, eps=1e-4),
            lambda x, w, b: composed_layer_norm(x, w, b, 1e-4),
            shape[1:],
        ),
    ]
    for fused, composed, param_shape in cases:
        arrays = [randn(shape, 1), randn(param_shape, 2), randn(param_shape, 3)]
        results = []
        for fn in (fused, composed):
            leaves = [Tensor(a.copy(), requires_grad=True) for a in arrays]
            out = fn(*leaves)
            out.backward(g.copy())
            results.append([out.data] + [t.grad for t in leaves])
        for f, c in zip(*results):
            np.testing.assert_allclose(f, c, rtol=1e-10, atol=1e-12)


# ----- running statistics, train and eval ----------------------------------------------------


def test_running_statistics_follow_pytorchs_update():
    layer = BatchNorm1d(3, momentum=0.25, dtype=np.float64)
    x1, x2 = randn((6, 3), 1) * 2 + 1, randn((6, 3), 2) - 3
    layer(Tensor(x1))
    layer(Tensor(x2))
    mean, var = np.zeros(3), np.ones(3)
    for x in (x1, x2):
        mean = 0.75 * mean + 0.25 * x.mean(axis=0)
        var = 0.75 * var + 0.25 * x.var(axis=0, ddof=1)
    np.testing.assert_allclose(layer.running_mean.data, mean, rtol=1e-13)
    np.testing.assert_allclose(layer.running_var.data, var, rtol=1e-13)
    assert layer.num_batches_tracked.item() == 2
    assert layer.running_mean._version == 2


def test_momentum_none_is_the_cumulative_average():
    layer = BatchNorm1d(2, momentum=None, dtype=np.float64)
    batches = [randn((5, 2), k) * (k + 1) for k in range(3)]
    for x in batches:
        layer(Tensor(x))
    np.testing.assert_allclose(
        layer.running_mean.data, np.mean([x.mean(axis=0) for x in batches], axis=0), rtol=1e-12
    )
    np.testing.assert_allclose(
        layer.running_var.data,
        np.mean([x.var(axis=0, ddof=1) for x in batches], axis=0),
        rtol=1e-12,
    )


def test_eval_mode_normalises_with_the_running_statistics_and_leaves_them():
    layer = BatchNorm1d(3, dtype=np.float64)
    layer(Tensor(randn((8, 3), 1) * 3 + 2))
    layer.eval()
    mean, var = layer.running_mean.data.copy(), layer.running_var.data.copy()
    x = randn((4, 3), 2)
    out = layer(Tensor(x))
    np.testing.assert_allclose(out.data, (x - mean) / np.sqrt(var + 1e-5), rtol=1e-12)
    np.testing.assert_array_equal(layer.running_mean.data, mean)
    assert layer.num_batches_tracked.item() == 1
    layer(Tensor(randn((1, 3), 3)))  # one sample is fine in eval mode


def test_without_running_statistics_eval_uses_the_batch():
    layer = BatchNorm1d(3, track_running_stats=False, affine=False, dtype=np.float64).eval()
    assert layer.running_mean is None and layer.num_batches_tracked is None
    x = randn((6, 3), 1)
    np.testing.assert_allclose(
        layer(Tensor(x)).data, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), rtol=1e-12
    )
    assert layer.parameters() == []


def test_buffers_are_not_parameters_but_are_saved():
    layer = BatchNorm1d(4)
    names = [name for name, _ in layer.named_parameters()]
    assert names == ["weight", "bias"]
    state = layer.state_dict()
    assert {"running_mean", "running_var", "num_batches_tracked"} <= set(state)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        assert not getattr(layer, name).requires_grad
    layer(Tensor(randn((5, 4), 1, np.float32)))
    fresh = BatchNorm1d(4)
    fresh.load_state_dict(layer.state_dict())
    np.testing.assert_array_equal(fresh.running_var.data, layer.running_var.data)
    assert fresh.num_batches_tracked.item() == 1


def test_layer_norm_is_the_same_in_train_and_eval():
    layer = LayerNorm((2, 3), dtype=np.float64)
    x = Tensor(randn((4, 2, 3), 1))
    np.testing.assert_array_equal(layer(x).data, layer.eval()(x).data)
    assert layer.weight.shape == (2, 3) and LayerNorm(3, bias=False).bias is None
    assert LayerNorm(3, elementwise_affine=False).parameters() == []


def test_changing_the_input_before_backward_is_refused():
    x = Tensor(randn((4, 3), 1), requires_grad=True)
    out = batch_norm(x, None, None, training=True)
    x._version += 1
    with pytest.raises(GraphError, match="BatchNorm"):
        out.sum().backward()


def test_float32_stays_float32():
    layer = BatchNorm1d(3)
    x = Tensor(randn((4, 3), 1, np.float32), requires_grad=True)
    out = layer(x)
    out.backward(np.ones((4, 3), np.float32))
    assert out.dtype == x.grad.dtype == layer.weight.grad.dtype == np.float32
    assert layer.running_var.dtype == np.float32


def test_repr():
    assert repr(BatchNorm1d(3)) == (
        "BatchNorm1d(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"
    )
    assert repr(LayerNorm(4)) == "LayerNorm((4,), eps=1e-05, elementwise_affine=True)"


# ----- the argument checks --------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, error, words",
    [
        (lambda: BatchNorm1d(3)(Tensor(randn((4, 3, 2, 2)))), ShapeError, "2-D (N, C) or 3-D"),
        (lambda: BatchNorm1d(3)(Tensor(randn((4, 5)))), ShapeError, "expected 3"),
        (lambda: BatchNorm1d(3)(Tensor(randn((1, 3)))), ShapeError, "more than 1"),
        (lambda: BatchNorm1d(3)(Tensor(randn((4, 3)))), DTypeError, "the input float64"),
        (lambda: BatchNorm1d(3)(Tensor(np.ones((4, 3), np.int64))), DTypeError, "float32 or"),
        (lambda: BatchNorm1d(3)([[1.0, 2.0, 3.0]]), DTypeError, "Tensor or a NumPy array"),
        (lambda: BatchNorm1d(0), ConfigError, "num_features"),
        (lambda: BatchNorm1d(3, eps=0), ConfigError, "eps"),
        (lambda: BatchNorm1d(3, momentum=1.5), ConfigError, "momentum"),
        (lambda: BatchNorm1d(3, affine="yes"), ConfigError, "affine"),
        (lambda: batch_norm(Tensor(randn((4, 3))), None, None), ConfigError, "running_mean"),
        (
            lambda: batch_norm(
                Tensor(randn((4, 3))), Tensor(np.zeros(2)), Tensor(np.ones(2)), training=True
            ),
            ShapeError,
            "expected shape (3,)",
        ),
        (lambda: batch_norm(Tensor(randn((4, 3))), Tensor(np.zeros(3)), None), ConfigError, "both"),
        (lambda: LayerNorm(4)(Tensor(randn((2, 3)))), ShapeError, "does not end in"),
        (lambda: LayerNorm((2, 3))(Tensor(randn(3))), ShapeError, "does not end in"),
        (lambda: LayerNorm(0), ConfigError, "normalized_shape"),
        (
            lambda: layer_norm(Tensor(randn((2, 3))), 3, Tensor(np.ones(4))),
            ShapeError,
            "expected shape (3,)",
        ),
    ],
)
def test_mistakes_get_the_frameworks_errors(make, error, words):
    with pytest.raises(error) as err:
        make()
    assert words in str(err.value)


class GroupOfChannels(BatchNorm1d):
    """A subclass without checks of its own."""


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda: GroupOfChannels(0), "GroupOfChannels: num_features"),
        (lambda: GroupOfChannels(3, eps=-1), "GroupOfChannels: eps"),
        (lambda: GroupOfChannels(3, momentum=2), "GroupOfChannels: momentum"),
        (lambda: GroupOfChannels(3, affine=1), "GroupOfChannels: affine"),
        (lambda: GroupOfChannels(3, dtype=np.int32), "GroupOfChannels"),
        (
            lambda: GroupOfChannels(3)(Tensor(randn((4, 5), 1, np.float32))),
            "GroupOfChannels: input",
        ),
        (lambda: GroupOfChannels(3)(Tensor(randn(4, 1, np.float32))), "GroupOfChannels: input"),
    ],
)
def test_a_subclass_s_mistakes_are_named_after_it(make, words):
    with pytest.raises((ConfigError, DTypeError, ShapeError)) as err:
        make()
    assert str(err.value).startswith(words) and "BatchNorm1d" not in str(err.value)


def test_a_refused_input_does_not_count_as_a_batch():
    layer = BatchNorm1d(3)
    with pytest.raises(DTypeError):
        layer(Tensor(randn((4, 3))))  # float64 into a float32 layer
    assert layer.num_batches_tracked.item() == 0
    np.testing.assert_array_equal(layer.running_mean.data, 0)


# ----- PyTorch parity --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, momentum", [((8, 5), 0.1), ((6, 5, 3), None)])
def test_batch_norm_matches_pytorch(dtype, shape, momentum):
    torch = pytest.importorskip("torch")
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    ours = BatchNorm1d(5, momentum=momentum, dtype=dtype)
    theirs = torch.nn.BatchNorm1d(
        5, momentum=momentum, dtype=torch.float32 if dtype == np.float32 else torch.float64
    )
    w, b = randn(5, 7, dtype), randn(5, 8, dtype)
    ours.weight.data[...], ours.bias.data[...] = w, b
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(w))
        theirs.bias.copy_(torch.from_numpy(b))
    for step in range(3):
        x, g = randn(shape, 10 + step, dtype) * 2 + 1, randn(shape, 20 + step, dtype)
        ours.zero_grad()
        theirs.zero_grad()
        xo, xt = Tensor(x.copy(), requires_grad=True), torch.tensor(x, requires_grad=True)
        out_o, out_t = ours(xo), theirs(xt)
        out_o.backward(g.copy())
        out_t.backward(torch.from_numpy(g))
        np.testing.assert_allclose(out_o.data, out_t.detach().numpy(), **tol)
        np.testing.assert_allclose(xo.grad, xt.grad.numpy(), **tol)
        np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), **tol)
        np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), **tol)
    np.testing.assert_allclose(ours.running_mean.data, theirs.running_mean.numpy(), **tol)
    np.testing.assert_allclose(ours.running_var.data, theirs.running_var.numpy(), **tol)
    assert ours.num_batches_tracked.item() == theirs.num_batches_tracked.item() == 3
    ours.eval()
    theirs.eval()
    x = randn(shape, 30, dtype)
    xo, xt = Tensor(x.copy(), requires_grad=True), torch.tensor(x, requires_grad=True)
    out_o, out_t = ours(xo), theirs(xt)
    out_o.backward(np.ones_like(x))
    out_t.sum().backward()
    np.testing.assert_allclose(out_o.data, out_t.detach().numpy(), **tol)
    np.testing.assert_allclose(xo.grad, xt.grad.numpy(), **tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("normalized_shape, bias", [((6,), True), ((3, 4), False)])
def test_layer_norm_matches_pytorch(dtype, normalized_shape, bias):
    torch = pytest.importorskip("torch")
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    shape = (2, 5) + normalized_shape
    x, g = randn(shape, 1, dtype) * 3, randn(shape, 2, dtype)
    w = randn(normalized_shape, 3, dtype)
    ours = LayerNorm(normalized_shape, bias=bias, dtype=dtype)
    theirs = torch.nn.LayerNorm(
        normalized_shape, bias=bias, dtype=torch.float32 if dtype == np.float32 else torch.float64
    )
    ours.weight.data[...] = w
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(w))
    xo, xt = Tensor(x.copy(), requires_grad=True), torch.tensor(x, requires_grad=True)
    out_o, out_t = ours(xo), theirs(xt)
    out_o.backward(g.copy())
    out_t.backward(torch.from_numpy(g))
    np.testing.assert_allclose(out_o.data, out_t.detach().numpy(), **tol)
    np.testing.assert_allclose(xo.grad, xt.grad.numpy(), **tol)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), **tol)
    if bias:
        np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), **tol)


def test_the_ops_are_exported_for_the_engine_audit():
    """normalization.BatchNorm and LayerNorm run on a bare (3, 3) input (the generic sample of
    tests/test_engine_invariants.py) with their defaults."""
    for op in (normalization.BatchNorm, normalization.LayerNorm):
        out = op.apply(Tensor(randn((3, 3)), requires_grad=True))
        assert out.shape == (3, 3) and out.requires_grad
