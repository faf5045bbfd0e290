"""The engine's invariants: a tensor an op saved for backward cannot change unnoticed, a
leaf's .grad never shares memory with the graph, a tied weight is one parameter, and the
edge cases where a gradient or a dtype used to come out wrong."""

import inspect

import numpy as np
import pytest

import tinygrad_hlcv as tg
from tinygrad_hlcv import Tensor, nn, no_grad, optim
from tinygrad_hlcv.engine import Function, ScaledGrad
from tinygrad_hlcv.errors import GraphError, ShapeError
from tinygrad_hlcv.nn import functional as F

rng = np.random.default_rng(0)


def randn(*shape):
    return rng.standard_normal(shape)


# ----- the version counter ------------------------------------------------------------


def test_version_starts_at_zero_and_counts_in_place_changes():
    x = Tensor(randn(3), requires_grad=True)
    y = x * 2
    assert x._version == 0 and y._version == 0
    x._version += 1
    assert x._version == 1 and y._version == 0


@pytest.mark.parametrize(
    "view",
    [
        lambda t: t.reshape(6),
        lambda t: t.T,
        lambda t: t[1:],
        lambda t: t.detach(),
        lambda t: Tensor(t),
    ],
)
def test_a_view_shares_its_tensors_version_counter(view):
    x = Tensor(randn(2, 3), requires_grad=True)
    v = view(x)
    x._version += 1
    assert v._version == 1
    v._version += 1
    assert x._version == 2


def test_a_result_that_copies_has_its_own_counter():
    x = Tensor(randn(2, 3), requires_grad=True)
    for y in (x + 1, x.exp(), x[[0, 1]], x.sum(axis=0), Tensor(x.data.copy())):
        x._version += 1
        assert y._version == 0


def test_load_state_dict_counts_as_an_in_place_change():
    model = nn.Linear(3, 2)
    model.load_state_dict(model.state_dict())
    assert model.weight._version == 1 and model.bias._version == 1


# ----- in-place changes of saved tensors are refused ------------------------------------


def test_step_between_two_backward_passes_of_a_retained_graph_raises():
    layer = nn.Linear(3, 4, dtype=np.float64)
    loss = layer(Tensor(randn(5, 3))).relu().sum()
    loss.backward(retain_graph=True)
    with no_grad():  # what an optimizer step does
        layer.weight.data -= 0.1 * layer.weight.grad
        layer.weight._version += 1
    with pytest.raises(GraphError) as err:
        loss.backward()
    message = str(err.value)
    for part in (
        "Linear saved for backward",
        "input 1",
        "shape (3, 4)",
        "version 0, now 1",
        "opt.step() after backward()",
    ):
        assert part in message


def test_a_real_optimizer_step_is_seen():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = optim.SGD(model.parameters(), lr=0.1)
    loss = nn.SoftmaxCrossEntropy()(model(Tensor(randn(5, 3).astype(np.float32))), [0, 1, 0, 1, 1])
    loss.backward(retain_graph=True)
    opt.step()
    with pytest.raises(GraphError, match="Linear saved for backward"):
        loss.backward()


def test_a_change_before_the_first_backward_is_refused():
    w = Tensor(randn(3), requires_grad=True)
    x = Tensor(randn(3), requires_grad=True)
    loss = (x * w).sum()
    w._version += 1
    with pytest.raises(GraphError, match=r"Mul saved for backward \(input 1, shape \(3,\)\)"):
        loss.backward()


def test_a_transposed_weight_is_a_view_of_the_weight():
    """w.T saved by MatMul shares w's counter, so stepping w is seen through it."""
    w = Tensor(randn(4, 3), requires_grad=True)
    loss = (Tensor(randn(2, 3)) @ w.T).sum()
    w._version += 1
    with pytest.raises(GraphError, match="MatMul"):
        loss.backward()


def test_an_output_the_backward_reads_is_checked():
    x = Tensor(randn(3), requires_grad=True)
    y = x.exp()
    loss = y.sum()
    y._version += 1
    with pytest.raises(GraphError, match=r"Exp saved for backward \(output, shape \(3,\)\)"):
        loss.backward()


def test_changing_a_tensor_no_backward_reads_is_allowed():
    """Add and Sum keep nothing: changing their input changes no gradient."""
    a, b = Tensor(randn(3), requires_grad=True), Tensor(randn(3), requires_grad=True)
    loss = (a + b).sum()
    a._version += 1
    loss.backward()
    np.testing.assert_array_equal(a.grad, np.ones(3))


