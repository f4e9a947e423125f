"""What ``vautoml search status RUN_ID`` shows: a run's state, its trials and its workers, read from another terminal.

A run is in one of four places (:mod:`vertical_automl.registry.layout`):

* ``.runs/<run>/``: **running** while a live process holds the run's lock,
  **interrupted** when nobody does (``--resume`` continues it);
* ``<vertical>/<run>/``: **finished**, its trials in ``trials.json``;
* ``.failed/<run>/``: **failed**, every trial having failed.

A one-process run's trials are KerasTuner's ``trial.json`` files plus
``trials_state.json`` (seconds, epochs); a parallel run's are its Optuna
study's (:class:`.study.TrialKeys`).  It only reads: a status must not fail a
stale trial or create a storage.  No Keras, and Optuna only for a parallel
run, so it answers at once beside a search that trains.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from ..bundle.files import HTML_FILE, TRIALS_FILE
from ..errors import UsageError
from ..registry.layout import FAILED, check_run_id, default_root, interrupted_runs, published_run, run_folder
from ..registry.lock import run_holder
from ..registry.run_folder import damaged_run_folder, read_run_file, saved_request
from ..registry.runs import damaged_run, read_run
from ..settings import SearchSettings
from .budget import TRIAL_FILES, WORKERS_FOLDER, read_state
from .records import TrialRecord
from .study import (
    ParallelPlan,
    StudyKeys,
    TrialKeys,
    beatless_trials,
    grace_seconds,
    open_storage,
    replaced_trials,
    without_password,
)

WAITING = "WAITING"  # queued in the study (a recipe, a retry), not started yet
INTERRUPTED = "INTERRUPTED"  # was running when its process stopped; it runs again
READ_ATTEMPTS = 5  # KerasTuner rewrites trial.json in place: a read may meet it half-written


class RunState(StrEnum):
    RUNNING = "running"
    INTERRUPTED = "interrupted"
    FINISHED = "finished"
    FAILED = "failed"


@dataclass(frozen=True)
class TrialRow:
    """One trial as the status shows it; ``seconds`` and ``epochs_run`` of a running trial are so far."""

    trial_id: str
    status: str
    score: float | None = None
    best_epoch: int | None = None
    epochs_run: int | None = None
    seconds: float | None = None
    worker: str | None = None
    error: str | None = None  # the error's last line
    note: str | None = None  # a retry, a worker gone silent, a trial cut short


@dataclass(frozen=True)
class WorkerRow:
    """A worker of a parallel search: how many trials it took and its latest one (``None`` before its first)."""

    name: str
    trials: int
    last_trial: str | None
    last_status: str | None
    log: str | None = None


@dataclass(frozen=True)
class RunStatus:
    """Everything ``vautoml search status`` prints, and ``--json`` writes as one object."""

    run_id: str
    state: RunState
    folder: str
    next_step: str
    plugin: str | None = None
    tuner: str | None = None
    trial_cap: int | None = None
    max_epochs: int | None = None
    time_budget_seconds: float | None = None
    seconds_used: float | None = None
    time_left_seconds: float | None = None
    held_by: str | None = None  # the process holding a running run's lock
    counts: dict[str, int] = field(default_factory=dict)
    best_trial: str | None = None
    best_score: float | None = None
    direction: str | None = None
    stop_reason: str | None = None
    trials: list[TrialRow] = field(default_factory=list)
    workers: list[WorkerRow] = field(default_factory=list)
    storage: str | None = None  # a parallel run's, password hidden
    study: str | None = None
    watch: list[str] = field(default_factory=list)  # Optuna's own commands on the same study


def read_status(root: Path, run_id: str) -> RunStatus:
    """The status of ``run_id`` in the registry ``root``; an unknown run is refused naming the runs there are."""
    check_run_id(run_id, "RUN_ID")
    published = published_run(root, run_id)
    if published is not None:
        return _finished(run_id, published)
    try:
        return _unpublished(root, run_id)
    except (UsageError, OSError):  # its run folder went while being read: the search may have just finished
        if (published := published_run(root, run_id)) is not None:
            return _finished(run_id, published)
        raise


def _unpublished(root: Path, run_id: str) -> RunStatus:
    """A run not (yet) in the registry: starting, running or interrupted in ``.runs``, or failed."""
    holder = run_holder(root, run_id)
    request, work = saved_request(root, run_id), run_folder(root, run_id)
    if request is None:
        if holder is not None:  # the lock comes before the run folder: the search is reading its data
            return RunStatus(run_id, RunState.RUNNING, str(work), "starting: reading the data", held_by=holder)
        if (root / FAILED / run_id / TRIALS_FILE).exists():
            return _failed(root, run_id)
        known = interrupted_runs(root)
        also = f"; runs in progress or interrupted there: {', '.join(known)}" if known else ""
        raise UsageError(
            f"no run '{run_id}' in the registry '{root}'{also}",
            "list the finished runs with 'vautoml registry list', and pass the --registry the search used",
        )
    running, settings = holder is not None, request.settings
    plan = ParallelPlan.read(work)
    if plan is None:
        trials, direction = one_process_trials(work, running)
        direction, extra = direction or settings.direction, {}
    else:
        trials, direction, extra = study_trials(plan, work, running)
    status = RunStatus(
        run_id,
        RunState.RUNNING if running else RunState.INTERRUPTED,
        str(work),
        _next_step(root, run_id, running, plan is not None),
        plugin=request.plugin,
        tuner=settings.tuner,
        trial_cap=settings.trial_cap(),
        max_epochs=settings.epochs,
        time_budget_seconds=settings.time_budget,
        seconds_used=read_state(work).get("seconds_used"),
        held_by=holder,
        direction=direction,
        trials=trials,
        **extra,
    )
    return _with_counts_and_best(status)


def _next_step(root: Path, run_id: str, running: bool, parallel: bool) -> str:
    registry = "" if root == default_root() else f" --registry {shlex.quote(str(root))}"
    if running:
        more = f"; add a worker with 'vautoml worker {run_id}{registry}'" if parallel else ""
        return f"watch it again with 'vautoml search status {run_id}{registry}'{more}"
    return f"continue it with 'vautoml search --resume {run_id}{registry}'"


def one_process_trials(work: Path, running: bool) -> tuple[list[TrialRow], str | None]:
    """The trials of a one-process run (KerasTuner's files) and the objective's direction, once a trial completed."""
    timings = read_state(work).get("trials", {})
    rows, direction = [], None
    for path in work.glob(TRIAL_FILES):
        trial = _live_json(path)
        trial_id, status = str(trial.get("trial_id")), str(trial.get("status"))
        timing, epochs = timings.get(trial_id, {}), epochs_logged(work, trial_id)
        if status == "RUNNING" and running:  # KerasTuner writes trial.json as a trial starts, and as it ends
            rows.append(TrialRow(trial_id, status, epochs_run=epochs, seconds=time.time() - path.stat().st_mtime))
        elif status == "RUNNING":
            rows.append(TrialRow(trial_id, INTERRUPTED, epochs_run=epochs, note="cut short; --resume runs it again"))
        elif status in ("COMPLETED", "FAILED", "INVALID", "STOPPED"):
            direction = direction or (_direction(trial) if status == "COMPLETED" else None)
            ended = (trial.get("score"), trial.get("best_step"), timing.get("epochs_run"), timing.get("seconds"))
            rows.append(_ended_row(trial_id, status, *ended, error=last_line(trial.get("message"))))
    return sorted(rows, key=lambda row: int(row.trial_id)), direction


def _ended_row(trial_id: str, status: str, *ended: Any, **more: Any) -> TrialRow:
    """A trial that ended, from its score, ``best_step`` (KerasTuner's: the best epoch less one), epochs and seconds."""
    (score, best_step, epochs, seconds), completed = ended, status == "COMPLETED"
    best = int(best_step) + 1 if completed and best_step is not None else None
    return TrialRow(trial_id, status, score if completed else None, best, epochs, seconds, **more)


def epochs_logged(work: Path, trial_id: str) -> int | None:
    """Epochs a trial has finished so far: the rows of its per-epoch log (``logs/trial_<id>.csv``, one header)."""
    try:
        lines = (work / "logs" / f"trial_{trial_id}.csv").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    return max(0, len([line for line in lines if line.strip()]) - 1)


def _live_json(path: Path) -> dict[str, Any]:
    """A JSON file a running search may be rewriting: read again for a moment before calling it damaged."""
    for _ in range(READ_ATTEMPTS - 1):
        try:
            return read_run_file(path) or {}
        except UsageError:
            time.sleep(0.1)
    return read_run_file(path) or {}


def _direction(trial: dict[str, Any]) -> str | None:
    """The objective's direction: that of the metric whose best value is the trial's score (KerasTuner records both)."""
    for metric in trial.get("metrics", {}).get("metrics", {}).values():
        values = [value for observation in metric.get("observations", []) for value in observation.get("value", [])]
        if trial.get("score") in values:
            return metric.get("direction")
    return None


def last_line(message: Any) -> str | None:
    """An error's last line without module paths, as ``trials.json`` keeps it."""
    lines = [line for line in str(message or "").strip().splitlines() if line.strip()]
    return re.sub(r"^(?:\w+\.)+(\w+:)", r"\1", lines[-1].strip()) if lines else None


def study_trials(plan: ParallelPlan, work: Path, running: bool) -> tuple[list[TrialRow], str, dict[str, Any]]:
    """A parallel run's trials from its study, its direction, and the study's fields of :class:`RunStatus`."""
    import optuna
    from optuna.trial import TrialState

    if plan.storage.startswith("sqlite:///") and not Path(plan.storage.removeprefix("sqlite:///")).exists():
        raise damaged_run_folder(work, f"the study file {plan.storage.removeprefix('sqlite:///')} is missing")
    storage = open_storage(plan.storage)  # before Optuna would create an empty file for a missing one
    masked = without_password(plan.storage)
    try:
        study = optuna.load_study(study_name=plan.study, storage=storage)
    except KeyError as error:
        raise damaged_run_folder(work, f"its study '{plan.study}' is not in {masked}") from error
    trials = study.get_trials(deepcopy=False)
    replaced, silent = replaced_trials(trials), _silent(storage, plan.study)
    width = len(str(study.user_attrs.get(StudyKeys.CAP)))  # the ids StudyOracle.trial_id_of gives
    rows = []
    for trial in trials:
        attrs = trial.user_attrs
        if TrialKeys.SKIPPED in attrs or trial.state == TrialState.PRUNED:
            continue
        trial_id = str(attrs.get(TrialKeys.TRIAL_ID, f"{trial.number:0{width}d}"))
        retry = attrs.get(TrialKeys.RETRY_OF)
        note = None if retry is None else f"retry of trial {retry:0{width}d}: {attrs.get(TrialKeys.RETRY_REASON)}"
        if trial.state == TrialState.WAITING:
            recipe = f"queued: the vertical's recipe {attrs[TrialKeys.RECIPE]}" if TrialKeys.RECIPE in attrs else None
            rows.append(TrialRow(trial_id, WAITING, note=note or recipe or "queued"))
        elif trial.state == TrialState.RUNNING:
            rows.append(_running(trial, trial_id, work, running, silent=trial.number in silent, note=note))
        else:
            rows.append(_ended(trial, trial_id, replaced.get(trial.number), width))
    left = study.user_attrs.get(StudyKeys.DEADLINE)
    extra = {
        "workers": _workers(rows, work),
        "storage": masked,
        "study": plan.study,
        "time_left_seconds": None if left is None else max(0.0, float(left) - time.time()),
        "watch": [
            f"optuna trials --study-name {shlex.quote(plan.study)} --storage {shlex.quote(masked)}",
            f"optuna-dashboard {shlex.quote(masked)}  (pip install optuna-dashboard)",
        ],
    }
    return rows, "max" if study.direction == optuna.study.StudyDirection.MAXIMIZE else "min", extra


def _running(trial: Any, trial_id: str, work: Path, running: bool, *, silent: bool, note: str | None) -> TrialRow:
    """A study trial in the RUNNING state: running for so long, or its worker gone silent (it runs again)."""
    worker, epochs = trial.user_attrs.get(TrialKeys.WORKER), epochs_logged(work, trial_id)
    if silent:
        then = "it runs again once a worker asks for a trial" if running else "--resume runs it again"
        why = f"no heartbeat for over {grace_seconds()}s: its worker was killed or lost; {then}"
        return TrialRow(trial_id, INTERRUPTED, epochs_run=epochs, worker=worker, note=why)
    started = trial.datetime_start  # Optuna's local time in the process that asked for the trial
    seconds = (datetime.now() - started).total_seconds() if started else None
    return TrialRow(trial_id, "RUNNING", epochs_run=epochs, seconds=seconds, worker=worker, note=note)


def _ended(trial: Any, trial_id: str, replaced: tuple[str, int] | None, width: int) -> TrialRow:
    """A finished study trial: completed, failed, or failed and run again (its retry's reason and number)."""
    attrs, worker = trial.user_attrs, trial.user_attrs.get(TrialKeys.WORKER)
    completed = trial.state.name == "COMPLETE"
    status = "COMPLETED" if completed else str(attrs.get(TrialKeys.STATUS) or "FAILED").replace("COMPLETED", "FAILED")
    error = last_line(attrs.get(TrialKeys.ERROR))
    if replaced is not None:
        error = f"{replaced[0]}; run again as trial {replaced[1]:0{width}d}"
    elif not completed and TrialKeys.STATUS not in attrs:
        error = f"{worker or 'its worker'} died during the trial; it was not run again"
    ended = [attrs.get(key) for key in (TrialKeys.SCORE, TrialKeys.BEST_STEP, TrialKeys.EPOCHS_RUN, TrialKeys.SECONDS)]
    return _ended_row(trial_id, status, *ended, worker=worker, error=error)


def _silent(storage: Any, study_name: str) -> set[int]:
    """Running trials whose worker missed its heartbeats or never beat (failed at the next ask).

    Optuna's stale check is private; the beatless query is :func:`.study.beatless_trials`.
    """
    study_id = storage.get_study_id_from_name(study_name)
    beatless = set(beatless_trials(storage, study_id).values())
    try:
        return beatless | {storage.get_trial(trial_id).number for trial_id in storage._get_stale_trial_ids(study_id)}
    except AttributeError:
        return beatless


def _workers(rows: list[TrialRow], work: Path | None = None) -> list[WorkerRow]:
    """Each worker seen on a trial, with its latest; then the workers a launcher started (logs) that have none yet."""
    seen: dict[str, list[TrialRow]] = {}
    for row in rows:
        if row.worker is not None:
            seen.setdefault(row.worker, []).append(row)
    logs = {path.stem: path for path in sorted((work / WORKERS_FOLDER).glob("*.log"))} if work is not None else {}
    workers = []
    for name, mine in seen.items():
        label = name.split("@")[0]
        log = logs.pop(label, None)
        workers.append(WorkerRow(name, len(mine), mine[-1].trial_id, mine[-1].status, str(log) if log else None))
    workers += [WorkerRow(label, 0, None, None, str(log)) for label, log in logs.items()]
    return workers


def _finished(run_id: str, path: Path) -> RunStatus:
    """A published run: its trials as ``trials.json`` lists them, its summary from ``report.json``."""
    run = read_run(path)
    rows = [_from_record(row) for row in _trials_file(path)]
    search = run.report.search
    settings = SearchSettings.from_json(search.settings) if search.settings else None
    report = path / HTML_FILE
    status = RunStatus(
        run_id,
        RunState.FINISHED,
        str(path),
        f"exported to {path}" + (f"; report: {report}" if report.exists() else ""),
        plugin=run.manifest.plugin.name if run.manifest.plugin else run.manifest.vertical,
        tuner=search.tuner,
        trial_cap=settings.trial_cap() if settings else None,
        max_epochs=settings.epochs if settings else None,
        time_budget_seconds=search.time_budget_seconds,
        seconds_used=run.report.time_used_seconds,
        best_trial=search.best_trial,
        best_score=search.best_score,
        direction=search.direction,
        stop_reason=search.stop_reason,
        trials=rows,
        workers=_workers(rows),
    )
    return _with_counts_and_best(status)


def _failed(root: Path, run_id: str) -> RunStatus:
    folder = root / FAILED / run_id
    rows = [_from_record(row) for row in _trials_file(folder)]
    step = f"every trial failed (errors below, logs in {folder / 'logs'}); fix the cause and search again"
    return _with_counts_and_best(RunStatus(run_id, RunState.FAILED, str(folder), step, trials=rows))


def _trials_file(folder: Path) -> list[dict[str, Any]]:
    try:
        rows = json.loads((folder / TRIALS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise damaged_run(folder, f"{TRIALS_FILE} cannot be read ({error})") from error
    if not isinstance(rows, list):
        raise damaged_run(folder, f"{TRIALS_FILE} is not a list of trials")
    return rows


def _from_record(row: dict[str, Any]) -> TrialRow:
    record = TrialRecord.from_json(row)
    shared = ("trial_id", "score", "best_epoch", "epochs_run", "seconds", "worker", "error")
    return TrialRow(status=str(record.status), **{name: getattr(record, name) for name in shared})


def _with_counts_and_best(status: RunStatus) -> RunStatus:
    """Counts by status, and the best completed trial where the run has not named one itself."""
    by_status = Counter("FAILED" if row.status == "INVALID" else row.status for row in status.trials)
    names = ("COMPLETED", "FAILED", "STOPPED", "RUNNING", WAITING, INTERRUPTED)
    counts = {name.lower(): by_status[name] for name in names}
    scored = [row for row in status.trials if row.status == "COMPLETED" and row.score is not None]
    best_trial, best_score = status.best_trial, status.best_score
    if best_trial is None and scored:
        best = (min if status.direction == "min" else max)(scored, key=lambda row: row.score or 0.0)
        best_trial, best_score = best.trial_id, best.score
    return replace(status, counts=counts, best_trial=best_trial, best_score=best_score)
