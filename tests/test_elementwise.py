"""Element-wise ops (tinygrad_hlcv/elementwise.py): gradients against numerical differences in
float64, PyTorch parity at the kinks and ties, comparisons and logic, dtype rules, errors,
and the GELU kernels against their NumPy twins."""

import numpy as np
import pytest

import tinygrad_hlcv as tg
from tinygrad_hlcv import Tensor, activation_kernels, kernels
from tinygrad_hlcv.errors import ConfigError, DTypeError, ShapeError
from tinygrad_hlcv.gradcheck import GradcheckError
from tinygrad_hlcv.testing import assert_grads_match

SHAPES = [(), (2, 3)]


def sample(shape, low=-3.0, high=3.0, avoid=(), margin=0.05, seed=0):
    """Uniform values in [low, high] kept `margin` away from each point in `avoid` (kinks)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(low, high, shape)
    for point in avoid:
        near = np.abs(x - point) < margin
        x = np.where(near, point + np.copysign(2 * margin, x - point + 1e-12), x)
    return np.asarray(x)


# ----- unary ops: autodiff against central differences ----------------------------------

UNARY = {  # name: (function, sampling options)
    "abs": (tg.abs, dict(avoid=[0])),
    "sign": (tg.sign, dict(avoid=[0])),
    "sqrt": (tg.sqrt, dict(low=0.3)),
    "rsqrt": (tg.rsqrt, dict(low=0.3)),
    "exp": (tg.exp, {}),
    "log": (tg.log, dict(low=0.3)),
    "log1p": (tg.log1p, dict(low=-0.7)),
    "expm1": (tg.expm1, {}),
    "sin": (tg.sin, {}),
    "cos": (tg.cos, {}),
    "tanh": (tg.tanh, {}),
    "sigmoid": (tg.sigmoid, {}),
    "relu": (tg.relu, dict(avoid=[0])),
    "leaky_relu": (lambda x: tg.leaky_relu(x, 0.2), dict(avoid=[0])),
    "gelu": (tg.gelu, {}),
    "gelu_tanh": (lambda x: tg.gelu(x, approximate="tanh"), {}),
    "silu": (tg.silu, {}),
    "elu": (lambda x: tg.elu(x, alpha=1.5), dict(avoid=[0])),
    "softplus": (lambda x: tg.softplus(x, beta=2.0, threshold=3.0), dict(avoid=[1.5])),
    "relu6": (tg.relu6, dict(low=-2.0, high=8.0, avoid=[0, 6])),
    "hardswish": (tg.hardswish, dict(low=-5.0, high=5.0, avoid=[-3, 3])),
    "mish": (tg.mish, {}),
    "reciprocal": (tg.reciprocal, dict(low=0.3)),
    "clamp": (lambda x: tg.clamp(x, -1.0, 2.0), dict(avoid=[-1, 2])),
    "clamp_min": (lambda x: x.clamp(min=0.5), dict(avoid=[0.5])),
    "clip_max": (lambda x: x.clip(max=-0.5), dict(avoid=[-0.5])),
    "neg": (tg.neg, {}),
    "pow_scalar": (lambda x: x**3, {}),
    "rpow": (lambda x: 2.5**x, {}),
}


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_grads(name, shape):
    fn, options = UNARY[name]
    assert_grads_match(fn, [sample(shape, **options)])


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_ops_keep_float32(name):
    fn, options = UNARY[name]
    x = Tensor(sample((2, 3), **options).astype(np.float32), requires_grad=True)
    y = fn(x)
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32


@pytest.mark.parametrize("name", ["sqrt", "tanh", "gelu", "relu", "abs", "hardswish"])
def test_methods_are_the_functions(name):
    x = Tensor(sample((4,), low=0.3))
    np.testing.assert_array_equal(getattr(x, name)().data, getattr(tg, name)(x).data)


def test_the_gradient_check_catches_a_wrong_derivative(monkeypatch):
    """The checks above can fail: a sigmoid with a wrong backward is caught."""
    monkeypatch.setattr(tg.elementwise.Sigmoid, "backward", lambda self, g: g * self.out)
    with pytest.raises(GradcheckError):
        assert_grads_match(tg.sigmoid, [sample((3,))])


# ----- two inputs: broadcasting both ways and 0-d ------------------------------------------

PAIRS = [((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 3))]


@pytest.mark.parametrize("shapes", PAIRS, ids=str)
def test_pow_tensor_grads(shapes):
    base, exponent = sample(shapes[0], 0.3, 2.0), sample(shapes[1], -2.0, 2.0, seed=1)
    assert_grads_match(lambda a, b: a**b, [base, exponent])
    assert_grads_match(lambda a, b: tg.pow(a, b), [base, exponent])


@pytest.mark.parametrize("name", ["maximum", "minimum"])
@pytest.mark.parametrize("shapes", PAIRS, ids=str)
def test_maximum_minimum_grads(name, shapes):
    a, b = sample(shapes[0]), sample(shapes[1], seed=1)  # no ties between random values
    assert_grads_match(getattr(tg, name), [a, b])


@pytest.mark.parametrize("shapes", PAIRS, ids=str)
def test_where_grads(shapes):
    a, b = sample(shapes[0]), sample(shapes[1], seed=1)
    condition = np.broadcast_to(np.array([True, False, True]), (2, 3))
    assert_grads_match(lambda x, y: tg.where(condition, x, y), [a, b])
    assert_grads_match(lambda x, y: x.where(Tensor(condition), y), [a, b])


def test_where_with_numbers():
    x = sample((2, 3), avoid=[0])
    assert_grads_match(lambda t: tg.where(t > 0, t, 0.0), [x])
    np.testing.assert_array_equal(tg.where(Tensor(x) > 0, 1.0, 0).data, x > 0)
    assert tg.where(Tensor(x) > 0, 1.0, 0).dtype == tg.get_default_dtype()
    assert tg.where(Tensor(x) > 0, 1, 0).dtype == np.int64


def test_clamp_with_tensor_bounds_grads():
    x = sample((2, 3), avoid=[-0.5, 0.5])
    lo = np.full((3,), -0.5)
    hi = np.full((2, 1), 0.5)
    assert_grads_match(lambda a, b, c: tg.clamp(a, b, c), [x, lo, hi])
    assert_grads_match(lambda a, b: a.clamp(min=b), [x, lo])
    assert_grads_match(lambda a, c: a.clamp(max=c), [x, hi])


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div"])
def test_arithmetic_aliases(name):
    a, b = sample((2, 3)), sample((3,), 0.5, 2.0, seed=1)
    ops = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide}
    np.testing.assert_allclose(getattr(tg, name)(Tensor(a), Tensor(b)).data, ops[name](a, b))
    np.testing.assert_allclose(getattr(Tensor(a), name)(2.0).data, ops[name](a, 2.0))
    assert_grads_match(getattr(tg, name), [a, b])


def test_add_and_sub_alpha():
    a, b = sample((3,)), sample((3,), seed=1)
    np.testing.assert_allclose(tg.add(Tensor(a), Tensor(b), alpha=2).data, a + 2 * b)
    np.testing.assert_allclose(Tensor(a).sub(Tensor(b), alpha=0.5).data, a - 0.5 * b)
    assert_grads_match(lambda x, y: x.add(y, alpha=3.0), [a, b])


# ----- PyTorch parity, the kinks and ties included -----------------------------------------

KINKS = np.array([-6.0, -3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 3.0, 6.0, 7.0, 25.0, -30.0])


def _torch_pair(torch, fn_ours, fn_torch, *inputs):
    """(our output, our grads) and torch's for the sum of the outputs weighted by w."""
    w = np.linspace(0.5, 1.5, np.broadcast(*inputs).size).reshape(np.broadcast(*inputs).shape)
    ours = [Tensor(x.copy(), requires_grad=True) for x in inputs]
    out = fn_ours(*ours)
    (out * Tensor(w)).sum().backward()
    theirs = [torch.tensor(x, requires_grad=True) for x in inputs]
    expected = fn_torch(*theirs)
    (expected * torch.tensor(w)).sum().backward()
    for t, e in zip(ours, theirs):
        np.testing.assert_allclose(t.grad, e.grad.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-15)


