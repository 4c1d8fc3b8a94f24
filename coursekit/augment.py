"""Data augmentation: per-example random transformations of image batches, applied per mini-batch.

Every image function takes and returns a batch ``x`` of shape ``(N, C, H, W)`` (NCHW, the
course's layout: N examples, C channels, H rows, W columns) in a floating dtype, and returns a
**new** array of the same dtype (the input is never changed). Pixels that a transformation
brings in from outside the image are **0** (zero fill), never wrapped around from the other
side as ``np.roll`` would.

Deterministic transformations take one parameter per example::

    translate(x, dy, dx)        # example n moves dy[n] rows down and dx[n] columns right
    rotate(x, degrees)          # example n turns degrees[n] counter-clockwise about its centre
    flip_horizontal(x)          # every example mirrored left-right

Random ones draw **one set of parameters per example** from an explicit generator ``rng``
(all in one vectorized call, no Python loop over the examples)::

    rng = np.random.default_rng(0)
    x = np.random.default_rng(1).random((32, 1, 8, 8)).astype(np.float32)   # (32, 1, 8, 8)
    random_translate(x, 1, rng=rng)        # each image shifted by its own (dy, dx) in {-1, 0, 1}^2
    random_crop(x, 8, padding=1, rng=rng)  # pad by 1 with zeros, cut an 8x8 window at a random place
    random_horizontal_flip(x, p=0.5, rng=rng)
    random_rotation(x, 15, rng=rng)        # angles uniform in [-15, 15] degrees, bilinear, zero fill
    gaussian_noise(x, 0.1, rng=rng)        # x + 0.1 * N(0, 1), a fresh draw per pixel

**Labels stay valid.** These transformations change how an image looks, never which class it
is, *provided the class survives the transformation*: a digit moved by one pixel is the same
digit, a 6 turned upside down is a 9. Example ``n`` of the output is always example ``n`` of the
input (the batch keeps its order and its size), so ``y`` needs no change. ``mixup`` is the
exception on purpose: it mixes two examples, so it mixes their (one-hot) labels the same way.

**In training.** The hook classes have the signature ``transform(x, y, rng) -> (x, y)`` that
``coursekit.training.fit(..., augment=..., augment_rng=...)`` calls on every *training*
mini-batch (never on validation data)::

    augment = Compose([RandomTranslate(1), RandomRotation(10), GaussianNoise(0.05)])
    fit(model, loss_fn, optimizer, X, y, epochs=50, batch_size=32, rng=streams.order,
        augment=augment, augment_rng=np.random.default_rng(7))

Each epoch then sees a fresh random version of every training image; the stored data set is
never enlarged. PyTorch: ``torchvision.transforms.v2`` (``RandomCrop(size, padding)``,
``RandomHorizontalFlip(p)``, ``RandomRotation(degrees)``, ``RandomAffine(0, translate=...)``,
``GaussianNoise(sigma=...)``, ``MixUp(alpha, num_classes)``, ``Compose``); Keras:
``layers.RandomTranslation``, ``RandomFlip``, ``RandomRotation``, ``GaussianNoise``.
"""
from __future__ import annotations

import numbers

import numpy as np

from ._validation import check_array, check_int, check_real, check_rng, describe

__all__ = ["translate", "affine", "rotate", "flip_horizontal", "random_translate", "random_crop",
           "random_horizontal_flip", "random_rotation", "random_affine", "gaussian_noise", "one_hot", "mixup",
           "Compose", "RandomTranslate", "RandomCrop", "RandomHorizontalFlip", "RandomRotation", "RandomAffine",
           "GaussianNoise", "MixUp"]


# ----------------------------------------------------------------------------- checks


