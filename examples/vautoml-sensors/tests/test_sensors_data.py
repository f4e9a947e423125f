"""The sensors plugin's pieces without a search: loaders, encoder, input kind, model card code, model, report."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
import vautoml_sensors
from vautoml_sensors import SENSOR_SERIES, SeriesEncoder
from vautoml_sensors.kind import usage_code
from vautoml_sensors.loaders import LONG_CSV, NPZ
from vautoml_sensors.model import GRU_UNITS, KERNEL_SIZE, build_model
from vautoml_sensors.report import sensor_sections

from vertical_automl.plugin_api import DataError, DatasetInfo, Evaluation, LabeledData, space

SAMPLE = Path(vautoml_sensors.__file__).resolve().parents[1] / "sample_data"
HEADER = "run,window,step,vib,temp,label\n"


def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_declarations_are_valid():
    assert vautoml_sensors.SENSORS.problems() == []
    assert SENSOR_SERIES.problems() == []
    assert {"label_column", "window_column", "group_column", "channels", "length"} <= set(LONG_CSV.option_names)
    assert LONG_CSV.kind is SENSOR_SERIES and NPZ.kind is SENSOR_SERIES


def test_long_csv_groups_windows_by_run_whatever_the_row_order(tmp_path):
    data = LONG_CSV.load(SAMPLE / "train.csv", {}, None)
    assert data.x.shape == (168, 24, 3) and data.x.dtype == np.float32
    assert data.class_names == ("bearing_wear", "imbalance", "normal")
    assert len(np.unique(data.groups)) == 24 and data.split_by == {"group": "run"}
    assert data.input_spec["channels"] == ["vibration_mm_s", "temperature_c", "current_a"]
    lines = (SAMPLE / "train.csv").read_text().splitlines()
    body = lines[1:]
    np.random.default_rng(0).shuffle(body)  # rows of one window out of order and interleaved with others
    shuffled = LONG_CSV.load(write(tmp_path, "\n".join([lines[0], *body]) + "\n"), {}, None)
    by_name = dict(zip(SENSOR_SERIES.read(SAMPLE / "train.csv", data.input_spec).names, data.x))
    again = dict(zip(SENSOR_SERIES.read(tmp_path / "data.csv", data.input_spec).names, shuffled.x))
    assert by_name.keys() == again.keys()
    assert all(np.array_equal(by_name[name], again[name]) for name in by_name)


def test_the_npz_holds_the_same_windows_as_the_csv():
    from_csv, from_npz = LONG_CSV.load(SAMPLE / "train.csv", {}, None), NPZ.load(SAMPLE / "train.npz", {}, None)
    assert np.array_equal(from_csv.x, from_npz.x) and np.array_equal(from_csv.y, from_npz.y)
    assert np.array_equal(from_csv.groups, from_npz.groups)
    assert from_npz.input_spec["channels"] == from_csv.input_spec["channels"]


@pytest.mark.parametrize(
    ("text", "options", "words"),
    [
        ("run,window,step,vib,temp\nr1,w1,0,1,2\n", {}, "no label column 'label'"),
        (HEADER + "r1,w1,0,1,2,ok\nr1,w1,1,1,2,bad\n", {}, "same label"),
        (HEADER + "r1,w1,0,1,2,ok\nr2,w1,1,1,2,ok\n", {}, "same run"),
        (HEADER + "r1,w1,0,1,x,ok\n", {}, "line 2 has 'x' in column 'temp'"),
        (HEADER + "r1,w1,0,1,2,ok\nr1,w1,0,1,2,ok\n", {}, "repeats step 0"),
        (HEADER + "r1,w1,0,1,2,ok\n", {"channels": "vib,pressure"}, "pressure"),
        (HEADER + "r1,w1,0,1,2,ok\n", {"group_column": "machine"}, "no machine-run column 'machine'"),
        (HEADER + "r1,w1,0,1,2,ok\n", {"length": "ten"}, "length='ten'"),
    ],
)
def test_bad_long_csv_is_refused_in_one_line(tmp_path, text, options, words):
    with pytest.raises(DataError) as refused:
        LONG_CSV.load(write(tmp_path, text), options, None)
    assert words in str(refused.value) and "Fix:" in str(refused.value) and "\n" not in str(refused.value)


def test_npz_with_groups_of_the_wrong_length_is_refused(tmp_path):
    np.savez(tmp_path / "w.npz", x=np.zeros((4, 5, 2)), y=np.array([0, 1, 0, 1]), groups=np.array(["a", "b"]))
    with pytest.raises(DataError, match="4 windows but 2 entries in groups"):
        NPZ.load(tmp_path / "w.npz", {}, None)


def test_encoder_learns_on_training_windows_and_its_spec_rebuilds_it_exactly():
    data = LONG_CSV.load(SAMPLE / "train.csv", {"length": "16"}, None)
    fitted = data.encoder.fit(data.x[:60])
    readings = data.x[:60].reshape(-1, 3).astype(np.float64)
    assert np.allclose(fitted.center, np.median(readings, axis=0))
    encoded = fitted.transform(data.x)
    assert encoded.shape == (168, 16, 3) and encoded.dtype == np.float32
    rebuilt = SeriesEncoder.from_spec({**data.input_spec, **fitted.spec()})
    assert np.array_equal(rebuilt.transform(data.x), encoded)


def test_windows_of_other_lengths_are_resampled_and_a_wrong_channel_count_refused():
    encoder = SeriesEncoder(("a", "b")).fit(
        np.array([np.ones((4, 2)), np.zeros((6, 2)), np.ones((8, 2))], dtype=object)
    )
    assert encoder.length == 6
    ramp = np.stack([np.arange(11.0), np.arange(11.0)], axis=1)  # 0..10 onto 6 steps: 0, 2, ..., 10
    raw = (encoder.transform([ramp])[0] * np.asarray(encoder.scale)) + np.asarray(encoder.center)
    assert np.allclose(raw[:, 0], [0, 2, 4, 6, 8, 10], atol=1e-5)
    with pytest.raises(DataError, match="expected \\(steps >= 1, 2 channels\\)"):
        encoder.transform(np.zeros((1, 6, 3)))


def fitted_spec() -> tuple[dict, LabeledData]:
    data = LONG_CSV.load(SAMPLE / "train.csv", {}, None)
    return {**data.input_spec, **data.encoder.fit(data.x).spec()}, data


def test_the_kind_reads_csv_npz_and_arrays_alike():
    spec, _ = fitted_spec()
    encoder = SeriesEncoder.from_spec(spec)
    from_csv = SENSOR_SERIES.read(SAMPLE / "new.csv", spec)
    assert from_csv.names[:2] == ["R101-W00", "R101-W01"] and from_csv.x.shape == (42, 24, 3)
    labelled = LONG_CSV.load(SAMPLE / "test.csv", {}, None)
    assert np.array_equal(encoder.transform(from_csv.x), encoder.transform(labelled.x))  # the label column is ignored
    from_npz = SENSOR_SERIES.read(SAMPLE / "train.npz", spec)
    assert np.array_equal(from_npz.x, NPZ.load(SAMPLE / "train.npz", {}, None).x)
    assert SENSOR_SERIES.read(labelled.x[0], spec).x.shape == (1, 24, 3)  # one window as a 2-D array
    ragged = SENSOR_SERIES.read([labelled.x[0][:10], labelled.x[1]], spec)
    assert encoder.transform(ragged.x).shape == (2, 24, 3)
    with pytest.raises(DataError, match="cannot read dict input"):
        SENSOR_SERIES.read({"vib": 1}, spec)


def test_model_card_code_encodes_like_the_kind(tmp_path, monkeypatch):
    spec, _ = fitted_spec()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "new_windows.csv").write_text((SAMPLE / "new.csv").read_text())
    namespace = {"np": np, "prep": {"input": spec}}
    exec("\n".join(usage_code(spec)), namespace)  # the lines the model card shows, with csv and numpy only
    expected = SeriesEncoder.from_spec(spec).transform(SENSOR_SERIES.read(SAMPLE / "new.csv", spec).x)
    assert namespace["names"][:1] == ["R101-W00"]
    assert np.array_equal(namespace["x"], expected)


def test_examples_look_like_encoded_windows():
    spec, _ = fitted_spec()
    examples = SENSOR_SERIES.examples(spec, 5, np.random.default_rng(0))
    assert examples.shape == (5, 24, 3) and examples.dtype == np.float32 and np.isfinite(examples).all()
    assert 0.2 < float(examples.std()) < 5.0  # around the training scale, not saturating


def test_the_model_uses_its_own_dimensions_which_space_config_narrows():
    import keras_tuner

    info = DatasetInfo("multiclass", (24, 3), ("a", "b", "c"))
    with space.using(space.SpaceConfig(vertical={"kernel_size": (7,), "gru_units": (16,)})):
        hp = keras_tuner.HyperParameters()
        model = build_model(hp, info)
    assert hp.values[KERNEL_SIZE.name] == 7 and hp.values[GRU_UNITS.name] == 16
    kinds = {type(layer).__name__ for layer in model.layers}
    assert {"Conv1D", "GRU"} <= kinds
    conv = next(layer for layer in model.layers if type(layer).__name__ == "Conv1D")
    assert conv.kernel_size == (7,) and model.output_shape == (None, 3)


def test_report_names_the_worst_run_and_the_channel_the_model_uses():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 8, 3)).astype(np.float32)
    y = (x[:, :, 0].mean(axis=1) > 0).astype(np.int64)

    def predict(raw):  # a "model" that reads channel 0 only
        windows = np.stack(list(raw)) if raw.dtype == object else raw
        p = (windows[:, :, 0].mean(axis=1) > 0).astype(float)
        return np.stack([1 - p, p], axis=1)

    scores = predict(x)
    scores[:5] = scores[:5, ::-1]  # five windows of run r0 predicted wrong
    groups = np.array(["r0"] * 10 + ["r1"] * 10 + ["r2"] * 20)
    raw = LabeledData(x, y, ("ok", "fault"), {"channels": ["vib", "temp", "amp"]}, "t", groups=groups)
    evaluation = Evaluation("binary", ("ok", "fault"), y, scores, raw, predict=predict, threshold=0.5)
    runs, channels = sensor_sections(evaluation)
    worst = runs.data["runs"][0]
    assert (worst["run"], worst["windows"], worst["errors"], worst["error_rate"]) == ("r0", 10, 5, 0.5)
    assert [row["errors"] for row in runs.data["runs"][1:]] == [0, 0]
    ranked = channels.data["channels"]
    assert ranked[0]["channel"] == "vib" and ranked[0]["accuracy_drop"] > 0.2
    assert all(abs(row["accuracy_drop"]) < 1e-9 for row in ranked[1:])


def test_csv_written_by_the_generator_is_long_format():
    rows = list(csv.reader(io.StringIO((SAMPLE / "test.csv").read_text())))
    assert rows[0] == ["run", "window", "step", "vibration_mm_s", "temperature_c", "current_a", "label"]
    assert len(rows) == 1 + 42 * 24
