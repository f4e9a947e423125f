"""Which trials the exported model averages, and with what weights: greedy ensemble selection.

Averaging the best few trials blindly can hurt: on a 30k-row table the best
trial (validation AUC 0.775) was averaged with one at 0.697 and the export
lost to the best alone.  Caruana et al. (2004, "Ensemble selection from
libraries of models") instead grow the ensemble greedily on validation
predictions: start from the best trial, and at each round add (with
replacement) the trial whose addition scores best; keep the round that scored
best.  It starts, as the paper recommends against overfitting a small
validation split, from the best trials averaged in order for as long as each
addition scores no worse.  So the ensemble never scores below the best trial
on validation, and a member that does not help gets no weight.  Candidates are only trials within
a margin of the best, so a lucky weak trial cannot buy its way in on a small
validation split.  Pure NumPy and scikit-learn: no Keras here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import accuracy_score, log_loss, mean_absolute_error, mean_squared_error, roc_auc_score

# Candidates score within this much of the best trial: absolute for scores in
# [0, 1] (AUC, accuracy), relative for losses and errors.
SCORE_MARGIN = 0.03
ERROR_MARGIN = 0.10
MAX_CANDIDATES = 20
ROUNDS = 25


@dataclass(frozen=True)
class Candidate:
    """A completed trial and its best epoch's predictions on the validation split.

    ``scores`` are shaped as :func:`vertical_automl.scoring.predict_scores`
    returns them: (N, classes) probabilities, or (N,) regression predictions.
    """

    trial_id: str
    score: float
    scores: np.ndarray


@dataclass(frozen=True)
class Selection:
    """The chosen trials (best first) with weights summing to 1, and the ensemble's validation score."""

    trial_ids: tuple[str, ...]
    weights: tuple[float, ...]
    validation_score: float
    validation_scores: np.ndarray


def metric_for(objective: str, task: str) -> tuple[Callable[[np.ndarray, np.ndarray], float], str]:
    """The validation metric behind ``objective``, computed on predictions, and its direction."""
    name = objective.removeprefix("val_")
    if task == "regression":
        if name == "mae":
            return mean_absolute_error, "min"
        return (lambda y, p: float(np.sqrt(mean_squared_error(y, p)))), "min"  # rmse, and loss (MSE) ranks alike
    if name == "auc" and task == "binary":
        return (lambda y, p: float(roc_auc_score(y, p[:, 1]))), "max"
    if name == "accuracy":
        return (lambda y, p: float(accuracy_score(y, p.argmax(axis=1)))), "max"
    return (lambda y, p: float(log_loss(y, np.clip(p, 1e-7, 1 - 1e-7), labels=np.arange(p.shape[1])))), "min"


def candidates_within_margin(candidates: list[Candidate], direction: str) -> list[Candidate]:
    """The best ``MAX_CANDIDATES`` trials whose score is within the margin of the best, best first."""
    ranked = sorted(candidates, key=lambda c: -c.score if direction == "max" else c.score)[:MAX_CANDIDATES]
    best = ranked[0].score
    if direction == "max":
        margin = SCORE_MARGIN if 0.0 <= best <= 1.0 else ERROR_MARGIN * abs(best)
        return [c for c in ranked if c.score >= best - margin]
    return [c for c in ranked if c.score <= best + ERROR_MARGIN * abs(best)]


def select(
    candidates: list[Candidate], y: np.ndarray, objective: str, direction: str, task: str, max_members: int
) -> Selection:
    """Greedy ensemble selection with replacement over ``candidates``, at most ``max_members`` distinct trials.

    Ties keep the smaller ensemble (an earlier round), so a member must
    improve the validation score to be added.
    """
    metric, metric_direction = metric_for(objective, task)
    better = (lambda a, b: a > b + 1e-12) if metric_direction == "max" else (lambda a, b: a < b - 1e-12)
    pool = candidates_within_margin(candidates, direction)
    counts = {pool[0].trial_id: 1}
    total = pool[0].scores.astype(np.float64)
    best_score = metric(y, total)
    # Sorted initialisation (Caruana et al. 2004, section 2.1): the next-best trials join in order
    # while the plain average scores no worse; averaging more trials is what steadies small data.
    for candidate in pool[1:max_members]:
        score = metric(y, (total + candidate.scores) / (sum(counts.values()) + 1))
        if better(best_score, score):
            break
        counts[candidate.trial_id], total, best_score = 1, total + candidate.scores, score
    best_counts = dict(counts)
    for round_ in range(sum(counts.values()) + 1, ROUNDS + 1):
        allowed = [c for c in pool if c.trial_id in counts or len(counts) < max_members]
        trial_scores = [(metric(y, (total + c.scores) / round_), c) for c in allowed]
        score, chosen = trial_scores[0]
        for candidate_score, candidate in trial_scores[1:]:
            if better(candidate_score, score):
                score, chosen = candidate_score, candidate
        counts[chosen.trial_id] = counts.get(chosen.trial_id, 0) + 1
        total = total + chosen.scores
        if better(score, best_score):
            best_score, best_counts = score, dict(counts)
    rounds = sum(best_counts.values())
    order = [c.trial_id for c in pool if c.trial_id in best_counts]
    weights = tuple(best_counts[t] / rounds for t in order)
    by_id = {c.trial_id: c for c in pool}
    ensemble = sum(w * by_id[t].scores for t, w in zip(order, weights))
    return Selection(tuple(order), weights, float(best_score), np.asarray(ensemble))
