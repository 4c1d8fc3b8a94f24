"""coursekit.plots additions for notebooks 00-04: the reference boundary and the per-seed results chart."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from coursekit import plots  # noqa: E402


class Vertical:
    """A 'model' whose p = 0.5 line is the vertical line x1 = 0.5."""

    def predict(self, X):
        return (X[:, :1] - 0.5) * 4.0


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_reference_boundary_draws_the_half_probability_line_over_the_current_view():
    fig, ax = plt.subplots()
    ax.set_xlim(-1, 2)
    ax.set_ylim(-3, 3)
    plots.plot_reference_boundary(Vertical(), ax=ax, label="truth")
    lines = [c for c in ax.collections if hasattr(c, "get_paths") and c.get_paths()]
    vertices = np.concatenate([path.vertices for c in lines for path in c.get_paths()])
    assert np.allclose(vertices[:, 0], 0.5, atol=0.02)           # on x1 = 0.5 ...
    assert vertices[:, 1].min() < -2.9 and vertices[:, 1].max() > 2.9  # ... across the whole view
    assert ax.get_xlim() == (-1, 2) and ax.get_ylim() == (-3, 3)    # the view is unchanged
    assert "truth" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_reference_boundary_bad_input():
    _, ax = plt.subplots()
    with pytest.raises(TypeError, match="predict"):
        plots.plot_reference_boundary(object(), ax=ax)
    with pytest.raises(TypeError, match="ax must be the matplotlib Axes"):
        plots.plot_reference_boundary(Vertical(), ax=None)
    with pytest.raises(ValueError, match="resolution"):
        plots.plot_reference_boundary(Vertical(), ax=ax, resolution=1)


def results(values_by_name):
    return {name: [{"seed": s, "acc": v} for s, v in zip((7, 8, 9), values)] for name, values in values_by_name.items()}


def test_seed_results_one_row_per_configuration_a_dot_per_seed_and_the_mean():
    table = results({"none": [0.80, 0.82, 0.81], "L2": [0.85, 0.86, 0.84]})
    _, ax = plt.subplots()
    plots.plot_seed_results(table, "acc", ax=ax, baseline="none", reference=0.9, percent=True)
    labels = {tick.get_text(): tick.get_position()[1] for tick in ax.get_yticklabels()}
    assert labels["none"] > labels["L2"]  # the first configuration at the top
    dots = [c for c in ax.collections if len(c.get_offsets()) == 3]
    assert len(dots) == 2
    by_row = {round(float(np.mean(c.get_offsets()[:, 1]))): c.get_offsets()[:, 0] for c in dots}
    np.testing.assert_allclose(sorted(by_row[labels["none"]]), [80, 81, 82])  # percent
    # one colour per seed, the same in every row
    np.testing.assert_array_equal(dots[0].get_facecolors(), dots[1].get_facecolors())
    assert len({tuple(c) for c in dots[0].get_facecolors()}) == 3
    means = [line for line in ax.get_lines() if line.get_marker() == "|"]
    assert sorted(float(line.get_xdata()[0]) for line in means) == pytest.approx([81.0, 85.0])
    vertical = sorted(float(line.get_xdata()[0]) for line in ax.get_lines() if line.get_linestyle() in ("--", ":"))
    assert vertical == pytest.approx([81.0, 90.0])  # the baseline's mean and the reference
    assert ax.get_xlim()[0] < 80 and ax.get_xlim()[1] > 90  # the reference is in view


def test_seed_results_bad_input_is_named():
    _, ax = plt.subplots()
    with pytest.raises(TypeError, match="results must be a dict"):
        plots.plot_seed_results([1, 2], "acc", ax=ax)
    with pytest.raises(ValueError, match="has no 'loss'"):
        plots.plot_seed_results(results({"none": [0.1, 0.2, 0.3]}), "loss", ax=ax)
    other = results({"none": [0.1, 0.2, 0.3]})
    other["L2"] = [{"seed": s, "acc": 0.5} for s in (1, 2, 3)]
    with pytest.raises(ValueError, match="same seeds"):
        plots.plot_seed_results(other, "acc", ax=ax)
    with pytest.raises(ValueError, match="baseline 'best'"):
        plots.plot_seed_results(results({"none": [0.1, 0.2, 0.3]}), "acc", ax=ax, baseline="best")
    with pytest.raises(ValueError, match="non-finite"):
        plots.plot_seed_results(results({"none": [0.1, np.nan, 0.3]}), "acc", ax=ax)
    with pytest.raises(TypeError, match="percent must be True or False"):
        plots.plot_seed_results(results({"none": [0.1, 0.2, 0.3]}), "acc", ax=ax, percent="yes")
