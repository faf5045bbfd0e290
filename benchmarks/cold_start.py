"""Cold start: a fresh process's `import tinygrad_hlcv` plus its first training step.

Two cases, each run in new subprocesses (`--repeats` times, medians shown):
  cold  NUMBA_CACHE_DIR points to a new empty directory: every kernel the step
        uses is compiled (what a first run after installing costs)
  warm  the same directory again, after one run filled it: the kernels load
        from Numba's cache (every later run)
Numba's cache locator tries NUMBA_CACHE_DIR before the package's own
__pycache__, so the in-tree cache is not used; the script checks that by
looking for index files (*.nbi) in the directory after the cold run. If there
are none (a Numba that ignores the variable), it falls back to copying the
package into a temporary directory whose __pycache__ starts empty.

Times, from inside the child: `import tinygrad_hlcv` (NumPy and Numba with
it), model set-up, the first step (forward, loss + L2, backward, SGD: the
kernels are compiled or loaded here, since they are compiled lazily), and the
second step for comparison; from the parent: the whole process, interpreter
start-up and exit included.

    python benchmarks/cold_start.py [--repeats N] [--net NAME] [--json PATH]
"""

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile

from _common import NETS, REPO, fmt_table, quantiles, write_json_atomic

CHILD = r"""
import sys, time
t0 = time.perf_counter()
import numpy as np
t_numpy = time.perf_counter()
import tinygrad_hlcv
t_import = time.perf_counter()
from _common import BATCH, make_tinygrad  # the benchmarks' step (stdlib imports only)
sizes, activation = {sizes!r}, {activation!r}
rng = np.random.default_rng(0)
X = rng.standard_normal((BATCH, sizes[0])).astype(np.float32)
step = make_tinygrad(sizes, activation, np.float32, X, rng.integers(0, sizes[-1], BATCH))
t_setup = time.perf_counter()
step()
t_first = time.perf_counter()
step()
t_second = time.perf_counter()
print("TIMES", t_numpy - t0, t_import - t_numpy, t_import - t0, t_setup - t_import,
      t_first - t_setup, t_second - t_first, (t_first - t0))
"""
FIELDS = (
    "numpy_import_s",
    "tinygrad_import_rest_s",
    "import_s",
    "setup_s",
    "first_step_s",
    "second_step_s",
    "import_plus_first_step_s",
)


def run_child(code, env, cwd):
    import time

    t = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, timeout=600
    )
    wall = time.perf_counter() - t
    if result.returncode != 0:
        raise RuntimeError(f"child failed:\n{result.stderr}")
    line = next(l for l in result.stdout.splitlines() if l.startswith("TIMES"))
    values = dict(zip(FIELDS, map(float, line.split()[1:])))
    values["process_wall_s"] = wall
    return values


def child_env(package_root, cache_dir, threads):
    env = {
        k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "TINYGRAD_HLCV_KERNELS")
    }
    env["PYTHONPATH"] = os.pathsep.join([str(package_root), str(REPO / "benchmarks")])
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[var] = str(threads)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = str(cache_dir)
    return env


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=5, help="processes per case")
    p.add_argument(
        "--net",
        choices=list(NETS),
        default="3072-550-128-100-10",
        help="the net whose first step is timed (default: the LeakyReLU one)",
    )
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    sizes, activation = NETS[args.net]
    code = CHILD.format(sizes=sizes, activation=activation)

    work = tempfile.mkdtemp(prefix="tinygrad_cold_")
    try:
        # Does Numba write cache=True functions to NUMBA_CACHE_DIR? Check once.
        probe = os.path.join(work, "probe_cache")
        os.mkdir(probe)
        run_child(code, child_env(REPO, probe, args.threads), work)
        honoured = bool(glob.glob(os.path.join(probe, "**", "*.nbi"), recursive=True))
        method = (
            "NUMBA_CACHE_DIR (honoured: index files appeared there)"
            if honoured
            else "copy of the package in a temporary directory (NUMBA_CACHE_DIR ignored)"
        )
        print(f"# cold cache by {method}", flush=True)

        def fresh_case(i):
            if honoured:
                cache = os.path.join(work, f"cold_{i}")
                os.mkdir(cache)
                return REPO, cache
            root = os.path.join(work, f"copy_{i}")
            shutil.copytree(
                REPO / "tinygrad_hlcv",
                os.path.join(root, "tinygrad_hlcv"),
                ignore=shutil.ignore_patterns("__pycache__"),
            )
            return root, None

        samples = {"cold": [], "warm": []}
        warm_root, warm_cache = fresh_case("warm")
        run_child(code, child_env(warm_root, warm_cache, args.threads), work)  # fill it
        for i in range(args.repeats):  # alternate, so both see the same machine load
            root, cache = fresh_case(i)
            samples["cold"].append(run_child(code, child_env(root, cache, args.threads), work))
            samples["warm"].append(
                run_child(code, child_env(warm_root, warm_cache, args.threads), work)
            )
        files = sorted(
            os.path.basename(f)
            for f in glob.glob(
                os.path.join(warm_cache or os.path.join(warm_root, "tinygrad_hlcv"), "**", "*.nbi"),
                recursive=True,
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rows, summary = [], {}
    for case, runs in samples.items():
        med = {k: quantiles([r[k] for r in runs])[0] for k in runs[0]}
        summary[case] = {"median": med, "runs": runs}
        rows.append(
            [
                case,
                f"{med['process_wall_s']:.2f}",
                f"{med['import_s']:.2f}",
                f"{med['numpy_import_s']:.2f}",
                f"{med['first_step_s']:.2f}",
                f"{1e3 * med['second_step_s']:.1f}",
                f"{med['import_plus_first_step_s']:.2f}",
            ]
        )
    print(
        f"# net {args.net} float32, batch 200, {args.threads} threads, "
        f"{args.repeats} processes per case; medians"
    )
    print(
        fmt_table(
            [
                "cache",
                "process s",
                "import s",
                "(numpy s)",
                "first step s",
                "second step ms",
                "import + first step s",
            ],
            rows,
        )
    )
    print(f"\nindex files in the warm cache: {len(files)} ({', '.join(files)})")
    if args.json:
        write_json_atomic(
            args.json,
            {
                "net": args.net,
                "threads": args.threads,
                "cold_cache_method": method,
                "cache_index_files": files,
                "cases": summary,
            },
        )
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
