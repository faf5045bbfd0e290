"""Property-testing tools, shipped so users can test their own ops and layers as we do.

    from hypothesis import given
    from tinygrad_hlcv.testing import arrays, assert_grads_match

    @given(arrays())
    def test_my_op(x):
        assert_grads_match(lambda t: my_op(t), [x])

Needs `hypothesis` (the `dev` extra); the framework itself does not import this module.
"""
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .gradcheck import GradcheckError, format_errors, max_relative_error, numerical_grad
from .engine import Tensor, no_grad


def values(low=-3.0, high=3.0, margin=0.0):
    """Floats in [low, high] that keep at least `margin` away from 0 (ReLU's kink,
    a divisor's pole)."""
    if margin <= 0:
        return st.floats(low, high, allow_nan=False, allow_infinity=False)
    parts = []
    if high >= margin:
        parts.append(st.floats(max(low, margin), high))
    if low <= -margin:
        parts.append(st.floats(low, min(high, -margin)))
    return st.one_of(*parts)


def shapes(min_dims=0, max_dims=3, min_side=1, max_side=5):
    """Array shapes, batch size 1 and scalars (0-d) included."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def arrays(shape=None, dtype=np.float64, low=-3.0, high=3.0, margin=0.0, **shape_options):
    """Float arrays of a given or drawn shape, with values from `values`."""
    return hnp.arrays(dtype, shape if shape is not None else shapes(**shape_options),
                      elements=values(low, high, margin))


@st.composite
def broadcastable_arrays(draw, count=2, dtype=np.float64, low=-3.0, high=3.0, margin=0.0,
                         max_dims=3, max_side=4):
    """A tuple of `count` arrays whose shapes broadcast together (in either direction)."""
    drawn = draw(hnp.mutually_broadcastable_shapes(num_shapes=count, min_dims=0,
                                                   max_dims=max_dims, max_side=max_side))
    return tuple(draw(arrays(s, dtype, low, high, margin)) for s in drawn.input_shapes)


@st.composite
def mlp_architectures(draw, min_layers=2, max_layers=5, max_width=8, max_batch=6,
                      num_classes=None):
    """A small MLP: layer sizes [D, H1, ..., C], activation, dropout p and batch size."""
    layers = draw(st.integers(min_layers, max_layers))
    widths = draw(st.lists(st.integers(2, max_width), min_size=layers + 1, max_size=layers + 1))
    if num_classes is not None:
        widths[-1] = num_classes
    return {"sizes": widths,
            "activation": draw(st.sampled_from(["relu", "leaky_relu"])),
            "dropout": draw(st.sampled_from([0.0, 0.25, 0.5])),
            "batch": draw(st.integers(1, max_batch))}


def assert_grads_match(fn, inputs, *, h=1e-4, order=4, rtol=1e-6, atol=1e-9, seed=0):
    """Check the autodiff gradient of `fn(*tensors)` w.r.t. each input against
    central differences (float64).

    A non-scalar output is reduced with fixed random weights, sum(out ⊙ R), so every
    entry of the Jacobian takes part. Passes where |auto − num| ≤ atol + rtol·|num|
    entry-wise; otherwise raises GradcheckError with each input's max relative error.
    """
    arrays_ = [np.array(x, dtype=np.float64, copy=True) for x in inputs]
    tensors = [Tensor(a, requires_grad=True) for a in arrays_]
    out = fn(*tensors)
    weights = np.random.default_rng(seed).uniform(0.5, 1.5, out.shape)

    def scalar():
        result = fn(*tensors)
        return (result * Tensor(weights)).sum()

    scalar().backward()
    auto = [np.zeros_like(a) if t.grad is None else t.grad for a, t in zip(arrays_, tensors)]
    with no_grad():
        numeric = [numerical_grad(lambda: scalar().item(), t.data, h, order) for t in tensors]
    errors = {f"input{i}": max_relative_error(a, n) for i, (a, n) in enumerate(zip(auto, numeric))}
    if not all(np.allclose(a, n, rtol=rtol, atol=atol) for a, n in zip(auto, numeric)):
        raise GradcheckError("autodiff and numerical gradients differ "
                             f"(rtol {rtol:.0e}, atol {atol:.0e}):\n" + format_errors(errors))
    return errors
