"""The rest of the convolution API: Conv2d's padding modes and four-sided padding, ceil_mode,
divisor_override and return_indices of the pools, Dropout2d, the padding layers, and the
tinygrad Tensor methods conv2d / max_pool2d / avg_pool2d. Each against PyTorch (values and
gradients, float64 and float32), float64 gradients against central differences over
hypothesis-drawn shapes, and the argument checks."""

import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_hlcv as tg
from tinygrad_hlcv import Tensor, conv, nn
from tinygrad_hlcv.errors import ConfigError, DTypeError, ShapeError, TinygradError
from tinygrad_hlcv.nn import functional as F
from tinygrad_hlcv.nn.conv import dropout2d
from tinygrad_hlcv.testing import assert_grads_match

TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=2e-4, atol=2e-5)}
MODES = ["zeros", "reflect", "replicate", "circular"]


def randn(shape, seed=0, dtype=np.float64):
    rng = np.random.default_rng(zlib.crc32(repr((shape, seed)).encode()))
    return rng.standard_normal(shape).astype(dtype)


def run_ours(fn, x, g):
    """fn(x) and d(Σ fn(x)·g)/dx, ours."""
    t = Tensor(x, requires_grad=True)
    y = fn(t)
    (y * Tensor(g)).sum().backward()
    return y.data, t.grad


def run_torch(torch, fn, x, g):
    t = torch.tensor(x, requires_grad=True)
    y = fn(t)
    y.backward(torch.tensor(g))
    return y.detach().numpy(), t.grad.numpy()


def assert_parity(torch, ours, theirs, x, dtype=np.float64):
    """ours(x) and theirs(torch x) agree in value and input gradient."""
    shape = tuple(theirs(torch.tensor(x)).shape)
    g = randn(shape, 7, dtype)
    expected = run_torch(torch, theirs, x, g)
    for mine, ref in zip(run_ours(ours, x, g), expected):
        assert mine.dtype == dtype and mine.shape == ref.shape
        np.testing.assert_allclose(mine, ref, **TOL[dtype])


# ----- Conv2d's padding modes ------------------------------------------------------------------

CONV_MODE_CASES = [  # C, O, kernel, stride, padding, dilation, groups
    (3, 4, 3, 1, 1, 1, 1),
    (2, 2, (2, 3), (2, 1), (1, 2), 1, 2),
    (1, 3, 4, 1, "same", 1, 1),  # an even kernel: one more row and column below and right
    (2, 4, (3, 2), 1, "same", (2, 1), 1),
    (2, 2, 3, 2, 0, 2, 1),
]


def layer_pair(torch, case, mode, dtype):
    c, o, k, s, p, d, groups = case
    ours = nn.Conv2d(c, o, k, s, p, d, groups, padding_mode=mode, dtype=dtype)
    theirs = torch.nn.Conv2d(c, o, k, s, p, d, groups, padding_mode=mode)
    theirs = theirs.double() if dtype == np.float64 else theirs.float()
    ours.weight.data[...] = theirs.weight.detach().numpy()
    ours.bias.data[...] = theirs.bias.detach().numpy()
    return ours, theirs


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("case", CONV_MODE_CASES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv2d_padding_modes_match_pytorch(case, mode, dtype):
    torch = pytest.importorskip("torch")
    ours, theirs = layer_pair(torch, case, mode, dtype)
    x = randn((2, case[0], 6, 5), 0, dtype)
    assert_parity(torch, ours, theirs, x, dtype)
    g = randn(tuple(theirs(torch.tensor(x)).shape), 7, dtype)
    run_torch(torch, theirs, x, g)
    run_ours(ours, x, g)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), **TOL[dtype])
    np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), **TOL[dtype])


def conv_layer_fn(layer):
    """(x, w) -> layer(x) with w as its weight: a function assert_grads_match can check."""

    def fn(x, w):
        layer.weight = w
        return layer(x)

    return fn


