"""CIFAR-10 data: loading/downloading, splits + preprocessing, minibatches and their
flip/crop augmentation.

NumPy + stdlib (+ tqdm for the download bar), and Numba for the augmentation kernel;
of the rest of tinygrad_hlcv it uses only the errors and the kernel-set switch
(kernels.select / TINYGRAD_HLCV_KERNELS).
"""

from .augment import (
    FlipCrop,
    draw_flip_crop,
    flip_crop_batch,
    random_flip_crop,
    translate_flip_batch,
)
from .batches import AlternatingFlipBatches, BatchIterator, augment_batch
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
from .preprocess import Preprocessor, Splits, prepare_cifar10, split_cifar10, zca_matrix

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
    "zca_matrix",
    "BatchIterator",
    "augment_batch",
    "FlipCrop",
    "draw_flip_crop",
    "flip_crop_batch",
    "random_flip_crop",
    "translate_flip_batch",
    "AlternatingFlipBatches",
]
