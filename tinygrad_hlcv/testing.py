"""Property-testing tools, shipped so users can test their own ops and layers as we do.

    from hypothesis import given
    from tinygrad_hlcv.testing import arrays, assert_grads_match

    @given(arrays())
    def test_my_op(x):
        assert_grads_match(lambda t: my_op(t), [x])

or let `op_test` write the whole test, values against a NumPy reference and gradients
against numerical differences, over drawn shapes (broadcasting, size-1 and empty axes, 0-d):

    test_softplus = op_test(lambda x: my_softplus(x), lambda a: np.log1p(np.exp(a)))

Needs `hypothesis` (the `dev` extra); the framework itself does not import this module.
"""

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .engine import Tensor, no_grad
from .gradcheck import GradcheckError, format_errors, max_relative_error, numerical_grad


def values(
    low: float = -3.0,
    high: float = 3.0,
    margin: float = 0.0,
    kinks: Sequence[float] = (0.0,),
    step: float | None = None,
) -> st.SearchStrategy[float]:
    """Floats in [low, high] that keep at least `margin` away from each of `kinks` (ReLU's
    kink at 0, relu6's at 0 and 6, a divisor's pole), so central differences never step
    across one. With `step`, only multiples of `step`: distinct values then differ by at
    least `step`, which keeps a max or a sort from changing its winner under a nudge."""
    cuts = sorted(k for k in kinks if low - margin < k < high + margin) if margin > 0 else []
    edges, start = [], low
    for k in cuts:
        edges.append((start, k - margin))
        start = k + margin
    edges.append((start, high))
    intervals = [_interval(a, b, step) for a, b in edges if a <= b]
    parts = [p for p in intervals if p is not None]
    if not parts:
        raise ValueError(f"no values in [{low}, {high}] keep {margin} away from {kinks}")
    return st.one_of(*parts)


def _interval(low: float, high: float, step: float | None) -> st.SearchStrategy[float] | None:
    if step is None:
        return st.floats(low, high, allow_nan=False, allow_infinity=False)
    first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
    return st.integers(first, last).map(lambda k: k * step) if first <= last else None


def shapes(
    min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 5
) -> st.SearchStrategy[tuple[int, ...]]:
    """Array shapes, batch size 1 and scalars (0-d) included."""
    return hnp.array_shapes(
        min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    )


def arrays(
    shape: tuple[int, ...] | None = None,
    dtype: npt.DTypeLike = np.float64,
    low: float = -3.0,
    high: float = 3.0,
    margin: float = 0.0,
    **shape_options: int,
) -> st.SearchStrategy[npt.NDArray[Any]]:
    """Float arrays of a given or drawn shape, with values from `values`."""
    return hnp.arrays(
        dtype,
        shape if shape is not None else shapes(**shape_options),
        elements=values(low, high, margin),
    )


@st.composite
def broadcastable_arrays(
    draw: st.DrawFn,
    count: int = 2,
    dtype: npt.DTypeLike = np.float64,
    low: float = -3.0,
    high: float = 3.0,
    margin: float = 0.0,
    max_dims: int = 3,
    max_side: int = 4,
) -> tuple[npt.NDArray[Any], ...]:
    """A tuple of `count` arrays whose shapes broadcast together (in either direction)."""
    drawn = draw(
        hnp.mutually_broadcastable_shapes(
            num_shapes=count, min_dims=0, max_dims=max_dims, max_side=max_side
        )
    )
    return tuple(draw(arrays(s, dtype, low, high, margin)) for s in drawn.input_shapes)


def dims(ndim: int, none: bool = True, keep_tuple: bool = False) -> st.SearchStrategy[Any]:
    """A `dim` argument for a tensor of `ndim` axes: an axis in [-ndim, ndim), or None
    (the whole tensor) if `none`, or a tuple of distinct axes if `keep_tuple`."""
    options: list[st.SearchStrategy[Any]] = [st.none()] if none or ndim == 0 else []
    if ndim:
        options.append(st.integers(-ndim, ndim - 1))
        if keep_tuple:
            options.append(hnp.valid_tuple_axes(ndim, min_size=1))
    return st.one_of(*options)


@st.composite
def mlp_architectures(
    draw: st.DrawFn,
    min_layers: int = 2,
    max_layers: int = 5,
    max_width: int = 8,
    max_batch: int = 6,
    num_classes: int | None = None,
) -> dict[str, Any]:
    """A small MLP: layer sizes [D, H1, ..., C], activation, dropout p and batch size."""
    layers = draw(st.integers(min_layers, max_layers))
    widths = draw(st.lists(st.integers(2, max_width), min_size=layers + 1, max_size=layers + 1))
    if num_classes is not None:
        widths[-1] = num_classes
    return {
        "sizes": widths,
        "activation": draw(st.sampled_from(["relu", "leaky_relu"])),
        "dropout": draw(st.sampled_from([0.0, 0.25, 0.5])),
        "batch": draw(st.integers(1, max_batch)),
    }


