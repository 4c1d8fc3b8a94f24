"""The grader's sandbox (coursekit.grade.sandbox), tested by trying what a hostile submission would try.

Each test runs a little program in a sandbox made the way the grader makes them and checks what it
could do: write the course or Python, see a classmate's notebook or the grader's tables, reach the
network, read the grader's environment, leave a process behind, or exceed its limits.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from coursekit.grade import sandbox as sandbox_module
from coursekit.grade.sandbox import SANDBOX_UID_BASE, Limits, find_sandbox

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("bwrap") is None,
                                reason="the sandbox needs Linux and bubblewrap (apt-get install bubblewrap)")
ROOT = Path(__file__).resolve().parent.parent
LIMITS = Limits(memory_bytes=512 << 20, processes=48, file_bytes=8 << 20, home_bytes=16 << 20, tmp_bytes=16 << 20)
SECRET = "grader-secret-7f3a"


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    """A classmate's notebook and the grader's tables, on the host; and the sandbox, told to protect them."""
    room = tmp_path_factory.mktemp("classroom")
    (room / "submissions" / "bob").mkdir(parents=True)
    (room / "submissions" / "bob" / "02_dropout.ipynb").write_text('{"cells": []}')
    (room / "grades.csv").write_text("learner,score\nbob,1.0\n")
    box = find_sandbox(limits=LIMITS, protected=[room / "submissions", room / "grades.csv"])
    return room, box


def run(box, code: str, *, course: bool = False, shared=(), slot: int = 0, timeout: float = 60):
    """Run ``code`` with Python in a fresh sandbox; its result as printed JSON (the last line), and the process."""
    host_dir = Path(tempfile.mkdtemp(prefix="coursekit-sandbox-test-"))
    try:
        box.prepare(host_dir, slot)
        argv = box.wrap([sys.executable, "-I", "-c", textwrap.dedent(code)], host_dir=host_dir, slot=slot,
                        course=course, env={"COURSEKIT_PROGRESS": "0"}, shared=list(shared))
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              env={"PATH": os.environ["PATH"], "GRADER_SECRET": SECRET, "PWD": str(ROOT)})
    finally:
        shutil.rmtree(host_dir, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


TRY = """
import json, os, errno
def attempt(action):
    try:
        action()
        return "done"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    except Exception as exc:
        return type(exc).__name__
"""


def test_the_course_and_python_are_read_only(classroom):
    _, box = classroom
    import coursekit
    import numpy

    package, site = Path(coursekit.__file__).parent, Path(numpy.__file__).parent.parent
    found = run(box, TRY + f"""
print(json.dumps({{
    "read course": attempt(lambda: open({str(package / "__init__.py")!r}).read(10)),
    "patch course": attempt(lambda: open({str(package / "exercises" / "__init__.py")!r}, "a").write("x")),
    "new file in course": attempt(lambda: open({str(package / "cheat.py")!r}, "w")),
    "patch numpy": attempt(lambda: open({str(Path(numpy.__file__))!r}, "a")),
    "new file in site-packages": attempt(lambda: open({str(site / "sitecustomize.py")!r}, "w")),
    "usr": attempt(lambda: open("/usr/lib/evil", "w")),
}}))""", course=True)
    refused = {"EROFS", "EACCES"}   # a read-only mount, and (as a user of its own) not the files' owner
    assert found.pop("read course") == "done"
    assert set(found.values()) <= refused, found


def test_nothing_else_of_the_machine_is_visible(classroom, tmp_path):
    room, box = classroom
    marker = Path(tempfile.gettempdir()) / f"host-marker-{os.getpid()}"
    marker.write_text("host")
    try:
        found = run(box, TRY + f"""
def notebooks():
    found = []
    for folder, subfolders, files in os.walk("/"):
        subfolders[:] = [d for d in subfolders if os.path.join(folder, d) not in ("/proc", "/sys", "/dev", "/usr")
                         and d != "site-packages"]
        found += [os.path.join(folder, f) for f in files if f.endswith(".ipynb")]
    return found[:5]
