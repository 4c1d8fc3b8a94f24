"""Every registered exercise checker accepts its reference and independent correct answers, rejects each
catalogued mistake with that mistake's own hint, and rejects every answer that would break the notebook after
it (in-place changes of an input, fragile formulas, partial answers, slow answers) with a hint that names the
actual mistake; whatever a learner's code does, a check never raises."""
import copy
import inspect
import math
import signal
import sys
import time

import numpy as np
import pytest

from coursekit import exercises
from coursekit.batchnorm import batchnorm_forward
from coursekit.exercises import all_mistakes, get_exercise, reference, run_check

NAMES = exercises.exercise_names()
MISTAKES = [(name, key) for name in NAMES for key in all_mistakes(name)]

# The array arguments of each exercise (written out here, not read from the checkers): each must have a
# catalogued in-place mistake, unless the exercise is meant to write into it.
ARRAY_INPUTS = {
    "bce_with_logits": {"logits", "targets"},
    "numerical_gradient": {"x"},
    "l2_penalty": {"weights"},
    "l2_grad": {"W"},
    "dense_backward_l2": {"dout", "x", "W", "b"},
    "dropout_forward": {"x"},
    "dropout_backward": {"dout", "mask"},
    "spatial_dropout_forward": {"x"},
    "spatial_dropout_backward": {"dout", "mask"},
    "early_stopping_step": set(),
    "save_best_weights": {"params", "best_weights"},
    "restore_best_weights": {"params", "best_weights"},
    "batchnorm_forward": {"x", "gamma", "beta"},
    "update_running_stats": {"running_mean", "running_var", "batch_mean", "batch_var"},
    "batchnorm_layer_forward": {"x", "gamma", "beta", "running_mean", "running_var"},
    "batchnorm_backward_graph": {"dout", "cache"},
    "batchnorm_backward": {"dout", "cache"},
    # lesson 06: dy, dx (translate) and y (random_flip) are arrays too, but have no catalogued in-place mistake yet
    "translate": {"x"},
    "random_flip": {"x"},
}
# Lessons 07 and later test their checkers in their own files (e.g. tests/test_exercises_lesson07.py).
TABLE_LESSONS = ("lesson00", "lesson01", "lesson02", "lesson03", "lesson04", "lesson05", "lesson06")


def _lesson(name: str) -> str:
    """The lesson module that registered exercise ``name`` (e.g. "lesson02")."""
    return get_exercise(name).run_checks.__module__.rsplit(".", 1)[-1].split("_")[0]
# Written into on purpose: restoring in place is the exercise; a new snapshot may reuse the old arrays.
MEANT_TO_CHANGE = {("restore_best_weights", "params"), ("save_best_weights", "best_weights")}
PREFIXES = ("PASSED ✅ ", "NOT ATTEMPTED ⏳ ", "FAILED ❌ ")


def test_every_lesson_registers_exercises():
    assert "bce_with_logits" in NAMES and "numerical_gradient" in NAMES
    assert set(ARRAY_INPUTS) == {n for n in NAMES if _lesson(n) in TABLE_LESSONS}, \
        "the table above must list every exercise of lessons 00-06"
    for name in NAMES:
        assert get_exercise(name).mistakes, f"exercise {name!r} has no catalogue of typical mistakes"


@pytest.mark.parametrize("name", NAMES)
def test_reference_passes(name):
    ex = get_exercise(name)
    result = run_check(name, ex.reference)
    assert result.status == "passed", result.message
    assert result.implementation is ex.reference
    assert result.message.startswith(f"PASSED ✅ {name}: ")


@pytest.mark.parametrize("name,key", MISTAKES)
def test_each_catalogued_mistake_fails_with_its_own_hint(name, key):
    ex = get_exercise(name)
    known = all_mistakes(name)[key]
    result = run_check(name, known.implementation)
    assert result.status == "failed", f"{name}: the mistake {key!r} was accepted:\n{result.message}"
    assert result.message.startswith(f"FAILED ❌ {name}: ")
    assert result.mistake_key == key, f"{name}: mistake {key!r} diagnosed as {result.mistake_key!r}:\n{result.message}"
    assert known.hint in result.message
    assert result.implementation is ex.reference, "after a failed check the reference must be used"


def test_hints_are_distinct_within_each_exercise():
    for name in NAMES:
        hints = [m.hint for m in all_mistakes(name).values()]
        assert len(set(hints)) == len(hints), f"{name}: two catalogued mistakes share a hint"


# ----------------------------------------------------------------------------- answers that change their input


@pytest.mark.parametrize("name", sorted(ARRAY_INPUTS))  # lessons 07+: tests/test_exercises_lesson07.py
def test_every_array_input_has_a_catalogued_in_place_mistake(name):
    modified = {m.modifies for m in get_exercise(name).input_mistakes.values()}
    assert modified == {arg for arg in ARRAY_INPUTS[name] if (name, arg) not in MEANT_TO_CHANGE}


