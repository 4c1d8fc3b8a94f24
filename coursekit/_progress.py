"""Progress bars for coursekit, in one place: ``fit``'s bar over epochs, ``run_seeds``'s bar over seeds.

Where each bar is drawn:

* **Jupyter with ipywidgets** (JupyterLab, Jupyter Notebook, Colab's ipywidgets 7): tqdm's
  widget bar while the loop runs. When it closes, its output is *replaced* by one line of
  plain text (e.g. ``epochs: 300/300 in 00:04 (loss=0.1234, ...)``), so a saved notebook holds
  no widget view: reopened without the kernel's widget state, it would show "Error displaying
  widget: model not found".
* **Jupyter without ipywidgets** (JupyterLite/Pyodide, any kernel lacking them): tqdm's text
  bar, drawn in an ordinary output that is updated in place (never on stderr, never leaving a
  blank output behind), replaced by the same summary line at the end.
* **A terminal** (plain Python, IPython's terminal): tqdm's text bar on stderr; a loop that
  runs to the end removes its bar (``leave=False``).

**Switch them all off** with the environment variable ``COURSEKIT_PROGRESS=0`` (also ``off``,
``false`` or ``no``, in any case), e.g. when building the course website or grading:
``COURSEKIT_PROGRESS=0 jupyter nbconvert --execute ...``. Otherwise a bar is shown when the
function's ``progress`` argument is True.

**Every bar ends cleanly.** A loop that ends early on purpose (early stopping, a divergence with
``on_nan="stop"``) ends with the reason (e.g. "stopped early at epoch 11 (0-based) of 300")
instead of looking unfinished (tqdm's notebook bar turns red when closed before its total);
a bar whose loop raises an exception is removed and the exception propagates unchanged.
In JupyterLite/Pyodide (``sys.platform == "emscripten"``) there are no threads, so tqdm's
monitor thread is disabled there (otherwise every bar warns "can't start new thread").
"""
from __future__ import annotations

import os
import sys

from ._validation import check_bool

_OFF_VALUES = ("0", "off", "false", "no")


def progress_enabled(requested: bool) -> bool:
    """Whether to show a bar: ``requested``, unless ``COURSEKIT_PROGRESS`` switches bars off."""
    if os.environ.get("COURSEKIT_PROGRESS", "").strip().lower() in _OFF_VALUES:
        return False
    return bool(requested)


def _std_tqdm():
    from tqdm.std import tqdm

    if sys.platform == "emscripten":
        tqdm.monitor_interval = 0  # no threads in the browser: the monitor thread cannot start
    return tqdm


def _notebook_shell():
    """The IPython shell of a notebook kernel (ipykernel, Colab, Pyodide), or None (terminal, plain Python)."""
    if "IPython" not in sys.modules:
        return None
    try:
        shell = sys.modules["IPython"].get_ipython()
    except Exception:  # noqa: BLE001 - an odd IPython: fall back to the terminal bar
        return None
    if shell is None:
        return None
    name = type(shell).__name__.lower()
    if sys.platform == "emscripten":
        return shell  # JupyterLite's Pyodide kernel
    if "ipykernel.zmqshell" not in sys.modules or "terminal" in name or "qt" in name or "spyder" in name:
        return None
    if any(key == "QT_API" or key.startswith("SPYDER") for key in os.environ):
        return None  # Qt console / Spyder: a text bar reads better there
    return shell


def _widgets_available() -> bool:
    if sys.platform == "emscripten":
        return False  # JupyterLite's page has no widget manager for tqdm's bars
    try:
        from tqdm import notebook
    except Exception:  # noqa: BLE001
        return False
    return getattr(notebook, "IProgress", None) is not None


class _DisplayedText:
    """A file-like target for tqdm's text bar that redraws one notebook output in place."""

    encoding = "utf-8"  # tqdm draws its block characters (not "#") for a UTF-8 target

    def __init__(self, handle) -> None:
        self.handle = handle
        self.shown = None

    def write(self, text: str) -> int:
        line = text.split("\r")[-1].rstrip() or text.replace("\r", "").strip()
        if line and line != self.shown:
            self.shown = line
            self.handle.update({"text/plain": line}, raw=True)
        return len(text)

    def flush(self) -> None:
        pass


def _display(data: dict, **kwargs):
    from IPython.display import display

    return display(data, raw=True, display_id=True, **kwargs)


