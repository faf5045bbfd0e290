"""Batch and layer normalisation as Numba kernels with NumPy twins (the conventions of
kernels.py: C-contiguous arrays, results written into the arrays given).

Both normalise a 2-D array x, BatchNorm each column over the rows (the batch), LayerNorm
each row over its columns (the features); the `_ncl` BatchNorm kernels normalise each
channel c of an (N, C, L) array over its N·L values in place, without a copy to (N·L, C):

    x̂ = (x − μ)·ρ,   ρ = 1/√(σ² + ε)   (σ² the biased variance),   y = x̂ ⊙ γ + β

The statistics μ, σ², ρ are float64 arrays whatever x's dtype, accumulated in float64,
and σ² is the mean of the squared deviations (two passes, no cancellation). The
backward passes are the closed forms of docs/derivation.md ("Batch and layer
normalisation"); they recompute x̂ from x, μ and ρ instead of keeping an x-sized x̂.

Each kernel checks in O(1), before its loop, that its arrays' sizes fit, and raises
ValueError otherwise; each twin raises the same ValueError. NaN and ±Inf give the same
results in a kernel and its twin (tests/test_normalization.py). The set in use follows
`kernels.select` / TINYGRAD_HLCV_KERNELS, like every other kernel.
"""

from types import SimpleNamespace
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from . import kernels

Array = npt.NDArray[Any]

# What each kernel and its twin say when its arrays do not fit together.
STATISTICS_MISFIT = (
    "batch_norm_statistics: needs x of n >= 1 rows, and mean and var one entry per column of x"
)
BATCH_FORWARD_MISFIT = (
    "batch_norm_forward: out needs x's shape, and mean, invstd, weight and bias one entry per "
    "column of x"
)
BATCH_BACKWARD_MISFIT = (
    "batch_norm_backward: g and dx need x's shape, and mean, invstd, weight, dweight and dbias "
    "one entry per column of x"
)
NCL_STATISTICS_MISFIT = (
    "batch_norm_statistics_ncl: needs x (N, C, L) of N·L >= 1, and mean and var one entry per "
    "channel of x"
)
NCL_FORWARD_MISFIT = (
    "batch_norm_forward_ncl: out needs x's shape, and mean, invstd, weight and bias one entry "
    "per channel of x"
)
NCL_BACKWARD_MISFIT = (
    "batch_norm_backward_ncl: g and dx need x's shape, and mean, invstd, weight, dweight and "
    "dbias one entry per channel of x"
)
LAYER_FORWARD_MISFIT = (
    "layer_norm_forward: needs x of d >= 1 columns, out of x's shape, mean and invstd one "
    "entry per row, weight and bias one per column"
)
LAYER_BACKWARD_MISFIT = (
    "layer_norm_backward: g and dx need x's shape, mean and invstd one entry per row, weight, "
    "dweight and dbias one per column"
)

# ---- BatchNorm: statistics per column, over the n rows ----


@numba.njit(cache=True)
def batch_norm_statistics(x: Array, mean: Array, var: Array) -> None:
    """mean[j] = μ_j and var[j] = σ²_j (biased) of column j of x."""
    n, c = x.shape
    if n == 0 or not mean.size == var.size == c:
        raise ValueError(STATISTICS_MISFIT)
    total = np.zeros(c)
    for i in range(n):
        for j in range(c):
            total[j] += x[i, j]
    for j in range(c):
        mean[j] = total[j] / n
    total[:] = 0.0
    for i in range(n):
        for j in range(c):
            d = x[i, j] - mean[j]
            total[j] += d * d
    for j in range(c):
        var[j] = total[j] / n


def batch_norm_statistics_numpy(x: Array, mean: Array, var: Array) -> None:
    """The NumPy twin of `batch_norm_statistics`: same arguments, same results."""
    n, c = x.shape
    if n == 0 or not mean.size == var.size == c:
        raise ValueError(STATISTICS_MISFIT)
    mean[...] = x.sum(axis=0, dtype=np.float64) / n
    d = x - mean
    var[...] = (d * d).sum(axis=0) / n