def outputs(result: Any) -> list[Any]:
    """An op's result as a flat list: a Tensor, or a tuple/list of them (max with a dim,
    split, unbind)."""
    if isinstance(result, (tuple, list)):
        return [t for part in result for t in outputs(part)]
    return [result]


def assert_grads_match(
    fn: Callable[..., Any],
    inputs: Sequence[npt.ArrayLike],
    *,
    h: float = 1e-4,
    order: int = 4,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    seed: int = 0,
    strided: bool = False,
) -> dict[str, float]:
    """Check the autodiff gradient of `fn(*tensors)` w.r.t. each input against
    central differences (float64).

    A non-scalar output is reduced with fixed random weights, sum(out ⊙ R), so every
    entry of the Jacobian takes part; an op that returns several tensors (values and
    indices, the pieces of a split) is reduced the same way over its float outputs.
    Passes where |auto − num| ≤ atol + rtol·|num| entry-wise; otherwise raises
    GradcheckError with each input's max relative error. With `strided`, the autodiff
    pass sees the inputs as non-contiguous views (a kernel must not assume C order).

    Returns {"input0": error, ...}, the max relative error of each input.

    Examples:
        >>> errors = assert_grads_match(lambda t: (t * t).tanh(), [np.linspace(-1, 1, 5)])
        >>> errors["input0"] < 1e-8
        True
    """
    arrays_ = [np.array(x, dtype=np.float64, copy=True) for x in inputs]
    tensors = [Tensor(a, requires_grad=True) for a in arrays_]
    rng = np.random.default_rng(seed)
    weights = [
        Tensor(np.asarray(rng.uniform(0.5, 1.5, out.shape), dtype=np.float64))
        for out in outputs(fn(*tensors))
    ]

    def scalar(leaves: list[Tensor] = tensors) -> Tensor:
        total = Tensor(np.float64(0.0))
        for out, w in zip(outputs(fn(*leaves)), weights):
            if isinstance(out, Tensor) and out.dtype.kind == "f":
                total = total + (out * w).sum()
        return total

    graded = [Tensor(strided_view(a), requires_grad=True) for a in arrays_] if strided else tensors
    loss = scalar(graded)
    if loss.requires_grad:
        loss.backward()
    auto = [np.zeros_like(a) if t.grad is None else t.grad for a, t in zip(arrays_, graded)]
    with no_grad():
        numeric = [numerical_grad(lambda: scalar().item(), t.data, h, order) for t in tensors]
    errors = {f"input{i}": max_relative_error(a, n) for i, (a, n) in enumerate(zip(auto, numeric))}
    if not all(np.allclose(a, n, rtol=rtol, atol=atol) for a, n in zip(auto, numeric)):
        raise GradcheckError(
            "autodiff and numerical gradients differ "
            f"(rtol {rtol:.0e}, atol {atol:.0e}):\n" + format_errors(errors)
        )
    return errors


def op_test(
    op: Callable[..., Any],
    reference: Callable[..., Any],
    *,
    arity: int = 1,
    shapes: st.SearchStrategy[tuple[tuple[int, ...], ...]] | None = None,
    low: float = -3.0,
    high: float = 3.0,
    margin: float = 0.0,
    kinks: Sequence[float] = (0.0,),
    step: float | None = None,
    elements: dict[int, st.SearchStrategy[Any]] | None = None,
    unique: bool = False,
    kwargs: Any = None,
    min_dims: int = 0,
    max_dims: int = 3,
    min_side: int = 0,
    max_side: int = 4,
    grad: bool = True,
    rtol: float = 1e-7,
    atol: float = 1e-10,
    grad_rtol: float = 1e-6,
    grad_atol: float = 1e-9,
    h: float = 1e-4,
) -> Callable[[], None]:
    """A hypothesis test of `op` (Tensors → Tensor(s)) against `reference` (arrays →
    array(s)), in the style of MyGrad's test factory: use it as a module-level test.

    Each example draws `arity` float64 arrays (C-ordered or non-contiguous views) and the
    keyword options, then checks that `op` gives the reference's values, shapes and dtypes,
    leaves its inputs unchanged, and (if `grad`) that its gradients match central
    differences (`assert_grads_match`).

    - shapes: a strategy of a tuple of `arity` shapes; by default shapes that broadcast
      together, 0-d, size-1 and (min_side=0) empty axes included.
    - low, high, margin, kinks, step: the values (see `values`): keep them away from the
      op's kinks and poles. `elements` {operand index: strategy} overrides one operand's.
    - unique: no repeated value within an operand (reductions that pick one entry).
    - kwargs: keyword options passed to both `op` and `reference`: a dict whose values are
      constants, strategies, or callables of the drawn arrays returning a strategy; or a
      callable of the drawn arrays returning a strategy of dicts (dependent options).

        test_sum = op_test(lambda x, dim, keepdim: x.sum(dim=dim, keepdim=keepdim),
                           lambda a, dim, keepdim: a.sum(axis=dim, keepdims=keepdim),
                           kwargs={"dim": lambda a: dims(a.ndim), "keepdim": st.booleans()})
    """
    if shapes is None:
        shapes = _broadcastable_shapes(arity, min_dims, max_dims, min_side, max_side)
    operand_elements = _operand_elements(elements, values(low, high, margin, kinks, step))

    @given(data=st.data())
    def test(data: st.DataObject) -> None:
        inputs, options = _draw_example(data, shapes, operand_elements, unique, kwargs)
        expected = reference(*[a.copy() for a in inputs], **options)
        strided = data.draw(st.booleans(), label="non-contiguous inputs")
        _assert_op_values(op, inputs, options, expected, strided, rtol, atol)
        if grad:
            _assert_op_grads(op, inputs, options, strided, h, grad_rtol, grad_atol)

    test.__doc__ = f"op_test of {_name(op)} against {_name(reference)}"
    return test


