"""Example vertical: a dense network over flattened pixels.

Shows the three things a vertical declares: loaders (reused from the core),
a model builder written with the shared blocks and heads, and defaults.
Keras is imported inside ``build_model`` only, so listing plugins stays fast.
"""

from __future__ import annotations

from vertical_automl.plugin_api import (
    Vertical,
    blocks,
    hdf5_image_loader,
    heads,
    hookimpl,
    image_arrays,
    npz_image_loader,
)


def load_demo():
    """scikit-learn's bundled digits stand in for part scans, so the example runs offline."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return image_arrays(
        digits.images.astype("float32"),
        digits.target,
        "scikit-learn digits (demo stand-in for part scans)",
        value_range=(0.0, 16.0),
    )


def build_model(hp, info):
    import keras

    low, high = info.input_spec["value_range"]
    inputs = keras.Input(shape=info.input_shape, name="pixels")
    x = keras.layers.Rescaling(1.0 / (high - low), offset=-low / (high - low))(inputs)
    x = keras.layers.Flatten()(x)
    x = blocks.dense_stack(hp, x, widths=(32, 64, 128), max_dropout=0.4)
    model = keras.Model(inputs, heads.output(x, info))
    return heads.compile_model(model, hp, info)


ACME = Vertical(
    name="acme",
    description="Example vertical: small grayscale part scans classified by a dense network.",
    tasks=("binary", "multiclass"),
    build_model=build_model,
    loaders=(npz_image_loader(), hdf5_image_loader()),
    default_data=load_demo,
)


@hookimpl
def register_verticals(register):
    register(ACME)
