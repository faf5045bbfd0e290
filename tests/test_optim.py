"""Tests for tinygrad_hlcv.optim: each update rule against the formulas of optim.py's
docstring (PyTorch's conventions) written out by hand, and the LR schedules' closed forms."""
import copy
import math

import numpy as np
import pytest

from tinygrad_hlcv import Tensor, optim
from tinygrad_hlcv.errors import ConfigError, GraphError
from tinygrad_hlcv.hyperparams import Hyperparameter

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


def two_params():
    return [Tensor(THETA0.copy(), requires_grad=True) for _ in range(2)]


@pytest.mark.parametrize("make, message", [
    (lambda ps: optim.SGD(ps, lr=float("nan")), ("learning rate must be > 0 (a finite number), "
                                                "got nan")),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=1.0), "momentum must be in [0, 1), got 1.0"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum="0.9"), "momentum must be in [0, 1), got '0.9'"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov="False"),
     "nesterov must be True or False, got 'False'"),
    (lambda ps: optim.SGD(ps, lr=0.1, nesterov=True), "Nesterov momentum needs momentum > 0"),
    (lambda ps: optim.SGD(ps, lr=0.1, weight_decay=-1),
     "weight_decay must be >= 0 (a finite number), got -1"),
    (lambda ps: optim.Adam(ps, betas=(0.9, 1.0)),
     "betas must be a pair (β1, β2) of numbers in [0, 1), got (0.9, 1.0)"),
    (lambda ps: optim.Adam(ps, betas=0.9),
     "betas must be a pair (β1, β2) of numbers in [0, 1), got 0.9"),
    (lambda ps: optim.Adam(ps, eps=0), "eps must be > 0 (a finite number), got 0"),
    (lambda ps: optim.ExponentialLR(optim.SGD(ps, lr=0.1), gamma=0),
     "gamma must be in (0, 1], got 0"),
    (lambda ps: optim.StepLR(optim.SGD(ps, lr=0.1), step_size=2.0),
     "step_size must be an integer >= 1, got 2.0"),
    (lambda ps: optim.StepLR(optim.SGD(ps, lr=0.1), step_size=2, gamma=True),
     "gamma must be in (0, 1], got True"),
    (lambda ps: optim.CosineAnnealingLR(optim.SGD(ps, lr=0.1), T_max=0),
     "T_max must be an integer >= 1, got 0"),
    (lambda ps: optim.CosineAnnealingLR(optim.SGD(ps, lr=0.1), T_max=3, eta_min=-0.1),
     "eta_min must be >= 0 (a finite number), got -0.1"),
    (lambda ps: optim.ExponentialLR("sgd", gamma=0.5),
     "ExponentialLR needs an optimizer (SGD or Adam), got str"),
])
def test_bad_hyperparameters_say_what_was_expected(make, message):
    with pytest.raises(ConfigError) as info:
        make(two_params())
    assert str(info.value) == message


@pytest.mark.parametrize("declared, valid, invalid", [
    (Hyperparameter("x", low=0, high=1, high_open=True), [0, 0.5, np.float32(0.99)],
     [1, -1e-300, float("inf"), float("nan"), True, None, "0.5", 0.5j, np.array([0.5])]),
    (Hyperparameter("x", low=0, high=1, low_open=True), [1, 1e-300], [0, 1.0000001]),
    (Hyperparameter("x", low=0, low_open=True), [1e300, np.float32(1e-30)],
     [0, -0.0, float("inf")]),
    (Hyperparameter("x", high=2, high_open=True), [-5, 1.99], [2, np.float64("nan")]),
    (Hyperparameter("x", low=1, integer=True), [1, np.int64(7), 10 ** 400],
     [0, 2.0, np.float64(3), True, np.bool_(True), "3"]),
    (Hyperparameter("x", low=0, high=1, high_open=True, pair=("a", "b")),
     [(0, 0.5), [0.9, 0.999]], [(0.5,), (0.5, 0.5, 0.5), (0.5, 1), "ab", np.array([0.1, 0.2])]),
    (Hyperparameter("x", flag=True), [True, False, np.bool_(False)], [0, 1, "False", None]),
])
def test_hyperparameter_accepts_exactly_its_declared_values(declared, valid, invalid):
    for value in valid:
        assert declared.accepts(value), value
        declared.check(value)
    for value in invalid:
        assert not declared.accepts(value), value
        with pytest.raises(ConfigError):
            declared.check(value)


