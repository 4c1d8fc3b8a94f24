"""Batch normalization with PyTorch's conventions: functions and the ``BatchNorm1d`` / ``BatchNorm2d`` layers.

Training mode, per feature (2-D input (N, D), statistics over N) or per channel (4-D input
(N, C, H, W), statistics over the m = N*H*W values of each channel)::

    mean = (1/m) sum x                  var = (1/m) sum (x - mean)^2      (biased: divide by m)
    x_hat = (x - mean) / sqrt(var + eps)
    y = gamma * x_hat + beta

and the running statistics are updated with the *unbiased* batch variance::

    running_mean = (1 - momentum) * running_mean + momentum * mean
    running_var  = (1 - momentum) * running_var  + momentum * var * m / (m - 1)

Evaluation mode normalizes with the running statistics instead, so one sample's output
never depends on the rest of its batch. Defaults as PyTorch: momentum = 0.1, eps = 1e-5,
gamma = 1, beta = 0, running mean 0, running var 1.

Backward (training mode), with ``dx_hat = gamma * dy`` and ``s = 1 / sqrt(var + eps)``::

    dx = (s / m) * (m * dx_hat - sum(dx_hat) - x_hat * sum(dx_hat * x_hat))
    dgamma = sum(dy * x_hat)            dbeta = sum(dy)
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from ._validation import check_array, check_cache, check_float_dtype, check_int, check_real, check_training, describe
from .conv import _scratch
from .layers import Layer

__all__ = ["BatchNormCache", "batchnorm_forward", "batchnorm_backward", "update_running_stats",
           "batchnorm_eval_forward", "BatchNorm1d", "BatchNorm2d"]


class BatchNormCache(NamedTuple):
    """What the training-mode forward pass keeps for backward (a tuple, in this order).

    Shapes for x of shape (N, D): ``mean``, ``var``, ``inv_std``, ``gamma`` are (D,);
    ``x_centered``, ``x_hat`` are (N, D). For x of shape (N, C, H, W) the per-channel
    arrays are (C,) and the others (N, C, H, W).
    """

    mean: np.ndarray        # batch mean per feature
    var: np.ndarray         # biased batch variance per feature (divided by m)
    x_centered: np.ndarray  # x - mean
    inv_std: np.ndarray     # 1 / sqrt(var + eps)
    x_hat: np.ndarray       # x_centered * inv_std
    gamma: np.ndarray       # the scale used, in x's dtype


def _stat_axes(ndim: int) -> tuple[int, ...]:
    return (0,) if ndim == 2 else (0, 2, 3)


def _per_channel(values: np.ndarray, ndim: int) -> np.ndarray:
    """Reshape a (C,) array so it broadcasts against (N, C) or (N, C, H, W)."""
    return values if ndim == 2 else values.reshape(1, -1, 1, 1)


def _spread(values: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``values`` (C,) as an operand for elementwise work on ``like`` (N, C) or (N, C, H, W).

    For 4-D data, each value repeated H*W times, shape (1, C, H, W): NumPy then runs the operation in
    inner loops over whole samples (C*H*W values) instead of one H*W map at a time, which for the
    small maps of a CNN (8x8: 64 values) is up to 2x faster. Same values as ``_per_channel``.
    """
    if like.ndim == 2:
        return values
    return np.repeat(values, like.shape[2] * like.shape[3]).reshape(1, *like.shape[1:])


def _check_input(x, num_features: int | None, where: str) -> np.ndarray:
    check_array(x, "x", ndim=(2, 4), where=where)
    if num_features is not None and x.shape[1] != num_features:
        layout = "(N, D)" if x.ndim == 2 else "(N, C, H, W)"
        raise ValueError(f"{where}: x has {x.shape[1]} features/channels in axis 1 (shape {x.shape}, layout "
                         f"{layout}), expected {num_features}")
    return x


def _check_affine(value, name: str, num_features: int, where: str) -> np.ndarray:
    check_array(value, name, ndim=1, where=where)
    if value.shape != (num_features,):
        raise ValueError(f"{where}: {name} must have shape ({num_features},), one entry per feature/channel "
                         f"of x, got shape {value.shape}")
    return value


def _check_variance(value: np.ndarray, name: str, where: str) -> None:
    """A variance must not be negative (NaN passes: it propagates, as in PyTorch)."""
    if np.any(value < 0):
        raise ValueError(f"{where}: {name} must be >= 0 (it is a variance), got a minimum of {value.min().item()!r}")


def _values_per_channel(x: np.ndarray) -> int:
    return x.shape[0] if x.ndim == 2 else x.shape[0] * x.shape[2] * x.shape[3]


