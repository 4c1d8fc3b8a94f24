"""The grader's side of the process that runs a learner's code (``child.py``, in the sandbox).

``LearnerProcess`` starts it, loads cells into it and hands out ``GradedFunction`` stand-ins: the
course's checker calls a stand-in exactly as it would call the learner's function, in the grader's
own process, while the call itself runs in the learner's process. The checker's comparisons, and
so the verdict, never run where learner code runs.

A stand-in behaves like the function: arguments go over (arrays by value), the result comes back,
an array the function changed in place changes in the caller's array too, a returned argument (or a
view of one) is the caller's own object, a random generator has drawn what the function drew, and a
callable argument (``f`` in ``numerical_gradient(f, x)``) calls back into the grader. An exception
the function raised is raised again in the grader (same name, built-in base class; never code from
the learner's side), with where it was raised (``coursekit_origin``).

Time: a call may last only what is left of the check's budget (``run_check``'s); then the process is
killed (a learner's ``except:`` cannot swallow that) and ``_OutOfTime`` raised, as the check's own
limit would. A process that ends (``os._exit``, a crash, a kill) fails the call with
``LearnerProcessEnded``; later calls fail at once.
"""
from __future__ import annotations

import signal
import subprocess
import time
import traceback
from pathlib import Path

from . import wire
from .sandbox import end_process

DEFAULT_CALL_SECONDS = 30.0


class LearnerProcessEnded(Exception):
    """The process running the learner's code is gone (it ended itself, crashed or was stopped)."""


class LearnerTimeout(Exception):
    """A request to the learner's process did not finish in time; the process was killed."""


def _budget_left() -> float | None:
    """Seconds left in the check in progress in this thread, or None outside a check."""
    from ..exercises._core import _active

    guard = _active()
    return None if guard is None else guard.budget.seconds - guard.budget.elapsed()


class GradedFunction:
    """The learner's function as the grader's checker sees it (see the module docstring)."""

    def __init__(self, process: "LearnerProcess", fid: int, name: str, signature) -> None:
        self._process, self._fid = process, fid
        self.__name__ = self.__qualname__ = name
        self.__module__ = "learner"
        self.__doc__ = None
        if signature is not None:
            self.__signature__ = signature

    def __repr__(self) -> str:
        return f"<function {self.__name__} (graded in the learner's process)>"

    def __call__(self, *args, **kwargs):
        return self._process.call(self._fid, args, kwargs)


