"""benchmarks/time_to_accuracy.py --recipe frontier: the race against PyTorch is fair only if
both sides take the same steps. check_parity (a few steps from one init on the same batches)
must pass, and must fail when PyTorch's setup differs; the race's clock, schedule and
epoch bookkeeping are checked with a fake clock (no timing assertions)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from cifar_fakes import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

import frontier_torch  # noqa: E402
import time_to_accuracy as tta  # noqa: E402


def tiny_recipe(**changes):
    """The frontier recipe on a net small enough for a test: hidden 32, batches of 16."""
    return dict(tta.frontier_recipe(hidden=[32], time_budget=10.0), batch_size=16, **changes)


def tiny_images(n=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 32, 32, 3)).astype(np.float32), rng.integers(0, 10, n)


def test_one_cycle_lr_is_budgeted_one_cycle_lr():
    from tinygrad_hlcv import Tensor, optim
    from tinygrad_hlcv.optim.lr_scheduler import BudgetedOneCycleLR

    optimizer = optim.SGD([Tensor(np.zeros(2), requires_grad=True)], lr=0.1)
    schedule = BudgetedOneCycleLR(optimizer, max_lr=0.1, pct_start=0.15)
    for fraction in [0.0, 0.01, 0.1, 0.15, 0.2, 0.5, 0.99, 1.0, 1.3]:
        schedule.step(fraction)
        assert optimizer.param_groups[0]["lr"] == pytest.approx(
            tta.one_cycle_lr(fraction, 0.1, 0.15), abs=1e-15
        )
    assert tta.one_cycle_lr(0.15, 0.1, 0.15) == pytest.approx(0.1)
    assert tta.one_cycle_lr(0.575, 0.1, 0.15) == pytest.approx(0.05)


def test_parity_on_tiny_random_data():
    pytest.importorskip("torch")
    X, y = tiny_images()
    report = tta.check_parity(X, y, tiny_recipe(), steps=5, lr=0.05)
    assert report["ok"], report
    assert len(report["losses"]) == 5
    ours, theirs = np.array(report["losses"]).T
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    assert ours[-1] != ours[0]  # the steps moved the weights
    assert {"1.weight", "2.running_var", "4.weight", "4.bias"} <= report["state_gap"].keys()


MAKE_OPTIMIZER = frontier_torch.make_optimizer  # (the tests below replace it)


def _without_nesterov(torch, model, recipe):
    opt = MAKE_OPTIMIZER(torch, model, recipe)
    for group in opt.param_groups:
        group["nesterov"] = False
    return opt


def _decay_everything(torch, model, recipe):
    return torch.optim.SGD(
        model.parameters(),
        lr=recipe["lr"],
        momentum=recipe["momentum"],
        nesterov=True,
        weight_decay=recipe["weight_decay"] * 100,  # (x100: visible in a few steps)
    )


@pytest.mark.parametrize("optimizer", [_without_nesterov, _decay_everything])
def test_parity_fails_on_another_optimizer(monkeypatch, optimizer):
    pytest.importorskip("torch")
    monkeypatch.setattr(frontier_torch, "make_optimizer", optimizer)
    X, y = tiny_images()
    assert not tta.check_parity(X, y, tiny_recipe(), steps=5, lr=0.05)["ok"]


def test_parity_fails_on_another_loss_or_init(monkeypatch):
    torch = pytest.importorskip("torch")
    X, y = tiny_images()
    no_smoothing = dict(tiny_recipe(), label_smoothing=0.0)
    real_init = frontier_torch.TorchSide.__init__

    def init(self, ours, recipe, threads=None):
        real_init(self, ours, no_smoothing, threads)

    monkeypatch.setattr(frontier_torch.TorchSide, "__init__", init)
    report = tta.check_parity(X, y, tiny_recipe(), steps=3, lr=0.05)
    assert not report["ok"] and report["loss_gap"] > 1
    monkeypatch.undo()

    real_model = frontier_torch.torch_model

    def nudged(ours, torch_module):
        model = real_model(ours, torch_module)
        with torch.no_grad():
            model[1].weight[0, 0] += 1e-3
        return model

    monkeypatch.setattr(frontier_torch, "torch_model", nudged)
    report = tta.check_parity(X, y, tiny_recipe(), steps=1, lr=0.0)
    assert not report["ok"] and report["state_gap"]["1.weight"] > 1


def test_close_gap_fails_on_nan_and_shape():
    assert tta.close_gap(np.ones(3), np.ones(3)) == 0
    assert tta.close_gap(np.ones(3), np.ones(4)) == float("inf")
    assert tta.close_gap(np.ones(3), None) == tta.close_gap(None, np.ones(3)) == float("inf")
    assert not tta.close_gap(np.array([1.0, np.nan]), np.ones(2)) <= 1


class FakeSide:
    """Records the fraction each step's rate was set from; each step 'takes' 0.5 s."""

    name = "fake"

    def __init__(self):
        self.fractions, self.steps = [], 0

    def schedule(self, fraction, one_cycle_lr):
        self.fractions.append(fraction)

    def step(self, x, y):
        self.steps += 1
        return 1.0 / self.steps

    def accuracy(self, X, y):
        return self.steps / 10


