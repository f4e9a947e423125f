"""``vautoml export RUN --format onnx --quantize int8 --data LABELLED``: a smaller ONNX model, kept if as good.

onnxruntime's quantization writes ``model.int8.onnx`` beside ``model.onnx``
(which is exported first if the run has none):

* graphs with convolutions (``Conv`` nodes, the vision models) are quantized
  **statically**: weights and activations int8 in QDQ form, the activation
  ranges calibrated on up to :data:`CALIBRATION_ROWS` rows of the labelled
  file, which is the run's own kind of data; the node making the output (a
  softmax) stays float, so probabilities still sum to one;
* other graphs **dynamically**: int8 weights for onnxruntime's default
  operators (``MatMul`` and ``Gemm``, ``Gather`` embeddings...), activations
  quantized on the fly, so no calibration is needed.

Both first go through onnxruntime's ``quant_pre_process`` (graph optimisation
and shape inference), which its documentation recommends before quantizing.

The two files are then measured the same way on the labelled rows, read
exactly as ``vautoml evaluate`` reads them: size, median latency of a
:data:`LATENCY_BATCH`-row batch on sessions opened as ``vautoml serve
--runtime onnx`` opens them, and the run's headline test metric (ROC-AUC,
accuracy or MAE, :func:`~vertical_automl.records.report.headline_metric`).
On vautoml's small models int8 often saves little time, or costs some
(quantize/dequantize steps weigh as much as the arithmetic they replace); the
figures are reported as measured.

The int8 file is kept only if the metric drops by at most ``tolerance``:
absolute for scores (0.01 is one point of accuracy or ROC-AUC), relative for
errors (0.01: MAE 1% higher), since an error has no fixed scale.  Everything
is written under temporary names beside the run and renamed in only once it
passes, then recorded in the manifest as ``onnx-int8`` (and ``onnx`` for an
fp32 export made on the way); a refused one leaves the run exactly as it was.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import StrEnum
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .data.dataset import LabeledData
from .errors import DataError, SearchError, UsageError
from .export import (
    FORMATS,
    ONNX_EXTRA,
    export_model,
    record_exports,
    remove_stale_temporaries,
    scratch_folder,
    temporary_file,
)
from .heads import direction_of
from .predictor import Preprocessor, read_labelled
from .records import ExportRecord, ModelFigures, QuantizationRecord
from .records.report import headline_metric
from .registry.runs import read_run
from .scoring import score_test_split, scores_from_output
from .serving.onnx_runtime import OnnxModel, members_of

if TYPE_CHECKING:  # pragma: no cover
    from .plugins import InstalledPlugins

QUANTIZE_FORMATS = ("int8",)
INT8_FILE = "model.int8.onnx"
INT8_EXPORT = "onnx-int8"  # its key in the manifest's exports
DEFAULT_TOLERANCE = 0.01
CALIBRATION_ROWS = 200  # enough for min/max ranges of small models; calibration runs each row through the graph
LATENCY_BATCH = 32
LATENCY_WARMUP, LATENCY_REPEATS = 5, 30


class Method(StrEnum):
    """How the weights and activations become int8 (see the module docstring for which graphs get which)."""

    STATIC = "static"
    DYNAMIC = "dynamic"


@dataclass(frozen=True)
class QuantizeResult:
    """What ``--quantize`` wrote and measured; ``record`` is also in the run's manifest."""

    path: Path
    record: QuantizationRecord
    preprocessed_bytes: int  # the fp32 graph after quant_pre_process alone: how much of the saving is not int8's
    exported_fp32: bool  # whether model.onnx was exported on the way


