"""Draw the graph behind a tensor: micrograd's picture for tinygrad_hlcv.

`draw_graph(loss, "graph.svg", params=model)` draws one box per op (its name, output shape
and dtype) and one oval per leaf (a parameter by its name, `0.weight`, anything else by its
shape), with an arrow from each input to the op that used it. After
`loss.backward(retain_graph=True)` every node also shows the norm of its gradient: a leaf's
from its `.grad`, an op's output's by running the reverse pass again here (each op's own
`backward`, summed with the engine's `GradientSum`), so the engine keeps no extra state.

The `graphviz` Python package is imported only when a graph is drawn (`import tinygrad_hlcv`
does not need it); writing SVG or PNG needs Graphviz's `dot` program, without which the
`.dot` source is still written.
"""

from __future__ import annotations

import importlib
import os
import tempfile
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .engine import GradientSum, Tensor, reverse_topological_order
from .errors import ConfigError, GraphError

FORMATS = {"svg": "svg", "png": "png", "pdf": "pdf", "dot": "dot", "gv": "dot"}
INSTALL_GRAPHVIZ = (
    "Graphviz's `dot` program was not found, so only the .dot source was written; install "
    "it to draw pictures: `apt-get install graphviz` (Debian/Ubuntu), `brew install "
    "graphviz` (macOS), or https://graphviz.org/download/, then run `dot -Tsvg {path} -o "
    "graph.svg` or draw again"
)
_OP_STYLE = {"shape": "box", "style": "rounded,filled", "fillcolor": "#dbe8fb"}
_PARAM_STYLE = {"shape": "ellipse", "style": "filled", "fillcolor": "#fdebc8"}
_LEAF_STYLE = {"shape": "ellipse", "style": "solid"}
_LAYER_STYLE = {"shape": "box", "style": "filled", "fillcolor": "#d6efd8"}


def draw_graph(
    tensor: Tensor,
    path: str | os.PathLike[str] | None = None,
    *,
    params: Any = None,
    show_grads: bool = True,
    format: str | None = None,
    collapse: bool = False,
) -> Any:
    """Draw the computation graph that produced `tensor`.

    Args:
        tensor: the output to draw back from, usually a loss.
        path: where to write the picture; its extension (`.svg`, `.png`, `.pdf`, `.dot`)
            picks the format unless `format` is given. Without a path the `graphviz.Digraph`
            is returned, which a notebook displays inline.
        params: names for the leaves: a Module (its `named_parameters()`) or a dict
            `{name: tensor}`; other leaves are labelled by their shape.
        show_grads: after `backward(retain_graph=True)`, show each node's gradient norm
            ‖∂tensor/∂node‖ (of `tensor.sum()` if `tensor` is not a scalar).
        format: `"svg"`, `"png"`, `"pdf"` or `"dot"`, overriding the extension.
        collapse: draw each layer of `params` (the ops that use its parameters, and the
            parameters) as one box, so a deep net stays readable.

    Returns:
        The path written (the `.dot` file's if Graphviz's `dot` program is missing, with a
        warning that says how to install it), or the `graphviz.Digraph` if `path` is None.

    Examples:
        >>> loss.backward(retain_graph=True)                     # doctest: +SKIP
        >>> draw_graph(loss, "graph.svg", params=model)          # doctest: +SKIP
        'graph.svg'
    """
    graph = build_graph(tensor, params=params, show_grads=show_grads, collapse=collapse)
    if path is None:
        return graph
    return write_graph(graph, Path(path), format)


def build_graph(
    tensor: Tensor, *, params: Any = None, show_grads: bool = True, collapse: bool = False
) -> Any:
    """The `graphviz.Digraph` that `draw_graph` writes (same arguments, nothing written)."""
    graphviz = _graphviz()
    nodes = graph_nodes(tensor)
    names = parameter_names(params)
    norms = gradient_norms(tensor) if show_grads and _has_grads(nodes) else {}
    layers = _layer_of_ops(nodes, names) if collapse else {}
    own = {id(t): f"n{i}" for i, t in enumerate(nodes)}  # stable ids: the same graph, same source
    drawn = _drawn_ids(nodes, own, names, layers)
    graph = graphviz.Digraph("graph", graph_attr={"rankdir": "TB"}, node_attr={"fontsize": "11"})
    for layer in sorted(set(layers.values())):
        label = _layer_label(layer, nodes, layers, names, norms, params)
        graph.node(f"layer_{layer}", label, **_LAYER_STYLE)
    for t in nodes:
        if drawn[id(t)] == own[id(t)]:
            label, style = _node_label(t, names, norms)
            graph.node(own[id(t)], label, **style, penwidth="2" if t is tensor else "1")
    edges = _edges(nodes, drawn)
    for tail, head in dict.fromkeys(edges) if collapse else edges:
        graph.edge(tail, head)
    return graph


