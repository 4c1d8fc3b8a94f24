"""Mini-batch training: ``fit`` returns a ``History``; ``evaluate`` scores a model in evaluation mode."""
from __future__ import annotations

import math
import warnings

import numpy as np
from tqdm.auto import tqdm

from ._threads import single_blas_thread
from ._validation import check_array, check_int, check_rng

__all__ = ["History", "fit", "evaluate", "accuracy"]


class History:
    """Per-epoch metrics, like Keras's ``History.history``.

    ``history["loss"]`` is a list with one value per completed epoch; keys are ``loss``,
    ``accuracy`` and, with validation data, ``val_loss``, ``val_accuracy``. ``stop_reason``
    says why training ended early (None when it ran all epochs); ``stopped_epoch`` is the
    0-based epoch it stopped at (None when it ran all epochs).
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.stop_reason: str | None = None
        self.stopped_epoch: int | None = None
        self.diverged = False

    def append(self, logs: dict[str, float]) -> None:
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))

    def __getitem__(self, key: str) -> list[float]:
        if key not in self.history:
            raise KeyError(f"History has no metric {key!r}; it has {sorted(self.history)}")
        return self.history[key]

    def __contains__(self, key: str) -> bool:
        return key in self.history

    def keys(self):
        return self.history.keys()

    @property
    def epochs(self) -> int:
        """How many epochs completed."""
        return len(next(iter(self.history.values()), []))

    def __repr__(self) -> str:
        last = {k: round(v[-1], 4) for k, v in self.history.items() if v}
        return f"History(epochs={self.epochs}, last={last}, stop_reason={self.stop_reason!r})"


def accuracy(outputs: np.ndarray, y: np.ndarray) -> float:
    """Classification accuracy from logits: threshold at 0 for one output, argmax for several.

    Shapes: outputs (N,), (N, 1) or (N, C); y (N,) with 0/1 or class indices.
    """
    y = np.asarray(y)
    if y.ndim == 0 or len(y) != len(outputs):
        raise ValueError(f"accuracy: y must have one label per row of outputs ({len(outputs)}), "
                         f"got shape {y.shape}")
    y = y.reshape(len(outputs), -1)[:, 0] if y.ndim > 1 else y
    if outputs.ndim == 1 or outputs.shape[1] == 1:
        predicted = (outputs.reshape(-1) > 0).astype(np.int64)
    else:
        predicted = outputs.argmax(axis=1)
    return float(np.mean(predicted == y.astype(np.int64)))


def evaluate(model, loss_fn, X: np.ndarray, y: np.ndarray, *, batch_size: int = 4096) -> tuple[float, float]:
    """``(mean loss, accuracy)`` of ``model`` on (X, y) in evaluation mode (no dropout, running BN stats)."""
    outputs = model.predict(X, batch_size=batch_size)
    loss, _ = loss_fn(outputs, y)
    return float(loss), accuracy(outputs, y)


def _check_xy(X, y, name_x: str, name_y: str):
    check_array(X, name_x, where="fit")
    y = np.asarray(y)
    if len(y) != len(X):
        raise ValueError(f"fit: {name_y} has {len(y)} rows but {name_x} has {len(X)}; they must match")
    return X, y


def fit(model, loss_fn, optimizer, X: np.ndarray, y: np.ndarray, *, epochs: int, batch_size: int,
        rng: np.random.Generator, validation_data=None, callbacks=(), progress: bool = True,
        regularizer=None, on_nan: str = "raise") -> History:
    """Train ``model`` with mini-batches drawn in a fresh random order (from ``rng``) every epoch.

    Each step: ``out = model.forward(xb, training=True)``; ``loss, dout = loss_fn(out, yb)``;
    ``model.backward(dout)``; with a ``regularizer`` (e.g. ``L2(lambd)``) its penalty is added
    to the loss and its gradient to the weights' gradients, with m = the batch size;
    ``optimizer.step()``.

    Shapes: X (N, ...), y (N,) (or (N, 1) for one-logit binary models).

    Logged per epoch: ``loss`` / ``accuracy`` (means over the epoch's training batches in
    training mode, penalty included, as Keras reports them) and ``val_loss`` /
    ``val_accuracy`` (evaluation mode, data loss only) when ``validation_data=(X_val, y_val)``.

    ``callbacks`` get ``on_train_begin(model)``, ``on_epoch_end(epoch, logs) -> bool`` (True
    stops training) and ``on_train_end()``. If the loss becomes NaN/inf, ``on_nan="raise"``
    raises ``FloatingPointError`` naming the epoch; ``on_nan="stop"`` warns, stops, and marks
    ``history.diverged``. ``progress`` shows a tqdm bar (off for tests).
    """
    X, y = _check_xy(X, y, "X", "y")
    epochs = check_int(epochs, "epochs", low=1)
    batch_size = check_int(batch_size, "batch_size", low=1)
    check_rng(rng)
    if on_nan not in ("raise", "stop"):
        raise ValueError(f"fit: on_nan must be 'raise' or 'stop', got {on_nan!r}")
    if validation_data is not None:
        if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
            raise TypeError("fit: validation_data must be a pair (X_val, y_val)")
        X_val, y_val = _check_xy(*validation_data, "X_val", "y_val")
    callbacks = list(callbacks)
    for cb in callbacks:
        if not hasattr(cb, "on_epoch_end"):
            raise TypeError(f"fit: every callback needs on_epoch_end(epoch, logs); got {type(cb).__name__}")

    history = History()
    for cb in callbacks:
        if hasattr(cb, "on_train_begin"):
            cb.on_train_begin(model)
    bar = tqdm(range(epochs), desc="epochs", unit="epoch", disable=not progress, leave=False)
    # The course's matrices are small: one BLAS thread is faster than several and cannot be slowed
    # down 10x by threads spinning on a busy machine (measured: 80 s vs 3 s on a loaded 2-core box).
    try:
        with single_blas_thread():
            for epoch in bar:
                logs = _train_one_epoch(model, loss_fn, optimizer, X, y, batch_size, rng, regularizer, epoch)
                if validation_data is not None and not isinstance(logs, str):
                    logs = _add_validation(model, loss_fn, X_val, y_val, logs, epoch)
                if isinstance(logs, str):  # the divergence message
                    if on_nan == "raise":
                        raise FloatingPointError(logs)
                    warnings.warn(logs, RuntimeWarning, stacklevel=2)
                    history.diverged, history.stop_reason, history.stopped_epoch = True, logs, epoch
                    break
                history.append(logs)
                bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()}, refresh=False)
                stop = [cb for cb in callbacks if cb.on_epoch_end(epoch, dict(logs))]
                if stop:
                    history.stopped_epoch = epoch
                    history.stop_reason = getattr(stop[0], "stop_reason", None) or (
                        f"{type(stop[0]).__name__} stopped training after epoch {epoch} (0-based)")
                    break
    finally:
        bar.close()
    for cb in callbacks:
        if hasattr(cb, "on_train_end"):
            cb.on_train_end()
    return history


def _add_validation(model, loss_fn, X_val, y_val, logs, epoch):
    """``logs`` with ``val_loss``/``val_accuracy`` added, or a divergence message if they are not finite."""
    outputs = model.predict(X_val)
    val_loss = loss_fn(outputs, y_val)[0] if np.all(np.isfinite(outputs)) else math.nan
    if not math.isfinite(val_loss):
        return (f"Training diverged at epoch {epoch} (0-based): the validation loss became non-finite after "
                "the epoch's last update. Try a smaller learning rate or a better initialization.")
    return {**logs, "val_loss": float(val_loss), "val_accuracy": accuracy(outputs, y_val)}


def _train_one_epoch(model, loss_fn, optimizer, X, y, batch_size, rng, regularizer, epoch):
    """One pass over the data in a random order: the epoch's logs, or a message if it diverged."""
    n = len(X)
    order = rng.permutation(n)
    total_loss = total_correct = 0.0
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        xb, yb = X[idx], y[idx]
        out = model.forward(xb, training=True)
        if not np.all(np.isfinite(out)):
            return (f"Training diverged at epoch {epoch} (0-based), batch {start // batch_size}: the model's "
                    "outputs became non-finite. Try a smaller learning rate or a better initialization.")
        loss, dout = loss_fn(out, yb)
        if regularizer is not None:
            loss += regularizer.penalty(model, len(idx))
        if not math.isfinite(loss):
            return (f"Training diverged at epoch {epoch} (0-based), batch {start // batch_size}: the loss "
                    "became non-finite. Try a smaller learning rate or a better initialization.")
        model.backward(dout)
        if regularizer is not None:
            regularizer.add_gradients(model, len(idx))
        optimizer.step()
        total_loss += loss * len(idx)
        total_correct += accuracy(out, yb) * len(idx)
    params = model.parameters() if hasattr(model, "parameters") else []
    if not all(np.all(np.isfinite(p.value)) for p in params):
        return (f"Training diverged at epoch {epoch} (0-based): the parameters became non-finite after the "
                "epoch's last update. Try a smaller learning rate or a better initialization.")
    return {"loss": total_loss / n, "accuracy": total_correct / n}
