"""The PyTorch side of the frontier race (benchmarks/time_to_accuracy.py --recipe frontier):
the same net, initial weights, optimizer, schedule and loss as tinygrad_hlcv's, as a
PyTorch user writes them, fed the very same NumPy batches through torch.from_numpy.

torch is imported only when a TorchSide is built (`import_torch`), so the race runs
without it (--frameworks tinygrad_hlcv) and says plainly when it is missing.
"""

import numpy as np


def import_torch():
    """torch, or SystemExit saying how to get it (the race's torch side needs it)."""
    try:
        import torch
    except ImportError:
        raise SystemExit(
            "error: the PyTorch side of the race needs torch (pip install torch, CPU build); "
            "run only ours with --frameworks tinygrad_hlcv"
        ) from None
    return torch


def torch_model(ours, torch):
    """The PyTorch mirror of `ours` (an nn.Sequential of Flatten, bias-free Linear,
    BatchNorm1d, ReLU, ..., Linear), holding the same values: PyTorch's Linear keeps its
    weight as (out, in), ours as (in, out), so the matrices are copied transposed."""
    layers = []
    for layer in ours:
        kind = type(layer).__name__
        if kind == "Linear":
            layers.append(
                torch.nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None)
            )
        elif kind == "BatchNorm1d":
            layers.append(torch.nn.BatchNorm1d(layer.num_features, layer.eps, layer.momentum))
        elif kind in ("Flatten", "ReLU"):
            layers.append(getattr(torch.nn, kind)())
        else:
            raise ValueError(f"frontier_torch: no PyTorch mirror for a {kind} layer")
    model = torch.nn.Sequential(*layers)
    state = {
        key: torch.from_numpy(np.array(to_torch_layout(key, value)))
        for key, value in ours.state_dict().items()
    }
    model.load_state_dict(state)
    return model


def to_torch_layout(key, value):
    """An entry of our state_dict in PyTorch's layout: a Linear's weight transposed."""
    return value.T if key.endswith("weight") and value.ndim == 2 else value


class TorchSide:
    """PyTorch's half of the race: the model (a mirror of `ours`), SGD with Nesterov
    momentum and weight decay on the weight matrices only (two parameter groups, as
    examples/cifar_mlp.py's parameter_groups), and label-smoothed cross-entropy."""

    name = "torch"

    def __init__(self, ours, recipe, threads=None):
        torch = self.torch = import_torch()
        if threads is not None:
            torch.set_num_threads(threads)
        self.model = torch_model(ours, torch)
        self.optimizer = make_optimizer(torch, self.model, recipe)
        self.loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=recipe["label_smoothing"])
        self.max_lr, self.pct_start = recipe["lr"], recipe["pct_start"]

    def set_lr(self, lr):
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def schedule(self, fraction, one_cycle_lr):
        """The rate of `fraction` of the budget elapsed (lr_scheduler.BudgetedOneCycleLR's)."""
        self.set_lr(one_cycle_lr(fraction, self.max_lr, self.pct_start))

    def step(self, x, y):
        """One training step on the NumPy batch (x, y), shared with ours; the loss."""
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model(self.torch.from_numpy(x)), self.torch.from_numpy(y))
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def accuracy(self, X, y, batch_size=1000):
        """Accuracy on (X, y) in eval mode, with no graph, batch by batch."""
        torch, correct = self.torch, 0
        self.model.eval()
        with torch.no_grad():
            for start in range(0, len(X), batch_size):
                scores = self.model(torch.from_numpy(X[start : start + batch_size]))
                correct += int((scores.argmax(1).numpy() == y[start : start + batch_size]).sum())
        self.model.train()
        return correct / len(X)

    def state(self):
        """The model's state as NumPy arrays in our layout (to compare with ours)."""
        return {
            key: np.array(to_torch_layout(key, value.numpy()))
            for key, value in self.model.state_dict().items()
        }


def make_optimizer(torch, model, recipe):
    """SGD(nesterov) with weight decay on the 2-D weights only."""
    params = list(model.parameters())
    groups = [
        {"params": [p for p in params if p.ndim == 2], "weight_decay": recipe["weight_decay"]},
        {"params": [p for p in params if p.ndim != 2], "weight_decay": 0.0},
    ]
    return torch.optim.SGD(groups, lr=recipe["lr"], momentum=recipe["momentum"], nesterov=True)
