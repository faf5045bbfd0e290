"""examples/cifar_cnn.py end to end on a tiny fake CIFAR-10 copy (tests/cifar_fakes.py): the
report files and metrics, --resume after a Ctrl-C giving the uninterrupted run's result,
and the usage errors."""

import os
import pickle
import re
import signal
import subprocess

import numpy as np
import pytest

from cifar_fakes import announcement, command, load_example, read_json
from tinygrad_hlcv.training.checkpoint import load_checkpoint

TIMEOUT = 600  # a hang guard, not a speed bound (the machine may be shared)
TINY = ["--num-train", "120", "--batch-size", "16", "--widths", "4", "8", "8"]


@pytest.fixture(scope="module")
def cnn():
    return load_example("cifar_cnn")


def ok(proc):
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_course_cnn_trains_and_writes_the_report(cnn, data_dir, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["--data-dir", str(data_dir), *TINY, "--num-val", "40", "--epochs", "2", "--tta"]
    assert cnn.main([*argv, "--out", str(out), "--no-progress"]) == 0
    stdout = capsys.readouterr().out
    assert "120 train, 40 validation, 40 test" in stdout and "2 epochs of 7 steps" in stdout
    metrics = read_json(out / "metrics.json")
    test = float(re.search(r"^test accuracy: (\d\.\d{4}) \(40 images\)", stdout, re.M).group(1))
    assert metrics["test_acc"] == pytest.approx(test, abs=5e-5) and metrics["test_size"] == 40
    assert metrics["test_acc_first_1000"] == metrics["test_acc"]  # 40 < 1,000 images
    assert 0 <= metrics["test_acc_tta"] <= 1 and "flip TTA" in stdout
    assert metrics["val_acc"] is not None and metrics["iterations"] == 14
    assert set(metrics["seconds"]) == {"load", "train", "epoch_eval", "eval", "figures"}
    assert metrics["wall_seconds"] >= metrics["seconds"]["train"] > 0
    config = metrics["config"]
    assert config["preset"] == "course_cnn" and config["widths"] == [4, 8, 8]
    assert config["time_budget"] is None and config["epochs"] == 2
    history = metrics["history"]
    assert len(history["step_loss"]) == 14 and len(history["val_acc"]) == 2
    for png in ("curves.png", "filters.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(os.listdir(out)) == [
        "checkpoint.pkl",
        "curves.png",
        "filters.png",
        "metrics.json",
    ]
    assert load_checkpoint(out / "checkpoint.pkl")["iteration"] == 14


def test_fast_preset_resumes_after_ctrl_c_to_the_uninterrupted_result(data_dir, env, tmp_path):
    """The airbench recipe (Lookahead, alternating flips, the triangular rate by steps):
    the checkpoint test hook makes one run wait after its first save (epoch 1, step 7); it
    gets SIGINT there and stops; --resume then finishes it as the other run did."""
    args = ["--preset", "fast", "--data-dir", data_dir, *TINY, "--epochs", "3", "--no-progress"]
    full_out, split_out = tmp_path / "full", tmp_path / "split"
    popen = dict(
        cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    full = subprocess.Popen(
        command("cifar_cnn.py", *args, "--out", full_out), env=env, text=True, **popen
    )
    split = subprocess.Popen(
        command("cifar_cnn.py", *args, "--out", split_out),
        env={**env, "TINYGRAD_HLCV_TEST_CHECKPOINT_HOOK": "saved:1"},
        text=True,
        **popen,
    )
    try:
        assert announcement(split, "checkpoint saved 1 ", TIMEOUT) == "checkpoint saved 1 7"
        split.send_signal(signal.SIGINT)
        stdout, stderr = split.communicate("go on\n", timeout=TIMEOUT)
        assert split.returncode == 0, stdout + stderr
        full_stdout, full_stderr = full.communicate(timeout=TIMEOUT)
        assert full.returncode == 0, full_stdout + full_stderr
    finally:
        for proc in (full, split):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert "interrupted after 7 iterations" in stdout
    resumed = subprocess.run(
        command("cifar_cnn.py", *args, "--out", split_out, "--resume"),
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    ok(resumed)
    a, b = read_json(full_out / "metrics.json"), read_json(split_out / "metrics.json")
    assert a["iterations"] == b["iterations"] == 21 and b["interrupted"] is False
    assert (a["test_acc"], a["test_acc_tta"]) == (b["test_acc"], b["test_acc_tta"])
    assert a["history"] == b["history"]
    ca = load_checkpoint(full_out / "checkpoint.pkl")
    cb = load_checkpoint(split_out / "checkpoint.pkl")
    assert ca["model"].keys() == cb["model"].keys()
    for key in ca["model"]:
        np.testing.assert_array_equal(ca["model"][key], cb["model"][key])


@pytest.mark.parametrize(
    "flags",
    [
        ["--preset", "airbench"],
        ["--widths", "4", "0", "8"],
        ["--widths", "4", "8"],
        ["--time-budget", "-1"],
        ["--epochs", "two"],
        ["--batch-size", "0"],
    ],
)
def test_bad_flags_are_usage_errors(cnn, flags, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cnn.main([*flags, "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2 and "usage:" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_missing_data_is_an_error_saying_where_it_looked(cnn, tmp_path, capsys):
    code = cnn.main(["--data-dir", str(tmp_path / "nowhere"), "--epochs", "1", "--no-progress"])
    assert code == 1 and "nowhere" in capsys.readouterr().err


def test_the_rows_the_cnn_trains_on_are_chw_images(cnn, data_dir):
    """The official rows are channel-major (C, H, W); prepare_data turns the package's HWC
    rows back into CHW rows (and the NCHW images the augmentation reads, the same memory),
    normalised per channel: checked pixel by pixel, and the mirror TTA uses is along W."""
    with open(os.path.join(data_dir, "data_batch_1"), "rb") as f:
        raw = pickle.load(f)["data"]
    config = {**cnn.DEFAULTS, "num_train": 40, "num_val": 0}
    splits, images = cnn.prepare_data(config, data_dir, log=lambda message: None)
    assert np.shares_memory(images, splits.X_train) and images.shape == (40, 3, 32, 32)
    mean, std = (np.asarray(v, np.float32) for v in splits.channel_stats)
    pixels = images * std[:, None, None] + mean[:, None, None]
    for n, c, h, w in [(0, 0, 0, 0), (3, 1, 5, 30), (39, 2, 31, 7), (12, 0, 17, 31)]:
        assert pixels[n, c, h, w] == pytest.approx(raw[n, c * 1024 + h * 32 + w], abs=1e-3)
    assert abs(float(splits.X_train.mean())) < 1e-3  # per-channel means removed
