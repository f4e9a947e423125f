"""What the phases of a run hand each other, as records rather than long argument lists."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..data.dataset import Dataset
from ..plugins import PluginRecord
from ..records import RunRequest
from ..report.sections import Evaluation, ReportSection
from ..search_engine.progress import SearchProgress
from ..settings import SearchSettings
from ..vertical import Vertical
from .inputs import RunInputs

if TYPE_CHECKING:  # pragma: no cover - Keras loads only once the search starts
    import keras


@dataclass(frozen=True)
class RunContext:
    """The run every phase after the split works on: where it is, its vertical, its data and its settings.

    ``settings`` are the request's, completed for the training rows (batch
    size, epochs, patience); ``work`` is the run folder in ``.runs``.
    """

    run_id: str
    root: Path
    work: Path
    vertical: Vertical
    plugin: PluginRecord
    request: RunRequest
    inputs: RunInputs
    dataset: Dataset
    settings: SearchSettings
    progress: SearchProgress

    @property
    def task(self) -> str:
        return self.dataset.info.task


@dataclass(frozen=True)
class ExportedModel:
    """The model the bundle holds, and each member's refit history (empty without a refit)."""

    model: keras.Model
    refit_histories: list[dict[str, list[float]]]


@dataclass(frozen=True)
class TestScores:
    """The exported model on the test split: the core's metrics, the evaluation, the vertical's sections."""

    metrics: dict[str, Any]
    evaluation: Evaluation
    sections: list[ReportSection]


@dataclass(frozen=True)
class Timing:
    """Where the run's budgeted time went: in all, per phase, and whether earlier sessions count."""

    seconds_used: float
    phases: dict[str, float]
    resumed: bool
