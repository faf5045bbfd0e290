"""Tests for tinygrad_hlcv.optim's optimizers: each update rule against its formula written
out by hand and against PyTorch's (parameter groups, weight decay, momentum variants,
hyperparameters changed between steps), the fused kernels against their NumPy twins (NaN
and ±Inf included), parameter groups, state dicts, and the errors a user gets.
The schedules: tests/test_lr_scheduler.py; gradient clipping: tests/test_clip_grad.py."""

import copy

import numpy as np
import pytest

from tinygrad_hlcv import Tensor, kernels, optim, optim_kernels
from tinygrad_hlcv.errors import ConfigError, DTypeError, GraphError, ShapeError
from tinygrad_hlcv.hyperparams import Hyperparameter

GRADS = [
    np.array([[0.5, -1.0], [2.0, 0.25]]),
    np.array([[-0.3, 0.7], [1.5, -2.0]]),
    np.array([[1.0, 0.1], [-0.6, 0.4]]),
]
THETA0 = np.array([[1.0, -2.0], [0.5, 3.0]])
OPTIMIZERS = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]


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
            v = g.copy() if v is None else momentum * v + g  # v = g on the first step
            g = g + momentum * v if nesterov else v
        theta = theta - lr * g
        out.append(theta)
    return out


def adam_by_hand(lr, b1, b2, eps, weight_decay=0.0, decoupled=False):
    theta, m, s, out = THETA0.copy(), np.zeros_like(THETA0), np.zeros_like(THETA0), []
    for t, grad in enumerate(GRADS, start=1):
        if decoupled:
            theta, g = theta * (1 - lr * weight_decay), grad
        else:
            g = grad + weight_decay * theta
        m = b1 * m + (1 - b1) * g
        s = b2 * s + (1 - b2) * g**2
        theta = theta - lr * (m / (1 - b1**t)) / (np.sqrt(s / (1 - b2**t)) + eps)
        out.append(theta)
    return out


def close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


# ------------------------------------------------------------------ the rules by hand


def test_sgd_plain_by_hand():
    got = run(lambda ps: optim.SGD(ps, lr=0.1))
    # θ1 = θ0 − 0.1 g1, θ2 = θ1 − 0.1 g2, θ3 = θ2 − 0.1 g3, written out
    expected = [
        THETA0 - 0.1 * GRADS[0],
        THETA0 - 0.1 * (GRADS[0] + GRADS[1]),
        THETA0 - 0.1 * (GRADS[0] + GRADS[1] + GRADS[2]),
    ]
    for a, b in zip(got, expected):
        close(a, b)


def test_sgd_momentum_and_nesterov_by_hand():
    mu, lr = 0.9, 0.1
    g1, g2, g3 = GRADS
    v1, v2, v3 = g1, mu * g1 + g2, mu * (mu * g1 + g2) + g3
    plain = run(lambda ps: optim.SGD(ps, lr=lr, momentum=mu))
    for a, b in zip(
        plain, [THETA0 - lr * v1, THETA0 - lr * (v1 + v2), THETA0 - lr * (v1 + v2 + v3)]
    ):
        close(a, b)
    nesterov = run(lambda ps: optim.SGD(ps, lr=lr, momentum=mu, nesterov=True))
    t1 = THETA0 - lr * (g1 + mu * v1)
    t2 = t1 - lr * (g2 + mu * v2)
    for a, b in zip(nesterov, [t1, t2, t2 - lr * (g3 + mu * v3)]):
        close(a, b)


