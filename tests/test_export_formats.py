"""vautoml export --format onnx|weights: files that reproduce the Keras model, for a single model and an ensemble.

The bundles come from real tiny searches of the test verticals: tiny-image
with one trial (a single network on images) and tiny-table with two (an
ensemble of two tabular models, the shape that the TorchScript exporter could
not handle).  Every comparison is
made here, on real inputs, independently of the checks the export does itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import invoke_vautoml, run_vautoml

import vertical_automl
from vertical_automl import export as portable
from vertical_automl.errors import SearchError


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    registry = tmp_path_factory.mktemp("exports") / "registry"
    single = vertical_automl.search("tiny-image", max_trials=1, epochs=1, registry=registry)
    ensemble = vertical_automl.search("tiny-table", max_trials=2, epochs=1, registry=registry)
    return {"registry": registry, "single": single.path, "ensemble": ensemble.path}


def real_inputs(bundle: Path) -> np.ndarray:
    """Encoded real examples: digits for the image run, breast-cancer rows through the table run's preprocessing."""
    from sklearn.datasets import load_breast_cancer, load_digits

    if bundle.parent.name == "tiny-image":
        return load_digits().images[:40, :, :, None].astype(np.float32)
    rows = load_breast_cancer(as_frame=True).frame.drop(columns="target").iloc[::15]
    return vertical_automl.load(bundle).encode(rows).x


def keras_model(bundle: Path):
    import keras

    return keras.saving.load_model(bundle / "model.keras", safe_mode=True)


