"""Inverted dropout and spatial (channel-wise) dropout, as functions and as layers.

Convention (PyTorch's): ``drop_prob`` is the probability of zeroing an entry
(PyTorch ``p``, Keras ``rate``); ``keep_prob = 1 - drop_prob``. Training:
``out = x * mask`` with ``mask = bernoulli(keep_prob) / keep_prob`` (inverted dropout,
so the expected activation is unchanged and evaluation is the identity). ``drop_prob = 1``
gives zeros (no division by zero); ``drop_prob = 0`` the identity.
"""
from __future__ import annotations

import numpy as np

from ._validation import check_array, check_probability, check_rng, check_training
from .layers import Layer

__all__ = ["dropout_forward", "dropout_backward", "spatial_dropout_forward", "spatial_dropout_backward",
           "Dropout", "SpatialDropout2D"]


def _scaled_mask(shape, drop_prob: float, rng: np.random.Generator, dtype) -> np.ndarray:
    keep_prob = 1.0 - drop_prob
    if keep_prob == 0.0:
        return np.zeros(shape, dtype=dtype)
    keep = rng.random(shape) < keep_prob
    return keep.astype(dtype) / dtype.type(keep_prob)


def dropout_forward(x: np.ndarray, drop_prob: float, *, rng: np.random.Generator,
                    training: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Inverted dropout: ``(out, mask)``.

    Training: ``mask[i] = 1/keep_prob`` with probability ``keep_prob`` else 0, drawn
    independently per entry; ``out = x * mask``. Evaluation: ``out = x`` and ``mask = None``.
    Shapes: x any shape; out and mask the same shape, in x's dtype.
    """
    check_array(x, "x", where="dropout_forward")
    drop_prob = check_probability(drop_prob, "drop_prob")
    check_rng(rng)
    if not check_training(training, "dropout_forward"):
        return x, None
    mask = _scaled_mask(x.shape, drop_prob, rng, x.dtype)
    return x * mask, mask


def dropout_backward(dout: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Gradient of inverted dropout: ``dx = dout * mask`` (the same scaled mask as forward).

    ``mask = None`` (evaluation mode) passes ``dout`` through. Shapes: dout like the
    forward output; mask the same shape, or broadcastable to it (spatial dropout).
    """
    where = "dropout_backward"
    check_array(dout, "dout", where=where)
    if mask is None:
        return dout
    _check_mask(mask, where)
    try:
        fits = mask.ndim == dout.ndim and np.broadcast_shapes(mask.shape, dout.shape) == dout.shape
    except ValueError:
        fits = False
    if not fits:  # the mask may broadcast to dout (spatial dropout), never dout to the mask
        raise ValueError(f"{where}: mask of shape {mask.shape} does not fit dout of shape {dout.shape}; "
                         "pass the mask returned by the forward pass") from None
    return dout * mask


def _check_mask(mask, where: str) -> None:
    """A dropout mask holds 0 or 1/keep_prob: finite, non-negative floats."""
    check_array(mask, "mask", where=where)
    if not np.all(mask >= 0) or not np.all(np.isfinite(mask)):
        raise ValueError(f"{where}: mask must hold 0 or 1/keep_prob (finite, >= 0) as returned by the forward pass, "
                         f"got values from {np.min(mask)} to {np.max(mask)}")


def _check_nchw(x, where: str, name: str = "x") -> None:
    check_array(x, name, where=where)
    if x.ndim != 4:
        raise ValueError(f"{where}: {name} must be 4-D feature maps (N, C, H, W), got a {x.ndim}-D array of shape "
                         f"{x.shape}; for (N, D) activations use element-wise dropout")


def spatial_dropout_forward(x: np.ndarray, drop_prob: float, *, rng: np.random.Generator,
                            training: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Spatial dropout (PyTorch ``Dropout2d``, Keras ``SpatialDropout2D``): ``(out, mask)``.

    One Bernoulli draw per (sample, channel): mask shape (N, C, 1, 1) with entries 0 or
    ``1/keep_prob``, so each whole feature map is either zeroed or scaled.
    ``out = x * mask`` (broadcast over H, W). Evaluation: ``out = x``, ``mask = None``.
    Shapes: x (N, C, H, W) -> out (N, C, H, W).
    """
    _check_nchw(x, "spatial_dropout_forward")
    drop_prob = check_probability(drop_prob, "drop_prob")
    check_rng(rng)
    if not check_training(training, "spatial_dropout_forward"):
        return x, None
    mask = _scaled_mask((x.shape[0], x.shape[1], 1, 1), drop_prob, rng, x.dtype)
    return x * mask, mask


def spatial_dropout_backward(dout: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Gradient of spatial dropout: ``dx = dout * mask`` with the (N, C, 1, 1) mask broadcast."""
    where = "spatial_dropout_backward"
    _check_nchw(dout, where, "dout")
    if mask is None:
        return dout
    _check_mask(mask, where)
    if mask.shape != dout.shape[:2] + (1, 1):
        raise ValueError(f"{where}: mask must have shape {dout.shape[:2] + (1, 1)}, got {mask.shape}; one entry per "
                         f"sample and channel of dout {dout.shape}, as returned by the forward pass")
    return dout * mask


class Dropout(Layer):
    """Inverted dropout layer: a fresh mask every training forward pass; identity when ``training=False``.

    ``Dropout(drop_prob, rng=rng)``; same as PyTorch ``nn.Dropout(p=drop_prob)``.
    """

    _forward = staticmethod(dropout_forward)
    _backward = staticmethod(dropout_backward)

    def __init__(self, drop_prob: float, *, rng: np.random.Generator) -> None:
        super().__init__()
        self.drop_prob = check_probability(drop_prob, "drop_prob")
        self.rng = check_rng(rng)

    def forward(self, x, *, training):
        out, mask = self._forward(x, self.drop_prob, rng=self.rng, training=training)
        self._cache = (mask, out.shape)
        return out

    def backward(self, dout):
        mask, shape = self._require_cache()
        self._check_dout(dout, shape)
        return self._backward(dout, mask)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(drop_prob={self.drop_prob})"


class SpatialDropout2D(Dropout):
    """Channel-wise dropout for (N, C, H, W) maps: whole feature maps zeroed or scaled by 1/keep_prob.

    Same as PyTorch ``nn.Dropout2d(p=drop_prob)`` and Keras ``SpatialDropout2D(rate)``
    (Keras is channels-last by default).
    """

    _forward = staticmethod(spatial_dropout_forward)
    _backward = staticmethod(spatial_dropout_backward)
