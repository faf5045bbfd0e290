"""The argument checks of nn.functional and nn.l2_penalty: every array that reaches a kernel
has been checked first (Tensor or NumPy array, float32/float64, one dtype, the shape the
op needs), so a kernel never reads past an array and the two kernel sets never differ;
the user gets the framework's error saying what was expected. Each test runs on both
kernel sets."""

import numpy as np
import pytest

from tinygrad_hlcv import Tensor, kernels, nn
from tinygrad_hlcv.errors import ConfigError, DTypeError, ShapeError
from tinygrad_hlcv.nn import functional as F


@pytest.fixture(params=["numba", "numpy"], autouse=True)
def kernel_set(request):
    """Each test on the Numba kernels and on their twins; restores the active set."""
    previous = "numpy" if kernels.active is kernels.numpy_kernels else "numba"
    kernels.select(request.param)
    yield request.param
    kernels.select(previous)


def x_and_weight(dtype=np.float32):
    rng = np.random.default_rng(0)
    return (
        Tensor(rng.standard_normal((2, 4)).astype(dtype), requires_grad=True),
        Tensor(rng.standard_normal((4, 5)).astype(dtype), requires_grad=True),
    )


# ----- linear: the bias ------------------------------------------------------------------


@pytest.mark.parametrize("bias_shape", [(3,), (1,), (7,), (1, 5), (5, 1), (), (2, 5)])
def test_linear_bias_that_does_not_fit_is_refused(bias_shape):
    """A short bias made the kernel read past its end (garbage in the output), a long one
    was cut, (1, 5) raised Numba's TypingError, and the twin broadcast (1,) silently."""
    x, w = x_and_weight()
    bias = Tensor(np.ones(bias_shape, np.float32))
    with pytest.raises(ShapeError) as info:
        F.linear(x, w, bias)
    assert str(info.value) == (
        f"Linear: bias of shape {bias_shape} does not fit weight of "
        "shape (4, 5); expected shape (5,)"
    )


@pytest.mark.parametrize("which", ["input", "weight", "bias"])
@pytest.mark.parametrize("odd", [np.float64, np.int64, np.bool_])
def test_linear_mixed_or_non_float_dtypes_are_refused(which, odd):
    """float32 input, weight and bias unless one of them is `odd`: PyTorch refuses mixed
    dtypes; here a float64 bias made a float32 layer's output silently float64 (or not)."""
    x, w = x_and_weight()
    arrays = {"input": x.data, "weight": w.data, "bias": np.ones(5, np.float32)}
    arrays[which] = arrays[which].astype(odd)
    with pytest.raises(DTypeError, match=which) as info:
        F.linear(*(Tensor(arrays[k]) for k in ("input", "weight", "bias")))
    assert "expected" in str(info.value) or "must be float32 or float64" in str(info.value)


def test_linear_dtype_message_names_each_dtype_and_the_fix():
    x, w = x_and_weight()
    with pytest.raises(DTypeError) as info:
        F.linear(x, w, Tensor(np.ones(5, np.float64)))
    assert str(info.value) == (
        "Linear: input float32, weight float32, bias float64; expected "
        "one dtype, the weight's float32 (convert with "
        "Tensor(x, dtype=np.float32))"
    )


@pytest.mark.parametrize("weight_shape", [(4,), (), (4, 5, 1), (1, 4, 5)])
def test_linear_weight_that_is_not_2d_is_refused(weight_shape):
    """A 1-D weight gave a 1-D output without a bias and Numba's TypingError with one."""
    x, _ = x_and_weight()
    for bias in (None, Tensor(np.ones(5, np.float32))):
        with pytest.raises(ShapeError, match=r"expected a 2-D weight \(in_features, "):
            F.linear(x, Tensor(np.ones(weight_shape, np.float32)), bias)


def test_linear_takes_numpy_weight_and_bias_as_constants():
    """They raised AttributeError ('numpy.ndarray' object has no attribute 'requires_grad')."""
    x, w = x_and_weight(np.float64)
    b = np.arange(5.0)
    out = F.linear(x, w.data, b)
    np.testing.assert_allclose(out.data, x.data @ w.data + b, rtol=1e-14)
    out.sum().backward()
    np.testing.assert_allclose(x.grad, np.ones((2, 5)) @ w.data.T, rtol=1e-14)
    assert w.grad is None  # the Tensor w was not used, only its array


@pytest.mark.parametrize("bad", [[1.0] * 5, "bias", 3.0, {"b": 1}])
def test_linear_bias_that_is_not_an_array_is_refused(bad):
    x, w = x_and_weight()
    with pytest.raises(DTypeError, match="Linear: bias must be a Tensor or a NumPy array"):
        F.linear(x, w, bad)


@pytest.mark.parametrize("bad", [None, [[1.0] * 5] * 4, "weight"])
def test_linear_weight_that_is_not_an_array_is_refused(bad):
    x, _ = x_and_weight()
    with pytest.raises(DTypeError, match="Linear: weight must be a Tensor or a NumPy array"):
        F.linear(x, bad)


