"""Assemble the report from a bundle's documents and write ``report.html`` and ``report.md``.

Everything comes from what the bundle itself records (``report.json``,
``trials.json``, ``manifest.json``, the model card, the trial logs) plus
the test split's labels and scores, which draw the curves; the two files
are rendered from the same blocks (:mod:`vertical_automl.report.document`), so they say the same.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from ..records.report import SplitSummary
from ..report import html, markdown, plots
from ..report.document import Block, Facts, Figure, Heading, MarkdownText, Paragraph, Table
from ..report.sections import Evaluation, ReportSection
from ..space import SHARED_NAMES
from .files import FILE_PURPOSES, HTML_FILE, MANIFEST_FILE, MARKDOWN_FILE, REPORT_FILE, TRIALS_FILE

LEARNING_RATE = "learning rate"  # learning_rate or learning_rate_sgd, whichever the trial's optimizer used
MAIN_HYPERPARAMETERS = ("depth", "width", "initializer", "optimizer", LEARNING_RATE, "dropout")


def write_report(
    bundle: Path, documents: dict[str, Any], model_card: str, evaluation: Evaluation, sections: list[ReportSection]
) -> list[str]:
    """Write the HTML report, its Markdown twin and the Markdown's plot files; return their bundle-relative paths."""
    report, manifest = documents[REPORT_FILE], documents[MANIFEST_FILE]
    blocks = report_blocks(documents, model_card, evaluation, sections, bundle / "logs")
    title = f"vautoml report: {report['vertical']} run {report['run_id']}"
    subtitle = f"{_task_text(report)} · data: {report['dataset']['source']} · created {manifest['created']}"
    (bundle / HTML_FILE).write_text(html.render(blocks, title, subtitle), encoding="utf-8")
    text, plot_files = markdown.render(blocks, title, subtitle)
    (bundle / MARKDOWN_FILE).write_text(text, encoding="utf-8")
    for relative, png in plot_files.items():
        (bundle / relative).parent.mkdir(exist_ok=True)
        (bundle / relative).write_bytes(png)
    return [HTML_FILE, MARKDOWN_FILE, *plot_files]


def report_blocks(
    documents: dict[str, Any], model_card: str, evaluation: Evaluation, sections: list[ReportSection], logs: Path
) -> list[Block]:
    """Every part of the report in order; the file list ends it, the report's own files included."""
    report, trials = documents[REPORT_FILE], documents[TRIALS_FILE]
    blocks = [
        *_summary(report, documents[MANIFEST_FILE]),
        *_metrics(report, evaluation),
        *_sections(report, sections),
        *_learning(report, trials, logs),
        *_leaderboard(report, trials),
        *_hyperparameters(report, trials),
        Heading("Model card", anchor="model-card"),
        MarkdownText(markdown.shift_headings(model_card.split("\n", 1)[1], 1)),
    ]
    own = [
        HTML_FILE,
        MARKDOWN_FILE,
        *(f"{markdown.PLOTS_FOLDER}/{b.name}.png" for b in blocks if isinstance(b, Figure)),
    ]
    return blocks + _files([*documents[MANIFEST_FILE]["files"], *own])


def _number(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}g}" if abs(value) < 1e-3 and value != 0 else f"{value:.{digits}f}"


def _task_text(report: dict[str, Any]) -> str:
    data = report["dataset"]
    if report["task"] == "regression":
        return f"regression of '{data['target']}'"
    return f"{report['task']} classification of '{data['target']}' ({len(data['classes'])} classes)"


def _seconds(value: float | None) -> str:
    return "none" if value is None else f"{value:,.1f} s"


