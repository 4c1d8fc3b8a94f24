"""python -m coursekit.grade: grading learners' notebooks.

Fast tests check the pieces without a kernel (finding submissions, whose and which lesson, where
each answer is, malformed files, the tables and their formula-safe cells, misuse, refusing to run
without a sandbox). The slow test (``--full``) grades a batch made here from the real lessons and the
exercise catalogue (correct, wrong, blank, crashing, endless, raising, malformed, moved cells,
renamed files, forged logs) through the command line and checks every row.
(tests/test_grade_process.py: the learner's process and its stand-ins; tests/test_grade_sandbox.py:
the sandbox's guarantees; tests/test_grade_hostile.py: a hostile class.)
"""
from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from coursekit import exercises, grade
from coursekit.grade import Grade, Verdict, report, sandbox, submissions
from grading_answers import BCE_RIGHT, BCE_SUM, NG_DIVIDE_BY_H, NG_RIGHT, mini_notebook

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = {p.name[:2]: p for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))}
CHECK_CELL = re.compile(r'^(\w+) = check\("(\w+)", (\w+)\)$')
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap (apt-get install bubblewrap)")


def _lesson(number: str):
    return nbformat.read(NOTEBOOKS[number], as_version=4)


def _check_names(nb) -> list[str]:
    return [CHECK_CELL.match(c.source.strip()).group(2) for c in nb.cells if "check" in c.metadata.get("tags", [])]


def _exercise_cells(nb) -> dict[str, int]:
    """{exercise name: index of its exercise cell}."""
    cells = {}
    for i, cell in enumerate(nb.cells):
        if "check" in cell.metadata.get("tags", []):
            name = CHECK_CELL.match(cell.source.strip()).group(2)
            cells[name] = max(j for j in range(i) if "exercise" in nb.cells[j].metadata.get("tags", []))
    return cells


def _check_cells_of(nb) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if "check" in c.metadata.get("tags", [])]


def _submission(number: str, answers: dict[str, str | tuple[str, str]]):
    """Lesson ``number`` with exercise cells replaced by literal code (see tests/grading_answers.py for answers)."""
    nb = _lesson(number)
    cells = _exercise_cells(nb)
    for name, source in answers.items():
        nb.cells[cells[name]].source = source
    return nb


# ---------------------------------------------------------------------------------------
# The course's exercises per lesson
# ---------------------------------------------------------------------------------------

def test_each_lessons_exercises_are_its_check_cells_in_order():
    lessons = grade.lesson_exercises()
    found = {}
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        names = _check_names(nbformat.read(path, as_version=4))
        if names:
            assert lessons.get(path.name[:2]) == names, f"{path.name}: grader expects {lessons.get(path.name[:2])}, " \
                                                        f"notebook has {names}"
            found[path.name[:2]] = names
    assert found == lessons, "every lesson with exercises has a notebook whose check cells name them"
    assert sorted(n for names in lessons.values() for n in names) == exercises.exercise_names()


# ---------------------------------------------------------------------------------------
# Finding submissions; whose; which lesson
# ---------------------------------------------------------------------------------------

def test_find_submissions_searches_folders_skips_checkpoints_and_never_follows_linked_folders(tmp_path):
    for name in ("alice/02_dropout.ipynb", "bob/02_dropout.ipynb", "carol.ipynb", "notes.txt",
                 "alice/.ipynb_checkpoints/02_dropout-checkpoint.ipynb", "elsewhere/secret.ipynb"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}")
    subs = tmp_path / "subs"
    for learner in ("alice", "bob"):
        shutil.copytree(tmp_path / learner, subs / learner)
    (subs / "carol.ipynb").write_text("{}")
    (subs / "mallory").mkdir()
    (subs / "mallory" / "linked").symlink_to(tmp_path / "elsewhere")
    (subs / "mallory" / "02_dropout.ipynb").symlink_to(subs / "alice" / "02_dropout.ipynb")
    found = grade.find_submissions([subs, subs / "carol.ipynb", tmp_path / "missing.ipynb"])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == \
        ["subs/alice/02_dropout.ipynb", "subs/bob/02_dropout.ipynb", "subs/carol.ipynb",
         "subs/mallory/02_dropout.ipynb", "missing.ipynb"]


