"""The Tensor, the graph it records, and reverse-mode autodiff over that graph.

Every op result remembers the `Function` that made it (`_ctx`), and the
Function remembers its inputs. `backward()` walks that graph from the output
to the leaves in reverse topological order, iteratively (a 10,000-op chain
needs no recursion), asks each Function for the gradients of its inputs, and
adds the leaves' gradients into their `.grad`, as PyTorch does.
"""
import contextlib
import numbers
import operator

import numpy as np

from . import kernels
from .convert import normalize_axis, to_array
from .dtypes import get_default_dtype
from .errors import AnomalyError, ConfigError, DTypeError, GraphError, ShapeError

_grad_enabled = True
_anomaly_mode = False


@contextlib.contextmanager
def no_grad():
    """Within this block ops record no graph: for evaluation and weight updates."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled():
    return _grad_enabled


@contextlib.contextmanager
def detect_anomaly():
    """Within this block every op checks its forward output and its backward
    gradients for NaN/Inf and raises AnomalyError naming the first op that made one.
    It costs a pass over every array, so it is off by default (as in PyTorch)."""
    global _anomaly_mode
    previous, _anomaly_mode = _anomaly_mode, True
    try:
        yield
    finally:
        _anomaly_mode = previous


def _check_finite(array, what):
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        bad_mask = ~np.isfinite(array)
        bad = "NaN" if np.isnan(array).any() else "Inf"
        first = tuple(int(i) for i in np.argwhere(bad_mask)[0])
        raise AnomalyError(f"{what} produced {bad} in {int(bad_mask.sum())} of {array.size} "
                           f"entries (first at index {first}, shape {array.shape}); expected "
                           "finite values: check that op's inputs")


class Tensor:
    """A NumPy array plus the record of how it was computed.

    `Tensor(data, requires_grad=False, dtype=None)` wraps `data` without copying a
    NumPy array of a supported dtype. `.grad` is `None` until `backward()` fills it,
    and always has the tensor's own dtype.
    """

    __array_ufunc__ = None  # `ndarray + Tensor` must defer to Tensor.__radd__

    def __init__(self, data, requires_grad=False, dtype=None):
        self.data = to_array(data.data if isinstance(data, Tensor) else data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise DTypeError(f"only float tensors can require gradients, got dtype "
                             f"{self.data.dtype}; convert with dtype=np.float32 or np.float64")
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._ctx = None       # the Function that made this tensor, if it is not a leaf
        self._freed = False    # True once backward() has released the graph behind it

    # ----- plain array behaviour -------------------------------------------------
    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)
    is_leaf = property(lambda self: self._ctx is None and not self._freed)

    def numpy(self):
        """The underlying array (shared, not copied)."""
        return self.data

    def item(self):
        if self.data.size != 1:
            raise ShapeError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.item()

    def __array__(self, dtype=None, copy=None):
        if dtype is not None and np.dtype(dtype) != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        body = np.array2string(self.data, precision=4, separator=", ", threshold=20,
                               prefix="Tensor(")
        extra = f", dtype={self.dtype}"
        if self._ctx is not None:
            extra += f", grad_fn={type(self._ctx).__name__}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"Tensor({body}{extra})"

    def detach(self):
        """A new leaf sharing this tensor's data, cut off from the graph."""
        return Tensor(self.data)

    # ----- autodiff ------------------------------------------------------------
    def backward(self, grad=None, retain_graph=False):
        """Add d(self)/d(leaf) · grad into `.grad` of every leaf that requires grad.

        Without `grad`, self must be a scalar (the gradient is 1). The graph is
        released afterwards, so a second call raises, unless retain_graph=True.
        """
        if self._freed:
            raise GraphError("backward() through a graph that was already freed by an earlier "
                             "backward(); pass retain_graph=True to the first call to "
                             "backward twice")
        if not self.requires_grad:
            raise GraphError("backward() needs a tensor that requires grad: no input of the "
                             "computation had requires_grad=True (or it ran under no_grad)")
        if grad is None:
            if self.data.size != 1:
                raise GraphError(f"backward() without a gradient needs a scalar, got shape "
                                 f"{self.shape}; reduce it (e.g. .sum()) or pass "
                                 "backward(grad) with a gradient of that shape")
            grad = np.ones_like(self.data)
        else:
            try:
                grad = np.array(to_array(grad.data if isinstance(grad, Tensor) else grad,
                                         self.dtype))
            except DTypeError as err:
                raise DTypeError(f"backward(grad): {err} (the gradient of a tensor of shape "
                                 f"{self.shape})") from None
            if grad.shape != self.shape:
                raise ShapeError(f"backward(grad): grad has shape {grad.shape}, expected the "
                                 f"tensor's shape {self.shape}")

        pending = {id(self): (grad, False)}  # id(node) -> (summed gradient, engine owns it)
        scaled = {}                           # id(node) -> [ScaledGrad], folded in last
        handed_to_leaves = set()
        for node in _reverse_topological_order(self):
            g, owned = pending.pop(id(node), (None, False))
            for extra in scaled.pop(id(node), ()):
                g, owned = _fold_scaled(g, owned, extra), True
            ctx = node._ctx
            if ctx is None:
                if g is not None:
                    node._accumulate(g, handed_to_leaves)
                continue
            if g is not None:
                if _anomaly_mode:
                    with np.errstate(all="ignore"):  # _check_finite names the op instead
                        input_grads = ctx.backward(g)
                else:
                    input_grads = ctx.backward(g)
                if not isinstance(input_grads, tuple):
                    input_grads = (input_grads,)
                for parent, pg in zip(ctx.parents, input_grads):
                    if pg is None or not parent.requires_grad:
                        continue
                    if isinstance(pg, ScaledGrad):
                        if not _anomaly_mode:
                            scaled.setdefault(id(parent), []).append(pg)
                            continue
                        pg = pg.materialize()
                    pg = _unbroadcast(pg, parent.shape)
                    if pg.dtype != parent.dtype:
                        pg = pg.astype(parent.dtype)
                    if _anomaly_mode:
                        _check_finite(pg, f"backward of {type(ctx).__name__}")
                    _add_pending(pending, id(parent), pg, ctx.fresh_grads)
            if not retain_graph:
                node._ctx = None
                node._freed = True

    def _accumulate(self, g, handed_to_leaves):
        """Add g into self.grad (a leaf), never letting two leaves share one array."""
        if self.grad is None:
            if (not isinstance(g, np.ndarray) or g.base is not None
                    or id(g) in handed_to_leaves or not g.flags.writeable):
                g = np.array(g)
            handed_to_leaves.add(id(g))
            self.grad = g
        else:
            self.grad = np.asarray(self.grad + g)

    # ----- ops (defined in ops.py and nn/functional.py) --------------------------
    def _operand(self, other):
        """Wrap a number or array operand; numbers take this tensor's float dtype."""
        if isinstance(other, Tensor):
            return other
        if isinstance(other, (int, float)) and not isinstance(other, bool):
            dtype = self.dtype if self.dtype.kind == "f" else get_default_dtype()
            return Tensor(np.asarray(other, dtype=dtype))
        return Tensor(other)

    def __add__(self, other):
        return ops.Add.apply(self, self._operand(other))

    def __radd__(self, other):
        return ops.Add.apply(self._operand(other), self)

    def __sub__(self, other):
        return ops.Sub.apply(self, self._operand(other))

    def __rsub__(self, other):
        return ops.Sub.apply(self._operand(other), self)

    def __mul__(self, other):
        return ops.Mul.apply(self, self._operand(other))

    def __rmul__(self, other):
        return ops.Mul.apply(self._operand(other), self)

    def __truediv__(self, other):
        return ops.Div.apply(self, self._operand(other))

    def __rtruediv__(self, other):
        return ops.Div.apply(self._operand(other), self)

    def __neg__(self):
        return ops.Neg.apply(self)

    def __pow__(self, exponent):
        if not isinstance(exponent, numbers.Real):
            raise DTypeError(f"x ** p: the exponent must be a Python or NumPy real number, got "
                             f"{type(exponent).__name__}")
        if not np.isfinite(exponent):
            raise ConfigError(f"x ** p: the exponent must be finite, got {exponent}")
        return ops.Pow.apply(self, exponent=float(exponent))

    def __matmul__(self, other):
        return ops.MatMul.apply(self, self._operand(other))

    def __rmatmul__(self, other):
        return ops.MatMul.apply(self._operand(other), self)

    def __getitem__(self, index):
        return ops.GetItem.apply(self, index=index)

    def sum(self, axis=None, keepdims=False):
        axis = normalize_axis(axis, self.shape, "sum")
        return ops.Sum.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        axis = normalize_axis(axis, self.shape, "mean")
        axes = range(self.ndim) if axis is None else axis
        count = int(np.prod([self.shape[a] for a in axes]))
        if count == 0:
            raise ShapeError(f"mean() over an empty selection of a tensor of shape {self.shape}; "
                             "expected at least one element")
        return self.sum(axis=axis, keepdims=keepdims) * (1.0 / count)

    def max(self, axis=None, keepdims=False):
        axis = normalize_axis(axis, self.shape, "max")
        return ops.Max.apply(self, axis=axis, keepdims=keepdims)

    def exp(self):
        return ops.Exp.apply(self)

    def log(self):
        return ops.Log.apply(self)

    def relu(self):
        return functional.relu(self)

    def leaky_relu(self, negative_slope=0.01):
        return functional.leaky_relu(self, negative_slope)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        try:
            shape = tuple(operator.index(n) for n in shape)
        except TypeError:
            raise ShapeError(f"reshape: expected integer sizes, got {shape!r}") from None
        return ops.Reshape.apply(self, shape=shape)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        if axes:
            normalized = normalize_axis(axes, self.shape, "transpose")
            if sorted(normalized) != list(range(self.ndim)):
                raise ShapeError(f"transpose: axes {axes} do not reorder all the axes of a tensor "
                                 f"of shape {self.shape}; expected a permutation of "
                                 f"{tuple(range(self.ndim))}")
            axes = normalized
        return ops.Transpose.apply(self, axes=axes or None)

    @property
    def T(self):
        return self.transpose()


