"""Train a convolutional net on CIFAR-10 and write the figures and metrics a report needs.

    python examples/cifar_cnn.py                      # course_cnn: conv-ReLU-pool x3, linear
    python examples/cifar_cnn.py --preset fast        # the airbench recipe in a 540 s budget
    python examples/cifar_cnn.py --preset fast --time-budget 60 --tta

Presets:
  course_cnn  a course's first CNN: three conv3x3 -> ReLU -> max-pool 2 stages (32-64-64
              channels) and a linear layer; 5 epochs of Nesterov SGD with a one-cycle rate,
              weight decay, random ±2-pixel translations and alternating flips.
  fast        airbench94 (Keller Jordan) scaled to a 2-core CPU: a frozen 2x2 patch-whitening
              conv (its bias trained throughout: airbench freezes it after 3 epochs), three
              groups of conv3x3 -> max-pool 2 -> BatchNorm -> GELU -> conv3x3 -> BatchNorm ->
              GELU (32-128-128 channels; airbench's 64-256-256), batch 128,
              bias-free convs whose first filters start as the identity, BatchNorm without
              scale (momentum 0.6 in airbench's convention, eps 1e-12), a global max-pool and a
              bias-free linear head scaled by 1/9; Nesterov SGD (momentum 0.85) with airbench's
              triangular rate over the elapsed fraction of the time budget, BatchNorm biases at
              64x the rate, label smoothing 0.2, reflect-padded ±2-pixel translations with
              alternating flips, and a Lookahead EMA of the weights (optim.Lookahead).

Data: --data-dir, else $CIFAR10_DIR, else the cache ($TINYGRAD_HLCV_DATA), else the official
archive is downloaded; images are normalised per channel. Writes to --out: metrics.json,
curves.png, filters.png (the first conv layer's filters) and checkpoint.pkl; --resume
continues an interrupted run. Reports validation accuracy (none with --num-val 0) and test
accuracy on all 10,000 test images and the course's first 1,000; --tta adds the accuracy with
flip test-time augmentation (the mean softmax over each image and its mirror), apart (it
doubles the evaluation's time, which the fast preset's 600 s leave to training instead).
--time-budget SECONDS stops training once its steps have taken that long (loading, measuring
and figures apart); the schedules then follow the elapsed fraction of the budget.
metrics.json says how long loading, training, evaluating and the figures took.
"""

import argparse
import os
import sys
import time

import numpy as np

import tinygrad_hlcv as tg
from tinygrad_hlcv import nn, optim
from tinygrad_hlcv.data import BatchIterator, prepare_cifar10
from tinygrad_hlcv.data.batches import AlternatingFlipBatches
from tinygrad_hlcv.optim.lr_scheduler import BudgetedOneCycleLR
from tinygrad_hlcv.training import fit, scores
from tinygrad_hlcv.training import report as shared
from tinygrad_hlcv.training.metrics import accuracy

CHW = (3, 32, 32)  # the model's rows are CHW images, flattened

PRESETS = {
    "course_cnn": dict(
        model="plain",
        widths=[32, 64, 64],
        batch_size=128,
        lr=0.04,
        momentum=0.9,
        weight_decay=5e-4,
        label_smoothing=0.0,
        epochs=5,
        time_budget=None,
        num_train=49000,
        num_val=1000,
    ),
    # airbench94's hyperparameters turned into a mean loss over a batch of 128: its lr 11.5
    # per 1024 examples is 11.5 / (1024 (1 + 1 / (1 - 0.85))) per example, x128 = 0.1875; its
    # decoupled weight decay 0.0153 per 1024 examples is 0.0153 * 128 / 7850.7 = 2.49e-4 per
    # step, i.e. PyTorch's weight_decay = 2.49e-4 / 0.1875 = 1.33e-3 (BatchNorm biases: 64x
    # the rate, weight_decay / 64, the same decay per step). Batch 128, not airbench's 1024
    # or the 512: the budget holds about two epochs here, where more, smaller steps
    # won at the same images per second (docs/results.md, seed 0: 512 79.0%, 256 80.6%,
    # 128 81.5%, 64 80.9%).
    "fast": dict(
        model="airbench",
        widths=[32, 128, 128],
        batch_size=128,
        lr=0.1875,
        momentum=0.85,
        weight_decay=1.33e-3,
        label_smoothing=0.2,
        epochs=None,
        time_budget=540.0,  # + loading, the evaluation (25-40 s) and figures: within 600 s
        num_train=50000,
        num_val=0,
    ),
}
DEFAULTS = dict(
    PRESETS["course_cnn"],
    augment=True,
    pad=2,
    tta=False,
    seed=0,
    checkpoint_every=1,
)
AIRBENCH = dict(
    bias_scaler=64.0,  # BatchNorm biases' rate multiplier (not their weight decay's)
    bn_momentum=0.4,  # PyTorch's convention: airbench's 0.6 is 1 - 0.4
    bn_eps=1e-12,
    logit_scale=1 / 9,
    lookahead_every=5,
    lookahead_decay=0.95**5,  # times the elapsed fraction cubed
    warmup=0.23,  # the rate: 0.2 -> 1 over the first 23%, then 1 -> 0.07
    whitening_images=5000,
    whitening_eps=5e-4,
)


