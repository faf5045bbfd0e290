"""Tests for tinygrad_hlcv.gradcheck and testing.assert_grads_match: the checkers must
measure correctly and must catch a wrong gradient."""

import re

import numpy as np
import pytest

from tinygrad_hlcv import Tensor, fused, nn
from tinygrad_hlcv.engine import Function
from tinygrad_hlcv.errors import ConfigError, DTypeError
from tinygrad_hlcv.gradcheck import (
    GradcheckError,
    compare_grads,
    format_errors,
    gradcheck,
    max_relative_error,
    numerical_grad,
)
from tinygrad_hlcv.testing import assert_grads_match

TABLE_LINE = re.compile(
    r"^([\w.]+) +max relative error \(autodiff vs numerical\): "
    r"(\d\.\de[-+]\d\d)$"
)


class Square(Function):
    """y = x²; dy/dx = 2x."""

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, g):
        return 2 * self.x * g


class BrokenSquare(Square):
    """Backward off by a factor 1.5: a bug every checker must catch."""

    def backward(self, g):
        return 1.5 * super().backward(g)


class BrokenBiasLinearFunction(fused.Linear):
    """Linear whose bias gradient is doubled; W and X gradients stay right."""

    def backward(self, g):
        dx, dw, db = super().backward(g)
        return dx, dw, 2 * db


class BrokenBiasLinear(nn.Linear):
    def forward(self, x):
        return BrokenBiasLinearFunction.apply(x, self.weight, self.bias)


# ----------------------------------------------------------------------- numerical_grad


@pytest.mark.parametrize("order", [2, 4])
def test_numerical_grad_of_a_quadratic(order):
    a = np.array([[1.0, -2.0, 0.5], [3.0, 0.25, -1.0]])
    x = np.array([[0.3, -1.2, 2.0], [0.7, -0.4, 1.5]])
    g = numerical_grad(lambda: float(np.sum(a * x**2)), x, h=1e-3, order=order)
    assert g.shape == x.shape and g.dtype == np.float64
    # central differences are exact on a quadratic up to rounding (about eps·|f|/h)
    np.testing.assert_allclose(g, 2 * a * x, rtol=1e-9, atol=1e-10)


def test_numerical_grad_stencil_orders_on_a_cubic():
    """f = x³: the 2-point stencil gives 3x² + h² exactly, the 5-point one is exact."""
    x = np.array([0.5, -1.5, 2.0])
    h = 1e-2
    g2 = numerical_grad(lambda: float(np.sum(x**3)), x, h=h, order=2)
    g4 = numerical_grad(lambda: float(np.sum(x**3)), x, h=h, order=4)
    np.testing.assert_allclose(g2 - 3 * x**2, h**2, rtol=1e-6)
    np.testing.assert_allclose(g4, 3 * x**2, rtol=1e-12)


@pytest.mark.parametrize("order, tol", [(2, 1e-6), (4, 1e-10)])
def test_numerical_grad_of_exp(order, tol):
    x = np.linspace(-2.0, 2.0, 9)
    h = 1e-3
    g = numerical_grad(lambda: float(np.sum(np.exp(x))), x, h=h, order=order)
    error = max_relative_error(g, np.exp(x))
    assert error < tol
    if order == 2:  # truncation error h²/6 relative: visibly there, so the order is real
        assert error > 1e-8
        np.testing.assert_allclose(g / np.exp(x) - 1, h**2 / 6, rtol=1e-3)


def test_numerical_grad_restores_the_array_even_if_f_raises():
    x = np.array([[0.1, 0.2], [0.3, 0.4]])
    before = x.copy()
    seen = []

    def f():
        seen.append(x.copy())
        return float(np.sum(np.sin(x)))

    numerical_grad(f, x, h=1e-2, order=4)
    np.testing.assert_array_equal(x, before)
    assert len(seen) == 4 * x.size  # four evaluations per entry
    # each evaluation perturbs exactly one entry
    assert all(np.count_nonzero(s != before) == 1 for s in seen)

    calls = []

    def failing():
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("boom")
        return float(np.sum(x))

    with pytest.raises(RuntimeError, match="boom"):
        numerical_grad(failing, x)
    np.testing.assert_array_equal(x, before)


