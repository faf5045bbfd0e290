"""Time to accuracy: wall time for a CIFAR-10 configuration to reach a validation accuracy.

The run is exactly `examples/cifar_mlp.py`'s (default: best_two_layer, 3072-100-10
ReLU, SGD, the same seed, split, batches and schedule), trained with the same
`train.Trainer` step, so its curve is the one `make train` draws. The validation
accuracy (1,000 images) is checked every --eval-every iterations and at each
epoch's end; the run stops the first time it reaches --target. Timed apart:

  import    `import tinygrad_hlcv` (with NumPy and Numba), once per process; the
            example's own imports (matplotlib, for its plots) are not counted
  data      loading and preprocessing CIFAR-10
  compile   one training step and one evaluation of a throwaway model of the same
            shape, in which Numba compiles the kernels (--cold-cache: into an empty
            NUMBA_CACHE_DIR) or loads them from its cache; the random state is
            restored afterwards, so the timed run is unchanged
  train     the training steps up to the one after which the target was reached
  eval      the accuracy checks and epoch ends (not counted in `train`)

    python benchmarks/time_to_accuracy.py [--data-dir DIR] [--target 0.5]
        [--seeds 0 1 2] [--cold-cache] [--preset NAME] [--json PATH]

--recipe frontier: issue 13's race. examples/cifar_mlp.py's 'frontier' recipe
(3072-1024-1024-10, bias-free Linear -> BatchNorm1d -> ReLU, per-channel normalisation,
flips and 4-pixel crops, Nesterov SGD with weight decay on the weight matrices, the
budgeted one-cycle rate, label smoothing 0.1, batch 256, all 50,000 training images)
trained in tinygrad_hlcv and in PyTorch one after the other in this process, on the
same terms:

  data      the very same batches: each side draws them from its own
            data.BatchIterator with the same seed (our Numba flip/crop kernel), and
            PyTorch gets the NumPy arrays through torch.from_numpy
  init      PyTorch's model is a copy of our initial weights
  schedule  before each step lr = BudgetedOneCycleLR's rate at the fraction
            (training seconds so far + the last step's) / --time-budget, as fit does
  threads   --threads for both: BLAS/OpenMP/Numba pinned before import, and
            torch.set_num_threads
  clock     only the training steps (drawing the batch, forward, backward, update);
            each side trains for --time-budget seconds; the test accuracy (all 10,000
            images) is measured after every epoch and at the end with the clock stopped,
            so the time to reach 60%/65% is known to one epoch's resolution
  warm-up   one step and one evaluation of a throwaway model per side (Numba's
            kernels loaded or compiled, PyTorch's first calls), not counted

Before the race (both frameworks), `check_parity` runs a few steps of both from the same
init on the same batches at a constant rate and stops if losses or weights differ
beyond float32 rounding; --check-parity runs only that check.

    python benchmarks/time_to_accuracy.py --recipe frontier [--time-budget 570]
        [--frameworks tinygrad_hlcv torch] [--order torch-first] [--threads N]
        [--data-dir DIR] [--json PATH] [--check-parity]
"""

import argparse
import os
import sys
import tempfile
import time

from _common import REPO, fmt_table, machine_info, pin_threads, write_json_atomic

sys.path.insert(0, str(REPO / "examples"))


FRAMEWORKS = ("tinygrad_hlcv", "torch")
FRONTIER_TARGETS = (0.60, 0.65)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--data-dir",
        help="CIFAR-10 python batches (default: $CIFAR10_DIR, else the cache, else download; "
        "with --recipe frontier never a download)",
    )
    p.add_argument(
        "--preset",
        default="best_two_layer",
        help="a configuration of examples/cifar_mlp.py (default: its default)",
    )
    p.add_argument(
        "--target",
        type=float,
        help="validation accuracy to reach (default 0.5); with --recipe frontier a test "
        "accuracy to time besides 0.60 and 0.65",
    )
    p.add_argument(
        "--eval-every", type=int, help="iterations between validation checks (default 25)"
    )
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument(
        "--cold-cache",
        action="store_true",
        help="compile every kernel into a new, empty NUMBA_CACHE_DIR",
    )
    p.add_argument("--json", metavar="PATH")
    add_frontier_args(p)
    args = p.parse_args(argv)
    check_args(p, args)
    return args


