"""The general training loop `training.fit(model, loss_fn, optimizer, data, epochs=...)`:
any loss, (X, y) arrays or iterables of batches, named metrics, the best epoch by a
monitored quantity, schedulers per epoch or per batch, the history, and the course's
call form still reaching the course's loop."""

import os
import signal

import numpy as np
import pytest

import tinygrad_hlcv as tg
from cifar_fakes import mlp
from tinygrad_hlcv import nn, optim
from tinygrad_hlcv.creation import from_numpy
from tinygrad_hlcv.data import BatchIterator
from tinygrad_hlcv.engine import Tensor, is_grad_enabled, no_grad
from tinygrad_hlcv.errors import ConfigError, ShapeError
from tinygrad_hlcv.training import (
    DivergedError,
    FitHistory,
    FitResult,
    accuracy,
    fit,
    fit_epochs,
)
from tinygrad_hlcv.training import loop as loop_mod
from tinygrad_hlcv.training.checkpoint import load_checkpoint
from tinygrad_hlcv.training.metrics import mean_absolute_error, mean_squared_error


def mse(out, target):
    return ((out - target) ** 2).mean()


def line(n=120, seed=0, slope=3.0, intercept=1.0):
    """y = slope·x + intercept on x in [-1, 1], float32 columns (n, 1)."""
    X = np.random.default_rng(seed).uniform(-1, 1, (n, 1)).astype(np.float32)
    return X, (slope * X + intercept).astype(np.float32)


