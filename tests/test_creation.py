"""Making tensors and converting them (tinygrad_hlcv/creation.py): PyTorch's dtype rules, copies
versus shared memory, seeded random makers, casts and copies in the graph, and the errors."""

import numpy as np
import pytest

import tinygrad_hlcv as tg
from tinygrad_hlcv import Tensor
from tinygrad_hlcv.errors import ConfigError, DTypeError, ShapeError
from tinygrad_hlcv.testing import assert_grads_match


@pytest.fixture
def float64_default():
    previous = tg.get_default_dtype()
    tg.set_default_dtype(np.float64)
    yield
    tg.set_default_dtype(previous)


# ----- dtypes --------------------------------------------------------------------------------


def test_dtype_names_are_numpy_dtypes():
    assert tg.float32 == np.dtype("float32") and tg.float64 == np.dtype("float64")
    assert tg.int64 == np.dtype("int64") and tg.int32 == np.dtype("int32")
    assert tg.bool == np.dtype(np.bool_)


def test_the_bool_dtype_leaves_pythons_bool_alone():
    assert "bool" not in vars(tg.creation)  # served by the module's __getattr__
    assert tg.creation.bool is tg.bool
    assert tg.ones(2, dtype=tg.bool).dtype == np.bool_
    assert Tensor([1.0], requires_grad=1).requires_grad is True  # the engine's bool() still works


# ----- tensor() and from_numpy() -------------------------------------------------------------


@pytest.mark.parametrize(
    "data, dtype",
    [
        (3, np.int64),
        ([1, 2], np.int64),
        (True, np.bool_),
        ([True, False], np.bool_),
        (2.5, np.float32),
        ([1, 2.5], np.float32),
        ([[1.0], [2.0]], np.float32),
    ],
)
def test_tensor_infers_pytorchs_dtypes(data, dtype):
    t = tg.tensor(data)
    assert t.dtype == dtype
    np.testing.assert_array_equal(t.data, np.asarray(data))


def test_tensor_floats_follow_the_default_dtype(float64_default):
    assert tg.tensor([1.5]).dtype == np.float64 and tg.tensor([1]).dtype == np.int64


def test_tensor_copies_and_keeps_an_arrays_dtype():
    a = np.arange(3, dtype=np.float64)
    t = tg.tensor(a, requires_grad=True)
    a[0] = 9
    assert t.dtype == np.float64 and t.data[0] == 0 and t.requires_grad
    source = Tensor(np.ones(2))
    assert not np.shares_memory(tg.tensor(source).data, source.data)
    assert tg.tensor(np.int32(4)).dtype == np.int32 and tg.tensor(np.int32(4)).shape == ()


def test_tensor_with_dtype_and_from_a_list_of_tensors():
    assert tg.tensor([1, 2], dtype=tg.float64).dtype == np.float64
    assert tg.tensor(np.array([1.5, 2.5]), dtype="float32").dtype == np.float32
    t = tg.tensor([Tensor(1.0), Tensor(2.0)])
    np.testing.assert_array_equal(t.data, [1.0, 2.0])


@pytest.mark.parametrize(
    "data, dtype, match",
    [
        ("abc", None, "text"),
        ([1, None], None, "None"),
        (2**70, None, "64 bits"),
        ([1.5, np.nan], tg.int64, "NaN"),
        ([300], np.uint8, "do not fit"),
        ([1.0], "complex64", "dtype"),
    ],
)
def test_tensor_refuses_what_is_not_numbers(data, dtype, match):
    with pytest.raises(DTypeError, match=match):
        tg.tensor(data, dtype=dtype)


def test_tensor_requires_grad_needs_floats():
    with pytest.raises(DTypeError, match="float"):
        tg.tensor([1, 2], requires_grad=True)


def test_from_numpy_shares_memory():
    a = np.zeros(3, dtype=np.float32)
    t = tg.from_numpy(a)
    a[1] = 5
    assert t.data[1] == 5 and t.dtype == np.float32
    with pytest.raises(DTypeError, match="NumPy array"):
        tg.from_numpy([1.0, 2.0])


# ----- filled --------------------------------------------------------------------------------


@pytest.mark.parametrize("maker, value", [(tg.zeros, 0), (tg.ones, 1)])
def test_zeros_and_ones(maker, value):
    for t in (maker(2, 3), maker((2, 3)), maker([2, 3])):
        assert t.shape == (2, 3) and t.dtype == np.float32 and (t.data == value).all()
    assert maker(()).shape == () and maker(0).shape == (0,)
    t = maker(2, dtype=tg.float64, requires_grad=True)
    assert t.dtype == np.float64 and t.requires_grad and t.is_leaf
    assert maker(2, dtype=tg.int64).dtype == np.int64


def test_empty_has_the_shape_and_dtype():
    t = tg.empty(3, 2, dtype=tg.float64)
    assert t.shape == (3, 2) and t.dtype == np.float64


