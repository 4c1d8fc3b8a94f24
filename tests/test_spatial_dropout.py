"""Spatial dropout: the coursekit functions/layer, and the notebook-03 exercise checkers
(against the reference, other correct implementations, and each catalogued wrong answer)."""
import itertools

import numpy as np
import pytest

from coursekit.dropout import SpatialDropout2D, spatial_dropout_backward, spatial_dropout_forward
from coursekit.exercises import get_exercise, mistake, run_check

FORWARD, BACKWARD = "spatial_dropout_forward", "spatial_dropout_backward"


# ----------------------------------------------------------------------------- coursekit.dropout (spatial part)

def test_forward_masks_whole_maps_with_the_right_rate_and_scale():
    x = np.ones((400, 10, 3, 4))
    out, mask = spatial_dropout_forward(x, 0.25, rng=np.random.default_rng(0), training=True)
    assert mask.shape == (400, 10, 1, 1)
    # every map is constant (x is all ones): either all 0 or all 1/0.75
    assert np.all(out == out[:, :, :1, :1])
    values = set(np.unique(out).tolist())
    assert values == {0.0, 1 / 0.75}
    fraction = np.mean(out[:, :, 0, 0] == 0)
    assert abs(fraction - 0.25) < 5 * np.sqrt(0.25 * 0.75 / 4000)
    # inverted dropout keeps the expectation: the mean over 4,000 maps is 1 within 5 standard errors
    assert abs(out[:, :, 0, 0].mean() - 1) < 5 * np.sqrt(0.25 / 0.75 / 4000)


def test_forward_eval_is_identity_and_edge_probabilities():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4)).astype(np.float32)
    out, mask = spatial_dropout_forward(x, 0.5, rng=np.random.default_rng(0), training=False)
    assert out is x and mask is None
    out, _ = spatial_dropout_forward(x, 1.0, rng=np.random.default_rng(0), training=True)
    assert np.array_equal(out, np.zeros_like(x)) and out.dtype == np.float32
    out, _ = spatial_dropout_forward(x, 0.0, rng=np.random.default_rng(0), training=True)
    np.testing.assert_array_equal(out, x)


def test_backward_is_dout_times_mask_broadcast():
    dout = np.arange(8.0).reshape(1, 2, 2, 2)
    mask = np.array([0.0, 2.0]).reshape(1, 2, 1, 1)
    expected = np.array([[[[0, 0], [0, 0]], [[8, 10], [12, 14]]]], dtype=float)
    np.testing.assert_array_equal(spatial_dropout_backward(dout, mask), expected)
    np.testing.assert_array_equal(spatial_dropout_backward(dout, None), dout)


def test_layer_draws_a_fresh_mask_each_training_pass():
    layer = SpatialDropout2D(0.5, rng=np.random.default_rng(0))
    x = np.ones((8, 8, 2, 2))
    first, second = layer.forward(x, training=True), layer.forward(x, training=True)
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(layer.forward(x, training=False), x)


@pytest.mark.parametrize("shape", [(4, 3, 8), (4, 3), (1, 2, 3, 4, 5)])
def test_rejects_non_4d_input_naming_the_shape(shape):
    with pytest.raises(ValueError, match=r"\(N, C, H, W\).*" + str(len(shape)) + "-D"):
        spatial_dropout_forward(np.zeros(shape), 0.5, rng=np.random.default_rng(0), training=True)


def test_rejects_bad_probability_and_mismatched_mask():
    with pytest.raises(ValueError, match="drop_prob must be in .*1.5"):
        spatial_dropout_forward(np.zeros((1, 1, 2, 2)), 1.5, rng=np.random.default_rng(0), training=True)
    with pytest.raises(ValueError, match=r"mask must have shape \(2, 3, 1, 1\), got \(2, 3, 4, 4\)"):
        spatial_dropout_backward(np.zeros((2, 3, 4, 4)), np.ones((2, 3, 4, 4)))


# ----------------------------------------------------------------------------- the forward checker

def _binomial_forward(x, drop_prob, *, rng, training):
    """Correct, but draws with rng.binomial and keeps where a draw is 1."""
    if not training:
        return x, None
    if drop_prob == 1:
        return np.zeros_like(x), np.zeros((*x.shape[:2], 1, 1), dtype=x.dtype)
    keep = rng.binomial(1, 1 - drop_prob, size=(x.shape[0], x.shape[1])).astype(x.dtype)
    mask = (keep / (1 - drop_prob)).astype(x.dtype)[:, :, None, None]
    return x * mask, mask