def _arrays_in(value):
    if isinstance(value, np.ndarray):
        return [value]
    if isinstance(value, (list, tuple)):
        return [a for item in value for a in _arrays_in(item)]
    return []


def _nudging(name, arg, how):
    """The reference, followed by a small in-place change of ``arg`` (not the catalogue's way of changing it)."""
    ref = reference(name)
    signature = inspect.signature(ref)

    def answer(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        original = bound.arguments[arg]
        bound.arguments[arg] = copy.deepcopy(original)
        result = ref(*bound.args, **bound.kwargs)
        for array in _arrays_in(original)[-1:]:  # only the last array, only one entry
            flat = array.reshape(-1)
            if how == "one entry":
                flat[-1] = (not flat[-1] if array.dtype == bool else
                            flat[-1] + (1 if array.dtype.kind in "iu" else 0.5))
            else:  # "sign flip": negate everything, e.g. np.negative(a, out=a)
                np.negative(array, out=array)
        return result

    return answer


IN_PLACE = [(name, arg, how) for name in NAMES if name in ARRAY_INPUTS for arg in sorted(ARRAY_INPUTS[name])
            if (name, arg) not in MEANT_TO_CHANGE for how in ("one entry", "sign flip")]


@pytest.mark.parametrize("name,arg,how", IN_PLACE)
def test_any_change_of_an_input_fails_and_says_why_the_caller_needs_it(name, arg, how):
    result = run_check(name, _nudging(name, arg, how))
    assert result.status == "failed", result.message
    assert "in place" in result.message and f"`{arg}" in result.message, result.message
    assert "caller" in result.message.split("hint:")[1], "the hint must say why the caller still needs its input"
    catalogued = [m for m in get_exercise(name).input_mistakes.values() if m.modifies == arg]
    if catalogued:
        assert result.mistake_key == catalogued[0].key and catalogued[0].hint in result.message


def test_the_issue_s_in_place_examples_fail():
    def l2_grad(W, lambd, m):
        W *= lambd / m
        return W

    def dropout_forward(x, drop_prob, *, rng, training):
        if not training:
            return x, None
        mask = (rng.random(x.shape) < 1 - drop_prob).astype(x.dtype) / (1 - drop_prob) if drop_prob < 1 \
            else np.zeros_like(x)
        x *= mask
        return x, mask

    def spatial_dropout_backward(dout, mask):
        if mask is None:
            return dout
        dout *= mask
        return dout

    for name, fn, key in [("l2_grad", l2_grad, "modifies_W"), ("dropout_forward", dropout_forward, "modifies_x"),
                          ("spatial_dropout_backward", spatial_dropout_backward, "modifies_dout")]:
        result = run_check(name, fn)
        assert result.status == "failed" and result.mistake_key == key, result.message


def test_updating_running_statistics_in_place_fails_but_returning_them_unchanged_in_eval_passes():
    def update_running_stats(running_mean, running_var, batch_mean, batch_var, *, count, momentum=0.1):
        running_mean[:] = (1 - momentum) * running_mean + momentum * batch_mean
        running_var[:] = (1 - momentum) * running_var + momentum * batch_var * count / (count - 1)
        return running_mean, running_var

    result = run_check("update_running_stats", update_running_stats)
    assert result.status == "failed" and result.mistake_key == "modifies_running_mean", result.message

    def layer(x, gamma, beta, running_mean, running_var, *, training, momentum=0.1, eps=1e-5):
        if training:
            out, cache = batchnorm_forward(x, gamma, beta, eps=eps)
            m = len(x)
            return (out, (1 - momentum) * running_mean + momentum * cache.mean,
                    (1 - momentum) * running_var + momentum * cache.var * m / (m - 1))
        return gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta, running_mean, running_var  # no copy

    assert run_check("batchnorm_layer_forward", layer).passed


def test_numerical_gradient_accepts_in_place_perturbation_and_copies_and_rejects_a_changed_x():
    def in_place(f, x, h=1e-5):
        grad = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            old = x[i]
            x[i] = old + h
            plus = f(x)
            x[i] = old - h
            minus = f(x)
            x[i] = old
            grad[i] = (plus - minus) / (2 * h)
        return grad

    def add_and_subtract(f, x, h=1e-5):  # restores x only up to rounding: accepted
        grad = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            x[i] += h
            plus = f(x)
            x[i] -= 2 * h
            minus = f(x)
            x[i] += h
            grad[i] = (plus - minus) / (2 * h)
        return grad

    def copies(f, x, h=1e-5):
        grad = np.empty(x.shape)
        flat = grad.reshape(-1)
        for k in range(x.size):
            step = np.zeros(x.size)
            step[k] = h
            step = step.reshape(x.shape)
            flat[k] = (f(x + step) - f(x - step)) / (2 * h)
        return grad

    def nditer(f, x, h=1e-5):
        grad = np.zeros_like(x)
        it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
        while not it.finished:
            i = it.multi_index
            old = x[i].copy()
            x[i] = old + h
            plus = f(x)
            x[i] = old - h
            minus = f(x)
            x[i] = old
            grad[i] = (plus - minus) / (2 * h)
            it.iternext()
        return grad

    for fn in (in_place, add_and_subtract, copies, nditer):
        assert run_check("numerical_gradient", fn).passed, fn.__name__

    def leaves_x_at_minus_h(f, x, h=1e-5):
        grad = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            old = x[i]
            x[i] = old + h
            plus = f(x)
            x[i] = old - h
            grad[i] = (plus - f(x)) / (2 * h)  # forgot to put x[i] back
        return grad

    result = run_check("numerical_gradient", leaves_x_at_minus_h)
    assert result.status == "failed" and result.mistake_key == "x_not_restored", result.message


# ----------------------------------------------------------------------------- correct answers written differently


def _sigmoid(z):
    return np.where(z >= 0, 1 / (1 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z))))


