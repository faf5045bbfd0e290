"""Reliability: every bad input ends in a message that says what was wrong and what was
expected, raised as one of the framework's own exceptions (TinygradError subclasses); never
a NumPy traceback from deep inside, a silent NaN, or a lost run.

One test per bad input, each asserting the exception type and the message's content.
The CIFAR-10 data are tiny fakes (tests/cifar_fakes.py); nothing touches the network.
"""

import gc
import hashlib
import math
import os
import random
import signal
import subprocess
import tarfile
import tracemalloc
import warnings
import weakref

import numpy as np
import pytest

import tinygrad_hlcv as tg
from cifar_fakes import announcement, command, load_example, mlp, read_json, write_fake_cifar
from tinygrad_hlcv import Tensor, detect_anomaly, kernels, nn, optim, reference
from tinygrad_hlcv.data import BatchIterator, DataError, download_cifar10, load_cifar10
from tinygrad_hlcv.errors import (
    AnomalyError,
    ConfigError,
    DTypeError,
    GraphError,
    LabelError,
    ShapeError,
    TinygradError,
)
from tinygrad_hlcv.training import DivergedError, fit
from tinygrad_hlcv.training.checkpoint import CheckpointError, load_checkpoint

TIMEOUT = 120
SMALL = [
    "--num-train",
    "150",
    "--num-val",
    "50",
    "--batch-size",
    "20",
    "--hidden",
    "16",
    "--no-progress",
]


def raised(excinfo):
    """The message of an exception caught with pytest.raises, checked to be ours."""
    assert isinstance(excinfo.value, TinygradError)
    return str(excinfo.value)


