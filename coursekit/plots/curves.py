"""Training curves: loss/accuracy per epoch, validation curves over a hyperparameter, early stopping."""
from __future__ import annotations

import math
import numbers

import matplotlib.pyplot as plt
import numpy as np

from .._validation import check_bool, check_int, check_real, describe
from ._common import (
    _MODEL_LINESTYLES,
    TRAIN_COLOR,
    VALIDATION_COLOR,
    _axes,
    _check_dict,
    _curve,
    _label,
    _numbers,
    _split_color,
)


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
