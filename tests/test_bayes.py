"""The Bayes limits of the noisy-moons set (coursekit.datasets), checked against its generator.

The posterior and the limits are computed from the generator's model (arcs, Gaussian noise,
flipped labels); these tests draw fresh samples the way data/make_noisy_moons.py does and
compare. Monte-Carlo tolerances are 4.5 standard errors, so a correct implementation fails
about once in 150,000 runs and the samples are seeded (a run always gives the same verdict).
"""
import runpy
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_moons

from coursekit import datasets

ROOT = Path(__file__).resolve().parent.parent
N_FRESH = 250_000


def fresh_samples(n, *, noise=datasets.NOISY_MOONS_NOISE, label_flip=datasets.NOISY_MOONS_LABEL_FLIP, seed=7):
    """New points from the generator of data/make_noisy_moons.py (make_moons, then flipped labels)."""
    rng = np.random.default_rng(seed)
    X, y = make_moons(n_samples=n, noise=noise, random_state=int(rng.integers(2**31)))
    flip = rng.random(n) < label_flip
    return X, np.where(flip, 1 - y, y)


@pytest.fixture(scope="module")
def fresh():
    X, y = fresh_samples(N_FRESH)
    return X, y, datasets.noisy_moons_posterior(X)


@pytest.fixture(scope="module")
def limits():
    return datasets.noisy_moons_bayes_limits()


def test_constants_are_the_generators():
    generator = runpy.run_path(str(ROOT / "data" / "make_noisy_moons.py"), run_name="not_main")
    assert generator["NOISE"] == datasets.NOISY_MOONS_NOISE
    assert generator["LABEL_FLIP"] == datasets.NOISY_MOONS_LABEL_FLIP


def test_bayes_accuracy_matches_the_bayes_rule_on_fresh_samples(fresh, limits):
    X, y, posterior = fresh
    hits = ((posterior > 0.5) == y).astype(float)
    se = hits.std() / np.sqrt(len(hits))
    assert abs(hits.mean() - limits.accuracy) < 4.5 * se, (hits.mean(), limits.accuracy, se)


def test_bayes_loss_matches_the_cross_entropy_of_the_posterior_on_fresh_samples(fresh, limits):
    X, y, posterior = fresh
    losses = -np.where(y == 1, np.log(posterior), np.log1p(-posterior))
    se = losses.std() / np.sqrt(len(losses))
    assert abs(losses.mean() - limits.loss) < 4.5 * se, (losses.mean(), limits.loss, se)


def test_posterior_is_calibrated_on_fresh_samples(fresh):
    """Among points given probability ~p of class 1, a share ~p has label 1 (ten bins)."""
    X, y, posterior = fresh
    edges = np.quantile(posterior, np.linspace(0, 1, 11))
    bins = np.clip(np.searchsorted(edges, posterior, side="right") - 1, 0, 9)
    for b in range(10):
        in_bin = bins == b
        predicted, observed = posterior[in_bin].mean(), y[in_bin].mean()
        se = np.sqrt(predicted * (1 - predicted) / in_bin.sum())
        assert abs(observed - predicted) < 4.5 * se + 1e-3, (b, predicted, observed)


def test_no_simple_rival_beats_the_bayes_rule_on_fresh_samples(fresh):
    """Moving the decision threshold either way costs accuracy (the rule is a maximum)."""
    X, y, posterior = fresh
    best = np.mean((posterior > 0.5) == y)
    for threshold in (0.35, 0.65):
        assert np.mean((posterior > threshold) == y) < best - 0.002


def test_the_frozen_data_set_fits_the_model():
    """The Bayes rule on all 1,150 points of data/noisy_moons.csv scores within 4.5 SE of the Bayes accuracy."""
    data = datasets.load_noisy_moons()
    X = np.concatenate([data.X_train, data.X_val, data.X_test])
    y = np.concatenate([data.y_train, data.y_val, data.y_test])
    accuracy = np.mean((datasets.noisy_moons_posterior(X) > 0.5) == y)
    expected = datasets.noisy_moons_bayes_limits().accuracy
    assert abs(accuracy - expected) < 4.5 * np.sqrt(expected * (1 - expected) / len(y))


