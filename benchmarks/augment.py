"""Flip/crop augmentation: the Numba kernel against its NumPy twin and the fancy-indexing
version it replaced, and whether preparing the next batch in a background thread pays.

1. One (256, 32, 32, 3) batch (the frontier recipe's batch 256), uint8 and float32: the
   median time per call of the kernel (`augment.numba_kernels.flip_crop`), its twin, and
   the old `augment_batch` (np.pad + fancy indexing), each on the same draws; then the
   whole batch as BatchIterator makes it from a --source-images source (indices drawn
   with replacement): the old X[idx] gather followed by the old augmentation, against the
   kernel's one pass with `index`. Versions alternate (order swapped every round).
2. An epoch of a training-like loop, float32 standardised images (what the recipe feeds):
   next_batch(), then the "model": two GEMMs of the first layer's size, Z = X·W and
   dW = Xᵀ·Z (X 256×3072, W 3072×1024), as a forward and a weight gradient. Timed
   without and with a prefetching thread (a one-worker ThreadPoolExecutor that calls
   next_batch() for the next step while the GEMMs run; the kernel releases the GIL,
   nogil=True, and so does the BLAS), alternating, --epochs rounds each.

    python benchmarks/augment.py [--quick] [--threads 2] [--json PATH]
"""

import argparse
import os
import time

from _common import fmt_table, machine_info, pin_threads, quantiles, write_json_atomic

BATCH, SIDE, CHANNELS, PAD, HIDDEN = 256, 32, 3, 4, 1024


def time_alternating(fns, repeats, calls):
    """name -> (median, q25, q75) seconds per call, blocks of `calls` calls, order swapped
    every round."""
    for fn in fns.values():
        fn()  # compile / load from the cache, warm the caches
    times = {name: [] for name in fns}
    items = list(fns.items())
    for r in range(repeats):
        for name, fn in items if r % 2 == 0 else items[::-1]:
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            times[name].append((time.perf_counter() - start) / calls)
    return {name: quantiles(ts) for name, ts in times.items()}


def batch_versions(np, augment, dtype, source):
    """The versions of part 1 for one dtype, each a no-argument call ("old": augment_batch
    before the kernel, tinygrad_hlcv.reference.flip_crop_reference)."""
    from tinygrad_hlcv.reference import flip_crop_reference

    X = source[:BATCH].copy()
    draws = augment.draw_flip_crop(np.random.default_rng(1), BATCH, pad=PAD)
    index = np.arange(BATCH)
    out = np.empty_like(X)
    views = augment._five_d(X, "NHWC"), augment._five_d(out, "NHWC")

    def kernel_set(ks):
        return lambda: ks.flip_crop(views[0], index, *draws, PAD, views[1])

    def gather_old():
        rng = np.random.default_rng(2)
        idx = rng.integers(0, len(source), size=BATCH)
        return flip_crop_reference(source[idx], rng, pad=PAD)

    def gather_kernel():
        rng = np.random.default_rng(2)
        idx = rng.integers(0, len(source), size=BATCH)
        return augment.random_flip_crop(source, rng, index=idx)

    return {
        "batch": {
            "kernel": kernel_set(augment.numba_kernels),
            "twin": kernel_set(augment.numpy_kernels),
            "old": lambda: flip_crop_reference(X, np.random.default_rng(1), pad=PAD),
        },
        "gather+batch": {"kernel (one pass)": gather_kernel, "old (X[idx], then old)": gather_old},
    }


def part1(np, augment, args):
    rows, results = [], []
    for dtype_name in ("uint8", "float32"):
        rng = np.random.default_rng(0)
        shape = (args.source_images, SIDE, SIDE, CHANNELS)
        if dtype_name == "uint8":
            source = rng.integers(0, 256, size=shape, dtype=np.uint8)
        else:
            source = rng.standard_normal(shape, dtype=np.float32)
        for what, fns in batch_versions(np, augment, np.dtype(dtype_name), source).items():
            t = time_alternating(fns, args.repeats, args.calls)
            names = list(fns)
            slowest = max(t[n][0] for n in names)
            for name in names:
                median, q25, q75 = t[name]
                rows.append(
                    [
                        what,
                        dtype_name,
                        name,
                        f"{median * 1e3:.2f}",
                        f"{q25 * 1e3:.2f}–{q75 * 1e3:.2f}",
                        f"{slowest / median:.1f}",
                    ]
                )
                results.append(
                    {"what": what, "dtype": dtype_name, "version": name, "median_ms": median * 1e3}
                )
        del source
    header = ["what", "dtype", "version", "ms/call", "q25–q75 ms", "slowest / this"]
    print(fmt_table(header, rows))
    return results