def test_a_training_loop_never_trips_the_check():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = Tensor(randn(6, 3).astype(np.float32))
    for _ in range(3):
        opt.zero_grad()
        loss = nn.SoftmaxCrossEntropy()(model(x), [0, 1, 0, 1, 1, 0]) + nn.l2_penalty(model, 0.1)
        loss.backward()
        opt.step()


# ----- every op declares what its backward reads -------------------------------------------


def _positive(*shape):
    return rng.uniform(0.5, 1.5, shape)


# Inputs and options for the ops a generic call does not fit or does not exercise, by
# "module.Class". The generic call gives every array input a float (3, 3) array and every
# option named in OPTIONS its value there; an op that needs more must be added to SAMPLES.
PICK = np.array([[0, 3], [1, 1], [2, 0]])
SAMPLES = {
    "conv.Conv2d": lambda: (
        [randn(2, 3, 5, 5), randn(4, 3, 3, 3), randn(4)],
        {"stride": (1, 2), "padding": (1, 1, 0, 1), "dilation": (1, 1), "groups": 1},
    ),
    "conv.MaxPool2d": lambda: (
        [randn(2, 3, 5, 5)],
        {"kernel": (2, 2), "stride": (2, 2), "padding": (0, 0, 0, 0), "dilation": (1, 1)},
    ),
    "conv.AvgPool2d": lambda: (
        [randn(2, 3, 5, 5)],
        {"kernel": (2, 2), "stride": (1, 1), "padding": (1, 1, 1, 1)},
    ),
    "embedding.EmbeddingLookup": lambda: (
        [randn(5, 3)],
        {"indices": np.array([[0, 4], [4, 2]]), "padding_idx": 2},
    ),
    "normalization.BatchNorm": lambda: ([randn(4, 3), randn(3), randn(3)], {}),
    "normalization.LayerNorm": lambda: ([randn(3, 4), randn(4), randn(4)], {}),
    "ops.Pow": lambda: ([_positive(3, 3)], {"exponent": 3.0}),
    "ops.Sum": lambda: ([randn(3, 4)], {"axis": (0,)}),
    "ops.Reshape": lambda: ([randn(3, 4)], {"shape": (4, 3)}),
    "ops.Transpose": lambda: ([randn(3, 4)], {}),
    "fused.Linear": lambda: ([randn(3, 4), randn(4, 2), randn(2)], {}),
    "fused.ReLU": lambda: ([randn(3, 4)], {}),
    "fused.LeakyReLU": lambda: ([randn(3, 4)], {"negative_slope": 0.1}),
    "fused.Dropout": lambda: ([randn(3, 4)], {"mask": rng.random((3, 4)) > 0.5, "scale": 2.0}),
    "fused.SoftmaxCrossEntropy": lambda: ([randn(3, 4), np.array([0, 3, 1])], {}),
    "fused.L2Penalty": lambda: ([randn(3, 4), randn(2)], {"lam": 0.3}),
    "elementwise.Clamp": lambda: ([randn(3, 4), np.array(-0.5), np.array(0.5)], {}),
    "elementwise.Where": lambda: (
        [randn(3, 4), randn(3, 4)],
        {"condition": rng.random((3, 4)) > 0.5},
    ),
    "movement.Expand": lambda: ([randn(3, 1)], {"shape": (2, 3, 4)}),
    "movement.Repeat": lambda: ([randn(3, 4)], {"reps": (2, 1)}),
    "movement.Roll": lambda: ([randn(3, 4)], {"shifts": (1,), "dims": (1,)}),
    "movement.Pad": lambda: (
        [randn(3, 4)],
        {
            "crops": (slice(0, 3), slice(1, 4)),
            "widths": ((1, 0), (0, 2)),
            "mode": "reflect",
            "value": 0.0,
        },
    ),
    "movement.GetItem": lambda: ([randn(3, 4)], {"index": (slice(1, None), np.array([0, 2]))}),
    "movement.Gather": lambda: ([randn(3, 4)], {"dim": 1, "index": PICK}),
    "movement.ScatterAdd": lambda: ([randn(3, 4), randn(3, 2)], {"dim": 1, "index": PICK}),
    "movement.MaskedFill": lambda: (
        [randn(3, 4), np.array(0.5)],
        {"mask": rng.random((3, 4)) > 0.5},
    ),
    "movement.SetItem": lambda: ([randn(3, 4), randn(2)], {"index": (slice(1, None), 1)}),
}
OPTIONS = {
    "dim": 1,
    "dims": (1,),
    "axis": (1,),
    "keepdim": False,
    "keepdims": False,
    "largest": True,
    "dtype": np.dtype(np.float32),
    "divisor": 2.0,
    "p": 3.0,
}


