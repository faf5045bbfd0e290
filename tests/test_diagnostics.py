"""training.Diagnostics and fit's callbacks: the recorded norms are those of the gradients
and weights computed by hand; the activations those of a forward pass done layer by layer;
the callback leaves the training unchanged; the figures and cifar_mlp.py --diagnostics are
written."""

import json

import numpy as np
import pytest

import tinygrad_hlcv as tg
from cifar_fakes import load_example, mlp
from tinygrad_hlcv import nn, optim
from tinygrad_hlcv.creation import from_numpy
from tinygrad_hlcv.engine import no_grad
from tinygrad_hlcv.errors import ConfigError
from tinygrad_hlcv.training import Callback, Diagnostics, fit
from tinygrad_hlcv.training.diagnostics import LOG10_EDGES, activation_summary, layer_outputs
from tinygrad_hlcv.training.plots import plot_activations, plot_gradients

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def fake_data(n=48, d=6, k=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    X = rng.normal(0, 2, (k, d))[y] + rng.normal(size=(n, d))
    return X.astype(dtype), y


def batches(X, y, size):
    return [(X[i : i + size], y[i : i + size]) for i in range(0, len(X), size)]


def tiny_net(dtype=np.float64, dropout=0.0):
    return mlp((6, 5, 4, 3), dropout=dropout).to(dtype)


def train(model, data, *, epochs=3, callbacks=None, lr=0.1, momentum=0.9, **options):
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    return fit(
        model,
        nn.CrossEntropyLoss(),
        optimizer,
        data,
        epochs=epochs,
        progress=False,
        callbacks=callbacks,
        **options,
    )


# ----------------------------------------------------------------- the recorded norms


def by_hand(model, data, epochs, lr=0.1, momentum=0.9):
    """The same training written out, with the norms taken by np.linalg.norm."""
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    weights = [(n, p) for n, p in model.named_parameters() if p.ndim == 2]
    record = {q: {n: [] for n, _ in weights} for q in ("grad_norm", "weight_norm", "ratio")}
    for _ in range(epochs):
        for x, y in data:
            optimizer.zero_grad()
            nn.CrossEntropyLoss()(model(from_numpy(x)), y).backward()
            before = {n: p.data.copy() for n, p in weights}
            for n, p in weights:
                record["grad_norm"][n].append(np.linalg.norm(p.grad))
                record["weight_norm"][n].append(np.linalg.norm(p.data))
            optimizer.step()
            for n, p in weights:
                moved = np.linalg.norm(p.data - before[n]) / np.linalg.norm(before[n])
                record["ratio"][n].append(moved)
    return record


def test_recorded_norms_are_those_of_the_grads_and_weights():
    X, y = fake_data()
    data = batches(X, y, 12)  # 4 steps an epoch, in a fixed order
    diag = Diagnostics(X[:10])
    train(tiny_net(), data, epochs=3, callbacks=[diag], monitor=None)
    expected = by_hand(tiny_net(), data, epochs=3)

    assert diag.layers == ["0.weight", "2.weight", "4.weight"]
    assert diag.steps == list(range(1, 13))
    for name in diag.layers:
        np.testing.assert_allclose(diag.series["grad_norm"][name], expected["grad_norm"][name])
        np.testing.assert_allclose(diag.series["weight_norm"][name], expected["weight_norm"][name])
        np.testing.assert_allclose(diag.series["update_ratio"][name], expected["ratio"][name])
        means = np.asarray(expected["grad_norm"][name]).reshape(3, 4).mean(axis=1)
        np.testing.assert_allclose(diag.epoch_means["grad_norm"][name], means)
    assert min(min(v) for v in diag.series["grad_norm"].values()) > 0  # a real gradient


def test_every_records_one_step_in_every():
    X, y = fake_data()
    diag = Diagnostics(every=3)
    train(tiny_net(), batches(X, y, 12), epochs=3, callbacks=[diag], monitor=None)
    assert diag.steps == [1, 4, 7, 10]
    full = by_hand(tiny_net(), batches(X, y, 12), epochs=3)
    for name in diag.layers:
        np.testing.assert_allclose(
            diag.series["update_ratio"][name], np.asarray(full["ratio"][name])[[0, 3, 6, 9]]
        )
    assert diag.activation_epochs == []  # no probe, no activations


def test_activations_are_the_layers_outputs():
    X, y = fake_data()
    diag = Diagnostics(X[:10])
    model = tiny_net()
    train(model, batches(X, y, 12), epochs=2, callbacks=[diag], monitor=None)
    assert diag.activation_epochs == [0, 1, 2]
    assert list(diag.activations) == ["0-1 Linear ReLU", "2-3 Linear ReLU", "4 Linear"]
    with no_grad():  # the last epoch's, by hand: the outputs of the ReLUs and the scores
        h1 = np.maximum(model[0](from_numpy(X[:10])).data, 0)
        h3 = np.maximum(model[2](from_numpy(h1)).data, 0)
        h4 = model[4](from_numpy(h3)).data
    for name, h in zip(diag.activations, (h1, h3, h4), strict=True):
        record = diag.activations[name]
        np.testing.assert_allclose(record["mean"][-1], h.mean())
        np.testing.assert_allclose(record["std"][-1], h.std())
        counts, _ = np.histogram(np.log10(np.abs(h[h != 0])), LOG10_EDGES)
        assert record["hist"][-1] == counts.tolist()
        assert record["zero_fraction"][-1] == np.mean(h == 0)
    assert 0 < diag.activations["0-1 Linear ReLU"]["zero_fraction"][-1] < 1  # some ReLUs off


def test_a_layer_is_a_child_with_parameters_and_the_children_after_it():
    tg.manual_seed(0)
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(3, 2),
    )  # fmt: skip
    model.eval()
    x = np.random.default_rng(0).standard_normal((5, 2, 2)).astype(np.float32)
    with no_grad():
        outputs = layer_outputs(model, from_numpy(x))
        expected = model[:5](from_numpy(x)).data, model(from_numpy(x)).data
    assert list(outputs) == ["1 Linear", "2-4 BatchNorm1d ReLU Dropout", "5 Linear"]
    np.testing.assert_array_equal(outputs["2-4 BatchNorm1d ReLU Dropout"], expected[0])
    np.testing.assert_array_equal(outputs["5 Linear"], expected[1])


