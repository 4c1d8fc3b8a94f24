"""Plots that answer one question each. Every function takes an optional ``ax`` and returns it.

Colours are the same across the course: training curves in ``TRAIN_COLOR`` (blue), validation
curves in ``VALIDATION_COLOR`` (orange), classes 0/1 in ``CLASS_COLORS`` (blue/red). Bad input
(an empty or all-NaN history, a missing metric, labels other than 0/1, ...) is a
``ValueError``/``TypeError`` naming the argument, not a matplotlib traceback.
"""
from __future__ import annotations

import copy
import math
import numbers

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.artist import Artist
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.path import Path

from ._validation import check_array, check_bool, check_int, check_real, describe
from .layers import sigmoid

__all__ = ["plot_dataset", "plot_decision_boundary", "plot_history", "plot_weight_histograms",
           "plot_validation_curve",
           "plot_activation_histograms", "plot_activation_std", "plot_early_stopping",
           "mc_dropout_predict", "plot_mc_dropout_uncertainty",
           "plot_feature_map_rows", "plot_paired_differences"]

CLASS_COLORS = ("#1f77b4", "#d62728")
TRAIN_COLOR = "#1f77b4"       # matplotlib's C0 (blue): every training curve
VALIDATION_COLOR = "#ff7f0e"  # matplotlib's C1 (orange): every validation curve
_MODEL_LINESTYLES = ("-", "--", ":", "-.")  # several models on one axis: one line style each


def _label(ax, xlabel: str, ylabel: str, title: str | None, *, legend: bool) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if legend:
        ax.legend(fontsize=8)


