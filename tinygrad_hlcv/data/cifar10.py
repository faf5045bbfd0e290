"""Find, download and load CIFAR-10 in the official Python layout.

Everything a training run needs to trust its input is checked here, so a
truncated or wrong file fails loudly with its path instead of producing a
model that silently trains on garbage.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np

from ..errors import TinygradError

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"
FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
ALL_FILES = TRAIN_FILES + (TEST_FILE, META_FILE)
NUM_CLASSES = 10
StrPath: TypeAlias = str | os.PathLike[str]  # a path as the user may pass it

HOW_TO_PROVIDE = (
    "Provide the data by setting CIFAR10_DIR to a directory holding the "
    f"official '{FOLDER}' files (or its parent), by passing --data-dir / "
    "root=..., or allow a download with download=True (network needed)."
)


class DataError(TinygradError, ValueError):
    """A CIFAR-10 file exists but is incomplete, corrupt or not what we expect."""


class CIFAR10NotFoundError(TinygradError, FileNotFoundError):
    """No CIFAR-10 copy anywhere we looked (and no download possible)."""


@dataclass(frozen=True, repr=False)
class CIFAR10:
    X_train: np.ndarray  # uint8 (50000, 32, 32, 3), HWC
    y_train: np.ndarray  # int64 (50000,)
    X_test: np.ndarray  # uint8 (10000, 32, 32, 3)
    y_test: np.ndarray  # int64 (10000,)
    label_names: list[str]
    root: Path

    def __repr__(self) -> str:
        return f"CIFAR10(train={self.X_train.shape}, test={self.X_test.shape}, root='{self.root}')"


def default_cache_dir() -> Path:
    """$TINYGRAD_HLCV_DATA, else ~/.cache/tinygrad_hlcv (read at call time)."""
    return Path(
        os.environ.get("TINYGRAD_HLCV_DATA") or Path.home() / ".cache" / "tinygrad_hlcv"
    ).expanduser()


# ---------------------------------------------------------------- unpickling


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds NumPy arrays: batch files may come from the
    internet or a shared disk, and plain pickle would run arbitrary code."""

    _ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),  # Python 3 protocol-2 pickles store bytes this way
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        return super().find_class(module, name)


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            # encoding='bytes' reads Python 2 pickles (bytes keys) and leaves
            # Python 3 pickles (str keys) alone; _get() accepts both.
            obj = _NumpyOnlyUnpickler(f, encoding="bytes").load()
    except FileNotFoundError:
        raise DataError(f"missing CIFAR-10 file {path}") from None
    except Exception as e:  # truncated/corrupt pickles raise many types
        raise DataError(
            f"cannot unpickle CIFAR-10 file {path} "
            f"(truncated or corrupt?): {type(e).__name__}: {e}; expected a batch "
            f"of the official '{FOLDER}' archive: delete it and download "
            "the archive again"
        ) from e
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a pickled dict, got {type(obj).__name__}")
    return obj


def _get(d: dict, key: str, path: Path) -> Any:
    for k in (key, key.encode()):
        if k in d:
            return d[k]
    raise DataError(f"{path}: missing key '{key}' (found keys {sorted(map(str, d))})")


def load_batch(path: StrPath) -> tuple[np.ndarray, np.ndarray]:
    """Load one official batch file -> (uint8 (N, 32, 32, 3) HWC, int64 (N,))."""
    path = Path(path)
    d = _unpickle(path)
    data, labels = _get(d, "data", path), _get(d, "labels", path)
    if not (
        isinstance(data, np.ndarray)
        and data.dtype == np.uint8
        and data.ndim == 2
        and data.shape[1] == 3072
    ):
        desc = (
            f"{data.dtype} array of shape {data.shape}"
            if isinstance(data, np.ndarray)
            else type(data).__name__
        )
        raise DataError(f"{path}: expected 'data' as uint8 array of shape (N, 3072), got {desc}")
    try:
        y = np.asarray(labels, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError) as e:
        raise DataError(f"{path}: 'labels' are not integers: {e}") from e
    if len(y) != len(data):
        raise DataError(f"{path}: expected {len(data)} labels (one per image), got {len(y)}")
    if len(y) and (y.min() < 0 or y.max() >= NUM_CLASSES):
        raise DataError(
            f"{path}: expected labels in 0..{NUM_CLASSES - 1}, got range {y.min()}..{y.max()}"
        )
    # Rows are channel-major (1024 R, 1024 G, 1024 B); convert to HWC.
    X = np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return X, y


def load_label_names(path: StrPath) -> list[str]:
    """The ten class names from the `batches.meta` file at `path`."""
    path = Path(path)
    names = _get(_unpickle(path), "label_names", path)
    names = [n.decode("latin1") if isinstance(n, bytes) else str(n) for n in names]
    if len(names) != NUM_CLASSES:
        raise DataError(f"{path}: expected {NUM_CLASSES} label names, got {len(names)}")
    return names


# ---------------------------------------------------------------- locating


def _resolve(path: StrPath) -> Path | None:
    """A directory holding the batch files: `path` itself or `path/FOLDER`."""
    path = Path(path).expanduser()
    for cand in (path, path / FOLDER):
        if any((cand / f).is_file() for f in ALL_FILES):
            return cand
    return None


