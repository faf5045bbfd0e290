"""Shape ops, indexing, in-place changes and the Python protocols (tinygrad_hlcv/movement.py):
float64 gradients against central differences, the silent-wrong-result cases (transpose(0, 1),
iteration, bool()), the in-place rules (recorded on non-leaves, refused on leaves that require
grad, version counts), and parity with PyTorch on a representative set."""

import numpy as np
import pytest

import tinygrad_hlcv as tg
from tinygrad_hlcv import Tensor, no_grad
from tinygrad_hlcv.errors import ConfigError, DTypeError, GraphError, IndexingError, ShapeError
from tinygrad_hlcv.testing import assert_grads_match

rng = np.random.default_rng(0)


def randn(*shape):
    return rng.standard_normal(shape)


# ----- gradients of the shape ops --------------------------------------------------------

SHAPE_OPS = {
    "reshape_varargs": ((2, 3), lambda t: t.reshape(3, 2)),
    "reshape_tuple": ((2, 3), lambda t: t.reshape((-1,))),
    "reshape_keyword": ((2, 3), lambda t: t.reshape(shape=(1, 6))),
    "reshape_0d": ((), lambda t: tg.reshape(t, (1, 1))),
    "view": ((2, 3), lambda t: t.view(6, 1)),
    "flatten": ((2, 3, 2), lambda t: t.flatten()),
    "flatten_part": ((2, 3, 2), lambda t: tg.flatten(t, 1, -1)),
    "flatten_0d": ((), lambda t: t.flatten()),
    "unflatten": ((2, 6), lambda t: t.unflatten(1, (3, -1))),
    "squeeze": ((1, 3, 1), lambda t: t.squeeze()),
    "squeeze_dim": ((1, 3, 1), lambda t: t.squeeze(-1)),
    "squeeze_tuple": ((1, 3, 1), lambda t: tg.squeeze(t, (0, 1))),
    "unsqueeze": ((2, 3), lambda t: t.unsqueeze(-1)),
    "unsqueeze_0d": ((), lambda t: tg.unsqueeze(t, 0)),
    "permute": ((2, 3, 4), lambda t: t.permute(2, 0, 1)),
    "permute_tuple": ((2, 3, 4), lambda t: tg.permute(t, (1, -1, 0))),
    "transpose": ((2, 3, 4), lambda t: t.transpose(0, 2)),
    "transpose_order": ((2, 3, 4), lambda t: t.transpose(order=(1, 2, 0))),
    "T": ((2, 3, 4), lambda t: t.T),
    "T_1d": ((3,), lambda t: t.T),
    "mT": ((2, 3, 4), lambda t: t.mT),
    "expand": ((3, 1), lambda t: t.expand(2, 3, 4)),
    "expand_keep": ((3, 1), lambda t: t.expand(-1, 5)),
    "expand_0d": ((), lambda t: t.expand(2, 2)),
    "expand_as": ((1, 3), lambda t: t.expand_as(Tensor(np.zeros((4, 3))))),
    "repeat": ((2, 3), lambda t: t.repeat(2, 1, 3)),
    "repeat_0d": ((), lambda t: t.repeat(3)),
    "tile": ((2, 3), lambda t: t.tile((2,))),
    "flip": ((2, 3), lambda t: t.flip(0, 1)),
    "flip_tuple": ((2, 3, 2), lambda t: tg.flip(t, (-1,))),
    "roll": ((2, 3), lambda t: t.roll(1)),
    "roll_dims": ((2, 3), lambda t: t.roll((1, -4), (0, 1))),
    "pad_constant": ((2, 3), lambda t: tg.pad(t, (1, 2), value=0.5)),
    "pad_two_dims": ((2, 3), lambda t: t.pad((0, 1, 2, 0))),
    "pad_crop": ((3, 4), lambda t: tg.pad(t, (-1, 2, 1, -2))),
    "pad_reflect": ((3, 4), lambda t: tg.pad(t, (2, 3, 1, 0), mode="reflect")),
    "pad_replicate": ((2, 3), lambda t: tg.pad(t, (2, 1, 0, 3), mode="replicate")),
    "pad_circular": ((2, 3), lambda t: tg.pad(t, (3, 1), mode="circular")),
    "pad2d": ((1, 2, 3), lambda t: t.pad2d((1, 0, 2, 1))),
    "narrow": ((4, 3), lambda t: t.narrow(0, 1, 2)),
    "narrow_negative_start": ((4, 3), lambda t: tg.narrow(t, -1, -2, 2)),
    "index_select": ((4, 3), lambda t: t.index_select(0, Tensor(np.array([3, 0, 3])))),
    "gather": ((3, 4), lambda t: t.gather(1, Tensor(np.array([[0, 0], [3, 1], [2, 2]])))),
    "gather_smaller": ((3, 4), lambda t: tg.gather(t, 0, np.array([[2, 0, 1]]))),
    "masked_fill": ((2, 3), lambda t: t.masked_fill(Tensor(np.array([True, False, True])), 2.0)),
    "masked_fill_broadcast": (
        (3,),
        lambda t: tg.masked_fill(t, np.array([[True, False, False], [False, False, True]]), -1.0),
    ),
    "getitem_basic": ((4, 5), lambda t: t[1:, ::-2]),
    "getitem_newaxis_ellipsis": ((2, 3, 4), lambda t: t[None, ..., -1]),
    "getitem_steps": ((6,), lambda t: t[-1:0:-2]),
    "getitem_repeated": ((3, 2), lambda t: t[[0, 2, 0, 0]]),
    "getitem_pairs": ((3, 2), lambda t: t[np.array([0, 2, 0]), np.array([1, 1, 1])]),
    "getitem_tensor": ((3, 2), lambda t: t[Tensor(np.array([2, 2])), 0]),
    "getitem_mask": ((3, 2), lambda t: t[np.array([True, False, True])]),
    "getitem_mask_tensor": (
        (2, 3),
        lambda t: t[Tensor(np.array([[True, False, True], [False, False, True]]))],
    ),
    "getitem_mixed": ((3, 4), lambda t: t[1:, [0, -1, 0]]),
    "getitem_0d": ((), lambda t: t[()]),
}


