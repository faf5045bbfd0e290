"""The training loop: one implementation, two call forms.

`fit(model, loss_fn, optimizer, train_data, epochs=..., val_data=...)` (`fit_epochs`) trains
any model on any loss, PyTorch-style: epochs over (X, y) arrays, any iterable of (x, y)
batches or a batch stream (an object with `next_batch()`, as data.BatchIterator), named
metrics, the best epoch by a monitored quantity, a scheduler, a history; optionally a
length in steps (`max_steps`), a time budget (`time_budget`, seconds of training) and
checkpoints that resume to the very same result (`checkpoint`, `resume`).

`fit(model, loss_fn, optimizer, batches, X_train, y_train, X_val, y_val, iterations=...)`
(`fit_cifar`, the course's call) is a thin layer over the same loop, kept because the
course's code and the earlier tests call it: it adds the L2 term to the loss, makes an
"epoch" `iterations_per_epoch` steps of `batches.next_batch()` (by default one training
set's worth of batches), measures the accuracy on the first 1,000 training examples (in
eval mode, so it compares with the validation accuracy) and on the validation set at
each epoch's end, keeps the epoch with the best validation accuracy, and returns the
course's FitResult. (Keeping it as a layer rather than deleting it costs ~40 lines and
breaks no caller; it contains no loop of its own.)
"""

import contextlib
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import FrameType, SimpleNamespace
from typing import Any

import numpy as np
import numpy.typing as npt
from tqdm.auto import tqdm

from ..convert import is_real, is_whole, shown
from ..creation import from_numpy
from ..engine import Tensor, no_grad
from ..errors import ConfigError, ShapeError, TinygradError
from ..nn.loss import l2_penalty
from ..nn.module import Module
from ..optim.lr_scheduler import ReduceLROnPlateau
from ..optim.optimizer import Optimizer
from ..random import default_generator
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .metrics import accuracy

Array = npt.NDArray[Any]
LossFn = Callable[..., Tensor]  # loss_fn(outputs, targets) -> a scalar Tensor
Metric = Callable[[Any, Any], float]  # metric(outputs, targets) -> a number

TRAIN_ACCURACY_SUBSET = 1000


class DivergedError(TinygradError, FloatingPointError):
    """The training loss became NaN or Inf."""


class Callback:
    """Something `fit(..., callbacks=[...])` calls as it trains, to watch it (diagnostics,
    logging): subclass it and override the hooks you need (they do nothing here). Each
    hook gets the running loop, whose `model`, `optimizer`, `step` (the steps completed:
    in on_backward_end the 0-based index of the current step), `epoch` (the epochs
    completed) and `history` (fit's per-epoch values) it may read; a callback that
    changes them changes the training.

    on_train_begin: before the first step (of this call: after a resume, at the resume
    point). on_backward_end: after the step's backward, before optimizer.step(): each
    parameter's `.grad` holds this step's gradient and `.data` the weights it was taken
    at. on_step_end: after optimizer.step(). on_epoch_end: after the epoch's measuring
    (`history` holds its values). on_train_end: when training stops, for any reason but
    an error. A callback's own records are not saved in checkpoints: after a resume they
    start at the resume point."""

    def on_train_begin(self, run: Any) -> None:
        """Before the first step."""

    def on_backward_end(self, run: Any) -> None:
        """After backward, before the optimizer step."""

    def on_step_end(self, run: Any) -> None:
        """After the optimizer step."""

    def on_epoch_end(self, run: Any) -> None:
        """After the epoch's measuring."""

    def on_train_end(self, run: Any) -> None:
        """When training stops."""


CALLBACK_HOOKS = tuple(name for name in vars(Callback) if name.startswith("on_"))


def _checked_callbacks(callbacks: Any) -> tuple[Any, ...]:
    """`callbacks` as a tuple, each an object with fit's hooks (a Callback, or any object
    with all of its on_... methods)."""
    if callbacks is None:
        return ()
    if isinstance(callbacks, (Callback, str, bytes)) or not isinstance(callbacks, Iterable):
        raise ConfigError(
            f"callbacks must be a list of Callback objects, got {type(callbacks).__name__}"
        )
    callbacks = tuple(callbacks)
    for callback in callbacks:
        missing = [h for h in CALLBACK_HOOKS if not callable(getattr(callback, h, None))]
        if missing:
            raise ConfigError(
                f"callback {type(callback).__name__} lacks {', '.join(missing)}: expected a "
                f"training.Callback (subclass it and override the hooks you need)"
            )
    return callbacks


def _notify(owner: Any, hook: str) -> None:
    """Call `hook` of each of owner's callbacks (the Trainer has none) with owner."""
    for callback in getattr(owner, "callbacks", ()):
        getattr(callback, hook)(owner)


# ----------------------------------------------------------------- predict / evaluate


def predict(
    model: Module,
    X: Array,
    batch_size: int = 1000,
    *,
    tta: bool = False,
    image_shape: tuple[int, int, int] | None = None,
) -> Array:
    """Class predictions (the argmax of `scores`) in eval mode, batch by batch, recording
    no graph; with tta=True from the mean softmax over each image and its horizontal
    mirror (see `scores`)."""
    return scores(model, X, batch_size, tta=tta, image_shape=image_shape).argmax(1)


