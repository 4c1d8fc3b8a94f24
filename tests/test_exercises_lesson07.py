"""Lesson 07's checkers (layernorm_forward, layernorm_backward, groupnorm_forward): correct answers in several
styles pass, each catalogued mistake fails with its own hint, wrong answers outside the catalogue get a hint that
fits them, and the readable references agree with the library (coursekit.normalization). (Blank stubs, partial
answers, broken answers, renamed parameters: tests/test_exercises.py, for every exercise.)"""
import copy
import inspect

import numpy as np
import pytest

from coursekit import normalization
from coursekit.exercises import all_mistakes, get_exercise, reference, run_check

EXERCISES = ("layernorm_forward", "layernorm_backward", "groupnorm_forward")
MISTAKES = [(name, key) for name in EXERCISES for key in all_mistakes(name)]

# ----------------------------------------------------------------------------- right answers, several styles


def ln_rows(x, gamma, beta, *, eps=1e-5):
    """Flatten each sample to a row, normalize the rows, reshape back."""
    k = gamma.ndim
    lead = x.shape[:x.ndim - k]
    rows = x.reshape(-1, gamma.size)
    mean = rows.mean(axis=1, keepdims=True)
    var = ((rows - mean) ** 2).mean(axis=1, keepdims=True)
    inv_std = (var + eps) ** -0.5
    x_hat = ((rows - mean) * inv_std).reshape(x.shape)
    stats = lead + (1,) * k
    return x_hat * gamma + beta, (mean.reshape(stats), inv_std.reshape(stats), x_hat, gamma)


def ln_loop(x, gamma, beta, *, eps=1e-5):
    """A loop over the samples (every index of the leading axes)."""
    k = gamma.ndim
    lead = x.shape[:x.ndim - k]
    out, x_hat = np.empty_like(x), np.empty_like(x)
    mean, inv_std = np.empty(lead + (1,) * k, x.dtype), np.empty(lead + (1,) * k, x.dtype)
    for index in np.ndindex(*lead):
        sample = x[index]
        mu = sample.mean()
        s = 1 / np.sqrt(sample.var() + eps)
        x_hat[index] = (sample - mu) * s
        out[index] = gamma * x_hat[index] + beta
        mean[index], inv_std[index] = mu, s
    return out, (mean, inv_std, x_hat, gamma)


def ln_std(x, gamma, beta, *, eps=1e-5):
    """np.std and a division, axes written with negative numbers."""
    axes = tuple(range(-gamma.ndim, 0))
    mean = np.mean(x, axis=axes, keepdims=True)
    std = np.sqrt(np.var(x, axis=axes, keepdims=True) + eps)
    x_hat = (x - mean) / std
    return gamma * x_hat + beta, (mean, 1 / std, x_hat, gamma)


def ln_library(x, gamma, beta, *, eps=1e-5):
    return normalization.layernorm_forward(x, gamma, beta, eps=eps)


def ln_float64_inside(x, gamma, beta, *, eps=1e-5):
    """Statistics in float64 whatever x's dtype, results cast back."""
    axes = tuple(range(x.ndim - gamma.ndim, x.ndim))
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(((x64 - mean) ** 2).mean(axis=axes, keepdims=True) + eps)
    x_hat = ((x64 - mean) * inv_std).astype(x.dtype)
    return (gamma * x_hat + beta).astype(x.dtype), (mean.astype(x.dtype), inv_std.astype(x.dtype), x_hat, gamma)


def lnb_rows(dout, cache):
    """The compact form on (samples, M) rows."""
    mean, inv_std, x_hat, gamma = cache
    m = gamma.size
    d = (dout * gamma).reshape(-1, m)
    xh = x_hat.reshape(-1, m)
    s = inv_std.reshape(-1, 1)
    dx = s * (d - d.mean(axis=1, keepdims=True) - xh * (d * xh).mean(axis=1, keepdims=True))
    flat_dout = dout.reshape(-1, m)
    return (dx.reshape(dout.shape), (flat_dout * xh).sum(axis=0).reshape(gamma.shape),
            flat_dout.sum(axis=0).reshape(gamma.shape))


def lnb_graph(dout, cache):
    """The computation graph walked backwards (not the compact form): still the same gradients."""
    mean, inv_std, x_hat, gamma = cache
    axes = tuple(range(x_hat.ndim - gamma.ndim, x_hat.ndim))
    lead = tuple(range(x_hat.ndim - gamma.ndim))
    m = gamma.size
    x_centered = x_hat / inv_std
    dx_hat = dout * gamma
    dx_centered = dx_hat * inv_std
    dinv_std = np.sum(dx_hat * x_centered, axis=axes, keepdims=True)
    dvar = dinv_std * -0.5 * inv_std ** 3
    dx_centered = dx_centered + 2.0 / m * x_centered * dvar
    dx = dx_centered - dx_centered.sum(axis=axes, keepdims=True) / m
    return dx, np.sum(dout * x_hat, axis=lead), np.sum(dout, axis=lead)


