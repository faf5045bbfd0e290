"""examples/cifar_mlp.py and examples/sweep.py end to end on a tiny fake CIFAR-10 copy
(never the real data, never the network)."""

import csv
import os
import pickle
import re
import signal
import subprocess
import urllib.error
from types import SimpleNamespace

import numpy as np
import pytest

from cifar_fakes import announcement, command, load_example, read_json
from tinygrad_hlcv import nn, optim
from tinygrad_hlcv.data import cifar10 as cifar_mod
from tinygrad_hlcv.data import zca_matrix
from tinygrad_hlcv.optim import lr_scheduler
from tinygrad_hlcv.training.checkpoint import load_checkpoint

TIMEOUT = 600  # a hang guard, not a speed bound (the machine may be shared)
SMALL = ["--num-train", "150", "--num-val", "50", "--batch-size", "20", "--hidden", "16"]


def run(script, *args, env, cwd):
    return subprocess.run(
        command(script, *args), env=env, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT
    )


def ok(proc):
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def states_equal(a, b):
    return a.keys() == b.keys() and all(
        a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in a
    )


@pytest.fixture(scope="module")
def cifar_mlp():
    return load_example("cifar_mlp")


# ----------------------------------------------------------------- cifar_mlp.py


def test_cifar_mlp_trains_and_writes_report_files(data_dir, env, tmp_path):
    out = tmp_path / "out"
    stdout = ok(
        run(
            "cifar_mlp.py",
            "--data-dir",
            data_dir,
            *SMALL,
            "--iters",
            30,
            "--out",
            out,
            "--no-progress",
            env=env,
            cwd=tmp_path,
        )
    )
    val = float(re.search(r"^validation accuracy: (\d\.\d{4})$", stdout, re.M).group(1))
    test = float(re.search(r"^test accuracy: (\d\.\d{4})", stdout, re.M).group(1))
    assert "150 train, 50 validation, 40 test, 3072 features" in stdout
    assert "30 iterations, 7 per epoch" in stdout

    metrics = read_json(out / "metrics.json")
    for key in ("config", "history", "val_acc", "test_acc", "train_seconds"):
        assert key in metrics
    assert metrics["val_acc"] == pytest.approx(val, abs=5e-5)
    assert metrics["test_acc"] == pytest.approx(test, abs=5e-5)
    assert 0.0 <= metrics["val_acc"] <= 1.0 and metrics["train_seconds"] > 0
    config = metrics["config"]
    assert config["hidden"] == [16] and config["iters"] == 30 and config["batch_size"] == 20
    assert config["num_train"] == 150 and config["num_val"] == 50
    history = metrics["history"]
    assert len(history["step_loss"]) == 30 and len(history["loss"]) == 5
    assert len(history["val_acc"]) == len(history["train_acc"]) == len(history["lr"]) == 5
    assert metrics["iterations"] == 30 and metrics["interrupted"] is False
    assert max(history["val_acc"]) > 0.2  # the fake classes are learnable; chance is 0.1

    for png in ("curves.png", "weights.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    state = load_checkpoint(out / "checkpoint.pkl")
    assert state["iteration"] == 30 and state["extra"]["config"] == config
    assert sorted(os.listdir(out)) == [
        "checkpoint.pkl",
        "curves.png",
        "metrics.json",
        "weights.png",
    ]  # no temporary files left


def test_resume_after_sigint_matches_uninterrupted_run(data_dir, env, tmp_path):
    """Ctrl-C at a moment no timing decides: the checkpoint test hook makes the run wait
    (for a line on stdin) right after its first save, at iteration 15; it gets SIGINT there,
    then the line, and stops there."""
    # 15 iterations per epoch, so the first checkpoint comes early and much is left
    args = ["--data-dir", data_dir, *SMALL, "--batch-size", 10, "--iters", 240]
    full_out, split_out = tmp_path / "full", tmp_path / "split"
    popen = dict(
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    full = subprocess.Popen(
        command("cifar_mlp.py", *args, "--out", full_out, "--no-progress"), env=env, **popen
    )
    split = subprocess.Popen(
        command("cifar_mlp.py", *args, "--out", split_out, "--no-progress"),
        env={**env, "TINYGRAD_HLCV_TEST_CHECKPOINT_HOOK": "saved:1"},
        **popen,
    )
    try:
        checkpoint = split_out / "checkpoint.pkl"
        assert announcement(split, "checkpoint saved 1 ") == "checkpoint saved 1 15", (
            split.communicate(timeout=TIMEOUT)
        )
        split.send_signal(signal.SIGINT)  # Ctrl-C, while it waits
        stdout, stderr = split.communicate("go on\n", timeout=TIMEOUT)
        assert split.returncode == 0, stdout + stderr
        full_stdout, full_stderr = full.communicate(timeout=TIMEOUT)
        assert full.returncode == 0, full_stdout + full_stderr
    finally:
        for proc in (full, split):
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    stopped = read_json(split_out / "metrics.json")
    assert stopped["interrupted"] is True and stopped["iterations"] == 15, stopped
    assert "stopping after this step" in stdout and "interrupted after 15 iterations" in stdout
    assert "--resume" in stdout and "Traceback" not in stderr
    assert load_checkpoint(checkpoint)["iteration"] == stopped["iterations"]

    resumed = run("cifar_mlp.py", *args, "--out", split_out, "--resume", env=env, cwd=tmp_path)
    ok(resumed)
    # it went on from the checkpoint: its progress bar starts there, not at 0
    assert re.search(r"(\d+)/240", resumed.stderr).group(1) == str(stopped["iterations"])
    a, b = read_json(full_out / "metrics.json"), read_json(split_out / "metrics.json")
    assert b["interrupted"] is False and a["iterations"] == b["iterations"] == 240
    assert (a["val_acc"], a["test_acc"], a["best_epoch"]) == (
        b["val_acc"],
        b["test_acc"],
        b["best_epoch"],
    )
    assert a["history"] == b["history"] and len(a["history"]["step_loss"]) == 240
    ca, cb = load_checkpoint(full_out / "checkpoint.pkl"), load_checkpoint(checkpoint)
    assert ca["iteration"] == cb["iteration"] == 240
    assert states_equal(ca["model"], cb["model"])  # the last weights, bit for bit
    assert states_equal(ca["best"][2], cb["best"][2])
    assert ca["extra"] == cb["extra"]


def test_missing_data_dir_is_a_clear_error(data_dir, env, tmp_path):
    nowhere = tmp_path / "no" / "cifar"
    proc = run(
        "cifar_mlp.py",
        "--data-dir",
        nowhere,
        *SMALL,
        "--iters",
        5,
        "--out",
        tmp_path / "out",
        "--no-progress",
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: CIFAR-10 not found. Looked in:")
    assert f"root argument: {nowhere}" in proc.stderr
    assert "CIFAR10_DIR" in proc.stderr and "--data-dir" in proc.stderr  # how to fix it
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_missing_data_lists_every_place_looked(cifar_mlp, tmp_path, monkeypatch, capsys):
    """No --data-dir: $CIFAR10_DIR and the cache are searched, and the download fails
    (here by design: the network is never touched)."""
    monkeypatch.setenv("CIFAR10_DIR", str(tmp_path / "env_dir"))
    monkeypatch.setenv("TINYGRAD_HLCV_DATA", str(tmp_path / "cache"))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("network unreachable")

    monkeypatch.setattr(cifar_mod, "download_cifar10", offline)
    code = cifar_mlp.main([*SMALL, "--iters", "5", "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: CIFAR-10 not found. Looked in:")
    assert f"$CIFAR10_DIR: {tmp_path / 'env_dir'}" in err
    assert str(tmp_path / "cache" / "cifar-10-batches-py") in err
    assert "network unreachable" in err


def test_unknown_activation_is_an_argparse_error(cifar_mlp, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cifar_mlp.main(["--activation", "tanh", "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--activation" in err and "invalid choice: 'tanh'" in err and "usage:" in err
    assert not (tmp_path / "out").exists()


def test_preset_deep_leaky_builds_three_hidden_leaky_layers(cifar_mlp):
    args = cifar_mlp.build_parser().parse_args(["--preset", "deep_leaky", "--iters", "5"])
    config = cifar_mlp.config_from_args(args)
    assert config["iters"] == 5 and config["epochs"] is None  # --iters overrides the epochs
    assert config["hidden"] == [550, 128, 100] and config["activation"] == "leaky_relu"
    assert config["optimizer"] == "adam" and config["init_std"] is None
    model = cifar_mlp.build_model(config, 3072)
    linears = nn.linear_layers(model)
    assert [(l.in_features, l.out_features) for l in linears] == [
        (3072, 550),
        (550, 128),
        (128, 100),
        (100, 10),
    ]
    kinds = [type(layer).__name__ for layer in model]
    assert kinds == ["Linear", "LeakyReLU"] * 3 + ["Linear"]
    assert isinstance(cifar_mlp.build_optimizer(config, model.parameters()), optim.Adam)

    preset_only = cifar_mlp.config_from_args(
        cifar_mlp.build_parser().parse_args(["--preset", "deep_leaky"])
    )
    assert preset_only["epochs"] == 25 and preset_only["iters"] is None


def test_explicit_flags_override_the_preset(cifar_mlp):
    parse = cifar_mlp.build_parser().parse_args
    config = cifar_mlp.config_from_args(
        parse(
            [
                "--preset",
                "deep_leaky",
                "--hidden",
                "32",
                "8",
                "--activation",
                "relu",
                "--dropout",
                "0.5",
                "--optimizer",
                "nesterov",
                "--epochs",
                "2",
            ]
        )
    )
    assert config["hidden"] == [32, 8] and config["epochs"] == 2 and config["iters"] is None
    model = cifar_mlp.build_model(config, 12)
    assert [type(layer).__name__ for layer in model] == [
        "Linear",
        "ReLU",
        "Dropout",
        "Linear",
        "ReLU",
        "Dropout",
        "Linear",
    ]
    opt = cifar_mlp.build_optimizer(config, model.parameters())
    assert isinstance(opt, optim.SGD) and opt.nesterov and opt.momentum == 0.9
    default = cifar_mlp.config_from_args(parse(["--epochs", "3"]))
    assert default["epochs"] == 3 and default["iters"] is None and default["hidden"] == [100]
    with pytest.raises(SystemExit) as exit_info:
        parse(["--iters", "5", "--epochs", "2"])  # mutually exclusive
    assert exit_info.value.code == 2


# ----------------------------------------------------------------- the frontier preset


def test_the_rows_cifar_mlp_feeds_the_model_are_hwc_images(cifar_mlp, data_dir):
    """The official rows are channel-major (C, H, W); what the example trains on (and what
    TTA mirrors along axis 2 of (N, 32, 32, 3)) is (H, W, C): checked pixel by pixel."""
    with open(os.path.join(data_dir, "data_batch_1"), "rb") as f:
        raw = pickle.load(f)["data"]
    config = dict(cifar_mlp.DEFAULTS, num_train=40, num_val=0, normalize="channel")
    splits = cifar_mlp.prepare_data(config, data_dir, log=lambda message: None)[0]
    mean, std = (np.asarray(v, np.float32) for v in splits.channel_stats)
    images = splits.X_train.reshape(-1, *cifar_mlp.IMAGE_SHAPE) * std + mean
    for n, c, h, w in [(0, 0, 0, 0), (3, 1, 5, 30), (39, 2, 31, 7), (12, 0, 17, 31)]:
        assert images[n, h, w, c] == pytest.approx(raw[n, c * 1024 + h * 32 + w], abs=1e-3)


def test_per_channel_normalisation_against_a_float64_reference(cifar_mlp):
    rng = np.random.default_rng(0)
    scale = np.tile(np.array([1.0, 0.5, 0.2], np.float32), 1024)  # channels that differ
    X = rng.integers(0, 256, (300, 3072)).astype(np.float32) * scale
    images = X.reshape(-1, 32, 32, 3).astype(np.float64)
    mean, std = images.mean(axis=(0, 1, 2)), images.std(axis=(0, 1, 2))
    splits = SimpleNamespace(X_train=X.copy(), X_val=X[:0].copy(), X_test=X[:7].copy())
    got_mean, got_std = cifar_mlp.normalize_channels(splits)
    np.testing.assert_allclose(got_mean, mean, rtol=1e-12)
    np.testing.assert_allclose(got_std, std, rtol=1e-9)
    expected = ((images - mean) / std).reshape(300, -1)
    np.testing.assert_allclose(splits.X_train, expected, atol=2e-6)
    np.testing.assert_allclose(splits.X_test, expected[:7], atol=2e-6)


def test_frontier_preset_builds_the_issue_13_recipe(cifar_mlp):
    config = cifar_mlp.config_from_args(
        cifar_mlp.build_parser().parse_args(["--preset", "frontier"])
    )
    assert config["time_budget"] == 560 and config["iters"] is None and config["epochs"] is None
    assert (config["num_train"], config["num_val"], config["batch_size"]) == (50000, 0, 256)
    assert config["augment"] and config["normalize"] == "zca" and not config["replacement"]
    assert config["zca_eps"] == 3.0
    assert config["checkpoint_every"] == 10 and config["label_smoothing"] == 0.1
    model, opt, schedule = cifar_mlp.build_training(config, 3072, None, 195)
    kinds = [type(layer).__name__ for layer in model]
    assert kinds == ["Flatten"] + ["Linear", "BatchNorm1d", "ReLU"] * 2 + ["Linear"]
    linears = nn.linear_layers(model)
    assert [(l.in_features, l.out_features) for l in linears] == [
        (3072, 1024),
        (1024, 1024),
        (1024, 10),
    ]
    assert [l.bias is None for l in linears] == [True, True, False]  # bias-free before BN
    assert isinstance(opt, optim.SGD) and opt.nesterov and opt.momentum == 0.9
    decayed, plain = opt.param_groups
    assert decayed["weight_decay"] == 5e-4 and plain["weight_decay"] == 0.0
    assert {id(p) for p in decayed["params"]} == {id(l.weight) for l in linears}
    assert len(plain["params"]) == 2 * 2 + 1  # BatchNorm's scales and shifts, the last bias
    assert isinstance(schedule, lr_scheduler.BudgetedOneCycleLR) and schedule.pct_start == 0.15
    assert opt.lr == 0.0 and schedule.max_lrs == [0.1, 0.1]
    loss = cifar_mlp.build_loss(config, model)
    assert isinstance(loss, nn.CrossEntropyLoss) and loss.label_smoothing == 0.1


def test_frontier_run_on_a_time_budget_without_validation(cifar_mlp, data_dir, tmp_path, capsys):
    """A small frontier run in process: a time budget ends it (how many steps fit in it
    depends on the machine; nothing below does), all training images, no validation set,
    accuracy with and without TTA on all the test images, the times in metrics.json."""
    out = tmp_path / "out"
    argv = ["--preset", "frontier", "--data-dir", str(data_dir), "--num-train", "200"]
    argv += ["--hidden", "16", "16", "--batch-size", "32", "--time-budget", "0.3"]
    assert cifar_mlp.main([*argv, "--out", str(out), "--no-progress"]) == 0
    stdout = capsys.readouterr().out
    metrics = read_json(out / "metrics.json")
    assert metrics["stopped"] == "time_budget" and not metrics["interrupted"]
    assert metrics["val_acc"] is None and metrics["best_epoch"] is None
    assert metrics["test_size"] == 40 and 0 <= metrics["test_acc_tta"] <= 1
    assert metrics["iterations"] >= 1 and metrics["epochs"] == len(metrics["history"]["lr"])
    assert (
        metrics["train_seconds"] >= 0.3 and metrics["seconds"]["train"] == metrics["train_seconds"]
    )
    assert set(metrics["seconds"]) == {"load", "train", "epoch_eval", "eval", "figures"}
    history = metrics["history"]
    assert "val_acc" not in history and "train_acc" not in history  # nothing measured per epoch
    assert len(history["acc"]) == metrics["epochs"] and metrics["seconds"]["epoch_eval"] < 1
    assert "validation accuracy: none" in stdout and "test accuracy with flip TTA: " in stdout
    assert "stopped by time_budget" in stdout
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_ablation_flags_switch_the_frontier_ingredients_off(cifar_mlp):
    """Each row of the frontier ablation is one flag: the flags must reach the config, and a
    length asked for must replace the preset's time budget (else the schedule would follow
    a budget the run never spends)."""
    parse = cifar_mlp.build_parser().parse_args
    argv = ["--preset", "frontier", "--epochs", "8", "--no-augment", "--no-batchnorm"]
    argv += ["--normalize", "channel", "--activation", "gelu"]
    config = cifar_mlp.config_from_args(parse(argv))
    assert config["time_budget"] is None and config["epochs"] == 8
    assert not config["augment"] and not config["batchnorm"] and config["normalize"] == "channel"
    kinds = [type(layer).__name__ for layer in cifar_mlp.build_model(config, 3072)]
    assert kinds == ["Linear", "GELU", "Linear", "GELU", "Linear"]
    budgeted = cifar_mlp.config_from_args(parse(["--preset", "frontier", "--epochs", "8"]))
    kept = cifar_mlp.config_from_args(
        parse(["--preset", "frontier", "--epochs", "8", "--time-budget", "30"])
    )
    assert budgeted["time_budget"] is None and kept["time_budget"] == 30
    for bad in ("0", "-1", "nan"):
        with pytest.raises(SystemExit, match="zca-eps"):
            cifar_mlp.config_from_args(parse(["--preset", "frontier", "--zca-eps", bad]))


def test_zca_normalisation_whitens_every_split_with_the_training_matrix(cifar_mlp, data_dir):
    config = dict(cifar_mlp.DEFAULTS, num_train=60, num_val=10, normalize="zca", zca_eps=0.5)
    splits = cifar_mlp.prepare_data(config, data_dir, log=lambda message: None)[0]
    plain = cifar_mlp.prepare_data(dict(config, normalize="channel"), data_dir, log=print)[0]
    flip = np.arange(3072).reshape(cifar_mlp.IMAGE_SHAPE)[:, ::-1].ravel()
    zca = zca_matrix(plain.X_train, 0.5, mirror=flip)  # from the training rows alone
    for name in ("X_train", "X_val", "X_test"):
        whitened, rows = getattr(splits, name), getattr(plain, name)
        np.testing.assert_allclose(whitened, rows @ zca, atol=1e-4)
        assert not np.allclose(whitened, rows, atol=1e-2)  # it did change them
        np.testing.assert_allclose(whitened[:, flip], rows[:, flip] @ zca, atol=1e-4)


# ----------------------------------------------------------------- sweep.py

SWEEP_SET = [
    "--set",
    "iters=10",
    "--set",
    "num_train=150",
    "--set",
    "num_val=50",
    "--set",
    "batch_size=20",
    "--workers",
    "2",
]


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def finished_lines(stdout, status):
    return re.findall(rf"^ *{re.escape(status)}: ", stdout, re.M)


def test_sweep_writes_results_and_skips_finished_runs(data_dir, env, tmp_path, sweep, capsys):
    out = tmp_path / "sweep"
    args = ["--grid", "hidden=8,12", *SWEEP_SET, "--data-dir", data_dir, "--out", out]
    stdout = ok(run("sweep.py", *args, env=env, cwd=tmp_path))  # the script itself, end to end
    assert "2 configurations" in stdout and len(finished_lines(stdout, "ok")) == 2
    rows = read_csv(out / "results.csv")
    assert len(rows) == 2
    assert sorted(r["hidden"] for r in rows) == ["12", "8"]
    assert all(r["status"] == "ok" for r in rows)
    assert all(0.0 <= float(r["val_acc"]) <= 1.0 for r in rows)
    table = (out / "results.md").read_text().strip().splitlines()
    assert len(table) == 4 and table[0].startswith("| hidden | val_acc")
    assert (out / "accuracy_vs_hidden.png").read_bytes()[:4] == b"\x89PNG"
    metrics_files = sorted((out / "runs").glob("*/metrics.json"))
    assert len(metrics_files) == 2
    configs = [read_json(p)["config"] for p in metrics_files]
    assert sorted(c["hidden"][0] for c in configs) == [8, 12]
    assert all(c["iters"] == 10 and c["num_train"] == 150 for c in configs)
    stamps = [p.stat().st_mtime_ns for p in metrics_files]

    # the rerun (in-process, to save a start-up) skips both finished runs
    assert sweep.main([str(a) for a in args]) == 0
    again = capsys.readouterr().out
    assert len(finished_lines(again, "skipped (done before)")) == 2
    rows = read_csv(out / "results.csv")
    assert len(rows) == 2 and all(r["status"] == "skipped (done before)" for r in rows)
    assert sorted(r["hidden"] for r in rows) == ["12", "8"]
    assert [p.stat().st_mtime_ns for p in metrics_files] == stamps  # nothing was rerun


def test_sweep_records_a_failed_configuration_and_finishes_the_other(
    data_dir, tmp_path, sweep, capsys
):
    out = tmp_path / "sweep"
    code = sweep.main(
        ["--grid", "lr=1e-4,-1", *SWEEP_SET, "--data-dir", str(data_dir), "--out", str(out)]
    )
    stdout = capsys.readouterr().out
    assert code == 0, stdout  # not every configuration failed
    assert "1 configuration(s) failed" in stdout
    assert len(finished_lines(stdout, "ok")) == 1 and len(finished_lines(stdout, "failed")) == 1
    rows = {r["lr"]: r for r in read_csv(out / "results.csv")}
    assert set(rows) == {"1e-4", "-1"}
    assert rows["1e-4"]["status"] == "ok" and 0.0 <= float(rows["1e-4"]["val_acc"]) <= 1.0
    assert rows["-1"]["status"] == "failed" and rows["-1"]["val_acc"] == ""
    failed = list((out / "runs").glob("*/failed.json"))
    assert len(failed) == 1
    error = read_json(failed[0])
    assert error["returncode"] == 1 and "learning rate must be > 0" in error["stderr"]
    assert "Traceback" not in error["stderr"]
    assert not (failed[0].parent / "metrics.json").exists()
    assert len(list((out / "runs").glob("*/metrics.json"))) == 1
    assert "failed" in (out / "results.md").read_text()


@pytest.mark.parametrize("normalize, noted", [("image", True), ("channel", False)])
def test_flips_of_per_pixel_centred_images_are_noted(cifar_mlp, normalize, noted):
    """mirror(x - mu) is not mirror(x) - mu: with the per-pixel mean subtracted, the flips
    (training and TTA) are centred by the mirrored mean image; the metrics say so."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 32 * 32 * 3)).astype(np.float32)
    splits = SimpleNamespace(X_test=X, y_test=np.arange(6) % 10, X_val=X[:0], y_val=X[:0, 0])
    model = nn.Linear(32 * 32 * 3, 10)
    config = {"augment": True, "normalize": normalize}
    metrics = cifar_mlp.measure(config, model, splits)
    assert 0 <= metrics["test_acc_tta"] <= 1
    assert (metrics["flip_note"] is not None) == noted
    if noted:
        assert "mirror(x - mu) = mirror(x) - mirror(mu)" in metrics["flip_note"]
    no_flips = cifar_mlp.measure({"augment": False, "normalize": normalize}, model, splits)
    assert no_flips["flip_note"] is None and no_flips["test_acc_tta"] is None
