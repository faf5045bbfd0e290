"""A 3×3 convolution layer's forward and backward against PyTorch eager, and the conv kernels
against their NumPy twins.

Layer: batch 128, 64 → 64 channels, 32×32 images, kernel 3, padding 1, float32 (9.7 GFLOP
forward, twice that backward); the input needs a gradient (a middle layer of a net). Each
round runs tinygrad_hlcv's `conv2d` and `torch.nn.functional.conv2d` once each, forward
alone and forward + backward, alternating which goes first, and the medians and their ratio
(ours / PyTorch: < 1 means faster) are reported, so that both see the same machine load.
Kernels: im2col and col2im on one chunk of that layer (tinygrad_hlcv.conv.CHUNK_BYTES of
columns), max_pool_forward/backward 2×2 on the whole layer output, the four Winograd
transforms on that layer, each against its twin.
Winograd: each 3×3 layer of the `fast` CNN (benchmarks/cnn_step.py) at --batch, the direct
path (im2col + GEMM) against tinygrad_hlcv.winograd, forward + backward (input and weight
gradients), alternating as above.

    python benchmarks/conv.py [--threads 2] [--repeats 5] [--batch 128] [--json PATH]
"""

import argparse
import time

from _common import fmt_table, machine_info, pin_threads, quantiles, write_json_atomic


def _median_pair(first, second, repeats):
    """Median seconds of each of two callables, run alternately (order swapped each round)."""
    first(), second()  # warm up: compile, allocate
    times = ([], [])
    for r in range(repeats):
        order = ((0, first), (1, second)) if r % 2 == 0 else ((1, second), (0, first))
        for i, f in order:
            start = time.perf_counter()
            f()
            times[i].append(time.perf_counter() - start)
    return [quantiles(t)[0] for t in times]


def layer_rows(args, np, torch):
    from tinygrad_hlcv import Tensor
    from tinygrad_hlcv.nn.conv import conv2d

    rng = np.random.default_rng(0)
    n, c, hw = args.batch, 64, 32
    x = rng.standard_normal((n, c, hw, hw)).astype(np.float32)
    w = (rng.standard_normal((c, c, 3, 3)) / 24).astype(np.float32)
    b = np.zeros(c, np.float32)
    g = rng.standard_normal((n, c, hw, hw)).astype(np.float32)
    tx, tw, tb, tg = (torch.tensor(a, requires_grad=a is not g) for a in (x, w, b, g))

    def ours(backward):
        def run():
            tensors = [Tensor(a, requires_grad=backward) for a in (x, w, b)]
            y = conv2d(*tensors, padding=1)
            if backward:
                y._ctx.backward(g)  # the op's backward alone, as torch's below

        return run

    def theirs(backward):
        def run():
            if backward:
                torch.nn.functional.conv2d(tx, tw, tb, padding=1).backward(tg)
            else:
                with torch.no_grad():
                    torch.nn.functional.conv2d(tx, tw, tb, padding=1)

        return run

    rows = []
    for name, backward in (("forward", False), ("forward + backward", True)):
        mine, torch_time = _median_pair(ours(backward), theirs(backward), args.repeats)
        rows.append(
            [name, f"{mine * 1e3:.1f}", f"{torch_time * 1e3:.1f}", f"{mine / torch_time:.2f}"]
        )
    return rows