def test_numerical_grad_float32_array_returns_float64():
    x = np.array([1.0, 2.0], dtype=np.float32)
    g = numerical_grad(lambda: float(np.sum(x.astype(np.float64) ** 2)), x, h=1e-2)
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, [2.0, 4.0], rtol=1e-5)


def test_numerical_grad_rejects_non_contiguous_and_read_only_arrays_and_bad_order():
    base = np.arange(12.0).reshape(3, 4)
    with pytest.raises(ValueError, match="contiguous"):
        numerical_grad(lambda: 0.0, base[:, ::2])
    with pytest.raises(ValueError, match="contiguous"):
        numerical_grad(lambda: 0.0, base.T)
    frozen = base.copy()
    frozen.flags.writeable = False
    with pytest.raises(ValueError):
        numerical_grad(lambda: 0.0, frozen)
    with pytest.raises(ValueError, match="order"):
        numerical_grad(lambda: 0.0, base.copy(), order=3)


# ------------------------------------------------------------------- max_relative_error


def test_max_relative_error_formula_and_floor():
    assert max_relative_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert max_relative_error([1.0, -2.0], [1.1, -2.0]) == pytest.approx(0.1 / 2.1, rel=1e-12)
    # the maximum over entries, not an average
    assert max_relative_error([1.0, 3.0, 0.5], [1.0, 1.0, 0.5]) == pytest.approx(0.5, rel=1e-12)
    # opposite signs: |a - b| / (|a| + |b|) = 1
    assert max_relative_error([2.0], [-2.0]) == pytest.approx(1.0)
    # tiny values: the denominator is floored at 1e-8
    assert max_relative_error([1e-12], [3e-12]) == pytest.approx(2e-12 / 1e-8, rel=1e-9)
    assert max_relative_error([0.0], [5e-9]) == pytest.approx(0.5, rel=1e-9)
    assert max_relative_error([0.0], [0.0]) == 0.0
    assert max_relative_error(np.zeros((0, 3)), np.zeros((0, 3))) == 0.0
    with pytest.raises(ValueError, match="shapes"):
        max_relative_error(np.zeros(3), np.zeros(4))


def test_compare_grads_and_format_errors():
    errors = compare_grads(
        {"W1": np.array([1.0]), "b10": np.array([2.0])},
        {"W1": np.array([1.0]), "b10": np.array([2.2])},
    )
    assert errors["W1"] == 0.0 and errors["b10"] == pytest.approx(0.2 / 4.2)
    assert format_errors(errors, "x vs y") == (
        "W1  max relative error (x vs y): 0.0e+00\nb10 max relative error (x vs y): 4.8e-02"
    )
    assert format_errors({"W1": 1.23e-9}) == "W1 max relative error: 1.2e-09"
    with pytest.raises(ValueError, match="b2"):
        compare_grads({"W1": np.zeros(1)}, {"W1": np.zeros(1), "b2": np.zeros(1)})


# ---------------------------------------------------------------------------- gradcheck


def two_layer(cls=nn.Linear, seed=0):
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Linear(4, 5, dtype=np.float64, generator=rng),
        nn.LeakyReLU(0.1),
        cls(5, 3, dtype=np.float64, generator=rng),
    )


def make_loss(model, seed=1):
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    loss_fn = nn.SoftmaxCrossEntropy()
    return lambda: loss_fn(model(Tensor(X)), y) + nn.l2_penalty(model, 0.1)


def test_derivation_names():
    model = nn.Sequential(
        nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 3, bias=False), nn.ReLU(), nn.Linear(3, 2)
    )
    names = nn.derivation_names(model)
    assert list(names) == ["W1", "b1", "W2", "W3", "b3"]
    assert names["W2"] is model[2].weight and names["b3"] is model[4].bias


