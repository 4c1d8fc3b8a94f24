"""Layers with an explicit forward/backward contract.

Every layer has

* ``forward(x, *, training)`` - computes the output and keeps what backward needs;
* ``backward(dout) -> dx`` - takes the upstream gradient dL/dout, stores parameter
  gradients in ``grads`` and returns dL/dx. Layers with parameters whose input gradient costs
  real work (``Dense``, ``Conv2D``) also accept ``backward(dout, input_grad=False)``: parameter
  gradients only, returns None (``Sequential.backward(dout, input_grad=False)`` uses it for the
  first layer, whose input gradient nothing needs; PyTorch skips it there too);
* ``params`` / ``grads`` - dicts of arrays with matching keys (empty for
  parameter-free layers); ``buffers`` - state that is not trained (e.g. running
  statistics), saved by ``Sequential.state_dict``.

Layers compute in their input's dtype: float32 for training, float64 for gradient checks.
"""
from __future__ import annotations

import numpy as np

from ._validation import check_array, check_bool, check_float_dtype, check_int, check_rng, check_training, describe

__all__ = ["Layer", "Dense", "ReLU", "Sigmoid", "Tanh", "sigmoid", "Conv2D", "MaxPool2D", "GlobalAvgPool2D",
           "Flatten"]


class Layer:
    """Base class: parameter-free identity. Subclasses override ``forward``/``backward``."""

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self._cache = None

    def forward(self, x: np.ndarray, *, training: bool) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, x: np.ndarray, *, training: bool) -> np.ndarray:
        return self.forward(x, training=training)

    def _require_cache(self):
        if self._cache is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward was called before forward: "
                "run forward(x, training=True) on a batch first"
            )
        return self._cache

    def _check_dout(self, dout, expected_shape) -> np.ndarray:
        check_array(dout, "dout", where=f"{type(self).__name__}.backward")
        if dout.shape != tuple(expected_shape):
            raise ValueError(
                f"{type(self).__name__}.backward: dout must have the shape of the forward output "
                f"{tuple(expected_shape)}, got {dout.shape}"
            )
        return dout

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Dense(Layer):
    """Fully connected layer ``y = x @ W + b``.

    Shapes: x (N, in_features), W (in_features, out_features), b (out_features,),
    y (N, out_features).

    Initialization draws W from a normal distribution with standard deviation
    ``sqrt(2 / in_features)`` (He, for ReLU networks, the default) or
    ``sqrt(2 / (in_features + out_features))`` (Glorot, for tanh/sigmoid); b = 0.

    Backward: ``dW = x.T @ dout``, ``db = dout.sum(0)``, ``dx = dout @ W.T``.
    """

    def __init__(self, in_features: int, out_features: int, *, rng: np.random.Generator,
                 init: str = "he", dtype=np.float32) -> None:
        super().__init__()
        self.in_features = check_int(in_features, "in_features", low=1)
        self.out_features = check_int(out_features, "out_features", low=1)
        check_rng(rng)
        if not isinstance(init, str):
            raise TypeError(f"Dense: init must be 'he' or 'glorot', got {describe(init)} of type {type(init).__name__}")
        if init == "he":
            std = np.sqrt(2.0 / in_features)
        elif init == "glorot":
            std = np.sqrt(2.0 / (in_features + out_features))
        else:
            raise ValueError(f"Dense: init must be 'he' or 'glorot', got {init!r}")
        dtype = check_float_dtype(dtype, "dtype", where="Dense")
        self.init = init
        self.params["W"] = (rng.standard_normal((in_features, out_features)) * std).astype(dtype)
        self.params["b"] = np.zeros(out_features, dtype=dtype)

    def forward(self, x, *, training):
        check_training(training, "Dense.forward")
        check_array(x, "x", ndim=2, where="Dense.forward")
        if x.shape[1] != self.in_features:
            raise ValueError(
                f"Dense.forward: x must have shape (N, {self.in_features}) because in_features="
                f"{self.in_features}, got shape {x.shape}"
            )
        W = self.params["W"].astype(x.dtype, copy=False)
        b = self.params["b"].astype(x.dtype, copy=False)
        self._cache = x
        out = x @ W
        out += b  # in place: one temporary fewer than x @ W + b, same result
        return out

    def backward(self, dout, *, input_grad=True):
        """Parameter gradients into ``grads``; returns dL/dx (N, in_features), or None with
        ``input_grad=False`` (only ``grads`` computed: what ``Sequential.backward(dout,
        input_grad=False)`` asks of a network's first layer, as PyTorch skips it there)."""
        x = self._require_cache()
        input_grad = check_bool(input_grad, "input_grad", where="Dense.backward")
        self._check_dout(dout, (x.shape[0], self.out_features))
        W = self.params["W"]
        self.grads["W"] = (x.T @ dout).astype(W.dtype, copy=False)
        self.grads["b"] = dout.sum(axis=0).astype(W.dtype, copy=False)
        if not input_grad:
            return None
        return dout @ W.astype(dout.dtype, copy=False).T

    def __repr__(self) -> str:
        return f"Dense({self.in_features}, {self.out_features}, init={self.init!r})"


