"""Your own copies of the lessons, which you can run, edit and save while still pulling course updates.

Run it from your clone of the course (README.md's install command does)::

    python -m coursekit.workspace

It copies every lesson ``notebooks/NN_name.ipynb`` into ``my-notebooks/`` (a folder git
ignores), then open that folder: ``jupyter lab my-notebooks/``. Work and save there: the
course's own files stay untouched, so ``git pull`` never conflicts and the tests still pass.

After a ``git pull``, run it again. For each lesson it

* copies a lesson that is missing from ``my-notebooks/`` (a new lesson, or one you deleted);
* updates your copy when the course's version changed and you never edited your copy (only
  running it and saving outputs does not count: the outputs are cleared, the code is new);
* **never overwrites your work**: when the course changed a lesson you edited, your file
  stays as it is and the course's new version is saved beside it as
  ``NN_name.course-update.ipynb``, and it says so;
* leaves everything else in the folder alone.

It remembers what it copied in ``my-notebooks/.coursekit-workspace.json``. Only the standard
library is used, and nothing outside ``my-notebooks/`` is written.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

LESSON_PATTERN = "[0-9][0-9]_*.ipynb"
WORKSPACE_NAME = "my-notebooks"
STATE_NAME = ".coursekit-workspace.json"
UPDATE_SUFFIX = ".course-update"
STATE_VERSION = 1

__all__ = ["Action", "find_course", "sync_workspace", "main"]


@dataclass(frozen=True)
class Action:
    """What the command did with one lesson: ``kind`` is one of KINDS; ``message`` says it in a sentence."""

    kind: str
    lesson: str
    message: str


KINDS = ("added", "updated", "kept-yours", "up-to-date")


# ---------------------------------------------------------------------------------------
# Notebook contents
# ---------------------------------------------------------------------------------------

def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_notebook(path: Path) -> dict | None:
    """The notebook's JSON, or None when the file is not a readable notebook (e.g. half-saved)."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return nb if isinstance(nb, dict) and isinstance(nb.get("cells"), list) else None


def _code_fingerprint(nb: dict | None) -> str | None:
    """A hash of what a learner writes (each cell's type and source), blind to outputs and metadata."""
    if nb is None:
        return None
    cells = []
    for cell in nb["cells"]:
        source = cell.get("source", "")
        cells.append([cell.get("cell_type"), "".join(source) if isinstance(source, list) else source])
    return _sha256(json.dumps(cells, ensure_ascii=False).encode("utf-8"))


