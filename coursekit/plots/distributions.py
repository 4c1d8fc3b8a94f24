"""Distributions and pictures: weight and activation histograms, feature maps, image rows, reliability."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .._validation import check_bool, check_int, check_real, describe
from ._common import _axes, _check_dict, _finite_values, _label, _numbers, _range


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


def plot_reliability(probabilities: np.ndarray, labels, *, n_bins: int = 10, ax=None, label: str | None = None,
                     color: str | None = None, title: str | None = None):
    """Reliability diagram: is the model right as often as it is confident?

    Shapes: probabilities (N, C) softmax outputs (e.g. ``calibration.temperature_softmax(logits, T)``);
    labels (N,) integers in [0, C). Examples are binned by confidence (their largest probability,
    ``n_bins`` equal-width bins, ``calibration.reliability_bins``); each non-empty bin is a point
    at (mean confidence, accuracy), its area proportional to the bin's share of the examples.
    Points below the diagonal are overconfident, above it underconfident. The legend gives
    ``label`` and the expected calibration error. Call it again on the same ``ax`` to compare
    models (e.g. before and after temperature scaling). Returns the axes.
    """
    from ..calibration import reliability_bins

    where = "plot_reliability"
    if label is not None and not isinstance(label, str):
        raise TypeError(f"{where}: label must be a string or None, got {describe(label)}")
    bins = reliability_bins(probabilities, labels, n_bins=n_bins)
    ax = _axes(ax, figsize=(4.4, 4.2))
    if not any(line.get_label() == "perfect calibration" for line in ax.get_lines()):
        ax.plot([0, 1], [0, 1], color="0.5", linestyle="--", linewidth=1, label="perfect calibration")
    used = bins.counts > 0
    share = bins.counts[used] / bins.counts.sum()
    text = f"{label + ': ' if label else ''}ECE {bins.ece:.3f}"
    line, = ax.plot(bins.confidence[used], bins.accuracy[used], "-", color=color, linewidth=1.2, alpha=0.8)
    ax.scatter(bins.confidence[used], bins.accuracy[used], s=12 + 400 * share, color=line.get_color(), alpha=0.75,
               edgecolors="white", zorder=3, label=text)
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_aspect("equal")
    _label(ax, "confidence (largest probability)", "accuracy", title, legend=True)
    return ax
