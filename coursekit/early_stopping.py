"""Early stopping with Keras 3 semantics, and the small functions it is built from.

The per-epoch decision (monitored value ``current``, best value so far ``best``, counter
``wait`` of epochs without improvement):

* min mode: ``current`` improves when ``current < best - min_delta``;
  max mode: when ``current > best + min_delta``. Equal is not an improvement, a change
  smaller than ``min_delta`` is not an improvement, a change of exactly ``min_delta`` is not
  an improvement, and NaN never is (every comparison with NaN is False).
* "Exactly" survives floating point. In float64, ``0.07 - 0.01`` is ``0.06000000000000001``,
  so the literal test ``0.06 < 0.07 - 0.01`` calls a step of exactly 0.01 an improvement.
  With ``min_delta > 0`` the gain (``best - current`` in min mode, ``current - best`` in max
  mode) must therefore exceed ``min_delta`` by more than a rounding tolerance,
  ``ROUNDING_TOLERANCE * max(|best|, |current|, min_delta)`` with ``ROUNDING_TOLERANCE =
  8 * 2.2e-16`` (8 float64 machine epsilons). Why 8: writing best, current and min_delta as
  float64 numbers rounds each by at most half an epsilon (relative), and the two subtractions
  add at most about two more, so an exact decimal step is off by at most ~3.5 epsilons of
  the largest magnitude; 8 leaves room for values that went through a few more operations
  (e.g. ``1 - 3 * 0.1``). The rule is scale-free: multiplying best, current and min_delta by
  any power of ten changes no decision, and every step larger than min_delta by more than
  ~2e-15 of the values' magnitude counts (a step of 1.001 * min_delta counts as long as the
  values are below ~5e11 times min_delta). With ``min_delta = 0`` the test is exact
  (``current < best``: any decrease improves, equal does not), and so it is when ``best`` or
  ``current`` is infinite.
* Keras order: ``wait += 1``; on an improvement ``best = current`` and ``wait = 0`` and the
  epoch never stops training; otherwise stop when ``wait >= patience`` (never at epoch 0).

With ``restore_best_weights`` the callback keeps a *copy* of the weights of the best epoch
and writes it back into the model when training ends, whether it stopped early or ran out
of epochs.
"""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from ._validation import check_bool, check_int, check_number, check_real, describe

__all__ = ["is_improvement", "early_stopping_step", "save_best_weights", "restore_best_weights",
           "EarlyStopping", "ROUNDING_TOLERANCE"]

_MODES = ("auto", "min", "max")

ROUNDING_TOLERANCE = 8 * float(np.finfo(np.float64).eps)
"""Relative float64 tolerance under which a gain equal to ``min_delta`` is "exactly min_delta" (not an improvement)."""


def _check_mode(mode, *, allow_auto: bool) -> str:
    allowed = _MODES if allow_auto else _MODES[1:]
    if not isinstance(mode, str) or mode not in allowed:
        raise ValueError(f"mode must be one of {', '.join(repr(m) for m in allowed)}, got {mode!r}")
    return mode


def is_improvement(current: float, reference: float, *, min_delta: float, mode: str) -> bool:
    """Whether ``current`` beats ``reference`` by more than ``min_delta``.

    min mode: ``current < reference - min_delta``; max mode: ``current > reference + min_delta``,
    in float64, with a change of exactly ``min_delta`` never an improvement despite rounding
    (see the module docstring: the gain must exceed min_delta by more than
    ``ROUNDING_TOLERANCE * max(|current|, |reference|, min_delta)``; with min_delta = 0 the test
    is exact). Equal values and NaN (in either argument) are never an improvement.
    current, reference: real numbers (NaN and +-inf allowed); min_delta: finite, >= 0;
    mode: "min" or "max".
    """
    where = "is_improvement"
    current = check_number(current, "current", where)
    reference = check_number(reference, "reference", where)
    min_delta = _check_min_delta(min_delta, where)
    return _improves(current, reference, min_delta, _check_mode(mode, allow_auto=False))


def _improves(current: float, reference: float, min_delta: float, direction: str) -> bool:
    """``is_improvement`` for validated floats."""
    if math.isnan(current) or math.isnan(reference):
        return False
    gain = reference - current if direction == "min" else current - reference
    if min_delta == 0.0 or not (math.isfinite(current) and math.isfinite(reference)):
        return gain > min_delta  # exact: no rounding to forgive (inf - inf is NaN: False)
    return gain - min_delta > ROUNDING_TOLERANCE * max(abs(current), abs(reference), min_delta)