def write_graph(graph: Any, path: Path, format: str | None = None) -> str:
    """Write `graph` to `path` as `format` (else the extension's), atomically, and return the
    path; without Graphviz's `dot` program write the `.dot` source instead and warn."""
    kind = (format or path.suffix.lstrip(".")).lower()
    if kind not in FORMATS:
        raise ConfigError(
            f"draw_graph: cannot write format {kind or '(no extension)'!r} ({path}); expected "
            f"a path ending in one of {', '.join('.' + f for f in FORMATS)} or format= one of "
            f"{sorted(set(FORMATS.values()))}"
        )
    if FORMATS[kind] == "dot":
        _write_atomically(path, graph.source.encode())
        return str(path)
    try:
        picture = graph.pipe(format=FORMATS[kind])
    except _graphviz().ExecutableNotFound:
        source = path.with_suffix(".dot")
        _write_atomically(source, graph.source.encode())
        warnings.warn(INSTALL_GRAPHVIZ.format(path=source), stacklevel=3)
        return str(source)
    _write_atomically(path, picture)
    return str(path)


def graph_nodes(tensor: Tensor) -> list[Tensor]:
    """Every tensor in the graph behind `tensor` (all inputs of every op, those that need
    no gradient too), each after its inputs. An explicit stack: depth is unbounded."""
    if not isinstance(tensor, Tensor):
        raise ConfigError(f"draw_graph: expected a Tensor, got {type(tensor).__name__}")
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(tensor, False)]
    while stack:
        t, expanded = stack.pop()
        if expanded:
            order.append(t)
        elif id(t) not in visited:
            _check_not_freed(t)
            visited.add(id(t))
            stack.append((t, True))
            parents = t._ctx.parents if t._ctx is not None else ()
            stack.extend((p, False) for p in reversed(parents) if id(p) not in visited)
    return order


def gradient_norms(tensor: Tensor) -> dict[int, float]:
    """{id(node): ‖∂tensor/∂node‖} for every node the reverse pass reaches, computed by
    running it again: each op's backward in reverse topological order, the contributions
    summed by the engine's GradientSum (the seed is ones, so a non-scalar tensor gives the
    gradients of its sum). A leaf's norm is that of its `.grad` (what the user sees, which
    sums every backward() since the last zero_grad). Needs the graph that
    `backward(retain_graph=True)` keeps. If a saved input was changed in place since (an
    optimizer step), only the leaves' norms are returned, with a warning."""
    try:
        norms = _reverse_pass_norms(tensor)
    except GraphError as err:
        warnings.warn(f"draw_graph: only the leaves' gradients are shown: {err}", stacklevel=3)
        norms = {}
    for t in graph_nodes(tensor):
        if t._ctx is None and t.grad is not None:
            norms[id(t)] = float(np.linalg.norm(t.grad))
    return norms


def _reverse_pass_norms(root: Tensor) -> dict[int, float]:
    sums = {id(root): GradientSum(root, np.ones_like(root.data))}
    norms: dict[int, float] = {}
    for node in reverse_topological_order(root):
        total, ctx = sums.pop(id(node), None), node._ctx
        if total is None:
            continue
        g = total.result()[0]
        norms[id(node)] = float(np.linalg.norm(g))
        if ctx is None:
            continue
        _check_unchanged(ctx, node)
        grads = ctx.backward(g)
        grads = grads if isinstance(grads, tuple) else (grads,)
        for parent, needed, pg in zip(ctx.parents, ctx.needs_input_grad, grads):
            if pg is not None and needed:
                sums.setdefault(id(parent), GradientSum(parent)).add(pg, ctx.fresh_grads)
    return norms


def _check_unchanged(ctx: Any, node: Tensor) -> None:
    """GraphError if what ctx's backward reads was changed in place after the forward."""
    now = [t._version for t in ctx.saved_tensors(node)]
    if now != list(ctx.saved_versions):
        raise GraphError(
            f"a tensor {type(ctx).__name__} saved was changed in place since the forward pass "
            "(an optimizer step?); draw before opt.step() to see the ops' gradients"
        )


def parameter_names(params: Any) -> dict[int, str]:
    """{id(tensor): name} from a Module (named_parameters) or a mapping name -> Tensor."""
    if params is None:
        return {}
    if hasattr(params, "named_parameters"):
        pairs: Iterable[tuple[str, Any]] = params.named_parameters()
    elif isinstance(params, Mapping):
        pairs = params.items()
    else:
        raise ConfigError(
            f"draw_graph: params must be a Module or a dict of named tensors, got "
            f"{type(params).__name__}"
        )
    names: dict[int, str] = {}
    for name, t in pairs:
        if not isinstance(t, Tensor):
            raise ConfigError(f"draw_graph: params[{name!r}] is not a Tensor")
        names.setdefault(id(t), str(name))
    return names


