"""Notebook 05 exercises: batch normalization forward, running statistics, train/eval modes, two backwards.

Every wrong answer catalogued here is one the course has seen: unbiased variance in the
normalization, eps outside the square root, statistics over the wrong axis, Keras's
momentum convention, the mean term forgotten in backward, evaluation still using batch
statistics.
"""
from __future__ import annotations

import functools

import numpy as np

from ..batchnorm import (BatchNormCache, batchnorm_backward, batchnorm_eval_forward, batchnorm_forward,
                         update_running_stats)
from ..gradcheck import numerical_gradient, numerical_gradients, rel_error
from ._core import (CheckFailed, Mistake, _copy_inputs, check_cases, compare_outputs, describe_difference,
                    modifies_input, register, set_case)

_CACHE_FIELDS = BatchNormCache._fields


# ----------------------------------------------------------------------------- tolerances from the inputs' magnitude
#
# x - mean loses the digits of x that the mean shares: for features around 1e8 with a spread of 1,
# float64 keeps x - mean only to about 1e8 * 2.2e-16 = 2e-8, and a correct answer that sums in another
# order (a loop over features, einsum, float64 sums of float32 data) differs from the reference by a
# few such units. So every compared value may differ by rounding of the size its inputs imply:
# ``budget`` = (2N + 8) * machine epsilon * max|x| per feature for the mean and x - mean, and for
# what is divided by the standard deviation, budget / std (times |gamma| for out). For ordinary
# inputs this is far below rtol 1e-6; for 1e8 +- 1 it is what makes a correct loop pass. Every
# catalogued mistake is off by much more (a factor N/(N-1), eps in the wrong place, a NaN).

_BASE_TOLERANCE = {"rtol": 1e-6, "atol": 1e-8}


def _rounding_budget(x: np.ndarray) -> np.ndarray:
    """Per feature, how far x - mean (and the mean) may be off by rounding alone, from x's magnitude."""
    n = x.shape[0]
    return (2 * n + 8) * float(np.finfo(x.dtype).eps) * np.max(np.abs(x.astype(np.float64)), axis=0)


def _normalized_tolerance(budget, std, scale, x_hat) -> np.ndarray:
    """Rounding allowed in scale * x_hat with x_hat = (x - mean) / std: budget / std, and as much again
    relative to x_hat (the std itself is computed from x - mean)."""
    relative = budget / std
    return np.abs(scale) * relative * (1.0 + np.abs(np.asarray(x_hat, dtype=np.float64)))


def _forward_field_tolerances(inputs, expected) -> list[tuple[str, np.ndarray]]:
    """(name, atol) for out and each cache field of batchnorm_forward's result on ``inputs``."""
    x, gamma, beta = inputs["x"], inputs["gamma"], inputs["beta"]
    out, (mean, var, x_centered, inv_std, x_hat, _) = expected
    budget = _rounding_budget(x)
    var64 = np.asarray(var, dtype=np.float64)
    std = np.sqrt(var64 + inputs.get("eps", 1e-5))
    beta_rounding = float(np.finfo(x.dtype).eps) * np.abs(beta.astype(np.float64))
    return [
        ("out", _normalized_tolerance(budget, std, gamma.astype(np.float64), x_hat) + beta_rounding),
        ("cache.mean", budget),
        ("cache.var", 2.0 * np.sqrt(var64) * budget + budget ** 2),
        ("cache.x_centered", budget),
        ("cache.inv_std", np.abs(np.asarray(inv_std, dtype=np.float64)) * budget / std),
        ("cache.x_hat", _normalized_tolerance(budget, std, 1.0, x_hat)),
        ("cache.gamma", np.zeros_like(gamma, dtype=np.float64)),
    ]


def _compare_fields(fields, got_values, tolerance) -> tuple[str, str | None] | None:
    """The first field that differs: (why, where), else None. ``fields``: (name, expected, extra atol)."""
    for (name, expected, extra), got in zip(fields, got_values):
        atol = tolerance["atol"] + extra
        why = compare_outputs(expected, got, rtol=tolerance["rtol"], atol=atol, path=name)
        if why:
            where = describe_difference(expected, got, tolerance=(tolerance["rtol"], atol))
            return why, (f"{name}: {where}" if where else None)
    return None


def _explain_forward(inputs, expected, got, tolerance) -> tuple[str, str | None] | None:
    """Why ``got`` differs from the reference ``(out, cache)``, naming the cache field that is off."""
    why = compare_outputs(expected, got, rtol=np.inf, atol=np.inf, names=("out", "cache"))
    if why:  # the structure itself is wrong (not a pair, a wrong shape or dtype, NaN, None)
        return why, None
    cache = got[1]
    if not isinstance(cache, (tuple, list)) or len(cache) != len(_CACHE_FIELDS):
        return (f"cache should be a tuple of {len(_CACHE_FIELDS)} values ({', '.join(_CACHE_FIELDS)}), got "
                f"{type(cache).__name__}" + (f" of length {len(cache)}" if hasattr(cache, "__len__") else "")), None
    tolerances = _forward_field_tolerances(inputs, expected)
    fields = [(name, e, atol) for (name, atol), e in zip(tolerances, (expected[0], *expected[1]))]
    return _compare_fields(fields, (got[0], *cache), tolerance)