def _images(x, where: str) -> np.ndarray:
    """Require a finite floating (N, C, H, W) batch."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{where}: x must be a numpy array of images of shape (N, C, H, W), got {describe(x)} "
                        f"of type {type(x).__name__}")
    if x.ndim != 4:
        extra = " (one image? use x[None]; one channel? use x[:, None])" if x.ndim in (2, 3) else ""
        raise ValueError(f"{where}: x must be a batch of images of shape (N, C, H, W), got a {x.ndim}-D array of "
                         f"shape {x.shape}{extra}")
    return check_array(x, "x", floating=True, finite=True, where=where)


def _per_example(values, name: str, n: int, where: str, *, integer: bool) -> np.ndarray:
    """A scalar or an (N,) array of parameters, one per example, as an (N,) array."""
    kind = "integers" if integer else "real numbers"
    if isinstance(values, (bool, np.bool_)) or (isinstance(values, np.ndarray) and values.dtype == bool):
        raise TypeError(f"{where}: {name} must hold {kind}, one per example, got {describe(values)}")
    if isinstance(values, (numbers.Real, np.number)):
        values = np.full(n, values)
    if not isinstance(values, (np.ndarray, list, tuple)):
        raise TypeError(f"{where}: {name} must be a number or an array of {n} {kind} (one per example), got "
                        f"{describe(values)} of type {type(values).__name__}")
    values = np.asarray(values)
    if values.shape != (n,):
        raise ValueError(f"{where}: {name} must have one value per example, shape ({n},), got shape {values.shape}")
    if integer and values.dtype.kind not in "iu":
        raise TypeError(f"{where}: {name} must hold integers (whole pixels), got dtype {values.dtype}; "
                        f"round first, e.g. np.rint({name}).astype(int)")
    if not integer:
        if values.dtype.kind not in "iuf":
            raise TypeError(f"{where}: {name} must hold real numbers, got dtype {values.dtype}")
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{where}: {name} must be finite, got {describe(values)}")
    return values.astype(np.int64 if integer else np.float64)


# ----------------------------------------------------------------------------- sampling with zero fill


def _padded(x: np.ndarray, pad: int) -> np.ndarray:
    """x with ``pad`` rows and columns of zeros around every image: (N, C, H + 2 pad, W + 2 pad)."""
    n, channels, height, width = x.shape
    out = np.zeros((n, channels, height + 2 * pad, width + 2 * pad), dtype=x.dtype)
    out[:, :, pad:pad + height, pad:pad + width] = x
    return out


def _windows(x: np.ndarray, pad: int, size: tuple[int, int], top: np.ndarray, left: np.ndarray) -> np.ndarray:
    """Zero-pad every image by ``pad``, then cut an (h, w) window at (top[n], left[n]) from example n.

    Shapes: x (N, C, H, W); top, left (N,) integer corners in the padded image; returns
    (N, C, h, w). One fancy index into a strided view of all windows: no loop, no copy but the result.
    """
    windows = np.lib.stride_tricks.sliding_window_view(_padded(x, pad), size, axis=(2, 3))
    return windows[np.arange(len(x)), :, top, left]  # (N, C, h, w)


# The 4 neighbours of a point: (row step, column step) = (0, 0), (0, 1), (1, 0), (1, 1). A point at
# fractional offsets (a, b) from its top-left neighbour weighs them (1 - a)(1 - b), (1 - a) b, a (1 - b), a b,
# that is (_KEEP_ROW + _SIGN_ROW a)(_KEEP_COL + _SIGN_COL b) with keep = 1 - step and sign = 2 step - 1.
_ROW_STEP = np.array([0, 0, 1, 1])[None, :, None]
_COL_STEP = np.array([0, 1, 0, 1])[None, :, None]
_KEEP_ROW, _SIGN_ROW = (1 - _ROW_STEP).astype(np.float32), (2 * _ROW_STEP - 1).astype(np.float32)
_KEEP_COL, _SIGN_COL = (1 - _COL_STEP).astype(np.float32), (2 * _COL_STEP - 1).astype(np.float32)


def _sample_bilinear(x: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """``x`` read at real coordinates ``coords`` = (rows, cols), (2, N, P) with P = H * W (row-major),
    interpolated bilinearly between the 4 nearest pixels. Returns (N, C, H, W) in x's dtype.

    Pixels outside the image are 0: a point half a pixel off the edge gets half the edge pixel, as
    ``scipy.ndimage.map_coordinates(order=1, mode="grid-constant")``. Implementation: the image
    gets a border of zeros (one pixel before, two after), every coordinate is clamped into
    [-1, H] x [-1, W] (a point beyond that has only zero neighbours either way), and the 4
    neighbours of all points are gathered in one ``take`` from the flattened batch. The weights are
    computed in x's dtype (float32 while training) from float64 coordinates.
    """
    n, channels, height, width = x.shape
    limits = np.array([height, width], dtype=np.float64)[:, None, None]
    coords = np.clip(coords, -1.0, limits)
    corner = np.floor(coords)
    down, right = (coords - corner).astype(x.dtype)                                # (N, P) each, in [0, 1)
    top, left = corner.astype(np.intp) + 1                                         # in the bordered image
    stride = width + 3
    first = top * stride + left + (np.arange(n) * (height + 3) * stride)[:, None]  # (N, P) in the flat batch
    index = first[:, None, :] + (_ROW_STEP * stride + _COL_STEP)                    # (N, 4, P)
    weights = (_KEEP_ROW + _SIGN_ROW * down[:, None, :]) * (_KEEP_COL + _SIGN_COL * right[:, None, :])  # (N, 4, P)
    bordered = np.zeros((n, height + 3, width + 3, channels), dtype=x.dtype)
    bordered[:, 1:height + 1, 1:width + 1] = x.transpose(0, 2, 3, 1)
    neighbours = bordered.reshape(-1, channels).take(index, axis=0)                 # (N, 4, P, C)
    out = np.einsum("nkp,nkpc->ncp", weights.astype(x.dtype, copy=False), neighbours)
    return out.reshape(n, channels, height, width)


# ----------------------------------------------------------------------------- deterministic transformations


def translate(x: np.ndarray, dy, dx) -> np.ndarray:
    """Shift every image by whole pixels, with zero fill: example n moves ``dy[n]`` rows down, ``dx[n]`` columns right.

    Shapes: x (N, C, H, W) floating; dy, dx integers, one per example (N,) (or one number for
    the whole batch); returns (N, C, H, W) in x's dtype. Negative shifts move up / left. All C
    channels of an example move together. Pixels moved in from outside are 0 (not wrapped around
    as with ``np.roll``); a shift of H rows or more leaves an empty (all-zero) image.

        out[n, c, i, j] = x[n, c, i - dy[n], j - dx[n]]   if that pixel exists, else 0

    >>> x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)        # [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    >>> translate(x, [1], [-1])[0, 0]                        # one row down, one column left
    array([[0., 0., 0.],
           [2., 3., 0.],
           [5., 6., 0.]])
    """
    where = "translate"
    x = _images(x, where)
    height, width = x.shape[2:]
    dy = np.clip(_per_example(dy, "dy", len(x), where, integer=True), -height, height)  # beyond: all zeros anyway
    dx = np.clip(_per_example(dx, "dx", len(x), where, integer=True), -width, width)
    pad = int(max(np.abs(dy).max(), np.abs(dx).max()))
    # Window (pad - dy, pad - dx) of the zero-padded image: its pixel (i, j) is x[i - dy, j - dx].
    return _windows(x, pad, (height, width), pad - dy, pad - dx)


def affine(x: np.ndarray, degrees=0.0, dy=0.0, dx=0.0, scale=1.0) -> np.ndarray:
    """Rotate, scale and shift every image about its centre, with bilinear interpolation and zero fill.

    Shapes: x (N, C, H, W) floating; ``degrees``, ``dy``, ``dx``, ``scale`` real numbers, one per
    example (N,) (or one number for the whole batch); returns (N, C, H, W) in x's dtype. Example n
    is turned ``degrees[n]`` counter-clockwise (as displayed), enlarged ``scale[n]`` times (> 0),
    then moved ``dy[n]`` rows down and ``dx[n]`` columns right (fractions of a pixel allowed).

    With the centre (r0, c0) = ((H - 1) / 2, (W - 1) / 2) and coordinates u = j - c0 (right),
    v = r0 - i (up), output pixel (i, j) reads the input at the point the transformation carries
    onto it (rotation R(t), t in radians):

        (u_s, v_s) = R(-t) ((u, v) - (dx, -dy)) / scale,   source (row, col) = (r0 - v_s, c0 + u_s)

    interpolated bilinearly between the 4 nearest pixels; pixels outside the image count as 0
    (a point half a pixel off the edge gets half the edge pixel, as
    ``scipy.ndimage.map_coordinates(order=1, mode="grid-constant")``). Whole-pixel shifts give
    exactly ``translate``; 90 degrees exactly ``np.rot90(x, 1, axes=(2, 3))`` (square images).
    torchvision: ``transforms.v2.functional.affine(x, angle, translate, scale, shear=0,
    interpolation=BILINEAR)``.
    """
    where = "affine"
    x = _images(x, where)
    n = len(x)
    scale = _per_example(scale, "scale", n, where, integer=False)
    if np.any(scale <= 0):
        raise ValueError(f"{where}: scale must be positive (1 keeps the size), got {scale.min()}")
    return _affine(x, _per_example(degrees, "degrees", n, where, integer=False),
                   _per_example(dy, "dy", n, where, integer=False), _per_example(dx, "dx", n, where, integer=False),
                   scale)


def _affine(x: np.ndarray, degrees: np.ndarray, dy: np.ndarray, dx: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``affine`` for a checked batch and checked (N,) float64 parameters."""
    height, width = x.shape[2:]
    centre_row, centre_col = (height - 1) / 2, (width - 1) / 2
    grid_rows, grid_cols = np.divmod(np.arange(height * width), width)     # (P,) each, row-major
    grid = np.stack([grid_cols - centre_col, centre_row - grid_rows])     # (2, P): (u, v) = (right, up)
    angles = np.deg2rad(degrees)
    c, s = np.cos(angles) / scale, np.sin(angles) / scale                 # (N,)
    # source row = r0 - v_s = r0 + s u - c v - s dx - c dy;  source col = c0 + u_s = c0 + c u + s v - c dx + s dy
    matrix = np.stack([np.stack([s, -c], axis=-1), np.stack([c, s], axis=-1)])   # (2, N, 2)
    offset = np.stack([centre_row - s * dx - c * dy, centre_col - c * dx + s * dy])[:, :, None]  # (2, N, 1)
    coords = matrix @ grid + offset                                       # (2, N, P): rows, cols
    # cos(90 degrees) is 6e-17, not 0: snap coordinates that are whole pixels up to rounding, so that
    # quarter turns and whole-pixel shifts move pixels exactly instead of mixing in 1e-16 of a neighbour.
    whole = np.rint(coords)
    return _sample_bilinear(x, np.where(np.abs(coords - whole) < 1e-9, whole, coords))


