"""Closed-form reference for an L-layer fully connected classifier (plain NumPy).

This is the oracle the autodiff is tested against and the baseline the speed
benchmarks compare with. Every line follows docs/derivation.md; equations are
cited as "(d: ...)".

Layout and indexing, as in the derivation (batch in rows, ``x W + b``):
``A_1 = X``; for l = 1 … L, ``Z_{l+1} = A_l W_l + b_l``; hidden layers use
``A_{l+1} = φ(Z_{l+1})`` (then, optionally, inverted dropout); the last one
gives the scores ``Z_{L+1}`` and ``P = ψ(Z_{L+1})``. The derivation's
two-layer net is L = 2 (scores Z3); its "δ_L = (P - Y)/N" is the delta of
the scores, written δ_{L+1} with this indexing.

Activations: ReLU ``φ(z) = max(z, 0)`` with ``φ'(z) = 1 if z > 0 else 0``
(so φ'(0) = 0, as PyTorch); LeakyReLU ``φ(z) = z if z > 0 else αz`` with
``φ'(z) = 1 if z > 0 else α`` (so z = 0 takes the slope α, as PyTorch's
``x > 0 ? grad : grad * slope``).
"""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = [
    "flip_crop_reference",
    "mlp_loss_and_grads",
    "mlp_scores",
    "softmax_cross_entropy_and_delta",
]

_ACTIVATIONS = ("relu", "leaky_relu")
Masks = Sequence[np.ndarray | None] | None  # one dropout mask (or None) per hidden layer


def _check_labels(y: npt.ArrayLike, N: int, C: int) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (N,) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(
            f"labels y must be an integer array of shape ({N},), got {y.dtype} {y.shape}"
        )
    if N and (y.min() < 0 or y.max() >= C):
        raise ValueError(f"labels must lie in 0 … {C - 1}, got range [{y.min()}, {y.max()}]")
    return y


def softmax_cross_entropy_and_delta(
    scores: npt.ArrayLike, y: npt.ArrayLike
) -> tuple[float, np.ndarray]:
    """Return ``(J, δ)`` for N × C scores Z and integer labels y.

    J = -(1/N) Σ_i log P[i, y_i] with the stable log-softmax
    log ψ(z)_j = (z_j - m) - log Σ_k exp(z_k - m), m = max_k z_k   (d: Loss),
    δ = ∂J/∂Z = (P - Y) / N                                      (d: δ3).
    """
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"scores must be N × C, got shape {scores.shape}")
    N, C = scores.shape
    y = _check_labels(y, N, C)
    rows = np.arange(N)
    # fmt: off
    shifted = scores - scores.max(axis=1, keepdims=True)        # z - m  (≤ 0)
    with np.errstate(under="ignore"):                           # exp(-huge) -> 0 is intended
        P = np.exp(shifted)
    sum_exp = P.sum(axis=1, keepdims=True)                      # Σ_k exp(z_k - m) ≥ 1
    # -log P[i, y_i] = log Σ_k exp(z_k - m) - (z_{y_i} - m): never the log of P itself
    loss = float(np.mean(np.log(sum_exp[:, 0]) - shifted[rows, y]))
    P /= sum_exp                                                # P = ψ(Z)
    P[rows, y] -= 1                                             # P - Y
    P /= N                                                      # δ = (P - Y) / N
    # fmt: on
    return loss, P


def _validate(
    X: npt.ArrayLike,
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray],
    activation: str,
    dropout_masks: Masks,
    keep_prob: float | None,
) -> np.ndarray:
    L = len(weights)
    if L == 0 or len(biases) != L:
        raise ValueError(
            f"need as many biases as weights (≥ 1), got {L} weights and {len(biases)} biases"
        )
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {_ACTIVATIONS}, got {activation!r}")
    dtype = np.result_type(*weights)
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(f"weights must be floating point, got {dtype}")
    X = np.asarray(X, dtype=dtype)  # no copy when already that dtype
    if X.ndim != 2 or X.shape[1] != weights[0].shape[0]:
        raise ValueError(f"X of shape {X.shape} does not fit W1 of shape {weights[0].shape}")
    _validate_layers(weights, biases)
    if dropout_masks is not None:
        _validate_masks(dropout_masks, keep_prob, X.shape[0], weights)
    return X


