"""The search engine around KerasTuner: grid tuner, failed-trial limit, reproducible proposals, --no-refit."""

from __future__ import annotations

import json

from helpers import digits_plugins, only_run

from vertical_automl import heads
from vertical_automl.pipeline import search


def flaky_model(hp, info):
    """Grid search tries poison=False first (a fine model), then poison=True (NaN loss)."""
    import keras

    inputs = keras.Input(info.input_shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Rescaling(1 / 16)(x)
    if hp.Boolean("poison"):
        x = keras.layers.Rescaling(float("nan"))(x)
    x = keras.layers.Dense(16, activation="relu")(x)
    model = keras.Model(inputs, heads.output(x, info))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_failed_trial_limit_ends_the_search_and_still_exports_the_best_completed_trial(tmp_path):
    plugins = digits_plugins("flaky", flaky_model)
    result = search(
        "flaky",
        plugins=plugins,
        tuner="grid",
        max_trials=4,
        epochs=2,
        max_failed_trials=1,
        registry=tmp_path / "registry",
    )
    info = result.report["search"]
    assert info["trials"] == {"total": 2, "COMPLETED": 1, "FAILED": 1} and info["tuner"] == "grid"
    assert "consecutive" in info["stopped_early"].lower() or "failed" in info["stopped_early"].lower()
    trials = json.loads((only_run(tmp_path / "registry") / "trials.json").read_text())
    assert [t["hyperparameters"]["poison"] for t in trials] == [False, True]
    assert trials[1]["status"] == "FAILED" and "non-finite loss" in trials[1]["error"]
    assert result.report["best_hyperparameters"]["poison"] is False


def test_the_same_seed_proposes_the_same_trials(tmp_path):
    runs = [  # the default seed, 0, which KerasTuner itself would take for "no seed"
        search("tiny-image", max_trials=3, epochs=1, seed=0, refit=False, registry=tmp_path / f"r{i}").path
        for i in range(2)
    ]  # no refit: it comes after the trials compared here
    proposals = [[t["hyperparameters"] for t in json.loads((run / "trials.json").read_text())] for run in runs]
    assert proposals[0] == proposals[1] and len(proposals[0]) == 3
    assert proposals[0][0] != proposals[0][1]  # and they are not all the same point
    other = search("tiny-image", max_trials=3, epochs=1, seed=8, refit=False, registry=tmp_path / "r3").path
    assert [t["hyperparameters"] for t in json.loads((other / "trials.json").read_text())] != proposals[0]


def test_no_refit_exports_the_best_trials_own_weights(tmp_path):
    result = search("tiny-image", max_trials=2, epochs=2, refit=False, registry=tmp_path / "registry")
    model = result.report["model"]
    assert model["refit"] is False and "own weights" in model["training"] and "no refit" in model["training"]
    assert (result.path / "model.keras").exists() and result.report["test_metrics"]["accuracy"] > 0.3


def fragile_model(hp, info):
    """Grid search tries a fine model, then one too big to allocate (a real out-of-memory error), then a builder bug."""
    import keras

    mode = hp.Choice("mode", ["ok", "out_of_memory", "broken"])
    inputs = keras.Input(info.input_shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Rescaling(1 / 16)(x)
    if mode == "out_of_memory":
        x = keras.layers.Dense(2**19)(keras.layers.Dense(2**19)(x))  # a 2^38-float (1 TiB) kernel
    if mode == "broken":
        raise ValueError("this builder has a bug")
    model = keras.Model(inputs, heads.output(keras.layers.Dense(16, activation="relu")(x), info))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_out_of_memory_and_build_errors_fail_their_trial_and_the_search_goes_on(tmp_path):
    plugins = digits_plugins("fragile", fragile_model)
    result = search("fragile", plugins=plugins, tuner="grid", max_trials=3, epochs=2, registry=tmp_path / "registry")
    trials = json.loads((only_run(tmp_path / "registry") / "trials.json").read_text())
    assert [(t["hyperparameters"]["mode"], t["status"]) for t in trials] == [
        ("ok", "COMPLETED"),
        ("out_of_memory", "FAILED"),
        ("broken", "FAILED"),
    ]
    assert "allocate" in trials[1]["error"]
    assert trials[2]["error"].startswith(  # the plugin is named: the bug is there, not in vautoml
        "PluginCrash: fragile (unpackaged 0): build_model of the 'fragile' vertical failed: "
        "ValueError: this builder has a bug. Fix: this is a bug in the plugin"
    )
    assert (
        result.report["search"]["trials"] == {"total": 3, "COMPLETED": 1, "FAILED": 2}
        and result.report["search"]["stopped_early"] is None
    )
