"""Grading one submission, and a batch of them, with a clean stop on Ctrl-C or SIGTERM."""
from __future__ import annotations

import copy
import re
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from queue import Queue

from .kernel import describe_cell, execute
from .process import LearnerProcess, child_script
from .results import Grade, Verdict
from .sandbox import Sandbox, end_process, find_sandbox
from .submissions import Malformed, code_cells, collect, learner_of, lesson_exercises, lesson_of, read_submission
from .task import score_task
from .verdicts import grade_answers

DEFAULT_TIMEOUT_S = 300.0
CHILD_DIR = "/opt/coursekit-grader"   # where the child's program is, inside a sandbox
_LESSON_IN_NAME = re.compile(r"(?<!\d)(\d\d)_")


class Batch:
    """What a batch has running, so that a stop (``stop_all``) ends every process at once."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self._live: dict[int, object] = {}
        self._lock = threading.Lock()

    def track(self, process) -> None:
        """Remember a process (a ``subprocess.Popen``) to kill on a stop; kill it now if stopping."""
        with self._lock:
            self._live[id(process)] = process
        if self.stop.is_set():
            end_process(process)

    def stop_all(self) -> None:
        self.stop.set()
        with self._lock:
            live = list(self._live.values())
        for process in live:
            end_process(process)


def start_learner_process(sandbox: Sandbox, work: Path, slot: int, batch: Batch | None) -> LearnerProcess:
    """A new process for the learner's code: sandboxed, without coursekit; tracked by ``batch``."""
    here = child_script().parent
    host_dir = Path(tempfile.mkdtemp(prefix="child-", dir=work))
    env = {"MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONDONTWRITEBYTECODE": "1"}
    if sandbox.name == "none":
        command = [sys.executable, "-I", str(here / "child.py")]
    else:
        command = sandbox.wrap([sys.executable, "-I", f"{CHILD_DIR}/child.py"], host_dir=host_dir, slot=slot,
                               course=False, env=env,
                               extra_ro=[(here / "child.py", f"{CHILD_DIR}/child.py"),
                                         (here / "wire.py", f"{CHILD_DIR}/wire.py")])
    return LearnerProcess(command, env=sandbox.launch_env(env),
                          on_start=(lambda p: batch.track(p.proc)) if batch is not None else None)


def grade_submission(path: Path, *, root: Path | None = None, timeout: float = DEFAULT_TIMEOUT_S,
                     learner_rule: str = "auto", lessons: dict[str, list[str]] | None = None,
                     save_executed: Path | None = None, sandbox: Sandbox | None = None,
                     batch: Batch | None = None, slot: int = 0, test_seed: int | None = None) -> Grade:
    """Run one submission in its sandbox and grade each exercise in the grader; never raises because of it.

    ``root`` is the folder it was found in (for whose it is); ``sandbox`` defaults to
    ``find_sandbox()`` (``SandboxUnavailable`` when there is none); ``slot`` tells concurrent
    sandboxes apart. With ``test_seed``, a capstone submission found in the executed notebook is
    trained and scored here on a test set drawn from it (``task``): the grade's ``test_score``.
    """
    path = Path(path)
    lessons = lesson_exercises() if lessons is None else lessons
    learner = learner_of(path, learner_rule, root)
    started = time.monotonic()
    try:
        if root is not None and path.is_symlink():
            raise Malformed("a symbolic link, not a notebook file (it may point at someone else's): not graded")
        nb = read_submission(path)
    except Malformed as exc:
        lesson = _LESSON_IN_NAME.search(path.name)
        return Grade(path, learner, lesson.group(1) if lesson else None, "malformed", str(exc))
    if sandbox is None:
        sandbox = find_sandbox()
    cells = code_cells(nb)
    lesson, lesson_note = lesson_of(nb, path, lessons, cells)
    exercises = lessons.get(lesson, []) if lesson else []
    notes = [lesson_note] if lesson_note else []
    stop = batch.stop if batch is not None else threading.Event()
    work = Path(tempfile.mkdtemp(prefix="coursekit-grade-"))
    try:
        executed = copy.deepcopy(nb)
        kernel_dir = Path(tempfile.mkdtemp(prefix="kernel-", dir=work))
        run = execute(executed, sandbox=sandbox, host_dir=kernel_dir, slot=slot, timeout=timeout,
                      on_process=batch.track if batch is not None else None)
        verdicts: list[Verdict] = []
        if exercises and not stop.is_set():
            verdicts, answer_notes = grade_answers(
                nb, cells, exercises, lambda: start_learner_process(sandbox, work, slot, batch), stop)
            notes += answer_notes
            notes += _disagreements(verdicts, run.log)
        test_score, task_note = (None, None) if stop.is_set() else score_task(executed, lesson, test_seed)
        notes += [task_note] if task_note else []
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if stop.is_set():
        return Grade(path, learner, lesson, "stopped by the grader", "stopped by the grader (Ctrl-C or SIGTERM) "
                     "while it ran", [Verdict(name, "not reached") for name in exercises], time.monotonic() - started)
    reason = [run.reason] if run.reason else []
    if run.errors:
        shown = "; ".join(f"{describe_cell(nb, i)} raised {err}" for i, err in run.errors[:3])
        more = f" and {len(run.errors) - 3} more" if len(run.errors) > 3 else ""
        reason.append(f"{len(run.errors)} cell(s) raised: {shown}{more}")
    if save_executed is not None:
        _save_executed(executed, save_executed, learner, path)
    return Grade(path, learner, lesson, run.outcome, "; ".join(reason + notes), verdicts, time.monotonic() - started,
                 test_score)


