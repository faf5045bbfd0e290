"""Tests that pin behaviour of the core (engine, ops, fused, kernels) which mutation testing
(`make mutation`, docs/testing.md) showed no other test noticed: the exact wording of the
framework's errors, the dtype a gradient comes back in, the NumPy twins' own checks, that an
array the graph or another input still holds is never written in place, and that anomaly mode
checks only the gradients that are needed (as no other is computed)."""

import warnings

import numpy as np
import pytest

from tinygrad_hlcv import Tensor, detect_anomaly, fused, kernels, movement, ops
from tinygrad_hlcv.engine import Function, run_backward
from tinygrad_hlcv.errors import (
    AnomalyError,
    ConfigError,
    DTypeError,
    GraphError,
    IndexingError,
    ShapeError,
)

rng = np.random.default_rng(0)


# ----- Tensor.numpy() and __array__ ---------------------------------------------------------


def test_numpy_on_a_tensor_that_requires_grad_says_how_to_read_it():
    """The refusal of numpy() inside a graph says why, and names detach() and the Tensor ops."""
    x = Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(GraphError) as err:
        x.numpy()
    assert str(err.value) == (
        "numpy() on a tensor that requires grad: what is computed from the array is cut off "
        "from the graph, so backward() would not reach what came before; use "
        ".detach().numpy() to read values, or the Tensor ops (e.g. x.tanh()) to keep the graph"
    )


def test_array_protocol_converts_only_to_a_different_dtype():
    """np.asarray(t, dtype) casts to dtype when it differs, and hands out the data itself
    (no copy) when it is the tensor's own dtype."""
    t = Tensor(np.array([1.5, 2.5], dtype=np.float64))
    as32 = np.asarray(t, dtype=np.float32)
    assert as32.dtype == np.float32 and as32.tolist() == [1.5, 2.5]
    assert np.asarray(t, dtype=np.float64) is t.data
    assert t.__array__(np.float64) is t.data
    direct = t.__array__(np.float32)
    assert direct.dtype == np.float32 and direct.tolist() == [1.5, 2.5]
    copied = t.__array__(None, copy=True)
    assert copied is not t.data and copied.tolist() == [1.5, 2.5]


# ----- the errors Function.apply makes of NumPy's (engine._refused) -------------------------


def test_a_refused_broadcast_names_the_op_both_inputs_and_what_was_expected():
    """A ShapeError saying op, each input's shape and dtype, NumPy's reason and `expected`."""
    a, b = Tensor(np.ones((2, 3))), Tensor(np.ones(4, dtype=np.float32))
    with pytest.raises(ShapeError) as err:
        ops.Add.apply(a, b)
    message = str(err.value)
    assert message.startswith(
        "Add: cannot take inputs (2, 3) float64, (4,) float32 (operands "
        "could not be broadcast together"
    )
    assert message.endswith(f"); expected {ops.BROADCASTABLE}")


def test_a_refused_option_is_named_with_its_value():
    """Options (not arrays) appear after the inputs as `, name=repr(value)`."""
    with pytest.raises(ShapeError) as err:
        ops.Reshape.apply(Tensor(np.ones((2, 3))), shape=(5,))
    assert str(err.value) == (
        "Reshape: cannot take inputs (2, 3) float64, shape=(5,) (cannot reshape array of size "
        f"6 into shape (5,)); expected {ops.Reshape.expected}"
    )


def test_an_index_error_becomes_an_indexing_error_and_array_options_are_left_out():
    """NumPy's IndexError becomes IndexingError; an integer-array index is not printed."""
    with pytest.raises(IndexingError) as err:
        movement.GetItem.apply(Tensor(np.ones(3)), index=np.array([0, 5]))
    message = str(err.value)
    assert message.startswith("GetItem: cannot take inputs (3,) float64 (index 5 is out of bounds")
    assert "index=" not in message and message.endswith(f"; expected {movement.GetItem.expected}")


class _Refuses(Function):
    """A test op whose forward raises the exception it is given."""

    expected = "what the test op wants"

    def forward(self, a, error, size=None):
        raise error


