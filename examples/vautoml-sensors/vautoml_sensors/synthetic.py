"""Synthetic machine runs: the offline demo data and the committed sample files (``scripts/make_sample_data.py``).

Nothing here was measured on a real machine.  Each run is one machine
recorded for 96 steps in one condition, with its own shaft speed, load and
ambient temperature (the quirks that make a run recognisable), then cut into
overlapping 24-step windows:

* ``normal``: vibration at the shaft frequency, steady temperature and current;
* ``imbalance``: a larger 1x vibration and a current that swings with it;
* ``bearing_wear``: short impacts at the bearing's defect frequency on top of
  the 1x vibration, a high-frequency hum, and a faster temperature rise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHANNELS = ("vibration_mm_s", "temperature_c", "current_a")
CONDITIONS = ("normal", "imbalance", "bearing_wear")
RUN_STEPS = 96
WINDOW = 24
STRIDE = 12  # windows of one run overlap by half
# The training sample (sample_data/train.*, the built-in demo): enough runs per condition that holding out whole
# runs still leaves every condition in train, validation and test.
TRAIN_RUNS, TRAIN_SEED = 8, 7
TEST_RUNS, TEST_SEED = 2, 8


@dataclass(frozen=True)
class SampleWindows:
    """Windows (N, WINDOW, channels), their labels, machine runs and ids."""

    x: np.ndarray
    labels: np.ndarray
    runs: np.ndarray
    window_ids: list[str]


def machine_run(condition: str, rng: np.random.Generator) -> np.ndarray:
    """One run's readings, shaped (RUN_STEPS, channels)."""
    t = np.arange(RUN_STEPS, dtype=np.float64)
    shaft = rng.uniform(0.07, 0.13)  # cycles per step
    phase = rng.uniform(0, 2 * np.pi)
    amplitude = rng.uniform(1.6, 2.4)
    one_x = np.sin(2 * np.pi * shaft * t + phase)
    ambient, load = rng.uniform(36.0, 46.0), rng.uniform(8.0, 12.0)
    vibration = amplitude * one_x + rng.normal(0, 0.35, RUN_STEPS)
    temperature = ambient + 0.01 * t + rng.normal(0, 0.2, RUN_STEPS)
    current = load + 0.25 * one_x + rng.normal(0, 0.12, RUN_STEPS)
    if condition == "imbalance":
        vibration += rng.uniform(1.2, 2.0) * amplitude * one_x
        current += rng.uniform(0.5, 0.9) * one_x
        temperature += rng.uniform(1.0, 3.0)
    elif condition == "bearing_wear":
        period = rng.integers(5, 8)
        impacts = (np.arange(RUN_STEPS) % period == rng.integers(0, period)).astype(np.float64)
        vibration += rng.uniform(2.0, 3.5) * impacts * rng.choice([-1.0, 1.0], RUN_STEPS)
        vibration += 0.6 * np.sin(2 * np.pi * 0.41 * t)
        temperature += rng.uniform(0.03, 0.06) * t
    return np.stack([vibration, temperature, current], axis=1)


def sample_windows(runs_per_condition: int, seed: int, first_run: int = 1) -> SampleWindows:
    """``runs_per_condition`` runs of each condition, in a shuffled order, cut into overlapping windows."""
    rng = np.random.default_rng(seed)
    conditions = rng.permutation(np.repeat(CONDITIONS, runs_per_condition))
    x, labels, runs, ids = [], [], [], []
    for number, condition in enumerate(conditions, first_run):
        readings = machine_run(str(condition), rng)
        run = f"R{number:03d}"
        for w, start in enumerate(range(0, RUN_STEPS - WINDOW + 1, STRIDE)):
            x.append(readings[start : start + WINDOW])
            labels.append(str(condition))
            runs.append(run)
            ids.append(f"{run}-W{w:02d}")
    return SampleWindows(np.round(np.stack(x), 2).astype(np.float32), np.array(labels), np.array(runs), ids)


def long_rows(windows: SampleWindows, with_labels: bool = True) -> list[list[str]]:
    """The windows as long-format CSV rows (header first): run, window, step, channels[, label]."""
    header = ["run", "window", "step", *CHANNELS] + (["label"] if with_labels else [])
    rows = [header]
    for i, window in enumerate(windows.x):
        for step, readings in enumerate(window):
            row = [str(windows.runs[i]), windows.window_ids[i], str(step), *(f"{v:.2f}" for v in readings)]
            rows.append(row + ([str(windows.labels[i])] if with_labels else []))
    return rows
