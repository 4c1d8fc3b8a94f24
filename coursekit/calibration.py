"""Calibration: do a model's probabilities mean what they say? Reliability, ECE, temperature scaling.

A classifier is **calibrated** when, among the examples it gives confidence p (its largest
softmax probability), a fraction p is classified correctly. Cross-entropy (the "loss" every
lesson reports) rewards accuracy *and* calibration, so of two networks the more accurate one
can have the higher loss when its probabilities are too sure (overconfident) or too timid
(underconfident).

**Temperature scaling** (Guo et al., 2017, *On calibration of modern neural networks*) fixes
the confidence without touching the predictions: divide every logit by one number T > 0,
fitted on validation data by minimizing the negative log-likelihood (NLL)::

    NLL(T) = mean_i [ logsumexp(z_i / T) - z_{i, y_i} / T ]                      z: logits (N, C), y: labels (N,)
    dNLL/dT = mean_i [ z_{i, y_i} - sum_k p_ik z_ik ] / T^2,   p_i = softmax(z_i / T)

T > 1 softens overconfident probabilities, T < 1 sharpens underconfident ones. Since
``z_i / T`` keeps the order of each row's logits, ``argmax`` and so the **accuracy cannot
change**. In ``beta = 1/T`` the NLL is convex (its second derivative is the mean variance of
z under p), which makes the fit a one-dimensional root search (``fit_temperature``).

**Reliability diagram and ECE.** Sort the examples into ``n_bins`` equal-width bins of
confidence ``((b-1)/B, b/B]``; in each bin compare the accuracy with the mean confidence
(``reliability_bins``, drawn by ``coursekit.plots.plot_reliability``). The expected calibration
error is the weighted mean gap ``ECE = sum_b (n_b / N) |accuracy_b - confidence_b|``.

PyTorch has no built-in; the usual code is one ``nn.Parameter`` T optimized with LBFGS on the
validation logits. scikit-learn's ``CalibratedClassifierCV`` offers Platt scaling and isotonic
regression (per class, which *can* change the predictions), and ``sklearn.calibration.calibration_curve``
the reliability curve of a binary classifier.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import check_array, check_int, check_real, describe

__all__ = ["temperature_softmax", "temperature_nll", "fit_temperature", "ReliabilityBins", "reliability_bins",
           "expected_calibration_error", "T_MIN", "T_MAX"]

T_MIN, T_MAX = 0.01, 100.0
"""Default search range of ``fit_temperature``: temperatures outside it are returned as its ends."""


def _logits(logits, where: str) -> np.ndarray:
    """Finite (N, C) logits, C >= 2, as float64 (in float32, differences of logits ~1e38 overflow)."""
    check_array(logits, "logits", ndim=2, finite=True, where=where)
    if logits.shape[1] < 2:
        raise ValueError(f"{where}: logits must have one column per class, at least 2, got shape {logits.shape}")
    return logits.astype(np.float64, copy=False)


def _labels(labels, n: int, n_classes: int, where: str) -> np.ndarray:
    """Integer class labels (n,) in [0, n_classes) as np.intp."""
    if isinstance(labels, (list, tuple)):
        labels = np.asarray(labels)
    if not isinstance(labels, np.ndarray):
        raise TypeError(f"{where}: labels must be an array of class indices, got {describe(labels)}")
    if labels.shape != (n,):
        raise ValueError(f"{where}: labels must have shape ({n},), one per row, got shape {labels.shape}")
    if labels.dtype == bool or not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"{where}: labels must be integer class indices, got dtype {labels.dtype}")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"{where}: labels must be in [0, {n_classes}) for {n_classes} classes, got values from "
                         f"{labels.min()} to {labels.max()}")
    return labels.astype(np.intp, copy=False)


def _temperature(temperature, name: str = "temperature") -> float:
    return check_real(temperature, name, low=0.0, low_open=True)


def _scaled_softmax(z: np.ndarray, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities softmax(beta z) (N, C), log-sum-exp of beta z (N,)) for float64 logits, stably."""
    scaled = beta * z
    top = scaled.max(axis=1, keepdims=True)
    exps = np.exp(scaled - top)
    total = exps.sum(axis=1, keepdims=True)
    return exps / total, (top + np.log(total))[:, 0]