@pytest.mark.parametrize(
    "error, framework_error",
    [
        (ValueError("bad value\nsecond line"), ShapeError),
        (TypeError("bad type"), DTypeError),
        (OverflowError("too big"), ShapeError),
    ],
)
def test_numpy_errors_become_framework_errors_with_the_first_line_of_the_reason(
    error, framework_error
):
    """ValueError/OverflowError -> ShapeError, TypeError -> DTypeError; only the first line
    of NumPy's message is kept, and the exception is not a subclass mix-up."""
    with pytest.raises(framework_error) as err:
        _Refuses.apply(Tensor(np.ones(2)), error=error)
    reason = str(error).splitlines()[0]
    assert str(err.value) == (
        f"_Refuses: cannot take inputs (2,) float64, error={error!r} "
        f"({reason}); expected what the test op wants"
    )
    assert type(err.value) is framework_error


def test_an_error_without_a_message_is_named_by_its_type():
    """An exception with an empty message is reported by its class name; several options
    are listed one after the other, each after ', '."""
    with pytest.raises(ShapeError) as err:
        _Refuses.apply(Tensor(np.ones(2)), error=ValueError(), size=3)
    assert str(err.value) == (
        "_Refuses: cannot take inputs (2,) float64, error=ValueError(), "
        "size=3 (ValueError); expected what the test op wants"
    )


# ----- anomaly mode (engine._check_finite) --------------------------------------------------


def test_anomaly_error_for_inf_says_inf_counts_and_the_first_index():
    """An Inf (no NaN) is named Inf, with the number of bad entries, the first one's index
    and the shape."""
    x = Tensor(np.array([[0.0, 1000.0], [1.0, 2000.0]]), requires_grad=True)
    with detect_anomaly(), pytest.raises(AnomalyError) as err:
        x.exp()
    assert str(err.value) == (
        "forward of Exp produced Inf in 2 of 4 entries (first at index (0, 1), shape (2, 2)); "
        "expected finite values: check that op's inputs"
    )


def test_anomaly_error_for_nan_says_nan():
    """A NaN among Infs is named NaN."""
    x = Tensor(np.array([-1.0, 0.0, 1.0]), requires_grad=True)
    with detect_anomaly(), pytest.raises(AnomalyError) as err:
        x.log()
    assert str(err.value).startswith(
        "forward of Log produced NaN in 2 of 3 entries (first at index (0,), shape (3,))"
    )


# ----- L2Penalty's gradient with weights of two dtypes ---------------------------------------


def test_l2_penalty_gradient_keeps_each_weights_dtype_when_dtypes_are_mixed():
    """Over a float32 and a float64 weight the loss is float64; each weight still gets 2λW
    in its own dtype (no ScaledGrad of the other dtype, no division)."""
    w32 = Tensor(np.array([1.0, -2.0], dtype=np.float32), requires_grad=True)
    w64 = Tensor(np.array([3.0, 0.5]), requires_grad=True)
    loss = fused.L2Penalty.apply(w32, w64, lam=0.25)
    assert loss.dtype == np.float64 and loss.item() == 0.25 * (1 + 4 + 9 + 0.25)
    loss.backward()
    assert w32.grad.dtype == np.float32 and w32.grad.tolist() == [0.5, -1.0]
    assert w64.grad.dtype == np.float64 and w64.grad.tolist() == [1.5, 0.25]


# ----- Tensor._operand: a number never changes a float tensor's dtype ------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("number", [0.1, 3, True, np.float64(0.1), np.int64(2)])
def test_a_number_operand_takes_a_float_tensors_dtype(dtype, number):
    """The operand wrapping a number has the float tensor's dtype and the number's value."""
    t = Tensor(np.ones(2, dtype=dtype))
    operand = t._operand(number)
    assert operand.dtype == dtype and operand.shape == ()
    assert operand.item() == dtype(number)


def test_a_number_operand_of_an_integer_tensor_takes_the_default_float_dtype():
    """Beside an integer tensor a number becomes a tensor of the default float dtype."""
    from tinygrad_hlcv.dtypes import get_default_dtype

    operand = Tensor(np.arange(3))._operand(2.5)
    assert operand.dtype == get_default_dtype() and operand.item() == 2.5
    same = Tensor(np.ones(2))
    assert same._operand(same) is same


# ----- GradientSum._fold: where the L2 penalty's 2λW may be added in place --------------------


