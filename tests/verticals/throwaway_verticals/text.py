"""``tiny-text``: text classification with the core's text loaders and a bag of embeddings.

The core's text encoder writes token ids and then n-gram ids into one int32
row; one small embedding over the n-gram vocabulary (which holds the tokens
too), averaged, is enough to learn the tests' generated messages.  There is
no built-in dataset.
"""

from __future__ import annotations

from vertical_automl import Vertical, heads, hookimpl
from vertical_automl.data import text
from vertical_automl.plugin_api import text_folder_loader, text_table_loader


def build_model(hp, info):
    import keras

    inputs = keras.Input(shape=info.input_shape, dtype="int32", name="tokens")
    x = keras.layers.Embedding(info.statistics["ngram_vocabulary_size"], hp.Choice("embedding_dim", [8, 16]))(inputs)
    x = keras.layers.GlobalAveragePooling1D()(x)
    model = keras.Model(inputs, heads.output(x, info), name="tiny_text")
    return heads.compile_model(model, hp, info)


TINY_TEXT = Vertical(
    name="tiny-text",
    description="Test-only text classification: averaged token and n-gram embeddings.",
    tasks=("binary", "multiclass"),
    build_model=build_model,
    loaders=(text_table_loader(), text_folder_loader()),
    usage_code=text.text_usage_code,
)


@hookimpl
def register_verticals(register):
    register(TINY_TEXT)
