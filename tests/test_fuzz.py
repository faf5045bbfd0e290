"""Fuzzing the public API with malformed inputs: whatever hypothesis draws, the framework
either works or raises one of its own exceptions (a TinygradError subclass) whose message
says what was expected. Any other exception (IndexError, NumPy's errors, AttributeError,
a TypeError from a comparison deep inside...) fails the test, and so does a NaN or Inf
made from finite inputs.

Left out of the domain, because there the API rightly raises Python's own exceptions:
calls with a wrong number of arguments, `len()` of a 0-d tensor, indexing a Sequential
out of range (the sequence protocol's IndexError), and sizes so large that allocating
them raises MemoryError.
"""
import re
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_hlcv import Tensor, nn, optim
from tinygrad_hlcv.errors import TinygradError

# The loaded profile (tests/conftest.py: deterministic "ci" by default), with more examples:
# cheap calls, and a fuzzer needs them.
FUZZ = settings(max_examples=max(settings.default.max_examples, 150))

EXPECTATION = re.compile(r"expected|must|needs?|only|convert|cannot|not defined|"
                         r"does not fit|do not (fit|match)")


def attempt(fn, *args, **kwargs):
    """fn(*args, **kwargs), or the TinygradError it raised. Any other exception propagates
    and fails the test; so does a message that does not say what was expected."""
    try:
        return fn(*args, **kwargs)
    except TinygradError as err:
        message = str(err)
        assert EXPECTATION.search(message), f"message does not say what was expected: {message}"
        return err


def ok(result):
    return not isinstance(result, TinygradError)


def finite(array):
    return array.dtype.kind != "f" or bool(np.isfinite(array).all())


