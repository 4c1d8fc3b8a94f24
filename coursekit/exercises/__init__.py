"""Exercise checks for the notebooks: ``check(name, fn)`` and ``show_solution(name)``.

Every lesson module in this package (``lesson*.py``) registers its exercises on import.
"""
import importlib
import pkgutil

from ._core import (CheckFailed, CheckResult, Exercise, Mistake, check, check_cases, compare_outputs,
                    exercise_names, format_value, get_exercise, mistake, reference, register, run_check,
                    show_solution)

__all__ = ["check", "show_solution", "run_check", "reference", "mistake", "exercise_names", "get_exercise",
           "register", "Mistake", "CheckFailed", "CheckResult", "Exercise", "check_cases", "compare_outputs",
           "format_value"]

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("lesson")):
    importlib.import_module(f"{__name__}.{_module}")