UNARY_TORCH = {
    "abs": lambda t, F: t.abs,
    "sign": lambda t, F: t.sign,
    "sqrt": lambda t, F: t.sqrt,
    "exp": lambda t, F: t.exp,
    "log1p": lambda t, F: t.log1p,
    "expm1": lambda t, F: t.expm1,
    "sin": lambda t, F: t.sin,
    "cos": lambda t, F: t.cos,
    "tanh": lambda t, F: t.tanh,
    "sigmoid": lambda t, F: t.sigmoid,
    "relu": lambda t, F: t.relu,
    "gelu": lambda t, F: F.gelu,
    "silu": lambda t, F: F.silu,
    "relu6": lambda t, F: F.relu6,
    "hardswish": lambda t, F: F.hardswish,
    "mish": lambda t, F: F.mish,
}


@pytest.mark.parametrize("name", sorted(UNARY_TORCH))
def test_unary_matches_torch_at_the_kinks(name):
    torch = pytest.importorskip("torch")
    x = (
        np.abs(KINKS) + 0.25
        if name == "sqrt"
        else np.clip(KINKS, -1.0, 20)
        if name == "log1p"
        else KINKS
    )
    x = x + 1e-3 if name == "log1p" else x
    _torch_pair(torch, getattr(tg, name), UNARY_TORCH[name](torch, torch.nn.functional), x)


