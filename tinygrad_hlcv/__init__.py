"""tinygrad_hlcv: a small, readable autodiff framework on NumPy and Numba.

    from tinygrad_hlcv import Tensor, nn, optim
"""
from . import errors, kernels, nn, optim
from .dtypes import get_default_dtype, set_default_dtype
from .gradcheck import gradcheck, numerical_grad
from .random import manual_seed
from .engine import Tensor, detect_anomaly, is_grad_enabled, no_grad
from .creation import *  # noqa: F401,F403  (each op module lists its public names in __all__)
from .elementwise import *  # noqa: F401,F403
from .linalg import *  # noqa: F401,F403
from .movement import *  # noqa: F401,F403
from .reductions import *  # noqa: F401,F403

__version__ = "0.1.0"
__all__ = ["Tensor", "nn", "optim", "gradcheck", "numerical_grad", "no_grad", "detect_anomaly",
           "is_grad_enabled", "set_default_dtype", "get_default_dtype", "manual_seed", "errors",
           "kernels"]