def _summary(report: dict[str, Any], manifest: dict[str, Any]) -> list[Block]:
    data, search, model = report["dataset"], report["search"], report["model"]
    splits = data["splits"]
    counts = {k: v for k, v in search["trials"].items() if k != "total"}
    phases = ", ".join(f"{name.replace('_', ' ')} {seconds:.1f} s" for name, seconds in search["phase_seconds"].items())
    plugin = manifest["plugin"]
    facts = [
        ("Run", f"{report['run_id']} (created {manifest['created']})"),
        (
            "Vertical",
            f"{report['vertical']}, from plugin {plugin['name']} ({plugin['distribution']} {plugin['version']})",
        ),
        ("Task", _task_text(report) + (f"; classes: {', '.join(data['classes'])}" if data.get("classes") else "")),
        ("Data", data["source"]),
        ("Test split", data["test_source"]),
        *([("Split", split.text())] if (split := SplitSummary.from_json(data.get("split"))) else []),
        (
            "Examples",
            f"train {splits['train']['examples']:,}, validation {splits['validation']['examples']:,}, "
            f"test {splits['test']['examples']:,}",
        ),
        ("Input", f"shape {tuple(data['input_shape'])}"),
        (
            "Search",
            f"{search['tuner']} tuner, objective {search['objective']} ({search['direction']}imise), "
            f"{search['trials']['total']} trial(s): " + ", ".join(f"{n} {s.lower()}" for s, n in counts.items()),
        ),
        ("Trials at once", _at_once_text(search)),
        ("Best trial", f"trial {search['best_trial']}, {search['objective']} = {_number(search['best_score'])}"),
        (
            "Time",
            f"budget {_seconds(search['time_budget_seconds'])}, used {_seconds(search['time_used_seconds'])} ({phases})"
            + ("; resumed after an interruption" if search["resumed"] else ""),
        ),
        ("Exported model", f"{model['training']}; {model['parameters']:,} parameters"),
    ]
    configured = search.get("settings", {}).get("space") or {}
    if configured:
        facts.append(("Search space", _space_text(configured)))
    if search.get("stop_reason"):
        facts.append(("Search stopped", search["stop_reason"]))
    elif search["stopped_early"]:  # bundles written before stop_reason existed
        facts.append(("Search stopped", search["stopped_early"]))
    return [Heading("Summary", anchor="summary"), Facts(facts)]


def _at_once_text(search: dict[str, Any]) -> str:
    """How many trials ran side by side, each on how many threads, and which worker ran how many."""
    at_once = search.get("at_once", 1)
    threads = search.get("threads")
    text = f"{at_once}" + (f", {threads} CPU thread(s) each" if threads else "")
    if at_once == 1:
        return text + " (one process)"
    by_worker = ", ".join(f"{name.split('@')[0]} {n}" for name, n in search.get("workers", {}).items())
    return text + f" (worker processes; trials by worker: {by_worker})" if by_worker else text


def _space_text(configured: dict[str, Any]) -> str:
    """The dimensions ``[space]`` set, the vertical's own ones marked, since only its plugin documents them."""
    return "; ".join(
        f"{name} {values}" + ("" if name in SHARED_NAMES else " (the vertical's own)")
        for name, values in configured.items()
    )