def test_sgd_momentum_equals_course_form_with_constant_lr():
    """v ← μ v − lr·g; θ ← θ + v (the course's form), starting from v = 0."""
    mu, lr = 0.8, 0.05
    got = run(lambda ps: optim.SGD(ps, lr=lr, momentum=mu))
    theta, v = THETA0.copy(), np.zeros_like(THETA0)
    for grad, a in zip(GRADS, got):
        v = mu * v - lr * grad
        theta = theta + v
        np.testing.assert_allclose(a, theta, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd_weight_decay_by_hand(momentum, nesterov):
    wd, lr = 0.01, 0.1
    got = run(
        lambda ps: optim.SGD(ps, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=wd)
    )
    g = GRADS[0] + wd * THETA0  # the first step: g = ∇ + wd θ0, θ1 = θ0 − lr g (v = g)
    close(got[0], THETA0 - lr * (g + momentum * g if nesterov else g))
    for a, b in zip(got, sgd_by_hand(lr, momentum, nesterov, wd)):
        close(a, b)


def test_adam_by_hand():
    lr = 0.01
    got = run(lambda ps: optim.Adam(ps, lr=lr))  # default betas and eps
    # step 1 written out: m̂ = g, ŝ = g², so θ1 = θ0 − lr g / (|g| + eps)
    g = GRADS[0]
    np.testing.assert_allclose(got[0], THETA0 - lr * g / (np.abs(g) + 1e-8), rtol=1e-13)
    for a, b in zip(got, adam_by_hand(lr, 0.9, 0.999, 1e-8)):
        close(a, b)


@pytest.mark.parametrize("decoupled", [False, True], ids=["Adam", "AdamW"])
def test_adam_and_adamw_weight_decay_by_hand(decoupled):
    lr, b1, b2, eps, wd = 0.05, 0.8, 0.99, 1e-6, 0.1
    make = optim.AdamW if decoupled else optim.Adam
    got = run(lambda ps: make(ps, lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd))
    for a, b in zip(got, adam_by_hand(lr, b1, b2, eps, wd, decoupled)):
        close(a, b)
    other = adam_by_hand(lr, b1, b2, eps, wd, not decoupled)
    assert not np.allclose(got[-1], other[-1], rtol=1e-6)  # L2 and decoupled decay differ


def test_rmsprop_and_adagrad_first_step_by_hand():
    g = GRADS[0]
    # RMSprop: s = (1−α) g², θ1 = θ0 − lr g / (√s + ε)
    got = run(lambda ps: optim.RMSprop(ps, lr=0.01, alpha=0.9), grads=[g])
    close(got[0], THETA0 - 0.01 * g / (np.sqrt(0.1 * g * g) + 1e-8))
    # centered: a = (1−α) g, θ1 = θ0 − lr g / (√(s − a²) + ε)
    got = run(lambda ps: optim.RMSprop(ps, lr=0.01, alpha=0.9, centered=True), grads=[g])
    close(got[0], THETA0 - 0.01 * g / (np.sqrt(0.1 * g * g - 0.01 * g * g) + 1e-8))
    # Adagrad: S = S0 + g², θ1 = θ0 − lr g / (√S + ε)
    got = run(lambda ps: optim.Adagrad(ps, lr=0.1, initial_accumulator_value=0.5), grads=[g])
    close(got[0], THETA0 - 0.1 * g / (np.sqrt(0.5 + g * g) + 1e-10))


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_float32_parameters_stay_float32_and_close_to_float64(name):
    make = getattr(optim, name)
    got = run(
        lambda ps: make(ps, lr=0.01),
        grads=[g.astype(np.float32) for g in GRADS],
        theta0=THETA0.astype(np.float32),
    )
    wide = run(lambda ps: make(ps, lr=0.01))
    assert all(a.dtype == np.float32 for a in got)
    np.testing.assert_allclose(got[-1], wide[-1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_the_gradient_is_not_modified(name):
    p = Tensor(THETA0.copy(), requires_grad=True)
    opt = getattr(optim, name)([p], lr=0.1, weight_decay=0.1)
    for _ in range(3):
        p.grad = GRADS[0].copy()
        opt.step()
        np.testing.assert_array_equal(p.grad, GRADS[0])


# ------------------------------------------------------------------------ PyTorch parity

PARITY_CASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-2}),
    ("SGD", {"lr": 0.05, "momentum": 0.5, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.01}),
    ("AdamW", {"lr": 0.05, "betas": (0.5, 0.9), "weight_decay": 0.3}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "momentum": 0.9}),
    ("RMSprop", {"lr": 0.01, "centered": True, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.005, "alpha": 0.8, "centered": True, "momentum": 0.5, "eps": 1e-4}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.1}),
    ("Adagrad", {"lr": 0.5, "initial_accumulator_value": 0.3, "eps": 1e-6}),
]
TORCH_BUFFERS = {
    "exp_avg": "exp_avg",
    "exp_avg_sq": "exp_avg_sq",
    "square_avg": "square_avg",
    "grad_avg": "grad_avg",
    "momentum_buffer": "momentum_buffer",
    "sum": "sum",
}


def _parity_params(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for shape in ((4, 3), (3,), (2, 5))]


def _both(name, options, arrays, second_group):
    """Our optimizer and torch's over the same parameters in two groups: the first two
    arrays with the defaults, the third with `second_group`'s hyperparameters."""
    torch = pytest.importorskip("torch")
    ours = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    opt = getattr(optim, name)(
        [{"params": ours[:2]}, {"params": ours[2:], **second_group}], **options
    )
    ref = getattr(torch.optim, name)(
        [{"params": theirs[:2]}, {"params": theirs[2:], **second_group}], **options
    )
    return ours, opt, theirs, ref


def _step_both(ours, opt, theirs, ref, rng):
    for p, t in zip(ours, theirs):
        g = rng.standard_normal(p.shape)
        p.grad = g.copy()
        t.grad = __import__("torch").tensor(g)
    opt.step()
    ref.step()


def _assert_same(ours, opt, theirs, ref):
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-12, atol=1e-14)
        for key, value in opt.state[p].items():
            if key == "step":
                assert value == int(ref.state[t]["step"])
            else:
                np.testing.assert_allclose(
                    value, ref.state[t][TORCH_BUFFERS[key]].numpy(), rtol=1e-12, atol=1e-14
                )


@pytest.mark.parametrize(
    "name, options", PARITY_CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(PARITY_CASES)]
)
def test_matches_pytorch_over_steps_with_two_param_groups(name, options):
    second = {"lr": options["lr"] / 2, "weight_decay": 0.05}
    ours, opt, theirs, ref = _both(name, options, _parity_params(), second)
    rng = np.random.default_rng(1)
    for step in range(6):
        if step == 3:  # hyperparameters changed between steps, in both
            for groups in (opt.param_groups, ref.param_groups):
                groups[0]["lr"] *= 0.3
                groups[1]["weight_decay"] = 0.0
        _step_both(ours, opt, theirs, ref, rng)
        _assert_same(ours, opt, theirs, ref)
    assert not np.allclose(ours[0].data, _parity_params()[0])


