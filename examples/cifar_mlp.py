"""Train a fully connected net on CIFAR-10 and write the figures and metrics a report needs.

    python examples/cifar_mlp.py                       # the default: best two-layer net
    python examples/cifar_mlp.py --preset deep_leaky   # 550-128-100 LeakyReLU
    python examples/cifar_mlp.py --hidden 550 128 100 --activation leaky_relu --optimizer adam
    python examples/cifar_mlp.py --preset frontier     # the 10-minute recipe (issue 13)
    python examples/cifar_mlp.py --hidden 100 100 100 100 --epochs 3 --diagnostics

Data: --data-dir, else $CIFAR10_DIR, else the cache ($TINYGRAD_HLCV_DATA), else
the official archive is downloaded. Writes to --out: metrics.json, curves.png,
weights.png and checkpoint.pkl; --resume continues an interrupted run. --diagnostics also
records every layer's gradient norm, weight norm and update-to-weight ratio at each step
and the activations of 500 training images at each epoch's end (training.Diagnostics),
into metrics.json ("diagnostics"), gradients.png and activations.png.
Reports validation accuracy (1,000 images; none with --num-val 0), and test accuracy on
the course's first 1,000 test images and on the full 10,000 (with a model trained on
flips, also with flip test-time augmentation). --time-budget SECONDS stops training
once its steps have taken that long (loading, measuring and figures apart); the
'onecycle' schedule then follows the elapsed fraction of the budget. metrics.json says
how long loading, training, evaluating and the figures took.

Flips (--augment, training and TTA) of images centred by the per-pixel mean (the default
normalisation; the 'frontier' preset normalises per channel and ZCA-whitens with a
flip-symmetric matrix instead, which flips exactly) are slightly off:
mirror(x - mu) = mirror(x) - mirror(mu), not mirror(x) - mu, so a flipped image is centred
by the mirrored mean image. metrics.json says so ("flip_note") when it applies.

Training goes through the general `training.fit` (a batch stream: an epoch is
`num_train // batch_size` draws, or one shuffled pass without --replacement).
"""

import argparse
import os
import sys
import time

import tinygrad_hlcv as tg
from tinygrad_hlcv import nn, optim
from tinygrad_hlcv.data import BatchIterator, prepare_cifar10
from tinygrad_hlcv.optim.lr_scheduler import BudgetedOneCycleLR
from tinygrad_hlcv.training import Diagnostics, evaluate, fit, predict
from tinygrad_hlcv.training import report as shared
from tinygrad_hlcv.training.metrics import accuracy
from tinygrad_hlcv.training.report import IMAGE_SHAPE, normalize_channels, zca_whiten

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
    # issue 13: 3072-1024-1024-10, bias-free Linear -> BatchNorm1d -> ReLU, per-channel
    # normalisation then ZCA whitening (eps 3), flips and 4-pixel crops, Nesterov SGD with
    # weight decay on the weight matrices, a one-cycle rate over a 560 s budget, label
    # smoothing, all 50,000 images (docs/results.md: 72.5% mean over 3 seeds, ablation)
    "frontier": dict(
        hidden=[1024, 1024],
        batchnorm=True,
        optimizer="nesterov",
        momentum=0.9,
        lr=0.1,
        weight_decay=5e-4,
        reg=0.0,
        schedule="onecycle",
        lr_decay=1.0,
        label_smoothing=0.1,
        batch_size=256,
        epochs=None,
        iters=None,
        time_budget=560.0,  # leaves ~35 s of the 600 for loading, whitening, evaluation, figures
        init_std=None,
        normalize="zca",
        zca_eps=3.0,
        augment=True,
        replacement=False,
        num_train=50000,
        num_val=0,
        checkpoint_every=10,  # a save takes ~0.25 s (34 MB), outside the budget
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
    init="std",
    pca=None,
    standardize=False,
    augment=False,
    seed=0,
    num_train=49000,
    num_val=1000,
    batchnorm=False,
    weight_decay=0.0,
    label_smoothing=0.0,
    time_budget=None,
    normalize="image",
    zca_eps=3.0,
    replacement=True,
    checkpoint_every=1,
)


