"""Element-wise inverted dropout: the coursekit functions and layer, the MC-dropout helpers, and the
notebook-02 exercise checkers (against the reference, against other correct implementations that
draw their random numbers differently, and against each catalogued wrong answer)."""
import itertools
import math

import matplotlib
import numpy as np
import pytest

from coursekit import plots
from coursekit.dropout import Dropout, dropout_backward, dropout_forward
from coursekit.exercises import get_exercise, mistake, run_check
from coursekit.gradcheck import check_layer_gradients
from coursekit.layers import Dense, ReLU, sigmoid
from coursekit.model import Sequential

matplotlib.use("Agg")

FORWARD, BACKWARD = "dropout_forward", "dropout_backward"


def binomial_bound(p, n, sigmas=5.0):
    """sigmas standard deviations of the fraction of successes in n Bernoulli(p) trials."""
    return sigmas * math.sqrt(p * (1 - p) / n)


# ----------------------------------------------------------------------------- dropout_forward

@pytest.mark.parametrize("drop_prob", [0.1, 0.25, 0.5, 0.9])
def test_forward_zeroes_the_right_fraction_and_scales_the_rest_by_one_over_keep_prob(drop_prob):
    x = np.ones((400, 500))
    out, mask = dropout_forward(x, drop_prob, rng=np.random.default_rng(0), training=True)
    zeroed = np.mean(out == 0)
    assert abs(zeroed - drop_prob) < binomial_bound(drop_prob, x.size)
    kept = out[out != 0]
    np.testing.assert_allclose(kept, 1.0 / (1.0 - drop_prob), rtol=1e-14)
    np.testing.assert_array_equal(out, x * mask)


@pytest.mark.parametrize("drop_prob", [0.2, 0.5, 0.8])
def test_forward_preserves_the_expected_activation(drop_prob):
    x = np.random.default_rng(1).standard_normal((500, 400)) + 2.0
    out, _ = dropout_forward(x, drop_prob, rng=np.random.default_rng(2), training=True)
    keep_prob = 1 - drop_prob
    # out_i - x_i = x_i (B_i/keep_prob - 1): mean 0, variance x_i^2 drop_prob / keep_prob, independent.
    standard_error = math.sqrt(np.sum(x ** 2) * drop_prob / keep_prob) / x.size
    assert abs(out.mean() - x.mean()) < 5 * standard_error
    # each kept entry is exactly x / keep_prob (computed here by division, the code multiplies)
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] / keep_prob, rtol=1e-14)


def test_forward_draws_independently_per_entry():
    out, _ = dropout_forward(np.ones((300, 300)), 0.5, rng=np.random.default_rng(3), training=True)
    kept = out != 0
    # whole rows or columns kept/dropped together would mean a broadcast mask
    assert not np.any(np.all(kept, axis=1) | np.all(~kept, axis=1))
    assert not np.any(np.all(kept, axis=0) | np.all(~kept, axis=0))
    # neighbours are uncorrelated: P(both kept) = 0.25 within 5 standard deviations
    both = np.mean(kept[:, 1:] & kept[:, :-1])
    assert abs(both - 0.25) < binomial_bound(0.25, kept[:, 1:].size)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_keeps_the_dtype(dtype):
    x = np.random.default_rng(4).standard_normal((6, 5)).astype(dtype)
    out, mask = dropout_forward(x, 0.3, rng=np.random.default_rng(5), training=True)
    assert out.dtype == dtype and mask.dtype == dtype and out.shape == mask.shape == x.shape
    out, mask = dropout_forward(x, 0.3, rng=np.random.default_rng(5), training=False)
    assert out.dtype == dtype and mask is None


def test_forward_evaluation_is_exactly_the_identity():
    x = np.random.default_rng(6).standard_normal((7, 3, 2))
    out, mask = dropout_forward(x, 0.7, rng=np.random.default_rng(7), training=False)
    assert mask is None
    np.testing.assert_array_equal(out, x)


def test_forward_drop_prob_zero_is_the_identity():
    x = np.random.default_rng(8).standard_normal((20, 10)).astype(np.float32)
    out, mask = dropout_forward(x, 0.0, rng=np.random.default_rng(9), training=True)
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(mask, np.ones_like(x))


