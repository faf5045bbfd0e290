"""What the CIFAR-10 example scripts (examples/cifar_mlp.py, examples/cifar_cnn.py) share:
their command-line types, per-channel normalisation, the metrics record of a run (test
accuracy on all 10,000 images and the course's first 1,000, the seconds each part took),
metrics.json and the lines a run ends with.

It lives in the package rather than beside the scripts because the tests import the
scripts by path (examples/ is not on sys.path then), and it is application code: it
imports training and data, and the framework never imports it.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from ..data import zca_matrix
from .checkpoint import atomic_write_text

IMAGE_SHAPE = (32, 32, 3)  # prepare_cifar10's rows are HWC images, flattened


def int_at_least(low: int) -> Callable[[str], int]:
    """An argparse type: an integer >= low, else a usage error saying so."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}")
        return value

    return parse


def seconds(text: str) -> float:
    """An argparse type: a number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def normalize_channels(splits: Any) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """Per-channel normalisation in place: each colour channel of every split (rows of HWC
    images) minus the training set's channel mean, over its channel standard deviation.
    Returns (mean, std). (Column sums over the rows, then per channel: a reduction over a
    last axis of 3 would take seconds, this takes a fraction of one.)"""
    X, channels = splits.X_train, IMAGE_SHAPE[-1]
    first = X.mean(axis=0, dtype=np.float64).reshape(-1, channels).mean(axis=0)
    second = np.einsum("ij,ij->j", X, X, dtype=np.float64).reshape(-1, channels).mean(axis=0)
    mean, std = first, np.sqrt(second / len(X) - first**2)
    pixels = X.shape[1] // channels  # the rows are HWC: the channel is the index mod 3
    for rows in (splits.X_train, splits.X_val, splits.X_test):
        rows -= np.tile(mean, pixels).astype(rows.dtype)
        rows /= np.tile(std, pixels).astype(rows.dtype)
    return mean, std


def zca_whiten(train: npt.NDArray[Any], *others: npt.NDArray[Any], eps: float) -> list[Any]:
    """The training images (rows or NHWC, of IMAGE_SHAPE) and the others, ZCA-whitened with
    the training set's matrix (data.zca_matrix), made symmetric under the horizontal flip
    so that the augmentation's flips commute with the whitening. New arrays, same shapes."""
    flip = np.arange(np.prod(IMAGE_SHAPE)).reshape(IMAGE_SHAPE)[:, ::-1].ravel()
    rows = train.reshape(len(train), -1)
    zca = zca_matrix(rows, eps, dtype=rows.dtype, mirror=flip)
    return [(x.reshape(len(x), len(zca)) @ zca).reshape(x.shape) for x in (train, *others)]


def accuracy_record(correct: npt.NDArray[Any]) -> dict[str, Any]:
    """The test accuracies a report gives from one pass's right/wrong per image: on all of
    them and on the course's first 1,000."""
    return {
        "test_acc": float(correct.mean()),
        "test_size": len(correct),
        "test_acc_first_1000": float(correct[:1000].mean()),
    }


def run_metrics(
    config: Mapping[str, Any],
    data_dir: str | None,
    measured: Mapping[str, Any],
    result: Any,
    load_seconds: float,
    eval_started: float,
) -> dict[str, Any]:
    """The metrics record of a run: the configuration, where the data came from, the
    `measured` accuracies, fit's FitHistory `result` (epochs, steps, how it stopped, the
    curves) and the seconds of loading, training, epoch-end measuring and evaluation
    (from `eval_started`, a time.perf_counter() reading, to now)."""
    return {
        "config": dict(config),
        "data": os.path.abspath(data_dir or os.environ.get("CIFAR10_DIR", "(cache or download)")),
        **measured,
        "best_epoch": result.best_epoch,
        "epochs": len(result.history["lr"]),
        "iterations": result.steps,
        "interrupted": result.stopped == "interrupted",
        "stopped": result.stopped,
        "train_seconds": result.train_seconds,
        "ms_per_iteration": 1000 * result.train_seconds / max(result.steps, 1),
        "seconds": {
            "load": load_seconds,
            "train": result.train_seconds,
            "epoch_eval": result.eval_seconds,
            "eval": time.perf_counter() - eval_started,
        },
        "history": {**result.history, "step_loss": result.step_loss},
    }


def write_metrics(out: str, metrics: Mapping[str, Any]) -> None:
    """out/metrics.json, written atomically."""
    atomic_write_text(os.path.join(out, "metrics.json"), json.dumps(metrics, indent=1))


def print_report(metrics: Mapping[str, Any], out: str, figures: str) -> None:
    """The accuracies and times, as the last lines of a run's output (after how to go on,
    if Ctrl-C interrupted the training)."""
    if metrics["interrupted"]:
        print(
            f"interrupted after {metrics['iterations']} iterations; continue with "
            f"the same flags plus --resume --out {out}"
        )
    val = metrics["val_acc"]
    print(f"validation accuracy: {val:.4f}" if val is not None else "validation accuracy: none")
    print(
        f"test accuracy: {metrics['test_acc']:.4f} ({metrics['test_size']:,} images), "
        f"{metrics['test_acc_first_1000']:.4f} (first 1,000)"
    )
    if metrics["test_acc_tta"] is not None:
        print(f"test accuracy with flip TTA: {metrics['test_acc_tta']:.4f}")
    if metrics.get("flip_note"):
        print(f"note: {metrics['flip_note']}")
    spent = metrics["seconds"]
    print(
        f"{metrics['epochs']} epochs, {metrics['iterations']} iterations (stopped by "
        f"{metrics['stopped']}); seconds: load {spent['load']:.1f}, train "
        f"{spent['train']:.1f} ({metrics['ms_per_iteration']:.2f} ms/iteration), "
        f"epoch-end measuring {spent['epoch_eval']:.1f}, evaluation {spent['eval']:.1f}, "
        f"figures {spent['figures']:.1f}, wall {metrics['wall_seconds']:.1f}"
    )
    print(f"wrote metrics.json, {figures}, checkpoint.pkl to {out}")
