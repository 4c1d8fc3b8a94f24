"""The text of a verdict: PASSED / NOT ATTEMPTED / FAILED with the failing case, the problem and the hint."""
from __future__ import annotations

from typing import Callable

import numpy as np

from .budget import _OutOfTime
from .comparison import compare_outputs, describe_difference
from .display import _clip, _precise, format_value, _format_inputs
from .guard import _Guarded
from .inputs import _copy_inputs
from .origin import _at_line, _learner_frame
from .outcome import CheckFailed, CheckResult
from .registry import Exercise


def _failed_message(ex: Exercise, failure: CheckFailed, hint: str) -> str:
    lines = [f"FAILED ❌ {ex.name}: failed on case: {failure.case}"]
    if failure.inputs is not None:
        lines.append("   inputs:   " + _format_inputs(failure.inputs))
    if failure.show_values:
        expected, got = format_value(failure.expected), format_value(failure.got)
        difference = failure.difference or describe_difference(failure.expected, failure.got,
                                                               tolerance=failure.tolerance, names=ex.output_names)
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



_FALLBACK = ("The reference implementation is used from here on so the rest of the notebook still works; "
             "fix your function and re-run both cells.")
