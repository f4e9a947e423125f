"""Column typing, imputation and one-hot encoding for tables, learned on the training split.

The rules, which ``preprocessing.json`` repeats for downstream apps:

* a cell is missing when, stripped, it is a standard marker (empty, NA,
  NaN, null, ?, ...) or a sentinel declared for its column with
  ``--missing-values`` (numeric sentinels match numerically);
* a number is read as Python's ``float`` after the table's decimal mark
  (``-O decimal=,``; default ``.``) becomes ``.``;
* a numeric column's missing cells take the training median, and a 0/1
  indicator column follows it when the training split had any missing;
* a categorical column becomes one-hot slots for its training categories
  (at most ``MAX_CATEGORIES``, most frequent first; a missing cell is the
  category ``(missing)``) plus one last slot for any other value, so a
  category never seen in training still has a place at prediction time.

Scaling is *not* done here: the model's first layer is a ``Normalization``
with the mean and variance from :meth:`TableEncoder.statistics`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..errors import DataError
from .dataset import FLOAT32_MAX
from .encoding import Encoder
from .tables import (
    MISSING_MARKERS,
    MissingValues,
    decimal_mark,
    missing_mask,
    pick_column,
    positions,
    stripped,
    to_numbers,
)

MAX_CATEGORIES = 50
# Training quantiles kept per feature, the edges piecewise-linear encodings choose their bins from: up to 96
# (the TabM and embeddings papers use about 48-128 bins on tables like adult), at least 16 training rows apart on
# average, so a bin of a few hundred rows is not a handful of points whose slope the model memorises.
QUANTILE_LEVELS, MIN_QUANTILE_LEVELS, ROWS_PER_QUANTILE = 96, 8, 16
MISSING_CATEGORY = "(missing)"
OTHER_CATEGORY = "(other)"
# A column with a few non-numbers among mostly numbers is more likely a typo
# than a categorical column: say so rather than guess.
NUMERIC_SHARE_FOR_TYPO = 0.95


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "numeric" or "categorical"
    missing_values: tuple[str, ...] = ()
    fill: float | None = None
    indicator: bool = False
    categories: tuple[str, ...] = ()


def _refuse_decimal_commas(frame: Any, categorical: set[str], source: str) -> None:
    """Refuse columns that read as numbers only with decimal commas ("1,5"), for tables read with '.'.

    Read with '.', every such column would silently turn categorical (one
    one-hot slot per distinct number); the user has to say which was meant.
    """
    found = []
    for name in frame.columns:
        values = stripped(frame[name])
        values = values[~missing_mask(values)]
        commas = [v for v in values if "," in v]
        if name not in categorical and commas and (~np.isnan(to_numbers(values, ","))).mean() >= NUMERIC_SHARE_FOR_TYPO:
            found.append((name, commas[0]))
    if found:
        quoted, names = ", ".join(f"'{name}'" for name, _ in found), ",".join(name for name, _ in found)
        raise DataError(
            f"column(s) {quoted} of {source} look like numbers with decimal commas (e.g. {found[0][1]!r})",
            f"pass -O decimal=, to read them as numbers (or -O categorical={names} if they really are categories)",
        )


def infer_columns(frame: Any, options: Mapping[str, str], missing: MissingValues, source: str) -> list[Column]:
    """Type every feature column: numeric when every present cell is a number.

    ``-O categorical=a,b`` makes number-coded columns (zip codes, grades)
    categorical; the other way round needs no option, since a column whose
    cells are all numbers is numeric already.
    """
    categorical = {pick_column(frame, name, "-O categorical") for name in _names(options.get("categorical"))}
    decimal = decimal_mark(options)
    if decimal == ".":
        _refuse_decimal_commas(frame, categorical, source)
    columns = []
    for name in frame.columns:
        sentinels = tuple(missing.for_column(name))
        values = stripped(frame[name])
        present = ~missing_mask(values, sentinels, decimal)
        numbers = to_numbers(values[present], decimal)
        is_number = ~np.isnan(numbers)
        kind = "numeric" if is_number.all() and name not in categorical else "categorical"
        mostly_numbers = len(numbers) > 0 and is_number.mean() >= NUMERIC_SHARE_FOR_TYPO
        if mostly_numbers and not is_number.all() and name not in categorical:
            bad = np.flatnonzero(present)[~is_number]
            where = positions(frame, np.isin(np.arange(len(frame)), bad))
            raise DataError(
                f"column '{name}' of {source} holds numbers except on {where} (e.g. {values[bad[0]]!r})",
                f"repair those cells, declare the value missing (--missing-values {name}={values[bad[0]]}), "
                f"or pass -O categorical={name} if it really is a category",
            )
        if kind == "numeric":
            parsed = to_numbers(values, decimal)
            infinite = np.isinf(parsed) & present
            if infinite.any():
                raise DataError(
                    f"column '{name}' of {source} is infinite on {positions(frame, infinite)}",
                    f"repair those cells or declare them missing (--missing-values {name}=inf)",
                )
            huge = (np.abs(parsed) > FLOAT32_MAX) & present
            if huge.any():
                raise DataError(
                    f"column '{name}' of {source} has values beyond float32's range (about 3.4e38) "
                    f"on {positions(frame, huge)} "
                    f"(e.g. {values[huge][0]})",
                    "rescale the column (e.g. to other units or a logarithm) or repair those cells",
                )
        columns.append(Column(name, kind, sentinels))
    return columns


def _missing_note(column: Column) -> str:
    """Which cells count as missing in ``column``: the model's markers are fixed at training time."""
    declared = ""
    if column.missing_values:
        declared = f", as do this column's missing_values ({', '.join(column.missing_values)})"
    markers = "an empty cell, NA or another of the missing_markers listed in a run's preprocessing.json"
    return f"{markers} counts as missing{declared}"