def _check_min_delta(min_delta, where: str) -> float:
    """A finite min_delta >= 0 (Keras silently takes abs() of a negative one: here it is an error)."""
    value = check_real(min_delta, "min_delta")
    if value < 0:
        raise ValueError(f"{where}: min_delta must be >= 0.0, got {value}; it is the amount a change must exceed "
                         f"to count as an improvement (did you mean {-value}?)")
    return value


def early_stopping_step(best: float, wait: int, current: float, *, min_delta: float, patience: int,
                        mode: str) -> tuple[float, int, bool, bool]:
    """One epoch of the early-stopping decision (Keras 3 order, no baseline).

    best: best monitored value so far (``inf`` in min mode / ``-inf`` in max mode before any epoch);
      never NaN, since a NaN never becomes best (a NaN ``best`` is a ``ValueError``)
    wait: epochs since the last improvement (an integer >= 0)
    current: this epoch's monitored value (may be NaN: never an improvement)
    min_delta: finite, >= 0; patience: an integer >= 0; mode: "min" or "max"
    returns ``(best, wait, improved, stop)``:
      ``wait += 1``; if ``current`` beats ``best`` by more than ``min_delta`` (``is_improvement``:
      a change of exactly min_delta does not, despite float rounding) then
      ``best = current``, ``wait = 0``, ``stop = False``; otherwise ``stop = wait >= patience``.
    best is returned as a Python float. Wrong types, a NaN ``best``, a negative or NaN
    ``min_delta``, a negative ``patience`` or ``wait`` are a ``TypeError``/``ValueError`` naming
    the argument.
    """
    where = "early_stopping_step"
    best = check_number(best, "best", where)
    if math.isnan(best):
        raise ValueError(f"{where}: best must be a number, got nan; a NaN never becomes best (it is no improvement), "
                         "so best is inf (min mode) or -inf (max mode) until a real value arrives")
    wait = check_int(wait, "wait", low=0)
    current = check_number(current, "current", where)
    min_delta = _check_min_delta(min_delta, where)
    patience = check_int(patience, "patience", low=0)
    direction = _check_mode(mode, allow_auto=False)
    wait = wait + 1
    if _improves(current, best, min_delta, direction):
        return current, 0, True, False
    return best, wait, False, wait >= patience


def save_best_weights(params: tuple, best_weights: tuple | None, *, improved: bool) -> tuple | None:
    """The weights to remember after an epoch.

    params: tuple of the model's live parameter arrays (the optimizer changes them in place)
    best_weights: tuple of arrays saved earlier, or None when nothing is saved yet
    returns: a tuple of *copies* of ``params`` when ``improved`` or when nothing is saved
    yet (so there is always something to restore); otherwise ``best_weights`` unchanged.
    """
    where = "save_best_weights"
    params = _check_arrays(params, "params", where)
    improved = check_bool(improved, "improved", where)
    if best_weights is not None:
        _check_arrays(best_weights, "best_weights", where, like=params)
    if improved or best_weights is None:
        return tuple(np.array(p, copy=True) for p in params)
    return best_weights


def restore_best_weights(params: tuple, best_weights: tuple | None, *, stopped_early: bool) -> tuple:
    """At the end of training, write the saved weights back into the live arrays, in place.

    params: tuple of the model's live parameter arrays
    best_weights: tuple of saved arrays (shapes as ``params``), or None when nothing was saved
    stopped_early: whether early stopping ended training; Keras restores either way, so
      it does not change what happens
    returns: ``params`` (the same arrays, now holding the saved values)
    """
    where = "restore_best_weights"
    _check_arrays(params, "params", where)
    check_bool(stopped_early, "stopped_early", where)
    if best_weights is not None:
        _check_arrays(best_weights, "best_weights", where, like=params)
        for live, saved in zip(params, best_weights):
            live[...] = saved
    return params


def _check_arrays(arrays, name: str, where: str, *, like=None) -> tuple:
    """A tuple/list of numpy arrays; with ``like``, one per array of ``like``, shape for shape."""
    if not isinstance(arrays, (tuple, list)):
        raise TypeError(f"{where}: {name} must be a tuple of numpy arrays, e.g. tuple(p.value for p in "
                        f"model.parameters()), got {describe(arrays)} of type {type(arrays).__name__}")
    for i, a in enumerate(arrays):
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{where}: {name}[{i}] must be a numpy array, got {describe(a)} of type {type(a).__name__}")
    if like is not None:
        if len(arrays) != len(like):
            raise ValueError(f"{where}: {name} has {len(arrays)} arrays but params has {len(like)}; "
                             "save and restore the same model's parameters")
        for i, (a, b) in enumerate(zip(arrays, like)):
            if a.shape != b.shape:
                raise ValueError(f"{where}: {name}[{i}] has shape {a.shape} but params[{i}] has shape {b.shape}")
    return tuple(arrays)