def test_the_penalty_is_not_added_into_a_gradient_the_engine_does_not_own():
    """w's only other gradient is Add's upstream array (shared with x, a broadcast view):
    2λw must be added into a new array, reaching w.grad and not x.grad."""
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    w = Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    loss = ops.Add.apply(ops.Sum.apply(ops.Add.apply(x, w)), fused.L2Penalty.apply(w, lam=0.5))
    loss.backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0]
    assert w.grad.tolist() == [1.5, 0.0, 3.0]


def test_the_penalty_is_added_into_an_owned_gradient_that_is_not_c_contiguous():
    """Two transposed contributions sum to an owned Fortran-ordered array; 2λW must still
    reach w.grad (a flat view of it would be a copy)."""
    w = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    c1, c2 = Tensor(np.full((3, 2), 2.0)), Tensor(np.full((3, 2), 3.0))
    wt = ops.Transpose.apply(w)
    terms = [
        ops.Sum.apply(ops.Mul.apply(wt, c1)),
        ops.Sum.apply(ops.Mul.apply(wt, c2)),
        fused.L2Penalty.apply(w, lam=0.5),
    ]
    ops.Add.apply(ops.Add.apply(terms[0], terms[1]), terms[2]).backward()
    np.testing.assert_array_equal(w.grad, 5.0 + np.arange(6.0).reshape(2, 3))


# ----- ops whose public wrappers now live in the op modules: their maths, checked directly ---


def _numerical_grad(f, a, eps=1e-6):
    """Central differences of the scalar f at a (float64)."""
    grad = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        step = np.zeros_like(a)
        step[i] = eps
        grad[i] = (f(a + step) - f(a - step)) / (2 * eps)
    return grad


def _check_grad(apply, a, weights):
    """d/da Σ(weights ⊙ apply(a)) from backward equals central differences (float64)."""
    x = Tensor(a, requires_grad=True)
    out = apply(x)
    ops.Sum.apply(ops.Mul.apply(out, Tensor(weights))).backward()
    expected = _numerical_grad(lambda v: float((apply(Tensor(v)).data * weights).sum()), a)
    np.testing.assert_allclose(x.grad, expected, rtol=1e-6, atol=1e-8)
    return out


@pytest.mark.parametrize("axes", [None, (1, 2, 0), (-1, 0, -2), (2, 0, 1)])
def test_transpose_op_forward_and_gradient(axes):
    """ops.Transpose permutes as np.transpose and its backward applies the inverse
    permutation (negative axes included)."""
    a = rng.standard_normal((2, 3, 4))
    out = _check_grad(
        lambda t: ops.Transpose.apply(t, axes=axes),
        a,
        rng.standard_normal(np.transpose(a, axes).shape),
    )
    np.testing.assert_array_equal(out.data, np.transpose(a, axes))


@pytest.mark.parametrize(
    "axis, keepdims",
    [(None, False), (None, True), (1, False), (1, True), ((0, 2), False), ((0, 2), True)],
)
def test_max_op_forward_and_gradient(axis, keepdims):
    """amax reduces as np.max and sends the gradient to the maxima."""
    a = rng.standard_normal((3, 4, 2))
    out = _check_grad(
        lambda t: t.amax(axis=axis, keepdims=keepdims),
        a,
        rng.standard_normal(np.max(a, axis=axis, keepdims=keepdims).shape),
    )
    np.testing.assert_array_equal(out.data, np.max(a, axis=axis, keepdims=keepdims))


def test_max_op_splits_the_gradient_between_ties():
    """Tied maxima share the gradient evenly, per reduced slice."""
    x = Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]]), requires_grad=True)
    ops.Sum.apply(x.amax(dim=1)).backward()
    assert x.grad.tolist() == [[0.0, 0.5, 0.5], [0.5, 0.0, 0.5]]


@pytest.mark.parametrize("needs", [(True, True), (True, False), (False, True)])
def test_matmul_op_gradient(needs):
    """matmul: dA = G Bᵀ, dB = Aᵀ G, and no gradient for an input that needs none."""
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    g = rng.standard_normal((3, 2))
    ta, tb = Tensor(a, requires_grad=needs[0]), Tensor(b, requires_grad=needs[1])
    out = ta @ tb
    np.testing.assert_allclose(out.data, a @ b)
    ops.Sum.apply(ops.Mul.apply(out, Tensor(g))).backward()
    if needs[0]:
        np.testing.assert_allclose(ta.grad, g @ b.T)
    if needs[1]:
        np.testing.assert_allclose(tb.grad, a.T @ g)