_CACHE_FIELDS = BatchNormCache._fields


# ----------------------------------------------------------------------------- batchnorm_forward


def _large_offset(rng, n, d, dtype, offset, spread):
    """Features with a large mean and a small spread, where E[x^2] - E[x]^2 cancels catastrophically."""
    x = (offset + spread * rng.standard_normal((n, d))).astype(dtype)
    return x, rng.uniform(0.5, 2.0, d).astype(dtype), rng.standard_normal(d).astype(dtype)


def _forward_cases():
    rng = np.random.default_rng(5000)
    tiny = np.column_stack([1e-3 * rng.standard_normal(5), np.full(5, 2.5), rng.standard_normal(5)])
    x32, gamma32, beta32 = _large_offset(rng, 16, 4, np.float32, 1e4, 1.0)
    x64, gamma64, beta64 = _large_offset(rng, 16, 3, np.float64, 1e8, 1.0)
    return [
        ("hand-sized case, x (4, 2)", {"x": np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 10.0], [7.0, -2.0]]),
                                       "gamma": np.array([2.0, 0.5]), "beta": np.array([0.1, -1.0]),
                                       "eps": 1e-5}),
        ("a feature with std 1e-3 and a constant feature (eps matters here)",
         {"x": tiny, "gamma": np.array([1.0, 1.5, -0.5]), "beta": np.array([0.0, 0.2, 0.3]), "eps": 1e-5}),
        ("x (6, 4), features with offsets and scales, eps = 1e-3",
         {"x": rng.standard_normal((6, 4)) * np.array([0.5, 2.0, 10.0, 1.0]) + np.array([0.0, -3.0, 100.0, 1.0]),
          "gamma": rng.standard_normal(4), "beta": rng.standard_normal(4), "eps": 1e-3}),
        ("smallest batch, x (2, 5)", {"x": rng.standard_normal((2, 5)), "gamma": np.ones(5),
                                      "beta": np.zeros(5), "eps": 1e-5}),
        ("one feature, x (7, 1)", {"x": rng.standard_normal((7, 1)) * 3.0 + 1.0, "gamma": np.array([0.7]),
                                   "beta": np.array([-0.2]), "eps": 1e-5}),
        ("float32 features with a large mean and a small spread (1e4 +- 1), x (16, 4)",
         {"x": x32, "gamma": gamma32, "beta": beta32, "eps": 1e-5}),
        ("float64 features with a huge mean and a small spread (1e8 +- 1, like timestamps), x (16, 3)",
         {"x": x64, "gamma": gamma64, "beta": beta64, "eps": 1e-5}),
    ]


_STABILITY_CASES = ("large mean and a small spread", "huge mean and a small spread")


def _fragile_variance(fn, label, inputs, explain) -> bool:
    """Whether ``fn`` fails ``inputs`` only because of the offset: it passes the same spread around 0."""
    if not any(marker in label for marker in _STABILITY_CASES):
        return False
    x = inputs["x"]
    centered = {**inputs, "x": (x.astype(np.float64) - x.mean(axis=0, dtype=np.float64)).astype(x.dtype)}
    set_case(label + ", shifted to mean 0")
    try:
        got = fn(**_copy_inputs(centered))
    except Exception:  # noqa: BLE001 - only refines the diagnosis
        return False
    return explain(centered, got) is None


def _check_forward(fn):
    cases = _forward_cases()
    passed = []
    for label, inputs in cases:
        set_case(label)
        explain = functools.partial(_explain_against_reference, batchnorm_forward, _explain_forward)
        got = fn(**_copy_inputs(inputs))
        found = explain(inputs, got)
        if found:
            why, where = found
            fragile = _fragile_variance(fn, label, inputs, explain)
            raise CheckFailed(label, inputs=inputs, expected=batchnorm_forward(**_copy_inputs(inputs)), got=got,
                              reason=why, difference=where, tolerance=(_BASE_TOLERANCE["rtol"],
                                                                       _BASE_TOLERANCE["atol"]),
                              mistake="one_pass_variance" if fragile else None, passed=passed)
        passed.append((inputs, _BASE_TOLERANCE))
    return (f"{len(cases)} cases (a hand-sized one, a near-constant feature where eps matters, N = 2, D = 1, "
            "features with a large mean and a small spread in float32 and float64) match the reference: out and "
            "every cache entry, up to the rounding the inputs' magnitude allows.")


def _explain_against_reference(reference_fn, explain_fn, inputs, got):
    expected = reference_fn(**_copy_inputs(inputs))
    return explain_fn(inputs, expected, got, _BASE_TOLERANCE)


def _cache(mean, var, x_centered, inv_std, x_hat, gamma):
    return BatchNormCache(mean, var, x_centered, inv_std, x_hat, gamma)


