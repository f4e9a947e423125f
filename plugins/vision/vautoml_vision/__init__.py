"""Image classification vertical for vertical-automl.

Registered through the ``vautoml`` entry-point group exactly like a
third-party plugin.  Reads class-per-subfolder image folders, ``.npz`` and
HDF5 files; without ``--data`` it uses scikit-learn's bundled 8x8 digits, so
it works offline.  Keras is imported only inside :func:`build_model`.
"""

from __future__ import annotations

from vertical_automl.plugin_api import (
    LabeledData,
    Vertical,
    hdf5_image_loader,
    hookimpl,
    image_arrays,
    image_folder_loader,
    npz_image_loader,
)

from .model import VISION_RECIPES, build_model

LOADERS = (image_folder_loader(), npz_image_loader(), hdf5_image_loader())


def load_digits() -> LabeledData:
    """scikit-learn's bundled handwritten digits: 1,797 images of 8x8 pixels valued 0-16."""
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    return image_arrays(
        digits.images.astype("float32"),
        digits.target,
        "scikit-learn digits (bundled, 1,797 8x8 images)",
        value_range=(0.0, 16.0),
    )


VISION = Vertical(
    name="vision",
    description=(
        "Image classification: convolutional networks searched over depth, width, kernel size, initializer, "
        "batch norm, dropout, pooling, augmentation and optimizer."
    ),
    tasks=("binary", "multiclass"),
    build_model=build_model,
    loaders=LOADERS,
    default_data=load_digits,
    default_data_description="scikit-learn digits (8x8 grayscale, 10 classes)",
    objectives={"binary": ("val_accuracy", "max")},
    recipes=VISION_RECIPES,
    model_card_notes=(
        "The model takes raw pixels in channels_last order (batch, height, width, channels) "
        "in the value range above; "
        "rescaling to [0, 1] and any augmentation are layers inside the model "
        "(augmentation is active only in training).",
        "Inside, the model permutes to channels_first before its convolutions, "
        "which is faster on the PyTorch backend; callers never see this.",
    ),
)


@hookimpl
def register_verticals(register):
    register(VISION)