@pytest.mark.parametrize("path, rule, root, learner", [
    ("submissions/alice/02_dropout.ipynb", "auto", "submissions", "alice"),
    ("submissions/alice/dropout_final_v2.ipynb", "auto", "submissions", "alice"),   # any name in a folder
    ("submissions/alice/old/try 3.ipynb", "auto", "submissions", "alice"),
    ("submissions/bob.ipynb", "auto", "submissions", "bob"),                       # directly in the folder
    ("submissions/alice/02_dropout.ipynb", "auto", None, "alice"),                 # given by its path
    ("submissions/alice.ipynb", "auto", None, "alice"),
    ("submissions/alice-02_dropout.ipynb", "auto", None, "alice-02_dropout"),
    ("submissions/alice/02_dropout.ipynb", "file", "submissions", "02_dropout"),
    ("submissions/alice/work.ipynb", "folder", None, "alice"),
])
def test_learner_is_whose_folder_it_is_in(path, rule, root, learner):
    assert grade.learner_of(Path(path), rule, Path(root) if root else None) == learner


def test_learner_rule_must_be_known():
    with pytest.raises(ValueError, match="learner rule must be 'auto', 'file' or 'folder', got 'name'"):
        grade.learner_of(Path("a.ipynb"), "name")


def test_lesson_comes_from_the_check_cells_else_the_functions_defined_else_the_file_name():
    lessons = grade.lesson_exercises()
    nb = _lesson("02")
    assert grade.lesson_of(nb, Path("whatever.ipynb"), lessons) == ("02", "")
    lesson, note = grade.lesson_of(nb, Path("05_batch_norm.ipynb"), lessons)
    assert lesson == "02" and "file name says lesson 05" in note
    no_checks = _lesson("02")
    no_checks.cells = [c for i, c in enumerate(no_checks.cells) if i not in _check_cells_of(no_checks)]
    lesson, note = grade.lesson_of(no_checks, Path("mine.ipynb"), lessons)
    assert lesson == "02" and "whose exercises it defines" in note
    capstone = nbformat.read(next((ROOT / "notebooks").glob("[0-9][0-9]_putting_it_together.ipynb")), as_version=4)
    assert grade.lesson_of(capstone, Path("bob/08_putting_it_together.ipynb"), lessons) == ("08", "")   # the name
    lesson, note = grade.lesson_of(capstone, Path("bob.ipynb"), lessons)
    assert lesson is None and "cannot tell which lesson" in note


# ---------------------------------------------------------------------------------------
# Where each answer is: moved and deleted cells
# ---------------------------------------------------------------------------------------

def _answers(nb, names):
    return submissions.find_answers(submissions.code_cells(nb), names)


def test_each_answer_is_the_cell_defining_the_function_before_its_check():
    nb = _lesson("01")
    names = grade.lesson_exercises()["01"]
    answers, notes = _answers(nb, names)
    assert answers == _exercise_cells(nb) and notes == []
    nb.cells[_exercise_cells(nb)["l2_grad"]].metadata = {}   # a tool that drops tags changes nothing
    assert _answers(nb, names)[0] == answers


