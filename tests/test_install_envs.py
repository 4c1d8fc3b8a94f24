"""Install checks: the course works where learners run it, not only in this checkout.

Two fresh virtual environments are built, concurrently:

- ``colab``: the newest Python found on this machine with Colab's current versions of
  numpy, matplotlib and scikit-learn (COLAB_PINS; a pin that has no wheel for that Python
  is relaxed to "that version or newer", and a warning says so);
- ``oldest``: the oldest Python that pyproject.toml's ``requires-python`` allows, with every
  runtime dependency pinned to the release series of its lower bound in pyproject.toml
  (``numpy>=1.26`` -> ``numpy==1.26.*``).

In each, coursekit is installed from a wheel freshly built from this checkout (what a
``pip install "coursekit @ git+URL"`` on Colab does), and then, from directories outside
the repo: every data set is loaded (and must come from the installed package), and each
notebook is copied alone into an empty directory and executed by tests/notebook_runner.py
with that environment's Python. A probe notebook proves the kernel is the environment's
interpreter with the pinned versions. All failures of an environment are collected and
reported together, each naming the notebook and the cell.

A missing interpreter skips that environment with the reason, except under CI (CI=true),
where it fails.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
RUNNER = Path(__file__).with_name("notebook_runner.py")

# Google Colab's versions (the runtime current when this was written). Only these three are
# pinned; the rest of coursekit's dependencies resolve freely, as they would on Colab.
COLAB_PINS = {"numpy": "2.1.3", "matplotlib": "3.10.0", "scikit-learn": "1.6.1"}
# What the notebooks' kernel needs besides coursekit (Colab and JupyterLab provide these).
KERNEL_PACKAGES = ["ipykernel", "nbclient", "nbformat"]
CELL_TIMEOUT_S = 300           # per cell, as pyproject's --nbval-cell-timeout
NOTEBOOK_TIMEOUT_S = 900       # per notebook, including kernel start-up
PIP_TIMEOUT_S = 1200


class InstallEnvWarning(UserWarning):
    """A deviation from an environment's spec that the test accepted (e.g. a relaxed pin)."""


def _pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["project"]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


# ---------------------------------------------------------------------------------------
# Requirement pins
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Pin:
    """``name`` restricted to ``op`` ``version``: op is "==" (exact), "==*" (release series) or ">="."""

    name: str
    op: str
    version: str

    def requirement(self) -> str:
        if self.op == "==*":
            return f"{self.name}=={self.version}.*"
        return f"{self.name}{self.op}{self.version}"

    def relaxed(self) -> "Pin":
        return Pin(self.name, ">=", self.version)

    def satisfied_by(self, installed: str) -> bool:
        wanted, got = _release(self.version), _release(installed)
        if self.op == "==":   # "2.1" == "2.1.0"
            width = max(len(got), len(wanted))
            return got + (0,) * (width - len(got)) == wanted + (0,) * (width - len(wanted))
        if self.op == "==*":
            return got[:len(wanted)] == wanted
        return got >= wanted


def _release(version: str) -> tuple[int, ...]:
    """(1, 26, 4) from "1.26.4" (pre/post/local suffixes ignored)."""
    match = re.match(r"\d+(?:\.\d+)*", version)
    if match is None:
        raise ValueError(f"cannot read a release number from version {version!r}")
    return tuple(int(part) for part in match.group(0).split("."))


def lower_bound_pins() -> list[Pin]:
    """Each runtime dependency of pyproject.toml pinned to its lower bound's release series.

    A lower bound "X.Y" becomes "==X.Y.*" (the oldest supported minor release, newest patch);
    a lower bound with a patch number is pinned exactly.
    """
    pins = []
    for requirement in _pyproject()["dependencies"]:
        match = re.fullmatch(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*>=\s*([0-9][0-9.]*)\s*", requirement.split(";")[0])
        if match is None:
            raise AssertionError(f"pyproject.toml dependency {requirement!r} has no plain lower bound "
                                 "('name>=X.Y'); the oldest-versions check needs one for every dependency")
        name, version = match.groups()
        pins.append(Pin(name, "==*" if version.count(".") == 1 else "==", version))
    return pins


def oldest_python() -> tuple[int, int]:
    """The oldest Python minor version pyproject.toml's requires-python allows."""
    spec = _pyproject()["requires-python"]
    match = re.fullmatch(r"\s*>=\s*(\d+)\.(\d+)(?:\.\d+)?\s*", spec)
    if match is None:
        raise AssertionError(f"requires-python {spec!r} is not of the form '>=X.Y'")
    return int(match.group(1)), int(match.group(2))


# ---------------------------------------------------------------------------------------
# Interpreters
# ---------------------------------------------------------------------------------------

_interpreter_cache: dict[tuple[int, int], Path] | None = None


def _pyenv_version_dirs() -> list[Path]:
    roots = []
    pyenv = shutil.which("pyenv")
    if pyenv:
        try:
            out = subprocess.run([pyenv, "root"], capture_output=True, text=True, timeout=30)
            if out.returncode == 0 and out.stdout.strip():
                roots.append(Path(out.stdout.strip()))
        except (OSError, subprocess.SubprocessError):
            pass
    for candidate in (os.environ.get("PYENV_ROOT"), Path.home() / ".pyenv"):
        if candidate and Path(candidate) not in roots:
            roots.append(Path(candidate))
    dirs = []
    for root in roots:
        versions = root / "versions"
        if versions.is_dir():
            # Final CPython releases only ("3.13.0"; not "3.14.0a1", "3.13.0t", "pypy3.10").
            dirs += [d for d in versions.iterdir() if re.fullmatch(r"3\.\d+\.\d+", d.name)]
    return sorted(dirs, key=lambda d: _release(d.name), reverse=True)


def _probe_interpreter(path: Path) -> tuple[int, int] | None:
    """The (major, minor) of a working interpreter that can make virtual environments with pip."""
    try:
        out = subprocess.run([str(path), "-c", "import sys, venv, ensurepip; print(*sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    major, minor = out.stdout.split()
    return int(major), int(minor)


def interpreters() -> dict[tuple[int, int], Path]:
    """{(3, minor): interpreter} found via pyenv (`pyenv root`, else ~/.pyenv), else on PATH."""
    global _interpreter_cache
    if _interpreter_cache is None:
        candidates = []
        for version_dir in _pyenv_version_dirs():
            minor = ".".join(version_dir.name.split(".")[:2])
            candidates.append(version_dir / "bin" / f"python{minor}")
        for minor in range(10, 40):
            found = shutil.which(f"python3.{minor}")
            if found:
                candidates.append(Path(found))
        found = {}
        for path in candidates:
            if not path.exists():
                continue
            version = _probe_interpreter(path)
            if version is not None and version[0] == 3 and version not in found:
                found[version] = path
        _interpreter_cache = found
    return _interpreter_cache


# ---------------------------------------------------------------------------------------
# Environment specs
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EnvSpec:
    name: str
    description: str
    python: tuple[int, int] | None   # None = the newest one available
    pins: tuple[Pin, ...]


def env_specs() -> dict[str, EnvSpec]:
    oldest = oldest_python()
    return {
        "colab": EnvSpec("colab", "Colab: newest Python, Colab's numpy/matplotlib/scikit-learn", None,
                         tuple(Pin(name, "==", version) for name, version in COLAB_PINS.items())),
        "oldest": EnvSpec("oldest", f"oldest supported: Python {oldest[0]}.{oldest[1]}, pyproject's lower bounds",
                          oldest, tuple(lower_bound_pins())),
    }


ENV_NAMES = ["colab", "oldest"]


def resolve_interpreter(spec: EnvSpec) -> tuple[Path | None, str]:
    """(interpreter, description); (None, why) when the spec's interpreter is not on this machine."""
    found = interpreters()
    if spec.python is None:
        if not found:
            return None, "no Python 3 interpreter that can create virtual environments was found"
        version = max(found)
    else:
        version = spec.python
        if version not in found:
            return None, (f"Python {version[0]}.{version[1]} not found (looked in `pyenv root`/versions, "
                          f"~/.pyenv/versions and for python{version[0]}.{version[1]} on PATH; "
                          f"found: {', '.join(f'{v[0]}.{v[1]}' for v in sorted(found)) or 'none'})")
    return found[version], f"Python {version[0]}.{version[1]} ({found[version]})"


# ---------------------------------------------------------------------------------------
# Running one environment
# ---------------------------------------------------------------------------------------

@dataclass
class EnvResult:
    spec: EnvSpec
    missing: str | None = None             # why the environment could not be made here
    python: str = ""
    pins_used: list[Pin] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)       # accepted deviations (relaxed pins)
    failures: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        lines = [f"[{self.spec.name}] {self.python}",
                 "  requested: " + " ".join(p.requirement() for p in self.pins_used),
                 "  kernel saw: " + ", ".join(f"{k} {v}" for k, v in sorted(self.versions.items()))]
        lines += [f"  note: {note}" for note in self.notes]
        lines += [f"  {label}: {seconds:.0f} s" for label, seconds in self.timings.items()]
        return "\n".join(lines)


def _clean_environ(venv: Path, home: Path) -> dict[str, str]:
    """The environment for every process of a venv: nothing leaks from the caller's Python/Jupyter.

    Pip's own configuration (PIP_* and config files) is kept: downloads come from the
    machine's configured registry and cache.
    """
    leaky = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV", "JUPYTER_PATH",
             "JUPYTER_CONFIG_PATH", "JUPYTER_PLATFORM_DIRS", "IPYTHONDIR", "MPLBACKEND", "MPLCONFIGDIR"}
    env = {k: v for k, v in os.environ.items() if k not in leaky and not k.startswith(("CONDA", "PYTEST"))}
    for sub in ("jupyter-data", "jupyter-config", "jupyter-runtime", "ipython"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    env.update({
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "VIRTUAL_ENV": str(venv),
        "PYTHONNOUSERSITE": "1",
        # An empty user-level Jupyter: a "python3" kernelspec in ~/.local/share/jupyter (pointing
        # at some other Python) cannot shadow the venv's own kernel.
        "JUPYTER_DATA_DIR": str(home / "jupyter-data"),
        "JUPYTER_CONFIG_DIR": str(home / "jupyter-config"),
        "JUPYTER_RUNTIME_DIR": str(home / "jupyter-runtime"),
        "JUPYTER_PREFER_ENV_PATH": "1",
        "IPYTHONDIR": str(home / "ipython"),
    })
    # One BLAS thread per process: the two environments run at once on a 2-core machine, and
    # OpenBLAS's spinning worker threads then slow numpy 2.x notebooks down 5-7x.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    return env


def _run(cmd, *, env, cwd, timeout):
    return subprocess.run([str(c) for c in cmd], env=env, cwd=str(cwd), capture_output=True, text=True,
                          timeout=timeout)


def _tail(text: str, n: int = 3000) -> str:
    """The end of a process's output, without colour codes or the kernel's routine warnings."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    text = "\n".join(line for line in text.splitlines()
                     if not line.startswith("[IPKernelApp] WARNING | Kernel is running over TCP")
                     and "is ignored: it is neither a file nor a directory" not in line).strip()
    return text if len(text) <= n else "..." + text[-n:]


def _pip_install(result: EnvResult, python: Path, wheel: Path, env, cwd) -> bool:
    """Install the pins, the wheel and the kernel packages; relax only pins that cannot install."""
    pins = list(result.spec.pins)
    binary_only = ",".join(p.name for p in pins)   # "cannot install" = no wheel for this Python

    def install(pins_now):
        # --no-compile: byte-compiling all of scipy & co. would triple the install time; the
        # kernel compiles what it imports.
        cmd = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
               f"--only-binary={binary_only}", *[p.requirement() for p in pins_now], wheel, *KERNEL_PACKAGES]
        return _run(cmd, env=env, cwd=cwd, timeout=PIP_TIMEOUT_S)

    proc = install(pins)
    if proc.returncode != 0:
        # Which pins cannot install on their own on this Python? Relax those, keep the rest.
        relaxed = []
        for i, pin in enumerate(pins):
            if pin.op == ">=":
                continue
            alone = _run([python, "-m", "pip", "install", "--dry-run", "--quiet", "--no-deps",
                          "--disable-pip-version-check", "--only-binary=:all:", pin.requirement()],
                         env=env, cwd=cwd, timeout=PIP_TIMEOUT_S)
            if alone.returncode != 0:
                pins[i] = pin.relaxed()
                relaxed.append(pin)
        if relaxed:
            for pin in relaxed:
                note = (f"{pin.requirement()} has no installable wheel for {result.python}; "
                        f"used {pin.relaxed().requirement()} instead")
                result.notes.append(note)   # warned about by the test (warnings are per test, not per thread)
            proc = install(pins)
    result.pins_used = pins
    if proc.returncode != 0:
        result.failures.append(f"pip install of {' '.join(p.requirement() for p in pins)} + {wheel.name} + "
                               f"{' '.join(KERNEL_PACKAGES)} failed:\n{_tail(proc.stderr or proc.stdout)}")
        return False
    return True


DATASETS_PROBE = r'''
import json, sys, sysconfig
from pathlib import Path
import coursekit
from coursekit import datasets
site = Path(sysconfig.get_paths()["purelib"]).resolve()
loaded = {}
for name in datasets.__all__:
    if name.startswith("load_"):
        splits = getattr(datasets, name)()
        loaded[name] = {part: [list(getattr(splits, prefix + part).shape) for prefix in ("X_", "y_")]
                        + [str(getattr(splits, "X_" + part).dtype), str(getattr(splits, "y_" + part).dtype)]
                        for part in ("train", "val", "test")}
print(json.dumps({"coursekit": str(Path(coursekit.__file__).resolve()), "site_packages": str(site),
                  "data_file": str(datasets.data_path("noisy_moons.csv").resolve()), "loaded": loaded}))
'''

# Shapes promised by coursekit.datasets' docstrings: [X shape, y shape, X dtype, y dtype].
# Digits: 1,797 images in scikit-learn, so the default test split holds 1797 - 500 - 400.
EXPECTED_SPLITS = {
    "load_noisy_moons": {"train": [[150, 2], [150], "float32", "int64"],
                         "val": [[500, 2], [500], "float32", "int64"],
                         "test": [[500, 2], [500], "float32", "int64"]},
    "load_digits": {"train": [[500, 1, 8, 8], [500], "float32", "int64"],
                    "val": [[400, 1, 8, 8], [400], "float32", "int64"],
                    "test": [[897, 1, 8, 8], [897], "float32", "int64"]},
}


def _check_datasets(result: EnvResult, python: Path, env, outside: Path) -> None:
    proc = _run([python, "-c", DATASETS_PROBE], env=env, cwd=outside, timeout=600)
    if proc.returncode != 0:
        result.failures.append(f"loading the data sets from the installed wheel failed:\n{_tail(proc.stderr)}")
        return
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    site = Path(info["site_packages"])
    for what in ("coursekit", "data_file"):
        path = Path(info[what])
        if not path.is_relative_to(site) or path.is_relative_to(ROOT):
            result.failures.append(f"{what} came from {path}, not from the installed package in {site}")
    for name, splits in info["loaded"].items():
        for part, (x_shape, y_shape, _, _) in splits.items():
            if not x_shape or x_shape[0] == 0 or x_shape[0] != y_shape[0]:
                result.failures.append(f"datasets.{name}(): {part} split has X {x_shape} and y {y_shape}")
        if name in EXPECTED_SPLITS and splits != EXPECTED_SPLITS[name]:
            result.failures.append(f"datasets.{name}() gave {splits}, expected {EXPECTED_SPLITS[name]}")
    missing = set(EXPECTED_SPLITS) - set(info["loaded"])
    if missing:
        result.failures.append(f"coursekit.datasets no longer exports {sorted(missing)}")


def _kernel_probe_notebook(pins) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    dists = sorted({p.name for p in pins} | {"numpy", "coursekit"})
    nb.cells.append(nbformat.v4.new_code_cell(
        "import json, sys\nfrom importlib import metadata\nimport numpy\n"
        f"print(json.dumps({{'executable': sys.executable, 'prefix': sys.prefix, 'numpy': numpy.__version__, "
        f"'versions': {{d: metadata.version(d) for d in {dists!r}}}}}))"))
    return nb


def _execute(python: Path, runner: Path, notebook: Path, output: Path, env) -> subprocess.CompletedProcess:
    return _run([python, runner, notebook, output, "--cwd", notebook.parent, "--timeout", CELL_TIMEOUT_S],
                env=env, cwd=notebook.parent, timeout=NOTEBOOK_TIMEOUT_S)


def _check_kernel(result: EnvResult, python: Path, runner: Path, venv: Path, env, work: Path) -> bool:
    folder = work / "probe"
    folder.mkdir()
    notebook = folder / "probe.ipynb"
    nbformat.write(_kernel_probe_notebook(result.pins_used), notebook)
    proc = _execute(python, runner, notebook, work / "probe.out.ipynb", env)
    if proc.returncode != 0:
        result.failures.append(f"the kernel probe notebook did not run:\n{_tail(proc.stderr)}")
        return False
    out = nbformat.read(work / "probe.out.ipynb", as_version=4)
    text = "".join(o.get("text", "") for o in out.cells[0].outputs if o.get("name") == "stdout")
    info = json.loads(text.strip().splitlines()[-1])
    result.versions = dict(info["versions"])
    ok = True
    if Path(info["prefix"]).resolve() != venv.resolve():
        result.failures.append(f"the notebook kernel ran {info['executable']} (prefix {info['prefix']}), "
                               f"not the environment's Python in {venv}: a kernelspec shadows the venv's")
        ok = False
    if info["numpy"] != info["versions"]["numpy"]:
        result.failures.append(f"the kernel imported numpy {info['numpy']}, but numpy "
                               f"{info['versions']['numpy']} is installed")
        ok = False
    for pin in result.pins_used:
        installed = info["versions"][pin.name]
        if not pin.satisfied_by(installed):
            result.failures.append(f"the kernel has {pin.name} {installed}, which is not {pin.requirement()}")
            ok = False
    return ok


def _run_notebooks(result: EnvResult, python: Path, runner: Path, env, work: Path, version: str) -> None:
    for source in NOTEBOOKS:
        folder = work / "notebooks" / source.stem     # empty: the notebook is alone, as on Colab
        folder.mkdir(parents=True)
        notebook = folder / source.name
        shutil.copyfile(source, notebook)
        output = work / "executed" / source.name
        output.parent.mkdir(exist_ok=True)
        start = time.monotonic()
        try:
            proc = _execute(python, runner, notebook, output, env)
        except subprocess.TimeoutExpired:
            result.failures.append(f"{source.name}: did not finish within {NOTEBOOK_TIMEOUT_S} s")
            continue
        finally:
            result.timings[source.name] = time.monotonic() - start
        if proc.returncode != 0:
            # notebook_runner's message starts "<notebook>: cell N (code cell M) failed:".
            result.failures.append(_tail(proc.stderr, 4000) or f"{source.name}: failed with no message")
            continue
        ran_on = nbformat.read(output, as_version=4).metadata.get("language_info", {}).get("version", "")
        if not ran_on.startswith(version + "."):
            result.failures.append(f"{source.name}: ran on Python {ran_on or '?'}, not {version}")


def run_environment(spec: EnvSpec, wheel: Path, work: Path) -> EnvResult:
    result = EnvResult(spec)
    interpreter, description = resolve_interpreter(spec)
    if interpreter is None:
        result.missing = description
        return result
    result.python = description
    version = ".".join(map(str, _probe_interpreter(interpreter)))
    venv, home, outside = work / "venv", work / "home", work / "outside"
    outside.mkdir(parents=True)
    env = _clean_environ(venv, home)

    start = time.monotonic()
    proc = _run([interpreter, "-m", "venv", venv], env=env, cwd=outside, timeout=600)
    if proc.returncode != 0:
        result.failures.append(f"python -m venv failed with {interpreter}:\n{_tail(proc.stderr)}")
        return result
    python = venv / "bin" / "python"
    if not _pip_install(result, python, wheel, env, outside):
        return result
    proc = _run([python, "-m", "ipykernel", "install", "--sys-prefix", "--name", "python3"],
                env=env, cwd=outside, timeout=600)
    if proc.returncode != 0:
        result.failures.append(f"ipykernel install --sys-prefix failed:\n{_tail(proc.stderr)}")
        return result
    result.timings["venv + pip install"] = time.monotonic() - start

    mark = time.monotonic()
    _check_datasets(result, python, env, outside)
    result.timings["data sets"] = time.monotonic() - mark
    runner = work / "tools" / RUNNER.name     # outside the repo, so nothing of the checkout is on sys.path
    runner.parent.mkdir()
    shutil.copyfile(RUNNER, runner)
    mark = time.monotonic()
    kernel_ok = _check_kernel(result, python, runner, venv, env, work)
    result.timings["kernel probe"] = time.monotonic() - mark
    if kernel_ok:
        _run_notebooks(result, python, runner, env, work, version)
    result.timings["total"] = time.monotonic() - start
    if not result.failures:   # ~0.5 GB; kept after a failure, for a look
        shutil.rmtree(venv, ignore_errors=True)
    return result


# ---------------------------------------------------------------------------------------
# Fixtures and tests
# ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from this checkout, once per module (what a git-URL install builds)."""
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
                          capture_output=True, text=True, cwd=str(out), timeout=PIP_TIMEOUT_S)
    assert proc.returncode == 0, f"building the coursekit wheel failed:\n{_tail(proc.stderr or proc.stdout)}"
    wheels = list(out.glob("coursekit-*.whl"))
    assert len(wheels) == 1, f"expected one coursekit wheel in {out}, got {wheels}"
    return wheels[0]


@pytest.fixture(scope="module")
def environment_runs(request, wheel, tmp_path_factory):
    """Start every selected environment at once (they run concurrently); tests wait on theirs."""
    selected = [name for name in ENV_NAMES
                if any(getattr(item, "callspec", None) is not None and item.callspec.params.get("env_name") == name
                       and item.module is request.module for item in request.session.items)]
    specs = env_specs()
    pool = ThreadPoolExecutor(max_workers=max(1, len(selected)))
    futures = {name: pool.submit(run_environment, specs[name], wheel, tmp_path_factory.mktemp(f"env-{name}"))
               for name in selected}
    yield futures
    pool.shutdown(wait=True)


def test_wheel_ships_the_package_and_its_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "coursekit/data/noisy_moons.csv" in names, f"the wheel lacks the data set: {sorted(names)}"
    modules = {f"coursekit/{p.relative_to(ROOT / 'coursekit').as_posix()}"
               for p in (ROOT / "coursekit").rglob("*.py")}
    assert modules <= names, f"the wheel lacks modules: {sorted(modules - names)}"
    with zipfile.ZipFile(wheel) as zf:
        shipped = zf.read("coursekit/data/noisy_moons.csv")
    assert shipped == (ROOT / "data" / "noisy_moons.csv").read_bytes(), "the wheel's data differ from data/"


def test_lower_bounds_are_read_from_pyproject():
    pins = {p.name: p.requirement() for p in lower_bound_pins()}
    deps = _pyproject()["dependencies"]
    assert len(pins) == len(deps)
    for dep in deps:
        name, bound = dep.split(">=")
        assert pins[name].startswith(f"{name}=={bound}"), (dep, pins[name])
    assert Pin("numpy", "==*", "1.26").satisfied_by("1.26.4")
    assert not Pin("numpy", "==*", "1.26").satisfied_by("1.27.0")
    assert Pin("numpy", "==", "2.1.3").satisfied_by("2.1.3") and not Pin("numpy", "==", "2.1.3").satisfied_by("2.1.4")
    assert Pin("numpy", ">=", "2.1.3").satisfied_by("2.2.0") and not Pin("numpy", ">=", "2.1.3").satisfied_by("2.0.2")


@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_course_runs_in_fresh_env(env_name, environment_runs):
    """Fresh venv + freshly built wheel: the data load from the package and every notebook runs alone."""
    result = environment_runs[env_name].result()
    if result.missing:
        message = f"[{env_name}] cannot build the '{result.spec.description}' environment: {result.missing}"
        if _in_ci():
            pytest.fail(message + " (CI=true: the install checks must run in CI)")
        pytest.skip(message)
    for note in result.notes:
        warnings.warn(f"[{env_name}] {note}", InstallEnvWarning, stacklevel=1)
    print(result.summary())
    assert not result.failures, (
        f"[{env_name}] {result.python}, {' '.join(p.requirement() for p in result.pins_used)}: "
        f"{len(result.failures)} failure(s):\n\n" + "\n\n".join(result.failures) + "\n\n" + result.summary())
