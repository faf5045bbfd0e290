"""Module: the base of every layer, which finds parameters and sub-layers by itself.

A Module's parameters are its attributes that are leaf float Tensors, whether or not
they require grad (a frozen weight is still part of the model: it is saved and
loaded, and optimizers skip it because it gets no gradient); its sub-modules are its
attributes that are Modules. Both are found by scanning the attributes in the order
they were first assigned; setting one to None removes it. Names join with dots
("0.weight"), as in PyTorch, so state dicts are interchangeable in spirit.

Layers kept in a plain Python list or dict are NOT found (as in PyTorch): their
parameters are not trained, saved or converted. Hold them in `nn.ModuleList` or
`nn.ModuleDict` (or `nn.Sequential`) instead.

Buffers (`register_buffer`) are tensors that belong to the model's state but are not
trained (running statistics, fixed masks): they are in `state_dict()` (unless
registered with persistent=False) and converted by `.to()`, but never parameters.

A tensor shared by several layers (tied weights) is one parameter:
`named_parameters()` and `parameters()` list it once, under the first name found, so
an optimizer steps it once; `state_dict()` lists it under each of its names, as
PyTorch does, and `load_state_dict()` writes it once and requires the same values
under each name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt

from ..convert import shown, with_article
from ..dtypes import check_float_dtype
from ..engine import Tensor
from ..errors import ConfigError, ShapeError

_BUFFERS = "_buffers"  # the instance attribute {buffer name: persistent}, made on first use

Named = Iterator[tuple[str, Tensor]]
M = TypeVar("M", bound="Module")


class IncompatibleKeys(NamedTuple):
    """The names load_state_dict(strict=False) skipped, as PyTorch returns them."""

    missing_keys: list[str]
    unexpected_keys: list[str]

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return (
            f"IncompatibleKeys(missing_keys={self.missing_keys}, "
            f"unexpected_keys={self.unexpected_keys})"
        )


class Module:
    """The base class of layers and models: subclass it, assign parameters (Tensors) and
    layers (Modules) as attributes in __init__, and define forward().

    Layers in a plain list or dict attribute are not registered (as in PyTorch): the
    model would not train, save or convert them. Use nn.ModuleList / nn.ModuleDict.

    Examples:
        >>> class TwoLayer(nn.Module):
        ...     def __init__(self):
        ...         self.hidden, self.out = nn.Linear(4, 8), nn.Linear(8, 2)
        ...     def forward(self, x):
        ...         return self.out(self.hidden(x).relu())
        >>> model = TwoLayer()
        >>> [name for name, _ in model.named_parameters()]
        ['hidden.weight', 'hidden.bias', 'out.weight', 'out.bias']
        >>> model(tg.ones(3, 4)).shape
        (3, 2)
    """

    training = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the layer: `layer(x)` is `layer.forward(x)` (as PyTorch, without hooks)."""
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The layer's computation, from its inputs to its output: every layer defines it."""
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    # ----- attributes: parameters, buffers and sub-modules are found in vars(self) -----

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._buffer_flags() and not (value is None or isinstance(value, Tensor)):
            raise ConfigError(
                f"{type(self).__name__}: cannot assign {with_article(type(value).__name__)} "
                f"to buffer {name!r}; expected a Tensor or None"
            )
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        object.__delattr__(self, name)
        self._buffer_flags().pop(name, None)

    def _buffer_flags(self) -> dict[str, bool]:
        """{buffer name: persistent} of this module alone (empty if it has none)."""
        flags: dict[str, bool] = vars(self).get(_BUFFERS, {})
        return flags

    def _own_parameters(self) -> list[tuple[str, Tensor]]:
        buffers = self._buffer_flags()
        return [
            (name, value)
            for name, value in vars(self).items()
            if isinstance(value, Tensor)
            and value.is_leaf
            and value.dtype.kind == "f"
            and name not in buffers
        ]

    def _own_buffers(self, persistent_only: bool = False) -> list[tuple[str, Tensor]]:
        values = vars(self)
        return [
            (name, values[name])
            for name, persistent in self._buffer_flags().items()
            if values.get(name) is not None and (persistent or not persistent_only)
        ]

    def _child_items(self) -> list[tuple[str, Module]]:
        """(name, sub-module) in assignment order, a module held twice under each name."""
        return [(name, value) for name, value in vars(self).items() if isinstance(value, Module)]

    def add_module(self, name: str, module: Module | None) -> None:
        """Make `module` the sub-module `name` (as setattr does, with the name checked)."""
        self._check_new_name(name, "module")
        if not (module is None or isinstance(module, Module)):
            raise ConfigError(
                f"{type(self).__name__}.add_module: {with_article(type(module).__name__)} "
                "is not a Module; expected a layer"
            )
        setattr(self, name, module)

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Keep `tensor` as state that is not trained: in state_dict() (if `persistent`),
        converted by .to(), never a parameter. It stays a buffer when reassigned."""
        self._check_new_name(name, "buffer")
        if not (tensor is None or isinstance(tensor, Tensor)):
            raise ConfigError(
                f"register_buffer({name!r}): got {with_article(type(tensor).__name__)}, "
                "expected a Tensor or None"
            )
        _check_flag(persistent, "register_buffer: persistent")
        if _BUFFERS not in vars(self):
            object.__setattr__(self, _BUFFERS, {})
        self._buffer_flags()[name] = bool(persistent)
        setattr(self, name, tensor)

    def _check_new_name(self, name: object, what: str) -> None:
        """A sub-module or buffer name: a non-empty string, no dot, not another attribute
        (a module may replace a module or None, a buffer a buffer)."""
        where = f"{type(self).__name__}: {what} name"
        if not isinstance(name, str) or not name or "." in name:
            raise ConfigError(f"{where} must be a non-empty string without '.', got {name!r}")
        current = vars(self).get(name)
        if what == "buffer":
            free = name not in vars(self) or name in self._buffer_flags()
        else:
            free = current is None or isinstance(current, Module)
        if hasattr(type(self), name) or not free:
            raise ConfigError(
                f"{where} {name!r} is already an attribute of the module; expected a new name"
            )

    # ----- walking the tree ------------------------------------------------------------

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, sub-module) for the direct sub-modules, each once."""
        seen: set[int] = set()
        for name, child in self._child_items():
            if id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self) -> Iterator[Module]:
        """The direct sub-modules themselves, each once."""
        return (child for _, child in self.named_children())

    def named_modules(
        self, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        """(dotted name, module) for this module (named `prefix`) and every module below
        it, parents first; a module held twice is listed once unless remove_duplicate=False."""
        _check_prefix(prefix, "named_modules")
        return self._walk(prefix, set() if remove_duplicate else None)

    def _walk(self, prefix: str, seen: set[int] | None) -> Iterator[tuple[str, Module]]:
        if seen is not None:
            if id(self) in seen:
                return
            seen.add(id(self))
        yield prefix, self
        for name, child in self._child_items():
            yield from child._walk(_joined(prefix, name), seen)

    def modules(self) -> Iterator[Module]:
        """This module and every module below it, each once."""
        return (module for _, module in self.named_modules())

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Named:
        """(dotted name, Tensor) for every parameter of this module (and, if `recurse`, of
        its sub-modules), each tensor once (under its first name)."""
        _check_prefix(prefix, "named_parameters")
        return self._named_members(Module._own_parameters, prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> list[Tensor]:
        """The parameters, each once, as a list (what an optimizer takes)."""
        return [p for _, p in self.named_parameters(recurse=recurse)]

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Named:
        """(dotted name, Tensor) for every buffer, persistent or not, that is not None."""
        _check_prefix(prefix, "named_buffers")
        return self._named_members(Module._own_buffers, prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """The buffers (running statistics, fixed masks) that are not None, each once."""
        return (b for _, b in self.named_buffers(recurse=recurse))

    def _named_members(
        self,
        own: Callable[[Module], list[tuple[str, Tensor]]],
        prefix: str,
        recurse: bool,
        remove_duplicate: bool,
    ) -> Named:
        seen: set[int] = set()
        walk = self.named_modules(prefix, remove_duplicate) if recurse else [(prefix, self)]
        for module_prefix, module in walk:
            for name, tensor in own(module):
                if remove_duplicate and id(tensor) in seen:
                    continue
                seen.add(id(tensor))
                yield _joined(module_prefix, name), tensor

    def _state_by_name(self, prefix: str = "") -> Named:
        """What state_dict() holds, by dotted name (a tied tensor under each of its names):
        each module's parameters, then its persistent buffers, then its sub-modules'."""
        for name, tensor in self._own_parameters() + self._own_buffers(persistent_only=True):
            yield prefix + name, tensor
        for name, child in self._child_items():
            yield from child._state_by_name(prefix + name + ".")

    # ----- modes and bulk changes --------------------------------------------------------

    def apply(self: M, fn: Callable[[Module], Any]) -> M:
        """Call fn(module) on every sub-module (children first), then on self; returns self.
        The usual way to initialise weights: `model.apply(init_weights)`."""
        if not callable(fn):
            raise ConfigError(f"apply: expected a function of a module, got {shown(fn)}")
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def train(self: M, mode: bool = True) -> M:
        """Training mode (dropout active) for this module and all below; returns self."""
        _check_flag(mode, "train: mode")
        self.training = bool(mode)
        for child in self.children():
            child.train(mode)
        return self

    def eval(self: M) -> M:
        """Evaluation mode (dropout is the identity); returns self."""
        return self.train(False)

    def requires_grad_(self: M, requires_grad: bool = True) -> M:
        """Freeze (False) or unfreeze every parameter; returns self. A frozen parameter
        stays a parameter (saved and loaded); it just gets no gradient."""
        _check_flag(requires_grad, "requires_grad_")
        for p in self.parameters():
            p.requires_grad = bool(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget accumulated gradients (backward adds into .grad): set them to None, or,
        with set_to_none=False, fill them with zeros in place."""
        _check_flag(set_to_none, "zero_grad: set_to_none")
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.fill(0)

    def to(self: M, dtype: npt.DTypeLike) -> M:
        """Convert every float parameter and float buffer (and their gradients) to `dtype`
        (float32 or float64: a NumPy dtype, its name, tinygrad_hlcv.float32), in place, and
        return self. The Tensor objects stay, so an optimizer made before still steps them;
        its state (momentum) is not converted, as in PyTorch: convert first."""
        dtype = check_float_dtype(dtype, f"{type(self).__name__}.to")
        tensors = [p for _, p in self.named_parameters()] + list(self.buffers())
        for tensor in {id(t): t for t in tensors}.values():
            if tensor.dtype.kind == "f" and tensor.dtype != dtype:
                tensor.data = tensor.data.astype(dtype)
                tensor._version += 1
                if tensor.grad is not None:
                    tensor.grad = tensor.grad.astype(dtype)
        return self

    def float(self: M) -> M:
        """Convert the float parameters and buffers to float32 in place: `to(np.float32)`."""
        return self.to(np.float32)

    def double(self: M) -> M:
        """Convert the float parameters and buffers to float64 in place: `to(np.float64)`,
        for gradient checks."""
        return self.to(np.float64)

    # ----- saving and loading ------------------------------------------------------------

    def state_dict(self) -> dict[str, np.ndarray]:
        """A plain dict of copies of every parameter's and persistent buffer's array, by
        dotted name (a tied tensor under each of its names).

        Examples:
            >>> model = nn.Sequential(nn.Linear(3, 2))
            >>> {name: array.shape for name, array in model.state_dict().items()}
            {'0.weight': (3, 2), '0.bias': (2,)}
            >>> model.load_state_dict(model.state_dict())
            <All keys matched successfully>
        """
        return {name: t.data.copy() for name, t in self._state_by_name()}

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy arrays from `state` into the parameters and buffers (in place, keeping their
        dtype); returns the names (missing_keys, unexpected_keys).

        strict=True (the default) refuses missing and unexpected names; strict=False skips
        and reports them. Either way a state whose shapes or dtypes do not fit, or that
        gives a tied tensor different values under its names, is refused before anything
        changes, with every mismatch listed."""
        if not isinstance(state, Mapping):
            raise ShapeError(
                f"load_state_dict: expected a dict of arrays by parameter name (as "
                f"state_dict() gives), got {type(state).__name__}"
            )
        _check_flag(strict, "load_state_dict: strict")
        targets = dict(self._state_by_name())
        missing = [name for name in targets if name not in state]
        unexpected = [name for name in state if name not in targets]
        arrays, problems = _state_problems(state, targets)
        if strict:
            problems[:0] = [f"missing {name} {targets[name].shape}" for name in missing] + [
                f"unexpected {name} {_shape_of(state[name])}" for name in unexpected
            ]
        if problems:
            raise ShapeError(
                f"state dict does not fit {type(self).__name__}: " + "; ".join(problems)
            )
        written: set[int] = set()
        for name, tensor in targets.items():
            if name in arrays and id(tensor) not in written:
                written.add(id(tensor))
                np.copyto(tensor.data, arrays[name], casting="same_kind")
                tensor._version += 1
        return IncompatibleKeys(missing, unexpected)

    # ----- printing ----------------------------------------------------------------------

    def extra_repr(self) -> str:
        """The settings repr shows inside the parentheses (a layer overrides it)."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): {child!r}" for name, child in self._child_items()]
        if len(extra_lines) == 1 and not child_lines:
            return f"{type(self).__name__}({extra})"
        if not extra_lines + child_lines:
            return f"{type(self).__name__}()"
        body = "\n".join(extra_lines + child_lines).replace("\n", "\n  ")
        return f"{type(self).__name__}(\n  {body}\n)"


def _joined(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _check_prefix(prefix: object, where: str) -> None:
    if not isinstance(prefix, str):
        raise ConfigError(f"{where}: prefix must be a string, got {shown(prefix)}")


def _check_flag(value: object, where: str) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{where} must be True or False, got {shown(value)}")


def _shape_of(value: Any) -> str:
    """A checkpoint entry's shape for a message, or its type if it has none."""
    try:
        return str(np.shape(value.data if isinstance(value, Tensor) else value))
    except (TypeError, ValueError):
        return f"({type(value).__name__})"


def _state_problems(
    state: Mapping[str, Any], targets: dict[str, Tensor]
) -> tuple[dict[str, np.ndarray], list[str]]:
    """(the state's arrays for the names in `targets`, every way they do not fit)."""
    arrays, problems = {}, []
    for name in [name for name in targets if name in state]:
        value = state[name]
        try:
            arrays[name] = np.asarray(value.data if isinstance(value, Tensor) else value)
        except (TypeError, ValueError, OverflowError):  # ragged lists, ...
            problems.append(
                f"{name}: expected an array, got a {type(value).__name__} "
                "that NumPy cannot make one of (ragged?)"
            )
    for name, array in arrays.items():
        target = targets[name]
        if array.shape != target.shape:
            problems.append(f"{name}: checkpoint has shape {array.shape}, model has {target.shape}")
        elif not np.can_cast(array.dtype, target.dtype, casting="same_kind"):
            problems.append(
                f"{name}: checkpoint has dtype {array.dtype}, expected numbers castable to "
                f"{target.dtype}"
            )
    if not problems:
        problems += _tied_disagreements(arrays, targets)
    return arrays, problems


def _tied_disagreements(arrays: dict[str, np.ndarray], targets: dict[str, Tensor]) -> list[str]:
    """A tied tensor must get the same values under each of its names."""
    first_name: dict[int, str] = {}
    problems = []
    for name, tensor in targets.items():
        if name not in arrays:
            continue
        first = first_name.setdefault(id(tensor), name)
        if first != name and not np.array_equal(
            arrays[first].astype(tensor.dtype), arrays[name].astype(tensor.dtype), equal_nan=True
        ):
            problems.append(
                f"{first} and {name} are one tied tensor in the model but have "
                "different values in the checkpoint"
            )
    return problems
