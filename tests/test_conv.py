"""Conv2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d and BatchNorm2d: the kernels against their
NumPy twins (NaN and ±Inf included), the ops' gradients against central differences (float64,
both kernel sets), parity with PyTorch (values and gradients, float64 and float32, over a grid
of shapes, strides, paddings and dilations, and hypothesis-drawn ones), BatchNorm2d's running
statistics and eval mode, the default init, and the argument checks."""

import math
import zlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_hlcv import Tensor, conv, conv_kernels, kernels
from tinygrad_hlcv.errors import ConfigError, DTypeError, ShapeError
from tinygrad_hlcv.nn import Sequential
from tinygrad_hlcv.nn import functional as F
from tinygrad_hlcv.nn.conv import (
    AdaptiveAvgPool2d,
    AvgPool2d,
    BatchNorm2d,
    Conv2d,
    MaxPool2d,
    adaptive_avg_pool2d,
    avg_pool2d,
    batch_norm2d,
    conv2d,
    max_pool2d,
)
from tinygrad_hlcv.testing import assert_grads_match

SPECIALS = (np.nan, np.inf, -np.inf)
TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=2e-4, atol=2e-5)}


def randn(shape, seed=0, dtype=np.float64, specials=False):
    """Normal entries (seeded by the case); with `specials`, a few NaN, +Inf and -Inf."""
    rng = np.random.default_rng(zlib.crc32(repr((shape, seed)).encode()))
    a = rng.standard_normal(shape).astype(dtype)
    if specials:
        spots = rng.choice(a.size, min(a.size, 3 * max(1, a.size // 20)), replace=False)
        for i, spot in enumerate(spots):
            a.flat[spot] = SPECIALS[i % 3]
    return a


@pytest.fixture(params=["numba", "numpy"])
def kernel_set(request):
    previous = "numpy" if kernels.active is kernels.numpy_kernels else "numba"
    kernels.select(request.param)
    yield request.param
    kernels.select(previous)


def geometry(kernel, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    return (*kernel, *stride, *padding, *dilation)


def out_hw(hw, g):
    kh, kw, sh, sw, pt, pl, dh, dw = g
    return (
        conv.output_size(hw[0], kh, sh, pt, pt, dh),
        conv.output_size(hw[1], kw, sw, pl, pl, dw),
    )


# ----- the kernels against their twins ---------------------------------------------------

GEOMETRIES = [
    geometry((3, 3), padding=(1, 1)),
    geometry((2, 3), (2, 1), (1, 0), (1, 2)),
    geometry((1, 1)),
    geometry((3, 2), (3, 2), (1, 1), (2, 1)),
    geometry((5, 5), padding=(2, 2)),
    geometry((2, 2), (2, 2)),  # max_pool_forward's 2×2 path: every window inside x
    geometry((2, 2), (1, 2), (0, 0), (2, 1)),  # ... strided and dilated
    geometry((3, 3), (3, 3)),  # windows inside x, not 2×2: the general loop unchecked
]


@pytest.mark.parametrize("g", GEOMETRIES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("specials", [False, True])
def test_im2col_and_col2im_match_their_twins(g, dtype, specials):
    x = randn((2, 3, 7, 6), dtype=dtype, specials=specials)
    ho, wo = out_hw((7, 6), g)
    cols = [np.full((3 * g[0] * g[1], 2, ho, wo), 7.0, dtype) for _ in range(2)]
    conv_kernels.im2col(x, g, cols[0])
    conv_kernels.im2col_numpy(x, g, cols[1])
    np.testing.assert_array_equal(cols[0], cols[1])  # a copy: exactly equal, NaN included
    back = [np.full(x.shape, 7.0, dtype) for _ in range(2)]
    c = randn(cols[0].shape, 1, dtype, specials)
    with np.errstate(invalid="ignore"):
        conv_kernels.col2im(c, g, back[0])
        conv_kernels.col2im_numpy(c, g, back[1])
    np.testing.assert_allclose(back[0], back[1], **TOL[dtype])  # sums: order may differ


@pytest.mark.parametrize("g", GEOMETRIES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("data", ["normal", "specials", "ties"])
def test_max_pool_kernels_match_their_twins(g, dtype, data):
    if data == "ties":  # few distinct values, -Inf among them: the first maximum must win
        x = np.random.default_rng(3).integers(-2, 2, (2, 3, 7, 6)).astype(dtype)
        x[x == -2] = -np.inf
    else:
        x = randn((2, 3, 7, 6), dtype=dtype, specials=data == "specials")
    ho, wo = out_hw((7, 6), g)
    results = []
    for ks in (conv_kernels.numba_kernels, conv_kernels.numpy_kernels):
        out, argmax = np.empty((2, 3, ho, wo), dtype), np.empty((2, 3, ho, wo), np.int64)
        ks.max_pool_forward(x, g, out, argmax)
        dx = np.full(x.shape, 7.0, dtype)
        ks.max_pool_backward(randn(out.shape, 2, dtype), argmax, dx)
        results.append((out, argmax, dx))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, **TOL[dtype])


@pytest.mark.parametrize("g", [geometry((2, 2), (2, 2)), geometry((2, 2), (1, 1), (0, 0), (1, 2))])
def test_the_2x2_max_pool_path_matches_its_twin_on_every_mix_of_specials(g):
    """Windows drawn from NaN, ±Inf and ties (±0 too): the maximum, the first maximum's index
    or the last NaN's, exactly as the twin (and so PyTorch), the sign of a zero included."""
    values = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0])
    x = values[np.random.default_rng(4).integers(0, 6, (3, 4, 9, 8))]
    ho, wo = out_hw((9, 8), g)
    results = []
    for ks in (conv_kernels.numba_kernels, conv_kernels.numpy_kernels):
        out, argmax = np.empty((3, 4, ho, wo)), np.empty((3, 4, ho, wo), np.int64)
        ks.max_pool_forward(x, g, out, argmax)
        results.append((out, argmax))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(np.signbit(results[0][0]), np.signbit(results[1][0]))
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_a_window_all_in_the_padding_gives_minus_inf_and_no_gradient():
    x, g = randn((1, 1, 2, 2)), geometry((2, 2), (1, 1), (1, 1), (3, 3))
    for ks in (conv_kernels.numba_kernels, conv_kernels.numpy_kernels):
        out, argmax = np.empty((1, 1, 1, 1)), np.empty((1, 1, 1, 1), np.int64)
        ks.max_pool_forward(x, g, out, argmax)
        assert out[0, 0, 0, 0] == -np.inf and argmax[0, 0, 0, 0] == -1
        dx = np.ones_like(x)
        ks.max_pool_backward(np.ones((1, 1, 1, 1)), argmax, dx)
        assert not dx.any()


IMAGE, INDEX = (1, 2, 4, 4), np.int64


def misfit(*arrays):
    return lambda: [randn(a) if isinstance(a, tuple) and len(a) == 4 else a for a in arrays]


MISFITS = [
    ("im2col", misfit(IMAGE, geometry((3, 3)), np.empty((17, 1, 2, 2)))),
    ("im2col", misfit(IMAGE, geometry((3, 3), (0, 1)), np.empty((18, 1, 2, 2)))),
    ("im2col", misfit(IMAGE, geometry((3, 3), padding=(-1, 0)), np.empty((18, 1, 2, 2)))),
    ("col2im", misfit(np.empty((18, 2, 2, 2)), geometry((3, 3)), np.empty(IMAGE))),
    (
        "max_pool_forward",
        misfit(IMAGE, geometry((2, 2)), np.empty((1, 2, 3, 3)), np.empty((1, 2, 3, 2), INDEX)),
    ),
    (
        "max_pool_forward",
        misfit(IMAGE, geometry((2, 2)), np.empty((1, 3, 3, 3)), np.empty((1, 3, 3, 3), INDEX)),
    ),
    (
        "max_pool_backward",
        misfit(np.ones((1, 2, 2, 2)), np.full((1, 2, 2, 2), 16), np.empty(IMAGE)),
    ),
    (
        "max_pool_backward",
        misfit(np.ones((1, 2, 2, 2)), np.zeros((1, 2, 2, 1), INDEX), np.empty(IMAGE)),
    ),
]


@pytest.mark.parametrize("name, make", MISFITS)
def test_kernels_and_twins_refuse_arrays_that_do_not_fit(name, make):
    for ks in (conv_kernels.numba_kernels, conv_kernels.numpy_kernels):
        with pytest.raises(ValueError, match=name):
            getattr(ks, name)(*make())


def test_the_kernel_sets_follow_kernels_select(kernel_set):
    expected = conv_kernels.numpy_kernels if kernel_set == "numpy" else conv_kernels.numba_kernels
    assert conv_kernels.active() is expected
    for ks in (conv_kernels.numba_kernels, conv_kernels.numpy_kernels):
        assert set(vars(ks)) == set(conv_kernels.KERNEL_NAMES)


# ----- gradients against central differences (float64, both kernel sets) ----------------

CONV_CASES = [  # x shape, weight shape, options
    ((2, 3, 5, 6), (4, 3, 3, 3), dict(padding=1)),
    ((1, 1, 6, 5), (2, 1, 2, 3), dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2))),
    ((2, 4, 5, 5), (4, 2, 2, 2), dict(groups=2, padding="same")),
    ((1, 2, 7, 7), (3, 2, 3, 1), dict(stride=3, dilation=2)),
]


@pytest.mark.parametrize("x_shape, w_shape, options", CONV_CASES)
def test_conv2d_gradients_match_central_differences(kernel_set, x_shape, w_shape, options):
    inputs = [randn(x_shape), randn(w_shape, 1), randn(w_shape[:1], 2)]
    assert_grads_match(lambda x, w, b: conv2d(x, w, b, **options), inputs)
    assert_grads_match(lambda x, w: conv2d(x, w, **options), inputs[:2], strided=True)


POOL_CASES = [
    ((2, 3, 6, 5), dict(kernel_size=2)),
    ((1, 2, 7, 6), dict(kernel_size=(3, 2), stride=(2, 1), padding=1)),
    ((1, 1, 5, 5), dict(kernel_size=3, stride=1, padding=1)),
]


@pytest.mark.parametrize("shape, options", POOL_CASES)
def test_pool_gradients_match_central_differences(kernel_set, shape, options):
    x = randn(shape)  # distinct values: no ties, so max is differentiable at x
    assert_grads_match(lambda t: max_pool2d(t, **options), [x])
    assert_grads_match(lambda t: max_pool2d(t, **options, dilation=(1, 2)), [randn((2, 1, 7, 8))])
    assert_grads_match(lambda t: avg_pool2d(t, **options), [x], strided=True)
    assert_grads_match(lambda t: avg_pool2d(t, **options, count_include_pad=False), [x])
    assert_grads_match(lambda t: adaptive_avg_pool2d(t, 1), [x])


def test_batch_norm2d_gradients_match_central_differences(kernel_set):
    x, w, b = randn((3, 2, 3, 4)), randn(2, 1) + 2, randn(2, 2)
    rm, rv = Tensor(np.zeros(2)), Tensor(np.ones(2))
    assert_grads_match(
        lambda *t: batch_norm2d(t[0], None, None, t[1], t[2], training=True), [x, w, b]
    )
    assert_grads_match(lambda *t: batch_norm2d(t[0], rm, rv, t[1], t[2]), [x, w, b])


def test_chunks_of_the_batch_give_the_whole_batch_result(monkeypatch):
    x, w, b = randn((5, 3, 6, 6)), randn((4, 3, 3, 3), 1), randn(4, 2)
    g = randn((5, 4, 6, 6), 3)

    def run():
        tensors = [Tensor(a, requires_grad=True) for a in (x, w, b)]
        y = conv2d(*tensors, padding=1)
        (y * Tensor(g)).sum().backward()
        return [y.data] + [t.grad for t in tensors]

    whole = run()
    monkeypatch.setattr(conv, "CHUNK_BYTES", 2 * 27 * 36 * 8)  # 2 images a chunk: 2, 2, 1
    for a, b in zip(whole, run()):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


# ----- parity with PyTorch ----------------------------------------------------------------

PARITY_GRID = [  # N, C, H, W, O, kernel, stride, padding, dilation, groups
    (2, 3, 8, 8, 4, 3, 1, 1, 1, 1),
    (2, 3, 9, 7, 5, (2, 3), (2, 1), (1, 0), 1, 1),
    (1, 4, 10, 10, 6, 3, 2, 2, 2, 2),
    (3, 2, 6, 5, 2, 1, 1, 0, 1, 1),
    (2, 6, 7, 7, 6, 3, 1, "same", 1, 3),
    (1, 2, 8, 6, 3, (4, 2), 1, "same", (1, 2), 1),
    (2, 3, 9, 9, 4, 3, 3, "valid", 1, 1),
    (4, 8, 12, 12, 8, 3, 1, 1, 1, 1),
]


def torch_conv(torch, arrays, options, g):
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in arrays)
    ty = torch.nn.functional.conv2d(tx, tw, tb, **options)
    ty.backward(torch.tensor(g))
    return [ty.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy()]


