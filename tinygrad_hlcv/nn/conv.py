"""The image layers on NCHW inputs, as PyTorch's: Conv2d (with padding_mode), MaxPool2d,
AvgPool2d, AdaptiveAvgPool2d, BatchNorm2d, Dropout2d's function and the padding layers
ZeroPad2d, ReflectionPad2d and ReplicationPad2d. The functions conv2d, max_pool2d and
avg_pool2d, with their argument checks, are the core's (tinygrad_hlcv/conv.py, also Tensor
methods); the maths is its ops (im2col and BLAS) and the fused BatchNorm of
tinygrad_hlcv/normalization.py.

A size argument (kernel_size, stride, padding, dilation) is an int for both dims or a pair
(height, width). Conv2d's padding may also be 'valid' (none), 'same' (the output as large
as the input, stride 1; an even kernel pads one more below and right, as PyTorch) or four
sizes (left, right, top, bottom) as tinygrad's.
"""

import math
from typing import Any

import numpy as np

from .. import conv_checks as checks
from ..conv import AvgPool2d as _AvgPool2dOp
from ..conv import avg_pool2d, conv2d, max_pool2d
from ..convert import is_whole, shown
from ..dtypes import check_float_dtype, get_default_dtype
from ..engine import Tensor
from ..errors import ConfigError, ShapeError
from ..movement import pad
from . import functional, init
from .module import Module
from .normalization import BatchNorm1d
from .normalization import batch_norm as _batch_norm

__all__ = [
    "Conv2d",
    "MaxPool2d",
    "AvgPool2d",
    "AdaptiveAvgPool2d",
    "BatchNorm2d",
    "ZeroPad2d",
    "ReflectionPad2d",
    "ReplicationPad2d",
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
    "adaptive_avg_pool2d",
    "batch_norm2d",
    "dropout2d",
    "pad",
]

Size = int | tuple[int, ...]
PADDING_MODES = {  # Conv2d's padding_mode: F.pad's mode
    "zeros": "constant",
    "reflect": "reflect",
    "replicate": "replicate",
    "circular": "circular",
}


def adaptive_avg_pool2d(input: Tensor | np.ndarray, output_size: Size) -> Tensor:
    """Averages over (H/oh)×(W/ow) blocks, so that the output is (N, C, oh, ow); output_size 1
    is the global average pool. Sizes that do not divide the input are refused."""
    x = checks.image(input, "adaptive_avg_pool2d")
    size = checks.pair(output_size, "adaptive_avg_pool2d", "output_size")
    if x.shape[2] % size[0] or x.shape[3] % size[1]:
        raise ConfigError(
            f"adaptive_avg_pool2d: output_size {size} does not divide the input's "
            f"{x.shape[2]}×{x.shape[3]}; expected sizes that divide H and W (PyTorch's "
            "uneven windows are not implemented)"
        )
    block = (x.shape[2] // size[0], x.shape[3] // size[1])
    return _AvgPool2dOp.apply(x, kernel=block, stride=block, padding=(0, 0, 0, 0))


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
    x = checks.image(x, what)
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

    padding_mode 'zeros' pads with zeros; 'reflect', 'replicate' and 'circular' pad the input
    so (F.pad) and then convolve it unpadded, as PyTorch's. Initialisation as PyTorch's:
    weight Kaiming-uniform with a = √5 (uniform on ±1/√fan_in, fan_in =
    in_channels/groups·kh·kw) and bias uniform on ±1/√fan_in.
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
        self._geometry(kernel_size, stride, padding, dilation, padding_mode)
        dtype = check_float_dtype(dtype or get_default_dtype(), "Conv2d")
        shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        self.weight = Tensor(np.empty(shape, dtype), requires_grad=True)
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), generator=generator)
        self.bias = None
        if bias:
            bound = 1 / math.sqrt(shape[1] * shape[2] * shape[3])  # 1/√fan_in
            self.bias = Tensor(np.empty(self.out_channels, dtype), requires_grad=True)
            init.uniform_(self.bias, -bound, bound, generator=generator)

    def _geometry(
        self, kernel_size: Size, stride: Size, padding: Any, dilation: Size, padding_mode: str
    ) -> None:
        """The sizes, checked; padding kept as given ('same', a pair, or four sizes)."""
        if padding_mode not in PADDING_MODES:
            raise ConfigError(
                f"Conv2d: padding_mode must be one of {sorted(PADDING_MODES)}, got {padding_mode!r}"
            )
        self.padding_mode = padding_mode
        self.kernel_size = checks.pair(kernel_size, "Conv2d", "kernel_size")
        self.stride = checks.pair(stride, "Conv2d", "stride")
        self.dilation = checks.pair(dilation, "Conv2d", "dilation")
        args = self.kernel_size, self.dilation, self.stride
        self.pads = top, bottom, left, right = checks.conv_padding(padding, *args, "Conv2d")
        symmetric = (top, left) if (top, left) == (bottom, right) else (left, right, top, bottom)
        self.padding = padding if isinstance(padding, str) else symmetric

    def forward(self, x: Tensor | np.ndarray) -> Tensor:
        if self.padding_mode == "zeros":
            padding: Any = self.padding
        else:  # pad, then convolve without padding
            top, bottom, left, right = self.pads
            mode = PADDING_MODES[self.padding_mode]
            x, padding = pad(checks.image(x, "Conv2d"), (left, right, top, bottom), mode), 0
        return conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
            f"groups={self.groups}, bias={self.bias is not None}, "
            f"padding_mode={self.padding_mode!r}"
        )


