"""A plugin with an input kind of its own, ``sensor``, for tests/test_input_kinds.py (in-process and installed).

It reads ``.npz`` files of sensor readings; its encoder scales each reading
by its training range, so a bundle must rebuild it from ``preprocessing.json``.
The kind has no ``read``: predict reads a path with the vertical's loaders.
Importable as a module, it is also an entry-point plugin (``register_verticals``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vertical_automl.plugin_api import (
    DataLoader,
    Encoder,
    InputKind,
    LabeledData,
    Vertical,
    encode_labels,
    heads,
    hookimpl,
)
from vertical_automl.plugins import InstalledPlugins

READINGS = 6


class RangeEncoder(Encoder):
    """Each reading scaled by its training minimum and maximum: needs the training split, so it must rebuild."""

    def __init__(self, low: tuple[float, ...] = (), high: tuple[float, ...] = ()) -> None:
        self.low, self.high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)

    def fit(self, x: Any) -> RangeEncoder:
        return type(self)(tuple(np.min(x, axis=0)), tuple(np.max(x, axis=0)))

    def transform(self, x: Any) -> np.ndarray:
        return ((np.asarray(x, dtype=np.float64) - self.low) / (self.high - self.low)).astype(np.float32)

    def spec(self) -> dict[str, Any]:
        return {"low": self.low.tolist(), "high": self.high.tolist(), "shape": [READINGS], "dtype": "float32"}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> RangeEncoder:
        return cls(tuple(spec["low"]), tuple(spec["high"]))


class NoFromSpec(RangeEncoder):
    from_spec = Encoder.__dict__["from_spec"]  # the contract's default: not implemented


class LosesTheRange(RangeEncoder):
    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> LosesTheRange:
        return cls((0.0,) * READINGS, (1.0,) * READINGS)  # rebuilds, but encodes differently


def sensor_usage_code(spec: dict[str, Any]) -> list[str]:
    return [
        'low, high = np.array(prep["input"]["low"]), np.array(prep["input"]["high"])',
        'x = ((np.load("readings.npz")["x"] - low) / (high - low)).astype("float32")',
    ]


SENSOR = InputKind("sensor", "rows of sensor readings", encoder=RangeEncoder, usage_code=sensor_usage_code)


def sensor_loader(kind: InputKind | None, encoder: type[Encoder] | None, spec_kind: str = "sensor") -> DataLoader:
    def load(path: Path, options: Any, like: LabeledData | None = None) -> LabeledData:
        with np.load(path) as stored:
            x, labels = stored["x"].astype(np.float64), stored["y"]
        y, class_names = encode_labels(labels, f"sensor file {path}")
        attached = (like.encoder if like is not None else encoder()) if encoder is not None else None
        return LabeledData(x, y, class_names, {"kind": spec_kind}, f"sensor file {path}", attached, "state")

    return DataLoader("sensor-npz", "an .npz of readings x and states y", lambda p: p.suffix == ".npz", load, kind=kind)


def build_model(hp, info):
    import keras

    inputs = keras.Input(shape=info.input_shape, name="readings")
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    return heads.compile_model(keras.Model(inputs, heads.output(hidden, info)), hp, info)


def sensor_vertical(loader: DataLoader) -> Vertical:
    return Vertical(
        name="sensor", description="Machine states from sensor readings.", tasks=("binary",), loaders=(loader,),
        build_model=build_model,
    )  # fmt: skip


SENSOR_VERTICAL = sensor_vertical(sensor_loader(SENSOR, RangeEncoder))


@hookimpl
def register_verticals(register):
    register(SENSOR_VERTICAL)


def plugins_with(loader: DataLoader) -> InstalledPlugins:
    """Only this plugin, in this process, with ``loader`` as its vertical's loader."""
    vertical = sensor_vertical(loader)

    class SensorPlugin:
        @hookimpl
        def register_verticals(self, register):
            register(vertical)

    return InstalledPlugins({"VAUTOML_LOAD_PLUGINS": ""}, plugins=[("sensor", SensorPlugin())])


def write_readings(path: Path, rows: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    x = rng.uniform(100.0, 900.0, size=(rows, READINGS))
    np.savez(path, x=x, y=np.where(x[:, 0] > 500.0, "fault", "ok"))
    return path