def test_forward_drop_prob_one_gives_zeros_without_dividing_by_zero():
    x = np.random.default_rng(10).standard_normal((20, 10))
    with np.errstate(all="raise"):  # a 0/0 would raise FloatingPointError here
        out, mask = dropout_forward(x, 1.0, rng=np.random.default_rng(11), training=True)
    np.testing.assert_array_equal(out, np.zeros_like(x))
    np.testing.assert_array_equal(mask, np.zeros_like(x))


def test_forward_same_seed_same_mask_and_the_generator_advances():
    x = np.ones((30, 30))
    a, _ = dropout_forward(x, 0.5, rng=np.random.default_rng(12), training=True)
    b, _ = dropout_forward(x, 0.5, rng=np.random.default_rng(12), training=True)
    np.testing.assert_array_equal(a, b)
    rng = np.random.default_rng(12)
    first, _ = dropout_forward(x, 0.5, rng=rng, training=True)
    second, _ = dropout_forward(x, 0.5, rng=rng, training=True)
    assert not np.array_equal(first, second)


@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan"), float("inf"), -float("inf")])
def test_forward_rejects_drop_prob_outside_0_1_naming_the_value(bad):
    with pytest.raises(ValueError, match="drop_prob") as info:
        dropout_forward(np.ones(3), bad, rng=np.random.default_rng(0), training=True)
    assert str(bad) in str(info.value)


@pytest.mark.parametrize("bad", ["0.5", None, True])
def test_forward_rejects_a_non_number_drop_prob(bad):
    with pytest.raises(TypeError, match="drop_prob"):
        dropout_forward(np.ones(3), bad, rng=np.random.default_rng(0), training=True)


@pytest.mark.parametrize("bad_rng", [None, 0, np.random, np.random.RandomState(0)])
@pytest.mark.parametrize("training", [True, False])
def test_forward_requires_a_generator(bad_rng, training):
    with pytest.raises(TypeError, match="rng must be a numpy random Generator"):
        dropout_forward(np.ones(3), 0.5, rng=bad_rng, training=training)


def test_forward_rng_and_training_are_required_keywords():
    with pytest.raises(TypeError):
        dropout_forward(np.ones(3), 0.5, training=True)  # no rng
    with pytest.raises(TypeError):
        dropout_forward(np.ones(3), 0.5, np.random.default_rng(0), True)  # positional


@pytest.mark.parametrize("bad_x, error", [([1.0, 2.0], TypeError), (np.arange(3), TypeError),
                                          (np.zeros((0, 3)), ValueError)])
def test_forward_rejects_bad_x_naming_it(bad_x, error):
    with pytest.raises(error, match="x"):
        dropout_forward(bad_x, 0.5, rng=np.random.default_rng(0), training=True)


# ----------------------------------------------------------------------------- dropout_backward

def test_backward_multiplies_by_the_same_scaled_mask():
    dout = np.array([[1.0, -2.0, 3.0], [4.0, 5.0, -6.0]])
    mask = np.array([[2.0, 0.0, 2.0], [0.0, 2.0, 2.0]])  # drop_prob 0.5: entries 0 or 1/0.5
    np.testing.assert_array_equal(dropout_backward(dout, mask), [[2.0, 0.0, 6.0], [0.0, 10.0, -12.0]])


def test_backward_with_no_mask_passes_the_gradient_through():
    dout = np.random.default_rng(13).standard_normal((4, 3)).astype(np.float32)
    dx = dropout_backward(dout, None)
    np.testing.assert_array_equal(dx, dout)
    assert dx.dtype == np.float32


def test_backward_rejects_a_mask_that_does_not_fit():
    with pytest.raises(ValueError, match=r"mask of shape \(3, 2\).*dout of shape \(2, 3\)"):
        dropout_backward(np.ones((2, 3)), np.ones((3, 2)))


def test_backward_rejects_a_non_array_dout():
    with pytest.raises(TypeError, match="dout"):
        dropout_backward([1.0, 2.0], None)


# ----------------------------------------------------------------------------- Dropout layer

@pytest.mark.parametrize("drop_prob", [0.0, 0.3, 0.8])
def test_layer_passes_a_float64_gradient_check_with_a_fixed_mask(drop_prob):
    x = np.random.default_rng(14).standard_normal((6, 9))
    errors = check_layer_gradients(Dropout(drop_prob, rng=np.random.default_rng(15)), x,
                                   rng=np.random.default_rng(16))
    assert errors["x"] < 1e-8, errors