class MaxPool2d(Module):
    """The maximum of each kernel_size window, `stride` apart (kernel_size by default), of
    (N, C, H, W) inputs, as PyTorch's (ceil_mode and return_indices too)."""

    def __init__(
        self,
        kernel_size: Size,
        stride: Size | None = None,
        padding: Size = 0,
        dilation: Size = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        checks.pool_options(kernel_size, stride, padding, dilation, ceil_mode, "MaxPool2d")
        checks.flag(return_indices, "MaxPool2d", "return_indices")  # checked now, used later
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.return_indices, self.ceil_mode = dilation, return_indices, ceil_mode

    def forward(self, x: Tensor | np.ndarray) -> Any:
        return max_pool2d(
            x,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            self.ceil_mode,
            self.return_indices,
        )

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class AvgPool2d(Module):
    """The mean of each kernel_size window, `stride` apart (kernel_size by default), of
    (N, C, H, W) inputs, as PyTorch's (ceil_mode, count_include_pad, divisor_override)."""

    def __init__(
        self,
        kernel_size: Size,
        stride: Size | None = None,
        padding: Size = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        checks.pool_options(kernel_size, stride, padding, 1, ceil_mode, "AvgPool2d")
        checks.flag(count_include_pad, "AvgPool2d", "count_include_pad")
        checks.divisor(divisor_override, "AvgPool2d")
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad
        self.divisor_override = divisor_override

    def forward(self, x: Tensor | np.ndarray) -> Tensor:
        return avg_pool2d(
            x,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"ceil_mode={self.ceil_mode}"
        )


class AdaptiveAvgPool2d(Module):
    """The mean over blocks that make the output `output_size` (1: the global average pool)."""

    def __init__(self, output_size: Size) -> None:
        self.output_size = checks.pair(output_size, "AdaptiveAvgPool2d", "output_size")

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


def dropout2d(
    input: Tensor | np.ndarray,
    p: float = 0.5,
    training: bool = True,
    generator: np.random.Generator | None = None,
) -> Tensor:
    """Zeroes each whole channel x[n, c] of an (N, C, H, W) input with probability p and
    scales the rest by 1/(1-p) while training, as PyTorch's F.dropout2d; the identity
    otherwise. y = x·m/(1−p), m[n, c] ~ Bernoulli(1−p) drawn from `generator` or the
    framework's seeded one (tinygrad_hlcv.manual_seed);  dy/dx = m/(1−p)."""
    functional.check_dropout_p(p)
    functional._check_generator(generator)
    x = checks.image(input, "dropout2d")
    if not checks.flag(training, "dropout2d", "training") or p == 0:
        return x
    keep = functional.dropout_mask(x.shape[:2] + (1, 1), p, generator)
    return x * Tensor((keep / (1 - p)).astype(x.dtype))


class _Pad2d(Module):
    """Pads the last two dims by `padding`: an int for all four sides or (left, right, top,
    bottom), as PyTorch's padding layers."""

    mode = "constant"

    def __init__(self, padding: Size) -> None:
        sizes = tuple(padding) if isinstance(padding, (tuple, list)) else (padding,) * 4
        if len(sizes) != 4 or not all(is_whole(v) for v in sizes):
            raise ConfigError(
                f"{type(self).__name__}: padding must be an integer or four (left, right, "
                f"top, bottom), got {shown(padding)}"
            )
        self.padding = tuple(int(v) for v in sizes)

    def forward(self, x: Tensor | np.ndarray) -> Tensor:
        return pad(functional._as_tensor(x, type(self).__name__), self.padding, self.mode)

    def extra_repr(self) -> str:
        return f"padding={self.padding}"


class ZeroPad2d(_Pad2d):
    """Pads the last two dims with zeros by `padding`: an int for all four sides or (left,
    right, top, bottom), negative sizes cropping, as PyTorch's."""


class ReflectionPad2d(_Pad2d):
    """Pads the last two dims with their reflection at the edge (the edge itself not repeated)
    by `padding`: an int for all four sides or (left, right, top, bottom), each less than the
    dim's size, as PyTorch's."""

    mode = "reflect"


class ReplicationPad2d(_Pad2d):
    """Pads the last two dims with copies of the edge entries by `padding`: an int for all
    four sides or (left, right, top, bottom), as PyTorch's."""

    mode = "replicate"
