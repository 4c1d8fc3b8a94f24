"""Small offline data sets with fixed splits.

Each loader returns a ``Splits`` with ``X_train, y_train, X_val, y_val, X_test, y_test``.
The frozen files come from the ``data/`` folder of a checkout or, in an installed wheel
(e.g. on Colab), from the copy inside the package; generated sets (``load_textures``) are
made on the fly from a seed.

Labels are integer class indices of dtype ``np.intp``, NumPy's index type: int64 on
64-bit machines, int32 in the browser (JupyterLite/Pyodide is 32-bit WebAssembly), where
``np.bincount`` and friends refuse int64 arrays.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ._validation import check_int, check_real, check_rng, describe

__all__ = ["Splits", "data_path", "make_noisy_moons", "load_noisy_moons", "flip_labels", "load_digits", "stratified_split",
           "make_textures", "load_textures",
           "TEXTURE_ORIENTATIONS", "TEXTURE_FREQUENCIES"]


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
    """Where a frozen data file is: inside the installed package, else the checkout's ``data/``.

    ``filename``: the file's name in ``data/``, a non-empty string such as ``"noisy_moons.csv"``
    (anything else is a ``TypeError``/``ValueError`` naming it); a file that is in neither place
    is a ``FileNotFoundError`` saying where it looked.
    """
    if not isinstance(filename, str):
        raise TypeError(f"data_path: filename must be the name of a data file as a string, e.g. 'noisy_moons.csv', "
                        f"got {describe(filename)} of type {type(filename).__name__}")
    if not filename.strip() or Path(filename).is_absolute() or ".." in Path(filename).parts:
        raise ValueError(f"data_path: filename must name a file inside the course's data folder, e.g. "
                         f"'noisy_moons.csv', got {filename!r}")
    candidates = [Path(str(resources.files("coursekit"))) / "data" / filename,
                  Path(__file__).resolve().parent.parent / "data" / filename]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"data file {filename!r} not found; looked in {[str(c) for c in candidates]}. "
        "Reinstall coursekit (pip install the wheel or the repository) so its data ships with it."
    )


def make_noisy_moons(n: int, *, rng: np.random.Generator, noise: float = 0.25,
                     label_flip: float = 0.10) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points of the noisy two-moons generator, with labels: a fresh draw of the lessons' data.

    Half the points (``n // 2``, the rest to class 1) belong to each class. Class 0 lies on the
    arc ``(cos t, sin t)``, class 1 on ``(1 - cos t, 1/2 - sin t)``, with ``t ~ Uniform[0, pi]``
    (scikit-learn's ``make_moons`` spaces t evenly; drawing it makes every point independent,
    as the Bayes ceiling ``noisy_moons_bayes_limits`` assumes). Then Gaussian noise
    ``N(0, noise^2 I)`` is added, a share ``label_flip`` of the labels is flipped at random (each
    independently), and the points are shuffled. Everything is drawn from ``rng``.

    Returns ``X`` (n, 2) float32 and ``y`` (n,) ``np.intp`` with values 0/1.
    """
    n = check_int(n, "n", low=1)
    check_rng(rng)
    noise, label_flip = _check_moons_parameters(noise, label_flip)
    y = (np.arange(n) >= n // 2).astype(np.intp)
    t = rng.uniform(0.0, np.pi, n)
    X = np.where(y[:, None] == 0, np.column_stack([np.cos(t), np.sin(t)]),
                 np.column_stack([1.0 - np.cos(t), 0.5 - np.sin(t)]))
    X = X + rng.normal(0.0, noise, size=(n, 2))
    y = np.where(rng.random(n) < label_flip, 1 - y, y)
    order = rng.permutation(n)
    return X[order].astype(np.float32), y[order].astype(np.intp)


def load_noisy_moons(*, draw: int | None = None, n_train: int = 150, n_val: int = 500,
                     n_test: int = 500) -> Splits:
    """The noisy two-moons set (see data/README.md): 150 train, 500 val, 500 test points.

    ``draw=None``: the frozen file ``noisy_moons.csv`` (the same points on every machine).
    ``draw=<int>``: a fresh sample of the same generator (``make_noisy_moons``), each split
    from its own child of ``np.random.SeedSequence(draw)``, so changing ``n_train`` leaves the
    validation and test points unchanged. The lessons take their draws from
    ``coursekit.heldout`` so that their claims are checked on data nobody tuned them on.

    Shapes: X_* (n, 2) float32, y_* (n,) ``np.intp`` (int64; int32 in the browser) with values 0/1.
    """
    sizes = (check_int(n_train, "n_train", low=1), check_int(n_val, "n_val", low=1),
             check_int(n_test, "n_test", low=1))
    if draw is not None:
        draw = check_int(draw, "draw", low=0)
        parts = []
        for size, child in zip(sizes, np.random.SeedSequence(draw).spawn(3)):
            parts += make_noisy_moons(size, rng=np.random.default_rng(child))
        return Splits(*parts)
    if sizes != (150, 500, 500):
        raise ValueError(f"the frozen noisy-moons file has 150/500/500 points; for other sizes "
                         f"(got n_train={sizes[0]}, n_val={sizes[1]}, n_test={sizes[2]}) pass draw=<seed>")
    raw = np.genfromtxt(data_path("noisy_moons.csv"), delimiter=",", names=True, dtype=None, encoding="utf-8")
    X = np.column_stack([raw["x1"], raw["x2"]]).astype(np.float32)
    y = raw["label"].astype(np.intp)
    parts = []
    for split in ("train", "val", "test"):
        mask = raw["split"] == split
        parts += [X[mask], y[mask]]
    return Splits(*parts)


def flip_labels(y, fraction: float, *, rng: np.random.Generator,
                num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """A copy of the labels ``y`` (N,) with ``round(fraction * N)`` of them, chosen at random
    without replacement, changed to another class (uniformly among the other ``num_classes - 1``).

    Returns ``(noisy labels (N,) np.intp, sorted indices of the changed labels)``. ``y`` is
    left as it was.
    """
    from ._validation import check_array

    y = check_array(y, "y", ndim=1, floating=False, where="flip_labels")
    fraction = check_real(fraction, "fraction", low=0.0, high=1.0)
    check_rng(rng)
    num_classes = check_int(num_classes, "num_classes", low=2)
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= num_classes:
        raise ValueError(f"flip_labels: y must hold integer class labels in 0..{num_classes - 1}, "
                         f"got dtype {y.dtype} with values {y.min()}..{y.max()}")
    flipped = rng.choice(len(y), size=round(fraction * len(y)), replace=False)
    noisy = y.astype(np.intp, copy=True)
    noisy[flipped] = (noisy[flipped] + rng.integers(1, num_classes, size=len(flipped))) % num_classes
    return noisy, np.sort(flipped)


def load_digits(*, n_train: int = 500, n_val: int = 400, seed: int = 0, label_noise: float = 0.0) -> Splits:
    """The 8x8 digits (scikit-learn's copy of the UCI set) as images, with a seeded stratified split.

    Shapes: X_* (n, 1, 8, 8) float32 in [0, 1] (NCHW), y_* (n,) ``np.intp`` in 0..9.
    ``n_train`` small (a few hundred) makes a CNN overfit; the test split is what remains
    of the 1,797 images after train and validation. ``seed`` chooses the split and, with
    ``label_noise`` > 0, which ``round(label_noise * n_train)`` *training* labels are changed to
    another class (``flip_labels``); validation and test labels stay clean.

    The images come from ``data/digits.npz`` (made by ``data/make_digits.py``) and the split is
    scikit-learn's ``train_test_split(..., stratify=y, random_state=seed)``, done twice (train,
    then validation from the rest), reimplemented in ``stratified_split``: the same images in the
    same order, without importing scikit-learn (seconds in the browser).
    """
    n_train = check_int(n_train, "n_train", low=10)
    n_val = check_int(n_val, "n_val", low=10)
    seed = check_int(seed, "seed", low=0)
    if seed >= 2**32:
        raise ValueError(f"seed must be below 2**32, got {seed}")
    label_noise = check_real(label_noise, "label_noise", low=0.0, high=1.0)
    images, target = _digits_arrays()
    X = (images / 16.0).astype(np.float32)[:, None, :, :]
    y = target.astype(np.intp)
    if n_train + n_val > len(X) - 10:
        raise ValueError(f"n_train + n_val must leave at least 10 test images out of {len(X)}, "
                         f"got n_train={n_train}, n_val={n_val}")
    train, rest = stratified_split(y, n_train, seed=seed)
    val, test = stratified_split(y[rest], n_val, seed=seed)
    val, test = rest[val], rest[test]
    y_train = y[train]
    if label_noise > 0:
        noise_rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))  # the split's seed, its own stream
        y_train, _ = flip_labels(y_train, label_noise, rng=noise_rng)
    return Splits(X[train], y_train, X[val], y[val], X[test], y[test])


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """(images (1797, 8, 8) uint8 in 0..16, target (1797,) uint8), read once, read-only."""
    with np.load(data_path("digits.npz")) as stored:
        images, target = stored["images"], stored["target"]
    images.flags.writeable = target.flags.writeable = False
    return images, target


