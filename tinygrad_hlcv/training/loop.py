"""The training loops.

`fit(model, loss_fn, optimizer, train_data, epochs=..., val_data=...)` (`fit_epochs`) trains
any model on any loss, PyTorch-style: epochs over (X, y) arrays or an iterable of (x, y)
batches, named metrics, the best epoch by a monitored quantity, a scheduler, a history.

`fit(model, loss_fn, optimizer, batches, X_train, y_train, X_val, y_val, iterations=...)`
(`fit_cifar`, the course's loop) counts iterations on a data.BatchIterator, adds the L2 term,
keeps the epoch with the best validation accuracy, and checkpoints to resume to the very same
result. There an "epoch" is `iterations_per_epoch` steps (by default one pass over the
training set's worth of batches), as in the course code; the schedule is
stepped and accuracies are measured at each epoch's end. Training accuracy is
measured on the first 1,000 training examples (in eval mode), so it compares
with the validation accuracy.
"""

import contextlib
import functools
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from types import FrameType, SimpleNamespace
from typing import Any

import numpy as np
import numpy.typing as npt
from tqdm.auto import tqdm

from ..convert import is_real, is_whole, shown
from ..creation import from_numpy
from ..engine import Tensor, no_grad
from ..errors import ConfigError, TinygradError
from ..nn.loss import l2_penalty
from ..nn.module import Module
from ..optim.optimizer import Optimizer
from ..random import default_generator
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint

Array = npt.NDArray[Any]
LossFn = Callable[..., Tensor]  # loss_fn(outputs, targets) -> a scalar Tensor
Metric = Callable[[Any, Any], float]  # metric(outputs, targets) -> a number

TRAIN_ACCURACY_SUBSET = 1000


class DivergedError(TinygradError, FloatingPointError):
    """The training loss became NaN or Inf."""


@dataclass
class History:
    loss: list = field(default_factory=list)  # per iteration (J~, with the L2 term)
    train_acc: list = field(default_factory=list)  # per epoch
    val_acc: list = field(default_factory=list)  # per epoch
    lr: list = field(default_factory=list)  # per epoch, the rate used in that epoch


@dataclass
class FitResult:
    history: History
    best_val_acc: float
    best_epoch: int
    iterations: int
    seconds: float
    interrupted: bool = False


def predict(model: Module, X: Array, batch_size: int = 1000) -> Array:
    """Class predictions in eval mode, batch by batch, recording no graph."""
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            return np.concatenate(
                [
                    model(from_numpy(_rows(X[i : i + batch_size]))).data.argmax(1)
                    for i in range(0, len(X), batch_size)
                ]
            )
    finally:
        model.train(was_training)


def evaluate(model: Module, X: Array, y: Array, batch_size: int = 1000) -> float:
    """Accuracy of `model` on (X, y), in eval mode, batched, with no graph."""
    if len(X) != len(y) or len(X) == 0:
        raise ConfigError(
            f"evaluate needs as many labels as examples (> 0), got {len(X)} "
            f"examples and {len(y)} labels"
        )
    return float((predict(model, X, batch_size) == np.asarray(y)).mean())


def _rows(X: Array) -> Array:
    """Flatten image batches (N, H, W, C) into rows (N, H·W·C) for the first Linear layer."""
    return X if X.ndim == 2 else X.reshape(len(X), -1)


