"""Write the course's release into every lesson's setup cell, and check that a release's pieces agree.

    python tools/release.py                 # rewrite the setup cells and regenerate the notebooks
    python tools/release.py --check         # change nothing: exit 1 and say what disagrees
    python tools/release.py --check --tag v0.2.0    # ...and that the tag names this release (the release workflow)
    python tools/release.py --notes 0.2.0   # print a release's changelog entry (the GitHub release's text)

A release is named in one place, ``__version__`` in coursekit/__init__.py; the repository in one
place, ``[project.urls] Repository`` in pyproject.toml. From these two this script writes the setup
cell of every lesson source (``notebooks/src/NN_name.py``: the cell tagged ``setup``, as
``coursekit.release.setup_cell`` gives it, so that it installs ``coursekit @ git+REPOSITORY@vX.Y.Z``),
regenerates each changed notebook with README.md's conversion command (jupytext), and writes the
link definitions at the end of CHANGELOG.md. It refuses a version that CHANGELOG.md has no entry for.

Cutting a release (README.md, "Releases"), from the repository's root:

1. set ``__version__`` in coursekit/__init__.py (semantic versioning: MAJOR when lessons saved from the
   previous release break, MINOR for new lessons or features, PATCH for fixes);
2. in CHANGELOG.md, rename "## [Unreleased]" to "## [X.Y.Z] - YYYY-MM-DD" (its first paragraph is the
   summary learners see) and open a new, empty "## [Unreleased]" above it;
3. ``python tools/release.py``, then ``python -m pytest``;
4. commit, ``git tag vX.Y.Z``, ``git push origin main vX.Y.Z``: the tag's workflow
   (.github/workflows/release.yml) checks the release with ``--check --tag``, builds the wheel and
   publishes the GitHub release; the push to main publishes the website, which names the release.

A fork does the same after setting its own Repository URL (every setup cell then installs from it).
The --check and --notes modes need only the standard library (not even coursekit's dependencies:
coursekit/release.py is loaded on its own); rewriting needs jupytext (the ``test`` extra).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _checkout_module(name: str, path: Path):
    """``path`` (a module of this checkout) loaded on its own: no package __init__, no dependency of coursekit."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module   # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


release = _checkout_module("coursekit_release_of_this_checkout", ROOT / "coursekit" / "release.py")

SOURCES_DIR = ROOT / "notebooks" / "src"
NOTEBOOKS_DIR = ROOT / "notebooks"
CHANGELOG = ROOT / "CHANGELOG.md"
LESSON_GLOB = "[0-9][0-9]_*.py"
SETUP_MARKER = re.compile(r'# %%.*\btags=\[[^\]]*"setup"')
# README.md's conversion command, for one source (run from the repository's root).
CONVERT = ["--update", "--from", "src//py:percent", "--to", "ipynb", "--update-metadata", '{"jupytext": null}']


class ReleaseError(Exception):
    """The release cannot be written; the message says what to fix."""


def read_version(root: Path = ROOT) -> str:
    """``__version__`` from coursekit/__init__.py, read as hatchling reads it (pyproject's [tool.hatch.version])."""
    text = (root / "coursekit" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__\s*=\s*"([^"]*)"', text, flags=re.M)
    if match is None:
        raise ReleaseError("coursekit/__init__.py has no line __version__ = \"X.Y.Z\"")
    release.parse_version(match.group(1))
    return match.group(1)


def read_repository() -> str:
    if Path(release.__file__).resolve().parent.parent != ROOT:
        raise ReleaseError(f"coursekit was imported from {release.__file__}, not from {ROOT}")
    repository = release.repository_url()
    if repository is None:
        raise ReleaseError("pyproject.toml has no [project.urls] Repository")
    return repository


def percent_form(cell: str) -> str:
    """A code cell as a jupytext percent script holds it: IPython magics commented out (``%pip`` -> ``# %pip``)."""
    return "\n".join(re.sub(r"^(\s*)(%)", r"\1# \2", line) for line in cell.split("\n"))


def _setup_block(lines: list[str], where: str) -> tuple[int, int]:
    """(first, end) line indexes of the setup cell's body in a percent script: after its marker, before the next."""
    start = next((i for i, line in enumerate(lines) if SETUP_MARKER.match(line)), None)
    if start is None:
        raise ReleaseError(f"{where} has no cell tagged setup (a line '# %% tags=[\"setup\"]')")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("# %%")), len(lines))
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1   # keep the blank lines that separate the cells
    return start + 1, end


def source_with_setup_cell(text: str, cell: str, where: str) -> str:
    """``text`` (a lesson source) with its setup cell's body replaced by ``cell`` (in percent form)."""
    lines = text.split("\n")
    first, end = _setup_block(lines, where)
    return "\n".join(lines[:first] + percent_form(cell).split("\n") + lines[end:])


def _first_code_cell(notebook: Path) -> dict:
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    return next((c for c in nb.get("cells", []) if c.get("cell_type") == "code"), {})


def link_definitions(changelog: release.Changelog, repository: str) -> str:
    """The link definitions that end CHANGELOG.md: each heading to its comparison with the release before it."""
    versions = [r.version for r in changelog.releases]
    lines = [f"[Unreleased]: {repository}/compare/v{versions[0]}...HEAD"] if changelog.unreleased is not None else []
    for newer, older in zip(versions, versions[1:]):
        lines.append(f"[{newer}]: {repository}/compare/v{older}...v{newer}")
    lines.append(f"[{versions[-1]}]: {repository}/releases/tag/v{versions[-1]}")
    return "\n".join(lines) + "\n"


