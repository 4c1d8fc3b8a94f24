"""Exercise checks for the notebooks: ``check(name, fn)`` and ``show_solution(name)``.

Every lesson module in this package (``lesson*.py``) registers its exercises on import.
"""
import importlib
import pkgutil

from ._core import (CHECK_LOG_VARIABLE, TIME_LIMIT_SECONDS, CheckFailed, CheckResult, Exercise, Mistake,
                    all_mistakes, check, check_cases, compare_outputs, describe_difference, exercise_names,
                    format_value, get_exercise, mistake, modifies_input, reference, register, run_check, set_case,
                    show_solution)

__all__ = ["check", "show_solution", "run_check", "reference", "mistake", "all_mistakes", "exercise_names",
           "get_exercise", "register", "Mistake", "CheckFailed", "CheckResult", "Exercise", "check_cases",
           "compare_outputs", "describe_difference", "format_value", "modifies_input", "set_case",
           "TIME_LIMIT_SECONDS", "CHECK_LOG_VARIABLE"]

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("lesson")):
    importlib.import_module(f"{__name__}.{_module}")