@numba.njit(cache=True)
def batch_norm_forward(
    x: Array, mean: Array, invstd: Array, weight: Array, bias: Array, out: Array
) -> None:
    """out = (x − μ)·ρ·γ + β, column by column (μ, ρ: float64; γ, β: x's dtype)."""
    n, c = x.shape
    if out.shape != x.shape or not mean.size == invstd.size == weight.size == bias.size == c:
        raise ValueError(BATCH_FORWARD_MISFIT)
    for i in range(n):
        for j in range(c):
            out[i, j] = (x[i, j] - mean[j]) * invstd[j] * weight[j] + bias[j]


def batch_norm_forward_numpy(
    x: Array, mean: Array, invstd: Array, weight: Array, bias: Array, out: Array
) -> None:
    """The NumPy twin of `batch_norm_forward`: same arguments, same results."""
    c = x.shape[1]
    if out.shape != x.shape or not mean.size == invstd.size == weight.size == bias.size == c:
        raise ValueError(BATCH_FORWARD_MISFIT)
    out[...] = (x - mean) * invstd * weight + bias


@numba.njit(cache=True)
def batch_norm_backward(
    g: Array,
    x: Array,
    mean: Array,
    invstd: Array,
    weight: Array,
    batch_stats: bool,
    dx: Array,
    dweight: Array,
    dbias: Array,
) -> None:
    """dβ = Σ_i δ_i, dγ = Σ_i δ_i x̂_i, and dx = γρ(δ − (Σδ + x̂ Σδx̂)/n) when μ and ρ were the
    batch's (`batch_stats`), else dx = γρδ (running statistics are constants)."""
    n, c = x.shape
    if (
        g.shape != x.shape
        or dx.shape != x.shape
        or not (mean.size == invstd.size == weight.size == dweight.size == dbias.size == c)
    ):
        raise ValueError(BATCH_BACKWARD_MISFIT)
    sum_g, sum_gx = np.zeros(c), np.zeros(c)
    for i in range(n):
        for j in range(c):
            sum_g[j] += g[i, j]
            sum_gx[j] += g[i, j] * ((x[i, j] - mean[j]) * invstd[j])
    for j in range(c):
        dbias[j] = sum_g[j]
        dweight[j] = sum_gx[j]
    if batch_stats:
        for i in range(n):
            for j in range(c):
                x_hat = (x[i, j] - mean[j]) * invstd[j]
                dx[i, j] = weight[j] * invstd[j] * (g[i, j] - (sum_g[j] + x_hat * sum_gx[j]) / n)
    else:
        for i in range(n):
            for j in range(c):
                dx[i, j] = weight[j] * invstd[j] * g[i, j]


def batch_norm_backward_numpy(
    g: Array,
    x: Array,
    mean: Array,
    invstd: Array,
    weight: Array,
    batch_stats: bool,
    dx: Array,
    dweight: Array,
    dbias: Array,
) -> None:
    """The NumPy twin of `batch_norm_backward`: same arguments, same results."""
    n, c = x.shape
    if (
        g.shape != x.shape
        or dx.shape != x.shape
        or not (mean.size == invstd.size == weight.size == dweight.size == dbias.size == c)
    ):
        raise ValueError(BATCH_BACKWARD_MISFIT)
    x_hat = (x - mean) * invstd
    sum_g, sum_gx = g.sum(axis=0, dtype=np.float64), (g * x_hat).sum(axis=0)
    dbias[...], dweight[...] = sum_g, sum_gx
    if batch_stats:
        dx[...] = weight * invstd * (g - (sum_g + x_hat * sum_gx) / n)
    else:
        dx[...] = weight * invstd * g


# ---- BatchNorm of (N, C, L): statistics per channel, over its N·L values, in place ----
# `reassoc` as in _row_moments below: each channel's sums along its rows of L become
# vector lanes (statistics 3.3×, backward sums 2.1× faster at 128×64×1024 float32); only
# the order of the additions changes, NaN and ±Inf keep their meaning.