@pytest.mark.parametrize(
    "name, ours, theirs",
    [
        ("leaky_relu", lambda x: tg.leaky_relu(x, 0.1), lambda F, x: F.leaky_relu(x, 0.1)),
        ("gelu_tanh", lambda x: tg.gelu(x, "tanh"), lambda F, x: F.gelu(x, approximate="tanh")),
        ("elu", lambda x: tg.elu(x, 2.0), lambda F, x: F.elu(x, 2.0)),
        ("softplus", lambda x: tg.softplus(x, 2.0, 3.0), lambda F, x: F.softplus(x, 2.0, 3.0)),
        ("softplus_default", tg.softplus, lambda F, x: F.softplus(x)),
        ("clamp", lambda x: x.clamp(-1.0, 1.5), lambda F, x: x.clamp(-1.0, 1.5)),
        ("clamp_inverted", lambda x: x.clamp(2.0, 1.0), lambda F, x: x.clamp(2.0, 1.0)),
        ("pow_zero", lambda x: x**0, lambda F, x: x**0),
        ("rpow", lambda x: 3.0**x, lambda F, x: 3.0**x),
    ],
)
def test_parametrised_activations_match_torch(name, ours, theirs):
    torch = pytest.importorskip("torch")
    _torch_pair(torch, ours, lambda x: theirs(torch.nn.functional, x), KINKS)


def test_maximum_minimum_split_ties_as_torch():
    torch = pytest.importorskip("torch")
    a, b = np.array([1.0, 2.0, 3.0, -1.0]), np.array([1.0, 1.0, 4.0, -1.0])
    _torch_pair(torch, tg.maximum, torch.maximum, a, b)
    _torch_pair(torch, tg.minimum, torch.minimum, a, b)


def test_clamp_with_tensor_bounds_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.array([0.0, 1.0, 2.0, 3.0, 1.5, 0.5])
    lo = np.array([1.0, 1.0, 1.0, 1.0, 2.0, 0.5])
    hi = np.array([2.0, 2.0, 2.0, 2.0, 1.0, 0.5])  # ties with x, and lo > hi
    _torch_pair(torch, tg.clamp, torch.clamp, x, lo, hi)
    _torch_pair(torch, lambda a, b: a.clamp(min=b), lambda a, b: a.clamp(min=b), x, lo)
    _torch_pair(torch, lambda a, c: a.clamp(max=c), lambda a, c: a.clamp(max=c), x, hi)


def test_pow_tensor_matches_torch_at_zero():
    torch = pytest.importorskip("torch")
    a = np.array([0.0, 0.0, 0.0, 2.0, 1.5, 0.5])
    b = np.array([0.0, 2.0, 1.0, 0.0, -1.0, 2.5])
    _torch_pair(torch, tg.pow, torch.pow, a, b)