def _forward_unbiased(x, gamma, beta, *, eps=1e-5):
    mean = x.mean(axis=0)
    xc = x - mean
    var = x.var(axis=0, ddof=1)
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = xc * inv_std
    return gamma * x_hat + beta, _cache(mean, var, xc, inv_std, x_hat, gamma)


def _forward_eps_outside(x, gamma, beta, *, eps=1e-5):
    mean = x.mean(axis=0)
    xc = x - mean
    var = x.var(axis=0)
    inv_std = 1.0 / (np.sqrt(var) + eps)
    x_hat = xc * inv_std
    return gamma * x_hat + beta, _cache(mean, var, xc, inv_std, x_hat, gamma)


def _forward_one_pass(x, gamma, beta, *, eps=1e-5):
    mean = x.mean(axis=0)
    var = np.mean(x ** 2, axis=0) - mean ** 2  # E[x^2] - E[x]^2: cancels when |mean| >> std
    xc = x - mean
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = xc * inv_std
    return gamma * x_hat + beta, _cache(mean, var, xc, inv_std, x_hat, gamma)


def _forward_centers_in_place(x, gamma, beta, *, eps=1e-5):
    mean = x.mean(axis=0)
    x -= mean  # x_centered, computed in the caller's array
    var = np.mean(x * x, axis=0)
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = x * inv_std
    return gamma * x_hat + beta, _cache(mean, var, x, inv_std, x_hat, gamma)


