"""coursekit.calibration: temperature scaling, reliability bins and ECE on cases whose answer is known."""
import matplotlib
import numpy as np
import pytest

from coursekit.calibration import (T_MAX, T_MIN, expected_calibration_error, fit_temperature, reliability_bins,
                                   temperature_nll, temperature_softmax)
from coursekit.losses import softmax_cross_entropy

matplotlib.use("Agg")


def sampled(n, n_classes=5, *, seed=0, scale=2.0):
    """Logits z (n, C) and labels drawn from softmax(z): the logits are calibrated by construction."""
    rng = np.random.default_rng(seed)
    z = scale * rng.standard_normal((n, n_classes))
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    labels = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    return z, labels


# ---------------------------------------------------------------- the NLL and its derivative

def test_nll_at_temperature_one_is_the_softmax_cross_entropy():
    z, y = sampled(50, seed=1)
    assert temperature_nll(z, y, 1.0)[0] == pytest.approx(softmax_cross_entropy(z, y)[0], rel=1e-12)
    # dividing the logits by T by hand gives the same loss
    assert temperature_nll(z, y, 2.5)[0] == pytest.approx(softmax_cross_entropy(z / 2.5, y)[0], rel=1e-12)


@pytest.mark.parametrize("temperature", [0.05, 0.3, 1.0, 2.0, 40.0])
def test_derivative_in_temperature_matches_central_differences(temperature):
    z, y = sampled(40, seed=2, scale=3.0)
    h = 1e-6 * temperature
    numerical = (temperature_nll(z, y, temperature + h)[0] - temperature_nll(z, y, temperature - h)[0]) / (2 * h)
    analytic = temperature_nll(z, y, temperature)[1]
    assert analytic == pytest.approx(numerical, rel=1e-5, abs=1e-9)


def test_extreme_logits_give_finite_losses_and_derivatives():
    z = np.array([[1e8, -1e8, 0.0], [-5e7, 5e7, 3e7]], dtype=np.float32)
    y = np.array([1, 1])
    for temperature in (1e-2, 1.0, 1e6):
        nll, slope = temperature_nll(z, y, temperature)
        assert np.isfinite(nll) and np.isfinite(slope)
    # the first example is wrong by 2e8 logits: its loss is that margin over T (the log-sum-exp is exact)
    assert temperature_nll(z[:1], y[:1], 1.0)[0] == pytest.approx(2e8, rel=1e-12)
    probs = temperature_softmax(z, 0.5)
    assert np.all(np.isfinite(probs)) and np.allclose(probs.sum(axis=1), 1.0)


# ---------------------------------------------------------------- fitting T

def test_closed_form_case():
    """Four copies of logits (0, 1), three labelled 1: NLL = 3 log(1 + e^-b) + log(1 + e^b) is smallest where
    sigmoid(b) = 3/4, so b = 1/T = ln 3."""
    z = np.tile([0.0, 1.0], (4, 1))
    y = np.array([1, 1, 1, 0])
    assert fit_temperature(z, y) == pytest.approx(1 / np.log(3), rel=1e-9)


@pytest.mark.parametrize("true_temperature", [0.5, 1.0, 3.0])
def test_recovers_the_temperature_that_miscalibrated_calibrated_logits(true_temperature):
    """Labels drawn from softmax(z); the model reports z * t: the fitted T is about t (sampling error ~2%)."""
    z, y = sampled(20_000, seed=3)
    assert fit_temperature(z * true_temperature, y) == pytest.approx(true_temperature, rel=0.05)


def test_scale_equivariance_holds_for_huge_logits():
    """Multiplying the logits by s multiplies the best temperature by s, even at s = 1e6."""
    z, y = sampled(500, seed=4)
    base = fit_temperature(z, y)
    big = fit_temperature(z * 1e6, y, t_min=1e-3, t_max=1e9)
    assert big == pytest.approx(base * 1e6, rel=1e-6)


def test_fitted_temperature_is_the_minimum():
    z, y = sampled(300, seed=5, scale=4.0)
    best = fit_temperature(z, y)
    nll, slope = temperature_nll(z, y, best)
    assert abs(slope) < 1e-8
    for other in (best * 0.9, best * 1.1, best * 0.99, best * 1.01):
        assert temperature_nll(z, y, other)[0] > nll


def test_ends_of_the_search_range():
    separable = np.array([[3.0, 0.0], [0.0, 2.0]])
    assert fit_temperature(separable, np.array([0, 1])) == T_MIN  # every example right: sharper is always better
    assert fit_temperature(separable, np.array([1, 0])) == T_MAX  # every example wrong: the flatter the better
    assert fit_temperature(np.zeros((3, 4)), np.array([0, 1, 2])) == 1.0  # constant rows: T changes nothing
    assert fit_temperature(separable, np.array([0, 1]), t_min=0.2) == 0.2


