"""The phases of a run after its data is read, each a step :func:`vertical_automl.pipeline.run.run` names.

split -> search the trials -> train the exported model -> choose the decision
threshold -> score the test split -> write and publish the bundle.  The
search and the refit count against the time budget; what follows is the export.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import interrupts
from ..bundle.documents import BundleDocuments
from ..data.cross_validation import usable_folds
from ..data.dataset import Dataset
from ..data.split import split_dataset
from ..errors import SearchError, UsageError
from ..evaluate import choose_threshold, transfer_threshold
from ..plugin_calls import encoder_crash
from ..records import Decision, RunRequest, SplitSummary
from ..registry.disk import check_space, room_to_save
from ..registry.run_folder import keep_failed_trials, publish
from ..report.sections import Evaluation
from ..scoring import predict_scores, score_test_split
from ..search_engine.budget import RunClock
from ..search_engine.progress import SearchProgress
from ..search_engine.study import ParallelPlan
from ..settings import SearchSettings
from ..vertical import Vertical
from .context import ExportedModel, RunContext, TestScores
from .documents import refit_epochs
from .inputs import RunInputs

if TYPE_CHECKING:  # pragma: no cover - Keras loads only once the search starts
    from ..search_engine.records import SearchOutcome


def split(
    vertical: Vertical, inputs: RunInputs, request: RunRequest, progress: SearchProgress
) -> tuple[Dataset, SearchSettings]:
    """Train/validation/test splits, and the settings the training rows choose (batch size, epochs)."""
    training, task = inputs.training, inputs.task
    try:
        dataset = split_dataset(
            training, task, inputs.held_out, request.validation_fraction, request.test_fraction, request.settings.seed
        )
    except Exception as error:  # the split fits and applies the loader's encoder, which may be a plugin's
        crash = encoder_crash(error, training.encoder)
        if crash is None:
            raise
        raise crash from error
    settings = cross_validation(request.settings.for_rows(len(dataset.train)), dataset, inputs.kind.name)
    classes = f"{dataset.info.num_classes} classes" if task != "regression" else f"regression on '{training.target}'"
    progress.message(
        f"{vertical.name} ({task}): {len(dataset.train)} train / {len(dataset.validation)} validation / "
        f"{len(dataset.test)} test examples, "
        f"{classes}, input {dataset.info.input_shape} from {training.source}"
    )
    if dataset.split.group is not None or dataset.split.order is not None:
        progress.message(f"split {SplitSummary.from_json(dataset.split_summary()).text()}")
    if settings.cross_validated:
        progress.message(
            f"{settings.folds}-fold cross-validation over the {len(dataset.train) + len(dataset.validation)} "
            "train+validation examples: trials, ensemble and threshold are chosen on out-of-fold predictions"
        )
    return dataset, settings


def cross_validation(settings: SearchSettings, dataset: Dataset, kind: str) -> SearchSettings:
    """The settings with their fold count: chosen from the data unless given, and no more than the data can fill."""
    time_ordered = dataset.split.order is not None
    if (settings.folds or 1) > 1 and time_ordered:
        raise UsageError(
            "cross-validation (--folds) cannot be used with a time-ordered split (-O order): folds would train on "
            "the future",
            "leave out --folds, or pass --folds 1",
        )
    fitting = dataset.train_and_validation()
    settings = settings.with_folds(len(fitting), kind, time_ordered)
    if settings.cross_validated:
        settings = replace(settings, folds=usable_folds(settings.folds, fitting.y, dataset.info.task, fitting.groups))
    return settings


def search_trials(
    run: RunContext, clock: RunClock, verbose: bool, parallel: ParallelPlan | None = None
) -> SearchOutcome:
    """Run (or continue) the search (in parallel, given a plan); if every trial fails, keep their errors."""
    from ..search_engine.loop import AllTrialsFailed, run_search

    launcher = None
    if parallel is not None:
        from ..search_engine.parallel import ParallelSearch  # Optuna loads for a parallel search only

        launcher = ParallelSearch(parallel, run.run_id, run.root, run.work, run.settings.devices)
    try:
        outcome = run_search(run.vertical, run.dataset, run.settings, run.work, clock, run.progress, verbose, launcher)
    except AllTrialsFailed as failed:
        trials = [t.to_json() for t in failed.trials]
        where = keep_failed_trials(run.root, run.run_id, trials, run.work / "logs")
        kept = f"; every trial's error is in {where}" if where is not None else ""
        raise SearchError(failed.problem + kept, failed.fix) from None
    interrupts.check()
    return outcome


def train_exported_model(run: RunContext, outcome: SearchOutcome, clock: RunClock) -> ExportedModel:
    """Refit the chosen trials on train+validation, or combine their own models (cross-validated, ``--no-refit``)."""
    from ..search_engine.ensembling import combine
    from ..search_engine.refit import refit

    objective = run.settings.objective_for(run.vertical, run.task)[0]
    members = len(outcome.members)
    if run.settings.cross_validated:
        folds = f"the {run.settings.folds} fold models"
        doing = (
            f"exporting the average of {folds}"
            if members == 1
            else f"averaging {members} trials chosen by ensemble selection on out-of-fold predictions, each {folds}"
        )
    elif run.settings.refit:
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
    run.progress.message(
        f"best: trial {outcome.best.trial_id}, {objective}={outcome.best.score:.4f} "
        f"at epoch {outcome.best.best_epoch}; {doing}"
    )
    if run.settings.refits:
        exported = ExportedModel(*refit(run.vertical, run.dataset, outcome, run.settings, deadline=clock.end()))
    else:
        exported = ExportedModel(combine(outcome.trial_models, outcome, run.vertical, run.task), [])
    interrupts.check()
    return exported


def decide_threshold(run: RunContext, outcome: SearchOutcome, exported: ExportedModel) -> Decision | None:
    """A binary run's threshold, chosen on the trials' validation (or out-of-fold) scores (``None`` for other tasks)."""
    if run.task != "binary":
        return None
    validation = run.dataset.selection_data(run.settings.cross_validated)
    chosen = outcome.validation_scores[:, 1]
    decision = choose_threshold(validation.y, chosen, run.request.cost_fp, run.request.cost_fn)
    if run.settings.refits and refit_epochs(exported.refit_histories) != outcome.planned_epochs:
        # A refit cut short by the budget is calibrated unlike the trials: keep the share called positive instead.
        refit_scores = predict_scores(exported.model, validation.x, run.task)[:, 1]
        decision = transfer_threshold(decision, chosen, refit_scores)
    return Decision.from_json(decision)


def score_test(run: RunContext, exported: ExportedModel, decision: Decision | None) -> TestScores:
    """The exported model's metrics on the test split, and the vertical's own report sections."""
    dataset, task, model = run.dataset, run.task, exported.model
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
        seed=run.settings.seed,
    )
    sections = list(run.vertical.report_sections(evaluation)) if run.vertical.report_sections else []
    return TestScores(metrics, evaluation, sections)


def write_and_publish(run: RunContext, exported: ExportedModel, documents: BundleDocuments, tested: TestScores) -> Path:
    """Write the bundle in the run folder and rename it into the registry: a run appears whole or not at all."""
    from ..bundle.writer import write_bundle

    bundle = run.work / "bundle"
    check_space(run.work, room_to_save(exported.model) + 8 * 2**20, "to write the bundle (model, reports and plots)")
    sample = run.dataset.test.x[:32]
    write_bundle(
        bundle,
        exported.model,
        documents,
        run.vertical,
        tested.evaluation,
        tested.sections,
        sample,
        run.work / "logs",
        run.inputs.kind,
    )
    return publish(bundle, run.root, run.vertical.name, run.run_id)
