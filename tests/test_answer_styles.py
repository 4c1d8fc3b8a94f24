"""A simulation of learners' answers to every exercise: right answers in many styles, and wrong ones.

* Every right answer passes, however it is written: loops or vectorized, einsum, equivalent
  formulas (logaddexp, tanh, expit), Python floats or NumPy scalars, computing on copies in
  place, float32 care, the textbook and Keras forms of the early-stopping rule.
* Every catalogued mistake is rejected with its own hint (also tests/test_exercises.py).
* Wrong answers outside the catalogue (NaN everywhere, a loss of shape (1,), keep and drop
  probabilities swapped, ...) are rejected with a hint that names no mistake they did not make.
"""
from __future__ import annotations

import copy
import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import special

from coursekit.exercises import all_mistakes, exercise_names, get_exercise, run_check

# ----------------------------------------------------------------------------- right answers, many styles

RIGHT: dict[str, dict[str, object]] = {}


def right(exercise: str, style: str):
    def register(fn):
        RIGHT.setdefault(exercise, {})[style] = fn
        return fn
    return register


# -- bce_with_logits

@right("bce_with_logits", "stable formula")
def _bce_stable(logits, targets):
    z, y = logits, targets
    loss = np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))
    return float(loss), (1 / (1 + np.exp(-z)) - y) / z.size


@right("bce_with_logits", "logaddexp, sigmoid as exp(-softplus(-z))")
def _bce_logaddexp(logits, targets):
    loss = np.mean(np.logaddexp(0.0, logits) - logits * targets)
    return loss, (np.exp(-np.logaddexp(0.0, -logits)) - targets) / logits.size


@right("bce_with_logits", "scipy's log_expit and expit")
def _bce_scipy(logits, targets):
    loss = -np.mean(targets * special.log_expit(logits) + (1 - targets) * special.log_expit(-logits))
    return float(loss), (special.expit(logits) - targets) / len(logits.reshape(-1))


@right("bce_with_logits", "a loop over entries with the math module")
def _bce_loop(logits, targets):
    total, grad = 0.0, np.zeros_like(logits)
    for index in np.ndindex(logits.shape):
        z, y = float(logits[index]), float(targets[index])
        total += max(z, 0.0) - z * y + math.log1p(math.exp(-abs(z)))
        sigmoid = 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))
        grad[index] = sigmoid - y
    return total / logits.size, grad / logits.size


@right("bce_with_logits", "two branches with np.where, sigmoid from tanh")
def _bce_where(logits, targets):
    z, y = logits, targets
    with np.errstate(over="ignore"):
        per_example = np.where(z >= 0, z * (1 - y) + np.log1p(np.exp(-z)), -z * y + np.log1p(np.exp(z)))
    sigmoid = 0.5 * (1 + np.tanh(z / 2))
    return np.asarray(per_example.mean()), (sigmoid - y) / np.prod(z.shape)


# -- numerical_gradient

