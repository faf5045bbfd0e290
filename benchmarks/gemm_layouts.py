"""The GEMM layouts a Linear layer could use, timed with NumPy's BLAS at the step's sizes.

Forward Z = X W with W stored (in, out) (`x @ W`, what Linear does) or (out, in)
(`x @ W.T`, PyTorch's layout); weight gradient into an (in, out) array
(`x.T @ δ`, what Linear does) or an (out, in) one (`δ.T @ x`); each with `out=`
(a reused buffer) and allocating. Alternating blocks, medians, 200 × 3072 inputs.

--split adds the two `out=` products that Linear uses, cut in two halves (rows
of Z, rows of dW) computed at once by this thread and a helper thread: run it
with --threads 1 (single-threaded BLAS calls, the cores split by hand) and
compare with OpenBLAS's own threads in a run with --threads 2.

    python benchmarks/gemm_layouts.py [--threads N] [--hidden 100 600] [--dtype float32]
    python benchmarks/gemm_layouts.py --threads 1 --split
"""

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor

from _common import fmt_table, pin_threads, quantiles


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--hidden", type=int, nargs="+", default=[100, 600])
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--calls", type=int, default=10)
    p.add_argument(
        "--split",
        action="store_true",
        help="also each Linear GEMM as two halves on two Python threads",
    )
    args = p.parse_args(argv)
    pin_threads(args.threads)
    import numpy as np

    helper = ThreadPoolExecutor(1)

    def halves(first, second):
        """Run second on the helper thread while this thread runs first."""
        pending = helper.submit(second)
        first()
        pending.result()

    rows = []
    for h in args.hidden:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((200, 3072)).astype(args.dtype)
        w = rng.standard_normal((3072, h)).astype(args.dtype)
        w_t = np.ascontiguousarray(w.T)
        g = rng.standard_normal((200, h)).astype(args.dtype)
        z, dw, dw_t = np.empty((200, h), args.dtype), np.empty_like(w), np.empty_like(w_t)
        cases = {
            "x @ W, W (in,out), out=": lambda: np.matmul(x, w, out=z),
            "x @ W.T, W (out,in), out=": lambda: np.matmul(x, w_t.T, out=z),
            "x @ W, allocating": lambda: x @ w,
            "x.T @ δ into (in,out), out=": lambda: np.matmul(x.T, g, out=dw),
            "δ.T @ x into (out,in), out=": lambda: np.matmul(g.T, x, out=dw_t),
            "x.T @ δ, allocating": lambda: x.T @ g,
        }
        if args.split:
            rows_half, in_half = len(x) // 2, x.shape[1] // 2
            cases["x @ W, out=, two row halves on two threads"] = lambda: halves(
                lambda: np.matmul(x[:rows_half], w, out=z[:rows_half]),
                lambda: np.matmul(x[rows_half:], w, out=z[rows_half:]),
            )
            cases["x.T @ δ, out=, two row halves on two threads"] = lambda: halves(
                lambda: np.matmul(x[:, :in_half].T, g, out=dw[:in_half]),
                lambda: np.matmul(x[:, in_half:].T, g, out=dw[in_half:]),
            )
        times = {k: [] for k in cases}
        for r in range(args.repeats):
            for k, f in list(cases.items()) if r % 2 == 0 else list(cases.items())[::-1]:
                t = time.perf_counter()
                for _ in range(args.calls):
                    f()
                times[k].append((time.perf_counter() - t) / args.calls)
        for k, ts in times.items():
            med = quantiles(ts)[0]
            rows.append(
                [f"3072×{h}", k, f"{med * 1e3:.3f}", f"{2 * 200 * 3072 * h / med / 1e9:.1f}"]
            )
    helper.shutdown()
    print(f"# {args.threads} threads, {args.dtype}")
    print(fmt_table(["weight", "GEMM", "ms", "GFLOP/s"], rows))


if __name__ == "__main__":
    main()
