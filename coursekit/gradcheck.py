"""Numerical gradients by central differences, and a gradient check for any layer."""
from __future__ import annotations

import copy
import math

import numpy as np

from ._validation import check_array, check_callable, check_number, check_real, check_rng, check_training, describe

__all__ = ["numerical_gradient", "rel_error", "check_layer_gradients"]


def numerical_gradient(f, x: np.ndarray, *, h: float = 1e-5) -> np.ndarray:
    """Central-difference gradient of a scalar function ``f`` at ``x``.

    ``grad[i] = (f(x + h e_i) - f(x - h e_i)) / (2h)``, error O(h^2).

    The contract for ``f``, under which every correct implementation gives the same answer:
    ``f`` takes an array shaped like ``x`` and computes its value **from that array only**,
    returning one real number (a float, a NumPy scalar or a 0-d array). An implementation may
    perturb ``x`` in place and restore it, or perturb a copy and pass the copy: an ``f`` that ignores its
    argument and reads ``x`` (or a layer's weights) through a variable it closes over is right
    for the first and silently returns zeros for the second. To check a layer's weights, let
    ``f`` put the array it is given into the layer, e.g.
    ``def f(W): layer.params["W"] = W; return np.sum(layer.forward(x, training=True) * dout)``
    (and restore the original array afterwards), or use ``check_layer_gradients``.

    This implementation perturbs ``x`` in place, one entry at a time, and restores it exactly
    (also when ``f`` raises). Shapes: x any shape, float64 (float32 rounding swamps the
    differences: a correct gradient would fail the check), finite; the result is float64,
    shaped like x. ``f`` returning an array instead of one number is a ``TypeError``; returning
    NaN or inf is a ``ValueError`` naming the entry of ``x`` that was perturbed.
    """
    where = "numerical_gradient"
    check_callable(f, "f", where, "callable: a function of x returning one number")
    check_array(x, "x", finite=True, where=where)
    if x.dtype.itemsize < 8:
        raise TypeError(f"{where}: x must be float64 for a meaningful gradient check, got dtype {x.dtype}; in "
                        f"float32 the rounding error of f swamps the differences: pass x.astype(np.float64)")
    h = check_real(h, "h", low=0.0, low_open=True)
    grad = np.zeros_like(x, dtype=np.float64)
    flat_x, flat_grad = x.reshape(-1), grad.reshape(-1)
    if not np.shares_memory(flat_x, x):
        raise ValueError("numerical_gradient: x must be contiguous so it can be perturbed in place")
    for i in range(flat_x.size):
        original = flat_x[i]
        try:
            flat_x[i] = original + h
            f_plus = _scalar(f(x), i, "+", x.shape)
            flat_x[i] = original - h
            f_minus = _scalar(f(x), i, "-", x.shape)
        finally:
            flat_x[i] = original
        flat_grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


def numerical_gradients(fn, inputs: tuple[np.ndarray, ...], dout: np.ndarray, *, h: float = 1e-5) -> tuple[np.ndarray, ...]:
    """Central-difference gradients of ``L = sum(fn(*inputs) * dout)`` with respect to each input.

    ``fn(*inputs)`` returns an array shaped like ``dout`` (the upstream gradient); the result holds one
    array per input, shaped like it: ``dL/d inputs[k]``, each computed with ``numerical_gradient`` while
    the other inputs stay fixed. The inputs are copied, never changed.
    """
    inputs = tuple(np.array(value, copy=True) for value in inputs)

    def loss_in(k):
        def loss(value):
            args = inputs[:k] + (value,) + inputs[k + 1:]
            return float(np.sum(fn(*args) * dout))
        return loss

    return tuple(numerical_gradient(loss_in(k), inputs[k].copy(), h=h) for k in range(len(inputs)))


