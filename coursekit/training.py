"""Mini-batch training: ``fit`` returns a ``History``; ``evaluate`` scores a model in evaluation mode."""
from __future__ import annotations

import inspect
import math
import warnings

import numpy as np

from ._progress import ProgressBar
from ._threads import single_blas_thread
from ._validation import check_array, check_bool, check_callable, check_int, check_number, check_rng, describe
from .model import Parameter

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
        """Add one epoch's metrics, ``{"loss": 0.3, ...}``."""
        if not isinstance(logs, dict):
            raise TypeError(f"History.append: logs must be a dict of metrics, got {describe(logs)}")
        values = {key: check_number(value, f"logs[{key!r}]", "History.append") for key, value in logs.items()}
        for key, value in values.items():
            self.history.setdefault(key, []).append(value)

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


def accuracy(outputs: np.ndarray, y) -> float:
    """Classification accuracy from logits: threshold at 0 for one output, argmax for several.

    Shapes: outputs (N,), (N, 1) or (N, C), finite floating logits; y (N,) (or (N, 1)) class
    labels: 0/1 for one output, 0..C-1 for C outputs, as integers, bools or whole-number floats.
    One-hot labels (N, C), soft labels such as 0.7, labels out of range or a length that does
    not match are a ``ValueError`` (never a silently wrong score).
    """
    where = "accuracy"
    check_array(outputs, "outputs", ndim=(1, 2), finite=True, where=where)
    labels = _labels(y, "y", len(outputs), where, rows_of="outputs")
    _check_label_range(labels, _n_classes(outputs), "y", where)
    return _accuracy(outputs, labels)


def _accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """``accuracy`` for validated outputs and int64 labels of shape (N,)."""
    if outputs.ndim == 1 or outputs.shape[1] == 1:
        predicted = (outputs.reshape(-1) > 0).astype(np.int64)
    else:
        predicted = outputs.argmax(axis=1)
    return float(np.mean(predicted == labels))


def _n_classes(outputs: np.ndarray) -> int:
    return 2 if outputs.ndim == 1 or outputs.shape[1] == 1 else outputs.shape[1]


def _labels(y, name: str, n: int, where: str, *, rows_of: str) -> np.ndarray:
    """Class labels as an int64 array of shape (N,): integers, bools or whole-number floats, (N,) or (N, 1)."""
    if isinstance(y, (list, tuple)):
        y = np.asarray(y)
    if not isinstance(y, np.ndarray):
        raise TypeError(f"{where}: {name} must be a numpy array of class labels, got {describe(y)} "
                        f"of type {type(y).__name__}")
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{where}: {name} must hold class labels (integers), got dtype {y.dtype}")
    if y.ndim == 0 or len(y) != n:
        raise ValueError(f"{where}: {name} must have one label per row of {rows_of} ({n}), got shape {y.shape}")
    if y.ndim == 2 and y.shape[1] > 1:
        raise ValueError(f"{where}: {name} must hold one class label per row, shape ({n},), got shape {y.shape}; "
                         f"one-hot labels? pass {name}.argmax(axis=1)")
    if y.ndim > 2:
        raise ValueError(f"{where}: {name} must have shape ({n},) or ({n}, 1), got shape {y.shape}")
    y = y.reshape(-1)
    if y.dtype.kind == "f":
        finite = np.isfinite(y)
        if not finite.all():
            raise ValueError(f"{where}: {name} contains {int(np.size(y) - np.count_nonzero(finite))} non-finite "
                             "value(s) (NaN or inf); expected class labels")
        fractional = y != np.round(y)
        if fractional.any():
            raise ValueError(f"{where}: {name} must hold class labels (whole numbers such as 0 and 1), got "
                             f"{y[fractional][0].item()!r}; soft labels cannot be scored by accuracy")
    return y.astype(np.int64, copy=False)


def _check_label_range(labels: np.ndarray, n_classes: int, name: str, where: str) -> None:
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        what = "0 or 1 for one output" if n_classes == 2 else f"class indices in [0, {n_classes})"
        raise ValueError(f"{where}: {name} must hold {what} ({n_classes} classes), got labels from "
                         f"{labels.min()} to {labels.max()}")


