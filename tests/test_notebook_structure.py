"""The notebooks follow the course anatomy (shared/COURSE.md) and agree with the repo's one install source."""
import ast
import inspect
import re
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

from coursekit import exercises

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SOURCES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
CHECK_CELL = re.compile(r'^(\w+) = check\("(\w+)", (\w+)\)$')


def install_source() -> str:
    """The one place the install source is kept: pyproject.toml's [project.urls] Repository."""
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["project"]["urls"]["Repository"]


def expected_setup_cell() -> str:
    return (
        "# Setup (the same in every notebook): use coursekit if installed, else install it (Colab, JupyterLite).\n"
        "try:\n"
        "    import coursekit\n"
        "except ModuleNotFoundError:\n"
        "    import sys\n"
        '    if sys.platform == "emscripten":  # JupyterLite in the browser: the site ships coursekit\'s wheel\n'
        "        %pip install coursekit\n"
        "    else:\n"
        f'        %pip install --quiet "coursekit @ git+{install_source()}"\n'
        "    import coursekit\n"
        'print("coursekit", coursekit.__version__)'
    )


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_there_are_notebooks_and_each_has_its_source():
    assert NOTEBOOKS, "no notebooks found"
    assert [p.stem for p in NOTEBOOKS] == [p.stem for p in SOURCES], \
        "every notebooks/NN_name.ipynb needs its jupytext source notebooks/NN_name.py and vice versa"
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert numbers == list(range(len(numbers))), f"notebooks must be numbered 00, 01, ... without gaps: {numbers}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_valid_and_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    for i, cell in enumerate(code_cells(nb)):
        assert not cell.outputs and cell.execution_count is None, f"{path.name}: code cell {i} has outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_ipynb_matches_its_jupytext_source(path):
    """The .py is the source; `jupytext --to ipynb notebooks/NN_*.py` regenerates the .ipynb."""
    nb = nbformat.read(path, as_version=4)
    src = jupytext.read(path.with_suffix(".py"))
    flatten = lambda notebook: [(c.cell_type, c.source, sorted(c.metadata.get("tags", [])))  # noqa: E731
                                for c in notebook.cells]
    assert flatten(nb) == flatten(src), (f"{path.name} and its .py source have drifted apart: run "
                                         f"`jupytext --to ipynb notebooks/{path.stem}.py`")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_setup_cell_is_first_identical_and_installs_from_the_one_source(path):
    nb = nbformat.read(path, as_version=4)
    first = code_cells(nb)[0]
    assert first.source == expected_setup_cell(), f"{path.name}: setup cell differs from the canonical one"
    assert "setup" in first.metadata.get("tags", [])


def test_readme_has_a_colab_badge_per_notebook_from_the_install_source():
    readme = (ROOT / "README.md").read_text()
    repo_path = install_source().removeprefix("https://github.com/")
    for path in NOTEBOOKS:
        url = f"https://colab.research.google.com/github/{repo_path}/blob/main/notebooks/{path.name}"
        assert url in readme, f"README.md lacks the Colab badge link {url}"


def _exercise_defs(nb):
    found = []
    for i, cell in enumerate(nb.cells):
        if "exercise" in cell.metadata.get("tags", []):
            found.append((i, cell))
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_exercise_and_check_cells_follow_the_pattern(path):
    nb = nbformat.read(path, as_version=4)
    for i, cell in _exercise_defs(nb):
        assert cell.cell_type == "code"
        tree = ast.parse(cell.source)
        defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
        assert len(defs) == 1, f"{path.name} cell {i}: an exercise cell defines exactly one function or class"
        fn = defs[0]
        assert ast.get_docstring(fn), f"{path.name}: exercise {fn.name} needs a docstring with shapes"
        assert "# YOUR CODE HERE" in cell.source and "raise NotImplementedError" in cell.source
        nxt = next(c for c in nb.cells[i + 1:] if c.cell_type == "code")
        assert "check" in nxt.metadata.get("tags", []), f"{path.name}: exercise {fn.name} is not followed by a check cell"
        match = CHECK_CELL.match(nxt.source.strip())
        assert match, f"{path.name}: check cell must read `{fn.name} = check(\"<exercise>\", {fn.name})`"
        target, name, arg = match.groups()
        assert target == arg == fn.name
        assert name in exercises.exercise_names(), f"{path.name}: check names unknown exercise {name!r}"
        if isinstance(fn, ast.FunctionDef):
            stub_params = [a.arg for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs]
            ref_params = list(inspect.signature(exercises.reference(name)).parameters)
            assert stub_params == ref_params, (f"{path.name}: stub {fn.name}{tuple(stub_params)} must take the "
                                               f"reference's parameters {tuple(ref_params)}")


def test_every_registered_exercise_is_checked_in_exactly_one_notebook():
    seen = []
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for cell in code_cells(nb):
            if "check" in cell.metadata.get("tags", []):
                seen.append(CHECK_CELL.match(cell.source.strip()).group(2))
    assert sorted(seen) == exercises.exercise_names()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_claims_are_asserted_and_summary_closes(path):
    nb = nbformat.read(path, as_version=4)
    assert any("assert " in c.source for c in code_cells(nb)), f"{path.name}: no cell asserts the lesson's claims"
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    assert "## What to remember" in markdown[-1], f"{path.name}: the last cell should be '## What to remember'"
    assert not any("np.random.seed" in c.source for c in code_cells(nb)), f"{path.name}: reseeds global state"
