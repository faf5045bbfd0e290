"""Winograd F(2×2, 3×3) (tinygrad_hlcv/winograd.py): the four transform kernels against their
NumPy twins (NaN and ±Inf included, odd sizes, paddings 0-2), the convolution and its input
and weight gradients against the direct im2col path (float64 to 1e-10, float32 to a bound
scaled by the sizes involved), against central differences and PyTorch, the fallback on
non-finite results, the refusal of misfit arrays, and which convolutions it takes."""

from unittest import mock

import numpy as np
import pytest

from tinygrad_hlcv import Tensor, conv, kernels, winograd

SPECIALS = (np.nan, np.inf, -np.inf)
# (N, C, O, H, W, padding (top, bottom, left, right)): odd and even sides, one-pixel
# images, asymmetric padding, an output of one row.
CASES = [
    (2, 3, 4, 5, 6, (1, 1, 1, 1)),
    (3, 2, 5, 7, 4, (0, 0, 0, 0)),
    (1, 1, 1, 3, 3, (0, 0, 0, 0)),
    (2, 4, 3, 6, 9, (2, 1, 0, 2)),
    (1, 2, 2, 1, 1, (1, 1, 1, 1)),
    (2, 3, 2, 8, 3, (0, 1, 1, 0)),
]


def randn(shape, seed, dtype=np.float64, specials=False):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape).astype(dtype)
    if specials:
        for i, spot in enumerate(rng.choice(a.size, min(a.size, 3), replace=False)):
            a.flat[spot] = SPECIALS[i % 3]
    return a


def tiles(case):
    n, c, o, h, w, (pt, pb, pl, pr) = case
    return (h + pt + pb - 1) // 2, (w + pl + pr - 1) // 2


def direct(x, w, g, padding):
    """y, dx, dw by the direct path: conv.Conv2d's im2col + GEMM."""
    op = conv.Conv2d()
    op.needs_input_grad, op.parents = (True, True), (x, w)
    with mock.patch.object(winograd, "suits", lambda *args: False):
        y = op.forward(x, w, None, (1, 1), padding)
    assert not op.winograd
    dx, dw = op.backward(g) if g is not None else (None, None)
    return y, dx, dw


def kernel_calls(case, dtype, specials):
    """name -> (arguments, index of the output argument) for one case."""
    n, c, o, h, w, (pt, pb, pl, pr) = case
    th, tw = tiles(case)
    ho, wo = h + pt + pb - 2, w + pl + pr - 2
    x = randn((n, c, h, w), 1, dtype, specials)
    v = randn((16, c, n, th, tw), 2, dtype, specials)
    m = randn((16, o, n, th, tw), 3, dtype, specials)
    g = randn((n, o, ho, wo), 4, dtype, specials)
    return {
        "input_transform": ((x, pt, pl, np.empty_like(v)), 3),
        "input_transform_adjoint": ((v, pt, pl, np.empty_like(x)), 3),
        "output_transform": ((m, np.empty_like(g)), 1),
        "output_transform_adjoint": ((g, np.empty_like(m)), 1),
    }


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("specials", [False, True])
def test_transform_kernels_match_their_twins(case, dtype, specials):
    for name, (args, out) in kernel_calls(case, dtype, specials).items():
        ours = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        twin = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        ours[out][...], twin[out][...] = 7, -7  # every entry must be written
        getattr(winograd.numba_kernels, name)(*ours)
        with np.errstate(invalid="ignore"):
            getattr(winograd.numpy_kernels, name)(*twin)
        tol = 1e-12 if dtype == np.float64 else 1e-5
        np.testing.assert_allclose(ours[out], twin[out], rtol=tol, atol=tol, err_msg=name)


@pytest.mark.parametrize("name", winograd.KERNEL_NAMES)
def test_kernels_and_twins_refuse_arrays_that_do_not_fit(name):
    args, out = kernel_calls(CASES[0], np.float64, False)[name]
    bad = list(args)
    shape = args[out].shape
    bad[out] = np.empty(shape[:1] + (shape[1] + 1,) + shape[2:])  # one channel too many
    for kernel_set in (winograd.numba_kernels, winograd.numpy_kernels):
        with pytest.raises(ValueError, match="winograd"):
            getattr(kernel_set, name)(*bad)
    if name.startswith("input"):
        for kernel_set in (winograd.numba_kernels, winograd.numpy_kernels):
            with pytest.raises(ValueError, match="winograd"):
                getattr(kernel_set, name)(args[0], -1, 0, args[3])


@pytest.fixture(params=["numba", "numpy"])
def kernel_set(request):
    previous = "numpy" if kernels.active is kernels.numpy_kernels else "numba"
    kernels.select(request.param)
    yield request.param
    kernels.select(previous)