def bce_logaddexp(logits, targets):
    return float(np.mean(np.logaddexp(0, logits) - logits * targets)), (_sigmoid(logits) - targets) / logits.size


def bce_split_on_sign(logits, targets):
    z, y = logits, targets
    per = np.where(z >= 0, z - z * y + np.log1p(np.exp(-z)), -z * y + np.log1p(np.exp(z)))
    return per.mean(), (_sigmoid(z) - y) / len(z)


def bce_log_sigmoid(logits, targets):
    def log_sigmoid(v):
        return -np.logaddexp(0, -v)
    loss = -np.mean(targets * log_sigmoid(logits) + (1 - targets) * log_sigmoid(-logits))
    return loss, (np.exp(log_sigmoid(logits)) - targets) / logits.size


def l2_penalty_norm(weights, lambd, m):
    return lambd / (2 * m) * sum(np.linalg.norm(W) ** 2 for W in weights)


def l2_penalty_vdot(weights, lambd, m):
    total = 0.0
    for W in weights:
        total += float(np.vdot(W, W))
    return total * lambd / m / 2


def l2_grad_multiply(W, lambd, m):
    return np.multiply(W, lambd / m)


def l2_grad_divide_last(W, lambd, m):
    return lambd * W / m


def dense_einsum(dout, x, W, b, lambd, m):
    return (np.einsum("nj,ij->ni", dout, W), np.einsum("ni,nj->ij", x, dout) + (lambd / m) * W,
            np.sum(dout, axis=0))


def _keep_safe(keep, keep_prob, dtype):
    return keep.astype(dtype) / dtype.type(keep_prob) if keep_prob > 0 else np.zeros(keep.shape, dtype)


