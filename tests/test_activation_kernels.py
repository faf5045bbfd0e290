"""GELU's kernels (activation_kernels) against their NumPy twins and against float64
references: float32 results within 1 ulp of x·Φ(x) and Φ(x) + x·φ(x) computed in float64
with math.erfc and math.exp and rounded (the backward's error near its zero at x ≈ -0.7518
bounded in absolute terms instead), over float32 spread across every exponent
(GELU_ACCURACY_POINTS, 10^6 by default; 10^7 takes a minute); NaN, ±Inf, ±0, subnormal and
huge inputs with the NaNs and signs of the old math.erf formula; _exp and the fitted P on
their own.
"""

import math
import os

import numpy as np
import pytest

from tinygrad_hlcv import activation_kernels as ak

POINTS = int(os.environ.get("GELU_ACCURACY_POINTS", 10**6))
SPECIAL_INPUTS = (
    np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, -1e-45, 1e-40, -3e-39, 1.2e-38, -1.2e-38,
    3.4e38, -3.4e38, 1e20, -1e20, 40.0, -40.0, 14.0, -14.0, -0.7517915, 1.0, -1.0,
)  # fmt: skip


def float32_grid(n):
    """n float32: 0.8n spread evenly over the bit patterns of [-16, 16] (every exponent, the
    subnormals, both zeros), 0.2n uniform in [-6, 6] where GELU's inputs mostly are."""
    top = int(np.float32(16).view(np.int32))
    bits = np.linspace(0, top, 2 * n // 5, dtype=np.int64).astype(np.int32)
    magnitudes = bits.view(np.float32)
    uniform = np.random.default_rng(0).uniform(-6, 6, n // 5).astype(np.float32)
    return np.concatenate([magnitudes, -magnitudes, uniform])


def ordered(a):
    """float32 bits as integers in the order of the values (so a difference counts ulps)."""
    i = a.view(np.int32).astype(np.int64)
    return np.where(i < 0, -(i & 0x7FFFFFFF), i)


def ulps(a, b):
    return np.abs(ordered(a) - ordered(b))


_erfc = np.frompyfunc(math.erfc, 1, 1)
_erf = np.frompyfunc(math.erf, 1, 1)


def reference_forward(x):
    """x·Φ(x) in float64 by math.erfc (accurate in both tails), rounded to x's dtype."""
    x64 = x.astype(np.float64)
    return (x64 * (0.5 * _erfc(-x64 * ak.SQRT_HALF).astype(np.float64))).astype(x.dtype)


def reference_backward(x):
    """Φ(x) + x·φ(x) in float64 by math.erfc and exp, rounded to x's dtype."""
    x64 = x.astype(np.float64)
    cdf = 0.5 * _erfc(-x64 * ak.SQRT_HALF).astype(np.float64)
    with np.errstate(invalid="ignore"):
        return (cdf + x64 * (ak.INV_SQRT_2PI * np.exp(-0.5 * x64 * x64))).astype(x.dtype)


CANCELLATION = 4e-14  # Φ's relative error bound, times the terms Φ(x) and |x|·φ(x)


def backward_terms(x64):
    """Φ(x) + |x|·φ(x): what Φ(x) + x·φ(x) sums before it cancels (to 0 at x ≈ -0.7518)."""
    cdf = 0.5 * _erfc(-x64 * ak.SQRT_HALF).astype(np.float64)
    with np.errstate(invalid="ignore"):
        return cdf + np.abs(x64) * (ak.INV_SQRT_2PI * np.exp(-0.5 * x64 * x64))


def assert_within_one_ulp_or(out, reference, slack):
    """|out - reference| ≤ 1 ulp, or ≤ slack (float64 numbers) where that is larger."""
    off = ulps(out, reference)
    with np.errstate(invalid="ignore"):  # inf - inf: then off is 0
        gap = np.abs(out.astype(np.float64) - reference.astype(np.float64))
    bad = (off > 1) & ~(gap <= slack)
    assert not bad.any(), (out[bad], reference[bad], slack[bad])


def run(kernels, name, x, g=None):
    out = np.empty_like(x)
    with np.errstate(invalid="ignore"):
        if name == "gelu_forward":
            getattr(kernels, name)(x, out)
        else:
            getattr(kernels, name)(np.ones_like(x) if g is None else g, x, out)
    return out


@pytest.fixture(scope="module")
def grid():
    return float32_grid(POINTS)


@pytest.mark.parametrize("name", ["gelu_forward", "gelu_backward"])
def test_float32_within_one_ulp_of_the_float64_reference(grid, name):
    reference = (reference_forward if name == "gelu_forward" else reference_backward)(grid)
    slack = np.zeros(grid.size)
    if name == "gelu_backward":
        slack = CANCELLATION * backward_terms(grid.astype(np.float64))
    for kernels in (ak.numba_kernels, ak.numpy_kernels):
        out = run(kernels, name, grid)
        assert_within_one_ulp_or(out, reference, slack)
        assert np.count_nonzero(out != reference) <= 1e-5 * grid.size  # nearly always exact


@pytest.mark.parametrize("name", ["gelu_forward", "gelu_backward"])
def test_float32_kernels_and_twins_within_one_ulp(grid, name):
    """The kernels may fuse multiply-adds (fastmath "contract"); the twins do not."""
    g = np.random.default_rng(1).standard_normal(grid.size).astype(np.float32)
    ours, twin = run(ak.numba_kernels, name, grid, g), run(ak.numpy_kernels, name, grid, g)
    assert ulps(ours, twin).max() <= 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["gelu_forward", "gelu_backward"])
def test_special_inputs(dtype, name):
    """NaN, ±Inf, ±0, subnormal and huge inputs and gradients: NaN and the sign where the
    old formula (0.5·x·(1 + erf(x/√2)), its derivative; float64 still uses it) has them;
    float32 values within 1 ulp of the erfc reference, which the old formula is not in the
    far left tail, where 1 + erf cancels (at x = -14 it gives -0.0, not -1.1e-43)."""
    x = np.array(SPECIAL_INPUTS, dtype=dtype)
    g = np.resize(np.array([1.0, -2.0, np.nan, np.inf, 0.0, 1e-45], dtype=dtype), x.size)
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    erf = _erf(x64 * ak.SQRT_HALF).astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        if name == "gelu_forward":
            old = (0.5 * x64 * (1.0 + erf)).astype(dtype)
            reference = reference_forward(x)
        else:
            pdf = ak.INV_SQRT_2PI * np.exp(-0.5 * x64 * x64)
            old = (g64 * (0.5 * (1.0 + erf) + x64 * pdf)).astype(dtype)
            reference = (g64 * reference_backward(x64)).astype(dtype)
    number = ~np.isnan(old)
    for kernels in (ak.numba_kernels, ak.numpy_kernels):
        out = run(kernels, name, x, g)
        np.testing.assert_array_equal(np.isnan(out), np.isnan(old))
        np.testing.assert_array_equal(np.signbit(out[number]), np.signbit(old[number]))
        if dtype == np.float32 and name == "gelu_forward":
            assert ulps(out[number], reference[number]).max() <= 1
        elif dtype == np.float32:
            slack = CANCELLATION * np.abs(g64) * backward_terms(x64)
            assert_within_one_ulp_or(out[number], reference[number], slack[number])
        else:
            np.testing.assert_array_equal(out, old)  # float64: the same math.erf formula


@pytest.mark.parametrize("name", ["gelu_forward", "gelu_backward"])
def test_float64_is_the_math_erf_formula(name):
    x = np.random.default_rng(2).standard_normal(10_000) * 4
    erf = _erf(x * ak.SQRT_HALF).astype(np.float64)
    if name == "gelu_forward":
        expected = 0.5 * x * (1.0 + erf)
    else:
        expected = 0.5 * (1.0 + erf) + x * (ak.INV_SQRT_2PI * np.exp(-0.5 * x * x))
    for kernels in (ak.numba_kernels, ak.numpy_kernels):
        np.testing.assert_array_equal(run(kernels, name, x), expected)


def test_backward_at_the_zero_of_its_derivative():
    """Every float32 within 1e-4 of x0 ≈ -0.7518, where Φ(x) = -x·φ(x) and the sum loses
    all its digits: there the error is at most 4e-14 of the terms (the closest float32 has
    a derivative of 5e-9, and 10 ulp of error), elsewhere 1 ulp."""
    x0 = np.float32(-0.7517915246935645)
    bits = np.arange(-1700, 1700) + x0.view(np.int32)
    x = bits.astype(np.int32).view(np.float32)
    assert x.min() < x0 - 1e-4 and x.max() > x0 + 1e-4
    for kernels in (ak.numba_kernels, ak.numpy_kernels):
        out = run(kernels, "gelu_backward", x)
        slack = CANCELLATION * backward_terms(x.astype(np.float64))
        assert_within_one_ulp_or(out, reference_backward(x), slack)
        assert np.count_nonzero(ulps(out, reference_backward(x)) > 1) < 0.05 * x.size


def test_the_float32_tail_beats_one_plus_erf():
    """Far left, 1 + erf(x/√2) cancels to 0 in float64; erfc keeps x·Φ(x) to the ulp."""
    x = np.array([-9.0, -12.0, -14.0], dtype=np.float32)
    out = run(ak.numba_kernels, "gelu_forward", x)
    assert np.all(out < 0) and ulps(out, reference_forward(x)).max() <= 1


@pytest.mark.parametrize("name", ["gelu_forward", "gelu_backward"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_and_twins_refuse_arrays_that_do_not_fit(name, dtype):
    x, short = np.ones(5, dtype), np.ones(4, dtype)
    calls = [(x, short)] if name == "gelu_forward" else [(x, x, short), (short, x, x)]
    for kernels in (ak.numba_kernels, ak.numpy_kernels):
        for args in calls:
            with pytest.raises(ValueError, match=name):
                getattr(kernels, name)(*args)


def test_exp_against_math_exp():
    y = np.concatenate([-np.geomspace(1e-300, 708, 200_000), [0.0, -0.0, -1e-320]])
    ours = np.array([ak._exp(v) for v in y[:2000]] + list(ak._exp_numpy(y[2000:])))
    expected = np.exp(y)
    assert np.max(np.abs(ours / expected - 1)) < 1e-15
    special = np.array([-708.5, -1e4, -np.inf, np.nan])
    np.testing.assert_array_equal(ak._exp_numpy(special), [0.0, 0.0, 0.0, np.nan])
    assert [ak._exp(v) for v in special[:3]] == [0.0, 0.0, 0.0] and math.isnan(ak._exp(np.nan))


def test_erfcx_fit():
    """P(y) = erfcx(a)/t = 1 + (1 - y)·R(y), t = 2/(2 + a), y = 2t - 1, within 3e-14 of mpmath;
    the stored coefficients of R are what the fit described in activation_kernels gives."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40

    def p_exact(y):
        t = (mpmath.mpf(float(y)) + 1) / 2
        if t == 0:
            return 1 / (2 * mpmath.sqrt(mpmath.pi))
        a = 2 / t - 2
        return mpmath.erfc(a) * mpmath.exp(a * a) / t

    def p_fitted(coeffs, y):
        r = np.full_like(y, coeffs[-1])
        for c in coeffs[-2::-1]:
            r = r * y + c
        return 1.0 + (1.0 - y) * r

    nodes = np.cos(np.pi * (np.arange(400) + 0.5) / 400)  # never 1: R(y) = (P - 1)/(1 - y)
    p_nodes = [p_exact(y) for y in nodes]
    r_nodes = [float((p - 1) / (1 - mpmath.mpf(float(y)))) for p, y in zip(p_nodes, nodes)]
    weights = (1 - nodes) / np.array([float(p) for p in p_nodes])
    cheb = np.polynomial.chebyshev.chebfit(nodes, r_nodes, 19, w=weights)
    refit = np.polynomial.chebyshev.cheb2poly(cheb)
    y = np.linspace(-1, 1, 4001)
    exact = np.array([float(p_exact(v)) for v in y])
    assert np.max(np.abs(p_fitted(ak.ERFCX_COEFFS, y) / exact - 1)) < 3e-14
    np.testing.assert_allclose(p_fitted(refit, y), p_fitted(ak.ERFCX_COEFFS, y), rtol=1e-14)
    assert p_fitted(ak.ERFCX_COEFFS, np.array([1.0]))[0] == 1.0