@pytest.mark.parametrize("name", sorted(SHAPE_OPS))
def test_shape_op_grads(name):
    shape, op = SHAPE_OPS[name]
    assert_grads_match(op, [randn(*shape)])


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_stack_grads(dim):
    a, b, c = randn(2, 3), randn(2, 3), randn(2, 3)
    assert_grads_match(lambda x, y, z: tg.cat([x, y, z], dim), [a, b, c])
    assert_grads_match(lambda x, y: tg.concatenate((x, y), axis=dim), [a, b])
    assert_grads_match(lambda x, y: tg.stack([x, y], dim=dim), [a, b])
    assert_grads_match(lambda x, y: tg.cat([x, y[:, :1]], 1), [a, b])  # different sizes


@pytest.mark.parametrize(
    "name, op",
    [
        ("split_size", lambda t: t.split(2, 1)),
        ("split_sizes", lambda t: tg.split(t, [1, 0, 4], 1)),
        ("chunk", lambda t: t.chunk(3, -1)),
        ("unbind", lambda t: t.unbind(1)),
        ("unbind_rows", lambda t: tg.unbind(t)),
    ],
)
def test_splitting_grads(name, op):
    assert_grads_match(op, [randn(2, 5)])


def test_split_chunk_unbind_pieces():
    x = Tensor(np.arange(10.0).reshape(2, 5))
    assert [p.shape for p in x.split(2, 1)] == [(2, 2), (2, 2), (2, 1)]
    assert [p.shape for p in x.chunk(2, 1)] == [(2, 3), (2, 2)]
    assert [p.shape for p in Tensor(np.arange(6.0)).chunk(4)] == [(2,), (2,), (2,)]
    assert [p.data.tolist() for p in x.unbind(0)] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    with pytest.raises(ShapeError, match="adding up to 5"):
        x.split([2, 2], 1)


