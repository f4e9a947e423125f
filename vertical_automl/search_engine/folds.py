"""Cross-validated selection: every training row judges every candidate, out of fold.

On small data one validation split is a noisy judge: one ROC-AUC on 150 rows
has a standard error near 0.04, more than the gaps between candidates, and
the trials train on 64 % of the labelled rows.  With ``k`` folds over
train+validation each trial trains ``k`` models, model ``i`` on every row
outside fold ``i``; each row is then scored by the one model that never saw
it, and the trial, its best epoch, ensemble selection and the decision
threshold are all chosen on those out-of-fold scores of every row (as
AutoGluon's bagging does).  The export averages the ``k`` fold models of
each chosen trial in one graph of stock layers.

The ``k`` models train as one packed Keras model: the copies side by side
behind one input, one output each, and each output's loss weighted zero on
its own fold.  One optimizer step then trains all ``k``, so Keras's per-step
cost, which dominates small models on a CPU, is paid once rather than ``k``
times.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import keras
import numpy as np

from .. import heads, training
from ..scoring import scores_from_output
from .callbacks import PredictionSink, ValidationPredictions

FOLD_PREFIX = "fold_"  # each fold model's name inside the packed model, so the export can find them again


def fold_scope(index: int) -> contextlib.AbstractContextManager:
    """Where fold ``index``'s model is built, so its weights' paths start ``fold_<index>/`` and no two copies share one.

    Keras's torch backend keeps a model's parameters in a dict keyed by weight
    path (``keras/src/backend/torch/layer.py``).  Copies built alike have the
    same paths, so in the packed model all but the last fold's parameters drop
    out of it, and those folds train wrongly: measured on German credit, the
    first four fold models of the linear recipe swung between 0.02 and 0.6 mean
    probability from epoch to epoch (the last stayed at 0.30) and its
    out-of-fold AUC fell from 0.77 to 0.65 as it trained; in scopes, all five
    hold 0.29-0.32 and it reaches the 0.79 of five separate fits.
    """
    return keras.name_scope(f"{FOLD_PREFIX}{index}")


def pack(models: list[keras.Model]) -> keras.Model:
    """The fold models as one trainable model: one input, one output per fold, the first model's optimizer and loss.

    Only for training: the export is :func:`average`.  Each copy is renamed
    ``fold_<i>`` (Keras wants unique names in one graph) and called in its
    :func:`fold_scope`, where layers not built yet get their weights; a model
    built outside its scope, or sharing layers with another copy, is refused.
    """
    first = models[0]
    if len(first.outputs) != 1:
        raise TypeError(
            "cross-validation needs a model with one output; build_model returned "
            f"{len(first.outputs)} (search with --folds 1)"
        )
    spec = first.inputs[0]
    inputs = keras.Input(shape=tuple(spec.shape[1:]), dtype=spec.dtype, name=spec.name)
    outputs = []
    for index, model in enumerate(models):
        model.name = f"{FOLD_PREFIX}{index}"
        with fold_scope(index):
            outputs.append(model(inputs))
    packed = keras.Model(inputs, outputs, name="cross_validation_folds")
    paths = [variable.path for model in models for variable in model.trainable_variables]
    if len(set(paths)) != len(paths):  # the same weights twice (a shared layer), or copies built outside their scopes
        shared = sorted({path for path in paths if paths.count(path) > 1})
        raise TypeError(
            f"cross-validation needs each fold's model to have its own weights, but the fold copies share {shared[0]} "
            "(build_model must make new layers on every call; or search with --folds 1)"
        )
    optimizer = keras.optimizers.deserialize(keras.optimizers.serialize(first.optimizer))
    weight = first.get_compile_config().get("loss_weights")  # a regression loss's 1 / std**2 (heads.loss_weight)
    weights = None if weight is None else [float(np.ravel(weight)[0])] * len(models)
    packed.compile(optimizer=optimizer, loss=[first.loss] * len(models), loss_weights=weights)
    return packed


def fold_models(packed: keras.Model) -> list[keras.Model]:
    """The fold models inside a packed model, in fold order."""
    found = [layer for layer in packed.layers if layer.name.startswith(FOLD_PREFIX)]
    return sorted(found, key=lambda layer: int(layer.name[len(FOLD_PREFIX) :]))


def average(packed: keras.Model, task: str) -> keras.Model:
    """The export of one cross-validated trial: the mean of its fold models' outputs (stock layers only)."""
    from .ensembling import single_output

    # Each fold model anew over its own layers: the copies were compiled for nothing (the pack trained them), and an
    # export holding their never-built optimizers warns on every load.
    models = [single_output(keras.Model(m.inputs[0], m.outputs[0], name=m.name), task) for m in fold_models(packed)]
    first = models[0].inputs[0]
    inputs = keras.Input(shape=tuple(first.shape[1:]), dtype=first.dtype, name=first.name)
    outputs = keras.layers.Average(name="folds_average")([model(inputs) for model in models])
    return keras.Model(inputs, outputs, name="cross_validated")


