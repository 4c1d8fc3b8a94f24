"""Numerically stable losses. Each returns ``(loss, dlogits)``; loss is the batch mean."""
from __future__ import annotations

import numpy as np

from ._validation import check_array
from .layers import sigmoid

__all__ = ["binary_cross_entropy_with_logits", "softmax_cross_entropy", "soft_target_cross_entropy", "log_softmax"]


def binary_cross_entropy_with_logits(logits: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean binary cross-entropy of logits ``z`` against targets ``y`` in [0, 1], and dL/dz.

    Shapes: logits (N,) or (N, 1); targets the same shape, or (N,) for (N, 1) logits.

    Per element ``max(z, 0) - z*y + log1p(exp(-|z|))``, which equals
    ``-[y log sigmoid(z) + (1-y) log(1 - sigmoid(z))]`` but never takes ``log(0)`` or
    overflows ``exp`` for any finite z. Gradient ``(sigmoid(z) - y) / N``.
    """
    check_array(logits, "logits", ndim=(1, 2), finite=True, where="binary_cross_entropy_with_logits")
    if logits.ndim == 2 and logits.shape[1] != 1:
        raise ValueError(
            "binary_cross_entropy_with_logits: logits must have shape (N,) or (N, 1), "
            f"got {logits.shape}; for more than two classes use softmax_cross_entropy"
        )
    targets = np.asarray(targets)
    if targets.shape != logits.shape:
        if logits.ndim == 2 and targets.shape == (logits.shape[0],):
            targets = targets.reshape(-1, 1)
        else:
            raise ValueError(
                f"binary_cross_entropy_with_logits: targets must have the shape of logits {logits.shape}, "
                f"got {targets.shape}"
            )
    if targets.dtype.kind not in "biuf":  # complex would silently lose its imaginary part
        raise TypeError(f"binary_cross_entropy_with_logits: targets must be numbers, got dtype {targets.dtype}; "
                        "expected real values in [0, 1] (labels 0/1)")
    targets = targets.astype(logits.dtype, copy=False)
    if not np.all(np.isfinite(targets)) or targets.min() < 0 or targets.max() > 1:
        raise ValueError(
            "binary_cross_entropy_with_logits: targets must be finite values in [0, 1] (labels 0/1), "
            f"got values from {targets.min()} to {targets.max()}"
        )
    z, y = logits, targets
    per_element = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    n = z.size
    loss = float(per_element.mean(dtype=np.promote_types(z.dtype, np.float64)))  # a float32 sum can overflow
    dlogits = (sigmoid(z) - y) / n
    return loss, dlogits.astype(logits.dtype, copy=False)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise ``log softmax`` via log-sum-exp: ``z - max(z) - log(sum(exp(z - max(z))))``.

    Shapes: logits (N, C), a finite floating array -> (N, C) in the same dtype; each row of
    ``exp`` of the result sums to 1. Like PyTorch's ``F.log_softmax(logits, dim=1)``, but a list,
    another rank, an integer/bool dtype or a non-finite logit is a ``TypeError``/``ValueError``.
    """
    check_array(logits, "logits", ndim=2, finite=True, where="log_softmax")
    return _log_softmax(logits)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    """``log_softmax`` for already validated logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy of logits (N, C) against integer labels (N,) in [0, C), and dL/dlogits.

    ``loss = -mean(log_softmax(z)[i, y_i])`` computed with log-sum-exp (no overflow, no log(0));
    gradient ``(softmax(z) - onehot(y)) / N``.
    """
    check_array(logits, "logits", ndim=2, finite=True, where="softmax_cross_entropy")
    labels = np.asarray(labels)
    n, c = logits.shape
    if labels.shape != (n,):
        raise ValueError(f"softmax_cross_entropy: labels must have shape ({n},) to match logits {logits.shape}, "
                         f"got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        if np.issubdtype(labels.dtype, np.floating) and np.all(labels == np.round(labels)):
            labels = labels.astype(np.intp)
        else:
            raise TypeError(f"softmax_cross_entropy: labels must be integer class indices, got dtype {labels.dtype}")
    if labels.min() < 0 or labels.max() >= c:
        raise ValueError(
            f"softmax_cross_entropy: labels must be class indices in [0, {c}) for {c} logits per row, "
            f"got values from {labels.min()} to {labels.max()}"
        )
    # at least float64: in float32, max(z) - min(z) overflows for logits of size ~1e38
    logp = _log_softmax(logits.astype(np.promote_types(logits.dtype, np.float64), copy=False))
    rows = np.arange(n)
    loss = float(-logp[rows, labels].mean())
    dlogits = np.exp(logp)
    dlogits[rows, labels] -= 1
    dlogits /= n
    return loss, dlogits.astype(logits.dtype, copy=False)


def soft_target_cross_entropy(logits: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of logits (N, C) against soft targets (N, C) (e.g. mixup's mixed one-hot labels), and dL/dz.

    ``loss = -mean_n sum_c t[n, c] log_softmax(z)[n, c]`` with log-sum-exp (no overflow, no log(0)),
    gradient ``(softmax(z) * sum_c t[n, c] - t) / N``, i.e. ``(softmax(z) - t) / N`` when each row of
    targets sums to 1. One-hot targets give exactly ``softmax_cross_entropy``. Targets are finite
    and non-negative, in any floating dtype; integer class labels (N,) are accepted too and scored
    as their one-hot rows (so validation data with hard labels needs no conversion), as PyTorch's
    ``F.cross_entropy(logits, targets)`` takes class indices or class probabilities (N, C).
    """
    where = "soft_target_cross_entropy"
    if isinstance(targets, np.ndarray) and targets.ndim == 1 and targets.dtype.kind in "iu":
        return softmax_cross_entropy(logits, targets)
    check_array(logits, "logits", ndim=2, finite=True, where=where)
    check_array(targets, "targets", ndim=2, finite=True, where=where)
    if targets.shape != logits.shape:
        raise ValueError(f"{where}: targets must have the shape of logits {logits.shape} (one probability per "
                         f"class), got {targets.shape}; for class indices use softmax_cross_entropy")
    if np.any(targets < 0):
        raise ValueError(f"{where}: targets must be non-negative (class probabilities), got a minimum of "
                         f"{targets.min()}")
    n = logits.shape[0]
    work = np.promote_types(logits.dtype, np.float64)  # as softmax_cross_entropy: float32 logits can overflow
    logp = _log_softmax(logits.astype(work, copy=False))
    t = targets.astype(work, copy=False)
    loss = float(-np.sum(t * logp) / n)
    dlogits = (np.exp(logp) * t.sum(axis=1, keepdims=True) - t) / n
    return loss, dlogits.astype(logits.dtype, copy=False)