def test_where_matches_torch():
    torch = pytest.importorskip("torch")
    c = np.array([[True], [False]])
    _torch_pair(
        torch,
        lambda a, b: tg.where(c, a, b),
        lambda a, b: torch.where(torch.tensor(c), a, b),
        KINKS[:3],
        KINKS[3:6, None][:2],
    )


# ----- comparisons and logic ---------------------------------------------------------------


def test_comparisons_give_bool_tensors_without_gradient():
    a = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    b = np.array([3.0, 2.0, 1.0])
    for result, expected in [
        (a == b, [False, True, False]),
        (a != b, [True, False, True]),
        (a < b, [True, False, False]),
        (a <= b, [True, True, False]),
        (a > 2, [False, False, True]),
        (a >= 2.0, [False, True, True]),
        (2 < a, [False, False, True]),
        (b > a, [True, False, False]),
        (a.eq(Tensor(b)), [False, True, False]),
        (a.ge(b), [False, True, True]),
        (tg.lt(a, 2), [True, False, False]),
        (a.ne(1), [False, True, True]),
    ]:
        assert result.dtype == np.bool_ and not result.requires_grad
        np.testing.assert_array_equal(result.data, expected)


def test_comparisons_broadcast_and_refuse_mismatched_shapes():
    a = Tensor(np.zeros((2, 3)))
    assert (a == Tensor(np.zeros((3,)))).shape == (2, 3)
    with pytest.raises(ShapeError, match=r"\(2, 3\) and \(4,\)"):
        _ = a < Tensor(np.zeros(4))


def test_comparison_with_a_number_keeps_the_tensor_dtype():
    # 0.1 compared in float32, as PyTorch and NumPy do: a float32 0.1 equals it
    assert (Tensor(np.array([0.1], dtype=np.float32)) == 0.1).data.all()
    assert (Tensor(np.array([0.1], dtype=np.float32)) == np.float64(0.1)).data.all()
    assert (Tensor(np.array([3])) == 3).data.all() and not (Tensor(np.array([3])) == 3.5).data.all()


@pytest.mark.parametrize("other", [None, "a", object()], ids=repr)
def test_ordering_with_what_is_not_data_raises_dtype_error(other):
    x = Tensor(np.ones(2))
    for compare in (lambda: x < other, lambda: x >= other, lambda: other > x):
        with pytest.raises(DTypeError, match="expected"):
            compare()


def test_tensors_stay_hashable_and_eq_with_other_types_is_false():
    a, b = Tensor([1.0]), Tensor([1.0])
    assert len({a, b}) == 2 and {a: 1}[a] == 1
    assert (a == None) is False and (a != "text") is True  # noqa: E711
    with pytest.raises(DTypeError):
        a.eq("text")


def test_truth_value_of_one_element_and_ambiguity_of_more():
    assert bool(Tensor([2.0]) == 2.0) and not bool(Tensor(1.0) > 2.0)
    if Tensor(3.0) > 2:
        pass
    with pytest.raises(ShapeError, match="ambiguous"):
        bool(Tensor([1.0, 2.0]) == 1.0)


def test_logical_operators_on_bool_tensors():
    p = Tensor(np.array([True, True, False, False]))
    q = Tensor(np.array([True, False, True, False]))
    np.testing.assert_array_equal((p & q).data, [True, False, False, False])
    np.testing.assert_array_equal((p | q).data, [True, True, True, False])
    np.testing.assert_array_equal((p ^ q).data, [False, True, True, False])
    np.testing.assert_array_equal((~p).data, [False, False, True, True])
    np.testing.assert_array_equal((True & q).data, q.data)
    np.testing.assert_array_equal((p & np.array([False] * 4)).data, [False] * 4)
    assert (p & q).dtype == np.bool_


def test_bitwise_operators_on_integers_and_refused_on_floats():
    np.testing.assert_array_equal((Tensor(np.array([6])) & 3).data, [2])
    x = Tensor([1.0, 0.0])
    for op in (lambda: x & x, lambda: x | True, lambda: ~x, lambda: x ^ x):
        with pytest.raises(DTypeError, match="logical_and"):
            op()


