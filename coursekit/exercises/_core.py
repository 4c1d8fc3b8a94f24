"""The machinery behind every check cell.

An exercise is registered once with its reference implementation, a ``run_checks``
function (fixed and random cases, a numerical gradient check where there is a gradient)
and a catalogue of typical wrong answers, each with the hint it deserves.

``check(name, fn)`` runs the checks on the learner's ``fn`` and prints one verdict. Its
first line starts with a word, so it reads the same without an emoji font:

* ``PASSED ✅ name: ...`` - and what was checked; ``fn`` is used from then on;
* ``NOT ATTEMPTED ⏳ name: ...`` - the stub still raises ``NotImplementedError`` before
  doing anything; the reference is used;
* ``FAILED ❌ name: ...`` - the first failing case (inputs, expected, got, where they
  differ) and a hint aimed at the mistake; the reference is used so the rest of the
  notebook still works. A function that is only partly written (it raises
  ``NotImplementedError`` in one branch) fails too, naming the case that reached it.

``CheckResult.status`` is ``"passed"``, ``"not attempted"`` or ``"failed"``.

While it is checked, the learner's function runs inside a guard that

* compares every array argument (also inside lists, tuples and the batch-norm cache)
  before and after each call: a function that overwrites its input fails, naming the
  argument, even when it returns the right values (the caller still needs that input);
* calls it with the stub's parameter names, and says so when its signature differs;
* bounds the time of the whole check (``Exercise.time_limit``, ``TIME_LIMIT_SECONDS`` by
  default): on POSIX, in the main thread, an endless loop is interrupted with
  ``signal.setitimer``; elsewhere (Windows, threads, Pyodide/JupyterLite) the limit is
  checked after each call. The verdict names the case that was slow;
* tells an exception raised in the learner's code (quoting the learner's line) from one
  raised by the check while using what the function returned (saying what was expected).

It never raises because of the learner's code: ``SystemExit`` included; only
``KeyboardInterrupt`` (Ctrl-C, "interrupt the kernel") goes through.

Check log: when the environment variable ``COURSEKIT_CHECK_LOG`` holds a file path, every
``check(name, fn)`` call appends one JSON line to that file, with the keys
``"exercise"`` (the name), ``"status"`` (``"passed"`` / ``"not attempted"`` / ``"failed"``),
``"mistake"`` (the catalogue key of the diagnosed mistake, or null), ``"summary"`` (the
verdict's first line), ``"message"`` (the whole verdict) and ``"seconds"`` (how long the
check took). A log that cannot be written is skipped with a note on stderr; the notebook
carries on.
"""
from __future__ import annotations

import ast
import copy
import functools
import inspect
import json
import os
import re
import signal
import sys
import sysconfig
import textwrap
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

__all__ = [
    "CheckFailed", "Mistake", "Exercise", "CheckResult", "register", "check", "run_check",
    "show_solution", "reference", "mistake", "exercise_names", "get_exercise", "all_mistakes",
    "compare_outputs", "check_cases", "format_value", "describe_difference", "set_case",
    "modifies_input", "TIME_LIMIT_SECONDS", "CHECK_LOG_VARIABLE",
]

REGISTRY: dict[str, "Exercise"] = {}

# The whole check of one exercise must finish within this many seconds. The references
# take at most ~20 ms; a correct answer with Python loops over every entry takes about a
# second. Generous, so that a correct answer never fails on a busy machine.
TIME_LIMIT_SECONDS = 10.0

CHECK_LOG_VARIABLE = "COURSEKIT_CHECK_LOG"


class CheckFailed(Exception):
    """Raised inside ``run_checks`` for the first failing case.

    ``inputs`` is the keyword arguments the function got (used to diagnose which catalogued
    mistake the learner made, by running each on the same inputs). A check that recognizes
    the mistake itself (e.g. a statistical check of random masks) names it with
    ``mistake="key"`` (its catalogued hint is shown); ``hint`` gives a one-off hint instead.
    ``tolerance`` is the ``(rtol, atol)`` the comparison used (to show where values differ).
    """

    def __init__(self, case: str, *, inputs: dict | None = None, expected: Any = None, got: Any = None,
                 reason: str = "", hint: str | None = None, mistake: str | None = None,
                 show_values: bool = True, tolerance: tuple[float, float] | None = None) -> None:
        super().__init__(case)
        self.case, self.inputs, self.expected, self.got = case, inputs, expected, got
        self.reason, self.hint, self.mistake, self.show_values = reason, hint, mistake, show_values
        self.tolerance = tolerance


@dataclass(frozen=True)
class Mistake:
    """A typical wrong answer: an implementation of it and the hint a learner who made it needs.

    ``modifies`` names the argument the wrong answer overwrites in place (its output is
    right): such a mistake is recognized by the guard that watches the inputs, never by
    comparing outputs.
    """

    key: str
    implementation: Callable
    hint: str
    modifies: str | None = None


