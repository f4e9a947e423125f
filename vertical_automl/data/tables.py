"""Reading CSV, TSV and Parquet files into raw tables, and picking their columns.

Every cell is read as text (``dtype=str``), exactly as a downstream app would
see it in a CSV row, so typing, missing values and encoding are decided by
vautoml's own rules (see :mod:`.table_encoder`), not by a reader's guesses.
The frame's index holds file line numbers (``line``) for delimited files and
1-based row numbers (``row``) for Parquet, so every error can point at the
place to fix.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from .arrays import encode_labels
from .options import parse_bool

DELIMITED_SUFFIXES = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
# Files like UCI's SMSSpamCollection or *.data have no telling suffix: sniff the delimiter.
SNIFFED_SUFFIXES = ("", ".txt", ".data", ".dat")
PARQUET_SUFFIXES = (".parquet", ".pq")
READ_OPTIONS = ("target_column", "header", "delimiter", "encoding")
# The mark between whole and fractional part of numbers (-O decimal=,); the default is '.'.
DECIMAL_MARKS = (".", ",")
# Cells that mean "no value" in every column; --missing-values adds more.
MISSING_MARKERS = ("", "NA", "N/A", "n/a", "na", "NaN", "nan", "null", "NULL", "None", "none", "?", "#N/A")
TARGET_NAMES = ("target", "label", "labels", "class", "y", "outcome")
MAX_CLASSES_BEFORE_REGRESSION = 20


def is_table_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in (*DELIMITED_SUFFIXES, *PARQUET_SUFFIXES, *SNIFFED_SUFFIXES)


def sniff_delimiter(text: str) -> str:
    """Tab if the first line has one, else semicolon if it has one and no comma, else comma."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    if "\t" in first:
        return "\t"
    return ";" if ";" in first and "," not in first else ","


def decode_bytes(raw: bytes, encoding: str, source: str) -> str:
    """Decode strictly; a bad byte is reported with its line number."""
    try:
        return raw.decode("utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding)
    except LookupError as error:
        raise DataError(
            f"unknown text encoding '{encoding}'", "pass -O encoding=utf-8 or another Python codec name such as latin-1"
        ) from error
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise DataError(
            f"{source} line {line} is not valid {encoding} "
            f"(byte {raw[error.start : error.start + 1]!r} at offset {error.start})",
            "re-save the file as UTF-8, or pass -O encoding=latin-1 (or the file's real encoding)",
        ) from error


def read_table(path: Path, options: Mapping[str, str]) -> Any:
    """Read ``path`` into a DataFrame of strings, indexed by line (or row) number.

    ``frame.attrs["delimiter"]`` records the delimiter used (sniffed when the
    suffix does not tell), so the bundle can say how to read new files.
    Column names must be distinct and non-empty: a CSV reader keyed by name
    (the model card's ``csv.DictReader``) would otherwise see other cells than vautoml.
    """
    import pandas as pd

    header = parse_bool(options.get("header", "true"), "header")
    suffix = path.suffix.lower()
    delimiter = None
    if suffix in PARQUET_SUFFIXES:
        try:
            frame = pd.read_parquet(path)
        except Exception as error:  # pyarrow raises many types for damaged files
            raise DataError(
                f"cannot read '{path}' as Parquet ({type(error).__name__}: {error})",
                "check that the file is a complete Parquet file",
            ) from error
        frame = frame_of_text(frame)
        names = [str(c) for c in frame.columns]
    else:
        text = decode_bytes(path.read_bytes(), options.get("encoding", "utf-8"), f"'{path}'")
        if not text.strip():
            raise DataError(f"'{path}' is empty", "give a table with a header line and at least a few rows")
        delimiter = options.get("delimiter") or DELIMITED_SUFFIXES.get(suffix) or sniff_delimiter(text)
        delimiter = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";"}.get(delimiter, delimiter)
        if not options.get("delimiter"):
            _check_delimiter(text, delimiter, path)
        quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
        try:
            frame = pd.read_csv(
                io.StringIO(text),
                sep=delimiter,
                header=0 if header else None,
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                skip_blank_lines=False,
                quoting=quoting,
            )
        except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as error:
            raise DataError(
                f"cannot read '{path}' as a table ({str(error).strip()})",
                "check the delimiter (-O delimiter=';') and that every line has the same number of fields",
            ) from error
        # pandas renames a repeated name ("a" -> "a.1"); the header as written is what name checks need.
        names = next(csv.reader(io.StringIO(text), delimiter=delimiter, quoting=quoting), []) if header else []
        frame.index = pd.RangeIndex(1 + header, len(frame) + 1 + header, name="line")
        frame = frame[~(frame.apply(lambda column: column.str.strip() == "")).all(axis=1)]  # blank lines
    if not header:
        frame.columns = [f"column_{i}" for i in range(1, frame.shape[1] + 1)]
    else:
        check_column_names([name.strip() for name in names], f"'{path}'")
    frame.columns = [str(c).strip() for c in frame.columns]
    frame.attrs["delimiter"] = delimiter  # for preprocessing.json; None for Parquet
    if len(frame) == 0:
        raise DataError(
            f"'{path}' holds no data rows",
            "give a table with a header line and at least a few rows (or -O header=false)",
        )
    return frame