def test_getitem_op_scatters_the_gradient_and_adds_repeats():
    """GetItem with a Tensor index: forward as NumPy, backward adds where an index
    repeats, in the gradient's dtype."""
    a = np.arange(5.0, dtype=np.float32)
    x = Tensor(a, requires_grad=True)
    out = x[Tensor(np.array([3, 1, 3]))]
    assert out.data.tolist() == [3.0, 1.0, 3.0]
    ops.Sum.apply(out).backward()
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [0.0, 1.0, 0.0, 2.0, 0.0]
    single = Tensor(a)[Tensor(np.array([4, 0]))]
    assert single.data.tolist() == [4.0, 0.0]


# ----- the NumPy twins: the same errors as the kernels, the same bits -------------------------


def _f(*values, dtype=np.float64):
    return np.array(values, dtype=dtype)


@pytest.mark.parametrize("kernel_set", [kernels.numba_kernels, kernels.numpy_kernels])
@pytest.mark.parametrize(
    "name, args, message",
    [
        ("relu_forward", lambda: (_f(1, 2), _f(0)), "relu_forward: z and out differ in size"),
        (
            "relu_backward",
            lambda: (_f(1, 2), _f(1, 2), _f(0)),
            "relu_backward: g, a and out differ in size",
        ),
        (
            "leaky_relu_forward",
            lambda: (_f(1, 2), 0.1, _f(0)),
            "leaky_relu_forward: z and out differ in size",
        ),
        (
            "leaky_relu_backward",
            lambda: (_f(1, 2), _f(1, 2), 0.1, _f(0)),
            "leaky_relu_backward: g, z and out differ in size",
        ),
        (
            "masked_scale",
            lambda: (_f(1, 2), np.ones(2, np.int32), 2.0, _f(0, 0)),
            "masked_scale: the mask must be a bool array",
        ),
        (
            "masked_scale",
            lambda: (_f(1, 2), np.ones(3, bool), 2.0, _f(0, 0)),
            "masked_scale: x, mask and out differ in size",
        ),
        (
            "bias_add",
            lambda: (np.ones((2, 3)), _f(1, 2)),
            "bias_add: b needs one entry per column of z",
        ),
        (
            "column_sum",
            lambda: (np.ones((2, 3)), _f(0, 0)),
            "column_sum: out needs one entry per column of g",
        ),
        ("scaled_add", lambda: (_f(1, 2), 2.0, _f(1)), "scaled_add: acc and x differ in size"),
        (
            "sgd_update",
            lambda: (_f(1, 2), _f(1), _f(), 0.1, 0.0, 0.0, False, True),
            "sgd_update: theta, grad (and velocity, with momentum) differ in size",
        ),
        (
            "softmax_cross_entropy_with_grad",
            lambda: (np.ones((2, 3)), np.array([0, 3]), np.ones((2, 3))),
            "softmax_cross_entropy_with_grad: a label is not in [0, c)",
        ),
        (
            "softmax_cross_entropy_with_grad",
            lambda: (np.ones((2, 3)), np.array([0]), np.ones((2, 3))),
            "softmax_cross_entropy_with_grad: needs z of n >= 1 rows and c >= 1 columns, "
            "n labels and dz of z's shape",
        ),
    ],
)
def test_a_kernel_and_its_twin_refuse_with_the_same_message(kernel_set, name, args, message):
    """Kernel and twin raise the same ValueError, word for word."""
    with pytest.raises(ValueError) as err:
        getattr(kernel_set, name)(*args())
    assert str(err.value) == message


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_leaky_relu_twins_compute_in_the_arrays_dtype_bit_for_bit(dtype):
    """The twins multiply by the slope in the array's dtype (as the kernels do), so
    float32 results are bit for bit the kernels'; z = +0 gives 0·α (-0 for α < 0)."""
    z = np.concatenate([rng.standard_normal(200), [0.0, -0.0]]).astype(dtype)
    g = rng.standard_normal(z.size).astype(dtype)
    for slope in (0.1, -0.3):
        s = dtype(slope)
        for name, args in (("leaky_relu_forward", (z, s)), ("leaky_relu_backward", (g, z, s))):
            out_kernel, out_twin = np.empty_like(z), np.empty_like(z)
            getattr(kernels.numba_kernels, name)(*args, out_kernel)
            getattr(kernels.numpy_kernels, name)(*args, out_twin)
            assert out_kernel.tobytes() == out_twin.tobytes(), (name, slope)
        out_twin = np.empty_like(z)
        kernels.numpy_kernels.leaky_relu_forward(z, s, out_twin)
        assert out_twin.tobytes() == np.where(z > 0, z, z * s).tobytes()
        assert np.signbit(out_twin[-2]) == (slope < 0)


