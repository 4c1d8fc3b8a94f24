"""coursekit.augment: exact results on hand-made cases, agreement with scipy.ndimage, one draw per example,
zero fill, reproducibility, labels that stay with their images, the fit hook, and clear errors for bad input."""
import numpy as np
import pytest
from scipy import ndimage

from coursekit import augment as A
from coursekit.layers import Dense, ReLU
from coursekit.conv import Flatten
from coursekit.losses import soft_target_cross_entropy, softmax_cross_entropy
from coursekit.model import Sequential
from coursekit.optim import SGD
from coursekit.training import fit


def images(n=5, c=2, h=6, w=7, seed=0, dtype=np.float64):
    """Random images with no zero pixel and no symmetry, so every transformation is recognizable."""
    return (np.random.default_rng(seed).random((n, c, h, w)) + 0.5).astype(dtype)


# ----------------------------------------------------------------------------- translate


def test_translate_hand_made_example():
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    assert np.array_equal(A.translate(x, [1], [-1])[0, 0], [[0, 0, 0], [2, 3, 0], [5, 6, 0]])
    assert np.array_equal(A.translate(x, [-1], [2])[0, 0], [[0, 0, 4], [0, 0, 7], [0, 0, 0]])
    assert np.array_equal(A.translate(x, 0, 0), x)


def test_translate_each_example_its_own_shift_channels_together_and_zero_fill():
    x = images()
    dy, dx = np.array([0, 1, -2, 3, -1]), np.array([2, -1, 0, -3, 1])
    out = A.translate(x, dy, dx)
    h, w = x.shape[2:]
    for n in range(len(x)):  # the definition, pixel by pixel
        for i in range(h):
            for j in range(w):
                si, sj = i - dy[n], j - dx[n]
                expected = x[n, :, si, sj] if 0 <= si < h and 0 <= sj < w else np.zeros(x.shape[1])
                assert np.array_equal(out[n, :, i, j], expected)
    rolled = np.stack([np.roll(x[n], (dy[n], dx[n]), axis=(1, 2)) for n in range(len(x))])
    assert not np.array_equal(out, rolled), "zero fill, not np.roll's wrap-around"


def test_translate_by_the_whole_image_or_more_leaves_zeros_and_keeps_dtype_and_input():
    x = images(dtype=np.float32)
    before = x.copy()
    out = A.translate(x, [6, -6, 0, 100, 0], [0, 0, 7, 0, -8])
    assert out.dtype == np.float32 and out.shape == x.shape
    assert not out.any()
    assert np.array_equal(x, before)
    assert A.translate(x, 1, 0) is not x and not np.shares_memory(A.translate(x, 0, 0), x)


# ----------------------------------------------------------------------------- affine, rotate, flip


def test_quarter_turns_and_identity_are_exact():
    x = images(h=5, w=5)
    assert np.array_equal(A.rotate(x, 0), x)
    assert np.array_equal(A.rotate(x, 90), np.rot90(x, 1, axes=(2, 3)))  # counter-clockwise, as displayed
    assert np.array_equal(A.rotate(x, -90), np.rot90(x, -1, axes=(2, 3)))
    assert np.array_equal(A.rotate(x, 180), x[:, :, ::-1, ::-1])
    assert np.array_equal(A.rotate(x, [0, 90, 180, 270, 360]),
                          np.stack([np.rot90(x[n], n, axes=(1, 2)) for n in range(5)]))


def test_whole_pixel_shifts_of_affine_are_translate_and_compose_exactly_with_quarter_turns():
    x = images()
    dy, dx = np.array([0, 1, -2, 3, -1]), np.array([2, -1, 0, -3, 1])
    assert np.array_equal(A.affine(x, 0, dy, dx, 1), A.translate(x, dy, dx))
    square = images(h=6, w=6)
    assert np.array_equal(A.affine(square, 90, dy, dx), A.translate(A.rotate(square, 90), dy, dx))


@pytest.mark.parametrize("degrees", [7.5, -33.0, 121.0])
def test_rotation_matches_scipy_bilinear_with_zero_padding(degrees):
    x = images()
    out = A.rotate(x, degrees)
    for n in range(len(x)):
        for c in range(x.shape[1]):
            expected = ndimage.rotate(x[n, c], degrees, reshape=False, order=1, mode="grid-constant", cval=0.0)
            np.testing.assert_allclose(out[n, c], expected, atol=1e-12)