def test_scatter_add_grads_and_values():
    index = np.array([[0, 1, 0], [2, 0, 0]])
    a, src = randn(3, 4), randn(2, 5)
    assert_grads_match(lambda x, s: x.scatter_add(0, Tensor(index), s), [a, src])
    out = tg.scatter_add(Tensor(np.zeros((3, 3))), 0, index, Tensor(np.ones((2, 3))))
    np.testing.assert_array_equal(out.data, [[1, 1, 2], [0, 1, 0], [1, 0, 0]])


def test_masked_fill_value_tensor_gets_the_gradient():
    x = Tensor(randn(2, 3), requires_grad=True)
    v = Tensor(np.float64(1.5), requires_grad=True)
    mask = Tensor(np.array([[True, False, True], [False, False, True]]))
    (x.masked_fill(mask, v) * 2).sum().backward()
    assert v.grad == 6.0
    np.testing.assert_array_equal(x.grad, np.where(mask.data, 0, 2.0))
    with pytest.raises(DTypeError, match="bool mask"):
        x.masked_fill(np.array([1, 0, 1]), 0.0)


# ----- PyTorch's transpose, and its silent NumPy reading before ---------------------------------


def test_transpose_two_dims_swaps_them():
    """x.transpose(0, 1) used to be read as NumPy's axis order (0, 1): nothing moved."""
    a = np.arange(6.0).reshape(2, 3)
    out = Tensor(a).transpose(0, 1)
    assert out.shape == (3, 2)
    np.testing.assert_array_equal(out.data, a.T)
    np.testing.assert_array_equal(tg.transpose(Tensor(a), 1, 0).data, a.T)
    b = randn(2, 3, 4)
    np.testing.assert_array_equal(Tensor(b).transpose(-1, 0).data, np.swapaxes(b, -1, 0))


@pytest.mark.parametrize(
    "args, kwargs",
    [((), {}), (((1, 0),), {}), ((2, 0, 1), {}), ((0,), {}), ((0, 1), {"order": (1, 0)})],
)
def test_transpose_refuses_a_numpy_axis_order(args, kwargs):
    x = Tensor(randn(2, 3, 4)[..., 0])
    with pytest.raises((ShapeError, ConfigError, TypeError)):
        x.transpose(*args, **kwargs)


def test_permute_and_transpose_order_are_full_permutations():
    b = randn(2, 3, 4)
    np.testing.assert_array_equal(
        Tensor(b).transpose(order=(2, 0, 1)).data, np.transpose(b, (2, 0, 1))
    )
    with pytest.raises(ShapeError, match="permutation"):
        Tensor(b).permute(0, 1)


def test_T_reverses_all_dims_and_mT_swaps_the_last_two():
    b = randn(2, 3, 4)
    assert Tensor(b).T.shape == (4, 3, 2) and Tensor(b).mT.shape == (2, 4, 3)
    with pytest.raises(ShapeError, match="at least 2 dims"):
        _ = Tensor(randn(3)).mT


# ----- shape errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "op, match",
    [
        (lambda x: x.reshape(4, 2), r"\(2, 3\).*\(4, 2\)"),
        (lambda x: x.reshape(-1, -1), "at most one -1"),
        (lambda x: x.reshape(2, 3, shape=(6,)), "expected one"),
        (lambda x: x.reshape(2.0, 3), "integer sizes"),
        (lambda x: x.view(5, -1), "product is 6"),
        (lambda x: x.flatten(1, 0), "start_dim <= end_dim"),
        (lambda x: x.unflatten(1, (2, 2)), "product is 3"),
        (lambda x: x.unsqueeze(3), "does not fit"),
        (lambda x: x.expand(3, 3), "cannot expand"),
        (lambda x: x.expand(3), "cannot expand"),
        (lambda x: x.repeat(2), "at least 2 sizes"),
        (lambda x: x.roll((1, 2)), "one shift"),
        (lambda x: tg.pad(x, (1,)), "even number"),
        (lambda x: tg.pad(x, (3, 0), mode="reflect"), "'reflect'"),
        (lambda x: tg.pad(x, (1, 0), mode="mirror"), "expected one of"),
        (lambda x: tg.pad(x, (1, 0), mode="reflect", value=1.0), "takes no value"),
        (lambda x: tg.pad(x, (-4, 0)), "crop more"),
        (lambda x: tg.cat([x, Tensor(randn(3, 3))], 1), "same sizes"),
        (lambda x: tg.cat([x[0, 0], x[0, 1]]), "0-d"),
        (lambda x: tg.cat(x), "list or tuple"),
        (lambda x: tg.stack([x, x.T]), "all equal"),
        (lambda x: x.narrow(1, 2, 2), "start \\+ length"),
        (lambda x: x.gather(0, np.array([0, 1])), "as many dims"),
        (lambda x: x.gather(0, np.array([[2, 0]])), r"\[0, 1\]"),
        (lambda x: x.index_select(1, np.array([3])), r"\[0, 2\]"),
        (lambda x: x.index_select(1, np.array([0.5])), "integer"),
        (lambda x: x.scatter_add(0, np.array([[0]]), Tensor(np.ones((1, 1), np.float32))), "dtype"),
        (lambda x: x.size(2), "does not fit"),
    ],
)
def test_shape_op_errors(op, match):
    with pytest.raises((ShapeError, ConfigError, DTypeError, IndexingError), match=match):
        op(Tensor(randn(2, 3)))