def test_linear_odd_numpy_dtype_is_refused_by_name():
    x, w = x_and_weight()
    with pytest.raises(DTypeError, match="Linear: bias: Tensor: cannot hold"):
        F.linear(x, w, np.ones(5, np.complex64))


def test_linear_checks_keep_valid_calls_working():
    x, w = x_and_weight()
    b = Tensor(np.ones(5, np.float32), requires_grad=True)
    out = F.linear(x, w, b)
    assert out.dtype == np.float32 and out.shape == (2, 5)
    out.sum().backward()
    np.testing.assert_allclose(b.grad, [2.0] * 5)


# ----- activations and dropout: dtypes, masks, generators --------------------------------


@pytest.mark.parametrize("dtype", [np.int64, np.int8, np.uint8, np.bool_])
@pytest.mark.parametrize(
    "fn", [lambda x: F.leaky_relu(x, 0.1), lambda x: F.dropout(x, 0.5)], ids=["leaky", "dropout"]
)
def test_leaky_relu_and_dropout_refuse_non_float_input(fn, dtype):
    """leaky_relu of integers silently gave 0 for negatives (the slope truncated to 0)."""
    with pytest.raises(DTypeError, match="must be float32 or float64"):
        fn(Tensor(np.array([-1, 0, 2]).astype(dtype)))


def test_relu_refuses_bool_input():
    """It gave a bool result on the Numba kernel and a DTypeError on the twin."""
    with pytest.raises(DTypeError, match="ReLU: input must be a float or integer tensor"):
        F.relu(Tensor(np.array([True, False])))


@pytest.mark.parametrize("dtype", [np.int8, np.int64, np.uint8, np.uint64])
def test_relu_keeps_integers_exactly(dtype):
    """As PyTorch's relu and Tensor.relu; uint64 values past 2**53 were rounded by the kernel."""
    info = np.iinfo(dtype)
    x = np.array([info.min, min(info.min + 1, 1), 0, 1, info.max, info.max - 1], dtype=dtype)
    out = F.relu(Tensor(x))
    assert out.dtype == dtype
    np.testing.assert_array_equal(out.data, np.maximum(x, 0))


@pytest.mark.parametrize(
    "fn", [F.relu, F.leaky_relu, lambda x: F.dropout(x, 0.5)], ids=["relu", "leaky", "dropout"]
)
@pytest.mark.parametrize("bad", [[1.0, -1.0], 3.0, None, "x"])
def test_activations_refuse_what_is_not_an_array(fn, bad):
    with pytest.raises(DTypeError, match="must be a Tensor or a NumPy array"):
        fn(bad)


@pytest.mark.parametrize("slope", [np.nan, np.inf, "0.1", None, True])
def test_leaky_relu_refuses_a_slope_that_is_not_a_finite_number(slope):
    with pytest.raises(ConfigError, match="negative_slope must be a finite number"):
        F.leaky_relu(Tensor(np.ones(3)), slope)


@pytest.mark.parametrize(
    "mask",
    [
        np.full((2, 4), 0.5),
        np.ones((2, 4), np.int64),
        np.ones((2, 4), np.uint8),
        "abc",
        [[True] * 4] * 2,
        1.0,
    ],
)
def test_dropout_refuses_a_mask_that_is_not_bool(mask):
    """A float mask of 0.5 kept every unit (bool(0.5)), a 2 doubled it, a string mask of a
    0-d input was taken as True."""
    with pytest.raises(DTypeError, match="mask must be a bool array"):
        F.dropout(Tensor(np.ones((2, 4))), 0.5, mask=mask)


def test_dropout_refuses_a_string_mask_for_a_0d_input():
    with pytest.raises(DTypeError, match="mask must be a bool array"):
        F.dropout(Tensor(np.float64(1.0)), 0.5, mask="abc")


@pytest.mark.parametrize("shape", [(4, 2), (8,), (2, 4, 1), (1, 4), ()])
def test_dropout_refuses_a_mask_of_another_shape(shape):
    with pytest.raises(ShapeError, match=r"expected the input's shape"):
        F.dropout(Tensor(np.ones((2, 4))), 0.5, mask=np.ones(shape, bool))


def test_dropout_takes_a_bool_tensor_mask_and_a_non_contiguous_one():
    x = Tensor(np.arange(1.0, 9.0).reshape(2, 4), requires_grad=True)
    mask = np.array([[True, False], [False, True], [True, True], [False, False]]).T
    assert not mask.flags.c_contiguous
    for m in (mask, Tensor(mask)):
        out = F.dropout(x, 0.5, mask=m)
        np.testing.assert_array_equal(out.data, np.where(mask, 2 * x.data, 0))