def _require_two_values(x: np.ndarray, where: str) -> int:
    count = _values_per_channel(x)
    if count < 2:
        raise ValueError(f"{where}: expected more than 1 value per channel when training, got input of shape "
                         f"{x.shape} ({count} value per channel); batch statistics of one value are "
                         "meaningless (x_hat would be all zeros). Use a bigger batch, or training=False.")
    return count


def _channel_rows(a: np.ndarray) -> np.ndarray:
    """(N, C) or (N, C, H, W) as (N, C, S): per sample, each feature's/channel's values in one row."""
    return a.reshape(a.shape[0], a.shape[1], -1)


def _channel_sums(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Per feature/channel, ``sum(a)`` (or ``sum(a * b)``) over the statistics axes, as float64 (C,).

    Each sample's row of H*W values is summed in a's dtype (einsum: vectorized, no temporary,
    several times faster than ``np.sum`` over axes (0, 2, 3)), the N row sums in float64. Dtypes
    other than float32/float64 (float16 accumulates badly, long double keeps its precision) are
    summed in their promotion with float64.
    """
    if a.dtype.type not in (np.float32, np.float64) or (b is not None and b.dtype != a.dtype):
        wide = np.promote_types(np.result_type(a, *(() if b is None else (b,))), np.float64)
        a = a.astype(wide)
        b = None if b is None else b.astype(wide)
    if b is None:
        rows = np.einsum("ncs->nc", _channel_rows(a))
    else:
        rows = np.einsum("ncs,ncs->nc", _channel_rows(a), _channel_rows(b))
    return rows.sum(axis=0, dtype=np.promote_types(rows.dtype, np.float64))


def batchnorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, *,
                      eps: float = 1e-5) -> tuple[np.ndarray, BatchNormCache]:
    """Training-mode batch normalization with the batch's own statistics.

    ``x_hat = (x - mean) / sqrt(var + eps)``, ``out = gamma * x_hat + beta``, with the
    per-feature mean and *biased* variance (divide by m) over axis 0 for x (N, D), or over
    axes (0, 2, 3) for x (N, C, H, W). gamma, beta: (D,) or (C,). Returns ``(out, cache)``,
    out shaped like x, cache a ``BatchNormCache``. Computes in x's dtype; the statistics are
    accumulated in float64 (at least), so that large offsets and large values do not lose them:
    values whose square overflows x's dtype (float32 near 1e20, float16 spreads of a few
    hundred) still give the right x_hat (the variance itself, kept in x's dtype, is then inf,
    as PyTorch's running variance would be).

    Raises ValueError for a batch with one value per channel (as PyTorch) and eps <= 0.
    """
    where = "batchnorm_forward"
    _check_input(x, None, where)
    _check_affine(gamma, "gamma", x.shape[1], where)
    _check_affine(beta, "beta", x.shape[1], where)
    eps = check_real(eps, "eps", low=0.0, low_open=True)
    _require_two_values(x, where)
    return _train_forward(x, gamma, beta, eps)


def _train_forward(x, gamma, beta, eps, buffers=None):
    """batchnorm_forward after its checks. ``buffers``: None, or a function ``(name) -> array shaped like x``
    whose arrays the cache's x_centered and x_hat may be written into (a layer's, reused batch to batch)."""
    gamma, beta = gamma.astype(x.dtype, copy=False), beta.astype(x.dtype, copy=False)
    result = None
    if x.dtype.type in (np.float32, np.float64):
        with np.errstate(over="ignore", invalid="ignore"):  # a non-finite result is redone below
            result = _forward_in_dtype(x, gamma, beta, eps, buffers)
    if result is None:  # another dtype, or statistics that overflow it (or NaN: it propagates either way)
        result = _forward_wide(x, gamma, beta, eps)
    return result


def _forward_in_dtype(x, gamma, beta, eps, buffers=None):
    """batchnorm_forward in x's dtype (float32/float64), with float64 statistics; None if they are not finite.

    Two passes over the data for the statistics, both shifted: first ``x - x[0]`` per channel
    (any value of the channel keeps the sum small, so rounding in it stays small relative to the
    spread), whose mean corrects it into ``x_centered``; then the variance as the mean of
    ``x_centered**2`` - never ``E[x**2] - mean**2``, which cancels catastrophically.
    """
    dt, m = x.dtype, _values_per_channel(x)
    shift = x[0] if x.ndim == 2 else x[0, :, 0, 0]
    x_centered = np.subtract(x, _spread(shift, x), out=None if buffers is None else buffers("x_centered"))
    offset = _channel_sums(x_centered) / m
    x_centered -= _spread(offset.astype(dt), x)
    mean = shift.astype(np.float64) + offset
    var = _channel_sums(x_centered, x_centered) / m
    if not (np.isfinite(var).all() and np.isfinite(mean).all()):
        return None
    inv_std = (1.0 / np.sqrt(var + eps)).astype(dt)
    x_hat = np.multiply(x_centered, _spread(inv_std, x), out=None if buffers is None else buffers("x_hat"))
    out = np.multiply(x_hat, _spread(gamma, x))
    out += _spread(beta, x)
    return out, BatchNormCache(mean.astype(dt), var.astype(dt), x_centered, inv_std, x_hat, gamma)


def _forward_wide(x, gamma, beta, eps):
    """batchnorm_forward with the statistics, x_centered and x_hat computed in x's dtype promoted to
    float64 (at least), the results then cast back to x's dtype. The squares are taken of
    ``x_centered / max|x_centered|`` (per channel), so that even float64's range cannot overflow;
    the variance is that scale squared times their mean."""
    nd, dt, axes = x.ndim, x.dtype, _stat_axes(x.ndim)
    wide = np.promote_types(dt, np.float64)
    xw = x.astype(wide)
    mean = xw.mean(axis=axes)
    centered = xw - _per_channel(mean, nd)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        scale = np.max(np.abs(centered), axis=axes)
        safe = np.where(scale > 0, scale, 1.0)  # NaN stays NaN
        ratio = np.mean(np.square(centered / _per_channel(safe, nd)), axis=axes)
        var = safe * safe * ratio
        inv_std = 1.0 / (safe * np.sqrt(ratio + eps / (safe * safe)))
        x_hat = centered * _per_channel(inv_std, nd)
        cache = BatchNormCache(mean.astype(dt), var.astype(dt), centered.astype(dt), inv_std.astype(dt),
                               x_hat.astype(dt), gamma)
    out = np.multiply(cache.x_hat, _per_channel(gamma, nd))
    out += _per_channel(beta, nd)
    return out, cache


def _check_cache(cache, dout, where: str) -> BatchNormCache:
    """The BatchNormCache that ``batchnorm_forward`` returned (or the same six values as a tuple), checked
    against dout: TypeError/ValueError naming the field otherwise (never an AttributeError later)."""
    cache = check_cache(cache, BatchNormCache, where, "batchnorm_forward", array_fields=("x_hat", "inv_std", "gamma"))
    x_hat = cache.x_hat
    if x_hat.ndim not in (2, 4) or x_hat.shape != dout.shape:
        raise ValueError(f"{where}: dout must have the shape of the forward output {x_hat.shape} (cache.x_hat), "
                         f"got {dout.shape}")
    for field in ("inv_std", "gamma"):
        if getattr(cache, field).shape != (x_hat.shape[1],):
            raise ValueError(f"{where}: cache.{field} must have shape ({x_hat.shape[1]},), one entry per "
                             f"feature/channel of cache.x_hat {x_hat.shape}, got {getattr(cache, field).shape}")
    return cache


def batchnorm_backward(dout: np.ndarray, cache: BatchNormCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of training-mode batch normalization, in the compact form.

    With ``dx_hat = gamma * dout``, ``s = 1/sqrt(var + eps)`` and m values per feature:
    ``dx = (s/m) * (m*dx_hat - sum(dx_hat) - x_hat * sum(dx_hat * x_hat))``,
    ``dgamma = sum(dout * x_hat)``, ``dbeta = sum(dout)`` (sums over the statistics axes).
    Shapes: dout like x; returns (dx like x, dgamma (D,), dbeta (D,)).

    Evaluated as ``dx = a*dout + b*x_hat + c`` per feature, with ``sum(dx_hat) = gamma*dbeta`` and
    ``sum(dx_hat * x_hat) = gamma*dgamma``: ``a = gamma*s``, ``b = -a*dgamma/m``, ``c = -a*dbeta/m``
    (the same formula, two reductions and four passes over the data instead of a dozen).
    """
    where = "batchnorm_backward"
    check_array(dout, "dout", where=where)
    cache = _check_cache(cache, dout, where)
    m, x_hat = _values_per_channel(dout), cache.x_hat
    dtype = np.result_type(dout, x_hat)
    dbeta = _channel_sums(dout)
    dgamma = _channel_sums(dout, x_hat)
    a = cache.gamma.astype(np.float64) * cache.inv_std.astype(np.float64)
    dx = np.multiply(dout, _spread(a.astype(dtype), dout), dtype=dtype)
    term = _scratch("batchnorm", dx.shape, dtype, reuse=True)  # a temporary, in memory kept from call to call
    dx += np.multiply(x_hat, _spread((-a * dgamma / m).astype(dtype), dout), out=term, dtype=dtype)
    dx += _spread((-a * dbeta / m).astype(dtype), dout)
    return dx, dgamma.astype(dtype), dbeta.astype(dtype)


