"""Run a grid (or a random search) of cifar_mlp.py configurations and tabulate the results.

    python examples/sweep.py --grid-file examples/grids/hidden_size.json
    python examples/sweep.py --grid "hidden=50,100,200" --grid "reg=0.1,0.25" --set iters=2000
    python examples/sweep.py --grid-file examples/grids/hidden_size.json --backend ray
    python examples/sweep.py --search random --samples 20 --grid-file examples/grids/random_lr.json

A grid maps flags of cifar_mlp.py to lists of values (in a JSON file: {"fixed": {...},
"grid": {...}}; on the command line: comma-separated values, spaces inside a value
for list flags, e.g. "hidden=100,100 100"). A random search draws --samples
configurations from the lists, or from ranges given in the file ({"loguniform": [1e-4,
1e-2]}, "uniform", "randint"). Each configuration runs as its own cifar_mlp.py process in
OUT/runs/<id>/: on the local pool (one per core by default, each with one BLAS and Numba
thread) or, with --backend ray, as a Ray Tune trial on the cluster at --address (a local
Ray instance without it) with --cpus-per-trial CPUs and threads. A configuration whose
metrics.json exists is skipped (so rerunning an interrupted sweep resumes it), one that
fails is recorded as failed while the others go on, and one whose worker dies is retried
--max-failures times. Writes OUT/results.md, OUT/results.csv and a plot of validation
accuracy against each swept parameter. docs/sweeps.md has the details.
"""

import argparse
import json
import os
import sys

from tinygrad_hlcv.errors import ConfigError
from tinygrad_hlcv.sweep import (
    CifarScript,
    SweepOptions,
    grid_configurations,
    parse_grid_items,
    random_configurations,
    run_sweep,
)

HERE = os.path.dirname(os.path.abspath(__file__))


def build_parser():
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--grid-file", help="JSON file with 'grid' and optional 'fixed'")
    p.add_argument("--grid", action="append", default=[], help="name=v1,v2,... (repeatable)")
    p.add_argument("--set", action="append", default=[], help="name=value for every run")
    p.add_argument("--search", choices=["grid", "random"], default="grid")
    p.add_argument("--samples", type=int, default=10, help="random search: configurations")
    p.add_argument("--seed", type=int, default=0, help="random search: the draws' seed")
    p.add_argument("--workers", type=int, help="configurations at once (local: one per core)")
    p.add_argument("--data-dir")
    p.add_argument("--out", help="output directory (default runs/sweep_<grid name>)")
    p.add_argument("--backend", choices=["local", "ray"], default="local")
    p.add_argument("--address", help="Ray cluster address (default: a local Ray instance)")
    p.add_argument("--cpus-per-trial", type=int, default=1, help="CPUs and threads per run")
    p.add_argument("--scheduler", choices=["asha"], help="Ray: stop lagging trials early")
    p.add_argument("--max-epochs", type=int, default=100, help="ASHA: the longest trial")
    p.add_argument("--max-failures", type=int, default=2, help="retries of a run whose worker dies")
    return p


def load_space(args):
    """(fixed settings, search space, name) from --grid-file, --set and --grid."""
    fixed, space = {}, {}
    if args.grid_file:
        with open(args.grid_file) as f:
            spec = json.load(f)
        fixed, space = spec.get("fixed", {}), spec["grid"]
    fixed.update({k: v[0] for k, v in parse_grid_items(args.set).items()})
    space.update(parse_grid_items(args.grid))
    name = os.path.splitext(os.path.basename(args.grid_file))[0] if args.grid_file else "custom"
    return fixed, space, name


def main(argv=None):
    p = build_parser()
    args = p.parse_args(argv)
    try:
        fixed, space, name = load_space(args)
        if not space:
            p.error("give a grid with --grid-file or --grid")
        if args.search == "random":
            settings = random_configurations(fixed, space, args.samples, args.seed)
        else:
            settings = grid_configurations(fixed, space)
    except ConfigError as err:
        p.error(str(err))
    out = args.out or os.path.join("runs", f"sweep_{name}")
    data_dir = os.path.abspath(args.data_dir) if args.data_dir else None
    target = CifarScript(os.path.join(HERE, "cifar_mlp.py"), data_dir)
    options = SweepOptions(
        backend=args.backend,
        workers=args.workers,
        cpus_per_trial=args.cpus_per_trial,
        max_failures=args.max_failures,
        address=args.address,
        scheduler=args.scheduler,
        max_epochs=args.max_epochs,
    )
    workers = args.workers or (os.cpu_count() or 1 if args.backend == "local" else "Ray's")
    print(f"{len(settings)} configurations, {workers} workers, results in {out}", flush=True)
    try:
        rows = run_sweep(target, settings, out, list(space), options)
    except ConfigError as err:
        p.error(str(err))
    failed = sum(r["status"] == "failed" for r in rows)
    if failed:
        print(f"{failed} configuration(s) failed; see failed.json in their run directories")
    return 1 if failed == len(rows) else 0


if __name__ == "__main__":
    sys.exit(main())
