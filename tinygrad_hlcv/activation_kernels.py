"""Element-wise activation kernels that NumPy cannot say in one pass, as Numba kernels with
NumPy twins (the conventions of kernels.py: 1-D C-contiguous views, results written into
`out`, sizes checked before the loop).

GELU needs the normal CDF Φ, which NumPy lacks; libm's scalar `erf` costs ≈20 ns an
element, as LLVM cannot vectorise a loop that calls it.

float32 arrays are computed in float64 from erfc, in a loop without a libm call, which LLVM
vectorises (4 doubles a ymm register, FMAs): with a = |x|/√2, Φ(-|x|) = erfc(a)/2 and

    erfc(a) = t·e^(-a²)·P(2t - 1),  t = 2/(2 + a),

the form of Numerical Recipes' `Erf::erfccheb` (Press et al., 3rd ed.) with the polynomial
outside the exponential: P(y) = erfcx(a)/t is smooth on [-1, 1], and our degree-20 fit is
within 3e-14 relatively. e^(-a²) = e^(-x²/2) has an exact argument (x·x of a float32 is exact
in float64), is shared with φ in the backward pass, and comes from `_exp` (Cody-Waite
reduction, a degree-12 Taylor polynomial, 2ⁿ built from its bits; within 5e-16 relatively).
Φ is never 1 + erf, so both tails keep their relative accuracy.

Bounds, against x·Φ(x) and Φ(x) + x·φ(x) computed in float64 with math.erfc and math.exp and
rounded to float32 (tests/test_activation_kernels.py: 10^6 float32 spread over all exponents,
10^7 on request): the forward within 1 ulp; the backward within 1 ulp but at the few float32
next to its zero at x ≈ -0.7518, where Φ(x) and x·φ(x) cancel: there within 4e-14·Φ(x)
(10 ulp at the float32 closest to the zero, whose derivative is 5e-9). In practice both are
correctly rounded: of the 10^7, one forward and two backward results are 1 ulp off, none
more. Speed (benchmarks/gelu.py): ≈3x the scalar erf's forward, ≈5x its backward.

float64 arrays keep the `math.erf` formula as before, scalar and slow: the float64 path above
is good to ≈1e-14 relatively, not to a float64 ulp.

The twins compute the same formulas in the same order and dtypes, without the FMAs the
kernels may use (fastmath "contract"): kernel and twin agree within 1 ulp of float32, in
practice bit for bit; the float64 twin applies `math.erf` through `np.vectorize`. The set
in use follows `kernels.select` / TINYGRAD_HLCV_KERNELS, like every other kernel.
"""

import math
from types import SimpleNamespace
from typing import Any

import numba
import numpy as np
import numpy.typing as npt
from numba.core import types
from numba.extending import intrinsic

from . import kernels

SQRT_HALF = math.sqrt(0.5)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

Array = npt.NDArray[Any]

# ---- exp(y) in float64 without libm: y = n·ln 2 + r, |r| ≤ ln2/2; eʸ = 2ⁿ·eʳ ----------------

LOG2E = 1.4426950408889634
LN2_HI = 6.93147180369123816490e-01  # ln 2 in 32 bits (n·LN2_HI is exact), fdlibm's split
LN2_LO = 1.90821492927058770002e-10
SHIFTER = 6755399441055744.0  # 1.5·2^52: y·log2e + SHIFTER rounds to an integer, in its low bits
SHIFTER_BITS = 0x4338000000000000  # the bits of SHIFTER
EXP_FLOOR = -708.0  # below it 2ⁿ is subnormal; e^-708 ≈ 3e-308 is 0 for every float32 result
EXP_TAYLOR = np.array([1.0 / math.factorial(k) for k in range(12, -1, -1)])  # 1/12!, ..., 1/0!
# Two independent Horner chains, eʳ ≈ HI(r)·r⁷ + LO(r), overlap in the CPU (R in _cdf is split
# the same way): 1.3x faster forward, 1.5x backward, than one chain each.
EXP_HI, EXP_LO = EXP_TAYLOR[:6].copy(), EXP_TAYLOR[6:].copy()


def _bitcast(source: Any, result: Any) -> Any:
    """A Numba intrinsic: the `result` whose bits are those of its `source` argument."""

    def typer(typingctx: Any, value: Any) -> Any:
        if value != source:
            return None

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            return builder.bitcast(args[0], context.get_value_type(result))

        return result(source), codegen

    return intrinsic(typer)


_bits_of = _bitcast(types.float64, types.int64)  # NumPy: a.view(np.int64)
_float_of = _bitcast(types.int64, types.float64)  # NumPy: a.view(np.float64)


