"""The course website (site/build.py, site/README.md).

Fast tests: the README's links to the site derive from the one install source, and the home
page is README.md with links that work on the site.

Slow test (`--full`): build the rendered lessons, serve them on localhost, open the home page
and every lesson in headless Chromium (every host but localhost unresolvable), and check
what a reader sees: no request leaves the machine, every equation is typeset by MathJax,
every figure the executed notebook produced is on the page and loaded, no blank widget
boxes, navigation and search work. Full-page screenshots go to site/_build/screenshots/.
"""
from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from browser import RequestLog, chromium, require_browser, require_tool, serve_directory

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "site"
HTML = SITE / "_build" / "html"
EXECUTED = SITE / "_build" / "jupyter_execute" / "notebooks"
SCREENSHOTS = SITE / "_build" / "screenshots"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def load_build_module():
    """site/build.py as a module (a plain import would find the standard library's `site`)."""
    spec = importlib.util.spec_from_file_location("course_site_build", SITE / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = load_build_module()


# ---------------------------------------------------------------------------------------
# Fast: links and the home page

def test_site_addresses_derive_from_the_install_source():
    assert build.repository_url() == "https://github.com/regularization-course/regularization-from-scratch" or \
        build.repository_url().startswith("https://github.com/")
    assert build.pages_url("https://github.com/Some-Owner/some-repo") == "https://some-owner.github.io/some-repo/"
    assert build.pages_url("https://github.com/o/r.git") == "https://o.github.io/r/"
    with pytest.raises(ValueError, match="not https://github.com/OWNER/REPO"):
        build.pages_url("https://gitlab.com/o/r")


def test_readme_links_every_notebook_to_the_browser_build_and_the_site():
    readme = (ROOT / "README.md").read_text()
    site = build.pages_url()
    assert site in readme, f"README.md lacks a link to the course website {site}"
    for path in NOTEBOOKS:
        url = site + build.lite_path(path.name)
        assert url in readme, f"README.md lacks the 'run in the browser' link {url}"
    assert "python site/build.py" in readme, "README.md should say how to build the site"


def test_home_page_is_the_readme_with_links_that_work_on_the_site():
    repo = "https://github.com/o/r"
    site = build.pages_url(repo)
    readme = (
        "# Course\n\n| nb | lesson | Colab | browser |\n|---|---|---|---|\n"
        "| 00 | [The problem](notebooks/00_overfitting.ipynb) | "
        "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        "(https://colab.research.google.com/github/o/r/blob/main/notebooks/00_overfitting.ipynb) | "
        f"[▶ run]({site}lite/notebooks/index.html?path=00_overfitting.ipynb) |\n\n"
        "See [the datasheet](data/README.md), [pytest](https://pytest.org) and [below](#layout).\n"
        f"The [website]({site}).\n"
    )
    home = build.home_page_markdown(readme, repo)
    assert "colab-badge.svg" not in home, "no image from another host on the site"
    assert "[Open in Colab](https://colab.research.google.com/github/o/r/blob/main/notebooks/00_overfitting.ipynb)" in home
    assert "[The problem](notebooks/00_overfitting.ipynb)" in home, "a lesson link becomes its page"
    assert '<a href="lite/notebooks/index.html?path=00_overfitting.ipynb">▶ run</a>' in home, \
        "the browser link points at this build of the site, not the published one"
    assert "[the datasheet](https://github.com/o/r/blob/main/data/README.md)" in home
    assert "[pytest](https://pytest.org)" in home and "[below](#layout)" in home
    assert f"{site}lite/" not in home and f"]({site})" in home, "only the link to the published site stays"


# A backslash-escaped underscore inside a text-mode macro (\text{keep\_prob}) renders as "keep_prob" only where
# MathJax loads its textmacros extension (JupyterLab, this site); GitHub, nbviewer and plain MathJax show
# "keep\_prob". In math mode the escape is standard LaTeX everywhere: \mathrm{keep\_prob}.
TEXT_MODE_UNDERSCORE = re.compile(r"\\(?:text|textrm|textit|textbf|texttt|textsf|textnormal|mbox)\{[^{}]*\\_")


def _markdown_of_sources():
    for path in sorted((ROOT / "notebooks" / "src").glob("[0-9][0-9]_*.py")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if line.startswith("#"):  # markdown cells of a jupytext percent script are comment lines
                yield f"{path.relative_to(ROOT)}:{number}", line


def test_math_names_use_a_form_every_renderer_shows_without_a_backslash():
    found = [f"{where}: {TEXT_MODE_UNDERSCORE.search(line).group(0)}..." for where, line in _markdown_of_sources()
             if TEXT_MODE_UNDERSCORE.search(line)]
    assert not found, ("write names with underscores in math as \\mathrm{keep\\_prob}, not \\text{keep\\_prob} "
                       f"(shown as keep\\_prob outside JupyterLab):\n" + "\n".join(found[:20]))


def test_the_math_rule_catches_the_bad_form_only():
    assert TEXT_MODE_UNDERSCORE.search(r"$\text{keep\_prob} = 1 - p$")
    assert TEXT_MODE_UNDERSCORE.search(r"$$\texttt{min\_delta}$$")
    assert not TEXT_MODE_UNDERSCORE.search(r"$\mathrm{keep\_prob} = 1 - \text{drop prob}$")
    assert not TEXT_MODE_UNDERSCORE.search(r"$x_{\text{train}}$ and `keep_prob`")


def test_the_site_s_mathjax_renders_text_macros_as_jupyterlab_does():
    config = yaml.safe_load((SITE / "book" / "_config.yml").read_text())["sphinx"]["config"]
    assert config["mathjax3_config"]["loader"]["load"] == ["[tex]/textmacros"]
    assert "textmacros" in config["mathjax3_config"]["tex"]["packages"]["[+]"]
    assert (SITE / "node_modules" / "mathjax" / "es5" / "input" / "tex" / "extensions" / "textmacros.js").exists() \
        or not (SITE / "node_modules").exists(), "the site serves MathJax from npm: textmacros must be in it"


def test_the_build_removes_thebe_and_gives_every_entry_page_an_icon(tmp_path):
    # thebe declared `const THEBE_JS_URL` twice per page; a page without an icon makes the browser ask for
    # /favicon.ico at the root of the host: both end up in the console.
    conf = tmp_path / "conf.py"
    conf.write_text("extensions = ['myst_nb', 'jupyter_book', 'sphinx_thebe', 'sphinx_comments']\n")
    build.drop_thebe(conf)
    assert conf.read_text() == "extensions = ['myst_nb', 'jupyter_book', 'sphinx_comments']\n"
    with pytest.raises(SystemExit, match="expected sphinx_thebe"):
        build.drop_thebe(conf)
    index = tmp_path / "index.html"
    index.write_text('<meta http-equiv="Refresh" content="0; url=intro.html" />\n')
    build.redirect_with_icon(index)
    build.redirect_with_icon(index)
    assert index.read_text().count('rel="icon" href="data:,"') == 1, "an inline icon, nothing the redirect can abort"
    lite = tmp_path / "lite"
    (lite / "static" / "favicons").mkdir(parents=True)
    (lite / "static" / "favicons" / "favicon.ico").write_bytes(b"ico")
    for page in (lite / "index.html", lite / "notebooks" / "index.html"):
        page.parent.mkdir(exist_ok=True)
        page.write_text("<html>\n  <head>\n    <title>x</title>\n  </head>\n</html>\n")
    build.link_lite_icons(lite)
    assert '<head>\n    <link rel="icon" href="static/favicons/favicon.ico" />' in (lite / "index.html").read_text()
    assert 'href="../static/favicons/favicon.ico"' in (lite / "notebooks" / "index.html").read_text()
    assert (SITE / "book" / "favicon.svg").read_text().startswith("<svg")


def test_site_uses_only_the_notebooks_never_their_sources():
    assert [p.name for p in build.notebooks()] == [p.name for p in NOTEBOOKS]
    assert all(p.suffix == ".ipynb" for p in build.notebooks())


# ---------------------------------------------------------------------------------------
# Slow: build, serve, open every page in Chromium

PAGE_REPORT_JS = r"""async () => {
  if (window.MathJax && MathJax.startup) { await MathJax.startup.promise; }
  const q = (sel) => Array.from(document.querySelectorAll(sel));
  const math = q('.math');
  const outputImages = q('.cell_output img');
  return {
    title: document.title,
    mathjax: !!(window.MathJax && MathJax.startup),
    math: math.length,
    mathTypeset: math.filter(el => el.querySelector('mjx-container')).length,
    mathErrors: q('mjx-merror').length,
    // what a screen reader (and the eye) gets from each formula: a backslash there is a macro left unrendered
    mathWithBackslash: q('mjx-container').map(c => (c.querySelector('mjx-assistive-mml') || {textContent: ''})
                                               .textContent).filter(text => text.includes('\\')),
    images: q('img').map(img => ({src: img.getAttribute('src'), ok: img.complete && img.naturalWidth > 0})),
    outputImages: outputImages.length,
    widgets: q('.jupyter-widgets, script[type="application/vnd.jupyter.widget-view+json"]').length,
    errors: q('.output.traceback, .output.error').length,
    navLinks: q('nav.bd-docs-nav a.reference.internal').map(a => a.getAttribute('href')),
    links: q('a').map(a => a.getAttribute('href')),
    nextLink: !!document.querySelector('a.right-next'),
    text: document.body.innerText,
  };
}"""


def _figures_in(executed: Path) -> int:
    nb = json.loads(executed.read_text())
    return sum(1 for cell in nb["cells"] for out in cell.get("outputs", [])
               if {"image/png", "image/svg+xml", "image/jpeg"} & set(out.get("data", {})))


def _watch_console(page) -> list[str]:
    """Every error and warning the page logs, and every uncaught exception (a page must load with an empty console)."""
    found: list[str] = []
    page.on("console", lambda message: message.type in ("error", "warning") and found.append(
        f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: found.append(f"pageerror: {error}"))
    return found


@pytest.fixture(scope="module")
def site_pages():
    """Build the book, then open every page once; {page path: report}."""
    sync_playwright = require_browser()
    require_tool("npm")
    subprocess.run([sys.executable, str(SITE / "build.py"), "--book"], cwd=ROOT, check=True, timeout=3600)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pages = ["index.html", *[f"notebooks/{p.stem}.html" for p in NOTEBOOKS]]
    reports = {}
    with serve_directory(HTML) as base_url, sync_playwright() as playwright:
        browser = chromium(playwright)
        try:
            for path in pages:
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                log = RequestLog(context, base_url)
                page = context.new_page()
                console = _watch_console(page)
                page.goto(base_url + path, wait_until="load")
                if path == "index.html":  # forwards to the README's page
                    page.wait_for_url("**/intro.html")
                    page.wait_for_load_state("load")
                report = page.evaluate(PAGE_REPORT_JS)
                report["url"] = page.url
                page.screenshot(path=str(SCREENSHOTS / (Path(path).stem + ".png")), full_page=True)
                page.wait_for_timeout(500)  # late scripts (search index, theme) get to log too
                report["external"], report["failed"] = list(log.external), list(log.failed)
                report["console"] = list(console)
                reports[path] = report
                context.close()
            # Search: Sphinx's client-side index, served by the site.
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            log = RequestLog(context, base_url)
            page = context.new_page()
            page.goto(base_url + "search.html?q=spatial+dropout", wait_until="load")
            page.wait_for_selector("#search-results ul.search li", timeout=60_000)
            reports["search"] = {"links": page.eval_on_selector_all("#search-results a", "els => els.map(a => a.getAttribute('href'))"),
                                 "external": list(log.external), "failed": list(log.failed)}
            page.screenshot(path=str(SCREENSHOTS / "search.png"))
            context.close()
        finally:
            browser.close()
    return reports


@pytest.mark.slow
def test_home_page_is_the_syllabus_with_every_lesson_and_its_browser_link(site_pages):
    home = site_pages["index.html"]
    assert home["url"].endswith("intro.html"), home["url"]  # index.html forwards to the README page
    assert not home["external"] and not home["failed"], (home["external"], home["failed"])
    assert "Syllabus" in home["text"]
    for path in NOTEBOOKS:
        assert f"notebooks/{path.stem}.html" in home["links"], f"home page lacks a link to lesson {path.stem}"
        assert build.lite_path(path.name) in home["links"], f"home page lacks the browser link of {path.name}"
    assert all(image["ok"] for image in home["images"]), home["images"]
    assert not home["console"], f"the home page logs: {home['console']}"


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_lesson_page_renders_offline_with_math_and_every_figure(site_pages, notebook):
    report = site_pages[f"notebooks/{notebook.stem}.html"]
    assert not report["external"], f"{notebook.stem}: requests leaving the machine: {report['external']}"
    assert not report["failed"], f"{notebook.stem}: failed requests: {report['failed']}"
    # Math: MathJax (served by the site) typeset every formula, without errors.
    assert report["mathjax"], "MathJax did not load"
    assert report["math"] > 0, f"{notebook.stem}: no math on the page"
    assert report["mathTypeset"] == report["math"] and report["mathErrors"] == 0, \
        f"{notebook.stem}: {report['mathTypeset']}/{report['math']} formulas typeset, {report['mathErrors']} errors"
    assert not report["mathWithBackslash"], \
        f"{notebook.stem}: formulas shown with a backslash (a macro MathJax left as text): {report['mathWithBackslash']}"
    # The console: no error, no warning, no uncaught exception (e.g. a script declared twice, an unknown theme mode).
    assert not report["console"], f"{notebook.stem}: the page logs: {report['console']}"
    # Figures: one image per figure output of the executed notebook, each loaded.
    figures = _figures_in(EXECUTED / notebook.name)
    assert figures > 0, f"{notebook.stem}: the executed notebook has no figure"
    assert report["outputImages"] == figures, \
        f"{notebook.stem}: {report['outputImages']} images in cell outputs, the notebook made {figures}"
    broken = [image["src"] for image in report["images"] if not image["ok"]]
    assert not broken, f"{notebook.stem}: images that did not load: {broken}"
    # No error outputs, no progress-bar widgets (blank boxes on a static page).
    assert report["errors"] == 0, f"{notebook.stem}: error outputs on the page"
    assert report["widgets"] == 0, f"{notebook.stem}: {report['widgets']} widget outputs (progress bars?) on the page"
    # Navigation, and the way to run it.
    lessons = {f"{p.stem}.html" for p in NOTEBOOKS if p != notebook}  # the current page links to "#"
    assert lessons <= {Path(href.split("#")[0]).name for href in report["navLinks"]}, report["navLinks"]
    assert f"../{build.lite_path(notebook.name)}" in report["links"], f"{notebook.stem}: no 'run in the browser' link"
    if notebook != NOTEBOOKS[-1]:
        assert report["nextLink"], f"{notebook.stem}: no link to the next lesson"


@pytest.mark.slow
def test_search_finds_the_lesson(site_pages):
    search = site_pages["search"]
    assert not search["external"] and not search["failed"], (search["external"], search["failed"])
    assert any("03_spatial_dropout" in href for href in search["links"]), search["links"]
