"""Tests for tinygrad_hlcv.optim: each update rule against the formulas of optim.py's
docstring (PyTorch's conventions) written out by hand, and the LR schedules' closed forms."""
import copy
import math

import numpy as np
import pytest

from tinygrad_hlcv import Tensor, optim
from tinygrad_hlcv.errors import ConfigError

GRADS = [np.array([[0.5, -1.0], [2.0, 0.25]]),
         np.array([[-0.3, 0.7], [1.5, -2.0]]),
         np.array([[1.0, 0.1], [-0.6, 0.4]])]
THETA0 = np.array([[1.0, -2.0], [0.5, 3.0]])


def run(opt_factory, grads=GRADS, theta0=THETA0):
    """Apply `len(grads)` steps with the given gradients; return θ after each step."""
    p = Tensor(theta0.copy(), requires_grad=True)
    opt = opt_factory([p])
    history = []
    for g in grads:
        p.grad = g.copy()
        opt.step()
        history.append(p.data.copy())
    return history


def sgd_by_hand(lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    theta, v, out = THETA0.copy(), None, []
    for grad in GRADS:
        g = grad + weight_decay * theta
        if momentum:
            v = g.copy() if v is None else momentum * v + g   # v = g on the first step
            g = g + momentum * v if nesterov else v
        theta = theta - lr * g
        out.append(theta)
    return out


def adam_by_hand(lr, b1, b2, eps, weight_decay=0.0):
    theta, m, s, out = THETA0.copy(), np.zeros_like(THETA0), np.zeros_like(THETA0), []
    for t, grad in enumerate(GRADS, start=1):
        g = grad + weight_decay * theta
        m = b1 * m + (1 - b1) * g
        s = b2 * s + (1 - b2) * g ** 2
        m_hat = m / (1 - b1 ** t)
        s_hat = s / (1 - b2 ** t)
        theta = theta - lr * m_hat / (np.sqrt(s_hat) + eps)
        out.append(theta)
    return out


# --------------------------------------------------------------------------------- SGD

def test_sgd_plain_by_hand():
    got = run(lambda ps: optim.SGD(ps, lr=0.1))
    # θ1 = θ0 − 0.1 g1, θ2 = θ1 − 0.1 g2, θ3 = θ2 − 0.1 g3, written out
    expected = [THETA0 - 0.1 * GRADS[0],
                THETA0 - 0.1 * (GRADS[0] + GRADS[1]),
                THETA0 - 0.1 * (GRADS[0] + GRADS[1] + GRADS[2])]
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-15)


def test_sgd_momentum_by_hand():
    mu, lr = 0.9, 0.1
    got = run(lambda ps: optim.SGD(ps, lr=lr, momentum=mu))
    g1, g2, g3 = GRADS
    v1 = g1
    v2 = mu * v1 + g2
    v3 = mu * v2 + g3
    expected = [THETA0 - lr * v1, THETA0 - lr * (v1 + v2), THETA0 - lr * (v1 + v2 + v3)]
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-15)
    for a, b in zip(got, sgd_by_hand(lr, momentum=mu)):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-15)


def test_sgd_momentum_equals_course_form_with_constant_lr():
    """v ← μ v − lr·g; θ ← θ + v (the course's form), starting from v = 0."""
    mu, lr = 0.8, 0.05
    got = run(lambda ps: optim.SGD(ps, lr=lr, momentum=mu))
    theta, v = THETA0.copy(), np.zeros_like(THETA0)
    for grad, a in zip(GRADS, got):
        v = mu * v - lr * grad
        theta = theta + v
        np.testing.assert_allclose(a, theta, rtol=1e-13, atol=1e-15)


def test_sgd_nesterov_by_hand():
    mu, lr = 0.9, 0.1
    got = run(lambda ps: optim.SGD(ps, lr=lr, momentum=mu, nesterov=True))
    g1, g2, g3 = GRADS
    v1 = g1
    v2 = mu * v1 + g2
    v3 = mu * v2 + g3
    t1 = THETA0 - lr * (g1 + mu * v1)
    t2 = t1 - lr * (g2 + mu * v2)
    t3 = t2 - lr * (g3 + mu * v3)
    for a, b in zip(got, [t1, t2, t3]):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-15)
    for a, b in zip(got, sgd_by_hand(lr, momentum=mu, nesterov=True)):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd_weight_decay_by_hand(momentum, nesterov):
    wd, lr = 0.01, 0.1
    got = run(lambda ps: optim.SGD(ps, lr=lr, momentum=momentum, nesterov=nesterov,
                                   weight_decay=wd))
    expected = sgd_by_hand(lr, momentum, nesterov, wd)
    # the first step written out: g = ∇ + wd θ0, θ1 = θ0 − lr g (v = g when momentum)
    g = GRADS[0] + wd * THETA0
    first = THETA0 - lr * (g + momentum * g if nesterov else g)
    np.testing.assert_allclose(got[0], first, rtol=1e-14, atol=1e-15)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-15)


