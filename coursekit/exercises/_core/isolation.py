"""A check in a child process: the time limit that learner code cannot swallow.

A notebook's check cell (``check(name, fn)``) runs the whole check in a forked copy of the kernel
where ``os.fork`` exists (Linux, macOS, Colab). The check runs there exactly as it would in the
kernel, inside the usual budget (``budget``), and the kernel waits at most the time limit plus
``GRACE_SECONDS`` for the verdict. A function that swallows the budget's interruption (an endless
loop inside a bare ``except:``) has that process killed: the verdict says it was too slow, names the
case it was stuck on, and the kernel lives on. A function that ends its process (``os._exit``, a
crash in C code) fails the same way instead of killing the kernel. Whatever the function prints
reaches the notebook as it prints it. The copy's changes to the kernel's state are lost with it.

Python 3.12 and later warn that forking a process that runs threads (a kernel does) may deadlock
the child; exactly that warning is silenced, because the child only runs the check, talks through
a pipe of its own and leaves with ``os._exit``.

Where there is no ``os.fork`` (Windows; JupyterLite and Pyodide in the browser) the check runs in
the kernel itself, as before: there an endless loop that swallows the interruption hangs the cell.

Also here: ``Origin``, what another process that ran the learner's function (the grader's sandbox)
said about an exception it raised: the learner's line and whether it came from a blank stub. It
travels as the exception's ``coursekit_origin`` attribute, which ``origin.py`` reads first.
"""
from __future__ import annotations

import builtins
import functools
import io
import json
import os
import select
import signal
import struct
import sys
import time
import traceback
import warnings
from typing import Callable, NamedTuple

import numpy as np

from .budget import TIME_LIMIT_SECONDS
from .guard import _active
from .outcome import CheckResult
from .registry import get_exercise
from .verdict import _FALLBACK

GRACE_SECONDS = 2.0
STARTUP_SECONDS = 5.0   # a copy that cannot even start the check (a library that breaks after fork) is given up
OUTPUT_LIMIT = 1 << 20   # characters of the function's printing forwarded to the notebook, per check
_FORK_WARNING = r"This process \(pid=\d+\) is multi-threaded, use of fork\(\) may lead to deadlocks in the child\."
_FRAME = struct.Struct("!I")


class Origin(NamedTuple):
    """Where an exception raised in another process came from: the learner's frame, and whether the
    function raised it before doing anything (a blank stub: True; in a branch: False; unknown: None)."""

    frame: traceback.FrameSummary | None
    blank: bool | None


def can_fork() -> bool:
    return hasattr(os, "fork") and sys.platform not in ("emscripten", "wasi")


def run_check_in_child(run_check: Callable, name: str, fn: Callable) -> CheckResult:
    """``run_check(name, fn)`` in a forked child, killed at the time limit (see the module docstring)."""
    ex = get_exercise(name)
    if not (can_fork() and callable(fn)):
        return run_check(name, fn)
    limit = ex.time_limit if ex.time_limit is not None else TIME_LIMIT_SECONDS
    read_fd, write_fd = os.pipe()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001
            pass
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_FORK_WARNING, category=DeprecationWarning)
            pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        return run_check(name, fn)
    if pid == 0:   # pragma: no cover - the child; it leaves with os._exit
        os.close(read_fd)
        _child(run_check, name, fn, write_fd)
    os.close(write_fd)
    try:
        now = time.monotonic()
        told = _wait(pid, read_fd, now + limit + GRACE_SECONDS, now + STARTUP_SECONDS)
    finally:
        os.close(read_fd)
    if "status" in told:
        passed = told["status"] == "passed"
        return CheckResult(name, told["status"], told["message"], fn if passed else ex.reference, told.get("mistake"))
    if not told.get("started") or "error" in told:
        return run_check(name, fn)   # the copy could not run the check at all: run it here instead
    case = told.get("case") or "(before your function was first called)"
    if told.get("killed"):
        message = (f"FAILED ❌ {name}: too slow - the whole check may take at most {limit:g} s (the reference "
                   f"needs a few milliseconds), and your function was still running on case: {case}. It went on "
                   "after the check interrupted it, so the check's process was stopped.\n"
                   "   hint:     Look for a loop that never ends (a `while` whose condition never changes), and for "
                   "a bare `except:` or `except BaseException:` that catches the interruption; use numpy operations "
                   "on whole arrays instead of Python loops over every entry.\n"
                   f"   {_FALLBACK}")
    else:
        message = (f"FAILED ❌ {name}: your function ended the process that was checking it ({told['ended']}) on "
                   f"case: {case}.\n"
                   "   hint:     Return a value, or raise an exception: os._exit(), os.kill() and a crash in C code "
                   "end the whole process (in a notebook without this protection, the kernel).\n"
                   f"   {_FALLBACK}")
    return CheckResult(name, "failed", message, ex.reference)


# ----------------------------------------------------------------------------- the child

class _Channel:
    """Length-prefixed JSON frames to the parent."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, **frame) -> None:
        data = json.dumps(frame, ensure_ascii=False).encode("utf-8")
        view = memoryview(_FRAME.pack(len(data)) + data)
        while view:
            view = view[os.write(self.fd, view):]


class _Forward(io.TextIOBase):
    """The child's ``sys.stdout`` / ``sys.stderr``: every write goes to the parent, which prints it."""

    def __init__(self, channel: _Channel, stream: str) -> None:
        self.channel, self.stream = channel, stream

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if text:
            self.channel.send(out=str(text), stream=self.stream)
        return len(text)


def _no_input(prompt: str = "") -> str:
    raise RuntimeError("input() cannot be used while a check runs")


def _reporting(fn: Callable, channel: _Channel) -> Callable:
    """``fn``, telling the parent which case each call belongs to (named in the verdict if it never returns)."""

    @functools.wraps(fn)
    def reported(*args, **kwargs):
        guard = _active()
        if guard is not None:
            channel.send(case=guard.case or guard._label(guard._named(args, kwargs)))
        return fn(*args, **kwargs)
    return reported


def _child(run_check: Callable, name: str, fn: Callable, fd: int) -> None:  # pragma: no cover - runs in the child
    code = 0
    try:
        channel = _Channel(fd)
        sys.stdout, sys.stderr = _Forward(channel, "stdout"), _Forward(channel, "stderr")
        sys.stdin = io.StringIO("")
        builtins.input = _no_input
        np.ones((256, 256)) @ np.ones((256, 256))   # the linear algebra works after fork (threaded BLAS)
        channel.send(started=True)
        result = run_check(name, _reporting(fn, channel))
        channel.send(status=result.status, message=result.message, mistake=result.mistake_key)
    except BaseException as exc:  # noqa: BLE001 - whatever happens, the parent hears of it and the child ends
        code = 1
        try:
            channel.send(error=f"{type(exc).__name__}: {exc}")
        except BaseException:  # noqa: BLE001
            pass
    finally:
        os._exit(code)


# ----------------------------------------------------------------------------- the parent

def _wait(pid: int, fd: int, deadline: float, start_deadline: float) -> dict:
    """Print the child's output as it comes; what it told (``status``... or ``killed`` / ``ended``).

    A child that has not said it started by ``start_deadline`` is killed before any learner code ran."""
    told: dict = {}
    buffer, printed = b"", 0
    try:
        while True:
            left = (deadline if told.get("started") else min(deadline, start_deadline)) - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                told["killed"] = True
                break
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            buffer += chunk
            while len(buffer) >= _FRAME.size:
                (size,) = _FRAME.unpack(buffer[:_FRAME.size])
                if len(buffer) < _FRAME.size + size:
                    break
                frame = json.loads(buffer[_FRAME.size:_FRAME.size + size].decode("utf-8"))
                buffer = buffer[_FRAME.size + size:]
                if "out" in frame:
                    printed = _print(frame, printed)
                else:
                    told.update(frame)
    except BaseException:
        _end(pid)
        raise
    status = _end(pid) if told.get("killed") else os.waitpid(pid, 0)[1]
    if "status" not in told and not told.get("killed"):
        told["ended"] = _describe_end(status)
    return told


def _print(frame: dict, printed: int) -> int:
    text = frame["out"]
    stream = sys.stderr if frame.get("stream") == "stderr" else sys.stdout
    if printed < OUTPUT_LIMIT:
        stream.write(text[: OUTPUT_LIMIT - printed])
        if printed + len(text) >= OUTPUT_LIMIT:
            stream.write("\n(... the rest of what your function printed is not shown)\n")
    return printed + len(text)


def _end(pid: int) -> int:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return os.waitpid(pid, 0)[1]


def _describe_end(status: int) -> str:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            return f"killed by signal {signal.Signals(number).name}"
        except ValueError:
            return f"killed by signal {number}"
    return f"exit code {os.WEXITSTATUS(status)}"
