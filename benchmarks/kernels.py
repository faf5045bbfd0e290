"""Each Numba kernel against its NumPy twin, at the sizes a training step uses.

For every name in `tinygrad_hlcv.kernels.KERNEL_NAMES`: the median time of one
call of `kernels.numba_kernels.<name>` and of `kernels.numpy_kernels.<name>`
on the same arrays, the ratio (twin time / kernel time: > 1 means the Numba
kernel is faster) and the achieved memory bandwidth, counted as the bytes the
operation must read and write at least once (what a single fused pass moves).
Activations and their gradients run at 200×100 and 200×600 (the hidden layers
of the benchmark nets, batch 200), softmax cross-entropy on 200×10 logits,
and the weight-sized kernels (the optimizer step, the L2 gradient) on the
3072×100 and 3072×600 first-layer weights. The arrays are hot in cache, as in
a training step that just produced them.

The newer kernels (norm_kernels, activation_kernels, optim_kernels, and SGD with Nesterov
momentum and weight decay) run at the bn-mlp net's sizes: BatchNorm, LayerNorm and GELU on a
256×1024 activation, the optimizer updates on a 1024×1024 weight.

The two versions alternate in blocks (order swapped every round) and each
block times up to `--calls` back-to-back calls (fewer when one call of the slower
version takes more than a few ms), so the median is per call.

    python benchmarks/kernels.py [--quick] [--repeats N] [--json PATH]
"""

import argparse
import os
import time

from _common import fmt_table, machine_info, pin_threads, quantiles, write_json_atomic

ACTIVATION_SHAPES = [(200, 100), (200, 600)]
WEIGHT_SHAPES = [(3072, 100), (3072, 600)]
BN_ACTIVATION, BN_WEIGHT = [(256, 1024)], [(1024, 1024)]  # the bn-mlp net's sizes
BLOCK_SECONDS = 0.02  # a block's length, at most, when one call is slow


def _cases(np):
    """name -> (shapes, make(shape, dtype, rng) -> (args, bytes moved))."""

    def elementwise(n_inputs, extra=()):
        def make(shape, dtype, rng):
            arrays = [rng.standard_normal(shape).astype(dtype).reshape(-1) for _ in range(n_inputs)]
            out = np.empty(arrays[0].size, dtype)
            args = arrays + [dtype.type(e) for e in extra] + [out]
            return args, (n_inputs + 1) * out.nbytes

        return make

    def relu_backward(shape, dtype, rng):
        g = rng.standard_normal(shape).astype(dtype).reshape(-1)
        a = np.maximum(rng.standard_normal(shape), 0).astype(dtype).reshape(-1)
        return [g, a, np.empty_like(g)], 3 * g.nbytes

    def leaky_relu_backward(shape, dtype, rng):
        g, z = (rng.standard_normal(shape).astype(dtype).reshape(-1) for _ in range(2))
        return [g, z, dtype.type(0.01), np.empty_like(g)], 3 * g.nbytes

    def masked_scale(shape, dtype, rng):
        x = rng.standard_normal(shape).astype(dtype).reshape(-1)
        mask = rng.random(x.size) >= 0.5
        return [x, mask, dtype.type(2.0), np.empty_like(x)], 2 * x.nbytes + mask.nbytes

    def bias_add(shape, dtype, rng):
        z = rng.standard_normal(shape).astype(dtype)
        b = (1e-6 * rng.standard_normal(shape[1])).astype(dtype)
        return [z, b], 2 * z.nbytes + b.nbytes

    def column_sum(shape, dtype, rng):
        g = rng.standard_normal(shape).astype(dtype)
        out = np.empty(shape[1], dtype)
        return [g, out], g.nbytes + out.nbytes

    def softmax_cross_entropy_with_grad(shape, dtype, rng):
        z = rng.standard_normal(shape).astype(dtype)
        labels = rng.integers(0, shape[1], shape[0]).astype(np.int64)
        return [z, labels, np.empty_like(z)], 2 * z.nbytes + labels.nbytes

    def sgd_update(shape, dtype, rng):
        # plain SGD, the benchmark's optimizer: θ -= lr·g (no momentum buffer)
        theta, grad = (rng.standard_normal(shape).astype(dtype).reshape(-1) for _ in range(2))
        velocity = np.empty(0, dtype)
        return (
            [theta, grad, velocity, dtype.type(1e-9), dtype.type(0), dtype.type(0), False, False],
            3 * theta.nbytes,
        )

    def sgd_update_momentum(shape, dtype, rng):
        args, _ = sgd_update(shape, dtype, rng)
        args[2] = np.zeros_like(args[0])
        args[4] = dtype.type(0.9)
        return args, 5 * args[0].nbytes

    def scaled_add(shape, dtype, rng):
        acc, x = (rng.standard_normal(shape).astype(dtype).reshape(-1) for _ in range(2))
        return [acc, dtype.type(1e-9), x], 3 * acc.nbytes

    return {
        "relu_forward": (ACTIVATION_SHAPES, elementwise(1)),
        "relu_backward": (ACTIVATION_SHAPES, relu_backward),
        "leaky_relu_forward": (ACTIVATION_SHAPES, elementwise(1, extra=(0.01,))),
        "leaky_relu_backward": (ACTIVATION_SHAPES, leaky_relu_backward),
        "masked_scale": (ACTIVATION_SHAPES, masked_scale),
        "bias_add": (ACTIVATION_SHAPES, bias_add),
        "column_sum": (ACTIVATION_SHAPES, column_sum),
        "softmax_cross_entropy_with_grad": ([(200, 10)], softmax_cross_entropy_with_grad),
        "sgd_update": (WEIGHT_SHAPES, sgd_update),
        "sgd_update+momentum": (WEIGHT_SHAPES, sgd_update_momentum),
        "scaled_add": (WEIGHT_SHAPES, scaled_add),
    }


