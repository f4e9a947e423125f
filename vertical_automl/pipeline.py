"""One search, end to end: load, split, search, refit, score, export, publish.

This is what ``vautoml search`` and :func:`vertical_automl.search` run.  The
steps before the search (plugin lookup, loading, splitting) import no Keras,
so bad input fails fast; nothing reaches the registry until the bundle is
complete.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from .data.arrays import align_to_classes
from .data.dataset import Dataset, LabeledData
from .data.split import split_dataset
from .errors import DataError, UsageError
from .plugins import PluginRecord, PluginRegistry, get_plugins
from .registry import check_writable, default_root, new_run_id, publish, staged_run
from .settings import TUNERS, SearchSettings
from .vertical import Vertical

if TYPE_CHECKING:  # pragma: no cover - search.py imports Keras
    from .search import SearchOutcome


@dataclass(frozen=True)
class SearchResult:
    """Where the exported run went and what its report says."""

    run_id: str
    path: Path
    report: dict[str, Any]


def load_source(plugins: PluginRegistry, vertical: Vertical, source: Path, options: Mapping[str, str], like: LabeledData | None = None) -> LabeledData:
    """Read ``source`` with the first of the vertical's loaders that accepts it."""
    flag = "--test-data" if like is not None else "--data"
    if not source.exists():
        default = f", or leave out {flag} to use the built-in {vertical.default_data_description or 'dataset'}" if like is None and vertical.default_data else ""
        raise DataError(f"{flag} path '{source}' does not exist", f"check the path{default}")
    loaders = plugins.loaders_for(vertical.name)
    for loader in loaders:
        if loader.can_load(source):
            return loader.load(source, options, like)
    accepted = "; ".join(loader.description for loader in loaders) or "none"
    raise DataError(f"the {vertical.name} vertical cannot read '{source}'", f"give one of: {accepted}")


def load_training_data(plugins: PluginRegistry, vertical: Vertical, data: Path | None, options: Mapping[str, str]) -> LabeledData:
    if data is not None:
        return load_source(plugins, vertical, data, options)
    if vertical.default_data is None:
        raise DataError(f"the {vertical.name} vertical has no built-in dataset", f"pass your data with --data, e.g. vautoml search --plugin {vertical.name} --data ./my_data")
    return vertical.default_data()


