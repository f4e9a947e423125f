"""The model: a searched stack of 1-D convolutions that picks out local vibration patterns, then a GRU that
reads how they evolve over the window, then the shared task head.

Kernel size and GRU width are this vertical's own dimensions (:data:`DIMENSIONS`),
asked for with ``dimension.value(hp)`` so ``[space]`` in ``search.toml`` can
narrow them like the shared ones (depth, width, initializer, dropout, batch
norm, L1/L2, optimizer and schedule come from :mod:`space`).  Only stock Keras
layers are used, so the bundle loads with safe mode on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vertical_automl.plugin_api import DatasetInfo, Dimension, heads, space

if TYPE_CHECKING:  # pragma: no cover
    import keras
    import keras_tuner

KERNEL_SIZE = Dimension(
    "kernel_size", "choice", choices=(3, 5, 7), help="steps each 1-D convolution looks at (odd, so it stays centred)"
)
GRU_UNITS = Dimension("gru_units", "choice", choices=(16, 32, 64), help="units of the GRU that reads the window")
DIMENSIONS = (KERNEL_SIZE, GRU_UNITS)
MIN_POOLED_STEPS = 8  # a convolution block halves the steps only while at least this many are left
# Tried first: a middle-sized model that trains in a few epochs on a few hundred windows.
RECIPES = (
    {
        "kernel_size": 5,
        "gru_units": 32,
        "depth": 2,
        "width": 32,
        "dropout": 0.1,
        "batch_norm": True,
        "optimizer": "adam",
        "learning_rate": 3e-3,
        "lr_schedule": "constant",
        "l1": 0.0,
        "l2": 0.0,
        "initializer": "he_normal",
    },
)


def build_model(hp: keras_tuner.HyperParameters, info: DatasetInfo) -> keras.Model:
    """Conv1D blocks (Conv -> [BatchNorm] -> ReLU -> [MaxPool]) -> GRU -> [Dropout] -> task head, compiled."""
    import keras

    steps, channels = info.input_shape
    kernel = KERNEL_SIZE.value(hp)
    units = GRU_UNITS.value(hp)
    filters = space.width(hp, (16, 32, 64))
    blocks = space.depth(hp, 1, 3)
    initializer = space.kernel_initializer(hp)
    regularizer = space.kernel_regularizer(hp)
    normalise = space.batch_norm(hp)
    rate = space.dropout(hp, 0.4)
    inputs = keras.Input(shape=(steps, channels), name="readings")
    x = inputs
    for _ in range(blocks):
        x = keras.layers.Conv1D(
            filters,
            kernel,
            padding="same",
            kernel_initializer=initializer,
            kernel_regularizer=regularizer,
            use_bias=not normalise,
        )(x)
        if normalise:
            x = keras.layers.BatchNormalization(momentum=0.9)(x)
        x = keras.layers.Activation("relu")(x)
        if steps >= MIN_POOLED_STEPS:
            x = keras.layers.MaxPooling1D(2)(x)
            steps //= 2
    x = keras.layers.GRU(units, kernel_regularizer=regularizer)(x)
    if rate:
        x = keras.layers.Dropout(rate)(x)
    model = keras.Model(inputs, heads.output(x, info))
    return heads.compile_model(model, hp, info)
