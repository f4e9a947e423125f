"""The vision model builder: one point of the search space -> a compiled CNN.

Layout: input is channels_last (what image libraries produce); augmentation
runs there, then a Permute switches to channels_first for the convolutions,
which measured faster on the PyTorch backend.  Every layer is a stock Keras
layer, so ``model.keras`` loads in safe mode without custom objects.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from vertical_automl.plugin_api import DatasetInfo, heads, space

if TYPE_CHECKING:  # pragma: no cover
    import keras
    import keras_tuner

AUGMENTATIONS = ("none", "shift", "shift_flip")
# The first trial: a small, well-known CNN (two conv blocks of 32 and 64 filters with batch norm, max pooling, a
# 128-unit layer, Adam at 1e-3).  Without it the first trials are whatever the sampler draws: on MNIST (6,400
# training images, 3-minute budget, two workers) the two trials drawn ran 6 and 3 epochs in 150 s and exported a
# model of 0.52 test accuracy, where one process's first draw, close to this point, reached 0.977.  Images whose
# size needs more blocks than two take the depth's default instead.
VISION_RECIPES: tuple[dict[str, object], ...] = (
    {
        "augmentation": "none",
        "depth": 2,
        "width": 32,
        "kernel_size": 3,
        "initializer": "he_uniform",
        "batch_norm": True,
        "l1": 0.0,
        "l2": 0.0,
        "dropout": 0.3,
        "pooling": "max",
        "dense_units": 128,
        "optimizer": "adam",
        "learning_rate": 1e-3,
        "lr_schedule": "constant",
    },
)


def _augment(hp: keras_tuner.HyperParameters, x: keras.KerasTensor) -> keras.KerasTensor:
    """Random rotation, zoom and translation (and optionally horizontal flips), training only.

    RandomCrop is avoided: on this backend it returns uncropped images at inference.
    """
    import keras

    mode = hp.Choice("augmentation", list(AUGMENTATIONS))
    if mode == "none":
        return x
    if mode == "shift_flip":
        x = keras.layers.RandomFlip("horizontal")(x)
    x = keras.layers.RandomRotation(0.05, fill_mode="constant")(x)
    x = keras.layers.RandomZoom(0.1, fill_mode="constant")(x)
    return keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant")(x)


def build_model(hp: keras_tuner.HyperParameters, info: DatasetInfo) -> keras.Model:
    import keras

    height, width, channels = info.input_shape
    low, high = info.input_spec["value_range"]
    inputs = keras.Input(shape=(height, width, channels), name="pixels")
    x = _augment(hp, inputs)
    x = keras.layers.Rescaling(scale=1.0 / (high - low), offset=-low / (high - low))(x)
    x = keras.layers.Permute((3, 1, 2))(x)  # to channels_first

    # Each block halves the map. Enough blocks to bring it to 8x8 or less (so the
    # head keeps spatial detail), never so many that it falls below 2x2.
    max_blocks = max(1, min(4, int(math.log2(min(height, width))) - 1))
    min_blocks = min(max_blocks, max(1, math.ceil(math.log2(min(height, width) / 8))))
    blocks = space.depth(hp, min_blocks, max_blocks, limit=max_blocks)
    filters = space.width(hp, (16, 32, 64))
    kernel = hp.Choice("kernel_size", [3, 5])
    initializer = space.kernel_initializer(hp)
    normalise = space.batch_norm(hp)
    regularizer = space.kernel_regularizer(hp)
    rate = space.dropout(hp, 0.5)
    pooling = hp.Choice("pooling", ["max", "average"])
    pool = keras.layers.MaxPooling2D if pooling == "max" else keras.layers.AveragePooling2D

    for block in range(blocks):
        x = keras.layers.Conv2D(
            min(filters * 2**block, 256),
            kernel,
            padding="same",
            data_format="channels_first",
            kernel_initializer=initializer,
            kernel_regularizer=regularizer,
            use_bias=not normalise,
        )(x)
        if normalise:
            # momentum 0.9: small datasets give few steps, and the default 0.99
            # leaves the inference statistics far from the data for many epochs.
            x = keras.layers.BatchNormalization(axis=1, momentum=0.9)(x)
        x = keras.layers.Activation("relu")(x)
        x = pool(2, data_format="channels_first")(x)

    # Small final maps keep their spatial detail (flatten); large ones are averaged.
    if (height >> blocks) * (width >> blocks) <= 64:
        x = keras.layers.Flatten(data_format="channels_first")(x)
    else:
        x = keras.layers.GlobalAveragePooling2D(data_format="channels_first")(x)
    if rate > 0:
        x = keras.layers.Dropout(rate)(x)
    units = hp.Choice("dense_units", [0, 64, 128])
    if units:
        x = keras.layers.Dense(
            units, activation="relu", kernel_initializer=initializer, kernel_regularizer=regularizer
        )(x)
        if rate > 0:
            x = keras.layers.Dropout(rate)(x)
    model = keras.Model(inputs, heads.output(x, info), name="vautoml_vision")
    return heads.compile_model(model, hp, info)
