"""What each speed change is worth: the training step with one change at a time undone.

Same method and nets as step_time.py (interleaved blocks, one process, medians),
float32 by default. The contenders are tinygrad_hlcv as it is and with changes
undone by patching the classes for the duration of that contender's steps:
  no fused SGD   optim.SGD._update as before: NumPy `θ -= lr·g` (temporaries)
  no L2 fold     the L2 penalty returns 2λW as an array, and Linear's gradients are
                 not marked fresh, so the engine allocates 2λW and then the sum
  neither        both undone: the weight-sized passes of the original step
plus the NumPy reference, and optionally `--baseline GIT_REV` (the package
as it was at a revision, e.g. the first commit b382a4b).

    python benchmarks/ablation.py [--threads 1] [--repeats N] [--json PATH]
"""
import sys

import step_time as st
from _common import fmt_table, machine_info, pin_threads, write_json_atomic


def _old_sgd_update(self, theta, grad, state):
    """optim.SGD._update before the sgd_update kernel."""
    g = grad + self.weight_decay * theta if self.weight_decay else grad
    if self.momentum:
        v = state.get("momentum_buffer")
        if v is None:
            v = state["momentum_buffer"] = g.copy()
        else:
            v *= self.momentum
            v += g
        g = g + self.momentum * v if self.nesterov else v
    theta -= theta.dtype.type(self.lr) * g


def _old_l2_backward(self, g):
    """L2PenaltyFunction.backward before ScaledGrad: a materialised 2λW per weight."""
    return tuple(w * (2 * self.lam * g) if needed else None
                 for w, needed in zip(self.weights, self.needs_input_grad))


def _patched(patches):
    """A contender factory: tinygrad_hlcv's step with `patches` (class, attribute, value)
    in force while it runs, and the classes restored after every step."""
    def make(*args):
        step = st.make_tinygrad(*args)

        def patched_step():
            saved = [(cls, name, cls.__dict__[name]) for cls, name, _ in patches]
            for cls, name, value in patches:
                setattr(cls, name, value)
            try:
                return step()
            finally:
                for cls, name, value in saved:
                    setattr(cls, name, value)
        return patched_step
    return make


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = st.parse_args(argv)
    if "--dtypes" not in argv:
        args.dtypes = ["float32"]
    how, _limiter = pin_threads(args.threads)
    from tinygrad_hlcv import optim
    from tinygrad_hlcv.nn import functional as F
    no_sgd = [(optim.SGD, "_update", _old_sgd_update)]
    no_fold = [(F.L2PenaltyFunction, "backward", _old_l2_backward),
               (F.LinearFunction, "fresh_grads", False)]
    contenders = [("tinygrad_hlcv", st.make_tinygrad),
                  ("no fused SGD", _patched(no_sgd)),
                  ("no L2 fold", _patched(no_fold)),
                  ("neither", _patched(no_sgd + no_fold)),
                  ("numpy-ref", st.make_numpy_reference)]
    for rev in args.baseline:
        contenders.append(st.load_baseline(rev))
    info = machine_info(args.threads, how)
    print(f"# {info['cpu']}, {args.threads} threads; load average "
          f"{info['load_average_at_start'][0]:.2f}", flush=True)
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
                rows.append([net, dtype, name, f"{s['ms']:.2f}",
                             f"{s['q25_ms']:.2f}–{s['q75_ms']:.2f}",
                             f"{s['ms'] - base:+.2f}", st._ratio_cell(s["ratio_to_current"]),
                             st._ratio_cell(s["ratio_to_numpy_ref"])])
    print(fmt_table(["net", "dtype", "variant", "ms/step", "IQR ms", "Δ median ms",
                     "× current (IQR)", "× numpy-ref (IQR)"], rows))
    print("\n× columns: median over rounds of the paired ratio of block medians.")
    if args.json:
        write_json_atomic(args.json, {"machine": info, "settings": vars(args),
                                      "results": results})
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    sys.exit(main())
