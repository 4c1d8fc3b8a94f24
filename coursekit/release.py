"""Releases of the course: which one a lesson belongs to, and whether a newer one is out.

The course is released as a whole. ``coursekit.__version__`` (a semantic version, the one
source: pyproject.toml reads it) names the release; it is tagged ``vX.Y.Z`` in git and
described in CHANGELOG.md. Every lesson's setup cell (``setup_cell``) installs the coursekit of
its own release, ``coursekit @ git+REPOSITORY@vX.Y.Z``, and then calls::

    coursekit.release.check("X.Y.Z")

which prints one line:

* the release the lesson belongs to;
* when a newer release of the course is out: what it brings (its changelog summary) and where
  to get it. "Newer" comes from the releases index the course website publishes beside its
  pages (``releases.json``, built from CHANGELOG.md by site/build.py with ``releases_index``),
  fetched at most once per process, within ``LOOKUP_TIMEOUT_S`` seconds;
* when the installed coursekit is another release than the lesson's (a runtime where another
  lesson installed its own release, a clone that moved on), that the lesson may fail, and the fix.

The lookup is skipped, silently, when offline and in JupyterLite. ``COURSEKIT_RELEASE_CHECK=0``
turns it off (the tests, the grader and the website build set it); ``COURSEKIT_RELEASES_URL``
reads the index from another address (a ``file://`` URL, a local server). ``check`` writes only
that one line, to stdout: never to stderr, never a warning, and a network or index problem never
raises.

The module also reads CHANGELOG.md (``parse_changelog``), reads a notebook's release from its setup
cell (``release_of_notebook``) and builds the index (``releases_index``): the release script
(tools/release.py, which loads this file on its own), the website build and
``python -m coursekit.workspace`` share these. Only the standard library is used.
"""
from __future__ import annotations

import json
import os
import re
import sys
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CHECK_VARIABLE", "URL_VARIABLE", "INDEX_NAME", "INDEX_SCHEMA", "LOOKUP_TIMEOUT_S", "UNPINNED_RELEASE",
           "Release", "Changelog", "parse_version", "parse_changelog", "changelog_text", "repository_url",
           "pages_url", "setup_cell", "release_of_notebook", "releases_index", "fetch_index", "newer_releases",
           "status_line", "mismatch_line", "check"]

CHECK_VARIABLE = "COURSEKIT_RELEASE_CHECK"
"""Set to 0 (or false, no, off) to turn off the lookup of newer releases."""

URL_VARIABLE = "COURSEKIT_RELEASES_URL"
"""The address of the releases index, instead of the course website's (for tests: file:// or a local server)."""

INDEX_NAME = "releases.json"
"""The releases index's file name, at the root of the course website."""

INDEX_SCHEMA = 1
"""The index's format. Every release ever published reads it: add keys, never rename or remove one."""

LOOKUP_TIMEOUT_S = 3.0
"""The longest the setup cell waits for the releases index (DNS included)."""

UNPINNED_RELEASE = "0.1.0"
"""The release whose setup cells named no release (the only one before releases were pinned)."""

_CHANGELOG = "CHANGELOG.md"
_SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)")
_CHECK_CALL = re.compile(r"""coursekit\.release\.check\(\s*["']([^"']*)["']\s*\)""")
_UNPINNED_SETUP = ("# Setup (the same in every notebook)", 'print("coursekit", coursekit.__version__)')
_PACKAGE = Path(__file__).resolve().parent


def parse_version(version: str) -> tuple[int, int, int]:
    """(major, minor, patch) of a semantic version "MAJOR.MINOR.PATCH" (no pre-release or build suffix)."""
    if not isinstance(version, str):
        raise TypeError(f"version must be a string like '0.2.0', got {type(version).__name__} {version!r}")
    match = _SEMVER.fullmatch(version)
    if match is None:
        raise ValueError(f"version must be a semantic version MAJOR.MINOR.PATCH such as '0.2.0', got {version!r}")
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


