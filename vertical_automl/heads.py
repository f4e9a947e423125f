"""Output layers, losses and metrics per task, so every vertical ends its model alike.

* binary: one sigmoid unit, the probability of the positive class
  (``class_names[1]``); binary cross-entropy; accuracy (the search adds the
  exact validation ROC AUC, ``val_auc``, at each epoch end: Keras's AUC
  metric cost a fifth of every training step on the torch backend);
* multiclass: a softmax over the classes; sparse categorical cross-entropy; accuracy;
* regression: one linear unit rescaled to the target's units with the
  training mean and standard deviation (a stock ``Rescaling`` layer, so the
  exported model predicts real values); mean squared error of the
  standardised target (the loss is weighted by ``1 / std**2``, so L1/L2
  penalties weigh the same against it whatever the target's units); MAE and
  RMSE in the target's units.

The metric names are what objectives refer to: ``val_auc``,
``val_accuracy``, ``val_mae``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import space
from .data.dataset import DatasetInfo

if TYPE_CHECKING:  # pragma: no cover
    import keras
    import keras_tuner
    import numpy as np

MEMBERS_SUFFIX = "_members"  # the last layer of a model with one output column per ensemble member
DEFAULT_OBJECTIVES = {
    "binary": ("val_auc", "max"),
    "multiclass": ("val_accuracy", "max"),
    "regression": ("val_mae", "min"),
}
# What compile_model reports per task, so what a search may optimise.
OBJECTIVES = {
    "binary": ("val_auc", "val_accuracy", "val_loss"),
    "multiclass": ("val_accuracy", "val_loss"),
    "regression": ("val_mae", "val_rmse", "val_loss"),
}


def direction_of(objective: str) -> str:
    """``min`` for losses and errors, ``max`` for scores such as accuracy and AUC."""
    return "min" if any(word in objective for word in ("loss", "mae", "mse", "rmse", "error")) else "max"


def output(
    x: keras.KerasTensor,
    info: DatasetInfo,
    name: str = "output",
    regularizer: keras.regularizers.Regularizer | None = None,
) -> keras.KerasTensor:
    """The last layer(s) for ``info.task``; ``regularizer`` penalises the head's kernel (a linear model's L2)."""
    import keras

    if info.task == "binary":
        return keras.layers.Dense(1, activation="sigmoid", kernel_regularizer=regularizer, name=name)(x)
    if info.task == "multiclass":
        return keras.layers.Dense(info.num_classes, activation="softmax", kernel_regularizer=regularizer, name=name)(x)
    mean, std = info.statistics["target_mean"], info.statistics["target_std"]
    x = keras.layers.Dense(1, kernel_regularizer=regularizer, name=f"{name}_standardised")(x)
    return keras.layers.Rescaling(scale=std, offset=mean, name=name)(x)


def member_output(x: keras.KerasTensor, info: DatasetInfo, name: str = "output") -> keras.KerasTensor:
    """The last layers of an ensemble packed into one model, from features shaped (batch, members, width).

    Each member has its own output: binary and regression models one column
    per member, shape (batch, members); multiclass models one softmax per
    member, shape (batch, members, classes).  The search trains each member on
    its own loss against the target (see :func:`targets`), which keeps the
    members diverse (TabM, Gorishniy et al. 2025: training their mean as one
    model loses most of the ensemble's gain), and scores and exports their
    mean (:func:`vertical_automl.search_engine.ensembling.single_output`).
    """
    import keras

    members = int(x.shape[1])
    units = info.num_classes if info.task == "multiclass" else 1
    x = keras.layers.EinsumDense("bkd,kdo->bko", output_shape=(members, units), bias_axes="ko", name=f"{name}_heads")(x)
    if info.task == "multiclass":
        return keras.layers.Softmax(axis=-1, name=name + MEMBERS_SUFFIX)(x)
    x = keras.layers.Reshape((members,))(x)
    if info.task == "binary":
        return keras.layers.Activation("sigmoid", name=name + MEMBERS_SUFFIX)(x)
    mean, std = info.statistics["target_mean"], info.statistics["target_std"]
    return keras.layers.Rescaling(scale=std, offset=mean, name=name + MEMBERS_SUFFIX)(x)


def has_members(model: keras.Model) -> bool:
    """Whether ``model`` outputs one column per ensemble member (:func:`member_output`), by its last layer's name."""
    return bool(model.layers) and model.layers[-1].name.endswith(MEMBERS_SUFFIX)


def targets(y: np.ndarray, task: str, model: keras.Model) -> np.ndarray:
    """Targets as ``fit`` takes them for ``model``: with one output per ensemble member
    (:func:`member_output`) the targets (labels, class indices or values) repeated once per member,
    shape (batch, members), so each member trains on its own loss (the torch backend's losses want
    matching shapes); otherwise as they are."""
    import numpy as np

    return _per_member(y, model) if has_members(model) else np.asarray(y)


def weights(sample_weight: np.ndarray, task: str, model: keras.Model) -> np.ndarray:
    """Per-example weights as ``fit`` takes them for ``model``'s loss: repeated per member where the loss keeps members.

    A multiclass member output's loss (sparse cross-entropy over the class
    axis) is one value per example and member, shape (batch, members), and
    Keras multiplies it by the weights without broadcasting a (batch,) vector;
    the binary and regression losses average the member axis away first.
    """
    import numpy as np

    return (
        _per_member(sample_weight, model) if task == "multiclass" and has_members(model) else np.asarray(sample_weight)
    )


def _per_member(values: np.ndarray, model: keras.Model) -> np.ndarray:
    """``values`` (one per example) repeated once per member of ``model``'s output, shape (batch, members)."""
    import numpy as np

    return np.repeat(np.asarray(values).reshape(-1, 1), int(model.outputs[0].shape[1]), axis=1)


def compile_model(model: keras.Model, hp: keras_tuner.HyperParameters, info: DatasetInfo) -> keras.Model:
    """Compile with the searched optimizer and the task's loss and metrics."""
    import keras

    if info.task == "binary":
        loss, metrics = "binary_crossentropy", [keras.metrics.BinaryAccuracy(name="accuracy")]
    elif info.task == "multiclass":
        loss, metrics = "sparse_categorical_crossentropy", ["accuracy"]
    else:
        loss, metrics = (
            "mean_squared_error",
            [keras.metrics.MeanAbsoluteError(name="mae"), keras.metrics.RootMeanSquaredError(name="rmse")],
        )
    model.compile(optimizer=space.optimizer(hp), loss=loss, metrics=metrics, loss_weights=loss_weight(info))
    return model


def loss_weight(info: DatasetInfo) -> float | None:
    """``1 / std**2`` for regression: the loss of the standardised target, which the head rescales from.

    The model predicts in the target's units, so its squared error is in
    units squared: 4e10 for house prices, 1e-2 for a rate.  Adam does not care,
    but every weight penalty (the linear model's searched L2, the MLP's L1/L2)
    is added to that loss, and against house prices it weighed nothing at all.
    """
    if info.task != "regression":
        return None
    std = float(info.statistics["target_std"])  # never 0 (data/split.py)
    return 1.0 / (std * std)