def test_temperature_cannot_change_the_predictions():
    z, y = sampled(1000, seed=6)
    for temperature in (0.01, 0.37, 1.0, 8.0, 100.0):
        assert np.array_equal(temperature_softmax(z, temperature).argmax(axis=1), z.argmax(axis=1))


def test_float32_logits_and_list_labels_are_accepted():
    z, y = sampled(200, seed=7)
    assert fit_temperature(z.astype(np.float32), list(y)) == pytest.approx(fit_temperature(z, y), rel=1e-5)


# ---------------------------------------------------------------- reliability and ECE

def test_ece_of_hand_made_bins():
    # 10 examples at confidence 0.9, 6 right: one bin, gap 0.3
    p = np.tile([0.9, 0.1], (10, 1))
    y = np.array([0] * 6 + [1] * 4)
    assert expected_calibration_error(p, y) == pytest.approx(0.3)
    # plus 10 at confidence 0.6, all right: second bin, gap 0.4; ECE = (10 * 0.3 + 10 * 0.4) / 20
    p2 = np.vstack([p, np.tile([0.4, 0.6], (10, 1))])
    y2 = np.concatenate([y, np.ones(10, dtype=int)])
    assert expected_calibration_error(p2, y2) == pytest.approx(0.35)
    bins = reliability_bins(p2, y2, n_bins=10)
    assert bins.counts.sum() == 20 and bins.counts[8] == 10 and bins.counts[5] == 10
    assert bins.accuracy[8] == pytest.approx(0.6) and bins.confidence[8] == pytest.approx(0.9)
    assert np.isnan(bins.accuracy[0])  # empty bins are NaN, and left out of the ECE


def test_bins_are_closed_on_the_right():
    """Confidence exactly 0.5 belongs to bin (0.4, 0.5], 1.0 to the last bin."""
    p = np.array([[0.5, 0.5], [1.0, 0.0]])
    bins = reliability_bins(p, np.array([0, 0]), n_bins=10)
    assert bins.counts[4] == 1 and bins.counts[9] == 1


def test_calibrated_samples_have_small_ece_and_overconfident_ones_do_not():
    z, y = sampled(20_000, seed=8)
    assert expected_calibration_error(temperature_softmax(z), y) < 0.02
    assert expected_calibration_error(temperature_softmax(z * 3), y) > 0.1
    assert expected_calibration_error(temperature_softmax(z * 3, fit_temperature(z * 3, y)), y) < 0.02


@pytest.mark.parametrize("call,exc,pattern", [
    (lambda: fit_temperature([[0.0, 1.0]], np.array([0])), TypeError, "logits must be a numpy array"),
    (lambda: fit_temperature(np.zeros((3, 1)), np.zeros(3, int)), ValueError, "at least 2"),
    (lambda: fit_temperature(np.zeros((3, 2)), np.zeros(2, int)), ValueError, r"labels must have shape \(3,\)"),
    (lambda: fit_temperature(np.zeros((3, 2)), np.array([0, 1, 2])), ValueError, r"in \[0, 2\)"),
    (lambda: fit_temperature(np.zeros((3, 2)), np.zeros(3)), TypeError, "integer class indices"),
    (lambda: fit_temperature(np.array([[np.nan, 0.0]]), np.array([0])), ValueError, "non-finite"),
    (lambda: fit_temperature(np.zeros((3, 2)), np.zeros(3, int), t_min=2.0, t_max=1.0), ValueError, "below t_max"),
    (lambda: temperature_nll(np.zeros((3, 2)), np.zeros(3, int), 0.0), ValueError, "temperature must be > 0"),
    (lambda: temperature_softmax(np.zeros((3, 2)), -1), ValueError, "temperature must be > 0"),
    (lambda: expected_calibration_error(np.array([[2.0, 0.0]]), np.array([0])), ValueError, "summing to 1"),
    (lambda: reliability_bins(np.array([[0.5, 0.5]]), np.array([0]), n_bins=0), ValueError, "n_bins"),
])
def test_bad_input_is_named(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_plot_reliability_draws_one_point_per_non_empty_bin_and_overlays():
    import matplotlib.pyplot as plt

    from coursekit.plots import plot_reliability

    z, y = sampled(2000, seed=9)
    ax = plot_reliability(temperature_softmax(z * 3), y, label="before")
    plot_reliability(temperature_softmax(z * 3, 3.0), y, label="after", ax=ax)
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts[0] == "perfect calibration" and texts[1].startswith("before: ECE") and texts[2].startswith("after")
    non_empty = int(np.sum(reliability_bins(temperature_softmax(z * 3), y).counts > 0))
    assert len(ax.collections[0].get_offsets()) == non_empty
    with pytest.raises(TypeError, match="label must be a string"):
        plot_reliability(temperature_softmax(z), y, label=3, ax=ax)
    plt.close("all")