def build_parser():
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    at_least = shared.int_at_least
    p.add_argument("--preset", choices=sorted(PRESETS), help="a named configuration")
    p.add_argument("--widths", type=at_least(1), nargs=3, help="the three stages' channels")
    p.add_argument("--batch-size", type=at_least(1))
    p.add_argument("--lr", type=float, help="peak learning rate")
    p.add_argument("--momentum", type=float, help="Nesterov momentum")
    p.add_argument("--weight-decay", type=float, help="SGD weight decay on the weights")
    p.add_argument("--label-smoothing", type=float, help="cross-entropy label smoothing ε")
    p.add_argument("--epochs", type=at_least(1), help="training epochs")
    p.add_argument(
        "--time-budget", type=shared.seconds, help="stop training after SECONDS of steps"
    )
    p.add_argument("--no-augment", dest="augment", action="store_false", default=None)
    p.add_argument("--tta", action="store_true", default=None, help="also flip-TTA accuracy")
    p.add_argument("--seed", type=at_least(0))
    p.add_argument("--num-train", type=at_least(1))
    p.add_argument("--num-val", type=at_least(0), help="validation images (0: none)")
    p.add_argument("--data-dir", help="CIFAR-10 python batches (default: $CIFAR10_DIR or download)")
    p.add_argument("--out", default=os.path.join("runs", "cifar_cnn"), help="output directory")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pkl")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def config_from_args(args):
    """Defaults, overridden by the preset, overridden by explicit flags (--epochs without
    --time-budget drops a preset's budget); a run needs a length (epochs or a budget)."""
    config = dict(DEFAULTS, **PRESETS[args.preset or "course_cnn"])
    config["preset"] = args.preset or "course_cnn"
    explicit = {k: v for k, v in vars(args).items() if v is not None and k in DEFAULTS}
    if explicit.get("epochs") and "time_budget" not in explicit:
        config["time_budget"] = None  # --epochs alone: that many epochs, not the preset's budget
    config.update(explicit)
    if not (config["epochs"] or config["time_budget"]):
        raise SystemExit("error: a run needs --epochs or --time-budget")
    if config["model"] == "airbench":
        config.update(AIRBENCH)
    return config


# ----------------------------------------------------------------- data


def prepare_data(config, data_dir=None, log=print):
    """Seed the framework, load CIFAR-10 and normalise it per channel. Returns the splits
    with X_train, X_val and X_test as CHW rows (N, 3072) and the training images as an
    NCHW array (the rows are a view of it)."""
    tg.manual_seed(config["seed"])
    started = time.perf_counter()
    splits = prepare_cifar10(
        data_dir,
        num_train=config["num_train"],
        num_val=config["num_val"],
        num_test=None,
        center=False,
    )
    splits.channel_stats = shared.normalize_channels(splits)
    for name in ("X_train", "X_val", "X_test"):  # HWC rows -> CHW rows
        images = getattr(splits, name).reshape(-1, *shared.IMAGE_SHAPE).transpose(0, 3, 1, 2)
        setattr(splits, name, np.ascontiguousarray(images).reshape(len(images), 3 * 32 * 32))
    log(
        f"data ready in {time.perf_counter() - started:.1f} s: {len(splits.X_train)} train, "
        f"{len(splits.X_val)} validation, {len(splits.X_test)} test"
    )
    return splits, splits.X_train.reshape(-1, *CHW)


