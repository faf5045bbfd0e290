"""Checks of the closed-form reference (tinygrad_hlcv/reference.py) against
central-difference gradients, as docs/derivation.md prescribes."""

import numpy as np
import pytest

from tinygrad_hlcv import reference as ref

H_STEP = 1e-6  # central-difference step h
MARGIN = 1e-3  # no hidden pre-activation within this distance of ReLU's kink
TOL = 1e-7  # max relative error allowed per parameter
G_MIN = 2e-3  # smallest nonzero |gradient| / max(1, |loss|) in a drawn problem (see make_problem)


def numerical_grad(f, x, h=H_STEP):
    """g[k] = (f(x + h e_k) - f(x - h e_k)) / (2h), perturbing x in place."""
    g = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        old = x[k]
        x[k] = old + h
        f_plus = f()
        x[k] = old - h
        f_minus = f()
        x[k] = old
        g[k] = (f_plus - f_minus) / (2 * h)
    return g


def rel_error(a, n):
    """max_k |a - n| / max(|a| + |n|, 1e-8)."""
    return float(np.max(np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), 1e-8)))


def forward_by_hand(X, weights, biases, activation, alpha, masks, q):
    """Independent forward pass: the hidden pre-activations Z_2 … Z_L and the scores."""
    A, Zs = X, []
    for l, (W, b) in enumerate(zip(weights[:-1], biases[:-1])):
        Z = A @ W + b
        Zs.append(Z)
        A = np.maximum(Z, 0) if activation == "relu" else np.where(Z > 0, Z, alpha * Z)
        if masks is not None and masks[l] is not None:
            A = A * masks[l] / q
    return Zs, A @ weights[-1] + biases[-1]


def away_from_zero(rng, shape):
    """Entries ±U(0.5, 1.5): no tiny inputs or weights, hence fewer tiny gradient entries."""
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.5, 1.5, shape)


def make_problem(sizes, activation, reg, dropout, seed, N=3, alpha=0.3, q=0.5):
    """Draw a net, retrying seeds deterministically (seed, seed + 1, …) until the draw is
    well conditioned for central differences:

    * every hidden pre-activation has |Z| > MARGIN (the quotient never straddles a kink);
    * every gradient entry is exactly 0 (dead or dropped unit: then both sides are exactly
      0) or has magnitude > G_MIN·max(1, |J~|). In float64 the quotient's rounding floor
      is about eps·|J~|/h ≈ 1e-10·|J~|, which alone would exceed TOL relative to a true
      gradient below ~1e-3·|J~|. This only rejects draws; it cannot hide a wrong
      gradient, which the comparison still catches (and a backward that is never
      "well conditioned" fails with "no seed").
    """
    for s in range(seed, seed + 1000):
        rng = np.random.default_rng(s)
        X = away_from_zero(rng, (N, sizes[0]))
        y = rng.integers(0, sizes[-1], N)
        weights = [
            1.5 * away_from_zero(rng, (i, o)) / np.sqrt(i) for i, o in zip(sizes[:-1], sizes[1:])
        ]
        biases = [0.1 * rng.standard_normal(o) for o in sizes[1:]]
        masks = None
        if dropout:
            masks = [(rng.random((N, h)) < q).astype(np.float64) for h in sizes[1:-1]]
            if len(masks) > 1:
                masks[0] = None  # a hidden layer without dropout, too
        kw = dict(
            activation=activation,
            negative_slope=alpha,
            reg=reg,
            dropout_masks=masks,
            keep_prob=q if dropout else None,
        )
        Zs, _ = forward_by_hand(X, weights, biases, activation, alpha, masks, q)
        if not all(np.abs(Z).min() > MARGIN for Z in Zs):
            continue
        loss, grads = ref.mlp_loss_and_grads(X, y, weights, biases, want_input_grad=True, **kw)
        g_min = G_MIN * max(1.0, abs(loss))
        if all(np.any(g != 0) and np.all((g == 0) | (np.abs(g) > g_min)) for g in grads.values()):
            return X, y, weights, biases, kw
    raise AssertionError("no seed gave a well-conditioned draw")


