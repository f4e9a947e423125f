"""The text model builder: token ids -> embedding -> a searched block -> task head.

Blocks: ``bag`` (mean and max of the embeddings), ``conv`` (1-D
convolutions), ``gru`` and ``lstm`` (bidirectional, max-pooled over time) and
``transformer`` (self-attention encoder blocks with learned position
embeddings).  Positions are computed inside the model from the input's
shape, so callers pass token ids only.  All stock Keras layers and ops: the
exported model loads in safe mode.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vertical_automl import DatasetInfo, heads, space

if TYPE_CHECKING:  # pragma: no cover
    import keras
    import keras_tuner

BLOCKS = ("bag", "conv", "gru", "lstm", "transformer")


def _transformer(x: "keras.KerasTensor", tokens: "keras.KerasTensor", depth: int, width: int, dim: int, rate: float, length: int, initializer: str) -> "keras.KerasTensor":
    import keras

    positions = keras.ops.cumsum(keras.ops.ones_like(tokens), axis=1) - 1
    x = keras.layers.Add()([x, keras.layers.Embedding(length, dim, name="position_embedding")(positions)])
    for _ in range(depth):
        attended = keras.layers.MultiHeadAttention(num_heads=2, key_dim=max(8, dim // 2), dropout=rate, kernel_initializer=initializer)(x, x)
        x = keras.layers.LayerNormalization()(keras.layers.Add()([x, attended]))
        forward = keras.layers.Dense(width, activation="relu", kernel_initializer=initializer)(x)
        forward = keras.layers.Dense(dim, kernel_initializer=initializer)(forward)
        x = keras.layers.LayerNormalization()(keras.layers.Add()([x, keras.layers.Dropout(rate)(forward)]))
    return keras.layers.GlobalAveragePooling1D()(x)


def build_model(hp: "keras_tuner.HyperParameters", info: DatasetInfo) -> "keras.Model":
    import keras

    vocabulary, length = info.statistics["vocabulary_size"], info.statistics["sequence_length"]
    tokens = keras.Input(shape=(length,), dtype="int32", name="tokens")
    dim = int(hp.Choice("embedding_dim", [32, 64, 128]))
    block = hp.Choice("block", list(BLOCKS))
    depth = space.depth(hp, 1, 2)
    width = space.width(hp, (32, 64, 128))
    initializer = space.kernel_initializer(hp)
    rate = space.dropout(hp, 0.5)
    regularizer = space.kernel_regularizer(hp)

    x = keras.layers.Embedding(vocabulary, dim, name="embedding")(tokens)
    if block == "bag":
        x = keras.layers.Concatenate()([keras.layers.GlobalAveragePooling1D()(x), keras.layers.GlobalMaxPooling1D()(x)])
    elif block == "conv":
        with hp.conditional_scope("block", ["conv"]):
            kernel = hp.Choice("kernel_size", [3, 5])
        for _ in range(depth):
            x = keras.layers.Conv1D(width, kernel, padding="same", activation="relu", kernel_initializer=initializer, kernel_regularizer=regularizer)(x)
        x = keras.layers.GlobalMaxPooling1D()(x)
    elif block in ("gru", "lstm"):
        cell = keras.layers.GRU if block == "gru" else keras.layers.LSTM
        for _ in range(depth):
            x = keras.layers.Bidirectional(cell(width, return_sequences=True, kernel_initializer=initializer))(x)
        x = keras.layers.GlobalMaxPooling1D()(x)
    else:
        x = _transformer(x, tokens, depth, width, dim, rate, length, initializer)
    if rate:
        x = keras.layers.Dropout(rate)(x)
    x = keras.layers.Dense(width, activation="relu", kernel_initializer=initializer, kernel_regularizer=regularizer)(x)
    if info.task != "regression":
        space.class_weight(hp)
    model = keras.Model(tokens, heads.output(x, info), name="vautoml_text")
    return heads.compile_model(model, hp, info)