def _metrics(report: dict[str, Any], evaluation: Evaluation) -> list[Block]:
    metrics, task = report["test_metrics"], report["task"]
    blocks: list[Block] = [
        Heading("Test metrics", anchor="metrics"),
        Paragraph(
            f"The exported model on the {metrics['examples']:,} held-out test examples, "
            "which neither the search nor the refit saw."
        ),
    ]
    if task == "regression":
        blocks.append(
            Facts(
                [("MAE", _number(metrics["mae"])), ("RMSE", _number(metrics["rmse"])), ("R²", _number(metrics["r2"]))]
            )
        )
        target = report["dataset"]["target"]
        return blocks + [
            Figure(
                "predicted_vs_true",
                plots.regression_fit(evaluation.y_true, evaluation.scores, target),
                f"Predicted against true '{target}' on the test split; the dashed line is a perfect prediction.",
            )
        ]
    headline = [
        ("Accuracy", _number(metrics["accuracy"])),
        ("Macro F1", _number(metrics["macro_f1"])),
        ("Macro precision", _number(metrics["macro_precision"])),
        ("Macro recall", _number(metrics["macro_recall"])),
        ("Log loss", _number(metrics["log_loss"])),
    ]
    if task == "binary":
        b = metrics["binary"]
        headline += [
            ("ROC-AUC", _number(b["roc_auc"])),
            ("PR-AUC", _number(b["pr_auc"])),
            ("Brier score", _number(b["brier"])),
            ("Decision threshold", f"{b['threshold']:.4f} ({report['decision_threshold']['method']})"),
            (
                "At the threshold",
                f"sensitivity {_number(b['sensitivity'])}, specificity {_number(b['specificity'])}, "
                f"PPV {_number(b['ppv'])}, NPV {_number(b['npv'])}",
            ),
        ]
    per_class = [
        [name, _number(row["precision"]), _number(row["recall"]), _number(row["f1"]), f"{row['support']:,}"]
        for name, row in metrics["per_class"].items()
    ]
    matrix = metrics["confusion_matrix"]
    blocks += [
        Facts(headline),
        Table(
            ["class", "precision", "recall", "F1", "support"],
            per_class,
            "Per-class scores on the test split",
            numeric=frozenset({1, 2, 3, 4}),
        ),
        Figure(
            "confusion_matrix",
            plots.confusion_matrix(matrix["matrix"], matrix["labels"]),
            "Confusion matrix on the test split: rows are the true class, columns the predicted one; "
            "colour is the share of the row.",
        ),
    ]
    if task == "binary":
        positive = evaluation.class_names[1]
        blocks.append(
            Figure(
                "roc_precision_recall",
                plots.roc_and_precision_recall(
                    evaluation.y_true, evaluation.positive_probability, evaluation.threshold, positive
                ),
                f"ROC and precision-recall curves on the test split for the positive class '{positive}'; "
                "the dot is the decision threshold.",
            )
        )
    return blocks


def _sections(report: dict[str, Any], sections: list[ReportSection]) -> list[Block]:
    """The vertical's own sections, whose plain-text blocks the renderers escape; a reliability table adds a plot."""
    if not sections:
        return []
    blocks: list[Block] = [Heading(f"{report['vertical'].capitalize()} metrics", anchor="vertical")]
    for section in sections:
        blocks += [Heading(section.title, level=3), *section.blocks]
        if section.data.get("reliability"):
            positive = report["dataset"]["classes"][1]
            blocks.append(
                Figure(
                    f"calibration_{section.name}",
                    plots.calibration(section.data["reliability"], positive),
                    f"Reliability diagram: observed rate of '{positive}' against the mean predicted probability "
                    "per bin; the dashed line is perfect calibration.",
                )
            )
    return blocks


def _log(logs: Path, trial_id: str) -> dict[str, list[float]]:
    path = logs / f"trial_{trial_id}.csv"
    if not path.exists():
        return {}
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {
        column: [float(row[column]) for row in rows if row[column] not in ("", None)]
        for column in (rows[0].keys() if rows else [])
        if column != "epoch"
    }


def _learning(report: dict[str, Any], trials: list[dict[str, Any]], logs: Path) -> list[Block]:
    model = report["model"]
    members = [member["trial"] for member in model["ensemble"]]
    search = [(f"trial {trial}", _log(logs, trial)) for trial in members]
    refit = [(f"trial {entry['trial']}", entry["history"]) for entry in model.get("refit_history", [])]
    if not any(history for _, history in search) and not refit:
        return []
    what = (
        "Left: loss per epoch of the trial(s) in the exported model during the search "
        "(solid: train split, dashed: validation split). "
        "Right: their refits on train+validation, which is the model that was exported, "
        "for each trial's best epoch count."
    )
    if not refit:
        what = (
            "Loss per epoch of the trial(s) in the exported model (solid: train split, dashed: validation split); "
            "their best epochs' weights were exported (--no-refit)."
        )
    return [
        Heading("Learning curves", anchor="learning-curves"),
        Paragraph(what),
        Figure(
            "learning_curves", plots.learning_curves(search, refit), "Learning curves of the exported model's trials."
        ),
    ]


