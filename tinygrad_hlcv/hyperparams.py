"""Hyperparameters declared once: a name and the values it may take. One routine,
`Hyperparameter.check`, turns a value outside them into a ConfigError that says what was
expected; constructors and load_state_dict use the same declarations, so the two cannot
disagree about what is valid.
"""

import math
from dataclasses import dataclass
from typing import cast

import numpy as np

from .convert import is_real, is_whole, shown
from .errors import ConfigError


@dataclass(frozen=True)
class Hyperparameter:
    """A hyperparameter's valid values: a finite number between `low` and `high` (either
    may be None for no bound; `*_open` leaves that end out), an integer (`integer=True`),
    a pair of such numbers (`pair` names the two), True/False (`flag=True`) or one of
    the strings `choices`. `words` is what messages call it when its name alone would not do."""

    name: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    integer: bool = False
    pair: tuple[str, str] | None = None
    flag: bool = False
    choices: tuple[str, ...] | None = None
    words: str | None = None

    def accepts(self, value: object) -> bool:
        """True if `value` is one this hyperparameter may take."""
        if self.flag:
            return isinstance(value, (bool, np.bool_))
        if self.choices:
            return isinstance(value, str) and value in self.choices
        if self.pair:
            return (
                isinstance(value, (tuple, list))
                and len(value) == 2
                and all(self._in_range(v) for v in value)
            )
        return self._in_range(value)

    def _in_range(self, value: object) -> bool:
        if type(value) is float:  # the common case, without NumPy (optimizers check each step)
            if self.integer or not math.isfinite(value):
                return False
        elif not (is_whole(value) if self.integer else is_real(value)):
            return False
        number = cast(float, value)  # compared as it is: float() overflows on huge ints
        return (
            self.low is None or number > self.low or not self.low_open and number == self.low
        ) and (
            self.high is None or number < self.high or not self.high_open and number == self.high
        )

    def expected(self) -> str:
        """What a valid value is, as a message says it: 'must be in [0, 1)', ..."""
        if self.flag:
            return "must be True or False"
        if self.choices:
            return f"must be one of {', '.join(map(repr, self.choices))}"
        kind = "an integer" if self.integer else "a finite number"
        if self.low is not None and self.high is not None:
            interval = (
                f"{'(' if self.low_open else '['}{self.low:g}, "
                f"{self.high:g}{')' if self.high_open else ']'}"
            )
            if self.pair:
                return f"must be a pair ({', '.join(self.pair)}) of numbers in {interval}"
            return f"must be {kind} in {interval}" if self.integer else f"must be in {interval}"
        if self.low is not None:
            bound = f"{'>' if self.low_open else '>='} {self.low:g}"
        elif self.high is not None:
            bound = f"{'<' if self.high_open else '<='} {self.high:g}"
        else:
            return f"must be {kind}"
        return f"must be an integer {bound}" if self.integer else f"must be {bound} ({kind})"

    def check(self, value: object, where: str = "") -> None:
        """Raise a ConfigError naming the hyperparameter, what it must be and what it got;
        `where` prefixes the message (e.g. 'optimizer state: ')."""
        if not self.accepts(value):
            raise ConfigError(
                f"{where}{self.words or self.name} {self.expected()}, got {shown(value)}"
            )