def test_sgd_float32_parameters_stay_float32():
    got = run(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
              grads=[g.astype(np.float32) for g in GRADS], theta0=THETA0.astype(np.float32))
    assert all(a.dtype == np.float32 for a in got)
    for a, b in zip(got, sgd_by_hand(0.1, momentum=0.9)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_sgd_does_not_modify_the_gradient():
    p = Tensor(THETA0.copy(), requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.1)
    for _ in range(3):
        p.grad = GRADS[0].copy()
        opt.step()
        np.testing.assert_array_equal(p.grad, GRADS[0])


# -------------------------------------------------------------------------------- Adam

def test_adam_by_hand():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    got = run(lambda ps: optim.Adam(ps, lr=lr))          # default betas and eps
    # step 1 written out: m̂ = g, ŝ = g², so θ1 = θ0 − lr g / (|g| + eps)
    g = GRADS[0]
    np.testing.assert_allclose(got[0], THETA0 - lr * g / (np.abs(g) + eps), rtol=1e-13)
    for a, b in zip(got, adam_by_hand(lr, b1, b2, eps)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


def test_adam_custom_betas_and_weight_decay_by_hand():
    lr, b1, b2, eps, wd = 0.05, 0.8, 0.99, 1e-6, 0.1
    got = run(lambda ps: optim.Adam(ps, lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd))
    for a, b in zip(got, adam_by_hand(lr, b1, b2, eps, wd)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
    without = adam_by_hand(lr, b1, b2, eps)
    assert not np.allclose(got[-1], without[-1], rtol=1e-6)   # the decay changes the result


# ----------------------------------------------------------------- shared behaviour

@pytest.mark.parametrize("factory", [
    lambda ps: optim.SGD(ps, lr=0.1),
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1),
    lambda ps: optim.Adam(ps, lr=0.1, weight_decay=0.1),
])
def test_parameters_without_grad_are_skipped(factory):
    a = Tensor(THETA0.copy(), requires_grad=True)
    b = Tensor(THETA0.copy(), requires_grad=True)
    opt = factory([a, b])
    a.grad = GRADS[0].copy()
    opt.step()
    np.testing.assert_array_equal(b.data, THETA0)          # untouched, even by weight decay
    assert not np.allclose(a.data, THETA0)
    assert opt.state[1] == {}


def test_zero_grad_clears_gradients():
    a = Tensor(THETA0.copy(), requires_grad=True)
    opt = optim.SGD([a], lr=0.1)
    a.grad = GRADS[0].copy()
    opt.zero_grad()
    assert a.grad is None


@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.0),
    lambda ps: optim.SGD(ps, lr=-0.1),
    lambda ps: optim.SGD(ps, lr=0.1, momentum=-0.1),
    lambda ps: optim.SGD(ps, lr=0.1, momentum=1.0),
    lambda ps: optim.SGD(ps, lr=0.1, nesterov=True),          # Nesterov needs momentum
    lambda ps: optim.SGD(ps, lr=0.1, weight_decay=-1.0),
    lambda ps: optim.Adam(ps, lr=0.0),
    lambda ps: optim.Adam(ps, lr=-1e-3),
    lambda ps: optim.Adam(ps, betas=(1.0, 0.999)),
    lambda ps: optim.Adam(ps, betas=(0.9, 1.0)),
    lambda ps: optim.Adam(ps, betas=(-0.1, 0.999)),
    lambda ps: optim.Adam(ps, eps=0.0),
    lambda ps: optim.Adam(ps, weight_decay=-0.1),
])
def test_bad_hyperparameters_raise_config_error(make):
    with pytest.raises(ConfigError):
        make([Tensor(np.zeros(2), requires_grad=True)])


def test_bad_parameter_lists_raise_config_error():
    with pytest.raises(ConfigError):
        optim.SGD([], lr=0.1)
    with pytest.raises(ConfigError):
        optim.SGD([Tensor(np.zeros(2))], lr=0.1)                # no requires_grad


@pytest.mark.parametrize("factory", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda ps: optim.Adam(ps, lr=0.05, weight_decay=0.01),
])
def test_optimizer_state_dict_round_trip_continues_identically(factory):
    grads = GRADS + [GRADS[0] * 0.5, GRADS[1] * -2.0]
    a = Tensor(THETA0.copy(), requires_grad=True)
    opt_a = factory([a])
    for g in grads[:2]:
        a.grad = g.copy()
        opt_a.step()
    state = opt_a.state_dict()
    saved = copy.deepcopy(state)

    b = Tensor(a.data.copy(), requires_grad=True)
    opt_b = factory([b])
    opt_b.load_state_dict(state)
    c = Tensor(a.data.copy(), requires_grad=True)           # a second optimizer from the
    opt_c = factory([c])                                    # same checkpoint
    opt_c.load_state_dict(state)
    for g in grads[2:]:
        for p, opt in ((a, opt_a), (b, opt_b), (c, opt_c)):
            p.grad = g.copy()
            opt.step()
        np.testing.assert_array_equal(b.data, a.data)
        np.testing.assert_array_equal(c.data, a.data)
    # the checkpoint itself is not changed by the optimizers that loaded it
    assert state["lr"] == saved["lr"]
    for s, s0 in zip(state["state"], saved["state"]):
        assert s.keys() == s0.keys()
        for k in s:
            np.testing.assert_array_equal(s[k], s0[k])


