"""CIFAR-10 data: loading/downloading, splits + preprocessing, minibatches.

Pure NumPy + stdlib (+ tqdm for the download bar); of the rest of
tinygrad_hlcv it uses only the exception base class.
"""

from .batches import BatchIterator, augment_batch
from .cifar10 import (
    CIFAR10,
    MD5,
    URL,
    CIFAR10NotFoundError,
    DataError,
    default_cache_dir,
    download_cifar10,
    find_cifar10,
    load_batch,
    load_cifar10,
)
from .preprocess import Preprocessor, Splits, prepare_cifar10, split_cifar10

__all__ = [
    "CIFAR10",
    "URL",
    "MD5",
    "DataError",
    "CIFAR10NotFoundError",
    "default_cache_dir",
    "download_cifar10",
    "find_cifar10",
    "load_batch",
    "load_cifar10",
    "Preprocessor",
    "Splits",
    "prepare_cifar10",
    "split_cifar10",
    "BatchIterator",
    "augment_batch",
]
