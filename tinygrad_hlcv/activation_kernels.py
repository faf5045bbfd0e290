"""Element-wise activation kernels that NumPy cannot say in one pass, as Numba kernels with
NumPy twins (the conventions of kernels.py: 1-D C-contiguous views, results written into
`out`).

GELU needs erf, which NumPy lacks: the kernels call `math.erf` inside the jitted loop; the
twins apply the same `math.erf` through `np.vectorize`, exact but slow, which is fine for
what a twin is for (reading, debugging, checking the kernels). The set in use follows
`kernels.select` / TINYGRAD_HLCV_KERNELS, like every other kernel.
"""

import math
from types import SimpleNamespace
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from . import kernels

SQRT_HALF = math.sqrt(0.5)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

Array = npt.NDArray[Any]

# ---- GELU: z = a Φ(a), Φ(a) = (1 + erf(a/√2))/2;  dz/da = Φ(a) + a φ(a), φ(a) = e^(-a²/2)/√(2π)


@numba.njit(cache=True)
def gelu_forward(x: Array, out: Array) -> None:
    for i in range(x.size):
        out[i] = 0.5 * x[i] * (1.0 + math.erf(x[i] * SQRT_HALF))


def gelu_forward_numpy(x: Array, out: Array) -> None:
    """The NumPy twin of `gelu_forward`: same arguments, same results."""
    x = x.astype(np.float64)  # as the kernel, which computes in float64 for float32 too
    out[...] = 0.5 * x * (1.0 + _erf(x * SQRT_HALF))


@numba.njit(cache=True)
def gelu_backward(g: Array, x: Array, out: Array) -> None:
    for i in range(x.size):
        cdf = 0.5 * (1.0 + math.erf(x[i] * SQRT_HALF))
        pdf = INV_SQRT_2PI * math.exp(-0.5 * x[i] * x[i])
        out[i] = g[i] * (cdf + x[i] * pdf)


def gelu_backward_numpy(g: Array, x: Array, out: Array) -> None:
    """The NumPy twin of `gelu_backward`: same arguments, same results."""
    x = x.astype(np.float64)
    cdf = 0.5 * (1.0 + _erf(x * SQRT_HALF))
    pdf = INV_SQRT_2PI * np.exp(-0.5 * x * x)
    out[...] = g * (cdf + x * pdf)


_erf = np.vectorize(math.erf, otypes=[np.float64])

# ---- The two sets; `active()` is the one kernels.active says ----

KERNEL_NAMES = ("gelu_forward", "gelu_backward")
numba_kernels = SimpleNamespace(**{name: globals()[name] for name in KERNEL_NAMES})
numpy_kernels = SimpleNamespace(**{name: globals()[name + "_numpy"] for name in KERNEL_NAMES})


def active() -> SimpleNamespace:
    """The twins when `kernels.select("numpy")` (or TINYGRAD_HLCV_KERNELS=numpy) chose
    them, else the Numba kernels."""
    return numpy_kernels if kernels.active is kernels.numpy_kernels else numba_kernels
