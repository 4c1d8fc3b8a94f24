"""Data loaders: shapes, dtypes, splits, agreement with the raw files, and loading from an installed package."""
import csv
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits as sk_load_digits

import coursekit
import coursekit.datasets as datasets
from coursekit.datasets import (TEXTURE_FREQUENCIES, TEXTURE_ORIENTATIONS, Splits, data_path, load_digits,
                                stratified_split,
                                load_noisy_moons, load_textures, make_textures)

REPO = Path(__file__).resolve().parent.parent
PACKAGE = Path(coursekit.__file__).resolve().parent


# ----------------------------------------------------------------------------- noisy moons

def test_noisy_moons_shapes_dtypes_and_labels():
    s = load_noisy_moons()
    assert isinstance(s, Splits)
    for name, n in (("train", 150), ("val", 500), ("test", 500)):
        X, y = getattr(s, f"X_{name}"), getattr(s, f"y_{name}")
        assert X.shape == (n, 2) and X.dtype == np.float32
        assert y.shape == (n,) and y.dtype == np.intp
        assert set(np.unique(y)) == {0, 1}
        assert 0.35 < y.mean() < 0.65  # both classes well represented
    assert repr(s) == "Splits(train(150, 2), val(500, 2), test(500, 2))"


def test_noisy_moons_equal_the_csv_rows():
    with open(REPO / "data" / "noisy_moons.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    s = load_noisy_moons()
    for name in ("train", "val", "test"):
        mine = [r for r in rows if r["split"] == name]
        expected_X = np.array([[float(r["x1"]), float(r["x2"])] for r in mine], dtype=np.float32)
        expected_y = np.array([int(r["label"]) for r in mine])
        np.testing.assert_array_equal(getattr(s, f"X_{name}"), expected_X)
        np.testing.assert_array_equal(getattr(s, f"y_{name}"), expected_y)


def test_noisy_moons_splits_are_disjoint_and_each_load_is_fresh():
    s = load_noisy_moons()
    rows = {name: {tuple(r) for r in getattr(s, f"X_{name}")} for name in ("train", "val", "test")}
    assert not rows["train"] & rows["val"] and not rows["train"] & rows["test"] and not rows["val"] & rows["test"]
    s.X_train[...] = 0.0  # a learner scribbling on the arrays does not change the next load
    assert np.any(load_noisy_moons().X_train != 0.0)


# ----------------------------------------------------------------------------- where the files are found

def test_data_path_finds_the_checkout_file():
    assert data_path("noisy_moons.csv") == REPO / "data" / "noisy_moons.csv"


def test_data_path_prefers_the_package_copy(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "noisy_moons.csv").write_text("x")
    monkeypatch.setattr(datasets.resources, "files", lambda package: tmp_path)
    assert data_path("noisy_moons.csv") == tmp_path / "data" / "noisy_moons.csv"


def test_data_path_missing_file_names_it_and_where_it_looked():
    with pytest.raises(FileNotFoundError, match=r"data file 'nope\.csv' not found; looked in .*nope\.csv.*nope\.csv"):
        data_path("nope.csv")


def test_the_wheel_ships_the_data_folder_inside_the_package():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert config["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]["data"] == "coursekit/data"


def _run_isolated(site: Path, code: str) -> subprocess.CompletedProcess:
    """Run ``code`` with only ``site`` (an 'installed' copy of coursekit) and numpy's directory importable."""
    numpy_dir = Path(np.__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(numpy_dir)])}
    # -S: no site-packages processing, so the editable install of the checkout is not visible
    return subprocess.run([sys.executable, "-S", "-c", code], cwd=site, env=env, capture_output=True, text=True,
                          timeout=60)


def test_loads_from_an_installed_package_without_a_checkout(tmp_path):
    site = tmp_path / "site"
    shutil.copytree(PACKAGE, site / "coursekit", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "data", site / "coursekit" / "data")  # what the wheel's force-include does
    result = _run_isolated(site, "import coursekit.datasets as d; s = d.load_noisy_moons(); "
                                 "print(d.data_path('noisy_moons.csv')); print(s.X_train.shape, s.X_test.shape)")
    assert result.returncode == 0, result.stderr
    where, shapes = result.stdout.strip().splitlines()
    assert Path(where) == site / "coursekit" / "data" / "noisy_moons.csv"
    assert shapes == "(150, 2) (500, 2)"


