"""Tests for the module system (PyTorch's nn.Module contract): registration by attribute,
buffers, the module tree, apply/train/requires_grad_/zero_grad, dtype conversion,
state dicts, repr, and the containers Sequential, ModuleList and ModuleDict."""

import types
from collections import OrderedDict

import numpy as np
import pytest

import tinygrad_hlcv as tg
from tinygrad_hlcv import Tensor, nn, optim
from tinygrad_hlcv.errors import ConfigError, DTypeError, IndexingError, ShapeError
from tinygrad_hlcv.nn.containers import ModuleDict, ModuleList, Sequential
from tinygrad_hlcv.nn.module import IncompatibleKeys, Module

RNG = np.random.default_rng(0)


def linear(n_in, n_out, bias=True, dtype=np.float64):
    return nn.Linear(n_in, n_out, bias=bias, dtype=dtype, generator=RNG)


def names(pairs):
    return [name for name, _ in pairs]


class WithBuffers(Module):
    """A layer with a parameter, a persistent, a non-persistent and an integer buffer."""

    def __init__(self, n=3, dtype=np.float64):
        self.scale = Tensor(np.ones(n, dtype), requires_grad=True)
        self.register_buffer("running_mean", Tensor(np.zeros(n, dtype)))
        self.register_buffer("scratch", Tensor(np.zeros(n, dtype)), persistent=False)
        self.register_buffer("steps", Tensor(np.array(0, dtype=np.int64)))

    def forward(self, x):
        return x * self.scale + self.running_mean


def nested_model():
    """Containers inside containers, with buffers at two depths."""
    model = Sequential(
        linear(2, 3),
        ModuleList([WithBuffers(3), nn.ReLU(), Sequential(linear(3, 3), nn.ReLU())]),
        ModuleDict({"head": linear(3, 2), "aux": linear(3, 1, bias=False)}),
    )
    model.register_buffer("calls", Tensor(np.zeros(1)))
    return model


def randomize(model, seed):
    rng = np.random.default_rng(seed)
    for tensor in [*model.parameters(), *model.buffers()]:
        tensor.data[...] = rng.integers(-9, 9, tensor.shape)


# ----------------------------------------------------------------------------- registration


def test_a_plain_list_registers_nothing_a_module_list_registers_its_layers():
    class Plain(Module):
        def __init__(self):
            self.layers = [linear(2, 2), linear(2, 2)]

    class Listed(Module):
        def __init__(self):
            self.layers = ModuleList([linear(2, 2), linear(2, 2)])

    assert Plain().parameters() == [] and Plain().state_dict() == {}
    assert names(Listed().named_parameters()) == [
        "layers.0.weight",
        "layers.0.bias",
        "layers.1.weight",
        "layers.1.bias",
    ]
    assert "ModuleList" in Module.__doc__  # the documented answer to the pitfall


def test_own_parameters_come_in_assignment_order_before_the_sub_modules():
    class Mixed(Module):
        def __init__(self):
            self.b = Tensor(np.zeros(2), requires_grad=True)
            self.inner = linear(2, 2)
            self.a = Tensor(np.zeros(2), requires_grad=True)

    model = Mixed()
    expected = ["b", "a", "inner.weight", "inner.bias"]  # PyTorch's order
    assert names(model.named_parameters()) == expected
    assert list(model.state_dict()) == expected


def test_setting_an_attribute_to_none_removes_it_and_reassigning_keeps_its_place():
    model = Sequential(linear(2, 3), nn.ReLU(), linear(3, 2))
    first = model[0]
    first.bias = None
    model[2].weight = None
    assert names(model.named_parameters()) == ["0.weight", "2.bias"]
    assert list(model.state_dict()) == ["0.weight", "2.bias"]
    first.bias = Tensor(np.zeros(3), requires_grad=True)
    assert names(model.named_parameters()) == ["0.weight", "0.bias", "2.bias"]
    setattr(model, "1", None)  # a sub-module set to None is gone
    assert names(model.named_children()) == ["0", "2"]


def test_named_parameters_recurse_prefix_and_checks():
    model = nested_model()
    assert names(model.named_parameters(recurse=False)) == []
    assert names(model[0].named_parameters(prefix="enc")) == ["enc.weight", "enc.bias"]
    with pytest.raises(ConfigError, match="prefix must be a string"):
        list(model.named_parameters(5))