def ours_conv(arrays, options, g):
    tensors = [Tensor(a, requires_grad=True) for a in arrays]
    y = conv2d(*tensors, **options)
    (y * Tensor(g)).sum().backward()
    return [y.data] + [t.grad for t in tensors]


def assert_conv_parity(torch, case, dtype):
    n, c, h, w, o, k, s, p, d, groups = case
    kh, kw = k if isinstance(k, tuple) else (k, k)
    arrays = [
        randn((n, c, h, w), 0, dtype),
        randn((o, c // groups, kh, kw), 1, dtype),
        randn(o, 2, dtype),
    ]
    options = dict(stride=s, padding=p, dilation=d, groups=groups)
    shape = torch.nn.functional.conv2d(*(torch.tensor(a) for a in arrays), **options).shape
    g = randn(tuple(shape), 3, dtype)
    theirs = torch_conv(torch, arrays, options, g)
    for ours, ref in zip(ours_conv(arrays, options, g), theirs):
        assert ours.dtype == dtype and ours.shape == ref.shape
        np.testing.assert_allclose(ours, ref, **TOL[dtype])


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("case", PARITY_GRID)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv2d_matches_pytorch(kernel_set, case, dtype):
    torch = pytest.importorskip("torch")
    assert_conv_parity(torch, case, dtype)


@given(
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(1, 9),
    st.integers(1, 9),
    st.integers(1, 3),
    st.tuples(st.integers(1, 3), st.integers(1, 3)),
    st.tuples(st.integers(1, 3), st.integers(1, 3)),
    st.tuples(st.integers(0, 2), st.integers(0, 2)),
    st.tuples(st.integers(1, 2), st.integers(1, 2)),
)
def test_conv2d_matches_pytorch_on_drawn_shapes(n, c, h, w, o, k, s, p, d):
    torch = pytest.importorskip("torch")
    if any(d[i] * (k[i] - 1) + 1 > (h, w)[i] + 2 * p[i] for i in (0, 1)):
        return  # no window fits: refused, tested below
    assert_conv_parity(torch, (n, c, h, w, o, k, s, p, d, 1), np.float64)


POOL_GRID = [  # shape, kernel, stride, padding, dilation
    ((2, 3, 8, 8), 2, None, 0, 1),
    ((1, 2, 9, 7), (3, 2), (2, 1), (1, 0), 1),
    ((2, 2, 7, 7), 3, 2, 1, (2, 1)),
    ((1, 1, 5, 6), 3, 1, 1, 1),
]


@pytest.mark.parametrize("shape, k, s, p, d", POOL_GRID)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("ties", [False, True])
def test_max_pool2d_matches_pytorch(kernel_set, shape, k, s, p, d, dtype, ties):
    torch = pytest.importorskip("torch")
    x = randn(shape, 0, dtype)
    if ties:  # the gradient goes to the first maximum of a window, as PyTorch's
        x = np.round(x).astype(dtype)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.max_pool2d(tx, k, s, p, d)
    g = randn(ty.shape, 1, dtype)
    ty.backward(torch.tensor(g))
    ours = Tensor(x, requires_grad=True)
    y = max_pool2d(ours, k, s, p, d)
    (y * Tensor(g)).sum().backward()
    np.testing.assert_array_equal(y.data, ty.detach().numpy())
    np.testing.assert_allclose(ours.grad, tx.grad.numpy(), **TOL[dtype])


def test_max_pool2d_picks_nan_and_minus_inf_windows_as_pytorch(kernel_set):
    """A NaN wins (the last one of a window), an all −Inf window takes its first entry."""
    torch = pytest.importorskip("torch")
    nan, inf = np.nan, np.inf
    x = np.array([[1, nan, 3, nan], [inf, 2, nan, -inf], [0, 0, -inf, -inf], [5, nan, -inf, -inf]])
    x = np.stack([x, x[::-1]])[:, None]
    for k, s in ((2, 2), (3, 1)):
        tx = torch.tensor(x, requires_grad=True)
        ty = torch.nn.functional.max_pool2d(tx, k, s)
        ty.backward(torch.ones_like(ty))
        ours = Tensor(x, requires_grad=True)
        y = max_pool2d(ours, k, s)
        y.sum().backward()
        np.testing.assert_array_equal(y.data, ty.detach().numpy())
        np.testing.assert_array_equal(ours.grad, tx.grad.numpy())


@pytest.mark.parametrize("shape, k, s, p, d", POOL_GRID)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("include", [True, False])
def test_avg_pool2d_matches_pytorch(kernel_set, shape, k, s, p, d, dtype, include):
    torch = pytest.importorskip("torch")
    x = randn(shape, 0, dtype)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.avg_pool2d(tx, k, s, p, count_include_pad=include)
    g = randn(ty.shape, 1, dtype)
    ty.backward(torch.tensor(g))
    ours = Tensor(x, requires_grad=True)
    y = AvgPool2d(k, s, p, count_include_pad=include)(ours)
    (y * Tensor(g)).sum().backward()
    np.testing.assert_allclose(y.data, ty.detach().numpy(), **TOL[dtype])
    np.testing.assert_allclose(ours.grad, tx.grad.numpy(), **TOL[dtype])


@pytest.mark.parametrize("size", [1, (2, 3), (4, 1)])
def test_adaptive_avg_pool2d_matches_pytorch(size):
    torch = pytest.importorskip("torch")
    x = randn((2, 3, 8, 6))
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.adaptive_avg_pool2d(tx, size)
    g = randn(ty.shape, 1)
    ty.backward(torch.tensor(g))
    ours = Tensor(x, requires_grad=True)
    y = AdaptiveAvgPool2d(size)(ours)
    (y * Tensor(g)).sum().backward()
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.grad, tx.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_batch_norm2d_matches_pytorch_in_training_and_eval(kernel_set, dtype, momentum):
    torch = pytest.importorskip("torch")
    ours = BatchNorm2d(3, momentum=momentum, dtype=dtype)
    theirs = torch.nn.BatchNorm2d(
        3, momentum=momentum, dtype=torch.float64 if dtype == np.float64 else torch.float32
    )
    for p, q in ((ours.weight, theirs.weight), (ours.bias, theirs.bias)):
        value = randn(3, id(p) % 7, dtype)
        p.data[...] = value
        q.data[...] = torch.tensor(value)
    for step, training in enumerate([True, True, False, True, False]):
        ours.train(training), theirs.train(training)
        x = randn((4, 3, 5, 2), step, dtype) * 2 + 1
        tx = torch.tensor(x, requires_grad=True)
        ty = theirs(tx)
        g = randn(ty.shape, 10 + step, dtype)
        ty.backward(torch.tensor(g))
        tensor = Tensor(x, requires_grad=True)
        y = ours(tensor)
        (y * Tensor(g)).sum().backward()
        np.testing.assert_allclose(y.data, ty.detach().numpy(), **TOL[dtype])
        np.testing.assert_allclose(tensor.grad, tx.grad.numpy(), **TOL[dtype])
        for name in ("running_mean", "running_var"):
            np.testing.assert_allclose(
                getattr(ours, name).data, getattr(theirs, name).numpy(), **TOL[dtype]
            )
        assert int(ours.num_batches_tracked.item()) == int(theirs.num_batches_tracked)
    for p, q in ((ours.weight, theirs.weight), (ours.bias, theirs.bias)):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), **TOL[dtype])