# ---------------------------------------------------------------------------------------
# The changelog (Keep a Changelog: https://keepachangelog.com/en/1.1.0/)
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Release:
    """One release as CHANGELOG.md describes it."""

    version: str   # "0.2.0"
    date: str      # "2026-12-07" (ISO 8601)
    summary: str   # the entry's first paragraph, on one line: what the release brings, in a sentence or two
    notes: str     # the entry's whole text below its heading (markdown)


@dataclass(frozen=True)
class Changelog:
    """CHANGELOG.md: the text under "## [Unreleased]" (None without that section) and the releases, newest first."""

    unreleased: str | None
    releases: tuple[Release, ...]

    def release(self, version: str) -> Release:
        """The entry of ``version``; KeyError naming the versions there are when it has none."""
        for entry in self.releases:
            if entry.version == version:
                return entry
        raise KeyError(f"the changelog has no entry for {version}; it has {[r.version for r in self.releases]}")


_HEADING = re.compile(r"## \[(?P<name>[^\]]*)\](?: - (?P<date>.*?))?\s*")
_LINK_DEFINITION = re.compile(r"\[[^\]]+\]: \S+\s*")
_DATE = re.compile(r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])")


def _first_paragraph(lines: list[str]) -> str:
    paragraph = []
    for line in lines:
        if not line.strip():
            if paragraph:
                break
            continue
        if line.startswith(("#", "- ", "* ")):
            break
        paragraph.append(line.strip())
    return " ".join(paragraph)


def parse_changelog(text: str) -> Changelog:
    """Read a changelog in the Keep a Changelog format, checking what the releases rely on.

    Sections start ``## [Unreleased]`` (at most one, first) or ``## [X.Y.Z] - YYYY-MM-DD``;
    each release's first paragraph is its summary (required). Versions strictly decrease from
    the top, dates do not increase. Link definitions (``[0.2.0]: https://...``) are allowed at
    the end. A ValueError names the line of the first problem.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be the changelog's text (str), got {type(text).__name__}")
    lines = text.splitlines()
    sections: list[tuple[int, re.Match, list[str]]] = []
    for number, line in enumerate(lines, start=1):
        if line.startswith("## "):
            heading = _HEADING.fullmatch(line)
            if heading is None:
                raise ValueError(f"changelog line {number}: {line!r} is not '## [Unreleased]' or "
                                 "'## [X.Y.Z] - YYYY-MM-DD'")
            sections.append((number, heading, []))
        elif sections and not _LINK_DEFINITION.fullmatch(line):
            sections[-1][2].append(line)
    unreleased, releases = None, []
    for index, (number, heading, body) in enumerate(sections):
        name, date = heading.group("name"), heading.group("date")
        if name == "Unreleased":
            if index != 0 or date is not None:
                raise ValueError(f"changelog line {number}: '## [Unreleased]' comes first, without a date")
            unreleased = "\n".join(body).strip()
            continue
        try:
            version = parse_version(name)
        except ValueError:
            raise ValueError(f"changelog line {number}: {name!r} is not a version MAJOR.MINOR.PATCH") from None
        if date is None or not _DATE.fullmatch(date):
            raise ValueError(f"changelog line {number}: release {name} needs its date as ' - YYYY-MM-DD'")
        if releases and version >= parse_version(releases[-1].version):
            raise ValueError(f"changelog line {number}: {name} must be older than {releases[-1].version}, above it "
                             "(newest release first)")
        if releases and date > releases[-1].date:
            raise ValueError(f"changelog line {number}: {name} is dated {date}, after {releases[-1].version} "
                             f"({releases[-1].date}) above it")
        summary = _first_paragraph(body)
        if not summary:
            raise ValueError(f"changelog line {number}: release {name} needs a summary, a first paragraph saying "
                             "what it brings, before its lists")
        releases.append(Release(name, date, summary, "\n".join(body).strip()))
    return Changelog(unreleased, tuple(releases))


def changelog_text() -> str | None:
    """CHANGELOG.md: the one shipped inside the installed package, else the one of the clone it runs from."""
    for path in (_PACKAGE / _CHANGELOG, _PACKAGE.parent / _CHANGELOG):
        try:
            return path.read_text(encoding="utf-8")
        except OSError:
            continue
    return None


# ---------------------------------------------------------------------------------------
# Where the course lives
# ---------------------------------------------------------------------------------------

def _checkout_root() -> Path | None:
    """The clone coursekit runs from (an editable install or a checkout on sys.path), or None."""
    root = _PACKAGE.parent
    return root if (root / "pyproject.toml").is_file() and (root / "notebooks").is_dir() else None


def repository_url() -> str | None:
    """The course's repository ([project.urls] Repository): the clone's pyproject.toml, else the installed metadata."""
    root = _checkout_root()
    if root is not None:
        try:
            text = (root / "pyproject.toml").read_text(encoding="utf-8")
        except OSError:
            text = ""
        match = re.search(r'^\[project\.urls\][^\[]*?^Repository\s*=\s*"([^"]+)"', text, flags=re.M | re.S)
        if match:
            return match.group(1).rstrip("/")
    try:
        from importlib.metadata import metadata
        entries = metadata("coursekit").get_all("Project-URL") or []
    except Exception:  # noqa: BLE001 - not installed, or unreadable metadata: the repository is unknown
        return None
    for entry in entries:
        label, _, url = entry.partition(",")
        if label.strip().lower() == "repository" and url.strip():
            return url.strip().rstrip("/")
    return None


def pages_url(repository: str) -> str:
    """The GitHub Pages address of a GitHub repository: https://github.com/OWNER/REPO -> https://owner.github.io/REPO/."""
    match = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+?)(?:\.git)?/?", repository or "")
    if not match:
        raise ValueError(f"Repository URL {repository!r} is not https://github.com/OWNER/REPO")
    owner, name = match.groups()
    return f"https://{owner.lower()}.github.io/{name}/"