# ----------------------------------------------------------------------------- buffers


def test_buffers_are_state_but_not_parameters():
    layer = WithBuffers()
    assert names(layer.named_parameters()) == ["scale"]
    assert names(layer.named_buffers()) == ["running_mean", "scratch", "steps"]
    assert [b is layer.running_mean for b in layer.buffers()] == [True, False, False]
    assert list(layer.state_dict()) == ["scale", "running_mean", "steps"]  # not scratch
    layer.running_mean = Tensor(np.full(3, 5.0))  # reassigned: still a buffer
    assert names(layer.named_parameters()) == ["scale"]
    np.testing.assert_array_equal(layer.state_dict()["running_mean"], np.full(3, 5.0))
    layer.steps = None  # a None buffer is kept registered but listed nowhere
    assert "steps" not in layer.state_dict() and "steps" not in names(layer.named_buffers())
    del layer.scratch
    assert names(layer.named_buffers()) == ["running_mean"]
    layer.scratch = Tensor(np.zeros(3))  # no longer a buffer: a (frozen) parameter again
    assert names(layer.named_parameters()) == ["scale", "scratch"]


def test_buffers_in_nested_modules_have_dotted_names():
    model = nested_model()
    assert names(model.named_buffers()) == ["calls", "1.0.running_mean", "1.0.scratch", "1.0.steps"]
    assert list(model.state_dict()) == [
        "calls",
        "0.weight",
        "0.bias",
        "1.0.scale",
        "1.0.running_mean",
        "1.0.steps",
        "1.2.0.weight",
        "1.2.0.bias",
        "2.head.weight",
        "2.head.bias",
        "2.aux.weight",
    ]
    assert all(not b.requires_grad for b in model.buffers())
    assert not any(p is b for p in model.parameters() for b in model.buffers())


@pytest.mark.parametrize(
    "name, value, match",
    [
        ("a.b", Tensor(np.zeros(2)), "without '.'"),
        ("", Tensor(np.zeros(2)), "without '.'"),
        (3, Tensor(np.zeros(2)), "without '.'"),
        ("training", Tensor(np.zeros(2)), "already an attribute"),
        ("scale", Tensor(np.zeros(2)), "already an attribute"),  # a parameter's name
        ("fresh", np.zeros(2), "expected a Tensor or None"),
    ],
)
def test_register_buffer_refuses_bad_names_and_values(name, value, match):
    layer = WithBuffers()
    with pytest.raises(ConfigError, match=match):
        layer.register_buffer(name, value)
    with pytest.raises(ConfigError, match="True or False"):
        layer.register_buffer("other", Tensor(np.zeros(2)), persistent="yes")


def test_assigning_a_non_tensor_to_a_buffer_is_refused():
    layer = WithBuffers()
    with pytest.raises(ConfigError, match="buffer 'running_mean'; expected a Tensor or None"):
        layer.running_mean = np.zeros(3)
    assert isinstance(layer.running_mean, Tensor)


def test_load_state_dict_loads_buffers_and_checks_their_dtype():
    source, target = nested_model(), nested_model()
    randomize(source, 1)
    state = source.state_dict()
    assert target.load_state_dict(state) == ([], [])
    for name, value in target.state_dict().items():
        np.testing.assert_array_equal(value, state[name])
    assert target[1][0].steps.dtype == np.int64 and target[1][0].running_mean._version == 1
    state["1.0.steps"] = np.array(2.5)  # a float into an integer buffer
    with pytest.raises(ShapeError, match="1.0.steps: checkpoint has dtype float64"):
        target.load_state_dict(state)


# ----------------------------------------------------------------------------- the tree


def test_children_named_children_modules_and_named_modules():
    shared = linear(3, 3)
    inner = Sequential(shared, nn.ReLU())
    model = Sequential(inner, shared, ModuleDict({"out": linear(3, 1)}))
    assert list(model.children()) == [inner, shared, model[2]]  # the modules, not pairs
    assert names(model.named_children()) == ["0", "1", "2"]
    assert names(model.named_modules()) == ["", "0", "0.0", "0.1", "2", "2.out"]
    assert names(model.named_modules(prefix="net"))[:2] == ["net", "net.0"]
    assert names(model.named_modules(remove_duplicate=False)) == [
        "",
        "0",
        "0.0",
        "0.1",
        "1",
        "2",
        "2.out",
    ]
    assert list(model.modules()) == [m for _, m in model.named_modules()]
    twice = Sequential(shared, shared)
    assert list(twice.children()) == [shared]  # each child once, as PyTorch
    assert len(twice) == 2