def _broadcastable_shapes(
    arity: int, min_dims: int, max_dims: int, min_side: int, max_side: int
) -> st.SearchStrategy[tuple[tuple[int, ...], ...]]:
    """op_test's default shapes: `arity` shapes that broadcast together, as a tuple."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=arity,
        min_dims=min_dims,
        max_dims=max_dims,
        min_side=min_side,
        max_side=max_side,
    ).map(lambda drawn: drawn.input_shapes)


def _operand_elements(
    elements: dict[int, st.SearchStrategy[Any]] | None, default: st.SearchStrategy[Any]
) -> Callable[[int], st.SearchStrategy[Any]]:
    """Operand i's value strategy: its override in `elements` ({index: strategy}), else the
    default (copied now, so a later change to the caller's dict does not alter the test)."""
    per_operand = dict(elements or {})
    return lambda i: per_operand.get(i, default)


def _draw_example(
    data: st.DataObject,
    shapes: st.SearchStrategy[tuple[tuple[int, ...], ...]],
    operand_elements: Callable[[int], st.SearchStrategy[Any]],
    unique: bool,
    kwargs: Any,
) -> tuple[list[npt.NDArray[Any]], dict[str, Any]]:
    """op_test's float64 operands and keyword options, each drawn under its own label so a
    failing example names them."""
    drawn_shapes = data.draw(shapes, label="shapes")
    inputs = [
        data.draw(
            hnp.arrays(np.float64, shape, unique=unique, elements=operand_elements(i)),
            label=f"input{i}",
        )
        for i, shape in enumerate(drawn_shapes)
    ]
    return inputs, data.draw(_options(kwargs, inputs), label="kwargs")


def _assert_op_values(
    op: Callable[..., Any],
    inputs: list[npt.NDArray[Any]],
    options: dict[str, Any],
    expected: Any,
    strided: bool,
    rtol: float,
    atol: float,
) -> None:
    """`op` gives the reference's outputs and leaves its inputs as they were (a kernel that
    writes into its input would corrupt the caller's arrays and the gradient check)."""
    tensors = [Tensor(strided_view(a) if strided else a.copy()) for a in inputs]
    result = op(*tensors, **options)
    assert_outputs_match(result, expected, rtol, atol)
    for before, after in zip(inputs, tensors):
        assert np.array_equal(before, after.data), "the op changed its input in place"


def _assert_op_grads(
    op: Callable[..., Any],
    inputs: list[npt.NDArray[Any]],
    options: dict[str, Any],
    strided: bool,
    h: float,
    rtol: float,
    atol: float,
) -> None:
    """`op`'s gradients with the drawn options match central differences."""
    assert_grads_match(
        lambda *t: op(*t, **options), inputs, h=h, rtol=rtol, atol=atol, strided=strided
    )


def strided_view(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """A non-contiguous view with array's values (every other entry of a wider array)."""
    if array.ndim == 0:
        return array.copy()
    return np.stack([array, array], axis=-1)[..., 0]


def _name(fn: Any) -> str:
    return getattr(fn, "__qualname__", type(fn).__name__)


def _options(kwargs: Any, inputs: list[npt.NDArray[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """The strategy of the keyword options dict (see op_test)."""
    if kwargs is None:
        return st.just({})
    if callable(kwargs):
        return kwargs(*inputs)
    return st.fixed_dictionaries(
        {
            name: (
                value
                if isinstance(value, st.SearchStrategy)
                else value(*inputs)
                if callable(value)
                else st.just(value)
            )
            for name, value in kwargs.items()
        }
    )


def assert_outputs_match(
    result: Any, expected: Any, rtol: float = 1e-7, atol: float = 1e-10
) -> None:
    """The Tensor(s) `result` have the shapes, dtypes and values of the array(s) `expected`."""
    got, want = outputs(result), outputs(expected)
    assert len(got) == len(want), f"the op returned {len(got)} tensors, expected {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        assert isinstance(g, Tensor), f"output {i} is a {type(g).__name__}, expected a Tensor"
        w = np.asarray(w)
        assert g.shape == w.shape, f"output {i} has shape {g.shape}, expected {w.shape}"
        assert g.dtype == w.dtype, f"output {i} has dtype {g.dtype}, expected {w.dtype}"
        np.testing.assert_allclose(
            g.data, w, rtol=rtol, atol=atol, err_msg=f"output {i} differs from the reference"
        )
