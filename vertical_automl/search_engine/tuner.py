"""The KerasTuner tuner vautoml runs, and where each trial starts: :meth:`_TrialBookkeeping.run_trial`.

KerasTuner does the searching (``BaseTuner.search`` loops ``pre_create_trial``,
``on_trial_begin``, ``run_trial``, ``on_trial_end``); the mixin here adds,
through those same hooks, what the run needs around each trial: its
callbacks, its time and epochs (kept by :class:`.budget.TrialBudget`), its
best validation predictions on disk, a progress report, and an end to the
search once the budget has no room for another trial.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import math
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import keras_tuner as kt
import numpy as np

from .. import training
from ..registry import damaged_run_folder, disk_full
from ..settings import SearchSettings
from ..vertical import Vertical
from .budget import TrialBudget
from .callbacks import Deadline, DiskSpaceGuard, EpochReport, TrialOutOfTime
from .hypermodel import VerticalHyperModel
from .members import MemberChoice
from .oracles import BayesianWithRecipes, RandomWithRecipes
from .progress import SearchProgress
from .records import TrialRecord, TrialStatus
from .workers import StudyWorker

if TYPE_CHECKING:
    from .study_oracle import StudyOracle

# KerasTuner's oracles need a number; a budgeted search without --max-trials is ended by the budget long before this.
UNCAPPED_TRIALS = 10_000
# A worker reads the study for the deadline at most this often: a cross-validated epoch can take a fraction of it.
SYNC_SECONDS = 2.0


class DiskFullInTrial(kt.errors.FatalError):
    """A trial could not write its checkpoint or logs because the disk is full.

    Fatal to KerasTuner, which would otherwise record one failed trial after
    another (h5py has crashed the process after a few of those); the run
    folder is kept for a resume (:func:`vertical_automl.registry.open_run`).
    """


class _TrialBookkeeping:
    """Tuner mixin: time each trial, count its epochs, report it, keep the budget, and save that for a resume.

    The arithmetic and the state file are :class:`.budget.TrialBudget`'s;
    this only feeds it from KerasTuner's hooks and its oracle.
    """

    def __init__(self, *args: Any, progress: SearchProgress, budget: TrialBudget, run_dir: Path, **kwargs: Any) -> None:
        self.progress, self.budget, self.run_dir = progress, budget, run_dir
        self.log_dir, self.predictions_dir = run_dir / "logs", run_dir / "predictions"
        self.out_of_time = False
        self.stopped: dict[str, str] = {}  # trials the budget stopped before they trained, and why
        super().__init__(*args, **kwargs)
        self.members = MemberChoice.of(self.hypermodel.vertical, self.hypermodel.dataset, self.hypermodel.settings)

    def search_deadline(self) -> float | None:
        """When the search must stop to leave room for the export of the members chosen so far, or ``None``."""
        chosen = self.members.expected(self) if self.budget.reserves else ()
        best_steps = ((t, self.oracle.trials[t].best_step) for t in chosen)
        return self.budget.search_deadline([(t, None if step is None else int(step) + 1) for t, step in best_steps])

    def pre_create_trial(self) -> None:
        super().pre_create_trial()
        if self.budget.too_late_for_a_trial(self.search_deadline(), time.monotonic()):
            self.out_of_time = True
            self.stop_creating_trials()

    def stop_creating_trials(self) -> None:
        """No trial starts after this one; KerasTuner's own oracles stop at their ``max_trials``."""
        self.oracle.max_trials = len(self.oracle.trials)

    def on_trial_begin(self, trial: kt.engine.trial.Trial) -> None:
        super().on_trial_begin(trial)
        self.progress.trial_started(trial.trial_id, dict(trial.hyperparameters.values))

    def run_trial(self, trial: kt.engine.trial.Trial, *args: Any, **kwargs: Any) -> Any:
        """Train one trial (KerasTuner builds and fits it) with the run's callbacks, timing it for the budget."""
        started = time.perf_counter()
        kwargs["callbacks"] = [
            *kwargs.get("callbacks", []),
            keras.callbacks.CSVLogger(str(self.log_dir / f"trial_{trial.trial_id}.csv")),  # per-epoch metrics
            EpochReport(self.progress, trial.trial_id, kwargs.get("epochs", 0)),
            DiskSpaceGuard(self.run_dir),
        ]
        if self.budget.clock.budget is not None:
            first = not any(t.status == TrialStatus.COMPLETED for t in self.oracle.trials.values())
            kwargs["callbacks"].append(Deadline(self.search_deadline, first_trial=first))
        try:
            histories = super().run_trial(trial, *args, **kwargs)
            self._note_training_step(trial.trial_id, histories)
            self.budget.trial_trained(trial.trial_id, max(len(h.epoch) for h in histories))
            self._save_predictions(trial.trial_id)
            return histories
        except TrialOutOfTime as error:
            self.out_of_time, self.stopped[trial.trial_id] = True, str(error)
            self.stop_creating_trials()
            raise
        except Exception as error:
            if disk_full(error):
                raise DiskFullInTrial(f"trial {trial.trial_id} could not write to disk: {error}") from error
            raise
        finally:
            built, fitted = (
                getattr(self.hypermodel, name, 0.0) for name in ("last_build_seconds", "last_tree_seconds")
            )
            self.budget.trial_ran(trial.trial_id, time.perf_counter() - started, built, fitted)

    def _note_training_step(self, trial_id: str, histories: list[keras.callbacks.History]) -> None:
        """Say in the trial's log (``logs/trial_<id>.txt``) how it trained: our own step, or ``Model.fit`` and why."""
        used = sorted({str(h.params.get(training.STEP_KEY, "keras fit")) for h in histories})
        (self.log_dir / f"trial_{trial_id}.txt").write_text(f"training step: {'; '.join(used)}\n", encoding="utf-8")

    def _save_predictions(self, trial_id: str) -> None:
        """Keep the trial's best-epoch validation predictions on disk, so a resumed run can still ensemble it."""
        best = self.hypermodel.predictions.best
        if best is None:
            return
        self.predictions_dir.mkdir(exist_ok=True)
        temporary = self.predictions_dir / f"trial_{trial_id}.tmp.npy"
        np.save(temporary, best)
        os.replace(temporary, self.predictions_dir / f"trial_{trial_id}.npy")

    def validation_predictions(self, trial_id: str) -> np.ndarray | None:
        path = self.predictions_dir / f"trial_{trial_id}.npy"
        return np.load(path) if path.exists() else None

    def record(self, trial_id: str) -> TrialRecord:
        return trial_record(
            self.oracle.trials[trial_id],
            self.budget.seconds.get(trial_id, 0.0),
            self.budget.epochs_run.get(trial_id),
            self.worker_of(trial_id),
        )

    def worker_of(self, trial_id: str) -> str | None:
        """Which worker ran the trial: ``None`` in a search of one process."""
        return None

    def on_trial_end(self, trial: kt.engine.trial.Trial) -> None:
        if trial.trial_id in self.stopped:  # KerasTuner marked it FAILED, with a traceback; it did not fail
            trial.status, trial.message = TrialStatus.STOPPED, self.stopped[trial.trial_id]
        super().on_trial_end(trial)
        release_memory()
        self.budget.save(k for k, t in self.oracle.trials.items() if t.status == TrialStatus.COMPLETED)
        self.progress.trial_ended(self.record(trial.trial_id))


