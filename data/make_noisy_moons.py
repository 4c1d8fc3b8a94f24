"""Regenerate ``noisy_moons.csv``, the 2-D set of the MLP lessons (see README.md here).

    python data/make_noisy_moons.py

Two interleaving half-moons (scikit-learn's ``make_moons``) with Gaussian noise and 10%
of the labels flipped, split into train / validation / test. The training split is kept
small so that a large MLP can memorize it (noise included) and visibly overfit.
"""
from pathlib import Path

import numpy as np
from sklearn.datasets import make_moons

SEED = 20261122
SPLITS = {"train": 150, "val": 500, "test": 500}
NOISE = 0.25
LABEL_FLIP = 0.10


def main() -> None:
    rng = np.random.default_rng(SEED)
    total = sum(SPLITS.values())
    X, y = make_moons(n_samples=total, noise=NOISE, random_state=int(rng.integers(2**31)))
    flip = rng.random(total) < LABEL_FLIP
    y = np.where(flip, 1 - y, y)
    order = rng.permutation(total)
    X, y = X[order], y[order]
    names = np.repeat(list(SPLITS), list(SPLITS.values()))
    out = Path(__file__).with_name("noisy_moons.csv")
    with out.open("w") as fh:
        fh.write("x1,x2,label,split\n")
        for (a, b), label, split in zip(X, y, names):
            fh.write(f"{a:.6f},{b:.6f},{label},{split}\n")
    print(f"wrote {out} ({total} rows)")


if __name__ == "__main__":
    main()
