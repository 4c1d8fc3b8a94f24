"""Which catalogued mistake a wrong answer made, and the hint it deserves.

A hint must never name a mistake the learner did not make. So a catalogued mistake is
diagnosed only when its implementation reproduces the learner's wrong output on the failing
case and on the few later cases the check also ran (``CheckFailed.more``), *and* gets right
every case the learner got right before it (``CheckFailed.passed``);
an output with no finite value at all (all NaN, all inf) matches no mistake. Otherwise the hint
describes what the output shows (NaN, inf, a wrong shape or dtype, None, an array where a
number was expected, two results swapped) and then the exercise's formula.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .comparison import _swap_partner, compare_outputs
from .inputs import _copy_inputs
from .outcome import CheckFailed
from .registry import Exercise, all_mistakes


def diagnose(ex: Exercise, failure: CheckFailed) -> tuple[str | None, str]:
    """``(mistake key or None, hint)`` for a failed check.

    The check's own diagnosis comes first (``failure.mistake``, then ``failure.hint``), then a
    catalogued mistake that reproduces the output, then a swap of two results, then what the
    output itself shows, then the exercise's generic hint.
    """
    if failure.mistake is not None:
        known = all_mistakes(ex.name)
        if failure.mistake not in known:
            raise KeyError(f"check of {ex.name!r} names unknown mistake {failure.mistake!r}")
        return failure.mistake, known[failure.mistake].hint
    if failure.hint:
        return None, failure.hint
    key, hint = _diagnose(ex, failure)
    if hint is not None:
        return key, hint
    hint = _swap_hint(ex, failure) or _symptom_hint(ex, failure)
    return None, hint or ex.generic_hint


def _diagnose(ex: Exercise, failure: CheckFailed) -> tuple[str | None, str | None]:
    """Which catalogued mistake reproduces the learner's wrong output on the failing inputs (and passes
    the cases the learner passed)."""
    if failure.inputs is None or _nothing_finite(failure.got):
        return None, None
    for m in ex.mistakes.values():
        if (_reproduces(m.implementation, failure.inputs, failure.got)
                and all(_reproduces(m.implementation, inputs, got) for inputs, got in failure.more)
                and _passes(m.implementation, ex, failure.passed)):
            return m.key, m.hint
    return None, None


def _reproduces(implementation, inputs: dict, got: Any) -> bool:
    try:
        with np.errstate(all="ignore"):
            produced = implementation(**_copy_inputs(inputs))
    except Exception:  # noqa: BLE001 - a mistake that crashes here simply does not match
        return False
    return compare_outputs(produced, got, rtol=1e-8, atol=1e-10, check_dtype=False) is None


def _passes(implementation, ex: Exercise, passed: list[tuple[dict, dict]]) -> bool:
    """Whether ``implementation`` also gets right the cases the learner got right."""
    for inputs, tolerances in passed:
        try:
            with np.errstate(all="ignore"):
                expected = ex.reference(**_copy_inputs(inputs))
                produced = implementation(**_copy_inputs(inputs))
        except Exception:  # noqa: BLE001
            return False
        if compare_outputs(expected, produced, **tolerances) is not None:
            return False
    return True


def _arrays(value: Any) -> list[np.ndarray]:
    """Every numeric array (or number) in ``value``, tuples and lists followed."""
    if isinstance(value, (tuple, list)):
        return [a for item in value for a in _arrays(item)]
    if isinstance(value, (bool, np.bool_)) or value is None:
        return []
    if isinstance(value, (int, float, np.number, np.ndarray)):
        array = np.asarray(value)
        return [array] if array.dtype.kind in "iufc" else []
    return []


def _nothing_finite(got: Any) -> bool:
    """An output whose numbers are all NaN or inf (and there are some): no catalogued mistake explains it."""
    arrays = _arrays(got)
    sizes = sum(a.size for a in arrays)
    return bool(sizes) and not any(np.isfinite(a).any() for a in arrays if a.size)


def _swap_hint(ex: Exercise, failure: CheckFailed) -> str | None:
    expected, got = failure.expected, failure.got
    if not (isinstance(expected, tuple) and isinstance(got, (tuple, list)) and len(got) == len(expected)):
        return None
    rtol, atol = failure.tolerance or (1e-6, 1e-8)
    names = ex.output_names if ex.output_names and len(ex.output_names) == len(expected) else \
        tuple(f"item {i}" for i in range(len(expected)))
    for i in range(len(expected)):
        if compare_outputs(expected[i], got[i], rtol=rtol, atol=atol, check_dtype=False):
            j = _swap_partner(expected, got, i, rtol=rtol, atol=atol, check_dtype=False)
            if j is not None:
                return (f"Your {names[min(i, j)]} and {names[max(i, j)]} are right but swapped. Return the values in "
                        f"the order the docstring lists them: ({', '.join(names)}).")
            return None
    return None


_NAN_HINT = ("{what} NaN where a number was expected{extent}. A NaN comes from 0 / 0, inf - inf, 0 * inf, the log or "
             "square root of a negative number, or an array that was never filled in (np.empty); once there, it "
             "spreads to everything computed from it. Print the intermediate results of your function on this case "
             "to find the first one that holds NaN.")
_INF_HINT = ("{what} inf where a finite number was expected{extent}: something overflowed (exp of a large number, a "
             "division by a number close to 0) or took log(0). Print the intermediate results of your function on "
             "this case to find the first one that holds inf.")


def _first_wrong(expected: Any, got: Any, names: tuple[str, ...] | None, rtol, atol) -> tuple[str, Any, Any]:
    """The first item of a tuple result that differs (its name, expected, got); the whole result otherwise."""
    if isinstance(expected, tuple) and isinstance(got, (tuple, list)) and len(got) == len(expected):
        labels = names if names and len(names) == len(expected) else [f"item {i}" for i in range(len(expected))]
        for label, e, g in zip(labels, expected, got):
            if compare_outputs(e, g, rtol=rtol, atol=atol, check_dtype=False):
                return f"`{label}`", e, g
    return "your result", expected, got


def _extent(bad: np.ndarray) -> str:
    if bad.size <= 1:
        return ""
    count = int(bad.sum())
    return " in every entry" if count == bad.size else f" in {count} of {bad.size} entries"


def _symptom_hint(ex: Exercise, failure: CheckFailed) -> str | None:
    """A hint from what the wrong output shows, followed by the exercise's formula."""
    if not failure.show_values:
        return None
    rtol, atol = failure.tolerance or (1e-6, 1e-8)
    what, expected, got = _first_wrong(failure.expected, failure.got, ex.output_names, rtol, atol)
    text = None
    if got is None and expected is not None:
        text = (f"{what.capitalize() if what == 'your result' else what} is None: the function reaches its end "
                "without a `return` statement (or returns the result of an in-place method such as list.append).")
    elif isinstance(expected, (int, float, np.number)) and not isinstance(expected, (bool, np.bool_)) \
            and isinstance(got, np.ndarray) and got.ndim > 0:
        text = (f"{what} must be one number, not an array of shape {got.shape}: return a scalar, e.g. "
                "float(np.mean(...)), or reduce without keepdims=True.")
    elif isinstance(expected, np.ndarray) and isinstance(got, np.ndarray) and got.shape != expected.shape:
        text = (f"{what} has shape {got.shape}, but {expected.shape} is expected: check the axis of every sum or "
                "mean (and keepdims), and which arrays broadcast against each other.")
    elif isinstance(expected, np.ndarray) and isinstance(got, np.ndarray) and got.dtype != expected.dtype:
        text = (f"{what} has dtype {got.dtype}, but {expected.dtype} is expected: keep the input's dtype (a float64 "
                "constant array or a random draw mixed into a float32 computation makes it float64; cast with "
                ".astype(x.dtype)).")
    else:
        arrays = _arrays(got)
        expected_arrays = _arrays(expected)
        if arrays and len(arrays) == len(expected_arrays) and all(a.shape == e.shape for a, e in
                                                                   zip(arrays, expected_arrays)):
            with np.errstate(all="ignore"):
                nan = np.concatenate([(np.isnan(a) & ~np.isnan(e)).reshape(-1).astype(bool)
                                      for a, e in zip(arrays, expected_arrays)])
                inf = np.concatenate([(np.isinf(a) & np.isfinite(e)).reshape(-1).astype(bool)
                                      for a, e in zip(arrays, expected_arrays)])
            shown = what.capitalize() if what == "your result" else what
            verb = "holds" if what != "your result" else "holds"
            if nan.any():
                text = _NAN_HINT.format(what=f"{shown} {verb}", extent=_extent(nan))
            elif inf.any():
                text = _INF_HINT.format(what=f"{shown} {verb}", extent=_extent(inf))
    if text is None:
        return None
    return f"{text} The formula: {ex.generic_hint}"
