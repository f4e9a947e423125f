"""Medical vertical for vertical-automl: diagnostic and prognostic models on tabular data.

Registered through the ``vautoml`` entry-point group exactly like a
third-party plugin.  The tabular machinery is the core's (the same as the
finance vertical's); this plugin adds what clinicians read: sensitivity,
specificity, PPV and NPV at the chosen threshold, bootstrap 95% confidence
intervals for AUC, sensitivity and specificity, calibration (Brier score and
a reliability table) and permutation feature importance of the exported
model on the test split.  Without ``--data`` it uses scikit-learn's bundled
breast cancer dataset (offline).
"""

from __future__ import annotations

import numpy as np

from vertical_automl.plugin_api import (
    TABLE_MODEL_NOTE,
    Bullets,
    Evaluation,
    LabeledData,
    Paragraph,
    ReportSection,
    Table,
    Vertical,
    blocks,
    frame_of_text,
    hookimpl,
    labeled_table,
    table_loader,
)

BOOTSTRAP_RESAMPLES = 1000
PERMUTATION_REPEATS = 5


def build_model(hp, info):
    return blocks.tabular_model(hp, info, name="vautoml_medical")


def load_breast_cancer() -> LabeledData:
    """scikit-learn's Wisconsin diagnostic breast cancer data: 569 patients, 30 numeric features."""
    from sklearn.datasets import load_breast_cancer as sklearn_breast_cancer

    bunch = sklearn_breast_cancer(as_frame=True)
    frame = bunch.frame.drop(columns="target")
    frame["diagnosis"] = np.array(bunch.target_names)[bunch.target.to_numpy()]
    description = {"format": "in-memory table (scikit-learn load_breast_cancer)", "header": True, "delimiter": ","}
    return labeled_table(
        frame_of_text(frame),
        {"target_column": "diagnosis"},
        "scikit-learn breast cancer (bundled, 569 patients, 30 features)",
        description,
        allow_regression=False,
    )


def _rate_at(threshold: float, positive: bool):
    """Sensitivity (positive=True) or specificity at a fixed threshold, for bootstrapping."""

    def statistic(y: np.ndarray, p: np.ndarray) -> float:
        wanted = y == (1 if positive else 0)
        if not wanted.any():
            return float("nan")
        decided = (p >= threshold) if positive else (p < threshold)
        return float(decided[wanted].mean())

    return statistic


def clinical_sections(evaluation: Evaluation) -> list[ReportSection]:
    if evaluation.task != "binary":
        return []
    from vertical_automl.plugin_api import (  # scikit-learn: loaded when first used
        binary_metrics,
        bootstrap_intervals,
        permutation_importance,
        reliability_table,
        roc_auc,
    )

    y, p, t = evaluation.y_true, evaluation.positive_probability, evaluation.threshold
    scores = binary_metrics(y, p, t)
    intervals = bootstrap_intervals(
        y,
        p,
        {"roc_auc": roc_auc, "sensitivity": _rate_at(t, True), "specificity": _rate_at(t, False)},
        resamples=BOOTSTRAP_RESAMPLES,
        seed=evaluation.seed,
    )
    positive, negative = evaluation.class_names[1], evaluation.class_names[0]
    clinical = {
        "positive_class": positive,
        "threshold": t,
        **{
            k: scores[k]
            for k in (
                "sensitivity",
                "specificity",
                "ppv",
                "npv",
                "true_positives",
                "false_positives",
                "true_negatives",
                "false_negatives",
            )
        },
        "confidence_intervals": intervals,
    }

    def ci(name: str) -> str:
        c = intervals[name]
        return f"{c['estimate']:.3f} (95% CI {c['low']:.3f}-{c['high']:.3f})"

    # Titles and blocks are plain text, class and column names included: the core escapes them for each format.
    title = f"Clinical performance (positive class '{positive}', test split)"
    sections = [
        ReportSection(
            "clinical",
            title,
            clinical,
            [
                Bullets(
                    [
                        f"At threshold {t:.4f}: sensitivity {ci('sensitivity')}, specificity {ci('specificity')}, "
                        f"PPV {scores['ppv']:.3f}, NPV {scores['npv']:.3f}.",
                        f"ROC-AUC {ci('roc_auc')}. "
                        f"Intervals: percentile bootstrap, {BOOTSTRAP_RESAMPLES} resamples "
                        f"of the {len(y)} test patients.",
                        f"Counts: TP {scores['true_positives']}, FP {scores['false_positives']}, "
                        f"TN {scores['true_negatives']}, "
                        f"FN {scores['false_negatives']} ('{negative}' is negative).",
                    ]
                )
            ],
        )
    ]

    table = reliability_table(y, p)
    bins = [
        [
            f"{row['bin'][0]:.1f}-{row['bin'][1]:.1f}",
            str(row["examples"]),
            f"{row['mean_predicted']:.3f}",
            f"{row['observed_rate']:.3f}",
        ]
        for row in table
    ]
    sections.append(
        ReportSection(
            "calibration",
            "Calibration (test split)",
            {"brier": scores["brier"], "reliability": table},
            [
                Paragraph(
                    f"Brier score {scores['brier']:.4f} (0 is perfect). "
                    f"Reliability table: predicted probability vs observed rate of '{positive}'."
                ),
                Table(
                    ["probability bin", "patients", "mean predicted", "observed"], bins, numeric=frozenset({1, 2, 3})
                ),
            ],
        )
    )

    raw = evaluation.raw_test.x
    if hasattr(raw, "columns"):
        importance = permutation_importance(
            lambda xs, ys: roc_auc(ys, evaluation.predict(xs)[:, 1]),
            raw,
            y,
            repeats=PERMUTATION_REPEATS,
            seed=evaluation.seed,
        )
        features = [
            [str(row["feature"]), f"{row['importance_mean']:.4f}", f"{row['importance_std']:.4f}"]
            for row in importance[:15]
        ]
        data = {"metric": "drop in ROC-AUC", "repeats": PERMUTATION_REPEATS, "features": importance}
        title = "Permutation feature importance (exported model, test split)"
        sections.append(
            ReportSection(
                "permutation_importance",
                title,
                data,
                [
                    Paragraph(
                        f"Drop in test ROC-AUC when one column is shuffled ({PERMUTATION_REPEATS} repeats); "
                        "larger means the model leans on it more."
                    ),
                    Table(["feature", "AUC drop", "std"], features, numeric=frozenset({1, 2})),
                ],
            )
        )
    return sections


MEDICAL = Vertical(
    name="medical",
    description=(
        "Clinical tabular prediction (diagnosis, risk of an outcome): TabM ensembles and MLPs over encoded tables "
        "with robust scaling and piecewise-linear numeric embeddings, searched over architecture, embedding, depth, "
        "width, dropout, class weighting, optimizer and schedule; strong recipes run first."
    ),
    build_model=build_model,
    tasks=("binary", "multiclass"),
    loaders=(table_loader(allow_regression=False),),
    default_data=load_breast_cancer,
    default_data_description="scikit-learn breast cancer (569 patients, malignant vs benign)",
    report_sections=clinical_sections,
    model_card_notes=(
        TABLE_MODEL_NOTE,
        "Not a medical device. Validate prospectively on the target population before any clinical use; "
        "the confidence intervals above reflect test-set size only.",
    ),
    recipes=blocks.TABULAR_RECIPES,
    # up to 5 trials, chosen by greedy selection on validation: a few hundred validation rows make one
    # best trial a noisy pick
    ensemble_size=5,
)


@hookimpl
def register_verticals(register):
    register(MEDICAL)