def test_apply_visits_children_first_and_returns_self():
    model = nested_model()
    visited = []
    assert model.apply(visited.append) is model
    by_id = {id(m): name for name, m in model.named_modules()}
    assert [by_id[id(m)] for m in visited] == [
        "0",
        "1.0",
        "1.1",
        "1.2.0",
        "1.2.1",
        "1.2",
        "1",
        "2.head",
        "2.aux",
        "2",
        "",
    ]
    with pytest.raises(ConfigError, match="expected a function"):
        model.apply(3)


def test_apply_with_an_init_function():
    def init(module):
        if isinstance(module, nn.Linear):
            module.weight.data[...] = 0.5
            if module.bias is not None:
                module.bias.data[...] = 0.0

    model = nested_model().apply(init)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 4
    for layer in linears:
        assert np.all(layer.weight.data == 0.5)
        assert layer.bias is None or np.all(layer.bias.data == 0)
    assert np.all(model[1][0].scale.data == 1.0)  # not a Linear: untouched


def test_train_and_eval_reach_every_container():
    model = nested_model()
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    assert model.train() is model and all(m.training for m in model.modules())
    with pytest.raises(ConfigError, match="True or False"):
        model.train(5)


def test_requires_grad_false_freezes_every_parameter():
    model = Sequential(linear(3, 4), nn.ReLU(), linear(4, 2))
    assert model[2].requires_grad_(False) is model[2]
    assert [p.requires_grad for p in model.parameters()] == [True, True, False, False]
    assert len(model.parameters()) == 4 and len(model.state_dict()) == 4  # still parameters
    frozen = model[2].weight.data.copy()
    opt = optim.SGD(model.parameters(), lr=0.1)
    model(Tensor(RNG.standard_normal((5, 3)))).sum().backward()
    assert model[2].weight.grad is None and model[0].weight.grad is not None
    opt.step()
    np.testing.assert_array_equal(model[2].weight.data, frozen)
    model.requires_grad_()
    assert all(p.requires_grad for p in model.parameters())


def test_zero_grad_sets_to_none_or_zeros_in_place():
    model = Sequential(linear(3, 2))
    model(Tensor(RNG.standard_normal((4, 3)))).sum().backward()
    grad = model[0].weight.grad
    model.zero_grad(set_to_none=False)
    assert model[0].weight.grad is grad and not grad.any()
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    model.zero_grad(set_to_none=False)  # no gradients: stays None
    assert model[0].weight.grad is None


# ----------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("dtype", ["float64", np.float64, np.dtype("float64"), tg.float64])
def test_to_converts_parameters_and_float_buffers_in_place(dtype):
    model = Sequential(nn.Linear(3, 4, dtype=np.float32), WithBuffers(4, np.float32))
    model[0](Tensor(np.ones((2, 3), np.float32))).sum().backward()
    tensors = {name: t for name, t in model.named_parameters()}
    tensors.update(model.named_buffers())
    versions = {name: t._version for name, t in tensors.items()}
    assert model.to(dtype) is model
    for name, t in [*model.named_parameters(), *model.named_buffers()]:
        assert t is tensors[name]  # the same Tensor objects
        expected = np.int64 if name == "1.steps" else np.float64
        assert t.dtype == expected
        assert t._version == versions[name] + (name != "1.steps")
    assert model[0].weight.grad.dtype == np.float64  # .grad keeps its tensor's dtype
    assert "dtype=float64" in repr(model[0])
    assert model.float() is model and model[0].weight.dtype == np.float32
    assert model[1].running_mean.dtype == np.float32
    before = model[0].weight._version
    model.float()  # already float32: nothing changes
    assert model[0].weight._version == before


@pytest.mark.parametrize("dtype", ["float16", "cpu", np.int64])
def test_to_refuses_what_is_not_float32_or_float64(dtype):
    model = Sequential(nn.Linear(3, 4, dtype=np.float32))
    with pytest.raises(DTypeError, match="float32 or float64"):
        model.to(dtype)
    assert model[0].weight.dtype == np.float32


