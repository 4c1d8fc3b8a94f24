"""coursekit.heldout: the one switch from which every lesson derives its seeds and data draws."""
import numpy as np
import pytest

from coursekit import datasets, heldout
from coursekit.experiments import bootstrap_interval, compare_paired, run_grid, sign_test


def test_default_and_environment(monkeypatch):
    monkeypatch.delenv(heldout.ENV_VARIABLE, raising=False)
    assert heldout.heldout_seed() == heldout.DEFAULT_HELDOUT_SEED
    held = heldout.for_lesson("04")
    assert held.value == heldout.DEFAULT_HELDOUT_SEED and held.source == "default"
    assert "committed default" in str(held)
    monkeypatch.setenv(heldout.ENV_VARIABLE, " 12345 ")
    held = heldout.for_lesson("04")
    assert (held.value, held.source) == (12345, "environment")
    assert "from COURSEKIT_HELDOUT_SEED" in str(held)
    monkeypatch.setenv(heldout.ENV_VARIABLE, "")
    assert heldout.heldout_seed() == heldout.DEFAULT_HELDOUT_SEED


@pytest.mark.parametrize("raw", ["-3", "1.5", "abc", "1e3", "٣"])
def test_bad_environment_value_is_a_clear_error(monkeypatch, raw):
    monkeypatch.setenv(heldout.ENV_VARIABLE, raw)
    with pytest.raises(ValueError, match=r"COURSEKIT_HELDOUT_SEED must be a non-negative integer.*got"):
        heldout.for_lesson("04")


def test_streams_are_reproducible_distinct_and_prefix_stable():
    a, b = heldout.for_lesson("04", value=7), heldout.for_lesson("04", value=7)
    assert a.seeds("training", 10) == b.seeds("training", 10)
    assert a.seeds("training", 3) == a.seeds("training", 10)[:3]  # asking for more changes none of the first
    assert len(set(a.seeds("training", 1000))) == 1000
    assert set(a.seeds("training", 20)).isdisjoint(a.seeds("draws", 20))
    assert set(a.seeds("training", 20)).isdisjoint(heldout.for_lesson("05", value=7).seeds("training", 20))
    assert set(a.seeds("training", 20)).isdisjoint(heldout.for_lesson("04", value=8).seeds("training", 20))
    assert all(0 <= s < 2**32 for s in a.seeds("x", 100))
    np.testing.assert_array_equal(a.rng("boot").random(4), b.rng("boot").random(4))


def test_names_are_not_ambiguous():
    # ('ab', 'c') and ('a', 'bc') must not collide: the lengths are part of the entropy
    assert heldout.for_lesson("ab", value=1).seeds("c", 5) != heldout.for_lesson("a", value=1).seeds("bc", 5)


def test_grid_pairs_each_draw_with_its_own_training_seeds():
    cells = heldout.for_lesson("03", value=3).grid(draws=4, seeds=3)
    assert len(cells) == 12
    draws = [d for d, _ in cells]
    assert draws == sorted(draws, key=draws.index) and len(set(draws)) == 4
    assert all(draws.count(d) == 3 for d in set(draws))
    assert len({s for _, s in cells}) == 12


@pytest.mark.parametrize("kwargs,exc", [({"value": -1}, ValueError), ({"value": 2**32}, ValueError),
                                        ({"value": 1.0}, TypeError)])
def test_bad_values(kwargs, exc):
    with pytest.raises(exc, match="value"):
        heldout.for_lesson("04", **kwargs)
    with pytest.raises(TypeError, match="lesson must be a non-empty string"):
        heldout.for_lesson(4)
    with pytest.raises(TypeError, match="name of a seed stream"):
        heldout.for_lesson("04", value=1).seeds("", 2)


def test_moons_draws_change_the_data_and_keep_the_generator():
    held = heldout.for_lesson("00", value=11)
    first, second = (datasets.load_noisy_moons(draw=d) for d in held.seeds("draws", 2))
    assert not np.array_equal(first.X_train, second.X_train)
    again = datasets.load_noisy_moons(draw=held.seeds("draws", 1)[0])
    np.testing.assert_array_equal(first.X_test, again.X_test)
    bigger = datasets.load_noisy_moons(draw=held.seeds("draws", 1)[0], n_train=300)
    np.testing.assert_array_equal(first.X_val, bigger.X_val)  # each split from its own stream
    # the generator is the one the Bayes ceiling describes: its accuracy on 100k fresh points
    X, y = datasets.make_noisy_moons(100_000, rng=np.random.default_rng(5))
    _, accuracy = datasets.noisy_moons_bayes_scores(X.astype(np.float64), y)
    limits = datasets.noisy_moons_bayes_limits()
    assert abs(accuracy - limits.accuracy) < 4 * np.sqrt(limits.accuracy * (1 - limits.accuracy) / 100_000)


def test_make_noisy_moons_shapes_balance_and_flips():
    X, y = datasets.make_noisy_moons(1001, rng=np.random.default_rng(0), noise=1e-9, label_flip=0.0)
    assert X.shape == (1001, 2) and X.dtype == np.float32 and y.dtype == np.intp
    assert np.sum(y == 0) == 500
    on_arc0 = np.isclose(np.hypot(X[:, 0], X[:, 1]), 1.0, atol=1e-6)
    assert np.all(on_arc0[y == 0])  # (almost) no noise: every class-0 point is on its arc
    _, flipped = datasets.make_noisy_moons(20_000, rng=np.random.default_rng(1), label_flip=1.0)
    _, clean = datasets.make_noisy_moons(20_000, rng=np.random.default_rng(1), label_flip=0.0)
    assert np.array_equal(flipped, 1 - clean)
    with pytest.raises(ValueError, match="label_flip"):
        datasets.make_noisy_moons(10, rng=np.random.default_rng(0), label_flip=1.5)
    with pytest.raises(ValueError, match="pass draw=<seed>"):
        datasets.load_noisy_moons(n_train=20)


