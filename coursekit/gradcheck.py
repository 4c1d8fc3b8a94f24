"""Numerical gradients by central differences, and a gradient check for any layer."""
from __future__ import annotations

import copy

import numpy as np

from ._validation import check_array, check_rng, check_real

__all__ = ["numerical_gradient", "rel_error", "check_layer_gradients"]


def numerical_gradient(f, x: np.ndarray, *, h: float = 1e-5) -> np.ndarray:
    """Central-difference gradient of a scalar function ``f(x)`` at ``x``.

    ``grad[i] = (f(x + h e_i) - f(x - h e_i)) / (2h)``, error O(h^2). ``x`` is perturbed
    in place (so closures over it see the change) and restored exactly afterwards.
    Shapes: x any shape, returned gradient the same shape. Use float64 ``x``.
    """
    if not callable(f):
        raise TypeError(f"numerical_gradient: f must be callable, got {type(f).__name__}")
    check_array(x, "x", where="numerical_gradient")
    h = check_real(h, "h", low=0.0, low_open=True)
    grad = np.zeros_like(x, dtype=np.float64)
    flat_x, flat_grad = x.reshape(-1), grad.reshape(-1)
    if not np.shares_memory(flat_x, x):
        raise ValueError("numerical_gradient: x must be contiguous so it can be perturbed in place")
    for i in range(flat_x.size):
        original = flat_x[i]
        flat_x[i] = original + h
        f_plus = float(f(x))
        flat_x[i] = original - h
        f_minus = float(f(x))
        flat_x[i] = original
        flat_grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


def rel_error(a, b) -> float:
    """Largest elementwise relative error ``|a-b| / max(1e-8, |a|+|b|)`` (CS231n's measure).

    Below ~1e-7 in float64 a gradient is right; above ~1e-2 it is almost surely wrong.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error: shapes differ, {a.shape} vs {b.shape}")
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)))) if a.size else 0.0


def check_layer_gradients(layer, x: np.ndarray, *, rng: np.random.Generator, training: bool = True,
                          h: float = 1e-5) -> dict[str, float]:
    """Compare a layer's analytic gradients with central differences; return relative errors.

    Works on a float64 copy of the layer (its parameters cast to x's dtype), so the layer
    passed in is untouched. Every evaluation starts from an identical copy, so a layer that
    draws random numbers (dropout) uses the same mask each time. The scalar checked is
    ``sum(forward(x) * dout)`` with a random ``dout``.

    Returns ``{"x": err, "<param>": err, ...}``; all should be < 1e-7 in float64.
    """
    check_array(x, "x", where="check_layer_gradients")
    check_rng(rng)
    if x.dtype != np.float64:
        raise TypeError(f"check_layer_gradients: x must be float64 for a meaningful check, got {x.dtype}")
    template = copy.deepcopy(layer)
    for key in template.params:
        template.params[key] = template.params[key].astype(np.float64)

    def run(inp):
        fresh = copy.deepcopy(template)
        return fresh, fresh.forward(inp, training=training)

    live, out = run(x)
    dout = rng.standard_normal(out.shape)
    dx = live.backward(dout)
    errors = {"x": rel_error(dx, numerical_gradient(lambda v: np.sum(run(v)[1] * dout), x.copy(), h=h))}
    for key, value in template.params.items():
        numeric = numerical_gradient(lambda _: np.sum(run(x)[1] * dout), value, h=h)
        errors[key] = rel_error(live.grads[key], numeric)
    return errors
