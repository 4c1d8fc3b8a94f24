"""Each exercise's verdict, decided in the grader's own process.

For one submission the grader starts a process of its own for the learner's code (``child.py``, in
a sandbox where coursekit is not on disk: an answer that is, or calls, the course's solution fails),
and loads into it, as the notebook would have run them:

1. from every code cell that is neither an answer nor a check cell, the top-level imports, ``def``
   and ``class`` statements and the assignments that call nothing: the learner's helpers and
   constants exist, the notebook's experiments do not run;
2. then, exercise by exercise in the lesson's order, the cell holding the answer (whole, as a cell
   runs), after which the exercise is checked: the course's checker runs **here**, calling the
   learner's function through a stand-in (``process.GradedFunction``); the comparisons with the
   reference and the verdict never run where learner code does. As the notebook's check cell does,
   an answer that did not pass is then replaced by the course's reference (run here, in the
   grader), so a later exercise built on it is judged on its own.

A cell that runs longer than ``ANSWER_SECONDS`` (``DEFINITIONS_SECONDS`` for all of step 1), or ends
the process, stops that process; the next exercise gets a new one, with everything it needs loaded
again. Notes go to the row's ``reason``: an answer that reached for coursekit, an answer that passed
while using the course's reference of an earlier exercise (check it by hand), moved or missing cells.
"""
from __future__ import annotations

import functools
import threading

from .kernel import describe_cell
from .process import LearnerProcess, LearnerProcessEnded, LearnerTimeout
from .results import Verdict
from .submissions import checked_names, find_answers

DEFINITIONS_SECONDS = 120.0
ANSWER_SECONDS = 30.0


class _NotAFunction:
    """What the answer's name holds when it is not a function (shown in the verdict by its type)."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<a {self.type_name} from the notebook>"


class _Answers:
    """The learner's process for one submission, restarted (and refilled) when a cell or a check stops it."""

    def __init__(self, nb, cells: dict[int, str], answers: dict[str, int | None], start) -> None:
        self.nb, self.cells, self.answers, self.start = nb, cells, answers, start
        answer_cells = {i for i in answers.values() if i is not None}
        self.definitions = [self._cell(i, definitions=True) for i in sorted(cells)
                            if i not in answer_cells and not checked_names(cells[i])]
        self.process: LearnerProcess | None = None
        self.done: list[tuple[str, bool]] = []    # exercises checked so far, and whether each passed
        self.broken: dict[int, str] = {}          # answer cells that stopped the process (and why): not run again
        self.errors: dict[int, dict] = {}
        self.used: set[str] = set()               # exercises whose course reference the learner's code called

    def _cell(self, index: int, definitions: bool = False) -> dict:
        return {"label": f"cell {index + 1}", "source": self.cells[index], "definitions": definitions}

    def reference(self, name: str):
        """The course's reference of ``name``, run here when the learner's code calls it; its use is noted."""
        from ..exercises import reference

        implementation = reference(name)

        @functools.wraps(implementation)
        def course_reference(*args, **kwargs):
            self.used.add(name)
            return implementation(*args, **kwargs)
        course_reference.__name__ = name
        return course_reference

    def ready(self) -> LearnerProcess:
        """The process, started and filled with everything the exercises checked so far had."""
        if self.process is not None and self.process.alive:
            return self.process
        if self.process is not None:
            self.process.kill()
        self.process = self.start()
        try:
            if self.definitions:
                self.process.load(self.definitions, seconds=DEFINITIONS_SECONDS)
            for name, passed in self.done:
                index = self.answers.get(name)
                if index is not None and index not in self.broken:
                    self.process.load([self._cell(index)], seconds=ANSWER_SECONDS)
                if not passed:
                    self.process.bind(name, self.reference(name))
        except (LearnerTimeout, LearnerProcessEnded):
            self.process.kill()
            self.definitions = []   # they stop the process: go on without them, from now on
            self.process = self.start()
        return self.process

    def load_answer(self, index: int) -> str | None:
        """Run the answer cell; None, or why it could not be run to its end."""
        if index in self.errors or index in self.broken:
            return self.broken.get(index)
        try:
            reports = self.ready().load([self._cell(index)], seconds=ANSWER_SECONDS)
        except LearnerTimeout:
            self.broken[index] = f"its cell ({describe_cell(self.nb, index)}) was still running after " \
                                 f"{ANSWER_SECONDS:g} s"
            return self.broken[index]
        except LearnerProcessEnded as exc:
            self.broken[index] = f"its cell ({describe_cell(self.nb, index)}) ended the process running it: {exc}"
            return self.broken[index]
        error = reports[0].get("error") if reports else None
        self.errors[index] = error if isinstance(error, dict) else {}
        return None

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()


