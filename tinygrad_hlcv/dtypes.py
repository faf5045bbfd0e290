"""The default floating-point dtype: float32 for speed, float64 for gradient checks."""

import numpy as np
import numpy.typing as npt

from .errors import DTypeError

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_default = np.dtype(np.float32)


def get_default_dtype() -> np.dtype:
    """The dtype new parameters and tensors made from Python numbers get."""
    return _default


def set_default_dtype(dtype: npt.DTypeLike) -> None:
    """Change the default dtype (float32 or float64) for tensors created from now on."""
    global _default
    _default = check_float_dtype(dtype, "set_default_dtype")


def check_float_dtype(dtype: npt.DTypeLike, where: str) -> np.dtype:
    """Return `dtype` as a NumPy dtype if it is float32 or float64, else raise DTypeError."""
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError):
        raise DTypeError(
            f"{where}: dtype must be float32 or float64, got {dtype!r}, which is not a NumPy dtype"
        ) from None
    if dt not in FLOAT_DTYPES:
        raise DTypeError(f"{where}: dtype must be float32 or float64, got {dt}")
    return dt
