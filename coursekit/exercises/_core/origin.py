"""Where an exception came from: the learner's line (not numpy's or coursekit's), and whether a
``NotImplementedError`` is the blank stub's or sits in a branch of a partly written answer."""
from __future__ import annotations

import ast
import inspect
import os
import sysconfig
import textwrap
import traceback
from typing import Callable

import numpy as np

from . import guard as _guard_module
from .display import _clip


def _library_dirs() -> tuple[str, ...]:
    # coursekit/ itself: three levels up from coursekit/exercises/_core/origin.py
    coursekit_dir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    dirs = {coursekit_dir, os.path.dirname(np.__file__)}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            dirs.add(os.path.abspath(path))
    return tuple(sorted(d + os.sep for d in dirs))


_LIBRARY_DIRS = _library_dirs()


def _is_library(filename: str) -> bool:
    if filename.startswith("<") and not filename.startswith("<ipython"):
        return True  # <frozen ...>, <string> built by a library
    return os.path.abspath(filename).startswith(_LIBRARY_DIRS)


def _learner_frame(fn: Callable, exc: BaseException) -> traceback.FrameSummary | None:
    """The deepest frame of the traceback in the learner's code (their function or their own helpers)."""
    told = getattr(exc, "coursekit_origin", None)   # raised in another process, which said where (isolation.py)
    if told is not None:
        return told.frame
    frames = traceback.extract_tb(exc.__traceback__)
    guard_calls = [i for i, f in enumerate(frames) if f.filename == _guard_module.__file__ and f.name == "__call__"]
    frames = frames[guard_calls[-1] + 1:] if guard_calls else frames
    code = getattr(inspect.unwrap(fn), "__code__", None)
    own = code.co_filename if code is not None else None
    mine = [f for f in frames if f.filename == own or not _is_library(f.filename)]
    return mine[-1] if mine else None


def _at_line(frame: traceback.FrameSummary | None) -> str:
    if frame is None:
        return ""
    return f" (line {frame.lineno}: {_clip(frame.line.strip(), 120)})" if frame.line else f" (line {frame.lineno})"


def _raises_before_doing_anything(fn: Callable, exc: BaseException) -> bool | None:
    """Whether ``fn`` reaches the statement that raised ``exc`` on every call (a blank stub).

    True when that statement is at the top level of the function's body and no statement
    before it can return; False when it sits in a branch (a partial answer); None when the
    source cannot be read.
    """
    told = getattr(exc, "coursekit_origin", None)   # raised in another process, which said (isolation.py)
    if told is not None:
        return told.blank
    target = inspect.unwrap(fn)
    code = getattr(target, "__code__", None)
    if code is None:
        return None
    lines = [tb.tb_lineno for tb in _walk_tb(exc.__traceback__) if tb.tb_frame.f_code is code]
    if not lines:
        return None
    try:
        source_lines, first = inspect.getsourcelines(target)
        tree = ast.parse(textwrap.dedent("".join(source_lines)))
    except (OSError, TypeError, SyntaxError, IndentationError):
        return None
    func = next((n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))), None)
    if func is None:
        return None
    line = lines[-1] - first + 1
    for statement in func.body:
        end = getattr(statement, "end_lineno", statement.lineno)
        if statement.lineno <= line <= end:
            return not isinstance(statement, _BRANCHING)
        if any(isinstance(n, (ast.Return, ast.Yield, ast.YieldFrom)) for n in ast.walk(statement)):
            return False
    return None


_BRANCHING = (ast.If, ast.For, ast.While, ast.Try, ast.With, ast.AsyncFor, ast.AsyncWith,
              *((ast.Match,) if hasattr(ast, "Match") else ()), *((ast.TryStar,) if hasattr(ast, "TryStar") else ()))


def _walk_tb(tb):
    while tb is not None:
        yield tb
        tb = tb.tb_next
