"""Writing files so that a crash at any moment loses nothing.

Every file the framework writes (checkpoints, metrics, plots) is written to a
temporary name in the same directory, flushed to disk, then renamed over the
target: a rename is atomic, so the target is always either the old file or the
new one, never half of one.
"""
import contextlib
import os
import pickle

from ..errors import TinygradError

CHECKPOINT_VERSION = 1


class CheckpointError(TinygradError, ValueError):
    """A checkpoint that cannot be read, or does not fit the model."""


@contextlib.contextmanager
def atomic_path(path):
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


def atomic_write_bytes(path, data):
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode("utf-8"))


def save_checkpoint(path, state):
    """Pickle a dict of training state (NumPy arrays, numbers, lists) atomically."""
    atomic_write_bytes(path, pickle.dumps({"version": CHECKPOINT_VERSION, **state},
                                          protocol=pickle.HIGHEST_PROTOCOL))


def load_checkpoint(path):
    """Read a checkpoint written by save_checkpoint (only load files you trust: it
    is a pickle). Raises CheckpointError naming the file if it is not one."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        with open(path, "rb") as f:
            state = pickle.load(f)
    except Exception as err:  # truncated or foreign files fail in many ways
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(err).__name__}: "
                              f"{err})") from None
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path} is not a tinygrad_hlcv checkpoint of version "
                              f"{CHECKPOINT_VERSION}")
    return state
