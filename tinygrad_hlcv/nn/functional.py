"""The layers' ops: forward and backward on the Numba kernels (or their NumPy twins).

These are fused where the derivation allows it: Linear is one GEMM plus an
in-place bias add, softmax and cross-entropy are one pass that also leaves
(P - Y)/N ready for the backward, and the L2 penalty over all weights is one op.
"""
import numpy as np

from .. import kernels
from ..convert import is_real, shown
from ..errors import ConfigError, DTypeError, LabelError, ShapeError
from ..random import default_generator
from ..tensor import Function, ScaledGrad, Tensor


def _flat(a):
    """A C-contiguous 1-D view (a copy only if `a` is not contiguous)."""
    return np.ascontiguousarray(a).reshape(-1)


class LinearFunction(Function):
    """Z = X W + b (W stored in × out, so the forward is one plain GEMM).

    dX = δ Wᵀ (skipped when X needs no gradient, as for the input batch),
    dW = Xᵀ δ, db = Σ_i δ[i, :]. Each is a new array (fresh_grads), so the engine adds
    the L2 penalty's 2λW into dW in place.
    """

    fresh_grads = True

    def forward(self, x, weight, bias=None):
        if x.ndim != 2 or x.shape[1] != weight.shape[0]:
            raise ShapeError(f"Linear: input of shape {x.shape} does not fit weight of shape "
                             f"{weight.shape}; expected input (batch, {weight.shape[0]})")
        self.x, self.weight = x, weight
        z = x @ weight
        if bias is not None:
            kernels.active.bias_add(z, bias)
        return z

    def backward(self, g):
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


class ReLUFunction(Function):
    """a = max(z, 0); backward δ ⊙ [z > 0]."""

    def forward(self, z):
        self.out = np.empty(z.shape, dtype=z.dtype)
        kernels.active.relu_forward(_flat(z), self.out.reshape(-1))
        return self.out

    def backward(self, g):
        dz = np.empty_like(self.out)
        kernels.active.relu_backward(_flat(g), self.out.reshape(-1), dz.reshape(-1))
        return dz


class LeakyReLUFunction(Function):
    """a = z if z > 0 else αz; backward δ ⊙ (1 if z > 0 else α)."""

    def forward(self, z, negative_slope):
        self.z = np.ascontiguousarray(z).reshape(z.shape)  # ascontiguousarray makes 0-d 1-d
        self.slope = z.dtype.type(negative_slope)
        out = np.empty_like(self.z)
        kernels.active.leaky_relu_forward(self.z.reshape(-1), self.slope, out.reshape(-1))
        return out

    def backward(self, g):
        dz = np.empty_like(self.z)
        kernels.active.leaky_relu_backward(_flat(g), self.z.reshape(-1), self.slope,
                                           dz.reshape(-1))
        return dz


class DropoutFunction(Function):
    """Inverted dropout: a' = a ⊙ m / q, backward δ ⊙ m / q, with q = 1 - p."""

    def forward(self, x, mask, scale):
        self.mask, self.scale = mask.reshape(-1), x.dtype.type(scale)
        out = np.empty(x.shape, dtype=x.dtype)
        kernels.active.masked_scale(_flat(x), self.mask, self.scale, out.reshape(-1))
        return out

    def backward(self, g):
        dx = np.empty(g.shape, dtype=g.dtype)
        kernels.active.masked_scale(_flat(g), self.mask, self.scale, dx.reshape(-1))
        return dx


class SoftmaxCrossEntropyFunction(Function):
    """J = mean_i -log softmax(z_i)[y_i]; dJ/dZ = (P - Y)/N, computed in the forward pass."""

    def forward(self, logits, labels):
        logits = np.ascontiguousarray(logits)
        self.dlogits = np.empty_like(logits)
        loss = kernels.active.softmax_cross_entropy(logits, labels, self.dlogits)
        return np.asarray(loss, dtype=logits.dtype)

    def backward(self, g):
        return (self.dlogits * g if g != 1 else self.dlogits), None


class L2PenaltyFunction(Function):
    """λ Σ_l ‖W_l‖²_F over the given weights; its gradient is 2λ W_l for each."""

    def forward(self, *weights, lam):
        self.weights, self.lam = weights, lam
        total = sum(float(np.vdot(w, w)) for w in weights)
        return np.asarray(lam * total, dtype=np.result_type(*weights))

    def backward(self, g):
        """2λg·W_l, as a ScaledGrad where the dtypes agree: the engine then adds it into
        the gradient from W_l's Linear in one pass, with no weight-sized temporary."""
        factor = np.asarray(2 * self.lam * g)
        return tuple(None if not needed
                     else ScaledGrad(factor[()], w) if w.dtype == factor.dtype
                     else w * factor
                     for w, needed in zip(self.weights, self.needs_input_grad))


def _as_tensor(x, what):
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return Tensor(x)
    raise DTypeError(f"{what}: expected a Tensor or NumPy array, got {type(x).__name__}")


