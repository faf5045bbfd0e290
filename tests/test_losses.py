"""Tests for nn.loss: each loss and option against PyTorch in float64 (values and gradients),
against central differences, and its errors for a user's mistakes."""

import numpy as np
import pytest

from tinygrad_hlcv import Tensor, nn
from tinygrad_hlcv.errors import ConfigError, DTypeError, LabelError, ShapeError
from tinygrad_hlcv.gradcheck import gradcheck
from tinygrad_hlcv.nn import loss as L

REDUCTIONS = ["mean", "sum", "none"]


def rng(seed=0):
    return np.random.default_rng(seed)


def ours_and_grads(fn, arrays, grad_names, reduction, **options):
    """Value of fn and the gradients of the named arrays, with a weighted sum for 'none'."""
    tensors = {
        k: Tensor(v.copy(), requires_grad=k in grad_names) if v.dtype.kind == "f" else v
        for k, v in arrays.items()
    }
    out = fn(*tensors.values(), reduction=reduction, **options)
    seed = rng(9).standard_normal(out.shape)
    (out * Tensor(seed)).sum().backward()
    return out.data, {k: tensors[k].grad for k in grad_names}, seed


def torch_and_grads(fn, arrays, grad_names, reduction, seed, **options):
    torch = pytest.importorskip("torch")
    tensors = {k: torch.tensor(v, requires_grad=k in grad_names) for k, v in arrays.items()}
    out = fn(*tensors.values(), reduction=reduction, **options)
    (out * torch.tensor(seed)).sum().backward()
    return out.detach().numpy(), {k: tensors[k].grad.numpy() for k in grad_names}


def assert_matches_torch(ours, theirs, arrays, grad_names, reduction, **options):
    value, grads, seed = ours_and_grads(ours, arrays, grad_names, reduction, **options)
    their_value, their_grads = torch_and_grads(
        theirs, arrays, grad_names, reduction, seed, **options
    )
    assert value.shape == their_value.shape
    np.testing.assert_allclose(value, their_value, rtol=1e-12, atol=1e-13)
    for name in grad_names:
        np.testing.assert_allclose(
            grads[name], their_grads[name], rtol=1e-10, atol=1e-13, err_msg=name
        )


def assert_numerical(fn, arrays, grad_names, reduction="mean", **options):
    tensors = {
        k: Tensor(v.copy(), requires_grad=k in grad_names) if v.dtype.kind == "f" else v
        for k, v in arrays.items()
    }
    seed = None

    def loss():
        nonlocal seed
        out = fn(*tensors.values(), reduction=reduction, **options)
        seed = rng(9).standard_normal(out.shape) if seed is None else seed
        return (out * Tensor(seed)).sum()

    gradcheck(loss, {k: tensors[k] for k in grad_names}, h=1e-4, order=4, tol=1e-7, verbose=False)


def regression_arrays(shape=(4, 3)):
    r = rng(1)
    x = r.standard_normal(shape) * 2
    return {"input": x, "target": x + r.choice([-1, 1], shape) * r.uniform(0.05, 3, shape)}


def torch_f():
    return pytest.importorskip("torch").nn.functional


# ----- regression losses ----------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "name, options",
    [
        ("mse_loss", {}),
        ("l1_loss", {}),
        ("smooth_l1_loss", {}),
        ("smooth_l1_loss", {"beta": 0.5}),
        ("smooth_l1_loss", {"beta": 0.0}),
        ("huber_loss", {}),
        ("huber_loss", {"delta": 0.7}),
    ],
)
def test_regression_losses_match_torch(name, options, reduction):
    arrays = regression_arrays()
    assert_matches_torch(
        getattr(L, name),
        getattr(torch_f(), name),
        arrays,
        ["input", "target"],
        reduction,
        **options,
    )
    assert_numerical(getattr(L, name), arrays, ["input", "target"], reduction, **options)


def test_l1_gradient_is_zero_where_input_equals_target():
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    L.l1_loss(x, np.array([1.0, 0.0, 5.0]), reduction="sum").backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, -1.0])


@pytest.mark.parametrize(
    "name",
    [
        "mse_loss",
        "l1_loss",
        "smooth_l1_loss",
        "huber_loss",
        "binary_cross_entropy",
        "binary_cross_entropy_with_logits",
    ],
)
def test_column_prediction_against_flat_target_is_a_shape_error(name):
    prediction = Tensor(np.full((5, 1), 0.5), requires_grad=True)
    with pytest.raises(ShapeError, match=r"\(5, 1\).*\(5,\)"):
        getattr(L, name)(prediction, np.full(5, 0.5))
    with pytest.raises(ShapeError, match=r"\(5,\).*\(5, 1\)"):
        getattr(L, name)(Tensor(np.full(5, 0.5)), np.full((5, 1), 0.5))