@dataclass
class Exercise:
    name: str
    reference: Callable
    run_checks: Callable[[Callable], str]
    mistakes: dict[str, Mistake] = field(default_factory=dict)
    generic_hint: str = "Compare your formula with the derivation above, one term at a time."
    # Wrong answers that overwrite an argument in place, one per array argument: key "modifies_<arg>".
    input_mistakes: dict[str, Mistake] = field(default_factory=dict)
    # Arguments the function may change in place: name -> True, or a predicate of the call's arguments.
    may_modify: dict[str, Any] = field(default_factory=dict)
    # Arguments that must come back equal only up to rounding: name -> (rtol, atol).
    restore_tolerance: dict[str, tuple[float, float]] = field(default_factory=dict)
    # Names of the items of a tuple result, in order (to say which ones are swapped).
    output_names: tuple[str, ...] | None = None
    time_limit: float | None = None


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str  # "passed" | "not attempted" | "failed"
    message: str
    implementation: Callable
    mistake_key: str | None = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def summary(self) -> str:
        """The verdict's first line."""
        return self.message.splitlines()[0] if self.message else ""


def register(name: str, *, reference: Callable, run_checks: Callable[[Callable], str],
             mistakes: tuple[Mistake, ...] = (), generic_hint: str | None = None,
             may_modify: dict[str, Any] | None = None, restore_tolerance: dict | None = None,
             output_names: tuple[str, ...] | None = None, time_limit: float | None = None) -> Exercise:
    """Register an exercise (done once, in the lesson modules of ``coursekit.exercises``).

    ``mistakes`` may include in-place wrong answers (``Mistake.modifies`` set, see
    ``modifies_input``); they are kept apart in ``Exercise.input_mistakes``.
    """
    if name in REGISTRY:
        raise ValueError(f"exercise {name!r} is registered twice")
    ordinary = {m.key: m for m in mistakes if m.modifies is None}
    in_place = {m.key: m for m in mistakes if m.modifies is not None}
    if len(ordinary) + len(in_place) != len(mistakes) or set(ordinary) & set(in_place):
        raise ValueError(f"exercise {name!r}: two catalogued mistakes share a key")
    ex = Exercise(name, reference, run_checks, ordinary, input_mistakes=in_place,
                  may_modify=dict(may_modify or {}), restore_tolerance=dict(restore_tolerance or {}),
                  output_names=output_names, time_limit=time_limit,
                  **({"generic_hint": generic_hint} if generic_hint else {}))
    REGISTRY[name] = ex
    return ex


def exercise_names() -> list[str]:
    return sorted(REGISTRY)


def get_exercise(name: str) -> Exercise:
    if not isinstance(name, str) or name not in REGISTRY:
        raise KeyError(f"no exercise named {name!r}; the exercises are: {', '.join(exercise_names())}")
    return REGISTRY[name]


def reference(name: str) -> Callable:
    """The reference implementation of exercise ``name``."""
    return get_exercise(name).reference


def all_mistakes(name: str) -> dict[str, Mistake]:
    """Every catalogued wrong answer of exercise ``name``: the lesson's own and the in-place ones."""
    ex = get_exercise(name)
    return {**ex.mistakes, **ex.input_mistakes}


def mistake(name: str, key: str) -> Callable:
    """The catalogued wrong answer ``key`` of exercise ``name`` (for tests and demonstrations)."""
    known = all_mistakes(name)
    if key not in known:
        raise KeyError(f"exercise {name!r} has no mistake {key!r}; it has {sorted(known)}")
    return known[key].implementation


def show_solution(name: str) -> None:
    """Print the reference implementation's source (only when you ask for it)."""
    fn = reference(name)
    print(f"Reference solution for {name!r} ({fn.__module__}.{fn.__qualname__}):\n")
    print(textwrap.dedent(inspect.getsource(fn)))


# ----------------------------------------------------------------------------- in-place wrong answers

_IN_PLACE_HINT = (
    "Your function changed its argument `{arg}` in place ({examples}), so the caller's array is no longer what it "
    "passed in. The caller still needs it: {why}. Compute the result in a new array ({fix}), or work on {copy}."
)


def _in_place_hint(arg: str, why: str, fix: str, *, container: bool) -> str:
    if container:
        examples = (f"an array inside it was overwritten, e.g. `{arg}[0] *= ...`, `p[...] = ...` or `out=p` for an "
                    f"array p of {arg}")
        copy_ = "copies of its arrays"
    else:
        examples = f"for example `{arg} *= ...`, `{arg} -= ...`, `{arg}[...] = ...` or `out={arg}`"
        copy_ = f"`{arg}.copy()`"
    return _IN_PLACE_HINT.format(arg=arg, why=why, fix=fix, examples=examples, copy=copy_)
_GENERIC_WHY = "the same array is used again after your function returns (by the next cell, a training loop, or a gradient check)"


