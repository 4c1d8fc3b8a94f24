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

import math
import numbers
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

from ._progress import ProgressBar
from ._validation import check_int, describe

__all__ = ["SeedStreams", "seed_streams", "run_seeds", "summarize", "PairedComparison", "compare_paired",
           "results_table", "is_lower_better", "EarlyStoppingSnapshot"]


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


def _run_one_seed(run, seed: int) -> dict[str, float]:
    """``run(seed_streams(seed))`` with its metrics checked, plus ``"seed"``."""
    metrics = run(seed_streams(seed))
    if not isinstance(metrics, dict) or not metrics:
        raise TypeError(f"run must return a non-empty dict of metrics, got {describe(metrics)} for seed {seed}")
    row = {"seed": seed}
    for key, value in metrics.items():
        if key == "seed":
            raise ValueError("run's metrics must not use the key 'seed': run_seeds adds it")
        if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
            raise TypeError(f"metric {key!r} of seed {seed} must be a number, got {describe(value)}")
        if not math.isfinite(float(value)):
            raise ValueError(f"metric {key!r} of seed {seed} is {float(value)}: the run diverged or failed")
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
    """Per-seed differences ``a - b`` of one metric, for two configurations run on the same seeds."""

    metric: str
    names: tuple[str, str]
    seeds: tuple[int, ...]
    differences: np.ndarray
    lower_is_better: bool

    @property
    def n(self) -> int:
        return len(self.differences)

    @property
    def wins(self) -> int:
        """Seeds on which ``a`` did strictly better than ``b``."""
        return int(np.sum(self.differences < 0) if self.lower_is_better else np.sum(self.differences > 0))

    @property
    def ties(self) -> int:
        return int(np.sum(self.differences == 0))

    @property
    def mean_difference(self) -> float:
        return summarize(self.differences)[0]

    @property
    def sd_difference(self) -> float:
        return summarize(self.differences)[1]

    def __str__(self) -> str:
        a, b = self.names
        better = "lower" if self.lower_is_better else "higher"
        return (f"{a} vs {b}, {self.metric} ({better} is better): {a} better on {self.wins}/{self.n} seeds; "
                f"mean difference {self.mean_difference:+.4f} ± {self.sd_difference:.4f} (sd over seeds)")


def compare_paired(results_a: list[dict], results_b: list[dict], metric: str, *, names=("a", "b"),
                   lower_is_better: bool | None = None) -> PairedComparison:
    """Compare two configurations seed by seed on ``metric`` (both from ``run_seeds`` on the same seeds).

    Returns a ``PairedComparison`` with the per-seed differences ``a - b``, the number of seeds
    ``a`` won, and the mean and sd of the differences. Pairing removes the seed-to-seed
    luck both sides share, so a small but consistent improvement shows up as a high win count.
    """
    where = "compare_paired"
    values_a, values_b = _column(results_a, metric, where), _column(results_b, metric, where)
    seeds_a = [r.get("seed") for r in results_a]
    seeds_b = [r.get("seed") for r in results_b]
    if seeds_a != seeds_b:
        raise ValueError(f"{where}: the two result lists must come from the same seeds in the same order "
                         f"(paired), got {seeds_a} and {seeds_b}")
    if lower_is_better is None:
        lower_is_better = is_lower_better(metric)
    if not (isinstance(names, (tuple, list)) and len(names) == 2):
        raise TypeError(f"{where}: names must be a pair of labels, got {describe(names)}")
    return PairedComparison(metric, (str(names[0]), str(names[1])), tuple(seeds_a), values_a - values_b,
                            bool(lower_is_better))


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
    seeds_note = f"mean ± sd over {n.pop()} seeds" if len(n) == 1 else f"mean ± sd over seeds ({counts})"
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
