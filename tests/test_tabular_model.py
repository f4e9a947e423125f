"""The shared tabular model: robust scaling, piecewise-linear embeddings, TabM members, and their export."""

from __future__ import annotations

import keras
import keras_tuner as kt
import numpy as np
import pytest
from helpers import run_standalone

from vertical_automl import blocks, heads
from vertical_automl.data.dataset import DatasetInfo
from vertical_automl.data.table_encoder import QUANTILE_LEVELS, ROWS_PER_QUANTILE, table_statistics
from vertical_automl.scoring import predict_scores
from vertical_automl.search_engine.ensembling import single_output


def skewed_table(rows: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray, DatasetInfo]:
    """A log-normal column (skewed), a normal one and a 0/1 column, with statistics as TableEncoder makes them."""
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.lognormal(0, 2, rows), rng.normal(5, 2, rows), rng.integers(0, 2, rows)]).astype(
        np.float32
    )
    y = ((np.log(x[:, 0]) + x[:, 1] - 5 + x[:, 2] + rng.normal(0, 1, rows)) > 0.5).astype(np.int64)
    statistics = table_statistics(x)
    return x, y, DatasetInfo("binary", (3,), ("no", "yes"), statistics=statistics)


def model_for(info: DatasetInfo, **values: object) -> keras.Model:
    hp = kt.HyperParameters()
    hp.values.update(values)
    return blocks.tabular_model(hp, info)


def test_piecewise_linear_encoding_is_the_papers_formula_on_training_quantiles():
    x, _, info = skewed_table()
    model = model_for(info, architecture="mlp", numeric_embedding="piecewise_linear", bins=8)
    encoded = keras.Model(model.inputs, model.get_layer("piecewise_linear_clip").output).predict(x, verbose=0)
    expected = []
    for feature in (0, 1):  # the 0/1 column has one bin and is left to the scaled features
        quantiles = np.asarray(info.statistics["quantiles"][feature])
        edges = np.unique(quantiles[np.round(np.linspace(0, len(quantiles) - 1, 9)).astype(int)])
        expected += [
            np.clip((x[:, feature] - left) / (right - left), 0, 1) for left, right in zip(edges[:-1], edges[1:])
        ]
    assert encoded.shape == (len(x), 16)
    assert np.allclose(encoded, np.column_stack(expected), atol=1e-5)