def test_double_then_a_float64_forward_and_gradient_through_linear():
    model = Sequential(
        nn.Linear(3, 4, dtype=np.float32, generator=RNG),
        nn.ReLU(),
        nn.Linear(4, 2, dtype=np.float32, generator=RNG),
    )
    weights32 = [p.data.copy() for p in model.parameters()]
    opt = optim.SGD(model.parameters(), lr=0.1)  # made before: must still hold them
    model.double()
    x = Tensor(np.random.default_rng(1).standard_normal((5, 3)))
    out = model(x)
    assert out.dtype == np.float64
    w1, b1, w2, b2 = (w.astype(np.float64) for w in weights32)
    np.testing.assert_allclose(out.data, np.maximum(x.data @ w1 + b1, 0) @ w2 + b2, rtol=1e-14)
    out.sum().backward()
    assert all(p.grad.dtype == np.float64 for p in model.parameters())
    before = model[0].weight.data.copy()
    opt.step()
    np.testing.assert_array_equal(model[0].weight.data, before - 0.1 * model[0].weight.grad)
    labels = np.array([0, 1, 1, 0, 1])
    errors = tg.gradcheck(
        lambda: nn.SoftmaxCrossEntropy()(model(x), labels), model, verbose=False, tol=1e-7
    )
    assert set(errors) == {"0.weight", "0.bias", "2.weight", "2.bias"}


# ----------------------------------------------------------------------------- state dicts


def test_load_state_dict_returns_the_incompatible_keys():
    model = nested_model()
    result = model.load_state_dict(model.state_dict())
    assert isinstance(result, IncompatibleKeys)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    missing, unexpected = result
    assert missing == unexpected == []


def test_strict_false_reports_missing_and_unexpected_and_loads_the_rest():
    source, target = nested_model(), nested_model()
    randomize(source, 2)
    state = source.state_dict()
    del state["0.bias"], state["1.0.running_mean"]
    state["extra.weight"] = np.zeros((9, 9))
    state["junk"] = [[1, 2], [3]]  # unexpected names are not even read
    before = target.state_dict()
    result = target.load_state_dict(state, strict=False)
    assert result == IncompatibleKeys(["0.bias", "1.0.running_mean"], ["extra.weight", "junk"])
    assert "missing_keys=['0.bias', '1.0.running_mean']" in repr(result)
    for name, value in target.state_dict().items():
        np.testing.assert_array_equal(value, state[name] if name in state else before[name])


def test_strict_false_still_refuses_wrong_shapes_and_changes_nothing():
    model = nested_model()
    before = model.state_dict()
    state = {name: value + 1 for name, value in before.items()}
    state["2.head.weight"] = np.zeros((2, 3))  # the model has (3, 2)
    state["1.0.scale"] = [[1, 2], [3]]  # ragged
    with pytest.raises(ShapeError) as info:
        model.load_state_dict(state, strict=False)
    assert "2.head.weight: checkpoint has shape (2, 3), model has (3, 2)" in str(info.value)
    assert "1.0.scale: expected an array" in str(info.value)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_strict_true_lists_every_mismatch_including_buffers():
    model = nested_model()
    state = model.state_dict()
    del state["1.0.steps"]
    state["1.0.scratch"] = np.zeros(3)  # non-persistent: not expected in a checkpoint
    with pytest.raises(ShapeError) as info:
        model.load_state_dict(state)
    message = str(info.value)
    assert "missing 1.0.steps ()" in message and "unexpected 1.0.scratch (3,)" in message
    with pytest.raises(ConfigError, match="strict must be True or False"):
        model.load_state_dict(model.state_dict(), strict=None)


def test_a_round_trip_restores_parameters_and_buffers_into_a_fresh_model():
    source = nested_model()
    randomize(source, 3)
    x = Tensor(np.random.default_rng(4).standard_normal((2, 2)))
    target = nested_model()

    def run(model):  # through every layer that has a forward, buffers included
        h = model[0](x)
        for layer in model[1]:
            h = layer(h)
        return model[2]["head"](h).data

    assert not np.array_equal(run(target), run(source))
    target.load_state_dict(source.state_dict())
    np.testing.assert_array_equal(run(target), run(source))