@pytest.mark.parametrize("case", CASES)
def test_float64_matches_the_direct_path(case, kernel_set):
    n, c, o, h, w, padding = case
    x, wt = randn((n, c, h, w), 5), randn((o, c, 3, 3), 6)
    y, _, _ = direct(x, wt, None, padding)
    g = randn(y.shape, 7)
    _, dx, dw = direct(x, wt, g, padding)
    ours = winograd.conv3x3(x, wt, padding)
    dx_w, dw_w = winograd.conv3x3_backward(g, x, wt, padding, True, True)
    for a, b in ((ours, y), (dx_w, dx), (dw_w, dw)):
        assert a.shape == b.shape and a.dtype == np.float64
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * np.abs(b).max())


@pytest.mark.parametrize("case", CASES)
def test_float32_is_within_a_few_roundings_of_the_direct_path(case):
    """Both paths round each of a sum's terms: the error of either is at most a few float32
    epsilons times the same sum of absolute values, Σ|w||x| (the direct path on |x|, |w|).
    Winograd's transforms add at most 4 + 4 + 4 terms of at most 4× the size before and after
    the GEMM (coefficients 1 and ½), so 64 ε of that scale bounds the difference."""
    n, c, o, h, w, padding = case
    x, wt = randn((n, c, h, w), 8, np.float32), randn((o, c, 3, 3), 9, np.float32)
    y, _, _ = direct(x, wt, None, padding)
    g = randn(y.shape, 10, np.float32)
    _, dx, dw = direct(x, wt, g, padding)
    x64, w64, g64 = (np.abs(a).astype(np.float64) for a in (x, wt, g))
    scale_y, _, _ = direct(x64, w64, None, padding)
    _, scale_dx, scale_dw = direct(x64, w64, g64, padding)
    ours = winograd.conv3x3(x, wt, padding)
    dx_w, dw_w = winograd.conv3x3_backward(g, x, wt, padding, True, True)
    eps = np.finfo(np.float32).eps
    for a, b, scale in ((ours, y, scale_y), (dx_w, dx, scale_dx), (dw_w, dw, scale_dw)):
        assert a.dtype == np.float32
        assert np.all(np.abs(a.astype(np.float64) - b) <= 64 * eps * scale + 1e-30)


def test_gradients_match_central_differences():
    n, c, o, h, w, padding = CASES[3]
    x, wt = randn((n, c, h, w), 11), randn((o, c, 3, 3), 12)
    r = randn(winograd.conv3x3(x, wt, padding).shape, 13)  # J = Σ r·y
    dx, dw = winograd.conv3x3_backward(r, x, wt, padding, True, True)
    for array, grad in ((x, dx), (wt, dw)):
        numeric = np.empty_like(array)
        for i in range(array.size):
            saved = array.flat[i]
            array.flat[i] = saved + 1e-6
            up = np.sum(r * winograd.conv3x3(x, wt, padding))
            array.flat[i] = saved - 1e-6
            down = np.sum(r * winograd.conv3x3(x, wt, padding))
            array.flat[i] = saved
            numeric.flat[i] = (up - down) / 2e-6
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 1e-4)])
def test_matches_pytorch(dtype, tol):
    torch = pytest.importorskip("torch")
    n, c, o, h, w, (pt, pb, pl, pr) = CASES[0]
    x, wt = randn((n, c, h, w), 14, dtype), randn((o, c, 3, 3), 15, dtype)
    tx, tw = (torch.tensor(a, requires_grad=True) for a in (x, wt))
    ty = torch.nn.functional.conv2d(tx, tw, padding=(pt, pl))
    g = randn(tuple(ty.shape), 16, dtype)
    ty.backward(torch.tensor(g))
    dx, dw = winograd.conv3x3_backward(g, x, wt, (pt, pb, pl, pr), True, True)
    pairs = ((winograd.conv3x3(x, wt, (pt, pb, pl, pr)), ty), (dx, tx.grad), (dw, tw.grad))
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=tol, atol=tol)


def test_only_the_gradients_asked_for():
    n, c, o, h, w, padding = CASES[0]
    x, wt = randn((n, c, h, w), 17), randn((o, c, 3, 3), 18)
    g = randn(winograd.conv3x3(x, wt, padding).shape, 19)
    _, dx, dw = direct(x, wt, g, padding)
    only_x = winograd.conv3x3_backward(g, x, wt, padding, True, False)
    only_w = winograd.conv3x3_backward(g, x, wt, padding, False, True)
    assert only_x[1] is None and only_w[0] is None
    np.testing.assert_allclose(only_x[0], dx, rtol=1e-10)
    np.testing.assert_allclose(only_w[1], dw, rtol=1e-10)