class Trainer:
    """Everything that changes during training, so it can be saved and restored whole."""

    best_state: dict[str, Array] | None  # the best epoch's weights

    def __init__(
        self,
        model: Module,
        loss_fn: LossFn,
        optimizer: Optimizer,
        batches: Any,
        *,
        reg: float = 0.0,
        schedule: Any = None,
        iterations_per_epoch: int | None = None,
    ) -> None:
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        if not (is_real(reg) and reg >= 0):
            raise ConfigError(
                f"reg (the L2 strength λ) must be a finite number >= 0, got {shown(reg)}"
            )
        if iterations_per_epoch is None:
            iterations_per_epoch = len(batches)
        if not (is_whole(iterations_per_epoch) and iterations_per_epoch >= 1):
            raise ConfigError(
                f"iterations_per_epoch must be an integer >= 1, got {shown(iterations_per_epoch)}"
            )
        self.batches, self.reg, self.schedule = batches, float(reg), schedule
        self.iterations_per_epoch = int(iterations_per_epoch)
        self.iteration = 0
        self.history = History()
        self.best_val_acc, self.best_epoch, self.best_state = -1.0, 0, None

    def step(self) -> float:
        """One minibatch step; returns the loss J~.

        NumPy's overflow warnings are silenced here: a step that overflows makes the loss
        NaN or Inf, which this method reports as a DivergedError saying what to change."""
        xb, yb = self.batches.next_batch()
        self.optimizer.zero_grad()
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            loss = self.loss_fn(self.model(from_numpy(_rows(xb))), yb)
            if self.reg:
                loss = loss + l2_penalty(self.model, self.reg)
            value = loss.item()
            if not math.isfinite(value):
                raise DivergedError(
                    f"training loss became {value} at iteration "
                    f"{self.iteration}; " + self._likely_cause(xb)
                )
            loss.backward()
            self.optimizer.step()
        self.iteration += 1
        self.history.loss.append(value)
        return value

    def _likely_cause(self, xb: Array) -> str:
        if not np.isfinite(xb).all():
            return "the training batch holds NaN or Inf values: check the data"
        if not all(np.isfinite(p.data).all() for p in self.model.parameters()):
            return (
                f"the weights became NaN or Inf: lower the learning rate "
                f"(now {self.optimizer.lr:g})"
            )
        return f"lower the learning rate (now {self.optimizer.lr:g})"

    def end_epoch(self, X_train: Array, y_train: Array, X_val: Array, y_val: Array) -> None:
        if not all(np.isfinite(p.data).all() for p in self.model.parameters()):
            raise DivergedError(
                f"the weights became NaN or Inf by iteration {self.iteration}; "
                f"lower the learning rate (now {self.optimizer.lr:g})"
            )
        subset = slice(0, TRAIN_ACCURACY_SUBSET)
        self.history.train_acc.append(evaluate(self.model, X_train[subset], y_train[subset]))
        self.history.val_acc.append(evaluate(self.model, X_val, y_val))
        self.history.lr.append(self.optimizer.lr)
        if self.history.val_acc[-1] > self.best_val_acc:
            self.best_val_acc, self.best_epoch = self.history.val_acc[-1], len(self.history.val_acc)
            self.best_state = self.model.state_dict()
        if self.schedule is not None:
            self.schedule.step()

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict() if self.schedule else None,
            "batches": self.batches.state_dict(),
            "generator": default_generator().bit_generator.state,
            "iteration": self.iteration,
            "history": asdict(self.history),
            "best": (self.best_val_acc, self.best_epoch, self.best_state),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        try:
            self.model.load_state_dict(state["model"])
        except ValueError as err:
            raise CheckpointError(f"checkpoint does not fit this model: {err}") from None
        self.optimizer.load_state_dict(state["optimizer"])
        if self.schedule is not None and state["schedule"] is not None:
            self.schedule.load_state_dict(state["schedule"])
        self.batches.load_state_dict(state["batches"])
        default_generator().bit_generator.state = state["generator"]
        self.iteration = state["iteration"]
        self.history = History(**state["history"])
        self.best_val_acc, self.best_epoch, self.best_state = state["best"]


