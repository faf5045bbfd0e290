"""The element-wise and row-wise loops of the layers, as Numba kernels with NumPy twins.

Each kernel comes in two versions with one signature: a `@numba.njit(cache=True)`
loop, and beside it a plain NumPy twin that says the same thing in array
notation. The twins are what the tests compare the kernels against, and what a
user can step through in a debugger: set `TINYGRAD_HLCV_KERNELS=numpy` before
importing tinygrad_hlcv to run every layer on the twins instead.

Kernels write into an `out` array they are given (so callers may reuse
buffers) and take 1-D views for element-wise work, 2-D (rows = samples) for
row-wise work; callers pass C-contiguous arrays. GEMMs are not here: they go to
NumPy's BLAS.

The callers (nn.functional, the engine, optim) check shapes and dtypes and say what
the user got wrong. Each kernel still checks, in O(1) before its loop, that its
arrays' sizes fit (and softmax_cross_entropy_with_grad that every label indexes a column):
whatever it is given, a kernel raises ValueError rather than index past an array.
Each twin raises the same ValueError where NumPy would broadcast instead. NaN and
±Inf give the same results in a kernel and its twin, PyTorch's (tests/test_kernels.py).
Timings: docs/performance.md.
"""

import os
from types import SimpleNamespace
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from .errors import ConfigError

Array = npt.NDArray[Any]
Scalar = float | np.generic  # a Python number or a NumPy scalar of the arrays' dtype

# ---- ReLU: a = max(z, 0); da/dz = 1 where z > 0, else 0 (0 at z = 0, as PyTorch) ----


@numba.njit(cache=True)
def relu_forward(z: Array, out: Array) -> None:
    if out.size != z.size:
        raise ValueError("relu_forward: z and out differ in size")
    for i in range(z.size):  # NaN stays NaN, as in the twin
        if z[i] <= 0:
            out[i] = 0
        else:  # (not `0 if ... else z[i]`: that is a float64 for uint64 z, inexact past 2**53)
            out[i] = z[i]


def relu_forward_numpy(z: Array, out: Array) -> None:
    """The NumPy twin of `relu_forward`: same arguments, same results."""
    if out.size != z.size:
        raise ValueError("relu_forward: z and out differ in size")
    np.maximum(z, 0, out=out)


@numba.njit(cache=True)
def relu_backward(g: Array, a: Array, out: Array) -> None:
    """Uses the forward output a: a > 0 exactly where z > 0. As PyTorch's
    threshold_backward: 0 where a <= 0 even for a NaN or Inf δ (not 0·δ = NaN), δ
    where a is NaN."""
    if g.size != out.size or a.size != out.size:
        raise ValueError("relu_backward: g, a and out differ in size")
    for i in range(g.size):
        out[i] = 0 if a[i] <= 0 else g[i]


def relu_backward_numpy(g: Array, a: Array, out: Array) -> None:
    """The NumPy twin of `relu_backward`: same arguments, same results."""
    if g.size != out.size or a.size != out.size:
        raise ValueError("relu_backward: g, a and out differ in size")
    np.copyto(out, np.where(a <= 0, 0, g))


# ---- LeakyReLU: a = z if z > 0 else αz; da/dz = 1 or α (α at z = 0, as PyTorch) ----


@numba.njit(cache=True)
def leaky_relu_forward(z: Array, slope: Scalar, out: Array) -> None:
    """NaN stays NaN (NaN·α), as in PyTorch and the twin."""
    if out.size != z.size:
        raise ValueError("leaky_relu_forward: z and out differ in size")
    for i in range(z.size):
        out[i] = z[i] if z[i] > 0 else z[i] * slope


def leaky_relu_forward_numpy(z: Array, slope: Scalar, out: Array) -> None:
    """The NumPy twin of `leaky_relu_forward`: same arguments, same results."""
    if out.size != z.size:
        raise ValueError("leaky_relu_forward: z and out differ in size")
    np.multiply(z, np.where(z > 0, 1, slope).astype(z.dtype), out=out)


@numba.njit(cache=True)
def leaky_relu_backward(g: Array, z: Array, slope: Scalar, out: Array) -> None:
    """As PyTorch's `z > 0 ? δ : δ·α`: a NaN z takes the slope, and δ·α is NaN for a
    NaN δ (and for an infinite δ when α = 0)."""
    if g.size != out.size or z.size != out.size:
        raise ValueError("leaky_relu_backward: g, z and out differ in size")
    for i in range(g.size):
        out[i] = g[i] if z[i] > 0 else g[i] * slope


def leaky_relu_backward_numpy(g: Array, z: Array, slope: Scalar, out: Array) -> None:
    """The NumPy twin of `leaky_relu_backward`: same arguments, same results."""
    if g.size != out.size or z.size != out.size:
        raise ValueError("leaky_relu_backward: g, z and out differ in size")
    np.multiply(g, np.where(z > 0, 1, slope).astype(g.dtype), out=out)


# ---- Inverted dropout: forward a·m/q, backward δ·m/q (m a 0/1 mask, q = 1 - p) ----


