"""Time one full training step of tinygrad_hlcv against its peers, side by side.

One step = forward, softmax cross-entropy + L2 penalty (λ = 0.25 on every
weight, no bias), backward, plain SGD update; batch 200 of 3072 inputs.
Contenders:
  tinygrad_hlcv   Tensor / nn / optim.SGD, as a user writes it (README)
  numpy-ref       tinygrad_hlcv.reference.mlp_loss_and_grads + `p -= lr * g`
  torch           PyTorch eager on the CPU (only if `import torch` works)

`--nets bn-mlp` (not in the default set) is the net of issue 12: 3072-1024-1024-10 with
bias-free Linear -> BatchNorm1d -> ReLU twice, then Linear with bias; CrossEntropyLoss;
SGD with Nesterov momentum 0.9, lr 0.05, weight decay 5e-4 on the 2-D weights only (two
parameter groups); batch 256. Contenders tinygrad_hlcv and torch (numpy-ref has no BatchNorm).

Method: one process; every contender starts from the same weights; after a
warm-up, the contenders take turns in blocks of steps (order rotated every
round) with a pause between blocks, so the spinning BLAS/OpenMP worker threads
of one library have gone quiet before the next one runs. Every step is timed
on its own; the table shows the median. All thread pools are pinned to the
same count (--threads) by environment variables set before any import, plus
threadpoolctl when it is installed, plus torch.set_num_threads.

The GEMM peak is the median speed of `np.matmul(A, B, out=C)` with A 200×3072,
B 3072×600 in the row's dtype, timed as one more contender in the same
rotation, so "% peak" sees the same machine load as the steps it is compared to.

    python benchmarks/step_time.py [--quick] [--repeats N] [--nets ...] [--json PATH]
    python benchmarks/step_time.py --nets bn-mlp --dtypes float32 --profile 20
"""

import argparse
import os
import resource
import sys
import time

from _common import (  # sets sys.path
    BATCH,
    BN_LR,
    BN_MOMENTUM,
    BN_NETS,
    BN_WEIGHT_DECAY,
    LAM,
    LR,
    NETS,
    REPO,
    SLOPE,
    batch_size,
    fmt_table,
    machine_info,
    make_tinygrad,
    pin_threads,
    quantiles,
    write_json_atomic,
)

ALL_NETS = {**NETS, **BN_NETS}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="blocks per contender and configuration (default 30; 6 with --quick)",
    )
    p.add_argument(
        "--block-steps", type=int, default=None, help="steps per block (default 10; 5 with --quick)"
    )
    p.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="warm-up steps per contender (default 20; 5 with --quick)",
    )
    p.add_argument("--pause", type=float, default=0.2, help="seconds of sleep between blocks")
    p.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count(),
        help="threads for every pool (BLAS, OpenMP, Numba, torch); default: all cores",
    )
    p.add_argument("--quick", action="store_true", help="few repeats: a smoke run")
    p.add_argument(
        "--nets",
        nargs="+",
        choices=list(ALL_NETS),
        default=list(NETS),
        help="default: the three issue nets; bn-mlp only when asked for",
    )
    p.add_argument(
        "--dtypes", nargs="+", choices=["float32", "float64"], default=["float32", "float64"]
    )
    p.add_argument("--no-torch", action="store_true", help="leave PyTorch out even if installed")
    p.add_argument(
        "--gemm-floor",
        action="store_true",
        help="also time only the GEMMs of each step (a NumPy/BLAS floor)",
    )
    p.add_argument(
        "--baseline",
        metavar="GIT_REV",
        action="append",
        default=[],
        help="also time the package as it was at this git revision (repeatable)",
    )
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON (atomically)")
    p.add_argument(
        "--profile",
        type=int,
        metavar="STEPS",
        default=0,
        help="instead of timing, run STEPS tinygrad_hlcv steps of each net under cProfile and "
        "print the functions that took the most time",
    )
    args = p.parse_args(argv)
    quick = args.quick
    args.repeats = args.repeats or (6 if quick else 30)
    args.block_steps = args.block_steps or (5 if quick else 10)
    args.warmup = args.warmup if args.warmup is not None else (5 if quick else 20)
    return args


