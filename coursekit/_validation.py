"""Argument checks shared by every module.

Each helper raises a ``TypeError`` or ``ValueError`` whose message names the
argument, the value received and what was expected, so a learner's mistake is
reported where it happens instead of as a NaN ten cells later.
"""
from __future__ import annotations

import math
import numbers

import numpy as np


def describe(value) -> str:
    """A short description of ``value`` for error messages (shape and dtype for arrays)."""
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_rng(rng, name: str = "rng") -> np.random.Generator:
    """Require a ``np.random.Generator`` (not a seed, not ``np.random``, not None)."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{name} must be a numpy random Generator, e.g. np.random.default_rng(0); "
            f"got {describe(rng)} of type {type(rng).__name__}"
        )
    return rng


def check_array(
    x,
    name: str,
    *,
    ndim: int | tuple[int, ...] | None = None,
    floating: bool = True,
    finite: bool = False,
    nonempty: bool = True,
    where: str = "",
) -> np.ndarray:
    """Require a numpy array with the given rank, a floating dtype and (optionally) finite values."""
    # Called on every array of every batch: the common valid case does no string work, and the
    # dtype test tries the two usual scalar types before the general (slower) np.issubdtype.
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{_prefix(where)}{name} must be a numpy array, got {describe(x)} "
                        f"of type {type(x).__name__}")
    if ndim is not None and x.ndim != ndim:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            wanted = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{_prefix(where)}{name} must be {wanted}, got a {x.ndim}-D array of shape {x.shape}")
    if floating and x.dtype.type not in _COMMON_FLOAT_TYPES and not np.issubdtype(x.dtype, np.floating):
        raise TypeError(
            f"{_prefix(where)}{name} must have a floating dtype (float32 or float64), got dtype {x.dtype}; "
            f"convert it with {name}.astype(np.float32)"
        )
    if nonempty and x.size == 0:
        raise ValueError(f"{_prefix(where)}{name} is empty (shape {x.shape}); expected at least one element")
    if finite and not np.all(np.isfinite(x)):
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        raise ValueError(f"{_prefix(where)}{name} contains {bad} non-finite value(s) (NaN or inf); "
                         "expected finite numbers")
    return x


_COMMON_FLOAT_TYPES = (np.float32, np.float64)  # subclasses of np.floating: a shortcut, not a wider check


def _prefix(where: str) -> str:
    return f"{where}: " if where else ""


def check_real(value, name: str, *, low=None, high=None, low_open=False, high_open=False) -> float:
    """Require a finite real number inside [low, high] (ends open where asked)."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number, got {describe(value)} of type {type(value).__name__}")
    try:
        value = float(value)
    except OverflowError:  # an int too big for a float, e.g. 10**400
        raise ValueError(f"{name} must be a finite number, got {describe(value)}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    lo_bad = low is not None and (value <= low if low_open else value < low)
    hi_bad = high is not None and (value >= high if high_open else value > high)
    if lo_bad or hi_bad:
        lo = "" if low is None else ("(" if low_open else "[") + f"{low}"
        hi = "" if high is None else f"{high}" + (")" if high_open else "]")
        if low is not None and high is not None:
            rng_text = f"in {lo}, {hi}"
        elif low is not None:
            rng_text = f"{'>' if low_open else '>='} {low}"
        else:
            rng_text = f"{'<' if high_open else '<='} {high}"
        raise ValueError(f"{name} must be {rng_text}, got {value}")
    return value


def check_int(value, name: str, *, low: int | None = None) -> int:
    """Require an integer (not a bool, not a float) that is at least ``low``."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an integer, got {describe(value)} of type {type(value).__name__}")
    value = int(value)
    if not -2**63 <= value < 2**63:
        shown = str(value) if len(str(value)) <= 30 else f"an integer with {len(str(abs(value)))} digits"
        raise ValueError(f"{name} must fit in a 64-bit integer (|{name}| < 2**63), got {shown}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value}")
    return value


def check_training(training, where: str) -> bool:
    """Require ``training`` to be a bool (Python's or NumPy's): anything else is a ``TypeError``.

    A string such as ``"False"`` is truthy, so accepting it would silently turn dropout on and
    update batch-norm running statistics.
    """
    if isinstance(training, (bool, np.bool_)):
        return bool(training)
    hint = (f"; the string {training!r} is not a bool: write training={training.strip().capitalize()}"
            if isinstance(training, str) and training.strip().lower() in ("true", "false") else "")
    raise TypeError(f"{_prefix(where)}training must be True or False, got {describe(training)} "
                    f"of type {type(training).__name__}{hint}")


def check_probability(value, name: str = "drop_prob") -> float:
    """Require a finite probability in [0, 1]."""
    return check_real(value, name, low=0.0, high=1.0)


def check_bool(value, name: str, where: str = "") -> bool:
    """Require a bool (Python's or NumPy's); a string such as ``"False"`` is truthy, so it is refused."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{_prefix(where)}{name} must be True or False, got {describe(value)} "
                    f"of type {type(value).__name__}")


def check_float_dtype(dtype, name: str = "dtype", where: str = "") -> np.dtype:
    """Require a floating dtype such as ``np.float32`` (an int or bool dtype would truncate the weights)."""
    try:
        resolved = None if dtype is None or isinstance(dtype, (bool, numbers.Number)) else np.dtype(dtype)
    except (TypeError, ValueError):
        resolved = None
    if resolved is None or not np.issubdtype(resolved, np.floating):
        got = f"dtype {resolved}" if resolved is not None else f"{describe(dtype)} of type {type(dtype).__name__}"
        raise TypeError(f"{_prefix(where)}{name} must be a floating dtype such as np.float32 (training) or "
                        f"np.float64 (gradient checks), got {got}")
    return resolved


def check_number(value, name: str, where: str = "") -> float:
    """Require a real number (NaN and +-inf allowed, bool refused); returns it as a Python float."""
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{_prefix(where)}{name} must be a real number, got {describe(value)} "
                        f"of type {type(value).__name__}")
    try:
        return float(value)
    except OverflowError:  # an int too big for a float, e.g. 10**400
        raise ValueError(f"{_prefix(where)}{name} must fit in a float, got {describe(value)}") from None


def check_callable(fn, name: str, where: str = "", expected: str = "a function") -> None:
    """Require something callable (a function, a lambda, an object with ``__call__``)."""
    if not callable(fn):
        raise TypeError(f"{_prefix(where)}{name} must be {expected}, got {describe(fn)} of type {type(fn).__name__}")


def check_cache(cache, cls, where: str, producer: str, *, array_fields: tuple[str, ...] | None = None):
    """``cache`` as a ``cls`` (the NamedTuple ``producer`` returned, or the same values as a plain tuple or
    list), each of ``array_fields`` (default: every field) a floating numpy array; otherwise a TypeError
    naming the field and what was expected (never an AttributeError later in a backward pass)."""
    expected = f"the cache returned by {producer} (a {cls.__name__})"
    if not isinstance(cache, cls):
        if not (isinstance(cache, (tuple, list)) and len(cache) == len(cls._fields)):
            length = f" of length {len(cache)}" if isinstance(cache, (tuple, list)) else ""
            raise TypeError(f"{where}: cache must be {expected} with fields {cls._fields}, got {describe(cache)} "
                            f"of type {type(cache).__name__}{length}")
        cache = cls(*cache)
    for field in cls._fields if array_fields is None else array_fields:
        value = getattr(cache, field)
        if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
            raise TypeError(f"{where}: cache.{field} must be a floating numpy array, as in {expected}; got "
                            f"{describe(value)} of type {type(value).__name__}")
    return cache

