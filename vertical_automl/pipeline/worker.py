"""``vautoml worker``: one more process running trials of a parallel search that is under way.

A worker needs only the run: its request (``run.json``: plugin, data,
settings) and its plan (``parallel.json``: the study's storage) are in the
run folder, so on another machine it needs the registry folder (shared, e.g.
over NFS) and the same data path.  It checks all of that before it asks
for a trial, and says in one line what is missing.  It trains trials until
the study has none left (the cap or the time budget), then exits; the
launching process refits and exports, as ever, with every worker's trials.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from .. import interrupts
from ..errors import DataError, UsageError
from ..plugins import InstalledPlugins, get_plugins
from ..records import RunRequest
from ..registry.layout import published_run, run_folder
from ..registry.run_folder import saved_request
from ..search_engine.budget import WORKERS_FOLDER, RunClock
from ..search_engine.progress import SearchProgress
from ..search_engine.study import ParallelPlan, StudyKeys, open_storage, worker_name
from . import phases
from .inputs import read_inputs


@dataclass(frozen=True)
class WorkerSummary:
    """What one worker did: its name and the trials it ran (ids), for its last line."""

    name: str
    trial_ids: tuple[str, ...]


def run_worker(
    run_id: str,
    root: Path,
    *,
    label: str = "joined",
    index: int = 0,
    parent: int | None = None,
    plugins: InstalledPlugins | None = None,
    progress: SearchProgress | None = None,
) -> WorkerSummary:
    """Run trials of the parallel search ``run_id`` until its study has none left.

    ``label`` names the worker in the trials it runs; ``index`` gives it its
    own sampler stream (Bayesian search); ``parent``, for a worker a launcher
    started, stops it asking for trials once that process is gone.
    """
    progress = progress or SearchProgress()
    plan, request = _run_to_join(root, run_id)
    plugins = plugins or get_plugins()
    vertical, _ = plugins.get_vertical(request.plugin)  # a plugin missing here is refused before any data is read
    inputs = read_inputs(plugins, vertical, request)
    if request.fingerprint is not None and request.fingerprint != inputs.fingerprint:
        raise DataError(
            f"the data this worker read ({request.data or 'built-in dataset'}) is not the data run '{run_id}' "
            "started with",
            "give every machine the same files at the same path",
        )
    dataset, settings = phases.split(vertical, inputs, request, progress)
    from ..search_engine.loop import open_tuner, run_trials
    from ..search_engine.workers import StudyWorker, parent_alive, training_group

    work = run_folder(root, run_id)
    clock = _shared_clock(plan, settings.time_budget)
    name = worker_name(label)
    keep_going = parent_alive(parent) if parent is not None else (lambda: True)
    worker = StudyWorker(
        plan, name, index, finisher=False, keep_going=keep_going, started_by_launcher=parent is not None
    )
    budget_folder = work / WORKERS_FOLDER / label
    budget_folder.mkdir(parents=True, exist_ok=True)
    import keras

    keras.utils.set_random_seed(settings.seed + index)
    with interrupts.deferred():
        tuner = open_tuner(vertical, dataset, settings, work, clock, progress, worker, budget_folder)
        before = set(tuner.oracle.trials)
        progress.message(f"worker {name} joined run {run_id} ({len(before)} trials finished so far)")
        with training_group(settings.devices, budget_folder / "devices"):
            run_trials(tuner, vertical, dataset, settings, clock, progress, verbose=False)
    mine = tuple(t for t in tuner.oracle.start_order if tuner.oracle.workers.get(t) == name)
    return WorkerSummary(name, mine)


def _run_to_join(root: Path, run_id: str) -> tuple[ParallelPlan, RunRequest]:
    """The plan and request of a parallel run in progress; anything else is refused in one line."""
    finished = published_run(root, run_id)
    if finished is not None:
        raise UsageError(f"run '{run_id}' already finished and is in {finished}", "there is nothing left to work on")
    request = saved_request(root, run_id)
    if request is None:
        raise UsageError(
            f"no run '{run_id}' in progress in the registry '{root}'",
            "start one with vautoml search --workers N, and pass the same --registry here",
        )
    plan = ParallelPlan.read(run_folder(root, run_id))
    if plan is None:
        raise UsageError(
            f"run '{run_id}' searches in one process and takes no workers",
            "start a parallel search with vautoml search --workers N (or --storage URL)",
        )
    return plan, request


def _shared_clock(plan: ParallelPlan, budget: float | None) -> RunClock:
    """A clock that runs out when the launcher's does: the study holds the deadline as wall-clock time."""
    import optuna

    study = optuna.load_study(study_name=plan.study, storage=open_storage(plan.storage))
    deadline = study.user_attrs.get(StudyKeys.DEADLINE)
    if budget is None or deadline is None:
        return RunClock(time.monotonic())
    left = float(deadline) - time.time()
    return RunClock(time.monotonic() + left - budget, 0.0, budget)