def test_an_installed_package_without_data_fails_clearly(tmp_path):
    site = tmp_path / "site"
    shutil.copytree(PACKAGE, site / "coursekit", ignore=shutil.ignore_patterns("__pycache__"))
    result = _run_isolated(site, "import coursekit.datasets as d; d.load_noisy_moons()")
    assert result.returncode != 0
    assert "FileNotFoundError: data file 'noisy_moons.csv' not found" in result.stderr
    assert "Reinstall coursekit" in result.stderr


# ----------------------------------------------------------------------------- digits

@pytest.fixture(scope="module")
def digits():
    return load_digits()


def test_digits_shapes_dtypes_and_ranges(digits):
    for name, n in (("train", 500), ("val", 400), ("test", 1797 - 900)):
        X, y = getattr(digits, f"X_{name}"), getattr(digits, f"y_{name}")
        assert X.shape == (n, 1, 8, 8) and X.dtype == np.float32
        assert y.shape == (n,) and y.dtype == np.intp
        assert X.min() == 0.0 and X.max() == 1.0  # pixels 0..16 scaled by 1/16
        assert set(np.unique(y)) == set(range(10))


def test_digits_are_the_sklearn_images_partitioned(digits):
    raw = sk_load_digits()
    expected = np.sort(np.column_stack([raw.images.reshape(len(raw.images), -1) / 16.0, raw.target]), axis=0)
    parts = [np.column_stack([getattr(digits, f"X_{n}").reshape(-1, 64).astype(np.float64),
                              getattr(digits, f"y_{n}")]) for n in ("train", "val", "test")]
    np.testing.assert_array_equal(np.sort(np.concatenate(parts), axis=0), expected)


def test_digits_split_is_stratified(digits):
    full = np.bincount(sk_load_digits().target, minlength=10) / 1797
    train = np.bincount(digits.y_train, minlength=10)
    assert np.all(np.abs(train - 500 * full) <= 1.0)


def test_digits_seed_controls_the_split():
    a, b, c = load_digits(n_train=100, n_val=50), load_digits(n_train=100, n_val=50), load_digits(n_train=100, n_val=50,
                                                                                                    seed=1)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    assert not np.array_equal(a.X_train, c.X_train)
    assert a.X_test.shape == (1797 - 150, 1, 8, 8)


def test_digits_bad_arguments():
    with pytest.raises(ValueError, match=r"n_train must be an integer >= 10, got 5"):
        load_digits(n_train=5)
    with pytest.raises(TypeError, match=r"n_val must be an integer, got 100\.0"):
        load_digits(n_val=100.0)
    with pytest.raises(ValueError, match=r"seed must be an integer >= 0, got -1"):
        load_digits(seed=-1)
    with pytest.raises(ValueError, match=r"n_train \+ n_val must leave at least 10 test images.*n_train=1500, n_val=400"):
        load_digits(n_train=1500, n_val=400)



def test_shipped_digits_are_sklearns():
    """data/digits.npz (made by data/make_digits.py) holds exactly scikit-learn's images and labels, in its order."""
    with np.load(data_path("digits.npz")) as stored:
        images, target = stored["images"], stored["target"]
    raw = sk_load_digits()
    assert images.dtype == np.uint8 and images.shape == raw.images.shape
    np.testing.assert_array_equal(images.astype(np.float64), raw.images)
    np.testing.assert_array_equal(target, raw.target)


def _sklearn_split(y, n_train, seed):
    from sklearn.model_selection import train_test_split
    return train_test_split(np.arange(len(y)), train_size=n_train, stratify=y, random_state=seed)


