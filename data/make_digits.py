"""Regenerate ``digits.npz``, the 8x8 digits of notebooks 03 and 05-08 (see README.md here).

    python data/make_digits.py

A copy of the UCI optical-recognition digits as scikit-learn ships them
(``sklearn.datasets.load_digits``: 1,797 images, 8x8 pixels of 0..16, labels 0..9), stored
as unsigned bytes so that ``coursekit.datasets.load_digits`` needs no scikit-learn: importing
it costs about a second natively and several in the browser (JupyterLite), for one file.
The copy is checked against scikit-learn's by ``tests/test_datasets.py``.
"""
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits


def main() -> None:
    digits = load_digits()
    images, target = digits.images, digits.target
    assert images.shape == (1797, 8, 8) and np.array_equal(images, np.round(images)) and images.max() <= 16
    out = Path(__file__).with_name("digits.npz")
    np.savez_compressed(out, images=images.astype(np.uint8), target=target.astype(np.uint8))
    print(f"wrote {out}: images {images.shape} uint8 in 0..16, target {target.shape} uint8 in 0..9")


if __name__ == "__main__":
    main()
