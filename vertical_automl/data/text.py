"""Text loaders and the text encoder: tokens, bigrams and a vocabulary learned on the training split.

Keras's TextVectorization needs TensorFlow, so tokenising happens outside
the model with rules simple enough to repeat anywhere from
``preprocessing.json``: lower-case, split into runs of word characters and
single punctuation marks (``TOKEN_PATTERN``), map each token to its index in
the vocabulary (1 for out-of-vocabulary), cut or pad with 0 to a fixed length.

Sequence models alone trail TF-IDF with logistic regression on a few
thousand texts, so each row also carries a bag of n-grams: after the token
ids come the ids of the distinct vocabulary entries (tokens and bigrams, two
tokens joined by one space) found in the text.  Bigrams seen in at least two
training texts join the end of the one vocabulary, so a token has the same id
in both parts; the smooth idf of every entry (as scikit-learn computes it)
goes to the model builder, which weights the bag inside the model.

Sources: a CSV/TSV/Parquet table with a text and a target column, or a folder
with one sub-folder of ``.txt`` files per class.  Bad bytes, empty texts and
missing labels are reported with the line or file to fix.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from .arrays import encode_labels
from .dataset import LabeledData
from .encoding import Encoder
from .options import check_options
from .split_columns import SPLIT_OPTIONS, pick_split_columns, read_split_columns
from .tables import (
    MISSING_MARKERS,
    READ_OPTIONS,
    TARGET_NAMES,
    decode_bytes,
    pick_column,
    positions,
    read_table,
    stripped,
)

TOKEN_PATTERN = r"\w+|[^\w\s]"
SIZE_OPTIONS = ("max_tokens", "max_bigrams", "sequence_length")
TEXT_TABLE_OPTIONS = (*READ_OPTIONS, "text_column", *SIZE_OPTIONS, *SPLIT_OPTIONS)
TEXT_FOLDER_OPTIONS = ("encoding", *SIZE_OPTIONS)
TEXT_SUFFIXES = (".txt",)
MAX_TOKENS = 20_000
MAX_BIGRAMS = 20_000
NGRAM_LENGTH_RANGE = (8, 1024)  # the bag is an embedding lookup, so a long one is cheap
PAD, OOV, FIRST_INDEX = 0, 1, 2
SIZE_FIX = "pass e.g. -O max_tokens=20000 -O max_bigrams=20000 -O sequence_length=64"


def tokenize(text: str) -> list[str]:
    return re.findall(TOKEN_PATTERN, text.lower())


def ngrams(tokens: list[str]) -> list[str]:
    """Each token, then the bigram it starts with the next token (joined by one space), in text order."""
    grams = []
    for i, token in enumerate(tokens):
        grams += [token, f"{token} {tokens[i + 1]}"] if i + 1 < len(tokens) else [token]
    return grams


def smooth_idf(documents: int, document_frequency: int) -> float:
    """scikit-learn's ``smooth_idf``: ln((1 + n) / (1 + df)) + 1, as if one extra text held every entry."""
    return math.log((1 + documents) / (1 + document_frequency)) + 1