# ----------------------------------------------------------------------------- repr


def test_repr_puts_extra_repr_before_the_children():
    class Block(Module):
        def __init__(self):
            self.inner = Sequential(nn.ReLU())

        def extra_repr(self):
            return "k=3"

    class Multi(Module):
        def extra_repr(self):
            return "a=1\nb=2"

    assert repr(Block()) == "Block(\n  k=3\n  (inner): Sequential(\n    (0): ReLU()\n  )\n)"
    assert repr(Multi()) == "Multi(\n  a=1\n  b=2\n)"
    assert repr(ModuleList()) == "ModuleList()"


# ----------------------------------------------------------------------------- ModuleList


def test_module_list_is_a_list_of_registered_layers():
    a, b, c, d = (nn.ReLU() for _ in range(4))
    layers = ModuleList([a, b])
    assert layers.append(c) is layers
    assert layers.extend([d]) is layers
    assert len(layers) == 4 and list(layers) == [a, b, c, d]
    assert layers[0] is a and layers[-1] is d and layers[-4] is a
    sliced = layers[1:3]
    assert isinstance(sliced, ModuleList) and list(sliced) == [b, c]
    assert names(sliced.named_children()) == ["0", "1"]  # a new list: renumbered
    assert list(layers[::-1]) == [d, c, b, a]
    e = nn.ReLU()
    layers.insert(1, e)
    assert list(layers) == [a, e, b, c, d] and names(layers._child_items())[-1] == "4"
    layers.insert(-1, e)
    assert list(layers) == [a, e, b, c, e, d]
    del layers[1]
    del layers[-2:]
    assert list(layers) == [a, b, c] and names(layers._child_items()) == ["0", "1", "2"]
    assert layers.pop(0) is a and layers.pop() is c and list(layers) == [b]
    layers[0] = d
    assert list(layers) == [d]


def test_module_list_plus_and_in_place_plus():
    a, b, c = nn.ReLU(), nn.ReLU(), nn.ReLU()
    first = ModuleList([a])
    combined = first + [b, c]
    assert isinstance(combined, ModuleList) and list(combined) == [a, b, c]
    assert list(first) == [a]  # unchanged
    first += ModuleList([b])
    assert list(first) == [a, b]
    with pytest.raises(ConfigError, match="item 1 is an int"):
        first + [c, 3]


def test_module_list_refuses_non_modules_and_bad_indices():
    layers = ModuleList([nn.ReLU(), nn.ReLU()])
    with pytest.raises(ConfigError, match="item 1 is a list"):
        layers.extend([nn.ReLU(), [nn.ReLU()]])
    assert len(layers) == 2  # nothing appended
    with pytest.raises(ConfigError, match="expected a Module"):
        layers.append(np.zeros(2))
    with pytest.raises(ConfigError, match="iterable of Modules"):
        ModuleList(nn.ReLU())
    with pytest.raises(ConfigError, match="expected a Module"):
        layers[0] = "relu"
    for bad in (2, -3):
        with pytest.raises(IndexingError, match=r"no index .*expected -2 <= index < 2"):
            layers[bad]
    with pytest.raises(IndexError):  # an IndexError: list(layers) and loops stop there
        layers[5]
    with pytest.raises(IndexingError, match="integers or slices"):
        layers["0"]
    with pytest.raises(IndexingError, match="expected -2 <= index <= 2"):
        layers.insert(3, nn.ReLU())
    with pytest.raises(NotImplementedError):
        layers(Tensor(np.zeros(2)))


def test_shared_parameters_across_module_list_entries():
    layer = linear(3, 3)
    tied = linear(3, 3)
    tied.weight = layer.weight
    blocks = ModuleList([layer, nn.ReLU(), layer, tied])
    assert names(blocks.named_parameters()) == ["0.weight", "0.bias", "3.bias"]
    assert list(blocks.state_dict()) == [
        "0.weight",
        "0.bias",
        "2.weight",
        "2.bias",
        "3.weight",
        "3.bias",
    ]
    x = Tensor(RNG.standard_normal((4, 3)))
    h = x
    for block in blocks:
        h = block(h)
    h.sum().backward()
    # one gradient for the weight, summed over its three uses (the layer twice, tied once)
    w = layer.weight
    numerical = tg.numerical_grad(lambda: _run(blocks, x), w.data)
    np.testing.assert_allclose(w.grad, numerical, rtol=1e-6, atol=1e-8)
    other = ModuleList([linear(3, 3), nn.ReLU(), linear(3, 3), linear(3, 3)])
    other[2] = other[0]
    other[3].weight = other[0].weight
    other.load_state_dict(blocks.state_dict())
    np.testing.assert_array_equal(other[3].weight.data, w.data)
    assert other[0].weight._version == 1  # written once