print(json.dumps({{
    "classmate": attempt(lambda: open({str(room / "submissions" / "bob" / "02_dropout.ipynb")!r}, "a")),
    "tables": attempt(lambda: open({str(room / "grades.csv")!r}, "a")),
    "grader cwd": sorted(os.listdir({os.getcwd()!r})) if os.path.isdir({os.getcwd()!r}) else [],
    "host tmp": os.path.exists({str(marker)!r}),
    "host home": os.path.exists({str(Path.home() / ".bashrc")!r}) or os.path.exists("/root/.bashrc"),
    "notebooks anywhere": notebooks(),
    "repository": os.path.exists({str(ROOT / "README.md")!r}) or os.path.exists({str(ROOT / ".git")!r}),
}}))""", course=True)
    finally:
        marker.unlink()
    # The grader's folder (here the repository) shows at most the mount points of Python and the course.
    assert set(found.pop("grader cwd")) <= {".venv", "coursekit", "data"}
    assert found == {"classmate": "ENOENT", "tables": "ENOENT", "host tmp": False, "host home": False,
                     "notebooks anywhere": [], "repository": False}


def test_a_protected_folder_inside_a_mounted_one_is_hidden():
    hidden = ROOT / "coursekit" / "grade"      # as if the submissions lived inside the installed course
    box = find_sandbox(limits=LIMITS, protected=[hidden])
    found = run(box, f"import json, os; print(json.dumps(os.listdir({str(hidden)!r})))", course=True)
    assert found == []


def test_the_learners_process_has_no_coursekit_on_disk(classroom):
    _, box = classroom
    import coursekit

    found = run(box, TRY + f"""
import importlib
print(json.dumps({{
    "package on disk": os.path.exists({str(Path(coursekit.__file__))!r}),
    "import": attempt(lambda: importlib.import_module("coursekit.exercises")),
}}))""", course=False)
    assert found == {"package on disk": False, "import": "ModuleNotFoundError"}


def test_home_and_tmp_are_private_writable_limited_and_gone_afterwards(classroom):
    _, box = classroom
    code = TRY + """
home = os.environ["HOME"]
def big():
    with open("/tmp/big", "wb") as f:
        f.write(b"x" * (12 << 20))
def full():
    for i in range(4):
        with open(f"{home}/part{i}", "wb") as f:
            f.write(b"x" * (6 << 20))
print(json.dumps({"home": attempt(lambda: open(f"{home}/notes.txt", "w").write("mine")),
                  "tmp": attempt(lambda: open("/tmp/scratch", "w").write("mine")),
                  "cwd is home": os.getcwd() == home, "file over the size limit": attempt(big),
                  "folder over its size": attempt(full)}))"""
    found = run(box, code)
    assert found["home"] == found["tmp"] == "done" and found["cwd is home"]
    assert found["file over the size limit"] == "EFBIG" and found["folder over its size"] == "ENOSPC"
    # Python may itself live under /tmp (a clone there, with its .venv): its mount point is all /tmp may show.
    mount_points = sorted({Path(p).parts[2] for p in box._python  # run() mounts Python, not the course
                           if Path(p).is_absolute() and Path(p).parts[1:2] == ("tmp",) and len(Path(p).parts) > 2})
    left = run(box, "import json, os; print(json.dumps([os.listdir(os.environ['HOME']), sorted(os.listdir('/tmp'))]))")
    assert left == [[], mount_points]


def test_there_is_no_network(classroom):
    _, box = classroom
    found = run(box, TRY + """
import socket
def connect(address):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(3)
    s.connect(address)
print(json.dumps({"internet": attempt(lambda: connect(("1.1.1.1", 53))),
                  "name lookup": attempt(lambda: socket.getaddrinfo("example.com", 80)),
                  "interfaces": [name for _, name in socket.if_nameindex()]}))""")
    assert found["internet"] == "ENETUNREACH" and found["name lookup"] != "done" and found["interfaces"] == ["lo"]


def test_the_environment_is_scrubbed(classroom):
    _, box = classroom
    found = run(box, TRY + """
def environ_of_first():
    return open("/proc/1/environ", "rb").read().decode(errors="replace")
text = ""
try:
    text = environ_of_first()
except OSError:
    pass
