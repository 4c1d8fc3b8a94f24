"""Notebook 03 exercises: spatial (channel-wise) dropout forward and backward.

Masks are random, so the forward check does not compare with the reference's mask. It
reads the learner's effective mask ``out / x`` (x has no zeros) and judges it by
structure (one value per (sample, channel) map, constant over H and W) and statistically
(the fraction of zeroed maps is drop_prob within a binomial bound; kept maps are exactly
``x / keep_prob``). Any correct implementation passes, however it draws its randomness.
"""
from __future__ import annotations

import numpy as np

from ..dropout import spatial_dropout_backward, spatial_dropout_forward
from ..gradcheck import numerical_gradient, rel_error
from ._core import CheckFailed, Mistake, check_cases, modifies_input, register, set_case
from .lesson02_dropout import _backward_input_mistakes, _bwd_divides

# Standard deviations allowed between the observed fraction of zeroed maps and drop_prob:
# a correct implementation is outside 5 sigma with probability below 1e-6.
_SIGMAS = 5.0

# ----------------------------------------------------------------------------- forward


class _Shown:
    """Stands in for a large input in a failure message: its description instead of thousands of numbers."""

    def __init__(self, array: np.ndarray, what: str) -> None:
        self.text = f"<{what}, shape {array.shape}, {array.dtype}>"

    def __repr__(self) -> str:
        return self.text


def _signed_input(rng, shape):
    """Values with |x| in [0.5, 2] and random signs: no zeros, so out / x recovers the mask exactly."""
    return rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], size=shape)


def _call_forward(fn, case, inputs):
    """Run the learner's forward on a copy of the inputs; check it returns (out, mask) with out shaped like x."""
    x = inputs["x"]
    set_case(case)
    result = fn(**{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in inputs.items()})
    if x.size > 50:
        inputs = {**inputs, "x": _Shown(x, "random values with 0.5 <= |x| <= 2")}
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise CheckFailed(case, inputs=inputs, expected="a pair (out, mask)", got=result,
                          reason="the function must return a tuple (out, mask)",
                          hint="End with `return out, mask` (in evaluation mode: `return x, None`).")
    out, mask = result
    if not isinstance(out, np.ndarray) or out.shape != x.shape:
        raise CheckFailed(case, inputs=inputs, expected=f"an array of shape {x.shape}",
                          got=out if not isinstance(out, np.ndarray) else f"shape {out.shape}",
                          reason="out must have the shape of x (N, C, H, W)",
                          hint="Multiply x by a mask of shape (N, C, 1, 1): broadcasting keeps x's shape.")
    return out, mask


