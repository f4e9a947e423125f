"""``--runtime onnx``: a run's model.onnx on onnxruntime alone scores as the Keras runtime does, without Keras or torch.

The golden bundles (tests/golden) are copied and exported once for the module;
the table, text and image bundles cover the three kinds of inputs (float
rows, int32 token ids, 4-D pixels) and both multiclass and binary outputs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from vertical_automl.errors import UsageError
from vertical_automl.records import ExportRecord
from vertical_automl.registry.runs import read_run
from vertical_automl.serving.onnx_runtime import OnnxRuntime, members_of, session_threads
from vertical_automl.serving.runtime import KerasRuntime, RuntimeKind, TensorSpec, load_runtime

GOLDEN = Path(__file__).parent / "golden"
INPUTS = GOLDEN / "inputs"
BUNDLES = {
    "golden-table-binary": ("medical", "loans.csv"),
    "golden-text": ("text", "tickets.csv"),
    "golden-image": ("vision", "digits.npz"),
}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of three golden bundles, each exported to ONNX (the repository's bundles are never changed)."""
    from vertical_automl.export import export_model

    root = tmp_path_factory.mktemp("onnx-golden") / "registry"
    for run, (vertical, _) in BUNDLES.items():
        shutil.copytree(GOLDEN / "registry" / vertical / run, root / vertical / run)
        export_model(root / vertical / run, "onnx")
    shutil.copytree(GOLDEN / "registry" / "finance" / "golden-table-regression", root / "finance" / "unexported")
    return root


def bundle(registry: Path, run: str) -> Path:
    return registry / BUNDLES[run][0] / run


@pytest.mark.parametrize("run", BUNDLES)
def test_onnx_scores_and_labels_equal_the_keras_runtimes(registry, run):
    keras_runtime = KerasRuntime(read_run(bundle(registry, run)))
    onnx_runtime = load_runtime(read_run(bundle(registry, run)), RuntimeKind.ONNX)
    assert isinstance(onnx_runtime, OnnxRuntime) and onnx_runtime.platform == "onnxruntime_onnx"
    inputs = onnx_runtime.encode(INPUTS / BUNDLES[run][1])
    expected, got = keras_runtime.scores(inputs.x), onnx_runtime.scores(inputs.x)
    assert got.shape == expected.shape and len(got) == len(inputs.names) > 1
    assert expected.std(axis=0).max() > 1e-3  # scores that vary: agreeing means something
    assert np.max(np.abs(got - expected)) < 1e-5
    assert onnx_runtime.labels(got) == keras_runtime.labels(expected)
    assert onnx_runtime.input == keras_runtime.input  # same name, V2 datatype and shape (batch -1)


