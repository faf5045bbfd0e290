"""Convolution and pooling ops on NCHW arrays: im2col (conv_kernels.py) feeding BLAS GEMMs,
and their functions conv2d, max_pool2d and avg_pool2d: PyTorch's F forms, also Tensor methods
with tinygrad's signatures, which check the arguments (conv_checks.py) before an op runs.

A convolution is a matrix product once the input is unfolded: with cols = im2col(x), the
(C·kh·kw, N·Ho·Wo) matrix of every window, y = W cols (W reshaped to (O, C·kh·kw)), one
GEMM whose width N·Ho·Wo keeps both cores' BLAS threads busy. The batch is unfolded a chunk
of images at a time (about CHUNK_BYTES of columns), so the whole unfolded batch never
exists. Geometry is (kh, kw, sh, sw, pt, pl, dh, dw) as in conv_kernels; the ops take
padding as (top, bottom, left, right) and are only the maths.
"""

from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from . import conv_checks as checks
from . import conv_kernels, winograd
from .conv_checks import Padding, Pair, output_size
from .conv_kernels import Geometry
from .engine import Function, Tensor

__all__ = ["conv2d", "max_pool2d", "avg_pool2d"]

Array = npt.NDArray[Any]
CHUNK_BYTES = 1 << 25  # columns unfolded at a time (benchmarks/conv.py measures the choice)


def geometry_of(
    image: tuple[int, ...],
    kernel: Pair,
    stride: Pair,
    padding: Padding,
    dilation: Pair,
    ceil_mode: bool = False,
) -> tuple[Geometry, Pair]:
    """The kernels' geometry tuple, and the output's (Ho, Wo), for an (N, C, H, W) image."""
    (kh, kw), (sh, sw), (pt, pb, pl, pr), (dh, dw) = kernel, stride, padding, dilation
    ho = output_size(image[2], kh, sh, pt, pb, dh, ceil_mode)
    wo = output_size(image[3], kw, sw, pl, pr, dw, ceil_mode)
    return (kh, kw, sh, sw, pt, pl, dh, dw), (ho, wo)


