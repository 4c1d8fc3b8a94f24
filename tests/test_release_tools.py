"""The tools around releases (issue 24): the release script (tools/release.py), the website's releases index and
footer (site/build.py), what `python -m coursekit.workspace` says about releases, and the release workflow."""
from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

import coursekit
from coursekit import release, workspace

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tools" / "release.py"
REPOSITORY = "https://github.com/Some-Owner/some-course"


def load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


script = load("course_release_script", SCRIPT)
site = load("course_site_build_for_releases", ROOT / "site" / "build.py")


def entry(version: str, date: str, summary: str) -> str:
    return f"## [{version}] - {date}\n\n{summary}\n\n### For learners\n\n- a change\n\n### For instructors\n\n- one\n"


# ---------------------------------------------------------------------------------------
# The release script
# ---------------------------------------------------------------------------------------

def test_the_setup_cell_s_percent_form_is_what_jupytext_reads_back():
    cell = release.setup_cell(REPOSITORY, "1.2.3")
    text = "# %% tags=[\"setup\"]\n" + script.percent_form(cell) + "\n"
    assert "        # %pip install --no-deps coursekit\n" in text and "\n%pip" not in text
    (read,) = [c for c in jupytext.reads(text, fmt="py:percent").cells if c.cell_type == "code"]
    assert read.source == cell and read.metadata.get("tags") == ["setup"]


LESSON = '''# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 00 · A lesson

# %% tags=["setup"]
import coursekit

# %%
x = 1
'''


@pytest.fixture
def course(tmp_path):
    """A small course repository: the real script and coursekit/release.py, one lesson, a changelog."""
    root = tmp_path / "course"
    (root / "tools").mkdir(parents=True)
    shutil.copy2(SCRIPT, root / "tools" / "release.py")
    (root / "coursekit").mkdir()
    shutil.copy2(ROOT / "coursekit" / "release.py", root / "coursekit" / "release.py")
    (root / "coursekit" / "__init__.py").write_text('__version__ = "1.1.0"\n')
    (root / "pyproject.toml").write_text(f'[project]\nname = "coursekit"\n\n[project.urls]\nRepository = "{REPOSITORY}"\n')
    (root / "notebooks" / "src").mkdir(parents=True)
    (root / "notebooks" / "src" / "00_lesson.py").write_text(LESSON)
    nbformat.write(jupytext.reads(LESSON, fmt="py:percent"), root / "notebooks" / "00_lesson.ipynb")
    (root / "CHANGELOG.md").write_text("# Changelog\n\n## [Unreleased]\n\n" + entry("1.1.0", "2027-02-01", "Newer.")
                                       + "\n" + entry("1.0.0", "2027-01-01", "First.") + "\n[1.0.0]: https://old\n")
    return root


def run_script(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(root / "tools" / "release.py"), *args], cwd=root, capture_output=True,
                          text=True, timeout=600)


def test_the_script_writes_the_release_into_every_lesson_and_the_changelog_s_links(course):
    before = run_script(course, "--check")
    assert before.returncode == 1 and "00_lesson.py: its setup cell is not release 1.1.0's" in before.stderr
    done = run_script(course)
    assert done.returncode == 0, done.stderr
    cell = release.setup_cell(REPOSITORY, "1.1.0")
    source = (course / "notebooks" / "src" / "00_lesson.py").read_text()
    assert source == LESSON.replace("import coursekit\n", script.percent_form(cell) + "\n"), "only the setup cell"
    nb = nbformat.read(course / "notebooks" / "00_lesson.ipynb", as_version=4)
    assert [c.source for c in nb.cells] == ["# 00 · A lesson", cell, "x = 1"]
    assert "jupytext" not in nb.metadata, "regenerated with README.md's conversion command"
    assert (course / "CHANGELOG.md").read_text().endswith(
        "- one\n\n"
        f"[Unreleased]: {REPOSITORY}/compare/v1.1.0...HEAD\n"
        f"[1.1.0]: {REPOSITORY}/compare/v1.0.0...v1.1.0\n"
        f"[1.0.0]: {REPOSITORY}/releases/tag/v1.0.0\n")
    checked = run_script(course, "--check", "--tag", "v1.1.0")
    assert checked.returncode == 0 and "release 1.1.0: __version__, CHANGELOG.md and every setup cell agree" in \
        checked.stdout, checked.stderr
    again = run_script(course)
    assert again.returncode == 0 and "every setup cell already installs release 1.1.0" in again.stdout
    wrong_tag = run_script(course, "--check", "--tag", "v1.0.0")
    assert wrong_tag.returncode == 1 and "the tag v1.0.0 does not name the release of its commit, v1.1.0" in \
        wrong_tag.stderr
    notes = run_script(course, "--notes", "1.0.0")
    assert notes.returncode == 0 and notes.stdout.startswith("First.\n\n### For learners")