def _scipy_affine(image, degrees, dy, dx, scale):
    """The same map written in scipy's convention (derived independently): the displayed counter-clockwise
    rotation F = [[cos, -sin], [sin, cos]] acts on (row, col) offsets from the centre c; output
    o = scale F (p - c) + c + (dy, dx), so the input point is F^-1 (o - c - t) / scale + c."""
    t = np.deg2rad(degrees)
    inverse = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]]) / scale
    centre = (np.array(image.shape) - 1) / 2
    offset = centre - inverse @ (centre + np.array([dy, dx]))
    return ndimage.affine_transform(image, inverse, offset=offset, order=1, mode="grid-constant", cval=0.0)


def test_affine_matches_scipy_affine_transform_per_example():
    x = images(n=4)
    degrees, dy, dx, scale = [10.0, -25.0, 0.0, 170.0], [0.3, -1.2, 0.5, 0.0], [-0.7, 0.0, 2.25, 1.0], \
        [1.0, 1.3, 0.8, 2.0]
    out = A.affine(x, degrees, dy, dx, scale)
    for n in range(len(x)):
        for c in range(x.shape[1]):
            np.testing.assert_allclose(out[n, c], _scipy_affine(x[n, c], degrees[n], dy[n], dx[n], scale[n]),
                                       atol=1e-12)


def test_half_pixel_shift_blends_neighbours_and_half_the_edge_pixel():
    x = np.array([[[[2.0, 4.0, 8.0]]]])  # (1, 1, 1, 3)
    assert np.allclose(A.affine(x, 0, 0, 0.5)[0, 0, 0], [1.0, 3.0, 6.0])
    assert np.allclose(A.affine(x, 0, 0, -0.5)[0, 0, 0], [3.0, 6.0, 4.0])


def test_affine_keeps_float32_and_leaves_its_input_alone():
    x = images(dtype=np.float32)
    before = x.copy()
    out = A.affine(x, 12.0, 0.4, -0.3, 1.1)
    assert out.dtype == np.float32 and out.shape == x.shape and np.array_equal(x, before)


def test_flip_horizontal():
    x = np.arange(6.0).reshape(1, 1, 2, 3)
    assert np.array_equal(A.flip_horizontal(x)[0, 0], [[2, 1, 0], [5, 4, 3]])
    assert not np.shares_memory(A.flip_horizontal(x), x)


# ----------------------------------------------------------------------------- random transformations


def _shifts_of(out, x, max_shift):
    """The (dy, dx) of each example of ``out``, found among all candidates (the images make it unique)."""
    candidates = [(dy, dx) for dy in range(-max_shift, max_shift + 1) for dx in range(-max_shift, max_shift + 1)]
    matches = np.stack([np.all(out == A.translate(x, dy, dx), axis=(1, 2, 3)) for dy, dx in candidates], axis=1)
    assert np.all(matches.sum(axis=1) == 1), "every example is exactly one zero-filled shift of its input"
    return np.array(candidates)[matches.argmax(axis=1)]


def test_random_translate_draws_one_shift_per_example_uniformly():
    x = images(n=900, c=2, h=5, w=5)
    out = A.random_translate(x, 1, rng=np.random.default_rng(1))
    shifts = _shifts_of(out, x, 1)
    counts = np.array([[np.sum((shifts[:, 0] == dy) & (shifts[:, 1] == dx)) for dx in (-1, 0, 1)] for dy in (-1, 0, 1)])
    expected, sd = 100, np.sqrt(900 * (1 / 9) * (8 / 9))
    assert np.all(np.abs(counts - expected) < 5 * sd), counts  # every (dy, dx) in {-1, 0, 1}^2, equally often
    assert np.mean(shifts[:, 0] == shifts[:, 1]) < 0.5, "dy and dx are drawn independently"


