"""Tensor: construction and dtype rules, array behaviour, and the semantics of backward()."""

import gc
import weakref

import numpy as np
import pytest

import tinygrad_hlcv as tg
from tinygrad_hlcv import Tensor, detect_anomaly, is_grad_enabled, no_grad
from tinygrad_hlcv.errors import AnomalyError, DTypeError, GraphError, ShapeError


@pytest.fixture
def float64_default():
    """Make float64 the default dtype for one test, and restore the previous default."""
    previous = tg.get_default_dtype()
    tg.set_default_dtype(np.float64)
    yield
    tg.set_default_dtype(previous)


# ----- construction and dtypes --------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_array_keeps_its_dtype_and_is_copied(dtype):
    """Tensor(array) copies, as torch.Tensor does: a step of an optimizer on a parameter
    made from the user's array must not rewrite that array. from_numpy shares."""
    a = np.arange(6, dtype=dtype).reshape(2, 3)
    t = Tensor(a, requires_grad=True)
    assert t.dtype == dtype
    assert t.shape == (2, 3) and t.ndim == 2 and t.numel() == 6
    assert not np.shares_memory(t.data, a)
    t.grad = np.ones_like(a)
    tg.optim.SGD([t], lr=1.0).step()
    np.testing.assert_array_equal(a, np.arange(6).reshape(2, 3))
    shared = tg.from_numpy(a)
    assert shared.data is a


@pytest.mark.parametrize("data", [3, 2.5, True, [1, 2, 3], [[1.5, 2.0], [3.0, 4.0]]])
def test_python_numbers_and_lists_get_the_default_dtype_float32(data):
    assert tg.get_default_dtype() == np.float32
    t = Tensor(data)
    assert t.dtype == np.float32
    np.testing.assert_array_equal(t.data, np.asarray(data, dtype=np.float32))


@pytest.mark.parametrize("data", [3, 2.5, [1, 2, 3]])
def test_set_default_dtype_float64_changes_python_inputs(float64_default, data):
    assert tg.get_default_dtype() == np.float64
    assert Tensor(data).dtype == np.float64
    # arrays keep their own dtype whatever the default
    assert Tensor(np.zeros(2, dtype=np.float32)).dtype == np.float32


def test_default_dtype_is_restored_by_the_fixture():
    # runs after test_set_default_dtype_float64_changes_python_inputs (file order)
    assert tg.get_default_dtype() == np.float32


@pytest.mark.parametrize("dtype", [np.float16, np.int32, np.complex64])
def test_set_default_dtype_rejects_non_float32_64(dtype):
    with pytest.raises(DTypeError):
        tg.set_default_dtype(dtype)
    assert tg.get_default_dtype() == np.float32


def test_scalar_operands_take_the_tensor_dtype(float64_default):
    # even with a float64 default, a float32 tensor stays float32 when combined with numbers
    x = Tensor(np.ones(3, dtype=np.float32))
    for y in (x + 1, 1 + x, x * 2.5, 2.5 / x, x - 1, 1 - x, x**2, -x):
        assert y.dtype == np.float32


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.bool_])
def test_integer_and_bool_arrays_stay_as_they_are(dtype):
    a = np.array([0, 1, 1], dtype=dtype)
    t = Tensor(a)
    assert t.dtype == dtype
    assert not t.requires_grad


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_])
def test_requires_grad_on_integer_array_raises(dtype):
    with pytest.raises(DTypeError, match="float"):
        Tensor(np.array([1, 2], dtype=dtype), requires_grad=True)


@pytest.mark.parametrize(
    "array",
    [
        np.zeros(3, dtype=np.float16),
        np.zeros(3, dtype=np.complex128),
        np.array([1.0, None], dtype=object),
        np.array(["a", "b"]),
    ],
)
def test_unsupported_array_dtypes_raise(array):
    with pytest.raises(DTypeError):
        Tensor(array)


@pytest.mark.parametrize("dtype", [np.float16, np.complex64, np.complex128, object])
def test_unsupported_explicit_dtypes_raise(dtype):
    with pytest.raises(DTypeError):
        Tensor([1.0, 2.0], dtype=dtype)


@pytest.mark.parametrize("data", [1 + 2j, ["a", "b"], {"a": 1}, [[1, 2], [3]]])
def test_non_numeric_python_data_raises(data):
    with pytest.raises(DTypeError):
        Tensor(data)


