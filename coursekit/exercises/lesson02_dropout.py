"""Notebook 02 exercises: inverted dropout, forward and backward.

The learner draws random numbers their own way (``rng.random``, ``rng.uniform``,
``rng.binomial``, any comparison order), so the forward pass cannot be compared with the
reference draw for draw. It is judged instead

* statistically: on 100,000 entries the fraction zeroed must be within 6 binomial standard
  deviations of ``drop_prob`` and the output mean within 6 standard deviations of the input
  mean (a correct implementation fails with probability about 1e-9);
* by consistency: ``out == x * mask``, every kept entry equals ``x / keep_prob``, every
  entry gets its own draw, a new mask every call, the same mask for an equally seeded rng;
* exactly where there is no randomness: evaluation mode, ``drop_prob = 0`` and ``1``.

Each catalogued mistake is recognized by the check that catches it (``CheckFailed(...,
mistake=key)``), because matching outputs draw for draw is impossible here.
"""
from __future__ import annotations

import numpy as np

from ..dropout import dropout_backward, dropout_forward
from ..gradcheck import numerical_gradient, rel_error
from ._core import CheckFailed, Mistake, modifies_input, register, set_case

# How many binomial / normal standard deviations a correct implementation may deviate by.
_SIGMAS = 6.0

# ----------------------------------------------------------------------------- dropout_forward


def _inputs(x, drop_prob, training):
    return {"x": x, "drop_prob": drop_prob, "rng": np.random.default_rng(0), "training": training}


_CAST_HINT = ("rng.random and rng.uniform return float64, rng.binomial int64: a float32 x multiplied by such a "
              "mask becomes float64. Cast the mask to x's dtype before using it, "
              "mask = (rng.random(x.shape) < keep_prob).astype(x.dtype) / keep_prob (or "
              "rng.binomial(1, keep_prob, x.shape).astype(x.dtype) / keep_prob), so out and mask keep x's dtype "
              "(float32 during training).")