@numba.njit(cache=True, fastmath={"reassoc"})
def batch_norm_statistics_ncl(x: Array, mean: Array, var: Array) -> None:
    """mean[c] = μ_c and var[c] = σ²_c (biased) of channel c of x, over its N·L values."""
    n, c, length = x.shape
    if n * length == 0 or not mean.size == var.size == c:
        raise ValueError(NCL_STATISTICS_MISFIT)
    for j in range(c):
        total = 0.0
        for i in range(n):
            for k in range(length):
                total += x[i, j, k]
        mu = total / (n * length)
        total = 0.0
        for i in range(n):
            for k in range(length):
                d = x[i, j, k] - mu
                total += d * d
        mean[j], var[j] = mu, total / (n * length)


def batch_norm_statistics_ncl_numpy(x: Array, mean: Array, var: Array) -> None:
    """The NumPy twin of `batch_norm_statistics_ncl`: same arguments, same results."""
    n, c, length = x.shape
    if n * length == 0 or not mean.size == var.size == c:
        raise ValueError(NCL_STATISTICS_MISFIT)
    mean[...] = x.sum(axis=(0, 2), dtype=np.float64) / (n * length)
    d = x - mean[:, None]
    var[...] = (d * d).sum(axis=(0, 2)) / (n * length)


@numba.njit(cache=True)
def batch_norm_forward_ncl(
    x: Array, mean: Array, invstd: Array, weight: Array, bias: Array, out: Array
) -> None:
    """out = (x − μ)·a + β per channel, a = ρ·γ (μ, ρ: float64; γ, β: x's dtype)."""
    n, c, length = x.shape
    if out.shape != x.shape or not mean.size == invstd.size == weight.size == bias.size == c:
        raise ValueError(NCL_FORWARD_MISFIT)
    for i in range(n):
        for j in range(c):
            mu, scale, shift = mean[j], invstd[j] * weight[j], bias[j]
            for k in range(length):
                out[i, j, k] = (x[i, j, k] - mu) * scale + shift


def batch_norm_forward_ncl_numpy(
    x: Array, mean: Array, invstd: Array, weight: Array, bias: Array, out: Array
) -> None:
    """The NumPy twin of `batch_norm_forward_ncl`: same arguments, same results."""
    c = x.shape[1]
    if out.shape != x.shape or not mean.size == invstd.size == weight.size == bias.size == c:
        raise ValueError(NCL_FORWARD_MISFIT)
    out[...] = (x - mean[:, None]) * (invstd * weight)[:, None] + bias[:, None]


@numba.njit(cache=True, fastmath={"reassoc"})
def _channel_sums(g: Array, x: Array, j: int, mu: float, rho: float) -> tuple[float, float]:
    """Σ δ and Σ δ x̂ over channel j's N·L values, x̂ = (x − μ)ρ."""
    sum_g, sum_gx = 0.0, 0.0
    for i in range(x.shape[0]):
        for k in range(x.shape[2]):
            sum_g += g[i, j, k]
            sum_gx += g[i, j, k] * ((x[i, j, k] - mu) * rho)
    return sum_g, sum_gx


@numba.njit(cache=True)
def batch_norm_backward_ncl(
    g: Array,
    x: Array,
    mean: Array,
    invstd: Array,
    weight: Array,
    batch_stats: bool,
    dx: Array,
    dweight: Array,
    dbias: Array,
) -> None:
    """batch_norm_backward per channel of (N, C, L), with m = N·L values per channel."""
    n, c, length = x.shape
    if (
        g.shape != x.shape
        or dx.shape != x.shape
        or not (mean.size == invstd.size == weight.size == dweight.size == dbias.size == c)
    ):
        raise ValueError(NCL_BACKWARD_MISFIT)
    m = n * length
    for j in range(c):
        mu, rho = mean[j], invstd[j]
        sum_g, sum_gx = _channel_sums(g, x, j, mu, rho)
        dbias[j], dweight[j] = sum_g, sum_gx
        scale = weight[j] * rho
        for i in range(n):
            if batch_stats:
                for k in range(length):
                    x_hat = (x[i, j, k] - mu) * rho
                    dx[i, j, k] = scale * (g[i, j, k] - (sum_g + x_hat * sum_gx) / m)
            else:  # running statistics are constants
                for k in range(length):
                    dx[i, j, k] = scale * g[i, j, k]