class Function:
    """One differentiable op: `forward` on arrays, `backward` from the output's
    gradient to one gradient per input (None where an input needs none).

    The base class does the shared work once: deciding whether a graph is
    recorded, reducing broadcast gradients (in `Tensor.backward`), casting
    them to the input's dtype and accumulating them, so an op states only its maths.
    """

    fresh_grads = False
    """True if backward() returns new arrays that nothing else holds (not `grad`, not a
    saved array): the engine may then add an input's other gradients into them in
    place instead of allocating a sum (a weight-sized array per step for Linear)."""

    def __init__(self, *parents):
        self.parents = parents
        self.needs_input_grad = tuple(p.requires_grad for p in parents)

    @classmethod
    def apply(cls, *parents, **options):
        ctx = cls(*parents)
        if _anomaly_mode:
            with np.errstate(all="ignore"):  # _check_finite names the op instead
                out = np.asarray(ctx.forward(*(p.data for p in parents), **options))
            _check_finite(out, f"forward of {cls.__name__}")
        else:
            out = np.asarray(ctx.forward(*(p.data for p in parents), **options))
        result = Tensor.__new__(Tensor)
        result.data, result.grad, result._freed = out, None, False
        result.requires_grad = _grad_enabled and any(ctx.needs_input_grad)
        result._ctx = ctx if result.requires_grad else None
        return result

    def forward(self, *arrays, **options):
        raise NotImplementedError

    def backward(self, grad):
        raise NotImplementedError


