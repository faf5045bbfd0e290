"""Initialising a tensor in place, with PyTorch's names: `nn.init.kaiming_uniform_(w, a=...)`.

Each function fills `tensor.data` in place (under no_grad), adds 1 to its `_version`
(an in-place change, as an optimizer step is) and returns the tensor. Random ones draw
from `generator` (a numpy.random.Generator), else from the framework's seeded default
generator (`tinygrad_hlcv.manual_seed`), in float64, then cast to the tensor's dtype.

Fan-in and fan-out follow this framework's weight layout, which is not PyTorch's: a
Linear stores W as (in_features, out_features) (the derivation's `x W + b`), so for a
2-D tensor fan_in = shape[0] and fan_out = shape[1] (PyTorch, which stores (out, in),
takes shape[1] and shape[0]). With that rule `kaiming_uniform_(linear.weight, a=√5)` is
Linear's default init, uniform on ±1/√in_features, as in PyTorch. A tensor of 3 or more
dims is taken in PyTorch's convolution layout (out_channels, in_channels, *kernel):
fan_in = shape[1]·∏kernel, fan_out = shape[0]·∏kernel.
"""

import math

import numpy as np
import numpy.typing as npt

from ..convert import is_real, shown, with_article
from ..engine import Tensor, no_grad
from ..errors import ConfigError, DTypeError, ShapeError
from ..random import default_generator

__all__ = [
    "calculate_gain",
    "calculate_fan_in_and_fan_out",
    "uniform_",
    "normal_",
    "zeros_",
    "ones_",
    "constant_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "orthogonal_",
]

_LINEAR = (
    "linear",
    "identity",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
)


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The factor PyTorch scales an init's standard deviation by for `nonlinearity`: 1 for
    linear (and conv) and sigmoid, 5/3 for tanh, √2 for relu, √(2/(1 + slope²)) for
    leaky_relu (slope `param`, 0.01 by default), 3/4 for selu."""
    if nonlinearity in _LINEAR:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is not None and not is_real(param):
            raise ConfigError(
                f"calculate_gain: the negative slope of leaky_relu must be a "
                f"finite number, got {shown(param)}"
            )
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ConfigError(
        f"calculate_gain: unsupported nonlinearity {shown(nonlinearity)}; expected "
        "one of " + ", ".join(_LINEAR + ("tanh", "relu", "leaky_relu", "selu"))
    )


def calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight in this framework's layout (see the module's docstring):
    (shape[0], shape[1]) for a 2-D (in, out) weight; for (out, in, *kernel),
    (shape[1]·∏kernel, shape[0]·∏kernel)."""
    _check_tensor(tensor, "calculate_fan_in_and_fan_out")
    shape = tensor.shape
    if len(shape) < 2:
        raise ShapeError(
            f"fan in and fan out need a tensor of at least 2 dims, got shape "
            f"{shape}; expected a weight such as Linear's (in_features, "
            "out_features)"
        )
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


_calculate_fan_in_and_fan_out = calculate_fan_in_and_fan_out  # PyTorch's (private) name


def uniform_(
    tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: np.random.Generator | None = None
) -> Tensor:
    """Fill with values drawn uniformly from [a, b)."""
    _check_float(tensor, "uniform_")
    if not (is_real(a) and is_real(b) and a <= b):
        raise ConfigError(
            f"uniform_: expected finite bounds a <= b, got a={shown(a)}, b={shown(b)}"
        )
    return _fill(tensor, _generator(generator, "uniform_").uniform(a, b, tensor.shape))


