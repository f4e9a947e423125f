"""What a finished run writes beside its model: the preprocessing, the report, the trials and the manifest.

Built as records (:mod:`vertical_automl.records`) from what the phases
produced; :func:`vertical_automl.bundle.writer.write_bundle` writes them.
``preprocessing.json`` stays a mapping: each kind of input (a plugin's
too) describes itself in it.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from ..bundle.documents import BundleDocuments
from ..bundle.files import (
    MANIFEST_FILE,
    MODEL_CARD_FILE,
    MODEL_FILE,
    PREPROCESSING_FILE,
    PROFILE_FILE,
    REPORT_FILE,
    TRIALS_FILE,
)
from ..data.dataset import Dataset
from ..records import (
    DataSources,
    Decision,
    EnsembleMember,
    Manifest,
    ModelSummary,
    PluginInfo,
    Report,
    SearchSummary,
)
from ..registry.layout import FORMAT_VERSION
from ..serving.profile import InputProfile
from ..settings import SearchSettings
from .context import ExportedModel, RunContext, TestScores, Timing

if TYPE_CHECKING:  # pragma: no cover - the search engine's outcome, a type name only here
    from ..search_engine.records import SearchOutcome


def bundle_documents(
    run: RunContext,
    outcome: SearchOutcome,
    exported: ExportedModel,
    tested: TestScores,
    decision: Decision | None,
    timing: Timing,
) -> BundleDocuments:
    """The documents of one run; the manifest lists every file written so far, trial logs included.

    The manifest names the data as loaded, before the split, with its fingerprint.
    """
    dataset, settings = run.dataset, run.settings
    report = Report(
        run_id=run.run_id,
        vertical=run.vertical.name,
        task=run.task,
        test_metrics=tested.metrics,
        decision_threshold=decision,
        sections={section.name: {"title": section.title, **section.data} for section in tested.sections},
        dataset=dataset.summary(),
        best_hyperparameters=dict(outcome.best_hyperparameters.values),
        model=model_summary(dataset, outcome, settings, exported),
        search=search_summary(run, outcome, timing),
        seconds=round(timing.seconds_used, 2),
        format_version=FORMAT_VERSION,
    )
    sidecars = {
        PREPROCESSING_FILE: preprocessing(dataset, decision),
        REPORT_FILE: report.to_json(),
        TRIALS_FILE: [t.to_json() for t in outcome.trials],
        # The encoded training split, as the server sees requests: what its drift monitoring compares them with.
        PROFILE_FILE: InputProfile.from_training(dataset.train.x, dataset.info.input_spec).to_json(),
    }
    # Each trial's per-epoch metrics (.csv) and how it trained (.txt: our training step, or Model.fit and why).
    logs = [f"logs/{p.name}" for p in sorted((run.work / "logs").iterdir()) if p.suffix in (".csv", ".txt")]
    files = (MODEL_FILE, *sidecars, MANIFEST_FILE, MODEL_CARD_FILE, *logs)
    return BundleDocuments(sidecars, report, manifest(run, files))


def model_summary(
    dataset: Dataset, outcome: SearchOutcome, settings: SearchSettings, exported: ExportedModel
) -> ModelSummary:
    refit_histories = exported.refit_histories
    fitted = len(dataset.train) + len(dataset.validation)
    trained = refit_epochs(refit_histories) if settings.refits else None
    training = training_text(outcome, fitted, settings.refits, trained)
    if settings.cross_validated:
        training = folds_text(outcome, fitted, int(settings.folds))
    return ModelSummary(
        training=training,
        refit=settings.refits,
        epochs=outcome.best.best_epoch,
        ensemble=tuple(
            EnsembleMember(record.trial_id, record.score, record.best_epoch, weight)
            for (record, _), weight in zip(outcome.members, outcome.weights)
        ),
        ensemble_validation_score=outcome.ensemble_score,
        parameters=int(exported.model.count_params()),
        refit_history=tuple(
            {"trial": record.trial_id, "history": history}
            for (record, _), history in zip(outcome.members, refit_histories)
        ),
    )


def search_summary(run: RunContext, outcome: SearchOutcome, timing: Timing) -> SearchSummary:
    settings = run.settings
    objective, direction = settings.objective_for(run.vertical, run.task)
    counts = Counter(str(t.status) for t in outcome.trials)
    return SearchSummary(
        tuner=settings.tuner,
        objective=objective,
        direction=direction,
        settings=settings.as_json(),
        best_trial=outcome.best.trial_id,
        best_score=outcome.best.score,
        stopped_early=outcome.stopped_early_reason,
        stop_reason=outcome.stop_reason,
        trials={"total": len(outcome.trials), **dict(sorted(counts.items()))},
        search_seconds=round(outcome.seconds, 2),
        time_budget_seconds=settings.time_budget,
        time_used_seconds=round(timing.seconds_used, 2),
        phase_seconds={k: round(v, 2) for k, v in timing.phases.items()},
        resumed=timing.resumed,
        workers=dict(sorted(Counter(t.worker for t in outcome.trials if t.worker).items())),
        at_once=outcome.at_once,
        threads=outcome.threads,
    )


def refit_epochs(histories: list[dict[str, list[float]]]) -> list[int]:
    """The epochs each member's refit really trained (fewer than planned when the budget ran out)."""
    return [len(history["loss"]) for history in histories]


