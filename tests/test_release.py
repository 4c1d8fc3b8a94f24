"""Releases (issue 24): coursekit.release (the setup cell's line, the changelog, the releases index), and the
agreement of coursekit.__version__, CHANGELOG.md and the git tags that exist in this clone.

The setup cells themselves are checked against __version__ in tests/test_notebook_structure.py; the release
script, the website's index and footer, the workspace's report and the release workflow in
tests/test_release_tools.py; a lesson of the previous release run after the next in tests/test_install_envs.py
(--full).
"""
from __future__ import annotations

import http.server
import json
import re
import shutil
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest

import coursekit
from coursekit import release

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
REPOSITORY = "https://github.com/Some-Owner/some-course"
OLD_SETUP_CELL = (  # the setup cell of release 0.1.0, which named no release
    "# Setup (the same in every notebook): use coursekit if installed, else install it (Colab, JupyterLite).\n"
    "try:\n    import coursekit\nexcept ModuleNotFoundError:\n    import sys\n"
    '    if sys.platform == "emscripten":  # JupyterLite in the browser: the site ships coursekit\'s wheel\n'
    "        %pip install coursekit\n    else:\n"
    '        %pip install --quiet "coursekit @ git+https://github.com/o/r"\n'
    '    import coursekit\nprint("coursekit", coursekit.__version__)')


def changelog(*entries: str, unreleased: bool = True) -> str:
    return "# Changelog\n\nIntro.\n\n" + ("## [Unreleased]\n\n" if unreleased else "") + "\n".join(entries)


def entry(version: str, date: str, summary: str = "What it brings.") -> str:
    return f"## [{version}] - {date}\n\n{summary}\n\n### For learners\n\n- a change\n"


def notebook(*sources: str) -> dict:
    return {"cells": [{"cell_type": "markdown", "source": "# A lesson"}]
            + [{"cell_type": "code", "source": s, "metadata": {}, "outputs": []} for s in sources]}


# ---------------------------------------------------------------------------------------
# Versions and the changelog
# ---------------------------------------------------------------------------------------

def test_versions_are_semantic_and_bad_ones_say_what_is_expected():
    assert release.parse_version("0.2.0") == (0, 2, 0) and release.parse_version("10.0.12") == (10, 0, 12)
    assert release.parse_version("0.10.0") > release.parse_version("0.9.3"), "compared as numbers, not text"
    for bad in ("0.2", "v0.2.0", "0.2.0rc1", "01.2.3", " 0.2.0", ""):
        with pytest.raises(ValueError, match=re.escape(repr(bad))):
            release.parse_version(bad)
    with pytest.raises(TypeError, match="version must be a string"):
        release.parse_version(0.2)


def test_a_changelog_is_read_with_summaries_notes_and_an_unreleased_section():
    text = changelog(entry("0.2.0", "2026-12-07", "Two new\nlessons, one line."), entry("0.1.0", "2026-12-01"),
                     unreleased=True) + "\n[0.2.0]: https://x/compare/v0.1.0...v0.2.0\n"
    parsed = release.parse_changelog(text.replace("## [Unreleased]\n", "## [Unreleased]\n\n- a fix to come\n"))
    assert parsed.unreleased == "- a fix to come"
    assert [r.version for r in parsed.releases] == ["0.2.0", "0.1.0"]
    newest = parsed.release("0.2.0")
    assert newest.date == "2026-12-07" and newest.summary == "Two new lessons, one line."
    assert newest.notes.startswith("Two new") and "### For learners" in newest.notes and "[0.2.0]:" not in newest.notes
    assert release.parse_changelog(changelog(entry("1.0.0", "2027-01-01"), unreleased=False)).unreleased is None
    with pytest.raises(KeyError, match="no entry for 0.3.0"):
        parsed.release("0.3.0")


@pytest.mark.parametrize("text, problem", [
    (changelog(entry("0.2.0", "2026-12-07")).replace("## [0.2.0] - ", "## 0.2.0 - "), "line 7: '## 0.2.0"),
    (changelog(entry("0.2.0", "2026-12-07"), "## [Unreleased]\n"), "comes first"),
    (changelog(entry("0.2", "2026-12-07")), "'0.2' is not a version"),
    (changelog(entry("0.2.0", "7 Dec 2026")), "needs its date"),
    (changelog(entry("0.2.0", "2026-13-07")), "needs its date"),
    (changelog(entry("0.1.0", "2026-12-01"), entry("0.2.0", "2026-12-07")), "0.2.0 must be older than 0.1.0"),
    (changelog(entry("0.2.0", "2026-12-07"), entry("0.2.0", "2026-12-07")), "0.2.0 must be older than 0.2.0"),
    (changelog(entry("0.2.0", "2026-12-01"), entry("0.1.0", "2026-12-07")), "dated 2026-12-07, after 0.2.0"),
    (changelog("## [0.2.0] - 2026-12-07\n\n### For learners\n\n- a change\n"), "needs a summary"),
])
def test_a_changelog_that_breaks_the_rules_names_the_line_and_the_problem(text, problem):
    with pytest.raises(ValueError, match=re.escape(problem)):
        release.parse_changelog(text)


