"""Layer normalization and group normalization, with PyTorch's conventions: functions and the
``LayerNorm`` / ``GroupNorm`` layers.

Both normalize **each sample on its own**, so nothing depends on the rest of the batch:
training and evaluation compute the same thing, there are no running statistics, and a
batch of one (or two) is as good as a batch of a hundred. They differ only in which values
share a mean and a variance:

* **Layer norm** (Ba, Kiros & Hinton, 2016): the trailing dimensions ``normalized_shape``
  of x, e.g. all D features of an (N, D) input, or the whole (C, H, W) map of an image.
  gamma and beta have shape ``normalized_shape`` (one per element).
* **Group norm** (Wu & He, 2018) on (N, C, H, W): the C channels are split into
  ``num_groups`` groups of C/G consecutive channels; each (sample, group) is normalized over
  its C/G * H * W values. gamma and beta have shape (C,) (one per channel). ``num_groups=1``
  normalizes the whole map like layer norm (but with per-channel gamma/beta);
  ``num_groups=C`` is instance norm.

For every group of M values of one sample (a "row")::

    mean = (1/M) sum x            var = (1/M) sum (x - mean)^2      (biased: divide by M)
    x_hat = (x - mean) / sqrt(var + eps)
    y = gamma * x_hat + beta                                          (eps = 1e-5, inside the root)

Backward, with ``dx_hat = gamma * dy`` and ``s = 1/sqrt(var + eps)``, sums over the row::

    dx = (s / M) * (M * dx_hat - sum(dx_hat) - x_hat * sum(dx_hat * x_hat))

and ``dgamma = sum(dy * x_hat)``, ``dbeta = sum(dy)`` summed over every axis that gamma does
not have (the batch for layer norm; the batch and the spatial axes for group norm).

Numerics: the statistics are computed in float64 (at least) with two passes (the mean, then
the mean of the squared deviations: never ``E[x^2] - E[x]^2``, which cancels for rows with a
large mean and a small spread), so float32 inputs near 1e20, whose squares overflow float32,
are normalized right; float64 rows near the top of its range are rescaled before squaring.
Outputs and caches are in x's dtype.

PyTorch: ``nn.LayerNorm(normalized_shape, eps=1e-5)`` (``weight``/``bias`` = gamma/beta),
``nn.GroupNorm(num_groups, num_channels, eps=1e-5)``. Keras: ``layers.LayerNormalization(axis=-1,
epsilon=1e-3)``, ``layers.GroupNormalization(groups=32, axis=-1, epsilon=1e-3)`` (channels last).
"""
from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from ._validation import check_array, check_cache, check_float_dtype, check_int, check_real, check_training, describe
from .layers import Layer

__all__ = ["LayerNormCache", "GroupNormCache", "layernorm_forward", "layernorm_backward", "groupnorm_forward",
           "groupnorm_backward", "LayerNorm", "GroupNorm"]


class LayerNormCache(NamedTuple):
    """What ``layernorm_forward`` keeps for backward (a tuple, in this order).

    For x of shape ``lead + normalized_shape`` (``lead``: the batch axes, e.g. (N,)) and
    k = len(normalized_shape): ``mean`` and ``inv_std`` have shape ``lead + (1,) * k`` (they
    broadcast against x, as PyTorch's saved mean and rstd); ``x_hat`` is shaped like x;
    ``gamma`` has shape ``normalized_shape``. All in x's dtype.
    """

    mean: np.ndarray     # mean of each sample's normalized values
    inv_std: np.ndarray  # 1 / sqrt(var + eps), var the biased variance
    x_hat: np.ndarray    # (x - mean) * inv_std
    gamma: np.ndarray    # the scale used


class GroupNormCache(NamedTuple):
    """What ``groupnorm_forward`` keeps for backward (a tuple, in this order).

    For x of shape (N, C, H, W) and G groups: ``mean`` and ``inv_std`` have shape (N, G) (as
    PyTorch's saved mean and rstd), ``x_hat`` is shaped like x, ``gamma`` (C,). All in x's dtype.
    """

    mean: np.ndarray     # mean of each (sample, group)
    inv_std: np.ndarray  # 1 / sqrt(var + eps) of each (sample, group)
    x_hat: np.ndarray    # normalized x
    gamma: np.ndarray    # the per-channel scale used


