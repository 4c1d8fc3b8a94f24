"""python -m coursekit.grade: grading learners' notebooks.

Fast tests check the pieces without a kernel (finding submissions, who and which lesson,
malformed files, turning the check log into verdicts, the CSV schema, misuse). The slow test
(``--full``) grades a batch of submissions made here from the real lessons and the exercise
catalogue (correct, wrong, blank, crashing, endless, raising, malformed, forged) through the
command line, and checks every row.
"""
from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from coursekit import exercises, grade
from coursekit.grade import Grade, Verdict, _Run

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = {p.name[:2]: p for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))}
CHECK_CELL = re.compile(r'^(\w+) = check\("(\w+)", (\w+)\)$')


def _lesson(number: str):
    return nbformat.read(NOTEBOOKS[number], as_version=4)


def _check_names(nb) -> list[str]:
    return [CHECK_CELL.match(c.source.strip()).group(2) for c in nb.cells if "check" in c.metadata.get("tags", [])]


# ---------------------------------------------------------------------------------------
# The course's exercises per lesson
# ---------------------------------------------------------------------------------------

def test_each_lessons_exercises_are_its_check_cells_in_order():
    lessons = grade.lesson_exercises()
    for number, path in NOTEBOOKS.items():
        names = _check_names(nbformat.read(path, as_version=4))
        assert lessons.get(number, []) == names, f"{path.name}: grader expects {lessons.get(number)}, notebook has {names}"
    assert set(lessons) <= set(NOTEBOOKS)
    assert sorted(n for names in lessons.values() for n in names) == exercises.exercise_names()


# ---------------------------------------------------------------------------------------
# Finding submissions; who; which lesson
# ---------------------------------------------------------------------------------------

def test_find_submissions_searches_folders_and_skips_checkpoints(tmp_path):
    for name in ("alice/02_dropout.ipynb", "bob/02_dropout.ipynb", "carol.ipynb", "notes.txt",
                 "alice/.ipynb_checkpoints/02_dropout-checkpoint.ipynb"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}")
    found = grade.find_submissions([tmp_path, tmp_path / "carol.ipynb", tmp_path / "missing.ipynb"])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == \
        ["alice/02_dropout.ipynb", "bob/02_dropout.ipynb", "carol.ipynb", "missing.ipynb"]


@pytest.mark.parametrize("path, rule, learner", [
    ("submissions/alice/02_dropout.ipynb", "auto", "alice"),       # named like a lesson: its folder
    ("submissions/alice.ipynb", "auto", "alice"),                  # anything else: its file
    ("submissions/alice-02_dropout.ipynb", "auto", "alice-02_dropout"),
    ("submissions/alice/02_dropout.ipynb", "file", "02_dropout"),
    ("submissions/alice/work.ipynb", "folder", "alice"),
])
def test_learner_is_the_folder_for_lesson_named_files_else_the_file(path, rule, learner):
    assert grade.learner_of(Path(path), rule) == learner


def test_learner_rule_must_be_known():
    with pytest.raises(ValueError, match="learner rule must be 'auto', 'file' or 'folder', got 'name'"):
        grade.learner_of(Path("a.ipynb"), "name")


def test_lesson_comes_from_the_check_cells_else_the_file_name():
    lessons = grade.lesson_exercises()
    nb = _lesson("02")
    assert grade.lesson_of(nb, Path("whatever.ipynb"), lessons) == ("02", "")
    lesson, note = grade.lesson_of(nb, Path("05_batch_norm.ipynb"), lessons)
    assert lesson == "02" and "file name says lesson 05" in note
    capstone = _lesson("06")   # no exercises: the file name tells
    assert grade.lesson_of(capstone, Path("bob/06_putting_it_together.ipynb"), lessons) == ("06", "")
    lesson, note = grade.lesson_of(capstone, Path("bob.ipynb"), lessons)
    assert lesson is None and "cannot tell which lesson" in note