def _check_structure(out, x, drop_prob, case, inputs):
    """Judge the effective mask out / x: constant per map, the right fraction dropped, the right scale."""
    if not np.all(np.isfinite(out)):
        bad = ~np.isfinite(out)
        extent = "every entry" if bad.all() else f"{int(bad.sum())} of {bad.size} entries"
        raise CheckFailed(case, inputs=inputs, expected="finite values", got=out,
                          reason=f"out holds NaN or inf in {extent}",
                          hint="x has no NaN or inf, so they come from your computation: 0 / 0, inf - inf or "
                               "0 * inf, a division by 0, or an array that was never filled in (np.empty). Print the "
                               "intermediate arrays on this case to find the first one that holds them. The "
                               "formula: mask = (rng.random((N, C, 1, 1)) < keep_prob) / keep_prob; out = x * mask.")
    effective = out.astype(np.float64) / x
    n, c = x.shape[:2]

    def constant_along(axes_slice):
        return np.allclose(effective, effective[axes_slice], rtol=1e-6, atol=1e-9)

    constant_over_map = constant_along((slice(None), slice(None), slice(0, 1), slice(0, 1)))
    constant_over_channels = constant_along((slice(None), slice(0, 1)))
    constant_over_batch = constant_along((slice(0, 1),))
    per_map = effective[:, :, 0, 0]
    structure = {"case": case, "inputs": inputs, "show_values": False}
    if not constant_over_map:
        if constant_over_channels:
            raise CheckFailed(**structure, mistake="wrong_axis",
                              reason="out / x changes from pixel to pixel inside a feature map but is identical "
                                     "across the channels of a sample: the mask broadcasts along the wrong axes")
        raise CheckFailed(**structure, mistake="per_element_mask",
                          reason="out / x changes from pixel to pixel inside a feature map: some maps are only "
                                 "partly zeroed")
    if constant_over_channels and constant_over_batch:
        raise CheckFailed(case, inputs=inputs, expected=f"a different factor per map for {n * c} maps",
                          got=f"the same factor {per_map[0, 0]:.4g} for every map", show_values=True,
                          reason="every feature map was multiplied by the same number: nothing is random",
                          hint="Draw one Bernoulli(keep_prob) value per (sample, channel) with rng.random((N, C, "
                               "1, 1)) < keep_prob.")
    if constant_over_channels:
        raise CheckFailed(**structure, mistake="per_sample_mask",
                          reason="within each sample every channel got the same factor: the mask has one draw "
                                 "per sample instead of one per (sample, channel)")
    if constant_over_batch:
        raise CheckFailed(**structure, mistake="shared_across_batch",
                          reason="every sample in the batch got the same channel pattern: the mask has one draw "
                                 "per channel instead of one per (sample, channel)")
    maps = per_map.size
    dropped = np.abs(per_map) < 1e-12
    fraction = float(dropped.mean())

    def plausible(p):
        return abs(fraction - p) <= _SIGMAS * np.sqrt(p * (1 - p) / maps) + 1e-12

    if not plausible(drop_prob):
        common = {"case": case, "inputs": inputs, "expected": drop_prob, "got": fraction,
                  "reason": f"the fraction of zeroed feature maps (out of {maps}) is {fraction:.3f}; with "
                            f"drop_prob={drop_prob} it should be within {_SIGMAS:.0f} standard deviations of "
                            f"{drop_prob}"}
        if plausible(1 - drop_prob):
            kept = per_map[~dropped]
            scaled_by_drop_prob = kept.size and drop_prob > 0 and np.allclose(kept, 1.0 / drop_prob, rtol=1e-6)
            if scaled_by_drop_prob:
                common["reason"] += f", and kept maps are x / drop_prob = x * {1 / drop_prob:.4g}"
            raise CheckFailed(**common, mistake="keep_and_scale_swapped" if scaled_by_drop_prob else
                              "drop_keep_swapped")
        raise CheckFailed(**common, hint="A map is zeroed with probability drop_prob: keep it where "
                                         "rng.random(...) < keep_prob, with keep_prob = 1 - drop_prob.")
    kept = per_map[~dropped]
    keep_prob = 1.0 - drop_prob
    if not np.allclose(kept, 1.0 / keep_prob, rtol=1e-6):
        values = np.unique(np.round(kept, 6))
        common = {"case": case, "inputs": inputs, "expected": 1.0 / keep_prob, "got": values,
                  "reason": f"kept feature maps should equal x / keep_prob = x * {1 / keep_prob:.4g}; yours are "
                            f"x times {format(values[0], '.4g') if values.size == 1 else values}"}
        if np.allclose(kept, 1.0, rtol=1e-6):
            raise CheckFailed(**common, mistake="no_rescale")
        raise CheckFailed(**common, hint="Scale the kept maps by 1 / keep_prob (inverted dropout), nothing else.")


