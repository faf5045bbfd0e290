"""nn.init: fans for this framework's (in, out) weight layout, the bounds and spreads of each
init (against Linear's default init and PyTorch's formulas), in-place semantics (version,
dtype, no graph), generators, and the argument checks."""

import math

import numpy as np
import pytest

import tinygrad_hlcv as tg
from tinygrad_hlcv import Tensor, nn
from tinygrad_hlcv.errors import ConfigError, DTypeError, ShapeError
from tinygrad_hlcv.nn import init

GAINS = [
    ("linear", None),
    ("conv2d", None),
    ("sigmoid", None),
    ("tanh", None),
    ("relu", None),
    ("leaky_relu", None),
    ("leaky_relu", 0.2),
    ("selu", None),
]


def weight(*shape, dtype=np.float64):
    return Tensor(np.zeros(shape, dtype=dtype), requires_grad=True)


# ----- fans and gains ---------------------------------------------------------------------


def test_fans_of_a_2d_weight_follow_linears_in_out_layout():
    layer = nn.Linear(7, 3)
    assert layer.weight.shape == (7, 3)
    assert init.calculate_fan_in_and_fan_out(layer.weight) == (7, 3)
    assert init.calculate_fan_in_and_fan_out(weight(4, 6, 3, 2)) == (36, 24)  # (out, in, k, k)


def test_fans_equal_pytorchs_for_its_transposed_layout():
    torch = pytest.importorskip("torch")
    for ours, theirs in [((7, 3), (3, 7)), ((5, 5), (5, 5)), ((4, 6, 3, 2), (4, 6, 3, 2))]:
        assert init.calculate_fan_in_and_fan_out(
            weight(*ours)
        ) == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(theirs))


@pytest.mark.parametrize("nonlinearity, param", GAINS)
def test_gains_equal_pytorchs(nonlinearity, param):
    torch = pytest.importorskip("torch")
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, param), rel=1e-15
    )


def test_gains_by_formula():
    assert init.calculate_gain("relu") == math.sqrt(2)
    assert init.calculate_gain("tanh") == 5 / 3
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))


# ----- Linear's default init is kaiming_uniform_ with a = √5 -----------------------------------


def test_kaiming_uniform_with_a_sqrt5_is_linears_default_init():
    layer = nn.Linear(20, 6, generator=np.random.default_rng(3))
    w = weight(20, 6, dtype=np.float32)
    init.kaiming_uniform_(w, a=math.sqrt(5), generator=np.random.default_rng(3))
    np.testing.assert_array_equal(w.data, layer.weight.data)


def test_kaiming_uniform_bound_uses_fan_in_shape0():
    w = init.kaiming_uniform_(weight(400, 9), a=math.sqrt(5), generator=np.random.default_rng(0))
    bound = 1 / math.sqrt(400)
    assert np.abs(w.data).max() <= bound
    assert np.abs(w.data).max() > 0.99 * bound  # 3600 draws reach the bound
    w = init.kaiming_uniform_(
        weight(9, 400), mode="fan_out", nonlinearity="relu", generator=np.random.default_rng(0)
    )
    bound = math.sqrt(2) * math.sqrt(3 / 400)
    assert bound * 0.99 < np.abs(w.data).max() <= bound


# ----- the spread of each random init ----------------------------------------------------------


@pytest.mark.parametrize(
    "fill, std",
    [
        (lambda w, g: init.normal_(w, 0.5, 2.0, generator=g), 2.0),
        (lambda w, g: init.uniform_(w, -3.0, 3.0, generator=g), 3 / math.sqrt(3)),
        (lambda w, g: init.xavier_uniform_(w, gain=2.0, generator=g), 2.0 * math.sqrt(2 / 500)),
        (lambda w, g: init.xavier_normal_(w, generator=g), math.sqrt(2 / 500)),
        (
            lambda w, g: init.kaiming_normal_(w, nonlinearity="relu", generator=g),
            math.sqrt(2 / 200),
        ),
        (
            lambda w, g: init.kaiming_uniform_(w, mode="fan_out", nonlinearity="tanh", generator=g),
            5 / 3 / math.sqrt(300),
        ),
    ],
)
def test_each_init_has_its_standard_deviation(fill, std):
    """200 × 300 draws (fan_in 200, fan_out 300): the sample std is within 2% of the formula."""
    w = fill(weight(200, 300), np.random.default_rng(1))
    assert w.data.std() == pytest.approx(std, rel=0.02)


