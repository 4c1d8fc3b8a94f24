"""coursekit.workspace: learners' own copies of the lessons, refreshed without ever losing their work."""
import json
from pathlib import Path

import nbformat
import pytest

from coursekit import workspace
from coursekit.workspace import Action, find_course, main, sync_workspace


def make_lesson(path: Path, code: str, *, markdown: str = "# A lesson", jupytext: bool = True) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    if jupytext:
        nb.metadata["jupytext"] = {"formats": "ipynb,py:percent", "cell_metadata_filter": "tags,-all"}
    nb.cells = [nbformat.v4.new_markdown_cell(markdown), nbformat.v4.new_code_cell(code)]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def run_and_save(path: Path, output_text: str = "42\n") -> None:
    """What saving after running does: outputs and execution counts, code unchanged."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.execution_count = 1
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=output_text)]
    nbformat.write(nb, path)


def edit_and_save(path: Path, code: str) -> None:
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].source = code
    nbformat.write(nb, path)


def code_of(path: Path) -> str:
    return nbformat.read(path, as_version=4).cells[1].source


def kinds(actions: list[Action]) -> dict[str, str]:
    return {a.lesson: a.kind for a in actions}


@pytest.fixture
def course(tmp_path):
    root = tmp_path / "course"
    (root / "pyproject.toml").parent.mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    make_lesson(root / "notebooks" / "00_intro.ipynb", "x = 1")
    make_lesson(root / "notebooks" / "01_l2.ipynb", "y = 2")
    return root


def test_first_run_copies_every_lesson_without_pairing_metadata(course):
    mine = course / "my-notebooks"
    actions = sync_workspace(course / "notebooks", mine)
    assert kinds(actions) == {"00_intro.ipynb": "added", "01_l2.ipynb": "added"}
    for name in ("00_intro.ipynb", "01_l2.ipynb"):
        copy = nbformat.read(mine / name, as_version=4)
        nbformat.validate(copy)
        assert "jupytext" not in copy.metadata, "a paired copy would make jupytext write a .py on every save"
        assert copy.cells == nbformat.read(course / "notebooks" / name, as_version=4).cells
    assert sorted(p.name for p in mine.iterdir()) == [".coursekit-workspace.json", "00_intro.ipynb", "01_l2.ipynb"]


def test_second_run_changes_nothing(course):
    mine = course / "my-notebooks"
    sync_workspace(course / "notebooks", mine)
    before = {p.name: p.read_bytes() for p in mine.iterdir()}
    assert set(kinds(sync_workspace(course / "notebooks", mine)).values()) == {"up-to-date"}
    assert {p.name: p.read_bytes() for p in mine.iterdir()} == before


def test_a_run_and_saved_copy_is_kept_while_the_course_is_unchanged(course):
    mine = course / "my-notebooks"
    sync_workspace(course / "notebooks", mine)
    run_and_save(mine / "00_intro.ipynb")
    saved = (mine / "00_intro.ipynb").read_bytes()
    assert kinds(sync_workspace(course / "notebooks", mine))["00_intro.ipynb"] == "up-to-date"
    assert (mine / "00_intro.ipynb").read_bytes() == saved


def test_an_unedited_copy_follows_the_course_even_after_running_it(course):
    mine = course / "my-notebooks"
    sync_workspace(course / "notebooks", mine)
    run_and_save(mine / "00_intro.ipynb")
    make_lesson(course / "notebooks" / "00_intro.ipynb", "x = 10  # improved")
    actions = {a.lesson: a for a in sync_workspace(course / "notebooks", mine)}
    assert actions["00_intro.ipynb"].kind == "updated"
    assert "outputs were cleared" in actions["00_intro.ipynb"].message
    assert code_of(mine / "00_intro.ipynb") == "x = 10  # improved"
    assert not list(mine.glob("*course-update*"))
    assert actions["01_l2.ipynb"].kind == "up-to-date"


def test_an_edited_copy_is_never_overwritten_and_the_update_goes_beside_it(course):
    mine = course / "my-notebooks"
    sync_workspace(course / "notebooks", mine)
    edit_and_save(mine / "00_intro.ipynb", "x = 1\nmy_answer = 'mine'")
    run_and_save(mine / "00_intro.ipynb")
    learners = (mine / "00_intro.ipynb").read_bytes()
    make_lesson(course / "notebooks" / "00_intro.ipynb", "x = 10  # improved")

    actions = {a.lesson: a for a in sync_workspace(course / "notebooks", mine)}
    assert actions["00_intro.ipynb"].kind == "kept-yours"
    assert "00_intro.course-update.ipynb" in actions["00_intro.ipynb"].message
    assert (mine / "00_intro.ipynb").read_bytes() == learners
    assert code_of(mine / "00_intro.course-update.ipynb") == "x = 10  # improved"

    # Idempotent: nothing new on the next run, and a deleted update file does not come back.
    again = sync_workspace(course / "notebooks", mine)
    assert kinds(again)["00_intro.ipynb"] == "up-to-date"
    (mine / "00_intro.course-update.ipynb").unlink()
    sync_workspace(course / "notebooks", mine)
    assert not (mine / "00_intro.course-update.ipynb").exists()
    assert (mine / "00_intro.ipynb").read_bytes() == learners


def test_a_later_update_reuses_an_untouched_update_file_but_not_an_edited_one(course):
    mine = course / "my-notebooks"
    sync_workspace(course / "notebooks", mine)
    edit_and_save(mine / "01_l2.ipynb", "y = 'mine'")
    make_lesson(course / "notebooks" / "01_l2.ipynb", "y = 3")
    sync_workspace(course / "notebooks", mine)
    make_lesson(course / "notebooks" / "01_l2.ipynb", "y = 4")
    sync_workspace(course / "notebooks", mine)
    assert code_of(mine / "01_l2.course-update.ipynb") == "y = 4"
    assert not (mine / "01_l2.course-update-2.ipynb").exists()

    edit_and_save(mine / "01_l2.course-update.ipynb", "y = 4  # my notes on the update")
    make_lesson(course / "notebooks" / "01_l2.ipynb", "y = 5")
    sync_workspace(course / "notebooks", mine)
    assert code_of(mine / "01_l2.course-update.ipynb") == "y = 4  # my notes on the update"
    assert code_of(mine / "01_l2.course-update-2.ipynb") == "y = 5"
    assert code_of(mine / "01_l2.ipynb") == "y = 'mine'"


def test_missing_lessons_are_copied_and_other_files_are_left_alone(course):
    mine = course / "my-notebooks"
    sync_workspace(course / "notebooks", mine)
    (mine / "00_intro.ipynb").unlink()
    (mine / "scratch.ipynb").write_text("my own notebook")
    (mine / "notes.txt").write_text("notes")
    make_lesson(course / "notebooks" / "02_dropout.ipynb", "z = 3")
    actions = kinds(sync_workspace(course / "notebooks", mine))
    assert actions == {"00_intro.ipynb": "added", "01_l2.ipynb": "up-to-date", "02_dropout.ipynb": "added"}
    assert (mine / "scratch.ipynb").read_text() == "my own notebook"
    assert (mine / "notes.txt").read_text() == "notes"


def test_a_metadata_only_change_of_the_course_creates_no_update_file(course):
    mine = course / "my-notebooks"
    sync_workspace(course / "notebooks", mine)
    edit_and_save(mine / "00_intro.ipynb", "x = 'mine'")
    make_lesson(course / "notebooks" / "00_intro.ipynb", "x = 1", jupytext=False)   # pairing metadata removed
    assert kinds(sync_workspace(course / "notebooks", mine))["00_intro.ipynb"] == "up-to-date"
    assert not list(mine.glob("*course-update*"))


def test_without_a_record_only_files_equal_to_the_course_count_as_copies(course):
    mine = course / "my-notebooks"
    sync_workspace(course / "notebooks", mine)
    edit_and_save(mine / "01_l2.ipynb", "y = 'mine'")
    run_and_save(mine / "00_intro.ipynb")
    (mine / ".coursekit-workspace.json").write_text("{not json")   # lost or damaged state
    actions = kinds(sync_workspace(course / "notebooks", mine))
    assert actions == {"00_intro.ipynb": "up-to-date", "01_l2.ipynb": "kept-yours"}
    assert code_of(mine / "01_l2.ipynb") == "y = 'mine'"
    assert code_of(mine / "01_l2.course-update.ipynb") == "y = 2"


def test_an_unreadable_copy_counts_as_the_learners_work(course):
    mine = course / "my-notebooks"
    sync_workspace(course / "notebooks", mine)
    (mine / "00_intro.ipynb").write_text('{"cells": [')   # e.g. a half-written save
    make_lesson(course / "notebooks" / "00_intro.ipynb", "x = 10")
    assert kinds(sync_workspace(course / "notebooks", mine))["00_intro.ipynb"] == "kept-yours"
    assert (mine / "00_intro.ipynb").read_text() == '{"cells": ['


def test_bad_folders_get_clear_errors(course, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"course .*empty has no lessons"):
        sync_workspace(empty, tmp_path / "mine")
    with pytest.raises(ValueError, match="workspace must be another folder"):
        sync_workspace(course / "notebooks", course / "notebooks")


def test_find_course_walks_up_from_a_subfolder(course, tmp_path):
    (course / "my-notebooks" / "deep").mkdir(parents=True)
    assert find_course(course / "my-notebooks" / "deep") == course.resolve()


def test_command_line_reports_and_defaults_to_my_notebooks(course, monkeypatch, capsys):
    monkeypatch.chdir(course)
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "added 00_intro.ipynb" in out and "jupyter lab my-notebooks/" in out
    assert (course / "my-notebooks" / "01_l2.ipynb").exists()
    edit_and_save(course / "my-notebooks" / "01_l2.ipynb", "y = 'mine'")
    make_lesson(course / "notebooks" / "01_l2.ipynb", "y = 3")
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "kept your 01_l2.ipynb" in out and "01_l2.course-update.ipynb" in out


def test_command_line_outside_a_course_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(workspace, "__file__", str(tmp_path / "site-packages" / "coursekit" / "workspace.py"))
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "cannot find the course's notebooks/ folder" in err and "--course" in err


def test_the_real_course_copies_cleanly(tmp_path):
    """The repository's own lessons: every copy is a valid notebook with the course's cells."""
    root = Path(__file__).resolve().parent.parent
    actions = sync_workspace(root / "notebooks", tmp_path / "mine")
    lessons = sorted(p.name for p in (root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert [a.lesson for a in actions] == lessons and {a.kind for a in actions} == {"added"}
    for name in lessons:
        copy = nbformat.read(tmp_path / "mine" / name, as_version=4)
        nbformat.validate(copy)
        assert copy.cells == nbformat.read(root / "notebooks" / name, as_version=4).cells
        assert "jupytext" not in copy.metadata
    state = json.loads((tmp_path / "mine" / ".coursekit-workspace.json").read_text())
    assert sorted(state["lessons"]) == lessons
