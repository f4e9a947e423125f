"""Medical end to end.

Pima diabetes with zero-as-missing, clinical report sections, and the offline breast-cancer default.
"""

from __future__ import annotations

import json

import numpy as np
from helpers import only_run, run_model_card, run_vautoml, shared_dataset, split_file, vautoml_predictions
from sklearn.metrics import roc_auc_score

from vertical_automl.pipeline import search

ZERO_MEANS_MISSING = "column_2,column_3,column_4,column_5,column_6=0"  # glucose, blood pressure, skin, insulin, BMI


def test_pima_with_sentinels_reports_clinical_metrics_and_scores_raw_rows(tmp_path):
    lines = (shared_dataset("pima-indians-diabetes") / "pima-indians-diabetes.csv").read_text().strip().splitlines()
    train, test = split_file(lines, [line.rsplit(",", 1)[1] for line in lines], 0.2)
    (tmp_path / "train.csv").write_text("\n".join(train) + "\n")
    (tmp_path / "test.csv").write_text("\n".join(test) + "\n")
    registry = tmp_path / "registry"
    done = run_vautoml(
        "search",
        "--plugin",
        "medical",
        "--data",
        str(tmp_path / "train.csv"),
        "--test-data",
        str(tmp_path / "test.csv"),
        "--no-header",
        "--missing-values",
        ZERO_MEANS_MISSING,
        "--max-trials",
        "2",
        "--epochs",
        "5",
        "--folds",  # cross-validated as by default, on the fewest folds: the vertical is tested here, not the folds
        "2",
        "--registry",
        str(registry),
    )
    assert done.returncode == 0, done.stderr
    run = only_run(registry)
    report = json.loads((run / "report.json").read_text())
    prep = json.loads((run / "preprocessing.json").read_text())

    columns = {c["name"]: c for c in prep["input"]["columns"]}
    assert (
        columns["column_2"]["missing_values"] == ["0"] and columns["column_2"]["indicator"]
    )  # glucose zeros are missing
    assert (
        columns["column_1"]["missing_values"] == [] and not columns["column_1"]["indicator"]
    )  # zero pregnancies are real

    binary = report["test_metrics"]["binary"]
    assert binary["roc_auc"] > 0.7
    clinical = report["sections"]["clinical"]
    for name in ("roc_auc", "sensitivity", "specificity"):
        interval = clinical["confidence_intervals"][name]
        assert interval["low"] <= interval["estimate"] <= interval["high"] and interval["resamples"] == 1000
    assert clinical["sensitivity"] == binary["sensitivity"] and {"ppv", "npv"} <= set(clinical)
    calibration = report["sections"]["calibration"]
    assert (
        sum(row["examples"] for row in calibration["reliability"]) == len(test)
        and calibration["brier"] == binary["brier"]
    )
    importance = report["sections"]["permutation_importance"]["features"]
    assert {row["feature"] for row in importance} == {f"column_{i}" for i in range(1, 9)}
    assert importance[0]["importance_mean"] > 0  # shuffling the most important column hurts
    card = (run / "model_card.md").read_text()
    assert "95% CI" in card and "Reliability table" in card and "Not a medical device" in card

    out = run_model_card(run, tmp_path, files={"new_rows.csv": "\n".join(test) + "\n"}, result='{"p": p.tolist()}')
    truth = np.array([line.rsplit(",", 1)[1] == "1" for line in test])
    assert np.isclose(roc_auc_score(truth, out["p"]), binary["roc_auc"], atol=1e-6)
    labels, probabilities = vautoml_predictions(
        run, tmp_path / "test.csv", tmp_path
    )  # vautoml predict agrees with the app
    assert np.allclose(probabilities[:, 1], out["p"], atol=1e-5) and len(labels) == len(test)


def test_default_is_the_bundled_breast_cancer_data(tmp_path):
    result = search("medical", max_trials=1, epochs=3, folds=2, registry=tmp_path / "registry")
    report = result.report
    assert report["dataset"]["source"].startswith("scikit-learn breast cancer")
    assert (
        report["dataset"]["classes"] == ["benign", "malignant"]
        and report["dataset"]["splits"]["test"]["examples"] == 114
    )
    assert report["sections"]["clinical"]["positive_class"] == "malignant"
    assert report["test_metrics"]["binary"]["roc_auc"] > 0.9


def test_a_numeric_target_is_refused_with_the_fix(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n" + "\n".join(f"{i},{i * 1.5}" for i in range(40)) + "\n")
    done = run_vautoml("search", "--plugin", "medical", "--data", str(path), "--registry", str(tmp_path / "r"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert (
        "the target column 'b' of table" in done.stderr
        and "a continuous target, but this vertical only classifies. Fix:" in done.stderr
    )