@pytest.mark.parametrize("where", ["x", "w", "g"])
def test_a_non_finite_result_sends_the_caller_to_the_direct_path(where):
    """A NaN or Inf spreads over its whole 2×2 tile here, only over the windows holding it
    in the direct path: so a non-finite result is answered with None (the caller then takes
    the direct path, which keeps its semantics); a gradient that does not read the bad value
    is still given."""
    n, c, o, h, w, padding = CASES[0]
    arrays = {"x": randn((n, c, h, w), 20), "w": randn((o, c, 3, 3), 21)}
    arrays["g"] = randn(winograd.conv3x3(arrays["x"], arrays["w"], padding).shape, 22)
    arrays[where].flat[3] = np.inf if where != "g" else np.nan
    x, wt, g = arrays["x"], arrays["w"], arrays["g"]
    assert (winograd.conv3x3(x, wt, padding) is None) == (where != "g")
    assert winograd.conv3x3_backward(g, x, wt, padding, True, True) is None
    reads_it = {"x": (False, True), "w": (True, False), "g": (True, False)}[where]
    assert winograd.conv3x3_backward(g, x, wt, padding, *reads_it) is None
    ignores_it = winograd.conv3x3_backward(g, x, wt, padding, *reads_it[::-1])
    if where != "g":
        assert ignores_it is not None and np.isfinite(ignores_it[reads_it.index(False)]).all()


def test_which_convolutions_it_takes():
    x, w = np.zeros((2, 4, 15, 15), np.float32), np.zeros((8, 4, 3, 3), np.float32)
    pad = (1, 1, 1, 1)
    assert winograd.suits(x, w, (1, 1), pad, (1, 1), 1)
    assert winograd.suits(np.zeros((1, 4, 32, 32)), w, (1, 1), pad, (1, 1), 1)
    assert not winograd.suits(np.zeros((2, 4, 7, 7), np.float32), w, (1, 1), pad, (1, 1), 1)
    assert not winograd.suits(x, w, (2, 2), pad, (1, 1), 1)
    assert not winograd.suits(x, w, (1, 1), pad, (2, 2), 1)
    assert not winograd.suits(x, np.zeros((4, 2, 3, 3), np.float32), (1, 1), pad, (1, 1), 2)
    widening = np.zeros((2 * 4 + 1, 4, 3, 3), np.float32)  # more than MAX_WIDENING × C outputs
    assert not winograd.suits(x, widening, (1, 1), pad, (1, 1), 1)
    assert not winograd.suits(x, np.zeros((8, 4, 5, 5), np.float32), (1, 1), pad, (1, 1), 1)
    assert not winograd.suits(x.astype(np.float16), w, (1, 1), pad, (1, 1), 1)


def test_chunks_cover_the_batch(monkeypatch):
    """Several chunks of images (a tiny CHUNK_BYTES) give the same results as one."""
    n, c, o, h, w, padding = (5, 2, 3, 6, 5, (1, 1, 1, 1))
    x, wt = randn((n, c, h, w), 23), randn((o, c, 3, 3), 24)
    g = randn(winograd.conv3x3(x, wt, padding).shape, 25)
    whole = (
        winograd.conv3x3(x, wt, padding),
        *winograd.conv3x3_backward(g, x, wt, padding, True, True),
    )
    monkeypatch.setattr(winograd, "CHUNK_BYTES", 1)
    chunked = (
        winograd.conv3x3(x, wt, padding),
        *winograd.conv3x3_backward(g, x, wt, padding, True, True),
    )
    for a, b in zip(whole, chunked):
        np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("bad", [False, True])
def test_conv2d_dispatches_to_it_and_agrees_with_pytorch(bad):
    """Tensor.conv2d on a 16×16 image takes the Winograd path (values and all three
    gradients as PyTorch's); with an Inf in the input it takes the direct path, whose
    non-finite pattern is PyTorch's."""
    torch = pytest.importorskip("torch")
    x, wt, b = randn((2, 3, 16, 16), 30), randn((4, 3, 3, 3), 31), randn((4,), 32)
    if bad:
        x[1, 2, 5, 7] = np.inf
    tx, tw, tb = (Tensor(a, requires_grad=True) for a in (x, wt, b))
    y = tx.conv2d(tw, tb, padding=1)
    assert y._ctx.winograd is not bad
    g = randn(y.shape, 33)
    y.backward(g)
    px, pw, pb = (torch.tensor(a, requires_grad=True) for a in (x, wt, b))
    py = torch.nn.functional.conv2d(px, pw, pb, padding=1)
    py.backward(torch.tensor(g))
    pairs = ((y, py), (tx.grad, px.grad), (tw.grad, pw.grad), (tb.grad, pb.grad))
    for ours, theirs in pairs:
        ours = ours.detach().numpy() if isinstance(ours, Tensor) else ours
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-10, atol=1e-10)
