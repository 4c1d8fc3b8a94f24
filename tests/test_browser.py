"""The lessons in JupyterLab, in a real browser, run the way a learner runs them.

Slow (``python -m pytest --full``). The test starts its own JupyterLab server (this venv's
``jupyter lab``, a random token, fresh settings and workspaces, a temporary copy of
``notebooks/[0-9][0-9]_*.ipynb``) and drives Debian's headless Chromium with Playwright
(``tests/browser.py``: never a downloaded browser). For every lesson it opens the notebook,
clicks **Run → Run All Cells**, waits until nothing is queued and the kernel is idle, and then
reads the page:

* every code cell ran, and no output is an error or anything written to stderr (a
  traceback, a warning, or a progress bar drawn as text);
* as many figures are drawn (each ``<img>`` loaded) as the same notebook makes when
  nbclient executes it headless;
* the progress bars are widgets (``.widget-hprogress``) while they run; each then leaves one line
  of text in place of its widget, as in the headless run, so no widget view stays in the outputs;
* the claims cell printed "All claims hold.".

Then, in a copy of lesson 00, a learner types a catalogued wrong answer into an exercise
cell, runs all, and must see ``FAILED ❌`` with that mistake's hint under the check cell;
saves (File → Save Notebook): the file on disk is a valid notebook with the edit and its
outputs (no widget view among them), and everything else as it was; reopened, it shows its
figures and the verdict with no error (no "Error displaying widget").

Run All pressed the moment a lesson opens, before its kernel has started, is a known JupyterLab
race (the run starts a kernel of its own while the notebook starts one): checked, as an expected
failure, by ``test_run_all_right_after_opening_runs_every_cell``.

Screenshots, the browser's console and each lesson as JupyterLab executed it are written to
``tests/artifacts/jupyterlab/`` (git ignores ``tests/artifacts/``; ``$COURSE_BROWSER_ARTIFACTS``
chooses another folder), emptied at the start of each run.
Skipped with the reason when Chromium or Playwright is missing, except under CI.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import Future
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from browser import chromium, require_browser, skip_or_fail
from coursekit import exercises

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ARTIFACTS = ROOT / "tests" / "artifacts" / "jupyterlab"

SERVER_START_TIMEOUT_S = 120
KERNEL_START_TIMEOUT_S = 180
NOTEBOOK_TIMEOUT_S = 15 * 60     # a lesson takes 3-15 s native; generous for a loaded machine
POLL_MS = 1000

FIGURE_TYPES = {"image/png", "image/jpeg", "image/svg+xml"}
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

# The wrong answer the learner types (lesson 00, first exercise, first catalogued mistake).
WRONG_LESSON = "00_overfitting.ipynb"
WRONG_EXERCISE = "bce_with_logits"

# JavaScript run in the page. JupyterLab exposes its application as window.jupyterapp
# (--LabApp.expose_app_in_browser): the test reads the notebook panel from it.
PANEL = "window.jupyterapp.shell.currentWidget"
KERNEL_READY_JS = f"""() => {{
  const panel = window.jupyterapp && {PANEL};
  const kernel = panel && panel.sessionContext && panel.sessionContext.session
                 && panel.sessionContext.session.kernel;
  return !!(kernel && kernel.status === 'idle' && panel.context.isReady);
}}"""
# Record every progress-bar widget and every widget attached to the page from now on: a bar
# that runs to the end removes itself, so the page at the end no longer shows it.
WATCH_WIDGETS_JS = """() => {
  window.__courseSeen = {progress: 0, widgets: 0};
  const count = (node, selector) => (node.matches(selector) ? 1 : 0) + node.querySelectorAll(selector).length;
  new MutationObserver(mutations => {
    for (const mutation of mutations) for (const node of mutation.addedNodes) {
      if (!(node instanceof Element)) continue;
      window.__courseSeen.progress += count(node, '.widget-hprogress, .widget-progress');
      window.__courseSeen.widgets += count(node, '.jupyter-widgets');
    }
  }).observe(document.body, {childList: true, subtree: true});
}"""
RUN_STATE_JS = f"""() => {{
  const panel = {PANEL};
  const cells = panel.content.widgets.filter(cell => cell.model.type === 'code');
  const prompts = cells.map(cell => cell.promptNode ? cell.promptNode.textContent : '');
  return {{idle: panel.sessionContext.session.kernel.status === 'idle',
           queued: prompts.filter(text => text.includes('*')).length,
           executed: cells.filter(cell => cell.model.executionCount).length,
           total: cells.length}};
}}"""
PAGE_REPORT_JS = f"""() => {{
  const panel = {PANEL};
  const images = Array.from(panel.node.querySelectorAll('.jp-OutputArea-output img'));
  return {{
    images: images.length,
    brokenImages: images.filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.src.slice(0, 60)),
    stderr: Array.from(panel.node.querySelectorAll(
      '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')).map(e => e.textContent.slice(0, 1500)),
    progressNow: panel.node.querySelectorAll('.widget-hprogress, .widget-progress').length,
    seen: window.__courseSeen || null,
    dialogs: Array.from(document.querySelectorAll('.jp-Dialog')).map(e => e.textContent.slice(0, 300)),
    outputText: Array.from(panel.node.querySelectorAll('.jp-OutputArea-output')).map(e => e.textContent).join('\\n'),
    notebook: panel.content.model.toJSON(),
    dirty: panel.context.model.dirty,
  }};
}}"""


# ---------------------------------------------------------------------------------------
# The JupyterLab server
# ---------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class JupyterLab:
    """``jupyter lab`` on 127.0.0.1 serving ``root``, with its own config, settings and workspaces."""

    def __init__(self, root: Path, home: Path):
        self.root, self.home = root, home
        self.token = secrets.token_hex(24)
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/"
        for name in ("config", "data", "runtime", "settings", "workspaces"):
            (home / name).mkdir(parents=True, exist_ok=True)
        # No "get Jupyter news?" notification, no update check: a learner's first start, offline.
        notification = home / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        notification.parent.mkdir(parents=True, exist_ok=True)
        notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        env = {k: v for k, v in os.environ.items() if not k.startswith("COURSEKIT_")}  # progress bars on
        env.update(JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
                   JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
                   JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"), JUPYTER_PLATFORM_DIRS="1")
        # The kernelspec lives in this venv (sys.prefix); JUPYTER_DATA_DIR only adds a user folder.
        command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
                   "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
                   f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
                   "--LabApp.news_url=None", "--LabApp.extension_manager=readonly"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")  # CI containers run as root
        self.log_path = home / "jupyterlab.log"
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(command, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                        cwd=str(root))
        self._wait_until_up()

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.process.returncode}:\n{self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(self.api("status"), timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"jupyter lab did not answer in {SERVER_START_TIMEOUT_S} s:\n{self.log_path.read_text()}")

    def api(self, path: str) -> str:
        return f"{self.base_url}api/{path}?token={self.token}"

    def url(self, notebook: str, workspace: str) -> str:
        """Open ``notebook`` in its own, empty workspace (nothing restored from an earlier test)."""
        return f"{self.base_url}lab/workspaces/{workspace}/tree/{notebook}?reset&token={self.token}"

    def shut_down_kernels(self) -> None:
        with urllib.request.urlopen(self.api("sessions"), timeout=30) as response:
            sessions = json.load(response)
        for session in sessions:
            request = urllib.request.Request(self.api(f"sessions/{session['id']}"), method="DELETE")
            urllib.request.urlopen(request, timeout=60).close()

    def stop(self) -> None:
        self.process.terminate()  # the server shuts its kernels down
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
        self._log.close()


# ---------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def artifacts() -> Path:
    """tests/artifacts/jupyterlab/ (emptied first; git ignores tests/artifacts/ through its own .gitignore)."""
    if os.environ.get("COURSE_BROWSER_ARTIFACTS"):
        folder = Path(os.environ["COURSE_BROWSER_ARTIFACTS"])
    else:
        folder = ARTIFACTS
        folder.parent.mkdir(exist_ok=True)
        ignore = folder.parent / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# Test artifacts (screenshots, executed notebooks): never committed.\n*\n")
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nbrowser test artifacts (screenshots, executed notebooks): {folder}")
    return folder


def _execute_headless(path: Path, cwd: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURSEKIT_")}  # bars on, as in JupyterLab
    NotebookClient(nb, timeout=NOTEBOOK_TIMEOUT_S, kernel_name="python3",
                   resources={"metadata": {"path": str(cwd)}}).execute(env=env, stderr=subprocess.DEVNULL)
    return nb


@pytest.fixture(scope="module")
def headless_runs(tmp_path_factory) -> dict[str, Future]:
    """Each lesson executed by nbclient (one after another, in a background thread, while the
    browser works): what the page must show, e.g. its number of figures."""
    folder = tmp_path_factory.mktemp("headless")
    futures = {path.name: Future() for path in NOTEBOOKS}

    def work():
        for path in NOTEBOOKS:
            future = futures[path.name]
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(_execute_headless(path, folder))
            except BaseException as exc:  # noqa: BLE001 - handed to the test that needs it
                future.set_exception(exc)

    thread = threading.Thread(target=work, name="headless-notebooks", daemon=True)
    thread.start()
    yield futures
    for future in futures.values():
        future.cancel()
    thread.join(timeout=NOTEBOOK_TIMEOUT_S)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    sync_playwright = require_browser()  # skips (fails under CI) without Chromium or Playwright
    if importlib.util.find_spec("jupyterlab") is None:
        skip_or_fail("JupyterLab is not installed (pip install -e '.[dev]')")
    root = tmp_path_factory.mktemp("lab-notebooks")
    for path in NOTEBOOKS:
        shutil.copy(path, root / path.name)
    server = JupyterLab(root, tmp_path_factory.mktemp("lab-home"))
    try:
        with sync_playwright() as playwright:
            browser = chromium(playwright)
            try:
                yield server, browser
            finally:
                browser.close()
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------
# Driving JupyterLab as a learner
# ---------------------------------------------------------------------------------------

class LabPage:
    """One notebook open in JupyterLab, in a fresh browser context (fresh storage, its own kernel)."""

    def __init__(self, server: JupyterLab, browser, notebook: str, workspace: str):
        self.server, self.notebook = server, notebook
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.page.on("console", lambda message: self.console.append(f"{message.type}: {message.text}"))
        self.page.on("pageerror", lambda error: self.console.append(f"pageerror: {error}"))
        self.page.goto(server.url(notebook, workspace), wait_until="load")
        self.page.wait_for_function(KERNEL_READY_JS, timeout=KERNEL_START_TIMEOUT_S * 1000)

    def menu(self, menu: str, command: str) -> None:
        """Click ``menu`` in the menu bar, then its item that runs ``command``."""
        self.page.locator("#jp-menu-panel .lm-MenuBar-item", has_text=re.compile(rf"^{menu}$")).click()
        self.page.locator(f".lm-Menu-item[data-command='{command}']").click()

    def run_all(self) -> dict:
        """Run → Run All Cells; wait until nothing is queued and the kernel is idle."""
        self.page.evaluate(WATCH_WIDGETS_JS)
        started = time.monotonic()
        self.menu("Run", "runmenu:run-all")
        self.page.wait_for_function(f"() => {{ const s = ({RUN_STATE_JS})(); return s.queued > 0 || s.executed > 0; }}",
                                    timeout=60_000)
        while True:
            state = self.page.evaluate(RUN_STATE_JS)
            if state["idle"] and state["queued"] == 0:
                # Idle with nothing queued, twice in a row (the kernel is idle between cells, too).
                self.page.wait_for_timeout(POLL_MS)
                again = self.page.evaluate(RUN_STATE_JS)
                if again["idle"] and again["queued"] == 0 and again["executed"] == state["executed"]:
                    break
            if time.monotonic() - started > NOTEBOOK_TIMEOUT_S:
                self.screenshot_to(None)
                pytest.fail(f"{self.notebook}: Run All not finished after {NOTEBOOK_TIMEOUT_S} s "
                            f"({state['executed']}/{state['total']} code cells run)")
            self.page.wait_for_timeout(POLL_MS)
        self.page.wait_for_load_state("load")
        report = self.report()
        report["seconds"] = time.monotonic() - started
        return report

    def report(self, *, images: int | None = None) -> dict:
        """What the page shows; first wait (up to a minute) until ``images`` figures are drawn, if given,
        and every figure has finished loading."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        if images is not None:
            try:
                self.page.wait_for_function(
                    f"() => {PANEL}.node.querySelectorAll('.jp-OutputArea-output img').length >= {images}",
                    timeout=60_000)
            except PlaywrightTimeout:
                pass  # the report shows how many there are
        self.page.wait_for_function(
            f"() => Array.from({PANEL}.node.querySelectorAll('.jp-OutputArea-output img')).every(i => i.complete)",
            timeout=30_000)
        return self.page.evaluate(PAGE_REPORT_JS)

    def screenshot_to(self, path: Path | None) -> None:
        if path is not None:
            self.page.screenshot(path=str(path))

    def close(self) -> None:
        self.context.close()