def test_argument_errors_of_regression_losses():
    x = Tensor(np.zeros(3))
    with pytest.raises(ConfigError, match="reduction"):
        L.mse_loss(x, np.zeros(3), reduction="avg")
    with pytest.raises(ConfigError, match="reduction"):
        L.MSELoss(reduction="batchmean")
    with pytest.raises(ConfigError, match="beta"):
        L.smooth_l1_loss(x, np.zeros(3), beta=-1)
    with pytest.raises(ConfigError, match="delta"):
        L.huber_loss(x, np.zeros(3), delta=0)
    with pytest.raises(DTypeError, match="target"):
        L.mse_loss(x, np.zeros(3, dtype=np.int64))
    with pytest.raises(DTypeError, match="target"):
        L.mse_loss(x, [0.0, 1.0, 2.0])
    needs_grad = Tensor(np.zeros(3, dtype=np.float32), requires_grad=True)
    with pytest.raises(DTypeError, match="float32.*float64"):
        L.mse_loss(x, needs_grad)
    # a constant target of the other float dtype is converted
    assert L.mse_loss(x, np.ones(3, dtype=np.float32)).dtype == np.float64


# ----- binary cross-entropy ---------------------------------------------------------------


def bce_arrays(shape=(5, 3), seed=2):
    r = rng(seed)
    return {"input": r.uniform(0.05, 0.95, shape), "target": r.uniform(0, 1, shape)}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy_matches_torch(reduction, weighted):
    arrays = bce_arrays()
    if weighted:
        arrays["weight"] = rng(3).uniform(0.5, 2, (3,))
    assert_matches_torch(
        L.binary_cross_entropy, torch_f().binary_cross_entropy, arrays, ["input"], reduction
    )
    assert_numerical(L.binary_cross_entropy, arrays, ["input", "target"], reduction)


def test_binary_cross_entropy_clamps_the_log_at_minus_100_as_torch():
    torch = pytest.importorskip("torch")
    p = np.array([0.0, 1.0, 0.0, 1.0, 1e-50])
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    for dtype in (np.float64, np.float32):
        x = Tensor(p.astype(dtype), requires_grad=True)
        out = L.binary_cross_entropy(x, y.astype(dtype), reduction="none")
        theirs = torch_f().binary_cross_entropy(
            torch.tensor(p.astype(dtype)), torch.tensor(y.astype(dtype)), reduction="none"
        )
        np.testing.assert_allclose(out.data, theirs.numpy(), rtol=1e-6)
        np.testing.assert_array_equal(out.data, [100, 100, 0, 0, 100])
        out.sum().backward()
        assert np.all(np.isfinite(x.grad))


def test_binary_cross_entropy_refuses_values_outside_0_1():
    with pytest.raises(ConfigError, match=r"input.*\[0, 1\].*with_logits"):
        L.binary_cross_entropy(Tensor(np.array([0.5, 1.5])), np.array([0.0, 1.0]))
    with pytest.raises(LabelError, match=r"target.*\[0, 1\]"):
        L.binary_cross_entropy(Tensor(np.array([0.5, 0.5])), np.array([0.0, 2.0]))
    with pytest.raises(ShapeError, match="weight"):
        L.binary_cross_entropy(Tensor(np.full((2, 3), 0.5)), np.zeros((2, 3)), np.ones(2))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "weight_shape, pos_weight_shape", [(None, None), ((3,), None), (None, (3,)), ((5, 1), (3,))]
)
def test_binary_cross_entropy_with_logits_matches_torch(reduction, weight_shape, pos_weight_shape):
    r = rng(4)
    arrays = {"input": r.standard_normal((5, 3)) * 3, "target": r.uniform(0, 1, (5, 3))}
    arrays["input"][0, 0] = 0.0  # the kink of max(-x, 0)
    options = {}
    if weight_shape:
        arrays["weight"] = r.uniform(0.5, 2, weight_shape)
    if pos_weight_shape:
        options["pos_weight"] = r.uniform(0.5, 3, pos_weight_shape)
    torch = pytest.importorskip("torch")
    theirs_options = {k: torch.tensor(v) for k, v in options.items()}
    value, grads, seed = ours_and_grads(
        L.binary_cross_entropy_with_logits, arrays, ["input", "target"], reduction, **options
    )
    their_value, their_grads = torch_and_grads(
        torch_f().binary_cross_entropy_with_logits,
        arrays,
        ["input", "target"],
        reduction,
        seed,
        **theirs_options,
    )
    np.testing.assert_allclose(value, their_value, rtol=1e-12)
    for name in grads:
        np.testing.assert_allclose(grads[name], their_grads[name], rtol=1e-10, atol=1e-14)
    assert_numerical(
        L.binary_cross_entropy_with_logits, arrays, ["input", "target"], reduction, **options
    )