def temperature_softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """``softmax(logits / temperature)`` row by row: calibrated probabilities (N, C), float64.

    Shapes: logits (N, C) finite floats; temperature a number > 0. Each row sums to 1, for
    logits of any size (log-sum-exp shift). ``argmax`` of every row is that of ``logits``.
    """
    z = _logits(logits, "temperature_softmax")
    return _scaled_softmax(z, 1.0 / _temperature(temperature))[0]


def temperature_nll(logits: np.ndarray, labels, temperature: float) -> tuple[float, float]:
    """``(NLL(T), dNLL/dT)``: the mean negative log-likelihood of softmax(logits / T) and its derivative.

    Shapes: logits (N, C) finite floats; labels (N,) integers in [0, C); T > 0. With
    ``p_i = softmax(z_i / T)``::

        NLL(T)  = mean_i [ logsumexp(z_i / T) - z_{i, y_i} / T ]
        dNLL/dT = mean_i [ z_{i, y_i} - sum_k p_ik z_ik ] / T^2

    At T = 1 the NLL is the course's ``softmax_cross_entropy`` loss.
    """
    where = "temperature_nll"
    z = _logits(logits, where)
    y = _labels(labels, len(z), z.shape[1], where)
    temperature = _temperature(temperature)
    p, lse = _scaled_softmax(z, 1.0 / temperature)
    picked = z[np.arange(len(z)), y]
    nll = float(np.mean(lse - picked / temperature))
    expected = np.einsum("nc,nc->n", p, z)
    return nll, float(np.mean(picked - expected) / temperature ** 2)


def fit_temperature(logits: np.ndarray, labels, *, t_min: float = T_MIN, t_max: float = T_MAX,
                    tol: float = 1e-10, max_iter: int = 100) -> float:
    """The temperature T in [t_min, t_max] minimizing ``temperature_nll(logits, labels, T)``.

    Shapes: logits (N, C) finite floats (validation logits, never the test set's); labels (N,)
    integers in [0, C). Returns a float.

    In ``beta = 1/T`` the NLL is convex, with derivative ``g(beta) = mean_i [sum_k p_ik z_ik -
    z_{i, y_i}]`` (increasing) and second derivative ``mean_i Var_{p_i}(z_i)`` (>= 0). So the
    minimum is the root of g: Newton steps on beta, kept inside a bracket that shrinks at every
    step (a bisection step when Newton would leave it), until the bracket is narrower than
    ``tol`` relative to beta or ``|g|`` is below ``tol`` times the logits' scale. When g has no
    root in ``[1/t_max, 1/t_min]`` the nearer end is returned: ``t_min`` when the NLL keeps falling
    as T shrinks (e.g. every example right and separable), ``t_max`` when it keeps falling as T grows
    (logits no better than chance). When every row of logits is constant, any T gives the
    same probabilities and 1.0 is returned.
    """
    where = "fit_temperature"
    z = _logits(logits, where)
    y = _labels(labels, len(z), z.shape[1], where)
    t_min = _temperature(t_min, "t_min")
    t_max = _temperature(t_max, "t_max")
    if not t_min < t_max:
        raise ValueError(f"{where}: t_min must be below t_max, got t_min={t_min}, t_max={t_max}")
    tol = check_real(tol, "tol", low=0.0, low_open=True)
    max_iter = check_int(max_iter, "max_iter", low=1)
    spread = np.ptp(z, axis=1)
    if not np.any(spread > 0):
        return 1.0
    scale = float(np.max(spread))
    picked = z[np.arange(len(z)), y]

    def slope_and_curvature(beta: float) -> tuple[float, float]:
        p, _ = _scaled_softmax(z, beta)
        mean_z = np.einsum("nc,nc->n", p, z)
        variance = np.einsum("nc,nc->n", p, (z - mean_z[:, None]) ** 2)
        return float(np.mean(mean_z - picked)), float(np.mean(variance))

    low, high = 1.0 / t_max, 1.0 / t_min
    if slope_and_curvature(low)[0] >= 0:
        return t_max
    if slope_and_curvature(high)[0] <= 0:
        return t_min
    beta = min(max(1.0, low), high)
    for _ in range(max_iter):
        slope, curvature = slope_and_curvature(beta)
        if abs(slope) <= tol * scale:
            break
        if slope < 0:
            low = beta
        else:
            high = beta
        if high - low <= tol * beta:
            break
        step = beta - slope / curvature if curvature > 0 else np.nan
        beta = step if low < step < high else float(np.sqrt(low * high))  # bisection in log scale
    return float(1.0 / beta)


