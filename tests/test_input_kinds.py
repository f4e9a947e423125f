"""A plugin's own input kind gets the whole life of a bundle: search, predict, evaluate, export, model card.

The plugin (``tests/sensor_plugin.py``) declares a kind of its own, ``sensor``,
whose encoder scales each reading by its training range.  Refusals are checked
too: a kind no plugin declares, an encoder ``from_spec`` cannot rebuild, data
of another kind than the run's.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
from helpers import run_vautoml
from sensor_plugin import SENSOR, LosesTheRange, NoFromSpec, RangeEncoder, plugins_with, sensor_loader, write_readings

import vertical_automl
from vertical_automl import predictor as predicting
from vertical_automl.export import export_model
from vertical_automl.kinds import input_kind
from vertical_automl.plugin_api import ARRAYS, TABLE, DataError, InputKind, PluginError
from vertical_automl.plugins import InstalledPlugins


@pytest.fixture(scope="module")
def sensor_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("kinds")
    train, test = write_readings(root / "train.npz", 200, 0), write_readings(root / "test.npz", 40, 1)
    plugins = plugins_with(sensor_loader(SENSOR, RangeEncoder))
    result = vertical_automl.search(
        "sensor", train, test_data=test, max_trials=1, epochs=30, registry=root / "registry", plugins=plugins
    )
    return {"result": result, "plugins": plugins, "train": train, "test": test, "registry": root / "registry"}


def test_predict_reads_a_plugins_kind_with_its_loaders_and_rebuilt_encoder(sensor_run):
    run, plugins = sensor_run["result"].path, sensor_run["plugins"]
    predictor = predicting.load(run, plugins=plugins)
    assert predictor.kind.name == SENSOR.name and isinstance(predictor.encoder, RangeEncoder)
    from_file = predictor.encode(sensor_run["test"])
    with np.load(sensor_run["test"]) as stored:
        raw = stored["x"]
    assert np.array_equal(from_file.x, predictor.encode(raw).x)  # a path through the loader, an array as it is
    assert len(from_file.names) == 40 and from_file.names[0].endswith("test.npz 0")
    spec = predictor.preprocessing["input"]
    low, high = np.array(spec["low"]), np.array(spec["high"])  # the training split's range, as JSON kept it
    assert np.array_equal(from_file.x, ((raw - low) / (high - low)).astype(np.float32))
    assert set(predictor.predict(raw)) <= {"fault", "ok"}


def install_sensor_plugin(site: Path) -> dict[str, str]:
    """``tests/sensor_plugin.py`` installed as a distribution (a real dist-info); returns the env a process needs."""
    info = site / "vautoml_sensor-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: vautoml-sensor\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[vautoml]\nsensor = sensor_plugin\n")
    return {"PYTHONPATH": os.pathsep.join([str(site), str(Path(__file__).parent)]), "VAUTOML_LOAD_PLUGINS": "sensor"}


def test_vautoml_predict_on_a_plugins_kind(sensor_run, tmp_path):
    output, env = tmp_path / "predictions.csv", install_sensor_plugin(tmp_path / "site")
    run, test = sensor_run["result"].path, sensor_run["test"]
    done = run_vautoml("predict", "--model", str(run), "--data", str(test), "--output", str(output), env=env)
    assert done.returncode == 0, done.stderr
    with open(output, newline="") as handle:
        rows = list(csv.DictReader(handle))
    expected = predicting.load(run, plugins=sensor_run["plugins"]).predict_proba(test)
    assert [row["label"] for row in rows] == predicting.load(run, plugins=sensor_run["plugins"]).predict(test)
    assert np.allclose([[float(row[f"probability_{c}"]) for c in ("fault", "ok")] for row in rows], expected, atol=1e-6)


def test_evaluate_repeats_the_searchs_test_metrics_exactly(sensor_run):
    result = predicting.evaluate(sensor_run["result"].path, sensor_run["test"], plugins=sensor_run["plugins"])
    assert result["examples"] == 40
    expected = sensor_run["result"].report["test_metrics"]
    assert expected["binary"]["roc_auc"] > 0.75  # a model that learned from the scaled readings, not a constant
    assert json.dumps(result["test_metrics"], sort_keys=True) == json.dumps(expected, sort_keys=True)  # NaN too


def test_the_model_card_shows_the_kinds_usage_code(sensor_run):
    card = (sensor_run["result"].path / "model_card.md").read_text()
    assert 'x = ((np.load("readings.npz")["x"] - low) / (high - low)).astype("float32")' in card
    assert "numpy. Run from the bundle folder" in card  # the kind needs nothing else: no Pillow


def test_a_kind_no_installed_plugin_declares_is_refused_by_predict_and_evaluate(sensor_run):
    run, nothing = sensor_run["result"].path, InstalledPlugins({"VAUTOML_LOAD_PLUGINS": ""})
    with pytest.raises(DataError, match="input kind 'sensor' is not declared by any installed plugin"):
        predicting.load(run, plugins=nothing).encode(sensor_run["test"])
    with pytest.raises(DataError, match="install the plugin named in the run's manifest.json"):
        predicting.evaluate(run, sensor_run["test"], plugins=nothing)
    done = run_vautoml("evaluate", "--model", str(run), "--data", str(sensor_run["test"]))  # not installed there
    assert done.returncode != 0 and not done.stdout
    assert "input kind 'sensor'" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_evaluate_refuses_data_of_another_kind(sensor_run):
    other = plugins_with(sensor_loader(SENSOR, RangeEncoder, spec_kind="arrays"))
    with pytest.raises(DataError, match="reads as input kind 'arrays'"):
        predicting.evaluate(sensor_run["result"].path, sensor_run["test"], plugins=other)


def test_evaluate_refuses_an_encoder_it_cannot_rebuild(sensor_run):
    broken = InputKind("sensor", "readings", encoder=NoFromSpec)
    with pytest.raises(PluginError, match="encoder sensor_plugin.NoFromSpec of input kind 'sensor' cannot be rebuilt"):
        predicting.evaluate(
            sensor_run["result"].path, sensor_run["test"], plugins=plugins_with(sensor_loader(broken, NoFromSpec))
        )


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="onnx extras not installed")
def test_onnx_export_checks_a_plugins_kind(sensor_run, tmp_path):
    exported = export_model(sensor_run["result"].path, "onnx", tmp_path / "sensor.onnx", sensor_run["plugins"])
    assert exported.max_difference < 1e-4 and exported.inputs_checked == 16


@pytest.mark.parametrize(
    ("loader", "error"),
    [
        (sensor_loader(None, RangeEncoder), "input kind 'sensor', which no loader declares"),
        (sensor_loader(SENSOR, None), "attaches encoder none, but input kind 'sensor' declares"),
        (sensor_loader(SENSOR, LosesTheRange), r"attaches encoder sensor_plugin.LosesTheRange, but .*RangeEncoder"),
        (
            sensor_loader(InputKind("sensor", "readings", encoder=NoFromSpec), NoFromSpec),
            "NoFromSpec cannot be rebuilt",
        ),
        (sensor_loader(InputKind("sensor", "readings", encoder=LosesTheRange), LosesTheRange), "encodes the training"),
    ],
    ids=["undeclared kind", "encoder missing", "a subclass encoder", "no from_spec", "from_spec differs"],
)
def test_search_refuses_what_predict_could_not_repeat(tmp_path, loader, error):
    data = write_readings(tmp_path / "train.npz", 60, 0)
    with pytest.raises(PluginError, match=error):
        vertical_automl.search("sensor", data, max_trials=1, epochs=1, registry=tmp_path, plugins=plugins_with(loader))
    assert not any(tmp_path.glob("sensor/*"))  # refused before any run was published


def test_the_cores_kinds_need_no_plugin(monkeypatch):
    def no_plugins():
        raise AssertionError("the core's kinds must not load plugins")

    monkeypatch.setattr("vertical_automl.plugins.get_plugins", no_plugins)
    assert input_kind("table") is TABLE and input_kind("arrays") is ARRAYS


def test_arrays_are_read_as_model_ready_rows_of_the_training_shape(tmp_path):
    spec = {"kind": "arrays", "shape": [2, 3]}
    np.save(tmp_path / "rows.npy", np.ones((4, 2, 3)))
    np.savez(tmp_path / "rows.npz", x=np.zeros((5, 2, 3)))
    assert ARRAYS.read(tmp_path / "rows.npy", spec).x.shape == (4, 2, 3)
    assert ARRAYS.read(str(tmp_path / "rows.npz"), spec).x.dtype == np.float32
    with pytest.raises(DataError, match=r"shape \(3, 2\)"):
        ARRAYS.read(np.ones((4, 3, 2)), spec)


def test_the_cores_loaders_declare_their_kind_and_every_option_they_accept():
    from vertical_automl.data.images import FOLDER_OPTIONS
    from vertical_automl.data.tabular import TABLE_OPTIONS
    from vertical_automl.data.text import TEXT_FOLDER_OPTIONS, TEXT_TABLE_OPTIONS
    from vertical_automl.plugin_api import (
        IMAGE,
        TEXT,
        hdf5_image_loader,
        image_folder_loader,
        npz_image_loader,
        table_loader,
        text_folder_loader,
        text_table_loader,
    )

    declared = {
        (table_loader(True), TABLE): TABLE_OPTIONS,
        (text_table_loader(), TEXT): TEXT_TABLE_OPTIONS,
        (text_folder_loader(), TEXT): TEXT_FOLDER_OPTIONS,
        (image_folder_loader(), IMAGE): FOLDER_OPTIONS,
        (npz_image_loader(), IMAGE): (),
        (hdf5_image_loader(), IMAGE): (),
    }
    for (loader, kind), accepted in declared.items():
        assert loader.kind is kind and not loader.problems()
        assert sorted(loader.option_names) == sorted(accepted), loader.name
        assert all(option.help for option in loader.options)


def test_a_plugin_kind_may_not_take_a_core_kinds_name():
    plugins = plugins_with(sensor_loader(InputKind("table", "my own tables", encoder=RangeEncoder), RangeEncoder))
    assert any("the name of one of the core's kinds" in error for error in plugins.records["sensor"].errors)
    assert input_kind("table", plugins) is TABLE  # a bundle of tables still reads as the core's


def test_a_crash_in_a_plugins_encoder_at_prediction_names_its_class_and_method(sensor_run):
    from vertical_automl.plugin_calls import PluginCrash

    predictor = predicting.load(sensor_run["result"].path, plugins=sensor_run["plugins"])
    with pytest.raises(PluginCrash) as raised:
        predictor.predict(np.array([["not a reading"] * 6]))  # the plugin's transform casts to float64 and fails
    assert str(raised.value).startswith("the encoder sensor_plugin.RangeEncoder: transform failed: ValueError")
