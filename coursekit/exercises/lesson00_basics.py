"""Notebook 00 exercises: the stable binary cross-entropy and the numerical gradient."""
from __future__ import annotations

import numpy as np

from ..gradcheck import numerical_gradient, rel_error
from ..losses import binary_cross_entropy_with_logits
from ._core import CheckFailed, Mistake, check_cases, register

# ----------------------------------------------------------------------------- bce_with_logits


def _bce_cases():
    rng = np.random.default_rng(1000)
    cases = [
        ("small logits", {"logits": np.array([-2.0, -0.5, 0.0, 0.5, 2.0]),
                          "targets": np.array([0.0, 1.0, 1.0, 0.0, 1.0])}),
        ("column of logits (N, 1)", {"logits": np.array([[1.5], [-0.25], [3.0]]),
                                     "targets": np.array([[1.0], [0.0], [0.0]])}),
        ("confident and right (z = +-40)", {"logits": np.array([40.0, -40.0]), "targets": np.array([1.0, 0.0])}),
        ("huge logits (z = +-1000), some confidently wrong",
         {"logits": np.array([1000.0, -1000.0, 1000.0, -1000.0]), "targets": np.array([1.0, 0.0, 0.0, 1.0])}),
    ]
    for i in range(6):
        n = int(rng.integers(1, 9))
        scale = [1.0, 5.0, 50.0][i % 3]
        cases.append((f"random case {i + 1} (N={n}, logits ~ {scale}*normal)",
                      {"logits": rng.standard_normal(n) * scale,
                       "targets": (rng.random(n) < 0.5).astype(np.float64)}))
    return cases


def _check_bce(fn):
    cases = _bce_cases()
    n = check_cases(fn, binary_cross_entropy_with_logits, cases, rtol=1e-6, atol=1e-9)
    rng = np.random.default_rng(1001)
    logits, targets = rng.standard_normal(6), (rng.random(6) < 0.5).astype(np.float64)
    _, dlogits = fn(logits.copy(), targets.copy())
    numeric = numerical_gradient(lambda z: fn(z, targets)[0], logits.copy())
    err = rel_error(dlogits, numeric)
    if err > 1e-6:
        raise CheckFailed("gradient check", inputs={"logits": logits, "targets": targets}, expected=numeric,
                          got=dlogits, reason=f"relative error {err:.2e} between your dlogits and the numerical "
                                              "gradient of your loss (want < 1e-6)")
    return (f"{n} cases (including logits of +-1000) match the reference, and your dlogits agree with "
            f"central differences of your loss (relative error {err:.1e}).")


def _bce_naive(logits, targets):
    s = 1.0 / (1.0 + np.exp(-logits))
    loss = -np.mean(targets * np.log(s) + (1 - targets) * np.log(1 - s))
    return float(loss), (s - targets) / logits.size


def _bce_overflowing(logits, targets):
    loss = np.mean(np.log1p(np.exp(-logits)) + (1 - targets) * logits)
    return float(loss), (1.0 / (1.0 + np.exp(-logits)) - targets) / logits.size


def _bce_sum(logits, targets):
    z, y = logits, targets
    loss = np.sum(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))
    return float(loss), 1.0 / (1.0 + np.exp(-z)) - y


def _bce_grad_not_averaged(logits, targets):
    z, y = logits, targets
    loss = np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))
    return float(loss), 1.0 / (1.0 + np.exp(-z)) - y


def _bce_grad_sign(logits, targets):
    z, y = logits, targets
    loss = np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))
    return float(loss), (y - 1.0 / (1.0 + np.exp(-z))) / z.size


