"""``-O group=COLUMN`` and ``-O order=COLUMN``: table columns that steer the split instead of feeding the model.

A group column (a customer, patient or machine-run id) keeps each group's
records in one split; an order column (a date, a time, a sequence number)
makes the latest records the test split (see :mod:`.grouped_split`).
Neither is a feature: a model that sees the customer id or the date would
learn the split, not the task.  Group cells are text; order cells are
numbers or, failing that, ISO 8601 dates and times (``2024-03-31``,
``2024-03-31T08:15:00+02:00``): day-first and month-first dates such as
``03/04/2024`` are refused rather than guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DataError
from .loader import LoaderOption
from .tables import MISSING_MARKERS, pick_column, positions, stripped, to_numbers

SPLIT_OPTION_HELP = (
    LoaderOption("group", "COLUMN: keep each value's records in one split (a customer, a patient, a machine run)"),
    LoaderOption(
        "order", "COLUMN: split by time (numbers or ISO dates): latest records as test, those before them validation"
    ),
)
SPLIT_OPTIONS = tuple(option.name for option in SPLIT_OPTION_HELP)


@dataclass(frozen=True)
class SplitColumns:
    """The columns named by ``-O group`` / ``-O order`` and their values, one per row."""

    groups: np.ndarray | None = None
    order: np.ndarray | None = None
    split_by: dict[str, str] = field(default_factory=dict)


def pick_split_columns(frame: Any, options: Mapping[str, str], roles: Mapping[str, str]) -> dict[str, str]:
    """``{"group": column, "order": column}`` for the options given.

    ``roles`` names the columns already spoken for and what they are
    (``"the target"``, ``"the text"``, ``"ignored"``): a column that steers the
    split cannot be one of them.
    """
    chosen = {}
    for option in SPLIT_OPTIONS:
        if not (options.get(option) or "").strip():
            continue
        column = pick_column(frame, options[option].strip(), f"-O {option}")
        if column in roles:
            raise DataError(
                f"column '{column}' is both {roles[column]} and -O {option}",
                f"drop it from -O ignore: as -O {option} it already stays out of the features"
                if roles[column] == "ignored"
                else f"choose another column for -O {option}",
            )
        chosen[option] = column
    return chosen


def read_split_columns(frame: Any, chosen: Mapping[str, str], decimal: str) -> SplitColumns:
    """The group ids (text) and order values (numbers or datetime64) of the ``chosen`` columns."""
    groups = order = None
    if "group" in chosen:
        column = chosen["group"]
        groups = stripped(frame[column])
        missing = np.isin(groups, MISSING_MARKERS)
        if missing.any():
            raise DataError(
                f"group column '{column}' (-O group) is empty or missing on {positions(frame, missing)}",
                "give every row its group, or drop those rows",
            )
    if "order" in chosen:
        order = order_values(frame, chosen["order"], decimal)
    return SplitColumns(groups, order, dict(chosen))


def order_values(frame: Any, column: str, decimal: str) -> np.ndarray:
    """Numbers when every cell is one, else UTC datetimes from ISO 8601 text; a bad cell is named by its line."""
    import pandas as pd

    cells = stripped(frame[column])
    numbers = to_numbers(cells, decimal)
    if np.isfinite(numbers).all():
        return numbers
    times = pd.to_datetime(pd.Series(cells, dtype=object), format="ISO8601", errors="coerce", utc=True)
    bad_time = times.isna().to_numpy()
    if not bad_time.any():
        return times.dt.tz_convert(None).to_numpy(dtype="datetime64[ns]")
    bad_number = ~np.isfinite(numbers)
    bad = bad_number if bad_number.sum() < bad_time.sum() else bad_time  # the cells that break the likelier reading
    raise DataError(
        f"order column '{column}' (-O order) is not a number or an ISO 8601 date/time on {positions(frame, bad)} "
        f"(e.g. {cells[bad][0]!r})",
        "write times as numbers or as ISO 8601 (2024-03-31, 2024-03-31T08:15:00), and fill in missing cells",
    )