@pytest.mark.parametrize("declared, expected", [
    (Hyperparameter("x", low=0, high=1, high_open=True), "must be in [0, 1)"),
    (Hyperparameter("x", low=0, high=1, low_open=True), "must be in (0, 1]"),
    (Hyperparameter("x", low=0.5), "must be >= 0.5 (a finite number)"),
    (Hyperparameter("x", high=2, high_open=True), "must be < 2 (a finite number)"),
    (Hyperparameter("x"), "must be a finite number"),
    (Hyperparameter("x", low=1, integer=True), "must be an integer >= 1"),
    (Hyperparameter("x", low=1, high=9, integer=True), "must be an integer in [1, 9]"),
    (Hyperparameter("x", low=0, high=1, pair=("a", "b")), ("must be a pair (a, b) of numbers "
                                                          "in [0, 1]")),
    (Hyperparameter("x", flag=True), "must be True or False"),
])
def test_hyperparameter_messages(declared, expected):
    assert declared.expected() == expected
    with pytest.raises(ConfigError) as info:
        declared.check("bad", where="here: ")
    assert str(info.value) == f"here: x {expected}, got 'bad'"


# ------------------------------------------------------------- parameters, versions

@pytest.mark.parametrize("params, message", [
    (lambda ps: [ps[0], np.zeros(2)], "optimizer parameters must be float Tensors that are "
                                      "leaves of the graph (pass model.parameters()); parameter "
                                      "1 is of type ndarray"),
    (lambda ps: [Tensor(np.zeros(2, np.int64)), ps[0]], "optimizer parameters must be float "
                                                        "Tensors that are leaves of the graph "
                                                        "(pass model.parameters()); parameter 0 "
                                                        "is a Tensor of dtype int64"),
    (lambda ps: [ps[0] * 2], "optimizer parameters must be float Tensors that are leaves of the "
                             "graph (pass model.parameters()); parameter 0 is the result of an "
                             "op, not a leaf"),
    (lambda ps: [Tensor(THETA0)], "no optimizer parameter requires grad; expected at least one "
                                  "with requires_grad=True (pass model.parameters(); frozen ones "
                                  "are skipped)"),
    (lambda ps: 3, "optimizer parameters must be an iterable of Tensors (pass "
                   "model.parameters()), got int"),
])
def test_bad_parameter_lists_say_what_was_expected(params, message):
    with pytest.raises(ConfigError) as info:
        optim.SGD(params(two_params()), lr=0.1)
    assert str(info.value) == message


def test_a_frozen_parameter_is_accepted_and_skipped():
    a, frozen = two_params()
    frozen.requires_grad = False
    opt = optim.SGD([a, frozen], lr=0.1, weight_decay=0.1)
    (a * frozen).sum().backward()
    assert frozen.grad is None
    opt.step()
    np.testing.assert_array_equal(frozen.data, THETA0)
    assert (a._version, frozen._version) == (1, 0)
    assert not np.allclose(a.data, THETA0)


def test_the_same_tensor_twice_is_refused_naming_both_indices():
    a, b = two_params()
    for make in (lambda ps: optim.SGD(ps, lr=0.1), lambda ps: optim.Adam(ps)):
        with pytest.raises(ConfigError) as info:
            make([a, b, a])
        assert str(info.value) == ("optimizer parameter 2 is the same Tensor as parameter 0; "
                                   "expected each parameter once (a tied weight would be "
                                   "updated twice per step)")


def test_a_tied_weight_is_updated_once_per_step():
    from tinygrad_hlcv import nn
    model = nn.Sequential(nn.Linear(3, 3, dtype=np.float64, generator=np.random.default_rng(0)),
                          nn.ReLU(), nn.Linear(3, 3, dtype=np.float64))
    model[2].weight = model[0].weight                       # tied
    opt = optim.SGD(model.parameters(), lr=0.1)
    assert len(opt.params) == 3                             # weight, two biases
    x = Tensor(np.random.default_rng(1).standard_normal((4, 3)))
    model(x).sum().backward()
    weight = model[0].weight
    before, grad = weight.data.copy(), weight.grad.copy()   # both uses summed in one .grad
    opt.step()
    np.testing.assert_allclose(weight.data, before - 0.1 * grad, rtol=1e-14, atol=1e-15)
    assert weight._version == 1