def dropout_random_below(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    mask = _keep_safe(rng.random(x.shape) < 1 - drop_prob, 1 - drop_prob, x.dtype)
    return x * mask, mask


def dropout_random_at_least_drop(x, drop_prob, *, rng, training):
    if not training:
        return x.copy(), None
    mask = _keep_safe(rng.random(x.shape) >= drop_prob, 1 - drop_prob, x.dtype)
    return x * mask, mask


def dropout_binomial_cast(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    keep_prob = 1 - drop_prob
    if keep_prob == 0:
        return np.zeros_like(x), np.zeros_like(x)
    mask = rng.binomial(1, keep_prob, size=x.shape).astype(x.dtype) / keep_prob
    return x * mask, mask


def dropout_uniform(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    mask = _keep_safe(rng.uniform(0.0, 1.0, size=x.shape) < 1 - drop_prob, 1 - drop_prob, x.dtype)
    return mask * x, mask


def dropout_choice(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    keep = rng.choice([False, True], size=x.shape, p=[drop_prob, 1 - drop_prob])
    mask = _keep_safe(keep, 1 - drop_prob, x.dtype)
    return x * mask, mask


def dropout_backward_multiply(dout, mask):
    return dout.copy() if mask is None else np.multiply(dout, mask)


def spatial_binomial(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    n, c = x.shape[:2]
    keep_prob = 1 - drop_prob
    mask = (rng.binomial(1, keep_prob, size=(n, c, 1, 1)).astype(x.dtype) / keep_prob if keep_prob
            else np.zeros((n, c, 1, 1), x.dtype))
    return x * mask, mask


def spatial_uniform_reshape(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    keep = rng.uniform(size=x.shape[:2]) >= drop_prob
    mask = _keep_safe(keep, 1 - drop_prob, x.dtype)[:, :, None, None]
    return x * mask, mask


def spatial_backward_where(dout, mask):
    return dout if mask is None else np.where(mask != 0, dout * mask, 0.0).astype(dout.dtype)


def step_with_isclose(best, wait, current, *, min_delta, patience, mode):
    gain = best - current if mode == "min" else current - best
    wait += 1
    if gain > min_delta and not math.isclose(gain, min_delta):
        return current, 0, True, False
    return best, wait, False, wait >= patience


def step_with_eps_tolerance(best, wait, current, *, min_delta, patience, mode):
    sign = 1.0 if mode == "min" else -1.0
    gain = sign * (best - current)
    tol = 8 * np.finfo(float).eps * max(abs(best), abs(current), min_delta) if min_delta > 0 and \
        math.isfinite(best) and math.isfinite(current) else 0.0
    if gain - min_delta > tol:
        return current, 0, True, False
    return best, wait + 1, False, wait + 1 >= patience


def save_deepcopy(params, best_weights, *, improved):
    return copy.deepcopy(tuple(params)) if improved or best_weights is None else best_weights


def save_into_old_buffers(params, best_weights, *, improved):
    if best_weights is None:
        return tuple(p.copy() for p in params)
    if improved:
        for saved, live in zip(best_weights, params):
            saved[...] = live
    return best_weights


def restore_copyto(params, best_weights, *, stopped_early):
    if best_weights is not None:
        for live, saved in zip(params, best_weights):
            np.copyto(live, saved)
    return params


def bn_forward_np_var(x, gamma, beta, *, eps=1e-5):
    mean, var = np.mean(x, axis=0), np.var(x, axis=0)
    xc = x - mean
    inv_std = 1 / np.sqrt(var + eps)
    x_hat = xc * inv_std
    return gamma * x_hat + beta, (mean, var, xc, inv_std, x_hat, gamma)


def bn_forward_sums(x, gamma, beta, *, eps=1e-5):
    n = x.shape[0]
    mean = x.sum(axis=0) / n
    xc = x - mean
    var = (xc * xc).sum(axis=0) / n
    inv_std = (var + eps) ** -0.5
    x_hat = xc * inv_std
    return x_hat * gamma + beta, (mean, var, xc, inv_std, x_hat, gamma)


def bn_forward_std(x, gamma, beta, *, eps=1e-5):
    mean = x.mean(0)
    var = x.std(0) ** 2
    xc = x - mean
    inv_std = 1.0 / np.sqrt(var + eps)
    return gamma * (xc * inv_std) + beta, (mean, var, xc, inv_std, xc * inv_std, gamma)


def running_incremental(running_mean, running_var, batch_mean, batch_var, *, count, momentum=0.1):
    unbiased = batch_var * (count / (count - 1))
    return running_mean + momentum * (batch_mean - running_mean), running_var + momentum * (unbiased - running_var)


def layer_with_own_forward(x, gamma, beta, running_mean, running_var, *, training, momentum=0.1, eps=1e-5):
    if not training:
        return (x - running_mean) / np.sqrt(running_var + eps) * gamma + beta, running_mean.copy(), running_var.copy()
    out, (mean, var, *_) = bn_forward_np_var(x, gamma, beta, eps=eps)
    n = x.shape[0]
    return out, running_incremental(running_mean, running_var, mean, var, count=n, momentum=momentum)[0], \
        (1 - momentum) * running_var + momentum * var * n / (n - 1)


def bn_backward_einsum(dout, cache):
    mean, var, xc, inv_std, x_hat, gamma = cache
    n = dout.shape[0]
    g = dout * gamma
    dx = inv_std / n * (n * g - g.sum(0) - x_hat * np.einsum("nd,nd->d", g, x_hat))
    return dx, np.einsum("nd,nd->d", dout, x_hat), dout.sum(0)


def bn_backward_graph_style(dout, cache):
    mean, var, xc, inv_std, x_hat, gamma = cache
    n = len(dout)
    dx_hat = dout * gamma
    dvar = np.sum(dx_hat * xc, axis=0) * -0.5 * inv_std ** 3
    dmean = -np.sum(dx_hat * inv_std, axis=0) - 2.0 * dvar * np.mean(xc, axis=0)
    return dx_hat * inv_std + dvar * 2 * xc / n + dmean / n, np.sum(dout * x_hat, axis=0), np.sum(dout, axis=0)


CORRECT = [
    ("bce_with_logits", bce_logaddexp), ("bce_with_logits", bce_split_on_sign), ("bce_with_logits", bce_log_sigmoid),
    ("l2_penalty", l2_penalty_norm), ("l2_penalty", l2_penalty_vdot),
    ("l2_grad", l2_grad_multiply), ("l2_grad", l2_grad_divide_last),
    ("dense_backward_l2", dense_einsum),
    ("dropout_forward", dropout_random_below), ("dropout_forward", dropout_random_at_least_drop),
    ("dropout_forward", dropout_binomial_cast), ("dropout_forward", dropout_uniform),
    ("dropout_forward", dropout_choice),
    ("dropout_backward", dropout_backward_multiply),
    ("spatial_dropout_forward", spatial_binomial), ("spatial_dropout_forward", spatial_uniform_reshape),
    ("spatial_dropout_backward", spatial_backward_where),
    ("early_stopping_step", step_with_isclose), ("early_stopping_step", step_with_eps_tolerance),
    ("save_best_weights", save_deepcopy), ("save_best_weights", save_into_old_buffers),
    ("restore_best_weights", restore_copyto),
    ("batchnorm_forward", bn_forward_np_var), ("batchnorm_forward", bn_forward_sums),
    ("batchnorm_forward", bn_forward_std),
    ("update_running_stats", running_incremental),
    ("batchnorm_layer_forward", layer_with_own_forward),
    ("batchnorm_backward", bn_backward_einsum), ("batchnorm_backward", bn_backward_graph_style),
    ("batchnorm_backward_graph", bn_backward_graph_style),
]


@pytest.mark.parametrize("name,fn", CORRECT, ids=[f"{n}-{f.__name__}" for n, f in CORRECT])
def test_independent_correct_answers_pass(name, fn):
    result = run_check(name, fn)
    assert result.status == "passed", result.message
    assert result.implementation is fn


def test_every_exercise_has_an_independent_correct_answer_here_or_in_its_lesson_tests():
    covered = {name for name, _ in CORRECT} | {"numerical_gradient"}  # numerical_gradient: its own test above
    # lessons 00-05 here (and many more styles in tests/test_answer_styles.py); lesson 06 and later in their own
    # test files
    assert covered == {n for n in NAMES if _lesson(n) <= "lesson05"}


# ----------------------------------------------------------------------------- fragile formulas


def bn_one_pass_sums(x, gamma, beta, *, eps=1e-5):
    n = x.shape[0]
    mean = np.sum(x, axis=0) / n
    var = np.sum(x * x, axis=0) / n - mean * mean
    xc = x - mean
    inv_std = 1 / np.sqrt(var + eps)
    return gamma * xc * inv_std + beta, (mean, var, xc, inv_std, xc * inv_std, gamma)


def bn_one_pass_float64_sums(x, gamma, beta, *, eps=1e-5):
    mean = x.mean(0, dtype=np.float64)
    var = (np.mean(x.astype(np.float64) ** 2, axis=0) - mean ** 2).astype(x.dtype)
    mean = mean.astype(x.dtype)
    xc = x - mean
    inv_std = 1 / np.sqrt(var + eps)
    return gamma * xc * inv_std + beta, (mean, var, xc, inv_std, xc * inv_std, gamma)


def layer_one_pass(x, gamma, beta, running_mean, running_var, *, training, momentum=0.1, eps=1e-5):
    if not training:
        return reference("batchnorm_layer_forward")(x, gamma, beta, running_mean, running_var, training=False, eps=eps)
    mean = x.mean(axis=0)
    var = (x ** 2).mean(axis=0) - mean ** 2
    out = gamma * (x - mean) / np.sqrt(var + eps) + beta
    n = len(x)
    return out, (1 - momentum) * running_mean + momentum * mean, (1 - momentum) * running_var + momentum * var * n / (n - 1)


@pytest.mark.parametrize("name,fn", [("batchnorm_forward", bn_one_pass_sums),
                                     ("batchnorm_forward", bn_one_pass_float64_sums),
                                     ("batchnorm_layer_forward", layer_one_pass)],
                         ids=lambda v: getattr(v, "__name__", v))
def test_one_pass_variance_is_rejected_with_the_cancellation_hint(name, fn):
    result = run_check(name, fn)
    assert result.status == "failed" and result.mistake_key == "one_pass_variance", result.message
    assert "cancels catastrophically" in result.message


def bce_clipped_1e_12(logits, targets):
    s = np.clip(1 / (1 + np.exp(-logits)), 1e-12, 1 - 1e-12)
    return -np.mean(targets * np.log(s) + (1 - targets) * np.log(1 - s)), (s - targets) / logits.size


def bce_sigmoid_through_log1p(logits, targets):
    z = logits
    loss = np.mean(np.maximum(z, 0) - z * targets + np.log1p(np.exp(-np.abs(z))))
    s = np.exp(z - np.log1p(np.exp(z)))  # exp(1000 - inf) = 0 instead of 1
    return loss, (s - targets) / z.size


@pytest.mark.parametrize("fn, key", [(bce_clipped_1e_12, "clipped_probabilities"),
                                     (bce_sigmoid_through_log1p, None)],
                         ids=["clipped", "overflowing-sigmoid"])
def test_fragile_bce_variants_fail(fn, key):
    result = run_check("bce_with_logits", fn)
    assert result.status == "failed", result.message
    if key:
        assert result.mistake_key == key, result.message
    assert "1000" in result.message  # the case with huge logits is what exposes them


# ----------------------------------------------------------------------------- hints that name the actual mistake


def dropout_shared_row(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    mask = _keep_safe(rng.random((1,) + x.shape[1:]) < 1 - drop_prob, 1 - drop_prob, x.dtype)
    return x * mask, mask


def dropout_shared_row_broadcast(x, drop_prob, *, rng, training):
    out, mask = dropout_shared_row(x, drop_prob, rng=rng, training=training)
    return out, (None if mask is None else np.broadcast_to(mask, x.shape).copy())


def dropout_shared_row_tiled(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    row = _keep_safe(rng.random(x.shape[1:]) < 1 - drop_prob, 1 - drop_prob, x.dtype)
    mask = np.tile(row, (x.shape[0],) + (1,) * (x.ndim - 1))
    return x * mask, mask


@pytest.mark.parametrize("fn", [dropout_shared_row, dropout_shared_row_broadcast, dropout_shared_row_tiled],
                         ids=lambda f: f.__name__)
def test_a_batch_shared_dropout_mask_gets_its_own_hint(fn):
    result = run_check("dropout_forward", fn)
    assert result.status == "failed", result.message
    assert "Every sample in the batch got the same mask" in result.message, result.message
    assert "P(u < keep_prob)" not in result.message  # not the hint about the keep comparison


def dropout_binomial_float64(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    keep_prob = 1 - drop_prob
    mask = rng.binomial(1, keep_prob, size=x.shape) / keep_prob if keep_prob else np.zeros(x.shape)
    return x * mask, mask


def dropout_float64_mask_cast_output(x, drop_prob, *, rng, training):
    out, mask = dropout_binomial_float64(x, drop_prob, rng=rng, training=training)
    return out.astype(x.dtype), mask


def spatial_binomial_float64(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    keep_prob = 1 - drop_prob
    mask = rng.binomial(1, keep_prob, size=x.shape[:2] + (1, 1)) / keep_prob if keep_prob else \
        np.zeros(x.shape[:2] + (1, 1))
    return x * mask, mask


@pytest.mark.parametrize("name,fn", [("dropout_forward", dropout_binomial_float64),
                                     ("dropout_forward", dropout_float64_mask_cast_output),
                                     ("spatial_dropout_forward", spatial_binomial_float64)],
                         ids=lambda v: getattr(v, "__name__", v))
def test_a_float64_binomial_mask_gets_the_hint_to_cast(name, fn):
    result = run_check(name, fn)
    assert result.status == "failed", result.message
    assert "float32" in result.message and ".astype(x.dtype)" in result.message
    assert "cast the mask" in result.message.lower()


def backward_divides(dout, mask):
    return dout if mask is None else dout / mask


def backward_divides_where_kept(dout, mask):
    if mask is None:
        return dout
    return np.divide(dout, mask, out=np.zeros_like(dout), where=mask != 0)


@pytest.mark.parametrize("name", ["dropout_backward", "spatial_dropout_backward"])
@pytest.mark.parametrize("fn", [backward_divides, backward_divides_where_kept], ids=lambda f: f.__name__)
def test_dividing_by_the_mask_is_named(name, fn):
    with np.errstate(all="ignore"):
        result = run_check(name, fn)
    assert result.status == "failed" and result.mistake_key == "divides_by_mask", result.message
    assert "never a new draw" not in result.message


def bn_backward_swapped_own(dout, cache):
    mean, var, xc, inv_std, x_hat, gamma = cache
    n = dout.shape[0]
    g = dout * gamma
    dx = inv_std / n * (n * g - g.sum(axis=0) - x_hat * (g * x_hat).sum(axis=0))
    return dx, dout.sum(axis=0), (dout * x_hat).sum(axis=0)


@pytest.mark.parametrize("name", ["batchnorm_backward", "batchnorm_backward_graph"])
def test_swapped_dgamma_dbeta_is_named_not_the_dx_hint(name):
    result = run_check(name, bn_backward_swapped_own)
    assert result.status == "failed" and result.mistake_key == "swapped_dgamma_dbeta", result.message
    assert "dgamma and dbeta are swapped" in result.message


def running_swapped(running_mean, running_var, batch_mean, batch_var, *, count, momentum=0.1):
    new_mean, new_var = reference("update_running_stats")(running_mean, running_var, batch_mean, batch_var,
                                                          count=count, momentum=momentum)
    return new_var, new_mean


def step_swapped_flags(best, wait, current, *, min_delta, patience, mode):
    best, wait, improved, stop = reference("early_stopping_step")(best, wait, current, min_delta=min_delta,
                                                                  patience=patience, mode=mode)
    return best, wait, stop, improved


@pytest.mark.parametrize("name,fn,names", [
    ("update_running_stats", running_swapped, "new_mean and new_var"),
    ("early_stopping_step", step_swapped_flags, "improved and stop"),
], ids=["running-stats", "early-stopping"])
def test_any_two_swapped_results_are_reported_as_swapped(name, fn, names):
    result = run_check(name, fn)
    assert result.status == "failed", result.message
    assert f"{names} are swapped" in result.message, result.message
    assert "right but swapped" in result.message  # the hint, not the generic one


def running_in_float32(running_mean, running_var, batch_mean, batch_var, *, count, momentum=0.1):
    new = reference("update_running_stats")(running_mean, running_var, batch_mean, batch_var, count=count,
                                            momentum=momentum)
    return tuple(v.astype(np.float32).astype(np.float64) for v in new)


def test_values_that_differ_only_by_rounding_print_different_numbers():
    result = run_check("update_running_stats", running_in_float32)
    assert result.status == "failed", result.message
    differs = next(line for line in result.message.splitlines() if line.strip().startswith("differs:"))
    expected, got = differs.split("expected ")[1].split(", got ")
    got = got.split(" ")[0]
    assert float(expected) != float(got) and expected != got


def step_naive(best, wait, current, *, min_delta, patience, mode):
    wait += 1
    if (current < best - min_delta) if mode == "min" else (current > best + min_delta):
        return current, 0, True, False
    return best, wait, False, wait >= patience


def test_the_textbook_min_delta_comparison_passes_and_is_told_about_rounding():
    # The textbook form is right; it differs from coursekit's rounding-forgiving rule only on steps of exactly
    # min_delta that float64 rounding blurs (0.07 -> 0.06 with min_delta 0.01): a note, not a failure.
    result = run_check("early_stopping_step", step_naive)
    assert result.status == "passed" and result.implementation is step_naive, result.message
    note = result.message.split("\n   note:     ")[1]
    assert note.startswith("Information, not a mistake:") and "0.060000000000000005" in note
    assert "(Keras compares strictly)" not in result.message  # not the hint for `<=`


def step_naive_but_strict_at_exact_boundaries(best, wait, current, *, min_delta, patience, mode):
    """The textbook form with <= : wrong at an exact binary boundary (0.5 -> 0.25 with min_delta 0.25)."""
    wait += 1
    if (current <= best - min_delta) if mode == "min" else (current >= best + min_delta):
        return current, 0, True, False
    return best, wait, False, wait >= patience


def test_exactly_min_delta_in_exact_binary_fractions_is_still_no_improvement():
    result = run_check("early_stopping_step", step_naive_but_strict_at_exact_boundaries)
    assert result.status == "failed" and result.mistake_key == "equal_counts_as_improvement", result.message


@pytest.mark.parametrize("name,key", MISTAKES)
def test_failure_messages_summarize_arrays(name, key):
    message = run_check(name, all_mistakes(name)[key].implementation).message
    assert len(message) < 3500, f"{name}/{key}: a {len(message)}-character verdict"
    assert max(len(line) for line in message.splitlines()) < 1200
    assert "\n    [" not in message and "\n  [[" not in message  # no multi-line numpy repr


# ----------------------------------------------------------------------------- partial and slow answers


def _stub(*args, **kwargs):
    # YOUR CODE HERE
    raise NotImplementedError


@pytest.mark.parametrize("name", NAMES)
def test_blank_stub_is_not_attempted_and_falls_back_to_reference(name):
    result = run_check(name, _stub)
    assert result.status == "not attempted", result.message
    assert result.message.startswith(f"NOT ATTEMPTED ⏳ {name}: ")
    assert result.implementation is get_exercise(name).reference


def _works_once_then_unfinished(name):
    ref = reference(name)
    calls = []

    def answer(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise NotImplementedError("the other mode")
        return ref(*args, **kwargs)

    return answer


@pytest.mark.parametrize("name", NAMES)
def test_a_partial_answer_fails_naming_the_case_that_reached_the_unfinished_part(name):
    result = run_check(name, _works_once_then_unfinished(name))
    assert result.status == "failed", result.message
    assert "partly written" in result.message and "NotImplementedError" in result.message
    assert "on case: " in result.message.splitlines()[0]
    assert 'raise NotImplementedError("the other mode")' in result.message  # the learner's line


def dropout_training_only(x, drop_prob, *, rng, training):
    if training:
        return dropout_random_below(x, drop_prob, rng=rng, training=True)
    raise NotImplementedError


def dropout_eval_only(x, drop_prob, *, rng, training):
    if not training:
        return x, None
    raise NotImplementedError


def test_one_mode_left_unfinished_is_failed_not_unattempted():
    first = run_check("dropout_forward", dropout_training_only)
    assert first.status == "failed" and "evaluation mode (training=False)" in first.message.splitlines()[0]
    second = run_check("dropout_forward", dropout_eval_only)  # the very first call reaches the unfinished part
    assert second.status == "failed" and "partly written" in second.message, second.message
    assert "training mode" in second.message.splitlines()[0]


def test_an_endless_loop_is_stopped_and_the_case_named(monkeypatch):
    monkeypatch.setattr(get_exercise("spatial_dropout_forward"), "time_limit", 0.5)

    def spatial_dropout_forward(x, drop_prob, *, rng, training):
        while True:
            pass

    result = run_check("spatial_dropout_forward", spatial_dropout_forward)
    assert result.status == "failed" and "too slow" in result.message
    assert "on case: training, x of shape (160, 20, 3, 5)" in result.message


def test_a_slow_answer_is_stopped_after_the_budget(monkeypatch):
    monkeypatch.setattr(get_exercise("l2_penalty"), "time_limit", 0.3)

    def l2_penalty(weights, lambd, m):
        time.sleep(0.2)  # stands in for a slow Python loop: 7 cases take 1.4 s
        return lambd / (2 * m) * sum(float(np.sum(W.astype(float) ** 2)) for W in weights)

    result = run_check("l2_penalty", l2_penalty)
    assert result.status == "failed" and "too slow" in result.message, result.message
    assert "at most 0.3 s" in result.message and "case: " in result.message


# ----------------------------------------------------------------------------- robustness


def _returns_none(*args, **kwargs):
    return None


def _raises(*args, **kwargs):
    raise ValueError("learner bug")


def _returns_garbage(*args, **kwargs):
    return np.zeros((3, 3, 3), dtype=np.int8)


def _exits(*args, **kwargs):
    sys.exit("bye")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("broken", [_returns_none, _raises, _returns_garbage, _exits, 42],
                         ids=["none", "raises", "garbage", "exits", "not-callable"])
def test_broken_answers_fail_without_raising(name, broken, capsys):
    result = run_check(name, broken)
    assert result.status == "failed", result.message
    assert result.implementation is get_exercise(name).reference
    # check() prints the same verdict and returns the fallback; it never raises.
    assert exercises.check(name, broken) is get_exercise(name).reference
    assert capsys.readouterr().out.startswith(f"FAILED ❌ {name}: ")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="POSIX interval timers")
def test_ctrl_c_still_interrupts_a_check(name):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_check(name, interrupted)
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # no alarm left behind


def test_raising_code_reports_the_exception_and_the_line():
    result = run_check("bce_with_logits", _raises)
    assert "ValueError: learner bug" in result.message
    assert '(line ' in result.message and 'raise ValueError("learner bug"))' in result.message


def test_an_error_inside_numpy_quotes_the_learner_s_line_not_a_library_line():
    def dense_backward_l2(dout, x, W, b, lambd, m):
        dx = np.dot(dout, W)  # should be W.T
        return dx, x.T @ dout + lambd / m * W, dout.sum(axis=0)

    message = run_check("dense_backward_l2", dense_backward_l2).message
    assert "dx = np.dot(dout, W)" in message and "ValueError" in message
    assert "coursekit" not in message and "numpy" not in message.split("hint:")[0]


def test_an_answer_the_check_cannot_use_is_explained_not_blamed_on_a_course_line():
    calls = []

    def bce(logits, targets):  # right on the compared cases, then returns only the loss
        calls.append(1)
        loss, grad = reference("bce_with_logits")(logits, targets)
        return (loss, grad) if len(calls) <= 10 else loss

    message = run_check("bce_with_logits", bce).message
    assert "the check could not use what your function returned" in message
    assert "should be a tuple of 2 values" in message and "expected:" in message
    assert "fn(z, targets)" not in message and "line" not in message.splitlines()[0]


@pytest.mark.parametrize("name", NAMES)
def test_a_renamed_parameter_is_reported_with_the_stub_s_names(name):
    stub_names = list(inspect.signature(reference(name)).parameters)
    params = [inspect.Parameter(f"my_{p}", inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in stub_names]

    def renamed(*args, **kwargs):
        raise AssertionError("never called: the names do not fit")

    renamed.__signature__ = inspect.Signature(params)
    result = run_check(name, renamed)
    assert result.status == "failed", result.message
    assert "stub's parameter names" in result.message and f"def {name}(" in result.message
    assert all(p in result.message for p in stub_names)
    assert "**inputs" not in result.message and "fn(" not in result.message


@pytest.mark.parametrize("name", NAMES)
def test_verdicts_never_show_the_reference_source(name):
    ex = get_exercise(name)
    source_lines = [line.strip() for line in inspect.getsource(ex.reference).splitlines()[1:]
                    if len(line.strip()) > 25 and not line.strip().startswith(("#", '"""'))]
    for fn in [ex.reference, _stub, _returns_none, *[m.implementation for m in all_mistakes(name).values()]]:
        message = run_check(name, fn).message
        leaked = [line for line in source_lines if line in message]
        assert not leaked, f"{name}: the verdict shows reference source lines {leaked}"


@pytest.mark.parametrize("name", NAMES)
def test_every_verdict_starts_with_a_word(name):
    for fn in [reference(name), _stub, _raises, *[m.implementation for m in all_mistakes(name).values()]]:
        result = run_check(name, fn)
        prefix = {"passed": "PASSED ✅ ", "not attempted": "NOT ATTEMPTED ⏳ ", "failed": "FAILED ❌ "}[result.status]
        assert result.message.startswith(prefix + f"{name}: "), result.message


@pytest.mark.parametrize("name", NAMES)
def test_show_solution_prints_the_reference_source(name, capsys):
    exercises.show_solution(name)
    out = capsys.readouterr().out
    assert f"def {get_exercise(name).reference.__name__}" in out or "class " in out


def test_unknown_exercise_lists_the_known_ones():
    with pytest.raises(KeyError, match="bce_with_logits"):
        exercises.check("no_such_exercise", _stub)


def test_failure_message_shows_inputs_expected_got_and_hint():
    message = run_check("bce_with_logits", exercises.mistake("bce_with_logits", "gradient_sign")).message
    for part in ("inputs:", "expected:", "got:", "differs:", "hint:"):
        assert part in message
