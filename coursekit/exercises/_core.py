"""The machinery behind every check cell.

An exercise is registered once with its reference implementation, a ``run_checks``
function (fixed and random cases, a numerical gradient check where there is a gradient)
and a catalogue of typical wrong answers, each with the hint it deserves.

``check(name, fn)`` runs the checks on the learner's ``fn`` and prints one verdict:

* passed - and what was checked; ``fn`` is used from then on;
* not attempted - the stub still raises ``NotImplementedError``; the reference is used;
* failed - the first failing case (inputs, expected, got) and a hint aimed at the usual
  mistake; the reference is used so the rest of the notebook still works.

It never raises: whatever the learner's code does (raise, return None, the wrong shape
or dtype), the notebook carries on.
"""
from __future__ import annotations

import copy
import inspect
import textwrap
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

__all__ = [
    "CheckFailed", "Mistake", "Exercise", "CheckResult", "register", "check", "run_check",
    "show_solution", "reference", "mistake", "exercise_names", "get_exercise",
    "compare_outputs", "check_cases", "format_value",
]

REGISTRY: dict[str, "Exercise"] = {}


class CheckFailed(Exception):
    """Raised inside ``run_checks`` for the first failing case.

    ``inputs`` is the keyword arguments the function got (used to diagnose which catalogued
    mistake the learner made, by running each on the same inputs). A check that recognizes
    the mistake itself (e.g. a statistical check of random masks) names it with
    ``mistake="key"`` (its catalogued hint is shown); ``hint`` gives a one-off hint instead.
    """

    def __init__(self, case: str, *, inputs: dict | None = None, expected: Any = None, got: Any = None,
                 reason: str = "", hint: str | None = None, mistake: str | None = None,
                 show_values: bool = True) -> None:
        super().__init__(case)
        self.case, self.inputs, self.expected, self.got = case, inputs, expected, got
        self.reason, self.hint, self.mistake, self.show_values = reason, hint, mistake, show_values


@dataclass(frozen=True)
class Mistake:
    """A typical wrong answer: an implementation of it and the hint a learner who made it needs."""

    key: str
    implementation: Callable
    hint: str


@dataclass
class Exercise:
    name: str
    reference: Callable
    run_checks: Callable[[Callable], str]
    mistakes: dict[str, Mistake] = field(default_factory=dict)
    generic_hint: str = "Compare your formula with the derivation above, one term at a time."


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