class LearnerProcess:
    """A running ``child.py``: ``command`` starts it (the sandbox's wrapping included)."""

    def __init__(self, command: list[str], *, env: dict[str, str] | None = None, on_start=None) -> None:
        self.sources: dict[str, str] = {}   # "<cell 14>" -> that cell's code, for messages
        self.codec = wire.Codec(+1, self._remote)
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                                     stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
        if on_start is not None:
            on_start(self)
        self.connection = wire.Connection(self.proc.stdout.fileno(), self.proc.stdin.fileno(), self.codec,
                                          catch=Exception, on_raise=self._origin)
        self.ended: str | None = None

    # -- life
    def kill(self, why: str = "it was stopped") -> None:
        if self.ended is None:
            self.ended = why
        end_process(self.proc)
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass

    @property
    def alive(self) -> bool:
        return self.ended is None and self.proc.poll() is None

    def _why_ended(self) -> str:
        code = self.proc.poll()
        if code is None:
            return "it stopped answering"
        if code < 0:
            try:
                return f"it was killed by signal {signal.Signals(-code).name}"
            except ValueError:
                return f"it was killed by signal {-code}"
        return f"it exited with code {code}"

    def _ended(self, why: str | None = None) -> LearnerProcessEnded:
        if self.ended is None:
            time.sleep(0.05)   # let a process that is exiting finish, for its exit code
            self.ended = why or self._why_ended()
        self.kill(self.ended)
        return LearnerProcessEnded(f"the process running your code ended ({self.ended})")

    # -- talking
    def _talk(self, exchange, seconds: float, *, in_check: bool = False):
        """Run ``exchange(deadline)`` with the learner's process; whatever goes wrong ends the process.

        Past ``seconds``: ``_OutOfTime`` inside a check (its limit is this), else ``LearnerTimeout``.
        """
        from ..exercises._core import _OutOfTime

        if not self.alive:
            raise self._ended()
        try:
            return exchange(time.monotonic() + seconds)
        except TimeoutError:
            self.kill(f"it was stopped after {seconds:.1f} s" + (", at the time limit" if in_check else ""))
            if in_check:
                raise _OutOfTime from None
            raise LearnerTimeout(f"still running after {seconds:g} s") from None
        except (EOFError, BrokenPipeError, ConnectionError) as exc:
            raise self._ended() from exc
        except wire.WireError as exc:
            raise self._ended(f"it sent something the grader cannot read: {exc}") from exc
        except Exception:
            raise   # the learner's exception, rebuilt (or one of the grader's callbacks')
        except BaseException:
            self.kill("the grader stopped it")   # a time limit or an interruption of the grader's own
            raise

    def request(self, message: dict, *, seconds: float, blobs: list[bytes] | None = None):
        """Send a request (load, describe, bind, status) and wait up to ``seconds`` for the reply."""
        return self._talk(lambda deadline: self.connection.request(message, blobs or [], deadline,
                                                                   begin=blobs is None), seconds)

    def call(self, fid: int, args: tuple, kwargs: dict):
        """Call function ``fid`` of the learner's process within the current check's time budget."""
        from ..exercises._core import _OutOfTime

        left = _budget_left()
        if left is not None and left <= 0:
            raise _OutOfTime
        return self._talk(lambda deadline: self.connection.call(fid, args, kwargs, deadline),
                          DEFAULT_CALL_SECONDS if left is None else left, in_check=left is not None)

    def load(self, cells: list[dict], *, seconds: float) -> list[dict]:
        """Run ``cells`` (``label``, ``source``, ``definitions``) in the learner's namespace; one report per cell."""
        for cell in cells:
            self.sources[f"<{cell['label']}>"] = cell["source"]
        reply, _ = self.request({"op": "load", "cells": cells}, seconds=seconds)
        reports = reply.get("cells")
        return [r for r in reports if isinstance(r, dict)] if isinstance(reports, list) else []

    def function(self, name: str, *, seconds: float = 10.0) -> tuple[GradedFunction | None, str | None]:
        """(a stand-in for the function named ``name``, None) or (None, the type of what that name holds / None).

        A name that holds one of the grader's own functions (``bind``) gives ``(None, "grader:<its name>")``.
        """
        reply, blobs = self.request({"op": "describe", "name": name}, seconds=seconds)
        if reply.get("found") and isinstance(reply.get("grader"), str) and reply["grader"]:
            return None, f"grader:{reply['grader']}"
        if not reply.get("found"):
            return None, reply.get("type") if isinstance(reply.get("type"), str) else None
        function = self.codec.decode(reply.get("function"), blobs)
        return (function, None) if isinstance(function, GradedFunction) else (None, "function")

    def bind(self, name: str, fn, *, seconds: float = 10.0) -> None:
        """Set ``name`` in the learner's namespace to the grader's ``fn`` (calls come back here)."""
        blobs: list[bytes] = []
        value = self.codec.encode(fn, blobs)   # a function: registered for the whole session
        self.request({"op": "bind", "name": name, "value": value}, seconds=seconds, blobs=blobs)

    def blocked(self) -> int:
        """How many times the learner's code reached for coursekit (which is not there)."""
        reply, _ = self.request({"op": "status"}, seconds=10)
        count = reply.get("blocked")
        return count if isinstance(count, int) else 0

    # -- the codec's hooks
    def _remote(self, fid: int, name: str, signature) -> GradedFunction:
        return GradedFunction(self, fid, name, signature)

    def _origin(self, exc: BaseException, reply: dict) -> None:
        from ..exercises._core.isolation import Origin

        told = reply.get("origin") if isinstance(reply.get("origin"), dict) else {}
        where, frame = told.get("frame"), None
        if isinstance(where, dict) and isinstance(where.get("line"), int) and isinstance(where.get("file"), str):
            lines = self.sources.get(where["file"], "").splitlines()
            line = lines[where["line"] - 1] if 0 < where["line"] <= len(lines) else None
            frame = traceback.FrameSummary(where["file"], where["line"], str(where.get("name", "?"))[:100],
                                           lookup_line=False, line=line)
        blank = told.get("blank") if isinstance(told.get("blank"), bool) else None
        exc.coursekit_origin = Origin(frame, blank)


def child_script() -> Path:
    """The child's program (it imports ``wire.py`` from the same folder)."""
    return Path(__file__).with_name("child.py")