def _split_links(text: str) -> tuple[str, str]:
    """(the changelog without its trailing link definitions, those definitions)."""
    lines = text.rstrip("\n").split("\n")
    end = len(lines)
    while end > 0 and (re.fullmatch(r"\[[^\]]+\]: \S+", lines[end - 1]) or not lines[end - 1].strip()):
        end -= 1
    return "\n".join(lines[:end]) + "\n", "\n".join(line for line in lines[end:] if line.strip()) + "\n"


def problems(*, tag: str | None = None) -> list[str]:
    """What disagrees among __version__, CHANGELOG.md, the setup cells (sources and notebooks) and ``tag``."""
    found = []
    try:
        version, repository = read_version(), read_repository()
    except (ReleaseError, ValueError) as exc:
        return [str(exc)]
    try:
        changelog = release.parse_changelog(CHANGELOG.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"CHANGELOG.md: {exc}"]
    if not changelog.releases or changelog.releases[0].version != version:
        newest = changelog.releases[0].version if changelog.releases else "none"
        found.append(f"CHANGELOG.md's newest release is {newest}, but __version__ is {version}: add its entry "
                     f"'## [{version}] - YYYY-MM-DD' (or set __version__ back)")
    elif _split_links(CHANGELOG.read_text(encoding="utf-8"))[1] != link_definitions(changelog, repository):
        found.append("CHANGELOG.md's link definitions at its end are not those of its releases: run "
                     "python tools/release.py")
    if tag is not None and tag != f"v{version}":
        found.append(f"the tag {tag} does not name the release of its commit, v{version} (__version__)")
    cell = release.setup_cell(repository, version)
    for source in sorted(SOURCES_DIR.glob(LESSON_GLOB)):
        where = source.relative_to(ROOT).as_posix()
        text = source.read_text(encoding="utf-8")
        try:
            if source_with_setup_cell(text, cell, where) != text:
                found.append(f"{where}: its setup cell is not release {version}'s: run python tools/release.py")
        except ReleaseError as exc:
            found.append(str(exc))
        notebook = NOTEBOOKS_DIR / f"{source.stem}.ipynb"
        first = _first_code_cell(notebook) if notebook.exists() else {}
        if "".join(first.get("source", [])) != cell or "setup" not in first.get("metadata", {}).get("tags", []):
            found.append(f"{notebook.relative_to(ROOT).as_posix()}: its first code cell is not release {version}'s "
                         "setup cell (tagged setup): run python tools/release.py")
    return found


def _convert(source: Path) -> None:
    """README.md's conversion command for one source: its .ipynb regenerated, cell ids kept."""
    proc = subprocess.run([sys.executable, "-m", "jupytext", *CONVERT, source.relative_to(ROOT).as_posix()],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise ReleaseError(f"jupytext could not regenerate {source.stem}.ipynb:\n{proc.stderr or proc.stdout}")


def write_release() -> list[str]:
    """Write release __version__ into every lesson's setup cell and the changelog's links; returns what changed."""
    version, repository = read_version(), read_repository()
    changelog_text = CHANGELOG.read_text(encoding="utf-8")
    changelog = release.parse_changelog(changelog_text)
    try:
        changelog.release(version)
    except KeyError:
        raise ReleaseError(f"CHANGELOG.md has no entry for {version}: add '## [{version}] - YYYY-MM-DD' with a "
                           "summary paragraph (what the release brings) first") from None
    cell = release.setup_cell(repository, version)
    changed = []
    for source in sorted(SOURCES_DIR.glob(LESSON_GLOB)):
        where = source.relative_to(ROOT).as_posix()
        text = source.read_text(encoding="utf-8")
        new = source_with_setup_cell(text, cell, where)
        notebook = NOTEBOOKS_DIR / f"{source.stem}.ipynb"
        stale = not notebook.exists() or "".join(_first_code_cell(notebook).get("source", [])) != cell
        if new != text:
            source.write_text(new, encoding="utf-8")
            changed.append(where)
        if new != text or stale:
            _convert(source)
            if "".join(_first_code_cell(notebook).get("source", [])) != cell:
                raise ReleaseError(f"{notebook.name}: after regenerating, its first code cell is still not the "
                                   f"setup cell; is the cell tagged setup the first code cell of {where}?")
            changed.append(notebook.relative_to(ROOT).as_posix())
    body, links = _split_links(changelog_text)
    wanted = link_definitions(changelog, repository)
    if links != wanted:
        CHANGELOG.write_text(body.rstrip("\n") + "\n\n" + wanted, encoding="utf-8")
        changed.append("CHANGELOG.md")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/release.py", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 and say what disagrees")
    parser.add_argument("--tag", help="with --check: the git tag being released (must be v + __version__)")
    parser.add_argument("--notes", metavar="VERSION", help="print the changelog entry of VERSION and exit")
    args = parser.parse_args(argv)
    try:
        if args.notes:
            entry = release.parse_changelog(CHANGELOG.read_text(encoding="utf-8")).release(args.notes)
            print(entry.notes)
            return 0
        if args.check:
            found = problems(tag=args.tag)
            for problem in found:
                print(f"error: {problem}", file=sys.stderr)
            if not found:
                print(f"release {read_version()}: __version__, CHANGELOG.md and every setup cell agree")
            return 1 if found else 0
        changed = write_release()
    except (ReleaseError, ValueError, KeyError, OSError) as exc:
        print(f"error: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        return 2
    version = read_version()
    print("\n".join(f"wrote {path}" for path in changed) or f"every setup cell already installs release {version}")
    print(f"next: python -m pytest, commit, then `git tag v{version} && git push origin main v{version}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
