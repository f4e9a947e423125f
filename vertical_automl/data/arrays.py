"""Turn raw ``x``/``y`` arrays (from NPZ, HDF5, scikit-learn) into LabeledData.

Labels may be integers or strings; class names are their sorted distinct
values as text, and ``y`` becomes indices into that list.  Test data read
separately is re-indexed against the training class names so index 3 means
the same class in both.

:data:`ARRAYS` is the input kind of data that is model-ready as it is (float
arrays of the training ``shape``, no encoder): what a bundle predicts on is
an array, a ``.npy`` file or an ``.npz`` file with ``x``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from .dataset import LabeledData
from .input_kind import InputKind, RawInputs


def encode_labels(raw: np.ndarray, source: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Map label values to indices into their sorted distinct values."""
    raw = np.asarray(raw)
    if raw.ndim != 1:
        raw = raw.reshape(len(raw), -1)
        if raw.shape[1] != 1:
            raise DataError(
                f"labels in {source} have shape {raw.shape}, expected one label per example",
                "store y as a 1-D array of class labels",
            )
        raw = raw[:, 0]
    if raw.dtype.kind == "S":
        raw = np.char.decode(raw, "utf-8")
    elif raw.dtype.kind == "O":  # h5py returns variable-length strings as bytes objects
        raw = np.array([v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in raw])
    if raw.dtype.kind == "f":
        if not np.isfinite(raw).all():
            raise DataError(f"labels in {source} contain NaN or infinite values", "give every example a class label")
        if not np.equal(np.mod(raw, 1), 0).all():
            raise DataError(
                f"labels in {source} are continuous numbers, not classes",
                "store class labels (integers or strings) in y",
            )
        raw = raw.astype(np.int64)
    values, y = np.unique(raw, return_inverse=True)
    return y.astype(np.int64), tuple(str(v) for v in values)


def align_to_classes(data: LabeledData, class_names: tuple[str, ...]) -> LabeledData:
    """Re-index ``data.y`` so it uses ``class_names`` (the training classes).

    Everything else (the unfitted encoder of tables and text, the target's name)
    is kept: the core fits that encoder later, so dropping it loses the preprocessing.
    """
    position = {name: i for i, name in enumerate(class_names)}
    unknown = sorted(set(data.class_names) - set(position))
    if unknown:
        raise DataError(
            f"the test data ({data.source}) has classes the training data lacks: {', '.join(unknown[:5])}",
            "use test data with the same classes as the training data",
        )
    mapping = np.array([position[name] for name in data.class_names], dtype=np.int64)
    return replace(data, y=mapping[data.y], class_names=class_names)


def image_arrays(x: Any, y: Any, source: str, value_range: tuple[float, float] | None = None) -> LabeledData:
    """Validate image arrays shaped (N, H, W) or (N, H, W, C) and wrap them."""
    x = np.asarray(x)
    if len(x) == 0:
        raise DataError(f"{source} holds no images", "store at least a few images per class in x")
    if x.ndim == 3:
        x = x[..., np.newaxis]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise DataError(
            f"images in {source} have shape {x.shape}; "
            "expected (N, height, width) or (N, height, width, channels) with 1, 3 or 4 channels",
            "store x as a stack of images in channels-last order",
        )
    if x.dtype.kind not in "uif":
        raise DataError(
            f"images in {source} have dtype {x.dtype}, not numbers", "store pixel values as integers or floats"
        )
    if len(x) != len(np.asarray(y)):
        raise DataError(
            f"{source} has {len(x)} images but {len(np.asarray(y))} labels", "store exactly one label per image"
        )
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise DataError(f"images in {source} contain NaN or infinite values", "repair or drop those images")
    if value_range is None:
        value_range = _value_range(x)
    labels, class_names = encode_labels(np.asarray(y), source)
    spec = {
        "kind": "image",
        "shape": [int(d) for d in x.shape[1:]],
        "layout": "channels_last",
        "dtype": "float32",
        "value_range": [float(value_range[0]), float(value_range[1])],
        "color_mode": {1: "grayscale", 3: "rgb", 4: "rgba"}[x.shape[-1]],
    }
    return LabeledData(x, labels, class_names, spec, source)


def _value_range(x: np.ndarray) -> tuple[float, float]:
    """The documented input range: the dtype's range for integers, else the data's, widened to whole numbers."""
    if x.dtype == np.uint8:
        return 0.0, 255.0
    low, high = float(np.floor(min(0.0, x.min()))), float(np.ceil(x.max()))
    if high <= low:
        high = low + 1.0
    return low, high


def read_arrays(raw: Any, spec: dict[str, Any]) -> RawInputs:
    """Model-ready rows: an array, a ``.npy`` file, or an ``.npz`` file with ``x``, each row of the training shape."""
    if isinstance(raw, (str, Path)):
        raw = _stored_array(Path(raw))
    x = np.asarray(raw)
    shape = tuple(spec["shape"])
    if x.shape[1:] != shape or x.dtype.kind not in "uif":
        raise DataError(
            f"inputs of shape {x.shape[1:]} and dtype {x.dtype} do not match the model's numbers of shape {shape}",
            f"give an array of shape (N, {', '.join(map(str, shape))})",
        )
    return RawInputs(x.astype(np.float32), [str(i) for i in range(len(x))])


def _stored_array(path: Path) -> np.ndarray:
    """The array of a ``.npy`` file, or ``x`` of an ``.npz`` file."""
    if path.suffix.lower() not in (".npy", ".npz"):
        raise DataError(f"'{path}' is not a .npy or .npz file", "give an array, a .npy file or an .npz file with x")
    try:
        if path.suffix.lower() == ".npy":
            return np.load(path, allow_pickle=False)
        with np.load(path, allow_pickle=False) as stored:
            return np.asarray(stored["x"])
    except (OSError, KeyError, ValueError) as error:
        raise DataError(
            f"cannot read inputs from '{path}' ({error})", "give a .npy file, or an .npz file with an array named x"
        ) from error


def arrays_usage_code(spec: dict[str, Any]) -> list[str]:
    """Lines that load model-ready rows into ``x``."""
    shape = ", ".join(str(d) for d in spec["shape"])
    return [f'x = np.load("inputs.npy").astype("float32")  # shape (N, {shape}), as in preprocessing.json']


ARRAYS = InputKind(
    "arrays",
    "model-ready float arrays of the training shape",
    read=read_arrays,
    usage_code=arrays_usage_code,
)
