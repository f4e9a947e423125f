"""A vertical's model builder as a KerasTuner hypermodel, and what a trial's hyperparameters decide about ``fit``.

KerasTuner calls :meth:`VerticalHyperModel.build` and :meth:`VerticalHyperModel.fit`
for every trial; the refit (:mod:`.refit`) builds with the vertical directly
but trains with the same :func:`fit_options`, so it trains the way the trial did.
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Any

import keras
import keras_tuner as kt
import numpy as np

from .. import heads, space, training, trees
from ..data.cross_validation import assign_folds
from ..data.dataset import Dataset
from ..settings import SearchSettings
from ..vertical import Vertical
from . import folds
from .callbacks import (
    Deadline,
    PredictionSink,
    SaveBestEpochAtEnd,
    ScheduledRate,
    TrialOutOfTime,
    ValidationPredictions,
)


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
    """What the trial's hyperparameters decide about ``fit`` on targets ``y``.

    That is the batch size, the example weights and the rate schedule.

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
        self.folds: np.ndarray | None = None  # each train+validation row's fold, when trials are cross-validated
        if settings.cross_validated:
            fitting = dataset.train_and_validation()
            self.folds = assign_folds(fitting.y, task, int(settings.folds), settings.seed, fitting.groups)
        # Binary tasks need the predictions for val_auc; ensembling verticals choose members on them.
        self.collects_predictions = task == "binary" or vertical.ensemble_size > 1
        self.seconds_per_tree_iteration = 0.0  # of the last trees fitted in this process: what the next fit expects

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        started = time.perf_counter()
        with space.using(self.settings.space):
            with folds.fold_scope(0) if self.folds is not None else contextlib.nullcontext():
                model = self.vertical.build_model(hp, self.dataset.info)
            space.batch_size(hp, self.settings.batch_size)  # declared here so every trial records it
        check_built(model)
        if self.folds is not None:  # the other folds' copies; every copy declares the same hyperparameters
            copies = []
            with space.using(self.settings.space):
                for index in range(1, int(self.settings.folds)):
                    with folds.fold_scope(index):
                        copies.append(self.vertical.build_model(hp, self.dataset.info))
            model = folds.pack([model, *copies])
        self.last_build_seconds = time.perf_counter() - started  # the time budget reserves it for each refit member
        self.last_tree_seconds = 0.0  # this trial's, added up by fit_trees
        return model

    def fit(self, hp: kt.HyperParameters, model: keras.Model, x: Any, y: np.ndarray, **kwargs: Any) -> Any:
        task = self.dataset.info.task
        kwargs["callbacks"] = [SaveBestEpochAtEnd.replacing(c) for c in kwargs.get("callbacks", [])]
        deadline = next((c for c in kwargs["callbacks"] if isinstance(c, Deadline)), None)
        if any(trees.has_trees(m) for m in (folds.fold_models(model) if self.folds is not None else [model])):
            kwargs["epochs"] = min(int(kwargs.get("epochs", 1)), trees.HEAD_EPOCHS)
        options = fit_options(hp, self.dataset, self.settings, y)
        first = options.pop(
            "callbacks"
        )  # before the logging, early-stopping and tuner callbacks, which read what these add
        if self.folds is not None:
            objective, direction = self.settings.objective_for(self.vertical, task)
            scoring = folds.OutOfFold(
                x, np.asarray(y), self.folds, task, objective, direction, self.predictions, options["batch_size"]
            )
            kwargs["callbacks"] = [*first, *kwargs.get("callbacks", [])]
            weights = options.pop("sample_weight", None)
            members = [(member, self.folds != fold) for fold, member in enumerate(folds.fold_models(model))]
            self.fit_trees(members, hp, x, np.asarray(y), weights, deadline)
            return folds.fit(model, x, np.asarray(y), self.folds, task, weights, scoring, **{**options, **kwargs})
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
        self.fit_trees([(model, None)], hp, x, np.asarray(y), options.get("sample_weight"), deadline)
        if "sample_weight" in options:
            options["sample_weight"] = heads.weights(options["sample_weight"], task, model)
        if validation is not None:
            kwargs["validation_data"] = (validation[0], heads.targets(np.asarray(validation[1]), task, model))
        kwargs["callbacks"] = [*first, *kwargs.get("callbacks", [])]
        return training.fit(model, x, heads.targets(np.asarray(y), task, model), **{**options, **kwargs})

    def fit_trees(
        self,
        members: list[tuple[keras.Model, np.ndarray | None]],
        hp: kt.HyperParameters,
        x: Any,
        y: np.ndarray,
        weights: np.ndarray | None,
        deadline: Deadline | None,
    ) -> None:
        """Fit each model's trees on its rows (all of them where ``None``), first asking the deadline for room.

        Trees are fitted before the first epoch, where no epoch-end check can
        stop a trial: five fold fits of a seven-class trial took 30 s on
        obesity levels, and one started 12 s before the search's deadline
        overran a 3-minute budget by half a minute.  Each fit is timed per
        boosting iteration (or forest tree), and the next one (this trial's next fold, or a
        later trial's first) is expected to take as long per iteration; the
        trial stops (:class:`.callbacks.TrialOutOfTime`) rather than start a
        fit that would end after the deadline.
        """
        iterations = trees.work_units(hp)
        for member, rows in members:
            if not trees.has_trees(member):
                continue
            expected = self.seconds_per_tree_iteration * iterations
            if deadline is not None and expected and not deadline.may_start(expected):
                raise TrialOutOfTime(f"the time budget ran out before its trees were fitted (about {expected:.0f}s)")
            started = time.perf_counter()
            trees.fit_trees(member, hp, x, y, self.dataset.info, self.settings.seed, weights, rows)
            seconds = time.perf_counter() - started
            self.seconds_per_tree_iteration, self.last_tree_seconds = (
                seconds / iterations,
                self.last_tree_seconds + seconds,
            )


def check_built(model: Any) -> None:
    """A builder must return a compiled ``keras.Model``; say so in the plugin's terms, not Keras's or KerasTuner's.

    KerasTuner builds once before any trial, so a wrong return value fails
    the search at once (one line, exit 4) instead of in every trial.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"build_model returned {type(model).__name__}, not a keras.Model")
    if not model.compiled:
        raise TypeError(
            "build_model returned a model that is not compiled "
            "(call model.compile(optimizer, loss, metrics) before returning it)"
        )
