"""The report's plots, drawn with matplotlib's object API on the Agg canvas.

No pyplot: nothing global, no display needed, so plotting works headless and
in any thread.  Every function returns PNG bytes.  User strings (class names)
pass through :func:`_plain`, since matplotlib reads ``$...$`` as mathtext.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sklearn.metrics import precision_recall_curve, roc_curve

DPI = 100
COLORS = ("#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#57606a", "#e16f24", "#1b7c83")


def _plain(text: object, limit: int = 24) -> str:
    text = str(text)
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("$", r"\$")


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def confusion_matrix(matrix: Sequence[Sequence[int]], labels: Sequence[str]) -> bytes:
    """Counts, coloured by the share of each true class (row), so small classes stay readable."""
    counts = np.asarray(matrix, dtype=float)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    n = len(labels)
    side = min(10.0, max(4.0, 0.55 * n + 2.5))
    figure = Figure(figsize=(side + 1, side))
    axes = figure.add_subplot()
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="share of the true class")
    ticks = range(n)
    names = [_plain(label, 16) for label in labels]
    tilt = n > 4 and max(len(name) for name in names) > 3
    axes.set_xticks(ticks, names, rotation=45 if tilt else 0, ha="right" if tilt else "center")
    axes.set_yticks(ticks, names)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    if n <= 25:
        for i in range(n):
            for j in range(n):
                axes.text(
                    j,
                    i,
                    f"{int(counts[i, j])}",
                    ha="center",
                    va="center",
                    fontsize=9 if n <= 12 else 7,
                    color="white" if shares[i, j] > 0.5 else "#1f2328",
                )
    axes.set_title("Confusion matrix (test split)")
    return _png(figure)


def roc_and_precision_recall(y_true: np.ndarray, p_positive: np.ndarray, threshold: float, positive: str) -> bytes:
    """ROC and precision-recall curves, with the chosen decision threshold marked on both."""
    figure = Figure(figsize=(10, 4.3))
    roc_axes, pr_axes = figure.subplots(1, 2)
    fpr, tpr, _ = roc_curve(y_true, p_positive)
    predicted = p_positive >= threshold
    positives, negatives = max(1, int(np.sum(y_true == 1))), max(1, int(np.sum(y_true == 0)))
    at_tpr = float(np.sum(predicted & (y_true == 1)) / positives)
    at_fpr = float(np.sum(predicted & (y_true == 0)) / negatives)
    roc_axes.plot(fpr, tpr, color=COLORS[0], lw=2, label="model")
    roc_axes.plot([0, 1], [0, 1], color="#8c959f", ls="--", lw=1, label="chance")
    roc_axes.plot([at_fpr], [at_tpr], "o", color=COLORS[1], label=f"threshold {threshold:.3f}")
    roc_axes.set(
        xlabel="false positive rate (1 - specificity)",
        ylabel="true positive rate (sensitivity)",
        title="ROC curve (test split)",
        xlim=(0, 1),
        ylim=(0, 1.02),
    )
    roc_axes.legend(loc="lower right")
    precision, recall, _ = precision_recall_curve(y_true, p_positive)
    at_precision = float(np.sum(predicted & (y_true == 1)) / max(1, int(np.sum(predicted))))
    pr_axes.plot(recall, precision, color=COLORS[0], lw=2, label="model")
    pr_axes.axhline(float(np.mean(y_true == 1)), color="#8c959f", ls="--", lw=1, label="base rate")
    pr_axes.plot([at_tpr], [at_precision], "o", color=COLORS[1], label=f"threshold {threshold:.3f}")
    pr_axes.set(
        xlabel=f"recall of '{_plain(positive)}'",
        ylabel="precision",
        title="Precision-recall curve (test split)",
        xlim=(0, 1),
        ylim=(0, 1.02),
    )
    pr_axes.legend(loc="lower left")
    return _png(figure)


def calibration(reliability: Sequence[dict[str, Any]], positive: str) -> bytes:
    """Reliability diagram from a vertical's reliability table: mean predicted vs observed rate per bin."""
    figure = Figure(figsize=(5.5, 5))
    axes = figure.add_subplot()
    predicted = [row["mean_predicted"] for row in reliability]
    observed = [row["observed_rate"] for row in reliability]
    sizes = [20 + 180 * row["examples"] / max(r["examples"] for r in reliability) for row in reliability]
    axes.plot([0, 1], [0, 1], color="#8c959f", ls="--", lw=1, label="perfectly calibrated")
    axes.plot(predicted, observed, color=COLORS[0], lw=1.5)
    axes.scatter(predicted, observed, s=sizes, color=COLORS[0], zorder=3, label="bins (area = examples)")
    axes.set(
        xlabel="mean predicted probability",
        ylabel=f"observed rate of '{_plain(positive)}'",
        title="Calibration (test split)",
        xlim=(-0.02, 1.02),
        ylim=(-0.04, 1.04),
    )
    axes.legend(loc="upper left")
    return _png(figure)