def _validate_layers(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray]) -> None:
    for l, (W, b) in enumerate(zip(weights, biases), start=1):
        if W.ndim != 2:
            raise ValueError(f"W{l} must be 2-D (in, out), got shape {W.shape}")
        if l < len(weights) and W.shape[1] != weights[l].shape[0]:
            raise ValueError(
                f"W{l} of shape {W.shape} does not chain into W{l + 1} of shape {weights[l].shape}"
            )
        if np.shape(b) != (W.shape[1],):
            raise ValueError(f"b{l} of shape {np.shape(b)} does not match W{l} of shape {W.shape}")


def _validate_masks(
    masks: Sequence[np.ndarray | None],
    keep_prob: float | None,
    N: int,
    weights: Sequence[np.ndarray],
) -> None:
    if len(masks) != len(weights) - 1:
        raise ValueError(
            f"need one dropout mask per hidden layer ({len(weights) - 1}), got {len(masks)}"
        )
    for l, M in enumerate(masks, start=1):
        if M is not None and np.shape(M) != (N, weights[l - 1].shape[1]):
            raise ValueError(
                f"mask {l} of shape {np.shape(M)} does not match hidden layer {l} "
                f"of shape {(N, weights[l - 1].shape[1])}"
            )
    if any(M is not None for M in masks) and not (keep_prob is not None and 0 < keep_prob <= 1):
        raise ValueError(f"dropout masks need keep_prob q in (0, 1], got {keep_prob!r}")