def test_explicit_dtype_converts():
    t = Tensor([1, 2], dtype=np.float64)
    assert t.dtype == np.float64
    t = Tensor(np.array([1.5, 2.5]), dtype=np.float32)
    assert t.dtype == np.float32
    np.testing.assert_array_equal(t.data, [1.5, 2.5])


# ----- gradient dtypes ----------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_grad_has_the_tensor_dtype(dtype):
    x = Tensor(np.linspace(0.5, 2.0, 6).astype(dtype).reshape(2, 3), requires_grad=True)
    ((x * 3.0).exp().log() / 2.0 + x.amax(axis=1, keepdims=True)).mean().backward()
    assert x.grad.dtype == dtype
    assert isinstance(x.grad, np.ndarray) and x.grad.shape == x.shape


def test_grad_dtype_in_mixed_float32_float64_ops():
    a = Tensor(np.array([1.0, 2.0, 3.0], dtype=np.float32), requires_grad=True)
    b = Tensor(np.array([0.5, 1.5, 2.5], dtype=np.float64), requires_grad=True)
    c = Tensor(np.array([[1.0], [2.0]], dtype=np.float32), requires_grad=True)
    y = a * b + c / b
    assert y.dtype == np.float64
    y.sum().backward()
    assert a.grad.dtype == np.float32
    assert b.grad.dtype == np.float64
    assert c.grad.dtype == np.float32
    np.testing.assert_allclose(a.grad, 2 * b.data, rtol=1e-6)
    np.testing.assert_allclose(c.grad, np.full((2, 1), (1 / b.data).sum()), rtol=1e-6)
    np.testing.assert_allclose(b.grad, 2 * a.data - c.data.sum() / b.data**2, rtol=1e-6)


def test_grad_dtype_with_float64_array_operand():
    # float32 tensor combined with a float64 ndarray: the result is float64, the grad float32
    x = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    y = (x * np.array([1.0, 2.0, 3.0])).sum()
    assert y.dtype == np.float64
    y.backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [1, 2, 3])


# ----- array behaviour ----------------------------------------------------------------


def test_numpy_returns_the_shared_array():
    a = np.arange(3.0)
    t = tg.from_numpy(a)
    assert t.numpy() is a
    assert Tensor(a).numpy() is not a  # Tensor(array) holds a copy


def test_numpy_of_a_tensor_in_a_recorded_graph_is_refused():
    """Computing on .numpy() inside a forward would silently cut the graph: refused, as in
    PyTorch, with the fix; allowed after detach() and under no_grad()."""
    w = Tensor(np.ones(3), requires_grad=True)
    h = w * 2.0
    with pytest.raises(GraphError, match=r"detach\(\)\.numpy\(\)"):
        Tensor(np.tanh(h.numpy()))
    np.testing.assert_array_equal(h.detach().numpy(), [2.0, 2.0, 2.0])
    with tg.no_grad():
        np.testing.assert_array_equal(h.numpy(), [2.0, 2.0, 2.0])


def test_zero_dim_results_are_arrays():
    """Ops on 0-d tensors give 0-d arrays (NumPy itself would give scalars)."""
    a = Tensor(2.0, requires_grad=True)
    b = Tensor(3.0, requires_grad=True)
    c = a * b + a.exp()
    assert isinstance(c.detach().numpy(), np.ndarray) and c.shape == ()
    assert np.asarray(c).shape == ()
    c.backward()
    assert isinstance(a.grad, np.ndarray) and a.grad.shape == ()
    assert isinstance(b.grad, np.ndarray) and b.grad.shape == ()
    np.testing.assert_allclose(a.grad, 3.0 + np.exp(2.0), rtol=1e-6)
    a.grad[...] = 0.0  # a real, writeable array
    assert a.grad == 0.0


def test_item():
    assert Tensor(np.array([[2.5]])).item() == 2.5
    assert isinstance(Tensor(np.float32(1.5)).item(), float)
    assert Tensor(np.arange(4.0)).sum().item() == 6.0


def test_item_on_non_scalar_raises():
    with pytest.raises(ShapeError, match=r"\(2, 3\)"):
        Tensor(np.zeros((2, 3))).item()


def test_array_protocol():
    t = Tensor(np.arange(4.0, dtype=np.float32))
    a = np.asarray(t)
    assert a is t.data
    b = np.asarray(t, dtype=np.float64)
    assert b.dtype == np.float64
    np.testing.assert_array_equal(b, [0, 1, 2, 3])
    c = np.array(t)  # copies
    c[0] = 99
    assert t.data[0] == 0
    np.testing.assert_array_equal(np.sum(np.asarray(t)), 6)


