"""Notebook 08's tour: the committed results (coursekit/capstone_tour.json) match what the code computes.

Fast: the file is the one the current code would write (same configurations, cells, recipe, metrics).
Slow (--full): recompute all of it (about 280 runs) and compare, run by run and on average."""
import subprocess
import sys

import numpy as np
import pytest

from coursekit import capstone
from coursekit.experiments import seed_streams

ACCURACY_TOLERANCE, LOSS_TOLERANCE = 0.01, 0.02  # of a configuration's mean over its 20 runs


@pytest.fixture(scope="module")
def tour():
    return capstone.load_tour()


def test_the_committed_tour_is_the_current_definition(tour):
    names = list(capstone.TOUR) + [f"{name}, true labels" for name in capstone.TOUR_CLEAN]
    assert list(tour["runs"]) == names
    assert tour["configs"] == {name: capstone.TOUR[name.removesuffix(", true labels")] for name in names}
    assert tour["recipe"] == {**vars(capstone.DIGITS_RECIPE), "channels": list(capstone.DIGITS_RECIPE.channels)}
    assert tour["sizes"] == capstone.DIGITS_SIZES and tour["label_noise"] == capstone.LABEL_NOISE
    cells = [tuple(c) for c in capstone.tour_cells()]
    expected_keys = None
    for name, rows in tour["runs"].items():
        assert [(r["draw"], r["seed"]) for r in rows] == cells, f"{name}: not the tour's cells"
        expected_keys = expected_keys or set(rows[0])
        assert all(set(r) == expected_keys for r in rows)
        assert all(np.isfinite(v) for r in rows for v in r.values())


def test_one_committed_run_is_reproduced(tour):
    """The first run of 'augment + L2' recomputed here (the full check is the slow test below)."""
    row = tour["runs"]["augment + L2"][0]
    metrics, _ = capstone.run_digits(capstone.TOUR["augment + L2"], capstone.load_noisy_digits(row["draw"]),
                                     seed_streams(row["seed"]))
    for key in ("es_test_acc", "end_test_acc", "es_memorized", "best_epoch"):
        assert metrics[key] == pytest.approx(row[key], abs=0.02), key


@pytest.mark.slow
def test_recomputing_the_tour_gives_the_committed_results(tour, tmp_path):
    out = tmp_path / "tour.json"
    subprocess.run([sys.executable, "-m", "coursekit.capstone", "--tour", str(out), "--jobs", "2"], check=True,
                   capture_output=True)
    import json

    again = json.loads(out.read_text())
    assert list(again["runs"]) == list(tour["runs"])
    identical = 0
    for name, rows in tour["runs"].items():
        for key in rows[0]:
            if key in ("draw", "seed"):
                continue
            committed = np.array([r[key] for r in rows])
            new = np.array([r[key] for r in again["runs"][name]])
            identical += int(np.sum(np.abs(committed - new) < 1e-6))
            tolerance = LOSS_TOLERANCE if "loss" in key or key.endswith("_T") or "ece" in key else ACCURACY_TOLERANCE
            if key == "best_epoch":
                tolerance = 2.0
            assert abs(committed.mean() - new.mean()) <= tolerance, f"{name}, {key}: {committed.mean()} vs {new.mean()}"
    total = sum(len(rows) * (len(rows[0]) - 2) for rows in tour["runs"].values())
    print(f"{identical} of {total} numbers identical to 1e-6")
