"""The example scripts run end to end and report gradients that agree."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygrad_hlcv as tg
from cifar_fakes import load_example
from tinygrad_hlcv import nn

ROOT = Path(__file__).resolve().parents[1]
CLOSED = re.compile(r"max relative error \(autodiff vs closed form\): (\S+)$", re.M)
NUMERICAL = re.compile(r"max relative error \(autodiff vs numerical\): (\S+)$", re.M)


def run_example(name, *args, cwd):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["MPLBACKEND"] = "Agg"
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def errors(pattern, output):
    return [float(x) for x in pattern.findall(output)]


def test_two_layer_toy(tmp_path):
    out_dir = tmp_path / "toy"
    output = run_example("two_layer_toy.py", "--out", str(out_dir), cwd=tmp_path)
    closed, numerical = errors(CLOSED, output), errors(NUMERICAL, output)
    assert len(closed) == 4 and len(numerical) == 4  # W1, b1, W2, b2
    assert max(closed) <= 1e-10, output
    assert max(numerical) <= 1e-7, output
    loss = float(re.search(r"^loss \(with L2, reg=[\d.]+\): (\S+)$", output, re.M).group(1))
    ref = float(re.search(r"^closed-form loss: +(\S+)$", output, re.M).group(1))
    assert loss == pytest.approx(ref, rel=1e-11)
    final = float(
        re.search(r"final training loss after 100 SGD iterations: (\S+)", output).group(1)
    )
    assert final < loss
    png = out_dir / "loss.png"
    assert png.is_file() and png.stat().st_size > 1000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"loss curve saved to {png}" in output
    assert not list(out_dir.glob("*.tmp.png"))


def test_deep_gradients(tmp_path):
    output = run_example("deep_gradients.py", cwd=tmp_path)
    closed, numerical = errors(CLOSED, output), errors(NUMERICAL, output)
    # 4 depths × 2 activations × (with, without dropout); 2·depth parameters per net
    expected = 2 * 2 * sum(2 * depth for depth in (2, 3, 4, 5))
    assert len(closed) == expected and len(numerical) == expected
    assert max(closed) <= 1e-10, output
    assert max(numerical) <= 1e-7, output
    assert output.count("\n== ") == 16
    assert "worst over all nets" in output


@pytest.fixture
def float64_default():
    previous = tg.get_default_dtype()
    tg.set_default_dtype(np.float64)
    yield
    tg.set_default_dtype(previous)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
@pytest.mark.parametrize("p_drop", [0.0, 0.3])
def test_deep_gradients_measures_the_kink_on_the_pre_activations_its_loss_uses(
    activation, p_drop, float64_default
):
    """The margin to the kink is taken on the forward that the checked loss runs: ReLU's
    own formula for ReLU nets, and the dropout masks that loss draws. An independent NumPy
    forward with the same masks gives the same pre-activations; one with LeakyReLU's
    formula and no masks (a check of the wrong net) does not."""
    example = load_example("deep_gradients")
    model = example.build(4, activation, p_drop)
    X, _ = example.data(4)
    pre = example.hidden_pre_activations(model, X)
    masks = [m.last_mask for m in model if isinstance(m, nn.Dropout)] or [None] * 3
    linears = nn.linear_layers(model)
    assert len(pre) == len(linears) - 1 == 3

    def numpy_pre_activations(relu, masks):
        out, a = [], X
        for layer, mask in zip(linears[:-1], masks):
            z = a @ layer.weight.data + layer.bias.data
            out.append(z)
            a = np.maximum(z, 0) if relu else np.where(z > 0, z, 0.1 * z)
            if mask is not None:
                a = a * mask / (1 - p_drop)
        return out

    expected = numpy_pre_activations(activation == "relu", masks)
    for got, want in zip(pre, expected):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    assert example.kink_margin(model, X) == pytest.approx(
        min(np.abs(z).min() for z in expected), rel=1e-12
    )
    if activation == "relu" or p_drop:  # the old check measured another net's pre-activations
        wrong = numpy_pre_activations(False, [None] * 3)
        assert not all(np.allclose(a, b) for a, b in zip(wrong[1:], expected[1:]))
