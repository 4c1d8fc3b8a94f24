"""Notebook 06 exercises: zero-filled translation of a batch, and a random flip written as a ``fit`` hook.

``translate`` has no randomness, so it is compared with the reference case by case, exactly
(moving pixels creates no rounding); any correct style passes (a loop over the batch,
slicing, ``np.pad``, fancy indexing, ``np.roll`` followed by zeroing what wrapped around).

``random_flip`` is random, so it is not compared draw for draw. The check looks at what came
back: example n must be example n, mirrored left-right or not (the images have no symmetry,
so each output example says which it is), the labels must come back unchanged and in order,
the fraction mirrored must be within 6 binomial standard deviations of ``p`` (a correct
answer fails with probability about 1e-9), no all-or-nothing batch, a fresh draw every call
and the same draw for an equally seeded generator. Each catalogued mistake is recognized by
the check that catches it (``CheckFailed(..., mistake=key)``).
"""
from __future__ import annotations

import numpy as np

from ..augment import translate
from ._core import CheckFailed, Mistake, check_cases, modifies_input, register, set_case
from .lesson03_spatial_dropout import _Shown

# ----------------------------------------------------------------------------- translate


def _distinct(rng, shape, dtype=np.float64):
    """Values in [1, 2): no zeros (zero fill is visible) and no symmetry (every shift is recognizable)."""
    return (1.0 + rng.random(shape)).astype(dtype)


def _translate_cases():
    rng = np.random.default_rng(6100)
    ints = lambda *values: np.array(values, dtype=np.int64)  # noqa: E731
    return [
        ("one 3x4 image 1..12, dy = [1], dx = [-2] (one row down, two columns left)",
         {"x": np.arange(1.0, 13.0).reshape(1, 1, 3, 4), "dy": ints(1), "dx": ints(-2)}),
        ("one 4x5 image, dy = [-2], dx = [3] (two rows up, three columns right)",
         {"x": _distinct(rng, (1, 1, 4, 5)), "dy": ints(-2), "dx": ints(3)}),
        ("a batch of 4 images with 3 channels, shape (4, 3, 5, 6), a different shift for each example",
         {"x": _distinct(rng, (4, 3, 5, 6)), "dy": ints(0, 2, -1, -3), "dx": ints(1, -2, 0, 4)}),
        ("float32 batch of shape (6, 1, 8, 8), shifts between -2 and 2",
         {"x": _distinct(rng, (6, 1, 8, 8), np.float32), "dy": rng.integers(-2, 3, 6), "dx": rng.integers(-2, 3, 6)}),
        ("no shift at all: dy = dx = [0, 0]", {"x": _distinct(rng, (2, 2, 3, 3)), "dy": ints(0, 0), "dx": ints(0, 0)}),
        ("shifts of all but one row or column: shape (2, 2, 5, 4), dy = [4, -4], dx = [-3, 3]",
         {"x": _distinct(rng, (2, 2, 5, 4)), "dy": ints(4, -4), "dx": ints(-3, 3)}),
    ]


def _check_translate(fn) -> str:
    n = check_cases(fn, translate, _translate_cases(), rtol=0.0, atol=0.0)
    return (f"{n} cases (hand-made, a batch with 3 channels and its own shift per example, float32, no shift, "
            "shifts of all but one row) match out[n, c, i, j] = x[n, c, i - dy[n], j - dx[n]] with zero fill, "
            "without changing x.")


def _shift_one(image, dy, dx, axes=(1, 2), mode="constant"):
    """One example (C, H, W) shifted by (dy, dx) along ``axes`` with np.pad + slicing (for the wrong answers)."""
    pad = max(abs(int(dy)), abs(int(dx)))
    padded = np.pad(image, [(pad, pad) if axis in axes else (0, 0) for axis in range(image.ndim)], mode=mode)
    window = [slice(None)] * image.ndim
    for axis, shift in zip(axes, (int(dy), int(dx))):
        window[axis] = slice(pad - shift, pad - shift + image.shape[axis])
    return padded[tuple(window)]


def _tr_wrap_around(x, dy, dx):
    return np.stack([np.roll(x[n], (int(dy[n]), int(dx[n])), axis=(1, 2)) for n in range(len(x))])


def _tr_channel_axis(x, dy, dx):
    return np.stack([_shift_one(x[n], dy[n], dx[n], axes=(0, 1)) for n in range(len(x))])