def _axes(ax, figsize=(5, 4)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    elif not isinstance(ax, plt.Axes):
        raise TypeError(f"ax must be a matplotlib Axes (e.g. from plt.subplots()) or None, got {describe(ax)} "
                        f"of type {type(ax).__name__}")
    return ax


def _curve(history, key: str, where: str, name: str = "history") -> np.ndarray:
    """``history[key]`` as a 1-D float array: present, non-empty, numeric, not all NaN."""
    if not (hasattr(history, "keys") and hasattr(history, "__getitem__")):
        raise TypeError(f"{where}: {name} must be a History returned by fit (or a dict of per-epoch lists), "
                        f"got {describe(history)} of type {type(history).__name__}")
    if not isinstance(key, str):
        raise TypeError(f"{where}: metric must be a string such as 'loss', got {describe(key)}")
    if key not in history.keys():
        raise ValueError(f"{where}: {name} has no metric {key!r}; it has {sorted(history.keys())}")
    values = _numbers(history[key], f"{name}[{key!r}]", where)
    if values.ndim != 1:
        raise ValueError(f"{where}: {name}[{key!r}] must be one value per epoch (1-D), got shape {values.shape}")
    if values.size == 0:
        raise ValueError(f"{where}: {name}[{key!r}] is empty: train for at least one epoch first")
    if np.all(np.isnan(values)):
        raise ValueError(f"{where}: {name}[{key!r}] is all NaN ({values.size} epochs): nothing to plot; "
                         "did training diverge?")
    return values


def _numbers(values, name: str, where: str) -> np.ndarray:
    """``values`` (an array, list or tuple of real numbers) as a float64 array; TypeError otherwise."""
    if isinstance(values, (str, bytes, dict)) or values is None or isinstance(values, (bool, np.bool_)):
        raise TypeError(f"{where}: {name} must be numbers (an array or a list), got {describe(values)} "
                        f"of type {type(values).__name__}")
    try:
        array = np.asarray(values)
    except ValueError:  # ragged nested lists
        raise TypeError(f"{where}: {name} must be numbers (an array or a list), got {describe(values)}") from None
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{where}: {name} must be real numbers, got {describe(values)} (dtype {array.dtype})")
    return array.astype(np.float64, copy=False)


def _binary_labels(y, n: int, where: str) -> np.ndarray:
    """Labels 0/1 (ints, bools or whole-number floats), one per point, as an int64 array (N,)."""
    labels = _numbers(y, "y", where) if not (isinstance(y, np.ndarray) and y.dtype == bool) else y.astype(float)
    labels = labels.reshape(-1) if labels.ndim == 2 and labels.shape[1:] == (1,) else labels
    if labels.shape != (n,):
        raise ValueError(f"{where}: y must hold one label per point of X ({n}), got shape {np.shape(y)}")
    if not np.all(np.isin(labels, (0.0, 1.0))):
        bad = labels[~np.isin(labels, (0.0, 1.0))][0].item()
        raise ValueError(f"{where}: y must hold class labels 0 and 1 (these plots show two classes), got {bad!r}")
    return labels.astype(np.int64)


def _points_2d(X, where: str) -> np.ndarray:
    check_array(X, "X", ndim=2, finite=True, where=where)
    if X.shape[1] != 2:
        raise ValueError(f"{where}: X must be points in the plane, shape (N, 2), got shape {X.shape}")
    return X


def _check_dict(value, name: str, where: str, example: str) -> dict:
    if not isinstance(value, dict):
        raise TypeError(f"{where}: {name} must be a dict such as {example}, got {describe(value)} "
                        f"of type {type(value).__name__}")
    if not value:
        raise ValueError(f"{where}: {name} is empty; pass at least one entry, e.g. {example}")
    return value


def _range(value, name: str, where: str) -> tuple[float, float]:
    """A pair (low, high) of finite numbers with low < high."""
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        raise TypeError(f"{where}: {name} must be a pair (low, high), got {describe(value)}")
    low, high = check_real(value[0], f"{name}[0]"), check_real(value[1], f"{name}[1]")
    if not low < high:
        raise ValueError(f"{where}: {name} must have low < high, got {value!r}")
    return low, high


def _split_color(label) -> str | None:
    """TRAIN_COLOR for a label about training data, VALIDATION_COLOR for validation, else None."""
    text = str(label).lower()
    if text.startswith("train"):
        return TRAIN_COLOR
    if text.startswith("val"):
        return VALIDATION_COLOR
    return None


def _finite_values(values, name: str, where: str) -> np.ndarray:
    """All the numbers of one array or a list of arrays, flattened; non-empty and finite."""
    items = values if isinstance(values, (list, tuple)) else [values]
    if not items:
        raise ValueError(f"{where}: {name} is empty")
    flat = np.concatenate([np.ravel(_numbers(v, name, where)) for v in items])
    if flat.size == 0:
        raise ValueError(f"{where}: {name} is empty")
    if not np.all(np.isfinite(flat)):
        raise ValueError(f"{where}: {name} contains {int(np.size(flat) - np.count_nonzero(np.isfinite(flat)))} "
                         "non-finite value(s) (NaN or inf)")
    return flat


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


def plot_history(history, *, metric: str = "loss", ax=None, title: str | None = None, label: str = "",
                 mark_best: bool = True):
    """Training and validation curves of one metric against the epoch.

    Training in ``TRAIN_COLOR`` (blue), validation in ``VALIDATION_COLOR`` (orange), in every
    plot of the course. Several models on one Axes (call it once per model, each with a
    ``label``) get one line style each (solid, dashed, dotted, dash-dot). Marks the epoch with
    the best validation value (lowest loss / highest accuracy; NaN epochs are skipped).
    ``history``: a ``History`` (or a dict of per-epoch lists) with ``metric`` and optionally
    ``val_<metric>``; an empty or all-NaN curve or a missing metric is a ``ValueError``.
    """
    where = "plot_history"
    train = _curve(history, metric, where)
    val_key = f"val_{metric}"
    val = _curve(history, val_key, where) if val_key in history.keys() else None
    if val is not None and len(val) != len(train):
        raise ValueError(f"{where}: history[{val_key!r}] has {len(val)} epochs but history[{metric!r}] has "
                         f"{len(train)}")
    if not isinstance(label, str):
        raise TypeError(f"{where}: label must be a string, got {describe(label)}")
    mark_best = check_bool(mark_best, "mark_best", where)
    ax = _axes(ax, figsize=(6, 4))
    # the n-th model drawn on these Axes by plot_history gets the n-th line style
    style = _MODEL_LINESTYLES[sum(line.get_gid() == "plot_history:train" for line in ax.get_lines())
                              % len(_MODEL_LINESTYLES)]
    epochs = np.arange(len(train))
    prefix = f"{label} " if label else ""
    line, = ax.plot(epochs, train, style, color=TRAIN_COLOR, label=f"{prefix}train {metric}")
    line.set_gid("plot_history:train")
    if val is not None:
        ax.plot(epochs, val, style, color=VALIDATION_COLOR, label=f"{prefix}validation {metric}")
        if mark_best:
            lower_is_better = "loss" in metric or "error" in metric
            best = int(np.nanargmin(val) if lower_is_better else np.nanargmax(val))
            ax.plot(best, val[best], "o", color=VALIDATION_COLOR, markeredgecolor="k", markersize=6)
            ax.annotate(f"best val: epoch {best}", (best, val[best]), textcoords="offset points", xytext=(5, 8),
                        fontsize=8)
    _label(ax, "epoch", metric, title, legend=True)
    return ax


def plot_weight_histograms(weights_by_name: dict, *, ax=None, bins: int = 60, title: str | None = None,
                           value_range: tuple[float, float] | None = None, log: bool = False):
    """Overlaid histograms of all weights of several models, e.g. ``{"lambda = 0": model.weights(), ...}``.

    Each value is a list of arrays (flattened and concatenated) or one array, of finite numbers.
    """
    where = "plot_weight_histograms"
    _check_dict(weights_by_name, "weights_by_name", where, "{'lambda = 0': model.weights()}")
    flat = {name: _finite_values(ws, f"weights_by_name[{name!r}]", where) for name, ws in weights_by_name.items()}
    bins = check_int(bins, "bins", low=1)
    log = check_bool(log, "log", where)
    if value_range is None:
        hi = max(np.percentile(np.abs(v), 99.5) for v in flat.values()) or 1.0  # all zeros: any range
        value_range = (-hi, hi)
    value_range = _range(value_range, "value_range", where)
    ax = _axes(ax, figsize=(6, 4))
    for name, values in flat.items():
        ax.hist(values, bins=bins, range=value_range, histtype="step", linewidth=1.5, label=name, log=log)
    _label(ax, "weight value", "count", title, legend=True)
    return ax


def plot_validation_curve(param_values, scores_by_label: dict, *, ax=None, baseline: dict | None = None,
                          best: float | None = None, xlabel: str = r"$\lambda$", ylabel: str = "loss",
                          title: str | None = None, log_x: bool = True):
    """Scores against a hyperparameter on a log axis, e.g. train and validation loss against lambda.

    ``scores_by_label`` maps a curve's label to one score per value of ``param_values``.
    ``baseline`` maps the same labels to the score without the hyperparameter (lambda = 0, which
    a log axis cannot show), drawn as a dotted horizontal line in the curve's colour. ``best``
    marks the chosen value with a vertical line.
    """
    where = "plot_validation_curve"
    values = _numbers(param_values, "param_values", where)
    if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError(f"{where}: param_values must be a non-empty list of finite numbers, "
                         f"got {describe(param_values)}")
    log_x = check_bool(log_x, "log_x", where)
    if log_x and np.any(values <= 0):
        raise ValueError(f"{where}: a log x axis needs param_values > 0, got {values.min().item()!r}; draw the "
                         "value 0 as a baseline (baseline={...}) or pass log_x=False")
    _check_dict(scores_by_label, "scores_by_label", where, "{'validation loss': [0.5, 0.4, 0.6]}")
    for label, scores in scores_by_label.items():
        scores = _numbers(scores, f"scores_by_label[{label!r}]", where)
        if scores.shape != values.shape:
            raise ValueError(f"{where}: scores_by_label[{label!r}] has {scores.size} scores for {values.size} "
                             "param_values; give one score per value")
    if baseline is not None and not isinstance(baseline, dict):
        raise TypeError(f"{where}: baseline must be a dict {{label: score without the hyperparameter}} or None, got "
                        f"{describe(baseline)}")
    for label, score in (baseline or {}).items():
        if isinstance(score, (bool, np.bool_)) or not isinstance(score, (numbers.Real, np.floating, np.integer)) \
                or not math.isfinite(score):
            raise ValueError(f"{where}: baseline[{label!r}] must be a finite number, got {describe(score)}")
    if best is not None:
        best = check_real(best, "best")
    ax = _axes(ax, figsize=(6, 4))
    others = iter(f"C{i}" for i in range(2, 10_000))  # labels that are neither train nor validation
    for label, scores in scores_by_label.items():
        line, = ax.plot(values, scores, "o-", label=label, color=_split_color(label) or next(others))
        if baseline and label in baseline:
            ax.axhline(baseline[label], color=line.get_color(), linestyle=":", linewidth=1.2,
                       label=f"{label} at {xlabel} = 0")
    if best is not None:
        ax.axvline(best, color="0.3", linestyle="--", linewidth=1, label=f"chosen {xlabel} = {best:g}")
    if log_x:
        ax.set_xscale("log")
    _label(ax, xlabel, ylabel, title, legend=True)
    return ax


def plot_activation_histograms(activations_by_model: dict, *, axes=None, bins: int = 40,
                               layer_label: str = "layer"):
    """One row per model, one column per layer: histograms of each layer's activations.

    ``activations_by_model`` maps a model name to a list of arrays (one per layer, any shape,
    flattened). Each row shares its x axis, so a distribution that shrinks or blows up from
    layer to layer is visible at a glance; each panel's title gives the standard deviation.
    Returns the (rows, columns) array of axes.
    """
    where = "plot_activation_histograms"
    _check_dict(activations_by_model, "activations_by_model", where, "{'plain': [layer1_acts, layer2_acts]}")
    for name, layers in activations_by_model.items():
        if not isinstance(layers, (list, tuple)) or not layers:
            raise TypeError(f"{where}: activations_by_model[{name!r}] must be a non-empty list of arrays (one per "
                            f"layer), got {describe(layers)}")
        for i, a in enumerate(layers):
            _finite_values(a, f"activations_by_model[{name!r}][{i}]", where)
    bins = check_int(bins, "bins", low=1)
    names = list(activations_by_model)
    n_layers = max(len(v) for v in activations_by_model.values())
    if axes is None:
        _, axes = plt.subplots(len(names), n_layers, figsize=(2.1 * n_layers, 1.9 * len(names)),
                               squeeze=False, sharex="row", constrained_layout=True)
    axes = np.asarray(axes).reshape(len(names), -1)
    for row, name in enumerate(names):
        layers = [np.ravel(a) for a in activations_by_model[name]]
        hi = max(np.percentile(np.abs(a), 99.5) for a in layers) or 1.0
        for col, values in enumerate(layers):
            ax = axes[row, col]
            ax.hist(values, bins=bins, range=(-hi, hi), color=f"C{row}")
            ax.set_yticks([])
            ax.set_title(f"{layer_label} {col + 1}: std {values.std():.2g}", fontsize=8)
            ax.tick_params(labelsize=7)
        axes[row, 0].set_ylabel(name, fontsize=9)
    return axes


def plot_activation_std(stds_by_model: dict, *, ax=None, title: str | None = None, layer_label: str = "layer"):
    """Standard deviation of the activations against the layer index, one line per model (log y axis)."""
    where = "plot_activation_std"
    _check_dict(stds_by_model, "stds_by_model", where, "{'plain': [1.0, 0.5, 0.25]}")
    for name, stds in stds_by_model.items():
        stds = _numbers(stds, f"stds_by_model[{name!r}]", where)
        if stds.ndim != 1 or stds.size == 0 or not np.all(np.isfinite(stds)) or np.any(stds <= 0):
            raise ValueError(f"{where}: stds_by_model[{name!r}] must be a non-empty list of finite standard deviations "
                             f"> 0 (the y axis is logarithmic), got {describe(stds_by_model[name])}")
    ax = _axes(ax, figsize=(6, 4))
    for name, stds in stds_by_model.items():
        ax.semilogy(np.arange(1, len(stds) + 1), stds, "o-", label=name)
    _label(ax, layer_label, "std of activations (log scale)", title, legend=True)
    return ax


def plot_early_stopping(history, stops: dict, *, metric: str = "loss", ax=None, title: str | None = None,
                        max_epoch: int | None = None):
    """Training and validation curves with where early stopping would stop and which epoch it keeps.

    ``stops`` maps a label (e.g. ``"patience 5"``) to ``(stopped_epoch, best_epoch)``, 0-based;
    ``stopped_epoch`` None means it never stopped. Each entry draws a dotted vertical line at the
    stopping epoch and a dot on the validation curve at the best epoch. ``max_epoch`` zooms in.
    Entries that keep the same epoch are drawn as concentric rings (the first entry the
    largest), and entries that stop at the same epoch as interleaved dashes, so none hides another.
    Training in ``TRAIN_COLOR``, validation in ``VALIDATION_COLOR``, as in ``plot_history``.
    """
    where = "plot_early_stopping"
    train = _curve(history, metric, where)
    val = _curve(history, f"val_{metric}", where)
    if len(val) != len(train):
        raise ValueError(f"{where}: history['val_{metric}'] has {len(val)} epochs but history[{metric!r}] has "
                         f"{len(train)}")
    _check_dict(stops, "stops", where, "{'patience 5': (stopped_epoch, best_epoch)}")
    for label, entry in stops.items():
        if not (isinstance(entry, (tuple, list)) and len(entry) == 2):
            raise TypeError(f"{where}: stops[{label!r}] must be a pair (stopped_epoch or None, best_epoch), "
                            f"got {describe(entry)}")
        for name, epoch in (("stopped_epoch", entry[0]), ("best_epoch", entry[1])):
            if epoch is None and name == "stopped_epoch":
                continue
            epoch = check_int(epoch, f"stops[{label!r}] {name}", low=0)
            if epoch >= len(val):
                raise ValueError(f"{where}: stops[{label!r}] {name} is {epoch}, but the history has only {len(val)} "
                                 f"epochs (0 to {len(val) - 1})")
    if max_epoch is not None:
        max_epoch = check_int(max_epoch, "max_epoch", low=1)
    ax = _axes(ax, figsize=(7, 4))
    epochs = np.arange(len(train))
    ax.plot(epochs, train, color=TRAIN_COLOR, label=f"train {metric}")
    ax.plot(epochs, val, color=VALIDATION_COLOR, label=f"validation {metric}")
    colors = plt.cm.viridis(np.linspace(0.0, 0.85, max(len(stops), 1)))
    entries = [(label, None if stopped is None else int(stopped), int(best))
               for label, (stopped, best) in stops.items()]
    for color, (label, stopped, best) in zip(colors, entries):
        same_best = [e for e in entries if e[2] == best]
        rank = next(i for i, e in enumerate(same_best) if e[0] == label)
        size = 8 + 5 * (len(same_best) - 1 - rank)  # concentric rings: the first entry outermost
        text = "never stops" if stopped is None else f"stops at {stopped}"
        if stopped is not None:
            same_stop = [e for e in entries if e[1] == stopped]
            j, k = next(i for i, e in enumerate(same_stop) if e[0] == label), len(same_stop)
            style = ":" if k == 1 else (2.0 * j, (2.0, 2.0 * (k - 1)))  # interleaved dashes
            ax.axvline(stopped, color=color, linestyle=style, linewidth=1.8)
        ax.plot(best, val[best], "o", color=color, markersize=size, markeredgecolor="k",
                label=f"{label}: {text}, keeps {best}", zorder=3 + rank)
    if max_epoch is not None:
        ax.set_xlim(-0.5, max_epoch)
        shown = np.concatenate([train[: max_epoch + 1], val[: max_epoch + 1]])
        if np.any(np.isfinite(shown)):
            low, high = np.nanmin(shown), np.nanmax(shown)
            pad = 0.05 * (high - low) or 0.05 * max(abs(high), 1.0)
            ax.set_ylim(low - pad, high + pad)
    _label(ax, "epoch", metric, title, legend=True)
    legend = ax.get_legend()
    for handle in getattr(legend, "legend_handles", None) or getattr(legend, "legendHandles", []):
        if hasattr(handle, "set_markersize"):
            handle.set_markersize(8)  # the rings' sizes are for the plot; the legend shows each colour alike
    return ax


def mc_dropout_predict(model, X: np.ndarray, *, n_passes: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Monte Carlo dropout: class-1 probability averaged over ``n_passes`` passes with dropout ON.

    Each pass calls ``model.forward(X, training=True)``, so every dropout layer draws a fresh
    mask (from its own rng): each pass is one thinned network of the ensemble. Returns
    ``(mean, std)`` over the passes of ``sigmoid(logit)``, each of shape (N,). Shapes: X (N, D),
    model output (N,) or (N, 1). Only for models whose sole training-mode behaviour is dropout
    (batch norm would update its running statistics).
    """
    where = "mc_dropout_predict"
    _check_forward_model(model, where)
    check_array(X, "X", finite=True, where=where)
    if isinstance(n_passes, bool) or not isinstance(n_passes, (int, np.integer)) or n_passes < 2:
        raise ValueError(f"mc_dropout_predict: n_passes must be an integer >= 2, got {n_passes!r}")
    from ._threads import single_blas_thread

    with single_blas_thread():  # small matrices: one thread is fastest (see training.fit)
        probs = np.stack([sigmoid(_one_logit(model.forward(X, training=True), len(X), where))
                          for _ in range(int(n_passes))])
    return probs.mean(axis=0), probs.std(axis=0)


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


def plot_feature_map_rows(rows: dict, *, max_maps: int = 8, cmap: str = "viridis", title: str | None = None,
                          cell: float = 1.1):
    """Feature maps side by side, one row per entry of ``rows`` (e.g. maps, then dropout masks).

    ``rows`` maps a label to one sample's maps, shape (C, H, W); the first ``max_maps``
    channels are drawn. Each row has its own colour scale (shared across its channels), so a
    row of 0 / (1/keep_prob) masks shows dropped entries dark and kept ones bright. Returns the figure.
    """
    where = "plot_feature_map_rows"
    _check_dict(rows, "rows", where, "{label: maps of shape (C, H, W)}")
    for label, maps in rows.items():
        if not isinstance(maps, np.ndarray) or maps.ndim != 3:
            raise ValueError(f"plot_feature_map_rows: rows[{label!r}] must be an array of shape (C, H, W), got "
                             f"{getattr(maps, 'shape', type(maps).__name__)}")
        _finite_values(maps, f"rows[{label!r}]", where)
        if maps.size == 0:
            raise ValueError(f"{where}: rows[{label!r}] is empty (shape {maps.shape})")
    max_maps = check_int(max_maps, "max_maps", low=1)
    cell = check_real(cell, "cell", low=0.0, low_open=True)
    n_cols = min(max_maps, min(m.shape[0] for m in rows.values()))
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(cell * n_cols + 1.8, cell * len(rows) + 0.6),
                             squeeze=False)
    for r, (label, maps) in enumerate(rows.items()):
        low, high = float(maps[:n_cols].min()), float(maps[:n_cols].max())
        for c in range(n_cols):
            ax = axes[r, c]
            ax.imshow(maps[c], cmap=cmap, vmin=low, vmax=high if high > low else low + 1)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"channel {c}", fontsize=8)
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_paired_differences(results: dict, metric: str, *, baseline: str, ax=None, title: str | None = None,
                            percent: bool = False, lower_is_better: bool | None = None):
    """Each configuration minus ``baseline``, seed by seed: is a difference real or seed noise?

    ``results`` maps a configuration's label to its ``coursekit.experiments.run_seeds`` output
    (all run on the same seeds). One row per configuration other than ``baseline``: a dot per
    seed for ``metric(config) - metric(baseline)`` on that seed, a bar for their mean, and the
    win count ("4/4": better on every seed). Rows whose every seed is better are drawn in
    green, every seed worse in red. ``percent`` shows differences in percentage points
    (for accuracies). Returns the axes.
    """
    from .experiments import compare_paired

    where = "plot_paired_differences"
    _check_dict(results, "results", where, "{'none': run_seeds(...), 'dropout': run_seeds(...)}")
    if not isinstance(metric, str):
        raise TypeError(f"{where}: metric must be a string such as 'test_acc', got {describe(metric)}")
    if baseline not in results:
        raise ValueError(f"{where}: baseline {baseline!r} is not in results; the labels are {list(results)}")
    percent = check_bool(percent, "percent", where)
    others = [label for label in results if label != baseline]
    if not others:
        raise ValueError(f"{where}: results has only the baseline {baseline!r}; add configurations to compare")
    comparisons = [compare_paired(results[label], results[baseline], metric, names=(label, baseline),
                                  lower_is_better=lower_is_better) for label in others]
    scale = 100.0 if percent else 1.0
    ax = _axes(ax, figsize=(6.5, 0.45 * len(others) + 1.4))
    for row, comparison in enumerate(comparisons):
        y = len(others) - 1 - row
        diffs = scale * comparison.differences
        losses = comparison.n - comparison.wins - comparison.ties
        color = "#2ca02c" if comparison.wins == comparison.n else "#d62728" if losses == comparison.n else "0.45"
        ax.barh(y, diffs.mean(), height=0.55, color=color, alpha=0.35)
        ax.plot(diffs, np.full(diffs.shape, y), "o", color=color, markersize=4,
                label="one seed" if row == 0 else None)
        ax.annotate(f"{comparison.wins}/{comparison.n}", (1.01, y), xycoords=("axes fraction", "data"),
                    va="center", fontsize=8, color=color)
    ax.axvline(0.0, color="k", linewidth=0.8)
    ax.set_yticks(range(len(others)), others[::-1])
    better = "lower" if comparisons[0].lower_is_better else "higher"
    unit = " (percentage points)" if percent else ""
    _label(ax, f"{metric} minus that of {baseline!r} on the same seed{unit}; {better} is better", "", title,
           legend=True)
    ax.text(1.01, 1.0, "wins", transform=ax.transAxes, fontsize=8, va="bottom")
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


def plot_seed_results(results: dict, metric: str, *, ax=None, baseline: str | None = None,
                      reference: float | None = None, reference_label: str = "best possible",
                      percent: bool = False, xlabel: str | None = None, title: str | None = None):
    """One row per configuration: a dot per seed and a black tick at the mean over seeds.

    ``results`` maps a configuration's label to its ``experiments.run_seeds`` output (a list of
    dicts with ``"seed"`` and ``metric``), all on the same seeds. Each seed has one colour in
    every row, so a paired comparison can be read off: follow one colour from row to row.
    ``baseline`` (a label of ``results``) draws its mean as a dashed vertical line; ``reference``
    a dotted line at a value (e.g. the Bayes-optimal accuracy). ``percent`` shows the values
    times 100. The first configuration is at the top; the legend goes below the Axes.
    """
    where = "plot_seed_results"
    _check_dict(results, "results", where, "{'none': run_seeds(...), 'L2': run_seeds(...)}")
    if not isinstance(metric, str):
        raise TypeError(f"{where}: metric must be the name of a metric, got {describe(metric)}")
    seeds = None
    values = {}
    for label, runs in results.items():
        if not isinstance(runs, (list, tuple)) or not runs or not all(isinstance(r, dict) for r in runs):
            raise TypeError(f"{where}: results[{label!r}] must be the list of dicts returned by run_seeds, "
                            f"got {describe(runs)}")
        missing = [r.get("seed", i) for i, r in enumerate(runs) if metric not in r]
        if missing:
            raise ValueError(f"{where}: results[{label!r}] has no {metric!r} for seed(s) {missing}")
        these = [r.get("seed", i) for i, r in enumerate(runs)]
        if seeds is None:
            seeds = these
        elif these != seeds:
            raise ValueError(f"{where}: every configuration must come from the same seeds in the same order; "
                             f"results[{label!r}] has {these}, the first has {seeds}")
        values[label] = _finite_values([r[metric] for r in runs], f"results[{label!r}] {metric}", where)
    if baseline is not None and baseline not in results:
        raise ValueError(f"{where}: baseline {baseline!r} is not a label of results ({list(results)})")
    if reference is not None:
        reference = check_real(reference, "reference")
    percent = check_bool(percent, "percent", where)
    scale = 100.0 if percent else 1.0
    ax = _axes(ax, figsize=(7, 0.45 * len(results) + 1.5))
    rows = np.arange(len(results))[::-1]
    colors = plt.cm.tab10(np.arange(len(seeds)) % 10)
    for row, (label, vals) in zip(rows, values.items()):
        ax.axhline(row, color="0.9", linewidth=0.8, zorder=0)
        jitter = np.linspace(-0.15, 0.15, len(vals)) if len(vals) > 1 else np.zeros(1)
        ax.scatter(scale * vals, row + jitter, c=colors, s=20, zorder=3, edgecolors="k", linewidths=0.3)
        ax.plot(scale * vals.mean(), row, marker="|", markersize=18, markeredgewidth=2.5, color="k", zorder=4,
                label="mean over seeds" if row == rows[0] else None)
    if baseline is not None:
        ax.axvline(scale * values[baseline].mean(), color="0.3", linestyle="--", linewidth=1.2,
                   label=f"{baseline} (mean)")
    if reference is not None:
        ax.axvline(scale * reference, color="k", linestyle=":", linewidth=1.6, label=reference_label)
    ax.set_yticks(rows, list(results))
    ax.set_ylim(-0.6, len(results) - 0.4)
    shown = [v.min() for v in values.values()] + [v.max() for v in values.values()]
    shown += [reference] if reference is not None else []
    low, high = scale * min(shown), scale * max(shown)
    pad = 0.06 * (high - low or abs(high) or 1.0)
    ax.set_xlim(low - pad, high + pad)
    ax.scatter([], [], c="0.6", s=20, edgecolors="k", linewidths=0.3, label="one seed (one colour per seed)")
    _label(ax, xlabel or (f"{metric} (%)" if percent else metric), "", title, legend=False)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)
    return ax


__all__ += ["plot_reference_boundary", "plot_seed_results"]


def plot_image_rows(rows: dict, *, column_titles=None, cmap: str = "gray", title: str | None = None,
                    cell: float = 1.1):
    """Small images in a grid: one row per entry of ``rows``, one column per image.

    ``rows`` maps a row label to an array (K, H, W) of K images (every row the same K and
    H x W), e.g. ``{"clean": clean_examples, "as trained": noisy_examples}`` or one sample's
    feature maps and its dropout masks. Each row has its own colour scale, shared by its
    images, so a row of 0 / (1/keep_prob) masks shows dropped entries dark and kept ones
    bright. ``column_titles`` (K strings) label the columns, e.g. the class or the channel.
    Each row is one image strip (fast to draw even for many images). Returns the figure.
    """
    where = "plot_image_rows"
    _check_dict(rows, "rows", where, "{label: images of shape (K, H, W)}")
    shapes = set()
    for label, images in rows.items():
        if not isinstance(images, np.ndarray) or images.ndim != 3 or images.size == 0:
            raise ValueError(f"{where}: rows[{label!r}] must be a non-empty array of shape (K, H, W), got "
                             f"{describe(images)}")
        _finite_values(images, f"rows[{label!r}]", where)
        shapes.add(images.shape)
    if len(shapes) != 1:
        raise ValueError(f"{where}: every row must hold the same number of images of the same size, got shapes "
                         f"{ {label: images.shape for label, images in rows.items()} }")
    n_cols, height, width = shapes.pop()
    if column_titles is not None and (isinstance(column_titles, str) or len(column_titles) != n_cols):
        raise ValueError(f"{where}: column_titles must be {n_cols} labels, one per column, got "
                         f"{describe(column_titles)}")
    cell = check_real(cell, "cell", low=0.0, low_open=True)
    gap = max(1, width // 6)  # blank pixels between images
    fig, axes = plt.subplots(len(rows), 1, figsize=(cell * n_cols + 1.8, cell * len(rows) + 0.9), squeeze=False)
    colormap = plt.get_cmap(cmap).with_extremes(bad="white")
    for r, (label, images) in enumerate(rows.items()):
        strip = np.full((height, n_cols * (width + gap) - gap), np.nan)
        for c in range(n_cols):
            strip[:, c * (width + gap):c * (width + gap) + width] = images[c]
        low, high = float(images.min()), float(images.max())
        ax = axes[r, 0]
        ax.imshow(strip, cmap=colormap, vmin=low, vmax=high if high > low else low + 1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
        if r == 0 and column_titles is not None:
            for c, text in enumerate(column_titles):
                ax.text(c * (width + gap) + (width - 1) / 2, -1.0, str(text), ha="center", va="bottom", fontsize=8)
    fig.subplots_adjust(left=1.6 / fig.get_figwidth(), right=0.99, bottom=0.02, hspace=0.15,
                        top=1 - (0.75 if title else 0.45) / fig.get_figheight())
    if title:
        fig.suptitle(title)
    return fig


__all__ += ["plot_image_rows"]