class Conv2d(Function):
    """y[n, o] = b[o] + Σ_{c, i, j} W[o, c, i, j] · x[n, c, oy·sh − pt + i·dh, ox·sw − pl + j·dw]
    (zeros outside x), with `groups` G: output channel o sees only the input channels of its
    group. As one GEMM per group and chunk of images, cols = im2col(x):  y = W cols + b.

    Backward, δ = ∂J/∂y:  dW = δ colsᵀ,  dx = col2im(Wᵀ δ),  db = Σ_{n,oy,ox} δ.
    The columns are unfolded again in the backward pass rather than kept (memory).
    3×3 stride-1 convolutions on images large enough to tile (winograd.suits) take the
    Winograd path instead, both ways; where its result is not finite, the direct one.
    """

    fresh_grads = True
    saves = (0, 1)

    def forward(
        self,
        x: Array,
        weight: Array,
        bias: Array | None = None,
        stride: Pair = (1, 1),
        padding: Padding = (0, 0, 0, 0),
        dilation: Pair = (1, 1),
        groups: int = 1,
    ) -> Array:
        self.x, self.weight = np.ascontiguousarray(x), np.ascontiguousarray(weight)
        kernel = (weight.shape[2], weight.shape[3])
        self.geometry, self.out_hw = geometry_of(x.shape, kernel, stride, padding, dilation)
        n, o = x.shape[0], weight.shape[0]
        self.w = self.weight.reshape(groups, o // groups, -1)  # W per group
        self.padding, y = padding, None
        self.winograd = winograd.suits(self.x, self.weight, stride, padding, dilation, groups)
        if self.winograd:
            y = winograd.conv3x3(self.x, self.weight, padding)  # None if not finite
            self.winograd = y is not None
        out = y if y is not None else self._direct(n, o)
        if bias is not None:
            out += bias.reshape(1, o, 1, 1)
        return out

    def _direct(self, n: int, o: int) -> Array:
        """y = W cols, one chunk of images at a time."""
        ho, wo = self.out_hw
        out = np.empty((n, o, ho, wo), dtype=self.x.dtype)
        for images, buffer in self._chunks():
            y = np.matmul(self.w, self._unfold(images, buffer))  # (G, O/G, b·Ho·Wo)
            out[images] = y.reshape(o, -1, ho, wo).transpose(1, 0, 2, 3)
        return out

    def _chunks(self) -> Iterator[tuple[slice, Array]]:
        """(a chunk of images, a buffer for their columns (G, C·kh·kw/G, b·Ho·Wo))."""
        n, (groups, _, rows) = self.x.shape[0], self.w.shape
        pixels = self.out_hw[0] * self.out_hw[1]
        chunk = max(1, CHUNK_BYTES // (groups * rows * pixels * self.x.itemsize))
        buffer = np.empty(groups * rows * min(chunk, n) * pixels, dtype=self.x.dtype)
        for start in range(0, n, chunk):
            images = slice(start, min(start + chunk, n))
            size = groups * rows * (images.stop - start) * pixels
            yield images, buffer[:size].reshape(groups, rows, -1)

    def _unfold(self, images: slice, buffer: Array) -> Array:
        """im2col of x[images] into `buffer`."""
        cols = buffer.reshape(-1, images.stop - images.start, *self.out_hw)
        conv_kernels.active().im2col(self.x[images], self.geometry, cols)
        return buffer

    def backward(self, g: Array) -> tuple[Array | None, ...]:
        g = np.ascontiguousarray(g, dtype=self.x.dtype)
        need_x, need_w = self.needs_input_grad[:2]
        grads: tuple[Array | None, ...] | None = None
        if self.winograd:  # None if not finite
            grads = winograd.conv3x3_backward(g, self.x, self.weight, self.padding, need_x, need_w)
        if grads is None:
            grads = self._direct_backward(g, need_x, need_w)
        if len(self.parents) == 3:
            grads += (g.sum(axis=(0, 2, 3)) if self.needs_input_grad[2] else None,)
        return grads

    def _direct_backward(self, g: Array, need_x: bool, need_w: bool) -> tuple[Array | None, ...]:
        """dW = δ colsᵀ and dx = col2im(Wᵀ δ), one chunk of images at a time."""
        dx = np.empty_like(self.x) if need_x else None
        dw = np.zeros_like(self.w) if need_w else None
        for images, buffer in self._chunks():
            g_rows = np.ascontiguousarray(g[images].transpose(1, 0, 2, 3))  # (O, b, Ho, Wo)
            g_rows = g_rows.reshape(self.w.shape[0], self.w.shape[1], -1)
            if dw is not None:
                dw += np.matmul(g_rows, self._unfold(images, buffer).transpose(0, 2, 1))
            if dx is not None:
                np.matmul(self.w.transpose(0, 2, 1), g_rows, out=buffer)
                cols = buffer.reshape(-1, images.stop - images.start, *self.out_hw)
                conv_kernels.active().col2im(cols, self.geometry, dx[images])
        return dx, None if dw is None else dw.reshape(self.weight.shape)


class MaxPool2d(Function):
    """y[n, c, oy, ox] = max_{i,j} x[n, c, oy·sh − pt + i·dh, ox·sw − pl + j·dw] over the taps
    inside x. Backward: dx[argmax] += δ, the whole δ to the entry chosen (the first maximum on
    ties, as PyTorch; a NaN if the window has one); its derivative is 0 at every other tap.
    `indices`, if given, receives the argmax (iy·W + ix in its plane: PyTorch's indices)."""

    saves = ()  # backward reads only its own argmax

    def forward(
        self,
        x: Array,
        kernel: Pair,
        stride: Pair,
        padding: Padding,
        dilation: Pair,
        ceil_mode: bool = False,
        indices: Array | None = None,
    ) -> Array:
        self.shape = x.shape
        geometry, out_hw = geometry_of(x.shape, kernel, stride, padding, dilation, ceil_mode)
        out = np.empty(x.shape[:2] + out_hw, dtype=x.dtype)
        self.argmax = np.empty(out.shape, dtype=np.int64) if indices is None else indices
        conv_kernels.active().max_pool_forward(np.ascontiguousarray(x), geometry, out, self.argmax)
        return out

    def backward(self, g: Array) -> Array:
        dx = np.empty(self.shape, dtype=g.dtype)
        conv_kernels.active().max_pool_backward(np.ascontiguousarray(g), self.argmax, dx)
        return dx


def taps_inside(
    count: int, kernel: int, stride: int, before: int, dilation: int, low: int, high: int
) -> Array:
    """How many taps of each of `count` windows along a dim (the first window starting at
    -before) fall in [low, high)."""
    taps = np.arange(count)[:, None] * stride - before + dilation * np.arange(kernel)
    return np.count_nonzero((taps >= low) & (taps < high), axis=1)


class AvgPool2d(Function):
    """y[n, c, oy, ox] = (1/D) Σ_{i,j} x[n, c, oy·sh − pt + i·dh, ox·sw − pl + j·dw], padding as
    zeros: each plane unfolded alone (im2col of (N·C, 1, H, W)) and its columns averaged.
    D = the window's taps inside the padded input (kh·kw, fewer where a ceil_mode window
    overhangs it), or inside x (count_include_pad=False), or divisor_override. Backward:
    dx = col2im(δ/D), every tap of a window receiving δ/D."""

    saves = ()

    def forward(
        self,
        x: Array,
        kernel: Pair,
        stride: Pair,
        padding: Padding,
        dilation: Pair = (1, 1),
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> Array:
        n, c, h, w = x.shape
        self.shape, self.plane_shape = x.shape, (n * c, 1, h, w)
        self.geometry, out_hw = geometry_of(x.shape, kernel, stride, padding, dilation, ceil_mode)
        kh, kw, sh, sw, pt, pl, dh, dw = self.geometry
        inner = padding if count_include_pad else (0, 0, 0, 0)  # the taps counted lie inside
        rows = taps_inside(out_hw[0], kh, sh, pt, dh, -inner[0], h + inner[1])
        columns = taps_inside(out_hw[1], kw, sw, pl, dw, -inner[2], w + inner[3])
        divisor = divisor_override or np.multiply.outer(rows, columns)
        self.divisor = np.broadcast_to(np.asarray(divisor, dtype=x.dtype), out_hw)
        cols = self._unfold(np.ascontiguousarray(x).reshape(self.plane_shape), out_hw)
        return (cols.sum(axis=0) / self.divisor).reshape((n, c) + out_hw)

    def _unfold(self, planes: Array, out_hw: Pair) -> Array:
        taps = self.geometry[0] * self.geometry[1]
        cols = np.empty((taps, planes.shape[0]) + out_hw, dtype=planes.dtype)
        conv_kernels.active().im2col(planes, self.geometry, cols)
        return cols

    def backward(self, g: Array) -> Array:
        share = g.reshape(1, self.plane_shape[0], *g.shape[2:]) / self.divisor
        cols = np.repeat(share, self.geometry[0] * self.geometry[1], axis=0)
        dx = np.empty(self.plane_shape, dtype=g.dtype)
        conv_kernels.active().col2im(cols, self.geometry, dx)
        return dx.reshape(self.shape)


# ----- the functions: the checks, then an op ---------------------------------------------------

Size = int | tuple[int, ...]


def conv2d(
    input: Tensor | Array,
    weight: Tensor | Array,
    bias: Tensor | Array | None = None,
    stride: Size = 1,
    padding: Size | str = 0,
    dilation: Size = 1,
    groups: int = 1,
) -> Tensor:
    """2-D cross-correlation of an (N, C, H, W) input with weight (O, C/groups, kh, kw) plus
    bias (O,), as PyTorch's F.conv2d: y[n, o, oy, ox] = b[o] + Σ W[o, c, i, j]·x[n, c, oy·sh −
    pt + i·dh, ox·sw − pl + j·dw], zeros outside x. Padding is an int, a pair, 'valid',
    'same', or (beyond PyTorch, as tinygrad) four sizes (left, right, top, bottom)."""
    x = checks.image(input, "conv2d")
    weight = checks.conv_weight(weight, x, groups)
    kernel = (weight.shape[2], weight.shape[3])
    strides = checks.pair(stride, "conv2d", "stride")
    dilations = checks.pair(dilation, "conv2d", "dilation")
    pads = checks.conv_padding(padding, kernel, dilations, strides, "conv2d")
    checks.windows_fit(x, kernel, strides, pads, dilations, "conv2d", False)
    parents = (x, weight) if bias is None else (x, weight, checks.conv_bias(bias, weight, x))
    return Conv2d.apply(
        *parents, stride=strides, padding=pads, dilation=dilations, groups=int(groups)
    )


def max_pool2d(
    input: Tensor | Array,
    kernel_size: Size,
    stride: Size | None = None,
    padding: Size = 0,
    dilation: Size = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """The maximum of each window of an (N, C, H, W) input, as PyTorch's F.max_pool2d (padding
    never wins; the gradient goes to the first maximum of a window). ceil_mode adds a last
    partial window if it starts inside x or its padding before; return_indices also returns
    each maximum's index iy·W + ix in its plane (int64, as PyTorch)."""
    options = checks.pool_options(kernel_size, stride, padding, dilation, ceil_mode, "max_pool2d")
    x = checks.pool_input(input, options, "max_pool2d")
    if not checks.flag(return_indices, "max_pool2d", "return_indices"):
        return MaxPool2d.apply(x, **options)
    _, out_hw = geometry_of(x.shape, **options)
    indices = np.empty(x.shape[:2] + out_hw, dtype=np.int64)
    return MaxPool2d.apply(x, **options, indices=indices), Tensor(indices)


def avg_pool2d(
    input: Tensor | Array,
    kernel_size: Size,
    stride: Size | None = None,
    padding: Size = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
    dilation: Size = 1,
) -> Tensor:
    """The mean of each window of an (N, C, H, W) input, as PyTorch's F.avg_pool2d: padding
    counts as zeros, and in the divisor unless count_include_pad=False; divisor_override
    replaces the divisor. `dilation` (tinygrad's, not PyTorch's) spaces the taps."""
    options = checks.pool_options(kernel_size, stride, padding, dilation, ceil_mode, "avg_pool2d")
    x = checks.pool_input(input, options, "avg_pool2d")
    include = checks.flag(count_include_pad, "avg_pool2d", "count_include_pad")
    divisor = checks.divisor(divisor_override, "avg_pool2d")
    return AvgPool2d.apply(x, **options, count_include_pad=include, divisor_override=divisor)


# ----- Tensor methods, with tinygrad's signatures ---------------------------------------------


def _conv2d_method(
    self: Tensor,
    weight: Tensor | Array,
    bias: Tensor | Array | None = None,
    groups: int = 1,
    stride: Size = 1,
    dilation: Size = 1,
    padding: Size | str = 0,
) -> Tensor:
    """tinygrad's Tensor.conv2d: conv2d with tinygrad's order of arguments."""
    return conv2d(self, weight, bias, stride, padding, dilation, groups)


def _max_pool2d_method(
    self: Tensor,
    kernel_size: Size = (2, 2),
    stride: Size | None = None,
    dilation: Size = 1,
    padding: Size = 0,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """tinygrad's Tensor.max_pool2d: max_pool2d with tinygrad's order and defaults."""
    return max_pool2d(self, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def _avg_pool2d_method(
    self: Tensor,
    kernel_size: Size = (2, 2),
    stride: Size | None = None,
    dilation: Size = 1,
    padding: Size = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    """tinygrad's Tensor.avg_pool2d: avg_pool2d with tinygrad's order and defaults."""
    return avg_pool2d(
        self, kernel_size, stride, padding, ceil_mode, count_include_pad, None, dilation
    )


# setattr: mypy refuses assigning to a class attribute Tensor does not declare
setattr(Tensor, "conv2d", _conv2d_method)  # noqa: B010
setattr(Tensor, "max_pool2d", _max_pool2d_method)  # noqa: B010
setattr(Tensor, "avg_pool2d", _avg_pool2d_method)  # noqa: B010
