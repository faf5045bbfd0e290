"""The classic toy check of a two-layer net: 5 inputs of dimension 4, 10 hidden
units, 3 classes, small seeded init.

Prints the scores and the loss, the per-parameter relative error of autodiff
against the closed form (reference.py) and against numerical gradients, then
trains with SGD for 100 iterations and saves the loss curve as a PNG.

    python examples/two_layer_toy.py [--out runs/two_layer_toy]
"""

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import tinygrad_hlcv as tg  # noqa: E402
from tinygrad_hlcv import Tensor, nn, optim, reference  # noqa: E402
from tinygrad_hlcv.gradcheck import autodiff_grads, compare_grads, format_errors, gradcheck  # noqa: E402

INPUT_SIZE, HIDDEN_SIZE, NUM_CLASSES, NUM_INPUTS = 4, 10, 3, 5
REG = 0.05


def toy_model():
    rng = np.random.default_rng(0)
    return nn.Sequential(
        nn.Linear(INPUT_SIZE, HIDDEN_SIZE, init_std=1e-1, generator=rng),
        nn.ReLU(),
        nn.Linear(HIDDEN_SIZE, NUM_CLASSES, init_std=1e-1, generator=rng),
    )


def toy_data():
    rng = np.random.default_rng(1)
    return 10 * rng.standard_normal((NUM_INPUTS, INPUT_SIZE)), np.array([0, 1, 2, 2, 1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        default=os.path.join("runs", "two_layer_toy"),
        help="directory for the loss-curve PNG",
    )
    args = parser.parse_args()

    tg.set_default_dtype(np.float64)  # gradient checks run in float64
    model, (X, y) = toy_model(), toy_data()
    loss_fn = nn.SoftmaxCrossEntropy()

    def loss():
        return loss_fn(model(Tensor(X)), y) + nn.l2_penalty(model, REG)

    with tg.no_grad():
        print("scores:\n", model(Tensor(X)).detach().numpy())
    print(f"loss (with L2, reg={REG}): {loss().item():.12f}")

    params = nn.derivation_names(model)
    weights = [params[f"W{i}"].data for i in (1, 2)]
    biases = [params[f"b{i}"].data for i in (1, 2)]
    ref_loss, ref_grads = reference.mlp_loss_and_grads(X, y, weights, biases, reg=REG)
    print(f"closed-form loss:           {ref_loss:.12f}")
    closed = compare_grads(autodiff_grads(loss, params), {k: ref_grads[k] for k in params})
    print(format_errors(closed, "autodiff vs closed form"))
    gradcheck(loss, params, tol=1e-7)

    optimizer = optim.SGD(model.parameters(), lr=1e-1)
    history = []
    for _ in range(100):
        optimizer.zero_grad()
        value = loss_fn(model(Tensor(X)), y) + nn.l2_penalty(model, 5e-6)
        value.backward()
        optimizer.step()
        history.append(value.item())
    print(f"final training loss after 100 SGD iterations: {history[-1]:.4f}")

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "loss.png")
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(history)
    ax.set(xlabel="iteration", ylabel="training loss", title="Two-layer toy net, SGD")
    fig.tight_layout()
    fig.savefig(path + ".tmp.png")
    plt.close(fig)
    os.replace(path + ".tmp.png", path)
    print(f"loss curve saved to {path}")


if __name__ == "__main__":
    main()