def test_optimizer_state_dict_is_a_copy():
    a = Tensor(THETA0.copy(), requires_grad=True)
    opt = optim.SGD([a], lr=0.1, momentum=0.9)
    a.grad = GRADS[0].copy()
    opt.step()
    state = opt.state_dict()
    buffer = state["state"][0]["momentum_buffer"].copy()
    a.grad = GRADS[1].copy()
    opt.step()
    np.testing.assert_array_equal(state["state"][0]["momentum_buffer"], buffer)


def test_optimizer_load_state_dict_restores_lr_and_checks_length():
    a = Tensor(THETA0.copy(), requires_grad=True)
    opt = optim.SGD([a], lr=0.1)
    opt.load_state_dict({"lr": 0.025, "state": [{}]})
    assert opt.lr == 0.025
    with pytest.raises(ConfigError):
        opt.load_state_dict({"lr": 0.1, "state": [{}, {}]})


# ------------------------------------------------------------------------ LR schedules

def make_opt(lr=0.5):
    return optim.SGD([Tensor(np.zeros(2), requires_grad=True)], lr=lr)


def test_exponential_lr_closed_form():
    opt = make_opt(0.5)
    sched = optim.ExponentialLR(opt, gamma=0.9)
    assert opt.lr == 0.5
    for epoch in range(1, 11):
        lr = sched.step()
        assert lr == opt.lr
        assert opt.lr == pytest.approx(0.5 * 0.9 ** epoch, rel=1e-14)


def test_step_lr_closed_form():
    opt = make_opt(0.5)
    sched = optim.StepLR(opt, step_size=3, gamma=0.1)
    expected = {1: 0.5, 2: 0.5, 3: 0.05, 4: 0.05, 5: 0.05, 6: 0.005, 7: 0.005, 9: 5e-4}
    for epoch in range(1, 10):
        sched.step()
        assert opt.lr == pytest.approx(0.5 * 0.1 ** (epoch // 3), rel=1e-14)
        if epoch in expected:
            assert opt.lr == pytest.approx(expected[epoch], rel=1e-14)


def test_cosine_annealing_lr_closed_form():
    base, eta_min, T = 0.5, 0.01, 8
    opt = make_opt(base)
    sched = optim.CosineAnnealingLR(opt, T_max=T, eta_min=eta_min)
    for epoch in range(1, 13):
        sched.step()
        t = min(epoch, T)                                   # held at η_min after T_max
        expected = eta_min + (base - eta_min) * (1 + math.cos(math.pi * t / T)) / 2
        assert opt.lr == pytest.approx(expected, rel=1e-12)
    assert opt.lr == pytest.approx(eta_min, rel=1e-12)
    # halfway: the mean of base and η_min
    assert sched.lr_at(T // 2) == pytest.approx((base + eta_min) / 2, rel=1e-12)


@pytest.mark.parametrize("make", [
    lambda opt: optim.ExponentialLR(opt, gamma=0.8),
    lambda opt: optim.StepLR(opt, step_size=2, gamma=0.5),
    lambda opt: optim.CosineAnnealingLR(opt, T_max=6, eta_min=0.001),
])
def test_scheduler_state_dict_round_trip(make):
    opt_a = make_opt(0.5)
    sched_a = make(opt_a)
    for _ in range(3):
        sched_a.step()
    state = sched_a.state_dict()
    assert state["epoch"] == 3 and state["base_lr"] == 0.5

    opt_b = make_opt(0.9)                                   # a different starting lr
    sched_b = make(opt_b)
    sched_b.load_state_dict(state)
    assert opt_b.lr == opt_a.lr                             # lr restored for epoch 3
    for _ in range(4):
        assert sched_b.step() == sched_a.step()
        assert opt_b.lr == opt_a.lr


@pytest.mark.parametrize("make", [
    lambda opt: optim.ExponentialLR(opt, gamma=0.0),
    lambda opt: optim.ExponentialLR(opt, gamma=1.5),
    lambda opt: optim.StepLR(opt, step_size=0),
    lambda opt: optim.StepLR(opt, step_size=2, gamma=0.0),
    lambda opt: optim.CosineAnnealingLR(opt, T_max=0),
])
def test_bad_scheduler_options_raise(make):
    with pytest.raises(ConfigError):
        make(make_opt())


def test_scheduler_drives_the_optimizer_update():
    p = Tensor(np.zeros(2), requires_grad=True)
    opt = optim.SGD([p], lr=1.0)
    sched = optim.StepLR(opt, step_size=1, gamma=0.5)
    expected = np.zeros(2)
    for epoch in range(3):
        p.grad = np.ones(2)
        opt.step()
        expected -= 0.5 ** epoch                           # lr 1, 0.5, 0.25
        sched.step()
    np.testing.assert_allclose(p.data, expected, rtol=1e-15)