class TextEncoder(Encoder):
    """Token ids of a fixed length, then the ids of the text's distinct known n-grams.

    ``vocabulary`` holds ``token_count`` tokens (most frequent first), then
    bigrams; entry i has id i + 2.  An encoder with ``ngram_length`` 0 writes
    token ids only, the layout of bundles made before the n-gram bag.
    """

    def __init__(
        self,
        max_tokens: int = MAX_TOKENS,
        sequence_length: int | None = None,
        vocabulary: tuple[str, ...] = (),
        max_bigrams: int = MAX_BIGRAMS,
        token_count: int | None = None,
        ngram_length: int = 0,
        idf: tuple[float, ...] = (),
    ) -> None:
        self.max_tokens = max_tokens
        self.max_bigrams = max_bigrams
        self.sequence_length = sequence_length
        self.vocabulary = vocabulary
        self.token_count = len(vocabulary) if token_count is None else token_count
        self.ngram_length = ngram_length
        self.idf = idf

    def fit(self, x: Any) -> TextEncoder:
        """Tokens seen twice or more, then bigrams in two texts or more (most frequent first); lengths from percentiles.

        Sequence length: the 95th percentile of token counts, 8 to 256.  N-gram
        length: the 99th percentile of known n-grams per text, 8 to 1024 (a
        longer bag costs little, and a cut one loses words).
        """
        tokenized = [tokenize(t) for t in x]
        counts = Counter(token for tokens in tokenized for token in tokens)
        tokens = _most_frequent(counts, counts, self.max_tokens - FIRST_INDEX)
        frequency = Counter(gram for text in tokenized for gram in set(ngrams(text)))  # document frequency
        bigrams = _most_frequent(frequency, [g for g in frequency if " " in g], self.max_bigrams)
        vocabulary = (*tokens, *bigrams)
        idf = tuple(smooth_idf(len(tokenized), frequency[entry]) for entry in vocabulary)
        length = self.sequence_length or int(
            min(256, max(8, math.ceil(np.percentile([len(t) for t in tokenized], 95))))
        )
        index = _index(vocabulary)
        known = [len(_ngram_ids(text, index)) for text in tokenized]
        low, high = NGRAM_LENGTH_RANGE
        ngram_length = int(min(high, max(low, math.ceil(np.percentile(known, 99)))))
        return TextEncoder(self.max_tokens, length, vocabulary, self.max_bigrams, len(tokens), ngram_length, idf)

    def transform(self, x: Any) -> np.ndarray:
        index = _index(self.vocabulary)
        length = self.sequence_length
        out = np.full((len(x), length + self.ngram_length), PAD, dtype=np.int32)
        for row, text in enumerate(x):
            tokens = tokenize(str(text))
            ids = [index.get(token, OOV) for token in tokens][:length]
            out[row, : len(ids)] = ids
            if self.ngram_length:
                grams = _ngram_ids(tokens, index)[: self.ngram_length]
                out[row, length : length + len(grams)] = grams
        return out

    def statistics(self, encoded_train: np.ndarray) -> dict[str, Any]:
        """Sizes of the two embeddings and the idf of every n-gram id (0 for padding and unknown, which never count)."""
        return {
            "vocabulary_size": self.token_count + FIRST_INDEX,
            "sequence_length": self.sequence_length,
            "ngram_vocabulary_size": len(self.vocabulary) + FIRST_INDEX,
            "ngram_length": self.ngram_length,
            "idf": [0.0] * FIRST_INDEX + list(self.idf),
        }

    def spec(self) -> dict[str, Any]:
        return {
            "kind": "text",
            "lowercase": True,
            "token_pattern": TOKEN_PATTERN,
            "vocabulary": list(self.vocabulary),
            "token_count": self.token_count,
            "padding_index": PAD,
            "out_of_vocabulary_index": OOV,
            "first_vocabulary_index": FIRST_INDEX,
            "sequence_length": self.sequence_length,
            "ngram_length": self.ngram_length,
            "shape": [self.sequence_length + self.ngram_length],
            "dtype": "int32",
            "rules": [
                "Lower-case the text and find all matches of token_pattern (Python re): the tokens.",
                "Entry i of vocabulary has id i + 2: its first token_count entries are tokens, "
                "the rest bigrams (two tokens joined by one space).",
                "The first sequence_length columns: the id of each token in order (1 for a token not in vocabulary), "
                "cut to sequence_length and padded at the end with 0.",
                "The last ngram_length columns: the n-grams of the text in order (each token, then the bigram it "
                "starts with the next token), kept when in vocabulary, as ids without repeats; "
                "cut to ngram_length and padded at the end with 0.",
            ],
        }


def _most_frequent(counts: Counter[str], candidates: Iterable[str], limit: int) -> list[str]:
    """The candidates counted at least twice, most frequent first (ties alphabetically), at most ``limit``."""
    return sorted((c for c in candidates if counts[c] >= 2), key=lambda c: (-counts[c], c))[:limit]


def _index(vocabulary: tuple[str, ...]) -> dict[str, int]:
    """Entry to id; tokens never contain a space, so a token never matches a bigram entry."""
    return {entry: i + FIRST_INDEX for i, entry in enumerate(vocabulary)}


def _ngram_ids(tokens: list[str], index: dict[str, int]) -> list[int]:
    """Ids of the known n-grams of ``tokens``, first occurrence first, without repeats."""
    return list(dict.fromkeys(index[gram] for gram in ngrams(tokens) if gram in index))


def _encoder(options: Mapping[str, str], like: LabeledData | None) -> TextEncoder:
    if like is not None:
        if not isinstance(like.encoder, TextEncoder):
            raise DataError(
                f"the test data is text but the training data ({like.source}) is not",
                "give --test-data in the same format as the training data",
            )
        return like.encoder
    try:
        max_tokens = int(options.get("max_tokens", MAX_TOKENS))
        max_bigrams = int(options.get("max_bigrams", MAX_BIGRAMS))
        length = int(options["sequence_length"]) if "sequence_length" in options else None
    except ValueError as error:
        problem = f"max_tokens, max_bigrams and sequence_length must be whole numbers ({error})"
        raise DataError(problem, SIZE_FIX) from error
    if max_tokens < 10 or max_bigrams < 0 or (length is not None and not 1 <= length <= 4096):
        problem = "max_tokens must be at least 10, max_bigrams at least 0 and sequence_length between 1 and 4096"
        raise DataError(problem, SIZE_FIX)
    return TextEncoder(max_tokens, length, max_bigrams=max_bigrams)


