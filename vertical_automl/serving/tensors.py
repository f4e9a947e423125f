"""What a served model's tensors are called and typed, shared by every runtime (:mod:`.runtime`, :mod:`.onnx_runtime`).

In a module of their own so that :mod:`.onnx_runtime` uses them without importing
:mod:`.runtime`, which imports it to choose a runtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

SCORE_BATCH = 256  # rows per model call, as vautoml predict scores them (scoring.predict_scores)


class RuntimeKind(StrEnum):
    """What runs the model: Keras on torch (``model.keras``) or onnxruntime (``model.onnx``)."""

    KERAS = "keras"
    ONNX = "onnx"


@dataclass(frozen=True)
class TensorSpec:
    """A model input or output as the V2 protocol describes it: a name, a datatype and a shape (-1: any size)."""

    name: str
    datatype: str  # V2 datatype: "FP32", "FP64", "INT32", "INT64", "BYTES"
    shape: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


def v2_datatype(dtype: np.dtype) -> str:
    """The V2 protocol's name for a numpy dtype of model inputs or outputs."""
    names = {"float32": "FP32", "float64": "FP64", "float16": "FP16", "int32": "INT32", "int64": "INT64"}
    name = names.get(np.dtype(dtype).name)
    if name is None:
        raise ValueError(f"no V2 datatype for numpy dtype {np.dtype(dtype).name}")
    return name
