"""Boosted trees and forests as stock Keras layers: scikit-learn's trees fitted, then written into weights.

Why: on tables boosted trees are the strongest single family, and networks
and trees averaged beat either (AutoGluon's ensembles are built on that);
our baselines include HistGradientBoosting, and a search that cannot offer
trees loses to it on most mid-sized tables.  An export must still be stock
Keras (it loads in safe mode, in a process without vautoml), so the fitted
trees are compiled into frozen layers, in the matrix form of Hummingbird
(Nakandala et al., OSDI 2020; the steps, and the weights, in
:mod:`vertical_automl.tree_weights`): frozen ``Dense`` and ``EinsumDense``
layers select each split's feature, compare it with the cut, route each row
to its leaf and sum the leaves' values, under the task's head started at the
identity: the one trainable layer, a calibration the search trains and early
stopping judges (for regression the sum is in standardised units, as the head
expects: on prices in dollars one Adam step would be four times the head's weight).

Two families: scikit-learn's HistGradientBoosting (:func:`boosted_trees`) and
its ExtraTrees or RandomForest (:func:`random_forest`).  The trees are fitted
by :func:`fit_trees`, which the search calls before the first epoch, on the
rows the model trains on (each fold model on its own).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from . import heads
from .data.dataset import DatasetInfo
from .tree_weights import Table, booster_tables, compile_trees, raw_scores

if TYPE_CHECKING:  # pragma: no cover
    import keras
    import keras_tuner

PREFIX = "boosted_trees"
LEAVES = (31, 15, 63)  # max_leaf_nodes: scikit-learn's default first
LEARNING_RATES = (0.1, 0.05)
# max_iter.  Early stopping is scikit-learn's own default ("auto"): only above 10,000 rows, on a tenth of them;
# below, every row of the fold trains the trees (as the baselines' do), and the search judges the count instead.
ITERATIONS = (100, 300, 150)
MIN_LEAF = (20, 5, 50)  # min_samples_leaf
L2 = (0.0, 1.0, 10.0)  # l2_regularization
MAX_TREES = 600  # trees of all classes together: a multiclass model grows one tree per class per iteration
# Epochs of a trial whose model has trees: only the head trains, and it calibrates in a few, while every epoch
# runs all the trees (measured on obesity levels, 7 classes: 36 epochs and 135 s where the first few held the score).
HEAD_EPOCHS = 8
MAX_FEATURE_NODES = 4_000_000  # the select kernel (features x nodes, float32): 16 MB per model at most
# A random forest (:func:`random_forest`): scikit-learn's ExtraTrees or RandomForest with capped leaves, each leaf's
# class shares Laplace-smoothed and averaged as logarithms, so the sum layer gives logits the head starts from.
FOREST = "forest"  # its layers' name prefix
FOREST_TREES = 100
FOREST_KINDS = ("extra", "random")
FOREST_LEAVES = (64, 32, 128)  # max_leaf_nodes
FOREST_MIN_LEAF = (3, 1, 5)  # min_samples_leaf
FAMILIES = (PREFIX, FOREST)


def boosted_trees(hp: keras_tuner.HyperParameters, inputs: keras.KerasTensor, info: DatasetInfo) -> keras.KerasTensor:
    """The layers of a boosted-trees model over ``inputs`` (the model's encoded features), ending in the task's head.

    Searched: leaves per tree, learning rate, iterations, minimum rows per
    leaf and L2 on the leaf values (scikit-learn's names, ``tree_`` first).
    The weights are placeholders until :func:`fit_trees`.
    """
    leaves = int(hp.Choice("tree_leaves", list(LEAVES)))
    hp.Choice("tree_learning_rate", list(LEARNING_RATES))
    iterations = int(hp.Choice("tree_iterations", list(ITERATIONS)))
    hp.Choice("tree_min_leaf", list(MIN_LEAF))
    hp.Choice("tree_l2", list(L2))
    features, outputs = int(inputs.shape[-1]), _outputs(info)
    x = _tree_layers(inputs, tree_count(iterations, outputs, features, leaves), leaves, outputs, PREFIX)
    return heads.output(x, info, name=f"{PREFIX}_output")


def random_forest(hp: keras_tuner.HyperParameters, inputs: keras.KerasTensor, info: DatasetInfo) -> keras.KerasTensor:
    """The layers of a random forest over ``inputs`` (the model's encoded features), ending in the task's head.

    Why, beside boosted trees: on tables of a few hundred rows a forest of
    small trees beat both boosting and our networks (offline, 3 splits each:
    ExtraTrees with 64 leaves of at least 3 rows, test ROC-AUC 0.797 on horse
    colic, 0.819 on german credit, 0.845 on pima, against 0.784, 0.811 and
    0.825 for scikit-learn's default forest).  Searched: ExtraTrees or
    RandomForest, leaves per tree and minimum rows per leaf (``forest_`` first).
    The weights are placeholders until :func:`fit_trees`.
    """
    hp.Choice("forest_kind", list(FOREST_KINDS))
    leaves = int(hp.Choice("forest_leaves", list(FOREST_LEAVES)))
    hp.Choice("forest_min_leaf", list(FOREST_MIN_LEAF))
    features, outputs = int(inputs.shape[-1]), _outputs(info)
    x = _tree_layers(inputs, tree_count(FOREST_TREES, 1, features, leaves), leaves, outputs, FOREST)
    return heads.output(x, info, name=f"{FOREST}_output")


def _tree_layers(inputs: keras.KerasTensor, trees: int, leaves: int, outputs: int, prefix: str) -> keras.KerasTensor:
    """Select, compare, route and sum (the module's steps 1-4), frozen: the trees' raw score per output."""
    import keras

    nodes, frozen = leaves - 1, {"trainable": False}
    x = keras.layers.Dense(trees * nodes, name=f"{prefix}_select", **frozen)(inputs)
    x = keras.layers.EinsumDense("bn,n->bn", (trees * nodes,), bias_axes="n", name=f"{prefix}_compare", **frozen)(x)
    x = keras.layers.ReLU(max_value=1.0, name=f"{prefix}_left")(x)
    x = keras.layers.Reshape((trees, nodes))(x)
    x = keras.layers.EinsumDense("btn,tnl->btl", (trees, leaves), bias_axes="tl", name=f"{prefix}_route", **frozen)(x)
    x = keras.layers.ReLU(name=f"{prefix}_leaf")(x)
    return keras.layers.EinsumDense("btl,tlk->bk", (outputs,), bias_axes="k", name=f"{prefix}_sum", **frozen)(x)


def tree_count(iterations: int, outputs: int, features: int, leaves: int) -> int:
    """Tree slots in the model: ``iterations`` per output, within :data:`MAX_TREES` and the select kernel's size."""
    by_size = MAX_FEATURE_NODES // max(1, features * (leaves - 1))
    return max(outputs, min(iterations * outputs, MAX_TREES, by_size) // outputs * outputs)


def _outputs(info: DatasetInfo) -> int:
    return int(info.num_classes) if info.task == "multiclass" else 1


def family(model: keras.Model) -> str | None:
    """Which kind of trees ``model`` (not the models nested in it) holds: :data:`PREFIX`, :data:`FOREST` or ``None``."""
    names = {layer.name for layer in model.layers}
    return next((prefix for prefix in FAMILIES if f"{prefix}_select" in names), None)


def has_trees(model: keras.Model) -> bool:
    """Whether ``model`` (not the models nested in it) holds :func:`boosted_trees` or :func:`random_forest` layers."""
    return family(model) is not None


def work_units(hp: keras_tuner.HyperParameters) -> int:
    """What a trees fit's time grows with: boosting iterations, or a forest's trees (the budget's unit of estimate)."""
    return int(hp.values["tree_iterations"]) if "tree_iterations" in hp.values else FOREST_TREES


def fit_trees(
    model: keras.Model,
    hp: keras_tuner.HyperParameters,
    x: Any,
    y: np.ndarray,
    info: DatasetInfo,
    seed: int,
    sample_weight: np.ndarray | None = None,
    rows: np.ndarray | None = None,
) -> Any:
    """Fit the model's trees on ``x``/``y`` (``rows`` of them: those ``model`` trains on), write them in, return them.

    ``None`` (nothing done) for a model without trees.  scikit-learn's
    threads are held to torch's, so parallel workers do not oversubscribe the
    cores.  The compiled layers are checked against scikit-learn's own
    routing of the first rows, since the tree formats read here (a booster's
    ``_predictors`` and ``_baseline_prediction``) are partly private.
    """
    prefix = family(model)
    if prefix is None:
        return None
    import torch
    from threadpoolctl import threadpool_limits

    layers = {layer.name[len(prefix) + 1 :]: layer for layer in model.layers if layer.name.startswith(prefix + "_")}
    if not isinstance(x, np.ndarray) or layers["select"].input is not model.inputs[0]:
        raise TypeError(f"{prefix} must read the model's one input, an array of encoded features")
    shape = tuple(int(n) for n in layers["route"].kernel.shape)
    outputs = _outputs(info)
    if rows is not None:
        x, y = x[rows], y[rows]
        sample_weight = None if sample_weight is None else sample_weight[rows]
    features = np.asarray(x, dtype=np.float32)
    codes = category_codes(features, y, info)
    read = features @ codes  # exact: one-hot slots times whole-number codes
    fit = _fit_booster if prefix == PREFIX else _fit_forest
    with threadpool_limits(limits=torch.get_num_threads()):
        fitted, tables, baseline, expected = fit(hp, read, y, sample_weight, info, seed, shape)
    if info.task != "regression" and len(fitted.classes_) != info.num_classes:
        raise ValueError(
            f"{prefix.replace('_', ' ')} need every class among the rows they train on; "
            f"{info.num_classes - len(fitted.classes_)} class(es) had none (search with fewer --folds, or gather more "
            "rows of the rarest class)"
        )
    weights = compile_trees(tables, read, shape, outputs, baseline)
    weights["select"][0] = codes @ weights["select"][0]  # a node on a code reads its one-hot slots times their codes
    if not np.allclose(raw_scores(weights, features[:256]), expected(read[:256]), rtol=1e-4, atol=1e-4):
        import sklearn

        raise RuntimeError(
            f"the {prefix.replace('_', ' ')} did not compile to scikit-learn's predictions (scikit-learn "
            f"{sklearn.__version__}); install scikit-learn 1.9, the version vautoml is tested with, or report this"
        )
    if info.task == "regression":  # the head's input in standardised units, so Adam's steps are the head's own size
        mean, std = float(info.statistics["target_mean"]), float(info.statistics["target_std"])
        values, baseline = weights["sum"]
        weights["sum"] = [values / std, (baseline - mean) / std]
    for name, values in weights.items():
        layers[name].set_weights(values)
    head = layers["output_standardised" if info.task == "regression" else "output"]
    head.set_weights([np.eye(outputs, dtype=np.float32), np.zeros(outputs, np.float32)])
    return fitted


def category_codes(x: np.ndarray, y: np.ndarray, info: DatasetInfo) -> np.ndarray:
    """A (features, columns read) matrix: other features pass; each one-hot block becomes one code, ordered by target.

    Trees split a one-hot block one category at a time; ordered by their
    smoothed mean target (the positive rate, or the mean value), the
    categories take one column whose single cuts separate any low group from
    any high one, the best a split can do for a binary or regression target
    (Fisher 1958; LightGBM's categorical splits).  Offline, 5-fold ROC-AUC on
    the training rows: ExtraTrees 0.798 -> 0.819 on IBM HR, 0.888 -> 0.900 on
    adult; HistGradientBoosting 0.773 -> 0.777 on german credit.  Ordered on
    the rows the trees fit on only.  Multiclass targets have no one order,
    and tables from encoders without ``one_hot_blocks`` (plugins' own) are
    read as they are: the identity.
    """
    blocks = info.statistics.get("one_hot_blocks") or []
    features = x.shape[1]
    if info.task == "multiclass" or not blocks:
        return np.eye(features, dtype=np.float32)
    target = np.asarray(y, np.float64).reshape(len(y))
    in_block, columns = np.zeros(features, bool), []
    for start, width in blocks:
        slots = slice(start, start + width)
        in_block[slots] = True
        counts, sums = x[:, slots].sum(axis=0), (x[:, slots] * target[:, None]).sum(axis=0)
        means = (sums + target.mean()) / (counts + 1.0)  # one row of the overall mean: rare categories stay central
        column = np.zeros(features, np.float32)
        column[slots] = np.argsort(np.argsort(means, kind="stable"), kind="stable")
        columns.append(column)
    for feature in np.flatnonzero(~in_block):
        column = np.zeros(features, np.float32)
        column[feature] = 1.0
        columns.append(column)
    return np.column_stack(columns)


Fitted = tuple[Any, list[Table], np.ndarray, Any]


def _fit_booster(
    hp: keras_tuner.HyperParameters,
    x: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray | None,
    info: DatasetInfo,
    seed: int,
    shape: tuple[int, ...],
) -> Fitted:
    """scikit-learn's HistGradientBoosting, one tree per output per iteration, checked on its own raw scores."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    outputs = _outputs(info)
    kind = HistGradientBoostingRegressor if info.task == "regression" else HistGradientBoostingClassifier
    booster = kind(
        learning_rate=float(hp.get("tree_learning_rate")),
        max_iter=shape[0] // outputs,
        max_leaf_nodes=shape[2],
        min_samples_leaf=int(hp.get("tree_min_leaf")),
        l2_regularization=float(hp.get("tree_l2")),
        early_stopping="auto",
        random_state=seed,
    ).fit(x, y, sample_weight=weight)
    tables, baseline = booster_tables(booster, outputs)
    return booster, tables, baseline, lambda rows: np.asarray(booster._raw_predict(rows)).reshape(len(rows), -1)


def _fit_forest(
    hp: keras_tuner.HyperParameters,
    x: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray | None,
    info: DatasetInfo,
    seed: int,
    shape: tuple[int, ...],
) -> Fitted:
    """ExtraTrees or RandomForest; a leaf's values are its trees' share of the raw score, checked by their ``apply``.

    Classes: the logarithm of the leaf's Laplace-smoothed class shares over
    the tree count (for a binary task the log-odds), so the sum is the mean
    log-probability and the identity head starts at their normalised
    geometric mean; regression: the leaf's mean over the tree count.
    """
    from sklearn import ensemble

    regression = info.task == "regression"
    kind = "ExtraTrees" if hp.get("forest_kind") == "extra" else "RandomForest"
    forest = getattr(ensemble, kind + ("Regressor" if regression else "Classifier"))(
        n_estimators=shape[0],
        max_leaf_nodes=shape[2],
        min_samples_leaf=int(hp.get("forest_min_leaf")),
        random_state=seed,
    ).fit(x, y, sample_weight=weight)
    tables = []
    for estimator in forest.estimators_:
        tree = estimator.tree_
        if regression:
            values = tree.value[:, 0, :]
        else:
            rows = tree.weighted_n_node_samples[:, None]
            shares = np.log((tree.value[:, 0, :] * rows + 1.0) / (rows + tree.value.shape[-1]))
            values = shares[:, 1:] - shares[:, :1] if info.task == "binary" else shares
        values = values / len(forest.estimators_)
        leaf = tree.children_left == -1
        tables.append((leaf, tree.children_left, tree.children_right, tree.feature, tree.threshold, values))

    def expected(rows: np.ndarray) -> np.ndarray:
        return sum(table[-1][e.apply(rows)] for e, table in zip(forest.estimators_, tables))

    return forest, tables, np.zeros(_outputs(info), np.float32), expected