# ---------------------------------------------------------------------------------------
# The setup cell
# ---------------------------------------------------------------------------------------

BROWSER_DEPENDENCIES = ("numpy", "matplotlib", "tqdm", "threadpoolctl")
"""What the setup cell installs beside coursekit in JupyterLite: its dependencies (pyproject.toml) but
scikit-learn, which no lesson imports in the browser and whose loading (with scipy) costs seconds."""


def setup_cell(repository: str, version: str) -> str:
    """The first code cell of every lesson of release ``version`` (as a notebook holds it, magics uncommented)."""
    parse_version(version)
    if not isinstance(repository, str) or not re.fullmatch(r"https://\S+", repository):
        raise ValueError(f"repository must be the course's https:// URL, got {repository!r}")
    return (
        f"# Setup (the same in every notebook): coursekit {version}, the release this lesson belongs to.\n"
        "try:\n"
        "    import coursekit\n"
        "except ModuleNotFoundError:  # Colab, JupyterLite: install it\n"
        "    import sys\n"
        '    if sys.platform == "emscripten":  # JupyterLite in the browser: the site ships coursekit\'s wheel\n'
        "        # its dependencies but scikit-learn, which no lesson needs there (loading it takes seconds)\n"
        "        %pip install --no-deps coursekit\n"
        f"        %pip install {' '.join(BROWSER_DEPENDENCIES)}\n"
        "    else:\n"
        f'        %pip install --quiet "coursekit @ git+{repository.rstrip("/")}@v{version}"\n'
        "    import coursekit\n"
        "import coursekit.release\n"
        f'coursekit.release.check("{version}")  # says which release this is, and when a newer one is out'
    )


def _cell_source(cell) -> str:
    source = cell.get("source", "") if isinstance(cell, dict) else ""
    return "".join(map(str, source)) if isinstance(source, list) else str(source)