def find_cifar10(root: StrPath | None = None) -> tuple[Path | None, list[str]]:
    """Return (directory or None, list of places looked). Explicit root wins;
    otherwise $CIFAR10_DIR, then the cache directory."""
    if root is not None:
        places = [f"root argument: {Path(root).expanduser()}"]
        return _resolve(root), places
    places = []
    env = os.environ.get("CIFAR10_DIR")
    if env:
        places.append(f"$CIFAR10_DIR: {Path(env).expanduser()}")
        if (found := _resolve(env)) is not None:
            return found, places
    else:
        places.append("$CIFAR10_DIR: (not set)")
    cache = default_cache_dir() / FOLDER
    places.append(f"cache directory ($TINYGRAD_HLCV_DATA or ~/.cache/tinygrad_hlcv): {cache}")
    return _resolve(cache), places


def _not_found(places: list[str], extra: str = "") -> CIFAR10NotFoundError:
    lines = "\n".join(f"  - {p}" for p in places)
    return CIFAR10NotFoundError(f"CIFAR-10 not found. Looked in:\n{lines}\n{extra}{HOW_TO_PROVIDE}")


# ---------------------------------------------------------------- download


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fetch(url: str, fd: int, progress: bool) -> str:
    """Write what `url` serves into the open file `fd` (closing it); return its MD5."""
    from tqdm.auto import tqdm

    h = hashlib.md5()
    with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:
        total = int(resp.headers.get("Content-Length") or 0) or None
        with tqdm(
            total=total, unit="B", unit_scale=True, desc="CIFAR-10", disable=not progress
        ) as bar:
            for chunk in iter(lambda: resp.read(1 << 20), b""):
                out.write(chunk)
                h.update(chunk)
                bar.update(len(chunk))
    return h.hexdigest()


def _extract(archive: Path, into: Path, url: str) -> None:
    """Unpack the .tar.gz `archive` into `into`, refusing members that would escape it."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            if hasattr(tarfile, "data_filter"):  # refuses paths escaping `into`
                tar.extractall(into, filter="data")
            else:  # Python < 3.10.12 without extraction filters
                for m in tar.getmembers():
                    if (
                        not (m.isfile() or m.isdir())
                        or Path(m.name).is_absolute()
                        or ".." in Path(m.name).parts
                    ):
                        raise DataError(f"unsafe archive member {m.name!r}")
                tar.extractall(into)
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"cannot extract {url}: {e}") from e


def download_cifar10(
    cache_dir: StrPath | None = None, url: str = URL, md5: str | None = MD5, progress: bool = True
) -> Path:
    """Download + verify + extract into cache_dir/FOLDER and return that path.

    Atomic: the archive goes to a temp file and is extracted into a temp
    directory that is renamed into place, so an interrupted run never leaves
    a half-written dataset that a later run would trust.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    final = cache_dir / FOLDER
    fd, tmp_name = tempfile.mkstemp(prefix=".cifar10-", suffix=".tar.gz.part", dir=cache_dir)
    archive, tmp_dir = Path(tmp_name), None
    try:
        got = _fetch(url, fd, progress)
        if md5 is not None and got != md5.lower():
            raise DataError(
                f"MD5 mismatch for {url}: expected {md5}, got {got}; "
                "the downloaded file was deleted"
            )
        tmp_dir = Path(tempfile.mkdtemp(prefix=".cifar10-extract-", dir=cache_dir))
        _extract(archive, tmp_dir, url)
        extracted = _resolve(tmp_dir)
        if extracted is None:
            raise DataError(f"archive from {url} has no '{FOLDER}' batch files")
        try:
            os.replace(extracted, final)
        except OSError:
            if _resolve(final) is None:  # not a concurrent run that beat us to it
                raise
        return final
    finally:
        archive.unlink(missing_ok=True)
        if tmp_dir is not None:
            shutil.rmtree(tmp_dir, ignore_errors=True)


# ---------------------------------------------------------------- loading


def load_cifar10(root: StrPath | None = None, download: bool = True) -> CIFAR10:
    """Load CIFAR-10 as uint8 HWC images and int64 labels.

    Looks at `root` if given (no download then), else $CIFAR10_DIR, then the
    cache directory, and downloads into the cache as a last resort.
    """
    found, places = find_cifar10(root)
    if found is None:
        if root is not None or not download:
            raise _not_found(places)
        try:
            found = download_cifar10()
        except (urllib.error.URLError, OSError) as e:
            raise _not_found(places, f"Download from {URL} failed: {e}\n") from e
    for f in ALL_FILES:
        if not (found / f).is_file():
            raise DataError(f"incomplete CIFAR-10 directory {found}: missing file {found / f}")
    parts = [load_batch(found / f) for f in TRAIN_FILES]
    X_test, y_test = load_batch(found / TEST_FILE)
    return CIFAR10(
        X_train=np.concatenate([p[0] for p in parts]),
        y_train=np.concatenate([p[1] for p in parts]),
        X_test=X_test,
        y_test=y_test,
        label_names=load_label_names(found / META_FILE),
        root=found,
    )
