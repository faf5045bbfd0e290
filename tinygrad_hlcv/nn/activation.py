"""Activation and reshaping layers, with PyTorch's names: each a Module that calls the Tensor
API (x.sigmoid(), x.softmax(dim), x.flatten(...), ...), whose functions check the input and
hold the maths and its derivative. Options are checked here, when the layer is made."""

from typing import Any

import numpy as np

from ..convert import is_real, is_whole, shown, with_article
from ..engine import Tensor
from ..errors import ConfigError, DTypeError, ShapeError
from .module import Module

__all__ = [
    "Identity",
    "Flatten",
    "Unflatten",
    "Sigmoid",
    "Tanh",
    "GELU",
    "SiLU",
    "ELU",
    "Softplus",
    "Softmax",
    "LogSoftmax",
]


def _tensor(x: Tensor | np.ndarray, what: str) -> Tensor:
    """x as a Tensor; a NumPy array becomes a constant Tensor (no gradient)."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return Tensor(x)
    raise DTypeError(
        f"{what}: input must be a Tensor or a NumPy array, got {with_article(type(x).__name__)}"
    )


def _number(value: float, what: str, name: str) -> float:
    if not is_real(value):
        raise ConfigError(f"{what}: {name} must be a finite number, got {shown(value)}")
    return float(value)


def _dim(dim: int, what: str, name: str = "dim") -> int:
    if not is_whole(dim):
        raise ConfigError(f"{what}: {name} must be an integer, got {shown(dim)}")
    return int(dim)


class Identity(Module):
    """The input itself (a placeholder layer); any arguments are ignored, as PyTorch's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def forward(self, x: Tensor | np.ndarray) -> Tensor | np.ndarray:
        return x


class Flatten(Module):
    """Merges dims start_dim..end_dim into one: (N, 3, 32, 32) → (N, 3072) by default, the
    batch dim kept."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        self.start_dim = _dim(start_dim, "Flatten", "start_dim")
        self.end_dim = _dim(end_dim, "Flatten", "end_dim")

    def forward(self, x: Tensor | np.ndarray) -> Tensor:
        return _tensor(x, "Flatten").flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        """The flattened dims, as repr() shows them."""
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Splits dim `dim` into `unflattened_size` (one size may be -1): Flatten's inverse."""

    def __init__(self, dim: int, unflattened_size: tuple[int, ...] | list[int]) -> None:
        self.dim = _dim(dim, "Unflatten")
        sizes = unflattened_size
        if not (isinstance(sizes, (tuple, list)) and sizes and all(is_whole(n) for n in sizes)):
            raise ShapeError(
                f"Unflatten: unflattened_size must be a non-empty tuple of "
                f"integers, got {shown(sizes)}"
            )
        self.unflattened_size = tuple(int(n) for n in sizes)

    def forward(self, x: Tensor | np.ndarray) -> Tensor:
        return _tensor(x, "Unflatten").unflatten(self.dim, self.unflattened_size)

    def extra_repr(self) -> str:
        """The dim and the sizes it becomes, as repr() shows them."""
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Sigmoid(Module):
    """σ(x) = 1/(1 + e⁻ˣ)."""

    def forward(self, x: Tensor | np.ndarray) -> Tensor:
        return _tensor(x, "Sigmoid").sigmoid()


class Tanh(Module):
    """tanh x."""

    def forward(self, x: Tensor | np.ndarray) -> Tensor:
        return _tensor(x, "Tanh").tanh()


class GELU(Module):
    """x Φ(x), Φ the standard normal CDF (approximate='none'), or PyTorch's tanh formula
    (approximate='tanh')."""

    def __init__(self, approximate: str = "none") -> None:
        if approximate not in ("none", "tanh"):
            raise ConfigError(
                f"GELU: approximate must be 'none' or 'tanh', got {shown(approximate)}"
            )
        self.approximate = approximate

    def forward(self, x: Tensor | np.ndarray) -> Tensor:
        return _tensor(x, "GELU").gelu(approximate=self.approximate)

    def extra_repr(self) -> str:
        """The approximation, as repr() shows it."""
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """x σ(x) (swish)."""

    def forward(self, x: Tensor | np.ndarray) -> Tensor:
        return _tensor(x, "SiLU").silu()


class ELU(Module):
    """x for x > 0, α(eˣ − 1) otherwise."""

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = _number(alpha, "ELU", "alpha")

    def forward(self, x: Tensor | np.ndarray) -> Tensor:
        return _tensor(x, "ELU").elu(self.alpha)

    def extra_repr(self) -> str:
        """α, as repr() shows it."""
        return f"alpha={self.alpha}"


class Softplus(Module):
    """ln(1 + e^(βx))/β, and x itself where βx > threshold (for stability)."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        self.beta = _number(beta, "Softplus", "beta")
        if self.beta == 0:
            raise ConfigError("Softplus: beta must not be 0; expected e.g. beta=1")
        self.threshold = _number(threshold, "Softplus", "threshold")

    def forward(self, x: Tensor | np.ndarray) -> Tensor:
        return _tensor(x, "Softplus").softplus(self.beta, self.threshold)

    def extra_repr(self) -> str:
        """β and the threshold, as repr() shows them."""
        return f"beta={self.beta}, threshold={self.threshold}"


class Softmax(Module):
    """exp(x) / Σ exp(x) along `dim`. The dim must be given: PyTorch's guess for dim=None
    is deprecated, and a wrong guess normalises the batch instead of the classes."""

    def __init__(self, dim: int | None = None) -> None:
        self.dim = _softmax_dim(dim, "Softmax")

    def forward(self, x: Tensor | np.ndarray) -> Tensor:
        return _tensor(x, "Softmax").softmax(self.dim)

    def extra_repr(self) -> str:
        """The dim, as repr() shows it."""
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log softmax(x) along `dim` (which must be given, see Softmax)."""

    def __init__(self, dim: int | None = None) -> None:
        self.dim = _softmax_dim(dim, "LogSoftmax")

    def forward(self, x: Tensor | np.ndarray) -> Tensor:
        return _tensor(x, "LogSoftmax").log_softmax(self.dim)

    def extra_repr(self) -> str:
        """The dim, as repr() shows it."""
        return f"dim={self.dim}"


def _softmax_dim(dim: int | None, what: str) -> int:
    if dim is None:
        raise ConfigError(
            f"{what}: expected the dim to normalise along, e.g. {what}(dim=1) "
            "for (batch, classes) scores; PyTorch's guess for dim=None is "
            "deprecated"
        )
    return _dim(dim, what)
