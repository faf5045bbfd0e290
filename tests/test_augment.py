"""The flip/crop augmentation kernel (tinygrad_hlcv.data.augment): kernel against twin,
both against a slow per-image reference (np.pad and slicing), the random sequence, and
every input it must refuse."""

import numpy as np
import pytest

from tinygrad_hlcv import kernels
from tinygrad_hlcv.data import BatchIterator, augment_batch
from tinygrad_hlcv.data import augment as A
from tinygrad_hlcv.errors import ConfigError, DTypeError, IndexingError, ShapeError
from tinygrad_hlcv.reference import flip_crop_reference

DTYPES = [np.uint8, np.float32, np.float64]


def images(n, height=7, width=9, channels=3, dtype=np.float32, layout="NHWC", seed=0):
    """A batch whose every value differs (so a wrong pixel or channel cannot pass)."""
    rng = np.random.default_rng(seed)
    shape = (n, height, width, channels) if layout == "NHWC" else (n, channels, height, width)
    if np.dtype(dtype) == np.uint8:
        return rng.integers(1, 256, size=shape, dtype=np.uint8)
    return rng.standard_normal(shape).astype(dtype) + 10  # no value is 0, the padding's


def reference(X, draws, pad, layout="NHWC"):
    """The obvious version, one image at a time: mirror, zero-pad, slice the window."""
    flips, dy, dx = draws
    out = []
    for image, flip, top, left in zip(X, flips, dy, dx):
        hwc = image if layout == "NHWC" else image.transpose(1, 2, 0)
        if flip:
            hwc = hwc[:, ::-1]
        padded = np.pad(hwc, ((pad, pad), (pad, pad), (0, 0)))
        window = padded[top : top + hwc.shape[0], left : left + hwc.shape[1]]
        out.append(window if layout == "NHWC" else window.transpose(2, 0, 1))
    return np.array(out, dtype=X.dtype).reshape(X.shape)


def every_draw(pad):
    """Each (flip, dy, dx) combination once: 2·(2·pad + 1)² images."""
    grid = np.array(
        [(f, y, x) for f in (False, True) for y in range(2 * pad + 1) for x in range(2 * pad + 1)]
    )
    return A.FlipCrop(grid[:, 0].astype(bool), grid[:, 1], grid[:, 2])


def run(kernel_set, X, draws, pad, layout="NHWC", index=None):
    """One call of the kernel or its twin on the 5-D views, as flip_crop_batch makes them."""
    index = np.arange(len(X)) if index is None else np.asarray(index, np.int64)
    out = np.full((len(index), *X.shape[1:]), 77, X.dtype)  # 77: not the padding's 0
    flips, dy, dx = (np.asarray(a) for a in draws)
    kernel_set.flip_crop(
        A._five_d(X, layout), index, flips, dy.astype(np.int64), dx.astype(np.int64), pad,
        A._five_d(out, layout),
    )  # fmt: skip
    return out


# ---------------------------------------------------------------- kernel, twin, reference


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pad", [0, 1, 3, 6])
def test_kernel_and_twin_match_the_per_image_reference_for_every_draw(dtype, layout, pad):
    draws = every_draw(pad)
    X = images(len(draws.flips), dtype=dtype, layout=layout)
    want = reference(X, draws, pad, layout)
    for kernel_set in (A.numba_kernels, A.numpy_kernels):
        got = run(kernel_set, X, draws, pad, layout)
        assert got.dtype == X.dtype
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_and_inf_pass_through_unchanged_and_padding_stays_zero(dtype):
    X = images(60, dtype=dtype)
    special = np.random.default_rng(1).random(X.shape)
    X[special < 0.1] = np.nan
    X[(special >= 0.1) & (special < 0.2)] = np.inf
    X[(special >= 0.2) & (special < 0.3)] = -np.inf
    draws = A.draw_flip_crop(np.random.default_rng(2), 60, pad=3)
    want = reference(X, draws, 3)
    bits = np.dtype(f"u{X.itemsize}")
    for kernel_set in (A.numba_kernels, A.numpy_kernels):
        got = run(kernel_set, X, draws, 3)
        np.testing.assert_array_equal(got.view(bits), want.view(bits))  # bit for bit
    assert np.isnan(want).any() and np.isinf(want).any() and (want == 0).any()