# ---------------------------------------------------------------------------------------
# Malformed submissions
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("content, reason", [
    (b"", "the file is empty"),
    (b'{"cells": [', "not a notebook: invalid JSON (Expecting value at line 1, column 12)"),
    (b'{"hello": 1}', "not a notebook: JSON without notebook cells"),
    (b'[1, 2]', "not a notebook: JSON without notebook cells"),
    (b'{"cells": "\xff\xfe"}', "not a notebook: not UTF-8 text (byte 11)"),
    (b'{"cells": [{"cell_type": "code"}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
     "not a valid notebook"),
])
def test_malformed_files_are_named_with_the_reason(tmp_path, content, reason):
    path = tmp_path / "x.ipynb"
    path.write_bytes(content)
    with pytest.raises(grade.Malformed) as info:
        grade.read_submission(path)
    assert str(info.value).startswith(reason), str(info.value)


def test_a_missing_file_is_its_own_row(tmp_path):
    row = grade.grade_submission(tmp_path / "ghost.ipynb")
    assert (row.learner, row.outcome, row.reason, row.total, row.score) == ("ghost", "malformed", "no such file", 0,
                                                                            None)


def test_a_committed_lesson_reads_as_a_notebook():
    nb = grade.read_submission(NOTEBOOKS["00"])
    assert _check_names(nb) == ["bce_with_logits", "numerical_gradient"]


# ---------------------------------------------------------------------------------------
# From the check log to verdicts
# ---------------------------------------------------------------------------------------

def _record(name, status, mistake=None):
    summary = {"passed": "PASSED ✅", "failed": "FAILED ❌", "not attempted": "NOT ATTEMPTED ⏳"}[status]
    return {"exercise": name, "status": status, "mistake": mistake, "summary": f"{summary} {name}: ...",
            "message": "...", "seconds": 0.1}


def test_read_log_keeps_verdicts_and_counts_other_lines(tmp_path):
    log = tmp_path / "checks.jsonl"
    log.write_text("\n".join([json.dumps(_record("l2_grad", "passed")), "not json", json.dumps({"exercise": 3}),
                              json.dumps({"exercise": "l2_grad", "status": "great"}), ""]))
    records, bad = grade._read_log(log)
    assert [r["exercise"] for r in records] == ["l2_grad"] and bad == 3
    assert grade._read_log(tmp_path / "none.jsonl") == ([], 0)


def _statuses(verdicts):
    return {v.exercise: v.status for v in verdicts}


def test_verdicts_last_check_counts_and_missing_ones_say_why():
    nb = _lesson("01")   # l2_penalty, l2_grad, dense_backward_l2
    names = grade.lesson_exercises()["01"]
    check_index = {name: next(i for i, c in enumerate(nb.cells) if f'check("{name}"' in c.source) for name in names}
    records = [_record("l2_penalty", "failed", "missing_half"), _record("l2_penalty", "passed"),
               _record("bce_with_logits", "passed")]

    # Ran to the end; l2_grad's check cell raised; dense_backward_l2's logged nothing.
    run = _Run("completed with errors", errors=[(check_index["l2_grad"], "NameError: name 'l2_grad' is not defined")])
    verdicts, notes = grade._verdicts(nb, run, records, names)
    assert _statuses(verdicts) == {"l2_penalty": "passed", "l2_grad": "not checked", "dense_backward_l2": "not checked"}
    assert verdicts[0].times_checked == 2 and verdicts[0].mistake is None
    assert "raised NameError: name 'l2_grad' is not defined" in verdicts[1].summary
    assert verdicts[2].summary == "its check cell ran but logged no verdict"
    assert "l2_penalty checked 2 times, the last verdict counts" in notes
    assert any("another lesson: bce_with_logits" in n for n in notes)

    # Stopped (timed out) in l2_grad's exercise cell: the later checks were never reached.
    run = _Run("timed out", stopped_at=check_index["l2_grad"] - 1)
    verdicts, _ = grade._verdicts(nb, run, records[:1], names)
    assert _statuses(verdicts) == {"l2_penalty": "failed", "l2_grad": "not reached", "dense_backward_l2": "not reached"}
    assert verdicts[0].mistake == "missing_half"

    # A learner deleted a check cell.
    del nb.cells[check_index["dense_backward_l2"]]
    verdicts, _ = grade._verdicts(nb, _Run("completed"), [], names)
    assert verdicts[2].summary == "the notebook has no check cell for it"


