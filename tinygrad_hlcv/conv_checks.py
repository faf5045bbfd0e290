"""The window arithmetic of convolution and pooling and the checks of their arguments (a
user's mistakes), shared by conv.py's functions, their Tensor methods and nn.conv's layers,
so that a kernel never sees a geometry that was not checked.

Sizes (kernel_size, stride, dilation) are an int for both dims or a pair (height, width).
Padding is an int, a pair (height, width) for both sides, or four sizes (left, right, top,
bottom) as F.pad and tinygrad take them; the ops take it as (top, bottom, left, right).
"""

from typing import Any

import numpy as np

from .convert import is_whole, shown, with_article
from .dtypes import FLOAT_DTYPES
from .engine import Tensor
from .errors import ConfigError, DTypeError, ShapeError

Pair = tuple[int, int]
Padding = tuple[int, int, int, int]  # top, bottom, left, right


def output_size(
    size: int, kernel: int, stride: int, before: int, after: int, dilation: int, ceil: bool = False
) -> int:
    """How many windows of `kernel` taps `dilation` apart fit `size` padded, `stride` apart;
    with `ceil`, also a last partial window if it starts inside x or its padding before
    (PyTorch's ceil_mode rule)."""
    span = size + before + after - dilation * (kernel - 1) - 1
    count = (span + (stride - 1 if ceil else 0)) // stride + 1
    return count - 1 if ceil and (count - 1) * stride >= size + before else count


def pair(value: Any, what: str, name: str, smallest: int = 1) -> Pair:
    """An int or a pair of ints, each >= smallest, as a pair."""
    sizes = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(sizes) != 2 or not all(is_whole(v) and v >= smallest for v in sizes):
        raise ConfigError(
            f"{what}: {name} must be an integer >= {smallest} or a pair of them, got {shown(value)}"
        )
    return int(sizes[0]), int(sizes[1])


def padding_of(value: Any, what: str) -> Padding:
    """(top, bottom, left, right) from an int, a pair (height, width) or four sizes (left,
    right, top, bottom)."""
    sizes = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(sizes) not in (2, 4) or not all(is_whole(v) and v >= 0 for v in sizes):
        raise ConfigError(
            f"{what}: padding must be an integer >= 0, a pair of them (height, width) or four "
            f"(left, right, top, bottom), got {shown(value)}"
        )
    left, right, top, bottom = sizes if len(sizes) == 4 else sizes[1:] * 2 + sizes[:1] * 2
    return int(top), int(bottom), int(left), int(right)