def test_the_script_refuses_a_version_without_a_changelog_entry(course):
    (course / "coursekit" / "__init__.py").write_text('__version__ = "1.2.0"\n')
    done = run_script(course)
    assert done.returncode == 2 and "CHANGELOG.md has no entry for 1.2.0" in done.stderr
    assert "import coursekit\n" in (course / "notebooks" / "src" / "00_lesson.py").read_text(), "nothing was written"
    checked = run_script(course, "--check")
    assert checked.returncode == 1 and "CHANGELOG.md's newest release is 1.1.0, but __version__ is 1.2.0" in \
        checked.stderr


def test_the_script_names_a_lesson_without_a_setup_cell(course):
    source = course / "notebooks" / "src" / "00_lesson.py"
    source.write_text(source.read_text().replace('# %% tags=["setup"]', "# %%"))
    done = run_script(course)
    assert done.returncode == 2 and "notebooks/src/00_lesson.py has no cell tagged setup" in done.stderr


def test_this_repository_s_release_agrees_as_the_release_workflow_checks_it():
    """__version__, CHANGELOG.md (with its links) and every setup cell: what .github/workflows/release.yml runs."""
    assert script.problems() == [], "\n".join(script.problems())
    assert script.read_version() == coursekit.__version__


# ---------------------------------------------------------------------------------------
# The website: releases.json and the footer
# ---------------------------------------------------------------------------------------

def test_the_website_publishes_the_releases_index_and_names_its_release(tmp_path):
    path = site.write_releases_index(tmp_path / "html", REPOSITORY)
    assert path == tmp_path / "html" / "releases.json"
    index = json.loads(path.read_text())
    assert index == release.releases_index((ROOT / "CHANGELOG.md").read_text(), repository=REPOSITORY,
                                           site_release=coursekit.__version__)
    assert site.course_release() == coursekit.__version__
    footer = site.release_footer(REPOSITORY, "1.2.3")
    assert f'Release 1.2.3 of the course (<a href="{REPOSITORY}/blob/v1.2.3/CHANGELOG.md">' in footer
    assert f'href="{REPOSITORY}/releases/tag/v1.2.3"' in footer
    config = yaml.safe_load((ROOT / "site" / "book" / "_config.yml").read_text())
    assert isinstance(config["html"]["extra_footer"], str), "build.py puts the release in front of the footer"


# ---------------------------------------------------------------------------------------
# python -m coursekit.workspace: which release the copies come from, what is new
# ---------------------------------------------------------------------------------------

def lesson(path: Path, version: str | None, text: str = "x = 1") -> None:
    nb = nbformat.v4.new_notebook()
    cells = [nbformat.v4.new_markdown_cell("# A lesson")]
    if version is not None:
        cells.append(nbformat.v4.new_code_cell(release.setup_cell(REPOSITORY, version)))
    nb.cells = cells + [nbformat.v4.new_code_cell(text)]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


@pytest.fixture
def clone(tmp_path):
    root = tmp_path / "clone"
    lesson(root / "notebooks" / "00_a.ipynb", "1.0.0")
    lesson(root / "notebooks" / "01_b.ipynb", "1.0.0")
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (root / "CHANGELOG.md").write_text("# Changelog\n\n" + entry("1.2.0", "2027-03-01", "Lesson 02 arrives.") + "\n"
                                       + entry("1.1.0", "2027-02-01", "Faster layers.") + "\n"
                                       + entry("1.0.0", "2027-01-01", "First."))
    return root