def test_logical_functions_take_any_dtype():
    a, b = Tensor([1.0, 0.0, 2.0]), Tensor(np.array([3, 0, 0]))
    np.testing.assert_array_equal(tg.logical_and(a, b).data, [True, False, False])
    np.testing.assert_array_equal(a.logical_or(b).data, [True, False, True])
    np.testing.assert_array_equal(tg.logical_xor(a, b).data, [False, False, True])
    np.testing.assert_array_equal(tg.logical_not(a).data, [False, True, False])


# ----- dtypes --------------------------------------------------------------------------------


@pytest.mark.parametrize("scalar", [2, 2.5, np.float64(2.5), np.int64(2), np.float32(2), True])
def test_numbers_never_change_a_float32_tensor(scalar):
    x = Tensor(np.array([0.5, 1.5], dtype=np.float32))
    for y in (
        tg.maximum(x, scalar),
        tg.minimum(scalar, x),
        x.clamp(min=scalar),
        x**scalar,
        tg.where(x > 1, x, scalar),
        tg.add(x, scalar),
        x.mul(scalar),
        tg.pow(x, Tensor(x)),
    ):
        assert y.dtype == np.float32


def test_float32_with_float64_tensors_promotes_to_float64():
    x, y = Tensor(np.ones(2, np.float32)), Tensor(np.ones(2, np.float64))
    for z in (tg.maximum(x, y), tg.where(x > 0, x, y), x**y, x.clamp(y, y)):
        assert z.dtype == np.float64


def test_maths_of_integer_tensors_is_in_the_default_float_dtype():
    n = Tensor(np.array([1, 4, 9]))
    for fn in (tg.sqrt, tg.exp, tg.log, tg.sigmoid, tg.tanh, tg.gelu, tg.silu, tg.reciprocal):
        assert fn(n).dtype == tg.get_default_dtype()
    np.testing.assert_array_equal(tg.sqrt(n).data, [1, 2, 3])
    for fn in (tg.abs, tg.sign, tg.relu, tg.relu6, tg.neg):
        assert fn(n).dtype == np.int64
    assert (n**2).dtype == np.int64 and (n ** Tensor(np.array([2]))).dtype == np.int64
    assert (n**0.5).dtype == tg.get_default_dtype()
    assert tg.div(n, n).dtype == tg.get_default_dtype() and n.div(2).dtype == tg.get_default_dtype()


@pytest.mark.parametrize(
    "expression, dtype",
    [
        (lambda lib: lib.tensor([1, 2]) / 2, "float32"),
        (lambda lib: lib.tensor([3, 4]) / lib.tensor([2, 2]), "float32"),
        (lambda lib: 6 / lib.tensor([3, 4]), "float32"),
        (lambda lib: lib.tensor([1, 2]) + 1.5, "float32"),
        (lambda lib: 1.5 - lib.tensor([1, 2]), "float32"),
        (lambda lib: lib.tensor([1, 2]) * 3, "int64"),
        (lambda lib: lib.tensor([1, 2], dtype=lib.int32) * 3, "int32"),
        (lambda lib: lib.tensor([1, 2]) * lib.ones(2), "float32"),
        (lambda lib: lib.tensor([True, False]) + lib.tensor([1, 1]), "int64"),
        (lambda lib: lib.tensor([True, False]) * 2.5, "float32"),
        (lambda lib: lib.ones(2) + lib.ones(2, dtype=lib.float64), "float64"),
        (lambda lib: lib.ones(2, dtype=lib.float64) - lib.tensor([1, 2]), "float64"),
        (lambda lib: lib.ones(2) * np.float64(0.1), "float32"),
    ],
)
def test_arithmetic_result_dtypes_match_torch(expression, dtype):
    torch = pytest.importorskip("torch")
    assert str(expression(torch).dtype) == f"torch.{dtype}"
    ours = expression(tg)
    assert ours.dtype == dtype
    np.testing.assert_allclose(ours.data, expression(torch).numpy(), rtol=1e-6)


