"""Cross-validated selection: folds, the packed fold models, out-of-fold scores, and a search that uses them."""

from __future__ import annotations

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
from helpers import BLOCK_VAUTOML, invoke_vautoml, write_table

from vertical_automl import search
from vertical_automl.data.cross_validation import assign_folds, usable_folds
from vertical_automl.predictor import evaluate
from vertical_automl.search_engine import folds
from vertical_automl.search_engine.callbacks import PredictionSink
from vertical_automl.settings import CROSS_VALIDATED_ROWS, DEFAULT_FOLDS, SearchSettings


def test_folds_are_stratified_reproducible_and_cover_every_row_once():
    y = np.array([0] * 90 + [1] * 30)
    assigned = assign_folds(y, "binary", 5, seed=3)
    assert sorted(np.unique(assigned)) == [0, 1, 2, 3, 4]
    for fold in range(5):  # a fifth of each class in every fold
        assert np.sum((assigned == fold) & (y == 1)) == 6
        assert np.sum((assigned == fold) & (y == 0)) == 18
    assert np.array_equal(assigned, assign_folds(y, "binary", 5, seed=3))
    assert not np.array_equal(assigned, assign_folds(y, "binary", 5, seed=4))


def test_whole_groups_stay_in_one_fold():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(40), 3)
    y = rng.integers(0, 2, len(groups))
    assigned = assign_folds(y, "binary", 5, seed=0, groups=groups)
    for group in range(40):
        assert len(set(assigned[groups == group])) == 1
    regression = assign_folds(rng.normal(size=len(groups)), "regression", 4, seed=0, groups=groups)
    assert all(len(set(regression[groups == g])) == 1 for g in range(40))


def test_the_rarest_class_or_the_groups_limit_the_folds():
    assert usable_folds(5, np.array([0] * 50 + [1] * 3), "binary", None) == 3
    assert usable_folds(5, np.array([0] * 50 + [1] * 1), "binary", None) == 1
    assert usable_folds(5, np.arange(100.0), "regression", np.repeat(np.arange(4), 25)) == 4
    assert usable_folds(5, np.arange(100.0), "regression", None) == 5


def test_small_tables_and_text_are_cross_validated_by_default_and_nothing_else():
    default = SearchSettings()
    assert default.with_folds(800, "table", False).folds == DEFAULT_FOLDS
    assert default.with_folds(800, "text", False).folds == DEFAULT_FOLDS
    assert default.with_folds(CROSS_VALIDATED_ROWS + 1, "table", False).folds == 1
    # a time budget lowers the limit: 12 rows per second of it, at least 1,000 rows
    assert SearchSettings(time_budget=180).with_folds(2160, "table", False).folds == DEFAULT_FOLDS
    assert SearchSettings(time_budget=180).with_folds(2161, "table", False).folds == 1
    assert SearchSettings(time_budget=10).with_folds(1000, "table", False).folds == DEFAULT_FOLDS
    assert SearchSettings(time_budget=3600).with_folds(CROSS_VALIDATED_ROWS, "text", False).folds == DEFAULT_FOLDS
    assert default.with_folds(800, "image", False).folds == 1
    assert default.with_folds(800, "table", True).folds == 1  # folds would train on the future
    assert SearchSettings(folds=1).with_folds(800, "table", False).folds == 1
    assert SearchSettings(folds=8).with_folds(50_000, "image", False).folds == 8
    cross = default.with_folds(800, "table", False)
    assert cross.cross_validated and not cross.refits
    # A run saved before cross-validation existed resumes as it started: one validation split.
    saved = default.as_json()
    del saved["folds"]
    assert SearchSettings.from_json(saved).folds == 1
    assert SearchSettings.from_json(default.as_json()).folds is None


def _linear(features: int, seed: int) -> keras.Model:
    """A logistic regression whose layer has a fixed name, as every model built by ``heads.output`` has."""
    inputs = keras.Input((features,))
    initializer = keras.initializers.GlorotUniform(seed)
    layer = keras.layers.Dense(1, activation="sigmoid", kernel_initializer=initializer, name="output")
    model = keras.Model(inputs, layer(inputs))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy")
    return model


def _built_as_the_search_builds_them(count: int) -> list[keras.Model]:
    models = []
    for fold in range(count):
        with folds.fold_scope(fold):
            models.append(_linear(4, fold))
    return models


def test_each_fold_model_learns_from_every_row_but_its_own_folds():
    """Trained packed, fold model i ends exactly where the same model trained alone on rows outside fold i does.

    The copies' layers have the same names: before each was built in its fold's scope, the torch backend kept
    only the last fold's weights as parameters, and the others trained wrongly.
    """
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    assigned = assign_folds(y, "binary", 3, seed=0)
    packed = folds.pack(_built_as_the_search_builds_them(3))
    alone = [_linear(4, seed) for seed in range(3)]
    sink = folds.OutOfFold(x, y, assigned, "binary", "val_auc", "max", PredictionSink(), 64)
    folds.fit(packed, x, y, assigned, "binary", None, sink, batch_size=20, epochs=3, shuffle=False, verbose=0)
    for fold, model in enumerate(alone):
        model.fit(
            x, y, sample_weight=(assigned != fold).astype("float32"), batch_size=20, epochs=3, shuffle=False, verbose=0
        )
        for trained, reference in zip(folds.fold_models(packed)[fold].get_weights(), model.get_weights()):
            np.testing.assert_allclose(trained, reference, rtol=1e-5, atol=1e-6)


