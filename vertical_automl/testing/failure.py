"""How a conformance check fails: one line naming the check, what is wrong, and what to fix."""

from __future__ import annotations


class Failure(Exception):
    """Raised inside a check; the suite turns it into a :class:`ConformanceError` carrying the check's name."""

    def __init__(self, problem: str, fix: str) -> None:
        self.problem = problem.rstrip(". ")
        self.fix = fix
        super().__init__(f"{self.problem}. Fix: {fix}")


class ConformanceError(AssertionError):
    """A vertical does not get what the core promises every vertical; an AssertionError, so pytest shows it as one.

    ``check`` is the failing check's name (one of
    :data:`~vertical_automl.testing.CHECK_NAMES`), ``problem`` and ``fix`` say
    what is wrong and what to change.
    """

    def __init__(self, check: str, problem: str, fix: str) -> None:
        self.check = check
        self.problem = problem.rstrip(". ")
        self.fix = fix
        super().__init__(f"conformance check '{check}' failed: {self.problem}. Fix: {fix}")