@pytest.mark.parametrize("change", [{"momentum": 0.9}, {"nesterov": True, "momentum": 0.5}])
def test_sgd_momentum_turned_on_between_steps_matches_pytorch(change):
    ours, opt, theirs, ref = _both("SGD", {"lr": 0.1}, _parity_params(), {"lr": 0.2})
    rng = np.random.default_rng(2)
    for step in range(5):
        if step == 2:
            for groups in (opt.param_groups, ref.param_groups):
                groups[1].update(change)
        _step_both(ours, opt, theirs, ref, rng)
        _assert_same(ours, opt, theirs, ref)


# --------------------------------------------------------------- kernels against twins

KERNEL_CASES = {
    "adam_update": lambda s: (
        s(0.9),
        s(0.1),
        s(0.999),
        s(1 - 0.999),
        s(0.05 / (1 - 0.9**3)),
        s(np.sqrt(1 - 0.999**3)),
        s(1e-8),
        s(0.01),
        s(1),
    ),
    "adamw_update": lambda s: (
        s(0.8),
        s(0.2),
        s(0.99),
        s(1 - 0.99),
        s(0.01),
        s(0.3),
        s(1e-6),
        s(0),
        s(1 - 0.01 * 0.1),
    ),
    "rmsprop_update": lambda s: (s(0.01), s(0.99), s(1 - 0.99), s(1e-8), s(0.0), s(0.0), False),
    "rmsprop_centered_momentum": lambda s: (
        s(0.01),
        s(0.9),
        s(1 - 0.9),
        s(1e-8),
        s(0.1),
        s(0.9),
        True,
    ),
    "adagrad_update": lambda s: (s(0.1), s(1e-10), s(0.05)),
}
BUFFER_COUNT = {"adam_update": 2, "rmsprop_update": 3, "adagrad_update": 1}


def _kernel_arrays(kernel, case, dtype, size, specials):
    rng = np.random.default_rng(size)
    arrays = [rng.standard_normal(size).astype(dtype) for _ in range(2 + BUFFER_COUNT[kernel])]
    for a in arrays[2:]:
        a[:] = np.abs(a)  # squares and their averages are >= 0
    if case == "rmsprop_update":
        arrays[3], arrays[4] = np.empty(0, dtype), np.empty(0, dtype)  # unused buffers
    if specials:
        for k, a in enumerate(arrays):
            if a.size:
                a[k::7] = [np.nan, np.inf, -np.inf, 0.0][k % 4]
    return arrays


def _kernel_of(case):
    return (
        case
        if case in BUFFER_COUNT
        else {"adamw_update": "adam_update"}.get(case, "rmsprop_update")
    )


@pytest.mark.parametrize("specials", [False, True], ids=["finite", "nan_inf"])
@pytest.mark.parametrize("size", [1, 13, 3000])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", sorted(KERNEL_CASES))
def test_kernel_equals_its_twin_bit_for_bit(case, dtype, size, specials):
    kernel = _kernel_of(case)
    arrays = _kernel_arrays(kernel, case, dtype, size, specials)
    scalars = KERNEL_CASES[case](np.dtype(dtype).type)
    results = []
    for k in (optim_kernels.numba_kernels, optim_kernels.numpy_kernels):
        copies = [a.copy() for a in arrays]
        with np.errstate(all="ignore"):
            getattr(k, kernel)(*copies, *scalars)
        results.append(copies)
    for fast, twin in zip(*results):
        assert fast.dtype == dtype
        np.testing.assert_array_equal(fast, twin)
    changed = results[0][0]
    if size > 1:
        assert not np.array_equal(changed, arrays[0], equal_nan=True)
    if specials:
        assert np.isnan(changed).any()


@pytest.mark.parametrize("kernel", sorted(BUFFER_COUNT))
def test_kernels_and_twins_refuse_arrays_of_other_sizes(kernel):
    arrays = _kernel_arrays(kernel, kernel, np.float64, 6, False)
    arrays[2] = arrays[2][:5]
    scalars = KERNEL_CASES[kernel](np.float64)
    for k in (optim_kernels.numba_kernels, optim_kernels.numpy_kernels):
        with pytest.raises(ValueError, match="differ in size"):
            getattr(k, kernel)(*[a.copy() for a in arrays], *scalars)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_non_contiguous_parameters_and_the_twins_give_the_kernels_result(name):
    """A transposed parameter (and gradient) takes the twin: the same bits as the kernel
    on a contiguous copy; so does the whole optimizer on kernels.select('numpy')."""
    rng = np.random.default_rng(5)
    data, grads = rng.standard_normal((5, 4)), [rng.standard_normal((5, 4)) for _ in range(3)]
    options = {"lr": 0.05, "weight_decay": 0.01}
    results = []
    for layout, kernel_set in (("C", "numba"), ("F", "numba"), ("C", "numpy")):
        kernels.select(kernel_set)
        try:
            p = Tensor(
                np.asfortranarray(data) if layout == "F" else data.copy(), requires_grad=True
            )
            opt = getattr(optim, name)([p], **options)
            for g in grads:
                p.grad = np.asfortranarray(g) if layout == "F" else g.copy()
                opt.step()
        finally:
            kernels.select("numba")
        results.append(np.ascontiguousarray(p.data))
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])


# ------------------------------------------------------------------ parameter groups


