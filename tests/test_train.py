"""The training loop (tinygrad_hlcv.train) and checkpoint files (tinygrad_hlcv.checkpoint):
learning, history, best weights, eval mode, schedules, divergence, exact resume after a
Ctrl-C, and files that survive crashes."""

import os
import pickle
import signal
from dataclasses import asdict

import numpy as np
import pytest

import tinygrad_hlcv as tg
from cifar_fakes import mlp
from tinygrad_hlcv import nn, optim
from tinygrad_hlcv.data import BatchIterator
from tinygrad_hlcv.engine import Tensor, is_grad_enabled
from tinygrad_hlcv.errors import ConfigError, ShapeError, TinygradError
from tinygrad_hlcv.training import DivergedError, evaluate, fit, predict, scores
from tinygrad_hlcv.training import checkpoint as checkpoint_mod
from tinygrad_hlcv.training.checkpoint import (
    CheckpointError,
    atomic_path,
    atomic_write_text,
    load_checkpoint,
    save_checkpoint,
)
from tinygrad_hlcv.training.loop import Trainer

# ----------------------------------------------------------------- helpers


def blobs(n=300, d=20, k=3, spread=0.6, seed=0):
    """k Gaussian blobs in d dimensions, float32; 240 train / 60 validation rows."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, 1.0, (k, d)) * spread
    y = np.arange(n) % k
    rng.shuffle(y)
    X = (centers[y] + rng.normal(size=(n, d))).astype(np.float32)
    cut = n * 4 // 5
    return X[:cut], y[:cut], X[cut:], y[cut:]


def images(n=72, k=3, seed=1):
    """Tiny learnable image-shaped data (n, 32, 32, 3) float32; 2/3 train, 1/3 validation."""
    rng = np.random.default_rng(seed)
    templates = rng.normal(0.0, 1.0, (k, 32, 32, 3))
    y = np.arange(n) % k
    rng.shuffle(y)
    X = (0.3 * templates[y] + rng.normal(size=(n, 32, 32, 3))).astype(np.float32)
    cut = n * 2 // 3
    return X[:cut], y[:cut], X[cut:], y[cut:]


def states_equal(a, b):
    return a.keys() == b.keys() and all(
        a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in a
    )


class InterruptAt:
    """Wraps a BatchIterator; its k-th next_batch() sends SIGINT to this process, as a
    user pressing Ctrl-C during that training step would."""

    def __init__(self, inner, k):
        self.inner, self.k, self.calls = inner, k, 0

    def next_batch(self):
        self.calls += 1
        if self.calls == self.k:
            os.kill(os.getpid(), signal.SIGINT)
        return self.inner.next_batch()

    def __len__(self):
        return len(self.inner)

    def state_dict(self):
        return self.inner.state_dict()

    def load_state_dict(self, state):
        self.inner.load_state_dict(state)


class PoisonAt(InterruptAt):
    """Its k-th batch has a NaN in it (as corrupt data would)."""

    def next_batch(self):
        self.calls += 1
        xb, yb = self.inner.next_batch()
        if self.calls == self.k:
            xb = xb.copy()
            xb[0, 0] = np.nan
        return xb, yb


class SnapshotLR(optim.ExponentialLR):
    """An ExponentialLR that also records the model's weights each time it is stepped
    (fit steps it at each epoch's end, right after measuring the accuracies)."""

    def __init__(self, optimizer, gamma, model):
        super().__init__(optimizer, gamma)
        self.model, self.snapshots = model, []

    def step(self):
        self.snapshots.append(self.model.state_dict())
        return super().step()


@pytest.fixture(autouse=True)
def sigint_handler_restored():
    """fit must hand the previous Ctrl-C handler back, whatever happens inside it."""
    before = signal.getsignal(signal.SIGINT)
    yield
    assert signal.getsignal(signal.SIGINT) is before


# ----------------------------------------------------------------- learning


def test_fit_learns_and_records_history():
    Xtr, ytr, Xv, yv = blobs()
    model = mlp()
    chance = evaluate(model, Xv, yv)
    opt = optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    batches = BatchIterator(Xtr, ytr, 20, rng=0)
    assert len(batches) == 12
    result = fit(
        model,
        nn.SoftmaxCrossEntropy(),
        opt,
        batches,
        Xtr,
        ytr,
        Xv,
        yv,
        iterations=60,
        progress=False,
    )
    h = result.history
    assert result.iterations == 60 and not result.interrupted and result.seconds > 0
    assert len(h.loss) == 60  # per iteration
    assert len(h.train_acc) == len(h.val_acc) == len(h.lr) == 60 // 12  # per epoch
    assert all(np.isfinite(h.loss))
    assert np.mean(h.loss[-12:]) < 0.6 * np.mean(h.loss[:12])
    assert chance < 0.5
    assert max(h.val_acc) >= 0.85 and max(h.train_acc) >= 0.85
    assert h.lr == [0.02] * 5  # no schedule: constant
    assert result.best_val_acc == max(h.val_acc)
    assert result.best_epoch == h.val_acc.index(max(h.val_acc)) + 1
    assert evaluate(model, Xv, yv) == result.best_val_acc  # ends with the best weights


def test_epochs_with_a_last_partial_epoch():
    Xtr, ytr, Xv, yv = blobs()
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.02)
    result = fit(
        model,
        nn.SoftmaxCrossEntropy(),
        opt,
        BatchIterator(Xtr, ytr, 20, rng=0),
        Xtr,
        ytr,
        Xv,
        yv,
        iterations=35,
        iterations_per_epoch=10,
        progress=False,
    )
    h = result.history
    assert len(h.loss) == 35
    assert len(h.val_acc) == len(h.train_acc) == len(h.lr) == 4  # ends at 10, 20, 30, 35


