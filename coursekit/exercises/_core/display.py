"""Rendering the values a verdict shows (inputs, expected, got): small arrays in full, big ones
summarized, numbers with every digit where rounding matters, text clipped."""
from __future__ import annotations

import re
from typing import Any

import numpy as np

# ----------------------------------------------------------------------------- showing values

_WHOLE_ARRAY_SIZE = 12  # arrays with at most this many entries (and ndim <= 2) are shown in full


def format_value(value: Any, *, limit: int = 400) -> str:
    """A compact, readable rendering of inputs and outputs for failure messages.

    Small arrays are shown in full, bigger ones summarized (shape, dtype, range, first
    values): a verdict never prints thousands of numbers.
    """
    try:
        return _format_value(value, limit=limit)
    except Exception:  # noqa: BLE001 - a learner's odd object (broken __repr__) must not crash the check
        return f"<{type(value).__name__} object that cannot be displayed>"


def _short(number: Any) -> str:
    return f"{float(number):.6g}" if isinstance(number, (float, np.floating)) else str(number)


def _summarize_array(a: np.ndarray) -> str:
    head = f"array of shape {a.shape}, {a.dtype}"
    if a.size == 0:
        return f"<empty {head}>"
    flat = a.reshape(-1)
    first = ", ".join(_short(v) for v in flat[:3]) + (", ..." if flat.size > 3 else "")
    if a.dtype == bool:
        return f"<{head}: {int(flat.sum())} True; first {first}>"
    if not np.issubdtype(a.dtype, np.number):
        return f"<{head}; first {first}>"
    parts = []
    values = flat.astype(np.float64) if not np.iscomplexobj(flat) else np.abs(flat)
    finite = values[np.isfinite(values)]
    if finite.size:
        parts.append(f"values from {_short(finite.min())} to {_short(finite.max())}")
    n_nan, n_inf = int(np.isnan(values).sum()), int(np.isinf(values).sum())
    if n_nan:
        parts.append(f"{n_nan} NaN")
    if n_inf:
        parts.append(f"{n_inf} inf")
    parts.append(f"first {first}")
    return f"<{head}: {', '.join(parts)}>"


def _format_value(value: Any, *, limit: int) -> str:
    if isinstance(value, np.ndarray):
        if value.size <= _WHOLE_ARRAY_SIZE and value.ndim <= 2:
            body = " ".join(line.strip() for line in
                            np.array2string(value, precision=6, suppress_small=False).splitlines())
            text = f"{body}  (shape {value.shape}, {value.dtype})"
        else:
            text = _summarize_array(value)
    elif isinstance(value, (tuple, list)):
        inner = ", ".join(format_value(v, limit=max(limit // 2, 60)) for v in value)
        text = f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k}: {format_value(v, limit=max(limit // 2, 60))}" for k, v in value.items()) + "}"
    elif isinstance(value, (float, np.floating)):
        text = f"{float(value):.6g}"
    elif isinstance(value, np.random.Generator):
        text = "np.random.Generator"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _precise(value: Any) -> str:
    """Every digit of a number, so values that differ only by rounding look different."""
    try:
        if isinstance(value, (bool, np.bool_)):
            return repr(bool(value))
        if isinstance(value, (int, np.integer)):
            return str(int(value))
        return repr(float(value))
    except Exception:  # noqa: BLE001
        return format_value(value, limit=80)


def _clip(text: str, limit: int) -> str:
    text = re.sub(r"\s*\n\s*", " ", text.strip())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _format_inputs(inputs: dict) -> str:
    shown = [f"{k}={format_value(v, limit=160)}" for k, v in inputs.items() if not isinstance(v, np.random.Generator)]
    return _clip(", ".join(shown), 700)
