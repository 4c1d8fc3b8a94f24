"""coursekit.plots.plot_paired_differences: per-seed differences against a baseline, with win counts."""
import matplotlib.pyplot as plt
import numpy as np
import pytest

from coursekit.plots import plot_paired_differences


def results_for(values_by_label, metric="test_acc"):
    return {label: [{"seed": seed, metric: v} for seed, v in enumerate(values)]
            for label, values in values_by_label.items()}


def test_one_row_per_configuration_with_its_per_seed_differences_and_wins():
    results = results_for({"none": [0.80, 0.82, 0.79], "dropout": [0.86, 0.85, 0.84], "BN": [0.79, 0.83, 0.78]})
    ax = plot_paired_differences(results, "test_acc", baseline="none", percent=True)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["BN", "dropout"]  # first configuration on top
    dots = {round(line.get_ydata()[0]): np.asarray(line.get_xdata()) for line in ax.get_lines()
            if line.get_marker() == "o"}
    np.testing.assert_allclose(dots[1], [6.0, 3.0, 5.0])    # dropout - none, in percentage points
    np.testing.assert_allclose(dots[0], [-1.0, 1.0, -1.0])  # BN - none
    texts = [t.get_text() for t in ax.texts]
    assert "3/3" in texts and "1/3" in texts
    assert "higher is better" in ax.get_xlabel() and "percentage points" in ax.get_xlabel()
    plt.close("all")


def test_losses_count_lower_as_better():
    results = results_for({"none": [1.0, 1.2], "L2": [0.7, 0.9]}, metric="val_loss")
    ax = plot_paired_differences(results, "val_loss", baseline="none")
    assert "2/2" in [t.get_text() for t in ax.texts] and "lower is better" in ax.get_xlabel()
    plt.close("all")


@pytest.mark.parametrize("args,kwargs,exc,pattern", [
    (({"none": []}, "test_acc"), {"baseline": "base"}, ValueError, "baseline 'base' is not in results"),
    (("none", "test_acc"), {"baseline": "none"}, TypeError, "results must be"),
    ((None, 3), {"baseline": "none"}, TypeError, "results must be"),
])
def test_bad_input_is_a_clear_error(args, kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        plot_paired_differences(*args, **kwargs)


def test_unknown_metric_and_unpaired_seeds_are_refused():
    results = results_for({"none": [0.8, 0.9], "L2": [0.85, 0.95]})
    with pytest.raises(ValueError, match="metric 'val_loss' is missing"):
        plot_paired_differences(results, "val_loss", baseline="none")
    with pytest.raises(ValueError, match="only the baseline"):
        plot_paired_differences({"none": results["none"]}, "test_acc", baseline="none")
    results["L2"] = [{"seed": 5, "test_acc": 0.8}, {"seed": 6, "test_acc": 0.9}]
    with pytest.raises(ValueError, match="same seeds"):
        plot_paired_differences(results, "test_acc", baseline="none")
