"""Smoke tests of the lead's plot functions: each draws on the given Axes (Agg backend) and returns it."""
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.contour import ContourSet

from coursekit.plots import plot_dataset, plot_decision_boundary, plot_history, plot_weight_histograms
from coursekit.training import History


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


X = np.array([[0.0, 0.0], [1.0, 2.0], [2.0, 1.0], [-1.0, 0.5], [0.5, -1.0]], dtype=np.float32)
Y = np.array([0, 1, 1, 0, 0])


class DiagonalModel:
    """Logit x1 - x2 (one output) or, with two outputs, logits (0, x1 - x2): p(class 1) = 0.5 on x1 = x2."""

    def __init__(self, outputs=1):
        self.outputs = outputs

    def predict(self, x):
        z = (x[:, 0] - x[:, 1]).reshape(-1, 1)
        return z if self.outputs == 1 else np.column_stack([np.zeros(len(x), x.dtype), z[:, 0]])


def test_plot_dataset_scatters_each_class(ax):
    assert plot_dataset(X, Y, ax=ax, title="moons") is ax
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert [len(c.get_offsets()) for c in scatters] == [3, 2]
    np.testing.assert_array_equal(scatters[1].get_offsets(), X[Y == 1])
    assert [c.get_label() for c in scatters] == ["class 0", "class 1"]
    assert ax.get_xlabel() == "$x_1$" and ax.get_ylabel() == "$x_2$" and ax.get_title() == "moons"


@pytest.mark.parametrize("outputs", [1, 2])
def test_plot_decision_boundary_draws_the_half_probability_line(ax, outputs):
    assert plot_decision_boundary(DiagonalModel(outputs), X, Y, ax=ax, resolution=60, margin=0.5) is ax
    contours = [c for c in ax.collections if isinstance(c, ContourSet)]
    filled = [c for c in contours if c.filled]
    lines = [c for c in contours if not c.filled]
    assert len(filled) == 1 and len(lines) == 1
    np.testing.assert_allclose(lines[0].levels, [0.5])
    vertices = np.concatenate([p.vertices for p in lines[0].get_paths() if len(p.vertices)])
    assert len(vertices) > 10
    np.testing.assert_allclose(vertices[:, 0], vertices[:, 1], atol=1e-6)  # the boundary x1 = x2
    assert ax.get_xlim() == pytest.approx((-1.5, 2.5)) and ax.get_ylim() == pytest.approx((-1.5, 2.5))
    assert sum(isinstance(c, PathCollection) for c in ax.collections) == 2  # the data on top


def make_history():
    h = History()
    for loss, val_loss, acc, val_acc in [(1.0, 1.1, 0.5, 0.4), (0.6, 0.7, 0.7, 0.8), (0.3, 0.9, 0.9, 0.6)]:
        h.append({"loss": loss, "val_loss": val_loss, "accuracy": acc, "val_accuracy": val_acc})
    return h


def test_plot_history_loss_marks_lowest_validation_loss(ax):
    assert plot_history(make_history(), ax=ax, label="L2") is ax
    train, val, best = ax.get_lines()
    np.testing.assert_array_equal(train.get_ydata(), [1.0, 0.6, 0.3])
    np.testing.assert_array_equal(val.get_ydata(), [1.1, 0.7, 0.9])
    assert (list(best.get_xdata()), list(best.get_ydata())) == ([1], [0.7])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["L2 train loss", "L2 validation loss"]
    assert [t.get_text() for t in ax.texts] == ["best val: epoch 1"]
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "loss"


def test_plot_history_accuracy_marks_highest_validation_accuracy(ax):
    plot_history(make_history(), metric="accuracy", ax=ax)
    assert list(ax.get_lines()[2].get_xdata()) == [1] and ax.texts[0].get_text() == "best val: epoch 1"
    assert ax.get_legend().get_texts()[0].get_text() == "train accuracy"


def test_plot_history_without_validation_or_marker(ax):
    plot_history({"loss": [3.0, 2.0]}, ax=ax)
    assert len(ax.get_lines()) == 1 and not ax.texts
    fig, other = plt.subplots()
    plot_history(make_history(), ax=other, mark_best=False)
    assert len(other.get_lines()) == 2 and not other.texts
    plt.close(fig)


def test_plot_weight_histograms_one_outline_per_model(ax):
    rng = np.random.default_rng(0)
    weights = {"lambda = 0": [rng.standard_normal((20, 10)), rng.standard_normal(30)],
               "lambda = 1": rng.standard_normal(100) * 0.1}
    assert plot_weight_histograms(weights, ax=ax, bins=20, title="weights") is ax
    assert len(ax.patches) == 2  # histtype="step": one outline per model
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["lambda = 0", "lambda = 1"]
    lo, hi = ax.patches[0].get_path().vertices[:, 0].min(), ax.patches[0].get_path().vertices[:, 0].max()
    assert lo == pytest.approx(-hi)  # a symmetric range
    assert ax.get_xlabel() == "weight value" and ax.get_title() == "weights"


def test_plot_weight_histograms_fixed_range_and_log_scale(ax):
    plot_weight_histograms({"w": np.linspace(-1, 1, 50)}, ax=ax, value_range=(-2.0, 2.0), log=True)
    xs = ax.patches[0].get_path().vertices[:, 0]
    assert xs.min() == pytest.approx(-2.0) and xs.max() == pytest.approx(2.0)
    assert ax.get_yscale() == "log"


def test_plots_create_their_own_axes_when_none_is_given():
    before = len(plt.get_fignums())
    ax = plot_dataset(X, Y)
    assert ax.figure.number in plt.get_fignums() and len(plt.get_fignums()) == before + 1
    plt.close(ax.figure)