def _norm_cases(np):
    """The normalisation and GELU kernels: name -> (shapes, make), as _cases."""

    def normal(shape, dtype, rng, n):
        return [rng.standard_normal(shape).astype(dtype) for _ in range(n)]

    def statistics(shape, dtype, rng):
        (x,) = normal(shape, dtype, rng, 1)
        c = shape[1]
        return [x, np.empty(c), np.empty(c)], x.nbytes + 16 * c

    def batch_stats(x):
        mean = x.mean(axis=0, dtype=np.float64)
        return mean, 1 / np.sqrt(x.var(axis=0, dtype=np.float64) + 1e-5)

    def batch_forward(shape, dtype, rng):
        x, out = normal(shape, dtype, rng, 2)
        gamma, beta = (rng.standard_normal(shape[1]).astype(dtype) for _ in range(2))
        return [x, *batch_stats(x), gamma, beta, out], 2 * x.nbytes

    def batch_backward(shape, dtype, rng):
        g, x, dx = normal(shape, dtype, rng, 3)
        gamma = rng.standard_normal(shape[1]).astype(dtype)
        grads = [np.empty_like(gamma), np.empty_like(gamma)]
        return [g, x, *batch_stats(x), gamma, True, dx, *grads], 3 * x.nbytes

    def layer_forward(shape, dtype, rng):
        x, out = normal(shape, dtype, rng, 2)
        gamma, beta = (rng.standard_normal(shape[1]).astype(dtype) for _ in range(2))
        rows = [np.empty(shape[0]), np.empty(shape[0])]
        return [x, gamma, beta, 1e-5, *rows, out], 2 * x.nbytes

    def layer_backward(shape, dtype, rng):
        g, x, dx = normal(shape, dtype, rng, 3)
        gamma = rng.standard_normal(shape[1]).astype(dtype)
        mean = x.mean(axis=1, dtype=np.float64)
        invstd = 1 / np.sqrt(x.var(axis=1, dtype=np.float64) + 1e-5)
        grads = [np.empty_like(gamma), np.empty_like(gamma)]
        return [g, x, mean, invstd, gamma, dx, *grads], 3 * x.nbytes

    def gelu(n_inputs):
        def make(shape, dtype, rng):
            arrays = [a.reshape(-1) for a in normal(shape, dtype, rng, n_inputs + 1)]
            return arrays, (n_inputs + 1) * arrays[0].nbytes

        return make

    return {
        "batch_norm_statistics": (BN_ACTIVATION, statistics),
        "batch_norm_forward": (BN_ACTIVATION, batch_forward),
        "batch_norm_backward": (BN_ACTIVATION, batch_backward),
        "layer_norm_forward": (BN_ACTIVATION, layer_forward),
        "layer_norm_backward": (BN_ACTIVATION, layer_backward),
        "gelu_forward": (BN_ACTIVATION, gelu(1)),
        "gelu_backward": (BN_ACTIVATION, gelu(2)),
    }


def _optim_cases(np):
    """The optimizer updates on a 1024×1024 weight, scalars in θ's dtype as the optimizers
    pass them: name -> (shapes, make), as _cases."""

    def arrays(shape, dtype, rng, n):
        first = [rng.standard_normal(shape).astype(dtype).reshape(-1) for _ in range(2)]
        return first + [np.zeros(first[0].size, dtype) for _ in range(n - 2)]

    def sgd_nesterov(shape, dtype, rng):
        s = dtype.type
        theta, grad, velocity = arrays(shape, dtype, rng, 3)
        args = [theta, grad, velocity, s(1e-9), s(0.9), s(5e-4), True, False]
        return args, 5 * theta.nbytes

    def adam(decoupled):
        def make(shape, dtype, rng):
            s, lr, wd = dtype.type, 1e-9, 1e-2
            l2, decay = (0, 1 - lr * wd) if decoupled else (wd, 1)
            scalars = [0.9, 0.1, 0.999, 0.001, lr / 0.1, np.sqrt(0.001), 1e-8, l2, decay]
            a = arrays(shape, dtype, rng, 4)
            return a + [s(v) for v in scalars], 7 * a[0].nbytes

        return make

    def rmsprop(shape, dtype, rng):
        s, unused = dtype.type, np.empty(0, dtype)
        a = arrays(shape, dtype, rng, 3)
        scalars = [s(v) for v in (1e-9, 0.99, 0.01, 1e-8, 0, 0)]
        return a + [unused, unused] + scalars + [False], 5 * a[0].nbytes

    def adagrad(shape, dtype, rng):
        s = dtype.type
        a = arrays(shape, dtype, rng, 3)
        return a + [s(1e-9), s(1e-10), s(0)], 5 * a[0].nbytes

    return {
        "sgd_update+nesterov+wd": (BN_WEIGHT, sgd_nesterov),
        "adam_update": (BN_WEIGHT, adam(decoupled=False)),
        "adam_update+adamw": (BN_WEIGHT, adam(decoupled=True)),
        "rmsprop_update": (BN_WEIGHT, rmsprop),
        "adagrad_update": (BN_WEIGHT, adagrad),
    }


