"""Reading a class's submissions: which files, whose, which lesson, and where each answer is.

**Whose.** Every notebook inside a learner's folder is that learner's, whatever its name
(``submissions/alice/dropout_final_v2.ipynb`` is alice's): for a folder given on the command line,
the learner is the first folder below it, or the file's own name for a notebook directly in it
(``submissions/bob.ipynb`` is bob's). A notebook given by its path is its folder's when named like a
lesson (``alice/02_dropout.ipynb``), else its own (``alice.ipynb``). ``--learner file|folder`` forces
one rule.

**Which lesson.** The one whose exercises its check cells name; failing that (check cells deleted),
the one whose exercise functions it defines; failing that, the two digits of an ``NN_`` in its name.

**Where the answer is.** The code cell that defines the exercise's function (``def name(`` or
``name = ...``, not the check cell's ``name = check(...)``): the last such cell before the exercise's
first check cell, as the notebook would have used it. Cells moved after their check cell, or a
check cell deleted, are found all the same and reported as such.
"""
from __future__ import annotations

import ast
import json
import os
import re
from collections import Counter
from pathlib import Path

CHECK_CALL = re.compile(r"""\bcheck\(\s*["'](\w+)["']""")
_LESSON_IN_NAME = re.compile(r"(?<!\d)(\d\d)_")
_LESSON_FILE = re.compile(r"^\d\d_.*\.ipynb$")
_LESSON_MODULE = re.compile(r"\.lesson(\d\d)_")
MAX_NOTEBOOK_BYTES = 64 << 20


def lesson_exercises() -> dict[str, list[str]]:
    """{lesson number ("00"): its exercises' names in the notebook's order}, from ``coursekit.exercises``.

    A lesson without exercises (the capstone) is not listed.
    """
    from ..exercises import _core

    lessons: dict[str, list[str]] = {}
    for name, exercise in _core.REGISTRY.items():  # registration order = the notebook's order
        match = _LESSON_MODULE.search(getattr(exercise.run_checks, "__module__", "") or "")
        if match:
            lessons.setdefault(match.group(1), []).append(name)
    return dict(sorted(lessons.items()))


# ---------------------------------------------------------------------------------------
# Finding submissions, and whose they are
# ---------------------------------------------------------------------------------------

def collect(paths) -> list[tuple[Path, Path | None]]:
    """(notebook, the folder it was found in or None for a file given by its path), in a stable order.

    Folders are searched without following symbolic links to folders; a linked notebook found in a
    folder is listed (and refused when read: a learner's link may point at a classmate's file)."""
    found: list[tuple[Path, Path | None]] = []
    for path in map(Path, paths):
        if path.is_dir():
            inside = []
            for folder, subfolders, files in os.walk(path):   # never into a linked folder
                subfolders[:] = [d for d in subfolders if d != ".ipynb_checkpoints"]
                inside += [Path(folder) / f for f in files if f.endswith(".ipynb")]
            found += [(p, path) for p in sorted(inside)]
        else:
            found.append((path, None))   # a missing file gets its own row ("malformed": no such file)
    unique, seen = [], set()
    for path, root in found:
        key = os.path.normcase(os.path.abspath(path))
        if key not in seen:
            seen.add(key)
            unique.append((path, root))
    return unique


def find_submissions(paths) -> list[Path]:
    """Every notebook in ``paths`` (files as given, folders searched recursively), in a stable order."""
    return [path for path, _ in collect(paths)]


def learner_of(path: Path, rule: str = "auto", root: Path | None = None) -> str:
    """Who a submission belongs to (see the module docstring); ``root`` is the folder it was found in."""
    if rule not in ("auto", "file", "folder"):
        raise ValueError(f"learner rule must be 'auto', 'file' or 'folder', got {rule!r}")
    path = Path(path)
    if rule == "file":
        return path.stem
    if rule == "folder":
        return Path(os.path.abspath(path)).parent.name or path.stem
    if root is not None:
        inside = Path(os.path.abspath(path)).relative_to(os.path.abspath(root)).parts
        return inside[0] if len(inside) > 1 else path.stem
    if _LESSON_FILE.match(path.name):
        return Path(os.path.abspath(path)).parent.name or path.stem
    return path.stem


# ---------------------------------------------------------------------------------------
# Reading one
# ---------------------------------------------------------------------------------------

class Malformed(ValueError):
    """The file is not a notebook that can be run; the message says why."""


