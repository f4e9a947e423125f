"""The arithmetic of ``benchmarks/parallel.py``: its figures are only as right as these helpers.

The benchmark itself runs minutes of real searches and is run by hand; these
check, on made-up measurements, the trials-per-hour ratios, the same-trials
check and the slowdown it prints.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "parallel.py"
spec = importlib.util.spec_from_file_location("benchmark_parallel", SCRIPT)
bench = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = bench  # dataclasses look their module up while the script's classes are made
spec.loader.exec_module(bench)


def rows(*values: int, worker: str | None = None) -> list[dict]:
    return [{"hyperparameters": {"width": v, "rate": 0.1 * v}, "worker": worker} for v in values]


def measurement(engine, completed: int, search: float, wall: float, values: tuple[int, ...]):
    return bench.Measurement("table", engine, completed, search, wall, bench.trial_set(rows(*values)), "")


def test_trials_per_hour_and_ratio() -> None:
    assert bench.per_hour(12, 60.0) == pytest.approx(720.0)
    assert math.isnan(bench.per_hour(3, 0.0))
    assert bench.ratio(3.0, 2.0) == pytest.approx(1.5)
    assert math.isnan(bench.ratio(1.0, 0.0))


def test_trial_set_ignores_order_but_not_repeats() -> None:
    assert bench.trial_set(rows(1, 2, 3)) == bench.trial_set(rows(3, 1, 2))
    assert bench.trial_set(rows(1, 2, 2)) != bench.trial_set(rows(1, 1, 2))
    assert bench.trial_set(rows(1, 2)) != bench.trial_set(rows(1, 2, 3))


def test_trials_by_worker_counts_names_without_host() -> None:
    found = rows(1, 2, worker="w0@box/11") + rows(3, worker="w1@box/12")
    assert bench.trials_by_worker(found) == "w0 2, w1 1"
    assert bench.trials_by_worker(rows(1, 2)) == ""


def test_two_workers_are_compared_with_both_baselines() -> None:
    results = [
        measurement(bench.ONE_PROCESS, 12, 120.0, 150.0, (7, 8, 9)),
        measurement(bench.STUDY_ONE, 12, 100.0, 130.0, (1, 2, 3)),
        measurement(bench.STUDY_TWO, 12, 50.0, 80.0, (3, 2, 1)),
    ]
    one_process, study_one, study_two = bench.throughput_rows(results)
    assert study_two[-3:] == ["2.40x / 1.88x", "2.00x / 1.62x", "yes"]
    assert one_process[-3:] == ["", "", "no"]
    assert study_one[-3:] == ["", "", ""]
    assert study_two[6] == "864"  # trials per hour of the search phase: 12 / 50 s


def test_slowdown_and_verdicts() -> None:
    assert bench.slowdown([30.0, 40.0], 20.0) == pytest.approx(1.75)
    assert bench.verdict(1.75, 2.5, at_least=False).endswith(": met")
    assert bench.verdict(1.6, 1.7, at_least=True).endswith("NOT met")
    table = bench.markdown(["a", "b"], [["1", "2"]]).splitlines()
    assert table == ["| a | b |", "| --- | --- |", "| 1 | 2 |"]
