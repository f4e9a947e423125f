"""Boosted trees as stock layers: the compiled model predicts what scikit-learn's booster predicts, and exports."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import keras
import keras_tuner as kt
import numpy as np
import pytest
from helpers import run_standalone, write_table

from vertical_automl import blocks, trees
from vertical_automl.data.dataset import DatasetInfo
from vertical_automl.data.table_encoder import table_statistics
from vertical_automl.pipeline import search
from vertical_automl.search_engine.callbacks import Deadline, TrialOutOfTime
from vertical_automl.search_engine.hypermodel import VerticalHyperModel
from vertical_automl.settings import SearchSettings
from vertical_automl.training import fit as train

RECIPE = next(recipe for recipe in blocks.TABULAR_RECIPES if recipe["architecture"] == "trees")
FOREST = next(recipe for recipe in blocks.TABULAR_RECIPES if recipe["architecture"] == "forest")


def table(task: str, rows: int = 1200, seed: int = 0) -> tuple[np.ndarray, np.ndarray, DatasetInfo]:
    """Skewed, rounded (repeated values), normal and 0/1 columns; a target the trees need several splits for."""
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [
            rng.lognormal(0, 2, rows),
            np.round(rng.normal(5, 2, rows), 1),
            rng.normal(0, 1, rows),
            rng.integers(0, 2, rows),
        ]
    ).astype(np.float32)
    signal = np.log(x[:, 0]) + np.sin(x[:, 1]) * 2 + x[:, 2] * x[:, 3] + rng.normal(0, 0.5, rows)
    statistics = table_statistics(x)
    if task == "regression":
        y = (signal * 100 + 1000).astype(np.float32)
        statistics = {**statistics, "target_mean": float(y.mean()), "target_std": float(y.std())}
        return x, y, DatasetInfo("regression", (4,), (), statistics=statistics)
    if task == "binary":
        return x, (signal > 0.5).astype(np.int64), DatasetInfo("binary", (4,), ("no", "yes"), statistics=statistics)
    y = np.digitize(signal, np.quantile(signal, [0.25, 0.5, 0.75])).astype(np.int64)
    return x, y, DatasetInfo("multiclass", (4,), ("a", "b", "c", "d"), statistics=statistics)


def trees_model(info: DatasetInfo, recipe: dict = RECIPE, **values: object) -> tuple[keras.Model, kt.HyperParameters]:
    hp = kt.HyperParameters()
    hp.values.update({**recipe, **values})
    return blocks.tabular_model(hp, info), hp


def booster_scores(booster, x: np.ndarray, task: str) -> np.ndarray:
    if task == "regression":
        return booster.predict(x).reshape(-1, 1)
    probabilities = booster.predict_proba(x)
    return probabilities[:, 1:] if task == "binary" else probabilities


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_the_compiled_trees_predict_what_the_booster_predicts_on_seen_and_unseen_rows(task):
    x, y, info = table(task)
    unseen, _, _ = table(task, rows=2000, seed=1)
    model, hp = trees_model(info)
    booster = trees.fit_trees(model, hp, x[:1000], y[:1000], info, seed=0)
    assert booster.n_iter_ > 5  # real trees, not a baseline alone
    seen = model.predict(x[:1000], verbose=0).reshape(1000, -1)
    assert np.allclose(seen, booster_scores(booster, x[:1000], task), rtol=1e-4, atol=1e-5)
    # unseen values follow the booster's cut to within a thousandth of the distance to the next training value
    close = np.isclose(
        model.predict(unseen, verbose=0).reshape(len(unseen), -1), booster_scores(booster, unseen, task), atol=1e-4
    ).all(axis=1)
    assert close.mean() > 0.995


def forest_scores(forest, x: np.ndarray, task: str) -> np.ndarray:
    """The forest as the model computes it: scikit-learn's own mean for regression, else the mean log of the
    Laplace-smoothed class shares of the leaves each row reaches, normalised (a sigmoid of the log-odds for binary)."""
    if task == "regression":
        return forest.predict(x).reshape(-1, 1)
    logs = 0.0
    for estimator in forest.estimators_:
        tree, leaf = estimator.tree_, estimator.apply(x)
        rows = tree.weighted_n_node_samples[leaf][:, None]
        logs = logs + np.log((tree.value[leaf, 0, :] * rows + 1) / (rows + tree.value.shape[-1]))
    logs = logs / len(forest.estimators_)
    if task == "binary":
        return 1 / (1 + np.exp(logs[:, :1] - logs[:, 1:]))
    odds = np.exp(logs - logs.max(axis=1, keepdims=True))
    return odds / odds.sum(axis=1, keepdims=True)


@pytest.mark.parametrize(("task", "kind"), [("binary", "extra"), ("multiclass", "random"), ("regression", "extra")])
def test_the_compiled_forest_predicts_what_its_trees_predict_on_seen_and_unseen_rows(task, kind):
    x, y, info = table(task)
    unseen, _, _ = table(task, rows=2000, seed=1)
    model, hp = trees_model(info, FOREST, forest_kind=kind)
    forest = trees.fit_trees(model, hp, x[:1000], y[:1000], info, seed=0)
    assert len(forest.estimators_) == trees.FOREST_TREES and forest.estimators_[0].tree_.n_leaves > 32
    seen = model.predict(x[:1000], verbose=0).reshape(1000, -1)
    assert np.allclose(seen, forest_scores(forest, x[:1000], task), rtol=1e-4, atol=1e-4)
    close = np.isclose(
        model.predict(unseen, verbose=0).reshape(len(unseen), -1), forest_scores(forest, unseen, task), atol=1e-4
    ).all(axis=1)
    assert close.mean() > 0.995
    if task == "binary":  # the smoothed log-average ranks rows as the forest's own mean of shares does
        from sklearn.metrics import roc_auc_score

        _, y_unseen, _ = table(task, rows=2000, seed=1)
        theirs = roc_auc_score(y_unseen, forest.predict_proba(unseen)[:, 1])
        assert abs(roc_auc_score(y_unseen, model.predict(unseen, verbose=0).ravel()) - theirs) < 0.01


def categorical_table(rows: int = 1500, seed: int = 0) -> tuple[np.ndarray, np.ndarray, DatasetInfo, np.ndarray]:
    """A number, then a one-hot block of 5 categories (and the 'other' slot) with positive rates out of slot order."""
    rng = np.random.default_rng(seed)
    category = rng.integers(0, 5, rows)
    rates = np.array([0.5, 0.1, 0.9, 0.3, 0.7])
    number = rng.normal(0, 1, rows)
    y = (rng.random(rows) < np.clip(rates[category] + 0.1 * number, 0, 1)).astype(np.int64)
    x = np.column_stack([number, np.eye(6)[category]]).astype(np.float32)
    statistics = {**table_statistics(x), "one_hot_blocks": [[1, 6]]}
    return x, y, DatasetInfo("binary", (7,), ("no", "yes"), statistics=statistics), rates


@pytest.mark.parametrize("recipe", [RECIPE, FOREST], ids=["boosted", "forest"])
def test_a_one_hot_block_is_read_as_one_code_ordered_by_the_positive_rate_and_still_compiles_exactly(recipe):
    x, y, info, rates = categorical_table()
    codes = trees.category_codes(x, y, info)
    assert codes.shape == (7, 2) and codes[0, 1] == 1.0  # the block's code, then the number as it is
    assert list(np.argsort(codes[1:6, 0])) == list(np.argsort(rates))  # lowest positive rate first
    model, hp = trees_model(info, recipe)
    fitted = trees.fit_trees(model, hp, x, y, info, seed=0)
    assert fitted.n_features_in_ == 2
    unseen, _, _, _ = categorical_table(seed=1)
    predicted = model.predict(unseen, verbose=0).reshape(-1, 1)
    read = unseen @ codes
    expected = booster_scores(fitted, read, "binary") if recipe is RECIPE else forest_scores(fitted, read, "binary")
    assert np.isclose(predicted, expected, atol=1e-4).mean() > 0.995  # unseen numbers may fall inside a cut's ramp
    multiclass = DatasetInfo("multiclass", (7,), ("a", "b", "c"), statistics=info.statistics)
    assert np.array_equal(trees.category_codes(x, y % 3, multiclass), np.eye(7))  # no one order: read as it is


@pytest.mark.parametrize("seed", [32, 33, 35, 37])
def test_small_folds_compile_exactly_with_held_out_rows_near_a_cut_and_cuts_a_float32_cannot_hold(seed):
    # 228 rows, a 2-fold's share of breast cancer: the booster's early-stopping rows sit anywhere between its
    # bins, some a hair above a cut, and some cuts lie closer to a value than float32 can tell apart.  Both
    # made the compiled trees disagree with the booster in a third of such fits (the trial failed).
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import HistGradientBoostingClassifier

    features, labels = load_breast_cancer(return_X_y=True)
    features = ((features - features.mean(0)) / features.std(0)).astype(np.float32)
    rows = np.random.default_rng(seed).choice(len(features), 228, replace=False)
    x, y = features[rows], labels[rows]
    for leaves, min_leaf in ((31, 20), (15, 5)):
        booster = HistGradientBoostingClassifier(
            max_iter=300, max_leaf_nodes=leaves, min_samples_leaf=min_leaf, early_stopping=True, random_state=0
        ).fit(x, y)
        tables, baseline = trees.booster_tables(booster, 1)
        weights = trees.compile_trees(tables, x, (300, leaves - 1, leaves), 1, baseline)
        assert np.allclose(trees.raw_scores(weights, x), booster._raw_predict(x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("recipe", [RECIPE, FOREST], ids=["boosted", "forest"])
def test_only_the_head_trains_and_the_export_loads_in_plain_keras(tmp_path, recipe):
    x, y, info = table("binary")
    model, hp = trees_model(info, recipe, tree_iterations=150, tree_leaves=15)
    prefix = trees.family(model)
    trees.fit_trees(model, hp, x, y, info, seed=0)
    frozen = {
        layer.name: [w.copy() for w in layer.get_weights()] for layer in model.layers if "_output" not in layer.name
    }
    history = train(model, x, y, epochs=2, batch_size=64, verbose=0)
    assert history.params["training_step"] == "own"
    for layer in model.layers:
        for before, after in zip(frozen.get(layer.name, []), layer.get_weights()):
            assert np.array_equal(before, after), layer.name
    assert [w.path for w in model.trainable_weights] == [f"{prefix}_output/kernel", f"{prefix}_output/bias"]
    path = tmp_path / "trees.keras"
    model.save(path)
    np.save(tmp_path / "x.npy", x[:50])
    expected = model.predict(x[:50], verbose=0)
    loaded = run_standalone(
        f"""
        import json, numpy as np, keras
        model = keras.saving.load_model({str(path)!r}, safe_mode=True)
        print(json.dumps(model.predict(np.load("x.npy"), verbose=0).tolist()))
        """,
        cwd=tmp_path,
    )
    assert np.abs(np.array(loaded) - expected).max() < 1e-6


def test_a_fold_without_one_of_the_classes_is_refused_in_words():
    x, y, info = table("multiclass")
    model, hp = trees_model(info)
    with pytest.raises(ValueError, match="boosted trees need every class among the rows they train on"):
        trees.fit_trees(model, hp, x, y, info, seed=0, rows=y != 3)


def test_a_model_without_trees_is_left_alone():
    x, y, info = table("binary")
    model, hp = trees_model(info, architecture="linear")
    before = [w.copy() for w in model.get_weights()]
    assert trees.fit_trees(model, hp, x, y, info, seed=0) is None
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_many_features_or_classes_keep_the_model_within_its_size_cap():
    assert trees.tree_count(300, 1, 20, 31) == 300
    assert trees.tree_count(300, 7, 20, 31) == 595  # 85 iterations of 7 trees, within MAX_TREES
    capped = trees.tree_count(300, 1, 1000, 63)
    assert capped * 62 * 1000 <= trees.MAX_FEATURE_NODES


def test_training_the_head_of_a_regression_in_dollars_keeps_the_boosters_predictions():
    """The head sees standardised scores: trained on raw dollars, one Adam step moved its weight fourfold."""
    x, y, info = table("regression")
    model, hp = trees_model(info)
    booster = trees.fit_trees(model, hp, x, y, info, seed=0)
    before = np.abs(booster.predict(x) - y).mean()
    train(model, x, y, epochs=3, batch_size=64, verbose=0)
    after = np.abs(model.predict(x, verbose=0).ravel() - y).mean()
    assert after < 1.1 * before


def test_a_trial_stops_before_trees_it_has_no_time_to_fit(monkeypatch):
    """Trees are fitted before the first epoch, where no epoch end can stop a trial: each fit asks the deadline first.

    The next fit is expected to take as long per boosting iteration as the last one in this process.
    """
    x, y, info = table("binary", rows=400)
    model, hp = trees_model(info, tree_iterations=100, tree_leaves=15)
    members = [(model, None), (trees_model(info)[0], None), (trees_model(info)[0], None)]
    fitted = []
    fit = trees.fit_trees
    monkeypatch.setattr(trees, "fit_trees", lambda member, *a, **k: fitted.append(member) or fit(member, *a, **k))
    hypermodel = object.__new__(VerticalHyperModel)
    hypermodel.dataset, hypermodel.settings = SimpleNamespace(info=info), SearchSettings(seed=0)
    hypermodel.seconds_per_tree_iteration, hypermodel.last_tree_seconds = 0.0, 0.0
    spent, ample = Deadline(lambda: time.monotonic() - 1.0), Deadline(lambda: time.monotonic() + 3600.0)
    # Nothing to go by yet: the first fit goes ahead, the next is refused.
    with pytest.raises(TrialOutOfTime, match="the time budget ran out before its trees were fitted"):
        hypermodel.fit_trees(members, hp, x, y, None, spent)
    assert fitted == [model] and hypermodel.seconds_per_tree_iteration > 0
    fitted.clear()
    with pytest.raises(TrialOutOfTime):  # now known: not even the first
        hypermodel.fit_trees(members, hp, x, y, None, spent)
    assert fitted == []
    # The run's first trial fits them all whatever the time (there must be a model to export), as does one with time.
    for deadline in (Deadline(lambda: time.monotonic() - 1.0, first_trial=True), ample, None):
        hypermodel.last_tree_seconds = 0.0
        hypermodel.fit_trees(members, hp, x, y, None, deadline)
        assert fitted == [m for m, _ in members] and hypermodel.last_tree_seconds > 0
        fitted.clear()


def test_a_trees_trial_the_budget_has_no_room_for_ends_stopped_and_the_search_still_exports(tmp_path, monkeypatch):
    """The budget is spent from the first epoch end on: the first trial completes, the trees recipe stops untrained."""
    monkeypatch.setattr(Deadline, "leaves_room_for", lambda self, seconds: False)
    write_table(tmp_path / "train.csv", 240, 0)
    result = search(
        "finance",
        tmp_path / "train.csv",
        data_options={"target_column": "label"},
        max_trials=4,
        epochs=3,
        folds=2,
        time_budget=3600,
        workers=1,
        registry=tmp_path / "registry",
    )
    trials = json.loads((result.path / "trials.json").read_text())
    assert [(t["status"], t["hyperparameters"]["architecture"]) for t in trials] == [
        ("COMPLETED", "tabm"),
        ("STOPPED", "trees"),
    ]
    assert trials[1]["error"].startswith("the time budget ran out before its trees were fitted")
    assert result.report["search"]["trials"] == {"total": 2, "COMPLETED": 1, "STOPPED": 1}
    assert result.report["search"]["stop_reason"].startswith("the time budget (3600s) was used")
