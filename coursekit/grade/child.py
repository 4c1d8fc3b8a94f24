"""The process that runs a learner's code for the grader, answering its requests over stdin/stdout.

The grader starts it (in the sandbox, where coursekit is not even on disk) as a script, next to a
copy of ``wire.py``, and asks it to

* ``load``: run notebook cells in one namespace, as the notebook would. A cell marked
  ``definitions`` runs only its top-level imports, ``def`` and ``class`` statements and the
  assignments that call nothing (so a learner's helper functions and constants exist, while the
  notebook's experiments do not run); any other cell runs whole. Each cell's error, if any, is
  reported; the next cell still runs;
* ``describe``: say whether a name holds a function, and hand it over so that the grader can call it;
* ``bind``: set a name to a function of the grader (the course's reference of an exercise whose
  answer did not pass, as the notebook's check cell does);
* ``call``: call one of the functions it handed over (the grader's checker does, case by case).

Standalone on purpose (the standard library and numpy only): it must run where coursekit is not.
"""
from __future__ import annotations

import ast
import builtins
import inspect
import io
import linecache
import os
import sys
import textwrap
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wire  # noqa: E402 - the copy of coursekit/grade/wire.py beside this file

UNAVAILABLE = ("the course's package coursekit, its solutions included, is not available to your code when it is "
               "graded: write the exercise yourself")
_blocked = 0


