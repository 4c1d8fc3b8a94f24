"""Plots that answer one question each. Every function takes an optional ``ax`` and returns it."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .layers import sigmoid

__all__ = ["plot_dataset", "plot_decision_boundary", "plot_history", "plot_weight_histograms"]

CLASS_COLORS = ("#1f77b4", "#d62728")


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
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if title:
        ax.set_title(title)
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
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
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
    ax.set_xlabel("weight value")
    ax.set_ylabel("count")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return ax