def _uniform_above_forward(x, drop_prob, *, rng, training):
    """Correct, but drops where a uniform draw is *below* drop_prob (the complementary event)."""
    if not training:
        return x, None
    keep_prob = 1.0 - drop_prob
    keep = rng.uniform(size=(x.shape[0], x.shape[1], 1, 1)) >= drop_prob
    mask = np.where(keep, 1.0 / keep_prob if keep_prob else 0.0, 0.0).astype(x.dtype)
    return x * mask, mask


@pytest.mark.parametrize("fn", [spatial_dropout_forward, _binomial_forward, _uniform_above_forward])
def test_forward_checker_accepts_any_correct_implementation(fn):
    result = run_check(FORWARD, fn)
    assert result.status == "passed", result.message


def test_forward_checker_does_not_copy_the_reference_mask():
    # a correct implementation that draws with an unrelated generator of its own still passes,
    # so the check judges masks statistically, not by matching the reference's draws
    def own_generator(x, drop_prob, *, rng, training):
        return _binomial_forward(x, drop_prob, rng=np.random.default_rng(rng.integers(1 << 30) + 99),
                                 training=training)
    assert run_check(FORWARD, own_generator).status == "passed"


@pytest.mark.parametrize("key", sorted(get_exercise(FORWARD).mistakes))
def test_forward_checker_names_each_catalogued_mistake(key):
    result = run_check(FORWARD, mistake(FORWARD, key))
    assert result.status == "failed" and result.mistake_key == key, result.message
    assert get_exercise(FORWARD).mistakes[key].hint in result.message


def _pixels_shared_across_channels(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    mask = (rng.random((x.shape[0], 1, *x.shape[2:])) < 1 - drop_prob) / (1 - drop_prob)
    return x * mask, mask


def _scaled_out_but_unscaled_mask(x, drop_prob, *, rng, training):
    out, mask = spatial_dropout_forward(x, drop_prob, rng=rng, training=training)
    return out, (None if mask is None else (mask > 0).astype(x.dtype))


def _mask_without_trailing_axes(x, drop_prob, *, rng, training):
    out, mask = spatial_dropout_forward(x, drop_prob, rng=rng, training=training)
    return out, (None if mask is None else mask[:, :, 0, 0])


def _float64_mask(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    keep_prob = 1 - drop_prob
    mask = (rng.random((x.shape[0], x.shape[1], 1, 1)) < keep_prob) / keep_prob if keep_prob else 0.0 * x
    return x * mask, mask


_calls = itertools.count()


def _ignores_rng_argument(x, drop_prob, *, rng, training):
    # stands in for np.random.rand(...): a different stream on every call, whatever rng says
    return spatial_dropout_forward(x, drop_prob, rng=np.random.default_rng(next(_calls)), training=training)


def _wrong_rate(x, drop_prob, *, rng, training):
    return spatial_dropout_forward(x, min(1.0, drop_prob * 1.5), rng=rng, training=training)


@pytest.mark.parametrize("fn, expected_key, text", [
    (_pixels_shared_across_channels, "wrong_axis", "wrong axes"),
    (_scaled_out_but_unscaled_mask, None, "out != x * mask"),
    (_mask_without_trailing_axes, None, "shape (N, C, 1, 1)"),
    (_float64_mask, None, "keep x's dtype"),
    (_ignores_rng_argument, None, "identically seeded rng"),
    (_wrong_rate, None, "fraction of zeroed feature maps"),
])
def test_forward_checker_other_wrong_answers(fn, expected_key, text):
    result = run_check(FORWARD, fn)
    assert result.status == "failed", result.message
    assert result.mistake_key == expected_key, result.message
    assert text in result.message


def test_forward_checker_reports_without_dumping_thousands_of_numbers():
    message = run_check(FORWARD, mistake(FORWARD, "per_element_mask")).message
    assert "shape (160, 20, 3, 5)" in message
    assert len(message) < 1500


# ----------------------------------------------------------------------------- the backward checker

def test_backward_checker_accepts_reference_and_an_equivalent_answer():
    assert run_check(BACKWARD, spatial_dropout_backward).status == "passed"

    def where_based(dout, mask):
        return dout if mask is None else np.where(mask != 0, dout * mask, 0).astype(dout.dtype)

    assert run_check(BACKWARD, where_based).status == "passed"


@pytest.mark.parametrize("key", sorted(get_exercise(BACKWARD).mistakes))
def test_backward_checker_names_each_catalogued_mistake(key):
    result = run_check(BACKWARD, mistake(BACKWARD, key))
    assert result.status == "failed" and result.mistake_key == key, result.message


def test_backward_checker_catches_a_wrong_dtype():
    def upcasts(dout, mask):
        return dout.astype(np.float64) if mask is None else (dout * mask).astype(np.float64)

    result = run_check(BACKWARD, upcasts)
    assert result.status == "failed" and "dtype" in result.message
