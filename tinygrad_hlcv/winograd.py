"""Winograd F(2×2, 3×3): a 3×3 stride-1 convolution in 16 batched GEMMs of 2.25× fewer
multiplications than im2col's one, and without im2col's nine-fold copy of the input.

Each 2×2 block ("tile") of the output needs a 4×4 patch d of the padded input. With the
constant matrices below, the tile is Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A for a 3×3 kernel g: an
exact identity (Lavin and Gray, 2015). Summed over input channels, the 16 products ⊙ become
16 GEMMs:  M[p] = U[p] V[p], U = G g Gᵀ (16, O, C), V = Bᵀ d B (16, C, tiles).

Backward, δ = ∂J/∂Y, is the chain rule through the same three steps (each linear):
dM = A δ Aᵀ per tile;  dU[p] = dM[p] V[p]ᵀ, dg = Gᵀ dU G;  dV[p] = U[p]ᵀ dM[p], dx = the sum
of B dV Bᵀ over the overlapping patches. The transforms are Numba kernels with NumPy twins
(the conventions of conv_kernels.py: results written into the arrays given, sizes checked in
O(1) before a loop, ValueError on a misfit).

A NaN or Inf in a patch spreads to its whole tile (0·Inf = NaN in the transforms), where
the direct path would confine it to the windows holding it: `conv3x3` and `conv3x3_backward`
return None when a result is not finite, and the caller takes the direct path.
"""

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from . import kernels

Array = npt.NDArray[Any]
Padding = tuple[int, int, int, int]  # top, bottom, left, right
CHUNK_BYTES = 1 << 21  # transformed input and GEMM output per chunk of images (measured)
MAX_WASTE = 0.15  # the share of computed outputs a tiling may drop (15×15: 0.14, 31×31: 0.07)
MAX_WIDENING = 2  # output channels per input channel beyond which im2col is faster here

INPUT_MISFIT = "winograd input_transform: needs x (N, C, H, W), v (16, C, N, th, tw), pt, pl >= 0"
OUTPUT_MISFIT = (
    "winograd output_transform: needs m (16, O, N, ceil(Ho/2), ceil(Wo/2)), out (N, O, Ho, Wo)"
)


def suits(
    x: Array, weight: Array, stride: Any, padding: Padding, dilation: Any, groups: int
) -> bool:
    """Whether the Winograd path should compute this convolution: 3×3, stride 1, dilation 1,
    one group, at most MAX_WIDENING times as many output channels as input ones, and tiles
    that waste at most MAX_WASTE of their outputs. Measured here (docs/performance.md): a
    small or odd output computes rows and columns it drops (at 7×7, 16 tiles for 49 pixels
    are slower than im2col; at 15×15 and up faster), and the output transforms' traffic
    grows with the output channels while im2col's does not (32→128 at 15×15 is faster direct,
    24→32 at 31×31 and 32→32 at 15×15 with Winograd)."""
    plain = tuple(stride) == (1, 1) and tuple(dilation) == (1, 1) and groups == 1
    if not plain or weight.shape[2:] != (3, 3) or x.dtype not in (np.float32, np.float64):
        return False
    if weight.shape[0] > MAX_WIDENING * weight.shape[1]:
        return False
    pt, pb, pl, pr = padding
    (h, w), (th, tw) = x.shape[2:], (_tiles(x.shape[2], pt, pb), _tiles(x.shape[3], pl, pr))
    return 4 * th * tw <= (1 + MAX_WASTE) * (h + pt + pb - 2) * (w + pl + pr - 2)


# ---- The 4×4 patch transforms: Bᵀ d B and its adjoint B v Bᵀ, one row (or column) at a time.
# Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]].


def _tiles(size: int, before: int, after: int) -> int:
    """Tiles along one dim: ceil(output size / 2), the output size being size + pads − 2."""
    return (size + before + after - 1) // 2