@pytest.fixture(autouse=True)
def quiet_numpy():
    """Values are not what is fuzzed here (1/0 = inf is IEEE's answer, not a bad input):
    silence NumPy's floating-point warnings so that only exceptions count."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


# ---------------------------------------------------------------- strategies

NUMERIC_DTYPES = [np.float32, np.float64, np.int8, np.int32, np.int64, np.uint8, np.uint64,
                  np.bool_]
ODD_DTYPES = [np.float16, np.complex64, np.complex128, object, "U3", "S2", "datetime64[D]",
              "m8[s]", [("a", "f4")]]


def small_arrays(dtypes=NUMERIC_DTYPES, min_dims=0, max_dims=3, min_side=0, max_side=4):
    """Arrays of the given dtypes with small finite values (booleans and integers too)."""
    def of(dtype):
        dtype = np.dtype(dtype)
        if dtype.kind == "f":
            elements = st.floats(-4, 4, width=32 if dtype.itemsize == 4 else 64)
        elif dtype.kind in "iu":
            elements = st.integers(0 if dtype.kind == "u" else -4, 4)
        else:
            elements = None
        return hnp.arrays(dtype, hnp.array_shapes(min_dims=min_dims, max_dims=max_dims,
                                                  min_side=min_side, max_side=max_side),
                          elements=elements)
    return st.sampled_from(dtypes).flatmap(of)


odd_arrays = st.sampled_from(ODD_DTYPES).flatmap(
    lambda dtype: hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=2, max_side=3)))

odd_scalars = st.one_of(
    st.none(), st.text(max_size=4), st.binary(max_size=4), st.booleans(),
    st.complex_numbers(allow_nan=False, allow_infinity=False, max_magnitude=10),
    st.integers(-10 ** 30, 10 ** 30), st.floats(allow_nan=False, allow_infinity=False),
    st.just(Ellipsis), st.builds(object), st.dictionaries(st.text(max_size=2), st.integers(),
                                                          max_size=2),
    st.sets(st.integers(), max_size=3), st.just(range(3)), st.just(np.float16(1.5)),
    st.just(np.str_("1")), st.just(np.datetime64("2020-01-01")))

python_data = st.recursive(
    odd_scalars | st.integers(-5, 5) | st.floats(-5, 5),
    lambda inner: st.lists(inner, max_size=3), max_leaves=8)

odd_dtypes = st.sampled_from([None, np.float32, np.float64, "float32", np.int8, np.int64,
                              np.uint8, np.bool_, np.float16, np.complex64, object, str,
                              "foo", 3, [1], "datetime64[D]", Tensor])

bad_numbers = st.one_of(
    st.floats(), st.integers(-3, 3), st.sampled_from([0, 0.0, -0.0, 1, 1.0, 1e-3, 0.9, 0.999]),
    st.none(), st.text(max_size=3), st.booleans(), st.complex_numbers(max_magnitude=2),
    st.lists(st.floats(0, 1), max_size=3), st.tuples(st.floats(-1, 2), st.floats(-1, 2)),
    st.floats(-2, 2).map(np.float64), st.floats(-2, 2).map(lambda v: np.array([v, v])),
    st.builds(object))

axes = st.one_of(st.none(), st.integers(-4, 4), st.lists(st.integers(-4, 4), max_size=3),
                 st.tuples(st.integers(-4, 4), st.integers(-4, 4)), st.floats(-2, 2),
                 st.text(max_size=2), st.booleans())

sizes = st.one_of(st.lists(st.integers(-2, 7), max_size=4).map(tuple), st.floats(-2, 8),
                  st.none(), st.text(max_size=2),
                  st.lists(st.one_of(st.integers(0, 4), st.floats(0, 4), st.none()),
                           max_size=3).map(tuple))

indices = st.recursive(
    st.one_of(st.integers(-6, 6), st.none(), st.just(Ellipsis), st.floats(-3, 3),
              st.text(max_size=2),
              st.builds(slice, st.integers(-5, 5) | st.none(), st.integers(-5, 5) | st.none(),
                        st.sampled_from([None, 1, 2, -1, 0, "a"])),
              st.lists(st.integers(-6, 6), max_size=3),
              st.lists(st.floats(-2, 2), min_size=1, max_size=2),
              hnp.arrays(np.bool_, hnp.array_shapes(min_dims=1, max_dims=2, max_side=4)),
              hnp.arrays(np.int64, st.integers(0, 3), elements=st.integers(-6, 6)).map(Tensor),
              hnp.arrays(np.float64, 2, elements=st.floats(0, 2)).map(Tensor)),
    lambda inner: st.tuples(inner, inner), max_leaves=3)


# ---------------------------------------------------------------- Tensor

@FUZZ
@given(data=st.one_of(python_data, small_arrays(), odd_arrays), dtype=odd_dtypes,
       requires_grad=st.booleans())
def test_tensor_constructor(data, dtype, requires_grad):
    t = attempt(Tensor, data, requires_grad=requires_grad, dtype=dtype)
    if ok(t):
        assert t.dtype.kind in "fiub" and t.requires_grad == requires_grad
        if not isinstance(data, np.ndarray):
            assert finite(t.data), (data, t)  # no None turned into NaN, no silent overflow


BINARY = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": lambda a, b: a / b, "@": lambda a, b: a @ b,
}


def operand(array, requires_grad):
    return Tensor(array, requires_grad=requires_grad and array.dtype.kind == "f")


@FUZZ
@given(a=small_arrays(), b=st.one_of(small_arrays(), python_data),
       op=st.sampled_from(sorted(BINARY)), swap=st.booleans(), grads=st.booleans())
def test_binary_ops_on_mismatched_shapes_and_dtypes(a, b, op, swap, grads):
    x = operand(a, grads)
    y = operand(b, grads) if isinstance(b, np.ndarray) else b
    left, right = (y, x) if swap else (x, y)
    out = attempt(BINARY[op], left, right)
    if ok(out) and out.requires_grad:
        assert ok(attempt(out.sum().backward))
        assert x.grad is None or x.grad.shape == x.shape


@FUZZ
@given(a=small_arrays(), grads=st.booleans(), axis=axes, keepdims=st.booleans(), shape=sizes,
       order=st.one_of(st.none(), st.lists(st.integers(-4, 4), max_size=4).map(tuple)),
       index=indices, exponent=bad_numbers,
       op=st.sampled_from(["sum", "mean", "max", "reshape", "transpose", "getitem", "pow",
                           "item", "neg", "exp", "log", "backward"]))
def test_unary_and_shape_ops_with_bad_arguments(a, grads, axis, keepdims, shape, order, index,
                                                exponent, op):
    x = operand(a, grads)
    call = {
        "sum": lambda: x.sum(axis=axis, keepdims=keepdims),
        "mean": lambda: x.mean(axis=axis, keepdims=keepdims),
        "max": lambda: x.max(axis=axis, keepdims=keepdims),
        "reshape": lambda: x.reshape(shape),
        "transpose": lambda: x.transpose(order) if order is not None else x.transpose(),
        "getitem": lambda: x[index],
        "pow": lambda: x ** exponent,
        "item": lambda: x.item(),
        "neg": lambda: -x,
        "exp": lambda: x.exp(),
        "log": lambda: x.log(),
        "backward": lambda: (x * 1.0).backward(index),  # a gradient of any shape or kind
    }[op]
    out = attempt(call)
    if ok(out) and isinstance(out, Tensor) and out.requires_grad:
        assert ok(attempt(out.sum().backward))
        assert x.grad.shape == x.shape and x.grad.dtype == x.dtype


# ---------------------------------------------------------------- layers

def float_arrays(shape, low=-4.0, high=4.0):
    return st.sampled_from([np.float32, np.float64]).flatmap(
        lambda dtype: hnp.arrays(dtype, shape, elements=st.floats(
            low, high, width=32 if dtype == np.float32 else 64)))


@st.composite
def linear_inputs(draw, in_features):
    """Mostly (batch, width) float inputs with a width near the layer's; else a wrong
    number of dimensions, a wrong dtype, or something that is not an array."""
    kind = draw(st.sampled_from(["width", "width", "width", "ndim", "dtype", "odd"]))
    batch = draw(st.integers(0, 3))
    if kind == "width":
        width = draw(st.sampled_from([in_features - 1, in_features, in_features + 1, 0]))
        return Tensor(draw(float_arrays((batch, width))))
    if kind == "ndim":
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=3))
        return Tensor(draw(float_arrays(shape[:-1] + (in_features,) if shape else ())))
    if kind == "dtype":
        array = draw(st.one_of(small_arrays(), odd_arrays).map(
            lambda a: np.resize(a, (batch, in_features))))
        return Tensor(array) if array.dtype.kind in "fiub" and array.dtype != np.float16 \
            else array
    return draw(st.one_of(python_data, odd_arrays))


@FUZZ
@given(data=st.data(), in_features=st.integers(1, 4), out_features=st.integers(1, 3),
       bias=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]))
def test_linear_with_wrong_widths_dtypes_and_ndims(data, in_features, out_features, bias,
                                                   dtype):
    layer = nn.Linear(in_features, out_features, bias=bias, dtype=dtype)
    x = data.draw(linear_inputs(in_features))
    out = attempt(layer, x)
    if ok(out):
        assert out.shape == (x.shape[0], out_features) and finite(out.data)
        assert ok(attempt(out.sum().backward))
        assert layer.weight.grad.shape == (in_features, out_features)


LINEAR_VALID = {"in_features": st.integers(1, 4), "out_features": st.integers(1, 4),
                "init_std": st.one_of(st.none(), st.floats(0, 1)),
                "dtype": st.sampled_from([None, np.float32, np.float64, "float64"]),
                "generator": st.sampled_from([None, np.random.default_rng(0)])}
LINEAR_BAD = {"in_features": bad_numbers | st.integers(-2, 0),
              "out_features": bad_numbers | st.integers(-2, 0),
              "init_std": bad_numbers, "dtype": odd_dtypes,
              "generator": st.sampled_from([3, "rng", [1, 2], object()])}


@FUZZ
@given(wrong=st.sampled_from([None, *sorted(LINEAR_VALID)]), data=st.data())
def test_linear_constructor_with_bad_arguments(wrong, data):
    kwargs = {name: data.draw((LINEAR_BAD if name == wrong else LINEAR_VALID)[name], label=name)
              for name in LINEAR_VALID}
    layer = attempt(nn.Linear, **kwargs)
    if ok(layer):
        assert layer.weight.shape == (kwargs["in_features"], kwargs["out_features"])
        assert finite(layer.weight.data) and layer.weight.dtype.kind == "f"


@st.composite
def loss_inputs(draw):
    """Logits and labels with, mostly, one thing wrong: the logits' shape or dtype, or the
    labels' range, length, dtype or number of dimensions; or not arrays at all."""
    n, c = draw(st.integers(0, 4)), draw(st.integers(0, 4))
    kind = draw(st.sampled_from(["good"] * 4 + ["shape", "dtype", "odd"]))
    if kind == "good":
        logits = Tensor(draw(float_arrays((n, c), -1e4, 1e4)), requires_grad=True)
    elif kind == "shape":
        logits = Tensor(draw(float_arrays(hnp.array_shapes(min_dims=0, max_dims=3,
                                                           min_side=0, max_side=4))))
    elif kind == "dtype":
        logits = Tensor(np.ones((n, c), draw(st.sampled_from([np.int32, np.uint8, np.bool_]))))
    else:
        logits = draw(st.one_of(python_data, odd_arrays))
    good_labels = hnp.arrays(np.int64, n, elements=st.integers(0, max(c - 1, 0)))
    labels = draw(st.one_of(
        good_labels, good_labels, good_labels.map(list), good_labels.map(Tensor),
        hnp.arrays(np.int64, n, elements=st.integers(-3, c + 3)),             # out of range
        hnp.arrays(np.int64, st.sampled_from([max(n - 1, 0), n + 1])),        # wrong length
        st.sampled_from([np.float64, np.bool_, np.uint8, np.int8, object, "U1", np.complex64])
        .flatmap(lambda dtype: hnp.arrays(dtype, n)),                        # wrong dtype
        good_labels.map(lambda a: a.reshape(1, -1)), st.integers(-1, 5),     # wrong ndim
        python_data, odd_arrays))
    return logits, labels