# ---------------------------------------------------------------------------------------
# This repository: __version__, CHANGELOG.md and the tags agree
# ---------------------------------------------------------------------------------------

def test_the_version_is_one_semantic_version_read_from_one_place():
    release.parse_version(coursekit.__version__)
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and '[tool.hatch.version]\npath = "coursekit/__init__.py"' in pyproject
    assert not re.search(r'^version\s*=', pyproject, flags=re.M), "pyproject.toml must not name a version itself"


def test_the_changelog_s_newest_release_is_this_version_and_every_release_has_its_summary():
    parsed = release.parse_changelog((ROOT / "CHANGELOG.md").read_text())
    assert parsed.releases[0].version == coursekit.__version__, (
        f"CHANGELOG.md's newest release is {parsed.releases[0].version}, coursekit.__version__ is "
        f"{coursekit.__version__}: a release needs its entry (README.md, \"Releases\")")
    for entry_ in parsed.releases:
        assert len(entry_.summary) <= 300, f"{entry_.version}'s summary is {len(entry_.summary)} characters: the " \
                                           "setup cell prints it on one line; keep it under 300"
        assert "### For learners" in entry_.notes and "### For instructors" in entry_.notes, \
            f"{entry_.version}: say what changed for learners and for instructors"


def _git(*args) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def _release_tags() -> list[str]:
    if shutil.which("git") is None or _git("rev-parse", "--git-dir").returncode != 0:
        return []
    return [t for t in _git("tag", "--list", "v*").stdout.split() if t]


def test_every_release_tag_names_its_commit_s_version_has_a_changelog_entry_and_lessons_of_its_release():
    """The tags there are (a fresh or shallow clone may have none): vX.Y.Z is a commit whose __version__ is X.Y.Z,
    whose lessons belong to X.Y.Z, and which CHANGELOG.md describes."""
    parsed = release.parse_changelog((ROOT / "CHANGELOG.md").read_text())
    described = {r.version for r in parsed.releases}
    for tag in _release_tags():
        assert re.fullmatch(r"v\d+\.\d+\.\d+", tag), f"tag {tag}: release tags are vMAJOR.MINOR.PATCH"
        version = tag[1:]
        assert version in described, f"tag {tag} has no entry in CHANGELOG.md"
        init = _git("show", f"{tag}:coursekit/__init__.py").stdout
        named = re.search(r'^__version__\s*=\s*"([^"]+)"', init, flags=re.M)
        assert named and named.group(1) == version, f"tag {tag} is a commit whose __version__ is " \
                                                    f"{named and named.group(1)}"
        for path in NOTEBOOKS:
            shown = _git("show", f"{tag}:notebooks/{path.name}")
            if shown.returncode == 0:   # lessons added later are not in older releases
                assert release.release_of_notebook(json.loads(shown.stdout)) == version, \
                    f"{path.name} at {tag} belongs to release {release.release_of_notebook(json.loads(shown.stdout))}"


def test_a_release_tag_at_head_is_this_version():
    at_head = [t for t in _git("tag", "--points-at", "HEAD", "--list", "v*").stdout.split()] if _release_tags() else []
    committed = _git("show", "HEAD:coursekit/__init__.py").stdout if at_head else ""
    for tag in at_head:
        assert f'__version__ = "{tag[1:]}"' in committed, f"HEAD is tagged {tag} but its __version__ is not {tag[1:]}"


# ---------------------------------------------------------------------------------------
# The setup cell
# ---------------------------------------------------------------------------------------

