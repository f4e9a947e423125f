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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import keras
import keras_tuner as kt
import numpy as np

from . import interrupts, space
from .data.dataset import Dataset, LabeledData
from .errors import SearchError
from .progress import SearchProgress
from .settings import SearchSettings
from .vertical import Vertical

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


@dataclass
class SearchOutcome:
    """The trials, the best ones, and their own scores on the validation split.

    ``members`` are the best trials (best first) whose refits make up the
    exported model: one, or several for a vertical that ensembles.
    ``validation_scores`` average those trials' own models, which never saw
    the validation split; binary tasks choose their decision threshold on them.
    """

    trials: list[TrialRecord]
    members: list[tuple[TrialRecord, kt.HyperParameters]]
    stopped_early_reason: str | None = None
    seconds: float = 0.0
    validation_scores: np.ndarray | None = None
    trial_models: list[keras.Model] | None = None  # the members' own trained models, for --no-refit

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

    def __deepcopy__(self, memo: dict) -> "Deadline":  # KerasTuner copies callbacks per trial; the clock is shared
        return Deadline(self.deadline)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch_started = time.monotonic()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        deadline = self.deadline()
        now = time.monotonic()
        if deadline is not None and now + (now - self.epoch_started) >= deadline:
            self.model.stop_training = True


class ValidationAUC(keras.callbacks.Callback):
    """Adds the exact validation ROC AUC (scikit-learn) to the logs as ``val_auc`` at each epoch end.

    Binary models compile without Keras's AUC metric, which approximates
    with 200 thresholds and measured a fifth of every training step; one
    prediction pass over the validation split per epoch is far cheaper.  A
    model that compiled its own AUC keeps it.
    """

    def __init__(self, x: Any, y: np.ndarray, batch_size: int) -> None:
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size

    def __deepcopy__(self, memo: dict) -> "ValidationAUC":  # KerasTuner copies callbacks per trial; the data is shared
        return ValidationAUC(self.x, self.y, self.batch_size)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        from sklearn.metrics import roc_auc_score

        if logs is None or "val_auc" in logs:
            return
        scores = np.asarray(self.model.predict(self.x, batch_size=max(256, self.batch_size), verbose=0), dtype=np.float64).reshape(len(self.y), -1)[:, -1]
        logs["val_auc"] = float(roc_auc_score(self.y, scores)) if np.isfinite(scores).all() else float("nan")


def class_weight_for(hp: kt.HyperParameters, dataset: Dataset) -> dict[int, float] | None:
    """Balanced class weights when the trial's ``class_weight`` hyperparameter says so."""
    return dataset.info.class_weights if hp.values.get("class_weight") == "balanced" else None


def fit_options(hp: kt.HyperParameters, dataset: Dataset, settings: SearchSettings) -> dict[str, Any]:
    """What the trial's hyperparameters decide about ``fit``: batch size, class weights, learning-rate schedule.

    Trials and the refit both use it, so the refit trains the way the trial did.
    """
    with space.using(settings.space):
        batch_size = space.batch_size(hp, settings.batch_size)
    scheduler = space.schedule_callback(hp, settings.epochs)
    return {"batch_size": batch_size, "class_weight": class_weight_for(hp, dataset), "callbacks": [scheduler] if scheduler else []}


