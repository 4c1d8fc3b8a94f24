"""python -m coursekit.grade --test-seed: the capstone's open-ended task, scored by the grader on a fresh test set.

The submission is data in the executed notebook's outputs; the grader validates it, trains the configuration in
its own process and tests it on images drawn from the instructor's seed (tests/test_capstone.py: the scoring
itself)."""
from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from coursekit import capstone, grade
from coursekit.grade import Grade, task

SUBMISSION = {"version": 1, "config": {"epochs": 2, "lr": 0.1}, "val_accuracy": 0.3, "epochs_used": 2,
              "budget": 200, "tries": 1, "test_loaded": False}
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap (apt-get install bubblewrap)")


def executed(*submissions) -> nbformat.NotebookNode:
    """A notebook as the kernel leaves it: one code cell per submission, with its display output."""
    nb = nbformat.v4.new_notebook()
    for data in submissions:
        cell = nbformat.v4.new_code_cell("capstone.submit(config)")
        cell.outputs = [nbformat.v4.new_output("display_data", data={capstone.SUBMISSION_MIME: data,
                                                                      "text/plain": "submitted"})]
        nb.cells.append(cell)
    nb.cells.append(nbformat.v4.new_code_cell("print(1)", outputs=[nbformat.v4.new_output("stream", text="1\n")]))
    return nb


def test_the_last_submission_counts():
    later = {**SUBMISSION, "config": {"epochs": 3}}
    assert task.find_submission(executed(SUBMISSION, later)) == later
    assert task.find_submission(executed()) is None


def test_a_submitted_configuration_is_scored_and_the_same_seed_gives_the_same_score():
    score, note = task.score_task(executed(SUBMISSION), "08", test_seed=21)
    assert note is None and 0.0 <= score <= 1.0
    assert task.score_task(executed(SUBMISSION), "08", test_seed=21)[0] == score
    assert score == capstone.score_submission(SUBMISSION, test_seed=21)


@pytest.mark.parametrize("change,reason", [
    ({"config": {"epochs": 400}}, r"capstone task not scored: config\['epochs'\] must be at most 40"),
    ({"config": {"drop_prob": "lots"}}, r"capstone task not scored: config\['drop_prob'\] must be a real number"),
    ({"epochs_used": 500}, "capstone task not scored: over budget: the exploration used 500 epochs"),
    ({"test_loaded": True}, "capstone task not scored: protocol broken"),
])
def test_malformed_and_over_budget_submissions_get_no_score_and_the_reason(change, reason):
    score, note = task.score_task(executed({**SUBMISSION, **change}), "08", test_seed=21)
    assert score is None
    assert re.search(reason, note), note
    score, note = task.score_task(executed(["not", "a", "dict"]), "08", test_seed=21)
    assert score is None and "must be a dict written by capstone.submit" in note


def test_notes_without_a_seed_or_without_a_submission():
    assert task.score_task(executed(SUBMISSION), "08", test_seed=None) == \
        (None, "capstone task: a submission, not scored (give --test-seed to score it on a fresh test set)")
    assert "no submission" in task.score_task(executed(), "08", test_seed=3)[1]
    assert task.score_task(executed(), "02", test_seed=3) == (None, None)  # other lessons have no task


def _rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_the_csv_has_a_test_score_column_when_graded_with_a_seed(tmp_path):
    grades = [Grade(Path("s/ann.ipynb"), "ann", "08", "completed", test_score=0.51234),
              Grade(Path("s/ben.ipynb"), "ben", "08", "completed", "capstone task not scored: ...")]
    grade.write_csv(grades, tmp_path / "with.csv", test_scores=True)
    rows = _rows(tmp_path / "with.csv")
    assert list(rows[0])[7:9] == ["score", "test_score"]
    assert [r["test_score"] for r in rows] == ["0.512", ""]
    grade.write_csv(grades, tmp_path / "without.csv")
    assert "test_score" not in _rows(tmp_path / "without.csv")[0]
    assert "ann: 51.2%" in grade.summary(grades)


@pytest.mark.parametrize("value", ["-1", "abc", str(2**32)])
def test_a_bad_test_seed_is_misuse(tmp_path, capsys, value):
    with pytest.raises(SystemExit) as info:
        grade.main([str(tmp_path), "--test-seed", value])
    assert info.value.code == 2 and "--test-seed" in capsys.readouterr().err


@needs_bwrap
def test_end_to_end_a_learners_notebook_is_run_sandboxed_and_its_submission_scored_by_the_grader(tmp_path):
    """The learner explores and submits in the notebook; the grader scores what was submitted, on its own test set."""
    subs = tmp_path / "subs"
    (subs / "ann").mkdir(parents=True)
    (subs / "ben").mkdir()
    for learner, config in (("ann", {"epochs": 2, "lr": 0.1}), ("ben", {"epochs": 2, "lr": 0.1, "drop_prob": 0.3})):
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.cells = [nbformat.v4.new_code_cell("from coursekit import capstone"),
                    nbformat.v4.new_code_cell(f"capstone.try_config({config!r})\ncapstone.submit({config!r})"),
                    nbformat.v4.new_code_cell("print(capstone.report())")]
        nbformat.write(nb, subs / learner / "08_putting_it_together.ipynb")
    out = tmp_path / "grades.csv"
    assert grade.main([str(subs), "--csv", str(out), "--test-seed", "77", "--timeout", "120"]) == 0
    rows = {r["learner"]: r for r in _rows(out)}
    assert rows["ann"]["outcome"] == "completed", rows["ann"]["reason"]
    expected = capstone.score_submission({**SUBMISSION, "config": {"epochs": 2, "lr": 0.1}}, test_seed=77)
    assert rows["ann"]["test_score"] == f"{expected:.3f}"
    assert rows["ben"]["test_score"] != "" and rows["ann"]["lesson"] == "08"