def test_repr():
    leaf = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    r = repr(leaf)
    assert r.startswith("Tensor(") and "1." in r and "2." in r
    assert "float64" in r and "requires_grad=True" in r
    y = leaf * 2
    assert "grad_fn=Mul" in repr(y)
    plain = repr(Tensor(np.zeros(2, dtype=np.float32)))
    assert "float32" in plain and "requires_grad" not in plain and "grad_fn" not in plain
    # long arrays are summarised
    assert "..." in repr(Tensor(np.zeros(1000)))


def test_len():
    assert len(Tensor(np.zeros((4, 2)))) == 4
    assert len(Tensor([1, 2, 3])) == 3


@pytest.mark.parametrize("op", ["add", "sub", "mul", "truediv", "matmul"])
def test_ndarray_on_the_left_gives_a_tensor(op):
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    t = Tensor(np.array([[0.5, -1.0], [2.0, 1.5]]), requires_grad=True)
    fns = {
        "add": np.add,
        "sub": np.subtract,
        "mul": np.multiply,
        "truediv": np.divide,
        "matmul": np.matmul,
    }
    ops = {
        "add": lambda x, y: x + y,
        "sub": lambda x, y: x - y,
        "mul": lambda x, y: x * y,
        "truediv": lambda x, y: x / y,
        "matmul": lambda x, y: x @ y,
    }
    out = ops[op](a, t)
    assert isinstance(out, Tensor)
    np.testing.assert_allclose(out.data, fns[op](a, t.data))
    out.sum().backward()  # the graph reaches t
    assert t.grad is not None and t.grad.shape == t.shape


def test_ndarray_ufunc_on_tensor_is_refused():
    assert Tensor.__array_ufunc__ is None
    with pytest.raises(TypeError):
        np.add(np.ones(2), Tensor(np.ones(2)))


# ----- backward semantics -------------------------------------------------------------


def test_backward_fills_leaf_grads():
    x = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    y = (x * x).sum()
    assert x.grad is None
    y.backward()
    np.testing.assert_array_equal(x.grad, 2 * x.data)


def test_grads_accumulate_across_backward_calls():
    x = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    (x * x).sum().backward()
    first = x.grad.copy()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, 2 * first)


def test_zero_grad():
    model = tg.nn.Linear(3, 2, dtype=np.float64)
    x = Tensor(np.ones((4, 3)))
    model(x).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    model(x).sum().backward()  # starts afresh, not doubled
    np.testing.assert_array_equal(model.bias.grad, [4.0, 4.0])


def test_retain_graph_allows_a_second_backward():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * x * 3.0).sum()
    y.backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad, 6 * x.data)
    y.backward()
    np.testing.assert_array_equal(x.grad, 12 * x.data)


def test_second_backward_without_retain_graph_raises():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(GraphError, match="retain_graph"):
        y.backward()


def test_backward_through_freed_intermediate_raises():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x * 2.0
    h.sum().backward()
    with pytest.raises(GraphError, match="retain_graph"):
        (h * 3.0).sum().backward()


def test_backward_on_non_scalar_needs_a_grad():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(GraphError, match=r"\(2, 3\)"):
        (x * 2.0).backward()


def test_backward_with_explicit_grad():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    g = np.arange(6.0).reshape(2, 3)
    (x * 2.0).backward(g)
    np.testing.assert_array_equal(x.grad, 2 * g)


def test_backward_with_wrong_shaped_grad_raises():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(ShapeError, match=r"\(3, 2\).*\(2, 3\)"):
        (x * 2.0).backward(np.ones((3, 2)))
    with pytest.raises(ShapeError):
        (x * 2.0).backward(np.ones(6))


def test_backward_on_tensor_not_requiring_grad_raises():
    x = Tensor(np.ones(3))
    with pytest.raises(GraphError, match="require"):
        (x * 2.0).sum().backward()


def test_long_chain_backward_has_no_recursion_and_frees_the_graph():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x
    nodes = []
    for _ in range(10_000):
        y = y * 1.0 + 0.0
        nodes.append(y)
    root = y.sum()
    assert all(n._ctx is not None for n in nodes[::1000])
    intermediate_data = weakref.ref(nodes[5000]._ctx)
    root.backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])
    assert root._ctx is None
    assert all(n._ctx is None for n in nodes)
    gc.collect()
    assert intermediate_data() is None  # the Function (and the arrays it kept) is gone