def add_frontier_args(p):
    """The options of --recipe frontier (the race against PyTorch)."""
    p.add_argument(
        "--recipe", choices=["frontier"], help="race the recipe against PyTorch (see above)"
    )
    p.add_argument(
        "--time-budget", type=float, help="seconds of training steps per framework (default 570)"
    )
    p.add_argument(
        "--frameworks", nargs="+", choices=FRAMEWORKS, default=list(FRAMEWORKS), metavar="NAME"
    )
    p.add_argument("--order", choices=["ours-first", "torch-first"], default="ours-first")
    p.add_argument(
        "--hidden", type=int, nargs="+", help="hidden sizes instead of the recipe's (smoke tests)"
    )
    p.add_argument(
        "--check-parity",
        action="store_true",
        help="only check that both frameworks take the same steps, then exit",
    )


def check_args(p, args):
    """Usage errors, and each mode's defaults."""
    if args.target is not None and not 0 < args.target <= 1:
        p.error(f"--target is an accuracy in (0, 1], got {args.target}")
    if args.eval_every is not None and args.eval_every < 1:
        p.error(f"--eval-every must be >= 1, got {args.eval_every}")
    if args.threads < 1:
        p.error(f"--threads must be >= 1, got {args.threads}")
    if args.recipe is None:
        for name in ("time_budget", "hidden"):
            if getattr(args, name) is not None:
                p.error(f"--{name.replace('_', '-')} goes with --recipe frontier")
        if args.check_parity:
            p.error("--check-parity goes with --recipe frontier")
        args.target = 0.5 if args.target is None else args.target
        args.eval_every = 25 if args.eval_every is None else args.eval_every
        return
    if args.eval_every is not None:
        p.error("--recipe frontier measures the test accuracy after every epoch: no --eval-every")
    if len(args.seeds) != 1:
        p.error(f"--recipe frontier runs one seed, got --seeds {args.seeds}")
    if args.time_budget is not None and not 0 < args.time_budget < float("inf"):
        p.error(f"--time-budget is a number of seconds > 0, got {args.time_budget}")
    if args.hidden is not None and min(args.hidden) < 1:
        p.error(f"--hidden sizes must be >= 1, got {args.hidden}")
    args.frameworks = [name for name in FRAMEWORKS if name in args.frameworks]


def warm_up(cifar_mlp, config, in_features, loss_fn):
    """One step and one evaluation of a throwaway model: compiles or loads the kernels.
    Leaves the framework's random state as it found it."""
    import numpy as np

    from tinygrad_hlcv.random import default_generator
    from tinygrad_hlcv.training import Trainer, evaluate

    state = default_generator().bit_generator.state
    started = time.perf_counter()
    X = np.zeros((config["batch_size"], in_features), np.float32)
    y = np.arange(config["batch_size"]) % 10
    model, optimizer, _ = cifar_mlp.build_training(config, in_features, 1, 1)
    Trainer(model, loss_fn, optimizer, _FixedBatch(X, y), reg=config["reg"]).step()
    evaluate(model, X, y)
    default_generator().bit_generator.state = state
    return time.perf_counter() - started


class _FixedBatch:
    """A batch source that always returns the same batch (for the warm-up step)."""

    def __init__(self, X, y):
        self.batch = (X, y)

    def next_batch(self):
        return self.batch

    def __len__(self):
        return 1