def test_moved_and_deleted_cells_are_found_and_said_so():
    nb = _lesson("00")
    cells = _exercise_cells(nb)
    checks = {name: next(i for i in _check_cells_of(nb) if name in nb.cells[i].source) for name in cells}
    answer = nb.cells.pop(cells["bce_with_logits"])      # moved below its check cell
    nb.cells.insert(checks["bce_with_logits"] + 3, answer)
    del nb.cells[[i for i in _check_cells_of(nb) if "numerical_gradient" in nb.cells[i].source][0]]
    answers, notes = _answers(nb, ["bce_with_logits", "numerical_gradient"])
    assert nb.cells[answers["bce_with_logits"]].source.startswith("def bce_with_logits(")
    assert nb.cells[answers["numerical_gradient"]].source.startswith("def numerical_gradient(")
    assert any(re.match(r"bce_with_logits: its answer \(cell \d+\) comes after its check cell \(cell \d+\): cells "
                        r"were moved", n) for n in notes), notes
    assert any(n.startswith("numerical_gradient: its check cell is missing; graded the answer in cell") for n in notes)
    del nb.cells[answers["numerical_gradient"]]
    assert _answers(nb, ["numerical_gradient"])[0] == {"numerical_gradient": None}


def test_a_cell_that_does_not_parse_still_says_what_it_defines():
    assert submissions.defined_names("def l2_grad(W, lambd, m)\n    return W") == {"l2_grad"}
    assert submissions.defined_names("l2_grad = check('l2_grad', l2_grad)") == set()
    assert submissions.defined_names("import numpy as np\nfrom a.b import c as d\nx: int = 3\nf = g = 1") == \
        {"np", "d", "x", "f", "g"}


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
    (b"[" * 100000 + b"]" * 100000, "not a notebook: JSON"),
])
def test_malformed_files_are_named_with_the_reason(tmp_path, content, reason):
    path = tmp_path / "x.ipynb"
    path.write_bytes(content)
    with pytest.raises(grade.Malformed) as info:
        grade.read_submission(path)
    assert str(info.value).startswith(reason), str(info.value)


def test_a_missing_file_and_a_linked_file_are_rows_of_their_own(tmp_path):
    row = grade.grade_submission(tmp_path / "ghost.ipynb", sandbox=sandbox.Unsandboxed())
    assert (row.learner, row.outcome, row.reason, row.total, row.score) == ("ghost", "malformed", "no such file", 0,
                                                                            None)
    (tmp_path / "mallory").mkdir()
    (tmp_path / "mallory" / "02_dropout.ipynb").symlink_to(NOTEBOOKS["02"])
    row = grade.grade_submission(tmp_path / "mallory" / "02_dropout.ipynb", root=tmp_path,
                                 sandbox=sandbox.Unsandboxed())
    assert (row.learner, row.outcome) == ("mallory", "malformed") and "symbolic link" in row.reason


def test_a_committed_lesson_reads_as_a_notebook():
    nb = grade.read_submission(NOTEBOOKS["00"])
    assert _check_names(nb) == ["bce_with_logits", "numerical_gradient"]


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
              verdicts=[Verdict("dropout_forward", "passed"), Verdict("dropout_backward", "not checked")], seconds=60),
        Grade(Path("s/carol.ipynb"), "carol", None, "malformed", "the file is empty"),
        Grade(Path("s/dave.ipynb"), "dave", "02", "stopped by the grader", "stopped by the grader",
              verdicts=[Verdict("dropout_forward", "not reached"), Verdict("dropout_backward", "not reached")]),
    ]


def _rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_csv_has_one_row_per_submission_and_a_column_per_exercise(tmp_path):
    path = tmp_path / "grades.csv"
    grade.write_csv(_grades(), path)
    rows = _rows(path)
    assert list(rows[0]) == ["learner", "lesson", "submission", "outcome", "reason", "passed", "total", "score",
                             "bce_with_logits", "numerical_gradient", "dropout_forward", "dropout_backward", "seconds"]
    alice, bob, carol, dave = rows
    assert (alice["passed"], alice["total"], alice["score"]) == ("1", "2", "0.500")
    assert (alice["numerical_gradient"], alice["dropout_forward"], alice["seconds"]) == ("failed", "", "3.2")
    assert (bob["outcome"], bob["dropout_backward"], bob["score"]) == ("timed out", "not checked", "0.500")
    assert bob["reason"] == "timed out after 60 s in cell 8 (`while True:`)"
    assert (carol["lesson"], carol["outcome"], carol["score"], carol["total"]) == ("", "malformed", "", "0")
    assert (dave["outcome"], dave["score"], dave["dropout_forward"]) == ("stopped by the grader", "", "not reached")


