"""User-facing error types.

Each kind of mistake a user can make has its own exception type.  The CLI
prints any `VautomlError` as a single line ("problem. Fix: ...") with a
non-zero exit code and shows a traceback only with `--debug`; library users
can catch the specific type.
"""

from __future__ import annotations


class VautomlError(Exception):
    """A problem the user can fix; `str()` names the problem and the fix."""

    exit_code = 1

    def __init__(self, problem: str, fix: str | None = None) -> None:
        self.problem = problem.rstrip(". ")
        self.fix = fix
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.fix:
            return f"{self.problem}. Fix: {self.fix}"
        return self.problem


class UsageError(VautomlError):
    """An argument or setting is out of range or names something that does not exist."""

    exit_code = 2


class DataError(VautomlError):
    """The data cannot be used: missing path, empty, one class, unreadable file, NaN."""

    exit_code = 2


class PluginError(VautomlError):
    """A plugin is unknown, broken, or conflicts with another one."""

    exit_code = 3


class SearchError(VautomlError):
    """The search could not produce a model (for example every trial failed)."""

    exit_code = 4


class StorageError(VautomlError):
    """The disk holding the registry is full or failing; the run folder is kept so the run can be resumed."""

    exit_code = 6


class BackendError(VautomlError, ImportError):
    """Keras was imported with a backend other than torch before vautoml."""

    exit_code = 5


class RunInterrupted(KeyboardInterrupt):
    """A search was interrupted (Ctrl-C); its run folder is kept so it can be resumed."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(f"run {run_id} interrupted")
