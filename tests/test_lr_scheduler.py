"""Tests for optim.lr_scheduler: every schedule's rates against PyTorch's, step by step for
25+ steps with two parameter groups (and the momentum OneCycleLR cycles), schedules chained
and switched, a rate set by hand, state dicts (also the format of earlier versions), and
the errors a user gets."""

import copy
import math

import numpy as np
import pytest

from tinygrad_hlcv import Tensor, optim
from tinygrad_hlcv.errors import ConfigError
from tinygrad_hlcv.optim import lr_scheduler

STEPS = 25
LRS = (0.1, 0.05)


def our_optimizer(kind="SGD", lrs=LRS):
    params = [Tensor(np.zeros(2), requires_grad=True) for _ in lrs]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(params, lrs)]
    if kind == "SGD":
        return optim.SGD(groups, lr=lrs[0], momentum=0.9)
    return getattr(optim, kind)(groups, lr=lrs[0])


def torch_optimizer(kind="SGD", lrs=LRS):
    torch = pytest.importorskip("torch")
    groups = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs]
    if kind == "SGD":
        return torch.optim.SGD(groups, lr=lrs[0], momentum=0.9)
    return getattr(torch.optim, kind)(groups, lr=lrs[0])


def rates(opt, key="lr"):
    return [group[key] for group in opt.param_groups]


def assert_rates(ours, theirs, key="lr"):
    got, expected = rates(ours, key), rates(theirs, key)
    if key == "betas":
        got, expected = [b[0] for b in got], [b[0] for b in expected]
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15), key


SCHEDULES = {
    "StepLR": lambda m, o: m.StepLR(o, step_size=3, gamma=0.5),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[2, 5, 5, 11], gamma=0.3),
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, gamma=0.9),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, T_max=8, eta_min=0.001),
    "LinearLR-warmup": lambda m, o: m.LinearLR(o, start_factor=0.1, total_iters=6),
    "LinearLR-decay": lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.2, total_iters=10),
    "LambdaLR": lambda m, o: m.LambdaLR(o, [lambda e: 0.95**e, lambda e: 1 / (e + 1)]),
    "OneCycleLR-cos": lambda m, o: m.OneCycleLR(o, max_lr=[0.5, 0.2], total_steps=STEPS),
    "OneCycleLR-linear": lambda m, o: m.OneCycleLR(
        o,
        max_lr=0.4,
        epochs=5,
        steps_per_epoch=5,
        pct_start=0.25,
        anneal_strategy="linear",
        div_factor=10.0,
        final_div_factor=100.0,
        base_momentum=0.8,
        max_momentum=[0.9, 0.95],
    ),
    "OneCycleLR-three-phase": lambda m, o: m.OneCycleLR(
        o, max_lr=0.3, total_steps=STEPS, three_phase=True, pct_start=0.2
    ),
    "OneCycleLR-no-momentum": lambda m, o: m.OneCycleLR(
        o, max_lr=0.3, total_steps=STEPS, cycle_momentum=False
    ),
    "SequentialLR-warmup-cosine": lambda m, o: m.SequentialLR(
        o,
        [m.LinearLR(o, start_factor=0.2, total_iters=4), m.CosineAnnealingLR(o, T_max=10)],
        milestones=[4],
    ),
    "SequentialLR-three": lambda m, o: m.SequentialLR(
        o,
        [
            m.ExponentialLR(o, gamma=0.9),
            m.StepLR(o, step_size=3, gamma=0.5),
            m.LinearLR(o, start_factor=0.5, total_iters=4),
        ],
        milestones=[5, 12],
    ),
    "SequentialLR-multistep": lambda m, o: m.SequentialLR(  # (its closed form at a milestone)
        o,
        [m.ExponentialLR(o, gamma=0.9), m.MultiStepLR(o, milestones=[0, 3, 6], gamma=0.5)],
        milestones=[4],
    ),
}