def time_one_seed(cifar_mlp, config, args):
    from tinygrad_hlcv import nn
    from tinygrad_hlcv.training import Trainer, evaluate

    started = time.perf_counter()
    splits, X_train, batches, iterations, per_epoch = cifar_mlp.prepare_data(
        config, args.data_dir, log=lambda message: None
    )
    data_s = time.perf_counter() - started
    loss_fn = nn.SoftmaxCrossEntropy()
    compile_s = warm_up(cifar_mlp, config, splits.X_train.shape[1], loss_fn)
    model, optimizer, schedule = cifar_mlp.build_training(
        config, splits.X_train.shape[1], iterations, per_epoch
    )
    trainer = Trainer(
        model,
        loss_fn,
        optimizer,
        batches,
        reg=config["reg"],
        schedule=schedule,
        iterations_per_epoch=per_epoch,
    )
    train_s = eval_s = 0.0
    accuracy, best = None, 0.0
    model.train()
    while trainer.iteration < iterations:
        tick = time.perf_counter()
        trainer.step()
        tock = time.perf_counter()
        train_s += tock - tick
        if trainer.iteration % per_epoch == 0:
            trainer.end_epoch(X_train, splits.y_train, splits.X_val, splits.y_val)
            accuracy = trainer.history.val_acc[-1]
            model.train()
        elif trainer.iteration % args.eval_every == 0 or trainer.iteration == iterations:
            accuracy = evaluate(model, splits.X_val, splits.y_val)
            model.train()
        eval_s += time.perf_counter() - tock
        best = max(best, accuracy or 0.0)
        if accuracy is not None and accuracy >= args.target:
            break
    reached = accuracy is not None and accuracy >= args.target
    return {
        "seed": config["seed"],
        "reached": reached,
        "val_acc": accuracy,
        "best_val_acc": best,
        "iterations": trainer.iteration,
        "epochs": trainer.iteration / per_epoch,
        "data_s": data_s,
        "compile_s": compile_s,
        "train_s": train_s,
        "eval_s": eval_s,
        "ms_per_step": 1000 * train_s / trainer.iteration,
        "total_s": data_s + compile_s + train_s + eval_s,
    }


# ------------------------------------------------------------------ --recipe frontier


def one_cycle_lr(fraction, max_lr, pct_start):
    """lr_scheduler.BudgetedOneCycleLR's rate at `fraction` of training elapsed: a linear
    warm-up from 0 over the first pct_start, then a linear decay to 0 at fraction 1."""
    f = min(fraction, 1.0)
    scale = f / pct_start if f < pct_start else (1.0 - f) / (1.0 - pct_start)
    return max_lr * scale


RECIPE_KEYS = (
    "hidden",
    "lr",
    "momentum",
    "weight_decay",
    "label_smoothing",
    "batch_size",
    "normalize",
    "zca_eps",
)
# what the race mirrors in PyTorch; a preset that changes any of these is refused, not raced
RECIPE_FIXED = dict(
    activation="relu",
    dropout=0.0,
    init_std=None,  # with init "std": PyTorch's default initialisation
    init="std",
    batchnorm=True,
    optimizer="nesterov",
    schedule="onecycle",
    augment=True,
    replacement=False,
    reg=0.0,
    num_train=50000,
    num_val=0,
)
PCT_START = 0.15  # examples/cifar_mlp.build_training's warm-up fraction


def frontier_recipe(hidden=None, time_budget=None, seed=0):
    """The hyperparameters of examples/cifar_mlp.py's 'frontier' preset that the race uses.
    SystemExit if the preset has become something the PyTorch side does not mirror."""
    import cifar_mlp

    preset = dict(cifar_mlp.DEFAULTS, **cifar_mlp.PRESETS["frontier"])
    changed = {k: preset.get(k) for k, v in RECIPE_FIXED.items() if preset.get(k) != v}
    if preset["normalize"] not in ("channel", "zca"):
        changed["normalize"] = preset["normalize"]
    if changed:
        raise SystemExit(
            f"error: the 'frontier' preset now has {changed}; the race mirrors "
            f"{RECIPE_FIXED} in PyTorch: update benchmarks/time_to_accuracy.py first"
        )
    recipe = {key: preset[key] for key in RECIPE_KEYS}
    recipe.update(pct_start=PCT_START, time_budget=preset["time_budget"], seed=seed)
    if hidden is not None:
        recipe["hidden"] = list(hidden)
    if time_budget is not None:
        recipe["time_budget"] = time_budget
    return recipe