@dataclass(frozen=True)
class ReliabilityBins:
    """Per-bin calibration statistics: what a reliability diagram draws.

    ``edges`` (B + 1,) the bin edges 0, 1/B, ..., 1 (bin b holds confidences in
    ``(edges[b], edges[b+1]]``); ``counts`` (B,) examples per bin; ``accuracy`` and
    ``confidence`` (B,) the fraction right and the mean confidence in each bin (NaN for an
    empty bin). ``gap = accuracy - confidence``: negative means overconfident there.
    """

    edges: np.ndarray
    counts: np.ndarray
    accuracy: np.ndarray
    confidence: np.ndarray

    @property
    def gap(self) -> np.ndarray:
        return self.accuracy - self.confidence

    @property
    def ece(self) -> float:
        """``sum_b (n_b / N) |accuracy_b - confidence_b|`` over the non-empty bins."""
        used = self.counts > 0
        return float(np.sum(self.counts[used] * np.abs(self.gap[used])) / np.sum(self.counts))


def _probabilities(probabilities, where: str) -> np.ndarray:
    check_array(probabilities, "probabilities", ndim=2, finite=True, where=where)
    p = probabilities.astype(np.float64, copy=False)
    if p.shape[1] < 2:
        raise ValueError(f"{where}: probabilities must have one column per class, at least 2, got shape {p.shape}")
    if p.min() < 0 or np.max(np.abs(p.sum(axis=1) - 1)) > 1e-4:
        raise ValueError(f"{where}: probabilities must be non-negative rows summing to 1 (softmax outputs; for logits "
                         f"use temperature_softmax(logits)), got row sums from {p.sum(axis=1).min():.4g} to "
                         f"{p.sum(axis=1).max():.4g} and a smallest entry {p.min():.4g}")
    return p


def reliability_bins(probabilities: np.ndarray, labels, *, n_bins: int = 10) -> ReliabilityBins:
    """Sort examples into ``n_bins`` equal-width confidence bins; accuracy and mean confidence per bin.

    Shapes: probabilities (N, C) rows of softmax outputs (e.g. ``temperature_softmax(logits, T)``);
    labels (N,) integers in [0, C). The confidence of an example is its largest probability, its
    prediction that class (the first one on a tie, as ``argmax``); bin b holds confidences in
    ``((b - 1)/B, b/B]``. Returns a ``ReliabilityBins``.
    """
    where = "reliability_bins"
    p = _probabilities(probabilities, where)
    y = _labels(labels, len(p), p.shape[1], where)
    n_bins = check_int(n_bins, "n_bins", low=1)
    confidence = p.max(axis=1)
    right = (p.argmax(axis=1) == y).astype(np.float64)
    index = np.clip(np.ceil(confidence * n_bins).astype(np.intp) - 1, 0, n_bins - 1)
    counts = np.bincount(index, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.bincount(index, weights=right, minlength=n_bins) / counts
        mean_confidence = np.bincount(index, weights=confidence, minlength=n_bins) / counts
    return ReliabilityBins(np.linspace(0.0, 1.0, n_bins + 1), counts, accuracy, mean_confidence)


def expected_calibration_error(probabilities: np.ndarray, labels, *, n_bins: int = 10) -> float:
    """ECE = ``sum_b (n_b / N) |accuracy_b - confidence_b|`` over ``n_bins`` equal-width confidence bins.

    Shapes: probabilities (N, C) softmax outputs; labels (N,) integers in [0, C). 0 for a
    calibrated model (up to sampling noise, which grows as bins get emptier); at most 1.
    See ``reliability_bins`` for the binning.
    """
    return reliability_bins(probabilities, labels, n_bins=n_bins).ece
