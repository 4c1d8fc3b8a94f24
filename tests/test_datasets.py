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
from coursekit.datasets import Splits, data_path, load_digits, load_noisy_moons

REPO = Path(__file__).resolve().parent.parent
PACKAGE = Path(coursekit.__file__).resolve().parent


# ----------------------------------------------------------------------------- noisy moons

def test_noisy_moons_shapes_dtypes_and_labels():
    s = load_noisy_moons()
    assert isinstance(s, Splits)
    for name, n in (("train", 150), ("val", 500), ("test", 500)):
        X, y = getattr(s, f"X_{name}"), getattr(s, f"y_{name}")
        assert X.shape == (n, 2) and X.dtype == np.float32
        assert y.shape == (n,) and y.dtype == np.int64
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
        assert y.shape == (n,) and y.dtype == np.int64
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