class ProgressBar:
    """A bar over ``total`` steps, advanced by hand; use it as a context manager.

    ``advance(postfix)`` after each step; ``stop_early(reason)`` when the loop ends early on
    purpose; leaving the ``with`` block closes the bar. In a notebook the bar's output then
    becomes a plain-text summary line (the reason first after ``stop_early``; nothing after an
    exception); in a terminal a full run's bar is removed and an early stop's is kept with its
    reason. The bar is never iterated over: tqdm's notebook iterator marks a loop left with
    ``break`` as failed.
    """

    def __init__(self, total: int, *, desc: str, unit: str, enabled: bool, where: str = "") -> None:
        self.enabled = progress_enabled(check_bool(enabled, "progress", where))
        self.reason: str | None = None
        self.desc, self.unit, self.total = desc, unit, total
        self._warning = False
        self._bar = None
        self._handle = None  # the notebook output the bar lives in (replaced by its summary at the end)
        self.kind = "off"
        if not self.enabled:
            return
        shell = _notebook_shell()
        if shell is not None and _widgets_available():
            from tqdm.notebook import tqdm as notebook_tqdm

            self.kind = "widget"
            self._bar = notebook_tqdm(total=total, desc=desc, unit=unit, leave=False, display=False)
            self._handle = _display(_widget_bundle(self._bar.container, f"{desc}: 0/{total}"))
        elif shell is not None:
            self.kind = "text in a notebook"
            self._handle = _display({"text/plain": f"{desc}: 0/{total}"})
            self._bar = _std_tqdm()(total=total, desc=desc, unit=unit, leave=False, file=_DisplayedText(self._handle),
                                    ncols=100)
        else:
            self.kind = "terminal"
            self._bar = _std_tqdm()(total=total, desc=desc, unit=unit, leave=False)

    def advance(self, postfix: dict | None = None) -> None:
        """One more step done; ``postfix`` (e.g. the epoch's metrics) is shown after the bar."""
        if self._bar is None:
            return
        if postfix:
            self._bar.set_postfix(postfix, refresh=False)
        self._bar.update(1)

    def stop_early(self, reason: str, *, warning: bool = False) -> None:
        """The loop ends before its total on purpose: the bar will close as finished, labelled ``reason``.

        ``warning`` (e.g. a diverged run stopped by ``on_nan="stop"``) is accepted for callers
        that distinguish the two; the reason itself says what happened.
        """
        self.reason, self._warning = reason, warning

    def summary(self) -> str:
        """One line: what ran, how far, how long, the last postfix (e.g. the last epoch's metrics).

        A full run: ``"epochs: 300/300 in 00:04 (loss=0.1234, ...)"``; an early stop:
        ``"stopped early at epoch 11 (0-based) of 300, after 12 epochs in 00:01 (...)"``.
        """
        bar = self._bar
        if bar is None:
            return ""
        elapsed = bar.format_interval(bar.format_dict.get("elapsed", 0.0))
        if self.reason is None:
            text = f"{self.desc}: {bar.n}/{self.total} in {elapsed}"
        else:
            text = f"{self.reason}, after {bar.n} {self.unit}{'' if bar.n == 1 else 's'} in {elapsed}"
        postfix = bar.postfix.strip(", ") if isinstance(bar.postfix, str) else ""
        return f"{text} ({postfix})" if postfix else text

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        bar = self._bar
        if bar is None:
            return False
        finished = exc_type is None
        summary = self.summary() if finished else ""
        if self.kind == "terminal":
            bar.total = bar.n  # whatever happened, the bar is not "unfinished"
            if finished and self.reason is not None:
                bar.leave = True  # keep it visible, as finished, with the reason
                bar.set_description_str(self.reason, refresh=False)
            bar.refresh()
            bar.close()
            return False  # an exception propagates unchanged
        bar.leave = False
        bar.total = bar.n  # closed "complete": tqdm's notebook bar would otherwise turn red first
        if self.kind == "widget":
            _close_widget(bar)
        else:
            bar.close()
        try:
            self._handle.update({"text/plain": summary}, raw=True)
        except Exception:  # noqa: BLE001 - a frontend that cannot update outputs: the bar is closed anyway
            pass
        return False  # an exception propagates unchanged


def _widget_bundle(widget, text: str) -> dict:
    """The output that shows ``widget`` (ipywidgets 7 and 8), with ``text`` for frontends without widgets."""
    bundle = {}
    if hasattr(widget, "_repr_mimebundle_"):  # ipywidgets 8
        try:
            bundle = dict(widget._repr_mimebundle_() or {})
        except Exception:  # noqa: BLE001
            bundle = {}
    if "application/vnd.jupyter.widget-view+json" not in bundle:  # ipywidgets 7 (Colab)
        bundle["application/vnd.jupyter.widget-view+json"] = {"version_major": 2, "version_minor": 0,
                                                               "model_id": widget.model_id}
    bundle["text/plain"] = text
    return bundle


def _close_widget(bar) -> None:
    """Close tqdm's notebook bar and every widget model it made (the output is replaced separately)."""
    container = getattr(bar, "container", None)
    try:
        bar.disp = lambda *args, **kwargs: None  # tqdm.notebook.close() would redraw the bar: nothing to draw
        bar.close()
    except Exception:  # noqa: BLE001
        pass
    if container is None:
        return
    widgets = [container, *getattr(container, "children", ())]
    for widget in widgets:
        for part in (getattr(widget, "layout", None), getattr(widget, "style", None), widget):
            try:
                if part is not None:
                    part.close()
            except Exception:  # noqa: BLE001 - a widget already closed
                pass
