"""The example scripts run end to end and report gradients that agree."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLOSED = re.compile(r"max relative error \(autodiff vs closed form\): (\S+)$", re.M)
NUMERICAL = re.compile(r"max relative error \(autodiff vs numerical\): (\S+)$", re.M)


def run_example(name, *args, cwd):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["MPLBACKEND"] = "Agg"
    result = subprocess.run([sys.executable, str(ROOT / "examples" / name), *args],
                            cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def errors(pattern, output):
    return [float(x) for x in pattern.findall(output)]


def test_two_layer_toy(tmp_path):
    out_dir = tmp_path / "toy"
    output = run_example("two_layer_toy.py", "--out", str(out_dir), cwd=tmp_path)
    closed, numerical = errors(CLOSED, output), errors(NUMERICAL, output)
    assert len(closed) == 4 and len(numerical) == 4          # W1, b1, W2, b2
    assert max(closed) <= 1e-10, output
    assert max(numerical) <= 1e-7, output
    loss = float(re.search(r"^loss \(with L2, reg=[\d.]+\): (\S+)$", output, re.M).group(1))
    ref = float(re.search(r"^closed-form loss: +(\S+)$", output, re.M).group(1))
    assert loss == pytest.approx(ref, rel=1e-11)
    final = float(re.search(r"final training loss after 100 SGD iterations: (\S+)",
                            output).group(1))
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
