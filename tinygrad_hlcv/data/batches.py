"""Minibatch iteration (epochs or sampling with replacement) plus flip/crop
augmentation, all driven by one seeded Generator so runs are reproducible
and a resumed run continues the same random sequence."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..convert import is_whole, shown
from ..errors import ConfigError, ShapeError
from .augment import FlipCrop, as_generator, check_images, random_flip_crop, translate_flip_batch

Batch = tuple[np.ndarray, np.ndarray]  # (images or rows, labels)


def augment_batch(
    X: np.ndarray, rng: int | np.random.Generator, flip: bool = True, pad: int = 4
) -> np.ndarray:
    """Random horizontal flips (p=0.5) and random crops of the zero-padded (N, H, W, C)
    images, in one pass of the flip_crop kernel (data/augment.py). Returns a new array.

    The random sequence is the one the earlier fancy-indexing version drew (flips, then
    offsets), so a seed gives the same images as before. Refused (the framework's errors,
    ValueError/TypeError subclasses): X not 4-D (ShapeError), a dtype other than uint8,
    float32 or float64 (DTypeError), pad not an integer in 0..min(H, W) − 1 (ConfigError)."""
    return random_flip_crop(X, rng, flip, pad)


class BatchIterator:
    """Minibatches of (X, y).

    for xb, yb in it.epoch(): one pass; shuffled unless shuffle=False, or
        len(it) batches drawn with replacement if replacement=True.
    it.sample(): one batch of indices drawn with replacement, like the course
        code's np.random.choice(N, batch_size), for iteration-based schedules.
    it.next_batch(): endless stream for iteration-based loops (sample() if
        replacement=True, else consecutive shuffled epochs).
    augment=True applies augment_batch to image-shaped X (N, H, W, C): one kernel pass
        gathers the batch's images from X and flips and crops them.
    rng: None, an int seed or a np.random.Generator. state_dict() captures it;
    restoring it reproduces everything drawn afterwards (exact for sample()
    and next_batch() at any point, for epoch() between epochs).
    """

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        batch_size: int,
        shuffle: bool = True,
        replacement: bool = False,
        rng: int | np.random.Generator | None = None,
        augment: bool = False,
        drop_last: bool = False,
    ) -> None:
        if len(X) != len(y):
            raise ShapeError(f"X and y lengths differ: {len(X)} vs {len(y)}")
        if len(X) == 0:
            raise ShapeError("cannot iterate over an empty dataset")
        if not (is_whole(batch_size) and batch_size >= 1):
            raise ConfigError(f"batch_size must be a whole number >= 1, got {shown(batch_size)}")
        if augment:
            check_images(X)  # images (N, H, W, C) of a dtype the kernel takes, larger than pad
        self.X, self.y, self.batch_size = X, y, int(batch_size)
        self.shuffle, self.replacement = shuffle, replacement
        self.augment, self.drop_last = augment, drop_last
        self.rng = np.random.default_rng() if rng is None else as_generator(rng)
        self._order: np.ndarray | None = None  # the stream's current epoch, for next_batch
        self._position = 0  # batches of it already given out

    def __len__(self) -> int:
        n, b = len(self.X), self.batch_size
        if self.replacement:
            return max(n // b, 1)
        return n // b if self.drop_last else -(-n // b)

    def _take(self, idx: np.ndarray) -> Batch:
        if self.augment:  # gathered, flipped and cropped in one pass
            return random_flip_crop(self.X, self.rng, index=idx), self.y[idx]
        return self.X[idx], self.y[idx]

    def sample(self) -> Batch:
        """One batch drawn uniformly with replacement."""
        return self._take(self.rng.integers(0, len(self.X), size=self.batch_size))

    def epoch(self) -> Iterator[Batch]:
        """One pass over the data: len(self) batches, shuffled unless shuffle=False (drawn
        with replacement if replacement=True)."""
        if self.replacement:
            for _ in range(len(self)):
                yield self.sample()
            return
        n = len(self.X)
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        for i in range(len(self)):
            yield self._take(order[i * self.batch_size : (i + 1) * self.batch_size])

    __iter__ = epoch

    def next_batch(self) -> Batch:
        """The next batch of an endless stream: drawn with replacement, or the next
        slice of the current shuffled epoch (a fresh order once one is used up). The
        position is part of state_dict, so a stream resumes mid-epoch exactly."""
        if self.replacement:
            return self.sample()
        if self._order is None or self._position >= len(self):
            n = len(self.X)
            self._order = self.rng.permutation(n) if self.shuffle else np.arange(n)
            self._position = 0
        start = self._position * self.batch_size
        self._position += 1
        return self._take(self._order[start : start + self.batch_size])

    def state_dict(self) -> dict:
        """The generator's state and the place in the epoch: restoring it reproduces every
        batch drawn afterwards."""
        order = None if self._order is None else self._order.copy()
        return {"rng": self.rng.bit_generator.state, "order": order, "position": self._position}

    def load_state_dict(self, state: dict) -> None:
        """Restore what state_dict() gave, so the next batches are the ones that followed it."""
        st = state["rng"]
        name = st["bit_generator"]
        if name != type(self.rng.bit_generator).__name__:
            if name not in ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64"):
                raise ValueError(f"unknown bit generator {name!r} in state")
            self.rng = np.random.Generator(getattr(np.random, name)())
        self.rng.bit_generator.state = st
        self._order, self._position = state.get("order"), state.get("position", 0)


class AlternatingFlipBatches:
    """airbench's training stream over NCHW images: shuffled epochs of `batch_size` images
    (the last partial batch dropped), each image translated by up to ±`pad` pixels with
    reflect padding (new offsets every time) and mirrored by alternating flips: a random
    flip per image drawn once, applied in even epochs and inverted in odd ones, so every
    image is seen both ways in every two epochs (fewer repeats than independent flips).
    One kernel pass (augment.translate_flip) gathers, translates and flips a batch.

    `next_batch()` gives the next batch of the endless stream, `len()` the batches per
    epoch; `flat=True` gives each batch as rows (N, C·H·W), a view, for models that take
    rows. state_dict() holds the generator, the epoch's order and place, the epoch count
    and the drawn flips: restoring it reproduces every batch drawn afterwards."""

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        batch_size: int,
        rng: int | np.random.Generator,
        pad: int = 2,
        flat: bool = False,
    ) -> None:
        check_images(X, pad, "NCHW")
        if len(X) != len(y):
            raise ShapeError(f"X and y lengths differ: {len(X)} vs {len(y)}")
        if not (is_whole(batch_size) and 1 <= batch_size <= len(X)):
            raise ConfigError(
                f"batch_size must be a whole number in 1..{len(X)} (the images), got "
                f"{shown(batch_size)}"
            )
        self.X, self.y, self.batch_size, self.pad, self.flat = X, y, int(batch_size), pad, flat
        self.rng = as_generator(rng)
        self.base_flips = self.rng.random(len(X)) < 0.5  # epoch 0's flips
        self.epoch, self._position = -1, 0
        self._order = np.arange(0)

    def __len__(self) -> int:
        return len(self.X) // self.batch_size

    def next_batch(self) -> tuple[np.ndarray, np.ndarray]:
        """The next batch (images, labels), starting a new shuffled epoch when one ends."""
        if self.epoch < 0 or self._position >= len(self):
            self.epoch += 1
            self._order, self._position = self.rng.permutation(len(self.X)), 0
        start = self._position * self.batch_size
        rows = self._order[start : start + self.batch_size]
        self._position += 1
        flips = self.base_flips[rows] ^ bool(self.epoch % 2)
        dy, dx = self.rng.integers(0, 2 * self.pad + 1, size=(2, len(rows)))
        images = translate_flip_batch(self.X, FlipCrop(flips, dy, dx), self.pad, index=rows)
        return (images.reshape(len(rows), -1) if self.flat else images), self.y[rows]

    def state_dict(self) -> dict:
        return {
            "rng": self.rng.bit_generator.state,
            "order": self._order.copy(),
            "position": self._position,
            "epoch": self.epoch,
            "base_flips": self.base_flips.copy(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
        self._order, self._position = state["order"], state["position"]
        self.epoch, self.base_flips = state["epoch"], state["base_flips"]