def test_fit_rejects_bad_lengths():
    Xtr, ytr, Xv, yv = blobs()
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.02)
    with pytest.raises(ConfigError, match="iterations"):
        fit(
            model,
            nn.SoftmaxCrossEntropy(),
            opt,
            BatchIterator(Xtr, ytr, 20),
            Xtr,
            ytr,
            Xv,
            yv,
            iterations=0,
            progress=False,
        )
    with pytest.raises(ConfigError, match="resume=True needs a checkpoint"):
        fit(
            model,
            nn.SoftmaxCrossEntropy(),
            opt,
            BatchIterator(Xtr, ytr, 20),
            Xtr,
            ytr,
            Xv,
            yv,
            iterations=5,
            resume=True,
            progress=False,
        )


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("reg", True, "reg (the L2 strength λ) must be a finite number >= 0, got True"),
        (
            "reg",
            np.True_,
            f"reg (the L2 strength λ) must be a finite number >= 0, got {np.True_!r}",
        ),
        ("reg", -0.1, "reg (the L2 strength λ) must be a finite number >= 0, got -0.1"),
        ("reg", float("nan"), "reg (the L2 strength λ) must be a finite number >= 0, got nan"),
        ("reg", "0.1", "reg (the L2 strength λ) must be a finite number >= 0, got '0.1'"),
        ("iterations", True, "iterations must be an integer >= 1, got True"),
        ("iterations", 2.5, "iterations must be an integer >= 1, got 2.5"),
        ("iterations", 0, "iterations must be an integer >= 1, got 0"),
        ("iterations_per_epoch", True, "iterations_per_epoch must be an integer >= 1, got True"),
        ("iterations_per_epoch", 0, "iterations_per_epoch must be an integer >= 1, got 0"),
        ("iterations_per_epoch", 2.5, "iterations_per_epoch must be an integer >= 1, got 2.5"),
    ],
)
def test_fit_refuses_a_bool_or_other_non_number_for_a_hyperparameter(name, value, message):
    """A bool is an int to Python, so `reg=True` would silently mean λ = 1."""
    Xtr, ytr, Xv, yv = blobs()
    model = mlp()
    before = model.state_dict()
    opt = optim.SGD(model.parameters(), lr=0.02)
    kwargs = {"iterations": 5, "progress": False, name: value}
    with pytest.raises(ConfigError) as info:
        fit(
            model,
            nn.SoftmaxCrossEntropy(),
            opt,
            BatchIterator(Xtr, ytr, 20),
            Xtr,
            ytr,
            Xv,
            yv,
            **kwargs,
        )
    assert str(info.value) == message
    assert states_equal(model.state_dict(), before)  # refused before any step


