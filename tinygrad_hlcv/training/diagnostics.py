"""Training diagnostics: what every layer's gradients, weights and activations do.

`Diagnostics(probe)` is a `fit` callback (`fit(..., callbacks=[diag])`). For each weight
(every parameter with two or more dimensions, named as in `model.named_parameters()`)
it records, every `every`-th step:

- `grad_norm`: ‖∂L/∂W‖, read after the step's backward, before the optimizer step;
- `weight_norm`: ‖W‖ before the step (the weights the gradient was taken at);
- `update_ratio`: ‖ΔW‖/‖W‖, how far the optimizer step moved W relative to its size
  (ΔW = W after − W before; a healthy SGD run sits near 1e-3).

`epoch_means` holds each quantity's mean over each epoch's recorded steps. At the start
and at each epoch's end it runs the fixed `probe` batch through the model (eval mode, no
graph: it changes neither the weights nor the random numbers) and records, for the output
of each layer (of a Sequential: a child with parameters and the activation after it; a
model of another kind: its output), the histogram of log10|a| (so that 1e-12 and 1 fit
on one axis), the fraction of exact zeros (dead ReLUs), the mean and the standard
deviation.

`to_dict()` is JSON-ready (examples/cifar_mlp.py saves it in metrics.json under
"diagnostics"); plots.plot_gradients and plots.plot_activations draw it.
"""

from typing import Any

import numpy as np
import numpy.typing as npt

from ..convert import is_whole, shown
from ..creation import from_numpy
from ..engine import Tensor, no_grad
from ..errors import ConfigError
from ..nn.containers import Sequential
from ..nn.module import Module
from .loop import Callback

Array = npt.NDArray[Any]
LOG10_EDGES = np.linspace(-20.0, 4.0, 97)  # histogram bins of log10|a|: quarter decades
QUANTITIES = ("grad_norm", "weight_norm", "update_ratio")


class Diagnostics(Callback):
    """Records per-layer gradient norms, weight norms, update-to-weight ratios and the
    activations of a probe batch as `fit` trains (see the module docstring).

    Args:
        probe: inputs the model takes (a batch of the training data, say 500 rows); None
            records no activations.
        every: record the norms at every `every`-th step (1: all of them).

    Examples:
        >>> import numpy as np
        >>> import tinygrad_hlcv as tg
        >>> from tinygrad_hlcv import nn, optim
        >>> from tinygrad_hlcv.training import Diagnostics, fit
        >>> _ = tg.manual_seed(0)
        >>> X = np.random.default_rng(0).standard_normal((64, 4)).astype(np.float32)
        >>> y = np.arange(64) % 3
        >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> diag = Diagnostics(X[:16])
        >>> _ = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
        ...         (X, y), epochs=2, batch_size=16, progress=False, callbacks=[diag])
        >>> diag.layers, len(diag.steps), diag.activation_epochs
        (['0.weight', '2.weight'], 8, [0, 1, 2])"""

    def __init__(self, probe: Any = None, *, every: int = 1) -> None:
        if not (is_whole(every) and every >= 1):
            raise ConfigError(f"every must be an integer >= 1, got {shown(every)}")
        self.probe = None if probe is None else _probe_array(probe)
        self.every = int(every)
        self.layers: list[str] = []
        self.steps: list[int] = []
        self.series: dict[str, dict[str, list[float]]] = {q: {} for q in QUANTITIES}
        self.epoch_means: dict[str, dict[str, list[float]]] = {q: {} for q in QUANTITIES}
        self.activation_epochs: list[int] = []
        self.activations: dict[str, dict[str, list[Any]]] = {}
        self._weights: list[tuple[str, Tensor]] = []
        self._before: list[Array] | None = None
        self._epoch_start = 0  # where the current epoch's steps begin in self.steps

    # ----------------------------------------------------------------- the hooks

    def on_train_begin(self, run: Any) -> None:
        self._weights = [(n, p) for n, p in run.model.named_parameters() if p.ndim >= 2]
        if not self._weights:
            raise ConfigError("Diagnostics: the model has no weight with 2 or more dimensions")
        self.layers = [name for name, _ in self._weights]
        for quantity in QUANTITIES:
            for table in (self.series[quantity], self.epoch_means[quantity]):
                for name in self.layers:
                    table.setdefault(name, [])
        self._epoch_start = len(self.steps)
        if not self.activation_epochs or self.activation_epochs[-1] != run.epoch:
            self._record_activations(run.model, run.epoch)

    def on_backward_end(self, run: Any) -> None:
        if run.step % self.every != 0:
            self._before = None
            return
        self.steps.append(run.step + 1)
        self._before = [p.data.copy() for _, p in self._weights]
        for (name, p), before in zip(self._weights, self._before, strict=True):
            grad = np.zeros_like(before) if p.grad is None else p.grad
            self.series["grad_norm"][name].append(_norm(grad))
            self.series["weight_norm"][name].append(_norm(before))

    def on_step_end(self, run: Any) -> None:
        if self._before is None:
            return
        for (name, p), before in zip(self._weights, self._before, strict=True):
            size = _norm(before)
            moved = _norm(p.data - before)
            self.series["update_ratio"][name].append(moved / size if size > 0 else float("nan"))
        self._before = None

    def on_epoch_end(self, run: Any) -> None:
        start, self._epoch_start = self._epoch_start, len(self.steps)
        for quantity in QUANTITIES:
            for name, values in self.series[quantity].items():
                recorded = values[start:]
                mean = float(np.mean(recorded)) if recorded else float("nan")
                self.epoch_means[quantity][name].append(mean)
        self._record_activations(run.model, run.epoch)

    # ----------------------------------------------------------------- activations

    def _record_activations(self, model: Module, epoch: int) -> None:
        """The probe's outputs of each layer with parameters, in eval mode, with no graph."""
        if self.probe is None:
            return
        was_training = model.training
        model.eval()
        try:
            with no_grad():
                outputs = layer_outputs(model, from_numpy(self.probe))
        finally:
            model.train(was_training)
        self.activation_epochs.append(epoch)
        for name, values in outputs.items():
            record = self.activations.setdefault(
                name, {"hist": [], "zero_fraction": [], "mean": [], "std": []}
            )
            for key, value in activation_summary(values).items():
                record[key].append(value)

    def to_dict(self) -> dict[str, Any]:
        """Everything recorded, as JSON-ready lists and numbers."""
        return {
            "every": self.every,
            "layers": list(self.layers),
            "steps": list(self.steps),
            **{q: {n: list(v) for n, v in self.series[q].items()} for q in QUANTITIES},
            "epoch_means": {
                q: {n: list(v) for n, v in self.epoch_means[q].items()} for q in QUANTITIES
            },
            "activations": {
                "epochs": list(self.activation_epochs),
                "log10_edges": LOG10_EDGES.tolist(),
                "layers": {
                    n: {k: list(v) for k, v in r.items()} for n, r in self.activations.items()
                },
            },
        }