@numba.njit(cache=True, inline="always")  # into the loops, so LLVM can vectorise them
def _exp(y: float) -> float:
    """eʸ for y ≤ 0 within 5e-16 relatively; 0 below -708 (so x·φ(x) is NaN at
    x = ±inf, as in PyTorch); NaN stays NaN."""
    z = EXP_FLOOR if y < EXP_FLOOR else y  # keeps 2ⁿ a normal number
    shifted = z * LOG2E + SHIFTER
    n = shifted - SHIFTER  # round(z·log2e), as a float
    r = (z - n * LN2_HI) - n * LN2_LO
    hi, lo = EXP_HI[0], EXP_LO[0]
    for k in range(1, EXP_HI.size):
        hi = hi * r + EXP_HI[k]
    for k in range(1, EXP_LO.size):
        lo = lo * r + EXP_LO[k]
    r2 = r * r
    p = hi * (r2 * r2 * r2 * r) + lo
    e = p * _float_of((_bits_of(shifted) - SHIFTER_BITS + 1023) << 52)
    return 0.0 if y < EXP_FLOOR else e


def _exp_numpy(y: Array) -> Array:
    """The twin of `_exp` on float64 arrays."""
    z = np.where(y < EXP_FLOOR, EXP_FLOOR, y)
    shifted = z * LOG2E + SHIFTER
    n = shifted - SHIFTER
    r = (z - n * LN2_HI) - n * LN2_LO
    hi, lo = np.full_like(r, EXP_HI[0]), np.full_like(r, EXP_LO[0])
    for k in range(1, EXP_HI.size):
        hi = hi * r + EXP_HI[k]
    for k in range(1, EXP_LO.size):
        lo = lo * r + EXP_LO[k]
    r2 = r * r
    p = hi * (r2 * r2 * r2 * r) + lo
    e = p * ((shifted.view(np.int64) - SHIFTER_BITS + 1023) << 52).view(np.float64)
    return np.where(y < EXP_FLOOR, 0.0, e)


# ---- Φ(x) in float64 from erfc(a) = t·e^(-a²)·P(y): a = |x|/√2, t = 2/(2 + a), y = 2t - 1 ----

# P(y) = erfcx(a)/t, erfcx(a) = e^(a²)·erfc(a), is smooth on y ∈ [-1, 1] (a from ∞ to 0), and
# P(1) = 1: P(y) = 1 + (1 - y)·R(y), so Φ(x) is exactly 1/2 for |x| < 1e-16 (x·Φ(x) then
# rounds x/2 as float64 arithmetic would). These are the monomial coefficients (constant
# first) of R's degree-19 Chebyshev least-squares fit, weighted by (1 - y)/P(y), at 400
# Chebyshev nodes to mpmath values (tests/test_activation_kernels.py refits them): P is
# within 3e-14 relatively.
ERFCX_COEFFS = (
    -0.4892086473789844, -0.14562830517182657, -0.005892258894694271, 0.012328856838604914,
    0.001573525920846683, -0.00166606614667088, -0.00012076042504524067, 0.00029788267972711484,
    -3.365233896599988e-05, -5.080939476669808e-05, 2.1420524203535026e-05, 4.2450193593561685e-06,
    -6.592470856542904e-06, 1.6948104130783758e-06, 1.1162021684499323e-06, -1.0359383337372845e-06,
    -9.84492603878643e-09, 2.98330108555801e-07, -2.6901590546827818e-08, -4.2521396945229094e-08,
)  # fmt: skip
HORNER = np.array(ERFCX_COEFFS[::-1])  # arrays: LLVM unrolls loops over them, not over tuples
R_HI, R_LO = HORNER[:10].copy(), HORNER[10:].copy()  # R(y) = HI(y)·y¹⁰ + LO(y), as in _exp


@numba.njit(cache=True, error_model="numpy", inline="always")  # a/0 = inf; into the loops
def _cdf(x: float, gauss: float) -> float:
    """Φ(x) for a float64 x, given gauss = e^(-x²/2) = e^(-a²): Φ(-|x|) = erfc(a)/2."""
    t = 2.0 / (2.0 + abs(x) * SQRT_HALF)
    y = 2.0 * t - 1.0
    hi, lo = R_HI[0], R_LO[0]
    for k in range(1, R_HI.size):
        hi = hi * y + R_HI[k]
    for k in range(1, R_LO.size):
        lo = lo * y + R_LO[k]
    y2 = y * y
    y4 = y2 * y2
    r = hi * (y4 * y4 * y2) + lo
    tail = 0.5 * t * gauss * (1.0 + (1.0 - y) * r)
    return tail if x < 0 else 1.0 - tail