def linear(x, weight, bias=None):
    x = _as_tensor(x, "Linear")
    if x.dtype.kind != "f":
        raise DTypeError(f"Linear: input must be a float array, got dtype {x.dtype}")
    if x.shape[:1] == (0,):
        raise ShapeError(f"Linear: empty batch (input shape {x.shape}); expected at least "
                         "one row")
    parents = (x, weight) if bias is None else (x, weight, bias)
    return LinearFunction.apply(*parents)


def relu(x):
    return ReLUFunction.apply(_as_tensor(x, "relu"))


def leaky_relu(x, negative_slope=0.01):
    if not is_real(negative_slope):
        raise ConfigError(f"LeakyReLU: negative_slope must be a finite number, got "
                          f"{shown(negative_slope)}")
    return LeakyReLUFunction.apply(_as_tensor(x, "leaky_relu"), negative_slope=negative_slope)


def check_dropout_p(p):
    if not is_real(p) or not 0 <= p < 1:
        raise ConfigError(f"Dropout: p is the probability of dropping a unit and must be a "
                          f"number in [0, 1), got {shown(p)}")


def dropout_mask(shape, p, generator=None):
    """A 0/1 (bool) mask keeping each entry with probability 1 - p."""
    generator = generator if generator is not None else default_generator()
    return generator.random(shape) >= p


def dropout(x, p, training=True, generator=None, mask=None):
    """Drop each entry with probability p and scale the rest by 1/(1-p) (training only).
    A given `mask` (bool, x's shape) is used instead of drawing one."""
    check_dropout_p(p)
    x = _as_tensor(x, "dropout")
    if not training or p == 0:
        return x
    if x.dtype.kind != "f":  # scaling by 1/(1-p) needs floats
        raise DTypeError(f"Dropout: input must be a float array, got dtype {x.dtype}")
    if mask is None:
        mask = dropout_mask(x.shape, p, generator)
    elif np.shape(mask) != x.shape:
        raise ShapeError(f"dropout: mask of shape {np.shape(mask)} for input of shape "
                         f"{x.shape}; expected the input's shape")
    return DropoutFunction.apply(x, mask=np.ascontiguousarray(mask, dtype=bool),
                                 scale=1.0 / (1.0 - p))


def check_labels(labels, n, num_classes):
    """Labels as a 1-D int64 array of length n with values in [0, num_classes)."""
    labels = labels.data if isinstance(labels, Tensor) else labels
    try:
        labels = np.asarray(labels)
    except (TypeError, ValueError, OverflowError) as err:  # ragged lists, ...
        raise LabelError(f"labels must be a 1-D array of integer class indices, got a "
                         f"{type(labels).__name__} NumPy cannot make an array of ({err})") from None
    if labels.dtype.kind not in "iu":
        got = f"dtype {labels.dtype}"
        if labels.dtype.kind in "fb" and labels.size:
            got += (f" with values in [{labels.min()}, {labels.max()}]; convert them with "
                    ".astype(np.int64)")
        raise LabelError(f"labels must be integers (class indices in [0, {num_classes - 1}]), "
                         f"got {got}")
    if labels.shape != (n,):
        raise LabelError(f"labels of shape {labels.shape} do not match a batch of {n} logits; "
                         f"expected shape ({n},)")
    if n and (labels.min() < 0 or labels.max() >= num_classes):
        raise LabelError(f"labels must lie in [0, {num_classes - 1}] for {num_classes} classes, "
                         f"got values in [{labels.min()}, {labels.max()}]")
    return labels.astype(np.int64, copy=False)


def softmax_cross_entropy(logits, labels):
    logits = _as_tensor(logits, "softmax cross-entropy: logits")
    if logits.ndim != 2:
        raise ShapeError(f"softmax cross-entropy needs 2-D logits (batch, classes), got shape "
                         f"{logits.shape}")
    if logits.dtype.kind != "f":
        raise DTypeError(f"softmax cross-entropy: logits must be a float array, got dtype "
                         f"{logits.dtype}")
    n, c = logits.shape
    if n == 0:
        raise ShapeError(f"softmax cross-entropy of an empty batch (logits shape {logits.shape}); "
                         "expected at least one row")
    if c == 0:
        raise ShapeError(f"softmax cross-entropy needs at least one class, got logits of shape "
                         f"{logits.shape}")
    labels = check_labels(labels, n, c)
    return SoftmaxCrossEntropyFunction.apply(logits, Tensor(labels))


def l2_penalty(weights, lam):
    """λ Σ ‖W‖²_F as a Tensor, over the given weight tensors."""
    weights = list(weights)
    if not weights:
        raise ConfigError("l2_penalty: no weights given; expected at least one weight tensor "
                          "(a model with a Linear layer)")
    if not is_real(lam) or lam < 0:
        raise ConfigError(f"l2_penalty: the strength λ must be a finite number >= 0, got "
                          f"{shown(lam)}")
    return L2PenaltyFunction.apply(*weights, lam=float(lam))