def _forward_wrong_axis(x, gamma, beta, *, eps=1e-5):
    mean = x.mean(axis=1, keepdims=True)
    xc = x - mean
    var = x.var(axis=1, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = xc * inv_std
    return gamma * x_hat + beta, _cache(mean, var, xc, inv_std, x_hat, gamma)


def _affine_input_mistakes(reference_fn):
    """Overwriting the learned scale or shift in place."""
    return tuple(modifies_input(reference_fn, name, f"{name} is the layer's learned {what}: training continues from it",
                                fix=f"`out = gamma * x_hat + beta`, not `{name} *= ...`")
                 for name, what in (("gamma", "scale"), ("beta", "shift")))


_ONE_PASS_HINT = ("var = mean(x**2) - mean(x)**2 is right on paper but cancels catastrophically in floating point: "
                  "for features around 1e4 with spread 1 in float32 (or 1e8 in float64), mean(x**2) and "
                  "mean(x)**2 agree in every digit the format keeps, so their difference is rounding noise, often "
                  "negative, and sqrt(var + eps) gives NaN. Center first, then square: "
                  "var = np.mean((x - mean)**2, axis=0) (two passes; x.var(axis=0) does the same).")

register(
    "batchnorm_forward",
    reference=batchnorm_forward,
    run_checks=_check_forward,
    mistakes=(
        Mistake("unbiased_variance", _forward_unbiased,
                "You normalized with the unbiased variance (divide by N-1). Batch norm normalizes with the "
                "biased one, np.mean((x - mean)**2, axis=0) = x.var(axis=0) (ddof=0); the N-1 version is only "
                "for the running variance."),
        Mistake("eps_outside_sqrt", _forward_eps_outside,
                "eps goes inside the square root: 1/sqrt(var + eps), not 1/(sqrt(var) + eps). The two differ "
                "most for (nearly) constant features, exactly where eps is needed."),
        Mistake("wrong_axis", _forward_wrong_axis,
                "The statistics are per feature, over the batch: x.mean(axis=0), giving shape (D,). Averaging "
                "over axis=1 normalizes each sample across its features (that is layer norm)."),
        Mistake("one_pass_variance", _forward_one_pass, _ONE_PASS_HINT),
        modifies_input(batchnorm_forward, "x",
                       "x is the previous layer's output: its backward pass, and the cell right after this one "
                       "(which prints x's mean and std), still read it; `x -= mean` turns it into x_centered",
                       fix="`x_centered = x - mean`, not `x -= mean`", implementation=_forward_centers_in_place),
        *_affine_input_mistakes(batchnorm_forward),
    ),
    generic_hint="mean = x.mean(axis=0); var = np.mean((x - mean)**2, axis=0); inv_std = 1/np.sqrt(var + eps); "
                 "x_hat = (x - mean) * inv_std; out = gamma * x_hat + beta; "
                 "return out, (mean, var, x - mean, inv_std, x_hat, gamma).",
    output_names=("out", "cache"),
)

# ----------------------------------------------------------------------------- update_running_stats


def _running_cases():
    rng = np.random.default_rng(5100)

    def stats(d):
        return {"running_mean": rng.standard_normal(d), "running_var": rng.uniform(0.5, 2.0, d),
                "batch_mean": rng.standard_normal(d), "batch_var": rng.uniform(0.1, 3.0, d)}

    return [
        ("batch of 4, momentum 0.1", {**stats(3), "count": 4, "momentum": 0.1}),
        ("batch of 10, momentum 0.3", {**stats(5), "count": 10, "momentum": 0.3}),
        ("smallest batch, count 2", {**stats(2), "count": 2, "momentum": 0.1}),
        ("momentum 0: the running statistics do not move", {**stats(3), "count": 8, "momentum": 0.0}),
        ("momentum 1: replaced by this batch's (unbiased) statistics", {**stats(3), "count": 8, "momentum": 1.0}),
        ("count 392 (= N*H*W of a (8, C, 7, 7) feature map)", {**stats(4), "count": 392, "momentum": 0.1}),
    ]


def _check_running(fn):
    n = check_cases(fn, update_running_stats, _running_cases(), rtol=1e-9, atol=1e-12)
    return (f"{n} cases (momentum 0, 0.1, 0.3 and 1; counts from 2 to 392) match "
            "running = (1 - momentum) * running + momentum * batch, with the unbiased batch variance.")


def _running_reversed(running_mean, running_var, batch_mean, batch_var, *, count, momentum=0.1):
    unbiased = batch_var * count / (count - 1)
    return (momentum * running_mean + (1 - momentum) * batch_mean,
            momentum * running_var + (1 - momentum) * unbiased)


def _running_biased(running_mean, running_var, batch_mean, batch_var, *, count, momentum=0.1):
    return ((1 - momentum) * running_mean + momentum * batch_mean,
            (1 - momentum) * running_var + momentum * batch_var)


def _running_inverted_correction(running_mean, running_var, batch_mean, batch_var, *, count, momentum=0.1):
    return ((1 - momentum) * running_mean + momentum * batch_mean,
            (1 - momentum) * running_var + momentum * batch_var * (count - 1) / count)


def _running_in_place(running_mean, running_var, batch_mean, batch_var, *, count, momentum=0.1):
    running_mean *= 1 - momentum  # PyTorch updates its buffers in place; this function returns new ones
    running_mean += momentum * batch_mean
    running_var *= 1 - momentum
    running_var += momentum * batch_var * count / (count - 1)
    return running_mean, running_var


_RUNNING_WHY = ("update_running_stats returns the new statistics and leaves the old ones alone: the caller "
                "decides whether to store them (batchnorm_layer_forward in evaluation mode must not change them "
                "at all), and code holding the old arrays, such as a saved checkpoint or a before/after "
                "comparison, would see them change behind its back")
_BATCH_STATS_WHY = ("the batch statistics come from the forward pass's cache, which the backward pass still "
                    "needs")


register(
    "update_running_stats",
    reference=update_running_stats,
    run_checks=_check_running,
    mistakes=(
        Mistake("momentum_reversed", _running_reversed,
                "That is Keras's convention (momentum = 0.9 is the weight of the OLD value). In PyTorch's, "
                "momentum is the weight of the NEW batch: running = (1 - momentum) * running + momentum * batch."),
        Mistake("biased_running_var", _running_biased,
                "The running variance tracks the UNBIASED batch variance: multiply batch_var (which divides by "
                "count) by count / (count - 1) before mixing it in."),
        Mistake("inverted_correction", _running_inverted_correction,
                "The correction goes the other way: the unbiased variance is larger, batch_var * count / (count - 1)."),
        modifies_input(update_running_stats, "running_mean", _RUNNING_WHY,
                       fix="`new_mean = running_mean + momentum * (batch_mean - running_mean)`, not `running_mean *= ...`",
                       implementation=_running_in_place),
        modifies_input(update_running_stats, "running_var", _RUNNING_WHY,
                       fix="`new_var = (1 - momentum) * running_var + ...`, not `running_var *= ...`"),
        modifies_input(update_running_stats, "batch_mean", _BATCH_STATS_WHY,
                       fix="`momentum * batch_mean` as a new array, not `batch_mean *= momentum`"),
        modifies_input(update_running_stats, "batch_var", _BATCH_STATS_WHY,
                       fix="`unbiased = batch_var * count / (count - 1)`, not `batch_var *= count / (count - 1)`"),
    ),
    generic_hint="Mix in the new batch with weight momentum: mean <- (1 - momentum) * running_mean + momentum * "
                 "batch_mean; variance <- (1 - momentum) * running_var + momentum * (unbiased batch variance), "
                 "where the unbiased variance is batch_var * count / (count - 1).",
    output_names=("new_mean", "new_var"),
)

# ----------------------------------------------------------------------------- batchnorm_layer_forward


def batchnorm_layer_forward(x, gamma, beta, running_mean, running_var, *, training, momentum=0.1, eps=1e-5):
    """What a batch-norm layer does in either mode; returns ``(out, new_running_mean, new_running_var)``.

    Training: normalize with the batch's statistics and update the running ones.
    Evaluation: normalize with the running statistics and leave them unchanged.
    Shapes: x (N, D); the others (D,).
    """
    if training:
        out, cache = batchnorm_forward(x, gamma, beta, eps=eps)
        new_mean, new_var = update_running_stats(running_mean, running_var, cache.mean, cache.var,
                                                 count=x.shape[0], momentum=momentum)
        return out, new_mean, new_var
    out = batchnorm_eval_forward(x, gamma, beta, running_mean, running_var, eps=eps)
    return out, running_mean.copy(), running_var.copy()


def _layer_cases():
    rng = np.random.default_rng(5200)

    def case(n, d, training, **extra):
        return {"x": rng.standard_normal((n, d)) * 2.0 + 0.5, "gamma": rng.uniform(0.5, 2.0, d),
                "beta": rng.standard_normal(d), "running_mean": rng.standard_normal(d),
                "running_var": rng.uniform(0.5, 3.0, d), "training": training, **extra}

    x32, gamma32, beta32 = _large_offset(rng, 16, 3, np.float32, 1e4, 1.0)
    stats32 = {"running_mean": np.full(3, 1e4, np.float32), "running_var": np.ones(3, np.float32)}
    return [
        ("training, x (5, 3)", case(5, 3, True)),
        ("evaluation, x (4, 3)", case(4, 3, False)),
        ("training, x (8, 2), momentum 0.3, eps 1e-3", case(8, 2, True, momentum=0.3, eps=1e-3)),
        ("evaluation of a single sample, x (1, 4)", case(1, 4, False)),
        ("evaluation, x (6, 2), eps 1e-2", case(6, 2, False, eps=1e-2)),
        ("training on float32 features with a large mean and a small spread (1e4 +- 1), x (16, 3)",
         {"x": x32, "gamma": gamma32, "beta": beta32, **stats32, "training": True}),
    ]


def _layer_field_tolerances(inputs, expected) -> list[tuple[str, np.ndarray]]:
    """(name, atol) for each of batchnorm_layer_forward's results, from the magnitude of its inputs."""
    x, gamma, beta = inputs["x"], inputs["gamma"], inputs["beta"]
    eps, momentum = inputs.get("eps", 1e-5), inputs.get("momentum", 0.1)
    zero = np.zeros(x.shape[1])
    beta_rounding = float(np.finfo(x.dtype).eps) * np.abs(beta.astype(np.float64))
    if not inputs["training"]:
        running_mean, running_var = (np.asarray(inputs[k], dtype=np.float64) for k in ("running_mean", "running_var"))
        budget = _rounding_budget(np.concatenate([x, inputs["running_mean"][None].astype(x.dtype)]))
        std = np.sqrt(running_var + eps)
        x_hat = (x - running_mean) / std
        return [("out", _normalized_tolerance(budget, std, gamma.astype(np.float64), x_hat) + beta_rounding),
                ("new_running_mean", zero), ("new_running_var", zero)]
    out, cache = batchnorm_forward(**_copy_inputs({k: inputs[k] for k in ("x", "gamma", "beta")}), eps=eps)
    tolerances = dict(_forward_field_tolerances({"x": x, "gamma": gamma, "beta": beta, "eps": eps}, (out, cache)))
    n = x.shape[0]
    return [("out", tolerances["out"]), ("new_running_mean", momentum * tolerances["cache.mean"]),
            ("new_running_var", momentum * n / (n - 1) * tolerances["cache.var"])]


def _explain_layer(inputs, expected, got, tolerance) -> tuple[str, str | None] | None:
    why = compare_outputs(expected, got, rtol=np.inf, atol=np.inf, names=_LAYER_OUTPUTS)
    if why:
        return why, None
    fields = [(name, e, atol) for (name, atol), e in zip(_layer_field_tolerances(inputs, expected), expected)]
    return _compare_fields(fields, got, tolerance)


_LAYER_OUTPUTS = ("out", "new_running_mean", "new_running_var")


def _check_layer(fn):
    cases = _layer_cases()
    explain = functools.partial(_explain_against_reference, batchnorm_layer_forward, _explain_layer)
    passed = []
    for label, inputs in cases:
        set_case(label)
        got = fn(**_copy_inputs(inputs))
        found = explain(inputs, got)
        if found:
            why, where = found
            fragile = _fragile_variance(fn, label, inputs, explain)
            raise CheckFailed(label, inputs=inputs, expected=batchnorm_layer_forward(**_copy_inputs(inputs)),
                              got=got, reason=why, difference=where,
                              tolerance=(_BASE_TOLERANCE["rtol"], _BASE_TOLERANCE["atol"]),
                              mistake="one_pass_variance" if fragile else None, passed=passed)
        passed.append((inputs, _BASE_TOLERANCE))
    return (f"{len(cases)} cases match: training normalizes with batch statistics (also for float32 features with "
            "a large mean) and updates the running ones; evaluation (even of a single sample) uses the running "
            "statistics and leaves them alone.")


def _batch_stats(x, eps):
    mean, var = x.mean(axis=0), x.var(axis=0)
    return mean, var, (x - mean) / np.sqrt(var + eps)


def _layer_eval_batch_stats(x, gamma, beta, running_mean, running_var, *, training, momentum=0.1, eps=1e-5):
    mean, var, x_hat = _batch_stats(x, eps)
    if training:
        m = len(x)
        return (gamma * x_hat + beta, (1 - momentum) * running_mean + momentum * mean,
                (1 - momentum) * running_var + momentum * var * m / (m - 1))
    return gamma * x_hat + beta, running_mean.copy(), running_var.copy()


def _layer_eval_updates(x, gamma, beta, running_mean, running_var, *, training, momentum=0.1, eps=1e-5):
    mean, var, x_hat = _batch_stats(x, eps)
    m = len(x)
    new_mean = (1 - momentum) * running_mean + momentum * mean
    new_var = (1 - momentum) * running_var + momentum * var * m / max(m - 1, 1)
    if training:
        return gamma * x_hat + beta, new_mean, new_var
    return gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta, new_mean, new_var


def _layer_train_running_stats(x, gamma, beta, running_mean, running_var, *, training, momentum=0.1, eps=1e-5):
    mean, var, _ = _batch_stats(x, eps)
    out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
    if training:
        m = len(x)
        return (out, (1 - momentum) * running_mean + momentum * mean,
                (1 - momentum) * running_var + momentum * var * m / (m - 1))
    return out, running_mean.copy(), running_var.copy()


def _layer_one_pass(x, gamma, beta, running_mean, running_var, *, training, momentum=0.1, eps=1e-5):
    if not training:
        return batchnorm_layer_forward(x, gamma, beta, running_mean, running_var, training=False, eps=eps)
    out, cache = _forward_one_pass(x, gamma, beta, eps=eps)
    m = len(x)
    return (out, (1 - momentum) * running_mean + momentum * cache.mean,
            (1 - momentum) * running_var + momentum * cache.var * m / (m - 1))


def _layer_updates_in_place(x, gamma, beta, running_mean, running_var, *, training, momentum=0.1, eps=1e-5):
    if not training:
        return batchnorm_layer_forward(x, gamma, beta, running_mean, running_var, training=False, eps=eps)
    out, cache = batchnorm_forward(x, gamma, beta, eps=eps)
    m = len(x)
    running_mean *= 1 - momentum  # PyTorch-style buffer update, into the caller's arrays
    running_mean += momentum * cache.mean
    running_var *= 1 - momentum
    running_var += momentum * cache.var * m / (m - 1)
    return out, running_mean, running_var


def _layer_not_updated(x, gamma, beta, running_mean, running_var, *, training, momentum=0.1, eps=1e-5):
    if training:
        _, _, x_hat = _batch_stats(x, eps)
        return gamma * x_hat + beta, running_mean.copy(), running_var.copy()
    return gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta, running_mean.copy(), running_var.copy()


register(
    "batchnorm_layer_forward",
    reference=batchnorm_layer_forward,
    run_checks=_check_layer,
    mistakes=(
        Mistake("eval_uses_batch_stats", _layer_eval_batch_stats,
                "In evaluation mode normalize with the RUNNING statistics: "
                "gamma * (x - running_mean) / sqrt(running_var + eps) + beta. With batch statistics a sample's "
                "prediction depends on the other samples in its batch (and a batch of one gives just beta)."),
        Mistake("eval_updates_running_stats", _layer_eval_updates,
                "Evaluation must not change the running statistics: return running_mean and running_var as "
                "they came in. Only training batches update them."),
        Mistake("training_uses_running_stats", _layer_train_running_stats,
                "In training mode normalize with the BATCH statistics (your batchnorm_forward); the running "
                "statistics are only updated, and used later in evaluation."),
        Mistake("running_stats_not_updated", _layer_not_updated,
                "In training mode the running statistics must be updated with this batch's statistics "
                "(update_running_stats with count = N); otherwise evaluation uses mean 0, variance 1 forever."),
        Mistake("one_pass_variance", _layer_one_pass, _ONE_PASS_HINT),
        modifies_input(batchnorm_layer_forward, "running_mean",
                       "the function returns the new running statistics and must leave the ones it was given "
                       "alone (in evaluation mode it must not change them at all); the caller may still hold the "
                       "old arrays, for a checkpoint or a before/after comparison",
                       fix="`new_mean = (1 - momentum) * running_mean + momentum * mean`, returned, not "
                           "`running_mean *= ...`", implementation=_layer_updates_in_place),
        modifies_input(batchnorm_layer_forward, "running_var",
                       "the function returns the new running statistics and must leave the ones it was given "
                       "alone; the caller may still hold the old arrays",
                       fix="`new_var = (1 - momentum) * running_var + ...`, returned, not `running_var *= ...`"),
        modifies_input(batchnorm_layer_forward, "x",
                       "x is the previous layer's output, which its backward pass still reads",
                       fix="`x_centered = x - mean`, not `x -= mean`"),
        *_affine_input_mistakes(batchnorm_layer_forward),
    ),
    generic_hint="Training: normalize with your batchnorm_forward (batch statistics), then pass the cache's mean "
                 "and var to update_running_stats with count = N. Evaluation: "
                 "gamma * (x - running_mean) / sqrt(running_var + eps) + beta, running statistics returned unchanged.",
    output_names=("out", "new_running_mean", "new_running_var"),
)

# ----------------------------------------------------------------------------- the two backwards


def batchnorm_backward_graph(dout, cache):
    """Batch-norm backward, one node of the computation graph at a time (same result as the compact form).

    Shapes: dout (N, D); cache a ``BatchNormCache``; returns (dx (N, D), dgamma (D,), dbeta (D,)).
    """
    mean, var, x_centered, inv_std, x_hat, gamma = cache
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)                              # out = gamma * x_hat + beta
    dgamma = np.sum(dout * x_hat, axis=0)
    dx_hat = dout * gamma
    dx_centered = dx_hat * inv_std                        # x_hat = x_centered * inv_std
    dinv_std = np.sum(dx_hat * x_centered, axis=0)
    dstd = -dinv_std * inv_std ** 2                       # inv_std = 1 / std
    dvar = 0.5 * inv_std * dstd                           # std = sqrt(var + eps)
    dx_centered = dx_centered + (2.0 / n) * x_centered * dvar   # var = mean(x_centered ** 2)
    dmean = -dx_centered.sum(axis=0)                      # x_centered = x - mean
    dx = dx_centered + dmean / n                          # mean = mean(x)
    return dx, dgamma, dbeta