def _names(text: str | None) -> list[str]:
    return [n.strip() for n in (text or "").split(",") if n.strip()]


def table_statistics(encoded_train: np.ndarray) -> dict[str, Any]:
    """Per-feature numbers the tabular model builds its first layers from (see :mod:`vertical_automl.blocks`).

    ``mean``/``variance`` standardise; ``median``/``scale`` standardise
    robustly (the interquartile range, or the standard deviation where
    that is 0, so a skewed column's bulk is not squashed by its tail);
    ``quantiles`` are up to ``QUANTILE_LEVELS + 1`` training quantiles per
    feature (fewer on few rows), the bin edges of piecewise-linear encodings.
    """
    x = encoded_train.astype(np.float64)
    low, median, high = np.percentile(x, [25, 50, 75], axis=0)
    spread = (high - low) / 1.349  # the IQR of a standard normal is 1.349
    std = x.std(axis=0)
    scale = np.where(spread > 0, spread, np.where(std > 0, std, 1.0))
    levels = min(QUANTILE_LEVELS, max(MIN_QUANTILE_LEVELS, len(x) // ROWS_PER_QUANTILE))
    quantiles = np.quantile(x, np.linspace(0, 1, levels + 1), axis=0).T
    return {
        "mean": x.mean(axis=0).tolist(),
        "variance": x.var(axis=0).tolist(),
        "median": median.tolist(),
        "scale": scale.tolist(),
        "quantiles": quantiles.tolist(),
    }


class TableEncoder(Encoder):
    """Imputation with indicators and one-hot categories, fitted on the training split."""

    def __init__(self, columns: list[Column], description: dict[str, Any], fitted: bool = False) -> None:
        self.columns = columns
        self.description = description  # how the file was read: format, header, delimiter, encoding, decimal, target
        self.decimal = description.get("decimal") or "."  # bundles from before -O decimal have none
        self.fitted = fitted

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> TableEncoder:
        """The fitted encoder ``spec`` (``preprocessing.json["input"]``) describes; older bundles lack some keys."""
        columns = [
            Column(
                c["name"],
                c["type"],
                tuple(c["missing_values"]),
                fill=c.get("fill"),
                indicator=bool(c.get("indicator")),
                categories=tuple(c.get("categories", ())),
            )
            for c in spec["columns"]
        ]
        read_as = ("format", "header", "delimiter", "encoding", "decimal", "target")
        description = {key: spec.get(key) for key in read_as}
        description.update({key: spec[key] for key in ("file_columns", "ignored") if key in spec})
        return cls(columns, description, fitted=True)

    def fit(self, x: Any) -> TableEncoder:
        fitted = []
        for column in self.columns:
            values = stripped(x[column.name])
            missing = missing_mask(values, column.missing_values, self.decimal)
            if column.kind == "numeric":
                numbers = to_numbers(values, self.decimal)[~missing]
                if len(numbers) == 0:
                    raise DataError(
                        f"column '{column.name}' has no values in the training split",
                        f"drop it with -O ignore={column.name}",
                    )
                fitted.append(replace(column, fill=float(np.median(numbers)), indicator=bool(missing.any())))
            else:
                cells = np.where(missing, MISSING_CATEGORY, values)
                names, counts = np.unique(cells, return_counts=True)
                order = sorted(zip(-counts, names))[:MAX_CATEGORIES]
                fitted.append(replace(column, categories=tuple(str(name) for _, name in order)))
        return TableEncoder(fitted, self.description, fitted=True)

    def transform(self, x: Any) -> np.ndarray:
        absent = [c.name for c in self.columns if c.name not in x.columns]
        if absent:
            raise DataError(
                f"the table lacks column(s) {', '.join(absent)} that the model was trained on",
                "give every training column, with the same names",
            )
        parts = []
        for column in self.columns:
            values = stripped(x[column.name])
            missing = missing_mask(values, column.missing_values, self.decimal)
            if column.kind == "numeric":
                numbers = to_numbers(values, self.decimal)
                bad = ~missing & ~(np.abs(numbers) <= FLOAT32_MAX)  # NaN, infinite, or infinite once float32
                if bad.any():
                    raise DataError(
                        f"column '{column.name}' is not a finite number on {positions(x, bad)} "
                        f"(e.g. {values[bad][0]!r})",
                        f"repair those cells, or leave them empty if the value is unknown ({_missing_note(column)})",
                    )
                parts.append(np.where(missing, column.fill, numbers)[:, None])
                if column.indicator:
                    parts.append(missing[:, None].astype(float))
            else:
                cells = np.where(missing, MISSING_CATEGORY, values)
                slot = {name: i for i, name in enumerate(column.categories)}
                index = np.array([slot.get(cell, len(column.categories)) for cell in cells])
                parts.append(np.eye(len(column.categories) + 1)[index])
        return np.concatenate(parts, axis=1).astype(np.float32)

    def feature_names(self) -> list[str]:
        names = []
        for column in self.columns:
            if column.kind == "numeric":
                names += [column.name] + ([f"{column.name} {MISSING_CATEGORY}"] if column.indicator else [])
            else:
                names += [f"{column.name}={category}" for category in (*column.categories, OTHER_CATEGORY)]
        return names

    def statistics(self, encoded_train: np.ndarray) -> dict[str, Any]:
        return {**table_statistics(encoded_train), "one_hot_blocks": self.one_hot_blocks()}

    def one_hot_blocks(self) -> list[list[int]]:
        """Each categorical column's one-hot slots as [first feature, slot count]: trees read them as one code."""
        blocks, start = [], 0
        for column in self.columns:
            width = len(column.categories) + 1 if column.kind != "numeric" else 1 + bool(column.indicator)
            if column.kind != "numeric":
                blocks.append([start, width])
            start += width
        return blocks

    def spec(self) -> dict[str, Any]:
        columns = []
        for column in self.columns:
            entry: dict[str, Any] = {
                "name": column.name,
                "type": column.kind,
                "missing_values": list(column.missing_values),
            }
            if column.kind == "numeric":
                entry.update(fill=column.fill, indicator=column.indicator)
            else:
                entry["categories"] = list(column.categories)
            columns.append(entry)
        return {
            "kind": "table",
            **self.description,
            "missing_markers": list(MISSING_MARKERS),
            "columns": columns,
            "features": self.feature_names(),
            "shape": [len(self.feature_names())],
            "dtype": "float32",
            "rules": [
                "A cell is missing when, stripped of spaces, it is one of missing_markers, "
                "or equals one of its column's missing_values (compared as numbers when both are numbers).",
                "numeric: the value as a float, once its 'decimal' mark is replaced by '.'; "
                "a missing cell takes 'fill' (the training median); "
                "if 'indicator', a 0/1 'is missing' feature follows.",
                "categorical: one-hot over 'categories' plus one last slot for any other value "
                f"(unseen or rare in training); a missing cell is the category '{MISSING_CATEGORY}'.",
                "Features are in the order of 'columns'; scaling happens inside the model.",
            ],
        }