def lnb_loop(dout, cache):
    """A loop over the samples, the formula written with N-free names."""
    mean, inv_std, x_hat, gamma = cache
    lead = x_hat.shape[:x_hat.ndim - gamma.ndim]
    dx = np.empty_like(dout)
    dgamma, dbeta = np.zeros_like(gamma), np.zeros_like(gamma)
    for index in np.ndindex(*lead):
        g = dout[index] * gamma
        xh = x_hat[index]
        dx[index] = inv_std[index] * (g - g.mean() - xh * (g * xh).mean())
        dgamma += dout[index] * xh
        dbeta += dout[index]
    return dx, dgamma, dbeta


def lnb_library(dout, cache):
    return normalization.layernorm_backward(dout, cache)


def gn_loop(x, gamma, beta, num_groups, *, eps=1e-5):
    """Loops over samples and groups."""
    n, c, h, w = x.shape
    size = c // num_groups
    x_hat = np.empty_like(x)
    mean, inv_std = np.empty((n, num_groups), x.dtype), np.empty((n, num_groups), x.dtype)
    for i in range(n):
        for g in range(num_groups):
            block = x[i, g * size:(g + 1) * size]
            mean[i, g] = block.mean()
            inv_std[i, g] = 1 / np.sqrt(block.var() + eps)
            x_hat[i, g * size:(g + 1) * size] = (block - mean[i, g]) * inv_std[i, g]
    return gamma[None, :, None, None] * x_hat + beta[None, :, None, None], (mean, inv_std, x_hat, gamma)


