"""Conv2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d and BatchNorm2d on NCHW inputs, and their
functions with the argument checks, as PyTorch's; the maths is the ops of tinygrad_hlcv/conv.py
(im2col and BLAS) and the fused BatchNorm of tinygrad_hlcv/normalization.py.

A size argument (kernel_size, stride, padding, dilation) is an int for both dims or a pair
(height, width). Conv2d's padding may also be 'valid' (none) or 'same' (the output as large
as the input, stride 1; an even kernel pads one more below and right, as PyTorch).
"""

import math
from typing import Any

import numpy as np

from .. import conv
from ..convert import is_whole, shown
from ..dtypes import check_float_dtype, get_default_dtype
from ..engine import Tensor
from ..errors import ConfigError, DTypeError, ShapeError
from . import init
from .module import Module
from .normalization import BatchNorm1d, _flag, _float_input
from .normalization import batch_norm as _batch_norm

__all__ = [
    "Conv2d",
    "MaxPool2d",
    "AvgPool2d",
    "AdaptiveAvgPool2d",
    "BatchNorm2d",
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
    "adaptive_avg_pool2d",
    "batch_norm2d",
]

Size = int | tuple[int, int]


def _pair(value: Any, what: str, name: str, smallest: int = 1) -> tuple[int, int]:
    """An int or a pair of ints, each >= smallest, as a pair."""
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or not all(is_whole(v) and v >= smallest for v in pair):
        raise ConfigError(
            f"{what}: {name} must be an integer >= {smallest} or a pair of them, got {shown(value)}"
        )
    return int(pair[0]), int(pair[1])


def _image(x: Any, what: str) -> Tensor:
    """x as a float (N, C, H, W) Tensor with no empty dim."""
    x = _float_input(x, what)
    if x.ndim != 4 or 0 in x.shape:
        raise ShapeError(
            f"{what}: input of shape {x.shape}; expected a 4-D (N, C, H, W) input with no empty dim"
        )
    return x


def _same_dtype(p: Tensor, x: Tensor, what: str, name: str) -> None:
    if p.dtype != x.dtype:
        raise DTypeError(
            f"{what}: {name} has dtype {p.dtype}, the input {x.dtype}; expected one dtype "
            f"(convert with Tensor(x, dtype=np.{p.dtype}))"
        )