def stratified_split(y: np.ndarray, n_train: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, rest) of a stratified random split: scikit-learn's, reproduced exactly.

    ``y`` (n,) class labels; ``train`` has ``n_train`` indices and ``rest`` the other
    ``n - n_train``, each class in about its share ``n_c / n``, both in random order. Equal to
    ``StratifiedShuffleSplit(train_size=n_train, test_size=n - n_train, random_state=seed)``'s
    first split, which ``train_test_split(..., stratify=y)`` uses: per class, the counts
    ``floor(n_c / n * n_train)``, the remaining ones given to the classes with the largest
    remainders (ties broken at random); then a permutation of each class. Its random numbers
    are scikit-learn's: a ``np.random.RandomState(seed)`` (local, not the global state), so that
    every split of the course stays the one its results were measured on.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"stratified_split: y must be a 1-d array of labels, got shape {y.shape}")
    n = len(y)
    n_train = check_int(n_train, "n_train", low=1)
    seed = check_int(seed, "seed", low=0)
    classes, y_indices, class_counts = np.unique(y, return_inverse=True, return_counts=True)
    if class_counts.min() < 2:
        raise ValueError(f"stratified_split: every class needs at least 2 members, got counts {class_counts.tolist()}")
    n_rest = n - n_train
    if n_train < len(classes) or n_rest < len(classes):
        raise ValueError(f"stratified_split: n_train must leave at least one sample per class ({len(classes)}) on "
                         f"each side of {n}, got {n_train}")
    class_indices = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(class_counts)[:-1])
    rng = np.random.RandomState(seed)
    n_i = _approximate_mode(class_counts, n_train, rng)
    t_i = _approximate_mode(class_counts - n_i, n_rest, rng)
    train, rest = [], []
    for i in range(len(classes)):
        members = class_indices[i].take(rng.permutation(class_counts[i]), mode="clip")
        train.extend(members[:n_i[i]])
        rest.extend(members[n_i[i]:n_i[i] + t_i[i]])
    return rng.permutation(train), rng.permutation(rest)


