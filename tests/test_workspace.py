"""coursekit.workspace: learners' own copies of the lessons, refreshed without ever losing their work."""
import json
import os
import re
import shutil
import stat
import subprocess
import sys
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


@pytest.mark.parametrize("content, why", [
    ('{"cells": [', "it is not valid JSON"),          # a half-written save
    ("", "it is empty"),
    ('{"nbformat": 4}', "it is JSON but not a notebook"),
    ("\udcff", "it is not text"),
])
@pytest.mark.parametrize("course_changed", [False, True])
def test_a_damaged_copy_is_reported_and_left_untouched(course, content, why, course_changed, capsys):
    mine = course / "my-notebooks"
    sync_workspace(course / "notebooks", mine)
    damaged = mine / "00_intro.ipynb"
    damaged.write_bytes(content.encode("utf-8", "surrogateescape"))
    before = damaged.read_bytes()
    if course_changed:
        make_lesson(course / "notebooks" / "00_intro.ipynb", "x = 10")
    assert main(["--course", str(course / "notebooks"), "--into", str(mine)]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if "00_intro" in line)
    assert f"00_intro.ipynb is not a readable notebook: {why}" in line and "rename it" in line, out
    assert damaged.read_bytes() == before
    assert not list(mine.glob("*course-update*"))
    assert kinds(sync_workspace(course / "notebooks", mine))["00_intro.ipynb"] == "damaged"


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


# ---------------------------------------------------------------------------------------
# Former versions, permissions, links, one-line errors, renamed lessons
# ---------------------------------------------------------------------------------------

def test_a_copy_restored_to_a_former_course_version_updates_again(course):
    mine = course / "my-notebooks"
    sync_workspace(course / "notebooks", mine)
    original = (mine / "01_l2.ipynb").read_bytes()
    edit_and_save(mine / "01_l2.ipynb", "y = 'mine'")
    make_lesson(course / "notebooks" / "01_l2.ipynb", "y = 3")
    assert kinds(sync_workspace(course / "notebooks", mine))["01_l2.ipynb"] == "kept-yours"

    (mine / "01_l2.ipynb").write_bytes(original)   # the learner puts the original back
    assert kinds(sync_workspace(course / "notebooks", mine))["01_l2.ipynb"] == "updated"
    assert code_of(mine / "01_l2.ipynb") == "y = 3"
    make_lesson(course / "notebooks" / "01_l2.ipynb", "y = 4")   # and it keeps following the course
    assert kinds(sync_workspace(course / "notebooks", mine))["01_l2.ipynb"] == "updated"
    assert code_of(mine / "01_l2.ipynb") == "y = 4"


def test_a_copy_equal_to_the_update_it_was_given_follows_the_course(course):
    mine = course / "my-notebooks"
    sync_workspace(course / "notebooks", mine)
    edit_and_save(mine / "00_intro.ipynb", "x = 'mine'")
    make_lesson(course / "notebooks" / "00_intro.ipynb", "x = 2")
    sync_workspace(course / "notebooks", mine)
    (mine / "00_intro.course-update.ipynb").replace(mine / "00_intro.ipynb")   # took the course's version
    make_lesson(course / "notebooks" / "00_intro.ipynb", "x = 3")
    assert kinds(sync_workspace(course / "notebooks", mine))["00_intro.ipynb"] == "updated"
    assert code_of(mine / "00_intro.ipynb") == "x = 3"


def test_a_state_file_of_the_first_version_is_read(course):
    mine = course / "my-notebooks"
    sync_workspace(course / "notebooks", mine)
    copy_code = workspace._code_fingerprint(nbformat.read(mine / "00_intro.ipynb", as_version=4))
    state = {"version": 1, "lessons": {"00_intro.ipynb": {"course_code": copy_code, "written_code": copy_code,
                                                          "written_sha256": "x"}}}
    (mine / ".coursekit-workspace.json").write_text(json.dumps(state))
    make_lesson(course / "notebooks" / "00_intro.ipynb", "x = 5")
    assert kinds(sync_workspace(course / "notebooks", mine))["00_intro.ipynb"] == "updated"


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_files_get_the_permissions_the_umask_gives(course, umask, mode):
    old = os.umask(umask)
    try:
        sync_workspace(course / "notebooks", course / "my-notebooks")
    finally:
        os.umask(old)
    for path in (course / "my-notebooks").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == mode, path.name


def test_an_updated_copy_keeps_its_permissions(course):
    mine = course / "my-notebooks"
    sync_workspace(course / "notebooks", mine)
    (mine / "00_intro.ipynb").chmod(0o640)
    make_lesson(course / "notebooks" / "00_intro.ipynb", "x = 7")
    assert kinds(sync_workspace(course / "notebooks", mine))["00_intro.ipynb"] == "updated"
    assert stat.S_IMODE((mine / "00_intro.ipynb").stat().st_mode) == 0o640


def _one_line_error(capsys, argv) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in captured.err, captured.err
    return lines[0]


def test_a_workspace_that_is_a_file_is_one_line_with_the_fix(course, capsys):
    (course / "my-notebooks").write_text("not a folder")
    line = _one_line_error(capsys, ["--course", str(course / "notebooks")])
    assert "my-notebooks is a file, not a folder: rename or delete it" in line
    assert (course / "my-notebooks").read_text() == "not a folder"


