"""Text loaders and the text input kind: a text column of a table, or a folder of ``.txt`` files per class.

Sources: a CSV/TSV/Parquet table with a text and a target column, or a folder
with one sub-folder of ``.txt`` files per class.  Bad bytes, empty texts and
missing labels are reported with the line or file to fix.  The loaders attach
an unfitted :class:`~.text_encoder.TextEncoder` (tokens, bigrams and their
vocabulary, learned on the training split); :data:`TEXT` is how a bundle
reads and encodes new texts again from ``preprocessing.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from .arrays import encode_labels
from .dataset import LabeledData
from .input_kind import InputKind, RawInputs
from .loader import DataLoader, LoaderOption
from .options import check_options
from .split_columns import SPLIT_OPTION_HELP, SPLIT_OPTIONS, pick_split_columns, read_split_columns
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
from .text_encoder import MAX_BIGRAMS, MAX_TOKENS, TextEncoder, tokenize

SIZE_OPTIONS = ("max_tokens", "max_bigrams", "sequence_length")
TEXT_TABLE_OPTIONS = (*READ_OPTIONS, "text_column", *SIZE_OPTIONS, *SPLIT_OPTIONS)
TEXT_FOLDER_OPTIONS = ("encoding", *SIZE_OPTIONS)
TEXT_SUFFIXES = (".txt",)
SIZE_FIX = "pass e.g. -O max_tokens=20000 -O max_bigrams=20000 -O sequence_length=64"
SIZE_HELP = (
    LoaderOption("max_tokens", "N: at most N tokens in the vocabulary (default 20000)"),
    LoaderOption("max_bigrams", "N: at most N bigrams in the vocabulary (default 20000; 0 for none)"),
    LoaderOption("sequence_length", "N: token ids per text (default: the 95th percentile of lengths, 8 to 256)"),
)


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


def text_table_loader() -> DataLoader:
    """The loader of a text column in a CSV/TSV/Parquet table, ready to go into a vertical's ``loaders``."""
    from .tables import is_table_file

    return DataLoader(
        "text-table",
        "a CSV, TSV or Parquet table with a text column and a label column (--text-column, --target-column)",
        is_table_file,
        load_text_table,
        options=(
            LoaderOption("target_column", "NAME: the label column (default: 'label', 'target', ... or the other one)"),
            LoaderOption("header", "true|false: whether the first line names the columns (default true)"),
            LoaderOption("delimiter", "CHAR: the field separator (default: sniffed)"),
            LoaderOption("encoding", "NAME: the file's text encoding (default utf-8)"),
            LoaderOption("text_column", "NAME: the column holding the text (default: the one with the longest cells)"),
            *SIZE_HELP,
            *SPLIT_OPTION_HELP,
        ),
        kind=TEXT,
    )


def text_folder_loader() -> DataLoader:
    """The loader of a folder with one sub-folder of ``.txt`` files per class."""
    return DataLoader(
        "text-folder",
        "a folder with one sub-folder of .txt files per class",
        is_text_folder,
        load_text_folder,
        options=(LoaderOption("encoding", "NAME: the files' text encoding (default utf-8)"), *SIZE_HELP),
        kind=TEXT,
    )


def read_texts(raw: Any, spec: dict[str, Any]) -> RawInputs:
    """Texts to predict on: a string, a list of strings, a ``.txt`` file (one per line), a folder of ``.txt`` files
    (one each) or a table with the training text column (or a single column).
    """
    if isinstance(raw, (str, Path)) and Path(raw).exists():
        texts, names = _texts_in(Path(raw), spec)
    elif isinstance(raw, str):
        texts, names = [raw], ["0"]
    elif isinstance(raw, (list, tuple)) and all(isinstance(t, str) for t in raw):
        texts, names = list(raw), [str(i) for i in range(len(raw))]
    else:
        raise DataError(
            f"a text model cannot read {type(raw).__name__} input",
            "give a list of strings, a .txt file (one text per line), a folder of .txt files or a table",
        )
    if not texts:
        raise DataError("there is no text to predict on", "give at least one non-empty text")
    return RawInputs(list(texts), list(names))


def _texts_in(path: Path, spec: dict[str, Any]) -> tuple[list[str], list[str]]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.txt") if p.is_file())
        if not files:
            raise DataError(f"the folder '{path}' holds no .txt files", "put one text per .txt file in it")
        return [f.read_text(encoding="utf-8", errors="replace") for f in files], [str(f) for f in files]
    if path.suffix.lower() == ".txt":
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        kept = [(f"line {i}", line) for i, line in enumerate(lines, 1) if line.strip()]
        return [text for _, text in kept], [name for name, _ in kept]
    frame = read_table(path, {})
    column = spec.get("text_column")
    if column not in frame.columns:
        if frame.shape[1] != 1:
            raise DataError(
                f"'{path}' has no column '{column}', the text column the model was trained on",
                f"name the text column '{column}'",
            )
        column = frame.columns[0]
    return list(frame[column]), [f"line {i}" for i in frame.index]


def text_examples(spec: dict[str, Any], rows: int, rng: np.random.Generator) -> np.ndarray:
    """Rows of ids that index the run's vocabulary, as the model's embeddings expect."""
    width = spec.get("shape", [spec["sequence_length"] + spec.get("ngram_length", 0)])[0]
    return rng.integers(0, spec["first_vocabulary_index"] + len(spec["vocabulary"]), size=(rows, width))


TEXT = InputKind(
    "text",
    "strings, tokenised and looked up in the training vocabulary",
    encoder=TextEncoder,
    read=read_texts,
    usage_code=text_usage_code,
    examples=text_examples,
)
