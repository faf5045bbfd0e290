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
from tinygrad_hlcv.gradcheck import autodiff_grads, compare_grads, format_errors, gradcheck

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


def data(depth):
    """The inputs and labels the net of this depth is checked on."""
    rng = np.random.default_rng(100 + depth)
    return rng.standard_normal((BATCH, INPUTS)), rng.integers(0, CLASSES, BATCH)


def forward(model, X, pre_activations=None):
    """The model's layers one by one from the seed SEED, so every evaluation draws the same
    dropout masks; each Linear layer's output is appended to `pre_activations` if given."""
    tg.manual_seed(SEED)
    out = Tensor(X)
    for layer in model:
        out = layer(out)
        if pre_activations is not None and isinstance(layer, nn.Linear):
            pre_activations.append(out.data)
    return out


def hidden_pre_activations(model, X):
    """The hidden layers' pre-activations Z = A W + b in the very forward the loss runs
    (its activation, its dropout masks): the last Linear layer's output, the scores, is not
    one."""
    pre = []
    with tg.no_grad():
        forward(model, X, pre)
    return pre[:-1]


def kink_margin(model, X):
    """The smallest |pre-activation| over the hidden layers."""
    return min(np.abs(z).min() for z in hidden_pre_activations(model, X))


def check(depth, activation, p_drop):
    model = build(depth, activation, p_drop)
    X, y = data(depth)
    assert kink_margin(model, X) > 2e-4, "inputs too close to the kink for this check"
    loss_fn = nn.SoftmaxCrossEntropy()

    def loss():
        return loss_fn(forward(model, X), y) + nn.l2_penalty(model, REG)

    loss()
    masks = [m.last_mask for m in model if isinstance(m, nn.Dropout)] or None
    params = nn.derivation_names(model)
    linears = nn.linear_layers(model)
    _, ref = reference.mlp_loss_and_grads(
        X,
        y,
        [m.weight.data for m in linears],
        [m.bias.data for m in linears],
        activation=activation,
        negative_slope=0.1,
        reg=REG,
        dropout_masks=masks,
        keep_prob=1 - p_drop if masks else None,
    )
    closed = compare_grads(autodiff_grads(loss, params), {k: ref[k] for k in params})
    title = f"{depth} layers, {activation}, dropout p={p_drop}"
    print(f"\n== {title}\n" + format_errors(closed, "autodiff vs closed form"))
    numerical = gradcheck(loss, params, h=1e-4, order=4, tol=1e-7)
    return max(closed.values()), max(numerical.values())


def main():
    tg.set_default_dtype(np.float64)
    worst_closed = worst_numerical = 0.0
    for depth, activation, p_drop in itertools.product(
        (2, 3, 4, 5), ("relu", "leaky_relu"), (0.0, P_DROP)
    ):
        closed, numerical = check(depth, activation, p_drop)
        worst_closed, worst_numerical = max(worst_closed, closed), max(worst_numerical, numerical)
    print(
        f"\nworst over all nets: {worst_closed:.1e} against the closed form, "
        f"{worst_numerical:.1e} against numerical gradients"
    )
    if worst_closed > 1e-10:
        raise SystemExit("autodiff differs from the closed form by more than 1e-10")


if __name__ == "__main__":
    main()
