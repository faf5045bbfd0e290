"""tinygrad_hlcv.sweep: search spaces, the local pool (grid and random search, resume,
failures, dead workers retried) and, with Ray installed, the Ray Tune backend on a local
Ray instance of 2 CPUs (a tiny cifar_mlp.py grid on fake CIFAR files, a worker that dies
and is retried or recorded, an interrupted sweep resumed). Never the network."""

import csv
import json
import math
import os
import signal
import subprocess
import sys

import pytest

from cifar_fakes import ROOT, read_json
from tinygrad_hlcv.errors import ConfigError
from tinygrad_hlcv.sweep import (
    FunctionTarget,
    SweepOptions,
    grid_configurations,
    parse_grid_items,
    random_configurations,
    report_epoch,
    run_id,
    run_sweep,
)
from tinygrad_hlcv.sweep.targets import _EpochTail, epoch_rows

# ----------------------------------------------------------------- training functions
# Module-level (picklable by reference) and cheap: the sweep machinery is under test.


def score(config):
    """A deterministic 'validation accuracy' of a configuration."""
    return round(
        1 / (1 + abs(math.log10(abs(config["lr"])) + 2)) + config.get("hidden", 0) / 1000, 6
    )


def train_fn(config):
    """Reports an accuracy per epoch rising to score(config); writes where it ran."""
    for epoch in range(1, config.get("epochs", 3) + 1):
        report_epoch(val_acc=score(config) * epoch / config.get("epochs", 3), epoch=epoch)
    if "log_dir" in config:  # one line per call: the test counts how often a config ran
        with open(os.path.join(config["log_dir"], f"{os.getpid()}-{run_id(config)}"), "w"):
            pass
    return {"val_acc": score(config), "pid": os.getpid()}


def failing_fn(config):
    if config["lr"] < 0:
        raise ValueError(f"learning rate must be > 0, got {config['lr']}")
    return train_fn(config)


def dying_fn(config):
    """Kills its own process: once when `once` (a marker file), always otherwise."""
    marker = os.path.join(config["log_dir"], "died-" + run_id(config))
    if config["lr"] == 0.1 and not (config["once"] and os.path.exists(marker)):
        open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return train_fn(config)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def quiet():
    lines = []
    return SweepOptions(workers=2, log=lines.append), lines


# ----------------------------------------------------------------- search spaces


def test_grid_is_the_product_with_the_fixed_settings():
    configs = grid_configurations({"iters": 5}, {"lr": [0.1, 0.01], "hidden": [8, 16, 32]})
    assert len(configs) == 6
    assert {(c["lr"], c["hidden"]) for c in configs} == {
        (lr, h) for lr in (0.1, 0.01) for h in (8, 16, 32)
    }
    assert all(c["iters"] == 5 for c in configs)
    with pytest.raises(ConfigError, match="non-empty list"):
        grid_configurations({}, {"lr": {"loguniform": [1e-4, 1e-2]}})


def test_random_search_is_seeded_in_range_and_without_repeats():
    space = {"lr": {"loguniform": [1e-4, 1e-2]}, "drop": {"uniform": [0, 0.5]}, "h": [8, 16]}
    space["depth"] = {"randint": [1, 3]}
    first = random_configurations({"iters": 5}, space, 12, seed=3)
    assert first == random_configurations({"iters": 5}, space, 12, seed=3)
    assert first != random_configurations({"iters": 5}, space, 12, seed=4)
    assert len(first) == 12 and len({run_id(c) for c in first}) == 12
    assert all(1e-4 <= c["lr"] <= 1e-2 and 0 <= c["drop"] <= 0.5 for c in first)
    assert {c["h"] for c in first} <= {8, 16} and {c["depth"] for c in first} <= {1, 2, 3}
    assert all(c["iters"] == 5 for c in first)
    # a space of 2 points: 10 draws give each point once
    assert len(random_configurations({}, {"h": [8, 16]}, 10)) == 2


