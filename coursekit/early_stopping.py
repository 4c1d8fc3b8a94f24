"""Early stopping with Keras 3 semantics, and the small functions it is built from.

The per-epoch decision (monitored value ``current``, best value so far ``best``, counter
``wait`` of epochs without improvement):

* min mode: ``current`` improves when ``current < best - min_delta``;
  max mode: when ``current > best + min_delta``. Equal is not an improvement, a change
  smaller than ``min_delta`` is not an improvement, and NaN never is (every comparison
  with NaN is False).
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

from ._validation import check_int, check_real, describe

__all__ = ["is_improvement", "early_stopping_step", "save_best_weights", "restore_best_weights",
           "EarlyStopping"]

_MODES = ("auto", "min", "max")


def _check_mode(mode, *, allow_auto: bool) -> str:
    allowed = _MODES if allow_auto else _MODES[1:]
    if not isinstance(mode, str) or mode not in allowed:
        raise ValueError(f"mode must be one of {', '.join(repr(m) for m in allowed)}, got {mode!r}")
    return mode


def is_improvement(current: float, reference: float, *, min_delta: float, mode: str) -> bool:
    """Whether ``current`` beats ``reference`` by more than ``min_delta``.

    min mode: ``current < reference - min_delta``; max mode: ``current > reference + min_delta``.
    Equal values and NaN (in either argument) are never an improvement.
    """
    _check_mode(mode, allow_auto=False)
    if mode == "min":
        return bool(current < reference - min_delta)
    return bool(current > reference + min_delta)


def early_stopping_step(best: float, wait: int, current: float, *, min_delta: float, patience: int,
                        mode: str) -> tuple[float, int, bool, bool]:
    """One epoch of the early-stopping decision (Keras 3 order, no baseline).

    best: best monitored value so far (``inf`` in min mode / ``-inf`` in max mode before any epoch)
    wait: epochs since the last improvement
    current: this epoch's monitored value (may be NaN: never an improvement)
    returns ``(best, wait, improved, stop)``:
      ``wait += 1``; if ``current`` beats ``best`` by more than ``min_delta`` then
      ``best = current``, ``wait = 0``, ``stop = False``; otherwise ``stop = wait >= patience``.
    """
    wait = wait + 1
    if is_improvement(current, best, min_delta=min_delta, mode=mode):
        return current, 0, True, False
    return best, wait, False, wait >= patience


def save_best_weights(params: tuple, best_weights: tuple | None, *, improved: bool) -> tuple | None:
    """The weights to remember after an epoch.

    params: tuple of the model's live parameter arrays (the optimizer changes them in place)
    best_weights: tuple of arrays saved earlier, or None when nothing is saved yet
    returns: a tuple of *copies* of ``params`` when ``improved`` or when nothing is saved
    yet (so there is always something to restore); otherwise ``best_weights`` unchanged.
    """
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
    if best_weights is not None:
        for live, saved in zip(params, best_weights):
            live[...] = saved
    return params


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
    """

    def __init__(self, monitor: str = "val_loss", *, min_delta: float = 0.0, patience: int = 0,
                 mode: str = "auto", baseline: float | None = None, restore_best_weights: bool = False,
                 start_from_epoch: int = 0, verbose: int = 0) -> None:
        if not isinstance(monitor, str) or not monitor:
            raise TypeError(f"EarlyStopping: monitor must be the name of a logged metric such as 'val_loss', "
                            f"got {describe(monitor)} of type {type(monitor).__name__}")
        self.monitor = monitor
        self.min_delta = check_real(min_delta, "min_delta", low=0.0)
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
        return float(value)

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
        if is_improvement(current, self.best, min_delta=self.min_delta, mode=self.direction):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self._save_weights()
            # wait restarts only when the epoch beats both the best so far and the baseline
            if self.baseline is None or is_improvement(current, self.baseline, min_delta=self.min_delta,
                                                       mode=self.direction):
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
        if self.baseline is not None and not is_improvement(self.best, self.baseline, min_delta=self.min_delta,
                                                             mode=self.direction):
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
