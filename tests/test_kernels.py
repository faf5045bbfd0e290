"""The Numba kernels against their NumPy twins (on finite values and on NaN and ±Inf in
inputs and upstream gradients, PyTorch's semantics), their guards against arrays that do
not fit, softmax cross-entropy against the reference, and choosing the kernel set
(kernels.select, TINYGRAD_HLCV_KERNELS).

CI also runs this module with Numba's bounds checks on (an out-of-bounds index then
raises IndexError instead of reading past an array):
    NUMBA_BOUNDSCHECK=1 NUMBA_CACHE_DIR=$(mktemp -d) python -m pytest -q tests/test_kernels.py
"""

import os
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest

import tinygrad_hlcv as tg
from tinygrad_hlcv import Tensor, kernels, nn
from tinygrad_hlcv import reference as ref
from tinygrad_hlcv.errors import ConfigError

DTYPES = [np.float32, np.float64]
SHAPES = [(200, 100), (1, 100), (3, 7), (1, 1), (7, 5)]  # 7 rows: column_sum's 4-row loop + rest
RTOL = {np.float32: 1e-6, np.float64: 1e-13}
ROOT = Path(__file__).resolve().parent.parent
SPECIALS = (np.nan, np.inf, -np.inf)
# Every pair of these, one from each argument, in one array: the signs, the kink at 0 (and
# -0.0), and NaN and ±Inf against each other.
PAIR_VALUES = (-2.5, -0.0, 0.0, 1.5, np.nan, np.inf, -np.inf)


def _rng(shape, dtype, extra=0):
    """A generator seeded by the case (str hashes vary between runs; crc32 does not)."""
    return np.random.default_rng(zlib.crc32(repr((shape, np.dtype(dtype).name, extra)).encode()))


