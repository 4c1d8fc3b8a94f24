"""Comparing the learner's output with the reference's: a sentence saying why they differ
(``compare_outputs``), where they first differ (``describe_difference``), and running a list of
cases (``check_cases``)."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .display import _clip, _precise, format_value
from .guard import _active, set_case
from .inputs import _GENERIC_WHY, _changed, _copy_inputs, _in_place_hint, _snapshot
from .outcome import CheckFailed


def _first_difference(expected: np.ndarray, got: np.ndarray, tolerance) -> str | None:
    e64, g64 = expected.astype(np.float64), got.astype(np.float64)
    same = (e64 == g64) | (np.isnan(e64) & np.isnan(g64))
    if tolerance is not None:
        with np.errstate(all="ignore"):
            same |= np.isclose(g64, e64, rtol=tolerance[0], atol=tolerance[1], equal_nan=True)
    bad = ~same
    if not bad.any():
        bad = (e64 != g64) & ~(np.isnan(e64) & np.isnan(g64))
        if not bad.any():
            return None
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    shown = index if len(index) != 1 else f"[{index[0]}]"
    text = f"at index {shown}: expected {_precise(expected[index])}, got {_precise(got[index])}"
    if expected.size > 1:
        with np.errstate(all="ignore"):
            gap = np.abs(e64 - g64)[bad]
        finite = gap[np.isfinite(gap)]
        text += f" ({int(bad.sum())} of {expected.size} entries differ"
        text += f"; largest difference {finite.max():.3g})" if finite.size else ")"
    return text


def _tolerance_text(tolerance) -> str:
    rtol, atol = tolerance
    atol = np.asarray(atol, dtype=np.float64)
    return f"rtol {rtol:g}, atol {float(atol):g}" if atol.ndim == 0 else \
        f"rtol {rtol:g}, atol up to {float(atol.max()):g} (it grows with the inputs' magnitude)"


def describe_difference(expected: Any, got: Any, *, tolerance: tuple[float, float] | None = None,
                        names: tuple[str, ...] | None = None) -> str | None:
    """Where ``got`` first differs from ``expected``, with every digit; None when there is nothing to point at.

    Arrays of the same shape: the first differing index, the two values there, how many
    entries differ. Numbers: both values in full precision and their relative difference.
    Tuples: the first differing item. Never raises.
    """
    try:
        return _describe_difference(expected, got, tolerance, names)
    except Exception:  # noqa: BLE001
        return None


def _describe_difference(expected, got, tolerance, names) -> str | None:
    if isinstance(expected, tuple) and isinstance(got, (tuple, list)) and len(got) == len(expected):
        labels = names if names and len(names) == len(expected) else [f"item {i}" for i in range(len(expected))]
        for label, e, g in zip(labels, expected, got):
            if compare_outputs(e, g, rtol=(tolerance or (0, 0))[0], atol=(tolerance or (0, 0))[1]):
                inner = _describe_difference(e, g, tolerance, None)
                return f"{label}: {inner}" if inner else None
        return None
    if isinstance(expected, np.ndarray) and isinstance(got, np.ndarray):
        if expected.shape != got.shape or not (np.issubdtype(got.dtype, np.number) or got.dtype == bool):
            return None
        return _first_difference(expected, got, tolerance)
    numbers = (int, float, np.number)
    if (isinstance(expected, numbers) and not isinstance(expected, (bool, np.bool_))
            and isinstance(got, numbers) and not isinstance(got, (bool, np.bool_))):
        e, g = float(expected), float(got)
        if e == g or (np.isnan(e) and np.isnan(g)):
            return None
        text = f"expected {_precise(expected)}, got {_precise(got)}"
        if np.isfinite(e) and np.isfinite(g) and e != 0:
            text += f" (relative difference {abs(g - e) / abs(e):.2g}"
            text += f"; the check allows {_tolerance_text(tolerance)})" if tolerance else ")"
        return text
    return None


# ----------------------------------------------------------------------------- comparing outputs

def compare_outputs(expected: Any, got: Any, *, rtol: float = 1e-6, atol: float = 1e-8, check_dtype: bool = True,
                    path: str = "the result", names: tuple[str, ...] | None = None) -> str | None:
    """Why ``got`` differs from ``expected`` (a sentence), or None when they match.

    ``names`` names the items of a tuple result (``("dx", "dgamma", "dbeta")``); two items
    that hold each other's values are reported as swapped. ``atol`` may be an array that
    broadcasts against an array result (a per-entry tolerance, e.g. one that grows with the
    magnitude of the inputs the entry was computed from). A number is expected to be a number
    (a Python or NumPy scalar, or a 0-d array): an array of shape (1,) is reported as such.

    Never raises: whatever ``got`` is (a ragged list, an array where a list was expected, a
    huge int), the answer is a sentence, so a check cell cannot crash on a learner's output.
    """
    try:
        return _compare_outputs(expected, got, rtol=rtol, atol=atol, check_dtype=check_dtype, path=path,
                                names=names)
    except Exception as exc:  # noqa: BLE001
        return (f"{path} ({type(got).__name__} {format_value(got, limit=80)}) cannot be compared with the "
                f"expected {type(expected).__name__}: {type(exc).__name__}: {_clip(str(exc), 200)}")


def _swap_partner(expected: tuple, got, i: int, **tolerances) -> int | None:
    for j in range(len(expected)):
        if j != i and compare_outputs(expected[i], got[j], **tolerances) is None \
                and compare_outputs(expected[j], got[i], **tolerances) is None:
            return j
    return None


def _compare_outputs(expected: Any, got: Any, *, rtol: float, atol: float, check_dtype: bool,
                     path: str, names: tuple[str, ...] | None) -> str | None:
    if got is None and expected is not None:
        return f"{path} is None: did you forget the `return` statement?"
    if isinstance(expected, tuple):
        if not isinstance(got, (tuple, list)):
            return f"{path} should be a tuple of {len(expected)} values, got a {type(got).__name__}"
        if len(got) != len(expected):
            return f"{path} should have {len(expected)} values, got {len(got)}"
        labels = (list(names) if names and len(names) == len(expected)
                  else [f"item {i} of {path}" for i in range(len(expected))])
        tolerances = {"rtol": rtol, "atol": atol, "check_dtype": check_dtype}
        for i, (e, g) in enumerate(zip(expected, got)):
            why = compare_outputs(e, g, path=labels[i], **tolerances)
            if why:
                j = _swap_partner(expected, got, i, **tolerances)
                if j is not None:
                    return (f"{labels[i]} and {labels[j]} are swapped: each holds the value the other should "
                            f"(return them in the order {', '.join(labels)})")
                return why
        return None
    if isinstance(expected, np.ndarray):
        if not isinstance(got, np.ndarray):
            if np.ndim(got) == 0 and expected.ndim > 0:
                return f"{path} should be an array of shape {expected.shape}, got the scalar {format_value(got)}"
            got = np.asarray(got)
        if got.shape != expected.shape:
            return f"{path} has shape {got.shape}, expected {expected.shape}"
        if check_dtype and got.dtype != expected.dtype:
            return f"{path} has dtype {got.dtype}, expected {expected.dtype} (keep the input's dtype)"
        if not np.issubdtype(got.dtype, np.number) and got.dtype != bool:
            return f"{path} has non-numeric dtype {got.dtype}"
        if expected.dtype == bool or np.issubdtype(expected.dtype, np.integer):
            return None if np.array_equal(expected, got) else f"{path} has the wrong values"
        e64, g64 = expected.astype(np.float64), got.astype(np.float64)
        if np.any(np.isnan(g64) & ~np.isnan(e64)):
            return f"{path} contains NaN where a number was expected"
        if np.any(np.isinf(g64) & ~np.isinf(e64)):
            return f"{path} contains inf where a finite number was expected (overflow?)"
        if np.all(np.isinf(atol)):  # structure-only comparison (numpy < 2 computes inf * 0 = nan in allclose)
            return None
        return None if np.allclose(g64, e64, rtol=rtol, atol=atol, equal_nan=True) else f"{path} has the wrong values"
    if isinstance(expected, (bool, np.bool_)):
        return None if isinstance(got, (bool, np.bool_)) and bool(got) == bool(expected) else f"{path} is {got!r}, expected {expected!r}"
    if isinstance(expected, (int, float, np.number)):
        if isinstance(got, np.ndarray) and got.ndim > 0:
            held = ""
            if got.size == 1 and np.issubdtype(got.dtype, np.number):
                value = got.reshape(-1)[0].item()
                same = _compare_outputs(expected, value, rtol=rtol, atol=atol, check_dtype=check_dtype, path=path,
                                        names=None) is None
                held = f" holding {'the right value' if same else format_value(value)}"
            return (f"{path} should be one number, got an array of shape {got.shape}{held} (a 0-d result: "
                    "float(...), or a reduction without keepdims)")
        if isinstance(got, np.ndarray):
            got = got.item()
        if not isinstance(got, (int, float, np.number)) or isinstance(got, bool):
            return f"{path} should be a number, got {type(got).__name__} {format_value(got)}"
        if np.isnan(got) and np.isnan(expected):
            return None
        if np.isnan(got):
            return f"{path} is NaN, expected a number (0/0, inf - inf, 0 * inf or the log of 0 somewhere?)"
        if np.isinf(got) and not np.isinf(expected):
            return f"{path} is inf, expected a finite number: did something overflow?"
        if np.all(np.isinf(atol)):  # structure-only comparison
            return None
        return None if np.isclose(float(got), float(expected), rtol=rtol, atol=atol) else f"{path} has the wrong value"
    return None if bool(got == expected) else f"{path} is {format_value(got)}, expected {format_value(expected)}"


def more_outputs(fn: Callable, later_inputs: list[dict], *, limit: int = 3) -> list[tuple[dict, Any]]:
    """What ``fn`` returns on up to ``limit`` more cases, after one failed: ``[(inputs, output)]``.

    A catalogued mistake is diagnosed only if it also reproduces these, so an answer that happens to
    coincide with a mistake on the failing case is not blamed for it. A call that raises (or runs out
    of time) ends the list; nothing here fails the check.
    """
    found = []
    for inputs in later_inputs[:limit]:
        try:
            with np.errstate(all="ignore"):
                found.append((inputs, fn(**_copy_inputs(inputs))))
        except KeyboardInterrupt:
            raise
        except BaseException:  # noqa: BLE001 - only refines the diagnosis (even a timeout ends it quietly)
            break
    return found


def check_cases(fn: Callable, reference_fn: Callable, cases: list[tuple], *, rtol: float = 1e-6,
                atol: float = 1e-8, check_dtype: bool = True, names: tuple[str, ...] | None = None) -> int:
    """Run ``fn`` and ``reference_fn`` on each ``(label, kwargs)`` case; raise ``CheckFailed`` on the first mismatch.

    A case may carry its own tolerances as a third item, ``(label, kwargs, {"rtol": ..., "atol": ...})``.
    Each call gets its own deep copy of the inputs, so a function that modifies its
    arguments cannot corrupt the comparison; it fails all the same (inside ``run_check`` the
    guard reports it, knowing which arguments the exercise may change; outside, any change
    of an array argument fails). ``names`` names the items of a tuple result (the
    exercise's ``output_names`` by default). Returns the number of cases checked.

    The ``CheckFailed`` it raises lists the cases the function got right (``passed``): a
    catalogued mistake is only diagnosed if it gets those right too.
    """
    guard = _active()
    if names is None and guard is not None:
        names = guard.exercise.output_names
    passed: list[tuple[dict, dict]] = []
    try:
        for position, (label, inputs, *options) in enumerate(cases):
            tol = {"rtol": rtol, "atol": atol, **(options[0] if options else {})}
            set_case(label)
            expected = reference_fn(**_copy_inputs(inputs))
            handed = _copy_inputs(inputs)
            got = fn(**handed)
            if guard is None:
                for arg, value in inputs.items():
                    found = _changed(_snapshot(value), handed[arg], arg, None)
                    if found:
                        raise CheckFailed(label, inputs=inputs, show_values=False,
                                          reason=f"your function changed its inputs in place (`{found[0]}`): "
                                                 f"{found[1]}",
                                          hint=_in_place_hint(arg, _GENERIC_WHY, "a new array, not an in-place "
                                                              "operation", container=not isinstance(value, np.ndarray)))
            why = compare_outputs(expected, got, check_dtype=check_dtype, names=names, **tol)
            if why:
                raise CheckFailed(label, inputs=inputs, expected=expected, got=got, reason=why,
                                  tolerance=(tol["rtol"], tol["atol"]), passed=passed,
                                  more=more_outputs(fn, [case[1] for case in cases[position + 1:]]))
            passed.append((inputs, {**tol, "check_dtype": check_dtype}))
    finally:
        set_case(None)
    return len(cases)