def scores(
    model: Module,
    X: Array,
    batch_size: int = 1000,
    *,
    tta: bool = False,
    image_shape: tuple[int, int, int] | None = None,
) -> Array:
    """Class probabilities (N, classes) on X: the softmax of the model's outputs (its
    logits), in eval mode, batched (`batch_size` a whole number >= 1), with no graph. With
    tta=True (test-time augmentation): the mean of the softmax over each image and its
    horizontal mirror. Images are NHWC: X itself when it is (N, H, W, C) (then image_shape,
    if given, must be X.shape[1:]; an NCHW X would be mirrored top to bottom), or its rows
    read as `image_shape` = (H, W, C) (flat rows of HWC images, as data.prepare_cifar10
    gives): the mirror reverses the W axis."""
    _check_batched(X, batch_size)
    mirror = _mirror_fn(X, image_shape) if tta else None
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            parts = []
            for i in range(0, len(X), int(batch_size)):
                xb = X[i : i + int(batch_size)]
                out = _softmax(model(from_numpy(_rows(xb))).data)
                if mirror is not None:
                    out = (out + _softmax(model(from_numpy(mirror(xb))).data)) / 2
                parts.append(out)
            return np.concatenate(parts)
    finally:
        model.train(was_training)


def _check_batched(X: Any, batch_size: Any) -> None:
    if not (is_whole(batch_size) and batch_size >= 1):
        raise ConfigError(f"batch_size must be an integer >= 1, got {shown(batch_size)}")
    if np.ndim(X) == 0 or len(X) == 0:
        raise ShapeError(
            f"expected X of at least one example, (N, features) or (N, H, W, C) with N >= 1, "
            f"got shape {np.shape(X)}"
        )


def _mirror_fn(X: Array, image_shape: tuple[int, int, int] | None) -> Callable[[Array], Array]:
    """The function that mirrors a batch of X (NHWC images, or rows of them) left to right,
    as rows for the model."""
    if X.ndim == 4 and image_shape is not None and tuple(image_shape) != X.shape[1:]:
        raise ShapeError(
            f"test-time augmentation: X holds images of shape (H, W, C) = {X.shape[1:]} but "
            f"image_shape={image_shape}; X must be NHWC (N, H, W, C) and image_shape, if "
            f"given, its (H, W, C)"
        )
    if X.ndim == 4:
        return lambda xb: _rows(xb[:, :, ::-1, :])
    if X.ndim != 2 or image_shape is None or int(np.prod(image_shape)) != X.shape[1]:
        raise ShapeError(
            f"test-time augmentation mirrors images: expected X of shape (N, H, W, C), or rows "
            f"with image_shape=(H, W, C) of as many values, got X of shape {X.shape} and "
            f"image_shape={image_shape}"
        )
    shape = (-1, *image_shape)
    return lambda xb: np.ascontiguousarray(xb.reshape(shape)[:, :, ::-1, :]).reshape(len(xb), -1)


def _softmax(z: Array) -> Array:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def evaluate(
    model: Module,
    X: Array,
    y: Array,
    batch_size: int = 1000,
    *,
    tta: bool = False,
    image_shape: tuple[int, int, int] | None = None,
) -> float:
    """Accuracy of `model` on (X, y), in eval mode, batched, with no graph; tta=True
    averages the softmax over each image and its mirror (see `scores`)."""
    if len(X) != len(y) or len(X) == 0:
        raise ConfigError(
            f"evaluate needs as many labels as examples (> 0), got {len(X)} "
            f"examples and {len(y)} labels"
        )
    predicted = predict(model, X, batch_size, tta=tta, image_shape=image_shape)
    return float((predicted == np.asarray(y)).mean())


def _rows(X: Array) -> Array:
    """Flatten image batches (N, H, W, C) into rows (N, H·W·C) for the first Linear layer."""
    return X if X.ndim == 2 else X.reshape(len(X), -1)


# ----------------------------------------------------------------- the course's form


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