def blobs(n=150, d=6, k=3, spread=1.5, seed=0):
    """k Gaussian blobs, float32; 120 training and 30 validation rows."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    X = (rng.normal(0, spread, (k, d))[y] + rng.normal(size=(n, d))).astype(np.float32)
    return X[:120], y[:120], X[120:], y[120:]


def zero_linear():
    """Linear(1, 1) starting at w = 0, b = 0: training moves it straight towards the line."""
    model = nn.Linear(1, 1)
    model.load_state_dict({k: np.zeros_like(v) for k, v in model.state_dict().items()})
    return model


def val_mse(model, X, y):
    with no_grad():
        return float(np.mean((model(from_numpy(X)).data - y) ** 2))


def states_equal(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


class Snapshots:
    """A 'scheduler' that records the weights each time fit steps it (its lr is untouched)."""

    def __init__(self, model):
        self.model, self.states = model, []

    def step(self):
        self.states.append(self.model.state_dict())


# ----------------------------------------------------------------- regression, best epoch


def test_regression_learns_and_keeps_the_lowest_val_loss():
    X, y = line()
    tg.manual_seed(0)
    model = nn.Linear(1, 1)
    result = fit(
        model,
        mse,
        optim.SGD(model.parameters(), lr=0.1),
        (X[:100], y[:100]),
        val_data=(X[100:], y[100:]),
        epochs=30,
        batch_size=10,
        progress=False,
    )
    assert isinstance(result, FitHistory)
    h = result.history
    assert set(h) == {"loss", "val_loss", "lr"}
    assert len(h["loss"]) == len(h["val_loss"]) == len(h["lr"]) == 30
    assert (result.monitor, result.mode) == ("val_loss", "min")
    assert result.best_epoch == int(np.argmin(h["val_loss"])) + 1
    assert result.best == min(h["val_loss"]) < 1e-3  # not epoch 1's model (the old bug)
    assert h["val_loss"][0] > 0.1
    assert val_mse(model, X[100:], y[100:]) == pytest.approx(result.best, rel=1e-5)
    w, b = model.weight.data.item(), model.bias.data.item()
    assert abs(w - 3) < 0.05 and abs(b - 1) < 0.05


@pytest.mark.parametrize("restore_best", [True, False])
def test_best_epoch_in_the_middle_is_restored(restore_best):
    """Training goes from (w, b) = (0, 0) towards the line 3x + 1; the validation targets lie
    on 1.5x + 0.5, which training passes on its way: val_loss falls, then rises again."""
    X, y = line()
    Xv, yv = line(40, seed=1, slope=1.5, intercept=0.5)
    model = zero_linear()
    snapshots = Snapshots(model)
    result = fit(
        model,
        mse,
        optim.SGD(model.parameters(), lr=0.05),
        (X, y),
        val_data=(Xv, yv),
        epochs=12,
        batch_size=20,
        shuffle=False,
        scheduler=snapshots,
        restore_best=restore_best,
        progress=False,
    )
    val = result["val_loss"]
    best = int(np.argmin(val)) + 1
    assert 1 < best < 12 and val[-1] > 2 * min(val)  # the best epoch is not the last
    assert result.best_epoch == best and result.best == min(val)
    assert len(snapshots.states) == 12  # stepped once per epoch, after validation
    chosen = snapshots.states[best - 1] if restore_best else snapshots.states[-1]
    assert states_equal(model.state_dict(), chosen)
    assert val_mse(model, Xv, yv) == pytest.approx(min(val) if restore_best else val[-1], rel=1e-5)


def test_monitor_training_loss_or_none():
    X, y = line()
    Xv, yv = line(40, seed=1, slope=1.5, intercept=0.5)
    model = zero_linear()
    snapshots = Snapshots(model)
    result = fit(
        model,
        mse,
        optim.SGD(model.parameters(), lr=0.05),
        (X, y),
        val_data=(Xv, yv),
        epochs=6,
        shuffle=False,
        scheduler=snapshots,
        monitor=None,
        progress=False,
    )
    assert result.monitor is None and result.best_epoch is None and result.best is None
    assert states_equal(model.state_dict(), snapshots.states[-1])

    model = zero_linear()
    result = fit(
        model,
        mse,
        optim.SGD(model.parameters(), lr=0.05),
        (X, y),
        val_data=(Xv, yv),
        epochs=6,
        shuffle=False,
        monitor="loss",
        progress=False,
    )
    assert result.best_epoch == int(np.argmin(result["loss"])) + 1 == 6


def test_no_validation_data_keeps_the_last_weights():
    X, y = line()
    Xv, yv = line(40, seed=1, slope=1.5, intercept=0.5)
    model = zero_linear()
    snapshots = Snapshots(model)
    result = fit(
        model,
        mse,
        optim.SGD(model.parameters(), lr=0.05),
        (X, y),
        epochs=8,
        shuffle=False,
        scheduler=snapshots,
        progress=False,
    )
    assert set(result.history) == {"loss", "lr"}
    assert result.monitor is None and result.best_epoch is None
    assert states_equal(model.state_dict(), snapshots.states[-1])
    assert val_mse(model, Xv, yv) > 0.05  # (what restoring by this val set would undo)


# ----------------------------------------------------------------- metrics and monitor


def test_named_metrics_are_recorded_for_train_and_validation():
    Xtr, ytr, Xv, yv = blobs()
    tg.manual_seed(1)
    model = mlp((6, 16, 3), seed=1)

    def top_score(outputs, targets):
        return float(outputs.max(1).mean())

    result = fit(
        model,
        nn.SoftmaxCrossEntropy(),
        optim.SGD(model.parameters(), lr=0.1),
        (Xtr, ytr),
        val_data=(Xv, yv),
        epochs=5,
        batch_size=20,
        metrics=[accuracy, top_score],
        monitor=None,
        progress=False,
    )
    h = result.history
    assert set(h) == {
        "loss",
        "accuracy",
        "top_score",
        "val_loss",
        "val_accuracy",
        "val_top_score",
        "lr",
    }
    assert all(len(v) == 5 for v in h.values())
    assert all(0 <= a <= 1 for a in h["accuracy"] + h["val_accuracy"])
    assert max(h["val_accuracy"]) > 0.8
    with no_grad():  # validation values are those of the whole set, in eval mode
        scores = model(from_numpy(Xv)).data
    assert h["val_accuracy"][-1] == accuracy(scores, yv)
    assert h["val_top_score"][-1] == pytest.approx(top_score(scores, yv), rel=1e-6)
    assert h["val_loss"][-1] == pytest.approx(
        nn.SoftmaxCrossEntropy()(from_numpy(scores), yv).item(), rel=1e-5
    )


def test_metrics_as_a_dict_and_the_regression_metrics():
    X, y = line()
    model = zero_linear()
    result = fit(
        model,
        mse,
        optim.SGD(model.parameters(), lr=0.05),
        (X[:100], y[:100]),
        val_data=(X[100:], y[100:]),
        epochs=3,
        shuffle=False,
        progress=False,
        metrics={"mse": mean_squared_error, "mae": mean_absolute_error},
    )
    assert result["val_mse"] == pytest.approx(result["val_loss"], rel=1e-5)
    assert all(a < m**0.5 + 1e-6 for a, m in zip(result["val_mae"], result["val_mse"]))
    result = fit(
        model,
        mse,
        optim.SGD(model.parameters(), lr=0.05),
        (X, y),
        epochs=1,
        val_data=(X, y),
        metrics={"mae": mean_absolute_error},
        monitor="val_mae",
        progress=False,
    )
    assert result.mode == "min"


def test_monitor_val_accuracy_with_mode_max_on_a_classification():
    """Validation labels shifted by one: the better the model learns, the lower val_accuracy,
    so the best epoch by accuracy (max; the first of equals) is an early one."""
    Xtr, ytr, Xv, yv = blobs(spread=0.5)
    yv_wrong = (yv + 1) % 3
    runs = []
    for mode in ("max", None):  # None: inferred, max for an accuracy
        model = mlp((6, 16, 3), seed=2)
        snapshots = Snapshots(model)
        result = fit(
            model,
            nn.SoftmaxCrossEntropy(),
            optim.SGD(model.parameters(), lr=0.01),
            (Xtr, ytr),
            val_data=(Xv, yv_wrong),
            epochs=8,
            batch_size=20,
            shuffle=False,
            metrics=[accuracy],
            monitor="val_accuracy",
            mode=mode,
            scheduler=snapshots,
            progress=False,
        )
        acc = result["val_accuracy"]
        best = acc.index(max(acc)) + 1
        assert result.mode == "max" and result.best_epoch == best and result.best == max(acc)
        assert acc[-1] < max(acc) and best < 8
        assert states_equal(model.state_dict(), snapshots.states[best - 1])
        with no_grad():
            assert accuracy(model(from_numpy(Xv)).data, yv_wrong) == max(acc)
        runs.append(result.history)
    assert runs[0] == runs[1]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            dict(monitor="val_acc", metrics=[accuracy]),
            "monitor='val_acc' is not recorded; expected one of ['loss', 'accuracy', 'val_loss', "
            "'val_accuracy']",
        ),
        (
            dict(monitor="val_r", metrics={"r": mean_squared_error}),
            "cannot tell whether a smaller or a larger val_r is better; pass mode='min' or "
            "mode='max'",
        ),
        (dict(mode="lowest"), "mode must be 'min', 'max' or None (inferred), got 'lowest'"),
        (
            dict(metrics=[lambda o, t: 0.0]),
            "metric <lambda> needs a unique name: pass metrics as a dict {'name': function}",
        ),
        (
            dict(metrics={"loss": accuracy}),
            "metric name 'loss' is taken; expected a name other than 'loss', 'lr' or 'val_...'",
        ),
        (dict(epochs=0), "epochs must be an integer >= 1, got 0"),
        (dict(epochs=True), "epochs must be an integer >= 1, got True"),
        (dict(batch_size=2.5), "batch_size must be an integer >= 1, got 2.5"),
        (
            dict(scheduler_step="iteration"),
            "scheduler_step must be 'epoch', 'batch' or 'fraction', got 'iteration'",
        ),
        (
            dict(scheduler=0.9),
            "scheduler must have a step() method (an optim.lr_scheduler), got float",
        ),
        (
            dict(reg=0.1),
            "fit: reg belong(s) to the course's form fit(model, loss_fn, optimizer, "
            "batches, X_train, y_train, X_val, y_val, iterations=...); the epoch form takes "
            "epochs=, val_data=, scheduler=, ...",
        ),
    ],
)
def test_bad_options_are_refused_before_any_step(kwargs, message):
    X, y = line()
    model = zero_linear()
    before = model.state_dict()
    options = {"val_data": (X, y), "epochs": 2, "progress": False, **kwargs}
    with pytest.raises(ConfigError) as info:
        fit(model, mse, optim.SGD(model.parameters(), lr=0.1), (X, y), **options)
    assert str(info.value) == message
    assert states_equal(model.state_dict(), before)


# ----------------------------------------------------------------- data forms


def test_a_list_of_batches_trains_exactly_like_the_arrays_unshuffled():
    X, y = line(100)
    runs = []
    for data in [(X, y), [(X[i : i + 25], y[i : i + 25]) for i in range(0, 100, 25)]]:
        model = zero_linear()
        result = fit(
            model,
            mse,
            optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
            data,
            val_data=[(X[:50], y[:50]), (X[50:], y[50:])],
            epochs=4,
            batch_size=25,
            shuffle=False,
            progress=False,
        )
        runs.append((model.state_dict(), result.history))
    assert states_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]


def test_a_reiterable_loader_of_tensors_and_a_one_epoch_generator():
    X, y = line(100)

    class Loader:  # what a DataLoader-like object does: a fresh pass on every iter()
        passes = 0

        def __iter__(self):
            Loader.passes += 1
            for i in range(0, 100, 20):
                yield Tensor(X[i : i + 20]), Tensor(y[i : i + 20])

    model = zero_linear()
    result = fit(
        model, mse, optim.SGD(model.parameters(), lr=0.1), Loader(), epochs=5, progress=False
    )
    assert Loader.passes == 5 and result["loss"][-1] < result["loss"][0] / 4

    batches = ((X[i : i + 20], y[i : i + 20]) for i in range(0, 100, 20))
    fit(model, mse, optim.SGD(model.parameters(), lr=0.1), batches, epochs=1, progress=False)
    with pytest.raises(
        ConfigError,
        match=r"train_data is an iterator \(a generator\?\), used "
        r"up after one epoch; expected a re-iterable",
    ):
        fit(
            model,
            mse,
            optim.SGD(model.parameters(), lr=0.1),
            iter([(X, y)]),
            epochs=2,
            progress=False,
        )


def test_shuffled_arrays_follow_the_framework_seed():
    X, y = line(100)
    states = []
    for seed in (5, 5, 6):
        tg.manual_seed(seed)
        model = zero_linear()
        fit(
            model,
            mse,
            optim.SGD(model.parameters(), lr=0.1),
            (X, y),
            epochs=2,
            batch_size=16,
            progress=False,
        )
        states.append(model.state_dict())
    assert states_equal(states[0], states[1]) and not states_equal(states[0], states[2])


@pytest.mark.parametrize(
    "data, message",
    [
        (
            (np.zeros((4, 1), np.float32), np.zeros((3, 1), np.float32)),
            "train_data: expected as many targets as examples (> 0), got 4 examples and 3 targets",
        ),
        (5, "train_data must be a pair of arrays (X, y) or an iterable of (x, y) batches, got int"),
        (
            [np.zeros((4, 1), np.float32)],
            "each batch of train_data must be an (inputs, targets) "
            "pair, got ndarray of length 4 (for whole arrays pass a pair of NumPy arrays (X, y))",
        ),
        (
            [],
            "train_data gave no batches in epoch 1; expected a re-iterable that yields (x, y) "
            "batches on every pass",
        ),
    ],
)
def test_bad_data_gets_a_clear_error(data, message):
    model = zero_linear()
    with pytest.raises(ConfigError) as info:
        fit(model, mse, optim.SGD(model.parameters(), lr=0.1), data, epochs=1, progress=False)
    assert str(info.value) == message


def test_a_loss_that_is_not_a_scalar_and_a_diverging_run():
    X, y = line()
    model = zero_linear()
    with pytest.raises(
        ConfigError,
        match=r"loss_fn must return a scalar Tensor, got Tensor "
        r"of shape \(32, 1\)",
    ):
        fit(
            model,
            lambda out, t: (out - t) ** 2,
            optim.SGD(model.parameters(), lr=0.1),
            (X, y),
            epochs=1,
            progress=False,
        )
    with pytest.raises(
        DivergedError,
        match=r"training loss became (inf|nan) at iteration \d+ \(epoch \d+\); "
        r"lower the learning rate \(now 1e\+30\)",
    ):
        fit(model, mse, optim.SGD(model.parameters(), lr=1e30), (X, y), epochs=5, progress=False)
    with pytest.raises(
        ShapeError,
        match=r"mean_squared_error: outputs of shape \(3, 1\) and "
        r"targets of shape \(3,\); expected the same shape",
    ):
        mean_squared_error(np.zeros((3, 1)), np.zeros(3))


def test_validation_runs_in_eval_mode_without_a_graph():
    calls = []

    class Probe(nn.Module):
        def __init__(self):
            self.linear = nn.Linear(1, 1)

        def forward(self, x):
            calls.append((self.training, is_grad_enabled()))
            return self.linear(x)

    X, y = line(40)
    model = Probe()
    fit(
        model,
        mse,
        optim.SGD(model.parameters(), lr=0.1),
        (X, y),
        val_data=(X, y),
        epochs=1,
        batch_size=20,
        progress=False,
    )
    assert calls == [(True, True)] * 2 + [(False, False)] * 2
    assert model.training


# ----------------------------------------------------------------- schedulers, progress


def test_scheduler_steps_per_epoch_or_per_batch():
    X, y = line(100)
    model = zero_linear()
    opt = optim.SGD(model.parameters(), lr=0.1)
    result = fit(
        model,
        mse,
        opt,
        (X, y),
        epochs=3,
        batch_size=25,
        scheduler=optim.ExponentialLR(opt, gamma=0.5),
        progress=False,
    )
    assert result["lr"] == pytest.approx([0.1, 0.05, 0.025]) and opt.lr == pytest.approx(0.0125)

    model = zero_linear()
    opt = optim.SGD(model.parameters(), lr=0.1)
    result = fit(
        model,
        mse,
        opt,
        (X, y),
        epochs=3,
        batch_size=25,
        scheduler_step="batch",
        scheduler=optim.ExponentialLR(opt, gamma=0.5),
        progress=False,
    )
    assert result["lr"] == pytest.approx([0.1, 0.1 * 0.5**4, 0.1 * 0.5**8])  # 4 batches


def test_progress_bar_shows_loss_and_metrics(capsys):
    Xtr, ytr, Xv, yv = blobs()
    model = mlp((6, 16, 3), seed=1)
    fit(
        model,
        nn.SoftmaxCrossEntropy(),
        optim.SGD(model.parameters(), lr=0.1),
        (Xtr, ytr),
        val_data=(Xv, yv),
        epochs=2,
        metrics=[accuracy],
    )
    err = capsys.readouterr().err
    assert "epoch 2/2" in err and "loss=" in err and "val_accuracy=" in err
    fit(
        model,
        nn.SoftmaxCrossEntropy(),
        optim.SGD(model.parameters(), lr=0.1),
        (Xtr, ytr),
        epochs=1,
        progress=False,
    )
    assert capsys.readouterr().err == ""


# ----------------------------------------------------------------- the two call forms


def test_the_course_call_form_still_reaches_the_course_loop():
    Xtr, ytr, Xv, yv = blobs()
    model = mlp((6, 16, 3), seed=1)
    result = fit(
        model,
        nn.SoftmaxCrossEntropy(),
        optim.SGD(model.parameters(), lr=0.05),
        BatchIterator(Xtr, ytr, 20, rng=0),
        Xtr,
        ytr,
        Xv,
        yv,
        iterations=12,
        progress=False,
    )
    assert isinstance(result, FitResult) and result.iterations == 12
    assert len(result.history.val_acc) == 2
    with pytest.raises(TypeError, match="epochs"):  # the two forms do not mix
        fit(
            model,
            nn.SoftmaxCrossEntropy(),
            optim.SGD(model.parameters(), lr=0.05),
            BatchIterator(Xtr, ytr, 20, rng=0),
            Xtr,
            ytr,
            Xv,
            yv,
            iterations=12,
            epochs=2,
        )
    assert fit_epochs.__name__ == "fit_epochs"


def test_readme_training_any_model_example():
    """The README's 'Training any model' example, verbatim (its prints aside)."""
    import numpy as np

    import tinygrad_hlcv as tg
    from tinygrad_hlcv import nn, optim
    from tinygrad_hlcv.training import fit

    tg.manual_seed(0)
    X = np.random.default_rng(0).uniform(-1, 1, (300, 1)).astype(np.float32)
    y = 3 * X + 1  # learn y = 3x + 1
    model = nn.Sequential(nn.Linear(1, 16), nn.ReLU(), nn.Linear(16, 1))
    opt = optim.Adam(model.parameters(), lr=0.01)
    mse = lambda out, target: ((out - target) ** 2).mean()  # noqa: E731  (any scalar loss)
    result = fit(
        model,
        mse,
        opt,
        (X[:240], y[:240]),
        val_data=(X[240:], y[240:]),
        epochs=40,
        batch_size=16,
        scheduler=optim.StepLR(opt, step_size=15, gamma=0.3),
    )

    assert result.best == min(result["val_loss"]) < 2e-3
    assert result.best_epoch == int(np.argmin(result["val_loss"])) + 1
    assert result["val_loss"][0] > 10 * result.best
    assert val_mse(model, X[240:], y[240:]) == pytest.approx(result.best, rel=1e-5)