def gn_five_axes(x, gamma, beta, num_groups, *, eps=1e-5):
    """(N, G, C/G, H, W) and statistics over axes (2, 3, 4)."""
    n, c, h, w = x.shape
    grouped = x.reshape(n, num_groups, c // num_groups, h, w)
    mean = grouped.mean(axis=(2, 3, 4), keepdims=True)
    inv_std = 1 / np.sqrt(grouped.var(axis=(2, 3, 4), keepdims=True) + eps)
    x_hat = ((grouped - mean) * inv_std).reshape(x.shape)
    out = x_hat * gamma.reshape(-1, 1, 1) + beta.reshape(-1, 1, 1)
    return out, (mean.reshape(n, num_groups), inv_std.reshape(n, num_groups), x_hat, gamma)


def gn_via_layernorm(x, gamma, beta, num_groups, *, eps=1e-5):
    """Each group as a sample of layer norm without affine (gamma 1, beta 0), then the per-channel affine."""
    n, c, h, w = x.shape
    grouped = x.reshape(n, num_groups, -1)
    ones, zeros = np.ones(grouped.shape[-1], x.dtype), np.zeros(grouped.shape[-1], x.dtype)
    normalized, (mean, inv_std, _, _) = normalization.layernorm_forward(grouped, ones, zeros, eps=eps)
    x_hat = normalized.reshape(x.shape)
    return x_hat * gamma[:, None, None] + beta[:, None, None], (mean[..., 0], inv_std[..., 0], x_hat, gamma)


def gn_library(x, gamma, beta, num_groups, *, eps=1e-5):
    return normalization.groupnorm_forward(x, gamma, beta, num_groups, eps=eps)


RIGHT = ([("layernorm_forward", f) for f in (ln_rows, ln_loop, ln_std, ln_library, ln_float64_inside)]
         + [("layernorm_backward", f) for f in (lnb_rows, lnb_graph, lnb_loop, lnb_library)]
         + [("groupnorm_forward", f) for f in (gn_loop, gn_five_axes, gn_via_layernorm, gn_library)])


@pytest.mark.parametrize("name,fn", RIGHT, ids=[f"{n}-{f.__name__}" for n, f in RIGHT])
def test_right_answers_in_several_styles_pass(name, fn):
    result = run_check(name, fn)
    assert result.status == "passed", result.message
    assert result.implementation is fn


@pytest.mark.parametrize("name", EXERCISES)
def test_the_reference_passes(name):
    result = run_check(name, reference(name))
    assert result.status == "passed" and result.message.startswith(f"PASSED ✅ {name}: "), result.message


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_readable_references_agree_with_the_library(dtype):
    rng = np.random.default_rng(0)
    tol = {"rtol": 1e-10, "atol": 1e-12} if dtype == np.float64 else {"rtol": 1e-5, "atol": 1e-6}
    for shape, k in (((4, 6), 1), ((2, 3, 5), 1), ((2, 3, 4, 4), 3)):
        x = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
        gamma, beta = (rng.standard_normal(shape[-k:]).astype(dtype) for _ in range(2))
        ours, cache = reference("layernorm_forward")(x, gamma, beta)
        theirs, library_cache = normalization.layernorm_forward(x, gamma, beta)
        for a, b in zip((ours, *cache), (theirs, *library_cache)):
            assert a.dtype == b.dtype == dtype
            np.testing.assert_allclose(a, b, **tol)
        dout = rng.standard_normal(shape).astype(dtype)
        for a, b in zip(reference("layernorm_backward")(dout, cache), normalization.layernorm_backward(dout, cache)):
            assert a.dtype == b.dtype == dtype
            np.testing.assert_allclose(a, b, **tol)
    x = (rng.standard_normal((3, 6, 4, 4)) - 2).astype(dtype)
    gamma, beta = rng.standard_normal(6).astype(dtype), rng.standard_normal(6).astype(dtype)
    ours, cache = reference("groupnorm_forward")(x, gamma, beta, 3)
    theirs, library_cache = normalization.groupnorm_forward(x, gamma, beta, 3)
    for a, b in zip((ours, *cache), (theirs, *library_cache)):
        assert a.dtype == b.dtype == dtype
        np.testing.assert_allclose(a, b, **tol)


# ----------------------------------------------------------------------------- the catalogue


@pytest.mark.parametrize("name,key", MISTAKES)
def test_each_catalogued_mistake_fails_with_its_own_hint(name, key):
    known = all_mistakes(name)[key]
    result = run_check(name, known.implementation)
    assert result.status == "failed", f"{name}: the mistake {key!r} was accepted:\n{result.message}"
    assert result.mistake_key == key, f"{name}: {key!r} diagnosed as {result.mistake_key!r}:\n{result.message}"
    assert known.hint in result.message
    assert result.implementation is get_exercise(name).reference
    assert len(result.message) < 3500 and "\n    [" not in result.message


def test_the_issue_s_catalogue_is_covered():
    assert {"batch_axis", "unbiased_variance", "gamma_per_sample", "eps_outside_sqrt", "one_pass_variance",
            "last_axis_only"} <= set(all_mistakes("layernorm_forward"))
    assert {"forgot_mean_term", "stats_as_constants", "batch_axis_sums", "dgamma_per_sample"} <= \
        set(all_mistakes("layernorm_backward"))
    assert {"batch_axis", "unbiased_variance", "strided_groups", "one_group_per_channel"} <= \
        set(all_mistakes("groupnorm_forward"))
    for name in EXERCISES:
        hints = [m.hint for m in all_mistakes(name).values()]
        assert len(set(hints)) == len(hints)
        # every array argument has its in-place mistake
        modified = {m.modifies for m in get_exercise(name).input_mistakes.values()}
        assert modified == ({"dout", "cache"} if name == "layernorm_backward" else {"x", "gamma", "beta"})


# ----------------------------------------------------------------------------- outside the catalogue


def ln_one_pass_own_rounding(x, gamma, beta, *, eps=1e-5):
    """E[x^2] - E[x]^2 written another way than the catalogue's: still named."""
    axes = tuple(range(x.ndim - gamma.ndim, x.ndim))
    m = gamma.size
    s1 = x.sum(axis=axes, keepdims=True)
    s2 = (x * x).sum(axis=axes, keepdims=True)
    mean = s1 / m
    var = s2 / m - mean * mean
    inv_std = 1 / np.sqrt(var + eps)
    x_hat = (x - mean) * inv_std
    return gamma * x_hat + beta, (mean, inv_std, x_hat, gamma)


def gn_one_pass_own_rounding(x, gamma, beta, num_groups, *, eps=1e-5):
    n, c, h, w = x.shape
    grouped = x.reshape(n, num_groups, -1)
    mean = grouped.mean(axis=2)
    var = (grouped ** 2).mean(axis=2) - mean ** 2
    inv_std = 1 / np.sqrt(var + eps)
    x_hat = ((grouped - mean[..., None]) * inv_std[..., None]).reshape(x.shape)
    return gamma[:, None, None] * x_hat + beta[:, None, None], (mean, inv_std, x_hat, gamma)


@pytest.mark.parametrize("name,fn", [("layernorm_forward", ln_one_pass_own_rounding),
                                     ("groupnorm_forward", gn_one_pass_own_rounding)])
def test_a_one_pass_variance_with_its_own_rounding_is_named(name, fn):
    result = run_check(name, fn)
    assert result.status == "failed" and result.mistake_key == "one_pass_variance", result.message
    assert "large mean" in result.message.splitlines()[0]


def ln_stats_without_keepdims(x, gamma, beta, *, eps=1e-5):
    out, (mean, inv_std, x_hat, gamma) = reference("layernorm_forward")(x, gamma, beta, eps=eps)
    return out, (mean.reshape(mean.shape[:x.ndim - gamma.ndim]), inv_std.reshape(mean.shape[:x.ndim - gamma.ndim]),
                 x_hat, gamma)


def ln_float64_result(x, gamma, beta, *, eps=1e-5):
    return reference("layernorm_forward")(x.astype(np.float64), gamma.astype(np.float64), beta.astype(np.float64),
                                          eps=eps)


def ln_out_only(x, gamma, beta, *, eps=1e-5):
    return reference("layernorm_forward")(x, gamma, beta, eps=eps)[0]


def ln_std_in_cache(x, gamma, beta, *, eps=1e-5):
    out, (mean, inv_std, x_hat, gamma) = reference("layernorm_forward")(x, gamma, beta, eps=eps)
    return out, (mean, 1 / inv_std, x_hat, gamma)


@pytest.mark.parametrize("fn,says", [
    (ln_stats_without_keepdims, "cache.mean has shape (4,), expected (4, 1)"),
    (ln_float64_result, "dtype float64, expected float32"),
    (ln_out_only, "the result should be a tuple of 2 values, got a ndarray"),
    (ln_std_in_cache, "cache.inv_std has the wrong values"),
])
def test_wrong_layer_norms_outside_the_catalogue_get_a_hint_that_fits(fn, says):
    result = run_check("layernorm_forward", fn)
    assert result.status == "failed" and result.mistake_key is None, result.message
    assert says in result.message, result.message
    assert "batch axis" not in result.message.split("hint:")[1]


def gn_stats_keepdims(x, gamma, beta, num_groups, *, eps=1e-5):
    out, (mean, inv_std, x_hat, gamma) = reference("groupnorm_forward")(x, gamma, beta, num_groups, eps=eps)
    return out, (mean[..., None], inv_std[..., None], x_hat, gamma)


def gn_gamma_per_group(x, gamma, beta, num_groups, *, eps=1e-5):
    """One scale per group (the first channel's), not per channel."""
    out, cache = reference("groupnorm_forward")(x, gamma, beta, num_groups, eps=eps)
    per_group = np.repeat(gamma[::x.shape[1] // num_groups], x.shape[1] // num_groups)
    return per_group[None, :, None, None] * cache[2] + beta[None, :, None, None], cache


@pytest.mark.parametrize("fn,says", [(gn_stats_keepdims, "cache.mean has shape (2, 2, 1), expected (2, 2)"),
                                     (gn_gamma_per_group, "out has the wrong values")])
def test_wrong_group_norms_outside_the_catalogue_get_a_hint_that_fits(fn, says):
    result = run_check("groupnorm_forward", fn)
    assert result.status == "failed" and result.mistake_key is None, result.message
    assert says in result.message, result.message


def lnb_dx_only(dout, cache):
    return reference("layernorm_backward")(dout, cache)[0]


def lnb_float32_everything(dout, cache):
    return tuple(g.astype(np.float32) for g in reference("layernorm_backward")(dout, cache))


@pytest.mark.parametrize("fn,says", [(lnb_dx_only, "should be a tuple of 3 values"),
                                     (lnb_float32_everything, "dx has dtype float32, expected float64")])
def test_wrong_backwards_outside_the_catalogue_are_explained(fn, says):
    result = run_check("layernorm_backward", fn)
    assert result.status == "failed" and result.mistake_key is None, result.message
    assert says in result.message, result.message


# ----------------------------------------------------------------------------- answers that change their input

ARRAY_INPUTS = {"layernorm_forward": ("x", "gamma", "beta"), "layernorm_backward": ("dout", "cache"),
                "groupnorm_forward": ("x", "gamma", "beta")}


def _nudging(name, arg):
    """The reference, then one entry of ``arg`` (the last array in it) changed in place: not the catalogue's way."""
    ref = reference(name)
    signature = inspect.signature(ref)

    def answer(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        original = bound.arguments[arg]
        result = ref(**copy.deepcopy(bound.arguments))
        target = original if isinstance(original, np.ndarray) else original[-1]
        target.reshape(-1)[-1] += 0.5
        return result

    return answer


@pytest.mark.parametrize("name,arg", [(n, a) for n, args in ARRAY_INPUTS.items() for a in args])
def test_any_change_of_an_input_fails_and_says_why_the_caller_needs_it(name, arg):
    result = run_check(name, _nudging(name, arg))
    assert result.status == "failed", result.message
    assert "in place" in result.message and f"`{arg}" in result.message, result.message
    catalogued = [m for m in get_exercise(name).input_mistakes.values() if m.modifies == arg]
    assert result.mistake_key == catalogued[0].key and catalogued[0].hint in result.message