def _bn_loss_grads(x, gamma, beta, dout, eps):
    """Central-difference gradients of sum(batchnorm_forward(x, gamma, beta) * dout)."""
    return numerical_gradients(lambda x_, gamma_, beta_: batchnorm_forward(x_, gamma_, beta_, eps=eps)[0],
                               (x, gamma, beta), dout)


def _backward_cases():
    rng = np.random.default_rng(5300)

    def case(x, gamma, eps=1e-5):
        beta = rng.standard_normal(x.shape[1])
        _, cache = batchnorm_forward(x, gamma, beta, eps=eps)
        return {"dout": rng.standard_normal(x.shape), "cache": cache}

    return [
        ("smallest batch, x (2, 3)", case(rng.standard_normal((2, 3)), rng.uniform(0.5, 2.0, 3))),
        ("one feature, x (6, 1)", case(rng.standard_normal((6, 1)), np.array([1.7]))),
        ("features with large offsets, x (8, 3)",
         case(rng.standard_normal((8, 3)) * 0.1 + 1000.0, rng.standard_normal(3))),
        ("a constant feature (variance 0), x (5, 2)",
         case(np.column_stack([np.full(5, 3.0), rng.standard_normal(5)]), np.array([2.0, -1.0]))),
        ("x (16, 5), eps 1e-3", case(rng.standard_normal((16, 5)), rng.standard_normal(5), eps=1e-3)),
    ]