@FUZZ
@given(inputs=loss_inputs())
def test_softmax_cross_entropy_with_bad_logits_and_labels(inputs):
    logits, labels = inputs
    loss = attempt(nn.SoftmaxCrossEntropy(), logits, labels)
    if ok(loss):
        assert loss.shape == () and finite(loss.data)  # finite logits give a finite loss
        if logits.requires_grad:
            loss.backward()
            assert finite(logits.grad)


def _model():
    rng = np.random.default_rng(0)
    return nn.Sequential(nn.Linear(3, 4, generator=rng), nn.ReLU(),
                         nn.Linear(4, 2, generator=rng))


@FUZZ
@given(p=st.one_of(st.floats(0, 0.99), bad_numbers),
       x=st.one_of(float_arrays(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0)),
                   small_arrays(), python_data),
       training=st.booleans())
def test_dropout_with_bad_p_and_inputs(p, x, training):
    layer = attempt(nn.Dropout, p)
    if ok(layer):
        layer.train(training)
        out = attempt(layer, x)
        if ok(out):
            assert out.shape == np.shape(x) and finite(out.data)


# ---------------------------------------------------------------- optimizers

def _parameters(kind, model):
    return {"ok": model.parameters(), "empty": [], "none": None, "int": 3, "text": "abc",
            "arrays": [np.zeros(2)], "int_tensor": [Tensor(np.zeros(2, np.int64))],
            "module": model[0], "sequential": model,
            "mixed": [*model.parameters(), np.zeros(2)]}[kind]