def _check_forward(fn):
    rng = np.random.default_rng(3000)
    n, c, h, w = 160, 20, 3, 5  # 3,200 maps; H, W and C all differ so every axis mix-up is visible
    x = _signed_input(rng, (n, c, h, w))
    drop_prob = 0.3
    case = f"training, x of shape {x.shape}, drop_prob={drop_prob} ({n * c} feature maps)"
    out, mask = _call_forward(fn, case, {"x": x, "drop_prob": drop_prob, "rng": np.random.default_rng(3001),
                                         "training": True})
    inputs = {"x": _Shown(x, "random values with 0.5 <= |x| <= 2"), "drop_prob": drop_prob, "training": True}
    _check_structure(out, x, drop_prob, case, inputs)
    if not isinstance(mask, np.ndarray) or mask.shape != (n, c, 1, 1):
        raise CheckFailed(case, inputs=inputs, expected=f"a mask of shape {(n, c, 1, 1)}",
                          got=mask if not isinstance(mask, np.ndarray) else f"a mask of shape {mask.shape}",
                          reason="out is right, but the returned mask must have shape (N, C, 1, 1)",
                          hint="Return the scaled mask you multiplied x by, shape (N, C, 1, 1), so backward can "
                               "reuse it.")
    if not np.allclose(x * mask, out, rtol=1e-6, atol=1e-9):
        raise CheckFailed(case, inputs=inputs, expected="out == x * mask", got=mask, show_values=False,
                          reason="out is right, but out != x * mask for the mask you returned",
                          hint="Return the *scaled* mask (values 0 and 1/keep_prob), the one with out = x * mask; "
                               "backward computes dx = dout * mask with it.")

    small = _signed_input(rng, (2, 2, 1, 3))
    case = "evaluation mode (training=False)"
    inputs = {"x": small, "drop_prob": 0.5, "rng": np.random.default_rng(3002), "training": False}
    out, mask = _call_forward(fn, case, inputs)
    if not np.allclose(out, small, rtol=1e-12, atol=0):
        raise CheckFailed(case, inputs=inputs, expected=small, got=out, mistake="eval_not_identity",
                          reason="in evaluation mode inverted dropout is the identity")
    if mask is not None:
        raise CheckFailed(case, inputs=inputs, expected=None, got=mask, reason="in evaluation mode the mask is None",
                          hint="In evaluation mode `return x, None`: there is no mask.")

    case = "drop_prob = 1 (every map zeroed)"
    inputs = {"x": small, "drop_prob": 1.0, "rng": np.random.default_rng(3003), "training": True}
    out, _ = _call_forward(fn, case, inputs)
    if not np.all(np.isfinite(out)):
        raise CheckFailed(case, inputs=inputs, expected=np.zeros_like(small), got=out,
                          mistake="nan_at_drop_prob_one", reason="out contains NaN or inf")
    if not np.array_equal(out, np.zeros_like(small)):
        raise CheckFailed(case, inputs=inputs, expected=np.zeros_like(small), got=out,
                          reason="with drop_prob = 1 every map must be zeroed",
                          hint="Keep a map where rng.random(...) < keep_prob; with keep_prob = 0 nothing is kept.")

    case = "drop_prob = 0 (nothing dropped)"
    inputs = {"x": small, "drop_prob": 0.0, "rng": np.random.default_rng(3004), "training": True}
    out, _ = _call_forward(fn, case, inputs)
    if not np.allclose(out, small, rtol=1e-12, atol=0):
        raise CheckFailed(case, inputs=inputs, expected=small, got=out,
                          reason="with drop_prob = 0 the output must equal x",
                          hint="With keep_prob = 1 every map is kept and scaled by 1/1.")

    case = "the same rng seed gives the same mask"
    big = _signed_input(rng, (20, 8, 2, 3))
    set_case(case)
    first = fn(x=big.copy(), drop_prob=0.5, rng=np.random.default_rng(7), training=True)
    second = fn(x=big.copy(), drop_prob=0.5, rng=np.random.default_rng(7), training=True)
    inputs = {"x": _Shown(big, "random values"), "drop_prob": 0.5, "training": True}
    if not np.array_equal(first[0], second[0]):
        raise CheckFailed(case, inputs=inputs, show_values=False,
                          reason="two calls with identically seeded rng gave different outputs",
                          hint="Draw the mask from the rng argument (rng.random(...)), not from np.random.")

    case = "float32 input (the dtype training uses)"
    x32 = _signed_input(rng, (6, 4, 3, 3)).astype(np.float32)
    inputs = {"x": x32, "drop_prob": 0.25, "rng": np.random.default_rng(3005), "training": True}
    out, mask = _call_forward(fn, case, inputs)
    cast_hint = ("rng.random gives float64 (rng.binomial int64): cast the mask with .astype(x.dtype) before "
                 "multiplying, mask = (rng.random((N, C, 1, 1)) < keep_prob).astype(x.dtype) / keep_prob.")
    if out.dtype != np.float32:
        raise CheckFailed(case, inputs={**inputs, "x": _Shown(x32, "random values")}, expected="float32",
                          got=str(out.dtype), reason="out must keep x's dtype", hint=cast_hint)
    if isinstance(mask, np.ndarray) and mask.dtype != np.float32:
        raise CheckFailed(case, inputs={**inputs, "x": _Shown(x32, "random values")}, expected="a float32 mask",
                          got=f"a {mask.dtype} mask", hint=cast_hint,
                          reason="the mask (which backward multiplies dout by) must keep x's dtype too")
    return (f"{n * c} feature maps: masks are constant over each map, the fraction zeroed is "
            f"{drop_prob} within {_SIGMAS:.0f} standard deviations, kept maps are x / keep_prob, the mask has "
            "shape (N, C, 1, 1); evaluation is the identity; drop_prob 0 and 1, seeding and float32 behave.")