@numba.njit(cache=True)
def input_transform(x: Array, pt: int, pl: int, v: Array) -> None:
    """v[4i + j, c, n, ty, tx] = (Bᵀ d B)[i, j], d the 4×4 patch of x at (2ty − pt, 2tx − pl).
    Per image plane: a copy into a zero-padded plane (no bounds tests after it), then per
    row of tiles Bᵀ d on four rows at once and (Bᵀ d) B one output row per loop (these
    vectorise; four stores per loop did not)."""
    n, c, h, w = x.shape
    th, tw = v.shape[3], v.shape[4]
    if v.shape[0] != 16 or v.shape[1] != c or v.shape[2] != n or min(pt, pl) < 0:
        raise ValueError(INPUT_MISFIT)
    pw = 2 * tw + 2
    plane = np.zeros((2 * th + 2, pw), x.dtype)  # entries outside x stay 0
    t = np.empty((4, pw), x.dtype)
    rows, cols = max(0, min(h, 2 * th + 2 - pt)), max(0, min(w, pw - pl))
    for ch in range(c):
        for b in range(n):
            for iy in range(rows):
                for ix in range(cols):
                    plane[pt + iy, pl + ix] = x[b, ch, iy, ix]
            for ty in range(th):
                y = 2 * ty
                for k in range(pw):  # Bᵀ d: the rows
                    t[0, k] = plane[y, k] - plane[y + 2, k]
                    t[1, k] = plane[y + 1, k] + plane[y + 2, k]
                    t[2, k] = plane[y + 2, k] - plane[y + 1, k]
                    t[3, k] = plane[y + 1, k] - plane[y + 3, k]
                _times_b(t, v, ch, b, ty)


@numba.njit(cache=True)
def _times_b(t: Array, v: Array, ch: int, b: int, ty: int) -> None:
    """v[4i + j, ch, b, ty, tx] = (t B)[i, j] for each tile tx of t (4, 2·tw + 2): one
    output row per loop (these vectorise; four stores per loop did not), no views."""
    for i in range(4):
        for tx in range(v.shape[4]):
            v[4 * i, ch, b, ty, tx] = t[i, 2 * tx] - t[i, 2 * tx + 2]
        for tx in range(v.shape[4]):
            v[4 * i + 1, ch, b, ty, tx] = t[i, 2 * tx + 1] + t[i, 2 * tx + 2]
        for tx in range(v.shape[4]):
            v[4 * i + 2, ch, b, ty, tx] = t[i, 2 * tx + 2] - t[i, 2 * tx + 1]
        for tx in range(v.shape[4]):
            v[4 * i + 3, ch, b, ty, tx] = t[i, 2 * tx + 1] - t[i, 2 * tx + 3]


def _rows_transform(d: Array, axis: int) -> Array:
    """Bᵀ applied along `axis` of d (length 4 there): the twin's one step."""
    d0, d1, d2, d3 = (np.take(d, i, axis=axis) for i in range(4))
    return np.stack([d0 - d2, d1 + d2, d2 - d1, d1 - d3], axis=axis)


def input_transform_numpy(x: Array, pt: int, pl: int, v: Array) -> None:
    """The NumPy twin of `input_transform`: same arguments, same results."""
    (n, c, h, w), (th, tw) = x.shape, v.shape[3:]
    if v.shape[:3] != (16, c, n) or min(pt, pl) < 0:
        raise ValueError(INPUT_MISFIT)
    padded = np.zeros((n, c, 2 * th + 2 + pt, 2 * tw + 2 + pl), x.dtype)
    padded[:, :, pt : pt + h, pl : pl + w] = x[:, :, : 2 * th + 2, : 2 * tw + 2]
    patches = np.lib.stride_tricks.sliding_window_view(padded, (4, 4), axis=(2, 3))
    d = patches[:, :, : 2 * th : 2, : 2 * tw : 2]  # (N, C, th, tw, 4, 4)
    transformed = _rows_transform(_rows_transform(d, 4), 5)
    v[...] = transformed.reshape(n, c, th, tw, 16).transpose(4, 1, 0, 2, 3)