def torch_schedule(name, opt):
    torch = pytest.importorskip("torch")
    return SCHEDULES[name](torch.optim.lr_scheduler, opt)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_rates_match_pytorch_step_by_step(name):
    ours, theirs = our_optimizer(), torch_optimizer()
    schedule, reference = SCHEDULES[name](lr_scheduler, ours), torch_schedule(name, theirs)
    assert_rates(ours, theirs)  # construction sets the first rates
    seen = {tuple(rates(ours))}
    for _ in range(STEPS):
        theirs.step()  # (torch warns without it)
        schedule.step()
        reference.step()
        assert_rates(ours, theirs)
        assert_rates(ours, theirs, "momentum")
        assert schedule.get_last_lr() == pytest.approx(reference.get_last_lr(), rel=1e-12)
        seen.add(tuple(rates(ours)))
    assert len(seen) > 3  # the rates did change
    assert schedule.last_epoch == reference.last_epoch


def test_one_cycle_cycles_adams_beta1_as_pytorch():
    ours, theirs = our_optimizer("Adam"), torch_optimizer("Adam")
    make = SCHEDULES["OneCycleLR-cos"]
    schedule, reference = make(lr_scheduler, ours), torch_schedule("OneCycleLR-cos", theirs)
    for _ in range(STEPS):
        theirs.step()
        schedule.step()
        reference.step()
        assert_rates(ours, theirs)
        assert_rates(ours, theirs, "betas")
    assert ours.param_groups[0]["betas"][1] == 0.999


def test_two_schedules_stepped_together_compose_as_in_pytorch():
    ours, theirs = our_optimizer(), torch_optimizer()
    pairs = []
    for m, o in ((lr_scheduler, ours), (pytest.importorskip("torch").optim.lr_scheduler, theirs)):
        pairs.append((m.ExponentialLR(o, gamma=0.9), m.MultiStepLR(o, milestones=[5, 10])))
    for _ in range(STEPS):
        theirs.step()
        for first, second in pairs:
            first.step()
            second.step()
        assert_rates(ours, theirs)
    assert rates(ours)[0] == pytest.approx(0.1 * 0.9**STEPS * 0.01, rel=1e-12)


def test_a_rate_set_by_hand_carries_on_as_in_pytorch():
    ours, theirs = our_optimizer(), torch_optimizer()
    schedule = lr_scheduler.StepLR(ours, step_size=4, gamma=0.5)
    reference = torch_schedule("StepLR", theirs)
    reference.step_size = 4
    for step in range(12):
        if step == 5:
            ours.param_groups[1]["lr"] = theirs.param_groups[1]["lr"] = 0.3
        theirs.step()
        schedule.step()
        reference.step()
        assert_rates(ours, theirs)


@pytest.mark.parametrize(
    "mode, threshold_mode, cooldown, min_lr",
    [
        ("min", "rel", 0, 0),
        ("min", "abs", 2, [0.01, 0.0]),
        ("max", "rel", 1, 0.02),
        ("max", "abs", 0, 0),
    ],
)
def test_reduce_on_plateau_matches_pytorch(mode, threshold_mode, cooldown, min_lr):
    torch = pytest.importorskip("torch")
    ours, theirs = our_optimizer(), torch_optimizer()
    options = dict(
        mode=mode,
        factor=0.5,
        patience=2,
        threshold=0.05,
        threshold_mode=threshold_mode,
        cooldown=cooldown,
        min_lr=min_lr,
    )
    schedule = lr_scheduler.ReduceLROnPlateau(ours, **options)
    reference = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs, **options)
    rng = np.random.default_rng(0)
    metrics = np.concatenate([np.linspace(1, 0.5, 6), 0.5 + 0.01 * rng.standard_normal(24)])
    if mode == "max":
        metrics = 2 - metrics
    for k, metric in enumerate(metrics):
        value = Tensor(np.array(metric)) if k % 3 == 0 else float(metric)  # a Tensor, too
        schedule.step(value)
        reference.step(float(metric))
        assert_rates(ours, theirs)
        assert schedule.num_bad_epochs == reference.num_bad_epochs
    assert rates(ours) != list(LRS)


