"""The check log: one JSON line per ``check`` call when ``COURSEKIT_CHECK_LOG`` names a file."""
from __future__ import annotations

import json
import os
import sys

from .outcome import CheckResult

CHECK_LOG_VARIABLE = "COURSEKIT_CHECK_LOG"


def _log(result: CheckResult, seconds: float) -> None:
    path = os.environ.get(CHECK_LOG_VARIABLE)
    if not path:
        return
    record = {"exercise": result.name, "status": result.status, "mistake": result.mistake_key,
              "summary": result.summary, "message": result.message, "seconds": round(seconds, 4)}
    try:
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps(record, ensure_ascii=False) + "\n")
            log.flush()
    except Exception as exc:  # noqa: BLE001 - a log that cannot be written must not break the notebook
        try:
            print(f"(coursekit: could not append to the check log {path!r}: {exc})", file=sys.stderr)
        except Exception:  # noqa: BLE001
            pass
