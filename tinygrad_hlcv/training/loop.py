"""The training loop: minibatch SGD steps, per-epoch evaluation and schedule,
best-validation weights, and checkpoints that resume to the very same result.

An "epoch" is `iterations_per_epoch` steps (by default one pass over the
training set's worth of batches), as in the course code; the schedule is
stepped and accuracies are measured at each epoch's end. Training accuracy is
measured on the first 1,000 training examples (in eval mode), so it compares
with the validation accuracy.
"""
import contextlib
import math
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from types import SimpleNamespace

import numpy as np
from tqdm.auto import tqdm

from ..convert import is_real, is_whole, shown
from ..creation import from_numpy
from ..engine import no_grad
from ..errors import ConfigError, TinygradError
from ..nn.loss import l2_penalty
from ..random import default_generator
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint

TRAIN_ACCURACY_SUBSET = 1000


class DivergedError(TinygradError, FloatingPointError):
    """The training loss became NaN or Inf."""


@dataclass
class History:
    loss: list = field(default_factory=list)       # per iteration (J~, with the L2 term)
    train_acc: list = field(default_factory=list)  # per epoch
    val_acc: list = field(default_factory=list)    # per epoch
    lr: list = field(default_factory=list)         # per epoch, the rate used in that epoch


@dataclass
class FitResult:
    history: History
    best_val_acc: float
    best_epoch: int
    iterations: int
    seconds: float
    interrupted: bool = False


def predict(model, X, batch_size=1000):
    """Class predictions in eval mode, batch by batch, recording no graph."""
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            return np.concatenate([model(from_numpy(_rows(X[i:i + batch_size]))).data.argmax(1)
                                   for i in range(0, len(X), batch_size)])
    finally:
        model.train(was_training)


def evaluate(model, X, y, batch_size=1000):
    """Accuracy of `model` on (X, y), in eval mode, batched, with no graph."""
    if len(X) != len(y) or len(X) == 0:
        raise ConfigError(f"evaluate needs as many labels as examples (> 0), got {len(X)} "
                          f"examples and {len(y)} labels")
    return float((predict(model, X, batch_size) == np.asarray(y)).mean())


def _rows(X):
    """Flatten image batches (N, H, W, C) into rows (N, H·W·C) for the first Linear layer."""
    return X if X.ndim == 2 else X.reshape(len(X), -1)


class Trainer:
    """Everything that changes during training, so it can be saved and restored whole."""

    def __init__(self, model, loss_fn, optimizer, batches, *, reg=0.0, schedule=None,
                 iterations_per_epoch=None):
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        if not (is_real(reg) and reg >= 0):
            raise ConfigError(f"reg (the L2 strength λ) must be a finite number >= 0, got "
                              f"{shown(reg)}")
        if iterations_per_epoch is None:
            iterations_per_epoch = len(batches)
        if not (is_whole(iterations_per_epoch) and iterations_per_epoch >= 1):
            raise ConfigError(f"iterations_per_epoch must be an integer >= 1, got "
                              f"{shown(iterations_per_epoch)}")
        self.batches, self.reg, self.schedule = batches, float(reg), schedule
        self.iterations_per_epoch = int(iterations_per_epoch)
        self.iteration = 0
        self.history = History()
        self.best_val_acc, self.best_epoch, self.best_state = -1.0, 0, None

    def step(self):
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
                raise DivergedError(f"training loss became {value} at iteration "
                                    f"{self.iteration}; " + self._likely_cause(xb))
            loss.backward()
            self.optimizer.step()
        self.iteration += 1
        self.history.loss.append(value)
        return value

    def _likely_cause(self, xb):
        if not np.isfinite(xb).all():
            return "the training batch holds NaN or Inf values: check the data"
        if not all(np.isfinite(p.data).all() for p in self.model.parameters()):
            return (f"the weights became NaN or Inf: lower the learning rate "
                    f"(now {self.optimizer.lr:g})")
        return f"lower the learning rate (now {self.optimizer.lr:g})"

    def end_epoch(self, X_train, y_train, X_val, y_val):
        if not all(np.isfinite(p.data).all() for p in self.model.parameters()):
            raise DivergedError(f"the weights became NaN or Inf by iteration {self.iteration}; "
                                f"lower the learning rate (now {self.optimizer.lr:g})")
        subset = slice(0, TRAIN_ACCURACY_SUBSET)
        self.history.train_acc.append(evaluate(self.model, X_train[subset], y_train[subset]))
        self.history.val_acc.append(evaluate(self.model, X_val, y_val))
        self.history.lr.append(self.optimizer.lr)
        if self.history.val_acc[-1] > self.best_val_acc:
            self.best_val_acc, self.best_epoch = self.history.val_acc[-1], len(self.history.val_acc)
            self.best_state = self.model.state_dict()
        if self.schedule is not None:
            self.schedule.step()

    def state_dict(self):
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "schedule": self.schedule.state_dict() if self.schedule else None,
                "batches": self.batches.state_dict(),
                "generator": default_generator().bit_generator.state,
                "iteration": self.iteration, "history": asdict(self.history),
                "best": (self.best_val_acc, self.best_epoch, self.best_state)}

    def load_state_dict(self, state):
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


