"""Notebook 07 exercises: layer norm forward and backward (the compact form), group norm forward.

The references here are the textbook forms the notebook derives (readable: ``show_solution`` prints
them); tests check that they agree with ``coursekit.normalization``, the finished, numerically
hardened versions. Every wrong answer catalogued is one a learner coming from batch norm makes:
statistics over the batch axis (batch norm again), the unbiased variance, eps outside the square
root, gamma/beta (or their gradients) shaped per sample, only the last axis normalized, groups of
strided instead of consecutive channels, one group per channel, the paths through the mean and
the variance forgotten in backward.

Forward checks compare ``out`` and every cache entry (``mean``, ``inv_std``, ``x_hat``, ``gamma``,
in that order, statistics shaped as documented) with the reference, naming the first entry that
differs. The layer-norm backward is checked against central differences of the forward pass first,
then against the reference on more cases.
"""
from __future__ import annotations

import numpy as np

from ..gradcheck import numerical_gradient, numerical_gradients, rel_error
from ._core import (CheckFailed, Mistake, _copy_inputs, check_cases, compare_outputs, describe_difference,
                    modifies_input, register, set_case)
from ._core.comparison import more_outputs

_CACHE_FIELDS = ("mean", "inv_std", "x_hat", "gamma")
_GRADIENTS = ("dx", "dgamma", "dbeta")
_FLOAT64 = {"rtol": 1e-6, "atol": 1e-8}
_FLOAT32 = {"rtol": 1e-5, "atol": 1e-6}


# ----------------------------------------------------------------------------- references (what the notebook derives)


def layernorm_forward(x, gamma, beta, *, eps=1e-5):
    """Layer norm over the trailing ``gamma.ndim`` axes of x; returns ``(out, (mean, inv_std, x_hat, gamma))``.

    Shapes: x ``(N, ...) + normalized_shape``; gamma, beta ``normalized_shape``; out like x;
    mean and inv_std one per sample, keepdims: ``x.shape[:-k] + (1,) * k`` with k = gamma.ndim.
    """
    axes = tuple(range(x.ndim - gamma.ndim, x.ndim))          # the normalized (trailing) axes
    mean = x.mean(axis=axes, keepdims=True)                   # one per sample
    x_centered = x - mean
    var = np.mean(x_centered ** 2, axis=axes, keepdims=True)  # biased: divide by M
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = x_centered * inv_std
    out = gamma * x_hat + beta                                # one gamma, beta per normalized element
    return out, (mean, inv_std, x_hat, gamma)


def layernorm_backward(dout, cache):
    """Gradients of layer norm from its cache; returns ``(dx, dgamma, dbeta)``.

    ``dx = (inv_std / M) * (M * dx_hat - sum(dx_hat) - x_hat * sum(dx_hat * x_hat))`` with
    ``dx_hat = gamma * dout`` and the sums over each sample's M normalized values;
    ``dgamma``, ``dbeta`` (shaped like gamma) sum over the batch axes.
    """
    mean, inv_std, x_hat, gamma = cache
    axes = tuple(range(x_hat.ndim - gamma.ndim, x_hat.ndim))  # normalized axes: the sums of the formula
    batch_axes = tuple(range(x_hat.ndim - gamma.ndim))        # gamma and beta are shared by every sample
    m = gamma.size
    dx_hat = dout * gamma
    dx = (inv_std / m) * (m * dx_hat - dx_hat.sum(axis=axes, keepdims=True)
                          - x_hat * np.sum(dx_hat * x_hat, axis=axes, keepdims=True))
    dgamma = np.sum(dout * x_hat, axis=batch_axes)
    dbeta = dout.sum(axis=batch_axes)
    return dx, dgamma, dbeta


