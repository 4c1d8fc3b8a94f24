"""Experiments over several seeds: paired runs, summaries and head-to-head comparisons.

A claim such as "dropout lowers the validation loss" is worth something only if it holds
across random seeds, and a comparison is fair only if both sides had the same luck: the
same initial weights and the same order of mini-batches. ``seed_streams(seed)`` gives each
source of randomness in a run its own generator, all derived from one seed, so adding a
dropout layer (which draws masks from ``noise``) changes neither the initial weights
(``init``) nor the batch order (``order``) of that seed.

Typical use::

    def run(streams):
        model = build(rng=streams.init, noise_rng=streams.noise)
        fit(model, ..., rng=streams.order, progress=False)
        return {"val_loss": ..., "test_loss": ...}

    results = {"none": run_seeds(run_none, SEEDS), "dropout": run_seeds(run_dropout, SEEDS)}
    print(results_table(results, ["val_loss", "test_loss"]))
    print(compare_paired(results["dropout"], results["none"], "test_loss", names=("dropout", "none")))
"""
from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

from ._progress import ProgressBar
from ._validation import check_int, check_rng, describe

__all__ = ["SeedStreams", "seed_streams", "run_seeds", "run_grid", "summarize", "PairedComparison",
           "compare_paired", "sign_test", "bootstrap_interval", "results_table", "is_lower_better",
           "EarlyStoppingSnapshot"]


@dataclass(frozen=True)
class SeedStreams:
    """Independent generators for one seed: ``init`` (initial weights), ``order`` (mini-batch
    order: pass it to ``fit`` as ``rng``) and ``noise`` (dropout masks and any other randomness
    drawn during training)."""

    seed: int
    init: np.random.Generator
    order: np.random.Generator
    noise: np.random.Generator


def seed_streams(seed: int) -> SeedStreams:
    """Three independent generators derived from ``seed`` (``np.random.SeedSequence(seed).spawn(3)``).

    The same seed always gives the same three streams, so two configurations run with the same
    seed start from the same weights and see the same batches (when built the same way).
    """
    seed = check_int(seed, "seed", low=0)
    init, order, noise = (np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(3))
    return SeedStreams(seed, init, order, noise)


def _check_seeds(seeds) -> list[int]:
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Iterable):
        raise TypeError(f"seeds must be a list of non-negative integers, got {describe(seeds)}")
    seeds = [check_int(s, "each seed", low=0) for s in seeds]
    if not seeds:
        raise ValueError("seeds is empty; pass at least one seed, e.g. range(5)")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {seeds}")
    return seeds


def run_seeds(run: Callable[[SeedStreams], dict], seeds, *, desc: str = "seeds",
              progress: bool = True) -> list[dict[str, float]]:
    """``run(seed_streams(seed))`` for every seed; one dict of metrics per seed, each with its ``"seed"``.

    ``run`` returns a dict of numbers (e.g. ``{"val_loss": 0.31, "test_accuracy": 0.87}``);
    a non-finite value raises ``ValueError`` naming the seed and the metric, so a diverged run
    is never averaged silently. A progress bar counts the seeds (``progress=False``, or the
    environment variable ``COURSEKIT_PROGRESS=0``, hides it; an exception removes it).
    """
    if not callable(run):
        raise TypeError(f"run must be a function of SeedStreams returning a dict of metrics, got {describe(run)}")
    seeds = _check_seeds(seeds)
    results = []
    with ProgressBar(len(seeds), desc=desc, unit="seed", enabled=progress, where="run_seeds") as bar:
        for seed in seeds:
            results.append(_run_one_seed(run, seed))
            bar.advance()
    return results


