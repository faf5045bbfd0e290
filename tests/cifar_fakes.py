"""Tiny fake CIFAR-10 copies in the official Python pickle layout, for tests.

Each image is its class's fixed random "template" plus noise, so a small net can
learn something in a few iterations (accuracies move, histories are not flat).
"""
import pickle
from pathlib import Path

import numpy as np

FOLDER = "cifar-10-batches-py"
NAMES = ["airplane", "automobile", "bird", "cat", "deer",
         "dog", "frog", "horse", "ship", "truck"]


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
            pickle.dump({"batch_label": name, "data": data, "labels": labels,
                         "filenames": [f"{name}_{j}.png" for j in range(n)]}, f, protocol=2)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": NAMES, "num_cases_per_batch": per_batch}, f, protocol=2)
    return folder