class Trainer:
    """The course's step-by-step interface (benchmarks/time_to_accuracy.py drives it):
    `step()` takes one batch from `batches.next_batch()` through the same training step
    as fit, `end_epoch(...)` measures the accuracies and steps the schedule."""

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
        _check_reg(reg)
        if iterations_per_epoch is None:
            iterations_per_epoch = len(batches)
        _check_whole("iterations_per_epoch", iterations_per_epoch)
        self.model, self.optimizer, self.batches = model, optimizer, batches
        self.loss_fn = _with_l2(loss_fn, model, float(reg))
        self.schedule, self.iterations_per_epoch = schedule, int(iterations_per_epoch)
        self.iteration = 0
        self.history = History()
        self.best_val_acc, self.best_epoch = -1.0, 0
        self.best_state: dict[str, Array] | None = None

    def step(self) -> float:
        """One minibatch step; returns the loss J~ (a DivergedError if it is NaN or Inf)."""
        xb, yb = self.batches.next_batch()
        self.model.train()
        value, _ = _train_step(self, from_numpy(_rows(xb)), yb, self.iteration, None)
        self.iteration += 1
        self.history.loss.append(value)
        return value

    def end_epoch(self, X_train: Array, y_train: Array, X_val: Array, y_val: Array) -> None:
        """Close an epoch: refuse non-finite weights, record the accuracies (training on the
        first 1,000 images, validation) and the rate, keep the best weights so far, and step
        the per-epoch schedule."""
        _check_finite_weights(self.model, self.optimizer, self.iteration)
        subset = slice(0, TRAIN_ACCURACY_SUBSET)
        self.history.train_acc.append(evaluate(self.model, X_train[subset], y_train[subset]))
        self.history.val_acc.append(evaluate(self.model, X_val, y_val))
        self.history.lr.append(self.optimizer.lr)
        if self.history.val_acc[-1] > self.best_val_acc:
            self.best_val_acc, self.best_epoch = self.history.val_acc[-1], len(self.history.val_acc)
            self.best_state = self.model.state_dict()
        if self.schedule is not None:
            self.schedule.step()


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
    callbacks: Iterable[Callback] | None = None,
) -> FitResult:
    """The course's call: `iterations` steps of `batches.next_batch()` through `fit_epochs`
    (see the module docstring); `reg` adds λ Σ‖W‖² to the loss. Checkpoints and resume as
    in fit_epochs. Returns the course's FitResult (its History: the loss per iteration,
    the train/validation accuracies and the rate per epoch)."""
    per_epoch = _course_checks(iterations, reg, iterations_per_epoch, batches)
    run = fit_epochs(
        model,
        _with_l2(loss_fn, model, float(reg)),
        optimizer,
        _RowBatches(batches),
        epochs=-(-iterations // per_epoch),
        max_steps=iterations,
        steps_per_epoch=per_epoch,
        scheduler=schedule,
        checkpoint=checkpoint,
        resume=resume,
        extra_state=extra_state,
        progress=progress,
        restore_best=restore_best,
        callbacks=callbacks,
        **_course_measuring(X_train, y_train, X_val, y_val),
    )
    return _course_result(run)


def _course_result(run: "FitHistory") -> FitResult:
    """fit_epochs' result in the course's form."""
    h = run.history
    history = History(list(run.step_loss), h["train_acc"], h["val_acc"], h["lr"])
    best = (-1.0, 0) if run.best is None else (run.best, run.best_epoch or 0)
    return FitResult(history, *best, run.steps, run.seconds, run.stopped == "interrupted")


def _course_checks(iterations: Any, reg: Any, per_epoch: Any, batches: Any) -> int:
    """Check the course's numbers; returns the iterations per epoch."""
    _check_whole("iterations", iterations)
    _check_reg(reg)
    per_epoch = len(batches) if per_epoch is None else per_epoch
    _check_whole("iterations_per_epoch", per_epoch)
    return int(per_epoch)


def _course_measuring(X_train: Array, y_train: Array, X_val: Array, y_val: Array) -> Any:
    """fit_epochs' options for the course's measuring: the accuracy ('acc') on the
    validation set and on the first 1,000 training examples, the best by 'val_acc'."""
    subset = slice(0, TRAIN_ACCURACY_SUBSET)
    return dict(
        batch_size=1000,  # (for measuring: the training data is a stream)
        val_data=(_rows(X_val), y_val),
        extra_eval={"train": (_rows(X_train[subset]), y_train[subset])},
        metrics={"acc": accuracy},
        monitor="val_acc",
    )


def _check_reg(reg: Any) -> None:
    if not (is_real(reg) and reg >= 0):
        raise ConfigError(f"reg (the L2 strength λ) must be a finite number >= 0, got {shown(reg)}")


def _check_whole(name: str, value: Any) -> None:
    if not (is_whole(value) and value >= 1):
        raise ConfigError(f"{name} must be an integer >= 1, got {shown(value)}")


def _with_l2(loss_fn: LossFn, model: Module, reg: float) -> LossFn:
    """loss_fn plus the course's L2 term λ Σ‖W‖² (loss_fn itself when λ = 0)."""
    if not reg:
        return loss_fn
    return lambda outputs, targets: loss_fn(outputs, targets) + l2_penalty(model, reg)


class _RowBatches:
    """A batch stream whose images (N, H, W, C) come out as rows (N, H·W·C), for an MLP."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __len__(self) -> int:
        return len(self.inner)

    def next_batch(self) -> tuple[Array, Array]:
        xb, yb = self.inner.next_batch()
        return _rows(np.asarray(xb)), yb

    def state_dict(self) -> Any:
        return self.inner.state_dict() if hasattr(self.inner, "state_dict") else None

    def load_state_dict(self, state: Any) -> None:
        if hasattr(self.inner, "load_state_dict"):
            self.inner.load_state_dict(state)


# ----------------------------------------------------------------- the loop

COURSE_OPTIONS = {"iterations", "reg", "schedule", "iterations_per_epoch"}


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
        scheduler_step="epoch", restore_best=True, progress=True, time_budget=None,
        checkpoint=None, resume=False, callbacks=None, ...)
        -> FitHistory: any model and loss; see `fit_epochs`.
    fit(model, loss_fn, optimizer, batches, X_train, y_train, X_val, y_val, *, iterations, ...)
        -> FitResult: the course's call, a layer over the same loop; see `fit_cifar`.
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
    'val_' + it (and '<name>_' + them for each `extra_eval` set), and 'lr' (the rate at each
    epoch's start) to one value per epoch; `history_obj["val_loss"]` reads it too.
    `best_epoch` (1-based) and `best` are the monitored quantity's best, None when nothing
    was monitored. `step_loss`: the loss of every step. Times in seconds: `seconds` the
    whole call, `train_seconds` the training steps (what a time budget counts),
    `eval_seconds` the measuring at the epochs' ends. `stopped`: why training ended,
    'epochs', 'max_steps', 'time_budget' or 'interrupted' (Ctrl-C)."""

    history: dict
    monitor: str | None
    mode: str | None
    best_epoch: int | None
    best: float | None
    seconds: float
    steps: int = 0
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    stopped: str = "epochs"
    step_loss: list = field(default_factory=list)

    def __getitem__(self, name: str) -> list[float]:
        return self.history[name]


def fit_epochs(
    model: Module,
    loss_fn: LossFn,
    optimizer: Optimizer,
    train_data: Any,
    *,
    epochs: int | None = None,
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
    steps_per_epoch: int | None = None,
    max_steps: int | None = None,
    time_budget: float | None = None,
    clock: Callable[[], float] = time.perf_counter,
    extra_eval: dict[str, Any] | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int = 1,
    resume: bool = False,
    extra_state: dict[str, Any] | None = None,
    callbacks: Iterable[Callback] | None = None,
) -> FitHistory:
    """Train for `epochs` passes over `train_data` (or until `max_steps` steps or the
    `time_budget` end it); returns a FitHistory.

    Data (`train_data`, `val_data`): a pair of arrays `(X, y)`, cut into `batch_size`
    batches (shuffled each epoch with the framework's generator, tg.manual_seed), any
    re-iterable of `(x, y)` batches (a list, a loader whose __iter__ starts a new pass), or
    (train_data only) a stream with `next_batch()` and a length (data.BatchIterator): an
    epoch is then `steps_per_epoch` (default its length) calls of next_batch().
    The model gets `x` as a Tensor; `loss_fn(outputs, y)` gets `y` as given and returns a
    scalar Tensor (a mean over the batch).
    `metrics`: functions `(outputs, targets) -> float` on NumPy arrays, named by __name__
    (training/metrics.py has accuracy), or a dict {name: function}. Training values are means
    over the epoch's batches (in training mode); validation values are over the whole set,
    in eval mode, as are those of each named set in `extra_eval` ({name: data}, recorded as
    '<name>_loss', '<name>_<metric>').
    `monitor` (a recorded name: 'val_loss', 'val_accuracy', 'loss', ...; None for off) picks
    the best epoch, whose weights the model holds at the end (unless restore_best=False);
    `mode` 'min' or 'max' says which way is better (inferred: min for names with loss or
    error, max for accuracy). Without val_data a 'val_' monitor is off: the last weights stay.
    `scheduler.step()` runs after every epoch (ReduceLROnPlateau: `step(monitored value)`,
    so it needs a monitor), or after every batch with scheduler_step='batch' (OneCycle-style
    schedules); with scheduler_step='fraction' (only for a schedule with
    `stepped_with_fraction`, lr_scheduler.BudgetedOneCycleLR), `scheduler.step(f)` before
    every batch, f the fraction of training elapsed at that batch's end: (steps + 1) / the
    planned steps, or with a time budget (seconds spent + the last step's) / the budget.
    `time_budget` (seconds): training stops once its steps (fetching the batch, forward,
    backward, update) have taken that long, as measured by `clock` (inject a fake one in
    tests); the epoch it cuts short is measured like the others. The per-batch metrics,
    the callbacks, measuring, checkpoints and whatever comes after fit do not count.
    `checkpoint` (a path): the whole state is saved atomically at every `checkpoint_every`-th
    epoch's end, on Ctrl-C (a stream's state mid-epoch; other data's last epoch end) and at
    the end, with
    `extra_state` (e.g. the run's config); `resume=True` continues from it, to the same
    result as an uninterrupted run. The first Ctrl-C stops after the current step.
    `callbacks`: Callback objects whose hooks run at the training's begin and end, after
    each step's backward and update and at each epoch's end (training.Diagnostics records
    the gradients and activations of every layer this way).
    """
    plan = _Plan(epochs, max_steps, time_budget, clock, scheduler, scheduler_step, checkpoint_every)
    _check_plan(plan, batch_size, steps_per_epoch, resume and checkpoint is None)
    source = _Source(train_data, batch_size, shuffle, epochs, steps_per_epoch)
    evals = _eval_sets(val_data, extra_eval, batch_size, epochs)
    named = _named_metrics(metrics)
    best = _BestEpoch(*_monitor_rule(monitor, mode, named, evals))
    loop = _Loop(model, loss_fn, optimizer, source, evals, named, best, plan)
    _ready(loop, _checked_callbacks(callbacks), checkpoint if resume else None)
    started = time.perf_counter()
    with _stop_on_ctrl_c() as stop, loop.bar(progress) as bar:
        stopped = loop.run(stop, bar, lambda: _save(loop, checkpoint, extra_state))
    return loop.result(stopped, time.perf_counter() - started, restore_best)


def _check_plan(
    plan: "_Plan", batch_size: int, per_epoch: int | None, resume_without_path: bool
) -> None:
    """The options' values; training needs an end (epochs, max_steps or a time budget)."""
    _check_options(plan.epochs, batch_size, plan.scheduler, plan.scheduler_step)
    if resume_without_path:
        raise ConfigError("resume=True needs a checkpoint path")
    if plan.epochs is None and plan.max_steps is None and plan.time_budget is None:
        raise ConfigError("fit needs epochs=, max_steps= or time_budget= to know when to stop")
    counts = ("max_steps", plan.max_steps), ("steps_per_epoch", per_epoch)
    for name, value in (*counts, ("checkpoint_every", plan.checkpoint_every)):
        if value is not None:
            _check_whole(name, value)
    budget = plan.time_budget
    if budget is not None and not (is_real(budget) and budget > 0):
        raise ConfigError(f"time_budget must be a number of seconds > 0, got {shown(budget)}")


def _ready(loop: "_Loop", callbacks: tuple[Any, ...], resume_from: Any) -> None:
    """Give the loop its callbacks, check what only the built loop can tell (that a
    fraction schedule knows the run's length, that a plateau schedule has a monitored
    value), and load the checkpoint `resume_from` (None: a new run)."""
    loop.callbacks = callbacks
    plan = loop.plan
    if plan.scheduler_step == "fraction" and plan.time_budget is None:
        loop._planned_steps()  # a ConfigError before any step when the length is unknown
    _check_plateau(plan.scheduler, plan.scheduler_step, loop.best)
    if resume_from is not None:
        loop.load_state_dict(load_checkpoint(resume_from))


def _check_plateau(scheduler: Any, scheduler_step: str, best: "_BestEpoch") -> None:
    """ReduceLROnPlateau is stepped at each epoch's end with the monitored value (as
    `scheduler.step(val_loss)` in PyTorch): it needs scheduler_step='epoch', a monitor and
    the same mode."""
    if not isinstance(scheduler, ReduceLROnPlateau):
        return
    if scheduler_step != "epoch" or best.monitor is None:
        raise ConfigError(
            "ReduceLROnPlateau is stepped with the monitored value at each epoch's end: "
            "pass scheduler_step='epoch' and monitor= a recorded name (a 'val_' one needs "
            f"val_data), got scheduler_step={scheduler_step!r}, monitored {best.monitor!r}"
        )
    if scheduler.mode != best.mode:
        raise ConfigError(
            f"ReduceLROnPlateau(mode={scheduler.mode!r}) disagrees with fit's mode "
            f"{best.mode!r} for {best.monitor!r}: pass the same mode to both"
        )


def _save(loop: "_Loop", checkpoint: str | os.PathLike[str] | None, extra: Any) -> None:
    """Save the whole training state (plus `extra`) so a run can resume; no path, no-op."""
    if checkpoint is not None:
        save_checkpoint(checkpoint, {**loop.state_dict(), "extra": extra or {}})


@dataclass
class _Plan:
    """When training ends and how the scheduler is stepped: what no step changes."""

    epochs: int | None
    max_steps: int | None
    time_budget: float | None
    clock: Callable[[], float]
    scheduler: Any
    scheduler_step: str
    checkpoint_every: int


class _Source:
    """The training batches, one step at a time: a stream's next_batch(), or the next
    batch of the current pass over a re-iterable ((X, y) arrays become a stream)."""

    def __init__(
        self, data: Any, batch_size: int, shuffle: bool, epochs: int | None, per_epoch: Any
    ) -> None:
        if callable(getattr(data, "next_batch", None)):
            self.data = data
        else:
            self.data = _batches(data, "train_data", batch_size, shuffle, epochs or 2)
        self.stream = callable(getattr(self.data, "next_batch", None))
        if per_epoch is None and hasattr(self.data, "__len__"):
            per_epoch = len(self.data)
        if self.stream and per_epoch is None:
            raise ConfigError("a train_data stream (with next_batch()) needs steps_per_epoch=")
        self.per_epoch: int | None = per_epoch
        self._pass: Iterator[Any] | None = None

    def start_epoch(self) -> None:
        if not self.stream:
            self._pass = _pairs(self.data, "train_data")

    def at_end(self, position: int) -> bool:
        """Whether an epoch of known length has had all its batches."""
        return self.per_epoch is not None and position >= self.per_epoch

    def next(self, position: int) -> Any:
        """The epoch's next batch, or None at its end."""
        if self.at_end(position):
            return None
        if self.stream:
            return self.data.next_batch()
        assert self._pass is not None  # (start_epoch made it)
        return next(self._pass, None)

    def state_dict(self) -> Any:
        return self.data.state_dict() if hasattr(self.data, "state_dict") else None

    def load_state_dict(self, state: Any) -> None:
        if state is not None:
            self.data.load_state_dict(state)


class _Loop:
    """Everything that changes during training, so it can be saved and restored whole."""

    def __init__(
        self,
        model: Module,
        loss_fn: LossFn,
        optimizer: Optimizer,
        source: _Source,
        evals: dict[str, Iterable[Any]],
        named: dict[str, Metric],
        best: "_BestEpoch",
        plan: _Plan,
    ) -> None:
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        self.source, self.evals, self.named, self.best, self.plan = source, evals, named, best, plan
        self.step = self.epoch = self.position = self.count = 0
        self.train_seconds = self.eval_seconds = self.last_step_seconds = self.hook_seconds = 0.0
        self.sums: dict[str, float] = {}
        self.epoch_lr = 0.0
        self.history = _empty_history(named, evals)
        self.step_loss: list[float] = []
        self.callbacks: tuple[Any, ...] = ()

    def run(self, stop: SimpleNamespace, bar: tqdm, save: Callable[[], None]) -> str:
        """Train epoch after epoch until the plan ends it or Ctrl-C stops it; returns why it
        stopped. Saves at each epoch's end, and on Ctrl-C (a stream mid-epoch)."""
        self.model.train()
        _notify(self, "on_train_begin")
        stopped = self._epochs(stop, bar, save)
        _notify(self, "on_train_end")
        return stopped

    def _epochs(self, stop: SimpleNamespace, bar: tqdm, save: Callable[[], None]) -> str:
        while self._why_done() is None:
            if not self._train_steps(stop, bar):
                if self.source.stream:
                    save()
                return "interrupted"
            self._end_epoch(bar)
            _notify(self, "on_epoch_end")
            if self.epoch % self.plan.checkpoint_every == 0 or self._why_done() or stop.requested:
                save()
            if stop.requested and self._why_done() is None:
                return "interrupted"
        return str(self._why_done())

    def _why_done(self) -> str | None:
        plan = self.plan
        if plan.max_steps is not None and self.step >= plan.max_steps:
            return "max_steps"
        if plan.time_budget is not None and self.train_seconds >= plan.time_budget:
            return "time_budget"
        if plan.epochs is not None and self.epoch >= plan.epochs:
            return "epochs"
        return None

    def _train_steps(self, stop: SimpleNamespace, bar: tqdm) -> bool:
        """The epoch's (remaining) steps: True when it ended (all its batches, or the plan's
        end), False when Ctrl-C stopped it in the middle."""
        if self.position == 0:
            self.source.start_epoch()
            self.sums, self.count = dict.fromkeys(["loss", *self.named], 0.0), 0
            self._step_fraction_scheduler()  # (the rate the epoch's first step will use)
            self.epoch_lr = self.optimizer.lr
        of = "" if self.plan.epochs is None else f"/{self.plan.epochs}"
        bar.set_description(f"epoch {self.epoch + 1}{of}")
        while self._why_done() is None and not self.source.at_end(self.position):
            self._step_fraction_scheduler()
            done = self._timed_step()
            if done is None:
                break
            self._record(*done)
            if self.plan.scheduler is not None and self.plan.scheduler_step == "batch":
                self.plan.scheduler.step()
            bar.update(1)
            if not bar.disable:
                bar.set_postfix({k: f"{v / self.count:.4g}" for k, v in self.sums.items()})
            if stop.requested:
                return self._why_done() is not None or self.source.at_end(self.position)
        if self.count == 0:
            raise ConfigError(
                f"train_data gave no batches in epoch {self.epoch + 1}; expected a "
                f"re-iterable that yields (x, y) batches on every pass"
            )
        return True

    def _timed_step(self) -> tuple[Tensor, Any, float, Tensor] | None:
        """Fetch the next batch and take one optimizer step on it, adding the time to
        train_seconds (less on_backward_end's); returns (x, y, loss, outputs), or None at
        the epoch's end."""
        clock = self.plan.clock
        started, self.hook_seconds = clock(), 0.0
        batch = self.source.next(self.position)
        if batch is None:
            return None
        x, y = _as_pair(batch)
        value, outputs = _train_step(self, x, y, self.step, self.epoch + 1)
        self.last_step_seconds = clock() - started - self.hook_seconds
        self.train_seconds += self.last_step_seconds
        return x, y, value, outputs

    def notify_backward_end(self) -> None:
        """Run the callbacks' on_backward_end, timing them (the budget leaves them out)."""
        if self.callbacks:
            started = self.plan.clock()
            _notify(self, "on_backward_end")
            self.hook_seconds += self.plan.clock() - started

    def _record(self, x: Tensor, y: Any, value: float, outputs: Tensor) -> None:
        """Count the step taken, run on_step_end, add its loss and metrics to the epoch's
        sums (outside the timed window)."""
        self.step += 1
        self.position += 1
        self.step_loss.append(value)
        _notify(self, "on_step_end")
        n = x.shape[0]
        self.sums["loss"] += value * n
        for name, metric in self.named.items():
            self.sums[name] += float(metric(outputs.data, _array(y))) * n
        self.count += n

    def _step_fraction_scheduler(self) -> None:
        """Before a step, set a fraction schedule's rate for the fraction of training that
        will have elapsed at the step's end: (steps + 1) / planned steps, or with a budget
        (train_seconds + the last step's seconds) / budget (0 before the first step)."""
        plan = self.plan
        if plan.scheduler is None or plan.scheduler_step != "fraction":
            return
        if plan.time_budget is not None:
            plan.scheduler.step((self.train_seconds + self.last_step_seconds) / plan.time_budget)
        else:
            plan.scheduler.step((self.step + 1) / self._planned_steps())

    def _planned_steps(self) -> int:
        """The run's length in steps, which a fraction-stepped schedule needs without a
        time budget."""
        plan, per_epoch = self.plan, self.source.per_epoch
        by_epochs = None if plan.epochs is None or per_epoch is None else plan.epochs * per_epoch
        lengths = [n for n in (plan.max_steps, by_epochs) if n is not None]
        if not lengths:
            raise ConfigError(
                "scheduler_step='fraction' needs time_budget=, max_steps= or data with a length"
            )
        return min(lengths)

    def _end_epoch(self, bar: tqdm) -> None:
        """Measure the epoch (training means, the eval sets), keep the best weights, step an
        epoch schedule; the measuring time goes to eval_seconds."""
        _check_finite_weights(self.model, self.optimizer, self.step)
        started = self.plan.clock()
        means = {k: v / self.count for k, v in self.sums.items()}
        for name, batches in self.evals.items():
            values = _validate(self.model, self.loss_fn, batches, self.named, f"{name}_data")
            means.update({f"{name}_{k}": v for k, v in values.items()})
        self.eval_seconds += self.plan.clock() - started
        for key, record in self.history.items():
            record.append(self.epoch_lr if key == "lr" else means[key])
        self.epoch += 1
        self.position = 0
        self.best.update(means, self.epoch, self.model)
        bar.set_postfix({k: f"{v:.4g}" for k, v in means.items()})
        if self.plan.scheduler is not None and self.plan.scheduler_step == "epoch":
            self._step_epoch_scheduler(means)
        self.model.train()

    def _step_epoch_scheduler(self, means: dict[str, float]) -> None:
        """Step an epoch schedule; ReduceLROnPlateau gets the monitored value."""
        scheduler = self.plan.scheduler
        if isinstance(scheduler, ReduceLROnPlateau):
            scheduler.step(means[str(self.best.monitor)])
        else:
            scheduler.step()

    @contextlib.contextmanager
    def bar(self, progress: bool) -> Iterator[tqdm]:
        """A progress bar counting steps from the current one (closed however the run
        ends); its total is the planned steps when they are known."""
        try:
            total: int | None = self._planned_steps()
        except ConfigError:
            total = None
        bar = tqdm(
            total=total, initial=self.step, disable=not progress, unit="step", dynamic_ncols=True
        )
        try:
            yield bar
        finally:
            bar.close()

    def result(self, stopped: str, seconds: float, restore_best: bool) -> FitHistory:
        """The run's FitHistory; with restore_best the model gets the best epoch's weights."""
        best = self.best
        if restore_best:
            best.restore(self.model)
        return FitHistory(
            self.history,
            best.monitor,
            best.mode,
            best.epoch,
            best.value,
            seconds,
            self.step,
            self.train_seconds,
            self.eval_seconds,
            stopped,
            self.step_loss,
        )

    STATE = ("step", "epoch", "position", "count", "sums", "epoch_lr", "history", "step_loss")
    STATE_TIMES = ("train_seconds", "eval_seconds", "last_step_seconds")

    def state_dict(self) -> dict[str, Any]:
        scheduler = self.plan.scheduler
        state = {name: getattr(self, name) for name in (*self.STATE, *self.STATE_TIMES)}
        return {
            **state,
            "iteration": state.pop("step"),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": scheduler.state_dict() if scheduler is not None else None,
            "batches": self.source.state_dict(),
            "generator": default_generator().bit_generator.state,
            "best": (self.best.value, self.best.epoch, self.best.state),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        missing = {"iteration", *self.STATE[1:], "model", "best"} - state.keys()
        if missing:
            raise CheckpointError(
                f"checkpoint lacks {sorted(missing)}: it was written by an earlier version "
                f"of fit; start a new run (without resume)"
            )
        try:
            self.model.load_state_dict(state["model"])
        except ValueError as err:
            raise CheckpointError(f"checkpoint does not fit this model: {err}") from None
        self.optimizer.load_state_dict(state["optimizer"])
        if self.plan.scheduler is not None and state["schedule"] is not None:
            self.plan.scheduler.load_state_dict(state["schedule"])
        self.source.load_state_dict(state["batches"])
        default_generator().bit_generator.state = state["generator"]
        for name in (*self.STATE[1:], *self.STATE_TIMES):
            setattr(self, name, state.get(name, 0.0))
        self.step = state["iteration"]
        self.best.value, self.best.epoch, self.best.state = state["best"]


def _train_step(
    owner: Any, x: Tensor, y: Any, step: int, epoch: int | None
) -> tuple[float, Tensor]:
    """One optimizer step of `owner`'s model, loss_fn and optimizer on (x, y): the loss
    value and the outputs. NumPy's overflow warnings are silenced here: a step that
    overflows makes the loss NaN or Inf, which is a DivergedError saying what to change."""
    owner.optimizer.zero_grad()
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        outputs = owner.model(x)
        loss = owner.loss_fn(outputs, y)
        value = _scalar(loss)
        if not math.isfinite(value):
            where = f"at iteration {step}" + (f" (epoch {epoch})" if epoch else "")
            raise DivergedError(f"training loss became {value} {where}; " + _likely_cause(owner, x))
        loss.backward()
        if isinstance(owner, _Loop):
            owner.notify_backward_end()
        owner.optimizer.step()
    return value, outputs


def _likely_cause(owner: Any, x: Tensor) -> str:
    if not np.isfinite(x.data).all():
        return "the training batch holds NaN or Inf values: check the data"
    if not all(np.isfinite(p.data).all() for p in owner.model.parameters()):
        return (
            f"the weights became NaN or Inf: lower the learning rate (now {owner.optimizer.lr:g})"
        )
    return f"lower the learning rate (now {owner.optimizer.lr:g})"


def _check_finite_weights(model: Module, optimizer: Optimizer, step: int) -> None:
    if not all(np.isfinite(p.data).all() for p in model.parameters()):
        raise DivergedError(
            f"the weights became NaN or Inf by iteration {step}; "
            f"lower the learning rate (now {optimizer.lr:g})"
        )


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


def _check_options(
    epochs: int | None, batch_size: int, scheduler: Any, scheduler_step: str
) -> None:
    if epochs is not None:
        _check_whole("epochs", epochs)
    if not (is_whole(batch_size) and batch_size >= 1):
        raise ConfigError(f"batch_size must be an integer >= 1, got {shown(batch_size)}")
    if scheduler_step not in ("epoch", "batch", "fraction"):
        raise ConfigError(
            f"scheduler_step must be 'epoch', 'batch' or 'fraction', got {shown(scheduler_step)}"
        )
    _check_scheduler(scheduler, scheduler_step)


def _check_scheduler(scheduler: Any, scheduler_step: str) -> None:
    """A schedule stepped with the elapsed fraction (it says so by `stepped_with_fraction`,
    as BudgetedOneCycleLR) goes with scheduler_step='fraction', and only such a one."""
    if scheduler is None:
        return
    by_fraction = getattr(scheduler, "stepped_with_fraction", False)
    if by_fraction and scheduler_step != "fraction":
        raise ConfigError(
            f"{type(scheduler).__name__} follows the elapsed fraction of training: pass "
            f"scheduler_step='fraction'"
        )
    if scheduler_step == "fraction" and not by_fraction:
        raise ConfigError(
            f"scheduler_step='fraction' calls step(elapsed fraction), which "
            f"{type(scheduler).__name__} does not take (only a schedule with "
            f"stepped_with_fraction = True, as BudgetedOneCycleLR): pass "
            f"scheduler_step='epoch' or 'batch'"
        )
    if not callable(getattr(scheduler, "step", None)):
        raise ConfigError(
            f"scheduler must have a step() method (an optim.lr_scheduler), got "
            f"{type(scheduler).__name__}"
        )


def _validate(
    model: Module, loss_fn: LossFn, batches: Iterable[Any], named: dict[str, Metric], name: str
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
            for x, y in _pairs(batches, name):
                out = model(_as_input(x))
                total += _scalar(loss_fn(out, y)) * out.shape[0]
                outputs.append(out.data)
                targets.append(_array(y))
    finally:
        model.train(was_training)
    if not outputs:
        raise ConfigError(f"{name} gave no batches; expected at least one (x, y) batch")
    outputs, targets = np.concatenate(outputs), np.concatenate(targets)
    return {
        "loss": total / len(outputs),
        **{name: float(metric(outputs, targets)) for name, metric in named.items()},
    }


class _ArrayBatches:
    """(X, y) arrays as minibatches, in a new random order on each pass if `shuffle` (drawn
    from the framework's generator when the pass starts): as a stream (next_batch(), which
    resumes mid-pass from state_dict()) or an iterable of passes."""

    def __init__(self, X: Array, y: Array, batch_size: int, shuffle: bool) -> None:
        self.X, self.y, self.batch_size, self.shuffle = X, y, batch_size, shuffle
        self.order: Array | None = None  # the current pass's order, and batches given of it
        self.position = 0

    def __len__(self) -> int:
        return -(-len(self.X) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Array, Array]]:
        self.order = None
        for _ in range(len(self)):
            yield self.next_batch()

    def next_batch(self) -> tuple[Array, Array]:
        if self.order is None or self.position >= len(self):
            n = len(self.X)
            self.order = default_generator().permutation(n) if self.shuffle else np.arange(n)
            self.position = 0
        rows = self.order[self.position * self.batch_size : (self.position + 1) * self.batch_size]
        self.position += 1
        return self.X[rows], self.y[rows]

    def state_dict(self) -> dict[str, Any]:
        return {
            "order": None if self.order is None else self.order.copy(),
            "position": self.position,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.order, self.position = state["order"], state["position"]


def _eval_sets(
    val_data: Any, extra_eval: dict[str, Any] | None, batch_size: int, epochs: int | None
) -> dict[str, Iterable[Any]]:
    """The data measured at each epoch's end, by the prefix of its names: 'val' for
    val_data, then extra_eval's (never shuffled: the order does not change the result)."""
    sets = {} if val_data is None else {"val": val_data}
    for name, data in (extra_eval or {}).items():
        if not (isinstance(name, str) and name.isidentifier() and name != "val"):
            raise ConfigError(
                f"extra_eval names prefix the recorded names: expected a Python identifier "
                f"other than 'val', got {name!r}"
            )
        sets[name] = data
    return {
        name: _batches(data, f"{name}_data", batch_size, False, epochs or 2)
        for name, data in sets.items()
    }


def _empty_history(named: dict[str, Metric], evals: dict[str, Any]) -> dict[str, list[float]]:
    """One empty list per recorded name, in the order they are shown: training values,
    each eval set's values ('val_loss', ...), then 'lr'."""
    measured = ["loss", *named]
    keys = measured + [f"{prefix}_{n}" for prefix in evals for n in measured]
    return {key: [] for key in [*keys, "lr"]}


def _as_pair(batch: Any) -> tuple[Tensor, Any]:
    """A training batch as (inputs as a Tensor, targets as given)."""
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        next(_pairs([batch], "train_data"))  # raises the error that says what a batch is
    return _as_input(batch[0]), batch[1]


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
    monitor: str | None, mode: str | None, named: dict[str, Metric], evals: dict[str, Any]
) -> tuple[str | None, str | None]:
    """The (monitor, mode) that picks the best epoch; monitor None when off."""
    if mode not in (None, "min", "max"):
        raise ConfigError(f"mode must be 'min', 'max' or None (inferred), got {shown(mode)}")
    if monitor is None:
        return None, None
    train_names = ["loss", *named]
    recorded = train_names + [
        f"{prefix}_{n}"
        for prefix in ("val", *(e for e in evals if e != "val"))
        for n in train_names
    ]
    if monitor not in recorded:
        raise ConfigError(f"monitor={monitor!r} is not recorded; expected one of {recorded}")
    mode = mode or _infer_mode(monitor)
    if monitor.startswith("val_") and "val" not in evals:
        return None, mode  # nothing to validate on: the last weights stay
    return monitor, mode


def _infer_mode(monitor: str) -> str:
    """'min' for a loss or an error, 'max' for an accuracy."""
    base = monitor.removeprefix("val_")
    if any(word in base for word in ("loss", "error", "mse", "mae")):
        return "min"
    if "acc" in base:
        return "max"
    raise ConfigError(
        f"cannot tell whether a smaller or a larger {monitor} is "
        f"better; pass mode='min' or mode='max'"
    )


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