def build_batches(config, images, labels):
    """The training stream: translations and alternating flips of the images (as rows), or
    the rows themselves in shuffled epochs."""
    if config["augment"]:
        return AlternatingFlipBatches(
            images, labels, config["batch_size"], rng=config["seed"], pad=config["pad"], flat=True
        )
    rows = images.reshape(len(images), -1)
    return BatchIterator(rows, labels, config["batch_size"], rng=config["seed"], drop_last=True)


def whitening_weights(images, patch_size=2, eps=5e-4):
    """The filters of a patch-whitening conv (Page 2018, airbench): the eigenvectors v of the
    covariance Σ of the images' patch_size² patches (N, C, H, W images, all patches, not
    centred: the images are), each over √(λ + eps), and their negatives, largest eigenvalue
    first: (2·C·k², C, k, k). The conv with the first half maps patches to coordinates of
    covariance diag(λ / (λ + eps)) ≈ I; the negatives keep both signs through a GELU."""
    k = patch_size
    windows = np.lib.stride_tricks.sliding_window_view(images, (k, k), axis=(2, 3))
    patches = windows.transpose(0, 2, 3, 1, 4, 5).reshape(-1, images.shape[1] * k * k)
    covariance = (patches.T @ patches).astype(np.float64) / len(patches)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)  # ascending
    filters = eigenvectors.T[::-1] / np.sqrt(eigenvalues[::-1, None] + eps)
    filters = filters.reshape(-1, images.shape[1], k, k)
    return np.concatenate([filters, -filters]).astype(images.dtype)


# ----------------------------------------------------------------- models


class Scale(nn.Module):
    """y = factor·x (airbench's logit scale); dy/dx = factor."""

    def __init__(self, factor):
        self.factor = float(factor)

    def forward(self, x):
        return x * self.factor

    def extra_repr(self):
        return f"factor={self.factor:g}"


def plain_cnn(widths, num_classes=10):
    """conv3x3 -> ReLU -> max-pool 2, three times (32 -> 16 -> 8 -> 4 pixels), then a linear
    layer on the flattened 4x4 maps."""
    layers, channels = [nn.Unflatten(1, CHW)], CHW[0]
    for width in widths:
        layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        channels = width
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels * 4 * 4, num_classes))


def identity_conv(in_channels, out_channels, config):
    """A bias-free conv3x3 ('same' padding) whose first in_channels filters start as the
    identity (airbench: dirac_ on w[:in_channels]), the others as PyTorch's."""
    conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
    first = min(in_channels, out_channels)
    conv.weight.data[:first] = 0
    conv.weight.data[np.arange(first), np.arange(first), 1, 1] = 1
    return conv


def scale_free_norm(channels, config):
    """BatchNorm2d with its scale fixed at 1 (frozen) and its bias trained."""
    norm = nn.BatchNorm2d(channels, eps=config["bn_eps"], momentum=config["bn_momentum"])
    norm.weight.requires_grad = False
    return norm


def conv_group(in_channels, out_channels, config):
    """conv -> max-pool 2 -> BatchNorm -> GELU -> conv -> BatchNorm -> GELU."""
    return [
        identity_conv(in_channels, out_channels, config),
        nn.MaxPool2d(2),
        scale_free_norm(out_channels, config),
        nn.GELU(),
        identity_conv(out_channels, out_channels, config),
        scale_free_norm(out_channels, config),
        nn.GELU(),
    ]