def test_a_small_cnn_matches_pytorch_end_to_end():
    torch = pytest.importorskip("torch")
    from tinygrad_hlcv.nn import Flatten, Linear, ReLU

    ours = Sequential(
        Conv2d(3, 4, 3, padding=1, dtype=np.float64), BatchNorm2d(4, dtype=np.float64), ReLU(),
        MaxPool2d(2), Conv2d(4, 5, 3, padding="same", bias=False, dtype=np.float64), ReLU(),
        AdaptiveAvgPool2d(1), Flatten(), Linear(5, 2, dtype=np.float64),
    )  # fmt: skip
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2), torch.nn.Conv2d(4, 5, 3, padding="same", bias=False),
        torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(5, 2),
    ).double()  # fmt: skip
    pairs = [(ours[0], theirs[0]), (ours[4], theirs[4])]
    for mine, torch_layer in pairs:
        mine.weight.data[...] = torch_layer.weight.detach().numpy()
        if mine.bias is not None:
            mine.bias.data[...] = torch_layer.bias.detach().numpy()
    ours[8].weight.data[...] = theirs[8].weight.detach().numpy().T
    ours[8].bias.data[...] = theirs[8].bias.detach().numpy()
    x = randn((3, 3, 8, 8))
    loss = (ours(Tensor(x)) ** 2).sum()
    loss.backward()
    torch_loss = (theirs(torch.tensor(x)) ** 2).sum()
    torch_loss.backward()
    assert loss.item() == pytest.approx(torch_loss.item(), rel=1e-12)
    for mine, torch_layer in pairs:  # atol: an exact 0 may come out as ±1e-17 (Winograd)
        np.testing.assert_allclose(
            mine.weight.grad, torch_layer.weight.grad.numpy(), rtol=1e-10, atol=1e-14
        )