def check_options(
    fmt: str, quantize: str | None, data: Path | None, tolerance: float | None, output: Path | None
) -> tuple[Path, float]:
    """The labelled file and tolerance to quantize with, once ``export``'s flags are known to go together.

    Any other combination is refused in one line naming the fix.
    """
    if quantize is None:
        given = "--data" if data is not None else "--tolerance"
        raise UsageError(f"{given} is used only to quantize", f"add --quantize int8, or leave {given} out")
    if quantize not in QUANTIZE_FORMATS:
        raise UsageError(f"unknown --quantize '{quantize}'", f"use one of: {', '.join(QUANTIZE_FORMATS)}")
    if fmt != "onnx":
        raise UsageError(f"--quantize works on ONNX models, not --format {fmt}", "use --format onnx --quantize int8")
    if output is not None:
        raise UsageError(
            "--quantize writes model.int8.onnx into the run, not to --output",
            "leave --output out; the file is in the run folder",
        )
    if data is None:
        raise UsageError(
            "--quantize needs labelled data to calibrate on and to check the metric with",
            "add --data with a labelled file in the training data's format (as for vautoml evaluate)",
        )
    if not data.exists():
        raise UsageError(f"--data path '{data}' does not exist", "check the path")
    tolerance = DEFAULT_TOLERANCE if tolerance is None else tolerance
    if not math.isfinite(tolerance) or tolerance < 0:
        raise UsageError(
            f"--tolerance {tolerance} is not a number of 0 or more", "give e.g. --tolerance 0.01 (one point)"
        )
    return data, tolerance


def quantize_run(
    bundle: Path, data: Path, tolerance: float = DEFAULT_TOLERANCE, plugins: InstalledPlugins | None = None
) -> QuantizeResult:
    """Write the run's ``model.int8.onnx`` if its metric on ``data`` drops at most ``tolerance``.

    Otherwise refuse (a :class:`UsageError`), leaving the run as it was.
    """
    from .plugins import get_plugins

    _check_installed()
    run = read_run(bundle)
    plugins = plugins or get_plugins()
    preprocessor = Preprocessor(run, plugins)
    labelled = read_labelled(preprocessor, data, plugins)  # bad data is refused before any export or quantization
    x = preprocessor.encoded(labelled.x)
    if len(x) == 0:
        raise DataError(f"{labelled.source} has no labelled rows to measure the int8 model on", "give a file with rows")
    scratch = scratch_folder(bundle)
    remove_stale_temporaries(scratch, bundle)
    temporaries = [temporary_file(scratch, "model.pre.onnx"), temporary_file(scratch, INT8_FILE)]
    pre, int8_path = temporaries
    try:
        fp32_path, fresh = bundle / FORMATS["onnx"], None
        if not fp32_path.is_file():  # exported aside, and renamed in with the int8 file only if that is kept
            fresh = export_model(bundle, "onnx", temporary_file(scratch, FORMATS["onnx"]), plugins)
            fp32_path = fresh.path
            temporaries.append(fp32_path)
        fp32 = OnnxModel(fp32_path)
        record = fresh.record if fresh is not None else run.manifest.exports.get("onnx")
        members = members_of(record, run.run_id, preprocessor.task, fp32.output)
        method = Method.STATIC if _has_convolutions(fp32_path) else Method.DYNAMIC
        calibration = x[:CALIBRATION_ROWS] if method is Method.STATIC else x[:0]
        _quantize(fp32_path, pre, int8_path, method, fp32.input.name, calibration)
        int8 = OnnxModel(int8_path)
        result, difference = _measure(
            preprocessor, labelled, x, (fp32, int8), members, method, len(calibration), tolerance
        )
        if result.drop > tolerance:
            raise _refusal(run.run_id, result)
        preprocessed = pre.stat().st_size
        os.replace(int8_path, bundle / INT8_FILE)
        exports = {}
        if fresh is not None:
            os.replace(fresh.path, bundle / FORMATS["onnx"])
            exports["onnx"] = replace(fresh.record, file=FORMATS["onnx"])
        exports[INT8_EXPORT] = ExportRecord(
            file=INT8_FILE,
            max_abs_difference=difference,  # from the fp32 export's output, on the labelled rows
            inputs_checked=len(x),
            libraries={"python": platform.python_version(), **{lib: version(lib) for lib in ("onnx", "onnxruntime")}},
            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            members=members,
            quantization=result,
        )
        record_exports(bundle, exports)
    finally:
        for path in temporaries:
            path.unlink(missing_ok=True)
    return QuantizeResult(bundle / INT8_FILE, result, preprocessed, fresh is not None)