def test_a_nan_metric_counts_as_no_improvement():
    schedule = lr_scheduler.ReduceLROnPlateau(our_optimizer(), patience=0)
    schedule.step(1.0)
    schedule.step(float("nan"))
    assert schedule.get_last_lr() == pytest.approx([0.01, 0.005])


def test_resuming_with_last_epoch_as_pytorch():
    ours, theirs = our_optimizer(), torch_optimizer()
    with pytest.raises(ConfigError) as info:
        lr_scheduler.StepLR(ours, step_size=3, last_epoch=4)
    assert str(info.value) == (
        "StepLR: resuming at last_epoch=4 needs 'initial_lr' in every "
        "parameter group; expected the optimizer's state loaded first"
    )
    for opt in (ours, theirs):
        for group, lr in zip(opt.param_groups, (0.4, 0.2)):
            group["initial_lr"] = lr
    schedule = lr_scheduler.StepLR(ours, step_size=3, gamma=0.5, last_epoch=4)
    reference = torch_schedule("StepLR", theirs).__class__(theirs, 3, 0.5, last_epoch=4)
    for _ in range(8):
        assert_rates(ours, theirs)
        theirs.step()
        schedule.step()
        reference.step()


# ------------------------------------------------------------- by hand, and the optimizer


def test_exponential_and_cosine_closed_forms_by_hand():
    opt = our_optimizer()
    schedule = optim.ExponentialLR(opt, gamma=0.9)
    assert rates(opt) == list(LRS) and schedule.get_last_lr() == list(LRS)
    for epoch in range(1, 11):
        schedule.step()
        assert rates(opt) == pytest.approx([lr * 0.9**epoch for lr in LRS], rel=1e-14)
        assert schedule.last_epoch == schedule.epoch == epoch
    opt = our_optimizer()
    schedule = optim.CosineAnnealingLR(opt, T_max=8, eta_min=0.01)
    for epoch in range(1, 20):
        schedule.step()
        expected = [0.01 + (lr - 0.01) * (1 + math.cos(math.pi * epoch / 8)) / 2 for lr in LRS]
        assert rates(opt) == pytest.approx(expected, rel=1e-12)
        if epoch == 4:  # halfway: the mean
            assert rates(opt)[0] == pytest.approx((0.1 + 0.01) / 2, rel=1e-12)
        if epoch == 8:
            assert rates(opt) == pytest.approx([0.01, 0.01], rel=1e-12)


def test_the_schedule_drives_the_optimizers_update():
    p = Tensor(np.zeros(2), requires_grad=True)
    opt = optim.SGD([p], lr=1.0)
    schedule = optim.StepLR(opt, step_size=1, gamma=0.5)
    expected = np.zeros(2)
    for epoch in range(3):
        p.grad = np.ones(2)
        opt.step()
        expected -= 0.5**epoch  # lr 1, 0.5, 0.25
        schedule.step()
    np.testing.assert_allclose(p.data, expected, rtol=1e-15)
    assert opt.lr == 0.125


def test_a_cosine_schedule_may_end_at_a_rate_of_zero():
    p = Tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    schedule = optim.CosineAnnealingLR(opt, T_max=2)
    for _ in range(2):
        schedule.step()
    assert opt.lr == pytest.approx(0.0, abs=1e-17)
    p.grad = np.ones(2)
    opt.step()  # a rate of 0 is valid in a group
    np.testing.assert_allclose(p.data, 1.0, rtol=1e-15)


def test_get_last_lr_is_a_copy():
    schedule = optim.ExponentialLR(our_optimizer(), gamma=0.5)
    schedule.get_last_lr().append(7)
    assert schedule.get_last_lr() == list(LRS)


def test_a_subclass_may_override_step_and_set_its_attributes_after_the_base_constructor():
    class Recording(optim.ExponentialLR):
        def __init__(self, optimizer, gamma):
            super().__init__(optimizer, gamma)
            self.calls = 0

        def step(self):
            self.calls += 1
            super().step()

    schedule = Recording(our_optimizer(), 0.5)
    schedule.step()
    assert schedule.calls == 1 and schedule.get_last_lr() == [0.05, 0.025]
    assert "calls" not in schedule.state_dict()


# ------------------------------------------------------------------------- state dicts