@pytest.mark.parametrize(
    "space, message",
    [
        ({"lr": {"loguniform": [0, 1]}}, "needs 0 < low"),
        ({"lr": {"uniform": [2, 1]}}, "needs 0 < low"),
        ({"lr": {"normal": [0, 1]}}, "expected a non-empty list or one of"),
        ({"lr": []}, "expected a non-empty list"),
    ],
)
def test_random_search_refuses_a_bad_space(space, message):
    with pytest.raises(ConfigError, match=message):
        random_configurations({}, space, 3)


def test_grid_items_parse_and_refuse_what_is_not_name_equals_values():
    assert parse_grid_items(["hidden=50,100 100", "lr-decay=0.9"]) == {
        "hidden": ["50", "100 100"],
        "lr_decay": ["0.9"],
    }
    with pytest.raises(ConfigError, match="not of the form"):
        parse_grid_items(["hidden"])


def test_options_refuse_asha_without_ray_and_unknown_backends(tmp_path):
    with pytest.raises(ConfigError, match="needs the ray backend"):
        run_sweep(
            FunctionTarget(train_fn),
            [{"lr": 0.1}],
            tmp_path,
            ["lr"],
            SweepOptions(scheduler="asha"),
        )
    with pytest.raises(ConfigError, match="backend must be one of"):
        run_sweep(
            FunctionTarget(train_fn), [{"lr": 0.1}], tmp_path, ["lr"], SweepOptions(backend="dask")
        )


def test_epoch_tail_reports_each_epoch_once_in_order(tmp_path):
    seen = []
    tail = _EpochTail(str(tmp_path / "none.pkl"), seen.append)
    tail.poll()  # no checkpoint yet: nothing
    tail.report({"val_acc": [0.1, 0.2], "step_loss": [3, 2, 1, 0]})
    tail.report({"val_acc": [0.1, 0.2, 0.3], "step_loss": [3, 2, 1, 0, 0, 0]})
    assert seen == [
        {"epoch": 1, "val_acc": 0.1},
        {"epoch": 2, "val_acc": 0.2},
        {"epoch": 3, "val_acc": 0.3},
    ]
    assert epoch_rows({"loss": [1.0], "val_acc": []}, 0) == [{"epoch": 1, "loss": 1.0}]


# ----------------------------------------------------------------- the local pool


def test_local_grid_writes_a_result_per_configuration_and_the_table(tmp_path):
    configs = grid_configurations({"epochs": 2}, {"lr": [0.1, 0.01], "hidden": [8, 16]})
    options, lines = quiet()
    rows = run_sweep(
        FunctionTarget(train_fn, ["val_acc"]), configs, tmp_path, ["lr", "hidden"], options
    )
    assert [r["settings"] for r in rows] == configs  # in the given order
    assert all(
        r["status"] == "ok" and r["metrics"]["val_acc"] == score(r["settings"]) for r in rows
    )
    assert len({r["metrics"]["pid"] for r in rows} | {os.getpid()}) == 5  # a process each
    for config in configs:
        metrics = read_json(tmp_path / "runs" / run_id(config) / "metrics.json")
        assert metrics["config"] == config and metrics["val_acc"] == score(config)
    table = read_csv(tmp_path / "results.csv")
    assert [
        (float(r["lr"]), int(r["hidden"]), float(r["val_acc"]), r["status"]) for r in table
    ] == [(c["lr"], c["hidden"], score(c), "ok") for c in configs]
    md = (tmp_path / "results.md").read_text().splitlines()
    assert md[0] == "| lr | hidden | val_acc | status |" and len(md) == 6
    assert (tmp_path / "accuracy_vs_lr.png").read_bytes()[:4] == b"\x89PNG"
    assert sum(line.lstrip().startswith("ok: ") for line in lines) == 4