# ----- repr and from_numpy ---------------------------------------------------------------


def test_repr_shows_four_decimals_aligned_rows_and_the_dtype():
    """Values to 4 decimals, ', ' between them, rows aligned under `Tensor(`, then dtype."""
    t = Tensor(np.array([[1.234567, 2.0], [3.0, -4.5]]))
    assert repr(t) == ("Tensor([[ 1.2346,  2.    ],\n        [ 3.    , -4.5   ]], dtype=float64)")


def test_repr_summarises_past_twenty_entries():
    """20 entries are all shown; 21 are summarised with '...'."""
    assert "..." not in repr(Tensor(np.arange(20.0)))
    assert repr(Tensor(np.arange(21.0))) == (
        "Tensor([ 0.,  1.,  2., ..., 18., 19., 20.], dtype=float64)"
    )


def test_repr_names_the_op_that_made_it_or_requires_grad():
    """A leaf that requires grad says so; an op result names its Function."""
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    assert repr(x) == "Tensor([1., 2.], dtype=float64, requires_grad=True)"
    assert repr(ops.Mul.apply(x, x)) == "Tensor([1., 4.], dtype=float64, grad_fn=Mul)"


def test_from_numpy_is_a_leaf_sharing_the_array_with_its_own_version_counter():
    """from_numpy shares the array, is a leaf that needs no grad, and counts versions."""
    import tinygrad_hlcv as tg

    a = np.array([1.0, 2.0])
    t = tg.from_numpy(a)
    assert t.data is a and t.is_leaf and not t.requires_grad and t.grad is None
    assert t._version == 0
    t._version += 1
    assert t._version == 1 and tg.from_numpy(a)._version == 0


# ----- GradientSum._fold: an array the graph still holds is never written in place ----------


def test_the_penalty_is_not_added_into_a_saved_gradient_the_graph_reuses():
    """SoftmaxCrossEntropy's backward hands out the (P - Y)/N it saved; 2λw must go into a
    new array, or a second backward over the retained graph would find 2λw already in it."""
    w = Tensor(np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]]), requires_grad=True)
    labels = Tensor(np.array([2, 0]))
    loss = ops.Add.apply(
        fused.SoftmaxCrossEntropy.apply(w, labels), fused.L2Penalty.apply(w, lam=0.25)
    )
    p = np.exp(w.data) / np.exp(w.data).sum(axis=1, keepdims=True)
    expected = (p - np.eye(3)[[2, 0]]) / 2 + 0.5 * w.data
    loss.backward(retain_graph=True)
    np.testing.assert_allclose(w.grad, expected, rtol=1e-12)
    loss.backward()
    np.testing.assert_allclose(w.grad, 2 * expected, rtol=1e-12)


# ----- anomaly mode checks only the gradients that are needed ---------------------------------


def test_anomaly_mode_ignores_the_gradient_of_a_divisor_that_needs_none():
    """a / b with only a requiring grad: d/db = -a/b² overflows here, but it is never
    computed (as in PyTorch), so anomaly mode does not raise and da = 1/b."""
    a = Tensor(np.array([1e200, 1.0]), requires_grad=True)
    b = Tensor(np.array([1e-100, 2.0]))
    with detect_anomaly():
        ops.Sum.apply(ops.Div.apply(a, b)).backward()
    np.testing.assert_array_equal(a.grad, [1e100, 0.5])


