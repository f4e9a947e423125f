"""The text model builder on real SMS rows: each block reads its own part of the input row, every model
reloads in safe mode, and the n-gram bag alone reaches TF-IDF with logistic regression."""

from __future__ import annotations

import keras
import keras_tuner as kt
import numpy as np
import pytest
from helpers import run_standalone, shared_dataset, split_file
from vautoml_text.model import BLOCKS, TEXT_RECIPES, build_model

from vertical_automl import DatasetInfo
from vertical_automl import export as portable
from vertical_automl.data.text_encoder import TextEncoder, tokenize


@pytest.fixture(scope="module")
def sms():
    """A stratified 3,000-message subset: 2,250 to train on (the encoder learns only from them), 750 to test."""
    rows = (shared_dataset("sms-spam-collection") / "SMSSpamCollection").read_text(encoding="utf-8").splitlines()
    train, test = split_file(rows[1:], [row.split("\t", 1)[0] for row in rows[1:]], 0.25, keep=3000)
    parts = {"train": [row.split("\t", 1) for row in train], "test": [row.split("\t", 1) for row in test]}
    texts = {name: np.array([text for _, text in part], dtype=object) for name, part in parts.items()}
    labels = {name: np.array([label == "spam" for label, _ in part], dtype=np.int64) for name, part in parts.items()}
    encoder = TextEncoder().fit(texts["train"])
    x = {name: encoder.transform(part) for name, part in texts.items()}
    info = DatasetInfo("binary", x["train"].shape[1:], ("ham", "spam"), encoder.spec(), encoder.statistics(x["train"]))
    return {"texts": texts, "y": labels, "x": x, "info": info, "encoder": encoder}


def fixed(**values) -> kt.HyperParameters:
    hp = kt.HyperParameters()
    for name, value in values.items():
        hp.Fixed(name, value)
    return hp


def test_ngrams_is_the_first_block_so_it_is_the_default():
    assert BLOCKS[0] == "ngrams"
    hp = kt.HyperParameters()
    statistics = TextEncoder().fit(["a b c", "a b d"]).statistics(None)
    build_model(hp, DatasetInfo("binary", (12,), ("a", "b"), {}, statistics))
    assert hp.values["block"] == "ngrams" and hp.values["ngram_hidden"] is False  # the linear model first


def test_every_recipe_builds_the_model_it_names():
    statistics = TextEncoder().fit(["a b c", "a b d"]).statistics(None)
    for recipe in TEXT_RECIPES:
        hp = kt.HyperParameters()
        hp.values.update(recipe)
        model = build_model(hp, DatasetInfo("binary", (12,), ("a", "b"), {}, statistics))
        assert recipe["block"] == "ngrams" and "ngram_embedding" in [layer.name for layer in model.layers]
        assert {name: hp.values[name] for name in recipe} == recipe and all(hp.is_active(name) for name in recipe)


@pytest.mark.parametrize("block", BLOCKS)
def test_each_block_reads_only_its_part_of_the_row_and_reloads_in_safe_mode(sms, block, tmp_path):
    info, x = sms["info"], sms["x"]["test"][:64]
    model = build_model(fixed(block=block), info)
    length = info.statistics["sequence_length"]
    tokens, bag = slice(0, length), slice(length, None)
    expected = model.predict(x, verbose=0)
    for part, read in ((tokens, block != "ngrams"), (bag, block == "ngrams")):
        other = x.copy()
        other[:, part] = np.random.default_rng(0).permutation(other[:, part])  # other texts' ids in this part
        assert np.allclose(model.predict(other, verbose=0), expected, atol=1e-6) != read
    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    assert np.allclose(reloaded.predict(x, verbose=0), expected, atol=1e-6)
    anywhere = portable.check_inputs(reloaded, info.input_spec)  # any vocabulary id in any column, as exports check
    nothing_known = np.ones_like(x[:1])  # unknown tokens and an empty bag
    nothing_known[:, length:] = 0
    assert np.isfinite(reloaded.predict(np.concatenate([anywhere, nothing_known]), verbose=0)).all()


def test_ngram_block_alone_reaches_tfidf_with_logistic_regression(sms, tmp_path):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    texts, y, x = sms["texts"], sms["y"], sms["x"]
    baselines = {}
    same_tokens = {"tokenizer": tokenize, "lowercase": False, "token_pattern": None, "min_df": 2}
    for name, vectorizer in (
        ("scikit-learn's tokens", TfidfVectorizer(ngram_range=(1, 2))),
        ("vautoml's tokens", TfidfVectorizer(ngram_range=(1, 2), **same_tokens)),
    ):
        classifier = LogisticRegression(max_iter=2000).fit(vectorizer.fit_transform(texts["train"]), y["train"])
        baselines[name] = float(np.mean(classifier.predict(vectorizer.transform(texts["test"])) == y["test"]))
    keras.utils.set_random_seed(0)
    model = build_model(fixed(block="ngrams", optimizer="adam", learning_rate=3e-3), sms["info"])  # linear: the default
    model.fit(x["train"], y["train"], epochs=10, batch_size=64, verbose=0)
    p = model.predict(x["test"], verbose=0)[:, 0]
    accuracy = float(np.mean((p >= 0.5) == y["test"]))
    assert accuracy >= max(baselines.values()) - 0.005, (accuracy, baselines)

    model.save(tmp_path / "model.keras")  # an app without vautoml loads it in safe mode
    np.save(tmp_path / "x.npy", x["test"])
    out = run_standalone(
        """
        import json, keras, numpy as np
        model = keras.saving.load_model("model.keras")
        print(json.dumps({"p": model.predict(np.load("x.npy"), verbose=0)[:, 0].tolist()}))
        """,
        tmp_path,
    )
    assert np.allclose(out["p"], p, atol=1e-6)