def fit_cifar(
    model: Module,
    loss_fn: LossFn,
    optimizer: Optimizer,
    batches: Any,
    X_train: Array,
    y_train: Array,
    X_val: Array,
    y_val: Array,
    *,
    iterations: int,
    reg: float = 0.0,
    schedule: Any = None,
    iterations_per_epoch: int | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    resume: bool = False,
    extra_state: dict[str, Any] | None = None,
    progress: bool = True,
    restore_best: bool = True,
) -> FitResult:
    """The course's loop: train for `iterations` steps (see the module docstring for epochs).

    `batches` gives training batches via `next_batch()` (a data.BatchIterator).
    With `checkpoint` (a path), the state is saved atomically at every epoch's end,
    on Ctrl-C, and at the end; `resume=True` continues from that file, to the same
    result as an uninterrupted run. `extra_state` (a dict, e.g. the run's config) is
    stored in the checkpoint. At the end the model holds the weights of the epoch
    with the best validation accuracy (unless restore_best=False).
    """
    if not (is_whole(iterations) and iterations >= 1):
        raise ConfigError(f"iterations must be an integer >= 1, got {shown(iterations)}")
    trainer = Trainer(
        model,
        loss_fn,
        optimizer,
        batches,
        reg=reg,
        schedule=schedule,
        iterations_per_epoch=iterations_per_epoch,
    )
    if resume:
        _resume(trainer, checkpoint)
    save = functools.partial(_save_checkpoint, trainer, checkpoint, extra_state)
    start = time.perf_counter()
    data = (X_train, y_train, X_val, y_val)
    stopped = _train_iterations(trainer, iterations, data, save, progress)
    if restore_best and trainer.best_state is not None:
        model.load_state_dict(trainer.best_state)
    return _fit_result(trainer, start, stopped and trainer.iteration < iterations)


def _resume(trainer: Trainer, checkpoint: str | os.PathLike[str] | None) -> None:
    """Continue from `checkpoint`'s saved state: resuming without a file is a user's mistake."""
    if checkpoint is None:
        raise ConfigError("resume=True needs a checkpoint path")
    trainer.load_state_dict(load_checkpoint(checkpoint))


def _save_checkpoint(
    trainer: Trainer, checkpoint: str | os.PathLike[str] | None, extra_state: dict[str, Any] | None
) -> None:
    """Save the whole training state (plus `extra_state`) so a run can resume; no path, no-op."""
    if checkpoint is not None:
        save_checkpoint(checkpoint, {**trainer.state_dict(), "extra": extra_state or {}})


def _train_iterations(
    trainer: Trainer,
    iterations: int,
    data: tuple[Array, Array, Array, Array],
    save: Callable[[], None],
    progress: bool,
) -> bool:
    """Step up to `iterations`, ending an epoch (and saving) every `iterations_per_epoch` steps
    and at the last one; a Ctrl-C stops after a step and saves. Returns whether it stopped."""
    bar = tqdm(
        total=iterations,
        initial=trainer.iteration,
        disable=not progress,
        unit="it",
        dynamic_ncols=True,
    )
    trainer.model.train()
    with _stop_on_ctrl_c() as stop:
        try:
            while trainer.iteration < iterations and not stop.requested:
                loss = trainer.step()
                bar.update(1)
                if (
                    trainer.iteration % trainer.iterations_per_epoch == 0
                    or trainer.iteration == iterations
                ):
                    _end_epoch(trainer, data, loss, bar)
                    save()
            if stop.requested:
                save()
        finally:
            bar.close()
    return stop.requested


def _end_epoch(
    trainer: Trainer, data: tuple[Array, Array, Array, Array], loss: float, bar: tqdm
) -> None:
    """Measure the epoch (accuracies, best weights, schedule) and show it on the bar."""
    trainer.end_epoch(*data)
    bar.set_postfix(
        loss=f"{loss:.3f}",
        val_acc=f"{trainer.history.val_acc[-1]:.3f}",
        lr=f"{trainer.optimizer.lr:.2e}",
    )


def _fit_result(trainer: Trainer, start: float, interrupted: bool) -> FitResult:
    """The FitResult of a finished (or interrupted) `fit_cifar` run that started at `start`."""
    return FitResult(
        trainer.history,
        trainer.best_val_acc,
        trainer.best_epoch,
        trainer.iteration,
        time.perf_counter() - start,
        interrupted,
    )


# ----------------------------------------------------------------- the general loop

COURSE_OPTIONS = {
    "iterations",
    "reg",
    "schedule",
    "iterations_per_epoch",
    "checkpoint",
    "resume",
    "extra_state",
}