def _measure(
    preprocessor: Preprocessor,
    labelled: LabeledData,
    x: np.ndarray,
    models: tuple[OnnxModel, OnnxModel],
    members: bool,
    method: Method,
    calibration_rows: int,
    tolerance: float,
) -> tuple[QuantizationRecord, float]:
    """The fp32 and int8 models' figures on the labelled rows, and the largest difference of their outputs."""
    fp32, int8 = models
    raw_fp32, raw_int8 = fp32.outputs(x), int8.outputs(x)

    def metric(raw: np.ndarray) -> float:
        scores = scores_from_output(raw, preprocessor.task, members)
        return _metric(preprocessor, labelled.y, scores, labelled.source)

    name = headline_metric(preprocessor.task, {})[0]
    direction = direction_of(name.lower())
    before, after = metric(raw_fp32), metric(raw_int8)
    record = QuantizationRecord(
        method=str(method),
        data=labelled.source,
        rows=len(x),
        calibration_rows=calibration_rows,
        metric=name,
        metric_direction=direction,
        drop=metric_drop(before, after, direction),
        tolerance=tolerance,
        batch=LATENCY_BATCH,
        fp32=ModelFigures(fp32.path.stat().st_size, _latency(fp32, x), before),
        int8=ModelFigures(int8.path.stat().st_size, _latency(int8, x), after),
    )
    return record, float(np.max(np.abs(raw_int8 - raw_fp32)))


def _refusal(run_id: str, record: QuantizationRecord) -> UsageError:
    """The one line refusing an int8 model that lost more than the tolerance."""
    kind = "relative rise" if record.metric_direction == "min" else "drop"
    return UsageError(
        f"int8 quantization of run {run_id} was refused: its {record.metric} on {record.data} is "
        f"{record.int8.metric:.4f} against {record.fp32.metric:.4f} in fp32, a {kind} of {record.drop:.4f}, "
        f"more than --tolerance {record.tolerance:g}; nothing was written",
        "keep serving the fp32 model.onnx, or accept a larger loss with e.g. --tolerance 0.05",
    )


def metric_drop(before: float, after: float, direction: str) -> float:
    """How much worse ``after`` is: absolute for a score (``max``), relative for an error (``min``; absolute from 0).

    Negative when the int8 model does better.
    """
    if direction == "max":
        return before - after
    return (after - before) / abs(before) if before != 0 else after - before