def _call_forward(fn, x, drop_prob, *, seed, training, case):
    """Call the learner's forward with keyword arguments; check it returns (out, mask) shaped like x.

    ``seed`` is an int (a new Generator) or a Generator to draw from (shared between calls).
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    set_case(case)
    result = fn(x=x.copy(), drop_prob=drop_prob, rng=rng, training=training)
    inputs = _inputs(x, drop_prob, training)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise CheckFailed(case, inputs=inputs, expected="a pair (out, mask)", got=result,
                          reason="return two values: the output and the mask (None in evaluation mode)",
                          hint="End with `return out, mask`.")
    out, mask = result
    if not isinstance(out, np.ndarray) or out.shape != x.shape or out.dtype != x.dtype:
        cast = isinstance(out, np.ndarray) and out.shape == x.shape and out.dtype == np.float64
        raise CheckFailed(case, inputs=inputs, expected=f"out: array of shape {x.shape}, dtype {x.dtype}",
                          got=out, reason="out must be an array with x's shape and dtype"
                                          + (f" (yours is {out.dtype})" if isinstance(out, np.ndarray) else ""),
                          hint=_CAST_HINT if cast else
                          "Multiply x by a mask of x's shape, made in x's dtype: "
                          "mask = (rng.random(x.shape) < keep_prob).astype(x.dtype) / keep_prob.")
    if training and isinstance(mask, np.ndarray) and mask.shape != x.shape and _broadcasts(mask.shape, x.shape):
        _shared_mask_failure(case, inputs, x, out, mask)
    if training and (not isinstance(mask, np.ndarray) or mask.shape != x.shape):
        raise CheckFailed(case, inputs=inputs, expected=f"mask: array of shape {x.shape}", got=mask,
                          reason="in training mode the mask must be an array with x's shape (one draw per entry)",
                          hint="Draw one Bernoulli variable per entry: rng.random(x.shape) < keep_prob.")
    return out, mask, inputs


def _broadcasts(small, big) -> bool:
    try:
        return np.broadcast_shapes(small, big) == tuple(big)
    except ValueError:
        return False


_SHARED_ACROSS_BATCH_HINT = (
    "Every sample in the batch got the same mask: you drew one row of keep/drop values (shape (1, D), or "
    "rng.random(x.shape[1:])) and broadcast it over the batch, so all examples lose the same units at once and "
    "the batch's gradient always comes from the same sub-network. Draw an independent value for every entry, "
    "rng.random(x.shape) < keep_prob, and return that full-shape mask.")
_PER_SAMPLE_HINT = (
    "Each sample is dropped or kept as a whole: one draw per row (shape (N, 1)) instead of one per entry. Dropout "
    "zeroes individual units: draw rng.random(x.shape) < keep_prob, a mask with x's full shape.")


def _shared_mask_failure(case, inputs, x, out, mask):
    """The mask has fewer draws than x has entries (a broadcast shape): say along which axis it is shared."""
    shared_over_batch = len(mask.shape) < x.ndim or mask.shape[0] == 1
    raise CheckFailed(case, inputs=inputs, expected=f"a mask of shape {x.shape}, one draw per entry",
                      got=f"a mask of shape {mask.shape}", show_values=False,
                      reason=f"your mask has shape {mask.shape} and is broadcast over x of shape {x.shape}: "
                             + ("every sample shares one row of draws" if shared_over_batch
                                else "some entries share one draw"),
                      hint=_SHARED_ACROSS_BATCH_HINT if shared_over_batch else _PER_SAMPLE_HINT)


def _fail(case, inputs, expected, got, reason, *, mistake=None, hint=None):
    raise CheckFailed(case, inputs=inputs, expected=expected, got=got, reason=reason, mistake=mistake,
                      hint=hint)


_NAN_HINT = ("{what} NaN{extent}. A NaN comes from 0 / 0, inf - inf or 0 * inf, or from an array that was never "
             "filled in (np.empty); once there, it spreads to everything computed from it. Print the intermediate "
             "arrays of your function on this case to find the first one that holds NaN. {formula}")


def _not_finite(case, inputs, name, value, reference_value, formula):
    """Fail when ``value`` holds NaN or inf where ``reference_value`` (what it should be) is finite."""
    if not (isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.inexact)):
        return
    with np.errstate(all="ignore"):
        bad = ~np.isfinite(value) & np.isfinite(reference_value)
    if not bad.any():
        return
    extent = " in every entry" if bad.all() else f" in {int(bad.sum())} of {bad.size} entries"
    kind = "NaN" if np.isnan(value[bad]).any() else "inf"
    what = f"{name} holds {kind}"
    hint = (_NAN_HINT.format(what=f"Your {name} holds", extent=extent, formula=formula) if kind == "NaN" else
            f"Your {name} holds inf{extent}: something overflowed or divided by 0. {formula}")
    _fail(case, inputs, f"finite values in {name}", value, f"{what}{extent}, where a finite number was expected",
          hint=hint)


_FORWARD_FORMULA = ("The formula: keep = rng.random(x.shape) < keep_prob; mask = keep.astype(x.dtype) / keep_prob; "
                    "out = x * mask.")


def _check_consistent(case, inputs, x, out, mask):
    _not_finite(case, inputs, "out", out, x, _FORWARD_FORMULA)
    _not_finite(case, inputs, "mask", mask, x, _FORWARD_FORMULA)
    with np.errstate(all="ignore"):
        product = x * mask.astype(x.dtype)
    rtol = 1e-5 if x.dtype == np.float32 else 1e-12
    if not np.allclose(out, product, rtol=rtol, atol=0.0):
        _fail(case, inputs, "out == x * mask", out,
              "out is not x * mask: return the scaled mask (entries 0 or 1/keep_prob) you multiplied x by",
              hint="Build the mask already scaled, mask = keep / keep_prob, and return out = x * mask; "
                   "the backward pass reuses exactly this mask.")


_SWAPPED_HINT = ("keep_prob and drop_prob are swapped throughout: you kept a fraction drop_prob of the entries AND "
                 "divided them by drop_prob. drop_prob is the probability of zeroing an entry; keep_prob = "
                 "1 - drop_prob is the probability of keeping it and the number to divide the kept entries by: "
                 "keep where rng.random(...) < keep_prob, mask = keep / keep_prob.")


def _check_ones(fn) -> int:
    """100,000 ones, drop_prob 0.3: kept values 1/keep_prob, fraction zeroed ~0.3, independent entries."""
    drop_prob, keep_prob = 0.3, 0.7
    x = np.ones((200, 500))
    case = "training mode, x = ones of shape (200, 500), drop_prob = 0.3"
    out, mask, inputs = _call_forward(fn, x, drop_prob, seed=3000, training=True, case=case)
    _check_consistent(case, inputs, x, out, mask)
    kept = out != 0
    _check_independent(case, inputs, out, kept)
    values = out[kept]
    n = x.size
    zeroed = 1.0 - kept.mean()
    bound = _SIGMAS * np.sqrt(drop_prob * keep_prob / n)
    fraction_right, fraction_swapped = abs(zeroed - drop_prob) <= bound, abs(zeroed - keep_prob) <= bound
    scale = float(values[0]) if values.size else None
    uniform = values.size > 0 and np.allclose(values, scale, rtol=1e-10)
    scale_right = values.size == 0 or np.allclose(values, 1 / keep_prob, rtol=1e-10)
    scale_swapped = uniform and np.isclose(scale, 1 / drop_prob, rtol=1e-10)
    scale_missing = uniform and np.isclose(scale, 1.0, rtol=1e-10)
    fraction_reason = (f"the fraction of entries zeroed is {zeroed:.4f}; with drop_prob = {drop_prob} it should be "
                       f"within {bound:.4f} of {drop_prob} (6 binomial standard deviations over {n} entries)")
    scale_reason = (f"kept entries of x = 1 should become 1/keep_prob = {1 / keep_prob:.4f}; yours are "
                    f"{format(scale, '.4f') if scale is not None else '-'}" + ("" if uniform else " (and others)"))
    if scale_swapped and fraction_swapped:
        _fail(case, inputs, f"a fraction {drop_prob} zeroed, kept entries 1/keep_prob = {1 / keep_prob:.4f}",
              f"a fraction {zeroed:.4f} zeroed, kept entries {scale:.4f}",
              f"{fraction_reason}; and {scale_reason}", hint=_SWAPPED_HINT)
    if not scale_right:
        if scale_missing and fraction_right:
            _fail(case, inputs, 1 / keep_prob, scale, scale_reason, mistake="forgot_rescale")
        if scale_swapped and fraction_right:
            _fail(case, inputs, 1 / keep_prob, scale, scale_reason, mistake="rescale_by_drop_prob")
        extra = "" if fraction_right else f"; also, {fraction_reason}"
        _fail(case, inputs, 1 / keep_prob, scale, scale_reason + extra,
              hint="Every kept entry is divided by keep_prob = 1 - drop_prob; every dropped entry is 0"
                   + ("" if fraction_right else ", and an entry is kept with probability keep_prob") + ".")
    if not fraction_right:
        if fraction_swapped:
            _fail(case, inputs, drop_prob, float(zeroed), fraction_reason, mistake="greater_than_keeps_drop_prob")
        _fail(case, inputs, drop_prob, float(zeroed), fraction_reason,
              hint="Keep an entry when a uniform draw u in [0, 1) is below keep_prob: P(u < keep_prob) = keep_prob.")
    return n


def _check_independent(case, inputs, out, kept):
    """Entries get independent draws: no row or column is dropped or kept as a whole."""
    rows = np.all(kept, axis=1) | np.all(~kept, axis=1)
    cols = np.all(kept, axis=0) | np.all(~kept, axis=0)
    if not (rows.any() or cols.any()):
        return
    reason = f"{int(rows.sum())} rows and {int(cols.sum())} columns are dropped or kept as a whole"
    if np.all(kept == kept[:1]):
        hint = _SHARED_ACROSS_BATCH_HINT
        reason += " (every row, i.e. every sample, has the same mask)"
    elif rows.all():
        hint = _PER_SAMPLE_HINT
    else:
        hint = "Draw the mask with x's full shape, rng.random(x.shape), not one value per row or column."
    _fail(case, inputs, "an independent draw per entry", out, reason, hint=hint)


def _check_random_x(fn) -> int:
    """float32 x ~ N(0.5, 1), drop_prob 0.6: per-entry values, dtype, mean preserved statistically."""
    drop_prob, keep_prob = 0.6, 0.4
    x = (np.random.default_rng(3001).standard_normal((300, 400)) + 0.5).astype(np.float32)
    case = "training mode, float32 x ~ N(0.5, 1) of shape (300, 400), drop_prob = 0.6"
    out, mask, inputs = _call_forward(fn, x, drop_prob, seed=3002, training=True, case=case)
    _check_consistent(case, inputs, x, out, mask)
    if mask.dtype != x.dtype:
        _fail(case, inputs, f"a mask in x's dtype, {x.dtype}", f"a mask of dtype {mask.dtype}",
              f"out is float32, but the mask you return (which backward multiplies dout by) is {mask.dtype}",
              hint=_CAST_HINT)
    kept = mask != 0
    if not np.allclose(mask[kept], 1 / keep_prob, rtol=1e-6):
        _fail(case, inputs, f"mask entries 0 or 1/keep_prob = {1 / keep_prob}", mask,
              "the mask has entries other than 0 and 1/keep_prob",
              hint="mask = (rng.random(x.shape) < keep_prob).astype(x.dtype) / keep_prob.")
    x64, out64 = x.astype(np.float64), out.astype(np.float64)
    # sum(out) - sum(x) is a sum of independent terms x_i (B_i / keep_prob - 1), each of variance
    # x_i^2 (1 - keep_prob) / keep_prob.
    sd = np.sqrt(np.sum(x64 ** 2) * drop_prob / keep_prob) / x.size
    diff = out64.mean() - x64.mean()
    if abs(diff) > _SIGMAS * sd:
        _fail(case, inputs, f"mean(out) within {_SIGMAS * sd:.4f} of mean(x) = {x64.mean():.4f}",
              float(out64.mean()), "the output mean differs from the input mean by more than 6 standard deviations",
              hint="Inverted dropout keeps the expected activation: E[x * B / keep_prob] = x for B ~ Bernoulli(keep_prob).")
    return x.size


def _check_fresh_and_reproducible(fn) -> None:
    x = np.ones((50, 40))
    rng = np.random.default_rng(3003)
    case = "two training calls with the same Generator, x = ones (50, 40), drop_prob = 0.5"
    first, _, inputs = _call_forward(fn, x, 0.5, seed=rng, training=True, case=case)
    second, _, _ = _call_forward(fn, x, 0.5, seed=rng, training=True, case=case)
    if np.array_equal(first, second):
        _fail(case, inputs, "a different mask on the second call", second,
              "both calls dropped exactly the same entries", mistake="fixed_mask")
    case = "a third call, with a Generator seeded like the first one"
    again, _, _ = _call_forward(fn, x, 0.5, seed=3003, training=True, case=case)
    if not np.array_equal(first, again):
        _fail(case, inputs, first, again,
              "the same seed gave a different mask: your random numbers do not all come from rng",
              hint="Draw only from the rng argument (rng.random(...)); never from np.random.* or a Generator "
                   "you create inside the function.")


def _check_eval(fn) -> None:
    drop_prob, keep_prob = 0.3, 0.7
    x = np.random.default_rng(3004).standard_normal((50, 40))
    case = "evaluation mode (training=False), x ~ N(0, 1) of shape (50, 40), drop_prob = 0.3"
    out, mask, inputs = _call_forward(fn, x, drop_prob, seed=3005, training=False, case=case)
    if not np.array_equal(out, x):
        reason = "in evaluation mode inverted dropout is the identity: out must equal x exactly"
        if np.allclose(out, x * keep_prob):
            _fail(case, inputs, x, out, reason + " (yours is x * keep_prob)", mistake="scaled_at_eval")
        if np.any((out == 0) & (x != 0)):
            _fail(case, inputs, x, out, reason + " (yours zeroes entries)", mistake="dropout_at_eval")
        _fail(case, inputs, x, out, reason, hint="if not training: return x, None")
    if mask is not None:
        _fail(case, inputs, None, mask, "in evaluation mode there is no mask: return (x, None)",
              hint="if not training: return x, None")


def _check_edges(fn) -> None:
    x = np.random.default_rng(3006).standard_normal((20, 30))
    case = "drop_prob = 0 (keep everything), training mode"
    out, mask, inputs = _call_forward(fn, x, 0.0, seed=3007, training=True, case=case)
    if not np.allclose(out, x, rtol=1e-12, atol=0.0):
        _fail(case, inputs, x, out, "drop_prob = 0 must be the identity",
              hint="With drop_prob = 0, keep_prob = 1: every draw is kept and nothing is rescaled.")
    case = "drop_prob = 1 (drop everything), training mode"
    out, mask, inputs = _call_forward(fn, x, 1.0, seed=3008, training=True, case=case)
    if not (np.all(np.isfinite(out)) and np.all(np.isfinite(mask))):
        _fail(case, inputs, np.zeros_like(x), out, "drop_prob = 1 gave NaN or inf instead of zeros",
              mistake="nan_at_drop_prob_1")
    if np.any(out != 0):
        _fail(case, inputs, np.zeros_like(x), out, "drop_prob = 1 must zero every entry",
              hint="With keep_prob = 0 no entry is kept: return zeros (and a mask of zeros).")


def _check_forward(fn) -> str:
    n_ones = _check_ones(fn)
    n_random = _check_random_x(fn)
    _check_fresh_and_reproducible(fn)
    _check_eval(fn)
    _check_edges(fn)
    return (f"on {n_ones:,} and {n_random:,} entries the fraction zeroed and the output mean are within 6 standard "
            "deviations of drop_prob and the input mean; out == x * mask with kept entries x / keep_prob, one draw "
            "per entry, a fresh mask every call; evaluation mode is the identity; drop_prob = 0 and 1 work.")


def _keep_draws(rng, shape, keep_prob):
    return rng.random(shape) < keep_prob


def _fwd_forgot_rescale(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    mask = _keep_draws(rng, x.shape, 1 - drop_prob).astype(x.dtype)
    return x * mask, mask


def _fwd_rescale_by_drop_prob(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    with np.errstate(all="ignore"):
        mask = _keep_draws(rng, x.shape, 1 - drop_prob).astype(x.dtype) / x.dtype.type(drop_prob)
    return x * mask, mask


def _fwd_dropout_at_eval(x, drop_prob, *, rng, training):
    keep_prob = 1 - drop_prob
    if keep_prob == 0:
        mask = np.zeros_like(x)
    else:
        mask = _keep_draws(rng, x.shape, keep_prob).astype(x.dtype) / x.dtype.type(keep_prob)
    return x * mask, mask


def _fwd_scaled_at_eval(x, drop_prob, *, rng, training):
    keep_prob = 1 - drop_prob
    if not training:
        return x * x.dtype.type(keep_prob), None
    return dropout_forward(x, drop_prob, rng=rng, training=True)


def _fwd_greater_than(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    keep_prob = 1 - drop_prob
    if keep_prob == 0:
        return np.zeros_like(x), np.zeros_like(x)
    mask = (rng.random(x.shape) > keep_prob).astype(x.dtype) / x.dtype.type(keep_prob)
    return x * mask, mask


def _fwd_nan_at_one(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    keep_prob = 1 - drop_prob
    with np.errstate(all="ignore"):
        mask = _keep_draws(rng, x.shape, keep_prob).astype(x.dtype) / x.dtype.type(keep_prob)
    return x * mask, mask


def _fwd_fixed_mask(x, drop_prob, *, rng, training):
    return dropout_forward(x, drop_prob, rng=np.random.default_rng(0), training=training)


def _fwd_in_place(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    keep_prob = 1 - drop_prob
    mask = _keep_draws(rng, x.shape, keep_prob).astype(x.dtype) / x.dtype.type(keep_prob) if keep_prob else \
        np.zeros_like(x)
    x *= mask  # returns the right values, but in the caller's own array
    return x, mask


register(
    "dropout_forward",
    reference=dropout_forward,
    run_checks=_check_forward,
    mistakes=(
        Mistake("forgot_rescale", _fwd_forgot_rescale,
                "Kept entries must be divided by keep_prob = 1 - drop_prob. Without it the expected output is "
                "keep_prob * x during training but x at evaluation: the next layer sees a different scale."),
        Mistake("rescale_by_drop_prob", _fwd_rescale_by_drop_prob,
                "Divide by keep_prob = 1 - drop_prob, not by drop_prob: a fraction keep_prob of the entries "
                "survives, so scaling them by 1/keep_prob restores the expected value."),
        Mistake("greater_than_keeps_drop_prob", _fwd_greater_than,
                "You kept a fraction drop_prob of the entries instead of keep_prob = 1 - drop_prob (the scale "
                "1/keep_prob is right). An entry must be kept with probability keep_prob: with u = rng.random(...), "
                "keep where u < keep_prob (equivalently u >= drop_prob); `u > keep_prob` and `u < drop_prob` are "
                "each True with probability drop_prob."),
        Mistake("fixed_mask", _fwd_fixed_mask,
                "Every call must draw a new mask from the rng you are given; a mask that never changes is not "
                "dropout, just a smaller network. Don't seed or create a Generator inside the function."),
        Mistake("scaled_at_eval", _fwd_scaled_at_eval,
                "Multiplying by keep_prob at test time is *vanilla* dropout. Inverted dropout already divided by "
                "keep_prob during training, so evaluation is the identity: if not training: return x, None."),
        Mistake("dropout_at_eval", _fwd_dropout_at_eval,
                "Dropout is only for training. With training=False return x unchanged (and mask None): "
                "the trained network is used whole at evaluation."),
        Mistake("nan_at_drop_prob_1", _fwd_nan_at_one,
                "With drop_prob = 1, keep_prob = 0 and mask / keep_prob is 0 / 0 = NaN. Handle it on its own: "
                "when keep_prob == 0 return zeros."),
        modifies_input(dropout_forward, "x",
                       "x is the previous layer's output: that layer's backward pass, and the gradient check right "
                       "after this cell, still read x, and a network sharing x between two branches would see "
                       "dropped values in both",
                       fix="`out = x * mask`, not `x *= mask`", implementation=_fwd_in_place),
    ),
    generic_hint="Training: keep = rng.random(x.shape) < keep_prob; mask = keep.astype(x.dtype) / keep_prob; "
                 "return x * mask, mask (zeros when keep_prob == 0). Evaluation: return x, None.",
    output_names=("out", "mask"),
)

# ----------------------------------------------------------------------------- dropout_backward


def _scaled_mask(shape, drop_prob, seed, dtype=np.float64):
    return dropout_forward(np.ones(shape, dtype=dtype), drop_prob, rng=np.random.default_rng(seed),
                           training=True)[1]


def _call_backward(fn, dout, mask, case):
    inputs = {"dout": dout, "mask": mask}
    set_case(case)
    dx = fn(dout=dout.copy(), mask=None if mask is None else mask.copy())
    if not isinstance(dx, np.ndarray) or dx.shape != dout.shape or dx.dtype != dout.dtype:
        _fail(case, inputs, f"dx: array of shape {dout.shape}, dtype {dout.dtype}", dx,
              "dx must be an array with dout's shape and dtype", hint="return dout * mask")
    return dx, inputs


def _check_backward(fn) -> str:
    drop_prob = 0.4
    mask = _scaled_mask((30, 40), drop_prob, 4000)
    dout = np.random.default_rng(4001).standard_normal((30, 40))
    case = "dout ~ N(0, 1) of shape (30, 40), mask from a forward pass with drop_prob = 0.4"
    dx, inputs = _call_backward(fn, dout, mask, case)
    expected = dout * mask
    if not np.allclose(dx, expected, rtol=1e-12, atol=0.0):
        kept = mask != 0
        with np.errstate(all="ignore"):
            divided = dout / mask
        if np.allclose(dx[kept], divided[kept], rtol=1e-12, atol=0.0):
            _fail(case, inputs, expected, dx,
                  "dx is dout / mask where the mask is not 0" + ("" if np.all(np.isfinite(dx)) else
                                                                 " (and NaN or inf where it is)"),
                  mistake="divides_by_mask")
        _not_finite(case, inputs, "dx", dx, expected, "The formula: dx = dout * mask, with the forward's scaled mask.")
        if np.any((dx != 0) != kept):
            _fail(case, inputs, expected, dx,
                  "dx is zero where the forward kept the entry, or nonzero where it dropped it",
                  mistake="new_mask_in_backward")
        if np.allclose(dx, dout * kept, rtol=1e-12, atol=0.0):
            _fail(case, inputs, expected, dx, "dx is dout where kept: the 1/keep_prob scale is missing",
                  mistake="backward_unscaled")
        _fail(case, inputs, expected, dx, "dx should be dout * mask",
              hint="out = x * mask is linear in x, so dx = dout * mask, with the very mask the forward used.")
    # Its gradient check: central differences of the forward x -> x * mask with this fixed mask.
    x = np.random.default_rng(4002).standard_normal((4, 5))
    small_mask, small_dout = mask[:4, :5].copy(), dout[:4, :5].copy()
    small_dx, _ = _call_backward(fn, small_dout, small_mask, "a (4, 5) slice of the same case")
    numeric = numerical_gradient(lambda v: float(np.sum(v * small_mask * small_dout)), x.copy())
    err = rel_error(small_dx, numeric)
    if err > 1e-8:
        _fail("gradient check on a (4, 5) slice", {"dout": small_dout, "mask": small_mask}, numeric, small_dx,
              f"relative error {err:.1e} against central differences of x -> x * mask (want < 1e-8)",
              hint="dx = dout * mask.")
    case = "float32 dout and mask (drop_prob = 0.5)"
    mask32 = _scaled_mask((10, 12), 0.5, 4003, np.float32)
    dout32 = np.random.default_rng(4004).standard_normal((10, 12)).astype(np.float32)
    dx32, inputs = _call_backward(fn, dout32, mask32, case)
    if not np.allclose(dx32, dout32 * mask32, rtol=1e-6, atol=0.0):
        _fail(case, inputs, dout32 * mask32, dx32, "dx should be dout * mask", hint="return dout * mask")
    case = "evaluation mode: mask = None"
    dout_eval = np.random.default_rng(4005).standard_normal((6, 7))
    dx_eval, inputs = _call_backward(fn, dout_eval, None, case)
    if not np.array_equal(dx_eval, dout_eval):
        _fail(case, inputs, dout_eval, dx_eval, "with no mask (evaluation mode) the gradient passes through",
              hint="if mask is None: return dout")
    case = "drop_prob = 1: the mask is all zeros"
    zeros = _scaled_mask((6, 7), 1.0, 4006)
    dx_zero, inputs = _call_backward(fn, dout_eval, zeros, case)
    if np.any(dx_zero != 0):
        _fail(case, inputs, np.zeros_like(dout_eval), dx_zero, "nothing was kept, so no gradient flows",
              hint="return dout * mask")
    return (f"dx == dout * mask for the cached mask (relative error {err:.0e} against central differences), "
            "in float64 and float32, without touching the inputs; mask None passes dout through; "
            "an all-zero mask gives zero gradient.")


def _bwd_new_mask(dout, mask):
    if mask is None:
        return dout
    scale = float(mask.max())  # 1 / keep_prob, read off the old mask...
    keep_prob = 1.0 / scale if scale > 0 else 0.0
    fresh = np.random.default_rng(7).random(dout.shape) < keep_prob  # ...but a new draw: wrong
    return dout * fresh.astype(dout.dtype) * dout.dtype.type(scale)


def _bwd_unscaled(dout, mask):
    if mask is None:
        return dout
    return dout * (mask != 0).astype(dout.dtype)


def _bwd_divides(dout, mask):
    if mask is None:
        return dout
    with np.errstate(all="ignore"):
        return dout / mask


def _bwd_in_place(dout, mask):
    if mask is None:
        return dout
    dout *= mask  # the right values, written into the caller's upstream gradient
    return dout


def _backward_input_mistakes(reference_fn):
    """Overwriting dout or the cached mask in place (shared with spatial dropout's backward)."""
    return (
        modifies_input(reference_fn, "dout",
                       "dout is the upstream gradient: it may feed other branches of the network, and the gradient "
                       "check calls backward again with the same dout",
                       fix="`return dout * mask`, not `dout *= mask; return dout`", implementation=_bwd_in_place),
        modifies_input(reference_fn, "mask",
                       "mask is the forward pass's cache: every later backward through this layer (a gradient "
                       "check, a second loss term) reuses it",
                       fix="`return dout * mask`, not `mask *= dout`"),
    )


register(
    "dropout_backward",
    reference=dropout_backward,
    run_checks=_check_backward,
    mistakes=(
        Mistake("new_mask_in_backward", _bwd_new_mask,
                "Use the mask cached by the forward pass, never a new draw: the gradient must flow exactly "
                "through the units that were kept, and be zero for the ones that were dropped."),
        Mistake("backward_unscaled", _bwd_unscaled,
                "The forward multiplied kept entries by 1/keep_prob, so the gradient is scaled the same way: "
                "dx = dout * mask with the scaled mask (entries 0 or 1/keep_prob), not dout * (mask != 0)."),
        Mistake("divides_by_mask", _bwd_divides,
                "Multiply by the mask, do not divide: out = x * mask, so dx = dout * mask. Dividing gives "
                "dout * keep_prob for the kept entries and 0 / 0 = NaN or dout / 0 = inf for the dropped ones."),
        *_backward_input_mistakes(dropout_backward),
    ),
    generic_hint="out = x * mask, so dx = dout * mask with the forward's scaled mask; "
                 "mask None (evaluation) means dx = dout.",
)
