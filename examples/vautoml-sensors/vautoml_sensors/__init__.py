"""Example third-party vertical: machine faults from windows of multichannel sensor readings.

Built from :mod:`vertical_automl.plugin_api` only, for a modality the core
does not know: its own input kind (``sensor-series``, :mod:`.kind`) with its
own encoder (:mod:`.encoder`), loaders for a long-format CSV and an ``.npz``
(:mod:`.loaders`) that keep each machine run's windows together, a conv1d + GRU
model with its own search dimensions (:mod:`.model`), and a per-run and
per-channel report (:mod:`.report`).  Keras is imported inside ``build_model``
only, so listing plugins stays fast.
"""

from __future__ import annotations

from vertical_automl.plugin_api import LabeledData, Vertical, hookimpl

from .encoder import SeriesEncoder
from .kind import SENSOR_SERIES, usage_code
from .loaders import LONG_CSV, NPZ, labeled_windows
from .model import DIMENSIONS, RECIPES, build_model
from .report import sensor_sections
from .synthetic import CHANNELS, TRAIN_RUNS, TRAIN_SEED, sample_windows

__all__ = ["SENSORS", "SENSOR_SERIES", "SeriesEncoder", "register_verticals"]


def load_demo() -> LabeledData:
    """Synthetic machine runs (the same generator as sample_data/), so the vertical searches offline."""
    sample = sample_windows(TRAIN_RUNS, TRAIN_SEED)
    return labeled_windows(
        sample.x,
        sample.labels,
        CHANNELS,
        f"synthetic machine runs (vautoml_sensors.synthetic, seed {TRAIN_SEED})",
        sample.runs,
        group_column="run",
    )


SENSORS = Vertical(
    name="sensors",
    description=(
        "Machine fault detection from windows of multichannel sensor readings (vibration, temperature, current): "
        "1-D convolutions and a GRU over robustly scaled, resampled windows."
    ),
    tasks=("binary", "multiclass"),
    build_model=build_model,
    loaders=(LONG_CSV, NPZ),
    default_data=load_demo,
    default_data_description="synthetic machine runs",
    data_example="vautoml search --plugin sensors --data sample_data/train.csv --test-data sample_data/test.csv",
    report_sections=sensor_sections,
    model_card_notes=(
        "Each window is resampled to the training length and each channel scaled by its training median and "
        "interquartile range (preprocessing.json, input), outside the model.",
        "When the data names each window's machine run (a CSV run column, npz groups), the run's windows are kept "
        "in one split, so test scores are on runs the model never saw.",
    ),
    usage_code=usage_code,
    recipes=RECIPES,
    dimensions=DIMENSIONS,
)


@hookimpl
def register_verticals(register) -> None:
    register(SENSORS)
