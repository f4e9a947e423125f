"""vertical_automl.load(...) and vautoml predict on raw inputs, and their errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import invoke_vautoml, vautoml_predictions

import vertical_automl
from vertical_automl.errors import DataError, UsageError


def breast_cancer_rows():
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(as_frame=True).frame.drop(columns="target").head(20)


def test_load_predicts_raw_rows_the_same_way_as_the_cli_and_refuses_bad_input(tmp_path):
    registry = tmp_path / "registry"
    result = vertical_automl.search("tiny-table", max_trials=1, epochs=3, registry=registry)
    predictor = vertical_automl.load(result.run_id, registry=registry)
    assert predictor.task == "binary" and predictor.class_names == ["benign", "malignant"]
    frame = breast_cancer_rows()
    probabilities = predictor.predict_proba(frame)
    assert probabilities.shape == (20, 2) and np.allclose(probabilities.sum(axis=1), 1)
    rows = frame.astype(str).to_dict(orient="records")
    assert np.allclose(predictor.predict_proba(rows), probabilities, atol=1e-6)
    threshold = json.loads((result.path / "preprocessing.json").read_text())["output"]["threshold"]
    assert predictor.predict(frame) == ["malignant" if p >= threshold else "benign" for p in probabilities[:, 1]]

    frame.to_csv(tmp_path / "rows.csv", index=False)
    labels, from_cli = vautoml_predictions(result.path, tmp_path / "rows.csv", tmp_path)
    assert np.allclose(from_cli, probabilities, atol=1e-5) and labels == predictor.predict(frame)

    with pytest.raises(DataError, match="lacks column"):
        predictor.predict(frame.drop(columns="mean radius"))
    with pytest.raises(DataError, match="cannot read int input"):
        predictor.predict(3)
    missing = invoke_vautoml(
        "predict", "--model", "no-such-run", "--data", str(tmp_path / "rows.csv"), "--registry", str(registry)
    )
    assert missing.returncode == 2 and "no finished run 'no-such-run'" in missing.stderr
    (result.path / "manifest.json").write_text(
        json.dumps({**json.loads((result.path / "manifest.json").read_text()), "format_version": 7})
    )
    with pytest.raises(UsageError, match="bundle format 7, newer than this vautoml reads"):
        vertical_automl.load(result.path)


def test_evaluate_scores_a_labelled_file_with_the_searchs_metrics_and_sections(tmp_path):
    from sklearn.datasets import load_breast_cancer
    from sklearn.metrics import roc_auc_score

    registry = tmp_path / "registry"
    result = vertical_automl.search("tiny-table", max_trials=1, epochs=3, registry=registry)
    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.drop(columns="target").assign(diagnosis=[bunch.target_names[t] for t in bunch.target])
    frame.iloc[::3].to_csv(tmp_path / "labelled.csv", index=False)
    done = invoke_vautoml(
        "evaluate",
        "--model",
        result.run_id,
        "--data",
        str(tmp_path / "labelled.csv"),
        "--output",
        str(tmp_path / "eval.json"),
        "--registry",
        str(registry),
    )
    assert done.returncode == 0, done.stderr
    assert "190 examples" in done.stdout and "test ROC-AUC" in done.stdout and "section clinical" in done.stdout
    scored = json.loads((tmp_path / "eval.json").read_text())
    assert set(scored["sections"]) == {"clinical", "calibration", "permutation_importance"}
    predictor = vertical_automl.load(result.path)
    rows = frame.iloc[::3].drop(columns="diagnosis")
    truth = (frame.iloc[::3]["diagnosis"] == "malignant").to_numpy()
    assert np.isclose(
        scored["test_metrics"]["binary"]["roc_auc"],
        roc_auc_score(truth, predictor.predict_proba(rows)[:, 1]),
        atol=1e-6,
    )
    assert np.isclose(
        scored["test_metrics"]["accuracy"],
        np.mean(np.array(predictor.predict(rows)) == np.where(truth, "malignant", "benign")),
    )

    no_target = invoke_vautoml("evaluate", "--model", str(result.path), "--data", str(tmp_path / "rows.csv"))
    assert no_target.returncode == 2 and "does not exist" in no_target.stderr
    rows.to_csv(tmp_path / "rows.csv", index=False)
    no_target = invoke_vautoml("evaluate", "--model", str(result.path), "--data", str(tmp_path / "rows.csv"))
    assert no_target.returncode == 2 and "has no target column 'diagnosis'" in no_target.stderr
