"""Random horizontal flips and zero-padded random crops of a whole image batch, as one
Numba kernel with its NumPy twin; and (at the end) airbench's reflect-padded translations
with a given flip per image, `translate_flip`, with its twin.

The random draws (a flip flag and two crop offsets per image) are made with the seeded
np.random.Generator outside the kernel, in the order the original fancy-indexing version
drew them: `rng.random(n) < 0.5` for the flips (if flip), then
`rng.integers(0, 2·pad + 1, size=(2, n))` for the row and column offsets (if pad > 0).
The kernel and its twin therefore give bit-identical results from the same seed, and the
same results as before the kernel existed.

Image i of the batch is image index[i] of the source, mirrored left-right if flips[i],
then cropped from the image zero-padded by `pad` on each side at offset (dy[i], dx[i]):

    out[i, y, x] = image[y + dy[i] − pad, x'],  x' = x + dx[i] − pad (mirrored: W − 1 − x'),

and 0 where the source pixel falls in the padding. The kernel computes this by index
arithmetic in one pass over the output (no padded copy, and with `index`, no gathered
copy of the batch either). Values are copied, never computed with, so NaN and ±Inf pass
through unchanged.

Layouts: "NHWC" (N, H, W, C), what tinygrad_hlcv.data loads (flat rows (N, H·W·C) of a
CIFAR pipeline are a reshape away, a view), or "NCHW" (N, C, H, W). Both are walked as the
5-D view (N, A, H, W, B): (N, 1, H, W, C) or (N, C, H, W, 1), so one kernel serves both
without a transpose. dtypes: uint8, float32, float64.

The public functions check everything the user passes (and say what was expected) before
the kernel runs; the kernel and its twin also check, in O(N), that the arrays they are
given fit, and raise the same ValueError otherwise. The kernel or twin in use follows
`kernels.select` / TINYGRAD_HLCV_KERNELS, like every other kernel.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, NamedTuple

import numba
import numpy as np
import numpy.typing as npt

from .. import kernels
from ..convert import is_whole, shown
from ..errors import ConfigError, DTypeError, IndexingError, ShapeError

Array = npt.NDArray[Any]

LAYOUTS = {"NHWC": "(N, H, W, C)", "NCHW": "(N, C, H, W)"}
DTYPES = (np.dtype(np.uint8), np.dtype(np.float32), np.dtype(np.float64))
FLIP_CROP_MISFIT = (
    "flip_crop: needs images (M, A, H, W, B) and out (N, A, H, W, B), index, flips, dy and dx "
    "one entry per image of out, and every index in 0..M-1"
)


def _flip_crop_misfit(
    images: Array, index: Array, flips: Array, dy: Array, dx: Array, out: Array
) -> bool:
    """True if the arrays do not fit together (the kernel would index past one)."""
    if images.ndim != 5 or out.ndim != 5:
        return True
    for axis in range(1, 5):
        if images.shape[axis] != out.shape[axis]:
            return True
    n = out.shape[0]
    if not index.size == flips.size == dy.size == dx.size == n:
        return True
    for i in range(n):
        if index[i] < 0 or index[i] >= images.shape[0]:
            return True
    return False


_flip_crop_misfit_jit = numba.njit(cache=True)(_flip_crop_misfit)


@numba.njit(cache=True, nogil=True)  # (benchmarks/augment.py times a prefetching thread)
def flip_crop(
    images: Array, index: Array, flips: Array, dy: Array, dx: Array, pad: int, out: Array
) -> None:
    """out[i] = images[index[i]] mirrored if flips[i], shifted by (dy[i] − pad, dx[i] − pad),
    0 in the padding. Rows wholly in the padding are zeroed; in the others only the columns
    left and right of [x_lo, x_hi), where the source column x + left exists, are."""
    if _flip_crop_misfit_jit(images, index, flips, dy, dx, out):
        raise ValueError(FLIP_CROP_MISFIT)
    _, planes, height, width, depth = out.shape
    for i in range(out.shape[0]):
        source, target = images[index[i]], out[i]
        top, left = dy[i] - pad, dx[i] - pad
        x_lo = min(max(-left, 0), width)
        x_hi = max(min(width - left, width), x_lo)
        step = -1 if flips[i] else 1  # source column = start + step·x
        start = width - 1 - left if flips[i] else left
        for a in range(planes):
            for y in range(height):
                if y + top < 0 or y + top >= height:
                    target[a, y] = 0
                    continue
                target[a, y, :x_lo] = 0
                target[a, y, x_hi:] = 0
                for x in range(x_lo, x_hi):
                    for b in range(depth):
                        target[a, y, x, b] = source[a, y + top, start + step * x, b]


def flip_crop_numpy(
    images: Array, index: Array, flips: Array, dy: Array, dx: Array, pad: int, out: Array
) -> None:
    """The kernel in array notation: gather every output pixel's source pixel (clipped into
    the image), then put 0 where the source lies in the padding."""
    if _flip_crop_misfit(images, index, flips, dy, dx, out):
        raise ValueError(FLIP_CROP_MISFIT)
    _, planes, height, width, _ = out.shape
    rows = (dy - pad)[:, None] + np.arange(height)  # (N, H): source rows
    shifted = (dx - pad)[:, None] + np.arange(width)  # (N, W): source columns before mirroring
    columns = np.where(flips[:, None], width - 1 - shifted, shifted)
    rows_inside, columns_inside = (rows >= 0) & (rows < height), (shifted >= 0) & (shifted < width)
    inside = rows_inside[:, :, None] & columns_inside[:, None, :]  # (N, H, W)
    picked = images[
        index[:, None, None, None],
        np.arange(planes)[None, :, None, None],
        rows.clip(0, height - 1)[:, None, :, None],
        columns.clip(0, width - 1)[:, None, None, :],
    ]  # (N, A, H, W, B)
    np.copyto(out, np.where(inside[:, None, :, :, None], picked, 0))


def active() -> SimpleNamespace:
    """The set in use: the twins when kernels.select("numpy") / TINYGRAD_HLCV_KERNELS=numpy."""
    return numpy_kernels if kernels.active is kernels.numpy_kernels else numba_kernels


# ---- the draws and the checked public functions ----


class FlipCrop(NamedTuple):
    """One batch's draws: a flip flag and the crop offsets in 0..2·pad of each image."""

    flips: Array  # bool (N,)
    dy: Array  # int64 (N,): the crop's top row in the padded image
    dx: Array  # int64 (N,): its left column