def test_binary_cross_entropy_with_logits_is_stable_for_huge_logits():
    torch = pytest.importorskip("torch")
    z = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    y = np.array([1.0, 1.0, 0.5, 0.0, 0.0])
    x = Tensor(z, requires_grad=True)
    out = L.binary_cross_entropy_with_logits(x, y, reduction="none")
    tz = torch.tensor(z, requires_grad=True)
    theirs = torch_f().binary_cross_entropy_with_logits(tz, torch.tensor(y), reduction="none")
    np.testing.assert_allclose(out.data, theirs.detach().numpy(), rtol=1e-14)
    out.sum().backward()
    theirs.sum().backward()
    np.testing.assert_allclose(x.grad, tz.grad.numpy(), rtol=1e-14, atol=1e-300)


# ----- nll and cross-entropy --------------------------------------------------------------


def class_arrays(shape=(6, 4), seed=5, ignore=None):
    r = rng(seed)
    x = r.standard_normal(shape)
    target_shape = shape[:1] + shape[2:] if len(shape) > 1 else ()
    target = r.integers(0, shape[1] if len(shape) > 1 else shape[0], target_shape)
    if ignore is not None:
        target.reshape(-1)[1] = ignore
    return {"input": x, "target": target}


CASES = [  # (input shape, weight, ignore_index)
    ((6, 4), False, None),
    ((6, 4), True, None),
    ((6, 4), False, 2),
    ((6, 4), True, -100),
    ((3, 4, 2, 2), True, -100),
    ((4,), True, None),
    ((1, 4), False, None),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape, weighted, ignore", CASES)
def test_nll_loss_matches_torch(shape, weighted, ignore, reduction):
    arrays = class_arrays(shape, ignore=ignore)
    if weighted:
        arrays["weight"] = rng(6).uniform(0.5, 2, 4)
    options = {} if ignore is None else {"ignore_index": ignore}
    assert_matches_torch(L.nll_loss, torch_f().nll_loss, arrays, ["input"], reduction, **options)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize("shape, weighted, ignore", CASES)
def test_cross_entropy_with_class_indices_matches_torch(
    shape, weighted, ignore, smoothing, reduction
):
    arrays = class_arrays(shape, ignore=ignore)
    if weighted:
        arrays["weight"] = rng(6).uniform(0.5, 2, 4)
    options = {"label_smoothing": smoothing}
    if ignore is not None:
        options["ignore_index"] = ignore
    assert_matches_torch(
        L.cross_entropy, torch_f().cross_entropy, arrays, ["input"], reduction, **options
    )
    if len(shape) > 2 or (weighted and smoothing):
        assert_numerical(L.cross_entropy, arrays, ["input"], reduction, **options)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize(
    "shape, weighted", [((5, 4), False), ((5, 4), True), ((2, 4, 3), True), ((4,), False)]
)
def test_cross_entropy_with_class_probabilities_matches_torch(
    shape, weighted, smoothing, reduction
):
    r = rng(7)
    probabilities = r.uniform(0, 1, shape)
    class_dim = 1 if len(shape) > 1 else 0
    arrays = {
        "input": r.standard_normal(shape),
        "target": probabilities / probabilities.sum(class_dim, keepdims=True),
    }
    if weighted:
        arrays["weight"] = r.uniform(0.5, 2, 4)
    assert_matches_torch(
        L.cross_entropy,
        torch_f().cross_entropy,
        arrays,
        ["input", "target"],
        reduction,
        label_smoothing=smoothing,
    )
    assert_numerical(
        L.cross_entropy, arrays, ["input", "target"], reduction, label_smoothing=smoothing
    )


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 1.0])
def test_cross_entropy_takes_the_fused_path_only_without_options(smoothing):
    """Integer labels, 'mean', no weight, nothing ignored: the fused kernel, label smoothing
    included; its loss and gradient equal the composed path's (reduction='sum' / N)."""
    arrays = class_arrays()
    x = Tensor(arrays["input"], requires_grad=True)
    fused = L.cross_entropy(x, arrays["target"], label_smoothing=smoothing)
    assert type(fused._ctx).__name__ == "SoftmaxCrossEntropy"
    fused.backward()
    fused_grad, x.grad = x.grad, None
    composed = L.cross_entropy(x, arrays["target"], reduction="sum", label_smoothing=smoothing)
    assert type(composed._ctx).__name__ != "SoftmaxCrossEntropy"
    np.testing.assert_allclose(fused.item() * 6, composed.item(), rtol=1e-13)
    composed.backward()
    np.testing.assert_allclose(fused_grad * 6, x.grad, rtol=1e-12, atol=1e-15)
    assert_numerical(L.cross_entropy, arrays, ["input"], "mean", label_smoothing=smoothing)
    ignored = arrays["target"].copy()
    ignored[0] = -100  # the default ignore_index: never the fused path
    assert np.isfinite(L.cross_entropy(x, ignored).item())