def grade_answers(nb, cells: dict[int, str], exercises: list[str], start, stop: threading.Event | None = None):
    """(a verdict per exercise, notes) for the answers in ``nb``; ``start()`` starts a learner's process."""
    from ..exercises import run_check

    answers, notes = find_answers(cells, exercises)
    learner = _Answers(nb, cells, answers, start)
    verdicts = []
    try:
        for name in exercises:
            if stop is not None and stop.is_set():
                verdicts.append(Verdict(name, "not reached", summary="the grader was stopped before this check"))
                continue
            verdict, passed = _grade_one(learner, name, answers.get(name), run_check, notes)
            verdicts.append(verdict)
            learner.done.append((name, passed))
            if not passed and learner.process is not None and learner.process.alive:
                try:
                    learner.process.bind(name, learner.reference(name))
                except (LearnerTimeout, LearnerProcessEnded):
                    pass
    finally:
        learner.close()
    return verdicts, notes


def _reaches_for_coursekit(learner: _Answers) -> int:
    try:
        return learner.ready().blocked()
    except (LearnerTimeout, LearnerProcessEnded):
        return 0


def _grade_one(learner: _Answers, name: str, index: int | None, run_check, notes: list[str]):
    if index is None:
        return Verdict(name, "not checked", summary=f"no cell of the notebook defines {name} (was its exercise "
                                                    "cell deleted?)"), False
    blocked = _reaches_for_coursekit(learner)
    verdict = _check_answer(learner, name, index, run_check, notes)
    if learner.process is not None and learner.process.alive and _reaches_for_coursekit(learner) > blocked:
        notes.append(f"{name}: the answer reaches for coursekit, which is not available when graded (the course's "
                     "solutions earn no credit)")
    return verdict, verdict.status == "passed"


def _check_answer(learner: _Answers, name: str, index: int, run_check, notes: list[str]) -> Verdict:
    stopped = learner.load_answer(index)
    if stopped:
        return Verdict(name, "not checked", summary=stopped)
    try:
        fn, kind = learner.ready().function(name)
    except (LearnerTimeout, LearnerProcessEnded) as exc:
        return Verdict(name, "not checked", summary=f"the process running the answer failed: {exc}")
    error = learner.errors.get(index) or {}
    if kind is not None and kind.startswith("grader:"):
        course = kind.split(":", 1)[1]
        return Verdict(name, "failed", summary=f"FAILED ❌ {name}: the answer is the course's own {course} (the "
                                               "notebook uses it where an exercise did not pass), not the learner's "
                                               "work")
    if fn is None and kind is None:
        raised = f"{error.get('type')}: {error.get('text')}" if error else ""
        summary = (f"its cell ({describe_cell(learner.nb, index)}) raised {raised}" if raised
                   else f"{describe_cell(learner.nb, index)} does not define {name}")
        return Verdict(name, "not checked", summary=summary[:300])
    learner.used.clear()
    result = run_check(name, fn if fn is not None else _NotAFunction(kind))
    if result.status == "passed" and learner.used - {name}:
        used = ", ".join(sorted(learner.used - {name}))
        notes.append(f"{name} passed while calling the course's {used} (the learner's own did not pass): "
                     "check it by hand")
    if error and fn is not None:
        notes.append(f"{name}: its cell ({describe_cell(learner.nb, index)}) raised {error.get('type')} after "
                     "defining it")
    return Verdict(name, result.status, result.mistake_key, result.summary, 1)
