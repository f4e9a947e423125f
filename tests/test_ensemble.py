"""Greedy ensemble selection on validation predictions, and the threshold moved to the exported model."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from vertical_automl.evaluate import choose_threshold, transfer_threshold
from vertical_automl.search_engine import ensemble_selection as ensemble


def binary(p: np.ndarray) -> np.ndarray:
    return np.column_stack([1 - p, p])


def noisy_candidates(rng: np.random.Generator, y: np.ndarray, noises: list[float]) -> list[ensemble.Candidate]:
    out = []
    for index, noise in enumerate(noises):
        p = 1 / (1 + np.exp(-(2 * y - 1 + rng.normal(0, noise, len(y)))))
        out.append(ensemble.Candidate(f"{index:02d}", roc_auc_score(y, p), binary(p)))
    return out


def test_selection_never_scores_below_the_best_trial_and_weights_sum_to_one():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    candidates = noisy_candidates(rng, y, [1.2, 1.2, 1.2, 1.2, 3.0])
    best = max(c.score for c in candidates)
    chosen = ensemble.select(candidates, y, "val_auc", "max", "binary", max_members=5)
    assert chosen.validation_score >= best
    assert chosen.validation_score > best + 0.005  # independent errors: averaging really helps here
    assert sum(chosen.weights) == pytest.approx(1.0) and len(chosen.trial_ids) >= 2
    assert roc_auc_score(y, chosen.validation_scores[:, 1]) == pytest.approx(chosen.validation_score)


def test_a_trial_far_below_the_best_is_no_candidate():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    candidates = noisy_candidates(rng, y, [1.0, 4.0])
    assert candidates[0].score - candidates[1].score > ensemble.SCORE_MARGIN
    assert ensemble.select(candidates, y, "val_auc", "max", "binary", max_members=5).trial_ids == ("00",)


def test_at_most_max_members_distinct_trials():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 400)
    chosen = ensemble.select(noisy_candidates(rng, y, [1.2] * 8), y, "val_auc", "max", "binary", max_members=3)
    assert 1 <= len(chosen.trial_ids) <= 3


def test_regression_selection_minimises_the_error():
    rng = np.random.default_rng(3)
    y = rng.normal(size=300)
    candidates = [ensemble.Candidate(str(i), 0.0, y + rng.normal(0, 0.5, len(y))) for i in range(4)]
    candidates = [ensemble.Candidate(c.trial_id, float(np.mean(np.abs(c.scores - y))), c.scores) for c in candidates]
    chosen = ensemble.select(candidates, y, "val_mae", "min", "regression", max_members=4)
    assert chosen.validation_score < min(c.score for c in candidates)
    assert chosen.validation_score == pytest.approx(np.mean(np.abs(chosen.validation_scores - y)))


def test_the_threshold_moves_with_the_exported_models_scores_and_keeps_the_share_called_positive():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 200)
    trials = 1 / (1 + np.exp(-(3 * (2 * y - 1) + rng.normal(0, 2, len(y)))))
    decision = choose_threshold(y, trials)
    refit = 0.5 + (trials - 0.5) * 0.02  # a one-epoch refit: the same ranking squeezed around 0.5
    moved = transfer_threshold(decision, trials, refit)
    assert np.mean(refit >= moved["threshold"]) == pytest.approx(np.mean(trials >= decision["threshold"]))
    assert np.mean((refit >= moved["threshold"]) == y) == pytest.approx(np.mean((trials >= decision["threshold"]) == y))
    assert np.mean((refit >= decision["threshold"]) == y) < 0.7  # the old threshold on the new scores is badly off
    assert moved["trials_threshold"] == decision["threshold"] and "same share" in moved["method"]
