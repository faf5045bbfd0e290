"""Shared parts of the benchmark scripts: the benchmark nets and tinygrad_hlcv's training
step on them, thread pinning, machine facts, JSON output, tables.

`pin_threads(n)` must run before NumPy, Numba or PyTorch is imported: the
BLAS and OpenMP pools read their sizes from the environment when they load.
"""

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the scripts run from a checkout, package not installed
    sys.path.insert(0, str(REPO))

# The three benchmark nets: name -> (layer sizes, hidden activation); the step's settings.
NETS = {
    "3072-100-10": ((3072, 100, 10), "relu"),
    "3072-600-10": ((3072, 600, 10), "relu"),
    "3072-550-128-100-10": ((3072, 550, 128, 100, 10), "leaky_relu"),
}
BATCH, LAM, LR, SLOPE = 200, 0.25, 1e-3, 0.01

# Issue 12's net, the one the later issues train: bias-free Linear -> BatchNorm1d -> ReLU
# (twice), then Linear with bias; cross-entropy; SGD with Nesterov momentum and weight decay
# on the weight matrices only. Kept apart from NETS: it has no closed-form numpy-ref.
BN_NETS = {"bn-mlp": ((3072, 1024, 1024, 10), "batchnorm-relu")}
BN_BATCH, BN_LR, BN_MOMENTUM, BN_WEIGHT_DECAY = 256, 0.05, 0.9, 5e-4


def batch_size(activation):
    """The batch of a net: 256 for the BatchNorm net, else the issue's 200."""
    return BN_BATCH if activation == "batchnorm-relu" else BATCH


THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def pin_threads(n):
    """Set every pool to n threads; returns how, for the report.

    The environment variables are set first (they only work before the libraries
    load); threadpoolctl, when installed, then also limits the loaded pools."""
    if "numpy" in sys.modules:
        raise RuntimeError("pin_threads() must run before numpy is imported")
    for var in THREAD_VARS:
        os.environ[var] = str(n)
    how = "env vars " + "/".join(THREAD_VARS) + f"={n} set before import"
    try:
        import threadpoolctl
    except ImportError:
        return how, None
    limiter = threadpoolctl.threadpool_limits(n)
    return how + " + threadpoolctl.threadpool_limits", limiter


def blas_info():
    """The BLAS NumPy uses, from threadpoolctl if installed, else numpy.show_config()."""
    import numpy as np

    try:
        import threadpoolctl

        return [
            {
                k: v
                for k, v in info.items()
                if k
                in ("internal_api", "version", "num_threads", "architecture", "threading_layer")
            }
            for info in threadpoolctl.threadpool_info()
        ]
    except ImportError:
        pass
    config = np.show_config(mode="dicts")
    blas = config.get("Build Dependencies", {}).get("blas", {})
    return {
        "name": blas.get("name"),
        "version": blas.get("version"),
        "configuration": blas.get("openblas configuration"),
    }


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def numba_threading_layer():
    """Numba's threading layer, found by running one tiny parallel function
    (`numba.threading_layer()` only answers after a parallel function ran)."""
    import numba
    import numpy as np

    @numba.njit(parallel=True, cache=False)
    def _probe(x):
        total = 0.0
        for i in numba.prange(x.size):
            total += x[i]
        return total

    _probe(np.ones(4))
    return numba.threading_layer()


def machine_info(threads, how):
    import numba
    import numpy as np

    info = {
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "blas": blas_info(),
        "numba_threading_layer": numba_threading_layer(),
        "threads": threads,
        "thread_pinning": how,
        "load_average_at_start": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    return info


def write_json_atomic(path, data):
    """Write JSON to a temp file beside `path`, then os.replace: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, default=_jsonable)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def quantiles(samples):
    """(median, 25th, 75th percentile) of a list of numbers."""
    import numpy as np

    q25, q50, q75 = np.percentile(np.asarray(samples, dtype=float), [25, 50, 75])
    return float(q50), float(q25), float(q75)


def fmt_table(header, rows):
    """A GitHub-markdown table, columns padded for the terminal."""
    cells = [list(map(str, header))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def make_tinygrad(sizes, activation, dtype, X, y, weights=None, biases=None, package=None):
    """tinygrad_hlcv's benchmark step, as a user writes it (README): forward, softmax
    cross-entropy + λ Σ‖W‖², backward, SGD. Returns step() -> loss. weights/biases:
    start values (default: the layers' own initialisation); package: another copy of
    tinygrad_hlcv (a baseline revision)."""
    if package is None:
        import tinygrad_hlcv as package
    if activation == "batchnorm-relu":
        return make_tinygrad_bn(sizes, dtype, X, y, weights, biases, package)
    Tensor, nn, optim = package.Tensor, package.nn, package.optim
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        linear = nn.Linear(fan_in, fan_out, dtype=dtype)
        if weights is not None:
            linear.weight.data[...] = weights[i]
            linear.bias.data[...] = biases[i]
        layers.append(linear)
        if i < len(sizes) - 2:
            layers.append(nn.ReLU() if activation == "relu" else nn.LeakyReLU(SLOPE))
    model = nn.Sequential(*layers)
    loss_fn = nn.SoftmaxCrossEntropy()
    opt = optim.SGD(model.parameters(), lr=LR)
    x = Tensor(X)

    def step():
        loss = loss_fn(model(x), y) + nn.l2_penalty(model, LAM)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    return step


def make_tinygrad_bn(sizes, dtype, X, y, weights, biases, package):
    """The BN_NETS step: Linear(bias=False) -> BatchNorm1d -> ReLU per hidden layer, a last
    Linear with bias; CrossEntropyLoss; SGD (Nesterov) with weight decay on the 2-D weights
    only (two parameter groups), as PyTorch users write it."""
    Tensor, nn, optim = package.Tensor, package.nn, package.optim
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        linear = nn.Linear(fan_in, fan_out, bias=last, dtype=dtype)
        if weights is not None:
            linear.weight.data[...] = weights[i]
            if last:
                linear.bias.data[...] = biases[i]
        layers.append(linear)
        if not last:
            layers += [nn.BatchNorm1d(fan_out, dtype=dtype), nn.ReLU()]
    model = nn.Sequential(*layers)
    params = list(model.parameters())
    groups = [
        {"params": [p for p in params if p.ndim == 2], "weight_decay": BN_WEIGHT_DECAY},
        {"params": [p for p in params if p.ndim != 2], "weight_decay": 0.0},
    ]
    opt = optim.SGD(groups, lr=BN_LR, momentum=BN_MOMENTUM, nesterov=True)
    loss_fn = nn.CrossEntropyLoss()
    x = Tensor(X)

    def step():
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    return step