def update_running_stats(running_mean: np.ndarray, running_var: np.ndarray, batch_mean: np.ndarray,
                         batch_var: np.ndarray, *, count: int, momentum: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """New running statistics after one training batch (PyTorch's convention).

    ``batch_var`` is the *biased* variance used to normalize (divided by ``count``, the
    number of values per feature: N, or N*H*W); the running variance tracks the
    *unbiased* one, ``batch_var * count / (count - 1)``::

        new_mean = (1 - momentum) * running_mean + momentum * batch_mean
        new_var  = (1 - momentum) * running_var  + momentum * batch_var * count / (count - 1)

    momentum = 0.1 means "10% new batch" (Keras's momentum = 0.9 is the weight of the old
    value). All arrays (D,); returns new arrays ``(new_mean, new_var)``, inputs untouched.

    The variances must not be negative (evaluation would take the square root of a negative
    number): ``ValueError``. NaN propagates, as in PyTorch (``fit`` reports a diverged run).
    """
    where = "update_running_stats"
    for name, value in (("running_mean", running_mean), ("running_var", running_var),
                        ("batch_mean", batch_mean), ("batch_var", batch_var)):
        check_array(value, name, ndim=1, where=where)
        if value.shape != running_mean.shape:
            raise ValueError(f"{where}: {name} has shape {value.shape}, expected {running_mean.shape} "
                             "like running_mean")
    _check_variance(running_var, "running_var", where)
    _check_variance(batch_var, "batch_var", where)
    count = check_int(count, "count", low=2)
    momentum = check_real(momentum, "momentum", low=0.0, high=1.0)
    unbiased_var = batch_var * (count / (count - 1))
    new_mean = (1 - momentum) * running_mean + momentum * batch_mean
    new_var = (1 - momentum) * running_var + momentum * unbiased_var
    return new_mean.astype(running_mean.dtype, copy=False), new_var.astype(running_var.dtype, copy=False)


def batchnorm_eval_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, running_mean: np.ndarray,
                           running_var: np.ndarray, *, eps: float = 1e-5) -> np.ndarray:
    """Evaluation-mode batch normalization: ``gamma * (x - running_mean) / sqrt(running_var + eps) + beta``.

    An affine map applied to each sample on its own. Shapes: x (N, D) or (N, C, H, W); the
    others (D,) or (C,). Returns an array shaped like x, in x's dtype. A negative
    ``running_var`` is a ``ValueError`` (it is a variance); NaN propagates, as in PyTorch.
    """
    where = "batchnorm_eval_forward"
    _check_input(x, None, where)
    for name, value in (("gamma", gamma), ("beta", beta), ("running_mean", running_mean),
                        ("running_var", running_var)):
        _check_affine(value, name, x.shape[1], where)
    _check_variance(running_var, "running_var", where)
    eps = check_real(eps, "eps", low=0.0, low_open=True)
    nd, dt = x.ndim, x.dtype
    inv_std = 1.0 / np.sqrt(running_var.astype(dt, copy=False) + dt.type(eps))
    x_hat = (x - _per_channel(running_mean.astype(dt, copy=False), nd)) * _per_channel(inv_std, nd)
    return _per_channel(gamma.astype(dt, copy=False), nd) * x_hat + _per_channel(beta.astype(dt, copy=False), nd)