def _scalar(value, i: int, sign: str, shape: tuple) -> float:
    """``f``'s value as a float: one real, finite number, else a clear error naming the entry."""
    where = "numerical_gradient"
    if isinstance(value, np.ndarray) and value.ndim > 0:
        raise TypeError(f"{where}: f must return one number (a scalar loss), got an array of shape {value.shape}; "
                        "reduce it, e.g. np.sum(out * dout)")
    value = check_number(value, "the value returned by f", where)
    if not math.isfinite(value):
        entry = [int(k) for k in np.unravel_index(i, shape)] if shape else []
        raise ValueError(f"{where}: f returned {value} at x{list(entry)} {sign} h; expected a finite number")
    return value


def rel_error(a, b) -> float:
    """Largest elementwise relative error ``|a-b| / max(1e-8, |a|+|b|)`` (CS231n's measure).

    Below ~1e-7 in float64 a gradient is right; above ~1e-2 it is almost surely wrong.
    a, b: arrays (or numbers) of real numbers with the same shape. NaN anywhere gives NaN,
    which fails every ``rel_error(...) < tol`` test.
    """
    a, b = _real(a, "a"), _real(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"rel_error: shapes differ, {a.shape} vs {b.shape}; a and b must have the same shape")
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)))) if a.size else 0.0


def _real(value, name: str) -> np.ndarray:
    if isinstance(value, (bool, np.bool_)) or value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"rel_error: {name} must be an array of real numbers, got {describe(value)} "
                        f"of type {type(value).__name__}")
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as exc:  # a ragged list: numpy's own message names no argument
        raise TypeError(f"rel_error: {name} must be an array of real numbers, got {describe(value)} of type "
                        f"{type(value).__name__}, which numpy cannot turn into one array ({exc})") from None
    if array.dtype.kind not in "iuf":
        raise TypeError(f"rel_error: {name} must be an array of real numbers, got dtype {array.dtype}")
    return array.astype(np.float64, copy=False)


def check_layer_gradients(layer, x: np.ndarray, *, rng: np.random.Generator, training: bool = True,
                          h: float = 1e-5) -> dict[str, float]:
    """Compare a layer's analytic gradients with central differences; return relative errors.

    Works on a float64 copy of the layer (its parameters cast to x's dtype), so the layer
    passed in is untouched. Every evaluation starts from an identical copy, so a layer that
    draws random numbers (dropout) uses the same mask each time. The scalar checked is
    ``sum(forward(x) * dout)`` with a random ``dout``; each parameter's function receives the
    perturbed parameter and installs it into its fresh copy (``numerical_gradient``'s contract).

    Returns ``{"x": err, "<param>": err, ...}``; all should be < 1e-7 in float64.
    """
    where = "check_layer_gradients"
    if isinstance(layer, type) or not all(callable(getattr(layer, m, None)) for m in ("forward", "backward")) \
            or not isinstance(getattr(layer, "params", None), dict):
        raise TypeError(f"{where}: layer must be a layer with forward, backward and a params dict (e.g. Dense(...)), "
                        f"got {describe(layer)} of type {type(layer).__name__}")
    check_array(x, "x", finite=True, where=where)
    check_rng(rng)
    training = check_training(training, where)
    h = check_real(h, "h", low=0.0, low_open=True)
    if x.dtype != np.float64:
        raise TypeError(f"check_layer_gradients: x must be float64 for a meaningful check, got {x.dtype}")
    template = copy.deepcopy(layer)
    for key in template.params:
        template.params[key] = template.params[key].astype(np.float64)

    def run(inp, key=None, value=None):
        fresh = copy.deepcopy(template)
        if key is not None:
            fresh.params[key] = value
        return fresh, fresh.forward(inp, training=training)

    live, out = run(x)
    dout = rng.standard_normal(np.shape(out))
    dx = live.backward(dout)
    errors = {"x": rel_error(dx, numerical_gradient(lambda v: np.sum(run(v)[1] * dout), x.copy(), h=h))}
    for key, value in template.params.items():
        numeric = numerical_gradient(lambda v, key=key: np.sum(run(x, key, v)[1] * dout), value.copy(), h=h)
        errors[key] = rel_error(live.grads[key], numeric)
    return errors
