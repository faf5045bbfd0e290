"""The optimizers' update rules as one fused pass over a parameter: Numba kernels with NumPy
twins (the conventions of kernels.py; SGD's kernel, `sgd_update`, is in kernels.py).

Each kernel changes θ and its state buffers in place, element by element, reading each
array once: NumPy would make a weight-sized temporary per operation. The scalars come in
θ's dtype, derived by the caller (`1 − β`, the bias corrections, ...), so that the kernel and
its twin do the same operations on the same numbers in the same order and agree bit for
bit, NaN and ±Inf included. The kernels use NumPy's error model (x/0 is ±Inf or NaN, as
in the twin, not ZeroDivisionError). A buffer an update does not use is an empty array.

`update(name, arrays, scalars)` runs the kernel on 1-D views when every array is
C-contiguous and of θ's dtype and shape, else the twin on the arrays as they are; the set
in use follows `kernels.select` / TINYGRAD_HLCV_KERNELS. Optimizers check shapes and dtypes
before; the kernels still check sizes in O(1), raising ValueError, never reading past an
array.
"""

import math
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from . import kernels

Array = npt.NDArray[Any]


def _sizes_fit(name: str, theta: Array, used: tuple[Array, ...]) -> None:
    """The twin's size check: each used buffer (and ∇) has θ's size, as the kernel checks."""
    if any(a.size != theta.size for a in used):
        raise ValueError(f"{name}: theta, grad and the state buffers differ in size")


# ---- Adam and AdamW (PyTorch's):  g = ∇ + wd·θ (Adam; AdamW instead θ ← θ·(1 − lr·wd));
#      m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²;  θ ← θ − step_size · m / (√v / √bc2 + ε),
#      step_size = lr / (1 − β1ᵗ), bc2 = 1 − β2ᵗ; with amsgrad-free PyTorch defaults.


@numba.njit(cache=True, error_model="numpy")
def adam_update(
    theta: Array,
    grad: Array,
    exp_avg: Array,
    exp_avg_sq: Array,
    beta1: float,
    one_minus_beta1: float,
    beta2: float,
    one_minus_beta2: float,
    step_size: float,
    bias_correction2_sqrt: float,
    eps: float,
    weight_decay: float,
    decay: float,
) -> None:
    """`weight_decay` is Adam's L2 term in the gradient (0 for AdamW); `decay` is AdamW's
    factor 1 − lr·wd on θ (1 for Adam)."""
    if grad.size != theta.size or exp_avg.size != theta.size or exp_avg_sq.size != theta.size:
        raise ValueError("adam_update: theta, grad and the state buffers differ in size")
    for i in range(theta.size):
        g = grad[i]
        if weight_decay != 0:
            g = g + weight_decay * theta[i]
        if decay != 1:
            theta[i] = theta[i] * decay
        m = beta1 * exp_avg[i] + one_minus_beta1 * g
        v = beta2 * exp_avg_sq[i] + one_minus_beta2 * g * g
        exp_avg[i] = m
        exp_avg_sq[i] = v
        theta[i] = theta[i] - step_size * m / (math.sqrt(v) / bias_correction2_sqrt + eps)


def adam_update_numpy(
    theta: Array,
    grad: Array,
    exp_avg: Array,
    exp_avg_sq: Array,
    beta1: float,
    one_minus_beta1: float,
    beta2: float,
    one_minus_beta2: float,
    step_size: float,
    bias_correction2_sqrt: float,
    eps: float,
    weight_decay: float,
    decay: float,
) -> None:
    """The NumPy twin of `adam_update`: same arguments, same results."""
    _sizes_fit("adam_update", theta, (grad, exp_avg, exp_avg_sq))
    g = grad + weight_decay * theta if weight_decay != 0 else grad
    if decay != 1:
        theta *= decay
    exp_avg[...] = beta1 * exp_avg + one_minus_beta1 * g
    exp_avg_sq[...] = beta2 * exp_avg_sq + one_minus_beta2 * g * g
    theta -= step_size * exp_avg / (np.sqrt(exp_avg_sq) / bias_correction2_sqrt + eps)


# ---- RMSprop (PyTorch's):  g = ∇ + wd·θ;  s ← α s + (1−α) g²;  centered: a ← α a + (1−α) g,
#      s̃ = s − a², else s̃ = s;  d = √s̃ + ε;  momentum μ > 0: b ← μ b + g/d, θ ← θ − lr·b;
#      else θ ← θ − lr·g/d.