def as_generator(rng: int | np.random.Generator) -> np.random.Generator:
    """rng itself if it is a np.random.Generator, a new one seeded by it if it is an int
    seed >= 0 (as BatchIterator takes; the same seed gives the same draws on every call)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if is_whole(rng) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise ConfigError(
        f"rng must be a np.random.Generator or an int seed >= 0, got {shown(rng)} "
        f"({type(rng).__name__})"
    )


def _check_flip(flip: object) -> None:
    if not isinstance(flip, (bool, np.bool_)):
        raise ConfigError(f"flip must be True or False, got {shown(flip)}")


def draw_flip_crop(
    rng: int | np.random.Generator, n: int, flip: bool = True, pad: int = 4
) -> FlipCrop:
    """The draws for n images, in the original order (flips, then offsets); nothing is drawn
    for flip=False or pad=0. rng and flip are checked before anything is drawn."""
    _check_flip(flip)
    rng = as_generator(rng)
    flips = rng.random(n) < 0.5 if flip else np.zeros(n, bool)
    if pad > 0:
        dy, dx = rng.integers(0, 2 * pad + 1, size=(2, n))
    else:
        dy = dx = np.zeros(n, np.int64)
    return FlipCrop(flips, dy.astype(np.int64), dx.astype(np.int64))


def check_images(images: Array, pad: int = 4, layout: str = "NHWC") -> tuple[int, int]:
    """Refuse what flip_crop_batch cannot take: a layout other than NHWC/NCHW, anything but
    a 4-D uint8/float32/float64 batch, a pad that is not an integer in 0..min(H, W) − 1.
    Returns the image's (H, W)."""
    if layout not in LAYOUTS:
        raise ConfigError(f"layout must be 'NHWC' or 'NCHW', got {layout!r}")
    if np.ndim(images) != 4:
        raise ShapeError(
            f"flips and crops need a batch of images {LAYOUTS[layout]} ({layout}), got shape "
            f"{np.shape(images)}; reshape flat rows (N, H·W·C) to (N, H, W, C) first (a view)"
        )
    dtype, shape = np.asarray(images).dtype, np.shape(images)
    if dtype not in DTYPES:
        raise DTypeError(f"flips and crops need uint8, float32 or float64 images, got {dtype}")
    height, width = shape[1:3] if layout == "NHWC" else shape[2:4]
    if isinstance(pad, bool) or not isinstance(pad, (int, np.integer)):
        raise ConfigError(f"pad must be an integer, got {pad!r}")
    if not 0 <= pad < min(height, width):
        raise ConfigError(
            f"pad must be in 0..{min(height, width) - 1} (>= 0 and smaller than the "
            f"{height}x{width} image), got {pad}"
        )
    return height, width