def conv_padding(padding: Any, kernel: Pair, dilation: Pair, stride: Pair, what: str) -> Padding:
    """A convolution's padding: sizes, 'valid' (none) or 'same' (the output as large as the
    input, stride 1; an odd total puts the extra row and column below and right, as PyTorch)."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        if stride != (1, 1):
            raise ConfigError(f"{what}: padding='same' needs stride 1, got stride {stride}")
        th, tw = (d * (k - 1) for d, k in zip(dilation, kernel))
        return (th // 2, th - th // 2, tw // 2, tw - tw // 2)
    if isinstance(padding, str):
        raise ConfigError(f"{what}: padding must be 'valid', 'same' or sizes, got {padding!r}")
    return padding_of(padding, what)


def pool_options(
    kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: Any, what: str
) -> dict[str, Any]:
    """The pooling ops' kernel, stride (the kernel's by default), padding (each side at most
    half the kernel, PyTorch's rule: no window then lies in the padding alone), dilation and
    ceil_mode, checked."""
    kernel = pair(kernel_size, what, "kernel_size")
    strides = kernel if stride is None else pair(stride, what, "stride")
    pads = padding_of(padding, what)
    if 2 * max(pads[:2]) > kernel[0] or 2 * max(pads[2:]) > kernel[1]:
        raise ConfigError(
            f"{what}: padding {shown(padding)} is more than half of kernel_size {kernel}; "
            "expected padding <= kernel_size / 2 (as PyTorch)"
        )
    dilations, ceil = pair(dilation, what, "dilation"), flag(ceil_mode, what, "ceil_mode")
    return dict(kernel=kernel, stride=strides, padding=pads, dilation=dilations, ceil_mode=ceil)


def pool_input(x: Any, options: dict[str, Any], what: str) -> Tensor:
    """x as a float (N, C, H, W) Tensor that the pooling `options` leave a window of."""
    x = image(x, what)
    o = options
    windows_fit(x, o["kernel"], o["stride"], o["padding"], o["dilation"], what, o["ceil_mode"])
    return x


def flag(value: Any, what: str, name: str) -> bool:
    """A bool argument, checked (a 1 or 'yes' is refused rather than guessed)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{what}: {name} must be True or False, got {shown(value)}")
    return bool(value)


def divisor(value: Any, what: str) -> int | None:
    """avg_pool2d's divisor_override: None or a non-zero integer."""
    if value is not None and (not is_whole(value) or value == 0):
        raise ConfigError(
            f"{what}: divisor_override must be a non-zero integer or None, got {shown(value)}"
        )
    return None if value is None else int(value)


def float_tensor(x: Any, what: str, name: str = "input") -> Tensor:
    """x as a float32 or float64 Tensor; a NumPy array becomes a constant Tensor."""
    x = Tensor(x) if isinstance(x, np.ndarray) else x
    if not isinstance(x, Tensor):
        raise DTypeError(
            f"{what}: {name} must be a Tensor or a NumPy array, got "
            f"{with_article(type(x).__name__)}"
        )
    if x.dtype not in FLOAT_DTYPES:
        raise DTypeError(
            f"{what}: {name} must be float32 or float64, got dtype {x.dtype}; "
            "convert it with Tensor(x, dtype=np.float32)"
        )
    return x


def image(x: Any, what: str) -> Tensor:
    """x as a float (N, C, H, W) Tensor with no empty dim."""
    x = float_tensor(x, what)
    if x.ndim != 4 or 0 in x.shape:
        raise ShapeError(
            f"{what}: input of shape {x.shape}; expected a 4-D (N, C, H, W) input with no empty dim"
        )
    return x


def same_dtype(p: Tensor, x: Tensor, what: str, name: str) -> None:
    if p.dtype != x.dtype:
        raise DTypeError(
            f"{what}: {name} has dtype {p.dtype}, the input {x.dtype}; expected one dtype "
            f"(convert with Tensor(x, dtype=np.{p.dtype}))"
        )


def windows_fit(
    x: Tensor, kernel: Pair, stride: Pair, padding: Padding, dilation: Pair, what: str, ceil: bool
) -> None:
    """At least one window in each dim: one fits the padded input, or with ceil_mode one
    overhangs it (as PyTorch)."""
    (pt, pb, pl, pr), (h, w) = padding, x.shape[2:]
    rows = output_size(h, kernel[0], stride[0], pt, pb, dilation[0], ceil)
    columns = output_size(w, kernel[1], stride[1], pl, pr, dilation[1], ceil)
    if min(rows, columns) < 1:
        span = tuple(d * (k - 1) + 1 for d, k in zip(dilation, kernel))
        padded = (h + pt + pb, w + pl + pr)
        raise ShapeError(
            f"{what}: the kernel spans {span[0]}×{span[1]} pixels (kernel_size {kernel}, "
            f"dilation {dilation}), more than the padded input's {padded[0]}×{padded[1]}; "
            "expected a kernel no larger than the padded input"
        )


def conv_weight(weight: Any, x: Tensor, groups: Any) -> Tensor:
    """The (O, C/groups, kh, kw) weight of x's dtype, and groups dividing O and C."""
    if not is_whole(groups) or groups < 1:
        raise ConfigError(f"conv2d: groups must be a positive integer, got {shown(groups)}")
    weight = float_tensor(weight, "conv2d", "weight")
    same_dtype(weight, x, "conv2d", "weight")
    if weight.ndim != 4 or 0 in weight.shape:
        raise ShapeError(
            f"conv2d: weight of shape {weight.shape}; expected a 4-D weight "
            "(out_channels, in_channels/groups, kh, kw)"
        )
    if weight.shape[0] % groups or weight.shape[1] * groups != x.shape[1]:
        raise ShapeError(
            f"conv2d: input of shape {x.shape} ({x.shape[1]} channels) does not fit weight of "
            f"shape {weight.shape} with groups={groups}; expected {weight.shape[1] * groups} "
            f"input channels and out_channels divisible by {groups}"
        )
    return weight


def conv_bias(bias: Any, weight: Tensor, x: Tensor) -> Tensor:
    """The (O,) bias of x's dtype."""
    bias = float_tensor(bias, "conv2d", "bias")
    same_dtype(bias, x, "conv2d", "bias")
    if bias.shape != (weight.shape[0],):
        raise ShapeError(
            f"conv2d: bias of shape {bias.shape}; expected shape ({weight.shape[0]},), "
            "one per output channel"
        )
    return bias
