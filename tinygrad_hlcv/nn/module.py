"""Module: the base of every layer, which finds parameters and sub-layers by itself.

A Module's parameters are its attributes that are Tensors with
requires_grad=True; its sub-modules are its attributes that are Modules. Their
names join with dots ("0.weight"), as in PyTorch, so state dicts are
interchangeable in spirit.
"""
from collections.abc import Mapping

import numpy as np

from ..errors import ShapeError
from ..engine import Tensor


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
        """(dotted name, Tensor) for every parameter of this module and its sub-modules."""
        for name, value in vars(self).items():
            if isinstance(value, Tensor) and value.requires_grad:
                yield prefix + name, value
        for name, child in self.children():
            yield from child.named_parameters(prefix + name + ".")

    def parameters(self):
        return [p for _, p in self.named_parameters()]

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
        """A plain dict of copies of every parameter's array, by dotted name."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state):
        """Copy arrays from `state` into the parameters (in place, keeping their dtype).

        Refuses, before changing anything, a state whose names or shapes differ,
        listing every mismatch."""
        if not isinstance(state, Mapping):
            raise ShapeError(f"load_state_dict: expected a dict of arrays by parameter name (as "
                             f"state_dict() gives), got {type(state).__name__}")
        params = dict(self.named_parameters())
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
        if problems:
            raise ShapeError(f"state dict does not fit {type(self).__name__}: "
                             + "; ".join(problems))
        for name, p in params.items():
            np.copyto(p.data, arrays[name], casting="same_kind")

    def extra_repr(self):
        return ""

    def __repr__(self):
        children = self.children()
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"  ({name}): " + repr(child).replace("\n", "\n  ") for name, child in children]
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"