# ----------------------------------------------------------------- time budget, checkpoints


class FakeClock:
    """A clock that advances `tick` seconds at every reading: each training step (read at its
    start and end) then lasts one tick, whatever the machine's speed."""

    def __init__(self, tick=1.0):
        self.now, self.tick, self.readings = 0.0, tick, 0

    def __call__(self):
        self.now += self.tick
        self.readings += 1
        return self.now


def recording(opt):
    """Make `opt.step()` record the rate each step used."""
    used, original = [], opt.step

    def step():
        used.append(opt.lr)
        original()

    opt.step = step
    return used


def test_a_time_budget_ends_training_and_drives_the_fraction_schedule():
    Xtr, ytr, Xv, yv = blobs()
    model = mlp((6, 16, 3), seed=1)
    opt = optim.SGD(model.parameters(), lr=0.1)
    schedule = optim.lr_scheduler.BudgetedOneCycleLR(opt, max_lr=0.4, pct_start=0.25)
    used = recording(opt)
    result = fit(
        model,
        nn.SoftmaxCrossEntropy(),
        opt,
        (Xtr, ytr),
        val_data=(Xv, yv),
        batch_size=30,  # 4 steps per epoch
        metrics=[accuracy],
        scheduler=schedule,
        scheduler_step="fraction",
        time_budget=5.5,  # steps of 1 s each: the 6th spends it, in epoch 2
        clock=FakeClock(),
        progress=False,
    )
    assert result.stopped == "time_budget" and result.steps == 6
    assert result.train_seconds == 6.0 and result.eval_seconds == 2.0  # 1 s per measuring
    assert len(result["loss"]) == len(result["val_accuracy"]) == 2  # the cut epoch is measured
    assert len(result.step_loss) == 6
    # Step k > 0 uses the rate for the fraction at its estimated end, (k + 1) / 5.5 = 2k+2 / 11
    # (k s spent plus the last step's 1 s), all past the warm-up's 0.25: 0.4 (1 - f) / 0.75;
    # the first has no estimate (fraction 0, rate 0); the 6th would end past the budget (0).
    expected = [0.0, *(0.4 / 0.75 * np.array([7, 5, 3, 1]) / 11), 0.0]
    assert used == pytest.approx(expected)
    assert result["lr"] == pytest.approx([expected[0], expected[4]])  # at each epoch's start