def load_frontier_data(data_dir, recipe):
    """All 50,000 training and 10,000 test images, normalised per channel (and ZCA-whitened
    if the recipe is), NHWC float32: from --data-dir, else $CIFAR10_DIR, else the cache;
    never downloaded."""
    from types import SimpleNamespace

    import numpy as np

    from tinygrad_hlcv.data import load_cifar10
    from tinygrad_hlcv.training.report import normalize_channels, zca_whiten

    data = load_cifar10(data_dir, download=False)
    train, test = (x.reshape(len(x), -1).astype(np.float32) for x in (data.X_train, data.X_test))
    normalize_channels(SimpleNamespace(X_train=train, X_val=test[:0], X_test=test))  # in place
    X_train, X_test = train.reshape(data.X_train.shape), test.reshape(data.X_test.shape)
    if recipe["normalize"] == "zca":
        X_train, X_test = zca_whiten(X_train, X_test, eps=recipe["zca_eps"])
    return X_train, data.y_train, X_test, data.y_test


def frontier_model(hidden, in_features, num_classes=10):
    """Flatten, then bias-free Linear -> BatchNorm1d -> ReLU per hidden layer, then Linear:
    examples/cifar_mlp.build_model's 'frontier' net (PyTorch's default initialisation)."""
    from tinygrad_hlcv import nn

    sizes, layers = [in_features, *hidden], [nn.Flatten()]
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(fan_in, fan_out, bias=False), nn.BatchNorm1d(fan_out), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(sizes[-1], num_classes))


class OurSide:
    """tinygrad_hlcv's half of the race: the recipe's model, SGD (Nesterov) with weight
    decay on the weight matrices only, BudgetedOneCycleLR and label-smoothed
    cross-entropy, as examples/cifar_mlp.py builds them; a step is fit's."""

    name = "tinygrad_hlcv"

    def __init__(self, recipe, in_features, num_classes=10):
        from tinygrad_hlcv import nn, optim
        from tinygrad_hlcv.optim.lr_scheduler import BudgetedOneCycleLR

        self.model = frontier_model(recipe["hidden"], in_features, num_classes)
        params = list(self.model.parameters())
        groups = [
            {"params": [p for p in params if p.ndim == 2], "weight_decay": recipe["weight_decay"]},
            {"params": [p for p in params if p.ndim != 2], "weight_decay": 0.0},
        ]
        self.optimizer = optim.SGD(
            groups, lr=recipe["lr"], momentum=recipe["momentum"], nesterov=True
        )
        self.scheduler = BudgetedOneCycleLR(
            self.optimizer, max_lr=recipe["lr"], pct_start=recipe["pct_start"]
        )
        self.loss_fn = nn.CrossEntropyLoss(label_smoothing=recipe["label_smoothing"])

    def set_lr(self, lr):
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def schedule(self, fraction, one_cycle_lr):
        """The rate of `fraction` of the budget elapsed (`one_cycle_lr` is PyTorch's side's)."""
        self.scheduler.step(fraction)

    def step(self, x, y):
        """One training step on the NumPy batch (x, y); the loss."""
        from tinygrad_hlcv import from_numpy

        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model(from_numpy(x)), y)
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def accuracy(self, X, y):
        from tinygrad_hlcv.training import evaluate

        return evaluate(self.model, X, y)

    def state(self):
        """The model's state as NumPy arrays (PyTorch's state_dict keys, our layout)."""
        import numpy as np

        return {key: np.array(value) for key, value in self.model.state_dict().items()}


def build_sides(recipe, frameworks, in_features, threads):
    """The racers, from one initial state: ours seeded with the recipe's seed, PyTorch's a
    copy of it (built before either trains)."""
    import tinygrad_hlcv as tg

    tg.manual_seed(recipe["seed"])
    ours = OurSide(recipe, in_features)
    sides = {"tinygrad_hlcv": ours}
    if "torch" in frameworks:
        import frontier_torch

        sides["torch"] = frontier_torch.TorchSide(ours.model, recipe, threads)
    return {name: sides[name] for name in frameworks}


