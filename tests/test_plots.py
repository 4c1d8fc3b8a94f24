"""Smoke tests of the lead's plot functions: each draws on the given Axes (Agg backend) and returns it."""
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.colors import to_hex

from coursekit.plots import (TRAIN_COLOR, VALIDATION_COLOR, plot_dataset, plot_decision_boundary, plot_early_stopping,
                             plot_history, plot_validation_curve, plot_weight_histograms)
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


def _surface(ax):
    (surface,) = [a for a in ax.artists if hasattr(a, "boundary") and hasattr(a, "fill")]
    return surface


def _fill_extent(surface):
    vertices = np.concatenate([p.vertices for p in surface.fill.get_paths()])
    return vertices[:, 0].min(), vertices[:, 0].max(), vertices[:, 1].min(), vertices[:, 1].max()


@pytest.mark.parametrize("outputs", [1, 2])
def test_plot_decision_boundary_draws_the_half_probability_line(ax, outputs):
    assert plot_decision_boundary(DiagonalModel(outputs), X, Y, ax=ax, resolution=60, margin=0.5) is ax
    ax.figure.canvas.draw()
    surface = _surface(ax)
    segments = surface.boundary.get_segments()
    vertices = np.concatenate([s for s in segments if len(s)])
    assert len(vertices) > 10
    np.testing.assert_allclose(vertices[:, 0], vertices[:, 1], atol=1e-6)  # the boundary x1 = x2
    assert ax.get_xlim() == pytest.approx((-1.5, 2.5)) and ax.get_ylim() == pytest.approx((-1.5, 2.5))
    assert _fill_extent(surface) == pytest.approx((-1.5, 2.5, -1.5, 2.5))  # the whole view is shaded
    colors = surface.fill.get_facecolor()
    assert len(colors) == len(surface.fill.get_paths()) and len({tuple(c) for c in colors}) == 10  # 10 bands
    assert sum(isinstance(c, PathCollection) and c.get_label().startswith("class") for c in ax.collections) == 2


def _shaded_fraction(fig, ax):
    """Fraction of the pixels inside ``ax`` that are not (near) white."""
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(float)
    height = image.shape[0]
    x0, y0, x1, y1 = ax.get_window_extent().extents
    inside = image[int(height - y1) + 3:int(height - y0) - 3, int(x0) + 3:int(x1) - 3]
    return float(np.mean(inside.min(axis=-1) < 254))  # the palest band (p near 0.5) is 252


def test_decision_boundary_fills_every_panel_of_shared_axes():
    # regression: the shading was computed from each panel's own points, so with shared axes the
    # panel drawn first stayed white where the second panel's points reach further
    fig, axes = plt.subplots(1, 2, sharex=True, sharey=True)
    small = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    wide = small * 6 - 3
    labels = np.array([0, 1, 0, 1])
    plot_decision_boundary(DiagonalModel(), small, labels, ax=axes[0], resolution=40)
    plot_decision_boundary(DiagonalModel(), wide, labels, ax=axes[1], resolution=40)
    assert axes[0].get_xlim() == pytest.approx((-3.5, 3.5))  # panel 1 shows what panel 2 needs
    for ax in axes:
        assert _fill_extent(_surface(ax)) == pytest.approx((-3.5, 3.5, -3.5, 3.5)) or ax is axes[0]
    assert _shaded_fraction(fig, axes[0]) > 0.99 and _shaded_fraction(fig, axes[1]) > 0.99
    assert _fill_extent(_surface(axes[0])) == pytest.approx((-3.5, 3.5, -3.5, 3.5))
    plt.close(fig)


def test_decision_boundary_shows_the_model_as_it_was_when_plotted(ax):
    model = DiagonalModel()
    plot_decision_boundary(model, X, Y, ax=ax, resolution=30)
    model.outputs = 99  # "training" the model further must not change the picture drawn before
    ax.set_xlim(-5, 5)  # a redraw over a new view recomputes the shading, with the copy
    ax.figure.canvas.draw()
    assert _fill_extent(_surface(ax))[:2] == pytest.approx((-5, 5))


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


def test_train_and_validation_have_their_own_colours_everywhere(ax):
    plot_history(make_history(), ax=ax, label="L2")
    train, val, best = ax.get_lines()
    assert to_hex(train.get_color()) == TRAIN_COLOR and to_hex(val.get_color()) == VALIDATION_COLOR
    assert TRAIN_COLOR != VALIDATION_COLOR and to_hex(best.get_color()) == VALIDATION_COLOR
    fig, other = plt.subplots()
    plot_early_stopping(make_history(), {"patience 1": (2, 1)}, ax=other)
    train, val = other.get_lines()[:2]
    assert to_hex(train.get_color()) == TRAIN_COLOR and to_hex(val.get_color()) == VALIDATION_COLOR
    plot_validation_curve([0.1, 1.0], {"train loss": [1.0, 2.0], "validation loss": [2.0, 3.0], "other": [1.0, 1.0]},
                          ax=(third := fig.add_subplot(2, 2, 4)))
    colors = [to_hex(line.get_color()) for line in third.get_lines()]
    assert colors[:2] == [TRAIN_COLOR, VALIDATION_COLOR] and colors[2] not in colors[:2]
    plt.close(fig)


def test_several_models_on_one_axis_get_one_line_style_each(ax):
    for label in ("plain", "L2", "dropout"):
        plot_history(make_history(), ax=ax, label=label, mark_best=False)
    lines = ax.get_lines()
    assert [line.get_linestyle() for line in lines] == ["-", "-", "--", "--", ":", ":"]
    assert [to_hex(line.get_color()) for line in lines] == [TRAIN_COLOR, VALIDATION_COLOR] * 3
    assert [t.get_text() for t in ax.get_legend().get_texts()][2:4] == ["L2 train loss", "L2 validation loss"]


def test_early_stopping_markers_that_keep_the_same_epoch_stay_visible(ax):
    history = make_history()
    stops = {"patience 0": (2, 1), "patience 2": (None, 1), "patience 5": (None, 1), "other": (2, 0)}
    plot_early_stopping(history, stops, ax=ax)
    markers = [line for line in ax.get_lines() if line.get_marker() == "o"]
    at_epoch_1 = [m for m in markers if list(m.get_xdata()) == [1]]
    sizes = [m.get_markersize() for m in at_epoch_1]
    assert len(at_epoch_1) == 3 and sizes == sorted(sizes, reverse=True) and len(set(sizes)) == 3  # nested rings
    assert [m.get_zorder() for m in at_epoch_1] == sorted(m.get_zorder() for m in at_epoch_1)  # smaller on top
    colors = {tuple(m.get_markerfacecolor()) for m in markers}
    assert len(colors) == 4
    stop_lines = [line for line in ax.get_lines() if list(line.get_xdata()) == [2, 2]]
    dashes = [getattr(line, "_unscaled_dash_pattern", None) or line._dash_pattern for line in stop_lines]
    assert len(stop_lines) == 2 and dashes[0][0] != dashes[1][0]  # the same dashes, offset: interleaved
    legend = ax.get_legend()
    handles = getattr(legend, "legend_handles", None) or legend.legendHandles
    assert {h.get_markersize() for h in handles if h.get_marker() == "o"} == {8}