def test_small_tables_keep_fewer_quantiles_so_no_bin_is_a_handful_of_rows():
    for rows, levels in ((400, 400 // ROWS_PER_QUANTILE), (50_000, QUANTILE_LEVELS)):
        x = np.random.default_rng(0).normal(size=(rows, 2))
        assert len(table_statistics(x)["quantiles"][0]) == levels + 1
    x, _, info = skewed_table()  # 25 quantiles: 96 bins asked for, one per quantile given
    model = model_for(info, architecture="mlp", numeric_embedding="piecewise_linear", bins=96)
    assert model.get_layer("piecewise_linear_bins").units == 2 * 400 // ROWS_PER_QUANTILE


def test_robust_scaling_keeps_a_skewed_columns_tail_bounded():
    x, _, info = skewed_table()
    model = model_for(info, architecture="mlp", numeric_embedding="none")
    scaled = keras.Model(model.inputs, model.get_layer("smooth_clip").output).predict(x, verbose=0) * 3
    assert np.abs(scaled).max() < 3.0
    assert np.corrcoef(scaled[:, 0], np.argsort(np.argsort(x[:, 0])))[0, 1] > 0.8  # order kept, tail squashed


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_tabm_trains_each_member_on_its_loss_and_exports_their_mean_in_plain_keras(task, tmp_path):
    x, y, info = skewed_table()
    if task == "regression":
        target = x[:, 1] * 3.0 + 10.0
        info = DatasetInfo(
            "regression",
            (3,),
            (),
            statistics={**info.statistics, "target_mean": float(target.mean()), "target_std": float(target.std())},
        )
        y = target
    if task == "multiclass":  # three classes: the binary label, split by the sign of the normal column
        y = y * 2 - (y == 1) * (x[:, 1] < 5)
        info = DatasetInfo("multiclass", (3,), ("a", "b", "c"), statistics=info.statistics)
    keras.utils.set_random_seed(0)
    model = model_for(
        info,
        architecture="tabm",
        numeric_embedding="piecewise_linear",
        bins=8,
        members=8,
        depth=1,
        width=32,
        dropout=0.0,
        optimizer="adam",
        learning_rate=3e-3,
    )
    assert heads.has_members(model) and model.outputs[0].shape[1] == 8
    targets = heads.targets(y, task, model)
    assert targets.shape == (len(y), 8)  # each member against its own copy of the labels
    model.fit(x, targets, epochs=15, batch_size=32, verbose=0)
    members = model.predict(x, verbose=0)
    assert members.std(axis=1).mean() > 1e-4  # the members differ
    mean = members.mean(axis=1)
    exported = single_output(model, task)
    assert not heads.has_members(exported)
    out = exported.predict(x, verbose=0)
    assert np.allclose(out if task == "multiclass" else out[:, 0], mean, atol=1e-5)
    scores = predict_scores(model, x, task)
    assert np.allclose(scores[:, 1] if task == "binary" else scores, mean, atol=1e-5)
    if task == "binary":
        from sklearn.metrics import roc_auc_score

        assert roc_auc_score(y, mean) > 0.8
    elif task == "multiclass":
        assert np.mean(mean.argmax(axis=1) == y) > 0.7
    else:
        assert np.mean(np.abs(mean - y)) < 2.0  # in the target's own units (std 6)
    exported.save(tmp_path / "model.keras")
    np.save(tmp_path / "x.npy", x)
    out = run_standalone(
        """
        import json, keras, numpy as np
        model = keras.saving.load_model("model.keras")  # safe mode: stock layers only
        print(json.dumps({"p": model.predict(np.load("x.npy"), verbose=0).tolist()}))
        """,
        tmp_path,
    )
    assert np.allclose(np.asarray(out["p"]).reshape(mean.shape), mean, atol=1e-5)


def test_every_recipe_builds_a_model_that_uses_its_values():
    _, _, info = skewed_table()
    for recipe in blocks.TABULAR_RECIPES:
        hp = kt.HyperParameters()
        hp.values.update(recipe)
        model = blocks.tabular_model(hp, info)
        assert heads.has_members(model) == (recipe["architecture"] == "tabm")
        assert ("piecewise_linear_bins" in [layer.name for layer in model.layers]) == (
            recipe["numeric_embedding"] == "piecewise_linear"
        )
        used = {name: hp.values[name] for name in recipe if hp.is_active(name)}
        assert used == {name: recipe[name] for name in used} and "optimizer" in used
        assert ("depth" in used) == (recipe["architecture"] in ("tabm", "mlp"))
        assert ("linear_l2" in used) == (recipe["architecture"] == "linear")
        assert ("tree_leaves" in used) == (recipe["architecture"] == "trees")


def test_a_regression_penalty_weighs_the_same_whatever_the_targets_units():
    """The loss is the standardised target's squared error, so a searched L2 is not lost against house prices."""
    from vertical_automl.search_engine import folds

    x, y, _ = skewed_table()
    statistics = table_statistics(x)
    losses = []
    for std in (1.0, 1e5):
        info = DatasetInfo("regression", (3,), (), statistics={**statistics, "target_mean": 0.0, "target_std": std})
        keras.utils.set_random_seed(0)
        model = model_for(info, architecture="linear", numeric_embedding="none", linear_l2=3e-2)
        target = std * (y - 0.5).reshape(-1, 1).astype(np.float32)
        losses.append(float(keras.ops.convert_to_numpy(model.compute_loss(x=x, y=target, y_pred=model(x)))))
        copies = []
        for index in range(2):
            with folds.fold_scope(index):
                copies.append(model_for(info, architecture="linear", numeric_embedding="none", linear_l2=3e-2))
        assert folds.pack(copies).get_compile_config()["loss_weights"] == [1 / std**2] * 2
    assert losses[1] == pytest.approx(losses[0], rel=1e-4)
