"""The sensors example in examples/ (a modality the core does not know) registers its input kind, searches with
its own dimensions and sections, keeps each machine run in one split, and its bundle predicts through the core."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from helpers import REPO, only_run

from vertical_automl.pipeline import search
from vertical_automl.plugins import InstalledPlugins

EXAMPLE = REPO / "examples" / "vautoml-sensors"


@pytest.fixture
def sensors(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    for name in [m for m in sys.modules if m == "vautoml_sensors" or m.startswith("vautoml_sensors.")]:
        monkeypatch.delitem(sys.modules, name)
    import vautoml_sensors

    return InstalledPlugins({"VAUTOML_LOAD_PLUGINS": ""}, plugins=[("sensors", vautoml_sensors)])


def test_sensors_example_searches_keeps_runs_whole_and_predicts(sensors, tmp_path):
    assert sensors.records["sensors"].errors == []
    assert sensors.records["sensors"].verticals == ["sensors"]
    assert "sensor-series" in sensors.input_kinds
    result = search("sensors", plugins=sensors, max_trials=1, epochs=2, registry=tmp_path)  # the synthetic runs
    assert only_run(tmp_path) == result.path
    trials = json.loads((result.path / "trials.json").read_text())
    assert {"kernel_size", "gru_units"} <= set(trials[0]["hyperparameters"])
    runs = result.report["sections"]["machine_runs"]["runs"]
    assert runs and all(run["windows"] == 7 for run in runs)  # every test run whole: none shared with training
    from vertical_automl.predictor import load

    predictor = load(result.path, plugins=sensors)
    new = EXAMPLE / "sample_data" / "new.csv"
    inputs = predictor.encode(new)
    assert inputs.names[0] == "R101-W00" and inputs.x.shape == (42, 24, 3)
    assert set(predictor.predict(new)) <= {"bearing_wear", "imbalance", "normal"}
    assert np.allclose(predictor.predict_proba(new).sum(axis=1), 1.0, atol=1e-5)


def test_sensors_example_passes_the_conformance_suite(sensors, tmp_path):
    from vertical_automl.testing import check_vertical

    sample = EXAMPLE / "sample_data"
    report = check_vertical(
        "sensors",
        sample / "train.csv",
        test_data=sample / "test.csv",
        samples={"npz": sample / "train.npz"},
        plugins=sensors,
        workdir=tmp_path / "work",
        epochs=1,
    )
    assert "predict_evaluate" in report.passed and "loaders" in report.passed