def test_squeeze_leaves_a_dim_that_is_not_1_as_pytorch():
    assert Tensor(randn(2, 1)).squeeze(0).shape == (2, 1)
    assert Tensor(randn(2, 1)).squeeze((0, 1)).shape == (2,)


# ----- indexing --------------------------------------------------------------------------------


def test_indexing_matches_numpy():
    a = np.arange(24.0).reshape(2, 3, 4)
    x = Tensor(a)
    for index in [
        (1, -1),
        (slice(None, None, -1), None, 0),
        (Ellipsis, slice(1, 3)),
        (np.array([1, 1, 0]),),
        (a > 10,),
        (0, [2, 0], slice(None, None, 2)),
        (slice(None), np.array([[0, 1], [2, 2]]), 3),
    ]:
        np.testing.assert_array_equal(x[index].data, a[index])
    np.testing.assert_array_equal(x[Tensor(a > 10)].data, a[a > 10])


def test_repeated_indices_add_their_gradients():
    x = Tensor(np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), requires_grad=True)
    x[np.array([0, 0, 2]), np.array([1, 1, 0])].sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 2], [0, 0], [1, 0]])


@pytest.mark.parametrize("index", [3, -4, (0, 2), (slice(None), 5), [0, 3], 1.5, (0, 0, 0)])
def test_out_of_range_index_is_an_indexing_error_and_an_index_error(index):
    x = Tensor(randn(3, 2))
    with pytest.raises(IndexingError) as info:
        x[index]
    assert isinstance(info.value, IndexError) and "expected" in str(info.value)


def test_iteration_idioms():
    """for, list, zip and unpacking give the rows (they stop at the end: IndexError)."""
    a = np.arange(6.0).reshape(3, 2)
    x = Tensor(a, requires_grad=True)
    rows = [row for row in x]
    assert len(rows) == 3 and all(r.shape == (2,) for r in rows)
    np.testing.assert_array_equal(np.stack([r.data for r in list(x)]), a)
    pairs = list(zip(x, Tensor(np.array([7, 8, 9]))))
    assert [int(label) for _, label in pairs] == [7, 8, 9]
    first, second, third = x
    np.testing.assert_array_equal(third.data, [4, 5])
    with pytest.raises(ValueError):
        first, second = x
    sum(r * float(i) for i, r in enumerate(x)).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 0], [1, 1], [2, 2]])
    assert list(Tensor(np.zeros((0, 2)))) == []


def test_a_0d_tensor_has_no_length_and_no_rows():
    with pytest.raises(TypeError, match="0-d"):
        len(Tensor(1.0))
    with pytest.raises(TypeError, match="0-d"):
        list(Tensor(1.0))
    with pytest.raises(TypeError):
        a, b = Tensor(1.0)


# ----- Python protocols ------------------------------------------------------------------------