class _NoCoursekit:
    """An import hook: ``import coursekit`` (or any part of it) fails with a message that says why."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "coursekit" or fullname.startswith("coursekit."):
            global _blocked
            _blocked += 1
            raise ModuleNotFoundError(f"No module named {fullname!r}: {UNAVAILABLE}", name=fullname)
        return None


def _unavailable(name: str):
    def stand_in(*args, **kwargs):
        global _blocked
        _blocked += 1
        raise RuntimeError(f"{name}() is not available: {UNAVAILABLE}")
    stand_in.__name__ = name
    return stand_in


class _NoIPython:
    """What ``get_ipython()`` gives the cells: magics (``%timeit``, ``!ls``) do nothing here, except that the
    body of a ``%%time`` or ``%%capture`` cell runs, as it would in the notebook."""

    def __init__(self, namespace: dict) -> None:
        self.namespace = namespace

    def run_cell_magic(self, name, line, cell):
        if name in ("time", "capture"):
            exec(compile(cell, "<cell magic>", "exec"), self.namespace)

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


# ---------------------------------------------------------------------------------------
# Running cells
# ---------------------------------------------------------------------------------------

def _calls_something(node: ast.AST) -> bool:
    """Whether evaluating ``node`` may call a function (lambdas' bodies do not run when defined)."""
    if isinstance(node, ast.Lambda):
        return any(_calls_something(d) for d in node.args.defaults + [d for d in node.args.kw_defaults if d])
    if isinstance(node, (ast.Call, ast.Await, ast.Yield, ast.YieldFrom, ast.ListComp, ast.SetComp, ast.DictComp,
                         ast.GeneratorExp)):
        return True
    return any(_calls_something(child) for child in ast.iter_child_nodes(node))


def _is_definition(statement: ast.stmt) -> bool:
    if isinstance(statement, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return True
    if isinstance(statement, (ast.Assign, ast.AnnAssign)):
        return statement.value is not None and not _calls_something(statement)
    return False


def _error(exc: BaseException, filename: str) -> dict:
    line = None
    if isinstance(exc, SyntaxError) and exc.filename == filename:
        line = exc.lineno
    else:
        lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
        line = lines[-1] if lines else None
    text = wire._clip(str(exc), 300) if wire._safe_str(exc) else ""
    return {"type": wire._clip(type(exc).__name__, 100), "text": text, "line": line}


class Child:
    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.codec = wire.Codec(-1, self._remote)
        self.connection = wire.Connection(read_fd, write_fd, self.codec, catch=BaseException,
                                          describe_raise=self._origin)
        self.namespace = {"__name__": "__main__", "__builtins__": builtins,
                          **{name: _unavailable(name) for name in ("check", "show_solution", "reference")}}
        shell = _NoIPython(self.namespace)
        self.namespace["get_ipython"] = lambda: shell
        self.files: set[str] = set()

    def _remote(self, fid: int, name: str, signature):
        """A function of the grader, callable by the learner's code."""
        connection = self.connection

        def grader_function(*args, **kwargs):
            return connection.call(fid, args, kwargs)
        grader_function.__name__ = grader_function.__qualname__ = name
        grader_function.of_the_grader = name
        if signature is not None:
            grader_function.__signature__ = signature
        return grader_function

    def _run(self, cell: dict) -> dict:
        label, source = str(cell.get("label")), str(cell.get("source", ""))
        filename = f"<{label}>"
        self.files.add(filename)
        # inspect reads the source of code from files named <...> in linecache (as IPython's cells do)
        linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
        try:
            if cell.get("definitions"):
                tree = ast.parse(source, filename)
                for statement in tree.body:
                    if _is_definition(statement):
                        try:
                            exec(compile(ast.Module([statement], []), filename, "exec"), self.namespace)
                        except Exception:  # noqa: BLE001 - e.g. `from coursekit import ...`: the rest still runs
                            pass
            else:
                exec(compile(source, filename, "exec"), self.namespace)
        except BaseException as exc:  # noqa: BLE001 - SystemExit too: the notebook would go on
            return {"label": label, "error": _error(exc, filename)}
        return {"label": label, "error": None}

    def _origin(self, fn, exc: BaseException) -> dict:
        """Where in the learner's cells ``exc`` was raised, and whether ``fn`` raises it before doing anything."""
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename in self.files]
        where = {"file": frames[-1].filename, "line": frames[-1].lineno, "name": frames[-1].name} if frames else None
        return {"origin": {"frame": where, "blank": _raises_before_doing_anything(fn, exc)}}

    def serve(self) -> None:
        connection = self.connection
        while True:
            try:
                message, blobs = connection.receive(None)
            except EOFError:
                return
            op = message.get("op")
            self.codec.begin()
            if op == "call":
                connection.serve_call(message, blobs)
                continue
            if op == "load":
                cells = message.get("cells") if isinstance(message.get("cells"), list) else []
                reply = {"op": "loaded", "cells": [self._run(cell) for cell in cells if isinstance(cell, dict)]}
            elif op == "describe":
                reply = self._describe(str(message.get("name")))
            elif op == "status":
                reply = {"op": "status"}
            elif op == "bind":
                self.namespace[str(message.get("name"))] = self.codec.decode(message.get("value"), blobs)
                reply = {"op": "bound"}
            else:
                reply = {"op": "error", "text": f"unknown request {str(op)[:40]!r}"}
            reply["blocked"] = _blocked
            out: list[bytes] = []
            if op == "describe" and reply.get("found"):
                reply["function"] = self.codec.encode(self.namespace[str(message.get("name"))], out)
            connection.send(reply, out)

    def _describe(self, name: str) -> dict:
        if name not in self.namespace:
            return {"op": "described", "found": False}
        value = self.namespace[name]
        return {"op": "described", "found": callable(value) and not isinstance(value, type),
                "type": wire._clip(type(value).__name__, 100),
                "grader": str(getattr(value, "of_the_grader", ""))[:100] if callable(value) else ""}


def _raises_before_doing_anything(fn, exc: BaseException) -> bool | None:
    """Whether ``fn`` raised ``exc`` from a statement at the top level of its body with nothing before it
    that can return (a blank stub: True), from inside a branch (a partly written answer: False), or None
    when that cannot be read. The same rule the notebook's check applies."""
    target = inspect.unwrap(fn) if callable(fn) else None
    code = getattr(target, "__code__", None)
    if code is None:
        return None
    tb, lines = exc.__traceback__, []
    while tb is not None:
        if tb.tb_frame.f_code is code:
            lines.append(tb.tb_lineno)
        tb = tb.tb_next
    try:
        source_lines, first = inspect.getsourcelines(target)
        function = ast.parse(textwrap.dedent("".join(source_lines))).body[0]
    except (OSError, TypeError, SyntaxError, IndexError):
        return None
    if not lines or not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    line = lines[-1] - first + 1
    branching = (ast.If, ast.For, ast.While, ast.Try, ast.With, ast.AsyncFor, ast.AsyncWith,
                 *(getattr(ast, name) for name in ("Match", "TryStar") if hasattr(ast, name)))
    for statement in function.body:
        if statement.lineno <= line <= getattr(statement, "end_lineno", statement.lineno):
            return not isinstance(statement, branching)
        if any(isinstance(n, (ast.Return, ast.Yield, ast.YieldFrom)) for n in ast.walk(statement)):
            return False
    return None


def main() -> None:
    read_fd, write_fd = os.dup(0), os.dup(1)
    quiet = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(quiet, fd)
    sys.stdin = io.StringIO("")
    sys.stdout = sys.stderr = open(os.devnull, "w", encoding="utf-8")
    sys.meta_path.insert(0, _NoCoursekit())
    for name in [m for m in sys.modules if m == "coursekit" or m.startswith("coursekit.")]:
        del sys.modules[name]
    Child(read_fd, write_fd).serve()


if __name__ == "__main__":
    main()