@pytest.mark.parametrize("dtype", DTYPES)
def test_an_index_gathers_the_batch_in_the_same_pass(dtype):
    X = images(10, dtype=dtype)
    index = np.array([9, 0, 0, 4, 9, 2])  # repeats, any order: drawing with replacement
    draws = A.draw_flip_crop(np.random.default_rng(3), len(index), pad=2)
    want = reference(X[index], draws, 2)
    for kernel_set in (A.numba_kernels, A.numpy_kernels):
        np.testing.assert_array_equal(run(kernel_set, X, draws, 2, index=index), want)
    got = A.flip_crop_batch(X, draws, 2, index=index)
    np.testing.assert_array_equal(got, want)


def test_the_kernel_and_twin_refuse_arrays_that_do_not_fit():
    """Their own O(N) guard: whatever they are given, they never index past an array."""
    X = A._five_d(images(4), "NHWC")
    out = np.empty_like(X)
    flips, offsets = np.zeros(4, bool), np.zeros(4, np.int64)
    bad_calls = [
        (X, np.array([0, 1, 2, 4]), flips, offsets, offsets, out),  # index past the images
        (X, np.array([0, 1, 2, -1]), flips, offsets, offsets, out),
        (X, np.arange(3), flips, offsets, offsets, out),  # one entry short
        (X, np.arange(4), flips, offsets[:3], offsets, out),
        (X, np.arange(4), flips, offsets, offsets, np.empty((4, 1, 7, 8, 3), X.dtype)),
    ]
    for kernel_set in (A.numba_kernels, A.numpy_kernels):
        for images_, index, f, dy, dx, o in bad_calls:
            with pytest.raises(ValueError, match="flip_crop: needs"):
                kernel_set.flip_crop(images_, index, f, dy, dx, 1, o)


def test_kernels_select_switches_the_augmentation_to_the_twin():
    before = kernels.active
    try:
        kernels.select("numpy")
        assert A.active() is A.numpy_kernels
        kernels.select("numba")
        assert A.active() is A.numba_kernels
    finally:
        kernels.active = before


# ---------------------------------------------------------------- the random sequence


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("flip", "pad"), [(True, 4), (False, 4), (True, 0), (False, 0)])
def test_augment_batch_keeps_the_fancy_index_versions_draws_and_results(dtype, flip, pad):
    X = images(50, 32, 32, dtype=dtype)
    got = augment_batch(X, np.random.default_rng(5), flip=flip, pad=pad)
    np.testing.assert_array_equal(got, flip_crop_reference(X, np.random.default_rng(5), flip, pad))
    rng = np.random.default_rng(5)  # the documented order: flips, then (dy, dx)
    flips = rng.random(50) < 0.5 if flip else np.zeros(50, bool)
    dy, dx = rng.integers(0, 2 * pad + 1, size=(2, 50)) if pad else (np.zeros(50, int),) * 2
    np.testing.assert_array_equal(got, reference(X, (flips, dy, dx), pad))


def test_same_seed_same_batch_other_seed_other_batch():
    X = images(64, 32, 32, dtype=np.uint8)
    a = augment_batch(X, np.random.default_rng(11))
    b = augment_batch(X, np.random.default_rng(11))
    c = augment_batch(X, np.random.default_rng(12))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    flips, dy, dx = A.draw_flip_crop(np.random.default_rng(11), 64)
    assert 10 < flips.sum() < 54 and dy.min() >= 0 and dy.max() <= 8 and len(set(dx)) > 4


def test_batch_iterator_batches_are_the_reference_on_the_same_draws():
    X, y = images(30, 32, 32, dtype=np.float32), np.arange(30)
    it = BatchIterator(X, y, 8, replacement=True, rng=4, augment=True)
    rng = np.random.default_rng(4)
    for _ in range(3):
        xb, yb = it.next_batch()
        index = rng.integers(0, 30, size=8)  # sample(): the indices, then the augmentation
        draws = A.draw_flip_crop(rng, 8)
        np.testing.assert_array_equal(yb, y[index])
        np.testing.assert_array_equal(xb, reference(X[index], draws, 4))


def test_strided_sources_give_what_their_contiguous_copies_give():
    X = images(12, 9, 10, dtype=np.float64)
    strided = X[::2, :, ::-1]  # not C-contiguous
    draws = A.draw_flip_crop(np.random.default_rng(6), 6, pad=2)
    want = reference(np.ascontiguousarray(strided), draws, 2)
    np.testing.assert_array_equal(A.flip_crop_batch(strided, draws, 2), want)
    index = np.array([5, 1, 1, 0, 2, 3])
    draws_i = A.draw_flip_crop(np.random.default_rng(7), 6, pad=2)
    np.testing.assert_array_equal(
        A.flip_crop_batch(strided, draws_i, 2, index=index),
        reference(np.ascontiguousarray(strided)[index], draws_i, 2),
    )
    batches = BatchIterator(strided, np.arange(6), 3, rng=0, augment=True)
    assert all(xb.shape == (3, 9, 10, 3) for xb, _ in batches.epoch())


def test_out_is_written_and_returned_and_an_empty_batch_works():
    X = images(5, layout="NCHW")
    draws = A.draw_flip_crop(np.random.default_rng(8), 5, pad=2)
    out = np.empty_like(X)
    assert A.flip_crop_batch(X, draws, 2, layout="NCHW", out=out) is out
    np.testing.assert_array_equal(out, reference(X, draws, 2, "NCHW"))
    empty = A.random_flip_crop(
        X, np.random.default_rng(0), pad=2, index=np.array([], np.int64), layout="NCHW"
    )
    assert empty.shape == (0, *X.shape[1:]) and empty.dtype == X.dtype


# ---------------------------------------------------------------- refused inputs

