"""Paired comparisons over seeds and data draws: differences against a baseline, effects by draw."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .._validation import check_bool, check_real, describe
from ._common import _axes, _check_dict, _finite_values, _label


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
    from ..experiments import compare_paired

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


def plot_effect_by_draw(comparison, *, ax=None, title: str | None = None, percent: bool = False):
    """Does an effect hold on every data draw? One column per draw, one dot per training seed.

    ``comparison``: a ``coursekit.experiments.PairedComparison`` of runs from ``run_grid``
    (``compare_paired(results["dropout"], results["none"], "test_loss")``). Each dot is one
    run's difference ``a - b`` (same draw, same seed), each short bar a draw's mean; draws whose
    mean favours ``a`` are green, the others red. The title line says on how many draws and
    runs ``a`` won. ``percent`` shows differences in percentage points (for accuracies).
    Returns the axes.
    """
    from ..experiments import PairedComparison

    where = "plot_effect_by_draw"
    if not isinstance(comparison, PairedComparison):
        raise TypeError(f"{where}: comparison must be a PairedComparison from compare_paired, got {describe(comparison)}")
    if comparison.draws is None:
        raise ValueError(f"{where}: the comparison has no data draws; run both configurations with run_grid")
    percent = check_bool(percent, "percent", where)
    scale = 100.0 if percent else 1.0
    means = comparison.by_draw()
    ax = _axes(ax, figsize=(max(4.0, 0.55 * len(means) + 2.0), 3.4))
    column = {draw: i for i, draw in enumerate(means)}
    draws = np.array([column[d] for d in comparison.draws])
    better = (lambda v: v < 0) if comparison.lower_is_better else (lambda v: v > 0)  # noqa: E731
    good, bad = "#2ca02c", "#d62728"
    colors = [good if better(means[d]) else bad for d in comparison.draws]
    jitter = np.linspace(-0.15, 0.15, max(2, len(comparison.differences) // len(means)))
    offsets = np.array([jitter[i % len(jitter)] for i in range(len(draws))])
    ax.scatter(draws + offsets, scale * comparison.differences, c=colors, s=16, zorder=3, label="one run (seed)")
    for draw, i in column.items():
        ax.plot([i - 0.3, i + 0.3], [scale * means[draw]] * 2, color=good if better(means[draw]) else bad,
                linewidth=2.5, label="mean of the draw" if i == 0 else None)
    ax.axhline(0.0, color="k", linewidth=0.8)
    ax.set_xticks(range(len(means)), [str(i + 1) for i in range(len(means))])
    a, b = comparison.names
    draw_wins = sum(better(v) for v in means.values())
    direction = "lower" if comparison.lower_is_better else "higher"
    unit = " (points)" if percent else ""
    _label(ax, "data draw", f"{comparison.metric}: {a} − {b}{unit}", title, legend=True)
    ax.set_title((title + "\n" if title else "") +
                 f"{a} {direction} on {draw_wins}/{len(means)} draws, {comparison.wins}/{comparison.n} runs",
                 fontsize=9 if title else None)
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
