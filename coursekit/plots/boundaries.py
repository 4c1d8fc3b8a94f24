"""Plots of a model over the plane: data sets, decision boundaries, MC-dropout uncertainty."""
from __future__ import annotations

import copy

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.artist import Artist
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.path import Path

from .._validation import check_array, check_int, check_real, describe
from ..layers import sigmoid
from ._common import CLASS_COLORS, _axes, _binary_labels, _label, _points_2d


def _class1_probability(model, where: str):
    """A function grid (M, 2) -> p(class 1) (M,) from ``model.predict`` (one logit, or one per class)."""
    if isinstance(model, type) or not callable(getattr(model, "predict", None)):
        raise TypeError(f"{where}: model must have a predict(x) method (e.g. a Sequential), got {describe(model)} "
                        f"of type {type(model).__name__}")

    def probability(grid: np.ndarray) -> np.ndarray:
        out = np.asarray(model.predict(grid))
        if out.dtype.kind not in "iuf" or out.ndim not in (1, 2) or len(out) != len(grid):
            raise ValueError(f"{where}: model.predict must return one logit per point (shape (M,) or (M, 1)) or one "
                             f"per class (M, C), got {describe(out)} for {len(grid)} points")
        if not np.all(np.isfinite(out)):
            raise ValueError(f"{where}: model.predict returned non-finite logits (NaN or inf): did training diverge?")
        if out.ndim == 1 or out.shape[1] == 1:
            return sigmoid(out.reshape(-1))
        e = np.exp(out - out.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True))[:, 1]

    return probability


class _DecisionSurface(Artist):
    """p(class 1) of a model shaded over whatever part of the plane its Axes shows, with the p = 0.5 line.

    The grid is computed for the Axes' limits *when the figure is drawn* (and again only if the
    limits change), so panels with shared axes are filled to their final limits, whichever panel
    set them. The model is copied when the plot is made: training it further afterwards does not
    change the picture. The fill is a ``PathCollection`` (``fill``), the line a ``LineCollection``
    (``boundary``, drawn by a second artist above the data points).
    """

    LEVELS = np.linspace(0.0, 1.0, 11)

    def __init__(self, ax, probability, dtype, resolution: int, extent) -> None:
        super().__init__()
        self._probability, self._dtype, self._resolution = probability, dtype, resolution
        self.set_zorder(0.9)  # under the data points (zorder 1)
        cmap = plt.get_cmap("RdBu_r")
        self._colors = [cmap((lo + hi) / 2) for lo, hi in zip(self.LEVELS[:-1], self.LEVELS[1:])]
        self.fill = PathCollection([], edgecolors="none", alpha=0.35, transform=ax.transData)
        self.boundary = LineCollection([], colors="k", linewidths=1.2, transform=ax.transData, zorder=2)
        ax.add_artist(self)
        ax.add_artist(_Boundary(self))
        for child in (self.fill, self.boundary):
            child.axes, child.figure = ax, ax.figure
            child.set_clip_path(ax.patch)
        self.extent = None
        self.update_extent(extent)

    def update_extent(self, extent) -> None:
        """Recompute the shading and the boundary on a grid spanning ``extent`` = (x0, x1, y0, y1)."""
        if extent == self.extent:
            return
        import contourpy  # a dependency of matplotlib

        (x0, x1), (y0, y1) = sorted(extent[:2]), sorted(extent[2:])  # an inverted axis shows the same area
        xs = np.linspace(x0, x1, self._resolution)
        ys = np.linspace(y0, y1, self._resolution)
        xx, yy = np.meshgrid(xs, ys)
        grid = np.column_stack([xx.ravel(), yy.ravel()]).astype(self._dtype)
        prob = self._probability(grid).reshape(xx.shape).astype(np.float64)
        generator = contourpy.contour_generator(xs, ys, prob, fill_type="OuterCode", line_type="Separate")
        bounds = self.LEVELS.copy()
        bounds[0], bounds[-1] = -1.0, 2.0  # the outer bands include p = 0 and p = 1 exactly
        paths, colors = [], []
        for lo, hi, color in zip(bounds[:-1], bounds[1:], self._colors):
            points, codes = generator.filled(lo, hi)
            paths += [Path(pts, cds) for pts, cds in zip(points, codes)]
            colors += [color] * len(points)
        self.fill.set_paths(paths)
        self.fill.set_facecolor(colors)
        self.boundary.set_segments(generator.lines(0.5))
        self.extent = extent

    def draw(self, renderer) -> None:
        ax = self.axes
        self.update_extent((*ax.get_xlim(), *ax.get_ylim()))
        self.fill.draw(renderer)