def fit(
    packed: keras.Model,
    x: Any,
    y: np.ndarray,
    assigned: np.ndarray,
    task: str,
    sample_weight: np.ndarray | None,
    scoring: OutOfFold,
    **kwargs: Any,
) -> keras.callbacks.History:
    """Train the fold models at once: each output learns every row but its fold's, against the same targets.

    ``scoring`` (the out-of-fold scores at each epoch end) goes first among
    the callbacks, so early stopping and KerasTuner read its ``val_*``.
    """
    weights = np.ones(len(y), dtype=np.float32) if sample_weight is None else np.asarray(sample_weight, np.float32)
    models = fold_models(packed)
    targets = [heads.targets(y, task, model) for model in models]
    masks = [heads.weights(weights * (assigned != fold), task, model) for fold, model in enumerate(models)]
    kwargs["callbacks"] = [scoring, *kwargs.get("callbacks", [])]
    return training.fit(packed, x, targets, sample_weight=masks, **kwargs)


class OutOfFold(ValidationPredictions):
    """At each epoch end, every row scored by the fold model that never trained on it: the trial's ``val_*``.

    Every metric the task's objectives name is computed here (Keras has no
    validation data to compute them from), and the best epoch's scores are
    kept for ensemble selection and the threshold, as on a validation split.
    """

    def __init__(
        self,
        x: Any,
        y: np.ndarray,
        assigned: np.ndarray,
        task: str,
        objective: str,
        direction: str,
        sink: PredictionSink,
        batch_size: int,
    ) -> None:
        super().__init__(x, y, task, objective, direction, sink, batch_size)
        self.assigned = assigned

    def __deepcopy__(self, memo: dict) -> OutOfFold:
        return OutOfFold(
            self.x, self.y, self.assigned, self.task, self.objective, self.direction, self.sink, self.batch_size
        )

    def predict(self) -> np.ndarray:
        outputs = training.predict(self.model, self.x, self.batch_size)
        scores = None
        for fold, (model, output) in enumerate(zip(fold_models(self.model), outputs)):
            fold_scores = scores_from_output(output, self.task, heads.has_members(model))
            if scores is None:
                scores = np.zeros_like(fold_scores)
            held_out = self.assigned == fold
            scores[held_out] = fold_scores[held_out]
        return scores

    def add_metrics(self, logs: dict, scores: np.ndarray, finite: bool) -> None:
        logs.update(out_of_fold_metrics(self.y, scores, self.task) if finite else {"val_loss": float("nan")})


def out_of_fold_metrics(y: np.ndarray, scores: np.ndarray, task: str) -> dict[str, float]:
    """The ``val_*`` metrics :mod:`vertical_automl.heads` compiles, computed exactly on out-of-fold scores."""
    from sklearn.metrics import log_loss, roc_auc_score

    if task == "regression":
        error = scores - y
        return {
            "val_loss": float(np.mean(error**2)),
            "val_mae": float(np.mean(np.abs(error))),
            "val_rmse": float(math.sqrt(np.mean(error**2))),
        }
    labels = list(range(scores.shape[1]))
    clipped = np.clip(scores, 1e-7, 1.0)
    metrics = {
        "val_loss": float(log_loss(y, clipped / clipped.sum(axis=1, keepdims=True), labels=labels)),
        "val_accuracy": float(np.mean(scores.argmax(axis=1) == y)),
    }
    if task == "binary":
        metrics["val_auc"] = float(roc_auc_score(y, scores[:, 1]))
    return metrics
