"""The sensors vertical's loaders: a long-format CSV of readings and an ``.npz`` of windows.

Both return raw windows with an unfitted :class:`~.encoder.SeriesEncoder`
(the core fits it on the training split only) and the machine run of each
window as ``groups``: windows cut from one run overlap and share its machine's
quirks, so a split that put some in training and others in test would score
recognising the run, not the fault.  Read "like" earlier data (``--test-data``,
``vautoml evaluate``), a file is read with that data's columns and channels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from vertical_automl.plugin_api import DataError, DataLoader, LabeledData, LoaderOption, encode_labels

from .encoder import SeriesEncoder
from .kind import CSV_SUFFIXES, SENSOR_SERIES, npz_array
from .long_csv import LongColumns, read_long_csv
from .series import as_windows, pack

LENGTH_OPTION = LoaderOption("length", "steps every window is resampled to (default: the training windows' median)")
CSV_OPTIONS = (
    LoaderOption("label_column", "column with each window's fault label (default: label)"),
    LoaderOption("window_column", "column with the window id (default: window)"),
    LoaderOption("step_column", "column with the reading's step within its window (default: step)"),
    LoaderOption("group_column", "column with the machine run each window was cut from (default: run, if present)"),
    LoaderOption("channels", "comma-separated channel columns (default: every other column)"),
    LENGTH_OPTION,
)


def load_long_csv(path: Path, options: Mapping[str, str], like: LabeledData | None) -> LabeledData:
    """A long-format CSV (one row per reading) as labelled windows grouped by machine run."""
    if like is not None:
        spec = like.input_spec
        columns = LongColumns(
            spec.get("window_column") or "window",
            spec.get("step_column") or "step",
            spec.get("label_column") or "label",
            spec.get("group_column"),
            tuple(spec["channels"]),
        )
    else:
        channels = tuple(c.strip() for c in options.get("channels", "").split(",") if c.strip())
        columns = LongColumns(
            options.get("window_column", "window"),
            options.get("step_column", "step"),
            options.get("label_column", "label"),
            options.get("group_column", "run"),
            channels,
        )
    windows = read_long_csv(path, columns, need_label=True, group_required="group_column" in options)
    labels, class_names = encode_labels(windows.labels, f"'{path}'")
    spec = {
        "kind": SENSOR_SERIES.name,
        "format": "long-csv",
        "window_column": columns.window,
        "step_column": columns.step,
        "label_column": columns.label,
        "group_column": columns.group if windows.groups is not None else None,
        "channels": list(windows.channels),
    }
    data = _labeled(windows.x, labels, class_names, spec, f"'{path}'", columns.label, options, like)
    return _grouped(data, windows.groups, columns.group)


def load_npz(path: Path, options: Mapping[str, str], like: LabeledData | None) -> LabeledData:
    """An ``.npz`` with ``x`` (windows, steps, channels), ``y``, and optionally ``groups`` and ``channels``."""
    x = npz_array(path, "x")
    if x.ndim != 3:
        raise DataError(
            f"x in '{path}' has shape {x.shape}; expected (windows, steps, channels)", "store x as a 3-D array"
        )
    names = npz_array(path, "channels", required=False)
    channels = (
        tuple(like.input_spec["channels"])
        if like is not None
        else tuple(str(c) for c in names)
        if names is not None
        else tuple(f"channel_{i}" for i in range(x.shape[2]))
    )
    return labeled_windows(
        x, npz_array(path, "y"), channels, f"'{path}'", npz_array(path, "groups", required=False), options, like
    )


def labeled_windows(
    x: np.ndarray,
    y: np.ndarray,
    channels: tuple[str, ...],
    source: str,
    groups: np.ndarray | None = None,
    options: Mapping[str, str] | None = None,
    like: LabeledData | None = None,
    group_column: str = "groups",
) -> LabeledData:
    """Windows given as arrays (an ``.npz``, the built-in demo runs) as labelled data grouped by machine run."""
    windows = as_windows(x, len(channels), source)
    for name, values in (("y", y), ("groups", groups)):
        if values is not None and len(values) != len(windows):
            raise DataError(
                f"{source} has {len(windows)} windows but {len(values)} entries in {name}",
                f"store one {name} value per window",
            )
    labels, class_names = encode_labels(y, source)
    spec = {"kind": SENSOR_SERIES.name, "format": "npz", "channels": list(channels)}
    data = _labeled(pack(windows), labels, class_names, spec, source, "label", options or {}, like)
    return _grouped(data, groups, group_column)


def _labeled(
    x: np.ndarray,
    labels: np.ndarray,
    class_names: tuple[str, ...],
    spec: dict[str, Any],
    source: str,
    target: str,
    options: Mapping[str, str],
    like: LabeledData | None,
) -> LabeledData:
    """The loaded windows with their encoder (``like``'s, when reading data like earlier data)."""
    encoder = like.encoder if like is not None else SeriesEncoder(tuple(spec["channels"]), _length(options))
    return LabeledData(x, labels, class_names, spec, source, encoder, target)


def _grouped(data: LabeledData, groups: np.ndarray | None, column: str | None) -> LabeledData:
    """``data`` with each window's machine run as its group, so the split keeps a run's windows together."""
    if groups is None:
        return data
    return replace(data, groups=np.asarray(groups, dtype=str), split_by={"group": str(column)})


def _length(options: Mapping[str, str]) -> int | None:
    text = options.get("length")
    if text is None:
        return None
    if not text.strip().isdigit() or not 2 <= int(text) <= 10_000:
        raise DataError(f"option length={text!r} is not a whole number from 2 to 10000", "use e.g. -O length=64")
    return int(text)


def is_long_csv(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in CSV_SUFFIXES


def is_npz(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == ".npz"


LONG_CSV = DataLoader(
    "long-csv",
    "a long-format CSV: one row per reading with window, step, channel columns, label (and run)",
    is_long_csv,
    load_long_csv,
    options=CSV_OPTIONS,
    kind=SENSOR_SERIES,
)
NPZ = DataLoader(
    "npz",
    "an .npz file with x (windows, steps, channels), y, and optionally groups and channels",
    is_npz,
    load_npz,
    options=(LENGTH_OPTION,),
    kind=SENSOR_SERIES,
)