def regression_fit(y_true: np.ndarray, predicted: np.ndarray, target: str) -> bytes:
    """Predicted against true values, with the identity line."""
    figure = Figure(figsize=(5.5, 5))
    axes = figure.add_subplot()
    axes.scatter(y_true, predicted, s=10, alpha=0.6, color=COLORS[0])
    low, high = float(min(np.min(y_true), np.min(predicted))), float(max(np.max(y_true), np.max(predicted)))
    axes.plot([low, high], [low, high], color="#8c959f", ls="--", lw=1)
    axes.set(
        xlabel=f"true {_plain(target)}", ylabel=f"predicted {_plain(target)}", title="Predicted vs true (test split)"
    )
    return _png(figure)


def learning_curves(
    search: list[tuple[str, dict[str, list[float]]]], refit: list[tuple[str, dict[str, list[float]]]]
) -> bytes:
    """Loss per epoch: the exported trials during the search (train and validation), and their refits."""
    panels = 2 if refit else 1
    figure = Figure(figsize=(5.2 * panels, 4.2))
    axes = figure.subplots(1, panels, squeeze=False)[0]
    for index, (label, history) in enumerate(search):
        color = COLORS[index % len(COLORS)]
        epochs = range(1, len(history.get("loss", [])) + 1)
        axes[0].plot(epochs, history.get("loss", []), color=color, lw=1.5, label=f"{label} train")
        if "val_loss" in history:
            axes[0].plot(
                range(1, len(history["val_loss"]) + 1),
                history["val_loss"],
                color=color,
                lw=1.5,
                ls="--",
                label=f"{label} validation",
            )
    axes[0].set(xlabel="epoch", ylabel="loss", title="Search: the exported trials")
    if refit:
        for index, (label, history) in enumerate(refit):
            axes[1].plot(
                range(1, len(history["loss"]) + 1),
                history["loss"],
                color=COLORS[index % len(COLORS)],
                lw=1.5,
                marker="o",
                ms=3,
                label=label,
            )
        axes[1].set(xlabel="epoch", ylabel="loss", title="Refit on train+validation")
    for panel in axes:
        panel.xaxis.set_major_locator(MaxNLocator(integer=True))
        panel.grid(alpha=0.3)
        if panel.get_legend_handles_labels()[0]:
            panel.legend(fontsize=8)
    return _png(figure)


def score_by_hyperparameter(
    trials: list[dict[str, Any]], names: list[str], objective: str, exported: set[str]
) -> bytes:
    """One panel per hyperparameter: each completed trial's score against its value (exported trials in red)."""
    columns = min(3, len(names))
    rows = math.ceil(len(names) / columns)
    figure = Figure(figsize=(4.2 * columns, 3.4 * rows))
    grid = figure.subplots(rows, columns, squeeze=False)
    rng = np.random.default_rng(0)
    for panel, name in zip(grid.flat, names):
        shown = [t for t in trials if name in t["hyperparameters"]]
        values = [t["hyperparameters"][name] for t in shown]
        scores = [t["score"] for t in shown]
        colors = [COLORS[1] if t["trial_id"] in exported else COLORS[0] for t in shown]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            panel.scatter(values, scores, c=colors, s=28, alpha=0.85)
            if all(isinstance(v, int) for v in values):
                panel.xaxis.set_major_locator(MaxNLocator(integer=True))
            if name.replace(" ", "_").startswith("learning_rate") and min(values) > 0:
                panel.set_xscale("log")
        else:
            categories = sorted({str(v) for v in values})
            where = [categories.index(str(v)) + rng.uniform(-0.15, 0.15) for v in values]
            panel.scatter(where, scores, c=colors, s=28, alpha=0.85)
            panel.set_xticks(
                range(len(categories)), [_plain(c, 12) for c in categories], rotation=30 if len(categories) > 3 else 0
            )
        panel.set(xlabel=_plain(name, 40), ylabel=_plain(objective, 40))
        panel.grid(alpha=0.3)
    for panel in list(grid.flat)[len(names) :]:
        panel.set_visible(False)
    figure.suptitle("Validation score by hyperparameter (red: trials in the exported model)")
    return _png(figure)