# ---------------------------------------------------------------------------------------
# The tables
# ---------------------------------------------------------------------------------------

def _grades():
    return [
        Grade(Path("s/alice/00_overfitting.ipynb"), "alice", "00", "completed",
              verdicts=[Verdict("bce_with_logits", "passed"), Verdict("numerical_gradient", "failed", "divide_by_h",
                                                                      "FAILED ❌ numerical_gradient: ...")],
              seconds=3.25),
        Grade(Path("s/bob.ipynb"), "bob", "02", "timed out", "timed out after 60 s in cell 8 (`while True:`)",
              verdicts=[Verdict("dropout_forward", "passed"), Verdict("dropout_backward", "not reached")], seconds=60),
        Grade(Path("s/carol.ipynb"), "carol", None, "malformed", "the file is empty"),
    ]


def test_csv_has_one_row_per_submission_and_a_column_per_exercise(tmp_path):
    path = tmp_path / "grades.csv"
    grade.write_csv(_grades(), path)
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["learner", "lesson", "submission", "outcome", "reason", "passed", "total", "score",
                             "bce_with_logits", "numerical_gradient", "dropout_forward", "dropout_backward", "seconds"]
    alice, bob, carol = rows
    assert (alice["passed"], alice["total"], alice["score"]) == ("1", "2", "0.500")
    assert (alice["numerical_gradient"], alice["dropout_forward"], alice["seconds"]) == ("failed", "", "3.2")
    assert (bob["outcome"], bob["dropout_backward"], bob["score"]) == ("timed out", "not reached", "0.500")
    assert bob["reason"] == "timed out after 60 s in cell 8 (`while True:`)"
    assert (carol["lesson"], carol["outcome"], carol["score"], carol["total"]) == ("", "malformed", "", "0")


def test_details_have_one_row_per_exercise_with_the_mistake(tmp_path):
    path = tmp_path / "details.csv"
    grade.write_details(_grades(), path)
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(grade.DETAIL_COLUMNS)
    assert [(r["learner"], r["exercise"], r["status"], r["mistake"]) for r in rows] == [
        ("alice", "bce_with_logits", "passed", ""), ("alice", "numerical_gradient", "failed", "divide_by_h"),
        ("bob", "dropout_forward", "passed", ""), ("bob", "dropout_backward", "not reached", "")]


def test_summary_shows_each_lesson_the_problems_and_the_common_mistakes():
    text = grade.summary(_grades())
    assert re.search(r"alice\s+passed\s+failed\s+1/2\s+completed", text), text
    assert "bob (s/bob.ipynb): timed out - timed out after 60 s" in text
    assert "carol (s/carol.ipynb): malformed - the file is empty" in text
    assert "numerical_gradient  0 of 1 passed; mistakes: divide_by_h (1)" in text


# ---------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--timeout", "0", "x.ipynb"], "expected a positive number of seconds, got '0'"),
    (["--timeout", "soon", "x.ipynb"], "expected a number of seconds, got 'soon'"),
    (["--jobs", "0", "x.ipynb"], "expected at least 1, got '0'"),
    ([], "the following arguments are required: SUBMISSION"),
])
def test_misuse_exits_with_2_and_says_why(args, message, capsys):
    with pytest.raises(SystemExit) as info:
        grade.main(args)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_folder_without_notebooks_is_misuse(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        grade.main([str(tmp_path)])
    assert info.value.code == 2 and "no notebook (*.ipynb) found" in capsys.readouterr().err


def test_bad_submissions_still_exit_0_with_a_row_each(tmp_path, capsys):
    (tmp_path / "alice.ipynb").write_text("{")
    (tmp_path / "bob.ipynb").write_text('{"not": "a notebook"}')
    out = tmp_path / "grades.csv"
    assert grade.main([str(tmp_path), "--csv", str(out)]) == 0
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["learner"], r["outcome"]) for r in rows] == [("alice", "malformed"), ("bob", "malformed")]
    assert f"Wrote {out} (2 rows)" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------