def two_params():
    return [Tensor(THETA0.copy(), requires_grad=True) for _ in range(2)]


def test_groups_take_the_defaults_unless_they_give_their_own():
    a, b, c = two_params() + [Tensor(np.zeros(3), requires_grad=True)]
    opt = optim.SGD(
        [{"params": [a, b], "weight_decay": 5e-4}, {"params": c}],
        lr=0.1,
        momentum=0.9,
        nesterov=True,
    )
    assert [len(g["params"]) for g in opt.param_groups] == [2, 1]
    assert opt.param_groups[0] == {
        "params": [a, b],
        "lr": 0.1,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "nesterov": True,
    }
    assert opt.param_groups[1]["weight_decay"] == 0.0
    assert opt.defaults == {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.0, "nesterov": True}


def test_each_group_steps_with_its_own_learning_rate():
    a, b = two_params()
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    a.grad, b.grad = GRADS[0].copy(), GRADS[0].copy()
    opt.step()
    close(a.data, THETA0 - 0.1 * GRADS[0])
    close(b.data, THETA0 - 0.5 * GRADS[0])
    opt.param_groups[0]["lr"] = 0.2  # changed by hand: used next step
    a.grad = GRADS[1].copy()
    opt.step()
    close(a.data, THETA0 - 0.1 * GRADS[0] - 0.2 * GRADS[1])


def test_add_param_group():
    a, b = two_params()
    opt = optim.Adam([a], lr=0.01)
    opt.add_param_group({"params": b, "lr": 0.1})  # a single Tensor, as PyTorch allows
    assert opt.param_groups[1]["params"] == [b] and opt.param_groups[1]["lr"] == 0.1
    assert opt.param_groups[1]["betas"] == (0.9, 0.999)
    with pytest.raises(ConfigError) as info:
        opt.add_param_group({"params": [a]})
    assert str(info.value) == (
        "optimizer parameter 2 is the same Tensor as parameter 0; "
        "expected each parameter once (a tied weight would be updated "
        "twice per step)"
    )


@pytest.mark.parametrize(
    "groups, message",
    [
        (
            lambda a, b: [{"params": [a]}, {"params": [b, a]}],
            "optimizer parameter 2 is the same Tensor as parameter 0; expected each parameter once "
            "(a tied weight would be updated twice per step)",
        ),
        (
            lambda a, b: [{"params": [a]}, {"params": [b], "weight_decays": 0.1}],
            "optimizer parameter group 1: SGD has no hyperparameter weight_decays; expected some "
            "of ['lr', 'momentum', 'nesterov', 'weight_decay']",
        ),
        (
            lambda a, b: [{"params": [a]}, {"params": [b], "lr": 0}],
            "optimizer parameter group 1: learning rate must be > 0 (a finite number), got 0",
        ),
        (
            lambda a, b: [{"params": [a], "momentum": 1.5}],
            "optimizer parameter group 0: momentum must be in [0, 1), got 1.5",
        ),
        (
            lambda a, b: [{"params": [a], "nesterov": True}],
            "optimizer parameter group 0: Nesterov momentum needs momentum > 0",
        ),
        (
            lambda a, b: [{"params": {a, b}}],
            "optimizer parameters must be a list of Tensors (pass model.parameters()), got set",
        ),
        (
            lambda a, b: [{"lr": 0.1}],
            "optimizer parameter group 0: expected a dict with 'params' "
            "(and hyperparameters), got {'lr': 0.1}",
        ),
    ],
)
def test_bad_groups_say_what_was_expected(groups, message):
    with pytest.raises(ConfigError) as info:
        optim.SGD(groups(*two_params()), lr=0.1)
    assert str(info.value) == message


@pytest.mark.parametrize(
    "name, key, value, message",
    [
        ("SGD", "lr", -0.1, "learning rate must be >= 0 (a finite number), got -0.1"),
        ("SGD", "momentum", 1.0, "momentum must be in [0, 1), got 1.0"),
        ("SGD", "nesterov", True, "Nesterov momentum needs momentum > 0"),
        (
            "Adam",
            "betas",
            (0.9, 1.0),
            "betas must be a pair (β1, β2) of numbers in [0, 1), got (0.9, 1.0)",
        ),
        ("RMSprop", "centered", 0, "centered must be True or False, got 0"),  # == False
        ("Adagrad", "eps", None, "eps must be > 0 (a finite number), got None"),
    ],
)
def test_a_group_changed_to_a_bad_value_is_refused_at_the_next_step(name, key, value, message):
    a, b = two_params()
    opt = getattr(optim, name)([{"params": [a]}, {"params": [b]}], lr=0.1)
    b.grad = GRADS[0].copy()
    opt.step()  # checked once; step() checks again only what changed since
    before = b.data.copy()
    opt.param_groups[1][key] = value
    with pytest.raises(ConfigError) as info:
        opt.step()
    assert str(info.value) == f"optimizer parameter group 1: {message}"
    np.testing.assert_array_equal(b.data, before)


def test_betas_changed_in_place_in_their_list_are_checked_again():
    a, _ = two_params()
    opt = optim.Adam([{"params": [a], "betas": [0.9, 0.999]}], lr=0.1)
    a.grad = GRADS[0].copy()
    opt.step()
    opt.param_groups[0]["betas"][1] = 1.5
    with pytest.raises(ConfigError, match=r"betas must be a pair .* got \[0.9, 1.5\]"):
        opt.step()


