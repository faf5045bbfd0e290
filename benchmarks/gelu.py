"""GELU's kernels, forward and backward, the old ones (scalar `math.erf` per element, copied
below as the baseline) against activation_kernels' (a vectorised Φ for float32; float64
still calls math.erf, so its ratio should be ≈1), interleaved in one process (old, new,
old, new, ...; each timing at least 4M elements, repeating the call on small arrays), medians
in ns per element, at the fast CNN's first GELU (512×32×31×31) and the MLP's (256×1024).
`--parallel` adds the float32 loops with prange (give it --threads 2), a measured option: it
was slower inside the CNN's training step, so the kernels do not use it.

    nice -n 19 .venv/bin/python benchmarks/gelu.py [--repeats 7] [--parallel] [--threads 1]
"""

import argparse
import math
import statistics
import time

from _common import machine_info, pin_threads

SQRT_HALF = math.sqrt(0.5)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
SHAPES = {"cnn 512x32x31x31": (512, 32, 31, 31), "mlp 256x1024": (256, 1024)}


def old_kernels(numba):
    """The kernels as they were before the vectorised Φ (commit a969f8a)."""

    @numba.njit(cache=True)
    def gelu_forward(x, out):
        for i in range(x.size):
            out[i] = 0.5 * x[i] * (1.0 + math.erf(x[i] * SQRT_HALF))

    @numba.njit(cache=True)
    def gelu_backward(g, x, out):
        for i in range(x.size):
            cdf = 0.5 * (1.0 + math.erf(x[i] * SQRT_HALF))
            pdf = INV_SQRT_2PI * math.exp(-0.5 * x[i] * x[i])
            out[i] = g[i] * (cdf + x[i] * pdf)

    return gelu_forward, gelu_backward


def parallel_kernels(numba, np, ak):
    """activation_kernels' float32 loops with prange instead of range."""

    @numba.njit(cache=True, error_model="numpy", fastmath={"contract"}, parallel=True)
    def gelu_forward(x, out):
        for i in numba.prange(x.size):
            xi = np.float64(x[i])
            out[i] = xi * ak._cdf(xi, ak._exp(-0.5 * xi * xi))

    @numba.njit(cache=True, error_model="numpy", fastmath={"contract"}, parallel=True)
    def gelu_backward(g, x, out):
        for i in numba.prange(x.size):
            xi = np.float64(x[i])
            gauss = ak._exp(-0.5 * xi * xi)
            out[i] = g[i] * (ak._cdf(xi, gauss) + xi * (INV_SQRT_2PI * gauss))

    return gelu_forward, gelu_backward


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP/Numba pool size")
    parser.add_argument("--parallel", action="store_true", help="also time prange loops")
    args = parser.parse_args()
    how, _limiter = pin_threads(args.threads)
    import numba
    import numpy as np

    from tinygrad_hlcv import activation_kernels as ak

    info = machine_info(args.threads, how)
    print(f"# {info['cpu']}, {args.threads} threads; load average {info['load_average_at_start']}")
    old_fwd, old_bwd = old_kernels(numba)
    variants = {"old": {"forward": old_fwd, "backward": old_bwd}}
    variants["new"] = {"forward": ak.gelu_forward, "backward": ak.gelu_backward}
    if args.parallel:
        par_fwd, par_bwd = parallel_kernels(numba, np, ak)
        variants["prange"] = {"forward": par_fwd, "backward": par_bwd}
    print(
        "| shape | dtype | pass | " + " | ".join(f"{v} ns/elt" for v in variants) + " | old/new |"
    )
    print("|---|---|---|" + "---|" * (len(variants) + 1))
    for label, shape in SHAPES.items():
        for dtype in (np.float32, np.float64):
            rng = np.random.default_rng(0)
            x = rng.standard_normal(shape).astype(dtype).reshape(-1)
            g = rng.standard_normal(shape).astype(dtype).reshape(-1)
            out = np.empty_like(x)
            for pass_, args_ in (("forward", (x, out)), ("backward", (g, x, out))):
                names = [v for v in variants if dtype == np.float32 or v != "prange"]
                times = {v: [] for v in names}
                for v in names:  # compile, warm the caches
                    variants[v][pass_](*args_)
                calls = max(1, 4_000_000 // x.size)  # ≥ 4M elements a timing, against noise
                for _ in range(args.repeats):
                    for v in names:
                        start = time.perf_counter()
                        for _ in range(calls):
                            variants[v][pass_](*args_)
                        seconds = (time.perf_counter() - start) / calls
                        times[v].append(seconds / x.size * 1e9)
                med = {v: statistics.median(times[v]) for v in names}
                cells = " | ".join(f"{med[v]:.2f}" if v in med else "-" for v in variants)
                print(
                    f"| {label} | {np.dtype(dtype).name} | {pass_} | {cells} "
                    f"| {med['old'] / med['new']:.1f}x |"
                )


if __name__ == "__main__":
    main()