def rotate(x: np.ndarray, degrees) -> np.ndarray:
    """Rotate every image about its centre, counter-clockwise as displayed: ``affine(x, degrees)``.

    Shapes: x (N, C, H, W) floating; degrees real, one per example (N,) (or one number); returns
    (N, C, H, W) in x's dtype. Bilinear interpolation, zero fill; the centre is
    ((H - 1) / 2, (W - 1) / 2). 90 degrees is exactly ``np.rot90(x, 1, axes=(2, 3))`` on square
    images, 0 the identity. torchvision: ``transforms.v2.functional.rotate`` (counter-clockwise too).
    """
    return affine(x, degrees)


def flip_horizontal(x: np.ndarray) -> np.ndarray:
    """Mirror every image left-right: ``out[n, c, i, j] = x[n, c, i, W - 1 - j]``. Shapes: (N, C, H, W) -> same."""
    return _images(x, "flip_horizontal")[:, :, :, ::-1].copy()


# ----------------------------------------------------------------------------- random transformations


def random_translate(x: np.ndarray, max_shift: int, *, rng: np.random.Generator) -> np.ndarray:
    """``translate`` each example by its own random (dy, dx), each uniform in {-max_shift, ..., max_shift}.

    Shapes: x (N, C, H, W) floating -> (N, C, H, W), same dtype. The 2N shifts are drawn at once,
    ``rng.integers(-max_shift, max_shift + 1, size=(2, N))`` (rows first). ``max_shift`` is an
    integer in [0, min(H, W)); 0 returns a copy. Zero fill. Keras: ``RandomTranslation(h, w,
    fill_mode="constant")`` (fractions of the size, real-valued shifts); torchvision:
    ``RandomAffine(0, translate=(a, b))``.
    """
    where = "random_translate"
    x = _images(x, where)
    check_rng(rng)
    max_shift = check_int(max_shift, "max_shift", low=0)
    if max_shift >= min(x.shape[2:]):
        raise ValueError(f"{where}: max_shift must be smaller than the image ({x.shape[2]}x{x.shape[3]}), "
                         f"got {max_shift}")
    dy, dx = rng.integers(-max_shift, max_shift + 1, size=(2, len(x)))
    return translate(x, dy, dx)


