"""Convolution and pooling ops on NCHW arrays: im2col (conv_kernels.py) feeding BLAS GEMMs.

A convolution is a matrix product once the input is unfolded: with cols = im2col(x), the
(C·kh·kw, N·Ho·Wo) matrix of every window, y = W cols (W reshaped to (O, C·kh·kw)), one
GEMM whose width N·Ho·Wo keeps both cores' BLAS threads busy. The batch is unfolded a chunk
of images at a time (about CHUNK_BYTES of columns), so the whole unfolded batch never
exists. Geometry is (kh, kw, sh, sw, pt, pl, dh, dw) as in conv_kernels; the ops take
padding as (top, bottom, left, right). The argument checks (a user's mistakes) are in
`nn.conv`; these ops are only the maths.
"""

from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from . import conv_kernels
from .conv_kernels import Geometry
from .engine import Function

Array = npt.NDArray[Any]
Pair = tuple[int, int]
Padding = tuple[int, int, int, int]  # top, bottom, left, right
CHUNK_BYTES = 1 << 25  # columns unfolded at a time (benchmarks/conv.py measures the choice)


def output_size(size: int, kernel: int, stride: int, before: int, after: int, dilation: int) -> int:
    """How many windows of `kernel` taps `dilation` apart fit `size` padded, `stride` apart."""
    return (size + before + after - dilation * (kernel - 1) - 1) // stride + 1


def geometry_of(
    image: tuple[int, ...], kernel: Pair, stride: Pair, padding: Padding, dilation: Pair
) -> tuple[Geometry, Pair]:
    """The kernels' geometry tuple, and the output's (Ho, Wo), for an (N, C, H, W) image."""
    (kh, kw), (sh, sw), (pt, pb, pl, pr), (dh, dw) = kernel, stride, padding, dilation
    ho = output_size(image[2], kh, sh, pt, pb, dh)
    wo = output_size(image[3], kw, sw, pl, pr, dw)
    return (kh, kw, sh, sw, pt, pl, dh, dw), (ho, wo)


class Conv2d(Function):
    """y[n, o] = b[o] + Σ_{c, i, j} W[o, c, i, j] · x[n, c, oy·sh − pt + i·dh, ox·sw − pl + j·dw]
    (zeros outside x), with `groups` G: output channel o sees only the input channels of its
    group. As one GEMM per group and chunk of images, cols = im2col(x):  y = W cols + b.

    Backward, δ = ∂J/∂y:  dW = δ colsᵀ,  dx = col2im(Wᵀ δ),  db = Σ_{n,oy,ox} δ.
    The columns are unfolded again in the backward pass rather than kept (memory).
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
        (n, o), (ho, wo) = (x.shape[0], weight.shape[0]), self.out_hw
        self.w = self.weight.reshape(groups, o // groups, -1)  # W per group
        out = np.empty((n, o, ho, wo), dtype=x.dtype)
        for images, buffer in self._chunks():
            y = np.matmul(self.w, self._unfold(images, buffer))  # (G, O/G, b·Ho·Wo)
            out[images] = y.reshape(o, -1, ho, wo).transpose(1, 0, 2, 3)
        if bias is not None:
            out += bias.reshape(1, o, 1, 1)
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
        grads: tuple[Array | None, ...] = (
            dx,
            None if dw is None else dw.reshape(self.weight.shape),
        )
        if len(self.parents) == 3:
            grads += (g.sum(axis=(0, 2, 3)) if self.needs_input_grad[2] else None,)
        return grads


class MaxPool2d(Function):
    """y[n, c, oy, ox] = max_{i,j} x[n, c, oy·sh − pt + i·dh, ox·sw − pl + j·dw] over the taps
    inside x. Backward: dx[argmax] += δ, the whole δ to the entry chosen (the first maximum on
    ties, as PyTorch; a NaN if the window has one); its derivative is 0 at every other tap."""

    saves = ()  # backward reads only its own argmax

    def forward(
        self, x: Array, kernel: Pair, stride: Pair, padding: Padding, dilation: Pair
    ) -> Array:
        self.shape = x.shape
        geometry, out_hw = geometry_of(x.shape, kernel, stride, padding, dilation)
        out = np.empty(x.shape[:2] + out_hw, dtype=x.dtype)
        self.argmax = np.empty(out.shape, dtype=np.int64)
        conv_kernels.active().max_pool_forward(np.ascontiguousarray(x), geometry, out, self.argmax)
        return out

    def backward(self, g: Array) -> Array:
        dx = np.empty(self.shape, dtype=g.dtype)
        conv_kernels.active().max_pool_backward(np.ascontiguousarray(g), self.argmax, dx)
        return dx


class AvgPool2d(Function):
    """y[n, c, oy, ox] = (1/D) Σ_{i,j} x[n, c, oy·sh − pt + i, ox·sw − pl + j], padding as zeros:
    each plane unfolded alone (im2col of (N·C, 1, H, W)) and its columns averaged. D = kh·kw,
    or (count_include_pad=False) the number of taps inside x. Backward: dx = col2im(δ/D),
    every tap of a window receiving δ/D."""

    saves = ()

    def forward(
        self, x: Array, kernel: Pair, stride: Pair, padding: Padding, count_include_pad: bool = True
    ) -> Array:
        (n, c, h, w), taps = x.shape, kernel[0] * kernel[1]
        self.shape, self.plane_shape = x.shape, (n * c, 1, h, w)
        self.geometry, out_hw = geometry_of(x.shape, kernel, stride, padding, (1, 1))
        self.divisor = np.full((1,) + out_hw, taps, dtype=x.dtype)
        if not count_include_pad:  # the taps inside x: the columns of an image of ones
            self.divisor[...] = self._unfold(np.ones((1, 1, h, w), x.dtype), out_hw).sum(axis=0)
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
