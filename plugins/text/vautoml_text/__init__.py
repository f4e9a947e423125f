"""Text classification vertical for vertical-automl.

Registered through the ``vautoml`` entry-point group exactly like a
third-party plugin.  Reads a text column from CSV/TSV/Parquet tables or
folders of ``.txt`` files (one sub-folder per class) with the core's text
loaders; tokens, bigrams and their vocabulary are learned on the training
split outside the model (Keras's TextVectorization needs TensorFlow) and
written to ``preprocessing.json``.  There is no built-in dataset: the error shows an
example ``--data`` command.  Keras is imported only inside ``build_model``.
"""

from __future__ import annotations

from vertical_automl.plugin_api import Vertical, hookimpl, text_folder_loader, text_table_loader

from .model import TEXT_RECIPES, build_model

TEXT = Vertical(
    name="text",
    description=(
        "Text classification (spam, support tickets, reviews, notes): a searched block, either a TF-IDF bag of "
        "unigrams and bigrams (linear, as TF-IDF with logistic regression, or with one hidden layer) or a token "
        "embedding followed by a bag of embeddings, 1-D convolution, bidirectional GRU or LSTM, or transformer "
        "encoder, searched over embedding size, depth, width, initializer, dropout, class weighting and optimizer."
    ),
    build_model=build_model,
    tasks=("binary", "multiclass"),
    loaders=(text_table_loader(), text_folder_loader()),
    data_example="vautoml search --plugin text --data messages.tsv --text-column SMS --target-column Label",
    model_card_notes=(
        "The model takes int32 rows of shape (batch, sequence_length + ngram_length) made by the rules above: "
        "token ids, then the ids of the text's known unigrams and bigrams; the vocabulary is in preprocessing.json.",
        "Texts longer than sequence_length tokens are cut; tokens not in the vocabulary share one id; "
        "n-grams not in the vocabulary are left out of the bag, which keeps the first ngram_length found.",
        "The bag's idf weights (smooth idf of the training split) are inside the model, not in preprocessing.json.",
    ),
    recipes=TEXT_RECIPES,
    # up to 3 trials, chosen by greedy selection on validation (or out-of-fold) predictions: an n-gram model and a
    # sequence model err on different texts
    ensemble_size=3,
)


@hookimpl
def register_verticals(register):
    register(TEXT)
