"""Convolution and pooling loops as Numba kernels with NumPy twins (the conventions of
kernels.py: C-contiguous arrays from the callers, results written into the arrays given).

Every kernel reads its input through the same window geometry, a tuple of eight ints

    (kh, kw, sh, sw, pt, pl, dh, dw)   kernel, stride, padding above/left, dilation,

so output pixel (oy, ox) and kernel tap (i, j) read input pixel
(oy·sh − pt + i·dh, ox·sw − pl + j·dw), a zero (a skipped tap when pooling) outside the
image. The output's height and width come from the output array: a kernel tests every
input coordinate it reads, so no output size can make it index out of bounds.

- im2col unfolds x (N, C, H, W) into cols (C·kh·kw, N, Ho, Wo), the matrix a convolution
  multiplies its weights with: one BLAS GEMM for all N images (conv.py), wide enough that
  both cores' BLAS threads have work.
- col2im is its adjoint: it sums each column entry back into the pixel it came from (the
  input gradient of a convolution, and of an average pool).
- max_pool_forward keeps each window's maximum and its flat index iy·W + ix, as PyTorch:
  the first maximum on ties, the last NaN if there is one (a NaN wins), −1 for a window
  entirely in the padding; max_pool_backward sends each δ to that index.

Each kernel checks in O(1) before its loop that its arrays fit the geometry and raises
ValueError otherwise; each twin raises the same ValueError. NaN and ±Inf give the same
results in a kernel and its twin (tests/test_conv.py). The set in use follows
`kernels.select` / TINYGRAD_HLCV_KERNELS, like every other kernel.
"""

from types import SimpleNamespace
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from . import kernels

Array = npt.NDArray[Any]
Geometry = tuple[int, int, int, int, int, int, int, int]

# What each kernel and its twin say when its arrays do not fit together.
_SANE = "a geometry of kernel, stride and dilation >= 1 and padding >= 0"
IM2COL_MISFIT = f"im2col: needs {_SANE}, x (N, C, H, W) and cols (C·kh·kw, N, Ho, Wo)"
COL2IM_MISFIT = f"col2im: needs {_SANE}, cols (C·kh·kw, N, Ho, Wo) and out (N, C, H, W)"
POOL_FORWARD_MISFIT = (
    f"max_pool_forward: needs {_SANE}, x (N, C, H, W), out and argmax (N, C, Ho, Wo)"
)
POOL_BACKWARD_MISFIT = (
    "max_pool_backward: needs g and argmax (N, C, Ho, Wo), out (N, C, H, W) and argmax < H·W"
)


@numba.njit(cache=True)
def _fits(geometry: Geometry, image: Array, windows: Array, n: int, c: int) -> bool:
    """Geometry sane, and `windows` (n, c, Ho, Wo) for `image` (N, C, H, W)."""
    kh, kw, sh, sw, pt, pl, dh, dw = geometry
    sane = min(kh, kw, sh, sw, dh, dw) >= 1 and min(pt, pl) >= 0
    return sane and windows.shape[0] == n and windows.shape[1] == c


# ---- im2col and col2im: cols[(c·kh + i)·kw + j, n, oy, ox] = x[n, c, iy, ix] ----


@numba.njit(cache=True)
def _plane_map(geometry: Geometry, h: int, w: int, ho: int, wo: int) -> tuple[int, int, Array]:
    """(PH, PW, base): the size of a padded plane holding an (H, W) image at (pt, pl) and
    every tap of a (Ho, Wo) output's windows, and base[oy·Wo + ox] + i·dh·PW + j·dw, where
    tap (i, j) of window (oy, ox) lies in that plane (flattened)."""
    kh, kw, sh, sw, pt, pl, dh, dw = geometry
    ph = max(pt + h, (ho - 1) * sh + (kh - 1) * dh + 1)
    pw = max(pl + w, (wo - 1) * sw + (kw - 1) * dw + 1)
    base = np.empty(ho * wo, np.int64)
    for oy in range(ho):
        for ox in range(wo):
            base[oy * wo + ox] = oy * sh * pw + ox * sw
    return ph, pw, base