def race(side, batches, budget, test, log=print):
    """Train `side` for `budget` seconds of training steps, one epoch = len(batches)
    steps; after each epoch, and when the budget runs out mid-epoch, its accuracy on
    `test` with the clock stopped. Returns one record per epoch."""
    from types import SimpleNamespace

    clock = SimpleNamespace(train_s=0.0, last=0.0)
    epochs = []
    while clock.train_s < budget:
        steps, seconds, loss = train_epoch(side, batches, budget, clock, len(epochs) + 1)
        record = dict(
            epoch=len(epochs) + 1,
            steps=steps,
            complete=steps == len(batches),
            seconds=seconds,
            train_s=clock.train_s,
            loss=loss,
            test_acc=side.accuracy(*test),
        )
        epochs.append(record)
        log(
            f"{side.name} epoch {record['epoch']}: {seconds:.2f} s ({steps} steps), "
            f"{clock.train_s:.1f} s in all, loss {loss:.3f}, test acc {record['test_acc']:.4f}"
        )
    return epochs


def train_epoch(side, batches, budget, clock, epoch):
    """One epoch's steps, fewer if the budget runs out: (steps, seconds, mean loss). A step
    (timed: drawing the batch, forward, backward, update) runs at the rate of the fraction
    (seconds so far + the last step's) / budget, as fit's scheduler_step='fraction'."""
    import math

    steps, seconds, loss_sum = 0, 0.0, 0.0
    while steps < len(batches) and clock.train_s < budget:
        side.schedule((clock.train_s + clock.last) / budget, one_cycle_lr)
        started = time.perf_counter()
        x, y = batches.next_batch()
        loss = side.step(x, y)
        clock.last = time.perf_counter() - started
        clock.train_s += clock.last
        steps, seconds, loss_sum = steps + 1, seconds + clock.last, loss_sum + loss
        if not math.isfinite(loss):
            raise SystemExit(f"error: {side.name}'s loss became {loss} in epoch {epoch}")
    return steps, seconds, loss_sum / steps


def first_reaching(epochs, target):
    """The training seconds at the end of the first epoch whose test accuracy reached
    `target`, or None."""
    return next((e["train_s"] for e in epochs if e["test_acc"] >= target), None)


def summarize(epochs, targets, warm_up_s):
    """A side's figures: per-epoch time (median and mean over complete epochs), the
    first epoch's, accuracies, and the time to each target."""
    import statistics

    complete = [e["seconds"] for e in epochs if e["complete"]]
    return {
        "epochs": len(epochs),
        "complete_epochs": len(complete),
        "steps": sum(e["steps"] for e in epochs),
        "train_s": epochs[-1]["train_s"],
        "ms_per_step": 1000 * epochs[-1]["train_s"] / sum(e["steps"] for e in epochs),
        "epoch_s_median": statistics.median(complete) if complete else None,
        "epoch_s_mean": statistics.fmean(complete) if complete else None,
        "first_epoch_s": complete[0] if complete else None,
        "final_test_acc": epochs[-1]["test_acc"],
        "best_test_acc": max(e["test_acc"] for e in epochs),
        "time_to": {f"{t:g}": first_reaching(epochs, t) for t in targets},
        "warm_up_s": warm_up_s,
        "per_epoch": epochs,
    }


def warm_up_side(name, recipe, X, y, threads):
    """One step and one evaluation of a throwaway model of `name`'s side on a flipped and
    cropped batch: Numba's kernels (the flip/crop one too) loaded or compiled, PyTorch's
    first calls made. Leaves the framework's random state as it found it."""
    from tinygrad_hlcv.data import BatchIterator
    from tinygrad_hlcv.random import default_generator

    state = default_generator().bit_generator.state
    started = time.perf_counter()
    side = build_sides(dict(recipe, seed=12345), [name], X[0].size, threads)[name]
    x, yb = BatchIterator(X, y, recipe["batch_size"], rng=12345, augment=True).next_batch()
    side.set_lr(recipe["lr"])
    side.step(x, yb)
    side.accuracy(x, yb)
    default_generator().bit_generator.state = state
    return time.perf_counter() - started


PARITY_RTOL, PARITY_ATOL = 1e-4, 1e-5  # float32 rounding, summed over a few steps


