"""Test-split metrics, all computed by scikit-learn (and SciPy where it is the tool).

The core reports what fits every task (:func:`classification_metrics`,
:func:`binary_metrics`, :func:`regression_metrics`) and chooses the binary
decision threshold (:func:`choose_threshold`).  The other functions are
building blocks for verticals' own report sections: KS statistic,
bootstrap confidence intervals, a reliability table and permutation
importance.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    log_loss,
    mean_absolute_error,
    precision_recall_fscore_support,
    r2_score,
    roc_auc_score,
    roc_curve,
    root_mean_squared_error,
)


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, probabilities: np.ndarray, class_names: tuple[str, ...]
) -> dict[str, Any]:
    """Accuracy, macro and per-class precision/recall/F1, log loss and the confusion matrix of ``y_pred``."""
    labels = list(range(len(class_names)))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    macro = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    clipped = np.clip(probabilities, 1e-7, 1.0)
    return {
        "examples": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_precision": float(macro[0]),
        "macro_recall": float(macro[1]),
        "macro_f1": float(macro[2]),
        "log_loss": float(log_loss(y_true, clipped / clipped.sum(axis=1, keepdims=True), labels=labels)),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(class_names, precision, recall, f1, support)
        },
        "confusion_matrix": {
            "labels": list(class_names),
            "rows_are": "true class",
            "columns_are": "predicted class",
            "matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        },
    }


def roc_auc(y_true: np.ndarray, p_positive: np.ndarray) -> float:
    """ROC AUC, NaN when the sample holds one class (a bootstrap draw can)."""
    return float(roc_auc_score(y_true, p_positive)) if len(np.unique(y_true)) == 2 else float("nan")


def binary_metrics(y_true: np.ndarray, p_positive: np.ndarray, threshold: float) -> dict[str, Any]:
    """Threshold-free scores (ROC-AUC, PR-AUC, Brier) and the rates at ``threshold``."""
    predicted = (p_positive >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(y_true, predicted, labels=[0, 1]).ravel()
    return {
        "roc_auc": roc_auc(y_true, p_positive),
        "pr_auc": float(average_precision_score(y_true, p_positive)),
        "brier": float(brier_score_loss(y_true, p_positive)),
        "threshold": float(threshold),
        "true_positives": int(tp),
        "false_positives": int(fp),
        "true_negatives": int(tn),
        "false_negatives": int(fn),
        **rates(tp, fp, tn, fn),
    }


def rates(tp: int, fp: int, tn: int, fn: int) -> dict[str, float]:
    """Sensitivity (recall), specificity, PPV (precision) and NPV; NaN where undefined."""

    def ratio(a: int, b: int) -> float:
        return float(a / b) if b else float("nan")

    return {
        "sensitivity": ratio(tp, tp + fn),
        "specificity": ratio(tn, tn + fp),
        "ppv": ratio(tp, tp + fp),
        "npv": ratio(tn, tn + fn),
    }


def choose_threshold(
    y_true: np.ndarray, p_positive: np.ndarray, cost_fp: float | None = None, cost_fn: float | None = None
) -> dict[str, Any]:
    """The decision threshold on validation data: least total cost, or by default Youden's J.

    Candidates are the ROC curve's thresholds; with costs, the one minimising
    ``cost_fp * FP + cost_fn * FN`` wins, otherwise the one maximising
    sensitivity + specificity - 1.
    """
    fpr, tpr, thresholds = roc_curve(y_true, p_positive)
    thresholds = np.clip(thresholds, 0.0, 1.0)
    if cost_fp is not None or cost_fn is not None:
        cost_fp, cost_fn = (1.0 if cost_fp is None else cost_fp), (1.0 if cost_fn is None else cost_fn)
        positives, negatives = int(np.sum(y_true == 1)), int(np.sum(y_true == 0))
        cost = cost_fp * fpr * negatives + cost_fn * (1 - tpr) * positives
        best = int(np.argmin(cost))
        method = (
            f"least validation cost with cost_fp={cost_fp:g}, cost_fn={cost_fn:g} "
            f"(cost {cost[best]:.1f} on {len(y_true)} validation examples)"
        )
    else:
        best = int(np.argmax(tpr - fpr))
        method = f"Youden's J on validation data (J = {tpr[best] - fpr[best]:.3f})"
    return {"threshold": float(thresholds[best]), "method": method, "validation_examples": int(len(y_true))}


def transfer_threshold(decision: dict[str, Any], chosen_on: np.ndarray, exported: np.ndarray) -> dict[str, Any]:
    """Move a threshold chosen on the trials' validation scores to a refit model, by the share it calls positive.

    For a refit that the time budget cut short of the trials' epoch counts:
    its probabilities sit elsewhere than the trials' (a one-epoch refit put
    every score near 0.5 and its accuracy fell to 0.50 at the trials'
    threshold).  Ranks survive that shift: the new threshold calls positive
    the same share of the validation examples, scored by the exported model,
    as the chosen one did on the trials' scores.  (A refit that trained its
    full epochs keeps the chosen threshold: the refit has seen the validation
    rows, so its scores there are more extreme than on new data.)
    """
    share = float(np.mean(chosen_on >= decision["threshold"]))
    ordered = np.sort(exported)[::-1]
    count = int(round(share * len(ordered)))
    if count <= 0:
        threshold = float(np.nextafter(ordered[0], np.inf))
    else:
        threshold = float(ordered[count - 1])
    method = (
        f"{decision['method']}, chosen on the searched trials' validation scores; moved to the exported refit so it "
        f"calls the same share ({share:.1%}) of the validation examples positive "
        f"(trials' threshold {decision['threshold']:.4f})"
    )
    return {
        **decision,
        "threshold": float(np.clip(threshold, 0.0, 1.0)),
        "method": method,
        "trials_threshold": decision["threshold"],
        "positive_share": share,
    }


def regression_metrics(y_true: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    return {
        "examples": int(len(y_true)),
        "mae": float(mean_absolute_error(y_true, predicted)),
        "rmse": float(root_mean_squared_error(y_true, predicted)),
        "r2": float(r2_score(y_true, predicted)),
    }


def ks_statistic(y_true: np.ndarray, p_positive: np.ndarray) -> float:
    """Kolmogorov-Smirnov distance between the score distributions of the two classes (max TPR - FPR)."""
    fpr, tpr, _ = roc_curve(y_true, p_positive)
    return float(np.max(tpr - fpr))


def bootstrap_intervals(
    y_true: np.ndarray,
    p_positive: np.ndarray,
    statistics: dict[str, Callable[[np.ndarray, np.ndarray], float]],
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, dict[str, float]]:
    """Percentile bootstrap confidence intervals, resampling test examples with replacement."""
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {name: [] for name in statistics}
    for _ in range(resamples):
        index = rng.integers(0, len(y_true), len(y_true))
        for name, statistic in statistics.items():
            draws[name].append(statistic(y_true[index], p_positive[index]))
    tail = (1 - level) / 2 * 100
    out = {}
    for name, values in draws.items():
        finite = np.array([v for v in values if np.isfinite(v)])
        low, high = np.percentile(finite, [tail, 100 - tail]) if len(finite) else (float("nan"), float("nan"))
        out[name] = {
            "estimate": float(statistics[name](y_true, p_positive)),
            "low": float(low),
            "high": float(high),
            "level": level,
            "resamples": resamples,
        }
    return out


def reliability_table(y_true: np.ndarray, p_positive: np.ndarray, bins: int = 10) -> list[dict[str, Any]]:
    """Calibration: per probability bin, the mean predicted probability and the observed positive rate."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p_positive, edges[1:-1]), 0, bins - 1)
    table = []
    for b in range(bins):
        inside = which == b
        if inside.any():
            table.append(
                {
                    "bin": [float(edges[b]), float(edges[b + 1])],
                    "examples": int(inside.sum()),
                    "mean_predicted": float(p_positive[inside].mean()),
                    "observed_rate": float(y_true[inside].mean()),
                }
            )
    return table


def permutation_importance(
    score: Callable[[Any, np.ndarray], float], x: Any, y: np.ndarray, repeats: int = 5, seed: int = 0
) -> list[dict[str, Any]]:
    """Drop in ``score(x, y)`` when each column of the raw table ``x`` is shuffled (scikit-learn's implementation)."""
    from sklearn.inspection import permutation_importance as sklearn_permutation_importance

    result = sklearn_permutation_importance(
        _Trained(), x, y, scoring=lambda _, xs, ys: score(xs, ys), n_repeats=repeats, random_state=seed
    )
    rows = [
        {"feature": str(name), "importance_mean": float(mean), "importance_std": float(std)}
        for name, mean, std in zip(x.columns, result.importances_mean, result.importances_std)
    ]
    return sorted(rows, key=lambda row: -row["importance_mean"])


class _Trained:
    """Stands in for an estimator: scikit-learn insists on ``fit``, but the model is already trained and ``score``
    calls it.
    """

    def fit(self, *args: Any, **kwargs: Any) -> _Trained:
        return self
