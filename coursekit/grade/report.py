"""The grader's tables (``grades.csv``, ``details.csv``) and what it prints.

Learners choose their file and folder names, and learner code chooses the text of an exception:
both reach the tables and the terminal. A CSV cell that starts with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return would run as a formula in a spreadsheet (``=HYPERLINK(...)``): it gets a
leading ``'`` (OWASP's advice). Printed text has its control characters (terminal escape codes,
newlines inside a name) shown as ``\\x1b``-style escapes.
"""
from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

from .results import Grade
from .submissions import lesson_exercises

CSV_COLUMNS = ("learner", "lesson", "submission", "outcome", "reason", "passed", "total", "score")
DETAIL_COLUMNS = ("learner", "lesson", "submission", "exercise", "status", "mistake", "verdict")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_UNSCORED = ("malformed", "not run", "stopped by the grader")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def neutralized(value) -> str:
    """``value`` as a CSV cell that no spreadsheet runs as a formula."""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def printable(value) -> str:
    """``value`` with control characters escaped, safe to print on a terminal."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(value))


def exercise_columns(grades: list[Grade]) -> list[str]:
    """The exercises of every lesson in ``grades``, in the course's order."""
    lessons = lesson_exercises()
    present = {g.lesson for g in grades}
    columns = [name for lesson, names in lessons.items() if lesson in present for name in names]
    extra = [v.exercise for g in grades for v in g.verdicts if v.exercise not in columns]
    return columns + list(dict.fromkeys(extra))


def _score(g: Grade) -> str:
    return "" if g.score is None or g.outcome in _UNSCORED else f"{g.score:.3f}"


def write_csv(grades: list[Grade], path: Path, *, test_scores: bool = False) -> None:
    """The per-learner, per-exercise table (schema in the package docstring).

    ``test_scores`` (the batch was graded with ``--test-seed``) adds the column ``test_score``
    after ``score``: the capstone task's test accuracy (three decimals; empty when not scored).
    """
    columns = exercise_columns(grades)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*CSV_COLUMNS, *(["test_score"] if test_scores else []), *columns, "seconds"])
        for g in grades:
            task = [] if not test_scores else ["" if g.test_score is None else f"{g.test_score:.3f}"]
            writer.writerow([neutralized(g.learner), g.lesson or "", neutralized(g.submission), g.outcome,
                             neutralized(g.reason), g.passed, g.total, _score(g), *task,
                             *(g.status_of(name) for name in columns), f"{g.seconds:.1f}"])


def write_details(grades: list[Grade], path: Path) -> None:
    """One row per (submission, exercise): the status, the diagnosed mistake and the verdict's first line."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(DETAIL_COLUMNS)
        for g in grades:
            for v in g.verdicts:
                writer.writerow([neutralized(g.learner), g.lesson or "", neutralized(g.submission), v.exercise,
                                 v.status, v.mistake or "", neutralized(v.summary)])


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
        rows = [[printable(g.learner), *(g.status_of(n) or "-" for n in names),
                 f"{g.passed}/{g.total}" if g.total and g.outcome not in _UNSCORED else "-",
                 g.outcome] for g in group]
        widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
        lines.append(f"Lesson {lesson} ({len(group)} submission{'s' if len(group) != 1 else ''})"
                     if lesson != "?" else f"Unknown lesson ({len(group)})")
        for row in [head, *rows]:
            lines.append("  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
        lines.append("")
    scored = [g for g in grades if g.test_score is not None]
    if scored:
        lines.append("Capstone task, test accuracy on the fresh test set:")
        for g in sorted(scored, key=lambda g: -g.test_score):
            lines.append(f"  {printable(g.learner)}: {g.test_score:.1%}")
        lines.append("")
    problems = [g for g in grades if g.outcome != "completed" or g.reason]
    if problems:
        lines.append("Notes:")
        for g in problems:
            lines.append(f"  {printable(g.learner)} ({printable(g.submission)}): {g.outcome}"
                         + (f" - {printable(g.reason)}" if g.reason else ""))
        lines.append("")
    stats: dict[str, dict] = {}
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