def check_parity(X, y, recipe, steps=5, lr=0.05, threads=None):
    """Do both frameworks take the same steps? From the same init, on the same batches
    (flipped and cropped if X holds images), at a constant rate `lr`: each step's loss, and
    at the end every weight and BatchNorm statistic, must agree to float32 tolerance; and
    both sides' schedules must give BudgetedOneCycleLR's rate. Returns a report ('ok')."""
    import numpy as np

    from tinygrad_hlcv.data import BatchIterator

    sides = build_sides(recipe, FRAMEWORKS, X[0].size, threads)
    fractions = np.linspace(0, 1.2, 25)
    schedule_diff = max(schedule_gap(s, f, recipe) for s in sides.values() for f in fractions)
    batches = BatchIterator(X, y, recipe["batch_size"], rng=recipe["seed"], augment=X.ndim == 4)
    for side in sides.values():
        side.set_lr(lr)
    losses = []
    for _ in range(steps):
        x, yb = batches.next_batch()
        losses.append([side.step(x, yb) for side in sides.values()])
    ours, theirs = (side.state() for side in sides.values())
    keys = sorted(ours.keys() | theirs.keys())
    state_diff = {key: close_gap(ours.get(key), theirs.get(key)) for key in keys}
    loss_diff = max(close_gap(np.float64(a), np.float64(b)) for a, b in losses)
    return {
        "steps": steps,
        "lr": lr,
        "losses": losses,
        "loss_gap": loss_diff,
        "state_gap": state_diff,
        "schedule_diff": schedule_diff,
        "ok": all(gap <= 1 for gap in [loss_diff, *state_diff.values()])
        and schedule_diff <= 1e-12,  # (written so that a NaN gap fails)
    }


def schedule_gap(side, fraction, recipe):
    """|side's rate at `fraction` − the one-cycle formula's|, the largest over its groups
    (for ours: BudgetedOneCycleLR against one_cycle_lr, which PyTorch's side uses)."""
    side.schedule(fraction, one_cycle_lr)
    expected = one_cycle_lr(fraction, recipe["lr"], recipe["pct_start"])
    return max(abs(group["lr"] - expected) for group in side.optimizer.param_groups)


def close_gap(ours, theirs):
    """max |ours − theirs| / (atol + rtol·|theirs|): at most 1 when np.allclose(ours,
    theirs, rtol, atol) holds; inf when either is missing or the shapes differ."""
    import numpy as np

    if ours is None or theirs is None or np.shape(ours) != np.shape(theirs):
        return float("inf")
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    if ours.size == 0:
        return 0.0
    return float(np.max(np.abs(ours - theirs) / (PARITY_ATOL + PARITY_RTOL * np.abs(theirs))))


def ratio(ours, theirs):
    return f"{ours / theirs:.2f}x" if ours is not None and theirs else "-"


def seconds_or(value, missing="not reached", digits=1):
    return missing if value is None else f"{value:.{digits}f}"


def frontier_table(results, targets):
    """Both frameworks' figures side by side, and ours / PyTorch's when both ran."""
    header = ["framework", "epochs", "steps", "ms/step", "s/epoch (median)", "epoch 1 s"]
    header += ["final acc", "best acc", *[f"s to {t:.0%}" for t in targets], "warm-up s"]
    rows = []
    for name, r in results.items():
        times = [seconds_or(r["time_to"][f"{t:g}"]) for t in targets]
        rows.append(
            [name, r["epochs"], r["steps"], f"{r['ms_per_step']:.1f}"]
            + [seconds_or(r["epoch_s_median"], "-", 2)]
            + [seconds_or(r["first_epoch_s"], "-", 2), f"{r['final_test_acc']:.4f}"]
            + [f"{r['best_test_acc']:.4f}", *times, f"{r['warm_up_s']:.1f}"]
        )
    if len(results) == 2:
        ours, theirs = results["tinygrad_hlcv"], results["torch"]
        times = [ratio(ours["time_to"][f"{t:g}"], theirs["time_to"][f"{t:g}"]) for t in targets]
        rows.append(
            ["ours / torch", "", "", ratio(ours["ms_per_step"], theirs["ms_per_step"])]
            + [ratio(ours["epoch_s_median"], theirs["epoch_s_median"])]
            + [ratio(ours["first_epoch_s"], theirs["first_epoch_s"]), "", "", *times, ""]
        )
    return fmt_table(header, rows)