def _auto_mode(monitor: str) -> str:
    name = monitor.removeprefix("val_")
    if name.endswith("loss") or name.endswith("error"):
        return "min"
    if name.endswith("accuracy") or name in ("acc", "auc", "precision", "recall", "f1"):
        return "max"
    raise ValueError(
        f"EarlyStopping: mode='auto' cannot tell whether monitor={monitor!r} should go down or up; "
        "pass mode='min' (for losses and errors) or mode='max' (for accuracy-like metrics)"
    )


class EarlyStopping:
    """Stop training when a monitored metric has stopped improving (Keras 3 semantics).

    Parameters
    ----------
    monitor: key of the epoch logs to watch (``"val_loss"``, ``"val_accuracy"``, ``"loss"``, ...).
    min_delta: (>= 0) an improvement must be larger than this.
    patience: (>= 0) epochs without improvement after which training stops.
    mode: ``"min"``, ``"max"`` or ``"auto"`` (min for names ending in ``loss``, max for accuracy).
    baseline: if given, ``wait`` is reset only by epochs that also beat the baseline (by more
      than ``min_delta``); if no epoch does, training stops after ``patience`` epochs.
    restore_best_weights: keep a copy of the best epoch's weights (``model.state_dict()``) and
      load it at the end of training, stopped early or not.
    start_from_epoch: epochs ``0 .. start_from_epoch - 1`` are a warm-up that is not monitored.
    verbose: 0 silent, 1 prints when it stops and when it restores.

    Attributes (reset by ``on_train_begin``): ``best`` (``inf``/``-inf`` before the first
    monitored epoch), ``best_epoch``, ``wait``, ``stopped_epoch`` (0-based; 0 means it did not
    stop: it never stops at epoch 0), ``stop_reason`` (a sentence, None unless it stopped),
    ``best_weights`` (the saved state dict or None).

    Deliberate differences from Keras 3's ``EarlyStopping``:

    * **NaN never becomes best.** Keras 3 starts from ``best = None`` and takes the first
      monitored value as best whatever it is, so a NaN in the first monitored epoch becomes
      ``best`` and, since nothing compares better than NaN, no later epoch ever improves.
      Here a NaN is never an improvement (a ``RuntimeWarning`` says so): ``best`` stays
      ``inf``/``-inf`` until a real value arrives, and the wait counter runs as for any
      epoch without improvement.
    * **float64, and exact steps of min_delta.** Keras compares with backend ops on float32
      tensors, ``current + min_delta < best`` (min mode), where rounding can call a change of
      exactly ``min_delta`` an improvement (0.06 after 0.07 with min_delta 0.01). Here the
      comparison is in float64 and a change of exactly ``min_delta`` is never an improvement
      (see ``is_improvement`` and the module docstring for the tolerance).
    * **Mistakes are errors.** Keras warns and carries on for an unknown ``mode`` (falls back to
      auto), a negative ``min_delta`` (uses ``abs``) and a monitored metric missing from the
      logs (skips the epoch); here each is a ``ValueError`` naming the value. ``mode="auto"``
      decides from the name (``...loss``/``...error``: min; accuracy-like: max), where Keras also
      asks the compiled metric for its direction.
    """

    def __init__(self, monitor: str = "val_loss", *, min_delta: float = 0.0, patience: int = 0,
                 mode: str = "auto", baseline: float | None = None, restore_best_weights: bool = False,
                 start_from_epoch: int = 0, verbose: int = 0) -> None:
        if not isinstance(monitor, str) or not monitor:
            raise TypeError(f"EarlyStopping: monitor must be the name of a logged metric such as 'val_loss', "
                            f"got {describe(monitor)} of type {type(monitor).__name__}")
        self.monitor = monitor
        self.min_delta = _check_min_delta(min_delta, "EarlyStopping")
        self.patience = check_int(patience, "patience", low=0)
        _check_mode(mode, allow_auto=True)
        self.mode = mode
        self.direction = _auto_mode(monitor) if mode == "auto" else mode
        self.baseline = None if baseline is None else check_real(baseline, "baseline")
        if not isinstance(restore_best_weights, (bool, np.bool_)):
            raise TypeError(f"EarlyStopping: restore_best_weights must be True or False, "
                            f"got {describe(restore_best_weights)}")
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = check_int(start_from_epoch, "start_from_epoch", low=0)
        verbose = check_int(verbose, "verbose", low=0)
        if verbose > 1:
            raise ValueError(f"EarlyStopping: verbose must be 0 or 1, got {verbose}")
        self.verbose = verbose
        self.model = None
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = math.inf if self.direction == "min" else -math.inf
        self.best_epoch = 0
        self.best_weights = None
        self.stop_reason: str | None = None

    def on_train_begin(self, model) -> None:
        """Remember the model (for its weights) and reset the state, so an instance can be reused."""
        if self.restore_best_weights and not (hasattr(model, "state_dict") and hasattr(model, "load_state_dict")):
            raise TypeError("EarlyStopping(restore_best_weights=True) needs a model with state_dict() and "
                            f"load_state_dict(), got {type(model).__name__}")
        self.model = model
        self._reset()

    def _monitored_value(self, epoch: int, logs) -> float:
        if not isinstance(logs, dict) or self.monitor not in logs:
            keys = sorted(logs) if isinstance(logs, dict) else []
            hint = (" (val_* metrics exist only when fit gets validation_data)"
                    if self.monitor.startswith("val_") and not any(k.startswith("val_") for k in keys) else "")
            raise ValueError(f"EarlyStopping: monitor={self.monitor!r} is not in the logs of epoch {epoch}; "
                             f"the logged metrics are {keys}{hint}")
        value = logs[self.monitor]
        if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
            raise TypeError(f"EarlyStopping: logs[{self.monitor!r}] must be a number, got {describe(value)}")
        return check_number(value, f"logs[{self.monitor!r}]", "EarlyStopping")

    def on_epoch_end(self, epoch: int, logs: dict) -> bool:
        """Update best / wait from ``logs[monitor]``; return True when training should stop."""
        epoch = check_int(epoch, "epoch", low=0)
        current = self._monitored_value(epoch, logs)
        if epoch < self.start_from_epoch:
            return False
        if self.restore_best_weights and self.best_weights is None:
            # Nothing saved yet (first monitored epoch): these weights are the best so far.
            self._save_weights()
            self.best_epoch = epoch
        if math.isnan(current):
            warnings.warn(f"EarlyStopping: {self.monitor} is NaN at epoch {epoch}; a NaN never counts as an "
                          f"improvement (wait becomes {self.wait + 1}, patience {self.patience})",
                          RuntimeWarning, stacklevel=2)
        self.wait += 1
        if _improves(current, self.best, self.min_delta, self.direction):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self._save_weights()
            # wait restarts only when the epoch beats both the best so far and the baseline
            if self.baseline is None or _improves(current, self.baseline, self.min_delta, self.direction):
                self.wait = 0
            return False
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.stop_reason = self._describe_stop(epoch)
            if self.verbose:
                print(self.stop_reason)
            return True
        return False

    def _save_weights(self) -> None:
        if self.model is None:
            raise RuntimeError("EarlyStopping(restore_best_weights=True): call on_train_begin(model) before "
                               "on_epoch_end (fit does this for you)")
        self.best_weights = self.model.state_dict()  # copies, never views

    def _describe_stop(self, epoch: int) -> str:
        if self.baseline is not None and not _improves(self.best, self.baseline, self.min_delta, self.direction):
            why = (f"{self.monitor} never beat baseline={self.baseline:.6g} by more than "
                   f"min_delta={self.min_delta:g} in {self.wait} monitored epochs")
        else:
            why = (f"{self.monitor} did not improve on its best by more than min_delta={self.min_delta:g} "
                   f"for {self.wait} epochs")
        return (f"EarlyStopping stopped training after epoch {epoch} (0-based): {why} (patience={self.patience}); "
                f"best {self.monitor} {self.best:.6g} at epoch {self.best_epoch}")

    def on_train_end(self) -> None:
        """With ``restore_best_weights``, load the best epoch's weights (stopped early or not)."""
        if self.restore_best_weights and self.best_weights is not None:
            self.model.load_state_dict(self.best_weights)
            if self.verbose:
                print(f"EarlyStopping restored the weights of the best epoch, {self.best_epoch} (0-based)")

    def __repr__(self) -> str:
        return (f"EarlyStopping(monitor={self.monitor!r}, min_delta={self.min_delta}, patience={self.patience}, "
                f"mode={self.mode!r}, baseline={self.baseline}, restore_best_weights={self.restore_best_weights}, "
                f"start_from_epoch={self.start_from_epoch})")