def _function_classes():
    """Every Function subclass the package defines, in every op module."""
    found, stack = set(), [Function]
    while stack:
        for sub in stack.pop().__subclasses__():
            stack.append(sub)
            if sub.__module__.startswith("tinygrad_hlcv."):
                found.add(sub)
    return sorted(found, key=lambda c: (c.__module__, c.__name__))


def _sample(op):
    """(input arrays, options) for one call of op."""
    name = f"{op.__module__.rsplit('.', 1)[-1]}.{op.__name__}"
    if name in SAMPLES:
        return SAMPLES[name]()
    arrays, options = [], {}
    for i, p in enumerate(list(inspect.signature(op.forward).parameters.values())[1:]):
        if p.kind == p.VAR_POSITIONAL:
            arrays += [_positive(3, 3), _positive(3, 3)]
        elif i > 0 and p.name in OPTIONS:
            options[p.name] = OPTIONS[p.name]
        elif p.kind == p.KEYWORD_ONLY and p.default is p.empty:
            pytest.fail(
                f"{op.__module__}.{op.__name__}.forward needs option {p.name}: add "
                "sample inputs for it to SAMPLES in tests/test_engine_invariants.py"
            )
        elif p.default is p.empty:
            arrays.append(_positive(3, 3))
    return arrays, options


def _input_grads_after(op, arrays, options, change):
    """op's input gradients when `change(parents, output)` alters arrays in place first."""
    parents = [Tensor(a.copy(), requires_grad=a.dtype.kind == "f") for a in arrays]
    out = op.apply(*parents, **options)
    change(parents, out)
    g = np.random.default_rng(1).uniform(0.5, 1.5, out.shape).astype(out.dtype)
    with np.errstate(all="ignore"):
        grads = out._ctx.backward(g)
    grads = grads if isinstance(grads, tuple) else (grads,)
    return [g.materialize() if isinstance(g, ScaledGrad) else g for g in grads], out, parents


def _negate(tensor):
    data = tensor.data
    np.negative(data, out=data)
    data += 0.125


def _same(grads_a, grads_b):
    return all(
        (a is None and b is None)
        or (
            a is not None
            and b is not None
            and np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)
        )
        for a, b in zip(grads_a, grads_b)
    )


@pytest.mark.parametrize(
    "op", _function_classes(), ids=lambda op: f"{op.__module__.rsplit('.', 1)[-1]}.{op.__name__}"
)
def test_every_array_a_backward_reads_is_declared_in_saves(op):
    """Change each input (and the output) in place after the forward: if the gradients
    change, the backward reads it, and it must be in `saves` (or `saves_output`)."""
    arrays, options = _sample(op)
    try:
        baseline, out, parents = _input_grads_after(op, arrays, options, lambda *_: None)
    except tg.errors.TinygradError as err:
        pytest.fail(
            f"{op.__name__} refused the generic sample ({err}): add sample inputs "
            "for it to SAMPLES in tests/test_engine_invariants.py"
        )
    declared = set(out._ctx.saves)
    for i, a in enumerate(arrays):
        if a.dtype.kind != "f":
            continue
        grads, out, parents = _input_grads_after(
            op, arrays, options, lambda parents, out, i=i: _negate(parents[i])
        )
        if not _same(grads, baseline):
            via_output = op.saves_output and np.may_share_memory(out.data, parents[i].data)
            assert i in declared or via_output, (
                f"{op.__name__}.backward reads input {i}: declare it in `saves`"
            )
    if out.data.flags.writeable:
        grads, _, _ = _input_grads_after(op, arrays, options, lambda parents, out: _negate(out))
        if not _same(grads, baseline):
            assert op.saves_output, f"{op.__name__}.backward reads its output: set saves_output"


class _ReadsItsInput(Function):
    def forward(self, a):
        self.a = a
        return a * a

    def backward(self, g):
        return 2 * g * self.a


class _ReadsItsOutput(Function):
    def forward(self, a):
        self.out = np.exp(a)
        return self.out

    def backward(self, g):
        return g * self.out