def evaluate(model, loss_fn, X: np.ndarray, y: np.ndarray, *, batch_size: int = 4096) -> tuple[float, float]:
    """``(mean loss, accuracy)`` of ``model`` on (X, y) in evaluation mode (no dropout, running BN stats).

    Shapes: X (N, ...) finite floats; y (N,) class labels. ``loss_fn(outputs, y)`` returns
    ``(loss, dlogits)``, e.g. ``binary_cross_entropy_with_logits``.

    X must be a numpy array, as every layer's input must (a list or tuple is a ``TypeError``
    that says how to convert it); the labels y may be any array-like of class labels, as in ``fit``.
    """
    where = "evaluate"
    if isinstance(X, (list, tuple)):
        raise TypeError(f"{where}: X must be a numpy array (N, ...) of floats, like every layer's input; got a "
                        f"{type(X).__name__}: convert it with np.asarray(X, dtype=np.float32)")
    if isinstance(model, type) or not callable(getattr(model, "predict", None)):
        raise TypeError(f"{where}: model must have a predict(x) method (e.g. a Sequential), got {describe(model)}")
    check_callable(loss_fn, "loss_fn", where, "a loss function returning (loss, dlogits), e.g. "
                   "binary_cross_entropy_with_logits")
    _check_inputs(X, "X", where)
    _labels(y, "y", len(X), where, rows_of="X")
    outputs = model.predict(X, batch_size=batch_size)
    loss, _ = _loss_pair(loss_fn(outputs, y), where)
    return float(loss), accuracy(outputs, y)


def _check_inputs(X, name: str, where: str) -> np.ndarray:
    check_array(X, name, finite=True, where=where)
    if X.ndim == 0:
        raise ValueError(f"{where}: {name} must have a batch axis, shape (N, ...), got a 0-D array")
    return X


def _loss_pair(result, where: str) -> tuple[float, np.ndarray]:
    """``loss_fn``'s result as ``(loss as a float, dlogits)``; anything else is a TypeError."""
    if not (isinstance(result, tuple) and len(result) == 2):
        raise TypeError(f"{where}: loss_fn must return a pair (loss, dlogits), like binary_cross_entropy_with_logits; "
                        f"got {describe(result)} of type {type(result).__name__}")
    return check_number(result[0], "the loss returned by loss_fn", where), result[1]


def _check_xy(X, y, name_x: str, name_y: str) -> np.ndarray:
    """Check (X, y) for fit; return y's class labels as int64 (N,) (fit reports accuracy)."""
    _check_inputs(X, name_x, "fit")
    if isinstance(y, (np.ndarray, list, tuple)) and np.ndim(y) > 0 and len(y) != len(X):
        raise ValueError(f"fit: {name_y} has {len(y)} rows but {name_x} has {len(X)}; they must match")
    return _labels(y, name_y, len(X), "fit", rows_of=name_x)


def _check_model(model, optimizer, *, needs_predict: bool) -> None:
    if isinstance(model, type):
        raise TypeError(f"fit: model is the class {model.__name__}, not a model; create one first")
    for method in ("forward", "backward") + (("predict",) if needs_predict else ()):
        if not callable(getattr(model, method, None)):
            raise TypeError(f"fit: model must have {method}() (e.g. a Sequential), got {describe(model)} "
                            f"of type {type(model).__name__}")
    if isinstance(optimizer, type):
        raise TypeError(f"fit: optimizer is the class {optimizer.__name__}; create one: "
                        f"{optimizer.__name__}(model.parameters(), lr=...)")
    if not callable(getattr(optimizer, "step", None)):
        raise TypeError(f"fit: optimizer must have a step() method, e.g. SGD(model.parameters(), lr=0.1); got "
                        f"{describe(optimizer)} of type {type(optimizer).__name__}")
    held = getattr(optimizer, "params", None)
    if isinstance(held, (list, tuple)) and callable(getattr(model, "parameters", None)):
        own = {(id(p.layer), p.key) for p in model.parameters()}
        foreign = [p for p in held if isinstance(p, Parameter) and (id(p.layer), p.key) not in own]
        if foreign:
            raise ValueError(
                f"fit: the optimizer holds parameters that are not this model's ({len(foreign)} of {len(held)}, "
                f"e.g. {foreign[0].name} of a {type(foreign[0].layer).__name__}): it was built on another model. "
                f"Build it from this one: {type(optimizer).__name__}(model.parameters(), lr=...)")