class VerticalHyperModel(kt.HyperModel):
    """Adapts a vertical's ``build_model(hp, info)`` to KerasTuner, inside the configured search space."""

    def __init__(self, vertical: Vertical, dataset: Dataset, settings: SearchSettings) -> None:
        super().__init__(name=vertical.name)
        self.vertical = vertical
        self.dataset = dataset
        self.settings = settings

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        started = time.perf_counter()
        with space.using(self.settings.space):
            model = self.vertical.build_model(hp, self.dataset.info)
            space.batch_size(hp, self.settings.batch_size)  # declared here so every trial records it
        self.last_build_seconds = time.perf_counter() - started  # the time budget reserves it for each refit member
        return model

    def fit(self, hp: kt.HyperParameters, model: keras.Model, *args: Any, **kwargs: Any) -> Any:
        options = fit_options(hp, self.dataset, self.settings)
        first = options.pop("callbacks")  # before the logging, early-stopping and tuner callbacks, which read what these add
        if self.dataset.info.task == "binary" and kwargs.get("validation_data") is not None:
            x, y = kwargs["validation_data"][:2]
            first.append(ValidationAUC(x, np.asarray(y), options["batch_size"]))
        kwargs["callbacks"] = [*first, *kwargs.get("callbacks", [])]
        return model.fit(*args, **{**options, **kwargs})


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

    def __deepcopy__(self, memo: dict) -> "EpochReport":  # KerasTuner copies callbacks per trial; the display is shared
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
        self, *args: Any, progress: SearchProgress, clock: RunClock, state_file: Path, log_dir: Path,
        refit_members: int, refit_scale: float, **kwargs: Any
    ) -> None:
        self.log_dir, self.state_file, self.progress, self.clock = log_dir, state_file, progress, clock
        self.refit_members, self.refit_scale = refit_members, refit_scale
        saved = json.loads(state_file.read_text()) if state_file.exists() else {}
        self.seconds: dict[str, float] = {k: v["seconds"] for k, v in saved.get("trials", {}).items()}
        self.epochs_run: dict[str, int | None] = {k: v["epochs_run"] for k, v in saved.get("trials", {}).items()}
        self.build_seconds: dict[str, float] = {k: v.get("build_seconds", 0.0) for k, v in saved.get("trials", {}).items()}
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
        starts = [self.build_seconds.get(k, 0.0) + (self.seconds[k] - self.build_seconds.get(k, 0.0)) / self.epochs_run[k] for k in self.seconds if self.epochs_run.get(k)]
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
        ]
        if self.clock.budget is not None:
            kwargs["callbacks"].append(Deadline(self.search_deadline))
        try:
            histories = super().run_trial(trial, *args, **kwargs)
            self.epochs_run[trial.trial_id] = max(len(h.epoch) for h in histories)
            return histories
        finally:
            self.seconds[trial.trial_id] = time.perf_counter() - started
            self.build_seconds[trial.trial_id] = getattr(self.hypermodel, "last_build_seconds", 0.0)

    def record(self, trial_id: str) -> TrialRecord:
        return trial_record(self.oracle.trials[trial_id], self.seconds.get(trial_id, 0.0), self.epochs_run.get(trial_id))

    def on_trial_end(self, trial: kt.engine.trial.Trial) -> None:
        super().on_trial_end(trial)
        release_memory()
        self._save_state()
        self.progress.trial_ended(self.record(trial.trial_id))

    def _save_state(self) -> None:
        """Trial seconds and epochs and the time used so far, for a resumed run (written atomically)."""
        trials = {k: {"seconds": self.seconds[k], "epochs_run": self.epochs_run.get(k), "build_seconds": self.build_seconds.get(k, 0.0)} for k in self.seconds}
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps({"trials": trials, "seconds_used": self.clock.used()}))
        os.replace(temporary, self.state_file)


def release_memory() -> None:
    """Free what the last model held, so memory stays flat across trials (KerasTuner clears the session before each build)."""
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _tuner_class(kind: str) -> type:
    base = {"random": kt.RandomSearch, "bayesian": kt.BayesianOptimization, "hyperband": kt.Hyperband, "grid": kt.GridSearch}[kind]
    return type(f"Bookkept{base.__name__}", (_TrialBookkeeping, base), {})


