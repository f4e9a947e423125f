"""Model building blocks shared by several verticals (modalities, not industries).

``dense_stack`` is the searched stack of dense layers any vertical can end
with; ``tabular_model`` is the whole model for encoded tables, which the
tabular verticals (built-in or third-party) build on: robust scaling,
piecewise-linear numeric embeddings and a TabM ensemble or an MLP, with
:data:`TABULAR_RECIPES` as the first trials.  Every layer is a stock Keras
layer, so exported models load in safe mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import heads, space, trees
from .data.dataset import DatasetInfo

if TYPE_CHECKING:  # pragma: no cover
    import keras
    import keras_tuner


@dataclass(frozen=True)
class StackShape:
    """Width, depth and dropout of a stack, declared once when several branches of a model share them.

    KerasTuner keeps one condition per hyperparameter name, so a name declared
    inside two branches' conditional scopes is inactive in the second one.
    """

    width: int
    depth: int
    dropout: float

    @classmethod
    def declare(
        cls, hp: keras_tuner.HyperParameters, widths: Sequence[int], max_depth: int = 3, max_dropout: float = 0.5
    ) -> StackShape:
        return cls(space.width(hp, widths), space.depth(hp, 1, max_depth), space.dropout(hp, max_dropout))


def dense_stack(
    hp: keras_tuner.HyperParameters,
    x: keras.KerasTensor,
    widths: Sequence[int] = (32, 64, 128),
    max_depth: int = 3,
    max_dropout: float = 0.5,
    shape: StackShape | None = None,
) -> keras.KerasTensor:
    """``depth`` blocks of Dense (L1/L2 on the kernel) -> [BatchNorm] -> ReLU -> [Dropout], all searched.

    A ``shape`` already declared by the caller (shared with another branch
    of its model) replaces the width, depth and dropout dimensions.
    """
    import keras

    initializer = space.kernel_initializer(hp)
    shape = shape or StackShape.declare(hp, widths, max_depth, max_dropout)
    normalise = space.batch_norm(hp)
    regularizer = space.kernel_regularizer(hp)
    units, rate = shape.width, shape.dropout
    for _ in range(shape.depth):
        x = keras.layers.Dense(
            units, kernel_initializer=initializer, kernel_regularizer=regularizer, use_bias=not normalise
        )(x)
        if normalise:
            x = keras.layers.BatchNormalization(momentum=0.9)(x)
        x = keras.layers.Activation("relu")(x)
        if rate:
            x = keras.layers.Dropout(rate)(x)
    return x


ARCHITECTURES = ("tabm", "mlp", "linear", "trees", "forest")
# L2 penalties of the linear model, per example (Keras adds l2 * sum(w^2) to the mean loss): scikit-learn's
# LogisticRegression(C=1) on n rows is l2 = 1 / (2n), about 1e-3 on the few hundred rows where linear models win.
LINEAR_L2 = (1e-3, 1e-4, 1e-2, 3e-2)
NUMERIC_EMBEDDINGS = ("piecewise_linear", "none")
# Piecewise-linear bins per feature (at most: small tables keep fewer quantiles).  48 is TabM's default with PLE;
# 96 is near the ~100 of the embeddings paper's best adult models; 8 and 16 suit the additive and small models.
PLE_BINS = (48, 16, 8, 96)
# Hand-picked points of the tabular space, run first (in this order) before
# the tuner samples: what each family of recent tabular deep-learning papers
# recommends (TabM with piecewise-linear embeddings, Gorishniy et al. 2022 and
# 2025), gradient-boosted trees with scikit-learn's defaults (the family
# networks are most often averaged with), a forest of small extremely randomised trees (the strongest single
# model on tables of a few hundred rows, trees.random_forest), a regularised MLP in the spirit of
# RealMLP (Holzmueller et al. 2024), a nearly linear MLP, and two linear models (a regularised logistic or linear
# regression, and the same over piecewise-linear bins, an additive model): on
# tables of a few hundred rows nothing beats them reliably, and
# cross-validated selection can tell when.  Values outside a user's [space]
# fall back to the dimension's default.
TABULAR_RECIPES: tuple[dict[str, object], ...] = (
    {
        "architecture": "tabm",
        "numeric_embedding": "piecewise_linear",
        "bins": 48,
        "members": 8,
        "depth": 2,
        "width": 128,
        "dropout": 0.1,
        "optimizer": "adamw",
        "learning_rate": 2e-3,
        "lr_schedule": "constant",
        "batch_norm": False,
        "l1": 0.0,
        "l2": 0.0,
        "class_weight": "none",
    },
    {
        "architecture": "trees",  # scikit-learn's HistGradientBoosting defaults, as stock layers (trees.py)
        "numeric_embedding": "none",  # declared before the architecture; trees read the features as they are
        "tree_leaves": 31,
        "tree_learning_rate": 0.1,
        "tree_iterations": 100,
        "tree_min_leaf": 20,
        "tree_l2": 0.0,
        "optimizer": "adam",
        "learning_rate": 1e-3,
        "lr_schedule": "constant",
        "class_weight": "none",
    },
    {
        "architecture": "forest",  # ExtraTrees, 100 trees of at most 64 leaves of at least 3 rows (trees.py)
        "numeric_embedding": "none",
        "forest_kind": "extra",
        "forest_leaves": 64,
        "forest_min_leaf": 3,
        "optimizer": "adam",
        "learning_rate": 1e-3,
        "lr_schedule": "constant",
        "class_weight": "none",
    },
    {
        "architecture": "mlp",
        "numeric_embedding": "none",
        "depth": 1,
        "width": 32,
        "dropout": 0.3,
        "initializer": "glorot_uniform",
        "optimizer": "adamw",
        "learning_rate": 1e-3,
        "lr_schedule": "constant",
        "batch_norm": False,
        "l1": 0.0,
        "l2": 1e-3,
        "class_weight": "none",
    },
    {
        "architecture": "linear",
        "numeric_embedding": "none",
        "linear_l2": 1e-3,
        "optimizer": "adam",
        "learning_rate": 1e-2,
        "lr_schedule": "constant",
        "class_weight": "none",
    },
    {
        "architecture": "tabm",
        "numeric_embedding": "none",
        "members": 8,
        "depth": 3,
        "width": 128,
        "dropout": 0.2,
        "optimizer": "adam",
        "learning_rate": 1e-3,
        "lr_schedule": "cosine",
        "batch_norm": False,
        "l1": 0.0,
        "l2": 0.0,
        "class_weight": "none",
    },
    {
        "architecture": "mlp",
        "numeric_embedding": "piecewise_linear",
        "bins": 8,
        "depth": 2,
        "width": 128,
        "dropout": 0.2,
        "initializer": "he_uniform",
        "optimizer": "adamw",
        "learning_rate": 1e-3,
        "lr_schedule": "cosine",
        "batch_norm": False,
        "l1": 0.0,
        "l2": 1e-4,
        "class_weight": "none",
    },
    {
        "architecture": "linear",
        "numeric_embedding": "piecewise_linear",
        "bins": 8,
        "linear_l2": 1e-2,
        "optimizer": "adam",
        "learning_rate": 1e-2,
        "lr_schedule": "constant",
        "class_weight": "none",
    },
)


def robust_features(x: keras.KerasTensor, info: DatasetInfo, limit: float = 3.0) -> keras.KerasTensor:
    """Robust standardisation and a smooth clip, so skewed columns and outliers cannot dominate.

    ``(x - median) / scale`` with the training median and interquartile
    range (see :func:`~vertical_automl.data.table_encoder.table_statistics`), then ``limit * softsign(z / limit)``:
    about ``z`` near 0, never beyond ``limit`` (RealMLP's smooth clipping, from
    stock layers).  Tables without robust statistics fall back to mean and variance.
    """
    import keras

    stats = info.statistics
    if "median" in stats:
        x = keras.layers.Normalization(
            mean=stats["median"], variance=[s * s for s in stats["scale"]], name="robust_scaling"
        )(x)
    else:
        x = keras.layers.Normalization(mean=stats["mean"], variance=stats["variance"], name="standard_scaling")(x)
    x = keras.layers.Rescaling(1.0 / limit)(x)
    x = keras.layers.Activation("softsign", name="smooth_clip")(x)
    return keras.layers.Rescaling(limit)(x)


def piecewise_linear_encoding(
    x: keras.KerasTensor, quantiles: Sequence[Sequence[float]], bins: int
) -> keras.KerasTensor | None:
    """Piecewise-linear encoding of every feature with at least two distinct bins (Gorishniy et al. 2022).

    ``bins`` equal-frequency bins per feature, or one per training quantile
    where fewer were kept (small tables; see ``table_statistics``), fewer
    again where quantiles coincide.  For bin ``[e_t, e_t+1)`` of a feature's training quantiles the encoding is
    ``clip((x - e_t) / (e_t+1 - e_t), 0, 1)``: 1 for bins below the value, 0
    above, the position inside its own bin.  It is one frozen ``Dense`` (each
    output reads one feature, scaled and shifted) and ``ReLU(max_value=1)``, so
    it saves as stock layers; the edges are its weights.  Returns ``None`` when
    no feature has two distinct bins (all one-hot, say).
    """
    import keras
    import numpy as np

    levels = len(quantiles[0]) - 1
    chosen = np.unique(np.round(np.linspace(0, levels, min(bins, levels) + 1)).astype(int))
    columns: list[tuple[int, float, float]] = []
    for feature, values in enumerate(quantiles):
        edges = np.unique(np.asarray(values, dtype=np.float64)[chosen])
        if len(edges) < 3:
            continue
        columns += [(feature, float(left), float(right - left)) for left, right in zip(edges[:-1], edges[1:])]
    if not columns:
        return None
    kernel = np.zeros((len(quantiles), len(columns)), dtype=np.float32)
    bias = np.zeros(len(columns), dtype=np.float32)
    for slot, (feature, left, width) in enumerate(columns):
        kernel[feature, slot], bias[slot] = 1.0 / width, -left / width
    layer = keras.layers.Dense(len(columns), trainable=False, name="piecewise_linear_bins")
    encoded = layer(x)
    layer.set_weights([kernel, bias])
    return keras.layers.ReLU(max_value=1.0, name="piecewise_linear_clip")(encoded)


def tabm_stack(hp: keras_tuner.HyperParameters, x: keras.KerasTensor, shape: StackShape) -> keras.KerasTensor:
    """``members`` MLPs trained as one model (TabM, packed form): shape (batch, members, width).

    ``RepeatVector`` gives every member the features; each ``EinsumDense``
    holds one weight matrix per member, so the members train in one pass but
    never share weights.  He initialisation per member (the stock
    initializer counts the member axis into the fan-in, hence the scale).
    """
    import keras

    members = int(hp.Choice("members", [8, 16]))
    units, rate = shape.width, shape.dropout
    x = keras.layers.RepeatVector(members)(x)
    for index in range(shape.depth):
        # A new initializer per layer: an unseeded Keras initializer called twice returns the same values.
        initializer = keras.initializers.VarianceScaling(scale=2.0 * members, mode="fan_in", distribution="uniform")
        x = keras.layers.EinsumDense(
            "bkd,kdu->bku",
            output_shape=(members, units),
            bias_axes="ku",
            kernel_initializer=initializer,
            name=f"tabm_dense_{index}",
        )(x)
        x = keras.layers.Activation("relu")(x)
        if rate:
            x = keras.layers.Dropout(rate)(x)
    return x


def tabular_model(
    hp: keras_tuner.HyperParameters,
    info: DatasetInfo,
    name: str = "vautoml_tabular",
    widths: Sequence[int] = (64, 128, 256),
) -> keras.Model:
    """Robust scaling [+ piecewise-linear embeddings] -> an MLP or a TabM ensemble -> task head.

    Searched: the architecture (``mlp``: one network; ``tabm``: 8 or 16
    members trained at once, each on its own loss, exported as their mean;
    ``linear``: the features straight into the head, with a searched L2 penalty;
    ``trees``: gradient-boosted trees fitted by scikit-learn, as frozen stock
    layers with a trained head, :mod:`vertical_automl.trees`; ``forest``: a
    random forest, the same way),
    the numeric embedding and its bin count, the stack (depth, width,
    dropout; for the MLP also initializer, batch norm, L1/L2), class
    weighting, optimizer, learning rate and schedule.  :data:`TABULAR_RECIPES`
    run first.  Tables whose statistics lack quantiles (plugins with their own
    encoders) skip the embedding.
    """
    import keras

    inputs = keras.Input(shape=info.input_shape, name="features")
    features = robust_features(inputs, info)
    if (
        "quantiles" in info.statistics
        and hp.Choice("numeric_embedding", list(NUMERIC_EMBEDDINGS)) == "piecewise_linear"
    ):
        with hp.conditional_scope("numeric_embedding", ["piecewise_linear"]):
            bins = int(hp.Choice("bins", list(PLE_BINS)))
        embedded = piecewise_linear_encoding(inputs, info.statistics["quantiles"], bins)
        if embedded is not None:
            features = keras.layers.Concatenate()([features, embedded])
    architecture = hp.Choice("architecture", list(ARCHITECTURES))
    if architecture == "trees":
        with hp.conditional_scope("architecture", ["trees"]):
            output = trees.boosted_trees(hp, inputs, info)
    elif architecture == "forest":
        with hp.conditional_scope("architecture", ["forest"]):
            output = trees.random_forest(hp, inputs, info)
    elif architecture == "linear":
        with hp.conditional_scope("architecture", ["linear"]):
            penalty = float(hp.Choice("linear_l2", list(LINEAR_L2)))
        output = heads.output(features, info, regularizer=keras.regularizers.L2(penalty))
    else:
        with hp.conditional_scope("architecture", ["tabm", "mlp"]):
            shape = StackShape.declare(hp, widths)
        if architecture == "tabm":
            with hp.conditional_scope("architecture", ["tabm"]):
                x = tabm_stack(hp, features, shape)
            output = heads.member_output(x, info)
        else:
            with hp.conditional_scope("architecture", ["mlp"]):
                x = dense_stack(hp, features, shape=shape)
            output = heads.output(x, info)
    if info.task != "regression":
        space.class_weight(hp)
    model = keras.Model(inputs, output, name=name)
    return heads.compile_model(model, hp, info)
