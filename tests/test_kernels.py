"""The Numba kernels against their NumPy twins, softmax cross-entropy against the reference,
and choosing the kernel set (kernels.select, TINYGRAD_HLCV_KERNELS)."""
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


def _rng(shape, dtype, extra=0):
    """A generator seeded by the case (str hashes vary between runs; crc32 does not)."""
    return np.random.default_rng(zlib.crc32(repr((shape, np.dtype(dtype).name, extra)).encode()))


def random_array(shape, dtype, scale=2.0, extra=0, with_zeros=True):
    """Normal entries, a few of them exactly zero (the ReLU kink)."""
    rng = _rng(shape, dtype, extra)
    a = (scale * rng.standard_normal(shape)).astype(dtype)
    if with_zeros and a.size > 2:
        a.flat[rng.choice(a.size, max(1, a.size // 20), replace=False)] = 0
    return a


def labels_for(shape, dtype):
    n, c = shape
    return _rng(shape, dtype, 7).integers(0, c, n).astype(np.int64)


def both(name):
    return getattr(kernels.numba_kernels, name), getattr(kernels.numpy_kernels, name)


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
        assert hasattr(fast, "py_func")       # a numba dispatcher
        assert not hasattr(twin, "py_func")   # plain NumPy


# ----- element-wise kernels: exact -----------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_relu_forward(shape, dtype):
    z = random_array(shape, dtype).reshape(-1)
    fast, twin = both("relu_forward")
    out_fast, out_twin = np.full_like(z, np.nan), np.full_like(z, np.nan)
    fast(z, out_fast)
    twin(z, out_twin)
    np.testing.assert_array_equal(out_fast, out_twin)
    np.testing.assert_array_equal(out_fast, np.where(z > 0, z, 0))
    assert out_fast.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_relu_backward(shape, dtype):
    a = np.maximum(random_array(shape, dtype), 0).reshape(-1)
    g = random_array(shape, dtype, extra=1, with_zeros=False).reshape(-1)
    fast, twin = both("relu_backward")
    out_fast, out_twin = np.full_like(g, np.nan), np.full_like(g, np.nan)
    fast(g, a, out_fast)
    twin(g, a, out_twin)
    np.testing.assert_array_equal(out_fast, out_twin)
    np.testing.assert_array_equal(out_fast, np.where(a > 0, g, 0))  # 0 at the kink


@pytest.mark.parametrize("slope", [0.01, 0.3])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_leaky_relu_forward(shape, dtype, slope):
    z = random_array(shape, dtype).reshape(-1)
    s = np.dtype(dtype).type(slope)
    fast, twin = both("leaky_relu_forward")
    out_fast, out_twin = np.full_like(z, np.nan), np.full_like(z, np.nan)
    fast(z, s, out_fast)
    twin(z, s, out_twin)
    np.testing.assert_array_equal(out_fast, out_twin)
    np.testing.assert_array_equal(out_fast, np.where(z > 0, z, z * s))


@pytest.mark.parametrize("slope", [0.01, 0.3])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_leaky_relu_backward(shape, dtype, slope):
    z = random_array(shape, dtype).reshape(-1)
    g = random_array(shape, dtype, extra=1, with_zeros=False).reshape(-1)
    s = np.dtype(dtype).type(slope)
    fast, twin = both("leaky_relu_backward")
    out_fast, out_twin = np.full_like(g, np.nan), np.full_like(g, np.nan)
    fast(g, z, s, out_fast)
    twin(g, z, s, out_twin)
    np.testing.assert_array_equal(out_fast, out_twin)
    np.testing.assert_array_equal(out_fast, np.where(z > 0, g, g * s))  # slope at the kink


@pytest.mark.parametrize("p", [0.25, 0.5])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_masked_scale(shape, dtype, p):
    x = random_array(shape, dtype).reshape(-1)
    mask = _rng(shape, dtype, 3).random(x.size) >= p
    scale = np.dtype(dtype).type(1.0 / (1.0 - p))
    fast, twin = both("masked_scale")
    out_fast, out_twin = np.full_like(x, np.nan), np.full_like(x, np.nan)
    fast(x, mask, scale, out_fast)
    twin(x, mask, scale, out_twin)
    np.testing.assert_array_equal(out_fast, out_twin)
    np.testing.assert_array_equal(out_fast, np.where(mask, x * scale, 0))


def test_masked_scale_rejects_a_mask_that_is_not_bool():
    """The kernel reads the mask's bytes as 0/1; a wider mask must not be misread."""
    x, out = np.ones(4, np.float32), np.empty(4, np.float32)
    with pytest.raises(ValueError, match="bool"):
        kernels.numba_kernels.masked_scale(x, np.ones(4, np.int64), np.float32(2), out)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_bias_add(shape, dtype):
    z = random_array(shape, dtype)
    b = random_array((shape[1],), dtype, extra=2)
    fast, twin = both("bias_add")
    z_fast, z_twin = z.copy(), z.copy()
    fast(z_fast, b)
    twin(z_twin, b)
    np.testing.assert_array_equal(z_fast, z_twin)
    np.testing.assert_array_equal(z_fast, z + b)
    assert z_fast.dtype == dtype


# ----- sums and softmax cross-entropy: tight tolerance -------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_column_sum(shape, dtype):
    g = random_array(shape, dtype)
    fast, twin = both("column_sum")
    out_fast, out_twin = np.full(shape[1], np.nan, dtype), np.full(shape[1], np.nan, dtype)
    fast(g, out_fast)
    twin(g, out_twin)
    # Any order of summing n terms is within (n - 1)·u·Σ|g| of the exact sum (u = eps/2),
    # so two orders differ by at most n·eps·Σ|g| (the twin adds row by row, the
    # kernel four rows at a time).
    bound = shape[0] * np.finfo(dtype).eps * np.abs(g.astype(np.float64)).sum(axis=0)
    exact = g.astype(np.float64).sum(axis=0)
    assert np.all(np.abs(out_fast - out_twin) <= bound)
    assert np.all(np.abs(out_fast - exact) <= bound / 2)
    # out is overwritten, not added to
    first = out_fast.copy()
    fast(g, out_fast)
    np.testing.assert_array_equal(out_fast, first)


def _softmax_ce_both(z, labels):
    fast, twin = both("softmax_cross_entropy")
    dz_fast, dz_twin = np.full_like(z, np.nan), np.full_like(z, np.nan)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        loss_fast = fast(z, labels, dz_fast)
        loss_twin = twin(z, labels, dz_twin)
    return (loss_fast, dz_fast), (loss_twin, dz_twin)


def _grad_atol(z):
    # (P - Y)/N is computed to an absolute accuracy of a few ulp of 1/N
    return 4 * np.finfo(z.dtype).eps / z.shape[0]


@pytest.mark.parametrize("scale", [1.0, 10.0])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_softmax_cross_entropy_kernel_equals_twin_and_reference(shape, dtype, scale):
    z = random_array(shape, dtype, scale=scale, with_zeros=False)
    labels = labels_for(shape, dtype)
    (loss_fast, dz_fast), (loss_twin, dz_twin) = _softmax_ce_both(z, labels)
    rtol = RTOL[dtype]
    np.testing.assert_allclose(loss_fast, loss_twin, rtol=rtol, atol=1e-300)
    np.testing.assert_allclose(dz_fast, dz_twin, rtol=rtol, atol=_grad_atol(z))
    assert dz_fast.dtype == dtype

    loss_ref, dz_ref = ref.softmax_cross_entropy(z, labels)
    np.testing.assert_allclose(loss_fast, loss_ref, rtol=rtol, atol=1e-300)
    np.testing.assert_allclose(dz_fast, dz_ref, rtol=rtol, atol=_grad_atol(z))
    # and the loss is -mean log softmax computed independently in float64
    z64 = z.astype(np.float64)
    log_p = z64 - z64.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(loss_fast, -log_p[np.arange(shape[0]), labels].mean(),
                               rtol=rtol, atol=1e-12)


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
    expected = np.mean(np.log(np.sum(np.exp(z64 - m[:, None]), axis=1))
                       - (z64[np.arange(n), labels] - m))
    rtol = RTOL[dtype]
    np.testing.assert_allclose(loss_fast, expected, rtol=rtol)
    np.testing.assert_allclose(loss_twin, expected, rtol=rtol)
    p = np.exp(z64 - m[:, None])
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(n), labels] -= 1
    expected_dz = p / n
    np.testing.assert_allclose(dz_fast, expected_dz, rtol=rtol, atol=_grad_atol(z))
    np.testing.assert_allclose(dz_twin, expected_dz, rtol=rtol, atol=_grad_atol(z))
    loss_ref, dz_ref = ref.softmax_cross_entropy(z, labels)
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
        np.testing.assert_allclose(logits.grad, [[0.5, -0.5, 0], [0, 0.5, -0.5]],
                                   atol=_grad_atol(z))


# ----- choosing the kernel set ------------------------------------------------------------------


def test_active_set_is_the_one_chosen_at_import():
    # numba by default; every test that switches sets restores it (kernel_set fixture)
    chosen = os.environ.get("TINYGRAD_HLCV_KERNELS", "numba")
    assert kernels.active is {"numba": kernels.numba_kernels,
                              "numpy": kernels.numpy_kernels}[chosen]


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
    return nn.Sequential(nn.Linear(6, 5, dtype=dtype, generator=gen), act,
                         nn.Dropout(0.5, generator=np.random.default_rng(1)),
                         nn.Linear(5, 4, dtype=dtype, generator=gen))


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
    for set_name, namespace in (("numba", kernels.numba_kernels),
                                ("numpy", kernels.numpy_kernels)):
        for name in kernels.KERNEL_NAMES:
            original = getattr(namespace, name)

            def spy(*args, _original=original, _name=name, _set=set_name):
                calls[_set].add(_name)
                return _original(*args)
            monkeypatch.setattr(namespace, name, spy)

    kernels.select("numpy")
    loss_twin, grads_twin = _loss_and_grads(dtype, activation)
    used = {"relu_forward", "relu_backward"} if activation == "relu" else \
        {"leaky_relu_forward", "leaky_relu_backward"}
    used |= {"masked_scale", "bias_add", "column_sum", "softmax_cross_entropy",
             "scaled_add"}  # the L2 penalty's 2λW joins dW through scaled_add
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
        np.testing.assert_allclose(grads_fast[name], grads_twin[name], rtol=rtol,
                                   atol=10 * np.finfo(dtype).eps, err_msg=name)


def _import_in_subprocess(value):
    env = {k: v for k, v in os.environ.items() if k != "TINYGRAD_HLCV_KERNELS"}
    if value is not None:
        env["TINYGRAD_HLCV_KERNELS"] = value
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    code = ("import tinygrad_hlcv.kernels as k; "
            "print('numpy' if k.active is k.numpy_kernels else "
            "'numba' if k.active is k.numba_kernels else 'other')")
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


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
