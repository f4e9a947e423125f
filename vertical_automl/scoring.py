"""A model's output as scores, and scores as the test-split metrics.

Shared by the search (trials, refit, test split) and by a finished run's
predictor; it imports no training code (no KerasTuner), so predicting with a
run stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from . import heads
from .evaluate import binary_metrics, classification_metrics, regression_metrics

if TYPE_CHECKING:  # pragma: no cover - a type name only
    import keras


def scores_from_output(out: np.ndarray, task: str, members: bool = False) -> np.ndarray:
    """A model's raw output as class probabilities (N, classes), or predictions (N,) for regression.

    With ``members`` the output's second axis holds ensemble members'
    predictions (:func:`heads.member_output`) and their mean is the
    prediction.  A binary probability p becomes the two columns (1 - p, p);
    a binary model with two softmax columns keeps them.
    """
    out = np.asarray(out, dtype=np.float64)
    if task == "multiclass" and members:
        return out.mean(axis=1)
    if task == "regression":
        return out.reshape(len(out), -1).mean(axis=1)
    if task == "binary" and (members or out.shape[1] == 1):
        positive = out.mean(axis=1)
        return np.column_stack([1.0 - positive, positive])
    return out


def predict_scores(model: keras.Model, x: np.ndarray, task: str, batch_size: int = 256) -> np.ndarray:
    """Class probabilities shaped (N, classes), or predictions shaped (N,) for regression."""
    return scores_from_output(model.predict(x, batch_size=batch_size, verbose=0), task, heads.has_members(model))


def score_test_split(
    task: str, y_true: np.ndarray, scores: np.ndarray, class_names: tuple[str, ...], threshold: float | None
) -> dict[str, Any]:
    """The core's test-split metrics for ``task``; binary labels are decided at ``threshold``."""
    if task == "regression":
        return regression_metrics(y_true, scores)
    if task == "binary":
        predicted = (scores[:, 1] >= threshold).astype(np.int64)
        return {
            **classification_metrics(y_true, predicted, scores, class_names),
            "binary": binary_metrics(y_true, scores[:, 1], threshold),
        }
    return classification_metrics(y_true, scores.argmax(axis=1), scores, class_names)
