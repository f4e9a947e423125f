"""A run's ``model.onnx`` on onnxruntime alone: ``vautoml serve --runtime onnx``, with neither Keras nor torch.

Encoding and labels are the run's :class:`~vertical_automl.predictor.Preprocessor`,
as for :class:`~.runtime.KerasRuntime`, so only the model call differs and the
scores agree with Keras's to float32 rounding (``vautoml export`` checked the
file against Keras when it wrote it).

Ensembles: a model whose output has one column per ensemble member is averaged
by :func:`~vertical_automl.scoring.scores_from_output`, and Keras finds that out
from the last layer's name (:func:`~vertical_automl.heads.has_members`).  The
ONNX exporter names the output ``output`` whatever the layer was called, and
its node names are the exporter's own, so the graph cannot be trusted to say
it.  ``vautoml export`` therefore records it in the manifest's export entry
(:attr:`~vertical_automl.records.ExportRecord.members`), where the Keras model
it was read from is at hand.  Exports written before that have no entry; for
them the flag is derived from the output width where it cannot change the
scores, and the one ambiguous case (two columns of a binary model: a softmax
pair, or two members) is refused with the command that re-exports.

Threads: one intra-op thread by default (``VAUTOML_ONNX_THREADS`` sets more).
The server scores one batch at a time from a single inference thread, and on
the two-core machines it is sized for the other core runs the event loop that
parses requests; vautoml's models are small, so a batch split over threads
spends more on waking them than it saves, and onnxruntime's default pool
(one thread per core, spinning between calls) would take the core the
server needs.  Spinning is off for the same reason when more threads are asked for.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import UsageError
from ..predictor import Preprocessor
from ..records import ExportRecord
from ..registry.runs import Run
from ..scoring import scores_from_output
from .tensors import SCORE_BATCH, RunRuntime, RuntimeKind, TensorSpec, v2_datatype

if TYPE_CHECKING:  # pragma: no cover
    import onnxruntime

    from ..plugins import InstalledPlugins

THREADS_VARIABLE = "VAUTOML_ONNX_THREADS"
DEFAULT_THREADS = 1
# onnxruntime's tensor type names, as InferenceSession reports inputs and outputs.
NUMPY_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int32)": np.int32}
NUMPY_TYPES |= {"tensor(int64)": np.int64, "tensor(float16)": np.float16}


def session_threads() -> int:
    """Intra-op threads for onnxruntime sessions: ``VAUTOML_ONNX_THREADS``, else one (see the module docstring)."""
    value = os.environ.get(THREADS_VARIABLE, "").strip()
    if not value:
        return DEFAULT_THREADS
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f"{THREADS_VARIABLE}='{value}' is not a positive whole number", "unset it or set e.g. 2")
    return int(value)


def open_session(path: Path, threads: int | None = None) -> onnxruntime.InferenceSession:
    """An onnxruntime CPU session on ``path`` with vautoml's thread settings; an unloadable file is refused in one line.

    Everything that times or serves an ONNX file opens it here, so figures
    measured by ``vautoml export --quantize`` are those the server gets.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or session_threads()
    options.inter_op_num_threads = 1  # one model call at a time: no parallel branches to run
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only: its warnings about unused initializers are not the user's business
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own Fail/InvalidProtobuf types for damaged files
        first_line = (str(error).strip().splitlines() or [""])[0]
        raise UsageError(
            f"the ONNX file '{path}' cannot be loaded ({type(error).__name__}: {first_line})",
            "export it again with vautoml export RUN --format onnx",
        ) from error


def tensor_spec(node: Any) -> TensorSpec:
    """An onnxruntime input or output (``NodeArg``) as a V2 tensor; named dimensions (the batch) become -1."""
    dtype = NUMPY_TYPES.get(node.type)
    if dtype is None:
        raise UsageError(f"the ONNX model's tensor '{node.name}' has type {node.type}, which vautoml does not serve")
    return TensorSpec(
        node.name, v2_datatype(np.dtype(dtype)), tuple(d if isinstance(d, int) else -1 for d in node.shape)
    )


def members_of(record: ExportRecord | None, run_id: str, task: str, output: TensorSpec) -> bool:
    """Whether a run's ONNX output columns are ensemble members to average (see the module docstring).

    The export's manifest entry (``record``) says so; for an export that
    predates it, the output width decides where the answer cannot change the
    scores (:func:`~vertical_automl.scoring.scores_from_output` averages
    regression columns and keeps multiclass ones either way), and more than two
    columns of a binary model can only be members.
    """
    if record is not None and record.members is not None:
        return record.members
    width = output.shape[-1] if len(output.shape) == 2 else -1
    if task != "binary" or width == 1:
        return False
    if width > 2:
        return True
    raise UsageError(
        f"the ONNX export of run {run_id} predates vautoml recording whether its "
        f"{width if width > 0 else 'varying number of'} output columns are ensemble members or class probabilities",
        f"export it again: vautoml export {run_id} --format onnx",
    )


class OnnxModel:
    """An ONNX file with one input and one output on an onnxruntime session: encoded rows in, raw output out."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        self.path = path
        self.session = open_session(path, threads)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise UsageError(
                f"the ONNX model '{path}' has {len(inputs)} inputs and {len(outputs)} outputs, not one of each",
                "export it again with vautoml export RUN --format onnx",
            )
        self.input, self.output = tensor_spec(inputs[0]), tensor_spec(outputs[0])
        self._dtype = NUMPY_TYPES[inputs[0].type]

    def outputs(self, x: np.ndarray) -> np.ndarray:
        """The model's raw output for encoded rows, in batches of :data:`SCORE_BATCH` as Keras scores them."""
        x = np.asarray(x, dtype=self._dtype)
        batches = [
            self.session.run(None, {self.input.name: x[i : i + SCORE_BATCH]})[0] for i in range(0, len(x), SCORE_BATCH)
        ]
        return np.concatenate(batches) if batches else np.empty((0, *self.output.shape[1:]), dtype=np.float32)


class OnnxRuntime(RunRuntime):
    """A run's ``model.onnx`` (or ``model.int8.onnx``) on onnxruntime (CPU): the same encoding, scores and labels
    as :class:`KerasRuntime`.  The int8 file has the fp32 file's output, so the ``onnx`` export's record says for
    both whether its columns are ensemble members.
    """

    platform = "onnxruntime_onnx"

    def __init__(
        self,
        run: Run,
        plugins: InstalledPlugins | None = None,
        threads: int | None = None,
        kind: RuntimeKind = RuntimeKind.ONNX,
    ) -> None:
        path = run.path / kind.model_file
        if not path.is_file():
            export = "ONNX" if kind is RuntimeKind.ONNX else "int8 ONNX"
            raise UsageError(
                f"run {run.run_id} has no {export} export ({kind.model_file})",
                f"vautoml export {run.run_id} {kind.export_command}",
            )
        self.kind = kind
        self.run = run
        self.preprocessor = Preprocessor(run, plugins)
        self.model = OnnxModel(path, threads)
        self.input = self.model.input
        task = self.preprocessor.task
        self._members = members_of(run.manifest.exports.get("onnx"), run.run_id, task, self.model.output)

    def scores(self, x: np.ndarray) -> np.ndarray:
        return scores_from_output(self.model.outputs(x), self.preprocessor.task, self._members)