def airbench_cnn(config, images, num_classes=10):
    """airbench94's net (see the module docstring); the whitening filters from `images`
    (NCHW): 32 -> 31 pixels (the 2x2 conv), -> 15 -> 7 -> 3 (the pools), then a max over
    the 3x3 maps."""
    whiten = nn.Conv2d(CHW[0], 2 * CHW[0] * 4, 2, padding=0, bias=True)
    sample = images[: config["whitening_images"]]
    whiten.weight.data[...] = whitening_weights(sample, 2, config["whitening_eps"])
    whiten.weight.requires_grad = False
    nn.init.zeros_(whiten.bias)
    layers, channels = [nn.Unflatten(1, CHW), whiten, nn.GELU()], whiten.out_channels
    for width in config["widths"]:
        layers += conv_group(channels, width, config)
        channels = width
    head = nn.Linear(channels, num_classes, bias=False)
    return nn.Sequential(*layers, nn.MaxPool2d(3), nn.Flatten(), head, Scale(config["logit_scale"]))


def first_conv(model):
    return next(m for m in model.modules() if isinstance(m, nn.Conv2d))


# ----------------------------------------------------------------- training


class TriangularLR(BudgetedOneCycleLR):
    """airbench's rate over the elapsed fraction f of training: from 0.2·max_lr up to max_lr
    over the first pct_start, then down to 0.07·max_lr at the end; it also sets a Lookahead's
    decay to base_decay·f³ (airbench's alpha schedule), if given one."""

    START, END = 0.2, 0.07

    def __init__(self, optimizer, max_lr, pct_start=0.23, lookahead=None, base_decay=0.0):
        self.lookahead, self.base_decay = lookahead, base_decay
        super().__init__(optimizer, max_lr, pct_start)

    def step(self, fraction=0.0):
        super().step(fraction)
        if self.lookahead is not None:
            self.lookahead.decay = self.base_decay * min(self.fraction, 1.0) ** 3

    def get_lr(self):
        f = min(self.fraction, 1.0)
        if f < self.pct_start:
            scale = self.START + (1 - self.START) * f / self.pct_start
        else:
            scale = 1 + (self.END - 1) * (f - self.pct_start) / (1 - self.pct_start)
        return [top * scale for top in self.max_lrs]


