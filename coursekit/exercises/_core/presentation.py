"""Showing a verdict: plain text in a terminal, a compact rich verdict in Jupyter.

The verdict's plain text (``CheckResult.message``) is what the grader, the check log and a
terminal get: a first line, then lines ``   label:    text``. In a notebook (JupyterLab,
Jupyter Notebook, Colab, JupyterLite) ``show`` displays one output with two forms of it: that
text as ``text/plain`` and, as ``text/html``, a compact card built from the same lines: the
headline, the problem, the hint and any note first; the failing case (inputs, expected, got,
where they differ) folded in a ``<details>`` part; the fallback sentence last, small. Plain
HTML with inline styles and no script, so every frontend renders it the same way, and a
saved notebook shows it again without a kernel. Prose wraps between words only.
"""
from __future__ import annotations

import html
import re
import sys

from .outcome import CheckResult

# The labels a verdict's lines carry (verdict.py writes them), and where the rich form puts them.
_UPFRONT = ("problem", "hint", "note")
_FOLDED = ("inputs", "expected", "got", "differs")
_LABELLED = re.compile(r"^ {3}(" + "|".join(_UPFRONT + _FOLDED) + r"):\s+(.*)$")

_STATUS_COLOURS = {"PASSED": "#2e7d32", "FAILED": "#c62828", "NOT ATTEMPTED": "#b26a00"}
_FOLD_TITLE = {True: "The failing case: inputs, expected, got", False: "Details"}


def verdict_parts(message: str) -> tuple[str, list[tuple[str, str]]]:
    """``(headline, [(label, text), ...])`` of a verdict's plain text, in order.

    Lines without a label (e.g. the fallback sentence, "It answered 3 calls before that one")
    come back with the label ``""``.
    """
    lines = message.splitlines() or [""]
    parts = []
    for line in lines[1:]:
        match = _LABELLED.match(line)
        if match:
            parts.append((match.group(1), match.group(2).strip()))
        elif line.strip():
            parts.append(("", line.strip()))
    return lines[0], parts


def _status(headline: str) -> str:
    return next((word for word in _STATUS_COLOURS if headline.startswith(word)), "")


_PROSE = "overflow-wrap: break-word; word-break: normal; white-space: normal; hyphens: none"
_CODE = ("font-family: var(--jp-code-font-family, SFMono-Regular, Menlo, Consolas, monospace); font-size: 12px; "
         "overflow-wrap: break-word; word-break: normal; white-space: pre-wrap")


def _prose(text: str) -> str:
    """Escaped text, with `code` spans set in a code font."""
    return re.sub(r"`([^`]+)`", lambda m: f'<code style="font-size: 12px">{m.group(1)}</code>', html.escape(text))


def verdict_html(message: str) -> str:
    """The compact rich form of a verdict's plain text (see the module docstring)."""
    headline, parts = verdict_parts(message)
    status = _status(headline)
    colour = _STATUS_COLOURS.get(status, "#616161")
    head, _, rest = headline.partition(": ")
    rows = [f'<div><span style="font-weight: 600; color: {colour}">{html.escape(head)}</span>'
            + (f": {_prose(rest)}" if rest else "") + "</div>"]
    for label in _UPFRONT:
        for name, text in parts:
            if name == label:
                rows.append(f'<div style="margin-top: 3px"><b>{label.capitalize()}:</b> {_prose(text)}</div>')
    folded = [(name, text) for name, text in parts if name in _FOLDED]
    if folded:
        cells = "".join(
            f'<tr><td style="padding: 1px 8px 1px 0; vertical-align: top; text-align: left; white-space: nowrap">'
            f'{name}</td><td style="padding: 1px 0; text-align: left; {_CODE}">{html.escape(text)}</td></tr>'
            for name, text in folded)
        title = _FOLD_TITLE[any(name in ("expected", "got") for name, _ in folded)]
        rows.append(f'<details style="margin-top: 4px"><summary style="cursor: pointer">{title}</summary>'
                    f'<table style="border-collapse: collapse; margin: 2px 0 0 0; table-layout: auto">{cells}</table>'
                    "</details>")
    for name, text in parts:
        if name == "":
            rows.append(f'<div style="margin-top: 3px; font-size: 12px; opacity: 0.8">{_prose(text)}</div>')
    return (f'<div class="coursekit-verdict" style="border-left: 4px solid {colour}; padding: 2px 0 2px 10px; '
            f'margin: 2px 0; line-height: 1.45; font-size: 13px; {_PROSE}">' + "".join(rows) + "</div>")


def show(result: CheckResult) -> None:
    """Show the verdict: the rich form (with the text as its plain-text fallback) in a notebook, else print it."""
    from ..._progress import _notebook_shell

    if _notebook_shell() is not None:
        try:
            from IPython.display import display

            display({"text/plain": result.message, "text/html": verdict_html(result.message)}, raw=True)
            return
        except Exception:  # noqa: BLE001 - a frontend without rich output still gets the text
            pass
    print(result.message)
    sys.stdout.flush()
