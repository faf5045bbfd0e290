"""viz.draw_graph: the graph of a small MLP's loss, read back from the SVG and the .dot source:
its nodes and edges, the parameters' names, the gradient norms against NumPy and PyTorch, the
.dot fallback without Graphviz's `dot`, and collapse=True."""

import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import tinygrad_hlcv as tg
from tinygrad_hlcv import Tensor, nn, optim, viz
from tinygrad_hlcv.errors import ConfigError, GraphError

graphviz = pytest.importorskip("graphviz")
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is missing")
SVG = "{http://www.w3.org/2000/svg}"
OPS = ["Linear", "ReLU", "Linear", "SoftmaxCrossEntropy", "L2Penalty", "Add"]
PARAMS = ["0.weight", "0.bias", "2.weight", "2.bias"]
# 6 ops + 6 leaves (x, the labels, 4 parameters); an edge per input of each op:
# Linear 3, ReLU 1, Linear 3, SoftmaxCrossEntropy 2 (logits, labels), L2Penalty 2, Add 2.
NODES, EDGES = 12, 13


def mlp_loss(dtype=np.float32, seed=0):
    tg.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)).to(dtype)
    rng = np.random.default_rng(seed)
    x, y = Tensor(rng.standard_normal((6, 4)).astype(dtype)), np.array([0, 1, 2, 0, 1, 2])
    logits = model(x)
    loss = nn.SoftmaxCrossEntropy()(logits, y) + nn.l2_penalty(model, 0.1)
    return model, x, y, logits, loss


def parse_dot(source):
    """({node id: label}, [(tail, head)]) of a graphviz source."""
    labels = dict(re.findall(r'^\s*(\w+) \[label="(.*?)"', source, flags=re.M | re.S))
    edges = re.findall(r"^\s*(\w+) -> (\w+)", source, flags=re.M)
    return labels, edges


def norm_in(label):
    found = re.findall(r"\|grad\| = ([0-9.e+-]+)", label)
    assert len(found) == 1, label
    return float(found[0])


def labelled(labels, first_line):
    """The labels whose first line is `first_line`."""
    return [v for v in labels.values() if v.split("\n")[0] == first_line]


@needs_dot
def test_the_svg_of_an_mlp_loss_shows_its_ops_parameters_and_edges(tmp_path):
    model, _, _, _, loss = mlp_loss()
    path = viz.draw_graph(loss, tmp_path / "graph.svg", params=model)
    assert path == str(tmp_path / "graph.svg")
    root = ET.parse(path).getroot()
    groups = [g.get("class") for g in root.iter(f"{SVG}g")]
    assert groups.count("node") == NODES and groups.count("edge") == EDGES
    texts = [t.text for t in root.iter(f"{SVG}text")]
    for name in PARAMS + ["SoftmaxCrossEntropy", "ReLU", "L2Penalty", "Add"]:
        assert texts.count(name) == 1, name
    assert texts.count("Linear") == 2
    assert "(6, 4) float32" in texts and "(6, 3) float32" in texts
    assert not any("|grad|" in t for t in texts)  # no backward yet


@needs_dot
def test_a_png_is_a_png(tmp_path):
    _, _, _, _, loss = mlp_loss()
    path = viz.draw_graph(loss, tmp_path / "graph.png")
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_the_dot_source_has_one_node_per_op_and_leaf_and_an_edge_per_input(tmp_path):
    model, _, _, _, loss = mlp_loss()
    path = viz.draw_graph(loss, tmp_path / "graph.dot", params=model)
    labels, edges = parse_dot(open(path).read())
    assert len(labels) == NODES and len(edges) == EDGES
    assert sorted(v.split("\n")[0] for v in labels.values() if v.split("\n")[0] in OPS) == sorted(
        OPS
    )
    for name in PARAMS:
        assert len(labelled(labels, name)) == 1
    (relu,) = [k for k, v in labels.items() if v.startswith("ReLU")]
    (first_linear,) = [k for k, v in labels.items() if v.startswith("Linear\n(6, 5)")]
    assert (first_linear, relu) in edges  # an edge from the input to the op that used it
    assert labelled(labels, "ReLU")[0] == "ReLU\n(6, 5) float32"