def test_the_budget_counts_training_steps_only_and_epochs_still_bound_it():
    X, y = line()
    clock = FakeClock(tick=0.25)
    model = zero_linear()
    result = fit(
        model,
        mse,
        optim.SGD(model.parameters(), lr=0.1),
        (X, y),
        val_data=(X, y),
        batch_size=40,  # 3 steps per epoch
        epochs=2,
        time_budget=100.0,
        clock=clock,
        progress=False,
    )
    assert result.stopped == "epochs" and result.steps == 6
    assert result.train_seconds == 6 * 0.25 and result.eval_seconds == 2 * 0.25
    assert clock.readings == 2 * 6 + 2 * 2


def test_the_fraction_schedule_without_a_budget_follows_the_planned_steps():
    X, y = line()
    model = zero_linear()
    opt = optim.SGD(model.parameters(), lr=0.1)
    schedule = optim.lr_scheduler.BudgetedOneCycleLR(opt, max_lr=0.2, pct_start=0.5)
    used = recording(opt)
    result = fit(
        model, mse, opt, (X, y), batch_size=60, epochs=2, max_steps=3, scheduler=schedule,
        scheduler_step="fraction", progress=False,
    )  # fmt: skip
    assert result.stopped == "max_steps" and result.steps == 3
    # step k uses the rate at (k + 1) / 3 of the 3 planned steps: 1/3 in the warm-up
    # (0.2 · (1/3) / 0.5), then 2/3 and 3/3 in the decay (0.2 · (1 - f) / 0.5)
    assert used == pytest.approx([0.4 / 3, 0.4 / 3, 0.0])
    with pytest.raises(ConfigError, match="pass scheduler_step='fraction'"):
        fit(model, mse, opt, (X, y), epochs=1, scheduler=schedule, progress=False)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(epochs=None), "fit needs epochs=, max_steps= or time_budget= to know when to stop"),
        (dict(time_budget=0), "time_budget must be a number of seconds > 0, got 0"),
        (dict(time_budget=True), "time_budget must be a number of seconds > 0, got True"),
        (dict(max_steps=0), "max_steps must be an integer >= 1, got 0"),
        (dict(extra_eval={"val": None}), "extra_eval names prefix the recorded names"),
        (dict(resume=True), "resume=True needs a checkpoint path"),
    ],
)
def test_bad_limits_are_refused(kwargs, message):
    X, y = line()
    model = zero_linear()
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fit(model, mse, optim.SGD(model.parameters(), lr=0.1), (X, y), **{"epochs": 1, **kwargs})