@pytest.mark.parametrize("frozen", ["input", "weight"])
def test_anomaly_mode_ignores_the_linear_gradient_of_an_input_that_needs_none(frozen):
    """Linear's dX = δWᵀ (or dW = Xᵀδ) overflows here; when X (or W) needs no gradient it is
    never computed, so anomaly mode does not raise and the other gradients are right."""
    big, small = np.full((2, 2), 1e308), np.full((2, 2), 1e-10)
    x_data, w_data = (small, big) if frozen == "input" else (big, small)
    x = Tensor(x_data, requires_grad=frozen != "input")
    w = Tensor(w_data, requires_grad=frozen != "weight")
    b = Tensor(np.zeros(2), requires_grad=True)
    with detect_anomaly():
        ops.Sum.apply(fused.Linear.apply(x, w, b)).backward()
    ones = np.ones((2, 2))
    if frozen == "input":
        np.testing.assert_array_equal(w.grad, x_data.T @ ones)
        assert x.grad is None
    else:
        np.testing.assert_array_equal(x.grad, ones @ w_data.T)
        assert w.grad is None
    np.testing.assert_array_equal(b.grad, [2.0, 2.0])


def test_anomaly_error_describes_the_gradient_of_the_divisor_that_needs_it():
    """a / b with only b requiring grad: the error counts the bad entries of d/db = -g·a/b²
    (both here), not of the unneeded d/da = g/b (one), which is never computed."""
    a = Tensor(np.array([1e-300, 1e100]))
    b = Tensor(np.array([1e-10, 1e-200]), requires_grad=True)
    weights = Tensor(np.array([1e300, 1.0]))
    with detect_anomaly(), pytest.raises(AnomalyError) as err:
        ops.Sum.apply(ops.Mul.apply(ops.Div.apply(a, b), weights)).backward()
    assert str(err.value).startswith(
        "backward of Div produced Inf in 2 of 2 entries (first at index (0,), shape (2,))"
    )


# ----- kernels.select ---------------------------------------------------------------------


def test_an_unknown_kernel_set_is_refused_naming_the_choices_and_where_they_are_set():
    """The ConfigError names both sets, the value given, and the two ways to choose."""
    before = kernels.active
    with pytest.raises(ConfigError) as err:
        kernels.select("cuda")
    assert str(err.value) == (
        "kernel set must be 'numba' or 'numpy', got 'cuda' "
        "(from TINYGRAD_HLCV_KERNELS or kernels.select)"
    )
    assert kernels.active is before


@pytest.mark.parametrize("frozen", [0, 1])
def test_anomaly_mode_ignores_the_gradient_of_a_factor_that_needs_none(frozen):
    """a·b·w summed, one factor needing no grad: its gradient g·(other) = 1e300·1e10
    overflows here but is never computed, so anomaly mode does not raise."""
    values = [np.array([1e-300, 2.0]), np.array([1e10, 3.0])]
    if frozen == 1:
        values.reverse()
    a, b = (Tensor(v, requires_grad=i != frozen) for i, v in enumerate(values))
    weights = Tensor(np.array([1e300, 1.0]))
    with detect_anomaly():
        ops.Sum.apply(ops.Mul.apply(ops.Mul.apply(a, b), weights)).backward()
    needed = b if frozen == 0 else a
    np.testing.assert_array_equal(needed.grad, weights.data * values[frozen])


# ----- ops.Sum's defaults -----------------------------------------------------------------


def test_the_sum_op_drops_the_reduced_axes_unless_asked_to_keep_them():
    """ops.Sum reduces over every axis by default and, as torch.sum, drops the reduced axes
    unless keepdims=True; its gradient is ones of the input's shape either way."""
    a = np.arange(6.0).reshape(2, 3)
    x = Tensor(a, requires_grad=True)
    total = ops.Sum.apply(x)
    assert total.shape == () and total.item() == 15.0
    assert ops.Sum.apply(x, axis=1).data.tolist() == [3.0, 12.0]
    assert ops.Sum.apply(x, axis=1, keepdims=True).shape == (2, 1)
    total.backward()
    assert x.grad.tolist() == [[1.0] * 3] * 2


# ----- SoftmaxCrossEntropy's backward scales its saved gradient by the upstream one ------------