_int_at_least = shared.int_at_least
_seconds = shared.seconds


def build_parser():
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--preset", choices=sorted(PRESETS), help="start from a named configuration")
    p.add_argument(
        "--hidden", type=_int_at_least(1), nargs="+", help="hidden layer sizes, e.g. 550 128 100"
    )
    p.add_argument("--activation", choices=["relu", "leaky_relu", "gelu"])
    p.add_argument("--dropout", type=float, help="probability of dropping a hidden unit")
    p.add_argument("--optimizer", choices=["sgd", "momentum", "nesterov", "adam"])
    p.add_argument("--momentum", type=float)
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--lr-decay", type=float, help="per-epoch factor (exponential schedule)")
    p.add_argument(
        "--schedule",
        choices=["exponential", "cosine", "onecycle"],
        help="onecycle: linear warm-up over 15%% of training to --lr, then linear decay to 0",
    )
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
    p.add_argument(
        "--init",
        choices=["std", "kaiming"],
        help="std: as --init-std says (the default); kaiming: He's N(0, 2/fan_in) for the "
        "ReLU family, biases 0",
    )
    p.add_argument("--pca", type=float, help="PCA to k components (k ≥ 1) or a variance fraction")
    p.add_argument(
        "--standardize",
        action="store_true",
        default=None,
        help="per-channel standardization after mean subtraction",
    )
    p.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        help="random flips and ±4-pixel crops (--no-augment: none, also for a preset)",
    )
    p.add_argument(
        "--batchnorm",
        action=argparse.BooleanOptionalAction,
        help="bias-free Linear -> BatchNorm1d -> activation in each hidden layer",
    )
    p.add_argument(
        "--normalize",
        choices=["image", "channel", "zca"],
        help="image: minus the mean image (the course's); channel: per-channel mean and std; "
        "zca: per channel, then ZCA-whitened (data.zca_matrix, flip-symmetric)",
    )
    p.add_argument("--zca-eps", type=float, help="ZCA's ε (variance kept per direction: λ/(λ+ε))")
    p.add_argument(
        "--time-budget", type=_seconds, help="stop training after SECONDS of training steps"
    )
    p.add_argument("--weight-decay", type=float, help="SGD weight decay on the weight matrices")
    p.add_argument("--label-smoothing", type=float, help="cross-entropy label smoothing ε")
    p.add_argument("--seed", type=_int_at_least(0))
    p.add_argument("--num-train", type=_int_at_least(1))
    p.add_argument(
        "--num-val", type=_int_at_least(0), help="validation images (0: none, no best epoch)"
    )
    p.add_argument("--data-dir", help="CIFAR-10 python batches (default: $CIFAR10_DIR or download)")
    p.add_argument("--out", default=os.path.join("runs", "cifar_mlp"), help="output directory")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pkl")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--diagnostics",
        action="store_true",
        help="record per-layer gradients and activations; write gradients.png, activations.png",
    )
    return p


def config_from_args(args):
    """Defaults, overridden by the preset, overridden by explicit flags."""
    config = dict(DEFAULTS, **PRESETS.get(args.preset, {}))
    explicit = {k: v for k, v in vars(args).items() if v is not None and k in DEFAULTS}
    if (explicit.get("epochs") or explicit.get("iters")) and "time_budget" not in explicit:
        config["time_budget"] = None  # a length asked for replaces a preset's budget
    if explicit.get("epochs"):
        config["iters"] = None
    if explicit.get("iters"):
        config["epochs"] = None
    config.update(explicit)
    if config["init_std"] == 0:
        config["init_std"] = None
    if config["pca"] is not None and config["pca"] >= 1:
        config["pca"] = int(config["pca"])
    if not config["zca_eps"] > 0:
        raise SystemExit(f"error: --zca-eps must be > 0, got {config['zca_eps']}")
    if config["pca"] and config["augment"]:
        raise SystemExit("error: --augment works on images and cannot be combined with --pca")
    if config["schedule"] == "cosine" and not (config["iters"] or config["epochs"]):
        raise SystemExit("error: --schedule cosine needs a length: --iters or --epochs")
    return config


ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "gelu": nn.GELU}


