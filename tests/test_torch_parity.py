"""Parity with PyTorch, the spec: every idiom of the Tensor API is written once, as a function
of the library module and the input tensors (`lambda lib, x: lib.exp(x)`), and run unchanged
on `torch` and on `tinygrad_hlcv`, on fixed random float64 inputs. Compared: the result's
type, shape, dtype, values and requires_grad, then the gradient of every input for
`(out * fixed_random_weights).sum()`. Plus the cases where a difference would be a silent
wrong result (`t == 3`, `transpose(0, 1)`, `list(t)`, dtype inference, memory sharing)."""

import zlib
from dataclasses import dataclass, field

import numpy as np
import pytest

import tinygrad_hlcv as tg
from tinygrad_hlcv.errors import TinygradError

torch = pytest.importorskip("torch")
F = torch.nn.functional


class TorchLib:
    """torch, with the activations PyTorch keeps only in torch.nn.functional."""

    FUNCTIONAL = {
        "gelu",
        "silu",
        "elu",
        "softplus",
        "relu6",
        "hardswish",
        "mish",
        "leaky_relu",
        "pad",
    }

    def __getattr__(self, name):
        return getattr(F if name in self.FUNCTIONAL else torch, name)


LIBS = {"torch": TorchLib(), "tinygrad_hlcv": tg}


# ----- inputs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class U:
    """A float64 input of this shape, uniform in [low, high)."""

    shape: tuple
    low: float = -2.0
    high: float = 2.0

    def make(self, rng):
        return rng.uniform(self.low, self.high, self.shape)


def u(*shape, low=-2.0, high=2.0):
    return U(shape, low, high)


def pos(*shape):
    return U(shape, 0.2, 2.0)


def fixed(values):
    """A float64 input with exactly these values (equal entries for comparisons)."""
    array = np.asarray(values, dtype=np.float64)

    class Fixed:
        def make(self, rng):
            return array.copy()

    return Fixed()


@dataclass
class Case:
    id: str
    fn: object
    inputs: list = field(default_factory=list)
    rtol: float = 1e-9


CASES = []


def case(id, fn, *inputs, rtol=1e-9):
    CASES.append(Case(id, fn, list(inputs), rtol))


# ----- differentiable element-wise ops -----------------------------------------------------

X = u(3, 4)
METHOD_AND_FUNCTION = {  # torch has both lib.name(x) and x.name()
    "abs": X,
    "neg": X,
    "sign": X,
    "sqrt": pos(3, 4),
    "rsqrt": pos(3, 4),
    "exp": X,
    "log": pos(3, 4),
    "log1p": u(3, 4, low=-0.9),
    "expm1": X,
    "sin": X,
    "cos": X,
    "tanh": X,
    "sigmoid": X,
    "relu": X,
    "reciprocal": pos(3, 4),
}
for name, spec in METHOD_AND_FUNCTION.items():
    case(name, lambda lib, x, name=name: getattr(lib, name)(x), spec)
    case(f"{name}-method", lambda lib, x, name=name: getattr(x, name)(), spec)

case("leaky_relu", lambda lib, x: lib.leaky_relu(x, 0.2), X)
case("leaky_relu-default", lambda lib, x: lib.leaky_relu(x), X)
case("gelu", lambda lib, x: lib.gelu(x), X)
case("gelu-tanh", lambda lib, x: lib.gelu(x, approximate="tanh"), X)
case("silu", lambda lib, x: lib.silu(x), X)
case("elu", lambda lib, x: lib.elu(x), X)
case("elu-alpha", lambda lib, x: lib.elu(x, alpha=0.5), X)
case("softplus", lambda lib, x: lib.softplus(x), X)
case("softplus-beta", lambda lib, x: lib.softplus(x, beta=2.0), X)
case("softplus-threshold", lambda lib, x: lib.softplus(x * 20, beta=1.0, threshold=20.0), X)
case("relu6", lambda lib, x: lib.relu6(x), u(3, 4, low=-3, high=9))
case("hardswish", lambda lib, x: lib.hardswish(x), u(3, 4, low=-5, high=5))
case("mish", lambda lib, x: lib.mish(x), X)
case("clamp", lambda lib, x: x.clamp(-0.5, 0.7), X)
case("clamp-min", lambda lib, x: x.clamp(min=0.1), X)
case("clamp-max", lambda lib, x: lib.clamp(x, max=-0.1), X)
case("clip", lambda lib, x: x.clip(-0.5, 0.5), X)
case("clip-function", lambda lib, x: lib.clip(x, min=-0.5, max=0.5), X)
case(
    "clamp-tensor-bounds",
    lambda lib, x, low, high: x.clamp(min=low, max=high),
    X,
    u(4, low=-1.5, high=-0.1),
    u(3, 1, low=0.1, high=1.5),
)
case(
    "clamp-tensor-bounds-function",
    lambda lib, x, low, high: lib.clamp(x, low, high),
    X,
    u(3, 4, low=-1.5, high=-0.1),
    u(4, low=0.1, high=1.5),
)
case("maximum", lambda lib, x, y: lib.maximum(x, y), X, u(4))
case("minimum", lambda lib, x, y: x.minimum(y), u(3, 1), u(4))
case("where", lambda lib, x, y: lib.where(x > 0, x, y), X, u(4))
case("where-method", lambda lib, x, y: x.where(y > 0, y), X, u(3, 1))
case("pow-tensor", lambda lib, x, y: x**y, pos(3, 4), u(4))
case("pow-function", lambda lib, x, y: lib.pow(x, y), pos(3, 4), u(3, 1))
case("pow-scalar", lambda lib, x: x**2, X)
case("pow-scalar-fraction", lambda lib, x: x**0.5, pos(3, 4))
case("pow-method", lambda lib, x: x.pow(3), X)
case("rpow", lambda lib, x: 2**x, X)
case("rpow-float", lambda lib, x: 0.5**x, X)
case("add-broadcast", lambda lib, x, y: x + y, X, u(4))
case("sub-broadcast", lambda lib, x, y: x - y, u(3, 1), u(4))
case("mul-broadcast", lambda lib, x, y: x * y, u(2, 1, 4), u(3, 1))
case("div-broadcast", lambda lib, x, y: x / y, X, pos(3, 1))
case("add-method", lambda lib, x, y: x.add(y), X, u(4))
case("add-alpha", lambda lib, x, y: lib.add(x, y, alpha=2.0), X, u(4))
case("sub-method", lambda lib, x, y: x.sub(y), X, u(4))
case("mul-function", lambda lib, x, y: lib.mul(x, y), X, u(4))
case("div-function", lambda lib, x, y: lib.div(x, y), X, pos(4))
case("scalar-add", lambda lib, x: (x + 1, 1 + x), X)
case("scalar-sub", lambda lib, x: (x - 1.5, 2 - x), X)
case("scalar-mul", lambda lib, x: (x * 3, 0.5 * x), X)
case("scalar-div", lambda lib, x: (x / 4, 2 / x), pos(3, 4))
case("scalar-0d-tensor", lambda lib, x, s: x * s + s, X, u())

