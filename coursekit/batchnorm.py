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

from typing import NamedTuple

import numpy as np

from ._validation import check_array, check_float_dtype, check_int, check_real, check_training
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


def batchnorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, *,
                      eps: float = 1e-5) -> tuple[np.ndarray, BatchNormCache]:
    """Training-mode batch normalization with the batch's own statistics.

    ``x_hat = (x - mean) / sqrt(var + eps)``, ``out = gamma * x_hat + beta``, with the
    per-feature mean and *biased* variance (divide by m) over axis 0 for x (N, D), or over
    axes (0, 2, 3) for x (N, C, H, W). gamma, beta: (D,) or (C,). Returns ``(out, cache)``,
    out shaped like x, cache a ``BatchNormCache``. Computes in x's dtype.

    Raises ValueError for a batch with one value per channel (as PyTorch) and eps <= 0.
    """
    where = "batchnorm_forward"
    _check_input(x, None, where)
    _check_affine(gamma, "gamma", x.shape[1], where)
    _check_affine(beta, "beta", x.shape[1], where)
    eps = check_real(eps, "eps", low=0.0, low_open=True)
    _require_two_values(x, where)
    axes, nd = _stat_axes(x.ndim), x.ndim
    gamma, beta = gamma.astype(x.dtype, copy=False), beta.astype(x.dtype, copy=False)
    # Sums accumulate in float64 (as PyTorch's CPU kernel does): float32 sums of thousands of
    # values with a large offset lose the digits that the variance is made of.
    mean = x.mean(axis=axes, dtype=np.float64).astype(x.dtype, copy=False)
    x_centered = x - _per_channel(mean, nd)
    square = np.multiply(x_centered, x_centered)
    var = np.mean(square, axis=axes, dtype=np.float64).astype(x.dtype, copy=False)
    inv_std = 1.0 / np.sqrt(var + x.dtype.type(eps))
    x_hat = x_centered * _per_channel(inv_std, nd)
    out = np.multiply(_per_channel(gamma, nd), x_hat, out=square)  # the squares' memory, no longer needed
    out += _per_channel(beta, nd)
    return out, BatchNormCache(mean, var, x_centered, inv_std, x_hat, gamma)


def batchnorm_backward(dout: np.ndarray, cache: BatchNormCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of training-mode batch normalization, in the compact form.

    With ``dx_hat = gamma * dout``, ``s = 1/sqrt(var + eps)`` and m values per feature:
    ``dx = (s/m) * (m*dx_hat - sum(dx_hat) - x_hat * sum(dx_hat * x_hat))``,
    ``dgamma = sum(dout * x_hat)``, ``dbeta = sum(dout)`` (sums over the statistics axes).
    Shapes: dout like x; returns (dx like x, dgamma (D,), dbeta (D,)).
    """
    if not isinstance(cache, BatchNormCache):
        if isinstance(cache, tuple) and len(cache) == len(BatchNormCache._fields):
            cache = BatchNormCache(*cache)
        else:
            raise TypeError("batchnorm_backward: cache must be the BatchNormCache returned by batchnorm_forward, "
                            f"got {type(cache).__name__}")
    check_array(dout, "dout", where="batchnorm_backward")
    if dout.shape != cache.x_hat.shape:
        raise ValueError(f"batchnorm_backward: dout must have the shape of the forward output {cache.x_hat.shape}, "
                         f"got {dout.shape}")
    axes, nd = _stat_axes(dout.ndim), dout.ndim
    m = _values_per_channel(dout)
    x_hat = cache.x_hat
    dbeta = dout.sum(axis=axes)
    product = np.multiply(dout, x_hat)  # one temporary for the three products below
    dgamma = np.sum(product, axis=axes)
    dx_hat = dout * _per_channel(cache.gamma, nd)
    sum_dx_hat = _per_channel(dx_hat.sum(axis=axes), nd)
    sum_dx_hat_x_hat = _per_channel(np.sum(np.multiply(dx_hat, x_hat, out=product), axis=axes), nd)
    # dx = (s/m) * (m*dx_hat - sum_dx_hat - x_hat*sum_dx_hat_x_hat), evaluated in this order in place
    dx = np.multiply(m, dx_hat, out=dx_hat)
    dx -= sum_dx_hat
    dx -= np.multiply(x_hat, sum_dx_hat_x_hat, out=product)
    dx *= _per_channel(cache.inv_std, nd) / m
    return dx, dgamma, dbeta


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
            out, cache = batchnorm_forward(x, gamma, beta, eps=self.eps)
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