class ReLU(Layer):
    """``y = max(x, 0)``, NaN propagating (as PyTorch's ``torch.relu``).

    A NaN input gives a NaN output, so a diverged network is not hidden: ``fit``'s
    non-finite check sees it. Backward, as PyTorch's ``threshold_backward``:
    ``dx = 0 where x <= 0, else dout`` - so 0 at x = 0 (+0.0, whatever dout holds there), and
    ``dout`` passes where x is NaN. (One difference: PyTorch keeps the sign of ``-0.0``, here
    ``relu(-0.0)`` is ``+0.0``; the two compare equal.)
    """

    def forward(self, x, *, training):
        check_training(training, "ReLU.forward")
        check_array(x, "x", where="ReLU.forward")
        passes = np.asarray(np.less_equal(x, 0))  # asarray: a 0-d input gives a numpy scalar here
        np.logical_not(passes, out=passes)  # x > 0, or NaN: PyTorch's mask
        self._cache = passes
        return _keep_where(x, passes)

    def backward(self, dout):
        passes = self._require_cache()
        self._check_dout(dout, passes.shape)
        return _keep_where(dout, passes)


def _keep_where(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``values`` where ``keep``, else +0.0 (a new array), with no branch and no float arithmetic: the bit
    patterns are multiplied by the 0/1 mask as unsigned integers. For ReLU's forward pass that is the
    same values as ``np.maximum(x, 0)`` (NaN kept, relu(-0.0) = +0.0), about 2x faster; unlike
    ``values * keep`` it gives +0.0 where the mask is 0 even for NaN or negative values (not NaN, -0.0)."""
    bits = np.dtype(f"u{values.dtype.itemsize}") if values.dtype.itemsize in (2, 4, 8) else None
    if bits is None:  # e.g. long double: no unsigned integer of its size
        return np.where(keep, values, values.dtype.type(0))
    out = np.empty(values.shape, dtype=values.dtype)
    np.multiply(values.view(bits), keep, out=out.view(bits))
    return out


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function ``1 / (1 + exp(-z))``; never overflows.

    Uses ``exp(-|z|)`` (always in (0, 1]) so large positive or negative inputs are safe.
    z: a numpy array of any shape (or one real number) with a floating or integer dtype;
    the result has z's shape, in z's floating dtype (float64 for integer input). NaN
    propagates, as in PyTorch. Lists, bools, complex numbers and None are a ``TypeError``.
    """
    z = _real_array(z, "z", "sigmoid")
    # integer input must not be cast back to an integer dtype (that would truncate to 0/1)
    dtype = z.dtype if np.issubdtype(z.dtype, np.floating) else np.float64
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(dtype, copy=False)


def _real_array(z, name: str, where: str) -> np.ndarray:
    """``z`` as an array if it is a numpy array (or a real number) of a floating or integer dtype."""
    if isinstance(z, (bool, np.bool_)) or not isinstance(z, (np.ndarray, int, float, np.integer, np.floating)):
        hint = "; convert it with np.asarray(...)" if isinstance(z, (list, tuple)) else ""
        raise TypeError(f"{where}: {name} must be a numpy array of real numbers, got {describe(z)} "
                        f"of type {type(z).__name__}{hint}")
    z = np.asarray(z)
    if z.dtype.kind not in "iuf":
        raise TypeError(f"{where}: {name} must have a floating or integer dtype, got dtype {z.dtype}")
    return z


class Sigmoid(Layer):
    """``y = sigmoid(x)``; backward ``dx = dout * y * (1 - y)``."""

    def forward(self, x, *, training):
        check_training(training, "Sigmoid.forward")
        check_array(x, "x", where="Sigmoid.forward")
        y = sigmoid(x)
        self._cache = y
        return y

    def backward(self, dout):
        y = self._require_cache()
        self._check_dout(dout, y.shape)
        return dout * y * (1 - y)


class Tanh(Layer):
    """``y = tanh(x)``; backward ``dx = dout * (1 - y**2)``."""

    def forward(self, x, *, training):
        check_training(training, "Tanh.forward")
        check_array(x, "x", where="Tanh.forward")
        y = np.tanh(x)
        self._cache = y
        return y

    def backward(self, dout):
        y = self._require_cache()
        self._check_dout(dout, y.shape)
        return dout * (1 - y * y)


def __getattr__(name: str):
    """``Conv2D``, ``MaxPool2D``, ``GlobalAvgPool2D`` and ``Flatten`` are defined in conv.py and re-exported here.

    Resolved lazily (PEP 562) because conv.py imports ``Layer`` from this module: an eager
    import at the bottom of this file breaks ``import coursekit.conv`` when it comes first.
    """
    if name in ("Conv2D", "MaxPool2D", "GlobalAvgPool2D", "Flatten"):
        from . import conv
        return getattr(conv, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