def test_stratified_split_is_sklearns_train_test_split():
    """The same indices in the same order as train_test_split(stratify=y, random_state=seed), over label sets with
    ties among the classes' remainders, uneven and even classes, 2 to 12 classes, string labels, every size."""
    draw = np.random.default_rng(7)
    cases = 0
    for trial in range(60):
        n_classes = int(draw.integers(2, 13))
        counts = draw.integers(2, 40, size=n_classes) if trial % 3 else np.full(n_classes, int(draw.integers(2, 20)))
        y = draw.permutation(np.repeat(np.arange(n_classes), counts))
        if trial % 5 == 0:
            y = np.array([f"class {c}" for c in y])
        sizes = {n_classes, len(y) // 3, len(y) // 2, len(y) - n_classes}
        for n_train in sorted(size for size in sizes if n_classes <= size <= len(y) - n_classes):
            seed = int(draw.integers(0, 2**32))
            train, rest = stratified_split(y, n_train, seed=seed)
            expected_train, expected_rest = _sklearn_split(y, n_train, seed)
            np.testing.assert_array_equal(train, expected_train, err_msg=f"trial {trial}, n_train {n_train}")
            np.testing.assert_array_equal(rest, expected_rest, err_msg=f"trial {trial}, n_train {n_train}")
            cases += 1
    assert cases > 150


def test_digits_split_is_the_one_sklearn_made():
    """load_digits' splits are the ones every result of the course was measured on (made with scikit-learn)."""
    from sklearn.model_selection import train_test_split
    raw = sk_load_digits()
    X, y = (raw.images / 16.0).astype(np.float32)[:, None], raw.target
    for seed, n_train, n_val in [(0, 500, 400), (20261207, 300, 400), (2**32 - 1, 37, 55), (12345, 1000, 700)]:
        X_train, X_rest, y_train, y_rest = train_test_split(X, y, train_size=n_train, stratify=y, random_state=seed)
        X_val, X_test, y_val, y_test = train_test_split(X_rest, y_rest, train_size=n_val, stratify=y_rest,
                                                        random_state=seed)
        ours = load_digits(n_train=n_train, n_val=n_val, seed=seed)
        for name, expected in zip(("X_train", "y_train", "X_val", "y_val", "X_test", "y_test"),
                                  (X_train, y_train, X_val, y_val, X_test, y_test)):
            np.testing.assert_array_equal(getattr(ours, name), expected, err_msg=f"seed {seed}: {name}")


def test_loading_digits_does_not_import_sklearn():
    """scikit-learn (and scipy) take seconds to import in the browser; the digits need neither."""
    code = ("import sys; from coursekit import datasets; datasets.load_digits(seed=3, label_noise=0.2); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_stratified_split_bad_arguments():
    with pytest.raises(ValueError, match=r"y must be a 1-d array of labels, got shape \(2, 3\)"):
        stratified_split(np.zeros((2, 3)), 2, seed=0)
    with pytest.raises(ValueError, match=r"at least 2 members, got counts \[3, 1\]"):
        stratified_split(np.array([0, 0, 0, 1]), 2, seed=0)
    with pytest.raises(ValueError, match=r"at least one sample per class \(2\) on each side of 6, got 5"):
        stratified_split(np.array([0, 0, 0, 1, 1, 1]), 5, seed=0)
    with pytest.raises(ValueError, match=r"seed must be an integer >= 0, got -2"):
        stratified_split(np.array([0, 0, 1, 1]), 2, seed=-2)

# ----------------------------------------------------------------------------- labels in the browser

@pytest.mark.parametrize("loader", [load_noisy_moons, lambda: load_digits(n_train=100, n_val=50),
                                    lambda: load_textures(n_train=20, n_val=20, n_test=20)],
                         ids=["noisy_moons", "digits", "textures"])
def test_labels_are_numpy_index_integers(loader):
    """np.intp is int32 in 32-bit WebAssembly (JupyterLite), where np.bincount rejects int64 labels."""
    s = loader()
    for name in ("train", "val", "test"):
        y = getattr(s, f"y_{name}")
        assert y.dtype == np.intp
        assert np.bincount(y).sum() == len(y)


def test_the_course_does_not_need_int64_labels():
    """What the browser's int32 labels go through gives the same numbers as int64 labels."""
    from coursekit.losses import softmax_cross_entropy
    from coursekit.training import accuracy

    logits = np.random.default_rng(0).standard_normal((40, 10)).astype(np.float32)
    labels = np.arange(40) % 10
    loss64, grad64 = softmax_cross_entropy(logits, labels.astype(np.int64))
    loss32, grad32 = softmax_cross_entropy(logits, labels.astype(np.int32))
    assert loss32 == loss64
    np.testing.assert_array_equal(grad32, grad64)
    assert accuracy(logits, labels.astype(np.int32)) == accuracy(logits, labels.astype(np.int64))


# ----------------------------------------------------------------------------- oriented textures

def _spectrum_orientation_and_frequency(X):
    """Per image: dominant orientation (radians in [0, pi)) and power-weighted mean frequency (cycles/px).

    From the zero-padded power spectrum over a ring that skips the lowest frequencies; the
    orientation is the doubled-angle mean, so the two mirrored peaks of a real image agree.
    """
    x = X[:, 0].astype(np.float64)
    power = np.abs(np.fft.fft2(x - x.mean(axis=(1, 2), keepdims=True), s=(64, 64))) ** 2
    f = np.fft.fftfreq(64)
    fx, fy = np.meshgrid(f, f)
    radius, angle = np.hypot(fx, fy), np.arctan2(fy, fx)
    weights = power * ((radius > 0.04) & (radius < 0.45))
    orientation = (np.angle((weights * np.exp(2j * angle)).sum(axis=(1, 2))) / 2) % np.pi
    frequency = (weights * radius).sum(axis=(1, 2)) / weights.sum(axis=(1, 2))
    return orientation, frequency


def _angle_between(a, b):
    """Distance between orientations (period pi), in radians."""
    return np.abs(np.angle(np.exp(2j * (a - b)))) / 2


CLASS_ANGLES = np.pi * (np.arange(10) % TEXTURE_ORIENTATIONS) / TEXTURE_ORIENTATIONS
CLASS_FREQUENCIES = np.asarray(TEXTURE_FREQUENCIES)[np.arange(10) // TEXTURE_ORIENTATIONS]


def test_textures_shapes_dtypes_and_balance():
    X, y = make_textures(203, rng=np.random.default_rng(0))
    assert X.shape == (203, 1, 16, 16) and X.dtype == np.float32
    assert y.shape == (203,) and y.dtype == np.intp
    counts = np.bincount(y, minlength=10)
    assert len(counts) == 10 and counts.max() - counts.min() <= 1  # 203 = 20 per class + 3
    assert not np.array_equal(y[:10], np.arange(10))  # shuffled, not in class order
    assert make_textures(3, rng=np.random.default_rng(0), size=8)[0].shape == (3, 1, 8, 8)


def test_textures_are_reproducible_from_the_generator():
    a = make_textures(50, rng=np.random.default_rng(7))
    b = make_textures(50, rng=np.random.default_rng(7))
    c = make_textures(50, rng=np.random.default_rng(8))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_textures_have_unit_variance_plus_the_pixel_noise():
    clean, _ = make_textures(300, rng=np.random.default_rng(1), noise_std=0.0)
    np.testing.assert_allclose(clean.mean(axis=(1, 2, 3)), 0.0, atol=1e-5)
    np.testing.assert_allclose(clean.std(axis=(1, 2, 3)), 1.0, rtol=1e-5)
    noisy, _ = make_textures(300, rng=np.random.default_rng(1), noise_std=1.5)
    assert abs(noisy.var() - (1 + 1.5 ** 2)) < 0.1


def test_texture_classes_differ_by_orientation_and_frequency():
    """Each class's stripes have its orientation and spacing, in the clean images and under the noise."""
    for noise_std in (0.0, 1.5):
        X, y = make_textures(2000, rng=np.random.default_rng(2), noise_std=noise_std)
        orientation, frequency = _spectrum_orientation_and_frequency(X)
        for k in range(10):
            mine = y == k
            class_orientation = (np.angle(np.exp(2j * orientation[mine]).mean()) / 2) % np.pi
            assert _angle_between(class_orientation, CLASS_ANGLES[k]) < np.radians(6), (noise_std, k)
        low, high = (np.median(frequency[y // TEXTURE_ORIENTATIONS == i]) for i in (0, 1))
        assert high > low + 0.04, (noise_std, low, high)
    # in the clean images the spectrum alone tells the class for most images (chance: 10%);
    # the per-image jitter (0.3 rad against 36 degrees between classes) makes them overlap
    X, y = make_textures(2000, rng=np.random.default_rng(3), noise_std=0.0)
    orientation, frequency = _spectrum_orientation_and_frequency(X)
    distance = (_angle_between(orientation[:, None], CLASS_ANGLES) / (np.pi / TEXTURE_ORIENTATIONS)
                + np.abs(np.log(frequency[:, None] / CLASS_FREQUENCIES)) / np.log(0.25 / 0.12))
    assert np.mean(distance.argmin(axis=1) == y) > 0.5


def test_texture_jitter_controls_the_spread_of_orientations():
    spreads = []
    for jitter in (0.0, 0.3):
        X, y = make_textures(500, rng=np.random.default_rng(4), noise_std=0.0, angle_jitter=jitter,
                             frequency_jitter=0.0)
        orientation, _ = _spectrum_orientation_and_frequency(X)
        spreads.append(np.median(_angle_between(orientation, CLASS_ANGLES[y])))
    assert spreads[0] < np.radians(6) and spreads[1] > 2 * spreads[0]


def test_textures_do_not_depend_on_position():
    """The two halves of an image carry the same statistics: only orientation and spacing tell classes apart."""
    X, _ = make_textures(2000, rng=np.random.default_rng(5))
    top, bottom, left, right = X[:, :, :8], X[:, :, 8:], X[..., :8], X[..., 8:]
    for a, b in ((top, bottom), (left, right)):
        assert abs(a.var() - b.var()) < 0.05 * X.var()


def test_texture_noise_is_added_to_the_same_textures():
    """noise_std changes only the added pixel noise: notebook 03 shows the clean version of the training images."""
    clean = load_textures(n_train=30, n_val=10, n_test=10, seed=3, noise_std=0.0)
    noisy = load_textures(n_train=30, n_val=10, n_test=10, seed=3, noise_std=1.5)
    np.testing.assert_array_equal(clean.y_train, noisy.y_train)
    added = (noisy.X_train - clean.X_train).ravel()
    assert abs(added.std() - 1.5) < 0.1
    assert abs(np.corrcoef(added, clean.X_train.ravel())[0, 1]) < 0.1


def test_load_textures_splits_seed_and_independent_streams():
    s = load_textures()
    assert repr(s) == "Splits(train(50, 1, 16, 16), val(500, 1, 16, 16), test(1000, 1, 16, 16))"
    for name in ("train", "val", "test"):
        counts = np.bincount(getattr(s, f"y_{name}"), minlength=10)
        assert counts.max() - counts.min() <= 1
    again, other = load_textures(), load_textures(seed=1)
    np.testing.assert_array_equal(s.X_train, again.X_train)
    np.testing.assert_array_equal(s.X_test, again.X_test)
    assert not np.array_equal(s.X_train, other.X_train)
    bigger = load_textures(n_train=100)  # a bigger training set leaves validation and test untouched
    np.testing.assert_array_equal(bigger.X_val, s.X_val)
    np.testing.assert_array_equal(bigger.X_test, s.X_test)
    assert not np.array_equal(bigger.X_train[:50], s.X_train)
    clean = load_textures(n_train=30, n_val=10, n_test=10, noise_std=0.0)
    np.testing.assert_allclose(clean.X_train.std(axis=(1, 2, 3)), 1.0, rtol=1e-5)


def test_textures_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"n must be an integer >= 1, got 0"):
        make_textures(0, rng=rng)
    with pytest.raises(TypeError, match=r"n must be an integer, got 10\.0"):
        make_textures(10.0, rng=rng)
    with pytest.raises(TypeError, match=r"rng must be a numpy random Generator.*got 0 of type int"):
        make_textures(10, rng=0)
    with pytest.raises(ValueError, match=r"size must be an integer >= 4, got 2"):
        make_textures(10, rng=rng, size=2)
    with pytest.raises(ValueError, match=r"noise_std must be >= 0\.0, got -1\.0"):
        make_textures(10, rng=rng, noise_std=-1.0)
    with pytest.raises(ValueError, match=r"noise_std must be a finite number, got nan"):
        make_textures(10, rng=rng, noise_std=float("nan"))
    with pytest.raises(ValueError, match=r"angle_jitter must be >= 0\.0, got -0\.1"):
        make_textures(10, rng=rng, angle_jitter=-0.1)
    with pytest.raises(ValueError, match=r"bandwidth must be in \(0\.0, 0\.25\], got 0\.0"):
        make_textures(10, rng=rng, bandwidth=0.0)
    with pytest.raises(ValueError, match=r"n_train must be an integer >= 1, got 0"):
        load_textures(n_train=0)
    with pytest.raises(ValueError, match=r"seed must be an integer >= 0, got -3"):
        load_textures(seed=-3)
