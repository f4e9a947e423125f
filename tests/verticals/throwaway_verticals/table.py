"""``tiny-table``: binary, multiclass and regression tables with the core's table loader and tabular model.

The model is the core's ``blocks.tabular_model`` (TabM or MLP, with its
recipes first) at small widths, and its exports may average up to two trials
(``ensemble_size`` 2), so the tests go through ensemble selection.  Without ``--data`` it trains on scikit-learn's
bundled breast cancer table (target ``diagnosis``, classes ``benign`` and
``malignant``).  For binary tasks it adds three report sections under the
names and titles the core's tests check (``clinical``, whose title holds the
positive class; ``calibration``, whose reliability table the core plots;
``permutation_importance``, a table whose cells are the user's column names):
what the core must carry into ``report.json`` and escape in the model card and
reports.  :data:`TINY_SCORED` is the same vertical with one scoring section
and no plot of its own; it has no entry point, and tests register it in
process (``helpers.plugins_with``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from vertical_automl import Evaluation, LabeledData, ReportSection, Vertical, blocks, hookimpl
from vertical_automl.data.tabular import TABLE_MODEL_NOTE, labeled_table, table_loader, table_usage_code
from vertical_automl.report.document import Facts, Paragraph, Table


def build_model(hp, info):
    return blocks.tabular_model(hp, info, name="tiny_table", widths=(16, 32))


def load_breast_cancer() -> LabeledData:
    """scikit-learn's Wisconsin diagnostic breast cancer table: 569 rows, 30 numeric features."""
    from sklearn.datasets import load_breast_cancer as sklearn_breast_cancer

    from vertical_automl.data.tables import frame_of_text

    bunch = sklearn_breast_cancer(as_frame=True)
    frame = bunch.frame.drop(columns="target")
    frame["diagnosis"] = np.array(bunch.target_names)[bunch.target.to_numpy()]
    description = {"format": "in-memory table (scikit-learn load_breast_cancer)", "header": True, "delimiter": ","}
    return labeled_table(
        frame_of_text(frame),
        {"target_column": "diagnosis"},
        "scikit-learn breast cancer (bundled, 569 rows, 30 features)",
        description,
        allow_regression=True,
    )


def binary_sections(evaluation: Evaluation) -> list[ReportSection]:
    """Rates at the threshold, calibration and permutation importance (one repeat, to stay fast)."""
    if evaluation.task != "binary":
        return []
    from vertical_automl.evaluate import binary_metrics, permutation_importance, reliability_table, roc_auc

    y, p, threshold = evaluation.y_true, evaluation.positive_probability, evaluation.threshold
    scores = binary_metrics(y, p, threshold)
    positive, negative = evaluation.class_names[1], evaluation.class_names[0]
    rates = {name: scores[name] for name in ("sensitivity", "specificity", "ppv", "npv")}
    sections = [
        ReportSection(
            "clinical",
            f"Clinical performance (positive class '{positive}', test split)",
            {"positive_class": positive, "threshold": threshold, **rates},
            [
                Paragraph(f"At threshold {threshold:.4f}, with '{negative}' as the negative class."),
                Facts([(name, f"{value:.3f}") for name, value in rates.items()]),
            ],
        ),
        ReportSection(
            "calibration",
            "Calibration (test split)",
            {"brier": scores["brier"], "reliability": reliability_table(y, p)},
            [Paragraph(f"Brier score {scores['brier']:.4f} (0 is perfect).")],
        ),
    ]
    raw = evaluation.raw_test.x
    if hasattr(raw, "columns"):
        importance = permutation_importance(
            lambda xs, ys: roc_auc(ys, evaluation.predict(xs)[:, 1]), raw, y, repeats=1, seed=evaluation.seed
        )
        rows = [[row["feature"], f"{row['importance_mean']:.4f}"] for row in importance]
        sections.append(
            ReportSection(
                "permutation_importance",
                "Permutation feature importance (exported model, test split)",
                {"metric": "drop in ROC-AUC", "repeats": 1, "features": importance},
                [Table(["feature", "AUC drop"], rows, numeric=frozenset({1}))],
            )
        )
    return sections


TINY_TABLE = Vertical(
    name="tiny-table",
    description="Test-only tabular prediction: the core's tabular model at small widths, ensembles of two.",
    tasks=("binary", "multiclass", "regression"),
    build_model=build_model,
    loaders=(table_loader(allow_regression=True),),
    default_data=load_breast_cancer,
    default_data_description="scikit-learn breast cancer (569 rows, malignant vs benign)",
    report_sections=binary_sections,
    model_card_notes=(TABLE_MODEL_NOTE,),
    recipes=blocks.TABULAR_RECIPES,
    ensemble_size=2,
    usage_code=table_usage_code,
)


def scoring_sections(evaluation: Evaluation) -> list[ReportSection]:
    """A credit-scoring-like section: the class names in a paragraph and in a confusion matrix's header and cells."""
    if evaluation.task != "binary":
        return []
    from vertical_automl.evaluate import binary_metrics

    scores = binary_metrics(evaluation.y_true, evaluation.positive_probability, evaluation.threshold)
    negative, positive = evaluation.class_names
    matrix = [
        [negative, str(scores["true_negatives"]), str(scores["false_positives"])],
        [positive, str(scores["false_negatives"]), str(scores["true_positives"])],
    ]
    content = [
        Paragraph(f"Scores rank class '{positive}' (the positive class) above '{negative}'."),
        Table(
            ["true class", f"predicted {negative}", f"predicted {positive}"],
            matrix,
            caption=f"Confusion matrix at threshold {scores['threshold']:.4f}",
            numeric=frozenset({1, 2}),
        ),
    ]
    data = {"positive_class": positive, "roc_auc": scores["roc_auc"]}
    return [ReportSection("credit_scoring", "Credit scoring metrics (test split)", data, content)]


TINY_SCORED = dataclasses.replace(
    TINY_TABLE,
    name="tiny-scored",
    description="Test-only tabular prediction with one scoring section (no plot of its own).",
    report_sections=scoring_sections,
)


@hookimpl
def register_verticals(register):
    register(TINY_TABLE)
