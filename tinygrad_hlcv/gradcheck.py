"""Checking gradients: autodiff against central differences, or against another set.

    g_num[k] = (f(θ + h e_k) − f(θ − h e_k)) / 2h
    error    = max_k |a_k − n_k| / max(|a_k| + |n_k|, 1e-8)

In float64 a correct gradient gives about 1e-8 or less; 1e-4 or worse is a bug.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol, SupportsFloat, TypeAlias

import numpy as np
import numpy.typing as npt

from .engine import Tensor, no_grad
from .errors import ConfigError, DTypeError


class HasParameters(Protocol):
    """A Module, as gradcheck sees it (it imports no nn)."""

    def named_parameters(self) -> Iterable[tuple[str, Tensor]]:
        """(dotted name, parameter) pairs, as `Module.named_parameters()` gives them."""
        ...


Inputs: TypeAlias = HasParameters | dict[str, Tensor] | Tensor | Sequence[Tensor]


class GradcheckError(AssertionError):
    """Some gradient differs from its reference by more than the tolerance."""


def numerical_grad(
    f: Callable[[], SupportsFloat], array: np.ndarray, h: float = 1e-5, order: int = 2
) -> np.ndarray:
    """Central differences of the scalar `f()` with respect to each entry of `array`.

    order=2 is the derivation's (f(θ+h) − f(θ−h)) / 2h, with error O(h²) plus
    round-off O(ε/h). order=4 is the five-point stencil
    (8[f(θ+h) − f(θ−h)] − [f(θ+2h) − f(θ−2h)]) / 12h, whose error is O(h⁴): it
    allows h ≈ 1e-3…1e-4 and so about 100x less round-off, which is what checking
    small gradient entries to 1e-7 needs (keep every ReLU input 2h from the kink).

    `array` is perturbed in place, one entry at a time, and restored; `f` must read
    it (e.g. it is a parameter's `.data`). Returns a float64 array of its shape."""
    if order not in (2, 4):
        raise ValueError(f"order must be 2 or 4, got {order}")
    if not array.flags.c_contiguous or not array.flags.writeable:
        raise ValueError("numerical_grad needs a writeable C-contiguous array to perturb")
    flat = array.reshape(-1)
    grad = np.empty(flat.size, dtype=np.float64)

    def shifted(k: int, delta: float) -> float:
        saved = flat[k]
        flat[k] = saved + delta
        try:
            return float(f())
        finally:
            flat[k] = saved

    for k in range(flat.size):  # evaluations of f per entry: no way around the loop
        difference = shifted(k, h) - shifted(k, -h)
        if order == 2:
            grad[k] = difference / (2 * h)
        else:
            grad[k] = (8 * difference - (shifted(k, 2 * h) - shifted(k, -2 * h))) / (12 * h)
    return grad.reshape(array.shape)


def max_relative_error(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """max |a − b| / max(|a| + |b|, 1e-8) over all entries."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"cannot compare gradients of shapes {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8)))


def compare_grads(
    grads: Mapping[str, npt.ArrayLike], reference: Mapping[str, npt.ArrayLike]
) -> dict[str, float]:
    """{name: max relative error} between two dicts of arrays with the same names."""
    missing = set(reference) ^ set(grads)
    if missing:
        raise ValueError(f"gradient sets name different parameters: {sorted(missing)}")
    return {name: max_relative_error(grads[name], reference[name]) for name in grads}


def format_errors(errors: Mapping[str, float], against: str = "") -> str:
    """The short table users read: `W1 max relative error: 6.3e-09`."""
    suffix = f" ({against})" if against else ""
    width = max(map(len, errors), default=0)
    return "\n".join(
        f"{name:<{width}} max relative error{suffix}: {err:.1e}" for name, err in errors.items()
    )


def _named_tensors(inputs: Inputs) -> dict[str, Tensor]:
    """{name: tensor} to check: a Module's trainable parameters (every kind, not only
    Linear's), named as by named_parameters(); a dict's items; a list's `input{i}`."""
    if hasattr(inputs, "named_parameters"):
        return {n: p for n, p in inputs.named_parameters() if p.requires_grad}
    if isinstance(inputs, dict):
        tensors = dict(inputs)
    else:
        tensors = {
            f"input{i}": t for i, t in enumerate([inputs] if isinstance(inputs, Tensor) else inputs)
        }
    for name, t in tensors.items():
        if not isinstance(t, Tensor):
            raise DTypeError(f"gradcheck: {name} is {type(t).__name__!r}; expected a Tensor")
    return tensors


def _checkable(inputs: Inputs) -> dict[str, Tensor]:
    """The named tensors, refused unless there is one and each is float64: in float32,
    rounding (about 1e-7 relative) divided by h gives central differences that are off
    by about 1e-2…1e-1, so a correct gradient would look broken."""
    tensors = _named_tensors(inputs)
    if not tensors:
        raise ConfigError(
            "gradcheck: nothing to check (no tensor, or a module without "
            "trainable parameters); expected at least one tensor"
        )
    single = [f"{name} ({t.dtype})" for name, t in tensors.items() if t.dtype != np.float64]
    if single:
        raise DTypeError(
            f"gradcheck needs float64, got {', '.join(single)}: central differences in float32 "
            "are off by about 1e-1. Call tinygrad_hlcv.set_default_dtype(np.float64) before "
            "building the model, or give the layers dtype=np.float64, or convert the module "
            "with .double() (tensors: Tensor(x, dtype=np.float64))"
        )
    return tensors


def autodiff_grads(f: Callable[[], Tensor], inputs: Inputs) -> dict[str, np.ndarray]:
    """Run `f().backward()` once from zeroed gradients; {name: gradient} of `inputs`."""
    tensors = _named_tensors(inputs)
    for t in tensors.values():
        t.grad = None
    f().backward()
    return {
        name: (np.zeros_like(t.data) if t.grad is None else t.grad.copy())
        for name, t in tensors.items()
    }


def numerical_grads(
    f: Callable[[], Tensor], inputs: Inputs, h: float = 1e-5, order: int = 2
) -> dict[str, np.ndarray]:
    """{name: central-difference gradient of f()} for each input tensor."""
    with no_grad():
        return {
            name: numerical_grad(lambda: f().item(), t.data, h, order)
            for name, t in _named_tensors(inputs).items()
        }


def gradcheck(
    f: Callable[[], Tensor],
    inputs: Inputs,
    *,
    h: float = 1e-5,
    order: int = 2,
    tol: float = 1e-7,
    verbose: bool = True,
) -> dict[str, float]:
    """Compare autodiff with central differences for every input of the scalar `f()`.

    `inputs` is a Module (each parameter, named as in `named_parameters()`; for the
    derivation's W1, b1, ... pass `nn.derivation_names(model)`), a dict name → Tensor, or a
    list of Tensors; `f` takes no arguments and recomputes the loss from them (seed any
    dropout inside it, so each call draws the same masks). Every checked tensor must be
    float64 (else DTypeError); `h` and `order` are `numerical_grad`'s. Prints the
    per-parameter table if `verbose`, returns {name: error}, and raises GradcheckError
    with the table if any error exceeds `tol`.

    The error of each parameter is max over its entries of |a − n| / max(|a| + |n|, 1e-8),
    a the autodiff gradient and n the numerical one.

    Examples:
        >>> w = tg.Tensor(np.array([1.0, -2.0]), requires_grad=True)
        >>> errors = tg.gradcheck(lambda: (w * w).sum(), {"w": w}, verbose=False)
        >>> errors["w"] < 1e-7
        True
    """
    tensors = _checkable(inputs)
    errors = compare_grads(autodiff_grads(f, tensors), numerical_grads(f, tensors, h, order))
    report = format_errors(errors, "autodiff vs numerical")
    if verbose:
        print(report)
    worst = max(errors.values(), default=0.0)
    if worst > tol:
        raise GradcheckError(f"gradient check failed (tolerance {tol:.0e}):\n{report}")
    return errors