def test_random_translate_draws_as_documented_and_is_reproducible():
    x = images(n=30)
    out = A.random_translate(x, 2, rng=np.random.default_rng(5))
    dy, dx = np.random.default_rng(5).integers(-2, 3, size=(2, 30))
    assert np.array_equal(out, A.translate(x, dy, dx))
    rng = np.random.default_rng(6)
    first, second = A.random_translate(x, 2, rng=rng), A.random_translate(x, 2, rng=rng)
    assert not np.array_equal(first, second), "a fresh draw on every call"
    assert np.array_equal(first, A.random_translate(x, 2, rng=np.random.default_rng(6)))
    assert np.array_equal(A.random_translate(x, 0, rng=rng), x)


def test_random_crop_with_padding_is_a_zero_filled_shift_and_documented_draws():
    x = images(n=40, h=5, w=5)
    out = A.random_crop(x, 5, padding=1, rng=np.random.default_rng(2))
    top, left = np.random.default_rng(2).integers(0, 3, size=40), np.random.default_rng(2).integers(0, 3, size=80)[40:]
    assert np.array_equal(out, A.translate(x, 1 - top, 1 - left))
    shifts = _shifts_of(out, x, 1)
    assert len({tuple(s) for s in shifts}) > 1


def test_random_crop_to_a_smaller_size_cuts_windows_of_the_image():
    x = images(n=20, h=6, w=7)
    out = A.random_crop(x, (3, 4), rng=np.random.default_rng(3))
    assert out.shape == (20, 2, 3, 4)
    corners = []
    for n in range(20):
        found = [(i, j) for i in range(4) for j in range(4) if np.array_equal(out[n], x[n, :, i:i + 3, j:j + 4])]
        assert len(found) == 1
        corners.append(found[0])
    assert len(set(corners)) > 3


def test_random_horizontal_flip_keeps_order_and_flips_each_example_independently():
    x = images(n=2000, c=1, h=3, w=4)
    out = A.random_horizontal_flip(x, p=0.3, rng=np.random.default_rng(4))
    same = np.all(out == x, axis=(1, 2, 3))
    mirrored = np.all(out == x[..., ::-1], axis=(1, 2, 3))
    assert np.all(same ^ mirrored), "example n of the output is example n, mirrored or not"
    assert abs(mirrored.mean() - 0.3) < 5 * np.sqrt(0.3 * 0.7 / 2000)
    assert np.array_equal(A.random_horizontal_flip(x, p=0.0, rng=np.random.default_rng(0)), x)
    assert np.array_equal(A.random_horizontal_flip(x, p=1.0, rng=np.random.default_rng(0)), x[..., ::-1])


def test_random_rotation_and_random_affine_use_the_documented_draws():
    x = images(n=12, h=6, w=6)
    angles = np.random.default_rng(8).uniform(-20, 20, size=12)
    np.testing.assert_allclose(A.random_rotation(x, 20, rng=np.random.default_rng(8)), A.rotate(x, angles),
                               atol=1e-12)
    u = np.random.default_rng(9).uniform(size=(4, 12))
    expected = A.affine(x, 15 * (2 * u[0] - 1), 0.5 * (2 * u[1] - 1), 0.5 * (2 * u[2] - 1), 0.9 + 0.2 * u[3])
    out = A.random_affine(x, degrees=15, shift=0.5, scale=(0.9, 1.1), rng=np.random.default_rng(9))
    np.testing.assert_allclose(out, expected, atol=1e-12)
    assert len({float(np.abs(out[n] - x[n]).sum()) for n in range(12)}) == 12, "a different transformation each"


def test_gaussian_noise_is_independent_per_pixel_with_the_given_std():
    x = np.zeros((400, 1, 8, 8), dtype=np.float32)
    out = A.gaussian_noise(x, 0.2, rng=np.random.default_rng(10))
    assert out.dtype == np.float32
    noise = out.reshape(400, -1).astype(np.float64)
    assert abs(noise.std() - 0.2) < 0.005 and abs(noise.mean()) < 0.005
    assert abs(np.corrcoef(noise[:, 0], noise[:, 1])[0, 1]) < 0.2
    assert np.array_equal(A.gaussian_noise(x + 1, 0.0, rng=np.random.default_rng(0)), x + 1)


# ----------------------------------------------------------------------------- mixup and labels


def test_one_hot():
    assert np.array_equal(A.one_hot(np.array([2, 0]), 3), [[0, 0, 1], [1, 0, 0]])