@pytest.mark.parametrize("size", [(-1,), (2.5,), ("3",), ((2, None),)])
def test_bad_sizes_raise(size):
    with pytest.raises(ShapeError, match="non-negative integers"):
        tg.zeros(*size)


def test_full_infers_its_dtype_from_the_value():
    assert tg.full((2,), 3).dtype == np.int64
    assert tg.full((2,), 3.5).dtype == np.float32
    assert tg.full((2,), True).dtype == np.bool_
    t = tg.full((2, 2), 2, dtype=tg.float64)
    assert t.dtype == np.float64 and (t.data == 2).all()
    assert np.isnan(tg.full(3, float("nan")).data).all()


@pytest.mark.parametrize(
    "value, dtype, error",
    [
        (2.5, tg.int64, DTypeError),
        (float("nan"), tg.int64, DTypeError),
        ("1", None, DTypeError),
        (None, None, DTypeError),
        (300, np.uint8, DTypeError),
    ],
)
def test_full_refuses_values_that_do_not_fit(value, dtype, error):
    with pytest.raises(error):
        tg.full((2,), value, dtype=dtype)


def test_eye():
    np.testing.assert_array_equal(tg.eye(3).data, np.eye(3))
    np.testing.assert_array_equal(tg.eye(2, 3, dtype=tg.int64).data, np.eye(2, 3))
    assert tg.eye(2).dtype == np.float32
    with pytest.raises(ShapeError):
        tg.eye(-1)


@pytest.mark.parametrize(
    "args", [(5,), (2, 7), (1, 2.5, 0.5), (-1.0, 1.0, 0.3), (5, 0, -2), (0, 1, 0.1), (3, 3)]
)
def test_arange_matches_torch(args):
    torch = pytest.importorskip("torch")
    ours, theirs = tg.arange(*args), torch.arange(*args)
    assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
    np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "args, error",
    [
        ((0, 5, -1), ConfigError),
        ((0, 5, 0), ConfigError),
        (("5",), DTypeError),
        ((0, float("inf")), DTypeError),
    ],
)
def test_arange_errors(args, error):
    with pytest.raises(error):
        tg.arange(*args)


def test_linspace_matches_torch():
    torch = pytest.importorskip("torch")
    for args, dtype in [
        ((0, 1, 5), None),
        ((-2, 3, 7), tg.float64),
        ((0, 5, 4), tg.int64),
        ((1, 1, 1), None),
        ((0, 1, 0), None),
    ]:
        ours = tg.linspace(*args, dtype=dtype)
        theirs = torch.linspace(
            *args, dtype=None if dtype is None else getattr(torch, str(np.dtype(dtype)))
        )
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
        np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-6)
    with pytest.raises(ConfigError, match="steps"):
        tg.linspace(0, 1, -1)


# ----- random ------------------------------------------------------------------------------


@pytest.mark.parametrize("maker", [tg.rand, tg.randn, lambda *s, **k: tg.randint(0, 5, s, **k)])
def test_random_makers_are_seeded_by_manual_seed(maker):
    tg.manual_seed(3)
    first = maker(4, 5).data
    tg.manual_seed(3)
    second = maker(4, 5).data
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(maker(4, 5).data, first)


def test_random_makers_ranges_and_dtypes():
    tg.manual_seed(0)
    u = tg.rand(2000)
    assert u.dtype == np.float32 and 0 <= u.data.min() and u.data.max() < 1
    n = tg.randn(3, 4, dtype=tg.float64, requires_grad=True)
    assert n.dtype == np.float64 and n.requires_grad and n.shape == (3, 4)
    r = tg.randint(10, (500,))
    assert r.dtype == np.int64 and r.data.min() >= 0 and r.data.max() <= 9
    r = tg.randint(-3, 3, (2, 500))
    assert r.shape == (2, 500) and set(np.unique(r.data)) == set(range(-3, 3))
    assert tg.randint(0, 2, (3,), dtype=tg.float32).dtype == np.float32


def test_random_makers_take_a_generator():
    a = tg.randn(3, generator=np.random.default_rng(1)).data
    b = tg.randn(3, generator=np.random.default_rng(1)).data
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ConfigError, match="Generator"):
        tg.rand(2, generator=1)


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda: tg.rand(2, dtype=tg.int64), DTypeError),
        (lambda: tg.randn(2, dtype=np.float16), DTypeError),
        (lambda: tg.randint(5, 5, (2,)), ConfigError),
        (lambda: tg.randint(2.5, (2,)), ConfigError),
        (lambda: tg.randint(3, 10), ShapeError),
        (lambda: tg.randint(10, (-1,)), ShapeError),
    ],
)
def test_random_maker_errors(call, error):
    with pytest.raises(error):
        call()


# ----- *_like --------------------------------------------------------------------------------