def _disagreements(verdicts: list[Verdict], log: list[dict]) -> list[str]:
    """Where the notebook's own run (its check log: written by learner code) said otherwise than the grader."""
    own = {}
    for record in log:
        own[record["exercise"]] = record["status"]
    return [f"{v.exercise}: {own[v.exercise]} in the notebook's own run, {v.status} when graded"
            for v in verdicts if v.exercise in own and own[v.exercise] != v.status]


def _save_executed(nb, folder: Path, learner: str, path: Path) -> None:
    import nbformat

    folder.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^\w.-]+", "_", f"{learner}--{path.stem}").lstrip(".") + ".ipynb"
    nbformat.write(nb, folder / name)


def grade_all(paths, *, timeout: float = DEFAULT_TIMEOUT_S, jobs: int = 1, learner_rule: str = "auto",
              save_executed: Path | None = None, sandbox: Sandbox, batch: Batch | None = None,
              progress=None, test_seed: int | None = None) -> list[Grade]:
    """Grade every notebook in ``paths`` (``jobs`` at a time); the grades in the order found.

    ``test_seed``: score capstone submissions on a test set drawn from it (see ``grade_submission``).

    ``progress(grade)`` is called as each submission finishes. When ``batch.stop`` is set (``stop_all``:
    Ctrl-C, SIGTERM), the submissions running are stopped and marked so, the others not started: the
    grades returned are those of the submissions finished or stopped, in order.
    """
    lessons = lesson_exercises()
    batch = batch or Batch()
    found = collect(paths)
    slots: Queue[int] = Queue()
    for slot in range(jobs):
        slots.put(slot)

    def one(item):
        path, root = item
        if batch.stop.is_set():
            return None
        slot = slots.get()
        try:
            grade = grade_submission(path, root=root, timeout=timeout, learner_rule=learner_rule, lessons=lessons,
                                     save_executed=save_executed, sandbox=sandbox, batch=batch, slot=slot,
                                     test_seed=test_seed)
        except Exception as exc:  # noqa: BLE001 - the grader's own failure on one notebook must not lose the batch
            grade = Grade(Path(path), learner_of(Path(path), learner_rule, root), None, "not run",
                          f"the grader failed on it: {type(exc).__name__}: {str(exc)[:200]}")
        finally:
            slots.put(slot)
        if progress is not None:
            progress(grade)
        return grade

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(one, item) for item in found]
        pending = set(futures)
        while pending:   # the main thread waits here, free to handle signals
            _, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            if batch.stop.is_set():
                for future in pending:
                    future.cancel()
    return [f.result() for f in futures if not f.cancelled() and f.result() is not None]


__all__ = ["Batch", "DEFAULT_TIMEOUT_S", "grade_submission", "grade_all", "start_learner_process"]