def _check_index(index: npt.ArrayLike, count: int) -> Array:
    """index as an int64 array of positions in 0..count-1, or an IndexingError."""
    index = np.asarray(index)
    if index.ndim != 1 or not (index.dtype.kind in "iu" or index.size == 0):
        raise IndexingError(
            f"index must be a 1-D integer array of image positions, got a {index.dtype} "
            f"array of shape {index.shape}"
        )
    if index.size and (index.min() < 0 or index.max() >= count):
        raise IndexingError(
            f"index must be in 0..{count - 1} (the source has {count} images), got values "
            f"from {index.min()} to {index.max()}"
        )
    return np.ascontiguousarray(index, dtype=np.int64)


def _check_draws(draws: FlipCrop, n: int, pad: int) -> FlipCrop:
    """The draws as contiguous bool/int64 arrays, one entry per image, offsets in 0..2·pad."""
    flips, dy, dx = (np.asarray(a) for a in draws)
    for name, a in (("flips", flips), ("dy", dy), ("dx", dx)):
        if a.shape != (n,):
            raise ShapeError(f"{name} needs one entry per image, shape ({n},), got {a.shape}")
    if flips.dtype != np.bool_:
        raise DTypeError(f"flips must be a bool array, got {flips.dtype}")
    for name, a in (("dy", dy), ("dx", dx)):
        if a.dtype.kind not in "iu" and n:
            raise DTypeError(f"{name} must be an integer array, got {a.dtype}")
        if n and (a.min() < 0 or a.max() > 2 * pad):
            raise ConfigError(
                f"{name} (crop offsets in the padded image) must be in 0..{2 * pad} for "
                f"pad={pad}, got values from {a.min()} to {a.max()}"
            )
    contiguous = (np.ascontiguousarray(a, dtype=np.int64) for a in (dy, dx))
    return FlipCrop(np.ascontiguousarray(flips), *contiguous)


def _check_out(out: Array | None, shape: tuple[int, ...], dtype: np.dtype, images: Array) -> Array:
    """The output array: a new one, or `out` if it is a writeable C-contiguous array of the
    batch's shape and dtype that does not overlap the images."""
    if out is None:
        return np.empty(shape, dtype)
    if not isinstance(out, np.ndarray) or out.shape != shape:
        raise ShapeError(f"out must be an array of shape {shape}, got {np.shape(out)}")
    if out.dtype != dtype:
        raise DTypeError(f"out must have the images' dtype {dtype}, got {out.dtype}")
    if not (out.flags.c_contiguous and out.flags.writeable):
        raise ShapeError("out must be a writeable C-contiguous array")
    if np.may_share_memory(out, images):
        raise ConfigError("out must not overlap the images it is computed from")
    return out