@pytest.mark.parametrize("upstream", [1.0, 2.0, -0.5])
def test_softmax_cross_entropy_gradient_is_scaled_by_the_upstream_gradient(upstream):
    """d(c·J)/dZ = c·(P - Y)/N for any c, the c = 1 shortcut included."""
    z = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])
    logits = Tensor(z, requires_grad=True)
    loss = fused.SoftmaxCrossEntropy.apply(logits, Tensor(np.array([2, 0])))
    ops.Mul.apply(loss, Tensor(np.array(upstream))).backward()
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(logits.grad, upstream * (p - np.eye(3)[[2, 0]]) / 2, rtol=1e-12)


# ----- the GraphError for a saved tensor changed in place (engine._check_saved_versions) -----


def test_a_saved_input_changed_in_place_is_named_with_its_versions_and_the_fix():
    """The error names the op, which input, its shape, both versions and what to do."""
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = ops.Mul.apply(Tensor(np.array([3.0, 4.0])), x)
    x._version += 1
    with pytest.raises(GraphError) as err:
        ops.Sum.apply(y).backward()
    assert str(err.value) == (
        "one of the tensors Mul saved for backward (input 1, shape (2,)) was changed in "
        "place (version 0, now 1) after Mul used it; expected it unchanged until backward() "
        "is done: call opt.step() after backward(), or change a clone() of it instead"
    )


def test_a_saved_output_changed_in_place_is_named_as_the_output():
    """Exp reads its own output in backward: changing it is reported as `output`."""
    y = ops.Exp.apply(Tensor(np.zeros((2, 3)), requires_grad=True))
    y._version += 2
    with pytest.raises(GraphError) as err:
        ops.Sum.apply(y).backward()
    assert str(err.value).startswith(
        "one of the tensors Exp saved for backward (output, shape (2, 3)) was changed in "
        "place (version 0, now 2) after Exp used it;"
    )


def test_an_input_replaced_by_an_in_place_op_after_use_is_refused_by_name():
    """z = y + 1, then y.mul_(3): backward through z cannot reach the y that Add used, so it
    raises (naming input, op and shape) instead of sending z's gradient through mul_."""
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = ops.Mul.apply(x, Tensor(np.array([2.0, 2.0])))
    z = ops.Add.apply(y, Tensor(np.array([1.0, 1.0])))
    y.mul_(3.0)
    with pytest.raises(GraphError) as err:
        ops.Sum.apply(z).backward()
    assert str(err.value) == (
        "input 0 of Add (shape (2,)) was changed in place after Add used it, so backward "
        "cannot reach the value it used; make the change before that use, or on a clone()"
    )
    assert x.grad is None


def test_anomaly_mode_checks_the_l2_penalty_gradient_it_defers():
    """L2Penalty returns 2λg·W as a ScaledGrad (added later, in place); anomaly mode still
    checks it and names L2Penalty when 2λg overflows while the forward was finite."""
    w = Tensor(np.array([1e-3, 2e-3]), requires_grad=True)
    with detect_anomaly(), pytest.raises(AnomalyError) as err:
        penalty = fused.L2Penalty.apply(w, lam=1.0)
        ops.Mul.apply(penalty, Tensor(np.array(1e308))).backward()
    assert str(err.value).startswith(
        "backward of L2Penalty produced Inf in 2 of 2 entries (first at index (0,), shape (2,))"
    )


# ----- the reverse pass (engine.run_backward) ------------------------------------------------


class _NoGradient(Function):
    """A test op that gives its input no gradient (None, PyTorch's 'zero')."""

    def forward(self, a):
        return a * 2

    def backward(self, g):
        return None


def test_a_node_that_receives_no_gradient_is_skipped():
    """x → m = 2x → _NoGradient → + 3x: m gets no gradient at all, yet backward completes
    and x.grad is the 3 of the other path alone."""
    x = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    m = ops.Mul.apply(x, Tensor(np.array([2.0, 2.0])))
    y = ops.Add.apply(_NoGradient.apply(m), ops.Mul.apply(x, Tensor(np.array([3.0, 3.0]))))
    ops.Sum.apply(y).backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_run_backward_frees_the_graph_unless_asked_to_retain_it():
    """run_backward(root, grad), as Tensor.backward() calls it, releases the graph; a
    second pass then raises GraphError."""
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = ops.Sum.apply(ops.Mul.apply(x, x))
    run_backward(y, np.ones(()), retain_graph=True)
    run_backward(y, np.ones(()))
    assert x.grad.tolist() == [4.0, 8.0]
    with pytest.raises(GraphError):
        run_backward(y, np.ones(()))


