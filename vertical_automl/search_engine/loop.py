"""One search, as KerasTuner's ``BaseTuner.search`` runs one: open the tuner, run the trials, then read the results.

:func:`run_search` is that sequence of named steps; each trial itself starts
in :meth:`.tuner._TrialBookkeeping.run_trial`.  What follows the trials is
choosing the members the export averages (:class:`.members.MemberChoice`) and saying
why the search stopped (:func:`stop_reason`).
"""

from __future__ import annotations

import contextlib
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import keras
import keras_tuner as kt

from .. import space
from ..data.dataset import Dataset
from ..errors import SearchError
from ..plugin_calls import PluginCrash
from ..registry import disk_full
from ..scoring import predict_scores
from ..settings import SearchSettings
from ..vertical import Vertical
from . import folds
from .budget import RunClock, TrialBudget
from .callbacks import NonFiniteLoss, StopOnInterrupt
from .hypermodel import VerticalHyperModel
from .progress import SearchProgress
from .records import SearchOutcome, TrialRecord, TrialStatus
from .tuner import check_saved_state, load_trial_model, make_tuner, tracebacks_only_with_debug
from .workers import StudyWorker, threads_per_worker, torch_threads

if TYPE_CHECKING:
    from .parallel import ParallelSearch


class AllTrialsFailed(SearchError):
    """No trial completed; ``trials`` holds every trial with its error, for the user to read."""

    def __init__(self, problem: str, fix: str, trials: list[TrialRecord]) -> None:
        super().__init__(problem, fix)
        self.trials = trials


def run_search(
    vertical: Vertical,
    dataset: Dataset,
    settings: SearchSettings,
    directory: Path,
    clock: RunClock,
    progress: SearchProgress | None = None,
    verbose: bool = False,
    parallel: ParallelSearch | None = None,
) -> SearchOutcome:
    """Search the vertical's space on the train split, scoring on the validation split.

    ``directory`` keeps the tuner's state (``tuner/``), per-trial CSV logs
    (``logs/trial_<id>.csv``) and the bookkeeping a resumed run needs; when it
    already holds them, the search continues where it stopped.  With
    ``parallel`` this process is worker 0 of a parallel search: it starts the
    others, runs trials beside them and reads every worker's trials at the end.
    """
    progress = progress or SearchProgress()
    keras.utils.set_random_seed(settings.seed)
    started = time.perf_counter()
    worker = None
    at_once, threads = 1, torch_threads()
    if parallel is not None:
        worker = parallel.prepare(settings, settings.objective_for(vertical, dataset.info.task)[1], clock)
        at_once, threads = parallel.plan.workers, threads_per_worker(parallel.plan.workers)
    with parallel.workers_running(progress.message) if parallel else contextlib.nullcontext():
        tuner = open_tuner(vertical, dataset, settings, directory, clock, progress, worker)
        if parallel is not None:
            parallel.open_search(tuner)
        stopped = run_trials(tuner, vertical, dataset, settings, clock, progress, verbose)
    if parallel is not None:
        tuner.oracle.sync()  # the last trials other workers finished
    trials = [tuner.record(trial_id) for trial_id in tuner.oracle.start_order]
    completed = completed_trials(trials)
    if tuner.out_of_time:
        stopped = (
            f"time budget of {settings.time_budget:g}s: no time left for another trial and the refit "
            f"after {len(trials)} trial(s)"
        )
    reason = stop_reason(settings, len(trials), tuner.out_of_time, stopped)
    selection = tuner.members.select(tuner, completed)
    by_id = {t.trial_id: t for t in trials}
    hyperparameters = {trial.trial_id: trial.hyperparameters for trial in tuner.oracle.trials.values()}
    members = [(by_id[trial_id], hyperparameters[trial_id]) for trial_id in selection.trial_ids]
    models = None
    if not settings.refits or selection.validation_scores is None:
        models = trial_models(tuner, selection.trial_ids, settings, directory, dataset.info.task)
    validation_scores = selection.validation_scores
    if validation_scores is None:
        validation_scores = predict_scores(models[0], dataset.validation.x, dataset.info.task)
    kept = None if settings.refits else models  # exported as they are; a refit would otherwise hold them
    return SearchOutcome(
        trials,
        members,
        stopped,
        time.perf_counter() - started,
        validation_scores,
        kept,
        selection.weights,
        reason,
        selection.validation_score,
        at_once,
        threads,
    )