class FakeBatches:
    def __len__(self):
        return 4

    def next_batch(self):
        return None, None


def test_race_clock_schedule_and_epochs(monkeypatch):
    ticks = iter(np.arange(0, 100, 0.5))  # perf_counter: +0.5 s per call, 2 calls a step
    monkeypatch.setattr(tta.time, "perf_counter", lambda: float(next(ticks)))
    side = FakeSide()
    epochs = tta.race(side, FakeBatches(), budget=5.0, test=(None, None), log=lambda m: None)
    # each step 'takes' 0.5 s: 10 steps in the budget, epochs of 4, 4, 2
    assert [e["steps"] for e in epochs] == [4, 4, 2]
    assert [e["complete"] for e in epochs] == [True, True, False]
    assert [e["train_s"] for e in epochs] == [2.0, 4.0, 5.0]
    assert [e["seconds"] for e in epochs] == [2.0, 2.0, 1.0]
    # the rate of (seconds so far + the last step's) / budget: 0 before the first step
    np.testing.assert_allclose(side.fractions, [0.0] + [0.1 * (k + 1) for k in range(1, 10)])
    summary = tta.summarize(epochs, [0.4, 0.6, 1.5], warm_up_s=0.0)
    assert summary["time_to"] == {"0.4": 2.0, "0.6": 4.0, "1.5": None}  # acc 0.4, 0.8, 1.0
    assert summary["epoch_s_median"] == 2.0 and summary["complete_epochs"] == 2
    assert summary["steps"] == 10 and summary["final_test_acc"] == 1.0


def test_race_stops_on_a_nan_loss(monkeypatch):
    side = FakeSide()
    side.step = lambda x, y: float("nan")
    with pytest.raises(SystemExit, match="loss became nan"):
        tta.race(side, FakeBatches(), budget=5.0, test=(None, None), log=lambda m: None)


def test_frontier_recipe_refuses_a_preset_it_does_not_mirror(monkeypatch):
    import cifar_mlp

    changed = dict(cifar_mlp.PRESETS, frontier=dict(cifar_mlp.PRESETS["frontier"], reg=0.1))
    monkeypatch.setattr(cifar_mlp, "PRESETS", changed)
    with pytest.raises(SystemExit, match="reg"):
        tta.frontier_recipe()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--recipe", "frontier", "--eval-every", "5"], "eval-every"),
        (["--recipe", "frontier", "--seeds", "0", "1"], "one seed"),
        (["--recipe", "frontier", "--time-budget", "0"], "time-budget"),
        (["--time-budget", "10"], "goes with --recipe frontier"),
        (["--check-parity"], "goes with --recipe frontier"),
    ],
)
def test_usage_errors(capsys, argv, message):
    with pytest.raises(SystemExit):
        tta.parse_args(argv)
    assert message in capsys.readouterr().err


def test_the_preset_mode_keeps_its_defaults():
    args = tta.parse_args([])
    assert (args.recipe, args.target, args.eval_every) == (None, 0.5, 25)


def test_frontier_race_end_to_end(tmp_path, data_dir, env):
    """Both frameworks on fake CIFAR-10 (200 training images, a 16-unit net) for half a
    second each: the table, the JSON and the parity check, written once the run ends."""
    pytest.importorskip("torch")
    out = tmp_path / "race.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "time_to_accuracy.py")]
    command += ["--recipe", "frontier", "--data-dir", str(data_dir), "--hidden", "16"]
    command += ["--time-budget", "0.5", "--threads", "1", "--json", str(out)]
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert "parity (5 steps" in run.stdout and "OK" in run.stdout
    assert "ours / torch" in run.stdout
    report = json.loads(out.read_text())
    assert report["order"] == ["tinygrad_hlcv", "torch"] and report["parity"]["ok"]
    for result in report["results"].values():
        assert result["train_s"] >= 0.5 and result["epochs"] >= 1
        assert 0 <= result["final_test_acc"] <= 1
    assert set(report["ratios_ours_over_torch"]) >= {"epoch_s_median", "time_to_0.6"}