def _run(name, steps, metric=None):
    opt = our_optimizer()
    schedule = (
        SCHEDULES[name](lr_scheduler, opt)
        if name in SCHEDULES
        else lr_scheduler.ReduceLROnPlateau(opt, patience=1, cooldown=1)
    )
    for k in range(steps):
        schedule.step(*([1.0 + (k % 2)] if name == "ReduceLROnPlateau" else []))
    return opt, schedule


@pytest.mark.parametrize("name", [*sorted(SCHEDULES), "ReduceLROnPlateau"])
def test_state_dict_round_trip_continues_identically(name):
    opt_a, schedule_a = _run(name, 7)
    saved_opt, saved = opt_a.state_dict(), schedule_a.state_dict()
    kept = copy.deepcopy(saved)
    opt_b, schedule_b = _run(name, 2)  # elsewhere in the schedule
    opt_b.load_state_dict(saved_opt)
    schedule_b.load_state_dict(saved)
    assert schedule_b.get_last_lr() == schedule_a.get_last_lr()
    for k in range(STEPS - 7):
        args = [1.0 + (k % 3)] if name == "ReduceLROnPlateau" else []
        schedule_a.step(*args)
        schedule_b.step(*args)
        assert rates(opt_b) == rates(opt_a)
        assert rates(opt_b, "momentum") == rates(opt_a, "momentum")
    assert schedule_b.state_dict() == schedule_a.state_dict()
    assert saved == kept  # the saved state did not change


def test_a_callable_objects_attributes_are_saved_as_in_pytorch():
    class Halve:
        def __init__(self):
            self.factor = 0.5

        def __call__(self, epoch):
            return self.factor**epoch

    first, second = Halve(), Halve()
    schedule = lr_scheduler.LambdaLR(our_optimizer(), [first, lambda e: 1.0])
    first.factor = 0.25
    state = schedule.state_dict()
    assert state["lr_lambdas"] == [{"factor": 0.25}, None]
    other = lr_scheduler.LambdaLR(our_optimizer(), [second, lambda e: 1.0])
    other.load_state_dict(state)
    assert second.factor == 0.25


def test_the_format_of_earlier_versions_still_loads():
    """A checkpoint's {'base_lr', 'epoch'} and the optimizer's {'lr', 'state'}."""
    opt = optim.SGD([Tensor(np.zeros(2), requires_grad=True)], lr=0.9)
    schedule = optim.ExponentialLR(opt, gamma=0.8)
    opt.load_state_dict({"lr": 0.5 * 0.8**3, "state": [{}]})
    schedule.load_state_dict({"base_lr": 0.5, "epoch": 3})
    assert schedule.last_epoch == 3 and schedule.base_lrs == [0.5]
    assert schedule.get_last_lr() == pytest.approx([0.5 * 0.8**3], rel=1e-14)
    schedule.step()
    assert opt.lr == pytest.approx(0.5 * 0.8**4, rel=1e-14)
    with pytest.raises(ConfigError) as info:
        schedule.load_state_dict({"base_lr": 0.5, "epoch": -1})
    assert str(info.value) == "schedule state: epoch must be an integer >= 0, got -1"


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda s: s.pop("gamma"),
            "schedule state must be a dict with the keys ['_last_lr', "
            "'_step_count', 'base_lrs', 'gamma', 'last_epoch', 'step_size'] "
            "(as StepLR.state_dict() gives), got ['_last_lr', '_step_count', "
            "'base_lrs', 'last_epoch', 'step_size']",
        ),
        (lambda s: s.update(gamma=2.0), "schedule state: gamma must be in (0, 1], got 2.0"),
        (
            lambda s: s.update(last_epoch=-2),
            "schedule state: last_epoch must be an integer >= -1, got -2",
        ),
        (
            lambda s: s.update(base_lrs=[0.1]),
            "schedule state: base_lrs must be a list of 2 values (one per parameter "
            "group), each >= 0 (a finite number), got [0.1]",
        ),
        (
            lambda s: s.update(_last_lr=[0.1, float("nan")]),
            "schedule state: _last_lr must be a list of 2 values (one per parameter "
            "group), each >= 0 (a finite number), got [0.1, nan]",
        ),
        (
            lambda s: s.update(step_size=2.5),
            "schedule state: step_size must be an integer >= 1, got 2.5",
        ),
    ],
)
def test_load_state_dict_refuses_and_changes_nothing(change, message):
    opt, schedule = _run("StepLR", 4)
    before = schedule.state_dict()
    state = copy.deepcopy(before)
    change(state)
    with pytest.raises(ConfigError) as info:
        schedule.load_state_dict(state)
    assert str(info.value) == message
    assert schedule.state_dict() == before


