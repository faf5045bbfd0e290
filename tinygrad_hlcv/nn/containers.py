"""Containers of layers whose parameters the model sees: Sequential, ModuleList, ModuleDict.

A plain Python list or dict of layers hides them from the Module (their parameters are
not trained, saved or converted), as in PyTorch; these hold them as sub-modules named
"0", "1", ... (or by key), so `state_dict()` names match PyTorch's for the same structure.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from typing import Any, TypeVar, overload

from ..convert import shown, with_article
from ..errors import ConfigError, IndexingError
from .module import Module

L = TypeVar("L", bound="_Layers")


def _checked(owner: str, modules: object) -> list[Module]:
    """`modules` as a list, after checking that it is an iterable of Modules."""
    if not isinstance(modules, Iterable):
        raise ConfigError(
            f"{owner}: expected an iterable of Modules (a list of layers), got {shown(modules)}"
        )
    listed = list(modules)
    for i, module in enumerate(listed):
        _check_module(owner, module, f"item {i}")
    return listed


def _check_module(owner: str, module: object, what: str) -> None:
    if not isinstance(module, Module):
        raise ConfigError(
            f"{owner}: {what} is {with_article(type(module).__name__)}, expected a Module (a layer)"
        )


class _Layers(Module):
    """What ModuleList and Sequential share: layers in order, indexed by position."""

    def _layers(self) -> list[Module]:
        return [module for _, module in self._child_items()]

    def _position(self, index: object, inserting: bool = False) -> int:
        """`index` (negative counts from the end) as a position in 0..len-1 (0..len when
        inserting), or IndexingError."""
        n, owner = len(self), type(self).__name__
        try:
            i = operator.index(index)  # type: ignore[arg-type]
        except TypeError:
            raise IndexingError(
                f"{owner} indices must be integers or slices, got {shown(index)}"
            ) from None
        if not -n <= i <= (n if inserting else n - 1):
            raise IndexingError(
                f"{owner} has {n} modules, no index {i}; expected "
                f"{-n} <= index {'<=' if inserting else '<'} {n}"
            )
        return i + n if i < 0 else i

    def _renumber(self, layers: list[Module]) -> None:
        """Hold exactly `layers`, named "0", "1", ... in order."""
        for name, _ in self._child_items():
            delattr(self, name)
        for i, module in enumerate(layers):
            setattr(self, str(i), module)

    def __len__(self) -> int:
        return len(self._child_items())

    def __iter__(self) -> Iterator[Module]:
        return iter(self._layers())

    def __setitem__(self, index: int, module: Module) -> None:
        """Replace the layer at `index` (it keeps its name)."""
        _check_module(type(self).__name__, module, "the new layer")
        name, _ = self._child_items()[self._position(index)]
        setattr(self, name, module)

    def __delitem__(self, index: int | slice) -> None:
        """Remove a layer (or a slice of them); the rest are renumbered 0, 1, ... (PyTorch)."""
        layers = self._layers()
        if isinstance(index, slice):
            del layers[index]
        else:
            del layers[self._position(index)]
        self._renumber(layers)

    def append(self: L, module: Module) -> L:
        """Add a layer at the end; returns self."""
        _check_module(type(self).__name__, module, "the appended layer")
        names = {name for name, _ in self._child_items()}
        free = next(str(i) for i in itertools.count(len(self)) if str(i) not in names)
        setattr(self, free, module)
        return self

    def extend(self: L, modules: Iterable[Module]) -> L:
        """Append every layer of `modules` (checked first: nothing changes on an error)."""
        for module in _checked(f"{type(self).__name__}.extend", modules):
            self.append(module)
        return self

    def _insert(self, index: int, module: Module) -> None:
        _check_module(type(self).__name__, module, "the inserted layer")
        layers = self._layers()
        layers.insert(self._position(index, inserting=True), module)
        self._renumber(layers)

    def pop(self, index: int = -1) -> Module:
        """Remove the layer at `index` (the last by default) and return it."""
        module = self._layers()[self._position(index)]
        del self[index]
        return module


class ModuleList(_Layers):
    """A list of layers registered as sub-modules "0", "1", ...: what to use instead of a
    plain Python list, whose layers the model would not see. No forward of its own."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        if modules is not None:
            self.extend(modules)

    @overload
    def __getitem__(self, index: int) -> Module: ...
    @overload
    def __getitem__(self, index: slice) -> ModuleList: ...
    def __getitem__(self, index: int | slice) -> Module | ModuleList:
        if isinstance(index, slice):
            return ModuleList(self._layers()[index])
        return self._layers()[self._position(index)]

    def insert(self, index: int, module: Module) -> None:
        """Insert a layer before position `index` (as list.insert, but out-of-range indices
        are an error); the layers are renumbered."""
        self._insert(index, module)

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        self.extend(modules)
        return self

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        """A new ModuleList of this one's layers then `other`'s (the same layer objects)."""
        return ModuleList(self._layers() + _checked("ModuleList +", other))


