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

import gc
import math
import re
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import keras
import keras_tuner as kt
import numpy as np

from .data.dataset import Dataset, LabeledData
from .errors import SearchError
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


class Deadline(keras.callbacks.Callback):
    """Stop training at the end of the epoch in which the wall-clock budget ran out."""

    def __init__(self, deadline: float) -> None:
        super().__init__()
        self.deadline = deadline

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if time.monotonic() >= self.deadline:
            self.model.stop_training = True


def class_weight_for(hp: kt.HyperParameters, dataset: Dataset) -> dict[int, float] | None:
    """Balanced class weights when the trial's ``class_weight`` hyperparameter says so."""
    return dataset.info.class_weights if hp.values.get("class_weight") == "balanced" else None


class VerticalHyperModel(kt.HyperModel):
    """Adapts a vertical's ``build_model(hp, info)`` to KerasTuner."""

    def __init__(self, vertical: Vertical, dataset: Dataset, batch_size: int) -> None:
        super().__init__(name=vertical.name)
        self.vertical = vertical
        self.dataset = dataset
        self.batch_size = batch_size

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        return self.vertical.build_model(hp, self.dataset.info)

    def fit(self, hp: kt.HyperParameters, model: keras.Model, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("batch_size", self.batch_size)
        kwargs.setdefault("class_weight", class_weight_for(hp, self.dataset))
        return model.fit(*args, **kwargs)


class _TrialBookkeeping:
    """Tuner mixin: time each trial, count its epochs, report its end, and keep the budget.

    Once ``deadline`` (a ``time.monotonic()`` value) has passed, no new trial
    starts: the oracle's trial cap is lowered to the trials already run.
    """

    def __init__(
        self, *args: Any, on_trial_done: Callable[[TrialRecord], None] | None = None, deadline: float | None = None, log_dir: Path | None = None, **kwargs: Any
    ) -> None:
        self.log_dir = log_dir
        self.seconds: dict[str, float] = {}
        self.epochs_run: dict[str, int] = {}
        self.on_trial_done = on_trial_done
        self.deadline = deadline
        self.out_of_time = False
        super().__init__(*args, **kwargs)

    def pre_create_trial(self) -> None:
        super().pre_create_trial()
        if self.deadline is not None and self.oracle.trials and time.monotonic() >= self.deadline:
            self.out_of_time = True
            self.oracle.max_trials = len(self.oracle.trials)

    def run_trial(self, trial: kt.engine.trial.Trial, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        if self.log_dir is not None:  # one CSV of per-epoch metrics per trial
            kwargs["callbacks"] = [*kwargs.get("callbacks", []), keras.callbacks.CSVLogger(str(self.log_dir / f"trial_{trial.trial_id}.csv"))]
        try:
            histories = super().run_trial(trial, *args, **kwargs)
            self.epochs_run[trial.trial_id] = max(len(h.epoch) for h in histories)
            return histories
        finally:
            self.seconds[trial.trial_id] = time.perf_counter() - started

    def record(self, trial_id: str) -> TrialRecord:
        return trial_record(self.oracle.trials[trial_id], self.seconds.get(trial_id, 0.0), self.epochs_run.get(trial_id))

    def on_trial_end(self, trial: kt.engine.trial.Trial) -> None:
        super().on_trial_end(trial)
        release_memory()
        if self.on_trial_done is not None:
            self.on_trial_done(self.record(trial.trial_id))


def release_memory() -> None:
    """Free what the last model held, so memory stays flat across trials (KerasTuner clears the session before each build)."""
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _tuner_class(kind: str) -> type:
    base = {"random": kt.RandomSearch, "bayesian": kt.BayesianOptimization, "hyperband": kt.Hyperband, "grid": kt.GridSearch}[kind]
    return type(f"Bookkept{base.__name__}", (_TrialBookkeeping, base), {})


def make_tuner(
    hypermodel: VerticalHyperModel,
    vertical: Vertical,
    settings: SearchSettings,
    directory: Path,
    on_trial_done: Callable[[TrialRecord], None] | None = None,
    deadline: float | None = None,
    log_dir: Path | None = None,
) -> kt.Tuner:
    """Build the chosen KerasTuner tuner, with ``max_trials`` honoured by all of them."""
    name, direction = vertical.objective(hypermodel.dataset.info.task)
    objective = kt.Objective(name, direction=direction)
    common = dict(
        hypermodel=hypermodel,
        objective=objective,
        seed=settings.seed,
        directory=str(directory),
        project_name="search",
        overwrite=True,
        max_consecutive_failed_trials=settings.max_consecutive_failed_trials,
        on_trial_done=on_trial_done,
        deadline=deadline,
        log_dir=log_dir,
    )
    cls = _tuner_class(settings.tuner)
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
    on_trial_done: Callable[[TrialRecord], None] | None = None,
    log_dir: Path | None = None,
) -> SearchOutcome:
    """Search the vertical's space on the train split, scoring on the validation split.

    With ``log_dir``, each trial's per-epoch metrics go to ``log_dir/trial_<id>.csv``.
    """
    keras.utils.set_random_seed(settings.seed)
    hypermodel = VerticalHyperModel(vertical, dataset, settings.batch_size)
    started = time.perf_counter()
    deadline = time.monotonic() + settings.time_budget if settings.time_budget else None
    objective, direction = vertical.objective(dataset.info.task)
    try:
        tuner = make_tuner(hypermodel, vertical, settings, directory, on_trial_done, deadline, log_dir)
    except Exception as error:  # KerasTuner builds one model up front; any failure there is the builder's
        raise SearchError(f"the {vertical.name} model could not be built: {type(error).__name__}: {error}", "this is a bug in the plugin; report it with the output of --debug") from error
    callbacks = [
        keras.callbacks.EarlyStopping(monitor=objective, mode=direction, patience=settings.patience),
        NonFiniteLoss(),
        *([Deadline(deadline)] if deadline is not None else []),
    ]
    stopped = None
    try:
        tuner.search(
            dataset.train.x, dataset.train.y,
            validation_data=(dataset.validation.x, dataset.validation.y),
            epochs=settings.epochs,
            callbacks=callbacks,
            verbose=0,
        )
    except RuntimeError as error:  # KerasTuner: too many consecutive failed trials
        stopped = str(error).splitlines()[0]
    trials = [tuner.record(trial_id) for trial_id in tuner.oracle.start_order]
    completed = [t for t in trials if t.status == "COMPLETED" and t.score is not None]
    if not completed:
        first_error = next((t.error for t in trials if t.error), "no trial ran")
        raise SearchError(f"all {len(trials)} trial(s) failed; first error: {first_error}", "re-run with --debug to see each trial's traceback")
    if tuner.out_of_time:
        stopped = f"time budget of {settings.time_budget:g}s spent after {len(trials)} trial(s)"
    size = min(max(1, vertical.ensemble_size), len(completed))
    by_id = {t.trial_id: t for t in trials}
    members = [(by_id[trial.trial_id], trial.hyperparameters) for trial in tuner.oracle.get_best_trials(size)]
    with warnings.catch_warnings():  # the checkpoints hold weights only; Keras warns that optimizer state is absent
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        models = tuner.get_best_models(size)
    validation_scores = np.mean([predict_scores(model, dataset.validation.x, dataset.info.task) for model in models], axis=0)
    kept = None if settings.refit else models  # only --no-refit exports them; a refit would otherwise hold them in memory
    return SearchOutcome(trials, members, stopped, time.perf_counter() - started, validation_scores, kept)


def refit(vertical: Vertical, dataset: Dataset, outcome: SearchOutcome, settings: SearchSettings) -> keras.Model:
    """Train each member's hyperparameters from scratch on train+validation for its best epoch count.

    One member is exported as it is; several are wrapped in one model that
    averages their outputs (stock ``Average`` layer, so it loads in safe mode).
    """
    keras.backend.clear_session()
    fitting: LabeledData = dataset.train_and_validation()
    models = []
    for index, (record, hp) in enumerate(outcome.members):
        keras.utils.set_random_seed(settings.seed + index)
        model = vertical.build_model(hp, dataset.info)
        try:
            model.fit(
                fitting.x, fitting.y, epochs=max(1, record.best_epoch or 1), batch_size=settings.batch_size, verbose=0,
                callbacks=[NonFiniteLoss()], class_weight=class_weight_for(hp, dataset),
            )
        except kt.errors.FailedTrialError as error:
            raise SearchError(f"refitting trial {record.trial_id} on train+validation diverged: {error}", "re-run with another --seed or more --max-trials") from error
        models.append(model)
    return combine(models, outcome, vertical)


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