def test_extra_eval_sets_are_measured_and_may_be_monitored():
    Xtr, ytr, Xv, yv = blobs()
    model = mlp((6, 16, 3), seed=1)
    result = fit(
        model,
        nn.SoftmaxCrossEntropy(),
        optim.SGD(model.parameters(), lr=0.05),
        (Xtr, ytr),
        epochs=3,
        metrics={"acc": accuracy},
        extra_eval={"train": (Xtr[:50], ytr[:50])},
        monitor="train_acc",
        restore_best=False,
        progress=False,
    )
    assert list(result.history) == ["loss", "acc", "train_loss", "train_acc", "lr"]
    assert result.monitor == "train_acc" and result.mode == "max"
    assert result.best == max(result["train_acc"])
    model.eval()
    with no_grad():
        last = float((model(from_numpy(Xtr[:50])).data.argmax(1) == ytr[:50]).mean())
    assert result["train_acc"][-1] == last  # measured in eval mode after the epoch


class StopAt:
    """A loss that presses Ctrl-C (sends SIGINT to this process) at its k-th training call
    (measuring calls it with no graph)."""

    def __init__(self, k):
        self.k, self.calls = k, 0

    def __call__(self, out, target):
        self.calls += is_grad_enabled()
        if self.calls == self.k:
            os.kill(os.getpid(), signal.SIGINT)
        return nn.SoftmaxCrossEntropy()(out, target)