def gemm_flops(sizes, batch=BATCH):
    """FLOPs of the GEMMs of one step: forward X W and backward Aᵀδ per layer, plus
    δWᵀ for every layer but the first (the input batch needs no gradient)."""
    total = 0
    for layer, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        total += 2 * batch * n_in * n_out * (2 if layer == 0 else 3)
    return total


def initial_weights(sizes, dtype, seed=0):
    """Shared starting point: PyTorch-style uniform ±1/√in weights and biases, (in, out)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    weights, biases = [], []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        bound = 1 / np.sqrt(n_in)
        weights.append(rng.uniform(-bound, bound, (n_in, n_out)).astype(dtype))
        biases.append(rng.uniform(-bound, bound, n_out).astype(dtype))
    return weights, biases


# ---- the contenders: each returns a step() closure that returns the loss ----


def load_baseline(rev):
    """The package as it was at git revision `rev`, importable under another name
    (its imports are relative), for a before/after contender in the same process."""
    import importlib
    import subprocess
    import tempfile

    name = "tinygrad_hlcv_" + "".join(c if c.isalnum() else "_" for c in rev)
    root = tempfile.mkdtemp(prefix="tinygrad_baseline_")
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "tinygrad_hlcv"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", root], input=archive, check=True)
    os.rename(os.path.join(root, "tinygrad_hlcv"), os.path.join(root, name))
    sys.path.insert(0, root)
    package = importlib.import_module(name)

    def make(*args):
        return make_tinygrad(*args, package=package)

    return f"tinygrad_hlcv@{rev}", make


def make_numpy_reference(sizes, activation, dtype, X, y, weights, biases):
    from tinygrad_hlcv import reference

    params = [a.copy() for a in weights], [a.copy() for a in biases]

    def step():
        Ws, bs = params
        loss, grads = reference.mlp_loss_and_grads(
            X, y, Ws, bs, activation=activation, negative_slope=SLOPE, reg=LAM
        )
        for i, (W, b) in enumerate(zip(Ws, bs), start=1):
            W -= LR * grads[f"W{i}"]
            b -= LR * grads[f"b{i}"]
        return loss

    return step


def make_torch(sizes, activation, dtype, X, y, weights, biases):
    import numpy as np
    import torch

    if activation == "batchnorm-relu":
        return make_torch_bn(sizes, dtype, X, y, weights, biases)
    tdtype = getattr(torch, np.dtype(dtype).name)
    layers, linears = [], []
    for i, (W, b) in enumerate(zip(weights, biases)):
        linear = torch.nn.Linear(*W.shape, dtype=tdtype)
        with torch.no_grad():  # torch stores (out, in)
            linear.weight.copy_(torch.from_numpy(W.T.copy()))
            linear.bias.copy_(torch.from_numpy(b))
        layers.append(linear)
        linears.append(linear)
        if i < len(weights) - 1:
            layers.append(torch.nn.ReLU() if activation == "relu" else torch.nn.LeakyReLU(SLOPE))
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    x, labels = torch.from_numpy(X), torch.from_numpy(y)

    def step():
        loss = torch.nn.functional.cross_entropy(model(x), labels) + LAM * sum(
            lin.weight.pow(2).sum() for lin in linears
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    return step


def make_torch_bn(sizes, dtype, X, y, weights, biases):
    """The BN_NETS step in PyTorch eager, from the same weights (copied transposed: torch's
    Linear holds (out, in)); the same two parameter groups."""
    import numpy as np
    import torch

    tdtype = getattr(torch, np.dtype(dtype).name)
    layers = []
    for i, (W, b) in enumerate(zip(weights, biases)):
        last = i == len(weights) - 1
        linear = torch.nn.Linear(*W.shape, bias=last, dtype=tdtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W.T.copy()))
            if last:
                linear.bias.copy_(torch.from_numpy(b))
        layers.append(linear)
        if not last:
            layers += [torch.nn.BatchNorm1d(W.shape[1], dtype=tdtype), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers).train()
    params = list(model.parameters())
    groups = [
        {"params": [p for p in params if p.ndim == 2], "weight_decay": BN_WEIGHT_DECAY},
        {"params": [p for p in params if p.ndim != 2], "weight_decay": 0.0},
    ]
    opt = torch.optim.SGD(groups, lr=BN_LR, momentum=BN_MOMENTUM, nesterov=True)
    loss_fn = torch.nn.CrossEntropyLoss()
    x, labels = torch.from_numpy(X), torch.from_numpy(y)

    def step():
        loss = loss_fn(model(x), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    return step


def make_gemm_floor(sizes, activation, dtype, X, y, weights, biases):
    """Only the GEMMs of a step (X W forward, Aᵀδ, and δWᵀ below the first layer), into
    preallocated arrays: the floor that any NumPy-BLAS framework pays, for the profile."""
    import numpy as np

    n = X.shape[0]
    acts = [X] + [np.ones((n, w.shape[1]), dtype) for w in weights[:-1]]
    outs = [np.empty((n, w.shape[1]), dtype) for w in weights]
    deltas = [np.full((n, w.shape[1]), 1e-3, dtype) for w in weights]
    dws = [np.empty_like(w) for w in weights]
    dxs = [np.empty((n, w.shape[0]), dtype) for w in weights]

    def step():
        for a, w, out in zip(acts, weights, outs):
            np.matmul(a, w, out=out)
        for layer in range(len(weights) - 1, -1, -1):
            np.matmul(acts[layer].T, deltas[layer], out=dws[layer])
            if layer:
                np.matmul(deltas[layer], weights[layer].T, out=dxs[layer])
        return None

    return step


def make_gemm_probe(dtype):
    """The peak probe, timed like a contender: one np.matmul(A, B, out=C) with
    A 200×3072, B 3072×600 per "step"."""
    import numpy as np

    rng = np.random.default_rng(1)
    A = rng.standard_normal((BATCH, 3072)).astype(dtype)
    B = rng.standard_normal((3072, 600)).astype(dtype)
    C = np.empty((BATCH, 600), dtype=dtype)

    def step():
        np.matmul(A, B, out=C)
        return None

    return step


GEMM_PROBE_FLOPS = 2 * BATCH * 3072 * 600


def run_config(net, dtype, contenders, args):
    """Interleaved blocks of every contender on one net and dtype; per-contender stats."""
    import numpy as np

    sizes, activation = ALL_NETS[net]
    if net in BN_NETS:  # the closed-form reference has no BatchNorm
        contenders = [(name, make) for name, make in contenders if name != "numpy-ref"]
    batch = batch_size(activation)
    rng = np.random.default_rng(123)
    X = rng.standard_normal((batch, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], batch).astype(np.int64)
    weights, biases = initial_weights(sizes, dtype)
    steps = {
        name: make(sizes, activation, dtype, X, y, weights, biases) for name, make in contenders
    }
    first_losses = {name: step() for name, step in steps.items()}  # same start, same loss
    steps["gemm-peak"] = make_gemm_probe(dtype)  # timed in the same rotation
    if args.gemm_floor:
        steps["GEMMs only"] = make_gemm_floor(sizes, activation, dtype, X, y, weights, biases)
    for _name, step in steps.items():
        for _ in range(args.warmup):
            step()
        time.sleep(args.pause)

    blocks = {name: [] for name in steps}  # per round, the step times of that block
    faults = {name: 0 for name in steps}
    names = list(steps)
    for block in range(args.repeats):
        shift = block % len(names)
        for name in names[shift:] + names[:shift]:
            step, record = steps[name], []
            faults_before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            for _ in range(args.block_steps):
                t = time.perf_counter()
                step()
                record.append(time.perf_counter() - t)
            faults[name] += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_before
            blocks[name].append(record)
            time.sleep(args.pause)
    stats = {}
    for name in names:
        times = [t for record in blocks[name] for t in record]
        med, q25, q75 = quantiles(times)
        stats[name] = {
            "ms": med * 1e3,
            "q25_ms": q25 * 1e3,
            "q75_ms": q75 * 1e3,
            "p10_ms": float(np.percentile(times, 10)) * 1e3,
            "block_median_ms": [1e3 * float(np.median(r)) for r in blocks[name]],
            "steps_timed": len(times),
            "page_faults_per_step": faults[name] / len(times),
            "first_loss": first_losses.get(name),
        }
    return stats


def _cumulative_ms(stats, file_name, function):
    """Milliseconds spent in `function` of `file_name` and what it called (cProfile's cumtime)."""
    return 1e3 * sum(
        row[3]
        for (path, _line, name), row in stats.stats.items()
        if (os.path.basename(path), name) == (file_name, function)
    )


def profile_steps(net, dtype, steps, top=15):
    """cProfile of `steps` tinygrad_hlcv steps (after 3 warm-up steps), sorted by own time:
    where a step's time goes (the GEMMs are inside fused.py's Linear forward/backward)."""
    import cProfile
    import pstats

    import numpy as np

    sizes, activation = ALL_NETS[net]
    batch = batch_size(activation)
    rng = np.random.default_rng(123)
    X = rng.standard_normal((batch, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], batch).astype(np.int64)
    step = make_tinygrad(sizes, activation, dtype, X, y, *initial_weights(sizes, dtype))
    for _ in range(3):
        step()
    profiler = cProfile.Profile()
    t = time.perf_counter()
    profiler.runcall(lambda: [step() for _ in range(steps)])
    wall = time.perf_counter() - t
    stats = pstats.Stats(profiler)
    print(f"\n## {net} {dtype}: {steps} steps, {1e3 * wall / steps:.1f} ms/step under cProfile")
    ms = {
        "backward": _cumulative_ms(stats, "engine.py", "run_backward") / steps,
        "optimizer": _cumulative_ms(stats, "optimizer.py", "step") / steps,
    }
    ms = {"forward, loss, zero_grad": 1e3 * wall / steps - sum(ms.values()), **ms}
    print("per step: " + ", ".join(f"{phase} {t:.1f} ms" for phase, t in ms.items()))
    stats.sort_stats("tottime").print_stats(top)


def paired_ratio(a, b):
    """Median over rounds of (a's block median / b's block median in the same round), with
    its 25th-75th percentiles: blocks of one round ran seconds apart, so a change in the
    machine's load between rounds cancels out of the ratio."""
    import numpy as np

    ratios = np.asarray(a["block_median_ms"]) / np.asarray(b["block_median_ms"])
    return quantiles(ratios)


def _ratio_cell(ratio):
    return "—" if ratio is None else f"{ratio[0]:.2f} ({ratio[1]:.2f}–{ratio[2]:.2f})"


def main(argv=None):
    args = parse_args(argv)
    how, _limiter = pin_threads(args.threads)
    import numpy as np  # noqa: F401  (after pin_threads)

    contenders = [("tinygrad_hlcv", make_tinygrad), ("numpy-ref", make_numpy_reference)]
    torch_version = None
    if not args.no_torch:
        try:
            import torch

            torch.set_num_threads(args.threads)
            torch_version = torch.__version__
            contenders.append(("torch", make_torch))
        except ImportError:
            print("PyTorch is not installed: its column is left out.", file=sys.stderr)
    for rev in args.baseline:
        contenders.insert(1, load_baseline(rev))
    import tinygrad_hlcv

    info = machine_info(args.threads, how + (", torch.set_num_threads" if torch_version else ""))
    info.update(
        torch=torch_version,
        tinygrad_kernels=(
            "numba"
            if tinygrad_hlcv.kernels.active is tinygrad_hlcv.kernels.numba_kernels
            else "numpy"
        ),
    )
    print(
        f"# {info['cpu']}, {info['logical_cpus']} CPUs, {args.threads} threads "
        f"({info['thread_pinning']}); numba threading layer {info['numba_threading_layer']}; "
        f"load average {info['load_average_at_start'][0]:.2f}",
        flush=True,
    )

    if args.profile:
        for dtype in args.dtypes:
            for net in args.nets:
                profile_steps(net, dtype, args.profile)
        return
    results, rows, peaks = [], [], []
    for dtype in args.dtypes:
        for net in args.nets:
            stats = run_config(net, dtype, contenders, args)
            peak = stats.pop("gemm-peak")
            peak["gflops"] = GEMM_PROBE_FLOPS / (peak["ms"] * 1e-3) / 1e9
            peaks.append({"net": net, "dtype": dtype, "ms": peak["ms"], "gflops": peak["gflops"]})
            print(
                f"# GEMM peak during {net} {dtype}: 200x3072 @ 3072x600 in {peak['ms']:.3f} ms"
                f" = {peak['gflops']:.1f} GFLOP/s",
                flush=True,
            )
            sizes, activation = ALL_NETS[net]
            flops = gemm_flops(sizes, batch_size(activation))
            for name, s in stats.items():
                s["gflops"] = flops / (s["ms"] * 1e-3) / 1e9
                s["fraction_of_gemm_peak"] = s["gflops"] / peak["gflops"]
                s["ratio_to_numpy_ref"] = (
                    paired_ratio(s, stats["numpy-ref"]) if "numpy-ref" in stats else None
                )
                s["ratio_to_torch"] = paired_ratio(s, stats["torch"]) if "torch" in stats else None
                results.append(
                    {
                        "net": net,
                        "dtype": dtype,
                        "contender": name,
                        "gemm_flops_per_step": flops,
                        **s,
                    }
                )
                rows.append(
                    [
                        net,
                        dtype,
                        name,
                        f"{s['ms']:.2f}",
                        f"{s['q25_ms']:.2f}–{s['q75_ms']:.2f}",
                        f"{s['p10_ms']:.2f}",
                        _ratio_cell(s["ratio_to_torch"]),
                        _ratio_cell(s["ratio_to_numpy_ref"]),
                        f"{s['gflops']:.1f}",
                        f"{100 * s['fraction_of_gemm_peak']:.0f}%",
                        f"{s['page_faults_per_step']:.1f}",
                    ]
                )
            losses = {n: s["first_loss"] for n, s in stats.items() if s["first_loss"] is not None}
            spread = max(losses.values()) - min(losses.values())
            tol = 1e-4 if dtype == "float32" else 1e-9
            if spread > tol * max(1.0, *map(abs, losses.values())):
                print(
                    f"WARNING: {net} {dtype}: first-step losses differ: {losses}", file=sys.stderr
                )

    print()
    print(
        fmt_table(
            [
                "net",
                "dtype",
                "contender",
                "ms/step",
                "IQR ms",
                "p10 ms",
                "× torch (IQR)",
                "× numpy-ref (IQR)",
                "GFLOP/s",
                "% GEMM peak",
                "faults/step",
            ],
            rows,
        )
    )
    print(
        "\nms/step: median of every timed step; × columns: median over rounds of the "
        "paired ratio of block medians (IQR over rounds); % GEMM peak: GEMM FLOPs per "
        "step over the GEMM probe's speed in the same rotation."
    )
    if args.json:
        write_json_atomic(
            args.json,
            {
                "machine": info,
                "settings": {
                    "batch": BATCH,
                    "bn_mlp": {
                        "batch": batch_size("batchnorm-relu"),
                        "lr": BN_LR,
                        "momentum": BN_MOMENTUM,
                        "nesterov": True,
                        "weight_decay_2d": BN_WEIGHT_DECAY,
                    },
                    "lambda": LAM,
                    "lr": LR,
                    "repeats": args.repeats,
                    "block_steps": args.block_steps,
                    "warmup": args.warmup,
                    "pause_s": args.pause,
                },
                "gemm_peak": peaks,
                "results": results,
            },
        )
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
