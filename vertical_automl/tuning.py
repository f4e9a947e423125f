"""KerasTuner glue: the hypermodel, tuner choice, per-trial callbacks and the refit.

KerasTuner does the searching; this module only adds what it lacks, through
its own extension points (``HyperModel.build``/``fit`` and
``Tuner.run_trial``/``pre_create_trial``/``on_trial_end``): early stopping
and a non-finite-loss check in every trial, class weights when a trial asks
for them, the seconds each trial took, a cap on trials for Hyperband, an
optional wall-clock budget, and a refit of the best hyperparameters on
train+validation.
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
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import keras
import keras_tuner as kt
import numpy as np

from . import ensemble, heads, interrupts, space
from .data.dataset import Dataset, LabeledData
from .errors import SearchError
from .progress import SearchProgress
from .registry import STATE_FILE, check_space, damaged_run_folder, disk_full, read_run_file, room_to_save
from .scoring import predict_scores, scores_from_output
from .settings import SearchSettings
from .vertical import Vertical

# KerasTuner's oracles need a number; a budgeted search without --max-trials is ended by the budget long before this.
UNCAPPED_TRIALS = 10_000


@dataclass
class TrialRecord:
    """One row of ``trials.json`` and of the leaderboard."""

    trial_id: str
    status: str
    score: float | None
    best_epoch: int | None
    epochs_run: int | None
    seconds: float
    hyperparameters: dict[str, Any]
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class AllTrialsFailed(SearchError):
    """No trial completed; ``trials`` holds every trial with its error, for the user to read."""

    def __init__(self, problem: str, fix: str, trials: list[TrialRecord]) -> None:
        super().__init__(problem, fix)
        self.trials = trials


class DiskFullInTrial(kt.errors.FatalError):
    """A trial could not write its checkpoint or logs because the disk is full.

    Fatal to KerasTuner, which would otherwise record one failed trial after
    another (h5py has crashed the process after a few of those); the run
    folder is kept for a resume (:func:`vertical_automl.registry.open_run`).
    """


@dataclass
class SearchOutcome:
    """The trials, the best ones, and their own scores on the validation split.

    ``members`` are the best trials (best first) whose refits make up the
    exported model: one, or several for a vertical that ensembles.
    ``validation_scores`` are the weighted average of those trials' own
    models on the validation split, which they never trained on; binary tasks
    choose their decision threshold on them.
    """

    trials: list[TrialRecord]
    members: list[tuple[TrialRecord, kt.HyperParameters]]
    stopped_early_reason: str | None = None
    seconds: float = 0.0
    validation_scores: np.ndarray | None = None
    trial_models: list[keras.Model] | None = None  # the members' own trained models, for --no-refit
    weights: tuple[float, ...] = (1.0,)  # each member's share of the exported average
    stop_reason: str = ""  # why no further trial ran, in words, for the summary and the report
    ensemble_score: float | None = None  # the weighted members' validation score, when they were chosen on predictions

    @property
    def planned_epochs(self) -> list[int]:
        """The epochs each member's refit trains: its trial's best epoch count."""
        return [max(1, record.best_epoch or 1) for record, _ in self.members]

    @property
    def best(self) -> TrialRecord:
        return self.members[0][0]

    @property
    def best_hyperparameters(self) -> kt.HyperParameters:
        return self.members[0][1]


class NonFiniteLoss(keras.callbacks.Callback):
    """Fail the trial on a NaN or infinite loss.

    Keras's TerminateOnNaN only stops training, and with an accuracy
    objective KerasTuner then records the trial as COMPLETED with a junk
    score; raising KerasTuner's FailedTrialError marks it FAILED instead.
    """

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise kt.errors.FailedTrialError(f"non-finite loss ({float(loss)}) at batch {batch}; training diverged")


class StopOnInterrupt(keras.callbacks.Callback):
    """Raise a pressed Ctrl-C at the next batch end, a safe point (see :mod:`vertical_automl.interrupts`)."""

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        interrupts.check()

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        interrupts.check()


class Deadline(keras.callbacks.Callback):
    """Stop training at an epoch end once the next epoch would not finish before the deadline.

    ``deadline`` returns a ``time.monotonic()`` value (or ``None``: no limit);
    it is asked at every epoch end, because the search's deadline moves as
    the best trials, whose refit it reserves time for, change.  The last
    epoch's duration predicts the next one's.
    """

    def __init__(self, deadline: Callable[[], float | None]) -> None:
        super().__init__()
        self.deadline = deadline
        self.epoch_started = time.monotonic()

    def __deepcopy__(self, memo: dict) -> Deadline:  # KerasTuner copies callbacks per trial; the clock is shared
        return Deadline(self.deadline)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch_started = time.monotonic()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        deadline = self.deadline()
        now = time.monotonic()
        if deadline is not None and now + (now - self.epoch_started) >= deadline:
            self.model.stop_training = True


class DiskSpaceGuard(keras.callbacks.Callback):
    """Stop a trial at an epoch end, before KerasTuner writes its checkpoint, when the disk could not hold it.

    Runs before KerasTuner's own checkpoint callback, which comes last in a
    trial's list; the error it raises ends the search with the run kept.
    """

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        check_space(self.folder, room_to_save(self.model), "to checkpoint the trial")


class ValidationPredictions(keras.callbacks.Callback):
    """Predicts the validation split at each epoch end: exact metrics, and the best epoch's predictions.

    * Binary models compile without Keras's AUC metric, which approximates
      with 200 thresholds and measured a fifth of every training step; one
      prediction pass per epoch is far cheaper, and gives the exact ROC AUC
      (scikit-learn) as ``val_auc``.  A model that compiled its own AUC keeps it.
    * A model with one output column per ensemble member (TabM) is scored on
      the members' mean: ``val_accuracy`` (binary), ``val_mae`` and
      ``val_rmse`` (regression) are replaced by the ensemble's own.
    * The predictions of the epoch with the best ``objective`` are kept in
      ``sink.best`` (the checkpoint KerasTuner keeps is that epoch's), for
      ensemble selection and the decision threshold.
    """

    def __init__(
        self, x: Any, y: np.ndarray, task: str, objective: str, direction: str, sink: PredictionSink, batch_size: int
    ) -> None:
        super().__init__()
        self.x, self.y, self.task, self.objective, self.direction, self.sink = x, y, task, objective, direction, sink
        self.batch_size = max(256, batch_size)
        self.best: float | None = None

    def __deepcopy__(
        self, memo: dict
    ) -> ValidationPredictions:  # KerasTuner copies callbacks per trial; the data is shared
        return ValidationPredictions(
            self.x, self.y, self.task, self.objective, self.direction, self.sink, self.batch_size
        )

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.best, self.sink.best = None, None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        from sklearn.metrics import roc_auc_score

        if logs is None:
            return
        members = heads.has_members(self.model)
        scores = scores_from_output(
            self.model.predict(self.x, batch_size=self.batch_size, verbose=0), self.task, members
        )
        finite = bool(np.isfinite(scores).all())
        if self.task == "binary":
            if "val_auc" not in logs:
                logs["val_auc"] = float(roc_auc_score(self.y, scores[:, 1])) if finite else float("nan")
            if members:
                logs["val_accuracy"] = float(np.mean((scores[:, 1] >= 0.5) == (self.y == 1)))
        elif self.task == "regression" and members and finite:
            logs["val_mae"] = float(np.mean(np.abs(scores - self.y)))
            logs["val_rmse"] = float(np.sqrt(np.mean((scores - self.y) ** 2)))
        value = logs.get(self.objective)
        if value is None or not finite or not math.isfinite(float(value)):
            return
        if self.best is None or (float(value) > self.best if self.direction == "max" else float(value) < self.best):
            self.best, self.sink.best = float(value), scores


@dataclass
class PredictionSink:
    """Where the running trial's best validation predictions land (one trial runs at a time)."""

    best: np.ndarray | None = None


class ScheduledRate(keras.callbacks.Callback):
    """Sets the learning rate before every batch from the trial's schedule over ``total_steps`` optimizer steps.

    Per step, not per epoch (Keras's ``LearningRateScheduler``), so the curve
    is the same whatever the epoch count: with 5 epochs a per-epoch ``step``
    schedule halved the rate every epoch.
    """

    def __init__(self, kind: str, base: float, total_steps: int) -> None:
        super().__init__()
        self.kind, self.base, self.total_steps, self.step = kind, base, total_steps, 0

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self.model.optimizer.learning_rate = space.scheduled_rate(self.kind, self.base, self.step, self.total_steps)
        self.step += 1

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:  # the trial's CSV log shows the rate each epoch ended with
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


def sample_weight_for(hp: kt.HyperParameters, dataset: Dataset, y: np.ndarray) -> np.ndarray | None:
    """Balanced per-example weights when the trial's ``class_weight`` hyperparameter says so.

    Passed as ``sample_weight`` rather than Keras's ``class_weight``, which
    reads the class from the target's last axis and so mistakes a target
    repeated per ensemble member (:func:`heads.targets`) for one-hot labels.
    """
    if hp.values.get("class_weight") != "balanced" or not dataset.info.class_weights:
        return None
    weights = dataset.info.class_weights
    return np.array([weights.get(int(label), 1.0) for label in y], dtype=np.float32)


def fit_options(hp: kt.HyperParameters, dataset: Dataset, settings: SearchSettings, y: np.ndarray) -> dict[str, Any]:
    """What the trial's hyperparameters decide about ``fit`` on targets ``y``: batch size, example weights, rate schedule.

    Trials and the refit both use it, so the refit trains the way the trial
    did; the schedule spans ``settings.epochs`` epochs of ``y``'s rows, so a
    refit on more rows follows the same curve per epoch.
    """
    with space.using(settings.space):
        batch_size = space.batch_size(hp, settings.batch_size)
    kind, base = hp.values.get("lr_schedule", "constant"), space.base_learning_rate(hp)
    scheduled = kind != "constant" and base is not None
    callbacks = (
        [ScheduledRate(kind, float(base), settings.epochs * math.ceil(len(y) / batch_size))] if scheduled else []
    )
    options: dict[str, Any] = {"batch_size": batch_size, "callbacks": callbacks}
    weights = sample_weight_for(hp, dataset, y)
    if weights is not None:
        options["sample_weight"] = weights
    return options


class VerticalHyperModel(kt.HyperModel):
    """Adapts a vertical's ``build_model(hp, info)`` to KerasTuner, inside the configured search space."""

    def __init__(self, vertical: Vertical, dataset: Dataset, settings: SearchSettings) -> None:
        super().__init__(name=vertical.name)
        self.vertical = vertical
        self.dataset = dataset
        self.settings = settings
        self.predictions = PredictionSink()
        task = dataset.info.task
        # Binary tasks need the predictions for val_auc; ensembling verticals choose members on them.
        self.collects_predictions = task == "binary" or vertical.ensemble_size > 1

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        started = time.perf_counter()
        with space.using(self.settings.space):
            model = self.vertical.build_model(hp, self.dataset.info)
            space.batch_size(hp, self.settings.batch_size)  # declared here so every trial records it
        check_built(model)
        self.last_build_seconds = time.perf_counter() - started  # the time budget reserves it for each refit member
        return model

    def fit(self, hp: kt.HyperParameters, model: keras.Model, x: Any, y: np.ndarray, **kwargs: Any) -> Any:
        task = self.dataset.info.task
        options = fit_options(hp, self.dataset, self.settings, y)
        first = options.pop(
            "callbacks"
        )  # before the logging, early-stopping and tuner callbacks, which read what these add
        validation = kwargs.get("validation_data")
        if validation is not None and (self.collects_predictions or heads.has_members(model)):
            objective, direction = self.settings.objective_for(self.vertical, task)
            first.append(
                ValidationPredictions(
                    validation[0],
                    np.asarray(validation[1]),
                    task,
                    objective,
                    direction,
                    self.predictions,
                    options["batch_size"],
                )
            )
        if validation is not None:
            kwargs["validation_data"] = (validation[0], heads.targets(np.asarray(validation[1]), task, model))
        kwargs["callbacks"] = [*first, *kwargs.get("callbacks", [])]
        return model.fit(x, heads.targets(np.asarray(y), task, model), **{**options, **kwargs})


def check_built(model: Any) -> None:
    """A builder must return a compiled ``keras.Model``; say so in the plugin's terms rather than Keras's or KerasTuner's.

    KerasTuner builds once before any trial, so a wrong return value fails
    the search at once (one line, exit 4) instead of in every trial.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"build_model returned {type(model).__name__}, not a keras.Model")
    if not model.compiled:
        raise TypeError(
            "build_model returned a model that is not compiled (call model.compile(optimizer, loss, metrics) before returning it)"
        )


@dataclass
class RunClock:
    """Wall-clock accounting of one run, across the sessions of a resumed run.

    ``started`` is this session's ``time.monotonic()`` at its start;
    ``spent_before`` the seconds earlier sessions of the run used.
    """

    started: float
    spent_before: float = 0.0
    budget: float | None = None

    def used(self) -> float:
        return self.spent_before + time.monotonic() - self.started

    def end(self) -> float | None:
        """The monotonic time at which the budget runs out, or ``None``."""
        return self.started + self.budget - self.spent_before if self.budget is not None else None


class EpochReport(keras.callbacks.Callback):
    """Tells the progress display when an epoch of the running trial ends."""

    def __init__(self, progress: SearchProgress, trial_id: str, epochs: int) -> None:
        super().__init__()
        self.progress, self.trial_id, self.epochs = progress, trial_id, epochs

    def __deepcopy__(self, memo: dict) -> EpochReport:  # KerasTuner copies callbacks per trial; the display is shared
        return EpochReport(self.progress, self.trial_id, self.epochs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.progress.epoch_ended(self.trial_id, epoch + 1, self.epochs, dict(logs or {}))


class _TrialBookkeeping:
    """Tuner mixin: time each trial, count its epochs, report it, keep the budget, and save that for a resume.

    With a budget, the search keeps back what the rest of the run will need:
    no trial starts, and a running one stops at an epoch end, once the time
    left is less than the estimated finish.  The finish is, for each current
    best trial that the export will refit, two model builds (reloading its
    checkpoint, then the refit) and its seconds per epoch times its best
    epoch count, scaled from the train split to train+validation; plus 3 % of
    the budget as slack (tuner bookkeeping between trials, reloading the best).
    """

    def __init__(
        self,
        *args: Any,
        progress: SearchProgress,
        clock: RunClock,
        state_file: Path,
        log_dir: Path,
        refit_members: int,
        refit_scale: float,
        **kwargs: Any,
    ) -> None:
        self.log_dir, self.state_file, self.progress, self.clock = log_dir, state_file, progress, clock
        self.predictions_dir = state_file.parent / "predictions"
        self.refit_members, self.refit_scale = refit_members, refit_scale
        saved = read_run_file(state_file) or {}
        self.seconds: dict[str, float] = {k: v["seconds"] for k, v in saved.get("trials", {}).items()}
        self.epochs_run: dict[str, int | None] = {k: v["epochs_run"] for k, v in saved.get("trials", {}).items()}
        self.build_seconds: dict[str, float] = {
            k: v.get("build_seconds", 0.0) for k, v in saved.get("trials", {}).items()
        }
        self.out_of_time = False
        super().__init__(*args, **kwargs)

    def search_deadline(self) -> float | None:
        """When the search must stop to leave room for the refit, or ``None`` without a budget."""
        end = self.clock.end()
        if end is None:
            return None
        reserve = 0.03 * (self.clock.budget or 0.0)
        if self.refit_members:
            for trial in self.oracle.get_best_trials(self.refit_members):
                epochs, build = self.epochs_run.get(trial.trial_id), self.build_seconds.get(trial.trial_id, 0.0)
                if epochs and trial.best_step is not None:
                    per_epoch = max(0.0, self.seconds.get(trial.trial_id, 0.0) - build) / epochs
                    reserve += 2 * build + per_epoch * (int(trial.best_step) + 1) * self.refit_scale
        return end - reserve

    def shortest_trial_start(self) -> float:
        """The least time a new trial needs for its build and first epoch, from the trials so far."""
        starts = [
            self.build_seconds.get(k, 0.0) + (self.seconds[k] - self.build_seconds.get(k, 0.0)) / self.epochs_run[k]
            for k in self.seconds
            if self.epochs_run.get(k)
        ]
        return min(starts, default=0.0)

    def pre_create_trial(self) -> None:
        super().pre_create_trial()
        deadline = self.search_deadline()
        if deadline is not None and time.monotonic() + self.shortest_trial_start() >= deadline:
            self.out_of_time = True
            self.oracle.max_trials = len(self.oracle.trials)

    def on_trial_begin(self, trial: kt.engine.trial.Trial) -> None:
        super().on_trial_begin(trial)
        self.progress.trial_started(trial.trial_id, dict(trial.hyperparameters.values))

    def run_trial(self, trial: kt.engine.trial.Trial, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        kwargs["callbacks"] = [
            *kwargs.get("callbacks", []),
            keras.callbacks.CSVLogger(str(self.log_dir / f"trial_{trial.trial_id}.csv")),  # per-epoch metrics
            EpochReport(self.progress, trial.trial_id, kwargs.get("epochs", 0)),
            DiskSpaceGuard(self.state_file.parent),
        ]
        if self.clock.budget is not None:
            kwargs["callbacks"].append(Deadline(self.search_deadline))
        try:
            histories = super().run_trial(trial, *args, **kwargs)
            self.epochs_run[trial.trial_id] = max(len(h.epoch) for h in histories)
            self._save_predictions(trial.trial_id)
            return histories
        except Exception as error:
            if disk_full(error):
                raise DiskFullInTrial(f"trial {trial.trial_id} could not write to disk: {error}") from error
            raise
        finally:
            self.seconds[trial.trial_id] = time.perf_counter() - started
            self.build_seconds[trial.trial_id] = getattr(self.hypermodel, "last_build_seconds", 0.0)

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
            self.oracle.trials[trial_id], self.seconds.get(trial_id, 0.0), self.epochs_run.get(trial_id)
        )

    def on_trial_end(self, trial: kt.engine.trial.Trial) -> None:
        super().on_trial_end(trial)
        release_memory()
        self._save_state()
        self.progress.trial_ended(self.record(trial.trial_id))

    def _save_state(self) -> None:
        """Trial seconds and epochs, the completed trials and the time used so far, for a resumed run (written atomically).

        ``completed`` also tells a failing run whether it holds work worth keeping (:func:`registry.open_run`).
        """
        trials = {
            k: {
                "seconds": self.seconds[k],
                "epochs_run": self.epochs_run.get(k),
                "build_seconds": self.build_seconds.get(k, 0.0),
            }
            for k in self.seconds
        }
        completed = sorted(
            k for k, trial in self.oracle.trials.items() if trial.status == kt.engine.trial.TrialStatus.COMPLETED
        )
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps({"trials": trials, "completed": completed, "seconds_used": self.clock.used()}))
        os.replace(temporary, self.state_file)


def release_memory() -> None:
    """Free what the last model held, so memory stays flat across trials (KerasTuner clears the session before each build)."""
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _accepts(hp: Any, value: Any) -> bool:
    """Whether ``value`` is a legal value of hyperparameter ``hp`` (recipes may name values a config removed)."""
    kinds = kt.engine.hyperparameters
    if value is None:
        return False
    if isinstance(hp, kinds.Fixed):
        return value == hp.value
    if isinstance(hp, kinds.Boolean):
        return isinstance(value, bool)
    if isinstance(hp, kinds.Choice):
        return value in hp.values
    if isinstance(hp, (kinds.Int, kinds.Float)):
        return isinstance(value, (int, float)) and hp.min_value <= value <= hp.max_value
    return False


class _RecipesFirst:
    """Oracle mixin: the first trials are the vertical's recipes, then the oracle's own proposals.

    A recipe names some hyperparameter values; every other active one takes
    its default.  KerasTuner's random and Bayesian oracles sample from the
    first trial on, so without this a strong known configuration might never
    be tried in a short budget.  Trial ids count up from 0, so a resumed run
    gives the same recipes to the same trials.
    """

    def __init__(self, *args: Any, recipes: tuple[dict[str, Any], ...] = (), **kwargs: Any) -> None:
        self.recipes = recipes
        super().__init__(*args, **kwargs)

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        index = int(trial_id)
        if index < len(self.recipes):
            values = self._recipe_values(self.recipes[index])
            if not self._duplicate(values):
                return {"status": kt.engine.trial.TrialStatus.RUNNING, "values": values}
        return super().populate_space(trial_id)

    def _recipe_values(self, recipe: dict[str, Any]) -> dict[str, Any]:
        chosen = kt.HyperParameters()
        for hp in self.hyperparameters.space:
            chosen.merge([hp])
            if chosen.is_active(hp):
                value = recipe.get(hp.name)
                chosen.values[hp.name] = value if _accepts(hp, value) else hp.default
        return chosen.values


class _RandomWithRecipes(_RecipesFirst, kt.oracles.RandomSearchOracle):
    pass


class _BayesianWithRecipes(_RecipesFirst, kt.oracles.BayesianOptimizationOracle):
    pass


class BookkeptTuner(_TrialBookkeeping, kt.Tuner):
    """A KerasTuner tuner around any oracle, with the run's bookkeeping."""


class BookkeptHyperband(_TrialBookkeeping, kt.Hyperband):
    pass


def make_tuner(
    hypermodel: VerticalHyperModel, vertical: Vertical, settings: SearchSettings, directory: Path, **bookkeeping: Any
) -> kt.Tuner:
    """Build the chosen KerasTuner tuner, with the trial cap (:meth:`SearchSettings.trial_cap`) honoured by all.

    Random and Bayesian searches start with the vertical's recipes.  A
    ``directory`` holding an earlier session's state is reloaded: finished
    trials are kept and an interrupted one runs again (KerasTuner's own resume).
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
        if settings.tuner == "hyperband":
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
            kind = _RandomWithRecipes if settings.tuner == "random" else _BayesianWithRecipes
            tuner = BookkeptTuner(oracle=kind(**oracle_options, recipes=tuple(vertical.recipes)), **common)
    return tuner


def trial_record(trial: kt.engine.trial.Trial, seconds: float, epochs_run: int | None) -> TrialRecord:
    status = str(trial.status)
    error = None
    if trial.message:
        lines = [line for line in str(trial.message).strip().splitlines() if line.strip()]
        error = re.sub(r"^(?:\w+\.)+(\w+:)", r"\1", lines[-1]) if lines else None
    score = float(trial.score) if trial.score is not None and math.isfinite(float(trial.score)) else None
    return TrialRecord(
        trial_id=trial.trial_id,
        status=status,
        score=score,
        best_epoch=int(trial.best_step) + 1 if status == "COMPLETED" else None,
        epochs_run=epochs_run,
        seconds=round(seconds, 3),
        hyperparameters=dict(trial.hyperparameters.values),
        error=error,
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


def run_search(
    vertical: Vertical,
    dataset: Dataset,
    settings: SearchSettings,
    directory: Path,
    clock: RunClock,
    progress: SearchProgress | None = None,
    verbose: bool = False,
) -> SearchOutcome:
    """Search the vertical's space on the train split, scoring on the validation split.

    ``directory`` keeps the tuner's state (``tuner/``), per-trial CSV logs
    (``logs/trial_<id>.csv``) and the bookkeeping a resumed run needs; when it
    already holds them, the search continues where it stopped.
    """
    progress = progress or SearchProgress()
    keras.utils.set_random_seed(settings.seed)
    hypermodel = VerticalHyperModel(vertical, dataset, settings)
    started = time.perf_counter()
    objective, direction = settings.objective_for(vertical, dataset.info.task)
    (directory / "logs").mkdir(parents=True, exist_ok=True)
    fitted = len(dataset.train) + len(dataset.validation)
    check_saved_state(directory)
    try:
        tuner = make_tuner(
            hypermodel,
            vertical,
            settings,
            directory / "tuner",
            progress=progress,
            clock=clock,
            state_file=directory / STATE_FILE,
            log_dir=directory / "logs",
            refit_members=max(1, vertical.ensemble_size) if settings.refit else 0,
            refit_scale=fitted / len(dataset.train),
        )
    except Exception as error:  # KerasTuner builds one model up front; any failure there is the builder's
        if disk_full(error):
            raise
        raise SearchError(
            f"the {vertical.name} model could not be built: {type(error).__name__}: {error}",
            "this is a bug in the plugin; report it with the output of --debug",
        ) from error
    callbacks = [
        keras.callbacks.EarlyStopping(monitor=objective, mode=direction, patience=settings.patience),
        NonFiniteLoss(),
        StopOnInterrupt(),
    ]
    finished = [tuner.record(trial_id) for trial_id in tuner.oracle.end_order]
    progress.search_started(settings.trial_cap(), objective, direction, clock.end(), finished)
    stopped = None
    try:
        with tracebacks_only_with_debug():
            tuner.search(
                dataset.train.x,
                dataset.train.y,
                validation_data=(dataset.validation.x, dataset.validation.y),
                epochs=settings.epochs,
                callbacks=callbacks,
                verbose=1 if verbose else 0,
            )
    except RuntimeError as error:  # KerasTuner: too many consecutive failed trials
        stopped = str(error).splitlines()[0]
    finally:
        progress.search_ended()
    trials = [tuner.record(trial_id) for trial_id in tuner.oracle.start_order]
    completed = [t for t in trials if t.status == "COMPLETED" and t.score is not None]
    if not completed:
        first_error = next((t.error for t in trials if t.error), "no trial ran")
        raise AllTrialsFailed(
            f"all {len(trials)} trial(s) failed; first error: {first_error}",
            "re-run with --debug to see each trial's traceback",
            trials,
        )
    if tuner.out_of_time:
        stopped = f"time budget of {settings.time_budget:g}s: no time left for another trial and the refit after {len(trials)} trial(s)"
    reason = stop_reason(settings, len(trials), tuner.out_of_time, stopped)
    by_id = {t.trial_id: t for t in trials}
    hyperparameters = {trial.trial_id: trial.hyperparameters for trial in tuner.oracle.trials.values()}
    selection = _select_members(tuner, completed, dataset, vertical, objective, direction)
    members = [(by_id[trial_id], hyperparameters[trial_id]) for trial_id in selection.trial_ids]
    models = None
    if not settings.refit or selection.validation_scores is None:
        with warnings.catch_warnings():  # the checkpoints hold weights only; Keras warns that optimizer state is absent
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            with space.using(settings.space):
                models = [load_trial_model(tuner, trial_id, directory) for trial_id in selection.trial_ids]
    validation_scores = selection.validation_scores
    if validation_scores is None:
        validation_scores = predict_scores(models[0], dataset.validation.x, dataset.info.task)
    kept = (
        None if settings.refit else models
    )  # only --no-refit exports them; a refit would otherwise hold them in memory
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
    )


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
    """A trial's model from its checkpoint; a checkpoint that cannot be read makes the run folder damaged, not vautoml."""
    try:
        return tuner.load_model(tuner.oracle.get_trial(trial_id))
    except Exception as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise damaged_run_folder(directory, f"the checkpoint of trial {trial_id} cannot be read: {first}") from error


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


def _select_members(
    tuner: kt.Tuner, completed: list[TrialRecord], dataset: Dataset, vertical: Vertical, objective: str, direction: str
) -> ensemble.Selection:
    """The trials the export averages: greedy ensemble selection on validation predictions, or the best trial alone.

    Verticals with ``ensemble_size`` 1, and runs whose trials left no
    predictions (older runs resumed), export the best trial.
    """
    best = next(r for r in completed if r.trial_id == tuner.oracle.get_best_trials(1)[0].trial_id)
    alone = ensemble.Selection((best.trial_id,), (1.0,), float(best.score), tuner.validation_predictions(best.trial_id))
    if vertical.ensemble_size <= 1:
        return alone
    candidates = [
        ensemble.Candidate(r.trial_id, float(r.score), tuner.validation_predictions(r.trial_id)) for r in completed
    ]
    if any(c.scores is None for c in candidates):
        return alone
    return ensemble.select(
        candidates, dataset.validation.y, objective, direction, dataset.info.task, vertical.ensemble_size
    )


def refit(
    vertical: Vertical,
    dataset: Dataset,
    outcome: SearchOutcome,
    settings: SearchSettings,
    deadline: float | None = None,
) -> tuple[keras.Model, list[dict[str, list[float]]]]:
    """Train each member's hyperparameters from scratch on train+validation for its best epoch count.

    One member is exported as it is; several are wrapped in one model that
    averages their outputs with the members' weights (stock layers, so it
    loads in safe mode).  With a ``deadline`` (the end of the time budget) a
    refit stops at the epoch end after it.  Each member's training history
    (loss and metrics per epoch, as many epochs as it really trained) is
    returned for the report's learning curves.
    """
    keras.backend.clear_session()
    fitting: LabeledData = dataset.train_and_validation()
    models, histories = [], []
    for index, ((record, hp), epochs) in enumerate(zip(outcome.members, outcome.planned_epochs)):
        keras.utils.set_random_seed(settings.seed + index)
        with space.using(settings.space):
            model = vertical.build_model(hp, dataset.info)
        options = fit_options(hp, dataset, settings, fitting.y)
        options["callbacks"] += [NonFiniteLoss(), StopOnInterrupt(), Deadline(lambda: deadline)]
        try:
            history = model.fit(
                fitting.x, heads.targets(fitting.y, dataset.info.task, model), epochs=epochs, verbose=0, **options
            )
        except kt.errors.FailedTrialError as error:
            raise SearchError(
                f"refitting trial {record.trial_id} on train+validation diverged: {error}",
                "re-run with another --seed or more --max-trials",
            ) from error
        models.append(model)
        histories.append({name: [float(v) for v in values] for name, values in history.history.items()})
    return combine(models, outcome, vertical, dataset.info.task), histories


def single_output(model: keras.Model, task: str) -> keras.Model:
    """A binary or regression model with one output column per ensemble member, wrapped to output their mean.

    Other models come back as they are.  Stock layers only (``Reshape`` and
    ``GlobalAveragePooling1D``), so the export loads in safe mode.
    """
    if not heads.has_members(model):
        return model
    columns = int(model.outputs[0].shape[-1])
    first = model.inputs[0]
    inputs = keras.Input(shape=tuple(first.shape[1:]), dtype=first.dtype, name=first.name)
    x = keras.layers.Reshape((columns, 1))(model(inputs))
    outputs = keras.layers.GlobalAveragePooling1D(name="members_mean")(x)
    return keras.Model(inputs, outputs, name=model.name)


def combine(models: list[keras.Model], outcome: SearchOutcome, vertical: Vertical, task: str) -> keras.Model:
    """One model (its members' mean, for a packed ensemble), or several averaged with ``outcome.weights``.

    Equal weights use Keras's ``Average``; unequal ones scale each member
    with ``Rescaling`` and ``Add`` them.  Both are stock layers.
    """
    models = [single_output(model, task) for model in models]
    if len(models) == 1:
        return models[0]
    for index, model in enumerate(models):
        model.name = f"member_{index}_trial_{outcome.members[index][0].trial_id}"
    first = models[0].inputs[0]
    inputs = keras.Input(shape=tuple(first.shape[1:]), dtype=first.dtype, name=first.name)
    weights = outcome.weights
    if len(set(weights)) == 1:
        outputs = keras.layers.Average(name="ensemble_average")([model(inputs) for model in models])
    else:
        scaled = [
            keras.layers.Rescaling(float(weight), name=f"weight_{index}")(model(inputs))
            for index, (model, weight) in enumerate(zip(models, weights))
        ]
        outputs = keras.layers.Add(name="ensemble_weighted_average")(scaled)
    return keras.Model(inputs, outputs, name=f"vautoml_{vertical.name}_ensemble")