def test_trainer_refuses_reg_true_like_fit():
    Xtr, ytr = blobs()[:2]
    model = mlp()
    with pytest.raises(ConfigError, match=r"must be a finite number >= 0, got True"):
        Trainer(
            model,
            nn.SoftmaxCrossEntropy(),
            optim.SGD(model.parameters(), lr=0.1),
            BatchIterator(Xtr, ytr, 20),
            reg=True,
        )


@pytest.mark.parametrize("restore_best", [True, False])
def test_model_ends_with_best_validation_weights(restore_best):
    Xtr, ytr, Xv, yv = blobs()
    yv_wrong = (yv + 1) % 3  # the better the model learns, the worse it does on these
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.01)
    schedule = SnapshotLR(opt, 1.0, model)
    result = fit(
        model,
        nn.SoftmaxCrossEntropy(),
        opt,
        BatchIterator(Xtr, ytr, 20, rng=0),
        Xtr,
        ytr,
        Xv,
        yv_wrong,
        iterations=60,
        iterations_per_epoch=6,
        schedule=schedule,
        progress=False,
        restore_best=restore_best,
    )
    h = result.history
    epochs = len(h.val_acc)
    assert len(schedule.snapshots) == epochs == 10
    assert result.best_epoch == h.val_acc.index(max(h.val_acc)) + 1
    assert result.best_epoch < epochs and h.val_acc[-1] < max(h.val_acc)  # best != last
    best, last = schedule.snapshots[result.best_epoch - 1], schedule.snapshots[-1]
    assert not states_equal(best, last)
    assert states_equal(model.state_dict(), best if restore_best else last)


# ----------------------------------------------------------------- evaluate / predict


class Probe(nn.Module):
    """A Linear layer that records the mode, grad mode and batch shape of every call."""

    def __init__(self, fin, fout):
        self.linear = nn.Linear(fin, fout)
        self.calls, self.fail = [], False

    def forward(self, x):
        out = self.linear(x)
        self.calls.append((self.training, is_grad_enabled(), x.shape, out.requires_grad))
        if self.fail:
            raise RuntimeError("boom")
        return out


def probe_model():
    tg.manual_seed(3)
    return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Dropout(0.5), Probe(6, 3))


def test_predict_and_evaluate_in_eval_mode_without_graph():
    model = probe_model()
    probe = model[3]
    X = np.random.default_rng(0).normal(size=(25, 4)).astype(np.float32)
    model.train()
    preds = predict(model, X, batch_size=10)
    assert [c[2] for c in probe.calls] == [(10, 6), (10, 6), (5, 6)]
    assert all(c[:2] == (False, False) and c[3] is False for c in probe.calls)
    assert model.training and all(layer.training for layer in model)  # restored
    assert is_grad_enabled()
    assert preds.shape == (25,) and np.array_equal(predict(model, X, batch_size=7), preds)
    model.eval()
    expected = model(Tensor(X)).data.argmax(axis=1)  # dropout is the identity in eval mode
    model.train()
    assert np.array_equal(preds, expected)

    y = expected.copy()
    y[:5] = (y[:5] + 1) % 3
    probe.calls.clear()
    assert evaluate(model, X, y, batch_size=10) == pytest.approx(20 / 25)
    assert len(probe.calls) == 3 and all(c[:2] == (False, False) for c in probe.calls)
    assert model.training and is_grad_enabled()

    model.eval()
    predict(model, X)
    assert not model.training and not any(layer.training for layer in model)  # stays eval


def test_predict_restores_training_mode_after_an_error():
    model = probe_model()
    model[3].fail = True
    with pytest.raises(RuntimeError, match="boom"):
        predict(model, np.zeros((3, 4), np.float32))
    assert model.training and all(layer.training for layer in model) and is_grad_enabled()


def test_evaluate_rejects_mismatched_or_empty_data():
    model = probe_model()
    with pytest.raises(ConfigError, match="3 examples and 2 labels"):
        evaluate(model, np.zeros((3, 4), np.float32), np.zeros(2, int))
    with pytest.raises(ConfigError):
        evaluate(model, np.zeros((0, 4), np.float32), np.zeros(0, int))