def fit(model, loss_fn, optimizer, batches, X_train, y_train, X_val, y_val, *, iterations,
        reg=0.0, schedule=None, iterations_per_epoch=None, checkpoint=None, resume=False,
        extra_state=None, progress=True, restore_best=True):
    """Train for `iterations` steps (see the module docstring for epochs).

    `batches` gives training batches via `next_batch()` (a data.BatchIterator).
    With `checkpoint` (a path), the state is saved atomically at every epoch's end,
    on Ctrl-C, and at the end; `resume=True` continues from that file, to the same
    result as an uninterrupted run. `extra_state` (a dict, e.g. the run's config) is
    stored in the checkpoint. At the end the model holds the weights of the epoch
    with the best validation accuracy (unless restore_best=False).
    """
    if not (is_whole(iterations) and iterations >= 1):
        raise ConfigError(f"iterations must be an integer >= 1, got {shown(iterations)}")
    trainer = Trainer(model, loss_fn, optimizer, batches, reg=reg, schedule=schedule,
                      iterations_per_epoch=iterations_per_epoch)
    if resume:
        if checkpoint is None:
            raise ConfigError("resume=True needs a checkpoint path")
        trainer.load_state_dict(load_checkpoint(checkpoint))

    def save():
        if checkpoint is not None:
            save_checkpoint(checkpoint, {**trainer.state_dict(), "extra": extra_state or {}})

    start = time.perf_counter()
    bar = tqdm(total=iterations, initial=trainer.iteration, disable=not progress,
               unit="it", dynamic_ncols=True)
    model.train()
    with _stop_on_ctrl_c() as stop:
        try:
            while trainer.iteration < iterations and not stop.requested:
                loss = trainer.step()
                bar.update(1)
                if (trainer.iteration % trainer.iterations_per_epoch == 0
                        or trainer.iteration == iterations):
                    trainer.end_epoch(X_train, y_train, X_val, y_val)
                    bar.set_postfix(loss=f"{loss:.3f}",
                                    val_acc=f"{trainer.history.val_acc[-1]:.3f}",
                                    lr=f"{optimizer.lr:.2e}")
                    save()
            if stop.requested:
                save()
        finally:
            bar.close()
    if restore_best and trainer.best_state is not None:
        model.load_state_dict(trainer.best_state)
    return FitResult(trainer.history, trainer.best_val_acc, trainer.best_epoch,
                     trainer.iteration, time.perf_counter() - start,
                     stop.requested and trainer.iteration < iterations)


@contextlib.contextmanager
def _stop_on_ctrl_c():
    """The first Ctrl-C asks the loop to stop after the current step (so the saved state
    is consistent); a second one interrupts at once."""
    stop = SimpleNamespace(requested=False)
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum, frame):
        if stop.requested:
            raise KeyboardInterrupt
        stop.requested = True
        print("\nstopping after this step and saving a checkpoint (Ctrl-C again to abort)")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)