def test_class_target_errors():
    x = Tensor(rng().standard_normal((4, 3)))
    with pytest.raises(LabelError, match=r"dtype float64.*astype"):
        L.cross_entropy(x, np.array([0.0, 1.0, 2.0, 1.0]))
    with pytest.raises(LabelError, match=r"shape \(4, 1\).*expected shape \(4,\)"):
        L.nll_loss(x, np.zeros((4, 1), dtype=np.int64))
    with pytest.raises(LabelError, match=r"\[0, 2\].*got 3"):
        L.cross_entropy(x, np.array([0, 1, 3, 1]), reduction="sum")
    with pytest.raises(LabelError, match=r"\[0, 2\]"):
        L.cross_entropy(x, np.array([0, 1, 3, 1]))
    with pytest.raises(LabelError, match="got -1"):
        L.nll_loss(x, np.array([0, -1, 2, 1]))
    with pytest.raises(ShapeError, match=r"weight of shape \(2,\) for 3 classes"):
        L.cross_entropy(x, np.array([0, 1, 2, 1]), np.ones(2))
    with pytest.raises(ConfigError, match="ignore_index"):
        L.cross_entropy(x, np.full((4, 3), 1 / 3), ignore_index=0)
    with pytest.raises(ConfigError, match="label_smoothing"):
        L.cross_entropy(x, np.array([0, 1, 2, 1]), label_smoothing=1.5)
    with pytest.raises(ConfigError, match="ignore_index"):
        L.nll_loss(x, np.array([0, 1, 2, 1]), ignore_index=0.5)
    with pytest.raises(ShapeError, match="at least one class"):
        L.cross_entropy(Tensor(np.zeros((4, 0))), np.zeros(4, dtype=np.int64))


# ----- modules ------------------------------------------------------------------------------


def test_modules_call_their_functions_with_their_options():
    r = rng(8)
    x, y = Tensor(r.standard_normal((4, 3))), r.standard_normal((4, 3))
    p, labels = Tensor(r.uniform(0.1, 0.9, (4, 3))), np.array([0, 2, 1, 2])
    w = r.uniform(0.5, 2, 3)
    pairs = [
        (L.MSELoss(reduction="sum")(x, y), L.mse_loss(x, y, reduction="sum")),
        (L.L1Loss()(x, y), L.l1_loss(x, y)),
        (L.SmoothL1Loss(beta=0.3)(x, y), L.smooth_l1_loss(x, y, beta=0.3)),
        (
            L.HuberLoss(delta=0.4, reduction="none")(x, y),
            L.huber_loss(x, y, delta=0.4, reduction="none"),
        ),
        (L.BCELoss(w)(p, y.clip(0, 1)), L.binary_cross_entropy(p, y.clip(0, 1), w)),
        (
            L.BCEWithLogitsLoss(w, pos_weight=w[::-1].copy())(x, y.clip(0, 1)),
            L.binary_cross_entropy_with_logits(x, y.clip(0, 1), w, pos_weight=w[::-1].copy()),
        ),
        (L.NLLLoss(w, ignore_index=1)(x, labels), L.nll_loss(x, labels, w, ignore_index=1)),
        (
            L.CrossEntropyLoss(w, label_smoothing=0.1)(x, labels),
            L.cross_entropy(x, labels, w, label_smoothing=0.1),
        ),
    ]
    for module_value, function_value in pairs:
        np.testing.assert_array_equal(module_value.data, function_value.data)
    ce = L.CrossEntropyLoss(w)
    assert [name for name, _ in ce.named_buffers()] == ["weight"] and not ce.parameters()
    ce.float()
    assert ce.weight.dtype == np.float32
    assert L.BCEWithLogitsLoss().weight is None


def test_existing_softmax_cross_entropy_and_l2_penalty_unchanged():
    arrays = class_arrays()
    x = Tensor(arrays["input"])
    np.testing.assert_allclose(
        nn.SoftmaxCrossEntropy()(x, arrays["target"]).item(),
        L.cross_entropy(x, arrays["target"], reduction="sum").item() / 6,
        rtol=1e-13,
    )
    w = Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert L.l2_penalty(w, 0.5).item() == pytest.approx(15.0)