def release_memory() -> None:
    """Free what the last model held, so memory stays flat across trials.

    KerasTuner clears the Keras session before each build; this collects what is left and empties torch's GPU cache.
    """
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class BookkeptTuner(_TrialBookkeeping, kt.Tuner):
    """A KerasTuner tuner around any oracle, with the run's bookkeeping."""


class BookkeptHyperband(_TrialBookkeeping, kt.Hyperband):
    """KerasTuner's Hyperband (which brings its own oracle), with the run's bookkeeping."""


class StudyTuner(_TrialBookkeeping, kt.Tuner):
    """One worker of a parallel search: the run's bookkeeping around a :class:`.study_oracle.StudyOracle`.

    Trials other workers finish reach the budget and the progress display
    through the oracle's ``peer_trial_ended``.  A trial this worker cannot
    finish (Ctrl-C, a full disk) is handed back to the study at once, to run
    again, instead of waiting for its heartbeat to go stale.
    """

    oracle: StudyOracle
    synced = -math.inf  # when this worker last read the study's trials

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.oracle.finisher:
            self.oracle.adopt_space()  # the launcher's explored space, so every worker proposes alike
        self.oracle.sync()  # a resumed search, or a worker joining late, starts with the trials so far
        self.synced = time.monotonic()
        for trial_id in self.oracle.end_order:
            self._note_timing(trial_id)
        self.oracle.peer_trial_ended = self._peer_trial_ended

    # The study is the record; one tuner0.json written by every worker would be worth nothing.
    def save(self) -> None:
        pass

    def reload(self) -> None:
        pass

    def stop_creating_trials(self) -> None:
        self.oracle.closed = True

    def search_deadline(self) -> float | None:
        """As one process's, over the trials every worker has finished so far, not only this worker's.

        Asked at every epoch end: a best trial another worker finished while
        this one trains must have its refit reserved here too.  Without the
        sync, on MNIST at 3 minutes, worker 1 trained on to 160 s after
        worker 0's best trial ended, and its refit got 1 of 8 epochs.
        """
        if self.budget.reserves and time.monotonic() - self.synced >= SYNC_SECONDS:
            self.oracle.sync()
            self.synced = time.monotonic()
        return super().search_deadline()

    def worker_of(self, trial_id: str) -> str | None:
        return self.oracle.workers.get(trial_id)

    def _note_timing(self, trial_id: str) -> None:
        seconds, build, fitted, epochs = self.oracle.timings[trial_id]
        self.budget.trial_ran(trial_id, seconds, build, fitted)
        if epochs:
            self.budget.trial_trained(trial_id, int(epochs))

    def _peer_trial_ended(self, trial_id: str) -> None:
        self._note_timing(trial_id)
        self.progress.trial_ended(self.record(trial_id))

    def run_trial(self, trial: kt.engine.trial.Trial, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().run_trial(trial, *args, **kwargs)
        except KeyboardInterrupt:
            self.oracle.abandon(trial.trial_id, "interrupted (Ctrl-C)")
            raise
        except kt.errors.FatalError as error:
            self.oracle.abandon(trial.trial_id, str(error))
            raise

    def on_trial_end(self, trial: kt.engine.trial.Trial) -> None:
        self.oracle.timings[trial.trial_id] = (
            self.budget.seconds.get(trial.trial_id, 0.0),
            self.budget.build_seconds.get(trial.trial_id, 0.0),
            self.budget.tree_seconds.get(trial.trial_id, 0.0),
            self.budget.epochs_run.get(trial.trial_id),
        )
        super().on_trial_end(trial)


def make_tuner(
    hypermodel: VerticalHyperModel,
    vertical: Vertical,
    settings: SearchSettings,
    directory: Path,
    worker: StudyWorker | None = None,
    **bookkeeping: Any,
) -> kt.Tuner:
    """Build the chosen KerasTuner tuner, with the trial cap (:meth:`SearchSettings.trial_cap`) honoured by all.

    Random and Bayesian searches start with the vertical's recipes.  A
    ``directory`` holding an earlier session's state is reloaded: finished
    trials are kept and an interrupted one runs again (KerasTuner's own resume).
    With ``worker``, the tuner is that worker of a parallel search, on the
    run's study (its trials, checkpoints and logs still under ``directory``).
    """
    name, direction = settings.objective_for(vertical, hypermodel.dataset.info.task)
    objective = kt.Objective(name, direction=direction)
    common = dict(
        hypermodel=hypermodel, directory=str(directory), project_name="search", overwrite=False, **bookkeeping
    )
    cap = settings.trial_cap() or UNCAPPED_TRIALS
    oracle_options = dict(
        objective=objective,
        max_trials=cap,
        seed=settings.seed,
        max_consecutive_failed_trials=settings.max_consecutive_failed_trials,
    )
    with contextlib.redirect_stdout(io.StringIO()):  # KerasTuner prints "Reloading Tuner from ..." to stdout
        if worker is not None:
            # The parallel engine (Optuna, SQLAlchemy) loads for a parallel search only: one process needs none of it.
            from .study_oracle import StudyOracle

            oracle = StudyOracle(
                **oracle_options,
                recipes=tuple(vertical.recipes),
                run_seed=settings.seed,
                plan=worker.plan,
                worker=worker.name,
                worker_index=worker.index,
                tuner=settings.tuner,
                finisher=worker.finisher,
                keep_going=worker.keep_going,
                started_by_launcher=worker.started_by_launcher,
            )
            tuner = StudyTuner(oracle=oracle, **common)
        elif settings.tuner == "hyperband":
            tuner = BookkeptHyperband(
                max_epochs=max(2, settings.epochs),
                factor=3,
                hyperband_iterations=1,
                objective=objective,
                seed=settings.seed,
                max_consecutive_failed_trials=settings.max_consecutive_failed_trials,
                **common,
            )
            tuner.oracle.max_trials = cap  # Hyperband has no cap of its own
        elif settings.tuner == "grid":
            tuner = BookkeptTuner(oracle=kt.oracles.GridSearchOracle(**oracle_options), **common)
        else:
            kind = RandomWithRecipes if settings.tuner == "random" else BayesianWithRecipes
            tuner = BookkeptTuner(oracle=kind(**oracle_options, recipes=tuple(vertical.recipes)), **common)
    return tuner


def trial_record(
    trial: kt.engine.trial.Trial, seconds: float, epochs_run: int | None, worker: str | None = None
) -> TrialRecord:
    """A KerasTuner trial as the user reads it: its error's last line without module paths, no non-finite score."""
    status = TrialStatus(str(trial.status))
    error = None
    if trial.message:
        lines = [line for line in str(trial.message).strip().splitlines() if line.strip()]
        error = re.sub(r"^(?:\w+\.)+(\w+:)", r"\1", lines[-1]) if lines else None
    score = float(trial.score) if trial.score is not None and math.isfinite(float(trial.score)) else None
    return TrialRecord(
        trial_id=trial.trial_id,
        status=status,
        score=score,
        best_epoch=int(trial.best_step) + 1 if status is TrialStatus.COMPLETED else None,
        epochs_run=epochs_run,
        seconds=round(seconds, 3),
        hyperparameters=dict(trial.hyperparameters.values),
        error=error,
        worker=worker,
    )


@contextlib.contextmanager
def tracebacks_only_with_debug() -> Iterator[None]:
    """KerasTuner prints every failed trial's traceback unless its DEBUG flag is off; vautoml shows them with --debug.

    Each trial's error is still recorded (``trials.json``, the progress line).
    """
    config = kt.src.config
    before, config.DEBUG = config.DEBUG, os.environ.get("VAUTOML_DEBUG", "") not in ("", "0")
    try:
        yield
    finally:
        config.DEBUG = before


def check_saved_state(directory: Path) -> None:
    """Refuse a run folder whose KerasTuner state files are damaged.

    KerasTuner reads them without checks while it is being constructed, where
    any error looks like the plugin's builder failing.
    """
    for path in sorted((directory / "tuner").rglob("*.json")):
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise damaged_run_folder(directory, f"{path.relative_to(directory)} is not valid JSON") from error


def load_trial_model(tuner: kt.Tuner, trial_id: str, directory: Path) -> keras.Model:
    """A trial's model from its checkpoint; one that cannot be read makes the run folder damaged, not vautoml."""
    try:
        return tuner.load_model(tuner.oracle.get_trial(trial_id))
    except Exception as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise damaged_run_folder(directory, f"the checkpoint of trial {trial_id} cannot be read: {first}") from error
