"""Notebook 00 exercises: the stable binary cross-entropy and the numerical gradient."""
from __future__ import annotations

import numpy as np

from ..gradcheck import numerical_gradient, rel_error
from ..losses import binary_cross_entropy_with_logits
from ._core import CheckFailed, Mistake, check_cases, modifies_input, register, set_case

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
    try:
        n = check_cases(fn, binary_cross_entropy_with_logits, _bce_cases(), rtol=1e-6, atol=1e-9)
    except CheckFailed as failure:
        _recognize_clipping(fn, failure)
        raise
    rng = np.random.default_rng(1001)
    logits, targets = rng.standard_normal(6), (rng.random(6) < 0.5).astype(np.float64)
    set_case("gradient check: your dlogits against central differences of your loss")
    _, dlogits = fn(logits.copy(), targets.copy())
    numeric = numerical_gradient(lambda z: fn(z, targets)[0], logits.copy())
    err = rel_error(dlogits, numeric)
    if err > 1e-6:
        raise CheckFailed("gradient check", inputs={"logits": logits, "targets": targets}, expected=numeric,
                          got=dlogits, reason=f"relative error {err:.2e} between your dlogits and the numerical "
                                              "gradient of your loss (want < 1e-6)")
    return (f"{n} cases (including logits of +-1000) match the reference, and your dlogits agree with "
            f"central differences of your loss (relative error {err:.1e}).")


def _recognize_clipping(fn, failure: CheckFailed) -> None:
    """A finite but capped loss for a confidently wrong logit: the probabilities were clipped."""
    got = failure.got
    if not (isinstance(got, (tuple, list)) and len(got) == 2 and np.ndim(got[0]) == 0
            and np.isfinite(np.asarray(got[0], dtype=np.float64))):
        return
    set_case("one confidently wrong logit, z = 1000 with target 0 (the loss is 1000)")
    try:
        loss = float(fn(np.array([1000.0]), np.array([0.0]))[0])
    except Exception:  # noqa: BLE001 - the probe only refines the diagnosis
        return
    if np.isfinite(loss) and 0.0 < loss < 900.0:
        raise CheckFailed(failure.case, inputs=failure.inputs, expected=failure.expected, got=failure.got,
                          reason=f"{failure.reason}; for one logit z = 1000 with target 0 your loss is {loss:.4g}, "
                                 "not 1000", tolerance=failure.tolerance, mistake="clipped_probabilities") from None


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


def _bce_gradient_overflows(logits, targets):
    z, y = logits, targets
    loss = np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))
    e = np.exp(z)
    return float(loss), (e / (1.0 + e) - y) / z.size


def _bce_clipped(logits, targets):
    s = np.clip(1.0 / (1.0 + np.exp(-logits)), 1e-7, 1 - 1e-7)
    loss = -np.mean(targets * np.log(s) + (1 - targets) * np.log(1 - s))
    return float(loss), (s - targets) / logits.size


def _bce_sigmoid_in_place(logits, targets):
    z, y = logits, targets
    loss = np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))
    s = z  # "saves memory": the sigmoid overwrites the caller's logits
    np.negative(s, out=s)
    np.exp(s, out=s)
    s += 1.0
    np.reciprocal(s, out=s)
    return float(loss), (s - y) / s.size


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
        Mistake("sigmoid_overflow_in_gradient", _bce_gradient_overflows,
                "The loss is stable, but the gradient's sigmoid is not: exp(z) / (1 + exp(z)) is inf / inf = NaN "
                "for z = 1000. Use 1 / (1 + exp(-z)), which gives 1 / (1 + 0) = 1 there and 1 / inf = 0 for "
                "z = -1000 (or np.where(z >= 0, 1 / (1 + exp(-z)), exp(z) / (1 + exp(z))))."),
        Mistake("clipped_probabilities", _bce_clipped,
                "Clipping sigmoid(z) into [eps, 1 - eps] (or adding eps inside the log) hides log(0) instead of "
                "removing it: a confidently wrong "
                "logit z = 1000 has loss 1000, but clipping caps it at -log(eps) (16 for eps = 1e-7), and "
                "confidently right logits get a loss of about eps instead of ~0. Use the form that needs no "
                "clipping: max(z, 0) - z*y + log1p(exp(-|z|))."),
        modifies_input(binary_cross_entropy_with_logits, "logits",
                       "the logits are the network's output: the accuracy computed after the loss, and the "
                       "gradient check that calls your loss again at the same logits, read the same array",
                       fix="`s = 1 / (1 + np.exp(-logits))`, a new array, not `np.exp(logits, out=logits)`",
                       implementation=_bce_sigmoid_in_place),
        modifies_input(binary_cross_entropy_with_logits, "targets",
                       "the targets are the data set's labels: the next epoch, and the accuracy, read them again",
                       fix="`y = targets.astype(float)`, a new array, not `targets *= ...`"),
    ),
    generic_hint="Loss: mean of max(z, 0) - z*y + log1p(exp(-|z|)); gradient: (sigmoid(z) - y) / N, "
                 "same shape as the logits.",
    output_names=("loss", "dlogits"),
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
    # The guard of run_check compares x before and after every call (up to rounding, so
    # x[i] += h ... x[i] -= h passes): an x left perturbed fails as x_not_restored.
    n = check_cases(fn, numerical_gradient, _ng_cases(), rtol=1e-7, atol=1e-9, check_dtype=False)
    return (f"{n} functions (vector and matrix x) match central differences to 1e-7, and x is left as it was.")


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
                "later partial derivatives are taken at a shifted point, and the caller's x (often a layer's "
                "weights) is left changed. Save old = x[i], evaluate at old + h and old - h, then set x[i] = old "
                "(or perturb a copy of x).", modifies="x"),
    ),
    generic_hint="For each index i: save x[i]; set x[i] = old + h, evaluate f; set x[i] = old - h, evaluate f; "
                 "restore x[i] = old; grad[i] = (f_plus - f_minus) / (2h).",
    restore_tolerance={"x": (1e-12, 1e-15)},  # x[i] += h ... x[i] -= h restores x up to rounding
)
