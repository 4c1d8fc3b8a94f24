"""Lesson 06's checkers (translate, random_flip): correct answers in several styles pass, each catalogued mistake
fails with its own hint, wrong answers outside the catalogue get a hint that names no mistake they did not make.
(Blank stubs, partial answers, in-place changes of x and broken answers: tests/test_exercises.py, for every
exercise.)"""
import numpy as np
import pytest

from coursekit import augment
from coursekit.exercises import all_mistakes, get_exercise, reference, run_check

EXERCISES = ("translate", "random_flip")
MISTAKES = [(name, key) for name in EXERCISES for key in all_mistakes(name)]

# ----------------------------------------------------------------------------- right answers, several styles


def translate_loop_slices(x, dy, dx):
    n, c, h, w = x.shape
    out = np.zeros_like(x)
    for i in range(n):
        a, b = int(dy[i]), int(dx[i])
        out[i, :, max(a, 0):h + min(a, 0), max(b, 0):w + min(b, 0)] = \
            x[i, :, max(-a, 0):h - max(a, 0), max(-b, 0):w - max(b, 0)]
    return out


def translate_pad_and_window(x, dy, dx):
    h, w = x.shape[2:]
    p = int(max(np.abs(dy).max(), np.abs(dx).max()))
    padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    return np.stack([padded[i, :, p - dy[i]:p - dy[i] + h, p - dx[i]:p - dx[i] + w] for i in range(len(x))])


def translate_fancy_indexing(x, dy, dx):
    n, c, h, w = x.shape
    rows = np.arange(h)[None, :] - dy[:, None]   # (N, H) source rows
    cols = np.arange(w)[None, :] - dx[:, None]   # (N, W) source columns
    inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
    picked = x[np.arange(n)[:, None, None], :, np.clip(rows, 0, h - 1)[:, :, None], np.clip(cols, 0, w - 1)[:, None, :]]
    return np.where(inside[..., None], picked, 0).transpose(0, 3, 1, 2)  # picked is (N, H, W, C)


def translate_roll_then_zero(x, dy, dx):
    out = np.empty_like(x)
    h, w = x.shape[2:]
    for i in range(len(x)):
        r = np.roll(x[i], (int(dy[i]), int(dx[i])), axis=(1, 2))
        if dy[i] > 0:
            r[:, :dy[i]] = 0
        elif dy[i] < 0:
            r[:, h + dy[i]:] = 0
        if dx[i] > 0:
            r[:, :, :dx[i]] = 0
        elif dx[i] < 0:
            r[:, :, w + dx[i]:] = 0
        out[i] = r
    return out


def translate_pixel_loops(x, dy, dx):
    n, c, h, w = x.shape
    out = np.zeros(x.shape, dtype=x.dtype)
    for k in range(n):
        for i in range(h):
            for j in range(w):
                if 0 <= i - dy[k] < h and 0 <= j - dx[k] < w:
                    out[k, :, i, j] = x[k, :, i - dy[k], j - dx[k]]
    return out


def flip_loop(x, y, rng, p=0.5):
    out = x.copy()
    for i in range(len(x)):
        if rng.random() < p:
            out[i] = x[i, :, :, ::-1]
    return out, y


def flip_boolean_index(x, y, rng, p=0.5):
    out = x.copy()
    flip = rng.random(len(x)) < p
    out[flip] = out[flip][:, :, :, ::-1]
    return out, y.copy()


def flip_binomial_np_flip(x, y, rng, p=0.5):
    flip = rng.binomial(1, p, size=len(x)).astype(bool)
    return np.where(flip.reshape(-1, 1, 1, 1), np.flip(x, axis=-1), x), y


def flip_uniform_comprehension(x, y, rng, p=0.5):
    draws = rng.uniform(size=len(x))
    return np.stack([image[..., ::-1] if u < p else image for image, u in zip(x, draws)]), y


def flip_library(x, y, rng, p=0.5):
    return augment.random_horizontal_flip(x, p=p, rng=rng), y


RIGHT = [("translate", f) for f in (translate_loop_slices, translate_pad_and_window, translate_fancy_indexing,
                                     translate_roll_then_zero, translate_pixel_loops)] + \
        [("random_flip", f) for f in (flip_loop, flip_boolean_index, flip_binomial_np_flip,
                                       flip_uniform_comprehension, flip_library)]


@pytest.mark.parametrize("name,fn", RIGHT, ids=[f"{n}-{f.__name__}" for n, f in RIGHT])
def test_right_answers_in_several_styles_pass(name, fn):
    result = run_check(name, fn)
    assert result.status == "passed", result.message
    assert result.implementation is fn


@pytest.mark.parametrize("name", EXERCISES)
def test_the_reference_passes(name):
    result = run_check(name, reference(name))
    assert result.status == "passed" and result.message.startswith(f"PASSED ✅ {name}: "), result.message