# ----- reductions ----------------------------------------------------------------------------

R = u(2, 3, 4)
case("sum", lambda lib, x: x.sum(), R)
case("sum-dim", lambda lib, x: x.sum(dim=1), R)
case("sum-dim-positional", lambda lib, x: x.sum(-1), R)
case("sum-dims-keepdim", lambda lib, x: x.sum(dim=(0, 2), keepdim=True), R)
case("sum-axis-keepdims", lambda lib, x: x.sum(axis=1, keepdims=True), R)
case("sum-function", lambda lib, x: lib.sum(x, dim=0), R)
case("mean", lambda lib, x: x.mean(), R)
case("mean-dim-keepdim", lambda lib, x: x.mean(dim=2, keepdim=True), R)
case("mean-dims", lambda lib, x: x.mean((0, 1)), R)
case("mean-axis", lambda lib, x: x.mean(axis=-1), R)
case("mean-function", lambda lib, x: lib.mean(x, 1), R)
case("prod", lambda lib, x: x.prod(), u(2, 3))
case("prod-dim", lambda lib, x: x.prod(1), R)
case("prod-dim-keepdim", lambda lib, x: x.prod(dim=0, keepdim=True), R)
case("max", lambda lib, x: x.max(), R)
case("max-dim", lambda lib, x: x.max(dim=1), R)
case("max-dim-positional-keepdim", lambda lib, x: x.max(2, keepdim=True), R)
case("max-dim-fields", lambda lib, x: (x.max(dim=0).values, x.max(dim=0).indices), R)
case("min", lambda lib, x: x.min(), R)
case("min-dim", lambda lib, x: x.min(dim=-1), R)
case("min-function-dim", lambda lib, x: lib.min(x, 0, keepdim=True), R)
case("max-function", lambda lib, x: lib.max(x), R)
case("amax", lambda lib, x: x.amax(), R)
case("amax-dims", lambda lib, x: x.amax(dim=(0, 1)), R)
case("amin-keepdim", lambda lib, x: x.amin(-1, keepdim=True), R)
case("amin-function", lambda lib, x: lib.amin(x, dim=1), R)
case("var", lambda lib, x: x.var(), R)
case("var-dim", lambda lib, x: x.var(dim=1), R)
case("var-unbiased-false", lambda lib, x: x.var(1, unbiased=False), R)
case("var-correction", lambda lib, x: x.var(dim=(0, 2), correction=0, keepdim=True), R)
case("var-correction-2", lambda lib, x: x.var(dim=2, correction=2), R)
case("std", lambda lib, x: x.std(), R)
case("std-dim-keepdim", lambda lib, x: x.std(dim=-1, keepdim=True), R)
case("std-unbiased-false", lambda lib, x: lib.std(x, 0, unbiased=False), R)
case("std-correction", lambda lib, x: x.std(dim=(1, 2), correction=0), R)
case("norm", lambda lib, x: x.norm(), R)
case("norm-p1-dim", lambda lib, x: x.norm(p=1, dim=1), R)
case("norm-dims-keepdim", lambda lib, x: x.norm(dim=(1, 2), keepdim=True), R)
case("norm-p3", lambda lib, x: x.norm(3, dim=-1), R)
case("logsumexp", lambda lib, x: x.logsumexp(dim=1), R)
case("logsumexp-dims-keepdim", lambda lib, x: x.logsumexp(dim=(0, 2), keepdim=True), R)
case("logsumexp-function", lambda lib, x: lib.logsumexp(x * 50, -1), R)
case("cumsum", lambda lib, x: x.cumsum(dim=1), R)
case("cumsum-negative", lambda lib, x: x.cumsum(-1), R)
case("cumsum-function", lambda lib, x: lib.cumsum(x, dim=0), R)
case("softmax", lambda lib, x: x.softmax(dim=-1), R)
case("softmax-large", lambda lib, x: (x * 400).softmax(1), R)
case("softmax-function", lambda lib, x: lib.softmax(x, dim=0), R)
case("log_softmax", lambda lib, x: x.log_softmax(dim=1), R)
case("log_softmax-large", lambda lib, x: (x * 400).log_softmax(-1), R)
case("log_softmax-function", lambda lib, x: lib.log_softmax(x, 2), R)