def _make_backward_check(reference_fn):
    def run_checks(fn):
        rng = np.random.default_rng(5400)
        x = rng.standard_normal((6, 4)) * np.array([1.0, 3.0, 0.5, 2.0]) + np.array([0.0, 1.0, -2.0, 5.0])
        gamma, beta, dout = rng.uniform(0.5, 2.0, 4) * np.array([1, -1, 1, 1]), rng.standard_normal(4), \
            rng.standard_normal((6, 4))
        _, cache = batchnorm_forward(x, gamma, beta, eps=1e-5)
        numeric = _bn_loss_grads(x.copy(), gamma.copy(), beta.copy(), dout, 1e-5)
        inputs = {"dout": dout, "cache": cache}
        case = "gradient check against central differences, x (6, 4)"
        set_case(case)
        got = fn(dout=dout.copy(), cache=BatchNormCache(*(np.copy(c) for c in cache)))
        why = compare_outputs(numeric, got, rtol=1e-5, atol=1e-8, check_dtype=False, names=_GRADIENTS)
        if why:
            detail = ""
            if isinstance(got, (tuple, list)) and len(got) == 3 and all(
                    isinstance(g, np.ndarray) and g.shape == e.shape for g, e in zip(got, numeric)):
                detail = " (relative errors dx {:.1e}, dgamma {:.1e}, dbeta {:.1e}; want < 1e-6)".format(
                    *(rel_error(g, e) for g, e in zip(got, numeric)))
            raise CheckFailed(case, inputs=inputs, expected=numeric, got=got, reason=why + detail,
                              tolerance=(1e-5, 1e-8))
        errors = [rel_error(g, e) for g, e in zip(got, numeric)]
        n = check_cases(fn, reference_fn, _backward_cases(), rtol=1e-6, atol=1e-9)
        return (f"dx, dgamma, dbeta agree with central differences of the forward pass (largest relative error "
                f"{max(errors):.1e}), and {n} more cases (N = 2, D = 1, offsets of 1000, a constant feature) "
                "match the reference.")
    return run_checks