def test_long_chain_with_retain_graph_keeps_it():
    x = Tensor(np.array([2.0]), requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y + 1.0
    y.backward(np.ones(1), retain_graph=True)
    y.backward(np.ones(1))
    np.testing.assert_array_equal(x.grad, [2.0])


def test_no_grad_records_no_graph():
    x = Tensor(np.ones(3), requires_grad=True)
    assert is_grad_enabled()
    with no_grad():
        assert not is_grad_enabled()
        y = (x * 2.0).sum()
    assert is_grad_enabled()
    assert not y.requires_grad and y._ctx is None
    with pytest.raises(GraphError):
        y.backward()
    # outside, recording resumes
    z = (x * 2.0).sum()
    assert z.requires_grad and z._ctx is not None


def test_no_grad_restores_the_flag_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with no_grad():
            1 / 0
    assert is_grad_enabled()
    with no_grad():  # nested
        with no_grad():
            pass
        assert not is_grad_enabled()
    assert is_grad_enabled()


def test_detach():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * 3.0
    d = y.detach()
    assert not d.requires_grad and d._ctx is None
    assert np.shares_memory(d.data, y.data)
    ((d * x).sum()).backward()  # d is a constant: dL/dx = d
    np.testing.assert_array_equal(x.grad, [3.0, 6.0])


def test_tensor_used_several_times_gets_the_summed_gradient():
    x = Tensor(np.array([1.0, -2.0, 0.5]), requires_grad=True)
    (x * x + x).sum().backward()
    np.testing.assert_array_equal(x.grad, 2 * x.data + 1)

    w = Tensor(np.array([1.5, 2.0]), requires_grad=True)
    h = w * 2.0  # an intermediate used twice
    (h * h + h.exp() + h).sum().backward()
    np.testing.assert_allclose(w.grad, 2 * (2 * h.data + np.exp(h.data) + 1))


def test_two_leaves_fed_the_same_gradient_do_not_share_it():
    a = Tensor(np.zeros(3), requires_grad=True)
    b = Tensor(np.zeros(3), requires_grad=True)
    (a + b).sum().backward()
    assert not np.shares_memory(a.grad, b.grad)
    a.grad[0] = 5.0
    np.testing.assert_array_equal(b.grad, [1.0, 1.0, 1.0])


def test_leaf_grads_do_not_alias_the_given_gradient():
    a = Tensor(np.zeros(3), requires_grad=True)
    b = Tensor(np.zeros(3), requires_grad=True)
    g = np.ones(3)
    (a + b).backward(g)
    assert not np.shares_memory(a.grad, b.grad)
    assert not np.shares_memory(a.grad, g) and not np.shares_memory(b.grad, g)
    g[0] = 7.0
    a.grad[1] = 5.0
    np.testing.assert_array_equal(a.grad, [1.0, 5.0, 1.0])
    np.testing.assert_array_equal(b.grad, [1.0, 1.0, 1.0])


def test_leaf_as_root_does_not_alias_the_given_gradient():
    x = Tensor(np.zeros(2), requires_grad=True)
    g = np.ones(2)
    x.backward(g)
    g[0] = 3.0
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])


def test_detect_anomaly_names_the_forward_op():
    x = Tensor(np.array([1.0, -1.0]), requires_grad=True)
    with np.errstate(invalid="ignore"), detect_anomaly():
        y = x * 2.0  # fine
        with pytest.raises(AnomalyError, match="forward of Log.*NaN"):
            y.log()
    # off again outside the block: NaN passes silently
    with np.errstate(invalid="ignore"):
        assert np.isnan(x.log().data[1])


def test_detect_anomaly_names_the_backward_op():
    x = Tensor(np.array([0.0, 4.0]), requires_grad=True)
    with np.errstate(divide="ignore", invalid="ignore"), detect_anomaly():
        y = (x**0.5 * 0.0).sum()  # forward finite: sqrt(0) = 0
        with pytest.raises(AnomalyError, match="backward of Pow.*NaN"):
            y.backward()  # 0 · ∞ in Pow's backward


def test_detect_anomaly_restores_the_mode_after_an_exception():
    with pytest.raises(AnomalyError):
        with np.errstate(divide="ignore"), detect_anomaly():
            Tensor(np.array([0.0])).log()
    with np.errstate(divide="ignore"):
        assert np.isneginf(Tensor(np.array([0.0])).log().data[0])