def test_posterior_has_the_moons_point_symmetry():
    """Class 1's arc is class 0's turned half a turn about (1/2, 1/4): P(1 | x) = 1 - P(1 | x')."""
    X = np.random.default_rng(0).uniform([-2, -2], [3, 2.5], size=(500, 2))
    mirrored = np.array([1.0, 0.5]) - X
    np.testing.assert_allclose(datasets.noisy_moons_posterior(mirrored), 1 - datasets.noisy_moons_posterior(X),
                               atol=1e-12)


def test_posterior_stays_within_the_flip_rate_and_finite_far_away():
    X = np.array([[1e6, -1e6], [-1e3, 1e3], [0.0, 1.0], [1.0, -0.5], [0.5, 0.25]])
    p = datasets.noisy_moons_posterior(X)
    assert np.all(np.isfinite(p))
    assert np.all(p >= 0.1 - 1e-12) and np.all(p <= 0.9 + 1e-12)
    assert p[2] < 0.15 and p[3] > 0.85  # on the middle of each arc
    assert p[4] == pytest.approx(0.5)   # the centre of symmetry


@pytest.mark.parametrize("label_flip", [0.0, 0.1, 0.3])
def test_limits_in_known_cases(label_flip):
    # With little noise the moons (0.5 apart where closest, 10 noise sds) are separable:
    # accuracy 1 - flip, loss the entropy of the flip.
    sharp = datasets.noisy_moons_bayes_limits(noise=0.05, label_flip=label_flip, step=0.01)
    entropy = 0.0 if label_flip == 0 else -(label_flip * np.log(label_flip)
                                            + (1 - label_flip) * np.log(1 - label_flip))
    assert sharp.accuracy == pytest.approx(1 - label_flip, abs=1e-4)
    assert sharp.loss == pytest.approx(entropy, abs=1e-4)


def test_flipping_labels_scales_the_clean_accuracy():
    """accuracy(f) = f + (1 - 2f) accuracy(0): a flipped label is right exactly when the rule is wrong."""
    clean = datasets.noisy_moons_bayes_limits(label_flip=0.0).accuracy
    noisy = datasets.noisy_moons_bayes_limits(label_flip=0.1).accuracy
    assert noisy == pytest.approx(0.1 + 0.8 * clean, abs=1e-12)
    coin = datasets.noisy_moons_bayes_limits(label_flip=0.5)
    assert coin.accuracy == pytest.approx(0.5, abs=1e-9) and coin.loss == pytest.approx(np.log(2), abs=1e-9)


def test_more_noise_lowers_the_ceiling():
    values = [datasets.noisy_moons_bayes_limits(noise=s).accuracy for s in (0.15, 0.25, 0.35)]
    assert values[0] > values[1] > values[2]


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"X must have shape \(N, 2\)"):
        datasets.noisy_moons_posterior(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="X must be 2-D"):
        datasets.noisy_moons_posterior(np.zeros(4))
    with pytest.raises(ValueError, match="non-finite"):
        datasets.noisy_moons_posterior(np.array([[np.nan, 0.0]]))
    with pytest.raises(TypeError, match="X must have a floating dtype"):
        datasets.noisy_moons_posterior(np.zeros((2, 2), dtype=int))
    with pytest.raises(ValueError, match="noise must be > 0"):
        datasets.noisy_moons_bayes_limits(noise=0.0)
    with pytest.raises(ValueError, match=r"label_flip must be in \[0.0, 1.0\]"):
        datasets.noisy_moons_posterior(np.zeros((1, 2)), label_flip=1.5)
    with pytest.raises(ValueError, match="step"):
        datasets.noisy_moons_bayes_limits(step=0.0001)


def test_bayes_scores_on_points_match_the_posterior():
    data = datasets.load_noisy_moons()
    loss, accuracy = datasets.noisy_moons_bayes_scores(data.X_val, data.y_val)
    p = datasets.noisy_moons_posterior(data.X_val)
    assert accuracy == np.mean((p > 0.5) == data.y_val)
    assert loss == pytest.approx(np.mean(-np.log(np.where(data.y_val == 1, p, 1 - p))), rel=1e-12)
    with pytest.raises(ValueError, match="one label 0 or 1 per row"):
        datasets.noisy_moons_bayes_scores(data.X_val, data.y_val[:-1])
    with pytest.raises(ValueError, match="one label 0 or 1 per row"):
        datasets.noisy_moons_bayes_scores(data.X_val, data.y_val + 1)