def _run(blocks, x):
    with tg.no_grad():
        h = x
        for block in blocks:
            h = block(h)
        return h.sum().item()


# ----------------------------------------------------------------------------- ModuleDict


def test_module_dict_has_the_mapping_api():
    relu, lin, drop = nn.ReLU(), linear(2, 2), nn.Dropout(0.5)
    heads = ModuleDict({"act": relu, "fc": lin})
    assert len(heads) == 2 and list(heads) == ["act", "fc"]
    assert heads["fc"] is lin and "act" in heads and "nope" not in heads and 3 not in heads
    assert list(heads.keys()) == ["act", "fc"] and list(heads.values()) == [relu, lin]
    assert list(heads.items()) == [("act", relu), ("fc", lin)]
    heads["act"] = drop  # replacing keeps the position
    heads.update([("extra", relu)])
    heads.update(ModuleDict({"more": nn.ReLU()}))
    assert list(heads) == ["act", "fc", "extra", "more"] and heads["act"] is drop
    del heads["extra"]
    assert heads.pop("more") is not None and list(heads) == ["act", "fc"]
    assert names(heads.named_parameters()) == ["fc.weight", "fc.bias"]
    heads.clear()
    assert len(heads) == 0 and heads.parameters() == []


def test_module_dict_refuses_bad_keys_values_and_missing_keys():
    heads = ModuleDict({"fc": linear(2, 2)})
    with pytest.raises(KeyError, match="no key 'nope'; its keys are \\['fc'\\]"):
        heads["nope"]
    with pytest.raises(KeyError):
        del heads["nope"]
    for key in ("a.b", "", "train", "forward", 1):
        with pytest.raises(ConfigError, match="name"):
            heads[key] = nn.ReLU()
    with pytest.raises(ConfigError, match="expected a Module"):
        heads["x"] = 3
    with pytest.raises(ConfigError, match="value for 'bad'"):
        heads.update({"ok": nn.ReLU(), "bad": "relu"})
    assert list(heads) == ["fc"]  # the valid entry was not added either
    with pytest.raises(ConfigError, match="pair"):
        heads.update([("a", nn.ReLU(), 3)])
    with pytest.raises(ConfigError, match="expected a dict"):
        ModuleDict(5)


# ----------------------------------------------------------------------------- Sequential


def test_sequential_from_layers_or_named_layers():
    first, act, last = linear(3, 4), nn.ReLU(), linear(4, 2)
    for model in (
        Sequential(OrderedDict(fc1=first, act=act, fc2=last)),
        Sequential({"fc1": first, "act": act, "fc2": last}),
    ):
        assert names(model.named_children()) == ["fc1", "act", "fc2"]
        assert model[0] is first and model[-1] is last and model.fc2 is last
        assert list(model.state_dict()) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    x = Tensor(RNG.standard_normal((5, 3)))
    np.testing.assert_array_equal(Sequential(first, act, last)(x).data, last(act(first(x))).data)
    np.testing.assert_array_equal(Sequential()(x).data, x.data)
    with pytest.raises(ConfigError, match="layer '1' is an int"):
        Sequential(act, 3)
    with pytest.raises(ConfigError, match="layer 'b' is a str"):
        Sequential({"a": act, "b": "relu"})
    with pytest.raises(ConfigError, match="name"):
        Sequential({"a.b": act})


