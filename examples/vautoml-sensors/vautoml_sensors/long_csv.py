"""Reading a long-format sensor CSV: one row per reading, grouped into windows.

A row holds a window id, the step within the window, one column per channel,
and (for training and evaluation) the window's label and the machine run it
was cut from.  Rows may come in any order; they are grouped by window in the
order windows first appear and sorted by step.  Both the loader (training,
``--test-data``, ``vautoml evaluate``) and the input kind (``vautoml predict``)
read files through :func:`read_long_csv`, so the two can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vertical_automl.plugin_api import DataError, read_table

from .series import pack


@dataclass(frozen=True)
class LongColumns:
    """Which columns of the file mean what; ``channels`` empty means every other column."""

    window: str = "window"
    step: str = "step"
    label: str | None = "label"
    group: str | None = "run"
    channels: tuple[str, ...] = ()


@dataclass(frozen=True)
class LongWindows:
    """The windows of one file: readings packed as :func:`~.series.pack` does, and per-window facts."""

    x: np.ndarray
    names: list[str]
    channels: tuple[str, ...]
    labels: np.ndarray | None
    groups: np.ndarray | None


def read_long_csv(path: Path, columns: LongColumns, need_label: bool, group_required: bool = False) -> LongWindows:
    """Read ``path``; a missing label column is refused only when ``need_label``, a missing group column when
    ``group_required`` (the user named it)."""
    frame = read_table(path, {})
    source = f"'{path}'"
    present = list(frame.columns)
    for role, name in (("window", columns.window), ("step", columns.step)):
        if name not in present:
            raise DataError(
                f"{source} has no {role} column '{name}' (its columns: {', '.join(present[:12])})",
                f"name it with -O {role}_column=COLUMN",
            )
    label = columns.label if columns.label in present else None
    if need_label and label is None:
        raise DataError(
            f"{source} has no label column '{columns.label}' (its columns: {', '.join(present[:12])})",
            "name the column holding each window's fault with -O label_column=COLUMN",
        )
    group = columns.group if columns.group in present else None
    if group_required and group is None:
        raise DataError(
            f"{source} has no machine-run column '{columns.group}'",
            "name the column holding each window's run with -O group_column=COLUMN",
        )
    roles = {columns.window, columns.step, columns.label, columns.group}
    channels = columns.channels or tuple(name for name in present if name not in roles)
    missing = [name for name in channels if name not in present]
    if missing or not channels:
        raise DataError(
            f"{source} lacks the channel column(s) {', '.join(missing) or '(none left)'}",
            "give every channel the model reads as a column, or choose them with -O channels=a,b,c",
        )
    steps = _numbers(frame, columns.step, source)
    readings = np.stack([_numbers(frame, name, source) for name in channels], axis=1)
    keys = frame[columns.window].str.strip().to_numpy()
    names, codes = np.unique(keys, return_inverse=True)
    first = np.full(len(names), len(keys))
    np.minimum.at(first, codes, np.arange(len(keys)))
    rank = np.argsort(np.argsort(first))  # windows in the order they first appear
    order = np.lexsort((steps, rank[codes]))
    codes, steps, readings = rank[codes][order], steps[order], readings[order]
    lines = frame.index.to_numpy()[order]
    repeated = np.flatnonzero((np.diff(codes) == 0) & (np.diff(steps) == 0))
    if len(repeated):
        raise DataError(
            f"{source} line {lines[repeated[0] + 1]} repeats step {steps[repeated[0]]:g} of its window",
            "give each step of a window one row",
        )
    bounds = np.flatnonzero(np.diff(codes)) + 1
    windows = np.split(readings, bounds)
    starts = np.concatenate([[0], bounds])
    window_names = [str(n) for n in names[np.argsort(rank)]]
    return LongWindows(
        pack(windows),
        window_names,
        tuple(channels),
        _per_window(frame, label, order, codes, starts, lines, source) if label else None,
        _per_window(frame, group, order, codes, starts, lines, source) if group else None,
    )


def _numbers(frame, column: str, source: str) -> np.ndarray:
    import pandas as pd

    values = pd.to_numeric(frame[column].str.strip(), errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        line = frame.index[np.flatnonzero(bad)[0]]
        raise DataError(
            f"{source} line {line} has '{frame[column].iloc[np.flatnonzero(bad)[0]]}' in column '{column}', "
            f"not a number ({int(bad.sum())} such row(s))",
            "fill or drop missing readings, or leave that column out with -O channels=a,b,c",
        )
    return values


def _per_window(frame, column: str, order, codes, starts, lines, source: str) -> np.ndarray:
    """The one value ``column`` has in each window; a window with two is refused."""
    values = frame[column].str.strip().to_numpy()[order]
    mixed = np.flatnonzero(values[1:] != values[:-1])
    mixed = mixed[codes[mixed + 1] == codes[mixed]]
    if len(mixed):
        raise DataError(
            f"{source} line {lines[mixed[0] + 1]} gives its window {column} '{values[mixed[0] + 1]}' "
            f"after '{values[mixed[0]]}'",
            f"give every row of a window the same {column}",
        )
    return values[starts]