# ----- the module's init and the argument checks -------------------------------------------


def test_conv2d_init_is_pytorchs_kaiming_uniform():
    layer = Conv2d(6, 8, (3, 2), groups=2, dtype=np.float64, generator=np.random.default_rng(0))
    bound = 1 / math.sqrt(3 * 3 * 2)  # fan_in = in_channels/groups·kh·kw
    assert layer.weight.shape == (8, 3, 3, 2) and layer.weight.dtype == np.float64
    for p in (layer.weight, layer.bias):
        assert np.abs(p.data).max() <= bound and p.requires_grad
    assert np.abs(layer.weight.data).max() > 0.8 * bound  # uniform over the whole range
    assert layer.weight.data.std() == pytest.approx(bound / math.sqrt(3), rel=0.2)
    assert Conv2d(2, 2, 3, bias=False).bias is None
    assert Conv2d(2, 2, 3).weight.dtype == np.float32  # the default dtype
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]


def test_batch_norm2d_module_keeps_running_statistics_in_its_state_dict():
    layer = BatchNorm2d(3)
    layer(Tensor(randn((2, 3, 2, 2), dtype=np.float32)))
    state = layer.state_dict()
    assert set(state) == {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}
    assert state["num_batches_tracked"] == 1 and state["running_mean"].any()