def _conv_padding(
    padding: Any, kernel: tuple[int, int], dilation: tuple[int, int], stride: tuple[int, int]
) -> conv.Padding:
    """(top, bottom, left, right) for an int, a pair, 'valid' or 'same'."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        if stride != (1, 1):
            raise ConfigError(f"conv2d: padding='same' needs stride 1, got stride {stride}")
        (th, tw) = (d * (k - 1) for d, k in zip(dilation, kernel))
        return (th // 2, th - th // 2, tw // 2, tw - tw // 2)
    if isinstance(padding, str):
        raise ConfigError(f"conv2d: padding must be 'valid', 'same' or sizes, got {padding!r}")
    ph, pw = _pair(padding, "conv2d", "padding", smallest=0)
    return (ph, ph, pw, pw)


def _windows_fit(
    x: Tensor, kernel: tuple[int, int], padding: conv.Padding, dilation: tuple[int, int], what: str
) -> None:
    """At least one window fits the padded input in each dim."""
    span = tuple(d * (k - 1) + 1 for d, k in zip(dilation, kernel))
    padded = (x.shape[2] + padding[0] + padding[1], x.shape[3] + padding[2] + padding[3])
    if span[0] > padded[0] or span[1] > padded[1]:
        raise ShapeError(
            f"{what}: the kernel spans {span[0]}×{span[1]} pixels (kernel_size {kernel}, "
            f"dilation {dilation}), more than the padded input's {padded[0]}×{padded[1]}; "
            "expected a kernel no larger than the padded input"
        )


def _conv_weight(weight: Any, x: Tensor, groups: int) -> Tensor:
    weight = _float_input(weight, "conv2d", "weight")
    _same_dtype(weight, x, "conv2d", "weight")
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


def conv2d(
    input: Tensor | np.ndarray,
    weight: Tensor | np.ndarray,
    bias: Tensor | np.ndarray | None = None,
    stride: Size = 1,
    padding: Size | str = 0,
    dilation: Size = 1,
    groups: int = 1,
) -> Tensor:
    """2-D cross-correlation of an (N, C, H, W) input with weight (O, C/groups, kh, kw) plus
    bias (O,), as PyTorch's F.conv2d: y[n, o, oy, ox] = b[o] + Σ W[o, c, i, j]·x[n, c, oy·sh −
    pt + i·dh, ox·sw − pl + j·dw], zeros outside x."""
    x = _image(input, "conv2d")
    if not is_whole(groups) or groups < 1:
        raise ConfigError(f"conv2d: groups must be a positive integer, got {shown(groups)}")
    weight = _conv_weight(weight, x, int(groups))
    kernel = (weight.shape[2], weight.shape[3])
    strides = _pair(stride, "conv2d", "stride")
    dilations = _pair(dilation, "conv2d", "dilation")
    pads = _conv_padding(padding, kernel, dilations, strides)
    _windows_fit(x, kernel, pads, dilations, "conv2d")
    parents: tuple[Tensor, ...] = (x, weight)
    if bias is not None:
        bias = _float_input(bias, "conv2d", "bias")
        _same_dtype(bias, x, "conv2d", "bias")
        if bias.shape != (weight.shape[0],):
            raise ShapeError(
                f"conv2d: bias of shape {bias.shape}; expected shape ({weight.shape[0]},), "
                "one per output channel"
            )
        parents += (bias,)
    return conv.Conv2d.apply(
        *parents, stride=strides, padding=pads, dilation=dilations, groups=int(groups)
    )


def _pool_args(
    kernel_size: Size, stride: Size | None, padding: Size, what: str
) -> tuple[tuple[int, int], tuple[int, int], conv.Padding]:
    """Kernel, stride (the kernel's by default) and padding, at most half the kernel."""
    kernel = _pair(kernel_size, what, "kernel_size")
    strides = kernel if stride is None else _pair(stride, what, "stride")
    ph, pw = _pair(padding, what, "padding", smallest=0)
    if 2 * ph > kernel[0] or 2 * pw > kernel[1]:
        raise ConfigError(
            f"{what}: padding {(ph, pw)} is more than half of kernel_size {kernel}; expected "
            "padding <= kernel_size / 2 (as PyTorch)"
        )
    return kernel, strides, (ph, ph, pw, pw)


def max_pool2d(
    input: Tensor | np.ndarray,
    kernel_size: Size,
    stride: Size | None = None,
    padding: Size = 0,
    dilation: Size = 1,
) -> Tensor:
    """The maximum of each window of an (N, C, H, W) input, as PyTorch's F.max_pool2d (padding
    never wins; the gradient goes to the first maximum of a window)."""
    x = _image(input, "max_pool2d")
    kernel, strides, pads = _pool_args(kernel_size, stride, padding, "max_pool2d")
    dilations = _pair(dilation, "max_pool2d", "dilation")
    _windows_fit(x, kernel, pads, dilations, "max_pool2d")
    return conv.MaxPool2d.apply(x, kernel=kernel, stride=strides, padding=pads, dilation=dilations)


def avg_pool2d(
    input: Tensor | np.ndarray,
    kernel_size: Size,
    stride: Size | None = None,
    padding: Size = 0,
    count_include_pad: bool = True,
) -> Tensor:
    """The mean of each window of an (N, C, H, W) input, as PyTorch's F.avg_pool2d: padding
    counts as zeros, and in the divisor unless count_include_pad=False."""
    x = _image(input, "avg_pool2d")
    kernel, strides, pads = _pool_args(kernel_size, stride, padding, "avg_pool2d")
    _windows_fit(x, kernel, pads, (1, 1), "avg_pool2d")
    include = _flag(count_include_pad, "avg_pool2d", "count_include_pad")
    return conv.AvgPool2d.apply(
        x, kernel=kernel, stride=strides, padding=pads, count_include_pad=include
    )


def adaptive_avg_pool2d(input: Tensor | np.ndarray, output_size: Size) -> Tensor:
    """Averages over (H/oh)×(W/ow) blocks, so that the output is (N, C, oh, ow); output_size 1
    is the global average pool. Sizes that do not divide the input are refused."""
    x = _image(input, "adaptive_avg_pool2d")
    size = _pair(output_size, "adaptive_avg_pool2d", "output_size")
    if x.shape[2] % size[0] or x.shape[3] % size[1]:
        raise ConfigError(
            f"adaptive_avg_pool2d: output_size {size} does not divide the input's "
            f"{x.shape[2]}×{x.shape[3]}; expected sizes that divide H and W (PyTorch's "
            "uneven windows are not implemented)"
        )
    block = (x.shape[2] // size[0], x.shape[3] // size[1])
    return conv.AvgPool2d.apply(x, kernel=block, stride=block, padding=(0, 0, 0, 0))


def batch_norm2d(
    input: Tensor | np.ndarray,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | np.ndarray | None = None,
    bias: Tensor | np.ndarray | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalisation of an (N, C, H, W) input per channel over its N·H·W values, as
    PyTorch's F.batch_norm on 4-D inputs (see nn.batch_norm); H and W are flattened into one
    axis for the fused BatchNorm."""
    x = _bn_image(input, "batch_norm2d", training)
    n, c, h, w = x.shape
    out = _batch_norm(
        x.reshape(n, c, h * w), running_mean, running_var, weight, bias, training, momentum, eps
    )
    return out.reshape(n, c, h, w)


def _bn_image(x: Any, what: str, batch_stats: bool) -> Tensor:
    x = _image(x, what)
    if batch_stats and x.data.size // x.shape[1] <= 1:
        raise ShapeError(
            f"{what}: input of shape {x.shape} has 1 value per channel; expected more than 1 "
            "in training mode (the batch variance needs two)"
        )
    return x


def _channels(in_channels: int, out_channels: int, groups: int) -> tuple[int, int, int]:
    """Conv2d's channel counts, checked: positive integers, groups dividing both."""
    sizes = (in_channels, out_channels, groups)
    if not all(is_whole(v) and v >= 1 for v in sizes):
        raise ConfigError(
            "Conv2d: in_channels, out_channels and groups must be positive integers, got "
            f"{in_channels!r}, {out_channels!r}, {groups!r}"
        )
    if in_channels % groups or out_channels % groups:
        raise ConfigError(
            f"Conv2d: groups={groups} must divide in_channels={in_channels} and "
            f"out_channels={out_channels}"
        )
    return int(in_channels), int(out_channels), int(groups)


class Conv2d(Module):
    """2-D convolution (cross-correlation) of (N, C, H, W) inputs, as PyTorch's, with weight
    (out_channels, in_channels/groups, kh, kw) and bias (out_channels,).

    Initialisation as PyTorch's: weight Kaiming-uniform with a = √5 (uniform on ±1/√fan_in,
    fan_in = in_channels/groups·kh·kw) and bias uniform on ±1/√fan_in.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Size,
        stride: Size = 1,
        padding: Size | str = 0,
        dilation: Size = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        *,
        dtype: Any = None,
        generator: np.random.Generator | None = None,
    ) -> None:
        self.in_channels, self.out_channels, self.groups = _channels(
            in_channels, out_channels, groups
        )
        if padding_mode != "zeros":
            raise ConfigError(f"Conv2d: padding_mode must be 'zeros', got {padding_mode!r}")
        self.kernel_size = _pair(kernel_size, "Conv2d", "kernel_size")
        self.stride = _pair(stride, "Conv2d", "stride")
        self.dilation = _pair(dilation, "Conv2d", "dilation")
        self.padding = (
            padding if isinstance(padding, str) else _pair(padding, "Conv2d", "padding", 0)
        )
        _conv_padding(self.padding, self.kernel_size, self.dilation, self.stride)
        dtype = check_float_dtype(dtype or get_default_dtype(), "Conv2d")
        shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        self.weight = Tensor(np.empty(shape, dtype), requires_grad=True)
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), generator=generator)
        self.bias = None
        if bias:
            bound = 1 / math.sqrt(shape[1] * shape[2] * shape[3])  # 1/√fan_in
            self.bias = Tensor(np.empty(self.out_channels, dtype), requires_grad=True)
            init.uniform_(self.bias, -bound, bound, generator=generator)

    def forward(self, x: Tensor | np.ndarray) -> Tensor:
        return conv2d(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
            f"groups={self.groups}, bias={self.bias is not None}"
        )


class MaxPool2d(Module):
    """The maximum of each kernel_size window, `stride` apart (kernel_size by default), of
    (N, C, H, W) inputs, as PyTorch's."""

    def __init__(
        self, kernel_size: Size, stride: Size | None = None, padding: Size = 0, dilation: Size = 1
    ) -> None:
        _pool_args(kernel_size, stride, padding, "MaxPool2d")  # checked now, used in forward
        _pair(dilation, "MaxPool2d", "dilation")
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation = dilation

    def forward(self, x: Tensor | np.ndarray) -> Tensor:
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}"
        )


class AvgPool2d(Module):
    """The mean of each kernel_size window, `stride` apart (kernel_size by default), of
    (N, C, H, W) inputs, as PyTorch's."""

    def __init__(
        self,
        kernel_size: Size,
        stride: Size | None = None,
        padding: Size = 0,
        count_include_pad: bool = True,
    ) -> None:
        _pool_args(kernel_size, stride, padding, "AvgPool2d")
        _flag(count_include_pad, "AvgPool2d", "count_include_pad")
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.count_include_pad = count_include_pad

    def forward(self, x: Tensor | np.ndarray) -> Tensor:
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """The mean over blocks that make the output `output_size` (1: the global average pool)."""

    def __init__(self, output_size: Size) -> None:
        self.output_size = _pair(output_size, "AdaptiveAvgPool2d", "output_size")

    def forward(self, x: Tensor | np.ndarray) -> Tensor:
        return adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class BatchNorm2d(BatchNorm1d):
    """Batch normalisation of (N, C, H, W) inputs per channel over its N·H·W values, as
    PyTorch's: BatchNorm1d's running statistics, momentum, eps, affine and train/eval, on
    the image flattened to (N, C, H·W)."""

    def forward(self, x: Tensor | np.ndarray) -> Tensor:
        x = _bn_image(x, "BatchNorm2d", self.training or not self.track_running_stats)
        n, c, h, w = x.shape
        if c != self.num_features:
            raise ShapeError(
                f"BatchNorm2d: input of shape {x.shape} has {c} channels; expected "
                f"{self.num_features} (axis 1)"
            )
        return super().forward(x.reshape(n, c, h * w)).reshape(n, c, h, w)
