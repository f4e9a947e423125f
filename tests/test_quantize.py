"""``vautoml export --format onnx --quantize int8``: dynamic for tables, static for convolutions, refused on a loss.

Golden bundles are copied first (the repository's are never changed): the
binary table one has no model.onnx, so quantizing it exports fp32 first; the
image one is exported once for the module.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

import vertical_automl.quantize as quantize
from vertical_automl.cli import main
from vertical_automl.errors import UsageError
from vertical_automl.predictor import Preprocessor, evaluate
from vertical_automl.quantize import metric_drop, quantize_run
from vertical_automl.registry.runs import read_run
from vertical_automl.serving.onnx_runtime import OnnxModel
from vertical_automl.serving.runtime import RuntimeKind, load_runtime

GOLDEN = Path(__file__).parent / "golden"
INPUTS = GOLDEN / "inputs"


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The table bundle as it is (no model.onnx) and the image bundle exported to ONNX, in a scratch registry."""
    from vertical_automl.export import export_model

    root = tmp_path_factory.mktemp("quantize-golden")
    shutil.copytree(GOLDEN / "registry" / "medical" / "golden-table-binary", root / "golden-table-binary")
    shutil.copytree(GOLDEN / "registry" / "vision" / "golden-image", root / "golden-image")
    export_model(root / "golden-image", "onnx")
    return root


@pytest.fixture
def registry(golden: Path, tmp_path: Path) -> Path:
    """A registry of this test's own copies of the two bundles."""
    root = tmp_path / "registry"
    shutil.copytree(golden / "golden-table-binary", root / "medical" / "golden-table-binary")
    shutil.copytree(golden / "golden-image", root / "vision" / "golden-image")
    return root


def files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (the run and its scratch neighbours), with its bytes."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def export(registry: Path, *args: str):
    return CliRunner().invoke(main, ["export", *args, "--registry", str(registry)])


def test_a_table_model_is_quantized_dynamically_after_its_fp32_export_and_recorded(registry):
    run = registry / "medical" / "golden-table-binary"
    done = export(
        registry, "golden-table-binary", "--format", "onnx", "--quantize", "int8", "--data", str(INPUTS / "loans.csv")
    )
    assert done.exit_code == 0, done.output
    assert "dynamic int8 quantization; model.onnx exported first" in done.stdout
    assert {"file size (bytes)", "latency (ms per 32 rows)", "ROC-AUC (40 rows)"} <= {
        line.strip().rsplit("  ", 2)[0].strip() for line in done.stdout.splitlines()
    }
    exports = json.loads((run / "manifest.json").read_text())["exports"]
    assert exports["onnx"]["file"] == "model.onnx" and exports["onnx"]["members"] is False
    int8 = exports["onnx-int8"]
    figures = int8["quantization"]
    assert int8["file"] == "model.int8.onnx" and (run / "model.int8.onnx").is_file()
    assert "model.int8.onnx" in json.loads((run / "manifest.json").read_text())["files"]
    assert figures["method"] == "dynamic" and figures["calibration_rows"] == 0 and figures["rows"] == 40
    assert figures["fp32"]["bytes"] == (run / "model.onnx").stat().st_size
    assert figures["int8"]["bytes"] == (run / "model.int8.onnx").stat().st_size < figures["fp32"]["bytes"]
    assert figures["fp32"]["latency_ms"] > 0 and figures["int8"]["latency_ms"] > 0
    # The fp32 metric is vautoml evaluate's on the same file: the rows are read and encoded as it reads them.
    roc_auc = evaluate(run, INPUTS / "loans.csv")["test_metrics"]["binary"]["roc_auc"]
    assert figures["metric"] == "ROC-AUC" and figures["fp32"]["metric"] == pytest.approx(roc_auc, abs=1e-6)
    assert figures["drop"] == pytest.approx(figures["fp32"]["metric"] - figures["int8"]["metric"])
    assert figures["drop"] <= figures["tolerance"] == 0.01
    ops = {node.op_type for node in onnx.load(str(run / "model.int8.onnx")).graph.node}
    assert {"DynamicQuantizeLinear", "MatMulInteger"} <= ops  # int8 weights, activations quantized on the fly
    # vautoml serve --runtime onnx-int8 serves it: the same encoding and labels, scores near the fp32 file's.
    fp32, int8 = (load_runtime(read_run(run), kind) for kind in (RuntimeKind.ONNX, RuntimeKind.ONNX_INT8))
    x = int8.encode(INPUTS / "loans.csv").x
    assert int8.kind is RuntimeKind.ONNX_INT8 and int8.model.path.name == "model.int8.onnx"
    assert np.abs(int8.scores(x) - fp32.scores(x)).max() < 0.05 and len(int8.labels(int8.scores(x))) == 40