def layer_outputs(model: Module, x: Tensor) -> dict[str, Array]:
    """{name: output} of each layer of a Sequential, a layer being a child with parameters
    and the children without that follow it (its activation, dropout): the output after
    the nonlinearity, named by the children's positions and types ('0-1 Linear ReLU').
    Of another model, its output ('output')."""
    if not isinstance(model, Sequential):
        return {"output": model(x).data}
    outputs: dict[str, Array] = {}
    block: list[str] = []  # the current layer's children, as 'index type'
    h = x
    for index, layer in model.named_children():
        if layer.parameters() and block:
            outputs[_block_name(block)] = h.data
            block = []
        h = layer(h)
        if block or layer.parameters():  # (children before the first layer: preprocessing)
            block.append(f"{index} {type(layer).__name__}")
    if block:
        outputs[_block_name(block)] = h.data
    return outputs


def _block_name(block: list[str]) -> str:
    """'0-1 Linear ReLU' from ['0 Linear', '1 ReLU']; '8 Linear' from ['8 Linear']."""
    first, last = block[0].split()[0], block[-1].split()[0]
    span = first if first == last else f"{first}-{last}"
    return " ".join([span, *(item.split()[1] for item in block)])


def activation_summary(values: Array) -> dict[str, Any]:
    """The histogram of log10|a| over LOG10_EDGES (values beyond the edges in the end
    bins; zeros, NaN and Inf apart), the fraction of exact zeros, the mean and the
    standard deviation."""
    flat = np.asarray(values, dtype=np.float64).reshape(-1)
    nonzero = np.abs(flat[flat != 0])
    nonzero = nonzero[np.isfinite(nonzero)]
    logs = np.clip(np.log10(nonzero), LOG10_EDGES[0], LOG10_EDGES[-1])
    counts, _ = np.histogram(logs, LOG10_EDGES)
    return {
        "hist": counts.tolist(),
        "zero_fraction": float(np.mean(flat == 0)) if len(flat) else 0.0,
        "mean": float(flat.mean()),
        "std": float(flat.std()),
    }


def _norm(a: Array) -> float:
    """The Frobenius norm, summed in float64."""
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64)))


def _probe_array(probe: Any) -> Array:
    array = probe.data if isinstance(probe, Tensor) else np.asarray(probe)
    if array.ndim < 1 or len(array) == 0 or not np.issubdtype(array.dtype, np.number):
        raise ConfigError(
            f"Diagnostics: probe must be a non-empty batch of numeric inputs, got an array "
            f"of shape {array.shape} and dtype {array.dtype}"
        )
    return array