def test_local_random_search_resumes_without_rerunning_finished_configurations(tmp_path):
    log_dir = tmp_path / "log"
    log_dir.mkdir()
    space = {"lr": {"loguniform": [1e-3, 1e-1]}, "hidden": [8, 16, 32]}
    configs = random_configurations({"log_dir": str(log_dir)}, space, 4, seed=1)
    options, _ = quiet()
    run_sweep(FunctionTarget(train_fn), configs[:2], tmp_path / "out", ["lr", "hidden"], options)
    stamps = {
        run_id(c): (tmp_path / "out/runs" / run_id(c) / "metrics.json").stat().st_mtime_ns
        for c in configs[:2]
    }
    # as if interrupted: one more configuration had started and left a partial metrics.json
    partial = tmp_path / "out/runs" / run_id(configs[2])
    partial.mkdir()
    (partial / "metrics.json").write_text(json.dumps({"interrupted": True}))
    options, lines = quiet()
    rows = run_sweep(FunctionTarget(train_fn), configs, tmp_path / "out", ["lr", "hidden"], options)
    assert [r["status"] for r in rows] == ["skipped (done before)"] * 2 + ["ok"] * 2
    assert sorted(p.name.split("-")[1] for p in log_dir.iterdir()) == sorted(map(run_id, configs))
    assert len(list(log_dir.iterdir())) == 4  # each configuration ran exactly once
    for c, stamp in stamps.items():
        assert (tmp_path / "out/runs" / c / "metrics.json").stat().st_mtime_ns == stamp
    assert [float(r["val_acc"]) for r in read_csv(tmp_path / "out/results.csv")] == [
        score(c) for c in configs
    ]


def test_local_failure_is_recorded_and_the_others_finish(tmp_path):
    options, lines = quiet()
    configs = grid_configurations({}, {"lr": [0.01, -1.0, 0.1]})
    rows = run_sweep(FunctionTarget(failing_fn), configs, tmp_path, ["lr"], options)
    assert [r["status"] for r in rows] == ["ok", "failed", "ok"]
    failed = read_json(tmp_path / "runs" / run_id(configs[1]) / "failed.json")
    assert failed["error"] == "ValueError: learning rate must be > 0, got -1.0"
    assert "Traceback" in failed["traceback"]
    assert not (tmp_path / "runs" / run_id(configs[1]) / "metrics.json").exists()
    table = read_csv(tmp_path / "results.csv")
    assert [r["status"] for r in table] == ["ok", "failed", "ok"] and table[1]["val_acc"] == ""
    # fixed later, the rerun trains only the failed one and drops its failed.json
    rows = run_sweep(FunctionTarget(train_fn), configs[1:2], tmp_path, ["lr"], options)
    assert rows[0]["status"] == "ok"  # train_fn does not refuse a negative rate
    assert not (tmp_path / "runs" / run_id(configs[1]) / "failed.json").exists()


@pytest.mark.parametrize(
    "once, max_failures, status", [(True, 1, "ok"), (False, 2, "failed"), (True, 0, "failed")]
)
def test_local_dead_worker_is_retried_then_recorded(tmp_path, once, max_failures, status):
    configs = grid_configurations({"log_dir": str(tmp_path), "once": once}, {"lr": [0.01, 0.1]})
    options = SweepOptions(workers=2, max_failures=max_failures, log=lambda line: None)
    rows = run_sweep(FunctionTarget(dying_fn), configs, tmp_path / "out", ["lr"], options)
    assert [r["status"] for r in rows] == ["ok", status]
    run_dir = tmp_path / "out/runs" / run_id(configs[1])
    if status == "failed":
        error = read_json(run_dir / "failed.json")
        assert error["returncode"] == -signal.SIGKILL and error["attempts"] == max_failures + 1
        assert not (run_dir / "metrics.json").exists()
    else:
        assert read_json(run_dir / "metrics.json")["val_acc"] == score(configs[1])


