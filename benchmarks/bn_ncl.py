"""BatchNorm over (N, C, L) float32, forward + backward: the op of a baseline revision (by
default 4bd0721, the last with layout copies to (N·L, C) and the 2-D kernels) against the
working tree's (the _ncl kernels on (N, C, L) in place) and torch.nn.BatchNorm2d (on
(N, C, 1, L)), interleaved in one process; medians.

    NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bn_ncl.py \
        [--shape 128 64 1024] [--repeats 7] [--baseline REV]
"""

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path.cwd()  # run from the repository root
sys.path.insert(0, str(ROOT))
from tinygrad_hlcv import Tensor, normalization  # noqa: E402


def committed_op(revision):
    """normalization.BatchNorm as `git show REV:` has it, loaded inside the package."""
    source = subprocess.run(
        ["git", "show", f"{revision}:tinygrad_hlcv/normalization.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "_committed_normalization.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("tinygrad_hlcv._committed_normalization", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.BatchNorm


def fwd_bwd(op, x, w, b, g):
    leaves = [Tensor(a, requires_grad=True) for a in (x, w, b)]
    y = op.apply(*leaves, eps=1e-5, training=True)
    return y.data, y._ctx.backward(g)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", type=int, nargs=3, default=[128, 64, 1024])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--baseline", default="4bd0721", help="revision with the old op")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    n, c, length = args.shape
    x = rng.standard_normal(args.shape).astype(np.float32) * 2 + 1
    g = rng.standard_normal(args.shape).astype(np.float32)
    w, b = rng.standard_normal(c).astype(np.float32), rng.standard_normal(c).astype(np.float32)
    old, new = committed_op(args.baseline), normalization.BatchNorm
    (y0, d0), (y1, d1) = fwd_bwd(old, x, w, b, g), fwd_bwd(new, x, w, b, g)
    dy, dx, dw, db = np.abs(y0 - y1).max(), *(np.abs(p - q).max() for p, q in zip(d0, d1))
    print(f"max |difference| committed vs now: y {dy:.2e}, dx {dx:.2e}, dγ {dw:.2e}, dβ {db:.2e}")
    tx = torch.tensor(x.reshape(n, c, 1, length), requires_grad=True)
    tg = torch.tensor(g.reshape(n, c, 1, length))
    bn = torch.nn.BatchNorm2d(c)

    def torch_step():
        bn(tx).backward(tg)

    runs = {
        "committed op (layout copies)": lambda: fwd_bwd(old, x, w, b, g),
        "op with _ncl kernels": lambda: fwd_bwd(new, x, w, b, g),
        "torch BatchNorm2d (N, C, 1, L)": torch_step,
    }
    times = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, run in runs.items():
            t0 = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t0)
    med = {name: float(np.median(t)) for name, t in times.items()}
    for name, t in med.items():
        print(f"{name:32s} {t:.3f} s  (min {min(times[name]):.3f})")
    base = med["op with _ncl kernels"]
    old, torch_time = med["committed op (layout copies)"], med["torch BatchNorm2d (N, C, 1, L)"]
    print(f"committed / now: {old / base:.2f}x   torch / now: {torch_time / base:.2f}x")


if __name__ == "__main__":
    main()