@pytest.mark.parametrize("depth", [2, 3, 4, 5])
@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
@pytest.mark.parametrize("reg, dropout", [(0.0, False), (0.03, False), (0.03, True)])
def test_gradients_match_central_differences(depth, activation, reg, dropout):
    sizes = [6, 5, 4, 5, 4, 3][:depth] + [3]
    X, y, weights, biases, kw = make_problem(sizes, activation, reg, dropout, seed=100 * depth)
    loss, grads = ref.mlp_loss_and_grads(X, y, weights, biases, want_input_grad=True, **kw)
    assert sorted(grads) == sorted(["X"] + [f"{p}{l}" for l in range(1, depth + 1) for p in "Wb"])

    def f():
        return ref.mlp_loss_and_grads(X, y, weights, biases, **kw)[0]

    assert f() == loss
    _, scores = forward_by_hand(
        X,
        weights,
        biases,
        kw["activation"],
        kw["negative_slope"],
        kw["dropout_masks"],
        kw["keep_prob"],
    )
    log_p = scores - np.log(
        np.exp(scores).sum(axis=1, keepdims=True)
    )  # fine for these small scores
    expected = -log_p[np.arange(len(y)), y].mean() + reg * sum((W**2).sum() for W in weights)
    assert loss == pytest.approx(expected, rel=1e-12)
    params = {"X": X}
    for l in range(depth):
        params[f"W{l + 1}"], params[f"b{l + 1}"] = weights[l], biases[l]
    for name, p in params.items():
        assert grads[name].shape == p.shape
        err = rel_error(grads[name], numerical_grad(f, p))
        assert err <= TOL, f"{name}: relative error {err:.2e}"


def test_tiny_weights_give_log_C():
    rng = np.random.default_rng(0)
    N, D, H, C = 50, 20, 10, 7
    X, y = rng.standard_normal((N, D)), rng.integers(0, C, N)
    weights = [1e-4 * rng.standard_normal((D, H)), 1e-4 * rng.standard_normal((H, C))]
    biases = [np.zeros(H), np.zeros(C)]
    loss, _ = ref.mlp_loss_and_grads(X, y, weights, biases)
    assert loss == pytest.approx(np.log(C), abs=1e-6)
    assert ref.mlp_scores(X, weights, biases).shape == (N, C)