def test_predict_flattens_images():
    Xtr, ytr, _, _ = images(n=12)
    model = mlp((3072, 4, 3))
    assert np.array_equal(predict(model, Xtr), predict(model, Xtr.reshape(len(Xtr), -1)))


# ----------------------------------------------------------------- test-time augmentation


def mirrored_by_loops(X):
    """The left-right mirror of (N, H, W, C) images, element by element: out[n, h, w, c] =
    X[n, h, W - 1 - w, c] (the reference the vectorised flip is checked against)."""
    out = np.empty_like(X)
    n, h, w, c = X.shape
    for i in range(n):
        for row in range(h):
            for col in range(w):
                out[i, row, col, :] = X[i, row, w - 1 - col, :]
    return out


def softmax_rows(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_tta_averages_the_softmax_over_each_image_and_its_mirror():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(7, 32, 32, 3)).astype(np.float32)
    model = nn.Sequential(nn.Flatten(), *mlp((3072, 8, 5), seed=2))
    model.eval()
    plain = model(Tensor(X.reshape(7, -1))).data
    mirrored = model(Tensor(mirrored_by_loops(X).reshape(7, -1))).data
    expected = (softmax_rows(plain) + softmax_rows(mirrored)) / 2
    model.train()
    rows = X.reshape(7, -1)  # HWC images flattened, as data.prepare_cifar10 gives them
    for data, shape in ((X, None), (rows, (32, 32, 3))):
        got = scores(model, data, batch_size=3, tta=True, image_shape=shape)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
        assert model.training  # restored
    # without TTA: the softmax of the outputs, so that scores are probabilities either way
    np.testing.assert_allclose(scores(model, rows), softmax_rows(plain), rtol=1e-6)
    y = expected.argmax(1)
    y[:2] = (y[:2] + 1) % 5
    assert evaluate(model, rows, y, tta=True, image_shape=(32, 32, 3)) == pytest.approx(5 / 7)
    assert np.array_equal(predict(model, X, tta=True), expected.argmax(1))
    # the mirror is a different image: a model that is not symmetric scores it differently
    assert not np.allclose(softmax_rows(plain), expected)


def test_tta_of_a_mirror_symmetric_input_changes_nothing():
    half = np.random.default_rng(5).normal(size=(3, 32, 16, 3)).astype(np.float32)
    X = np.concatenate([half, half[:, :, ::-1]], axis=2)  # each image its own mirror
    model = mlp((3072, 8, 4), seed=3)
    rows = X.reshape(3, -1)
    np.testing.assert_allclose(
        scores(model, rows, tta=True, image_shape=(32, 32, 3)),
        scores(model, rows),
        rtol=1e-6,
    )


def test_tta_needs_to_know_the_images_shape():
    model = mlp((12, 4, 3), seed=0)
    rows = np.zeros((2, 12), np.float32)
    with pytest.raises(ShapeError, match=r"image_shape=\(H, W, C\)"):
        evaluate(model, rows, np.zeros(2, int), tta=True)
    with pytest.raises(ShapeError, match="got X of shape"):
        evaluate(model, rows, np.zeros(2, int), tta=True, image_shape=(2, 2, 2))
    assert evaluate(model, rows, np.zeros(2, int), tta=True, image_shape=(2, 2, 3)) in (0, 0.5, 1)


# ----------------------------------------------------------------- schedule


def test_exponential_lr_is_stepped_once_per_epoch():
    Xtr, ytr, Xv, yv = blobs()
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    schedule = optim.ExponentialLR(opt, gamma=0.5)
    used = []
    original_step = opt.step

    def recording_step():
        used.append(opt.lr)
        original_step()

    opt.step = recording_step
    result = fit(
        model,
        nn.SoftmaxCrossEntropy(),
        opt,
        BatchIterator(Xtr, ytr, 20, rng=0),
        Xtr,
        ytr,
        Xv,
        yv,
        iterations=35,
        iterations_per_epoch=10,
        schedule=schedule,
        progress=False,
    )
    expected = [0.1 * 0.5**e for e in range(4)]
    assert result.history.lr == expected
    assert used == [expected[0]] * 10 + [expected[1]] * 10 + [expected[2]] * 10 + [expected[3]] * 5
    assert schedule.epoch == 4 and opt.lr == 0.1 * 0.5**4


