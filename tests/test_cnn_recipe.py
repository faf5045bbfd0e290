"""The pieces of examples/cifar_cnn.py's airbench recipe: the translate-with-reflect-padding
and flip kernel (data.augment.translate_flip) against its twin and a per-image reference,
the alternating-flip batch stream, optim.Lookahead against a NumPy reference, the whitening
filters, the identity-initialised convs and the triangular schedule."""

import numpy as np
import pytest

import tinygrad_hlcv as tg
from cifar_fakes import load_example
from tinygrad_hlcv import nn, optim
from tinygrad_hlcv.data import augment as A
from tinygrad_hlcv.data.batches import AlternatingFlipBatches
from tinygrad_hlcv.errors import ConfigError, DTypeError, IndexingError, ShapeError

DTYPES = [np.uint8, np.float32, np.float64]


@pytest.fixture(scope="module")
def cnn():
    return load_example("cifar_cnn")


def images(n, channels=3, height=6, width=7, dtype=np.float32, seed=0):
    """An NCHW batch whose every value differs (a wrong pixel or channel cannot pass)."""
    rng = np.random.default_rng(seed)
    shape = (n, channels, height, width)
    if np.dtype(dtype) == np.uint8:
        return rng.integers(0, 256, size=shape, dtype=np.uint8)
    return rng.standard_normal(shape).astype(dtype)


def reference(X, draws, pad):
    """One image at a time: np.pad(mode='reflect'), slice the window, mirror it."""
    out = []
    for image, flip, top, left in zip(X, *draws, strict=True):
        padded = np.pad(image, ((0, 0), (pad, pad), (pad, pad)), mode="reflect")
        window = padded[:, top : top + X.shape[2], left : left + X.shape[3]]
        out.append(window[:, :, ::-1] if flip else window)
    return np.array(out, dtype=X.dtype).reshape(X.shape)


def every_draw(pad):
    """Each (flip, dy, dx) combination once: 2·(2·pad + 1)² images."""
    grid = [(f, y, x) for f in (0, 1) for y in range(2 * pad + 1) for x in range(2 * pad + 1)]
    grid = np.array(grid, np.int64)
    return A.FlipCrop(grid[:, 0].astype(bool), grid[:, 1], grid[:, 2])


def call(kernel_set, X, draws, pad, index=None):
    index = np.arange(len(X)) if index is None else np.asarray(index, np.int64)
    out = np.full((len(index), *X.shape[1:]), 77, X.dtype)
    kernel_set.translate_flip(X, index, *draws, pad, out)
    return out


# ---------------------------------------------------------------- kernel, twin, reference


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pad", [0, 1, 2, 5])
def test_kernel_and_twin_match_the_per_image_reference_for_every_draw(dtype, pad):
    draws = every_draw(pad)
    X = images(len(draws[0]), dtype=dtype)
    want = reference(X, draws, pad)
    np.testing.assert_array_equal(call(A.numba_kernels, X, draws, pad), want)
    np.testing.assert_array_equal(call(A.numpy_kernels, X, draws, pad), want)
    np.testing.assert_array_equal(A.translate_flip_batch(X, draws, pad), want)


