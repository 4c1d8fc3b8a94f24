"""What grading produces: a ``Verdict`` per exercise, a ``Grade`` per submission."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

OUTCOMES = ("completed", "completed with errors", "timed out", "crashed", "too much output", "malformed", "not run",
            "stopped by the grader")
STATUSES = ("passed", "failed", "not attempted", "not reached", "not checked")


@dataclass
class Verdict:
    """One exercise of one submission: ``status`` is one of STATUSES; ``summary`` the verdict's first line."""

    exercise: str
    status: str
    mistake: str | None = None
    summary: str = ""
    times_checked: int = 0


@dataclass
class Grade:
    """One submission: who, which lesson, how its run went, and a verdict per exercise of its lesson."""

    submission: Path
    learner: str
    lesson: str | None
    outcome: str
    reason: str = ""
    verdicts: list[Verdict] = field(default_factory=list)
    seconds: float = 0.0
    test_score: float | None = None     # the capstone task's score on the fresh test set (--test-seed)

    @property
    def passed(self) -> int:
        return sum(v.status == "passed" for v in self.verdicts)

    @property
    def total(self) -> int:
        return len(self.verdicts)

    @property
    def score(self) -> float | None:
        """passed / total, or None when there is nothing to score."""
        return self.passed / self.total if self.total else None

    def status_of(self, exercise: str) -> str:
        return next((v.status for v in self.verdicts if v.exercise == exercise), "")