def test_leaves_without_a_name_are_labelled_by_shape_and_numbers_by_value():
    a = Tensor(np.ones((2, 3), np.float32), requires_grad=True)
    labels, edges = parse_dot(viz.draw_graph(a * 2.5).source)
    assert sorted(labels.values()) == sorted(
        ["(2, 3) float32", "2.5\n() float32", "Mul\n(2, 3) float32"]
    )
    assert len(edges) == 2


def test_params_may_be_a_dict_of_named_tensors():
    w = Tensor(np.ones((2, 2)), requires_grad=True)
    labels, _ = parse_dot(viz.draw_graph((w * w).sum(), params={"W1": w}).source)
    assert labelled(labels, "W1") == ["W1\n(2, 2) float64"]


def test_the_gradient_norms_after_backward_match_numpy(tmp_path):
    model, _, y, logits, loss = mlp_loss(np.float64)
    loss.backward(retain_graph=True)
    labels, _ = parse_dot(open(viz.draw_graph(loss, tmp_path / "g.dot", params=model)).read())
    for name, p in model.named_parameters():
        assert norm_in(labelled(labels, name)[0]) == pytest.approx(np.linalg.norm(p.grad), rel=1e-3)
    # d loss / d logits = (softmax(logits) - onehot(y)) / N, from the closed form
    z = logits.data - logits.data.max(axis=1, keepdims=True)
    probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    probs[np.arange(len(y)), y] -= 1
    (logits_label,) = [v for v in labelled(labels, "Linear") if "(6, 3)" in v]
    assert norm_in(logits_label) == pytest.approx(np.linalg.norm(probs / len(y)), rel=1e-3)
    for op in ["Add", "SoftmaxCrossEntropy", "L2Penalty"]:  # d loss / d (each term) = 1
        assert norm_in(labelled(labels, op)[0]) == pytest.approx(1.0)
    assert not any("|grad|" in v for v in labels.values() if v.startswith("(6,) int64"))


def test_the_gradient_norms_of_every_node_match_pytorch():
    torch = pytest.importorskip("torch")
    model, x, y, logits, loss = mlp_loss(np.float64)
    loss.backward(retain_graph=True)
    norms = viz.gradient_norms(loss)
    w1, b1, w2, b2 = (torch.tensor(p.data, requires_grad=True) for p in model.parameters())
    h_pre = torch.tensor(x.data) @ w1 + b1
    h = torch.relu(h_pre)
    z = h @ w2 + b2
    ce = torch.nn.functional.cross_entropy(z, torch.tensor(y))
    l2 = 0.1 * ((w1**2).sum() + (w2**2).sum())
    for t in (h_pre, h, z, ce, l2):
        t.retain_grad()
    (ce + l2).backward()
    relu_out = logits._ctx.parents[0]
    first_linear_out = relu_out._ctx.parents[0]
    pairs = [(first_linear_out, h_pre), (relu_out, h), (logits, z)]
    pairs += list(zip(model.parameters(), (w1, b1, w2, b2)))
    for ours, theirs in pairs:
        assert norms[id(ours)] == pytest.approx(theirs.grad.norm().item(), rel=1e-9)


def test_a_non_scalar_output_shows_the_gradients_of_its_sum():
    a = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    b = a * a
    b.backward(np.ones(3), retain_graph=True)
    norms = viz.gradient_norms(b)
    assert norms[id(b)] == pytest.approx(np.sqrt(3))
    assert norms[id(a)] == pytest.approx(np.linalg.norm([2.0, -4.0, 6.0]))


def test_show_grads_false_hides_them():
    model, _, _, _, loss = mlp_loss()
    loss.backward(retain_graph=True)
    assert "|grad|" not in viz.draw_graph(loss, params=model, show_grads=False).source
    assert "|grad|" in viz.draw_graph(loss, params=model).source


