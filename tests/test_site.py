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
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_site_uses_only_the_notebooks_never_their_sources():
    assert [p.name for p in build.notebooks()] == [p.name for p in NOTEBOOKS]
    assert all(p.suffix == ".ipynb" for p in build.notebooks())


# ---------------------------------------------------------------------------------------
# Slow: build, serve, open every page in Chromium

PAGE_REPORT_JS = """async () => {
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
                page.goto(base_url + path, wait_until="load")
                if path == "index.html":  # forwards to the README's page
                    page.wait_for_url("**/intro.html")
                    page.wait_for_load_state("load")
                report = page.evaluate(PAGE_REPORT_JS)
                report["url"] = page.url
                page.screenshot(path=str(SCREENSHOTS / (Path(path).stem + ".png")), full_page=True)
                report["external"], report["failed"] = list(log.external), list(log.failed)
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