def _five_d(images: Array, layout: str) -> Array:
    """The (N, A, H, W, B) view the kernel walks: (N, 1, H, W, C) or (N, C, H, W, 1)."""
    n, d1, d2, d3 = images.shape
    return (
        images.reshape(n, 1, d1, d2, d3) if layout == "NHWC" else images.reshape(n, d1, d2, d3, 1)
    )


def _prepare(
    images: Array, pad: int, index: npt.ArrayLike | None, layout: str, out: Array | None
) -> tuple[Array, Array, Array]:
    """Every check of the images, pad, layout, index and out, before anything is drawn or
    written. Returns a C-contiguous source (the gathered batch if the images were strided),
    the int64 index into it and the output array."""
    check_images(images, pad, layout)
    images = np.asarray(images)
    if index is None:
        images, positions = np.ascontiguousarray(images), np.arange(len(images))
    else:
        positions = _check_index(index, len(images))
        if not images.flags.c_contiguous:  # gather just the batch, not the whole source
            images, positions = np.ascontiguousarray(images[positions]), np.arange(len(positions))
    out = _check_out(out, (len(positions), *images.shape[1:]), images.dtype, images)
    return images, positions, out


def flip_crop_batch(
    images: Array,
    draws: FlipCrop,
    pad: int = 4,
    *,
    index: npt.ArrayLike | None = None,
    layout: str = "NHWC",
    out: Array | None = None,
) -> Array:
    """The batch images[index] (all images if index is None), flipped and cropped as `draws`
    say (one flip flag and two offsets in 0..2·pad per image of the batch), written into
    `out` (a new array if None), which is returned."""
    images, positions, out = _prepare(images, pad, index, layout, out)
    draws = _check_draws(draws, len(positions), pad)
    active().flip_crop(_five_d(images, layout), positions, *draws, int(pad), _five_d(out, layout))
    return out


def random_flip_crop(
    images: Array,
    rng: int | np.random.Generator,
    flip: bool = True,
    pad: int = 4,
    *,
    index: npt.ArrayLike | None = None,
    layout: str = "NHWC",
    out: Array | None = None,
) -> Array:
    """Random horizontal flips (p = 0.5, if flip) and random crops of the zero-padded images
    (if pad > 0) of the batch images[index], drawn from rng (draw_flip_crop: a
    np.random.Generator, or an int seed). Everything is checked before anything is drawn,
    so a refused call leaves rng as it was."""
    images, positions, out = _prepare(images, pad, index, layout, out)
    draws = draw_flip_crop(rng, len(positions), flip, pad)
    active().flip_crop(_five_d(images, layout), positions, *draws, int(pad), _five_d(out, layout))
    return out


# ---- random translations with reflect padding, and flips (the airbench recipe) ----

TRANSLATE_FLIP_MISFIT = (
    "translate_flip: needs images (M, C, H, W) and out (N, C, H, W), index, flips, dy and dx "
    "one entry per image of out, every index in 0..M-1, 0 <= pad < min(H, W) and every offset "
    "in 0..2·pad"
)


def _translate_flip_misfit(
    images: Array, index: Array, flips: Array, dy: Array, dx: Array, pad: int, out: Array
) -> bool:
    """True if the arrays do not fit together (the kernel would index past one): with pad
    < min(H, W) and offsets in 0..2·pad one reflection brings every source pixel inside."""
    if images.ndim != 4 or out.ndim != 4 or not 0 <= pad < min(out.shape[2], out.shape[3]):
        return True
    for axis in range(1, 4):
        if images.shape[axis] != out.shape[axis]:
            return True
    n = out.shape[0]
    if not index.size == flips.size == dy.size == dx.size == n:
        return True
    for i in range(n):
        if index[i] < 0 or index[i] >= images.shape[0]:
            return True
        if dy[i] < 0 or dy[i] > 2 * pad or dx[i] < 0 or dx[i] > 2 * pad:
            return True
    return False