def test_sequential_indexing_slicing_and_editing():
    a, b, c, d = linear(2, 2), nn.ReLU(), linear(2, 2), nn.ReLU()
    model = Sequential(a, b, c)
    assert len(model) == 3 and list(model) == [a, b, c]
    tail = model[1:]
    assert isinstance(tail, Sequential) and list(tail) == [b, c]
    assert names(tail.named_children()) == ["1", "2"]  # names kept, as PyTorch
    assert list(tail.state_dict()) == ["2.weight", "2.bias"]
    assert tail.append(d) is tail and names(tail.named_children()) == ["1", "2", "3"]
    assert model.append(d) is model and model[3] is d
    model.extend([a])
    del model[0]
    assert list(model) == [b, c, d, a] and names(model.named_children()) == ["0", "1", "2", "3"]
    assert model.insert(0, c) is model and list(model) == [c, b, c, d, a]
    assert model.pop() is a and model.pop(0) is c and list(model) == [b, c, d]
    model[-1] = a
    assert list(model) == [b, c, a]
    both = model + Sequential(d)
    assert list(both) == [b, c, a, d] and names(both.named_children()) == ["0", "1", "2", "3"]
    with pytest.raises(ConfigError, match="expected a Sequential"):
        model + [d]
    with pytest.raises(IndexingError, match="Sequential has 3 modules, no index 3"):
        model[3]


# ----------------------------------------------------------------------------- PyTorch


def _libs():
    torch = pytest.importorskip("torch")
    ours = types.SimpleNamespace(
        Module=Module,
        Linear=lambda i, o, bias=True: nn.Linear(i, o, bias=bias),
        ReLU=nn.ReLU,
        Sequential=Sequential,
        ModuleList=ModuleList,
        ModuleDict=ModuleDict,
        zeros=lambda n: Tensor(np.zeros(n)),
    )
    return {"torch": (torch.nn, torch.zeros), "ours": (ours, ours.zeros)}


def _structure(lib, zeros):
    class Block(lib.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("running", zeros(3))
            self.fc = lib.Linear(3, 3)
            self.register_buffer("scratch", zeros(3), persistent=False)

        def extra_repr(self):
            return "block=1"

    shared = lib.Linear(3, 3)
    return lib.Sequential(
        lib.Linear(2, 3),
        lib.ModuleList(
            [
                Block(),
                shared,
                lib.ReLU(),
                shared,
                lib.Sequential(OrderedDict(act=lib.ReLU(), out=lib.Linear(3, 3))),
            ]
        ),
        lib.ModuleDict({"head": lib.Linear(3, 2), "aux": lib.Linear(3, 1, bias=False)}),
    )


def _names(model):
    return {
        "state_dict": list(model.state_dict()),
        "named_parameters": names(model.named_parameters()),
        "named_buffers": names(model.named_buffers()),
        "named_modules": names(model.named_modules()),
        "named_modules all": names(model.named_modules(remove_duplicate=False)),
        "named_children": names(model[1].named_children()),
    }


def test_names_match_pytorch_for_the_same_structure():
    got = {lib: _names(_structure(*made)) for lib, made in _libs().items()}
    assert got["ours"] == got["torch"]
    assert "1.3.weight" in got["ours"]["state_dict"]  # a shared layer under both names


def test_container_edits_name_layers_as_pytorch_does():
    def edits(lib, zeros):
        layers = [lib.ReLU() for _ in range(5)]
        seq = lib.Sequential(*layers[:3])
        listed = lib.ModuleList(layers[:3])
        listed.insert(1, layers[3])
        del listed[0]
        listed.append(layers[4])
        del seq[1]
        seq.append(layers[3])
        named = lib.Sequential(OrderedDict(a=layers[0], b=layers[1], c=layers[2]))
        return [
            names(m.named_children())
            for m in (
                seq,
                seq[1:],
                listed,
                listed[1:],
                listed + [layers[0]],
                named[1:],
                named[::2],
                seq + lib.Sequential(layers[4]),
            )
        ]

    got = {lib: edits(*made) for lib, made in _libs().items()}
    assert got["ours"] == got["torch"]


def test_repr_matches_pytorch_for_activations_in_containers():
    def build(lib, zeros):
        class Block(lib.Module):
            def __init__(self):
                super().__init__()
                self.inner = lib.ModuleList([lib.ReLU()])

            def extra_repr(self):
                return "k=3\nm=4"

        return lib.Sequential(
            lib.ReLU(),
            Block(),
            lib.ModuleDict({"act": lib.ReLU()}),
            lib.Sequential(OrderedDict(r=lib.ReLU())),
        )

    got = {lib: repr(build(*made)) for lib, made in _libs().items()}
    assert got["ours"] == got["torch"]
