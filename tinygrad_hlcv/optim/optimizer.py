"""The optimizer base class: parameter groups, per-parameter state and its state dict, as
PyTorch's `torch.optim.Optimizer`.

`opt.param_groups` is a list of dicts, each with its 'params' and its own hyperparameters
(the constructor's values unless the group gives its own). A user or a schedule may change
a group's hyperparameters between steps: step() checks them again before using them.
`opt.state[p]` holds parameter p's buffers. `state_dict()` is PyTorch's format:
    {'state': {index: {buffer: array, ...}}, 'param_groups': [{..., 'params': [index, ...]}]}
with the parameters numbered in group order; `load_state_dict` also reads the single-group
format of earlier versions ({'lr': ..., 'state': [buffers per parameter]}).
"""

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

import numpy as np

from ..convert import shown
from ..engine import Tensor
from ..errors import ConfigError, DTypeError, ShapeError
from ..hyperparams import Hyperparameter

# What the optimizers share; each declares its own in its module. A group's learning rate
# may be 0 (a schedule may end there); the constructor's must be > 0.
LR = Hyperparameter("lr", low=0, low_open=True, words="learning rate")
RATE = Hyperparameter("lr", low=0, words="learning rate")
MOMENTUM = Hyperparameter("momentum", low=0, high=1, high_open=True)
WEIGHT_DECAY = Hyperparameter("weight_decay", low=0)
EPS = Hyperparameter("eps", low=0, low_open=True)
STEP = Hyperparameter("step", low=0, integer=True)  # the step count, in a parameter's state

ParamsT = Iterable[Tensor] | Iterable[Mapping[str, Any]]


def require(condition: bool, message: str) -> None:
    """ConfigError(message) unless condition holds."""
    if not condition:
        raise ConfigError(message)