X_OK = images(4, 8, 8)
DRAWS_OK = A.draw_flip_crop(np.random.default_rng(0), 4, pad=2)
REFUSED = {
    "3-D batch": (ShapeError, dict(images=X_OK[0])),
    "flat rows": (ShapeError, dict(images=X_OK.reshape(4, -1))),
    "5-D batch": (ShapeError, dict(images=X_OK[None])),
    "int64 images": (DTypeError, dict(images=X_OK.astype(np.int64))),
    "float16 images": (DTypeError, dict(images=X_OK.astype(np.float16))),
    "bool images": (DTypeError, dict(images=X_OK > 10)),
    "unknown layout": (ConfigError, dict(layout="HWC")),
    "negative pad": (ConfigError, dict(pad=-1)),
    "pad as large as the image": (ConfigError, dict(pad=8)),
    "pad past the shorter side": (ConfigError, dict(images=images(4, 3, 8), pad=3)),
    "fractional pad": (ConfigError, dict(pad=2.0)),
    "bool pad": (ConfigError, dict(pad=True)),
    "index past the images": (IndexingError, dict(index=[0, 1, 2, 4])),
    "negative index": (IndexingError, dict(index=[0, -1, 2, 3])),
    "2-D index": (IndexingError, dict(index=[[0, 1], [2, 3]])),
    "float index": (IndexingError, dict(index=[0.0, 1.0, 2.0, 3.0])),
    "out of the wrong shape": (ShapeError, dict(out=np.empty((4, 8, 8, 2), np.float32))),
    "out of the wrong dtype": (DTypeError, dict(out=np.empty((4, 8, 8, 3), np.float64))),
    "non-contiguous out": (ShapeError, dict(out=np.empty((4, 8, 16, 3), np.float32)[:, :, ::2])),
    "read-only out": (ShapeError, dict(out=np.broadcast_to(np.float32(0), (4, 8, 8, 3)))),
    "out overlapping the images": (ConfigError, dict(out=X_OK)),
}
DRAWS_REFUSED = {
    "flips one short": (ShapeError, DRAWS_OK._replace(flips=DRAWS_OK.flips[:3])),
    "dy 2-D": (ShapeError, DRAWS_OK._replace(dy=DRAWS_OK.dy[:, None])),
    "int flips": (DTypeError, DRAWS_OK._replace(flips=DRAWS_OK.flips.astype(int))),
    "float offsets": (DTypeError, DRAWS_OK._replace(dx=DRAWS_OK.dx.astype(float))),
    "offset past 2·pad": (ConfigError, DRAWS_OK._replace(dy=np.array([0, 1, 5, 2]))),
    "negative offset": (ConfigError, DRAWS_OK._replace(dx=np.array([0, -1, 2, 2]))),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_bad_arguments_are_refused_before_anything_is_drawn(case):
    error, changes = REFUSED[case]
    kwargs = dict(images=X_OK.copy(), pad=2, layout="NHWC", index=None, out=None)
    kwargs.update(changes)
    if kwargs["out"] is X_OK:  # the overlap case: out is the very images given
        kwargs["out"] = kwargs["images"]
    X, pad = kwargs.pop("images"), kwargs.pop("pad")
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    with pytest.raises(error):
        A.random_flip_crop(X, rng, True, pad, **kwargs)
    assert rng.bit_generator.state == state
    with pytest.raises(error):
        A.flip_crop_batch(X, DRAWS_OK, pad, **kwargs)


@pytest.mark.parametrize("case", list(DRAWS_REFUSED))
def test_bad_draws_are_refused(case):
    error, draws = DRAWS_REFUSED[case]
    out = np.full_like(X_OK, 5)
    with pytest.raises(error):
        A.flip_crop_batch(X_OK, draws, 2, out=out)
    assert (out == 5).all()  # nothing was written


def test_error_messages_say_what_was_expected():
    with pytest.raises(ShapeError, match=r"\(N, C, H, W\).*got shape \(4, 192\)"):
        A.check_images(X_OK.reshape(4, -1), layout="NCHW")
    with pytest.raises(DTypeError, match="uint8, float32 or float64 images, got int16"):
        A.check_images(X_OK.astype(np.int16))
    with pytest.raises(ConfigError, match=r"pad must be in 0\.\.7 .*got 9"):
        A.check_images(X_OK, pad=9)
    with pytest.raises(IndexingError, match=r"index must be in 0\.\.3"):
        A.flip_crop_batch(X_OK, DRAWS_OK, 2, index=[0, 1, 2, 7])


def test_batch_iterator_refuses_images_it_could_not_augment_when_built():
    y = np.zeros(4)
    with pytest.raises(DTypeError):
        BatchIterator(X_OK.astype(np.int32), y, 2, augment=True)
    with pytest.raises(ConfigError):  # 4x4 images cannot take the default 4-pixel pad
        BatchIterator(images(4, 4, 4), y, 2, augment=True)
    with pytest.raises(ShapeError):
        BatchIterator(X_OK.reshape(4, -1), y, 2, augment=True)
    BatchIterator(X_OK.astype(np.int32), y, 2)  # without augmentation any dtype is fine


@pytest.mark.parametrize(
    "rng, flip, message",
    [
        ("0", True, "rng must be a np.random.Generator or an int seed >= 0, got '0' (str)"),
        (None, True, "rng must be a np.random.Generator or an int seed >= 0, got None"),
        (-1, True, "rng must be a np.random.Generator or an int seed >= 0, got -1 (int)"),
        (True, True, "rng must be a np.random.Generator or an int seed >= 0, got True"),
        (np.random.RandomState(0), True, "rng must be a np.random.Generator"),
        (0, "no", "flip must be True or False, got 'no'"),
        (0, 1, "flip must be True or False, got 1"),
        (0, None, "flip must be True or False, got None"),
    ],
)
def test_random_flip_crop_refuses_a_bad_rng_or_flip(rng, flip, message):
    out = np.full_like(X_OK, 5)
    with pytest.raises(ConfigError) as info:
        A.random_flip_crop(X_OK, rng, flip, 2, out=out)
    assert str(info.value).startswith(message)
    with pytest.raises(ConfigError):
        A.draw_flip_crop(rng, 4, flip, 2)


def test_a_bad_flip_leaves_the_generator_as_it_was():
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    with pytest.raises(ConfigError, match="flip must be True or False"):
        A.random_flip_crop(X_OK, rng, "no", 2)
    assert rng.bit_generator.state == state


def test_an_int_seed_is_the_generator_it_seeds_as_batch_iterator_takes_it():
    got = A.random_flip_crop(X_OK, 7, True, 2)
    np.testing.assert_array_equal(got, A.random_flip_crop(X_OK, np.random.default_rng(7), True, 2))
    np.testing.assert_array_equal(got, A.random_flip_crop(X_OK, np.int64(7), np.True_, 2))
    draws = A.draw_flip_crop(7, 4, pad=2)
    np.testing.assert_array_equal(got, A.flip_crop_batch(X_OK, draws, 2))
