"""Your own copies of the lessons, which you can run, edit and save while still pulling course updates.

Run it from your clone of the course (README.md's install command does)::

    python -m coursekit.workspace

It copies every lesson ``notebooks/NN_name.ipynb`` into ``my-notebooks/`` (a folder git
ignores), then open that folder: ``jupyter lab my-notebooks/``. Work and save there: the
course's own files stay untouched, so ``git pull`` never conflicts and the tests still pass.

After a ``git pull``, run it again. For each lesson it

* copies a lesson that is missing from ``my-notebooks/`` (a new lesson, or one you deleted);
* updates your copy when the course's version changed and you never edited your copy: its code is
  that of a version the course had (only running it and saving outputs does not count: the outputs
  are cleared, the code is new);
* **never overwrites your work**: when the course changed a lesson you edited, your file
  stays as it is and the course's new version is saved beside it as
  ``NN_name.course-update.ipynb``, and it says so;
* follows a lesson the course renamed (``RENAMED_LESSONS``): an untouched copy under the old name
  is replaced by the new one; an edited one is kept, with the new lesson beside it, and it says so;
* leaves alone, and reports, a copy that is not a readable notebook (empty, half-saved) or that
  is a link to a file elsewhere, and everything else in the folder;
* says which release of the course your copies come from (each copy's setup cell names it), which
  of them are from an earlier release than your clone's, and what the releases since bring (their
  summaries in CHANGELOG.md: the clone's, else the one shipped with coursekit).

It remembers what it copied in ``my-notebooks/.coursekit-workspace.json``. Only the standard
library is used. Nothing outside ``my-notebooks/`` is written: a ``my-notebooks`` that is a link
to another folder is refused. New files get the permissions your umask gives. Every problem is
one line saying what is wrong and what to do.
"""
from __future__ import annotations

import argparse
import errno
import hashlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import release

LESSON_PATTERN = "[0-9][0-9]_*.ipynb"
WORKSPACE_NAME = "my-notebooks"
STATE_NAME = ".coursekit-workspace.json"
UPDATE_SUFFIX = ".course-update"
STATE_VERSION = 2

# Lessons the course renamed: {old file name: new file name}. The one place this is kept.
RENAMED_LESSONS = {
    "06_putting_it_together.ipynb": "08_putting_it_together.ipynb",
}

__all__ = ["Action", "KINDS", "RENAMED_LESSONS", "WorkspaceError", "find_course", "sync_workspace",
           "releases_of_copies", "release_report", "main"]


@dataclass(frozen=True)
class Action:
    """What the command did with one lesson: ``kind`` is one of KINDS; ``message`` says it in a sentence."""

    kind: str
    lesson: str
    message: str


KINDS = ("added", "updated", "kept-yours", "renamed", "damaged", "refused", "up-to-date")
_WARNINGS = ("kept-yours", "damaged", "refused")


class WorkspaceError(Exception):
    """The workspace cannot be synced; the message is one line with the cause and the fix."""


def _cannot(doing: str, path: Path, exc: OSError) -> WorkspaceError:
    """One line: what could not be done to which file, why, and what to do about it."""
    why = exc.strerror or str(exc)
    if exc.errno in (errno.EACCES, errno.EPERM):
        fix = f"make it writable (chmod u+w {path.parent if doing == 'write' else path}) and run this again"
    elif exc.errno == errno.EROFS:
        fix = "it is on a read-only file system: pass --into with a folder you can write to"
    elif exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        fix = "free some disk space and run this again"
    elif exc.errno == errno.ENOTDIR:
        fix = f"a part of {path} is a file, not a folder: rename it and run this again"
    else:
        fix = "check that folder and run this again"
    return WorkspaceError(f"cannot {doing} {path}: {why}; {fix}")


# ---------------------------------------------------------------------------------------
# Notebook contents
# ---------------------------------------------------------------------------------------

def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _parse_notebook(data: bytes) -> tuple[dict | None, str]:
    """(the notebook's JSON, "") or (None, why it is not a readable notebook)."""
    if not data.strip():
        return None, "it is empty"
    try:
        nb = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        return None, "it is not text (not UTF-8)"
    except json.JSONDecodeError as exc:
        return None, f"it is not valid JSON ({exc.msg} at line {exc.lineno}; a half-finished save?)"
    except RecursionError:
        return None, "it is not a notebook (JSON nested too deeply)"
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return None, "it is JSON but not a notebook (no list of cells)"
    return nb, ""


