"""The fused weight-sized passes: kernels.scaled_add and kernels.sgd_update against their
twins, the engine's in-place gradient sums (Function.fresh_grads, tensor.ScaledGrad), and
optim.SGD on the kernel against the plain NumPy formula, bit for bit."""

import numpy as np
import pytest

from tinygrad_hlcv import Tensor, detect_anomaly, kernels, nn, optim
from tinygrad_hlcv.engine import ScaledGrad

DTYPES = [np.float32, np.float64]


def _arrays(n, size, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(size).astype(dtype) for _ in range(n)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [1, 7, 3072 * 10])
def test_scaled_add_equals_twin(size, dtype):
    acc, x = _arrays(2, size, dtype)
    factor = np.dtype(dtype).type(0.37)
    fast, twin = acc.copy(), acc.copy()
    kernels.numba_kernels.scaled_add(fast, factor, x)
    kernels.numpy_kernels.scaled_add(twin, factor, x)
    np.testing.assert_array_equal(fast, twin)
    np.testing.assert_array_equal(fast, acc + factor * x)


@pytest.mark.parametrize("first", [True, False])
@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True)])
@pytest.mark.parametrize("weight_decay", [0.0, 5e-4])
@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_update_equals_twin(dtype, weight_decay, momentum, nesterov, first):
    theta, grad, velocity = _arrays(3, 1000, dtype, seed=1)
    if not momentum:
        velocity = np.empty(0, dtype)
    s = np.dtype(dtype).type
    args = (s(0.05), s(momentum), s(weight_decay), nesterov, first)
    results = []
    for kernel in (kernels.numba_kernels.sgd_update, kernels.numpy_kernels.sgd_update):
        t, v = theta.copy(), velocity.copy()
        kernel(t, grad, v, *args)
        results.append((t, v))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


def _old_sgd(theta, grad, state, lr, momentum, nesterov, weight_decay):
    """optim.SGD's update before the kernel, kept here as the reference."""
    g = grad + weight_decay * theta if weight_decay else grad
    if momentum:
        v = state.get("momentum_buffer")
        if v is None:
            v = state["momentum_buffer"] = np.array(g, copy=True)
        else:
            v *= momentum
            v += g
        g = g + momentum * v if nesterov else v
    theta -= theta.dtype.type(lr) * g


@pytest.mark.parametrize("contiguous", [True, False])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"momentum": 0.9},
        {"momentum": 0.9, "nesterov": True},
        {"momentum": 0.5, "weight_decay": 1e-2},
    ],
)
@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_optimizer_matches_the_numpy_formula_bit_for_bit(dtype, options, contiguous):
    rng = np.random.default_rng(3)
    data = rng.standard_normal((6, 5)).astype(dtype)
    p = Tensor(data.copy() if contiguous else data.copy().T, requires_grad=True)
    expected, state = p.data.copy(), {}
    opt = optim.SGD([p], lr=0.1, **options)
    for _ in range(4):
        grad = rng.standard_normal(p.shape).astype(dtype)
        p.grad = grad if contiguous else np.asfortranarray(grad)
        opt.step()
        _old_sgd(
            expected,
            grad,
            state,
            0.1,
            options.get("momentum", 0.0),
            options.get("nesterov", False),
            options.get("weight_decay", 0.0),
        )
        np.testing.assert_array_equal(p.data, expected)
    if options.get("momentum"):
        np.testing.assert_array_equal(opt.state[p]["momentum_buffer"], state["momentum_buffer"])


def _net(dtype, seed=0):
    gen = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Linear(12, 8, dtype=dtype, generator=gen),
        nn.ReLU(),
        nn.Linear(8, 3, dtype=dtype, generator=gen),
    )


