"""nn.Embedding and embedding(): the lookup, the gradient summed over repeated indices and
kept from the padding row, against central differences and PyTorch, and the index checks."""

import numpy as np
import pytest

import tinygrad_hlcv as tg
from tinygrad_hlcv import Tensor
from tinygrad_hlcv.errors import ConfigError, DTypeError, IndexingError, ShapeError
from tinygrad_hlcv.nn.embedding import Embedding, embedding
from tinygrad_hlcv.testing import assert_grads_match

rng = np.random.default_rng(0)
INDICES = np.array([[0, 3, 3], [5, 0, 3]])  # 3 three times, 0 twice, 1, 2 and 4 never


def test_lookup_picks_rows():
    layer = Embedding(6, 4, dtype=np.float64)
    out = layer(INDICES)
    assert out.shape == (2, 3, 4) and out.dtype == np.float64
    np.testing.assert_array_equal(out.data, layer.weight.data[INDICES])


def test_gradient_sums_over_repeated_indices():
    layer = Embedding(6, 4, dtype=np.float64)
    g = rng.standard_normal((2, 3, 4))
    layer(INDICES).backward(g)
    expected = np.zeros((6, 4))
    for k, row in np.ndenumerate(INDICES):
        expected[row] += g[k]
    np.testing.assert_allclose(layer.weight.grad, expected, rtol=1e-15)
    np.testing.assert_allclose(layer.weight.grad[3], g[0, 1] + g[0, 2] + g[1, 2], rtol=1e-15)
    assert (layer.weight.grad[[1, 2, 4]] == 0).all()


def test_gradient_matches_numerical():
    assert_grads_match(
        lambda w: embedding(INDICES, w), [rng.standard_normal((6, 4))], rtol=1e-7, atol=1e-10
    )


@pytest.mark.parametrize("padding_idx", [3, -3])
def test_with_padding_the_other_rows_match_numerical(padding_idx):
    """The padding row is used in the forward but gets no gradient (PyTorch's semantics), so
    only the other rows are compared with central differences."""
    w = Tensor(rng.standard_normal((6, 4)), requires_grad=True)
    g = rng.standard_normal((2, 3, 4))
    embedding(INDICES, w, padding_idx).backward(g)
    with tg.no_grad():
        numeric = tg.numerical_grad(
            lambda: (embedding(INDICES, w, padding_idx).data * g).sum(), w.data
        )
    rows = [0, 1, 2, 4, 5]
    np.testing.assert_allclose(w.grad[rows], numeric[rows], rtol=1e-7, atol=1e-10)
    assert (w.grad[3] == 0).all() and (numeric[3] != 0).all()


def test_padding_row_starts_at_zero_and_gets_no_gradient():
    layer = Embedding(6, 4, padding_idx=3, dtype=np.float64)
    assert (layer.weight.data[3] == 0).all() and (layer.weight.data[0] != 0).all()
    layer(INDICES).sum().backward()
    assert (layer.weight.grad[3] == 0).all() and (layer.weight.grad[0] == 2).all()
    assert Embedding(6, 4, padding_idx=-1).padding_idx == 5


def test_scalar_and_empty_indices():
    layer = Embedding(6, 4)
    assert layer(np.int64(2)).shape == (4,)
    assert layer(np.zeros((3, 0), np.int64)).shape == (3, 0, 4)
    assert layer(Tensor(np.array([1, 2]))).shape == (2, 4)


def test_the_lookup_keeps_its_own_copy_of_the_indices():
    layer = Embedding(6, 4, dtype=np.float64)
    idx = np.array([0, 1])
    out = layer(idx)
    idx[:] = 5
    out.sum().backward()
    assert (layer.weight.grad[[0, 1]] == 1).all() and (layer.weight.grad[5] == 0).all()


def test_init_is_standard_normal_from_the_seeded_generator():
    tg.manual_seed(3)
    a = Embedding(50, 40).weight.data
    tg.manual_seed(3)
    b = Embedding(50, 40).weight.data
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32
    assert abs(a.std() - 1) < 0.05 and abs(a.mean()) < 0.05
    c = Embedding(5, 2, generator=np.random.default_rng(1), dtype=np.float64).weight.data
    np.testing.assert_array_equal(c, np.random.default_rng(1).standard_normal((5, 2)))


def test_from_pretrained_is_frozen_unless_asked():
    table = rng.standard_normal((4, 3))
    layer = Embedding.from_pretrained(table)
    assert not layer.weight.requires_grad and layer.parameters() == [layer.weight]
    np.testing.assert_array_equal(layer(np.array([2])).data[0], table[2])
    assert Embedding.from_pretrained(Tensor(table), freeze=False).weight.requires_grad


def test_repr():
    assert repr(Embedding(10, 3)) == "Embedding(10, 3)"
    assert repr(Embedding(10, 3, padding_idx=0)) == "Embedding(10, 3, padding_idx=0)"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("padding_idx", [None, 0])
def test_matches_pytorch(dtype, padding_idx):
    torch = pytest.importorskip("torch")
    table = rng.standard_normal((6, 4)).astype(dtype)
    g = rng.standard_normal((2, 3, 4)).astype(dtype)
    ours = Embedding.from_pretrained(table, freeze=False, padding_idx=padding_idx)
    theirs = torch.nn.Embedding.from_pretrained(
        torch.from_numpy(table.copy()), freeze=False, padding_idx=padding_idx
    )
    out_o, out_t = ours(INDICES), theirs(torch.from_numpy(INDICES))
    out_o.backward(g.copy())
    out_t.backward(torch.from_numpy(g))
    np.testing.assert_array_equal(out_o.data, out_t.detach().numpy())
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-6)
    assert ours.weight.grad.dtype == dtype


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: Embedding(6, 4)(np.array([0, 6])), IndexingError, "[0, 5] for 6 embeddings"),
        (lambda: Embedding(6, 4)(np.array([-1, 2])), IndexingError, "got values in [-1, 2]"),
        (lambda: Embedding(6, 4)(np.array([0.0, 1.0])), DTypeError, "integers in [0, 5]"),
        (lambda: Embedding(6, 4)(np.array([True])), DTypeError, "dtype bool"),
        (lambda: Embedding(6, 4)([[0, 1], [2]]), DTypeError, "array of integers"),
        (lambda: Embedding(0, 4), ConfigError, "num_embeddings"),
        (lambda: Embedding(6, 2.5), ConfigError, "embedding_dim"),
        (lambda: Embedding(6, 4, padding_idx=6), ConfigError, "[-6, 5]"),
        (lambda: Embedding(6, 4, generator=np.random.RandomState(0)), ConfigError, "Generator"),
        (lambda: embedding(np.array([0]), Tensor(np.zeros(4))), ShapeError, "2-D"),
        (
            lambda: embedding(np.array([0]), Tensor(np.zeros((2, 2), np.int64))),
            DTypeError,
            "float32 or float64",
        ),
        (lambda: Embedding.from_pretrained(np.zeros(3)), ShapeError, "2-D"),
    ],
)
def test_mistakes_get_the_frameworks_errors(call, error, words):
    with pytest.raises(error) as err:
        call()
    assert words in str(err.value)


def test_an_index_error_is_also_pythons_index_error():
    with pytest.raises(IndexError):
        Embedding(3, 2)(np.array([3]))
