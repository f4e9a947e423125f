"""``tiny-image``: image classification with the core's image loaders and a small dense network.

The loaders are the core's image-folder, ``.npz`` and HDF5 readers under the
names a typical image vertical gives them; without ``--data`` it trains on
scikit-learn's bundled 8x8 digits, so tests need no shared data.  The model
is the core's searched dense stack over rescaled pixels: seconds per trial,
and every shared search dimension (depth, width, initializer, optimizer,
learning rate and schedule, dropout, L1/L2, batch norm) is in its space.
"""

from __future__ import annotations

from vertical_automl import LabeledData, Vertical, blocks, heads, hookimpl
from vertical_automl.data import images
from vertical_automl.plugin_api import hdf5_image_loader, image_folder_loader, npz_image_loader

LOADERS = (image_folder_loader(), npz_image_loader(), hdf5_image_loader())
# A first trial known to learn digits in a few epochs, so tests that check accuracy after a tiny
# search do not depend on what the random tuner happens to sample (plain SGD at a small rate, say).
RECIPES = (
    {
        "depth": 1,
        "width": 64,
        "dropout": 0.0,
        "initializer": "he_uniform",
        "batch_norm": False,
        "l1": 0.0,
        "l2": 0.0,
        "optimizer": "adam",
        "learning_rate": 3e-3,
        "lr_schedule": "constant",
    },
)


def load_digits() -> LabeledData:
    """scikit-learn's bundled handwritten digits: 1,797 images of 8x8 pixels valued 0-16."""
    from sklearn.datasets import load_digits as sklearn_digits

    from vertical_automl.data.arrays import image_arrays

    digits = sklearn_digits()
    return image_arrays(
        digits.images.astype("float32"),
        digits.target,
        "scikit-learn digits (bundled, 1,797 8x8 images)",
        value_range=(0.0, 16.0),
    )


def build_model(hp, info):
    import keras

    low, high = info.input_spec["value_range"]
    inputs = keras.Input(shape=info.input_shape, name="pixels")
    x = keras.layers.Rescaling(scale=1.0 / (high - low), offset=-low / (high - low))(inputs)
    x = blocks.dense_stack(hp, keras.layers.Flatten()(x), widths=(16, 32, 64), max_depth=2)
    model = keras.Model(inputs, heads.output(x, info), name="tiny_image")
    return heads.compile_model(model, hp, info)


TINY_IMAGE = Vertical(
    name="tiny-image",
    description="Test-only image classification: a small searched dense network over rescaled pixels.",
    tasks=("binary", "multiclass"),
    build_model=build_model,
    loaders=LOADERS,
    default_data=load_digits,
    default_data_description="scikit-learn digits (8x8 grayscale, 10 classes)",
    usage_code=images.image_usage_code,
    recipes=RECIPES,
)


@hookimpl
def register_verticals(register):
    register(TINY_IMAGE)