class Sequential(_Layers):
    """Layers applied one after the other: Sequential(layer1, layer2, ...), named "0",
    "1", ..., or Sequential({"name": layer, ...}) (a dict or OrderedDict) with those names.

    Indexable by position (`model[0]`, `model[-1]`); a slice is a Sequential of the same
    layer objects under their names, as in PyTorch. `del model[i]` and `insert` renumber
    the layers 0, 1, ...; `append` names the new layer by the first free number.

    Examples:
        >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> model(tg.ones(5, 4)).shape, type(model[-1]).__name__, len(model)
        ((5, 2), 'Linear', 3)"""

    def __init__(self, *layers: Module | Mapping[str, Module]) -> None:
        named: list[tuple[Any, Any]]
        if len(layers) == 1 and isinstance(layers[0], Mapping):
            named = list(layers[0].items())
        else:
            named = [(str(i), layer) for i, layer in enumerate(layers)]
        for name, layer in named:
            _check_module("Sequential", layer, f"layer {name!r}")
            self.add_module(name, layer)

    @overload
    def __getitem__(self, index: int) -> Module: ...
    @overload
    def __getitem__(self, index: slice) -> Sequential: ...
    def __getitem__(self, index: int | slice) -> Module | Sequential:
        if isinstance(index, slice):
            return Sequential(dict(self._child_items()[index]))
        return self._layers()[self._position(index)]

    def insert(self, index: int, module: Module) -> Sequential:
        """Insert a layer before position `index`; the layers are renumbered; returns self."""
        self._insert(index, module)
        return self

    def __add__(self, other: Sequential) -> Sequential:
        """A new Sequential of this one's layers then `other`'s, numbered 0, 1, ..."""
        if not isinstance(other, Sequential):
            raise ConfigError(
                f"Sequential + {with_article(type(other).__name__)}: expected a Sequential"
            )
        return Sequential(*self, *other)

    def forward(self, x: Any) -> Any:
        for layer in self:
            x = layer(x)
        return x


class ModuleDict(Module):
    """Layers by name, registered as sub-modules under those names (in insertion order):
    what to use instead of a plain dict of layers. Has the mapping methods; no forward."""

    def __init__(
        self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None
    ) -> None:
        if modules is not None:
            self.update(modules)

    def _as_dict(self) -> dict[str, Module]:
        return dict(self._child_items())

    def __getitem__(self, key: str) -> Module:
        modules = self._as_dict()
        if not isinstance(key, str) or key not in modules:
            raise KeyError(f"ModuleDict has no key {key!r}; its keys are {list(modules)}")
        return modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        _check_module("ModuleDict", module, f"the value for {key!r}")
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        self[key]  # noqa: B018  (a KeyError naming the keys if it is missing)
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._child_items())

    def __iter__(self) -> Iterator[str]:
        return iter(self._as_dict())

    def __contains__(self, key: object) -> bool:
        return key in self._as_dict()

    def keys(self) -> KeysView[str]:
        """The layers' names, in insertion order."""
        return self._as_dict().keys()

    def values(self) -> ValuesView[Module]:
        """The layers, in insertion order."""
        return self._as_dict().values()

    def items(self) -> ItemsView[str, Module]:
        """(name, layer) pairs, in insertion order."""
        return self._as_dict().items()

    def pop(self, key: str) -> Module:
        """Remove the layer `key` and return it (KeyError naming the keys if it is missing)."""
        module = self[key]
        del self[key]
        return module

    def clear(self) -> None:
        """Remove every layer."""
        for key in list(self):
            del self[key]

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Add or replace layers from a mapping, a ModuleDict or (name, layer) pairs,
        in their order; everything is checked before anything changes."""
        pairs = _pairs(modules)
        for key, module in pairs:
            _check_module("ModuleDict", module, f"the value for {key!r}")
            self._check_new_name(key, "module")
        for key, module in pairs:
            self.add_module(key, module)


def _pairs(modules: object) -> list[tuple[Any, Any]]:
    """(key, value) pairs of a mapping, a ModuleDict or an iterable of pairs."""
    if isinstance(modules, (Mapping, ModuleDict)):
        return list(modules.items())
    if not isinstance(modules, Iterable) or isinstance(modules, (str, Module)):
        raise ConfigError(
            f"ModuleDict: expected a dict of layers or (name, layer) pairs, got {shown(modules)}"
        )
    pairs = list(modules)
    for i, pair in enumerate(pairs):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ConfigError(
                f"ModuleDict: item {i} is {shown(pair)}, expected a (name, layer) pair"
            )
    return [tuple(pair) for pair in pairs]
