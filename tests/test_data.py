"""Tests for tinygrad_hlcv.data on tiny fake CIFAR batches (never downloads)."""

import hashlib
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from tinygrad_hlcv.data import (
    BatchIterator,
    CIFAR10NotFoundError,
    DataError,
    Preprocessor,
    augment_batch,
    download_cifar10,
    load_cifar10,
    prepare_cifar10,
    split_cifar10,
    zca_matrix,
)
from tinygrad_hlcv.data import cifar10 as cifar_mod
from tinygrad_hlcv.errors import ConfigError, ShapeError

PER_BATCH = 20
REAL_DIR = os.environ.get("CIFAR10_DIR")  # read before the autouse fixture clears it
NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _rows(seed, n=PER_BATCH):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 3072), dtype=np.uint8)


def write_fake_cifar(folder: Path, bytes_keys: bool = False) -> Path:
    """Official layout: data (N, 3072) uint8 channel-major rows, labels list."""
    folder.mkdir(parents=True, exist_ok=True)
    k = (lambda s: s.encode()) if bytes_keys else (lambda s: s)
    files = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for i, name in enumerate(files):
        labels = [(i * PER_BATCH + j) % 10 for j in range(PER_BATCH)]
        d = {k("batch_label"): k(name), k("data"): _rows(i), k("labels"): labels}
        with open(folder / name, "wb") as f:
            pickle.dump(d, f, protocol=2)
    names = [k(n) for n in NAMES]
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({k("label_names"): names, k("num_cases_per_batch"): PER_BATCH}, f)
    return folder


@pytest.fixture
def fake_root(tmp_path):
    return write_fake_cifar(tmp_path / "cifar-10-batches-py")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """No test may see a real copy, a real cache, or the network."""
    monkeypatch.delenv("CIFAR10_DIR", raising=False)
    monkeypatch.setenv("TINYGRAD_HLCV_DATA", str(tmp_path / "cache"))

    def no_network(*a, **k):
        raise AssertionError("test tried to download")

    monkeypatch.setattr(cifar_mod, "download_cifar10", no_network)


# ----------------------------------------------------------------- loading


@pytest.mark.parametrize("bytes_keys", [False, True])
def test_load_str_and_bytes_keys(tmp_path, bytes_keys):
    root = write_fake_cifar(tmp_path / "c", bytes_keys=bytes_keys)
    d = load_cifar10(root)
    assert d.X_train.shape == (5 * PER_BATCH, 32, 32, 3) and d.X_train.dtype == np.uint8
    assert d.X_test.shape == (PER_BATCH, 32, 32, 3)
    assert d.y_train.dtype == np.int64 and d.y_train.shape == (5 * PER_BATCH,)
    assert d.y_train.tolist() == [j % 10 for j in range(5 * PER_BATCH)]
    assert d.label_names == NAMES and d.root == root


def test_hwc_conversion_known_pixel(fake_root):
    d = load_cifar10(fake_root)
    raw = _rows(0)  # data_batch_1
    img, row, col = 3, 5, 7
    p = row * 32 + col
    expected = [raw[img, p], raw[img, 1024 + p], raw[img, 2048 + p]]  # R, G, B planes
    assert d.X_train[img, row, col].tolist() == [int(v) for v in expected]
    test_raw = _rows(5)
    assert np.array_equal(d.X_test[0, :, :, 2], test_raw[0, 2048:].reshape(32, 32))


def test_parent_dir_accepted(fake_root):
    assert load_cifar10(fake_root.parent).X_train.shape[0] == 5 * PER_BATCH


def test_env_var_lookup(fake_root, monkeypatch):
    monkeypatch.setenv("CIFAR10_DIR", str(fake_root))
    assert load_cifar10().root == fake_root


def test_cache_dir_lookup(tmp_path, monkeypatch):
    root = write_fake_cifar(tmp_path / "cache" / "cifar-10-batches-py")
    assert load_cifar10(download=False).root == root