def random_crop(x: np.ndarray, size, *, padding: int = 0, rng: np.random.Generator) -> np.ndarray:
    """Pad every image with ``padding`` zeros on each side, then cut a ``size`` window at a random place per example.

    Shapes: x (N, C, H, W) floating -> (N, C, h, w) with ``(h, w) = size`` (an int means square).
    The window's top-left corner in the padded image is uniform in {0, ..., H + 2 padding - h} x
    {0, ..., W + 2 padding - w}, one draw per example (``rng.integers``, rows first). With
    ``size = (H, W)`` this is ``random_translate(x, padding)``: the same distribution of shifts,
    the same zero fill. torchvision: ``RandomCrop(size, padding=padding)``.
    """
    where = "random_crop"
    x = _images(x, where)
    check_rng(rng)
    padding = check_int(padding, "padding", low=0)
    if isinstance(size, (tuple, list)) and len(size) == 2:
        h, w = (check_int(s, "size[i]", low=1) for s in size)
    elif isinstance(size, (numbers.Integral, np.integer)) and not isinstance(size, (bool, np.bool_)):
        h = w = check_int(size, "size", low=1)
    else:
        raise TypeError(f"{where}: size must be an int or a pair (h, w) of ints, got {describe(size)}")
    height, width = x.shape[2] + 2 * padding, x.shape[3] + 2 * padding
    if h > height or w > width:
        raise ValueError(f"{where}: size {(h, w)} is larger than the padded image ({height}, {width}) "
                         f"(image {x.shape[2:]}, padding {padding})")
    top = rng.integers(0, height - h + 1, size=len(x))
    left = rng.integers(0, width - w + 1, size=len(x))
    return _windows(x, padding, (h, w), top, left)