def _approximate_mode(class_counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """How many of ``n_draws`` to take from each class: the floors of the proportional shares, then
    one more for the classes with the largest remainders, ties broken by ``rng`` (as scikit-learn)."""
    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (indices,) = np.where(remainder == value)
            add_now = min(len(indices), need_to_add)
            floored[rng.choice(indices, size=add_now, replace=False)] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return floored.astype(int)


# ----------------------------------------------------------------------------- oriented textures

TEXTURE_ORIENTATIONS = 5
"""Number of orientations of the texture classes: angles ``pi * k / 5`` (0, 36, 72, 108, 144 degrees)."""
TEXTURE_FREQUENCIES = (0.12, 0.25)
"""Spatial frequencies of the texture classes, in cycles per pixel (periods of about 8 and 4 pixels)."""
_TEXTURE_CHUNK = 256  # images synthesized at once: bounds memory (the browser has little)


def make_textures(n: int, *, rng: np.random.Generator, size: int = 16, noise_std: float = 1.5,
                  angle_jitter: float = 0.3, frequency_jitter: float = 0.15,
                  bandwidth: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images of oriented band-pass noise ("wood grain"), 10 classes, with labels.

    Class ``k`` has orientation ``o = k % 5`` (angle ``theta_o = pi * o / 5`` of the wave
    vector: the stripes run perpendicular to it) and frequency ``f = TEXTURE_FREQUENCIES[k // 5]``
    (0.12 or 0.25 cycles per pixel). Each image draws its own angle ``theta_o + N(0, angle_jitter)``
    (radians) and frequency ``f * exp(N(0, frequency_jitter))``, then:

    1. white Gaussian noise on a ``2*size`` square, filtered in the Fourier domain by a Gaussian
       bump of standard deviation ``bandwidth`` (cycles/pixel) at ``+-(f cos theta, f sin theta)``;
    2. the top-left ``size x size`` crop, shifted and scaled to mean 0 and variance 1;
    3. plus white Gaussian noise of standard deviation ``noise_std`` (so the pixels are noisy:
       at the default 1.5 the noise has 2.25 times the texture's variance).

    Nothing about a class depends on *where* in the image you look: only the orientation and
    the spacing of the stripes tell the classes apart. The labels are balanced (counts differ
    by at most one) and in random order. Everything is drawn from ``rng``.

    Returns ``X`` (n, 1, size, size) float32 (NCHW) and ``y`` (n,) ``np.intp`` in 0..9.
    """
    n = check_int(n, "n", low=1)
    check_rng(rng)
    size = check_int(size, "size", low=4)
    noise_std = check_real(noise_std, "noise_std", low=0.0)
    angle_jitter = check_real(angle_jitter, "angle_jitter", low=0.0)
    frequency_jitter = check_real(frequency_jitter, "frequency_jitter", low=0.0, high=1.0)
    bandwidth = check_real(bandwidth, "bandwidth", low=0.0, high=0.25, low_open=True)
    n_classes = TEXTURE_ORIENTATIONS * len(TEXTURE_FREQUENCIES)
    y = rng.permutation(np.arange(n) % n_classes).astype(np.intp)
    theta = np.pi * (y % TEXTURE_ORIENTATIONS) / TEXTURE_ORIENTATIONS + rng.normal(0.0, angle_jitter, n)
    frequency = np.asarray(TEXTURE_FREQUENCIES)[y // TEXTURE_ORIENTATIONS] * np.exp(
        rng.normal(0.0, frequency_jitter, n))
    canvas = 2 * size  # synthesize on a larger periodic square: the crop does not wrap around
    fy = np.fft.fftfreq(canvas)[:, None]
    fx = np.fft.rfftfreq(canvas)[None, :]  # real images: half the spectrum; the bump at -f is implied
    X = np.empty((n, 1, size, size), dtype=np.float32)
    for start in range(0, n, _TEXTURE_CHUNK):
        part = slice(start, min(start + _TEXTURE_CHUNK, n))
        cx = (frequency[part] * np.cos(theta[part]))[:, None, None]
        cy = (frequency[part] * np.sin(theta[part]))[:, None, None]
        gain = (np.exp(-((fx - cx) ** 2 + (fy - cy) ** 2) / (2 * bandwidth ** 2))
                + np.exp(-((fx + cx) ** 2 + (fy + cy) ** 2) / (2 * bandwidth ** 2)))
        white = rng.standard_normal((part.stop - part.start, canvas, canvas))
        texture = np.fft.irfft2(np.fft.rfft2(white) * gain, s=(canvas, canvas))[:, :size, :size]
        texture -= texture.mean(axis=(1, 2), keepdims=True)
        texture /= texture.std(axis=(1, 2), keepdims=True)
        X[part, 0] = texture + noise_std * rng.standard_normal(texture.shape)
    return X, y


def load_textures(*, n_train: int = 50, n_val: int = 500, n_test: int = 1000, seed: int = 0,
                  noise_std: float = 1.5, size: int = 16) -> Splits:
    """The oriented-texture set of notebook 03 (see ``make_textures`` and data/README.md), made from ``seed``.

    Shapes: X_* (n, 1, size, size) float32 (NCHW), y_* (n,) ``np.intp`` in 0..9, each split
    class-balanced. The three splits come from independent streams of ``seed``: changing
    ``n_train`` does not change the validation or test images. With a few training images per
    class a small CNN memorizes its training set long before it has learned the textures.
    Notebook 03 uses ``load_textures(n_train=30, n_val=40, n_test=500, seed=draw, noise_std=1.0,
    size=10)``, one ``draw`` per data draw of its experiment.
    """
    sizes = {"n_train": check_int(n_train, "n_train", low=1), "n_val": check_int(n_val, "n_val", low=1),
             "n_test": check_int(n_test, "n_test", low=1)}
    seed = check_int(seed, "seed", low=0)
    streams = (np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(3))
    parts = []
    for n, stream in zip(sizes.values(), streams):
        parts += make_textures(n, rng=stream, noise_std=noise_std, size=size)
    return Splits(*parts)


# ----------------------------------------------------------------------------- noisy moons: the Bayes limits

NOISY_MOONS_NOISE = 0.25
"""Standard deviation of the Gaussian noise added to the moons (as in data/make_noisy_moons.py)."""
NOISY_MOONS_LABEL_FLIP = 0.10
"""Share of the noisy-moons labels flipped at random (as in data/make_noisy_moons.py)."""

_ARC_NODES = 48  # Gauss-Legendre nodes along each arc: the densities are exact to ~1e-12


def _moons_class_log_densities(X: np.ndarray, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """``log p(x | class 0)`` and ``log p(x | class 1)`` for every row of X (N, 2) -> two (N,) arrays.

    make_moons puts class 0 on the arc (cos t, sin t) and class 1 on (1 - cos t, 1/2 - sin t),
    t uniform on [0, pi] (evenly spaced, in the limit uniform), then adds N(0, noise^2 I):
    p(x | c) = (1/pi) * integral over t of N(x; arc_c(t), noise^2 I). The integral is a
    Gauss-Legendre sum, taken with log-sum-exp so that no point is too far to have a density.
    """
    nodes, weights = np.polynomial.legendre.leggauss(_ARC_NODES)
    t = (nodes + 1.0) * (np.pi / 2)            # nodes mapped to [0, pi]
    log_w = np.log(weights / 2.0)              # weights of the mean over t (they sum to 1)
    arcs = (np.stack([np.cos(t), np.sin(t)], axis=1), np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], axis=1))
    log_norm = np.log(2.0 * np.pi * noise ** 2)
    out = np.empty((2, len(X)))
    for start in range(0, len(X), _CHUNK_ROWS):  # bounds memory: (rows, nodes) arrays
        part = X[start:start + _CHUNK_ROWS]
        for c, arc in enumerate(arcs):            # arc: (nodes, 2)
            sq_dist = ((part[:, None, :] - arc[None, :, :]) ** 2).sum(axis=2)   # (rows, nodes)
            exponent = log_w - sq_dist / (2.0 * noise ** 2)
            top = exponent.max(axis=1)
            out[c, start:start + len(part)] = top + np.log(np.exp(exponent - top[:, None]).sum(axis=1)) - log_norm
    return out[0], out[1]


_CHUNK_ROWS = 8192


def _check_moons_parameters(noise, label_flip) -> tuple[float, float]:
    return (check_real(noise, "noise", low=0.0, low_open=True),
            check_real(label_flip, "label_flip", low=0.0, high=1.0))


def noisy_moons_posterior(X: np.ndarray, *, noise: float = NOISY_MOONS_NOISE,
                          label_flip: float = NOISY_MOONS_LABEL_FLIP) -> np.ndarray:
    """P(label = 1 | x) under the model that generated the noisy-moons set: the best possible prediction.

    Shapes: X (N, 2) -> (N,) float64. With q(x) = p(x|1) / (p(x|0) + p(x|1)) the probability
    that x came from the class-1 moon (equal class sizes) and f = ``label_flip``,
    ``P(label = 1 | x) = f + (1 - 2f) q(x)``: a flipped label is right with probability f.
    Predicting class 1 where this exceeds 1/2 is the Bayes-optimal classifier; no model,
    however trained, has a higher expected accuracy on fresh data from the generator.
    """
    from ._validation import check_array

    check_array(X, "X", ndim=2, finite=True, where="noisy_moons_posterior")
    if X.shape[1] != 2:
        raise ValueError(f"noisy_moons_posterior: X must have shape (N, 2), got {X.shape}")
    noise, label_flip = _check_moons_parameters(noise, label_flip)
    log_p0, log_p1 = _moons_class_log_densities(X.astype(np.float64), noise)
    from_class_1 = 1.0 / (1.0 + np.exp(np.clip(log_p0 - log_p1, -700.0, 700.0)))
    return label_flip + (1.0 - 2.0 * label_flip) * from_class_1


@dataclass(frozen=True)
class BayesLimits:
    """What no classifier can beat on data from a known generator (in expectation over fresh data).

    ``accuracy``: the Bayes-optimal accuracy. ``loss``: the lowest expected cross-entropy
    (nats), the conditional entropy of the label given x: the validation loss of a model
    that predicts the true probabilities.
    """

    accuracy: float
    loss: float

    def __repr__(self) -> str:
        return f"BayesLimits(accuracy={self.accuracy:.4f}, loss={self.loss:.4f})"


def noisy_moons_bayes_limits(*, noise: float = NOISY_MOONS_NOISE, label_flip: float = NOISY_MOONS_LABEL_FLIP,
                             step: float = 0.025) -> BayesLimits:
    """The best achievable accuracy and cross-entropy on the noisy-moons set, from its generator.

    With p(x) = (p(x|0) + p(x|1)) / 2 (equal class sizes) and P = ``noisy_moons_posterior``,
    ``accuracy = integral p(x) max(P(x), 1 - P(x)) dx`` and
    ``loss = integral p(x) H(P(x)) dx`` (H the binary entropy, in nats). Both integrals are
    sums over a grid of spacing ``step`` covering the moons and 7 noise standard deviations
    around them (the probability mass outside is below 1e-11). At the default step the accuracy
    is good to about 1e-5 (its integrand has a kink on the decision boundary, so it converges
    more slowly than the loss) and the loss to about 1e-12.
    For the course's set (noise 0.25, 10% flipped): accuracy 0.8549, loss 0.3909.
    """
    noise, label_flip = _check_moons_parameters(noise, label_flip)
    step = check_real(step, "step", low=0.0, low_open=True)
    pad = 7.0 * noise
    xs = np.arange(-1.0 - pad, 2.0 + pad, step) + step / 2
    ys = np.arange(-0.5 - pad, 1.0 + pad, step) + step / 2
    if xs.size * ys.size > 4_000_000:
        raise ValueError(f"noisy_moons_bayes_limits: step={step} makes a grid of {xs.size * ys.size:,} points; "
                         "(at most 4,000,000): use a larger step (the default 0.025 is good to about 1e-5)")
    gx, gy = np.meshgrid(xs, ys)
    log_p0, log_p1 = _moons_class_log_densities(np.column_stack([gx.ravel(), gy.ravel()]), noise)
    density = 0.5 * (np.exp(log_p0) + np.exp(log_p1))
    from_class_1 = 1.0 / (1.0 + np.exp(np.clip(log_p0 - log_p1, -700.0, 700.0)))
    posterior = label_flip + (1.0 - 2.0 * label_flip) * from_class_1
    accuracy = float(np.sum(density * np.maximum(posterior, 1.0 - posterior)))
    with np.errstate(divide="ignore", invalid="ignore"):  # 0 log 0 = 0 (label_flip = 0, far from the boundary)
        entropy = -(np.where(posterior > 0, posterior * np.log(posterior), 0.0)
                    + np.where(posterior < 1, (1 - posterior) * np.log1p(-posterior), 0.0))
    loss = float(np.sum(density * entropy))
    return BayesLimits(accuracy=accuracy * step * step, loss=loss * step * step)


def noisy_moons_bayes_scores(X: np.ndarray, y, *, noise: float = NOISY_MOONS_NOISE,
                             label_flip: float = NOISY_MOONS_LABEL_FLIP) -> tuple[float, float]:
    """``(loss, accuracy)`` of the Bayes-optimal rule on given points, like ``training.evaluate`` for a model.

    The loss is the mean cross-entropy of ``noisy_moons_posterior(X)`` against the labels,
    the accuracy that of predicting class 1 where the posterior exceeds 1/2. On a finite
    split these vary around ``noisy_moons_bayes_limits()`` (by about 1.6 points of accuracy
    for 500 points): compare a model's validation score with the Bayes rule's on the same
    validation points. Shapes: X (N, 2), y (N,) labels 0/1.
    """
    y = np.asarray(y)
    if y.shape != (len(X),) or not np.all((y == 0) | (y == 1)):
        raise ValueError(f"noisy_moons_bayes_scores: y must hold one label 0 or 1 per row of X ({len(X)}), "
                         f"got shape {y.shape}")
    p = noisy_moons_posterior(X, noise=noise, label_flip=label_flip)
    with np.errstate(divide="ignore"):  # p is 0 or 1 only when label_flip is 0: a wrong sure answer costs inf
        losses = -np.where(y == 1, np.log(p), np.log1p(-p))
    return float(losses.mean()), float(np.mean((p > 0.5) == (y == 1)))


__all__ += ["NOISY_MOONS_NOISE", "NOISY_MOONS_LABEL_FLIP", "noisy_moons_posterior", "BayesLimits",
            "noisy_moons_bayes_limits", "noisy_moons_bayes_scores"]
