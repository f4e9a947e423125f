"""One search, end to end: load, split, search, refit, score, export, publish.

This is what ``vautoml search`` and :func:`vertical_automl.search` run.  The
steps before the search (plugin lookup, loading, splitting) import no Keras,
so bad input fails fast; nothing reaches the registry until the bundle is
complete.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import interrupts
from .bundle.files import MANIFEST_FILE, MODEL_CARD_FILE, MODEL_FILE, PREPROCESSING_FILE, REPORT_FILE, TRIALS_FILE
from .config import SearchConfig, load_config
from .data.arrays import align_to_classes
from .data.dataset import Dataset, LabeledData
from .data.split import split_dataset, task_of
from .errors import DataError, SearchError, UsageError
from .evaluate import choose_threshold, transfer_threshold
from .heads import OBJECTIVES
from .loading import load_source, load_training_data
from .plugins import InstalledPlugins, PluginRecord, get_plugins
from .registry.disk import check_space, room_to_save
from .registry.layout import (
    FORMAT_VERSION,
    check_run_id,
    check_writable,
    default_root,
    interrupted_runs,
    new_run_id,
    published_run,
)
from .registry.lock import locked_run
from .registry.run_folder import keep_failed_trials, open_run, publish, saved_request
from .report.sections import Evaluation, ReportSection
from .scoring import predict_scores, score_test_split
from .search_engine import budget
from .search_engine.progress import SearchProgress
from .settings import TUNERS, SearchSettings
from .vertical import Vertical

if TYPE_CHECKING:  # pragma: no cover - the search engine's outcome, a type name only here
    from .search_engine.records import SearchOutcome


@dataclass(frozen=True)
class SearchResult:
    """Where the exported run went and what its report says."""

    run_id: str
    path: Path
    report: dict[str, Any]
    export_seconds: float = 0.0


def search(
    plugin: str,
    data: str | Path | None = None,
    *,
    test_data: str | Path | None = None,
    data_options: Mapping[str, str] | None = None,
    config: str | Path | None = None,
    tuner: str | None = None,
    max_trials: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    patience: int | None = None,
    seed: int | None = None,
    time_budget: float | None = None,
    max_failed_trials: int | None = None,
    objective: str | None = None,
    direction: str | None = None,
    refit: bool = True,
    cost_fp: float | None = None,
    cost_fn: float | None = None,
    validation_fraction: float = 0.2,
    test_fraction: float = 0.2,
    run_name: str | None = None,
    registry: str | Path | None = None,
    plugins: InstalledPlugins | None = None,
    progress: SearchProgress | None = None,
    verbose: bool = False,
    started: float | None = None,
) -> SearchResult:
    """Run a search for vertical ``plugin`` and export the best model into the registry.

    ``data_options`` are the loader's ``-O KEY=VALUE`` options plus
    ``positive_class`` (binary tasks: the class whose probability the model
    outputs).  ``config`` is a ``search.toml`` (:mod:`vertical_automl.config`):
    its ``[space]`` narrows or widens the shared search space, and its
    ``[search]`` sets any of the search arguments left as ``None`` here
    (``None`` elsewhere means the default in :class:`SearchSettings`).
    ``cost_fp``/``cost_fn`` choose a binary decision threshold by least
    validation cost instead of Youden's J.  ``time_budget`` (seconds) bounds
    the whole run up to the export (``started``, a ``time.monotonic()``
    value, is when the run began; default: now); ``max_failed_trials``
    consecutive failures end the search (the best completed trial is still
    exported).  ``refit=False`` exports the best trial's own weights instead
    of a refit on train+validation.  ``run_name`` names the run (its id); a
    run of that name that was interrupted continues, if the request is the same.
    """
    started = time.monotonic() if started is None else started
    plugins = plugins or get_plugins()
    root = Path(registry) if registry is not None else default_root()
    loaded = load_config(config) if config is not None else SearchConfig()
    given = dict(
        tuner=tuner,
        max_trials=max_trials,
        epochs=epochs,
        batch_size=batch_size,
        patience=patience,
        seed=seed,
        time_budget=time_budget,
        max_failed_trials=max_failed_trials,
        objective=objective,
        direction=direction,
    )
    chosen = {**loaded.search, **{key: value for key, value in given.items() if value is not None}}
    if "max_failed_trials" in chosen:
        chosen["max_consecutive_failed_trials"] = chosen.pop("max_failed_trials")
    settings = SearchSettings(**chosen, refit=refit, space=loaded.space)
    _check_arguments(root, settings, validation_fraction, test_fraction, cost_fp, cost_fn)
    vertical, _ = plugins.get_vertical(plugin)  # an unknown plugin fails before any data is read
    check_writable(root / vertical.name)  # where the bundle will be published: checked now, not after the search
    request = {
        "plugin": plugin,
        "data": str(Path(data).resolve()) if data is not None else None,
        "test_data": str(Path(test_data).resolve()) if test_data is not None else None,
        "data_options": dict(data_options or {}),
        "settings": settings.as_json(),
        "cost_fp": cost_fp,
        "cost_fn": cost_fn,
        "validation_fraction": validation_fraction,
        "test_fraction": test_fraction,
    }
    run_id = check_run_id(run_name) if run_name is not None else new_run_id()
    with locked_run(root, run_id):  # a second process on the same run stops here, having touched nothing
        if run_name is not None:
            _check_same_request(root, run_id, request)
        return _run(request, run_id, root, plugins, progress or SearchProgress(), verbose, started)


def _check_same_request(root: Path, run_id: str, request: dict[str, Any]) -> None:
    """A named run continues only if it is unfinished and was started with this same request."""
    finished = published_run(root, run_id)
    if finished is not None:
        raise UsageError(
            f"run '{run_id}' already finished and is in {finished}",
            "choose another --run-name, or leave it out for a fresh run id",
        )
    saved = saved_request(root, run_id)
    if saved is not None:
        changed = [key for key in request if saved.get(key) != request[key]]
        if changed:
            raise UsageError(
                f"run '{run_id}' was started with other {', '.join(changed)} than given now",
                "repeat the original command to resume it, use 'vautoml search --resume "
                + run_id
                + "', or choose another --run-name",
            )


def resume(
    run_id: str,
    *,
    registry: str | Path | None = None,
    plugins: InstalledPlugins | None = None,
    progress: SearchProgress | None = None,
    verbose: bool = False,
    started: float | None = None,
) -> SearchResult:
    """Continue the interrupted run ``run_id`` with the request it was started with.

    Finished trials are not run again.
    """
    started = time.monotonic() if started is None else started
    root = Path(registry) if registry is not None else default_root()
    check_run_id(run_id, "--resume")
    if saved_request(root, run_id) is None:  # checked before locking, so a mistyped id creates nothing
        _no_run_to_resume(root, run_id)
    with locked_run(root, run_id):
        request = saved_request(root, run_id)  # again: a process that held the lock may have finished the run
        if request is None:
            _no_run_to_resume(root, run_id)
        plugins = plugins or get_plugins()
        vertical, _ = plugins.get_vertical(request["plugin"])
        check_writable(root / vertical.name)
        return _run(request, run_id, root, plugins, progress or SearchProgress(), verbose, started)


def _no_run_to_resume(root: Path, run_id: str) -> None:
    finished = published_run(root, run_id)
    if finished is not None:
        raise UsageError(f"run '{run_id}' already finished and is in {finished}", "there is nothing to resume")
    waiting = interrupted_runs(root)
    hint = (
        f"interrupted runs in {root}: {', '.join(waiting)}"
        if waiting
        else f"there are no interrupted runs in {root}; start one with vautoml search"
    )
    raise UsageError(f"no interrupted run '{run_id}' in the registry '{root}'", hint)


def _run(
    request: dict[str, Any],
    run_id: str,
    root: Path,
    plugins: InstalledPlugins,
    progress: SearchProgress,
    verbose: bool,
    started: float,
) -> SearchResult:
    """Load, split, search (or continue a search), refit, score and publish one run."""
    vertical, record = plugins.get_vertical(request["plugin"])
    settings = SearchSettings.from_json(request["settings"])
    options = dict(request["data_options"])
    positive_class = options.pop("positive_class", None)
    training = load_training_data(plugins, vertical, Path(request["data"]) if request["data"] else None, options)
    held_out = None
    if request["test_data"] is not None:
        held_out = load_source(plugins, vertical, Path(request["test_data"]), options, like=training)
        if not training.is_regression:
            held_out = align_to_classes(held_out, training.class_names)
    if positive_class is not None:
        training, held_out = _with_positive_class(training, held_out, positive_class)
    task = _task_for(vertical, training)
    cost_fp, cost_fn = request["cost_fp"], request["cost_fn"]
    if (cost_fp is not None or cost_fn is not None) and task != "binary":
        raise UsageError(
            f"--cost-fp and --cost-fn set a binary decision threshold, but this is a {task} task", "leave them out"
        )
    _check_objective(vertical, task, settings)
    fingerprint = {
        "data": training.fingerprint(),
        "test_data": held_out.fingerprint() if held_out is not None else None,
    }
    saved = saved_request(root, run_id)
    if saved is not None and saved.get("fingerprint") != fingerprint:
        raise DataError(
            f"the data of run '{run_id}' changed since it started ({request['data'] or 'built-in dataset'})",
            "resuming would mix two datasets; start a new run (another --run-name, or none)",
        )
    dataset = split_dataset(
        training, task, held_out, request["validation_fraction"], request["test_fraction"], settings.seed
    )
    settings = settings.for_rows(len(dataset.train))
    classes = f"{dataset.info.num_classes} classes" if task != "regression" else f"regression on '{training.target}'"
    progress.message(
        f"{vertical.name} ({task}): {len(dataset.train)} train / {len(dataset.validation)} validation / "
        f"{len(dataset.test)} test examples, "
        f"{classes}, input {dataset.info.input_shape} from {training.source}"
    )

    from .bundle.writer import write_bundle
    from .search_engine.ensembling import combine
    from .search_engine.loop import AllTrialsFailed, run_search
    from .search_engine.refit import refit as refit_members

    objective = settings.objective_for(vertical, task)[0]
    with (
        interrupts.deferred(),
        open_run(
            root, run_id, {**request, "fingerprint": fingerprint}, has_finished_work=budget.has_finished_work
        ) as work,
    ):
        spent_before = budget.seconds_used(work)
        if saved is not None:
            progress.message(f"resuming run {run_id} ({spent_before:.0f}s used before); finished trials are kept")
        clock = budget.RunClock(started, spent_before, settings.time_budget)
        phases = {"start_and_data": clock.used()}
        try:
            outcome = run_search(vertical, dataset, settings, work, clock, progress, verbose)
        except AllTrialsFailed as failed:
            where = keep_failed_trials(root, run_id, [t.as_dict() for t in failed.trials], work / "logs")
            kept = f"; every trial's error is in {where}" if where is not None else ""
            raise SearchError(failed.problem + kept, failed.fix) from None
        phases["search"] = clock.used() - sum(phases.values())
        interrupts.check()
        if settings.refit:
            refitting = (
                "refitting on train+validation"
                if len(outcome.members) == 1
                else f"refitting {len(outcome.members)} trials chosen by ensemble selection on train+validation "
                "and averaging them"
            )
        else:
            refitting = (
                "exporting its own weights (--no-refit)"
                if len(outcome.members) == 1
                else f"averaging {len(outcome.members)} trials chosen by ensemble selection, "
                "with their own weights (--no-refit)"
            )
        progress.message(
            f"best: trial {outcome.best.trial_id}, {objective}={outcome.best.score:.4f} "
            f"at epoch {outcome.best.best_epoch}; {refitting}"
        )
        if settings.refit:
            model, refit_histories = refit_members(vertical, dataset, outcome, settings, deadline=clock.end())
        else:
            model, refit_histories = combine(outcome.trial_models, outcome, vertical, task), []
        phases["refit"] = clock.used() - sum(phases.values())
        interrupts.check()
        # The budget covers everything up to here; scoring the test split, the report sections and writing the
        # bundle are the export.
        seconds_used, exporting = clock.used(), time.monotonic()
        decision = None
        if task == "binary":
            decision = choose_threshold(dataset.validation.y, outcome.validation_scores[:, 1], cost_fp, cost_fn)
            if settings.refit and _refit_epochs(refit_histories) != outcome.planned_epochs:
                # A refit cut short by the budget is calibrated unlike the trials: keep the share called positive
                # instead.
                decision = transfer_threshold(
                    decision, outcome.validation_scores[:, 1], predict_scores(model, dataset.validation.x, task)[:, 1]
                )
        scores = predict_scores(model, dataset.test.x, task)
        metrics = score_test_split(
            task, dataset.test.y, scores, dataset.info.class_names, decision["threshold"] if decision else None
        )
        evaluation = Evaluation(
            task,
            dataset.info.class_names,
            dataset.test.y,
            scores,
            dataset.raw_test if dataset.raw_test is not None else dataset.test,
            predict=lambda raw: predict_scores(model, dataset.encoder.transform(raw) if dataset.encoder else raw, task),
            threshold=decision["threshold"] if decision else None,
            seed=settings.seed,
        )
        sections = list(vertical.report_sections(evaluation)) if vertical.report_sections else []

        logs = work / "logs"
        log_files = [f"logs/{p.name}" for p in sorted(logs.glob("*.csv"))]
        timing = {
            "seconds_used": seconds_used,
            "resumed": saved is not None,
            "refit_histories": refit_histories,
            "phases": {k: round(v, 2) for k, v in phases.items()},
        }
        documents = _documents(
            run_id,
            vertical,
            record,
            training,
            dataset,
            outcome,
            settings,
            metrics,
            decision,
            sections,
            int(model.count_params()),
            timing,
            log_files,
        )
        bundle = work / "bundle"
        check_space(work, room_to_save(model) + 8 * 2**20, "to write the bundle (model, reports and plots)")
        write_bundle(bundle, model, documents, vertical, evaluation, sections, dataset.test.x[:32], logs)
        path = publish(bundle, root, vertical.name, run_id)
    return SearchResult(run_id, path, documents[REPORT_FILE], time.monotonic() - exporting)


def _with_positive_class(
    training: LabeledData, held_out: LabeledData | None, positive: str
) -> tuple[LabeledData, LabeledData | None]:
    """Re-order two classes so ``positive`` is index 1, the class a binary model scores."""
    if training.is_regression or len(training.class_names) != 2:
        raise UsageError(
            f"positive_class is for two-class data, but {training.source} has "
            f"{len(training.class_names) or 'no'} classes",
            "leave out -O positive_class",
        )
    if positive not in training.class_names:
        raise UsageError(
            f"positive_class '{positive}' is not one of the classes {', '.join(training.class_names)}",
            "pass one of those names",
        )
    order = (next(c for c in training.class_names if c != positive), positive)
    return align_to_classes(training, order), (align_to_classes(held_out, order) if held_out is not None else None)


def _task_for(vertical: Vertical, data: LabeledData) -> str:
    task = task_of(data)
    if task not in vertical.tasks:
        what = {
            "regression": "a numeric target (regression)",
            "binary": "two classes",
            "multiclass": f"{len(data.class_names)} classes",
        }[task]
        hint = " (pass -O task=classification for a numeric class label)" if task == "regression" else ""
        raise DataError(
            f"the {vertical.name} vertical handles {' and '.join(vertical.tasks)} tasks, but {data.source} has {what}",
            f"use data with a suitable target{hint}",
        )
    return task


def _manifest(
    run_id: str, vertical: Vertical, record: PluginRecord, training: LabeledData, test: LabeledData, files: list[str]
) -> dict[str, Any]:
    from .bundle.writer import library_versions

    return {
        "format_version": FORMAT_VERSION,
        "run_id": run_id,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "vertical": vertical.name,
        "plugin": {"name": record.name, "distribution": record.distribution, "version": record.version},
        "data": {
            "source": training.source,
            "fingerprint": training.fingerprint(),
            "test_source": test.source,
            "test_fingerprint": test.fingerprint(),
        },
        "libraries": library_versions(),
        "files": files,
    }


def _check_arguments(
    root: Path,
    settings: SearchSettings,
    validation_fraction: float,
    test_fraction: float,
    cost_fp: float | None,
    cost_fn: float | None,
) -> None:
    """Reject impossible settings before any data is read (the CLI's own checks cover its users)."""
    check_writable(root)
    if settings.tuner not in TUNERS:
        raise UsageError(f"unknown tuner '{settings.tuner}'", f"use one of {', '.join(TUNERS)}")
    limits = (
        ("max_trials", 1, 10_000),
        ("epochs", 1, 10_000),
        ("batch_size", 1, 1 << 20),
        ("patience", 1, 10_000),
        ("seed", 0, 2**32 - 1),
        ("max_consecutive_failed_trials", 1, 1000),
    )
    for name, low, high in limits:
        value = getattr(settings, name)
        if value is None and name in ("max_trials", "epochs", "batch_size", "patience"):  # chosen later, from the data
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise UsageError(
                f"{name} must be an integer from {low} to {high}, got {value!r}", "pass a value in that range"
            )
    for name, value in (("validation_fraction", validation_fraction), ("test_fraction", test_fraction)):
        if not 0.05 <= value <= 0.5:
            raise UsageError(f"{name} must be between 0.05 and 0.5, got {value}", "pass a fraction in that range")
    if settings.time_budget is not None and not (settings.time_budget > 0 and math.isfinite(settings.time_budget)):
        raise UsageError(
            f"time_budget must be a positive number of seconds, got {settings.time_budget}", "pass e.g. 300"
        )
    if settings.direction not in (None, "min", "max"):
        raise UsageError(
            f"direction must be 'min' or 'max', got {settings.direction!r}",
            "pass one of them, or leave it out to infer it from the objective",
        )
    for name, value in (("cost_fp", cost_fp), ("cost_fn", cost_fn)):
        if value is not None and not (value > 0 and math.isfinite(value)):
            raise UsageError(f"{name} must be a positive number, got {value}", "pass e.g. --cost-fp 1 --cost-fn 5")


def _check_objective(vertical: Vertical, task: str, settings: SearchSettings) -> None:
    """A configured objective must be a metric the task's models report."""
    if settings.objective is None:
        return
    allowed = dict.fromkeys([*OBJECTIVES[task], vertical.objective(task)[0]])
    if settings.objective not in allowed:
        raise UsageError(
            f"objective '{settings.objective}' is not reported for {task} tasks", f"use one of: {', '.join(allowed)}"
        )


def _refit_epochs(histories: list[dict[str, list[float]]]) -> list[int]:
    """The epochs each member's refit really trained (fewer than planned when the budget ran out)."""
    return [len(history["loss"]) for history in histories]


def _training_text(outcome: SearchOutcome, fitted: int, refit: bool, refit_epochs: list[int] | None) -> str:
    planned = outcome.planned_epochs
    if refit and refit_epochs is not None and refit_epochs != planned:
        trained = ", ".join(
            f"trial {record.trial_id}: {done} of {want}"
            for (record, _), done, want in zip(outcome.members, refit_epochs, planned)
        )
        cut = f"; the time budget ran out during the refit, so it trained fewer epochs than planned ({trained})"
        return _training_text(outcome, fitted, refit, None) + cut
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


def _output_spec(task: str, dataset: Dataset, decision: dict[str, Any] | None) -> dict[str, Any]:
    """What the model's output means, for ``preprocessing.json``."""
    names = list(dataset.info.class_names)
    if task == "binary":
        return {
            "kind": "positive class probability",
            "shape": [1],
            "positive_class": names[1],
            "negative_class": names[0],
            "threshold": decision["threshold"],
            "threshold_method": decision["method"],
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


def _documents(
    run_id: str,
    vertical: Vertical,
    record: PluginRecord,
    training: LabeledData,
    dataset: Dataset,
    outcome: SearchOutcome,
    settings: SearchSettings,
    metrics: dict[str, Any],
    decision: dict[str, Any] | None,
    sections: list[ReportSection],
    parameters: int,
    timing: dict[str, Any],
    log_files: list[str],
) -> dict[str, Any]:
    """The JSON sidecars of a bundle, keyed by file name (the manifest lists every file, trial logs included)."""
    task = dataset.info.task
    objective, direction = settings.objective_for(vertical, task)
    trial_counts = Counter(t.status for t in outcome.trials)
    fitted = len(dataset.train) + len(dataset.validation)
    documents = {
        PREPROCESSING_FILE: {
            "format_version": FORMAT_VERSION,
            "task": task,
            "class_names": list(dataset.info.class_names),
            "input": dataset.info.input_spec,
            "output": _output_spec(task, dataset, decision),
        },
        REPORT_FILE: {
            "format_version": FORMAT_VERSION,
            "run_id": run_id,
            "vertical": vertical.name,
            "task": task,
            "test_metrics": metrics,
            "decision_threshold": decision,
            "sections": {section.name: {"title": section.title, **section.data} for section in sections},
            "dataset": dataset.summary(),
            "best_hyperparameters": dict(outcome.best_hyperparameters.values),
            "model": {
                "training": _training_text(
                    outcome,
                    fitted,
                    settings.refit,
                    _refit_epochs(timing["refit_histories"]) if settings.refit else None,
                ),
                "refit": settings.refit,
                "epochs": outcome.best.best_epoch,
                "ensemble": [
                    {"trial": record.trial_id, "score": record.score, "epochs": record.best_epoch, "weight": weight}
                    for (record, _), weight in zip(outcome.members, outcome.weights)
                ],
                "ensemble_validation_score": outcome.ensemble_score,
                "parameters": parameters,
                "refit_history": [
                    {"trial": record.trial_id, "history": history}
                    for (record, _), history in zip(outcome.members, timing["refit_histories"])
                ],
            },
            "search": {
                "tuner": settings.tuner,
                "objective": objective,
                "direction": direction,
                "settings": settings.as_json(),
                "best_trial": outcome.best.trial_id,
                "best_score": outcome.best.score,
                "stopped_early": outcome.stopped_early_reason,
                "stop_reason": outcome.stop_reason,
                "trials": {"total": len(outcome.trials), **dict(sorted(trial_counts.items()))},
                "search_seconds": round(outcome.seconds, 2),
                "time_budget_seconds": settings.time_budget,
                "time_used_seconds": round(timing["seconds_used"], 2),
                "time_used_covers": "start-up, loading, search and refit, across every session of the run; "
                "the export (test scoring, report sections, writing the bundle) comes after",
                "phase_seconds": timing["phases"],
                "resumed": timing["resumed"],
            },
            "seconds": round(timing["seconds_used"], 2),
        },
        TRIALS_FILE: [t.as_dict() for t in outcome.trials],
    }
    files = [MODEL_FILE, *documents, MANIFEST_FILE, MODEL_CARD_FILE, *log_files]
    documents[MANIFEST_FILE] = _manifest(run_id, vertical, record, training, dataset.test, files)
    return documents