def test_a_schedule_may_take_a_groups_rate_to_zero():
    a, _ = two_params()
    opt = optim.SGD([a], lr=0.1)
    opt.param_groups[0]["lr"] = 0.0
    a.grad = GRADS[0].copy()
    opt.step()
    np.testing.assert_array_equal(a.data, THETA0)


def test_hyperparameters_as_attributes_read_and_set_the_one_group():
    a, b = two_params()
    opt = optim.SGD([a], lr=0.1, momentum=0.9, nesterov=True)
    assert (opt.lr, opt.momentum, opt.nesterov, opt.weight_decay) == (0.1, 0.9, True, 0.0)
    opt.lr = 0.05
    assert opt.param_groups[0]["lr"] == 0.05 and "lr" not in vars(opt)
    with pytest.raises(AttributeError):
        opt.betas
    opt.add_param_group({"params": [b], "lr": 0.2})
    assert opt.lr == 0.05  # the first group's
    with pytest.raises(ConfigError) as info:
        opt.lr = 0.3
    assert str(info.value) == (
        "optimizer.lr = ... is ambiguous with 2 parameter groups; "
        "expected optimizer.param_groups[i]['lr'] = ..."
    )


# ------------------------------------------------------------- step, grads, versions


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_parameters_without_grad_are_skipped(name):
    a, b = two_params()
    opt = getattr(optim, name)([a, b], lr=0.1, weight_decay=0.1)
    a.grad = GRADS[0].copy()
    opt.step()
    np.testing.assert_array_equal(b.data, THETA0)  # untouched, even by weight decay
    assert not np.allclose(a.data, THETA0)
    assert opt.state[b] == {}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_step_bumps_the_version_of_updated_parameters_only(name):
    a, b = two_params()
    opt = getattr(optim, name)([a, b], lr=0.1)
    for n in range(1, 4):
        a.grad = GRADS[n - 1].copy()
        opt.step()
        assert (a._version, b._version) == (n, 0)
    b.grad = GRADS[0].copy()
    opt.step()
    assert (a._version, b._version) == (4, 1)
    opt.zero_grad()
    opt.step()  # no gradients: nothing changes
    assert (a._version, b._version) == (4, 1)


def test_zero_grad_clears_or_zeros_the_gradients():
    a, b = two_params()
    opt = optim.SGD([a, b], lr=0.1)
    a.grad = GRADS[0].copy()
    opt.zero_grad()
    assert a.grad is None and b.grad is None
    a.grad = given = GRADS[0].copy()
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad, np.zeros_like(THETA0))
    np.testing.assert_array_equal(given, GRADS[0])  # a new array, not the user's
    assert b.grad is None


def test_step_returns_the_closures_loss():
    a, _ = two_params()
    opt = optim.SGD([a], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (a * a).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == pytest.approx((THETA0**2).sum())
    close(a.data, THETA0 - 0.1 * 2 * THETA0)


@pytest.mark.parametrize(
    "grad, error, message",
    [
        (
            np.zeros(4),
            ShapeError,
            "optimizer parameter 1: .grad has shape (4,), expected the parameter's shape (2, 2)",
        ),
        (
            np.zeros((2, 2), np.int64),
            DTypeError,
            "optimizer parameter 1: .grad is an array of "
            "dtype int64; expected a float array of the "
            "parameter's shape",
        ),
        (
            [[0.0, 0.0], [0.0, 0.0]],
            DTypeError,
            "optimizer parameter 1: .grad is of type list; "
            "expected a float array of the parameter's shape",
        ),
    ],
)
def test_a_gradient_that_does_not_fit_is_refused(grad, error, message):
    a, b = two_params()
    opt = optim.Adam([a, b], lr=0.1)
    b.grad = grad
    with pytest.raises(error) as info:
        opt.step()
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


def test_a_tied_weight_is_updated_once_per_step():
    from tinygrad_hlcv import nn

    model = nn.Sequential(
        nn.Linear(3, 3, dtype=np.float64, generator=np.random.default_rng(0)),
        nn.ReLU(),
        nn.Linear(3, 3, dtype=np.float64),
    )
    model[2].weight = model[0].weight  # tied
    opt = optim.SGD(model.parameters(), lr=0.1)
    assert len(opt.param_groups[0]["params"]) == 3  # weight, two biases
    model(Tensor(np.random.default_rng(1).standard_normal((4, 3)))).sum().backward()
    weight = model[0].weight
    before, grad = weight.data.copy(), weight.grad.copy()  # both uses summed in one .grad
    opt.step()
    close(weight.data, before - 0.1 * grad)
    assert weight._version == 1


def test_backward_through_values_saved_before_the_step_raises():
    w = Tensor(THETA0.copy(), requires_grad=True)
    loss = (w * w).sum()  # saves w for its backward
    w.grad = GRADS[0].copy()
    optim.SGD([w], lr=0.1).step()  # changes w in place
    with pytest.raises(GraphError):
        loss.backward()


# ------------------------------------------------------------ constructor messages


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda ps: optim.SGD(ps, lr=float("nan")),
            ("learning rate must be > 0 (a finite number), got nan"),
        ),
        (lambda ps: optim.SGD(ps, lr=0), "learning rate must be > 0 (a finite number), got 0"),
        (lambda ps: optim.SGD(ps, lr=0.1, momentum=1.0), "momentum must be in [0, 1), got 1.0"),
        (lambda ps: optim.SGD(ps, lr=0.1, momentum="0.9"), "momentum must be in [0, 1), got '0.9'"),
        (
            lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov="False"),
            "nesterov must be True or False, got 'False'",
        ),
        (lambda ps: optim.SGD(ps, lr=0.1, nesterov=True), "Nesterov momentum needs momentum > 0"),
        (
            lambda ps: optim.SGD(ps, lr=0.1, weight_decay=-1),
            "weight_decay must be >= 0 (a finite number), got -1",
        ),
        (
            lambda ps: optim.Adam(ps, betas=(0.9, 1.0)),
            "betas must be a pair (β1, β2) of numbers in [0, 1), got (0.9, 1.0)",
        ),
        (
            lambda ps: optim.Adam(ps, betas=0.9),
            "betas must be a pair (β1, β2) of numbers in [0, 1), got 0.9",
        ),
        (lambda ps: optim.Adam(ps, eps=0), "eps must be > 0 (a finite number), got 0"),
        (
            lambda ps: optim.AdamW(ps, weight_decay=-0.1),
            "weight_decay must be >= 0 (a finite number), got -0.1",
        ),
        (lambda ps: optim.RMSprop(ps, alpha=1.5), "alpha must be in [0, 1], got 1.5"),
        (lambda ps: optim.RMSprop(ps, momentum=-0.5), "momentum must be in [0, 1), got -0.5"),
        (lambda ps: optim.RMSprop(ps, centered="yes"), "centered must be True or False, got 'yes'"),
        (
            lambda ps: optim.Adagrad(ps, lr_decay=-1),
            "lr_decay must be >= 0 (a finite number), got -1",
        ),
        (
            lambda ps: optim.Adagrad(ps, initial_accumulator_value=-0.1),
            "initial_accumulator_value must be >= 0 (a finite number), got -0.1",
        ),
    ],
)
def test_bad_hyperparameters_say_what_was_expected(make, message):
    with pytest.raises(ConfigError) as info:
        make(two_params())
    assert str(info.value) == message