def random_horizontal_flip(x: np.ndarray, *, p: float = 0.5, rng: np.random.Generator) -> np.ndarray:
    """Mirror each example left-right with probability ``p``, independently (one ``rng.random(N)`` draw).

    Shapes: x (N, C, H, W) floating -> (N, C, H, W), same dtype, same order of examples.
    torchvision: ``RandomHorizontalFlip(p)``; Keras: ``RandomFlip("horizontal")`` (p = 0.5).
    """
    where = "random_horizontal_flip"
    x = _images(x, where)
    check_rng(rng)
    p = check_real(p, "p", low=0.0, high=1.0)
    flip = rng.random(len(x)) < p  # (N,): one draw per example
    return np.where(flip[:, None, None, None], x[:, :, :, ::-1], x)


def random_rotation(x: np.ndarray, max_degrees: float, *, rng: np.random.Generator) -> np.ndarray:
    """``rotate`` each example by its own angle, uniform in [-max_degrees, max_degrees] (``rng.uniform``, size N).

    Shapes: x (N, C, H, W) floating -> (N, C, H, W), same dtype. ``max_degrees`` in [0, 180]:
    180 turns some 6s into 9s (a transformation that can change the class). torchvision:
    ``RandomRotation(max_degrees)``; Keras: ``RandomRotation(max_degrees / 360)`` (a fraction of
    a full turn).
    """
    where = "random_rotation"
    x = _images(x, where)
    check_rng(rng)
    max_degrees = check_real(max_degrees, "max_degrees", low=0.0, high=180.0)
    ones = np.ones(len(x))
    return _affine(x, rng.uniform(-max_degrees, max_degrees, size=len(x)), 0 * ones, 0 * ones, ones)


