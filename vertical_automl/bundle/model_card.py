"""The model card, ``model_card.md``: what a bundle's model is for, how it scored, how to use it without vautoml.

Kept apart from the writer, which is about files and the checks on them: this
is text for people, built from the report's blocks, that the writer saves and
the HTML report embeds.
"""

from __future__ import annotations

import json
from typing import Any

from ..data.input_kind import InputKind
from ..records.report import SplitSummary
from ..report import markdown
from ..report.document import Block, Bullets, Code, Heading, Paragraph
from ..report.sections import ReportSection
from ..vertical import Vertical
from .files import PROFILE_FILE


def _metric_lines(report: dict[str, Any]) -> list[str]:
    metrics, task = report["test_metrics"], report["task"]
    if task == "regression":
        return [
            f"MAE {metrics['mae']:.4g}, RMSE {metrics['rmse']:.4g}, R2 {metrics['r2']:.4f} "
            f"on {metrics['examples']} test examples"
        ]
    lines = [
        f"Accuracy {metrics['accuracy']:.4f}, macro F1 {metrics['macro_f1']:.4f}, "
        f"macro precision {metrics['macro_precision']:.4f}, macro recall {metrics['macro_recall']:.4f}"
    ]
    if task == "binary":
        b, decision = metrics["binary"], report["decision_threshold"]
        lines += [
            f"ROC-AUC {b['roc_auc']:.4f}, PR-AUC {b['pr_auc']:.4f}, Brier score {b['brier']:.4f}",
            f"Decision threshold {b['threshold']:.4f} on the positive-class probability, "
            f"chosen by {decision['method']}; "
            f"at it: sensitivity {b['sensitivity']:.4f}, specificity {b['specificity']:.4f}, "
            f"PPV {b['ppv']:.4f}, NPV {b['npv']:.4f} "
            f"(TP {b['true_positives']}, FP {b['false_positives']}, "
            f"TN {b['true_negatives']}, FN {b['false_negatives']})",
        ]
    return lines


def _prediction_lines(task: str) -> list[str]:
    if task == "binary":
        return [
            "p = model.predict(x)[:, 0]  # probability of prep['output']['positive_class']",
            'out = prep["output"]',
            'labels = [out["positive_class"] if v >= out["threshold"] else out["negative_class"] for v in p]',
        ]
    if task == "regression":
        return ["values = model.predict(x)[:, 0]  # in the target's own units"]
    return [
        "probabilities = model.predict(x)",
        'labels = [prep["class_names"][i] for i in probabilities.argmax(axis=1)]',
    ]


def _drift_blocks(manifest: dict[str, Any]) -> list[Block]:
    """What ``input_profile.json`` is for, in bundles that have one (runs before it existed have none)."""
    if PROFILE_FILE not in manifest["files"]:
        return []
    return [
        Heading("Input drift monitoring"),
        Paragraph(
            f"{PROFILE_FILE} (plain JSON) describes the encoded training inputs: for each monitored feature "
            "(each column of a table, token count and out-of-vocabulary share for text, mean and standard "
            "deviation per channel for images), its minimum, maximum and a 10-bin histogram (deciles, or one bin "
            "per value for features with few values)."
        ),
        Paragraph(
            "vautoml serve keeps the features of the last rows it scored and reports on /metrics, per feature, the "
            "population stability index of that window against training (vautoml_input_drift_psi, from 100 rows "
            "on; below 0.1 stable, 0.1 to 0.25 moderate, above 0.25 shifted) and the count of values outside the "
            "training range (vautoml_input_out_of_range_total)."
        ),
    ]