def test_a_tensor_that_needed_no_gradient_when_used_gets_none_from_that_use():
    """c is used once as a constant, then made to require grad and used again: only the
    second use reaches c.grad (as in PyTorch)."""
    c = Tensor(np.array([1.0, 2.0]))
    first = ops.Mul.apply(c, Tensor(np.array([2.0, 2.0])))
    c.requires_grad = True
    second = ops.Mul.apply(c, Tensor(np.array([3.0, 3.0])))
    ops.Sum.apply(ops.Add.apply(first, second)).backward()
    assert c.grad.tolist() == [3.0, 3.0]


def test_backward_through_a_freed_tensor_says_which_call_to_change():
    """y's graph was freed by the first backward(); a new op on y cannot reach behind it."""
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = ops.Mul.apply(x, Tensor(np.array([2.0, 2.0])))
    ops.Sum.apply(y).backward()
    with pytest.raises(GraphError) as err:
        ops.Sum.apply(ops.Mul.apply(y, Tensor(np.array([3.0, 3.0])))).backward()
    assert str(err.value) == (
        "backward() reached a tensor whose graph was already freed by an earlier backward(); "
        "pass retain_graph=True to that call"
    )


# ----- the gradient backward() starts from (Tensor._seed_gradient) ----------------------------


def test_backward_without_a_gradient_on_a_non_scalar_says_what_to_do():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(GraphError) as err:
        x.backward()
    assert str(err.value) == (
        "backward() without a gradient needs a scalar, got shape (2, 3); reduce it "
        "(e.g. .sum()) or pass backward(grad) with a gradient of that shape"
    )


def test_the_seed_gradient_has_the_tensors_shape_and_dtype():
    """A one-element leaf's backward() gives ones of its own shape and dtype; a given grad
    of another float dtype is cast to the tensor's dtype."""
    x = Tensor(np.array([[2.0]], dtype=np.float32), requires_grad=True)
    x.backward()
    assert x.grad.shape == (1, 1) and x.grad.dtype == np.float32 and x.grad.item() == 1.0
    v = Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    v.backward(np.array([0.5, -1.0], dtype=np.float64))
    assert v.grad.dtype == np.float32 and v.grad.tolist() == [0.5, -1.0]


def test_backward_refusals_say_why_and_what_to_do():
    """A second backward() on a freed graph, a tensor that needs no grad, a bad grad."""
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = ops.Sum.apply(ops.Mul.apply(x, x))
    y.backward()
    with pytest.raises(GraphError) as freed:
        y.backward()
    assert str(freed.value) == (
        "backward() through a graph that was already freed by an earlier backward(); pass "
        "retain_graph=True to the first call to backward twice"
    )
    with pytest.raises(GraphError) as constant:
        Tensor(np.ones(())).backward()
    assert str(constant.value) == (
        "backward() needs a tensor that requires grad: no input of the computation had "
        "requires_grad=True (or it ran under no_grad)"
    )
    with pytest.raises(DTypeError) as bad:
        x.backward(np.array(["a", "b"]))
    assert str(bad.value).startswith("backward(grad): ")
    assert str(bad.value).endswith(" (the gradient of a tensor of shape (2,))")


def test_backward_takes_its_gradient_as_a_tensor_or_a_list():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    x.backward(Tensor(np.array([0.5, 1.5])))
    x.backward([1.0, 1.0])
    assert x.grad.tolist() == [1.5, 2.5]


def test_an_op_that_reads_no_output_allows_its_output_changed_in_place():
    """Add's backward does not read its output, so changing y in place after y = x + 1 is
    allowed, as in PyTorch (only saved tensors are version-checked), and the gradient flows
    through both ops."""
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x + 1
    y.mul_(3)
    y.sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_anomaly_mode_names_the_op_instead_of_numpy_warnings():
    """In anomaly mode NumPy's own 'divide by zero' warning is silenced: the error that
    names the op (Log) is what the user sees, also where warnings are errors."""
    x = Tensor(np.array([0.0, 1.0]), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with detect_anomaly(), pytest.raises(AnomalyError, match="forward of Log"):
            x.log()
