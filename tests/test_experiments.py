"""coursekit.experiments: seed streams, runs over seeds, paired comparisons and the results table."""
import numpy as np
import pytest

from coursekit.experiments import compare_paired, is_lower_better, results_table, run_seeds, seed_streams, summarize


def test_seed_streams_are_reproducible_and_independent():
    a, b = seed_streams(3), seed_streams(3)
    for name in ("init", "order", "noise"):
        np.testing.assert_array_equal(getattr(a, name).random(5), getattr(b, name).random(5))
    c = seed_streams(3)
    draws = [c.init.random(5), c.order.random(5), c.noise.random(5)]
    assert not np.allclose(draws[0], draws[1]) and not np.allclose(draws[1], draws[2])
    assert not np.allclose(seed_streams(4).init.random(5), seed_streams(3).init.random(5))


def test_drawing_noise_leaves_init_and_order_unchanged():
    plain, noisy = seed_streams(7), seed_streams(7)
    noisy.noise.random(1000)  # e.g. dropout masks drawn in one configuration only
    np.testing.assert_array_equal(plain.init.standard_normal(4), noisy.init.standard_normal(4))
    np.testing.assert_array_equal(plain.order.permutation(10), noisy.order.permutation(10))


def test_run_seeds_records_each_seed_and_its_metrics():
    results = run_seeds(lambda s: {"val_loss": s.seed / 10, "acc": 1}, [2, 0, 5], progress=False)
    assert [r["seed"] for r in results] == [2, 0, 5]
    assert [r["val_loss"] for r in results] == [0.2, 0.0, 0.5]
    assert all(isinstance(r["acc"], float) for r in results)


@pytest.mark.parametrize("seeds,exc,pattern", [
    ([], ValueError, "seeds is empty"),
    ([1, 1], ValueError, "distinct"),
    ([1, -2], ValueError, r"each seed must be an integer >= 0, got -2"),
    ("012", TypeError, "seeds must be a list"),
    ([0.5], TypeError, "each seed must be an integer"),
])
def test_run_seeds_rejects_bad_seeds(seeds, exc, pattern):
    with pytest.raises(exc, match=pattern):
        run_seeds(lambda s: {"x": 1.0}, seeds, progress=False)


@pytest.mark.parametrize("metrics,exc,pattern", [
    ({"val_loss": float("nan")}, ValueError, r"metric 'val_loss' of seed 0 is nan"),
    ({"val_loss": "low"}, TypeError, r"metric 'val_loss' of seed 0 must be a number"),
    ({}, TypeError, "non-empty dict"),
    (None, TypeError, "non-empty dict"),
    ({"seed": 1.0}, ValueError, "must not use the key 'seed'"),
])
def test_run_seeds_rejects_bad_metrics(metrics, exc, pattern):
    with pytest.raises(exc, match=pattern):
        run_seeds(lambda s: metrics, [0], progress=False)


def test_summarize_uses_the_sample_standard_deviation():
    assert summarize([1.0, 2.0, 3.0, 4.0]) == pytest.approx((2.5, np.sqrt(5 / 3)))
    assert summarize([2.0]) == (2.0, 0.0)
    with pytest.raises(ValueError, match="empty"):
        summarize([])


@pytest.mark.parametrize("values,exc,pattern", [
    ([1.0, float("nan")], ValueError, "1 non-finite value"),
    (None, TypeError, "values must be a list or array of numbers, got None"),
    (["a"], TypeError, "values must be numbers"),
    ("12", TypeError, "values must be a list or array"),
])
def test_summarize_rejects_what_it_cannot_average(values, exc, pattern):
    with pytest.raises(exc, match=pattern):
        summarize(values)


def test_compare_paired_counts_wins_in_the_right_direction():
    seeds = [0, 1, 2, 3]
    a = [{"seed": s, "test_loss": v, "test_accuracy": acc} for s, v, acc in zip(seeds, [1.0, 2.0, 3.0, 4.0],
                                                                                [0.9, 0.8, 0.7, 0.6])]
    b = [{"seed": s, "test_loss": v, "test_accuracy": acc} for s, v, acc in zip(seeds, [1.5, 1.0, 3.5, 4.0],
                                                                                [0.8, 0.9, 0.6, 0.6])]
    loss = compare_paired(a, b, "test_loss", names=("dropout", "none"))
    assert loss.lower_is_better and loss.wins == 2 and loss.ties == 1 and loss.n == 4
    np.testing.assert_allclose(loss.differences, [-0.5, 1.0, -0.5, 0.0])
    assert loss.mean_difference == pytest.approx(0.0)
    acc = compare_paired(a, b, "test_accuracy")
    assert not acc.lower_is_better and acc.wins == 2
    text = str(loss)
    assert "dropout better on 2/4 seeds" in text and "lower is better" in text


def test_compare_paired_refuses_unpaired_results():
    a = [{"seed": 0, "loss": 1.0}, {"seed": 1, "loss": 1.0}]
    b = [{"seed": 1, "loss": 1.0}, {"seed": 0, "loss": 1.0}]
    with pytest.raises(ValueError, match="same seeds in the same order"):
        compare_paired(a, b, "loss")
    with pytest.raises(ValueError, match=r"metric 'val_loss' is missing.*\['loss'\]"):
        compare_paired(a, a, "val_loss")
    with pytest.raises(ValueError, match="cannot tell whether 'margin'"):
        compare_paired([{"seed": 0, "margin": 1.0}], [{"seed": 0, "margin": 2.0}], "margin")


def test_is_lower_better_by_name():
    assert is_lower_better("val_loss") and is_lower_better("test_error")
    assert not is_lower_better("val_accuracy") and not is_lower_better("acc")
    with pytest.raises(TypeError, match="metric must be the name of a metric.*3"):
        is_lower_better(3)


def test_results_table_shows_mean_and_sd_per_configuration():
    results = {"none": [{"seed": 0, "val_loss": 1.0, "val_accuracy": 0.80},
                        {"seed": 1, "val_loss": 3.0, "val_accuracy": 0.90}],
               "L2": [{"seed": 0, "val_loss": 0.5, "val_accuracy": 0.85},
                      {"seed": 1, "val_loss": 0.5, "val_accuracy": 0.85}]}
    table = results_table(results, ["val_loss", "val_accuracy"], percent=["val_accuracy"])
    lines = table.splitlines()
    assert lines[0] == "mean ± sd over 2 seeds"
    assert "val_accuracy (%)" in lines[1]
    none_row = next(line for line in lines if line.startswith("none"))
    assert "2.000 ± 1.414" in none_row and "85.0 ± 7.1" in none_row
    assert "0.500 ± 0.000" in next(line for line in lines if line.startswith("L2"))
    with pytest.raises(TypeError, match="non-empty dict"):
        results_table({}, ["val_loss"])