def batch_norm_backward_ncl_numpy(
    g: Array,
    x: Array,
    mean: Array,
    invstd: Array,
    weight: Array,
    batch_stats: bool,
    dx: Array,
    dweight: Array,
    dbias: Array,
) -> None:
    """The NumPy twin of `batch_norm_backward_ncl`: same arguments, same results."""
    n, c, length = x.shape
    if (
        g.shape != x.shape
        or dx.shape != x.shape
        or not (mean.size == invstd.size == weight.size == dweight.size == dbias.size == c)
    ):
        raise ValueError(NCL_BACKWARD_MISFIT)
    x_hat = (x - mean[:, None]) * invstd[:, None]
    sum_g, sum_gx = g.sum(axis=(0, 2), dtype=np.float64), (g * x_hat).sum(axis=(0, 2))
    dbias[...], dweight[...] = sum_g, sum_gx
    scale = (weight * invstd)[:, None]
    if batch_stats:
        dx[...] = scale * (g - (sum_g[:, None] + x_hat * sum_gx[:, None]) / (n * length))
    else:
        dx[...] = scale * g


# ---- LayerNorm: statistics per row, over the d columns ----


@numba.njit(cache=True, fastmath={"reassoc"})
def _row_moments(row: Array) -> tuple[float, float]:
    """The mean and biased variance of a 1-D row, two passes in float64.

    `reassoc` lets LLVM split each running sum into vector lanes (2.4–4.6× faster at
    256×1024, benchmarks/kernels.py): a sum along a row is otherwise one chain of
    dependent adds. Only the order of the additions changes (as NumPy's pairwise sum
    differs from a running one); NaN and ±Inf keep their meaning (no nnan/ninf flags)."""
    total = 0.0
    for j in range(row.size):
        total += row[j]
    mu = total / row.size
    total = 0.0
    for j in range(row.size):
        deviation = row[j] - mu
        total += deviation * deviation
    return mu, total / row.size


@numba.njit(cache=True)
def layer_norm_forward(
    x: Array, weight: Array, bias: Array, eps: float, mean: Array, invstd: Array, out: Array
) -> None:
    """Per row i: mean[i] = μ_i, invstd[i] = ρ_i, out[i] = (x_i − μ_i)·ρ_i ⊙ γ + β."""
    m, d = x.shape
    if (
        d == 0
        or out.shape != x.shape
        or not mean.size == invstd.size == m
        or not (weight.size == bias.size == d)
    ):
        raise ValueError(LAYER_FORWARD_MISFIT)
    for i in range(m):
        mu, var = _row_moments(x[i])
        rho = 1.0 / np.sqrt(var + eps)
        mean[i], invstd[i] = mu, rho
        for j in range(d):
            out[i, j] = (x[i, j] - mu) * rho * weight[j] + bias[j]


def layer_norm_forward_numpy(
    x: Array, weight: Array, bias: Array, eps: float, mean: Array, invstd: Array, out: Array
) -> None:
    """The NumPy twin of `layer_norm_forward`: same arguments, same results."""
    m, d = x.shape
    if (
        d == 0
        or out.shape != x.shape
        or not mean.size == invstd.size == m
        or not (weight.size == bias.size == d)
    ):
        raise ValueError(LAYER_FORWARD_MISFIT)
    mean[...] = x.sum(axis=1, dtype=np.float64) / d
    deviation = x - mean[:, None]
    invstd[...] = 1.0 / np.sqrt((deviation * deviation).sum(axis=1) / d + eps)
    out[...] = deviation * invstd[:, None] * weight + bias