def _forward(
    X: np.ndarray,
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray],
    activation: str,
    alpha: float,
    masks: Masks,
    q: float | None,
    keep: bool,
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Scores Z_{L+1}; with ``keep`` also the layer inputs A_l (after dropout) and hidden
    Z_{l+1}."""
    A, inputs, pre = X, [], []
    # fmt: off
    for l, (W, b) in enumerate(zip(weights, biases)):
        Z = A @ W                                               # Z_{l+1} = A_l W_l + b_l
        Z += b
        if keep:
            inputs.append(A)
        if l == len(weights) - 1:
            break
        if keep:
            pre.append(Z)
        if activation == "relu":                                # A_{l+1} = φ(Z_{l+1})
            A = np.maximum(Z, 0, out=None if keep else Z)
        else:
            A = np.where(Z > 0, Z, alpha * Z)
        if masks is not None and masks[l] is not None:          # A' = A ⊙ M / q   (d: dropout)
            A *= masks[l]
            A /= q
    # fmt: on
    return Z, inputs, pre


def mlp_scores(
    X: npt.ArrayLike,
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray],
    *,
    activation: str = "relu",
    negative_slope: float = 0.01,
    dropout_masks: Masks = None,
    keep_prob: float | None = None,
) -> np.ndarray:
    """Forward pass only: the N × C scores Z_{L+1} (no dropout when masks are None = eval
    mode)."""
    X = _validate(X, weights, biases, activation, dropout_masks, keep_prob)
    return _forward(
        X, weights, biases, activation, negative_slope, dropout_masks, keep_prob, False
    )[0]


def mlp_loss_and_grads(
    X: npt.ArrayLike,
    y: npt.ArrayLike,
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray],
    *,
    activation: str = "relu",
    negative_slope: float = 0.01,
    reg: float = 0.0,
    dropout_masks: Masks = None,
    keep_prob: float | None = None,
    want_input_grad: bool = False,
) -> tuple[float, dict[str, np.ndarray]]:
    """Loss J~ and its closed-form gradients for an L-layer net.

    weights[l] has shape (in, out), biases[l] shape (out,). dropout_masks: None or
    one 0/1 array (N, H_l) (or None) per hidden layer, applied after its activation
    as A * M / keep_prob. Returns ``(loss, grads)`` with loss = J~ as a float and
    grads = {'W1', 'b1', …, 'WL', 'bL'} (plus 'X' if want_input_grad), in the
    weights' dtype (X is computed in that dtype too).

        J~ = J + λ Σ_l ‖W_l‖²_F                       (d: Loss; biases not penalized)
        ∂J~/∂W_l = A_lᵀ δ_{l+1} + 2λ W_l,  ∂J~/∂b_l = Σ_i δ_{l+1}[i, :]
        δ_l = (δ_{l+1} W_lᵀ ⊙ M_l / q) ⊙ φ'(Z_l),    ∂J/∂X = δ_2 W_1ᵀ

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> X, y = rng.normal(size=(5, 4)), np.array([0, 1, 2, 2, 1])
        >>> Ws = [rng.normal(size=(4, 10)), rng.normal(size=(10, 3))]
        >>> bs = [np.zeros(10), np.zeros(3)]
        >>> loss, grads = mlp_loss_and_grads(X, y, Ws, bs, reg=0.05)
        >>> sorted(grads), grads["W1"].shape
        (['W1', 'W2', 'b1', 'b2'], (4, 10))
    """
    X = _validate(X, weights, biases, activation, dropout_masks, keep_prob)
    scores, inputs, pre = _forward(
        X, weights, biases, activation, negative_slope, dropout_masks, keep_prob, True
    )
    # fmt: off
    loss, delta = softmax_cross_entropy_and_delta(scores, y)             # δ_{L+1} = (P - Y) / N
    if reg:
        loss += reg * sum(float(np.vdot(W, W)) for W in weights)   # λ Σ ‖W_l‖²_F
    grads: dict[str, np.ndarray] = {}
    for l in range(len(weights), 0, -1):                        # top down, l = L … 1
        W = weights[l - 1]
        dW = inputs[l - 1].T @ delta                            # A_lᵀ δ_{l+1}
        if reg:
            dW += (2 * reg) * W                                 # + 2λ W_l
        grads[f"W{l}"], grads[f"b{l}"] = dW, delta.sum(axis=0)  # Σ_i δ_{l+1}[i, :]
        if l == 1 and not want_input_grad:
            break
        dA = delta @ W.T                                        # δ_{l+1} W_lᵀ = ∂J/∂A_l
        if l == 1:
            grads["X"] = dA                                     # ∂J/∂X = δ_2 W_1ᵀ
            break
        M = None if dropout_masks is None else dropout_masks[l - 2]
        delta = _hidden_delta(dA, pre[l - 2], M, keep_prob, activation, negative_slope)  # δ_l
    # fmt: on
    return loss, grads


def _hidden_delta(
    dA: np.ndarray,
    Z: np.ndarray,
    M: np.ndarray | None,
    q: float | None,
    activation: str,
    alpha: float,
) -> np.ndarray:
    """δ_l = (∂J/∂A_l ⊙ M_l / q) ⊙ φ'(Z_l), computed in `dA`."""
    # fmt: off
    if M is not None:                                           # backward of dropout: ⊙ M / q
        dA *= M
        dA /= q
    if activation == "relu":                                    # ⊙ φ'(Z_l):
        dA *= Z > 0                                             #   1 if z > 0 else 0
    else:
        dA[Z <= 0] *= alpha                                     #   1 if z > 0 else α
    # fmt: on
    return dA


def flip_crop_reference(
    X: np.ndarray, rng: np.random.Generator, flip: bool = True, pad: int = 4
) -> np.ndarray:
    """Random horizontal flips (p = 0.5) and zero-padded random crops of the (N, H, W, C)
    images X: the original fancy-indexing augment_batch (before the flip_crop kernel of
    tinygrad_hlcv.data.augment), kept unchanged as the oracle its tests and benchmark
    compare with. It draws `rng.random(n) < 0.5` (if flip), then
    `rng.integers(0, 2·pad + 1, size=(2, n))` (if pad > 0): the kernel keeps this order."""
    n, h, w, _ = X.shape
    out = X.copy()
    if flip:
        m = rng.random(n) < 0.5
        out[m] = out[m, :, ::-1]
    if pad > 0:
        padded = np.pad(out, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
        dy, dx = rng.integers(0, 2 * pad + 1, size=(2, n))
        rows = (dy[:, None] + np.arange(h))[:, :, None]
        cols = (dx[:, None] + np.arange(w))[:, None, :]
        out = padded[np.arange(n)[:, None, None], rows, cols]
    return out
