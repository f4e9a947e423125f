"""The phases of a run after its data is read, each a step :func:`vertical_automl.pipeline.run.run` names.

split -> search the trials -> train the exported model -> choose the decision
threshold -> score the test split -> write and publish the bundle.  The
search and the refit count against the time budget; what follows is the export.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import interrupts
from ..bundle.documents import BundleDocuments
from ..data.dataset import Dataset
from ..data.split import split_dataset
from ..errors import SearchError
from ..evaluate import choose_threshold, transfer_threshold
from ..records import Decision, RunRequest
from ..registry.disk import check_space, room_to_save
from ..registry.run_folder import keep_failed_trials, publish
from ..report.sections import Evaluation, ReportSection
from ..scoring import predict_scores, score_test_split
from ..search_engine.budget import RunClock
from ..search_engine.progress import SearchProgress
from ..settings import SearchSettings
from ..vertical import Vertical
from .documents import refit_epochs
from .inputs import RunInputs

if TYPE_CHECKING:  # pragma: no cover - Keras loads only once the search starts
    import keras

    from ..search_engine.records import SearchOutcome


@dataclass(frozen=True)
class ExportedModel:
    """The model the bundle holds, and each member's refit history (empty without a refit)."""

    model: keras.Model
    refit_histories: list[dict[str, list[float]]]


@dataclass(frozen=True)
class TestScores:
    """The exported model on the test split: its scores, the core's metrics and the vertical's sections."""

    metrics: dict[str, Any]
    evaluation: Evaluation
    sections: list[ReportSection]


def split(
    vertical: Vertical, inputs: RunInputs, request: RunRequest, progress: SearchProgress
) -> tuple[Dataset, SearchSettings]:
    """Train/validation/test splits, and the settings the training rows choose (batch size, epochs)."""
    training = inputs.training
    dataset = split_dataset(
        training,
        inputs.task,
        inputs.held_out,
        request.validation_fraction,
        request.test_fraction,
        request.settings.seed,
    )
    settings = request.settings.for_rows(len(dataset.train))
    task = inputs.task
    classes = f"{dataset.info.num_classes} classes" if task != "regression" else f"regression on '{training.target}'"
    progress.message(
        f"{vertical.name} ({task}): {len(dataset.train)} train / {len(dataset.validation)} validation / "
        f"{len(dataset.test)} test examples, "
        f"{classes}, input {dataset.info.input_shape} from {training.source}"
    )
    return dataset, settings


def search_trials(
    vertical: Vertical,
    dataset: Dataset,
    settings: SearchSettings,
    work: Path,
    clock: RunClock,
    progress: SearchProgress,
    verbose: bool,
    failed_trials: tuple[Path, str],
) -> SearchOutcome:
    """Run (or continue) the search; when every trial fails, keep their errors in ``failed_trials`` (root, run id)."""
    from ..search_engine.loop import AllTrialsFailed, run_search

    try:
        outcome = run_search(vertical, dataset, settings, work, clock, progress, verbose)
    except AllTrialsFailed as failed:
        root, run_id = failed_trials
        where = keep_failed_trials(root, run_id, [t.as_dict() for t in failed.trials], work / "logs")
        kept = f"; every trial's error is in {where}" if where is not None else ""
        raise SearchError(failed.problem + kept, failed.fix) from None
    interrupts.check()
    return outcome


def train_exported_model(
    vertical: Vertical,
    dataset: Dataset,
    outcome: SearchOutcome,
    settings: SearchSettings,
    clock: RunClock,
    progress: SearchProgress,
) -> ExportedModel:
    """Refit the chosen trials on train+validation (or, with ``--no-refit``, combine their own models)."""
    from ..search_engine.ensembling import combine
    from ..search_engine.refit import refit

    objective = settings.objective_for(vertical, dataset.info.task)[0]
    members = len(outcome.members)
    if settings.refit:
        doing = (
            "refitting on train+validation"
            if members == 1
            else f"refitting {members} trials chosen by ensemble selection on train+validation and averaging them"
        )
    else:
        doing = (
            "exporting its own weights (--no-refit)"
            if members == 1
            else f"averaging {members} trials chosen by ensemble selection, with their own weights (--no-refit)"
        )
    progress.message(
        f"best: trial {outcome.best.trial_id}, {objective}={outcome.best.score:.4f} "
        f"at epoch {outcome.best.best_epoch}; {doing}"
    )
    if settings.refit:
        exported = ExportedModel(*refit(vertical, dataset, outcome, settings, deadline=clock.end()))
    else:
        exported = ExportedModel(combine(outcome.trial_models, outcome, vertical, dataset.info.task), [])
    interrupts.check()
    return exported


def decide_threshold(
    dataset: Dataset, outcome: SearchOutcome, exported: ExportedModel, request: RunRequest, settings: SearchSettings
) -> Decision | None:
    """A binary run's threshold, chosen on the trials' validation scores (``None`` for other tasks)."""
    task = dataset.info.task
    if task != "binary":
        return None
    chosen = outcome.validation_scores[:, 1]
    decision = choose_threshold(dataset.validation.y, chosen, request.cost_fp, request.cost_fn)
    if settings.refit and refit_epochs(exported.refit_histories) != outcome.planned_epochs:
        # A refit cut short by the budget is calibrated unlike the trials: keep the share called positive instead.
        refit_scores = predict_scores(exported.model, dataset.validation.x, task)[:, 1]
        decision = transfer_threshold(decision, chosen, refit_scores)
    return Decision.from_json(decision)


def score_test(
    vertical: Vertical, dataset: Dataset, exported: ExportedModel, decision: Decision | None, seed: int
) -> TestScores:
    """The exported model's metrics on the test split, and the vertical's own report sections."""
    task, model = dataset.info.task, exported.model
    threshold = decision.threshold if decision else None
    scores = predict_scores(model, dataset.test.x, task)
    metrics = score_test_split(task, dataset.test.y, scores, dataset.info.class_names, threshold)

    def predict(raw: Any) -> np.ndarray:  # what a section's permutation importance calls on raw rows
        return predict_scores(model, dataset.encoder.transform(raw) if dataset.encoder else raw, task)

    evaluation = Evaluation(
        task,
        dataset.info.class_names,
        dataset.test.y,
        scores,
        dataset.raw_test if dataset.raw_test is not None else dataset.test,
        predict=predict,
        threshold=threshold,
        seed=seed,
    )
    sections = list(vertical.report_sections(evaluation)) if vertical.report_sections else []
    return TestScores(metrics, evaluation, sections)


def write_and_publish(
    work: Path,
    root: Path,
    run_id: str,
    vertical: Vertical,
    dataset: Dataset,
    exported: ExportedModel,
    documents: BundleDocuments,
    tested: TestScores,
) -> Path:
    """Write the bundle in the run folder and rename it into the registry: a run appears whole or not at all."""
    from ..bundle.writer import write_bundle

    bundle = work / "bundle"
    check_space(work, room_to_save(exported.model) + 8 * 2**20, "to write the bundle (model, reports and plots)")
    write_bundle(
        bundle,
        exported.model,
        documents,
        vertical,
        tested.evaluation,
        tested.sections,
        dataset.test.x[:32],
        work / "logs",
    )
    return publish(bundle, root, vertical.name, run_id)


def trial_logs(work: Path) -> list[str]:
    """The trials' CSV logs, as the bundle lists them."""
    return [f"logs/{p.name}" for p in sorted((work / "logs").glob("*.csv"))]