def test_fold_copies_that_share_weights_are_refused():
    with pytest.raises(TypeError, match="share output/bias .*build_model must make new layers on every call"):
        folds.pack([_linear(4, 0), _linear(4, 1)])  # built outside their folds' scopes: the same weight paths
    shared = _linear(4, 0)
    with pytest.raises(TypeError, match="have its own weights"):
        folds.pack([shared, keras.Model(shared.inputs, shared.outputs)])


def test_out_of_fold_scores_come_from_the_model_that_never_saw_the_row():
    x = np.zeros((9, 2), dtype="float32")
    y = np.array([0, 1, 0, 1, 0, 1, 0, 1, 1])
    assigned = np.array([0, 1, 2] * 3)
    models = []
    for fold in range(3):  # model i always answers sigmoid(i - 1)
        inputs = keras.Input((2,))
        layer = keras.layers.Dense(1, activation="sigmoid", kernel_initializer="zeros")
        models.append(keras.Model(inputs, layer(inputs)))
        models[-1].compile(optimizer="sgd", loss="binary_crossentropy")
        layer.bias.assign([fold - 1.0])
    scoring = folds.OutOfFold(x, y, assigned, "binary", "val_auc", "max", PredictionSink(), 32)
    scoring.set_model(folds.pack(models))
    scores = scoring.predict()
    expected = 1 / (1 + np.exp(-(assigned - 1.0)))
    np.testing.assert_allclose(scores[:, 1], expected, rtol=1e-6)
    logs: dict = {}
    scoring.add_metrics(logs, scores, True)
    assert set(logs) == {"val_loss", "val_accuracy", "val_auc"}


def test_the_export_averages_the_fold_models_in_stock_layers(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 4)).astype("float32")
    packed = folds.pack(_built_as_the_search_builds_them(4))
    averaged = folds.average(packed, "binary")
    expected = np.mean([m.predict(x, verbose=0) for m in folds.fold_models(packed)], axis=0)
    np.testing.assert_allclose(averaged.predict(x, verbose=0), expected, rtol=1e-5)
    path = tmp_path / "model.keras"
    averaged.save(path)
    np.save(tmp_path / "x.npy", x)
    code = BLOCK_VAUTOML + (
        "import os, numpy as np; os.environ['KERAS_BACKEND'] = 'torch'\n"
        "import keras\n"
        f"m = keras.saving.load_model({str(path)!r}, safe_mode=True)\n"
        f"print(float(m.predict(np.load({str(tmp_path / 'x.npy')!r}), verbose=0).sum()))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout.strip().splitlines()[-1]) == pytest.approx(float(expected.sum()), rel=1e-5)


def test_a_cross_validated_search_chooses_out_of_fold_and_exports_what_it_scored(tmp_path):
    """Default settings on 300 rows: 5 folds, no refit, and evaluating the export gives the report's test metrics."""
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    write_table(train, 300, 0)
    write_table(test, 120, 1)
    runs = [
        search("tiny-table", train, test_data=test, max_trials=2, epochs=4, registry=tmp_path / f"r{i}")
        for i in range(2)
    ]
    report = runs[0].report
    assert report["search"]["settings"]["folds"] == 5 and report["model"]["refit"] is False
    assert "5 folds of the 300 train+validation examples" in report["model"]["training"]
    assert report["test_metrics"]["binary"]["roc_auc"] > 0.75
    evaluated = evaluate(runs[0].path, test)
    assert json.dumps(evaluated["test_metrics"], sort_keys=True) == json.dumps(report["test_metrics"], sort_keys=True)
    # the same seed and data: the same trials, scores and export
    trials = [json.loads((run.path / "trials.json").read_text()) for run in runs]
    assert [(t["hyperparameters"], t["score"], t["best_epoch"]) for t in trials[0]] == [
        (t["hyperparameters"], t["score"], t["best_epoch"]) for t in trials[1]
    ]
    assert runs[0].report["test_metrics"] == runs[1].report["test_metrics"]


def test_folds_are_refused_with_a_time_ordered_split_and_out_of_range(tmp_path):
    train = tmp_path / "train.csv"
    write_table(train, 200, 0)
    ordered = invoke_vautoml(
        "search", "--plugin", "tiny-table", "--data", str(train), "--folds", "5", "-O", "order=a",
        "--registry", str(tmp_path / "r"),
    )  # fmt: skip
    assert ordered.returncode == 2 and "time-ordered split" in ordered.stderr and "--folds 1" in ordered.stderr
    assert "Traceback" not in ordered.stderr
    zero = invoke_vautoml("search", "--plugin", "tiny-table", "--data", str(train), "--folds", "0")
    assert zero.returncode == 2 and "--folds" in zero.stderr


def test_packed_multiclass_tabm_folds_train_with_their_masks_per_member():
    """A multiclass TabM's loss keeps the member axis, so each fold's mask is repeated per member (it failed before)."""
    import keras_tuner as kt
    from test_trees import table

    from vertical_automl import blocks

    x, y, info = table("multiclass", rows=300)
    hp = kt.HyperParameters()
    hp.values.update({**blocks.TABULAR_RECIPES[0], "members": 8})
    copies = []
    for index in range(3):
        with folds.fold_scope(index):
            copies.append(blocks.tabular_model(hp, info, widths=(16,)))
    packed = folds.pack(copies)
    assigned = np.arange(len(y)) % 3
    scoring = folds.OutOfFold(x, y, assigned, "multiclass", "val_accuracy", "max", PredictionSink(), 64)
    history = folds.fit(packed, x, y, assigned, "multiclass", None, scoring, epochs=2, batch_size=64, verbose=0)
    assert len(history.history["val_accuracy"]) == 2 and history.history["val_accuracy"][-1] > 0.3
