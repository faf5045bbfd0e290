"""The `fast` CNN's full training step (forward, backward, SGD update) in tinygrad_hlcv against
PyTorch eager, with the same threads, batch and start weights; and where our step's time goes.

The net (airbench family, widths 32-128-128): 3×32×32 → conv 2×2 (patch whitening, 3 → 24,
no padding: 31×31, with bias) → GELU → three groups of [conv3×3 pad 1 (no bias) → max-pool 2
→ BatchNorm2d → GELU → conv3×3 pad 1 → BatchNorm2d → GELU] of widths 32, 128, 128 → global
max-pool (3×3) → linear 128 → 10 (no bias) × 1/9; label-smoothed (0.2) cross-entropy; SGD with
Nesterov momentum 0.9 and weight decay 5e-4; batch 128 (the fast preset's), float32, random
images and labels.

The two steps alternate (order swapped each round), so both see the same machine load; the
report is each step's median, its interquartile range, and the ratio ours / PyTorch.
Alternating single steps (the default) charges each framework for the other's thread pools
winding down (PyTorch's step ran 0.35 s alone here and 0.37-0.42 s alternated with ours);
`--block N` alternates blocks of N steps instead (the figures are a block's mean per step),
nearer what a training run of one framework sees.

`--profile` instead times our step per layer kind, by wrapping the ops' forward and backward
(and, inside Conv2d, the GEMMs and the im2col/col2im kernels): what the wrappers do not see is
the engine's bookkeeping ("other"). `--direct` keeps every convolution on the im2col path
(conv.Conv2d otherwise takes the Winograd path where winograd.suits says so).

    python benchmarks/cnn_step.py [--threads 2] [--repeats 7] [--batch 128] [--block 1]
                                  [--direct] [--profile] [--json PATH]
"""

import argparse
import time
from collections import defaultdict

from _common import fmt_table, machine_info, pin_threads, quantiles, write_json_atomic

WIDTHS = (32, 128, 128)
LR, MOMENTUM, WEIGHT_DECAY, SMOOTHING = 0.05, 0.9, 5e-4, 0.2


def make_net(nn, scale_layer):
    """The fast net in either framework's `nn` (same layer names and arguments); scale_layer
    is a Module multiplying by 1/9 (written per framework, a lambda layer is not portable)."""
    layers = [nn.Conv2d(3, 24, kernel_size=2, padding=0, bias=True), nn.GELU()]
    width = 24
    for out in WIDTHS:
        layers += [
            nn.Conv2d(width, out, kernel_size=3, padding=1, bias=False),
            nn.MaxPool2d(2),
            nn.BatchNorm2d(out),
            nn.GELU(),
            nn.Conv2d(out, out, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out),
            nn.GELU(),
        ]
        width = out
    layers += [nn.MaxPool2d(3), nn.Flatten(), nn.Linear(width, 10, bias=False), scale_layer]
    return nn.Sequential(*layers)