def test_details_have_one_row_per_exercise_with_the_mistake(tmp_path):
    path = tmp_path / "details.csv"
    grade.write_details(_grades()[:2], path)
    rows = _rows(path)
    assert list(rows[0]) == list(grade.DETAIL_COLUMNS)
    assert [(r["learner"], r["exercise"], r["status"], r["mistake"]) for r in rows] == [
        ("alice", "bce_with_logits", "passed", ""), ("alice", "numerical_gradient", "failed", "divide_by_h"),
        ("bob", "dropout_forward", "passed", ""), ("bob", "dropout_backward", "not checked", "")]


@pytest.mark.parametrize("name", ['=HYPERLINK("evil.example";"click")', "+1+1", "-2+3", "@SUM(A1)", "\t=1",
                                  "\r=1"])
def test_cells_a_spreadsheet_would_run_as_formulas_are_neutralized(tmp_path, name):
    g = Grade(Path(f"{name}.ipynb"), name, "00", "completed", reason=name,
              verdicts=[Verdict("bce_with_logits", "failed", summary=name)])
    grade.write_csv([g], tmp_path / "grades.csv")
    grade.write_details([g], tmp_path / "details.csv")
    row, detail = _rows(tmp_path / "grades.csv")[0], _rows(tmp_path / "details.csv")[0]
    for cell in (row["learner"], row["submission"], row["reason"], detail["learner"], detail["verdict"]):
        assert cell.startswith("'") and cell[1:].startswith(name[:1]), cell
    assert row["passed"] == "0" and row["score"] == "0.000"   # numbers stay numbers


def test_summary_shows_each_lesson_the_problems_and_the_common_mistakes():
    text = grade.summary(_grades())
    assert re.search(r"alice\s+passed\s+failed\s+1/2\s+completed", text), text
    assert "bob (s/bob.ipynb): timed out - timed out after 60 s" in text
    assert "carol (s/carol.ipynb): malformed - the file is empty" in text
    assert "numerical_gradient  0 of 1 passed; mistakes: divide_by_h (1)" in text
    assert re.search(r"dave\s+not reached\s+not reached\s+-\s+stopped by the grader", text), text


def test_what_is_printed_cannot_drive_the_terminal():
    g = Grade(Path("s/\x1b[2J\x1b]0;pwned\x07.ipynb"), "\x1b[2Jeve\nfake row", "00", "completed", reason="\x1b[31m")
    text = grade.summary([g])
    assert "\x1b" not in text and "\x07" not in text and "\\x1b[2Jeve\\nfake row" in text
    assert report.printable("ok ✅") == "ok ✅"


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


def test_an_output_that_cannot_be_written_is_misuse_before_anything_runs(tmp_path, capsys):
    (tmp_path / "a.ipynb").write_text("{")
    with pytest.raises(SystemExit) as info:
        grade.main([str(tmp_path), "--csv", str(tmp_path / "no" / "such" / "grades.csv")])
    assert info.value.code == 2 and "the folder" in capsys.readouterr().err


def test_without_a_sandbox_it_refuses_and_says_what_to_do(tmp_path, capsys, monkeypatch):
    (tmp_path / "a.ipynb").write_text("{")
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    with pytest.raises(SystemExit) as info:
        grade.main([str(tmp_path), "--csv", str(tmp_path / "g.csv")])
    err = capsys.readouterr().err
    assert info.value.code == 2 and not (tmp_path / "g.csv").exists()
    assert "cannot sandbox the submissions: bubblewrap is not installed" in err and "apt-get install bubblewrap" in err
    assert "--no-sandbox only if you trust every submission" in err