class _Boundary(Artist):
    """Draws a ``_DecisionSurface``'s p = 0.5 line at zorder 2 (above the points)."""

    def __init__(self, surface: _DecisionSurface) -> None:
        super().__init__()
        self.surface = surface
        self.set_zorder(2)

    def draw(self, renderer) -> None:
        ax = self.surface.axes
        self.surface.update_extent((*ax.get_xlim(), *ax.get_ylim()))
        self.surface.boundary.draw(renderer)


def plot_dataset(X: np.ndarray, y: np.ndarray, *, ax=None, title: str | None = None, marker: str = "o",
                 alpha: float = 0.8):
    """Scatter a 2-D binary data set, class 0 blue, class 1 red. Shapes: X (N, 2), y (N,) labels 0/1."""
    where = "plot_dataset"
    _points_2d(X, where)
    y = _binary_labels(y, len(X), where)
    ax = _axes(ax)
    for label, color in enumerate(CLASS_COLORS):
        pts = X[y == label]
        ax.scatter(pts[:, 0], pts[:, 1], s=18, c=color, marker=marker, alpha=alpha, edgecolors="white",
                   linewidths=0.4, label=f"class {label}")
    _label(ax, "$x_1$", "$x_2$", title, legend=False)
    return ax


def plot_decision_boundary(model, X: np.ndarray, y: np.ndarray, *, ax=None, title: str | None = None,
                           resolution: int = 200, margin: float = 0.5):
    """Shade the model's predicted probability of class 1 over the plane, draw p = 0.5, scatter (X, y).

    ``model.predict`` must return one logit per point (binary) or one per class (class 1's
    softmax probability is shown). Shapes: X (N, 2), y (N,) labels 0/1. The view is the data
    plus ``margin`` on every side; the shading is computed on a ``resolution`` x ``resolution``
    grid over the *final* view of the Axes when the figure is drawn, so panels made with
    ``plt.subplots(..., sharex=True, sharey=True)`` are filled edge to edge whichever panel's
    data reach furthest. The model is copied, so later training does not change the plot.
    """
    where = "plot_decision_boundary"
    _class1_probability(model, where)  # checks that the model has predict()
    _points_2d(X, where)
    labels = _binary_labels(y, len(X), where)
    resolution = check_int(resolution, "resolution", low=2)
    margin = check_real(margin, "margin", low=0.0)
    ax = _axes(ax)
    x_min, y_min = X.min(axis=0) - margin
    x_max, y_max = X.max(axis=0) + margin
    if x_min == x_max or y_min == y_max:
        raise ValueError(f"{where}: the points and margin={margin} span no area (x from {x_min} to {x_max}, "
                         f"y from {y_min} to {y_max}); use margin > 0")
    try:
        snapshot = copy.deepcopy(model)
    except Exception:  # noqa: BLE001 - a model that cannot be copied is used as it is
        snapshot = model
    _DecisionSurface(ax, _class1_probability(snapshot, where), X.dtype, resolution,
                     (float(x_min), float(x_max), float(y_min), float(y_max)))
    plot_dataset(X, labels, ax=ax, title=title)
    ax.set_xlim(x_min, x_max)
    ax.set_ylim(y_min, y_max)
    return ax


def mc_dropout_predict(model, X: np.ndarray, *, n_passes: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Monte Carlo dropout: class-1 probability averaged over ``n_passes`` passes with dropout ON.

    Each pass calls ``model.forward(X, training=True)``, so every dropout layer draws a fresh
    mask (from its own rng): each pass is one thinned network of the ensemble. Returns
    ``(mean, std)`` over the passes of ``sigmoid(logit)``, each of shape (N,). Shapes: X (N, D),
    model output (N,) or (N, 1). Only for models whose sole training-mode behaviour is dropout
    (batch norm would update its running statistics). X must be a numpy array, as for
    ``evaluate`` and every layer (a list or tuple is a ``TypeError`` that says how to convert it).
    """
    where = "mc_dropout_predict"
    _check_forward_model(model, where)
    if isinstance(X, (list, tuple)):
        raise TypeError(f"{where}: X must be a numpy array (N, D) of floats, like every layer's input; got a "
                        f"{type(X).__name__}: convert it with np.asarray(X, dtype=np.float32)")
    check_array(X, "X", finite=True, where=where)
    if isinstance(n_passes, bool) or not isinstance(n_passes, (int, np.integer)) or n_passes < 2:
        raise ValueError(f"mc_dropout_predict: n_passes must be an integer >= 2, got {n_passes!r}")
    from .._threads import single_blas_thread

    if X.ndim < 2:
        raise ValueError(f"{where}: X must be a batch of inputs, shape (N, D), got a {X.ndim}-D array of shape "
                         f"{X.shape}" + ("; one point? write X[None, :]" if X.ndim == 1 else ""))
    with single_blas_thread():  # small matrices: one thread is fastest (see training.fit)
        probs = np.stack([sigmoid(_one_logit(_forward_training(model, X, where), len(X), where))
                          for _ in range(int(n_passes))])
    return probs.mean(axis=0), probs.std(axis=0)


def _forward_training(model, X: np.ndarray, where: str) -> np.ndarray:
    """``model.forward(X, training=True)``; the model's own ValueError/TypeError, said to be about X."""
    try:
        return model.forward(X, training=True)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"{where}: the model cannot take X of shape {X.shape} and dtype {X.dtype}: {exc}") from exc