def test_layer_gradient_check_fails_for_a_layer_that_redraws_its_mask_in_backward():
    """The gradient check can fail: a backward with a new mask is caught."""
    class RedrawingDropout(Dropout):
        def backward(self, dout):
            _, mask = dropout_forward(np.ones_like(dout), self.drop_prob, rng=self.rng, training=True)
            return dout * mask

    x = np.random.default_rng(17).standard_normal((6, 9))
    errors = check_layer_gradients(RedrawingDropout(0.5, rng=np.random.default_rng(18)), x,
                                   rng=np.random.default_rng(19))
    assert errors["x"] > 0.5


def test_layer_backward_uses_the_mask_of_its_forward_pass():
    layer = Dropout(0.4, rng=np.random.default_rng(20))
    x = np.random.default_rng(21).uniform(1.0, 2.0, size=(50, 40))  # never zero, so out / x recovers the mask
    out = layer.forward(x, training=True)
    dout = np.random.default_rng(22).standard_normal(x.shape)
    np.testing.assert_allclose(layer.backward(dout), dout * (out / x), rtol=1e-12)


def test_layer_draws_a_fresh_mask_every_training_pass_and_is_the_identity_in_evaluation():
    layer = Dropout(0.5, rng=np.random.default_rng(23))
    x = np.ones((20, 30), dtype=np.float32)
    passes = [layer.forward(x, training=True) for _ in range(3)]
    assert not np.array_equal(passes[0], passes[1]) and not np.array_equal(passes[1], passes[2])
    assert all(p.dtype == np.float32 for p in passes)
    evaluated = layer.forward(x, training=False)
    np.testing.assert_array_equal(evaluated, x)
    dout = np.random.default_rng(24).standard_normal(x.shape).astype(np.float32)
    np.testing.assert_array_equal(layer.backward(dout), dout)


def test_layer_training_mean_matches_the_input_mean():
    x = np.random.default_rng(25).standard_normal((1000, 200)) + 1.0
    out = Dropout(0.6, rng=np.random.default_rng(26)).forward(x, training=True)
    standard_error = math.sqrt(np.sum(x ** 2) * 0.6 / 0.4) / x.size
    assert abs(out.mean() - x.mean()) < 5 * standard_error
    assert abs(np.mean(out == 0) - 0.6) < binomial_bound(0.6, x.size)


def test_layer_with_drop_prob_one_outputs_and_backpropagates_zeros():
    layer = Dropout(1.0, rng=np.random.default_rng(27))
    x = np.random.default_rng(28).standard_normal((5, 4))
    with np.errstate(all="raise"):
        out = layer.forward(x, training=True)
        dx = layer.backward(np.ones_like(x))
    assert not out.any() and not dx.any()


def test_layer_backward_before_forward_and_a_wrong_dout_shape_are_errors():
    layer = Dropout(0.5, rng=np.random.default_rng(29))
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones((2, 3)))
    layer.forward(np.ones((2, 3)), training=True)
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        layer.backward(np.ones((3, 2)))


@pytest.mark.parametrize("bad", [1.01, -0.5, float("nan")])
def test_layer_rejects_a_bad_drop_prob_naming_the_value(bad):
    with pytest.raises(ValueError, match="drop_prob") as info:
        Dropout(bad, rng=np.random.default_rng(0))
    assert str(bad) in str(info.value)


@pytest.mark.parametrize("bad_rng", [None, 42])
def test_layer_requires_a_generator(bad_rng):
    with pytest.raises(TypeError, match="rng"):
        Dropout(0.5, rng=bad_rng)
    with pytest.raises(TypeError):
        Dropout(0.5)  # rng is required


def test_layer_in_a_model_makes_predict_deterministic():
    rng = np.random.default_rng(30)
    model = Sequential(Dense(3, 16, rng=rng), ReLU(), Dropout(0.5, rng=rng), Dense(16, 1, rng=rng))
    x = rng.standard_normal((8, 3)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(x), model.predict(x))
    assert not np.array_equal(model.forward(x, training=True), model.forward(x, training=True))
    assert repr(Dropout(0.25, rng=rng)) == "Dropout(drop_prob=0.25)"