def budgeted_run(checkpoint, stop_at=None, resume=False):
    Xtr, ytr, Xv, yv = blobs()
    model = mlp((6, 16, 3), seed=1, dropout=0.2)  # (seeds the framework's generator too)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    schedule = optim.lr_scheduler.BudgetedOneCycleLR(opt, max_lr=0.3)
    loss = StopAt(stop_at) if stop_at else nn.SoftmaxCrossEntropy()
    result = fit(
        model, loss, opt, (Xtr, ytr), val_data=(Xv, yv), batch_size=25, metrics=[accuracy],
        monitor="val_accuracy", scheduler=schedule, scheduler_step="fraction",
        time_budget=13.0, clock=FakeClock(), checkpoint=checkpoint, resume=resume,
        extra_state={"run": 1}, progress=False,
    )  # fmt: skip
    return model, result


def test_a_budgeted_run_stopped_mid_epoch_resumes_to_the_same_result(tmp_path, capsys):
    """(X, y) arrays, shuffled by the framework's generator, dropout, a time budget and a
    fraction schedule: stopped by Ctrl-C at step 7 (epoch 2 of 5-step epochs) and resumed,
    it ends where the uninterrupted run ends, bit for bit."""
    model_a, a = budgeted_run(tmp_path / "a.pkl")
    _, b1 = budgeted_run(tmp_path / "b.pkl", stop_at=7)
    assert b1.stopped == "interrupted" and b1.steps == 7
    assert "stopping after this step" in capsys.readouterr().out
    mid = load_checkpoint(tmp_path / "b.pkl")
    assert mid["iteration"] == 7 and mid["position"] == 2 and mid["train_seconds"] == 7.0
    assert mid["extra"] == {"run": 1}
    model_b, b = budgeted_run(tmp_path / "b.pkl", resume=True)
    assert a.stopped == b.stopped == "time_budget" and a.steps == b.steps == 13
    assert a.history == b.history and a.step_loss == b.step_loss
    assert (a.best_epoch, a.best) == (b.best_epoch, b.best)
    assert states_equal(model_a.state_dict(), model_b.state_dict())
    assert load_checkpoint(tmp_path / "b.pkl")["iteration"] == 13


