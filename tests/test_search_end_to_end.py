"""End to end: real (tiny) searches from the CLI, exported models used without vautoml."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from helpers import (
    THROWAWAY,
    digits_plugins,
    invoke_vautoml,
    only_run,
    run_standalone,
    vautoml_predictions,
)
from sklearn.datasets import load_digits
from throwaway_verticals.image import load_digits as image_digits

from vertical_automl import SearchError, VautomlError
from vertical_automl.data.split import split_dataset
from vertical_automl.pipeline import search
from vertical_automl.serving.drift import load_monitor

TINY = ["--max-trials", "2", "--epochs", "3", "--seed", "1"]

PREDICT_NPZ = """
    import json, keras, numpy as np
    model = keras.saving.load_model("{model}")
    prep = json.load(open("{prep}"))
    data = np.load("{data}")
    probabilities = model.predict(data["x"].astype("float32"), verbose=0)
    labels = [prep["class_names"][i] for i in probabilities.argmax(axis=1)]
    truth = [str(v) for v in data["y"]]
    print(json.dumps({{"accuracy": float(np.mean([a == b for a, b in zip(labels, truth)])), "n": len(truth),
                      "backend": keras.config.backend(), "labels": labels, "p": probabilities.tolist()}}))
"""


def read_json(path):
    return json.loads(path.read_text())


def test_default_digits_search_exports_a_model_that_stands_alone(tmp_path):
    registry = tmp_path / "registry"
    done = invoke_vautoml("search", "--plugin", "tiny-image", *TINY, "--registry", str(registry))
    assert done.returncode == 0, done.stderr
    run = only_run(registry)
    assert (
        run.parent.name == "tiny-image"
        and f"exported to {run}" in done.stdout
        and f"report: {run / 'report.html'}" in done.stdout
    )
    assert sorted(p.name for p in run.iterdir()) == [
        "input_profile.json",
        "logs",
        "manifest.json",
        "model.keras",
        "model_card.md",
        "plots",
        "preprocessing.json",
        "report.html",
        "report.json",
        "report.md",
        "trials.json",
    ]
    assert sorted(p.name for p in (run / "plots").iterdir()) == [
        "confusion_matrix.png",
        "learning_curves.png",
        "score_by_hyperparameter.png",
    ]
    assert sorted(read_json(run / "manifest.json")["files"]) == sorted(
        str(p.relative_to(run)) for p in run.rglob("*") if p.is_file()
    )
    # One CSV of per-epoch metrics per trial, listed in the manifest with every other file.
    rows = (run / "logs" / "trial_0.csv").read_text().splitlines()
    assert (
        rows[0].split(",")[0] == "epoch" and "val_accuracy" in rows[0] and len(rows) == 1 + 3
    )  # header + 3 epochs (--epochs 3)
    assert sorted(f for f in read_json(run / "manifest.json")["files"] if f.startswith("logs/")) == [
        "logs/trial_0.csv",
        "logs/trial_0.txt",
        "logs/trial_1.csv",
        "logs/trial_1.txt",
    ]
    # Both trials trained with our own step (vertical_automl.training), not Keras's fit.
    assert (run / "logs" / "trial_0.txt").read_text() == "training step: own\n"

    report, manifest, trials = (
        read_json(run / "report.json"),
        read_json(run / "manifest.json"),
        read_json(run / "trials.json"),
    )
    assert len(trials) == 2 and all(
        t["status"] == "COMPLETED" and t["seconds"] > 0 and t["hyperparameters"] for t in trials
    )
    assert (
        report["model"]["refit"] is True
        and report["best_hyperparameters"]
        == next(t for t in trials if t["trial_id"] == report["search"]["best_trial"])["hyperparameters"]
    )
    assert manifest["vertical"] == "tiny-image" and manifest["plugin"] == {
        "name": "tiny-image",
        "distribution": THROWAWAY,
        "version": "0.1.0",
    }
    assert manifest["libraries"]["torch"].startswith("2.") and manifest["libraries"]["keras"].startswith("3.")
    # The training split's input profile, listed in the manifest, is what vautoml serve measures drift against.
    profile = load_monitor(run).profile
    assert "input_profile.json" in manifest["files"] and [f.name for f in profile.monitored] == ["mean", "std"]
    assert profile.training_rows == report["dataset"]["splits"]["train"]["examples"]
    metrics = report["test_metrics"]
    assert set(metrics["per_class"]) == {str(d) for d in range(10)}
    assert np.array(metrics["confusion_matrix"]["matrix"]).sum() == metrics["examples"] == 360

    # Recreate the held-out split (same seed) and score the bundle where vautoml cannot be imported.
    test = split_dataset(image_digits(), "multiclass", seed=1).test
    assert report["dataset"]["splits"]["test"]["class_counts"] == test.class_counts()
    np.savez(tmp_path / "test.npz", x=test.x, y=np.array(test.class_names)[test.y])
    standalone = run_standalone(
        PREDICT_NPZ.format(model=run / "model.keras", prep=run / "preprocessing.json", data=tmp_path / "test.npz"),
        cwd=tmp_path,
    )
    assert standalone["backend"] == "torch" and standalone["n"] == 360
    assert standalone["accuracy"] == pytest.approx(metrics["accuracy"], abs=1e-9)
    assert metrics["accuracy"] > 0.5  # 10 classes: chance is 0.1
    labels, probabilities = vautoml_predictions(
        run, tmp_path / "test.npz", tmp_path
    )  # vautoml predict agrees with the plain-Keras app
    assert labels == standalone["labels"] and np.allclose(probabilities, standalone["p"], atol=1e-5)
    scored = invoke_vautoml(
        "evaluate", "--model", str(run), "--data", str(tmp_path / "test.npz"), "--output", str(tmp_path / "eval.json")
    )
    assert scored.returncode == 0, scored.stderr
    assert read_json(tmp_path / "eval.json")["test_metrics"]["accuracy"] == pytest.approx(
        metrics["accuracy"], abs=1e-9
    )  # the same split, rescored


def digits_arrays():
    digits = load_digits()
    x, y = digits.images.astype("float32"), np.array([f"digit-{d}" for d in digits.target])
    return x[:1400], y[:1400], x[1400:], y[1400:]


def test_npz_with_separate_test_data_and_bayesian_tuner(tmp_path):
    x, y, x_test, y_test = digits_arrays()
    np.savez(tmp_path / "train.npz", x=x, y=y)
    np.savez(tmp_path / "test.npz", x=x_test, y=y_test)
    registry = tmp_path / "registry"
    done = invoke_vautoml(
        "search",
        "--plugin",
        "tiny-image",
        "--data",
        str(tmp_path / "train.npz"),
        "--test-data",
        str(tmp_path / "test.npz"),
        "--tuner",
        "bayesian",
        *TINY,
        "--registry",
        str(registry),
    )
    assert done.returncode == 0, done.stderr
    run = only_run(registry)
    report = read_json(run / "report.json")
    assert report["search"]["tuner"] == "bayesian" and report["test_metrics"]["examples"] == len(y_test)
    assert (
        report["dataset"]["splits"]["train"]["examples"] + report["dataset"]["splits"]["validation"]["examples"] == 1400
    )
    assert read_json(run / "preprocessing.json")["class_names"] == [f"digit-{d}" for d in range(10)]
    standalone = run_standalone(
        PREDICT_NPZ.format(model=run / "model.keras", prep=run / "preprocessing.json", data=tmp_path / "test.npz"),
        cwd=tmp_path,
    )
    assert standalone["accuracy"] == pytest.approx(report["test_metrics"]["accuracy"], abs=1e-9)


def test_hdf5_with_hyperband_respects_max_trials(tmp_path):
    x, y, _, _ = digits_arrays()
    with h5py.File(tmp_path / "digits.h5", "w") as handle:
        handle["x"], handle["y"] = x, y.astype("S")
    registry = tmp_path / "registry"
    done = invoke_vautoml(
        "search",
        "--plugin",
        "tiny-image",
        "--data",
        str(tmp_path / "digits.h5"),
        "--tuner",
        "hyperband",
        "--max-trials",
        "3",
        "--epochs",
        "3",
        "--registry",
        str(registry),
    )
    assert done.returncode == 0, done.stderr
    run = only_run(registry)
    assert len(read_json(run / "trials.json")) == 3
    assert read_json(run / "report.json")["search"]["tuner"] == "hyperband"


def doomed_model(hp, info):
    """Every model fails to train (NaN loss), to prove a failed search writes nothing."""
    import keras

    inputs = keras.Input(info.input_shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(hp.Int("units", 2, 64))(x)
    x = keras.layers.Rescaling(float("nan"))(x)
    outputs = keras.layers.Dense(info.num_classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_search_where_every_trial_fails_raises_and_leaves_no_run_only_the_trials_errors(tmp_path):
    plugins = digits_plugins("doomed", doomed_model)
    registry = tmp_path / "registry"
    (registry / "tiny-image" / "20260101-000000-abcdef").mkdir(parents=True)
    (registry / "tiny-image" / "20260101-000000-abcdef" / "report.json").write_text("{}")
    before = tree(registry)
    with pytest.raises(
        SearchError, match=r"all 3 trial\(s\) failed; first error: FailedTrialError: non-finite loss \(nan\)"
    ) as raised:
        search("doomed", plugins=plugins, max_trials=5, epochs=2, registry=registry, run_name="doomed-run")
    # The run folder, and the tuner state in it, are gone; what is left is the record of every trial's error.
    record = registry / ".failed" / "doomed-run"
    assert f"every trial's error is in {record / 'trials.json'}" in str(raised.value)
    assert [p for p in tree(registry) if not p.startswith(".failed")] == before
    trials = json.loads((record / "trials.json").read_text())
    assert [t["status"] for t in trials] == ["FAILED"] * 3 and all("non-finite loss" in t["error"] for t in trials)
    assert sorted(p.name for p in (record / "logs").iterdir()) == ["trial_0.csv", "trial_1.csv", "trial_2.csv"]
    nested = tmp_path / "new" / "deeper" / "registry"
    with pytest.raises(SearchError):
        search("doomed", plugins=plugins, max_trials=3, epochs=1, registry=nested)
    assert [p.relative_to(nested).parts[0] for p in nested.rglob("trials.json")] == [".failed"]


def unbuildable_model(hp, info):
    raise KeyError("missing layer config")


def test_model_builder_that_raises_is_a_clear_search_error(tmp_path):
    plugins = digits_plugins("unbuildable", unbuildable_model)
    with pytest.raises(SearchError) as raised:
        search("unbuildable", plugins=plugins, registry=tmp_path / "registry")
    assert str(raised.value).startswith(
        "the unbuildable model could not be built: KeyError: 'missing layer config' "
        "(in build_model of the 'unbuildable' vertical of plugin unbuildable (unpackaged 0))"
    )
    with pytest.raises(
        VautomlError, match="unknown tuner 'genetic'. Fix: use one of random, bayesian, hyperband, grid"
    ):
        search("unbuildable", plugins=plugins, tuner="genetic", registry=tmp_path / "registry")
    assert not (tmp_path / "registry").exists()


def test_time_budget_stops_starting_trials(tmp_path):
    result = search("tiny-image", max_trials=5, epochs=2, time_budget=0.01, registry=tmp_path / "registry")
    info = result.report["search"]
    assert info["trials"]["total"] == 1 and info["stopped_early"].startswith("time budget of 0.01s: no time left")
    assert info["settings"]["time_budget"] == info["time_budget_seconds"] == 0.01
    assert info["time_used_seconds"] > 0 and info["resumed"] is False
    assert result.report["model"]["ensemble"][0]["epochs"] == 1  # the running trial stopped at its first epoch end