@pytest.mark.parametrize("kernel_set", ["numba", "numpy"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_l2_gradient_joins_the_linear_gradient_exactly(dtype, kernel_set):
    """W.grad = Aᵀδ + 2λW, the same bits as adding a materialised 2λW."""
    previous = "numpy" if kernels.active is kernels.numpy_kernels else "numba"
    kernels.select(kernel_set)
    try:
        model = _net(dtype)
        rng = np.random.default_rng(1)
        x = Tensor(rng.standard_normal((5, 12)).astype(dtype))
        y = rng.integers(0, 3, 5)
        logits = model(x)
        loss = nn.SoftmaxCrossEntropy()(logits, y) + nn.l2_penalty(model, 0.25)
        loss.backward()
        # the same graph without the penalty gives Aᵀδ alone
        plain = _net(dtype)
        nn.SoftmaxCrossEntropy()(plain(x), y).backward()
    finally:
        kernels.select(previous)
    for layer, ref in zip(nn.linear_layers(model), nn.linear_layers(plain)):
        factor = np.asarray(2 * 0.25 * np.ones((), dtype))[()]
        np.testing.assert_array_equal(
            layer.weight.grad, ref.weight.grad + layer.weight.data * factor
        )
        np.testing.assert_array_equal(layer.bias.grad, ref.bias.grad)


def test_weight_only_in_the_penalty_gets_2_lambda_w():
    w = Tensor(np.arange(6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    nn.l2_penalty([w], 0.5).backward()
    np.testing.assert_array_equal(w.grad, w.data * np.float32(1.0))
    assert w.grad is not w.data and not np.shares_memory(w.grad, w.data)


def test_penalty_under_detect_anomaly_gives_the_same_gradient():
    grads = []
    for anomaly in (False, True):
        model = _net(np.float64)
        x = Tensor(np.random.default_rng(2).standard_normal((4, 12)))
        loss = nn.SoftmaxCrossEntropy()(model(x), [0, 1, 2, 0]) + nn.l2_penalty(model, 0.1)
        if anomaly:
            with detect_anomaly():
                loss.backward()
        else:
            loss.backward()
        grads.append([p.grad for p in model.parameters()])
    for a, b in zip(*grads):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("a_also_to_a_linear", [False, True])
def test_in_place_sums_never_write_into_arrays_others_hold(a_also_to_a_linear):
    """`a + h` hands one gradient array g to both a and h. h's sum starts from g and then
    meets Linear's fresh dh: it must allocate the sum, not add dh into g, which a's
    gradient also is (a.grad would be g + dh). With a also fed to a Linear, a's sum
    meets a fresh da after g as well: it must not add da into the g h's sum holds."""
    rng = np.random.default_rng(4)
    x, w, w2, w3 = (
        Tensor(rng.standard_normal(s), requires_grad=True) for s in ((3, 4), (4, 4), (4, 4), (4, 4))
    )
    a = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    h = nn.functional.linear(x, w)
    out = (a + h) + nn.functional.linear(h, w2)
    if a_also_to_a_linear:
        out = out + nn.functional.linear(a, w3)
    upstream = rng.standard_normal(out.shape)
    g = upstream.copy()
    out.backward(upstream)
    np.testing.assert_array_equal(upstream, g)
    np.testing.assert_allclose(a.grad, g + g @ w3.data.T if a_also_to_a_linear else g, rtol=1e-12)
    dh = g + g @ w2.data.T
    np.testing.assert_allclose(w2.grad, h.data.T @ g, rtol=1e-12)
    np.testing.assert_allclose(w.grad, x.data.T @ dh, rtol=1e-12)
    np.testing.assert_allclose(x.grad, dh @ w.data.T, rtol=1e-12)


def test_in_place_sums_of_a_weight_used_twice():
    """A weight used by two Linears sums two fresh gradients in place; the caller's
    upstream gradient stays untouched."""
    rng = np.random.default_rng(4)
    w = Tensor(rng.standard_normal((4, 4)), requires_grad=True)
    x = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    h = nn.functional.linear(x, w)
    out = nn.functional.linear(h, w) + h  # w twice; h to two consumers
    upstream = rng.standard_normal(out.shape)
    g = upstream.copy()
    out.backward(upstream)
    np.testing.assert_array_equal(upstream, g)
    dh = g @ w.data.T + g  # out = x W W + x W
    np.testing.assert_allclose(w.grad, (x.data @ w.data).T @ g + x.data.T @ dh, rtol=1e-12)
    np.testing.assert_allclose(x.grad, dh @ w.data.T, rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_penalty_folds_into_a_gradient_the_engine_does_not_own(dtype):
    """MatMul is not fresh_grads, so W's sum does not own Xᵀδ: the penalty's 2λW must be
    added into a new array, not dropped and not added into MatMul's result in place."""
    rng = np.random.default_rng(5)
    x = Tensor(rng.standard_normal((3, 4)).astype(dtype))
    w = Tensor(rng.standard_normal((4, 2)).astype(dtype), requires_grad=True)
    lam = 0.3
    ((x @ w).sum() + nn.l2_penalty([w], lam)).backward()
    expected = x.data.astype(np.float64).T @ np.ones((3, 2)) + 2 * lam * w.data
    np.testing.assert_allclose(w.grad, expected, rtol=1e-6 if dtype == np.float32 else 1e-12)
    assert w.grad.dtype == dtype and not np.shares_memory(w.grad, w.data)


def test_scaled_grad_materialize():
    a = np.arange(3, dtype=np.float32)
    np.testing.assert_array_equal(ScaledGrad(np.float32(2), a).materialize(), 2 * a)