def test_number_conversions_need_one_element():
    assert float(Tensor([[2.5]])) == 2.5 and int(Tensor(np.array([7]))) == 7
    assert int(Tensor(-2.7)) == -2 and isinstance(float(Tensor(np.int64(3))), float)
    assert bool(Tensor(np.array([0.0]))) is False and bool(Tensor(3)) is True
    for convert in (float, int, bool):
        with pytest.raises(ShapeError, match="one element"):
            convert(Tensor([1.0, 2.0]))
        with pytest.raises(ShapeError, match="one element"):
            convert(Tensor(np.zeros(0)))


def test_bool_of_a_vector_is_an_error_not_its_length():
    """bool() fell back on len(): `if Tensor([0.0]):` was True."""
    with pytest.raises(ShapeError, match="any"):
        if Tensor([0.0, 0.0]):
            pass


def test_size_numel_dim():
    x = Tensor(randn(2, 3, 4))
    assert x.size() == (2, 3, 4) == x.shape and isinstance(x.size(), tuple)
    assert x.size(1) == 3 and x.size(-1) == 4 and isinstance(x.size(0), int)
    assert x.numel() == 24 == tg.numel(x) and x.dim() == 3 and len(x) == 2
    assert Tensor(1.0).size() == () and Tensor(1.0).numel() == 1


# ----- t[index] = value ------------------------------------------------------------------------


def test_setitem_gradient_flows_to_the_value_and_the_untouched_entries():
    def assign(t, v):
        y = t * 1.0
        y[1:, [0, 2]] = v
        return y * y

    assert_grads_match(assign, [randn(3, 3), randn(2, 2)])
    assert_grads_match(assign, [randn(3, 3), randn(2)])  # broadcast: summed


def test_setitem_with_repeated_indices_gives_the_gradient_to_the_kept_write():
    x = Tensor(np.zeros(3), requires_grad=True)
    v = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    y = x * 1.0
    y[np.array([0, 0, 2])] = v
    np.testing.assert_array_equal(y.data, [2, 0, 3])
    (y * Tensor(np.array([10.0, 20.0, 30.0]))).sum().backward()
    np.testing.assert_array_equal(v.grad, [0, 10, 30])
    np.testing.assert_array_equal(x.grad, [0, 20, 0])


def test_setitem_into_a_plain_tensor_writes_in_place_and_counts():
    a = np.zeros((2, 3))
    x = tg.from_numpy(a)
    x[0, 1] = 5
    x[1] = Tensor(np.array([1.0, 2.0, 3.0]))
    x[0][2] = 7.0  # a view of x: the write reaches x
    np.testing.assert_array_equal(a, [[0, 5, 7], [1, 2, 3]])
    assert x._version == 3 and x.is_leaf


def test_setitem_a_value_that_requires_grad_makes_the_tensor_a_non_leaf():
    buffer = Tensor(np.zeros(3))
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    buffer[1:] = w * 3
    assert buffer.requires_grad and not buffer.is_leaf
    buffer.sum().backward()
    np.testing.assert_array_equal(w.grad, [3, 3])


def test_setitem_on_a_leaf_that_requires_grad_is_refused():
    w = Tensor(randn(3), requires_grad=True)
    with pytest.raises(GraphError, match="leaf tensor that requires grad"):
        w[0] = 1.0
    with no_grad():
        w[0] = 1.0
    assert w.data[0] == 1.0 and w._version == 1


@pytest.mark.parametrize("index, value", [(5, 1.0), ((0, 0, 0), 1.0), (slice(None), np.ones(4))])
def test_setitem_errors(index, value):
    x = Tensor(np.zeros(3))
    with pytest.raises((IndexingError, ShapeError)):
        x[index] = value


# ----- in-place methods ----------------------------------------------------------------------


def test_in_place_ops_on_a_non_leaf_are_recorded():
    def chain(t, u):
        y = t * 1.0
        y.add_(u, alpha=2.0)
        y.sub_(0.5)
        y.mul_(u)
        y.div_(u * u + 1.0)
        y += t
        y -= u
        y *= 3.0
        y /= 2.0
        y.clamp_(-1.0, 1.0)
        return y

    t, u = np.array([0.3, -0.7, 1.2, 0.1]), np.array([0.5, 1.5, -0.4, 2.0])
    assert_grads_match(chain, [t, u])