def normal_(
    tensor: Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    generator: np.random.Generator | None = None,
) -> Tensor:
    """Fill with values drawn from N(mean, std²)."""
    _check_float(tensor, "normal_")
    if not (is_real(mean) and is_real(std) and std >= 0):
        raise ConfigError(
            f"normal_: expected a finite mean and a finite std >= 0, got "
            f"mean={shown(mean)}, std={shown(std)}"
        )
    return _fill(tensor, _generator(generator, "normal_").normal(mean, std, tensor.shape))


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with the number `val`."""
    _check_tensor(tensor, "constant_")
    if not isinstance(val, (int, float, np.integer, np.floating, bool, np.bool_)):
        raise ConfigError(f"constant_: val must be a number, got {shown(val)}")
    return _fill(tensor, np.full(tensor.shape, val))


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with 0."""
    return constant_(tensor, 0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with 1."""
    return constant_(tensor, 1)


def xavier_uniform_(
    tensor: Tensor, gain: float = 1.0, generator: np.random.Generator | None = None
) -> Tensor:
    """Glorot: uniform on ±gain·√(6/(fan_in + fan_out))."""
    bound = math.sqrt(3.0) * _xavier_std(tensor, gain, "xavier_uniform_")
    return _fill(
        tensor, _generator(generator, "xavier_uniform_").uniform(-bound, bound, tensor.shape)
    )


def xavier_normal_(
    tensor: Tensor, gain: float = 1.0, generator: np.random.Generator | None = None
) -> Tensor:
    """Glorot: N(0, std²) with std = gain·√(2/(fan_in + fan_out))."""
    std = _xavier_std(tensor, gain, "xavier_normal_")
    return _fill(tensor, _generator(generator, "xavier_normal_").normal(0.0, std, tensor.shape))


def kaiming_uniform_(
    tensor: Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: np.random.Generator | None = None,
) -> Tensor:
    """He: uniform on ±gain·√(3/fan), fan = fan_in or fan_out (`mode`), gain =
    calculate_gain(nonlinearity, a) (a: the leaky_relu slope that follows this layer)."""
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_uniform_")
    return _fill(
        tensor, _generator(generator, "kaiming_uniform_").uniform(-bound, bound, tensor.shape)
    )


def kaiming_normal_(
    tensor: Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: np.random.Generator | None = None,
) -> Tensor:
    """He: N(0, std²) with std = gain/√fan (see kaiming_uniform_).

    With `nonlinearity="relu"` (gain √2) and mode "fan_in", each ReLU layer keeps the
    variance of its activations, so a deep ReLU net neither vanishes nor explodes at init.

    Examples:
        >>> layer = nn.Linear(1000, 500)
        >>> w = nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        >>> round(float(w.data.std()), 2)  # √(2/1000)
        0.04
    """
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_normal_")
    return _fill(tensor, _generator(generator, "kaiming_normal_").normal(0.0, std, tensor.shape))


def orthogonal_(
    tensor: Tensor, gain: float = 1.0, generator: np.random.Generator | None = None
) -> Tensor:
    """A (semi-)orthogonal matrix times gain, as PyTorch's: the tensor is taken as
    shape[0] rows of the rest flattened, and the fewer of its rows or columns come out
    orthonormal (Q of the QR of a normal matrix, signs fixed by R's diagonal so that Q is
    uniformly distributed)."""
    _check_float(tensor, "orthogonal_")
    _check_gain(gain, "orthogonal_")
    if tensor.ndim < 2:
        raise ShapeError(
            f"orthogonal_: needs a tensor of at least 2 dims, got shape {tensor.shape}"
        )
    if tensor.data.size == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.data.size // rows
    flat = _generator(generator, "orthogonal_").standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _fill(tensor, gain * q.reshape(tensor.shape))


# ----- helpers ----------------------------------------------------------------------------


def _check_tensor(tensor: Tensor, what: str) -> None:
    if not isinstance(tensor, Tensor):
        raise DTypeError(
            f"nn.init.{what}: expected a Tensor, got {with_article(type(tensor).__name__)}"
        )


def _check_float(tensor: Tensor, what: str) -> None:
    _check_tensor(tensor, what)
    if tensor.dtype.kind != "f":
        raise DTypeError(
            f"nn.init.{what}: draws floats, but the tensor has dtype "
            f"{tensor.dtype}; expected a float32 or float64 tensor"
        )


def _check_gain(gain: float, what: str) -> None:
    if not is_real(gain):
        raise ConfigError(f"nn.init.{what}: gain must be a finite number, got {shown(gain)}")


def _generator(generator: np.random.Generator | None, what: str) -> np.random.Generator:
    if generator is None:
        return default_generator()
    if not isinstance(generator, np.random.Generator):
        raise ConfigError(
            f"nn.init.{what}: generator must be a numpy.random.Generator "
            f"(np.random.default_rng(seed)) or None, got "
            f"{with_article(type(generator).__name__)}"
        )
    return generator


def _xavier_std(tensor: Tensor, gain: float, what: str) -> float:
    _check_float(tensor, what)
    _check_gain(gain, what)
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    if fan_in + fan_out == 0:
        return 0.0
    return gain * math.sqrt(2.0 / (fan_in + fan_out))


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str, what: str) -> float:
    _check_float(tensor, what)
    if mode not in ("fan_in", "fan_out"):
        raise ConfigError(f"nn.init.{what}: mode must be 'fan_in' or 'fan_out', got {shown(mode)}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    gain = calculate_gain(nonlinearity, a)
    return gain / math.sqrt(fan) if fan else 0.0


def _fill(tensor: Tensor, values: npt.ArrayLike) -> Tensor:
    """Write `values` into the tensor's data in place and count the change: refused, with
    the tensor unchanged, if its dtype cannot hold them."""
    if not tensor.data.flags.writeable:
        raise ConfigError(
            "nn.init: the tensor's data is read-only (a broadcast view?); "
            "expected a tensor that owns writeable data"
        )
    values = np.asarray(values)
    with np.errstate(over="ignore", invalid="ignore"):
        cast = values.astype(tensor.dtype)
    if tensor.dtype.kind == "f" and (np.isfinite(values) & ~np.isfinite(cast)).any():
        raise ConfigError(
            f"nn.init: the values overflow {tensor.dtype}; expected bounds or a "
            "standard deviation that keep them finite"
        )
    if tensor.dtype.kind != "f" and (cast != values).any():
        raise DTypeError(
            f"nn.init: the value {values.flat[0]!r} does not fit dtype "
            f"{tensor.dtype}; expected a value within its range (an integer for "
            "an integer tensor)"
        )
    with no_grad():
        tensor.data[...] = cast
    tensor._version += 1
    return tensor
