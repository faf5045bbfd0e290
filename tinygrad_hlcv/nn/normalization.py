"""BatchNorm1d and LayerNorm, and their functions `batch_norm` and `layer_norm` with the
argument checks, as PyTorch's; the maths is the fused ops of tinygrad_hlcv/normalization.py.

BatchNorm1d keeps running averages of the batch statistics as buffers (`running_mean`,
`running_var` with the unbiased variance, `num_batches_tracked`): plain Tensors that
need no gradient, saved in the state dict, and updated in place by each training
forward; in eval mode it normalises with them instead of the batch's.
"""

from typing import Any, cast

import numpy as np

from .. import normalization
from ..conv_checks import float_tensor
from ..convert import is_real, is_whole, shown, with_article
from ..dtypes import FLOAT_DTYPES, check_float_dtype, get_default_dtype
from ..engine import Tensor
from ..errors import ConfigError, DTypeError, ShapeError
from .module import Module

__all__ = ["BatchNorm1d", "LayerNorm", "batch_norm", "layer_norm"]


def _parameter(
    p: Tensor | np.ndarray | None, what: str, name: str, shape: tuple[int, ...], dtype: np.dtype
) -> Tensor | None:
    """An optional weight or bias: None, or a float Tensor of `shape` and `dtype`."""
    if p is None:
        return None
    p = float_tensor(p, what, name)
    if p.shape != shape:
        raise ShapeError(f"{what}: {name} of shape {p.shape}; expected shape {shape}")
    if p.dtype != dtype:
        raise DTypeError(
            f"{what}: {name} has dtype {p.dtype}, the input {dtype}; expected one "
            f"dtype (convert with Tensor(x, dtype=np.{p.dtype}))"
        )
    return p


def _affine_parents(x: Tensor, weight: Tensor | None, bias: Tensor | None) -> tuple[Tensor, ...]:
    """The op's inputs: x, then γ and β if given (γ = 1 stands in for a bias alone)."""
    if weight is None and bias is not None:
        weight = Tensor(np.ones(bias.shape, dtype=bias.dtype))
    return (x,) + tuple(p for p in (weight, bias) if p is not None)


def _check_eps(eps: float, what: str) -> None:
    if not is_real(eps) or eps <= 0:
        raise ConfigError(
            f"{what}: eps must be a small positive number (e.g. 1e-5), got {shown(eps)}"
        )


def _check_momentum(momentum: Any, what: str, none: bool = False) -> None:
    if (momentum is None and none) or (is_real(momentum) and 0 <= momentum <= 1):
        return
    expected = "a number in [0, 1]" + (", or None for a cumulative average" if none else "")
    raise ConfigError(f"{what}: momentum must be {expected}, got {shown(momentum)}")


def _running(stat: Tensor | None, what: str, name: str, c: int) -> Tensor:
    """A running statistic: a float Tensor of C entries whose data can be updated in place."""
    if not isinstance(stat, Tensor) or stat.dtype not in FLOAT_DTYPES:
        got = (
            f"dtype {stat.dtype}" if isinstance(stat, Tensor) else with_article(type(stat).__name__)
        )
        raise DTypeError(f"{what}: {name} must be a float32 or float64 Tensor, got {got}")
    if stat.shape != (c,):
        raise ShapeError(
            f"{what}: {name} of shape {stat.shape} for an input of {c} features; "
            f"expected shape ({c},)"
        )
    if not stat.data.flags.writeable:
        raise ConfigError(f"{what}: {name} is read-only; expected a Tensor it can update")
    return stat


def _batch_norm_input(x: Tensor | np.ndarray, what: str, training: bool) -> Tensor:
    """x as a float (N, C) or (N, C, L) Tensor with more than one value per feature when
    normalising with batch statistics."""
    x = float_tensor(x, what)
    if x.ndim not in (2, 3):
        raise ShapeError(
            f"{what}: input of shape {x.shape}; expected a 2-D (N, C) or 3-D (N, C, L) input"
        )
    per_feature = x.data.size // max(x.shape[1], 1)
    if training and per_feature <= 1:
        raise ShapeError(
            f"{what}: input of shape {x.shape} has {per_feature} value(s) per "
            "feature; expected more than 1 in training mode (the batch variance "
            "needs two)"
        )
    return x


