"""The activation and reshaping layers of nn/activation.py: values against NumPy formulas,
gradients against central differences (float64), parity with PyTorch's modules, repr, and
the checks of their options."""

import math

import numpy as np
import pytest

from tinygrad_hlcv import Tensor
from tinygrad_hlcv.errors import ConfigError, DTypeError, ShapeError
from tinygrad_hlcv.nn.activation import (
    ELU,
    GELU,
    Flatten,
    Identity,
    LogSoftmax,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
    Unflatten,
)
from tinygrad_hlcv.testing import assert_grads_match

rng = np.random.default_rng(0)
X = rng.uniform(-3, 3, (4, 5))
X[0, :3] = [25.0, -0.5, 0.0]  # above Softplus' threshold, ELU's negative side, 0
SMOOTH = np.where(X == 0, 0.25, X)  # for central differences: no step across ELU's kink
ERF = np.vectorize(math.erf)


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def softmax(a, dim):
    e = np.exp(a - a.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


# (layer, NumPy formula, the torch module's name and arguments)
LAYERS = [
    (Identity(), lambda a: a, ("Identity", ())),
    (Sigmoid(), sigmoid, ("Sigmoid", ())),
    (Tanh(), np.tanh, ("Tanh", ())),
    (GELU(), lambda a: 0.5 * a * (1 + ERF(a / math.sqrt(2))), ("GELU", ())),
    (
        GELU("tanh"),
        lambda a: 0.5 * a * (1 + np.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a**3))),
        ("GELU", ("tanh",)),
    ),
    (SiLU(), lambda a: a * sigmoid(a), ("SiLU", ())),
    (ELU(0.5), lambda a: np.where(a > 0, a, 0.5 * np.expm1(a)), ("ELU", (0.5,))),
    (
        Softplus(2.0, 10.0),
        lambda a: np.where(2 * a > 10, a, np.log1p(np.exp(2 * a)) / 2),
        ("Softplus", (2.0, 10.0)),
    ),
    (Softmax(1), lambda a: softmax(a, 1), ("Softmax", (1,))),
    (Softmax(0), lambda a: softmax(a, 0), ("Softmax", (0,))),
    (LogSoftmax(1), lambda a: np.log(softmax(a, 1)), ("LogSoftmax", (1,))),
    (Flatten(0), lambda a: a.reshape(-1), ("Flatten", (0,))),
    (Unflatten(1, (5, 1)), lambda a: a.reshape(4, 5, 1), ("Unflatten", (1, (5, 1)))),
]
IDS = [f"{type(layer).__name__}{args}" for layer, _, (_, args) in LAYERS]


@pytest.mark.parametrize("layer, formula, torch_layer", LAYERS, ids=IDS)
def test_values_match_the_formula(layer, formula, torch_layer):
    out = layer(Tensor(X))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.data, formula(X), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("layer, formula, torch_layer", LAYERS, ids=IDS)
def test_gradients_match_numerical(layer, formula, torch_layer):
    assert_grads_match(layer, [SMOOTH], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layer, formula, torch_layer", LAYERS, ids=IDS)
def test_matches_pytorch(layer, formula, torch_layer, dtype):
    torch = pytest.importorskip("torch")
    name, args = torch_layer
    theirs = getattr(torch.nn, name)(*args)
    x = X.astype(dtype)
    g = rng.uniform(0.5, 1.5, formula(X).shape).astype(dtype)
    xo, xt = Tensor(x.copy(), requires_grad=True), torch.tensor(x, requires_grad=True)
    out_o, out_t = layer(xo), theirs(xt)
    out_o.backward(g.copy())
    out_t.backward(torch.from_numpy(g))
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    assert out_o.dtype == dtype and xo.grad.dtype == dtype
    np.testing.assert_allclose(out_o.data, out_t.detach().numpy(), **tol)
    np.testing.assert_allclose(xo.grad, xt.grad.numpy(), **tol)


def test_flatten_keeps_the_batch_dim_by_default_and_unflatten_undoes_it():
    x = Tensor(rng.standard_normal((2, 3, 4, 5)), requires_grad=True)
    flat = Flatten()(x)
    assert flat.shape == (2, 60)
    assert Flatten(1, 2)(x).shape == (2, 12, 5)
    back = Unflatten(1, (3, -1, 5))(flat)
    np.testing.assert_array_equal(back.data, x.data)


def test_layers_take_numpy_arrays_as_constants():
    out = Sigmoid()(np.zeros(3))
    assert isinstance(out, Tensor) and not out.requires_grad
    np.testing.assert_array_equal(out.data, 0.5)


def test_identity_ignores_its_arguments_and_returns_its_input():
    x = Tensor(X)
    assert Identity(3, key="anything")(x) is x


def test_repr():
    assert repr(GELU("tanh")) == "GELU(approximate='tanh')"
    assert repr(ELU()) == "ELU(alpha=1.0)"
    assert repr(Softplus()) == "Softplus(beta=1.0, threshold=20.0)"
    assert repr(Softmax(dim=-1)) == "Softmax(dim=-1)"
    assert repr(LogSoftmax(1)) == "LogSoftmax(dim=1)"
    assert repr(Flatten()) == "Flatten(start_dim=1, end_dim=-1)"
    assert repr(Unflatten(1, [2, 3])) == "Unflatten(dim=1, unflattened_size=(2, 3))"
    assert repr(Sigmoid()) == "Sigmoid()"


@pytest.mark.parametrize(
    "make, error, words",
    [
        (lambda: GELU("fast"), ConfigError, "'none' or 'tanh'"),
        (lambda: ELU("1"), ConfigError, "alpha must be a finite number"),
        (lambda: ELU(float("nan")), ConfigError, "alpha"),
        (lambda: Softplus(beta=0), ConfigError, "beta must not be 0"),
        (lambda: Softplus(threshold=None), ConfigError, "threshold"),
        (lambda: Softmax(), ConfigError, "expected the dim"),
        (lambda: LogSoftmax(None), ConfigError, "expected the dim"),
        (lambda: Softmax(1.0), ConfigError, "dim must be an integer"),
        (lambda: Flatten(start_dim="1"), ConfigError, "start_dim"),
        (lambda: Unflatten(1, 6), ShapeError, "non-empty tuple"),
        (lambda: Unflatten(1, ()), ShapeError, "non-empty tuple"),
        (lambda: Tanh()([1.0, 2.0]), DTypeError, "Tensor or a NumPy array"),
        (lambda: Softmax(2)(Tensor(X)), ShapeError, "does not fit"),
        (lambda: Unflatten(1, (2, 2))(Tensor(X)), ShapeError, "unflatten"),
    ],
)
def test_mistakes_get_the_frameworks_errors(make, error, words):
    with pytest.raises(error) as err:
        make()
    assert words in str(err.value)
