"""Shared test helpers: tiny fake CIFAR-10 copies in the official Python pickle layout,
and what several test modules use to run the example scripts and build small models.

Each fake image is its class's fixed random "template" plus noise, so a small net can
learn something in a few iterations (accuracies move, histories are not flat).
"""

import importlib.util
import json
import pickle
import queue
import sys
import threading
from pathlib import Path

import numpy as np

import tinygrad_hlcv as tg
from tinygrad_hlcv import nn

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

FOLDER = "cifar-10-batches-py"
NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def fake_images(n, seed, num_classes=10, noise=60):
    """(rows uint8 (n, 3072) channel-major as in the official files, labels list)."""
    templates = np.random.default_rng(12345).integers(40, 216, size=(num_classes, 3072))
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, size=n)
    rows = templates[labels] + rng.integers(-noise, noise + 1, size=(n, 3072))
    return np.clip(rows, 0, 255).astype(np.uint8), [int(v) for v in labels]


def write_fake_cifar(folder, per_batch=40, test_size=40, seed=0):
    """Write data_batch_1..5, test_batch and batches.meta into `folder`; return it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = [(f"data_batch_{i}", per_batch) for i in range(1, 6)] + [("test_batch", test_size)]
    for i, (name, n) in enumerate(files):
        data, labels = fake_images(n, seed=seed * 100 + i)
        with open(folder / name, "wb") as f:
            pickle.dump(
                {
                    "batch_label": name,
                    "data": data,
                    "labels": labels,
                    "filenames": [f"{name}_{j}.png" for j in range(n)],
                },
                f,
                protocol=2,
            )
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": NAMES, "num_cases_per_batch": per_batch}, f, protocol=2)
    return folder


def command(script, *args):
    """The command line that runs examples/<script> with this interpreter."""
    return [sys.executable, str(EXAMPLES / script), *map(str, args)]


def read_json(path):
    with open(path) as f:
        return json.load(f)


def load_example(name):
    """examples/<name>.py imported as a fresh module (not registered in sys.modules)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mlp(sizes=(20, 16, 3), dropout=0.0, seed=0):
    """Linear layers of these sizes with ReLU (and Dropout if dropout) between, seeded."""
    tg.manual_seed(seed)
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def announcement(proc, prefix, timeout=120):
    """The first line of the run's stdout that starts with `prefix` (the checkpoint test
    hook's announcement that the run now waits), or None if the run ended first. The
    timeout only guards against a hang."""
    found = queue.Queue()

    def read():
        found.put(next((line.strip() for line in proc.stdout if line.startswith(prefix)), None))

    threading.Thread(target=read, daemon=True).start()
    return found.get(timeout=timeout)