def frontier_ratios(results, targets):
    """ours / PyTorch's per-epoch time (median over complete epochs) and time to each
    target (None where either side did not reach it), for the JSON."""
    if len(results) != 2:
        return None
    ours, theirs = results["tinygrad_hlcv"], results["torch"]

    def divide(a, b):
        return a / b if a is not None and b else None

    return {
        "ms_per_step": divide(ours["ms_per_step"], theirs["ms_per_step"]),
        "epoch_s_median": divide(ours["epoch_s_median"], theirs["epoch_s_median"]),
        "first_epoch_s": divide(ours["first_epoch_s"], theirs["first_epoch_s"]),
        **{
            f"time_to_{t:g}": divide(ours["time_to"][f"{t:g}"], theirs["time_to"][f"{t:g}"])
            for t in targets
        },
    }


def print_parity(report):
    worst = max(report["state_gap"], key=lambda key: report["state_gap"][key])
    print(
        f"parity ({report['steps']} steps at lr {report['lr']:g}, same init and batches): "
        f"{'OK' if report['ok'] else 'MISMATCH'}; largest gap / tolerance "
        f"(rtol {PARITY_RTOL:g}, atol {PARITY_ATOL:g}): losses {report['loss_gap']:.3g}, "
        f"state {report['state_gap'][worst]:.3g} ({worst}); schedule "
        f"{report['schedule_diff']:.2g}",
        flush=True,
    )


def run_frontier(args, how, import_s):
    """--recipe frontier: the parity check, then the race, the table and the JSON."""
    from tinygrad_hlcv.errors import TinygradError

    recipe = frontier_recipe(args.hidden, args.time_budget, args.seeds[0])
    targets = sorted({*FRONTIER_TARGETS, *([args.target] if args.target else [])})
    started = time.perf_counter()
    try:
        X_train, y_train, X_test, y_test = load_frontier_data(args.data_dir, recipe)
    except (TinygradError, OSError) as err:
        raise SystemExit(f"error: {err}") from None
    data_s = time.perf_counter() - started
    parity = None
    if args.check_parity or len(args.frameworks) == 2:
        subset = slice(0, 4 * recipe["batch_size"])
        parity = check_parity(X_train[subset], y_train[subset], recipe, threads=args.threads)
        print_parity(parity)
        if args.check_parity or not parity["ok"]:
            return 0 if parity["ok"] else 1
    machine = machine_info(args.threads, how)
    sides = build_sides(recipe, args.frameworks, X_train[0].size, args.threads)
    results = race_all(sides, recipe, (X_train, y_train), (X_test, y_test), targets, args)
    print(
        f"\nfrontier recipe, {len(X_train)} training images, {recipe['time_budget']:g} s "
        f"budget, {args.threads} threads, load average at start "
        f"{machine['load_average_at_start'][0]:.1f}; test accuracy on {len(X_test)} images "
        f"after each epoch (times to a target are to one epoch's resolution)\n"
    )
    print(frontier_table(results, targets))
    if args.json:
        seconds = {"import_s": import_s, "data_s": data_s}
        write_json_atomic(
            args.json, frontier_report(args, machine, recipe, targets, results, parity, seconds)
        )
    return 0


def frontier_report(args, machine, recipe, targets, results, parity, seconds):
    """What --json writes: the machine, the recipe, the parity check, each framework's
    figures (per epoch too) and the ratios."""
    return {
        "machine": machine,
        "torch": torch_info(args.frameworks),
        "recipe": recipe,
        "data_dir": args.data_dir or os.environ.get("CIFAR10_DIR", "(cache)"),
        "targets": targets,
        "resolution": "test accuracy after each epoch and at the end",
        "order": list(results),
        **seconds,
        "parity": parity,
        "results": results,
        "ratios_ours_over_torch": frontier_ratios(results, targets),
    }


