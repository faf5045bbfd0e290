"""Test settings: a deterministic hypothesis profile (CI's default) and a larger one; and the
fixtures shared by the test modules that run the example scripts on fake CIFAR-10 data."""

import os

import pytest
from hypothesis import HealthCheck, settings

from cifar_fakes import ROOT, load_example, write_fake_cifar

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=25,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=200)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """5 training batches of 40 images, a test batch of 40, batches.meta."""
    return write_fake_cifar(tmp_path_factory.mktemp("data") / "cifar-10-batches-py")


@pytest.fixture
def env(tmp_path):
    """What the example scripts see: the repository, no CIFAR10_DIR, an empty cache, one
    BLAS thread, unbuffered output (so a test can tell where a run has got to)."""
    e = {k: v for k, v in os.environ.items() if k != "CIFAR10_DIR"}
    e.update(
        PYTHONPATH=str(ROOT),
        MPLBACKEND="Agg",
        TINYGRAD_HLCV_DATA=str(tmp_path / "cache"),
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        NUMBA_NUM_THREADS="1",
        PYTHONUNBUFFERED="1",
    )
    return e


@pytest.fixture
def sweep(monkeypatch, env):
    """examples/sweep.py imported, with the environment its cifar_mlp.py processes inherit."""
    for name in list(os.environ):
        if name not in env:
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_example("sweep")
