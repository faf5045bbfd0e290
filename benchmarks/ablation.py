"""What each speed change is worth: the training step with one change at a time undone.

Same method and nets as step_time.py (interleaved blocks, one process, medians),
float32 by default. The contenders are tinygrad_hlcv as it is and with changes
undone by patching the classes for the duration of that contender's steps:
  no fused SGD   optim.SGD._update as before: NumPy `θ -= lr·g` (temporaries)
  no L2 fold     the L2 penalty returns 2λW as an array, and Linear's gradients are
                 not marked fresh, so the engine allocates 2λW and then the sum
  neither        both undone: the weight-sized passes of the original step
plus the NumPy reference, optionally `--baseline GIT_REV` (the package as it
was at a revision, e.g. the first commit b382a4b), and with `--experiments`
two ideas that were measured and not adopted: dW written into reused
buffers, and the weight-sized passes as Numba parallel=True loops.

    python benchmarks/ablation.py [--threads 1] [--experiments] [--json PATH]
"""

import sys

import step_time as st
from _common import fmt_table, machine_info, pin_threads, write_json_atomic


def _old_sgd_update(self, theta, grad, state, group):
    """optim.SGD._update before the sgd_update kernel."""
    lr, momentum = group["lr"], group["momentum"]
    decay, nesterov = group["weight_decay"], group["nesterov"]
    g = grad + decay * theta if decay else grad
    if momentum:
        v = state.get("momentum_buffer")
        if v is None:
            v = state["momentum_buffer"] = g.copy()
        else:
            v *= momentum
            v += g
        g = g + momentum * v if nesterov else v
    theta -= theta.dtype.type(lr) * g


def _old_l2_backward(self, g):
    """L2PenaltyFunction.backward before ScaledGrad: a materialised 2λW per weight."""
    return tuple(
        w * (2 * self.lam * g) if needed else None
        for w, needed in zip(self.weights, self.needs_input_grad)
    )


def _patched(patches):
    """A contender factory: tinygrad_hlcv's step with `patches` (class, attribute, value)
    in force while it runs, and the classes restored after every step."""

    def make(*args):
        step = st.make_tinygrad(*args)

        def patched_step():
            saved = [(cls, name, vars(cls)[name]) for cls, name, _ in patches]
            for cls, name, value in patches:
                setattr(cls, name, value)
            try:
                return step()
            finally:
                for cls, name, value in saved:
                    setattr(cls, name, value)

        return patched_step

    return make


def _make_reused_dw_backward(original):
    """An experiment, not a change: LinearFunction.backward writing dW into one of two
    buffers kept per weight (np.matmul(..., out=)) instead of a new array every step.
    Only safe here, where nothing keeps last step's gradient."""
    import numpy as np

    buffers = {}

    def backward(self, g):
        if not self.needs_input_grad[1]:
            return original(self, g)
        g = np.ascontiguousarray(g)
        dx = g @ self.weight.T if self.needs_input_grad[0] else None
        pair = buffers.setdefault(
            id(self.weight), [np.empty((self.x.shape[1], g.shape[1]), g.dtype) for _ in range(2)]
        )
        pair.reverse()  # the other one: last step's may still be .grad until zero_grad
        dw = np.matmul(self.x.T, g, out=pair[0])
        if len(self.parents) == 2:
            return dx, dw
        db = np.empty(g.shape[1], dtype=g.dtype)
        from tinygrad_hlcv import kernels

        kernels.active.column_sum(g, db)
        return dx, dw, db

    return backward


def _parallel_weight_passes():
    """An experiment, not a change: scaled_add and sgd_update as numba parallel=True
    (prange) loops for arrays above 64 Ki elements, swapped into the Numba kernel set
    for that contender's steps. Returns the (namespace, name, value) patches."""
    import numba

    from tinygrad_hlcv import kernels

    @numba.njit(parallel=True)
    def scaled_add(acc, factor, x):
        for i in numba.prange(acc.size):
            acc[i] += factor * x[i]

    @numba.njit(parallel=True)
    def sgd_update(theta, grad, velocity, lr, momentum, weight_decay, nesterov, first):
        for i in numba.prange(theta.size):
            g = grad[i]
            if weight_decay != 0:
                g += weight_decay * theta[i]
            if momentum != 0:
                v = g if first else momentum * velocity[i] + g
                velocity[i] = v
                g = g + momentum * v if nesterov else v
            theta[i] -= lr * g

    def pick(parallel, serial):
        return lambda first_array, *rest: (parallel if first_array.size > 1 << 16 else serial)(
            first_array, *rest
        )

    ns = kernels.numba_kernels
    return [
        (ns, "scaled_add", pick(scaled_add, kernels.scaled_add)),
        (ns, "sgd_update", pick(sgd_update, kernels.sgd_update)),
    ]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = st.parse_args([a for a in argv if a != "--experiments"])
    if "--dtypes" not in argv:
        args.dtypes = ["float32"]
    how, _limiter = pin_threads(args.threads)
    from tinygrad_hlcv import fused, optim

    no_sgd = [(optim.SGD, "_update", _old_sgd_update)]
    no_fold = [
        (fused.L2Penalty, "backward", _old_l2_backward),
        (fused.Linear, "fresh_grads", False),
    ]
    contenders = [
        ("tinygrad_hlcv", st.make_tinygrad),
        ("no fused SGD", _patched(no_sgd)),
        ("no L2 fold", _patched(no_fold)),
        ("neither", _patched(no_sgd + no_fold)),
        ("numpy-ref", st.make_numpy_reference),
    ]
    if "--experiments" in argv:
        reuse = [(fused.Linear, "backward", _make_reused_dw_backward(fused.Linear.backward))]
        contenders.insert(4, ("+ reused dW buffers", _patched(reuse)))
        contenders.insert(5, ("+ parallel weight passes", _patched(_parallel_weight_passes())))
    for rev in args.baseline:
        contenders.append(st.load_baseline(rev))
    info = machine_info(args.threads, how)
    print(
        f"# {info['cpu']}, {args.threads} threads; load average "
        f"{info['load_average_at_start'][0]:.2f}",
        flush=True,
    )
    rows, results = [], []
    for dtype in args.dtypes:
        for net in args.nets:
            stats = st.run_config(net, dtype, contenders, args)
            stats.pop("gemm-peak")
            base = stats["tinygrad_hlcv"]["ms"]
            for name, s in stats.items():
                s["ratio_to_current"] = st.paired_ratio(s, stats["tinygrad_hlcv"])
                s["ratio_to_numpy_ref"] = st.paired_ratio(s, stats["numpy-ref"])
                results.append({"net": net, "dtype": dtype, "contender": name, **s})
                rows.append(
                    [
                        net,
                        dtype,
                        name,
                        f"{s['ms']:.2f}",
                        f"{s['q25_ms']:.2f}–{s['q75_ms']:.2f}",
                        f"{s['ms'] - base:+.2f}",
                        st._ratio_cell(s["ratio_to_current"]),
                        st._ratio_cell(s["ratio_to_numpy_ref"]),
                    ]
                )
    print(
        fmt_table(
            [
                "net",
                "dtype",
                "variant",
                "ms/step",
                "IQR ms",
                "Δ median ms",
                "× current (IQR)",
                "× numpy-ref (IQR)",
            ],
            rows,
        )
    )
    print("\n× columns: median over rounds of the paired ratio of block medians.")
    if args.json:
        write_json_atomic(args.json, {"machine": info, "settings": vars(args), "results": results})
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    sys.exit(main())
