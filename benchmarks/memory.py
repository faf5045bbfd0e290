"""Memory over many training steps: does anything grow (leaked graphs, caches, buffers)?

Runs `--steps` training steps of tinygrad_hlcv (forward, loss + L2, backward,
SGD; float32, batch 200) on one net and samples, every `--every` steps, the
process's resident set size (/proc/self/statm), its peak (ru_maxrss), the
number of objects the garbage collector tracks, and the number of live
`Tensor` objects. Growth is measured from the first sample after the warm-up
to the last one.

    python benchmarks/memory.py [--steps 10000] [--net NAME] [--json PATH]
"""

import argparse
import gc
import os
import resource
import time

from _common import BATCH, NETS, fmt_table, make_tinygrad, pin_threads, write_json_atomic


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--every", type=int, default=500)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--net", choices=list(NETS), default="3072-100-10")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    pin_threads(args.threads)
    import numpy as np

    from tinygrad_hlcv import Tensor

    sizes, activation = NETS[args.net]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((BATCH, sizes[0])).astype(np.float32)
    step = make_tinygrad(sizes, activation, np.float32, X, rng.integers(0, sizes[-1], BATCH))

    def sample(done, t0):
        return {
            "step": done,
            "seconds": time.perf_counter() - t0,
            "rss_MiB": rss_bytes() / 2**20,
            "maxrss_MiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "gc_objects": len(gc.get_objects()),
            "live_tensors": sum(isinstance(o, Tensor) for o in gc.get_objects()),
        }

    for _ in range(args.warmup):
        step()
    t0 = time.perf_counter()
    samples = [sample(0, t0)]
    for done in range(1, args.steps + 1):
        step()
        if done % args.every == 0:
            samples.append(sample(done, t0))
            print(f"step {done}: rss {samples[-1]['rss_MiB']:.1f} MiB", flush=True)
    first, last = samples[0], samples[-1]
    growth = {
        "rss_MiB": last["rss_MiB"] - first["rss_MiB"],
        "maxrss_MiB": last["maxrss_MiB"] - first["maxrss_MiB"],
        "gc_objects": last["gc_objects"] - first["gc_objects"],
        "live_tensors": last["live_tensors"] - first["live_tensors"],
    }
    rows = [
        [
            s["step"],
            f"{s['rss_MiB']:.1f}",
            f"{s['maxrss_MiB']:.1f}",
            s["gc_objects"],
            s["live_tensors"],
        ]
        for s in samples[:: max(1, len(samples) // 10)] + [last]
    ]
    print(fmt_table(["step", "RSS MiB", "peak RSS MiB", "gc objects", "live Tensors"], rows))
    print(
        f"\nnet {args.net}: after {args.steps} steps (from step {args.warmup} of warm-up on): "
        f"RSS {growth['rss_MiB']:+.1f} MiB, peak RSS {growth['maxrss_MiB']:+.1f} MiB, "
        f"gc objects {growth['gc_objects']:+d}, live Tensors {growth['live_tensors']:+d}"
    )
    if args.json:
        write_json_atomic(
            args.json,
            {
                "net": args.net,
                "steps": args.steps,
                "warmup": args.warmup,
                "growth": growth,
                "samples": samples,
            },
        )
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