@numba.njit(cache=True)
def masked_scale(x: Array, mask: Array, scale: Scalar, out: Array) -> None:
    """out = x * (mask * scale), mask a contiguous bool array (dropout's). It is read
    as its 0/1 bytes, so the loop multiplies instead of branching and vectorises; a
    dropped NaN or Inf gives NaN (x·0), as PyTorch's x·mask·scale and the twin."""
    if mask.itemsize != 1:
        raise ValueError("masked_scale: the mask must be a bool array")
    if mask.size != x.size or out.size != x.size:
        raise ValueError("masked_scale: x, mask and out differ in size")
    keep = mask.view(np.uint8)
    for i in range(x.size):
        out[i] = x[i] * (keep[i] * scale)


def masked_scale_numpy(x: Array, mask: Array, scale: Scalar, out: Array) -> None:
    """The NumPy twin of `masked_scale`: same arguments, same results."""
    if mask.itemsize != 1:
        raise ValueError("masked_scale: the mask must be a bool array")
    if mask.size != x.size or out.size != x.size:
        raise ValueError("masked_scale: x, mask and out differ in size")
    np.multiply(x, mask.view(np.uint8) * scale, out=out)


# ---- Linear's non-GEMM parts: Z = XW + b, and ∂J/∂b = Σ_i δ[i, :] ----


@numba.njit(cache=True)
def bias_add(z: Array, b: Array) -> None:
    """In place: z[i, :] += b, b 1-D with one entry per column of z."""
    if b.shape[0] != z.shape[1]:
        raise ValueError("bias_add: b needs one entry per column of z")
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            z[i, j] += b[j]


def bias_add_numpy(z: Array, b: Array) -> None:
    """The NumPy twin of `bias_add`: same arguments, same results."""
    if b.shape != z.shape[1:]:
        raise ValueError("bias_add: b needs one entry per column of z")
    z += b


@numba.njit(cache=True)
def column_sum(g: Array, out: Array) -> None:
    """out[j] = Σ_i g[i, j], walking g in its memory order, four rows per sweep so
    that out is loaded and stored a quarter as often."""
    n, m = g.shape
    if out.size != m:
        raise ValueError("column_sum: out needs one entry per column of g")
    out[:] = 0
    full = n - n % 4
    for i in range(0, full, 4):
        for j in range(m):
            out[j] += (g[i, j] + g[i + 1, j]) + (g[i + 2, j] + g[i + 3, j])
    for i in range(full, n):
        for j in range(m):
            out[j] += g[i, j]


def column_sum_numpy(g: Array, out: Array) -> None:
    """The NumPy twin of `column_sum`: same arguments, same results."""
    if out.shape != g.shape[1:]:
        raise ValueError("column_sum: out needs one entry per column of g")
    np.sum(g, axis=0, out=out)


# ---- Softmax cross-entropy, fused with its gradient ----
#   J = -(1/N) Σ_i Σ_j T[i, j] log P[i, j],  log P[i, j] = (z_ij - m_i) - log Σ_k exp(z_ik - m_i)
#   with the target T = (1 - ε) Y + ε/C (label smoothing ε, 0 by default: T = Y one-hot);
#   ∂J/∂Z = (P - T) / N


@numba.njit(cache=True)
def softmax_cross_entropy_with_grad(
    z: Array, labels: Array, dz: Array, smoothing: float = 0.0
) -> float:
    """Returns J (as float64) and writes ∂J/∂Z into dz. Shifting by the row maximum
    keeps every exp() in [0, 1], so finite logits of any size give a finite loss; a row
    with a NaN or +Inf logit gives NaN, as in PyTorch and the twin. With smoothing ε a row's
    loss is log Σ - (1-ε)(z_y - m) - ε·mean_j(z_j - m), PyTorch's label_smoothing."""
    n, c = z.shape
    if n == 0 or c == 0 or labels.shape[0] != n or dz.shape != z.shape:
        raise ValueError(
            "softmax_cross_entropy_with_grad: needs z of n >= 1 rows and c >= 1 columns, "
            "n labels and dz of z's shape"
        )
    total = 0.0
    for i in range(n):
        y = labels[i]
        if y < 0 or y >= c:
            raise ValueError("softmax_cross_entropy_with_grad: a label is not in [0, c)")
        m = z[i, 0]
        for j in range(1, c):
            if z[i, j] > m:
                m = z[i, j]
        s = 0.0
        for j in range(c):
            e = np.exp(z[i, j] - m)
            dz[i, j] = e
            s += e
        total += np.log(s) - (1.0 - smoothing) * (z[i, y] - m)
        if smoothing != 0:  # (not 0·Σ: a -Inf logit would make it NaN)
            shifted = 0.0
            for j in range(c):
                shifted += z[i, j] - m
            total -= smoothing * shifted / c
        for j in range(c):
            dz[i, j] = dz[i, j] / s / n - smoothing / c / n
        dz[i, y] -= (1.0 - smoothing) / n
    return total / n