@numba.njit(cache=True, fastmath={"reassoc"})
def _row_sums(g: Array, x: Array, weight: Array, mu: float, rho: float) -> tuple[float, float]:
    """Σ_j ĝ_j and Σ_j ĝ_j x̂_j of one row, ĝ = δ ⊙ γ in float64 (as the twin), x̂ = (x − μ)ρ;
    `reassoc` as in _row_moments (2–2.8× faster backward at 256×1024)."""
    row_g, row_gx = 0.0, 0.0
    for j in range(x.size):
        g_hat = float(g[j]) * weight[j]
        row_g += g_hat
        row_gx += g_hat * ((x[j] - mu) * rho)
    return row_g, row_gx


@numba.njit(cache=True)
def layer_norm_backward(
    g: Array,
    x: Array,
    mean: Array,
    invstd: Array,
    weight: Array,
    dx: Array,
    dweight: Array,
    dbias: Array,
) -> None:
    """dβ = Σ_i δ_i, dγ = Σ_i δ_i ⊙ x̂_i, and per row, with ĝ = δ_i ⊙ γ,
    dx_i = ρ_i(ĝ − (Σ_j ĝ_j + x̂_i Σ_j ĝ_j x̂_ij)/d)."""
    m, d = x.shape
    if (
        g.shape != x.shape
        or dx.shape != x.shape
        or not mean.size == invstd.size == m
        or not (weight.size == dweight.size == dbias.size == d)
    ):
        raise ValueError(LAYER_BACKWARD_MISFIT)
    sum_g, sum_gx = np.zeros(d), np.zeros(d)
    for i in range(m):
        mu, rho = mean[i], invstd[i]
        for j in range(d):
            sum_g[j] += g[i, j]
            sum_gx[j] += g[i, j] * ((x[i, j] - mu) * rho)
        row_g, row_gx = _row_sums(g[i], x[i], weight, mu, rho)
        for j in range(d):
            x_hat = (x[i, j] - mu) * rho
            dx[i, j] = rho * (float(g[i, j]) * weight[j] - (row_g + x_hat * row_gx) / d)
    for j in range(d):
        dbias[j] = sum_g[j]
        dweight[j] = sum_gx[j]


def layer_norm_backward_numpy(
    g: Array,
    x: Array,
    mean: Array,
    invstd: Array,
    weight: Array,
    dx: Array,
    dweight: Array,
    dbias: Array,
) -> None:
    """The NumPy twin of `layer_norm_backward`: same arguments, same results."""
    m, d = x.shape
    if (
        g.shape != x.shape
        or dx.shape != x.shape
        or not mean.size == invstd.size == m
        or not (weight.size == dweight.size == dbias.size == d)
    ):
        raise ValueError(LAYER_BACKWARD_MISFIT)
    x_hat = (x - mean[:, None]) * invstd[:, None]
    dbias[...], dweight[...] = g.sum(axis=0, dtype=np.float64), (g * x_hat).sum(axis=0)
    g_hat = g * weight.astype(np.float64)
    row_g, row_gx = g_hat.sum(axis=1, keepdims=True), (g_hat * x_hat).sum(axis=1, keepdims=True)
    dx[...] = invstd[:, None] * (g_hat - (row_g + x_hat * row_gx) / d)


# ---- The two sets; `active()` is the one kernels.active says ----

KERNEL_NAMES = (
    "batch_norm_statistics",
    "batch_norm_forward",
    "batch_norm_backward",
    "batch_norm_statistics_ncl",
    "batch_norm_forward_ncl",
    "batch_norm_backward_ncl",
    "layer_norm_forward",
    "layer_norm_backward",
)
numba_kernels = SimpleNamespace(**{name: globals()[name] for name in KERNEL_NAMES})
numpy_kernels = SimpleNamespace(**{name: globals()[name + "_numpy"] for name in KERNEL_NAMES})


def active() -> SimpleNamespace:
    """The twins when `kernels.select("numpy")` (or TINYGRAD_HLCV_KERNELS=numpy) chose
    them, else the Numba kernels."""
    return numpy_kernels if kernels.active is kernels.numpy_kernels else numba_kernels
