"""Example vertical: a dense network over flattened pixels.

Shows the three things a vertical declares: loaders (reused from the core),
a model builder written with the shared search-space helpers, and defaults.
Keras is imported inside ``build_model`` only, so listing plugins stays fast.
"""

from __future__ import annotations

from vertical_automl import DataLoader, Vertical, hookimpl, space
from vertical_automl.data import images


def load_demo():
    """scikit-learn's bundled digits stand in for part scans, so the example runs offline."""
    from sklearn.datasets import load_digits

    from vertical_automl.data.arrays import image_arrays

    digits = load_digits()
    return image_arrays(digits.images.astype("float32"), digits.target, "scikit-learn digits (demo stand-in for part scans)", value_range=(0.0, 16.0))


def build_model(hp, info):
    import keras

    low, high = info.input_spec["value_range"]
    inputs = keras.Input(shape=info.input_shape, name="pixels")
    x = keras.layers.Rescaling(1.0 / (high - low), offset=-low / (high - low))(inputs)
    x = keras.layers.Flatten()(x)
    initializer = space.kernel_initializer(hp)
    units = space.width(hp, (32, 64, 128))
    rate = space.dropout(hp, 0.4)
    normalise = space.batch_norm(hp)
    for _ in range(space.depth(hp, 1, 3)):
        x = keras.layers.Dense(units, kernel_initializer=initializer, use_bias=not normalise)(x)
        if normalise:
            x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation("relu")(x)
        if rate:
            x = keras.layers.Dropout(rate)(x)
    outputs = keras.layers.Dense(info.num_classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=space.optimizer(hp), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


ACME = Vertical(
    name="acme",
    description="Example vertical: small grayscale part scans classified by a dense network.",
    task="multiclass",
    build_model=build_model,
    loaders=(
        DataLoader("npz", "an .npz file with arrays x and y", images.is_npz, images.load_npz_images),
        DataLoader("hdf5", "an .h5 file with datasets x and y", images.is_hdf5, images.load_hdf5_images),
    ),
    default_data=load_demo,
    usage_code=images.image_usage_code,
)


@hookimpl
def register_verticals(register):
    register(ACME)
