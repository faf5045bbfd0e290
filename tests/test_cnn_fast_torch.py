"""benchmarks/cnn_fast_torch.py: PyTorch's run of the fast CNN recipe means something only if
its mirror takes our steps. check_parity (five float64 steps from one init on the same
batches) must pass, and must fail when the mirror's net, optimizer, Lookahead or loss
differs; the whole command runs on fake CIFAR-10 and writes its report."""

import json
import subprocess
import sys

import pytest

from cifar_fakes import ROOT

torch = pytest.importorskip("torch")
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "examples"))

import cifar_cnn  # noqa: E402

import cnn_fast_torch as bench  # noqa: E402

SMALL = ["--preset", "fast", "--widths", "8", "16", "16", "--batch-size", "16"]


def small_config():
    return cifar_cnn.config_from_args(cifar_cnn.build_parser().parse_args(SMALL))


def test_parity_of_the_recipe():
    assert bench.check_parity(small_config(), torch, images=64) <= bench.PARITY_TOLERANCE


def _no_nesterov(model, config, torch_module):
    sgd, lookahead = REAL_TRAINING(model, config, torch_module)
    for group in sgd.param_groups:
        group["nesterov"] = False
    return sgd, lookahead


def _no_bias_scaler(model, config, torch_module):
    return REAL_TRAINING(model, dict(config, bias_scaler=1.0), torch_module)


def _lookahead_every_step(model, config, torch_module):
    return REAL_TRAINING(model, dict(config, lookahead_every=1), torch_module)


def _no_smoothing(config, torch_module):
    return torch_module.nn.CrossEntropyLoss()


def _nudged_mirror(ours, torch_module):
    model = REAL_MIRROR(ours, torch_module)
    with torch_module.no_grad():
        next(p for p in model.parameters() if p.requires_grad).add_(1e-3)
    return model


REAL_TRAINING, REAL_MIRROR = bench.torch_training, bench.torch_mirror


@pytest.mark.parametrize(
    "name, replacement",
    [
        ("torch_training", _no_nesterov),
        ("torch_training", _no_bias_scaler),
        ("torch_training", _lookahead_every_step),
        ("torch_loss_fn", _no_smoothing),
        ("torch_mirror", _nudged_mirror),
    ],
)
def test_parity_fails_when_the_mirror_differs(monkeypatch, name, replacement):
    monkeypatch.setattr(bench, name, replacement)
    assert bench.check_parity(small_config(), torch, images=64) > 1e-6


def test_torch_lookahead_is_ours():
    """Three averaging steps with decay 0.5 on a tensor each framework moves the same way."""
    import numpy as np

    import tinygrad_hlcv as tg

    w = tg.Tensor(np.zeros(3), requires_grad=True)
    ours = tg.optim.Lookahead(tg.optim.SGD([w], lr=1.0), k=1, decay=0.5)
    t = torch.zeros(3, dtype=torch.float64)
    theirs = bench.TorchLookahead([t], k=1)
    theirs.decay = 0.5
    for step in range(1, 4):
        w.data += step  # what an optimizer's step would do
        t += step
        ours.update_parameters(0.5)
        theirs.step()
        assert np.array_equal(w.data, t.numpy())


def test_the_command_on_fake_cifar(tmp_path, data_dir, env):
    out = tmp_path / "torch_fast.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "cnn_fast_torch.py")]
    command += ["--data-dir", str(data_dir), "--num-train", "200", "--time-budget", "0.5"]
    command += ["--threads", "1"]
    command += ["--json", str(out)]
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    report = json.loads(out.read_text())
    assert report["steps"] >= 1 and report["train_s"] >= 0.5
    assert report["parity_gap"] <= bench.PARITY_TOLERANCE
    assert report["test_images"] == 40 and 0 <= report["test_acc"] <= 1
    assert f"test accuracy {report['test_acc']:.4f}" in run.stdout
