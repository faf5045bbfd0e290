"""One seeded NumPy Generator behind every random choice the framework makes.

Weight initialisation and dropout masks draw from it unless a layer is given a
generator of its own, so `manual_seed(0)` makes a whole run reproducible.
"""

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed: int | None) -> np.random.Generator:
    """Reseed the framework's default generator (like `torch.manual_seed`)."""
    global _generator
    _generator = np.random.default_rng(seed)
    return _generator


def default_generator() -> np.random.Generator:
    """The generator layers use when they were not given one."""
    return _generator