def run_grid(run: Callable[[int, SeedStreams], dict], cells, *, desc: str = "runs",
             progress: bool = True) -> list[dict[str, float]]:
    """``run(draw, seed_streams(seed))`` for every ``(draw, seed)`` pair of ``cells``; one dict per pair.

    ``cells`` is a list of ``(draw, seed)`` pairs of non-negative integers, typically
    ``coursekit.heldout.for_lesson(...).grid(draws=5, seeds=2)``: ``draw`` seeds the data (a
    fresh sample, split or label-noise pattern: ``run`` loads it), ``seed`` the training
    (initial weights, batch order, dropout masks). Each row carries ``"draw"`` and ``"seed"``
    besides ``run``'s metrics, checked as in ``run_seeds``; ``compare_paired`` then pairs two
    configurations run on the same cells. One progress bar counts the runs.
    """
    if not callable(run):
        raise TypeError(f"run must be a function of (draw, SeedStreams) returning a dict of metrics, "
                        f"got {describe(run)}")
    if isinstance(cells, (str, bytes)) or not isinstance(cells, Iterable):
        raise TypeError(f"cells must be a list of (draw, seed) pairs, got {describe(cells)}")
    checked = []
    for cell in cells:
        if not (isinstance(cell, (tuple, list)) and len(cell) == 2):
            raise TypeError(f"each cell must be a (draw, seed) pair of integers, got {describe(cell)}")
        checked.append((check_int(cell[0], "each cell's draw", low=0), check_int(cell[1], "each cell's seed", low=0)))
    if not checked:
        raise ValueError("cells is empty; pass at least one (draw, seed) pair, e.g. held.grid(draws=5, seeds=2)")
    if len(set(checked)) != len(checked):
        raise ValueError(f"cells must be distinct (draw, seed) pairs, got {checked}")
    results = []
    with ProgressBar(len(checked), desc=desc, unit="run", enabled=progress, where="run_grid") as bar:
        for draw, seed in checked:
            row = _run_one_seed(functools.partial(run, draw), seed, draw=draw)
            results.append(row)
            bar.advance()
    return results


def _run_one_seed(run, seed: int, *, draw: int | None = None) -> dict[str, float]:
    """``run(seed_streams(seed))`` with its metrics checked, plus ``"seed"`` (and ``"draw"``, if given)."""
    metrics = run(seed_streams(seed))
    where = f"seed {seed}" if draw is None else f"draw {draw}, seed {seed}"
    if not isinstance(metrics, dict) or not metrics:
        raise TypeError(f"run must return a non-empty dict of metrics, got {describe(metrics)} for {where}")
    row = {"seed": seed} if draw is None else {"draw": draw, "seed": seed}
    for key, value in metrics.items():
        if key in ("seed", "draw"):
            raise ValueError(f"run's metrics must not use the key {key!r}: run_seeds and run_grid add it")
        if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
            raise TypeError(f"metric {key!r} of {where} must be a number, got {describe(value)}")
        if not math.isfinite(float(value)):
            raise ValueError(f"metric {key!r} of {where} is {float(value)}: the run diverged or failed")
        row[key] = float(value)
    return row


def _column(results: list[dict], metric: str, where: str) -> np.ndarray:
    if not isinstance(results, (list, tuple)) or not results:
        raise TypeError(f"{where}: results must be the non-empty list returned by run_seeds, got {describe(results)}")
    missing = [r.get("seed", i) for i, r in enumerate(results) if metric not in r]
    if missing:
        have = sorted(k for k in results[0] if k != "seed")
        raise ValueError(f"{where}: metric {metric!r} is missing for seed(s) {missing}; the results have {have}")
    return np.array([r[metric] for r in results], dtype=np.float64)


def _real_values(values, name: str, where: str) -> np.ndarray:
    """``values`` as a non-empty, finite float64 vector, or a TypeError/ValueError saying what is wrong."""
    if values is None or isinstance(values, (str, bytes, dict)) or callable(values):
        raise TypeError(f"{where}: {name} must be a list or array of real numbers, got {describe(values)}")
    try:
        array = np.asarray(values)
    except (TypeError, ValueError, OverflowError):
        raise TypeError(f"{where}: {name} must be a list or array of real numbers, got {describe(values)}") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{where}: {name} must hold real numbers, got an array of dtype {array.dtype} "
                        f"({describe(values)})")
    array = array.astype(np.float64).reshape(-1)
    if array.size == 0:
        raise ValueError(f"{where}: {name} is empty")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{where}: {name} contain {int(np.sum(~np.isfinite(array)))} non-finite value(s) "
                         f"(NaN or inf); a diverged run must not be averaged")
    return array


