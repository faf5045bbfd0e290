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
"""

import argparse
import os
import sys
import tempfile
import time

from _common import REPO, fmt_table, machine_info, pin_threads, write_json_atomic

sys.path.insert(0, str(REPO / "examples"))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--data-dir",
        help="CIFAR-10 python batches (default: $CIFAR10_DIR, else the cache, else download)",
    )
    p.add_argument(
        "--preset",
        default="best_two_layer",
        help="a configuration of examples/cifar_mlp.py (default: its default)",
    )
    p.add_argument("--target", type=float, default=0.5, help="validation accuracy to reach")
    p.add_argument(
        "--eval-every", type=int, default=25, help="iterations between validation checks"
    )
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument(
        "--cold-cache",
        action="store_true",
        help="compile every kernel into a new, empty NUMBA_CACHE_DIR",
    )
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    if not 0 < args.target <= 1:
        p.error(f"--target is an accuracy in (0, 1], got {args.target}")
    if args.eval_every < 1:
        p.error(f"--eval-every must be >= 1, got {args.eval_every}")
    return args


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


def main(argv=None):
    args = parse_args(argv)
    how, _limiter = pin_threads(args.threads)
    cache_dir = None
    if args.cold_cache:  # before Numba is imported: its cache locator reads the variable
        cache_dir = tempfile.TemporaryDirectory(prefix="numba-cache-")
        os.environ["NUMBA_CACHE_DIR"] = cache_dir.name
    started = time.perf_counter()
    import tinygrad_hlcv as tg  # with NumPy and Numba

    import_s = time.perf_counter() - started
    import cifar_mlp  # the example, with matplotlib for its plots (not timed)

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
    if cache_dir is not None:
        cache_dir.cleanup()
    return 0 if all(r["reached"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