X4 = randn((2, 3, 5, 5))
W4 = randn((4, 3, 3, 3), 1)
REFUSED = [
    (lambda: conv2d(randn((3, 5, 5)), W4), ShapeError, "4-D"),
    (lambda: conv2d(X4, randn((4, 2, 3, 3))), ShapeError, "3 channels"),
    (lambda: conv2d(X4, randn((4, 3, 3))), ShapeError, "4-D weight"),
    (lambda: conv2d(X4, randn((4, 3, 6, 3))), ShapeError, "no larger than the padded"),
    (lambda: conv2d(X4, randn((4, 3, 3, 3)), dilation=3), ShapeError, "padded input"),
    (lambda: conv2d(X4, W4.astype(np.float32)), DTypeError, "one dtype"),
    (lambda: conv2d(X4.astype(np.int64), W4), DTypeError, "float32 or float64"),
    (lambda: conv2d(X4, W4, np.zeros(3)), ShapeError, r"expected shape \(4,\)"),
    (lambda: conv2d(X4, W4, np.zeros(4, np.float32)), DTypeError, "bias has dtype"),
    (lambda: conv2d(X4, W4, stride=0), ConfigError, "stride"),
    (lambda: conv2d(X4, W4, stride=(1, 2, 3)), ConfigError, "stride"),
    (lambda: conv2d(X4, W4, padding=-1), ConfigError, "padding"),
    (lambda: conv2d(X4, W4, padding="full"), ConfigError, "'same'"),
    (lambda: conv2d(X4, W4, padding="same", stride=2), ConfigError, "stride 1"),
    (lambda: conv2d(X4, W4, groups=2), ShapeError, "groups=2"),
    (lambda: conv2d(X4, W4, groups=0), ConfigError, "groups"),
    (lambda: conv2d(np.zeros((0, 3, 5, 5)), W4), ShapeError, "empty"),
    (lambda: conv2d([1.0], W4), DTypeError, "Tensor or a NumPy array"),
    (lambda: max_pool2d(X4, 2, padding=2), ConfigError, "half of kernel_size"),
    (lambda: max_pool2d(X4, 6), ShapeError, "padded input"),
    (lambda: max_pool2d(X4[0], 2), ShapeError, "4-D"),
    (lambda: max_pool2d(X4, 0), ConfigError, "kernel_size"),
    (lambda: avg_pool2d(X4, 2, count_include_pad=1), ConfigError, "True or False"),
    (lambda: avg_pool2d(X4, (2, 2), stride=(1, 0)), ConfigError, "stride"),
    (lambda: adaptive_avg_pool2d(X4, 2), ConfigError, "divide"),
    (lambda: MaxPool2d(0), ConfigError, "MaxPool2d: kernel_size"),
    (lambda: MaxPool2d(2, padding=2), ConfigError, "half of kernel_size"),
    (lambda: AvgPool2d(2, stride=-1), ConfigError, "AvgPool2d: stride"),
    (lambda: AdaptiveAvgPool2d((1, 0)), ConfigError, "output_size"),
    (lambda: Conv2d(3, 4, 0), ConfigError, "kernel_size"),
    (lambda: Conv2d(3, 4, 3, groups=2), ConfigError, "groups"),
    (lambda: Conv2d(4, 3, 3, groups=2), ConfigError, "out_channels"),
    (lambda: Conv2d(3, 4, 3, padding_mode="mirror"), ConfigError, "padding_mode"),
    (lambda: Conv2d(3, 4, 3, stride=2, padding="same"), ConfigError, "stride 1"),
    (lambda: Conv2d(3, 4, 3, dtype=np.int32), DTypeError, "float32 or float64"),
    (lambda: Conv2d(3, 4, 3, dtype=np.float64)(X4[:, :2]), ShapeError, "channels"),
    (lambda: BatchNorm2d(0), ConfigError, "BatchNorm2d: num_features"),
    (lambda: BatchNorm2d(3, eps=0), ConfigError, "BatchNorm2d: eps"),
    (lambda: BatchNorm2d(3, momentum=2), ConfigError, "BatchNorm2d: momentum"),
    (lambda: BatchNorm2d(4)(X4), ShapeError, "expected 4"),
    (lambda: BatchNorm2d(3)(X4[:, :, 0]), ShapeError, "4-D"),
    (lambda: BatchNorm2d(3)(randn((1, 3, 1, 1))), ShapeError, "1 value per channel"),
    (lambda: batch_norm2d(X4, None, None), ConfigError, "running_mean and running_var"),
]


