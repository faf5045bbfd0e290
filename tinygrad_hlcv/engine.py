"""The Tensor, the graph it records, and reverse-mode autodiff over that graph.

Every op result remembers the `Function` that made it (`_ctx`), and the
Function remembers its inputs. `backward()` walks that graph from the output
to the leaves in reverse topological order, asks each Function for the
gradients of its inputs, sums them per input (`GradientSum`), and adds the
leaves' sums into their `.grad`, as PyTorch does.

This module holds only that machinery. The ops live in the op modules (ops.py for
the primitive ones, fused.py for the layers' fused ones, elementwise.py,
reductions.py, movement.py, linalg.py, creation.py for the rest of the Tensor API),
which it imports at the bottom and which register the Tensor's methods.
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from . import kernels
from .convert import to_array
from .dtypes import get_default_dtype
from .errors import (
    AnomalyError,
    DTypeError,
    GraphError,
    IndexingError,
    ShapeError,
    TinygradError,
)

Array = npt.NDArray[Any]

_grad_enabled = True
_anomaly_mode = False


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Within this block ops record no graph: for evaluation and weight updates."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled() -> bool:
    """Whether ops record a graph now (False inside `no_grad()`)."""
    return _grad_enabled


@contextlib.contextmanager
def detect_anomaly() -> Iterator[None]:
    """Within this block every op checks its forward output and its backward
    gradients for NaN/Inf and raises AnomalyError naming the first op that made one.
    It costs a pass over every array, so it is off by default (as in PyTorch)."""
    global _anomaly_mode
    previous, _anomaly_mode = _anomaly_mode, True
    try:
        yield
    finally:
        _anomaly_mode = previous


class Tensor:
    """A NumPy array plus the record of how it was computed.

    `Tensor(data, requires_grad=False, dtype=None)` holds a copy of a NumPy array (as
    `torch.Tensor` does, so an optimizer step never rewrites the user's array), keeping
    its dtype; `from_numpy(array)` shares the array instead, and `Tensor(t)` shares a
    Tensor's data. `.grad` is `None` until `backward()` fills it, and always has the
    tensor's own dtype.

    `_version` counts the in-place changes of the tensor's data, as PyTorch's does:
    every in-place operation of the framework (an optimizer step, load_state_dict,
    in-place methods) adds 1, and a view of the data (reshape, transpose, a slice,
    detach) shares its tensor's counter. An op that keeps an input for its backward
    records the input's version, and backward() raises GraphError if it changed since,
    instead of computing a gradient from the changed values. Writing straight into
    `.data` (a NumPy array) bypasses the counter, as in PyTorch: the graph cannot see it.
    """

    __array_ufunc__ = None  # `ndarray + Tensor` must defer to Tensor.__radd__

    data: Array
    grad: Array | None
    requires_grad: bool
    _ctx: Function | None
    _freed: bool
    _versions: VersionCounter

    if TYPE_CHECKING:  # the methods the op modules register, declared for the type checker

        def __getattr__(self, name: str) -> Any: ...
        def __add__(self, other: Any) -> Tensor: ...
        def __radd__(self, other: Any) -> Tensor: ...
        def __sub__(self, other: Any) -> Tensor: ...
        def __rsub__(self, other: Any) -> Tensor: ...
        def __mul__(self, other: Any) -> Tensor: ...
        def __rmul__(self, other: Any) -> Tensor: ...
        def __truediv__(self, other: Any) -> Tensor: ...
        def __rtruediv__(self, other: Any) -> Tensor: ...
        def __pow__(self, other: Any) -> Tensor: ...
        def __rpow__(self, other: Any) -> Tensor: ...
        def __matmul__(self, other: Any) -> Tensor: ...
        def __rmatmul__(self, other: Any) -> Tensor: ...
        def __lt__(self, other: Any) -> Tensor: ...
        def __le__(self, other: Any) -> Tensor: ...
        def __gt__(self, other: Any) -> Tensor: ...
        def __ge__(self, other: Any) -> Tensor: ...
        def __and__(self, other: Any) -> Tensor: ...
        def __or__(self, other: Any) -> Tensor: ...
        def __xor__(self, other: Any) -> Tensor: ...
        def __neg__(self) -> Tensor: ...
        def __abs__(self) -> Tensor: ...
        def __invert__(self) -> Tensor: ...
        def __getitem__(self, index: Any) -> Tensor: ...
        def __setitem__(self, index: Any, value: Any) -> None: ...
        def __len__(self) -> int: ...
        def __iter__(self) -> Iterator[Tensor]: ...
        def __float__(self) -> float: ...
        def __int__(self) -> int: ...
        def __bool__(self) -> bool: ...

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self.data = to_array(data.data if isinstance(data, Tensor) else data, dtype)
        if isinstance(data, (np.ndarray, np.generic)) and np.may_share_memory(self.data, data):
            self.data = self.data.copy()
        if requires_grad and self.data.dtype.kind != "f":
            raise DTypeError(
                f"only float tensors can require gradients, got dtype "
                f"{self.data.dtype}; convert with dtype=np.float32 or np.float64"
            )
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._ctx = None  # the Function that made this tensor, if it is not a leaf
        self._freed = False  # True once backward() has released the graph behind it
        shares = isinstance(data, Tensor) and np.may_share_memory(self.data, data.data)
        self._versions = data._versions if shares else VersionCounter()

    @property
    def _version(self) -> int:
        """How many times the data was changed in place (`t._version += 1` after a change)."""
        return self._versions.value

    @_version.setter
    def _version(self, value: int) -> None:
        self._versions.value = value

    # ----- plain array behaviour -------------------------------------------------
    shape = property(lambda self: self.data.shape, doc="The data's shape, a tuple of ints.")
    dtype = property(lambda self: self.data.dtype, doc="The data's NumPy dtype.")
    ndim = property(lambda self: self.data.ndim, doc="The number of dimensions.")
    size = property(lambda self: self.data.size, doc="The number of elements.")
    is_leaf = property(
        lambda self: self._ctx is None and not self._freed,
        doc="True for a tensor no recorded op made (a parameter, an input): backward() "
        "fills its `.grad` if it requires grad.",
    )

    @classmethod
    def _sharing(cls, array: Array) -> Tensor:
        """A leaf that holds `array` itself, not a copy (from_numpy)."""
        t = cls.__new__(cls)
        t.data, t.requires_grad, t.grad, t._ctx, t._freed = array, False, None, None, False
        t._versions = VersionCounter()
        return t

    def numpy(self) -> Array:
        """The underlying array (shared, not copied). Refused while a graph is being
        recorded through this tensor: an op applied to that array would be invisible to
        backward(), so the layers before it would silently get no gradient."""
        if self.requires_grad and _grad_enabled:
            raise GraphError(
                "numpy() on a tensor that requires grad: what is computed from "
                "the array is cut off from the graph, so backward() would not "
                "reach what came before; use .detach().numpy() to read values, "
                "or the Tensor ops (e.g. x.tanh()) to keep the graph"
            )
        return self.data

    def item(self) -> Any:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ShapeError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.item()

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> Array:
        if dtype is not None and np.dtype(dtype) != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def __repr__(self) -> str:
        body = np.array2string(
            self.data, precision=4, separator=", ", threshold=20, prefix="Tensor("
        )
        extra = f", dtype={self.dtype}"
        if self._ctx is not None:
            extra += f", grad_fn={type(self._ctx).__name__}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"Tensor({body}{extra})"

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data (and version counter), cut off from the graph."""
        return Tensor(self)

    # ----- autodiff ------------------------------------------------------------
    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Add d(self)/d(leaf) · grad into `.grad` of every leaf that requires grad.

        Without `grad`, self must be a scalar (the gradient is 1). The graph is
        released afterwards, so a second call raises, unless retain_graph=True.
        """
        if self._freed:
            raise GraphError(
                "backward() through a graph that was already freed by an earlier "
                "backward(); pass retain_graph=True to the first call to "
                "backward twice"
            )
        if not self.requires_grad:
            raise GraphError(
                "backward() needs a tensor that requires grad: no input of the "
                "computation had requires_grad=True (or it ran under no_grad)"
            )
        run_backward(self, self._seed_gradient(grad), retain_graph)

    def _seed_gradient(self, grad: Any) -> Array:
        """The gradient backward() starts from, as a new array of self's shape and dtype."""
        if grad is None:
            if self.data.size != 1:
                raise GraphError(
                    f"backward() without a gradient needs a scalar, got shape "
                    f"{self.shape}; reduce it (e.g. .sum()) or pass "
                    "backward(grad) with a gradient of that shape"
                )
            return np.ones_like(self.data)
        try:
            grad = np.array(to_array(grad.data if isinstance(grad, Tensor) else grad, self.dtype))
        except DTypeError as err:
            raise DTypeError(
                f"backward(grad): {err} (the gradient of a tensor of shape {self.shape})"
            ) from None
        if grad.shape != self.shape:
            raise ShapeError(
                f"backward(grad): grad has shape {grad.shape}, expected the "
                f"tensor's shape {self.shape}"
            )
        return grad

    def _take_grad(self, g: Array, owned: bool) -> None:
        """Add g into self.grad (a leaf). A leaf keeps g itself only if the engine owns
        it: an array a graph still holds must never become a user's `.grad`."""
        if self.grad is None:
            self.grad = g if owned else np.array(g)
        else:
            self.grad = np.asarray(self.grad + g)

    def _operand(self, other: Any) -> Tensor:
        """Wrap a number or array operand. A Python or NumPy number (bools too) takes this
        tensor's dtype if it is a float tensor, else the default float dtype: a number
        never changes a float tensor's dtype (`x + np.int64(1)` stays float32)."""
        if isinstance(other, Tensor):
            return other
        if isinstance(other, (numbers.Real, np.bool_)):
            dtype = self.dtype if self.dtype.kind == "f" else get_default_dtype()
            return Tensor(np.asarray(other, dtype=dtype))
        return Tensor(other)

    # The ops (arithmetic, maths, reductions, shapes, indexing, matmul) are methods that
    # the op modules register: ops.py, elementwise.py, reductions.py, movement.py, ...


class Function:
    """One differentiable op: `forward` on arrays, `backward` from the output's
    gradient to one gradient per input (None where an input needs none).

    An op states only its maths. The shared work happens once, here and in the
    engine: `apply` decides whether a graph is recorded, turns NumPy's errors into
    the framework's (naming the op, its inputs and `expected`), and checks for
    NaN/Inf in anomaly mode; `GradientSum` reduces broadcast gradients, casts them
    to the input's dtype and sums them.

    An op whose backward reads an input's array says so in `saves` (the inputs'
    positions), or in `saves_output` for its own output: the engine then refuses to
    run that backward once such a tensor has been changed in place (see
    `Tensor._version`), as PyTorch does, instead of silently differentiating the new
    values.
    """

    expected = "inputs whose shapes and dtypes fit this op"
    """What the op needs of its inputs, said when NumPy refuses them."""

    fresh_grads = False
    """True if backward() returns new arrays that nothing else holds (not `grad`, not a
    saved array): the engine may then add an input's other gradients into them in
    place instead of allocating a sum (a weight-sized array per step for Linear)."""

    saves: tuple[int, ...] = ()
    """The positions of the inputs whose arrays backward() reads (Mul: `(0, 1)`; Add: `()`);
    a class attribute, or set by forward() when it depends on the inputs (L2Penalty).
    Every op must declare them (tests/test_engine_invariants.py checks each op): the
    engine records those inputs' versions when the op runs, and backward() raises
    GraphError if one was changed in place since, rather than use the changed values."""

    saves_output = False
    """True if backward() reads the op's own output array (Exp, ReLU): checked the same way."""

    input_makers: tuple[Function | None, ...]
    saved_versions: tuple[int, ...]

    def __init__(self, *parents: Tensor) -> None:
        self.parents = parents
        self.needs_input_grad = tuple([p.requires_grad for p in parents])
        self.saved_versions = ()

    def saved_tensors(self, output: Tensor) -> list[Tensor]:
        """The tensors whose arrays backward() reads: the inputs at `saves`, then the
        output if `saves_output`."""
        saved = [self.parents[i] for i in self.saves]
        return saved + [output] if self.saves_output else saved

    @classmethod
    def apply(cls, *parents: Tensor, **options: Any) -> Tensor:
        """Run the op on the parents' arrays; record it in the graph if any needs grad."""
        ctx = cls(*parents)
        arrays = [p.data for p in parents]
        try:
            with _anomaly_checks():
                out = np.asarray(ctx.forward(*arrays, **options))
        except TinygradError:
            raise
        except (ValueError, TypeError, IndexError, OverflowError) as err:
            raise _refused(cls, err, arrays, options) from None
        if _anomaly_mode:
            _check_finite(out, f"forward of {cls.__name__}")
        result = Tensor.__new__(Tensor)
        result.data, result.grad, result._freed = out, None, False
        result._versions = _version_counter_of(out, parents)
        result.requires_grad = _grad_enabled and any(ctx.needs_input_grad)
        result._ctx = ctx if result.requires_grad else None
        if result.requires_grad:
            ctx.input_makers = tuple([p._ctx for p in parents])
            ctx.saved_versions = tuple([t._versions.value for t in ctx.saved_tensors(result)])
        return result

    def forward(self, *arrays: Any, **options: Any) -> Any:
        raise NotImplementedError

    def backward(self, grad: Any) -> Any:
        raise NotImplementedError


class VersionCounter:
    """The number of in-place changes of an array, shared by the tensors that view it."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


def _version_counter_of(out: Array, parents: tuple[Tensor, ...]) -> VersionCounter:
    """An op's output that views an input's data (reshape, transpose, a slice) shares
    that input's counter, as in PyTorch: changing either in place changes both."""
    if out.base is not None:
        for p in parents:
            if np.may_share_memory(out, p.data):
                return p._versions
    return VersionCounter()


def _refused(
    op: type[Function], err: Exception, arrays: list[Array], options: dict[str, Any]
) -> Exception:
    """The framework's error for inputs NumPy refused inside op's forward."""
    inputs = ", ".join(f"{a.shape} {a.dtype}" for a in arrays)
    given = "".join(f", {k}={v!r}" for k, v in options.items() if not isinstance(v, np.ndarray))
    reason = str(err).splitlines()[0] if str(err) else type(err).__name__
    message = (
        f"{op.__name__}: cannot take inputs {inputs}{given} ({reason}); expected {op.expected}"
    )
    if isinstance(err, IndexError):
        return IndexingError(message)
    return DTypeError(message) if isinstance(err, TypeError) else ShapeError(message)


# ----- the reverse pass --------------------------------------------------------------


def run_backward(root: Tensor, grad: Array, retain_graph: bool = False) -> None:
    """Reverse-mode autodiff: from d(root) = grad to the `.grad` of every leaf."""
    sums = {id(root): GradientSum(root, grad)}
    for node in reverse_topological_order(root):
        total, ctx = sums.pop(id(node), None), node._ctx
        if total is not None and ctx is None:
            node._take_grad(*total.result())
        elif total is not None and ctx is not None:
            grads = _input_grads(ctx, node, total.result()[0])
            for parent, needed, g in zip(ctx.parents, ctx.needs_input_grad, grads):
                if g is not None and needed:
                    sums.setdefault(id(parent), GradientSum(parent)).add(g, ctx.fresh_grads)
        if ctx is not None and not retain_graph:
            node._ctx, node._freed = None, True


def _input_grads(ctx: Function, node: Tensor, g: Array) -> tuple[Any, ...]:
    """ctx.backward(g) (ctx made node) as a tuple, after checking that nothing it saved
    was changed in place; in anomaly mode each gradient is materialised and checked for
    NaN/Inf, so the error names the op that made it."""
    _check_saved_versions(ctx, node)
    with _anomaly_checks():
        grads = ctx.backward(g)
    grads = grads if isinstance(grads, tuple) else (grads,)
    if not _anomaly_mode:
        return grads
    grads = tuple(g.materialize() if isinstance(g, ScaledGrad) else g for g in grads)
    for g in grads:
        if g is not None:
            _check_finite(np.asarray(g), f"backward of {type(ctx).__name__}")
    return grads


def _check_saved_versions(ctx: Function, output: Tensor) -> None:
    """GraphError if a tensor ctx saved for backward was changed in place after ctx ran."""
    for k, (t, then) in enumerate(zip(ctx.saved_tensors(output), ctx.saved_versions)):
        if t._versions.value != then:
            op = type(ctx).__name__
            what = f"input {ctx.saves[k]}" if k < len(ctx.saves) else "output"
            raise GraphError(
                f"one of the tensors {op} saved for backward ({what}, shape "
                f"{t.shape}) was changed in place (version {then}, now "
                f"{t._version}) after {op} used it; expected it unchanged until "
                "backward() is done: call opt.step() after backward(), or change "
                "a clone() of it instead"
            )


def reverse_topological_order(root: Tensor) -> list[Tensor]:
    """Nodes reachable from root through inputs that require grad, each after every
    node that uses it. An explicit stack instead of recursion: depth is unbounded."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        if node._freed:
            raise GraphError(
                "backward() reached a tensor whose graph was already freed by an "
                "earlier backward(); pass retain_graph=True to that call"
            )
        visited.add(id(node))
        stack.append((node, True))
        if node._ctx is not None:
            stack.extend((p, False) for p in _inputs_to_follow(node._ctx) if id(p) not in visited)
    order.reverse()
    return order


def _inputs_to_follow(ctx: Function) -> Iterator[Tensor]:
    """The inputs of an op that needed a gradient when it ran. Each must still be the
    result of the op that made it then: an in-place op on it since (`y.mul_(2)` after
    `z = y + 1`) would send z's gradient through the new op, a wrong result, so refuse."""
    for i, (p, needed) in enumerate(zip(ctx.parents, ctx.needs_input_grad)):
        if needed and p._ctx is not ctx.input_makers[i] and not p._freed:
            raise GraphError(
                f"input {i} of {type(ctx).__name__} (shape {p.shape}) was changed "
                f"in place after {type(ctx).__name__} used it, so backward cannot "
                "reach the value it used; make the change before that use, or on "
                "a clone()"
            )
        if needed:
            yield p


class GradientSum:
    """The sum of the gradient contributions that reach one tensor: the whole policy of
    summing, in one place.

    Each contribution is reduced to the tensor's shape (undoing broadcasting) and
    cast to its dtype. The running sum is kept in an array the engine owns whenever
    it can (one it allocated, or a `fresh_grads` op's result), and then later
    contributions are added into it in place, so a weight-sized gradient costs no
    new array per contribution. `ScaledGrad` contributions (the L2 penalty's 2λW)
    are folded in last, with one fused pass when the sum is owned. `result()` says
    whether the engine owns the array, because only an owned array may become a
    leaf's `.grad`: anything else may still be held by the graph or the user.
    """

    __slots__ = ("tensor", "total", "owned", "scaled")

    total: Any
    scaled: list[ScaledGrad]

    def __init__(self, tensor: Tensor, seed: Array | None = None) -> None:
        self.tensor, self.total, self.owned, self.scaled = tensor, seed, seed is not None, []

    def add(self, g: Any, fresh: bool = False) -> None:
        """Add one contribution; `fresh`: nothing else holds g, so it may be summed into."""
        if isinstance(g, ScaledGrad):
            self.scaled.append(g)
            return
        reduced = _unbroadcast(np.asarray(g), self.tensor.shape)
        if reduced.dtype != self.tensor.dtype:
            reduced = reduced.astype(self.tensor.dtype)
        fresh = fresh or reduced is not g  # a reduction or a cast made a new array
        if self.total is None:
            self.total, self.owned = reduced, fresh
        elif self.owned:
            self.total += reduced
        elif fresh:
            reduced += self.total
            self.total, self.owned = reduced, True
        else:
            self.total, self.owned = self.total + reduced, True

    def result(self) -> tuple[Any, bool]:
        """(the summed gradient, whether the engine owns that array)."""
        for extra in self.scaled:
            self._fold(extra)
        self.scaled = []
        return self.total, self.owned

    def _fold(self, extra: ScaledGrad) -> None:
        """total += extra.factor * extra.array, in place and in one pass when owned."""
        g, a = self.total, extra.array
        if g is None:
            self.total, self.owned = extra.materialize(), True
        elif (
            self.owned
            and g.flags.c_contiguous
            and a.flags.c_contiguous
            and g.shape == a.shape
            and g.dtype == a.dtype
        ):
            kernels.active.scaled_add(g.reshape(-1), extra.factor, a.reshape(-1))
        else:
            self.total, self.owned = g + extra.materialize(), True


class ScaledGrad:
    """A gradient `factor * array` that a backward() may return instead of an array, when
    the input's gradient is a multiple of an array it already has (the L2 penalty's
    2λW). `GradientSum` adds it last, into the input's other contributions, without a
    weight-sized temporary. `array` must have the input's shape and dtype, `factor`
    be a scalar of that dtype."""

    __slots__ = ("factor", "array")

    def __init__(self, factor: Any, array: Array) -> None:
        self.factor, self.array = factor, array

    def materialize(self) -> Array:
        """factor * array, as a new array."""
        return self.array * self.factor


def _unbroadcast(grad: Array, shape: tuple[int, ...]) -> Array:
    """Sum a broadcast gradient back down to an operand's shape."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1
    )
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


# ----- anomaly mode --------------------------------------------------------------------


def _anomaly_checks() -> contextlib.AbstractContextManager[Any]:
    """In anomaly mode NumPy's own warnings are silenced: _check_finite names the op."""
    return np.errstate(all="ignore") if _anomaly_mode else _NO_CHECKS


_NO_CHECKS = contextlib.nullcontext()  # reentrant: one for every op outside anomaly mode


def _check_finite(array: Array, what: str) -> None:
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        bad_mask = ~np.isfinite(array)
        bad = "NaN" if np.isnan(array).any() else "Inf"
        first = tuple(int(i) for i in np.argwhere(bad_mask)[0])
        raise AnomalyError(
            f"{what} produced {bad} in {int(bad_mask.sum())} of {array.size} "
            f"entries (first at index {first}, shape {array.shape}); expected "
            "finite values: check that op's inputs"
        )


# The op modules subclass Function and register Tensor methods: import them last.
from . import conv, creation, elementwise, fused, linalg, movement, ops, reductions  # noqa: E402, F401
