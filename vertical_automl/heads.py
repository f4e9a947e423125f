"""Output layers, losses and metrics per task, so every vertical ends its model alike.

* binary: one sigmoid unit, the probability of the positive class
  (``class_names[1]``); binary cross-entropy; accuracy (the search adds the
  exact validation ROC AUC, ``val_auc``, at each epoch end: Keras's AUC
  metric cost a fifth of every training step on the torch backend);
* multiclass: a softmax over the classes; sparse categorical cross-entropy; accuracy;
* regression: one linear unit rescaled to the target's units with the
  training mean and standard deviation (a stock ``Rescaling`` layer, so the
  exported model predicts real values); mean squared error; MAE and RMSE.

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

    Binary and regression models output one column per member, shape
    (batch, members): the search trains each column on its own loss against
    the target (see :func:`targets`), which keeps the members diverse, and
    scores and exports their mean (:func:`vertical_automl.search_engine.ensembling.single_output`).
    Multiclass members' probabilities are averaged inside the model.
    """
    import keras

    members = int(x.shape[1])
    units = info.num_classes if info.task == "multiclass" else 1
    x = keras.layers.EinsumDense("bkd,kdo->bko", output_shape=(members, units), bias_axes="ko", name=f"{name}_heads")(x)
    if info.task == "multiclass":
        x = keras.layers.Softmax(axis=-1)(x)
        return keras.layers.GlobalAveragePooling1D(name=name)(x)
    x = keras.layers.Reshape((members,))(x)
    if info.task == "binary":
        return keras.layers.Activation("sigmoid", name=name + MEMBERS_SUFFIX)(x)
    mean, std = info.statistics["target_mean"], info.statistics["target_std"]
    return keras.layers.Rescaling(scale=std, offset=mean, name=name + MEMBERS_SUFFIX)(x)


def has_members(model: keras.Model) -> bool:
    """Whether ``model`` outputs one column per ensemble member (:func:`member_output`), by its last layer's name."""
    return bool(model.layers) and model.layers[-1].name.endswith(MEMBERS_SUFFIX)


def targets(y: np.ndarray, task: str, model: keras.Model) -> np.ndarray:
    """Targets as ``fit`` takes them for ``model``: binary and regression targets repeated once per
    output column, so a model with one column per ensemble member (:func:`member_output`) trains
    each member on its own loss (the torch backend's losses want equal shapes); class indices as
    they are for multiclass."""
    import numpy as np

    if task == "multiclass" or not has_members(model):
        return np.asarray(y)
    return np.repeat(np.asarray(y).reshape(-1, 1), int(model.outputs[0].shape[-1]), axis=1)


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
    model.compile(optimizer=space.optimizer(hp), loss=loss, metrics=metrics)
    return model
