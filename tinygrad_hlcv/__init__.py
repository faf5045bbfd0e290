"""tinygrad_hlcv: a small, readable autodiff framework on NumPy and Numba.

from tinygrad_hlcv import Tensor, nn, optim
"""

# The engine first: it loads the op modules, which register the Tensor's methods.
from .engine import Tensor, detect_anomaly, is_grad_enabled, no_grad

# isort: split
from . import creation, elementwise, errors, kernels, linalg, movement, nn, optim, reductions
from .creation import *  # noqa: F403  (each op module lists its public names in __all__)
from .dtypes import get_default_dtype, set_default_dtype
from .elementwise import *  # noqa: F403
from .gradcheck import gradcheck, numerical_grad
from .linalg import *  # noqa: F403
from .movement import *  # noqa: F403
from .random import manual_seed
from .reductions import *  # noqa: F403

__version__ = "0.1.0"
__all__ = [
    "Tensor",
    "nn",
    "optim",
    "gradcheck",
    "numerical_grad",
    "no_grad",
    "detect_anomaly",
    "is_grad_enabled",
    "set_default_dtype",
    "get_default_dtype",
    "manual_seed",
    "errors",
    "kernels",
    *creation.__all__,
    *elementwise.__all__,
    *linalg.__all__,
    *movement.__all__,
    *reductions.__all__,
]


def __getattr__(name: str) -> object:
    """`tinygrad_hlcv.fit`, imported when first used: the training loop loads tqdm."""
    if name == "fit":
        from .training import fit

        return fit
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