# ----------------------------------------------------------------- divergence


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow on the way to NaN
def test_huge_learning_rate_raises_diverged_error():
    Xtr, ytr, Xv, yv = blobs()
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=1e6)
    with pytest.raises(DivergedError, match="lower the learning rate"):
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
            progress=False,
        )
    assert issubclass(DivergedError, FloatingPointError)
    assert issubclass(DivergedError, TinygradError)


def test_nan_in_data_raises_and_keeps_last_good_checkpoint(tmp_path):
    Xtr, ytr, Xv, yv = blobs()
    ckpt = tmp_path / "run" / "checkpoint.pkl"
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    schedule = SnapshotLR(opt, 0.9, model)
    batches = PoisonAt(BatchIterator(Xtr, ytr, 20, rng=0), k=25)
    with pytest.raises(DivergedError, match="at iteration 24"):
        fit(
            model,
            nn.SoftmaxCrossEntropy(),
            opt,
            batches,
            Xtr,
            ytr,
            Xv,
            yv,
            iterations=60,
            iterations_per_epoch=10,
            schedule=schedule,
            checkpoint=ckpt,
            progress=False,
        )
    state = load_checkpoint(ckpt)  # saved at the end of epoch 2 (iteration 20)
    assert state["iteration"] == 20
    assert len(state["step_loss"]) == 20 and np.all(np.isfinite(state["step_loss"]))
    assert len(state["history"]["val_acc"]) == 2
    assert states_equal(state["model"], schedule.snapshots[-1])
    assert all(np.all(np.isfinite(v)) for v in state["model"].values())
    assert sorted(os.listdir(ckpt.parent)) == ["checkpoint.pkl"]  # no temp files

    # ... and training goes on from it with clean data
    model2 = mlp((20, 16, 3), seed=99)
    opt2 = optim.SGD(model2.parameters(), lr=0.02, momentum=0.9)
    result = fit(
        model2,
        nn.SoftmaxCrossEntropy(),
        opt2,
        BatchIterator(Xtr, ytr, 20, rng=0),
        Xtr,
        ytr,
        Xv,
        yv,
        iterations=30,
        iterations_per_epoch=10,
        schedule=optim.ExponentialLR(opt2, 0.9),
        checkpoint=ckpt,
        resume=True,
        progress=False,
    )
    assert result.iterations == 30 and len(result.history.loss) == 30
    assert result.history.loss[:20] == state["step_loss"]


# ----------------------------------------------------------------- resume after Ctrl-C

RESUME_CASES = {
    "replacement": dict(replacement=True),
    "shuffled_epochs": dict(replacement=False),
    "dropout": dict(replacement=False, dropout=0.3),
    "augment": dict(replacement=True, augment=True),
}


def train_run(case, checkpoint, iterations, interrupt_at=None, resume=False):
    if case.get("augment"):
        Xtr, ytr, Xv, yv = images()
        sizes = (3072, 8, 3)
    else:
        Xtr, ytr, Xv, yv = blobs()
        sizes = (20, 16, 3)
    model = mlp(sizes, dropout=case.get("dropout", 0.0), seed=0)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    schedule = optim.ExponentialLR(opt, gamma=0.9)
    batches = BatchIterator(
        Xtr, ytr, 16, replacement=case["replacement"], rng=7, augment=case.get("augment", False)
    )
    if interrupt_at is not None:
        batches = InterruptAt(batches, interrupt_at)
    result = fit(
        model,
        nn.SoftmaxCrossEntropy(),
        opt,
        batches,
        Xtr,
        ytr,
        Xv,
        yv,
        iterations=iterations,
        reg=1e-3,
        schedule=schedule,
        iterations_per_epoch=8,
        checkpoint=checkpoint,
        resume=resume,
        extra_state={"case": dict(case)},
        progress=False,
    )
    return model, result