def test_fill_zero_copy_on_a_non_leaf():
    def refill(t, v):
        y = t * 2.0
        y[0:1].zero_()  # a non-leaf piece: recorded on that piece only
        z = y * 1.0
        z.fill_(v)
        w = y * 1.0
        w.copy_(v * t)
        return z + w + y

    assert_grads_match(refill, [randn(3), np.float64(0.7)])


def test_in_place_keeps_identity_and_counts_versions():
    x = Tensor(np.ones(3))
    alias = x
    x += 1
    x.mul_(Tensor(np.array([1.0, 2.0, 3.0])))
    assert alias is x and x._version == 2
    np.testing.assert_array_equal(x.data, [2, 4, 6])
    y = x.reshape(3, 1)  # a view: sees the change
    x.zero_()
    np.testing.assert_array_equal(y.data, np.zeros((3, 1)))
    assert y._version == x._version == 3


def test_optimizer_style_update_under_no_grad():
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (w * w).sum().backward()
    data = w.data
    with no_grad():
        w -= 0.1 * w.grad
        w.add_(w.grad, alpha=-0.1)
    assert w.data is data and w.is_leaf and w.requires_grad
    np.testing.assert_allclose(w.data, [0.6, 1.2])
    with pytest.raises(GraphError, match="in place"):
        w += 1


def test_in_place_refusals():
    ints = Tensor(np.array([1, 2, 3]))
    with pytest.raises(DTypeError, match="cannot be stored"):
        ints += 1.5
    ints.copy_(Tensor(np.array([1.9, 2.0, 3.0])))  # copy_ casts, as PyTorch's
    np.testing.assert_array_equal(ints.data, [1, 2, 3])
    with pytest.raises(ShapeError, match="cannot change"):
        Tensor(np.zeros(3)).add_(Tensor(np.zeros((2, 3))))
    with pytest.raises(GraphError, match="read-only"):
        Tensor(np.zeros(1)).expand(3).add_(1.0)


def test_requires_grad_():
    x = Tensor(np.zeros(2))
    assert x.requires_grad_() is x and x.requires_grad
    x.requires_grad_(False)
    assert not x.requires_grad
    with pytest.raises(DTypeError):
        Tensor(np.array([1, 2])).requires_grad_()
    with pytest.raises(GraphError, match="detach"):
        (Tensor(np.ones(2), requires_grad=True) * 2).requires_grad_(False)


def test_in_place_change_of_a_saved_tensor_is_caught_by_backward():
    x = Tensor(randn(3), requires_grad=True)
    y = x * 1.0
    loss = (y * y).sum()  # Mul saves y
    y.mul_(2.0)
    with pytest.raises(GraphError, match="changed in place"):
        loss.backward()


def test_a_tensor_as_its_own_operand():
    """y *= y records y² from y's old value (no cycle through y itself)."""

    def square_twice(x):
        y = x * 1.0
        y *= y
        y += y
        return y

    assert_grads_match(square_twice, [np.array([0.5, -1.5, 2.0])])


def test_in_place_on_a_view_changes_its_base():
    """y[:, 0] += w, y.T[0].zero_(), buf[0].copy_(w): the base gets the new values and
    their graph (PyTorch's semantics), in values and gradients."""

    def views(x, w):
        y = x * 2.0
        y[:, 0] += w[:2]
        y.T[1].zero_()
        y[1].mul_(w)
        flat = y.reshape(6)
        flat[5] = 7.0
        buf = Tensor(np.zeros((2, 3)))
        buf[0].copy_(w * 3.0)
        return y * y + buf

    assert_grads_match(views, [randn(2, 3), randn(3)])
    x = Tensor(np.ones((2, 3)))
    x.T[0].fill_(5.0)  # no graph: written through the view
    np.testing.assert_array_equal(x.data[:, 0], [5, 5])


def test_filling_a_buffer_row_by_row_from_the_previous_row():
    """h[t] = h[t - 1] + w[t]: each row reads the buffer as it was (no cycle)."""

    def fill(w):
        h = Tensor(np.zeros((4, 2)))
        for t in range(1, 4):
            h[t] = h[t - 1] + w[t]
        return h

    assert_grads_match(fill, [randn(4, 2)])