def groupnorm_forward(x, gamma, beta, num_groups, *, eps=1e-5):
    """Group norm of (N, C, H, W) maps; returns ``(out, (mean, inv_std, x_hat, gamma))``.

    Channels 0..C/G-1 form group 0, the next C/G group 1, ...; each (sample, group) is normalized
    over its (C/G)*H*W values. mean and inv_std have shape (N, G); gamma, beta (C,).
    """
    n, c, h, w = x.shape
    groups = x.reshape(n, num_groups, -1)                     # (N, G, C/G*H*W): one row per (sample, group)
    mean = groups.mean(axis=2, keepdims=True)
    var = np.mean((groups - mean) ** 2, axis=2, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = ((groups - mean) * inv_std).reshape(n, c, h, w)
    out = gamma.reshape(1, c, 1, 1) * x_hat + beta.reshape(1, c, 1, 1)  # per channel
    return out, (mean[:, :, 0], inv_std[:, :, 0], x_hat, gamma)


# ----------------------------------------------------------------------------- comparing (out, cache)


def _explain_forward(expected, got, tolerance) -> tuple[str, str | None] | None:
    """Why ``got`` differs from the reference ``(out, cache)``: (reason, where), naming the cache entry."""
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        return compare_outputs(expected, got, names=("out", "cache")) or "return (out, cache)", None
    cache = got[1]
    if not isinstance(cache, (tuple, list)) or len(cache) != len(_CACHE_FIELDS):
        length = f" of length {len(cache)}" if hasattr(cache, "__len__") else ""
        return (f"cache should be a tuple of {len(_CACHE_FIELDS)} values ({', '.join(_CACHE_FIELDS)}), got "
                f"{type(cache).__name__}{length}"), None
    names = ("out",) + tuple(f"cache.{field}" for field in _CACHE_FIELDS)
    for name, e, g in zip(names, (expected[0], *expected[1]), (got[0], *cache)):
        why = compare_outputs(e, g, path=name, **tolerance)
        if why:
            where = describe_difference(e, g, tolerance=(tolerance["rtol"], tolerance["atol"]))
            return why, (f"{name}: {where}" if where else None)
    return None


def _shifted_to_zero(inputs):
    """The same case with every sample moved to mean 0 (for the large-offset diagnosis)."""
    x = inputs["x"]
    return {**inputs, "x": x - x.mean(axis=tuple(range(1, x.ndim)), keepdims=True)}


def _passes_shifted(fn, reference, label, inputs, tolerance) -> bool:
    """Whether ``fn`` gets the case right once every sample is moved to mean 0 (then only the offset broke it)."""
    shifted = _shifted_to_zero(inputs)
    set_case(label + ", shifted to mean 0")
    try:
        got = fn(**_copy_inputs(shifted))
    except Exception:  # noqa: BLE001 - only refines the diagnosis
        return False
    return _explain_forward(reference(**_copy_inputs(shifted)), got, tolerance) is None


def _check_forward_cases(fn, reference, cases) -> int:
    """Each ``(label, inputs, tolerance)``: fn's (out, cache) must match the reference's; CheckFailed otherwise.

    A failure on a case with a large offset that disappears when the same samples are shifted to mean 0
    is the one-pass variance (E[x^2] - E[x]^2), whatever rounding the learner's version has.
    """
    passed = []
    try:
        for position, (label, inputs, tolerance) in enumerate(cases):
            set_case(label)
            expected = reference(**_copy_inputs(inputs))
            got = fn(**_copy_inputs(inputs))
            found = _explain_forward(expected, got, tolerance)
            if found:
                why, where = found
                fragile = None
                if "large mean" in label and _passes_shifted(fn, reference, label, inputs, tolerance):
                    fragile = "one_pass_variance"
                raise CheckFailed(label, inputs=inputs, expected=expected, got=got, reason=why, difference=where,
                                  tolerance=(tolerance["rtol"], tolerance["atol"]), mistake=fragile, passed=passed,
                                  more=more_outputs(fn, [case[1] for case in cases[position + 1:]]))
            passed.append((inputs, tolerance))
    finally:
        set_case(None)
    return len(cases)


def _one_pass_hint(where: str) -> str:
    return ("var = mean(x**2) - mean(x)**2 is right on paper but cancels catastrophically in floating point: for "
            f"samples around 1e6 with spread 1, mean(x**2) and mean(x)**2 agree in their first ~12 digits, so their "
            f"difference keeps only rounding noise. Center first, then square: var = np.mean((x - mean)**2, "
            f"{where}, keepdims=True) (two passes; x.var does the same).")


def _in_place_x(fn):
    return modifies_input(fn, "x", "x is the previous layer's output: its backward pass, and the cells after this "
                          "one, still read it; `x -= mean` turns it into x_centered",
                          fix="`x_centered = x - mean`, not `x -= mean`")


def _in_place_affine(fn):
    return tuple(modifies_input(fn, name, f"{name} is the layer's learned {what}: training continues from it",
                                fix=f"`out = gamma * x_hat + beta`, not `{name} *= ...`")
                 for name, what in (("gamma", "scale"), ("beta", "shift")))


# ----------------------------------------------------------------------------- layernorm_forward


def _ln_cases():
    rng = np.random.default_rng(7000)

    def case(shape, k, *, dtype=np.float64, scale=2.0, offset=0.5, **extra):
        x = rng.standard_normal(shape) * scale + offset
        return {"x": x.astype(dtype), "gamma": rng.uniform(0.5, 2.0, shape[len(shape) - k:]).astype(dtype),
                "beta": rng.standard_normal(shape[len(shape) - k:]).astype(dtype), **extra}

    square = case((4, 4), 1)
    square["x"] = square["x"] * np.array([[1.0], [3.0], [0.3], [2.0]]) + np.array([[0.0], [5.0], [-2.0], [1.0]])
    hand = {"x": np.array([[1.0, 3.0, 5.0, 7.0], [0.0, 0.0, 0.0, 8.0]]), "gamma": np.array([2.0, 1.0, 0.5, -1.0]),
            "beta": np.array([0.0, 1.0, -1.0, 0.5]), "eps": 4.0}
    flat = np.column_stack([1e-3 * rng.standard_normal(3), np.full(3, 2.5), rng.standard_normal(3),
                            rng.standard_normal(3)])
    return [
        ("x (4, 4): 4 samples of 4 features, each sample with its own mean and spread", square, _FLOAT64),
        ("hand-sized rows, x (2, 4), eps = 4 (var + eps is 9 and 16)", hand, _FLOAT64),
        ("a sequence batch, x (2, 3, 5) = (N, T, D) with gamma (5,): each of the 6 tokens normalized over its 5 "
         "features", case((2, 3, 5), 1), _FLOAT64),
        ("feature maps, x (2, 3, 2, 2) with gamma (3, 2, 2): each sample normalized over all 12 values",
         case((2, 3, 2, 2), 3), _FLOAT64),
        ("float32, x (6, 10), eps = 1e-3", case((6, 10), 1, dtype=np.float32, eps=1e-3), _FLOAT32),
        ("a nearly constant sample (std 1e-3) and a constant one (eps matters here), x (4, 3)",
         {"x": flat.T.copy(), "gamma": rng.uniform(0.5, 2.0, 3), "beta": rng.standard_normal(3)}, _FLOAT64),
        ("a batch of one sample, x (1, 7)", case((1, 7), 1), _FLOAT64),
        ("float64 samples with a large mean and a small spread (1e6 +- 1), x (4, 50)",
         case((4, 50), 1, scale=1.0, offset=1e6), _FLOAT64),
    ]


def _check_layernorm_forward(fn) -> str:
    n = _check_forward_cases(fn, layernorm_forward, _ln_cases())
    return (f"{n} cases ((N, D) rows, (N, T, D) tokens, (N, C, H, W) maps normalized over (C, H, W), float32, a "
            "nearly constant sample where eps matters, a batch of one, samples with a large mean) match the "
            "reference: out and every cache entry.")


def _ln_with(x, gamma, beta, eps, *, axes=None, ddof=0, eps_outside=False, gamma_shape=None, one_pass=False):
    """A wrong layer norm, parametrized by what it gets wrong."""
    k = gamma.ndim
    axes = tuple(range(x.ndim - k, x.ndim)) if axes is None else axes
    mean = x.mean(axis=axes, keepdims=True)
    if one_pass:
        var = np.mean(x ** 2, axis=axes, keepdims=True) - mean ** 2
    else:
        var = x.var(axis=axes, keepdims=True, ddof=ddof)
    inv_std = 1.0 / (np.sqrt(var) + eps) if eps_outside else 1.0 / np.sqrt(var + eps)
    x_hat = (x - mean) * inv_std
    g, b = (gamma, beta) if gamma_shape is None else (gamma.reshape(gamma_shape), beta.reshape(gamma_shape))
    return g * x_hat + b, (mean, inv_std, x_hat, gamma)


def _ln_batch_axis(x, gamma, beta, *, eps=1e-5):
    return _ln_with(x, gamma, beta, eps, axes=(0,))


def _ln_unbiased(x, gamma, beta, *, eps=1e-5):
    return _ln_with(x, gamma, beta, eps, ddof=1)


def _ln_eps_outside(x, gamma, beta, *, eps=1e-5):
    return _ln_with(x, gamma, beta, eps, eps_outside=True)


def _ln_gamma_per_sample(x, gamma, beta, *, eps=1e-5):
    return _ln_with(x, gamma, beta, eps, gamma_shape=(-1,) + (1,) * (x.ndim - 1))


def _ln_last_axis_only(x, gamma, beta, *, eps=1e-5):
    return _ln_with(x, gamma, beta, eps, axes=(-1,))


def _ln_one_pass(x, gamma, beta, *, eps=1e-5):
    return _ln_with(x, gamma, beta, eps, one_pass=True)


_BATCH_AXIS_HINT = ("You normalized over the batch axis (axis 0): that is batch norm, whose statistics mix the "
                    "samples of a batch. Layer norm normalizes each sample on its own, over its trailing "
                    "gamma.ndim axes: axes = tuple(range(x.ndim - gamma.ndim, x.ndim)), x.mean(axis=axes, "
                    "keepdims=True), one mean per sample.")

register(
    "layernorm_forward",
    reference=layernorm_forward,
    run_checks=_check_layernorm_forward,
    mistakes=(
        Mistake("batch_axis", _ln_batch_axis, _BATCH_AXIS_HINT),
        Mistake("unbiased_variance", _ln_unbiased,
                "You normalized with the unbiased variance (divide by M - 1). Layer norm, like batch norm and "
                "PyTorch's layer_norm, divides by M: np.mean((x - mean)**2, axis=axes, keepdims=True) = "
                "x.var(axis=axes, keepdims=True) (ddof=0)."),
        Mistake("eps_outside_sqrt", _ln_eps_outside,
                "eps goes inside the square root: 1/sqrt(var + eps), not 1/(sqrt(var) + eps). The two differ most "
                "for (nearly) constant samples, exactly where eps is needed."),
        Mistake("gamma_per_sample", _ln_gamma_per_sample,
                "gamma and beta are shaped per sample in your answer (one scale per row). The statistics are per "
                "sample, but gamma and beta are learned parameters, one per normalized element (shape "
                "normalized_shape = x.shape[-gamma.ndim:]) and shared by every sample: a new batch brings new "
                "samples, the parameters stay. Write gamma * x_hat + beta, which broadcasts over the batch axes."),
        Mistake("last_axis_only", _ln_last_axis_only,
                "You normalized over the last axis only. normalized_shape can have several axes: with gamma of "
                "shape (C, H, W) each sample is normalized over all C*H*W values. Use every trailing axis that "
                "gamma has: axes = tuple(range(x.ndim - gamma.ndim, x.ndim))."),
        Mistake("one_pass_variance", _ln_one_pass, _one_pass_hint("axis=axes")),
        _in_place_x(layernorm_forward),
        *_in_place_affine(layernorm_forward),
    ),
    generic_hint="axes = tuple(range(x.ndim - gamma.ndim, x.ndim)); mean = x.mean(axis=axes, keepdims=True); "
                 "var = np.mean((x - mean)**2, axis=axes, keepdims=True); inv_std = 1/np.sqrt(var + eps); "
                 "x_hat = (x - mean) * inv_std; return gamma * x_hat + beta, (mean, inv_std, x_hat, gamma).",
    output_names=("out", "cache"),
)

# ----------------------------------------------------------------------------- layernorm_backward


def _ln_numeric_gradients(x, gamma, beta, dout, eps):
    """Central differences of sum(layernorm_forward(x, gamma, beta) * dout) in x, gamma and beta."""
    return numerical_gradients(lambda x_, gamma_, beta_: layernorm_forward(x_, gamma_, beta_, eps=eps)[0],
                               (x, gamma, beta), dout)


def _gradient_cases():
    rng = np.random.default_rng(7100)
    cases = []
    for label, shape, k in (("gradient check against central differences, x (4, 6)", (4, 6), 1),
                            ("gradient check, a sequence batch x (2, 3, 4) = (N, T, D) with gamma (4,)", (2, 3, 4), 1)):
        x = rng.standard_normal(shape) * rng.uniform(0.5, 3.0, shape[-1]) + rng.uniform(-2.0, 2.0, shape[-1])
        gamma = rng.uniform(0.5, 2.0, shape[-k:]) * rng.choice([-1.0, 1.0], shape[-k:])
        cases.append((label, x, gamma, rng.standard_normal(shape[-k:]), rng.standard_normal(shape)))
    return cases


def _backward_cases():
    rng = np.random.default_rng(7200)

    def case(x, gamma, eps=1e-5):
        beta = rng.standard_normal(gamma.shape).astype(x.dtype)
        _, cache = layernorm_forward(x, gamma, beta, eps=eps)
        return {"dout": rng.standard_normal(x.shape).astype(x.dtype), "cache": cache}

    flat = np.vstack([np.full(5, 3.0), rng.standard_normal(5)])
    return [
        ("feature maps, x (2, 2, 3, 3) with gamma (2, 3, 3)",
         case(rng.standard_normal((2, 2, 3, 3)) + 1.0, rng.uniform(0.5, 2.0, (2, 3, 3))), _FLOAT64),
        ("a batch of one sample, x (1, 5)", case(rng.standard_normal((1, 5)), rng.uniform(0.5, 2.0, 5)), _FLOAT64),
        ("a constant sample (variance 0), x (2, 5)", case(flat, np.array([2.0, -1.0, 0.5, 1.0, 1.5])), _FLOAT64),
        ("x (5, 8), eps 1e-3", case(rng.standard_normal((5, 8)) * 3.0, rng.standard_normal(8), eps=1e-3), _FLOAT64),
        ("float32, x (3, 6)", case(rng.standard_normal((3, 6)).astype(np.float32),
                                   rng.uniform(0.5, 2.0, 6).astype(np.float32)), _FLOAT32),
    ]


def _check_layernorm_backward(fn) -> str:
    errors, passed = [], []
    for label, x, gamma, beta, dout in _gradient_cases():
        _, cache = layernorm_forward(x, gamma, beta)
        numeric = _ln_numeric_gradients(x, gamma, beta, dout, 1e-5)
        inputs = {"dout": dout, "cache": cache}
        set_case(label)
        got = fn(dout=dout.copy(), cache=tuple(np.copy(c) for c in cache))
        why = compare_outputs(numeric, got, rtol=1e-5, atol=1e-8, check_dtype=False, names=_GRADIENTS)
        if why:
            detail = ""
            if isinstance(got, (tuple, list)) and len(got) == 3 and all(
                    isinstance(g, np.ndarray) and g.shape == e.shape for g, e in zip(got, numeric)):
                detail = " (relative errors dx {:.1e}, dgamma {:.1e}, dbeta {:.1e}; want < 1e-6)".format(
                    *(rel_error(g, e) for g, e in zip(got, numeric)))
            raise CheckFailed(label, inputs=inputs, expected=numeric, got=got, reason=why + detail,
                              tolerance=(1e-5, 1e-8), passed=passed)
        errors += [rel_error(g, e) for g, e in zip(got, numeric)]
        passed.append((inputs, {"rtol": 1e-6, "atol": 1e-9}))
    n = check_cases(fn, layernorm_backward, _backward_cases())
    return (f"dx, dgamma, dbeta agree with central differences of the forward pass on (N, D) rows and (N, T, D) "
            f"tokens (largest relative error {max(errors):.1e}), and {n} more cases ((N, C, H, W) maps, a batch of "
            "one, a constant sample, eps 1e-3, float32) match the reference.")


def _unpack(cache):
    mean, inv_std, x_hat, gamma = cache
    k = gamma.ndim
    return (inv_std, x_hat, gamma, tuple(range(x_hat.ndim - k, x_hat.ndim)), tuple(range(x_hat.ndim - k)),
            gamma.size)


def _ln_back_no_mean_term(dout, cache):
    inv_std, x_hat, gamma, axes, lead, m = _unpack(cache)
    dx_hat = dout * gamma
    dx = inv_std * (dx_hat - x_hat * np.mean(dx_hat * x_hat, axis=axes, keepdims=True))
    return dx, np.sum(dout * x_hat, axis=lead), dout.sum(axis=lead)


def _ln_back_constants(dout, cache):
    inv_std, x_hat, gamma, axes, lead, m = _unpack(cache)
    return dout * gamma * inv_std, np.sum(dout * x_hat, axis=lead), dout.sum(axis=lead)


def _ln_back_no_gamma(dout, cache):
    inv_std, x_hat, gamma, axes, lead, m = _unpack(cache)
    dx = inv_std * (dout - dout.mean(axis=axes, keepdims=True)
                    - x_hat * np.mean(dout * x_hat, axis=axes, keepdims=True))
    return dx, np.sum(dout * x_hat, axis=lead), dout.sum(axis=lead)


def _ln_back_batch_axis(dout, cache):
    inv_std, x_hat, gamma, axes, lead, m = _unpack(cache)
    dx_hat = dout * gamma
    dx = inv_std * (dx_hat - dx_hat.mean(axis=0, keepdims=True)
                    - x_hat * np.mean(dx_hat * x_hat, axis=0, keepdims=True))
    return dx, np.sum(dout * x_hat, axis=lead), dout.sum(axis=lead)


def _ln_back_per_sample(dout, cache):
    inv_std, x_hat, gamma, axes, lead, m = _unpack(cache)
    dx, _, _ = layernorm_backward(dout, cache)
    return dx, np.sum(dout * x_hat, axis=axes), dout.sum(axis=axes)


def _ln_back_first_axis_only(dout, cache):
    inv_std, x_hat, gamma, axes, lead, m = _unpack(cache)
    dx, _, _ = layernorm_backward(dout, cache)
    return dx, np.sum(dout * x_hat, axis=0), dout.sum(axis=0)


def _ln_back_missing_1_over_m(dout, cache):
    inv_std, x_hat, gamma, axes, lead, m = _unpack(cache)
    dx_hat = dout * gamma
    dx = inv_std * (m * dx_hat - dx_hat.sum(axis=axes, keepdims=True)
                    - x_hat * np.sum(dx_hat * x_hat, axis=axes, keepdims=True))
    return dx, np.sum(dout * x_hat, axis=lead), dout.sum(axis=lead)


def _ln_back_swapped(dout, cache):
    dx, dgamma, dbeta = layernorm_backward(dout, cache)
    return dx, dbeta, dgamma


register(
    "layernorm_backward",
    reference=layernorm_backward,
    run_checks=_check_layernorm_backward,
    mistakes=(
        Mistake("forgot_mean_term", _ln_back_no_mean_term,
                "The mean depends on every value of the sample, so each x also gets gradient through it: dx needs "
                "the term -sum(dx_hat)/M over the normalized axes. Without it each sample's dx does not sum to "
                "zero (adding a constant to a sample changes nothing after layer norm, so it must)."),
        Mistake("stats_as_constants", _ln_back_constants,
                "dx = gamma * dout * inv_std treats the sample's mean and variance as constants, but they are "
                "computed from x: add the paths through the mean and through the variance (the two sums of the "
                "compact form)."),
        Mistake("forgot_gamma", _ln_back_no_gamma,
                "The gradient reaching x_hat is dx_hat = gamma * dout: the scale gamma is missing from dx."),
        Mistake("batch_axis_sums", _ln_back_batch_axis,
                "Your sums run over the batch axis (axis 0), as in batch norm's backward. In layer norm the mean "
                "and variance are each sample's own, so the two sums of dx run over the sample's normalized axes "
                "(the trailing gamma.ndim axes), keepdims=True."),
        Mistake("dgamma_per_sample", _ln_back_per_sample,
                "dgamma and dbeta come out shaped per sample. gamma and beta are shared by every sample (one per "
                "normalized element), so their gradients have gamma's shape: sum dout * x_hat and dout over the "
                "batch (leading) axes, not over the normalized ones."),
        Mistake("dgamma_first_axis_only", _ln_back_first_axis_only,
                "dgamma and dbeta must sum over every leading axis, not only axis 0: for tokens x (N, T, D) with "
                "gamma (D,) every one of the N*T tokens used gamma, so sum over axes (0, 1): "
                "batch_axes = tuple(range(x_hat.ndim - gamma.ndim))."),
        Mistake("missing_1_over_m", _ln_back_missing_1_over_m,
                "The compact form has a 1/M in front, M the number of normalized values per sample (gamma.size): "
                "dx = (inv_std / M) * (M * dx_hat - sum(dx_hat) - x_hat * sum(dx_hat * x_hat))."),
        Mistake("swapped_dgamma_dbeta", _ln_back_swapped,
                "dgamma and dbeta are swapped. out = gamma * x_hat + beta, so dbeta = sum(dout) and dgamma = "
                "sum(dout * x_hat) over the batch axes; return (dx, dgamma, dbeta) in that order."),
        modifies_input(layernorm_backward, "dout",
                       "dout is the upstream gradient: it may feed other branches of the network, and the gradient "
                       "check calls backward again with the same dout",
                       fix="`dx_hat = gamma * dout`, a new array, not `dout *= gamma`"),
        modifies_input(layernorm_backward, "cache",
                       "the cache belongs to the forward pass: computing the gradient again (a gradient check, or a "
                       "second loss) must start from the same x_hat, inv_std and gamma",
                       fix="`dx_hat = gamma * dout`, not `x_hat *= ...` or `gamma *= ...`", container=True),
    ),
    generic_hint="The cache holds (mean, inv_std, x_hat, gamma); the normalized axes are the trailing gamma.ndim "
                 "axes, the batch axes the others, M = gamma.size. With dx_hat = gamma * dout: dx = (inv_std / M) * "
                 "(M * dx_hat - dx_hat.sum(over the normalized axes, keepdims=True) - x_hat * (dx_hat * "
                 "x_hat).sum(over the normalized axes, keepdims=True)); dgamma = sum of dout * x_hat and dbeta = sum "
                 "of dout, both over the batch axes.",
    output_names=_GRADIENTS,
)

# ----------------------------------------------------------------------------- groupnorm_forward


def _gn_cases():
    rng = np.random.default_rng(7300)

    def case(shape, groups, *, dtype=np.float64, offset=None, scale=None, **extra):
        n, c = shape[:2]
        offset = rng.uniform(-3.0, 3.0, (1, c, 1, 1)) if offset is None else offset
        scale = rng.uniform(0.3, 3.0, (1, c, 1, 1)) if scale is None else scale
        x = rng.standard_normal(shape) * scale + offset
        return {"x": x.astype(dtype), "gamma": rng.uniform(0.5, 2.0, c).astype(dtype),
                "beta": rng.standard_normal(c).astype(dtype), "num_groups": groups, **extra}

    constant = case((2, 4, 2, 2), 2)
    constant["x"][0, :2] = 1.5  # sample 0, group 0: one value, variance 0
    return [
        ("x (2, 4, 2, 2), 2 groups: channels 0-1 and 2-3", case((2, 4, 2, 2), 2), _FLOAT64),
        ("x (3, 6, 3, 3), 3 groups of 2 channels with different offsets", case((3, 6, 3, 3), 3), _FLOAT64),
        ("x (2, 4, 3, 3), 1 group (each sample's whole map, as layer norm)", case((2, 4, 3, 3), 1), _FLOAT64),
        ("x (2, 4, 3, 3), 4 groups of 1 channel (instance norm)", case((2, 4, 3, 3), 4), _FLOAT64),
        ("float32, x (4, 8, 4, 4), 4 groups, eps = 1e-3", case((4, 8, 4, 4), 4, dtype=np.float32, eps=1e-3),
         _FLOAT32),
        ("a constant group (sample 0, channels 0-1): eps matters there, x (2, 4, 2, 2), 2 groups", constant,
         _FLOAT64),
        ("a batch of one sample, x (1, 6, 2, 3), 2 groups", case((1, 6, 2, 3), 2), _FLOAT64),
        ("float64 maps with a large mean and a small spread (1e6 +- 1), x (2, 4, 3, 3), 2 groups",
         case((2, 4, 3, 3), 2, offset=1e6, scale=1.0), _FLOAT64),
    ]


def _check_groupnorm_forward(fn) -> str:
    n = _check_forward_cases(fn, groupnorm_forward, _gn_cases())
    return (f"{n} cases (2, 3 and 4 groups, 1 group as layer norm, one channel per group as instance norm, float32, "
            "a constant group where eps matters, a batch of one, maps with a large mean) match the reference: out "
            "and every cache entry.")


def _gn_with(x, gamma, beta, num_groups, eps, *, view=None, axes=(2,), ddof=0, eps_outside=False, one_pass=False):
    """A wrong group norm, parametrized by what it gets wrong. ``view(x)`` reshapes x into rows of groups."""
    n, c, h, w = x.shape
    groups = x.reshape(n, num_groups, -1) if view is None else view(x)
    mean = groups.mean(axis=axes, keepdims=True)
    if one_pass:
        var = np.mean(groups ** 2, axis=axes, keepdims=True) - mean ** 2
    else:
        var = groups.var(axis=axes, keepdims=True, ddof=ddof)
    inv_std = 1.0 / (np.sqrt(var) + eps) if eps_outside else 1.0 / np.sqrt(var + eps)
    x_hat = (groups - mean) * inv_std
    if view is not None:  # back to (N, C, H, W) in the channel order of x
        x_hat = x_hat.reshape(n, num_groups, c // num_groups, h, w).transpose(0, 2, 1, 3, 4)
    x_hat = x_hat.reshape(n, c, h, w)
    out = gamma.reshape(1, c, 1, 1) * x_hat + beta.reshape(1, c, 1, 1)
    stats_shape = (n, -1) if mean.shape[0] == n else (1, -1)
    return out, (np.broadcast_to(mean.reshape(stats_shape), (n, mean.size // mean.shape[0])).copy(),
                 np.broadcast_to(inv_std.reshape(stats_shape), (n, inv_std.size // inv_std.shape[0])).copy(),
                 x_hat, gamma)


def _gn_batch_axis(x, gamma, beta, num_groups, *, eps=1e-5):
    return _gn_with(x, gamma, beta, num_groups, eps, axes=(0, 2))


def _gn_per_channel(x, gamma, beta, num_groups, *, eps=1e-5):
    return _gn_with(x, gamma, beta, x.shape[1], eps)


def _gn_strided(x, gamma, beta, num_groups, *, eps=1e-5):
    n, c, h, w = x.shape
    strided = lambda v: v.reshape(n, c // num_groups, num_groups, h, w).transpose(0, 2, 1, 3, 4).reshape(  # noqa
        n, num_groups, -1)
    return _gn_with(x, gamma, beta, num_groups, eps, view=strided)


def _gn_unbiased(x, gamma, beta, num_groups, *, eps=1e-5):
    return _gn_with(x, gamma, beta, num_groups, eps, ddof=1)


def _gn_eps_outside(x, gamma, beta, num_groups, *, eps=1e-5):
    return _gn_with(x, gamma, beta, num_groups, eps, eps_outside=True)


def _gn_one_pass(x, gamma, beta, num_groups, *, eps=1e-5):
    return _gn_with(x, gamma, beta, num_groups, eps, one_pass=True)


register(
    "groupnorm_forward",
    reference=groupnorm_forward,
    run_checks=_check_groupnorm_forward,
    mistakes=(
        Mistake("batch_axis", _gn_batch_axis,
                "Your statistics include the batch axis: each group's mean is taken over all samples of the batch, "
                "which ties every sample to the others as batch norm does. Group norm normalizes each (sample, "
                "group) on its own: groups = x.reshape(N, G, -1), then mean and var over axis 2 only."),
        Mistake("one_group_per_channel", _gn_per_channel,
                "You normalized each channel on its own (that is instance norm, num_groups = C). A group holds "
                "C/G consecutive channels, normalized together: x.reshape(N, num_groups, -1) puts channels "
                "0..C/G-1 of a sample into row 0, the next C/G into row 1, and so on."),
        Mistake("strided_groups", _gn_strided,
                "Your groups hold every G-th channel (channels c with the same c % G), e.g. from "
                "x.reshape(N, C // G, G, H, W). PyTorch's groups are consecutive channels: 0..C/G-1 form group 0; "
                "x.reshape(N, G, C // G, H, W) (or x.reshape(N, G, -1)) gives them."),
        Mistake("unbiased_variance", _gn_unbiased,
                "You normalized with the unbiased variance (divide by M - 1). Group norm divides by M, the number "
                "of values in the group: np.mean((groups - mean)**2, axis=2, keepdims=True) (ddof=0)."),
        Mistake("eps_outside_sqrt", _gn_eps_outside,
                "eps goes inside the square root: 1/sqrt(var + eps), not 1/(sqrt(var) + eps). The two differ most "
                "for (nearly) constant groups, exactly where eps is needed."),
        Mistake("one_pass_variance", _gn_one_pass, _one_pass_hint("axis=2")),
        _in_place_x(groupnorm_forward),
        *_in_place_affine(groupnorm_forward),
    ),
    generic_hint="groups = x.reshape(N, num_groups, -1); mean, var over axis 2 (keepdims=True, var biased); "
                 "x_hat = ((groups - mean) / sqrt(var + eps)).reshape(N, C, H, W); out = gamma.reshape(1, C, 1, 1) "
                 "* x_hat + beta.reshape(1, C, 1, 1); cache = (mean (N, G), inv_std (N, G), x_hat, gamma).",
    output_names=("out", "cache"),
)
