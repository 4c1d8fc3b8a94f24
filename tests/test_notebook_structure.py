"""The notebooks follow the course anatomy (shared/COURSE.md) and agree with the repo's one install source."""
import ast
import inspect
import re
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

import coursekit
from coursekit import exercises, release

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# The authoring sources (jupytext percent scripts) live in notebooks/src/, away from the folder
# learners and Colab open.
SOURCE_DIR = ROOT / "notebooks" / "src"
SOURCES = sorted(SOURCE_DIR.glob("[0-9][0-9]_*.py"))
# The one command that regenerates every .ipynb from its source, run from the repository's root
# (README.md, "For instructors"); give it one source instead of the glob to convert just that one.
CONVERT_COMMAND = ("""jupytext --update --from "src//py:percent" --to ipynb --update-metadata '{"jupytext": null}' """
                   "notebooks/src/[0-9]*.py")
JUPYTEXT_CONFIG_FILES = ("jupytext.toml", ".jupytext", ".jupytext.toml", "jupytext.yml", ".jupytext.yml",
                         "jupytext.yaml", ".jupytext.yaml", "jupytext.json", ".jupytext.json", "jupytext.py",
                         ".jupytext.py")
CHECK_CELL = re.compile(r'^(\w+) = check\("(\w+)", (\w+)\)$')


def install_source() -> str:
    """The one place the install source is kept: pyproject.toml's [project.urls] Repository."""
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["project"]["urls"]["Repository"]


def expected_setup_cell() -> str:
    """The setup cell of release ``coursekit.__version__``, installing from the Repository (coursekit.release)."""
    return release.setup_cell(install_source(), coursekit.__version__)


# Writes every setup cell from pyproject's Repository and coursekit.__version__ (README.md, "Releases").
RELEASE_COMMAND = "python tools/release.py"


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_there_are_notebooks_and_each_has_its_source():
    assert NOTEBOOKS, "no notebooks found"
    assert not list((ROOT / "notebooks").glob("[0-9][0-9]_*.py")), \
        "lesson sources belong in notebooks/src/, not beside the notebooks learners open"
    where = SOURCE_DIR.relative_to(ROOT).as_posix()
    assert [p.stem for p in NOTEBOOKS] == [p.stem for p in SOURCES], \
        f"every notebooks/NN_name.ipynb needs its jupytext source {where}/NN_name.py and vice versa"
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
    """The .py is the source; CONVERT_COMMAND (README.md) regenerates the .ipynb."""
    nb = nbformat.read(path, as_version=4)
    source = SOURCE_DIR / f"{path.stem}.py"
    src = jupytext.read(source, fmt="py:percent")   # explicit: an unpaired header names no format
    flatten = lambda notebook: [(c.cell_type, c.source, sorted(c.metadata.get("tags", [])))  # noqa: E731
                                for c in notebook.cells]
    assert flatten(nb) == flatten(src), (
        f"{path.name} and its source {source.relative_to(ROOT)} have drifted apart: from the repository's root, "
        f"run `{CONVERT_COMMAND.replace('[0-9]*.py', path.stem + '.py')}`")


def test_no_jupytext_pairing_can_act_in_a_learners_folder():
    """Saving a lesson in JupyterLab must write that .ipynb only: no paired .py, no rewritten source.

    Pairing comes from a notebook's ``jupytext.formats`` metadata or from a jupytext
    configuration file in its folder or any folder above (or pyproject.toml's [tool.jupytext]).
    """
    for path in NOTEBOOKS:
        metadata = nbformat.read(path, as_version=4).metadata
        assert "jupytext" not in metadata, f"{path.name} still carries jupytext metadata: {metadata['jupytext']}"
    for source in SOURCES:
        header = source.read_text().split("\n# ---\n", 1)[0]
        assert "formats:" not in header, f"{source.relative_to(ROOT)}: its header pairs it (jupytext formats)"
    learner_folders = [ROOT / "notebooks", ROOT / "my-notebooks"]
    for folder in {parent for start in learner_folders for parent in [start, *start.parents]}:
        found = [name for name in JUPYTEXT_CONFIG_FILES if (folder / name).exists()]
        assert not found, f"jupytext configuration {found} in {folder} reaches the learners' notebooks"
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            with open(pyproject, "rb") as fh:
                assert "jupytext" not in tomllib.load(fh).get("tool", {}), f"{pyproject} has [tool.jupytext]"


def test_readme_gives_the_conversion_command():
    assert CONVERT_COMMAND in (ROOT / "README.md").read_text(), \
        f"README.md must give the one command that regenerates the notebooks: {CONVERT_COMMAND}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_setup_cell_is_first_identical_and_installs_from_the_one_source(path):
    nb = nbformat.read(path, as_version=4)
    first = code_cells(nb)[0]
    assert "setup" in first.metadata.get("tags", []), f"{path.name}: the first code cell is not tagged setup"
    assert first.source == expected_setup_cell(), (
        f"{path.name}: its setup cell is not that of release {coursekit.__version__} installing from "
        f"{install_source()}; from the repository's root, run `{RELEASE_COMMAND}` (it rewrites every lesson's "
        f"setup cell and regenerates the notebooks). Expected:\n{expected_setup_cell()}")


def test_every_lesson_names_the_release_it_belongs_to_and_installs_it():
    """Each lesson installs coursekit @ git+REPOSITORY@vX.Y.Z and checks X.Y.Z, both __version__ (issue 24)."""
    version = coursekit.__version__
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        source = code_cells(nb)[0].source
        assert release.release_of_notebook(nb) == version, \
            f"{path.name} belongs to release {release.release_of_notebook(nb)}, not {version}: run `{RELEASE_COMMAND}`"
        assert f'"coursekit @ git+{install_source()}@v{version}"' in source, \
            f"{path.name}: its setup cell does not install release v{version}: run `{RELEASE_COMMAND}`"


def test_the_release_command_is_in_the_readme():
    assert RELEASE_COMMAND in (ROOT / "README.md").read_text(), f"README.md must give `{RELEASE_COMMAND}`"


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
