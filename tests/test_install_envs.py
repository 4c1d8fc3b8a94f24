"""Install checks: the course works where learners run it, not only in this checkout.

Two fresh virtual environments are built, concurrently:

- ``colab``: Colab's Python (3.12) with Colab's preinstalled packages (COLAB_PACKAGES: numpy,
  scipy, matplotlib, scikit-learn, tqdm, ipywidgets 7, ipykernel 6, pip, and the packages of
  theirs that coursekit's requirements reach). coursekit is then installed the way Colab
  installs it: the notebooks' own setup cell runs in a kernel of that environment, its
  ``%pip install "coursekit @ git+URL"`` line pointed at a throw-away git repository holding
  this checkout's working tree (tests/git_snapshot.py). Every installed distribution is
  recorded before and after: a preinstalled package that was upgraded, downgraded,
  reinstalled or removed fails the check, named, and so does any package other than
  coursekit that the install added (Colab would have had to have it). Any cell, of the setup
  cell or of a lesson, that prints a warning or writes to stderr fails too.
- ``oldest``: the oldest Python that pyproject.toml's ``requires-python`` allows, with every
  runtime dependency (and the kernel's ipykernel and ipywidgets from the ``notebook`` extra)
  pinned to the release series of its lower bound in pyproject.toml (``numpy>=1.26`` ->
  ``numpy==1.26.*``); coursekit comes from a wheel freshly built from this checkout.

Then, in each, from directories outside the repo: every data set is loaded (and must come
from the installed package), a probe notebook proves the kernel is the environment's
interpreter with the pinned versions, and each notebook is copied alone into an empty
directory and executed by tests/notebook_runner.py with that environment's Python. All
failures of an environment are collected and reported together, each naming the notebook
and the cell.

A third job checks releases (issue 24): in a throw-away repository, release A is this working tree
(tagged vA) and release B a commit on top of it made as README.md's "Releases" says (version bumped,
changelog entry, ``tools/release.py``, tagged vB). A's first lesson, alone in a Colab-like
environment, its %pip line pointed at that repository, must install A (not B), run to the end
without a warning and print that B is out, read from B's releases index (built by site/build.py,
served on localhost).

These are slow (minutes, mostly pip): ``python -m pytest --full`` runs them. A missing
interpreter skips that environment with the reason, except under CI (CI=true), where it
fails.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from git_snapshot import git, snapshot_working_tree
from notebook_runner import warnings_in

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
RUNNER = Path(__file__).with_name("notebook_runner.py")

# Google Colab's runtime (2025: Python 3.12, scikit-learn 1.6.1, matplotlib 3.10.0, ipykernel
# 6.17.1 with IPython 7.34.0 and ipywidgets 7.7.1, as public `pip list` outputs of Colab show;
# numpy 2.1.3 as in issue 13). Pinned as a whole: Colab's versions of what coursekit requires
# (numpy, matplotlib, scikit-learn, tqdm, threadpoolctl), of what those require in turn
# (scipy, joblib, matplotlib's dependencies), of the Jupyter kernel and widgets a notebook
# runs with, and of pip itself. Everything else the kernel needs resolves freely; the
# before/after comparison protects it all the same.
COLAB_PYTHON = (3, 12)
COLAB_PACKAGES = {
    "pip": "24.1.2",
    "setuptools": "75.2.0",
    "numpy": "2.1.3",
    "scipy": "1.15.3",
    "matplotlib": "3.10.0",
    "scikit-learn": "1.6.1",
    "tqdm": "4.67.1",
    "threadpoolctl": "3.6.0",
    "joblib": "1.4.2",
    # matplotlib's dependencies
    "contourpy": "1.3.2",
    "cycler": "0.12.1",
    "fonttools": "4.57.0",
    "kiwisolver": "1.4.8",
    "packaging": "24.2",
    "pillow": "11.1.0",
    "pyparsing": "3.2.3",
    "python-dateutil": "2.9.0.post0",
    "six": "1.17.0",
    # the kernel and widgets (Colab renders ipywidgets 7 only: googlecolab/colabtools #4525, #3020)
    "ipykernel": "6.17.1",
    "ipython": "7.34.0",
    "jedi": "0.19.2",
    "traitlets": "5.7.1",
    "jupyter-client": "6.1.12",
    "ipywidgets": "7.7.1",
    "widgetsnbextension": "3.6.10",
    "notebook": "6.5.7",
    # what executes the notebooks here (Colab has them too)
    "nbclient": "0.10.2",
    "nbformat": "5.10.4",
}
# Dependencies of coursekit that Colab does not preinstall, so that installing coursekit may
# add them. Empty: everything coursekit needs is on Colab already.
NOT_ON_COLAB: frozenset[str] = frozenset()

# What the notebooks' kernel needs besides coursekit in the oldest environment (JupyterLab
# provides these; their versions resolve freely, except the `notebook` extra's lower bounds).
KERNEL_PACKAGES = ["ipykernel", "nbclient", "nbformat"]
# From the `notebook` extra, what a kernel uses (JupyterLab itself is not needed to execute).
NOTEBOOK_EXTRA_FOR_KERNEL = ("ipykernel", "ipywidgets")
CELL_TIMEOUT_S = 300           # per cell, as pyproject's --nbval-cell-timeout
NOTEBOOK_TIMEOUT_S = 900       # per notebook, including kernel start-up
PIP_TIMEOUT_S = 1200


class InstallEnvWarning(UserWarning):
    """A deviation from an environment's spec that the test accepted (e.g. a relaxed pin)."""


def _pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["project"]


def install_source() -> str:
    """The one place the install source is kept: pyproject.toml's [project.urls] Repository."""
    return _pyproject()["urls"]["Repository"]


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
            if self.version == installed:
                return True
            width = max(len(got), len(wanted))
            return (got + (0,) * (width - len(got)) == wanted + (0,) * (width - len(wanted))
                    and _suffix(self.version) == _suffix(installed))
        if self.op == "==*":
            return got[:len(wanted)] == wanted
        return got >= wanted


def _release(version: str) -> tuple[int, ...]:
    """(1, 26, 4) from "1.26.4" (pre/post/local suffixes ignored)."""
    match = re.match(r"\d+(?:\.\d+)*", version)
    if match is None:
        raise ValueError(f"cannot read a release number from version {version!r}")
    return tuple(int(part) for part in match.group(0).split("."))


def _suffix(version: str) -> str:
    """".post0" from "2.9.0.post0": what follows the release number."""
    return version[re.match(r"\d+(?:\.\d+)*", version).end():]


def _lower_bound_pin(requirement: str, where: str) -> Pin:
    match = re.fullmatch(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*>=\s*([0-9][0-9.]*)\s*", requirement.split(";")[0])
    if match is None:
        raise AssertionError(f"pyproject.toml {where} {requirement!r} has no plain lower bound "
                             "('name>=X.Y'); the oldest-versions check needs one for every dependency")
    name, version = match.groups()
    return Pin(name, "==*" if version.count(".") == 1 else "==", version)


def lower_bound_pins(*, kernel_extras: bool = False) -> list[Pin]:
    """Each runtime dependency of pyproject.toml pinned to its lower bound's release series.

    A lower bound "X.Y" becomes "==X.Y.*" (the oldest supported minor release, newest patch);
    a lower bound with a patch number is pinned exactly. ``kernel_extras`` adds the
    ``notebook`` extra's NOTEBOOK_EXTRA_FOR_KERNEL (ipykernel, ipywidgets) the same way.
    """
    project = _pyproject()
    pins = [_lower_bound_pin(r, "dependency") for r in project["dependencies"]]
    if kernel_extras:
        for requirement in project["optional-dependencies"]["notebook"]:
            pin = _lower_bound_pin(requirement, "notebook extra")
            if pin.name in NOTEBOOK_EXTRA_FOR_KERNEL:
                pins.append(pin)
    return pins


def oldest_python() -> tuple[int, int]:
    """The oldest Python minor version pyproject.toml's requires-python allows."""
    spec = _pyproject()["requires-python"]
    match = re.fullmatch(r"\s*>=\s*(\d+)\.(\d+)(?:\.\d+)?\s*", spec)
    if match is None:
        raise AssertionError(f"requires-python {spec!r} is not of the form '>=X.Y'")
    return int(match.group(1)), int(match.group(2))


# ---------------------------------------------------------------------------------------
# Colab's setup cell and what an install changed
# ---------------------------------------------------------------------------------------

def setup_cell_source() -> str:
    """The setup cell (first code cell) of the first notebook; test_notebook_structure checks all agree."""
    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    return next(c.source for c in nb.cells if c.cell_type == "code")


def setup_cell_for(url: str, source: str | None = None) -> str:
    """The setup cell with its ``%pip install ... git+<install source>`` line pointed at ``url``.

    Only the URL changes: the line is otherwise executed exactly as a learner's Colab runs it.
    """
    source = setup_cell_source() if source is None else source
    wanted = f"git+{install_source()}"
    lines = [line for line in source.splitlines() if line.lstrip().startswith("%pip install") and wanted in line]
    if len(lines) != 1:
        raise AssertionError(f"expected exactly one `%pip install ... {wanted}` line in the setup cell, "
                             f"found {len(lines)}:\n{source}")
    if source.count(wanted) != 1:
        raise AssertionError(f"the setup cell names {wanted} {source.count(wanted)} times, expected once")
    line = lines[0]
    return source.replace(line, line.replace(wanted, f"git+{url}"))


INSTALLED_PROBE = r'''
import json, os
from importlib import metadata
found = {}
for dist in metadata.distributions():
    folder = getattr(dist, "_path", None)   # the .dist-info directory (a new one on every (re)install)
    metadata_file = None if folder is None else os.path.join(str(folder), "METADATA")
    stamp = os.stat(metadata_file).st_mtime_ns if metadata_file and os.path.exists(metadata_file) else None
    found.setdefault(dist.metadata["Name"], [dist.version, stamp])
print(json.dumps(found))
'''


def installed_distributions(python: Path, env, cwd) -> dict[str, tuple[str, int | None]]:
    """{canonical name: (version, mtime of its METADATA file)} of every distribution ``python`` sees."""
    proc = _run([python, "-c", INSTALLED_PROBE], env=env, cwd=cwd, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"listing the installed distributions failed:\n{_tail(proc.stderr)}")
    raw = json.loads(proc.stdout.strip().splitlines()[-1])
    return {canonicalize_name(name): (version, stamp) for name, (version, stamp) in raw.items()}


def compare_installed(before: dict, after: dict, *, may_add=frozenset({"coursekit"})) -> list[str]:
    """What an install changed among ``before``'s distributions, one message per package; [] if nothing.

    Upgraded, downgraded, reinstalled (same version written again) or removed packages are
    reported, and so is any added package not in ``may_add``.
    """
    changes = []
    for name in sorted(before.keys() | after.keys()):
        if name not in after:
            changes.append(f"{name} {before[name][0]} was removed")
        elif name not in before:
            if name not in may_add:
                changes.append(f"{name} {after[name][0]} was added: this Colab-like environment does not have it. "
                               f"If Colab preinstalls {name}, add Colab's version to COLAB_PACKAGES; if it does "
                               f"not, add it to NOT_ON_COLAB")
        else:
            (old, old_stamp), (new, new_stamp) = before[name], after[name]
            if old != new:
                direction = "upgraded" if _release(new) > _release(old) else "downgraded" \
                    if _release(new) < _release(old) else "changed"
                changes.append(f"{name} was {direction} from {old} to {new}")
            elif old_stamp != new_stamp:
                changes.append(f"{name} {old} was reinstalled over the preinstalled copy")
    return changes


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
    install: str                     # "setup-cell" (Colab's %pip line, from git) or "wheel"
    strict: bool                     # pins are exact: never relaxed when they cannot install


def colab_pins() -> tuple[Pin, ...]:
    return tuple(Pin(name, "==", version) for name, version in COLAB_PACKAGES.items())


def env_specs() -> dict[str, EnvSpec]:
    oldest = oldest_python()
    return {
        "colab": EnvSpec("colab", f"Colab: Python {COLAB_PYTHON[0]}.{COLAB_PYTHON[1]} with Colab's preinstalled "
                                  "packages, coursekit installed by the setup cell's %pip line",
                         COLAB_PYTHON, colab_pins(), install="setup-cell", strict=True),
        "oldest": EnvSpec("oldest", f"oldest supported: Python {oldest[0]}.{oldest[1]}, pyproject's lower bounds",
                          oldest, tuple(lower_bound_pins(kernel_extras=True)), install="wheel", strict=False),
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
    install_changes: list[str] = field(default_factory=list)   # preinstalled packages the install changed
    added: dict[str, str] = field(default_factory=dict)        # what the install added: {name: version}
    timings: dict[str, float] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    work: Path | None = None               # its folder (kept after a failure, for a look)

    def summary(self) -> str:
        lines = [f"[{self.spec.name}] {self.python}",
                 "  requested: " + " ".join(p.requirement() for p in self.pins_used),
                 "  kernel saw: " + ", ".join(f"{k} {v}" for k, v in sorted(self.versions.items()))]
        if self.added:
            lines.append("  the install added: " + ", ".join(f"{k} {v}" for k, v in sorted(self.added.items())))
        lines += [f"  note: {note}" for note in self.notes]
        lines += [f"  {label}: {seconds:.0f} s" for label, seconds in self.timings.items()]
        if self.failures or self.install_changes:
            lines.append(f"  kept for a look: {self.work}")
        return "\n".join(lines)


def _clean_environ(venv: Path, home: Path) -> dict[str, str]:
    """The environment for every process of a venv: nothing leaks from the caller's Python/Jupyter.

    Pip's own configuration (PIP_* and config files) is kept: downloads come from the
    machine's configured registry and cache.
    """
    leaky = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV", "JUPYTER_PATH",
             "JUPYTER_CONFIG_PATH", "JUPYTER_PLATFORM_DIRS", "IPYTHONDIR", "MPLBACKEND", "MPLCONFIGDIR",
             "PYTHONWARNINGS", "COURSEKIT_PROGRESS"}
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
        # The kernel's debugger otherwise writes a frozen-modules note to the kernel's log (not to a cell).
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    })
    # No lookup of newer releases on the network (coursekit.release): the previous-release check serves its own.
    env.setdefault("COURSEKIT_RELEASE_CHECK", "0")
    # One BLAS thread per process: the two environments run at once on a 2-core machine, and
    # OpenBLAS's spinning worker threads then slow numpy 2.x notebooks down 5-7x.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    return env


class Stopped(RuntimeError):
    """The test session ended before an environment was done (stop_background_jobs)."""


_STOP = threading.Event()
_RUNNING: set[subprocess.Popen] = set()
_RUNNING_LOCK = threading.Lock()


def _kill(proc: subprocess.Popen) -> None:
    """End ``proc`` and what it started (its own process group: a notebook runner and its kernel)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _run(cmd, *, env, cwd, timeout):
    """subprocess.run(..., capture_output=True, text=True), stoppable by stop_background_jobs()."""
    if _STOP.is_set():
        raise Stopped("the test session ended")
    proc = subprocess.Popen([str(c) for c in cmd], env=env, cwd=str(cwd), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    with _RUNNING_LOCK:
        _RUNNING.add(proc)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        proc.communicate()
        raise
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(proc)
    if _STOP.is_set():
        raise Stopped("the test session ended")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


# This machine's pip configuration names a package index folder that may be absent; pip says so
# on every install. It is about the machine, not about the course, so it is left out of reports.
MACHINE_PIP_NOTE = "is ignored: it is neither a file nor a directory"


def _tail(text: str, n: int = 3000) -> str:
    """The end of a process's output, without colour codes or the kernel's routine warnings."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    text = "\n".join(line for line in text.splitlines()
                     if not line.startswith("[IPKernelApp] WARNING | Kernel is running over TCP")
                     and MACHINE_PIP_NOTE not in line).strip()
    return text if len(text) <= n else "..." + text[-n:]


def _pip(python: Path, *args, env, cwd) -> subprocess.CompletedProcess:
    # --no-compile: byte-compiling all of scipy & co. would triple the install time; the kernel
    # compiles what it imports.
    return _run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile", *args],
                env=env, cwd=cwd, timeout=PIP_TIMEOUT_S)


def _pip_install(result: EnvResult, python: Path, extra: list, env, cwd) -> bool:
    """Install the pins and ``extra`` (the wheel, the kernel packages); relax only pins that cannot install."""
    pins = list(result.spec.pins)
    binary_only = ",".join(p.name for p in pins if p.name not in ("pip", "setuptools"))
    pip_pin = next((p for p in pins if p.name == "pip"), None)
    if pip_pin is not None:   # the environment's own pip first: it installs the rest, as on Colab
        proc = _pip(python, pip_pin.requirement(), env=env, cwd=cwd)
        if proc.returncode != 0:
            result.failures.append(f"pip install {pip_pin.requirement()} failed:\n{_tail(proc.stderr or proc.stdout)}")
            return False

    def install(pins_now):
        return _pip(python, f"--only-binary={binary_only}", *[p.requirement() for p in pins_now], *extra,
                    env=env, cwd=cwd)

    proc = install(pins)
    if proc.returncode != 0 and not result.spec.strict:
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
        result.failures.append(f"pip install of {' '.join(p.requirement() for p in pins)} "
                               f"{' '.join(map(str, extra))} failed:\n{_tail(proc.stderr or proc.stdout)}")
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
    for pin in result.pins_used:   # reported, but the notebooks still run: what they print matters too
        installed = info["versions"][pin.name]
        if not pin.satisfied_by(installed):
            result.failures.append(f"the kernel has {pin.name} {installed}, which is not {pin.requirement()}")
    return ok


def _report_warnings(result: EnvResult, name: str, executed: nbformat.NotebookNode) -> None:
    """A cell that printed a warning or wrote to stderr is a failure (a learner would see it)."""
    found = warnings_in(executed, ignore=(MACHINE_PIP_NOTE,))
    if found:
        result.failures.append(f"{name}: {len(found)} cell(s) printed a warning or wrote to stderr "
                               f"(a learner would see it):\n" + "\n".join(found))


def _install_with_setup_cell(result: EnvResult, python: Path, runner: Path, env, work: Path, repo_url: str) -> bool:
    """Run the notebooks' setup cell, its %pip line pointed at ``repo_url``, where coursekit is missing."""
    folder = work / "setup-cell"
    folder.mkdir()
    notebook, output = folder / "setup_cell.ipynb", work / "setup_cell.out.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.cells.append(nbformat.v4.new_code_cell(setup_cell_for(repo_url)))
    nbformat.write(nb, notebook)
    try:
        proc = _execute(python, runner, notebook, output, env)
    except subprocess.TimeoutExpired:
        result.failures.append(f"the setup cell's %pip install did not finish within {NOTEBOOK_TIMEOUT_S} s")
        return False
    if proc.returncode != 0:
        result.failures.append(f"the setup cell (coursekit from git+{repo_url}) failed:\n{_tail(proc.stderr, 4000)}")
        return False
    executed = nbformat.read(output, as_version=4)
    printed = "".join(o.get("text", "") for o in executed.cells[0].outputs if o.get("name") == "stdout")
    if not re.search(r"^coursekit \d+\.\d+\.\d+ \(this lesson is from release", printed, flags=re.M):
        result.failures.append(f"the setup cell did not print coursekit's release; it printed:\n{_tail(printed)}")
        return False
    _report_warnings(result, "the setup cell's install", executed)
    return True


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
        executed = nbformat.read(output, as_version=4)
        ran_on = executed.metadata.get("language_info", {}).get("version", "")
        if not ran_on.startswith(version + "."):
            result.failures.append(f"{source.name}: ran on Python {ran_on or '?'}, not {version}")
        _report_warnings(result, source.name, executed)


def run_environment(spec: EnvSpec, work: Path, *, wheel: Path | None = None, repo: Path | None = None) -> EnvResult:
    """Build ``spec``'s environment in ``work``, install coursekit (``wheel`` or ``repo``'s git URL), run the course."""
    result = EnvResult(spec, work=work)
    try:
        return _run_environment(result, spec, work, wheel=wheel, repo=repo)
    except Stopped:
        result.failures.append("stopped before the end: the test session ended")
        return result


@dataclass(frozen=True)
class Venv:
    """A fresh environment made by _make_venv, and what runs in it."""

    path: Path
    python: Path          # its interpreter
    env: dict             # the environment of its processes (_clean_environ)
    runner: Path          # tests/notebook_runner.py, copied outside the checkout
    outside: Path         # an empty folder outside the checkout, to run things from
    version: str          # its Python version, "3.12.1"


def _make_venv(result: EnvResult, spec: EnvSpec, work: Path, *, extra: list) -> Venv | None:
    """A venv of ``spec``'s Python with its pins, ``extra`` and a python3 kernel; None (``result`` says why) if not."""
    interpreter, description = resolve_interpreter(spec)
    if interpreter is None:
        result.missing = description
        return None
    result.python = description
    version = ".".join(map(str, _probe_interpreter(interpreter)))
    venv, home, outside = work / "venv", work / "home", work / "outside"
    outside.mkdir(parents=True)
    env = _clean_environ(venv, home)
    runner = work / "tools" / RUNNER.name     # outside the repo, so nothing of the checkout is on sys.path
    runner.parent.mkdir()
    shutil.copyfile(RUNNER, runner)

    start = time.monotonic()
    proc = _run([interpreter, "-m", "venv", venv], env=env, cwd=outside, timeout=600)
    if proc.returncode != 0:
        result.failures.append(f"python -m venv failed with {interpreter}:\n{_tail(proc.stderr)}")
        return None
    python = venv / "bin" / "python"
    if not _pip_install(result, python, extra, env, outside):
        return None
    proc = _run([python, "-m", "ipykernel", "install", "--sys-prefix", "--name", "python3"],
                env=env, cwd=outside, timeout=600)
    if proc.returncode != 0:
        result.failures.append(f"ipykernel install --sys-prefix failed:\n{_tail(proc.stderr)}")
        return None
    result.timings["venv + pip install"] = time.monotonic() - start
    return Venv(venv, python, env, runner, outside, version)


def _run_environment(result: EnvResult, spec: EnvSpec, work: Path, *, wheel, repo) -> EnvResult:
    start = time.monotonic()
    made = _make_venv(result, spec, work, extra=[wheel, *KERNEL_PACKAGES] if spec.install == "wheel" else [])
    if made is None:
        return result
    venv, python, env, runner, outside, version = (made.path, made.python, made.env, made.runner, made.outside,
                                                   made.version)

    if spec.install == "setup-cell":
        mark = time.monotonic()
        before = installed_distributions(python, env, outside)
        if "coursekit" in before:
            result.failures.append("coursekit was installed before the setup cell ran: the check would prove nothing")
            return result
        if not _install_with_setup_cell(result, python, runner, env, work, f"file://{repo}"):
            return result
        after = installed_distributions(python, env, outside)
        result.install_changes = compare_installed(before, after, may_add=frozenset({"coursekit"}) | NOT_ON_COLAB)
        result.added = {name: after[name][0] for name in after.keys() - before.keys()}
        result.timings["setup cell's %pip install"] = time.monotonic() - mark

    mark = time.monotonic()
    _check_datasets(result, python, env, outside)
    result.timings["data sets"] = time.monotonic() - mark
    mark = time.monotonic()
    kernel_ok = _check_kernel(result, python, runner, venv, env, work)
    result.timings["kernel probe"] = time.monotonic() - mark
    if kernel_ok:
        _run_notebooks(result, python, runner, env, work, version)
    result.timings["total"] = time.monotonic() - start
    if not result.failures and not result.install_changes:   # ~0.5 GB; kept after a failure, for a look
        shutil.rmtree(venv, ignore_errors=True)
    return result


# ---------------------------------------------------------------------------------------
# A lesson saved from one release, reopened after the next (issue 24)
# ---------------------------------------------------------------------------------------

PREVIOUS_RELEASE = "previous-release"
PREVIOUS_RELEASE_LESSON = NOTEBOOKS[0].name   # the quickest lesson
NEXT_RELEASE_SUMMARY = "A release made by the install checks: nothing changes but the version."
RELEASE_SCRIPT = Path("tools") / "release.py"


def working_tree_release(repo: Path) -> str:
    """The release a repository's working tree names: its coursekit/__init__.py's ``__version__``."""
    match = re.search(r'^__version__\s*=\s*"([^"]+)"', (repo / "coursekit" / "__init__.py").read_text(), flags=re.M)
    if match is None:
        raise AssertionError(f"{repo}/coursekit/__init__.py names no __version__")
    return match.group(1)


def tag_release(repo: Path) -> str:
    """Tag ``repo``'s HEAD as the release its tree names (vX.Y.Z), as a release is tagged; returns X.Y.Z.

    The lessons' setup cells install ``git+REPOSITORY@vX.Y.Z``: a snapshot of the working tree is that release.
    """
    version = working_tree_release(repo)
    git("tag", f"v{version}", cwd=repo)
    return version


def next_release(repo: Path, version: str) -> None:
    """Make the next minor release in ``repo`` as README.md's "Releases" says an instructor does: the version
    bumped, a changelog entry, ``python tools/release.py`` (setup cells and notebooks), a commit, a tag."""
    init = repo / "coursekit" / "__init__.py"
    current = working_tree_release(repo)
    init.write_text(init.read_text().replace(f'__version__ = "{current}"', f'__version__ = "{version}"', 1))
    changelog = repo / "CHANGELOG.md"
    text = changelog.read_text()
    first = re.search(r"^## \[\d+\.\d+\.\d+\] - (\S+)", text, flags=re.M)
    if first is None:
        raise AssertionError("CHANGELOG.md has no release entry to put the next one above")
    date = max(time.strftime("%Y-%m-%d", time.gmtime()), first.group(1))   # never dated before the last release
    entry = f"## [{version}] - {date}\n\n{NEXT_RELEASE_SUMMARY}\n\n### For learners\n\n- Nothing new.\n\n"
    changelog.write_text(text[:first.start()] + entry + text[first.start():])
    proc = _run([sys.executable, RELEASE_SCRIPT], env=os.environ, cwd=repo, timeout=1800)
    if proc.returncode != 0:
        raise AssertionError(f"python {RELEASE_SCRIPT} failed in the release repository:\n{proc.stdout}{proc.stderr}")
    git("add", "--all", cwd=repo)
    git("commit", "--quiet", "--no-verify", "-m", f"Release {version}", cwd=repo)
    git("tag", f"v{version}", cwd=repo)


class _IndexServer:
    """A local web server for one folder (the releases index), remembering the paths asked for."""

    def __init__(self, folder: Path) -> None:
        import functools
        import http.server

        requested = self.requested = []

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args) -> None:   # quiet: nothing on the test's stderr
                requested.append(self.path)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      functools.partial(Handler, directory=str(folder)))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True, name="release-index").start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def run_previous_release(work: Path) -> EnvResult:
    """Release A is this working tree, release B the next one on top of it (in a throw-away repository); A's lesson,
    alone in a Colab-like environment, installs A through its own setup cell, runs to the end and says B is out."""
    spec = EnvSpec(PREVIOUS_RELEASE, f"a lesson of the previous release in Colab's environment (Python "
                                     f"{COLAB_PYTHON[0]}.{COLAB_PYTHON[1]})", COLAB_PYTHON, colab_pins(),
                   install="setup-cell", strict=True)
    result = EnvResult(spec, work=work)
    try:
        return _run_previous_release(result, spec, work)
    except Stopped:
        result.failures.append("stopped before the end: the test session ended")
        return result


def _run_previous_release(result: EnvResult, spec: EnvSpec, work: Path) -> EnvResult:
    import importlib.util

    from coursekit import release

    start = time.monotonic()
    repo = snapshot_working_tree(work / "course-repo", message="the working tree: release A")
    a = tag_release(repo)
    name = PREVIOUS_RELEASE_LESSON
    lesson = nbformat.reads(git("show", f"v{a}:notebooks/{name}", cwd=repo).stdout, as_version=4)
    if release.release_of_notebook(lesson) != a:
        result.failures.append(f"{name} of the working tree belongs to release {release.release_of_notebook(lesson)},"
                               f" not {a} (__version__): run `python {RELEASE_SCRIPT}` (README.md, \"Releases\")")
        return result
    major, minor, _ = release.parse_version(a)
    b = f"{major}.{minor + 1}.0"
    next_release(repo, b)
    result.timings["releases A and B"] = time.monotonic() - start

    # The website of release B publishes its releases index; here a local server serves it.
    spec_b = importlib.util.spec_from_file_location("course_site_build_b", repo / "site" / "build.py")
    site_b = importlib.util.module_from_spec(spec_b)
    spec_b.loader.exec_module(site_b)
    website = work / "website"
    website.mkdir()
    site_b.write_releases_index(website, install_source(), changelog=repo / "CHANGELOG.md", version=b)

    made = _make_venv(result, spec, work, extra=[])
    if made is None:
        return result
    before = installed_distributions(made.python, made.env, made.outside)
    if "coursekit" in before:
        result.failures.append("coursekit was installed before the lesson ran: the check would prove nothing")
        return result
    folder = work / "saved-lesson"      # A's lesson alone, its %pip line pointed at the throw-away repository
    folder.mkdir()
    setup = next(c for c in lesson.cells if c.cell_type == "code")
    setup.source = setup_cell_for(f"file://{repo}", setup.source)
    nbformat.write(lesson, folder / name)
    server = _IndexServer(website)
    env = {k: v for k, v in made.env.items() if k != release.CHECK_VARIABLE}
    env.update({release.URL_VARIABLE: server.url + release.INDEX_NAME, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"})
    mark = time.monotonic()
    try:
        proc = _execute(made.python, made.runner, folder / name, work / f"executed-{name}", env)
    except subprocess.TimeoutExpired:
        result.failures.append(f"{name} of release {a} did not finish within {NOTEBOOK_TIMEOUT_S} s")
        return result
    finally:
        server.close()
        result.timings[name] = time.monotonic() - mark
    if proc.returncode != 0:
        result.failures.append(f"{name} of release {a} did not run to the end after release {b}:\n"
                               + _tail(proc.stderr, 4000))
        return result
    installed = installed_distributions(made.python, made.env, made.outside).get("coursekit", ("none",))[0]
    result.added = {"coursekit": installed}
    if installed != a:
        result.failures.append(f"{name} of release {a} installed coursekit {installed}, not its release {a}")
    executed = nbformat.read(work / f"executed-{name}", as_version=4)
    first = next(c for c in executed.cells if c.cell_type == "code")
    printed = "".join(o.get("text", "") for o in first.outputs if o.get("name") == "stdout")
    said = [line for line in printed.splitlines() if line.startswith(f"coursekit {a} (this lesson is from release {a}")]
    if not said or f"a newer release is out: {b}" not in said[-1] or NEXT_RELEASE_SUMMARY not in said[-1]:
        result.failures.append(f"{name}'s setup cell did not say that release {b} is out ({NEXT_RELEASE_SUMMARY!r}); "
                               f"it printed:\n{_tail(printed)}")
    if server.requested.count("/" + release.INDEX_NAME) != 1:
        result.failures.append(f"the releases index was asked for {server.requested}, not once")
    _report_warnings(result, f"{name} of release {a}", executed)
    result.timings["total"] = time.monotonic() - start
    if not result.failures:
        shutil.rmtree(made.path, ignore_errors=True)
    return result


# ---------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------

def build_wheel(out: Path) -> Path:
    """A wheel built from this checkout into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    proc = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", out, ROOT],
                env=os.environ, cwd=out, timeout=PIP_TIMEOUT_S)
    if proc.returncode != 0:
        raise RuntimeError(f"building the coursekit wheel failed:\n{_tail(proc.stderr or proc.stdout)}")
    wheels = list(out.glob("coursekit-*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"expected one coursekit wheel in {out}, got {wheels}")
    return wheels[0]


class _Jobs:
    """This module's slow jobs for one test session: the wheel and the environments, in threads."""

    def __init__(self) -> None:
        self.base: Path | None = None
        self.pool: ThreadPoolExecutor | None = None
        self.wheel = None                   # Future[Path]
        self.environments: dict = {}        # {env name: Future[EnvResult]}


_JOBS = _Jobs()
_THIS_MODULE = sys.modules[__name__]


def _selected_envs(items) -> list[str]:
    return [name for name in [*ENV_NAMES, PREVIOUS_RELEASE]
            if any(getattr(item, "module", None) is _THIS_MODULE and getattr(item, "callspec", None) is not None
                   and item.callspec.params.get("env_name") == name for item in items)]


def start_background_jobs(items) -> None:
    """Build the wheel and every environment the selected ``items`` need, in threads, now.

    conftest.py calls this right after collection, so that (under --full) the
    environments build while the rest of the suite runs; their tests run last and wait.
    """
    if _JOBS.pool is not None:
        return
    envs = _selected_envs(items)
    wants_wheel = bool(envs) or any(getattr(item, "module", None) is _THIS_MODULE
                                    and "wheel" in getattr(item, "fixturenames", ()) for item in items)
    if not wants_wheel:
        return
    _STOP.clear()
    _JOBS.base = Path(tempfile.mkdtemp(prefix="coursekit-install-checks-"))
    # The code under test, as it is now (later edits in the checkout don't leak into a running check).
    repo = snapshot_working_tree(_JOBS.base / "course-repo") if envs else None
    if repo is not None:
        tag_release(repo)   # the release the lessons' setup cells install
    _JOBS.pool = ThreadPoolExecutor(max_workers=len(envs) + 1, thread_name_prefix="install-check")
    _JOBS.wheel = _JOBS.pool.submit(build_wheel, _JOBS.base / "wheel")
    specs = env_specs()

    def run(name):
        if name == PREVIOUS_RELEASE:
            return run_previous_release(_JOBS.base / f"env-{name}")
        spec = specs[name]
        wheel = _JOBS.wheel.result() if spec.install == "wheel" else None
        return run_environment(spec, _JOBS.base / f"env-{name}", wheel=wheel, repo=repo)

    _JOBS.environments = {name: _JOBS.pool.submit(run, name) for name in envs}


def stop_background_jobs() -> None:
    """The session is over: stop what still runs (at once) and clean up after a fully successful run."""
    if _JOBS.pool is None:
        return
    _STOP.set()
    with _RUNNING_LOCK:
        for proc in list(_RUNNING):
            _kill(proc)
    _JOBS.pool.shutdown(wait=True)
    results = [future.result() for future in _JOBS.environments.values() if future.exception() is None]
    clean = len(results) == len(_JOBS.environments) and not any(r.failures or r.install_changes for r in results)
    if clean and (_JOBS.wheel.exception() is None):
        shutil.rmtree(_JOBS.base, ignore_errors=True)
    _JOBS.__init__()


@pytest.fixture(scope="module")
def wheel(request) -> Path:
    """A wheel built from this checkout, once per session."""
    start_background_jobs(request.session.items)   # a no-op when conftest.py already started them
    return _JOBS.wheel.result()


@pytest.fixture(scope="module")
def environment_runs(request):
    """{env name: Future[EnvResult]}: every selected environment, building concurrently."""
    start_background_jobs(request.session.items)
    return _JOBS.environments


def _result_or_skip(env_name, environment_runs) -> EnvResult:
    result = environment_runs[env_name].result()
    if result.missing:
        message = f"[{env_name}] cannot build the '{result.spec.description}' environment: {result.missing}"
        if _in_ci():
            pytest.fail(message + " (CI=true: the install checks must run in CI)")
        pytest.skip(message)
    return result


# ---------------------------------------------------------------------------------------
# Fast tests: the specs and the comparisons themselves
# ---------------------------------------------------------------------------------------

_COMPILE_ALL = """
import json, sys
failures = []
for name, source in json.load(sys.stdin):
    try:
        compile(source, name, "exec")
    except SyntaxError as error:
        failures.append(f"{name}, line {error.lineno}: {error.msg}: {(error.text or '').strip()}")
print(json.dumps(failures))
"""


def _python_sources() -> list[tuple[str, str]]:
    """(name, source) of every coursekit module and every notebook code cell, magics turned into plain calls."""
    from IPython.core.inputtransformer2 import TransformerManager

    sources = [(str(path.relative_to(ROOT)), path.read_text(encoding="utf-8"))
               for path in sorted((ROOT / "coursekit").rglob("*.py"))]
    transform = TransformerManager().transform_cell
    for notebook in NOTEBOOKS:
        cells = nbformat.read(notebook, as_version=4).cells
        code = [cell for cell in cells if cell.cell_type == "code"]
        sources += [(f"{notebook.name}, code cell {i}", transform(cell.source)) for i, cell in enumerate(code, 1)]
    return sources


def test_every_module_and_notebook_cell_compiles_on_the_oldest_supported_python():
    """Syntax newer than requires-python (3.11's ``d[a, *b]``, 3.12's reused quotes in f-strings) fails here in
    seconds, not after the oldest environment's full build; the newest Python on this machine cannot see it."""
    oldest = oldest_python()
    interpreter = interpreters().get(oldest)
    if interpreter is None:
        message = f"Python {oldest[0]}.{oldest[1]} (requires-python's lower bound) is not on this machine"
        if _in_ci():
            pytest.fail(message + " (CI=true: this check must run in CI)")
        pytest.skip(message)
    sources = _python_sources()
    assert len(sources) > 100, f"only {len(sources)} sources found under {ROOT}"
    out = subprocess.run([str(interpreter), "-I", "-c", _COMPILE_ALL], input=json.dumps(sources),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    failures = json.loads(out.stdout)
    assert not failures, (f"{len(failures)} source(s) do not compile on Python {oldest[0]}.{oldest[1]} "
                          f"({interpreter}):\n  " + "\n  ".join(failures))


def test_lower_bounds_are_read_from_pyproject():
    pins = {p.name: p.requirement() for p in lower_bound_pins()}
    deps = _pyproject()["dependencies"]
    assert len(pins) == len(deps)
    for dep in deps:
        name, bound = dep.split(">=")
        assert pins[name].startswith(f"{name}=={bound}"), (dep, pins[name])
    kernel = {p.name for p in lower_bound_pins(kernel_extras=True)} - set(pins)
    assert kernel == set(NOTEBOOK_EXTRA_FOR_KERNEL), kernel
    assert Pin("numpy", "==*", "1.26").satisfied_by("1.26.4")
    assert not Pin("numpy", "==*", "1.26").satisfied_by("1.27.0")
    assert Pin("numpy", "==", "2.1.3").satisfied_by("2.1.3") and not Pin("numpy", "==", "2.1.3").satisfied_by("2.1.4")
    assert Pin("python-dateutil", "==", "2.9.0.post0").satisfied_by("2.9.0.post0")
    assert not Pin("python-dateutil", "==", "2.9.0.post0").satisfied_by("2.9.0")
    assert Pin("numpy", ">=", "2.1.3").satisfied_by("2.2.0") and not Pin("numpy", ">=", "2.1.3").satisfied_by("2.0.2")


def test_colab_already_satisfies_every_requirement_of_coursekit():
    """Fast early warning: a requirement Colab's version does not meet would make the install change it."""
    colab = {canonicalize_name(name): version for name, version in COLAB_PACKAGES.items()}
    for text in _pyproject()["dependencies"]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        if name in NOT_ON_COLAB:
            continue
        assert name in colab, (f"coursekit requires {text!r}, but COLAB_PACKAGES lacks {name}: add Colab's "
                               f"version, or list it in NOT_ON_COLAB if Colab does not preinstall it")
        assert requirement.specifier.contains(colab[name], prereleases=True), (
            f"coursekit requires {text!r}, but Colab has {name} {colab[name]}: installing coursekit on Colab would "
            f"change it; lower the bound")
    assert "ipywidgets" not in {canonicalize_name(Requirement(t).name) for t in _pyproject()["dependencies"]}, \
        "ipywidgets must stay out of the core dependencies (Colab renders only its preinstalled ipywidgets 7)"


def test_compare_installed_names_every_kind_of_change():
    before = {"numpy": ("2.1.3", 1), "ipywidgets": ("7.7.1", 1), "scipy": ("1.15.3", 1), "six": ("1.17.0", 1),
              "tqdm": ("4.67.1", 1), "pip": ("24.1.2", 1)}
    after = {"numpy": ("2.2.0", 2), "ipywidgets": ("7.7.1", 1), "scipy": ("1.14.1", 2), "six": ("1.17.0", 9),
             "pip": ("24.1.2", 1), "coursekit": ("0.1.0", 3), "comm": ("0.2.3", 3)}
    changes = compare_installed(before, after)
    assert changes == [
        "comm 0.2.3 was added: this Colab-like environment does not have it. If Colab preinstalls comm, add "
        "Colab's version to COLAB_PACKAGES; if it does not, add it to NOT_ON_COLAB",
        "numpy was upgraded from 2.1.3 to 2.2.0",
        "scipy was downgraded from 1.15.3 to 1.14.1",
        "six 1.17.0 was reinstalled over the preinstalled copy",
        "tqdm 4.67.1 was removed",
    ]
    assert compare_installed(before, {**before, "coursekit": ("0.1.0", 3)}) == []
    assert compare_installed(before, {**before, "comm": ("0.2.3", 3)}, may_add={"coursekit", "comm"}) == []


def test_setup_cell_is_pointed_at_another_url_and_nothing_else_changes():
    source = setup_cell_source()
    changed = setup_cell_for("file:///tmp/course-repo", source)
    old_lines, new_lines = source.splitlines(), changed.splitlines()
    differing = [(a, b) for a, b in zip(old_lines, new_lines) if a != b]
    assert len(old_lines) == len(new_lines) and len(differing) == 1, differing
    old, new = differing[0]
    assert old.lstrip().startswith("%pip install") and new == old.replace(
        f"git+{install_source()}", "git+file:///tmp/course-repo")
    with pytest.raises(AssertionError, match="exactly one"):
        setup_cell_for("file:///tmp/x", "import coursekit\n")


# ---------------------------------------------------------------------------------------
# Slow tests: the environments (python -m pytest --full)
# ---------------------------------------------------------------------------------------

@pytest.mark.slow
def test_wheel_ships_the_package_and_its_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    stored = sorted(p.name for p in (ROOT / "data").iterdir() if p.suffix in (".csv", ".npz"))
    assert {"noisy_moons.csv", "digits.npz"} <= set(stored), stored
    for name in stored:
        assert f"coursekit/data/{name}" in names, f"the wheel lacks the data set {name}: {sorted(names)}"
    modules = {f"coursekit/{p.relative_to(ROOT / 'coursekit').as_posix()}"
               for p in (ROOT / "coursekit").rglob("*.py")}
    assert modules <= names, f"the wheel lacks modules: {sorted(modules - names)}"
    with zipfile.ZipFile(wheel) as zf:
        for name in stored:
            assert zf.read(f"coursekit/data/{name}") == (ROOT / "data" / name).read_bytes(), \
                f"the wheel's {name} differs from data/"


@pytest.mark.slow
@pytest.mark.parametrize("env_name", ["colab"])
def test_installing_coursekit_on_colab_changes_no_preinstalled_package(env_name, environment_runs):
    """The setup cell's %pip line, from a git URL, leaves every package Colab has as it was."""
    result = _result_or_skip(env_name, environment_runs)
    print(result.summary())
    assert result.pins_used, f"[{env_name}] the Colab-like environment was not built:\n\n" + "\n\n".join(result.failures)
    assert not result.install_changes, (
        f"[{env_name}] installing coursekit through the setup cell's %pip line changed "
        f"{len(result.install_changes)} of Colab's preinstalled packages (Colab must keep its own):\n  "
        + "\n  ".join(result.install_changes) + "\n\n" + result.summary())


@pytest.mark.slow
@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_course_runs_in_fresh_env(env_name, environment_runs):
    """Fresh venv + coursekit as installed there: the data load from the package and every notebook runs alone."""
    result = _result_or_skip(env_name, environment_runs)
    for note in result.notes:
        warnings.warn(f"[{env_name}] {note}", InstallEnvWarning, stacklevel=1)
    print(result.summary())
    assert not result.failures, (
        f"[{env_name}] {result.python}, {' '.join(p.requirement() for p in result.pins_used)}: "
        f"{len(result.failures)} failure(s):\n\n" + "\n\n".join(result.failures) + "\n\n" + result.summary())


@pytest.mark.slow
def test_wheel_carries_the_release_and_its_changelog(wheel):
    """The wheel is named for __version__ (pyproject reads it) and ships CHANGELOG.md (coursekit.release reads it)."""
    version = working_tree_release(ROOT)
    assert wheel.name.startswith(f"coursekit-{version}-"), f"{wheel.name} is not release {version}"
    with zipfile.ZipFile(wheel) as zf:
        metadata = zf.read(f"coursekit-{version}.dist-info/METADATA").decode()
        shipped = zf.read("coursekit/CHANGELOG.md")
    assert f"\nVersion: {version}\n" in metadata
    assert shipped == (ROOT / "CHANGELOG.md").read_bytes(), "the wheel's CHANGELOG.md differs from the repository's"


@pytest.mark.slow
@pytest.mark.parametrize("env_name", [PREVIOUS_RELEASE])
def test_a_lesson_of_the_previous_release_still_runs_and_says_a_newer_one_is_out(env_name, environment_runs):
    """Issue 24: a lesson saved from release A and reopened after release B installs A (not B) through its own
    setup cell in Colab's environment, runs to the end without a warning, and prints that B is out."""
    result = _result_or_skip(env_name, environment_runs)
    print(result.summary())
    assert not result.failures, (f"[{env_name}] {len(result.failures)} failure(s):\n\n" + "\n\n".join(result.failures)
                                 + "\n\n" + result.summary())


def test_warnings_in_reports_warnings_and_stderr_but_not_ordinary_output():
    nb = nbformat.v4.new_notebook()
    stream = lambda name, text: nbformat.v4.new_output("stream", name=name, text=text)  # noqa: E731
    nb.cells = [
        nbformat.v4.new_markdown_cell("UserWarning in prose is fine"),
        nbformat.v4.new_code_cell("a", outputs=[stream("stdout", "train loss 0.1\nno warnings here\n")]),
        nbformat.v4.new_code_cell("b", outputs=[stream("stderr", "epochs: 100%|##########| 3/3\n")]),
        nbformat.v4.new_code_cell("c", outputs=[stream("stdout", "/x.py:3: OptimizeWarning: Unknown solver options\n")]),
        nbformat.v4.new_code_cell("d", outputs=[stream("stdout", f"WARNING: Location 'x' {MACHINE_PIP_NOTE}.\n")]),
        nbformat.v4.new_code_cell("e", outputs=[stream("stdout", "\x1b[33mWARNING: pip is out of date\x1b[0m\n")]),
    ]
    found = warnings_in(nb, ignore=(MACHINE_PIP_NOTE,))
    assert [line.split(",")[0] for line in found] == ["cell 2 (code cell 1)", "cell 3 (code cell 2)",
                                                      "cell 5 (code cell 4)"], found
    assert "OptimizeWarning: Unknown solver options" in found[1] and "\x1b" not in found[2]
    assert len(warnings_in(nb)) == 4   # without the ignore list the machine's pip note counts too