def _calls_per_block(fast, twin, args, calls):
    """`calls`, or fewer so that a block of the slower version takes about BLOCK_SECONDS."""
    slowest = 0.0
    for fn in (fast, twin):
        t = time.perf_counter()
        fn(*args)
        slowest = max(slowest, time.perf_counter() - t)
    return max(1, min(calls, int(BLOCK_SECONDS / max(slowest, 1e-9))))


def time_pair(fast, twin, args, repeats, calls):
    """Median seconds per call of each, alternating blocks of `calls` calls (fewer for
    slow calls: _calls_per_block)."""
    fast(*args)  # compile / load from cache
    twin(*args)
    calls = _calls_per_block(fast, twin, args, calls)
    times = {"numba": [], "numpy": []}
    pair = [("numba", fast), ("numpy", twin)]
    for r in range(repeats):
        for name, fn in pair if r % 2 == 0 else pair[::-1]:
            t = time.perf_counter()
            for _ in range(calls):
                fn(*args)
            times[name].append((time.perf_counter() - t) / calls)
    return {name: quantiles(ts) for name, ts in times.items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=None, help="blocks per version (default 60)")
    p.add_argument("--calls", type=int, default=20, help="calls per block")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--dtypes", nargs="+", default=["float32"], choices=["float32", "float64"])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    args.repeats = args.repeats or (10 if args.quick else 60)
    how, _limiter = pin_threads(args.threads)
    import numpy as np

    from tinygrad_hlcv import activation_kernels, kernels, norm_kernels, optim_kernels

    info = machine_info(args.threads, how)
    print(
        f"# {info['cpu']}, {args.threads} threads; numba threading layer "
        f"{info['numba_threading_layer']}; load average {info['load_average_at_start'][0]:.2f}"
    )
    modules = (kernels, norm_kernels, activation_kernels, optim_kernels)
    cases = {**_cases(np), **_norm_cases(np), **_optim_cases(np)}
    home = {name: m for m in modules for name in m.KERNEL_NAMES}  # kernel -> its module
    rows, results = [], []
    names = [n for n in cases if n.split("+")[0] in home]
    missing = [n for n in home if n not in cases]
    for dtype_name in args.dtypes:
        dtype = np.dtype(dtype_name)
        for name in names:
            shapes, make = cases[name]
            kernel = name.split("+")[0]
            fast = getattr(home[kernel].numba_kernels, kernel)
            twin = getattr(home[kernel].numpy_kernels, kernel)
            for shape in shapes:
                rng = np.random.default_rng(0)
                call_args, nbytes = make(shape, dtype, rng)
                t = time_pair(fast, twin, call_args, args.repeats, args.calls)
                (fast_s, fq25, fq75), (twin_s, _, _) = t["numba"], t["numpy"]
                r = {
                    "kernel": name,
                    "shape": list(shape),
                    "dtype": dtype_name,
                    "numba_us": fast_s * 1e6,
                    "numba_q25_us": fq25 * 1e6,
                    "numba_q75_us": fq75 * 1e6,
                    "numpy_us": twin_s * 1e6,
                    "speedup": twin_s / fast_s,
                    "bytes": nbytes,
                    "numba_GBps": nbytes / fast_s / 1e9,
                    "numpy_GBps": nbytes / twin_s / 1e9,
                }
                results.append(r)
                rows.append(
                    [
                        name,
                        "×".join(map(str, shape)),
                        dtype_name,
                        f"{r['numba_us']:.1f}",
                        f"{r['numpy_us']:.1f}",
                        f"{r['speedup']:.2f}",
                        f"{r['numba_GBps']:.1f}",
                        f"{r['numpy_GBps']:.1f}",
                    ]
                )
    print(
        fmt_table(
            [
                "kernel",
                "shape",
                "dtype",
                "numba µs",
                "numpy µs",
                "numpy/numba",
                "numba GB/s",
                "numpy GB/s",
            ],
            rows,
        )
    )
    if missing:
        print(f"\n(no benchmark case yet for: {', '.join(missing)})")
    if args.json:
        write_json_atomic(
            args.json,
            {
                "machine": info,
                "settings": {"repeats": args.repeats, "calls": args.calls},
                "results": results,
            },
        )
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