def test_importing_the_sweep_package_imports_neither_ray_nor_is_imported_by_the_framework():
    code = (
        "import sys, tinygrad_hlcv; assert 'tinygrad_hlcv.sweep' not in sys.modules; "
        "import tinygrad_hlcv.sweep; assert 'ray' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=600)  # a hang guard only


# ----------------------------------------------------------------- the Ray backend

SMALL_RUN = ["iters=10", "num_train=150", "num_val=50", "batch_size=20"]


@pytest.fixture(scope="module")
def ray_instance():
    """One local Ray instance of 2 CPUs for the module's Ray tests (the sweep uses a Ray
    that is already running and leaves it running)."""
    ray = pytest.importorskip("ray")
    path = os.pathsep.join([str(ROOT / "tests"), str(ROOT)])  # workers import this module
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": path}},
    )
    yield ray
    ray.shutdown()


def ray_options(**changes):
    return SweepOptions(backend="ray", log=lambda line: None, **changes)


def tune_results(out):
    """Tune's per-trial result.json lines: {trial index: [reported dicts]}."""
    reports = {}
    for path in (out / "ray_results" / "tune").glob("*/result.json"):
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        reports[lines[0]["config"]["index"]] = lines
    return reports


def test_ray_runs_a_tiny_cifar_grid_like_the_local_pool(
    ray_instance, data_dir, sweep, tmp_path, monkeypatch
):
    """Also: the trial of hidden=12 kills its worker on its first attempt and is retried
    (--max-failures 1), ending with one result like the other. Two configurations: each
    cifar_mlp.py process costs seconds of imports and figures (queueing more trials than
    CPUs is tested with the cheap training functions below)."""
    from tinygrad_hlcv.sweep.ray_backend import CRASH_HOOK

    args = ["--grid", "hidden=8,12", "--data-dir", str(data_dir)]
    for setting in SMALL_RUN:
        args += ["--set", setting]
    crashing = run_id(sweep_settings({"hidden": "12"}))
    monkeypatch.setenv(CRASH_HOOK, crashing)
    ray_args = [*args, "--backend", "ray", "--max-failures", "1", "--out", str(tmp_path / "ray")]
    assert sweep.main(ray_args) == 0
    monkeypatch.delenv(CRASH_HOOK)
    out = tmp_path / "ray"
    assert (out / "runs" / crashing / "test_crashed").exists()  # its first attempt died
    runs = sorted((out / "runs").glob("*/metrics.json"))
    assert len(runs) == 2 and not list((out / "runs").glob("*/failed.json"))
    table = (out / "results.md").read_text().splitlines()
    assert len(table) == 4 and table[0].startswith("| hidden | val_acc")
    rows = read_csv(out / "results.csv")
    assert [r["hidden"] for r in rows] == ["8", "12"]
    assert all(r["status"] == "ok" for r in rows)
    # each epoch was reported to Tune as it ended: the trial's reports are the history
    reports = tune_results(out)
    assert sorted(reports) == [0, 1]
    for index, row in enumerate(rows):
        metrics = read_json(out / "runs" / run_id(sweep_settings(row)) / "metrics.json")
        assert metrics["config"]["hidden"] == [int(row["hidden"])]
        assert [r["val_acc"] for r in reports[index]] == metrics["history"]["val_acc"]
        assert [r["epoch"] for r in reports[index]] == [1, 2]
    # the same table as the local pool (train_seconds apart)
    assert sweep.main([*args, "--workers", "2", "--out", str(tmp_path / "local")]) == 0
    local = read_csv(tmp_path / "local" / "results.csv")
    same = ["hidden", "val_acc", "test_acc", "test_acc_first_1000", "status"]
    assert [[r[c] for c in same] for r in local] == [[r[c] for c in same] for r in rows]


def sweep_settings(row):
    """The settings examples/sweep.py built for a results.csv row of the grid above."""
    settings = dict(s.split("=") for s in SMALL_RUN)
    return {**settings, "hidden": row["hidden"]}