def build_model(config, in_features, num_classes=10):
    """Linear -> activation (-> Dropout) per hidden layer, or with `batchnorm` bias-free
    Linear -> BatchNorm1d -> activation; a Flatten first when the batches are images.
    Weights: N(0, init_std²), PyTorch's default without init_std, He's with init 'kaiming'."""
    sizes = [in_features, *config["hidden"], num_classes]
    layers = [nn.Flatten()] if config["augment"] else []
    for i in range(len(sizes) - 1):
        hidden = i < len(sizes) - 2
        bias = not (hidden and config["batchnorm"])
        layer = nn.Linear(sizes[i], sizes[i + 1], bias, init_std=config["init_std"])
        if config["init"] == "kaiming":
            kaiming_init(layer, config["activation"])
        layers.append(layer)
        if hidden:
            if config["batchnorm"]:
                layers.append(nn.BatchNorm1d(sizes[i + 1]))
            layers.append(ACTIVATIONS[config["activation"]]())
            if config["dropout"]:
                layers.append(nn.Dropout(config["dropout"]))
    return nn.Sequential(*layers)


def kaiming_init(layer, activation):
    """He's init for a layer followed by `activation`: W ~ N(0, gain²/fan_in) (gain √2 for
    ReLU), b = 0, so each layer keeps the variance of its activations."""
    nonlinearity = "leaky_relu" if activation == "leaky_relu" else "relu"  # GELU's gain ≈ ReLU's
    a = 0.01 if activation == "leaky_relu" else 0.0
    nn.init.kaiming_normal_(layer.weight, a=a, nonlinearity=nonlinearity)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


def parameter_groups(model, weight_decay):
    """The weight matrices with `weight_decay`, every other parameter (biases, BatchNorm's
    scale and shift) without: decaying those only shrinks what normalisation undoes."""
    named = list(model.named_parameters())
    matrices = [p for _, p in named if p.ndim == 2]
    others = [p for _, p in named if p.ndim != 2]
    groups = [{"params": matrices, "weight_decay": weight_decay}]
    return groups + ([{"params": others, "weight_decay": 0.0}] if others else [])


def build_optimizer(config, params):
    """The configuration's optimizer; `params` a list of tensors or of parameter groups."""
    kind = config["optimizer"]
    if kind == "adam":
        return optim.Adam(params, lr=config["lr"])
    momentum = config["momentum"] if kind in ("momentum", "nesterov") else 0.0
    return optim.SGD(params, lr=config["lr"], momentum=momentum, nesterov=kind == "nesterov")