def _tr_swapped_axes(x, dy, dx):
    return translate(x, dx, dy)


def _tr_wrong_direction(x, dy, dx):
    return translate(x, -np.asarray(dy), -np.asarray(dx))


def _tr_one_shift(x, dy, dx):
    return translate(x, int(dy[0]), int(dx[0]))


def _tr_edge_fill(x, dy, dx):
    return np.stack([_shift_one(x[n], dy[n], dx[n], mode="edge") for n in range(len(x))])


def _tr_in_place(x, dy, dx):
    x[...] = translate(x, dy, dx)  # the right values, written into the caller's batch
    return x


register(
    "translate",
    reference=translate,
    run_checks=_check_translate,
    mistakes=(
        Mistake("wrap_around", _tr_wrap_around,
                "np.roll wraps around: the rows pushed out at the bottom come back in at the top. A shifted image "
                "must bring in empty (zero) pixels instead, or a digit at the edge reappears cut in two on the "
                "other side. Pad with zeros and slice (np.pad + a window), or roll and then zero the wrapped rows "
                "and columns."),
        Mistake("channel_axis", _tr_channel_axis,
                "You shifted the wrong axes: x is (N, C, H, W), so axis 1 is the channel axis. dy moves axis 2 "
                "(rows, H) and dx axis 3 (columns, W); all channels of an example move together."),
        Mistake("swapped_axes", _tr_swapped_axes,
                "dy and dx are swapped: dy moves rows (down, axis 2 = H), dx moves columns (right, axis 3 = W)."),
        Mistake("wrong_direction", _tr_wrong_direction,
                "Your shifts go the wrong way: a positive dy moves the picture down, so output row i shows input "
                "row i - dy (row 0 becomes empty); a positive dx moves it right."),
        Mistake("one_shift_for_the_batch", _tr_one_shift,
                "Every example has its own shift: example n moves by dy[n], dx[n]. Using one shift (dy[0], dx[0]) "
                "for the whole batch moves all images the same way, so a batch teaches only one position."),
        Mistake("edge_fill", _tr_edge_fill,
                "The empty pixels must be 0 (zero fill), not copies of the edge row or column (np.pad's "
                "mode='edge'): use np.pad(..., mode='constant'), which pads with zeros."),
        modifies_input(translate, "x",
                       "x is the training batch (or the stored data set it was cut from): the next epoch, the "
                       "validation and the plots still read the original images",
                       fix="`out = np.zeros_like(x)` filled from x, not assignments into x",
                       implementation=_tr_in_place),
    ),
    generic_hint="out = zeros like x; for example n, rows i with 0 <= i - dy[n] < H and columns j with "
                 "0 <= j - dx[n] < W take x[n, :, i - dy[n], j - dx[n]] (all channels at once), the rest stays 0.",
)

# ----------------------------------------------------------------------------- random_flip


def random_flip(x, y, rng, p=0.5):
    """Mirror each image left-right with probability p, each with its own draw; labels unchanged.

    x: (N, C, H, W) images; y: (N,) labels; rng: np.random.Generator; p: probability of mirroring.
    Returns (x_out, y): x_out[n] is x[n] mirrored (x[n, :, :, ::-1]) or unchanged, y as it was.
    """
    flip = rng.random(len(x)) < p                                   # (N,): one draw per example
    return np.where(flip[:, None, None, None], x[:, :, :, ::-1], x), y


_FLIP_HINT = ("Draw one decision per example, flip = rng.random(len(x)) < p, and mirror the chosen examples along "
              "the width: np.where(flip[:, None, None, None], x[:, :, :, ::-1], x). Return (x_out, y) with the "
              "examples in their original order.")


def _flip_inputs(x, y, p):
    return {"x": _Shown(x, "random images without symmetry"), "y": _Shown(y, "labels 0..9"), "rng": "a Generator",
            "p": p}