def _code_cells(nb: dict) -> list[dict]:
    return [cell for cell in nb["cells"] if cell["cell_type"] == "code"]


def _figures(nb: dict) -> int:
    return sum(1 for cell in _code_cells(nb) for output in cell.get("outputs", [])
               if FIGURE_TYPES & set(output.get("data", {})))


def _widget_outputs(nb: dict) -> int:
    return sum(1 for cell in _code_cells(nb) for output in cell.get("outputs", [])
               if WIDGET_VIEW in output.get("data", {}))


# What a finished progress bar leaves (coursekit._progress.ProgressBar.summary): "epochs: 300/300 in 00:04 (...)",
# "stopped early at epoch 11 (0-based) of 300, after 12 epochs in 00:01 (...)".
PROGRESS_SUMMARY = re.compile(r"^(?:[^:\n]+: \d+/\d+|.+, after \d+ \w+) in (?:\d+:)?\d\d:\d\d\b")


def _progress_summaries(nb: dict) -> int:
    return sum(1 for cell in _code_cells(nb) for output in cell.get("outputs", [])
               if PROGRESS_SUMMARY.match("".join(output.get("data", {}).get("text/plain", ""))))


def _verdict_text(cell) -> str:
    """The verdict a check cell shows: its display's plain text (the rich form's fallback), or what it printed."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "display_data" and "text/html" in output.get("data", {}):
            return "".join(output["data"].get("text/plain", ""))
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def _error_outputs(nb: dict) -> list[str]:
    return [f"code cell {i}: {output['ename']}: {output['evalue']}" for i, cell in enumerate(_code_cells(nb))
            for output in cell.get("outputs", []) if output.get("output_type") == "error"]


def _visible_files(folder: Path) -> list[str]:
    """The files a learner sees in ``folder`` (not Jupyter's hidden .ipynb_checkpoints)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def _squash(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_run_all_in_jupyterlab_draws_every_figure_and_widget_bar_without_errors(lab, headless_runs, artifacts,
                                                                                notebook):
    server, browser = lab
    learner = LabPage(server, browser, notebook.name, workspace=f"run-{notebook.stem}")
    try:
        report = learner.run_all()
        learner.screenshot_to(artifacts / f"{notebook.stem}.png")
    finally:
        (artifacts / f"{notebook.stem}.console.txt").write_text("\n".join(learner.console))
        learner.close()
        server.shut_down_kernels()
    executed = report["notebook"]
    (artifacts / notebook.name).write_text(json.dumps(executed, indent=1))
    print(f"\n{notebook.name} in JupyterLab: Run All took {report['seconds']:.0f} s; {report['images']} figures, "
          f"{report['seen']['progress']} progress-bar widgets drawn")

    code = _code_cells(executed)
    assert not _error_outputs(executed), f"{notebook.name}: {_error_outputs(executed)}"
    assert not report["stderr"], f"{notebook.name}: output written to stderr (an error, a warning or a text " \
                                 f"progress bar):\n" + "\n---\n".join(report["stderr"])
    not_run = [i for i, cell in enumerate(code) if not cell.get("execution_count")]
    assert not not_run, f"{notebook.name}: Run All left code cells {not_run} unexecuted"
    assert not report["dialogs"], f"{notebook.name}: a dialog opened: {report['dialogs']}"
    assert "All claims hold." in report["outputText"], f"{notebook.name}: the claims cell did not print 'All claims hold.'"

    headless = headless_runs[notebook.name].result(timeout=NOTEBOOK_TIMEOUT_S)
    figures = _figures(headless)
    assert figures > 0, f"{notebook.name}: the headless run made no figure"
    assert report["images"] == figures, \
        f"{notebook.name}: {report['images']} figures drawn in JupyterLab, the headless run made {figures}"
    assert not report["brokenImages"], f"{notebook.name}: figures that did not load: {report['brokenImages']}"

    # Progress bars: drawn as widgets while they run (JupyterLab has ipywidgets), then each one's output is
    # replaced by a line of text, so neither the page's notebook nor the headless run keeps a widget view (a saved
    # lesson reopened without the kernel would show "Error displaying widget: model not found").
    summaries, drawn = _progress_summaries(headless), report["seen"]["progress"]
    print(f"  progress bars: {summaries} summary lines headless, {drawn} drawn as widgets in JupyterLab")
    assert _widget_outputs(executed) == 0 and _widget_outputs(headless) == 0, \
        f"{notebook.name}: widget views left in the outputs"
    assert _progress_summaries(executed) == summaries, f"{notebook.name}: not every bar left its summary line"
    if summaries:
        assert 1 <= drawn <= summaries, f"{notebook.name}: {summaries} bars ran headless; JupyterLab drew {drawn}"
    else:
        assert drawn == 0, f"{notebook.name}: {drawn} progress bars drawn, none ran headless"


