"""The guard around the learner's function while it is checked: the stub's parameter names, the
inputs watched for in-place changes, each call timed and named by its case."""
from __future__ import annotations

import functools
import inspect
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .budget import _OutOfTime
from .display import format_value
from .inputs import _GENERIC_WHY, _changed, _copy_inputs, _in_place_hint, _restore, _snapshot
from .outcome import CheckFailed

if TYPE_CHECKING:
    from .budget import _Budget
    from .registry import Exercise

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


def _describe_call(name: str, named: dict) -> str:
    shown = ", ".join(f"{k}={format_value(v, limit=60)}" for k, v in named.items())
    return f"the call {name}({shown})"


def _copied(named: dict) -> dict:
    try:
        return _copy_inputs(named)
    except Exception:  # noqa: BLE001 - an argument that cannot be copied is shown as it is now
        return dict(named)


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
        # What the function was called with, as it was then (the caller may change the arrays afterwards,
        # e.g. numerical_gradient restores the entry it perturbed): a verdict shows these inputs.
        inputs_at_call = _copied(named)
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
        self.last = (label, inputs_at_call, result)
        self.completed += 1
        if self.budget.exceeded():
            raise _OutOfTime
        return result