def test_checkpoint_every_saves_every_kth_epoch_and_at_the_end(tmp_path, monkeypatch):
    saved = []
    real_save = loop_mod.save_checkpoint

    def recording_save(path, state):
        saved.append(state["epoch"])
        real_save(path, state)

    monkeypatch.setattr(loop_mod, "save_checkpoint", recording_save)
    X, y = line()
    model = zero_linear()
    fit(
        model, mse, optim.SGD(model.parameters(), lr=0.1), (X, y), batch_size=60, epochs=7,
        checkpoint=tmp_path / "c.pkl", checkpoint_every=3, progress=False,
    )  # fmt: skip
    assert saved == [3, 6, 7]
    assert load_checkpoint(tmp_path / "c.pkl")["iteration"] == 14


# ----------------------------------------------------------------- review fixes


@pytest.mark.parametrize("make", [lambda o: optim.StepLR(o, 1), optim.ReduceLROnPlateau])
def test_a_fraction_step_needs_a_schedule_stepped_with_a_fraction(make):
    X, y = line()
    model = zero_linear()
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ConfigError, match="pass scheduler_step='epoch' or 'batch'"):
        fit(model, mse, opt, (X, y), epochs=2, scheduler=make(opt),
            scheduler_step="fraction", progress=False)  # fmt: skip


