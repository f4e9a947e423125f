"""The sensors plugin end to end, as a user runs it: installed by entry point, then search -> predict ->
evaluate -> export -> the bundle in plain Keras, each a fresh process."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import vautoml_sensors
from helpers import only_run, run_model_card, run_standalone, run_vautoml

EXAMPLE = Path(vautoml_sensors.__file__).resolve().parents[1]
SAMPLE = EXAMPLE / "sample_data"


@pytest.fixture(scope="module")
def searched(tmp_path_factory, installed):
    """One short search on the sample CSVs (1 trial, 3 epochs, [space] narrowing the plugin's own dimensions),
    shared by the tests below."""
    tmp = tmp_path_factory.mktemp("sensors")
    env, registry = installed, tmp / "registry"
    (tmp / "search.toml").write_text("[space]\nkernel_size = [7]\ngru_units = [16, 32]\n")
    done = run_vautoml(
        "search",
        *("--plugin", "sensors", "--data", str(SAMPLE / "train.csv"), "--test-data", str(SAMPLE / "test.csv")),
        *("--max-trials", "1", "--epochs", "3", "--seed", "0", "--registry", str(registry)),
        *("--config", str(tmp / "search.toml")),
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return only_run(registry), env, tmp


def test_search_writes_a_sensor_series_bundle_with_its_own_dimensions_and_sections(searched):
    run, _, _ = searched
    prep = json.loads((run / "preprocessing.json").read_text())
    assert prep["input"]["kind"] == "sensor-series" and prep["input"]["shape"] == [24, 3]
    assert prep["input"]["channels"] == ["vibration_mm_s", "temperature_c", "current_a"]
    trials = json.loads((run / "trials.json").read_text())
    assert {"kernel_size", "gru_units", "depth", "width", "optimizer"} <= set(trials[0]["hyperparameters"])
    assert trials[0]["hyperparameters"]["kernel_size"] == 7  # search.toml's [space] narrowed the vertical's own
    assert trials[0]["hyperparameters"]["gru_units"] in (16, 32)
    report = json.loads((run / "report.json").read_text())
    assert report["test_metrics"]["examples"] == 42
    runs = report["sections"]["machine_runs"]["runs"]
    assert sorted(r["run"] for r in runs) == [f"R{n}" for n in range(101, 107)]
    assert {c["channel"] for c in report["sections"]["channel_importance"]["channels"]} == set(
        prep["input"]["channels"]
    )
    assert "Errors per machine run" in (run / "model_card.md").read_text()


def test_predict_reads_unlabelled_windows_as_the_model_card_does(searched):
    run, env, tmp = searched
    output = tmp / "predictions.csv"
    done = run_vautoml(
        "predict", "--model", str(run), "--data", str(SAMPLE / "new.csv"), "--output", str(output), env=env
    )
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(output.open()))
    assert [r["input"] for r in rows[:2]] == ["R101-W00", "R101-W01"] and len(rows) == 42
    probabilities = np.array([[float(r[c]) for c in rows[0] if c.startswith("probability_")] for r in rows])
    card = run_model_card(
        run,
        tmp / "card",
        files={"new_windows.csv": (SAMPLE / "new.csv").read_text()},
        result='{"p": probabilities.tolist(), "labels": labels}',
    )
    assert np.allclose(card["p"], probabilities, atol=1e-5)
    assert card["labels"] == [r["label"] for r in rows]


def test_evaluate_reproduces_the_search_test_metrics(searched):
    run, env, tmp = searched
    output = tmp / "evaluation.json"
    done = run_vautoml(
        "evaluate", "--model", str(run), "--data", str(SAMPLE / "test.csv"), "--output", str(output), env=env
    )
    assert done.returncode == 0, done.stderr
    evaluated = json.loads(output.read_text())
    report = json.loads((run / "report.json").read_text())
    for name in ("examples", "accuracy", "macro_f1", "log_loss"):
        assert evaluated["test_metrics"][name] == pytest.approx(report["test_metrics"][name], abs=1e-6)
    assert evaluated["sections"]["machine_runs"]["runs"] == report["sections"]["machine_runs"]["runs"]


def test_export_onnx_matches_keras(searched):
    if importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnx") is None:
        pytest.skip("onnx and onnxruntime are not installed (pip install 'vertical-automl[onnx]')")
    run, env, _ = searched
    done = run_vautoml("export", str(run), "--format", "onnx", env=env)
    assert done.returncode == 0, done.stderr
    assert (run / "model.onnx").is_file()
    assert "onnx" in json.loads((run / "manifest.json").read_text())["exports"]


def test_the_bundle_loads_in_plain_keras_in_safe_mode(searched):
    run, _, _ = searched
    result = run_standalone(
        """
        import json, os
        import keras, numpy as np
        model = keras.saving.load_model("model.keras", safe_mode=True)
        prep = json.load(open("preprocessing.json"))
        x = np.zeros((2, *prep["input"]["shape"]), dtype="float32")
        print(json.dumps({"shape": list(model.predict(x, verbose=0).shape),
                          "layers": sorted({type(layer).__name__ for layer in model.layers})}))
        """,
        run,
    )
    assert result["shape"] == [2, 3] and {"Conv1D", "GRU"} <= set(result["layers"])