register(
    "bce_with_logits",
    reference=binary_cross_entropy_with_logits,
    run_checks=_check_bce,
    mistakes=(
        Mistake("naive_log_sigmoid", _bce_naive,
                "log(sigmoid(z)) breaks for large |z|: sigmoid(1000) rounds to exactly 1.0, so log(1 - 1.0) = "
                "log(0) = -inf. Rewrite the loss as max(z, 0) - z*y + log1p(exp(-|z|)), which never takes log(0)."),
        Mistake("exp_overflow", _bce_overflowing,
                "exp(-z) overflows to inf when z is very negative (exp(1000) does not fit in a float). "
                "Use exp(-|z|), which is always in (0, 1]: max(z, 0) - z*y + log1p(exp(-|z|))."),
        Mistake("sum_instead_of_mean", _bce_sum,
                "The loss is the batch *mean*: divide the summed loss (and the gradient) by N."),
        Mistake("gradient_not_averaged", _bce_grad_not_averaged,
                "The loss is right, but the gradient of a mean carries the same 1/N: dL/dz = (sigmoid(z) - y) / N."),
        Mistake("gradient_sign", _bce_grad_sign,
                "The gradient has the wrong sign: dL/dz = (sigmoid(z) - y) / N, positive when the logit is too big."),
    ),
    generic_hint="Loss: mean of max(z, 0) - z*y + log1p(exp(-|z|)); gradient: (sigmoid(z) - y) / N, "
                 "same shape as the logits.",
)

# ----------------------------------------------------------------------------- numerical_gradient


def _cubic(x):
    return float(np.sum(x ** 3) + 0.5 * np.sum(x[..., :1] * x))


_MATRIX = np.array([[2.0, -1.0, 0.5], [0.3, 1.0, -2.0], [1.5, 0.2, 0.7]])


def _quadratic_form(x):
    return float(x @ _MATRIX @ x)


def _ng_cases():
    rng = np.random.default_rng(2000)
    return [
        ("f(x) = x @ A @ x with x of shape (3,)", {"f": _quadratic_form, "x": np.array([0.5, -1.0, 2.0]), "h": 1e-5}),
        ("cubic with x of shape (2, 3)", {"f": _cubic, "x": rng.standard_normal((2, 3)), "h": 1e-5}),
        ("exp-sum with x of shape (4,), h = 1e-4", {"f": lambda x: float(np.exp(x).sum()),
                                                   "x": rng.standard_normal(4), "h": 1e-4}),
    ]


def _check_numerical_gradient(fn):
    n = check_cases(fn, numerical_gradient, _ng_cases(), rtol=1e-7, atol=1e-9, check_dtype=False)
    x = np.array([[0.3, -0.7], [1.1, 2.0]])
    before = x.copy()
    fn(f=_cubic, x=x, h=1e-5)
    if not np.array_equal(x, before):
        raise CheckFailed("x is left as it was", inputs={"x": before}, expected=before, got=x,
                          reason="your function changed x and did not put it back",
                          hint="After evaluating f at x + h and x - h, restore x[i] to its original value.")
    return (f"{n} functions (vector and matrix x) match central differences to 1e-7, and x is left unchanged.")


def _ng_forward(f, x, h=1e-5):
    grad = np.zeros_like(x, dtype=np.float64)
    fx = f(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        grad[i] = (f(x) - fx) / h
        x[i] = old
    return grad


def _ng_divide_by_h(f, x, h=1e-5):
    grad = np.zeros_like(x, dtype=np.float64)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        plus = f(x)
        x[i] = old - h
        minus = f(x)
        x[i] = old
        grad[i] = (plus - minus) / h
    return grad


def _ng_not_restored(f, x, h=1e-5):
    grad = np.zeros_like(x, dtype=np.float64)
    for i in np.ndindex(x.shape):
        x[i] += h
        plus = f(x)
        x[i] -= 2 * h
        minus = f(x)
        grad[i] = (plus - minus) / (2 * h)
    return grad


register(
    "numerical_gradient",
    reference=numerical_gradient,
    run_checks=_check_numerical_gradient,
    mistakes=(
        Mistake("forward_difference", _ng_forward,
                "(f(x+h) - f(x)) / h is a forward difference with error O(h). Use the central difference "
                "(f(x+h) - f(x-h)) / (2h): its error is O(h^2), a thousand times smaller here."),
        Mistake("divide_by_h", _ng_divide_by_h,
                "The two evaluations are 2h apart: divide f(x+h) - f(x-h) by 2h, not h."),
        Mistake("x_not_restored", _ng_not_restored,
                "Each coordinate must go back to its original value before you move the next one; otherwise "
                "later partial derivatives are taken at a shifted point."),
    ),
    generic_hint="For each index i: save x[i]; set x[i] = old + h, evaluate f; set x[i] = old - h, evaluate f; "
                 "restore x[i] = old; grad[i] = (f_plus - f_minus) / (2h).",
)