def _check_fits_model_dtype(X: np.ndarray, name: str, model) -> None:
    """A ValueError when ``X`` holds numbers too large for the model's floating-point parameters (e.g.
    float64 values of 1e300 fed to a float32 model), which would otherwise overflow in the first layer
    and be reported as a divergence of training."""
    params = model.parameters() if callable(getattr(model, "parameters", None)) else []
    dtypes = [p.value.dtype for p in params if np.issubdtype(np.asarray(p.value).dtype, np.floating)]
    if not dtypes or X.size == 0 or not np.issubdtype(X.dtype, np.floating):
        return
    narrowest = min(dtypes, key=lambda dtype: np.finfo(dtype).max)
    limit = float(np.finfo(narrowest).max)
    if float(np.finfo(X.dtype).max) <= limit:
        return
    largest = float(np.max(np.abs(X)))
    if largest > limit:
        raise ValueError(f"fit: {name} holds values up to {largest:.3g}, more than the model's {narrowest} parameters "
                         f"can represent (at most {limit:.3g}): rescale {name} (e.g. standardize each feature) "
                         "or build the model in float64")


def _backward_takes_input_grad(model) -> bool:
    """Whether ``model.backward`` accepts ``input_grad=False`` (``Sequential`` does: a training step then
    skips the input gradient nothing uses, as PyTorch does); a learner's own model may not."""
    try:
        parameters = inspect.signature(model.backward).parameters
    except (TypeError, ValueError):
        return False
    return "input_grad" in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def _check_callbacks(callbacks) -> list:
    if callbacks is None:
        return []
    if hasattr(callbacks, "on_epoch_end") or isinstance(callbacks, type):
        name = getattr(callbacks, "__name__", type(callbacks).__name__)
        raise TypeError(f"fit: callbacks must be a list of callbacks, got one {name}; "
                        f"write callbacks=[{name}(...)]")
    if isinstance(callbacks, (str, bytes, dict, np.ndarray)) or not hasattr(callbacks, "__iter__"):
        raise TypeError(f"fit: callbacks must be a list of callbacks, got {describe(callbacks)} "
                        f"of type {type(callbacks).__name__}")
    callbacks = list(callbacks)
    for cb in callbacks:
        if isinstance(cb, type):
            raise TypeError(f"fit: callbacks holds the class {cb.__name__}, not a callback; create one: "
                            f"{cb.__name__}(...)")
        if not callable(getattr(cb, "on_epoch_end", None)):
            raise TypeError(f"fit: every callback needs on_epoch_end(epoch, logs); got {type(cb).__name__} "
                            f"({describe(cb)}) in callbacks")
    return callbacks