def training_text(outcome: SearchOutcome, fitted: int, refit: bool, trained: list[int] | None) -> str:
    """How the exported model was trained, in the words of the report and the model card."""
    planned = outcome.planned_epochs
    if refit and trained is not None and trained != planned:
        epochs = ", ".join(
            f"trial {record.trial_id}: {done} of {want}"
            for (record, _), done, want in zip(outcome.members, trained, planned)
        )
        cut = f"; the time budget ran out during the refit, so it trained fewer epochs than planned ({epochs})"
        return training_text(outcome, fitted, refit, None) + cut
    if not refit:
        trials = ", ".join(record.trial_id for record, _ in outcome.members)
        what = (
            "weights"
            if len(outcome.members) == 1
            else "weights, averaged with the weights of greedy ensemble selection"
        )
        return (
            f"trial {trials}'s own {what} (trained on the train split, best epoch kept by validation score; no refit)"
        )
    if len(outcome.members) == 1:
        return (
            f"refit from scratch on train+validation ({fitted} examples) for {outcome.best.best_epoch} epoch(s), "
            "the best trial's best epoch"
        )
    trials = ", ".join(
        f"{record.trial_id} ({weight:.0%})" for (record, _), weight in zip(outcome.members, outcome.weights)
    )
    return (
        f"the weighted average of {len(outcome.members)} trials ({trials}), "
        "chosen by greedy ensemble selection on validation predictions, "
        f"each refit from scratch on train+validation ({fitted} examples) for its own best epoch count"
    )


def folds_text(outcome: SearchOutcome, fitted: int, folds: int) -> str:
    """How a cross-validated run's model was trained, in the words of the report and the model card."""
    each = (
        f"{folds} models, each trained on all but one of {folds} folds of the {fitted} train+validation examples "
        "for the same number of epochs, the one with the best out-of-fold score"
    )
    if len(outcome.members) == 1:
        return f"the average of trial {outcome.best.trial_id}'s {each}"
    trials = ", ".join(
        f"{record.trial_id} ({weight:.0%})" for (record, _), weight in zip(outcome.members, outcome.weights)
    )
    return (
        f"the weighted average of {len(outcome.members)} trials ({trials}), chosen by greedy ensemble selection "
        f"on out-of-fold predictions of every train+validation example; each trial is the average of its {each}"
    )


def preprocessing(dataset: Dataset, decision: Decision | None) -> dict[str, Any]:
    """``preprocessing.json``: the input spec the vertical's encoder wrote, and what the output means.

    It stays a mapping: each kind of input (a plugin's too) describes itself.
    """
    task = dataset.info.task
    return {
        "format_version": FORMAT_VERSION,
        "task": task,
        "class_names": list(dataset.info.class_names),
        "input": dataset.info.input_spec,
        "output": output_spec(task, dataset, decision),
    }


def output_spec(task: str, dataset: Dataset, decision: Decision | None) -> dict[str, Any]:
    """What the model's output means, for ``preprocessing.json``."""
    names = list(dataset.info.class_names)
    if task == "binary":
        assert decision is not None  # a binary run always chooses a threshold
        return {
            "kind": "positive class probability",
            "shape": [1],
            "positive_class": names[1],
            "negative_class": names[0],
            "threshold": decision.threshold,
            "threshold_method": decision.method,
            "predicted_label": "positive_class if probability >= threshold else negative_class",
        }
    if task == "regression":
        return {
            "kind": "predicted value",
            "shape": [1],
            "target": dataset.train.target,
            "units": "those of the training target",
        }
    return {
        "kind": "class probabilities",
        "shape": [len(names)],
        "order": "class_names",
        "predicted_label": "class_names[argmax]",
    }


def manifest(run: RunContext, files: tuple[str, ...]) -> Manifest:
    from ..bundle.writer import library_versions

    training, test, plugin = run.inputs.training, run.dataset.test, run.plugin
    return Manifest(
        run_id=run.run_id,
        vertical=run.vertical.name,
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        plugin=PluginInfo(plugin.name, plugin.distribution, plugin.version),
        data=DataSources(training.source, training.fingerprint(), test.source, test.fingerprint()),
        libraries=library_versions(),
        files=files,
        format_version=FORMAT_VERSION,
    )
