"""Learning-rate schedules, as PyTorch's `torch.optim.lr_scheduler`.

A schedule sets each parameter group's 'lr'. Constructing one sets the initial rates (and
records each group's starting rate as 'initial_lr'); each `step()` advances `last_epoch`
by one and sets the rates for it. Call step() once per epoch or once per iteration,
whichever the schedule counts, after the optimizer's step. As in PyTorch the rules are
"chainable": most multiply the group's current rate, so two schedules stepped together
compose, and a rate set by hand carries on from there. `get_last_lr()` gives the rates
the last step set; `state_dict()` / `load_state_dict()` save and restore a schedule (load
the optimizer's state too: the rates live there).

Not offered: `step(epoch)` (deprecated in PyTorch), PyTorch's warnings about the order of
the two step() calls, and the schedules not listed in __all__.
"""

import copy
import math
import types
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from numbers import Real
from typing import Any, ClassVar

from ..convert import is_real, shown
from ..engine import Tensor
from ..errors import ConfigError
from ..hyperparams import Hyperparameter
from .optimizer import Optimizer, require

__all__ = [
    "LRScheduler",
    "LambdaLR",
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "LinearLR",
    "OneCycleLR",
    "BudgetedOneCycleLR",
    "SequentialLR",
    "ReduceLROnPlateau",
]

GAMMA = Hyperparameter("gamma", low=0, high=1, low_open=True)
STEP_SIZE = Hyperparameter("step_size", low=1, integer=True)
MILESTONE = Hyperparameter("milestones", low=0, integer=True, words="each milestone")
T_MAX = Hyperparameter("T_max", low=1, integer=True)
ETA_MIN = Hyperparameter("eta_min", low=0)
START_FACTOR = Hyperparameter("start_factor", low=0, high=1, low_open=True)
END_FACTOR = Hyperparameter("end_factor", low=0, high=1)
TOTAL_ITERS = Hyperparameter("total_iters", low=1, integer=True)
TOTAL_STEPS = Hyperparameter("total_steps", low=1, integer=True)
EPOCHS = Hyperparameter("epochs", low=1, integer=True)
STEPS_PER_EPOCH = Hyperparameter("steps_per_epoch", low=1, integer=True)
MAX_LR = Hyperparameter("max_lr", low=0, low_open=True)
PCT_START = Hyperparameter("pct_start", low=0, high=1)
WARMUP_FRACTION = Hyperparameter("pct_start", low=0, high=1, low_open=True, high_open=True)
FRACTION = Hyperparameter("fraction", low=0)
ANNEAL_STRATEGY = Hyperparameter("anneal_strategy", choices=("cos", "linear"))
DIV_FACTOR = Hyperparameter("div_factor", low=0, low_open=True)
FINAL_DIV_FACTOR = Hyperparameter("final_div_factor", low=0, low_open=True)
FLAG = {name: Hyperparameter(name, flag=True) for name in ("three_phase", "cycle_momentum")}
CYCLED_MOMENTUM = {
    name: Hyperparameter(name, low=0, high=1, high_open=True)
    for name in ("base_momentum", "max_momentum")
}
MODE = Hyperparameter("mode", choices=("min", "max"))
THRESHOLD_MODE = Hyperparameter("threshold_mode", choices=("rel", "abs"))
FACTOR = Hyperparameter("factor", low=0, high=1, high_open=True)
PATIENCE = Hyperparameter("patience", low=0, integer=True)
THRESHOLD = Hyperparameter("threshold", low=0)
COOLDOWN = Hyperparameter("cooldown", low=0, integer=True)
MIN_LR = Hyperparameter("min_lr", low=0)
PLATEAU_EPS = Hyperparameter("eps", low=0)
LAST_EPOCH = Hyperparameter("last_epoch", low=-1, integer=True)
STEP_COUNT = Hyperparameter("_step_count", low=0, integer=True)
RATES = Hyperparameter("learning rates", low=0, words="each rate")
# The state of earlier versions: {'base_lr': ..., 'epoch': ...}
BASE_LR = Hyperparameter("base_lr", low=0, low_open=True)
EPOCH = Hyperparameter("epoch", low=0, integer=True)