def open_tuner(
    vertical: Vertical,
    dataset: Dataset,
    settings: SearchSettings,
    directory: Path,
    clock: RunClock,
    progress: SearchProgress,
    worker: StudyWorker | None = None,
    budget_folder: Path | None = None,
) -> kt.Tuner:
    """The tuner, reloaded from ``directory`` if an earlier session left its state there.

    KerasTuner builds one model while it is constructed, so a builder that
    fails is reported here, in the plugin's terms.  ``worker`` makes it one
    worker of a parallel search; a worker other than the launcher keeps its
    budget's state file in ``budget_folder``, not in the run's.
    """
    hypermodel = VerticalHyperModel(vertical, dataset, settings)
    (directory / "logs").mkdir(parents=True, exist_ok=True)
    fitted = len(dataset.train) + len(dataset.validation)
    check_saved_state(directory)
    budget = TrialBudget(
        clock,
        budget_folder or directory,
        refit_scale=fitted / len(dataset.train) if settings.refits else None,
    )
    try:
        return make_tuner(
            hypermodel,
            vertical,
            settings,
            directory / "tuner",
            worker,
            progress=progress,
            budget=budget,
            run_dir=directory,
        )
    except Exception as error:  # KerasTuner builds one model up front; any failure there is the builder's
        if disk_full(error):
            raise
        crash = error if isinstance(error, PluginCrash) else None
        cause = crash.error if crash is not None else error
        whose = f" (in {crash.what} of plugin {crash.plugin})" if crash is not None else ""
        raise SearchError(
            f"the {vertical.name} model could not be built: {type(cause).__name__}: {cause}{whose}",
            "this is a bug in the plugin; report it with the output of --debug",
        ) from error


def run_trials(
    tuner: kt.Tuner,
    vertical: Vertical,
    dataset: Dataset,
    settings: SearchSettings,
    clock: RunClock,
    progress: SearchProgress,
    verbose: bool,
) -> str | None:
    """Run trials until the cap, the budget or the oracle ends the search; the reason, if failures ended it.

    Every trial trains with early stopping on the objective, the
    non-finite-loss check and the Ctrl-C check.
    """
    objective, direction = settings.objective_for(vertical, dataset.info.task)
    callbacks = [
        keras.callbacks.EarlyStopping(monitor=objective, mode=direction, patience=settings.patience),
        NonFiniteLoss(),
        StopOnInterrupt(),
    ]
    finished = [tuner.record(trial_id) for trial_id in tuner.oracle.end_order]
    progress.search_started(settings.trial_cap(), objective, direction, clock.end(), finished)
    if settings.cross_validated:  # every fitting row trains, and is scored out of fold (search_engine/folds.py)
        fitting = dataset.train_and_validation()
        data: dict = {"x": fitting.x, "y": fitting.y}
    else:
        data = {
            "x": dataset.train.x,
            "y": dataset.train.y,
            "validation_data": (dataset.validation.x, dataset.validation.y),
        }
    try:
        with tracebacks_only_with_debug():
            tuner.search(**data, epochs=settings.epochs, callbacks=callbacks, verbose=1 if verbose else 0)
    except RuntimeError as error:  # KerasTuner: too many consecutive failed trials
        return str(error).splitlines()[0]
    finally:
        progress.search_ended()
    return None


def completed_trials(trials: list[TrialRecord]) -> list[TrialRecord]:
    """The trials that completed with a score; none at all fails the search with every trial's error."""
    completed = [t for t in trials if t.status == TrialStatus.COMPLETED and t.score is not None]
    if not completed:
        first_error = next((t.error for t in trials if t.error), "no trial ran")
        raise AllTrialsFailed(
            f"all {len(trials)} trial(s) failed; first error: {first_error}",
            "re-run with --debug to see each trial's traceback",
            trials,
        )
    return completed


def trial_models(
    tuner: kt.Tuner, trial_ids: tuple[str, ...], settings: SearchSettings, directory: Path, task: str
) -> list[keras.Model]:
    """The trials' own trained models, from their checkpoints (for --no-refit, or to score the best one).

    A cross-validated trial's model is its fold models' average.
    """
    with warnings.catch_warnings():  # the checkpoints hold weights only; Keras warns that optimizer state is absent
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        with space.using(settings.space):
            models = [load_trial_model(tuner, trial_id, directory) for trial_id in trial_ids]
    return [folds.average(model, task) for model in models] if settings.cross_validated else models


def stop_reason(settings: SearchSettings, trials: int, out_of_time: bool, failures: str | None) -> str:
    """Why the search ran no further trial, in words a user can act on."""
    if out_of_time:
        return f"the time budget ({settings.time_budget:g}s) was used: no time left for another trial and the refit"
    if failures:
        return f"too many consecutive failed trials ({settings.max_consecutive_failed_trials}; --max-failed-trials)"
    cap = settings.trial_cap()
    if cap is not None and trials >= cap:
        if settings.max_trials is None:
            return (
                f"the default cap of {cap} trials without a --time-budget (give --time-budget or --max-trials for more)"
            )
        return f"the trial cap was reached (max_trials {cap})"
    return f"the {settings.tuner} tuner had no new hyperparameters to try after {trials} trial(s)"
