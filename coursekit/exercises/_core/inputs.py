"""The learner's arguments: deep copies for each call, snapshots to tell whether a function changed
its inputs in place, and the catalogued wrong answer "right result, but overwrites an argument"."""
from __future__ import annotations

import copy
import inspect
from typing import Any, Callable

import numpy as np

from .display import _precise
from .registry import Mistake

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


def _copy_inputs(inputs: dict) -> dict:
    return {k: copy.deepcopy(v) for k, v in inputs.items()}


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