def _exercise_cell_index(nb, name: str) -> tuple[int, int]:
    """(index of exercise ``name``'s cell, index of its check cell) among all cells."""
    for i, cell in enumerate(nb.cells):
        if "check" in cell.metadata.get("tags", []) and f'check("{name}"' in cell.source:
            exercise = max(j for j in range(i) if "exercise" in nb.cells[j].metadata.get("tags", []))
            return exercise, i
    raise AssertionError(f"no check cell for {name}")


def test_a_wrong_answer_typed_in_jupyterlab_shows_its_hint_and_survives_save_and_reopen(lab, artifacts):
    server, browser = lab
    original = server.root / WRONG_LESSON
    copy = server.root / WRONG_LESSON.replace(".ipynb", "-wrong-answer.ipynb")
    shutil.copy(original, copy)
    nb = nbformat.read(copy, as_version=4)
    exercise_index, check_index = _exercise_cell_index(nb, WRONG_EXERCISE)
    key, wrong = next(iter(exercises.all_mistakes(WRONG_EXERCISE).items()))
    answer = (f"from coursekit.exercises import mistake\n\n"
              f"# a catalogued wrong answer, as a learner might write it\n"
              f'{WRONG_EXERCISE} = mistake("{WRONG_EXERCISE}", "{key}")')

    files_before = _visible_files(server.root)
    learner = LabPage(server, browser, copy.name, workspace="wrong-answer")
    try:
        # Type the answer into the exercise cell, as a learner does (the text replaces the stub).
        cell = learner.page.locator(".jp-Notebook .jp-Cell").nth(exercise_index)
        cell.scroll_into_view_if_needed()
        cell.locator(".cm-content").click()
        learner.page.keyboard.press("Control+a")
        learner.page.keyboard.insert_text(answer)
        learner.page.keyboard.press("Escape")
        typed = learner.page.evaluate(f"() => {PANEL}.content.widgets[{exercise_index}].model.sharedModel.getSource()")
        assert typed == answer, f"the exercise cell holds {typed!r}"

        report = learner.run_all()
        check_cell = learner.page.locator(".jp-Notebook .jp-Cell").nth(check_index)
        check_cell.scroll_into_view_if_needed()
        check_cell.screenshot(path=str(artifacts / "wrong-answer-check-cell.png"))
        verdict = check_cell.locator(".jp-OutputArea-output").text_content()
        assert verdict.startswith(f"FAILED ❌ {WRONG_EXERCISE}: "), verdict
        # the rich verdict: the hint up front (`code` set as code), the failing case folded away
        assert _squash(wrong.hint.replace("`", "")) in _squash(verdict), f"the hint of {key!r} is not shown:\n{verdict}"
        assert check_cell.locator(".coursekit-verdict details").count() == 1
        assert not check_cell.locator(".coursekit-verdict details").evaluate("d => d.open")
        box = check_cell.locator(".coursekit-verdict").bounding_box()
        assert box and box["height"] < 400, f"the folded verdict is {box} tall"
        assert not report["stderr"], report["stderr"]
        assert "All claims hold." in report["outputText"], "a wrong answer must not break the rest of the notebook"

        learner.menu("File", "docmanager:save")
        learner.page.wait_for_function(f"() => !{PANEL}.context.model.dirty", timeout=60_000)
        learner.screenshot_to(artifacts / "wrong-answer-saved.png")
    finally:
        (artifacts / "wrong-answer.console.txt").write_text("\n".join(learner.console))
        learner.close()
        server.shut_down_kernels()

    # Saving wrote the notebook and nothing else (no paired script, no other file).
    created = sorted(set(_visible_files(server.root)) - set(files_before))
    assert not created, f"saving {copy.name} in JupyterLab also wrote {created} (a jupytext pairing in the " \
                        f"notebook's metadata?)"
    # The file on disk: a valid notebook with the learner's edit and the outputs, nothing else changed.
    saved = nbformat.read(copy, as_version=4)
    nbformat.validate(saved)
    assert [c.cell_type for c in saved.cells] == [c.cell_type for c in nb.cells]
    assert [c.get("id") for c in saved.cells] == [c.get("id") for c in nb.cells], "cell ids changed"
    for i, (before, after) in enumerate(zip(nb.cells, saved.cells)):
        expected = answer if i == exercise_index else before.source
        assert after.source == expected, f"cell {i} changed on save:\n{after.source}\nvs\n{expected}"
        assert after.metadata.get("tags", []) == before.metadata.get("tags", []), f"cell {i}: tags changed"
    assert saved.metadata["kernelspec"] == nb.metadata["kernelspec"]
    saved_verdict = _verdict_text(saved.cells[check_index])
    assert saved_verdict.startswith(f"FAILED ❌ {WRONG_EXERCISE}: "), saved_verdict
    assert _widget_outputs(saved) == 0, "the saved lesson keeps widget views (progress bars)"
    figures = _figures(saved)
    assert figures > 0

    # Reopened: the figures and the verdict are there, no error, no dialog, nothing to save.
    reopened = LabPage(server, browser, copy.name, workspace="reopened")
    try:
        report = reopened.report(images=figures)
        reopened.screenshot_to(artifacts / "wrong-answer-reopened.png")
    finally:
        (artifacts / "wrong-answer-reopened.console.txt").write_text("\n".join(reopened.console))
        reopened.close()
        server.shut_down_kernels()
    assert not report["dialogs"], report["dialogs"]
    assert report["images"] == figures and not report["brokenImages"], (report["images"], figures)
    assert f"FAILED ❌ {WRONG_EXERCISE}: " in report["outputText"]
    assert not report["stderr"], report["stderr"]
    assert not report["dirty"], "the notebook counts as modified just after opening it"
    assert "Error displaying widget" not in report["outputText"], "a widget view without its model is shown"
    console = (artifacts / "wrong-answer-reopened.console.txt").read_text()
    assert "model not found" not in console, console