def blobs(n=300, d=20, k=3, seed=0):
    """k Gaussian blobs in d dimensions, float32; 240 training and 60 validation rows."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, 0.6, (k, d))
    y = rng.permutation(np.arange(n) % k)
    X = (centers[y] + rng.normal(size=(n, d))).astype(np.float32)
    return X[:240], y[:240], X[240:], y[240:]


@pytest.fixture
def strict_numerics():
    """Any NumPy floating-point warning or error is a test failure."""
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        yield


# ============================================================ shapes


def test_linear_with_mismatched_inner_dimension_names_both_shapes():
    layer = nn.Linear(3, 2)
    with pytest.raises(ShapeError) as info:
        layer(Tensor(np.zeros((4, 5), np.float32)))
    assert raised(info) == (
        "Linear: input of shape (4, 5) does not fit weight of shape (3, 2); "
        "expected input (batch, 3)"
    )


def test_matmul_with_mismatched_inner_dimension_names_both_shapes():
    with pytest.raises(ShapeError) as info:
        Tensor(np.zeros((2, 3))) @ Tensor(np.zeros((4, 5)))
    assert raised(info) == (
        "matmul: cannot multiply shapes (2, 3) and (4, 5); expected "
        "(..., n, k) @ (..., k, m) with the same k, got k = 3 and 4"
    )


@pytest.mark.parametrize("shape", [(), (4,), (2, 3, 4)])
def test_logits_that_are_not_2d(shape):
    with pytest.raises(ShapeError) as info:
        nn.SoftmaxCrossEntropy()(Tensor(np.zeros(shape, np.float32)), np.array([0]))
    assert raised(info) == (
        f"softmax cross-entropy needs 2-D logits (batch, classes), got shape {shape}"
    )


def test_labels_whose_length_differs_from_the_batch_name_both():
    with pytest.raises(LabelError) as info:
        nn.SoftmaxCrossEntropy()(Tensor(np.zeros((3, 4))), np.array([0, 1]))
    assert raised(info) == (
        "labels of shape (2,) do not match a batch of 3 logits; expected shape (3,)"
    )


@pytest.mark.parametrize(
    "labels, message",
    [
        (
            np.array([0.0, 1.5, 2.0]),
            "labels must be integers (class indices in [0, 3]), got dtype "
            "float64 with values in [0.0, 2.0]; convert them with "
            ".astype(np.int64)",
        ),
        (np.array([0, -1, 2]), "labels must lie in [0, 3] for 4 classes, got values in [-1, 2]"),
        (np.array([0, 4, 2]), "labels must lie in [0, 3] for 4 classes, got values in [0, 4]"),
        (
            np.array([7, 9, 8], np.uint8),
            "labels must lie in [0, 3] for 4 classes, got values in [7, 9]",
        ),
        (
            np.array([True, False, True]),
            "labels must be integers (class indices in [0, 3]), got "
            "dtype bool with values in [False, True]; convert them "
            "with .astype(np.int64)",
        ),
        (
            np.array(["0", "1", "2"]),
            "labels must be integers (class indices in [0, 3]), got dtype <U1",
        ),
    ],
    ids=["float", "negative", "too_large", "too_large_uint8", "bool", "text"],
)
def test_bad_label_values_name_their_range(labels, message):
    with pytest.raises(LabelError) as info:
        nn.SoftmaxCrossEntropy()(Tensor(np.zeros((3, 4))), labels)
    assert raised(info) == message


def test_empty_batch_into_linear():
    with pytest.raises(ShapeError) as info:
        nn.Linear(3, 2)(Tensor(np.zeros((0, 3), np.float32)))
    assert raised(info) == "Linear: empty batch (input shape (0, 3)); expected at least one row"


def test_empty_batch_into_the_loss():
    with pytest.raises(ShapeError) as info:
        nn.SoftmaxCrossEntropy()(Tensor(np.zeros((0, 10), np.float32)), np.zeros(0, np.int64))
    assert raised(info) == (
        "softmax cross-entropy of an empty batch (logits shape (0, 10)); expected at least one row"
    )


# ============================================================ the graph


def test_backward_on_a_non_scalar_without_a_gradient():
    y = Tensor(np.ones((2, 3)), requires_grad=True) * 2.0
    with pytest.raises(GraphError) as info:
        y.backward()
    assert raised(info) == (
        "backward() without a gradient needs a scalar, got shape (2, 3); "
        "reduce it (e.g. .sum()) or pass backward(grad) with a gradient of "
        "that shape"
    )


def test_second_backward_through_a_freed_graph():
    x = Tensor(np.ones(3), requires_grad=True)
    loss = (x * x).sum()
    loss.backward()
    with pytest.raises(GraphError) as info:
        loss.backward()
    assert "already freed by an earlier backward()" in raised(info)
    assert "pass retain_graph=True to the first call" in raised(info)


@pytest.mark.parametrize("dtype", [np.int64, np.uint8, np.bool_])
def test_requires_grad_on_an_integer_tensor(dtype):
    with pytest.raises(DTypeError) as info:
        Tensor(np.array([1, 0], dtype=dtype), requires_grad=True)
    assert raised(info) == (
        f"only float tensors can require gradients, got dtype "
        f"{np.dtype(dtype)}; convert with dtype=np.float32 or np.float64"
    )


# ============================================================ hyperparameters


@pytest.mark.parametrize(
    "p, shown", [(-0.1, "-0.1"), (1, "1"), (1.5, "1.5"), (float("nan"), "nan"), ("0.5", "'0.5'")]
)
def test_dropout_probability_outside_0_1(p, shown):
    with pytest.raises(ConfigError) as info:
        nn.Dropout(p)
    assert raised(info) == (
        f"Dropout: p is the probability of dropping a unit and must be a "
        f"number in [0, 1), got {shown}"
    )


@pytest.mark.parametrize("make", [optim.SGD, optim.Adam], ids=["SGD", "Adam"])
@pytest.mark.parametrize(
    "lr, shown",
    [(0, "0"), (-1e-3, "-0.001"), (float("nan"), "nan"), (float("inf"), "inf"), ("fast", "'fast'")],
)
def test_learning_rate_not_positive(make, lr, shown):
    with pytest.raises(ConfigError) as info:
        make(mlp().parameters(), lr=lr)
    assert raised(info) == f"learning rate must be > 0 (a finite number), got {shown}"


@pytest.mark.parametrize(
    "flag, value, choices",
    [
        ("--activation", "tanh", "'relu', 'leaky_relu', 'gelu'"),
        ("--optimizer", "rmsprop", "'sgd', 'momentum', 'nesterov', 'adam'"),
    ],
)
def test_unknown_name_on_the_command_line_lists_the_choices(flag, value, choices, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_example("cifar_mlp").main([flag, value, "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"error: argument {flag}: invalid choice: '{value}' (choose from {choices})" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--iters", "0"),
        ("--epochs", "-2"),
        ("--num-val", "-1"),
        ("--seed", "x"),
        ("--num-train", "0"),
    ],
)
def test_non_positive_counts_on_the_command_line(flag, value, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_example("cifar_mlp").main([flag, value, "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    low = 0 if flag in ("--seed", "--num-val") else 1  # --num-val 0: no validation set
    assert (
        f"error: argument {flag}: expected an integer >= {low}, got '{value}'"
        in capsys.readouterr().err
    )


# ============================================================ data and checkpoints


def _damage(path, how):
    data = path.read_bytes()
    path.write_bytes(
        data[: len(data) // 3]
        if how == "truncated"
        else bytes(np.random.default_rng(0).integers(0, 256, 500, np.uint8))
    )


@pytest.mark.parametrize("how", ["truncated", "garbage"])
def test_damaged_cifar_batch_names_the_file_and_what_was_expected(tmp_path, how):
    root = write_fake_cifar(tmp_path / "cifar-10-batches-py")
    _damage(root / "data_batch_2", how)
    with pytest.raises(DataError) as info:
        load_cifar10(root, download=False)
    msg = raised(info)
    assert msg.startswith(
        f"cannot unpickle CIFAR-10 file {root / 'data_batch_2'} (truncated or corrupt?): "
    )
    assert msg.endswith(
        "expected a batch of the official 'cifar-10-batches-py' archive: "
        "delete it and download the archive again"
    )


def test_damaged_cifar_batch_is_a_one_line_error_of_the_example(tmp_path, capsys):
    root = write_fake_cifar(tmp_path / "cifar-10-batches-py")
    _damage(root / "test_batch", "truncated")
    code = load_example("cifar_mlp").main(
        [*SMALL, "--iters", "5", "--data-dir", str(root), "--out", str(tmp_path / "out")]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"error: cannot unpickle CIFAR-10 file {root / 'test_batch'}")
    assert len(err.strip().splitlines()) == 1


def test_md5_mismatch_deletes_the_download_and_says_so(tmp_path):
    source = write_fake_cifar(tmp_path / "src" / "cifar-10-batches-py")
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname="cifar-10-batches-py")
    actual = hashlib.md5(archive.read_bytes()).hexdigest()
    cache = tmp_path / "cache"
    with pytest.raises(DataError) as info:
        download_cifar10(cache, url=archive.as_uri(), md5="0" * 32, progress=False)
    assert raised(info) == (
        f"MD5 mismatch for {archive.as_uri()}: expected {'0' * 32}, got "
        f"{actual}; the downloaded file was deleted"
    )
    assert os.listdir(cache) == []  # no archive, no half-extracted folder


def test_checkpoint_of_another_architecture_is_refused_naming_parameters_and_shapes(
    data_dir, tmp_path, capsys
):
    cifar_mlp = load_example("cifar_mlp")
    out = tmp_path / "out"
    common = [*SMALL, "--iters", "6", "--data-dir", str(data_dir), "--out", str(out)]
    assert cifar_mlp.main(common) == 0
    saved = (out / "checkpoint.pkl").read_bytes()
    capsys.readouterr()

    assert cifar_mlp.main([*common, "--hidden", "8", "4", "--resume"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith(
        "error: checkpoint does not fit this model: state dict does not fit Sequential: "
    )
    for part in (
        "missing 4.weight (4, 10)",
        "missing 4.bias (10,)",
        "0.weight: checkpoint has shape (3072, 16), model has (3072, 8)",
        "0.bias: checkpoint has shape (16,), model has (8,)",
        "2.weight: checkpoint has shape (16, 10), model has (8, 4)",
        "2.bias: checkpoint has shape (10,), model has (4,)",
    ):
        assert part in err, (part, err)
    assert (out / "checkpoint.pkl").read_bytes() == saved  # refused, and left alone


# ============================================================ numerics


@pytest.mark.parametrize("kernel_set", ["numba", "numpy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_softmax_cross_entropy_of_huge_logits_is_finite_and_exact_without_warnings(
    kernel_set, dtype, seed
):
    rng = np.random.default_rng(seed)
    z = rng.uniform(-1e4, 1e4, (16, 10))
    z[0] = 1e4  # all tied at the top
    z[1] = -1e4  # all tied at the bottom
    z[2, :] = -1e4
    z[2, 3] = 1e4  # one far above the others
    z[3, ::2], z[3, 1::2] = 1e4, -1e4
    z = z.astype(dtype)
    y = rng.integers(0, 10, 16)
    y[2] = 0  # the label's logit is 2e4 below the top: loss 2e4
    expected_loss, expected_grad = reference.softmax_cross_entropy_and_delta(
        z.astype(np.float64), y
    )

    previous = kernels.active
    kernels.select(kernel_set)
    try:
        logits = Tensor(z, requires_grad=True)
        with warnings.catch_warnings(), np.errstate(all="raise"):
            warnings.simplefilter("error")
            loss = nn.SoftmaxCrossEntropy()(logits, y)
            loss.backward()
    finally:
        kernels.active = previous
    assert loss.dtype == dtype and logits.grad.dtype == dtype
    assert math.isfinite(loss.item()) and np.isfinite(logits.grad).all()
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    assert loss.item() == pytest.approx(expected_loss, rel=rtol)
    np.testing.assert_allclose(
        logits.grad, expected_grad, rtol=rtol, atol=1e-8 if dtype == np.float32 else 1e-15
    )


def test_detect_anomaly_names_the_forward_op_that_made_nan(strict_numerics):
    x = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    with detect_anomaly():
        y = x * 2.0
        with pytest.raises(AnomalyError) as info:
            y.log()
    assert raised(info) == (
        "forward of Log produced NaN in 1 of 3 entries (first at index (1,), "
        "shape (3,)); expected finite values: check that op's inputs"
    )


def test_detect_anomaly_names_the_backward_op_that_made_inf(strict_numerics):
    x = Tensor(np.array([4.0, 0.0]), requires_grad=True)
    with detect_anomaly():
        loss = (x**0.5).sum()  # finite forward: sqrt(0) = 0; its gradient 0.5 / sqrt(0) is not
        assert loss.item() == 2.0
        with pytest.raises(AnomalyError) as info:
            loss.backward()
    assert raised(info) == (
        "backward of Pow produced Inf in 1 of 2 entries (first at index (1,), "
        "shape (2,)); expected finite values: check that op's inputs"
    )


def test_detect_anomaly_is_silent_when_everything_is_finite(strict_numerics):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 5)), rng.integers(0, 3, 8)

    def grads(anomaly):
        tg.manual_seed(3)
        model = nn.Sequential(
            nn.Linear(5, 7, dtype=np.float64), nn.LeakyReLU(), nn.Linear(7, 3, dtype=np.float64)
        )
        loss = nn.SoftmaxCrossEntropy()(model(Tensor(X)), y) + nn.l2_penalty(model, 0.1)
        if anomaly:
            with detect_anomaly():
                loss.backward()
        else:
            loss.backward()
        return [p.grad for p in model.parameters()]

    for with_check, without in zip(grads(True), grads(False)):
        np.testing.assert_array_equal(with_check, without)


class JumpLR(optim.LRScheduler):
    """The base rate for `epochs` epochs, then a rate that makes training diverge."""

    def __init__(self, optimizer, epochs, jump_to):
        self.epochs, self.jump_to = epochs, jump_to
        super().__init__(optimizer)

    def get_lr(self):
        return [b if self.last_epoch < self.epochs else self.jump_to for b in self.base_lrs]


def test_diverging_training_stops_and_keeps_the_last_good_checkpoint(tmp_path, strict_numerics):
    Xtr, ytr, Xv, yv = blobs()
    ckpt = tmp_path / "run" / "checkpoint.pkl"
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    with pytest.raises(DivergedError) as info:
        fit(
            model,
            nn.SoftmaxCrossEntropy(),
            opt,
            BatchIterator(Xtr, ytr, 20, rng=0),
            Xtr,
            ytr,
            Xv,
            yv,
            iterations=100,
            iterations_per_epoch=10,
            schedule=JumpLR(opt, 3, 1e12),
            checkpoint=ckpt,
            progress=False,
        )
    msg = raised(info)
    assert msg.startswith("training loss became ") and "at iteration 3" in msg
    assert msg.endswith("lower the learning rate (now 1e+12)")
    state = load_checkpoint(ckpt)
    assert state["iteration"] == 30  # the end of the last epoch with the sane rate
    assert (
        state["optimizer"]["param_groups"][0]["lr"] == 1e12
    )  # (the schedule had stepped: the next rate)
    assert np.isfinite(state["step_loss"]).all() and len(state["step_loss"]) == 30
    assert all(np.isfinite(v).all() for v in state["model"].values())
    assert os.listdir(ckpt.parent) == ["checkpoint.pkl"]


def test_huge_learning_rate_on_the_command_line_is_a_one_line_error(data_dir, env, tmp_path):
    proc = subprocess.run(
        command(
            "cifar_mlp.py",
            *SMALL,
            "--iters",
            50,
            "--lr",
            "1e30",
            "--data-dir",
            data_dir,
            "--out",
            tmp_path / "out",
        ),
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr  # no traceback, no NumPy warnings
    assert proc.stderr.startswith("error: training loss became nan at iteration ")
    assert proc.stderr.rstrip().endswith("lower the learning rate (now 1e+30)")
    assert not (tmp_path / "out" / "metrics.json").exists()


# ============================================================ nothing lost

KILL_RUN = [
    "--num-train",
    "150",
    "--num-val",
    "50",
    "--batch-size",
    "50",
    "--hidden",
    "16",
    "--iters",
    "60",
    "--no-progress",
]  # 3 iterations (and a checkpoint) per epoch
TEST_HOOK = "TINYGRAD_HLCV_TEST_CHECKPOINT_HOOK"  # see training.checkpoint.save_checkpoint


def test_sigkill_at_random_moments_never_breaks_the_checkpoint(data_dir, env, tmp_path):
    """SIGKILL (no handler can run) at seeded moments that no timing decides: the checkpoint
    test hook makes the N-th save of a run wait (for a line on stdin that never comes)
    halfway through writing its temporary file, or right after its rename; the run is
    killed there, or during its start-up (it cannot get past the wait either). The
    checkpoint is always absent or whole and holds exactly the saves that completed, a
    killed write leaves at most its own temporary file (never taken for the checkpoint),
    and --resume ends with the very result of an uninterrupted run."""
    out, reference_out = tmp_path / "killed", tmp_path / "reference"
    base = command("cifar_mlp.py", *KILL_RUN, "--data-dir", data_dir)
    popen = dict(
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    reference_run = subprocess.Popen([*base, "--out", str(reference_out)], env=env, **popen)
    rng = random.Random(1234)
    kills = [
        (phase, rng.randint(1, 3))
        for phase in ("start-up", "mid-write", "mid-write", "saved", "saved")
    ]
    rng.shuffle(kills)  # 5 runs, at most 5 × 3 saves of 3 iterations: never all 60
    checkpoint, stale, last_iteration = out / "checkpoint.pkl", set(), 0
    try:
        for phase, n in kills:
            resume = ["--resume"] if checkpoint.exists() else []
            hook = f"mid-write:{n}" if phase == "mid-write" else f"saved:{n}"
            proc = subprocess.Popen(
                [*base, "--out", str(out), *resume], env={**env, TEST_HOOK: hook}, **popen
            )
            try:
                if phase != "start-up":  # else killed at once: anywhere up to its wait
                    paused_at = last_iteration + 3 * n
                    assert (
                        announcement(proc, f"checkpoint {phase} {n} ")
                        == f"checkpoint {phase} {n} {paused_at}"
                    ), proc.communicate(timeout=TIMEOUT)
                proc.send_signal(signal.SIGKILL)
                _, stderr = proc.communicate(timeout=TIMEOUT)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            assert proc.returncode == -signal.SIGKILL, stderr  # it had not finished yet

            files = set(os.listdir(out)) if out.exists() else set()
            own_temporary = f".checkpoint.tmp-{proc.pid}.pkl"
            new_temporary = files - {"checkpoint.pkl"} - stale
            if phase == "mid-write":  # its half-written file is there, and unreadable
                assert new_temporary == {own_temporary}, files
                with pytest.raises(CheckpointError):
                    load_checkpoint(out / own_temporary)
                saved_iteration = paused_at - 3
            else:
                assert new_temporary <= {own_temporary}, (phase, files)
                saved_iteration = paused_at if phase == "saved" else None
            stale |= new_temporary
            if saved_iteration == 0:
                assert not checkpoint.exists(), files
            elif checkpoint.exists():
                state = load_checkpoint(checkpoint)  # whole, never half-written
                if saved_iteration is not None:  # the last completed save, no other
                    assert state["iteration"] == saved_iteration
                assert last_iteration <= state["iteration"] <= last_iteration + 3 * n
                assert state["iteration"] % 3 == 0  # saved at an epoch's end
                assert len(state["step_loss"]) == state["iteration"]
                assert all(np.isfinite(v).all() for v in state["model"].values())
                last_iteration = state["iteration"]
            else:
                assert phase == "start-up" and last_iteration == 0, files

        finished = subprocess.run(
            [*base, "--out", str(out)] + (["--resume"] if checkpoint.exists() else []),
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert finished.returncode == 0, finished.stdout + finished.stderr
        ref_stdout, ref_stderr = reference_run.communicate(timeout=TIMEOUT)
        assert reference_run.returncode == 0, ref_stdout + ref_stderr
    finally:
        if reference_run.poll() is None:
            reference_run.kill()
            reference_run.wait()

    assert last_iteration > 0 and stale  # (given: the "saved" and "mid-write" kills)
    resumed, uninterrupted = (
        read_json(out / "metrics.json"),
        read_json(reference_out / "metrics.json"),
    )
    assert resumed["iterations"] == 60 and resumed["interrupted"] is False
    # nothing lost, nothing repeated, and no stale temporary file was taken for a checkpoint
    assert resumed["history"] == uninterrupted["history"]
    assert resumed["val_acc"] == uninterrupted["val_acc"]
    assert load_checkpoint(checkpoint)["iteration"] == 60
    assert set(os.listdir(out)) - stale == {
        "checkpoint.pkl",
        "metrics.json",
        "curves.png",
        "weights.png",
    }


def test_sweep_records_a_crashed_worker_and_finishes_the_others(data_dir, tmp_path, sweep, capsys):
    """tests/test_examples_cifar.py covers a configuration refused for its learning rate;
    here the worker fails on the data (more training images than the fake copy holds)."""
    out = tmp_path / "sweep"
    code = sweep.main(
        [
            "--grid",
            "num_train=150,100000",
            "--set",
            "iters=10",
            "--set",
            "num_val=50",
            "--set",
            "batch_size=20",
            "--set",
            "hidden=8",
            "--workers",
            "2",
            "--data-dir",
            str(data_dir),
            "--out",
            str(out),
        ]
    )
    stdout = capsys.readouterr().out
    assert code == 0, stdout
    assert "1 configuration(s) failed; see failed.json in their run directories" in stdout
    failed = list((out / "runs").glob("*/failed.json"))
    assert len(failed) == 1
    error = read_json(failed[0])
    assert error["returncode"] == 1
    assert error["stderr"] == (
        "error: num_train + num_val = 100000 + 50 must be in 1..200 (training images available)\n"
    )
    assert "--num-train" in error["command"] and "100000" in error["command"]
    assert not (failed[0].parent / "metrics.json").exists()
    assert len(list((out / "runs").glob("*/metrics.json"))) == 1  # the other one finished
    rows = (out / "results.csv").read_text().splitlines()
    assert rows[0] == "num_train,val_acc,test_acc,test_acc_first_1000,train_seconds,status"
    assert sorted(row.split(",")[-1] for row in rows[1:]) == ["failed", "ok"]


def test_backward_frees_the_graph_behind_the_loss():
    model = mlp()
    x = Tensor(np.ones((4, 20), np.float32))
    hidden = model[1](model[0](x))
    loss = nn.SoftmaxCrossEntropy()(model[2](hidden), np.array([0, 1, 2, 0]))
    alive = weakref.ref(hidden)
    del hidden
    loss.backward()
    gc.collect()
    assert alive() is None  # freed although the loss itself is still referenced
    assert loss._ctx is None


def test_memory_stays_flat_over_hundreds_of_training_steps():
    model = mlp((20, 64, 64, 3))
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.SoftmaxCrossEntropy()
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((256, 20)).astype(np.float32), rng.integers(0, 3, 256)

    def steps(start, stop):
        for i in range(start, stop):
            rows = slice(i * 32 % 256, i * 32 % 256 + 32)
            opt.zero_grad()
            loss = loss_fn(model(Tensor(X[rows])), y[rows]) + nn.l2_penalty(model, 1e-3)
            loss.backward()
            opt.step()

    tracemalloc.start()
    try:
        steps(0, 50)  # warm-up: optimizer buffers, caches
        gc.collect()
        after_50 = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        steps(50, 300)
        gc.collect()
        after_300, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # one step's graph holds ~60 KB of activations and gradients: 250 leaked graphs would be
    # MBs, and even 130 bytes kept per step would exceed the tolerance (NumPy's and Python's
    # caches move by ~10 KB)
    assert after_300 - after_50 < 32 * 1024, (after_50, after_300)
    assert peak - after_50 < 512 * 1024, (after_50, peak)