def test_a_translation_moves_the_image_and_reflects_at_the_border():
    X = np.arange(5, dtype=np.float32).reshape(1, 1, 1, 5).repeat(3, axis=2)  # rows 0 1 2 3 4
    right = A.translate_flip_batch(X, A.FlipCrop(np.array([False]), [1], [0]), 1)
    np.testing.assert_array_equal(right[0, 0, 0], [1, 0, 1, 2, 3])  # shifted right, reflected
    mirrored = A.translate_flip_batch(X, A.FlipCrop(np.array([True]), [1], [1]), 1)
    np.testing.assert_array_equal(mirrored[0, 0, 0], [4, 3, 2, 1, 0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_and_inf_pass_through_unchanged(dtype):
    X = images(6, dtype=dtype)
    X[0, 0, 0, 0], X[1, 2, 3, 4], X[2, 1, 5, 6], X[3, 0, 2, 2] = np.nan, np.inf, -np.inf, np.nan
    rng = np.random.default_rng(1)
    draws = A.FlipCrop(rng.random(6) < 0.5, *rng.integers(0, 5, size=(2, 6)))
    want = reference(X, draws, 2)
    for kernel_set in (A.numba_kernels, A.numpy_kernels):
        got = call(kernel_set, X, draws, 2)
        np.testing.assert_array_equal(got, want)  # (NaN equal to NaN, in the same places)
    assert np.isnan(want).sum() >= 2 and np.isinf(want).sum() >= 2


def test_an_index_gathers_the_batch_and_strided_sources_are_copied_first():
    X = images(5)
    index = [4, 0, 4, 2]
    draws = A.FlipCrop(np.array([True, False, False, True]), [0, 1, 2, 4], [4, 3, 0, 2])
    want = reference(X[index], draws, 2)
    np.testing.assert_array_equal(A.translate_flip_batch(X, draws, 2, index=index), want)
    strided = np.concatenate([X, X], axis=3)[:, :, :, ::2]  # not C-contiguous
    got = A.translate_flip_batch(strided, draws, 2, index=index)
    np.testing.assert_array_equal(got, reference(np.ascontiguousarray(strided)[index], draws, 2))


def test_the_kernel_and_twin_refuse_arrays_that_do_not_fit():
    """Their own O(N) guard: whatever they are given, they never index past an array."""
    X = images(4)
    out = np.empty_like(X)
    flips, zeros = np.zeros(4, bool), np.zeros(4, np.int64)
    bad_calls = [
        (X, np.array([0, 1, 2, 4]), flips, zeros, zeros, 2, out),  # index past the images
        (X, np.array([0, 1, 2, -1]), flips, zeros, zeros, 2, out),
        (X, np.arange(3), flips, zeros, zeros, 2, out),  # one entry short
        (X, np.arange(4), flips, zeros + 5, zeros, 2, out),  # an offset past 2·pad
        (X, np.arange(4), flips, zeros, zeros - 1, 2, out),
        (X, np.arange(4), flips, zeros, zeros, 6, out),  # pad not below min(H, W)
        (X, np.arange(4), flips, zeros, zeros, 1, np.empty((4, 3, 6, 6), X.dtype)),
    ]
    for kernel_set in (A.numba_kernels, A.numpy_kernels):
        for arguments in bad_calls:
            with pytest.raises(ValueError, match="translate_flip: needs"):
                kernel_set.translate_flip(*arguments)


REFUSED = {
    "3-D images": (lambda X, d: A.translate_flip_batch(X[0], d, 2), ShapeError, "NCHW"),
    "int images": (lambda X, d: A.translate_flip_batch(X.astype(int), d, 2), DTypeError, "uint8"),
    "pad too big": (lambda X, d: A.translate_flip_batch(X, d, 6), ConfigError, "pad must be"),
    "offset past 2·pad": (
        lambda X, d: A.translate_flip_batch(X, A.FlipCrop(d.flips, d.dy + 5, d.dx), 2),
        ConfigError,
        "0..4",
    ),
    "one draw short": (
        lambda X, d: A.translate_flip_batch(X, A.FlipCrop(d.flips[:-1], d.dy, d.dx), 2),
        ShapeError,
        "one entry per image",
    ),
    "index past the end": (
        lambda X, d: A.translate_flip_batch(X, d, 2, index=[0, 1, 2, 9]),
        IndexingError,
        "0..3",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_bad_arguments_are_the_frameworks_errors_before_the_kernel_runs(case):
    action, error, message = REFUSED[case]
    draws = A.FlipCrop(np.zeros(4, bool), np.zeros(4, np.int64), np.zeros(4, np.int64))
    with pytest.raises(error, match=message):
        action(images(4), draws)


# ---------------------------------------------------------------- alternating flips


def test_alternating_flips_invert_every_other_epoch_and_cover_each_image_once():
    X = images(12, height=5, width=5)
    stream = AlternatingFlipBatches(X, np.arange(12), 4, rng=3, pad=0)
    assert len(stream) == 3
    seen = {0: [], 1: []}
    for epoch in (0, 1):
        for _ in range(len(stream)):
            batch, labels = stream.next_batch()
            for image, label in zip(batch, labels, strict=True):
                flipped = np.array_equal(image, X[label][:, :, ::-1])
                assert flipped or np.array_equal(image, X[label])
                seen[epoch].append((int(label), flipped))
    assert sorted(label for label, _ in seen[0]) == list(range(12))
    assert {label: not f for label, f in seen[0]} == dict(seen[1])  # the other way round
    assert 0 < sum(f for _, f in seen[0]) < 12


def test_the_stream_is_reproducible_and_resumes_from_its_state():
    X, y = images(10), np.arange(10)
    a = AlternatingFlipBatches(X, y, 3, rng=7, flat=True)
    first = [a.next_batch() for _ in range(4)]  # past an epoch's end (3 batches)
    state = a.state_dict()
    later = [a.next_batch() for _ in range(5)]
    b = AlternatingFlipBatches(X, y, 3, rng=7, flat=True)
    for xa, _ in first:  # the same seed, the same batches
        np.testing.assert_array_equal(b.next_batch()[0], xa)
    c = AlternatingFlipBatches(X, y, 3, rng=99, flat=True)
    c.load_state_dict(state)
    for (xa, ya), (xc, yc) in zip(later, [c.next_batch() for _ in range(5)], strict=True):
        np.testing.assert_array_equal(xa, xc)
        np.testing.assert_array_equal(ya, yc)
    assert first[0][0].shape == (3, 3 * 6 * 7)  # flat: rows
    e = AlternatingFlipBatches(X, y, 3, rng=8, flat=True)
    assert not np.array_equal(e.next_batch()[0], first[0][0])


def test_the_stream_refuses_what_it_cannot_take():
    with pytest.raises(ShapeError, match="NCHW"):
        AlternatingFlipBatches(np.zeros((4, 3, 5)), np.arange(4), 2, rng=0)
    with pytest.raises(ShapeError, match="lengths differ"):
        AlternatingFlipBatches(images(4), np.arange(3), 2, rng=0)
    with pytest.raises(ConfigError, match=r"batch_size must be a whole number in 1\.\.4"):
        AlternatingFlipBatches(images(4), np.arange(4), 5, rng=0)


# ---------------------------------------------------------------- Lookahead


def lookahead_reference(w0, targets, lr, k, decays):
    """Plain SGD on ½‖w − t‖² (gradient w − t) with the EMA pull every k steps, in NumPy."""
    w, ema = w0.copy(), w0.copy()
    for step, (target, decay) in enumerate(zip(targets, decays, strict=True), start=1):
        w = w - lr * (w - target)
        if step % k == 0:
            ema = ema + (1 - decay) * (w - ema)
            w = ema.copy()
    return w, ema


def run_lookahead(w0, targets, lr, k, decays, state=None, start=0):
    w = tg.tensor(w0.copy(), requires_grad=True)
    opt = optim.Lookahead(optim.SGD([w], lr=lr), k=k, decay=0.0)
    if state is not None:
        w.data[...] = state["w"]
        opt.load_state_dict(state["opt"])
    for target, decay in list(zip(targets, decays, strict=True))[start:]:
        opt.decay = decay
        opt.zero_grad()
        (((w - tg.tensor(target)) ** 2).sum() * 0.5).backward()
        opt.step()
    return w, opt


def test_lookahead_matches_the_numpy_reference_and_resumes_exactly():
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal(6)
    targets, decays = rng.standard_normal((13, 6)), rng.uniform(0, 1, 13)
    want_w, want_ema = lookahead_reference(w0, targets, 0.3, 3, decays)
    w, opt = run_lookahead(w0, targets, 0.3, 3, decays)
    np.testing.assert_allclose(w.data, want_w, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(opt.ema[0], want_ema, rtol=1e-12, atol=1e-12)
    assert not np.allclose(want_w, w0 - 0.3 * (w0 - targets[0]))  # it moved, many steps
    half, opt_half = run_lookahead(w0, targets[:7], 0.3, 3, decays[:7])
    state = {"w": half.data.copy(), "opt": opt_half.state_dict()}
    resumed, _ = run_lookahead(w0, targets, 0.3, 3, decays, state=state, start=7)
    np.testing.assert_array_equal(resumed.data, w.data)


def test_lookahead_sync_with_decay_one_gives_the_average_and_zero_changes_nothing():
    w = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    running = tg.tensor(np.array([3.0]))  # a buffer (BatchNorm's statistics) is averaged too
    opt = optim.Lookahead(optim.SGD([w], lr=0.1), k=100, buffers=[running])
    w.data[...], running.data[...] = [5.0, 6.0], [7.0]
    opt.update_parameters(0.0)  # ema <- w
    np.testing.assert_array_equal(opt.ema[0], [5.0, 6.0])
    w.data[...], running.data[...] = [9.0, 9.0], [1.0]
    opt.update_parameters(0.5)
    np.testing.assert_array_equal(running.data, [4.0])
    w.data[...] = [0.0, 0.0]
    opt.update_parameters(1.0)  # w <- ema
    np.testing.assert_array_equal(w.data, [7.0, 7.5])
    assert opt.lr == 0.1 and opt.param_groups is opt.optimizer.param_groups


def test_lookahead_refuses_bad_arguments_and_states():
    w = tg.tensor(np.zeros(3), requires_grad=True)
    sgd = optim.SGD([w], lr=0.1)
    with pytest.raises(ConfigError, match="wraps an optimizer"):
        optim.Lookahead([w])
    with pytest.raises(ConfigError, match="k must be an integer >= 1"):
        optim.Lookahead(sgd, k=0)
    with pytest.raises(ConfigError, match=r"decay must be a number in \[0, 1\]"):
        optim.Lookahead(sgd, decay=1.5)
    with pytest.raises(ConfigError, match="buffers must be float Tensors"):
        optim.Lookahead(sgd, buffers=[np.zeros(3)])
    state = optim.Lookahead(sgd).state_dict()
    other = tg.tensor(np.zeros(4), requires_grad=True)
    with pytest.raises(ShapeError, match="EMA of shapes"):
        optim.Lookahead(optim.SGD([other], lr=0.1)).load_state_dict(state)


# ---------------------------------------------------------------- the airbench net


def test_whitening_filters_give_patches_of_identity_covariance(cnn):
    """Correlated images through a Conv2d with the first half of the filters: the outputs
    at every position have covariance I (eps = 0), diag(λ / (λ + eps)) otherwise."""
    rng = np.random.default_rng(0)
    base = rng.standard_normal((200, 3, 9, 9))
    X = base + 0.8 * np.roll(base, 1, axis=3) + 0.5 * base[:, :1]  # neighbours and channels mix
    for eps in (0.0, 5e-4):
        filters = cnn.whitening_weights(X, 2, eps)
        assert filters.shape == (24, 3, 2, 2) and filters.dtype == np.float64
        np.testing.assert_array_equal(filters[12:], -filters[:12])
        conv = nn.Conv2d(3, 12, 2, bias=False, dtype=np.float64)
        conv.weight.data[...] = filters[:12]
        out = conv(X).data.transpose(0, 2, 3, 1).reshape(-1, 12)
        covariance = out.T @ out / len(out)
        if eps == 0:
            np.testing.assert_allclose(covariance, np.eye(12), atol=1e-8)
        else:
            assert np.abs(covariance - np.diag(np.diag(covariance))).max() < 1e-8
            assert 0.9 < np.diag(covariance).min() and np.diag(covariance).max() < 1
    variances = np.diag(covariance)
    assert np.all(np.diff(variances) <= 1e-12)  # the largest eigenvalue first


def test_identity_convs_pass_their_input_through_the_first_channels(cnn):
    config = dict(cnn.DEFAULTS, **cnn.PRESETS["fast"], **cnn.AIRBENCH)
    conv = cnn.identity_conv(4, 6, config)
    x = np.random.default_rng(0).standard_normal((2, 4, 5, 5)).astype(np.float32)
    np.testing.assert_allclose(conv(x).data[:, :4], x, atol=1e-6)
    assert conv.bias is None and np.abs(conv.weight.data[4:]).sum() > 0


def test_the_airbench_net_freezes_the_whitening_and_norm_scales_and_scales_the_bias_rate(cnn):
    config = {**cnn.DEFAULTS, **cnn.PRESETS["fast"], **cnn.AIRBENCH, "widths": [4, 8, 8]}
    tg.manual_seed(0)
    X = np.random.default_rng(0).standard_normal((20, 3, 32, 32)).astype(np.float32)
    model, opt, schedule = cnn.build_training(config, X)
    assert isinstance(opt, optim.Lookahead) and isinstance(schedule, cnn.TriangularLR)
    whiten = cnn.first_conv(model)
    assert not whiten.weight.requires_grad and whiten.bias.requires_grad
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == 6 and not any(m.weight.requires_grad for m in norms)
    assert norms[0].eps == 1e-12 and norms[0].momentum == pytest.approx(0.4)
    biases, rest = opt.param_groups
    assert biases["lr"] == pytest.approx(64 * rest["lr"])
    assert biases["weight_decay"] == pytest.approx(rest["weight_decay"] / 64)
    assert model(X.reshape(20, -1)).shape == (20, 10)


def test_the_triangular_rate_and_the_lookahead_decay_follow_the_fraction(cnn):
    w = tg.tensor(np.zeros(2), requires_grad=True)
    sgd = optim.SGD([w], lr=1.0)
    lookahead = optim.Lookahead(sgd, decay=0.0)
    schedule = cnn.TriangularLR(sgd, 2.0, 0.25, lookahead, base_decay=0.5)
    for fraction, lr in ((0.0, 0.4), (0.125, 1.2), (0.25, 2.0), (0.625, 1.07), (1.0, 0.14)):
        schedule.step(fraction)
        assert sgd.param_groups[0]["lr"] == pytest.approx(lr)
        assert lookahead.decay == pytest.approx(0.5 * fraction**3)