def with_learning_rate(hyperparameters: dict[str, Any]) -> dict[str, Any]:
    """The trial's hyperparameters plus the learning rate it used, under one name whatever its optimizer."""
    rate = hyperparameters.get("learning_rate", hyperparameters.get("learning_rate_sgd"))
    return {**hyperparameters, LEARNING_RATE: rate} if rate is not None else dict(hyperparameters)


def _ranked(trials: list[dict[str, Any]], direction: str) -> list[dict[str, Any]]:
    scored = sorted((t for t in trials if t["score"] is not None), key=lambda t: t["score"], reverse=direction == "max")
    return scored + [t for t in trials if t["score"] is None]


def _leaderboard(report: dict[str, Any], trials: list[dict[str, Any]]) -> list[Block]:
    search = report["search"]
    exported = {member["trial"] for member in report["model"]["ensemble"]}
    names = sorted({name for t in trials for name in t["hyperparameters"]} - {"learning_rate", "learning_rate_sgd"})
    main = [n for n in MAIN_HYPERPARAMETERS if n == LEARNING_RATE or n in names]
    others = [n for n in names if n not in main]
    by_worker = any(t.get("worker") for t in trials)  # a parallel search: say who ran each trial
    rows, highlight = [], set()
    for rank, trial in enumerate(_ranked(trials, search["direction"]), 1):
        values = with_learning_rate(trial["hyperparameters"])
        if trial["trial_id"] in exported:
            highlight.add(rank - 1)
        rows.append(
            [
                str(rank) if trial["score"] is not None else "-",
                trial["trial_id"],
                trial["status"].lower(),
                _number(trial["score"]),
                _number(trial["best_epoch"]),
                _number(trial["epochs_run"]),
                f"{trial['seconds']:.1f}",
                *([trial.get("worker") or ""] if by_worker else []),
                *[_number(values.get(n)) for n in main + others],
                trial["error"] or "",
            ]
        )
    columns = [
        "rank",
        "trial",
        "status",
        search["objective"],
        "best epoch",
        "epochs run",
        "seconds",
        *(["worker"] if by_worker else []),
        *main,
        *others,
        "error",
    ]
    return [
        Heading("Leaderboard", anchor="leaderboard"),
        Paragraph(
            f"Every trial of the search, best {search['objective']} first (validation split); "
            "highlighted rows are the trial(s) in the exported model. "
            "Failed and stopped trials come last, with their error."
        ),
        Table(
            columns, rows, f"{len(trials)} trial(s)", numeric=frozenset({0, 3, 4, 5, 6}), highlight=frozenset(highlight)
        ),
    ]


def _hyperparameters(report: dict[str, Any], trials: list[dict[str, Any]]) -> list[Block]:
    search = report["search"]
    completed = [
        {**t, "hyperparameters": with_learning_rate(t["hyperparameters"])} for t in trials if t["score"] is not None
    ]
    names = [n for n in MAIN_HYPERPARAMETERS if any(n in t["hyperparameters"] for t in completed)]
    best = with_learning_rate(report["best_hyperparameters"])
    blocks: list[Block] = [
        Heading("Hyperparameters", anchor="hyperparameters"),
        Facts(
            [
                (name, _number(value))
                for name, value in best.items()
                if name not in ("learning_rate", "learning_rate_sgd")
            ]
        ),
    ]
    if names:
        exported = {member["trial"] for member in report["model"]["ensemble"]}
        blocks.append(
            Figure(
                "score_by_hyperparameter",
                plots.score_by_hyperparameter(completed, names, search["objective"], exported),
                f"Validation {search['objective']} of each completed trial against its {', '.join(names)}.",
            )
        )
    return blocks


def _files(names: list[str]) -> list[Block]:
    rows = [
        [
            name,
            FILE_PURPOSES.get(
                name,
                "how one trial trained: our training step, or Keras's fit and why"
                if name.startswith("logs/") and name.endswith(".txt")
                else "per-epoch log of one trial"
                if name.startswith("logs/")
                else "plot for report.md"
                if name.startswith("plots/")
                else "",
            ),
        ]
        for name in names
    ]
    return [Heading("Files", anchor="files"), Table(["file", "what it holds"], rows)]
