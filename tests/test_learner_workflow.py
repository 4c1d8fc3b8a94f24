"""A learner's life with the course, end to end: clone, work, save, pull an update, test.

The course is a throw-away git repository holding this checkout's working tree
(tests/git_snapshot.py). The learner clones it, makes their notebooks with README.md's
`python -m coursekit.workspace`, edits and runs one lesson and saves it with outputs (saved
through jupytext's JupyterLab contents manager, as JupyterLab with jupytext installed
does), only runs another; meanwhile the course changes both lessons upstream. Then: `git
pull` must succeed without conflict, the workspace command must keep the learner's edited
lesson (the new version saved beside it), update the merely-run one and leave the rest, and
the fast tests of notebooks and structure must still pass in the learner's clone.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from git_snapshot import git, snapshot_working_tree

pytestmark = pytest.mark.slow

RUNNER = Path(__file__).with_name("notebook_runner.py")
EDITED, RUN_ONLY = "00_overfitting", "01_l2_regularization"


def sources_dir(repo: Path) -> Path:
    """Where the jupytext sources are: notebooks/src/ (or, in the older layout, notebooks/)."""
    moved = repo / "notebooks" / "src"
    return moved if any(moved.glob("[0-9][0-9]_*.py")) else repo / "notebooks"


def course_update(repo: Path, lesson: str, note: str) -> None:
    """An instructor's edit: a sentence added under the lesson's title in its source, then the
    notebook regenerated from it with README.md's conversion command."""
    source = sources_dir(repo) / f"{lesson}.py"
    lines = source.read_text().splitlines(keepends=True)
    title = next(i for i, line in enumerate(lines) if line.startswith("# # "))
    lines[title + 1:title + 1] = ["#\n", f"# *{note}*\n"]
    source.write_text("".join(lines))
    if source.parent.name == "src":
        cmd = ["--update", "--from", "src//py:percent", "--to", "ipynb", "--update-metadata", '{"jupytext": null}']
    else:
        cmd = ["--update", "--to", "ipynb"]
    proc = subprocess.run([sys.executable, "-m", "jupytext", *cmd, str(source.relative_to(repo))],
                          cwd=repo, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"regenerating {lesson} failed:\n{proc.stderr}"


def workspace(clone: Path, env) -> str:
    proc = subprocess.run([sys.executable, "-m", "coursekit.workspace"], cwd=clone, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"python -m coursekit.workspace failed:\n{proc.stdout}{proc.stderr}"
    return proc.stdout


def save_like_jupyterlab(clone: Path, relative: str, nb) -> None:
    """Save through jupytext's contents manager, which pairs (writes a .py) when anything says so."""
    from jupytext import TextFileContentsManager   # jupytext's contents manager for Jupyter servers

    manager = TextFileContentsManager(root_dir=str(clone))
    manager.save({"type": "notebook", "format": "json", "content": nb}, relative)


def git_status(repo: Path) -> str:
    return git("status", "--porcelain", "--untracked-files=all", cwd=repo).stdout


def test_learner_can_work_save_pull_and_test_without_conflicts(tmp_path):
    upstream = snapshot_working_tree(tmp_path / "course")
    clone = tmp_path / "learner"
    git("clone", "--quiet", upstream, clone)
    # The clone's coursekit everywhere (this process, workspace command, notebook kernels).
    env = {**os.environ, "PYTHONPATH": str(clone)}
    env.pop("COURSEKIT_PROGRESS", None)

    # 1. README's install-and-open command: the workspace command makes my-notebooks/.
    first = workspace(clone, env)
    mine = clone / "my-notebooks"
    lessons = sorted(p.name for p in (clone / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert sorted(p.name for p in mine.glob("*.ipynb")) == lessons, first
    assert "jupyter lab my-notebooks/" in first

    # 2. The learner edits and runs one lesson, and saves it with its outputs...
    nb = nbformat.read(mine / f"{EDITED}.ipynb", as_version=4)
    exercise = next(i for i, c in enumerate(nb.cells) if "exercise" in c.metadata.get("tags", []))
    nb.cells[exercise].source += "\n# my notes: the stable form never exponentiates a large positive number"
    proc = subprocess.run([sys.executable, str(RUNNER), "/dev/stdin", str(tmp_path / "ran.ipynb"), "--cwd", str(mine)],
                          input=nbformat.writes(nb), env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ran = nbformat.read(tmp_path / "ran.ipynb", as_version=4)
    assert any(c.get("outputs") for c in ran.cells if c.cell_type == "code"), "the executed lesson has no outputs"
    save_like_jupyterlab(clone, f"my-notebooks/{EDITED}.ipynb", ran)
    # ...and only runs another (saved with outputs, code unchanged).
    other = nbformat.read(mine / f"{RUN_ONLY}.ipynb", as_version=4)
    for cell in other.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [nbformat.v4.new_output("stream", name="stdout", text="ok\n")], 1
    save_like_jupyterlab(clone, f"my-notebooks/{RUN_ONLY}.ipynb", other)
    edited_bytes = (mine / f"{EDITED}.ipynb").read_bytes()
    assert not list(mine.glob("*.py")), "saving wrote a paired .py beside the learner's notebook"
    assert git_status(clone) == "", f"saving in my-notebooks/ changed files git tracks:\n{git_status(clone)}"

    # 3. The course changes both lessons upstream.
    course_update(upstream, EDITED, "Course update: a clearer motivation.")
    course_update(upstream, RUN_ONLY, "Course update: a new remark on the penalty.")
    git("add", "--all", cwd=upstream)
    git("commit", "--quiet", "-m", "Course update: lessons 00 and 01", cwd=upstream)

    # 4. git pull: no conflict, nothing left modified.
    pull = git("pull", "--ff-only", cwd=clone, check=False)
    assert pull.returncode == 0, f"git pull failed:\n{pull.stdout}{pull.stderr}"
    assert git_status(clone) == "", git_status(clone)

    # 5. The workspace command again: the learner's work kept, the new version beside it,
    #    the merely-run lesson updated, the rest untouched.
    report = workspace(clone, env)
    assert (mine / f"{EDITED}.ipynb").read_bytes() == edited_bytes, "the learner's edited lesson was overwritten"
    assert re.search(rf"kept your {EDITED}\.ipynb .*{EDITED}\.course-update\.ipynb", report), report
    update = nbformat.read(mine / f"{EDITED}.course-update.ipynb", as_version=4)
    assert "Course update: a clearer motivation." in update.cells[0].source
    refreshed = nbformat.read(mine / f"{RUN_ONLY}.ipynb", as_version=4)
    assert "Course update: a new remark on the penalty." in refreshed.cells[0].source
    assert f"updated {RUN_ONLY}.ipynb" in report
    for name in set(lessons) - {f"{EDITED}.ipynb", f"{RUN_ONLY}.ipynb"}:
        assert name not in report, f"{name} was not changed upstream, yet the command reported it:\n{report}"
    assert git_status(clone) == ""

    # 6. The fast tests of notebooks and structure still pass in the learner's clone.
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly",
                           "tests/test_notebook_structure.py", "tests/test_readme.py",
                           f"notebooks/{EDITED}.ipynb"],
                          cwd=clone, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, f"the tests fail in the learner's clone:\n{proc.stdout[-5000:]}{proc.stderr[-2000:]}"
    assert git_status(clone) == ""