def test_a_freed_graph_cannot_be_drawn():
    _, _, _, _, loss = mlp_loss()
    loss.backward()
    with pytest.raises(GraphError, match="retain_graph=True"):
        viz.draw_graph(loss)


def test_after_an_optimizer_step_only_the_leaves_gradients_are_shown():
    model, _, _, _, loss = mlp_loss()
    loss.backward(retain_graph=True)
    optim.SGD(model.parameters(), lr=0.1).step()
    with pytest.warns(UserWarning, match="changed in place"):
        labels, _ = parse_dot(viz.draw_graph(loss, params=model).source)
    shown = [v.split("\n")[0] for v in labels.values() if "|grad|" in v]
    assert sorted(shown) == sorted(PARAMS)


def test_without_the_dot_program_the_dot_source_is_written_with_install_advice(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no `dot` on the PATH
    model, _, _, _, loss = mlp_loss()
    with pytest.warns(UserWarning) as warned:
        path = viz.draw_graph(loss, tmp_path / "graph.svg", params=model)
    message = str(warned[0].message)
    assert "apt-get install graphviz" in message and "brew install graphviz" in message
    assert path == str(tmp_path / "graph.dot")
    assert not (tmp_path / "graph.svg").exists()
    labels, edges = parse_dot(open(path).read())
    assert len(labels) == NODES and len(edges) == EDGES
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == ["graph.dot"]  # no temp file


def test_collapse_draws_one_box_per_layer(tmp_path):
    model, _, _, _, loss = mlp_loss(np.float64)
    loss.backward(retain_graph=True)
    path = viz.draw_graph(loss, tmp_path / "g.dot", params=model, collapse=True)
    labels, edges = parse_dot(open(path).read())
    # x, the labels, layer 0, ReLU, layer 2, SoftmaxCrossEntropy, L2Penalty, Add
    assert len(labels) == 8
    # x→0, 0→ReLU, ReLU→2, 2→CE, labels→CE, 0→L2, 2→L2, CE→Add, L2→Add (no duplicates)
    assert len(edges) == 9 and len(set(edges)) == 9
    (layer0,) = [v for v in labels.values() if v.startswith("0: Linear\n")]
    assert "0.weight (4, 5)" in layer0 and "0.bias (5,)" in layer0
    lines = layer0.split("\n")
    assert lines[1].startswith("(6, 5) float64")
    weight_line = [line for line in lines if line.startswith("0.weight")][0]
    assert norm_in(weight_line) == pytest.approx(np.linalg.norm(model[0].weight.grad), rel=1e-3)
    assert labelled(labels, "ReLU") and not labelled(labels, "0.weight")


def test_without_a_path_the_graphviz_object_is_returned_for_notebooks():
    _, _, _, _, loss = mlp_loss()
    graph = viz.draw_graph(loss)
    assert isinstance(graph, graphviz.Digraph)
    assert hasattr(graph, "_repr_mimebundle_")  # what Jupyter calls to show it inline


def test_a_format_overrides_the_extension_and_an_unknown_one_is_refused(tmp_path):
    _, _, _, _, loss = mlp_loss()
    path = viz.draw_graph(loss, tmp_path / "graph.txt", format="dot")
    assert open(path).read().startswith("digraph")
    with pytest.raises(ConfigError, match=r"\.svg"):
        viz.draw_graph(loss, tmp_path / "graph.jpeg")
    with pytest.raises(ConfigError, match="Module or a dict"):
        viz.draw_graph(loss, params=[1, 2])


def test_a_deep_graph_is_drawn_without_recursion():
    x = Tensor(np.ones(2), requires_grad=True)
    y = x
    for _ in range(3000):
        y = y * 1.0
    y.sum().backward(retain_graph=True)
    labels, edges = parse_dot(viz.draw_graph(y.sum()).source)
    assert len(edges) == 2 * 3000 + 1


def test_graphviz_is_imported_only_when_a_graph_is_drawn():
    code = "import sys, tinygrad_hlcv, tinygrad_hlcv.viz; print('graphviz' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