# The notebook is shown before its kernel session exists: JupyterLab first writes a checkpoint, only then reads
# the kernelspec from the metadata and starts the kernel (about 1 + 3 s here). Run All in that window makes
# runCell start a kernel itself (or, before the kernelspec is read, ask in a "Select Kernel" dialog) while the
# notebook starts its own; one replaces the other and the queued cells are lost: one cell runs, no figure.
# The notebooks' metadata is right (kernelspec python3, which exists); the race is JupyterLab's (4.6.6 here;
# upstream jupyterlab/jupyterlab#8490). Kept as an expected failure: it passes once JupyterLab waits.
EARLY_STATE_JS = f"""() => {{
  const panel = window.jupyterapp && {PANEL};
  if (!panel || !panel.context) return null;
  const cells = panel.content.widgets.filter(cell => cell.model.type === 'code');
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return {{ready: panel.context.isReady, status: kernel ? kernel.status : '',
           executed: cells.filter(cell => cell.model.executionCount).length, total: cells.length,
           queued: cells.filter(cell => (cell.promptNode ? cell.promptNode.textContent : '').includes('*')).length,
           dialogs: Array.from(document.querySelectorAll('.jp-Dialog')).map(e => e.textContent.slice(0, 80))}};
}}"""


@pytest.mark.xfail(reason="JupyterLab race: Run All before the notebook's kernel has started loses the queued cells "
                          "(jupyterlab/jupyterlab#8490); not the notebooks' metadata", strict=False)