def onnx_predictions(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (spec,) = session.get_inputs()
    assert isinstance(spec.shape[0], str)  # a free batch dimension, not the batch the graph was traced with
    return session.run(None, {spec.name: x})[0]


def manifest(bundle: Path) -> dict:
    return json.loads((bundle / "manifest.json").read_text())


def test_onnx_export_of_a_single_model_and_an_ensemble_matches_keras_and_is_recorded(runs):
    ensemble = keras_model(runs["ensemble"])
    chosen = json.loads((runs["ensemble"] / "report.json").read_text())["model"]["ensemble"]
    members = [layer for layer in ensemble.layers if hasattr(layer, "layers")]  # nested models: the chosen trials
    if len(chosen) > 1:  # ensemble selection may keep one trial; ONNX is checked either way
        assert len(members) == len(chosen) and ensemble.layers[-1].name in (
            "ensemble_average",
            "ensemble_weighted_average",
        )

    result = portable.export_model(runs["single"], "onnx")
    assert (
        result.path == runs["single"] / "model.onnx"
        and result.max_difference <= 1e-4
        and result.inputs_checked == portable.CHECK_ROWS
    )
    done = invoke_vautoml("export", runs["ensemble"].name, "--format", "onnx", "--registry", str(runs["registry"]))
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout.strip().startswith(f"wrote {runs['ensemble'] / 'model.onnx'} (max difference from Keras")
        and len(done.stdout.strip().splitlines()) == 1
    )

    for name in ("single", "ensemble"):
        bundle = runs[name]
        x = real_inputs(bundle)
        expected = keras_model(bundle).predict(x, verbose=0)
        assert expected.std(axis=0).max() > 1e-3  # the outputs vary, so agreeing means something
        got = onnx_predictions(bundle / "model.onnx", x)
        assert got.shape == expected.shape
        assert np.max(np.abs(got - expected)) < 1e-4
        record = manifest(bundle)["exports"]["onnx"]
        assert (
            record["file"] == "model.onnx"
            and 0 <= record["max_abs_difference"] <= 1e-4
            and record["inputs_checked"] == portable.CHECK_ROWS
        )
        assert {"onnx", "onnxruntime", "onnxscript", "torch", "keras"} <= set(record["libraries"]) and record[
            "created"
        ].endswith("Z")
        assert "model.onnx" in manifest(bundle)["files"]
        assert not [p.name for p in bundle.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_weights_export_loads_into_a_fresh_model_in_the_run_or_elsewhere(runs, tmp_path):
    import keras

    result = portable.export_model(runs["single"], "weights")
    assert result.path == runs["single"] / "model.weights.h5" and result.max_difference == 0
    assert manifest(runs["single"])["exports"]["weights"]["file"] == "model.weights.h5"

    before = (runs["ensemble"] / "manifest.json").read_bytes()
    done = invoke_vautoml(
        "export", str(runs["ensemble"]), "--format", "weights", "--output", str(tmp_path / "ensemble.weights.h5")
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "ensemble.weights.h5").is_file() and not (runs["ensemble"] / "model.weights.h5").exists()
    assert (runs["ensemble"] / "manifest.json").read_bytes() == before  # an export elsewhere leaves the run as it was

    for bundle, weights in (
        (runs["single"], runs["single"] / "model.weights.h5"),
        (runs["ensemble"], tmp_path / "ensemble.weights.h5"),
    ):
        model = keras_model(bundle)
        x = real_inputs(bundle)
        expected = model.predict(x, verbose=0)
        fresh = keras.models.clone_model(model)  # same architecture, newly initialised weights
        assert np.max(np.abs(fresh.predict(x, verbose=0) - expected)) > 1e-3
        fresh.load_weights(weights)
        assert np.allclose(fresh.predict(x, verbose=0), expected, atol=1e-6)


def test_an_export_that_disagrees_with_keras_is_refused_and_leaves_nothing(runs, monkeypatch):
    before = (runs["ensemble"] / "manifest.json").read_bytes()
    monkeypatch.setattr(portable, "TOLERANCE", -1.0)  # any difference, even 0, now counts as a mismatch
    with pytest.raises(SearchError, match="differs from the Keras model by"):
        portable.export_model(runs["ensemble"], "weights")
    assert not (runs["ensemble"] / "model.weights.h5").exists()
    assert not [p.name for p in runs["ensemble"].iterdir() if p.name.startswith(".")]
    assert (runs["ensemble"] / "manifest.json").read_bytes() == before


def test_export_mistakes_are_one_line_errors(runs, tmp_path):
    run, registry = str(runs["single"]), ("--registry", str(runs["registry"]))
    shadow = tmp_path / "shadow" / "onnxruntime"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('onnxruntime is hidden for this test')\n")
    cases = [
        (
            ("export", run, "--format", "weights", "--output", str(tmp_path / "model.h5")),
            {},
            "does not end in .weights.h5",
        ),
        (("export", "no-such-run", "--format", "onnx", *registry), {}, "no finished run 'no-such-run'"),
        (("export", run, "--format", "tflite"), {}, "unknown export format 'tflite'. Fix: use one of: onnx, weights"),
        (("export", run, "--format", "onnx", "--output", str(tmp_path / "missing" / "m.onnx")), {}, "does not exist"),
        (("export", run, "--format", "onnx", "--output", str(tmp_path)), {}, "is a folder. Fix: give a file name"),
        (
            ("export", run, "--format", "onnx", "--output", str(tmp_path / "m.onnx")),
            {"PYTHONPATH": str(shadow.parent)},
            "ONNX export needs onnxruntime, which is not installed. Fix: pip install 'vertical-automl[onnx]'",
        ),
    ]
    for args, env, message in cases:
        done = run_vautoml(*args, env=env)
        assert done.returncode == 2, (args, done.stderr)
        assert (
            done.stderr.startswith("Error: ") and message in done.stderr and len(done.stderr.strip().splitlines()) == 1
        ), done.stderr
        assert done.stdout == ""
    assert not list(tmp_path.glob("*.h5")) and not list(tmp_path.glob("*.onnx"))


def test_exports_of_one_run_at_once_both_reach_its_manifest(runs, tmp_path):
    """The manifest is read and rewritten under a lock on the run folder: a concurrent export waits, then adds to it."""
    import shutil
    import subprocess
    import sys
    import time

    from vertical_automl.export import _locked

    bundle = tmp_path / "run"
    shutil.copytree(runs["single"], bundle)
    (bundle / "manifest.json").write_text(
        json.dumps({**manifest(bundle), "exports": {}})
    )  # as published, before other tests' exports
    with _locked(bundle):
        export = subprocess.Popen(
            [sys.executable, "-m", "vertical_automl.cli", "export", str(bundle), "--format", "weights"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 300
        while not (bundle / "model.weights.h5").exists():  # written and checked; now it waits to record it
            assert export.poll() is None and time.monotonic() < deadline, export.communicate()
            time.sleep(0.05)
        time.sleep(0.5)
        assert "weights" not in manifest(bundle).get("exports", {})
        written = {**manifest(bundle), "exports": {"onnx": {"file": "model.onnx"}}}  # another export recorded meanwhile
        (bundle / "manifest.json").write_text(json.dumps(written))
    assert export.wait(timeout=300) == 0, export.communicate()
    assert sorted(manifest(bundle)["exports"]) == ["onnx", "weights"]


def test_an_image_model_with_augmentation_layers_exports_to_onnx_as_keras_predicts(tmp_path):
    """Augmentation layers default to training=True; traced that way torch.export refused every augmenting model."""
    pytest.importorskip("onnxruntime")
    import keras

    inputs = keras.Input(shape=(8, 8, 1), name="pixels")
    x = keras.layers.RandomFlip("horizontal")(inputs)  # what the vision vertical's "shift_flip" augmentation adds
    x = keras.layers.RandomRotation(0.05, fill_mode="constant")(x)
    x = keras.layers.RandomZoom(0.1, fill_mode="constant")(x)
    x = keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant")(x)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    pixels = np.random.default_rng(0).random((16, 8, 8, 1)).astype("float32")
    got = portable._onnx(model, tmp_path / "model.onnx", pixels)
    assert np.max(np.abs(got - model.predict(pixels, verbose=0))) < 1e-5
