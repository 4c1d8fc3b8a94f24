"""Running a check: ``run_check`` (the verdict, never raising because of the learner's code) and
``check`` (shows it, logs it, returns the implementation to use from then on)."""
from __future__ import annotations

import time
from typing import Callable

import numpy as np

from .budget import TIME_LIMIT_SECONDS, _Budget, _OutOfTime
from .diagnosis import diagnose
from .display import format_value
from .guard import _STATE, _Guarded
from .isolation import run_check_in_child
from .log import _log
from .origin import _at_line, _learner_frame, _raises_before_doing_anything
from .outcome import CheckFailed, CheckResult
from .presentation import show
from .registry import get_exercise
from .verdict import _FALLBACK, _failed_message, _not_attempted, _raised_message, _slow_message


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
        key, hint = diagnose(ex, failure)
        return CheckResult(name, "failed", _failed_message(ex, failure, hint), fallback, key)
    except BaseException as exc:  # noqa: BLE001 - the learner's code may raise anything (SystemExit too)
        return CheckResult(name, "failed", _raised_message(ex, fn, guard, exc), fallback)
    return CheckResult(name, "passed", f"PASSED ✅ {name}: {summary}", fn)


def check(name: str, fn: Callable) -> Callable:
    """Check the learner's ``fn`` for exercise ``name``, show the verdict, return what to use next.

    The verdict is printed in a terminal and shown as a compact rich verdict (with the text as its
    plain-text form) in Jupyter: ``presentation.show``.

    Returns ``fn`` when it passed, otherwise the reference implementation. Never raises
    because of the learner's code. With ``COURSEKIT_CHECK_LOG`` set, appends the verdict
    to that file as one JSON line (see the module docstring). Where it can, it checks ``fn`` in a
    child process that is killed at the time limit (``isolation``).
    """
    start = time.perf_counter()
    result = run_check_in_child(run_check, name, fn)
    seconds = time.perf_counter() - start
    show(result)
    _log(result, seconds)
    return result.implementation