def test_gradcheck_module_returns_named_errors_and_prints_table(capsys):
    model = two_layer()
    errors = gradcheck(make_loss(model), model, h=1e-4, order=4)
    assert list(errors) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert all(0 <= e <= 1e-7 for e in errors.values())
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4
    for line, (name, err) in zip(lines, errors.items()):
        match = TABLE_LINE.match(line)
        assert match, line
        assert match.group(1) == name
        assert match.group(2) == f"{err:.1e}"
    # the check leaves the parameters' values alone
    fresh = two_layer()
    for p, q in zip(model.parameters(), fresh.parameters()):
        np.testing.assert_array_equal(p.data, q.data)


def test_gradcheck_quiet_dict_and_list_inputs(capsys):
    x = Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    w = Tensor(np.array([1.5, 0.3, -0.7]), requires_grad=True)
    errors = gradcheck(lambda: (Square.apply(x) * w).sum(), {"x": x, "w": w}, verbose=False)
    assert set(errors) == {"x", "w"} and max(errors.values()) < 1e-7
    assert capsys.readouterr().out == ""
    errors = gradcheck(lambda: Square.apply(x).sum(), [x], verbose=False)
    assert list(errors) == ["input0"]
    errors = gradcheck(lambda: Square.apply(x).sum(), x, verbose=False)
    assert list(errors) == ["input0"]


def test_gradcheck_catches_a_broken_function(capsys):
    x = Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda: BrokenSquare.apply(x).sum(), [x])
    message = str(info.value)
    assert "tolerance 1e-07" in message
    # |1.5 n - n| / (1.5 n + n) = 0.2 for every entry
    assert "input0 max relative error (autodiff vs numerical): 2.0e-01" in message
    assert isinstance(info.value, AssertionError)
    printed = capsys.readouterr().out
    assert "input0 max relative error (autodiff vs numerical): 2.0e-01" in printed


def test_gradcheck_names_the_broken_parameter_of_a_module():
    model = two_layer(BrokenBiasLinear)
    with pytest.raises(GradcheckError) as info:
        gradcheck(make_loss(model), model, h=1e-4, order=4, verbose=False)
    rows = dict(TABLE_LINE.match(line).groups() for line in str(info.value).splitlines()[1:])
    assert list(rows) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert float(rows["2.bias"]) > 0.1  # the doubled bias gradient
    assert max(float(rows[name]) for name in ("0.weight", "0.bias", "2.weight")) < 1e-7


def test_gradcheck_tolerance_is_applied():
    x = Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    # order 2 with a big step: truncation error h²/... visible, so a strict tol fails
    errors = gradcheck(
        lambda: Square.apply(Square.apply(x)).sum(), [x], h=1e-2, order=2, tol=1e-3, verbose=False
    )
    worst = max(errors.values())
    assert 1e-7 < worst < 1e-3
    with pytest.raises(GradcheckError):
        gradcheck(
            lambda: Square.apply(Square.apply(x)).sum(),
            [x],
            h=1e-2,
            order=2,
            tol=worst / 2,
            verbose=False,
        )


# ------------------------------------------------------------------- assert_grads_match


def test_assert_grads_match_passes_a_correct_op_and_returns_errors():
    x = np.array([[0.5, -1.0], [2.0, 0.3]])
    errors = assert_grads_match(lambda t: Square.apply(t), [x])
    assert list(errors) == ["input0"] and errors["input0"] < 1e-8


def test_assert_grads_match_raises_on_a_broken_op():
    x = np.array([[0.5, -1.0], [2.0, 0.3]])
    with pytest.raises(GradcheckError, match=r"input0 max relative error: 2\.0e-01"):
        assert_grads_match(lambda t: BrokenSquare.apply(t), [x])


def test_assert_grads_match_raises_on_a_broken_layer_input():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2)), rng.standard_normal(2)
    with pytest.raises(GradcheckError) as info:
        assert_grads_match(lambda *t: BrokenBiasLinearFunction.apply(*t), [x, w, b])
    assert "input2" in str(info.value)
    assert_grads_match(lambda *t: fused.Linear.apply(*t), [x, w, b])