def fit(model, loss_fn, optimizer, X: np.ndarray, y: np.ndarray, *, epochs: int, batch_size: int,
        rng: np.random.Generator, validation_data=None, callbacks=(), progress: bool = True,
        regularizer=None, on_nan: str = "raise", augment=None,
        augment_rng: np.random.Generator | None = None) -> History:
    """Train ``model`` with mini-batches drawn in a fresh random order (from ``rng``) every epoch.

    Each step: ``out = model.forward(xb, training=True)``; ``loss, dout = loss_fn(out, yb)``;
    ``model.backward(dout)``; with a ``regularizer`` (e.g. ``L2(lambd)``) its penalty is added
    to the loss and its gradient to the weights' gradients, with m = the batch size;
    ``optimizer.step()``.

    Shapes: X (N, ...) finite floats; y (N,) (or (N, 1) for one-logit binary models) class
    labels (integers, bools or whole-number floats: fit reports accuracy).

    Data augmentation: with ``augment`` (a hook ``augment(xb, yb, augment_rng) -> (xb, yb)``,
    e.g. ``coursekit.augment.Compose([RandomTranslate(1)])``), every *training* batch is
    replaced by its transformed version before the forward pass; validation data never is, and
    the stored ``X`` is never changed or enlarged. All its randomness comes from
    ``augment_rng`` (required with ``augment``), never from ``rng``, so a run with augmentation
    sees the same batches in the same order as the run without. The hook must return as many
    examples as it got, shaped like ``X``'s rows, and labels for them: class labels (N,), or
    soft labels (N, C) (e.g. mixup's, for a soft-target loss; the logged training accuracy then
    scores the argmax of each row).

    Logged per epoch: ``loss`` / ``accuracy`` (means over the epoch's training batches in
    training mode, penalty included, as Keras reports them) and ``val_loss`` /
    ``val_accuracy`` (evaluation mode, data loss only) when ``validation_data=(X_val, y_val)``.

    ``callbacks`` (a list) get ``on_train_begin(model)``, ``on_epoch_end(epoch, logs) -> bool``
    (True stops training) and ``on_train_end()``. If the loss becomes NaN/inf, ``on_nan="raise"``
    raises ``FloatingPointError`` naming the epoch; ``on_nan="stop"`` warns, stops, and marks
    ``history.diverged``. ``progress`` shows a bar over the epochs (off for tests; the
    environment variable ``COURSEKIT_PROGRESS=0`` turns every coursekit bar off). A run that
    stops early keeps its bar, finished, labelled with why; an exception removes it.
    """
    y_labels = _check_xy(X, y, "X", "y")
    y = np.asarray(y)
    epochs = check_int(epochs, "epochs", low=1)
    batch_size = check_int(batch_size, "batch_size", low=1)
    check_rng(rng)
    check_callable(loss_fn, "loss_fn", "fit", "a loss function returning (loss, dlogits), e.g. "
                   "binary_cross_entropy_with_logits")
    _check_model(model, optimizer, needs_predict=validation_data is not None)
    _check_fits_model_dtype(X, "X", model)
    if augment is not None:
        check_callable(augment, "augment", "fit", "a hook augment(X_batch, y_batch, rng) -> (X_batch, y_batch), "
                       "e.g. coursekit.augment.RandomTranslate(1)")
        check_rng(augment_rng, "augment_rng")
    elif augment_rng is not None:
        raise TypeError("fit: augment_rng is given but augment is None; pass the hook too, e.g. "
                        "augment=RandomTranslate(1)")
    progress = check_bool(progress, "progress", "fit")
    if on_nan not in ("raise", "stop"):
        raise ValueError(f"fit: on_nan must be 'raise' or 'stop', got {on_nan!r}")
    if regularizer is not None and not (callable(getattr(regularizer, "penalty", None))
                                        and callable(getattr(regularizer, "add_gradients", None))):
        raise TypeError(f"fit: regularizer must have penalty(model, m) and add_gradients(model, m), e.g. L2(1e-3); "
                        f"got {describe(regularizer)} of type {type(regularizer).__name__}")
    val = None
    if validation_data is not None:
        if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
            raise TypeError(f"fit: validation_data must be a pair (X_val, y_val), got {describe(validation_data)} "
                            f"of type {type(validation_data).__name__}")
        X_val, y_val = validation_data
        y_val_labels = _check_xy(X_val, y_val, "X_val", "y_val")
        y_val = np.asarray(y_val)
        if X_val.shape[1:] != X.shape[1:]:
            raise ValueError(f"fit: X_val has rows of shape {X_val.shape[1:]} but X has rows of shape {X.shape[1:]}; "
                             "they must match")
        _check_fits_model_dtype(X_val, "X_val", model)
        val = (X_val, y_val, y_val_labels)
    callbacks = _check_callbacks(callbacks)
    backward_kwargs = {"input_grad": False} if _backward_takes_input_grad(model) else {}

    history = History()
    for cb in callbacks:
        if hasattr(cb, "on_train_begin"):
            cb.on_train_begin(model)
    # The course's matrices are small: one BLAS thread is faster than several and cannot be slowed
    # down 10x by threads spinning on a busy machine (measured: 80 s vs 3 s on a loaded 2-core box).
    with ProgressBar(epochs, desc="epochs", unit="epoch", enabled=progress, where="fit") as bar, single_blas_thread():
        for epoch in range(epochs):
            logs = _train_one_epoch(model, loss_fn, optimizer, X, y, y_labels, batch_size, rng, regularizer, epoch,
                                    augment, augment_rng, backward_kwargs)
            if val is not None and not isinstance(logs, str):
                logs = _add_validation(model, loss_fn, *val, logs, epoch)
            if isinstance(logs, str):  # the divergence message
                if on_nan == "raise":
                    raise FloatingPointError(logs)
                warnings.warn(logs, RuntimeWarning, stacklevel=2)
                history.diverged, history.stop_reason, history.stopped_epoch = True, logs, epoch
                bar.stop_early(f"diverged at epoch {epoch} (0-based) of {epochs}: stopped", warning=True)
                break
            history.append(logs)
            bar.advance({k: f"{v:.4f}" for k, v in logs.items()})
            stop = [cb for cb in callbacks if cb.on_epoch_end(epoch, dict(logs))]
            if stop:
                history.stopped_epoch = epoch
                history.stop_reason = getattr(stop[0], "stop_reason", None) or (
                    f"{type(stop[0]).__name__} stopped training after epoch {epoch} (0-based)")
                if epoch < epochs - 1:
                    bar.stop_early(f"stopped early at epoch {epoch} (0-based) of {epochs}")
                break
    for cb in callbacks:
        if hasattr(cb, "on_train_end"):
            cb.on_train_end()
    return history