def torch_step(torch, X, y, start):
    nn = torch.nn

    class Scale(nn.Module):
        def forward(self, x):
            return x * (1 / 9)

    model = make_net(nn, Scale())
    with torch.no_grad():
        for p, value in zip(model.parameters(), start):
            p.copy_(torch.from_numpy(value))
    opt = torch.optim.SGD(
        model.parameters(), lr=LR, momentum=MOMENTUM, nesterov=True, weight_decay=WEIGHT_DECAY
    )
    loss_fn = nn.CrossEntropyLoss(label_smoothing=SMOOTHING)
    x, labels = torch.from_numpy(X), torch.from_numpy(y)

    def step():
        loss = loss_fn(model(x), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def ours_step(X, y, start):
    import tinygrad_hlcv as tg

    class Scale(tg.nn.Module):
        def forward(self, x):
            return x * (1 / 9)

    model = make_net(tg.nn, Scale())
    for p, value in zip(model.parameters(), start):
        p.data[...] = value if p.shape == value.shape else value.T  # our Linear's W is (in, out)
    opt = tg.optim.SGD(
        model.parameters(), lr=LR, momentum=MOMENTUM, nesterov=True, weight_decay=WEIGHT_DECAY
    )
    loss_fn = tg.nn.CrossEntropyLoss(label_smoothing=SMOOTHING)
    x = tg.Tensor(X)

    def step():
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    return step


def start_values(torch):
    """PyTorch's initialisation of the net (seed 0), as NumPy arrays both nets start from."""
    torch.manual_seed(0)
    model = make_net(torch.nn, torch.nn.Identity())
    return [p.detach().numpy().copy() for p in model.parameters()]


# ---- --direct: every convolution on the im2col path, for comparison ----


def direct_only():
    """conv.Conv2d never takes the Winograd path (winograd.suits says no)."""
    from tinygrad_hlcv import winograd

    winograd.suits = lambda *args: False


# ---- --profile: time per layer kind ----


class Profile:
    """Seconds per layer kind, from wrappers around the ops' methods and the conv kernels."""

    def __init__(self):
        self.seconds = defaultdict(float)
        self.phase = None  # "conv forward" / "conv backward" while a Conv2d method runs

    def wrap(self, owner, name, kind):
        original = getattr(owner, name)
        profile = self

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                profile.seconds[kind] += time.perf_counter() - start

        setattr(owner, name, timed)

    def wrap_conv(self, cls, name, phase):
        original = getattr(cls, name)
        profile = self

        def timed(*args, **kwargs):
            profile.phase, start = phase, time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                profile.seconds[phase] += time.perf_counter() - start
                profile.phase = None

        setattr(cls, name, timed)

    def timed_matmul(self, np):
        """np.matmul, its time filed under the GEMM kind of the conv phase calling it."""
        profile, matmul = self, np.matmul

        def timed(a, b, out=None):
            start = time.perf_counter()
            result = matmul(a, b) if out is None else matmul(a, b, out=out)
            input_grad = not a.flags.c_contiguous  # Wᵀ (direct) or Uᵀ (Winograd) first
            kind = {
                "conv forward": "conv forward GEMM",
                "conv backward": f"conv {'input' if input_grad else 'weight'}-grad GEMM",
            }.get(profile.phase, "other GEMM")
            profile.seconds[kind] += time.perf_counter() - start
            return result

        return timed


class _NumpyWithTimedMatmul:
    """The numpy module as conv.py sees it, with matmul timed."""

    def __init__(self, np, matmul):
        self._np, self.matmul = np, matmul

    def __getattr__(self, name):
        return getattr(self._np, name)


def install_profile(np):
    from tinygrad_hlcv import conv, conv_kernels, elementwise, normalization
    from tinygrad_hlcv.optim import SGD

    profile = Profile()
    for kernel in ("im2col", "col2im"):
        profile.wrap(conv_kernels.numba_kernels, kernel, kernel + " (inside conv)")
    conv.np = _NumpyWithTimedMatmul(np, profile.timed_matmul(np))
    try:
        from tinygrad_hlcv import winograd
    except ImportError:
        winograd = None
    if winograd is not None:
        for name in winograd.KERNEL_NAMES:
            profile.wrap(winograd.numba_kernels, name, "Winograd " + name + " (inside conv)")
        winograd.np = _NumpyWithTimedMatmul(np, profile.timed_matmul(np))
    profile.wrap_conv(conv.Conv2d, "forward", "conv forward")
    profile.wrap_conv(conv.Conv2d, "backward", "conv backward")
    for name in ("forward", "backward"):
        profile.wrap(conv.MaxPool2d, name, "max-pool")
        profile.wrap(elementwise.GELU, name, "GELU")
    for cls in _batch_norm_ops(normalization):
        for name in ("forward", "backward"):
            profile.wrap(cls, name, "BatchNorm")
    profile.wrap(SGD, "step", "optimizer")
    return profile


def _batch_norm_ops(normalization):
    return [
        v
        for k, v in vars(normalization).items()
        if isinstance(v, type) and "BatchNorm" in k and hasattr(v, "backward")
    ]


NESTED = ("inside conv", "GEMM")  # kinds already counted in their conv phase


def profile_rows(profile, total, steps):
    rows, seen = [], 0.0
    for kind, seconds in sorted(profile.seconds.items(), key=lambda kv: -kv[1]):
        per_step = seconds / steps
        if not any(tag in kind for tag in NESTED):
            seen += per_step
        rows.append([kind, f"{per_step * 1e3:.1f}", f"{per_step / total:.1%}"])
    rows.append(
        [
            "other (engine, loss, reshapes, Python)",
            f"{(total - seen) * 1e3:.1f}",
            f"{(total - seen) / total:.1%}",
        ]
    )
    rows.append(["step", f"{total * 1e3:.1f}", "100%"])
    return rows


def run_profile(args, np, ours):
    ours()  # compile the kernels first: Numba reads the module's `np` when it compiles
    profile = install_profile(np)
    ours()  # warm up with the wrappers in place
    profile.seconds.clear()
    start = time.perf_counter()
    for _ in range(args.repeats):
        ours()
    total = (time.perf_counter() - start) / args.repeats
    rows = profile_rows(profile, total, args.repeats)
    print(fmt_table(["layer kind (our step)", "ms / step", "share"], rows))
    return rows


def run_pair(args, ours, theirs):
    """Per-step seconds of each, alternating which runs first: each round runs a block of
    `args.block` steps of one, then of the other (a block's mean per step)."""
    ours(), theirs(), ours(), theirs()  # warm up: compile, allocate, BLAS pools
    times = {"ours": [], "torch": []}
    pair = [("ours", ours), ("torch", theirs)]
    for r in range(args.repeats):
        for name, step in pair if r % 2 == 0 else pair[::-1]:
            start = time.perf_counter()
            for _ in range(args.block):
                step()
            times[name].append((time.perf_counter() - start) / args.block)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--block", type=int, default=1, help="steps in a row per framework")
    parser.add_argument("--direct", action="store_true", help="no Winograd (see module doc)")
    parser.add_argument("--profile", action="store_true", help="time our step per layer kind")
    parser.add_argument("--json", help="also write the results here (atomically)")
    args = parser.parse_args()
    how, _limiter = pin_threads(args.threads)
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    if args.direct:
        direct_only()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.batch, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, args.batch)
    start = start_values(torch)
    ours = ours_step(X, y, start)
    label = f"fast net, batch {args.batch}, float32, {args.threads} threads" + (
        ", im2col only" if args.direct else ", Winograd where it suits"
    )
    if args.block > 1:
        label += f", blocks of {args.block} steps"
    result = {"settings": vars(args)}
    if args.profile:
        print(label)
        result["profile"] = run_profile(args, np, ours)
    else:
        times = run_pair(args, ours, torch_step(torch, X, y, start))
        (mine, m25, m75), (theirs, t25, t75) = quantiles(times["ours"]), quantiles(times["torch"])
        print(f"{label} ({how})")
        print(
            fmt_table(
                ["step", "median s", "IQR s"],
                [
                    ["tinygrad_hlcv", f"{mine:.3f}", f"{m25:.3f}-{m75:.3f}"],
                    ["PyTorch eager", f"{theirs:.3f}", f"{t25:.3f}-{t75:.3f}"],
                ],
            )
        )
        print(f"ratio ours / PyTorch: {mine / theirs:.2f}")
        result.update(times=times, ratio=mine / theirs)
    if args.json:
        result["machine"] = machine_info(args.threads, how)
        write_json_atomic(args.json, result)


if __name__ == "__main__":
    main()