def make_tuner(hypermodel: VerticalHyperModel, vertical: Vertical, settings: SearchSettings, directory: Path, **bookkeeping: Any) -> kt.Tuner:
    """Build the chosen KerasTuner tuner, with ``max_trials`` honoured by all of them.

    A ``directory`` holding an earlier session's state is reloaded: finished
    trials are kept and an interrupted one runs again (KerasTuner's own resume).
    """
    name, direction = settings.objective_for(vertical, hypermodel.dataset.info.task)
    common = dict(
        hypermodel=hypermodel,
        objective=kt.Objective(name, direction=direction),
        seed=settings.seed,
        directory=str(directory),
        project_name="search",
        overwrite=False,
        max_consecutive_failed_trials=settings.max_consecutive_failed_trials,
        **bookkeeping,
    )
    cls = _tuner_class(settings.tuner)
    with contextlib.redirect_stdout(io.StringIO()):  # KerasTuner prints "Reloading Tuner from ..." to stdout
        if settings.tuner == "hyperband":
            tuner = cls(max_epochs=max(2, settings.epochs), factor=3, hyperband_iterations=1, **common)
            tuner.oracle.max_trials = settings.max_trials  # Hyperband has no cap of its own
        else:
            tuner = cls(max_trials=settings.max_trials, **common)
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
    try:
        tuner = make_tuner(
            hypermodel, vertical, settings, directory / "tuner", progress=progress, clock=clock, state_file=directory / "trials_state.json",
            log_dir=directory / "logs", refit_members=max(1, vertical.ensemble_size) if settings.refit else 0, refit_scale=fitted / len(dataset.train),
        )
    except Exception as error:  # KerasTuner builds one model up front; any failure there is the builder's
        raise SearchError(f"the {vertical.name} model could not be built: {type(error).__name__}: {error}", "this is a bug in the plugin; report it with the output of --debug") from error
    callbacks = [keras.callbacks.EarlyStopping(monitor=objective, mode=direction, patience=settings.patience), NonFiniteLoss(), StopOnInterrupt()]
    finished = [tuner.record(trial_id) for trial_id in tuner.oracle.end_order]
    progress.search_started(settings.max_trials, objective, direction, clock.end(), finished)
    stopped = None
    try:
        tuner.search(
            dataset.train.x, dataset.train.y,
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
        raise SearchError(f"all {len(trials)} trial(s) failed; first error: {first_error}", "re-run with --debug to see each trial's traceback")
    if tuner.out_of_time:
        stopped = f"time budget of {settings.time_budget:g}s: no time left for another trial and the refit after {len(trials)} trial(s)"
    size = min(max(1, vertical.ensemble_size), len(completed))
    by_id = {t.trial_id: t for t in trials}
    members = [(by_id[trial.trial_id], trial.hyperparameters) for trial in tuner.oracle.get_best_trials(size)]
    with warnings.catch_warnings():  # the checkpoints hold weights only; Keras warns that optimizer state is absent
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        with space.using(settings.space):
            models = tuner.get_best_models(size)
    validation_scores = np.mean([predict_scores(model, dataset.validation.x, dataset.info.task) for model in models], axis=0)
    kept = None if settings.refit else models  # only --no-refit exports them; a refit would otherwise hold them in memory
    return SearchOutcome(trials, members, stopped, time.perf_counter() - started, validation_scores, kept)


def refit(vertical: Vertical, dataset: Dataset, outcome: SearchOutcome, settings: SearchSettings, deadline: float | None = None) -> tuple[keras.Model, list[dict[str, list[float]]]]:
    """Train each member's hyperparameters from scratch on train+validation for its best epoch count.

    One member is exported as it is; several are wrapped in one model that
    averages their outputs (stock ``Average`` layer, so it loads in safe mode).
    With a ``deadline`` (the end of the time budget) a refit stops at the
    epoch end after it.  Each member's training history (loss and metrics per
    epoch, as many epochs as it really trained) is returned for the report's
    learning curves.
    """
    keras.backend.clear_session()
    fitting: LabeledData = dataset.train_and_validation()
    models, histories = [], []
    for index, (record, hp) in enumerate(outcome.members):
        keras.utils.set_random_seed(settings.seed + index)
        with space.using(settings.space):
            model = vertical.build_model(hp, dataset.info)
        options = fit_options(hp, dataset, settings)
        options["callbacks"] += [NonFiniteLoss(), StopOnInterrupt(), Deadline(lambda: deadline)]
        try:
            history = model.fit(fitting.x, fitting.y, epochs=max(1, record.best_epoch or 1), verbose=0, **options)
        except kt.errors.FailedTrialError as error:
            raise SearchError(f"refitting trial {record.trial_id} on train+validation diverged: {error}", "re-run with another --seed or more --max-trials") from error
        models.append(model)
        histories.append({name: [float(v) for v in values] for name, values in history.history.items()})
    return combine(models, outcome, vertical), histories


def combine(models: list[keras.Model], outcome: SearchOutcome, vertical: Vertical) -> keras.Model:
    """One model as it is; several wrapped in one model that averages their outputs."""
    if len(models) == 1:
        return models[0]
    for index, model in enumerate(models):
        model.name = f"member_{index}_trial_{outcome.members[index][0].trial_id}"
    first = models[0].inputs[0]
    inputs = keras.Input(shape=tuple(first.shape[1:]), dtype=first.dtype, name=first.name)
    outputs = keras.layers.Average(name="ensemble_average")([model(inputs) for model in models])
    return keras.Model(inputs, outputs, name=f"vautoml_{vertical.name}_ensemble")


def predict_scores(model: keras.Model, x: np.ndarray, task: str, batch_size: int = 256) -> np.ndarray:
    """Class probabilities shaped (N, classes), or predictions shaped (N,) for regression.

    A binary model's single sigmoid output p becomes the two columns (1 - p, p).
    """
    out = np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64)
    if task == "regression":
        return out.reshape(len(out))
    if task == "binary" and out.shape[1] == 1:
        return np.column_stack([1.0 - out[:, 0], out[:, 0]])
    return out