def _scale_range(scale, where: str) -> tuple[float, float]:
    if not (isinstance(scale, (tuple, list)) and len(scale) == 2):
        raise TypeError(f"{where}: scale must be a pair (low, high), e.g. (0.9, 1.1), got {describe(scale)}")
    low, high = (check_real(v, "scale[i]", low=0.0, low_open=True) for v in scale)
    if low > high:
        raise ValueError(f"{where}: scale must be (low, high) with low <= high, got {scale}")
    return low, high


def random_affine(x: np.ndarray, *, degrees: float = 0.0, shift: float = 0.0, scale=(1.0, 1.0),
                  rng: np.random.Generator) -> np.ndarray:
    """``affine`` with random parameters per example: small rotations, sub-pixel shifts, zooms.

    Shapes: x (N, C, H, W) floating -> (N, C, H, W), same dtype. For each example, independently:
    angle uniform in [-degrees, degrees] (``degrees`` in [0, 180]), dy and dx uniform in
    [-shift, shift] pixels (real-valued: a shift of 0.5 blends neighbouring pixels), scale uniform
    in ``scale = (low, high)`` (0 < low <= high). Drawn as ``rng.uniform(size=(4, N))`` rescaled
    (angles, dy, dx, scale in that order). torchvision: ``RandomAffine(degrees, translate=(shift / W,
    shift / H), scale=scale)``; Keras: ``RandomRotation`` + ``RandomTranslation`` + ``RandomZoom``.
    """
    where = "random_affine"
    x = _images(x, where)
    check_rng(rng)
    degrees = check_real(degrees, "degrees", low=0.0, high=180.0)
    shift = check_real(shift, "shift", low=0.0)
    low, high = _scale_range(scale, where)
    u = rng.uniform(size=(4, len(x)))
    return _affine(x, degrees * (2 * u[0] - 1), shift * (2 * u[1] - 1), shift * (2 * u[2] - 1),
                   low + (high - low) * u[3])


def gaussian_noise(x: np.ndarray, std: float, *, rng: np.random.Generator) -> np.ndarray:
    """``x + std * z`` with z ~ N(0, 1) drawn independently for every pixel (``rng.standard_normal(x.shape)``).

    Shapes: x (N, C, H, W) floating -> (N, C, H, W), same dtype; std >= 0 (0 returns a copy).
    No clipping. torchvision: ``GaussianNoise(mean=0, sigma=std, clip=False)``; Keras:
    ``GaussianNoise(std)``.
    """
    where = "gaussian_noise"
    x = _images(x, where)
    check_rng(rng)
    std = check_real(std, "std", low=0.0)
    return (x + std * rng.standard_normal(x.shape)).astype(x.dtype)


# ----------------------------------------------------------------------------- mixup


def one_hot(y, num_classes: int, *, dtype=np.float32) -> np.ndarray:
    """Class labels (N,) in 0..num_classes-1 -> one-hot rows (N, num_classes) of ``dtype``."""
    where = "one_hot"
    num_classes = check_int(num_classes, "num_classes", low=2)
    y = _class_labels(y, num_classes, where)
    out = np.zeros((len(y), num_classes), dtype=dtype)
    out[np.arange(len(y)), y] = 1
    return out


