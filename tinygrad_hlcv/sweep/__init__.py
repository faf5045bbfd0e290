"""Hyperparameter sweeps: grid or random search over the flags of examples/cifar_mlp.py or
over a user's own training function, on a local pool of processes (the default) or on a
Ray cluster through Ray Tune (`backend="ray"`; Ray is imported only then).

    from tinygrad_hlcv.sweep import FunctionTarget, SweepOptions, grid_configurations, run_sweep

    def train(config):                       # runs in a worker process
        ...                                  # report_epoch(val_acc=...) after each epoch
        return {"val_acc": 0.5}

    rows = run_sweep(FunctionTarget(train), grid_configurations({}, {"lr": [1e-3, 1e-2]}),
                     "runs/my_sweep", ["lr"], SweepOptions(backend="ray"))

Each configuration gets OUT/runs/<id>/ (metrics.json, or failed.json); a configuration
with a metrics.json is not run again, so an interrupted sweep resumes by running it
again. OUT/results.md, results.csv and a plot per swept setting summarise it. The
application level, like training: `import tinygrad_hlcv` does not import it.
"""

from .report import write_reports
from .runner import SweepOptions, run_sweep
from .space import grid_configurations, parse_grid_items, random_configurations, run_id
from .targets import CifarScript, FunctionTarget, WorkerDied, report_epoch

__all__ = [
    "CifarScript",
    "FunctionTarget",
    "SweepOptions",
    "WorkerDied",
    "grid_configurations",
    "parse_grid_items",
    "random_configurations",
    "report_epoch",
    "run_id",
    "run_sweep",
    "write_reports",
]