def test_softmax_cross_entropy_extreme_logits():
    scores = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [0.0, 0.0, 0.0]])
    y = np.array([1, 2, 0])
    with np.errstate(all="raise"):
        loss, d = ref.softmax_cross_entropy_and_delta(scores, y)
    # -log P: row 0 -> 2e4, row 1 -> log 2, row 2 -> log 3
    assert np.isfinite(loss) and np.all(np.isfinite(d))
    assert loss == pytest.approx((2e4 + np.log(2) + np.log(3)) / 3, rel=1e-12)
    P = np.array([[1, 0, 0], [0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    Y = np.eye(3)[y]
    np.testing.assert_allclose(d, (P - Y) / 3, atol=1e-15)


def test_float32_in_float32_out():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((8, 5)).astype(np.float32)
    weights = [rng.standard_normal(s).astype(np.float32) for s in [(5, 4), (4, 4), (4, 3)]]
    biases = [np.zeros(o, np.float32) for o in (4, 4, 3)]
    masks = [np.ones((8, 4), np.float32), None]
    loss, grads = ref.mlp_loss_and_grads(
        X,
        rng.integers(0, 3, 8),
        weights,
        biases,
        reg=0.1,
        activation="leaky_relu",
        dropout_masks=masks,
        keep_prob=0.8,
        want_input_grad=True,
    )
    assert isinstance(loss, float)
    assert {g.dtype for g in grads.values()} == {np.dtype(np.float32)}
    assert ref.mlp_scores(X, weights, biases).dtype == np.float32


def test_bad_shapes_raise_with_both_shapes():
    X, y = np.zeros((4, 5)), np.zeros(4, int)
    W1, W2, b1, b2 = np.zeros((5, 3)), np.zeros((4, 2)), np.zeros(3), np.zeros(2)
    with pytest.raises(ValueError, match=r"\(5, 3\).*\(4, 2\)"):
        ref.mlp_loss_and_grads(X, y, [W1, W2], [b1, b2])
    with pytest.raises(ValueError, match=r"\(4, 6\).*\(5, 3\)"):
        ref.mlp_scores(np.zeros((4, 6)), [W1], [b1])
    with pytest.raises(ValueError, match=r"\(4,\).*\(5, 3\)"):
        ref.mlp_scores(X, [W1], [np.zeros(4)])
    W2 = np.zeros((3, 2))
    with pytest.raises(ValueError, match="0 … 1"):
        ref.mlp_loss_and_grads(X, np.array([0, 1, 2, 0]), [W1, W2], [b1, b2])
    with pytest.raises(ValueError, match="mask"):
        ref.mlp_loss_and_grads(X, y, [W1, W2], [b1, b2], dropout_masks=[None, None], keep_prob=0.5)
    with pytest.raises(ValueError, match=r"\(4, 2\).*\(4, 3\)"):
        ref.mlp_loss_and_grads(
            X, y, [W1, W2], [b1, b2], dropout_masks=[np.ones((4, 2))], keep_prob=0.5
        )
    with pytest.raises(ValueError, match="keep_prob"):
        ref.mlp_loss_and_grads(X, y, [W1, W2], [b1, b2], dropout_masks=[np.ones((4, 3))])


def test_kink_conventions_at_exactly_zero():
    """φ'(0) = 0 for ReLU (as PyTorch); LeakyReLU takes the slope α at z = 0 (z <= 0 side)."""
    X, y = np.zeros((2, 3)), np.array([0, 1])
    W1, b1 = np.ones((3, 3)), np.array([0.0, 1.0, -1.0])  # Z2 = b1 in every row: 0, 1, -1
    W2, b2 = np.arange(6.0).reshape(3, 2) / 6, np.zeros(2)
    for activation, A_row, dphi in [
        ("relu", [0, 1, 0], [0, 1, 0]),
        ("leaky_relu", [0, 1, -0.2], [0.2, 1, 0.2]),
    ]:
        _, g = ref.mlp_loss_and_grads(
            X, y, [W1, W2], [b1, b2], activation=activation, negative_slope=0.2
        )
        scores = np.array([A_row, A_row]) @ W2 + b2
        np.testing.assert_array_equal(
            ref.mlp_scores(X, [W1, W2], [b1, b2], activation=activation, negative_slope=0.2), scores
        )
        _, d3 = ref.softmax_cross_entropy_and_delta(scores, y)
        np.testing.assert_allclose(g["b1"], (d3 @ W2.T * dphi).sum(axis=0), rtol=1e-12, atol=1e-15)


class _FixedDraws:
    """A stand-in Generator giving set draws, in the order flip_crop_reference asks."""

    def __init__(self, uniform, offsets):
        self.uniform, self.offsets = np.array(uniform), np.array(offsets)

    def random(self, n):
        assert n == len(self.uniform)
        return self.uniform

    def integers(self, low, high, size):
        assert (low, high, size) == (0, 3, (2, len(self.uniform)))  # pad 1: offsets 0..2
        return self.offsets


def test_flip_crop_reference_by_hand():
    from tinygrad_hlcv.reference import flip_crop_reference

    X = np.array([[[1, 2, 3], [4, 5, 6]], [[7, 8, 9], [10, 11, 12]]], np.float32)[..., None]
    # image 0: flipped (0.2 < 0.5), offsets (dy, dx) = (0, 2); image 1: kept, offsets (1, 0)
    rng = _FixedDraws([0.2, 0.7], [[0, 1], [2, 0]])
    got = flip_crop_reference(X, rng, flip=True, pad=1)[..., 0]
    expected = [
        [[0, 0, 0], [2, 1, 0]],  # [[3,2,1],[6,5,4]] padded, the window from row 0, column 2
        [[0, 7, 8], [0, 10, 11]],  # the window from row 1, column 0: the image moved right
    ]
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(flip_crop_reference(X, None, flip=False, pad=0), X)