def summary(result: QuantizeResult) -> str:
    """The before/after table ``vautoml export --quantize`` prints."""
    record = result.record
    fp32, int8 = record.fp32, record.int8
    calibrated = f", calibrated on {record.calibration_rows} rows" if record.method == Method.STATIC else ""
    kind = "relative rise" if record.metric_direction == "min" else "drop"
    rows = [
        ("", "fp32", "int8"),
        ("file size (bytes)", f"{fp32.bytes:,}", f"{int8.bytes:,}"),
        (f"latency (ms per {record.batch} rows)", f"{fp32.latency_ms:.3f}", f"{int8.latency_ms:.3f}"),
        (f"{record.metric} ({record.rows} rows)", f"{fp32.metric:.4f}", f"{int8.metric:.4f}"),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    table = "\n".join(f"  {a:<{widths[0]}}  {b:>{widths[1]}}  {c:>{widths[2]}}" for a, b, c in rows)
    return (
        f"wrote {result.path} ({record.method} int8 quantization{calibrated}"
        f"{'; model.onnx exported first' if result.exported_fp32 else ''})\n{table}\n"
        f"  {record.metric} {kind} {record.drop:.4f}, within --tolerance {record.tolerance:g}; "
        f"graph pre-processing alone took the fp32 file to {result.preprocessed_bytes:,} bytes"
    )


def _check_installed() -> None:
    """One line naming the missing packages, before any work."""
    try:
        import onnx  # noqa: F401 - quantization reads and writes the graph with it
        import onnxruntime.quantization  # noqa: F401
    except ImportError as error:
        raise UsageError(f"int8 quantization needs onnx and onnxruntime ({error})", ONNX_EXTRA) from error


def _has_convolutions(path: Path) -> bool:
    """Whether the ONNX graph (or a function it calls) has ``Conv`` nodes: what static quantization pays off for."""
    import onnx

    model = onnx.load(str(path))
    nodes = [*model.graph.node, *(node for function in model.functions for node in function.node)]
    return any(node.op_type == "Conv" for node in nodes)


def _quantize(source: Path, pre: Path, target: Path, method: Method, input_name: str, rows: np.ndarray) -> None:
    """Pre-process ``source`` into ``pre``, then quantize it into ``target`` by ``method``; a failure is one line."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(source), str(pre))
        if method is Method.STATIC:
            quantize_static(
                str(pre),
                str(target),
                _calibration_reader(input_name, rows),
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
                nodes_to_exclude=_output_nodes(pre),
            )
        else:
            quantize_dynamic(str(pre), str(target), weight_type=QuantType.QInt8)
    except Exception as error:
        first_line = (str(error).strip().splitlines() or [""])[0]
        raise SearchError(
            f"{method} int8 quantization of '{source}' failed ({type(error).__name__}: {first_line}); "
            "nothing was written",
            "report this as a bug with --debug output",
        ) from error


def _output_nodes(path: Path) -> list[str]:
    """The nodes that make the graph's outputs, left in float by static quantization.

    Quantized, a softmax's probabilities come out in steps of 1/255 and no
    longer sum to one; the last node is a small share of the arithmetic, so
    keeping it in float costs little speed for scores that stay probabilities.
    """
    import onnx

    graph = onnx.load(str(path)).graph
    outputs = {output.name for output in graph.output}
    return [node.name for node in graph.node if outputs & set(node.output)]


def _calibration_reader(input_name: str, rows: np.ndarray) -> Any:
    """onnxruntime's ``CalibrationDataReader`` over ``rows``, in batches of :data:`LATENCY_BATCH`."""
    from onnxruntime.quantization import CalibrationDataReader

    class Rows(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches: Iterator[dict[str, np.ndarray]] = iter(
                {input_name: rows[i : i + LATENCY_BATCH]} for i in range(0, len(rows), LATENCY_BATCH)
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._batches, None)

    return Rows()


def _metric(preprocessor: Preprocessor, y: np.ndarray, scores: np.ndarray, data: str) -> float:
    """The run's headline test metric on the labelled rows; refused when those rows cannot give it."""
    task = preprocessor.task
    metrics = score_test_split(task, y, scores, tuple(preprocessor.class_names), preprocessor.threshold())
    name, value = headline_metric(task, metrics)
    if value is None or not math.isfinite(value):
        raise DataError(
            f"the {name} of run {preprocessor.run.run_id} cannot be measured on the rows of {data}",
            "give labelled data with rows of every class",
        )
    return float(value)


def _latency(model: OnnxModel, x: np.ndarray) -> float:
    """Median milliseconds of one :data:`LATENCY_BATCH`-row batch (rows of ``x`` repeated as needed), after warm-up."""
    batch = np.take(x, np.arange(LATENCY_BATCH) % len(x), axis=0)
    for _ in range(LATENCY_WARMUP):
        model.outputs(batch)
    times = []
    for _ in range(LATENCY_REPEATS):
        start = time.perf_counter()
        model.outputs(batch)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)