def _per_group(declared: Hyperparameter, value: object, optimizer: Optimizer) -> list[Any]:
    """One value for every group, or a list of one per group; each checked."""
    n = len(optimizer.param_groups)
    values = list(value) if isinstance(value, (list, tuple)) else [value] * n
    require(
        len(values) == n,
        f"{declared.name} has {len(values)} values, expected one per "
        f"parameter group ({n}) or a single number",
    )
    for v in values:
        declared.check(v)
    return values


class LRScheduler:
    """The base class: `get_lr()` gives the new rates at `last_epoch` (a subclass's rule);
    `_get_closed_form_lr()`, where a subclass has it, the rates from `base_lrs` alone.
    A subclass declares its attributes' valid values in HYPERPARAMETERS; its constructor
    sets them (with `_set`) before calling this one, which takes the first step.
    The state dict holds the hyperparameters and the attributes named in STATE."""

    HYPERPARAMETERS: ClassVar[dict[str, Hyperparameter]] = {}
    STATE: ClassVar[tuple[str, ...]] = ("base_lrs", "last_epoch", "_step_count", "_last_lr")
    # the valid values of STATE attributes that load_state_dict checks: a number, or a list
    # of one value per parameter group (others: the type state_dict() gives)
    STATE_VALUES: ClassVar[dict[str, Hyperparameter]] = {
        "last_epoch": LAST_EPOCH,
        "_step_count": STEP_COUNT,
    }
    PER_GROUP_STATE: ClassVar[dict[str, Hyperparameter]] = {"base_lrs": RATES, "_last_lr": RATES}
    _is_initial = False

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        _check_optimizer(self, optimizer)
        LAST_EPOCH.check(last_epoch)
        groups = optimizer.param_groups
        if last_epoch == -1:
            for group in groups:
                group.setdefault("initial_lr", group["lr"])
        require(
            all("initial_lr" in group for group in groups),
            f"{type(self).__name__}: resuming at last_epoch={last_epoch} needs "
            f"'initial_lr' in every parameter group; expected the optimizer's state "
            f"loaded first",
        )
        self.optimizer = optimizer
        self.base_lrs = [group["initial_lr"] for group in groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _set(self, **values: Any) -> None:
        """Check each value against its declaration and make it an attribute."""
        for name, value in values.items():
            type(self).HYPERPARAMETERS[name].check(value, f"{type(self).__name__}: ")
            setattr(self, name, value)

    def _initial_step(self) -> None:
        """The constructor's step to epoch 0: LRScheduler.step, not a subclass's override
        (which may need attributes its constructor sets after this one)."""
        self._step_count = 0
        self._is_initial = True
        try:
            LRScheduler.step(self)
        finally:
            del self._is_initial

    def step(self) -> None:
        """Advance `last_epoch` by one and set the rates for it."""
        self._step_count += 1
        self._update_lr()

    def _update_lr(self, epoch: int | None = None) -> None:
        """The rates at the next epoch, or (SequentialLR) at `epoch` in closed form."""
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            closed_form = getattr(self, "_get_closed_form_lr", self.get_lr)
            values = closed_form()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_lr(self) -> list[float]:
        """The learning rate of each parameter group at the current step (a subclass's rule)."""
        raise NotImplementedError

    def get_last_lr(self) -> list[float]:
        """The rates the last step() set, one per parameter group."""
        return list(self._last_lr)

    def _current_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    @property
    def epoch(self) -> int:
        """`last_epoch`, under the name of earlier versions."""
        return self.last_epoch

    # ----- state dicts ------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The hyperparameters and the STATE attributes (copies), in PyTorch's names."""
        return copy.deepcopy(
            {k: getattr(self, k) for k in (*type(self).HYPERPARAMETERS, *type(self).STATE)}
        )

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what state_dict() gave (a state that does not fit changes nothing)."""
        state_dict = self._from_earlier_format(state_dict)
        self._check_state(state_dict)
        vars(self).update(copy.deepcopy(dict(state_dict)))

    def _check_state(self, state: object) -> None:
        own = self.state_dict()
        if not (isinstance(state, Mapping) and set(state) == set(own)):
            raise ConfigError(
                f"schedule state must be a dict with the keys {sorted(own)} (as "
                f"{type(self).__name__}.state_dict() gives), got "
                + (str(sorted(map(str, state))) if isinstance(state, Mapping) else shown(state))
            )
        n = len(self.optimizer.param_groups)
        for key, value in state.items():
            where = "schedule state: "
            declared = {**type(self).HYPERPARAMETERS, **type(self).STATE_VALUES}.get(key)
            per_group = type(self).PER_GROUP_STATE.get(key)
            if declared is not None:
                declared.check(value, where)
            elif per_group is not None:
                require(
                    isinstance(value, list)
                    and len(value) == n
                    and all(per_group.accepts(v) for v in value),
                    f"{where}{key} must be a list of {n} values (one per parameter group), "
                    f"each {per_group.expected().removeprefix('must be ')}, got {shown(value)}",
                )
            else:
                expected = type(own[key])
                require(
                    isinstance(value, expected) or (is_real(own[key]) and is_real(value)),
                    f"{where}{key} must be of type {expected.__name__} (as state_dict() "
                    f"gives), got {shown(value)}",
                )

    def _from_earlier_format(self, state: Any) -> Any:
        """{'base_lr': b, 'epoch': e} (earlier versions' one group) in this format."""
        closed_form = getattr(self, "_get_closed_form_lr", None)
        if not (
            isinstance(state, Mapping)
            and set(state) == {"base_lr", "epoch"}
            and closed_form is not None
        ):
            return state
        BASE_LR.check(state["base_lr"], where="schedule state: ")
        EPOCH.check(state["epoch"], where="schedule state: ")
        saved = vars(self).copy()
        self.base_lrs = [float(state["base_lr"])] * len(self.optimizer.param_groups)
        self.last_epoch, self._step_count = int(state["epoch"]), int(state["epoch"]) + 1
        self._last_lr = closed_form()
        converted = self.state_dict()
        vars(self).update(saved)
        return converted


def _check_optimizer(schedule: object, optimizer: object) -> None:
    require(
        isinstance(optimizer, Optimizer),
        f"{type(schedule).__name__} needs an optimizer (optim.SGD, optim.Adam, ...), got "
        f"{type(optimizer).__name__}",
    )


class LambdaLR(LRScheduler):
    """lr = initial_lr · lr_lambda(epoch); one function, or a list of one per group."""

    def __init__(
        self,
        optimizer: Optimizer,
        lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(self, optimizer)
        n = len(optimizer.param_groups)
        functions: list[Any] = (
            list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * n
        )
        require(
            len(functions) == n and all(callable(f) for f in functions),
            f"LambdaLR: lr_lambda must be a function of the epoch, or a list of {n} (one "
            f"per parameter group), got {shown(lr_lambda)}",
        )
        self.lr_lambdas = functions
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        rates = []
        for f, base in zip(self.lr_lambdas, self.base_lrs):
            factor = f(self.last_epoch)
            require(
                RATES.accepts(factor),
                f"LambdaLR: lr_lambda({self.last_epoch}) gave "
                f"{shown(factor)}; expected a finite number >= 0",
            )
            rates.append(base * factor)
        return rates

    def state_dict(self) -> dict[str, Any]:
        """As PyTorch's: a function is not saved, a callable object's attributes are."""
        return {
            **super().state_dict(),
            "lr_lambdas": [
                None
                if isinstance(f, types.FunctionType) or not hasattr(f, "__dict__")
                else copy.deepcopy(vars(f))
                for f in self.lr_lambdas
            ],
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore the step count and the attributes of lambdas that are callable objects
        (plain functions are code, not state: they come from the constructor)."""
        self._check_state(state_dict)
        state = copy.deepcopy(dict(state_dict))
        for f, attributes in zip(self.lr_lambdas, state.pop("lr_lambdas")):
            if attributes is not None:
                vars(f).update(attributes)
        vars(self).update(state)

    def _check_state(self, state: object) -> None:
        super()._check_state(state)
        saved = state["lr_lambdas"]  # type: ignore[index]
        require(
            len(saved) == len(self.lr_lambdas)
            and all(s is None or isinstance(s, dict) for s in saved),
            f"schedule state: lr_lambdas must be a list of {len(self.lr_lambdas)} "
            f"entries (None or a dict), as state_dict() gives, got {shown(saved)}",
        )


class StepLR(LRScheduler):
    """lr = initial_lr · γ^⌊epoch / step_size⌋."""

    HYPERPARAMETERS = {"step_size": STEP_SIZE, "gamma": GAMMA}
    step_size: int
    gamma: float

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        self._set(step_size=step_size, gamma=gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """lr = initial_lr · γ^(the number of milestones <= epoch)."""

    HYPERPARAMETERS = {"gamma": GAMMA}
    STATE = (*LRScheduler.STATE, "milestones")
    gamma: float

    def __init__(
        self,
        optimizer: Optimizer,
        milestones: Iterable[int],
        gamma: float = 0.1,
        last_epoch: int = -1,
    ) -> None:
        require(
            isinstance(milestones, Iterable) and not isinstance(milestones, str),
            f"MultiStepLR: milestones must be a list of epochs, got {shown(milestones)}",
        )
        milestones = list(milestones)
        for m in milestones:
            MILESTONE.check(m, "MultiStepLR: ")
        self.milestones = Counter(milestones)
        self._set(gamma=gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch not in self.milestones:
            return self._current_lrs()
        return [lr * self.gamma ** self.milestones[self.last_epoch] for lr in self._current_lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        passed = bisect_right(sorted(self.milestones.elements()), self.last_epoch)
        return [base * self.gamma**passed for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """lr = initial_lr · γ^epoch: the course's per-epoch `learning_rate_decay`."""

    HYPERPARAMETERS = {"gamma": GAMMA}
    gamma: float

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self._set(gamma=gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        return [base * self.gamma**self.last_epoch for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """lr = η_min + (initial_lr − η_min)(1 + cos(π·epoch / T_max)) / 2: from the initial
    rate down to η_min at T_max; past T_max it rises again (the cosine goes on, as
    PyTorch's does)."""

    HYPERPARAMETERS = {"T_max": T_MAX, "eta_min": ETA_MIN}
    T_max: int
    eta_min: float

    def __init__(
        self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1
    ) -> None:
        self._set(T_max=T_max, eta_min=eta_min)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """PyTorch's recursive form: the ratio of two consecutive cosine terms."""
        epoch, T, low = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._current_lrs()
        if self._step_count == 1 and epoch > 0:
            return self._get_closed_form_lr()
        if (epoch - 1 - T) % (2 * T) == 0:  # leaving the minimum (the ratio would be 0/0)
            return [
                lr + (base - low) * (1 - math.cos(math.pi / T)) / 2
                for lr, base in zip(self._current_lrs(), self.base_lrs)
            ]
        ratio = (1 + math.cos(math.pi * epoch / T)) / (1 + math.cos(math.pi * (epoch - 1) / T))
        return [ratio * (lr - low) + low for lr in self._current_lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        return [
            self.eta_min
            + (base - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
            for base in self.base_lrs
        ]


class LinearLR(LRScheduler):
    """lr = initial_lr · (start_factor + (end_factor − start_factor)·min(epoch, total_iters)
    / total_iters): a linear warm-up (or decay) over total_iters steps, then constant."""

    HYPERPARAMETERS = {
        "start_factor": START_FACTOR,
        "end_factor": END_FACTOR,
        "total_iters": TOTAL_ITERS,
    }
    start_factor: float
    end_factor: float
    total_iters: int

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        self._set(start_factor=start_factor, end_factor=end_factor, total_iters=total_iters)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        start, end, epoch = self.start_factor, self.end_factor, self.last_epoch
        if epoch == 0:
            return [lr * start for lr in self._current_lrs()]
        if self._is_initial or epoch > self.total_iters:
            return self._current_lrs()
        ratio = 1.0 + (end - start) / (self.total_iters * start + (epoch - 1) * (end - start))
        return [lr * ratio for lr in self._current_lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        progress = min(self.total_iters, self.last_epoch) / self.total_iters
        return [
            base * (self.start_factor + (self.end_factor - self.start_factor) * progress)
            for base in self.base_lrs
        ]


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin), stepped once per batch for `total_steps` (or
    epochs · steps_per_epoch) steps: the rate rises from max_lr/div_factor to max_lr over
    the first pct_start of the steps, then anneals ('cos' or 'linear') to
    max_lr/(div_factor·final_div_factor); `three_phase` first comes back down to the
    starting rate. With cycle_momentum the momentum (or Adam's β1) moves the opposite
    way, between max_momentum and base_momentum, as in PyTorch."""

    HYPERPARAMETERS = {
        "total_steps": TOTAL_STEPS,
        "_anneal_func_type": ANNEAL_STRATEGY,
        "cycle_momentum": FLAG["cycle_momentum"],
    }
    STATE = (*LRScheduler.STATE, "_schedule_phases", "use_beta1")
    total_steps: int
    _anneal_func_type: str
    cycle_momentum: bool

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float | Sequence[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | Sequence[float] = 0.85,
        max_momentum: float | Sequence[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(self, optimizer)
        total_steps = _one_cycle_total(total_steps, epochs, steps_per_epoch)
        for declared, value in ((PCT_START, pct_start), (FLAG["three_phase"], three_phase)):
            declared.check(value, "OneCycleLR: ")
        self._set(
            total_steps=total_steps,
            _anneal_func_type=anneal_strategy,
            cycle_momentum=cycle_momentum,
        )
        self._schedule_phases = _one_cycle_phases(float(pct_start), total_steps, three_phase)
        self.use_beta1 = "betas" in optimizer.defaults
        max_lrs = _per_group(MAX_LR, max_lr, optimizer)
        DIV_FACTOR.check(div_factor, "OneCycleLR: ")
        FINAL_DIV_FACTOR.check(final_div_factor, "OneCycleLR: ")
        if cycle_momentum:
            self._start_momentum_cycle(optimizer, base_momentum, max_momentum, last_epoch)
        if last_epoch == -1:
            for group, top in zip(optimizer.param_groups, max_lrs):
                start = top / div_factor
                group.update(initial_lr=start, max_lr=top, min_lr=start / final_div_factor)
        super().__init__(optimizer, last_epoch)

    def _start_momentum_cycle(
        self, optimizer: Optimizer, base: object, top: object, last_epoch: int
    ) -> None:
        require(
            self.use_beta1 or "momentum" in optimizer.defaults,
            f"OneCycleLR: cycle_momentum needs an optimizer with momentum or betas, "
            f"got {type(optimizer).__name__}; expected cycle_momentum=False",
        )
        bases = _per_group(CYCLED_MOMENTUM["base_momentum"], base, optimizer)
        tops = _per_group(CYCLED_MOMENTUM["max_momentum"], top, optimizer)
        if last_epoch == -1:
            for group, b, m in zip(optimizer.param_groups, bases, tops):
                group.update(max_momentum=m, base_momentum=b)
                self._set_momentum(group, m)

    def _set_momentum(self, group: dict[str, Any], momentum: float) -> None:
        if self.use_beta1:
            group["betas"] = (momentum, *group["betas"][1:])
        else:
            group["momentum"] = momentum

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self._anneal_func_type == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[float]:
        step = self.last_epoch
        require(
            step <= self.total_steps,
            f"OneCycleLR stepped {step} times; expected at most total_steps={self.total_steps}",
        )
        rates = []
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end = phase["end_step"]
                if step <= end or i == len(self._schedule_phases) - 1:
                    # (a phase of no length: its end value, where PyTorch divides by zero)
                    pct = (step - start) / (end - start) if end != start else 1.0
                    rates.append(
                        self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct)
                    )
                    if self.cycle_momentum:
                        self._set_momentum(
                            group,
                            self._anneal(
                                group[phase["start_momentum"]], group[phase["end_momentum"]], pct
                            ),
                        )
                    break
                start = end
        return rates


def _one_cycle_total(
    total_steps: int | None, epochs: int | None, steps_per_epoch: int | None
) -> int:
    """total_steps, or epochs · steps_per_epoch when it is None."""
    if total_steps is not None:
        return total_steps  # (checked as the schedule's hyperparameter)
    if epochs is None or steps_per_epoch is None:
        raise ConfigError("OneCycleLR needs total_steps, or epochs and steps_per_epoch")
    EPOCHS.check(epochs, "OneCycleLR: ")
    STEPS_PER_EPOCH.check(steps_per_epoch, "OneCycleLR: ")
    return epochs * steps_per_epoch


def _one_cycle_phases(pct_start: float, total: int, three_phase: bool) -> list[dict[str, Any]]:
    """Each phase's last step and the group keys of its start and end rates and momenta."""

    def phase(end: float, lrs: str, momenta: str) -> dict[str, Any]:
        start_lr, end_lr = lrs.split()
        start_momentum, end_momentum = momenta.split()
        return dict(
            end_step=end,
            start_lr=start_lr,
            end_lr=end_lr,
            start_momentum=start_momentum,
            end_momentum=end_momentum,
        )

    up = phase(float(pct_start * total) - 1, "initial_lr max_lr", "max_momentum base_momentum")
    if three_phase:
        return [
            up,
            phase(
                float(2 * pct_start * total) - 2, "max_lr initial_lr", "base_momentum max_momentum"
            ),
            phase(total - 1, "initial_lr min_lr", "max_momentum max_momentum"),
        ]
    return [up, phase(total - 1, "max_lr min_lr", "base_momentum max_momentum")]


class BudgetedOneCycleLR(LRScheduler):
    """A one-cycle rate that follows the elapsed fraction of training, not a step count:
    `step(fraction)` (fraction = elapsed / planned: of a time budget, or of the steps) sets
    lr = max_lr · fraction / pct_start during the warm-up (the first pct_start of training,
    15% by default), then lr = max_lr · (1 − fraction) / (1 − pct_start), a linear decay
    that reaches 0 when the budget is spent (fractions past 1 give 0).
    fit(..., scheduler_step='fraction') steps it before every batch with the fraction
    elapsed at that batch's end ((steps + 1) / planned steps, or (seconds spent + the last
    step's) / time_budget), so a run that gets fewer steps on a slower machine still
    completes the whole cycle.

    It is not PyTorch's OneCycleLR: both phases are linear (OneCycleLR anneals by cosine
    by default), the rate starts at 0 and ends at 0 (OneCycleLR starts at
    max_lr / div_factor and ends at that / final_div_factor), and momentum is not cycled.
    Without a budget the last step (fraction 1) runs at lr 0; with a budget the first
    step (no estimate yet, fraction 0) does."""

    HYPERPARAMETERS = {"pct_start": WARMUP_FRACTION}
    STATE = (*LRScheduler.STATE, "max_lrs", "fraction")
    STATE_VALUES = {**LRScheduler.STATE_VALUES, "fraction": FRACTION}
    PER_GROUP_STATE = {**LRScheduler.PER_GROUP_STATE, "max_lrs": MAX_LR}
    stepped_with_fraction = True  # fit calls step(fraction), never step()
    pct_start: float

    def __init__(
        self, optimizer: Optimizer, max_lr: float | Sequence[float], pct_start: float = 0.15
    ) -> None:
        _check_optimizer(self, optimizer)
        self._set(pct_start=pct_start)
        self.max_lrs = [float(v) for v in _per_group(MAX_LR, max_lr, optimizer)]
        self.fraction = 0.0  # (before the base constructor, whose first step uses it)
        super().__init__(optimizer)

    def step(self, fraction: float = 0.0) -> None:
        """Set the rates for `fraction` (>= 0) of training elapsed."""
        FRACTION.check(fraction, "BudgetedOneCycleLR.step: ")
        self.fraction = float(fraction)
        super().step()

    def get_lr(self) -> list[float]:
        f = min(self.fraction, 1.0)
        if f < self.pct_start:
            scale = f / self.pct_start
        else:
            scale = (1.0 - f) / (1.0 - self.pct_start)
        return [top * scale for top in self.max_lrs]


class SequentialLR(LRScheduler):
    """The schedules one after another: `schedulers[i]` from epoch milestones[i−1] on (each
    starts from its own epoch 0 there). Build them on the same optimizer first."""

    def __init__(
        self,
        optimizer: Optimizer,
        schedulers: Sequence[LRScheduler],
        milestones: Sequence[int],
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(self, optimizer)
        require(
            isinstance(schedulers, (list, tuple))
            and len(schedulers) >= 1
            and all(
                isinstance(s, LRScheduler)
                and not isinstance(s, ReduceLROnPlateau)
                and s.optimizer is optimizer
                for s in schedulers
            ),
            f"SequentialLR: schedulers must be a non-empty list of schedules of this "
            f"optimizer (not ReduceLROnPlateau), got {shown(schedulers)}",
        )
        require(
            isinstance(milestones, (list, tuple))
            and len(milestones) == len(schedulers) - 1
            and all(MILESTONE.accepts(m) for m in milestones)
            and list(milestones) == sorted(milestones),
            f"SequentialLR: milestones must be {len(schedulers) - 1} increasing epochs "
            f"(one fewer than the schedules), got {shown(milestones)}",
        )
        LAST_EPOCH.check(last_epoch, "SequentialLR: ")
        self._schedulers, self._milestones = list(schedulers), list(milestones)
        self.last_epoch, self.optimizer = last_epoch + 1, optimizer
        for group in optimizer.param_groups:  # undo what the schedules' constructors did
            group["lr"] = group["initial_lr"]
        self._undo_steps(self)
        first = self._schedulers[bisect_right(self._milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def _initial_step(self) -> None:  # (when this is the first of another SequentialLR)
        self.step()

    def _undo_steps(self, schedule: LRScheduler) -> None:
        if isinstance(schedule, SequentialLR):
            for s in schedule._schedulers:
                self._undo_steps(s)
        else:
            schedule.last_epoch -= 1

    def step(self) -> None:
        """Step the schedule in charge now, switching to the next one at each milestone."""
        self.last_epoch += 1
        i = bisect_right(self._milestones, self.last_epoch)
        schedule = self._schedulers[i]
        if i > 0 and self._milestones[i - 1] == self.last_epoch:
            schedule._update_lr(0)
        else:
            schedule.step()
        self._last_lr = schedule.get_last_lr()

    STATE = ("_milestones", "last_epoch", "_last_lr")

    def state_dict(self) -> dict[str, Any]:
        """The step count and each inner schedule's state."""
        return {**super().state_dict(), "_schedulers": [s.state_dict() for s in self._schedulers]}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what state_dict() gave, the inner schedules included."""
        self._check_state(state_dict)
        state = copy.deepcopy(dict(state_dict))
        schedules = state.pop("_schedulers")
        for s, saved in zip(self._schedulers, schedules):
            s._check_state(s._from_earlier_format(saved))
        for s, saved in zip(self._schedulers, schedules):
            s.load_state_dict(saved)
        vars(self).update(state)

    def _check_state(self, state: object) -> None:
        super()._check_state(state)
        saved = state["_schedulers"]  # type: ignore[index]
        require(
            len(saved) == len(self._schedulers),
            f"schedule state: expected the states of {len(self._schedulers)} schedules, "
            f"got {len(saved)}",
        )


class ReduceLROnPlateau(LRScheduler):
    """Multiply the rates by `factor` when the metric passed to step(metric) has not
    improved (by more than `threshold`, relative or absolute) for more than `patience`
    steps; then wait `cooldown` steps; never below `min_lr`, and only by more than `eps`."""

    HYPERPARAMETERS = {
        "mode": MODE,
        "factor": FACTOR,
        "patience": PATIENCE,
        "threshold": THRESHOLD,
        "threshold_mode": THRESHOLD_MODE,
        "cooldown": COOLDOWN,
        "eps": PLATEAU_EPS,
    }
    STATE = ("min_lrs", "last_epoch", "_last_lr", "best", "cooldown_counter", "num_bad_epochs")
    mode: str
    factor: float
    patience: int
    threshold: float
    threshold_mode: str
    cooldown: int
    eps: float

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float | Sequence[float] = 0,
        eps: float = 1e-8,
    ) -> None:
        _check_optimizer(self, optimizer)
        self._set(
            mode=mode,
            factor=factor,
            patience=patience,
            threshold=threshold,
            threshold_mode=threshold_mode,
            cooldown=cooldown,
            eps=eps,
        )
        self.optimizer = optimizer
        self.min_lrs = _per_group(MIN_LR, min_lr, optimizer)
        self.last_epoch = 0
        self._last_lr = self._current_lrs()
        self.best = math.inf if mode == "min" else -math.inf
        self.cooldown_counter = self.num_bad_epochs = 0

    def step(self, metrics: float | Tensor) -> None:  # type: ignore[override]
        """Count this epoch's metric (e.g. the validation loss) and reduce if it is time."""
        current = _metric(metrics)
        self.last_epoch += 1
        if self._is_better(current, self.best):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in the cooldown do not count
        if self.num_bad_epochs > self.patience:
            for group, low in zip(self.optimizer.param_groups, self.min_lrs):
                new_lr = max(group["lr"] * self.factor, low)
                if group["lr"] - new_lr > self.eps:
                    group["lr"] = new_lr
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = self._current_lrs()

    def _is_better(self, a: float, best: float) -> bool:
        relative = self.threshold_mode == "rel"
        if self.mode == "min":
            return a < (best * (1 - self.threshold) if relative else best - self.threshold)
        return a > (best * (1 + self.threshold) if relative else best + self.threshold)

    def _check_state(self, state: object) -> None:
        super()._check_state(state)
        lows = state["min_lrs"]  # type: ignore[index]
        require(
            len(lows) == len(self.optimizer.param_groups) and all(map(MIN_LR.accepts, lows)),
            f"schedule state: min_lrs must be a list of {len(self.optimizer.param_groups)} "
            f"rates >= 0, got {shown(lows)}",
        )


def _metric(value: object) -> float:
    """The metric as a float: a number or a one-element Tensor (NaN counts as no better)."""
    if isinstance(value, Tensor) and value.data.size == 1:
        value = value.item()
    if not isinstance(value, Real) or isinstance(value, bool):
        raise ConfigError(
            f"ReduceLROnPlateau.step needs the metric as a number (e.g. the "
            f"validation loss), got {shown(value)}"
        )
    return float(value)
