"""What every runtime shares (:mod:`.runtime`, :mod:`.onnx_runtime`): tensor names and types, runtime kinds, and
:class:`RunRuntime`, the run's own preprocessing and labels around a model.

In a module of their own so that :mod:`.onnx_runtime` uses them without importing
:mod:`.runtime`, which imports it to choose a runtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from ..predictor import Inputs, Preprocessor
from ..registry.runs import Run

SCORE_BATCH = 256  # rows per model call, as vautoml predict scores them (scoring.predict_scores)


class RuntimeKind(StrEnum):
    """What runs the model: Keras on torch (``model.keras``), or onnxruntime on ``model.onnx`` or its int8 twin."""

    KERAS = "keras"
    ONNX = "onnx"
    ONNX_INT8 = "onnx-int8"  # model.int8.onnx, which vautoml export --quantize int8 keeps only if it scores as well

    @property
    def model_file(self) -> str:
        """The run's file this runtime serves."""
        return {"keras": "model.keras", "onnx": "model.onnx", "onnx-int8": "model.int8.onnx"}[self.value]

    @property
    def uses_onnx(self) -> bool:
        return self is not RuntimeKind.KERAS

    @property
    def export_command(self) -> str:
        """The ``vautoml export`` arguments that write :attr:`model_file` (after the run id)."""
        return {"onnx": "--format onnx", "onnx-int8": "--format onnx --quantize int8 --data LABELLED"}.get(
            self.value, ""
        )


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


class RunRuntime:
    """The part of a runtime that is the run's, not the model's: its name, its preprocessing and its labels.

    Subclasses load the model and score with it; encoding and labelling stay
    the :class:`~vertical_automl.predictor.Preprocessor`'s, which is why every
    runtime answers what ``vautoml predict`` prints.
    """

    run: Run
    preprocessor: Preprocessor

    @property
    def name(self) -> str:
        """The model's name in URLs (``/v2/models/{name}``): the run id."""
        return self.run.run_id

    def encode(self, raw: Any) -> Inputs:
        return self.preprocessor.encode(raw)

    def labels(self, scores: np.ndarray) -> list[Any]:
        return self.preprocessor.labels(scores)