def test_run_all_right_after_opening_runs_every_cell(lab, artifacts):
    server, browser = lab
    name = NOTEBOOKS[0].name
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(server.url(name, "early-run-all"), wait_until="load")
        page.wait_for_function(f"() => ({EARLY_STATE_JS})() && ({EARLY_STATE_JS})().ready", timeout=120_000)
        page.evaluate("() => { window.jupyterapp.commands.execute('runmenu:run-all'); }")  # before the kernel
        started, idle_since = time.monotonic(), None
        while time.monotonic() - started < NOTEBOOK_TIMEOUT_S:
            state = page.evaluate(EARLY_STATE_JS)
            if state["dialogs"]:
                page.screenshot(path=str(artifacts / "early-run-all-dialog.png"))
                page.locator(".jp-Dialog .jp-mod-accept").click()  # "Select": the preselected Python 3 kernel
            if state["status"] == "idle" and state["queued"] == 0 and state["executed"] > 0:
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > 5:
                    break
            else:
                idle_since = None
            page.wait_for_timeout(POLL_MS)
        page.screenshot(path=str(artifacts / "early-run-all.png"))
    finally:
        context.close()
        server.shut_down_kernels()
    assert state["executed"] == state["total"], f"{name}: Run All right after opening ran {state['executed']} of " \
                                                f"{state['total']} code cells"
