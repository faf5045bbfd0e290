"""Tests for nn.utils.clip_grad_norm_ and clip_grad_value_: against the formulas by hand and
against PyTorch's (norm types, clipping and not, NaN and Inf, float32), and their errors."""

import numpy as np
import pytest

from tinygrad_hlcv import Tensor
from tinygrad_hlcv.errors import AnomalyError, ConfigError, DTypeError, ShapeError
from tinygrad_hlcv.nn.utils import (
    clip_grad_norm_,
    clip_grad_value_,
    clip_grads_with_norm_,
    get_total_norm,
)

SHAPES = [(4, 3), (3,), (2, 5)]


def params_with_grads(scale=1.0, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    params = [Tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in SHAPES]
    for p in params:
        p.grad = (scale * rng.standard_normal(p.shape)).astype(dtype)
    return params


def test_clip_grad_norm_by_hand():
    params = params_with_grads(scale=3.0)
    before = [p.grad.copy() for p in params]
    norm = np.sqrt(sum((g**2).sum() for g in before))  # ‖g‖ of all gradients as one vector
    total = clip_grad_norm_(params, max_norm=1.0)
    assert isinstance(total, Tensor) and total.shape == () and total.dtype == np.float64
    assert total.item() == pytest.approx(norm, rel=1e-14)
    for p, g in zip(params, before):
        np.testing.assert_allclose(p.grad, g / (norm + 1e-6), rtol=1e-14)
    clipped = np.sqrt(sum((p.grad**2).sum() for p in params))
    assert clipped == pytest.approx(1.0, rel=1e-5)


def test_a_norm_below_max_norm_leaves_the_gradients_alone():
    params = params_with_grads(scale=0.01)
    before = [p.grad.copy() for p in params]
    total = clip_grad_norm_(params, max_norm=10.0)
    assert total.item() < 10.0
    for p, g in zip(params, before):
        np.testing.assert_array_equal(p.grad, g)


def test_infinity_norm_and_p_norms_by_hand():
    params = params_with_grads(scale=2.0)
    grads = np.concatenate([p.grad.reshape(-1) for p in params])
    assert get_total_norm([p.grad for p in params], "inf").item() == np.abs(grads).max()
    assert get_total_norm([p.grad for p in params], float("inf")).item() == np.abs(grads).max()
    assert get_total_norm([p.grad for p in params], 1).item() == pytest.approx(
        np.abs(grads).sum(), rel=1e-13
    )
    assert get_total_norm([p.grad for p in params], 3).item() == pytest.approx(
        (np.abs(grads) ** 3).sum() ** (1 / 3), rel=1e-13
    )


@pytest.mark.parametrize("norm_type", [2.0, 1, 3.5, "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_clip_grad_norm_matches_pytorch(norm_type, max_norm, dtype):
    torch = pytest.importorskip("torch")
    ours = params_with_grads(scale=2.0, dtype=dtype)
    theirs = [torch.tensor(p.data, requires_grad=True) for p in ours]
    for p, t in zip(ours, theirs):
        t.grad = torch.tensor(p.grad.copy())
    total = clip_grad_norm_(iter(ours), max_norm, norm_type=norm_type)  # a generator, too
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    assert total.dtype == dtype
    np.testing.assert_allclose(total.item(), expected.item(), rtol=rtol)
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=rtol, atol=1e-30)


@pytest.mark.parametrize("special", [np.nan, np.inf])
def test_nan_and_inf_gradients_as_pytorch(special):
    torch = pytest.importorskip("torch")
    ours = params_with_grads()
    ours[1].grad[0] = special
    theirs = [torch.tensor(p.data, requires_grad=True) for p in ours]
    for p, t in zip(ours, theirs):
        t.grad = torch.tensor(p.grad.copy())
    with np.errstate(invalid="ignore"):  # (Inf · 0 in the scaling)
        total = clip_grad_norm_(ours, 1.0)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    np.testing.assert_array_equal(total.data, expected.numpy())
    for p, t in zip(ours, theirs):
        np.testing.assert_array_equal(p.grad, t.grad.numpy())  # NaN where torch has NaN
    with pytest.raises(AnomalyError) as info:
        clip_grad_norm_(params_with_grads() + [ours[1]], 1.0, error_if_nonfinite=True)
    assert str(info.value).startswith("the total norm of order 2 of the gradients is ")
    assert "expected finite gradients" in str(info.value)


def test_parameters_without_gradients_are_left_out_and_none_give_zero():
    params = params_with_grads(scale=3.0)
    params[1].grad = None
    norm = np.sqrt(sum((p.grad**2).sum() for p in params if p.grad is not None))
    assert clip_grad_norm_(params, 1.0).item() == pytest.approx(norm, rel=1e-14)
    assert params[1].grad is None
    nothing = [Tensor(np.ones(3), requires_grad=True)]
    total = clip_grad_norm_(nothing, 1.0)
    assert total.item() == 0.0 and nothing[0].grad is None


def test_a_single_tensor_and_clip_grads_with_a_given_norm():
    p = params_with_grads()[0]
    g = p.grad.copy()
    total = clip_grad_norm_(p, 0.1)
    np.testing.assert_allclose(p.grad, g * 0.1 / (np.linalg.norm(g) + 1e-6), rtol=1e-14)
    assert total.item() == pytest.approx(np.linalg.norm(g), rel=1e-14)
    p.grad = g.copy()
    clip_grads_with_norm_([p], 1.0, 4.0)  # the norm the caller measured
    np.testing.assert_allclose(p.grad, g * 1.0 / (4.0 + 1e-6), rtol=1e-14)


def test_float32_gradients_stay_float32():
    params = params_with_grads(scale=5.0, dtype=np.float32)
    total = clip_grad_norm_(params, 1.0)
    assert total.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in params)


def test_a_read_only_gradient_is_clipped_in_a_copy():
    p = Tensor(np.zeros(3), requires_grad=True)
    given = np.array([3.0, -4.0, 0.0])
    given.flags.writeable = False
    p.grad = given
    clip_grad_norm_([p], 1.0)
    np.testing.assert_allclose(p.grad, [0.6, -0.8, 0.0], rtol=1e-6)
    np.testing.assert_array_equal(given, [3.0, -4.0, 0.0])


def test_clip_grad_value_by_hand_and_against_pytorch():
    ours = params_with_grads(scale=2.0)
    ours[0].grad[0, 0] = np.nan
    before = [p.grad.copy() for p in ours]
    assert clip_grad_value_(ours, 0.5) is None
    for p, g in zip(ours, before):
        with np.errstate(invalid="ignore"):
            np.testing.assert_array_equal(p.grad, np.clip(g, -0.5, 0.5))
    assert np.isnan(ours[0].grad[0, 0]) and np.abs(ours[1].grad).max() == 0.5
    torch = pytest.importorskip("torch")
    theirs = [torch.tensor(np.zeros(g.shape), requires_grad=True) for g in before]
    for t, g in zip(theirs, before):
        t.grad = torch.tensor(g.copy())
    torch.nn.utils.clip_grad_value_(theirs, 0.5)
    for p, t in zip(ours, theirs):
        np.testing.assert_array_equal(p.grad, t.grad.numpy())


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda ps: clip_grad_norm_(ps, -1.0),
            ConfigError,
            "clip_grad_norm_: max_norm must be >= 0 (a finite number), got -1.0",
        ),
        (
            lambda ps: clip_grad_norm_(ps, 1.0, norm_type=0),
            ConfigError,
            "clip_grad_norm_: norm_type must be > 0 (a finite number), got 0",
        ),
        (
            lambda ps: clip_grad_norm_(ps, 1.0, norm_type="fro"),
            ConfigError,
            "clip_grad_norm_: norm_type must be > 0 (a finite number), got 'fro'",
        ),
        (
            lambda ps: clip_grad_norm_(3, 1.0),
            ConfigError,
            "clip_grad_norm_: parameters must be a Tensor or an iterable of Tensors (pass "
            "model.parameters()), got int",
        ),
        (
            lambda ps: clip_grad_norm_([ps[0], np.zeros(3)], 1.0),
            ConfigError,
            "clip_grad_norm_: parameters must be Tensors (pass model.parameters()); parameter 1 is "
            "of type ndarray",
        ),
        (
            lambda ps: clip_grad_value_(ps, -0.5),
            ConfigError,
            "clip_grad_value_: clip_value must be >= 0 (a finite number), got -0.5",
        ),
        (
            lambda ps: clip_grad_value_(ps, float("nan")),
            ConfigError,
            "clip_grad_value_: clip_value must be >= 0 (a finite number), got nan",
        ),
    ],
)
def test_bad_arguments_say_what_was_expected(call, error, message):
    params = params_with_grads()
    before = [p.grad.copy() for p in params]
    with pytest.raises(error) as info:
        call(params)
    assert str(info.value) == message
    for p, g in zip(params, before):
        np.testing.assert_array_equal(p.grad, g)


@pytest.mark.parametrize(
    "grad, error, message",
    [
        (
            np.zeros(4),
            ShapeError,
            "clip_grad_norm_: parameter 1's .grad has shape (4,), expected "
            "the parameter's shape (3,)",
        ),
        (
            [0.0, 0.0, 0.0],
            DTypeError,
            "clip_grad_norm_: parameter 1's .grad is [0.0, 0.0, 0.0]; "
            "expected a float array of the parameter's shape",
        ),
    ],
)
def test_gradients_that_do_not_fit_are_refused(grad, error, message):
    params = params_with_grads()
    params[1].grad = grad
    with pytest.raises(error) as info:
        clip_grad_norm_(params, 1.0)
    assert str(info.value) == message