def fit(
    model: Module,
    loss_fn: LossFn,
    optimizer: Optimizer,
    train_data: Any,
    *course_args: Any,
    **options: Any,
) -> "FitHistory | FitResult":
    """Train `model`; two call forms, told apart by their arguments.

    fit(model, loss_fn, optimizer, train_data, *, epochs, val_data=None, batch_size=32,
        shuffle=True, metrics=(), monitor="val_loss", mode=None, scheduler=None,
        scheduler_step="epoch", restore_best=True, progress=True)
        -> FitHistory: any model and loss; see `fit_epochs`.
    fit(model, loss_fn, optimizer, batches, X_train, y_train, X_val, y_val, *, iterations, ...)
        -> FitResult: the course's iteration-based loop with checkpoints; see `fit_cifar`.
    """
    if course_args or "iterations" in options:
        return fit_cifar(model, loss_fn, optimizer, train_data, *course_args, **options)
    misplaced = sorted(COURSE_OPTIONS & options.keys())
    if misplaced:
        raise ConfigError(
            f"fit: {', '.join(misplaced)} belong(s) to the course's form "
            f"fit(model, loss_fn, optimizer, batches, X_train, y_train, X_val, "
            f"y_val, iterations=...); the epoch form takes epochs=, val_data=, "
            f"scheduler=, ..."
        )
    return fit_epochs(model, loss_fn, optimizer, train_data, **options)


@dataclass
class FitHistory:
    """What `fit_epochs` returns. `history` maps 'loss', 'val_loss', each metric's name and
    'val_' + it, and 'lr' (the rate at each epoch's start) to one value per epoch;
    `history_obj["val_loss"]` reads it too. `best_epoch` (1-based) and `best` are the
    monitored quantity's best, None when nothing was monitored."""

    history: dict
    monitor: str | None
    mode: str | None
    best_epoch: int | None
    best: float | None
    seconds: float

    def __getitem__(self, name: str) -> list[float]:
        return self.history[name]


def fit_epochs(
    model: Module,
    loss_fn: LossFn,
    optimizer: Optimizer,
    train_data: Any,
    *,
    epochs: int,
    val_data: Any = None,
    batch_size: int = 32,
    shuffle: bool = True,
    metrics: Any = (),
    monitor: str | None = "val_loss",
    mode: str | None = None,
    scheduler: Any = None,
    scheduler_step: str = "epoch",
    restore_best: bool = True,
    progress: bool = True,
) -> FitHistory:
    """Train for `epochs` passes over `train_data`; returns a FitHistory.

    Data (`train_data`, `val_data`): a pair of arrays `(X, y)`, cut into `batch_size`
    batches (shuffled each epoch with the framework's generator, tg.manual_seed), or any
    re-iterable of `(x, y)` batches (a list, a loader whose __iter__ starts a new pass).
    The model gets `x` as a Tensor; `loss_fn(outputs, y)` gets `y` as given and returns a
    scalar Tensor (a mean over the batch).
    `metrics`: functions `(outputs, targets) -> float` on NumPy arrays, named by __name__
    (training/metrics.py has accuracy), or a dict {name: function}. Training values are means
    over the epoch's batches (in training mode); validation values are over the whole set.
    `monitor` (a recorded name: 'val_loss', 'val_accuracy', 'loss', ...; None for off) picks
    the best epoch, whose weights the model holds at the end (unless restore_best=False);
    `mode` 'min' or 'max' says which way is better (inferred: min for names with loss or
    error, max for accuracy). Without val_data a 'val_' monitor is off: the last weights stay.
    `scheduler.step()` runs after every epoch, or after every batch with
    scheduler_step='batch' (OneCycle-style schedules).
    """
    _check_options(epochs, batch_size, scheduler, scheduler_step)
    train, val = _train_and_val(train_data, val_data, batch_size, shuffle, epochs)
    named = _named_metrics(metrics)
    best = _BestEpoch(*_monitor_rule(monitor, mode, named, val is not None))
    history = _empty_history(named, val)
    batch_scheduler = scheduler if scheduler_step == "batch" else None
    start = time.perf_counter()
    with _epochs_bar(train, epochs, progress) as bar:  # closes the bar however the loop ends
        for epoch in range(1, epochs + 1):
            bar.set_description(f"epoch {epoch}/{epochs}")
            history["lr"].append(optimizer.lr)
            means = _run_epoch(
                model, loss_fn, optimizer, (train, val), named, epoch, bar, batch_scheduler
            )
            _record(history, means, bar)
            best.update(means, epoch, model)
            if scheduler is not None and scheduler_step == "epoch":
                scheduler.step()
    if restore_best:
        best.restore(model)
    seconds = time.perf_counter() - start
    return FitHistory(history, best.monitor, best.mode, best.epoch, best.value, seconds)


