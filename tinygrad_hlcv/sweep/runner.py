"""run_sweep: the configurations not finished before run on a backend (a local pool of
workers, or Ray Tune), then the summary is written from the run directories."""

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..errors import ConfigError
from .report import Row, metric_columns, write_reports
from .space import run_id
from .targets import (
    CifarScript,
    FunctionTarget,
    Metrics,
    WorkerDied,
    finished_metrics,
    read_json,
    record_failure,
)

Target = CifarScript | FunctionTarget
BACKENDS = ("local", "ray")
SKIPPED = "skipped (done before)"


@dataclass
class SweepOptions:
    """How a sweep runs. `workers`: configurations at once (local: default one per core;
    Ray: default as many as the cluster's CPUs allow). `cpus_per_trial`: the CPUs (and BLAS,
    OpenMP and Numba threads) of each configuration. `max_failures`: retries of a
    configuration whose worker died. `scheduler`: None (every trial runs to its end) or
    "asha" (Ray only: stops trials whose per-epoch `metric` lags; at most `max_epochs`)."""

    backend: str = "local"
    workers: int | None = None
    cpus_per_trial: int = 1
    max_failures: int = 2
    address: str | None = None
    scheduler: str | None = None
    metric: str = "val_acc"
    max_epochs: int = 100
    log: Callable[[str], None] = field(default=print)

    def check(self) -> None:
        """ConfigError for options that cannot work together, before any trial runs."""
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.scheduler not in (None, "asha"):
            raise ConfigError(f"scheduler must be None or 'asha', got {self.scheduler!r}")
        if self.scheduler and self.backend != "ray":
            raise ConfigError("the asha scheduler needs the ray backend (--backend ray)")
        if self.cpus_per_trial < 1 or self.max_failures < 0 or (self.workers or 1) < 1:
            raise ConfigError(
                "expected cpus_per_trial >= 1, max_failures >= 0 and workers >= 1, got "
                f"{self.cpus_per_trial}, {self.max_failures}, {self.workers}"
            )


def run_dir_of(out: str, settings: Metrics) -> str:
    """The directory of one configuration's run: OUT/runs/<run id>."""
    return os.path.join(out, "runs", run_id(settings))


def status_line(row: Row, swept: list[str]) -> str:
    """What the sweep prints when a configuration ends: status, swept settings, result."""
    shown = {k: row["settings"].get(k) for k in swept}
    result = row["metrics"]
    if row["status"] == "failed":
        detail = f"(exit {result['returncode']})" if "returncode" in result else "(error)"
    elif isinstance(result.get("val_acc"), float):
        detail = f"val {result['val_acc']:.4f}"
    else:
        detail = ""
    return f"{row['status']:>20}: {shown} {detail}".rstrip()


def finish_row(settings: Metrics, run_dir: str, status: str, result: Metrics) -> Row:
    """A configuration's row; an earlier attempt's failed.json goes once it succeeds."""
    stale = os.path.join(run_dir, "failed.json")
    if status != "failed" and os.path.exists(stale):
        os.remove(stale)
    return {"settings": settings, "status": status, "metrics": result}


def _child(target: FunctionTarget, settings: Metrics, run_dir: str, threads: int) -> None:
    target.run(settings, run_dir, threads)


def run_in_child(target: FunctionTarget, settings: Metrics, run_dir: str) -> tuple[str, Metrics]:
    """A user's function in a forked process of its own: a crash there is the worker's,
    not the sweep's."""
    worker = multiprocessing.get_context("fork").Process(
        target=_child, args=(target, settings, run_dir, 1)
    )
    worker.start()
    worker.join()
    metrics = finished_metrics(run_dir)
    failed = os.path.join(run_dir, "failed.json")
    # the files decide, not the exit code (a child forked from a thread may exit 1 at its
    # interpreter's shutdown after a clean run); a signal means the worker died
    if metrics is not None:
        return "ok", metrics
    error = {"returncode": worker.exitcode, "error": "the worker process ended abnormally"}
    if worker.exitcode is not None and worker.exitcode < 0:
        raise WorkerDied(error)
    if os.path.exists(failed):
        return "failed", dict(read_json(failed))
    record_failure(run_dir, error)
    return "failed", error


def run_local_one(target: Target, settings: Metrics, run_dir: str, retries: int) -> Row:
    """One configuration on the local backend, retried while its worker is killed."""
    for attempt in range(retries + 1):
        try:
            if isinstance(target, FunctionTarget):
                status, result = run_in_child(target, settings, run_dir)
            else:
                status, result = target.run(settings, run_dir, 1)
            return finish_row(settings, run_dir, status, result)
        except WorkerDied as died:
            error = {**died.error, "attempts": attempt + 1}
    record_failure(run_dir, error)
    return finish_row(settings, run_dir, "failed", error)


def run_local(
    target: Target, pending: list[Metrics], out: str, swept: list[str], options: SweepOptions
) -> list[Row]:
    """The local pool: `workers` configurations at once, each in its own process with one
    BLAS and Numba thread."""

    def task(settings: Metrics) -> Row:
        row = run_local_one(target, settings, run_dir_of(out, settings), options.max_failures)
        options.log(status_line(row, swept))
        return row

    workers = options.workers or os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(task, pending))


def run_sweep(
    target: Target,
    configurations: list[Metrics],
    out: str,
    swept: list[str],
    options: SweepOptions | None = None,
) -> list[Row]:
    """Run every configuration not finished before (a metrics.json in OUT/runs/<id>/ that
    was not interrupted), on the chosen backend; write results.md, results.csv and the
    plots into `out`. Returns one row per configuration, in the given order."""
    options = options or SweepOptions()
    options.check()
    out = os.path.abspath(out)
    rows: dict[str, Row] = {}
    for settings in configurations:
        metrics = finished_metrics(run_dir_of(out, settings))
        if metrics is not None:
            rows[run_id(settings)] = {"settings": settings, "status": SKIPPED, "metrics": metrics}
            options.log(status_line(rows[run_id(settings)], swept))
    pending = [s for s in configurations if run_id(s) not in rows]
    if options.backend == "ray" and pending:
        from .ray_backend import run_ray  # Ray is imported only here

        ran = run_ray(target, pending, out, options)
        for row in ran:
            options.log(status_line(row, swept))
    else:
        ran = run_local(target, pending, out, swept, options)
    rows.update((run_id(row["settings"]), row) for row in ran)
    ordered = [rows[run_id(s)] for s in configurations]
    columns = target.columns if target.columns is not None else metric_columns(ordered)
    options.log(write_reports(out, swept, ordered, columns, options.metric))
    return ordered