def test_activation_summary_counts_zeros_apart_and_clips_to_the_end_bins():
    values = np.array([0.0, 0.0, 1e-30, 1e-3, 1.0, -1.0, 1e9, np.inf, np.nan])
    summary = activation_summary(values)
    counts = summary["hist"]
    assert summary["zero_fraction"] == pytest.approx(2 / 9)
    assert counts[0] == 1 and counts[-1] == 1  # 1e-30 and 1e9, in the end bins
    assert sum(counts) == 5  # zeros, Inf and NaN apart
    assert counts[int(np.searchsorted(LOG10_EDGES, 0.0, side="right")) - 1] == 2  # |±1|


def test_a_model_other_than_sequential_gives_its_output():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Linear(3, 2)

        def forward(self, x):
            return self.inner(x)

    tg.manual_seed(0)
    model, x = Net(), np.ones((4, 3), dtype=np.float32)
    with no_grad():
        outputs = layer_outputs(model, from_numpy(x))
        assert list(outputs) == ["output"]
        np.testing.assert_array_equal(outputs["output"], model(from_numpy(x)).data)


# ----------------------------------------------------------------- no change to training


def test_the_callback_does_not_change_the_training():
    X, y = fake_data(dtype=np.float32)
    runs = []
    for callbacks in (None, [Diagnostics(X[:8])]):
        tg.manual_seed(1)
        model = tiny_net(np.float32, dropout=0.3)  # dropout: the probe must draw nothing
        history = train(model, (X, y), epochs=3, batch_size=10, callbacks=callbacks)
        runs.append((model.state_dict(), history.step_loss, tg.random.default_generator()))
    (first, loss1, gen1), (second, loss2, gen2) = runs
    assert first.keys() == second.keys()
    assert all(np.array_equal(first[k], second[k]) for k in first)
    assert loss1 == loss2
    assert gen1.bit_generator.state == gen2.bit_generator.state


def test_hooks_run_in_order_with_the_loops_counters():
    calls = []

    class Recorder(Callback):
        def on_train_begin(self, run):
            calls.append(("begin", run.step, run.epoch))

        def on_backward_end(self, run):
            calls.append(("backward", run.step, run.model[0].weight.grad is not None))

        def on_step_end(self, run):
            calls.append(("step", run.step))

        def on_epoch_end(self, run):
            calls.append(("epoch", run.epoch, len(run.history["loss"])))

        def on_train_end(self, run):
            calls.append(("end", run.step))

    X, y = fake_data()
    train(tiny_net(), batches(X, y, 24), epochs=2, callbacks=[Recorder()], monitor=None)
    assert calls == [
        ("begin", 0, 0),
        ("backward", 0, True),
        ("step", 1),
        ("backward", 1, True),
        ("step", 2),
        ("epoch", 1, 1),
        ("backward", 2, True),
        ("step", 3),
        ("backward", 3, True),
        ("step", 4),
        ("epoch", 2, 2),
        ("end", 4),
    ]