def _reverse_topological_order(root):
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
            raise GraphError("backward() reached a tensor whose graph was already freed by an "
                             "earlier backward(); pass retain_graph=True to that call")
        visited.add(id(node))
        stack.append((node, True))
        if node._ctx is not None:
            stack.extend((p, False) for p in node._ctx.parents
                         if p.requires_grad and id(p) not in visited)
    order.reverse()
    return order


class ScaledGrad:
    """A gradient `factor * array` that a backward() may return instead of an array, when
    the input's gradient is a multiple of an array it already has (the L2 penalty's
    2λW). The engine adds it last, when the input's other contributions are summed: in
    place with one fused pass (kernels.scaled_add) when it owns that sum, instead of
    allocating 2λW and then the sum, two weight-sized temporaries per step.
    `array` must have the input's shape and dtype, `factor` be a scalar of that dtype."""

    __slots__ = ("factor", "array")

    def __init__(self, factor, array):
        self.factor, self.array = factor, array

    def materialize(self):
        return self.array * self.factor


def _add_pending(pending, key, pg, fresh):
    """Add one gradient contribution into pending[key], in place into an array the engine
    owns (a sum it made, or a `fresh_grads` op's result) rather than allocating a sum."""
    if key not in pending:
        pending[key] = (pg, fresh)
        return
    acc, owned = pending[key]
    if owned:
        acc += pg
    elif fresh:
        pg += acc
        acc = pg
    else:
        acc = acc + pg
    pending[key] = (acc, True)


def _fold_scaled(g, owned, extra):
    """g + extra.factor * extra.array, in place and in one pass when the engine owns g."""
    if g is None:
        return extra.materialize()
    a = extra.array
    if (owned and isinstance(g, np.ndarray) and g.flags.c_contiguous and a.flags.c_contiguous
            and g.shape == a.shape and g.dtype == a.dtype):
        kernels.active.scaled_add(g.reshape(-1), extra.factor, a.reshape(-1))
        return g
    return g + extra.materialize()


def _unbroadcast(grad, shape):
    """Sum a broadcast gradient back down to an operand's shape."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1)
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


from . import ops  # noqa: E402  (ops subclass Function, defined above)
from .nn import functional  # noqa: E402