def _call_flip(fn, x, y, p, seed, case):
    """Call the learner's hook; check it returns (x_out, y_out) with x_out like x and y_out == y."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    set_case(case)
    result = fn(x=x.copy(), y=y.copy(), rng=rng, p=p)
    inputs = _flip_inputs(x, y, p)
    n = len(x)
    if isinstance(result, np.ndarray):
        raise CheckFailed(case, inputs=inputs, expected="a pair (x_out, y)", got=_Shown(result, "one array"),
                          show_values=False, reason="the function returned one array, not (images, labels)",
                          mistake="returns_only_images")
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        raise CheckFailed(case, inputs=inputs, expected="a pair (x_out, y)", got=result,
                          reason="return two values: the images and their labels", hint=_FLIP_HINT)
    out, labels = result
    if isinstance(out, np.ndarray) and out.shape[1:] == x.shape[1:] and len(out) == 2 * n:
        raise CheckFailed(case, inputs=inputs, expected=f"{n} images", got=f"{len(out)} images",
                          show_values=False, reason=f"the batch of {n} images came back with {len(out)}",
                          mistake="enlarges_batch")
    if not isinstance(out, np.ndarray) or out.shape != x.shape or out.dtype != x.dtype:
        got = _Shown(out, "your x_out") if isinstance(out, np.ndarray) else out
        raise CheckFailed(case, inputs=inputs, expected=f"x_out of shape {x.shape} and dtype {x.dtype}", got=got,
                          show_values=False, reason="x_out must have x's shape and dtype", hint=_FLIP_HINT)
    if not (isinstance(labels, np.ndarray) and np.array_equal(labels, y)):
        raise CheckFailed(case, inputs=inputs, expected="y, unchanged and in order",
                          got=_Shown(labels, "your labels") if isinstance(labels, np.ndarray) else labels,
                          show_values=False,
                          reason="the labels must come back as they were: y[n] is the label of x_out[n]",
                          hint="Mirroring an image does not change what it shows (for the images this hook is meant "
                               "for): return y itself, in its original order.")
    _check_each_example(out, x, case, inputs)
    return out


def _same_rows(out, reference):
    return np.all(out == reference, axis=tuple(range(1, out.ndim)))


def _check_each_example(out, x, case, inputs):
    """Example n of out must be x[n] or x[n] mirrored; otherwise name what it is."""
    kept, mirrored = _same_rows(out, x), _same_rows(out, x[:, :, :, ::-1])
    if np.all(kept | mirrored):
        return
    bad = int(np.argmin(kept | mirrored))
    reason = (f"example {bad} of the output is neither example {bad} nor its mirror image "
              f"({int(np.sum(~(kept | mirrored)))} of {len(x)} examples)")

    def fail(mistake=None, hint=None, why=""):
        raise CheckFailed(case, inputs=inputs, expected=f"x[{bad}] or x[{bad}, :, :, ::-1]",
                          got=_Shown(out[bad], f"your example {bad}"), show_values=False, reason=reason + why,
                          mistake=mistake, hint=hint)

    if np.all(kept | _same_rows(out, x[:, :, ::-1, :])):
        fail("flips_vertically", why=": it is upside down")
    if np.all(kept | _same_rows(out, x[:, ::-1])):
        fail("flips_channels", why=": its channels are in reverse order")
    per_channel = np.all(out == x, axis=(2, 3)) | np.all(out == x[:, :, :, ::-1], axis=(2, 3))
    if np.all(per_channel):
        fail("per_channel_draw", why=": some of its channels are mirrored and others not")
    flat_in = {row.tobytes() for row in np.concatenate([x, x[:, :, :, ::-1]]).reshape(2 * len(x), -1)}
    if all(row.tobytes() in flat_in for row in out.reshape(len(out), -1)):
        fail("reorders_batch", why=": it is another example of the batch (mirrored or not)")
    fail(hint=_FLIP_HINT)


def _flipped_fraction(out, x):
    return float(np.mean(_same_rows(out, x[:, :, :, ::-1]) & ~_same_rows(out, x)))


def _check_flip(fn) -> str:
    rng = np.random.default_rng(6200)
    x = _distinct(rng, (400, 2, 4, 5), np.float32)
    y = rng.integers(0, 10, 400)
    case = "a batch of 400 images of shape (2, 4, 5), float32, p = 0.5"
    out = _call_flip(fn, x, y, 0.5, 6201, case)
    fraction = _flipped_fraction(out, x)
    if fraction in (0.0, 1.0):
        _all_or_nothing(fn, x, y, fraction, case)
    _check_fraction(fraction, 0.5, 400, case, _flip_inputs(x, y, 0.5))
    x2 = _distinct(rng, (1000, 1, 3, 4))
    y2 = rng.integers(0, 10, 1000)
    case = "1000 images of shape (1, 3, 4), float64, p = 0.2"
    fraction = _flipped_fraction(_call_flip(fn, x2, y2, 0.2, 6202, case), x2)
    _check_fraction(fraction, 0.2, 1000, case, _flip_inputs(x2, y2, 0.2))
    for p, expected in ((0.0, x2), (1.0, x2[:, :, :, ::-1])):
        case = f"p = {p:g}: {'no' if p == 0 else 'every'} example mirrored"
        out = _call_flip(fn, x2, y2, p, 6203, case)
        if not np.array_equal(out, expected):
            raise CheckFailed(case, inputs=_flip_inputs(x2, y2, p), expected=f"{'x' if p == 0 else 'every example mirrored'}",
                              got=f"{_flipped_fraction(out, x2):.1%} mirrored", show_values=False,
                              reason=f"with p = {p:g} the result is certain", hint=_FLIP_HINT)
    generator = np.random.default_rng(6204)
    case = "two calls with the same Generator (a new draw each time), x of shape (1000, 1, 3, 4), p = 0.5"
    first = _call_flip(fn, x2, y2, 0.5, generator, case)
    second = _call_flip(fn, x2, y2, 0.5, generator, case)
    if np.array_equal(first, second):
        raise CheckFailed(case, inputs=_flip_inputs(x2, y2, 0.5), expected="a different set of mirrored examples",
                          got="the same examples mirrored twice", show_values=False,
                          reason="both calls mirrored exactly the same examples", mistake="fixed_generator")
    case = "a third call with a Generator seeded like the first one"
    again = _call_flip(fn, x2, y2, 0.5, 6204, case)
    if not np.array_equal(first, again):
        raise CheckFailed(case, inputs=_flip_inputs(x2, y2, 0.5), expected="the same examples mirrored as the first "
                          "call", got="others", show_values=False,
                          reason="the same seed gave different flips: your random numbers do not all come from rng",
                          hint="Draw only from the rng argument (rng.random(len(x))); never from np.random.* or a "
                               "Generator you create inside the function.")
    return ("example n comes back as x[n] or its mirror image with its label y[n]; the fraction mirrored is within 6 "
            "standard deviations of p = 0.5 (400 images) and p = 0.2 (1000 images); p = 0 and 1 work; a fresh draw "
            "every call, reproducible with the same seed; x is not changed.")


def _all_or_nothing(fn, x, y, fraction, case):
    """Every example got the same decision: one draw for the whole batch, or no draw at all?"""
    inputs = _flip_inputs(x, y, 0.5)
    fractions = {fraction} | {_flipped_fraction(_call_flip(fn, x, y, 0.5, seed, case + f", seed {seed}"), x)
                              for seed in range(6210, 6226)}
    what = "every example got the same decision, all mirrored or none"
    if fractions == {0.0, 1.0}:
        raise CheckFailed(case, inputs=inputs, expected="about half of the examples mirrored",
                          got=f"{fraction:.0%} mirrored", show_values=False,
                          reason=what + ", and which of the two changes from call to call",
                          mistake="one_draw_for_batch")
    raise CheckFailed(case, inputs=inputs, expected="about half of the examples mirrored",
                      got=f"{fraction:.0%} mirrored", show_values=False,
                      reason=what + f": {'all' if fraction else 'none'} of them, with 17 different seeds",
                      hint="p is the probability of mirroring each example: draw flip = rng.random(len(x)) < p "
                           "(about a fraction p of the examples) and mirror exactly those.")


def _check_fraction(fraction, p, n, case, inputs):
    bound = 6 * np.sqrt(p * (1 - p) / n)
    if abs(fraction - p) <= bound:
        return
    reason = f"{fraction:.1%} of the examples were mirrored; with p = {p:g} it should be within {bound:.1%} of {p:.0%}"
    if abs(fraction - (1 - p)) <= bound:
        raise CheckFailed(case, inputs=inputs, expected=p, got=fraction, reason=reason,
                          mistake="flip_probability_inverted")
    raise CheckFailed(case, inputs=inputs, expected=p, got=fraction, reason=reason,
                      hint="Mirror an example when a uniform draw u in [0, 1) is below p: P(u < p) = p.")


def _fl_one_draw(x, y, rng, p=0.5):
    return (x[:, :, :, ::-1].copy() if rng.random() < p else x.copy()), y


def _fl_vertical(x, y, rng, p=0.5):
    flip = rng.random(len(x)) < p
    return np.where(flip[:, None, None, None], x[:, :, ::-1, :], x), y


def _fl_channels(x, y, rng, p=0.5):
    flip = rng.random(len(x)) < p
    return np.where(flip[:, None, None, None], x[:, ::-1], x), y


def _fl_per_channel(x, y, rng, p=0.5):
    flip = rng.random(x.shape[:2]) < p
    return np.where(flip[:, :, None, None], x[:, :, :, ::-1], x), y


def _fl_reorders(x, y, rng, p=0.5):
    flip = rng.random(len(x)) < p
    return np.concatenate([x[flip][:, :, :, ::-1], x[~flip]]), y


def _fl_enlarges(x, y, rng, p=0.5):
    return np.concatenate([x, x[:, :, :, ::-1]]), np.concatenate([y, y])


def _fl_only_images(x, y, rng, p=0.5):
    return random_flip(x, y, rng, p)[0]


def _fl_inverted(x, y, rng, p=0.5):
    flip = rng.random(len(x)) > p
    return np.where(flip[:, None, None, None], x[:, :, :, ::-1], x), y


def _fl_fixed_generator(x, y, rng, p=0.5):
    return random_flip(x, y, np.random.default_rng(0), p)


def _fl_in_place(x, y, rng, p=0.5):
    flip = rng.random(len(x)) < p
    x[flip] = x[flip][:, :, :, ::-1]  # the right images, but the caller's batch is overwritten
    return x, y


register(
    "random_flip",
    reference=random_flip,
    run_checks=_check_flip,
    mistakes=(
        Mistake("one_draw_for_batch", _fl_one_draw,
                "One draw decided for the whole batch (`if rng.random() < p:`), so every batch is either all "
                "mirrored or all as it was. Each example needs its own draw: flip = rng.random(len(x)) < p, a "
                "boolean per example, then mirror only those."),
        Mistake("flips_vertically", _fl_vertical,
                "You turned images upside down (axis 2 is the height H). A horizontal flip mirrors left-right: "
                "reverse axis 3, the width, x[:, :, :, ::-1]."),
        Mistake("flips_channels", _fl_channels,
                "x[:, ::-1] reverses axis 1, the channels, not the image. x is (N, C, H, W): mirror the width, "
                "x[:, :, :, ::-1]."),
        Mistake("per_channel_draw", _fl_per_channel,
                "You drew one decision per (example, channel), so the channels of one image are mirrored "
                "independently and no longer line up. Draw one decision per example, rng.random(len(x)), and "
                "broadcast it over C, H and W with flip[:, None, None, None]."),
        Mistake("reorders_batch", _fl_reorders,
                "The examples came back in another order (mirrored ones first?), but y did not: now y[n] is the "
                "label of some other image, and the network learns from wrong labels. Keep example n at position n, "
                "e.g. with np.where(flip[:, None, None, None], x[:, :, :, ::-1], x)."),
        Mistake("enlarges_batch", _fl_enlarges,
                "Augmentation replaces each example by a random version of itself; it does not add copies. A batch "
                "of N must come back as N examples (each epoch then sees a fresh version of every image), so return "
                "one image per input image, mirrored or not."),
        Mistake("returns_only_images", _fl_only_images,
                "A fit hook returns the images AND their labels, (x_out, y): training needs the labels of the "
                "transformed batch. End with `return x_out, y`."),
        Mistake("flip_probability_inverted", _fl_inverted,
                "With u = rng.random(...), `u > p` is True with probability 1 - p, so you mirrored a fraction 1 - p. "
                "Mirror where u < p."),
        Mistake("fixed_generator", _fl_fixed_generator,
                "Every call must draw new decisions from the rng you are given; a Generator created (and seeded) "
                "inside the function mirrors the same examples at every epoch, which is no augmentation at all."),
        modifies_input(random_flip, "x",
                       "x is the training batch: the caller (fit, the next epoch, the cells below) still reads the "
                       "original images",
                       fix="`np.where(flip[:, None, None, None], x[:, :, :, ::-1], x)`, a new array, not "
                           "`x[flip] = ...`",
                       implementation=_fl_in_place),
    ),
    generic_hint=_FLIP_HINT,
)
