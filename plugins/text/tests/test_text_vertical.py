"""Text end to end on the SMS Spam Collection: search, and the bundle used on raw strings without vautoml."""

from __future__ import annotations

import json

import numpy as np
from helpers import only_run, run_model_card, run_vautoml, shared_dataset, split_file, vautoml_predictions
from sklearn.metrics import roc_auc_score

import vertical_automl


def test_sms_spam_bundle_classifies_raw_strings(tmp_path):
    lines = (
        (shared_dataset("sms-spam-collection") / "SMSSpamCollection").read_text(encoding="utf-8").strip().splitlines()
    )
    header, rows = lines[0], lines[1:]
    train, test = split_file(
        rows, [row.split("\t", 1)[0] for row in rows], 0.25, keep=2000
    )  # a stratified 2,000-message subset keeps CI fast
    (tmp_path / "train.tsv").write_text("\n".join([header, *train]) + "\n", encoding="utf-8")
    (tmp_path / "test.tsv").write_text("\n".join([header, *test]) + "\n", encoding="utf-8")
    registry = tmp_path / "registry"
    done = run_vautoml(  # the two trials are the text recipes: the n-gram bag, linear then with a hidden layer
        "search",
        "--plugin",
        "text",
        "--data",
        str(tmp_path / "train.tsv"),
        "--test-data",
        str(tmp_path / "test.tsv"),
        "--max-trials",
        "2",
        "--epochs",
        "4",
        "--seed",
        "3",
        "--folds",  # cross-validated as by default, on the fewest folds: the vertical is tested here, not the folds
        "2",
        "--registry",
        str(registry),
    )
    assert done.returncode == 0, done.stderr
    run = only_run(registry)
    report = json.loads((run / "report.json").read_text())
    prep = json.loads((run / "preprocessing.json").read_text())
    assert prep["input"]["text_column"] == "SMS" and report["dataset"]["target"] == "Label"
    spec = prep["input"]
    assert prep["output"]["positive_class"] == "spam" and spec["token_count"] > 500
    assert len(spec["vocabulary"]) > spec["token_count"]  # bigrams after the tokens
    assert spec["shape"] == [spec["sequence_length"] + spec["ngram_length"]] and spec["ngram_length"] >= 8
    assert report["best_hyperparameters"]["block"] == "ngrams"
    binary = report["test_metrics"]["binary"]
    assert binary["roc_auc"] > 0.95  # spam is easy, and TF-IDF with logistic regression is a strong start

    texts = [row.split("\t", 1)[1] for row in test]
    card_texts = 'texts = ["Congratulations! You won a prize, call now", "See you at lunch?"]'
    result = '{"p": p.tolist(), "labels": labels, "x": x.tolist()}'
    out = run_model_card(run, tmp_path, replace={card_texts: f"texts = {json.dumps(texts)}"}, result=result)
    assert np.array_equal(out["x"], vertical_automl.load(run).encode(texts).x)  # token and n-gram ids, id for id
    truth = np.array([row.split("\t", 1)[0] for row in test])
    assert np.isclose(roc_auc_score(truth == "spam", out["p"]), binary["roc_auc"], atol=1e-6)
    assert np.isclose(np.mean(np.array(out["labels"]) == truth), report["test_metrics"]["accuracy"])
    (tmp_path / "texts.txt").write_text("\n".join(texts) + "\n")
    labels, probabilities = vautoml_predictions(
        run, tmp_path / "texts.txt", tmp_path
    )  # vautoml predict agrees with the app
    assert np.allclose(probabilities[:, 1], out["p"], atol=1e-5) and labels == out["labels"]


def test_text_vertical_without_data_shows_an_example(tmp_path):
    done = run_vautoml("search", "--plugin", "text", "--registry", str(tmp_path / "registry"))
    assert (
        done.returncode == 2
        and "e.g. vautoml search --plugin text --data messages.tsv --text-column SMS --target-column Label"
        in done.stderr
    )


def test_a_folder_of_text_files_trains(tmp_path):
    lines = (
        (shared_dataset("sms-spam-collection") / "SMSSpamCollection")
        .read_text(encoding="utf-8")
        .strip()
        .splitlines()[1:]
    )
    counts = {"ham": 0, "spam": 0}
    for line in lines:
        label, text = line.split("\t", 1)
        if counts[label] < 60:
            folder = tmp_path / "docs" / label
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{counts[label]}.txt").write_text(text, encoding="utf-8")
            counts[label] += 1
    done = run_vautoml(
        "search",
        "--plugin",
        "text",
        "--data",
        str(tmp_path / "docs"),
        "--max-trials",
        "1",
        "--epochs",
        "2",
        "--registry",
        str(tmp_path / "registry"),
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((only_run(tmp_path / "registry") / "report.json").read_text())
    assert report["dataset"]["splits"]["test"]["class_counts"] == {"ham": 12, "spam": 12}
