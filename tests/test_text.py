"""Text loading and encoding: columns found, vocabulary from training only, bad input named with its line or file."""

from __future__ import annotations

import numpy as np
import pytest

from vertical_automl import DataError
from vertical_automl.data.split import split_dataset
from vertical_automl.data.text import TextEncoder, load_text_folder, load_text_table, tokenize

from helpers import shared_dataset

ROWS = [("spam", "WIN a FREE prize now, call 0800!"), ("ham", "see you at lunch later today?")] * 15


def write_tsv(tmp_path, rows=ROWS, header="label\tmessage", name="messages.tsv"):
    path = tmp_path / name
    path.write_text(header + "\n" + "\n".join(f"{a}\t{b}" for a, b in rows) + "\n", encoding="utf-8")
    return path


def test_text_and_label_columns_are_found_when_unambiguous(tmp_path):
    data = load_text_table(write_tsv(tmp_path), {})
    assert data.target == "label" and data.input_spec["text_column"] == "message" and data.class_names == ("ham", "spam")


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
    encoder = TextEncoder(max_tokens=100, sequence_length=6).fit(np.array(["the cat sat", "the cat ran", "a dog"], dtype=object))
    assert encoder.vocabulary == ("cat", "the")  # seen twice or more, most frequent first
    ids = encoder.transform(np.array(["The CAT and the unicorn"], dtype=object))[0]
    assert ids.tolist() == [3, 2, 1, 3, 1, 0]  # the=3, cat=2, unknown=1, padding=0
    assert tokenize("Hi, there!") == ["hi", ",", "there", "!"]


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
    assert dataset.train.x.shape == (len(dataset.train), length) and dataset.train.x.dtype == np.int32
    assert 8 <= length <= 256 and dataset.info.input_spec["text_column"] == "SMS"
