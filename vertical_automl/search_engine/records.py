"""What a search leaves behind: each trial's record and the search's outcome.

Plain data, with no Keras or KerasTuner at run time, so the progress display,
the report and ``trials.json`` can use a trial's record without loading the
training stack.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - type names only; importing them would load Keras
    import keras
    import keras_tuner as kt
    import numpy as np


class TrialStatus(StrEnum):
    """KerasTuner's trial statuses (``keras_tuner.engine.trial.TrialStatus``), as the strings it writes.

    A ``StrEnum`` so a status still equals, formats and serialises as the
    string ``trials.json``, the report and the progress lines have always shown.
    """

    RUNNING = "RUNNING"
    IDLE = "IDLE"
    INVALID = "INVALID"
    STOPPED = "STOPPED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


@dataclass
class TrialRecord:
    """One row of ``trials.json`` and of the leaderboard."""

    trial_id: str
    status: TrialStatus
    score: float | None
    best_epoch: int | None
    epochs_run: int | None
    seconds: float
    hyperparameters: dict[str, Any]
    error: str | None = None
    worker: str | None = None  # which worker ran it, in a parallel search

    def to_json(self) -> dict[str, Any]:
        """The ``trials.json`` row, with the status as a plain string; ``worker`` only in a parallel search's rows."""
        row = {**asdict(self), "status": str(self.status)}
        if row["worker"] is None:
            del row["worker"]
        return row

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> TrialRecord:
        """A record from its ``trials.json`` row; the status becomes a :class:`TrialStatus`."""
        return cls(**{"worker": None, **row, "status": TrialStatus(row["status"])})


@dataclass
class SearchOutcome:
    """The trials, the best ones, and their own scores on the validation split.

    ``members`` are the best trials (best first) whose refits make up the
    exported model: one, or several for a vertical that ensembles.
    ``validation_scores`` are the weighted average of those trials' own
    models on the validation split, which they never trained on; binary tasks
    choose their decision threshold on them.
    """

    trials: list[TrialRecord]
    members: list[tuple[TrialRecord, kt.HyperParameters]]
    stopped_early_reason: str | None = None
    seconds: float = 0.0
    validation_scores: np.ndarray | None = None
    trial_models: list[keras.Model] | None = None  # the members' own trained models, for --no-refit
    weights: tuple[float, ...] = (1.0,)  # each member's share of the exported average
    stop_reason: str = ""  # why no further trial ran, in words, for the summary and the report
    ensemble_score: float | None = None  # the weighted members' validation score, when they were chosen on predictions
    # trials this search ran at the same time: the workers it started (workers joined with `vautoml worker`, and
    # those of earlier sessions of a resumed run, have their own names in each trial's record)
    at_once: int = 1
    threads: int | None = None  # the CPU threads each of them used

    @property
    def planned_epochs(self) -> list[int]:
        """The epochs each member's refit trains: its trial's best epoch count."""
        return [max(1, record.best_epoch or 1) for record, _ in self.members]

    @property
    def best(self) -> TrialRecord:
        return self.members[0][0]

    @property
    def best_hyperparameters(self) -> kt.HyperParameters:
        return self.members[0][1]