@numba.njit(cache=True)
def im2col(x: Array, geometry: Geometry, cols: Array) -> None:
    """Unfold x into cols (zeros where a tap falls in the padding). Each image plane is copied
    into a zero-padded plane, from which every tap's (Ho·Wo) block is one branch-free gather
    loop (short loops per output row cost more than the copy at 7×7); channel-major order
    writes the kh·kw rows of a channel as kh·kw sequential streams."""
    kh, kw, sh, sw, pt, pl, dh, dw = geometry
    n, c, h, w = x.shape
    if not _fits(geometry, x, cols, c * kh * kw, n):
        raise ValueError(IM2COL_MISFIT)
    ho, wo = cols.shape[2], cols.shape[3]
    ph, pw, base = _plane_map(geometry, h, w, ho, wo)
    plane = np.zeros(ph * pw, x.dtype)
    flat = cols.reshape(cols.shape[0], n, ho * wo)
    for ch in range(c):
        for b in range(n):
            for iy in range(h):
                for ix in range(w):
                    plane[(pt + iy) * pw + pl + ix] = x[b, ch, iy, ix]
            for i in range(kh):
                for j in range(kw):
                    row, shift = (ch * kh + i) * kw + j, i * dh * pw + j * dw
                    for k in range(ho * wo):  # (no views in loops: each costs a refcount)
                        flat[row, b, k] = plane[base[k] + shift]


def _windows_numpy(image: Array, geometry: Geometry, ho: int, wo: int, fill: Any) -> Array:
    """(N, C, kh, kw, Ho, Wo): tap (i, j) of every window, `fill` where it is padding."""
    kh, kw, sh, sw, pt, pl, dh, dw = geometry
    h, w = image.shape[2:]
    below = max(0, (ho - 1) * sh + (kh - 1) * dh + 1 - h - pt)
    right = max(0, (wo - 1) * sw + (kw - 1) * dw + 1 - w - pl)
    padded = np.pad(image, ((0, 0), (0, 0), (pt, below), (pl, right)), constant_values=fill)
    windows = np.empty(image.shape[:2] + (kh, kw, ho, wo), dtype=image.dtype)
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + (ho - 1) * sh + 1, sh)
            columns = slice(j * dw, j * dw + (wo - 1) * sw + 1, sw)
            windows[:, :, i, j] = padded[:, :, rows, columns]
    return windows


def _fits_numpy(geometry: Geometry, image: Array, windows: Array, n: int, c: int) -> bool:
    """The NumPy twin of `_fits`: same arguments, same results."""
    kh, kw, sh, sw, pt, pl, dh, dw = geometry
    sane = min(kh, kw, sh, sw, dh, dw) >= 1 and min(pt, pl) >= 0
    return sane and image.ndim == windows.ndim == 4 and windows.shape[:2] == (n, c)


def im2col_numpy(x: Array, geometry: Geometry, cols: Array) -> None:
    """The NumPy twin of `im2col`: same arguments, same results."""
    kh, kw = geometry[:2]
    if not _fits_numpy(geometry, x, cols, x.shape[1] * kh * kw, x.shape[0]):
        raise ValueError(IM2COL_MISFIT)
    windows = _windows_numpy(x, geometry, cols.shape[2], cols.shape[3], 0)
    cols[...] = np.moveaxis(windows, 0, 3).reshape(cols.shape)


@numba.njit(cache=True)
def col2im(cols: Array, geometry: Geometry, out: Array) -> None:
    """out[n, c, iy, ix] = the sum of the column entries unfolded from that pixel: summed per
    image plane in a zero-padded plane (the taps in order, as the twin), then copied out, so
    `out` is written once and the column rows are read as sequential streams."""
    kh, kw, sh, sw, pt, pl, dh, dw = geometry
    n, c, h, w = out.shape
    if not _fits(geometry, out, cols, c * kh * kw, n):
        raise ValueError(COL2IM_MISFIT)
    ho, wo = cols.shape[2], cols.shape[3]
    ph, pw, base = _plane_map(geometry, h, w, ho, wo)
    plane = np.zeros(ph * pw, out.dtype)
    flat = cols.reshape(cols.shape[0], n, ho * wo)
    for ch in range(c):
        for b in range(n):
            plane[:] = 0
            for i in range(kh):
                for j in range(kw):
                    row, shift = (ch * kh + i) * kw + j, i * dh * pw + j * dw
                    for k in range(ho * wo):
                        plane[base[k] + shift] += flat[row, b, k]
            for iy in range(h):
                for ix in range(w):
                    out[b, ch, iy, ix] = plane[(pt + iy) * pw + pl + ix]