@settings(max_examples=12, deadline=None)
@given(
    st.sampled_from(MODES),
    st.integers(1, 2),
    st.tuples(st.integers(2, 6), st.integers(2, 6)),
    st.tuples(st.integers(1, 3), st.integers(1, 3)),
    st.tuples(st.integers(1, 2), st.integers(1, 2)),
    st.sampled_from([0, 1, (1, 0), "same"]),
)
def test_conv2d_padding_mode_gradients_match_central_differences(mode, c, hw, k, s, padding):
    if padding == "same":
        s = (1, 1)
    layer = nn.Conv2d(c, 2, k, s, padding, padding_mode=mode, bias=False, dtype=np.float64)
    pads = layer.pads
    if any(max(pads[i], pads[i + 1]) >= hw[i // 2] for i in (0, 2)):
        return  # 'reflect' needs fewer padded entries than the dim has: refused, tested below
    if any(k[i] > hw[i] + pads[2 * i] + pads[2 * i + 1] for i in (0, 1)):
        return  # no window fits: refused, tested below
    assert_grads_match(conv_layer_fn(layer), [randn((1, c, *hw)), randn(layer.weight.shape, 1)])


def test_a_padding_mode_pads_before_the_convolution():
    """'circular' is F.pad(x, mode='circular') then a convolution without padding."""
    layer = nn.Conv2d(2, 3, 3, padding=(1, 2), padding_mode="circular", dtype=np.float64)
    x = Tensor(randn((1, 2, 5, 6)))
    padded = tg.pad(x, (2, 2, 1, 1), mode="circular")
    expected = conv.conv2d(padded, layer.weight, layer.bias)
    np.testing.assert_array_equal(layer(x).data, expected.data)
    assert "padding_mode='circular'" in repr(layer)


# ----- four-sided padding (tinygrad's form) ---------------------------------------------------


@pytest.mark.parametrize("padding", [(0, 2, 1, 0), (3, 1, 0, 2), (1, 1, 2, 2)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_four_sided_conv_padding_is_f_pad_then_conv(padding, dtype):
    """(left, right, top, bottom), as F.pad takes it: PyTorch pads with F.pad first."""
    torch = pytest.importorskip("torch")
    w = randn((3, 2, 3, 2), 1, dtype)
    tw = torch.tensor(w)
    x = randn((2, 2, 5, 4), 0, dtype)
    ours = lambda t: conv.conv2d(t, w, padding=padding, stride=(1, 2))  # noqa: E731
    theirs = lambda t: torch.nn.functional.conv2d(  # noqa: E731
        torch.nn.functional.pad(t, padding), tw, stride=(1, 2)
    )
    assert_parity(torch, ours, theirs, x, dtype)
    layer = nn.Conv2d(2, 3, (3, 2), stride=(1, 2), padding=padding, bias=False, dtype=dtype)
    layer.weight.data[...] = w
    np.testing.assert_array_equal(layer(x).data, ours(Tensor(x)).data)
    assert layer.padding == (padding if padding != (1, 1, 2, 2) else (2, 1))


def test_symmetric_padding_is_kept_as_a_pair():
    assert nn.Conv2d(1, 1, 3, padding=(1, 1, 2, 2)).padding == (2, 1)
    assert nn.Conv2d(1, 1, 3, padding=2).padding == (2, 2)
    assert nn.Conv2d(1, 1, 3, padding="same").padding == "same"


# ----- pooling: ceil_mode, divisor_override, return_indices ----------------------------------


def pool_case():
    """(shape, kernel, stride, padding, dilation, ceil_mode): small, batch and channel 1
    included, odd and non-square sizes, padding at most half the kernel."""
    kernel = st.tuples(st.integers(1, 3), st.integers(1, 3))
    return kernel.flatmap(
        lambda k: st.tuples(
            st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(1, 7), st.integers(1, 7)),
            st.just(k),
            st.tuples(st.integers(1, 3), st.integers(1, 3)),
            st.tuples(st.integers(0, k[0] // 2), st.integers(0, k[1] // 2)),
            st.tuples(st.integers(1, 2), st.integers(1, 2)),
            st.booleans(),
        )
    )


def a_window_lies_in_the_padding(shape, k, s, p, d, ceil):
    """Whether a dilated window has no tap inside x: PyTorch's max_pool2d backward then
    writes out of bounds (torch 2.x crashes); ours gives −Inf and no gradient (test_conv.py)."""
    for i in (0, 1):
        count = conv.output_size(shape[2 + i], k[i], s[i], p[i], p[i], d[i], ceil)
        if count > 0 and not conv.taps_inside(count, k[i], s[i], p[i], d[i], 0, shape[2 + i]).all():
            return True
    return False


def refused_alike(torch, ours, theirs, x):
    """True (and checked) if PyTorch refuses these arguments: then ours must too, with our
    own error, never a silent result."""
    try:
        theirs(torch.tensor(x))
    except RuntimeError:
        with pytest.raises(TinygradError):
            ours(Tensor(x))
        return True
    return False


@settings(max_examples=40, deadline=None)
@given(pool_case(), st.sampled_from([np.float64, np.float32]))
def test_max_pool2d_matches_pytorch_on_drawn_cases(case, dtype):
    torch = pytest.importorskip("torch")
    shape, k, s, p, d, ceil = case
    x = randn(shape, 0, dtype)
    ours = lambda t: F.max_pool2d(t, k, s, p, d, ceil_mode=ceil)  # noqa: E731
    theirs = lambda t: torch.nn.functional.max_pool2d(t, k, s, p, d, ceil_mode=ceil)  # noqa: E731
    if a_window_lies_in_the_padding(shape, k, s, p, d, ceil):
        return
    if not refused_alike(torch, ours, theirs, x):
        assert_parity(torch, ours, theirs, x, dtype)


@settings(max_examples=40, deadline=None)
@given(
    pool_case(),
    st.booleans(),
    st.sampled_from([None, 1, 3, -2]),
    st.sampled_from([np.float64, np.float32]),
)
def test_avg_pool2d_matches_pytorch_on_drawn_cases(case, include, divisor, dtype):
    torch = pytest.importorskip("torch")
    shape, k, s, p, _, ceil = case
    x = randn(shape, 0, dtype)
    options = dict(ceil_mode=ceil, count_include_pad=include, divisor_override=divisor)
    ours = lambda t: F.avg_pool2d(t, k, s, p, **options)  # noqa: E731
    theirs = lambda t: torch.nn.functional.avg_pool2d(t, k, s, p, **options)  # noqa: E731
    if not refused_alike(torch, ours, theirs, x):
        assert_parity(torch, ours, theirs, x, dtype)


@settings(max_examples=15, deadline=None)
@given(pool_case(), st.booleans(), st.sampled_from([None, 2]))
def test_pool_gradients_match_central_differences_on_drawn_cases(case, include, divisor):
    shape, k, s, p, d, ceil = case
    x = randn(shape)  # distinct values: no ties, so max is differentiable at x
    try:
        F.max_pool2d(x, k, s, p, d, ceil_mode=ceil)
    except ShapeError:
        return  # no window fits
    assert_grads_match(lambda t: F.max_pool2d(t, k, s, p, d, ceil_mode=ceil), [x])
    options = dict(ceil_mode=ceil, count_include_pad=include, divisor_override=divisor)
    assert_grads_match(lambda t: conv.avg_pool2d(t, k, s, p, **options, dilation=d), [x])


CEIL_CASES = [  # shape, kernel, stride, padding: the last window overhangs, or is dropped
    ((1, 1, 5, 5), 2, 2, 0),
    ((2, 3, 6, 7), 3, 2, 1),
    ((1, 2, 4, 4), 2, 3, 1),  # a last window starting in the right padding is dropped
    ((1, 1, 7, 5), (3, 2), (2, 2), (1, 1)),
    ((1, 2, 1, 3), 2, 2, 0),  # a kernel taller than x: only ceil_mode's overhanging window
]


@pytest.mark.parametrize("shape, k, s, p", CEIL_CASES)
@pytest.mark.parametrize("include", [True, False])
def test_ceil_mode_modules_match_pytorch(shape, k, s, p, include):
    torch = pytest.importorskip("torch")
    x = randn(shape)
    for ours, theirs in [
        (nn.MaxPool2d(k, s, p, ceil_mode=True), torch.nn.MaxPool2d(k, s, p, ceil_mode=True)),
        (
            nn.AvgPool2d(k, s, p, ceil_mode=True, count_include_pad=include),
            torch.nn.AvgPool2d(k, s, p, ceil_mode=True, count_include_pad=include),
        ),
        (
            nn.AvgPool2d(k, s, p, ceil_mode=True, divisor_override=5),
            torch.nn.AvgPool2d(k, s, p, ceil_mode=True, divisor_override=5),
        ),
    ]:
        assert_parity(torch, ours, theirs, x)


@pytest.mark.parametrize("ceil", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_return_indices_are_pytorchs(ceil, dtype):
    torch = pytest.importorskip("torch")
    x = np.round(randn((2, 3, 7, 6), 0, dtype))  # ties: the first maximum's index
    y, indices = nn.MaxPool2d(3, 2, 1, return_indices=True, ceil_mode=ceil)(Tensor(x))
    ty, tindices = torch.nn.functional.max_pool2d(
        torch.tensor(x), 3, 2, 1, ceil_mode=ceil, return_indices=True
    )
    np.testing.assert_array_equal(y.data, ty.numpy())
    np.testing.assert_array_equal(indices.data, tindices.numpy())
    assert indices.dtype == np.int64 and not indices.requires_grad
    t = Tensor(x, requires_grad=True)  # the values still carry the gradient
    values, indices = F.max_pool2d(t, 3, 2, 1, ceil_mode=ceil, return_indices=True)
    indices.data[...] = 0  # the returned indices are a copy: backward is unaffected
    values.sum().backward()
    expected = np.zeros(x.size)  # one δ = 1 per window, to the index PyTorch returns
    flat = tindices.numpy().reshape(6, -1) + 7 * 6 * np.arange(6)[:, None]
    np.add.at(expected, flat.ravel(), 1.0)
    np.testing.assert_array_equal(t.grad, expected.reshape(x.shape))


# ----- the tinygrad Tensor methods -----------------------------------------------------------


def test_tensor_methods_are_the_functions_in_tinygrads_order():
    x, w, b = Tensor(randn((2, 4, 7, 6))), Tensor(randn((6, 2, 3, 2), 1)), Tensor(randn(6, 2))
    np.testing.assert_array_equal(
        x.conv2d(w, b, 2, (2, 1), (1, 2), (1, 0, 2, 1)).data,
        F.conv2d(x, w, b, stride=(2, 1), padding=(1, 0, 2, 1), dilation=(1, 2), groups=2).data,
    )
    np.testing.assert_array_equal(x.conv2d(w, groups=2).data, F.conv2d(x, w, groups=2).data)
    assert x.max_pool2d().shape == (2, 4, 3, 3)  # tinygrad's default: kernel (2, 2)
    np.testing.assert_array_equal(x.max_pool2d().data, F.max_pool2d(x, 2).data)
    np.testing.assert_array_equal(
        x.max_pool2d((3, 2), 2, (1, 2), 1, ceil_mode=True).data,
        F.max_pool2d(x, (3, 2), 2, 1, (1, 2), ceil_mode=True).data,
    )
    values, indices = x.max_pool2d(return_indices=True)
    np.testing.assert_array_equal(indices.data, F.max_pool2d(x, 2, return_indices=True)[1].data)
    np.testing.assert_array_equal(x.avg_pool2d().data, F.avg_pool2d(x, 2).data)
    np.testing.assert_array_equal(
        x.avg_pool2d(3, 2, 1, (1, 1, 0, 1), True, False).data,
        F.avg_pool2d(x, 3, 2, (1, 1, 0, 1), ceil_mode=True, count_include_pad=False).data,
    )


def test_tensor_methods_match_tinygrads_documented_examples():
    """tinygrad's docstring examples (tensor.py): arange(25) as (1, 1, 5, 5)."""
    t = Tensor(np.arange(25, dtype=np.float64).reshape(1, 1, 5, 5))
    np.testing.assert_array_equal(t.max_pool2d().data[0, 0], [[6, 8], [16, 18]])
    np.testing.assert_array_equal(
        t.max_pool2d(ceil_mode=True).data[0, 0], [[6, 8, 9], [16, 18, 19], [21, 23, 24]]
    )
    np.testing.assert_array_equal(t.avg_pool2d().data[0, 0], [[3, 5], [13, 15]])
    np.testing.assert_array_equal(
        t.avg_pool2d(ceil_mode=True).data[0, 0],
        [[3, 5, 6.5], [13, 15, 16.5], [20.5, 22.5, 24]],
    )
    # padding 1: windows of rows (-1, 0), (1, 2), (3, 4), and of columns the same
    np.testing.assert_array_equal(
        t.avg_pool2d(padding=1).data[0, 0], [[0, 0.75, 1.75], [3.75, 9, 11], [8.75, 19, 21]]
    )
    np.testing.assert_array_equal(
        t.avg_pool2d(padding=1, count_include_pad=False).data[0, 0],
        [[0, 1.5, 3.5], [7.5, 9, 11], [17.5, 19, 21]],
    )
    w = Tensor(np.ones((1, 1, 2, 2)))
    t3 = Tensor(np.arange(9, dtype=np.float64).reshape(1, 1, 3, 3))
    np.testing.assert_array_equal(t3.conv2d(w).data[0, 0], [[8, 12], [20, 24]])


def test_four_sided_pool_padding_matches_f_pad_then_pool():
    torch = pytest.importorskip("torch")
    x = randn((1, 2, 6, 5))
    tf = torch.nn.functional
    ours = lambda t: t.avg_pool2d(3, 2, padding=(1, 0, 0, 1))  # noqa: E731
    theirs = lambda t: tf.avg_pool2d(tf.pad(t, (1, 0, 0, 1)), 3, 2)  # noqa: E731
    assert_parity(torch, ours, theirs, x)
    ours = lambda t: t.max_pool2d(3, 2, padding=(0, 1, 1, 1))  # noqa: E731
    theirs = lambda t: tf.max_pool2d(tf.pad(t, (0, 1, 1, 1), value=-np.inf), 3, 2)  # noqa: E731
    assert_parity(torch, ours, theirs, x)


@settings(max_examples=10, deadline=None)
@given(pool_case(), st.booleans())
def test_dilated_avg_pool_gradients_match_central_differences(case, include):
    """tinygrad's avg_pool2d takes a dilation (PyTorch's does not)."""
    shape, k, s, p, d, ceil = case
    x = randn(shape)
    try:
        Tensor(x).avg_pool2d(k, s, d, p, ceil, include)
    except ShapeError:
        return
    assert_grads_match(lambda t: t.avg_pool2d(k, s, d, p, ceil, include), [x])


# ----- Dropout2d ---------------------------------------------------------------------------


def test_dropout2d_zeroes_whole_channels_and_scales_the_rest():
    x = Tensor(np.ones((200, 50, 3, 2)))
    y = nn.Dropout2d(0.3, generator=np.random.default_rng(0))(x).data
    per_channel = y.reshape(200, 50, -1)
    assert np.all(per_channel.min(axis=2) == per_channel.max(axis=2))  # whole channels
    assert set(np.unique(y)) == {0.0, 1 / 0.7}
    dropped = (per_channel[:, :, 0] == 0).mean()
    assert abs(dropped - 0.3) < 4 * np.sqrt(0.3 * 0.7 / 10_000)  # 4 sigma of 10 000 draws
    assert y.mean() == pytest.approx(1.0, abs=0.05)  # the expectation is kept


def test_dropout2d_gradient_is_the_scaled_mask():
    t = Tensor(randn((4, 6, 3, 3)), requires_grad=True)
    y = dropout2d(t, 0.5, generator=np.random.default_rng(1))
    y.sum().backward()
    kept = (y.data != 0).reshape(4, 6, -1).any(axis=2)
    expected = np.broadcast_to(2.0 * kept[:, :, None, None], t.shape)
    np.testing.assert_array_equal(t.grad, expected)
    assert_grads_match(
        lambda u: dropout2d(u, 0.5, generator=np.random.default_rng(1)), [randn((2, 3, 2, 2))]
    )


def test_dropout2d_is_the_identity_in_eval_mode_and_for_p_zero():
    x = Tensor(randn((2, 3, 4, 4), dtype=np.float32))
    layer = nn.Dropout2d(0.9).eval()
    assert layer(x) is x and dropout2d(x, 0.5, training=False) is x and dropout2d(x, 0.0) is x
    assert layer.train()(x).dtype == np.float32
    assert repr(layer) == "Dropout2d(p=0.9)"


def test_dropout2d_is_reproducible_from_the_frameworks_generator():
    x = Tensor(np.ones((8, 16, 2, 2)))
    tg.manual_seed(5)
    first = nn.Dropout2d()(x).data
    tg.manual_seed(5)
    np.testing.assert_array_equal(nn.Dropout2d()(x).data, first)
    assert not np.array_equal(nn.Dropout2d()(x).data, first)  # the generator moves on
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    np.testing.assert_array_equal(
        dropout2d(x, generator=rng_a).data,
        F.dropout(
            x, 0.5, mask=np.broadcast_to(rng_b.random((8, 16, 1, 1)) >= 0.5, x.shape).copy()
        ).data,
    )


# ----- the padding layers -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ZeroPad2d", "ReflectionPad2d", "ReplicationPad2d"])
@pytest.mark.parametrize("padding", [1, (2, 0, 1, 3)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_padding_layers_match_pytorch(name, padding, dtype):
    torch = pytest.importorskip("torch")
    ours, theirs = getattr(nn, name)(padding), getattr(torch.nn, name)(padding)
    assert_parity(torch, ours, theirs, randn((2, 3, 4, 5), 0, dtype), dtype)
    assert_grads_match(ours, [randn((1, 2, 4, 5))])


def test_zero_pad2d_crops_with_negative_sizes_as_pytorch():
    torch = pytest.importorskip("torch")
    assert_parity(torch, nn.ZeroPad2d((-1, 2, 0, -2)), torch.nn.ZeroPad2d((-1, 2, 0, -2)),
                  randn((1, 2, 5, 5)))  # fmt: skip


def test_functional_exports_pad_and_dropout2d_as_torch():
    """F.pad is PyTorch's torch.nn.functional.pad (needs nn/functional.py to re-export it)."""
    assert F.pad is tg.pad and F.dropout2d is dropout2d
    assert F.conv2d is conv.conv2d and F.max_pool2d is conv.max_pool2d


# ----- the argument checks --------------------------------------------------------------------

X4 = randn((2, 3, 5, 5))
W4 = randn((4, 3, 3, 3), 1)
REFUSED = [
    (lambda: nn.Conv2d(3, 4, 3, padding_mode="mirror"), ConfigError, "padding_mode must be one"),
    (lambda: nn.Conv2d(3, 4, 3, padding=(1, 2, 3)), ConfigError, r"four \(left, right"),
    (lambda: nn.Conv2d(3, 4, 3, padding=(1, -1, 0, 0)), ConfigError, "padding"),
    (lambda: nn.Conv2d(3, 4, 3, padding=5, padding_mode="reflect")(X4), ShapeError, "reflect"),
    (
        lambda: nn.Conv2d(3, 4, 3, stride=2, padding="same", padding_mode="circular"),
        ConfigError,
        "stride 1",
    ),  # fmt: skip
    (lambda: F.conv2d(X4, W4, padding=(1, 1, 1)), ConfigError, "padding"),
    (lambda: Tensor(X4).conv2d(W4, groups=2), ShapeError, "groups=2"),
    (lambda: Tensor(X4).conv2d(W4.astype(np.float32)), DTypeError, "one dtype"),
    (lambda: Tensor(X4[0]).max_pool2d(), ShapeError, "4-D"),
    (lambda: Tensor(X4).max_pool2d(2, padding=(2, 0, 0, 0)), ConfigError, "half of kernel"),
    (lambda: Tensor(X4).avg_pool2d(2, dilation=0), ConfigError, "dilation"),
    (lambda: F.max_pool2d(X4, 2, ceil_mode=1), ConfigError, "ceil_mode must be True or False"),
    (lambda: F.max_pool2d(X4, 2, return_indices="yes"), ConfigError, "return_indices"),
    (lambda: F.avg_pool2d(X4, 2, divisor_override=0), ConfigError, "divisor_override"),
    (lambda: F.avg_pool2d(X4, 2, divisor_override=1.5), ConfigError, "non-zero integer"),
    (lambda: nn.AvgPool2d(2, ceil_mode=None), ConfigError, "AvgPool2d: ceil_mode"),
    (lambda: nn.AvgPool2d(2, divisor_override=0), ConfigError, "AvgPool2d: divisor_override"),
    (lambda: nn.MaxPool2d(2, return_indices=2), ConfigError, "MaxPool2d: return_indices"),
    (lambda: nn.Dropout2d(1.0), ConfigError, r"\[0, 1\)"),
    (lambda: nn.Dropout2d(generator=3), ConfigError, "generator"),
    (lambda: nn.Dropout2d()(X4[0]), ShapeError, "4-D"),
    (lambda: dropout2d(X4.astype(np.int32)), DTypeError, "float32 or float64"),
    (lambda: dropout2d(X4, training="no"), ConfigError, "training"),
    (lambda: nn.ReflectionPad2d((1, 2)), ConfigError, "four"),
    (lambda: nn.ReflectionPad2d(5)(X4), ShapeError, "reflect"),
    (lambda: nn.ReplicationPad2d(-1)(X4), ShapeError, "negative widths"),
    (lambda: nn.ZeroPad2d(1.5), ConfigError, "ZeroPad2d: padding"),
]


@pytest.mark.parametrize("call, error, message", REFUSED)
def test_bad_arguments_are_refused_with_the_frameworks_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