def test_no_sandbox_says_loudly_what_it_exposes(tmp_path, capsys):
    (tmp_path / "alice.ipynb").write_text("{")
    assert grade.main([str(tmp_path), "--csv", str(tmp_path / "g.csv"), "--no-sandbox"]) == 0
    err = capsys.readouterr().err
    assert err.count("WARNING: --no-sandbox") == 2   # before and after
    assert "runs as you" in err and "read and change any file you can" in err and "network" in err


@needs_bwrap
def test_bad_submissions_still_exit_0_with_a_row_each(tmp_path, capsys):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "alice.ipynb").write_text("{")
    (subs / "bob.ipynb").write_text('{"not": "a notebook"}')
    out = tmp_path / "grades.csv"
    assert grade.main([str(subs), "--csv", str(out), "--recheck"]) == 0
    assert [(r["learner"], r["outcome"]) for r in _rows(out)] == [("alice", "malformed"), ("bob", "malformed")]
    captured = capsys.readouterr()
    assert f"Wrote {out} (2 rows)" in captured.out and "--recheck and --course are no longer needed" in captured.err


# ---------------------------------------------------------------------------------------
# End to end: a batch of submissions made from the real lessons and the catalogue
# ---------------------------------------------------------------------------------------

SAVE_RIGHT = """def save_best_weights(params, best_weights, *, improved):
    if improved or best_weights is None:
        return tuple(p.copy() for p in params)
    return best_weights"""
SAVE_REFERENCES = SAVE_RIGHT.replace("tuple(p.copy() for p in params)", "tuple(params)")
STEP_RIGHT = """def early_stopping_step(best, wait, current, *, min_delta, patience, mode):
    gain = (best - current) if mode == "min" else (current - best)
    if np.isfinite(best):
        scale = max(abs(best), abs(current), min_delta)
        better = gain - min_delta > 8 * np.finfo(float).eps * scale if min_delta > 0 else gain > 0
    else:
        better = not np.isnan(current)
    if better:
        return current, 0, True, False
    wait = wait + 1
    return best, wait, False, wait >= patience"""


def _forged():
    """Lesson 00, blank, with a cell of the learner's own that writes forged passes into the check log."""
    nb = _lesson("00")
    nb.cells.insert(max(_check_cells_of(nb)) + 1, nbformat.v4.new_code_cell(
        "import json, os\nwith open(os.environ['COURSEKIT_CHECK_LOG'], 'a') as f:\n"
        "    f.write(json.dumps({'exercise': 'numerical_gradient', 'status': 'passed'}) + '\\n')"))
    return nb


def _with_helper():
    """Lesson 00 answered with a helper of the learner's own, in a cell they added, and cells moved."""
    nb = _submission("00", {"bce_with_logits": "def bce_with_logits(logits, targets):\n"
                                               "    return stable_loss(logits, targets), gradient(logits, targets)",
                            "numerical_gradient": NG_RIGHT})
    cells = _exercise_cells(nb)
    nb.cells.insert(cells["bce_with_logits"], nbformat.v4.new_code_cell(
        "EPS = 0.0\ndef stable_loss(z, y):\n    return float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))"
        " + EPS)\n\ndef gradient(z, y):\n    return (1 / (1 + np.exp(-z)) - y) / z.size\nprint('my helpers')"))
    ng = _exercise_cells(nb)["numerical_gradient"]
    nb.cells.append(nb.cells.pop(ng))   # the answer moved to the end, after its check cell
    return nb