def test_sgd_options_after_momentum_are_keyword_only():
    """PyTorch's third positional argument is `dampening`, which SGD does not offer."""
    with pytest.raises(TypeError):
        optim.SGD(two_params(), 0.1, 0.9, 0.0)


@pytest.mark.parametrize(
    "params, message",
    [
        (
            lambda ps: [ps[0], np.zeros(2)],
            "optimizer parameters must be float Tensors that are "
            "leaves of the graph (pass model.parameters()); parameter "
            "1 is of type ndarray",
        ),
        (
            lambda ps: [Tensor(np.zeros(2, np.int64)), ps[0]],
            "optimizer parameters must be float "
            "Tensors that are leaves of the graph "
            "(pass model.parameters()); parameter 0 "
            "is a Tensor of dtype int64",
        ),
        (
            lambda ps: [ps[0] * 2],
            "optimizer parameters must be float Tensors that are leaves of the "
            "graph (pass model.parameters()); parameter 0 is the result of an "
            "op, not a leaf",
        ),
        (
            lambda ps: [Tensor(THETA0)],
            "no optimizer parameter requires grad; expected at least one "
            "with requires_grad=True (pass model.parameters(); frozen ones "
            "are skipped)",
        ),
        (
            lambda ps: 3,
            "optimizer parameters must be an iterable of Tensors (pass "
            "model.parameters()) or of parameter groups (dicts), got int",
        ),
        (
            lambda ps: ps[0],
            "optimizer parameters must be an iterable of Tensors (pass "
            "model.parameters()) or of parameter groups (dicts), got Tensor",
        ),
        (
            lambda ps: [],
            "optimizer got an empty parameter list; expected the parameters of a model "
            "(model.parameters())",
        ),
        (
            lambda ps: [ps[0], ps[1], ps[0]],
            "optimizer parameter 2 is the same Tensor as parameter "
            "0; expected each parameter once (a tied weight would "
            "be updated twice per step)",
        ),
    ],
)
def test_bad_parameter_lists_say_what_was_expected(params, message):
    with pytest.raises(ConfigError) as info:
        optim.SGD(params(two_params()), lr=0.1)
    assert str(info.value) == message


# --------------------------------------------------------------------- state dicts

FACTORIES = {
    "SGD": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "Adam": lambda ps: optim.Adam(ps, lr=0.05, weight_decay=0.01),
    "AdamW": lambda ps: optim.AdamW(ps, lr=0.05),
    "RMSprop": lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
    "Adagrad": lambda ps: optim.Adagrad(ps, lr=0.1, lr_decay=0.01),
}


def _grouped(make, params):
    """The factory's optimizer with the second parameter in a group of its own."""
    opt = make(params[:1])
    opt.add_param_group({"params": params[1:], "lr": 0.02})
    return opt


