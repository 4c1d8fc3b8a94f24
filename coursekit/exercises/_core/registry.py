"""The registry of exercises: each with its reference, its checks and its catalogue of typical
wrong answers (``Mistake``), looked up by name."""
from __future__ import annotations

import inspect
import textwrap
from dataclasses import dataclass, field
from typing import Any, Callable

REGISTRY: dict[str, "Exercise"] = {}


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