@pytest.mark.parametrize(
    "op, declaration, fix",
    [
        (_ReadsItsInput, {"saves": (0,)}, "declare it in `saves`"),
        (_ReadsItsOutput, {"saves_output": True}, "set saves_output"),
    ],
)
def test_the_audit_catches_an_undeclared_read(op, declaration, fix):
    """The audit above fails for an op that does not declare what it reads, and passes
    once it does."""
    with pytest.raises(AssertionError, match=fix):
        test_every_array_a_backward_reads_is_declared_in_saves(op)
    test_every_array_a_backward_reads_is_declared_in_saves(type("Declared", (op,), declaration))


def test_l2_penalty_saves_every_weight():
    weights = [Tensor(randn(2, 2), requires_grad=True) for _ in range(3)]
    loss = nn.l2_penalty(weights, 0.1)
    weights[2]._version += 1
    with pytest.raises(GraphError, match=r"L2Penalty saved for backward \(input 2"):
        loss.backward()


# ----- a leaf's .grad never shares memory with the graph --------------------------------


@pytest.mark.parametrize("change", ["zero", "clip"])
def test_changing_a_leaf_grad_in_place_does_not_change_the_next_backward(change):
    """SoftmaxCrossEntropy's backward returns the dlogits it saved; the leaf logits must
    get a copy, or zeroing (clipping) .grad in place corrupts the retained graph."""
    logits = Tensor(randn(4, 3), requires_grad=True)
    loss = F.softmax_cross_entropy(logits, [0, 2, 1, 2])
    loss.backward(retain_graph=True)
    first = logits.grad.copy()
    assert not np.shares_memory(logits.grad, loss._ctx.dlogits)
    if change == "zero":
        logits.grad[...] = 0
    else:
        np.clip(logits.grad, -1e-3, 1e-3, out=logits.grad)
    logits.grad = None
    loss.backward()
    np.testing.assert_array_equal(logits.grad, first)


# ----- tied weights and frozen parameters -----------------------------------------------


def _tied_model():
    first, second = nn.Linear(3, 3, dtype=np.float64), nn.Linear(3, 3, dtype=np.float64)
    second.weight = first.weight
    return nn.Sequential(first, nn.ReLU(), second)


def test_a_tied_weight_is_one_parameter_under_its_first_name():
    model = _tied_model()
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "2.bias"]
    params = model.parameters()
    assert len(params) == 3 and params[0] is model[0].weight is model[2].weight


def test_a_module_used_twice_lists_its_parameters_once():
    layer = nn.Linear(3, 3)
    model = nn.Sequential(layer, nn.ReLU(), layer)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    assert sorted(model.state_dict()) == ["0.bias", "0.weight", "2.bias", "2.weight"]


def test_a_tied_weight_is_stepped_once_with_its_summed_gradient():
    model = _tied_model()
    w = model[0].weight
    x = Tensor(randn(4, 3))
    model(x).sum().backward()
    # closed form: out = relu(x W + b0) W + b2; dW = xᵀ (1 Wᵀ ⊙ [z > 0]) + hᵀ 1
    z = x.data @ w.data + model[0].bias.data
    h, ones = np.maximum(z, 0), np.ones((4, 3))
    expected = x.data.T @ ((ones @ w.data.T) * (z > 0)) + h.T @ ones
    np.testing.assert_allclose(w.grad, expected, rtol=1e-12)
    before = w.data.copy()
    optim.SGD(model.parameters(), lr=0.1).step()
    np.testing.assert_array_equal(w.data, before - 0.1 * w.grad)


def test_state_dict_lists_a_tied_weight_under_each_name_and_loads_it_once():
    model, other = _tied_model(), _tied_model()
    state = model.state_dict()
    assert sorted(state) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    np.testing.assert_array_equal(state["0.weight"], state["2.weight"])
    other.load_state_dict(state)
    assert other[0].weight is other[2].weight
    np.testing.assert_array_equal(other[0].weight.data, model[0].weight.data)
    assert other[0].weight._version == 1  # written once


def test_load_state_dict_refuses_different_values_for_a_tied_weight():
    model = _tied_model()
    before = model.state_dict()
    state = model.state_dict()
    state["2.weight"] = state["2.weight"] + 1
    with pytest.raises(ShapeError, match="0.weight and 2.weight are one tied tensor"):
        model.load_state_dict(state)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_load_state_dict_needs_every_name_of_a_tied_weight():
    model = _tied_model()
    state = model.state_dict()
    del state["2.weight"]
    with pytest.raises(ShapeError, match="missing 2.weight"):
        model.load_state_dict(state)