def test_serving_int8_without_the_quantized_file_names_the_command_that_writes_it(registry):
    with pytest.raises(UsageError, match="no int8 ONNX export .*--quantize int8 --data LABELLED"):
        load_runtime(read_run(registry / "vision" / "golden-image"), RuntimeKind.ONNX_INT8)


def test_an_image_model_with_convolutions_is_quantized_statically_on_its_own_rows(registry):
    run = registry / "vision" / "golden-image"
    result = quantize_run(run, INPUTS / "digits.npz", tolerance=0.05)
    record = result.record
    assert record.method == "static" and record.calibration_rows == record.rows == 20
    nodes = onnx.load(str(run / "model.int8.onnx")).graph.node
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= {node.op_type for node in nodes}  # QDQ around the Conv
    assert record.int8.bytes < record.fp32.bytes and record.metric == "accuracy"
    assert record.drop <= 0.05 and not result.exported_fp32
    pixels = Preprocessor(read_run(run)).encode(INPUTS / "digits.npz").x[:4]
    scores = OnnxModel(run / "model.int8.onnx").outputs(pixels)
    assert scores.shape == (4, 10) and np.allclose(scores.sum(axis=1), 1, atol=1e-3)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["exports"]["onnx-int8"]["quantization"]["int8"]["bytes"] == record.int8.bytes


def flipped(real):
    """``quantize._quantize`` whose int8 model outputs 1 - p: a sure, deterministic loss of ROC-AUC."""

    def quantize_and_flip(source, pre, target, *args):
        real(source, pre, target, *args)
        model = onnx.load(str(target))
        output = model.graph.output[0].name
        for node in model.graph.node:
            node.output[:] = [f"{output}_kept" if name == output else name for name in node.output]
        model.graph.initializer.append(onnx.numpy_helper.from_array(np.array(1, dtype=np.float32), "one"))
        model.graph.node.append(onnx.helper.make_node("Sub", ["one", f"{output}_kept"], [output]))
        onnx.save(model, str(target))

    return quantize_and_flip


def test_a_metric_drop_beyond_the_tolerance_is_refused_and_nothing_is_written(registry, monkeypatch):
    monkeypatch.setattr(quantize, "_quantize", flipped(quantize._quantize))
    before = files(registry)
    done = export(
        registry, "golden-table-binary", "--format", "onnx", "--quantize", "int8", "--data", str(INPUTS / "loans.csv"),
        "--tolerance", "0",
    )  # fmt: skip
    assert done.exit_code == 2, done.output
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: int8 quantization of run golden-table-binary was refused")
    assert "ROC-AUC" in lines[0] and "nothing was written" in lines[0] and "Fix: " in lines[0]
    assert files(registry) == before  # not even the fp32 model.onnx exported on the way, nor a temporary


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--quantize", "int8"], "--quantize needs labelled data"),
        (["--format", "weights", "--quantize", "int8", "--data", "{loans}"], "not --format weights"),
        (["--quantize", "int4", "--data", "{loans}"], "unknown --quantize 'int4'"),
        (["--data", "{loans}"], "--data is used only to quantize"),
        (["--tolerance", "0.1"], "--tolerance is used only to quantize"),
        (["--quantize", "int8", "--data", "{loans}", "--tolerance", "-1"], "--tolerance -1.0 is not a number of 0"),
        (["--quantize", "int8", "--data", "{loans}", "--output", "{loans}.onnx"], "not to --output"),
        (["--quantize", "int8", "--data", "missing.csv"], "--data path 'missing.csv' does not exist"),
        (["--quantize", "int8", "--data", "{loans}", "--tolerance", "lots"], "'lots' is not a valid float"),
    ],
)
def test_flags_that_do_not_go_together_are_refused_in_one_line(registry, args, message):
    before = files(registry)
    args = [arg.format(loans=INPUTS / "loans.csv") for arg in args]
    done = export(registry, "golden-table-binary", *(args if "--format" in args else ["--format", "onnx", *args]))
    assert done.exit_code == 2, done.output
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0] and "Fix: " in lines[0]
    assert files(registry) == before


def test_a_drop_is_absolute_for_scores_and_relative_for_errors():
    assert metric_drop(0.80, 0.79, "max") == pytest.approx(0.01)  # one point of accuracy or ROC-AUC
    assert metric_drop(0.80, 0.81, "max") == pytest.approx(-0.01)  # better: a negative drop
    assert metric_drop(200.0, 202.0, "min") == pytest.approx(0.01)  # MAE 1% higher
    assert metric_drop(0.0, 0.5, "min") == pytest.approx(0.5)  # from a perfect 0, absolute