class _BestEpoch:
    """The monitored quantity's best epoch so far and its weights, to restore at the end."""

    def __init__(self, monitor: str | None, mode: str | None) -> None:
        self.monitor, self.mode = monitor, mode
        self.value: float | None = None
        self.epoch: int | None = None
        self.state: dict[str, Array] | None = None

    def update(self, means: dict[str, float], epoch: int, model: Module) -> None:
        """Keep this epoch's weights if its monitored value beats the best so far."""
        if self.monitor is not None and _better(means[self.monitor], self.value, self.mode):
            self.value, self.epoch, self.state = means[self.monitor], epoch, model.state_dict()

    def restore(self, model: Module) -> None:
        """Give `model` the best epoch's weights (none kept when nothing was monitored)."""
        if self.state is not None:
            model.load_state_dict(self.state)


def _train_and_val(
    train_data: Any, val_data: Any, batch_size: int, shuffle: bool, epochs: int
) -> tuple[Iterable[Any], Iterable[Any] | None]:
    """Both data sets as re-iterable batches (val None without val_data); validation batches
    are never shuffled, as their order does not change the result."""
    train = _batches(train_data, "train_data", batch_size, shuffle, epochs)
    val = None if val_data is None else _batches(val_data, "val_data", batch_size, False, epochs)
    return train, val


def _empty_history(named: dict[str, Metric], val: Iterable[Any] | None) -> dict[str, list[float]]:
    """One empty list per recorded name, in the order they are shown: training values,
    validation values (when there are validation batches), then 'lr'."""
    keys = ["loss", *named] + (["val_loss", *(f"val_{n}" for n in named)] if val else [])
    return {key: [] for key in [*keys, "lr"]}


def _epochs_bar(train: Any, epochs: int, progress: bool) -> tqdm:
    """A progress bar counting batches; its total is known only when `train` has a length."""
    total = epochs * len(train) if hasattr(train, "__len__") else None
    return tqdm(total=total, disable=not progress, unit="batch", dynamic_ncols=True)


def _run_epoch(
    model: Module,
    loss_fn: LossFn,
    optimizer: Optimizer,
    data: tuple[Iterable[Any], Iterable[Any] | None],
    named: dict[str, Metric],
    epoch: int,
    bar: tqdm,
    batch_scheduler: Any,
) -> dict[str, float]:
    """Train one epoch on `data`'s training batches, then validate if there are validation
    batches; returns the epoch's values by their recorded names ('loss', 'val_loss', ...)."""
    train, val = data
    means = _train_epoch(model, loss_fn, optimizer, train, named, epoch, bar, batch_scheduler)
    if val is not None:
        means.update({f"val_{k}": v for k, v in _validate(model, loss_fn, val, named).items()})
    return means


def _record(history: dict[str, list[float]], means: dict[str, float], bar: tqdm) -> None:
    """Append the epoch's values to the history (its names, 'lr' apart: that is recorded at
    the epoch's start) and show them on the bar."""
    for key, values in history.items():
        if key != "lr":
            values.append(means[key])
    bar.set_postfix({k: f"{v:.4g}" for k, v in means.items()})


def _check_options(epochs: int, batch_size: int, scheduler: Any, scheduler_step: str) -> None:
    if not (is_whole(epochs) and epochs >= 1):
        raise ConfigError(f"epochs must be an integer >= 1, got {shown(epochs)}")
    if not (is_whole(batch_size) and batch_size >= 1):
        raise ConfigError(f"batch_size must be an integer >= 1, got {shown(batch_size)}")
    if scheduler_step not in ("epoch", "batch"):
        raise ConfigError(f"scheduler_step must be 'epoch' or 'batch', got {shown(scheduler_step)}")
    if scheduler is not None and not callable(getattr(scheduler, "step", None)):
        raise ConfigError(
            f"scheduler must have a step() method (an optim.lr_scheduler), got "
            f"{type(scheduler).__name__}"
        )