# ----- shape ops -----------------------------------------------------------------------------

case("view", lambda lib, x: x.view(4, 6), R)
case("view-minus-one", lambda lib, x: x.view(-1), R)
case("view-tuple", lambda lib, x: x.view((6, -1)), R)
case("reshape", lambda lib, x: x.reshape(3, -1), R)
case("reshape-tuple", lambda lib, x: x.reshape((4, 6)), R)
case("reshape-function", lambda lib, x: lib.reshape(x, (6, 4)), R)
case("reshape-transposed", lambda lib, x: x.transpose(0, 2).reshape(-1), R)
case("flatten", lambda lib, x: x.flatten(), R)
case("flatten-start", lambda lib, x: x.flatten(1), R)
case("flatten-start-end", lambda lib, x: x.flatten(0, 1), R)
case("flatten-function", lambda lib, x: lib.flatten(x, start_dim=1), R)
case("unflatten", lambda lib, x: x.unflatten(2, (2, 2)), R)
case("unflatten-minus-one", lambda lib, x: x.unflatten(-1, (-1, 2)), R)
case("squeeze", lambda lib, x: x.squeeze(), u(1, 3, 1))
case("squeeze-dim", lambda lib, x: x.squeeze(0), u(1, 3, 1))
case("squeeze-dim-not-one", lambda lib, x: x.squeeze(1), u(1, 3, 1))
case("squeeze-function", lambda lib, x: lib.squeeze(x, -1), u(1, 3, 1))
case("unsqueeze", lambda lib, x: x.unsqueeze(1), R)
case("unsqueeze-negative", lambda lib, x: x.unsqueeze(-1), R)
case("unsqueeze-function", lambda lib, x: lib.unsqueeze(x, 0), R)
case("permute", lambda lib, x: x.permute(2, 0, 1), R)
case("permute-tuple", lambda lib, x: x.permute((1, 2, 0)), R)
case("permute-function", lambda lib, x: lib.permute(x, (2, 1, 0)), R)
case("transpose", lambda lib, x: x.transpose(0, 1), R)
case("transpose-2d", lambda lib, x: x.transpose(0, 1), X)
case("transpose-negative", lambda lib, x: x.transpose(-1, 0), R)
case("transpose-function", lambda lib, x: lib.transpose(x, 1, 2), R)
case("T", lambda lib, x: x.T, X)
case("mT", lambda lib, x: x.mT, R)
case("expand", lambda lib, x: x.expand(2, 3, 4), u(3, 1))
case("expand-minus-one", lambda lib, x: x.expand(-1, 5), u(3, 1))
case("expand-tuple", lambda lib, x: x.expand((2, 3, 4)), u(1, 4))
case("expand_as", lambda lib, x, y: x.expand_as(y), u(3, 1), R)
case("repeat", lambda lib, x: x.repeat(2, 1, 3), u(3, 2))
case("repeat-same-dims", lambda lib, x: x.repeat(1, 2), u(3, 2))
case("tile", lambda lib, x: x.tile((2,)), u(3, 2))
case("tile-function", lambda lib, x: lib.tile(x, (2, 1, 2)), u(3, 2))
case("flip", lambda lib, x: x.flip(0), R)
case("flip-dims", lambda lib, x: x.flip((0, 2)), R)
case("flip-function", lambda lib, x: lib.flip(x, [1]), R)
case("roll", lambda lib, x: x.roll(1, 0), R)
case("roll-dims", lambda lib, x: x.roll((1, -2), (0, 2)), R)
case("roll-flat", lambda lib, x: x.roll(2), R)
case("roll-function", lambda lib, x: lib.roll(x, shifts=-1, dims=1), R)
case("pad", lambda lib, x: lib.pad(x, (1, 2)), R)
case("pad-two-dims-value", lambda lib, x: lib.pad(x, (1, 0, 2, 1), value=-1.0), R)
case("pad-three-dims", lambda lib, x: lib.pad(x, (0, 1, 1, 0, 1, 1), mode="constant", value=0.5), R)
case("cat", lambda lib, x, y: lib.cat([x, y], dim=1), R, u(2, 2, 4))
case("cat-default-dim", lambda lib, x, y: lib.cat((x, y)), R, u(1, 3, 4))
case("cat-negative-dim", lambda lib, x, y, z: lib.cat([x, y, z], -1), u(2, 1), u(2, 3), u(2, 2))
case("stack", lambda lib, x, y: lib.stack([x, y]), X, X)
case("stack-dim", lambda lib, x, y: lib.stack((x, y), dim=-1), X, X)
case("stack-dim-1", lambda lib, x, y, z: lib.stack([x, y, z], 1), X, X, X)
case("split", lambda lib, x: x.split(2, dim=2), R)
case("split-uneven", lambda lib, x: x.split(3, dim=-1), R)
case("split-sections", lambda lib, x: x.split([1, 2], dim=1), R)
case("split-function", lambda lib, x: lib.split(x, 1), R)
case("chunk", lambda lib, x: x.chunk(3, dim=2), R)
case("chunk-function", lambda lib, x: lib.chunk(x, 2, 1), R)
case("unbind", lambda lib, x: x.unbind(1), R)
case("unbind-function", lambda lib, x: lib.unbind(x), R)
case("gather", lambda lib, x: x.gather(1, lib.tensor([[0, 0, 2], [1, 2, 0]])), u(2, 3))
case("gather-dim0", lambda lib, x: lib.gather(x, 0, lib.tensor([[1, 0, 1, 1]])), u(2, 4))
case(
    "scatter_add",
    lambda lib, x, src: x.scatter_add(0, lib.tensor([[1, 0, 1], [1, 1, 0]]), src),
    u(2, 3),
    u(2, 3),
)
case(
    "scatter_add-dim1",
    lambda lib, x, src: x.scatter_add(1, lib.tensor([[0, 0], [2, 0]]), src),
    u(2, 3),
    u(2, 2),
)
case("narrow", lambda lib, x: x.narrow(2, 1, 2), R)
case("narrow-function", lambda lib, x: lib.narrow(x, -2, 0, 1), R)
case("index_select", lambda lib, x: x.index_select(0, lib.tensor([1, 1, 0])), R)
case("index_select-function", lambda lib, x: lib.index_select(x, 2, lib.tensor([3, 0, 3])), R)
case("masked_fill", lambda lib, x: x.masked_fill(x > 0, 0.0), R)
case(
    "masked_fill-broadcast",
    lambda lib, x: x.masked_fill(lib.tensor([True, False, True, False]), -1.5),
    R,
)