def test_equal_but_distinct_tensors_are_separate_parameters():
    a, b = two_params()                                     # same values, two tensors
    opt = optim.SGD([a, b], lr=0.1)
    a.grad, b.grad = GRADS[0].copy(), GRADS[1].copy()
    opt.step()
    np.testing.assert_allclose(a.data, THETA0 - 0.1 * GRADS[0], rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(b.data, THETA0 - 0.1 * GRADS[1], rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("factory", [
    lambda ps: optim.SGD(ps, lr=0.1),
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1),
    lambda ps: optim.Adam(ps, lr=0.1),
])
def test_step_bumps_the_version_of_updated_parameters_only(factory):
    a, b = two_params()
    assert a._version == b._version == 0
    opt = factory([a, b])
    for n in range(1, 4):
        a.grad = GRADS[n - 1].copy()
        opt.step()
        assert (a._version, b._version) == (n, 0)
    b.grad = GRADS[0].copy()
    opt.step()
    assert (a._version, b._version) == (4, 1)
    opt.zero_grad()
    opt.step()                                              # no gradients: nothing changes
    assert (a._version, b._version) == (4, 1)


def test_backward_through_values_saved_before_the_step_raises():
    w = Tensor(THETA0.copy(), requires_grad=True)
    loss = (w * w).sum()                                    # saves w for its backward
    w.grad = GRADS[0].copy()
    optim.SGD([w], lr=0.1).step()                           # changes w in place
    with pytest.raises(GraphError):
        loss.backward()


# --------------------------------------------------------------------- state dicts

@pytest.mark.parametrize("factory", [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
                                     lambda ps: optim.Adam(ps, lr=0.1)])
@pytest.mark.parametrize("change, message", [
    (lambda s: s.update(lr=0), ("optimizer state: learning rate must be > 0 (a finite number), "
                               "got 0")),
    (lambda s: s.pop("state"), ("optimizer state must be a dict with 'lr' and 'state' (as "
                               "state_dict() gives), got ['lr']")),
    (lambda s: s.update(state=[{}]), ("optimizer state has 1 parameters, expected 2 (one per "
                                     "parameter of this optimizer)")),
    (lambda s: s["state"].__setitem__(1, None), ("optimizer state of parameter 1: expected a "
                                                "dict of buffers, got NoneType")),
])
def test_optimizer_load_state_dict_refuses_and_changes_nothing(factory, change, message):
    params = two_params()
    opt = factory(params)
    for p in params:
        p.grad = GRADS[0].copy()
    opt.step()
    before = opt.state_dict()
    state = copy.deepcopy(before)
    change(state)
    with pytest.raises(ConfigError) as info:
        opt.load_state_dict(state)
    assert str(info.value) == message
    after = opt.state_dict()
    assert after["lr"] == before["lr"]
    for s, s0 in zip(after["state"], before["state"]):
        assert s.keys() == s0.keys()
        for k in s:
            np.testing.assert_array_equal(s[k], s0[k])


def test_buffers_with_a_key_that_is_not_text_are_refused():
    params = two_params()
    opt = optim.SGD(params, lr=0.1, momentum=0.9)
    params[0].grad = GRADS[0].copy()
    opt.step()
    state = opt.state_dict()
    state["state"][0][1] = np.zeros(2)                      # (sorting str and int keys fails)
    with pytest.raises(ConfigError) as info:
        opt.load_state_dict(state)
    assert str(info.value) == ("optimizer state of parameter 0: expected the buffers "
                               "['momentum_buffer'] of SGD (or none), got ['1', "
                               "'momentum_buffer']")


@pytest.mark.parametrize("step, shown", [(-1, "-1"), (1.0, "1.0"), (True, "True")])
def test_adam_state_step_uses_the_declared_check(step, shown):
    params = two_params()
    opt = optim.Adam(params)
    params[0].grad = GRADS[0].copy()
    opt.step()
    state = opt.state_dict()
    state["state"][0]["step"] = step
    with pytest.raises(ConfigError) as info:
        opt.load_state_dict(state)
    assert str(info.value) == (f"optimizer state of parameter 0: step must be an integer "
                               f">= 0, got {shown}")


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


@pytest.mark.parametrize("state, message", [
    ({"base_lr": 0.5, "epoch": -1}, "schedule state: epoch must be an integer >= 0, got -1"),
    ({"base_lr": 0.5, "epoch": 2.0}, "schedule state: epoch must be an integer >= 0, got 2.0"),
    ({"base_lr": 0.0, "epoch": 2}, ("schedule state: base_lr must be > 0 (a finite number), "
                                   "got 0.0")),
    ({"epoch": 2}, ("schedule state must be a dict with 'base_lr' and 'epoch' (as state_dict() "
                   "gives), got {'epoch': 2}")),
    (None, ("schedule state must be a dict with 'base_lr' and 'epoch' (as state_dict() gives), "
           "got None")),
])
def test_scheduler_load_state_dict_refuses_and_changes_nothing(state, message):
    opt = make_opt(0.5)
    sched = optim.StepLR(opt, step_size=1, gamma=0.5)
    sched.step()
    with pytest.raises(ConfigError) as info:
        sched.load_state_dict(state)
    assert str(info.value) == message
    assert sched.state_dict() == {"base_lr": 0.5, "epoch": 1} and opt.lr == 0.25
