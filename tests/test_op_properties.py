"""One generated property test per differentiable op of the Tensor API (op_test): values,
shapes and dtypes against a NumPy reference, and float64 gradients against central
differences, over drawn shapes (broadcasting, 0-d, size-1 and empty axes) and options
(dim/keepdim and the NumPy axis/keepdims spelling). PyTorch semantics are the spec."""

import math

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_hlcv as tg
from tinygrad_hlcv import Tensor
from tinygrad_hlcv.testing import dims, op_test, values

EXAMPLES = max(12, settings.default.max_examples // 2)  # ci: 12 per op; dev: 100
PHASES = [Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink]  # no slow "explain" phase


def case(op, reference, max_examples=EXAMPLES, **options):
    """An op_test with this file's small budget (the whole file stays well under a minute)."""
    return settings(max_examples=max_examples, deadline=None, phases=PHASES)(
        op_test(op, reference, **options)
    )


class WrongSquare(tg.engine.Function):
    """x², with a gradient 5% off: op_test must notice."""

    def forward(self, a):
        self.a = a
        return a * a

    def backward(self, g):
        return g * 2.1 * self.a


def zeroes_its_input(x):
    out = x * 1
    x.data[...] = 0.0
    return out


@pytest.mark.parametrize(
    "op, reference",
    [
        (lambda x: x.exp() * 1.001, np.exp),  # a wrong value
        (lambda x: x.reshape(-1), lambda a: a),  # a wrong shape
        (lambda x: x.float(), lambda a: a),  # a wrong dtype
        (lambda x: WrongSquare.apply(x), np.square),  # a wrong gradient
        (zeroes_its_input, lambda a: a),  # an input changed in place
        (lambda x: x.max(0), lambda a: a.max(0)),  # a tuple where one is expected
    ],
    ids=["value", "shape", "dtype", "gradient", "in-place", "count"],
)
def test_op_test_can_fail(op, reference):
    """The factory these tests rely on rejects each kind of wrong op."""
    test = settings(max_examples=10, deadline=None, phases=PHASES, database=None)(
        op_test(op, reference, min_dims=1, min_side=1)
    )
    with pytest.raises(AssertionError):
        test()


@given(values(-3.0, 9.0, margin=0.1, kinks=(0.0, 6.0)))
def test_values_keep_away_from_kinks(v):
    assert -3.0 <= v <= 9.0 and abs(v) >= 0.1 and abs(v - 6.0) >= 0.1 - 1e-12  # 6 + 0.1


@given(values(-1.0, 1.0, margin=0.3, step=0.25))
def test_values_on_a_grid(v):
    assert v / 0.25 == round(v / 0.25) and -1.0 <= v <= 1.0 and abs(v) >= 0.3


@given(st.integers(0, 4).flatmap(lambda n: st.tuples(st.just(n), dims(n, keep_tuple=True))))
def test_dims_fit_the_rank(drawn):
    ndim, dim = drawn
    for d in dim if isinstance(dim, tuple) else () if dim is None else (dim,):
        assert -ndim <= d < ndim


# ----- NumPy references --------------------------------------------------------------------

erf = np.vectorize(math.erf, otypes=[np.float64])


def np_sigmoid(a):
    return 1 / (1 + np.exp(-a))


def np_softplus(a, beta=1.0):
    return np.log1p(np.exp(beta * a)) / beta


def np_gelu(a, approximate="none"):
    if approximate == "tanh":
        return 0.5 * a * (1 + np.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a**3)))
    return 0.5 * a * (1 + erf(a / math.sqrt(2)))


def np_logsumexp(a, axis=None, keepdims=False):
    top = np.max(a, axis=axis, keepdims=True)
    out = np.log(np.exp(a - top).sum(axis=axis, keepdims=True)) + top
    return out if keepdims else np.squeeze(out, axis=axis)