class Optimizer:
    """Parameter groups, per-parameter state and the step; a subclass declares its
    HYPERPARAMETERS (the keys of every group) and gives the update rule, `_update`,
    which changes θ (and the state's buffers) in place in one pass."""

    HYPERPARAMETERS: ClassVar[dict[str, Hyperparameter]] = {}
    BUFFERS: ClassVar[tuple[str, ...]] = ()  # every buffer a parameter's state may hold
    NONNEGATIVE: ClassVar[tuple[str, ...]] = ()  # buffers of squares (never negative)

    def __init__(self, params: ParamsT, defaults: Mapping[str, Any]) -> None:
        LR.check(defaults["lr"])
        self._check_hyperparameters(defaults, "")
        self.defaults = dict(defaults)
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        self._checked: dict[int, tuple[Any, ...]] = {}  # group -> the values last checked
        for group in _as_groups(params):
            self.add_param_group(group)
        require(
            any(p.requires_grad for p in self._parameters()),
            "no optimizer parameter requires grad; expected at least one with "
            "requires_grad=True (pass model.parameters(); frozen ones are skipped)",
        )

    # ----- hyperparameters as attributes, for code written for one group --------------
    def __getattr__(self, name: str) -> Any:
        """`opt.lr`, `opt.momentum`, ...: the first group's value."""
        groups = self.__dict__.get("param_groups")
        if groups and name in type(self).HYPERPARAMETERS:
            return groups[0][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        """`opt.lr = x` sets the one group's lr (with several groups, set each group's)."""
        if name in type(self).HYPERPARAMETERS and "param_groups" in self.__dict__:
            require(
                len(self.param_groups) == 1,
                f"optimizer.{name} = ... is ambiguous with {len(self.param_groups)} "
                f"parameter groups; expected optimizer.param_groups[i][{name!r}] = ...",
            )
            self.param_groups[0][name] = value  # checked by the next step()
        else:
            super().__setattr__(name, value)

    # ----- groups -----------------------------------------------------------------------
    def add_param_group(self, param_group: Mapping[str, Any]) -> None:
        """Add a group: {'params': tensors, and any hyperparameters of this optimizer}; the
        constructor's values fill in the others. A parameter may be in one group only."""
        where = f"optimizer parameter group {len(self.param_groups)}: "
        require(
            isinstance(param_group, Mapping) and "params" in param_group,
            f"{where}expected a dict with 'params' (and hyperparameters), got {shown(param_group)}",
        )
        unknown = sorted(map(str, set(param_group) - {"params", *self.defaults}))
        require(
            not unknown,
            f"{where}{type(self).__name__} has no hyperparameter "
            f"{', '.join(unknown)}; expected some of {sorted(self.defaults)}",
        )
        params = self._checked_params(param_group["params"])
        group = {**self.defaults, **param_group, "params": params}
        LR.check(group["lr"], where)
        self._check_hyperparameters(group, where)
        self.param_groups.append(group)

    def _checked_params(self, params: object) -> list[Tensor]:
        """The group's parameters as a list of float leaf Tensors, none already in a group."""
        if isinstance(params, Tensor):
            params = [params]
        if not isinstance(params, Iterable) or isinstance(params, (set, Mapping, str)):
            raise ConfigError(
                f"optimizer parameters must be a list of Tensors (pass "
                f"model.parameters()), got {type(params).__name__}"
            )
        found = list(params)
        index = {id(p): i for i, p in enumerate(self._parameters())}
        for i, p in enumerate(found, start=len(index)):
            what = (
                f"of type {type(p).__name__}"
                if not isinstance(p, Tensor)
                else f"a Tensor of dtype {p.dtype}"
                if p.dtype.kind != "f"
                else "the result of an op, not a leaf"
                if not p.is_leaf
                else None
            )
            require(
                what is None,
                f"optimizer parameters must be float Tensors that are leaves "
                f"of the graph (pass model.parameters()); parameter {i} is "
                f"{what}",
            )
            j = index.setdefault(id(p), i)
            require(
                i == j,
                f"optimizer parameter {i} is the same Tensor as parameter {j}; "
                f"expected each parameter once (a tied weight would be updated "
                f"twice per step)",
            )
        return found

    def _parameters(self) -> list[Tensor]:
        """Every parameter, in group order: index i is parameter i of the state dict."""
        return [p for group in self.param_groups for p in group["params"]]

    def _check_hyperparameters(self, group: Mapping[str, Any], where: str) -> None:
        for name, declared in type(self).HYPERPARAMETERS.items():
            declared.check(group.get(name), where)

    # ----- the step ---------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the accumulated gradients (backward adds into .grad): None, or zeros."""
        for p in self._parameters():
            if p.grad is not None:
                p.grad = None if set_to_none else np.zeros_like(p.grad)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update, in place, every parameter that has a gradient, and bump its version.
        `closure` (optional) recomputes the loss, which step() returns."""
        loss = closure() if closure is not None else None
        first = 0
        for g, group in enumerate(self.param_groups):
            self._check_if_changed(g, group)
            for i, p in enumerate(group["params"], start=first):
                if p.grad is not None:
                    self._update(p.data, _gradient(p, i), self.state[p], group)
                    p._versions.value += 1
            first += len(group["params"])
        return loss

    def _check_if_changed(self, g: int, group: Mapping[str, Any]) -> None:
        """Check group g's hyperparameters again if any changed since the last check (set
        by a user or a schedule): equal values of the same types need no second check."""
        values = tuple(_frozen(group.get(name)) for name in type(self).HYPERPARAMETERS)
        if not all(map(_same, values, self._checked.get(g, (object(),) * len(values)))):
            self._check_hyperparameters(group, f"optimizer parameter group {g}: ")
            self._checked[g] = values

    def _update(
        self, theta: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: Mapping[str, Any]
    ) -> None:
        raise NotImplementedError

    def _required_buffers(self, group: Mapping[str, Any]) -> tuple[str, ...]:
        """The buffers a parameter's state holds after a step with these hyperparameters."""
        return type(self).BUFFERS

    # ----- state dicts ------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """{'state': {index: buffers}, 'param_groups': [...]}, as PyTorch's; copies."""
        index = {id(p): i for i, p in enumerate(self._parameters())}
        groups = [
            {
                **{k: v for k, v in group.items() if k != "params"},
                "params": [index[id(p)] for p in group["params"]],
            }
            for group in self.param_groups
        ]
        state = {
            index[id(p)]: _copied(buffers)
            for p, buffers in self.state.items()
            if buffers and id(p) in index
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what state_dict() gave (buffers cast to each parameter's dtype); a state
        that does not fit this optimizer changes nothing."""
        state_dict = self._from_earlier_format(state_dict)
        require(
            isinstance(state_dict, Mapping)
            and "state" in state_dict
            and "param_groups" in state_dict,
            "optimizer state must be a dict with 'state' and 'param_groups' (as "
            "state_dict() gives), got "
            + (
                str(sorted(map(str, state_dict)))
                if isinstance(state_dict, Mapping)
                else shown(state_dict)
            ),
        )
        groups = self._checked_groups(state_dict["param_groups"])
        params = {
            i: p for i, p in zip((i for g in groups for i in g["params"]), self._parameters())
        }
        saved = state_dict["state"]
        require(
            isinstance(saved, Mapping),
            f"optimizer state: 'state' must be a dict of per-parameter buffers, got {shown(saved)}",
        )
        group_of = {i: g for g in groups for i in g["params"]}
        for i, buffers in saved.items():
            require(
                i in params,
                f"optimizer state holds parameter {shown(i)}, which no "
                f"parameter group lists; expected some of {sorted(params)}",
            )
            self._check_buffers(
                f"optimizer state of parameter {i}: ", params[i], buffers, group_of[i]
            )
        self.state = defaultdict(
            dict, {params[i]: _copied(buffers, params[i].dtype) for i, buffers in saved.items()}
        )
        self.param_groups = [
            {**g, "params": current["params"]} for g, current in zip(groups, self.param_groups)
        ]

    def _checked_groups(self, groups: object) -> list[dict[str, Any]]:
        """The saved groups, checked against this optimizer's: as many, of the same sizes,
        with valid hyperparameters, numbering each parameter once."""
        if not (isinstance(groups, (list, tuple)) and len(groups) == len(self.param_groups)):
            raise ConfigError(
                f"optimizer state: expected 'param_groups' as a list of "
                f"{len(self.param_groups)} groups (one per group of this "
                f"optimizer), got "
                + (f"{len(groups)} groups" if isinstance(groups, (list, tuple)) else shown(groups))
            )
        seen: set[object] = set()
        for g, (saved, current) in enumerate(zip(groups, self.param_groups)):
            where = f"optimizer state, parameter group {g}: "
            require(
                isinstance(saved, Mapping)
                and isinstance(saved.get("params"), list)
                and len(saved["params"]) == len(current["params"]),
                f"{where}expected a dict with 'params', a list of "
                f"{len(current['params'])} parameter numbers, got {shown(saved)}",
            )
            self._check_hyperparameters(saved, where)
            numbers = saved["params"]
            require(
                all(isinstance(i, int) for i in numbers)
                and not seen & set(numbers)
                and len(set(numbers)) == len(numbers),
                f"{where}expected distinct parameter numbers, got {numbers}",
            )
            seen |= set(numbers)
        return [dict(g) for g in groups]

    def _check_buffers(
        self, where: str, p: Tensor, buffers: object, group: Mapping[str, Any]
    ) -> None:
        if not isinstance(buffers, Mapping):
            raise ConfigError(f"{where}expected a dict of buffers, got {type(buffers).__name__}")
        required = set(self._required_buffers(group))
        require(
            set(buffers) <= set(type(self).BUFFERS) and required <= set(buffers),
            f"{where}expected the buffers {sorted(required)} of {type(self).__name__} "
            f"(or none), got {sorted(map(str, buffers))}",
        )
        for key, value in buffers.items():
            if key == "step":
                STEP.check(value, where)
                continue
            require(
                isinstance(value, np.ndarray)
                and value.dtype.kind == "f"
                and value.shape == p.shape,
                f"{where}expected {key} as a float array of the parameter's shape "
                f"{p.shape}, got "
                + (
                    f"{value.dtype} {value.shape}"
                    if isinstance(value, np.ndarray)
                    else shown(value)
                ),
            )
            squares = key in type(self).NONNEGATIVE
            require(
                bool(np.isfinite(value).all()) and (not squares or bool((value >= 0).all())),
                f"{where}{key} holds NaN, Inf"
                + (" or negative values" if squares else " values")
                + "; expected the finite buffers of a healthy run",
            )

    def _from_earlier_format(self, state: Any) -> Any:
        """{'lr': x, 'state': [buffers per parameter]} (one group) in PyTorch's format."""
        if not (isinstance(state, Mapping) and set(state) == {"lr", "state"}):
            return state
        LR.check(state["lr"], where="optimizer state: ")
        entries, n = state["state"], len(self._parameters())
        require(
            isinstance(entries, (list, tuple)),
            f"optimizer state: 'state' must be a list "
            f"of per-parameter dicts, got "
            f"{type(entries).__name__}",
        )
        require(
            len(entries) == n and len(self.param_groups) == 1,
            f"optimizer state has {len(entries)} parameters in one group, expected {n} in "
            f"{len(self.param_groups)} (one per parameter of this optimizer)",
        )
        renamed = {"m": "exp_avg", "s": "exp_avg_sq"}  # Adam's buffers, as they were called
        group = {k: v for k, v in self.param_groups[0].items() if k != "params"}
        return {
            "state": {
                i: ({renamed.get(k, k): v for k, v in s.items()} if isinstance(s, Mapping) else s)
                for i, s in enumerate(entries)
                if not isinstance(s, Mapping) or s
            },
            "param_groups": [{**group, "lr": state["lr"], "params": list(range(n))}],
        }


def _as_groups(params: object) -> list[Mapping[str, Any]]:
    """The constructor's `params` as a list of groups: tensors make one group."""
    require(
        isinstance(params, Iterable) and not isinstance(params, (Tensor, Mapping, str, set)),
        f"optimizer parameters must be an iterable of Tensors (pass model.parameters()) or "
        f"of parameter groups (dicts), got {type(params).__name__}",
    )
    items = list(params)  # type: ignore[call-overload]
    require(
        bool(items),
        "optimizer got an empty parameter list; expected the parameters of a "
        "model (model.parameters())",
    )
    if all(isinstance(item, Mapping) for item in items):
        return items
    return [{"params": items}]


def _gradient(p: Tensor, i: int) -> np.ndarray:
    """p.grad, checked: a float array of p's shape (a user may have assigned anything)."""
    g = p.grad
    if not (isinstance(g, np.ndarray) and g.dtype.kind == "f"):
        raise DTypeError(
            f"optimizer parameter {i}: .grad is "
            + (
                f"an array of dtype {g.dtype}"
                if isinstance(g, np.ndarray)
                else f"of type {type(g).__name__}"
            )
            + "; expected a float array of the parameter's shape"
        )
    if g.shape != p.shape:
        raise ShapeError(
            f"optimizer parameter {i}: .grad has shape {g.shape}, expected the "
            f"parameter's shape {p.shape}"
        )
    return g


def _frozen(value: Any) -> Any:
    """A hyperparameter's value as it is now: a list (Adam's betas) is copied."""
    return tuple(value) if isinstance(value, list) else value


def _same(a: Any, b: Any) -> bool:
    """True if a and b are one object or equal values of one type (True is not 1)."""
    return a is b or (type(a) is type(b) and bool(a == b))


def _copied(buffers: Mapping[str, Any], dtype: np.dtype | None = None) -> dict[str, Any]:
    """The buffers with each array copied (cast to `dtype` if given): the optimizer changes
    its arrays in place, a checkpoint must not change."""
    return {
        k: (v.astype(dtype or v.dtype) if isinstance(v, np.ndarray) else v)
        for k, v in buffers.items()
    }


def zeros_like(theta: np.ndarray) -> np.ndarray:
    """A new buffer for θ: C-contiguous (so the kernels take it), θ's dtype, zeros."""
    return np.zeros(theta.shape, theta.dtype)