def test_a_sequence_refuses_a_bad_inner_state_before_changing_anything():
    _, schedule = _run("SequentialLR-three", 6)
    before = schedule.state_dict()
    state = copy.deepcopy(before)
    state["_schedulers"][2]["total_iters"] = 0
    with pytest.raises(ConfigError, match="total_iters must be an integer >= 1, got 0"):
        schedule.load_state_dict(state)
    assert schedule.state_dict() == before


def test_a_plateau_state_with_a_wrong_type_is_refused():
    _, schedule = _run("ReduceLROnPlateau", 3)
    state = schedule.state_dict()
    state["num_bad_epochs"] = "2"
    with pytest.raises(ConfigError) as info:
        schedule.load_state_dict(state)
    assert str(info.value) == (
        "schedule state: num_bad_epochs must be of type int (as state_dict() gives), got '2'"
    )


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda o: optim.ExponentialLR(o, gamma=0),
            "ExponentialLR: gamma must be in (0, 1], got 0",
        ),
        (
            lambda o: optim.ExponentialLR("sgd", gamma=0.5),
            "ExponentialLR needs an optimizer (optim.SGD, optim.Adam, ...), got str",
        ),
        (
            lambda o: optim.StepLR(o, step_size=2.0),
            "StepLR: step_size must be an integer >= 1, got 2.0",
        ),
        (
            lambda o: optim.StepLR(o, step_size=2, gamma=True),
            "StepLR: gamma must be in (0, 1], got True",
        ),
        (
            lambda o: optim.MultiStepLR(o, milestones=[2, -1]),
            "MultiStepLR: each milestone must be an integer >= 0, got -1",
        ),
        (
            lambda o: optim.MultiStepLR(o, milestones=5),
            "MultiStepLR: milestones must be a list of epochs, got 5",
        ),
        (
            lambda o: optim.CosineAnnealingLR(o, T_max=0),
            "CosineAnnealingLR: T_max must be an integer >= 1, got 0",
        ),
        (
            lambda o: optim.CosineAnnealingLR(o, T_max=3, eta_min=-0.1),
            "CosineAnnealingLR: eta_min must be >= 0 (a finite number), got -0.1",
        ),
        (
            lambda o: optim.LinearLR(o, start_factor=0),
            "LinearLR: start_factor must be in (0, 1], got 0",
        ),
        (
            lambda o: optim.LinearLR(o, total_iters=0),
            "LinearLR: total_iters must be an integer >= 1, got 0",
        ),
        (
            lambda o: optim.LambdaLR(o, [lambda e: 1.0]),
            "LambdaLR: lr_lambda must be a function of "
            "the epoch, or a list of 2 (one per "
            "parameter group), got [<function",
        ),
        (
            lambda o: optim.LambdaLR(o, lambda e: -1.0),
            "LambdaLR: lr_lambda(0) gave -1.0; expected a finite number >= 0",
        ),
        (
            lambda o: optim.OneCycleLR(o, max_lr=0.1),
            "OneCycleLR needs total_steps, or epochs and steps_per_epoch",
        ),
        (
            lambda o: optim.OneCycleLR(o, max_lr=[0.1], total_steps=5),
            "max_lr has 1 values, expected one per parameter group (2) or a single number",
        ),
        (
            lambda o: optim.OneCycleLR(o, max_lr=0.1, total_steps=5, anneal_strategy="cosine"),
            "OneCycleLR: anneal_strategy must be one of 'cos', 'linear', got 'cosine'",
        ),
        (
            lambda o: optim.OneCycleLR(o, max_lr=0.1, total_steps=5, pct_start=1.5),
            "OneCycleLR: pct_start must be in [0, 1], got 1.5",
        ),
        (
            lambda o: optim.OneCycleLR(o, max_lr=0.1, epochs=2, steps_per_epoch=0),
            "OneCycleLR: steps_per_epoch must be an integer >= 1, got 0",
        ),
        (
            lambda o: optim.OneCycleLR(
                optim.Adagrad(o.param_groups[0]["params"]), max_lr=0.1, total_steps=5
            ),
            "OneCycleLR: cycle_momentum needs an optimizer with momentum or betas, got Adagrad; "
            "expected cycle_momentum=False",
        ),
        (
            lambda o: optim.SequentialLR(o, [optim.StepLR(o, 2)], milestones=[3]),
            "SequentialLR: milestones must be 0 increasing epochs (one fewer than the schedules), "
            "got [3]",
        ),
        (
            lambda o: optim.SequentialLR(
                o, [optim.StepLR(o, 2), optim.StepLR(our_optimizer(), 2)], milestones=[3]
            ),
            "SequentialLR: schedulers must be a non-empty list of schedules of this optimizer (not "
            "ReduceLROnPlateau), got [",
        ),
        (
            lambda o: optim.ReduceLROnPlateau(o, mode="minimum"),
            "ReduceLROnPlateau: mode must be one of 'min', 'max', got 'minimum'",
        ),
        (
            lambda o: optim.ReduceLROnPlateau(o, factor=1.0),
            "ReduceLROnPlateau: factor must be in [0, 1), got 1.0",
        ),
        (
            lambda o: optim.ReduceLROnPlateau(o).step("low"),
            "ReduceLROnPlateau.step needs the metric "
            "as a number (e.g. the validation loss), "
            "got 'low'",
        ),
    ],
)
def test_bad_arguments_say_what_was_expected(make, message):
    with pytest.raises(ConfigError) as info:
        make(our_optimizer())
    assert str(info.value).startswith(message)


