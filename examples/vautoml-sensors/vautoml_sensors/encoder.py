"""The sensor-series encoder: one window length and per-channel robust scaling, learned on the training split.

Sensors on one machine read in very different units (millimetres per second,
degrees, amperes), and a few spikes are normal, so each channel is centred on
its training median and divided by its interquartile range (its standard
deviation when the IQR is 0, 1 when that is 0 too).  Windows are resampled
linearly to one length, the training windows' median unless ``-O length=`` sets
it, because the convolution and GRU take a fixed number of steps.  The steps
are outside the model so that a downstream app repeats them with NumPy alone
(``kind.usage_code``), and ``from_spec(spec())`` gives back exactly this encoder.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vertical_automl.plugin_api import Encoder, UsageError

from .series import as_windows, resample


class SeriesEncoder(Encoder):
    """Resample every window to ``length`` steps, then ``(reading - center) / scale`` per channel."""

    def __init__(
        self,
        channels: tuple[str, ...],
        length: int | None = None,
        center: tuple[float, ...] | None = None,
        scale: tuple[float, ...] | None = None,
    ) -> None:
        self.channels = tuple(channels)
        self.length = length
        self.center = center
        self.scale = scale

    @property
    def fitted(self) -> bool:
        return self.length is not None and self.center is not None and self.scale is not None

    def fit(self, x: Any) -> SeriesEncoder:
        windows = as_windows(x, len(self.channels), "the training split")
        length = self.length or int(np.median([len(w) for w in windows]))
        readings = np.concatenate(windows)
        center = np.median(readings, axis=0)
        spread = np.percentile(readings, 75, axis=0) - np.percentile(readings, 25, axis=0)
        spread = np.where(spread > 0, spread, readings.std(axis=0))
        scale = np.where(spread > 0, spread, 1.0)
        return SeriesEncoder(self.channels, length, tuple(map(float, center)), tuple(map(float, scale)))

    def transform(self, x: Any) -> np.ndarray:
        if not self.fitted:
            raise UsageError("the sensor-series encoder is used before it was fitted", "call fit() on training data")
        windows = as_windows(x, len(self.channels), "the sensor windows")
        if not windows:
            return np.empty((0, self.length, len(self.channels)), dtype=np.float32)
        stacked = np.stack([resample(w, self.length) for w in windows])
        return ((stacked - np.asarray(self.center)) / np.asarray(self.scale)).astype(np.float32)

    def spec(self) -> dict[str, Any]:
        return {
            "channels": list(self.channels),
            "length": self.length,
            "resample": "linear",
            "center": list(self.center or ()),
            "scale": list(self.scale or ()),
            "shape": [self.length, len(self.channels)],
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> SeriesEncoder:
        return cls(
            tuple(spec["channels"]),
            int(spec["length"]),
            tuple(float(v) for v in spec["center"]),
            tuple(float(v) for v in spec["scale"]),
        )