def _backward_no_mean_term(dout, cache):
    mean, var, x_centered, inv_std, x_hat, gamma = cache
    n = dout.shape[0]
    dx_hat = dout * gamma
    dx = (inv_std / n) * (n * dx_hat - x_hat * np.sum(dx_hat * x_hat, axis=0))
    return dx, np.sum(dout * x_hat, axis=0), dout.sum(axis=0)


def _backward_stats_constant(dout, cache):
    mean, var, x_centered, inv_std, x_hat, gamma = cache
    return dout * gamma * inv_std, np.sum(dout * x_hat, axis=0), dout.sum(axis=0)


def _backward_no_gamma(dout, cache):
    mean, var, x_centered, inv_std, x_hat, gamma = cache
    n = dout.shape[0]
    dx = (inv_std / n) * (n * dout - dout.sum(axis=0) - x_hat * np.sum(dout * x_hat, axis=0))
    return dx, np.sum(dout * x_hat, axis=0), dout.sum(axis=0)


def _backward_missing_1_over_n(dout, cache):
    mean, var, x_centered, inv_std, x_hat, gamma = cache
    n = dout.shape[0]
    dx_hat = dout * gamma
    dx = inv_std * (n * dx_hat - dx_hat.sum(axis=0) - x_hat * np.sum(dx_hat * x_hat, axis=0))
    return dx, np.sum(dout * x_hat, axis=0), dout.sum(axis=0)


