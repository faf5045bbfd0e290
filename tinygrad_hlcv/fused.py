"""The layers' ops, fused: forward and backward on the Numba kernels (or their twins).

Each is a fast version of a composition of primitive ops (tests/test_fused.py
checks each against that composition): Linear is one GEMM plus an in-place bias
add instead of `x @ W + b`; softmax and cross-entropy are one pass that also
leaves (P - Y)/N ready for the backward; the L2 penalty over all weights is one
op whose gradient the engine folds into the weights' other gradients in place.
The public functions with their argument checks are in `nn.functional`.
"""

from typing import Any

import numpy as np
import numpy.typing as npt

from . import kernels
from .engine import Function, ScaledGrad

Array = npt.NDArray[Any]
Grads = tuple[Array | None, ...]  # one gradient per input, None where none is needed


def _flat(a: Array) -> Array:
    """A C-contiguous 1-D view (a copy only if `a` is not contiguous)."""
    return np.ascontiguousarray(a).reshape(-1)


class Linear(Function):
    """Z = X W + b (W stored in × out, so the forward is one plain GEMM).

    dX = δ Wᵀ (skipped when X needs no gradient, as for the input batch),
    dW = Xᵀ δ, db = Σ_i δ[i, :]. Each is a new array (fresh_grads), so the engine adds
    the L2 penalty's 2λW into dW in place.
    """

    fresh_grads = True
    saves = (0, 1)

    def forward(self, x: Array, weight: Array, bias: Array | None = None) -> Array:
        self.x, self.weight = x, weight
        z = x @ weight
        if bias is not None:
            kernels.active.bias_add(z, bias)
        return z

    def backward(self, g: Array) -> Grads:
        g = np.ascontiguousarray(g)
        dx = g @ self.weight.T if self.needs_input_grad[0] else None
        dw = self.x.T @ g if self.needs_input_grad[1] else None
        if len(self.parents) == 2:
            return dx, dw
        db = None
        if self.needs_input_grad[2]:
            db = np.empty(g.shape[1], dtype=g.dtype)
            kernels.active.column_sum(g, db)
        return dx, dw, db


class ReLU(Function):
    """a = max(z, 0); backward δ ⊙ [z > 0], read from the output (a > 0 where z > 0)."""

    saves_output = True

    def forward(self, z: Array) -> Array:
        self.out = np.empty(z.shape, dtype=z.dtype)
        kernels.active.relu_forward(_flat(z), self.out.reshape(-1))
        return self.out

    def backward(self, g: Array) -> Array:
        dz = np.empty_like(self.out)
        kernels.active.relu_backward(_flat(g), self.out.reshape(-1), dz.reshape(-1))
        return dz


class LeakyReLU(Function):
    """a = z if z > 0 else αz; backward δ ⊙ (1 if z > 0 else α)."""

    saves = (0,)

    def forward(self, z: Array, negative_slope: float) -> Array:
        self.z = np.ascontiguousarray(z).reshape(z.shape)  # ascontiguousarray makes 0-d 1-d
        self.slope = z.dtype.type(negative_slope)
        out = np.empty_like(self.z)
        kernels.active.leaky_relu_forward(self.z.reshape(-1), self.slope, out.reshape(-1))
        return out

    def backward(self, g: Array) -> Array:
        dz = np.empty_like(self.z)
        kernels.active.leaky_relu_backward(_flat(g), self.z.reshape(-1), self.slope, dz.reshape(-1))
        return dz


class Dropout(Function):
    """Inverted dropout: a' = a ⊙ m / q, backward δ ⊙ m / q, with q = 1 - p."""

    def forward(self, x: Array, mask: Array, scale: float) -> Array:
        self.mask, self.scale = mask.reshape(-1), x.dtype.type(scale)
        out = np.empty(x.shape, dtype=x.dtype)
        kernels.active.masked_scale(_flat(x), self.mask, self.scale, out.reshape(-1))
        return out

    def backward(self, g: Array) -> Array:
        dx = np.empty(g.shape, dtype=g.dtype)
        kernels.active.masked_scale(_flat(g), self.mask, self.scale, dx.reshape(-1))
        return dx


class SoftmaxCrossEntropy(Function):
    """J = mean_i -Σ_j T_ij log softmax(z_i)_j with T = (1-ε)Y + ε/C (ε = `smoothing`, 0:
    the one-hot Y); dJ/dZ = (P - T)/N, computed in the forward pass."""

    def forward(self, logits: Array, labels: Array, smoothing: float = 0.0) -> Array:
        logits = np.ascontiguousarray(logits)
        self.dlogits = np.empty_like(logits)
        loss = kernels.active.softmax_cross_entropy_with_grad(
            logits, labels, self.dlogits, smoothing
        )
        return np.asarray(loss, dtype=logits.dtype)

    def backward(self, g: Array) -> tuple[Array, None]:
        return (self.dlogits * g if g != 1 else self.dlogits), None


class L2Penalty(Function):
    """λ Σ_l ‖W_l‖²_F over the given weights; its gradient is 2λ W_l for each."""

    def forward(self, *weights: Array, lam: float) -> Array:
        self.weights, self.lam = weights, lam
        self.saves = tuple(range(len(weights)))  # backward reads every weight
        total = sum(float(np.vdot(w, w)) for w in weights)
        return np.asarray(lam * total, dtype=np.result_type(*weights))

    def backward(self, g: Array) -> tuple[ScaledGrad | Array | None, ...]:
        """2λg·W_l, as a ScaledGrad where the dtypes agree: the engine then adds it into
        the gradient from W_l's Linear in one pass, with no weight-sized temporary."""
        factor = np.asarray(2 * self.lam * g)
        return tuple(
            None
            if not needed
            else ScaledGrad(factor[()], w)
            if w.dtype == factor.dtype
            else w * factor
            for w, needed in zip(self.weights, self.needs_input_grad)
        )
