"""Grade learners' notebooks: run each one afresh and collect every exercise's verdict.

    python -m coursekit.grade submissions/ [--timeout 300] [--csv grades.csv] [--details details.csv]
                              [--jobs N] [--recheck] [--learner auto|file|folder] [--save-executed DIR]

Arguments are notebooks (``.ipynb``) or folders (searched recursively for ``*.ipynb``, Jupyter's
``.ipynb_checkpoints`` left out). Each submission is executed from top to bottom in a fresh
``python3`` kernel, in its own temporary folder (the data sets load from the installed
``coursekit``, so submissions cannot overwrite each other's files), with coursekit's progress
bars off (``COURSEKIT_PROGRESS=0``) and a wall-clock limit: a notebook still running after
``--timeout`` seconds (kernel start included) is stopped, its kernel killed. A cell that raises
does not stop the run (like nbgrader, every later exercise is still checked); the row says which
cells raised. One bad submission never stops the batch.

The verdicts come from the check log (``COURSEKIT_CHECK_LOG``, see ``coursekit.exercises``):
every ``check(name, fn)`` the notebook runs appends its verdict there, and an exercise's last
verdict counts.

**Who and which lesson.** A submission named like a lesson (``02_dropout.ipynb``: two digits and an
underscore, as ``python -m coursekit.workspace`` names them) belongs to the learner its *folder*
is named after (``submissions/alice/02_dropout.ipynb`` is alice's); any other file is named after
its learner (``submissions/alice.ipynb``). ``--learner file`` or ``--learner folder`` forces one rule.
The lesson is the one whose exercises the notebook's check cells name; failing that, the two
digits in the file name.

**The table** (``--csv``, default ``grades.csv``): one row per submission, columns

* ``learner``, ``lesson`` (``"02"``; empty if unknown), ``submission`` (the path given);
* ``outcome``: one of ``OUTCOMES`` (below) and ``reason``: why, in words (which cells raised,
  where it timed out, why the file is not a notebook, and any note, e.g. "checked twice");
* ``passed``, ``total`` (the lesson's number of exercises) and ``score`` = passed / total
  (three decimals; empty for a lesson without exercises or a file that could not be run);
* one column per exercise of the lessons in the batch, in the course's order, holding its
  ``status`` (``STATUSES``; empty for an exercise of another lesson);
* ``seconds``: how long the submission took to run.

``--details`` adds a long table: one row per (submission, exercise) with ``learner``, ``lesson``,
``submission``, ``exercise``, ``status``, ``mistake`` (the catalogue key of the diagnosed mistake,
when the check recognised one) and ``verdict`` (the verdict's first line, or why there is none).

Outcomes: ``completed`` (ran to the end, no cell raised), ``completed with errors`` (ran to the
end; some cells raised), ``timed out``, ``crashed`` (the kernel died: ``exit``-like code,
out of memory, a segfault), ``malformed`` (not a readable notebook), ``not run`` (it could not be
run at all, e.g. no kernel would start). Statuses: ``passed``, ``failed``, ``not attempted`` (the
stub is still blank), ``not reached`` (the run stopped before the exercise's check), ``not
checked`` (the run went past it but no verdict was logged: its check cell is missing or raised).

The exit code is 0 whatever the submissions did; 2 when the command is misused (bad option, no
notebook found).

``--recheck`` takes the verdicts from a second run instead: the course's own notebook of that
lesson (from ``--course``, default the clone's ``notebooks/``), up to its last check cell, with only
the learner's exercise cells put in (the cell tagged ``exercise`` before each check cell, else the
cell there that defines the checked function). A cell the learner added cannot change those
verdicts; an answer that needs a helper the learner defined in another cell fails there. Where the
two runs disagree, ``reason`` says so ("l2_grad: passed in the notebook's own run, failed when
rechecked"): look at that notebook.

**A limitation to know.** The learner's code runs in the kernel that writes the log, so a
determined learner could write a forged verdict into it (or replace ``check``). The grader takes
nothing from printed output, runs every submission where it cannot touch the others, and flags a
notebook whose code mentions the log (``reason``: "check its verdicts by hand"); ``--recheck``
leaves only the exercise cells themselves able to do it. A flag-free row is still no proof: for
marks that matter, use ``--recheck`` and read the exercise cells of the notebooks you grade.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Verdict", "Grade", "OUTCOMES", "STATUSES", "lesson_exercises", "find_submissions", "learner_of",
           "read_submission", "lesson_of", "course_notebook", "recheck_notebook", "grade_submission", "grade_all",
           "write_csv", "write_details", "summary", "main"]

OUTCOMES = ("completed", "completed with errors", "timed out", "crashed", "malformed", "not run")
STATUSES = ("passed", "failed", "not attempted", "not reached", "not checked")
DEFAULT_TIMEOUT_S = 300.0
KERNEL_NAME = "python3"

_CHECK_CALL = re.compile(r"""\bcheck\(\s*["'](\w+)["']""")
_LESSON_IN_NAME = re.compile(r"(?<!\d)(\d\d)_")
_LESSON_FILE = re.compile(r"^\d\d_.*\.ipynb$")
_LESSON_MODULE = re.compile(r"\.lesson(\d\d)_")
# Code that reaches for the check log or the checker's internals: such a notebook is checked by hand.
_TOUCHES_LOG = re.compile(r"COURSEKIT_CHECK_LOG|CHECK_LOG_VARIABLE|exercises\._core|exercises\s+import\s+_core")


@dataclass
class Verdict:
    """One exercise of one submission: ``status`` is one of STATUSES."""

    exercise: str
    status: str
    mistake: str | None = None
    summary: str = ""
    times_checked: int = 0


@dataclass
class Grade:
    """One submission: who, which lesson, how the run went, and a verdict per exercise of its lesson."""

    submission: Path
    learner: str
    lesson: str | None
    outcome: str
    reason: str = ""
    verdicts: list[Verdict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> int:
        return sum(v.status == "passed" for v in self.verdicts)

    @property
    def total(self) -> int:
        return len(self.verdicts)

    @property
    def score(self) -> float | None:
        """passed / total, or None when there is nothing to score."""
        return self.passed / self.total if self.total else None

    def status_of(self, exercise: str) -> str:
        return next((v.status for v in self.verdicts if v.exercise == exercise), "")


# ---------------------------------------------------------------------------------------
# The course: which exercises each lesson has
# ---------------------------------------------------------------------------------------

def lesson_exercises() -> dict[str, list[str]]:
    """{lesson number ("00"): its exercises' names in the notebook's order}, from ``coursekit.exercises``.

    A lesson without exercises (the capstone) is not listed.
    """
    from .exercises import _core

    lessons: dict[str, list[str]] = {}
    for name, exercise in _core.REGISTRY.items():  # registration order = the notebook's order
        match = _LESSON_MODULE.search(getattr(exercise.run_checks, "__module__", "") or "")
        if match:
            lessons.setdefault(match.group(1), []).append(name)
    return dict(sorted(lessons.items()))


# ---------------------------------------------------------------------------------------
# Finding and reading submissions
# ---------------------------------------------------------------------------------------

def find_submissions(paths) -> list[Path]:
    """Every notebook in ``paths`` (files as given, folders searched recursively), in a stable order."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(p for p in path.rglob("*.ipynb")
                            if ".ipynb_checkpoints" not in p.parts and p.is_file())
        else:
            found.append(path)  # a missing file gets its own row ("malformed": no such file)
    unique, seen = [], set()
    for path in found:
        key = os.path.normcase(os.path.abspath(path))
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique


def learner_of(path: Path, rule: str = "auto") -> str:
    """The learner a submission belongs to: its folder's name (``rule="folder"``, or ``"auto"`` for a
    file named like a lesson, ``02_dropout.ipynb``) or its file name without ``.ipynb``."""
    if rule not in ("auto", "file", "folder"):
        raise ValueError(f"learner rule must be 'auto', 'file' or 'folder', got {rule!r}")
    by_folder = rule == "folder" or (rule == "auto" and _LESSON_FILE.match(path.name))
    if by_folder:
        folder = path.resolve().parent.name
        return folder or path.stem
    return path.stem


class Malformed(ValueError):
    """The file is not a notebook that can be run; the message says why."""


def read_submission(path: Path):
    """The notebook at ``path`` (nbformat 4), or ``Malformed`` with a one-line reason."""
    import nbformat

    try:
        raw = path.read_bytes()
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


def _code_sources(nb) -> list[str]:
    return [cell.source for cell in nb.cells if cell.cell_type == "code"]


def lesson_of(nb, path: Path, lessons: dict[str, list[str]]) -> tuple[str | None, str]:
    """(lesson number or None, a note) from the exercises its check cells name, else from the file name."""
    owner = {name: lesson for lesson, names in lessons.items() for name in names}
    named = Counter(owner[name] for source in _code_sources(nb) for name in _CHECK_CALL.findall(source)
                    if name in owner)
    by_name = _LESSON_IN_NAME.search(path.name)
    if named:
        lesson = named.most_common(1)[0][0]
        note = ""
        if len(named) > 1:
            note = f"check cells of several lessons ({', '.join(sorted(named))}); graded as lesson {lesson}"
        elif by_name and by_name.group(1) != lesson:
            note = f"the file name says lesson {by_name.group(1)}, its check cells lesson {lesson}"
        return lesson, note
    if by_name:
        return by_name.group(1), ""
    return None, "cannot tell which lesson this is (no check cell names an exercise, no NN_ in the file name)"


# ---------------------------------------------------------------------------------------
# Running one submission
# ---------------------------------------------------------------------------------------

@dataclass
class _Run:
    outcome: str
    reason: str = ""
    stopped_at: int | None = None    # index (among all cells) of the cell running when the run stopped
    errors: list[tuple[int, str]] = field(default_factory=list)   # (cell index, "Name: message")


def _describe_cell(nb, index: int) -> str:
    cell = nb.cells[index]
    first = next((line.strip() for line in cell.source.splitlines() if line.strip()), "")
    first = first if len(first) <= 60 else first[:57] + "..."
    return f"cell {index + 1}" + (f" (`{first}`)" if first else "")


def _error_of(cell) -> str | None:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            value = str(output.get("evalue", "")).strip().splitlines()
            return f"{output.get('ename', 'Error')}: {value[0][:150]}" if value else output.get("ename", "Error")
    return None


def _execute(nb, *, workdir: Path, log_path: Path, timeout: float) -> _Run:
    """Run every cell of ``nb`` in place, in a fresh kernel started in ``workdir``; never raises."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    env = dict(os.environ)
    env["COURSEKIT_CHECK_LOG"] = str(log_path)
    env["COURSEKIT_PROGRESS"] = "0"
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # no debugger warning on the kernel's stderr
    started = time.monotonic()
    deadline = started + timeout
    current = {"index": None}

    def remaining(cell) -> float:
        return max(deadline - time.monotonic(), 0.5)

    def on_cell_start(cell, cell_index, **_):
        current["index"] = cell_index

    client = NotebookClient(nb, kernel_name=KERNEL_NAME, allow_errors=True, timeout_func=remaining,
                            interrupt_on_timeout=False, shutdown_kernel="immediate",
                            startup_timeout=int(min(max(timeout, 1), 120)), record_timing=False,
                            resources={"metadata": {"path": str(workdir)}}, on_cell_start=on_cell_start)
    kernel_log = workdir.parent / "kernel-output.txt"
    run = _Run("completed")
    try:
        with open(kernel_log, "wb") as sink:  # the kernel's own stdout/stderr, not the grader's
            client.execute(env=env, stdout=sink, stderr=sink)
    except CellTimeoutError:
        run = _Run("timed out", stopped_at=current["index"])
        where = f" in {_describe_cell(nb, current['index'])}" if current["index"] is not None else ""
        run.reason = f"timed out after {timeout:g} s{where}; stopped there"
    except DeadKernelError:
        run = _Run("crashed", stopped_at=current["index"])
        where = f" while running {_describe_cell(nb, current['index'])}" if current["index"] is not None else ""
        run.reason = f"the kernel died{where}"
        tail = _last_line(kernel_log)
        if tail:
            run.reason += f" (it printed: {tail})"
    except Exception as exc:  # noqa: BLE001 - a submission must never stop the batch
        message = str(exc).strip().splitlines()
        if time.monotonic() >= deadline:
            where = "before the notebook started running" if current["index"] is None \
                else f"in {_describe_cell(nb, current['index'])}"
            run = _Run("timed out", f"timed out after {timeout:g} s {where}",
                       stopped_at=current["index"] if current["index"] is not None else 0)
        elif current["index"] is None:
            run = _Run("not run", f"could not start a {KERNEL_NAME} kernel: {type(exc).__name__}"
                                  + (f": {message[0][:200]}" if message else ""), stopped_at=0)
        else:
            run = _Run("crashed", f"the run failed in {_describe_cell(nb, current['index'])}: "
                                  f"{type(exc).__name__}" + (f": {message[0][:200]}" if message else ""),
                       stopped_at=current["index"])
    last = len(nb.cells) if run.stopped_at is None else run.stopped_at
    run.errors = [(i, err) for i, cell in enumerate(nb.cells[:last + 1]) if cell.cell_type == "code"
                  for err in [_error_of(cell)] if err]
    if run.outcome == "completed" and run.errors:
        run.outcome = "completed with errors"
    return run


def _last_line(path: Path) -> str:
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    lines = [line for line in lines if "without encryption" not in line]
    return lines[-1][:200] if lines else ""


def _read_log(path: Path) -> tuple[list[dict], int]:
    """The check log's records and the number of lines that are not records."""
    records, bad = [], 0
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return [], 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        if isinstance(record, dict) and isinstance(record.get("exercise"), str) \
                and record.get("status") in ("passed", "failed", "not attempted"):
            records.append(record)
        else:
            bad += 1
    return records, bad


def _verdicts(nb, run: _Run, records: list[dict], exercises: list[str]) -> tuple[list[Verdict], list[str]]:
    """A verdict per exercise of the lesson, and notes about the log."""
    notes = []
    by_exercise: dict[str, list[dict]] = {}
    for record in records:
        by_exercise.setdefault(record["exercise"], []).append(record)
    check_cells = {name: [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
                          and name in _CHECK_CALL.findall(cell.source)] for name in exercises}
    errors = dict(run.errors)
    verdicts = []
    for name in exercises:
        mine = by_exercise.get(name, [])
        if mine:
            last = mine[-1]
            summary = str(last.get("summary") or "").strip()
            verdicts.append(Verdict(name, last["status"], last.get("mistake") if isinstance(last.get("mistake"), str)
                                    else None, summary, len(mine)))
            if len(mine) > 1:
                notes.append(f"{name} checked {len(mine)} times, the last verdict counts")
            continue
        cells = check_cells[name]
        stopped = run.stopped_at is not None
        if stopped and (not cells or min(cells) >= run.stopped_at):
            verdicts.append(Verdict(name, "not reached", summary="the run stopped before its check cell"))
        elif not cells:
            verdicts.append(Verdict(name, "not checked", summary="the notebook has no check cell for it"))
        else:
            raised = next((f"its check cell ({_describe_cell(nb, i)}) raised {errors[i]}" for i in cells
                           if i in errors), None)
            verdicts.append(Verdict(name, "not checked",
                                    summary=raised or "its check cell ran but logged no verdict"))
    others = sorted(set(by_exercise) - set(exercises))
    if others:
        notes.append(f"also checked exercises of another lesson: {', '.join(others)} (not counted)")
    return verdicts, notes


# ---------------------------------------------------------------------------------------
# Re-checking: the course's own notebook with only the learner's exercise cells
# ---------------------------------------------------------------------------------------

def course_notebook(lesson: str, course: Path) -> Path | None:
    """The course's notebook of ``lesson`` in the folder ``course`` (``NN_*.ipynb``), if there is one."""
    found = sorted(Path(course).glob(f"{lesson}_*.ipynb"))
    return found[0] if found else None


def _check_cells(nb, name: str) -> list[int]:
    return [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and name in _CHECK_CALL.findall(cell.source)]


def _exercise_cell(nb, name: str) -> int | None:
    """Index of the cell holding the learner's answer to ``name``: the code cell tagged ``exercise``
    between its first check cell and the check cell before that, else the one there that defines the
    function the check cell checks."""
    checks = _check_cells(nb, name)
    if not checks:
        return None
    first = checks[0]
    bound = re.search(rf"""check\(\s*["']{re.escape(name)}["']\s*,\s*(\w+)""", nb.cells[first].source)
    target = bound.group(1) if bound else name
    previous = max((i for i in range(first) if nb.cells[i].cell_type == "code"
                    and _CHECK_CALL.search(nb.cells[i].source)), default=-1)
    between = [i for i in range(first - 1, previous, -1) if nb.cells[i].cell_type == "code"]
    tagged = next((i for i in between if "exercise" in nb.cells[i].metadata.get("tags", [])), None)
    if tagged is not None:
        return tagged
    defines = re.compile(rf"^(def\s+{re.escape(target)}\s*\(|{re.escape(target)}\s*=)", flags=re.M)
    return next((i for i in between if defines.search(nb.cells[i].source)), None)


def recheck_notebook(course_nb, submission_nb, exercises: list[str]):
    """The course's notebook up to its last check cell, each exercise cell replaced by the learner's.

    Returns ``(notebook, notes)``; an exercise whose cell is not found in the submission keeps
    the course's blank stub (a note says so).
    """
    import copy

    nb = copy.deepcopy(course_nb)
    notes = []
    checks = [i for name in exercises for i in _check_cells(nb, name)]
    if checks:
        nb.cells = nb.cells[:max(checks) + 1]
    for name in exercises:
        target, answer = _exercise_cell(nb, name), _exercise_cell(submission_nb, name)
        if target is None:
            notes.append(f"the course's notebook has no exercise cell for {name}")
        elif answer is None:
            notes.append(f"{name}: no exercise cell found in the submission; rechecked as blank")
        else:
            nb.cells[target].source = submission_nb.cells[answer].source
    return nb, notes


def _recheck(nb, lesson: str, exercises: list[str], course: Path, timeout: float):
    """(verdicts or None, notes) from running the course's notebook with the learner's exercise cells."""
    import nbformat

    path = course_notebook(lesson, course)
    if path is None:
        return None, [f"not rechecked: no notebook of lesson {lesson} in {course}"]
    rebuilt, notes = recheck_notebook(nbformat.read(path, as_version=4), nb, exercises)
    with tempfile.TemporaryDirectory(prefix="coursekit-recheck-") as tmp:
        workdir = Path(tmp) / "work"
        workdir.mkdir()
        log_path = Path(tmp) / "checks.jsonl"
        run = _execute(rebuilt, workdir=workdir, log_path=log_path, timeout=timeout)
        records, _ = _read_log(log_path)
    verdicts, _ = _verdicts(rebuilt, run, records, exercises)
    if run.outcome != "completed":
        notes.append(f"recheck {run.outcome}" + (f": {run.reason}" if run.reason else ""))
    return verdicts, notes


def grade_submission(path: Path, *, timeout: float = DEFAULT_TIMEOUT_S, learner_rule: str = "auto",
                     lessons: dict[str, list[str]] | None = None, save_executed: Path | None = None,
                     recheck: Path | None = None) -> Grade:
    """Execute one submission afresh and grade it; never raises because of the submission.

    With ``recheck`` (the course's ``notebooks/`` folder), the verdicts come from a second run:
    the course's own notebook of that lesson, up to its last check cell, with only the learner's
    exercise cells put in; where the two runs disagree, the reason says so.
    """
    path = Path(path)
    lessons = lesson_exercises() if lessons is None else lessons
    learner = learner_of(path, learner_rule)
    started = time.monotonic()
    try:
        nb = read_submission(path)
    except Malformed as exc:
        lesson = _LESSON_IN_NAME.search(path.name)
        return Grade(path, learner, lesson.group(1) if lesson else None, "malformed", str(exc))
    lesson, lesson_note = lesson_of(nb, path, lessons)
    exercises = lessons.get(lesson, []) if lesson else []
    notes = [lesson_note] if lesson_note else []
    if any(_TOUCHES_LOG.search(source) for source in _code_sources(nb)):
        notes.append("its code mentions the check log or the checker's internals: check its verdicts by hand")

    with tempfile.TemporaryDirectory(prefix="coursekit-grade-") as tmp:
        workdir = Path(tmp) / "work"
        workdir.mkdir()
        log_path = Path(tmp) / "checks.jsonl"   # outside the notebook's folder
        run = _execute(nb, workdir=workdir, log_path=log_path, timeout=timeout)
        records, bad_lines = _read_log(log_path)
    verdicts, log_notes = _verdicts(nb, run, records, exercises)
    notes += log_notes
    if recheck is not None and exercises:
        rechecked, recheck_notes = _recheck(nb, lesson, exercises, Path(recheck), timeout)
        notes += recheck_notes
        if rechecked is not None:
            notes += [f"{own.exercise}: {own.status} in the notebook's own run, {again.status} when rechecked"
                      for own, again in zip(verdicts, rechecked) if own.status != again.status]
            verdicts = rechecked
    if bad_lines:
        notes.append(f"{bad_lines} line(s) of the check log were not verdicts: check its verdicts by hand")
    reason = [run.reason] if run.reason else []
    if run.errors:
        shown = "; ".join(f"{_describe_cell(nb, i)} raised {err}" for i, err in run.errors[:3])
        more = f" and {len(run.errors) - 3} more" if len(run.errors) > 3 else ""
        reason.append(f"{len(run.errors)} cell(s) raised: {shown}{more}")
    if save_executed is not None:
        _save_executed(nb, save_executed, learner, lesson, path)
    return Grade(path, learner, lesson, run.outcome, "; ".join(reason + notes), verdicts,
                 time.monotonic() - started)


def _save_executed(nb, folder: Path, learner: str, lesson: str | None, path: Path) -> None:
    import nbformat

    folder.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^\w.-]+", "_", f"{learner}--{path.stem}") + ".ipynb"
    nbformat.write(nb, folder / name)


def grade_all(paths, *, timeout: float = DEFAULT_TIMEOUT_S, jobs: int = 1, learner_rule: str = "auto",
              save_executed: Path | None = None, recheck: Path | None = None, progress=None) -> list[Grade]:
    """Grade every submission (``jobs`` at a time); the grades in the order of ``paths``.

    ``progress(grade)``, if given, is called as each submission finishes.
    """
    lessons = lesson_exercises()

    def one(path):
        grade = grade_submission(path, timeout=timeout, learner_rule=learner_rule, lessons=lessons,
                                 save_executed=save_executed, recheck=recheck)
        if progress is not None:
            progress(grade)
        return grade

    if jobs <= 1:
        return [one(path) for path in paths]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, paths))