PARAMETER_KINDS = ["ok"] * 9 + ["empty", "none", "int", "text", "arrays", "int_tensor",
                   "module", "sequential", "mixed"]


VALID = {"lr": st.floats(1e-4, 1.0), "momentum": st.floats(0, 0.99),
         "weight_decay": st.floats(0, 0.1), "eps": st.floats(1e-10, 1e-3),
         "betas": st.tuples(st.floats(0, 0.99), st.floats(0, 0.999))}


@FUZZ
@given(kind=st.sampled_from(PARAMETER_KINDS), adam=st.booleans(), nesterov=st.booleans(),
       wrong=st.sampled_from([None, *sorted(VALID)]), data=st.data())
def test_optimizers_with_bad_hyperparameters(kind, adam, nesterov, wrong, data):
    """Valid hyperparameters but (mostly) one, drawn from bad_numbers."""
    hyper = {name: data.draw(bad_numbers if name == wrong else valid, label=name)
             for name, valid in VALID.items()}
    lr, momentum, weight_decay, eps, betas = (hyper[k] for k in (
        "lr", "momentum", "weight_decay", "eps", "betas"))
    model = _model()
    params = _parameters(kind, model)
    if adam:
        opt = attempt(optim.Adam, params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    else:
        opt = attempt(optim.SGD, params, lr=lr, momentum=momentum, nesterov=nesterov,
                      weight_decay=weight_decay)
    if ok(opt):
        for p in model.parameters():
            p.grad = np.ones_like(p.data)
        for _ in range(2):
            opt.step()
        if max(abs(opt.lr), abs(weight_decay)) < 1e6:  # (huge ones overflow, as they should)
            assert all(finite(p.data) for p in model.parameters())  # no NaN from what passed


SCHEDULES = {  # (valid first argument, valid second argument)
    "exponential": (st.floats(0.01, 1), st.none()),
    "step": (st.integers(1, 5), st.floats(0.01, 1)),
    "cosine": (st.integers(1, 5), st.floats(0, 0.01)),
}


@FUZZ
@given(which=st.sampled_from(sorted(SCHEDULES)), wrong=st.sampled_from([None, 0, 1, 2]),
       data=st.data())
def test_schedules_with_bad_arguments(which, wrong, data):
    first, second = (data.draw(bad_numbers if wrong == i else valid, label=f"argument {i}")
                     for i, valid in enumerate(SCHEDULES[which]))
    opt = optim.SGD(_model().parameters(), lr=0.1) if wrong != 2 else data.draw(
        st.sampled_from(["sgd", None, _model()]), label="optimizer")
    make = {"exponential": lambda: optim.ExponentialLR(opt, first),
            "step": lambda: optim.StepLR(opt, first, second),
            "cosine": lambda: optim.CosineAnnealingLR(opt, first, second)}[which]
    schedule = attempt(make)
    if ok(schedule):
        for _ in range(3):
            assert np.isfinite(schedule.step())
        state = schedule.state_dict()
        broken = data.draw(st.one_of(st.just(state), bad_numbers, st.fixed_dictionaries(
            {"base_lr": bad_numbers, "epoch": st.integers(-2, 3) | bad_numbers})), label="state")
        if ok(attempt(schedule.load_state_dict, broken)):
            assert np.isfinite(schedule.step())


# ---------------------------------------------------------------- state dicts

odd_values = st.one_of(small_arrays(max_dims=2, max_side=5), odd_arrays, python_data,
                       st.lists(st.lists(st.floats(-1, 1), max_size=4), max_size=4))


@st.composite
def state_dicts(draw):
    """A valid state dict of _model() with a few things changed, or no dict at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.one_of(st.none(), st.text(max_size=3), st.lists(st.integers()),
                              st.integers(), st.builds(object)))
    state = _model().state_dict()
    for _ in range(draw(st.integers(1, 3))):
        change = draw(st.sampled_from(["drop", "add", "replace", "reshape"]))
        names = sorted(state, key=str)
        if change == "drop" and names:
            del state[draw(st.sampled_from(names))]
        elif change == "add":
            state[draw(st.sampled_from(["x", "0.weight2", "1.weight", "3.bias", 7]))] = \
                draw(odd_values)
        elif change == "replace" and names:
            state[draw(st.sampled_from(names))] = draw(odd_values)
        elif change == "reshape" and names:
            name = draw(st.sampled_from(names))
            if isinstance(state[name], np.ndarray):
                state[name] = state[name].reshape(-1)[:draw(st.integers(0, 12))]
    return state


@FUZZ
@given(state=state_dicts())
def test_load_state_dict_with_wrong_dicts(state):
    model = _model()
    before = model.state_dict()
    result = attempt(model.load_state_dict, state)
    after = model.state_dict()
    if ok(result):
        for name, value in after.items():
            np.testing.assert_array_equal(value, np.asarray(state[name], dtype=value.dtype))
    else:  # refused before anything was changed
        assert all(np.array_equal(after[name], before[name]) for name in before)


@st.composite
def optimizer_states(draw, valid):
    """A valid optimizer state dict with one thing changed, or no dict at all."""
    change = draw(st.sampled_from(["none", "not_a_dict", "drop_key", "lr", "state_type",
                                   "length", "entry", "buffer"]))
    state = {"lr": valid["lr"], "state": [dict(s) for s in valid["state"]]}
    if change == "not_a_dict":
        return draw(st.one_of(st.none(), st.text(max_size=3), st.lists(st.integers()),
                              st.builds(object)))
    if change == "drop_key":
        del state[draw(st.sampled_from(["lr", "state"]))]
    elif change == "lr":
        state["lr"] = draw(bad_numbers)
    elif change == "state_type":
        state["state"] = draw(bad_numbers)
    elif change == "length":
        state["state"] = state["state"][:draw(st.integers(0, 3))] + [{}] * draw(st.integers(0, 2))
    elif change == "entry":
        state["state"][draw(st.integers(0, 3))] = draw(bad_numbers)
    elif change == "buffer":
        entry = state["state"][draw(st.integers(0, 3))]
        key = draw(st.sampled_from(sorted(entry) or ["momentum_buffer"]))
        entry[key] = draw(st.one_of(small_arrays(dtypes=[np.float32], max_dims=2, max_side=5),
                                    bad_numbers))
    return state


@FUZZ
@given(adam=st.booleans(), data=st.data())
def test_optimizer_load_state_dict_with_wrong_dicts(adam, data):
    model = _model()
    opt = optim.Adam(model.parameters()) if adam else optim.SGD(model.parameters(), lr=0.1,
                                                                  momentum=0.9)
    for p in model.parameters():
        p.grad = np.ones_like(p.data)
    opt.step()  # so that the state has buffers
    state = data.draw(optimizer_states(opt.state_dict()), label="state")
    result = attempt(opt.load_state_dict, state)
    if ok(result):
        assert ok(attempt(opt.step))
        if opt.lr < 1e6:  # (a huge rate overflows, as it should)
            assert all(finite(p.data) for p in model.parameters())
        assert ok(attempt(opt.step))


@FUZZ
@given(slope=st.one_of(st.floats(-1, 1), bad_numbers), lam=st.one_of(st.floats(0, 1), bad_numbers))
def test_leaky_relu_slope_and_l2_strength_with_bad_values(slope, lam):
    layer = attempt(nn.LeakyReLU, slope)
    if ok(layer):
        out = layer(Tensor(np.array([-2.0, 0.0, 3.0])))
        assert finite(out.data) or abs(slope) > 1e30  # (a huge slope overflows, as it should)
    penalty = attempt(nn.l2_penalty, _model(), lam)
    if ok(penalty):
        assert penalty.item() >= 0
        assert finite(penalty.data) or lam > 1e30  # (a huge λ overflows float32, as it should)