def _cdf_numpy(x: Array, gauss: Array) -> Array:
    """The twin of `_cdf` on float64 arrays."""
    t = 2.0 / (2.0 + np.abs(x) * SQRT_HALF)
    y = 2.0 * t - 1.0
    hi, lo = np.full_like(y, R_HI[0]), np.full_like(y, R_LO[0])
    for k in range(1, R_HI.size):
        hi = hi * y + R_HI[k]
    for k in range(1, R_LO.size):
        lo = lo * y + R_LO[k]
    y2 = y * y
    y4 = y2 * y2
    r = hi * (y4 * y4 * y2) + lo
    tail = 0.5 * t * gauss * (1.0 + (1.0 - y) * r)
    return np.where(x < 0, tail, 1.0 - tail)


# ---- GELU: z = a Φ(a), Φ(a) = (1 + erf(a/√2))/2;  dz/da = Φ(a) + a φ(a), φ(a) = e^(-a²/2)/√(2π)


# The float32 loops fuse multiply-adds (fastmath "contract", 1.5x faster); the float64 ones
# are their own functions without, so float64 results stay the math.erf formula's, bit for bit.


@numba.njit(cache=True, error_model="numpy", fastmath={"contract"})
def gelu_forward(x: Array, out: Array) -> None:
    """float32: x·Φ(x) in float64 with the vectorised Φ; float64: math.erf."""
    if out.size != x.size:
        raise ValueError("gelu_forward: x and out differ in size")
    if x.itemsize != 4:
        return _gelu_forward_double(x, out)
    for i in range(x.size):
        xi = np.float64(x[i])
        out[i] = xi * _cdf(xi, _exp(-0.5 * xi * xi))  # xi·xi is exact: 24-bit significands


@numba.njit(cache=True)
def _gelu_forward_double(x: Array, out: Array) -> None:
    for i in range(x.size):
        out[i] = 0.5 * x[i] * (1.0 + math.erf(x[i] * SQRT_HALF))


def gelu_forward_numpy(x: Array, out: Array) -> None:
    """The NumPy twin of `gelu_forward`: same arguments, same results."""
    if out.size != x.size:
        raise ValueError("gelu_forward: x and out differ in size")
    x64 = x.astype(np.float64)
    if x.itemsize == 4:
        out[...] = x64 * _cdf_numpy(x64, _exp_numpy(-0.5 * x64 * x64))
    else:
        out[...] = 0.5 * x64 * (1.0 + _erf(x64 * SQRT_HALF))


@numba.njit(cache=True, error_model="numpy", fastmath={"contract"})
def gelu_backward(g: Array, x: Array, out: Array) -> None:
    """float32: g·(Φ(x) + x·φ(x)) in float64 with the vectorised Φ and exp; float64:
    math.erf and math.exp."""
    if g.size != out.size or x.size != out.size:
        raise ValueError("gelu_backward: g, x and out differ in size")
    if x.itemsize != 4:
        return _gelu_backward_double(g, x, out)
    for i in range(x.size):
        xi = np.float64(x[i])
        gauss = _exp(-0.5 * xi * xi)
        out[i] = g[i] * (_cdf(xi, gauss) + xi * (INV_SQRT_2PI * gauss))


@numba.njit(cache=True)
def _gelu_backward_double(g: Array, x: Array, out: Array) -> None:
    for i in range(x.size):
        cdf = 0.5 * (1.0 + math.erf(x[i] * SQRT_HALF))
        pdf = INV_SQRT_2PI * math.exp(-0.5 * x[i] * x[i])
        out[i] = g[i] * (cdf + x[i] * pdf)


def gelu_backward_numpy(g: Array, x: Array, out: Array) -> None:
    """The NumPy twin of `gelu_backward`: same arguments, same results."""
    if g.size != out.size or x.size != out.size:
        raise ValueError("gelu_backward: g, x and out differ in size")
    x64 = x.astype(np.float64)
    if x.itemsize == 4:
        gauss = _exp_numpy(-0.5 * x64 * x64)
        out[...] = g * (_cdf_numpy(x64, gauss) + x64 * (INV_SQRT_2PI * gauss))
    else:
        cdf = 0.5 * (1.0 + _erf(x64 * SQRT_HALF))
        out[...] = g * (cdf + x64 * (INV_SQRT_2PI * np.exp(-0.5 * x64 * x64)))


_erf = np.vectorize(math.erf, otypes=[np.float64])

# ---- The two sets; `active()` is the one kernels.active says ----

KERNEL_NAMES = ("gelu_forward", "gelu_backward")
numba_kernels = SimpleNamespace(**{name: globals()[name] for name in KERNEL_NAMES})
numpy_kernels = SimpleNamespace(**{name: globals()[name + "_numpy"] for name in KERNEL_NAMES})


def active() -> SimpleNamespace:
    """The twins when `kernels.select("numpy")` (or TINYGRAD_HLCV_KERNELS=numpy) chose
    them, else the Numba kernels."""
    return numpy_kernels if kernels.active is kernels.numpy_kernels else numba_kernels