def test_mixup_mixes_images_and_labels_with_the_same_partner_and_weight():
    n = 200
    x = np.arange(n, dtype=np.float64)[:, None, None, None] * np.ones((1, 1, 2, 2))  # image n is the constant n
    y = np.arange(n) % 10
    xm, ym = A.mixup(x, y, alpha=0.4, num_classes=10, rng=np.random.default_rng(11))
    assert xm.shape == x.shape and ym.shape == (n, 10) and ym.dtype == x.dtype
    assert np.allclose(ym.sum(axis=1), 1.0) and np.all(ym >= 0)
    lam = np.random.default_rng(11).beta(0.4, 0.4, size=n)
    partner = np.random.default_rng(11)
    partner.beta(0.4, 0.4, size=n)
    partner = partner.permutation(n)
    assert np.allclose(xm[:, 0, 0, 0], lam * np.arange(n) + (1 - lam) * partner)
    expected = lam[:, None] * A.one_hot(y, 10, dtype=np.float64) + (1 - lam[:, None]) * A.one_hot(y[partner], 10,
                                                                                               dtype=np.float64)
    assert np.allclose(ym, expected)
    assert len(np.unique(np.round(lam, 6))) == n, "one weight per example"


def test_mixup_accepts_soft_labels_and_features():
    x = np.random.default_rng(0).random((6, 4)).astype(np.float32)
    soft = A.one_hot(np.arange(6) % 3, 3)
    xm, ym = A.mixup(x, soft, alpha=1.0, num_classes=3, rng=np.random.default_rng(1))
    assert xm.shape == (6, 4) and ym.shape == (6, 3) and xm.dtype == np.float32


def test_hooks_pass_the_labels_through_untouched():
    x, y = images(n=8), np.arange(8)
    for hook, function in [(A.RandomTranslate(1), lambda x, rng: A.random_translate(x, 1, rng=rng)),
                           (A.RandomCrop(7, padding=2), lambda x, rng: A.random_crop(x, 7, padding=2, rng=rng)),
                           (A.RandomHorizontalFlip(0.5), lambda x, rng: A.random_horizontal_flip(x, p=0.5, rng=rng)),
                           (A.RandomRotation(30), lambda x, rng: A.random_rotation(x, 30, rng=rng)),
                           (A.RandomAffine(degrees=5, shift=0.5), lambda x, rng: A.random_affine(
                               x, degrees=5, shift=0.5, rng=rng)),
                           (A.GaussianNoise(0.1), lambda x, rng: A.gaussian_noise(x, 0.1, rng=rng))]:
        out_x, out_y = hook(x, y, np.random.default_rng(3))
        assert out_y is y, hook
        assert np.array_equal(out_x, function(x, np.random.default_rng(3))), hook
        assert repr(hook).startswith(type(hook).__name__ + "(")


def test_compose_applies_in_order_from_one_generator():
    x, y = images(n=10), np.arange(10)
    pipeline = A.Compose([A.RandomTranslate(1), A.RandomHorizontalFlip(0.5)])
    out_x, out_y = pipeline(x, y, np.random.default_rng(12))
    rng = np.random.default_rng(12)
    expected = A.random_horizontal_flip(A.random_translate(x, 1, rng=rng), p=0.5, rng=rng)
    assert np.array_equal(out_x, expected) and out_y is y
    assert "RandomTranslate" in repr(pipeline)


def test_compose_refuses_a_step_that_loses_examples_or_labels():
    def drops_one(x, y, rng):
        return x[1:], y

    with pytest.raises(ValueError, match="returned 9 images and 10 labels for a batch of 10"):
        A.Compose([drops_one])(images(n=10), np.arange(10), np.random.default_rng(0))
    with pytest.raises(TypeError, match="must return a pair"):
        A.Compose([lambda x, y, rng: x])(images(n=3), np.arange(3), np.random.default_rng(0))
    with pytest.raises(TypeError, match="the class RandomTranslate; create one"):
        A.Compose([A.RandomTranslate])
    with pytest.raises(TypeError, match="must be a list"):
        A.Compose(A.RandomTranslate(1))


# ----------------------------------------------------------------------------- the fit hook


