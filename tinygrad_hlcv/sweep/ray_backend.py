"""The Ray backend: each configuration one Ray Tune trial with `cpus_per_trial` CPUs, on a
running cluster (`address`) or a local Ray instance. Imported only when chosen.

Test-only hooks, read by the driver: $TINYGRAD_HLCV_SWEEP_TEST_CRASH=<run id> makes that
configuration's trial kill its own worker process on its first attempt (a marker file in
its run directory tells attempts apart); $TINYGRAD_HLCV_SWEEP_TEST_STOP_AFTER=N makes the
driver run only the first N pending trials and then stop (SweepInterrupted), as a Ctrl-C
after N trials would: deterministically, whatever the machine's speed.
"""

import importlib
import json
import math
import os
import signal
from collections.abc import Callable
from typing import Any

from ..training.checkpoint import atomic_write_text
from .report import Row
from .runner import SweepOptions, Target, finish_row, run_dir_of
from .targets import Metrics, finished_metrics, read_json, record_failure

CRASH_HOOK = "TINYGRAD_HLCV_SWEEP_TEST_CRASH"
STOP_HOOK = "TINYGRAD_HLCV_SWEEP_TEST_STOP_AFTER"
STOPPED_EARLY = "stopped early (asha)"
INTERRUPTED = "interrupted"


class SweepInterrupted(Exception):
    """The driver stopped before every trial ended; rerun the sweep to finish it."""


def _crash_once(run_dir: str) -> None:
    """The crash hook: the first attempt marks the run directory and kills its worker."""
    marker = os.path.join(run_dir, "test_crashed")
    if not os.path.exists(marker):
        os.makedirs(run_dir, exist_ok=True)
        open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)


def _numbers(row: Metrics) -> Metrics:
    return {k: v for k, v in row.items() if isinstance(v, (int, float)) and math.isfinite(v)}


def make_trial(
    target: Target, pending: list[Metrics], out: str, options: SweepOptions, crash: str | None
) -> Callable[[dict[str, Any]], None]:
    """The Tune function trainable: trains configuration pending[config["index"]],
    reporting each epoch's numbers (one report per epoch: ASHA's time unit)."""
    tune = importlib.import_module("ray.tune")

    def trial(config: dict[str, Any]) -> None:
        settings = pending[config["index"]]
        run_dir = run_dir_of(out, settings)
        if crash is not None and crash == os.path.basename(run_dir):
            _crash_once(run_dir)
        if os.path.exists(os.path.join(run_dir, "failed.json")):
            os.remove(os.path.join(run_dir, "failed.json"))  # an earlier sweep's
        reports = []

        def on_epoch(row: Metrics) -> None:
            reports.append(row)
            tune.report(_numbers(row))

        status, result = target.run(settings, run_dir, options.cpus_per_trial, on_epoch)
        if not reports:  # Tune needs one result; ASHA has seen every epoch otherwise
            tune.report({**_numbers(result), "status_ok": int(status == "ok")})

    return trial


def _asha(options: SweepOptions, stopped: set[int]) -> Any:
    """Tune's ASHA, noting which trials it stopped (told apart from ones a Ctrl-C ended)."""
    asha: Any = importlib.import_module("ray.tune.schedulers").ASHAScheduler

    class NotingASHA(asha):
        def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
            decision: str = super().on_trial_result(tune_controller, trial, result)
            if decision == self.STOP:
                stopped.add(trial.config["index"])
            return decision

    # max_t one past the longest trial: ASHA stops a trial at max_t, which would cut the
    # last epoch's trial off before it wrote its metrics
    return NotingASHA(max_t=options.max_epochs + 1, grace_period=1)


def _tuner(
    tune: Any, trial: Any, count: int, out: str, options: SweepOptions, stopped: set[int]
) -> Any:
    scheduler, metric = None, {}
    if options.scheduler == "asha":
        scheduler = _asha(options, stopped)
        metric = {"metric": options.metric, "mode": "max"}
    return tune.Tuner(
        tune.with_resources(trial, {"cpu": options.cpus_per_trial}),
        param_space={"index": tune.grid_search(list(range(count)))},
        tune_config=tune.TuneConfig(
            scheduler=scheduler,
            max_concurrent_trials=options.workers,
            reuse_actors=True,  # a worker process per trial costs seconds of start-up
            **metric,
        ),
        run_config=tune.RunConfig(
            name="tune",
            storage_path=os.path.join(out, "ray_results"),
            failure_config=tune.FailureConfig(max_failures=options.max_failures),
            verbose=0,
        ),
    )


def run_ray(target: Target, pending: list[Metrics], out: str, options: SweepOptions) -> list[Row]:
    """Run the pending configurations as Tune trials; their rows, read back from the run
    directories (a trial whose worker died past its retries is recorded as failed)."""
    ray = importlib.import_module("ray")
    tune = importlib.import_module("ray.tune")
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=options.address, include_dashboard=False, log_to_driver=False)
    stop_after = os.environ.get(STOP_HOOK)
    runs = pending[: int(stop_after)] if stop_after else pending
    try:
        trial = make_trial(target, runs, out, options, os.environ.get(CRASH_HOOK))
        stopped: set[int] = set()
        grid = _tuner(tune, trial, len(runs), out, options, stopped).fit()
    finally:
        if started_here:
            ray.shutdown()
    if len(runs) < len(pending):
        raise SweepInterrupted(f"test hook: the driver stopped after {len(runs)} trials")
    outcomes = {r.config["index"]: r for r in grid}
    return [_row(s, run_dir_of(out, s), outcomes.get(i), i in stopped) for i, s in enumerate(runs)]


def _row(settings: Metrics, run_dir: str, outcome: Any, stopped: bool) -> Row:
    """A trial's row from its run directory, else from Tune's record of it."""
    metrics = finished_metrics(run_dir)
    if metrics is not None:
        return finish_row(settings, run_dir, "ok", metrics)
    failed = os.path.join(run_dir, "failed.json")
    if outcome is not None and outcome.error is None and os.path.exists(failed):
        return finish_row(settings, run_dir, "failed", dict(read_json(failed)))
    if stopped and outcome is not None and outcome.error is None and outcome.metrics:
        return _stopped_early(settings, run_dir, outcome.metrics)
    if outcome is not None and outcome.error is None:  # ended by a Ctrl-C: run again
        return finish_row(settings, run_dir, INTERRUPTED, {})
    error = {"error": str(getattr(outcome, "error", None) or "the trial never ran")}
    record_failure(run_dir, error)
    return finish_row(settings, run_dir, "failed", error)


def _stopped_early(settings: Metrics, run_dir: str, last: Metrics) -> Row:
    """A trial the scheduler stopped: its last report, kept as its result (a rerun of the
    sweep does not train it again)."""
    metrics = {
        "config": settings,
        **{k: v for k, v in last.items() if k in ("val_acc", "epoch", "loss", "acc")},
        "stopped": "asha",
        "interrupted": False,
    }
    atomic_write_text(os.path.join(run_dir, "metrics.json"), json.dumps(metrics, indent=1))
    return finish_row(settings, run_dir, STOPPED_EARLY, metrics)
