"""Finance end to end on the German credit data.

Search, credit report, and the bundle used from raw CSV rows without vautoml.
"""

from __future__ import annotations

import json

import numpy as np
from helpers import only_run, run_model_card, run_vautoml, shared_dataset, split_file, vautoml_predictions
from sklearn.metrics import roc_auc_score

# Cross-validated as by default, on the fewest folds: the vertical is tested here, the folds in the core's tests.
TINY = ["--max-trials", "2", "--epochs", "4", "--seed", "0", "--folds", "2"]


def german_split(tmp_path):
    lines = (shared_dataset("german-credit") / "german.csv").read_text().strip().splitlines()
    train, test = split_file(lines, [line.rsplit(",", 1)[1] for line in lines], 0.2)
    (tmp_path / "train.csv").write_text("\n".join(train) + "\n")
    (tmp_path / "test.csv").write_text("\n".join(test) + "\n")
    return test


def test_german_credit_binary_with_costs_exports_a_bundle_that_scores_raw_rows(tmp_path):
    test_lines = german_split(tmp_path)
    registry = tmp_path / "registry"
    done = run_vautoml(
        "search",
        "--plugin",
        "finance",
        "--data",
        str(tmp_path / "train.csv"),
        "--test-data",
        str(tmp_path / "test.csv"),
        "--no-header",
        "--target-column",
        "-1",
        "--cost-fp",
        "1",
        "--cost-fn",
        "5",
        *TINY,
        "--registry",
        str(registry),
    )
    assert done.returncode == 0, done.stderr
    run = only_run(registry)
    report = json.loads((run / "report.json").read_text())
    prep = json.loads((run / "preprocessing.json").read_text())
    assert report["task"] == "binary" and report["search"]["objective"] == "val_auc"
    # The tabular recipes run first; the export is chosen among the trials by ensemble selection,
    # never below the best trial.
    trials = json.loads((run / "trials.json").read_text())
    assert [(t["hyperparameters"]["architecture"], t["hyperparameters"]["numeric_embedding"]) for t in trials] == [
        ("tabm", "piecewise_linear"),
        ("trees", "none"),
    ]
    members = report["model"]["ensemble"]
    assert {m["trial"] for m in members} <= {"0", "1"} and np.isclose(sum(m["weight"] for m in members), 1.0)
    assert report["model"]["ensemble_validation_score"] >= max(t["score"] for t in trials) - 1e-9
    assert prep["output"]["positive_class"] == "2" and "cost_fp=1, cost_fn=5" in prep["output"]["threshold_method"]
    credit = report["sections"]["credit_scoring"]
    binary = report["test_metrics"]["binary"]
    assert credit["gini"] == 2 * binary["roc_auc"] - 1 and 0 < credit["ks_statistic"] <= 1
    assert binary["roc_auc"] > 0.6  # well above chance (0.5) even for a 2-trial search
    assert np.array(credit["confusion_matrix"]["matrix"]).sum() == len(test_lines) == 200
    assert "## Credit scoring metrics" in (run / "model_card.md").read_text()

    # A downstream app: the model card's code on the raw test rows, plus one row with a category never seen in training.
    unseen = "A99" + test_lines[0][test_lines[0].index(",") :]
    out = run_model_card(
        run,
        tmp_path,
        files={"new_rows.csv": "\n".join(test_lines + [unseen]) + "\n"},
        result='{"p": p.tolist(), "labels": labels}',
    )
    p, truth = np.array(out["p"][:-1]), np.array([line.rsplit(",", 1)[1] for line in test_lines])
    assert np.isclose(roc_auc_score(truth == "2", p), binary["roc_auc"], atol=1e-6)
    assert np.isclose(np.mean(np.array(out["labels"][:-1]) == truth), report["test_metrics"]["accuracy"])
    assert 0.0 <= out["p"][-1] <= 1.0
    (tmp_path / "new_rows.csv").write_text("\n".join(test_lines + [unseen]) + "\n")
    labels, probabilities = vautoml_predictions(
        run, tmp_path / "new_rows.csv", tmp_path
    )  # vautoml predict agrees with the app
    assert np.allclose(probabilities[:, 1], out["p"], atol=1e-5) and labels == out["labels"]


def test_a_continuous_target_switches_to_regression(tmp_path):
    german_split(tmp_path)
    registry = tmp_path / "registry"
    done = run_vautoml(
        "search",
        "--plugin",
        "finance",
        "--data",
        str(tmp_path / "train.csv"),
        "--no-header",
        "--target-column",
        "5",
        *TINY,
        "--registry",
        str(registry),
    )
    assert done.returncode == 0, done.stderr
    assert "test MAE" in done.stdout
    run = only_run(registry)
    report = json.loads((run / "report.json").read_text())
    assert report["task"] == "regression" and report["search"]["objective"] == "val_mae"
    assert set(report["test_metrics"]) == {"examples", "mae", "rmse", "r2"} and report["sections"] == {}
    out = run_model_card(
        run,
        tmp_path,
        files={"new_rows.csv": (tmp_path / "train.csv").read_text()},
        result='{"values": values.tolist()}',
    )
    values = np.array(out["values"])
    assert 500 < np.median(values) < 10_000  # credit amounts in Deutsche Mark, not standardised units


def test_without_data_the_error_shows_an_example_command(tmp_path):
    done = run_vautoml("search", "--plugin", "finance", "--registry", str(tmp_path / "registry"))
    assert done.returncode == 2
    assert (
        "has no built-in dataset. Fix: pass your data with --data, "
        "e.g. vautoml search --plugin finance --data german.csv" in done.stderr
    )
    assert not (tmp_path / "registry" / "finance").exists()
