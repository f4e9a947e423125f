"""Metric building blocks: thresholds, rates, bootstrap intervals, calibration, permutation importance."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vertical_automl.evaluate import (
    binary_metrics,
    bootstrap_intervals,
    choose_threshold,
    ks_statistic,
    permutation_importance,
    reliability_table,
    roc_auc,
)

RNG = np.random.default_rng(0)
Y = RNG.integers(0, 2, 400)
P = np.clip(0.35 * Y + 0.65 * RNG.random(400), 0, 1)  # informative but overlapping scores


def test_costly_false_negatives_lower_the_threshold():
    youden = choose_threshold(Y, P)
    cautious = choose_threshold(Y, P, cost_fp=1, cost_fn=10)
    assert (
        cautious["threshold"] < youden["threshold"]
        and "Youden" in youden["method"]
        and "cost_fn=10" in cautious["method"]
    )
    assert (
        binary_metrics(Y, P, cautious["threshold"])["sensitivity"]
        > binary_metrics(Y, P, youden["threshold"])["sensitivity"]
    )


def test_rates_and_ks_agree_with_their_definitions():
    m = binary_metrics(Y, P, 0.5)
    assert m["sensitivity"] == m["true_positives"] / (m["true_positives"] + m["false_negatives"])
    assert m["npv"] == m["true_negatives"] / (m["true_negatives"] + m["false_negatives"])
    positives, negatives = np.sort(P[Y == 1]), np.sort(P[Y == 0])
    grid = np.unique(P)
    brute = max(
        abs(
            np.searchsorted(negatives, t, "right") / len(negatives)
            - np.searchsorted(positives, t, "right") / len(positives)
        )
        for t in grid
    )
    assert np.isclose(ks_statistic(Y, P), brute)


def test_bootstrap_interval_brackets_the_estimate_and_narrows_with_more_data():
    small = bootstrap_intervals(Y[:80], P[:80], {"auc": roc_auc}, resamples=300)["auc"]
    large = bootstrap_intervals(Y, P, {"auc": roc_auc}, resamples=300)["auc"]
    assert small["low"] <= small["estimate"] <= small["high"]
    assert large["high"] - large["low"] < small["high"] - small["low"]


def test_reliability_table_counts_every_example_once():
    table = reliability_table(Y, P)
    assert sum(row["examples"] for row in table) == len(Y)
    assert all(row["bin"][0] <= row["mean_predicted"] <= row["bin"][1] for row in table)


def test_permutation_importance_finds_the_informative_column():
    x = pd.DataFrame({"noise": RNG.random(400), "signal": P})
    rows = permutation_importance(lambda xs, ys: roc_auc(ys, xs["signal"].to_numpy()), x, Y, repeats=3)
    assert rows[0]["feature"] == "signal" and rows[0]["importance_mean"] > 0.1 and rows[1]["importance_mean"] == 0.0