def kernel_rows(args, np):
    from tinygrad_hlcv import conv, conv_kernels, winograd

    rng = np.random.default_rng(1)
    c, hw, geometry = 64, 32, (3, 3, 1, 1, 1, 1, 1, 1)
    chunk = max(1, conv.CHUNK_BYTES // (c * 9 * hw * hw * 4))
    x = rng.standard_normal((chunk, c, hw, hw)).astype(np.float32)
    cols = np.empty((c * 9, chunk, hw, hw), np.float32)
    y = rng.standard_normal((args.batch, c, hw, hw)).astype(np.float32)
    pooled = np.empty((args.batch, c, hw // 2, hw // 2), np.float32)
    argmax = np.empty(pooled.shape, np.int64)
    pool = (2, 2, 2, 2, 0, 0, 1, 1)
    tiles = hw // 2
    v = np.empty((16, c, args.batch, tiles, tiles), np.float32)
    m = rng.standard_normal((16, c, args.batch, tiles, tiles)).astype(np.float32)
    cases = {
        f"im2col ({chunk} images)": lambda k: k.im2col(x, geometry, cols),
        f"col2im ({chunk} images)": lambda k: k.col2im(cols, geometry, x),
        f"max_pool_forward ({args.batch})": lambda k: k.max_pool_forward(y, pool, pooled, argmax),
        f"max_pool_backward ({args.batch})": lambda k: k.max_pool_backward(pooled, argmax, y),
    }
    winograd_cases = {
        f"winograd input_transform ({args.batch})": lambda k: k.input_transform(y, 1, 1, v),
        f"winograd input_transform_adjoint ({args.batch})": (
            lambda k: k.input_transform_adjoint(v, 1, 1, y)
        ),
        f"winograd output_transform ({args.batch})": lambda k: k.output_transform(m, y),
        f"winograd output_transform_adjoint ({args.batch})": (
            lambda k: k.output_transform_adjoint(y, m)
        ),
    }
    sets = [(cases, conv_kernels), (winograd_cases, winograd)]
    rows = []
    for name, call, module in [(n, f, mod) for group, mod in sets for n, f in group.items()]:
        kernel, twin = _median_pair(
            lambda: call(module.numba_kernels),
            lambda: call(module.numpy_kernels),
            args.repeats,
        )
        rows.append([name, f"{kernel * 1e3:.2f}", f"{twin * 1e3:.2f}", f"{twin / kernel:.2f}"])
    return rows


# The `fast` CNN's 3×3 convolutions: (in channels, out channels, image side), padding 1.
FAST_NET_LAYERS = [(24, 32, 31), (32, 32, 15), (32, 128, 15), (128, 128, 7), (128, 128, 3)]


def winograd_rows(args, np):
    """Direct (im2col + GEMM) against Winograd, forward + backward, per layer of the fast net."""
    from tinygrad_hlcv import conv, winograd

    rng, pads, rows = np.random.default_rng(2), (1, 1, 1, 1), []
    for c, o, hw in FAST_NET_LAYERS:
        x = rng.standard_normal((args.batch, c, hw, hw)).astype(np.float32)
        w = (rng.standard_normal((o, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
        g = rng.standard_normal((args.batch, o, hw, hw)).astype(np.float32)

        def direct():
            op = conv.Conv2d()
            op.needs_input_grad, op.parents = (True, True), (x, w)
            op.forward(x, w, None, (1, 1), pads)
            op.backward(g)

        def fast():
            winograd.conv3x3(x, w, pads)
            winograd.conv3x3_backward(g, x, w, pads, True, True)

        mine, theirs = _median_pair(fast, direct, args.repeats)
        gflop = 3 * 2 * args.batch * o * c * 9 * hw * hw / 1e9
        rows.append(
            [
                f"{c}->{o}, {hw}x{hw}",
                f"{theirs * 1e3:.1f}",
                f"{mine * 1e3:.1f}",
                f"{theirs / mine:.2f}",
                f"{gflop / mine:.0f}",
            ]
        )
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--json", help="also write the results here (atomically)")
    args = parser.parse_args()
    how, _limiter = pin_threads(args.threads)
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    layer = layer_rows(args, np, torch)
    print(f"conv3x3 layer, batch {args.batch}, 64->64 channels, 32x32, float32 ({how})")
    print(fmt_table(["pass", "tinygrad_hlcv ms", "PyTorch ms", "ratio"], layer))
    wino = winograd_rows(args, np)
    print(f"the fast net's 3x3 layers, batch {args.batch}, forward + backward, float32")
    header = ["layer", "direct ms", "Winograd ms", "direct / Winograd", "nominal GFLOP/s"]
    print(fmt_table(header, wino))
    kernel = kernel_rows(args, np)
    print(fmt_table(["kernel", "Numba ms", "NumPy twin ms", "twin / kernel"], kernel))
    if args.json:
        info = machine_info(args.threads, how)
        write_json_atomic(
            args.json, {"machine": info, "layer": layer, "winograd": wino, "kernels": kernel}
        )


if __name__ == "__main__":
    main()
