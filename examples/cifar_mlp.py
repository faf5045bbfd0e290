"""Train a fully connected net on CIFAR-10 and write the figures and metrics a report needs.

    python examples/cifar_mlp.py                       # the default: best two-layer net
    python examples/cifar_mlp.py --preset deep_leaky   # 550-128-100 LeakyReLU
    python examples/cifar_mlp.py --hidden 550 128 100 --activation leaky_relu --optimizer adam

Data: --data-dir, else $CIFAR10_DIR, else the cache ($TINYGRAD_HLCV_DATA), else
the official archive is downloaded. Writes to --out: metrics.json, curves.png,
weights.png and checkpoint.pkl; --resume continues an interrupted run.
Reports validation accuracy (1,000 images), and test accuracy on the course's
first 1,000 test images and on the full 10,000.
"""

import argparse
import json
import os
import sys
import time

import tinygrad_hlcv as tg
from tinygrad_hlcv import nn, optim
from tinygrad_hlcv.data import BatchIterator, prepare_cifar10
from tinygrad_hlcv.training import evaluate, fit
from tinygrad_hlcv.training.checkpoint import atomic_write_text

# The derivation's reference configurations (course reports), plus our own recipe.
PRESETS = {
    "course_baseline": dict(hidden=[50], lr=1e-4, iters=1000, reg=0.25, lr_decay=0.95),
    "best_two_layer": dict(hidden=[100], lr=1e-3, iters=4000, reg=0.25, lr_decay=0.95),
    "wide_pca": dict(hidden=[600], lr=1e-3, iters=6000, reg=1e-4, lr_decay=0.90, pca=510),
    "deep_leaky": dict(
        hidden=[550, 128, 100],
        activation="leaky_relu",
        optimizer="adam",
        lr=1e-3,
        epochs=25,
        iters=None,
        reg=5e-4,
        lr_decay=0.95,
        init_std=None,
        standardize=True,
    ),
    "project_best": dict(
        hidden=[1024, 1024],
        optimizer="nesterov",
        lr=0.02,
        epochs=40,
        iters=None,
        reg=2.5e-4,
        schedule="cosine",
        lr_decay=1.0,
        init_std=None,
        standardize=True,
        augment=True,
    ),
}
DEFAULTS = dict(
    PRESETS["best_two_layer"],
    activation="relu",
    dropout=0.0,
    optimizer="sgd",
    momentum=0.9,
    schedule="exponential",
    batch_size=200,
    epochs=None,
    init_std=1e-4,
    pca=None,
    standardize=False,
    augment=False,
    seed=0,
    num_train=49000,
    num_val=1000,
)