@pytest.mark.parametrize("call, error, message", REFUSED)
def test_bad_arguments_are_refused_with_the_frameworks_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_a_refused_batch_leaves_the_running_statistics_alone():
    layer = BatchNorm2d(3, dtype=np.float64)
    with pytest.raises(ShapeError):
        layer(randn((1, 3, 1, 1)))
    assert int(layer.num_batches_tracked.item()) == 0 and not layer.running_mean.data.any()
    layer.eval()
    assert layer(randn((1, 3, 1, 1))).shape == (1, 3, 1, 1)  # eval: one value is fine


def test_layers_show_their_settings():
    assert "kernel_size=(3, 3)" in repr(Conv2d(2, 3, 3)) and "groups=1" in repr(Conv2d(2, 3, 3))
    assert "kernel_size=2" in repr(MaxPool2d(2)) and "output_size=(1, 1)" in repr(
        AdaptiveAvgPool2d(1)
    )


@pytest.mark.parametrize("kernel_size", [2, 3])
def test_max_pool_keeps_the_sign_of_a_zero_maximum_as_pytorch(kernel_size):
    """Ties between 0.0 and -0.0: the first tap's value, sign included (both paths)."""
    torch = pytest.importorskip("torch")
    x = np.array([0.0, -0.0])[np.random.default_rng(5).integers(0, 2, (2, 3, 6, 6))]
    x = x.astype(np.float32)
    ours = F.max_pool2d(Tensor(x), kernel_size).data
    theirs = torch.nn.functional.max_pool2d(torch.from_numpy(x), kernel_size).numpy()
    np.testing.assert_array_equal(np.signbit(ours), np.signbit(theirs))