def _scribble(value: Any) -> None:
    """Overwrite every array in ``value`` in place (what a careless `x *= ...` does)."""
    if isinstance(value, np.ndarray):
        if value.dtype == bool:
            np.logical_not(value, out=value)
        else:
            value *= 2
            value += 1
    elif isinstance(value, (list, tuple)):
        for item in value:
            _scribble(item)


def modifies_input(reference_fn: Callable, arg: str, why: str, *, fix: str | None = None,
                   implementation: Callable | None = None, container: bool = False) -> Mistake:
    """The catalogued wrong answer "right result, but overwrites ``arg`` in place" (key ``modifies_<arg>``).

    ``why`` says why the caller still needs ``arg``; ``fix`` shows the non-destructive way;
    ``container`` says ``arg`` is a list or tuple of arrays. Without ``implementation``, the
    wrong answer is the reference followed by overwriting every array in ``arg``.
    """
    if implementation is None:
        signature = inspect.signature(reference_fn)

        def implementation(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            original = bound.arguments[arg]
            bound.arguments[arg] = copy.deepcopy(original)
            result = reference_fn(*bound.args, **bound.kwargs)
            _scribble(original)
            return result

        implementation.__name__ = implementation.__qualname__ = f"{reference_fn.__name__}_overwriting_{arg}"
    fix = fix or f"`result = ...` from `{arg}`, not `{arg} *= ...`"
    return Mistake(f"modifies_{arg}", implementation, _in_place_hint(arg, why, fix, container=container),
                   modifies=arg)


# ----------------------------------------------------------------------------- showing values

_WHOLE_ARRAY_SIZE = 12  # arrays with at most this many entries (and ndim <= 2) are shown in full


def format_value(value: Any, *, limit: int = 400) -> str:
    """A compact, readable rendering of inputs and outputs for failure messages.

    Small arrays are shown in full, bigger ones summarized (shape, dtype, range, first
    values): a verdict never prints thousands of numbers.
    """
    try:
        return _format_value(value, limit=limit)
    except Exception:  # noqa: BLE001 - a learner's odd object (broken __repr__) must not crash the check
        return f"<{type(value).__name__} object that cannot be displayed>"


def _short(number: Any) -> str:
    return f"{float(number):.6g}" if isinstance(number, (float, np.floating)) else str(number)


def _summarize_array(a: np.ndarray) -> str:
    head = f"array of shape {a.shape}, {a.dtype}"
    if a.size == 0:
        return f"<empty {head}>"
    flat = a.reshape(-1)
    first = ", ".join(_short(v) for v in flat[:3]) + (", ..." if flat.size > 3 else "")
    if a.dtype == bool:
        return f"<{head}: {int(flat.sum())} True; first {first}>"
    if not np.issubdtype(a.dtype, np.number):
        return f"<{head}; first {first}>"
    parts = []
    values = flat.astype(np.float64) if not np.iscomplexobj(flat) else np.abs(flat)
    finite = values[np.isfinite(values)]
    if finite.size:
        parts.append(f"values from {_short(finite.min())} to {_short(finite.max())}")
    n_nan, n_inf = int(np.isnan(values).sum()), int(np.isinf(values).sum())
    if n_nan:
        parts.append(f"{n_nan} NaN")
    if n_inf:
        parts.append(f"{n_inf} inf")
    parts.append(f"first {first}")
    return f"<{head}: {', '.join(parts)}>"


def _format_value(value: Any, *, limit: int) -> str:
    if isinstance(value, np.ndarray):
        if value.size <= _WHOLE_ARRAY_SIZE and value.ndim <= 2:
            body = " ".join(line.strip() for line in
                            np.array2string(value, precision=6, suppress_small=False).splitlines())
            text = f"{body}  (shape {value.shape}, {value.dtype})"
        else:
            text = _summarize_array(value)
    elif isinstance(value, (tuple, list)):
        inner = ", ".join(format_value(v, limit=max(limit // 2, 60)) for v in value)
        text = f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k}: {format_value(v, limit=max(limit // 2, 60))}" for k, v in value.items()) + "}"
    elif isinstance(value, (float, np.floating)):
        text = f"{float(value):.6g}"
    elif isinstance(value, np.random.Generator):
        text = "np.random.Generator"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _precise(value: Any) -> str:
    """Every digit of a number, so values that differ only by rounding look different."""
    try:
        if isinstance(value, (bool, np.bool_)):
            return repr(bool(value))
        if isinstance(value, (int, np.integer)):
            return str(int(value))
        return repr(float(value))
    except Exception:  # noqa: BLE001
        return format_value(value, limit=80)


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
            text += f"; the check allows rtol {tolerance[0]:g}, atol {tolerance[1]:g})" if tolerance else ")"
        return text
    return None


# ----------------------------------------------------------------------------- comparing outputs

def compare_outputs(expected: Any, got: Any, *, rtol: float = 1e-6, atol: float = 1e-8, check_dtype: bool = True,
                    path: str = "the result", names: tuple[str, ...] | None = None) -> str | None:
    """Why ``got`` differs from ``expected`` (a sentence), or None when they match.

    ``names`` names the items of a tuple result (``("dx", "dgamma", "dbeta")``); two items
    that hold each other's values are reported as swapped.

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
        return None if np.allclose(g64, e64, rtol=rtol, atol=atol, equal_nan=True) else f"{path} has the wrong values"
    if isinstance(expected, (bool, np.bool_)):
        return None if isinstance(got, (bool, np.bool_)) and bool(got) == bool(expected) else f"{path} is {got!r}, expected {expected!r}"
    if isinstance(expected, (int, float, np.number)):
        if isinstance(got, np.ndarray) and got.size == 1:
            got = got.item()
        if not isinstance(got, (int, float, np.number)) or isinstance(got, bool):
            return f"{path} should be a number, got {type(got).__name__} {format_value(got)}"
        if np.isnan(got) and np.isnan(expected):
            return None
        if np.isnan(got):
            return f"{path} is NaN, expected a number (0/0, inf - inf, 0 * inf or the log of 0 somewhere?)"
        if np.isinf(got) and not np.isinf(expected):
            return f"{path} is inf, expected a finite number: did something overflow?"
        return None if np.isclose(float(got), float(expected), rtol=rtol, atol=atol) else f"{path} has the wrong value"
    return None if bool(got == expected) else f"{path} is {format_value(got)}, expected {format_value(expected)}"


def _copy_inputs(inputs: dict) -> dict:
    return {k: copy.deepcopy(v) for k, v in inputs.items()}


def check_cases(fn: Callable, reference_fn: Callable, cases: list[tuple], *, rtol: float = 1e-6,
                atol: float = 1e-8, check_dtype: bool = True, names: tuple[str, ...] | None = None) -> int:
    """Run ``fn`` and ``reference_fn`` on each ``(label, kwargs)`` case; raise ``CheckFailed`` on the first mismatch.

    A case may carry its own tolerances as a third item, ``(label, kwargs, {"rtol": ..., "atol": ...})``.
    Each call gets its own deep copy of the inputs, so a function that modifies its
    arguments cannot corrupt the comparison; it fails all the same (inside ``run_check`` the
    guard reports it, knowing which arguments the exercise may change; outside, any change
    of an array argument fails). ``names`` names the items of a tuple result (the
    exercise's ``output_names`` by default). Returns the number of cases checked.
    """
    guard = _active()
    if names is None and guard is not None:
        names = guard.exercise.output_names
    try:
        for label, inputs, *options in cases:
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
                                  tolerance=(tol["rtol"], tol["atol"]))
    finally:
        set_case(None)
    return len(cases)


# ----------------------------------------------------------------------------- the guard around the learner's function

class _OutOfTime(BaseException):
    """The check's time budget ran out (a BaseException, so a learner's `except Exception` cannot swallow it)."""


_STATE = threading.local()  # .guard: the guard of the check in progress in this thread (checks do not nest)


def _active() -> "_Guarded | None":
    return getattr(_STATE, "guard", None)


def set_case(label: str | None) -> None:
    """Name the case the next calls of the learner's function belong to (for slow or partial answers)."""
    guard = _active()
    if guard is not None:
        guard.case = label


def _signature(fn: Callable) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def _plain(signature: inspect.Signature | None) -> str:
    """A signature as the learner wrote it in the stub: names and defaults, no annotations."""
    if signature is None:
        return "(...)"
    empty = inspect.Parameter.empty
    return str(signature.replace(parameters=[p.replace(annotation=empty) for p in signature.parameters.values()],
                                 return_annotation=inspect.Signature.empty))


def _snapshot(value: Any) -> Any:
    """A copy of every array in ``value`` (lists, tuples, named tuples, dicts followed), or None."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (list, tuple)):
        return (type(value), len(value), [_snapshot(v) for v in value])
    if isinstance(value, dict):
        return (dict, len(value), {k: _snapshot(v) for k, v in value.items()})
    return None


def _changed(before: Any, now: Any, path: str, tolerance) -> tuple[str, str] | None:
    """(where, what) if the arrays recorded in ``before`` differ from what ``now`` holds, else None."""
    if before is None:
        return None
    if isinstance(before, np.ndarray):
        if not isinstance(now, np.ndarray) or now.shape != before.shape:
            return path, "it was replaced by something else"
        try:
            if tolerance is not None and np.issubdtype(before.dtype, np.floating):
                same = np.isclose(now, before, rtol=tolerance[0], atol=tolerance[1], equal_nan=True)
            elif np.issubdtype(before.dtype, np.inexact):
                same = (now == before) | (np.isnan(now) & np.isnan(before))
            else:
                same = now == before
        except TypeError:
            return path, f"its dtype changed from {before.dtype} to {now.dtype}"
        if np.all(same):
            return None
        index = tuple(int(i) for i in np.argwhere(~np.asarray(same))[0])
        at = f"[{', '.join(map(str, index))}]" if index else ""
        return path, (f"{path}{at} was {_precise(before[index])} before the call and {_precise(now[index])} after it"
                      f" ({int((~same).sum())} of {before.size} entries changed)")
    kind, length, items = before
    if kind is dict:
        if not isinstance(now, dict) or len(now) != length:
            return path, f"entries were added or removed (it had {length})"
        for key, item in items.items():
            found = _changed(item, now.get(key), f"{path}[{key!r}]", tolerance)
            if found:
                return found
        return None
    if not isinstance(now, (list, tuple)) or len(now) != length:
        return path, f"its length changed from {length} to {len(now) if hasattr(now, '__len__') else '?'}"
    fields = getattr(kind, "_fields", None)
    for i, item in enumerate(items):
        found = _changed(item, now[i], f"{path}.{fields[i]}" if fields else f"{path}[{i}]", tolerance)
        if found:
            return found
    return None


def _describe_call(name: str, named: dict) -> str:
    shown = ", ".join(f"{k}={format_value(v, limit=60)}" for k, v in named.items())
    return f"the call {name}({shown})"


@dataclass
class _Raised:
    exc: BaseException
    case: str
    named: dict
    seconds: float


class _Guarded:
    """The learner's function as ``run_checks`` sees it: watched inputs, stub names, timed calls."""

    def __init__(self, fn: Callable, exercise: Exercise, budget: "_Budget") -> None:
        self.fn, self.exercise, self.budget = fn, exercise, budget
        self.stub = _signature(exercise.reference)
        self.own = _signature(fn)
        self.case: str | None = None
        self.calls = 0
        self.completed = 0
        self.last: tuple[str, dict, Any] | None = None
        self.raised: _Raised | None = None
        self.slowest: tuple[float, str] | None = None
        self.seconds_inside = 0.0
        functools.update_wrapper(self, fn, updated=())

    # -- naming the arguments
    def _named(self, args: tuple, kwargs: dict) -> dict:
        if self.stub is not None:
            try:
                return dict(self.stub.bind(*args, **kwargs).arguments)
            except TypeError:
                pass
        return {**{f"argument {i + 1}": a for i, a in enumerate(args)}, **kwargs}

    def _label(self, named: dict) -> str:
        return self.case or _describe_call(self.exercise.name, named)

    def _check_signature(self, args: tuple, kwargs: dict, named: dict, label: str) -> None:
        if self.own is None:
            return
        try:
            self.own.bind(*args, **kwargs)
        except TypeError as exc:
            stub = f"{self.exercise.name}{_plain(self.stub)}"
            passed = ", ".join([*(format_value(a, limit=40) for a in args), *(f"{k}=..." for k in kwargs)])
            raise CheckFailed(
                label, inputs=named, show_values=False,
                reason=(f"the check calls your function as {self.exercise.name}({passed}), with the stub's parameter "
                        f"names, but yours is {getattr(self.fn, '__name__', 'fn')}{_plain(self.own)}: {exc}"),
                hint=(f"Keep the stub's signature, def {stub}: the check, and the cells after it, pass the "
                      "arguments by these names."),
            ) from None

    def _watched(self, named: dict) -> dict:
        watched = {}
        for name, value in named.items():
            allowed = self.exercise.may_modify.get(name, False)
            if callable(allowed):
                try:
                    allowed = allowed(named)
                except Exception:  # noqa: BLE001
                    allowed = False
            if not allowed:
                snap = _snapshot(value)
                if snap is not None:
                    watched[name] = snap
        return watched

    def _in_place_failure(self, arg: str, where: str, what: str, label: str, named: dict, before: dict) -> CheckFailed:
        shown = {k: (_restore(before[k]) if k in before else v) for k, v in named.items()}
        known = next((m for m in self.exercise.input_mistakes.values() if m.modifies == arg), None)
        return CheckFailed(
            label, inputs=shown, show_values=False, mistake=known.key if known else None,
            reason=f"your function changed its inputs in place (`{where}`): {what}",
            hint=None if known else _in_place_hint(arg, _GENERIC_WHY, "a new array, not an in-place operation",
                                                   container=not isinstance(before[arg], np.ndarray)),
        )

    def __call__(self, *args, **kwargs):
        named = self._named(args, kwargs)
        label = self._label(named)
        self._check_signature(args, kwargs, named, label)
        before = self._watched(named)
        self.calls += 1
        start = time.perf_counter()
        try:
            result = self.fn(*args, **kwargs)
        except BaseException as exc:
            self.raised = _Raised(exc, label, named, time.perf_counter() - start)
            raise
        finally:
            seconds = time.perf_counter() - start
            self.seconds_inside += seconds
            if self.slowest is None or seconds > self.slowest[0]:
                self.slowest = (seconds, label)
        for arg, snap in before.items():
            found = _changed(snap, named[arg], arg, self.exercise.restore_tolerance.get(arg))
            if found:
                raise self._in_place_failure(arg, *found, label, named, before)
        self.last = (label, named, result)
        self.completed += 1
        if self.budget.exceeded():
            raise _OutOfTime
        return result


def _restore(snap: Any) -> Any:
    """The value a snapshot recorded (arrays as they were before the call)."""
    if snap is None or isinstance(snap, np.ndarray):
        return snap
    kind, _, items = snap
    if kind is dict:
        return {k: _restore(v) for k, v in items.items()}
    values = [_restore(v) for v in items]
    if kind is list:
        return values
    try:
        return kind(*values) if hasattr(kind, "_fields") else kind(values)
    except Exception:  # noqa: BLE001
        return tuple(values)


class _Budget:
    """Wall-clock budget of one check; interrupts an endless loop where the platform allows."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.start = time.perf_counter()
        self.armed = False
        self.live = False
        self.previous = None

    @staticmethod
    def _can_interrupt() -> bool:
        if sys.platform == "emscripten" or not (hasattr(signal, "setitimer") and hasattr(signal, "SIGALRM")):
            return False
        if threading.current_thread() is not threading.main_thread():
            return False
        try:  # someone else's timer (e.g. pytest-timeout) is running: leave it alone
            return signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0) and signal.getsignal(signal.SIGALRM) is not None
        except (OSError, ValueError):
            return False

    def _alarm(self, signum, frame) -> None:
        if self.live:
            raise _OutOfTime

    def __enter__(self) -> "_Budget":
        self.start = time.perf_counter()
        self.live = True
        if self._can_interrupt():
            try:
                self.previous = signal.signal(signal.SIGALRM, self._alarm)
                signal.setitimer(signal.ITIMER_REAL, self.seconds)
                self.armed = True
            except (OSError, ValueError):
                self.armed = False
        return self

    def __exit__(self, *exc_info) -> bool:
        try:
            self.live = False
        finally:
            if self.armed:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, self.previous)
                self.armed = False
        return False

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def exceeded(self) -> bool:
        return self.elapsed() > self.seconds


# ----------------------------------------------------------------------------- where an exception came from

def _library_dirs() -> tuple[str, ...]:
    dirs = {os.path.dirname(os.path.dirname(os.path.abspath(__file__))), os.path.dirname(np.__file__)}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            dirs.add(os.path.abspath(path))
    return tuple(sorted(d + os.sep for d in dirs))


_LIBRARY_DIRS = _library_dirs()


def _is_library(filename: str) -> bool:
    if filename.startswith("<") and not filename.startswith("<ipython"):
        return True  # <frozen ...>, <string> built by a library
    return os.path.abspath(filename).startswith(_LIBRARY_DIRS)


def _learner_frame(fn: Callable, exc: BaseException) -> traceback.FrameSummary | None:
    """The deepest frame of the traceback in the learner's code (their function or their own helpers)."""
    frames = traceback.extract_tb(exc.__traceback__)
    guard_calls = [i for i, f in enumerate(frames) if f.filename == __file__ and f.name == "__call__"]
    frames = frames[guard_calls[-1] + 1:] if guard_calls else frames
    code = getattr(inspect.unwrap(fn), "__code__", None)
    own = code.co_filename if code is not None else None
    mine = [f for f in frames if f.filename == own or not _is_library(f.filename)]
    return mine[-1] if mine else None


def _at_line(frame: traceback.FrameSummary | None) -> str:
    if frame is None:
        return ""
    return f" (line {frame.lineno}: {_clip(frame.line.strip(), 120)})" if frame.line else f" (line {frame.lineno})"


def _clip(text: str, limit: int) -> str:
    text = re.sub(r"\s*\n\s*", " ", text.strip())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _raises_before_doing_anything(fn: Callable, exc: BaseException) -> bool | None:
    """Whether ``fn`` reaches the statement that raised ``exc`` on every call (a blank stub).

    True when that statement is at the top level of the function's body and no statement
    before it can return; False when it sits in a branch (a partial answer); None when the
    source cannot be read.
    """
    target = inspect.unwrap(fn)
    code = getattr(target, "__code__", None)
    if code is None:
        return None
    lines = [tb.tb_lineno for tb in _walk_tb(exc.__traceback__) if tb.tb_frame.f_code is code]
    if not lines:
        return None
    try:
        source_lines, first = inspect.getsourcelines(target)
        tree = ast.parse(textwrap.dedent("".join(source_lines)))
    except (OSError, TypeError, SyntaxError, IndentationError):
        return None
    func = next((n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))), None)
    if func is None:
        return None
    line = lines[-1] - first + 1
    for statement in func.body:
        end = getattr(statement, "end_lineno", statement.lineno)
        if statement.lineno <= line <= end:
            return not isinstance(statement, _BRANCHING)
        if any(isinstance(n, (ast.Return, ast.Yield, ast.YieldFrom)) for n in ast.walk(statement)):
            return False
    return None


_BRANCHING = (ast.If, ast.For, ast.While, ast.Try, ast.With, ast.AsyncFor, ast.AsyncWith,
              *((ast.Match,) if hasattr(ast, "Match") else ()), *((ast.TryStar,) if hasattr(ast, "TryStar") else ()))


def _walk_tb(tb):
    while tb is not None:
        yield tb
        tb = tb.tb_next


# ----------------------------------------------------------------------------- running a check

def _diagnose(ex: Exercise, failure: CheckFailed) -> tuple[str | None, str | None]:
    """Which catalogued mistake reproduces the learner's wrong output on the failing inputs."""
    if failure.inputs is None:
        return None, None
    for m in ex.mistakes.values():
        try:
            with np.errstate(all="ignore"):
                produced = m.implementation(**_copy_inputs(failure.inputs))
        except Exception:  # noqa: BLE001 - a mistake that crashes here simply does not match
            continue
        if compare_outputs(produced, failure.got, rtol=1e-8, atol=1e-10, check_dtype=False) is None:
            return m.key, m.hint
    return None, None


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


def _format_inputs(inputs: dict) -> str:
    shown = [f"{k}={format_value(v, limit=160)}" for k, v in inputs.items() if not isinstance(v, np.random.Generator)]
    return _clip(", ".join(shown), 700)


def _failed_message(ex: Exercise, failure: CheckFailed, hint: str) -> str:
    lines = [f"FAILED ❌ {ex.name}: failed on case: {failure.case}"]
    if failure.inputs is not None:
        lines.append("   inputs:   " + _format_inputs(failure.inputs))
    if failure.show_values:
        expected, got = format_value(failure.expected), format_value(failure.got)
        difference = describe_difference(failure.expected, failure.got, tolerance=failure.tolerance,
                                          names=ex.output_names)
        if expected == got and difference is None:
            expected, got = _precise(failure.expected), _precise(failure.got)
        lines.append(f"   expected: {expected}")
        lines.append(f"   got:      {got}")
        if difference:
            lines.append(f"   differs:  {difference}")
    if failure.reason:
        lines.append(f"   problem:  {failure.reason}")
    lines.append(f"   hint:     {hint}")
    lines.append(f"   {_FALLBACK}")
    return "\n".join(lines)


def _slow_message(ex: Exercise, guard: _Guarded, exc: _OutOfTime, limit: float) -> str:
    if guard.raised is not None and guard.raised.exc is exc:
        where = (f"it was interrupted while your function was still running on case: {guard.raised.case} "
                 f"(that call had taken {guard.raised.seconds:.1f} s)")
    elif guard.slowest is not None:
        where = (f"your function ran for {guard.seconds_inside:.1f} s over {guard.calls} calls; the slowest was "
                 f"case: {guard.slowest[1]} ({guard.slowest[0]:.2f} s)")
    else:
        where = "your function was not even called yet"
    return (f"FAILED ❌ {ex.name}: too slow - the whole check may take at most {limit:g} s (the reference needs a "
            f"few milliseconds), and {where}.\n"
            "   hint:     Look for a loop that never ends (a `while` whose condition never changes) or a Python loop "
            "over every entry of a big array; use numpy operations on whole arrays instead.\n"
            f"   {_FALLBACK}")


def _raised_message(ex: Exercise, fn: Callable, guard: _Guarded, exc: BaseException) -> str:
    what = f"{type(exc).__name__}: {_clip(str(exc), 300)}" if str(exc) else type(exc).__name__
    if isinstance(exc, SystemExit):
        what = (f"SystemExit ({_clip(str(exc), 80) or 'exit()'}): sys.exit() and exit() end the whole program "
                "(in a notebook, the kernel); raise an exception or return a value instead")
    if guard.raised is not None and guard.raised.exc is exc:
        return (f"FAILED ❌ {ex.name}: your function raised {what}{_at_line(_learner_frame(fn, exc))} on case: "
                f"{guard.raised.case}\n   hint:     {ex.generic_hint}\n   {_FALLBACK}")
    # The check itself failed while using what the learner's function returned: say what it expected.
    lines = []
    if guard.last is not None:
        label, named, got = guard.last
        lines = [f"FAILED ❌ {ex.name}: failed on case: {label} - the check could not use what your function "
                 f"returned ({what})", "   inputs:   " + _format_inputs(named), f"   got:      {format_value(got)}"]
        try:
            with np.errstate(all="ignore"):
                expected = ex.reference(**_copy_inputs(named))
            why = compare_outputs(expected, got, names=ex.output_names)
            lines.insert(2, f"   expected: {format_value(expected)}")
            if why:
                lines.append(f"   problem:  {why}")
        except Exception:  # noqa: BLE001 - the inputs were not the stub's: show what we have
            pass
    else:
        lines = [f"FAILED ❌ {ex.name}: the check failed before your function returned anything ({what})"]
    lines += [f"   hint:     {ex.generic_hint}", f"   {_FALLBACK}"]
    return "\n".join(lines)


def _not_attempted(ex: Exercise) -> CheckResult:
    return CheckResult(ex.name, "not attempted",
                       f"NOT ATTEMPTED ⏳ {ex.name}: not attempted yet - the function still raises "
                       "NotImplementedError.\n"
                       "   The reference implementation is used from here on, so the rest of the notebook runs. "
                       "Come back, fill it in, and re-run this cell.", ex.reference)


def run_check(name: str, fn: Callable) -> CheckResult:
    """Check ``fn`` against exercise ``name`` and return the verdict without printing it.

    Raises only ``KeyError`` for an unknown exercise and ``KeyboardInterrupt``.
    """
    ex = get_exercise(name)
    fallback = ex.reference
    if not callable(fn):
        return CheckResult(name, "failed", f"FAILED ❌ {name}: expected a function, got {format_value(fn, limit=80)} "
                                           f"of type {type(fn).__name__}.\n   {_FALLBACK}", fallback)
    limit = ex.time_limit if ex.time_limit is not None else TIME_LIMIT_SECONDS
    budget = _Budget(limit)
    guard = _Guarded(fn, ex, budget)
    try:
        try:
            _STATE.guard = guard
            with budget, np.errstate(all="ignore"):
                summary = ex.run_checks(guard)
        finally:
            _STATE.guard = None
        if budget.exceeded():
            raise _OutOfTime
    except KeyboardInterrupt:
        raise
    except _OutOfTime as exc:
        return CheckResult(name, "failed", _slow_message(ex, guard, exc, limit), fallback)
    except NotImplementedError as exc:
        raised = guard.raised if guard.raised is not None and guard.raised.exc is exc else None
        blank = raised is not None and guard.completed == 0 and _raises_before_doing_anything(fn, exc) is not False
        if blank:
            return _not_attempted(ex)
        case = raised.case if raised else "(inside the check)"
        done = (f"It answered {guard.completed} call{'s' if guard.completed != 1 else ''} before that one"
                if guard.completed else "The raise sits in a branch, so other cases would run")
        message = (f"FAILED ❌ {name}: partly written - your function raised NotImplementedError"
                   f"{_at_line(_learner_frame(fn, exc))} on case: {case}\n"
                   f"   {done}: finish the part that still raises NotImplementedError, then re-run this cell.\n"
                   f"   hint:     {ex.generic_hint}\n   {_FALLBACK}")
        return CheckResult(name, "failed", message, fallback)
    except CheckFailed as failure:
        if failure.mistake is not None:
            known = all_mistakes(name)
            if failure.mistake not in known:
                raise KeyError(f"check of {name!r} names unknown mistake {failure.mistake!r}")
            key, hint = failure.mistake, known[failure.mistake].hint
        elif failure.hint:
            key, hint = None, failure.hint
        else:
            key, hint = _diagnose(ex, failure)
            if hint is None:
                hint = _swap_hint(ex, failure)
        return CheckResult(name, "failed", _failed_message(ex, failure, hint or ex.generic_hint), fallback, key)
    except BaseException as exc:  # noqa: BLE001 - the learner's code may raise anything (SystemExit too)
        return CheckResult(name, "failed", _raised_message(ex, fn, guard, exc), fallback)
    return CheckResult(name, "passed", f"PASSED ✅ {name}: {summary}", fn)


_FALLBACK = ("The reference implementation is used from here on so the rest of the notebook still works; "
             "fix your function and re-run both cells.")


def _log(result: CheckResult, seconds: float) -> None:
    path = os.environ.get(CHECK_LOG_VARIABLE)
    if not path:
        return
    record = {"exercise": result.name, "status": result.status, "mistake": result.mistake_key,
              "summary": result.summary, "message": result.message, "seconds": round(seconds, 4)}
    try:
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps(record, ensure_ascii=False) + "\n")
            log.flush()
    except Exception as exc:  # noqa: BLE001 - a log that cannot be written must not break the notebook
        try:
            print(f"(coursekit: could not append to the check log {path!r}: {exc})", file=sys.stderr)
        except Exception:  # noqa: BLE001
            pass


def check(name: str, fn: Callable) -> Callable:
    """Check the learner's ``fn`` for exercise ``name``, print the verdict, return what to use next.

    Returns ``fn`` when it passed, otherwise the reference implementation. Never raises
    because of the learner's code. With ``COURSEKIT_CHECK_LOG`` set, appends the verdict
    to that file as one JSON line (see the module docstring).
    """
    start = time.perf_counter()
    result = run_check(name, fn)
    seconds = time.perf_counter() - start
    print(result.message)
    _log(result, seconds)
    return result.implementation