print(json.dumps({"names": sorted(os.environ), "pwd": os.environ.get("PWD"), "home": os.environ["HOME"],
                  "secret anywhere": "grader-secret" in text + json.dumps(dict(os.environ))}))""")
    assert set(found["names"]) <= {"HOME", "USER", "LOGNAME", "LANG", "TMPDIR", "PATH", "PWD", "COURSEKIT_PROGRESS"}
    assert found["pwd"] == found["home"] == "/home/learner" and not found["secret anywhere"]


def _alive(marker: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker.encode() in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                pass
    return found


DETACH = """
import os, sys, time, subprocess
beat = sys.argv[1]
code = "import os, sys, time\\nwhile True:\\n    open(sys.argv[1], 'w').write(str(time.time()))\\n    time.sleep(0.05)"
subprocess.Popen([sys.executable, "-c", code, beat, "MARKER"], start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
if os.fork() == 0:          # and a double fork, re-parented to the sandbox's first process
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", code, beat + ".2", "MARKER"])
    os._exit(0)
time.sleep(0.5)
"""


@pytest.mark.parametrize("how", ["exits", "is killed"])
def test_every_process_ends_with_the_sandbox(classroom, tmp_path, how):
    _, box = classroom
    marker = f"detached-{os.getpid()}-{how.replace(' ', '-')}"
    shared = tmp_path / "shared"
    shared.mkdir()
    box.prepare(shared, 0)
    host_dir = tmp_path / "host"
    host_dir.mkdir()
    box.prepare(host_dir, 0)
    beat = shared / "beat"
    argv = box.wrap([sys.executable, "-c", DETACH.replace("MARKER", marker), str(beat)], host_dir=host_dir, slot=0,
                    course=False, env={}, shared=[shared])
    if how == "exits":
        subprocess.run(argv, timeout=60, env={"PATH": os.environ["PATH"]}, check=True)
    else:
        first = subprocess.Popen(argv, env={"PATH": os.environ["PATH"]},
                                 start_new_session=True)
        deadline = time.monotonic() + 30
        while not (beat.exists() and Path(f"{beat}.2").exists()) and time.monotonic() < deadline:
            time.sleep(0.05)
        first.kill()      # SIGKILL to the sandbox's bwrap, as the grader does on a stop
        first.wait(timeout=30)
    time.sleep(0.5)
    stamps = [p.read_text() for p in (beat, Path(f"{beat}.2")) if p.exists()]
    time.sleep(0.5)
    assert [p.read_text() for p in (beat, Path(f"{beat}.2")) if p.exists()] == stamps, "a process still writes"
    assert _alive(marker) == []


def test_memory_processes_and_file_size_are_limited(classroom):
    _, box = classroom
    found = run(box, TRY + """
import subprocess, numpy as np
def hog():
    np.ones(10 ** 9)
started = []
def spawn():
    while len(started) < 200:
        started.append(subprocess.Popen(["sleep", "60"]))
result = {"memory": attempt(hog), "processes": attempt(spawn)}
result["started"] = len(started)
for p in started:
    p.kill()
print(json.dumps(result))""")
    assert found["memory"] == "MemoryError"
    assert found["processes"] == "EAGAIN" and found["started"] < LIMITS.processes


@pytest.mark.skipif(os.geteuid() != 0, reason="a user id of its own needs the grader to run as root")
def test_as_root_each_sandbox_runs_as_a_user_of_its_own(classroom):
    _, box = classroom
    code = "import json, os; print(json.dumps([os.getuid(), os.geteuid(), os.getgid(), os.getgroups()]))"
    assert run(box, code, slot=0) == [SANDBOX_UID_BASE, SANDBOX_UID_BASE, SANDBOX_UID_BASE, []]
    assert run(box, code, slot=3)[0] == SANDBOX_UID_BASE + 3


def test_a_missing_bubblewrap_is_named_with_the_fix(monkeypatch):
    monkeypatch.setattr(sandbox_module.shutil, "which", lambda name: None)
    with pytest.raises(sandbox_module.SandboxUnavailable, match="bubblewrap is not installed.*apt-get install"):
        find_sandbox()
    monkeypatch.setattr(sandbox_module.sys, "platform", "darwin")
    with pytest.raises(sandbox_module.SandboxUnavailable, match="needs Linux"):
        find_sandbox()
