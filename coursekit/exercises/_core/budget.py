"""The time budget of one check, in the checking process: a wall-clock limit that interrupts an
endless loop with ``signal.setitimer`` where the platform allows (POSIX, main thread) and is
otherwise checked after each call of the learner's function."""
from __future__ import annotations

import signal
import sys
import threading
import time

# The whole check of one exercise must finish within this many seconds. The references
# take at most ~20 ms; a correct answer with Python loops over every entry takes about a
# second. Generous, so that a correct answer never fails on a busy machine.
TIME_LIMIT_SECONDS = 10.0


class _OutOfTime(BaseException):
    """The check's time budget ran out (a BaseException, so a learner's `except Exception` cannot swallow it)."""


class _Budget:
    """Wall-clock budget of one check; interrupts an endless loop where the platform allows."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.start = time.perf_counter()
        self.armed = False
        self.live = False
        self.previous = None

    @staticmethod
    def _can_interrupt() -> bool:
        if sys.platform == "emscripten" or not (hasattr(signal, "setitimer") and hasattr(signal, "SIGALRM")):
            return False
        if threading.current_thread() is not threading.main_thread():
            return False
        try:  # someone else's timer (e.g. pytest-timeout) is running: leave it alone
            return signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0) and signal.getsignal(signal.SIGALRM) is not None
        except (OSError, ValueError):
            return False

    def _alarm(self, signum, frame) -> None:
        if self.live:
            raise _OutOfTime

    def __enter__(self) -> "_Budget":
        self.start = time.perf_counter()
        self.live = True
        if self._can_interrupt():
            try:
                self.previous = signal.signal(signal.SIGALRM, self._alarm)
                signal.setitimer(signal.ITIMER_REAL, self.seconds)
                self.armed = True
            except (OSError, ValueError):
                self.armed = False
        return self

    def __exit__(self, *exc_info) -> bool:
        try:
            self.live = False
        finally:
            if self.armed:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, self.previous)
                self.armed = False
        return False

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def exceeded(self) -> bool:
        return self.elapsed() > self.seconds