def _labelled(
    texts: np.ndarray,
    labels: np.ndarray,
    source: str,
    options: Mapping[str, str],
    like: LabeledData | None,
    target: str,
) -> LabeledData:
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
    raise DataError(
        f"cannot tell which column holds the text among {', '.join(candidates[:12])}", "pass --text-column NAME"
    )


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
    raise DataError(
        f"cannot tell which column holds the label among {', '.join(map(str, frame.columns[:12]))}",
        "pass --target-column NAME",
    )


def load_text_table(path: Path, options: Mapping[str, str], like: LabeledData | None = None) -> LabeledData:
    """A CSV/TSV/Parquet file with one text column and one label column."""
    check_options(options, TEXT_TABLE_OPTIONS, f"text table {path}")
    frame = read_table(path, options)
    if like is not None:
        target, text = like.target, like.input_spec.get("text_column")
    else:
        text = pick_column(frame, options["text_column"], "--text-column") if options.get("text_column") else None
        target = (
            pick_column(frame, options["target_column"], "--target-column")
            if options.get("target_column")
            else _guess_target(frame, text)
        )
        text = text or _guess_text_column(frame, target)
    for name, flag in ((target, "--target-column"), (text, "--text-column")):
        if name not in frame.columns:
            raise DataError(
                f"'{path}' has no column '{name}' ({flag})",
                f"give a table with the training data's columns ({target}, {text})",
            )
    if text == target:
        raise DataError(
            f"column '{text}' cannot be both the text and the label", "pass different --text-column and --target-column"
        )
    texts, labels = stripped(frame[text]), stripped(frame[target])
    no_label = np.isin(labels, MISSING_MARKERS)
    if no_label.any():
        raise DataError(
            f"the label column '{target}' of '{path}' is empty on {positions(frame, no_label)}",
            "remove those rows or fill in their label",
        )
    empty = np.array([not tokenize(t) for t in texts])
    if empty.any():
        raise DataError(
            f"the text column '{text}' of '{path}' is empty on {positions(frame, empty)}",
            "remove those rows or give them text",
        )
    data = _labelled(texts, labels, f"text table {path}", options, like, target)
    data.input_spec["text_column"] = text
    split_by = pick_split_columns(frame, options, {target: "the target", text: "the text"}) if like is None else {}
    split = read_split_columns(frame, split_by, ".")
    return replace(data, groups=split.groups, order=split.order, split_by=split.split_by)


def is_text_folder(path: Path) -> bool:
    return path.is_dir()


def load_text_folder(path: Path, options: Mapping[str, str], like: LabeledData | None = None) -> LabeledData:
    """``path/<class>/<file>.txt``: one document per file, one sub-folder per class."""
    check_options(options, TEXT_FOLDER_OPTIONS, f"text folder {path}")
    encoding = options.get("encoding", "utf-8")
    folders = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    files = [
        (f, folder.name)
        for folder in folders
        for f in sorted(folder.rglob("*"))
        if f.is_file() and f.suffix.lower() in TEXT_SUFFIXES
    ]
    if not files:
        raise DataError(
            f"'{path}' has no .txt files in class sub-folders",
            f"put one .txt file per document in a sub-folder per class, e.g. {path}/spam/1.txt",
        )
    classes = {name for _, name in files}
    if like is None and len(classes) < 2:
        raise DataError(
            f"the text folder '{path}' has only one class ('{classes.pop()}')",
            "add a sub-folder of .txt files for each other class",
        )
    texts = []
    for file, _ in files:
        text = decode_bytes(file.read_bytes(), encoding, f"file '{file}'").strip()
        if not tokenize(text):
            raise DataError(f"file '{file}' has no text", "delete it or give it content")
        texts.append(text)
    return _labelled(
        np.array(texts, dtype=object),
        np.array([name for _, name in files]),
        f"text folder {path}",
        options,
        like,
        "folder name",
    )


def text_usage_code(spec: dict[str, Any]) -> list[str]:
    """Lines that turn raw strings into the model input ``x``: the token ids, then the n-gram ids."""
    return [
        "import re",
        'inp = prep["input"]',
        'index = {entry: i + inp["first_vocabulary_index"] for i, entry in enumerate(inp["vocabulary"])}',
        'pad, length, ngram_length = inp["padding_index"], inp["sequence_length"], inp["ngram_length"]',
        "def encode(text):",
        '    tokens = re.findall(inp["token_pattern"], text.lower())',
        '    ids = [index.get(t, inp["out_of_vocabulary_index"]) for t in tokens][:length]',
        "    grams = []  # each token, then the bigram it starts",
        "    for i, token in enumerate(tokens):",
        '        grams += [token, token + " " + tokens[i + 1]] if i + 1 < len(tokens) else [token]',
        "    known = list(dict.fromkeys(index[g] for g in grams if g in index))[:ngram_length]",
        "    return ids + [pad] * (length - len(ids)) + known + [pad] * (ngram_length - len(known))",
        'texts = ["Congratulations! You won a prize, call now", "See you at lunch?"]',
        'x = np.array([encode(t) for t in texts], dtype="int32")',
    ]