def _check_forward_model(model, where: str) -> None:
    if isinstance(model, type) or not callable(getattr(model, "forward", None)):
        raise TypeError(f"{where}: model must have forward(x, training=...) (e.g. a Sequential with Dropout), got "
                        f"{describe(model)} of type {type(model).__name__}")


def _one_logit(out, n: int, where: str) -> np.ndarray:
    """A model's output as one finite logit per point (N,); (N, 1) is flattened, anything else is an error."""
    out = np.asarray(out)
    if out.dtype.kind not in "iuf" or out.shape not in ((n,), (n, 1)):
        raise ValueError(f"{where}: the model must output one logit per point, shape ({n},) or ({n}, 1), "
                         f"got {describe(out)}")
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{where}: the model's outputs are not finite (NaN or inf): did training diverge?")
    return out.reshape(-1)


def plot_mc_dropout_uncertainty(model, X: np.ndarray, y: np.ndarray, *, n_passes: int = 100, ax=None,
                                title: str | None = None, resolution: int = 100, margin: float = 0.5):
    """Where is the network unsure? Shade the std of the MC-dropout probability over the plane.

    Uses ``mc_dropout_predict`` on a ``resolution`` x ``resolution`` grid around X; draws the
    MC-averaged p = 0.5 boundary in black and scatters (X, y). Shapes: X (N, 2), y (N,).
    """
    where = "plot_mc_dropout_uncertainty"
    _check_forward_model(model, where)
    _points_2d(X, where)
    y = _binary_labels(y, len(X), where)
    resolution = check_int(resolution, "resolution", low=2)
    margin = check_real(margin, "margin", low=0.0, low_open=True)
    ax = _axes(ax)
    x_min, y_min = X.min(axis=0) - margin
    x_max, y_max = X.max(axis=0) + margin
    xx, yy = np.meshgrid(np.linspace(x_min, x_max, resolution), np.linspace(y_min, y_max, resolution))
    grid = np.column_stack([xx.ravel(), yy.ravel()]).astype(X.dtype)
    mean, std = mc_dropout_predict(model, grid, n_passes=n_passes)
    image = ax.contourf(xx, yy, std.reshape(xx.shape), levels=12, cmap="Greys")
    ax.figure.colorbar(image, ax=ax, label="std of p(class 1) over passes")
    ax.contour(xx, yy, mean.reshape(xx.shape), levels=[0.5], colors="k", linewidths=1.2)
    plot_dataset(X, y, ax=ax, title=title, alpha=0.6)
    ax.set_xlim(x_min, x_max)
    ax.set_ylim(y_min, y_max)
    return ax


def plot_reference_boundary(model, *, ax, label: str = "Bayes-optimal boundary", color: str = "k",
                            linestyle: str = "--", resolution: int = 100):
    """Draw the p = 0.5 line of another model over an existing plot, e.g. the best possible boundary.

    ``model.predict`` must return one logit per point (or one per class), as for
    ``plot_decision_boundary``; the line is computed on a ``resolution`` x ``resolution`` grid
    over the Axes' current view, so call it after the plot that sets the view. The line gets
    ``label`` in the legend (shown when ``label`` is not empty).
    """
    where = "plot_reference_boundary"
    probability = _class1_probability(model, where)
    if ax is None or not hasattr(ax, "contour"):
        raise TypeError(f"{where}: ax must be the matplotlib Axes to draw on, got {describe(ax)}")
    resolution = check_int(resolution, "resolution", low=2)
    if not isinstance(label, str):
        raise TypeError(f"{where}: label must be a string, got {describe(label)}")
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    xx, yy = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    prob = probability(np.column_stack([xx.ravel(), yy.ravel()])).reshape(xx.shape)
    ax.contour(xx, yy, prob, levels=[0.5], colors=[color], linestyles=[linestyle], linewidths=1.6, zorder=2.5)
    if label:
        ax.plot([], [], color=color, linestyle=linestyle, linewidth=1.6, label=label)
        ax.legend(fontsize=8, loc="lower left")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    return ax
