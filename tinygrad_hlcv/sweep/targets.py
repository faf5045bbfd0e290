"""What a sweep trains: examples/cifar_mlp.py as a process per configuration, or a user's
own function of a config dict. Both write the same files into a configuration's run
directory: metrics.json when it finished, failed.json when it failed."""

import json
import os
import signal
import subprocess
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..training.checkpoint import CheckpointError, atomic_write_text, load_checkpoint
from .space import iter_flag_args

Metrics = dict[str, Any]
EpochReport = Callable[[Metrics], None]
CIFAR_COLUMNS = ["val_acc", "test_acc", "test_acc_first_1000", "train_seconds"]
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
POLL_SECONDS = 1.0  # how often a running cifar_mlp.py's checkpoint is read for new epochs


class WorkerDied(Exception):
    """A configuration's worker was killed (a signal, not an error of its own): retried."""

    def __init__(self, error: Metrics) -> None:
        super().__init__(f"worker died: {error}")
        self.error = error


def read_json(path: str) -> Any:
    """The JSON in `path` (the sweep writes its files atomically, so one is whole or absent)."""
    with open(path) as f:
        return json.load(f)


def finished_metrics(run_dir: str) -> Metrics | None:
    """The metrics of a configuration finished before (metrics.json of a run that was not
    interrupted), else None."""
    path = os.path.join(run_dir, "metrics.json")
    if not os.path.exists(path):
        return None
    metrics = read_json(path)
    return None if metrics.get("interrupted") else dict(metrics)


def record_failure(run_dir: str, error: Metrics) -> None:
    """Write failed.json for a run that failed, so the table shows it and a resume retries it."""
    os.makedirs(run_dir, exist_ok=True)
    atomic_write_text(os.path.join(run_dir, "failed.json"), json.dumps(error, indent=1))


def thread_environment(threads: int) -> dict[str, str]:
    """Environment variables that hold BLAS, OpenMP and Numba to `threads` threads."""
    return {**dict.fromkeys(THREAD_VARIABLES, str(threads)), "NUMBA_NUM_THREADS": str(threads)}


def epoch_rows(history: dict[str, list[Any]], start: int) -> list[Metrics]:
    """Per-epoch dicts {"epoch": n, name: value, ...} of a fit history, from epoch start+1
    (not the per-step losses that metrics.json keeps beside the history)."""
    per_epoch = {k: v for k, v in history.items() if k != "step_loss"}
    epochs = max((len(v) for v in per_epoch.values()), default=0)
    return [
        {"epoch": i + 1, **{k: v[i] for k, v in per_epoch.items() if i < len(v)}}
        for i in range(start, epochs)
    ]


def _die_with_parent() -> None:  # pragma: no cover (runs in the child before exec)
    """Linux: the child gets SIGKILL when the thread that started it ends (a stopped or
    killed Ray trial must not leave its training process behind)."""
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass
class CifarScript:
    """examples/cifar_mlp.py (or a script with its flags: --out, --no-progress, --resume,
    --data-dir) run as its own process for each configuration."""

    script: str
    data_dir: str | None = None
    columns: list[str] = field(default_factory=lambda: list(CIFAR_COLUMNS))

    def command(self, settings: Metrics, run_dir: str) -> list[str]:
        """The cifar_mlp.py command line of one configuration."""
        argv = [sys.executable, self.script, "--out", run_dir, "--no-progress"]
        argv += list(iter_flag_args(settings))
        if self.data_dir:
            argv += ["--data-dir", self.data_dir]
        if os.path.exists(os.path.join(run_dir, "checkpoint.pkl")):
            argv.append("--resume")  # an interrupted earlier attempt: continue it
        return argv

    def run(
        self, settings: Metrics, run_dir: str, threads: int, on_epoch: EpochReport | None = None
    ) -> tuple[str, Metrics]:
        """Train one configuration; ("ok", metrics) or ("failed", error). Raises WorkerDied
        when the process was killed by a signal. With `on_epoch`, each finished epoch's
        history row is passed to it while training runs (read from the checkpoint)."""
        argv = self.command(settings, run_dir)
        os.makedirs(run_dir, exist_ok=True)
        atomic_write_text(os.path.join(run_dir, "settings.json"), json.dumps(settings, indent=1))
        env = {**os.environ, **thread_environment(threads)}
        if on_epoch is None:
            proc = subprocess.run(argv, capture_output=True, text=True, env=env)
            returncode, stderr = proc.returncode, proc.stderr
        else:
            tail = _EpochTail(os.path.join(run_dir, "checkpoint.pkl"), on_epoch)
            returncode, stderr = _watched(argv, env, tail)
        metrics = finished_metrics(run_dir) if returncode == 0 else None
        if metrics is not None:
            if on_epoch is not None:
                tail.report(metrics.get("history", {}))  # the epochs after the last poll
            return "ok", metrics
        error = {"returncode": returncode, "command": argv, "stderr": stderr[-4000:]}
        if returncode < 0:
            raise WorkerDied(error)
        record_failure(run_dir, error)
        return "failed", error