def _class_labels(y, num_classes: int, where: str) -> np.ndarray:
    if not isinstance(y, np.ndarray) or y.ndim != 1 or y.dtype.kind not in "iu":
        raise TypeError(f"{where}: y must be integer class labels of shape (N,), got {describe(y)}")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"{where}: y must hold class labels in 0..{num_classes - 1}, got values from {y.min()} "
                         f"to {y.max()}")
    return y


def mixup(x: np.ndarray, y: np.ndarray, *, alpha: float, num_classes: int,
          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Mixup (Zhang et al., 2018): each example mixed with a random partner from the batch, labels mixed alike.

    Shapes: x (N, ...) floating (images (N, C, H, W) or features (N, D)); y (N,) integer class
    labels or (N, num_classes) soft labels (rows summing to 1). Returns ``(x_mixed, y_mixed)`` with
    y_mixed (N, num_classes) in x's dtype:

        lam[n] ~ Beta(alpha, alpha),  partner = a random permutation of the batch,
        x_mixed[n] = lam[n] x[n] + (1 - lam[n]) x[partner[n]]
        y_mixed[n] = lam[n] onehot(y[n]) + (1 - lam[n]) onehot(y[partner[n]])

    One lam per example (the paper's code and torchvision's ``MixUp`` draw one per batch; both are
    mixup). Train on y_mixed with ``losses.soft_target_cross_entropy``. alpha > 0: small alpha
    (0.2) keeps most mixes close to one example.
    """
    where = "mixup"
    if not isinstance(x, np.ndarray) or x.ndim < 2:
        raise TypeError(f"{where}: x must be a numpy array (N, ...) with a batch axis, got {describe(x)}")
    check_array(x, "x", floating=True, finite=True, where=where)
    check_rng(rng)
    alpha = check_real(alpha, "alpha", low=0.0, low_open=True)
    num_classes = check_int(num_classes, "num_classes", low=2)
    if isinstance(y, np.ndarray) and y.ndim == 2:
        check_array(y, "y", floating=True, finite=True, where=where)
        if y.shape != (len(x), num_classes) or np.any(y < 0) or not np.allclose(y.sum(axis=1), 1.0, atol=1e-5):
            raise ValueError(f"{where}: soft labels y must have shape ({len(x)}, {num_classes}) with rows of "
                             f"probabilities summing to 1, got {describe(y)}")
        targets = y.astype(x.dtype)
    else:
        targets = one_hot(_class_labels(y, num_classes, where), num_classes, dtype=x.dtype)
        if len(targets) != len(x):
            raise ValueError(f"{where}: y has {len(targets)} labels but x has {len(x)} examples")
    lam = rng.beta(alpha, alpha, size=len(x))
    partner = rng.permutation(len(x))
    lam_x = lam.reshape((-1,) + (1,) * (x.ndim - 1))
    x_mixed = (lam_x * x + (1 - lam_x) * x[partner]).astype(x.dtype)
    y_mixed = (lam[:, None] * targets + (1 - lam[:, None]) * targets[partner]).astype(x.dtype)
    return x_mixed, y_mixed


# ----------------------------------------------------------------------------- hooks for fit


class _Transform:
    """A transformation as a ``fit`` hook: ``transform(x, y, rng) -> (x, y)``; images only, labels passed through."""

    def __call__(self, x, y, rng):
        return self.apply(x, rng=rng), y

    def apply(self, x, *, rng):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({shown})"


class RandomTranslate(_Transform):
    """Hook for ``random_translate``: shifts of up to ``max_shift`` pixels per axis, zero fill."""

    def __init__(self, max_shift: int) -> None:
        self.max_shift = check_int(max_shift, "max_shift", low=0)

    def apply(self, x, *, rng):
        return random_translate(x, self.max_shift, rng=rng)


class RandomCrop(_Transform):
    """Hook for ``random_crop``: zero padding, then a random ``size`` window (torchvision ``RandomCrop``)."""

    def __init__(self, size, *, padding: int = 0) -> None:
        self.size, self.padding = size, check_int(padding, "padding", low=0)

    def apply(self, x, *, rng):
        return random_crop(x, self.size, padding=self.padding, rng=rng)


class RandomHorizontalFlip(_Transform):
    """Hook for ``random_horizontal_flip``: each example mirrored with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = check_real(p, "p", low=0.0, high=1.0)

    def apply(self, x, *, rng):
        return random_horizontal_flip(x, p=self.p, rng=rng)


class RandomRotation(_Transform):
    """Hook for ``random_rotation``: angles uniform in [-max_degrees, max_degrees]."""

    def __init__(self, max_degrees: float) -> None:
        self.max_degrees = check_real(max_degrees, "max_degrees", low=0.0, high=180.0)

    def apply(self, x, *, rng):
        return random_rotation(x, self.max_degrees, rng=rng)


class RandomAffine(_Transform):
    """Hook for ``random_affine``: rotations up to ``degrees``, shifts up to ``shift`` pixels, zoom in ``scale``."""

    def __init__(self, *, degrees: float = 0.0, shift: float = 0.0, scale=(1.0, 1.0)) -> None:
        self.degrees = check_real(degrees, "degrees", low=0.0, high=180.0)
        self.shift = check_real(shift, "shift", low=0.0)
        self.scale = _scale_range(scale, "RandomAffine")

    def apply(self, x, *, rng):
        return random_affine(x, degrees=self.degrees, shift=self.shift, scale=self.scale, rng=rng)


class GaussianNoise(_Transform):
    """Hook for ``gaussian_noise``: additive N(0, std^2) noise on every pixel."""

    def __init__(self, std: float) -> None:
        self.std = check_real(std, "std", low=0.0)

    def apply(self, x, *, rng):
        return gaussian_noise(x, self.std, rng=rng)


class MixUp:
    """Hook for ``mixup``: returns ``(x_mixed, soft labels (N, num_classes))``; train with a soft-target loss."""

    def __init__(self, alpha: float, num_classes: int) -> None:
        self.alpha = check_real(alpha, "alpha", low=0.0, low_open=True)
        self.num_classes = check_int(num_classes, "num_classes", low=2)

    def __call__(self, x, y, rng):
        return mixup(x, y, alpha=self.alpha, num_classes=self.num_classes, rng=rng)

    def __repr__(self) -> str:
        return f"MixUp(alpha={self.alpha!r}, num_classes={self.num_classes!r})"


class Compose:
    """Apply ``transforms`` in order: each a hook ``t(x, y, rng) -> (x, y)``, all drawing from the same ``rng``.

    ``Compose([RandomTranslate(1), RandomRotation(10)])(x, y, rng)`` shifts, then rotates, each
    example by its own random amounts. Every step must keep the batch's size and order (checked:
    a step that returns another number of examples or labels is a ``ValueError``), so labels
    stay aligned with their images.
    """

    def __init__(self, transforms) -> None:
        if isinstance(transforms, (str, bytes)) or not hasattr(transforms, "__iter__"):
            raise TypeError(f"Compose: transforms must be a list of hooks t(x, y, rng) -> (x, y), got "
                            f"{describe(transforms)}")
        self.transforms = list(transforms)
        for t in self.transforms:
            if isinstance(t, type) or not callable(t):
                what = f"the class {t.__name__}; create one: {t.__name__}(...)" if isinstance(t, type) else describe(t)
                raise TypeError(f"Compose: every transform must be a hook t(x, y, rng) -> (x, y), got {what}")

    def __call__(self, x, y, rng):
        check_rng(rng)
        n = len(x)
        for t in self.transforms:
            result = t(x, y, rng)
            if not (isinstance(result, tuple) and len(result) == 2):
                raise TypeError(f"Compose: {t!r} must return a pair (x, y), got {describe(result)}")
            x, y = result
            if len(x) != n or len(y) != n:
                raise ValueError(f"Compose: {t!r} returned {len(x)} images and {len(y)} labels for a batch of {n}; "
                                 "a transformation must keep every example, in order, with its label")
        return x, y

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"