@pytest.mark.parametrize("name", list(RESUME_CASES))
def test_resume_after_ctrl_c_is_bit_identical(tmp_path, name, capsys):
    case = RESUME_CASES[name]
    total, stop_at = 45, 13  # 8 iterations per epoch: stops mid-epoch 2, ends in a partial one
    full_ckpt, split_ckpt = tmp_path / "full.pkl", tmp_path / "split.pkl"

    model_a, result_a = train_run(case, full_ckpt, total)
    assert not result_a.interrupted

    _, result_b1 = train_run(case, split_ckpt, total, interrupt_at=stop_at)
    assert result_b1.interrupted and result_b1.iterations == stop_at
    assert "stopping after this step" in capsys.readouterr().out
    mid = load_checkpoint(split_ckpt)
    assert mid["iteration"] == stop_at and len(mid["step_loss"]) == stop_at
    assert len(mid["history"]["val_acc"]) == 1
    assert mid["extra"] == {"case": case}

    model_b, result_b = train_run(case, split_ckpt, total, resume=True)
    assert not result_b.interrupted and result_b.iterations == total

    # the same final (best) weights, bit for bit, and the same history
    assert states_equal(model_a.state_dict(), model_b.state_dict())
    assert asdict(result_a.history) == asdict(result_b.history)
    assert len(result_b.history.loss) == total and len(result_b.history.val_acc) == 6
    assert (result_a.best_val_acc, result_a.best_epoch) == (
        result_b.best_val_acc,
        result_b.best_epoch,
    )
    # ... and the same last state in the checkpoints (weights, momentum, streams)
    a, b = load_checkpoint(full_ckpt), load_checkpoint(split_ckpt)
    assert a["iteration"] == b["iteration"] == total
    assert states_equal(a["model"], b["model"])
    assert states_equal(a["best"][2], b["best"][2])
    opt_a, opt_b = a["optimizer"], b["optimizer"]  # PyTorch's format: state by index
    assert opt_a["state"].keys() == opt_b["state"].keys() and len(opt_a["state"]) == 4
    for index in opt_a["state"]:
        assert states_equal(opt_a["state"][index], opt_b["state"][index])
    assert opt_a["param_groups"] == opt_b["param_groups"] and a["schedule"] == b["schedule"]
    assert a["generator"] == b["generator"] and a["batches"]["rng"] == b["batches"]["rng"]


def test_interrupted_run_without_resume_starts_over(tmp_path):
    """Control for the test above: without resume=True the run is a fresh one."""
    case = RESUME_CASES["shuffled_epochs"]
    ckpt = tmp_path / "c.pkl"
    _, first = train_run(case, ckpt, 45, interrupt_at=5)
    assert first.interrupted and first.iterations == 5
    _, second = train_run(case, ckpt, 10)
    assert second.iterations == 10 and len(second.history.loss) == 10
    assert second.history.loss[:5] == first.history.loss


def test_checkpoint_of_other_architecture_is_refused(tmp_path):
    Xtr, ytr, Xv, yv = blobs()
    ckpt = tmp_path / "c.pkl"
    model = mlp((20, 16, 3))
    opt = optim.SGD(model.parameters(), lr=0.02)
    fit(
        model,
        nn.SoftmaxCrossEntropy(),
        opt,
        BatchIterator(Xtr, ytr, 20, rng=0),
        Xtr,
        ytr,
        Xv,
        yv,
        iterations=12,
        checkpoint=ckpt,
        progress=False,
    )

    narrow = mlp((20, 8, 3), seed=1)
    before = narrow.state_dict()
    opt = optim.SGD(narrow.parameters(), lr=0.02)
    with pytest.raises(CheckpointError) as err:
        fit(
            narrow,
            nn.SoftmaxCrossEntropy(),
            opt,
            BatchIterator(Xtr, ytr, 20, rng=0),
            Xtr,
            ytr,
            Xv,
            yv,
            iterations=24,
            checkpoint=ckpt,
            resume=True,
            progress=False,
        )
    msg = str(err.value)
    for part in (
        "0.weight",
        "(20, 16)",
        "(20, 8)",
        "0.bias",
        "(16,)",
        "(8,)",
        "2.weight",
        "(16, 3)",
        "(8, 3)",
    ):
        assert part in msg, (part, msg)
    assert "2.bias" not in msg  # (3,) fits
    assert states_equal(narrow.state_dict(), before)  # nothing was changed

    deep = mlp((20, 16, 16, 3), seed=1)
    opt = optim.SGD(deep.parameters(), lr=0.02)
    with pytest.raises(CheckpointError, match=r"missing 4\.weight \(16, 3\)") as err:
        fit(
            deep,
            nn.SoftmaxCrossEntropy(),
            opt,
            BatchIterator(Xtr, ytr, 20, rng=0),
            Xtr,
            ytr,
            Xv,
            yv,
            iterations=24,
            checkpoint=ckpt,
            resume=True,
            progress=False,
        )
    assert "2.weight: checkpoint has shape (16, 3), model has (16, 16)" in str(err.value)


