"""Plots that answer one question each. Every function takes an optional ``ax`` and returns it."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .layers import sigmoid

__all__ = ["plot_dataset", "plot_decision_boundary", "plot_history", "plot_weight_histograms",
           "plot_validation_curve",
           "plot_activation_histograms", "plot_activation_std", "plot_early_stopping",
           "mc_dropout_predict", "plot_mc_dropout_uncertainty",
           "plot_feature_map_rows"]

CLASS_COLORS = ("#1f77b4", "#d62728")


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
    return ax


def plot_dataset(X: np.ndarray, y: np.ndarray, *, ax=None, title: str | None = None, marker: str = "o",
                 alpha: float = 0.8):
    """Scatter a 2-D binary data set, class 0 blue, class 1 red. Shapes: X (N, 2), y (N,)."""
    ax = _axes(ax)
    y = np.asarray(y).reshape(-1)
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
    softmax probability is shown).
    """
    ax = _axes(ax)
    x_min, y_min = X.min(axis=0) - margin
    x_max, y_max = X.max(axis=0) + margin
    xx, yy = np.meshgrid(np.linspace(x_min, x_max, resolution), np.linspace(y_min, y_max, resolution))
    grid = np.column_stack([xx.ravel(), yy.ravel()]).astype(X.dtype)
    out = model.predict(grid)
    if out.ndim == 1 or out.shape[1] == 1:
        prob = sigmoid(out.reshape(-1))
    else:
        e = np.exp(out - out.max(axis=1, keepdims=True))
        prob = (e / e.sum(axis=1, keepdims=True))[:, 1]
    prob = prob.reshape(xx.shape)
    ax.contourf(xx, yy, prob, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.35)
    ax.contour(xx, yy, prob, levels=[0.5], colors="k", linewidths=1.2)
    plot_dataset(X, y, ax=ax, title=title)
    ax.set_xlim(x_min, x_max)
    ax.set_ylim(y_min, y_max)
    return ax


def plot_history(history, *, metric: str = "loss", ax=None, title: str | None = None, label: str = "",
                 mark_best: bool = True):
    """Training and validation curves of one metric against the epoch.

    Marks the epoch with the best validation value (lowest loss / highest accuracy).
    """
    ax = _axes(ax, figsize=(6, 4))
    train = history[metric]
    epochs = np.arange(len(train))
    prefix = f"{label} " if label else ""
    line, = ax.plot(epochs, train, label=f"{prefix}train {metric}")
    val_key = f"val_{metric}"
    if val_key in history:
        val = np.asarray(history[val_key])
        ax.plot(epochs, val, "--", color=line.get_color(), label=f"{prefix}validation {metric}")
        if mark_best:
            best = int(np.nanargmin(val) if "loss" in metric else np.nanargmax(val))
            ax.plot(best, val[best], "o", color=line.get_color(), markersize=6)
            ax.annotate(f"best val: epoch {best}", (best, val[best]), textcoords="offset points", xytext=(5, 8),
                        fontsize=8)
    _label(ax, "epoch", metric, title, legend=True)
    return ax


def plot_weight_histograms(weights_by_name: dict, *, ax=None, bins: int = 60, title: str | None = None,
                           value_range: tuple[float, float] | None = None, log: bool = False):
    """Overlaid histograms of all weights of several models, e.g. ``{"lambda = 0": model.weights(), ...}``.

    Each value is a list of arrays (flattened and concatenated) or one array.
    """
    ax = _axes(ax, figsize=(6, 4))
    flat = {name: np.concatenate([np.ravel(w) for w in (ws if isinstance(ws, (list, tuple)) else [ws])])
            for name, ws in weights_by_name.items()}
    if value_range is None:
        hi = max(np.percentile(np.abs(v), 99.5) for v in flat.values())
        value_range = (-hi, hi)
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
    ax = _axes(ax, figsize=(6, 4))
    values = np.asarray(param_values, dtype=float)
    for label, scores in scores_by_label.items():
        line, = ax.plot(values, scores, "o-", label=label)
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
    """
    ax = _axes(ax, figsize=(7, 4))
    train, val = np.asarray(history[metric]), np.asarray(history[f"val_{metric}"])
    epochs = np.arange(len(train))
    ax.plot(epochs, train, color="0.55", label=f"train {metric}")
    ax.plot(epochs, val, color="k", label=f"validation {metric}")
    colors = plt.cm.viridis(np.linspace(0.0, 0.85, max(len(stops), 1)))
    for color, (label, (stopped, best)) in zip(colors, stops.items()):
        where = "never stops" if stopped is None else f"stops at {stopped}"
        if stopped is not None:
            ax.axvline(stopped, color=color, linestyle=":", linewidth=1.8)
        ax.plot(best, val[best], "o", color=color, markersize=8, markeredgecolor="k",
                label=f"{label}: {where}, keeps {best}")
    if max_epoch is not None:
        ax.set_xlim(-0.5, max_epoch)
        shown = np.concatenate([train[: max_epoch + 1], val[: max_epoch + 1]])
        pad = 0.05 * (shown.max() - shown.min())
        ax.set_ylim(shown.min() - pad, shown.max() + pad)
    _label(ax, "epoch", metric, title, legend=True)
    return ax


def mc_dropout_predict(model, X: np.ndarray, *, n_passes: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Monte Carlo dropout: class-1 probability averaged over ``n_passes`` passes with dropout ON.

    Each pass calls ``model.forward(X, training=True)``, so every dropout layer draws a fresh
    mask (from its own rng): each pass is one thinned network of the ensemble. Returns
    ``(mean, std)`` over the passes of ``sigmoid(logit)``, each of shape (N,). Shapes: X (N, D),
    model output (N,) or (N, 1). Only for models whose sole training-mode behaviour is dropout
    (batch norm would update its running statistics).
    """
    if isinstance(n_passes, bool) or not isinstance(n_passes, (int, np.integer)) or n_passes < 2:
        raise ValueError(f"mc_dropout_predict: n_passes must be an integer >= 2, got {n_passes!r}")
    from ._threads import single_blas_thread

    with single_blas_thread():  # small matrices: one thread is fastest (see training.fit)
        probs = np.stack([sigmoid(model.forward(X, training=True).reshape(-1)) for _ in range(int(n_passes))])
    return probs.mean(axis=0), probs.std(axis=0)


def plot_mc_dropout_uncertainty(model, X: np.ndarray, y: np.ndarray, *, n_passes: int = 100, ax=None,
                                title: str | None = None, resolution: int = 100, margin: float = 0.5):
    """Where is the network unsure? Shade the std of the MC-dropout probability over the plane.

    Uses ``mc_dropout_predict`` on a ``resolution`` x ``resolution`` grid around X; draws the
    MC-averaged p = 0.5 boundary in black and scatters (X, y). Shapes: X (N, 2), y (N,).
    """
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
    if not rows:
        raise ValueError("plot_feature_map_rows: rows is empty; pass {label: maps of shape (C, H, W)}")
    for label, maps in rows.items():
        if not isinstance(maps, np.ndarray) or maps.ndim != 3:
            raise ValueError(f"plot_feature_map_rows: rows[{label!r}] must be an array of shape (C, H, W), got "
                             f"{getattr(maps, 'shape', type(maps).__name__)}")
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