def _int_at_least(low):
    """An argparse type: an integer >= low, else a usage error saying so."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}")
        return value

    return parse


def build_parser():
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--preset", choices=sorted(PRESETS), help="start from a named configuration")
    p.add_argument(
        "--hidden", type=_int_at_least(1), nargs="+", help="hidden layer sizes, e.g. 550 128 100"
    )
    p.add_argument("--activation", choices=["relu", "leaky_relu"])
    p.add_argument("--dropout", type=float, help="probability of dropping a hidden unit")
    p.add_argument("--optimizer", choices=["sgd", "momentum", "nesterov", "adam"])
    p.add_argument("--momentum", type=float)
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--lr-decay", type=float, help="per-epoch factor (exponential schedule)")
    p.add_argument("--schedule", choices=["exponential", "cosine"])
    p.add_argument("--reg", type=float, help="L2 strength λ in λ Σ‖W‖²")
    p.add_argument("--batch-size", type=_int_at_least(1))
    length = p.add_mutually_exclusive_group()
    length.add_argument("--iters", type=_int_at_least(1), help="training iterations")
    length.add_argument(
        "--epochs", type=_int_at_least(1), help="training epochs (instead of --iters)"
    )
    p.add_argument(
        "--init-std", type=float, help="N(0, std²) weight init; 0 for the default Kaiming-uniform"
    )
    p.add_argument("--pca", type=float, help="PCA to k components (k ≥ 1) or a variance fraction")
    p.add_argument(
        "--standardize",
        action="store_true",
        default=None,
        help="per-channel standardization after mean subtraction",
    )
    p.add_argument(
        "--augment", action="store_true", default=None, help="random flips and ±4-pixel crops"
    )
    p.add_argument("--seed", type=_int_at_least(0))
    p.add_argument("--num-train", type=_int_at_least(1))
    p.add_argument("--num-val", type=_int_at_least(1))
    p.add_argument("--data-dir", help="CIFAR-10 python batches (default: $CIFAR10_DIR or download)")
    p.add_argument("--out", default=os.path.join("runs", "cifar_mlp"), help="output directory")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pkl")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def config_from_args(args):
    """Defaults, overridden by the preset, overridden by explicit flags."""
    config = dict(DEFAULTS, **PRESETS.get(args.preset, {}))
    explicit = {k: v for k, v in vars(args).items() if v is not None and k in DEFAULTS}
    if explicit.get("epochs"):
        config["iters"] = None
    if explicit.get("iters"):
        config["epochs"] = None
    config.update(explicit)
    if config["init_std"] == 0:
        config["init_std"] = None
    if config["pca"] is not None and config["pca"] >= 1:
        config["pca"] = int(config["pca"])
    if config["pca"] and config["augment"]:
        raise SystemExit("error: --augment works on images and cannot be combined with --pca")
    return config


def build_model(config, in_features, num_classes=10):
    sizes = [in_features, *config["hidden"], num_classes]
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1], init_std=config["init_std"]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU() if config["activation"] == "relu" else nn.LeakyReLU())
            if config["dropout"]:
                layers.append(nn.Dropout(config["dropout"]))
    return nn.Sequential(*layers)


def build_optimizer(config, params):
    kind = config["optimizer"]
    if kind == "adam":
        return optim.Adam(params, lr=config["lr"])
    momentum = config["momentum"] if kind in ("momentum", "nesterov") else 0.0
    return optim.SGD(params, lr=config["lr"], momentum=momentum, nesterov=kind == "nesterov")


def prepare_data(config, data_dir=None, log=print):
    """Seed the framework, load and preprocess CIFAR-10. Returns the splits, the (possibly
    image-shaped) training inputs, their batch iterator, the run's length in iterations
    and the iterations per epoch. Call build_training right after: the seed set here is
    what initialises the weights."""
    tg.manual_seed(config["seed"])
    started = time.perf_counter()
    splits = prepare_cifar10(
        data_dir,
        num_train=config["num_train"],
        num_val=config["num_val"],
        num_test=None,
        standardize=config["standardize"],
        pca=config["pca"],
    )
    log(
        f"data ready in {time.perf_counter() - started:.1f} s: {len(splits.X_train)} train, "
        f"{len(splits.X_val)} validation, {len(splits.X_test)} test, "
        f"{splits.X_train.shape[1]} features"
    )
    X_train = splits.X_train.reshape(-1, 32, 32, 3) if config["augment"] else splits.X_train
    batches = BatchIterator(
        X_train,
        splits.y_train,
        config["batch_size"],
        replacement=True,
        rng=config["seed"],
        augment=config["augment"],
    )
    iterations_per_epoch = max(len(splits.X_train) // config["batch_size"], 1)
    iterations = config["iters"] or config["epochs"] * iterations_per_epoch
    return splits, X_train, batches, iterations, iterations_per_epoch


def build_training(config, in_features, iterations, iterations_per_epoch):
    """The model, its optimizer and the learning-rate schedule of a configuration."""
    model = build_model(config, in_features)
    optimizer = build_optimizer(config, model.parameters())
    if config["schedule"] == "cosine":
        epochs = -(-iterations // iterations_per_epoch)
        schedule = optim.CosineAnnealingLR(optimizer, T_max=epochs)
    else:
        schedule = optim.ExponentialLR(optimizer, gamma=config["lr_decay"])
    return model, optimizer, schedule


def run(config, data_dir=None, out="runs/cifar_mlp", resume=False, progress=True, log=print):
    """Train one configuration; returns the metrics dict also written to out/metrics.json."""
    started = time.perf_counter()
    splits, X_train, batches, iterations, iterations_per_epoch = prepare_data(config, data_dir, log)
    model, optimizer, schedule = build_training(
        config, splits.X_train.shape[1], iterations, iterations_per_epoch
    )
    log(f"{model}\n{iterations} iterations, {iterations_per_epoch} per epoch")

    result = fit(
        model,
        nn.SoftmaxCrossEntropy(),
        optimizer,
        batches,
        X_train,
        splits.y_train,
        splits.X_val,
        splits.y_val,
        iterations=iterations,
        reg=config["reg"],
        schedule=schedule,
        iterations_per_epoch=iterations_per_epoch,
        checkpoint=os.path.join(out, "checkpoint.pkl"),
        resume=resume,
        extra_state={"config": config},
        progress=progress,
    )
    metrics = {
        "config": config,
        "data": os.path.abspath(data_dir or os.environ.get("CIFAR10_DIR", "(cache or download)")),
        "val_acc": evaluate(model, splits.X_val, splits.y_val),
        "test_acc": evaluate(model, splits.X_test, splits.y_test),
        "test_size": len(splits.X_test),
        "test_acc_first_1000": evaluate(model, splits.X_test[:1000], splits.y_test[:1000]),
        "best_epoch": result.best_epoch,
        "iterations": result.iterations,
        "interrupted": result.interrupted,
        "train_seconds": result.seconds,
        "ms_per_iteration": 1000 * result.seconds / max(result.iterations, 1),
        "wall_seconds": time.perf_counter() - started,
        "history": vars(result.history),
    }
    atomic_write_text(os.path.join(out, "metrics.json"), json.dumps(metrics, indent=1))
    # imported only now: matplotlib takes seconds to load, which a failed run need not wait
    from tinygrad_hlcv.training.plots import plot_training, plot_weight_grid

    plot_training(
        result.history,
        os.path.join(out, "curves.png"),
        title=f"{config['hidden']} {config['activation']}, {config['optimizer']}",
    )
    first = nn.linear_layers(model)[0].weight.data
    if splits.preprocessor.components_ is not None:  # back from PCA space to pixels
        first = splits.preprocessor.components_ @ first
    plot_weight_grid(first, os.path.join(out, "weights.png"))
    return metrics


def main(argv=None):
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    try:
        metrics = run(config, args.data_dir, args.out, args.resume, not args.no_progress)
    except (tg.errors.TinygradError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if metrics["interrupted"]:
        print(
            f"interrupted after {metrics['iterations']} iterations; continue with "
            f"the same flags plus --resume --out {args.out}"
        )
    print(f"validation accuracy: {metrics['val_acc']:.4f}")
    print(
        f"test accuracy: {metrics['test_acc']:.4f} ({metrics['test_size']:,} images), "
        f"{metrics['test_acc_first_1000']:.4f} (first 1,000)"
    )
    print(
        f"training took {metrics['train_seconds']:.1f} s "
        f"({metrics['ms_per_iteration']:.2f} ms/iteration); wrote metrics.json, curves.png, "
        f"weights.png, checkpoint.pkl to {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