class Recorder:
    """A hook that records the batches it gets and shifts them by +100 (so the model's inputs show it ran)."""

    def __init__(self):
        self.batches = []

    def __call__(self, x, y, rng):
        self.batches.append((x.copy(), y.copy()))
        return x + 100.0, y


class RecordingModel(Sequential):
    def __init__(self, *layers):
        super().__init__(*layers)
        self.inputs = []

    def forward(self, x, *, training):
        if training:
            self.inputs.append(x.copy())
        return super().forward(x, training=training)


def _digits_like(n, seed):
    rng = np.random.default_rng(seed)
    return rng.random((n, 1, 4, 4)).astype(np.float32), rng.integers(0, 3, n)


def _model(seed=0):
    rng = np.random.default_rng(seed)
    return RecordingModel(Flatten(), Dense(16, 8, rng=rng), ReLU(), Dense(8, 3, rng=rng))


def _fit(model, X, y, **kwargs):
    return fit(model, softmax_cross_entropy, SGD(model.parameters(), lr=0.1), X, y, epochs=3, batch_size=8,
               rng=np.random.default_rng(1), progress=False, **kwargs)


def test_fit_transforms_every_training_batch_and_never_the_validation_data():
    X, y = _digits_like(20, 0)
    X_val, y_val = _digits_like(12, 1)
    stored = X.copy()
    hook, model = Recorder(), _model()
    history = _fit(model, X, y, validation_data=(X_val, y_val), augment=hook, augment_rng=np.random.default_rng(2))
    assert len(hook.batches) == 3 * 3  # 3 epochs of batches of 8, 8, 4
    for epoch in range(3):
        seen = np.concatenate([b[0] for b in hook.batches[3 * epoch:3 * epoch + 3]])
        assert sorted(map(bytes, seen)) == sorted(map(bytes, X)), "each epoch: every stored example once"
    for (xb, yb), fed in zip(hook.batches, model.inputs):
        assert np.array_equal(fed, xb + 100.0), "the model trains on the hook's output"
        assert set(map(bytes, xb)).isdisjoint(map(bytes, X_val))
    assert np.array_equal(X, stored), "the stored data set is not changed"
    assert len(history["val_loss"]) == 3


def test_fit_hook_randomness_comes_from_augment_rng_only():
    X, y = _digits_like(24, 3)
    identity = _model()
    _fit(identity, X, y, augment=lambda x, y, rng: (x, y), augment_rng=np.random.default_rng(5))
    plain = _model()
    _fit(plain, X, y)
    assert all(np.array_equal(a, b) for a, b in zip(identity.inputs, plain.inputs)), "same batches, same order"
    assert all(np.array_equal(a.value, b.value) for a, b in zip(identity.parameters(), plain.parameters()))
    runs = []
    for seed in (7, 7, 8):
        model = _model()
        _fit(model, X, y, augment=A.RandomTranslate(1), augment_rng=np.random.default_rng(seed))
        runs.append(np.concatenate([p.value.ravel() for p in model.parameters()]))
    assert np.array_equal(runs[0], runs[1]) and not np.array_equal(runs[0], runs[2])


def test_fit_trains_on_mixup_soft_labels():
    X, y = _digits_like(32, 4)
    model = _model()
    history = fit(model, soft_target_cross_entropy, SGD(model.parameters(), lr=0.1), X, y, epochs=2, batch_size=8,
                  rng=np.random.default_rng(1), progress=False, augment=A.MixUp(0.4, 3),
                  augment_rng=np.random.default_rng(2))
    assert len(history["loss"]) == 2 and 0 <= history["accuracy"][-1] <= 1


