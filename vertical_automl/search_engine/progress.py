"""What a search tells its user while it runs: a live ``rich`` display, plain log lines, or nothing.

The pipeline and the tuner report events to a :class:`SearchProgress`; the
three implementations differ only in how they show them.  ``LiveProgress``
is the default on a terminal; ``LogProgress`` is for ``--quiet``, pipes and
CI logs (one line per message and per finished trial); the base class is
silent, for library use.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from .records import TrialRecord

if TYPE_CHECKING:  # pragma: no cover - rich loads only when a live display starts
    from rich.console import Console

FINISHED_ROWS = 12  # the live table shows the most recent finished trials


class SearchProgress:
    """Receives a search's events; every method does nothing here."""

    def message(self, text: str) -> None:
        """A one-line note (data summary, best trial, refit, resume)."""

    def search_started(
        self,
        total_trials: int | None,
        objective: str,
        direction: str,
        budget_end: float | None,
        finished: list[TrialRecord],
    ) -> None:
        """The tuner is about to start; ``finished`` are trials a resumed run already has."""

    def trial_started(self, trial_id: str, hyperparameters: dict[str, Any]) -> None:
        """A trial begins training."""

    def epoch_ended(self, trial_id: str, epoch: int, epochs: int, logs: dict[str, float]) -> None:
        """``epoch`` (1-based) of at most ``epochs`` finished in the running trial."""

    def trial_ended(self, record: TrialRecord) -> None:
        """A trial finished (completed or failed)."""

    def search_ended(self) -> None:
        """The tuner is done; what follows (refit, export) is reported as messages."""


def trial_line(record: TrialRecord, objective: str, total: int | None) -> str:
    score = f"{objective}={record.score:.4f}" if record.score is not None else f"{objective}=-"
    suffix = (f"  [{record.worker}]" if record.worker else "") + (f"  {record.error}" if record.error else "")
    number = int(record.trial_id) + 1
    # Past the cap only in a parallel search, where the retry of a lost trial takes its place: no "13/12".
    count = f"{number}/{total}" if total and number <= total else f"{number}"
    return (
        f"trial {record.trial_id} ({count})  {record.status:<9} {score}  "
        f"epochs={record.epochs_run}  {record.seconds:.1f}s{suffix}"
    )


class LogProgress(SearchProgress):
    """Plain lines on a stream (stderr by default): messages and one line per finished trial."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self.objective = "score"
        self.total: int | None = None  # None: no trial cap (the time budget ends the search)

    def _print(self, text: str) -> None:
        print(text, file=self.stream or sys.stderr, flush=True)

    def message(self, text: str) -> None:
        self._print(text)

    def search_started(
        self,
        total_trials: int | None,
        objective: str,
        direction: str,
        budget_end: float | None,
        finished: list[TrialRecord],
    ) -> None:
        self.objective, self.total = objective, total_trials

    def trial_ended(self, record: TrialRecord) -> None:
        self._print(trial_line(record, self.objective, self.total))


class LiveProgress(LogProgress):
    """A live panel: trial n of N (or time left), the running trial's epoch, the best score, and recent trials.

    Messages and finished trials are also printed above the panel, so the
    scroll-back keeps a full log once the panel is gone.
    """

    def __init__(self, console: Console | None = None) -> None:
        from rich.console import Console

        super().__init__()
        self.console = console or Console(stderr=True)
        self.live: Any = None
        self.direction = "max"
        self.budget_end: float | None = None
        self.finished: list[TrialRecord] = []
        self.running: tuple[str, int, int] | None = None  # trial id, epoch, epochs

    def _print(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    def search_started(
        self,
        total_trials: int | None,
        objective: str,
        direction: str,
        budget_end: float | None,
        finished: list[TrialRecord],
    ) -> None:
        from rich.live import Live

        super().search_started(total_trials, objective, direction, budget_end, finished)
        self.direction, self.budget_end, self.finished = direction, budget_end, list(finished)
        self.live = Live(self, console=self.console, refresh_per_second=4, transient=True)
        self.live.start()

    def trial_started(self, trial_id: str, hyperparameters: dict[str, Any]) -> None:
        self.running = (trial_id, 0, 0)

    def epoch_ended(self, trial_id: str, epoch: int, epochs: int, logs: dict[str, float]) -> None:
        self.running = (trial_id, epoch, epochs)

    def trial_ended(self, record: TrialRecord) -> None:
        self.finished.append(record)
        if self.running is not None and self.running[0] == record.trial_id:  # not another worker's trial
            self.running = None
        super().trial_ended(record)

    def search_ended(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    def best(self) -> TrialRecord | None:
        scored = [t for t in self.finished if t.score is not None]
        if not scored:
            return None
        return (max if self.direction == "max" else min)(scored, key=lambda t: t.score)

    def __rich__(self) -> Any:
        from rich.console import Group
        from rich.table import Table

        done = len(self.finished)
        if self.total is None:
            heading = f"trial {done + 1}"
        else:
            heading = (
                f"trial {done + 1} of {self.total}" if done < self.total else f"{done} of {self.total} trials done"
            )
        if self.budget_end is not None:
            heading += f", {max(0.0, self.budget_end - time.monotonic()):.0f}s of the time budget left"
        if self.running is not None:
            trial_id, epoch, epochs = self.running
            heading += (
                f"  |  trial {trial_id}: epoch {epoch}/{epochs}" if epochs else f"  |  trial {trial_id}: building"
            )
        best = self.best()
        heading += f"  |  best {self.objective} {best.score:.4f} (trial {best.trial_id})" if best else ""
        table = Table(show_edge=False, pad_edge=False, box=None)
        for column in ("trial", "status", self.objective, "epochs", "seconds"):
            table.add_column(column)
        for record in self.finished[-FINISHED_ROWS:]:
            score = f"{record.score:.4f}" if record.score is not None else "-"
            style = "red" if record.status != "COMPLETED" else ("bold green" if record is best else "")
            table.add_row(
                record.trial_id,
                record.status,
                score,
                str(record.epochs_run or "-"),
                f"{record.seconds:.1f}",
                style=style,
            )
        return Group(heading, table)
