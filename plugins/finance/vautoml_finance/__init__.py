"""Finance vertical for vertical-automl: credit risk and other tabular targets.

Registered through the ``vautoml`` entry-point group exactly like a
third-party plugin.  Everything tabular (reading, typing, imputation,
encoding, the dense model, thresholds) comes from the core; this plugin adds
the defaults credit teams expect and a credit-scoring report section (KS
statistic, Gini, ROC-AUC, PR-AUC, Brier score and the confusion matrix at the
chosen threshold).  A continuous target (e.g. a loss amount) switches to
regression.  There is no built-in dataset: the error shows an example
``--data`` command instead of training on something synthetic.
"""

from __future__ import annotations

from vertical_automl.plugin_api import (
    TABLE_MODEL_NOTE,
    Evaluation,
    Facts,
    Paragraph,
    ReportSection,
    Table,
    Vertical,
    blocks,
    hookimpl,
    table_loader,
)


def build_model(hp, info):
    return blocks.tabular_model(hp, info, name="vautoml_finance")


def credit_scoring(evaluation: Evaluation) -> list[ReportSection]:
    """KS, Gini and friends for a binary target: how well scores rank bad above good."""
    if evaluation.task != "binary":
        return []
    from vertical_automl.plugin_api import binary_metrics, ks_statistic  # scikit-learn: loaded when first used

    y, p = evaluation.y_true, evaluation.positive_probability
    scores = binary_metrics(y, p, evaluation.threshold)
    ks = ks_statistic(y, p)
    gini = 2 * scores["roc_auc"] - 1
    positive, negative = evaluation.class_names[1], evaluation.class_names[0]
    data = {
        "positive_class": positive,
        "ks_statistic": ks,
        "gini": gini,
        "roc_auc": scores["roc_auc"],
        "pr_auc": scores["pr_auc"],
        "brier": scores["brier"],
        "threshold": scores["threshold"],
        "confusion_matrix": {
            "rows_are": "true class",
            "columns_are": "predicted class",
            "labels": [negative, positive],
            "matrix": [
                [scores["true_negatives"], scores["false_positives"]],
                [scores["false_negatives"], scores["true_positives"]],
            ],
        },
    }
    # Plain text, class names included: the core escapes it for the model card and the report.
    ranking = {
        "KS statistic": ks,
        "Gini": gini,
        "ROC-AUC": scores["roc_auc"],
        "PR-AUC": scores["pr_auc"],
        "Brier score": scores["brier"],
    }
    matrix = [
        [negative, str(scores["true_negatives"]), str(scores["false_positives"])],
        [positive, str(scores["false_negatives"]), str(scores["true_positives"])],
    ]
    content = [
        Paragraph(f"Scores rank class '{positive}' (the positive class) above '{negative}'."),
        Facts([(name, f"{value:.4f}") for name, value in ranking.items()]),
        Table(
            ["true class", f"predicted {negative}", f"predicted {positive}"],
            matrix,
            caption=f"Confusion matrix at threshold {scores['threshold']:.4f}",
            numeric=frozenset({1, 2}),
        ),
    ]
    return [ReportSection("credit_scoring", "Credit scoring metrics (test split)", data, content)]


FINANCE = Vertical(
    name="finance",
    description=(
        "Financial tabular prediction (credit risk, default, fraud, loss amounts): TabM ensembles and MLPs over "
        "encoded tables with robust scaling and piecewise-linear numeric embeddings, searched over architecture, "
        "embedding, depth, width, dropout, class weighting, optimizer and schedule; strong recipes run first."
    ),
    build_model=build_model,
    tasks=("binary", "multiclass", "regression"),
    loaders=(table_loader(allow_regression=True),),
    data_example="vautoml search --plugin finance --data german.csv --no-header --target-column -1",
    report_sections=credit_scoring,
    model_card_notes=(
        TABLE_MODEL_NOTE,
        "A binary model outputs the probability of the positive class; "
        "the decision threshold in preprocessing.json was chosen on validation data.",
    ),
    recipes=blocks.TABULAR_RECIPES,
    # up to 5 trials, chosen by greedy selection on validation: a few hundred validation rows make one
    # best trial a noisy pick
    ensemble_size=5,
)


@hookimpl
def register_verticals(register):
    register(FINANCE)