@pytest.mark.slow
def test_grading_a_batch_of_correct_wrong_blank_crashing_endless_and_malformed_notebooks(tmp_path):
    subs = tmp_path / "submissions"
    bce, grad = "bce_with_logits", "numerical_gradient"
    es_step, es_save, es_restore = grade.lesson_exercises()["04"]
    made = {
        "alice/00_overfitting.ipynb": _submission("00", {bce: BCE_RIGHT, grad: NG_RIGHT}),
        "bob/00_overfitting.ipynb": _submission("00", {bce: BCE_SUM, grad: NG_DIVIDE_BY_H}),
        "carol/00_overfitting.ipynb": _lesson("00"),    # blank, as committed
        # The kernel dies in the exercise cell; the grader still checks the other answer.
        "dave/00_overfitting.ipynb": _submission("00", {bce: BCE_RIGHT, grad: "import os\nos._exit(1)"}),
        # An endless loop at the top of a cell: the notebook times out, the grader's own run of it too.
        "erin/00_overfitting.ipynb": _submission("00", {bce: BCE_RIGHT, grad: "while True:\n    pass"}),
        # An endless loop inside the function: the check's own time limit stops it; a failed verdict.
        "heidi/00_overfitting.ipynb": _submission("00", {bce: "def bce_with_logits(logits, targets):\n"
                                                              "    while True:\n        pass",
                                                         grad: NG_RIGHT}),
        # A syntax error: that cell raises, its check cell raises NameError, the notebook goes on.
        "ivan/00_overfitting.ipynb": _submission("00", {bce: "def bce_with_logits(logits, targets)\n    return 0",
                                                        grad: NG_RIGHT}),
        # Flat layout, another lesson: right, wrong (saves references), blank.
        "grace.ipynb": _submission("04", {es_step: STEP_RIGHT, es_save: SAVE_REFERENCES}),
        "judy/00_overfitting.ipynb": _forged(),
        "kim/my_lesson_zero_final_v2.ipynb": _with_helper(),
    }
    for name, nb in made.items():
        (subs / name).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, subs / name)
    (subs / "frank").mkdir()
    (subs / "frank" / "00_overfitting.ipynb").write_text(NOTEBOOKS["00"].read_text()[:500])   # truncated
    (subs / "mallory.ipynb").write_text('{"cells": "none"}')

    out, details = tmp_path / "grades.csv", tmp_path / "details.csv"
    timeout = 90
    proc = subprocess.run([sys.executable, "-m", "coursekit.grade", "submissions/", "--timeout", str(timeout),
                           "--jobs", "2", "--csv", str(out), "--details", str(details)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=2400)
    print(proc.stdout, proc.stderr[-3000:])
    assert proc.returncode == 0, proc.stderr
    rows = {r["learner"]: r for r in _rows(out)}
    verdicts = {(r["learner"], r["exercise"]): r for r in _rows(details)}

    def row(learner):
        r = rows[learner]
        return r["lesson"], r["outcome"], r[bce] if r["lesson"] == "00" else None, \
            r[grad] if r["lesson"] == "00" else None, f"{r['passed']}/{r['total']}"

    assert set(rows) == {"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "kim",
                         "mallory"}
    assert row("alice") == ("00", "completed", "passed", "passed", "2/2")
    assert rows["alice"]["score"] == "1.000" and rows["alice"]["reason"] == ""
    assert row("bob") == ("00", "completed", "failed", "failed", "0/2")
    assert verdicts[("bob", bce)]["mistake"] == "sum_instead_of_mean"
    assert verdicts[("bob", grad)]["mistake"] == "divide_by_h"
    assert verdicts[("bob", bce)]["verdict"].startswith(f"FAILED ❌ {bce}: ")
    assert row("carol") == ("00", "completed", "not attempted", "not attempted", "0/2")
    assert row("dave") == ("00", "crashed", "passed", "not checked", "1/2")
    assert "the kernel died while running cell" in rows["dave"]["reason"] or \
        "the kernel died in cell" in rows["dave"]["reason"], rows["dave"]["reason"]
    assert verdicts[("dave", grad)]["verdict"] == f"no cell of the notebook defines {grad} (was its exercise cell " \
                                                  "deleted?)"
    assert row("erin") == ("00", "timed out", "passed", "not checked", "1/2")
    assert re.match(rf"timed out after {timeout} s in cell \d+ \(`while True:`\)", rows["erin"]["reason"])
    assert row("heidi") == ("00", "completed", "failed", "passed", "1/2")
    assert "too slow" in verdicts[("heidi", bce)]["verdict"]
    assert row("ivan") == ("00", "completed with errors", "not checked", "passed", "1/2")
    assert "SyntaxError" in rows["ivan"]["reason"] and "SyntaxError" in verdicts[("ivan", bce)]["verdict"]
    assert (rows["grace"]["lesson"], rows["grace"]["outcome"], rows["grace"]["passed"], rows["grace"]["total"]) == \
        ("04", "completed", "1", "3")
    assert [rows["grace"][n] for n in (es_step, es_save, es_restore)] == ["passed", "failed", "not attempted"]
    assert verdicts[("grace", es_save)]["mistake"] == "reference_not_copy"   # identity survives the sandbox
    assert rows["grace"][bce] == "" and rows["alice"][es_step] == ""
    assert (rows["frank"]["outcome"], rows["frank"]["lesson"], rows["frank"]["score"]) == ("malformed", "00", "")
    assert rows["frank"]["reason"].startswith("not a notebook: invalid JSON")
    assert rows["mallory"]["outcome"] == "malformed"
    # A forged log counts for nothing; the row says where the notebook's own run disagreed.
    assert rows["judy"][grad] == "not attempted" and rows["judy"]["passed"] == "0"
    assert "numerical_gradient: passed in the notebook's own run, not attempted when graded" in rows["judy"]["reason"]
    # A renamed file in a learner's folder, a helper in a cell of their own, a moved answer: full marks
    # (the notebook's own run stumbles on the moved answer: its check cell comes first).
    assert row("kim") == ("00", "completed with errors", "passed", "passed", "2/2")
    assert "numerical_gradient: its answer (cell" in rows["kim"]["reason"]
    assert "Per exercise:" in proc.stdout and "timed out" in proc.stdout


# ---------------------------------------------------------------------------------------
# Ctrl-C and SIGTERM stop a batch cleanly
# ---------------------------------------------------------------------------------------

def _sandbox_processes() -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and proc.stat().st_uid >= sandbox.SANDBOX_UID_BASE:
                found.append(int(proc.name))
        except OSError:
            pass
    return found


@pytest.mark.slow
@needs_bwrap
@pytest.mark.parametrize("signal_name, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_signal_stops_the_batch_writes_the_rows_graded_and_leaves_nothing_running(tmp_path, signal_name, code):
    import signal
    import time

    subs = tmp_path / "submissions"
    for learner, cells in {"a": [BCE_RIGHT, NG_RIGHT],
                           "b": [BCE_RIGHT, "import subprocess, time\nsubprocess.Popen(['sleep', '600'], "
                                            "start_new_session=True)\ntime.sleep(600)", NG_RIGHT],
                           "c": [BCE_RIGHT, NG_RIGHT]}.items():
        (subs / learner).mkdir(parents=True)
        nbformat.write(mini_notebook(cells), subs / learner / "00_overfitting.ipynb")
    grader = subprocess.Popen([sys.executable, "-m", "coursekit.grade", "submissions/", "--timeout", "900"],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in grader.stdout:
        lines.append(line)
        if line.startswith("[1/3]"):
            break
    time.sleep(8)      # b is running its endless cell
    stopped_at = time.monotonic()
    grader.send_signal(getattr(signal, signal_name))
    out, err = grader.communicate(timeout=120)
    assert time.monotonic() - stopped_at < 30
    assert grader.returncode == code, err
    rows = {r["learner"]: r for r in _rows(tmp_path / "grades.csv")}
    assert set(rows) == {"a", "b"}
    assert (rows["a"]["outcome"], rows["a"]["passed"]) == ("completed", "2")
    assert rows["b"]["outcome"] == "stopped by the grader" and rows["b"]["score"] == ""
    assert "Stopping" in err and "1 notebook(s) not graded" in err and "crashed" not in "".join(lines) + out
    time.sleep(1)
    assert _sandbox_processes() == []
