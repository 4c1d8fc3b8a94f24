"""The course in the browser: JupyterLite + Pyodide (site/build.py --lite, site/README.md).

Slow tests (`--full`): build JupyterLite, check that every Pyodide file it ships is the one
the official Pyodide 0.27.7 lock names (sha256), serve it on localhost and, in headless
Chromium (every host but localhost unresolvable), open each notebook as a learner would,
run all cells (two notebooks at a time, each in a fresh browser context; set
COURSE_LITE_PARALLEL to change), and require: no error, the claims cell passed ("All
claims hold."), no request left the machine, no request failed, nothing was written to
stderr, and the console shows no error or warning (but two of JupyterLite's own). The executed notebooks and screenshots go to
site/_build/lite-results/ (the claims' numbers in the browser are printed in the test log).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from browser import (RequestLog, cell_stdout, chromium, open_lite_notebook, require_browser, require_tool,
                     run_all_progress, run_all_result, serve_directory, start_run_all)
from test_site import load_build_module

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "site"
HTML = SITE / "_build" / "html"
LITE = HTML / "lite"
RESULTS = SITE / "_build" / "lite-results"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
build = load_build_module()

NOTEBOOK_TIMEOUT_S = 20 * 60   # Pyodide is slow: notebook 06 takes minutes in the browser
KERNEL_TIMEOUT_S = 5 * 60
PARALLEL = int(os.environ.get("COURSE_LITE_PARALLEL", "2"))  # notebooks at a time (one core each)

# JupyterLite 0.6.4's notebooks app adds these two File-menu items from two of its own extensions; nothing the
# site configures (its settings cannot drop a duplicate a plugin schema contributes). Every other console error or
# warning fails a test.
KNOWN_CONSOLE_WARNINGS = re.compile(r"^warning: Menu entry for command '(?:filemenu:close-and-cleanup|"
                                    r"application:close)' is duplicated\.$")


@pytest.fixture(scope="module")
def lite_site():
    sync_playwright = require_browser()
    require_tool("npm")
    subprocess.run([sys.executable, str(SITE / "build.py"), "--lite"], cwd=ROOT, check=True, timeout=3600)
    return sync_playwright


def test_shipped_pyodide_files_are_the_official_ones(lite_site):
    official = json.loads((SITE / "node_modules" / "pyodide" / "pyodide-lock.json").read_text())
    assert official["info"]["version"] == "0.27.7"
    shipped = json.loads((LITE / "static" / "pyodide" / "pyodide-lock.json").read_text())
    assert shipped["info"] == official["info"]
    for name, entry in shipped["packages"].items():
        assert entry == official["packages"][name], f"{name}: lock entry differs from the official one"
        data = (LITE / "static" / "pyodide" / entry["file_name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], f"{entry['file_name']}: not the official file"
    for runtime in ("pyodide.asm.wasm", "pyodide.asm.js", "python_stdlib.zip", "pyodide.js"):
        assert (LITE / "static" / "pyodide" / runtime).read_bytes() == \
            (SITE / "node_modules" / "pyodide" / runtime).read_bytes()
    wheels = {p.name for p in (LITE / "static" / "pyodide").glob("*.whl")}
    assert wheels == {e["file_name"] for e in shipped["packages"].values() if e["file_name"].endswith(".whl")}
    for needed in ("numpy", "scipy", "scikit-learn", "matplotlib", "micropip", "ipython"):
        assert needed in shipped["packages"], f"{needed} is not shipped"


def test_kernel_never_falls_back_to_pypi_and_can_install_coursekit(lite_site):
    config = json.loads((LITE / "jupyter-lite.json").read_text())["jupyter-config-data"]
    kernel = config["litePluginSettings"]["@jupyterlite/pyodide-kernel-extension:kernel"]
    assert kernel["disablePyPIFallback"] is True
    assert kernel["pyodideUrl"] == "./static/pyodide/pyodide.js"
    index = json.loads((LITE / "pypi" / "all.json").read_text())
    for name in ("coursekit", "tqdm", "comm"):
        assert any(key.replace("_", "-") == name for key in index), f"piplite index lacks {name}"
    for path in NOTEBOOKS:
        served = json.loads((LITE / "files" / path.name).read_text())
        assert served["metadata"]["kernelspec"]["name"] == "python", "JupyterLite would ask which kernel to use"
        original = json.loads(path.read_text())
        assert [c["source"] for c in served["cells"]] == [c["source"] for c in original["cells"]]


class _Run:
    """One notebook, opened in its own browser context (fresh storage, fresh kernel)."""

    def __init__(self, browser, base_url: str, notebook: Path):
        self.notebook = notebook
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.log = RequestLog(self.context, base_url)
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.page.on("console", lambda message: self.console.append(f"{message.type}: {message.text}"))
        self.page.on("pageerror", lambda error: self.console.append(f"pageerror: {error}"))
        self.started = time.perf_counter()
        self.result: dict | None = None
        open_lite_notebook(self.page, base_url + build.lite_path(notebook.name), timeout_s=KERNEL_TIMEOUT_S)
        start_run_all(self.page)

    def poll(self) -> bool:
        """True once finished (or timed out); then ``result`` is set and the context closed."""
        run = run_all_result(self.page)
        elapsed = time.perf_counter() - self.started
        if run is None and elapsed < NOTEBOOK_TIMEOUT_S:
            return False
        if run is None:
            done, total = run_all_progress(self.page)
            run = {"ok": False, "error": f"not finished after {NOTEBOOK_TIMEOUT_S} s ({done}/{total} code cells run)"}
        self.page.screenshot(path=str(RESULTS / f"{self.notebook.stem}.png"))
        (RESULTS / f"{self.notebook.stem}.console.txt").write_text("\n".join(self.console))
        self.context.close()
        self.result = {**run, "elapsed": elapsed, "external": list(self.log.external), "failed": list(self.log.failed),
                       "console": [line for line in self.console if line.startswith(("error", "warning", "pageerror"))
                                   and not KNOWN_CONSOLE_WARNINGS.search(line)]}
        return True


@pytest.fixture(scope="module")
def lite_runs(lite_site):
    """Run every notebook in the browser, PARALLEL at a time; {notebook name: result}."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    results, waiting, running = {}, list(NOTEBOOKS), []
    with serve_directory(HTML) as base_url, lite_site() as playwright:
        browser = chromium(playwright)
        try:
            while waiting or running:
                while waiting and len(running) < PARALLEL:
                    running.append(_Run(browser, base_url, waiting.pop(0)))
                for run in [r for r in running if r.poll()]:
                    running.remove(run)
                    results[run.notebook.name] = run.result
                running[0].page.wait_for_timeout(2000) if running else None
        finally:
            browser.close()
    return results


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_to_the_end_in_the_browser_with_its_claims(lite_runs, notebook):
    run = lite_runs[notebook.name]
    assert "error" not in run, f"{notebook.name}: {run['error']}"
    executed = run["notebook"]
    (RESULTS / notebook.name).write_text(json.dumps(executed, indent=1))
    code = [c for c in executed["cells"] if c["cell_type"] == "code"]
    errors = [(i, o["ename"], o["evalue"]) for i, c in enumerate(code) for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, f"{notebook.name} in the browser: code cell {errors[0][0]} raised {errors[0][1]}: {errors[0][2]}"
    assert run["ok"], f"{notebook.name}: 'run all' stopped early"
    assert all(c.get("execution_count") for c in code), f"{notebook.name}: not every code cell ran"
    (claims,) = [c for c in code if "claims" in c["metadata"].get("tags", [])]
    claims_out = cell_stdout(claims)
    print(f"\n{notebook.name} in the browser: {run['elapsed']:.0f} s (cells {run['seconds']:.0f} s); claims printed:\n"
          f"{claims_out}")
    (RESULTS / f"{notebook.stem}.claims.txt").write_text(claims_out)
    assert "All claims hold." in claims_out, f"{notebook.name}: the claims cell did not finish"
    assert not run["external"], f"{notebook.name}: requests leaving the machine: {run['external']}"
    assert not run["failed"], f"{notebook.name}: failed requests: {run['failed']}"
    # A first run in a fresh browser: nothing on stderr (no font-cache notice, no blank output left by a progress
    # bar), no error or warning in the console.
    stderr = [(i, "".join(o.get("text", ""))[:300]) for i, c in enumerate(code) for o in c.get("outputs", [])
              if o.get("output_type") == "stream" and o.get("name") == "stderr"]
    assert not stderr, f"{notebook.name} in the browser wrote to stderr: {stderr}"
    assert not run["console"], f"{notebook.name}: the browser's console: {run['console'][:10]}"