# ----- indexing ------------------------------------------------------------------------------

INDEXING = {
    "int": lambda lib, x: x[0],
    "negative-int": lambda lib, x: x[-1],
    "ints": lambda lib, x: x[1, 2, 3],
    "slice-step": lambda lib, x: x[:, ::2],
    "slice-start-step": lambda lib, x: x[1:, 1::2, :3],
    "negative-slice": lambda lib, x: x[:, -2:, :-1],
    "ellipsis": lambda lib, x: x[..., 1],
    "none": lambda lib, x: x[None, :, 1],
    "none-middle": lambda lib, x: x[:, None],
    "int-list-repeats": lambda lib, x: x[[0, 0, 1]],
    "int-list-last-dim": lambda lib, x: x[:, [2, 2, 0]],
    "int-lists-paired": lambda lib, x: x[[0, 1, 1], [1, 2, 2]],
    "int-tensor": lambda lib, x: x[lib.tensor([1, 0, 1])],
    "bool-mask": lambda lib, x: x[x > 0],
    "bool-mask-rows": lambda lib, x: x[lib.tensor([True, False])],
    "mixed": lambda lib, x: x[1:2, ..., ::3],
}
for name, fn in INDEXING.items():
    case(f"getitem-{name}", fn, R)

# ----- matrix products -----------------------------------------------------------------------

case("matmul-1d-1d", lambda lib, x, y: x @ y, u(3), u(3))
case("matmul-2d-1d", lambda lib, x, y: x @ y, u(2, 3), u(3))
case("matmul-1d-2d", lambda lib, x, y: x @ y, u(3), u(3, 4))
case("matmul-2d-2d", lambda lib, x, y: x @ y, u(2, 3), u(3, 4))
case("matmul-batched", lambda lib, x, y: x @ y, u(2, 3, 4), u(2, 4, 5))
case("matmul-broadcast", lambda lib, x, y: x @ y, u(2, 1, 3, 4), u(5, 4, 2))
case("matmul-batched-1d", lambda lib, x, y: x @ y, u(2, 3, 4), u(4))
case("matmul-1d-batched", lambda lib, x, y: x @ y, u(3), u(2, 3, 4))
case("matmul-function", lambda lib, x, y: lib.matmul(x, y), u(2, 3, 4), u(4, 2))
case("matmul-method", lambda lib, x, y: x.matmul(y), u(3, 4), u(4, 2))
case("mm", lambda lib, x, y: lib.mm(x, y), u(2, 3), u(3, 4))
case("mm-method", lambda lib, x, y: x.mm(y), u(2, 3), u(3, 4))
case("bmm", lambda lib, x, y: lib.bmm(x, y), u(2, 3, 4), u(2, 4, 5))
case("bmm-method", lambda lib, x, y: x.bmm(y), u(2, 3, 4), u(2, 4, 5))
case("dot", lambda lib, x, y: lib.dot(x, y), u(4), u(4))
case("dot-method", lambda lib, x, y: x.dot(y), u(4), u(4))