def prepare_data(config, data_dir=None, log=print):
    """Seed the framework, load and preprocess CIFAR-10. Returns the splits, the (possibly
    image-shaped) training inputs, their batch iterator, the run's length in iterations
    (None when only a time budget ends it) and the iterations per epoch. Call
    build_training right after: the seed set here is what initialises the weights."""
    tg.manual_seed(config["seed"])
    started = time.perf_counter()
    by_channel = config["normalize"] in ("channel", "zca")
    splits = prepare_cifar10(
        data_dir,
        num_train=config["num_train"],
        num_val=config["num_val"],
        num_test=None,
        center=not by_channel,
        standardize=config["standardize"] and not by_channel,
        pca=config["pca"],
    )
    if by_channel:
        splits.channel_stats = normalize_channels(splits)  # (mean, std) per channel
    if config["normalize"] == "zca":
        splits.X_train, splits.X_val, splits.X_test = zca_whiten(
            splits.X_train, splits.X_val, splits.X_test, eps=config["zca_eps"]
        )
    log(
        f"data ready in {time.perf_counter() - started:.1f} s: {len(splits.X_train)} train, "
        f"{len(splits.X_val)} validation, {len(splits.X_test)} test, "
        f"{splits.X_train.shape[1]} features"
    )
    X_train = splits.X_train.reshape(-1, *IMAGE_SHAPE) if config["augment"] else splits.X_train
    batches = BatchIterator(
        X_train,
        splits.y_train,
        config["batch_size"],
        replacement=config["replacement"],
        rng=config["seed"],
        augment=config["augment"],
    )
    iterations_per_epoch = max(len(splits.X_train) // config["batch_size"], 1)
    if not config["replacement"]:
        iterations_per_epoch = len(batches)
    iterations = config["iters"] or (config["epochs"] or 0) * iterations_per_epoch or None
    return splits, X_train, batches, iterations, iterations_per_epoch


def build_training(config, in_features, iterations, iterations_per_epoch):
    """The model, its optimizer and the learning-rate schedule of a configuration."""
    model = build_model(config, in_features)
    params = model.parameters()
    if config["weight_decay"]:
        params = parameter_groups(model, config["weight_decay"])
    optimizer = build_optimizer(config, params)
    if config["schedule"] == "onecycle":
        schedule = BudgetedOneCycleLR(optimizer, max_lr=config["lr"], pct_start=0.15)
    elif config["schedule"] == "cosine":
        epochs = -(-(iterations or iterations_per_epoch) // iterations_per_epoch)
        schedule = optim.CosineAnnealingLR(optimizer, T_max=epochs)
    else:
        schedule = optim.ExponentialLR(optimizer, gamma=config["lr_decay"])
    return model, optimizer, schedule


def build_loss(config, model):
    """Cross-entropy (label-smoothed if configured), plus the course's L2 term λ Σ‖W‖²."""
    if config["label_smoothing"]:
        cross_entropy = nn.CrossEntropyLoss(label_smoothing=config["label_smoothing"])
    else:
        cross_entropy = nn.SoftmaxCrossEntropy()
    if not config["reg"]:
        return cross_entropy
    return lambda outputs, targets: (
        cross_entropy(outputs, targets) + nn.l2_penalty(model, config["reg"])
    )


PROBE_SIZE = 500  # training images whose activations --diagnostics records


def train(config, splits, X_train, batches, plan, out, resume, progress, log=print, diag=None):
    """Train through training.fit (with `diag`, a training.Diagnostics, as a callback);
    returns the model and fit's FitHistory."""
    iterations, per_epoch = plan
    model, optimizer, schedule = build_training(
        config, splits.X_train.shape[1], iterations, per_epoch
    )
    length = f"{iterations} iterations" if iterations else "no iteration limit"
    budget = f", time budget {config['time_budget']:g} s" if config["time_budget"] else ""
    log(f"{model}\n{length}, {per_epoch} per epoch{budget}")
    validate = len(splits.X_val) > 0
    subset = slice(0, 1000)  # training accuracy on 1,000 images, in eval mode, to compare
    train_subset = {"train": (X_train[subset], splits.y_train[subset])} if validate else None
    result = fit(
        model,
        build_loss(config, model),
        optimizer,
        batches,
        epochs=None if iterations is None else -(-iterations // per_epoch),
        max_steps=iterations,
        steps_per_epoch=per_epoch,
        time_budget=config["time_budget"],
        batch_size=1000,  # for measuring
        val_data=(splits.X_val, splits.y_val) if validate else None,
        extra_eval=train_subset,  # (without validation: the epoch's running accuracy only)
        metrics={"acc": accuracy},
        monitor="val_acc",
        scheduler=schedule,
        scheduler_step="fraction" if config["schedule"] == "onecycle" else "epoch",
        checkpoint=os.path.join(out, "checkpoint.pkl"),
        checkpoint_every=config["checkpoint_every"],
        resume=resume,
        extra_state={"config": config},
        progress=progress,
        callbacks=None if diag is None else [diag],
    )
    return model, result


FLIP_NOTE = (
    "flips (training and TTA) of per-pixel-centred images use the mirrored mean image: "
    "mirror(x - mu) = mirror(x) - mirror(mu), not mirror(x) - mu; per-channel normalisation "
    "(the 'frontier' preset) has no such error"
)


def measure(config, model, splits):
    """The accuracies a report gives: validation (if any), test (all and the first 1,000,
    from one pass), and with a model trained on flips the test accuracy with flip TTA
    (with a note when the flips were of per-pixel-centred images: see the module's
    docstring)."""
    correct = predict(model, splits.X_test) == splits.y_test
    metrics = {
        "val_acc": evaluate(model, splits.X_val, splits.y_val) if len(splits.X_val) else None,
        **shared.accuracy_record(correct),
        "test_acc_tta": None,
        "flip_note": None,
    }
    if config["augment"] and config["normalize"] == "image":
        metrics["flip_note"] = FLIP_NOTE
    if config["augment"]:
        metrics["test_acc_tta"] = evaluate(
            model, splits.X_test, splits.y_test, tta=True, image_shape=IMAGE_SHAPE
        )
    return metrics


def run(
    config,
    data_dir=None,
    out="runs/cifar_mlp",
    resume=False,
    progress=True,
    log=print,
    diagnostics=False,
):
    """Train one configuration; returns the metrics dict also written to out/metrics.json
    (with `diagnostics`, the per-layer records under "diagnostics", see training.Diagnostics)."""
    started = time.perf_counter()
    splits, X_train, batches, iterations, per_epoch = prepare_data(config, data_dir, log)
    load_seconds = time.perf_counter() - started
    plan = (iterations, per_epoch)
    diag = Diagnostics(X_train[:PROBE_SIZE]) if diagnostics else None
    model, result = train(config, splits, X_train, batches, plan, out, resume, progress, log, diag)
    tick = time.perf_counter()
    measured = measure(config, model, splits)
    metrics = shared.run_metrics(config, data_dir, measured, result, load_seconds, tick)
    if diag is not None:
        metrics["diagnostics"] = diag.to_dict()
    write_report(config, model, splits, metrics, out)
    metrics["wall_seconds"] = time.perf_counter() - started
    shared.write_metrics(out, metrics)
    return metrics


def write_report(config, model, splits, metrics, out):
    """metrics.json (first without the figures' time), curves.png and weights.png."""
    shared.write_metrics(out, metrics)
    tick = time.perf_counter()
    # imported only now: matplotlib takes seconds to load, which a failed run need not wait
    from tinygrad_hlcv.training.plots import plot_training, plot_weight_grid

    plot_training(
        metrics["history"],
        os.path.join(out, "curves.png"),
        title=f"{config['hidden']} {config['activation']}, {config['optimizer']}",
    )
    first = nn.linear_layers(model)[0].weight.data
    if splits.preprocessor.components_ is not None:  # back from PCA space to pixels
        first = splits.preprocessor.components_ @ first
    plot_weight_grid(first, os.path.join(out, "weights.png"))
    if "diagnostics" in metrics:
        write_diagnostics(config, metrics["diagnostics"], out)
    metrics["seconds"]["figures"] = time.perf_counter() - tick


def write_diagnostics(config, diagnostics, out):
    """gradients.png and activations.png from the run's training.Diagnostics record."""
    from tinygrad_hlcv.training.plots import plot_activations, plot_gradients

    if config["init"] == "kaiming":
        init = "Kaiming (He) init"
    elif config["init_std"]:
        init = f"init std {config['init_std']:g}"
    else:
        init = "PyTorch's default init"
    title = f"{config['hidden']} {config['activation']}, {init}, {config['optimizer']}"
    plot_gradients(diagnostics, os.path.join(out, "gradients.png"), title=title)
    plot_activations(diagnostics, os.path.join(out, "activations.png"), title=title)


def main(argv=None):
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    try:
        metrics = run(
            config,
            args.data_dir,
            args.out,
            args.resume,
            not args.no_progress,
            diagnostics=args.diagnostics,
        )
    except (tg.errors.TinygradError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    report(metrics, args.out)
    return 0


def report(metrics, out):
    """The accuracies and times, as the last lines of the output."""
    figures = "curves.png, weights.png" + (
        ", gradients.png, activations.png" if "diagnostics" in metrics else ""
    )
    shared.print_report(metrics, out, figures)


if __name__ == "__main__":
    sys.exit(main())
