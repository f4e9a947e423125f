"""One search, end to end: :func:`search` and :func:`resume` check the request, :func:`run` runs the phases.

This is what ``vautoml search`` and :func:`vertical_automl.search` call.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import interrupts
from ..bundle.files import REPORT_FILE
from ..plugins import InstalledPlugins, get_plugins
from ..records import RunRequest
from ..registry.layout import check_run_id, check_writable, default_root, new_run_id
from ..registry.lock import locked_run
from ..registry.run_folder import open_run, saved_request
from ..search_engine import budget
from ..search_engine.progress import SearchProgress
from ..search_engine.study import check_workers
from ..search_engine.workers import DEVICE_LOGS, training_group
from . import phases
from .context import RunContext, Timing
from .documents import bundle_documents
from .execution import Execution
from .inputs import check_unchanged, read_inputs
from .request import build_request, check_arguments, check_same_request, no_run_to_resume, settings_from


@dataclass(frozen=True)
class SearchResult:
    """Where the exported run went and what its ``report.json`` says (as JSON, the file's own keys)."""

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
    folds: int | None = None,
    devices: int | None = None,
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
    workers: int | None = None,
    storage: str | None = None,
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
    exported).  ``folds`` cross-validates every trial (1: one validation
    split; default: 5 folds on tables and text of at most 5,000
    train+validation rows, 12 per second of a shorter ``time_budget``, else
    1).  ``refit=False`` exports the best trial's own weights instead of a
    refit on train+validation (with one validation split).  ``run_name`` names the run (its id); a
    run of that name that was interrupted continues, if the request is the same.
    ``workers`` above 1 runs that many trials at once, each in its own
    process (default: one per core or GPU, see
    :func:`~vertical_automl.search_engine.workers.default_workers`; one when
    ``plugins`` is given, since worker processes find plugins by their entry
    points); ``storage`` (an SQLAlchemy URL such as
    ``postgresql+psycopg://...``) keeps the trials in a database that workers
    on other machines join (``vautoml worker``).  ``devices`` above 1 trains
    every trial, fold and refit on that many processes at once, data-parallel
    (GPUs where there are, else CPU processes: :mod:`vertical_automl.training.shared`).  Default: one process, or,
    for a parallel search, an SQLite file in the run folder.
    """
    started = time.monotonic() if started is None else started
    explicit_plugins = plugins is not None
    plugins = plugins or get_plugins()
    root = Path(registry) if registry is not None else default_root()
    vertical, _ = plugins.get_vertical(plugin)  # an unknown plugin fails before any data is read
    settings = settings_from(
        config,
        refit,
        vertical.dimensions,  # [space] may set the vertical's own dimensions
        tuner=tuner,
        max_trials=max_trials,
        epochs=epochs,
        batch_size=batch_size,
        patience=patience,
        seed=seed,
        time_budget=time_budget,
        max_failed_trials=max_failed_trials,
        folds=folds,
        devices=devices,
        objective=objective,
        direction=direction,
    )
    request = build_request(
        plugin, data, test_data, data_options, settings, cost_fp, cost_fn, validation_fraction, test_fraction
    )
    check_arguments(root, request)
    if workers is None and explicit_plugins:
        workers = 1
    if workers is not None and (workers != 1 or storage is not None):
        check_workers(workers, settings.tuner)
    check_writable(root / vertical.name)  # where the bundle will be published: checked now, not after the search
    run_id = check_run_id(run_name) if run_name is not None else new_run_id()
    with locked_run(root, run_id):  # a second process on the same run stops here, having touched nothing
        if run_name is not None:
            check_same_request(root, run_id, request)
        execution = Execution(workers, storage)
        return run(request, run_id, root, plugins, progress or SearchProgress(), verbose, started, execution)


def resume(
    run_id: str,
    *,
    registry: str | Path | None = None,
    plugins: InstalledPlugins | None = None,
    progress: SearchProgress | None = None,
    verbose: bool = False,
    started: float | None = None,
    workers: int | None = None,
) -> SearchResult:
    """Continue the interrupted run ``run_id`` with the request it was started with.

    Finished trials are not run again.  A parallel search continues with
    ``workers`` workers (default: as many as it started with).
    """
    started = time.monotonic() if started is None else started
    root = Path(registry) if registry is not None else default_root()
    check_run_id(run_id, "--resume")
    if saved_request(root, run_id) is None:  # checked before locking, so a mistyped id creates nothing
        raise no_run_to_resume(root, run_id)
    with locked_run(root, run_id):
        request = saved_request(root, run_id)  # again: a process that held the lock may have finished the run
        if request is None:
            raise no_run_to_resume(root, run_id)
        plugins = plugins or get_plugins()
        vertical, _ = plugins.get_vertical(request.plugin)
        check_writable(root / vertical.name)
        if workers is not None:
            check_workers(workers, request.settings.tuner)
        execution = Execution(workers, None)
        return run(request, run_id, root, plugins, progress or SearchProgress(), verbose, started, execution)


def run(
    request: RunRequest,
    run_id: str,
    root: Path,
    plugins: InstalledPlugins,
    progress: SearchProgress,
    verbose: bool,
    started: float,
    execution: Execution | None = None,
) -> SearchResult:
    """Read the data, split it, search (or continue a search), train the export, score it and publish it."""
    vertical, plugin = plugins.get_vertical(request.plugin)
    inputs = read_inputs(plugins, vertical, request)
    saved = saved_request(root, run_id)
    check_unchanged(saved, inputs, run_id, request)
    dataset, settings = phases.split(vertical, inputs, request, progress)
    started_with = request.with_fingerprint(inputs.fingerprint)
    with (
        interrupts.deferred(),
        open_run(root, run_id, started_with, has_finished_work=budget.has_finished_work) as work,
    ):
        context = RunContext(run_id, root, work, vertical, plugin, request, inputs, dataset, settings, progress)
        parallel = (execution or Execution()).plan(work, run_id, saved is not None, settings)
        spent_before = budget.seconds_used(work)
        if saved is not None:
            progress.message(f"resuming run {run_id} ({spent_before:.0f}s used before); finished trials are kept")
        clock = budget.RunClock(started, spent_before, settings.time_budget)
        seconds = {"start_and_data": clock.used()}
        with training_group(settings.devices, work / DEVICE_LOGS):
            outcome = phases.search_trials(context, clock, verbose, parallel)
            seconds["search"] = clock.used() - sum(seconds.values())
            exported = phases.train_exported_model(context, outcome, clock)
            seconds["refit"] = clock.used() - sum(seconds.values())
        # The budget covers everything up to here; the test scores, the report sections and the bundle are the export.
        timing, exporting = Timing(clock.used(), seconds, saved is not None), time.monotonic()
        decision = phases.decide_threshold(context, outcome, exported)
        tested = phases.score_test(context, exported, decision)
        documents = bundle_documents(context, outcome, exported, tested, decision, timing)
        path = phases.write_and_publish(context, exported, documents, tested)
    return SearchResult(run_id, path, documents.sidecars[REPORT_FILE], time.monotonic() - exporting)