def col2im_numpy(cols: Array, geometry: Geometry, out: Array) -> None:
    """The NumPy twin of `col2im`: same arguments, same results."""
    kh, kw, sh, sw, pt, pl, dh, dw = geometry
    if not _fits_numpy(geometry, out, cols, out.shape[1] * kh * kw, out.shape[0]):
        raise ValueError(COL2IM_MISFIT)
    (n, c, h, w), (ho, wo) = out.shape, cols.shape[2:]
    below = max(0, (ho - 1) * sh + (kh - 1) * dh + 1 - h - pt)
    right = max(0, (wo - 1) * sw + (kw - 1) * dw + 1 - w - pl)
    padded = np.zeros((n, c, pt + h + below, pl + w + right), dtype=out.dtype)
    taps = np.moveaxis(cols.reshape(c, kh, kw, n, ho, wo), 3, 0)
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + (ho - 1) * sh + 1, sh)
            columns = slice(j * dw, j * dw + (wo - 1) * sw + 1, sw)
            padded[:, :, rows, columns] += taps[:, :, i, j]
    out[...] = padded[:, :, pt : pt + h, pl : pl + w]


# ---- Max pooling: y = the window's maximum; dx[argmax] += δ ----


@numba.njit(cache=True)
def max_pool_forward(x: Array, geometry: Geometry, out: Array, argmax: Array) -> None:
    """out = each window's maximum (−Inf if it is all padding), argmax its flat index. When
    every window lies inside x (no padding, the usual pool) no tap is bounds-tested, and a
    2×2 window is unrolled."""
    kh, kw, sh, sw, pt, pl, dh, dw = geometry
    n, c, h, w = x.shape
    if not _fits(geometry, x, out, n, c) or argmax.shape != out.shape:
        raise ValueError(POOL_FORWARD_MISFIT)
    ho, wo = out.shape[2], out.shape[3]
    inside = pt == 0 and pl == 0
    inside = inside and (ho - 1) * sh + (kh - 1) * dh < h and (wo - 1) * sw + (kw - 1) * dw < w
    if inside and kh == 2 and kw == 2:
        _max_pool_2x2(x, geometry, out, argmax)
    else:
        _max_pool_any(x, geometry, out, argmax, inside)


@numba.njit(cache=True)
def _max_pool_any(x: Array, geometry: Geometry, out: Array, argmax: Array, inside: bool) -> None:
    """max_pool_forward for any window; `inside`: every window's taps lie inside x."""
    kh, kw, sh, sw, pt, pl, dh, dw = geometry
    n, c, h, w = x.shape
    ho, wo = out.shape[2], out.shape[3]
    for b in range(n):
        for ch in range(c):
            for oy in range(ho):
                for ox in range(wo):
                    best, where = -np.inf, -1
                    for i in range(kh):
                        iy = oy * sh - pt + i * dh
                        for j in range(kw):
                            ix = ox * sw - pl + j * dw
                            if inside or (0 <= iy < h and 0 <= ix < w):
                                v = x[b, ch, iy, ix]
                                if where < 0 or v > best or v != v:
                                    best, where = v, iy * w + ix
                    out[b, ch, oy, ox] = best
                    argmax[b, ch, oy, ox] = where