def search(
    plugin: str,
    data: str | Path | None = None,
    *,
    test_data: str | Path | None = None,
    data_options: Mapping[str, str] | None = None,
    tuner: str = SearchSettings.tuner,
    max_trials: int = SearchSettings.max_trials,
    epochs: int = SearchSettings.epochs,
    batch_size: int = SearchSettings.batch_size,
    seed: int = SearchSettings.seed,
    validation_fraction: float = 0.2,
    test_fraction: float = 0.2,
    registry: str | Path | None = None,
    plugins: PluginRegistry | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> SearchResult:
    """Run a search for vertical ``plugin`` and export the best model into the registry."""
    plugins = plugins or get_plugins()
    vertical, record = plugins.get_vertical(plugin)
    options = dict(data_options or {})
    root = Path(registry) if registry is not None else default_root()
    _check_arguments(root, tuner, max_trials, epochs, batch_size, seed, validation_fraction, test_fraction)

    started = time.perf_counter()
    training = load_training_data(plugins, vertical, Path(data) if data is not None else None, options)
    held_out = None
    if test_data is not None:
        held_out = align_to_classes(load_source(plugins, vertical, Path(test_data), options, like=training), training.class_names)
    dataset = split_dataset(training, vertical.task, held_out, validation_fraction, test_fraction, seed)
    progress(
        f"{vertical.name}: {len(dataset.train)} train / {len(dataset.validation)} validation / {len(dataset.test)} test examples, "
        f"{dataset.info.num_classes} classes, input {dataset.info.input_shape} from {training.source}"
    )

    from . import export
    from .evaluate import classification_metrics
    from .search import predict_proba, refit, run_search

    settings = SearchSettings(tuner=tuner, max_trials=max_trials, epochs=epochs, batch_size=batch_size, seed=seed)
    run_id = new_run_id()
    with staged_run(root, run_id) as work:
        outcome = run_search(vertical, dataset, settings, work / "tuner", on_trial_done=lambda t: progress(_trial_line(t, vertical.objective, max_trials)))
        progress(f"best: trial {outcome.best.trial_id}, {vertical.objective}={outcome.best.score:.4f} at epoch {outcome.best.best_epoch}; refitting on train+validation")
        model = refit(vertical, dataset, outcome, settings)
        probabilities = predict_proba(model, dataset.test.x)
        metrics = classification_metrics(dataset.test.y, probabilities, dataset.info.class_names)

        documents = _documents(run_id, vertical, record, training, dataset, outcome, settings, metrics, int(model.count_params()), time.perf_counter() - started)
        bundle = work / "bundle"
        export.write_bundle(bundle, model, documents, vertical, dataset.test.x[:32], probabilities[:32])
        path = publish(bundle, root, vertical.name, run_id)
    return SearchResult(run_id, path, documents["report.json"])


def _trial_line(trial: Any, objective: str, max_trials: int) -> str:
    score = f"{objective}={trial.score:.4f}" if trial.score is not None else f"{objective}=-"
    suffix = f"  {trial.error}" if trial.error else ""
    return f"trial {trial.trial_id} ({int(trial.trial_id) + 1}/{max_trials})  {trial.status:<9} {score}  epochs={trial.epochs_run}  {trial.seconds:.1f}s{suffix}"


def _manifest(run_id: str, vertical: Vertical, record: PluginRecord, training: LabeledData, test: LabeledData, files: list[str]) -> dict[str, Any]:
    from .export import FORMAT_VERSION, library_versions

    return {
        "format_version": FORMAT_VERSION,
        "run_id": run_id,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "vertical": vertical.name,
        "plugin": {"name": record.name, "distribution": record.distribution, "version": record.version},
        "data": {"source": training.source, "fingerprint": training.fingerprint(), "test_source": test.source, "test_fingerprint": test.fingerprint()},
        "libraries": library_versions(),
        "files": files,
    }


def _check_arguments(root: Path, tuner: str, max_trials: int, epochs: int, batch_size: int, seed: int, validation_fraction: float, test_fraction: float) -> None:
    """Reject impossible settings before any data is read (the CLI's own checks cover its users)."""
    check_writable(root)
    if tuner not in TUNERS:
        raise UsageError(f"unknown tuner '{tuner}'", f"use one of {', '.join(TUNERS)}")
    for name, value, low, high in (("max_trials", max_trials, 1, 10_000), ("epochs", epochs, 1, 10_000), ("batch_size", batch_size, 1, 1 << 20), ("seed", seed, 0, 2**32 - 1)):
        if not low <= value <= high:
            raise UsageError(f"{name} must be between {low} and {high}, got {value}", "pass a value in that range")
    for name, value in (("validation_fraction", validation_fraction), ("test_fraction", test_fraction)):
        if not 0.05 <= value <= 0.5:
            raise UsageError(f"{name} must be between 0.05 and 0.5, got {value}", "pass a fraction in that range")


def _documents(
    run_id: str,
    vertical: Vertical,
    record: PluginRecord,
    training: LabeledData,
    dataset: Dataset,
    outcome: SearchOutcome,
    settings: SearchSettings,
    metrics: dict[str, Any],
    parameters: int,
    seconds: float,
) -> dict[str, Any]:
    """The JSON sidecars of a bundle, keyed by file name."""
    from .export import FORMAT_VERSION, MODEL_CARD_FILE, MODEL_FILE

    trial_counts = Counter(t.status for t in outcome.trials)
    fitted = len(dataset.train) + len(dataset.validation)
    documents = {
        "preprocessing.json": {
            "format_version": FORMAT_VERSION,
            "task": vertical.task,
            "class_names": list(dataset.info.class_names),
            "input": dataset.info.input_spec,
            "output": {"kind": "class probabilities", "shape": [dataset.info.num_classes], "order": "class_names", "predicted_label": "class_names[argmax]"},
        },
        "report.json": {
            "format_version": FORMAT_VERSION,
            "run_id": run_id,
            "vertical": vertical.name,
            "task": vertical.task,
            "test_metrics": metrics,
            "dataset": dataset.summary(),
            "best_hyperparameters": dict(outcome.best_hyperparameters.values),
            "model": {
                "training": f"refit from scratch on train+validation ({fitted} examples) for {outcome.best.best_epoch} epoch(s), the best trial's best epoch",
                "refit": True,
                "epochs": outcome.best.best_epoch,
                "parameters": parameters,
            },
            "search": {
                "tuner": settings.tuner,
                "objective": vertical.objective,
                "direction": vertical.objective_direction,
                "settings": asdict(settings),
                "best_trial": outcome.best.trial_id,
                "best_score": outcome.best.score,
                "stopped_early": outcome.stopped_early_reason,
                "trials": {"total": len(outcome.trials), **dict(sorted(trial_counts.items()))},
                "search_seconds": round(outcome.seconds, 2),
            },
            "seconds": round(seconds, 2),
        },
        "trials.json": [t.as_dict() for t in outcome.trials],
    }
    files = [MODEL_FILE, *documents, "manifest.json", MODEL_CARD_FILE]
    documents["manifest.json"] = _manifest(run_id, vertical, record, training, dataset.test, files)
    return documents