def test_onnx_runtime_imports_neither_keras_nor_torch(registry):
    script = textwrap.dedent(
        f"""
        import json, sys
        from pathlib import Path
        from vertical_automl.registry.runs import read_run
        from vertical_automl.serving.runtime import RuntimeKind, load_runtime
        scored = {{}}
        for run, data in {[(str(bundle(registry, run)), str(INPUTS / data)) for run, (_, data) in BUNDLES.items()]!r}:
            runtime = load_runtime(read_run(Path(run)), RuntimeKind.ONNX)
            scored[run] = runtime.labels(runtime.scores(runtime.encode(data).x))[:3]
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("keras", "torch", "tensorflow"))
        print(json.dumps({{"heavy": heavy, "scored": scored}}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env={**os.environ}, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["heavy"] == []
    assert len(result["scored"]) == len(BUNDLES) and all(len(labels) == 3 for labels in result["scored"].values())


def test_a_run_without_model_onnx_is_refused_with_the_export_command(registry):
    with pytest.raises(UsageError) as refused:
        OnnxRuntime(read_run(registry / "finance" / "unexported"))
    assert str(refused.value) == (
        "run golden-table-regression has no ONNX export (model.onnx). "
        "Fix: vautoml export golden-table-regression --format onnx"
    )


def test_a_damaged_model_onnx_is_refused_in_one_line(registry, tmp_path):
    copy = tmp_path / "damaged"
    shutil.copytree(bundle(registry, "golden-table-binary"), copy)
    (copy / "model.onnx").write_bytes((copy / "model.onnx").read_bytes()[:1000])
    with pytest.raises(UsageError, match="cannot be loaded") as refused:
        OnnxRuntime(read_run(copy))
    assert "\n" not in str(refused.value) and "vautoml export" in str(refused.value)


def test_the_export_records_whether_outputs_are_members_and_an_older_record_still_serves(registry, tmp_path):
    exported = bundle(registry, "golden-table-binary")
    assert json.loads((exported / "manifest.json").read_text())["exports"]["onnx"]["members"] is False
    older = tmp_path / "older"
    shutil.copytree(exported, older)
    manifest = json.loads((older / "manifest.json").read_text())
    del manifest["exports"]["onnx"]["members"]  # as vautoml wrote it before recording the fact
    (older / "manifest.json").write_text(json.dumps(manifest))
    runtime = OnnxRuntime(read_run(older))  # one sigmoid column: members or not, the scores are the same
    x = runtime.encode(INPUTS / "loans.csv").x
    assert np.array_equal(runtime.scores(x), OnnxRuntime(read_run(exported)).scores(x))


def test_an_ensemble_head_with_one_column_per_member_is_averaged_as_keras_averages_it(registry, tmp_path):
    import keras

    from vertical_automl.export import export_model

    ensemble = tmp_path / "ensemble"
    shutil.copytree(GOLDEN / "registry" / "medical" / "golden-table-binary", ensemble)
    features = keras.Input(shape=(8,), name="features")
    columns = keras.layers.Dense(3, kernel_initializer=keras.initializers.RandomNormal(seed=1))(features)
    outputs = keras.layers.Activation("sigmoid", name="output_members")(columns)  # heads.member_output's last layer
    keras.Model(features, outputs).save(ensemble / "model.keras")
    export_model(ensemble, "onnx")
    assert json.loads((ensemble / "manifest.json").read_text())["exports"]["onnx"]["members"] is True
    keras_runtime, onnx_runtime = KerasRuntime(read_run(ensemble)), OnnxRuntime(read_run(ensemble))
    x = onnx_runtime.encode(INPUTS / "loans.csv").x
    expected, got = keras_runtime.scores(x), onnx_runtime.scores(x)
    assert got.shape == (len(x), 2) and np.max(np.abs(got - expected)) < 1e-5
    assert onnx_runtime.labels(got) == keras_runtime.labels(expected)


def record(members: bool | None) -> ExportRecord:
    return ExportRecord("model.onnx", 0.0, 16, {}, "", members=members)


@pytest.mark.parametrize(
    ("members", "task", "width", "expected"),
    [
        (True, "binary", 2, True),  # recorded: believed, whatever the width
        (False, "binary", 2, False),
        (None, "binary", 1, False),  # older records: only where the answer is certain or cannot matter
        (None, "binary", 5, True),
        (None, "regression", 3, False),
        (None, "multiclass", 2, False),
    ],
)
def test_members_come_from_the_record_or_from_an_output_width_that_settles_it(members, task, width, expected):
    assert members_of(record(members), "r", task, TensorSpec("output", "FP32", (-1, width))) is expected


def test_two_binary_columns_without_a_record_are_refused_not_guessed():
    with pytest.raises(UsageError, match="predates vautoml recording") as refused:
        members_of(record(None), "r", "binary", TensorSpec("output", "FP32", (-1, 2)))
    assert str(refused.value).endswith("Fix: export it again: vautoml export r --format onnx")


def test_session_threads_default_to_one_and_follow_the_variable(monkeypatch):
    monkeypatch.delenv("VAUTOML_ONNX_THREADS", raising=False)
    assert session_threads() == 1
    monkeypatch.setenv("VAUTOML_ONNX_THREADS", "2")
    assert session_threads() == 2
    monkeypatch.setenv("VAUTOML_ONNX_THREADS", "two")
    with pytest.raises(UsageError, match="VAUTOML_ONNX_THREADS='two'"):
        session_threads()