def _train_epoch(
    model: Module,
    loss_fn: LossFn,
    optimizer: Optimizer,
    batches: Iterable[Any],
    named: dict[str, Metric],
    epoch: int,
    bar: tqdm,
    batch_scheduler: Any,
) -> dict[str, float]:
    """One pass of optimizer steps; returns the batch-size-weighted means of the loss and
    the metrics."""
    model.train()
    sums, count = dict.fromkeys(["loss", *named], 0.0), 0
    for x, y in _pairs(batches, "train_data"):
        x = _as_input(x)
        optimizer.zero_grad()
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            outputs = model(x)
            loss = loss_fn(outputs, y)
            value = _finite_loss(loss, epoch, optimizer)
            loss.backward()
            optimizer.step()
        if batch_scheduler is not None:
            batch_scheduler.step()
        n = x.shape[0]
        sums["loss"] += value * n
        for name, metric in named.items():
            sums[name] += float(metric(outputs.data, _array(y))) * n
        count += n
        bar.update(1)
        bar.set_postfix({k: f"{v / count:.4g}" for k, v in sums.items()}, refresh=False)
    if count == 0:
        raise ConfigError(
            f"train_data gave no batches in epoch {epoch}; expected a "
            f"re-iterable that yields (x, y) batches on every pass"
        )
    return {k: v / count for k, v in sums.items()}


def _finite_loss(loss: Tensor, epoch: int, optimizer: Optimizer) -> float:
    """The loss as a number; a NaN or Inf one (the training diverged) is a DivergedError."""
    value = _scalar(loss)
    if not math.isfinite(value):
        raise DivergedError(
            f"training loss became {value} in epoch {epoch}; lower "
            f"the learning rate (now {optimizer.lr:g}) or check the "
            f"data for NaN or Inf"
        )
    return value


def _validate(
    model: Module, loss_fn: LossFn, batches: Iterable[Any], named: dict[str, Metric]
) -> dict[str, float]:
    """The loss (batch-size-weighted mean of the batch losses) and the metrics on all of
    `batches` at once, in eval mode, recording no graph."""
    was_training = model.training
    model.eval()
    try:
        total = 0.0
        outputs: Any = []  # the batches' outputs (and targets), then one array of them all
        targets: Any = []
        with no_grad():
            for x, y in _pairs(batches, "val_data"):
                out = model(_as_input(x))
                total += _scalar(loss_fn(out, y)) * out.shape[0]
                outputs.append(out.data)
                targets.append(_array(y))
    finally:
        model.train(was_training)
    if not outputs:
        raise ConfigError("val_data gave no batches; expected at least one (x, y) batch")
    outputs, targets = np.concatenate(outputs), np.concatenate(targets)
    return {
        "loss": total / len(outputs),
        **{name: float(metric(outputs, targets)) for name, metric in named.items()},
    }


class _ArrayBatches:
    """(X, y) arrays as minibatches, in a new random order on each pass if `shuffle`."""

    def __init__(self, X: Array, y: Array, batch_size: int, shuffle: bool) -> None:
        self.X, self.y, self.batch_size, self.shuffle = X, y, batch_size, shuffle

    def __len__(self) -> int:
        return -(-len(self.X) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Array, Array]]:
        n = len(self.X)
        order = default_generator().permutation(n) if self.shuffle else np.arange(n)
        for i in range(0, n, self.batch_size):
            rows = order[i : i + self.batch_size]
            yield self.X[rows], self.y[rows]


def _batches(data: Any, name: str, batch_size: int, shuffle: bool, epochs: int) -> Iterable[Any]:
    if (
        isinstance(data, (tuple, list))
        and len(data) == 2
        and all(isinstance(a, (np.ndarray, Tensor)) for a in data)
    ):
        X, y = (_array(a) for a in data)
        if len(X) != len(y) or len(X) == 0:
            raise ConfigError(
                f"{name}: expected as many targets as examples (> 0), got "
                f"{len(X)} examples and {len(y)} targets"
            )
        return _ArrayBatches(X, y, batch_size, shuffle)
    if isinstance(data, (str, bytes)) or not isinstance(data, Iterable):
        raise ConfigError(
            f"{name} must be a pair of arrays (X, y) or an iterable of (x, y) "
            f"batches, got {type(data).__name__}"
        )
    if iter(data) is data and epochs > 1:
        raise ConfigError(
            f"{name} is an iterator (a generator?), used up after one epoch; "
            f"expected a re-iterable: a list of batches, or an object whose "
            f"__iter__ starts a new pass"
        )
    return data