def _check_delimiter(text: str, delimiter: str, path: Path) -> None:
    """Refuse a first line that, split on the suffix's delimiter, is one field but holds another delimiter.

    A ';'-separated ``.csv`` (as spreadsheets with decimal commas write) would
    otherwise read as one column, or fail with a field count that hides the cause.
    """
    first = next((line for line in text.splitlines() if line.strip()), "")
    if delimiter in first:
        return
    found = next((mark for mark in (";", "\t") if mark in first), None)
    if found is not None:
        name, option = ("a semicolon", "';'") if found == ";" else ("a tab", "tab")
        raise DataError(
            f"'{path}' reads as one column with the delimiter {delimiter!r}, but its first line holds {name}",
            f"pass -O delimiter={option}",
        )


def check_column_names(names: list[str], source: str) -> None:
    """Refuse repeated or empty column names, naming them: readers disagree on which cell such a name means."""
    repeated = sorted({name for name in names if names.count(name) > 1 and name})
    empty = [str(i) for i, name in enumerate(names, 1) if not name]
    if repeated:
        raise DataError(
            f"{source} has duplicate column names: {', '.join(repeated)}",
            "rename the columns so that every name is different",
        )
    if empty:
        raise DataError(
            f"{source} has column(s) without a name in its header line (position {', '.join(empty)})",
            "give every column a name, or remove the empty column (e.g. a delimiter at the end of each line)",
        )


def frame_of_text(frame: Any) -> Any:
    """Every cell as text ("" where empty), indexed by 1-based ``row`` numbers: how in-memory tables enter."""
    import pandas as pd

    out = frame.astype(object).where(frame.notna(), "").map(str)
    out.index = pd.RangeIndex(1, len(out) + 1, name="row")
    return out


def frame_of_records(records: list[dict[str, Any]]) -> Any:
    """``{column: value}`` rows (JSON records) as :func:`frame_of_text` makes tables: every cell as text, "" where
    missing (``None``, NaN or an absent key).

    Each value becomes text on its own, not through a column dtype pandas would
    infer: a column of whole numbers with one missing cell would otherwise turn
    into floats, and a category recorded as 1 be read as the unknown "1.0".
    Building the text frame directly is also several times faster for the one
    or two records of a served request.
    """
    import pandas as pd

    columns = list(dict.fromkeys(column for record in records for column in record))
    cells = {column: [_cell_text(record.get(column)) for record in records] for column in columns}
    out = pd.DataFrame(cells, columns=columns, dtype=object)
    out.index = pd.RangeIndex(1, len(out) + 1, name="row")
    return out


def _cell_text(value: Any) -> str:
    if value is None or isinstance(value, float) and math.isnan(value):
        return ""
    return str(value)


def describe_positions(index: Iterable[Any], name: str, limit: int = 5) -> str:
    """'lines 3, 7, 9 and 2 more' from index labels."""
    labels = [str(i) for i in index]
    shown = ", ".join(labels[:limit])
    more = f" and {len(labels) - limit} more" if len(labels) > limit else ""
    return f"{name}{'s' if len(labels) > 1 else ''} {shown}{more}"


def positions(frame: Any, mask: np.ndarray) -> str:
    return describe_positions(frame.index[np.asarray(mask)], frame.index.name or "row")


def pick_column(frame: Any, choice: str | None, flag: str, default: str | None = None) -> str:
    """Resolve a column given by name or by 1-based position (negative counts from the end)."""
    columns = list(frame.columns)
    if choice is None or choice == "":
        if default is None:
            raise DataError(
                f"{flag} is needed to choose among columns {', '.join(columns[:12])}",
                f"pass {flag} NAME (or a position such as 1 or -1)",
            )
        return default
    if choice in columns:
        return choice
    folded = [c for c in columns if c.lower() == choice.lower()]
    if len(folded) == 1:
        return folded[0]
    if re.fullmatch(r"-?\d+", choice.strip()):
        position = int(choice)
        if 1 <= position <= len(columns):
            return columns[position - 1]
        if -len(columns) <= position <= -1:
            return columns[position]
    raise DataError(
        f"column '{choice}' ({flag}) is not in the table; "
        f"its columns are {', '.join(columns[:20])}{' ...' if len(columns) > 20 else ''}",
        f"pass {flag} with one of those names or a position such as 1 or -1 "
        "(files without a header use column_1, column_2, ...)",
    )


def default_target(frame: Any) -> str:
    """A column named like a target (target, label, class, y, outcome), else the last column."""
    named = [c for c in frame.columns if c.lower() in TARGET_NAMES]
    return named[0] if len(named) == 1 else frame.columns[-1]


def stripped(series: Any) -> np.ndarray:
    return np.array([str(v).strip() for v in series], dtype=object)


def missing_mask(values: np.ndarray, sentinels: Iterable[str] = (), decimal: str = ".") -> np.ndarray:
    """True where a stripped cell is a missing marker or one of the column's declared sentinels.

    A sentinel that is a number matches numerically ("0" matches "0.0");
    any other sentinel matches the text exactly.  ``preprocessing.json``
    documents the same rule for downstream apps.
    """
    mask = np.isin(values, MISSING_MARKERS)
    numbers = to_numbers(values, decimal)
    for sentinel in sentinels:
        try:
            mask |= numbers == float(sentinel)
        except ValueError:
            mask |= values == sentinel
    return mask


def to_numbers(values: np.ndarray, decimal: str = ".") -> np.ndarray:
    """Float value of each cell, NaN where the cell is not a number; ``decimal`` ',' reads "1,5" as 1.5."""
    out = np.full(len(values), np.nan)
    for i, text in enumerate(values):
        try:
            out[i] = float(text.replace(decimal, "."))
        except ValueError:
            pass
    return out


@dataclass(frozen=True)
class Targets:
    y: np.ndarray
    class_names: tuple[str, ...]


def decimal_mark(options: Mapping[str, str]) -> str:
    """The ``decimal`` option, checked: '.' (the default) or ','."""
    mark = options.get("decimal", ".").strip()
    if mark not in DECIMAL_MARKS:
        fix = "use -O decimal=, for numbers such as 1,5 (the default is '.')"
        raise DataError(f"option decimal={mark!r} is not a decimal mark", fix)
    return mark


def read_targets(
    frame: Any,
    column: str,
    task: str,
    allow_regression: bool,
    source: str,
    decimal: str = ".",
) -> Targets:
    """Class indices (or numbers, for regression) from ``column``, rejecting empty cells."""
    values = stripped(frame[column])
    empty = np.isin(values, MISSING_MARKERS)
    if empty.any():
        raise DataError(
            f"the target column '{column}' of {source} is empty on {positions(frame, empty)}",
            "remove those rows or fill in their target",
        )
    numbers = to_numbers(values, decimal)
    numeric = not np.isnan(numbers).any()
    if task not in ("auto", "classification", "regression"):
        raise DataError(
            f"option task={task!r} is not known", "use task=classification or task=regression (default: auto)"
        )
    if task == "regression" and not allow_regression:
        raise DataError(
            "this vertical does not do regression",
            "use a classification target, or a vertical that handles regression (see 'vautoml plugins list') "
            "for a numeric target",
        )
    if task == "regression" and not numeric:
        bad = np.isnan(numbers)
        raise DataError(
            f"the target column '{column}' of {source} is not a number on {positions(frame, bad)}",
            "repair those values, or drop -O task=regression",
        )
    continuous = numeric and (
        np.any(np.mod(numbers, 1) != 0) or len(np.unique(numbers)) > MAX_CLASSES_BEFORE_REGRESSION
    )
    if task == "auto" and continuous and not allow_regression:
        raise DataError(
            f"the target column '{column}' of {source} holds {len(np.unique(numbers))} distinct numbers, "
            "a continuous target, but this vertical only classifies",
            "choose a class column with --target-column, pass -O task=classification if the numbers are class codes, "
            "or use a vertical that handles regression (see 'vautoml plugins list')",
        )
    if task == "regression" or (task == "auto" and continuous):
        infinite = ~np.isfinite(numbers)
        if infinite.any():
            raise DataError(
                f"the target column '{column}' of {source} is infinite on {positions(frame, infinite)}",
                "repair or remove those rows",
            )
        return Targets(numbers.astype(np.float32), ())
    y, class_names = encode_labels(values.astype(str), source)
    return Targets(y, class_names)


@dataclass
class MissingValues:
    """Declared sentinels: ``everywhere`` applies to every feature column, ``by_column`` to one."""

    everywhere: list[str] = field(default_factory=list)
    by_column: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None, frame: Any) -> MissingValues:
        """Parse ``0`` / ``-1,999`` (every column) and ``col=0`` / ``a,b=0`` (those columns), joined by ';'."""
        found = cls()
        for part in (p.strip() for p in (text or "").split(";")):
            if not part:
                continue
            columns, sep, values = part.rpartition("=")
            markers = [v.strip() for v in values.split(",") if v.strip()]
            if not markers:
                raise DataError(
                    f"--missing-values '{part}' names no value",
                    "write e.g. --missing-values 0 or --missing-values glucose=0",
                )
            if not sep:
                found.everywhere.extend(markers)
                continue
            for name in (c.strip() for c in columns.split(",")):
                found.by_column.setdefault(pick_column(frame, name, "--missing-values"), []).extend(markers)
        return found

    def for_column(self, name: str) -> list[str]:
        return sorted(set(self.everywhere) | set(self.by_column.get(name, [])))
