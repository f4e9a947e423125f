"""The sensors report: how often the model is wrong on each machine run, and which channels it relies on.

A maintenance engineer reads a fault model per machine run (one bad run can
hide behind a good average) and wants to know which sensors matter before
paying to keep them installed.  Channel importance is the drop in test
accuracy when one channel is swapped between windows (permutation
importance, on raw windows, through the run's own encoder and model).
"""

from __future__ import annotations

import numpy as np

from vertical_automl.plugin_api import Evaluation, Facts, Paragraph, ReportSection, Table

from .series import as_windows, pack, resample

REPEATS = 3  # shuffles per channel: enough to tell a used channel from an unused one on a test split
MOST_RUNS = 20  # rows of the per-run table (worst first); report.json keeps every run


def predicted_classes(scores: np.ndarray, evaluation: Evaluation) -> np.ndarray:
    """Class index per window: at the run's threshold for a binary task, the top class otherwise."""
    if evaluation.task == "binary":
        return (np.asarray(scores)[:, 1] >= evaluation.threshold).astype(np.int64)
    return np.asarray(scores).argmax(axis=1)


def sensor_sections(evaluation: Evaluation) -> list[ReportSection]:
    """The per-run error table (when the test windows carry machine runs) and the channel importances."""
    sections = [channel_importance(evaluation)]
    if evaluation.raw_test.groups is not None:
        sections.insert(0, run_errors(evaluation))
    return sections


def run_errors(evaluation: Evaluation) -> ReportSection:
    """Test windows, errors and error rate per machine run, worst first."""
    wrong = predicted_classes(evaluation.scores, evaluation) != np.asarray(evaluation.y_true)
    groups = np.asarray(evaluation.raw_test.groups).astype(str)
    rows = []
    for run in np.unique(groups):
        member = groups == run
        truth = np.bincount(np.asarray(evaluation.y_true)[member], minlength=len(evaluation.class_names))
        rows.append(
            {
                "run": str(run),
                "windows": int(member.sum()),
                "errors": int(wrong[member].sum()),
                "error_rate": float(wrong[member].mean()),
                "label": evaluation.class_names[int(truth.argmax())],
            }
        )
    rows.sort(key=lambda row: (-row["error_rate"], row["run"]))
    flawless = sum(row["errors"] == 0 for row in rows)
    column = evaluation.raw_test.split_by.get("group", "run")
    return ReportSection(
        "machine_runs",
        "Errors per machine run",
        {"group_column": column, "runs": rows},
        [
            Paragraph(
                f"Test windows grouped by the machine run they were cut from (column '{column}'): "
                "one run with many errors can hide behind a good average."
            ),
            Facts([("Runs", str(len(rows))), ("Runs without an error", str(flawless))]),
            Table(
                ["Run", "Label (most windows)", "Windows", "Errors", "Error rate"],
                [
                    [r["run"], r["label"], str(r["windows"]), str(r["errors"]), f"{r['error_rate']:.1%}"]
                    for r in rows[:MOST_RUNS]
                ],
                caption=f"Worst {min(MOST_RUNS, len(rows))} of {len(rows)} runs",
                numeric=frozenset({2, 3, 4}),
            ),
        ],
    )


def channel_importance(evaluation: Evaluation) -> ReportSection:
    """Drop in test accuracy when each channel's readings are swapped between windows."""
    spec = evaluation.raw_test.input_spec
    channels = list(spec["channels"])
    windows = as_windows(evaluation.raw_test.x, len(channels), "the test split")
    truth = np.asarray(evaluation.y_true)
    # Through predict like the shuffled windows, so only the shuffle differs between baseline and drop.
    baseline = float((predicted_classes(evaluation.predict(pack(windows)), evaluation) == truth).mean())
    rng = np.random.default_rng(evaluation.seed)
    rows = []
    for c, name in enumerate(channels):
        drops = []
        for _ in range(REPEATS):
            donors = rng.permutation(len(windows))
            shuffled = [w.copy() for w in windows]
            for window, donor in zip(shuffled, donors):
                window[:, c] = resample(windows[donor], len(window))[:, c]
            scores = evaluation.predict(pack(shuffled))
            drops.append(baseline - float((predicted_classes(scores, evaluation) == truth).mean()))
        rows.append(
            {"channel": name, "accuracy_drop": float(np.mean(drops)), "accuracy_drop_std": float(np.std(drops))}
        )
    rows.sort(key=lambda row: -row["accuracy_drop"])
    return ReportSection(
        "channel_importance",
        "Channel importance",
        {"baseline_accuracy": baseline, "repeats": REPEATS, "channels": rows},
        [
            Paragraph(
                f"Drop in test accuracy (from {baseline:.1%}) when one channel's readings are swapped between "
                f"windows, averaged over {REPEATS} shuffles; near zero means the model hardly uses that sensor."
            ),
            Table(
                ["Channel", "Accuracy drop", "Spread"],
                [[r["channel"], f"{r['accuracy_drop']:.3f}", f"{r['accuracy_drop_std']:.3f}"] for r in rows],
                numeric=frozenset({1, 2}),
            ),
        ],
    )