def _read_notebook(path: Path) -> dict | None:
    """The notebook's JSON, or None when the file is not a readable notebook (e.g. half-saved)."""
    try:
        return _parse_notebook(path.read_bytes())[0]
    except OSError:
        return None


def _code_fingerprint(nb: dict | None) -> str | None:
    """A hash of what a learner writes (each cell's type and source), blind to outputs and metadata."""
    if nb is None:
        return None
    cells = []
    for cell in nb["cells"]:
        cell = cell if isinstance(cell, dict) else {}
        source = cell.get("source", "")
        cells.append([cell.get("cell_type"), "".join(map(str, source)) if isinstance(source, list) else str(source)])
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


def _new_file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file: a crash never leaves half a notebook.

    The file keeps its permissions when it exists; a new one gets those the umask allows.
    """
    try:
        mode = path.stat().st_mode & 0o7777 if path.is_file() and not path.is_symlink() else _new_file_mode()
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _cannot("write", path, exc) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _cannot("write", path, exc) from None
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


def _prepare_workspace(course: Path, workspace: Path) -> None:
    """Check that ``workspace`` is a real folder of its own, and make it; a one-line error otherwise."""
    if workspace.is_symlink():
        raise WorkspaceError(
            f"{workspace} is a link to {os.readlink(workspace)}, not a folder: the workspace must be a real folder "
            f"so that nothing outside it is written; remove the link (rm {workspace}) and run this again")
    if workspace.exists() and not workspace.is_dir():
        raise WorkspaceError(f"{workspace} is a file, not a folder: rename or delete it, then run this again")
    resolved, notebooks = workspace.resolve(), course.resolve()
    if resolved == notebooks or notebooks in resolved.parents:
        raise ValueError(f"workspace must be another folder than the course's notebooks (or a folder in them), "
                         f"got {workspace}")
    try:
        workspace.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _cannot("create the folder", workspace, exc) from None


# ---------------------------------------------------------------------------------------
# The state: what this command wrote and which versions the course had
# ---------------------------------------------------------------------------------------

def _record(raw) -> dict | None:
    """A lesson's record in the current form (older forms are read too)."""
    if not isinstance(raw, dict):
        return None
    record = dict(raw)
    known = [c for c in record.get("known_codes", []) if isinstance(c, str)] if isinstance(
        record.get("known_codes"), list) else []
    for key in ("course_code", "written_code"):   # state version 1 kept these two
        if isinstance(record.get(key), str) and record[key] not in known:
            known.append(record[key])
    record["known_codes"] = known
    record.pop("written_code", None)
    return record


def _load_state(workspace: Path) -> dict:
    path = workspace / STATE_NAME
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"version": STATE_VERSION, "lessons": {}}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        # Unreadable: start afresh. Safe, because without a record every existing file that
        # differs from the course counts as the learner's own work and is kept.
        return {"version": STATE_VERSION, "lessons": {}}
    if not isinstance(state, dict) or not isinstance(state.get("lessons"), dict):
        return {"version": STATE_VERSION, "lessons": {}}
    state["lessons"] = {name: record for name, raw in state["lessons"].items() if (record := _record(raw))}
    return state


def _save_state(workspace: Path, state: dict) -> None:
    _write_atomically(workspace / STATE_NAME, (json.dumps(state, indent=1, sort_keys=True) + "\n").encode("utf-8"))


def _remember(record: dict | None, course_code: str, **more) -> dict:
    record = dict(record or {"known_codes": []})
    if course_code not in record["known_codes"]:
        record["known_codes"] = [*record["known_codes"], course_code]
    record.update(course_code=course_code, **more)
    return record


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
        if not os.path.lexists(candidate):
            return candidate
        if record.get("update_file") == candidate.name and not candidate.is_symlink() and \
                _sha256(candidate.read_bytes()) == record.get("update_sha256"):
            return candidate
        n += 1


