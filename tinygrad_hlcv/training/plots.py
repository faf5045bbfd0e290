"""The figures a report needs: training curves, first-layer weights, sweep results, and
the per-layer diagnostics (gradients and activations, from training.Diagnostics).

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


GRADIENT_PANELS = (
    ("grad_norm", "gradient norm ‖∂L/∂W‖"),
    ("weight_norm", "weight norm ‖W‖"),
    ("update_ratio", "update / weight ‖ΔW‖/‖W‖"),
)


def plot_gradients(diagnostics: Mapping[str, Any], path: Path, title: str = "") -> Path:
    """Per-layer lines over training on a log scale (training.Diagnostics.to_dict()): the
    gradient norm, the weight norm and the update-to-weight ratio at each recorded step
    (with a dashed line at 1e-3, the ratio a rule of thumb calls healthy for SGD). Exact
    zeros, which a log scale cannot show, are gaps in the lines, and the panel says so."""
    fig, axes = plt.subplots(1, len(GRADIENT_PANELS), figsize=(13, 3.8))
    steps = diagnostics["steps"]
    for ax, (key, label) in zip(axes, GRADIENT_PANELS, strict=True):
        zeros = False
        for layer in diagnostics["layers"]:
            values = np.asarray(diagnostics[key][layer], dtype=np.float64)
            zeros = zeros or bool((values == 0).any())
            ax.plot(steps, np.where(values > 0, values, np.nan), lw=0.9, label=layer)
        ax.set(xlabel="step", title=label, yscale="log", xlim=(steps[0], steps[-1]))
        ax.grid(alpha=0.3, which="both", lw=0.4)
        if zeros:  # a log scale cannot show 0: say what the gaps are
            ax.text(0.98, 0.03, "gaps: exactly 0", transform=ax.transAxes, ha="right", fontsize=8)
    guide = axes[-1].axhline(1e-3, color="gray", ls="--", lw=0.8, label="1e-3 (rule of thumb)")
    axes[-1].legend(handles=[guide], fontsize=8)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_activations(
    diagnostics: Mapping[str, Any], path: Path, title: str = "", max_epochs: int = 4
) -> Path:
    """One panel per layer: the histogram of log10|a| of the layer's outputs on the probe
    batch at a few epochs (the first, the last and evenly between), as fractions of all
    values (exact zeros are left out, their fraction given in the legend)."""
    recorded = diagnostics["activations"]
    edges = np.asarray(recorded["log10_edges"])
    layers = recorded["layers"]
    epochs = recorded["epochs"]
    picks = sorted(set(np.linspace(0, len(epochs) - 1, min(max_epochs, len(epochs))).astype(int)))
    fig, axes = plt.subplots(
        1, len(layers), figsize=(2.9 * len(layers), 3.2), squeeze=False, sharey=True
    )
    centers = (edges[:-1] + edges[1:]) / 2
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.85, len(picks)))
    for ax, (name, record) in zip(axes[0], layers.items(), strict=True):
        for color, i in zip(colors, picks, strict=True):
            counts = np.asarray(record["hist"][i], dtype=np.float64)
            fraction = counts / max(counts.sum() / (1 - record["zero_fraction"][i] + 1e-12), 1)
            label = f"epoch {epochs[i]}" + (
                f" ({record['zero_fraction'][i]:.0%} zeros)" if record["zero_fraction"][i] else ""
            )
            ax.plot(centers, fraction, color=color, lw=1.2, label=label)
        ax.set(xlabel="log10 |activation|", title=name, xlim=(edges[0], edges[-1]))
        ax.grid(alpha=0.3, lw=0.4)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("fraction of values")
    if title:
        fig.suptitle(title)
    return _save(fig, path)
