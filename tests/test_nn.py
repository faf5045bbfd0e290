"""Tests for tinygrad_hlcv.nn: Module, Linear, ReLU/LeakyReLU, Dropout, the loss and L2."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_hlcv as tg
from tinygrad_hlcv import Tensor, kernels, nn, reference
from tinygrad_hlcv.errors import ConfigError, LabelError, ShapeError
from tinygrad_hlcv.nn import functional as F
from tinygrad_hlcv.testing import arrays, assert_grads_match

KINK_MARGIN = 1e-2  # > 2h of the five-point stencil (h = 1e-4): no input straddles the kink


@pytest.fixture(params=["numba", "numpy"])
def kernel_set(request):
    """Run a test on the Numba kernels and on their NumPy twins, then restore."""
    previous = kernels.active
    kernels.select(request.param)
    yield request.param
    kernels.active = previous


@pytest.fixture
def restore_default_dtype():
    previous = tg.get_default_dtype()
    yield
    tg.set_default_dtype(previous)


def small_net(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Linear(3, 4, dtype=dtype, generator=rng),
        nn.ReLU(),
        nn.Linear(4, 2, dtype=dtype, generator=rng),
    )


# ----------------------------------------------------------------------------- Module


def test_named_parameters_in_a_sequential():
    model = small_net()
    names = [name for name, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias"]
    params = model.parameters()
    assert len(params) == 4
    assert params[0] is model[0].weight and params[1] is model[0].bias
    assert params[2] is model[2].weight and params[3] is model[2].bias
    assert all(p.requires_grad for p in params)


def test_named_parameters_nested_and_without_bias():
    model = nn.Sequential(
        nn.Sequential(nn.Linear(2, 3), nn.ReLU()), nn.Dropout(0.5), nn.Linear(3, 2, bias=False)
    )
    assert [n for n, _ in model.named_parameters()] == ["0.0.weight", "0.0.bias", "2.weight"]


def test_zero_grad_clears_every_gradient():
    model = small_net()
    x = Tensor(np.random.default_rng(1).standard_normal((5, 3)))
    nn.SoftmaxCrossEntropy()(model(x), np.array([0, 1, 1, 0, 1])).backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_train_eval_are_recursive_and_return_self():
    inner = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    model = nn.Sequential(inner, nn.ReLU(), nn.Dropout(0.3))
    modules = [model, inner, inner[0], inner[1], model[1], model[2]]
    assert all(m.training for m in modules)
    assert model.eval() is model
    assert not any(m.training for m in modules)
    assert model.train() is model
    assert all(m.training for m in modules)
    model.train(False)
    assert not any(m.training for m in modules)


def test_state_dict_returns_copies():
    model = small_net()
    state = model.state_dict()
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(state[name], p.data)
        assert not np.shares_memory(state[name], p.data)
    before = model[0].weight.data.copy()
    state["0.weight"][...] = 123.0
    np.testing.assert_array_equal(model[0].weight.data, before)
    model[2].bias.data[...] = -7.0
    assert not np.any(state["2.bias"] == -7.0)


def test_load_state_dict_round_trip_values_and_dtype():
    source = small_net(np.float64, seed=1)
    target = small_net(np.float64, seed=2)
    assert not np.array_equal(source[0].weight.data, target[0].weight.data)
    target.load_state_dict(source.state_dict())
    for (n1, p1), (n2, p2) in zip(source.named_parameters(), target.named_parameters()):
        assert n1 == n2
        np.testing.assert_array_equal(p1.data, p2.data)
        assert not np.shares_memory(p1.data, p2.data)

    # a float64 checkpoint into a float32 model: values cast, the model keeps float32
    target32 = small_net(np.float32, seed=3)
    arrays_before = [p.data for p in target32.parameters()]
    target32.load_state_dict(source.state_dict())
    for p32, p64, arr in zip(target32.parameters(), source.parameters(), arrays_before):
        assert p32.dtype == np.float32
        assert p32.data is arr  # copied in place
        np.testing.assert_array_equal(p32.data, p64.data.astype(np.float32))


def test_load_state_dict_refuses_mismatches_and_changes_nothing():
    model = small_net()
    before = model.state_dict()
    bad = model.state_dict()
    del bad["0.bias"]  # missing
    bad["5.weight"] = np.zeros((2, 2))  # unexpected
    bad["2.weight"] = np.zeros((4, 3))  # wrong shape (model has (4, 2))
    bad["0.weight"] = before["0.weight"] + 1.0  # valid entry: must not be copied either
    with pytest.raises(ShapeError) as info:
        model.load_state_dict(bad)
    message = str(info.value)
    assert "missing 0.bias (4,)" in message
    assert "unexpected 5.weight (2, 2)" in message
    assert "2.weight" in message and "(4, 3)" in message and "(4, 2)" in message
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(p.data, before[name])


def test_repr_is_readable():
    model = nn.Sequential(
        nn.Linear(3, 4, dtype=np.float64),
        nn.ReLU(),
        nn.Dropout(0.25),
        nn.Linear(4, 2, bias=False, dtype=np.float32),
        nn.LeakyReLU(0.1),
    )
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=3, out_features=4, bias=True, dtype=float64)\n"
        "  (1): ReLU()\n"
        "  (2): Dropout(p=0.25)\n"
        "  (3): Linear(in_features=4, out_features=2, bias=False, dtype=float32)\n"
        "  (4): LeakyReLU(negative_slope=0.1)\n"
        ")"
    )


# ----------------------------------------------------------------------------- Linear


def test_linear_shapes_and_default_init_bounds():
    layer = nn.Linear(400, 300, generator=np.random.default_rng(0))
    assert layer.weight.shape == (400, 300) and layer.bias.shape == (300,)
    bound = 1 / math.sqrt(400)
    for values in (layer.weight.data, layer.bias.data):
        assert np.abs(values).max() <= bound
        assert np.abs(values).max() > 0.98 * bound  # the whole range is used
    # uniform on ±bound: std bound/√3 (relative sampling error ≈ 0.2% for 120000 entries)
    assert layer.weight.data.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    assert abs(layer.weight.data.mean()) < 5 * bound / math.sqrt(3) / math.sqrt(400 * 300)


def test_linear_init_std_gives_gaussian_weights_and_zero_bias():
    std = 0.01
    layer = nn.Linear(500, 400, init_std=std, generator=np.random.default_rng(1))
    w = layer.weight.data.astype(np.float64)
    n = w.size
    # sample std has relative standard error 1/√(2n) ≈ 0.16%; allow 5 sigma
    assert abs(w.std() / std - 1) < 5 / math.sqrt(2 * n)
    assert abs(w.mean()) < 5 * std / math.sqrt(n)
    # Gaussian, not uniform: about 4.55% of the entries lie beyond 2 std
    assert np.mean(np.abs(w) > 2 * std) == pytest.approx(0.0455, abs=0.003)
    np.testing.assert_array_equal(layer.bias.data, np.zeros(400))


def test_linear_without_bias():
    layer = nn.Linear(3, 2, bias=False, dtype=np.float64)
    assert layer.bias is None
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    x = np.random.default_rng(0).standard_normal((4, 3))
    np.testing.assert_allclose(layer(Tensor(x)).data, x @ layer.weight.data, rtol=1e-14)


def test_linear_dtype_and_default_dtype(restore_default_dtype):
    assert nn.Linear(3, 2).weight.dtype == np.float32  # the framework default
    layer = nn.Linear(3, 2, dtype=np.float64)
    assert layer.weight.dtype == np.float64 and layer.bias.dtype == np.float64
    tg.set_default_dtype(np.float64)
    assert tg.get_default_dtype() == np.float64
    layer = nn.Linear(3, 2)
    assert layer.weight.dtype == np.float64 and layer.bias.dtype == np.float64
    assert nn.Linear(3, 2, dtype=np.float32).weight.dtype == np.float32
    tg.set_default_dtype(np.float32)
    assert nn.Linear(3, 2).weight.dtype == np.float32


def test_linear_seeded_generator_and_manual_seed_reproducible():
    a = nn.Linear(5, 4, generator=np.random.default_rng(7))
    b = nn.Linear(5, 4, generator=np.random.default_rng(7))
    c = nn.Linear(5, 4, generator=np.random.default_rng(8))
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)
    assert not np.array_equal(a.weight.data, c.weight.data)
    tg.manual_seed(3)
    d = nn.Linear(5, 4)
    tg.manual_seed(3)
    e = nn.Linear(5, 4)
    np.testing.assert_array_equal(d.weight.data, e.weight.data)
    np.testing.assert_array_equal(d.bias.data, e.bias.data)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_forward_is_xw_plus_b(kernel_set, dtype):
    layer = nn.Linear(6, 3, dtype=dtype, generator=np.random.default_rng(2))
    x = np.random.default_rng(3).standard_normal((5, 6)).astype(dtype)
    out = layer(Tensor(x))
    assert out.shape == (5, 3) and out.dtype == dtype
    expected = x.astype(np.float64) @ layer.weight.data.astype(np.float64) + layer.bias.data
    rtol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(out.data, expected, rtol=rtol, atol=rtol)


def test_linear_wrong_width_names_both_shapes():
    layer = nn.Linear(4, 3)
    with pytest.raises(ShapeError) as info:
        layer(Tensor(np.zeros((2, 5), dtype=np.float32)))
    assert "(2, 5)" in str(info.value) and "(4, 3)" in str(info.value)


def test_linear_empty_batch_raises():
    with pytest.raises(ShapeError, match="empty batch"):
        nn.Linear(4, 3)(Tensor(np.zeros((0, 4), dtype=np.float32)))


@given(x=arrays(shape=(3, 4)), w=arrays(shape=(4, 2)), b=arrays(shape=(2,)))
def test_linear_gradients_match_numerical(x, w, b):
    assert_grads_match(lambda xt, wt, bt: F.linear(xt, wt, bt), [x, w, b])


def test_linear_layer_gradients_match_numerical_without_bias():
    rng = np.random.default_rng(4)
    assert_grads_match(
        lambda xt, wt: F.linear(xt, wt), [rng.standard_normal((3, 5)), rng.standard_normal((5, 2))]
    )


# ----------------------------------------------------------------- ReLU and LeakyReLU


def test_relu_forward_and_gradient_at_zero(kernel_set):
    x = Tensor(np.array([-2.0, -0.5, 0.0, 0.5, 3.0]), requires_grad=True)
    out = nn.ReLU()(x)
    np.testing.assert_array_equal(out.data, [0.0, 0.0, 0.0, 0.5, 3.0])
    out.backward(np.array([10.0, 20.0, 30.0, 40.0, 50.0]))
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0, 40.0, 50.0])  # 0 at z = 0


@pytest.mark.parametrize("slope", [0.01, 0.2])
def test_leaky_relu_forward_and_gradient_at_zero(kernel_set, slope):
    x = Tensor(np.array([-2.0, -0.5, 0.0, 0.5, 3.0]), requires_grad=True)
    out = nn.LeakyReLU(slope)(x)
    np.testing.assert_allclose(out.data, [-2.0 * slope, -0.5 * slope, 0.0, 0.5, 3.0], rtol=1e-15)
    out.backward(np.array([10.0, 20.0, 30.0, 40.0, 50.0]))
    np.testing.assert_allclose(
        x.grad, [10 * slope, 20 * slope, 30 * slope, 40.0, 50.0], rtol=1e-15
    )  # slope at z = 0


def test_leaky_relu_default_slope():
    assert nn.LeakyReLU().negative_slope == 0.01
    out = nn.LeakyReLU()(Tensor(np.array([-1.0, 2.0])))
    np.testing.assert_allclose(out.data, [-0.01, 2.0])


@given(arrays(margin=KINK_MARGIN))
def test_relu_gradient_matches_numerical(x):
    assert_grads_match(lambda t: nn.ReLU()(t), [x])


@given(arrays(margin=KINK_MARGIN), st.sampled_from([0.01, 0.1, 0.3]))
def test_leaky_relu_gradient_matches_numerical(x, slope):
    assert_grads_match(lambda t: nn.LeakyReLU(slope)(t), [x])


# ----------------------------------------------------------------------------- Dropout


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_dropout_rejects_bad_p(p):
    with pytest.raises(ConfigError):
        nn.Dropout(p)
    with pytest.raises(ConfigError):
        F.dropout(Tensor(np.ones(3)), p)


def test_dropout_eval_mode_is_identity():
    layer = nn.Dropout(0.5).eval()
    x = Tensor(np.random.default_rng(0).standard_normal((50, 20)))
    out = layer(x)
    assert out is x or np.array_equal(out.data, x.data)
    np.testing.assert_array_equal(np.asarray(out.data), x.data)


def test_dropout_p_zero_is_identity():
    layer = nn.Dropout(0.0)
    assert layer.training
    x = Tensor(np.random.default_rng(0).standard_normal((50, 20)))
    out = layer(x)
    np.testing.assert_array_equal(np.asarray(out.data), x.data)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_training_statistics(kernel_set, p):
    n = 1_000_000
    x = np.random.default_rng(1).uniform(1.0, 2.0, n)  # no zeros in the input
    tg.manual_seed(123)
    layer = nn.Dropout(p)
    out = layer(Tensor(x)).data
    kept = out != 0
    q = 1 - p
    # kept count ~ Binomial(n, q): within 5 standard deviations
    assert abs(kept.sum() - n * q) < 5 * math.sqrt(n * p * q)
    # kept values are scaled by 1/(1 - p), dropped ones are exactly 0
    np.testing.assert_allclose(out[kept], x[kept] / q, rtol=1e-15)
    assert np.all(out[~kept] == 0)
    # mean preserved: E[x m / q] = E[x]; Var = E[x²]/q − E[x]²
    sigma = math.sqrt((np.mean(x * x) / q - np.mean(x) ** 2) / n)
    assert abs(out.mean() - x.mean()) < 5 * sigma
    # last_mask is the zero pattern of the output
    assert layer.last_mask.shape == x.shape and layer.last_mask.dtype == bool
    np.testing.assert_array_equal(layer.last_mask, kept)


def test_dropout_reproducible_with_manual_seed():
    x = Tensor(np.random.default_rng(2).uniform(1, 2, (30, 40)))
    layer = nn.Dropout(0.5)
    tg.manual_seed(5)
    a = layer(x).data.copy()
    mask_a = layer.last_mask.copy()
    tg.manual_seed(5)
    b = layer(x).data.copy()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(mask_a, layer.last_mask)
    c = layer(x).data  # not reseeded: another mask
    assert not np.array_equal(a, c)


def test_dropout_reproducible_with_generator():
    x = Tensor(np.random.default_rng(2).uniform(1, 2, (30, 40)))
    a = nn.Dropout(0.4, generator=np.random.default_rng(9))(x).data
    tg.manual_seed(0)  # the default generator must not matter
    b = nn.Dropout(0.4, generator=np.random.default_rng(9))(x).data
    c = nn.Dropout(0.4, generator=np.random.default_rng(10))(x).data
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("p", [0.25, 0.6])
def test_dropout_gradient_is_mask_over_keep_probability(kernel_set, p):
    rng = np.random.default_rng(3)
    x = Tensor(rng.uniform(1, 2, (20, 30)), requires_grad=True)
    g = rng.standard_normal((20, 30))
    layer = nn.Dropout(p)
    out = layer(x)
    out.backward(g)
    np.testing.assert_allclose(x.grad, g * layer.last_mask / (1 - p), rtol=1e-15)
    assert 0 < layer.last_mask.mean() < 1


@given(arrays(shape=(4, 5)), st.sampled_from([0.25, 0.5]))
def test_dropout_gradient_matches_numerical(x, p):
    layer = nn.Dropout(p)

    def fn(t):
        tg.manual_seed(11)  # the same mask at every evaluation
        return layer(t)

    assert_grads_match(fn, [x])


# ------------------------------------------------------------------ SoftmaxCrossEntropy


@given(
    st.integers(1, 6),
    st.integers(2, 6),
    st.integers(0, 2**31 - 1),
    st.sampled_from([1.0, 10.0, 100.0]),
)
def test_softmax_cross_entropy_equals_reference_and_gradient(n, c, seed, scale):
    rng = np.random.default_rng(seed)
    z = scale * rng.standard_normal((n, c))
    y = rng.integers(0, c, n)
    logits = Tensor(z, requires_grad=True)
    loss = nn.SoftmaxCrossEntropy()(logits, y)
    ref_loss, ref_grad = reference.softmax_cross_entropy_and_delta(z, y)
    assert loss.dtype == np.float64 and loss.shape == ()
    assert loss.item() == pytest.approx(ref_loss, rel=1e-12, abs=1e-12)
    loss.backward()
    # (P - Y) / N, written out independently of both implementations
    P = np.exp(z - z.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    Y = np.eye(c)[y]
    np.testing.assert_allclose(logits.grad, (P - Y) / n, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(logits.grad, ref_grad, rtol=1e-10, atol=1e-15)


def test_softmax_cross_entropy_known_value(kernel_set):
    z = np.array([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0]])
    loss = nn.SoftmaxCrossEntropy()(Tensor(z), np.array([1, 0]))
    expected = (math.log(3) + (math.log(math.exp(2) + 2) - 2)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-14)


def test_softmax_cross_entropy_scaled_backward():
    z = np.random.default_rng(0).standard_normal((3, 4))
    y = np.array([0, 3, 1])
    logits = Tensor(z, requires_grad=True)
    (nn.SoftmaxCrossEntropy()(logits, y) * 3.0).backward()
    _, ref_grad = reference.softmax_cross_entropy_and_delta(z, y)
    np.testing.assert_allclose(logits.grad, 3.0 * ref_grad, rtol=1e-13)


@pytest.mark.parametrize(
    "labels, pattern",
    [
        (np.array([0.0, 1.0, 2.0]), "integers"),
        (np.array([0, 1]), r"shape \(2,\).*expected shape \(3,\)"),
        (np.array([[0, 1, 2]]), r"shape \(1, 3\)"),
        (np.array([0, -1, 2]), r"\[0, 3\].*\[-1, 2\]"),
        (np.array([0, 4, 2]), r"\[0, 3\].*4 classes.*\[0, 4\]"),
    ],
)
def test_softmax_cross_entropy_label_errors(labels, pattern):
    logits = Tensor(np.zeros((3, 4)))
    with pytest.raises(LabelError, match=pattern):
        nn.SoftmaxCrossEntropy()(logits, labels)


def test_softmax_cross_entropy_rejects_1d_logits():
    with pytest.raises(ShapeError, match="2-D"):
        nn.SoftmaxCrossEntropy()(Tensor(np.zeros(4)), np.array([1]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cross_entropy_huge_logits_finite_without_warnings(kernel_set, dtype):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [-1e4, -1e4, -1e4]], dtype=dtype)
    y = np.array([1, 0, 2])
    logits = Tensor(z, requires_grad=True)
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        loss = nn.SoftmaxCrossEntropy()(logits, y)
        loss.backward()
    assert loss.dtype == dtype
    # row 0: -log P = 2e4; row 1: log 2 + 2e4; row 2: log 3
    expected = (2e4 + (math.log(2) + 2e4) + math.log(3)) / 3
    assert np.isfinite(loss.item())
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert np.all(np.isfinite(logits.grad))
    expected_grad = np.array([[1, -1, 0], [-1, 0.5, 0.5], [1 / 3, 1 / 3, -2 / 3]]) / 3
    np.testing.assert_allclose(logits.grad, expected_grad, rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------- l2_penalty


def test_l2_penalty_value_and_gradient_weights_only():
    rng = np.random.default_rng(5)
    model = nn.Sequential(
        nn.Linear(3, 4, dtype=np.float64, generator=rng),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(4, 2, dtype=np.float64, generator=rng),
    )
    lam = 0.37
    W1, b1, W2, b2 = (p.data for p in model.parameters())
    penalty = nn.l2_penalty(model, lam)
    expected = lam * (np.sum(W1**2) + np.sum(W2**2))  # biases not penalized
    assert penalty.item() == pytest.approx(expected, rel=1e-14)
    assert penalty.item() != pytest.approx(expected + lam * (np.sum(b1**2) + np.sum(b2**2)))
    penalty.backward()
    np.testing.assert_allclose(model[0].weight.grad, 2 * lam * W1, rtol=1e-15)
    np.testing.assert_allclose(model[3].weight.grad, 2 * lam * W2, rtol=1e-15)
    assert model[0].bias.grad is None and model[3].bias.grad is None


def test_l2_penalty_gradient_matches_numerical():
    rng = np.random.default_rng(6)
    assert_grads_match(
        lambda a, b: nn.l2_penalty([a, b], 0.3),
        [rng.standard_normal((3, 2)), rng.standard_normal((2, 4))],
    )
