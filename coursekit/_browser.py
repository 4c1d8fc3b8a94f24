"""What coursekit does when it runs in the browser (JupyterLite's Pyodide kernel), so a first run is quiet.

Pyodide starts every session with an empty file system, so matplotlib builds its font cache
on the first import and says so on stderr ("Matplotlib is building the font cache; this may take
a moment."): a red output in the learner's first cell although nothing is wrong. ``prepare()``
(called when coursekit is imported, before the notebook imports matplotlib) drops exactly that
one message in the browser; every other message of matplotlib's font manager still shows.
"""
from __future__ import annotations

import logging
import sys

FONT_CACHE_NOTICE = "Matplotlib is building the font cache"


class _FontCacheNotice(logging.Filter):
    """Drops matplotlib's "building the font cache" notice, and nothing else."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            return not str(record.getMessage()).startswith(FONT_CACHE_NOTICE)
        except Exception:  # noqa: BLE001 - a record whose message cannot be formatted is kept
            return True


def prepare(*, platform: str | None = None) -> bool:
    """In JupyterLite (``sys.platform == "emscripten"``), quiet matplotlib's font-cache notice; True if it did."""
    if (platform or sys.platform) != "emscripten":
        return False
    logger = logging.getLogger("matplotlib.font_manager")
    if not any(isinstance(f, _FontCacheNotice) for f in logger.filters):
        logger.addFilter(_FontCacheNotice())
    return True