@numba.njit(cache=True)
def _max_pool_2x2(x: Array, geometry: Geometry, out: Array, argmax: Array) -> None:
    """max_pool_forward for 2×2 windows all inside x. The maximum first, then the first tap
    equal to it (or the last NaN): no chain of compare-and-select through the four taps,
    which costs five times the maximum alone (no views either: each costs a refcount)."""
    sh, sw, dh, dw = geometry[2], geometry[3], geometry[6], geometry[7]
    n, c, h, w = x.shape
    for b in range(n):
        for ch in range(c):
            for oy in range(out.shape[2]):
                iy = oy * sh
                for ox in range(out.shape[3]):
                    ix = ox * sw
                    t0, t1 = x[b, ch, iy, ix], x[b, ch, iy, ix + dw]
                    t2, t3 = x[b, ch, iy + dh, ix], x[b, ch, iy + dh, ix + dw]
                    best = max(max(t0, t1), max(t2, t3))
                    first = 0 if t0 == best else (1 if t1 == best else (2 if t2 == best else 3))
                    n0, n1, n2, n3 = t0 != t0, t1 != t1, t2 != t2, t3 != t3
                    last_nan = 3 if n3 else (2 if n2 else (1 if n1 else 0))
                    nan = n0 | n1 | n2 | n3
                    tap = last_nan if nan else first  # its value, not `best`: keeps -0.0
                    out[b, ch, oy, ox] = (
                        t0 if tap == 0 else (t1 if tap == 1 else (t2 if tap == 2 else t3))
                    )
                    argmax[b, ch, oy, ox] = (iy + dh * (tap // 2)) * w + ix + dw * (tap % 2)


def max_pool_forward_numpy(x: Array, geometry: Geometry, out: Array, argmax: Array) -> None:
    """The NumPy twin of `max_pool_forward`: same arguments, same results."""
    if not _fits_numpy(geometry, x, out, *x.shape[:2]) or argmax.shape != out.shape:
        raise ValueError(POOL_FORWARD_MISFIT)
    (h, w), (ho, wo) = x.shape[2:], out.shape[2:]
    flat_index = np.arange(h * w).reshape(1, 1, h, w)
    taps: Array = _windows_numpy(x, geometry, ho, wo, -np.inf).reshape(x.shape[:2] + (-1, ho, wo))
    where = _windows_numpy(flat_index, geometry, ho, wo, -1).reshape(1, 1, -1, ho, wo)
    inside = where >= 0
    best = np.where(inside, taps, -np.inf).max(axis=2, keepdims=True)
    first = np.argmax(inside & (taps == best), axis=2)  # on ties the first, as PyTorch
    nan = np.isnan(taps)
    last_nan = taps.shape[2] - 1 - np.argmax(nan[:, :, ::-1], axis=2)
    pick = np.where(nan.any(axis=2), last_nan, first)
    out[...] = np.take_along_axis(taps, pick[:, :, None], 2)[:, :, 0]  # the tap: -0.0 stays
    argmax[...] = np.take_along_axis(np.broadcast_to(where, taps.shape), pick[:, :, None], 2)[
        :, :, 0
    ]


@numba.njit(cache=True)
def max_pool_backward(g: Array, argmax: Array, out: Array) -> None:
    """out = 0, then out[n, c].flat[argmax] += δ per window (none for argmax −1); a plane at
    a time, zeroed while it is in cache."""
    n, c, h, w = out.shape
    if g.shape != argmax.shape or g.shape[:2] != out.shape[:2]:
        raise ValueError(POOL_BACKWARD_MISFIT)
    planes = out.reshape(n, c, h * w)
    for b in range(n):
        for ch in range(c):
            for k in range(h * w):
                planes[b, ch, k] = 0
            for oy in range(g.shape[2]):
                for ox in range(g.shape[3]):
                    k = argmax[b, ch, oy, ox]
                    if k >= h * w:
                        raise ValueError(POOL_BACKWARD_MISFIT)
                    if k >= 0:
                        planes[b, ch, k] += g[b, ch, oy, ox]


def max_pool_backward_numpy(g: Array, argmax: Array, out: Array) -> None:
    """The NumPy twin of `max_pool_backward`: same arguments, same results."""
    n, c, h, w = out.shape
    fits = g.ndim == 4 and g.shape == argmax.shape and g.shape[:2] == out.shape[:2]
    if not fits or (argmax.size and argmax.max() >= h * w):
        raise ValueError(POOL_BACKWARD_MISFIT)
    planes = np.zeros((n * c, h * w), dtype=out.dtype)
    picks, deltas = argmax.reshape(n * c, -1), g.reshape(n * c, -1)
    plane = np.broadcast_to(np.arange(n * c)[:, None], picks.shape)
    chosen = picks >= 0
    np.add.at(planes, (plane[chosen], picks[chosen]), deltas[chosen])
    out[...] = planes.reshape(out.shape)


# ---- The two sets; `active()` is the one kernels.active says ----

KERNEL_NAMES = ("im2col", "col2im", "max_pool_forward", "max_pool_backward")
numba_kernels = SimpleNamespace(**{name: globals()[name] for name in KERNEL_NAMES})
numpy_kernels = SimpleNamespace(**{name: globals()[name + "_numpy"] for name in KERNEL_NAMES})


def active() -> SimpleNamespace:
    """The twins when `kernels.select("numpy")` (or TINYGRAD_HLCV_KERNELS=numpy) chose
    them, else the Numba kernels."""
    return numpy_kernels if kernels.active is kernels.numpy_kernels else numba_kernels
