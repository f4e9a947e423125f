"""Text loaders and the text encoder: tokens and a vocabulary learned on the training split.

Keras's TextVectorization needs TensorFlow, so tokenising happens outside
the model with rules simple enough to repeat anywhere from
``preprocessing.json``: lower-case, split into runs of word characters and
single punctuation marks (``TOKEN_PATTERN``), map each token to its index in
the vocabulary (1 for out-of-vocabulary), cut or pad with 0 to a fixed length.

Sources: a CSV/TSV/Parquet table with a text and a target column, or a folder
with one sub-folder of ``.txt`` files per class.  Bad bytes, empty texts and
missing labels are reported with the line or file to fix.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import DataError
from .arrays import encode_labels
from .dataset import LabeledData
from .encoding import Encoder
from .options import check_options
from .tables import MISSING_MARKERS, READ_OPTIONS, TARGET_NAMES, decode_bytes, pick_column, positions, read_table, stripped

TOKEN_PATTERN = r"\w+|[^\w\s]"
TEXT_TABLE_OPTIONS = (*READ_OPTIONS, "text_column", "max_tokens", "sequence_length")
TEXT_FOLDER_OPTIONS = ("encoding", "max_tokens", "sequence_length")
TEXT_SUFFIXES = (".txt",)
MAX_TOKENS = 20_000
PAD, OOV = 0, 1


def tokenize(text: str) -> list[str]:
    return re.findall(TOKEN_PATTERN, text.lower())


class TextEncoder(Encoder):
    """Token indices of a fixed length, from a vocabulary of the training texts."""

    def __init__(self, max_tokens: int = MAX_TOKENS, sequence_length: int | None = None, vocabulary: tuple[str, ...] = ()) -> None:
        self.max_tokens = max_tokens
        self.sequence_length = sequence_length
        self.vocabulary = vocabulary

    def fit(self, x: Any) -> TextEncoder:
        """Keep tokens seen at least twice (most frequent first); length: 95th percentile, 8 to 256."""
        tokenized = [tokenize(t) for t in x]
        counts = Counter(token for tokens in tokenized for token in tokens)
        kept = sorted((token for token, n in counts.items() if n >= 2), key=lambda token: (-counts[token], token))
        vocabulary = tuple(kept[: self.max_tokens - 2])
        length = self.sequence_length or int(min(256, max(8, math.ceil(np.percentile([len(t) for t in tokenized], 95)))))
        return TextEncoder(self.max_tokens, length, vocabulary)

    def transform(self, x: Any) -> np.ndarray:
        index = {token: i + 2 for i, token in enumerate(self.vocabulary)}
        out = np.full((len(x), self.sequence_length), PAD, dtype=np.int32)
        for row, text in enumerate(x):
            ids = [index.get(token, OOV) for token in tokenize(str(text))][: self.sequence_length]
            out[row, : len(ids)] = ids
        return out

    def statistics(self, encoded_train: np.ndarray) -> dict[str, Any]:
        return {"vocabulary_size": len(self.vocabulary) + 2, "sequence_length": self.sequence_length}

    def spec(self) -> dict[str, Any]:
        return {
            "kind": "text",
            "lowercase": True,
            "token_pattern": TOKEN_PATTERN,
            "vocabulary": list(self.vocabulary),
            "padding_index": PAD,
            "out_of_vocabulary_index": OOV,
            "first_vocabulary_index": 2,
            "sequence_length": self.sequence_length,
            "shape": [self.sequence_length],
            "dtype": "int32",
            "rules": [
                "Lower-case the text and find all matches of token_pattern (Python re).",
                "Token i of vocabulary has index i + 2; any other token has index 1; keep the first sequence_length tokens.",
                "Pad at the end with 0 up to sequence_length.",
            ],
        }


def _encoder(options: Mapping[str, str], like: LabeledData | None) -> TextEncoder:
    if like is not None:
        if not isinstance(like.encoder, TextEncoder):
            raise DataError(f"the test data is text but the training data ({like.source}) is not", "give --test-data in the same format as the training data")
        return like.encoder
    try:
        max_tokens = int(options.get("max_tokens", MAX_TOKENS))
        length = int(options["sequence_length"]) if "sequence_length" in options else None
    except ValueError as error:
        raise DataError(f"max_tokens and sequence_length must be whole numbers ({error})", "pass e.g. -O max_tokens=20000 -O sequence_length=64") from error
    if max_tokens < 10 or (length is not None and not 1 <= length <= 4096):
        raise DataError("max_tokens must be at least 10 and sequence_length between 1 and 4096", "pass e.g. -O max_tokens=20000 -O sequence_length=64")
    return TextEncoder(max_tokens, length)


def _labelled(texts: np.ndarray, labels: np.ndarray, source: str, options: Mapping[str, str], like: LabeledData | None, target: str) -> LabeledData:
    y, class_names = encode_labels(labels.astype(str), source)
    spec = {"kind": "text"}
    return LabeledData(texts, y, class_names, spec, source, _encoder(options, like), target)


def _guess_text_column(frame: Any, target: str | None) -> str:
    """The string column with clearly the longest cells (twice the next), else ask."""
    candidates = [c for c in frame.columns if c != target]
    lengths = {c: float(np.mean([len(v) for v in stripped(frame[c])])) for c in candidates}
    ranked = sorted(candidates, key=lambda c: -lengths[c])
    if len(ranked) == 1 or (ranked and lengths[ranked[0]] >= 2 * lengths[ranked[1]]):
        return ranked[0]
    raise DataError(f"cannot tell which column holds the text among {', '.join(candidates[:12])}", "pass --text-column NAME")


def _guess_target(frame: Any, text: str | None) -> str:
    named = [c for c in frame.columns if c.lower() in TARGET_NAMES and c != text]
    if len(named) == 1:
        return named[0]
    others = [c for c in frame.columns if c != text]
    if text is not None and len(others) == 1:
        return others[0]
    if text is None and len(frame.columns) == 2:  # the label is the column with the shorter cells
        short = min(frame.columns, key=lambda c: np.mean([len(v) for v in stripped(frame[c])]))
        return short
    raise DataError(f"cannot tell which column holds the label among {', '.join(map(str, frame.columns[:12]))}", "pass --target-column NAME")


def load_text_table(path: Path, options: Mapping[str, str], like: LabeledData | None = None) -> LabeledData:
    """A CSV/TSV/Parquet file with one text column and one label column."""
    check_options(options, TEXT_TABLE_OPTIONS, f"text table {path}")
    frame = read_table(path, options)
    if like is not None:
        target, text = like.target, like.input_spec.get("text_column")
    else:
        text = pick_column(frame, options["text_column"], "--text-column") if options.get("text_column") else None
        target = pick_column(frame, options["target_column"], "--target-column") if options.get("target_column") else _guess_target(frame, text)
        text = text or _guess_text_column(frame, target)
    for name, flag in ((target, "--target-column"), (text, "--text-column")):
        if name not in frame.columns:
            raise DataError(f"'{path}' has no column '{name}' ({flag})", f"give a table with the training data's columns ({target}, {text})")
    if text == target:
        raise DataError(f"column '{text}' cannot be both the text and the label", "pass different --text-column and --target-column")
    texts, labels = stripped(frame[text]), stripped(frame[target])
    no_label = np.isin(labels, MISSING_MARKERS)
    if no_label.any():
        raise DataError(f"the label column '{target}' of '{path}' is empty on {positions(frame, no_label)}", "remove those rows or fill in their label")
    empty = np.array([not tokenize(t) for t in texts])
    if empty.any():
        raise DataError(f"the text column '{text}' of '{path}' is empty on {positions(frame, empty)}", "remove those rows or give them text")
    data = _labelled(texts, labels, f"text table {path}", options, like, target)
    data.input_spec["text_column"] = text
    return data


def is_text_folder(path: Path) -> bool:
    return path.is_dir()


def load_text_folder(path: Path, options: Mapping[str, str], like: LabeledData | None = None) -> LabeledData:
    """``path/<class>/<file>.txt``: one document per file, one sub-folder per class."""
    check_options(options, TEXT_FOLDER_OPTIONS, f"text folder {path}")
    encoding = options.get("encoding", "utf-8")
    folders = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    files = [(f, folder.name) for folder in folders for f in sorted(folder.rglob("*")) if f.is_file() and f.suffix.lower() in TEXT_SUFFIXES]
    if not files:
        raise DataError(f"'{path}' has no .txt files in class sub-folders", f"put one .txt file per document in a sub-folder per class, e.g. {path}/spam/1.txt")
    classes = {name for _, name in files}
    if like is None and len(classes) < 2:
        raise DataError(f"the text folder '{path}' has only one class ('{classes.pop()}')", "add a sub-folder of .txt files for each other class")
    texts = []
    for file, _ in files:
        text = decode_bytes(file.read_bytes(), encoding, f"file '{file}'").strip()
        if not tokenize(text):
            raise DataError(f"file '{file}' has no text", "delete it or give it content")
        texts.append(text)
    return _labelled(np.array(texts, dtype=object), np.array([name for _, name in files]), f"text folder {path}", options, like, "folder name")


def text_usage_code(spec: dict[str, Any]) -> list[str]:
    """Lines that turn raw strings into the model input ``x``."""
    return [
        "import re",
        'inp = prep["input"]',
        'index = {token: i + inp["first_vocabulary_index"] for i, token in enumerate(inp["vocabulary"])}',
        "def encode(text):",
        '    ids = [index.get(t, inp["out_of_vocabulary_index"]) for t in re.findall(inp["token_pattern"], text.lower())]',
        '    ids = ids[: inp["sequence_length"]]',
        '    return ids + [inp["padding_index"]] * (inp["sequence_length"] - len(ids))',
        'texts = ["Congratulations! You won a prize, call now", "See you at lunch?"]',
        'x = np.array([encode(t) for t in texts], dtype="int32")',
    ]