def summarize(values) -> tuple[float, float]:
    """``(mean, sd)`` of per-seed values; sd is the sample standard deviation (ddof = 1), 0 for one value."""
    if values is None or isinstance(values, (str, bytes, dict)):
        raise TypeError(f"summarize: values must be a list or array of numbers, got {describe(values)}")
    try:
        values = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise TypeError(f"summarize: values must be numbers, got {describe(values)}") from None
    if values.size == 0:
        raise ValueError("summarize: values is empty")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"summarize: values contain {int(np.sum(~np.isfinite(values)))} non-finite value(s) "
                         f"(NaN or inf), got {describe(values)}; a diverged run must not be averaged")
    return float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else 0.0


def is_lower_better(metric: str) -> bool:
    """True for losses and errors, False for accuracy-like metrics (judged by the name, as Keras's mode='auto')."""
    if not isinstance(metric, str):
        raise TypeError(f"metric must be the name of a metric such as 'val_loss', got {describe(metric)}")
    name = metric.lower()
    if "loss" in name or "error" in name:
        return True
    if "accuracy" in name or name.endswith("acc"):
        return False
    raise ValueError(f"cannot tell whether {metric!r} should go down or up; pass lower_is_better=True or False")


@dataclass(frozen=True)
class PairedComparison:
    """Per-run differences ``a - b`` of one metric, for two configurations run on the same seeds (and draws).

    ``seeds`` (and ``draws``, when the runs came from ``run_grid``; else None) say which run
    each difference belongs to. ``wins`` counts the runs on which ``a`` did strictly better.
    ``sign_test_p`` and ``bootstrap_interval`` turn the differences into evidence;
    ``by_draw()`` averages them per data draw, to see whether an effect holds on every draw.
    """

    metric: str
    names: tuple[str, str]
    seeds: tuple[int, ...]
    differences: np.ndarray
    lower_is_better: bool
    draws: tuple[int, ...] | None = None

    @property
    def n(self) -> int:
        return len(self.differences)

    @property
    def wins(self) -> int:
        """Runs on which ``a`` did strictly better than ``b``."""
        return int(np.sum(self.differences < 0) if self.lower_is_better else np.sum(self.differences > 0))

    @property
    def ties(self) -> int:
        return int(np.sum(self.differences == 0))

    @property
    def losses(self) -> int:
        """Runs on which ``a`` did strictly worse than ``b``."""
        return self.n - self.wins - self.ties

    @property
    def mean_difference(self) -> float:
        return summarize(self.differences)[0]

    @property
    def sd_difference(self) -> float:
        return summarize(self.differences)[1]

    @property
    def sign_test_p(self) -> float:
        """One-sided sign test: the chance of at least ``wins`` wins out of the untied runs if ``a``
        and ``b`` were equally good (each untied run a fair coin). Small means ``a`` is better."""
        return sign_test(self.wins, self.n - self.ties)

    def bootstrap_interval(self, *, rng: np.random.Generator, level: float = 0.95,
                           resamples: int = 10_000) -> tuple[float, float]:
        """A percentile bootstrap interval of the mean difference ``a - b`` (see ``bootstrap_interval``).

        With draws, whole draws are resampled (runs on one draw share their data, so they are not
        independent); without, single runs."""
        groups = None if self.draws is None else np.asarray(self.draws)
        return bootstrap_interval(self.differences, rng=rng, level=level, resamples=resamples, groups=groups)

    def by_draw(self) -> dict[int, float]:
        """``{draw: mean difference a - b over that draw's runs}``, in the order the draws first appear."""
        if self.draws is None:
            raise ValueError(f"{self.names[0]} vs {self.names[1]}: these runs have no draws; "
                             "run them with run_grid to compare per data draw")
        out: dict[int, list[float]] = {}
        for draw, difference in zip(self.draws, self.differences):
            out.setdefault(draw, []).append(float(difference))
        return {draw: float(np.mean(values)) for draw, values in out.items()}

    def __str__(self) -> str:
        a, b = self.names
        better = "lower" if self.lower_is_better else "higher"
        runs = "seeds" if self.draws is None else f"runs ({len(set(self.draws))} data draws)"
        return (f"{a} vs {b}, {self.metric} ({better} is better): {a} better on {self.wins}/{self.n} {runs} "
                f"(sign test p = {self.sign_test_p:.3g}); mean difference {self.mean_difference:+.4f} "
                f"± {self.sd_difference:.4f} (sd over runs)")