def _bernoulli_maps(x, drop_prob, rng, shape):
    keep_prob = 1.0 - drop_prob
    return (rng.random(shape) < keep_prob).astype(x.dtype) / x.dtype.type(keep_prob) if keep_prob else \
        np.zeros(shape, dtype=x.dtype)


def _fwd_per_element(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    mask = _bernoulli_maps(x, drop_prob, rng, x.shape)
    return x * mask, mask


def _fwd_per_sample(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    mask = _bernoulli_maps(x, drop_prob, rng, (x.shape[0], 1, 1, 1))
    return x * mask, mask


def _fwd_shared_across_batch(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    mask = _bernoulli_maps(x, drop_prob, rng, (1, x.shape[1], 1, 1))
    return x * mask, mask


def _fwd_channels_last(x, drop_prob, *, rng, training):
    # Keras's noise shape (N, 1, 1, C) is for channels-last arrays; here the last axis is W.
    if not training:
        return x, None
    mask = _bernoulli_maps(x, drop_prob, rng, (x.shape[0], 1, 1, x.shape[-1]))
    return x * mask, mask


def _fwd_no_rescale(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    mask = (rng.random((x.shape[0], x.shape[1], 1, 1)) >= drop_prob).astype(x.dtype)
    return x * mask, mask


def _fwd_swapped(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    keep_prob = 1.0 - drop_prob
    keep = rng.random((x.shape[0], x.shape[1], 1, 1)) < drop_prob
    mask = keep.astype(x.dtype) / x.dtype.type(keep_prob) if keep_prob else np.zeros(keep.shape, x.dtype)
    return x * mask, mask


def _fwd_swapped_throughout(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    keep_prob = drop_prob  # the two probabilities swapped: keeps a fraction drop_prob, divides by drop_prob
    return _fwd_per_map(x, keep_prob, rng)


def _fwd_per_map(x, keep_prob, rng):
    shape = (x.shape[0], x.shape[1], 1, 1)
    mask = (rng.random(shape) < keep_prob).astype(x.dtype) / x.dtype.type(keep_prob) if keep_prob else \
        np.zeros(shape, dtype=x.dtype)
    return x * mask, mask


def _fwd_ignores_training(x, drop_prob, *, rng, training):
    mask = _bernoulli_maps(x, drop_prob, rng, (x.shape[0], x.shape[1], 1, 1))
    return x * mask, mask


def _fwd_in_place(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    mask = _bernoulli_maps(x, drop_prob, rng, (x.shape[0], x.shape[1], 1, 1))
    x *= mask  # the right output, written into the caller's feature maps
    return x, mask


def _fwd_divides_by_zero(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    keep_prob = 1.0 - drop_prob
    mask = (rng.random((x.shape[0], x.shape[1], 1, 1)) < keep_prob).astype(x.dtype) / x.dtype.type(keep_prob)
    return x * mask, mask


register(
    "spatial_dropout_forward",
    reference=spatial_dropout_forward,
    run_checks=_check_forward,
    mistakes=(
        Mistake("per_element_mask", _fwd_per_element,
                "That is element-wise dropout: the mask has x's full shape (N, C, H, W). Spatial dropout draws "
                "one value per (sample, channel), a mask of shape (N, C, 1, 1), and broadcasting spreads it over "
                "the whole H x W map."),
        Mistake("per_sample_mask", _fwd_per_sample,
                "The mask has shape (N, 1, 1, 1): one draw per sample drops every channel of a sample at once. "
                "Draw one per (sample, channel): shape (x.shape[0], x.shape[1], 1, 1)."),
        Mistake("shared_across_batch", _fwd_shared_across_batch,
                "The mask has shape (1, C, 1, 1): every sample in the batch loses the same channels. Each sample "
                "needs its own draw: shape (N, C, 1, 1)."),
        Mistake("wrong_axis", _fwd_channels_last,
                "The mask broadcasts along the wrong axes. Here arrays are NCHW: channels are axis 1, and the "
                "mask is (N, C, 1, 1). (Keras's channels-last layout puts channels last, (N, H, W, C), with "
                "noise shape (N, 1, 1, C); applied to NCHW that drops columns of pixels, not channels.)"),
        Mistake("no_rescale", _fwd_no_rescale,
                "The kept maps must be divided by keep_prob = 1 - drop_prob (inverted dropout), so that the "
                "expected output equals x and evaluation can be the identity. Your mask is 0/1."),
        Mistake("drop_keep_swapped", _fwd_swapped,
                "About 1 - drop_prob of the maps were zeroed (the scale 1/keep_prob is right): drop_prob is the "
                "probability of *dropping*. Keep a map where rng.random(...) < keep_prob, with keep_prob = "
                "1 - drop_prob."),
        Mistake("keep_and_scale_swapped", _fwd_swapped_throughout,
                "keep_prob and drop_prob are swapped throughout: about 1 - drop_prob of the maps were zeroed AND "
                "the kept maps were divided by drop_prob. drop_prob is the probability of zeroing a map; keep_prob "
                "= 1 - drop_prob is the probability of keeping it and the number to divide the kept maps by."),
        Mistake("eval_not_identity", _fwd_ignores_training,
                "With training=False, inverted dropout does nothing: return x unchanged and mask None. (The "
                "1/keep_prob scaling during training is what makes this right.)"),
        Mistake("nan_at_drop_prob_one", _fwd_divides_by_zero,
                "With drop_prob = 1, keep_prob = 0 and 0/0 = NaN. Handle it separately: every map is dropped, so "
                "the output is all zeros (np.zeros_like(x))."),
        modifies_input(spatial_dropout_forward, "x",
                       "x holds the previous layer's feature maps: that layer's backward pass, and any branch "
                       "that shares them, still read x",
                       fix="`out = x * mask`, not `x *= mask`", implementation=_fwd_in_place),
    ),
    generic_hint="Training: keep = rng.random((N, C, 1, 1)) < keep_prob; mask = keep / keep_prob in x's dtype; "
                 "return x * mask, mask. Evaluation: return x, None. drop_prob = 1 gives zeros.",
    output_names=("out", "mask"),
)

# ----------------------------------------------------------------------------- backward


def _reference_mask(seed, shape, drop_prob):
    x = np.ones(shape)
    return spatial_dropout_forward(x, drop_prob, rng=np.random.default_rng(seed), training=True)[1]


def _backward_cases():
    rng = np.random.default_rng(4000)
    cases = []
    for i, (shape, drop_prob) in enumerate([((2, 3, 2, 2), 0.5), ((4, 5, 3, 2), 0.25), ((3, 2, 4, 4), 0.8)]):
        cases.append((f"mask from a training forward pass, dout of shape {shape}, drop_prob={drop_prob}",
                      {"dout": rng.standard_normal(shape), "mask": _reference_mask(4001 + i, shape, drop_prob)}))
    shape = (3, 4, 2, 3)
    cases.append(("float32 dout and mask", {"dout": rng.standard_normal(shape).astype(np.float32),
                                            "mask": _reference_mask(4010, shape, 0.5).astype(np.float32)}))
    return cases


def _divided_by_mask(inputs, got) -> bool:
    """dx equals dout / mask on the kept maps (whatever it holds on the dropped ones)."""
    dout, mask = inputs.get("dout"), inputs.get("mask")
    if not (isinstance(got, np.ndarray) and isinstance(mask, np.ndarray) and got.shape == np.shape(dout)):
        return False
    kept = np.broadcast_to(mask != 0, got.shape)
    with np.errstate(all="ignore"):
        divided = np.broadcast_to(dout / mask, got.shape)
    return bool(kept.any() and np.allclose(got[kept], divided[kept], rtol=1e-6, atol=1e-12)
                and not np.allclose(divided[kept], (dout * mask)[kept], rtol=1e-6, atol=1e-12))


def _check_backward(fn):
    try:
        n = check_cases(fn, spatial_dropout_backward, _backward_cases(), rtol=1e-6, atol=1e-9)
    except CheckFailed as failure:
        if failure.inputs is not None and _divided_by_mask(failure.inputs, failure.got):
            failure.mistake = "divides_by_mask"
        raise
    dout = np.random.default_rng(4020).standard_normal((2, 3, 2, 2))
    case = "evaluation mode: mask is None"
    inputs = {"dout": dout, "mask": None}
    set_case(case)
    try:
        got = fn(dout=dout.copy(), mask=None)
    except (TypeError, AttributeError) as exc:
        raise CheckFailed(case, inputs=inputs, expected=dout, got=f"{type(exc).__name__}: {exc}",
                          mistake="mask_none_crash", reason="your function raised instead of passing dout through") \
            from None
    n += check_cases(fn, spatial_dropout_backward, [(case, inputs)])

    # numerical gradient of sum(forward(x) * dout) with a fixed mask
    rng = np.random.default_rng(4030)
    x, dout = rng.standard_normal((3, 4, 2, 2)), rng.standard_normal((3, 4, 2, 2))
    drop_prob = 0.5

    def forward_dot_dout(v):
        out, _ = spatial_dropout_forward(v, drop_prob, rng=np.random.default_rng(4031), training=True)
        return float(np.sum(out * dout))

    _, mask = spatial_dropout_forward(x, drop_prob, rng=np.random.default_rng(4031), training=True)
    numeric = numerical_gradient(forward_dot_dout, x.copy())
    set_case("gradient check: dx against central differences of the forward pass")
    dx = fn(dout=dout.copy(), mask=mask.copy())
    err = rel_error(dx, numeric) if isinstance(dx, np.ndarray) and dx.shape == numeric.shape else np.inf
    if err > 1e-7:
        raise CheckFailed("gradient check", inputs={"dout": dout, "mask": mask}, expected=numeric, got=dx,
                          reason=f"relative error {err:.2e} against central differences of the forward pass "
                                 "(want < 1e-7)")
    return (f"{n} cases (including float32 and mask=None) match dout * mask, and dx agrees with central "
            f"differences of the forward pass (relative error {err:.1e}).")


def _bwd_ignores_mask(dout, mask):
    return dout


def _bwd_indicator(dout, mask):
    if mask is None:
        return dout
    return dout * (mask != 0)


def _bwd_summed(dout, mask):
    if mask is None:
        return dout
    return (dout * mask).sum(axis=(2, 3), keepdims=True)


def _bwd_none_crash(dout, mask):
    return dout * mask


register(
    "spatial_dropout_backward",
    reference=spatial_dropout_backward,
    run_checks=_check_backward,
    mistakes=(
        Mistake("ignores_mask", _bwd_ignores_mask,
                "A dropped map contributed nothing to the output, so it gets no gradient; a kept map was "
                "multiplied by 1/keep_prob, so its gradient is too: dx = dout * mask."),
        Mistake("indicator_mask", _bwd_indicator,
                "You zeroed the right maps but dropped the 1/keep_prob scale. The forward pass multiplied by the "
                "scaled mask, so the gradient is dout * mask with the same scaled values."),
        Mistake("summed_over_map", _bwd_summed,
                "dx has dout's shape (N, C, H, W). The mask is broadcast over H and W, so each pixel's gradient is "
                "its own dout times its map's mask value: do not sum over H and W (that would be a gradient "
                "with respect to the mask, not x)."),
        Mistake("mask_none_crash", _bwd_none_crash,
                "In evaluation mode the forward pass returns mask None (dropout is the identity), so backward "
                "must pass dout through unchanged when mask is None."),
        Mistake("divides_by_mask", _bwd_divides,
                "Multiply by the mask, do not divide: out = x * mask, so dx = dout * mask. Dividing gives "
                "dout * keep_prob for the kept maps and NaN or inf (x / 0) for the dropped ones."),
        *_backward_input_mistakes(spatial_dropout_backward),
    ),
    generic_hint="dx = dout * mask, with the (N, C, 1, 1) mask broadcast over H and W; return dout when mask is None.",
)