@pytest.mark.parametrize("generator", ["rng", 3, [1, 2], np.random.default_rng])
def test_dropout_refuses_a_generator_that_is_not_one(generator):
    """It raised AttributeError ('str' object has no attribute 'random')."""
    with pytest.raises(ConfigError, match="generator must be a numpy.random.Generator"):
        F.dropout(Tensor(np.ones(3)), 0.5, generator=generator)


@pytest.mark.parametrize("shape", [(-1, 2), (2.0,), "ab", None, (None,), -3, (True,)])
def test_dropout_mask_refuses_a_shape_that_is_not_sizes(shape):
    with pytest.raises(ShapeError, match="shape must be a tuple of sizes >= 0"):
        F.dropout_mask(shape, 0.5)


def test_dropout_mask_takes_a_size_a_tuple_or_a_list():
    for shape, expected in [(3, (3,)), ((2, 3), (2, 3)), ([2, 3], (2, 3)), ((), ())]:
        mask = F.dropout_mask(shape, 0.5, np.random.default_rng(0))
        assert mask.shape == expected and mask.dtype == np.bool_


# ----- softmax cross-entropy ----------------------------------------------------------------


@pytest.mark.parametrize("logits", [[[1.0, 2.0]], None, "logits", 1.5])
def test_softmax_cross_entropy_refuses_logits_that_are_not_arrays(logits):
    with pytest.raises(DTypeError, match="logits must be a Tensor or a NumPy array"):
        F.softmax_cross_entropy(logits, [0])


@pytest.mark.parametrize("dtype", [np.int64, np.bool_, np.uint8])
def test_softmax_cross_entropy_refuses_non_float_logits(dtype):
    with pytest.raises(DTypeError, match="logits must be float32 or float64"):
        F.softmax_cross_entropy(Tensor(np.ones((2, 3), dtype)), [0, 1])


@pytest.mark.parametrize("smoothing", [-0.1, 1.5, float("nan"), "0.1", None])
def test_softmax_cross_entropy_refuses_label_smoothing_outside_zero_to_one(smoothing):
    with pytest.raises(ConfigError, match=r"label_smoothing must be a number in \[0, 1\]"):
        F.softmax_cross_entropy(Tensor(np.ones((2, 3), np.float32)), [0, 1], smoothing)


# ----- l2_penalty ----------------------------------------------------------------------------


def test_l2_penalty_takes_numpy_arrays_as_constants():
    """It raised AttributeError ('numpy.ndarray' object has no attribute 'requires_grad')."""
    w = Tensor(np.array([[1.0, 2.0]]), requires_grad=True)
    penalty = nn.l2_penalty([w, np.array([3.0, 4.0])], 0.5)
    assert penalty.item() == pytest.approx(0.5 * (1 + 4 + 9 + 16))
    penalty.backward()
    np.testing.assert_allclose(w.grad, [[1.0, 2.0]])


@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (2, 1, 2)])
def test_l2_penalty_takes_one_tensor_of_any_shape(shape):
    """A 0-d tensor raised TypeError (len() of it), others went through a GetItem per row."""
    w = Tensor(np.full(shape, 2.0), requires_grad=True)
    penalty = nn.l2_penalty(w, 0.25)
    assert penalty.item() == pytest.approx(0.25 * 4.0 * w.data.size)
    penalty.backward()
    np.testing.assert_allclose(w.grad, np.full(shape, 1.0))


@pytest.mark.parametrize("dtype", [np.int64, np.bool_, np.uint8])
def test_l2_penalty_refuses_non_float_weights(dtype):
    """Integer weights gave a penalty of 0 (λ·Σw² cast to int64)."""
    with pytest.raises(DTypeError, match="l2_penalty: weight 1 must be float32 or float64"):
        nn.l2_penalty([Tensor(np.ones(2)), Tensor(np.ones(2, dtype))], 0.1)


@pytest.mark.parametrize("weights", [[None], ["w"], [[1.0, 2.0]], [3.0]])
def test_l2_penalty_refuses_items_that_are_not_arrays(weights):
    """They raised AttributeError ('NoneType' object has no attribute 'requires_grad')."""
    with pytest.raises(DTypeError, match="l2_penalty: weight 0 must be a Tensor or a NumPy"):
        nn.l2_penalty(weights, 0.1)


@pytest.mark.parametrize("weights", [5, None, "ab", b"ab", 2.5])
def test_l2_penalty_refuses_weights_that_are_no_list(weights):
    """5 raised TypeError ('int' object is not iterable), 'ab' AttributeError."""
    with pytest.raises(DTypeError, match="weights must be a model, a weight tensor or a list"):
        nn.l2_penalty(weights, 0.1)


def test_l2_penalty_refuses_an_empty_list_and_a_model_without_linear_layers():
    for weights in ([], (), nn.Sequential(nn.ReLU())):
        with pytest.raises(ConfigError, match="no weights given"):
            nn.l2_penalty(weights, 0.1)
