"""Helpers for tests that drive a real browser (Debian's Chromium, headless, via Playwright).

Shared by the website tests (test_site.py, test_lite.py); usable by any browser test:

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