def test_xavier_uniform_bound_matches_pytorch_on_the_transposed_shape():
    torch = pytest.importorskip("torch")
    ours = init.xavier_uniform_(weight(60, 40), gain=1.5, generator=np.random.default_rng(0))
    theirs = torch.nn.init.xavier_uniform_(torch.empty(40, 60, dtype=torch.float64), gain=1.5)
    bound = 1.5 * math.sqrt(6 / 100)
    assert np.abs(ours.data).max() <= bound and theirs.abs().max().item() <= bound
    assert np.abs(ours.data).max() > 0.98 * bound and theirs.abs().max().item() > 0.98 * bound


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 2, 3), (6, 6)])
def test_orthogonal_gives_orthonormal_rows_or_columns(shape):
    w = init.orthogonal_(weight(*shape), gain=2.0, generator=np.random.default_rng(0))
    flat = w.data.reshape(shape[0], -1) / 2.0
    small = min(flat.shape)
    gram = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-12)


def test_constant_fills():
    assert (init.zeros_(Tensor(np.ones(3))).data == 0).all()
    assert (init.ones_(Tensor(np.zeros((2, 2), np.float32))).data == 1).all()
    assert (init.constant_(Tensor(np.zeros(4, np.int64)), 7).data == 7).all()


# ----- in place, seeded, checked ---------------------------------------------------------------


def test_inits_change_the_tensor_in_place_and_count_a_version():
    w = weight(4, 3, dtype=np.float32)
    data = w.data
    out = init.xavier_normal_(w)
    assert out is w and w.data is data and w.dtype == np.float32
    assert w._version == 1 and w.is_leaf and w.requires_grad and w.grad is None
    init.zeros_(w)
    assert w._version == 2


def test_a_graph_that_saved_the_tensor_refuses_backward_after_an_init():
    w = weight(3, 2)
    loss = (Tensor(np.ones((1, 3))) @ w * w).sum()
    init.ones_(w)
    with pytest.raises(tg.errors.GraphError):
        loss.backward()


def test_the_default_generator_is_the_frameworks_seeded_one():
    tg.manual_seed(5)
    a = init.normal_(weight(3, 3)).data.copy()
    tg.manual_seed(5)
    b = init.normal_(weight(3, 3)).data.copy()
    np.testing.assert_array_equal(a, b)
    c = init.normal_(weight(3, 3), generator=np.random.default_rng(5)).data
    np.testing.assert_array_equal(c, np.random.default_rng(5).normal(0, 1, (3, 3)))


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: init.xavier_uniform_(weight(5)), ShapeError, "at least 2 dims"),
        (lambda: init.kaiming_normal_(weight(5)), ShapeError, "at least 2 dims"),
        (lambda: init.orthogonal_(weight(5)), ShapeError, "at least 2 dims"),
        (lambda: init.kaiming_uniform_(weight(3, 3), mode="fan"), ConfigError, "'fan_in' or"),
        (lambda: init.calculate_gain("softmax"), ConfigError, "unsupported nonlinearity"),
        (lambda: init.calculate_gain("leaky_relu", "x"), ConfigError, "negative slope"),
        (lambda: init.uniform_(weight(2), 1.0, 0.0), ConfigError, "a <= b"),
        (lambda: init.normal_(weight(2), std=-1), ConfigError, "std >= 0"),
        (
            lambda: init.normal_(weight(2), generator=np.random.RandomState(0)),
            ConfigError,
            "numpy.random.Generator",
        ),
        (lambda: init.normal_(np.zeros(3)), DTypeError, "expected a Tensor"),
        (lambda: init.normal_(Tensor(np.zeros(3, np.int64))), DTypeError, "float32 or float64"),
        (lambda: init.constant_(Tensor(np.zeros(3, np.int64)), 0.5), DTypeError, "does not fit"),
        (lambda: init.constant_(weight(2), "1"), ConfigError, "must be a number"),
        (lambda: init.normal_(weight(2, dtype=np.float32), std=1e300), ConfigError, "overflow"),
    ],
)
def test_mistakes_get_the_frameworks_errors(call, error, words):
    with pytest.raises(error) as err:
        call()
    assert words in str(err.value)


def test_a_refused_fill_leaves_the_tensor_unchanged():
    w = Tensor(np.ones(3, np.float32))
    with pytest.raises(ConfigError):
        init.normal_(w, std=1e300)
    assert (w.data == 1).all() and w._version == 0