# ----------------------------------------------------------------------------- the shared core: rows


def _wide(dtype: np.dtype) -> np.dtype:
    """The dtype the statistics are computed in: float64, or x's own if wider (long double)."""
    return np.promote_types(dtype, np.float64)


def _normalize_rows(rows: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalize each row of ``rows`` (R, M): returns ``(mean (R,), inv_std (R,), x_hat (R, M))`` in rows' dtype.

    The statistics are computed in float64 (at least), in two passes: the mean, then the mean of the
    squared deviations from it. Few NumPy calls: in a CNN trained with batches of 2 this runs thousands
    of times on small arrays, where the cost of each call, not the arithmetic, is what counts.
    """
    dtype = rows.dtype
    wide = rows.astype(_wide(dtype))
    m = rows.shape[1]
    with np.errstate(over="ignore", invalid="ignore"):
        mean = np.add.reduce(wide, axis=1) / m
        wide -= mean[:, None]  # the deviations, in place
        var = np.einsum("rm,rm->r", wide, wide) / m
    if var.max() < np.inf:  # False for inf and for NaN
        inv_std = (var + eps) ** -0.5
        x_hat = np.multiply(wide, inv_std[:, None], dtype=dtype)
    else:  # rows whose squares overflow even float64 (|x| ~ 1e154 and more), or NaN/inf in x
        inv_std, x_hat = _normalize_scaled(wide, eps)
        x_hat = x_hat.astype(dtype)
    return mean.astype(dtype), inv_std.astype(dtype), x_hat


def _normalize_scaled(centered: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """``_normalize_rows`` for centered rows whose squares overflow: each row is divided by its largest
    |value| before squaring, so the variance is ``scale**2 * mean((centered / scale)**2)``. NaN and inf in a
    row give NaN there, as in PyTorch."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        scale = np.max(np.abs(centered), axis=1)
        safe = np.where(scale > 0, scale, 1.0)
        ratio = np.mean(np.square(centered / safe[:, None]), axis=1)
        inv_std = 1.0 / (safe * np.sqrt(ratio + eps / (safe * safe)))
        x_hat = centered * inv_std[:, None]
    return inv_std, x_hat


def _rows_backward(dx_hat: np.ndarray, x_hat: np.ndarray, inv_std: np.ndarray) -> np.ndarray:
    """The compact backward on rows (R, M): ``(s/M) * (M*dx_hat - sum(dx_hat) - x_hat*sum(dx_hat*x_hat))``.

    The two sums per row are accumulated in dx_hat's dtype (float32/float64, as PyTorch; float64 for others).
    """
    m, dtype = dx_hat.shape[1], dx_hat.dtype
    accumulate = _accumulator(dtype)
    mean_dx_hat = (np.add.reduce(dx_hat, axis=1, dtype=accumulate) / m).astype(dtype, copy=False)
    mean_projection = (np.einsum("rm,rm->r", dx_hat, x_hat, dtype=accumulate) / m).astype(dtype, copy=False)
    dx = dx_hat - mean_dx_hat[:, None]
    dx -= x_hat * mean_projection[:, None]
    dx *= inv_std.astype(dtype, copy=False)[:, None]
    return dx


# ----------------------------------------------------------------------------- argument checks


def _check_eps(eps) -> float:
    return check_real(eps, "eps", low=0.0, low_open=True)


def _check_affine_pair(gamma, beta, shape: tuple, what: str, where: str) -> None:
    for name, value in (("gamma", gamma), ("beta", beta)):
        check_array(value, name, where=where)
        if value.shape != shape:
            raise ValueError(f"{where}: {name} must have shape {shape} ({what}), got shape {value.shape}")


def _check_cache(cache, cls, dout, where: str, producer: str):
    """The cache ``producer`` returned (or the same values as a plain tuple), checked against dout."""
    cache = check_cache(cache, cls, where, producer)
    check_array(dout, "dout", where=where)
    if dout.shape != cache.x_hat.shape:
        raise ValueError(f"{where}: dout must have the shape of the forward output {cache.x_hat.shape} "
                         f"(cache.x_hat), got {dout.shape}")
    return cache


# ----------------------------------------------------------------------------- layer norm


def layernorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, *,
                      eps: float = 1e-5) -> tuple[np.ndarray, LayerNormCache]:
    """Layer normalization over the trailing ``gamma.ndim`` axes of x, as ``torch.nn.functional.layer_norm``.

    Shapes: x ``lead + normalized_shape`` (e.g. (N, D), or (N, C, H, W) with normalized_shape
    (C, H, W)); gamma, beta ``normalized_shape``; out like x. Each sample (each index of the
    leading axes) is normalized over its M = prod(normalized_shape) values::

        mean = (1/M) sum x,   var = (1/M) sum (x - mean)^2,   x_hat = (x - mean) / sqrt(var + eps)
        out = gamma * x_hat + beta

    Returns ``(out, cache)``, cache a ``LayerNormCache(mean, inv_std, x_hat, gamma)``. Computes in
    x's dtype, with float64 statistics. ``ValueError`` if gamma/beta do not match x's trailing
    axes or eps <= 0.
    """
    where = "layernorm_forward"
    check_array(x, "x", where=where)
    check_array(gamma, "gamma", where=where)
    k = gamma.ndim
    if k == 0 or k > x.ndim or x.shape[x.ndim - k:] != gamma.shape:
        raise ValueError(f"{where}: gamma's shape {gamma.shape} is normalized_shape and must equal the trailing "
                         f"axes of x (shape {x.shape}), e.g. gamma of shape {x.shape[1:] or x.shape} for the "
                         "whole of each sample")
    _check_affine_pair(gamma, beta, gamma.shape, "normalized_shape, like gamma", where)
    return _layernorm(x, gamma, beta, _check_eps(eps))