def test_missing_data_lists_places(tmp_path, monkeypatch):
    monkeypatch.setenv("CIFAR10_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(CIFAR10NotFoundError) as e:
        load_cifar10(download=False)
    msg = str(e.value)
    assert isinstance(e.value, FileNotFoundError)
    assert str(tmp_path / "nowhere") in msg
    assert str(tmp_path / "cache" / "cifar-10-batches-py") in msg
    assert "CIFAR10_DIR" in msg and "--data-dir" in msg


def test_missing_root_no_download(tmp_path):
    with pytest.raises(CIFAR10NotFoundError, match="root argument"):
        load_cifar10(tmp_path / "nope")  # would hit no_network if it tried


def test_offline_download_failure_is_clear(tmp_path, monkeypatch):
    import urllib.error

    def offline(*a, **k):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(cifar_mod, "download_cifar10", offline)
    with pytest.raises(CIFAR10NotFoundError, match="Download from .* failed"):
        load_cifar10()


def test_missing_batch_file_named(fake_root):
    (fake_root / "data_batch_3").unlink()
    with pytest.raises(DataError, match="data_batch_3"):
        load_cifar10(fake_root)


def test_truncated_file_names_path(fake_root):
    p = fake_root / "data_batch_2"
    p.write_bytes(p.read_bytes()[:1000])
    with pytest.raises(DataError) as e:
        load_cifar10(fake_root)
    assert str(p) in str(e.value)


def _rewrite(path, **items):
    with open(path, "wb") as f:
        pickle.dump(items, f)


@pytest.mark.parametrize(
    "items, expect",
    [
        (dict(data=np.zeros((20, 3000), np.uint8), labels=[0] * 20), r"\(N, 3072\)"),
        (dict(data=np.zeros((20, 3072), np.float32), labels=[0] * 20), "uint8"),
        (dict(data=np.zeros((20, 3072), np.uint8), labels=[0] * 19), "20 labels"),
        (dict(data=np.zeros((20, 3072), np.uint8), labels=[10] * 20), r"labels in 0\.\.9"),
        (dict(data=np.zeros((20, 3072), np.uint8)), "missing key 'labels'"),
    ],
)
def test_bad_contents_raise_data_error(fake_root, items, expect):
    p = fake_root / "test_batch"
    _rewrite(p, **items)
    with pytest.raises(DataError, match=expect) as e:
        load_cifar10(fake_root)
    assert str(p) in str(e.value)


def test_refuses_non_numpy_globals(fake_root):
    p = fake_root / "data_batch_1"
    with open(p, "wb") as f:
        pickle.dump({"data": os.getcwd, "labels": []}, f)  # a pickled function
    with pytest.raises(DataError, match="refusing"):
        load_cifar10(fake_root)


# ----------------------------------------------------------------- download


def _make_archive(tmp_path):
    src = write_fake_cifar(tmp_path / "src" / "cifar-10-batches-py")
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname="cifar-10-batches-py")
    return archive, hashlib.md5(archive.read_bytes()).hexdigest()


def test_download_from_file_url(tmp_path):
    archive, md5 = _make_archive(tmp_path)
    cache = tmp_path / "dl"
    out = download_cifar10(cache, url=archive.as_uri(), md5=md5, progress=False)
    assert out == cache / "cifar-10-batches-py"
    assert sorted(os.listdir(cache)) == ["cifar-10-batches-py"]  # no temp leftovers
    assert load_cifar10(out).X_train.shape == (5 * PER_BATCH, 32, 32, 3)


def test_download_wrong_md5_deletes_file(tmp_path):
    archive, md5 = _make_archive(tmp_path)
    cache = tmp_path / "dl"
    with pytest.raises(DataError, match=f"expected {'0' * 32}, got {md5}"):
        download_cifar10(cache, url=archive.as_uri(), md5="0" * 32, progress=False)
    assert os.listdir(cache) == []