def sign_test(wins: int, n: int) -> float:
    """One-sided sign test: ``P(X >= wins)`` for ``X ~ Binomial(n, 1/2)`` (1.0 when ``n`` is 0).

    ``wins`` of ``n`` untied paired runs went one way. Under "no difference" each run is a fair
    coin, so a small value says the wins are unlikely to be luck: 9 of 10 gives 0.011, 10 of 10
    gives 0.001. Exact (sums binomial coefficients).
    """
    wins, n = check_int(wins, "wins", low=0), check_int(n, "n", low=0)
    if wins > n:
        raise ValueError(f"wins must be at most n, got wins={wins}, n={n}")
    return sum(math.comb(n, k) for k in range(wins, n + 1)) / 2**n


def bootstrap_interval(values, *, rng: np.random.Generator, level: float = 0.95, resamples: int = 10_000,
                       groups=None) -> tuple[float, float]:
    """A percentile bootstrap interval for the mean of ``values`` (N,): ``(low, high)``.

    ``resamples`` times, draw N values with replacement and take their mean; the interval holds
    the middle ``level`` of those means. With ``groups`` (N,) labels (e.g. each run's data draw),
    whole groups are resampled instead of single values, because values in one group are not
    independent. Everything random comes from ``rng``.
    """
    from ._validation import check_real

    check_rng(rng)
    values = _real_values(values, "values", "bootstrap_interval")
    level = check_real(level, "level", low=0.0, high=1.0, low_open=True, high_open=True)
    resamples = check_int(resamples, "resamples", low=100)
    if groups is None:
        picks = rng.integers(0, values.size, size=(resamples, values.size))
        means = values[picks].mean(axis=1)
    else:
        groups = np.asarray(groups)
        if groups.shape != values.shape:
            raise ValueError(f"groups must have one label per value ({values.shape}), got shape {groups.shape}")
        labels, index = np.unique(groups, return_inverse=True)
        sums = np.bincount(index, weights=values, minlength=labels.size)
        counts = np.bincount(index, minlength=labels.size).astype(np.float64)
        picks = rng.integers(0, labels.size, size=(resamples, labels.size))
        means = sums[picks].sum(axis=1) / counts[picks].sum(axis=1)
    tail = (1.0 - level) / 2
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def compare_paired(results_a: list[dict], results_b: list[dict], metric: str, *, names=("a", "b"),
                   lower_is_better: bool | None = None) -> PairedComparison:
    """Compare two configurations run by run on ``metric`` (both from ``run_seeds``, or both from
    ``run_grid``, on the same seeds/cells in the same order).

    Returns a ``PairedComparison`` with the per-run differences ``a - b``, the number of runs
    ``a`` won, the mean and sd of the differences, a sign test and a bootstrap interval.
    Pairing removes the luck both sides share (initial weights, batch order, data), so a small
    but consistent improvement shows up as a high win count.
    """
    where = "compare_paired"
    values_a, values_b = _column(results_a, metric, where), _column(results_b, metric, where)
    keys_a = [(r.get("draw"), r.get("seed")) for r in results_a]
    keys_b = [(r.get("draw"), r.get("seed")) for r in results_b]
    if keys_a != keys_b:
        what = "seeds" if all(d is None for d, _ in keys_a + keys_b) else "(draw, seed) cells"
        shown = lambda keys: [s for _, s in keys] if what == "seeds" else keys  # noqa: E731
        raise ValueError(f"{where}: the two result lists must come from the same {what} in the same order "
                         f"(paired), got {shown(keys_a)} and {shown(keys_b)}")
    if lower_is_better is None:
        lower_is_better = is_lower_better(metric)
    if not (isinstance(names, (tuple, list)) and len(names) == 2):
        raise TypeError(f"{where}: names must be a pair of labels, got {describe(names)}")
    draws = None if all(d is None for d, _ in keys_a) else tuple(d for d, _ in keys_a)
    return PairedComparison(metric, (str(names[0]), str(names[1])), tuple(s for _, s in keys_a),
                            values_a - values_b, bool(lower_is_better), draws)


