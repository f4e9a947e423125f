"""The ``sensor-series`` input kind: how a bundle reads new windows after the search, without the training data.

``vautoml predict``, ``vautoml evaluate`` and ``vautoml export`` have only the
bundle's ``preprocessing.json["input"]``; this kind tells them how to turn
what a user hands over (a long-format CSV without labels, an ``.npz`` with
``x``, an array) into windows, that :class:`~.encoder.SeriesEncoder` rebuilt
from the spec then encodes, and what the model card's NumPy-only code is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vertical_automl.plugin_api import DataError, InputKind, RawInputs

from .encoder import SeriesEncoder
from .long_csv import LongColumns, read_long_csv
from .series import as_windows, pack

CSV_SUFFIXES = (".csv", ".tsv", ".txt")


def read(raw: Any, spec: dict[str, Any]) -> RawInputs:
    """Windows from a long-format CSV, an ``.npz`` file with ``x``, an (N, T, C) array or a list of (T, C) arrays."""
    channels = tuple(spec["channels"])
    if isinstance(raw, (str, Path)):
        path = Path(raw)
        if not path.is_file():
            raise DataError(f"'{path}' is not a file", "give a long-format CSV of readings or an .npz file with x")
        if path.suffix.lower() == ".npz":
            windows = as_windows(npz_array(path, "x"), len(channels), f"'{path}'")
            return RawInputs(pack(windows), [f"window {i}" for i in range(len(windows))])
        if path.suffix.lower() not in CSV_SUFFIXES:
            raise DataError(f"'{path}' is neither a CSV nor an .npz file", "give a long-format CSV or an .npz file")
        columns = LongColumns(
            window=spec.get("window_column") or "window",
            step=spec.get("step_column") or "step",
            label=spec.get("label_column"),
            group=spec.get("group_column"),
            channels=channels,
        )
        read_back = read_long_csv(path, columns, need_label=False)
        return RawInputs(read_back.x, read_back.names)
    if isinstance(raw, np.ndarray) and raw.dtype != object and raw.ndim == 2:
        raw = raw[np.newaxis]  # one window
    if isinstance(raw, (np.ndarray, list, tuple)):
        windows = as_windows(raw, len(channels), "the given windows")
        if not windows:
            raise DataError("there are no windows to predict on", "give at least one window of readings")
        return RawInputs(pack(windows), [str(i) for i in range(len(windows))])
    raise DataError(
        f"a sensor-series model cannot read {type(raw).__name__} input",
        "give a long-format CSV or .npz path, an (N, steps, channels) array or a list of (steps, channels) arrays",
    )


def npz_array(path: Path, name: str, required: bool = True) -> np.ndarray | None:
    """Array ``name`` of an ``.npz`` file (never unpickling), or ``None`` when absent and not ``required``."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            if name not in stored.files:
                if not required:
                    return None
                raise DataError(
                    f"'{path}' has no array '{name}' (it has: {', '.join(stored.files) or 'none'})",
                    f"save the windows with np.savez(path, {name}=...)",
                )
            return np.asarray(stored[name])
    except (OSError, ValueError) as error:
        raise DataError(f"cannot read '{path}' as an .npz file ({error})", "give a file written by np.savez") from error


def usage_code(spec: dict[str, Any]) -> list[str]:
    """Lines (csv and NumPy only) that read new_windows.csv, comma-separated in the long format, into ``x``."""
    return [
        "import csv",
        'inp = prep["input"]',
        'window_col, step_col = inp.get("window_column") or "window", inp.get("step_column") or "step"',
        "windows = {}  # window id -> [(step, readings)], in the order windows first appear",
        'with open("new_windows.csv", newline="", encoding="utf-8-sig") as handle:',
        "    for row in csv.DictReader(handle):",
        "        row = {k.strip(): v for k, v in row.items() if k is not None}",
        "        readings = [float(row[c].strip()) for c in inp['channels']]",
        "        windows.setdefault(row[window_col].strip(), []).append((float(row[step_col]), readings))",
        'length, center, scale = inp["length"], np.array(inp["center"]), np.array(inp["scale"])',
        "def resample(w):  # linear interpolation onto `length` evenly spaced steps, as in training",
        "    if len(w) == length:",
        "        return w",
        "    if len(w) == 1:",
        "        return np.repeat(w, length, axis=0)",
        "    at = np.linspace(0.0, len(w) - 1.0, length)",
        "    return np.stack([np.interp(at, np.arange(len(w)), w[:, c]) for c in range(w.shape[1])], axis=1)",
        "def readings(n):  # sorted by step; stored as float32 as vautoml does, computed on in float64",
        "    rows = [r for _, r in sorted(windows[n], key=lambda s: s[0])]",
        "    return np.array(rows, dtype='float32').astype('float64')",
        "names = list(windows)",
        "x = np.stack([resample(readings(n)) for n in names])",
        'x = ((x - center) / scale).astype("float32")',
    ]


def examples(spec: dict[str, Any], rows: int, rng: np.random.Generator) -> np.ndarray:
    """Model-ready windows like real ones: raw readings around each channel's median, spread by its IQR,
    with a slow drift and a periodic component, encoded by the bundle's own encoder."""
    encoder = SeriesEncoder.from_spec(spec)
    length, channels = encoder.length, len(encoder.channels)
    time = np.linspace(0.0, 2.0 * np.pi, length)[None, :, None]
    phase = rng.uniform(0.0, 2.0 * np.pi, (rows, 1, channels))
    shape = 0.8 * np.sin(3.0 * time + phase) + 0.3 * time / np.pi + 0.3 * rng.normal(size=(rows, length, channels))
    raw = np.asarray(encoder.center) + np.asarray(encoder.scale) * shape
    return encoder.transform(raw)


SENSOR_SERIES = InputKind(
    "sensor-series",
    "windows of multichannel sensor readings (steps x channels), resampled to one length and robustly scaled",
    encoder=SeriesEncoder,
    read=read,
    usage_code=usage_code,
    usage_requirements=(),
    examples=examples,
)