@dataclass
class _EpochTail:
    """Passes each epoch of a running cifar_mlp.py's history to `on_epoch` once, in order:
    the history comes from its checkpoint (replaced atomically after every epoch)."""

    checkpoint: str
    on_epoch: EpochReport
    reported: int = 0

    def report(self, history: dict[str, list[Any]]) -> None:
        for row in epoch_rows(history, self.reported):
            self.on_epoch(row)
            self.reported = row["epoch"]

    def poll(self) -> None:
        try:
            if os.path.exists(self.checkpoint):
                self.report(load_checkpoint(self.checkpoint)["history"])
        except (CheckpointError, KeyError):
            pass  # not a finished checkpoint yet: the next poll reads it


def _watched(argv: list[str], env: dict[str, str], tail: _EpochTail) -> tuple[int, str]:
    """Run the process, polling its checkpoint every POLL_SECONDS (the poll decides only
    when an epoch is reported, never what is reported); killed if this thread stops."""
    preexec = _die_with_parent if sys.platform.startswith("linux") else None
    proc = subprocess.Popen(
        argv, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=preexec,
    )  # fmt: skip
    try:
        while True:
            try:
                _, stderr = proc.communicate(timeout=POLL_SECONDS)
                return proc.returncode, stderr
            except subprocess.TimeoutExpired:
                tail.poll()
    finally:
        if proc.poll() is None:  # stopped by the scheduler, or an error while watching
            proc.kill()
            proc.wait()


_reporter: list[EpochReport] = []


def report_epoch(**metrics: Any) -> None:
    """Called by a user's training function after each epoch (e.g. val_acc=0.41): goes to
    the Ray backend's scheduler (ASHA may stop the trial here); a no-op elsewhere."""
    if _reporter:
        _reporter[-1](metrics)


@dataclass
class FunctionTarget:
    """A user's training function: fn(config dict) -> dict of metrics (numbers, with
    `val_acc` for the plot), optionally calling report_epoch(...) after each epoch. It
    runs in the worker process: a sweep process per configuration locally, a trial under
    Ray. `columns`: the metrics in the table (default: every number it returned)."""

    fn: Callable[[Metrics], Metrics]
    columns: list[str] | None = None

    def run(
        self, settings: Metrics, run_dir: str, threads: int, on_epoch: EpochReport | None = None
    ) -> tuple[str, Metrics]:
        """Call the function once; ("ok", metrics) written to metrics.json, or ("failed",
        the exception) written to failed.json."""
        os.makedirs(run_dir, exist_ok=True)
        atomic_write_text(os.path.join(run_dir, "settings.json"), json.dumps(settings, indent=1))
        os.environ.update(thread_environment(threads))
        _limit_numba_threads(threads)
        _reporter.append(on_epoch or (lambda metrics: None))
        try:
            metrics = self.fn(dict(settings))
            if not isinstance(metrics, dict):
                raise TypeError(f"the training function returned {metrics!r}, expected a dict")
        except Exception as err:
            error = {"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()}
            record_failure(run_dir, error)
            return "failed", error
        finally:
            _reporter.pop()
        metrics = {"config": settings, **metrics}
        atomic_write_text(os.path.join(run_dir, "metrics.json"), json.dumps(metrics, indent=1))
        return "ok", metrics


def _limit_numba_threads(threads: int) -> None:
    """Numba reads NUMBA_NUM_THREADS once, when it is first imported; set it live too."""
    numba = sys.modules.get("numba")
    if numba is not None:
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