def release_of_notebook(nb: dict) -> str | None:
    """The release a lesson (a notebook's JSON) belongs to, read from its setup cell; None when it names none.

    A setup cell from before releases were pinned counts as UNPINNED_RELEASE.
    """
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        return None
    sources = [_cell_source(c) for c in cells if isinstance(c, dict) and c.get("cell_type") == "code"]
    for source in sources:
        match = _CHECK_CALL.search(source)
        if match and _SEMVER.fullmatch(match.group(1)):
            return match.group(1)
    if any(source.startswith(_UNPINNED_SETUP[0]) and _UNPINNED_SETUP[1] in source for source in sources):
        return UNPINNED_RELEASE
    return None


# ---------------------------------------------------------------------------------------
# The releases index (site/build.py publishes it; check() reads it)
# ---------------------------------------------------------------------------------------

def releases_index(changelog: Changelog | str, *, repository: str, site_release: str) -> dict:
    """The releases index the course website publishes as ``releases.json``.

    ``{"schema": 1, "repository", "site", "site_release", "latest", "releases": [{"version", "date",
    "summary", "tag", "notes"}, ...]}``, releases newest first; ``site_release`` is the release the
    site was built from, ``notes`` the address of the release's page on GitHub.
    """
    if isinstance(changelog, str):
        changelog = parse_changelog(changelog)
    parse_version(site_release)
    if not changelog.releases:
        raise ValueError("changelog has no release to index")
    repository = repository.rstrip("/")
    return {
        "schema": INDEX_SCHEMA,
        "repository": repository,
        "site": pages_url(repository),
        "site_release": site_release,
        "latest": changelog.releases[0].version,
        "releases": [{"version": r.version, "date": r.date, "summary": r.summary, "tag": f"v{r.version}",
                      "notes": f"{repository}/releases/tag/v{r.version}"} for r in changelog.releases],
    }


def _lookup_enabled() -> bool:
    if sys.platform == "emscripten":   # JupyterLite: no sockets; the site itself serves the newest release
        return False
    return os.environ.get(CHECK_VARIABLE, "").strip().lower() not in ("0", "false", "no", "off")


def _index_url() -> str | None:
    override = os.environ.get(URL_VARIABLE, "").strip()
    if override:
        return override
    try:
        return pages_url(repository_url() or "") + INDEX_NAME
    except ValueError:
        return None   # not a GitHub repository: no known website


_fetched: dict[str, dict | None] = {}   # url -> the index (None: unavailable); one lookup per process
_fetched_lock = threading.Lock()


