"""The documentation matches the code: the API tables are regenerated from the docstrings,
and every public name of the Tensor API and of nn/optim has a docstring to put there."""

import subprocess
import sys
from pathlib import Path

import pytest

import tinygrad_hlcv as tg
from tinygrad_hlcv import creation, elementwise, linalg, movement, reductions

ROOT = Path(__file__).resolve().parents[1]


def test_the_api_tables_are_up_to_date():
    out = subprocess.run(
        [sys.executable, "tools/api_tables.py", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize(
    "module", [creation, elementwise, reductions, movement, linalg], ids=lambda m: m.__name__
)
def test_every_op_has_a_docstring(module):
    missing = [
        name
        for name in module.__all__
        if callable(getattr(module, name)) and not getattr(module, name).__doc__
    ]
    assert missing == []


def test_every_layer_loss_optimizer_and_schedule_has_its_own_docstring():
    from tinygrad_hlcv.optim import lr_scheduler

    classes = [getattr(tg.nn, n) for n in tg.nn.__all__ if isinstance(getattr(tg.nn, n), type)]
    classes += [getattr(tg.optim, n) for n in ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad")]
    classes += [
        getattr(lr_scheduler, n)
        for n in (
            "StepLR",
            "MultiStepLR",
            "ExponentialLR",
            "CosineAnnealingLR",
            "LinearLR",
            "OneCycleLR",
            "LambdaLR",
            "SequentialLR",
            "ReduceLROnPlateau",
        )
    ]
    assert [c.__name__ for c in classes if not c.__dict__.get("__doc__")] == []