def test_one_cycle_refuses_to_step_past_its_total():
    schedule = optim.OneCycleLR(our_optimizer(), max_lr=0.1, total_steps=3)
    for _ in range(3):
        schedule.step()
    with pytest.raises(ConfigError) as info:
        schedule.step()
    assert str(info.value) == "OneCycleLR stepped 4 times; expected at most total_steps=3"


def test_one_cycle_with_a_phase_of_no_length_gives_its_end_rate():
    """pct_start · total_steps = 1: the first phase ends at step 0, where PyTorch divides by
    zero; here the rate is the phase's end, max_lr."""
    opt = our_optimizer()
    optim.OneCycleLR(opt, max_lr=0.5, total_steps=10, pct_start=0.1)
    assert rates(opt) == [0.5, 0.5]


def test_the_old_names_are_the_lr_scheduler_classes():
    for name in ("ExponentialLR", "StepLR", "CosineAnnealingLR", "LRScheduler", "OneCycleLR"):
        assert getattr(optim, name) is getattr(optim.lr_scheduler, name)


# ----------------------------------------------------------------- the budgeted one-cycle


# (fraction, lr for max_lr=0.1) worked out by hand: 0.1·f/pct up to pct, then 0.1·(1−f)/(1−pct)
BUDGETED_BY_HAND = {
    0.15: [
        (0.01, 0.1 * 0.01 / 0.15),  # 0.0066667
        (0.075, 0.05),
        (0.15, 0.1),  # the peak
        (0.3, 0.1 * 0.7 / 0.85),  # 0.0823529
        (0.5, 0.1 * 0.5 / 0.85),  # 0.0588235
        (0.9, 0.1 * 0.1 / 0.85),  # 0.0117647
        (0.999, 0.1 * 0.001 / 0.85),
        (1.0, 0.0),
        (1.7, 0.0),  # past the budget: 0
    ],
    0.5: [
        (0.01, 0.002),
        (0.075, 0.015),
        (0.3, 0.06),
        (0.5, 0.1),
        (0.9, 0.02),
        (1.0, 0.0),
        (1.7, 0.0),
    ],
}