# End to end: a batch of submissions made from the real lessons and the catalogue
# ---------------------------------------------------------------------------------------

def _exercise_cells(nb) -> dict[str, int]:
    """{exercise name: index of its exercise cell}."""
    cells = {}
    for i, cell in enumerate(nb.cells):
        if "check" in cell.metadata.get("tags", []):
            name = CHECK_CELL.match(cell.source.strip()).group(2)
            cells[name] = max(j for j in range(i) if "exercise" in nb.cells[j].metadata.get("tags", []))
    return cells


def _submission(number: str, answers: dict[str, str | tuple[str, str]]):
    """Lesson ``number`` with exercise cells replaced: "reference", ("mistake", key), or literal code."""
    nb = _lesson(number)
    cells = _exercise_cells(nb)
    for name, answer in answers.items():
        if answer == "reference":
            source = f'from coursekit.exercises import reference\n{name} = reference("{name}")'
        elif isinstance(answer, tuple):
            source = f'from coursekit.exercises import mistake\n{name} = mistake("{name}", "{answer[1]}")'
        else:
            source = answer
        nb.cells[cells[name]].source = source
    return nb


def _forged():
    """Lesson 00, blank, with a cell of the learner's own that writes a forged pass into the check log."""
    nb = _lesson("00")
    after = max(_check_cells_of(nb)) + 1
    nb.cells.insert(after, nbformat.v4.new_code_cell(
        "import json, os\nwith open(os.environ['COURSEKIT_CHECK_LOG'], 'a') as f:\n"
        "    f.write(json.dumps({'exercise': 'numerical_gradient', 'status': 'passed'}) + '\\n')"))
    return nb


def _check_cells_of(nb) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if "check" in c.metadata.get("tags", [])]


def _first_mistake(name: str) -> str:
    return next(iter(exercises.get_exercise(name).mistakes))