# ----- comparisons, logic, arg-reductions (no gradient) ---------------------------------------

A = fixed([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
B = fixed([[1.0, 0.0, 3.0], [5.0, 5.0, 0.0]])
case("eq", lambda lib, x, y: x == y, A, B)
case("ne", lambda lib, x, y: x != y, A, B)
case("lt", lambda lib, x, y: x < y, A, B)
case("le", lambda lib, x, y: x <= y, A, B)
case("gt", lambda lib, x, y: x > y, A, B)
case("ge", lambda lib, x, y: x >= y, A, B)
case("eq-scalar", lambda lib, x: x == 3, A)
case("ne-scalar", lambda lib, x: x != 3.0, A)
case("lt-scalar-reflected", lambda lib, x: 3 < x, A)
case("ge-broadcast", lambda lib, x, y: x >= y, A, fixed([2.0, 2.0, 7.0]))
case("eq-method", lambda lib, x, y: x.eq(y), A, B)
case("gt-method", lambda lib, x: x.gt(2), A)
case("and", lambda lib, x, y: (x > 2) & (y > 2), A, B)
case("or", lambda lib, x, y: (x > 4) | (y < 1), A, B)
case("xor", lambda lib, x, y: (x > 2) ^ (y > 2), A, B)
case("invert", lambda lib, x: ~(x > 2), A)
case("logical_not", lambda lib, x: lib.logical_not(x > 2), A)
case("argmax", lambda lib, x: x.argmax(), R)
case("argmax-dim", lambda lib, x: x.argmax(dim=1), R)
case("argmax-keepdim", lambda lib, x: lib.argmax(x, -1, keepdim=True), R)
case("argmin", lambda lib, x: lib.argmin(x), R)
case("argmin-dim", lambda lib, x: x.argmin(0), R)
case("all", lambda lib, x: (x > -5).all(), R)
case("all-dim", lambda lib, x: (x > 0).all(dim=1), R)
case("all-function", lambda lib, x: lib.all(x > 0), R)
case("any", lambda lib, x: (x > 0).any(), R)
case("any-dim-keepdim", lambda lib, x: (x > 1).any(dim=0, keepdim=True), R)
case("any-function", lambda lib, x: lib.any(x > 5), R)

# ----- constructors and dtypes ----------------------------------------------------------------

CONSTRUCTORS = {
    "zeros": lambda lib: lib.zeros(2, 3),
    "zeros-tuple": lambda lib: lib.zeros((2, 3)),
    "zeros-dtype": lambda lib: lib.zeros(2, dtype=lib.float64),
    "zeros-int": lambda lib: lib.zeros(3, dtype=lib.int64),
    "ones": lambda lib: lib.ones(3),
    "ones-tuple": lambda lib: lib.ones((2, 1)),
    "full": lambda lib: lib.full((2, 2), 1.5),
    "full-int-infers-int64": lambda lib: lib.full((2,), 7),
    "full-bool": lambda lib: lib.full((2,), True),
    "eye": lambda lib: lib.eye(3),
    "eye-rect": lambda lib: lib.eye(2, 3),
    "arange": lambda lib: lib.arange(5),
    "arange-start-step": lambda lib: lib.arange(1, 7, 2),
    "arange-float": lambda lib: lib.arange(0.0, 1.0, 0.25),
    "arange-dtype": lambda lib: lib.arange(5, dtype=lib.float64),
    "linspace": lambda lib: lib.linspace(0, 1, 5),
    "linspace-dtype": lambda lib: lib.linspace(-1, 1, 4, dtype=lib.float64),
    "rand-shape": lambda lib: (tuple(lib.rand(2, 3).shape), lib.rand(2, 3).dtype),
    "randn-shape": lambda lib: (tuple(lib.randn((4,)).shape), lib.randn(4).dtype),
    "empty-shape": lambda lib: (tuple(lib.empty(2, 3).shape), lib.empty(2, 3).dtype),
    "tensor-int-list": lambda lib: lib.tensor([0, 1, 2]),
    "tensor-float-list": lambda lib: lib.tensor([0.5, 1]),
    "tensor-bool-list": lambda lib: lib.tensor([True, False]),
    "tensor-int-scalar": lambda lib: lib.tensor(3),
    "tensor-float-scalar": lambda lib: lib.tensor(2.5),
    "tensor-nested": lambda lib: lib.tensor([[1, 2], [3, 4]]),
    "tensor-dtype": lambda lib: lib.tensor([1, 2], dtype=lib.float64),
    "tensor-float64-array": lambda lib: lib.tensor(np.zeros(2)),
    "tensor-int32-array": lambda lib: lib.tensor(np.arange(3, dtype=np.int32)),
    "tensor-float32-array": lambda lib: lib.tensor(np.ones(2, dtype=np.float32)),
    "from_numpy": lambda lib: lib.from_numpy(np.arange(4.0)),
    "from_numpy-int": lambda lib: lib.from_numpy(np.arange(4)),
    "float32-name": lambda lib: lib.ones(2, dtype=lib.float32),
    "bool-name": lambda lib: lib.zeros(2, dtype=lib.bool),
    "int32-name": lambda lib: lib.zeros(2, dtype=lib.int32),
}
for name, fn in CONSTRUCTORS.items():
    case(f"constructor-{name}", fn)

PROMOTION = {  # the result dtypes of mixed operands (a wrong one is a silent wrong result)
    "int-div-int": lambda lib: lib.tensor([1, 2]) / 2,
    "int-div-int-tensor": lambda lib: lib.tensor([3, 4]) / lib.tensor([2, 2]),
    "int-plus-float-number": lambda lib: lib.tensor([1, 2]) + 1.5,
    "int-times-int-number": lambda lib: lib.tensor([1, 2]) * 3,
    "float32-plus-float64": lambda lib: lib.ones(2) + lib.ones(2, dtype=lib.float64),
    "float32-times-float-number": lambda lib: lib.ones(2) * 0.1,
    "float64-plus-int-tensor": lambda lib: lib.ones(2, dtype=lib.float64) + lib.tensor([1, 2]),
    "bool-plus-int": lambda lib: lib.tensor([True, False]) + lib.tensor([1, 1]),
    "int-sum": lambda lib: lib.tensor([[1, 2], [3, 4]]).sum(0),
    "bool-sum": lambda lib: lib.tensor([True, True, False]).sum(),
    "int-max": lambda lib: lib.tensor([3, 1, 2]).max(),
    "int-compare-float": lambda lib: lib.tensor([1, 2]) < 1.5,
    "float32-0d-times-float64": lambda lib: lib.tensor(2.0) * lib.ones(2, dtype=lib.float64),
}
for name, fn in PROMOTION.items():
    case(f"promotion-{name}", fn)

LIKE = {
    "zeros_like": lambda lib, x: lib.zeros_like(x),
    "ones_like": lambda lib, x: lib.ones_like(x),
    "full_like": lambda lib, x: lib.full_like(x, 2.5),
    "zeros_like-dtype": lambda lib, x: lib.zeros_like(x, dtype=lib.float32),
    "rand_like": lambda lib, x: (tuple(lib.rand_like(x).shape), lib.rand_like(x).dtype),
    "randn_like": lambda lib, x: (tuple(lib.randn_like(x).shape), lib.randn_like(x).dtype),
    "empty_like": lambda lib, x: (tuple(lib.empty_like(x).shape), lib.empty_like(x).dtype),
}
for name, fn in LIKE.items():
    case(f"constructor-{name}", fn, X)

# ----- conversions and Python protocol ---------------------------------------------------------

T3 = fixed([[1.7, -2.2, 0.0], [3.5, 0.4, -0.6]])
CONVERSIONS = {
    "float": lambda lib, x: x.float(),
    "double": lambda lib, x: x.float().double(),
    "long": lambda lib, x: x.long(),
    "int": lambda lib, x: x.int(),
    "bool": lambda lib, x: x.bool(),
    "to-dtype": lambda lib, x: x.to(lib.float32),
    "to-dtype-keyword": lambda lib, x: x.to(dtype=lib.int64),
    "type-dtype": lambda lib, x: x.type(lib.float32),
    "clone": lambda lib, x: x.clone() * 2,
    "detach": lambda lib, x: x.detach(),
    "contiguous": lambda lib, x: x.transpose(0, 1).contiguous(),
    "tolist": lambda lib, x: x.tolist(),
    "tolist-int": lambda lib, x: x.long().tolist(),
    "tolist-0d": lambda lib, x: x[0, 0].tolist(),
    "python-float": lambda lib, x: float(x[1, 0]),
    "python-int": lambda lib, x: int(x[1, 0]),
    "python-int-negative": lambda lib, x: int(x[0, 1]),
    "python-bool": lambda lib, x: (bool(x[0, 2]), bool(x[0, 0])),
    "len": lambda lib, x: len(x),
    "iteration": lambda lib, x: list(x),
    "iteration-rows": lambda lib, x: [row * 2 for row in x],
    "size": lambda lib, x: x.size(),
    "size-dim": lambda lib, x: (x.size(1), x.size(-1)),
    "shape": lambda lib, x: x.shape,
    "numel": lambda lib, x: x.numel(),
    "dim": lambda lib, x: (x.dim(), x.ndim),
    "item": lambda lib, x: x[1, 1].item(),
    "item-int": lambda lib, x: x.long()[1, 0].item(),
    "item-bool": lambda lib, x: (x > 0)[0, 0].item(),
    "requires_grad": lambda lib, x: (
        x.requires_grad,
        (x * 2).requires_grad,
        x.detach().requires_grad,
    ),
    "is_leaf": lambda lib, x: (x.is_leaf, (x * 2).is_leaf),
}
for name, fn in CONVERSIONS.items():
    case(f"conversion-{name}", fn, T3, rtol=1e-6)


# ----- in-place ops and __setitem__ (on a non-leaf, so both gradients flow) ---------------------


def in_place(method, *args):
    def fn(lib, x, *tensors):
        out = x * 1
        returned = getattr(out, method)(*args, *tensors)
        assert returned is out, f"{method} must return the tensor itself"
        return out

    return fn


def augmented(op):
    def fn(lib, x, y):
        out = x * 1
        alias = out
        if op == "+=":
            out += y
        elif op == "-=":
            out -= y
        elif op == "*=":
            out *= y
        else:
            out /= y
        assert out is alias, f"{op} must work in place"
        return out

    return fn


def set_item(index, value_from=None):
    def fn(lib, x, *values):
        out = x * 1
        out[index(lib) if callable(index) else index] = values[0] if values else value_from
        return out

    return fn


case("add_", in_place("add_"), X, u(4))
case("add_-scalar", in_place("add_", 2.0), X)
case("sub_", in_place("sub_"), X, u(3, 1))
case("mul_", in_place("mul_"), X, u(4))
case("mul_-scalar", in_place("mul_", 3), X)
case("div_", in_place("div_"), X, pos(4))
case("zero_", in_place("zero_"), X)
case("fill_", in_place("fill_", 2.5), X)
case("copy_", in_place("copy_"), X, u(4))
case("clamp_", in_place("clamp_", -0.5, 0.5), X)
case("iadd", augmented("+="), X, u(4))
case("isub", augmented("-="), X, u(3, 4))
case("imul", augmented("*="), X, u(3, 1))
case("idiv", augmented("/="), X, pos(4))
case("setitem-row", set_item(0), X, u(4))
case("setitem-column-scalar", set_item((slice(None), 1), 0.0), X)
case("setitem-broadcast", set_item((slice(1, None), slice(None, 2))), X, u(2))
case("setitem-mask", set_item(lambda lib: lib.tensor([[True, False, True, False]] * 3), -1.0), X)
case("setitem-int-list", set_item([0, 2]), X, u(2, 4))
case("setitem-ellipsis", set_item((Ellipsis, 3)), X, u(3))


# ----- the runner ------------------------------------------------------------------------------


def seed_of(name):
    return zlib.crc32(name.encode())


def run(lib_name, item, dtype=np.float64):
    """Inputs, then `item.fn` on them, in one library: (inputs, result)."""
    lib = LIBS[lib_name]
    rng = np.random.default_rng(seed_of(item.id))
    inputs = [lib.tensor(spec.make(rng).astype(dtype), requires_grad=True) for spec in item.inputs]
    return inputs, item.fn(lib, *inputs)


def is_tensor(value):
    return isinstance(value, (torch.Tensor, tg.Tensor))


def flat_tensors(value):
    if is_tensor(value):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for part in value for t in flat_tensors(part)]
    return []


def as_array(t):
    """The values of a tensor of either library (or of a NumPy .grad)."""
    return np.asarray(t.detach().numpy() if is_tensor(t) else t)


def dtype_name(dtype):
    return (
        str(dtype).removeprefix("torch.")
        if isinstance(dtype, torch.dtype)
        else np.dtype(dtype).name
    )


def assert_same(got, want, rtol, where="result", atol=1e-12):
    """got (tinygrad_hlcv) is what torch gave: type, shape, dtype, values, requires_grad."""
    if isinstance(want, torch.Tensor):
        assert isinstance(got, tg.Tensor), f"{where}: a {type(got).__name__}, expected a Tensor"
        assert tuple(got.shape) == tuple(want.shape), (
            f"{where}: shape {tuple(got.shape)}, expected {tuple(want.shape)}"
        )
        assert dtype_name(got.dtype) == dtype_name(want.dtype), (
            f"{where}: dtype {dtype_name(got.dtype)}, expected {dtype_name(want.dtype)}"
        )
        np.testing.assert_allclose(
            as_array(got), as_array(want), rtol=rtol, atol=atol, err_msg=f"{where}: values differ"
        )
        assert got.requires_grad == want.requires_grad, (
            f"{where}: requires_grad={got.requires_grad}, expected {want.requires_grad}"
        )
    elif isinstance(want, torch.dtype):
        assert dtype_name(got) == dtype_name(want), f"{where}: {got}, expected {want}"
    elif isinstance(want, torch.Size):
        assert isinstance(got, tuple) and tuple(got) == tuple(want), (
            f"{where}: {got!r}, expected a tuple equal to {tuple(want)}"
        )
    elif isinstance(want, (tuple, list)):
        assert isinstance(got, (tuple, list)), f"{where}: {got!r}, expected a sequence"
        assert len(got) == len(want), f"{where}: {len(got)} items, expected {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, rtol, f"{where}[{i}]", atol)
    else:
        assert type(got) is type(want), (
            f"{where}: a {type(got).__name__}, expected a {type(want).__name__} ({want!r})"
        )
        same = got == pytest.approx(want, rel=rtol) if isinstance(want, float) else got == want
        assert same, f"{where}: {got!r}, expected {want!r}"


def weighted_loss(lib, result, seed):
    """sum(out * W) over the outputs that carry a gradient, W fixed random per output."""
    rng = np.random.default_rng(seed)
    total = None
    for out in flat_tensors(result):
        weights = rng.uniform(0.5, 1.5, tuple(out.shape))
        if out.requires_grad:
            term = (out * lib.tensor(weights)).sum()
            total = term if total is None else total + term
    return total


def check_parity(item, dtype=np.float64, rtol=None, atol=1e-12):
    """Forward (type, shape, dtype, values, requires_grad) and every input's gradient."""
    rtol = item.rtol if rtol is None else rtol
    want_inputs, want = run("torch", item, dtype)
    got_inputs, got = run("tinygrad_hlcv", item, dtype)
    assert_same(got, want, rtol, atol=atol)
    want_loss = weighted_loss(torch, want, seed_of(item.id) + 1)
    if want_loss is None:
        return
    got_loss = weighted_loss(tg, got, seed_of(item.id) + 1)
    want_loss.backward()
    got_loss.backward()
    for i, (g, w) in enumerate(zip(got_inputs, want_inputs)):
        expected = np.zeros(tuple(w.shape), dtype) if w.grad is None else w.grad.numpy()
        actual = np.zeros(tuple(g.shape), dtype) if g.grad is None else as_array(g.grad)
        assert actual.shape == expected.shape, f"input {i}: gradient shape {actual.shape}"
        assert actual.dtype == expected.dtype, f"input {i}: gradient dtype {actual.dtype}"
        np.testing.assert_allclose(
            actual,
            expected,
            rtol=max(rtol, 1e-9),
            atol=atol,
            err_msg=f"input {i}: gradients differ",
        )


@pytest.mark.parametrize("item", CASES, ids=[c.id for c in CASES])
def test_parity(item):
    check_parity(item)


@pytest.mark.parametrize(
    "item", [c for c in CASES if c.inputs], ids=[c.id for c in CASES if c.inputs]
)
def test_parity_float32(item):
    """The same in float32 (the default dtype): an op must keep float32 in and out."""
    check_parity(item, np.float32, rtol=2e-4, atol=1e-5)


# ----- the silent-wrong-result cases, spelled out -----------------------------------------------


def test_eq_with_a_number_gives_a_bool_tensor():
    t = tg.tensor([1, 3, 3])
    result = t == 3
    assert isinstance(result, tg.Tensor) and result.dtype == np.bool_
    assert result.tolist() == [False, True, True]
    assert (t != 3).tolist() == [True, False, False]


def test_transpose_two_dims_swaps_them():
    assert tuple(tg.zeros(2, 3).transpose(0, 1).shape) == (3, 2)
    assert tuple(tg.zeros(2, 3, 4).transpose(0, 1).shape) == (3, 2, 4)
    x = tg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert x.transpose(0, 1).tolist() == [[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]


def test_list_of_a_tensor_stops_at_its_length():
    rows = list(tg.tensor([[1, 2], [3, 4], [5, 6]]))
    assert [r.tolist() for r in rows] == [[1, 2], [3, 4], [5, 6]]
    assert [v.item() for v in tg.tensor([7, 8])] == [7, 8]


def test_tensor_of_python_ints_is_int64():
    assert tg.tensor([0, 1, 2]).dtype == np.int64
    assert tg.tensor([0.0, 1.0]).dtype == np.float32
    assert tg.tensor([0, 1.5]).dtype == np.float32
    assert tg.tensor([True]).dtype == np.bool_


def test_from_numpy_shares_memory_and_tensor_copies():
    array = np.zeros(3)
    shared, copied = tg.from_numpy(array), tg.tensor(array)
    array[0] = 5.0
    assert shared[0].item() == 5.0 and copied[0].item() == 0.0
    shared.add_(1.0)
    assert array.tolist() == [6.0, 1.0, 1.0]


def test_detach_shares_memory():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    d = x.detach()
    assert not d.requires_grad
    with tg.no_grad():
        x.add_(1.0)
    assert d.tolist() == [2.0, 3.0]


def test_bool_of_several_values_is_refused():
    for lib in (torch, tg):
        with pytest.raises(RuntimeError if lib is torch else (TinygradError, RuntimeError)):
            bool(lib.tensor([1.0, 2.0]) > 0)


def test_in_place_on_a_leaf_that_requires_grad_is_refused():
    for lib in (torch, tg):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        with pytest.raises(RuntimeError):
            x.add_(1.0)


def test_in_place_on_a_tensor_saved_for_backward_is_refused_or_harmless():
    """exp saves its output; changing it in place must not silently change the gradient."""
    x = tg.tensor([0.5, -1.0], dtype=np.float64, requires_grad=True)
    y = x.exp()
    y.add_(1.0)
    try:
        y.sum().backward()
    except RuntimeError:
        return  # refused, as PyTorch does
    np.testing.assert_allclose(x.grad, np.exp([0.5, -1.0]))


def test_in_place_methods_on_plain_tensors():
    t = tg.tensor([1.0, -2.0, 3.0])
    t.mul_(2).add_(1).clamp_(-1.0, 5.0)
    assert t.tolist() == [3.0, -1.0, 5.0]
    alias = t
    t += 1
    assert alias is t and alias.tolist() == [4.0, 0.0, 6.0]
    t.zero_()
    assert t.tolist() == [0.0, 0.0, 0.0]


def test_every_case_runs_on_torch():
    """The idioms themselves are valid PyTorch (so a failure below is ours)."""
    for item in CASES:
        run("torch", item)
