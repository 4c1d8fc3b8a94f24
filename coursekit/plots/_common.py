"""Shared pieces of the plots: the course's colours, axis set-up and argument checks."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .._validation import check_array, check_real, describe

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