@numba.njit(cache=True)
def input_transform_adjoint(v: Array, pt: int, pl: int, out: Array) -> None:
    """out = Σ over tiles of B v Bᵀ added into each tile's patch (the parts inside out)."""
    n, c, h, w = out.shape
    th, tw = v.shape[3], v.shape[4]
    if v.shape[0] != 16 or v.shape[1] != c or v.shape[2] != n or min(pt, pl) < 0:
        raise ValueError(INPUT_MISFIT)
    t = np.empty((4, 2 * tw + 2), out.dtype)
    copied = max(0, min(w, 2 * tw + 2 - pl))
    out[:] = 0
    for b in range(n):
        for ch in range(c):
            for ty in range(th):
                t[:] = 0
                for i in range(4):  # v B... transposed: the columns, overlapping tiles summed
                    for tx in range(tw):
                        k = 2 * tx
                        a0, a1 = v[4 * i, ch, b, ty, tx], v[4 * i + 1, ch, b, ty, tx]
                        a2, a3 = v[4 * i + 2, ch, b, ty, tx], v[4 * i + 3, ch, b, ty, tx]
                        t[i, k] += a0
                        t[i, k + 1] += a1 - a2 + a3
                        t[i, k + 2] += a1 + a2 - a0
                        t[i, k + 3] -= a3
                for r in range(4):  # ... then the rows, added into the patch rows inside out
                    iy = 2 * ty - pt + r
                    if 0 <= iy < h:
                        _add_adjoint_row(t, r, pl, out[b, ch, iy, :copied])


@numba.njit(cache=True)
def _add_adjoint_row(t: Array, r: int, pl: int, out_row: Array) -> None:
    """out_row += row r of B t from column pl on; B = (Bᵀ)ᵀ = [[1, 0, 0, 0], [0, 1, −1, 1],
    [−1, 1, 1, 0], [0, 0, 0, −1]]."""
    for k in range(out_row.size):
        if r == 0:
            out_row[k] += t[0, pl + k]
        elif r == 1:
            out_row[k] += t[1, pl + k] - t[2, pl + k] + t[3, pl + k]
        elif r == 2:
            out_row[k] += t[1, pl + k] + t[2, pl + k] - t[0, pl + k]
        else:
            out_row[k] -= t[3, pl + k]


def _rows_adjoint(a: Array, axis: int) -> Array:
    """B applied along `axis` of a (length 4 there): the adjoint of `_rows_transform`."""
    a0, a1, a2, a3 = (np.take(a, i, axis=axis) for i in range(4))
    return np.stack([a0, a1 - a2 + a3, a1 + a2 - a0, -a3], axis=axis)


def input_transform_adjoint_numpy(v: Array, pt: int, pl: int, out: Array) -> None:
    """The NumPy twin of `input_transform_adjoint`: same arguments, same results."""
    (n, c, h, w), (th, tw) = out.shape, v.shape[3:]
    if v.shape[:3] != (16, c, n) or min(pt, pl) < 0:
        raise ValueError(INPUT_MISFIT)
    tiles = v.transpose(2, 1, 3, 4, 0).reshape(n, c, th, tw, 4, 4)
    patches = _rows_adjoint(_rows_adjoint(tiles, 5), 4)
    padded = np.zeros((n, c, 2 * th + 2 + pt, 2 * tw + 2 + pl), out.dtype)
    for r in range(4):
        for s in range(4):
            padded[:, :, r : r + 2 * th : 2, s : s + 2 * tw : 2] += patches[..., r, s]
    out[...] = 0
    inside = padded[:, :, pt : pt + h, pl : pl + w]
    out[:, :, : inside.shape[2], : inside.shape[3]] = inside


# ---- The 2×2 output transforms: Aᵀ m A and its adjoint A δ Aᵀ.
# Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]].