def np_softmax(a, dim):
    if a.size == 0:
        return a.copy()
    e = np.exp(a - a.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


# Ties: a grid of quarter steps for one operand, the same grid shifted by an eighth for the
# other, so max/min/clamp never compare equal values and never change winner under a nudge.
GRID = values(-3.0, 3.0, step=0.25)
OFFSET_GRID = GRID.map(lambda v: v + 0.125)
DISTINCT = dict(unique=True, step=0.01, min_side=1)  # reductions that pick one entry


# ----- element-wise, one operand -------------------------------------------------------------

test_abs = case(lambda x: x.abs(), np.abs, margin=0.05)
test_abs_function = case(lambda x: tg.abs(x), np.abs, margin=0.05)
test_neg = case(lambda x: -x, np.negative)
test_sign = case(lambda x: x.sign(), np.sign, margin=0.05)
test_sqrt = case(lambda x: x.sqrt(), np.sqrt, low=0.1)
test_rsqrt = case(lambda x: x.rsqrt(), lambda a: 1 / np.sqrt(a), low=0.1)
test_exp = case(lambda x: x.exp(), np.exp)
test_exp_function = case(lambda x: tg.exp(x), np.exp)
test_log = case(lambda x: x.log(), np.log, low=0.1)
test_log_function = case(lambda x: tg.log(x), np.log, low=0.1)
test_log1p = case(lambda x: x.log1p(), np.log1p, low=-0.9)
test_expm1 = case(lambda x: x.expm1(), np.expm1)
test_sin = case(lambda x: x.sin(), np.sin)
test_cos = case(lambda x: x.cos(), np.cos)
test_tanh = case(lambda x: x.tanh(), np.tanh)
test_sigmoid = case(lambda x: x.sigmoid(), np_sigmoid)
test_sigmoid_function = case(lambda x: tg.sigmoid(x), np_sigmoid, low=-30, high=30)
test_relu = case(lambda x: x.relu(), lambda a: np.maximum(a, 0), margin=0.01)
test_relu_function = case(lambda x: tg.relu(x), lambda a: np.maximum(a, 0), margin=0.01)
test_leaky_relu = case(
    lambda x, slope: tg.leaky_relu(x, slope),
    lambda a, slope: np.where(a > 0, a, slope * a),
    margin=0.01,
    kwargs={"slope": st.sampled_from([0.01, 0.2])},
)
test_gelu = case(
    lambda x, approximate: tg.gelu(x, approximate=approximate),
    np_gelu,
    kwargs={"approximate": st.sampled_from(["none", "tanh"])},
)
test_silu = case(lambda x: tg.silu(x), lambda a: a * np_sigmoid(a))
test_elu = case(
    lambda x, alpha: tg.elu(x, alpha=alpha),
    lambda a, alpha: np.where(a > 0, a, alpha * np.expm1(np.minimum(a, 0))),
    margin=0.01,
    kwargs={"alpha": st.sampled_from([1.0, 0.5])},
)
test_softplus = case(
    lambda x, beta: tg.softplus(x, beta=beta),
    np_softplus,
    kwargs={"beta": st.sampled_from([1.0, 2.0])},
)
test_relu6 = case(
    lambda x: tg.relu6(x), lambda a: np.clip(a, 0, 6), low=-3, high=9, margin=0.01, kinks=(0, 6)
)
test_hardswish = case(
    lambda x: tg.hardswish(x),
    lambda a: a * np.clip(a + 3, 0, 6) / 6,
    low=-5,
    high=5,
    margin=0.01,
    kinks=(-3, 3),
)
test_mish = case(lambda x: tg.mish(x), lambda a: a * np.tanh(np_softplus(a)))
test_reciprocal = case(lambda x: x.reciprocal(), lambda a: 1 / a, margin=0.2)
test_clamp_scalars = case(
    lambda x: x.clamp(-1.0, 1.5), lambda a: np.clip(a, -1.0, 1.5), margin=0.01, kinks=(-1.0, 1.5)
)
test_clamp_min_only = case(
    lambda x: x.clamp(min=0.5), lambda a: np.maximum(a, 0.5), margin=0.01, kinks=(0.5,)
)
test_clamp_max_only = case(
    lambda x: tg.clamp(x, max=-0.5), lambda a: np.minimum(a, -0.5), margin=0.01, kinks=(-0.5,)
)
test_clip = case(
    lambda x: x.clip(-1.0, 1.0), lambda a: np.clip(a, -1.0, 1.0), margin=0.01, kinks=(-1.0, 1.0)
)
test_pow_scalar_exponent = case(
    lambda x, p: x**p,
    lambda a, p: a**p,
    low=0.1,
    kwargs={"p": st.sampled_from([2, 3.0, 0.5, -1.5])},
)
test_pow_integer_exponent_negative_base = case(lambda x: x**3, lambda a: a**3)
test_rpow = case(lambda x: 2.0**x, lambda a: 2.0**a)
test_pow_method = case(lambda x: x.pow(2.5), lambda a: a**2.5, low=0.1)

# ----- element-wise, several operands (broadcasting both ways) -------------------------------

test_add = case(lambda x, y: x + y, np.add, arity=2)
test_sub = case(lambda x, y: x - y, np.subtract, arity=2)
test_mul = case(lambda x, y: x * y, np.multiply, arity=2)
test_div = case(lambda x, y: x / y, np.divide, arity=2, margin=0.3)
test_add_method = case(lambda x, y: x.add(y), np.add, arity=2)
test_mul_function = case(lambda x, y: tg.mul(x, y), np.multiply, arity=2)
test_div_method = case(lambda x, y: x.div(y), np.divide, arity=2, margin=0.3)
test_sub_function = case(lambda x, y: tg.sub(x, y), np.subtract, arity=2)
test_scalar_arithmetic = case(
    lambda x: (2.0 - x) * 3 + 1.5 / (x + 4.0) - x / 2,
    lambda a: (2.0 - a) * 3 + 1.5 / (a + 4.0) - a / 2,
)
test_pow_tensor_exponent = case(
    lambda x, y: x**y, np.power, arity=2, elements={0: values(0.1, 3.0)}
)
test_pow_function = case(
    lambda x, y: tg.pow(x, y), np.power, arity=2, elements={0: values(0.1, 3.0)}
)
test_maximum = case(
    lambda x, y: tg.maximum(x, y), np.maximum, arity=2, elements={0: GRID, 1: OFFSET_GRID}
)
test_minimum = case(
    lambda x, y: x.minimum(y), np.minimum, arity=2, elements={0: GRID, 1: OFFSET_GRID}
)
test_clamp_tensor_bounds = case(
    lambda x, low, high: x.clamp(min=low, max=high),
    lambda a, low, high: np.minimum(np.maximum(a, low), high),
    arity=3,
    elements={0: OFFSET_GRID, 1: values(-3.0, -0.25, step=0.25), 2: values(0.25, 3.0, step=0.25)},
)


@st.composite
def where_condition(draw, a, b):
    """A bool condition whose shape broadcasts with both operands."""
    shape = np.broadcast_shapes(a.shape, b.shape)
    drop = draw(st.integers(0, len(shape)))
    shape = tuple(1 if draw(st.booleans()) else n for n in shape[drop:])
    return {"condition": draw(hnp.arrays(np.bool_, shape))}


test_where = case(
    lambda x, y, condition: tg.where(Tensor(condition), x, y),
    lambda a, b, condition: np.where(condition, a, b),
    arity=2,
    kwargs=where_condition,
)
test_where_method = case(
    lambda x, y, condition: x.where(Tensor(condition), y),
    lambda a, b, condition: np.where(condition, a, b),
    arity=2,
    kwargs=where_condition,
)


# ----- reductions: dim/keepdim, the NumPy axis/keepdims spelling, and the function -----------

SPELLINGS = st.sampled_from(["torch", "numpy", "function"])


def reduce(x, name, dim, keepdim, spelling, **extra):
    """x.name(dim=, keepdim=), x.name(axis=, keepdims=) or tg.name(x, dim=, keepdim=)."""
    if spelling == "numpy":
        return getattr(x, name)(axis=dim, keepdims=keepdim, **extra)
    if spelling == "function":
        return getattr(tg, name)(x, dim=dim, keepdim=keepdim, **extra)
    return getattr(x, name)(dim=dim, keepdim=keepdim, **extra)


def reduction(name, reference, none=True, keep_tuple=True, **options):
    """A test of x.name over drawn dims (int, tuple, or None), keepdim and spelling."""
    return case(
        lambda x, dim, keepdim, spelling: reduce(x, name, dim, keepdim, spelling),
        lambda a, dim, keepdim, spelling: reference(a, axis=dim, keepdims=keepdim),
        kwargs={
            "dim": lambda a: dims(a.ndim, none, keep_tuple),
            "keepdim": st.booleans(),
            "spelling": SPELLINGS,
        },
        **options,
    )


test_sum = reduction("sum", np.sum)
test_sum_all = case(lambda x: x.sum(), np.sum)
test_mean = reduction("mean", np.mean, min_side=1)
test_mean_all = case(lambda x: tg.mean(x), np.mean, min_side=1)
test_amax = reduction("amax", np.max, **DISTINCT)
test_amin = reduction("amin", np.min, **DISTINCT)
test_logsumexp = reduction("logsumexp", np_logsumexp, none=False, min_side=1, min_dims=1)
test_prod = case(
    lambda x, dim, keepdim: x.prod() if dim is None else x.prod(dim, keepdim=keepdim),
    lambda a, dim, keepdim: np.prod(a, axis=dim, keepdims=keepdim and dim is not None),
    low=-1.5,
    high=1.5,
    margin=0.5,
    kwargs={"dim": lambda a: dims(a.ndim), "keepdim": st.booleans()},
)
test_max_all = case(lambda x: x.max(), np.max, **DISTINCT)
test_min_all = case(lambda x: tg.min(x), np.min, **DISTINCT)


def with_indices(pick, arg):
    return lambda a, dim, keepdim, spelling: (
        pick(a, axis=dim, keepdims=keepdim),
        arg(a, axis=dim, keepdims=keepdim),
    )


test_max_dim = case(
    lambda x, dim, keepdim, spelling: reduce(x, "max", dim, keepdim, spelling),
    with_indices(np.max, np.argmax),
    min_dims=1,
    **DISTINCT,
    kwargs={
        "dim": lambda a: dims(a.ndim, none=False),
        "keepdim": st.booleans(),
        "spelling": SPELLINGS,
    },
)
test_min_dim = case(
    lambda x, dim, keepdim, spelling: reduce(x, "min", dim, keepdim, spelling),
    with_indices(np.min, np.argmin),
    min_dims=1,
    **DISTINCT,
    kwargs={
        "dim": lambda a: dims(a.ndim, none=False),
        "keepdim": st.booleans(),
        "spelling": SPELLINGS,
    },
)
test_max_dim_positional = case(
    lambda x: x.max(0), lambda a: (a.max(0), a.argmax(0)), min_dims=1, **DISTINCT
)


def spread(name, x, dim, keepdim, correction):
    """var/std with the correction spelled three ways: correction=, unbiased=, default."""
    if correction == "default":
        return getattr(x, name)(dim=dim, keepdim=keepdim)
    if isinstance(correction, bool):
        return getattr(x, name)(dim=dim, keepdim=keepdim, unbiased=correction)
    return getattr(x, name)(dim=dim, keepdim=keepdim, correction=correction)


def np_spread(fn):
    def reference(a, dim, keepdim, correction):
        ddof = 1 if correction in ("default", True) else 0 if correction is False else correction
        return fn(a, axis=dim, keepdims=keepdim, ddof=ddof)

    return reference


SPREAD_OPTIONS = {
    "dim": lambda a: dims(a.ndim, keep_tuple=True),
    "keepdim": st.booleans(),
    "correction": st.sampled_from(["default", True, False, 0, 1, 2]),
}
test_var = case(
    lambda x, **kw: spread("var", x, **kw),
    np_spread(np.var),
    min_dims=1,
    min_side=3,
    kwargs=SPREAD_OPTIONS,
)
test_std = case(
    lambda x, **kw: spread("std", x, **kw),
    np_spread(np.std),
    min_dims=1,
    min_side=3,
    kwargs=SPREAD_OPTIONS,
    unique=True,
    step=0.01,
)  # std > 0: smooth


def np_norm(a, p, axis, keepdims):
    return np.sum(np.abs(a) ** p, axis=axis, keepdims=keepdims) ** (1 / p)


test_norm = case(
    lambda x, p, dim, keepdim: x.norm(p=p, dim=dim, keepdim=keepdim),
    lambda a, p, dim, keepdim: np_norm(a, p, dim, keepdim),
    margin=0.1,
    min_side=1,
    kwargs={
        "p": st.sampled_from([1, 2, 3.0]),
        "keepdim": st.booleans(),
        "dim": lambda a: dims(a.ndim, True, True),
    },
)
test_norm_default = case(
    lambda x: x.norm(), lambda a: np.sqrt(np.sum(a * a)), margin=0.1, min_side=1
)
test_cumsum = case(
    lambda x, dim: x.cumsum(dim),
    lambda a, dim: np.cumsum(a, axis=dim),
    min_dims=1,
    kwargs={"dim": lambda a: dims(a.ndim, none=False)},
)
test_cumsum_function = case(
    lambda x, dim: tg.cumsum(x, dim=dim),
    lambda a, dim: np.cumsum(a, axis=dim),
    min_dims=1,
    kwargs={"dim": lambda a: dims(a.ndim, none=False)},
)
test_softmax = case(
    lambda x, dim: x.softmax(dim),
    np_softmax,
    min_dims=1,
    low=-10,
    high=10,
    kwargs={"dim": lambda a: dims(a.ndim, none=False)},
)
test_softmax_function = case(
    lambda x, dim: tg.softmax(x, dim=dim),
    np_softmax,
    min_dims=1,
    kwargs={"dim": lambda a: dims(a.ndim, none=False)},
)
test_log_softmax = case(
    lambda x, dim: x.log_softmax(dim),
    lambda a, dim: np.log(np_softmax(a, dim)),
    min_dims=1,
    low=-10,
    high=10,
    kwargs={"dim": lambda a: dims(a.ndim, none=False)},
)
test_log_softmax_function = case(
    lambda x, dim: tg.log_softmax(x, dim=dim),
    lambda a, dim: np.log(np_softmax(a, dim)),
    min_dims=1,
    kwargs={"dim": lambda a: dims(a.ndim, none=False)},
)


# ----- shape ops -------------------------------------------------------------------------------


@st.composite
def new_shape(draw, a):
    """A shape with a's number of elements (-1 only where it is unambiguous)."""
    options = [tuple(reversed(a.shape)), (a.size,), a.shape + (1,), (1,) + a.shape]
    if a.size:
        options.append((-1,))
        if a.ndim:
            options.append((-1, a.shape[-1]))
    return {"shape": draw(st.sampled_from(options)), "packed": draw(st.booleans())}


def reshape_with(method):
    return lambda x, shape, packed: (
        getattr(x, method)(shape) if packed else getattr(x, method)(*shape)
    )


test_reshape = case(
    reshape_with("reshape"), lambda a, shape, packed: a.reshape(shape), kwargs=new_shape
)
test_view = case(reshape_with("view"), lambda a, shape, packed: a.reshape(shape), kwargs=new_shape)
test_reshape_function = case(
    lambda x, shape, packed: tg.reshape(x, shape),
    lambda a, shape, packed: a.reshape(shape),
    kwargs=new_shape,
)


@st.composite
def flatten_dims(draw, a):
    n = max(a.ndim, 1)
    start = draw(st.integers(0, n - 1))
    end = draw(st.integers(start, n - 1))
    negative = st.sampled_from([0, n])  # spelled from the end, or not
    return {"start": start - draw(negative), "end": end - draw(negative)}


def np_flatten(a, start, end):
    if a.ndim == 0:
        return a.reshape(1)
    start, end = start % a.ndim, end % a.ndim
    merged = int(np.prod(a.shape[start : end + 1]))
    return a.reshape(a.shape[:start] + (merged,) + a.shape[end + 1 :])


test_flatten = case(lambda x, start, end: x.flatten(start, end), np_flatten, kwargs=flatten_dims)
test_flatten_all = case(lambda x: x.flatten(), lambda a: a.reshape(a.size))


@st.composite
def unflatten_args(draw, a):
    dim = draw(st.integers(-a.ndim, a.ndim - 1))
    n = a.shape[dim]
    sizes = draw(st.sampled_from([(n, 1), (1, n), (n,)] + ([(-1, 1)] if n else [])))
    return {"dim": dim, "sizes": sizes}


def np_unflatten(a, dim, sizes):
    dim %= a.ndim
    sizes = tuple(a.shape[dim] if s == -1 else s for s in sizes)
    return a.reshape(a.shape[:dim] + sizes + a.shape[dim + 1 :])


test_unflatten = case(
    lambda x, dim, sizes: x.unflatten(dim, sizes), np_unflatten, min_dims=1, kwargs=unflatten_args
)
test_squeeze_all = case(lambda x: x.squeeze(), np.squeeze)
test_squeeze_dim = case(
    lambda x, dim: x.squeeze(dim),
    lambda a, dim: np.squeeze(a, axis=dim) if a.shape[dim] == 1 else a,
    min_dims=1,
    kwargs={"dim": lambda a: dims(a.ndim, none=False)},
)
test_unsqueeze = case(
    lambda x, dim: x.unsqueeze(dim),
    lambda a, dim: np.expand_dims(a, dim),
    kwargs={"dim": lambda a: st.integers(-a.ndim - 1, a.ndim)},
)
test_permute = case(
    lambda x, order, packed: x.permute(order) if packed else x.permute(*order),
    lambda a, order, packed: np.transpose(a, order),
    kwargs={"order": lambda a: st.permutations(range(a.ndim)).map(tuple), "packed": st.booleans()},
)
test_permute_function = case(
    lambda x, order: tg.permute(x, order),
    lambda a, order: np.transpose(a, order),
    kwargs={"order": lambda a: st.permutations(range(a.ndim)).map(tuple)},
)
test_transpose_two_dims = case(
    lambda x, d0, d1: x.transpose(d0, d1),
    lambda a, d0, d1: np.swapaxes(a, d0, d1),
    min_dims=1,
    kwargs={"d0": lambda a: dims(a.ndim, none=False), "d1": lambda a: dims(a.ndim, none=False)},
)
test_transpose_function = case(
    lambda x, d0, d1: tg.transpose(x, d0, d1),
    lambda a, d0, d1: np.swapaxes(a, d0, d1),
    min_dims=1,
    kwargs={"d0": lambda a: dims(a.ndim, none=False), "d1": lambda a: dims(a.ndim, none=False)},
)
test_T = case(lambda x: x.T, lambda a: a.T, min_dims=1, max_dims=2)
test_mT = case(lambda x: x.mT, lambda a: np.swapaxes(a, -1, -2), min_dims=2, max_dims=4)


@st.composite
def expanded_shape(draw, a):
    lead = draw(st.lists(st.integers(0, 3), max_size=2))
    sizes = [draw(st.sampled_from([n, -1] + ([0, 1, 2, 3] if n == 1 else []))) for n in a.shape]
    return {"sizes": tuple(lead) + tuple(sizes), "packed": draw(st.booleans())}


def np_expand(a, sizes, packed=None):
    lead = len(sizes) - a.ndim
    return np.broadcast_to(
        a, tuple(sizes[:lead]) + tuple(n if s == -1 else s for n, s in zip(a.shape, sizes[lead:]))
    )


test_expand = case(
    lambda x, sizes, packed: x.expand(sizes) if packed else x.expand(*sizes),
    np_expand,
    kwargs=expanded_shape,
)
test_expand_as = case(
    lambda x, sizes, packed: x.expand_as(Tensor(np_expand(np.zeros(x.shape), sizes))),
    np_expand,
    kwargs=expanded_shape,
)
repeats = st.lists(st.integers(0, 3), min_size=1, max_size=4).map(tuple)
test_repeat = case(
    lambda x, extra: x.repeat(*((2,) * x.ndim + extra)),
    lambda a, extra: np.tile(a, (2,) * a.ndim + extra),
    kwargs={"extra": repeats},
)
test_repeat_packed = case(
    lambda x, sizes: x.repeat(sizes),
    lambda a, sizes: np.tile(a, sizes),
    kwargs={
        "sizes": lambda a: st.lists(
            st.integers(0, 3), min_size=max(a.ndim, 1), max_size=a.ndim + 2
        ).map(tuple)
    },
)
test_tile = case(
    lambda x, sizes: x.tile(sizes), lambda a, sizes: np.tile(a, sizes), kwargs={"sizes": repeats}
)
test_flip = case(
    lambda x, flips: x.flip(flips),
    lambda a, flips: np.flip(a, flips),
    kwargs={"flips": lambda a: hnp.valid_tuple_axes(a.ndim)},
)
test_roll = case(
    lambda x, shift, dim: x.roll(shift, dim),
    lambda a, shift, dim: np.roll(a, shift, dim),
    kwargs={"shift": st.integers(-5, 5), "dim": lambda a: dims(a.ndim)},
)
test_roll_several = case(
    lambda x, shifts: x.roll(tuple(shifts), tuple(range(len(shifts)))),
    lambda a, shifts: np.roll(a, tuple(shifts), tuple(range(len(shifts)))),
    min_dims=1,
    kwargs={"shifts": lambda a: st.lists(st.integers(-4, 4), min_size=1, max_size=a.ndim)},
)


@st.composite
def pads(draw, a):
    count = draw(st.integers(0, min(a.ndim, 3)))
    return {
        "pad": tuple(draw(st.integers(0, 2)) for _ in range(2 * count)),
        "value": draw(st.sampled_from([0.0, -1.5])),
    }


def np_pad(a, pad, value):
    if not pad:
        return a.copy()
    widths = [(0, 0)] * a.ndim
    for i in range(len(pad) // 2):
        widths[a.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return np.pad(a, widths, constant_values=value)


test_pad = case(lambda x, pad, value: tg.pad(x, pad, value=value), np_pad, kwargs=pads)


@st.composite
def cat_shapes(draw, count=None):
    """2-3 shapes equal except along one axis."""
    base = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=3))
    axis = draw(st.integers(0, len(base) - 1))
    count = count or draw(st.integers(2, 3))
    return tuple(base[:axis] + (draw(st.integers(0, 3)),) + base[axis + 1 :] for _ in range(count))


def cat_dim(*arrays):
    """The axis the shapes differ along (any axis if none does), possibly negative."""
    ndim = arrays[0].ndim
    differ = [d for d in range(ndim) if len({a.shape[d] for a in arrays}) > 1]
    axis = st.just(differ[0]) if differ else st.integers(0, ndim - 1)
    return st.fixed_dictionaries({"dim": axis.flatmap(lambda d: st.sampled_from([d, d - ndim]))})


test_cat = case(
    lambda x, y, dim: tg.cat([x, y], dim=dim),
    lambda a, b, dim: np.concatenate([a, b], axis=dim),
    arity=2,
    shapes=cat_shapes(2),
    kwargs=cat_dim,
)
test_cat_three = case(
    lambda x, y, z, dim: tg.cat((x, y, z), dim),
    lambda a, b, c, dim: np.concatenate([a, b, c], axis=dim),
    arity=3,
    shapes=cat_shapes(3),
    kwargs=cat_dim,
)
same_shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)
test_stack = case(
    lambda x, y, dim: tg.stack([x, y], dim=dim),
    lambda a, b, dim: np.stack([a, b], axis=dim),
    arity=2,
    shapes=same_shapes.map(lambda s: (s, s)),
    kwargs={"dim": lambda a, b: st.integers(-a.ndim - 1, a.ndim)},
)


