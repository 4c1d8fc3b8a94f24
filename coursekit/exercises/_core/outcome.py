"""What a check produces: ``CheckFailed`` (raised by a check for its first failing case) and
``CheckResult`` (the verdict ``run_check`` returns)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


class CheckFailed(Exception):
    """Raised inside ``run_checks`` for the first failing case.

    ``inputs`` is the keyword arguments the function got (used to diagnose which catalogued
    mistake the learner made, by running each on the same inputs). A check that recognizes
    the mistake itself (e.g. a statistical check of random masks) names it with
    ``mistake="key"`` (its catalogued hint is shown); ``hint`` gives a one-off hint instead.
    ``tolerance`` is the ``(rtol, atol)`` the comparison used (to show where values differ);
    ``difference`` says where they differ when the check knows better than a generic
    comparison (e.g. which cache field, with its own tolerance). ``passed`` lists the cases
    the function got right before this one, as ``(inputs, tolerances)``: a catalogued mistake
    that gets one of them wrong is not the learner's. ``more`` holds what the function returned
    on a few later cases, as ``(inputs, output)``: a catalogued mistake must reproduce those too.
    """

    def __init__(self, case: str, *, inputs: dict | None = None, expected: Any = None, got: Any = None,
                 reason: str = "", hint: str | None = None, mistake: str | None = None,
                 show_values: bool = True, tolerance: tuple[float, float] | None = None,
                 difference: str | None = None, passed: list[tuple[dict, dict]] | None = None,
                 more: list[tuple[dict, Any]] | None = None) -> None:
        super().__init__(case)
        self.case, self.inputs, self.expected, self.got = case, inputs, expected, got
        self.reason, self.hint, self.mistake, self.show_values = reason, hint, mistake, show_values
        self.tolerance, self.difference, self.passed = tolerance, difference, list(passed or ())
        self.more = list(more or ())


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str  # "passed" | "not attempted" | "failed"
    message: str
    implementation: Callable
    mistake_key: str | None = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def summary(self) -> str:
        """The verdict's first line."""
        return self.message.splitlines()[0] if self.message else ""