def test_download_corrupt_archive_not_used(tmp_path):
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"not a tarball")
    cache = tmp_path / "dl"
    with pytest.raises(DataError, match="cannot extract"):
        download_cifar10(cache, url=bad.as_uri(), md5=None, progress=False)
    assert os.listdir(cache) == []


def test_constants():
    assert cifar_mod.URL == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    assert cifar_mod.MD5 == "c58f30108f718f92721af3b95e74349a"


# ----------------------------------------------------------------- splits / preprocessing


def test_split_sizes_and_indices(fake_root):
    d = load_cifar10(fake_root)
    s = split_cifar10(d, num_train=90, num_val=7, num_test=5)
    assert s.X_train.shape[0] == 90 and s.X_val.shape[0] == 7 and s.X_test.shape[0] == 5
    assert np.array_equal(s.X_val, d.X_train[90:97]) and np.array_equal(s.y_val, d.y_train[90:97])
    assert np.array_equal(s.X_train, d.X_train[:90]) and np.array_equal(s.X_test, d.X_test[:5])
    assert split_cifar10(d, 90, 10, None).X_test.shape[0] == PER_BATCH
    with pytest.raises(ValueError, match="available"):
        split_cifar10(d, num_train=95, num_val=10)
    with pytest.raises(ValueError, match="available"):
        split_cifar10(d, num_train=10, num_val=1, num_test=PER_BATCH + 1)


def _images(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)


def test_center_gives_zero_mean_train():
    X = _images(50)
    p = Preprocessor().fit(X)
    Z = p.transform(X)
    assert Z.dtype == np.float32 and Z.shape == (50, 3072)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-3)
    np.testing.assert_allclose(p.mean_, X.reshape(50, -1).mean(0))
    # images and flat rows give the same result
    np.testing.assert_array_equal(p.transform(X[:4]), p.transform(X[:4].reshape(4, -1)))
    assert Preprocessor(dtype=np.float64).fit(X).transform(X).dtype == np.float64


def test_fitted_on_train_only():
    Xtr, Xva = _images(40, 1), _images(10, 2) // 2
    p = Preprocessor().fit(Xtr)
    np.testing.assert_allclose(p.transform(Xva), Xva.reshape(10, -1) - p.mean_, atol=1e-4)
    assert abs(p.transform(Xva).mean()) > 10  # val is NOT re-centered on itself


def test_standardize_per_channel():
    X = _images(60).astype(np.float64)
    X[..., 1] *= 0.25  # channel 1 has a smaller spread
    X = X.astype(np.uint8)
    p = Preprocessor(standardize=True).fit(X)
    Z = p.transform(X).reshape(60, 1024, 3)
    np.testing.assert_allclose(Z.std(axis=(0, 1)), 1.0, rtol=1e-3)
    assert p.std_[1] < p.std_[0] / 2


@pytest.mark.parametrize("n, d", [(40, 3072), (300, 24)])  # SVD path and covariance path
def test_pca_k_and_variance_fraction(n, d):
    rng = np.random.default_rng(0)
    # 3 strong directions + unit noise
    basis = rng.standard_normal((3, d))
    X = (rng.standard_normal((n, 3)) * [50, 30, 20]) @ basis + rng.standard_normal((n, d))
    p = Preprocessor(pca=5).fit(X)
    Z = p.transform(X)
    assert Z.shape == (n, 5) and p.components_.shape == (d, 5)
    np.testing.assert_allclose(p.components_.T @ p.components_, np.eye(5), atol=1e-5)
    np.testing.assert_allclose(Z.mean(0), 0, atol=1e-2)
    assert np.all(np.diff(p.explained_variance_) <= 0)
    # scores' variances are the eigenvalues
    np.testing.assert_allclose(Z.var(0, ddof=1), p.explained_variance_, rtol=1e-2)
    # matches a reference SVD of the centered data (up to sign)
    Xc = X - X.mean(0)
    _, S, Vt = np.linalg.svd(Xc, full_matrices=False)
    np.testing.assert_allclose(np.abs(Vt[:3] @ p.components_[:, :3]), np.eye(3), atol=1e-4)
    np.testing.assert_allclose(p.explained_variance_[:3], S[:3] ** 2 / (n - 1), rtol=1e-4)
    q = Preprocessor(pca=0.99).fit(X)
    assert q.n_components == 3 and q.explained_variance_ratio_.sum() >= 0.99
    with pytest.raises(ValueError):
        Preprocessor(pca=1.5)
    with pytest.raises(ValueError):
        Preprocessor(pca=0)


def test_preprocessor_state_dict_roundtrip(tmp_path):
    X = _images(30)
    p = Preprocessor(standardize=True, pca=4).fit(X)
    sd = p.state_dict()
    assert all(isinstance(v, np.ndarray) and v.dtype != object for v in sd.values())
    np.savez(tmp_path / "pre.npz", **sd)
    q = Preprocessor.from_state_dict(dict(np.load(tmp_path / "pre.npz")))
    np.testing.assert_array_equal(p.transform(X[:5]), q.transform(X[:5]))
    r = Preprocessor.from_state_dict(Preprocessor().fit(X).state_dict())
    assert r.components_ is None and r.transform(X).shape == (30, 3072)


def test_prepare_cifar10(fake_root):
    s = prepare_cifar10(fake_root, num_train=80, num_val=10, num_test=None, pca=6)
    assert s.X_train.shape == (80, 6) and s.X_val.shape == (10, 6) and s.X_test.shape == (20, 6)
    assert s.X_train.dtype == np.float32 and s.y_val.shape == (10,)
    raw = load_cifar10(fake_root)
    np.testing.assert_allclose(s.preprocessor.mean_, raw.X_train[:80].reshape(80, -1).mean(0))
    imgs = prepare_cifar10(fake_root, num_train=80, num_val=10, num_test=5, transform=False)
    assert imgs.X_train.dtype == np.uint8 and imgs.X_train.shape == (80, 32, 32, 3)
    assert imgs.preprocessor.transform(imgs.X_val).shape == (10, 3072)


# ----------------------------------------------------------------- batches


def test_epoch_covers_every_index_once():
    X, y = np.arange(103)[:, None] * np.ones((1, 4)), np.arange(103)
    it = BatchIterator(X, y, 10, rng=0)
    seen = [yb for _, yb in it.epoch()]
    assert len(seen) == len(it) == 11 and len(seen[-1]) == 3
    assert sorted(np.concatenate(seen).tolist()) == list(range(103))
    assert not np.array_equal(np.concatenate(seen), y)  # shuffled
    for xb, yb in BatchIterator(X, y, 10, rng=0).epoch():
        assert np.array_equal(xb[:, 0], yb)  # X and y stay aligned
    assert len(list(BatchIterator(X, y, 10, drop_last=True).epoch())) == 10
    ordered = np.concatenate([yb for _, yb in BatchIterator(X, y, 10, shuffle=False).epoch()])
    assert np.array_equal(ordered, y)


def test_reproducible_with_seed_and_sample_shape():
    X, y = _images(30), np.arange(30)
    a = [yb for _, yb in BatchIterator(X, y, 8, rng=42).epoch()]
    b = [yb for _, yb in BatchIterator(X, y, 8, rng=42).epoch()]
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    xb, yb = BatchIterator(X, y, 64, rng=1).sample()  # with replacement: may exceed N
    assert xb.shape == (64, 32, 32, 3) and yb.shape == (64,)
    rep = BatchIterator(X, y, 8, replacement=True, rng=1)
    assert len(list(rep.epoch())) == len(rep) == 3


def test_augmentation_shape_and_exact_flips():
    X = _images(64)
    rng = np.random.default_rng(0)
    out = augment_batch(X, rng, flip=True, pad=0)
    flipped = np.array([np.array_equal(o, x[:, ::-1]) for o, x in zip(out, X)])
    same = np.array([np.array_equal(o, x) for o, x in zip(out, X)])
    assert np.all(flipped | same) and 10 < flipped.sum() < 54
    crop = augment_batch(X, rng, flip=False, pad=4)
    assert crop.shape == X.shape and crop.dtype == np.uint8
    padded = np.pad(X, ((0, 0), (4, 4), (4, 4), (0, 0)))
    for o, p in zip(crop[:8], padded[:8]):  # each is some 32x32 window of the padded image
        assert any(
            np.array_equal(o, p[dy : dy + 32, dx : dx + 32]) for dy in range(9) for dx in range(9)
        )
    it = BatchIterator(X, np.zeros(64, int), 16, rng=3, augment=True)
    assert all(xb.shape == (16, 32, 32, 3) for xb, _ in it.epoch())
    with pytest.raises(ValueError):
        BatchIterator(X.reshape(64, -1), np.zeros(64), 16, augment=True)


def test_batch_iterator_refuses_bad_arguments_with_the_frameworks_errors():
    X, y = _images(8), np.zeros(8)
    with pytest.raises(ShapeError, match="lengths differ: 8 vs 7"):
        BatchIterator(X, y[:7], 2)
    with pytest.raises(ShapeError, match="empty dataset"):
        BatchIterator(X[:0], y[:0], 2)
    for size in (0, -2):
        with pytest.raises(
            ConfigError, match=f"batch_size must be a whole number >= 1, got {size}"
        ):
            BatchIterator(X, y, size)
    for size, shown in ((1.5, "1.5"), (2.0, "2.0"), ("2", "'2'"), (None, "None"), (True, "True")):
        with pytest.raises(
            ConfigError, match=f"batch_size must be a whole number >= 1, got {shown}"
        ):
            BatchIterator(X, y, size)
    assert BatchIterator(X, y, np.int64(3)).batch_size == 3
    with pytest.raises(ConfigError, match="rng must be a np.random.Generator or an int seed"):
        BatchIterator(X, y, 2, rng="0")
    with pytest.raises(ShapeError, match=r"\(N, H, W, C\).*got shape \(8, 3072\)"):
        BatchIterator(X.reshape(8, -1), y, 2, augment=True)


def test_state_dict_roundtrip_reproduces_next_batches():
    X, y = _images(40), np.arange(40)
    it = BatchIterator(X, y, 8, rng=7, augment=True)
    list(it.epoch())
    it.sample()
    sd = it.state_dict()
    want = [it.sample() for _ in range(3)] + list(it.epoch())
    other = BatchIterator(X, y, 8, rng=123, augment=True)
    other.load_state_dict(sd)
    got = [other.sample() for _ in range(3)] + list(other.epoch())
    for (xa, ya), (xb, yb) in zip(want, got):
        assert np.array_equal(xa, xb) and np.array_equal(ya, yb)


def test_next_batch_stream_and_resume():
    X, y = np.arange(23)[:, None] * np.ones((1, 2)), np.arange(23)
    it = BatchIterator(X, y, 5, rng=0)
    first_epoch = np.concatenate([it.next_batch()[1] for _ in range(5)])  # 5+5+5+5+3
    assert sorted(first_epoch.tolist()) == list(range(23))
    it.next_batch()
    sd = it.state_dict()  # mid-epoch
    want = [it.next_batch()[1] for _ in range(7)]
    other = BatchIterator(X, y, 5, rng=99)
    other.load_state_dict(sd)
    assert all(
        np.array_equal(a, b) for a, b in zip(want, [other.next_batch()[1] for _ in range(7)])
    )
    dl = BatchIterator(X, y, 5, rng=0, drop_last=True)
    assert all(len(dl.next_batch()[1]) == 5 for _ in range(10))
    assert BatchIterator(X, y, 5, replacement=True, rng=0).next_batch()[0].shape == (5, 2)