# ----------------------------------------------------------------- checkpoint files


def test_atomic_path_replaces_on_success(tmp_path):
    target = tmp_path / "sub" / "figure.png"
    with atomic_path(target) as tmp:
        assert os.path.dirname(tmp) == str(target.parent) and tmp.endswith(".png")
        assert tmp != str(target)
        with open(tmp, "wb") as f:
            f.write(b"new")
        assert not target.exists()  # nothing visible before the end
    assert target.read_bytes() == b"new"
    assert os.listdir(target.parent) == ["figure.png"]


def test_atomic_path_failure_keeps_previous_file(tmp_path):
    target = tmp_path / "metrics.json"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError, match="disk on fire"):
        with atomic_path(target) as tmp:
            with open(tmp, "w") as f:
                f.write("new but half")
            raise RuntimeError("disk on fire")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["metrics.json"]


def test_failed_checkpoint_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pkl"
    save_checkpoint(path, {"iteration": 1, "w": np.arange(3.0)})

    def broken(*args):
        raise OSError("no space left on device")

    for name in ("fsync", "replace"):  # fails after writing the temp file, or at the rename
        with monkeypatch.context() as m:
            m.setattr(checkpoint_mod.os, name, broken)
            with pytest.raises(OSError, match="no space"):
                save_checkpoint(path, {"iteration": 2, "w": np.zeros(10**5)})
        assert os.listdir(tmp_path) == ["checkpoint.pkl"]
        state = load_checkpoint(path)
        assert state["iteration"] == 1 and np.array_equal(state["w"], np.arange(3.0))
    save_checkpoint(path, {"iteration": 3})
    assert load_checkpoint(path)["iteration"] == 3


class WaitingStdin:
    """Stands for the test on the other end of stdin: records what the checkpoint's
    directory holds while the save waits, then lets it go on."""

    def __init__(self, directory):
        self.directory, self.seen = directory, []

    def readline(self):
        files = {
            name: (self.directory / name).read_bytes()
            for name in sorted(os.listdir(self.directory))
        }
        self.seen.append(files)
        return "\n"