def test_integer_tensor_to_a_negative_integer_power_is_refused():
    with pytest.raises(DTypeError, match="float"):
        Tensor(np.array([2])) ** -1
    with pytest.raises(DTypeError, match="float"):
        Tensor(np.array([2])) ** Tensor(np.array([-1]))


# ----- argument errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda x: tg.gelu(x, approximate="fast"), ConfigError, "'none' or 'tanh'"),
        (lambda x: x.clamp(), ConfigError, "at least one bound"),
        (lambda x: x.clamp(min="0"), DTypeError, "min must be a number"),
        (lambda x: tg.where(x, x, x), DTypeError, "bool"),
        (lambda x: tg.softplus(x, beta=0), ConfigError, "beta"),
        (lambda x: tg.leaky_relu(x, float("nan")), ConfigError, "negative_slope"),
        (lambda x: tg.elu(x, alpha=None), ConfigError, "alpha"),
        (lambda x: x ** "2", DTypeError, "exponent"),
        (lambda x: x ** float("inf"), ConfigError, "finite"),
        (lambda x: x**2**70, DTypeError, "64 bits"),
        (lambda x: Tensor(np.ones(2, np.int8)) ** np.ones(3, np.int8), ShapeError, r"\(2,\) and"),
        (lambda x: tg.relu(x > 0), DTypeError, "bool"),
        (lambda x: tg.relu6(x > 0), DTypeError, "bool"),
        (lambda x: tg.sqrt([1.0, 2.0]), DTypeError, "expected a Tensor"),
        (lambda x: tg.maximum(1.0, 2.0), DTypeError, "Tensor among"),
        (lambda x: tg.maximum(x, Tensor(np.ones(4))), ShapeError, "Maximum"),
        (lambda x: tg.add(x, 1, alpha="2"), ConfigError, "alpha"),
    ],
)
def test_argument_errors(call, error, match):
    with pytest.raises(error, match=match):
        call(Tensor(np.ones(3)))


# ----- the GELU kernels and their twins --------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu_kernels_match_their_twins_with_nan_and_inf(dtype):
    x = np.concatenate([np.linspace(-8, 8, 41), [np.nan, np.inf, -np.inf, 0.0]]).astype(dtype)
    g = np.linspace(0.5, 1.5, x.size).astype(dtype)
    for name, args in [("gelu_forward", (x,)), ("gelu_backward", (g, x))]:
        ours, twin = np.empty_like(x), np.empty_like(x)
        with np.errstate(invalid="ignore"):
            getattr(activation_kernels.numba_kernels, name)(*args, ours)
            getattr(activation_kernels.numpy_kernels, name)(*args, twin)
        np.testing.assert_allclose(ours, twin, rtol=2e-7 if dtype == np.float32 else 1e-15)
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(twin))


def test_relu_of_a_bool_tensor_is_refused_on_both_kernel_sets(monkeypatch):
    for kernel_set in (kernels.numba_kernels, kernels.numpy_kernels):
        monkeypatch.setattr(kernels, "active", kernel_set)
        with pytest.raises(DTypeError, match="bool"):
            Tensor(np.array([True, False])).relu()


def test_gelu_follows_the_kernel_switch(monkeypatch):
    x = Tensor(sample((5,)), requires_grad=True)
    expected = tg.gelu(x).data
    monkeypatch.setattr(kernels, "active", kernels.numpy_kernels)
    assert activation_kernels.active() is activation_kernels.numpy_kernels
    np.testing.assert_allclose(tg.gelu(x).data, expected, rtol=1e-15)
    assert_grads_match(tg.gelu, [sample((2, 3))])


def test_gelu_of_a_non_contiguous_float32_tensor():
    a = sample((3, 4)).astype(np.float32)
    x = Tensor(a.T, requires_grad=True)
    y = tg.gelu(x)
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32 and x.grad.shape == (4, 3)
    reference = tg.gelu(Tensor(a.T.astype(np.float64))).data
    np.testing.assert_allclose(y.data, reference, rtol=1e-6, atol=1e-7)