def test_the_course_form_takes_callbacks_too():
    X, y = fake_data(dtype=np.float32)

    class Stream:
        def __len__(self):
            return 4

        def next_batch(self):
            return X[:12], y[:12]

    diag = Diagnostics(X[:5])
    model = tiny_net(np.float32)
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    loss = nn.SoftmaxCrossEntropy()
    fit(model, loss, optimizer, Stream(), X, y, X, y, iterations=6, progress=False,
        callbacks=[diag])  # fmt: skip
    assert diag.steps == [1, 2, 3, 4, 5, 6]
    assert diag.activation_epochs == [0, 1, 2]


@pytest.mark.parametrize(
    "callbacks, message",
    [
        (Diagnostics(), "a list of Callback"),
        ([object()], "lacks on_train_begin"),
        ("diag", "a list of Callback"),
    ],
)
def test_a_wrong_callback_is_refused_before_training(callbacks, message):
    X, y = fake_data()
    model = tiny_net()
    before = model.state_dict()
    with pytest.raises(ConfigError, match=message):
        train(model, (X, y), callbacks=callbacks)
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"every": 0}, "every must be"),
        ({"every": 1.5}, "every must be"),
        ({"probe": np.zeros((0, 3))}, "non-empty"),
        ({"probe": np.array(["a", "b"])}, "numeric"),
    ],
)
def test_wrong_diagnostics_arguments(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        Diagnostics(**kwargs)


def test_a_model_without_weight_matrices_is_refused():
    model = nn.Sequential(nn.BatchNorm1d(6)).double()
    X, y = fake_data()
    with pytest.raises(ConfigError, match="no weight with 2 or more"):
        fit(model, lambda out, t: (out * out).mean(), optim.SGD(model.parameters(), lr=0.1),
            (X, X), epochs=1, progress=False, callbacks=[Diagnostics()])  # fmt: skip


# ----------------------------------------------------------------- the figures


@pytest.fixture(scope="module")
def recorded():
    X, y = fake_data()
    diag = Diagnostics(X[:10])
    train(tiny_net(), batches(X, y, 12), epochs=3, callbacks=[diag], monitor=None)
    return json.loads(json.dumps(diag.to_dict()))  # as metrics.json holds it


def test_to_dict_is_json_and_holds_everything(recorded):
    assert recorded["layers"] == ["0.weight", "2.weight", "4.weight"]
    assert len(recorded["grad_norm"]["0.weight"]) == len(recorded["steps"]) == 12
    assert len(recorded["epoch_means"]["update_ratio"]["4.weight"]) == 3
    assert recorded["activations"]["epochs"] == [0, 1, 2, 3]
    hist = recorded["activations"]["layers"]["2-3 Linear ReLU"]["hist"]
    assert len(hist) == 4 and len(hist[0]) == len(LOG10_EDGES) - 1


def test_the_figures_are_written(recorded, tmp_path):
    for plot, name in ((plot_gradients, "gradients.png"), (plot_activations, "activations.png")):
        path = tmp_path / name
        assert plot(recorded, path, title="tiny") == path
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["activations.png", "gradients.png"]


def test_cifar_mlp_diagnostics_writes_the_record_and_the_figures(data_dir, tmp_path):
    cifar_mlp = load_example("cifar_mlp")
    args = ["--num-train", "150", "--num-val", "50", "--batch-size", "25", "--epochs", "2"]
    args += ["--hidden", "8", "8", "--init", "kaiming", "--diagnostics"]
    config = cifar_mlp.config_from_args(cifar_mlp.build_parser().parse_args(args))
    out = tmp_path / "out"
    cifar_mlp.run(config, str(data_dir), str(out), progress=False, log=lambda *a: None,
                  diagnostics=True)  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    diag = metrics["diagnostics"]
    assert diag["layers"] == ["0.weight", "2.weight", "4.weight"]
    assert diag["steps"] == list(range(1, 13))
    assert list(diag["activations"]["layers"]) == ["0-1 Linear ReLU", "2-3 Linear ReLU", "4 Linear"]
    for name in ("gradients.png", "activations.png"):
        assert (out / name).read_bytes().startswith(PNG_MAGIC)


def test_cifar_mlp_kaiming_init_is_hes():
    cifar_mlp = load_example("cifar_mlp")
    config = cifar_mlp.config_from_args(
        cifar_mlp.build_parser().parse_args(["--hidden", "400", "--init", "kaiming"])
    )
    tg.manual_seed(0)
    model = cifar_mlp.build_model(config, 3072)
    for layer, fan_in in ((model[0], 3072), (model[2], 400)):
        assert layer.weight.data.std() == pytest.approx(np.sqrt(2 / fan_in), rel=0.05)
        assert not layer.bias.data.any()