class _BatchNorm(Layer):
    """Shared logic of BatchNorm1d / BatchNorm2d; subclasses set the input rank."""

    _ndim = 2
    _layout = "(N, D)"

    def __init__(self, num_features: int, *, momentum: float = 0.1, eps: float = 1e-5, dtype=np.float32) -> None:
        super().__init__()
        self.num_features = check_int(num_features, "num_features", low=1)
        self.momentum = check_real(momentum, "momentum", low=0.0, high=1.0)
        self.eps = check_real(eps, "eps", low=0.0, low_open=True)
        dtype = check_float_dtype(dtype, "dtype", where=type(self).__name__)
        # "gamma"/"beta", not "W": L2/L1 penalties (Parameter.is_weight) leave them alone.
        self.params["gamma"] = np.ones(num_features, dtype=dtype)
        self.params["beta"] = np.zeros(num_features, dtype=dtype)
        self.buffers["running_mean"] = np.zeros(num_features, dtype=dtype)
        self.buffers["running_var"] = np.ones(num_features, dtype=dtype)

    gamma = property(lambda self: self.params["gamma"], doc="Scale, shape (num_features,), initially 1.")
    beta = property(lambda self: self.params["beta"], doc="Shift, shape (num_features,), initially 0.")
    running_mean = property(lambda self: self.buffers["running_mean"], doc="Running mean, initially 0.")
    running_var = property(lambda self: self.buffers["running_var"], doc="Running unbiased variance, initially 1.")

    def forward(self, x, *, training):
        where = f"{type(self).__name__}.forward"
        check_training(training, where)
        check_array(x, "x", ndim=self._ndim, where=where)
        if x.shape[1] != self.num_features:
            raise ValueError(f"{where}: x must have shape {self._layout} with {self.num_features} "
                             f"features/channels in axis 1 (num_features={self.num_features}), got shape {x.shape}")
        gamma, beta = self.params["gamma"], self.params["beta"]
        if training:
            count = _require_two_values(x, where)
            out, cache = _train_forward(x, gamma, beta, self.eps, functools.partial(self._buffer, x))
            new_mean, new_var = update_running_stats(self.running_mean, self.running_var, cache.mean, cache.var,
                                                     count=count, momentum=self.momentum)
            self.buffers["running_mean"][...] = new_mean
            self.buffers["running_var"][...] = new_var
            self._cache = ("train", cache)
        else:
            # The same arithmetic as batchnorm_eval_forward, keeping x_hat for backward.
            dt, nd = x.dtype, x.ndim
            inv_std = 1.0 / np.sqrt(self.running_var.astype(dt) + dt.type(self.eps))
            x_hat = (x - _per_channel(self.running_mean.astype(dt), nd)) * _per_channel(inv_std, nd)
            out = _per_channel(gamma.astype(dt), nd) * x_hat + _per_channel(beta.astype(dt), nd)
            self._cache = ("eval", (x_hat, gamma.astype(dt) * inv_std))
        return out

    def _buffer(self, like: np.ndarray, name: str) -> np.ndarray:
        """This layer's array ``name`` shaped like ``like``, kept from one training batch to the next.

        Only the cache's x_centered and x_hat go there: the layer keeps them for backward and
        replaces them at the next training batch, and nothing else sees them. Reusing their memory
        spares allocating (and the page faults of touching) two activation-sized arrays per batch.
        """
        buffers = self.__dict__.setdefault("_buffers", {})
        array = buffers.get(name)
        if array is None or array.shape != like.shape or array.dtype != like.dtype:
            array = buffers[name] = np.empty(like.shape, dtype=like.dtype)
        return array

    def backward(self, dout):
        mode, cache = self._require_cache()
        if mode == "train":
            self._check_dout(dout, cache.x_hat.shape)
            dx, dgamma, dbeta = batchnorm_backward(dout, cache)
        else:  # evaluation mode is affine in x: the running statistics are constants
            x_hat, scale = cache
            self._check_dout(dout, x_hat.shape)
            axes, nd = _stat_axes(dout.ndim), dout.ndim
            dx = dout * _per_channel(scale, nd)
            dgamma, dbeta = np.sum(dout * x_hat, axis=axes), dout.sum(axis=axes)
        self.grads["gamma"] = dgamma.astype(self.params["gamma"].dtype, copy=False)
        self.grads["beta"] = dbeta.astype(self.params["beta"].dtype, copy=False)
        return dx

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.num_features}, momentum={self.momentum}, eps={self.eps})"


class BatchNorm1d(_BatchNorm):
    """Batch normalization for (N, D) inputs: statistics per feature over the N samples.

    ``BatchNorm1d(num_features, *, momentum=0.1, eps=1e-5)`` as ``torch.nn.BatchNorm1d``
    (2-D input only). Params ``gamma``/``beta`` (D,); buffers ``running_mean``/``running_var``
    (D,), stored in ``dtype`` (float32 by default). Training uses batch statistics and updates
    the running ones; evaluation uses the running ones. A training batch of one sample raises
    ValueError.
    """

    _ndim = 2
    _layout = "(N, D)"


class BatchNorm2d(_BatchNorm):
    """Batch normalization for (N, C, H, W) feature maps: statistics per channel over N*H*W values.

    ``BatchNorm2d(num_channels, *, momentum=0.1, eps=1e-5)`` as ``torch.nn.BatchNorm2d``.
    Params ``gamma``/``beta`` (C,); buffers ``running_mean``/``running_var`` (C,); the
    running variance is corrected with m = N*H*W, i.e. ``var * m / (m - 1)``.
    """

    _ndim = 4
    _layout = "(N, C, H, W)"