def test_like_makers_take_shape_and_dtype():
    x = Tensor(np.ones((2, 3), dtype=np.float64))
    for t in (
        tg.zeros_like(x),
        tg.ones_like(x),
        tg.full_like(x, 7),
        tg.rand_like(x),
        tg.randn_like(x),
        tg.empty_like(x),
    ):
        assert t.shape == (2, 3) and t.dtype == np.float64 and not t.requires_grad
    assert (tg.full_like(x, 7).data == 7).all() and (tg.zeros_like(x).data == 0).all()
    assert tg.ones_like(x, dtype=tg.int64).dtype == np.int64
    labels = Tensor(np.array([1, 2]))
    assert tg.zeros_like(labels).dtype == np.int64
    assert tg.rand_like(labels, dtype=tg.float32).dtype == np.float32
    with pytest.raises(DTypeError, match="float"):
        tg.randn_like(labels)
    with pytest.raises(DTypeError, match="Tensor"):
        tg.zeros_like(np.ones(2))


# ----- casts and copies ---------------------------------------------------------------------


def test_cast_methods():
    x = Tensor(np.array([1.5, -2.0, 0.0]))
    assert x.float().dtype == np.float32 and x.double() is x
    np.testing.assert_array_equal(x.long().data, [1, -2, 0])
    assert x.long().dtype == np.int64 and x.int().dtype == np.int32
    np.testing.assert_array_equal(x.bool().data, [True, True, False])
    assert x.to(tg.float32).dtype == np.float32 and x.type(tg.int64).dtype == np.int64
    assert x.type() == "float64" and x.to("cpu") is x and x.to(x) is x
    assert x.to("cpu", tg.float32).dtype == np.float32 and x.to(dtype="float32").dtype == np.float32
    y = x.to(tg.float64, copy=True)
    assert y is not x and not np.shares_memory(y.data, x.data)


def test_float_casts_are_differentiable_and_the_gradient_is_cast_back():
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    y = x.float()
    assert y.requires_grad and y.dtype == np.float32
    (y * y).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad, [2.0, 4.0, 6.0])
    x = Tensor(np.array([0.1, -1.3]), requires_grad=True)
    (x.float().double() * x).sum().backward()
    # d/dx [f32(x) x] = x + f32(x), the cast's derivative being 1; the first term passes
    # through the float32 tensor, so it arrives rounded to float32, as in PyTorch
    np.testing.assert_allclose(x.grad, 2 * x.data.astype(np.float32), rtol=1e-15)


def test_integer_and_bool_casts_cut_the_gradient():
    x = Tensor(np.array([1.5, 2.5]), requires_grad=True)
    for y in (x.long(), x.int(), x.bool(), x.to(tg.int64)):
        assert not y.requires_grad and y.is_leaf


def test_casts_refuse_values_that_do_not_fit():
    with pytest.raises(DTypeError, match="NaN"):
        Tensor(np.array([np.nan])).long()
    with pytest.raises(DTypeError, match="overflows"):
        Tensor(np.array([1e300])).float()
    with pytest.raises(ConfigError, match="CPU"):
        Tensor([1.0]).to("cuda")
    with pytest.raises(DTypeError):
        Tensor([1.0]).to("float16")


def test_clone_is_a_differentiable_copy():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x.clone()
    assert not np.shares_memory(y.data, x.data) and y.requires_grad
    assert tg.clone(x).requires_grad
    assert_grads_match(lambda t: tg.clone(t) * t, [np.array([0.5, -1.5])])


def test_contiguous():
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert x.contiguous() is x
    t = x.T
    c = t.contiguous()
    assert c.data.flags.c_contiguous and c is not t
    np.testing.assert_array_equal(c.data, x.data.T)
    assert_grads_match(lambda a: a.T.contiguous(), [np.arange(6.0).reshape(2, 3)])


def test_tolist():
    assert Tensor(np.array([[1, 2], [3, 4]])).tolist() == [[1, 2], [3, 4]]
    assert tg.tensor(2.5).tolist() == 2.5
    assert isinstance(tg.tensor([1]).tolist()[0], int)


def test_creation_dtypes_match_torch():
    torch = pytest.importorskip("torch")
    pairs = [
        (tg.tensor(3), torch.tensor(3)),
        (tg.tensor([1.0, 2]), torch.tensor([1.0, 2])),
        (tg.tensor(True), torch.tensor(True)),
        (tg.full((2,), 3), torch.full((2,), 3)),
        (tg.zeros(2), torch.zeros(2)),
        (tg.randint(3, (2,)), torch.randint(3, (2,))),
        (tg.eye(2), torch.eye(2)),
        (tg.ones(1).long(), torch.ones(1).long()),
        (tg.ones(1).int(), torch.ones(1).int()),
        (tg.ones(1).double(), torch.ones(1).double()),
    ]
    for ours, theirs in pairs:
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
