"""Batch and layer normalisation as fused ops on the kernels of norm_kernels.py.

Each is one op instead of a dozen primitive ones (mean, subtract, square, mean, add ε,
square root, divide, scale, shift, and their backward passes), with the closed-form
backward of docs/derivation.md ("Batch and layer normalisation");
tests/test_normalization.py checks both against the composition of primitive ops.
The argument checks (a user's mistakes) are in `nn.normalization`; these ops are only
the maths.
"""

from typing import Any, cast

import numpy as np
import numpy.typing as npt

from . import norm_kernels
from .engine import Function

Array = npt.NDArray[Any]


def _batch_kernels(ndim: int) -> tuple[Any, Any, Any]:
    """The active (statistics, forward, backward) kernels for an (N, C) x, or for an
    (N, C, L) one the `_ncl` kernels, which work in its layout (no copy to (N·L, C))."""
    k = norm_kernels.active()
    if ndim == 2:
        return k.batch_norm_statistics, k.batch_norm_forward, k.batch_norm_backward
    return k.batch_norm_statistics_ncl, k.batch_norm_forward_ncl, k.batch_norm_backward_ncl


def _flat_or(a: Array | None, default_value: float, size: int, dtype: np.dtype) -> Array:
    """A parameter as a contiguous 1-D array, or `default_value` everywhere if absent."""
    if a is None:
        return np.full(size, default_value, dtype=dtype)
    return np.ascontiguousarray(a).reshape(-1)


class BatchNorm(Function):
    """y = x̂ γ + β per feature c (axis 1 of an (N, C) or (N, C, L) input), with
    x̂ = (x − μ)ρ and ρ = 1/√(σ² + ε).

    Training (`training=True`): μ and σ² are the mean and biased variance of the feature over
    its m = N·L values, and the running statistics, if given (float arrays of C entries),
    are updated in place as PyTorch's: r ← (1 − momentum)·r + momentum·s, with the unbiased
    variance σ²·m/(m − 1) for running_var. Backward, with δ = ∂J/∂y:
        dβ = Σ δ,  dγ = Σ δ x̂,  dx = (1/m)·γ·ρ·(m·δ − Σδ − x̂·Σ(δ x̂)).
    Evaluation: μ and σ² are the running statistics, constants:  dx = γρδ.
    """

    fresh_grads = True

    def forward(
        self,
        x: Array,
        weight: Array | None = None,
        bias: Array | None = None,
        eps: float = 1e-5,
        training: bool = True,
        running_mean: Array | None = None,
        running_var: Array | None = None,
        momentum: float = 0.1,
    ) -> Array:
        self.saves = tuple(range(min(len(self.parents), 2)))  # backward reads x and γ
        self.shape, self.batch_stats = x.shape, training
        n, c = x.shape[:2]
        self.x = np.ascontiguousarray(x if x.ndim == 2 else x.reshape(n, c, -1 if x.size else 0))
        self.weight = _flat_or(weight, 1, c, x.dtype)
        bias = _flat_or(bias, 0, c, x.dtype)
        statistics, forward, _ = _batch_kernels(self.x.ndim)
        if training:
            self.mean, var = np.empty(c), np.empty(c)
            statistics(self.x, self.mean, var)
            if running_mean is not None:
                self._update(running_mean, cast(Array, running_var), var, momentum)
        else:  # evaluation: nn's batch_norm checks that both running statistics are given
            running_mean, running_var = cast(Array, running_mean), cast(Array, running_var)
            self.mean, var = running_mean.astype(np.float64), running_var.astype(np.float64)
        self.invstd = 1.0 / np.sqrt(var + eps)
        out = np.empty_like(self.x)
        forward(self.x, self.mean, self.invstd, self.weight, bias, out)
        return out.reshape(self.shape)

    def _update(self, running_mean: Array, running_var: Array, var: Array, momentum: float) -> None:
        m = self.x.shape[0] * (self.x.shape[2] if self.x.ndim == 3 else 1)  # N, or N·L per feature
        unbiased = var * (m / (m - 1))
        running_mean[...] = (1 - momentum) * running_mean + momentum * self.mean
        running_var[...] = (1 - momentum) * running_var + momentum * unbiased

    def backward(self, g: Array) -> tuple[Array | None, ...]:
        g = np.ascontiguousarray(g, dtype=self.x.dtype).reshape(self.x.shape)
        dx, dweight, dbias = (
            np.empty_like(self.x),
            np.empty_like(self.weight),
            np.empty_like(self.weight),
        )
        backward = _batch_kernels(self.x.ndim)[2]
        backward(
            g, self.x, self.mean, self.invstd, self.weight, self.batch_stats, dx, dweight, dbias
        )
        grads = (dx.reshape(self.shape), dweight, dbias)
        return tuple(grad if needed else None for grad, needed in zip(grads, self.needs_input_grad))


class LayerNorm(Function):
    """y = x̂ ⊙ γ + β over the last `normalized_ndim` axes of x (D values per sample), with
    x̂ = (x − μ)ρ, ρ = 1/√(σ² + ε), μ and σ² (biased) each sample's own.

    Backward, per sample, with ĝ = δ ⊙ γ (γ multiplies inside the normalised axes):
        dβ = Σ_samples δ,  dγ = Σ_samples δ ⊙ x̂,  dx = (1/D)·ρ·(D·ĝ − Σĝ − x̂·Σ(ĝ x̂)).
    """

    fresh_grads = True

    def forward(
        self,
        x: Array,
        weight: Array | None = None,
        bias: Array | None = None,
        normalized_ndim: int = 1,
        eps: float = 1e-5,
    ) -> Array:
        self.saves = tuple(range(min(len(self.parents), 2)))  # backward reads x and γ
        self.shape = x.shape
        d = int(np.prod(x.shape[x.ndim - normalized_ndim :]))
        self.x = np.ascontiguousarray(x).reshape(x.size // d, d)
        self.weight = _flat_or(weight, 1, d, x.dtype)
        self.weight_shape = x.shape[x.ndim - normalized_ndim :]
        bias = _flat_or(bias, 0, d, x.dtype)
        rows = self.x.shape[0]
        self.mean, self.invstd, out = np.empty(rows), np.empty(rows), np.empty_like(self.x)
        norm_kernels.active().layer_norm_forward(
            self.x, self.weight, bias, eps, self.mean, self.invstd, out
        )
        return out.reshape(self.shape)

    def backward(self, g: Array) -> tuple[Array | None, ...]:
        g = np.ascontiguousarray(g, dtype=self.x.dtype).reshape(self.x.shape)
        dx, dweight, dbias = (
            np.empty_like(self.x),
            np.empty_like(self.weight),
            np.empty_like(self.weight),
        )
        norm_kernels.active().layer_norm_backward(
            g, self.x, self.mean, self.invstd, self.weight, dx, dweight, dbias
        )
        grads = (
            dx.reshape(self.shape),
            dweight.reshape(self.weight_shape),
            dbias.reshape(self.weight_shape),
        )
        return tuple(grad if needed else None for grad, needed in zip(grads, self.needs_input_grad))