def _learner_copy(course_file: Path) -> bytes:
    """The course's notebook as the learner gets it: without any jupytext pairing metadata.

    (A ``jupytext`` entry would make JupyterLab's jupytext extension write a paired ``.py``
    beside the learner's copy on every save.)
    """
    nb = _read_notebook(course_file)
    if nb is None:
        raise ValueError(f"course_file {course_file} is not a readable Jupyter notebook")
    nb.get("metadata", {}).pop("jupytext", None)
    return (json.dumps(nb, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file: a crash never leaves half a notebook."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------------------------
# Where things are
# ---------------------------------------------------------------------------------------

def _has_lessons(folder: Path) -> bool:
    return folder.is_dir() and any(folder.glob(LESSON_PATTERN))


def find_course(start: Path | None = None) -> Path:
    """The course's root folder: the nearest folder at or above ``start`` (default: the current one)
    holding ``pyproject.toml`` and lessons in ``notebooks/``; else the clone coursekit was installed from.
    """
    start = Path.cwd() if start is None else Path(start)
    for folder in [start.resolve(), *start.resolve().parents]:
        if (folder / "pyproject.toml").is_file() and _has_lessons(folder / "notebooks"):
            return folder
    package_root = Path(__file__).resolve().parent.parent   # an editable install: the clone itself
    if (package_root / "pyproject.toml").is_file() and _has_lessons(package_root / "notebooks"):
        return package_root
    raise FileNotFoundError(
        f"cannot find the course's notebooks/ folder from {start}: run `python -m coursekit.workspace` inside "
        f"your clone of the course, or pass --course PATH/TO/notebooks")


# ---------------------------------------------------------------------------------------
# The state: what this command wrote last time
# ---------------------------------------------------------------------------------------

def _load_state(workspace: Path) -> dict:
    path = workspace / STATE_NAME
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"version": STATE_VERSION, "lessons": {}}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        # Unreadable: start afresh. Safe, because without a record every existing file that
        # differs from the course counts as the learner's own work and is kept.
        return {"version": STATE_VERSION, "lessons": {}}
    if not isinstance(state, dict) or not isinstance(state.get("lessons"), dict):
        return {"version": STATE_VERSION, "lessons": {}}
    return state


def _save_state(workspace: Path, state: dict) -> None:
    _write_atomically(workspace / STATE_NAME, (json.dumps(state, indent=1, sort_keys=True) + "\n").encode("utf-8"))


# ---------------------------------------------------------------------------------------
# The sync
# ---------------------------------------------------------------------------------------

def _update_path(workspace: Path, name: str, record: dict) -> Path:
    """Where the course's new version goes beside the learner's file: a free name, or the last
    update file this command wrote if the learner has not changed it since."""
    stem = name[: -len(".ipynb")]
    n = 1
    while True:
        candidate = workspace / f"{stem}{UPDATE_SUFFIX}{'' if n == 1 else f'-{n}'}.ipynb"
        if not candidate.exists():
            return candidate
        if record.get("update_file") == candidate.name and \
                _sha256(candidate.read_bytes()) == record.get("update_sha256"):
            return candidate
        n += 1


def sync_workspace(course: Path, workspace: Path) -> list[Action]:
    """Bring ``workspace`` up to date with the lessons in ``course`` without losing a learner's work.

    ``course`` is the course's ``notebooks/`` folder (its ``NN_name.ipynb`` lessons are copied);
    ``workspace`` is the learner's folder (created if missing). Returns one Action per lesson.
    See the module docstring for the rules.
    """
    course, workspace = Path(course), Path(workspace)
    if not _has_lessons(course):
        raise FileNotFoundError(f"course {course} has no lessons (files named {LESSON_PATTERN})")
    if workspace.resolve() == course.resolve():
        raise ValueError(f"workspace must be another folder than the course's notebooks, got {workspace}")
    workspace.mkdir(parents=True, exist_ok=True)
    state = _load_state(workspace)
    records = state["lessons"]
    actions = []
    for course_file in sorted(course.glob(LESSON_PATTERN)):
        name = course_file.name
        data = _learner_copy(course_file)
        # The course's version of a lesson is its code: a change of metadata alone (e.g. pairing
        # metadata removed) is not a new version, and never produces an update file.
        course_code = _code_fingerprint(json.loads(data))
        mine = workspace / name
        record = records.get(name)

        def write_copy(kind: str, message: str) -> None:
            _write_atomically(mine, data)
            records[name] = {"course_code": course_code, "written_code": course_code, "written_sha256": _sha256(data)}
            actions.append(Action(kind, name, message))

        if not mine.exists():
            write_copy("added", f"added {name}")
            continue
        current = mine.read_bytes()
        current_code = _code_fingerprint(_read_notebook(mine))
        if record is None:
            # No record (first run over existing files, or a lost state file): the file counts as
            # this command's copy only if its code is the course's; otherwise it is the learner's work.
            if current_code == course_code:
                records[name] = {"course_code": course_code, "written_code": course_code,
                                 "written_sha256": _sha256(current)}
                actions.append(Action("up-to-date", name, f"{name} is up to date"))
                continue
            record = {"course_code": None, "written_code": None, "written_sha256": None}
        course_changed = record.get("course_code") != course_code
        learner_edited = current_code is None or current_code != record.get("written_code")
        if not course_changed:
            actions.append(Action("up-to-date", name, f"{name} is up to date"))
        elif not learner_edited:
            ran = _sha256(current) != record.get("written_sha256")
            write_copy("updated", f"updated {name} to the course's new version"
                                  + (" (you had only run it: its outputs were cleared)" if ran else ""))
        elif current_code == course_code:
            # The learner's code already is the course's new version (e.g. they copied it over).
            records[name] = {**record, "course_code": course_code, "written_code": course_code}
            actions.append(Action("up-to-date", name, f"{name} is up to date"))
        else:
            update = _update_path(workspace, name, record)
            _write_atomically(update, data)
            records[name] = {**record, "course_code": course_code,
                             "update_file": update.name, "update_sha256": _sha256(data)}
            actions.append(Action(
                "kept-yours", name,
                f"kept your {name} (you changed it); the course's new version is beside it as {update.name}: "
                f"compare the two, copy over what you want, then delete {update.name}"))
    state["version"] = STATE_VERSION
    _save_state(workspace, state)
    return actions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m coursekit.workspace",
        description="Copy the course's lessons into your own folder (my-notebooks/), or bring your copies up to "
                    "date after a `git pull`, never overwriting a lesson you changed.")
    parser.add_argument("--course", type=Path, default=None,
                        help="the course's notebooks/ folder (default: notebooks/ of the clone you are in)")
    parser.add_argument("--into", type=Path, default=None,
                        help=f"your folder (default: {WORKSPACE_NAME}/ beside the course's notebooks/)")
    args = parser.parse_args(argv)
    try:
        course = args.course if args.course is not None else find_course() / "notebooks"
        workspace = args.into if args.into is not None else course.resolve().parent / WORKSPACE_NAME
        actions = sync_workspace(course, workspace)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    changed = [a for a in actions if a.kind != "up-to-date"]
    for action in changed:
        print(("⚠️  " if action.kind == "kept-yours" else "") + action.message)
    if not changed:
        print(f"all {len(actions)} lessons are up to date")
    try:
        shown = workspace.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        shown = workspace.resolve()
    print(f"Your notebooks are in {shown}/ : open them with `jupyter lab {shown}/`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