def test_ray_trial_whose_worker_dies_is_recorded_without_retries(
    ray_instance, tmp_path, monkeypatch
):
    """--max-failures 0: the trial whose worker died is failed, the others finish (the
    retry is tested on the cifar grid above)."""
    from tinygrad_hlcv.sweep.ray_backend import CRASH_HOOK

    log_dir = tmp_path / "log"
    log_dir.mkdir()
    configs = grid_configurations({"log_dir": str(log_dir)}, {"lr": [0.01, 0.1, 0.001]})
    monkeypatch.setenv(CRASH_HOOK, run_id(configs[1]))
    options = ray_options(max_failures=0)
    rows = run_sweep(FunctionTarget(train_fn), configs, tmp_path / "out", ["lr"], options)
    crashed = tmp_path / "out/runs" / run_id(configs[1])
    assert (crashed / "test_crashed").exists()  # the first attempt did die
    ran = sorted(p.name.split("-")[1] for p in log_dir.iterdir())
    assert [r["status"] for r in rows] == ["ok", "failed", "ok"]
    assert ran == sorted([run_id(configs[0]), run_id(configs[2])])
    assert "died" in read_json(crashed / "failed.json")["error"].lower()
    assert not (crashed / "metrics.json").exists()
    assert [r["status"] for r in read_csv(tmp_path / "out/results.csv")] == [
        r["status"] for r in rows
    ]


def test_ray_interrupted_sweep_resumes_with_only_the_missing_trials(
    ray_instance, tmp_path, monkeypatch
):
    from tinygrad_hlcv.sweep.ray_backend import STOP_HOOK, SweepInterrupted

    log_dir = tmp_path / "log"
    log_dir.mkdir()
    configs = grid_configurations({"log_dir": str(log_dir)}, {"lr": [0.1, 0.01, 0.001, 1e-4]})
    monkeypatch.setenv(STOP_HOOK, "2")
    with pytest.raises(SweepInterrupted):
        run_sweep(FunctionTarget(train_fn), configs, tmp_path / "out", ["lr"], ray_options())
    finished = {p.parent.name for p in (tmp_path / "out/runs").glob("*/metrics.json")}
    assert finished == {run_id(c) for c in configs[:2]}
    monkeypatch.delenv(STOP_HOOK)
    rows = run_sweep(FunctionTarget(train_fn), configs, tmp_path / "out", ["lr"], ray_options())
    assert [r["status"] for r in rows] == ["skipped (done before)"] * 2 + ["ok"] * 2
    assert sorted(p.name.split("-")[1] for p in log_dir.iterdir()) == sorted(map(run_id, configs))
    assert len(read_csv(tmp_path / "out/results.csv")) == 4


def test_ray_asha_stops_the_lagging_trials_and_records_them(ray_instance, tmp_path):
    """One trial at a time, so ASHA's decisions follow from the reports alone: the first
    (final accuracy 1.0) sets the first rung's cutoff (0.25 after one of 4 epochs); the
    next two report 0.083 and 0.125 there and are stopped."""
    configs = grid_configurations({"epochs": 4}, {"lr": [0.01, 1e-4, 0.1]})
    options = ray_options(scheduler="asha", max_epochs=4, workers=1)
    rows = run_sweep(FunctionTarget(train_fn), configs, tmp_path, ["lr"], options)
    assert [r["status"] for r in rows] == ["ok"] + ["stopped early (asha)"] * 2
    assert [r["metrics"]["val_acc"] for r in rows] == [1.0, score(configs[1]) / 4, 0.125]
    assert [r["metrics"]["epoch"] for r in rows[1:]] == [1, 1]
    again = run_sweep(FunctionTarget(train_fn), configs, tmp_path, ["lr"], options)
    assert [r["status"] for r in again] == ["skipped (done before)"] * 3  # not trained again