@numba.njit(cache=True, error_model="numpy")
def rmsprop_update(
    theta: Array,
    grad: Array,
    square_avg: Array,
    grad_avg: Array,
    momentum_buffer: Array,
    lr: float,
    alpha: float,
    one_minus_alpha: float,
    eps: float,
    weight_decay: float,
    momentum: float,
    centered: bool,
) -> None:
    """`grad_avg` is used only when `centered`, `momentum_buffer` only when momentum > 0."""
    if (
        grad.size != theta.size
        or square_avg.size != theta.size
        or (centered and grad_avg.size != theta.size)
        or (momentum > 0 and momentum_buffer.size != theta.size)
    ):
        raise ValueError("rmsprop_update: theta, grad and the state buffers differ in size")
    for i in range(theta.size):
        g = grad[i]
        if weight_decay != 0:
            g = g + weight_decay * theta[i]
        s = alpha * square_avg[i] + one_minus_alpha * g * g
        square_avg[i] = s
        if centered:
            a = alpha * grad_avg[i] + one_minus_alpha * g
            grad_avg[i] = a
            s = s - a * a
        d = math.sqrt(s) + eps
        if momentum > 0:
            b = momentum * momentum_buffer[i] + g / d
            momentum_buffer[i] = b
            theta[i] = theta[i] - lr * b
        else:
            theta[i] = theta[i] - lr * (g / d)


def rmsprop_update_numpy(
    theta: Array,
    grad: Array,
    square_avg: Array,
    grad_avg: Array,
    momentum_buffer: Array,
    lr: float,
    alpha: float,
    one_minus_alpha: float,
    eps: float,
    weight_decay: float,
    momentum: float,
    centered: bool,
) -> None:
    """The NumPy twin of `rmsprop_update`: same arguments, same results."""
    _sizes_fit(
        "rmsprop_update",
        theta,
        (
            grad,
            square_avg,
            *([grad_avg] if centered else []),
            *([momentum_buffer] if momentum > 0 else []),
        ),
    )
    g = grad + weight_decay * theta if weight_decay != 0 else grad
    square_avg[...] = alpha * square_avg + one_minus_alpha * g * g
    s = square_avg
    if centered:
        grad_avg[...] = alpha * grad_avg + one_minus_alpha * g
        s = s - grad_avg * grad_avg
    d = np.sqrt(s) + eps
    if momentum > 0:
        momentum_buffer[...] = momentum * momentum_buffer + g / d
        theta -= lr * momentum_buffer
    else:
        theta -= lr * (g / d)


# ---- Adagrad (PyTorch's):  g = ∇ + wd·θ;  S ← S + g²;  θ ← θ − clr · g / (√S + ε),
#      clr = lr / (1 + (t − 1)·lr_decay).


@numba.njit(cache=True, error_model="numpy")
def adagrad_update(
    theta: Array, grad: Array, state_sum: Array, clr: float, eps: float, weight_decay: float
) -> None:
    if grad.size != theta.size or state_sum.size != theta.size:
        raise ValueError("adagrad_update: theta, grad and the state buffers differ in size")
    for i in range(theta.size):
        g = grad[i]
        if weight_decay != 0:
            g = g + weight_decay * theta[i]
        s = state_sum[i] + g * g
        state_sum[i] = s
        theta[i] = theta[i] - clr * g / (math.sqrt(s) + eps)


def adagrad_update_numpy(
    theta: Array, grad: Array, state_sum: Array, clr: float, eps: float, weight_decay: float
) -> None:
    """The NumPy twin of `adagrad_update`: same arguments, same results."""
    _sizes_fit("adagrad_update", theta, (grad, state_sum))
    g = grad + weight_decay * theta if weight_decay != 0 else grad
    state_sum += g * g
    theta -= clr * g / (np.sqrt(state_sum) + eps)


# ---- The two sets, and running one ----

KERNEL_NAMES = ("adam_update", "rmsprop_update", "adagrad_update")
numba_kernels = SimpleNamespace(**{name: globals()[name] for name in KERNEL_NAMES})
numpy_kernels = SimpleNamespace(**{name: globals()[name + "_numpy"] for name in KERNEL_NAMES})


def active() -> SimpleNamespace:
    """The twins when `kernels.select("numpy")` (or TINYGRAD_HLCV_KERNELS=numpy) chose
    them, else the Numba kernels."""
    return numpy_kernels if kernels.active is kernels.numpy_kernels else numba_kernels


def update(name: str, arrays: Sequence[Array], scalars: Sequence[float]) -> None:
    """Run kernel `name` on `arrays` (θ first, then ∇ and the buffers; empty ones unused)
    and `scalars`: on 1-D views if every non-empty array is C-contiguous with θ's dtype and
    shape, else the twin on the arrays as they are (any layout; NumPy casts)."""
    theta = arrays[0]
    fits = all(
        a.flags.c_contiguous and a.dtype == theta.dtype and a.shape == theta.shape
        for a in arrays
        if a.size or a is theta
    )
    if fits:
        getattr(active(), name)(*(a.reshape(-1) for a in arrays), *scalars)
    else:
        getattr(numpy_kernels, name)(*arrays, *scalars)
