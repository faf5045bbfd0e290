"""Train/val/test splits and preprocessing fitted on the training split only.

Statistics (mean, std, PCA basis) come from training images alone so that
validation and test numbers stay honest; the fitted state is plain arrays so
it can be stored next to a model checkpoint and reapplied at inference.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .cifar10 import CIFAR10, StrPath, load_cifar10


@dataclass(repr=False)
class Splits:
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    preprocessor: Preprocessor | None = None

    def __repr__(self) -> str:
        return (
            f"Splits(train={self.X_train.shape}, val={self.X_val.shape}, "
            f"test={self.X_test.shape}, dtype={self.X_train.dtype})"
        )


def split_cifar10(
    data: CIFAR10, num_train: int = 49000, num_val: int = 1000, num_test: int | None = 1000
) -> Splits:
    """Course-exercise split: train = first num_train training images, val =
    the num_val images right after them, test = first num_test test images
    (None = all). Arrays are views of `data`; nothing is shuffled."""
    n_avail, t_avail = len(data.X_train), len(data.X_test)
    if num_train < 1 or num_val < 0 or num_train + num_val > n_avail:
        raise ValueError(
            f"num_train + num_val = {num_train} + {num_val} must be in "
            f"1..{n_avail} (training images available)"
        )
    num_test = t_avail if num_test is None else num_test
    if not 0 <= num_test <= t_avail:
        raise ValueError(f"num_test = {num_test} must be in 0..{t_avail} (test images available)")
    val = slice(num_train, num_train + num_val)
    return Splits(
        data.X_train[:num_train],
        data.y_train[:num_train],
        data.X_train[val],
        data.y_train[val],
        data.X_test[:num_test],
        data.y_test[:num_test],
    )


def zca_matrix(
    rows: npt.ArrayLike,
    eps: float,
    dtype: npt.DTypeLike = np.float32,
    mirror: npt.ArrayLike | None = None,
) -> np.ndarray:
    """The ZCA whitening matrix W = U (Λ + ε)^-½ Uᵀ of the rows' second moments XᵀX/N = UΛUᵀ.

    `rows @ W` has second moments U Λ/(Λ + ε) Uᵀ: each direction's variance brought to
    about 1 (ε keeps the noise directions, of variance ≪ ε, from being blown up), and
    unlike PCA whitening the result stays in pixel space (W is symmetric), so images
    whitened this way can still be flipped and cropped. Centre (or normalise) the rows
    first: the matrix uses their second moments as they are. `mirror`, a permutation of
    the features (such as an image's horizontal flip), averages the moments with their
    mirrored copy, as if each row came with its mirror image: W then commutes with the
    permutation, so whitening a flipped image equals flipping the whitened one exactly.
    """
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating)) or not eps > 0:
        raise ValueError(f"zca_matrix: eps = {eps!r}; expected a number > 0")
    x = np.asarray(rows)
    if x.ndim != 2 or len(x) < 2 or x.dtype.kind != "f":
        raise ValueError(
            f"zca_matrix: rows of shape {x.shape} and dtype {x.dtype}; expected a float "
            "array (N, D) with N >= 2"
        )
    second = (x.T @ x).astype(np.float64) / len(x)  # one BLAS GEMM in the rows' dtype
    if mirror is not None:
        order = np.asarray(mirror)
        if sorted(order.tolist()) != list(range(x.shape[1])):
            raise ValueError(
                f"zca_matrix: mirror is not a permutation of the {x.shape[1]} features"
            )
        second = (second + second[np.ix_(order, order)]) / 2
    variances, basis = np.linalg.eigh(second)
    scale = 1.0 / np.sqrt(np.clip(variances, 0.0, None) + eps)
    return np.ascontiguousarray(((basis * scale) @ basis.T).astype(dtype))


class Preprocessor:
    """Flatten images to rows, then optionally center, standardize, PCA-project.

    center:      subtract the training mean image.
    standardize: divide by the per-channel std of the centered training data.
    pca:         None, int k (keep k components) or float in (0, 1) (keep the
                 fewest components explaining that fraction of the variance);
                 the basis comes from the centered (and scaled) training data.
    transform() accepts HWC images (N, H, W, C) or flat rows (N, D), so it can
    be applied per batch after augmentation.
    """

    def __init__(
        self,
        center: bool = True,
        standardize: bool = False,
        pca: int | float | None = None,
        dtype: npt.DTypeLike = np.float32,
    ) -> None:
        if pca is not None:
            if isinstance(pca, (bool, np.bool_)):
                raise ValueError("pca must be None, an int k >= 1 or a float in (0, 1)")
            if isinstance(pca, (int, np.integer)) and pca < 1:
                raise ValueError(f"pca = {pca}: number of components must be >= 1")
            if isinstance(pca, (float, np.floating)) and not 0.0 < pca < 1.0:
                raise ValueError(f"pca = {pca}: variance fraction must be in (0, 1)")
        self.center, self.standardize, self.pca = bool(center), bool(standardize), pca
        self.dtype = np.dtype(dtype)
        self.mean_: np.ndarray | None = None  # fitted state: set by fit or from_state_dict
        self.std_: np.ndarray | None = None
        self.components_: np.ndarray | None = None
        self.explained_variance_: np.ndarray | None = None
        self.explained_variance_ratio_: np.ndarray | None = None
        self.n_features_: int | None = None
        self.fitted = False

    @staticmethod
    def _rows(X: npt.ArrayLike) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim < 2:
            raise ValueError(f"expected images (N, H, W, C) or rows (N, D), got shape {X.shape}")
        return X.reshape(len(X), int(np.prod(X.shape[1:])))  # -1 fails on an empty X

    def fit(self, X_train: npt.ArrayLike) -> Preprocessor:
        """Learn the mean (and the std and PCA, if asked) from the training rows; returns self."""
        x = self._rows(X_train).astype(np.float32)  # float32 halves memory on 49000x3072
        n, d = x.shape
        self.n_features_ = d
        self.mean_ = mean = x.mean(axis=0, dtype=np.float64)
        x -= mean.astype(np.float32)
        if self.standardize:
            # Channel = last axis of HWC images = flat index % C.
            c = np.shape(X_train)[-1] if np.ndim(X_train) == 4 else 3
            if d % c:
                raise ValueError(f"feature size {d} is not a multiple of {c} channels")
            var = np.array([np.square(x[:, k::c]).mean(dtype=np.float64) for k in range(c)])
            self.std_ = std = np.sqrt(var) + 1e-8
            x /= np.tile(std, d // c).astype(np.float32)
        if self.pca is not None:
            if n < 2:
                raise ValueError("PCA needs at least 2 training samples")
            if n > d:
                # Eigen-decompose the D x D covariance instead of SVD of the N x D
                # data: seconds rather than minutes for 49000 x 3072.
                evals, evecs = np.linalg.eigh((x.T @ x).astype(np.float64) / (n - 1))
                evals, evecs = np.clip(evals[::-1], 0.0, None), evecs[:, ::-1]
            else:  # few samples: thin SVD of the data is the cheap route
                _, s, vt = np.linalg.svd(x.astype(np.float64), full_matrices=False)
                evals, evecs = s**2 / (n - 1), vt.T
            if isinstance(self.pca, (float, np.floating)):
                frac = np.cumsum(evals) / evals.sum()
                k = min(int(np.searchsorted(frac, self.pca)) + 1, d)
            else:
                k = int(self.pca)
            if k > min(n, d):
                raise ValueError(f"pca = {k} components but only min(N, D) = {min(n, d)} available")
            self.components_ = np.ascontiguousarray(evecs[:, :k])
            self.explained_variance_ = evals[:k]
            self.explained_variance_ratio_ = evals[:k] / evals.sum()
        self.fitted = True
        return self

    def transform(self, X: npt.ArrayLike) -> np.ndarray:
        """Rows centred (scaled, projected) with what fit() learned, in the preprocessor's dtype."""
        if not self.fitted:
            raise RuntimeError("Preprocessor.transform called before fit")
        assert self.mean_ is not None and self.n_features_ is not None  # set when fitted
        x = self._rows(X).astype(self.dtype)  # always a copy; input untouched
        if x.shape[1] != self.n_features_:
            raise ValueError(f"expected {self.n_features_} features per sample, got {x.shape[1]}")
        if self.center:
            x -= self.mean_.astype(self.dtype)
        if self.standardize:
            assert self.std_ is not None  # fitted with standardize=True
            x /= np.tile(self.std_, self.n_features_ // len(self.std_)).astype(self.dtype)
        if self.components_ is not None:
            x = x @ self.components_.astype(self.dtype)
        return x

    def fit_transform(self, X_train: npt.ArrayLike) -> np.ndarray:
        """fit(X_train), then transform(X_train)."""
        return self.fit(X_train).transform(X_train)

    @property
    def n_components(self) -> int | None:
        """The PCA components kept (None without PCA)."""
        return None if self.components_ is None else self.components_.shape[1]

    def state_dict(self) -> dict:
        """All entries are NumPy arrays (no objects), so np.savez can store them."""
        if not self.fitted:
            raise RuntimeError("Preprocessor.state_dict called before fit")
        empty = np.zeros(0)
        return {
            "center": np.array(self.center),
            "standardize": np.array(self.standardize),
            "dtype": np.array(self.dtype.str),
            "n_features": np.array(self.n_features_),
            "mean": self.mean_,
            "std": self.std_ if self.std_ is not None else empty,
            "components": self.components_ if self.components_ is not None else np.zeros((0, 0)),
            "explained_variance": (
                self.explained_variance_ if self.explained_variance_ is not None else empty
            ),
            "explained_variance_ratio": (
                self.explained_variance_ratio_
                if self.explained_variance_ratio_ is not None
                else empty
            ),
        }

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> Preprocessor:
        comps = np.asarray(state["components"])
        p = cls(
            center=bool(state["center"]),
            standardize=bool(state["standardize"]),
            pca=int(comps.shape[1]) if comps.size else None,
            dtype=str(state["dtype"]),
        )
        p.n_features_ = int(state["n_features"])
        p.mean_ = np.asarray(state["mean"], dtype=np.float64)
        p.std_ = np.asarray(state["std"], dtype=np.float64) if p.standardize else None
        if comps.size:
            p.components_ = comps
            p.explained_variance_ = np.asarray(state["explained_variance"])
            p.explained_variance_ratio_ = np.asarray(state["explained_variance_ratio"])
        p.fitted = True
        return p

    def __repr__(self) -> str:
        k = f", k={self.n_components}" if self.fitted and self.components_ is not None else ""
        return (
            f"Preprocessor(center={self.center}, standardize={self.standardize}, "
            f"pca={self.pca!r}{k}, dtype={self.dtype}, fitted={self.fitted})"
        )


def prepare_cifar10(
    root: StrPath | None = None,
    num_train: int = 49000,
    num_val: int = 1000,
    num_test: int | None = 1000,
    center: bool = True,
    standardize: bool = False,
    pca: int | float | None = None,
    dtype: npt.DTypeLike = np.float32,
    download: bool = True,
    transform: bool = True,
) -> Splits:
    """Load, split and preprocess in one call (preprocessor fitted on train only).

    transform=False keeps the splits as uint8 HWC images (for augmentation)
    and only fits the preprocessor; apply splits.preprocessor.transform per batch.
    """
    s = split_cifar10(load_cifar10(root, download=download), num_train, num_val, num_test)
    pre = Preprocessor(center=center, standardize=standardize, pca=pca, dtype=dtype).fit(s.X_train)
    if transform:
        s = Splits(
            pre.transform(s.X_train),
            s.y_train,
            pre.transform(s.X_val),
            s.y_val,
            pre.transform(s.X_test),
            s.y_test,
        )
    s.preprocessor = pre
    return s