def _output_fits(m: Array, out: Array) -> bool:
    if m.ndim != 5 or out.ndim != 4:
        return False
    n, o, ho, wo = out.shape
    return m.shape == (16, o, n, (ho + 1) // 2, (wo + 1) // 2)


@numba.njit(cache=True)
def _output_fits_kernel(m: Array, out: Array) -> bool:
    n, o, ho, wo = out.shape
    tiles = m.shape[3] == (ho + 1) // 2 and m.shape[4] == (wo + 1) // 2
    return m.shape[0] == 16 and m.shape[1] == o and m.shape[2] == n and tiles


@numba.njit(cache=True)
def output_transform(m: Array, out: Array) -> None:
    """out[n, o, 2ty + r, 2tx + s] = (Aᵀ m A)[r, s] of tile (ty, tx), the parts inside out."""
    n, o, ho, wo = out.shape
    if not _output_fits_kernel(m, out):
        raise ValueError(OUTPUT_MISFIT)
    th, tw = m.shape[3], m.shape[4]
    s = np.empty((2, 4, tw), out.dtype)
    rows = np.empty((2, 2 * tw), out.dtype)
    for b in range(n):
        for ch in range(o):
            for ty in range(th):
                for j in range(4):  # Aᵀ m: the rows, every tile of the row at once
                    for tx in range(tw):
                        m1, m2 = m[4 + j, ch, b, ty, tx], m[8 + j, ch, b, ty, tx]
                        s[0, j, tx] = m[j, ch, b, ty, tx] + m1 + m2
                        s[1, j, tx] = m1 - m2 - m[12 + j, ch, b, ty, tx]
                for r in range(2):  # (Aᵀ m) A: the columns
                    for tx in range(tw):
                        rows[r, 2 * tx] = s[r, 0, tx] + s[r, 1, tx] + s[r, 2, tx]
                        rows[r, 2 * tx + 1] = s[r, 1, tx] - s[r, 2, tx] - s[r, 3, tx]
                for r in range(min(2, ho - 2 * ty)):
                    out[b, ch, 2 * ty + r, :] = rows[r, :wo]


def _rows_output(m: Array, axis: int) -> Array:
    """Aᵀ applied along `axis` of m (length 4 there)."""
    m0, m1, m2, m3 = (np.take(m, i, axis=axis) for i in range(4))
    return np.stack([m0 + m1 + m2, m1 - m2 - m3], axis=axis)


def output_transform_numpy(m: Array, out: Array) -> None:
    """The NumPy twin of `output_transform`: same arguments, same results."""
    if not _output_fits(m, out):
        raise ValueError(OUTPUT_MISFIT)
    (n, o, ho, wo), (th, tw) = out.shape, m.shape[3:]
    tiles = m.transpose(2, 1, 3, 4, 0).reshape(n, o, th, tw, 4, 4)
    y = _rows_output(_rows_output(tiles, 4), 5)  # (N, O, th, tw, 2, 2)
    out[...] = y.transpose(0, 1, 2, 4, 3, 5).reshape(n, o, 2 * th, 2 * tw)[:, :, :ho, :wo]


@numba.njit(cache=True)
def output_transform_adjoint(g: Array, m: Array) -> None:
    """m = A δ Aᵀ per tile, δ the tile's 2×2 of g (zeros outside g). A = (Aᵀ)ᵀ."""
    n, o, ho, wo = g.shape
    if not _output_fits_kernel(m, g):
        raise ValueError(OUTPUT_MISFIT)
    th, tw = m.shape[3], m.shape[4]
    rows = np.zeros((2, 2 * tw), g.dtype)
    e = np.empty((4, 2 * tw), g.dtype)
    for b in range(n):
        for ch in range(o):
            for ty in range(th):
                for r in range(2):
                    if 2 * ty + r < ho:
                        rows[r, :wo] = g[b, ch, 2 * ty + r, :]
                    else:
                        rows[r, :wo] = 0
                for k in range(2 * tw):  # A δ: the rows; A = [[1, 0], [1, 1], [1, −1], [0, −1]]
                    e[0, k], e[1, k] = rows[0, k], rows[0, k] + rows[1, k]
                    e[2, k], e[3, k] = rows[0, k] - rows[1, k], -rows[1, k]
                for i in range(4):  # (A δ) Aᵀ: the columns
                    for tx in range(tw):
                        e0, e1 = e[i, 2 * tx], e[i, 2 * tx + 1]
                        m[4 * i, ch, b, ty, tx] = e0
                        m[4 * i + 1, ch, b, ty, tx] = e0 + e1
                        m[4 * i + 2, ch, b, ty, tx] = e0 - e1
                        m[4 * i + 3, ch, b, ty, tx] = -e1


def _rows_output_adjoint(d: Array, axis: int) -> Array:
    """A applied along `axis` of d (length 2 there): the adjoint of `_rows_output`."""
    d0, d1 = np.take(d, 0, axis=axis), np.take(d, 1, axis=axis)
    return np.stack([d0, d0 + d1, d0 - d1, -d1], axis=axis)


def output_transform_adjoint_numpy(g: Array, m: Array) -> None:
    """The NumPy twin of `output_transform_adjoint`: same arguments, same results."""
    if not _output_fits(m, g):
        raise ValueError(OUTPUT_MISFIT)
    (n, o, ho, wo), (th, tw) = g.shape, m.shape[3:]
    padded = np.zeros((n, o, 2 * th, 2 * tw), g.dtype)
    padded[:, :, :ho, :wo] = g
    tiles = padded.reshape(n, o, th, 2, tw, 2).transpose(0, 1, 2, 4, 3, 5)  # (.., 2, 2)
    full = _rows_output_adjoint(_rows_output_adjoint(tiles, 4), 5)  # (N, O, th, tw, 4, 4)
    m[...] = full.reshape(n, o, th, tw, 16).transpose(4, 1, 0, 2, 3)


# ---- The kernel transforms (small: plain NumPy) ----


def weight_transform(w: Array) -> Array:
    """U[4i + j, o, c] = (G g Gᵀ)[i, j] for g = w[o, c], G = [[1, 0, 0], [½, ½, ½], [½, −½, ½],
    [0, 0, 1]]."""
    u = _g_rows(_g_rows(w, 3), 2)  # (O, C, 4, 4)
    return np.ascontiguousarray(u.reshape(w.shape[0], w.shape[1], 16).transpose(2, 0, 1))


def _g_rows(w: Array, axis: int) -> Array:
    g0, g1, g2 = (np.take(w, i, axis=axis) for i in range(3))
    return np.stack([g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2], axis=axis)


def weight_transform_adjoint(du: Array) -> Array:
    """dg = Gᵀ dU G per (o, c): the adjoint of `weight_transform`, (16, O, C) -> (O, C, 3, 3)."""
    u = du.transpose(1, 2, 0).reshape(du.shape[1], du.shape[2], 4, 4)
    return _g_rows_adjoint(_g_rows_adjoint(u, 3), 2)


def _g_rows_adjoint(u: Array, axis: int) -> Array:
    u0, u1, u2, u3 = (np.take(u, i, axis=axis) for i in range(4))
    return np.stack([u0 + (u1 + u2) / 2, (u1 - u2) / 2, (u1 + u2) / 2 + u3], axis=axis)


# ---- The convolution and its gradients ----


class _Plan:
    """The tiles of a convolution, and chunks of images with buffers for their transforms
    (about CHUNK_BYTES together, reused chunk after chunk: they stay in cache)."""

    def __init__(self, x: Array, w: Array, padding: Padding) -> None:
        (self.n, self.c, h, wd), self.o = x.shape, w.shape[0]
        self.pt, pb, self.pl, pr = padding
        self.th, self.tw = _tiles(h, self.pt, pb), _tiles(wd, self.pl, pr)
        self.out_shape = (self.n, self.o, h + self.pt + pb - 2, wd + self.pl + pr - 2)
        per_image = 16 * (self.c + self.o) * self.th * self.tw * x.itemsize
        self.chunk = min(self.n, max(1, CHUNK_BYTES // per_image))
        self.v = np.empty(16 * self.c * self.chunk * self.th * self.tw, x.dtype)
        self.m = np.empty(16 * self.o * self.chunk * self.th * self.tw, x.dtype)

    def chunks(self) -> Iterator[tuple[slice, Array, Array]]:
        """(images, their V (16, C, b, th, tw), their M (16, O, b, th, tw))."""
        for start in range(0, self.n, self.chunk):
            b = min(self.chunk, self.n - start)
            tiles = b * self.th * self.tw
            v = self.v[: 16 * self.c * tiles].reshape(16, self.c, b, self.th, self.tw)
            m = self.m[: 16 * self.o * tiles].reshape(16, self.o, b, self.th, self.tw)
            yield slice(start, start + b), v, m


def _finite(a: Array) -> bool:
    """All of a finite: one fast pass (a sum; an overflow only sends a call to the direct path)."""
    return bool(np.isfinite(a.sum()))


def conv3x3(x: Array, w: Array, padding: Padding) -> Array | None:
    """y = the 3×3 stride-1 cross-correlation of x (N, C, H, W) with w (O, C, 3, 3), zeros
    outside x; None if y is not all finite (the caller then takes the direct path)."""
    with np.errstate(invalid="ignore", over="ignore"):  # a non-finite y is answered with None
        return _conv3x3(np.ascontiguousarray(x), w, _Plan(x, w, padding))


def _conv3x3(x: Array, w: Array, plan: _Plan) -> Array | None:
    out = np.empty(plan.out_shape, x.dtype)
    u, k = weight_transform(w), active()
    for images, v, m in plan.chunks():
        k.input_transform(x[images], plan.pt, plan.pl, v)
        np.matmul(u, v.reshape(16, plan.c, -1), out=m.reshape(16, plan.o, -1))
        k.output_transform(m, out[images])
    return out if _finite(out) else None


def conv3x3_backward(
    g: Array, x: Array, w: Array, padding: Padding, need_x: bool, need_w: bool
) -> tuple[Array | None, Array | None] | None:
    """(dx, dw) for δ = g, by the chain rule through conv3x3's three steps (module doc); None
    for a gradient not asked for. None instead if a result is not all finite."""
    with np.errstate(invalid="ignore", over="ignore"):  # a non-finite result: None
        plan, x = _Plan(x, w, padding), np.ascontiguousarray(x)
        return _backward(np.ascontiguousarray(g, dtype=x.dtype), x, w, plan, need_x, need_w)


def _backward(
    g: Array, x: Array, w: Array, plan: _Plan, need_x: bool, need_w: bool
) -> tuple[Array | None, Array | None] | None:
    ut, k = weight_transform(w).transpose(0, 2, 1), active()
    dx = np.empty_like(x) if need_x else None
    du = np.zeros((16, plan.o, plan.c), x.dtype) if need_w else None
    for images, v, dm in plan.chunks():
        k.output_transform_adjoint(g[images], dm)
        dm_rows = dm.reshape(16, plan.o, -1)
        if du is not None:
            k.input_transform(x[images], plan.pt, plan.pl, v)
            du += np.matmul(dm_rows, v.reshape(16, plan.c, -1).transpose(0, 2, 1))
        if dx is not None:
            np.matmul(ut, dm_rows, out=v.reshape(16, plan.c, -1))  # dV, in V's buffer
            k.input_transform_adjoint(v, plan.pt, plan.pl, dx[images])
    dw = None if du is None else weight_transform_adjoint(du)
    finite = all(a is None or _finite(a) for a in (dx, dw))
    return (dx, dw) if finite else None


# ---- The two sets; `active()` is the one kernels.active says ----

KERNEL_NAMES = (
    "input_transform",
    "input_transform_adjoint",
    "output_transform",
    "output_transform_adjoint",
)
numba_kernels = SimpleNamespace(**{name: globals()[name] for name in KERNEL_NAMES})
numpy_kernels = SimpleNamespace(**{name: globals()[name + "_numpy"] for name in KERNEL_NAMES})


def active() -> SimpleNamespace:
    """The twins when `kernels.select("numpy")` (or TINYGRAD_HLCV_KERNELS=numpy) chose
    them, else the Numba kernels."""
    return numpy_kernels if kernels.active is kernels.numpy_kernels else numba_kernels
