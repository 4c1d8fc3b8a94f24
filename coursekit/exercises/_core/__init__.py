"""The machinery behind every check cell.

An exercise is registered once with its reference implementation, a ``run_checks``
function (fixed and random cases, a numerical gradient check where there is a gradient)
and a catalogue of typical wrong answers, each with the hint it deserves.

``check(name, fn)`` runs the checks on the learner's ``fn`` and shows one verdict: printed in a
terminal; in Jupyter one output holding that text and a compact rich form of it (headline,
problem and hint first, the failing case folded; ``presentation``). Its first line starts
with a word, so it reads the same without an emoji font:

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

The parts of this package, each named after what it does:

* ``registry`` - ``Exercise``, ``Mistake``, ``register`` and the look-ups by name;
* ``outcome`` - ``CheckFailed`` (a check's first failing case) and ``CheckResult`` (the verdict);
* ``inputs`` - copies and snapshots of the arguments, in-place changes, ``modifies_input``;
* ``guard`` - the wrapper around the learner's function (stub names, watched inputs, timed calls);
* ``budget`` - the time limit of a check inside the checking process;
* ``isolation`` - a check in a forked child process, killed at the time limit (``check`` uses it);
* ``comparison`` - ``compare_outputs``, ``describe_difference``, ``check_cases``;
* ``diagnosis`` - which catalogued mistake a wrong answer made, and its hint;
* ``origin`` - where an exception came from (the learner's line; blank stub or partial answer);
* ``display`` - rendering values for a verdict (``format_value``);
* ``verdict`` - the verdict's text;
* ``presentation`` - showing it: plain text in a terminal, a compact rich verdict in Jupyter;
* ``log`` - the check log;
* ``runner`` - ``run_check`` and ``check``.

Every name is importable from ``coursekit.exercises._core`` itself, as before the split.
"""
from .budget import TIME_LIMIT_SECONDS, _Budget, _OutOfTime
from .comparison import (_compare_outputs, _describe_difference, _first_difference, _swap_partner, check_cases,
                         compare_outputs, describe_difference, more_outputs)
from .diagnosis import _diagnose, _swap_hint, diagnose
from .display import _WHOLE_ARRAY_SIZE, _clip, _format_inputs, _format_value, _precise, _short, _summarize_array, \
    format_value
from .guard import _STATE, _active, _describe_call, _Guarded, _plain, _Raised, _signature, set_case
from .inputs import (_GENERIC_WHY, _IN_PLACE_HINT, _changed, _copy_inputs, _in_place_hint, _restore, _scribble,
                     _snapshot, modifies_input)
from .log import CHECK_LOG_VARIABLE, _log
from .origin import (_BRANCHING, _LIBRARY_DIRS, _at_line, _is_library, _learner_frame, _library_dirs,
                     _raises_before_doing_anything, _walk_tb)
from .outcome import CheckFailed, CheckResult
from .presentation import show, verdict_html, verdict_parts
from .registry import (REGISTRY, Exercise, Mistake, all_mistakes, exercise_names, get_exercise, mistake, reference,
                       register, show_solution)
from .runner import check, run_check
from .verdict import _FALLBACK, _failed_message, _not_attempted, _raised_message, _slow_message

__all__ = [
    "CheckFailed", "Mistake", "Exercise", "CheckResult", "register", "check", "run_check",
    "show_solution", "reference", "mistake", "exercise_names", "get_exercise", "all_mistakes",
    "compare_outputs", "check_cases", "format_value", "describe_difference", "set_case",
    "modifies_input", "TIME_LIMIT_SECONDS", "CHECK_LOG_VARIABLE",
]