def _download(url: str, timeout: float, result: list) -> None:
    """Runs in a thread: append the index read from ``url``, or nothing. Never raises (a thread's exception
    would be printed on stderr)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:   # noqa: S310 - http(s) or file, by design
            data = response.read(1_000_001)
        if len(data) <= 1_000_000:
            index = json.loads(data.decode("utf-8"))
            if isinstance(index, dict):
                result.append(index)
    except BaseException:  # noqa: BLE001 - offline, an HTTP error, a bad file: the lookup is only a courtesy
        pass


def fetch_index(url: str | None = None, *, timeout: float | None = None) -> dict | None:
    """The releases index (a dict), or None when the lookup is off or the index cannot be had in ``timeout`` s
    (default LOOKUP_TIMEOUT_S).

    ``url`` defaults to ``COURSEKIT_RELEASES_URL``, else the website's ``releases.json`` (from the
    repository URL). Each address is fetched at most once per process. Never raises, never prints.
    """
    if not _lookup_enabled():
        return None
    url = url or _index_url()
    if not url:
        return None
    timeout = LOOKUP_TIMEOUT_S if timeout is None else timeout
    with _fetched_lock:
        if url in _fetched:
            return _fetched[url]
        result: list = []
        worker = threading.Thread(target=_download, args=(url, timeout, result), daemon=True,
                                  name="coursekit-release-lookup")
        worker.start()
        worker.join(timeout)   # a DNS lookup can outlast urlopen's own timeout: never wait longer than this
        _fetched[url] = result[0] if result else None
        return _fetched[url]


def _clean(text, limit: int = 300) -> str:
    """One printable line of at most ``limit`` characters from text read off the network."""
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in str(text)).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def newer_releases(index: dict | None, version: str) -> list[dict]:
    """The releases of ``index`` newer than ``version``, newest first (malformed entries left out)."""
    if not isinstance(index, dict) or not isinstance(index.get("releases"), list):
        return []
    current = parse_version(version)
    newer = []
    for entry in index["releases"]:
        if isinstance(entry, dict) and isinstance(entry.get("version"), str) and _SEMVER.fullmatch(entry["version"]):
            if parse_version(entry["version"]) > current:
                newer.append({"version": entry["version"], "date": _clean(entry.get("date", ""), 10),
                              "summary": _clean(entry.get("summary", ""))})
    return sorted(newer, key=lambda e: parse_version(e["version"]), reverse=True)


# ---------------------------------------------------------------------------------------
# The line the setup cell prints
# ---------------------------------------------------------------------------------------

def status_line(version: str, newer: list[dict] = (), *, site: str | None = None) -> str:
    """The setup cell's line when the installed coursekit is the lesson's release ``version``."""
    line = f"coursekit {version} (this lesson is from release {version} of the course)"
    if not newer:
        return line
    latest = newer[0]
    dated = f" ({latest['date']})" if latest["date"] else ""
    count = "a newer release is out" if len(newer) == 1 else f"{len(newer)} newer releases are out, the latest"
    summary = latest["summary"]
    brings = f": {summary}" + ("" if summary.endswith((".", "!", "?", "…")) else ".") if summary else "."
    where = f" Get it at {site}" if site else " Get it from the course's website"
    return (f"{line} · {count}: {latest['version']}{dated}{brings}{where} (this copy keeps working with "
            f"{version}).")


def mismatch_line(lesson: str, installed: str, *, where: str, repository: str | None) -> str:
    """The setup cell's line when the installed coursekit is another release than the lesson's.

    ``where`` is "browser" (JupyterLite), "clone" (coursekit runs from a clone of the course) or
    "installed" (pip-installed, e.g. on Colab); the fix depends on it.
    """
    head = (f"⚠️ coursekit {installed} is installed, but this lesson was written for release {lesson} of the course "
            "and may fail with it:")
    source = f"coursekit @ git+{repository}@v{lesson}" if repository else None
    if where == "browser":
        return (f"{head} this website runs release {installed}; open the lesson's {installed} version from the "
                f"website, or run this copy in Colab, where its first cell installs {lesson}.")
    install = f'`pip install "{source}"`' if source else f"coursekit {lesson} from the course's repository"
    if where == "clone":
        return (f"{head} `python -m coursekit.workspace` (in your clone) puts the lesson's {installed} version "
                f"beside your copy; to run this copy as it is, use an environment with {install}.")
    run = f'run `%pip install "{source}"`' if source else f"install coursekit {lesson} from the course's repository"
    return f"{head} {run}, then restart the kernel (Colab: Runtime > Restart session) and run the notebook again."


def _where() -> str:
    if sys.platform == "emscripten":
        return "browser"
    return "clone" if _checkout_root() is not None else "installed"


def check(release: str) -> None:
    """Print one line: the release the lesson belongs to, and what to do when that is not the whole story.

    ``release`` is the lesson's release (its setup cell passes it). When the installed coursekit is
    another release, the line says so and gives the fix. Otherwise it names the release and, when
    the releases index names a newer one, what that brings and where to get it (see the module's
    docstring for the lookup). Returns nothing; a malformed ``release`` is a TypeError/ValueError.
    """
    try:
        parse_version(release)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"release: {exc}") from None
    from . import __version__ as installed   # here, so that tools/release.py can load this file on its own

    if installed != release:
        print(mismatch_line(release, installed, where=_where(), repository=repository_url()))
        return
    index = fetch_index()
    site = index.get("site") if isinstance(index, dict) and isinstance(index.get("site"), str) else None
    if site is not None and not re.fullmatch(r"https?://\S+", site):
        site = None
    print(status_line(release, newer_releases(index, release), site=site))