def parameter_groups(model, config):
    """Weights (conv and linear, ndim >= 2) with weight decay; biases without, except in the
    airbench net: there BatchNorm's biases go at bias_scaler x the rate, with the weight
    decay kept as strong (divided by the scaler), and the whitening bias with the weights."""
    lr, decay = config["lr"], config["weight_decay"]
    if config["model"] == "airbench":
        norms = [m.bias for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        ids = {id(p) for p in norms}
        rest = [p for p in model.parameters() if id(p) not in ids]
        scaler = config["bias_scaler"]
        return [
            {"params": norms, "lr": lr * scaler, "weight_decay": decay / scaler},
            {"params": rest, "lr": lr, "weight_decay": decay},
        ]
    weights = [p for p in model.parameters() if p.ndim >= 2]
    biases = [p for p in model.parameters() if p.ndim < 2]
    return [{"params": weights, "weight_decay": decay}, {"params": biases, "weight_decay": 0.0}]


def build_training(config, images):
    """The model, its optimizer (a Lookahead around Nesterov SGD for airbench) and the
    rate schedule (stepped with the elapsed fraction)."""
    if config["model"] == "airbench":
        model = airbench_cnn(config, images)
    else:
        model = plain_cnn(config["widths"])
    groups = parameter_groups(model, config)
    sgd = optim.SGD(groups, lr=config["lr"], momentum=config["momentum"], nesterov=True)
    peaks = [group["lr"] for group in sgd.param_groups]
    if config["model"] != "airbench":
        return model, sgd, BudgetedOneCycleLR(sgd, max_lr=peaks, pct_start=0.15)
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    statistics = [s for m in norms for s in (m.running_mean, m.running_var)]
    lookahead = optim.Lookahead(sgd, config["lookahead_every"], 0.0, buffers=statistics)
    schedule = TriangularLR(
        sgd, peaks, config["warmup"], lookahead, base_decay=config["lookahead_decay"]
    )
    return model, lookahead, schedule


def build_loss(config):
    if config["label_smoothing"]:
        return nn.CrossEntropyLoss(label_smoothing=config["label_smoothing"])
    return nn.SoftmaxCrossEntropy()


def train(config, splits, images, out, resume, progress, log=print):
    """Train through training.fit; returns the model, fit's FitHistory and the optimizer."""
    model, optimizer, schedule = build_training(config, images)
    batches = build_batches(config, images, splits.y_train)
    per_epoch = len(batches)
    budget = f", time budget {config['time_budget']:g} s" if config["time_budget"] else ""
    log(f"{model}\n{config['epochs'] or 'no'} epochs of {per_epoch} steps{budget}")
    validate = len(splits.X_val) > 0
    result = fit(
        model,
        build_loss(config),
        optimizer,
        batches,
        epochs=config["epochs"],
        max_steps=config["epochs"] and config["epochs"] * per_epoch,
        steps_per_epoch=per_epoch,
        time_budget=config["time_budget"],
        batch_size=1000,  # for measuring
        val_data=(splits.X_val, splits.y_val) if validate else None,
        metrics={"acc": accuracy},
        monitor="val_acc",
        restore_best=False,  # the last weights (a Lookahead's average) are the result
        scheduler=schedule,
        scheduler_step="fraction",
        checkpoint=os.path.join(out, "checkpoint.pkl"),
        checkpoint_every=config["checkpoint_every"],
        resume=resume,
        extra_state={"config": config},
        progress=progress,
    )
    if isinstance(optimizer, optim.Lookahead) and result.stopped != "interrupted":
        optimizer.update_parameters(1.0)  # the weights become the average (airbench's end)
    return model, result


def measure(config, model, splits):
    """Validation accuracy (if any) and test accuracy (all 10,000 and the first 1,000); with
    tta, the test accuracy from the mean softmax over each image and its mirror, apart."""
    X, y = splits.X_test, splits.y_test
    plain = scores(model, X)
    metrics = {
        "val_acc": None,
        **shared.accuracy_record(plain.argmax(1) == y),
        "test_acc_tta": None,
    }
    if len(splits.X_val):
        metrics["val_acc"] = float((scores(model, splits.X_val).argmax(1) == splits.y_val).mean())
    if config["tta"]:
        mirrored = np.ascontiguousarray(X.reshape(-1, *CHW)[..., ::-1]).reshape(len(X), -1)
        both = plain + scores(model, mirrored)
        metrics["test_acc_tta"] = float((both.argmax(1) == y).mean())
    return metrics


def run(config, data_dir=None, out="runs/cifar_cnn", resume=False, progress=True, log=print):
    """Train one configuration; returns the metrics dict also written to out/metrics.json."""
    started = time.perf_counter()
    splits, images = prepare_data(config, data_dir, log)
    load_seconds = time.perf_counter() - started
    model, result = train(config, splits, images, out, resume, progress, log)
    tick = time.perf_counter()
    measured = measure(config, model, splits)
    metrics = shared.run_metrics(config, data_dir, measured, result, load_seconds, tick)
    write_report(config, model, metrics, out)
    metrics["wall_seconds"] = time.perf_counter() - started
    shared.write_metrics(out, metrics)
    return metrics


def write_report(config, model, metrics, out):
    """metrics.json (first without the figures' time), curves.png and filters.png."""
    shared.write_metrics(out, metrics)
    tick = time.perf_counter()
    # imported only now: matplotlib takes seconds to load, which a failed run need not wait
    from tinygrad_hlcv.training.plots import plot_training, plot_weight_grid

    title = f"{config['preset']}: widths {config['widths']}, batch {config['batch_size']}"
    plot_training(metrics["history"], os.path.join(out, "curves.png"), title=title)
    weight = first_conv(model).weight.data  # (out, in, kh, kw) -> one column per filter
    columns = weight.transpose(2, 3, 1, 0).reshape(-1, weight.shape[0])
    plot_weight_grid(
        columns, os.path.join(out, "filters.png"), image_shape=weight.shape[2:] + weight.shape[1:2]
    )
    metrics["seconds"]["figures"] = time.perf_counter() - tick


def main(argv=None):
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    try:
        metrics = run(config, args.data_dir, args.out, args.resume, not args.no_progress)
    except (tg.errors.TinygradError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    shared.print_report(metrics, args.out, "curves.png, filters.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