_GRADIENTS = ("dx", "dgamma", "dbeta")


def _backward_swapped(dout, cache):
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    return dx, dbeta, dgamma


def _backward_in_place(dout, cache):
    mean, var, x_centered, inv_std, x_hat, gamma = cache
    n = dout.shape[0]
    dbeta, dgamma = dout.sum(axis=0), np.sum(dout * x_hat, axis=0)
    dout *= gamma  # dx_hat, computed in the caller's upstream gradient
    dx = (inv_std / n) * (n * dout - dout.sum(axis=0) - x_hat * np.sum(dout * x_hat, axis=0))
    return dx, dgamma, dbeta


_MEAN_TERM_HINT = ("The mean depends on every x_i, so every x_i also gets gradient through it: dx needs the "
                   "term -sum(dx_hat)/N (in the graph: dmean = -sum(dx_centered), dx += dmean / N). Without it "
                   "the columns of dx do not sum to zero.")
_CONSTANT_HINT = ("dx = gamma * dout / sqrt(var + eps) treats the batch mean and variance as constants, but they "
                  "are computed from x: add the paths through the mean and through the variance.")
_GAMMA_HINT = "The gradient reaching x_hat is dx_hat = gamma * dout: the scale gamma is missing."
# Mistakes both backward exercises (graph and compact form) share.
_BACKWARD_MISTAKES = (
    Mistake("forgot_mean_term", _backward_no_mean_term, _MEAN_TERM_HINT),
    Mistake("stats_as_constants", _backward_stats_constant, _CONSTANT_HINT),
    Mistake("forgot_gamma", _backward_no_gamma, _GAMMA_HINT),
    Mistake("swapped_dgamma_dbeta", _backward_swapped,
            "dgamma and dbeta are swapped. out = gamma * x_hat + beta, so dbeta = dout.sum(axis=0) (beta is added "
            "to every sample) and dgamma = (dout * x_hat).sum(axis=0) (gamma multiplies x_hat); return "
            "(dx, dgamma, dbeta) in that order."),
)


def _backward_input_mistakes(reference_fn):
    return (
        modifies_input(reference_fn, "dout",
                       "dout is the upstream gradient: it may feed other branches of the network, and the gradient "
                       "check calls backward again with the same dout",
                       fix="`dx_hat = gamma * dout`, a new array, not `dout *= gamma`",
                       implementation=_backward_in_place),
        modifies_input(reference_fn, "cache",
                       "the cache belongs to the forward pass: computing the gradient again (a gradient check, or a "
                       "second loss) must start from the same x_hat, inv_std and gamma",
                       fix="`dx_hat = gamma * dout`, not `x_hat *= ...` or `gamma *= ...`", container=True),
    )

register(
    "batchnorm_backward_graph",
    reference=batchnorm_backward_graph,
    run_checks=_make_backward_check(batchnorm_backward_graph),
    mistakes=(*_BACKWARD_MISTAKES, *_backward_input_mistakes(batchnorm_backward_graph)),
    output_names=_GRADIENTS,
    generic_hint="Walk the graph backwards: out -> x_hat -> (x_centered, inv_std) -> std -> var -> x_centered "
                 "-> mean -> x. x_centered gets gradient from two places (x_hat and var): add them before the "
                 "mean node.",
)

register(
    "batchnorm_backward",
    reference=batchnorm_backward,
    run_checks=_make_backward_check(batchnorm_backward),
    mistakes=(
        *_BACKWARD_MISTAKES,
        Mistake("missing_1_over_n", _backward_missing_1_over_n,
                "The compact form has a 1/N in front: dx = (inv_std / N) * (N * dx_hat - sum(dx_hat) - "
                "x_hat * sum(dx_hat * x_hat)), sums over axis 0."),
        *_backward_input_mistakes(batchnorm_backward),
    ),
    output_names=_GRADIENTS,
    generic_hint="dx_hat = gamma * dout; dx = (inv_std / N) * (N * dx_hat - dx_hat.sum(axis=0) - "
                 "x_hat * (dx_hat * x_hat).sum(axis=0)); dgamma = (dout * x_hat).sum(axis=0); "
                 "dbeta = dout.sum(axis=0).",
)
