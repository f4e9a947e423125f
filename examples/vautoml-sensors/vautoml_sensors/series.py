"""Windows of sensor readings in memory: one (steps, channels) float array per window.

Loaders hand the core one array shaped (windows, steps, channels) when every
window has the same number of steps (the usual case, and the one whose
fingerprint and splits are cheapest), and a 1-D object array of
(steps, channels) arrays when they differ; the encoder resamples both to one
length.  Everything here is NumPy only, so reading data imports no Keras.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from vertical_automl.plugin_api import DataError


def as_windows(x: Any, channels: int, source: str) -> list[np.ndarray]:
    """``x`` (an (N, T, C) array, or a sequence of (T, C) arrays) as a list of float64 windows, checked."""
    if isinstance(x, np.ndarray) and x.dtype != object:
        if x.ndim != 3:
            raise DataError(
                f"sensor windows in {source} have shape {x.shape}; expected (windows, steps, channels)",
                "store x as a 3-D array: one (steps, channels) block per window",
            )
        items: Sequence[Any] = list(x)
    else:
        items = list(x)
    windows = []
    for position, item in enumerate(items):
        window = np.asarray(item)
        if window.dtype.kind not in "uif":
            raise DataError(
                f"window {position} of {source} holds {window.dtype} values, not numbers",
                "give sensor readings as numbers",
            )
        window = window.astype(np.float64)
        if window.ndim != 2 or window.shape[0] == 0 or window.shape[1] != channels:
            raise DataError(
                f"window {position} of {source} has shape {window.shape}; expected (steps >= 1, {channels} channels)",
                f"give every window at least one step of all {channels} channels the model was trained on",
            )
        if not np.isfinite(window).all():
            raise DataError(
                f"window {position} of {source} contains NaN or infinite readings",
                "repair or drop the missing readings before using the window",
            )
        windows.append(window)
    return windows


def pack(windows: list[np.ndarray]) -> np.ndarray:
    """One float32 (N, T, C) array when the windows are alike in length, else an object array of them."""
    if len({len(w) for w in windows}) <= 1:
        return np.stack(windows).astype(np.float32) if windows else np.empty((0, 0, 0), dtype=np.float32)
    packed = np.empty(len(windows), dtype=object)
    packed[:] = [w.astype(np.float32) for w in windows]
    return packed


def resample(window: np.ndarray, length: int) -> np.ndarray:
    """``window`` linearly interpolated onto ``length`` evenly spaced steps (first and last reading kept).

    A window already ``length`` long is returned as it is, so fixed-length
    data goes through unchanged; a single reading is repeated.
    """
    steps = len(window)
    if steps == length:
        return window
    if steps == 1:
        return np.repeat(window, length, axis=0)
    positions = np.linspace(0.0, steps - 1.0, length)
    return np.stack([np.interp(positions, np.arange(steps), window[:, c]) for c in range(window.shape[1])], axis=1)