def test_the_setup_cell_installs_the_release_from_the_repository_and_checks_it():
    cell = release.setup_cell(REPOSITORY, "1.2.3")
    assert '%pip install --quiet "coursekit @ git+https://github.com/Some-Owner/some-course@v1.2.3"' in cell
    assert "        %pip install --no-deps coursekit\n" in cell, "JupyterLite installs the wheel the website ships"
    assert f"        %pip install {' '.join(release.BROWSER_DEPENDENCIES)}\n" in cell, "... and its dependencies"
    assert not any("#" in line for line in cell.splitlines() if line.lstrip().startswith("%pip")), \
        "a comment after %pip would reach pip as arguments"
    assert cell.endswith('coursekit.release.check("1.2.3")  # says which release this is, and when a newer one is out')
    assert cell.count("1.2.3") == 3 and release.release_of_notebook(notebook(cell)) == "1.2.3"
    with pytest.raises(ValueError, match="semantic version"):
        release.setup_cell(REPOSITORY, "1.2")
    with pytest.raises(ValueError, match="repository must be the course's https:// URL"):
        release.setup_cell("git@github.com:o/r.git", "1.2.3")


def test_the_browser_installs_every_dependency_but_scikit_learn_and_no_lesson_imports_it_there():
    """JupyterLite's setup cell installs coursekit without its dependencies, then pyproject.toml's list minus
    scikit-learn (with scipy, seconds to load in Pyodide): a dependency added to pyproject must be added there too,
    and nothing a lesson runs in the browser may import scikit-learn."""
    import tomllib
    declared = [re.split(r"[<>=!~ ;\[]", dep, maxsplit=1)[0]
                for dep in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]]
    assert sorted(release.BROWSER_DEPENDENCIES) == sorted(set(declared) - {"scikit-learn"}), declared
    modules = [p for p in (ROOT / "coursekit").rglob("*.py")]
    importing = [str(p.relative_to(ROOT)) for p in modules
                 if re.search(r"^\s*(?:import sklearn|from sklearn)", p.read_text(encoding="utf-8"), flags=re.M)]
    assert not importing, f"coursekit modules importing scikit-learn: {importing}"
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text())["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] == "code" and re.search(r"^\s*(?:import sklearn|from sklearn)", source, flags=re.M):
                assert "BROWSER" in source, f"{path.name}: a cell imports scikit-learn without a browser guard"


def test_a_notebook_s_release_is_read_from_its_setup_cell_wherever_the_learner_moved_it():
    cell = release.setup_cell(REPOSITORY, "0.3.1")
    assert release.release_of_notebook(notebook("x = 1", cell)) == "0.3.1"
    assert release.release_of_notebook(notebook(OLD_SETUP_CELL)) == release.UNPINNED_RELEASE == "0.1.0"
    assert release.release_of_notebook(notebook("import coursekit", "x = 2")) is None
    assert release.release_of_notebook(notebook('coursekit.release.check("latest")')) is None
    as_lines = notebook(cell)
    as_lines["cells"][1]["source"] = cell.splitlines(keepends=True)    # how .ipynb files store sources
    assert release.release_of_notebook(as_lines) == "0.3.1"
    assert release.release_of_notebook({"cells": "junk"}) is None and release.release_of_notebook([]) is None


# ---------------------------------------------------------------------------------------
# The line the setup cell prints
# ---------------------------------------------------------------------------------------

NEWER = {"version": "0.3.0", "date": "2027-01-15", "summary": "Lesson 09, weight averaging."}


def test_the_line_names_the_release_and_a_newer_one_with_what_it_brings_and_where():
    assert release.status_line("0.2.0") == "coursekit 0.2.0 (this lesson is from release 0.2.0 of the course)"
    line = release.status_line("0.2.0", [NEWER], site="https://o.github.io/r/")
    assert line.startswith("coursekit 0.2.0 (this lesson is from release 0.2.0 of the course) · a newer release is "
                           "out: 0.3.0 (2027-01-15): Lesson 09, weight averaging. Get it at https://o.github.io/r/")
    assert "keeps working with 0.2.0" in line and "\n" not in line
    two = release.status_line("0.2.0", [{"version": "0.4.0", "date": "", "summary": "No full stop"}, NEWER])
    assert "2 newer releases are out, the latest: 0.4.0: No full stop. Get it from the course's website" in two


@pytest.mark.parametrize("where, fix", [
    ("installed", '`%pip install "coursekit @ git+https://github.com/o/r@v0.2.0"`, then restart the kernel'),
    ("clone", "`python -m coursekit.workspace` (in your clone) puts the lesson's 0.3.0 version beside your copy"),
    ("browser", "this website runs release 0.3.0"),
])
def test_a_lesson_run_with_another_release_gets_one_line_with_the_fix(where, fix):
    line = release.mismatch_line("0.2.0", "0.3.0", where=where, repository="https://github.com/o/r")
    assert "coursekit 0.3.0 is installed, but this lesson was written for release 0.2.0" in line
    assert fix in line and "\n" not in line
    assert "coursekit 0.2.0 from the course's repository" in release.mismatch_line(
        "0.2.0", "0.3.0", where="installed", repository=None)


def _index(*versions: str, site: str = "https://o.github.io/r/") -> dict:
    return {"schema": 1, "site": site, "releases": [
        {"version": v, "date": "2027-01-15", "summary": f"What {v} brings."} for v in versions]}


def test_newer_releases_are_read_from_an_index_and_junk_in_it_is_left_out():
    index = _index("0.10.0", "0.2.1", "0.2.0", "0.1.0")
    index["releases"] += [{"version": "1.0"}, {"version": 3}, "0.9.0", {"no": "version"}]
    assert [r["version"] for r in release.newer_releases(index, "0.2.0")] == ["0.10.0", "0.2.1"]
    assert release.newer_releases(index, "0.10.0") == []
    for junk in (None, [], {"releases": "0.3.0"}, {"releases": None}):
        assert release.newer_releases(junk, "0.2.0") == []
    odd = {"releases": [{"version": "0.3.0", "date": "2027-01-15\n\x1b[31m", "summary": "a\nb\tc" + "x" * 999}]}
    (found,) = release.newer_releases(odd, "0.2.0")
    assert "\n" not in found["summary"] and "\x1b" not in found["date"] and len(found["summary"]) <= 300


class _Server:
    """A local server: ``/releases.json`` from ``index`` (a dict, or raw bytes), after ``delay`` seconds."""

    def __init__(self, index, delay: float = 0.0) -> None:
        requested = self.requested = []
        body = index if isinstance(index, bytes) else json.dumps(index).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                requested.append(self.path)
                time.sleep(delay)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass   # a client that gave up on a slow answer: nothing to report

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/releases.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def lookup(monkeypatch):
    """The release lookup on, as in a learner's kernel (the test suite's environment may turn it off)."""
    monkeypatch.delenv(release.CHECK_VARIABLE, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    return monkeypatch


def _check_output(lesson: str, capsys) -> str:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        release.check(lesson)
    out, err = capsys.readouterr()
    assert err == "" and not caught, (err, [str(w.message) for w in caught])
    assert out.count("\n") == 1, f"one line, got {out!r}"
    return out.strip()


def test_check_says_a_newer_release_is_out_from_the_index_once_per_process(lookup, capsys):
    version = coursekit.__version__
    major, minor, patch = release.parse_version(version)
    newer = f"{major}.{minor}.{patch + 1}"
    with _Server(_index(newer, version, site="https://o.github.io/r/")) as server:
        lookup.setenv(release.URL_VARIABLE, server.url)
        first = _check_output(version, capsys)
        second = _check_output(version, capsys)
    assert first == second and server.requested == ["/releases.json"], server.requested
    assert first.startswith(f"coursekit {version} (this lesson is from release {version} of the course) · a newer "
                            f"release is out: {newer} (2027-01-15): What {newer} brings. Get it at https://o.github.io/r/")


def test_check_reads_an_index_from_a_file_and_says_nothing_more_when_none_is_newer(lookup, capsys, tmp_path):
    version = coursekit.__version__
    path = tmp_path / "releases.json"
    path.write_text(json.dumps(_index(version, "0.0.1")))
    lookup.setenv(release.URL_VARIABLE, path.as_uri())
    assert release.fetch_index() == _index(version, "0.0.1")
    assert _check_output(version, capsys) == release.status_line(version)


@pytest.mark.parametrize("index", [b"<html>404</html>", b"[1, 2]", json.dumps({"releases": [{"version": 7}]}).encode(),
                                   b"\xff\xfe"])
def test_check_ignores_an_index_it_cannot_read(lookup, capsys, index):
    with _Server(index) as server:
        lookup.setenv(release.URL_VARIABLE, server.url)
        assert _check_output(coursekit.__version__, capsys) == release.status_line(coursekit.__version__)


def test_check_is_silent_and_quick_offline_and_when_turned_off(lookup, capsys, tmp_path):
    version = coursekit.__version__
    with _Server(_index("99.0.0"), delay=5) as slow:
        start = time.monotonic()
        assert release.fetch_index(slow.url, timeout=0.5) is None
        assert time.monotonic() - start < 3, "the setup cell must not wait for a slow server"
    for unreachable in ("http://127.0.0.1:9/releases.json", "http://no-such-host.invalid/releases.json",
                        (tmp_path / "missing.json").as_uri(), "not a url"):
        lookup.setenv(release.URL_VARIABLE, unreachable)
        assert _check_output(version, capsys) == release.status_line(version)
    path = tmp_path / "releases.json"
    path.write_text(json.dumps(_index("99.0.0")))
    lookup.setenv(release.URL_VARIABLE, path.as_uri())
    for off in ("0", "false", "No", " off "):
        lookup.setenv(release.CHECK_VARIABLE, off)
        assert release.fetch_index() is None
        assert _check_output(version, capsys) == release.status_line(version)


def test_a_lookup_stuck_before_its_socket_time_limit_applies_is_abandoned(lookup):
    """A DNS lookup is not bound by urlopen's timeout: the setup cell still waits no longer than the deadline."""
    stuck = threading.Event()
    lookup.setattr(release.urllib.request, "urlopen", lambda url, timeout: stuck.wait(30))   # a resolver that hangs
    start = time.monotonic()
    try:
        assert release.fetch_index("http://stuck.example/releases.json", timeout=0.3) is None
        assert time.monotonic() - start < 3
    finally:
        stuck.set()


def test_check_skips_the_lookup_in_the_browser(lookup, tmp_path):
    path = tmp_path / "releases.json"
    path.write_text(json.dumps(_index("99.0.0")))
    lookup.setenv(release.URL_VARIABLE, path.as_uri())
    lookup.setattr(sys, "platform", "emscripten")
    assert release.fetch_index() is None


def test_check_of_another_release_says_so_with_the_fix_and_looks_nothing_up(lookup, capsys):
    with _Server(_index("99.0.0")) as server:
        lookup.setenv(release.URL_VARIABLE, server.url)
        line = _check_output("0.0.1", capsys)
    assert server.requested == []
    assert line.startswith(f"⚠️ coursekit {coursekit.__version__} is installed, but this lesson was written for "
                           "release 0.0.1 of the course")
    assert "python -m coursekit.workspace" in line, "this checkout is a clone of the course: the fix is the workspace"


def test_check_rejects_a_malformed_release_naming_the_argument():
    with pytest.raises(ValueError, match=r"release: version must be a semantic version .* got 'v0\.2\.0'"):
        release.check("v0.2.0")
    with pytest.raises(TypeError, match="release: version must be a string"):
        release.check(0.2)


def test_a_lookup_left_running_when_the_process_ends_writes_nothing_on_stderr():
    """A kernel that ends while the lookup still waits (a server too slow to answer): one line, stderr empty."""
    code = f"import coursekit.release as r; r.check({coursekit.__version__!r})"
    with _Server(_index("99.0.0"), delay=release.LOOKUP_TIMEOUT_S + 5) as slow:
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), release.URL_VARIABLE: slow.url, "NO_PROXY": "127.0.0.1"}
        done = subprocess.run([sys.executable, "-W", "error", "-c", code], env=env, capture_output=True, text=True,
                              timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout == release.status_line(coursekit.__version__) + "\n"


# ---------------------------------------------------------------------------------------
# The releases index
# ---------------------------------------------------------------------------------------

def test_the_index_lists_every_release_of_the_changelog_newest_first():
    text = (ROOT / "CHANGELOG.md").read_text()
    index = release.releases_index(text, repository=REPOSITORY, site_release=coursekit.__version__)
    parsed = release.parse_changelog(text)
    assert index["schema"] == release.INDEX_SCHEMA == 1
    assert index["site"] == "https://some-owner.github.io/some-course/" and index["repository"] == REPOSITORY
    assert index["latest"] == parsed.releases[0].version and index["site_release"] == coursekit.__version__
    assert [r["version"] for r in index["releases"]] == [r.version for r in parsed.releases]
    oldest = parsed.releases[-1]
    assert index["releases"][-1] == {"version": oldest.version, "date": oldest.date, "summary": oldest.summary,
                                     "tag": f"v{oldest.version}", "notes": f"{REPOSITORY}/releases/tag/v{oldest.version}"}
    (newest,) = release.newer_releases(json.loads(json.dumps(index)), parsed.releases[1].version)[:1]
    assert newest["summary"] == parsed.releases[0].summary, "what the setup cell prints is the changelog's summary"
    with pytest.raises(ValueError, match="not https://github.com/OWNER/REPO"):
        release.releases_index(text, repository="https://gitlab.com/o/r", site_release="0.1.0")


def test_the_website_address_derives_from_the_repository():
    assert release.pages_url("https://github.com/Some-Owner/some-repo") == "https://some-owner.github.io/some-repo/"
    assert release.pages_url("https://github.com/o/r.git") == "https://o.github.io/r/"
    assert release.repository_url() == re.search(r'^Repository = "([^"]+)"', (ROOT / "pyproject.toml").read_text(),
                                                 flags=re.M).group(1)