def test_the_library_agrees_with_the_reference_flip():
    x, y = np.random.default_rng(0).random((50, 2, 3, 4)), np.arange(50)
    out, labels = reference("random_flip")(x, y, np.random.default_rng(1), p=0.3)
    assert np.array_equal(out, augment.random_horizontal_flip(x, p=0.3, rng=np.random.default_rng(1)))
    assert labels is y


# ----------------------------------------------------------------------------- the catalogue


@pytest.mark.parametrize("name,key", MISTAKES)
def test_each_catalogued_mistake_fails_with_its_own_hint(name, key):
    known = all_mistakes(name)[key]
    result = run_check(name, known.implementation)
    assert result.status == "failed", f"{name}: the mistake {key!r} was accepted:\n{result.message}"
    assert result.mistake_key == key, f"{name}: {key!r} diagnosed as {result.mistake_key!r}:\n{result.message}"
    assert known.hint in result.message
    assert result.implementation is get_exercise(name).reference
    assert len(result.message) < 3500 and "\n    [" not in result.message


def test_the_issue_s_catalogue_is_covered():
    assert {"wrap_around", "channel_axis", "one_shift_for_the_batch"} <= set(all_mistakes("translate"))
    assert {"one_draw_for_batch", "reorders_batch", "returns_only_images", "enlarges_batch"} <= \
        set(all_mistakes("random_flip"))
    for name in EXERCISES:
        hints = [m.hint for m in all_mistakes(name).values()]
        assert len(set(hints)) == len(hints)


# ----------------------------------------------------------------------------- outside the catalogue


def flip_always(x, y, rng, p=0.5):
    return x[:, :, :, ::-1].copy(), y


def flip_never(x, y, rng, p=0.5):
    return x.copy(), y


def flip_global_numpy_random(x, y, rng, p=0.5):
    flip = np.random.random(len(x)) < p  # not from rng: not reproducible
    return np.where(flip[:, None, None, None], x[:, :, :, ::-1], x), y


def flip_labels_too(x, y, rng, p=0.5):
    flip = rng.random(len(x)) < p
    return np.where(flip[:, None, None, None], x[:, :, :, ::-1], x), np.where(flip, 9 - y, y)


def flip_as_float64(x, y, rng, p=0.5):
    flip = rng.random(len(x)) < p
    return np.where(flip[:, None, None, None], x[:, :, :, ::-1].astype(np.float64), x), y


def flip_whole_pixels(x, y, rng, p=0.5):
    flip = rng.random(x.shape) < p  # one draw per pixel: scrambles the image
    return np.where(flip, x[:, :, :, ::-1], x), y


@pytest.mark.parametrize("fn,says", [
    (flip_always, "p is the probability of mirroring each example"),
    (flip_never, "p is the probability of mirroring each example"),
    (flip_global_numpy_random, "Draw only from the rng argument"),
    (flip_labels_too, "Mirroring an image does not change what it shows"),
    (flip_as_float64, "x_out must have x's shape and dtype"),
    (flip_whole_pixels, "Draw one decision per example"),
])
def test_wrong_flips_outside_the_catalogue_get_a_hint_that_fits(fn, says):
    result = run_check("random_flip", fn)
    assert result.status == "failed" and result.mistake_key is None, result.message
    assert says in result.message, result.message
    assert "One draw decided for the whole batch" not in result.message


def translate_float64(x, dy, dx):
    return reference("translate")(x.astype(np.float64), dy, dx)


def translate_plus_one_row(x, dy, dx):
    return reference("translate")(x, dy + 1, dx)


@pytest.mark.parametrize("fn,says", [(translate_float64, "dtype"), (translate_plus_one_row, "zeros like x")])
def test_wrong_translations_outside_the_catalogue_get_the_formula(fn, says):
    result = run_check("translate", fn)
    assert result.status == "failed" and result.mistake_key is None, result.message
    assert says in result.message


# ----------------------------------------------------------------------------- the hook in use


def test_the_hook_form_works_in_fit():
    """The exercise's signature is fit's hook: fit(..., augment=random_flip) runs with the reference."""
    from coursekit.conv import Flatten
    from coursekit.layers import Dense
    from coursekit.losses import softmax_cross_entropy
    from coursekit.model import Sequential
    from coursekit.optim import SGD
    from coursekit.training import fit

    rng = np.random.default_rng(0)
    X, y = rng.random((12, 1, 3, 3)).astype(np.float32), rng.integers(0, 2, 12)
    model = Sequential(Flatten(), Dense(9, 2, rng=rng))
    history = fit(model, softmax_cross_entropy, SGD(model.parameters(), lr=0.1), X, y, epochs=2, batch_size=4,
                  rng=np.random.default_rng(1), progress=False, augment=reference("random_flip"),
                  augment_rng=np.random.default_rng(2))
    assert history.epochs == 2