# ---------------------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------------------

def exercise_columns(grades: list[Grade]) -> list[str]:
    """The exercises of every lesson in ``grades``, in the course's order."""
    lessons = lesson_exercises()
    present = {g.lesson for g in grades}
    columns = [name for lesson, names in lessons.items() if lesson in present for name in names]
    extra = [v.exercise for g in grades for v in g.verdicts if v.exercise not in columns]
    return columns + list(dict.fromkeys(extra))


CSV_COLUMNS = ("learner", "lesson", "submission", "outcome", "reason", "passed", "total", "score")


def write_csv(grades: list[Grade], path: Path) -> None:
    """The per-learner, per-exercise table (schema in the module docstring)."""
    columns = exercise_columns(grades)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*CSV_COLUMNS, *columns, "seconds"])
        for g in grades:
            score = "" if g.score is None or g.outcome in ("malformed", "not run") else f"{g.score:.3f}"
            writer.writerow([g.learner, g.lesson or "", str(g.submission), g.outcome, g.reason, g.passed,
                             g.total, score, *(g.status_of(name) for name in columns), f"{g.seconds:.1f}"])


DETAIL_COLUMNS = ("learner", "lesson", "submission", "exercise", "status", "mistake", "verdict")


def write_details(grades: list[Grade], path: Path) -> None:
    """One row per (submission, exercise): the status, the diagnosed mistake and the verdict's first line."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(DETAIL_COLUMNS)
        for g in grades:
            for v in g.verdicts:
                writer.writerow([g.learner, g.lesson or "", str(g.submission), v.exercise, v.status, v.mistake or "",
                                 v.summary])


def summary(grades: list[Grade]) -> str:
    """What the command prints: a table per lesson, the problems, and each exercise's results."""
    lines = []
    by_lesson: dict[str, list[Grade]] = {}
    for g in grades:
        by_lesson.setdefault(g.lesson or "?", []).append(g)
    lessons = lesson_exercises()
    for lesson, group in sorted(by_lesson.items()):
        names = lessons.get(lesson, [])
        head = ["learner", *names, "score", "outcome"]
        rows = [[g.learner, *(g.status_of(n) or "-" for n in names),
                 f"{g.passed}/{g.total}" if g.total and g.outcome not in ("malformed", "not run") else "-",
                 g.outcome] for g in group]
        widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
        lines.append(f"Lesson {lesson} ({len(group)} submission{'s' if len(group) != 1 else ''})"
                     if lesson != "?" else f"Unknown lesson ({len(group)})")
        for row in [head, *rows]:
            lines.append("  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
        lines.append("")
    problems = [g for g in grades if g.outcome != "completed" or g.reason]
    if problems:
        lines.append("Notes:")
        for g in problems:
            lines.append(f"  {g.learner} ({g.submission}): {g.outcome}" + (f" - {g.reason}" if g.reason else ""))
        lines.append("")
    stats = {}
    for g in grades:
        for v in g.verdicts:
            entry = stats.setdefault(v.exercise, {"passed": 0, "total": 0, "mistakes": Counter()})
            entry["total"] += 1
            entry["passed"] += v.status == "passed"
            if v.mistake:
                entry["mistakes"][v.mistake] += 1
    if stats:
        lines.append("Per exercise:")
        width = max(map(len, stats))
        for name, entry in stats.items():
            common = ", ".join(f"{key} ({n})" for key, n in entry["mistakes"].most_common(3))
            lines.append(f"  {name.ljust(width)}  {entry['passed']} of {entry['total']} passed"
                         + (f"; mistakes: {common}" if common else ""))
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------

def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m coursekit.grade",
        description="Run learners' notebooks afresh, each in its own kernel with a time limit, and write every "
                    "exercise's verdict to a table (one row per submission).",
        epilog="Exit code 0 whatever the notebooks did; 2 when the command is misused.")
    parser.add_argument("paths", nargs="+", metavar="SUBMISSION",
                        help="notebooks, or folders to search for *.ipynb (e.g. submissions/ with one folder per "
                             "learner)")
    parser.add_argument("--timeout", type=_positive_seconds, default=DEFAULT_TIMEOUT_S, metavar="S",
                        help=f"wall-clock limit per notebook in seconds, kernel start included "
                             f"(default {DEFAULT_TIMEOUT_S:g})")
    parser.add_argument("--csv", type=Path, default=Path("grades.csv"), metavar="PATH",
                        help="the table, one row per submission (default grades.csv)")
    parser.add_argument("--details", type=Path, default=None, metavar="PATH",
                        help="also write one row per submission and exercise, with the diagnosed mistake")
    parser.add_argument("--learner", choices=("auto", "file", "folder"), default="auto",
                        help="who a submission belongs to: its folder's name or its file's name (default auto: "
                             "the folder for files named like a lesson, e.g. alice/02_dropout.ipynb, "
                             "else the file, e.g. alice.ipynb)")
    parser.add_argument("--jobs", type=_positive_int, default=1, metavar="N",
                        help="notebooks run at the same time (default 1)")
    parser.add_argument("--save-executed", type=Path, default=None, metavar="DIR",
                        help="keep every executed notebook (with its outputs and tracebacks) in DIR")
    parser.add_argument("--recheck", action="store_true",
                        help="take the verdicts from a second run: the course's own notebook with only the "
                             "learner's exercise cells put in (a cell of the learner's own cannot change them); "
                             "disagreements are noted")
    parser.add_argument("--course", type=Path, default=None, metavar="DIR",
                        help="the course's notebooks/ folder for --recheck (default: that of the clone you are in)")
    args = parser.parse_args(argv)

    try:
        import nbclient  # noqa: F401
        import nbformat  # noqa: F401
    except ImportError as exc:
        parser.exit(2, f"error: grading needs nbclient and nbformat ({exc}): pip install 'coursekit[grade]'\n")
    course = None
    if args.recheck:
        from .workspace import find_course

        try:
            course = args.course if args.course is not None else find_course() / "notebooks"
        except FileNotFoundError as exc:
            parser.exit(2, f"error: --recheck needs the course's notebooks: {exc}\n")
        if not any(Path(course).glob("[0-9][0-9]_*.ipynb")):
            parser.exit(2, f"error: no lesson (NN_*.ipynb) in {course}, the course's notebooks for --recheck\n")
    submissions = find_submissions(args.paths)
    if not submissions:
        parser.exit(2, f"error: no notebook (*.ipynb) found in {', '.join(args.paths)}\n")

    count = len(submissions)
    done = []

    def report(grade: Grade) -> None:
        done.append(grade)
        score = f"{grade.passed}/{grade.total}" if grade.total else "-"
        print(f"[{len(done)}/{count}] {grade.learner} (lesson {grade.lesson or '?'}): {score}, {grade.outcome} "
              f"({grade.seconds:.0f} s)", flush=True)

    print(f"Grading {count} notebook{'s' if count != 1 else ''} (time limit {args.timeout:g} s each)...", flush=True)
    grades = grade_all(submissions, timeout=args.timeout, jobs=args.jobs, learner_rule=args.learner,
                       save_executed=args.save_executed, recheck=course, progress=report)
    print()
    print(summary(grades), end="")
    write_csv(grades, args.csv)
    print(f"\nWrote {args.csv} ({len(grades)} row{'s' if len(grades) != 1 else ''})", end="")
    if args.details is not None:
        write_details(grades, args.details)
        print(f" and {args.details}", end="")
    print(".")
    return 0


if __name__ == "__main__":
    sys.exit(main())