def softmax_cross_entropy_with_grad_numpy(
    z: Array, labels: Array, dz: Array, smoothing: float = 0.0
) -> float:
    """The NumPy twin of `softmax_cross_entropy_with_grad`: same arguments, same results."""
    n, c = z.shape
    if n == 0 or c == 0 or labels.shape != (n,) or dz.shape != z.shape:
        raise ValueError(
            "softmax_cross_entropy_with_grad: needs z of n >= 1 rows and c >= 1 columns, "
            "n labels and dz of z's shape"
        )
    if labels.min() < 0 or labels.max() >= c:
        raise ValueError("softmax_cross_entropy_with_grad: a label is not in [0, c)")
    shifted = z - z.max(axis=1, keepdims=True)
    with np.errstate(under="ignore"):  # exp(-huge) -> 0 is intended, as in the kernel
        e = np.exp(shifted)
        s = e.sum(axis=1, keepdims=True, dtype=np.float64)
        log_s = np.log(s[:, 0])
        loss = log_s - (1.0 - smoothing) * shifted[np.arange(n), labels].astype(np.float64)
        if smoothing != 0:
            loss -= smoothing * shifted.sum(axis=1, dtype=np.float64) / c
        np.subtract(e / (s * n), smoothing / c / n, out=dz, casting="unsafe")
    dz[np.arange(n), labels] -= dz.dtype.type((1.0 - smoothing) / n)
    return float(loss.mean(dtype=np.float64))


# ---- Passes over whole weight arrays: the L2 gradient and the SGD step ----
#   These touch every weight once per step, and NumPy's version of each makes a
#   weight-sized temporary; one fused loop makes none (see docs/performance.md).


@numba.njit(cache=True)
def scaled_add(acc: Array, factor: Scalar, x: Array) -> None:
    """In place: acc += factor·x. How the L2 penalty's gradient 2λW joins the weight
    gradient (engine.ScaledGrad) without a temporary 2λW."""
    if x.size != acc.size:
        raise ValueError("scaled_add: acc and x differ in size")
    for i in range(acc.size):
        acc[i] += factor * x[i]


def scaled_add_numpy(acc: Array, factor: Scalar, x: Array) -> None:
    """The NumPy twin of `scaled_add`: same arguments, same results."""
    if x.size != acc.size:
        raise ValueError("scaled_add: acc and x differ in size")
    acc += factor * x


@numba.njit(cache=True)
def sgd_update(
    theta: Array,
    grad: Array,
    velocity: Array,
    lr: Scalar,
    momentum: Scalar,
    weight_decay: Scalar,
    nesterov: bool,
    first: bool,
) -> None:
    """In place, one pass: PyTorch's SGD (see optim.SGD), with scalars of θ's dtype:
    g = ∇ + wd·θ;  v ← μv + g (v = g when `first`);  θ -= lr·(g + μv if nesterov else v).
    Without momentum (μ = 0) θ -= lr·g and `velocity` (then empty) is not touched."""
    if grad.size != theta.size or (momentum != 0 and velocity.size != theta.size):
        raise ValueError("sgd_update: theta, grad (and velocity, with momentum) differ in size")
    for i in range(theta.size):
        g = grad[i]
        if weight_decay != 0:
            g += weight_decay * theta[i]
        if momentum != 0:
            v = g if first else momentum * velocity[i] + g
            velocity[i] = v
            g = g + momentum * v if nesterov else v
        theta[i] -= lr * g


def sgd_update_numpy(
    theta: Array,
    grad: Array,
    velocity: Array,
    lr: Scalar,
    momentum: Scalar,
    weight_decay: Scalar,
    nesterov: bool,
    first: bool,
) -> None:
    """The NumPy twin of `sgd_update`: same arguments, same results."""
    if grad.size != theta.size or (momentum != 0 and velocity.size != theta.size):
        raise ValueError("sgd_update: theta, grad (and velocity, with momentum) differ in size")
    g = grad + weight_decay * theta if weight_decay != 0 else grad
    if momentum != 0:
        if first:
            velocity[...] = g
        else:
            velocity *= momentum
            velocity += g
        g = g + momentum * velocity if nesterov else velocity
    theta -= lr * g


# ---- The two sets, and which one the layers use ----

KERNEL_NAMES = (
    "relu_forward",
    "relu_backward",
    "leaky_relu_forward",
    "leaky_relu_backward",
    "masked_scale",
    "bias_add",
    "column_sum",
    "softmax_cross_entropy_with_grad",
    "scaled_add",
    "sgd_update",
)
numba_kernels = SimpleNamespace(**{name: globals()[name] for name in KERNEL_NAMES})
numpy_kernels = SimpleNamespace(**{name: globals()[name + "_numpy"] for name in KERNEL_NAMES})


def select(name: str) -> SimpleNamespace:
    """Make the layers use the 'numba' kernels or their 'numpy' twins."""
    global active
    choices = {"numba": numba_kernels, "numpy": numpy_kernels}
    if name not in choices:
        raise ConfigError(
            f"kernel set must be 'numba' or 'numpy', got {name!r} "
            "(from TINYGRAD_HLCV_KERNELS or kernels.select)"
        )
    active = choices[name]
    return active


active = select(os.environ.get("TINYGRAD_HLCV_KERNELS", "numba"))
