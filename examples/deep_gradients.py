"""Gradient checks of deeper nets: 2, 3, 4 and 5 linear layers, ReLU and LeakyReLU,
with and without dropout, each against the closed form and numerical gradients.

Numerical gradients use the five-point central stencil (h = 1e-4), which keeps
round-off small enough to check even small gradient entries to 1e-7; the
inputs are chosen so no pre-activation lies within 2h of ReLU's kink.

    python examples/deep_gradients.py
"""
import itertools

import numpy as np

import tinygrad_hlcv as tg
from tinygrad_hlcv import Tensor, nn, reference
from tinygrad_hlcv.gradcheck import (autodiff_grads, compare_grads,
                                     format_errors, gradcheck)

BATCH, INPUTS, CLASSES, REG, P_DROP, SEED = 8, 6, 4, 0.01, 0.3, 0


def build(depth, activation, p_drop):
    """`depth` Linear layers of random widths 5-9, each hidden one followed by the
    activation and, if p_drop > 0, Dropout."""
    rng = np.random.default_rng(depth)
    sizes = [INPUTS, *rng.integers(5, 10, depth - 1), CLASSES]
    layers = []
    for i in range(depth):
        layers.append(nn.Linear(sizes[i], sizes[i + 1], generator=rng))
        if i < depth - 1:
            layers.append(nn.ReLU() if activation == "relu" else nn.LeakyReLU(0.1))
            if p_drop:
                layers.append(nn.Dropout(p_drop))
    return nn.Sequential(*layers)


def kink_margin(model, X):
    """The smallest |pre-activation| over the hidden layers (from the closed form)."""
    margin, a = np.inf, X
    for layer in nn.linear_layers(model)[:-1]:
        z = a @ layer.weight.data + layer.bias.data
        margin, a = min(margin, np.abs(z).min()), np.maximum(z, 0.1 * z)
    return margin


def check(depth, activation, p_drop):
    model = build(depth, activation, p_drop)
    rng = np.random.default_rng(100 + depth)
    X, y = rng.standard_normal((BATCH, INPUTS)), rng.integers(0, CLASSES, BATCH)
    assert kink_margin(model, X) > 2e-4, "inputs too close to the kink for this check"
    loss_fn = nn.SoftmaxCrossEntropy()

    def loss():
        tg.manual_seed(SEED)  # the same dropout masks at every evaluation
        return loss_fn(model(Tensor(X)), y) + nn.l2_penalty(model, REG)

    loss()
    masks = [m.last_mask for m in model if isinstance(m, nn.Dropout)] or None
    params = nn.derivation_names(model)
    linears = nn.linear_layers(model)
    _, ref = reference.mlp_loss_and_grads(
        X, y, [m.weight.data for m in linears], [m.bias.data for m in linears],
        activation=activation, negative_slope=0.1, reg=REG, dropout_masks=masks,
        keep_prob=1 - p_drop if masks else None)
    closed = compare_grads(autodiff_grads(loss, params), {k: ref[k] for k in params})
    title = f"{depth} layers, {activation}, dropout p={p_drop}"
    print(f"\n== {title}\n" + format_errors(closed, "autodiff vs closed form"))
    numerical = gradcheck(loss, params, h=1e-4, order=4, tol=1e-7)
    return max(closed.values()), max(numerical.values())


def main():
    tg.set_default_dtype(np.float64)
    worst_closed = worst_numerical = 0.0
    for depth, activation, p_drop in itertools.product((2, 3, 4, 5), ("relu", "leaky_relu"),
                                                       (0.0, P_DROP)):
        closed, numerical = check(depth, activation, p_drop)
        worst_closed, worst_numerical = max(worst_closed, closed), max(worst_numerical, numerical)
    print(f"\nworst over all nets: {worst_closed:.1e} against the closed form, "
          f"{worst_numerical:.1e} against numerical gradients")
    if worst_closed > 1e-10:
        raise SystemExit("autodiff differs from the closed form by more than 1e-10")


if __name__ == "__main__":
    main()