@right("numerical_gradient", "perturb in place and restore")
def _ng_in_place(f, x, h=1e-5):
    grad = np.zeros_like(x, dtype=np.float64)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        plus = f(x)
        x[i] = old - h
        minus = f(x)
        x[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return grad


@right("numerical_gradient", "perturb copies")
def _ng_copies(f, x, h=1e-5):
    grad = np.empty(x.shape)
    for i in range(x.size):
        step = np.zeros(x.size)
        step[i] = h
        step = step.reshape(x.shape)
        grad.reshape(-1)[i] = (f(x + step) - f(x - step)) / (2 * h)
    return grad


@right("numerical_gradient", "nditer, += h then -= 2h then += h")
def _ng_nditer(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    it = np.nditer(x, flags=["multi_index"])
    while not it.finished:
        i = it.multi_index
        x[i] += h
        plus = f(x)
        x[i] -= 2 * h
        minus = f(x)
        x[i] += h
        grad[i] = (plus - minus) / (2 * h)
        it.iternext()
    return grad


@right("numerical_gradient", "a copy of x, perturbed in place")
def _ng_copy_in_place(f, x, h=1e-5):
    work = x.copy()
    flat, grad = work.reshape(-1), np.zeros(x.size)
    for i in range(flat.size):
        keep = flat[i]
        flat[i] = keep + h
        plus = f(work)
        flat[i] = keep - h
        minus = f(work)
        flat[i] = keep
        grad[i] = (plus - minus) / (2 * h)
    return grad.reshape(x.shape)


# -- l2_penalty

@right("l2_penalty", "sum of squares")
def _pen_sum(weights, lambd, m):
    return lambd / (2 * m) * sum(np.sum(W ** 2) for W in weights)


@right("l2_penalty", "Frobenius norm squared")
def _pen_norm(weights, lambd, m):
    return float(lambd * sum(np.linalg.norm(W) ** 2 for W in weights) / (2 * m))


@right("l2_penalty", "einsum")
def _pen_einsum(weights, lambd, m):
    return (lambd / m) * 0.5 * sum(np.einsum("ij,ij->", W, W) for W in weights)


@right("l2_penalty", "a Python loop over entries")
def _pen_loop(weights, lambd, m):
    total = 0.0
    for W in weights:
        for value in W.reshape(-1):
            total += float(value) * float(value)
    return lambd * total / (2 * m)


@right("l2_penalty", "flattened dot products")
def _pen_dot(weights, lambd, m):
    return lambd / (2 * m) * np.sum([W.ravel() @ W.ravel() for W in weights])


# -- l2_grad

@right("l2_grad", "(lambd / m) * W")
def _grad_plain(W, lambd, m):
    return (lambd / m) * W


@right("l2_grad", "lambd * W / m")
def _grad_other_order(W, lambd, m):
    return lambd * W / m


@right("l2_grad", "a loop into an empty array")
def _grad_loop(W, lambd, m):
    out = np.empty_like(W)
    for i in np.ndindex(W.shape):
        out[i] = lambd * W[i] / m
    return out


@right("l2_grad", "scaling a copy in place")
def _grad_copy(W, lambd, m):
    out = W.copy()
    out *= lambd / m
    return out


# -- dense_backward_l2

@right("dense_backward_l2", "matrix products")
def _dense_matmul(dout, x, W, b, lambd, m):
    return dout @ W.T, x.T @ dout + (lambd / m) * W, dout.sum(axis=0)


@right("dense_backward_l2", "einsum")
def _dense_einsum(dout, x, W, b, lambd, m):
    return (np.einsum("nk,jk->nj", dout, W), np.einsum("nj,nk->jk", x, dout) + lambd * W / m,
            np.einsum("nk->k", dout))


@right("dense_backward_l2", "a loop over samples")
def _dense_loop(dout, x, W, b, lambd, m):
    dx, dW, db = np.zeros_like(x), np.zeros_like(W), np.zeros_like(b)
    for n in range(x.shape[0]):
        dx[n] = W @ dout[n]
        dW += np.outer(x[n], dout[n])
        db += dout[n]
    return dx, dW + lambd / m * W, db


@right("dense_backward_l2", "np.dot and a row of ones")
def _dense_dot(dout, x, W, b, lambd, m):
    return np.dot(dout, W.T), np.dot(x.T, dout) + np.multiply(W, lambd / m), np.ones(len(dout)) @ dout


# -- early_stopping_step: the textbook and Keras forms, all accepted


def _step(improves):
    def step(best, wait, current, *, min_delta, patience, mode):
        wait += 1
        if improves(best, current, min_delta, mode):
            return current, 0, True, False
        return best, wait, False, wait >= patience
    return step


RIGHT["early_stopping_step"] = {
    "current < best - min_delta (textbook)": _step(
        lambda b, c, d, mode: c < b - d if mode == "min" else c > b + d),
    "best - current > min_delta": _step(lambda b, c, d, mode: (b - c if mode == "min" else c - b) > d),
    "current + min_delta < best (Keras)": _step(
        lambda b, c, d, mode: c + d < b if mode == "min" else c - d > b),
    "a sign trick": _step(lambda b, c, d, mode: (1 if mode == "min" else -1) * (b - c) > d),
    "negated values in max mode": _step(
        lambda b, c, d, mode: (c if mode == "min" else -c) < (b if mode == "min" else -b) - d),
    "np.less / np.greater (NumPy booleans)": _step(
        lambda b, c, d, mode: np.less(c, b - d) if mode == "min" else np.greater(c, b + d)),
    "rounding-aware, math.isclose": _step(
        lambda b, c, d, mode: (b - c if mode == "min" else c - b) > d
        and not math.isclose((b - c if mode == "min" else c - b), d)),
    "exact fractions": _step(
        lambda b, c, d, mode: (Fraction(b) - Fraction(c) if mode == "min" else Fraction(c) - Fraction(b))
        > Fraction(d) if math.isfinite(b) and math.isfinite(c) else (c < b - d if mode == "min" else c > b + d)),
}


# -- save_best_weights / restore_best_weights

@right("save_best_weights", "a tuple of copies")
def _save_tuple(params, best_weights, *, improved):
    if improved or best_weights is None:
        return tuple(p.copy() for p in params)
    return best_weights


@right("save_best_weights", "copy.deepcopy, as a list")
def _save_deepcopy(params, best_weights, *, improved):
    return [*copy.deepcopy(params)] if (improved or best_weights is None) else best_weights


@right("save_best_weights", "np.array(p) in a loop")
def _save_loop(params, best_weights, *, improved):
    if best_weights is not None and not improved:
        return best_weights
    saved = []
    for p in params:
        saved.append(np.array(p))
    return tuple(saved)


@right("restore_best_weights", "live[...] = saved")
def _restore_ellipsis(params, best_weights, *, stopped_early):
    if best_weights is not None:
        for live, saved in zip(params, best_weights):
            live[...] = saved
    return params


@right("restore_best_weights", "np.copyto by index")
def _restore_copyto(params, best_weights, *, stopped_early):
    if best_weights is None:
        return params
    for i in range(len(params)):
        np.copyto(params[i], best_weights[i])
    return params


@right("restore_best_weights", "live[:] = saved")
def _restore_slice(params, best_weights, *, stopped_early):
    for live, saved in zip(params, best_weights or ()):
        live[:] = saved
    return params


# -- dropout_forward

@right("dropout_forward", "rng.random < keep_prob, mask in x's dtype")
def _drop_random(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    keep_prob = 1 - drop_prob
    if keep_prob == 0:
        return np.zeros_like(x), np.zeros_like(x)
    mask = (rng.random(x.shape) < keep_prob).astype(x.dtype) / keep_prob
    return x * mask, mask


@right("dropout_forward", "rng.binomial")
def _drop_binomial(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    keep_prob = 1.0 - drop_prob
    keep = rng.binomial(1, keep_prob, size=x.shape)
    mask = np.zeros_like(x) if keep_prob == 0 else (keep / keep_prob).astype(x.dtype)
    return x * mask, mask


@right("dropout_forward", "rng.uniform >= drop_prob, np.where")
def _drop_uniform(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    keep = rng.uniform(0.0, 1.0, size=x.shape) >= drop_prob
    scale = 0.0 if drop_prob == 1 else 1.0 / (1.0 - drop_prob)
    mask = np.where(keep, scale, 0.0).astype(x.dtype)
    return np.where(keep, x * x.dtype.type(scale), 0).astype(x.dtype), mask


@right("dropout_forward", "flat draws reshaped, float32 scale")
def _drop_flat(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    keep_prob = x.dtype.type(1 - drop_prob)
    draws = rng.random(x.size).reshape(x.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        mask = np.where(draws < keep_prob, 1 / keep_prob, 0).astype(x.dtype)
    out = x.copy()
    out *= mask
    return out, mask


# -- dropout_backward

@right("dropout_backward", "dout * mask")
def _dback_plain(dout, mask):
    return dout if mask is None else dout * mask


@right("dropout_backward", "np.multiply, into a copy")
def _dback_copy(dout, mask):
    if mask is None:
        return dout.copy()
    dx = dout.copy()
    np.multiply(dx, mask, out=dx)
    return dx


@right("dropout_backward", "np.where on the kept entries")
def _dback_where(dout, mask):
    if mask is None:
        return dout
    return np.where(mask != 0, dout * mask, 0).astype(dout.dtype)


# -- spatial dropout

@right("spatial_dropout_forward", "a (N, C, 1, 1) mask")
def _sdrop_plain(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    keep_prob = 1 - drop_prob
    n, c = x.shape[:2]
    if keep_prob == 0:
        mask = np.zeros((n, c, 1, 1), dtype=x.dtype)
    else:
        mask = (rng.random((n, c, 1, 1)) < keep_prob).astype(x.dtype) / x.dtype.type(keep_prob)
    return x * mask, mask


@right("spatial_dropout_forward", "binomial draws of shape (N, C), reshaped")
def _sdrop_binomial(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    keep_prob = 1.0 - drop_prob
    keep = rng.binomial(1, keep_prob, size=x.shape[:2])[:, :, None, None]
    mask = (keep / keep_prob if keep_prob > 0 else keep * 0.0).astype(x.dtype)
    return x * mask, mask


@right("spatial_dropout_backward", "dout * mask, broadcast")
def _sback_plain(dout, mask):
    return dout if mask is None else dout * mask


@right("spatial_dropout_backward", "np.broadcast_to and a copy")
def _sback_broadcast(dout, mask):
    if mask is None:
        return dout
    return dout * np.broadcast_to(mask, dout.shape).copy()


# -- batch norm


@right("batchnorm_forward", "vectorized, x.var")
def _bn_vectorized(x, gamma, beta, *, eps=1e-5):
    mean = x.mean(axis=0)
    xc = x - mean
    var = x.var(axis=0)
    inv_std = 1 / np.sqrt(var + eps)
    x_hat = xc * inv_std
    return gamma * x_hat + beta, (mean, var, xc, inv_std, x_hat, gamma)


@right("batchnorm_forward", "a loop over features")
def _bn_loop(x, gamma, beta, *, eps=1e-5):
    n, d = x.shape
    mean, var, inv_std = np.zeros(d, x.dtype), np.zeros(d, x.dtype), np.zeros(d, x.dtype)
    xc, x_hat, out = np.zeros_like(x), np.zeros_like(x), np.zeros_like(x)
    for j in range(d):
        column = x[:, j]
        mean[j] = np.sum(column) / n
        xc[:, j] = column - mean[j]
        var[j] = np.sum(xc[:, j] ** 2) / n
        inv_std[j] = 1.0 / math.sqrt(float(var[j]) + eps)
        x_hat[:, j] = xc[:, j] * inv_std[j]
        out[:, j] = gamma[j] * x_hat[:, j] + beta[j]
    return out, (mean, var, xc, inv_std, x_hat, gamma)


@right("batchnorm_forward", "einsum sums, divide by the std")
def _bn_einsum(x, gamma, beta, *, eps=1e-5):
    n = x.shape[0]
    mean = np.einsum("nd->d", x) / n
    xc = x - mean
    var = np.einsum("nd,nd->d", xc, xc) / n
    std = np.sqrt(var + eps)
    x_hat = xc / std
    return x_hat * gamma + beta, (mean, var, xc, 1 / std, x_hat, gamma)


@right("batchnorm_forward", "float64 statistics, results in x's dtype")
def _bn_float64(x, gamma, beta, *, eps=1e-5):
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=0)
    var = ((x64 - mean) ** 2).mean(axis=0)
    mean, var = mean.astype(x.dtype), var.astype(x.dtype)
    xc = x - mean
    inv_std = (1 / np.sqrt(var + eps)).astype(x.dtype)
    x_hat = xc * inv_std
    return (gamma * x_hat + beta).astype(x.dtype), (mean, var, xc, inv_std, x_hat, gamma)


@right("update_running_stats", "the formula")
def _run_plain(running_mean, running_var, batch_mean, batch_var, *, count, momentum=0.1):
    return ((1 - momentum) * running_mean + momentum * batch_mean,
            (1 - momentum) * running_var + momentum * batch_var * count / (count - 1))


@right("update_running_stats", "an exponential moving average written as a step")
def _run_step(running_mean, running_var, batch_mean, batch_var, *, count, momentum=0.1):
    unbiased = batch_var * (count / (count - 1))
    return running_mean + momentum * (batch_mean - running_mean), running_var + momentum * (unbiased - running_var)


def _bn_layer(forward):
    def layer(x, gamma, beta, running_mean, running_var, *, training, momentum=0.1, eps=1e-5):
        if not training:
            return (gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta, running_mean.copy(),
                    running_var.copy())
        out, (mean, var, *_) = forward(x, gamma, beta, eps=eps)
        n = x.shape[0]
        return (out, (1 - momentum) * running_mean + momentum * mean,
                (1 - momentum) * running_var + momentum * var * n / (n - 1))
    return layer


RIGHT["batchnorm_layer_forward"] = {"vectorized": _bn_layer(_bn_vectorized), "a loop over features": _bn_layer(_bn_loop),
                                    "float64 statistics": _bn_layer(_bn_float64)}


def _bn_backward_compact(dout, cache):
    mean, var, xc, inv_std, x_hat, gamma = cache
    n = dout.shape[0]
    dx_hat = dout * gamma
    dx = (inv_std / n) * (n * dx_hat - dx_hat.sum(axis=0) - x_hat * np.sum(dx_hat * x_hat, axis=0))
    return dx, np.sum(dout * x_hat, axis=0), dout.sum(axis=0)


def _bn_backward_graph_loops(dout, cache):
    mean, var, xc, inv_std, x_hat, gamma = cache
    n, d = dout.shape
    dx, dgamma, dbeta = np.zeros_like(dout), np.zeros(d), np.zeros(d)
    for j in range(d):
        dbeta[j] = dout[:, j].sum()
        dgamma[j] = (dout[:, j] * x_hat[:, j]).sum()
        dx_hat = dout[:, j] * gamma[j]
        dvar = np.sum(dx_hat * xc[:, j]) * -0.5 * inv_std[j] ** 3
        dmean = -np.sum(dx_hat) * inv_std[j] + dvar * np.mean(-2.0 * xc[:, j])
        dx[:, j] = dx_hat * inv_std[j] + dvar * 2.0 * xc[:, j] / n + dmean / n
    return dx, dgamma, dbeta


def _bn_backward_einsum(dout, cache):
    mean, var, xc, inv_std, x_hat, gamma = cache
    n = dout.shape[0]
    dx_hat = np.einsum("nd,d->nd", dout, gamma)
    sums = np.einsum("nd->d", dx_hat)
    dots = np.einsum("nd,nd->d", dx_hat, x_hat)
    return (inv_std / n * (n * dx_hat - sums - x_hat * dots), np.einsum("nd,nd->d", dout, x_hat),
            np.einsum("nd->d", dout))


RIGHT["batchnorm_backward"] = {"compact": _bn_backward_compact, "per-feature graph, loops": _bn_backward_graph_loops,
                               "einsum": _bn_backward_einsum}
RIGHT["batchnorm_backward_graph"] = dict(RIGHT["batchnorm_backward"])

RIGHT_ANSWERS = [(name, style, fn) for name, styles in sorted(RIGHT.items()) for style, fn in styles.items()]


def _lesson(name: str) -> str:
    return get_exercise(name).run_checks.__module__.rsplit(".", 1)[-1].split("_")[0]


def test_every_exercise_has_right_answers_in_several_styles():
    # lessons 00-05 here; later lessons simulate their learners in their own test files
    assert sorted(RIGHT) == [n for n in exercise_names() if _lesson(n) <= "lesson05"]
    assert all(len(styles) >= 2 for styles in RIGHT.values())


@pytest.mark.parametrize("name, style, fn", RIGHT_ANSWERS, ids=[f"{n}: {s}" for n, s, _ in RIGHT_ANSWERS])
def test_every_right_answer_passes(name, style, fn):
    result = run_check(name, fn)
    assert result.status == "passed", result.message
    assert result.implementation is fn


# ----------------------------------------------------------------------------- catalogued mistakes

CATALOGUED = [(name, key) for name in exercise_names() for key in all_mistakes(name)]


@pytest.mark.parametrize("name, key", CATALOGUED, ids=[f"{n}/{k}" for n, k in CATALOGUED])
def test_every_catalogued_mistake_fails_with_its_own_hint(name, key):
    mistakes = all_mistakes(name)
    result = run_check(name, mistakes[key].implementation)
    assert result.status == "failed" and result.mistake_key == key, result.message
    assert mistakes[key].hint in result.message
    others = [m.hint for k, m in mistakes.items() if k != key and m.hint != mistakes[key].hint]
    assert not [h for h in others if h in result.message], result.message


# ----------------------------------------------------------------------------- wrong answers outside the catalogue

WRONG: list[tuple[str, str, object, tuple[str, ...]]] = []  # (exercise, what, fn, phrases the verdict must show)


def wrong(exercise: str, what: str, *phrases: str):
    def register(fn):
        WRONG.append((exercise, what, fn, phrases))
        return fn
    return register


def _nan_like(value):
    return np.full_like(value, np.nan, dtype=np.float64 if value.dtype.kind != "f" else value.dtype)


@wrong("bce_with_logits", "NaN everywhere", "`loss` holds NaN", "loss is NaN")
def _w_bce_nan(logits, targets):
    return float("nan"), _nan_like(logits)


@wrong("bce_with_logits", "a loss of shape (1,)", "should be one number, got an array of shape (1,) holding the right "
       "value", "must be one number")
def _w_bce_array_loss(logits, targets):
    loss, grad = _bce_stable(logits, targets)
    return np.array([loss]), grad


@wrong("bce_with_logits", "the loss doubled", "loss has the wrong value")
def _w_bce_doubled(logits, targets):
    loss, grad = _bce_stable(logits, targets)
    return 2 * loss, grad


@wrong("bce_with_logits", "loss and gradient swapped", "swapped")
def _w_bce_swapped(logits, targets):
    loss, grad = _bce_stable(logits, targets)
    return grad, loss


@wrong("bce_with_logits", "no return statement", "is None", "`return`")
def _w_bce_none(logits, targets):
    _bce_stable(logits, targets)


@wrong("numerical_gradient", "an array that was never filled in", "NaN")
def _w_ng_empty(f, x, h=1e-5):
    return np.full(x.shape, np.nan)


@wrong("numerical_gradient", "divides by h squared", "has the wrong values")
def _w_ng_h_squared(f, x, h=1e-5):
    return _ng_in_place(f, x, h) * (2 * h) / h ** 2


@wrong("l2_penalty", "a quarter of the penalty", "has the wrong value")
def _w_pen_quarter(weights, lambd, m):
    return _pen_sum(weights, lambd, m) / 4


@wrong("l2_penalty", "the penalty as an array", "should be one number", "must be one number")
def _w_pen_array(weights, lambd, m):
    return np.array([_pen_sum(weights, lambd, m)])


@wrong("l2_grad", "transposed", "has shape", "check the axis")
def _w_grad_transposed(W, lambd, m):
    return lambd / m * W.T


@wrong("l2_grad", "float64 for float32 weights", "dtype float64, expected float32")
def _w_grad_float64(W, lambd, m):
    return np.float64(lambd / m) * W.astype(np.float64)


@wrong("dense_backward_l2", "db summed over the wrong axis", "has shape")
def _w_dense_db_axis(dout, x, W, b, lambd, m):
    dx, dW, _ = _dense_matmul(dout, x, W, b, lambd, m)
    return dx, dW, dout.sum(axis=1)


@wrong("dense_backward_l2", "every gradient doubled", "has the wrong values")
def _w_dense_doubled(dout, x, W, b, lambd, m):
    return tuple(2 * g for g in _dense_matmul(dout, x, W, b, lambd, m))


@wrong("early_stopping_step", "wait never counts up", "wait")
def _w_step_no_count(best, wait, current, *, min_delta, patience, mode):
    better = current < best - min_delta if mode == "min" else current > best + min_delta
    return (current, 0, True, False) if better else (best, wait, False, wait >= patience)


@wrong("early_stopping_step", "improved as a string", "improved is 'yes'")
def _w_step_string(best, wait, current, *, min_delta, patience, mode):
    best, wait, improved, stop = RIGHT["early_stopping_step"]["current < best - min_delta (textbook)"](
        best, wait, current, min_delta=min_delta, patience=patience, mode=mode)
    return best, wait, "yes" if improved else "no", stop


@wrong("dropout_forward", "NaN everywhere", "NaN in every entry")
def _w_drop_nan(x, drop_prob, *, rng, training):
    out, mask = _drop_random(x, drop_prob, rng=rng, training=training)
    return (_nan_like(x), mask) if training else (out, mask)


@wrong("dropout_forward", "an unscaled mask returned with a scaled output", "out is not x * mask")
def _w_drop_mask_unscaled(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    keep = (rng.random(x.shape) < 1 - drop_prob).astype(x.dtype)
    return x * keep / x.dtype.type(1 - drop_prob) if drop_prob < 1 else x * 0, keep


@wrong("dropout_forward", "keep_prob and drop_prob swapped throughout", "swapped throughout",
       "kept a fraction drop_prob of the entries AND divided them by drop_prob")
def _w_drop_swapped(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    keep_prob = drop_prob
    mask = np.zeros_like(x) if keep_prob == 0 else (rng.random(x.shape) < keep_prob).astype(x.dtype) / keep_prob
    return x * mask, mask


@wrong("dropout_forward", "the global NumPy generator", "Draw only from the rng argument")
def _w_drop_global(x, drop_prob, *, rng, training):
    return _drop_random(x, drop_prob, rng=np.random.default_rng(), training=training)


@wrong("dropout_backward", "NaN everywhere", "NaN in every entry")
def _w_dback_nan(dout, mask):
    return _nan_like(dout)


@wrong("dropout_backward", "twice the gradient", "dx should be dout * mask")
def _w_dback_double(dout, mask):
    return dout if mask is None else 2 * dout * mask


@wrong("spatial_dropout_forward", "NaN everywhere", "NaN or inf in every entry")
def _w_sdrop_nan(x, drop_prob, *, rng, training):
    out, mask = _sdrop_plain(x, drop_prob, rng=rng, training=training)
    return (_nan_like(x), mask) if training else (out, mask)


@wrong("spatial_dropout_backward", "NaN everywhere", "NaN", "in every entry")
def _w_sback_nan(dout, mask):
    return _nan_like(dout)


@wrong("batchnorm_forward", "NaN everywhere", "NaN")
def _w_bn_nan(x, gamma, beta, *, eps=1e-5):
    out, cache = _bn_vectorized(x, gamma, beta, eps=eps)
    return _nan_like(out), tuple(_nan_like(np.asarray(c)) for c in cache)


@wrong("batchnorm_forward", "the cache as a dict", "cache should be a tuple of 6 values")
def _w_bn_dict(x, gamma, beta, *, eps=1e-5):
    out, (mean, var, xc, inv_std, x_hat, gamma) = _bn_vectorized(x, gamma, beta, eps=eps)
    return out, {"mean": mean, "var": var}


@wrong("batchnorm_backward", "only dx", "should be a tuple of 3 values")
def _w_bnb_dx_only(dout, cache):
    return _bn_backward_compact(dout, cache)[0]


@wrong("batchnorm_backward", "NaN everywhere", "NaN")
def _w_bnb_nan(dout, cache):
    return tuple(_nan_like(g) for g in _bn_backward_compact(dout, cache))


@wrong("update_running_stats", "mean and variance swapped", "swapped")
def _w_run_swapped(running_mean, running_var, batch_mean, batch_var, *, count, momentum=0.1):
    new_mean, new_var = _run_plain(running_mean, running_var, batch_mean, batch_var, count=count, momentum=momentum)
    return new_var, new_mean


WRONG_IDS = [f"{name}: {what}" for name, what, _, _ in WRONG]


@pytest.mark.parametrize("name, what, fn, phrases", WRONG, ids=WRONG_IDS)
def test_a_wrong_answer_outside_the_catalogue_gets_a_hint_about_what_it_did(name, what, fn, phrases):
    result = run_check(name, fn)
    assert result.status == "failed", result.message
    assert result.mistake_key is None, f"diagnosed as {result.mistake_key!r}, a mistake it did not make:\n" \
                                       f"{result.message}"
    named = [key for key, m in all_mistakes(name).items() if m.hint in result.message]
    assert not named, f"the verdict gives the hint of {named}, mistakes it did not make:\n{result.message}"
    for phrase in phrases:
        assert phrase in result.message, f"{phrase!r} missing from:\n{result.message}"


def test_a_uncatalogued_answer_that_reproduces_a_mistake_on_one_case_is_not_blamed_for_it():
    """2x the mean loss equals the *summed* loss on a batch of 2, yet 'sum instead of mean' is not this
    learner's mistake: on the batches of other sizes it passed (here: none), the sum would fail."""
    def doubled_loss_then_right(logits, targets):
        loss, grad = _bce_stable(logits, targets)
        return (2 * loss if logits.size == 2 else loss), grad

    result = run_check("bce_with_logits", doubled_loss_then_right)
    assert result.status == "failed"
    assert result.mistake_key is None, result.message
    assert get_exercise("bce_with_logits").mistakes["sum_instead_of_mean"].hint not in result.message
