"""Gradient clipping, as PyTorch's `torch.nn.utils`: call between backward() and the
optimizer's step(). Both change the parameters' .grad arrays in place.

    total = nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)

clip_grad_norm_ scales every gradient by min(1, max_norm / (‖g‖ + 1e-6)), where ‖g‖ is the
p-norm of all the gradients taken as one vector (the p-norm of their p-norms); so the
direction is kept and only the length is capped. clip_grad_value_ clamps each entry to
[−clip_value, clip_value], which changes the direction.
"""

from collections.abc import Iterable

import numpy as np

from ..convert import shown
from ..engine import Tensor
from ..errors import AnomalyError, ConfigError, DTypeError, ShapeError
from ..hyperparams import Hyperparameter

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_"]

MAX_NORM = Hyperparameter("max_norm", low=0)
CLIP_VALUE = Hyperparameter("clip_value", low=0)
NORM_TYPE = Hyperparameter("norm_type", low=0, low_open=True)


def _parameters(parameters: Tensor | Iterable[Tensor], where: str) -> list[Tensor]:
    """A Tensor or an iterable of Tensors, as a list (model.parameters() is a generator)."""
    if isinstance(parameters, Tensor):
        return [parameters]
    if not isinstance(parameters, Iterable) or isinstance(parameters, (str, dict)):
        raise ConfigError(
            f"{where}: parameters must be a Tensor or an iterable of Tensors "
            f"(pass model.parameters()), got {type(parameters).__name__}"
        )
    found = list(parameters)
    for i, p in enumerate(found):
        if not isinstance(p, Tensor):
            raise ConfigError(
                f"{where}: parameters must be Tensors (pass model.parameters()); "
                f"parameter {i} is of type {type(p).__name__}"
            )
    return found


def _grads(params: list[Tensor], where: str) -> list[np.ndarray]:
    """The gradients there are (a parameter without one is left out), checked."""
    grads = []
    for i, p in enumerate(params):
        g = p.grad
        if g is None:
            continue
        if not (isinstance(g, np.ndarray) and g.dtype.kind == "f"):
            raise DTypeError(
                f"{where}: parameter {i}'s .grad is {shown(g)}; expected a float "
                f"array of the parameter's shape"
            )
        if g.shape != p.shape:
            raise ShapeError(
                f"{where}: parameter {i}'s .grad has shape {g.shape}, expected the "
                f"parameter's shape {p.shape}"
            )
        if not g.flags.writeable:  # (a user's read-only array: changed in a copy)
            p.grad = g = g.copy()
        grads.append(g)
    return grads


def _norm_type(norm_type: object) -> float:
    """A p > 0, or inf (also as 'inf') for the largest absolute value."""
    if (
        isinstance(norm_type, str)
        and norm_type == "inf"
        or isinstance(norm_type, float)
        and norm_type == float("inf")
    ):
        return float("inf")
    NORM_TYPE.check(norm_type, "clip_grad_norm_: ")
    return float(norm_type)  # type: ignore[arg-type]


def get_total_norm(
    tensors: Tensor | Iterable[Tensor] | Iterable[np.ndarray],
    norm_type: float | str = 2.0,
    error_if_nonfinite: bool = False,
) -> Tensor:
    """The p-norm of the arrays taken as one vector, as a 0-d Tensor of their dtype
    (0.0 for none): the p-norm of the arrays' p-norms."""
    p = _norm_type(norm_type)
    arrays = [
        t.data if isinstance(t, Tensor) else np.asarray(t)
        for t in ([tensors] if isinstance(tensors, Tensor) else tensors)
    ]
    if not arrays:
        return Tensor(0.0)
    dtype = np.result_type(*arrays)
    norms = np.array([np.linalg.norm(a.reshape(-1), p) for a in arrays], dtype)
    total = np.linalg.norm(norms, p).astype(dtype)
    if error_if_nonfinite and not np.isfinite(total):
        raise AnomalyError(
            f"the total norm of order {p:g} of the gradients is {total}, so it "
            f"cannot be clipped; expected finite gradients (or "
            f"error_if_nonfinite=False to scale by it anyway)"
        )
    return Tensor(total)


def clip_grads_with_norm_(
    parameters: Tensor | Iterable[Tensor], max_norm: float, total_norm: Tensor | float
) -> None:
    """Scale the gradients in place by min(1, max_norm / (total_norm + 1e-6)) (NaN if the
    total is NaN, as PyTorch)."""
    MAX_NORM.check(max_norm, "clip_grad_norm_: ")
    grads = _grads(_parameters(parameters, "clip_grad_norm_"), "clip_grad_norm_")
    total = np.asarray(total_norm.data if isinstance(total_norm, Tensor) else total_norm)
    scalar = total.dtype.type if total.dtype.kind == "f" else np.float64
    coef = np.minimum(scalar(max_norm) / (total + scalar(1e-6)), scalar(1.0))
    for g in grads:
        np.multiply(g, g.dtype.type(coef), out=g)


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float | str = 2.0,
    error_if_nonfinite: bool = False,
) -> Tensor:
    """Scale the gradients in place so that their total p-norm is at most max_norm;
    return the total norm before clipping (a 0-d Tensor).

    Call it between `loss.backward()` and `opt.step()`. The total norm is
    ‖(‖g_1‖_p, ‖g_2‖_p, ...)‖_p over every parameter's gradient; the scale factor is
    max_norm / (total + 1e-6) when that is below 1, as in PyTorch."""
    params = _parameters(parameters, "clip_grad_norm_")
    MAX_NORM.check(max_norm, "clip_grad_norm_: ")
    total = get_total_norm(_grads(params, "clip_grad_norm_"), norm_type, error_if_nonfinite)
    clip_grads_with_norm_(params, max_norm, total)
    return total


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient entry, in place, to [−clip_value, clip_value] (NaN stays NaN)."""
    CLIP_VALUE.check(clip_value, "clip_grad_value_: ")
    for g in _grads(_parameters(parameters, "clip_grad_value_"), "clip_grad_value_"):
        np.clip(g, -clip_value, clip_value, out=g)