def np_split_at(a, size, dim):
    n = a.shape[dim]
    return np.split(a, list(range(size, n, size)), axis=dim)


@st.composite
def split_args(draw, a):
    dim = draw(st.integers(-a.ndim, a.ndim - 1))
    n = a.shape[dim]
    if draw(st.booleans()):
        return {"dim": dim, "sizes": draw(st.integers(1, n + 1))}
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=3)))
    return {"dim": dim, "sizes": [b - a_ for a_, b in zip([0] + cuts, cuts + [n])]}


def np_split(a, sizes, dim):
    if isinstance(sizes, int):
        return np_split_at(a, sizes, dim)
    return np.split(a, np.cumsum(sizes)[:-1], axis=dim)


test_split = case(
    lambda x, sizes, dim: x.split(sizes, dim), np_split, min_dims=1, min_side=1, kwargs=split_args
)
test_split_function = case(
    lambda x, sizes, dim: tg.split(x, sizes, dim=dim),
    np_split,
    min_dims=1,
    min_side=1,
    kwargs=split_args,
)
test_chunk = case(
    lambda x, chunks, dim: x.chunk(chunks, dim),
    lambda a, chunks, dim: np_split_at(a, -(-a.shape[dim] // chunks), dim),
    min_dims=1,
    min_side=1,
    kwargs={"chunks": st.integers(1, 5), "dim": lambda a: dims(a.ndim, none=False)},
)
test_unbind = case(
    lambda x, dim: x.unbind(dim),
    lambda a, dim: tuple(np.take(a, i, axis=dim) for i in range(a.shape[dim])),
    min_dims=1,
    kwargs={"dim": lambda a: dims(a.ndim, none=False)},
)


@st.composite
def gather_args(draw, a):
    dim = draw(st.integers(0, a.ndim - 1))
    shape = tuple(
        draw(st.integers(0, n)) if d != dim else draw(st.integers(0, 4))
        for d, n in enumerate(a.shape)
    )
    index = draw(hnp.arrays(np.int64, shape, elements=st.integers(0, a.shape[dim] - 1)))
    return {"dim": dim - draw(st.sampled_from([0, a.ndim])), "index": index}


def np_gather(a, dim, index):
    dim %= a.ndim
    part = a[tuple(slice(0, n) if d != dim else slice(None) for d, n in enumerate(index.shape))]
    return np.take_along_axis(part, index, axis=dim)


test_gather = case(
    lambda x, dim, index: x.gather(dim, Tensor(index)),
    np_gather,
    min_dims=1,
    min_side=1,
    kwargs=gather_args,
)
test_gather_function = case(
    lambda x, dim, index: tg.gather(x, dim, Tensor(index)),
    np_gather,
    min_dims=1,
    min_side=1,
    kwargs=gather_args,
)


@st.composite
def scatter_shapes(draw):
    """(self shape, src shape): src fits inside self except along one free axis."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3))
    free = draw(st.integers(0, len(shape) - 1))
    src = tuple(
        draw(st.integers(0, 4)) if d == free else draw(st.integers(0, n))
        for d, n in enumerate(shape)
    )
    return shape, src


@st.composite
def scatter_args(draw, a, src):
    fits = [
        d for d in range(a.ndim) if all(src.shape[k] <= a.shape[k] for k in range(a.ndim) if k != d)
    ]
    dim = draw(st.sampled_from(fits))
    index = draw(hnp.arrays(np.int64, src.shape, elements=st.integers(0, a.shape[dim] - 1)))
    return {"dim": dim, "index": index}


def np_scatter_add(a, src, dim, index):
    out = a.copy()
    where = list(np.indices(src.shape, sparse=False))
    where[dim] = index
    np.add.at(out, tuple(where), src)
    return out


test_scatter_add = case(
    lambda x, src, dim, index: x.scatter_add(dim, Tensor(index), src),
    np_scatter_add,
    arity=2,
    shapes=scatter_shapes(),
    kwargs=scatter_args,
)


@st.composite
def narrow_args(draw, a):
    dim = draw(st.integers(-a.ndim, a.ndim - 1))
    start = draw(st.integers(0, a.shape[dim]))
    return {"dim": dim, "start": start, "length": draw(st.integers(0, a.shape[dim] - start))}


test_narrow = case(
    lambda x, dim, start, length: x.narrow(dim, start, length),
    lambda a, dim, start, length: np.take(a, range(start, start + length), dim),
    min_dims=1,
    kwargs=narrow_args,
)


@st.composite
def index_select_args(draw, a):
    dim = draw(st.integers(-a.ndim, a.ndim - 1))
    index = draw(hnp.arrays(np.int64, st.integers(0, 5), elements=st.integers(0, a.shape[dim] - 1)))
    return {"dim": dim, "index": index}


test_index_select = case(
    lambda x, dim, index: x.index_select(dim, Tensor(index)),
    lambda a, dim, index: np.take(a, index, axis=dim),
    min_dims=1,
    min_side=1,
    kwargs=index_select_args,
)


@st.composite
def mask_args(draw, a):
    drop = draw(st.integers(0, a.ndim))
    shape = tuple(1 if draw(st.booleans()) else n for n in a.shape[drop:])
    return {"mask": draw(hnp.arrays(np.bool_, shape)), "value": draw(st.sampled_from([0.0, -2.5]))}


test_masked_fill = case(
    lambda x, mask, value: x.masked_fill(Tensor(mask), value),
    lambda a, mask, value: np.where(mask, value, a),
    kwargs=mask_args,
)


# ----- indexing ----------------------------------------------------------------------------------


def positive_steps(index):
    parts = index if isinstance(index, tuple) else (index,)
    return all(not isinstance(p, slice) or p.step is None or p.step > 0 for p in parts)


@st.composite
def indices(draw, a):
    """Basic indices (ints, negative ints, slices with positive steps, None, ...), integer
    arrays with repeats, boolean masks, and a slice mixed with an integer array."""
    kind = draw(st.sampled_from(["basic", "integer", "mask", "mixed"] if a.ndim else ["basic"]))
    if kind == "basic":
        index = draw(
            hnp.basic_indices(a.shape, min_dims=0, allow_newaxis=True, allow_ellipsis=True).filter(
                positive_steps
            )
        )
    elif kind == "integer" and a.size:
        index = draw(
            hnp.integer_array_indices(
                a.shape, result_shape=hnp.array_shapes(min_dims=1, max_dims=2, max_side=4)
            )
        )
    elif kind == "mask" or not a.size:
        mask_dims = draw(st.integers(1, a.ndim))
        index = draw(hnp.arrays(np.bool_, a.shape[:mask_dims]))
    else:
        rows = draw(
            hnp.arrays(
                np.int64, st.integers(1, 4), elements=st.integers(-a.shape[-1], a.shape[-1] - 1)
            )
        )
        index = (Ellipsis, rows) if a.shape[-1] else (Ellipsis, slice(None))
    return {"index": index}


test_getitem = case(lambda x, index: x[index], lambda a, index: a[index], kwargs=indices)
test_getitem_repeated_rows = case(
    lambda x: x[[0, 0, -1, 0]], lambda a: a[[0, 0, -1, 0]], min_dims=1, min_side=1
)
test_getitem_tensor_index = case(
    lambda x: x[Tensor(np.array([1, 0, 1]))],
    lambda a: a[np.array([1, 0, 1])],
    min_dims=1,
    shapes=hnp.array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=3).map(lambda s: (s,)),
)
test_getitem_tensor_mask = case(lambda x: x[x > 0], lambda a: a[a > 0], margin=0.01)


# ----- matrix products -----------------------------------------------------------------------

matmul_shapes = hnp.mutually_broadcastable_shapes(
    signature="(m?,n),(n,p?)->(m?,p?)", max_dims=4, min_side=0, max_side=3
).map(lambda drawn: drawn.input_shapes)
test_matmul = case(lambda x, y: x @ y, np.matmul, arity=2, shapes=matmul_shapes)
test_matmul_function = case(lambda x, y: tg.matmul(x, y), np.matmul, arity=2, shapes=matmul_shapes)
test_matmul_method = case(lambda x, y: x.matmul(y), np.matmul, arity=2, shapes=matmul_shapes)
sides = st.integers(0, 4)
test_mm = case(
    lambda x, y: x.mm(y),
    np.matmul,
    arity=2,
    shapes=st.tuples(sides, sides, sides).map(lambda s: ((s[0], s[1]), (s[1], s[2]))),
)
test_bmm = case(
    lambda x, y: tg.bmm(x, y),
    np.matmul,
    arity=2,
    shapes=st.tuples(sides, sides, sides, sides).map(
        lambda s: ((s[0], s[1], s[2]), (s[0], s[2], s[3]))
    ),
)
test_dot = case(lambda x, y: x.dot(y), np.dot, arity=2, shapes=sides.map(lambda n: ((n,), (n,))))
test_dot_function = case(
    lambda x, y: tg.dot(x, y), np.dot, arity=2, shapes=sides.map(lambda n: ((n,), (n,)))
)