_translate_flip_misfit_jit = numba.njit(cache=True)(_translate_flip_misfit)


@numba.njit(cache=True)
def _reflect(position: int, size: int) -> int:
    """The index `position` (in -size+1..2·size-2) reflected into 0..size-1, as
    np.pad(mode='reflect'): -1 -> 1, size -> size - 2."""
    if position < 0:
        return -position
    if position >= size:
        return 2 * size - 2 - position
    return position


@numba.njit(cache=True, nogil=True)
def translate_flip(
    images: Array, index: Array, flips: Array, dy: Array, dx: Array, pad: int, out: Array
) -> None:
    """out[i] = images[index[i]] reflect-padded by `pad`, cropped at (dy[i], dx[i]), then
    mirrored left-right if flips[i]. NCHW; values are copied, so NaN and Inf pass through."""
    if _translate_flip_misfit_jit(images, index, flips, dy, dx, pad, out):
        raise ValueError(TRANSLATE_FLIP_MISFIT)
    _, channels, height, width = out.shape
    columns = np.empty(width, np.int64)
    for i in range(out.shape[0]):
        source, target = images[index[i]], out[i]
        for x in range(width):
            column = _reflect(x + dx[i] - pad, width)
            columns[width - 1 - x if flips[i] else x] = column
        for c in range(channels):
            for y in range(height):
                row = _reflect(y + dy[i] - pad, height)
                for x in range(width):
                    target[c, y, x] = source[c, row, columns[x]]


def translate_flip_numpy(
    images: Array, index: Array, flips: Array, dy: Array, dx: Array, pad: int, out: Array
) -> None:
    """translate_flip's twin: np.pad(mode='reflect'), then the crops and mirrors gathered
    by fancy indexing."""
    if _translate_flip_misfit(images, index, flips, dy, dx, pad, out):
        raise ValueError(TRANSLATE_FLIP_MISFIT)
    _, channels, height, width = out.shape
    padded = np.pad(images[index], ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="reflect")
    rows = dy[:, None] + np.arange(height)  # (N, H): rows of the padded image
    columns = dx[:, None] + np.arange(width)  # (N, W)
    columns = np.where(flips[:, None], columns[:, ::-1], columns)
    picked = padded[
        np.arange(len(index))[:, None, None, None],
        np.arange(channels)[None, :, None, None],
        rows[:, None, :, None],
        columns[:, None, None, :],
    ]
    np.copyto(out, picked)


KERNEL_NAMES = ("flip_crop", "translate_flip")
numba_kernels = SimpleNamespace(flip_crop=flip_crop, translate_flip=translate_flip)
numpy_kernels = SimpleNamespace(flip_crop=flip_crop_numpy, translate_flip=translate_flip_numpy)


def translate_flip_batch(
    images: Array,
    draws: FlipCrop,
    pad: int = 2,
    *,
    index: npt.ArrayLike | None = None,
    out: Array | None = None,
) -> Array:
    """The NCHW batch images[index] (all images if index is None), each reflect-padded by
    `pad`, cropped at its offsets (dy, dx) in 0..2·pad (so translated by up to ±pad pixels)
    and mirrored left-right where its flip flag is set: airbench's translation with the
    flip as a flag, so a caller can alternate it by epoch (data.AlternatingFlipBatches).
    Everything is checked before the kernel runs; the result is written into `out` (a new
    array if None) and returned."""
    images, positions, out = _prepare(images, pad, index, "NCHW", out)
    draws = _check_draws(draws, len(positions), pad)
    active().translate_flip(images, positions, *draws, int(pad), out)
    return out
