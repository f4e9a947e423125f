"""Text loading and encoding: columns found, vocabulary and n-grams from training only, bad input named by line."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import shared_dataset

from vertical_automl import DataError
from vertical_automl.data.split import split_dataset
from vertical_automl.data.text import load_text_folder, load_text_table
from vertical_automl.data.text_encoder import TextEncoder, ngrams, tokenize

ROWS = [("spam", "WIN a FREE prize now, call 0800!"), ("ham", "see you at lunch later today?")] * 15


def write_tsv(tmp_path, rows=ROWS, header="label\tmessage", name="messages.tsv"):
    path = tmp_path / name
    path.write_text(header + "\n" + "\n".join(f"{a}\t{b}" for a, b in rows) + "\n", encoding="utf-8")
    return path


def test_text_and_label_columns_are_found_when_unambiguous(tmp_path):
    data = load_text_table(write_tsv(tmp_path), {})
    assert (
        data.target == "label" and data.input_spec["text_column"] == "message" and data.class_names == ("ham", "spam")
    )


def test_ambiguous_columns_ask_for_the_flag(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,c\n" + "\n".join("one two,three four,x" for _ in range(10)) + "\n")
    with pytest.raises(DataError, match="--target-column"):
        load_text_table(path, {})


def test_empty_text_and_missing_label_are_reported_by_line(tmp_path):
    rows = list(ROWS)
    rows[2] = ("spam", "   ")
    with pytest.raises(DataError, match=r"text column 'message' .* is empty on line 4\b"):
        load_text_table(write_tsv(tmp_path, rows), {})
    rows = list(ROWS)
    rows[4] = ("", "hello there")
    with pytest.raises(DataError, match=r"label column 'label' .* is empty on line 6\b"):
        load_text_table(write_tsv(tmp_path, rows), {})


def test_one_class_is_refused(tmp_path):
    data = load_text_table(write_tsv(tmp_path, [("ham", f"message number {i}") for i in range(20)]), {})
    with pytest.raises(DataError, match=r"has only one class \('ham'\)"):
        split_dataset(data, "binary")


def test_undecodable_bytes_name_the_line(tmp_path):
    path = write_tsv(tmp_path)
    raw = path.read_bytes().replace(b"see you", b"s\xe9e you", 1)
    path.write_bytes(raw)
    with pytest.raises(DataError, match=r"line 3 is not valid utf-8"):
        load_text_table(path, {})
    assert load_text_table(path, {"encoding": "latin-1"}).x[1] == "sée you at lunch later today?"


def test_vocabulary_is_learned_from_the_training_split_only():
    encoder = TextEncoder(max_tokens=100, sequence_length=6).fit(
        np.array(["the cat sat", "the cat ran", "a dog"], dtype=object)
    )
    assert encoder.vocabulary == ("cat", "the", "the cat")  # tokens seen twice or more, then bigrams in two texts
    assert encoder.token_count == 2 and encoder.ngram_length == 8  # the shortest bag
    row = encoder.transform(np.array(["The CAT and the unicorn the cat", "a dog"], dtype=object))
    assert row.shape == (2, 6 + 8) and row.dtype == np.int32
    assert row[0, :6].tolist() == [3, 2, 1, 3, 1, 3]  # the=3, cat=2, unknown=1; cut to 6 tokens
    assert row[0, 6:].tolist() == [3, 4, 2, 0, 0, 0, 0, 0]  # the, "the cat"=4, cat: first seen first, once each
    assert row[1].tolist() == [1, 1] + [0] * 12  # "a dog" was seen once: no token, no bigram
    assert tokenize("Hi, there!") == ["hi", ",", "there", "!"]
    assert ngrams(["a", "b", "c"]) == ["a", "a b", "b", "b c", "c"]


def test_idf_and_ngram_columns_match_scikit_learns_tfidf():
    from sklearn.feature_extraction.text import TfidfVectorizer

    lines = (shared_dataset("sms-spam-collection") / "SMSSpamCollection").read_text(encoding="utf-8").splitlines()
    texts = np.array([line.split("\t", 1)[1] for line in lines[1:1001]], dtype=object)
    encoder = TextEncoder().fit(texts)
    same_tokens = {"tokenizer": tokenize, "lowercase": False, "token_pattern": None}
    tfidf = TfidfVectorizer(ngram_range=(1, 2), min_df=2, norm=None, **same_tokens)
    counts = tfidf.fit_transform(texts)
    names = tfidf.get_feature_names_out()
    idf = dict(zip(encoder.vocabulary, encoder.idf))
    extra = set(idf) - set(names)  # tokens seen twice, but in one text only (scikit-learn's min_df counts texts)
    assert sum(" " in entry for entry in encoder.vocabulary) > 500 and all(" " not in entry for entry in extra)
    np.testing.assert_allclose([idf[name] for name in names], tfidf.idf_, rtol=1e-12)
    statistics = encoder.statistics(encoder.transform(texts))
    assert statistics["idf"][:2] == [0.0, 0.0] and statistics["idf"][2:] == list(encoder.idf)
    assert statistics["ngram_vocabulary_size"] == len(encoder.vocabulary) + 2
    assert statistics["vocabulary_size"] == encoder.token_count + 2

    rows = encoder.transform(texts)[:, encoder.sequence_length :]
    for _text, row, present in zip(texts, rows, counts):
        ours = {encoder.vocabulary[i - 2] for i in row if i}
        if len(ours) < encoder.ngram_length:  # not cut: the bag holds every known n-gram of the text
            assert ours - extra == {names[j] for j in present.indices}


def test_n_gram_options_and_the_encoder_rebuilt_from_its_spec(tmp_path):
    texts = np.array([b for _, b in ROWS], dtype=object)
    encoder = load_text_table(write_tsv(tmp_path), {"max_bigrams": "0"}).encoder.fit(texts)
    assert encoder.vocabulary[encoder.token_count :] == ()
    with pytest.raises(DataError, match="max_bigrams at least 0"):
        load_text_table(write_tsv(tmp_path), {"max_bigrams": "-1"})
    encoder = TextEncoder().fit(texts)
    again = TextEncoder.from_spec(encoder.spec())  # what vautoml predict does with preprocessing.json
    assert np.array_equal(again.transform(texts), encoder.transform(texts))
    old = {key: value for key, value in encoder.spec().items() if key not in ("token_count", "ngram_length")}
    old["vocabulary"] = old["vocabulary"][: encoder.token_count]  # a bundle from before the n-gram bag
    assert np.array_equal(
        TextEncoder.from_spec(old).transform(texts), encoder.transform(texts)[:, : encoder.sequence_length]
    )


def test_text_folder_reads_classes_and_rejects_empty_or_undecodable_files(tmp_path):
    for label, text in (("spam", "win money now"), ("ham", "see you soon")):
        (tmp_path / "docs" / label).mkdir(parents=True)
        for i in range(4):
            (tmp_path / "docs" / label / f"{i}.txt").write_text(f"{text} {i}")
    data = load_text_folder(tmp_path / "docs", {})
    assert data.class_counts() == {"ham": 4, "spam": 4}
    (tmp_path / "docs" / "spam" / "9.txt").write_bytes(b"\xff\xfe bad")
    with pytest.raises(DataError, match=r"9.txt' line 1 is not valid utf-8"):
        load_text_folder(tmp_path / "docs", {})
    (tmp_path / "docs" / "spam" / "9.txt").write_text("  \n")
    with pytest.raises(DataError, match=r"9.txt' has no text"):
        load_text_folder(tmp_path / "docs", {})


def test_sms_spam_collection_loads_and_splits():
    data = load_text_table(shared_dataset("sms-spam-collection") / "SMSSpamCollection", {})
    assert data.target == "Label" and data.input_spec["text_column"] == "SMS"
    assert data.class_counts() == {"ham": 4827, "spam": 747}
    dataset = split_dataset(data, "binary", seed=0)
    length = dataset.info.statistics["sequence_length"]
    assert dataset.train.x.shape == (len(dataset.train), length + dataset.info.statistics["ngram_length"])
    assert dataset.train.x.dtype == np.int32 and dataset.info.input_spec["shape"] == [dataset.train.x.shape[1]]
    assert 8 <= length <= 256 and dataset.info.input_spec["text_column"] == "SMS"