# ----------------------------------------------------------------------------- MC dropout helpers

def _small_model(drop_prob, seed=31):
    rng = np.random.default_rng(seed)
    layers = [Dense(2, 32, rng=rng), ReLU()]
    layers += [Dropout(drop_prob, rng=rng)] if drop_prob else []
    return Sequential(*layers, Dense(32, 1, rng=rng))


def test_mc_dropout_predict_averages_stochastic_passes():
    X = np.random.default_rng(32).standard_normal((40, 2)).astype(np.float32)
    plain = _small_model(0.0)
    mean, std = plots.mc_dropout_predict(plain, X, n_passes=5)
    assert mean.shape == std.shape == (40,)
    np.testing.assert_allclose(mean, sigmoid(plain.predict(X).ravel()), rtol=1e-6)  # no dropout: every pass agrees
    np.testing.assert_allclose(std, 0.0, atol=1e-7)
    # with dropout: the same as averaging the passes by hand, with an equally seeded copy of the model
    by_hand_model, helper_model = _small_model(0.5, seed=33), _small_model(0.5, seed=33)
    by_hand = np.stack([sigmoid(by_hand_model.forward(X, training=True).ravel()) for _ in range(30)])
    mean, std = plots.mc_dropout_predict(helper_model, X, n_passes=30)
    np.testing.assert_allclose(mean, by_hand.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(std, by_hand.std(axis=0), rtol=1e-5, atol=1e-7)
    assert std.mean() > 0.01


@pytest.mark.parametrize("bad", [1, 0, 2.5, True])
def test_mc_dropout_predict_rejects_bad_n_passes(bad):
    with pytest.raises(ValueError, match="n_passes"):
        plots.mc_dropout_predict(_small_model(0.5), np.zeros((3, 2), np.float32), n_passes=bad)


def test_plot_mc_dropout_uncertainty_draws_on_the_given_axes():
    import matplotlib.pyplot as plt
    X = np.random.default_rng(34).standard_normal((30, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    fig, ax = plt.subplots()
    assert plots.plot_mc_dropout_uncertainty(_small_model(0.5), X, y, n_passes=4, resolution=20, ax=ax,
                                             title="t") is ax
    assert ax.get_title() == "t" and ax.collections
    plt.close(fig)


# ----------------------------------------------------------------------------- the forward checker

def _keep_prob_zero_safe(keep, keep_prob, dtype):
    return np.zeros(keep.shape, dtype) if keep_prob == 0 else keep.astype(dtype) / dtype.type(keep_prob)


def forward_binomial(x, drop_prob, *, rng, training):
    """Correct, but draws the mask with rng.binomial."""
    if not training:
        return x, None
    keep_prob = 1.0 - drop_prob
    mask = _keep_prob_zero_safe(rng.binomial(1, keep_prob, size=x.shape) == 1, keep_prob, x.dtype)
    return x * mask, mask


def forward_uniform_transposed(x, drop_prob, *, rng, training):
    """Correct, but draws uniforms in the transposed shape and keeps where u >= drop_prob."""
    if not training:
        return x, None
    keep = rng.uniform(0.0, 1.0, size=x.shape[::-1]).T >= drop_prob
    mask = _keep_prob_zero_safe(keep, 1.0 - drop_prob, x.dtype)
    return (x / x.dtype.type(1.0 - drop_prob) * keep if drop_prob < 1 else x * mask), mask


def forward_permuted(x, drop_prob, *, rng, training):
    """Correct, and very different: draws how many entries to keep, Binomial(n, keep_prob), then which,
    by a random permutation. (Jointly that is exactly n independent Bernoulli(keep_prob) draws.)"""
    if not training:
        return x, None
    keep_prob = 1.0 - drop_prob
    n_kept = rng.binomial(x.size, keep_prob)
    keep = np.zeros(x.size, dtype=bool)
    keep[rng.permutation(x.size)[:n_kept]] = True
    mask = _keep_prob_zero_safe(keep.reshape(x.shape), keep_prob, x.dtype)
    return x * mask, mask


def _skipping(k):
    def forward_after_k_draws(x, drop_prob, *, rng, training):
        rng.random(k)  # burns k draws: a different, equally valid, mask
        return dropout_forward(x, drop_prob, rng=rng, training=training)
    return forward_after_k_draws


@pytest.mark.parametrize("fn", [dropout_forward, forward_binomial, forward_uniform_transposed, forward_permuted],
                         ids=lambda f: f.__name__)
def test_forward_checker_accepts_correct_implementations_drawing_differently(fn):
    result = run_check(FORWARD, fn)
    assert result.status == "passed", result.message
    assert result.implementation is fn


@pytest.mark.parametrize("k", range(1, 13))
def test_forward_checker_accepts_the_reference_whatever_the_draws(k):
    """Twelve other mask draws: the statistical bounds are not tuned to one lucky draw."""
    result = run_check(FORWARD, _skipping(k))
    assert result.status == "passed", result.message


# The catalogued mistakes, written again the way a learner might (drawing differently from the
# catalogue's versions): the checker must still name the mistake, since it does not match draws.

def mistake_forgot_rescale_binomial(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    mask = rng.binomial(1, 1 - drop_prob, size=x.shape).astype(x.dtype)
    return x * mask, mask


def mistake_divide_by_drop_prob_uniform(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    with np.errstate(all="ignore"):
        mask = (rng.uniform(size=x.shape) >= drop_prob).astype(x.dtype) / x.dtype.type(drop_prob)
    return x * mask, mask


def mistake_greater_than_drop_prob_reversed(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    keep_prob = 1 - drop_prob
    keep = rng.random(x.shape) < drop_prob  # keeps a fraction drop_prob
    mask = _keep_prob_zero_safe(keep, keep_prob, x.dtype)
    return x * mask, mask


def mistake_always_drops(x, drop_prob, *, rng, training):
    return forward_binomial(x, drop_prob, rng=rng, training=True)


def mistake_vanilla_test_scaling(x, drop_prob, *, rng, training):
    if not training:
        return x * (1 - drop_prob), None
    return forward_binomial(x, drop_prob, rng=rng, training=True)


def mistake_seeded_inside(x, drop_prob, *, rng, training):
    return forward_binomial(x, drop_prob, rng=np.random.default_rng(1234), training=training)


def mistake_nan_binomial(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    keep_prob = 1 - drop_prob
    with np.errstate(all="ignore"):
        mask = rng.binomial(1, keep_prob, size=x.shape).astype(x.dtype) / x.dtype.type(keep_prob)
    return x * mask, mask


LEARNER_MISTAKES = {
    "forgot_rescale": mistake_forgot_rescale_binomial,
    "rescale_by_drop_prob": mistake_divide_by_drop_prob_uniform,
    "greater_than_keeps_drop_prob": mistake_greater_than_drop_prob_reversed,
    "dropout_at_eval": mistake_always_drops,
    "scaled_at_eval": mistake_vanilla_test_scaling,
    "fixed_mask": mistake_seeded_inside,
    "nan_at_drop_prob_1": mistake_nan_binomial,
}


def test_the_issue_s_mistakes_are_all_catalogued():
    catalogued = set(get_exercise(FORWARD).mistakes)
    assert {"forgot_rescale", "rescale_by_drop_prob", "dropout_at_eval", "greater_than_keeps_drop_prob"} <= catalogued
    assert "new_mask_in_backward" in get_exercise(BACKWARD).mistakes
    assert set(LEARNER_MISTAKES) == catalogued


@pytest.mark.parametrize("key", sorted(LEARNER_MISTAKES))
def test_forward_checker_names_each_mistake_however_it_draws(key):
    for fn in (mistake(FORWARD, key), LEARNER_MISTAKES[key]):
        result = run_check(FORWARD, fn)
        assert result.status == "failed", result.message
        assert result.mistake_key == key, result.message
        assert get_exercise(FORWARD).mistakes[key].hint in result.message
        assert result.implementation is dropout_forward


_seeds = itertools.count(100)


def forward_fresh_generator_each_call(x, drop_prob, *, rng, training):
    """Ignores rng: a new mask every call, but not reproducible from the seed it was given."""
    return dropout_forward(x, drop_prob, rng=np.random.default_rng(next(_seeds)), training=training)


def forward_mask_per_row(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    keep_prob = 1 - drop_prob
    mask = _keep_prob_zero_safe(rng.random((x.shape[0], 1)) < keep_prob, keep_prob, x.dtype)
    return x * mask, np.broadcast_to(mask, x.shape).copy()


def forward_returns_boolean_mask(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    keep = rng.random(x.shape) < 1 - drop_prob
    return (x * keep / (1 - drop_prob) if drop_prob < 1 else np.zeros_like(x)).astype(x.dtype), keep


def forward_mask_in_eval(x, drop_prob, *, rng, training):
    if not training:
        return x, np.ones_like(x)
    return dropout_forward(x, drop_prob, rng=rng, training=True)


def forward_loses_float32(x, drop_prob, *, rng, training):
    out, mask = dropout_forward(x.astype(np.float64), drop_prob, rng=rng, training=training)
    return out, mask


@pytest.mark.parametrize("fn, words", [
    (forward_fresh_generator_each_call, "do not all come from rng"),
    (forward_mask_per_row, "rows and"),
    (forward_returns_boolean_mask, "out is not x * mask"),
    (forward_mask_in_eval, "return (x, None)"),
    (forward_loses_float32, "x's shape and dtype"),
], ids=lambda v: getattr(v, "__name__", "words"))
def test_forward_checker_rejects_other_wrong_answers_with_a_reason(fn, words):
    result = run_check(FORWARD, fn)
    assert result.status == "failed", result.message
    assert result.mistake_key is None
    assert words in result.message, result.message


# ----------------------------------------------------------------------------- the backward checker

def backward_where(dout, mask):
    return dout if mask is None else np.where(mask != 0, dout * mask, np.zeros_like(dout))


def backward_multiply_out(dout, mask):
    if mask is None:
        return dout.copy()
    return np.multiply(dout, mask, dtype=dout.dtype)


@pytest.mark.parametrize("fn", [dropout_backward, backward_where, backward_multiply_out], ids=lambda f: f.__name__)
def test_backward_checker_accepts_correct_implementations(fn):
    result = run_check(BACKWARD, fn)
    assert result.status == "passed", result.message


def backward_redraws_with_binomial(dout, mask):
    keep_prob = 1.0 / mask.max()
    fresh = np.random.default_rng(99).binomial(1, keep_prob, size=dout.shape) / keep_prob
    return dout * fresh.astype(dout.dtype)


@pytest.mark.parametrize("key", sorted(get_exercise(BACKWARD).mistakes))
def test_backward_checker_names_each_mistake(key):
    result = run_check(BACKWARD, mistake(BACKWARD, key))
    assert result.status == "failed" and result.mistake_key == key, result.message
    assert get_exercise(BACKWARD).mistakes[key].hint in result.message


def test_backward_checker_recognizes_a_new_mask_however_it_is_drawn():
    result = run_check(BACKWARD, backward_redraws_with_binomial)
    assert result.mistake_key == "new_mask_in_backward", result.message


def backward_in_place(dout, mask):
    if mask is None:
        return dout
    dout *= mask
    return dout


def backward_crashes_on_none(dout, mask):
    return dout * mask.astype(dout.dtype)


def backward_rescales_twice(dout, mask):
    return dout if mask is None else dout * mask * mask.max()


@pytest.mark.parametrize("fn, words", [
    (backward_in_place, "changed its inputs in place"),
    (backward_crashes_on_none, "AttributeError"),
    (backward_rescales_twice, "dx should be dout * mask"),
], ids=lambda v: getattr(v, "__name__", "words"))
def test_backward_checker_rejects_other_wrong_answers_with_a_reason(fn, words):
    result = run_check(BACKWARD, fn)
    assert result.status == "failed", result.message
    assert words in result.message, result.message


def test_dropout_backward_mask_must_broadcast_to_dout_not_the_other_way():
    dout = np.ones((2, 3, 4, 4))
    np.testing.assert_array_equal(dropout_backward(dout, np.full((2, 3, 1, 1), 2.0)), 2 * dout)  # spatial mask
    for mask in (np.ones(()), np.ones((3, 4, 4)), np.ones((2, 3, 4, 4, 1))):
        with pytest.raises(ValueError, match=r"dropout_backward: mask of shape .* does not fit dout of shape"):
            dropout_backward(dout, mask)
    with pytest.raises(ValueError, match=r"mask must hold 0 or 1/keep_prob \(finite, >= 0\)"):
        dropout_backward(dout, np.full((2, 3, 1, 1), np.nan))