class Prefetch:
    """next_batch() of a BatchIterator, computed one step ahead in a background thread."""

    def __init__(self, batches):
        from concurrent.futures import ThreadPoolExecutor

        self.batches, self.pool = batches, ThreadPoolExecutor(1)
        self.pending = self.pool.submit(batches.next_batch)

    def next_batch(self):
        batch = self.pending.result()
        self.pending = self.pool.submit(self.batches.next_batch)
        return batch

    def close(self):
        self.pending.result()
        self.pool.shutdown()


def training_like_loop(np, BatchIterator, args):
    """(epoch(prefetch) -> seconds, batches_only() -> seconds, steps per epoch)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.source_images, SIDE, SIDE, CHANNELS), dtype=np.float32)
    y = rng.integers(0, 10, size=args.source_images)
    W = (0.01 * rng.standard_normal((SIDE * SIDE * CHANNELS, HIDDEN))).astype(np.float32)
    Z = np.empty((BATCH, HIDDEN), np.float32)
    dW = np.empty_like(W)
    steps = args.steps or args.source_images // BATCH

    def epoch(prefetch):
        batches = BatchIterator(X, y, BATCH, replacement=True, rng=0, augment=True)
        source = Prefetch(batches) if prefetch else batches
        start = time.perf_counter()
        for _ in range(steps):
            xb, _ = source.next_batch()
            rows = xb.reshape(BATCH, -1)
            np.matmul(rows, W, out=Z)
            np.matmul(rows.T, Z, out=dW)
        seconds = time.perf_counter() - start
        if prefetch:
            source.close()
        return seconds

    def prep_only():
        batches = BatchIterator(X, y, BATCH, replacement=True, rng=0, augment=True)
        start = time.perf_counter()
        for _ in range(steps):
            batches.next_batch()
        return time.perf_counter() - start

    return epoch, prep_only, steps


def part2(np, BatchIterator, args):
    epoch, prep_only, steps = training_like_loop(np, BatchIterator, args)
    epoch(False), epoch(True)  # warm up
    times = {"no prefetch": [], "prefetch thread": [], "batches only": []}
    order = [("no prefetch", False), ("prefetch thread", True)]
    for r in range(args.epochs):
        for name, prefetch in order if r % 2 == 0 else order[::-1]:
            times[name].append(epoch(prefetch))
        times["batches only"].append(prep_only())
    base = quantiles(times["no prefetch"])[0]
    rows = []
    for name, ts in times.items():
        median, q25, q75 = quantiles(ts)
        rows.append(
            [
                name,
                f"{median:.2f}",
                f"{q25:.2f}–{q75:.2f}",
                f"{1e3 * median / steps:.1f}",
                f"{base / median:.3f}" if name != "batches only" else "",
            ]
        )
    print(f"\n{steps} steps per epoch, {args.epochs} epochs each, alternating")
    print(fmt_table(["loop", "s/epoch", "q25–q75 s", "ms/step", "no prefetch / this"], rows))
    return {name: quantiles(ts) for name, ts in times.items()} | {"steps": steps}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--repeats", type=int, default=None, help="blocks per version (default 40)")
    p.add_argument("--calls", type=int, default=10, help="calls per block")
    p.add_argument("--source-images", type=int, default=49000)
    p.add_argument("--epochs", type=int, default=None, help="epochs per loop (default 5)")
    p.add_argument("--steps", type=int, default=None, help="steps per epoch (default N/256)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    args.repeats = args.repeats or (6 if args.quick else 40)
    args.epochs = args.epochs or (2 if args.quick else 5)
    if args.quick:
        args.steps = args.steps or 30
    how, _limiter = pin_threads(args.threads)
    import numpy as np

    from tinygrad_hlcv.data import BatchIterator, augment

    info = machine_info(args.threads, how)
    print(
        f"# {info['cpu']}, {args.threads} threads; load average "
        f"{info['load_average_at_start'][0]:.2f}; batch {BATCH}×{SIDE}×{SIDE}×{CHANNELS}, "
        f"pad {PAD}, source {args.source_images} images"
    )
    results = {"machine": info, "batch": part1(np, augment, args)}
    results["prefetch"] = part2(np, BatchIterator, args)
    if args.json:
        write_json_atomic(args.json, results)


if __name__ == "__main__":
    main()
