"""Module: the base of every layer, which finds parameters and sub-layers by itself.

A Module's parameters are its attributes that are leaf float Tensors, whether or not
they require grad (a frozen weight is still part of the model: it is saved and
loaded, and optimizers skip it because it gets no gradient); its sub-modules are its
attributes that are Modules. Their names join with dots ("0.weight"), as in PyTorch,
so state dicts are interchangeable in spirit.

A tensor shared by several layers (tied weights) is one parameter:
`named_parameters()` and `parameters()` list it once, under the first name found, so
an optimizer steps it once; `state_dict()` lists it under each of its names, as
PyTorch does, and `load_state_dict()` writes it once and requires the same values
under each name.
"""
from collections.abc import Mapping

import numpy as np

from ..engine import Tensor
from ..errors import ShapeError


class Module:
    training = True

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def children(self):
        """(name, sub-module) pairs, in the order they were assigned."""
        return [(name, value) for name, value in vars(self).items() if isinstance(value, Module)]

    def named_parameters(self, prefix=""):
        """(dotted name, Tensor) for every parameter of this module and its sub-modules,
        each tensor once (under its first name)."""
        seen = set()
        for name, p in self._parameters_by_name(prefix):
            if id(p) not in seen:
                seen.add(id(p))
                yield name, p

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def _parameters_by_name(self, prefix=""):
        """(dotted name, Tensor) under every name: a tied tensor once per name."""
        for name, value in vars(self).items():
            if isinstance(value, Tensor) and value.is_leaf and value.dtype.kind == "f":
                yield prefix + name, value
        for name, child in self.children():
            yield from child._parameters_by_name(prefix + name + ".")

    def zero_grad(self):
        """Forget accumulated gradients (backward adds into .grad)."""
        for p in self.parameters():
            p.grad = None

    def train(self, mode=True):
        """Training mode (dropout active); returns self."""
        self.training = mode
        for _, child in self.children():
            child.train(mode)
        return self

    def eval(self):
        """Evaluation mode (dropout is the identity); returns self."""
        return self.train(False)

    def state_dict(self):
        """A plain dict of copies of every parameter's array, by dotted name (a tied
        tensor under each of its names)."""
        return {name: p.data.copy() for name, p in self._parameters_by_name()}

    def load_state_dict(self, state):
        """Copy arrays from `state` into the parameters (in place, keeping their dtype).

        Refuses, before changing anything, a state whose names or shapes differ, or
        that gives a tied tensor different values under its names, listing every
        mismatch."""
        if not isinstance(state, Mapping):
            raise ShapeError(f"load_state_dict: expected a dict of arrays by parameter name (as "
                             f"state_dict() gives), got {type(state).__name__}")
        params = dict(self._parameters_by_name())
        arrays, problems = _state_problems(state, params)
        if problems:
            raise ShapeError(f"state dict does not fit {type(self).__name__}: "
                             + "; ".join(problems))
        for name, p in self.named_parameters():
            np.copyto(p.data, arrays[name], casting="same_kind")
            p._version += 1

    def extra_repr(self):
        return ""

    def __repr__(self):
        children = self.children()
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"  ({name}): " + repr(child).replace("\n", "\n  ") for name, child in children]
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"


def _state_problems(state, params):
    """(the state's arrays by name, every way they do not fit `params`)."""
    arrays, problems = {}, []
    for name, value in state.items():
        try:
            arrays[name] = np.asarray(value.data if isinstance(value, Tensor) else value)
        except (TypeError, ValueError, OverflowError):  # ragged lists, ...
            problems.append(f"{name}: expected an array, got a {type(value).__name__} "
                            "that NumPy cannot make one of (ragged?)")
    problems += [f"missing {name} {p.shape}" for name, p in params.items() if name not in state]
    problems += [f"unexpected {name} {np.shape(v)}" for name, v in arrays.items()
                 if name not in params]
    problems += [f"{name}: checkpoint has shape {arrays[name].shape}, model has {p.shape}"
                 for name, p in params.items()
                 if name in arrays and arrays[name].shape != p.shape]
    problems += [f"{name}: checkpoint has dtype {arrays[name].dtype}, expected numbers "
                 f"castable to {p.dtype}" for name, p in params.items()
                 if name in arrays and arrays[name].dtype.kind not in "fiub"]
    if not problems:
        problems += _tied_disagreements(arrays, params)
    return arrays, problems


def _tied_disagreements(arrays, params):
    """A tied tensor must get the same values under each of its names."""
    first_name, problems = {}, []
    for name, p in params.items():
        first = first_name.setdefault(id(p), name)
        if first != name and not np.array_equal(arrays[first].astype(p.dtype),
                                                arrays[name].astype(p.dtype), equal_nan=True):
            problems.append(f"{first} and {name} are one tied tensor in the model but have "
                            "different values in the checkpoint")
    return problems