@pytest.mark.parametrize("phase", ["mid-write", "saved"])
def test_checkpoint_test_hook_waits_at_the_chosen_save(tmp_path, monkeypatch, capsys, phase):
    """The test-only hook that lets the reliability tests kill or interrupt a run at a
    point no timing decides: the 2nd save waits halfway through its temporary file, or
    just after its rename; the others only announce themselves."""
    path, stdin = tmp_path / "checkpoint.pkl", WaitingStdin(tmp_path)
    monkeypatch.setenv("TINYGRAD_HLCV_TEST_CHECKPOINT_HOOK", f"{phase}:2")
    monkeypatch.setattr(checkpoint_mod, "_saves", 0)
    monkeypatch.setattr("sys.stdin", stdin)
    for iteration in (3, 6, 9):
        save_checkpoint(path, {"iteration": iteration, "w": np.arange(1000.0)})
    assert len(stdin.seen) == 1
    seen = stdin.seen[0]
    expected_output = ["checkpoint saved 1 3", "checkpoint saved 2 6", "checkpoint saved 3 9"]
    if phase == "mid-write":
        expected_output.insert(1, "checkpoint mid-write 2 6")
        temporary = f".checkpoint.tmp-{os.getpid()}.pkl"
        assert sorted(seen) == [temporary, "checkpoint.pkl"]
        whole = pickle.dumps(
            {"version": checkpoint_mod.CHECKPOINT_VERSION, "iteration": 6, "w": np.arange(1000.0)},
            protocol=pickle.HIGHEST_PROTOCOL,
        )
        assert seen[temporary] == whole[: len(whole) // 2]  # half written, flushed
        with pytest.raises(CheckpointError):
            load_checkpoint(tmp_path / temporary)
        assert pickle.loads(seen["checkpoint.pkl"])["iteration"] == 3  # the previous one
    else:
        assert list(seen) == ["checkpoint.pkl"]
        assert pickle.loads(seen["checkpoint.pkl"])["iteration"] == 6  # this one, renamed
    assert capsys.readouterr().out.splitlines() == expected_output
    assert os.listdir(tmp_path) == ["checkpoint.pkl"]
    assert load_checkpoint(path)["iteration"] == 9


def test_checkpoint_test_hook_refuses_a_malformed_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYGRAD_HLCV_TEST_CHECKPOINT_HOOK", "kill:2")
    with pytest.raises(ValueError, match="must be 'mid-write:N' or 'saved:N', got 'kill:2'"):
        save_checkpoint(tmp_path / "checkpoint.pkl", {"iteration": 3})
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "content", ["truncated", "garbage", "not_a_dict", "other_version", "missing"]
)
def test_unreadable_checkpoint_names_the_file(tmp_path, content):
    path = tmp_path / "checkpoint.pkl"
    if content == "truncated":
        save_checkpoint(path, {"model": {"w": np.ones((50, 50))}, "iteration": 7})
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif content == "garbage":
        path.write_bytes(b"\x00this is not a pickle\xff" * 10)
    elif content == "not_a_dict":
        path.write_bytes(pickle.dumps([1, 2, 3]))
    elif content == "other_version":
        path.write_bytes(pickle.dumps({"version": 999}))
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)
    assert isinstance(err.value, ValueError) and isinstance(err.value, TinygradError)


def test_resume_from_truncated_checkpoint_fails_clearly(tmp_path):
    Xtr, ytr, Xv, yv = blobs()
    path = tmp_path / "checkpoint.pkl"
    path.write_bytes(b"\x80\x05\x95")
    model = mlp()
    with pytest.raises(CheckpointError, match="checkpoint.pkl"):
        fit(
            model,
            nn.SoftmaxCrossEntropy(),
            optim.SGD(model.parameters(), lr=0.1),
            BatchIterator(Xtr, ytr, 20),
            Xtr,
            ytr,
            Xv,
            yv,
            iterations=5,
            checkpoint=path,
            resume=True,
            progress=False,
        )


@pytest.mark.parametrize("batch_size", [0, 2.5, -1, True])
def test_scores_need_a_whole_batch_size(batch_size):
    model = mlp((12, 4, 3), seed=0)
    with pytest.raises(ConfigError, match="batch_size must be an integer >= 1"):
        scores(model, np.zeros((2, 12), np.float32), batch_size=batch_size)


def test_scores_and_predict_refuse_no_examples():
    model = mlp((12, 4, 3), seed=0)
    for call in (scores, predict):
        with pytest.raises(ShapeError, match=r"at least one example.*got shape \(0, 12\)"):
            call(model, np.zeros((0, 12), np.float32))


def test_scores_are_probabilities_with_or_without_tta():
    X = np.random.default_rng(6).normal(size=(5, 2, 2, 3)).astype(np.float32)
    model = nn.Sequential(nn.Flatten(), *mlp((12, 4, 3), seed=0))
    for tta in (False, True):
        p = scores(model, X, batch_size=2, tta=tta)
        assert p.shape == (5, 3) and (p >= 0).all()
        np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)


def test_tta_refuses_an_image_shape_other_than_the_images():
    X = np.zeros((5, 2, 2, 3), np.float32)
    model = nn.Sequential(nn.Flatten(), *mlp((12, 4, 3), seed=0))
    with pytest.raises(ShapeError, match=r"X must be NHWC \(N, H, W, C\)"):
        scores(model, X, tta=True, image_shape=(3, 2, 2))
    assert scores(model, X, tta=True, image_shape=(2, 2, 3)).shape == (5, 3)
