"""The Keras callbacks a trial or a refit trains with: what KerasTuner's own loop lacks.

Each does one thing at a batch or epoch end: fail a diverging trial
(:class:`NonFiniteLoss`), take a pressed Ctrl-C (:class:`StopOnInterrupt`),
keep the time budget (:class:`Deadline`, :class:`TrialOutOfTime`) and the disk (:class:`DiskSpaceGuard`),
score the validation split exactly and keep the best epoch's predictions
(:class:`ValidationPredictions`), follow the trial's learning-rate schedule
(:class:`ScheduledRate`) and tell the progress display (:class:`EpochReport`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import keras_tuner as kt
import numpy as np

from .. import heads, interrupts, space, training
from ..registry import check_space, room_to_save
from ..scoring import scores_from_output
from .progress import SearchProgress


class NonFiniteLoss(keras.callbacks.Callback):
    """Fail the trial on a NaN or infinite loss.

    Keras's TerminateOnNaN only stops training, and with an accuracy
    objective KerasTuner then records the trial as COMPLETED with a junk
    score; raising KerasTuner's FailedTrialError marks it FAILED instead.
    ``Model.fit`` logs every batch's loss; our own training step
    (:mod:`vertical_automl.training`) logs the epoch's only, so it is caught there.
    """

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.check((logs or {}).get("loss"), f"batch {batch}")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.check((logs or {}).get("loss"), f"epoch {epoch + 1}")

    @staticmethod
    def check(loss: object, where: str) -> None:
        if loss is not None and not math.isfinite(float(loss)):
            raise kt.errors.FailedTrialError(f"non-finite loss ({float(loss)}) at {where}; training diverged")


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
    epoch's duration predicts the next one's.  ``first_trial``: the run has
    no completed trial yet, so this one trains at least one epoch whatever
    the time, or there would be nothing to export.
    """

    def __init__(self, deadline: Callable[[], float | None], first_trial: bool = False) -> None:
        super().__init__()
        self.deadline, self.first_trial = deadline, first_trial
        self.epoch_started = time.monotonic()

    def __deepcopy__(self, memo: dict) -> Deadline:  # KerasTuner copies callbacks per trial; the clock is shared
        return Deadline(self.deadline, self.first_trial)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch_started = time.monotonic()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not self.leaves_room_for(time.monotonic() - self.epoch_started):
            self.model.stop_training = True

    def leaves_room_for(self, seconds: float) -> bool:
        """Whether work of ``seconds`` started now would end before the deadline."""
        deadline = self.deadline()
        return deadline is None or time.monotonic() + seconds < deadline

    def may_start(self, seconds: float) -> bool:
        """Whether work before the first epoch, which no epoch end can stop, may start: a trial's trees.

        See :meth:`.hypermodel.VerticalHyperModel.fit_trees`; the run's first trial always may.
        """
        return self.first_trial or self.leaves_room_for(seconds)


class TrialOutOfTime(kt.errors.FailedTrialError):
    """The time budget ran out before a trial could train: it ends STOPPED, and no trial starts after it.

    A FailedTrialError, so KerasTuner does not run it again; the tuner
    (:meth:`.tuner._TrialBookkeeping.on_trial_end`) records it as STOPPED, not FAILED.
    """


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
      the members' mean: ``val_accuracy`` (binary, multiclass), ``val_mae`` and
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
        if logs is None:
            return
        scores = self.predict()
        finite = bool(np.isfinite(scores).all())
        self.add_metrics(logs, scores, finite)
        value = logs.get(self.objective)
        if value is None or not finite or not math.isfinite(float(value)):
            return
        if self.best is None or (float(value) > self.best if self.direction == "max" else float(value) < self.best):
            self.best, self.sink.best = float(value), scores

    def predict(self) -> np.ndarray:
        """The model's scores for the validation rows."""
        members = heads.has_members(self.model)
        return scores_from_output(training.predict(self.model, self.x, self.batch_size), self.task, members)

    def add_metrics(self, logs: dict, scores: np.ndarray, finite: bool) -> None:
        """The exact metrics Keras's own validation pass lacks (see the class docstring)."""
        from sklearn.metrics import roc_auc_score

        members = heads.has_members(self.model)
        if self.task == "binary":
            if "val_auc" not in logs:
                logs["val_auc"] = float(roc_auc_score(self.y, scores[:, 1])) if finite else float("nan")
            if members:
                logs["val_accuracy"] = float(np.mean((scores[:, 1] >= 0.5) == (self.y == 1)))
        elif self.task == "multiclass" and members and finite:  # Keras's val_accuracy is the members' mean accuracy
            logs["val_accuracy"] = float(np.mean(scores.argmax(axis=1) == self.y))
        elif self.task == "regression" and members and finite:
            logs["val_mae"] = float(np.mean(np.abs(scores - self.y)))
            logs["val_rmse"] = float(np.sqrt(np.mean((scores - self.y) ** 2)))


class SaveBestEpochAtEnd(keras.callbacks.Callback):
    """KerasTuner's checkpoint of a trial's best epoch, written once when training ends, not at every better epoch.

    Writing the weights cost ~190 ms a time for German credit's five packed
    fold models, about a tenth of a trial once the training step got faster;
    the best epoch's weights are kept in memory instead.  A trial that does
    not end (Ctrl-C, a killed process) runs again from scratch on resume, as
    before, so nothing depended on the intermediate files.
    """

    def __init__(self, objective: Any, filepath: str) -> None:
        super().__init__()
        self.objective, self.filepath = objective, filepath
        self.best_value = float("-inf") if objective.direction == "max" else float("inf")
        self.best_weights: list[np.ndarray] | None = None

    def __deepcopy__(self, memo: dict) -> SaveBestEpochAtEnd:
        return SaveBestEpochAtEnd(self.objective, self.filepath)

    @classmethod
    def replacing(cls, callback: keras.callbacks.Callback) -> keras.callbacks.Callback:
        """``callback`` as this class if it is KerasTuner's own checkpoint (not public API), else as it is."""
        if type(callback).__name__ == "SaveBestEpoch" and type(callback).__module__.startswith("keras_tuner."):
            return cls(callback.objective, callback.filepath)
        return callback

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """As KerasTuner's: keep every epoch when the objective is not in the logs, else each better one."""
        if not self.objective.has_value(logs):
            self.best_weights = self.model.get_weights()
            return
        value = self.objective.get_value(logs)
        if self.objective.better_than(value, self.best_value):
            self.best_value, self.best_weights = value, self.model.get_weights()

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.best_weights is None:
            return
        last = self.model.get_weights()
        self.model.set_weights(self.best_weights)
        self.model.save_weights(self.filepath)
        self.model.set_weights(last)


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


class EpochReport(keras.callbacks.Callback):
    """Tells the progress display when an epoch of the running trial ends."""

    def __init__(self, progress: SearchProgress, trial_id: str, epochs: int) -> None:
        super().__init__()
        self.progress, self.trial_id, self.epochs = progress, trial_id, epochs

    def __deepcopy__(self, memo: dict) -> EpochReport:  # KerasTuner copies callbacks per trial; the display is shared
        return EpochReport(self.progress, self.trial_id, self.epochs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.progress.epoch_ended(self.trial_id, epoch + 1, self.epochs, dict(logs or {}))