def random_array(shape, dtype, scale=2.0, extra=0, with_zeros=True, specials=False):
    """Normal entries, a few of them exactly zero (the ReLU kink); with `specials`, a few
    NaN, +Inf and -Inf too (at least one of each where the array has three entries)."""
    rng = _rng(shape, dtype, extra)
    a = (scale * rng.standard_normal(shape)).astype(dtype)
    if with_zeros and a.size > 2:
        a.flat[rng.choice(a.size, max(1, a.size // 20), replace=False)] = 0
    if specials:
        spots = rng.choice(a.size, min(a.size, 3 * max(1, a.size // 20)), replace=False)
        for i, spot in enumerate(spots):
            a.flat[spot] = SPECIALS[i % 3]
    return a


def value_pairs(dtype):
    """(u, v): 1-D arrays holding every pair (PAIR_VALUES[i], PAIR_VALUES[j])."""
    values = np.array(PAIR_VALUES, dtype=dtype)
    u, v = np.meshgrid(values, values, indexing="ij")
    return u.reshape(-1), v.reshape(-1)


def labels_for(shape, dtype):
    n, c = shape
    return _rng(shape, dtype, 7).integers(0, c, n).astype(np.int64)


def both(name):
    return getattr(kernels.numba_kernels, name), getattr(kernels.numpy_kernels, name)


def run_both(name, *args, out_index):
    """Run the kernel and its twin on copies of args; return each one's args[out_index]."""
    results = []
    for kernel in both(name):
        copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        with np.errstate(all="ignore"):  # the twin's warnings about NaN are not results
            kernel(*copies)
        results.append(copies[out_index])
    return results


@pytest.fixture
def kernel_set():
    """Lets a test switch kernel sets; restores the one that was active."""
    previous = "numpy" if kernels.active is kernels.numpy_kernels else "numba"
    yield
    kernels.select(previous)


def test_the_two_sets_have_the_same_kernels():
    assert set(vars(kernels.numba_kernels)) == set(kernels.KERNEL_NAMES)
    assert set(vars(kernels.numpy_kernels)) == set(kernels.KERNEL_NAMES)
    for name in kernels.KERNEL_NAMES:
        fast, twin = both(name)
        assert fast is not twin
        assert hasattr(fast, "py_func")  # a numba dispatcher
        assert not hasattr(twin, "py_func")  # plain NumPy


# ----- element-wise kernels: exact, NaN and ±Inf included ----------------------------------
# The expected values are PyTorch's: relu and its backward threshold_backward
# (`a <= 0 ? 0 : δ`, so 0 even for a NaN δ), leaky_relu `z > 0 ? z : z·α` and its backward
# `z > 0 ? δ : δ·α`, dropout x·mask·scale (NaN for a dropped NaN or Inf).


def relu_expected(z):
    return np.where(z <= 0, 0, z).astype(z.dtype)


def relu_backward_expected(g, a):
    return np.where(a <= 0, 0, g).astype(g.dtype)


def leaky_expected(z, s):
    return np.where(z > 0, z, z * s)


def leaky_backward_expected(g, z, s):
    return np.where(z > 0, g, g * s)


def masked_scale_expected(x, mask, scale):
    return np.where(mask, x * scale, x * 0)


@pytest.mark.parametrize("specials", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_relu_forward(shape, dtype, specials):
    z = random_array(shape, dtype, specials=specials).reshape(-1)
    out_fast, out_twin = run_both("relu_forward", z, np.full_like(z, 7), out_index=1)
    np.testing.assert_array_equal(out_fast, out_twin)
    np.testing.assert_array_equal(out_fast, relu_expected(z))
    assert out_fast.dtype == dtype


@pytest.mark.parametrize("dtype", [np.int8, np.int64, np.uint8, np.uint64])
def test_relu_forward_on_integers_is_exact(dtype):
    """Tensor.relu takes integer tensors, as PyTorch's: every value is kept exactly (the
    kernel once rounded uint64 values past 2**53 through float64)."""
    info = np.iinfo(dtype)
    values = [int(info.min), 0, 1, min(2**53 + 1, int(info.max)), int(info.max) - 1, int(info.max)]
    z = np.array(values, dtype=dtype)
    out_fast, out_twin = run_both("relu_forward", z, np.full_like(z, 7), out_index=1)
    np.testing.assert_array_equal(out_fast, np.maximum(z, 0))
    np.testing.assert_array_equal(out_twin, np.maximum(z, 0))


@pytest.mark.parametrize("specials", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_relu_backward(shape, dtype, specials):
    a = relu_expected(random_array(shape, dtype, specials=specials)).reshape(-1)
    g = random_array(shape, dtype, extra=1, with_zeros=False, specials=specials).reshape(-1)
    out_fast, out_twin = run_both("relu_backward", g, a, np.full_like(g, 7), out_index=2)
    np.testing.assert_array_equal(out_fast, out_twin)
    np.testing.assert_array_equal(out_fast, relu_backward_expected(g, a))  # 0 at the kink


@pytest.mark.parametrize("slope", [0.01, 0.3, 0.0])
@pytest.mark.parametrize("specials", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_leaky_relu_forward(shape, dtype, specials, slope):
    z = random_array(shape, dtype, specials=specials).reshape(-1)
    s = np.dtype(dtype).type(slope)
    out_fast, out_twin = run_both("leaky_relu_forward", z, s, np.full_like(z, 7), out_index=2)
    np.testing.assert_array_equal(out_fast, out_twin)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(out_fast, leaky_expected(z, s))


@pytest.mark.parametrize("slope", [0.01, 0.3, 0.0])
@pytest.mark.parametrize("specials", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_leaky_relu_backward(shape, dtype, specials, slope):
    z = random_array(shape, dtype, specials=specials).reshape(-1)
    g = random_array(shape, dtype, extra=1, with_zeros=False, specials=specials).reshape(-1)
    s = np.dtype(dtype).type(slope)
    out_fast, out_twin = run_both("leaky_relu_backward", g, z, s, np.full_like(g, 7), out_index=3)
    np.testing.assert_array_equal(out_fast, out_twin)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(out_fast, leaky_backward_expected(g, z, s))


@pytest.mark.parametrize("p", [0.25, 0.5])
@pytest.mark.parametrize("specials", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_masked_scale(shape, dtype, specials, p):
    x = random_array(shape, dtype, specials=specials).reshape(-1)
    mask = _rng(shape, dtype, 3).random(x.size) >= p
    scale = np.dtype(dtype).type(1.0 / (1.0 - p))
    out_fast, out_twin = run_both("masked_scale", x, mask, scale, np.full_like(x, 7), out_index=3)
    np.testing.assert_array_equal(out_fast, out_twin)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(out_fast, masked_scale_expected(x, mask, scale))


@pytest.mark.parametrize("specials", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_bias_add(shape, dtype, specials):
    z = random_array(shape, dtype, specials=specials)
    b = random_array((shape[1],), dtype, extra=2, specials=specials)
    z_fast, z_twin = run_both("bias_add", z, b, out_index=0)
    np.testing.assert_array_equal(z_fast, z_twin)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(z_fast, z + b)
    assert z_fast.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_element_wise_kernels_on_every_pair_of_special_values(dtype):
    """Each element-wise kernel with every pair of (finite, ±0, NaN, ±Inf) values in its two
    array arguments: the kernel equals its twin and PyTorch's result, NaN for NaN."""
    u, v = value_pairs(dtype)
    n, t = len(PAIR_VALUES), np.dtype(dtype).type  # u.reshape(n, n)[i, j] + v[j]: every pair
    new = np.full_like(u, 7)
    with np.errstate(invalid="ignore"):
        cases = [
            (
                "relu_backward",
                (u, relu_expected(v), new),
                2,
                relu_backward_expected(u, relu_expected(v)),
            ),
            ("bias_add", (u.reshape(n, n), v[:n]), 0, u.reshape(n, n) + v[:n]),
            ("scaled_add", (u, t(0.5), v), 0, u + t(0.5) * v),
        ]
        for slope in (t(0.01), t(0)):
            cases += [
                ("leaky_relu_forward", (u, slope, new), 2, leaky_expected(u, slope)),
                (
                    "leaky_relu_backward",
                    (u, v, slope, new),
                    3,
                    leaky_backward_expected(u, v, slope),
                ),
            ]
        for keep in (np.zeros_like(u, bool), np.ones_like(u, bool)):
            cases.append(
                ("masked_scale", (u, keep, t(2), new), 3, masked_scale_expected(u, keep, t(2)))
            )
        cases.append(("relu_forward", (u, new), 1, relu_expected(u)))
    for name, args, out_index, expected in cases:
        fast, twin = run_both(name, *args, out_index=out_index)
        np.testing.assert_array_equal(fast, twin, err_msg=name)
        np.testing.assert_array_equal(fast, expected, err_msg=name)


def test_masked_scale_rejects_a_mask_that_is_not_bool():
    """The kernel reads the mask's bytes as 0/1; a wider mask must not be misread."""
    x, out = np.ones(4, np.float32), np.empty(4, np.float32)
    for kernel in both("masked_scale"):
        with pytest.raises(ValueError, match="bool"):
            kernel(x, np.ones(4, np.int64), np.float32(2), out)


def _misfits():
    """(kernel, arguments) that do not fit together: each would index past an array
    without the kernel's guard (or, for the twin, broadcast)."""
    f = np.float64
    a1, a3, a5 = np.ones(1, f), np.ones(3, f), np.ones(5, f)
    z35, labels = np.ones((3, 5), f), np.array([0, 1, 4])
    keep = np.ones(3, bool)
    return [
        ("relu_forward", (a3, a5)),
        ("relu_forward", (a5, a3)),
        ("relu_forward", (a1, a3)),
        ("relu_backward", (a3, a5, a5)),
        ("relu_backward", (a5, a3, a5)),
        ("relu_backward", (a5, a5, a3)),
        ("leaky_relu_forward", (a5, f(0.1), a3)),
        ("leaky_relu_forward", (a1, f(0.1), a3)),
        ("leaky_relu_backward", (a3, a5, f(0.1), a5)),
        ("leaky_relu_backward", (a5, a3, f(0.1), a5)),
        ("leaky_relu_backward", (a5, a5, f(0.1), a3)),
        ("masked_scale", (a5, keep, f(2), a5)),
        ("masked_scale", (a3, keep, f(2), a5)),
        ("masked_scale", (a5, np.ones(5, bool), f(2), a3)),
        ("bias_add", (z35.copy(), a3)),
        ("bias_add", (z35.copy(), np.ones(7, f))),
        ("bias_add", (z35.copy(), a1)),
        ("column_sum", (z35, a3)),
        ("column_sum", (z35, np.ones(7, f))),
        ("softmax_cross_entropy_with_grad", (z35, np.array([0, 1]), np.empty_like(z35))),
        ("softmax_cross_entropy_with_grad", (z35, np.array([0, 1, 2, 3]), np.empty_like(z35))),
        ("softmax_cross_entropy_with_grad", (z35, labels, np.empty((3, 4), f))),
        ("softmax_cross_entropy_with_grad", (z35, np.array([0, 5, 1]), np.empty_like(z35))),
        ("softmax_cross_entropy_with_grad", (z35, np.array([0, -1, 1]), np.empty_like(z35))),
        ("softmax_cross_entropy_with_grad", (np.ones((3, 0), f), labels, np.ones((3, 0), f))),
        ("softmax_cross_entropy_with_grad", (np.ones((0, 5), f), labels[:0], np.ones((0, 5), f))),
        ("scaled_add", (a5.copy(), f(2), a3)),
        ("scaled_add", (a3.copy(), f(2), a5)),
        ("sgd_update", (a5.copy(), a3, a5.copy(), f(0.1), f(0), f(0), False, False)),
        ("sgd_update", (a5.copy(), a5, a3.copy(), f(0.1), f(0.9), f(0), False, False)),
        ("sgd_update", (a5.copy(), a5, np.empty(0, f), f(0.1), f(0.9), f(0), True, True)),
    ]


@pytest.mark.parametrize("case", range(len(_misfits())))
def test_kernels_and_twins_refuse_arrays_that_do_not_fit(case):
    """Whatever a caller passes, a kernel raises ValueError before its loop instead of
    reading or writing past an array; its twin raises the same instead of broadcasting."""
    name, args = _misfits()[case]
    for kernel in both(name):
        copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        with pytest.raises(ValueError, match=name):
            kernel(*copies)


# ----- sums and softmax cross-entropy: tight tolerance -------------------------------------


def assert_same_non_finite(actual, desired):
    """NaN in the same places, and the same ±Inf where either has an infinity."""
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(desired))
    infinite = np.isinf(actual) | np.isinf(desired)
    np.testing.assert_array_equal(actual[infinite], desired[infinite])


@pytest.mark.parametrize("specials", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_column_sum(shape, dtype, specials):
    g = random_array(shape, dtype, specials=specials)
    out_fast, out_twin = run_both("column_sum", g, np.full(shape[1], 7, dtype), out_index=1)
    with np.errstate(invalid="ignore"):
        exact = g.astype(np.float64).sum(axis=0)
    # a column with NaN, or with +Inf and -Inf, sums to NaN in any order; with one sign of
    # Inf, to that Inf
    assert_same_non_finite(out_fast, out_twin)
    assert_same_non_finite(out_fast, exact)
    finite = np.isfinite(exact)
    assert finite.any() or specials
    # Any order of summing n terms is within (n - 1)·u·Σ|g| of the exact sum (u = eps/2),
    # so two orders differ by at most n·eps·Σ|g| (the twin adds row by row, the
    # kernel four rows at a time).
    bound = shape[0] * np.finfo(dtype).eps * np.abs(g.astype(np.float64)).sum(axis=0)
    out_fast, out_twin, exact, bound = (a[finite] for a in (out_fast, out_twin, exact, bound))
    assert np.all(np.abs(out_fast - out_twin) <= bound)
    assert np.all(np.abs(out_fast - exact) <= bound / 2)
    # out is overwritten, not added to
    out = np.zeros(shape[1], dtype)
    kernels.numba_kernels.column_sum(g, out)
    first = out.copy()
    kernels.numba_kernels.column_sum(g, out)
    np.testing.assert_array_equal(out, first)


def _softmax_ce_both(z, labels, strict=True):
    """Both versions' (loss, dz); `strict`: under np.errstate(all='raise'), warnings as
    errors (for finite logits; NaN and Inf make the twin warn about NaN, rightly)."""
    fast, twin = both("softmax_cross_entropy_with_grad")
    dz_fast, dz_twin = np.full_like(z, 7), np.full_like(z, 7)
    with warnings.catch_warnings(), np.errstate(all="raise" if strict else "ignore"):
        warnings.simplefilter("error" if strict else "ignore")
        loss_fast = fast(z, labels, dz_fast)
        loss_twin = twin(z, labels, dz_twin)
    return (loss_fast, dz_fast), (loss_twin, dz_twin)


def _grad_atol(z):
    # (P - Y)/N is computed to an absolute accuracy of a few ulp of 1/N
    return 4 * np.finfo(z.dtype).eps / z.shape[0]


def _log_softmax_loss(z, labels):
    """-mean log softmax(z)[label], computed independently in float64."""
    z64 = z.astype(np.float64)
    with np.errstate(invalid="ignore"):
        log_p = z64 - z64.max(axis=1, keepdims=True)
        log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    return -log_p[np.arange(z.shape[0]), labels].mean()


@pytest.mark.parametrize("specials", [False, True])
@pytest.mark.parametrize("scale", [1.0, 10.0])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_softmax_cross_entropy_kernel_equals_twin_and_reference(shape, dtype, scale, specials):
    """Equal losses and gradients, with NaN in the same places when the logits hold NaN
    or ±Inf (random_array's: most rows hold one then; see also the next test)."""
    z = random_array(shape, dtype, scale=scale, with_zeros=False, specials=specials)
    labels = labels_for(shape, dtype)
    (loss_fast, dz_fast), (loss_twin, dz_twin) = _softmax_ce_both(z, labels, not specials)
    rtol = RTOL[dtype]
    np.testing.assert_allclose(loss_fast, loss_twin, rtol=rtol, atol=1e-300)
    np.testing.assert_allclose(dz_fast, dz_twin, rtol=rtol, atol=_grad_atol(z))
    assert dz_fast.dtype == dtype

    with np.errstate(invalid="ignore"):
        loss_ref, dz_ref = ref.softmax_cross_entropy_and_delta(z, labels)
    np.testing.assert_allclose(loss_fast, loss_ref, rtol=rtol, atol=1e-300)
    np.testing.assert_allclose(dz_fast, dz_ref, rtol=rtol, atol=_grad_atol(z))
    np.testing.assert_allclose(loss_fast, _log_softmax_loss(z, labels), rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("smoothing", [0.1, 1.0])
@pytest.mark.parametrize("specials", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_label_smoothed_cross_entropy_kernel_equals_twin_and_closed_form(
    shape, dtype, specials, smoothing
):
    """With smoothing ε: equal to the twin (NaN in the same places), and for finite logits
    to the float64 closed form J = mean_i -Σ_j T_ij log P_ij, ∂J/∂Z = (P - T)/N,
    T = (1 - ε) one-hot + ε/C."""
    z = random_array(shape, dtype, scale=10.0, with_zeros=False, specials=specials)
    labels = labels_for(shape, dtype)
    fast, twin = both("softmax_cross_entropy_with_grad")
    results = []
    for kernel in (fast, twin):
        dz = np.full_like(z, 7)
        with np.errstate(all="ignore" if specials else "raise"):
            results.append((kernel(z, labels, dz, smoothing), dz))
    (loss_fast, dz_fast), (loss_twin, dz_twin) = results
    rtol = RTOL[dtype]
    np.testing.assert_allclose(loss_fast, loss_twin, rtol=rtol, atol=1e-300)
    np.testing.assert_allclose(dz_fast, dz_twin, rtol=rtol, atol=_grad_atol(z))
    if specials:
        return
    n, c = shape
    z64 = z.astype(np.float64)
    log_p = z64 - z64.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    target = np.full(shape, smoothing / c)
    target[np.arange(n), labels] += 1 - smoothing
    np.testing.assert_allclose(loss_fast, -(target * log_p).sum(axis=1).mean(), rtol=rtol)
    np.testing.assert_allclose(dz_fast, (np.exp(log_p) - target) / n, atol=_grad_atol(z))


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_with_nan_and_inf_row_by_row(dtype):
    """One special case per row, as PyTorch: a row with a NaN or a +Inf logit has a NaN loss
    and gradient; -Inf logits away from the label are probabilities of 0 (finite); -Inf at
    the label makes the loss +Inf with a finite gradient; rows without specials stay
    finite."""
    nan, inf = np.nan, np.inf
    z = np.array(
        [
            [0.5, nan, 1.0],
            [0.5, inf, 1.0],
            [inf, 0.5, 1.0],
            [0.5, -inf, 1.0],
            [-inf, 0.5, 1.0],
            [-inf, -inf, -inf],
            [inf, inf, 0.0],
            [0.5, -1.0, 2.0],
        ],
        dtype=dtype,
    )
    labels = np.zeros(len(z), np.int64)
    (loss_fast, dz_fast), (loss_twin, dz_twin) = _softmax_ce_both(z, labels, strict=False)
    np.testing.assert_array_equal(np.isnan(dz_fast).all(axis=1), [1, 1, 1, 0, 0, 1, 1, 0])
    assert np.isfinite(dz_fast[[3, 4, 7]]).all()
    np.testing.assert_allclose(dz_fast, dz_twin, rtol=RTOL[dtype], atol=_grad_atol(z))
    assert np.isnan(loss_fast) and np.isnan(loss_twin)
    for row, loss in [(3, _log_softmax_loss(z[3:4], labels[3:4])), (4, inf), (7, None)]:
        one_fast, one_twin = _softmax_ce_both(z[row : row + 1], labels[:1], strict=False)
        np.testing.assert_allclose(one_fast[0], one_twin[0], rtol=RTOL[dtype])
        np.testing.assert_allclose(one_fast[1], one_twin[1], rtol=RTOL[dtype], atol=_grad_atol(z))
        if loss is not None:
            np.testing.assert_allclose(one_fast[0], loss, rtol=RTOL[dtype])
        assert np.isfinite(one_fast[1]).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(200, 100), (1, 10), (3, 7)])
def test_softmax_cross_entropy_huge_logits(shape, dtype):
    """Logits of ±1e4: finite, no warnings (under np.errstate(all='raise') too), correct."""
    rng = _rng(shape, dtype, 5)
    z = (rng.choice([-1e4, 1e4], shape) * rng.uniform(0.5, 1.0, shape)).astype(dtype)
    z[0, 0] = 1e4
    labels = labels_for(shape, dtype)
    labels[0] = 0  # one row whose label is the (huge) max: loss ≈ 0 there
    if shape[0] > 1:
        labels[1] = int(np.argmin(z[1]))  # and one whose label is far below the max
    (loss_fast, dz_fast), (loss_twin, dz_twin) = _softmax_ce_both(z, labels)
    for loss, dz in ((loss_fast, dz_fast), (loss_twin, dz_twin)):
        assert np.isfinite(loss) and np.isfinite(dz).all()
        assert loss >= 0
    # the closed form in float64 from the same (float32 or float64) logits
    z64 = z.astype(np.float64)
    m = z64.max(axis=1)
    n = shape[0]
    expected = np.mean(
        np.log(np.sum(np.exp(z64 - m[:, None]), axis=1)) - (z64[np.arange(n), labels] - m)
    )
    rtol = RTOL[dtype]
    np.testing.assert_allclose(loss_fast, expected, rtol=rtol)
    np.testing.assert_allclose(loss_twin, expected, rtol=rtol)
    p = np.exp(z64 - m[:, None])
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(n), labels] -= 1
    expected_dz = p / n
    np.testing.assert_allclose(dz_fast, expected_dz, rtol=rtol, atol=_grad_atol(z))
    np.testing.assert_allclose(dz_twin, expected_dz, rtol=rtol, atol=_grad_atol(z))
    loss_ref, dz_ref = ref.softmax_cross_entropy_and_delta(z, labels)
    np.testing.assert_allclose(loss_fast, loss_ref, rtol=rtol)
    np.testing.assert_allclose(dz_fast, dz_ref, rtol=rtol, atol=_grad_atol(z))
    # the gradient's rows sum to zero
    np.testing.assert_allclose(dz_fast.astype(np.float64).sum(axis=1), 0, atol=4 * _grad_atol(z))


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_layer_huge_logits_no_warnings(dtype, kernel_set):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3]], dtype=dtype)
    y = np.array([1, 2])
    for name in ("numba", "numpy"):
        kernels.select(name)
        logits = Tensor(z.copy(), requires_grad=True)
        with warnings.catch_warnings(), np.errstate(all="raise"):
            warnings.simplefilter("error")
            loss = nn.SoftmaxCrossEntropy()(logits, y)
            loss.backward()
        assert loss.dtype == dtype
        np.testing.assert_allclose(loss.item(), (2e4 + 5e3) / 2, rtol=RTOL[dtype])
        np.testing.assert_allclose(
            logits.grad, [[0.5, -0.5, 0], [0, 0.5, -0.5]], atol=_grad_atol(z)
        )


# ----- the weight-sized passes with NaN and ±Inf (finite values: tests/test_fused_updates.py) -


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [1, 7, 2000])
def test_scaled_add_with_nan_and_inf(size, dtype):
    acc = random_array((size,), dtype, specials=True)
    x = random_array((size,), dtype, extra=1, specials=True)
    factor = np.dtype(dtype).type(0.37)
    fast, twin = run_both("scaled_add", acc, factor, x, out_index=0)
    np.testing.assert_array_equal(fast, twin)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(fast, acc + factor * x)


@pytest.mark.parametrize("first", [True, False])
@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True)])
@pytest.mark.parametrize("weight_decay", [0.0, 5e-4])
@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_update_with_nan_and_inf(dtype, weight_decay, momentum, nesterov, first):
    theta, grad, velocity = (random_array((500,), dtype, extra=k, specials=True) for k in range(3))
    if not momentum:
        velocity = np.empty(0, dtype)
    s = np.dtype(dtype).type
    args = (s(0.05), s(momentum), s(weight_decay), nesterov, first)
    fast, twin = (run_both("sgd_update", theta, grad, velocity, *args, out_index=i) for i in (0, 2))
    np.testing.assert_array_equal(*fast)
    np.testing.assert_array_equal(*twin)
    assert np.isnan(fast[0]).any() and np.isinf(fast[0]).any()


# ----- the layers on each kernel set with NaN and ±Inf, against PyTorch ------------------------


def _layer_cases(dtype):
    """(name, our forward, torch's forward) with every pair of special values (and an
    upstream gradient holding them) in the pair test's layout."""
    torch = pytest.importorskip("torch")
    keep = np.resize([True, False, True], len(PAIR_VALUES) ** 2)
    mask_t = torch.from_numpy(keep)
    return [
        ("relu", lambda x: x.relu(), torch.relu),
        (
            "leaky_relu 0.01",
            lambda x: nn.LeakyReLU(0.01)(x),
            lambda x: torch.nn.functional.leaky_relu(x, 0.01),
        ),
        (
            "leaky_relu 0",
            lambda x: nn.LeakyReLU(0.0)(x),
            lambda x: torch.nn.functional.leaky_relu(x, 0.0),
        ),
        (
            "dropout",
            lambda x: nn.functional.dropout(x, 0.5, mask=keep),
            lambda x: x * mask_t * 2.0,
        ),  # what torch's native_dropout computes, on our mask
    ]


@pytest.mark.parametrize("set_name", ["numba", "numpy"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_layers_on_nan_and_inf_match_pytorch(dtype, set_name, kernel_set):
    """Forward on every special value and backward of every special upstream gradient at
    every special input: the same results, NaN in the same places, as PyTorch."""
    torch = pytest.importorskip("torch")
    kernels.select(set_name)
    u, v = value_pairs(dtype)
    for name, ours, theirs in _layer_cases(dtype):
        x = Tensor(v.copy(), requires_grad=True)
        x_t = torch.tensor(v, requires_grad=True)
        with np.errstate(all="ignore"):
            out = ours(x)
            out.backward(u)
        out_t = theirs(x_t)
        out_t.backward(torch.from_numpy(u))
        np.testing.assert_array_equal(out.data, out_t.detach().numpy(), err_msg=name)
        np.testing.assert_array_equal(x.grad, x_t.grad.numpy(), err_msg=name)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("upstream", [1.0, np.nan, 0.5])
@pytest.mark.parametrize("set_name", ["numba", "numpy"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_on_nan_and_inf_matches_pytorch(
    dtype, set_name, upstream, smoothing, kernel_set
):
    """The row-by-row cases of the kernel test, through the layer. (Not an infinite upstream
    gradient: PyTorch's unfused backward makes -∞ + ∞ = NaN at the label, where the fused
    (P - Y)/N · ∞ is -∞.)"""
    torch = pytest.importorskip("torch")
    kernels.select(set_name)
    nan, inf = np.nan, np.inf
    z = np.array(
        [
            [0.5, nan, 1.0],
            [0.5, inf, 1.0],
            [inf, 0.5, 1.0],
            [0.5, -inf, 1.0],
            [-inf, 0.5, 1.0],
            [-inf, -inf, -inf],
            [inf, inf, 0.0],
            [0.5, -1.0, 2.0],
        ],
        dtype=dtype,
    )
    for rows in (slice(None), [3, 7], [3, 4, 7], [7]):
        logits = Tensor(z[rows].copy(), requires_grad=True)
        labels = np.zeros(logits.shape[0], np.int64)
        with np.errstate(all="ignore"):
            loss = nn.CrossEntropyLoss(label_smoothing=smoothing)(logits, labels)
            assert type(loss._ctx).__name__ == "SoftmaxCrossEntropy"
            loss.backward(np.asarray(upstream, dtype))
        logits_t = torch.tensor(z[rows], requires_grad=True)
        loss_t = torch.nn.functional.cross_entropy(
            logits_t, torch.from_numpy(labels), label_smoothing=smoothing
        )
        loss_t.backward(torch.tensor(upstream, dtype=logits_t.dtype))
        rtol = RTOL[dtype] * 10
        np.testing.assert_allclose(loss.item(), loss_t.item(), rtol=rtol, err_msg=str(rows))
        np.testing.assert_allclose(
            logits.grad, logits_t.grad.numpy(), rtol=rtol, atol=_grad_atol(z), err_msg=str(rows)
        )


# ----- choosing the kernel set ------------------------------------------------------------------


def test_active_set_is_the_one_chosen_at_import():
    # numba by default; every test that switches sets restores it (kernel_set fixture)
    chosen = os.environ.get("TINYGRAD_HLCV_KERNELS", "numba")
    assert (
        kernels.active is {"numba": kernels.numba_kernels, "numpy": kernels.numpy_kernels}[chosen]
    )


def test_select_returns_and_activates_the_set(kernel_set):
    assert kernels.select("numpy") is kernels.numpy_kernels
    assert kernels.active is kernels.numpy_kernels
    assert kernels.select("numba") is kernels.numba_kernels
    assert kernels.active is kernels.numba_kernels


@pytest.mark.parametrize("bad", ["bad", "NUMPY", "", None])
def test_select_bad_raises_config_error(bad, kernel_set):
    before = kernels.active
    with pytest.raises(ConfigError, match="numba"):
        kernels.select(bad)
    assert kernels.active is before


def _small_net(dtype, activation):
    gen = np.random.default_rng(0)
    act = nn.ReLU() if activation == "relu" else nn.LeakyReLU(0.1)
    return nn.Sequential(
        nn.Linear(6, 5, dtype=dtype, generator=gen),
        act,
        nn.Dropout(0.5, generator=np.random.default_rng(1)),
        nn.Linear(5, 4, dtype=dtype, generator=gen),
    )


def _loss_and_grads(dtype, activation):
    model = _small_net(dtype, activation)
    data = np.random.default_rng(2)
    x = Tensor(data.standard_normal((8, 6)).astype(dtype))
    y = data.integers(0, 4, 8)
    loss = nn.SoftmaxCrossEntropy()(model(x), y) + nn.l2_penalty(model, 0.1)
    loss.backward()
    return loss.item(), {name: p.grad.copy() for name, p in model.named_parameters()}


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_layers_use_the_selected_set(dtype, activation, kernel_set, monkeypatch):
    calls = {"numba": set(), "numpy": set()}
    for set_name, namespace in (("numba", kernels.numba_kernels), ("numpy", kernels.numpy_kernels)):
        for name in kernels.KERNEL_NAMES:
            original = getattr(namespace, name)

            def spy(*args, _original=original, _name=name, _set=set_name):
                calls[_set].add(_name)
                return _original(*args)

            monkeypatch.setattr(namespace, name, spy)

    kernels.select("numpy")
    loss_twin, grads_twin = _loss_and_grads(dtype, activation)
    used = (
        {"relu_forward", "relu_backward"}
        if activation == "relu"
        else {"leaky_relu_forward", "leaky_relu_backward"}
    )
    used |= {
        "masked_scale",
        "bias_add",
        "column_sum",
        "softmax_cross_entropy_with_grad",
        "scaled_add",
    }  # the L2 penalty's 2λW joins dW through scaled_add
    assert calls["numpy"] == used
    assert calls["numba"] == set()

    calls["numpy"].clear()
    kernels.select("numba")
    loss_fast, grads_fast = _loss_and_grads(dtype, activation)
    assert calls["numba"] == used
    assert calls["numpy"] == set()

    rtol = RTOL[dtype]
    np.testing.assert_allclose(loss_fast, loss_twin, rtol=rtol)
    assert grads_fast.keys() == grads_twin.keys() and len(grads_fast) == 4
    for name in grads_fast:
        assert grads_fast[name].dtype == dtype
        np.testing.assert_allclose(
            grads_fast[name],
            grads_twin[name],
            rtol=rtol,
            atol=10 * np.finfo(dtype).eps,
            err_msg=name,
        )


def _import_in_subprocess(value):
    env = {k: v for k, v in os.environ.items() if k != "TINYGRAD_HLCV_KERNELS"}
    if value is not None:
        env["TINYGRAD_HLCV_KERNELS"] = value
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    code = (
        "import tinygrad_hlcv.kernels as k; "
        "print('numpy' if k.active is k.numpy_kernels else "
        "'numba' if k.active is k.numba_kernels else 'other')"
    )
    return subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_environment_variable_selects_the_twins_at_import():
    result = _import_in_subprocess("numpy")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "numpy"


def test_without_environment_variable_numba_is_selected():
    result = _import_in_subprocess(None)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "numba"


def test_bad_environment_variable_fails_at_import():
    result = _import_in_subprocess("cuda")
    assert result.returncode != 0
    assert "ConfigError" in result.stderr and "'cuda'" in result.stderr


def test_package_reexports_kernels():
    assert tg.kernels is kernels