@pytest.mark.slow
def test_grading_a_batch_of_correct_wrong_blank_crashing_endless_and_malformed_notebooks(tmp_path):
    subs = tmp_path / "submissions"
    bce, grad = "bce_with_logits", "numerical_gradient"
    es_step, es_save, es_restore = grade.lesson_exercises()["04"]
    made = {
        "alice/00_overfitting.ipynb": _submission("00", {bce: "reference", grad: "reference"}),
        "bob/00_overfitting.ipynb": _submission("00", {bce: ("mistake", _first_mistake(bce)),
                                                       grad: ("mistake", _first_mistake(grad))}),
        "carol/00_overfitting.ipynb": _lesson("00"),    # blank, as committed
        "dave/00_overfitting.ipynb": _submission("00", {bce: "reference", grad: "import os\nos._exit(1)"}),
        "erin/00_overfitting.ipynb": _submission("00", {bce: "reference", grad: "while True:\n    pass"}),
        # An endless loop inside the function: the check's own time budget stops it; a failed verdict.
        "heidi/00_overfitting.ipynb": _submission("00", {bce: "def bce_with_logits(logits, targets):\n"
                                                              "    while True:\n        pass",
                                                         grad: "reference"}),
        # A syntax error: that cell raises, its check cell raises NameError, the notebook goes on.
        "ivan/00_overfitting.ipynb": _submission("00", {bce: "def bce_with_logits(logits, targets)\n    return 0",
                                                        grad: "reference"}),
        # Flat layout, another lesson: right, wrong, blank.
        "grace.ipynb": _submission("04", {es_step: "reference", es_save: ("mistake", _first_mistake(es_save))}),
    }
    made["judy/00_overfitting.ipynb"] = _forged()
    for name, nb in made.items():
        (subs / name).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, subs / name)
    (subs / "frank").mkdir()
    (subs / "frank" / "00_overfitting.ipynb").write_text(NOTEBOOKS["00"].read_text()[:500])   # truncated
    (subs / "mallory.ipynb").write_text('{"cells": "none"}')

    out, details = tmp_path / "grades.csv", tmp_path / "details.csv"
    timeout = 60
    proc = subprocess.run([sys.executable, "-m", "coursekit.grade", str(subs), "--timeout", str(timeout),
                           "--jobs", "2", "--csv", str(out), "--details", str(details)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=1200)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stderr
    with open(out, newline="", encoding="utf-8") as handle:
        rows = {r["learner"]: r for r in csv.DictReader(handle)}
    with open(details, newline="", encoding="utf-8") as handle:
        mistakes = {(r["learner"], r["exercise"]): r for r in csv.DictReader(handle)}

    def row(learner):
        r = rows[learner]
        return r["lesson"], r["outcome"], r[bce] if r["lesson"] == "00" else None, \
            r[grad] if r["lesson"] == "00" else None, f"{r['passed']}/{r['total']}"

    assert set(rows) == {"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
                         "mallory"}
    assert row("alice") == ("00", "completed", "passed", "passed", "2/2")
    assert rows["alice"]["score"] == "1.000" and rows["alice"]["reason"] == ""
    assert row("bob") == ("00", "completed", "failed", "failed", "0/2")
    assert mistakes[("bob", bce)]["mistake"] == _first_mistake(bce)
    assert mistakes[("bob", grad)]["mistake"] == _first_mistake(grad)
    assert mistakes[("bob", bce)]["verdict"].startswith(f"FAILED ❌ {bce}: ")
    assert row("carol") == ("00", "completed", "not attempted", "not attempted", "0/2")
    assert row("dave") == ("00", "crashed", "passed", "not reached", "1/2")
    assert "the kernel died while running cell" in rows["dave"]["reason"]
    assert row("erin") == ("00", "timed out", "passed", "not reached", "1/2")
    assert re.match(rf"timed out after {timeout} s in cell \d+ \(`while True:`\)", rows["erin"]["reason"])
    assert 0.9 * timeout <= float(rows["erin"]["seconds"]) <= timeout + 60
    assert row("heidi") == ("00", "completed", "failed", "passed", "1/2")
    assert "too slow" in mistakes[("heidi", bce)]["verdict"]
    assert row("ivan") == ("00", "completed with errors", "not checked", "passed", "1/2")
    assert "SyntaxError" in rows["ivan"]["reason"] and "NameError" in mistakes[("ivan", bce)]["verdict"]
    assert (rows["grace"]["lesson"], rows["grace"]["outcome"], rows["grace"]["passed"], rows["grace"]["total"]) == \
        ("04", "completed", "1", "3")
    assert [rows["grace"][n] for n in (es_step, es_save, es_restore)] == ["passed", "failed", "not attempted"]
    assert rows["grace"][bce] == "" and rows["alice"][es_step] == ""
    assert mistakes[("grace", es_save)]["mistake"] == _first_mistake(es_save)
    assert (rows["frank"]["outcome"], rows["frank"]["lesson"], rows["frank"]["score"]) == ("malformed", "00", "")
    assert rows["frank"]["reason"].startswith("not a notebook: invalid JSON")
    assert rows["mallory"]["outcome"] == "malformed"
    # The forged pass counts (the limitation the README states), but the row is flagged for a check by hand.
    assert rows["judy"][grad] == "passed" and "check its verdicts by hand" in rows["judy"]["reason"]
    assert "Per exercise:" in proc.stdout and "timed out" in proc.stdout


# ---------------------------------------------------------------------------------------
# --recheck: the course's notebook with only the learner's exercise cells
# ---------------------------------------------------------------------------------------

def test_recheck_notebook_takes_only_the_exercise_cells_and_stops_after_the_last_check():
    course = _lesson("01")
    names = grade.lesson_exercises()["01"]
    submission = _submission("01", {"l2_penalty": "reference", "l2_grad": ("mistake", "missing_half")})
    submission.cells.insert(3, nbformat.v4.new_code_cell("print('a cell of my own')"))
    # A tool that drops cell tags: the answer is still found, as the cell defining the checked function.
    answers = _exercise_cells(submission)
    dense = answers["dense_backward_l2"]
    submission.cells[dense].metadata = {}
    submission.cells[dense].source = "import numpy as np\n\ndef dense_backward_l2(dout, x, W, b, lambd, m):\n    return 1"

    rebuilt, notes = grade.recheck_notebook(course, submission, names)
    assert notes == []
    assert len(rebuilt.cells) == max(_check_cells_of(course)) + 1, "the course's notebook, up to its last check cell"
    cells = _exercise_cells(course)
    for name in names:
        expected = submission.cells[answers[name]].source
        assert rebuilt.cells[cells[name]].source == expected
    others = [i for i in range(len(rebuilt.cells)) if i not in cells.values()]
    assert [rebuilt.cells[i].source for i in others] == [course.cells[i].source for i in others]
    assert all("a cell of my own" not in c.source for c in rebuilt.cells)


def test_recheck_notebook_keeps_the_stub_when_the_answer_cannot_be_found():
    course = _lesson("00")
    submission = _lesson("00")
    index = _exercise_cells(submission)["numerical_gradient"]
    submission.cells[index].metadata = {}
    submission.cells[index].source = "print('I renamed it')\ndef my_gradient(f, x, h=1e-5):\n    return x"
    rebuilt, notes = grade.recheck_notebook(course, submission, ["bce_with_logits", "numerical_gradient"])
    assert notes == ["numerical_gradient: no exercise cell found in the submission; rechecked as blank"]
    assert rebuilt.cells[index].source == course.cells[index].source


def test_recheck_needs_the_course_notebooks(tmp_path, capsys):
    (tmp_path / "a.ipynb").write_text("{")
    with pytest.raises(SystemExit) as info:
        grade.main([str(tmp_path / "a.ipynb"), "--recheck", "--course", str(tmp_path)])
    assert info.value.code == 2 and "no lesson (NN_*.ipynb) in" in capsys.readouterr().err


@pytest.mark.slow
def test_recheck_ignores_a_forged_verdict_and_says_where_the_runs_disagree(tmp_path):
    subs = tmp_path / "submissions"
    subs.mkdir()
    nbformat.write(_forged(), subs / "judy.ipynb")
    nbformat.write(_submission("00", {"bce_with_logits": ("mistake", _first_mistake("bce_with_logits")),
                                      "numerical_gradient": "reference"}), subs / "bob.ipynb")
    out = tmp_path / "grades.csv"
    proc = subprocess.run([sys.executable, "-m", "coursekit.grade", str(subs), "--recheck", "--course",
                           str(ROOT / "notebooks"), "--timeout", "120", "--csv", str(out)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=900)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stderr
    with open(out, newline="", encoding="utf-8") as handle:
        rows = {r["learner"]: r for r in csv.DictReader(handle)}
    judy, bob = rows["judy"], rows["bob"]
    assert (judy["numerical_gradient"], judy["passed"]) == ("not attempted", "0")
    assert "numerical_gradient: passed in the notebook's own run, not attempted when rechecked" in judy["reason"]
    assert (bob["bce_with_logits"], bob["numerical_gradient"], bob["passed"]) == ("failed", "passed", "1")
    assert "rechecked" not in bob["reason"], "the two runs agree on bob's answers"
