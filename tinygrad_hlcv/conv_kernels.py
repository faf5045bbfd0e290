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


@numba.njit(cache=True)
def _inside(n_out: int, start: int, stride: int, size: int) -> tuple[int, int]:
    """The range [lo, hi) of the outputs o whose input o·stride + start is in [0, size)."""
    lo = min(n_out, 0 if start >= 0 else (stride - 1 - start) // stride)
    hi = 0 if start >= size else (size - start + stride - 1) // stride
    return lo, max(lo, min(hi, n_out))


# ---- im2col and col2im: cols[(c·kh + i)·kw + j, n, oy, ox] = x[n, c, iy, ix] ----


@numba.njit(cache=True)
def im2col(x: Array, geometry: Geometry, cols: Array) -> None:
    """Unfold x into cols (zeros where a tap falls in the padding)."""
    kh, kw, sh, sw, pt, pl, dh, dw = geometry
    n, c, h, w = x.shape
    if not _fits(geometry, x, cols, c * kh * kw, n):
        raise ValueError(IM2COL_MISFIT)
    ho, wo = cols.shape[2], cols.shape[3]
    for b in range(n):
        for ch in range(c):
            for i in range(kh):
                for j in range(kw):
                    row, shift = (ch * kh + i) * kw + j, j * dw - pl
                    lo, hi = _inside(wo, shift, sw, w)
                    for oy in range(ho):
                        iy = oy * sh - pt + i * dh
                        lo_y, hi_y = (lo, hi) if 0 <= iy < h else (wo, wo)  # else all padding
                        for ox in range(lo_y):
                            cols[row, b, oy, ox] = 0
                        for ox in range(lo_y, hi_y):
                            cols[row, b, oy, ox] = x[b, ch, iy, ox * sw + shift]
                        for ox in range(hi_y, wo):
                            cols[row, b, oy, ox] = 0


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
    """out[n, c, iy, ix] = the sum of the column entries unfolded from that pixel."""
    kh, kw, sh, sw, pt, pl, dh, dw = geometry
    n, c, h, w = out.shape
    if not _fits(geometry, out, cols, c * kh * kw, n):
        raise ValueError(COL2IM_MISFIT)
    ho, wo = cols.shape[2], cols.shape[3]
    out[:] = 0
    for b in range(n):
        for ch in range(c):
            for i in range(kh):
                for j in range(kw):
                    row = (ch * kh + i) * kw + j
                    lo, hi = _inside(wo, j * dw - pl, sw, w)
                    for oy in range(ho):
                        iy = oy * sh - pt + i * dh
                        if 0 <= iy < h:
                            for ox in range(lo, hi):
                                out[b, ch, iy, ox * sw + j * dw - pl] += cols[row, b, oy, ox]


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
    """out = each window's maximum (−Inf if it is all padding), argmax its flat index."""
    kh, kw, sh, sw, pt, pl, dh, dw = geometry
    n, c, h, w = x.shape
    if not _fits(geometry, x, out, n, c) or argmax.shape != out.shape:
        raise ValueError(POOL_FORWARD_MISFIT)
    for b in range(n):
        for ch in range(c):
            for oy in range(out.shape[2]):
                for ox in range(out.shape[3]):
                    best, where = -np.inf, -1
                    for i in range(kh):
                        iy = oy * sh - pt + i * dh
                        for j in range(kw):
                            ix = ox * sw - pl + j * dw
                            if 0 <= iy < h and 0 <= ix < w:
                                v = x[b, ch, iy, ix]
                                if where < 0 or v > best or v != v:
                                    best, where = v, iy * w + ix
                    out[b, ch, oy, ox] = best
                    argmax[b, ch, oy, ox] = where


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
    out[...] = best[:, :, 0]
    argmax[...] = np.take_along_axis(np.broadcast_to(where, taps.shape), pick[:, :, None], 2)[
        :, :, 0
    ]


@numba.njit(cache=True)
def max_pool_backward(g: Array, argmax: Array, out: Array) -> None:
    """out = 0, then out[n, c].flat[argmax] += δ per window (none for argmax −1)."""
    n, c, h, w = out.shape
    if g.shape != argmax.shape or g.shape[:2] != out.shape[:2]:
        raise ValueError(POOL_BACKWARD_MISFIT)
    out[:] = 0
    for b in range(n):
        for ch in range(c):
            for oy in range(g.shape[2]):
                for ox in range(g.shape[3]):
                    k = argmax[b, ch, oy, ox]
                    if k >= h * w:
                        raise ValueError(POOL_BACKWARD_MISFIT)
                    if k >= 0:
                        out[b, ch, k // w, k % w] += g[b, ch, oy, ox]


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