def _layernorm(x, gamma, beta, eps):
    """layernorm_forward without the argument checks (the layer checks its input once)."""
    dtype, k = x.dtype, gamma.ndim
    mean, inv_std, x_hat = _normalize_rows(x.reshape(-1, gamma.size), eps)
    gamma = gamma.astype(dtype, copy=False)
    x_hat = x_hat.reshape(x.shape)
    out = x_hat * gamma
    out += beta.astype(dtype, copy=False)
    stats_shape = x.shape[:x.ndim - k] + (1,) * k
    return out, LayerNormCache(mean.reshape(stats_shape), inv_std.reshape(stats_shape), x_hat, gamma)


def layernorm_backward(dout: np.ndarray, cache: LayerNormCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of ``layernorm_forward``, in the compact form.

    With ``dx_hat = gamma * dout``, ``s = inv_std`` and M values per sample (sums over the
    normalized axes): ``dx = (s/M) * (M*dx_hat - sum(dx_hat) - x_hat * sum(dx_hat * x_hat))``;
    ``dgamma = sum(dout * x_hat)`` and ``dbeta = sum(dout)`` over the leading (batch) axes.
    Shapes: dout like x; returns ``(dx like x, dgamma, dbeta shaped like gamma)``.
    """
    where = "layernorm_backward"
    cache = _check_cache(cache, LayerNormCache, dout, where, "layernorm_forward")
    x_hat, gamma = cache.x_hat, cache.gamma
    k = gamma.ndim
    if k == 0 or k > x_hat.ndim or x_hat.shape[x_hat.ndim - k:] != gamma.shape:
        raise ValueError(f"{where}: cache.gamma's shape {gamma.shape} must equal the trailing axes of cache.x_hat "
                         f"{x_hat.shape}")
    stats_shape = x_hat.shape[:x_hat.ndim - k] + (1,) * k
    if cache.inv_std.shape != stats_shape:
        raise ValueError(f"{where}: cache.inv_std must have shape {stats_shape}, one value per sample, got "
                         f"{cache.inv_std.shape}")
    return _layernorm_grads(dout, cache)


def _layernorm_grads(dout, cache):
    """layernorm_backward without the argument checks."""
    dout, x_hat, gamma = _same_dtype(dout, cache.x_hat, cache.gamma)
    m = gamma.size
    dout_rows, x_hat_rows = dout.reshape(-1, m), x_hat.reshape(-1, m)
    dx = _rows_backward(dout_rows * gamma.reshape(-1), x_hat_rows, cache.inv_std.reshape(-1))
    accumulate = _accumulator(x_hat.dtype)
    dgamma = np.einsum("pm,pm->m", dout_rows, x_hat_rows, dtype=accumulate).astype(x_hat.dtype, copy=False)
    dbeta = np.add.reduce(dout_rows, axis=0, dtype=accumulate).astype(x_hat.dtype, copy=False)
    return dx.reshape(dout.shape), dgamma.reshape(gamma.shape), dbeta.reshape(gamma.shape)


def _same_dtype(dout, x_hat, gamma):
    """dout, x_hat and gamma in the dtype the gradients are computed in: that of dout and x_hat together."""
    dtype = np.result_type(dout, x_hat)
    return dout.astype(dtype, copy=False), x_hat.astype(dtype, copy=False), gamma.astype(dtype, copy=False)


def _accumulator(dtype):
    """The dtype sums over the batch are accumulated in: float32/float64 their own (as PyTorch), others float64."""
    return dtype if dtype.type in (np.float32, np.float64) else _wide(dtype)


# ----------------------------------------------------------------------------- group norm


def _check_groups(num_groups, channels: int, where: str) -> int:
    num_groups = check_int(num_groups, "num_groups", low=1)
    if channels % num_groups:
        divisors = [g for g in range(1, channels + 1) if channels % g == 0]
        raise ValueError(f"{where}: the number of channels ({channels}) must be divisible by num_groups "
                         f"({num_groups}), so that every group has the same number of channels; divisors of "
                         f"{channels}: {divisors}")
    return num_groups


def groupnorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, num_groups: int, *,
                      eps: float = 1e-5) -> tuple[np.ndarray, GroupNormCache]:
    """Group normalization, as ``torch.nn.functional.group_norm``.

    Shapes: x (N, C, H, W) (PyTorch's (N, C, *): (N, C) and (N, C, L) work too); gamma, beta
    (C,); out like x. The channels are split into ``num_groups`` = G groups of C/G consecutive
    channels, and each (sample, group) is normalized over its M = (C/G)*H*W values::

        mean = (1/M) sum x,   var = (1/M) sum (x - mean)^2,   x_hat = (x - mean) / sqrt(var + eps)
        out[:, c] = gamma[c] * x_hat[:, c] + beta[c]

    Returns ``(out, cache)``, cache a ``GroupNormCache(mean (N, G), inv_std (N, G), x_hat, gamma)``.
    ``ValueError`` if C is not divisible by G, gamma/beta are not (C,), or eps <= 0.
    """
    where = "groupnorm_forward"
    check_array(x, "x", where=where)
    if x.ndim < 2:
        raise ValueError(f"{where}: x must have shape (N, C, H, W) (or (N, C, *)), got a {x.ndim}-D array of "
                         f"shape {x.shape}")
    _check_affine_pair(gamma, beta, (x.shape[1],), f"one per channel of x, whose shape is {x.shape}", where)
    return _groupnorm(x, gamma, beta, _check_groups(num_groups, x.shape[1], where), _check_eps(eps))


def _groupnorm(x, gamma, beta, num_groups, eps):
    """groupnorm_forward without the argument checks (the layer checks its input once)."""
    dtype, (n, c) = x.dtype, x.shape[:2]
    mean, inv_std, x_hat = _normalize_rows(x.reshape(n * num_groups, -1), eps)
    gamma = gamma.astype(dtype, copy=False)
    x_hat3 = x_hat.reshape(n, c, -1)
    out = x_hat3 * gamma[:, None]
    out += beta.astype(dtype, copy=False)[:, None]
    return out.reshape(x.shape), GroupNormCache(mean.reshape(n, num_groups), inv_std.reshape(n, num_groups),
                                                x_hat.reshape(x.shape), gamma)


def groupnorm_backward(dout: np.ndarray, cache: GroupNormCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of ``groupnorm_forward``: ``(dx like x, dgamma (C,), dbeta (C,))``.

    With ``dx_hat = gamma[c] * dout`` and M values per (sample, group), sums over the group:
    ``dx = (s/M) * (M*dx_hat - sum(dx_hat) - x_hat * sum(dx_hat * x_hat))``; ``dgamma[c] =
    sum(dout * x_hat)`` and ``dbeta[c] = sum(dout)`` over the batch and spatial axes.
    """
    where = "groupnorm_backward"
    cache = _check_cache(cache, GroupNormCache, dout, where, "groupnorm_forward")
    x_hat, gamma = cache.x_hat, cache.gamma
    if x_hat.ndim < 2 or gamma.shape != (x_hat.shape[1],):
        raise ValueError(f"{where}: cache.gamma must have shape ({x_hat.shape[1] if x_hat.ndim > 1 else 'C'},), "
                         f"one per channel of cache.x_hat {x_hat.shape}, got {gamma.shape}")
    n, c = x_hat.shape[:2]
    if cache.inv_std.ndim != 2 or cache.inv_std.shape[0] != n or c % cache.inv_std.shape[1]:
        raise ValueError(f"{where}: cache.inv_std must have shape (N, num_groups) with N = {n} and num_groups "
                         f"dividing C = {c}, got {cache.inv_std.shape}")
    return _groupnorm_grads(dout, cache)


def _groupnorm_grads(dout, cache):
    """groupnorm_backward without the argument checks."""
    dout, x_hat, gamma = _same_dtype(dout, cache.x_hat, cache.gamma)
    n, c = x_hat.shape[:2]
    dout3, x_hat3 = dout.reshape(n, c, -1), x_hat.reshape(n, c, -1)
    rows = cache.inv_std.size
    dx = _rows_backward((dout3 * gamma[:, None]).reshape(rows, -1), x_hat.reshape(rows, -1),
                        cache.inv_std.reshape(-1))
    accumulate = _accumulator(x_hat.dtype)
    dgamma = np.einsum("ncs,ncs->c", dout3, x_hat3, dtype=accumulate).astype(x_hat.dtype, copy=False)
    dbeta = np.einsum("ncs->c", dout3, dtype=accumulate).astype(x_hat.dtype, copy=False)
    return dx.reshape(dout.shape), dgamma, dbeta


# ----------------------------------------------------------------------------- layers


def _shape_tuple(normalized_shape) -> tuple[int, ...]:
    """An int or a sequence of ints (each >= 1) -> a non-empty tuple, as PyTorch accepts normalized_shape."""
    if isinstance(normalized_shape, (bool, np.bool_)):
        raise TypeError(f"LayerNorm: normalized_shape must be an int or a tuple of ints, got {normalized_shape!r}")
    if isinstance(normalized_shape, (numbers.Integral, np.integer)):
        normalized_shape = (normalized_shape,)
    if not isinstance(normalized_shape, (tuple, list)) or not normalized_shape:
        raise TypeError(f"LayerNorm: normalized_shape must be an int or a non-empty tuple of ints such as (C, H, W), "
                        f"got {describe(normalized_shape)} of type {type(normalized_shape).__name__}")
    return tuple(check_int(d, "normalized_shape[i]", low=1) for d in normalized_shape)


class _SampleNorm(Layer):
    """Shared logic: forward caches for backward; training and evaluation compute the same thing."""

    def __init__(self, affine_shape: tuple[int, ...], eps: float, dtype) -> None:
        super().__init__()
        self.eps = _check_eps(eps)
        dtype = check_float_dtype(dtype, "dtype", where=type(self).__name__)
        # "gamma"/"beta", not "W": L2/L1 penalties (Parameter.is_weight) leave them alone, as for batch norm.
        self.params["gamma"] = np.ones(affine_shape, dtype=dtype)
        self.params["beta"] = np.zeros(affine_shape, dtype=dtype)

    gamma = property(lambda self: self.params["gamma"], doc="Scale, initially 1.")
    beta = property(lambda self: self.params["beta"], doc="Shift, initially 0.")

    def _backward_with(self, backward_fn, dout):
        cache = self._require_cache()
        self._check_dout(dout, cache.x_hat.shape)
        dx, dgamma, dbeta = backward_fn(dout, cache)
        self.grads["gamma"] = dgamma.astype(self.params["gamma"].dtype, copy=False)
        self.grads["beta"] = dbeta.astype(self.params["beta"].dtype, copy=False)
        return dx


class LayerNorm(_SampleNorm):
    """Layer normalization over the trailing ``normalized_shape`` axes, as ``torch.nn.LayerNorm``.

    ``LayerNorm(normalized_shape, *, eps=1e-5)``: ``normalized_shape`` an int D (for (N, D)
    inputs) or a tuple such as (C, H, W) (for (N, C, H, W) feature maps: each sample's whole
    map). Params ``gamma`` (ones) and ``beta`` (zeros) of shape ``normalized_shape``, one per
    normalized element, stored in ``dtype`` (float32 by default). ``forward(x, *, training)``
    is the same in training and evaluation (no batch statistics, no running statistics);
    ``training`` must still be a bool. ``backward(dout) -> dx`` fills ``grads``.
    """

    def __init__(self, normalized_shape, *, eps: float = 1e-5, dtype=np.float32) -> None:
        self.normalized_shape = _shape_tuple(normalized_shape)
        super().__init__(self.normalized_shape, eps, dtype)

    def forward(self, x, *, training):
        where = "LayerNorm.forward"
        check_training(training, where)
        check_array(x, "x", where=where)
        k = len(self.normalized_shape)
        if x.ndim <= k or x.shape[x.ndim - k:] != self.normalized_shape:
            raise ValueError(f"{where}: x must have shape (N, ..., {', '.join(map(str, self.normalized_shape))}): "
                             f"its trailing axes must be normalized_shape={self.normalized_shape} after a batch "
                             f"axis, got shape {x.shape}")
        out, self._cache = _layernorm(x, self.params["gamma"], self.params["beta"], self.eps)
        return out

    def backward(self, dout):
        return self._backward_with(_layernorm_grads, dout)

    def __repr__(self) -> str:
        shape = self.normalized_shape[0] if len(self.normalized_shape) == 1 else self.normalized_shape
        return f"LayerNorm({shape}, eps={self.eps})"


class GroupNorm(_SampleNorm):
    """Group normalization of (N, C, H, W) feature maps, as ``torch.nn.GroupNorm``.

    ``GroupNorm(num_groups, num_channels, *, eps=1e-5)``: each sample's channels form
    ``num_groups`` groups of num_channels/num_groups consecutive channels, each group normalized
    over its channels and positions. Like PyTorch's, it also takes (N, C) inputs (a hidden
    layer's units, in groups of consecutive units) and (N, C, L). Params ``gamma`` (ones) and ``beta`` (zeros) of shape
    (num_channels,), stored in ``dtype`` (float32 by default). ``num_groups`` must divide
    ``num_channels`` (ValueError otherwise). Same in training and evaluation; ``training`` must
    be a bool. ``GroupNorm(1, C)`` normalizes each sample's whole map (as layer norm, with
    per-channel gamma/beta); ``GroupNorm(C, C)`` is instance norm.
    """

    def __init__(self, num_groups: int, num_channels: int, *, eps: float = 1e-5, dtype=np.float32) -> None:
        self.num_channels = check_int(num_channels, "num_channels", low=1)
        self.num_groups = _check_groups(num_groups, self.num_channels, "GroupNorm")
        super().__init__((self.num_channels,), eps, dtype)

    def forward(self, x, *, training):
        where = "GroupNorm.forward"
        check_training(training, where)
        check_array(x, "x", where=where)
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ValueError(f"{where}: x must have shape (N, C, H, W) (or (N, C), as PyTorch's (N, C, *)) with "
                             f"C = num_channels = {self.num_channels} in axis 1, got shape {x.shape}")
        out, self._cache = _groupnorm(x, self.params["gamma"], self.params["beta"], self.num_groups, self.eps)
        return out

    def backward(self, dout):
        return self._backward_with(_groupnorm_grads, dout)

    def __repr__(self) -> str:
        return f"GroupNorm({self.num_groups}, {self.num_channels}, eps={self.eps})"