def test_a_workspace_that_links_elsewhere_is_refused_and_nothing_is_written_there(course, capsys):
    target = course / "notebooks" / "src"
    target.mkdir()
    (course / "my-notebooks").symlink_to(target)
    line = _one_line_error(capsys, ["--course", str(course / "notebooks")])
    assert "is a link to" in line and "remove the link" in line
    assert list(target.iterdir()) == []


def test_a_workspace_inside_the_courses_notebooks_is_refused(course, capsys):
    line = _one_line_error(capsys, ["--course", str(course / "notebooks"), "--into", str(course / "notebooks" / "x")])
    assert "another folder than the course's notebooks" in line
    assert not (course / "notebooks" / "x").exists()


def test_a_lesson_copy_that_links_elsewhere_is_left_alone(course, capsys):
    mine = course / "my-notebooks"
    mine.mkdir()
    (mine / "00_intro.ipynb").symlink_to(course / "notebooks" / "00_intro.ipynb")
    make_lesson(course / "notebooks" / "00_intro.ipynb", "x = 11")
    before = (course / "notebooks" / "00_intro.ipynb").read_bytes()
    assert main(["--course", str(course / "notebooks"), "--into", str(mine)]) == 0
    assert "00_intro.ipynb is a link to" in capsys.readouterr().out
    assert (mine / "00_intro.ipynb").is_symlink()
    assert (course / "notebooks" / "00_intro.ipynb").read_bytes() == before


def test_a_failed_write_is_one_line_with_the_cause_and_the_fix(course, capsys, monkeypatch):
    def refuse(src, dst):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(workspace.os, "replace", refuse)
    line = _one_line_error(capsys, ["--course", str(course / "notebooks")])
    assert "cannot write" in line and "Permission denied" in line and "chmod u+w" in line
    assert not [p for p in (course / "my-notebooks").iterdir() if p.name.endswith(".tmp")]


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap to mount a folder read-only")
def test_a_read_only_workspace_is_one_line_with_the_cause_and_the_fix(course):
    mine = course / "my-notebooks"
    sync_workspace(course / "notebooks", mine)
    make_lesson(course / "notebooks" / "00_intro.ipynb", "x = 12")
    before = {p.name: p.read_bytes() for p in mine.iterdir()}
    proc = subprocess.run(["bwrap", "--dev-bind", "/", "/", "--ro-bind", str(mine), str(mine), "--",
                           sys.executable, "-m", "coursekit.workspace", "--course", str(course / "notebooks")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Read-only file system" in lines[0] and "--into" in lines[0], proc.stderr
    assert {p.name: p.read_bytes() for p in mine.iterdir()} == before


def _rename(course, old="06_capstone.ipynb", new="08_capstone.ipynb", code="z = 1"):
    (course / "notebooks" / old).unlink()
    make_lesson(course / "notebooks" / new, code)


@pytest.fixture
def renamed(course, monkeypatch):
    monkeypatch.setattr(workspace, "RENAMED_LESSONS", {"06_capstone.ipynb": "08_capstone.ipynb"})
    make_lesson(course / "notebooks" / "06_capstone.ipynb", "z = 1")
    sync_workspace(course / "notebooks", course / "my-notebooks")
    return course


@pytest.mark.parametrize("new_code", ["z = 1", "z = 1  # and a change"])
def test_an_untouched_copy_of_a_renamed_lesson_takes_the_new_name(renamed, new_code, capsys):
    mine = renamed / "my-notebooks"
    run_and_save(mine / "06_capstone.ipynb")
    _rename(renamed, code=new_code)
    assert main(["--course", str(renamed / "notebooks"), "--into", str(mine)]) == 0
    out = capsys.readouterr().out
    assert "the course renamed 06_capstone.ipynb to 08_capstone.ipynb" in out
    assert not (mine / "06_capstone.ipynb").exists() and code_of(mine / "08_capstone.ipynb") == new_code
    assert set(kinds(sync_workspace(renamed / "notebooks", mine)).values()) == {"up-to-date"}


def test_an_edited_copy_of_a_renamed_lesson_is_kept_and_the_learner_told_once(renamed, capsys):
    mine = renamed / "my-notebooks"
    edit_and_save(mine / "06_capstone.ipynb", "z = 'my best model'")
    edited = (mine / "06_capstone.ipynb").read_bytes()
    _rename(renamed, code="z = 2")
    assert main(["--course", str(renamed / "notebooks"), "--into", str(mine)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"kept your 06_capstone\.ipynb \(you changed it\); the course renamed this lesson to "
                     r"08_capstone\.ipynb, which is beside it", out), out
    assert (mine / "06_capstone.ipynb").read_bytes() == edited and code_of(mine / "08_capstone.ipynb") == "z = 2"
    assert main(["--course", str(renamed / "notebooks"), "--into", str(mine)]) == 0
    assert "06_capstone" not in capsys.readouterr().out


def test_the_capstones_rename_is_kept_in_one_place():
    assert workspace.RENAMED_LESSONS["06_putting_it_together.ipynb"] == "08_putting_it_together.ipynb"