def _step_with(params, opt, g):
    for p in params:
        p.grad = g.copy()
    opt.step()


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_state_dict_round_trip_continues_identically(name):
    grads = GRADS + [GRADS[0] * 0.5, GRADS[1] * -2.0]
    params = two_params()
    opt_a = _grouped(FACTORIES[name], params)
    for g in grads[:2]:
        _step_with(params, opt_a, g)
    state = opt_a.state_dict()
    saved = copy.deepcopy(state)
    assert [g["params"] for g in state["param_groups"]] == [[0], [1]]
    assert sorted(state["state"]) == [0, 1]

    others = []
    for _ in range(2):  # two optimizers from the same checkpoint
        ps = [Tensor(p.data.copy(), requires_grad=True) for p in params]
        opt = _grouped(FACTORIES[name], ps)
        opt.param_groups[1]["lr"] = 0.5  # overwritten by the load
        opt.load_state_dict(state)
        others.append((ps, opt))
    for g in grads[2:]:
        for ps, opt in [(params, opt_a), *others]:
            _step_with(ps, opt, g)
        for ps, _ in others:
            for p, q in zip(ps, params):
                np.testing.assert_array_equal(p.data, q.data)
    # the checkpoint itself is not changed by the optimizers that loaded it
    assert state["param_groups"] == saved["param_groups"]
    for i, buffers in state["state"].items():
        for k, v in buffers.items():
            np.testing.assert_array_equal(v, saved["state"][i][k])


def test_state_dict_is_a_copy_and_loading_casts_to_the_parameters_dtype():
    a = Tensor(THETA0.astype(np.float32), requires_grad=True)
    opt = optim.Adam([a], lr=0.1)
    a.grad = GRADS[0].astype(np.float32)
    opt.step()
    state = opt.state_dict()
    kept = state["state"][0]["exp_avg"].copy()
    opt.step()
    np.testing.assert_array_equal(state["state"][0]["exp_avg"], kept)
    state["state"][0]["exp_avg"] = kept.astype(np.float64)
    opt.load_state_dict(state)
    assert opt.state[a]["exp_avg"].dtype == np.float32


def test_the_format_of_earlier_versions_still_loads():
    """{'lr', 'state': [buffers per parameter]}, Adam's buffers named m and s."""
    params = two_params()
    opt = optim.Adam(params, lr=0.1)
    for p in params:
        p.grad = GRADS[0].copy()
    opt.step()
    new = opt.state_dict()
    old = {
        "lr": 0.05,
        "state": [
            {"step": s["step"], "m": s["exp_avg"], "s": s["exp_avg_sq"]}
            for s in new["state"].values()
        ],
    }
    again = optim.Adam([Tensor(p.data.copy(), requires_grad=True) for p in params], lr=0.1)
    again.load_state_dict(old)
    assert again.lr == 0.05
    assert again.state_dict()["state"][1]["step"] == 1
    np.testing.assert_array_equal(
        again.state_dict()["state"][1]["exp_avg"], new["state"][1]["exp_avg"]
    )
    sgd = optim.SGD([params[0]], lr=0.1)
    sgd.load_state_dict({"lr": 0.025, "state": [{}]})
    assert sgd.lr == 0.025 and sgd.state_dict()["state"] == {}
    with pytest.raises(ConfigError) as info:
        sgd.load_state_dict({"lr": 0.1, "state": [{}, {}]})
    assert str(info.value) == (
        "optimizer state has 2 parameters in one group, expected 1 in 1 "
        "(one per parameter of this optimizer)"
    )


def _with_state(name, grouped=True):
    params = two_params()
    opt = _grouped(FACTORIES[name], params) if grouped else FACTORIES[name](params)
    for p in params:
        p.grad = GRADS[0].copy()
    opt.step()
    return opt


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda s: s.pop("state"),
            "optimizer state must be a dict with 'state' and 'param_groups' "
            "(as state_dict() gives), got ['param_groups']",
        ),
        (
            lambda s: s["param_groups"].pop(),
            "optimizer state: expected 'param_groups' as a list of "
            "2 groups (one per group of this optimizer), got 1 "
            "groups",
        ),
        (
            lambda s: s["param_groups"][1].update(lr=-1),
            "optimizer state, parameter group 1: "
            "learning rate must be >= 0 (a finite "
            "number), got -1",
        ),
        (
            lambda s: s["param_groups"][1].update(params=[1, 2]),
            "optimizer state, parameter group "
            "1: expected a dict with 'params', a "
            "list of 1 parameter numbers, got ",
        ),
        (
            lambda s: s["param_groups"][1].update(params=[0]),
            "optimizer state, parameter group 1: expected distinct parameter numbers, got [0]",
        ),
        (
            lambda s: s["state"].update({7: {}}),
            "optimizer state holds parameter 7, which no "
            "parameter group lists; expected some of [0, 1]",
        ),
        (
            lambda s: s["state"].__setitem__(1, None),
            "optimizer state of parameter 1: expected a dict of buffers, got NoneType",
        ),
        (
            lambda s: s.__setitem__("state", [1]),
            "optimizer state: 'state' must be a dict of per-parameter buffers, got [1]",
        ),
    ],
)
def test_load_state_dict_refuses_and_changes_nothing(name, change, message):
    opt = _with_state(name)
    before = opt.state_dict()
    state = copy.deepcopy(before)
    change(state)
    with pytest.raises(ConfigError) as info:
        opt.load_state_dict(state)
    assert str(info.value).startswith(message)
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"]
    for i, buffers in before["state"].items():
        assert after["state"][i].keys() == buffers.keys()
        for k in buffers:
            np.testing.assert_array_equal(after["state"][i][k], buffers[k])