def model_card(
    vertical: Vertical,
    preprocessing: dict[str, Any],
    report: dict[str, Any],
    manifest: dict[str, Any],
    sections: list[ReportSection] = (),
    kind: InputKind | None = None,
) -> str:
    """A Markdown model card: use, data, metrics, limitations, input spec, and how to load it.

    It is built from plain-text report blocks, the vertical's sections among them, and rendered by the report's
    Markdown renderer, which escapes every text: user strings (run id, target, class, column and file names)
    cannot turn into links, HTML or formatting.  The code that makes ``x`` is the vertical's ``usage_code``, else
    the input ``kind``'s, else a generic line; the packages it needs besides Keras and NumPy are the kind's.
    """
    data, spec, task, search = report["dataset"], preprocessing["input"], report["task"], report["search"]
    splits = data["splits"]
    train = splits["train"]
    if task == "regression":
        counts = (
            f"target '{data['target']}' mean {train['target_mean']:.4g}, standard deviation {train['target_std']:.4g}"
        )
        task_line = f"Task: regression of '{data['target']}'"
    else:
        counts = "class counts " + ", ".join(f"{name}: {n}" for name, n in train["class_counts"].items())
        classes = f"classes ({len(data['classes'])}): {', '.join(data['classes'])}"
        task_line = f"Task: {task} classification of '{data['target']}'; {classes}"
    shown_spec = {
        k: (f"[{len(v)} entries, see preprocessing.json]" if k == "vocabulary" else v) for k, v in spec.items()
    }
    spec_json = "{\n" + ",\n".join(f"  {json.dumps(key)}: {json.dumps(value)}" for key, value in shown_spec.items())
    spec_json += "\n}"
    make_x = vertical.usage_code or (kind.usage_code if kind is not None else None)
    usage = make_x(spec) if make_x else ["x = ...  # arrays shaped as in the input specification"]
    extra = "".join(f" and {name}" for name in (kind.usage_requirements if kind is not None else ()))
    blocks: list[Block] = [
        Heading("Intended use"),
        Paragraph(
            f"{vertical.description} Trained by vertical-automl {manifest['libraries']['vertical-automl']} "
            f"({search['tuner']} search, {search['trials']['total']} trial(s), objective {search['objective']}). "
            "Check the metrics below on data like yours before relying on it."
        ),
        Heading("Data"),
        Bullets(
            [
                f"Source: {data['source']}; test split: {data['test_source']}",
                *([f"Split: {split.text()}"] if (split := SplitSummary.from_json(data.get("split"))) else []),
                task_line,
                f"Examples: train {train['examples']}, validation {splits['validation']['examples']}, "
                f"test {splits['test']['examples']}",
                f"Training split: {counts}",
                f"Fingerprint (sha256 of the data): {manifest['data']['fingerprint']}",
            ]
        ),
        Heading("Metrics on the held-out test split"),
        Bullets([*_metric_lines(report), f"The exported model: {report['model']['training']}."]),
    ]
    for section in sections:
        blocks += [Heading(section.title), *section.blocks]
    blocks += [
        Heading("Input specification"),
        Paragraph('Every step before the model is in preprocessing.json (under "input"); in short:'),
        Code(spec_json, "json"),
        *([Bullets(list(vertical.model_card_notes))] if vertical.model_card_notes else []),
        Heading("Use it without vertical-automl"),
        Paragraph(f"Needs only keras (3.x) with the torch backend and numpy{extra}. Run from the bundle folder:"),
        Code(
            "\n".join(
                [
                    "import json, os",
                    'os.environ["KERAS_BACKEND"] = "torch"',
                    "import keras, numpy as np",
                    'model = keras.saving.load_model("model.keras")  # safe mode stays on',
                    'prep = json.load(open("preprocessing.json"))',
                    *usage,
                    *_prediction_lines(task),
                ]
            ),
            "python",
        ),
        *_drift_blocks(manifest),
        Heading("Limitations"),
        Bullets(
            [
                "Scores come from one held-out split of the data named above; "
                "data from another source, device or population may score lower.",
                "Inputs outside the documented shape or value range are not checked by the model itself.",
                f"Library versions: {', '.join(f'{k} {v}' for k, v in manifest['libraries'].items())}.",
            ]
        ),
    ]
    text, _ = markdown.render(blocks, f"Model card: {vertical.name} run {manifest['run_id']}")  # no figures, no files
    return text