def test_the_workspace_names_the_release_of_the_copies_and_says_nothing_else_when_all_is_current(clone, capsys):
    assert workspace.main(["--course", str(clone / "notebooks"), "--into", str(clone / "mine")]) == 0
    out = capsys.readouterr().out
    assert "Your copies are from release 1.0.0 of the course, the release of this clone." in out
    assert "new since" not in out
    assert workspace.releases_of_copies(clone / "notebooks", clone / "mine") == {"00_a.ipynb": "1.0.0",
                                                                                 "01_b.ipynb": "1.0.0"}


def test_after_an_update_the_workspace_says_what_is_new_and_which_edited_copies_are_older(clone, capsys):
    mine = clone / "mine"
    workspace.main(["--course", str(clone / "notebooks"), "--into", str(mine)])
    lesson(mine / "01_b.ipynb", "1.0.0", text="x = 'my own work'")            # the learner edits one copy
    lesson(clone / "notebooks" / "00_a.ipynb", "1.2.0")                       # `git pull`: release 1.2.0
    lesson(clone / "notebooks" / "01_b.ipynb", "1.2.0")
    capsys.readouterr()
    assert workspace.main(["--course", str(clone / "notebooks"), "--into", str(mine)]) == 0
    out = capsys.readouterr().out
    assert ("⚠️  1 of your copies is from an earlier release of the course than this clone's 1.2.0 and may fail with "
            "its coursekit: 01_b.ipynb (1.0.0)") in out
    assert ("What is new since release 1.0.0 (CHANGELOG.md has the details):\n"
            "  1.2.0 (2027-03-01): Lesson 02 arrives.\n"
            "  1.1.0 (2027-02-01): Faster layers.\n") in out
    assert release.release_of_notebook(json.loads((mine / "00_a.ipynb").read_text())) == "1.2.0", "the untouched copy"
    lines = workspace.release_report(clone / "notebooks", mine, before={})
    assert len(lines) == 4 and lines[1].startswith("What is new since release 1.0.0"), "the edited copy still counts"


def test_the_workspace_reads_the_changelog_shipped_with_coursekit_outside_a_clone(clone):
    (clone / "CHANGELOG.md").unlink()
    shipped = release.changelog_text()
    newest = release.parse_changelog(shipped).releases[0]
    lesson(clone / "notebooks" / "00_a.ipynb", newest.version)
    lesson(clone / "notebooks" / "01_b.ipynb", newest.version)
    lines = workspace.release_report(clone / "notebooks", clone / "mine", before={"00_a.ipynb": "0.0.1"})
    assert f"  {newest.version} ({newest.date}): {newest.summary}" in lines


def test_the_workspace_says_nothing_of_releases_when_the_lessons_name_none(clone, capsys):
    lesson(clone / "notebooks" / "00_a.ipynb", None)
    lesson(clone / "notebooks" / "01_b.ipynb", None)
    assert workspace.release_report(clone / "notebooks", clone / "mine", before={}) == []


# ---------------------------------------------------------------------------------------
# The release workflow
# ---------------------------------------------------------------------------------------

def test_a_release_tag_checks_the_release_builds_the_wheel_and_publishes_it():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    on = workflow.pop(True, workflow.get("on"))   # YAML 1.1 reads the key `on` as True
    assert on == {"push": {"tags": ["v*"]}}
    assert workflow["permissions"] == {"contents": "read"}
    (job,) = workflow["jobs"].values()
    assert job["permissions"] == {"contents": "write"}, "only the job that publishes may write"
    runs = [step.get("run", "") for step in job["steps"]]
    check = next(i for i, run in enumerate(runs) if "tools/release.py --check --tag" in run)
    build = next(i for i, run in enumerate(runs) if "python -m build" in run)
    publish = next(i for i, run in enumerate(runs) if "gh release create" in run)
    assert check < build < publish, "check, then build, then publish"
    assert '"$GITHUB_REF_NAME" dist/*' in runs[publish] and "--notes-file" in runs[publish]
    assert job["steps"][publish]["env"] == {"GH_TOKEN": "${{ github.token }}"}
