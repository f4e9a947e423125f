"""A run's model as the server calls it: raw inputs encoded, encoded rows scored, scores read as labels.

The server holds one :class:`ModelRuntime` per run and calls it from a single
inference thread (see :mod:`.batching`), so implementations need not be
thread-safe.  Encoding and labelling are the run's own
(:class:`~vertical_automl.predictor.Preprocessor`), so every runtime answers
exactly what ``vautoml predict`` prints; only :meth:`ModelRuntime.scores`
differs between Keras and ONNX.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..predictor import Inputs, Preprocessor
from ..registry.runs import Run
from .tensors import SCORE_BATCH, RunRuntime, RuntimeKind, TensorSpec, v2_datatype

if TYPE_CHECKING:  # pragma: no cover
    from ..plugins import InstalledPlugins


class ModelRuntime(Protocol):
    """One served run: its name, its tensors, and the three steps of a prediction."""

    run: Run
    preprocessor: Preprocessor
    kind: RuntimeKind

    @property
    def name(self) -> str:
        """The model's name in URLs (``/v2/models/{name}``): the run id."""
        ...

    @property
    def platform(self) -> str:
        """The V2 ``platform`` of the model metadata, e.g. ``"keras_torch"`` or ``"onnxruntime_onnx"``."""
        ...

    @property
    def input(self) -> TensorSpec:
        """The model-ready input tensor (encoded rows), batch dimension -1."""
        ...

    def encode(self, raw: Any) -> Inputs:
        """Raw inputs through the run's preprocessing (what :meth:`Preprocessor.encode` takes)."""
        ...

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Encoded rows as class probabilities (N, classes), or values (N,) for regression."""
        ...

    def labels(self, scores: np.ndarray) -> list[Any]:
        """Scores as labels at the run's decision threshold, or values for regression."""
        ...


class KerasRuntime(RunRuntime):
    """A run's ``model.keras`` on Keras with the torch backend: what ``vautoml predict`` uses."""

    kind = RuntimeKind.KERAS
    platform = "keras_torch"

    def __init__(self, run: Run, plugins: InstalledPlugins | None = None) -> None:
        from ..heads import has_members
        from ..predictor import load_model

        self.run = run
        self.preprocessor = Preprocessor(run, plugins)
        self.model = load_model(run.path)
        self._members = has_members(self.model)
        tensor = self.model.inputs[0]
        self.input = TensorSpec(tensor.name, v2_datatype(np.dtype(tensor.dtype)), (-1, *tensor.shape[1:]))

    def scores(self, x: np.ndarray) -> np.ndarray:
        from ..scoring import scores_from_output

        outputs = [
            np.asarray(self.model.predict_on_batch(x[i : i + SCORE_BATCH])) for i in range(0, len(x), SCORE_BATCH)
        ]
        return scores_from_output(np.concatenate(outputs), self.preprocessor.task, self._members)


def load_runtime(run: Run, kind: RuntimeKind, plugins: InstalledPlugins | None = None) -> ModelRuntime:
    """The runtime of ``kind`` for ``run``; ONNX needs the run's ``model.onnx`` or ``model.int8.onnx`` (``vautoml
    export``), refused in one line naming the command where it has none."""
    if kind.uses_onnx:
        from .onnx_runtime import OnnxRuntime

        return OnnxRuntime(run, plugins, kind=kind)
    return KerasRuntime(run, plugins)
