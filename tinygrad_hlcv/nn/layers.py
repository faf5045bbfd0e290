"""The layers: Linear, ReLU, LeakyReLU, Dropout, Dropout2d and Sequential."""

import math

import numpy as np
import numpy.typing as npt

from ..convert import is_real, is_whole, shown
from ..dtypes import check_float_dtype, get_default_dtype
from ..engine import Tensor
from ..errors import ConfigError
from ..random import default_generator
from . import functional as F
from .conv import dropout2d
from .module import Module


class Linear(Module):
    """y = x W + b, with W stored (in_features, out_features) as in the derivation.

    Initialisation, by default as PyTorch's: W and b uniform on ±1/√in_features
    (Kaiming-uniform with a = √5). With `init_std=s`: W ~ N(0, s²) and b = 0, the
    course exercise's init (s = 1e-4 there).

    Gradients, with δ = ∂L/∂y: ∂L/∂W = xᵀ δ, ∂L/∂b = Σ_rows δ, ∂L/∂x = δ Wᵀ.

    Args:
        in_features: the size of each input row.
        out_features: the size of each output row.
        bias: whether to add the learned bias b.
        init_std: if given, W ~ N(0, init_std²) and b = 0 instead of PyTorch's init.
        dtype: float32 or float64 (the default float dtype if None).
        generator: a NumPy Generator for the initial values (else the framework's).

    Examples:
        >>> layer = nn.Linear(3, 2)
        >>> layer.weight.shape, layer(tg.ones(4, 3)).shape
        ((3, 2), (4, 2))
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        init_std: float | None = None,
        dtype: npt.DTypeLike | None = None,
        generator: np.random.Generator | None = None,
    ) -> None:
        _check_linear_args(in_features, out_features, init_std, generator)
        self.in_features, self.out_features = int(in_features), int(out_features)
        dtype = check_float_dtype(dtype or get_default_dtype(), "Linear")
        rng = generator if generator is not None else default_generator()
        shape = (self.in_features, self.out_features)
        if init_std is None:
            bound = 1.0 / math.sqrt(self.in_features)
            weight = rng.uniform(-bound, bound, shape)
            b = rng.uniform(-bound, bound, self.out_features) if bias else None
        else:
            weight = init_std * rng.standard_normal(shape)
            b = np.zeros(self.out_features) if bias else None
        with np.errstate(over="ignore"):
            weight = weight.astype(dtype)
        if not np.isfinite(weight).all():
            raise ConfigError(
                f"Linear: init_std={init_std:g} overflows {dtype}; expected a "
                "standard deviation that keeps the weights finite"
            )
        self.weight = Tensor(weight, requires_grad=True)
        self.bias = Tensor(b.astype(dtype), requires_grad=True) if b is not None else None

    def forward(self, x: Tensor | np.ndarray) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        """The sizes, whether there is a bias, and the dtype, as repr() shows them."""
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}, dtype={self.weight.dtype}"
        )


def _check_linear_args(
    in_features: int,
    out_features: int,
    init_std: float | None,
    generator: np.random.Generator | None,
) -> None:
    if not all(is_whole(n) and n >= 1 for n in (in_features, out_features)):
        raise ConfigError(
            f"Linear({in_features!r}, {out_features!r}): sizes must be positive integers"
        )
    if init_std is not None and not (is_real(init_std) and init_std >= 0):
        raise ConfigError(
            f"Linear: init_std must be a finite number >= 0 (or None for the "
            f"default init), got {shown(init_std)}"
        )
    if generator is not None and not all(
        hasattr(generator, name) for name in ("uniform", "standard_normal")
    ):
        raise ConfigError(
            f"Linear: generator must be a numpy.random.Generator "
            f"(np.random.default_rng(seed)), got {type(generator).__name__}"
        )


class ReLU(Module):
    """max(z, 0); its derivative at exactly 0 is taken as 0, as in PyTorch."""

    def forward(self, x: Tensor | np.ndarray) -> Tensor:
        return F.relu(x)


class LeakyReLU(Module):
    """z if z > 0 else negative_slope·z (derivative negative_slope at z = 0, as PyTorch)."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        if not is_real(negative_slope):
            raise ConfigError(
                f"LeakyReLU: negative_slope must be a finite number, got {shown(negative_slope)}"
            )
        self.negative_slope = float(negative_slope)

    def forward(self, x: Tensor | np.ndarray) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        """The slope, as repr() shows it."""
        return f"negative_slope={self.negative_slope}"


class Dropout(Module):
    """Inverted dropout: drops each unit with probability p (PyTorch's convention; the
    course's "keep probability" is 1 - p) and scales the rest by 1/(1-p) while training;
    the identity in eval mode. Masks come from `generator`, or the framework's seeded
    default generator (`tinygrad_hlcv.manual_seed`)."""

    def __init__(self, p: float = 0.5, *, generator: np.random.Generator | None = None) -> None:
        F.check_dropout_p(p)
        self.p, self.generator = float(p), generator
        self.last_mask: np.ndarray | None = None  # the latest training forward's, to inspect

    def forward(self, x: Tensor | np.ndarray) -> Tensor:
        t = F._as_tensor(x, "Dropout")
        if not self.training or self.p == 0:
            return t
        self.last_mask = F.dropout_mask(t.shape, self.p, self.generator)
        return F.dropout(t, self.p, mask=self.last_mask)

    def extra_repr(self) -> str:
        """The drop probability, as repr() shows it."""
        return f"p={self.p}"


class Dropout2d(Module):
    """Channel dropout: zeroes each whole channel x[n, c] of (N, C, H, W) inputs with
    probability p and scales the rest by 1/(1-p) while training; the identity in eval mode,
    as PyTorch's. Masks come from `generator`, or the framework's seeded default generator
    (`tinygrad_hlcv.manual_seed`)."""

    def __init__(self, p: float = 0.5, *, generator: np.random.Generator | None = None) -> None:
        F.check_dropout_p(p)
        F._check_generator(generator)
        self.p, self.generator = float(p), generator

    def forward(self, x: Tensor | np.ndarray) -> Tensor:
        return dropout2d(x, self.p, self.training, self.generator)

    def extra_repr(self) -> str:
        """The drop probability, as repr() shows it."""
        return f"p={self.p}"


def linear_layers(model: Module) -> list[Linear]:
    """The Linear layers of a model, in order and each once (the derivation's W1, W2, ...)."""
    if not isinstance(model, Module):
        raise ConfigError(f"expected a model (an nn.Module), got {type(model).__name__}")
    return [m for m in model.modules() if isinstance(m, Linear)]


def derivation_names(model: Module) -> dict[str, Tensor]:
    """A model's parameters named as in the derivation: {'W1': ..., 'b1': ..., 'W2': ...}."""
    named: dict[str, Tensor] = {}
    for i, layer in enumerate(linear_layers(model), start=1):
        named[f"W{i}"] = layer.weight
        if layer.bias is not None:
            named[f"b{i}"] = layer.bias
    return named