def test_digits_label_noise_flips_only_training_labels():
    clean = datasets.load_digits(n_train=300, seed=4)
    noisy = datasets.load_digits(n_train=300, seed=4, label_noise=0.2)
    changed = noisy.y_train != clean.y_train
    assert changed.sum() == 60
    np.testing.assert_array_equal(noisy.y_val, clean.y_val)
    np.testing.assert_array_equal(noisy.X_train, clean.X_train)
    other = datasets.load_digits(n_train=300, seed=5, label_noise=0.2)
    assert not np.array_equal(other.X_train, noisy.X_train)


def test_flip_labels_never_keeps_a_chosen_label_and_leaves_input_alone():
    y = np.arange(1000) % 10
    before = y.copy()
    noisy, idx = datasets.flip_labels(y, 0.3, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(y, before)
    assert len(idx) == 300 and np.all(noisy[idx] != y[idx])
    assert np.array_equal(np.flatnonzero(noisy != y), idx)
    counts = np.bincount((noisy[idx] - y[idx]) % 10, minlength=10)
    assert counts[0] == 0 and counts[1:].min() > 15  # every other class reachable
    with pytest.raises(ValueError, match="class labels in 0..9"):
        datasets.flip_labels(np.array([0, 10]), 0.5, rng=np.random.default_rng(0))


def test_sign_test_exact_values():
    assert sign_test(10, 10) == pytest.approx(1 / 1024)
    assert sign_test(9, 10) == pytest.approx(11 / 1024)
    assert sign_test(0, 10) == 1.0 and sign_test(0, 0) == 1.0
    with pytest.raises(ValueError, match="at most n"):
        sign_test(3, 2)


def test_bootstrap_interval_covers_the_mean_and_resamples_groups():
    rng = np.random.default_rng(0)
    values = rng.normal(1.0, 1.0, 400)
    low, high = bootstrap_interval(values, rng=np.random.default_rng(1))
    assert low < values.mean() < high and 0.1 < high - low < 0.3  # ~ 2 * 1.96 / sqrt(400)
    # Runs sharing a draw are correlated: resampling whole draws gives a wider (honest) interval.
    draw_effect = np.repeat(rng.normal(0.0, 1.0, 10), 40)
    grouped = draw_effect + rng.normal(0.0, 0.1, 400)
    naive = np.diff(bootstrap_interval(grouped, rng=np.random.default_rng(2)))[0]
    honest = np.diff(bootstrap_interval(grouped, rng=np.random.default_rng(2), groups=np.repeat(np.arange(10), 40)))[0]
    assert honest > 4 * naive
    assert bootstrap_interval(values, rng=np.random.default_rng(3)) == bootstrap_interval(values, rng=np.random.default_rng(3))


def test_run_grid_rows_and_pairing_by_draw_and_seed():
    cells = heldout.for_lesson("t", value=0).grid(draws=3, seeds=2)

    def run_with(shift):
        return lambda draw, streams: {"test_loss": (draw % 7) + streams.init.random() - shift}

    a, b = run_grid(run_with(0.5), cells, progress=False), run_grid(run_with(0.0), cells, progress=False)
    assert [(r["draw"], r["seed"]) for r in a] == cells
    c = compare_paired(a, b, "test_loss", names=("a", "b"))
    assert c.wins == 6 and c.draws == tuple(d for d, _ in cells)
    assert c.sign_test_p == pytest.approx(1 / 64)
    assert all(v == pytest.approx(-0.5) for v in c.by_draw().values()) and len(c.by_draw()) == 3
    low, high = c.bootstrap_interval(rng=np.random.default_rng(0))
    assert low == pytest.approx(-0.5) and high == pytest.approx(-0.5)
    with pytest.raises(ValueError, match=r"same \(draw, seed\) cells"):
        compare_paired(a, b[::-1], "test_loss")
    with pytest.raises(ValueError, match="distinct"):
        run_grid(run_with(0), [(1, 2), (1, 2)], progress=False)
    with pytest.raises(TypeError, match=r"\(draw, seed\) pair"):
        run_grid(run_with(0), [1, 2], progress=False)
    with pytest.raises(ValueError, match=r"metric 'test_loss' of draw 1, seed 2 is nan"):
        run_grid(lambda d, s: {"test_loss": float("nan")}, [(1, 2)], progress=False)


def test_browser_budget_switch(monkeypatch):
    monkeypatch.delenv(heldout.BROWSER_BUDGET_VARIABLE, raising=False)
    assert heldout.browser_budget() is False  # natively, unless asked
    monkeypatch.setenv(heldout.BROWSER_BUDGET_VARIABLE, "1")
    assert heldout.browser_budget() is True
    monkeypatch.setenv(heldout.BROWSER_BUDGET_VARIABLE, "yes")
    with pytest.raises(ValueError, match="COURSEKIT_BROWSER_BUDGET must be 0 or 1"):
        heldout.browser_budget()