# ----- parity with PyTorch ---------------------------------------------------------------------

PARITY = {
    "transpose": lambda t: t.transpose(0, 2),
    "permute": lambda t: t.permute(1, 2, 0),
    "flatten": lambda t: t.flatten(1),
    "unflatten": lambda t: t.unflatten(2, (2, 2)),
    "expand": lambda t: t[:, :1].expand(2, 2, 3, 4),
    "repeat": lambda t: t.repeat(1, 2, 1, 2),
    "tile": lambda t: t.tile((2, 1)),
    "flip": lambda t: t.flip((0, 2)),
    "roll": lambda t: t.roll((1, -1), (1, 2)),
    "roll_flat": lambda t: t.roll(5),
    "narrow": lambda t: t.narrow(2, 1, 2),
    "split": lambda t: t.split([1, 3], 2)[1],
    "chunk": lambda t: t.chunk(2, 1)[1],
    "unbind": lambda t: t.unbind(1)[2],
    "index_select": lambda t, lib: t.index_select(1, lib.tensor(np.array([2, 0, 2]))),
    "gather": lambda t, lib: t.gather(2, lib.tensor(np.array([[[0, 3]] * 3] * 2))),
    "getitem": lambda t: t[1, 1:, [0, 0, 3]],
    "getitem_ellipsis": lambda t: t[..., None, 1],
    "masked_fill": lambda t, lib: t.masked_fill(
        lib.tensor(np.array([True, False, True, True])), 0.5
    ),
}


@pytest.mark.parametrize("name", sorted(PARITY))
def test_matches_torch(name):
    torch = pytest.importorskip("torch")
    op = PARITY[name]
    a = randn(2, 3, 4)
    x, t = Tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    takes_lib = op.__code__.co_argcount == 2
    out = op(x, tg) if takes_lib else op(x)
    expected = op(t, torch) if takes_lib else op(t)
    assert out.shape == tuple(expected.shape)
    np.testing.assert_array_equal(out.data, expected.detach().numpy())
    weights = rng.uniform(0.5, 1.5, out.shape)
    (out * Tensor(weights)).sum().backward()
    (expected * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize(
    "pad, mode",
    [
        ((1, 2), "constant"),
        ((2, 1, 1, 0), "reflect"),
        ((1, 3, 2, 0), "replicate"),
        ((2, 1), "circular"),
        ((-1, 2, 0, -1), "constant"),
    ],
)
def test_pad_matches_torch(pad, mode):
    torch = pytest.importorskip("torch")
    a = randn(2, 3, 4)
    x, t = Tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    out, expected = tg.pad(x, pad, mode=mode), torch.nn.functional.pad(t, pad, mode=mode)
    np.testing.assert_array_equal(out.data, expected.detach().numpy())
    weights = rng.uniform(0.5, 1.5, out.shape)
    (out * Tensor(weights)).sum().backward()
    (expected * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-12)


def test_augmented_assignment_through_a_view_of_a_view_is_refused_not_wrong():
    """`y[0, :, None][[1, 3]] -= 1` changes the view `y[0, :, None]` after an op used it; the
    engine's edges are tensors, so backward would follow the view's new history: refused."""
    x = Tensor(randn(3, 4), requires_grad=True)
    y = x * 2
    y[0, :, None][[1, 3]] -= 1.0
    with pytest.raises(GraphError, match="changed in place after GetItem used it"):
        (y * y).sum().backward()


def test_setitem_and_in_place_match_torch():
    torch = pytest.importorskip("torch")
    a, v = randn(3, 4), randn(4)

    def run(lib, make):
        x, w = make(a), make(v)
        y = x * 2
        y[1] = w
        y[:, 0] += w[:3]
        y[0, [1, 3]] -= 1.0
        y.mul_(2.0)
        (y * y).sum().backward()
        return y, x.grad, w.grad

    ours = run(tg, lambda arr: Tensor(arr, requires_grad=True))
    theirs = run(torch, lambda arr: torch.tensor(arr, requires_grad=True))
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(
            np.asarray(o.data if isinstance(o, Tensor) else o), t.detach().numpy(), rtol=1e-12
        )
