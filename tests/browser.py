"""Helpers for tests that drive a real browser (Debian's Chromium, headless, via Playwright).

Shared by the website tests (test_site.py, test_lite.py) and benchmarks/lite_lessons.py; usable by any
browser test:

    from browser import require_browser, serve_directory, chromium, RequestLog

    sync_playwright = require_browser()          # skips (fails under CI) when no browser
    with serve_directory(path) as base_url, sync_playwright() as pw:
        browser = chromium(pw)
        context = browser.new_context()
        log = RequestLog(context, base_url)
        page = context.new_page(); page.goto(base_url + "index.html")
        assert not log.external, log.external

The browser is /usr/bin/chromium (`apt-get install chromium`), never one Playwright downloads.
It runs with a fresh profile, and with every host name but localhost made unresolvable, so a
page that needs the internet fails here instead of quietly working.
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # Nothing but this machine: any other host fails to resolve (and is recorded by RequestLog).
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]
INSTALL_HINT = "apt-get install -y chromium && pip install -e '.[browser]'"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def skip_or_fail(reason: str):
    """Skip locally, fail under CI: CI must run the browser tests, never silently skip them."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set: browser tests must run; {INSTALL_HINT})", pytrace=False)
    pytest.skip(f"{reason} ({INSTALL_HINT})")


def require_browser():
    """Return playwright's ``sync_playwright`` if Chromium and Playwright are installed."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        skip_or_fail(f"no Chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("the playwright Python package is not installed")
    return sync_playwright


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        skip_or_fail(f"{name} is not installed")
    return path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".wasm": "application/wasm", ".mjs": "text/javascript", ".js": "text/javascript",
                      ".json": "application/json", ".whl": "application/zip"}

    def log_message(self, *args):  # keep test output clean
        pass


@contextlib.contextmanager
def serve_directory(directory: Path):
    """Serve ``directory`` over HTTP on 127.0.0.1 (a free port); yield the base URL ending in '/'."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def chromium(playwright, **kwargs):
    """Launch Debian's Chromium headless with a fresh profile."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, chromium_sandbox=False,
                                      **kwargs)


class RequestLog:
    """Every request a browser context makes: ``external`` ones (not to ``base_url``), and
    ``failed`` ones (network errors, HTTP status >= 400)."""

    def __init__(self, context, base_url: str):
        self.base_url = base_url
        self.requests: list[str] = []
        self.external: list[str] = []
        self.failed: list[str] = []
        context.on("request", self._on_request)
        context.on("requestfailed", lambda r: self.failed.append(f"{r.url} ({r.failure})"))
        context.on("response", lambda r: r.status >= 400 and self.failed.append(f"{r.url} (HTTP {r.status})"))

    def _on_request(self, request):
        url = request.url
        self.requests.append(url)
        if not url.startswith((self.base_url, "data:", "blob:", "about:")):
            self.external.append(url)


# ---------------------------------------------------------------------------------------
# JupyterLite: open a lesson and run all its cells, as a learner would (tests/test_lite.py,
# benchmarks/lite_lessons.py). The site exposes its app as window.jupyterapp (site/lite/jupyter-lite.json).

LITE_NOTEBOOK_OPEN_JS = ("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                         " && window.jupyterapp.shell.currentWidget.sessionContext")

# Run all cells through the app's own command, once the notebook and its session are ready; the result lands in
# window.__courseRun: {ok, seconds, startedAt, finishedAt (epoch ms, the clock of the kernel's timestamps),
# notebook (as the app holds it, outputs included)}. Options: code cells to insert first and last in the copy the
# browser opened (tagged INSERTED_CELL_TAG; the notebook on disk is untouched), and recordTiming (JupyterLab's
# setting: each cell's metadata.execution gets the kernel's timestamps).
INSERTED_CELL_TAG = "inserted-by-harness"
START_RUN_ALL_JS = """(options) => {
  const {first = [], last = [], recordTiming = false, tag = ''} = options || {};
  window.__courseRun = null;
  const app = window.jupyterapp;
  const panel = app.shell.currentWidget;
  (async () => {
    await panel.context.ready;
    const cells = panel.content.model.sharedModel;
    const inserted = source => ({cell_type: 'code', source, metadata: {tags: [tag]}});
    first.forEach((source, i) => cells.insertCell(i, inserted(source)));
    last.forEach(source => cells.insertCell(cells.cells.length, inserted(source)));
    if (recordTiming) panel.content.notebookConfig = {...panel.content.notebookConfig, recordTiming: true};
    await panel.sessionContext.ready;
    const started = performance.now();
    const startedAt = Date.now();
    try {
      const ok = await app.commands.execute('notebook:run-all-cells');
      window.__courseRun = {ok, seconds: (performance.now() - started) / 1000, startedAt, finishedAt: Date.now(),
                            notebook: panel.content.model.toJSON()};
    } catch (err) {
      window.__courseRun = {ok: false, error: String(err), startedAt};
    }
  })();
}"""
RUN_ALL_PROGRESS_JS = """() => {
  const cells = window.jupyterapp.shell.currentWidget.content.model.toJSON().cells
    .filter(c => c.cell_type === 'code');
  return [cells.filter(c => c.execution_count).length, cells.length];
}"""


def open_lite_notebook(page, url: str, *, timeout_s: float):
    """Load ``url`` (a JupyterLite notebook address) in ``page`` and wait until the notebook has a session."""
    page.goto(url, wait_until="load")
    page.wait_for_function(LITE_NOTEBOOK_OPEN_JS, timeout=timeout_s * 1000)


def start_run_all(page, *, first=(), last=(), record_timing: bool = False):
    """Start "run all cells" in the notebook open in ``page`` (returns at once; poll ``run_all_result``).
    ``first`` / ``last``: sources of code cells inserted at the top / bottom of the copy the browser opened."""
    page.evaluate(START_RUN_ALL_JS, {"first": list(first), "last": list(last), "recordTiming": record_timing,
                                     "tag": INSERTED_CELL_TAG})


def run_all_result(page) -> dict | None:
    """None while the run goes on; then {ok, seconds, startedAt, finishedAt, notebook} or {ok: False, error}."""
    return page.evaluate("() => window.__courseRun")


def run_all_progress(page) -> tuple[int, int]:
    """(code cells run so far, code cells) of the notebook open in ``page``."""
    done, total = page.evaluate(RUN_ALL_PROGRESS_JS)
    return done, total


def cell_stdout(cell: dict) -> str:
    """What a code cell (nbformat JSON) printed on stdout."""
    return "".join("".join(o.get("text", "")) for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream" and o.get("name") == "stdout")