@pytest.mark.parametrize("pct", [0.15, 0.5])
def test_budgeted_one_cycle_follows_the_elapsed_fraction(pct):
    opt = our_optimizer()
    schedule = lr_scheduler.BudgetedOneCycleLR(opt, max_lr=[0.1, 0.4], pct_start=pct)
    assert rates(opt) == [0.0, 0.0]  # it starts at 0
    for fraction, lr in BUDGETED_BY_HAND[pct]:  # (uneven steps, as a clock's)
        schedule.step(fraction)
        assert rates(opt) == pytest.approx([lr, 4 * lr], rel=1e-12, abs=1e-15), fraction
        assert schedule.get_last_lr() == rates(opt)
    assert schedule.last_epoch == len(BUDGETED_BY_HAND[pct])


def test_budgeted_one_cycle_by_hand_at_the_reviewed_points():
    opt = our_optimizer(lrs=(0.5,))
    schedule = lr_scheduler.BudgetedOneCycleLR(opt, max_lr=0.1, pct_start=0.15)
    expected = {0.075: 0.05, 0.15: 0.1, 0.5: 0.0588235, 1.0: 0.0, 1.7: 0.0}
    for fraction, lr in expected.items():
        schedule.step(fraction)
        assert opt.param_groups[0]["lr"] == pytest.approx(lr, abs=1e-7), fraction


def test_budgeted_one_cycle_state_round_trip_and_errors():
    opt = our_optimizer()
    schedule = lr_scheduler.BudgetedOneCycleLR(opt, max_lr=0.2)
    schedule.step(0.1)
    state = schedule.state_dict()
    assert state["fraction"] == 0.1 and state["pct_start"] == 0.15
    again = lr_scheduler.BudgetedOneCycleLR(our_optimizer(), max_lr=0.2)
    again.load_state_dict(state)
    again.step(0.6)
    schedule.step(0.6)
    assert again.get_last_lr() == schedule.get_last_lr() == pytest.approx([0.2 * 0.4 / 0.85] * 2)
    with pytest.raises(ConfigError, match="fraction"):
        schedule.step(-0.1)
    for pct in (0.0, 1.0, 1.5):
        with pytest.raises(ConfigError, match="pct_start"):
            lr_scheduler.BudgetedOneCycleLR(our_optimizer(), max_lr=0.1, pct_start=pct)
    with pytest.raises(ConfigError, match="max_lr"):
        lr_scheduler.BudgetedOneCycleLR(our_optimizer(), max_lr=0.0)


@pytest.mark.parametrize(
    "key, value, message",
    [
        (
            "max_lrs",
            [1.0],  # one rate for two groups: group 1's rate silently stayed 0 before
            "schedule state: max_lrs must be a list of 2 values (one per parameter group), "
            "each > 0 (a finite number), got [1.0]",
        ),
        (
            "max_lrs",
            [-3.0, 1.0],
            "schedule state: max_lrs must be a list of 2 values (one per parameter group), "
            "each > 0 (a finite number), got [-3.0, 1.0]",
        ),
        ("max_lrs", (1.0, 1.0), "schedule state: max_lrs must be a list of 2 values"),
        ("fraction", float("nan"), "schedule state: fraction must be >= 0 (a finite number)"),
        ("fraction", -0.5, "schedule state: fraction must be >= 0 (a finite number), got -0.5"),
        ("fraction", "0.5", "schedule state: fraction must be >= 0"),
    ],
)
def test_budgeted_one_cycle_load_state_checks_its_own_state(key, value, message):
    opt = our_optimizer()
    schedule = lr_scheduler.BudgetedOneCycleLR(opt, max_lr=[1.0, 2.0])
    schedule.step(0.1)
    before = schedule.state_dict()
    state = copy.deepcopy(before)
    state[key] = value
    with pytest.raises(ConfigError) as info:
        schedule.load_state_dict(state)
    assert str(info.value).startswith(message)
    assert schedule.state_dict() == before