def _add_validation(model, loss_fn, X_val, y_val, y_val_labels, logs, epoch):
    """``logs`` with ``val_loss``/``val_accuracy`` added, or a divergence message if they are not finite."""
    outputs = model.predict(X_val)
    if epoch == 0 and np.all(np.isfinite(outputs)):
        _check_label_range(y_val_labels, _n_classes(outputs), "y_val", "fit")
    val_loss = _loss_pair(loss_fn(outputs, y_val), "fit")[0] if np.all(np.isfinite(outputs)) else math.nan
    if not math.isfinite(val_loss):
        return (f"Training diverged at epoch {epoch} (0-based): the validation loss became non-finite after "
                "the epoch's last update. Try a smaller learning rate or a better initialization.")
    return {**logs, "val_loss": float(val_loss), "val_accuracy": _accuracy(outputs, y_val_labels)}


def _augmented_batch(augment, augment_rng, xb, yb, row_shape):
    """``augment(xb, yb, augment_rng)``, checked: ``(xb, yb, class labels (N,) for the accuracy)``."""
    result = augment(xb, yb, augment_rng)
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        raise TypeError(f"fit: augment must return a pair (X_batch, y_batch), got {describe(result)} "
                        f"of type {type(result).__name__}")
    new_x, new_y = result
    n = len(xb)
    check_array(new_x, "the X_batch returned by augment", finite=True, where="fit")
    if new_x.shape != (n, *row_shape):
        raise ValueError(f"fit: augment returned X_batch of shape {new_x.shape} for a batch of shape {xb.shape}; "
                         "it must keep every example, in order, shaped like X's rows (validation data is not "
                         "augmented, so the model must accept both)")
    if isinstance(new_y, np.ndarray) and new_y.ndim == 2 and new_y.shape[1] > 1 and new_y.dtype.kind == "f":
        if len(new_y) != n:
            raise ValueError(f"fit: augment returned {len(new_y)} soft labels for a batch of {n}")
        return new_x, new_y, new_y.argmax(axis=1)
    return new_x, new_y, _labels(new_y, "the y_batch returned by augment", n, "fit", rows_of="its X_batch")


def _train_one_epoch(model, loss_fn, optimizer, X, y, y_labels, batch_size, rng, regularizer, epoch,
                     augment=None, augment_rng=None, backward_kwargs=None):
    """One pass over the data in a random order: the epoch's logs, or a message if it diverged."""
    n = len(X)
    order = rng.permutation(n)
    total_loss = total_correct = 0.0
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        xb, yb, batch_labels = X[idx], y[idx], y_labels[idx]
        if augment is not None:
            xb, yb, batch_labels = _augmented_batch(augment, augment_rng, xb, yb, X.shape[1:])
        out = model.forward(xb, training=True)
        if not np.all(np.isfinite(out)):
            return (f"Training diverged at epoch {epoch} (0-based), batch {start // batch_size}: the model's "
                    "outputs became non-finite. Try a smaller learning rate or a better initialization.")
        if epoch == 0 and start == 0:  # the number of classes is known once the model has answered
            _check_label_range(y_labels, _n_classes(out), "y", "fit")
        loss, dout = _loss_pair(loss_fn(out, yb), "fit")
        if regularizer is not None:
            loss += regularizer.penalty(model, len(idx))
        if not math.isfinite(loss):
            return (f"Training diverged at epoch {epoch} (0-based), batch {start // batch_size}: the loss "
                    "became non-finite. Try a smaller learning rate or a better initialization.")
        model.backward(dout, **(backward_kwargs or {}))
        if regularizer is not None:
            regularizer.add_gradients(model, len(idx))
        optimizer.step()
        total_loss += loss * len(idx)
        total_correct += _accuracy(out, batch_labels) * len(idx)
    params = model.parameters() if hasattr(model, "parameters") else []
    if not all(np.all(np.isfinite(p.value)) for p in params):
        return (f"Training diverged at epoch {epoch} (0-based): the parameters became non-finite after the "
                "epoch's last update. Try a smaller learning rate or a better initialization.")
    return {"loss": total_loss / n, "accuracy": total_correct / n}