@pytest.mark.parametrize(
    "name, key, value, message",
    [
        (
            "SGD",
            "momentum_buffer",
            np.zeros(3),
            "expected momentum_buffer as a float array of the "
            "parameter's shape (2, 2), got float64 (3,)",
        ),
        (
            "SGD",
            "velocity",
            np.zeros((2, 2)),
            "expected the buffers ['momentum_buffer'] of SGD (or "
            "none), got ['momentum_buffer', 'velocity']",
        ),
        (
            "Adam",
            "exp_avg",
            np.full((2, 2), np.nan),
            "exp_avg holds NaN, Inf values; expected the finite buffers of a healthy run",
        ),
        (
            "Adam",
            "exp_avg_sq",
            -np.ones((2, 2)),
            "exp_avg_sq holds NaN, Inf or negative values; "
            "expected the finite buffers of a healthy run",
        ),
        ("Adam", "step", 1.0, "step must be an integer >= 0, got 1.0"),
        ("Adagrad", "step", -1, "step must be an integer >= 0, got -1"),
        (
            "RMSprop",
            1,
            np.zeros((2, 2)),
            "expected the buffers ['grad_avg', 'momentum_buffer', "
            "'square_avg', 'step'] of RMSprop (or none), got ['1', "
            "'grad_avg', 'momentum_buffer', 'square_avg', 'step']",
        ),
    ],
)
def test_bad_buffers_are_refused(name, key, value, message):
    opt = _with_state(name, grouped=False)
    state = opt.state_dict()
    state["state"][0][key] = value
    with pytest.raises(ConfigError) as info:
        opt.load_state_dict(state)
    assert str(info.value) == f"optimizer state of parameter 0: {message}"


def test_a_buffer_missing_for_the_saved_hyperparameters_is_refused():
    """RMSprop with momentum keeps a momentum buffer: a state without one does not fit."""
    opt = _with_state("RMSprop", grouped=False)
    state = opt.state_dict()
    del state["state"][0]["momentum_buffer"]
    with pytest.raises(ConfigError, match="expected the buffers"):
        opt.load_state_dict(state)
    state["param_groups"][0]["momentum"] = 0.0  # without momentum it fits
    opt.load_state_dict(state)


# ------------------------------------------------------------------ hyperparameters


@pytest.mark.parametrize(
    "declared, valid, invalid",
    [
        (
            Hyperparameter("x", low=0, high=1, high_open=True),
            [0, 0.5, np.float32(0.99)],
            [1, -1e-300, float("inf"), float("nan"), True, None, "0.5", 0.5j, np.array([0.5])],
        ),
        (Hyperparameter("x", low=0, high=1, low_open=True), [1, 1e-300], [0, 1.0000001]),
        (
            Hyperparameter("x", low=0, low_open=True),
            [1e300, np.float32(1e-30)],
            [0, -0.0, float("inf")],
        ),
        (Hyperparameter("x", high=2, high_open=True), [-5, 1.99], [2, np.float64("nan")]),
        (
            Hyperparameter("x", low=1, integer=True),
            [1, np.int64(7), 10**400],
            [0, 2.0, np.float64(3), True, np.bool_(True), "3"],
        ),
        (
            Hyperparameter("x", low=0, high=1, high_open=True, pair=("a", "b")),
            [(0, 0.5), [0.9, 0.999]],
            [(0.5,), (0.5, 0.5, 0.5), (0.5, 1), "ab", np.array([0.1, 0.2])],
        ),
        (Hyperparameter("x", flag=True), [True, False, np.bool_(False)], [0, 1, "False", None]),
        (Hyperparameter("x", choices=("cos", "linear")), ["cos", "linear"], ["Cos", "", None, 1]),
    ],
)
def test_hyperparameter_accepts_exactly_its_declared_values(declared, valid, invalid):
    for value in valid:
        assert declared.accepts(value), value
        declared.check(value)
    for value in invalid:
        assert not declared.accepts(value), value
        with pytest.raises(ConfigError):
            declared.check(value)


@pytest.mark.parametrize(
    "declared, expected",
    [
        (Hyperparameter("x", low=0, high=1, high_open=True), "must be in [0, 1)"),
        (Hyperparameter("x", low=0, high=1, low_open=True), "must be in (0, 1]"),
        (Hyperparameter("x", low=0.5), "must be >= 0.5 (a finite number)"),
        (Hyperparameter("x", high=2, high_open=True), "must be < 2 (a finite number)"),
        (Hyperparameter("x"), "must be a finite number"),
        (Hyperparameter("x", low=1, integer=True), "must be an integer >= 1"),
        (Hyperparameter("x", low=1, high=9, integer=True), "must be an integer in [1, 9]"),
        (
            Hyperparameter("x", low=0, high=1, pair=("a", "b")),
            ("must be a pair (a, b) of numbers in [0, 1]"),
        ),
        (Hyperparameter("x", flag=True), "must be True or False"),
        (Hyperparameter("x", choices=("min", "max")), "must be one of 'min', 'max'"),
    ],
)
def test_hyperparameter_messages(declared, expected):
    assert declared.expected() == expected
    with pytest.raises(ConfigError) as info:
        declared.check("bad", where="here: ")
    assert str(info.value) == f"here: x {expected}, got 'bad'"