def race_all(sides, recipe, train, test, targets, args):
    """Each side's warm-up and race, in --order, each on its own BatchIterator with the
    recipe's seed (so both see the same batches); their summaries in the order run."""
    from tinygrad_hlcv.data import BatchIterator

    order = list(sides)[:: -1 if args.order == "torch-first" else 1]
    results = {}
    for name in order:
        warm_up_s = warm_up_side(name, recipe, *train, args.threads)
        batches = BatchIterator(*train, recipe["batch_size"], rng=recipe["seed"], augment=True)
        epochs = race(sides[name], batches, recipe["time_budget"], test)
        results[name] = summarize(epochs, targets, warm_up_s)
    return results


def torch_info(frameworks):
    """PyTorch's version and threads, for the JSON (None when it did not run)."""
    if "torch" not in frameworks:
        return None
    import torch

    return {
        "version": torch.__version__,
        "num_threads": torch.get_num_threads(),
        "parallel_info": torch.__config__.parallel_info(),
    }


def main(argv=None):
    args = parse_args(argv)
    how, _limiter = pin_threads(args.threads)
    cache_dir = None
    if args.cold_cache:  # before Numba is imported: its cache locator reads the variable
        cache_dir = tempfile.TemporaryDirectory(prefix="numba-cache-")
        os.environ["NUMBA_CACHE_DIR"] = cache_dir.name
    started = time.perf_counter()
    import tinygrad_hlcv  # noqa: F401  (timed: with NumPy and Numba)

    import_s = time.perf_counter() - started
    try:
        if args.recipe == "frontier":
            return run_frontier(args, how, import_s)
        return time_preset(args, how, import_s)
    finally:
        if cache_dir is not None:
            cache_dir.cleanup()


def time_preset(args, how, import_s):
    """The original mode: time one preset of examples/cifar_mlp.py to --target, per seed."""
    import cifar_mlp  # the example, with matplotlib for its plots (not timed)

    import tinygrad_hlcv as tg

    if args.preset not in cifar_mlp.PRESETS:
        raise SystemExit(
            f"error: unknown --preset {args.preset!r}; "
            f"choose from {', '.join(sorted(cifar_mlp.PRESETS))}"
        )
    machine = machine_info(args.threads, how)
    rows, results = [], []
    for seed in args.seeds:
        config = dict(cifar_mlp.DEFAULTS, **cifar_mlp.PRESETS[args.preset], seed=seed)
        try:
            result = time_one_seed(cifar_mlp, config, args)
        except (tg.errors.TinygradError, FileNotFoundError, ValueError) as err:
            raise SystemExit(f"error: {err}") from None
        results.append(result)
        rows.append(
            [
                seed,
                f"{result['val_acc']:.3f}" + ("" if result["reached"] else " (not reached)"),
                result["iterations"],
                f"{result['epochs']:.2f}",
                f"{result['train_s']:.1f}",
                f"{result['ms_per_step']:.2f}",
                f"{result['compile_s']:.2f}",
                f"{result['data_s']:.1f}",
                f"{result['eval_s']:.2f}",
                f"{result['total_s']:.1f}",
            ]
        )
        print(
            f"seed {seed}: {'reached' if result['reached'] else 'did not reach'} "
            f"{args.target:.0%} after {result['iterations']} iterations, "
            f"{result['train_s']:.1f} s of training",
            flush=True,
        )
    print(
        f"\n{args.preset}, target {args.target:.0%} validation accuracy, "
        f"{'cold' if args.cold_cache else 'warm'} Numba cache, {args.threads} threads, "
        f"load average {machine['load_average_at_start'][0]:.1f}; "
        f"import took {import_s:.2f} s\n"
    )
    print(
        fmt_table(
            [
                "seed",
                "val acc",
                "iterations",
                "epochs",
                "train s",
                "ms/step",
                "compile s",
                "data s",
                "eval s",
                "total s",
            ],
            rows,
        )
    )
    if args.json:
        write_json_atomic(
            args.json,
            {
                "machine": machine,
                "preset": args.preset,
                "target": args.target,
                "cold_cache": args.cold_cache,
                "eval_every": args.eval_every,
                "import_s": import_s,
                "runs": results,
            },
        )
    return 0 if all(r["reached"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
