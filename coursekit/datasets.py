"""Small offline data sets with fixed splits.

Each loader returns a ``Splits`` with ``X_train, y_train, X_val, y_val, X_test, y_test``.
The frozen files come from the ``data/`` folder of a checkout or, in an installed wheel
(e.g. on Colab), from the copy inside the package.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ._validation import check_int

__all__ = ["Splits", "data_path", "load_noisy_moons", "load_digits"]


@dataclass(frozen=True)
class Splits:
    """Train / validation / test arrays. Use validation data to choose, test data once."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    def __repr__(self) -> str:
        parts = ", ".join(f"{name}{getattr(self, 'X_' + name).shape}" for name in ("train", "val", "test"))
        return f"Splits({parts})"


def data_path(filename: str) -> Path:
    """Where a frozen data file is: inside the installed package, else the checkout's ``data/``."""
    candidates = [Path(str(resources.files("coursekit"))) / "data" / filename,
                  Path(__file__).resolve().parent.parent / "data" / filename]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"data file {filename!r} not found; looked in {[str(c) for c in candidates]}. "
        "Reinstall coursekit (pip install the wheel or the repository) so its data ships with it."
    )


def load_noisy_moons() -> Splits:
    """The noisy two-moons set (see data/README.md): 150 train, 500 val, 500 test points.

    Shapes: X_* (n, 2) float32, y_* (n,) int64 with values 0/1.
    """
    raw = np.genfromtxt(data_path("noisy_moons.csv"), delimiter=",", names=True, dtype=None, encoding="utf-8")
    X = np.column_stack([raw["x1"], raw["x2"]]).astype(np.float32)
    y = raw["label"].astype(np.int64)
    parts = []
    for split in ("train", "val", "test"):
        mask = raw["split"] == split
        parts += [X[mask], y[mask]]
    return Splits(*parts)


def load_digits(*, n_train: int = 500, n_val: int = 400, seed: int = 0) -> Splits:
    """scikit-learn's 8x8 digits as images, with a seeded stratified split.

    Shapes: X_* (n, 1, 8, 8) float32 in [0, 1] (NCHW), y_* (n,) int64 in 0..9.
    ``n_train`` small (a few hundred) makes a CNN overfit; the test split is what remains
    of the 1,797 images after train and validation.
    """
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    n_train = check_int(n_train, "n_train", low=10)
    n_val = check_int(n_val, "n_val", low=10)
    check_int(seed, "seed", low=0)
    digits = sk_load_digits()
    X = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    y = digits.target.astype(np.int64)
    if n_train + n_val > len(X) - 10:
        raise ValueError(f"n_train + n_val must leave at least 10 test images out of {len(X)}, "
                         f"got n_train={n_train}, n_val={n_val}")
    X_train, X_rest, y_train, y_rest = train_test_split(X, y, train_size=n_train, stratify=y, random_state=seed)
    X_val, X_test, y_val, y_test = train_test_split(X_rest, y_rest, train_size=n_val, stratify=y_rest,
                                                    random_state=seed)
    return Splits(X_train, y_train, X_val, y_val, X_test, y_test)