# ------------------------------------------------- gradcheck: any module, float64 only


class Scaled(nn.Module):
    """A Linear followed by a learned per-feature scale: a parameter that is no Linear's."""

    def __init__(self):
        self.linear = nn.Linear(4, 3, dtype=np.float64, generator=np.random.default_rng(0))
        self.scale = Tensor(np.array([0.5, -1.5, 2.0]), requires_grad=True)

    def forward(self, x):
        return self.linear(x) * self.scale


class Quadratic(nn.Module):
    """No Linear at all: (x · a)² summed, a a parameter of its own."""

    def __init__(self, dtype=np.float64):
        self.a = Tensor(np.array([[1.0, -2.0], [0.5, 3.0]], dtype=dtype), requires_grad=True)

    def forward(self, x):
        return ((x @ self.a) ** 2).sum()


def test_gradcheck_checks_and_names_a_parameter_that_is_not_a_linear_one():
    model = Scaled()
    x, y = np.random.default_rng(1).standard_normal((5, 4)), np.array([0, 2, 1, 1, 0])
    errors = gradcheck(
        lambda: nn.SoftmaxCrossEntropy()(model(Tensor(x)), y), model, h=1e-4, order=4, verbose=False
    )
    assert sorted(errors) == ["linear.bias", "linear.weight", "scale"]
    assert list(errors) == [name for name, _ in model.named_parameters()]
    assert max(errors.values()) < 1e-7


def test_gradcheck_of_a_module_without_linear_layers():
    model = Quadratic()
    x = Tensor(np.array([[0.3, -0.7], [1.1, 0.4]]))
    errors = gradcheck(lambda: model(x), model, verbose=False)
    assert list(errors) == ["a"] and errors["a"] < 1e-7


def test_gradcheck_catches_a_wrong_gradient_of_a_non_linear_parameter():
    model = Quadratic()
    x = Tensor(np.array([[0.3, -0.7], [1.1, 0.4]]))
    with pytest.raises(GradcheckError, match=r"(?m)^a +max relative error"):
        gradcheck(lambda: model(x) + BrokenSquare.apply(model.a).sum(), model, verbose=False)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Quadratic(np.float32),
        lambda: two_layer().float(),
        lambda: [Tensor(np.ones(3, dtype=np.float32), requires_grad=True)],
        lambda: {"w": Tensor(np.ones(3, dtype=np.float32), requires_grad=True)},
    ],
)
def test_gradcheck_refuses_float32_and_says_how_to_get_float64(make):
    inputs = make()
    calls = []

    def f():
        calls.append(1)
        raise AssertionError("f must not run")

    with pytest.raises(DTypeError) as info:
        gradcheck(f, inputs)
    message = str(info.value)
    assert "float64" in message and "float32" in message
    for hint in ("set_default_dtype(np.float64)", "dtype=np.float64", ".double()"):
        assert hint in message
    assert calls == []


def test_gradcheck_refuses_float32_even_if_only_one_tensor_is():
    x = Tensor(np.ones(3), requires_grad=True)
    y = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    with pytest.raises(DTypeError, match=r"y \(float32\)"):
        gradcheck(lambda: (x * y).sum(), {"x": x, "y": y})


def test_gradcheck_refuses_nothing_to_check_and_non_tensors():
    with pytest.raises(ConfigError, match="nothing to check"):
        gradcheck(lambda: Tensor(np.array(0.0)), nn.ReLU())
    with pytest.raises(ConfigError, match="nothing to check"):
        gradcheck(lambda: Tensor(np.array(0.0)), [])
    with pytest.raises(DTypeError, match="input0.*Tensor"):
        gradcheck(lambda: Tensor(np.array(0.0)), [np.ones(3)])


def test_a_double_model_passes_gradcheck():
    model = two_layer().float().double()
    errors = gradcheck(make_loss(model), model, h=1e-4, order=4, verbose=False)
    assert max(errors.values()) < 1e-7
