"""Search spaces: the configurations of a grid, or random draws from lists and ranges.

A space maps a setting's name to its candidates: a list (every value in a grid, one
drawn uniformly in a random search) or, in a random search only, a range
{"uniform": [low, high]}, {"loguniform": [low, high]} or {"randint": [low, high]}
(high included). Fixed settings go into every configuration.
"""

import hashlib
import itertools
import json
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import ConfigError

RANGES = ("uniform", "loguniform", "randint")


def parse_grid_items(items: list[str]) -> dict[str, list[str]]:
    """["hidden=50,100 100", "reg=0.1,0.2"] → {"hidden": ["50", "100 100"], "reg": [...]}."""
    grid = {}
    for item in items:
        name, sep, values = item.partition("=")
        if not sep or not values or not name.strip():
            raise ConfigError(f"grid item {item!r} is not of the form name=v1,v2,...")
        grid[name.strip().replace("-", "_")] = [v.strip() for v in values.split(",")]
    return grid


def run_id(settings: dict[str, Any]) -> str:
    """A configuration's directory name: a hash of its settings (order does not matter)."""
    return hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]


def grid_configurations(fixed: dict[str, Any], grid: dict[str, Any]) -> list[dict[str, Any]]:
    """One dict of settings per point of the grid (the product of its lists), with `fixed`."""
    for name, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(
                f"grid entry {name!r} must be a non-empty list of values, got {values!r} "
                "(ranges are for --search random)"
            )
    names = list(grid)
    return [
        {**fixed, **dict(zip(names, combination))}
        for combination in itertools.product(*(grid[n] for n in names))
    ]


def _draw(name: str, candidates: Any, rng: np.random.Generator) -> Any:
    """One value for `name` from a list or a range."""
    if isinstance(candidates, list) and candidates:
        return candidates[int(rng.integers(len(candidates)))]
    if isinstance(candidates, dict) and len(candidates) == 1 and next(iter(candidates)) in RANGES:
        kind, bounds = next(iter(candidates.items()))
        low, high = (float(b) for b in bounds)
        if not low <= high or (kind == "loguniform" and low <= 0):
            raise ConfigError(f"{name}: {kind} range {bounds!r} needs 0 < low <= high")
        if kind == "randint":
            return int(rng.integers(int(low), int(high) + 1))
        if kind == "loguniform":
            return float(math.exp(rng.uniform(math.log(low), math.log(high))))
        return float(rng.uniform(low, high))
    raise ConfigError(
        f"{name}: expected a non-empty list or one of {{{', '.join(RANGES)}: [low, high]}}, "
        f"got {candidates!r}"
    )


def random_configurations(
    fixed: dict[str, Any], space: dict[str, Any], samples: int, seed: int = 0
) -> list[dict[str, Any]]:
    """`samples` configurations drawn from `space` with a seeded generator (the same seed
    gives the same sweep, so a rerun resumes it); a repeated draw is kept once."""
    if samples < 1:
        raise ConfigError(f"random search needs samples >= 1, got {samples}")
    rng = np.random.default_rng(seed)
    drawn: dict[str, dict[str, Any]] = {}
    for _ in range(samples):
        settings = {**fixed, **{n: _draw(n, c, rng) for n, c in space.items()}}
        drawn.setdefault(run_id(settings), settings)
    return list(drawn.values())


def iter_flag_args(settings: dict[str, Any]) -> Iterator[str]:
    """Command-line arguments for settings: lists become several values, booleans a bare
    flag (or nothing), a string with spaces several values ("100 100")."""
    for name, value in settings.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool) or str(value).lower() in ("true", "false"):
            yield from [flag] if str(value).lower() == "true" else []
        elif isinstance(value, (list, tuple)):
            yield from [flag, *map(str, value)]
        else:
            yield from [flag, *str(value).split()]