def test_reduce_on_plateau_is_stepped_with_the_monitored_value():
    X, y = line()
    model = zero_linear()
    opt = optim.SGD(model.parameters(), lr=0.8)
    used = recording(opt)
    plateau = optim.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    stalled = fit(
        model, lambda o, t: mse(o, t) * 0 + 1.0, opt, (X, y), val_data=(X, y), batch_size=120,
        epochs=4, scheduler=plateau, progress=False,
    )  # fmt: skip
    assert stalled["val_loss"] == [1.0] * 4 and plateau.best == 1.0 and plateau.last_epoch == 4
    assert used == pytest.approx([0.8, 0.8, 0.4, 0.2])  # halved after each stalled epoch


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(monitor=None), "pass scheduler_step='epoch' and monitor="),
        (dict(val_data=None), "monitored None"),
        (dict(scheduler_step="batch"), "got scheduler_step='batch'"),
        (dict(monitor="val_loss", mode="max"), "disagrees with fit's mode 'max'"),
    ],
)
def test_reduce_on_plateau_without_a_monitored_value_is_refused(kwargs, message):
    X, y = line()
    model = zero_linear()
    opt = optim.SGD(model.parameters(), lr=0.1)
    options = {"val_data": (X, y), "epochs": 2, "progress": False, **kwargs}
    with pytest.raises(ConfigError, match=message):
        fit(model, mse, opt, (X, y), scheduler=optim.ReduceLROnPlateau(opt), **options)


class Streamless:
    """Re-iterable batches without a length."""

    def __iter__(self):
        X, y = line(n=12)
        for i in range(3):
            yield X[4 * i : 4 * i + 4], y[4 * i : 4 * i + 4]


def test_a_fraction_schedule_of_unknown_length_is_refused_before_any_step():
    model = zero_linear()
    opt = optim.SGD(model.parameters(), lr=0.1)
    calls = []
    schedule = optim.lr_scheduler.BudgetedOneCycleLR(opt, max_lr=1.0)
    with pytest.raises(ConfigError, match="needs time_budget=, max_steps= or data with a length"):
        fit(
            model, lambda o, t: (calls.append(1), mse(o, t))[1], opt, Streamless(), epochs=2,
            scheduler=schedule, scheduler_step="fraction", monitor=None, progress=False,
        )  # fmt: skip
    assert calls == []


class SlowCallback(loop_mod.Callback):
    """A callback whose hooks take `seconds` of the (fake) clock each."""

    def __init__(self, clock, seconds):
        self.clock, self.seconds = clock, seconds

    def on_backward_end(self, run):
        self.clock.now += self.seconds

    def on_step_end(self, run):
        self.clock.now += self.seconds


def test_metrics_and_callbacks_are_not_counted_in_the_budget():
    X, y = line()

    def timed(seconds):
        clock = FakeClock()

        def slow_metric(out, target):
            clock.now += seconds
            return 0.0

        model = zero_linear()
        return fit(model, mse, optim.SGD(model.parameters(), lr=0.1), (X, y), batch_size=40,
                   epochs=2, metrics=[slow_metric], time_budget=1000.0, clock=clock,
                   callbacks=[SlowCallback(clock, seconds)], progress=False)  # fmt: skip

    quick, slow = timed(0.0), timed(100.0)
    assert quick.steps == slow.steps == 6 and slow.stopped == "epochs"
    assert slow.train_seconds == quick.train_seconds == 6 * 2.0  # (2 readings in the hook)
