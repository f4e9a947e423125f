"""Model building blocks shared by several verticals (modalities, not industries).

``dense_stack`` is the searched stack of dense layers any vertical can end
with; ``tabular_model`` is the whole model for encoded tables, which the
finance and medical verticals (and any tabular third-party vertical) build
on.  Every layer is a stock Keras layer, so exported models load in safe mode.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from . import heads, space
from .data.dataset import DatasetInfo

if TYPE_CHECKING:  # pragma: no cover
    import keras
    import keras_tuner


def dense_stack(
    hp: "keras_tuner.HyperParameters", x: "keras.KerasTensor", widths: Sequence[int] = (32, 64, 128), max_depth: int = 3, max_dropout: float = 0.5
) -> "keras.KerasTensor":
    """``depth`` blocks of Dense (L1/L2 on the kernel) -> [BatchNorm] -> ReLU -> [Dropout], all searched."""
    import keras

    initializer = space.kernel_initializer(hp)
    units = space.width(hp, widths)
    rate = space.dropout(hp, max_dropout)
    normalise = space.batch_norm(hp)
    regularizer = space.kernel_regularizer(hp)
    for _ in range(space.depth(hp, 1, max_depth)):
        x = keras.layers.Dense(units, kernel_initializer=initializer, kernel_regularizer=regularizer, use_bias=not normalise)(x)
        if normalise:
            x = keras.layers.BatchNormalization(momentum=0.9)(x)
        x = keras.layers.Activation("relu")(x)
        if rate:
            x = keras.layers.Dropout(rate)(x)
    return x


def clip_standardised(x: "keras.KerasTensor", limit: float = 3.0) -> "keras.KerasTensor":
    """Clip standardised features to [-limit, limit]: 3-sigma outlier clipping with stock layers.

    Shift up by ``limit``, cap with ReLU(max_value=2*limit), shift back; the
    mean and standard deviation are the training split's (the preceding
    Normalization layer), so the clipping is learned on training data only.
    """
    import keras

    x = keras.layers.Rescaling(1.0, offset=limit)(x)
    x = keras.layers.ReLU(max_value=2 * limit)(x)
    return keras.layers.Rescaling(1.0, offset=-limit)(x)


def tabular_model(hp: "keras_tuner.HyperParameters", info: DatasetInfo, name: str = "vautoml_tabular", widths: Sequence[int] = (32, 64, 128)) -> "keras.Model":
    """Normalization (training mean/variance) -> optional outlier clipping -> dense stack -> task head.

    Searched: outlier clipping, the dense stack, class weighting (classification),
    optimizer and learning rate.
    """
    import keras

    inputs = keras.Input(shape=info.input_shape, name="features")
    x = keras.layers.Normalization(mean=info.statistics["mean"], variance=info.statistics["variance"])(inputs)
    if hp.Boolean("clip_outliers"):
        x = clip_standardised(x)
    x = dense_stack(hp, x, widths)
    if info.task != "regression":
        space.class_weight(hp)
    model = keras.Model(inputs, heads.output(x, info), name=name)
    return heads.compile_model(model, hp, info)