# ----------------------------------------------------------------- real data (opt-in)


@pytest.mark.skipif(not REAL_DIR, reason="set CIFAR10_DIR to test real data")
def test_real_cifar10():
    d = load_cifar10(REAL_DIR, download=False)
    assert d.X_train.shape == (50000, 32, 32, 3) and d.X_test.shape == (10000, 32, 32, 3)
    assert d.y_train.min() == 0 and d.y_train.max() == 9 and d.y_test.max() == 9
    assert len(d.label_names) == 10


def _correlated_rows(n=4000, d=6, seed=0):
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((d, d)) * np.array([3.0, 2.0, 1.0, 0.5, 0.1, 0.01])
    return rng.standard_normal((n, d)) @ mix.T


def test_zca_matrix_whitens_and_stays_in_pixel_space():
    x = _correlated_rows()
    w = zca_matrix(x, eps=1e-13, dtype=np.float64)
    white = x @ w
    np.testing.assert_allclose(white.T @ white / len(x), np.eye(6), atol=1e-6)
    np.testing.assert_allclose(w, w.T, atol=1e-12)  # symmetric: ZCA, not a PCA rotation
    # among all whitening matrices, ZCA's output is the closest to its input
    pca = np.linalg.eigh(x.T @ x / len(x))[1]
    rotated = white @ pca  # also white, but rotated away from pixel space
    assert np.sum((white - x) ** 2) < np.sum((rotated - x) ** 2)


def test_zca_matrix_eps_shrinks_weak_directions():
    x = _correlated_rows()
    eps = 0.5
    w = zca_matrix(x, eps=eps, dtype=np.float64)
    variances, basis = np.linalg.eigh(x.T @ x / len(x))
    expected = basis @ np.diag(variances / (variances + eps)) @ basis.T
    white = x @ w
    np.testing.assert_allclose(white.T @ white / len(x), expected, atol=1e-9)
    assert zca_matrix(x.astype(np.float32), eps=eps).dtype == np.float32


@pytest.mark.parametrize("eps", [0, -1.0, float("nan"), True, "0.1"])
def test_zca_matrix_rejects_bad_eps(eps):
    with pytest.raises(ValueError, match="eps"):
        zca_matrix(_correlated_rows(), eps=eps)


@pytest.mark.parametrize("rows", [np.zeros((1, 4)), np.zeros(5), np.zeros((5, 3), dtype=np.uint8)])
def test_zca_matrix_rejects_bad_rows(rows):
    with pytest.raises(ValueError, match="expected a float array"):
        zca_matrix(rows, eps=0.1)


def test_zca_matrix_with_mirror_commutes_with_the_flip():
    rng = np.random.default_rng(1)
    images = rng.standard_normal((500, 4, 5, 3)) * np.linspace(0.5, 2.0, 5)[:, None]
    images[:, :, 0] += images[:, :, 1]  # correlated columns, not symmetric under the flip
    rows = images.reshape(len(images), -1)
    flip = np.arange(rows.shape[1]).reshape(4, 5, 3)[:, ::-1].ravel()
    plain = zca_matrix(rows, eps=0.1, dtype=np.float64)
    assert not np.allclose(rows[:, flip] @ plain, (rows @ plain)[:, flip])  # the test can fail
    w = zca_matrix(rows, eps=0.1, dtype=np.float64, mirror=flip)
    np.testing.assert_allclose(rows[:, flip] @ w, (rows @ w)[:, flip], atol=1e-12)
    both = np.concatenate([rows, rows[:, flip]])  # as if each row came with its mirror image
    np.testing.assert_allclose(w, zca_matrix(both, eps=0.1, dtype=np.float64), atol=1e-12)
    with pytest.raises(ValueError, match="permutation"):
        zca_matrix(rows, eps=0.1, mirror=np.zeros(rows.shape[1], dtype=int))
