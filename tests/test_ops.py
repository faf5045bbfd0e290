"""Every op: forward against NumPy, and autodiff gradients against numerical differences
(float64, hypothesis-drawn inputs), plus a property test on random expression graphs."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_hlcv import Tensor
from tinygrad_hlcv.errors import ShapeError
from tinygrad_hlcv.gradcheck import GradcheckError
from tinygrad_hlcv.testing import arrays, assert_grads_match, broadcastable_arrays, shapes, values

SCALARS = values(-3.0, 3.0)
NONZERO_SCALARS = values(-3.0, 3.0, margin=0.5)
POSITIVE = dict(low=0.5, high=3.0)  # log and pow bases
KINK = 1e-2  # relu / leaky inputs keep this far from 0


def test_assert_grads_match_can_fail():
    """The checker these tests rely on rejects a wrong gradient."""
    from tinygrad_hlcv.engine import Function

    class WrongSquare(Function):
        def forward(self, a):
            self.a = a
            return a * a

        def backward(self, g):
            return g * 2.1 * self.a

    with pytest.raises(GradcheckError):
        assert_grads_match(lambda x: WrongSquare.apply(x), [np.array([1.0, -2.0])])


# ----- element-wise binary ops, with broadcasting both ways ----------------------------------

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
}


@pytest.mark.parametrize("name", sorted(BINARY))
@given(pair=broadcastable_arrays(2))
def test_binary_grads(name, pair):
    assert_grads_match(BINARY[name], pair)


@given(pair=broadcastable_arrays(2, margin=0.5))
def test_div_grads(pair):
    assert_grads_match(lambda a, b: a / b, pair)


@given(pair=broadcastable_arrays(2, max_dims=3))
def test_binary_grads_with_one_operand_reused(pair):
    # broadcasting in both directions at once, and a tensor in two places
    assert_grads_match(lambda a, b: a * b - b + a * a, pair)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div"])
@pytest.mark.parametrize("side", ["left", "right"])
@given(x=arrays(margin=0.5), c=NONZERO_SCALARS)
def test_python_scalar_operand_grads(name, side, x, c):
    fns = {
        "add": lambda a, b: a + b,
        "sub": lambda a, b: a - b,
        "mul": lambda a, b: a * b,
        "div": lambda a, b: a / b,
    }
    f = fns[name]
    if side == "left":
        assert_grads_match(lambda t: f(c, t), [x])
    else:
        assert_grads_match(lambda t: f(t, c), [x])


@given(x=arrays())
def test_neg_grads(x):
    assert_grads_match(lambda t: -t, [x])


@given(x=arrays(**POSITIVE), p=st.sampled_from([-2.0, -1.0, -0.5, 0.5, 1.0, 1.5, 2.0, 3.0]))
def test_pow_grads(x, p):
    assert_grads_match(lambda t: t**p, [x])


@given(x=arrays(margin=0.5), p=st.sampled_from([2, 3, -1]))
def test_pow_integer_exponent_negative_base_grads(x, p):
    assert_grads_match(lambda t: t**p, [x])


@given(x=arrays(low=-3.0, high=2.0))
def test_exp_grads(x):
    assert_grads_match(lambda t: t.exp(), [x])


@given(x=arrays(**POSITIVE))
def test_log_grads(x):
    assert_grads_match(lambda t: t.log(), [x])


@given(x=arrays(margin=KINK))
def test_relu_grads(x):
    assert_grads_match(lambda t: t.relu(), [x])


@given(x=arrays(margin=KINK), slope=st.sampled_from([0.01, 0.2, 0.5]))
def test_leaky_relu_grads(x, slope):
    assert_grads_match(lambda t: t.leaky_relu(slope), [x])


ELEMENTWISE = {
    "neg": lambda t: -t,
    "exp": lambda t: t.exp(),
    "log": lambda t: (t * t + 1.0).log(),
    "pow": lambda t: (t * t + 1.0) ** 1.5,
    "relu": lambda t: t.relu(),
    "leaky_relu": lambda t: t.leaky_relu(0.1),
    "scalar_add": lambda t: 1.0 + t,
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(), (1,), (3,), (2, 3), (2, 1, 3)])
@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_ops_keep_shape_and_dtype(name, shape, dtype):
    x = Tensor(
        np.linspace(-2.0, 2.0, int(np.prod(shape))).reshape(shape).astype(dtype) + 0.1,
        requires_grad=True,
    )
    y = ELEMENTWISE[name](x)
    assert y.shape == shape and y.dtype == dtype
    y.sum().backward()
    assert x.grad.shape == shape and x.grad.dtype == dtype


@st.composite
def matmul_operands(draw):
    n, k, m = (draw(st.integers(1, 4)) for _ in range(3))
    return draw(arrays((n, k))), draw(arrays((k, m)))


@given(ab=matmul_operands())
def test_matmul_grads(ab):
    assert_grads_match(lambda a, b: a @ b, ab)


@given(ab=matmul_operands())
def test_matmul_grads_with_ndarray_operand(ab):
    a, b = ab
    assert_grads_match(lambda t: a @ t, [b])
    assert_grads_match(lambda t: t @ b, [a])


# ----- reductions ---------------------------------------------------------------------------


@st.composite
def axis_choices(draw, ndim):
    """None, one axis or a tuple of distinct axes (each maybe written negative)."""
    kind = draw(st.sampled_from(["none", "int", "tuple"]) if ndim else st.just("none"))
    if kind == "none":
        return None
    if kind == "int":
        a = draw(st.integers(0, ndim - 1))
        return a - ndim if draw(st.booleans()) else a
    chosen = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return tuple(a - ndim if draw(st.booleans()) else a for a in chosen)


@st.composite
def reduction_case(draw, unique=False):
    shape = draw(shapes(min_dims=0, max_dims=3, max_side=4))
    if unique:
        # distinct entries at least 0.01 apart: no ties, and none within the stencil's 2h
        ints = draw(hnp.arrays(np.int64, shape, elements=st.integers(-300, 300), unique=True))
        x = ints / 100.0
    else:
        x = draw(arrays(shape))
    return x, draw(axis_choices(len(shape))), draw(st.booleans())


@pytest.mark.parametrize("name", ["sum", "mean"])
@given(case=reduction_case())
def test_sum_mean_grads(name, case):
    x, axis, keepdims = case
    assert_grads_match(lambda t: getattr(t, name)(axis=axis, keepdims=keepdims), [x])


@given(case=reduction_case(unique=True))
def test_max_grads(case):
    x, axis, keepdims = case
    assert_grads_match(lambda t: t.amax(axis=axis, keepdims=keepdims), [x])


@pytest.mark.parametrize("name", ["sum", "mean", "amax"])
@given(case=reduction_case(unique=True))
def test_reduction_forward_matches_numpy(name, case):
    """NumPy's spelling (axis=, keepdims=, tuples of axes) is accepted beside PyTorch's."""
    x, axis, keepdims = case
    out = getattr(Tensor(x), name)(axis=axis, keepdims=keepdims)
    expected = getattr(np, name.replace("amax", "max"))(x, axis=axis, keepdims=keepdims)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.data, expected, rtol=1e-14, atol=1e-15)


def test_max_splits_the_gradient_between_ties():
    x = Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, -1.0]]), requires_grad=True)
    x.amax(axis=1).sum().backward()  # amax splits ties; max(dim) picks one index, as torch
    np.testing.assert_array_equal(x.grad, [[0, 0.5, 0.5], [1, 0, 0]])
    y = Tensor(np.array([2.0, 2.0, 2.0, 1.0]), requires_grad=True)
    y.max().backward()
    np.testing.assert_allclose(y.grad, [1 / 3, 1 / 3, 1 / 3, 0])


# ----- shape ops ----------------------------------------------------------------------------


@st.composite
def reshape_case(draw):
    x = draw(arrays(shapes(min_dims=0, max_dims=3, max_side=4)))
    n = x.size
    divisors = [d for d in range(1, n + 1) if n % d == 0]
    d = draw(st.sampled_from(divisors))
    target = draw(
        st.sampled_from(
            [(n,), (-1,), (d, n // d), (n // d, -1), (1, d, n // d), x.shape[::-1], ()]
            if n == 1
            else [(n,), (-1,), (d, n // d), (n // d, -1), (1, d, n // d), x.shape[::-1]]
        )
    )
    return x, target


@given(case=reshape_case())
def test_reshape_grads(case):
    x, target = case
    assert_grads_match(lambda t: t.reshape(target), [x])
    assert_grads_match(lambda t: t.reshape(*target), [x])


@st.composite
def transpose_case(draw):
    x = draw(arrays(shapes(min_dims=1, max_dims=4, max_side=3)))
    perm = draw(st.permutations(range(x.ndim)))
    # axes may be written negative, as NumPy allows
    axes = tuple(a - x.ndim if draw(st.booleans()) else a for a in perm)
    return x, axes


@given(case=transpose_case())
def test_transpose_grads(case):
    x, axes = case
    assert_grads_match(lambda t: t.permute(axes), [x])
    assert_grads_match(lambda t: t.permute(*axes), [x])
    assert_grads_match(lambda t: t.transpose(order=axes), [x])


@given(x=arrays(shapes(min_dims=0, max_dims=3)))
def test_T_grads(x):
    assert_grads_match(lambda t: t.T, [x])


def test_transpose_with_negative_axes_backward():
    x = Tensor(np.zeros((2, 3, 4)), requires_grad=True)
    y = x.permute(-1, 0, 1)
    assert y.shape == (4, 2, 3)
    g = np.arange(24.0).reshape(4, 2, 3)
    y.backward(g)
    np.testing.assert_array_equal(x.grad, np.transpose(g, (1, 2, 0)))


@st.composite
def slice_case(draw):
    x = draw(arrays(shapes(min_dims=1, max_dims=3, max_side=5)))

    def one_slice(n):
        start = draw(st.none() | st.integers(-n, n))
        stop = draw(st.none() | st.integers(-n, n))
        step = draw(st.none() | st.sampled_from([1, 2, -1, -2]))
        return slice(start, stop, step)

    index = tuple(one_slice(n) for n in x.shape[: draw(st.integers(1, x.ndim))])
    assume(x[index].size > 0)
    return x, index


@given(case=slice_case())
def test_slice_grads(case):
    x, index = case
    assert_grads_match(lambda t: t[index], [x])


@st.composite
def fancy_index_case(draw):
    n, c = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    x = draw(arrays((n, c)))
    rows = draw(hnp.arrays(np.int64, draw(st.integers(1, 8)), elements=st.integers(0, n - 1)))
    labels = draw(hnp.arrays(np.int64, n, elements=st.integers(0, c - 1)))
    return x, rows, labels


@given(case=fancy_index_case())
def test_integer_array_index_grads(case):
    x, rows, labels = case
    assert_grads_match(lambda t: t[rows], [x])  # repeated rows
    assert_grads_match(lambda t: t[np.arange(len(labels)), labels], [x])
    assert_grads_match(lambda t: t[np.concatenate([rows, rows])], [x])  # surely repeated
    assert_grads_match(lambda t: t[Tensor(rows), 0], [x])  # a Tensor as index
    assert_grads_match(lambda t: t[1:, labels[:1]], [x])


def test_repeated_index_adds_gradients():
    x = Tensor(np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), requires_grad=True)
    y = np.array([1, 1, 0])
    x[np.array([0, 0, 2]), y].sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 2], [0, 0], [1, 0]])


# ----- forward values against NumPy -----------------------------------------------------------

RNG_CASES = [np.float32, np.float64]


def _data(dtype, shape, low=-3.0, high=3.0, seed=0):
    return np.random.default_rng(seed).uniform(low, high, shape).astype(dtype)


FORWARD = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / b, lambda a, b: a / b),
    "radd": (lambda a, b: 2.5 + a, lambda a, b: 2.5 + a),
    "rsub": (lambda a, b: 2.5 - a, lambda a, b: 2.5 - a),
    "rmul": (lambda a, b: 2.5 * a, lambda a, b: 2.5 * a),
    "rdiv": (lambda a, b: 2.5 / a, lambda a, b: 2.5 / a),
    "neg": (lambda a, b: -a, lambda a, b: -a),
    "pow": (lambda a, b: a**3, lambda a, b: a**3.0),
    "pow_frac": (lambda a, b: a.exp() ** -1.5, lambda a, b: np.exp(a) ** -1.5),
    "exp": (lambda a, b: a.exp(), lambda a, b: np.exp(a)),
    "relu": (lambda a, b: a.relu(), lambda a, b: np.maximum(a, 0)),
    "leaky_relu": (lambda a, b: a.leaky_relu(0.1), lambda a, b: np.where(a > 0, a, 0.1 * a)),
    "T": (lambda a, b: a.T, lambda a, b: a.T),
    "transpose": (lambda a, b: a.transpose(1, 0), lambda a, b: np.transpose(a, (1, 0))),
    "reshape": (lambda a, b: a.reshape(3, 8), lambda a, b: a.reshape(3, 8)),
    "getitem": (lambda a, b: a[1:, ::-2], lambda a, b: a[1:, ::-2]),
    "fancy": (
        lambda a, b: a[np.arange(4), np.array([0, 5, 5, 1])],
        lambda a, b: a[np.arange(4), np.array([0, 5, 5, 1])],
    ),
    "sum": (lambda a, b: a.sum(axis=0), lambda a, b: a.sum(axis=0)),
    "max": (
        lambda a, b: a.amax(axis=(0, 1), keepdims=True),
        lambda a, b: a.max(axis=(0, 1), keepdims=True),
    ),
}


@pytest.mark.parametrize("dtype", RNG_CASES)
@pytest.mark.parametrize("name", sorted(FORWARD))
def test_forward_matches_numpy_exactly(name, dtype):
    a = _data(dtype, (4, 6), seed=1)
    b = _data(dtype, (1, 6), seed=2)
    b[np.abs(b) < 0.5] = 1.0
    ours, theirs = FORWARD[name]
    out = ours(Tensor(a), Tensor(b))
    expected = theirs(a, b)
    assert isinstance(out, Tensor)
    assert out.dtype == dtype
    assert out.shape == expected.shape
    np.testing.assert_array_equal(out.data, expected)


@pytest.mark.parametrize("dtype", RNG_CASES)
def test_forward_log_mean_matmul_match_numpy(dtype):
    a = _data(dtype, (5, 3), 0.5, 3.0)
    b = _data(dtype, (3, 4), seed=3)
    np.testing.assert_array_equal(Tensor(a).log().data, np.log(a))
    np.testing.assert_array_equal((Tensor(a) @ Tensor(b)).data, a @ b)
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    for axis in (None, 0, 1, (0, 1), -1):
        out = Tensor(a).mean(axis=axis)
        assert out.dtype == dtype
        np.testing.assert_allclose(out.data, a.mean(axis=axis), rtol=rtol)


# ----- shape errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sa, sb",
    [((2, 3), (4, 5)), ((3,), (4, 2)), ((2, 3), (4,)), ((1, 2, 3), (4, 2)), ((2, 2, 3), (3, 3, 2))],
)
def test_matmul_shape_mismatch_names_both_shapes(sa, sb):
    a, b = Tensor(np.ones(sa)), Tensor(np.ones(sb))
    with pytest.raises(ShapeError) as info:
        a @ b
    assert str(sa) in str(info.value) and str(sb) in str(info.value)


def test_reshape_to_wrong_size_raises():
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"\(2, 3\).*\(4, 2\)"):
        x.reshape(4, 2)
    with pytest.raises(ShapeError):
        x.reshape((5, -1))


def test_broadcast_mismatch_raises_value_error():
    with pytest.raises(ValueError):
        Tensor(np.ones((2, 3))) + Tensor(np.ones((4,)))


# ----- random expression graphs ---------------------------------------------------------------

# (hypothesis favours the first entries of a list: the kinked and reducing ops come first)
UNARY_OPS = [
    "max",
    "relu",
    "log",
    "pow",
    "mean",
    "leaky_relu",
    "exp",
    "square_reuse",
    "sum",
    "flip",
    "neg",
]
BINARY_OPS = ["div", "mul", "sub", "rsub_scalar", "add"]


def _reduced_shape(shape, axis, keepdims):
    axes = range(len(shape)) if axis is None else [a % len(shape) for a in np.atleast_1d(axis)]
    if keepdims:
        return tuple(1 if i in axes else n for i, n in enumerate(shape))
    return tuple(n for i, n in enumerate(shape) if i not in axes)


def draw_expression(data, shapes_, depth, root=True):
    """A random expression tree over inputs of mutually broadcastable shapes.

    Every sub-expression keeps a shape that broadcasts with all the others (reductions
    keep their dims, drop only leading axes, or reduce everything), so any two can be
    combined. The root is always an op. Returns (tree, shape)."""
    if depth == 0 or (not root and data.draw(st.integers(0, 2)) == 2):
        i = data.draw(st.integers(0, len(shapes_) - 1))
        return ("input", i), shapes_[i]
    if data.draw(st.booleans()):
        (left, ls), (right, rs) = (
            draw_expression(data, shapes_, depth - 1, False) for _ in range(2)
        )
        op = data.draw(st.sampled_from(BINARY_OPS))
        if op == "rsub_scalar":  # a Python number on the left, then combined with right
            return (
                op,
                left,
                right,
                data.draw(st.sampled_from([0.5, -1.5, 2.0])),
            ), np.broadcast_shapes(ls, rs)
        return (op, left, right), np.broadcast_shapes(ls, rs)
    child, shape = draw_expression(data, shapes_, depth - 1, False)
    op = data.draw(st.sampled_from(UNARY_OPS))
    if op in ("sum", "mean", "max"):
        ndim = len(shape)
        form = data.draw(st.sampled_from(["all", "keep", "leading"] if ndim else ["all"]))
        if form == "all":
            axis, keepdims = None, data.draw(st.booleans())
        elif form == "keep":
            axis, keepdims = data.draw(axis_choices(ndim)), True
        else:
            axis, keepdims = 0, False
        return (op, child, axis, keepdims), _reduced_shape(shape, axis, keepdims)
    if op == "pow":
        return (op, child, data.draw(st.sampled_from([-1.0, 0.5, 1.5, 2.0]))), shape
    if op == "leaky_relu":
        return (op, child, data.draw(st.sampled_from([0.05, 0.3]))), shape
    return (op, child), shape


class Margins:
    """The smallest distance from a kink (relu input to 0, max to the runner-up) seen
    while evaluating: numerical differences are only valid well away from kinks."""

    def __init__(self):
        self.smallest = np.inf

    def kink(self, x):
        if x.size:
            self.smallest = min(self.smallest, float(np.abs(x).min()))

    def ties(self, x, axis):
        axes = (
            tuple(range(x.ndim)) if axis is None else tuple(a % x.ndim for a in np.atleast_1d(axis))
        )
        moved = np.moveaxis(x, axes, tuple(range(x.ndim - len(axes), x.ndim)))
        flat = moved.reshape(moved.shape[: x.ndim - len(axes)] + (-1,))
        if flat.shape[-1] > 1:
            top2 = np.sort(flat, axis=-1)[..., -2:]
            self.smallest = min(self.smallest, float((top2[..., 1] - top2[..., 0]).min()))


def evaluate(tree, inputs, margins=None):
    op = tree[0]
    if op == "input":
        return inputs[tree[1]]
    if op in ("add", "sub", "mul", "div", "rsub_scalar"):
        a, b = evaluate(tree[1], inputs, margins), evaluate(tree[2], inputs, margins)
        if op == "add":
            return a + b
        if op == "sub":
            return a - b
        if op == "mul":
            return a * b
        if op == "div":
            return a / (b * b + 0.5)  # a divisor ≥ 0.5
        return (tree[3] - a) * b
    x = evaluate(tree[1], inputs, margins)
    if op == "neg":
        return -x
    if op == "exp":
        return (x * 0.25).exp()  # bounded growth
    if op == "log":
        return (x * x + 0.5).log()  # a positive argument ≥ 0.5
    if op == "pow":
        return (x * x + 0.5) ** tree[2]  # a positive base ≥ 0.5
    if op in ("relu", "leaky_relu"):
        if margins is not None:
            margins.kink(x.data)
        return x.relu() if op == "relu" else x.leaky_relu(tree[2])
    if op == "flip":
        return x[..., ::-1] if x.ndim else x[()]
    if op == "square_reuse":
        return x * x + x  # one node used in three places
    axis, keepdims = tree[2], tree[3]
    if op == "max" and margins is not None:
        margins.ties(x.data, axis)
    return getattr(x, op.replace("max", "amax"))(axis=axis, keepdims=keepdims)


@given(data=st.data())
def test_random_graph_grads(data):
    count = data.draw(st.integers(1, 3), label="inputs")
    drawn = data.draw(
        hnp.mutually_broadcastable_shapes(num_shapes=count, min_dims=0, max_dims=2, max_side=3)
    )
    inputs = [data.draw(arrays(s, low=-2.0, high=2.0)) for s in drawn.input_shapes]
    tree, shape = draw_expression(data, drawn.input_shapes, depth=3)
    margins = Margins()
    out = evaluate(tree, [Tensor(x) for x in inputs], margins)
    assert out.shape == shape
    assume(margins.smallest >= 2e-2)
    assert_grads_match(lambda *ts: evaluate(tree, ts), inputs, atol=1e-8)