def test_a_frozen_parameter_stays_a_parameter_and_in_the_state_dict():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    model[0].weight.requires_grad = False
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    state = model.state_dict()
    assert "0.weight" in state
    fresh = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    fresh[0].weight.requires_grad = False
    fresh.load_state_dict(state)
    np.testing.assert_array_equal(fresh[0].weight.data, model[0].weight.data)


def test_an_optimizer_skips_a_frozen_parameter():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    model[0].weight.requires_grad = False
    frozen = model[0].weight.data.copy()
    opt = optim.SGD(model.parameters(), lr=0.1)
    nn.SoftmaxCrossEntropy()(
        model(Tensor(randn(5, 3).astype(np.float32))), [0, 1, 0, 1, 1]
    ).backward()
    assert model[0].weight.grad is None and model[0].bias.grad is not None
    opt.step()
    np.testing.assert_array_equal(model[0].weight.data, frozen)


def test_tensors_that_are_not_leaf_floats_are_not_parameters():
    class Holder(nn.Module):
        def __init__(self):
            self.weight = Tensor(randn(2), requires_grad=True)
            self.labels = Tensor(np.array([0, 1]))  # integer: data, not a parameter
            self.cached = self.weight * 2  # computed: not a leaf

    assert [n for n, _ in Holder().named_parameters()] == ["weight"]


# ----- edge cases: x ** p at 0, max over NaN, NumPy scalars ------------------------------


@pytest.mark.parametrize(
    "p, expected",
    [(0, [0.0, 0.0, 0.0]), (1, [1.0, 1.0, 1.0]), (2, [0.0, 2.0, -4.0]), (3, [0.0, 3.0, 12.0])],
)
def test_power_gradient_at_zero_is_finite(p, expected):
    x = Tensor(np.array([0.0, 1.0, -2.0]), requires_grad=True)
    (x**p).sum().backward()
    np.testing.assert_array_equal(x.grad, expected)


@pytest.mark.parametrize("p", [0, 1, 2, 0.5, -1.0])
def test_power_gradient_at_zero_matches_torch(p):
    torch = pytest.importorskip("torch")
    values = np.array([0.0, 1.0, 2.5])
    x = Tensor(values, requires_grad=True)
    with np.errstate(divide="ignore"):  # 0 ** -1 and 0 ** -0.5 are inf, as in torch
        (x**p).sum().backward()
    t = torch.tensor(values, requires_grad=True)
    (t**p).sum().backward()
    np.testing.assert_array_equal(x.grad, t.grad.numpy())


NAN = np.nan


def test_max_gives_the_gradient_to_the_nan_it_selects():
    x = Tensor(np.array([[1.0, NAN, 3.0], [2.0, 5.0, 5.0]]), requires_grad=True)
    m = x.amax(dim=1)
    assert np.isnan(m.data[0])
    m.sum().backward()
    np.testing.assert_array_equal(x.grad, [[0.0, 1.0, 0.0], [0.0, 0.5, 0.5]])


def test_max_over_everything_with_nans_matches_torch_max():
    torch = pytest.importorskip("torch")
    values = np.array([[1.0, NAN, 3.0], [NAN, 5.0, 5.0]])
    x = Tensor(values, requires_grad=True)
    x.max().backward()
    t = torch.tensor(values, requires_grad=True)
    t.max().backward()
    np.testing.assert_array_equal(x.grad, t.grad.numpy())  # 0.5 to each NaN


NUMBERS = [
    1,
    1.5,
    True,
    np.int64(1),
    np.int32(2),
    np.uint8(3),
    np.float64(1.5),
    np.float16(2.0),
    np.float32(0.5),
    np.bool_(True),
]


@pytest.mark.parametrize("number", NUMBERS, ids=repr)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_number_never_changes_a_float_tensors_dtype(dtype, number):
    x = Tensor(np.ones(3, dtype=dtype), requires_grad=True)
    results = [
        x + number,
        number + x,
        x - number,
        number - x,
        x * number,
        number * x,
        x / number,
        number / x,
    ]
    assert all(r.dtype == dtype for r in results)
    sum(r.sum() for r in results).backward()
    assert x.grad.dtype == dtype


def test_a_numpy_number_with_a_float64_default_keeps_float32():
    previous = tg.get_default_dtype()
    tg.set_default_dtype(np.float64)
    try:
        x = Tensor(np.ones(2, dtype=np.float32))
        assert (x + np.int64(1)).dtype == np.float32 and (x * True).dtype == np.float32
    finally:
        tg.set_default_dtype(previous)