def results_table(results: dict[str, list[dict]], metrics: list[str], *, digits: int = 3,
                  percent: Iterable[str] = ()) -> str:
    """A text table: one row per configuration, one column per metric, each cell ``mean ± sd`` over seeds.

    ``results`` maps a configuration's label to its ``run_seeds`` output; metrics named in
    ``percent`` (e.g. accuracies) are shown in percent. The header says how many seeds.
    """
    if not isinstance(results, dict) or not results:
        raise TypeError(f"results_table: results must be a non-empty dict {{label: run_seeds(...)}}, "
                        f"got {describe(results)}")
    if isinstance(metrics, str):
        metrics = [metrics]
    percent = set(percent)
    counts = {label: len(rows) for label, rows in results.items()}
    rows = []
    for label, runs in results.items():
        cells = []
        for metric in metrics:
            mean, sd = summarize(_column(runs, metric, "results_table"))
            if metric in percent:
                cells.append(f"{100 * mean:.{max(digits - 2, 1)}f} ± {100 * sd:.{max(digits - 2, 1)}f}")
            else:
                cells.append(f"{mean:.{digits}f} ± {sd:.{digits}f}")
        rows.append([str(label)] + cells)
    header = ["configuration"] + [f"{m} (%)" if m in percent else m for m in metrics]
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths)))
    n = set(counts.values())
    first = next(iter(results.values()))
    if len(n) != 1:
        seeds_note = f"mean ± sd over runs ({counts})"
    elif all("draw" in r for r in first):
        seeds_note = f"mean ± sd over {n.pop()} runs ({len({r['draw'] for r in first})} data draws)"
    else:
        seeds_note = f"mean ± sd over {n.pop()} seeds"
    return "\n".join([seeds_note, line(header), "  ".join("-" * w for w in widths)] + [line(r) for r in rows])


class EarlyStoppingSnapshot:
    """A callback that watches a run as ``EarlyStopping`` would, without stopping it.

    Early stopping only decides *when* a run ends; it does not change the epochs before
    that. So one full run gives two results: its final weights, and the weights a run with
    ``EarlyStopping(monitor, restore_best_weights=True, **options)`` would have ended with.
    After training, ``weights`` holds the latter (a state dict: load it with
    ``model.load_state_dict(snapshot.weights)`` once the full run has been scored),
    ``stopped_epoch`` where that run would have stopped (0-based; None if it would have
    used every epoch, in which case ``weights`` are the best epoch's, as Keras 3 restores
    them), ``best_epoch`` the epoch whose weights they are, and ``epochs`` how many epochs
    the early-stopped run would have trained.

    With the same ``seed_streams`` the result is bit-for-bit that of the live callback:
    evaluating the validation set consumes no random numbers (dropout is off in evaluation
    mode), so the two runs are identical up to the stop. ``options`` are EarlyStopping's
    (``patience``, ``min_delta``, ``mode``, ``baseline``, ``start_from_epoch``).
    """

    def __init__(self, monitor: str = "val_loss", **options) -> None:
        from .early_stopping import EarlyStopping

        if "restore_best_weights" in options:
            raise TypeError("EarlyStoppingSnapshot always keeps the best weights; do not pass restore_best_weights")
        self.early_stopping = EarlyStopping(monitor, restore_best_weights=True, **options)
        self._reset()

    def _reset(self) -> None:
        self.weights: dict[str, np.ndarray] | None = None
        self.stopped_epoch: int | None = None
        self.best_epoch: int | None = None
        self.epochs = 0
        self._stopped = False

    def on_train_begin(self, model) -> None:
        self.early_stopping.on_train_begin(model)
        self._reset()

    def on_epoch_end(self, epoch: int, logs: dict) -> bool:
        if not self._stopped:
            self.epochs = epoch + 1
            if self.early_stopping.on_epoch_end(epoch, logs):
                self._stopped, self.stopped_epoch = True, epoch
                self._keep_best()
        return False  # never stops the run it watches

    def on_train_end(self) -> None:
        if not self._stopped:  # it would have trained to the end, then restored the best epoch's weights
            self._keep_best()

    def _keep_best(self) -> None:
        self.best_epoch = self.early_stopping.best_epoch
        best = self.early_stopping.best_weights
        self.weights = None if best is None else {k: v.copy() for k, v in best.items()}

    def __repr__(self) -> str:
        options = repr(self.early_stopping).removeprefix("EarlyStopping(")
        return f"EarlyStoppingSnapshot({options}"