def _read_copy(path: Path) -> tuple[bytes | None, dict | None, str]:
    """(bytes, notebook, "") of the learner's copy, or why it cannot be used."""
    if path.is_symlink():
        return None, None, (f"{path.name} is a link to {os.readlink(path)}, not a file of your own: left as it is; "
                            "replace the link with a copy (delete it and run this again)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, None, f"{path.name} cannot be read ({exc.strerror or exc}): left as it is; fix its permissions"
    nb, why = _parse_notebook(data)
    if nb is None:
        return data, None, (f"{path.name} is not a readable notebook: {why}. It is left as it is; to get the "
                            f"course's version, rename it (e.g. to {path.stem}.broken.ipynb) and run this again")
    return data, nb, ""


def _follow_renames(course: Path, workspace: Path, records: dict, actions: list[Action]) -> dict[str, str]:
    """Lessons the course renamed: remove an untouched copy under the old name (returns {new name: what to say
    when it is added}); keep an edited one and say where the new one is."""
    renamed = {}
    for old, new in RENAMED_LESSONS.items():
        mine = workspace / old
        if (course / old).exists() or not (course / new).exists() or not os.path.lexists(mine):
            continue
        record = records.get(old) or {}
        if record.get("renamed_to") == new:
            continue   # said already
        _, nb, why = _read_copy(mine)
        new_code = _code_fingerprint(json.loads(_learner_copy(course / new)))
        untouched = nb is not None and _code_fingerprint(nb) in {*record.get("known_codes", []), new_code}
        if untouched and not os.path.lexists(workspace / new):
            try:
                mine.unlink()
            except OSError as exc:
                raise _cannot("remove", mine, exc) from None
            records.pop(old, None)
            renamed[new] = f"the course renamed {old} to {new}: your copy was untouched, so it is now {new}"
            continue
        records[old] = {**record, "renamed_to": new}
        actions.append(Action("kept-yours", old, f"kept your {old} ({why or 'you changed it'}); the course renamed "
                                                 f"this lesson to {new}, which is beside it: compare the two, copy "
                                                 f"over what you want, then delete {old}"))
    return renamed


def sync_workspace(course: Path, workspace: Path) -> list[Action]:
    """Bring ``workspace`` up to date with the lessons in ``course`` without losing a learner's work.

    ``course`` is the course's ``notebooks/`` folder (its ``NN_name.ipynb`` lessons are copied);
    ``workspace`` is the learner's folder (created if missing). Returns one Action per lesson (and
    per renamed lesson). See the module docstring for the rules. Raises ``WorkspaceError`` (a
    one-line cause and fix) when the folder cannot be used or written.
    """
    course, workspace = Path(course), Path(workspace)
    if not _has_lessons(course):
        raise FileNotFoundError(f"course {course} has no lessons (files named {LESSON_PATTERN})")
    _prepare_workspace(course, workspace)
    state = _load_state(workspace)
    records = state["lessons"]
    actions: list[Action] = []
    renamed = _follow_renames(course, workspace, records, actions)
    for course_file in sorted(course.glob(LESSON_PATTERN)):
        name = course_file.name
        data = _learner_copy(course_file)
        # The course's version of a lesson is its code: a change of metadata alone (e.g. pairing
        # metadata removed) is not a new version, and never produces an update file.
        course_code = _code_fingerprint(json.loads(data))
        mine = workspace / name
        record = records.get(name)

        if not os.path.lexists(mine):
            _write_atomically(mine, data)
            records[name] = _remember(record, course_code, written_sha256=_sha256(data))
            actions.append(Action("renamed", name, renamed[name]) if name in renamed
                           else Action("added", name, f"added {name}"))
            continue
        current, nb, why = _read_copy(mine)
        if why:
            actions.append(Action("refused" if mine.is_symlink() else "damaged", name, why))
            continue
        current_code = _code_fingerprint(nb)
        known = record.get("known_codes", []) if record else []
        if current_code == course_code:
            records[name] = _remember(record, course_code, written_sha256=(record or {}).get(
                "written_sha256", _sha256(current)))
            actions.append(Action("up-to-date", name, f"{name} is up to date"))
        elif current_code in known:
            # The learner's code is that of a version the course had: nothing of theirs to lose.
            ran = _sha256(current) != (record or {}).get("written_sha256")
            _write_atomically(mine, data)
            records[name] = _remember(record, course_code, written_sha256=_sha256(data))
            actions.append(Action("updated", name, f"updated {name} to the course's new version"
                                                   + (" (you had only run it: its outputs were cleared)" if ran
                                                      else "")))
        elif record is not None and record.get("course_code") == course_code:
            actions.append(Action("up-to-date", name, f"{name} is up to date (with your changes)"))
        else:
            update = _update_path(workspace, name, record or {})
            _write_atomically(update, data)
            records[name] = _remember(record, course_code, update_file=update.name, update_sha256=_sha256(data))
            actions.append(Action(
                "kept-yours", name,
                f"kept your {name} (you changed it); the course's new version is beside it as {update.name}: "
                f"compare the two, copy over what you want, then delete {update.name}"))
    state["version"] = STATE_VERSION
    _save_state(workspace, state)
    return actions


# ---------------------------------------------------------------------------------------
# Releases: which one the copies come from, what the newer ones bring
# ---------------------------------------------------------------------------------------

def releases_of_copies(course: Path, workspace: Path) -> dict[str, str]:
    """{lesson file name: the release its copy in ``workspace`` belongs to}, for the copies whose setup cell names
    one (the course's lessons and the former names of renamed ones)."""
    names = sorted({p.name for p in Path(course).glob(LESSON_PATTERN)} | set(RENAMED_LESSONS))
    found = {}
    for name in names:
        mine = Path(workspace) / name
        if mine.is_file() and not mine.is_symlink():
            named = release.release_of_notebook(_read_notebook(mine) or {})
            if named is not None:
                found[name] = named
    return found


def _course_release(course: Path) -> str | None:
    """The release the course's lessons belong to (the one most of them name; the newest of a tie), or None."""
    named = [release.release_of_notebook(_read_notebook(p) or {}) for p in sorted(Path(course).glob(LESSON_PATTERN))]
    named = [r for r in named if r is not None]
    return max(set(named), key=lambda r: (named.count(r), release.parse_version(r))) if named else None


def _changelog(course: Path) -> release.Changelog | None:
    """The clone's CHANGELOG.md (beside the course's notebooks/), else the one shipped with coursekit; None if neither
    can be read."""
    try:
        text = (Path(course).resolve().parent / "CHANGELOG.md").read_text(encoding="utf-8")
    except OSError:
        text = release.changelog_text()
    try:
        return release.parse_changelog(text) if text is not None else None
    except ValueError:
        return None


def _older(version: str, than: str) -> bool:
    return release.parse_version(version) < release.parse_version(than)


def release_report(course: Path, workspace: Path, before: dict[str, str]) -> list[str]:
    """Lines telling the learner which release their copies come from, and what the releases since bring.

    ``before`` is ``releases_of_copies`` taken before the sync: the releases the copies were updated from.
    Nothing (an empty list) when the course's lessons name no release.
    """
    current = _course_release(course)
    if current is None:
        return []
    older = {name: named for name, named in releases_of_copies(course, workspace).items() if _older(named, current)}
    if older:
        count = "1 of your copies is" if len(older) == 1 else f"{len(older)} of your copies are"
        lines = [f"⚠️  {count} from an earlier release of the course than this clone's {current} and may fail with "
                 "its coursekit: "
                 + ", ".join(f"{name} ({named})" for name, named in older.items())
                 + f"; the lines above say where release {current}'s version of each is"]
    else:
        lines = [f"Your copies are from release {current} of the course, the release of this clone."]
    since = min([r for r in before.values() if _older(r, current)] + list(older.values()),
                key=release.parse_version, default=None)
    changelog = _changelog(course) if since is not None else None
    if changelog is not None:
        news = [r for r in changelog.releases if _older(since, r.version) and not _older(current, r.version)]
        if news:
            lines.append(f"What is new since release {since} (CHANGELOG.md has the details):")
            lines += [f"  {r.version} ({r.date}): {r.summary}" for r in news]
    return lines


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
        before = releases_of_copies(course, workspace)
        actions = sync_workspace(course, workspace)
    except (FileNotFoundError, ValueError, WorkspaceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:   # anything else the file system refuses: still one line
        print(f"error: {_cannot('use', Path(exc.filename or '.'), exc)}", file=sys.stderr)
        return 2
    changed = [a for a in actions if a.kind != "up-to-date"]
    for action in changed:
        print(("⚠️  " if action.kind in _WARNINGS else "") + action.message)
    if not changed:
        print(f"all {len(actions)} lessons are up to date")
    for line in release_report(course, workspace, before):
        print(line)
    try:
        shown = workspace.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        shown = workspace.resolve()
    print(f"Your notebooks are in {shown}/ : open them with `jupyter lab {shown}/`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