def _pairs(batches: Iterable[Any], name: str) -> Iterator[Any]:
    for batch in batches:
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
            raise ConfigError(
                f"each batch of {name} must be an (inputs, targets) pair, got "
                f"{type(batch).__name__}"
                + (f" of length {len(batch)}" if hasattr(batch, "__len__") else "")
                + " (for whole arrays pass a pair of NumPy arrays (X, y))"
            )
        yield batch


def _named_metrics(metrics: Any) -> dict[str, Metric]:
    if isinstance(metrics, dict):
        named = dict(metrics)
    elif callable(metrics):
        named = {metrics.__name__: metrics}
    else:
        named = {}
        for metric in metrics:
            name = getattr(metric, "__name__", "<no name>")
            if name in named or name.startswith("<"):
                raise ConfigError(
                    f"metric {name} needs a unique name: pass metrics as a dict "
                    f"{{'name': function}}"
                )
            named[name] = metric
    for name, metric in named.items():
        if not callable(metric):
            raise ConfigError(
                f"metric {name!r} must be a function (outputs, targets) -> "
                f"float, got {type(metric).__name__}"
            )
        if not isinstance(name, str) or name in ("loss", "lr") or name.startswith("val_"):
            raise ConfigError(
                f"metric name {name!r} is taken; expected a name other than "
                f"'loss', 'lr' or 'val_...'"
            )
    return named


def _monitor_rule(
    monitor: str | None, mode: str | None, named: dict[str, Metric], has_val: bool
) -> tuple[str | None, str | None]:
    """The (monitor, mode) that picks the best epoch; monitor None when off."""
    if mode not in (None, "min", "max"):
        raise ConfigError(f"mode must be 'min', 'max' or None (inferred), got {shown(mode)}")
    if monitor is None:
        return None, None
    train_names = ["loss", *named]
    if monitor not in train_names and monitor not in [f"val_{n}" for n in train_names]:
        raise ConfigError(
            f"monitor={monitor!r} is not recorded; expected one of "
            f"{train_names + [f'val_{n}' for n in train_names]}"
        )
    if mode is None:
        base = monitor.removeprefix("val_")
        if any(word in base for word in ("loss", "error", "mse", "mae")):
            mode = "min"
        elif "acc" in base:
            mode = "max"
        else:
            raise ConfigError(
                f"cannot tell whether a smaller or a larger {monitor} is "
                f"better; pass mode='min' or mode='max'"
            )
    if monitor.startswith("val_") and not has_val:
        return None, mode  # nothing to validate on: the last weights stay
    return monitor, mode


def _better(value: float, best: float | None, mode: str | None) -> bool:
    if not math.isfinite(value):
        return False
    return best is None or (value < best if mode == "min" else value > best)


def _as_input(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else from_numpy(np.asarray(x))


def _array(a: Any) -> Array:
    return a.data if isinstance(a, Tensor) else np.asarray(a)


def _scalar(loss: Any) -> float:
    if not isinstance(loss, Tensor) or loss.data.size != 1:
        raise ConfigError(
            f"loss_fn must return a scalar Tensor, got "
            f"{type(loss).__name__}" + (f" of shape {loss.shape}" if hasattr(loss, "shape") else "")
        )
    return loss.item()


@contextlib.contextmanager
def _stop_on_ctrl_c() -> Iterator[SimpleNamespace]:
    """The first Ctrl-C asks the loop to stop after the current step (so the saved state
    is consistent); a second one interrupts at once."""
    stop = SimpleNamespace(requested=False)
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.requested:
            raise KeyboardInterrupt
        stop.requested = True
        print("\nstopping after this step and saving a checkpoint (Ctrl-C again to abort)")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)