def register(name: str, *, reference: Callable, run_checks: Callable[[Callable], str],
             mistakes: tuple[Mistake, ...] = (), generic_hint: str | None = None) -> Exercise:
    """Register an exercise (done once, in the lesson modules of ``coursekit.exercises``)."""
    if name in REGISTRY:
        raise ValueError(f"exercise {name!r} is registered twice")
    ex = Exercise(name, reference, run_checks, {m.key: m for m in mistakes},
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


def mistake(name: str, key: str) -> Callable:
    """The catalogued wrong answer ``key`` of exercise ``name`` (for tests and demonstrations)."""
    ex = get_exercise(name)
    if key not in ex.mistakes:
        raise KeyError(f"exercise {name!r} has no mistake {key!r}; it has {sorted(ex.mistakes)}")
    return ex.mistakes[key].implementation


def show_solution(name: str) -> None:
    """Print the reference implementation's source (only when you ask for it)."""
    fn = reference(name)
    print(f"Reference solution for {name!r} ({fn.__module__}.{fn.__qualname__}):\n")
    print(textwrap.dedent(inspect.getsource(fn)))


# ----------------------------------------------------------------------------- comparing outputs

def format_value(value: Any, *, limit: int = 400) -> str:
    """A compact, readable rendering of inputs and outputs for failure messages."""
    try:
        return _format_value(value, limit=limit)
    except Exception:  # noqa: BLE001 - a learner's odd object (broken __repr__) must not crash the check
        return f"<{type(value).__name__} object that cannot be displayed>"


def _format_value(value: Any, *, limit: int) -> str:
    if isinstance(value, np.ndarray):
        body = np.array2string(value, precision=4, threshold=12, edgeitems=3, suppress_small=False)
        text = f"{body}  (shape {value.shape}, {value.dtype})"
    elif isinstance(value, (tuple, list)):
        inner = ", ".join(format_value(v, limit=limit // 2) for v in value)
        text = f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k}: {format_value(v, limit=limit // 2)}" for k, v in value.items()) + "}"
    elif isinstance(value, (float, np.floating)):
        text = f"{float(value):.6g}"
    elif isinstance(value, np.random.Generator):
        text = "np.random.Generator"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def compare_outputs(expected: Any, got: Any, *, rtol: float = 1e-6, atol: float = 1e-8, check_dtype: bool = True,
                    path: str = "the result") -> str | None:
    """Why ``got`` differs from ``expected`` (a sentence), or None when they match.

    Never raises: whatever ``got`` is (a ragged list, an array where a list was expected, a
    huge int), the answer is a sentence, so a check cell cannot crash on a learner's output.
    """
    try:
        return _compare_outputs(expected, got, rtol=rtol, atol=atol, check_dtype=check_dtype, path=path)
    except Exception as exc:  # noqa: BLE001
        return (f"{path} ({type(got).__name__} {format_value(got, limit=80)}) cannot be compared with the "
                f"expected {type(expected).__name__}: {type(exc).__name__}: {exc}")


def _compare_outputs(expected: Any, got: Any, *, rtol: float, atol: float, check_dtype: bool,
                     path: str) -> str | None:
    if got is None and expected is not None:
        return f"{path} is None: did you forget the `return` statement?"
    if isinstance(expected, tuple):
        if not isinstance(got, (tuple, list)):
            return f"{path} should be a tuple of {len(expected)} values, got a {type(got).__name__}"
        if len(got) != len(expected):
            return f"{path} should have {len(expected)} values, got {len(got)}"
        for i, (e, g) in enumerate(zip(expected, got)):
            why = compare_outputs(e, g, rtol=rtol, atol=atol, check_dtype=check_dtype, path=f"item {i} of {path}")
            if why:
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


def check_cases(fn: Callable, reference_fn: Callable, cases: list[tuple[str, dict]], *, rtol: float = 1e-6,
                atol: float = 1e-8, check_dtype: bool = True) -> int:
    """Run ``fn`` and ``reference_fn`` on each ``(label, kwargs)`` case; raise ``CheckFailed`` on the first mismatch.

    Each call gets its own deep copy of the inputs, so a function that modifies its
    arguments cannot corrupt the comparison. Returns the number of cases checked.
    """
    for label, inputs in cases:
        expected = reference_fn(**_copy_inputs(inputs))
        got = fn(**_copy_inputs(inputs))
        why = compare_outputs(expected, got, rtol=rtol, atol=atol, check_dtype=check_dtype)
        if why:
            raise CheckFailed(label, inputs=inputs, expected=expected, got=got, reason=why)
    return len(cases)


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


def _where_it_raised(fn: Callable, exc: BaseException) -> str:
    code = getattr(fn, "__code__", None)
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if code is not None and f.filename == code.co_filename]
    frame = (mine or frames or [None])[-1]
    if frame is None:
        return ""
    return f" (line {frame.lineno}: {frame.line.strip()})" if frame.line else f" (line {frame.lineno})"


def run_check(name: str, fn: Callable) -> CheckResult:
    """Check ``fn`` against exercise ``name`` and return the verdict without printing it."""
    ex = get_exercise(name)
    fallback = ex.reference
    if not callable(fn):
        return CheckResult(name, "failed", f"❌ {name}: failed - expected a function, got {format_value(fn)} "
                                           f"of type {type(fn).__name__}.\n   {_FALLBACK}", fallback)
    try:
        with np.errstate(all="ignore"):
            summary = ex.run_checks(fn)
    except NotImplementedError:
        return CheckResult(name, "not attempted",
                           f"⏳ {name}: not attempted yet - the function still raises NotImplementedError.\n"
                           f"   The reference implementation is used from here on, so the rest of the notebook runs. "
                           f"Come back, fill it in, and re-run this cell.", fallback)
    except CheckFailed as failure:
        if failure.mistake is not None:
            if failure.mistake not in ex.mistakes:
                raise KeyError(f"check of {name!r} names unknown mistake {failure.mistake!r}")
            key, hint = failure.mistake, ex.mistakes[failure.mistake].hint
        elif failure.hint:
            key, hint = None, failure.hint
        else:
            key, hint = _diagnose(ex, failure)
        lines = [f"❌ {name}: failed on case: {failure.case}"]
        if failure.inputs is not None:
            lines.append("   inputs:   " + ", ".join(f"{k}={format_value(v)}" for k, v in failure.inputs.items()
                                                    if not isinstance(v, np.random.Generator)))
        if failure.show_values:
            lines.append(f"   expected: {format_value(failure.expected)}")
            lines.append(f"   got:      {format_value(failure.got)}")
        if failure.reason:
            lines.append(f"   problem:  {failure.reason}")
        lines.append(f"   hint:     {hint or ex.generic_hint}")
        lines.append(f"   {_FALLBACK}")
        return CheckResult(name, "failed", "\n".join(lines), fallback, key)
    except Exception as exc:  # noqa: BLE001 - the learner's code may raise anything; never crash the notebook
        return CheckResult(name, "failed",
                           f"❌ {name}: failed - your function raised {type(exc).__name__}: {exc}"
                           f"{_where_it_raised(fn, exc)}.\n   hint:     {ex.generic_hint}\n   {_FALLBACK}",
                           fallback)
    return CheckResult(name, "passed", f"✅ {name}: passed - {summary}", fn)


_FALLBACK = ("The reference implementation is used from here on so the rest of the notebook still works; "
             "fix your function and re-run both cells.")


def check(name: str, fn: Callable) -> Callable:
    """Check the learner's ``fn`` for exercise ``name``, print the verdict, return what to use next.

    Returns ``fn`` when it passed, otherwise the reference implementation. Never raises
    because of the learner's code.
    """
    result = run_check(name, fn)
    print(result.message)
    return result.implementation
