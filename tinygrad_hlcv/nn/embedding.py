"""Embedding: a table of vectors looked up by integer index, and its function `embedding`,
as PyTorch's (without max_norm, scale_grad_by_freq and sparse gradients)."""

from typing import Any

import numpy as np
import numpy.typing as npt

from ..convert import is_whole, shown, with_article
from ..dtypes import FLOAT_DTYPES, check_float_dtype, get_default_dtype
from ..engine import Function, Tensor
from ..errors import ConfigError, DTypeError, IndexingError, ShapeError
from ..random import default_generator
from .module import Module

__all__ = ["Embedding", "embedding"]


class EmbeddingLookup(Function):
    """z[k] = W[i_k], one row of W per index;  dW[r] = Σ_{k: i_k = r} δ[k]: np.add.at sums
    the gradients of an index that occurs more than once; the row `padding_idx` gets none."""

    fresh_grads = True

    def forward(
        self,
        weight: npt.NDArray[Any],
        *,
        indices: npt.NDArray[np.int64],
        padding_idx: int | None = None,
    ) -> npt.NDArray[Any]:
        self.rows, self.indices, self.padding_idx = weight.shape[0], indices, padding_idx
        return weight[indices]

    def backward(self, g: npt.NDArray[Any]) -> npt.NDArray[Any]:
        dw = np.zeros((self.rows, g.shape[-1]), dtype=g.dtype)
        np.add.at(dw, self.indices.reshape(-1), g.reshape(-1, g.shape[-1]))
        if self.padding_idx is not None:
            dw[self.padding_idx] = 0
        return dw


def _check_padding_idx(padding_idx: int | None, num_embeddings: int, what: str) -> int | None:
    """padding_idx as None or an index in [0, num_embeddings) (negative ones count from the
    end, as in PyTorch)."""
    if padding_idx is None:
        return None
    if not is_whole(padding_idx) or not -num_embeddings <= padding_idx < num_embeddings:
        raise ConfigError(
            f"{what}: padding_idx must be None or an integer in "
            f"[{-num_embeddings}, {num_embeddings - 1}] for {num_embeddings} "
            f"embeddings, got {shown(padding_idx)}"
        )
    return int(padding_idx) % num_embeddings


def _indices(input: Any, num_embeddings: int, what: str) -> npt.NDArray[np.int64]:
    """The indices as a new int64 array, each in [0, num_embeddings)."""
    raw = input.data if isinstance(input, Tensor) else input
    try:
        indices = np.array(raw)
    except (TypeError, ValueError, OverflowError) as err:
        raise DTypeError(
            f"{what}: indices must be an array of integers, got "
            f"{with_article(type(raw).__name__)} NumPy cannot make one of "
            f"({err})"
        ) from None
    if indices.dtype.kind not in "iu":
        raise DTypeError(
            f"{what}: indices must be integers in [0, {num_embeddings - 1}], got "
            f"dtype {indices.dtype}; convert them with .astype(np.int64)"
        )
    if indices.size and (indices.min() < 0 or indices.max() >= num_embeddings):
        raise IndexingError(
            f"{what}: indices must lie in [0, {num_embeddings - 1}] for "
            f"{num_embeddings} embeddings, got values in [{indices.min()}, "
            f"{indices.max()}]"
        )
    return indices.astype(np.int64)


def embedding(
    input: Any, weight: Tensor | npt.NDArray[Any], padding_idx: int | None = None
) -> Tensor:
    """The rows of `weight` (num_embeddings, embedding_dim) at the integer `input` indices (any
    shape): an output of shape input.shape + (embedding_dim,). The row padding_idx, if given,
    gets no gradient."""
    what = "embedding"
    if isinstance(weight, np.ndarray):
        weight = Tensor(weight)
    if not isinstance(weight, Tensor) or weight.dtype not in FLOAT_DTYPES:
        got = (
            f"dtype {weight.dtype}"
            if isinstance(weight, Tensor)
            else with_article(type(weight).__name__)
        )
        raise DTypeError(f"{what}: weight must be a float32 or float64 Tensor, got {got}")
    if weight.ndim != 2:
        raise ShapeError(
            f"{what}: weight of shape {weight.shape}; expected a 2-D "
            "(num_embeddings, embedding_dim) table"
        )
    num = weight.shape[0]
    indices = _indices(input, num, what)
    padding_idx = _check_padding_idx(padding_idx, num, what)
    return EmbeddingLookup.apply(weight, indices=indices, padding_idx=padding_idx)


class Embedding(Module):
    """A table of `num_embeddings` vectors of `embedding_dim` entries, looked up by index:
    `Embedding(10, 3)(np.array([[1, 2], [4, 9]]))` has shape (2, 2, 3).

    The weight starts N(0, 1), drawn from `generator` or the framework's default generator,
    as PyTorch's; the row `padding_idx`, if given, starts at 0 and gets no gradient.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        *,
        dtype: Any = None,
        generator: np.random.Generator | None = None,
        _weight: npt.NDArray[Any] | None = None,
        _freeze: bool = False,
    ) -> None:
        for name, value in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if not is_whole(value) or value < 1:
                raise ConfigError(
                    f"Embedding: {name} must be a positive integer, got {shown(value)}"
                )
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.padding_idx = _check_padding_idx(padding_idx, self.num_embeddings, "Embedding")
        if _weight is not None:  # from_pretrained's table, kept as given
            self.weight = Tensor(_weight, requires_grad=not _freeze)
            return
        if generator is not None and not isinstance(generator, np.random.Generator):
            raise ConfigError(
                f"Embedding: generator must be a numpy.random.Generator "
                f"(np.random.default_rng(seed)) or None, got "
                f"{with_article(type(generator).__name__)}"
            )
        dtype = check_float_dtype(dtype or get_default_dtype(), "Embedding")
        rng = generator if generator is not None else default_generator()
        weight = rng.standard_normal((self.num_embeddings, self.embedding_dim)).astype(dtype)
        if self.padding_idx is not None:
            weight[self.padding_idx] = 0
        self.weight = Tensor(weight, requires_grad=True)

    @classmethod
    def from_pretrained(
        cls,
        embeddings: Tensor | npt.NDArray[Any],
        freeze: bool = True,
        padding_idx: int | None = None,
    ) -> "Embedding":
        """An Embedding whose table is a copy of `embeddings` (2-D, float32 or float64);
        frozen (no gradient) unless freeze=False. The padding row is kept as given."""
        table = np.array(embeddings.data if isinstance(embeddings, Tensor) else embeddings)
        if table.dtype not in FLOAT_DTYPES:
            raise DTypeError(
                f"Embedding.from_pretrained: embeddings of dtype {table.dtype}; "
                "expected float32 or float64"
            )
        if table.ndim != 2:
            raise ShapeError(
                f"Embedding.from_pretrained: embeddings of shape {table.shape}; "
                "expected a 2-D (num_embeddings, embedding_dim) table"
            )
        num_embeddings, embedding_dim = table.shape
        return cls(
            num_embeddings, embedding_dim, padding_idx=padding_idx, _weight=table, _freeze=freeze
        )

    def forward(self, indices: Any) -> Tensor:
        return embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        """The table's size and the padding index, as repr() shows them."""
        padding = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{padding}"
