"""The figures a report needs: training curves, first-layer weights, sweep results.

matplotlib with the non-interactive Agg backend (no screen needed); every
figure is written atomically.
"""

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from .checkpoint import atomic_path  # noqa: E402

if TYPE_CHECKING:
    from .loop import History

Path = str | os.PathLike[str]  # where a figure goes


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path


def plot_training(history: "History | Mapping[str, Any]", path: Path, title: str = "") -> Path:
    """Loss per iteration (left) and train/validation accuracy per epoch (right).

    `history`: the course's History, or fit's history dict with 'step_loss' added (its
    'train_acc' and 'val_acc' drawn where present: no validation curve without one; the
    running 'acc' when there is no 'train_acc')."""
    if isinstance(history, Mapping):
        loss, curves = history["step_loss"], history
    else:
        loss, curves = history.loss, {"train_acc": history.train_acc, "val_acc": history.val_acc}
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    left.plot(loss, lw=0.6, alpha=0.8)
    left.set(xlabel="iteration", ylabel="training loss", title="Loss")
    for key, label in (
        ("train_acc", "train (1,000 images)"),
        ("val_acc", "validation"),
        ("acc", "train (the epoch's batches, in training mode)"),
    ):
        values = curves.get(key) or []
        if values and (key != "acc" or "train_acc" not in curves):
            right.plot(np.arange(1, len(values) + 1), values, "o-", ms=3, label=label)
    right.set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
    right.legend()
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_weight_grid(
    weight: np.ndarray,
    path: Path,
    image_shape: tuple[int, ...] = (32, 32, 3),
    max_units: int | None = 100,
) -> Path:
    """First-layer weights as images: column j of W (in × out) is unit j's template,
    each rescaled to [0, 1] on its own."""
    units = weight.shape[1] if max_units is None else min(weight.shape[1], max_units)
    cols = int(np.ceil(np.sqrt(units)))
    rows = int(np.ceil(units / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.8, rows * 0.8), squeeze=False)
    for j, ax in enumerate(axes.flat):
        ax.axis("off")
        if j < units:
            image = weight[:, j].reshape(image_shape)
            low, high = image.min(), image.max()
            ax.imshow((image - low) / (high - low + 1e-12), interpolation="nearest")
    fig.suptitle("First-layer weights")
    return _save(fig, path)


def plot_sweep(
    values: Sequence[float],
    accuracies: Sequence[float],
    path: Path,
    parameter: str,
    log_x: bool = False,
) -> Path:
    """Validation accuracy against one swept parameter."""
    fig, ax = plt.subplots(figsize=(5, 3.6))
    order = np.argsort(values)
    ax.plot(np.asarray(values)[order], np.asarray(accuracies)[order], "o-")
    ax.set(xlabel=parameter, ylabel="validation accuracy", title=f"Sweep over {parameter}")
    if log_x:
        ax.set_xscale("log")
    ax.grid(alpha=0.3)
    return _save(fig, path)
