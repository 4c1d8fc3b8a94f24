"""Progress bars for coursekit, in one place: ``fit``'s bar over epochs, ``run_seeds``'s bar over seeds.

* ``tqdm.auto``: a widget bar in Jupyter (JupyterLab, Colab, JupyterLite), a text bar elsewhere.
* **Switch them all off** with the environment variable ``COURSEKIT_PROGRESS=0`` (also ``off``,
  ``false`` or ``no``, in any case), e.g. when building the course website or grading:
  ``COURSEKIT_PROGRESS=0 jupyter nbconvert --execute ...``. Otherwise a bar is shown when the
  function's ``progress`` argument is True.
* **Every bar ends cleanly.** tqdm's notebook bar turns red ("danger") when it is closed before
  reaching its total, which made a lesson's early stop look like a crash. Here a loop that ends
  early on purpose (early stopping, a divergence with ``on_nan="stop"``) closes its bar as
  finished, with the reason as its label (e.g. "stopped early at epoch 11 (0-based) of 300"),
  and the bar stays visible (green; orange for a diverged run); a bar whose loop raises an
  exception is hidden and the exception propagates unchanged. A loop that runs to the end
  removes its bar (``leave=False``).
* In JupyterLite/Pyodide (``sys.platform == "emscripten"``) there are no threads, so tqdm's
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


def _tqdm_class():
    from tqdm.auto import tqdm

    if sys.platform == "emscripten":
        tqdm.monitor_interval = 0  # no threads in the browser: the monitor thread cannot start
    return tqdm


class ProgressBar:
    """A bar over ``total`` steps, advanced by hand; use it as a context manager.

    ``advance(postfix)`` after each step; ``stop_early(reason)`` when the loop ends early on
    purpose; leaving the ``with`` block closes the bar (hidden after a full run or an exception,
    kept as finished with its reason after ``stop_early``). The bar is never iterated over:
    tqdm's notebook iterator marks a loop left with ``break`` as failed.
    """

    def __init__(self, total: int, *, desc: str, unit: str, enabled: bool, where: str = "") -> None:
        self.enabled = progress_enabled(check_bool(enabled, "progress", where))
        self.reason: str | None = None
        self._warning = False
        self._bar = _tqdm_class()(total=total, desc=desc, unit=unit, leave=False) if self.enabled else None

    def advance(self, postfix: dict | None = None) -> None:
        """One more step done; ``postfix`` (e.g. the epoch's metrics) is shown after the bar."""
        if self._bar is None:
            return
        if postfix:
            self._bar.set_postfix(postfix, refresh=False)
        self._bar.update(1)

    def stop_early(self, reason: str, *, warning: bool = False) -> None:
        """The loop ends before its total on purpose: the bar will close as finished, labelled ``reason``.

        ``warning=True`` (e.g. a diverged run stopped by ``on_nan="stop"``) draws the finished
        bar orange instead of green in Jupyter.
        """
        self.reason, self._warning = reason, warning

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        bar = self._bar
        if bar is None:
            return False
        _set_total(bar, bar.n)  # whatever happened, the bar is not "unfinished" (a red bar in Jupyter)
        if exc_type is None and self.reason is not None:
            bar.leave = True  # keep it visible, as finished, with the reason
            bar.set_description_str(self.reason, refresh=False)
        else:
            bar.leave = False  # a full run, or an exception: remove the bar (the traceback tells the story)
        bar.refresh()
        bar.close()
        widget = getattr(bar, "container", None)
        if widget is not None and bar.leave and self._warning:
            widget.children[1].bar_style = "warning"
        return False  # an exception propagates unchanged


def _set_total(bar, total: int) -> None:
    """Make ``total`` the bar's total, and its widget's maximum in Jupyter, so a full bar is drawn."""
    bar.total = total
    widget = getattr(bar, "container", None)  # tqdm.notebook: an HBox (label, FloatProgress, text)
    if widget is not None and total > 0:
        widget.children[1].max = total
