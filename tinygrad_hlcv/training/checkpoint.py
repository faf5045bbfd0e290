"""Writing files so that a crash at any moment loses nothing.

Every file the framework writes (checkpoints, metrics, plots) is written to a
temporary name in the same directory, flushed to disk, then renamed over the
target: a rename is atomic, so the target is always either the old file or the
new one, never half of one.
"""

import contextlib
import os
import pickle
import sys
from collections.abc import Iterator
from typing import Any

from ..errors import TinygradError

CHECKPOINT_VERSION = 1
TEST_HOOK = "TINYGRAD_HLCV_TEST_CHECKPOINT_HOOK"  # test-only: see save_checkpoint
_saves = 0  # checkpoints saved (or being saved) by this process, for the test hook


class CheckpointError(TinygradError, ValueError):
    """A checkpoint that cannot be read, or does not fit the model."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[str]:
    """Yield a temporary path to write; on success it replaces `path` atomically,
    on failure it is deleted. The temporary name keeps the suffix (for matplotlib)."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    stem, suffix = os.path.splitext(os.path.basename(path))
    tmp = os.path.join(directory, f".{stem}.tmp-{os.getpid()}{suffix}")
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` atomically: a temporary file beside it, then os.replace."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` to `path` atomically: a temporary file beside it, then os.replace."""
    atomic_write_bytes(path, text.encode("utf-8"))


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Pickle a dict of training state (NumPy arrays, numbers, lists) atomically.

    Test-only: with $TINYGRAD_HLCV_TEST_CHECKPOINT_HOOK set to "mid-write:N" or "saved:N",
    each save prints "checkpoint saved <count> <iteration>" on stdout, and the N-th save of
    this process stops, until a line (or the end) arrives on stdin, with its temporary file
    half written ("checkpoint mid-write N <iteration>" is printed then) or right after the
    rename. Tests kill or interrupt a run there: at a point that no timing decides and
    that the run cannot have passed."""
    global _saves
    data = pickle.dumps({"version": CHECKPOINT_VERSION, **state}, protocol=pickle.HIGHEST_PROTOCOL)
    _saves += 1
    pause, iteration = _test_pause(), state.get("iteration")
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        written = 0
        if pause == ("mid-write", _saves):
            written = f.write(data[: len(data) // 2])
            f.flush()
            _wait_for_the_test(f"checkpoint mid-write {_saves} {iteration}")
        f.write(data[written:])
    if pause is not None:
        print(f"checkpoint saved {_saves} {iteration}", flush=True)
    if pause == ("saved", _saves):
        _wait_for_the_test()


def _test_pause() -> tuple[str, int] | None:
    """The test hook's (phase, N), or None when it is not set."""
    hook = os.environ.get(TEST_HOOK)
    if not hook:
        return None
    phase, _, count = hook.partition(":")
    if phase not in ("mid-write", "saved") or not count.isdigit():
        raise ValueError(f"${TEST_HOOK} must be 'mid-write:N' or 'saved:N', got {hook!r}")
    return phase, int(count)


def _wait_for_the_test(announcement: str | None = None) -> None:
    if announcement:
        print(announcement, flush=True)
    sys.stdin.readline()


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint written by save_checkpoint (only load files you trust: it
    is a pickle). Raises CheckpointError naming the file if it is not one."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        with open(path, "rb") as f:
            state = pickle.load(f)
    except Exception as err:  # truncated or foreign files fail in many ways
        raise CheckpointError(
            f"{path} is not a readable checkpoint ({type(err).__name__}: {err})"
        ) from None
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path} is not a tinygrad_hlcv checkpoint of version {CHECKPOINT_VERSION}"
        )
    return state