def test_fit_hook_errors():
    X, y = _digits_like(16, 5)
    with pytest.raises(TypeError, match="augment_rng must be a numpy random Generator"):
        _fit(_model(), X, y, augment=A.RandomTranslate(1))
    with pytest.raises(TypeError, match="augment_rng is given but augment is None"):
        _fit(_model(), X, y, augment_rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match="augment must be a hook"):
        _fit(_model(), X, y, augment="translate", augment_rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match="augment must return a pair"):
        _fit(_model(), X, y, augment=lambda x, y, rng: x, augment_rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="keep every example"):
        _fit(_model(), X, y, augment=lambda x, y, rng: (np.concatenate([x, x]), np.concatenate([y, y])),
             augment_rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="one label per row"):
        _fit(_model(), X, y, augment=lambda x, y, rng: (x, y[:-1]), augment_rng=np.random.default_rng(0))


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("call,error,match", [
    (lambda: A.translate(np.zeros((3, 8, 8)), 0, 0), ValueError, r"shape \(N, C, H, W\).*3-D.*x\[None\]"),
    (lambda: A.translate(np.zeros((2, 1, 8, 8), dtype=np.uint8), 0, 0), TypeError, "floating dtype.*uint8"),
    (lambda: A.translate([[[[0.0]]]], 0, 0), TypeError, "numpy array of images"),
    (lambda: A.translate(np.full((1, 1, 2, 2), np.nan), 0, 0), ValueError, "non-finite"),
    (lambda: A.translate(np.zeros((2, 1, 4, 4)), [1, 2, 3], 0), ValueError, r"dy must have one value per example, "
                                                                              r"shape \(2,\), got shape \(3,\)"),
    (lambda: A.translate(np.zeros((2, 1, 4, 4)), 0.5, 0), TypeError, "dx|dy must hold integers"),
    (lambda: A.affine(np.zeros((2, 1, 4, 4)), 0, 0, 0, [1.0, 0.0]), ValueError, "scale must be positive"),
    (lambda: A.random_translate(np.zeros((2, 1, 4, 4)), 4, rng=np.random.default_rng(0)), ValueError,
     "max_shift must be smaller than the image"),
    (lambda: A.random_translate(np.zeros((2, 1, 4, 4)), -1, rng=np.random.default_rng(0)), ValueError, "max_shift"),
    (lambda: A.random_translate(np.zeros((2, 1, 4, 4)), 1, rng=0), TypeError, "rng must be a numpy random Generator"),
    (lambda: A.random_crop(np.zeros((2, 1, 4, 4)), 7, padding=1, rng=np.random.default_rng(0)), ValueError,
     "larger than the padded image"),
    (lambda: A.random_crop(np.zeros((2, 1, 4, 4)), "4", rng=np.random.default_rng(0)), TypeError, "size must be"),
    (lambda: A.random_horizontal_flip(np.zeros((2, 1, 4, 4)), p=1.5, rng=np.random.default_rng(0)), ValueError,
     r"p must be in \[0.0, 1.0\], got 1.5"),
    (lambda: A.random_rotation(np.zeros((2, 1, 4, 4)), 200, rng=np.random.default_rng(0)), ValueError,
     "max_degrees must be in"),
    (lambda: A.random_affine(np.zeros((2, 1, 4, 4)), scale=(1.2, 0.9), rng=np.random.default_rng(0)), ValueError,
     "low <= high"),
    (lambda: A.gaussian_noise(np.zeros((2, 1, 4, 4)), -0.1, rng=np.random.default_rng(0)), ValueError,
     "std must be >= 0.0"),
    (lambda: A.RandomAffine(scale=(1.2, 0.9)), ValueError, "low <= high"),
    (lambda: A.RandomAffine(scale=1.1), TypeError, r"scale must be a pair \(low, high\)"),
    (lambda: A.RandomTranslate(-1), ValueError, "max_shift must be an integer >= 0"),
    (lambda: A.RandomHorizontalFlip(2), ValueError, "p must be in"),
    (lambda: A.MixUp(0.2, 1), ValueError, "num_classes must be an integer >= 2"),
    (lambda: A.mixup(np.zeros((2, 3)), np.array([0, 5]), alpha=0.2, num_classes=3, rng=np.random.default_rng(0)),
     ValueError, r"class labels in 0..2"),
    (lambda: A.mixup(np.zeros((2, 3)), np.array([0, 1]), alpha=0.0, num_classes=3, rng=np.random.default_rng(0)),
     ValueError, "alpha must be > 0"),
    (lambda: A.mixup(np.zeros((2, 3)), np.array([0.5, 1.0]), alpha=1.0, num_classes=3,
                     rng=np.random.default_rng(0)), TypeError, "integer class labels"),
])
def test_bad_input_is_named(call, error, match):
    with pytest.raises(error, match=match):
        call()
