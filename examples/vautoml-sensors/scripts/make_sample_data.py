"""Write the committed sample data: synthetic machine runs (see vautoml_sensors/synthetic.py), deterministically.

    python scripts/make_sample_data.py        # from examples/vautoml-sensors

sample_data/train.csv   24 runs (8 per condition), long format, labelled
sample_data/test.csv    6 other runs, long format, labelled (vautoml evaluate, --test-data)
sample_data/new.csv     the test runs without labels (vautoml predict)
sample_data/train.npz   the training windows as arrays x, y, groups, channels
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))

from vautoml_sensors.synthetic import (  # noqa: E402
    CHANNELS,
    TEST_RUNS,
    TEST_SEED,
    TRAIN_RUNS,
    TRAIN_SEED,
    long_rows,
    sample_windows,
)


def write_csv(path: Path, rows: list[list[str]]) -> None:
    with open(path, "w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def main() -> None:
    out = HERE / "sample_data"
    out.mkdir(exist_ok=True)
    train = sample_windows(TRAIN_RUNS, TRAIN_SEED)
    test = sample_windows(TEST_RUNS, TEST_SEED, first_run=101)
    write_csv(out / "train.csv", long_rows(train))
    write_csv(out / "test.csv", long_rows(test))
    write_csv(out / "new.csv", long_rows(test, with_labels=False))
    np.savez_compressed(out / "train.npz", x=train.x, y=train.labels, groups=train.runs, channels=np.array(CHANNELS))
    for path in sorted(out.iterdir()):
        print(f"{path.name}: {path.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