def read_submission(path: Path):
    """The notebook at ``path`` (nbformat 4), or ``Malformed`` with a one-line reason."""
    import nbformat

    try:
        if Path(path).stat().st_size > MAX_NOTEBOOK_BYTES:
            raise Malformed(f"the file is over {MAX_NOTEBOOK_BYTES >> 20} MB")
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise Malformed("no such file") from None
    except OSError as exc:
        raise Malformed(f"cannot read the file: {exc.strerror or exc}") from None
    if not raw.strip():
        raise Malformed("the file is empty")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Malformed(f"not a notebook: not UTF-8 text (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Malformed(f"not a notebook: invalid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise Malformed("not a notebook: JSON nested too deeply") from None
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        raise Malformed("not a notebook: JSON without notebook cells")
    if "nbformat" not in data:
        raise Malformed("not a notebook: JSON without an 'nbformat' version")
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # noqa: BLE001 - nbformat raises several kinds; all mean "not a valid notebook"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise Malformed(f"not a valid notebook: {first[:200]}") from None
    return nb


def python_source(source: str) -> str:
    """A cell's code as Python: IPython's ``%magic`` and ``!shell`` lines become calls, as the kernel runs them."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:   # pragma: no cover - IPython comes with ipykernel
        return source
    try:
        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - a cell IPython cannot read stays as it is (and fails where it runs)
        return source


def code_cells(nb) -> dict[int, str]:
    """{index of a code cell: its code as Python}."""
    return {i: python_source(cell.source) for i, cell in enumerate(nb.cells) if cell.cell_type == "code"}


def checked_names(source: str) -> list[str]:
    return CHECK_CALL.findall(source)


_DEFINES = re.compile(r"^(?:async\s+def|def|class)\s+(\w+)|^(\w+)\s*=(?!=)(?!\s*check\()", re.M)


def defined_names(source: str) -> set[str]:
    """Names a cell binds at its top level (def, class, import, assignment), not counting ``x = check(...)``."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        # A cell that does not parse (a typo in the learner's answer) still says what it meant to define.
        return {a or b for a, b in _DEFINES.findall(source)}
    names = set()
    for statement in tree.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(statement.name)
        elif isinstance(statement, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in statement.names)
        elif isinstance(statement, (ast.Assign, ast.AnnAssign)) and statement.value is not None:
            value = statement.value
            if isinstance(value, ast.Call) and getattr(value.func, "id", None) == "check":
                continue
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def lesson_of(nb, path: Path, lessons: dict[str, list[str]], cells: dict[int, str] | None = None):
    """(lesson number or None, a note): from the exercises its check cells name, else the exercise functions
    it defines, else the file name."""
    cells = code_cells(nb) if cells is None else cells
    owner = {name: lesson for lesson, names in lessons.items() for name in names}
    named = Counter(owner[name] for source in cells.values() for name in checked_names(source) if name in owner)
    by_name = _LESSON_IN_NAME.search(Path(path).name)
    if named:
        lesson = named.most_common(1)[0][0]
        note = ""
        if len(named) > 1:
            note = f"check cells of several lessons ({', '.join(sorted(named))}); graded as lesson {lesson}"
        elif by_name and by_name.group(1) != lesson:
            note = f"the file name says lesson {by_name.group(1)}, its check cells lesson {lesson}"
        return lesson, note
    defined = Counter(owner[name] for source in cells.values() for name in defined_names(source) if name in owner)
    if defined:
        lesson = defined.most_common(1)[0][0]
        return lesson, f"no check cell names an exercise; graded as lesson {lesson}, whose exercises it defines"
    if by_name:
        return by_name.group(1), ""
    return None, "cannot tell which lesson this is (no check cell names an exercise, no NN_ in the file name)"


def find_answers(cells: dict[int, str], exercises: list[str]) -> tuple[dict[str, int | None], list[str]]:
    """({exercise: index of the cell holding its answer, or None}, notes on moved or missing cells)."""
    answers: dict[str, int | None] = {}
    notes: list[str] = []
    defines = {i: defined_names(source) for i, source in cells.items()}
    for name in exercises:
        definers = [i for i in sorted(cells) if name in defines[i]]
        checks = [i for i in sorted(cells) if name in checked_names(cells[i])]
        if not definers:
            answers[name] = None
            continue
        if not checks:
            answers[name] = definers[-1]
            notes.append(f"{name}: its check cell is missing; graded the answer in cell {definers[-1] + 1}")
            continue
        before = [i for i in definers if i < checks[0]]
        if before:
            answers[name] = before[-1]
        else:
            answers[name] = definers[0]
            notes.append(f"{name}: its answer (cell {definers[0] + 1}) comes after its check cell "
                         f"(cell {checks[0] + 1}): cells were moved; graded that answer")
    return answers, notes
