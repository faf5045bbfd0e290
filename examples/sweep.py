"""Run a grid of cifar_mlp.py configurations in parallel and tabulate the results.

    python examples/sweep.py --grid-file examples/grids/hidden_size.json
    python examples/sweep.py --grid "hidden=50,100,200" --grid "reg=0.1,0.25" --set iters=2000

A grid maps flags of cifar_mlp.py to lists of values (in a JSON file: {"fixed": {...},
"grid": {...}}; on the command line: comma-separated values, spaces inside a value
for list flags, e.g. "hidden=100,100 100"). Each configuration runs as its own
cifar_mlp.py process (one per core by default, each with one BLAS and Numba
thread, so workers do not fight over cores) in OUT/runs/<id>/; a configuration
whose metrics.json exists is skipped, and one that fails is recorded as failed
while the others go on. Writes OUT/results.md, OUT/results.csv and a plot of
validation accuracy against each swept parameter.
"""

import argparse
import csv
import hashlib
import io
import itertools
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from tinygrad_hlcv.training.checkpoint import atomic_write_text
from tinygrad_hlcv.training.plots import plot_sweep

HERE = os.path.dirname(os.path.abspath(__file__))
RESULT_COLUMNS = ["val_acc", "test_acc", "test_acc_first_1000", "train_seconds"]


def parse_grid_items(items):
    """["hidden=50,100 100", "reg=0.1,0.2"] → {"hidden": ["50", "100 100"], "reg": [...]}."""
    grid = {}
    for item in items:
        name, sep, values = item.partition("=")
        if not sep or not values:
            raise SystemExit(f"error: grid item {item!r} is not of the form name=v1,v2,...")
        grid[name.strip().replace("-", "_")] = [v.strip() for v in values.split(",")]
    return grid


def flag_args(name, value):
    """cifar_mlp.py arguments for one setting: lists become several values, booleans
    become a bare flag (or nothing)."""
    flag = "--" + name.replace("_", "-")
    if isinstance(value, bool) or str(value).lower() in ("true", "false"):
        return [flag] if str(value).lower() == "true" else []
    if isinstance(value, (list, tuple)):
        return [flag, *map(str, value)]
    return [flag, *str(value).split()]


def configurations(fixed, grid):
    """One dict of settings per point of the grid, with the fixed settings."""
    names = list(grid)
    for combination in itertools.product(*(grid[n] for n in names)):
        yield {**fixed, **dict(zip(names, combination))}


def run_id(settings):
    return hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]


def run_one(settings, run_dir, data_dir):
    """Run one configuration in a fresh process; returns (status, metrics or error)."""
    metrics_path = os.path.join(run_dir, "metrics.json")
    if os.path.exists(metrics_path):
        with open(metrics_path) as f:
            metrics = json.load(f)
        if not metrics.get("interrupted"):
            return "skipped (done before)", metrics
    argv = [sys.executable, os.path.join(HERE, "cifar_mlp.py"), "--out", run_dir, "--no-progress"]
    for name, value in settings.items():
        argv += flag_args(name, value)
    if data_dir:
        argv += ["--data-dir", data_dir]
    if os.path.exists(os.path.join(run_dir, "checkpoint.pkl")):
        argv.append("--resume")  # an interrupted earlier attempt: continue it
    os.makedirs(run_dir, exist_ok=True)
    atomic_write_text(os.path.join(run_dir, "settings.json"), json.dumps(settings, indent=1))
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        NUMBA_NUM_THREADS="1",
    )
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    if proc.returncode == 0 and os.path.exists(metrics_path):
        with open(metrics_path) as f:
            return "ok", json.load(f)
    error = {"returncode": proc.returncode, "command": argv, "stderr": proc.stderr[-4000:]}
    atomic_write_text(os.path.join(run_dir, "failed.json"), json.dumps(error, indent=1))
    return "failed", error


def _as_list(value):
    return value if isinstance(value, list) else str(value).split()


def fmt(value):
    if isinstance(value, float):
        return f"{value:.4f}" if value < 10 else f"{value:.1f}"
    return str(value)


def write_reports(out, swept, rows):
    """results.csv and results.md (one row per configuration), and a plot per swept
    parameter (against validation accuracy)."""
    header = [*swept, *RESULT_COLUMNS, "status"]
    table = [
        [row["settings"].get(p, "") for p in swept]
        + [row["metrics"].get(c, "") if row["status"] != "failed" else "" for c in RESULT_COLUMNS]
        + [row["status"]]
        for row in rows
    ]
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header, *table])
    atomic_write_text(os.path.join(out, "results.csv"), buffer.getvalue())
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in line) + " |" for line in table]
    atomic_write_text(os.path.join(out, "results.md"), "\n".join(lines) + "\n")
    for parameter in swept:
        done = [r for r in rows if r["status"] != "failed"]
        try:
            xs = [float(r["settings"][parameter]) for r in done]
        except (TypeError, ValueError):  # list-valued (e.g. hidden sizes): plot by depth/position
            xs = [len(_as_list(r["settings"][parameter])) for r in done]
        if len(set(xs)) > 1:
            positive = [x for x in xs if x > 0]
            log_x = bool(positive) and len(positive) == len(xs) and max(xs) / min(xs) >= 20
            plot_sweep(
                xs,
                [r["metrics"]["val_acc"] for r in done],
                os.path.join(out, f"accuracy_vs_{parameter}.png"),
                parameter,
                log_x,
            )
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--grid-file", help="JSON file with 'grid' and optional 'fixed'")
    p.add_argument("--grid", action="append", default=[], help="name=v1,v2,... (repeatable)")
    p.add_argument("--set", action="append", default=[], help="name=value for every run")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--data-dir")
    p.add_argument("--out", help="output directory (default runs/sweep_<grid name>)")
    args = p.parse_args(argv)

    fixed, grid = {}, {}
    if args.grid_file:
        with open(args.grid_file) as f:
            spec = json.load(f)
        fixed, grid = spec.get("fixed", {}), spec["grid"]
    fixed.update({k: v[0] for k, v in parse_grid_items(args.set).items()})
    grid.update(parse_grid_items(args.grid))
    if not grid:
        p.error("give a grid with --grid-file or --grid")
    name = os.path.splitext(os.path.basename(args.grid_file))[0] if args.grid_file else "custom"
    out = args.out or os.path.join("runs", f"sweep_{name}")
    settings = list(configurations(fixed, grid))
    print(f"{len(settings)} configurations, {args.workers} workers, results in {out}")

    def task(s):
        status, result = run_one(s, os.path.join(out, "runs", run_id(s)), args.data_dir)
        shown = {k: s[k] for k in grid}
        print(
            f"{status:>20}: {shown} "
            + (
                f"val {result['val_acc']:.4f}"
                if status != "failed"
                else f"(exit {result['returncode']})"
            ),
            flush=True,
        )
        return {"settings": s, "status": status, "metrics": result}

    with ThreadPoolExecutor(max_workers=max(args.workers, 1)) as pool:
        rows = list(pool.map(task, settings))
    print(write_reports(out, list(grid), rows))
    failed = sum(r["status"] == "failed" for r in rows)
    if failed:
        print(f"{failed} configuration(s) failed; see failed.json in their run directories")
    return 1 if failed == len(rows) else 0


if __name__ == "__main__":
    sys.exit(main())