def _check_not_freed(t: Tensor) -> None:
    if t._freed:
        raise GraphError(
            "draw_graph: the graph behind this tensor was freed by backward(); call "
            "backward(retain_graph=True) to draw it afterwards, or draw before backward()"
        )


def _has_grads(nodes: list[Tensor]) -> bool:
    """Whether a backward() has run: some leaf of the graph holds a gradient."""
    return any(t._ctx is None and t.grad is not None for t in nodes)


def _layer_of_ops(nodes: list[Tensor], names: dict[int, str]) -> dict[int, str]:
    """{id(op output): layer name} for each op whose parameter inputs all belong to one
    layer (`0` for `0.weight`); an op using several layers' parameters (the L2 penalty) or
    none (a ReLU, which is its own layer) stays an op."""
    layers: dict[int, str] = {}
    for t in nodes:
        if t._ctx is None:
            continue
        owners = {_layer(names[id(p)]) for p in t._ctx.parents if id(p) in names}
        if len(owners) == 1:
            layers[id(t)] = owners.pop()
    return layers


def _layer(parameter: str) -> str:
    return parameter.rpartition(".")[0]


def _drawn_ids(
    nodes: list[Tensor], own: dict[int, str], names: dict[int, str], layers: dict[int, str]
) -> dict[int, str]:
    """{id(tensor): the node that shows it}: its own, or its layer's box when collapsed
    (a layer's parameters go into its box too)."""
    collapsed = set(layers.values())
    drawn: dict[int, str] = {}
    for t in nodes:
        layer = layers.get(id(t))
        if layer is None and id(t) in names and _layer(names[id(t)]) in collapsed:
            layer = _layer(names[id(t)])
        drawn[id(t)] = own[id(t)] if layer is None else f"layer_{layer}"
    return drawn


def _edges(nodes: list[Tensor], drawn: dict[int, str]) -> list[tuple[str, str]]:
    """One (input node, op node) pair per input of every op, none inside a layer's box."""
    edges = []
    for t in nodes:
        if t._ctx is None:
            continue
        for p in t._ctx.parents:
            if drawn[id(p)] != drawn[id(t)]:
                edges.append((drawn[id(p)], drawn[id(t)]))
    return edges


def _describe(t: Tensor) -> str:
    return f"{tuple(t.shape)} {t.dtype}"


def _grad_line(t: Tensor, norms: dict[int, float]) -> str:
    return f"\n|grad| = {norms[id(t)]:.4g}" if id(t) in norms else ""


def _node_label(
    t: Tensor, names: dict[int, str], norms: dict[int, float]
) -> tuple[str, dict[str, str]]:
    """The label and style of an op (its name) or a leaf (its name, or its value if it is
    a number, else nothing) above its shape, dtype and gradient norm."""
    if t._ctx is not None:
        title, style = type(t._ctx).__name__, _OP_STYLE
    elif id(t) in names:
        title, style = names[id(t)], _PARAM_STYLE
    else:
        title = f"{t.data.item():.4g}" if t.data.size == 1 and t.ndim == 0 else ""
        style = _LEAF_STYLE
    head = f"{title}\n" if title else ""
    return f"{head}{_describe(t)}{_grad_line(t, norms)}", style


def _layer_label(
    layer: str,
    nodes: list[Tensor],
    layers: dict[int, str],
    names: dict[int, str],
    norms: dict[int, float],
    params: Any,
) -> str:
    """A layer's box: its name and type, its output (the last op of the layer), and each of
    its parameters with its shape and gradient norm."""
    ops = [t for t in nodes if layers.get(id(t)) == layer]
    kinds = dict(params.named_modules()) if hasattr(params, "named_modules") else {}
    kind = f": {type(kinds[layer]).__name__}" if layer in kinds else ""
    lines = [f"{layer or '(model)'}{kind}", f"{_describe(ops[-1])}{_grad_line(ops[-1], norms)}"]
    for t in nodes:
        if id(t) in names and _layer(names[id(t)]) == layer and t._ctx is None:
            grad = f"  |grad| = {norms[id(t)]:.4g}" if id(t) in norms else ""
            lines.append(f"{names[id(t)]} {tuple(t.shape)}{grad}")
    return "\n".join(lines)


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would hide a picture from others
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _graphviz() -> Any:
    """The graphviz package, imported when first needed (it is optional)."""
    try:
        return importlib.import_module("graphviz")
    except ImportError:
        raise ConfigError(
            "draw_graph needs the graphviz Python package: pip install graphviz (and "
            "Graphviz's dot program to draw pictures: apt-get install graphviz, or brew "
            "install graphviz)"
        ) from None