def _running_stats(
    running_mean: Tensor | None, running_var: Tensor | None, what: str, c: int, training: bool
) -> tuple[Tensor, ...]:
    """The checked running statistics (mean, var), or () without them (training only)."""
    if (running_mean is None) != (running_var is None):
        raise ConfigError(
            f"{what}: running_mean and running_var go together; expected both or neither"
        )
    if running_mean is None and not training:
        raise ConfigError(
            f"{what}: evaluation (training=False) normalises with the running "
            "statistics; expected running_mean and running_var, or training=True"
        )
    return (
        ()
        if running_mean is None
        else (
            _running(running_mean, what, "running_mean", c),
            _running(running_var, what, "running_var", c),
        )
    )


def batch_norm(
    input: Tensor | np.ndarray,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | np.ndarray | None = None,
    bias: Tensor | np.ndarray | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalisation of an (N, C) or (N, C, L) input per feature c: (x − μ)/√(σ² + ε)·γ
    + β. With `training`, μ and σ² are the batch's and the running statistics (if not None)
    move towards them by `momentum`, in place; without, μ and σ² are the running ones."""
    what = "batch_norm"
    x = _batch_norm_input(input, what, training)
    c = x.shape[1]
    weight = _parameter(weight, what, "weight", (c,), x.dtype)
    bias = _parameter(bias, what, "bias", (c,), x.dtype)
    _check_eps(eps, what)
    _check_momentum(momentum, what)
    stats = _running_stats(running_mean, running_var, what, c, training)
    arrays = dict(zip(("running_mean", "running_var"), (s.data for s in stats)))
    out = normalization.BatchNorm.apply(
        *_affine_parents(x, weight, bias),
        eps=float(eps),
        training=bool(training),
        momentum=float(momentum),
        **arrays,
    )
    if training:
        for stat in stats:
            stat._version += 1
    return out


def _normalized_shape(
    normalized_shape: int | tuple[int, ...] | list[int], what: str
) -> tuple[int, ...]:
    shape = normalized_shape if isinstance(normalized_shape, (tuple, list)) else (normalized_shape,)
    if not shape or not all(is_whole(n) and n >= 1 for n in shape):
        raise ConfigError(
            f"{what}: normalized_shape must be a positive integer or a non-empty "
            f"tuple of them, got {shown(normalized_shape)}"
        )
    return tuple(int(n) for n in shape)


def layer_norm(
    input: Tensor | np.ndarray,
    normalized_shape: int | tuple[int, ...] | list[int],
    weight: Tensor | np.ndarray | None = None,
    bias: Tensor | np.ndarray | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Layer normalisation over the last dims of `input` (those of `normalized_shape`), each
    sample with its own mean and variance: (x − μ)/√(σ² + ε) ⊙ γ + β."""
    what = "layer_norm"
    shape = _normalized_shape(normalized_shape, what)
    x = float_tensor(input, what)
    if x.shape[x.ndim - len(shape) :] != shape or x.ndim < len(shape):
        raise ShapeError(
            f"{what}: input of shape {x.shape} does not end in normalized_shape "
            f"{shape}; expected an input of shape (*, {', '.join(map(str, shape))})"
        )
    weight = _parameter(weight, what, "weight", shape, x.dtype)
    bias = _parameter(bias, what, "bias", shape, x.dtype)
    _check_eps(eps, what)
    return normalization.LayerNorm.apply(
        *_affine_parents(x, weight, bias), normalized_ndim=len(shape), eps=float(eps)
    )


def _flag(value: bool, what: str, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{what}: {name} must be True or False, got {shown(value)}")
    return bool(value)


class BatchNorm1d(Module):
    """Batch normalisation of (N, C) or (N, C, L) inputs, as PyTorch's.

    Training: normalises each feature with the batch's mean and (biased) variance, and
    moves the running averages towards them, r ← (1 − momentum)·r + momentum·s (running_var
    with the unbiased variance; momentum=None: a cumulative average over the batches
    seen). Eval: normalises with the running averages (the batch's if
    track_running_stats=False). Then scales by `weight` (γ = 1) and shifts by `bias`
    (β = 0) if `affine`.
    """

    running_mean: Tensor | None  # buffers: None without track_running_stats
    running_var: Tensor | None
    num_batches_tracked: Tensor | None

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        dtype: Any = None,
    ) -> None:
        what = type(self).__name__  # a subclass's mistakes are named after it
        if not is_whole(num_features) or num_features < 1:
            raise ConfigError(
                f"{what}: num_features must be a positive integer, got {shown(num_features)}"
            )
        _check_eps(eps, what)
        _check_momentum(momentum, what, none=True)
        self.num_features, self.eps = int(num_features), float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.affine = _flag(affine, what, "affine")
        self.track_running_stats = _flag(track_running_stats, what, "track_running_stats")
        dtype = check_float_dtype(dtype or get_default_dtype(), what)
        c = self.num_features
        self.weight = Tensor(np.ones(c, dtype), requires_grad=True) if self.affine else None
        self.bias = Tensor(np.zeros(c, dtype), requires_grad=True) if self.affine else None
        tracked = self.track_running_stats
        self.register_buffer("running_mean", Tensor(np.zeros(c, dtype)) if tracked else None)
        self.register_buffer("running_var", Tensor(np.ones(c, dtype)) if tracked else None)
        self.register_buffer(
            "num_batches_tracked", Tensor(np.array(0, dtype=np.int64)) if tracked else None
        )

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches tracked."""
        if self.track_running_stats:
            for stat, value in (
                (self.running_mean, 0),
                (self.running_var, 1),
                (self.num_batches_tracked, 0),
            ):
                stat = cast(Tensor, stat)  # tracked: not None
                stat.data[...] = value
                stat._version += 1

    def reset_parameters(self) -> None:
        """The running statistics reset, γ = 1 and β = 0."""
        self.reset_running_stats()
        if self.affine:
            for p, value in ((self.weight, 1), (self.bias, 0)):
                p = cast(Tensor, p)  # affine: not None
                p.data[...] = value
                p._version += 1

    def forward(self, x: Tensor | np.ndarray) -> Tensor:
        batch_stats = self.training or not self.track_running_stats
        what = type(self).__name__
        x = _batch_norm_input(x, what, batch_stats)
        if x.shape[1] != self.num_features:
            raise ShapeError(
                f"{what}: input of shape {x.shape} has {x.shape[1]} features; "
                f"expected {self.num_features} (axis 1)"
            )
        momentum = 0.0 if self.momentum is None else self.momentum
        counting = self.training and self.track_running_stats
        tracked = cast(Tensor, self.num_batches_tracked)  # used only when counting
        if counting and self.momentum is None:  # the cumulative average over the batches seen
            momentum = 1.0 / (int(tracked.item()) + 1)
        out = batch_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            batch_stats,
            momentum,
            self.eps,
        )
        if counting:  # after the checks of batch_norm: a refused input changes nothing
            tracked.data[...] += 1
            tracked._version += 1
        return out

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, track_running_stats={self.track_running_stats}"
        )


class LayerNorm(Module):
    """Layer normalisation over the last dims (`normalized_shape`), each sample with its own
    mean and variance, in training and eval alike; then ⊙ weight (γ = 1) + bias (β = 0)
    if `elementwise_affine` (`bias=False`: γ only)."""

    def __init__(
        self,
        normalized_shape: int | tuple[int, ...] | list[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        dtype: Any = None,
    ) -> None:
        self.normalized_shape = _normalized_shape(normalized_shape, "LayerNorm")
        _check_eps(eps, "LayerNorm")
        self.eps = float(eps)
        self.elementwise_affine = _flag(elementwise_affine, "LayerNorm", "elementwise_affine")
        with_bias = _flag(bias, "LayerNorm", "bias")
        dtype = check_float_dtype(dtype or get_default_dtype(), "LayerNorm")
        shape, affine = self.normalized_shape, self.elementwise_affine
        self.weight = Tensor(np.ones(shape, dtype), requires_grad=True) if affine else None
        self.bias = (
            Tensor(np.zeros(shape, dtype), requires_grad=True) if affine and with_bias else None
        )

    def forward(self, x: Tensor | np.ndarray) -> Tensor:
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )
