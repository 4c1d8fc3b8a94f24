"""Where learners' code runs: a bubblewrap sandbox per submission (Linux), or, when told
``--no-sandbox``, plainly as the instructor.

A sandbox (``Bubblewrap``) gives the processes it starts

* a **read-only** view of the system (``/usr``), of Python and its installed packages, and, for
  the notebook's kernel only, of the course's package (``coursekit`` and its data); nothing else of
  the machine: no home folder, no other submission, not the grader's outputs;
* a **private writable** home and ``/tmp`` (memory-backed, size-limited), gone when it ends;
* **no network** (a network namespace of its own with only a loopback), its own IPC and host name;
* a **scrubbed environment** (only the variables it needs: ``HOME``, ``PATH``, the locale...);
* its **own process namespace**: when its first process ends, or the grader (or the sandbox's
  ``bwrap``) is killed, the kernel kills every process in it, detached or not;
* **limits**: memory per process (``RLIMIT_DATA``), number of processes, size of a file, open files;
  and, when the grader runs as root, a user id of its own (``SANDBOX_UID_BASE`` + slot) that owns no
  file, so that the process limit is its own and no file of the machine is writable by owner.

What it does not do: it does not filter system calls (a kernel exploit is out of its scope), it does
not limit CPU time (the grader's wall-clock limits stop a run), and what it mounts read-only (Python,
its packages, the course's package for the notebook's run) can be read.
"""
from __future__ import annotations

import os
import shutil
import signal
import site
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

HOME = "/home/learner"
SANDBOX_UID_BASE = 1_073_676_288   # 0x3fff0000: far above any account's user id
_ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf", "hosts", "mime.types")
_SYSTEM_DIRS = ("/bin", "/lib", "/lib32", "/lib64", "/libx32", "/sbin")


@dataclass(frozen=True)
class Limits:
    """What one sandboxed process may use (each process, except ``processes``: per sandbox)."""

    memory_bytes: int = 4 << 30      # RLIMIT_DATA: heap and anonymous memory of one process
    processes: int = 256             # RLIMIT_NPROC
    file_bytes: int = 256 << 20      # RLIMIT_FSIZE: the biggest file it may write
    open_files: int = 4096           # RLIMIT_NOFILE
    home_bytes: int = 512 << 20      # size of the private home folder
    tmp_bytes: int = 512 << 20       # size of the private /tmp (and of /dev/shm)


class SandboxUnavailable(RuntimeError):
    """No sandbox can be made here; the message says why and what to do."""


def _exists(path) -> bool:
    try:
        return os.path.lexists(path)
    except OSError:
        return False


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def _checkouts() -> list[Path]:
    """The course's checkouts coursekit is imported from (an editable install), if any."""
    import coursekit

    roots = [Path(p).resolve().parent for p in coursekit.__path__]
    return [root for root in roots if (root / "pyproject.toml").is_file()]


def course_paths() -> list[Path]:
    """The installed course: coursekit's package folder(s) and the checkout's data folder, if any."""
    import coursekit

    return [Path(p).resolve() for p in coursekit.__path__] + \
        [root / "data" for root in _checkouts() if (root / "data").is_dir()]


def python_paths() -> list[Path]:
    """What Python needs: its installation, the virtual environment, its packages (never the course's
    checkout itself, even when an editable install puts it on ``sys.path``)."""
    course_roots = _checkouts()
    candidates = {Path(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    candidates.add(Path(os.path.realpath(sys.executable)).parent.parent)
    candidates.update(Path(p) for p in sysconfig.get_paths().values())
    candidates.update(Path(p) for p in site.getsitepackages())
    # Other folders on sys.path (a .pth file's, PYTHONPATH's), but none of the course's checkout (its tests...).
    candidates.update(Path(p) for p in sys.path if p and os.path.isabs(p)
                      and not any(_is_within(Path(p).resolve(), root) for root in course_roots))
    found = []
    for path in candidates:
        try:
            path = path.resolve()
        except OSError:
            continue
        if path.is_dir() and path not in course_roots and Path(os.getcwd()).resolve() != path \
                and not any(_is_within(root, path) for root in course_roots if root != path) \
                and str(path) != "/":
            found.append(path)
    # Keep only the outermost folders: /usr covers /usr/lib/python3.11.
    found.sort(key=lambda p: len(p.parts))
    outer = []
    for path in found:
        if not any(_is_within(path, kept) for kept in outer):
            outer.append(path)
    return outer


def installed_coursekit(paths: list[Path]) -> list[Path]:
    """Copies of coursekit inside the mounted Python folders (a regular install in site-packages)."""
    hidden = []
    for root in paths:
        for site_dir in {Path(p) for p in site.getsitepackages() + [sysconfig.get_paths()["purelib"]]}:
            if _is_within(site_dir, root):
                hidden += [p for p in site_dir.glob("coursekit*") if p.is_dir()]
    return sorted(set(hidden))


@dataclass
class Sandbox:
    """A way to run learners' processes. ``wrap(argv, ...)`` returns the command to start instead."""

    limits: Limits = field(default_factory=Limits)
    protected: list[Path] = field(default_factory=list)   # never visible inside (submissions, outputs)
    name = "none"

    def uid_of(self, slot: int) -> int | None:
        return None

    def prepare(self, folder: Path, slot: int) -> None:
        """Make ``folder`` (on the host) writable by the sandbox of ``slot``."""

    def wrap(self, argv: list[str], *, host_dir: Path, slot: int, course: bool, env: dict[str, str],
             extra_ro: list[tuple[str, str]] = (), shared: list[Path] = ()) -> list[str]:
        raise NotImplementedError

    def launch_env(self, env: dict[str, str]) -> dict[str, str]:
        """The environment to start the wrapped command with (``env``: what the learner's process gets)."""
        raise NotImplementedError


@dataclass
class Unsandboxed(Sandbox):
    """``--no-sandbox``: the learner's code runs as the instructor, with the instructor's files and network."""

    name = "none"

    def wrap(self, argv, *, host_dir, slot, course, env, extra_ro=(), shared=()):
        return list(argv)

    def launch_env(self, env):
        return {**os.environ, **env}


@dataclass
class Bubblewrap(Sandbox):
    """A bubblewrap (``bwrap``) sandbox; see the module docstring for what it gives and what not."""

    bwrap: str = "bwrap"
    name = "bubblewrap"

    def __post_init__(self) -> None:
        self.root = os.geteuid() == 0
        self.setpriv = shutil.which("setpriv")
        self.prlimit = shutil.which("prlimit")
        self._python = python_paths()
        self._course = course_paths()
        self._hidden = installed_coursekit(self._python)

    def uid_of(self, slot: int) -> int:
        return SANDBOX_UID_BASE + slot if self.root else os.getuid()

    def launch_env(self, env):
        # bwrap itself gets only PATH: its own first process stays in the sandbox, and its environment
        # would be readable there (when not root); the learner's processes get theirs from --setenv.
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}

    def prepare(self, folder: Path, slot: int) -> None:
        if self.root:
            os.chown(folder, self.uid_of(slot), self.uid_of(slot))

    def _process_limit(self, slot: int) -> int:
        if self.root:
            return self.limits.processes
        # Not root: RLIMIT_NPROC counts every process of the user, so leave room for the ones running now.
        mine = sum(1 for p in Path("/proc").iterdir() if p.name.isdigit() and _owner_uid(p) == os.getuid())
        return mine + self.limits.processes

    def wrap(self, argv, *, host_dir, slot, course, env, extra_ro=(), shared=()):
        uid = self.uid_of(slot)
        args = [self.bwrap, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net", "--unshare-ipc",
                "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox"]
        if self.root:
            args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        else:
            args += ["--unshare-user", "--disable-userns"]
        made: set[str] = {"/"}

        def parents(path: str) -> None:
            parts = Path(path).parts
            for i in range(2, len(parts)):
                folder = str(Path(*parts[:i]))
                if folder not in made:
                    made.add(folder)
                    args.extend(["--perms", "0755", "--dir", folder])

        def bind(source: Path | str, dest: str, *, writable: bool = False) -> None:
            parents(dest)
            args.extend(["--bind" if writable else "--ro-bind", str(source), dest])
            made.add(dest)

        args += ["--ro-bind", "/usr", "/usr"]
        for path in _SYSTEM_DIRS:
            if os.path.islink(path):
                args += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                args += ["--ro-bind", path, path]
        for name in _ETC_FILES:
            if _exists(f"/etc/{name}"):
                bind(f"/etc/{name}", f"/etc/{name}")
        passwd, group = host_dir / "passwd", host_dir / "group"
        passwd.write_text(f"root:x:0:0::/root:/bin/sh\nlearner:x:{uid}:{uid}:learner:{HOME}:/bin/sh\n")
        group.write_text(f"root:x:0:\nlearner:x:{uid}:\n")
        bind(passwd, "/etc/passwd")
        bind(group, "/etc/group")
        args += ["--dev", "/dev", "--proc", "/proc",
                 "--perms", "1777", "--size", str(self.limits.tmp_bytes), "--tmpfs", "/tmp",
                 "--perms", "1777", "--size", str(self.limits.tmp_bytes), "--tmpfs", "/dev/shm"]
        parents(HOME)
        args += ["--perms", "0777", "--size", str(self.limits.home_bytes), "--tmpfs", HOME]
        mounted = list(self._python) + (list(self._course) if course else [])
        for path in mounted:
            if not str(path).startswith("/usr/"):
                bind(path, str(path))
        hidden = list(self._hidden) if not course else []
        hidden += [p for p in self.protected if any(_is_within(p, m) for m in mounted + [Path("/usr")])]
        for path in hidden:
            if path.is_dir():
                args += ["--tmpfs", str(path)]
            elif path.exists():
                args += ["--ro-bind", "/dev/null", str(path)]
        for source, dest in extra_ro:
            bind(source, dest)
        for path in shared:
            bind(path, str(path), writable=True)
        args += ["--chdir", HOME, "--clearenv"]
        for key, value in {"HOME": HOME, "USER": "learner", "LOGNAME": "learner", "LANG": "C.UTF-8",
                           "TMPDIR": "/tmp", "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
                           **env}.items():
            args += ["--setenv", key, value]
        args.append("--")
        if self.root:
            args += [self.setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]
        limits = self.limits
        args += [self.prlimit, f"--data={limits.memory_bytes}", f"--nproc={self._process_limit(slot)}",
                 f"--fsize={limits.file_bytes}", f"--nofile={limits.open_files}", "--core=0", "--"]
        return args + list(argv)


def _owner_uid(proc: Path) -> int | None:
    try:
        return proc.stat().st_uid
    except OSError:
        return None


def find_sandbox(limits: Limits | None = None, protected: list[Path] = ()) -> Bubblewrap:
    """The bubblewrap sandbox, tried once; ``SandboxUnavailable`` says why there is none and what to do."""
    limits = limits or Limits()
    if not sys.platform.startswith("linux"):
        raise SandboxUnavailable(f"the grader's sandbox needs Linux (bubblewrap); this is {sys.platform}")
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable("bubblewrap is not installed (Debian, Ubuntu: `sudo apt-get install bubblewrap`; "
                                 "Fedora: `sudo dnf install bubblewrap`)")
    for tool in ("prlimit", "setpriv") if os.geteuid() == 0 else ("prlimit",):
        if shutil.which(tool) is None:
            raise SandboxUnavailable(f"`{tool}` (from util-linux) is not installed")
    sandbox = Bubblewrap(limits=limits, protected=[Path(p).resolve() for p in protected], bwrap=bwrap)
    with tempfile.TemporaryDirectory(prefix="coursekit-sandbox-probe-") as tmp:
        sandbox.prepare(Path(tmp), 0)
        argv = sandbox.wrap([sys.executable, "-I", "-c", "import numpy"], host_dir=Path(tmp), slot=0,
                            course=False, env={})
        try:
            probe = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SandboxUnavailable(f"bubblewrap could not start: {exc}") from None
    if probe.returncode != 0:
        said = (probe.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise SandboxUnavailable(f"bubblewrap cannot make a sandbox here ({said}): user namespaces may be disabled "
                                 "(sysctl kernel.unprivileged_userns_clone=1, or run the grader as root)")
    return sandbox


def end_process(process) -> None:
    """Kill a sandbox's first process (a ``subprocess.Popen`` in a session of its own) and its process group,
    and reap it. For a bubblewrap sandbox that ends every process in it; unsandboxed, detached ones survive."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            try:
                process.kill()
            except ProcessLookupError:
                pass
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass

