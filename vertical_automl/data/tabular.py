"""The table loader every tabular vertical shares.

``load_table`` reads a CSV/TSV/Parquet file, picks the target column, types
the feature columns and returns raw string cells plus an unfitted
:class:`~.table_encoder.TableEncoder`; the core fits the encoder on the
training split only.  ``table_usage_code`` is the few lines a downstream app
needs to do the same encoding from ``preprocessing.json``, and :data:`TABLE`
the input kind that repeats it for ``predict``, ``evaluate`` and ``export``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from .dataset import LabeledData
from .input_kind import InputKind, RawInputs
from .loader import DataLoader, LoaderOption
from .options import check_options, parse_bool
from .split_columns import SPLIT_OPTION_HELP, SPLIT_OPTIONS, pick_split_columns, read_split_columns
from .table_encoder import TableEncoder, infer_columns
from .tables import (
    READ_OPTIONS,
    MissingValues,
    decimal_mark,
    default_target,
    frame_of_records,
    frame_of_text,
    is_table_file,
    pick_column,
    read_table,
    read_targets,
)

TABLE_OPTIONS = (*READ_OPTIONS, "decimal", "missing_values", "categorical", "ignore", "task", *SPLIT_OPTIONS)
# How the training file was read, recorded in preprocessing.json and repeated for test data and predictions.
RECORDED_READ_OPTIONS = ("delimiter", "encoding")


def load_table(path: Path, options: Mapping[str, str], like: LabeledData | None, allow_regression: bool) -> LabeledData:
    """Read a table for a tabular vertical; with ``like`` (the training data), read it the same way."""
    check_options(options, TABLE_OPTIONS, f"table {path}")
    source = f"table {path}"
    if like is not None:
        if not isinstance(like.encoder, TableEncoder):
            raise DataError(
                f"the test data '{path}' is a table but the training data ({like.source}) is not",
                "give --test-data in the same format as the training data",
            )
        read_as = like.encoder.description
        recorded = {key: read_as[key] for key in RECORDED_READ_OPTIONS if read_as.get(key)}
        frame = read_table(path, {**recorded, **options})
        target = like.target
        if target not in frame.columns:
            raise DataError(
                f"the test table '{path}' has no target column '{target}'",
                "give the test data the training data's columns",
            )
        task = "regression" if like.is_regression else "classification"
        targets = read_targets(frame, target, task, allow_regression, source, like.encoder.decimal)
        names = [c.name for c in like.encoder.columns]
        return LabeledData(
            frame[[n for n in names if n in frame.columns]],
            targets.y,
            targets.class_names,
            like.input_spec,
            source,
            like.encoder,
            target,
        )

    frame = read_table(path, options)
    parquet = frame.index.name == "row"
    description = {
        "format": "parquet" if parquet else "delimited text",
        "header": parquet or parse_bool(options.get("header", "true"), "header"),
        "delimiter": frame.attrs["delimiter"],
        "encoding": None if parquet else options.get("encoding", "utf-8"),
    }
    return labeled_table(frame, options, source, description, allow_regression)


def labeled_table(
    frame: Any, options: Mapping[str, str], source: str, description: dict[str, Any], allow_regression: bool
) -> LabeledData:
    """Split a raw string table into typed features and a target (for files and built-in tables alike)."""
    target = pick_column(frame, options.get("target_column"), "--target-column", default_target(frame))
    ignored = {
        pick_column(frame, name, "-O ignore") for name in (options.get("ignore") or "").split(",") if name.strip()
    }
    if target in ignored:
        raise DataError(
            f"column '{target}' is both the target and ignored",
            "drop it from -O ignore or choose another --target-column",
        )
    split_by = pick_split_columns(frame, options, {target: "the target", **dict.fromkeys(ignored, "ignored")})
    features = frame[[c for c in frame.columns if c != target and c not in ignored and c not in split_by.values()]]
    if features.shape[1] == 0:
        raise DataError(
            f"{source} has no feature columns besides the target '{target}'",
            "give a table with at least one input column",
        )
    decimal = decimal_mark(options)
    task = options.get("task", "auto").strip().lower()
    targets = read_targets(frame, target, task, allow_regression, source, decimal)
    missing = MissingValues.parse(options.get("missing_values"), features)
    columns = infer_columns(features, options, missing, source)
    split = read_split_columns(frame, split_by, decimal)
    description = {
        **description,
        "decimal": decimal,
        "file_columns": list(frame.columns),
        "target": target,
        "ignored": sorted(ignored),
        **({"split_by": dict(split_by)} if split_by else {}),  # not features: they chose the held-out rows
    }
    encoder = TableEncoder(columns, description)
    return LabeledData(
        features,
        targets.y,
        targets.class_names,
        {"kind": "table"},
        source,
        encoder,
        target,
        groups=split.groups,
        order=split.order,
        split_by=split.split_by,
    )


TABLE_OPTION_HELP = (
    LoaderOption("target_column", "NAME: the column to predict (default: 'label', 'target', ... or the last one)"),
    LoaderOption("header", "true|false: whether the first line names the columns (default true)"),
    LoaderOption("delimiter", "CHAR: the field separator (default: sniffed)"),
    LoaderOption("encoding", "NAME: the file's text encoding (default utf-8)"),
    LoaderOption("decimal", "CHAR: the decimal mark of numbers, '.' or ',' (default '.')"),
    LoaderOption("missing_values", "COLUMN=VALUE,...: more cells that mean missing, per column"),
    LoaderOption("categorical", "COLUMN,...: number-coded columns to treat as categories"),
    LoaderOption("ignore", "COLUMN,...: columns to leave out of the features"),
    LoaderOption("task", "auto|classification|regression: what a numeric target means (default auto)"),
    *SPLIT_OPTION_HELP,
)


def table_loader(allow_regression: bool) -> DataLoader:
    """The CSV/TSV/Parquet loader for a tabular vertical, ready to go into its ``loaders`` as it is."""

    def load(path: Path, options: Mapping[str, str], like: LabeledData | None = None) -> LabeledData:
        return load_table(path, options, like, allow_regression)

    return DataLoader(
        "table",
        "a CSV, TSV or Parquet table (see --target-column, --no-header, --missing-values)",
        is_table_file,
        load,
        options=TABLE_OPTION_HELP,
        kind=TABLE,
    )


def read_table_inputs(raw: Any, spec: dict[str, Any]) -> RawInputs:
    """Rows to predict on: a CSV/TSV/Parquet path read as the training file was, a DataFrame, or a list of
    ``{column: value}`` rows; cells stay text, for the table encoder.
    """
    import pandas as pd

    if isinstance(raw, (str, Path)):
        path = Path(raw)
        if not path.is_file() or not is_table_file(path) and path.suffix:
            raise DataError(
                f"'{path}' is not a table file", "give a CSV, TSV or Parquet file with the training columns"
            )
        options = {"header": "true" if spec.get("header", True) else "false"}
        for key in RECORDED_READ_OPTIONS:  # as the training file was read (bundles before encoding have none)
            if spec.get(key):
                options[key] = spec[key]
        frame = read_table(path, options)
        return RawInputs(frame, [f"{frame.index.name} {i}" for i in frame.index])  # errors say "line 4"
    if isinstance(raw, pd.DataFrame):
        frame = frame_of_text(raw)
    elif isinstance(raw, list) and all(isinstance(row, dict) for row in raw):
        frame = frame_of_records(raw)
    else:
        raise DataError(
            f"a table model cannot read {type(raw).__name__} input",
            "give a CSV/TSV/Parquet path, a DataFrame or a list of {column: value} rows",
        )
    return RawInputs(frame, [str(i) for i in frame.index])


def table_examples(spec: dict[str, Any], rows: int, rng: np.random.Generator) -> np.ndarray:
    """Raw rows around the training medians and over the known categories, through the run's own encoder.

    Random feature vectors are far from the training data and saturate the
    output, so a wrong export could still agree with Keras on them.
    """
    import pandas as pd

    cells = {}
    for column in spec["columns"]:
        if column["type"] == "numeric":
            fill = float(column.get("fill") or 0.0)
            cells[column["name"]] = [str(v) for v in fill * rng.uniform(0.5, 1.5, rows) + rng.normal(0.0, 0.1, rows)]
        else:
            cells[column["name"]] = list(rng.choice([*column["categories"], "(unseen)"], rows))
    return TableEncoder.from_spec(spec).transform(pd.DataFrame(cells))


# For the model card of any vertical built on blocks.tabular_model.
TABLE_MODEL_NOTE = (
    "The model takes the encoded feature vector described above; robust scaling (training medians and interquartile "
    "ranges) with a smooth clip, and piecewise-linear bins at training quantiles where searched, "
    "are layers inside the model; so are boosted trees where chosen (frozen layers that compare each feature "
    "with the trees' thresholds)."
)


def table_usage_code(spec: dict[str, Any]) -> list[str]:
    """Lines that turn raw CSV rows (dicts of column -> text) into the model input ``x``.

    The file is opened and split as vautoml reads it: the recorded encoding
    ("utf-8-sig" for UTF-8, so a byte-order mark is not glued to the first
    column's name), the recorded delimiter (tabs without quote processing) and
    column names stripped of spaces; numbers use the recorded decimal mark.
    """
    encoding = spec.get("encoding") or "utf-8"
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        encoding = "utf-8-sig"  # as vautoml reads UTF-8: a byte-order mark is not part of the first column's name
    delimiter = spec.get("delimiter") or ","
    split = f"delimiter={json.dumps(delimiter)}" + (", quoting=csv.QUOTE_NONE" if delimiter == "\t" else "")
    if spec.get("header", True):
        reader = [
            f'with open("new_rows.csv", newline="", encoding={json.dumps(encoding)}) as handle:  # raw cells, as text',
            "    rows = [{k.strip(): v for k, v in r.items() if k is not None}  # names stripped, as vautoml does",
            f"            for r in csv.DictReader(handle, {split})]",
        ]
    else:
        reader = [
            f'with open("new_rows.csv", newline="", encoding={json.dumps(encoding)}) as handle:  # no header line',
            f'    rows = [dict(zip(inp["file_columns"], r)) for r in csv.reader(handle, {split})]',
        ]
    decimal = spec.get("decimal") or "."
    number = "float(str(text).strip())"
    if decimal != ".":
        number = f'float(str(text).strip().replace({json.dumps(decimal)}, "."))  # the decimal mark'
    return [
        "import csv",
        'inp = prep["input"]',
        "def number(text):",
        f"    return {number}",
        "def is_missing(text, column):",
        '    text = "" if text is None else str(text).strip()',
        '    if text in inp["missing_markers"]:',
        "        return True",
        '    for marker in column["missing_values"]:',
        "        try:",
        "            if number(text) == float(marker):",
        "                return True",
        "        except ValueError:",
        "            if text == marker:",
        "                return True",
        "    return False",
        "def encode(row):",
        "    out = []",
        '    for column in inp["columns"]:',
        '        value = row.get(column["name"])',
        "        missing = is_missing(value, column)",
        '        if column["type"] == "numeric":',
        '            out.append(column["fill"] if missing else number(value))',
        '            if column["indicator"]:',
        "                out.append(float(missing))",
        "        else:",
        '            cats = column["categories"]',
        '            text = "(missing)" if missing else str(value).strip()',
        "            slot = cats.index(text) if text in cats else len(cats)  # last slot: unseen category",
        "            out += [float(i == slot) for i in range(len(cats) + 1)]",
        "    return out",
        *reader,
        'x = np.array([encode(row) for row in rows], dtype="float32")',
    ]


TABLE = InputKind(
    "table",
    "rows of a CSV/TSV/Parquet table: typed, imputed and one-hot encoded as in training",
    encoder=TableEncoder,
    read=read_table_inputs,
    usage_code=table_usage_code,
    examples=table_examples,
)
