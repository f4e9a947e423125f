"""Model quality: vautoml's default search against strong classical baselines, same split, same run.

For each vertical's real dataset in ../shared/data (see its SOURCES.md) this
script makes one fixed stratified 80/20 split (seed 0), runs vautoml's
default search on the 80% with a fixed wall-clock budget (the search then
holds out its own validation split from that 80%), scores the exported model
on the 20%, and trains the baselines on the same 80% and scores them on the
same 20%:

* tables (finance: German credit; medical: Pima diabetes; finance at scale:
  adult census, 32,561 training rows scored on its own 16,281-row test file
  instead of a split): logistic regression and histogram gradient boosting;
* text (SMS spam): TF-IDF + logistic regression;
* images (MNIST test set, 10,000 digits): an RBF SVM.

Binary tasks compare test ROC-AUC, MNIST compares accuracy.  The search runs
as a user's would: no trial cap, so the budget ends it.  It prints one table
(and the same as Markdown, for the README) with the margin to the best
baseline, the trials run and why the search stopped; nothing is asserted.
Run nothing else meanwhile (two torch processes on 2 cores slow each other
many times over).  Run:  python benchmarks/quality.py [--budget 180] [--only finance,adult]
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VAUTOML_SHARED_DATA", REPO.parent / "shared" / "data"))
PIMA_ZERO_MEANS_MISSING = [1, 2, 3, 4, 5]  # 0-based: glucose, blood pressure, skin thickness, insulin, BMI


def split_lines(lines: list, labels: list) -> tuple[list[int], list[int]]:
    """The fixed split every contender shares: stratified 80/20, seed 0."""
    index = np.arange(len(lines))
    train, test = train_test_split(index, test_size=0.2, stratify=labels, random_state=0)
    return list(train), list(test)


def write_split(
    lines: list[str], labels: list[str], work: Path, stem: str, suffix: str, header: str | None = None
) -> tuple[list[int], list[int], Path, Path]:
    """Split data lines and write them as ``<stem>_train`` / ``<stem>_test`` files (with ``header`` when given)."""
    train, test = split_lines(lines, labels)
    paths = []
    for part, index in (("train", train), ("test", test)):
        path = work / f"{stem}_{part}{suffix}"
        path.write_text("\n".join(([header] if header else []) + [lines[i] for i in index]) + "\n", encoding="utf-8")
        paths.append(path)
    return train, test, paths[0], paths[1]


def vautoml_run(plugin: str, train: Path, test: Path, budget: float, options: dict[str, str]) -> tuple[dict, float]:
    from vertical_automl import search
    from vertical_automl.search_engine.progress import LogProgress

    class Prefixed:
        def write(self, text: str) -> None:
            sys.stderr.write(
                "".join(f"  [{plugin}] {line}" if line.strip() else line for line in text.splitlines(keepends=True))
            )

        def flush(self) -> None:
            sys.stderr.flush()

    with tempfile.TemporaryDirectory() as registry:
        started = time.perf_counter()
        result = search(
            plugin,
            train,
            test_data=test,
            data_options=options,
            time_budget=budget,
            registry=registry,
            progress=LogProgress(Prefixed()),
        )
        return result.report, time.perf_counter() - started


def tabular_baselines(
    rows: list[list[str]],
    train: list[int],
    test: list[int],
    categorical: list[int],
    missing_zero: list[int],
    positive: str,
) -> dict[str, float]:
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    frame = pd.DataFrame([r[:-1] for r in rows])
    y = np.array([r[-1] == positive for r in rows])
    numeric = [c for c in frame.columns if c not in categorical]
    frame[numeric] = frame[numeric].astype(float)
    for c in missing_zero:
        frame.loc[frame[c] == 0, c] = np.nan
    frame.columns = [str(c) for c in frame.columns]
    num, cat = [str(c) for c in numeric], [str(c) for c in categorical]
    linear = make_pipeline(
        ColumnTransformer(
            [
                ("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()), num),
                ("cat", OneHotEncoder(handle_unknown="ignore"), cat),
            ]
        ),
        LogisticRegression(max_iter=2000),
    )
    boosted = make_pipeline(
        ColumnTransformer(
            [("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), cat)],
            remainder="passthrough",
        ),
        HistGradientBoostingClassifier(categorical_features=list(range(len(cat))), random_state=0),
    )
    scores = {}
    for name, model in (("logistic regression", linear), ("hist gradient boosting", boosted)):
        model.fit(frame.iloc[train], y[train])
        scores[name] = roc_auc_score(y[test], model.predict_proba(frame.iloc[test])[:, 1])
    return scores


def bench_finance(work: Path, budget: float) -> dict:
    lines = (SHARED / "german-credit" / "german.csv").read_text().strip().splitlines()
    rows = [line.split(",") for line in lines]
    train, test, train_path, test_path = write_split(lines, [r[-1] for r in rows], work, "german", ".csv")
    report, seconds = vautoml_run("finance", train_path, test_path, budget, {"header": "false", "target_column": "-1"})
    categorical = [i for i, v in enumerate(rows[0][:-1]) if not v.replace(".", "").isdigit()]
    baselines = tabular_baselines(rows, train, test, categorical, [], positive="2")
    return {
        "dataset": "german-credit (finance)",
        "metric": "ROC-AUC",
        "vautoml": report["test_metrics"]["binary"]["roc_auc"],
        "baselines": baselines,
        "report": report,
        "seconds": seconds,
    }


def bench_medical(work: Path, budget: float) -> dict:
    lines = (SHARED / "pima-indians-diabetes" / "pima-indians-diabetes.csv").read_text().strip().splitlines()
    rows = [line.split(",") for line in lines]
    train, test, train_path, test_path = write_split(lines, [r[-1] for r in rows], work, "pima", ".csv")
    missing = ",".join(f"column_{i + 1}" for i in PIMA_ZERO_MEANS_MISSING) + "=0"
    report, seconds = vautoml_run(
        "medical", train_path, test_path, budget, {"header": "false", "missing_values": missing}
    )
    baselines = tabular_baselines(rows, train, test, [], PIMA_ZERO_MEANS_MISSING, positive="1")
    return {
        "dataset": "pima-indians-diabetes (medical)",
        "metric": "ROC-AUC",
        "vautoml": report["test_metrics"]["binary"]["roc_auc"],
        "baselines": baselines,
        "report": report,
        "seconds": seconds,
    }


def bench_adult(work: Path, budget: float) -> dict:
    """Adult census: its own train and test files (the test labels lose their trailing full stop)."""
    folder = SHARED / "adult-census"
    files = {}
    for part, name in (("train", "adult.data"), ("test", "adult.test")):
        lines = [line.rstrip(".") for line in (folder / name).read_text().splitlines() if line.strip()]
        files[part] = lines
        (work / f"adult_{part}.csv").write_text("\n".join(lines) + "\n")
    rows = [[cell.strip() for cell in line.split(",")] for line in files["train"][1:] + files["test"][1:]]
    train, test = list(range(len(files["train"]) - 1)), list(range(len(files["train"]) - 1, len(rows)))
    report, seconds = vautoml_run(
        "finance",
        work / "adult_train.csv",
        work / "adult_test.csv",
        budget,
        {"target_column": "income", "missing_values": "?"},
    )
    categorical = [i for i, v in enumerate(rows[0][:-1]) if not v.replace(".", "").isdigit()]
    for row in rows:  # '?' marks a missing cell; the baselines impute numbers and treat '?' as a category
        row[:-1] = [("nan" if i not in categorical and v == "?" else v) for i, v in enumerate(row[:-1])]
    baselines = tabular_baselines(rows, train, test, categorical, [], positive=">50K")
    return {
        "dataset": "adult-census (finance, 32k rows)",
        "metric": "ROC-AUC",
        "vautoml": report["test_metrics"]["binary"]["roc_auc"],
        "baselines": baselines,
        "report": report,
        "seconds": seconds,
    }


def bench_text(work: Path, budget: float) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    lines = (SHARED / "sms-spam-collection" / "SMSSpamCollection").read_text(encoding="utf-8").strip().splitlines()
    header, body = lines[0], lines[1:]
    labels = [line.split("\t", 1)[0] for line in body]
    texts = [line.split("\t", 1)[1] for line in body]
    train, test, train_path, test_path = write_split(body, labels, work, "sms", ".tsv", header)
    report, seconds = vautoml_run(
        "text", train_path, test_path, budget, {"text_column": "SMS", "target_column": "Label"}
    )
    y = np.array(labels) == "spam"
    model = make_pipeline(
        TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1), LogisticRegression(max_iter=2000, C=10)
    )
    model.fit([texts[i] for i in train], y[train])
    score = roc_auc_score(y[test], model.predict_proba([texts[i] for i in test])[:, 1])
    return {
        "dataset": "sms-spam-collection (text)",
        "metric": "ROC-AUC",
        "vautoml": report["test_metrics"]["binary"]["roc_auc"],
        "baselines": {"TF-IDF + logistic regression": score},
        "report": report,
        "seconds": seconds,
    }


def bench_vision(work: Path, budget: float) -> dict:
    from sklearn.svm import SVC

    folder = SHARED / "mnist-test"
    images = np.frombuffer(gzip.open(folder / "t10k-images-idx3-ubyte.gz").read(), np.uint8, offset=16).reshape(
        -1, 28, 28
    )
    labels = np.frombuffer(gzip.open(folder / "t10k-labels-idx1-ubyte.gz").read(), np.uint8, offset=8)
    train, test = split_lines(list(range(len(labels))), list(labels))
    np.savez(work / "mnist_train.npz", x=images[train], y=labels[train])
    np.savez(work / "mnist_test.npz", x=images[test], y=labels[test])
    report, seconds = vautoml_run("vision", work / "mnist_train.npz", work / "mnist_test.npz", budget, {})
    svm = SVC(kernel="rbf")
    svm.fit(images[train].reshape(len(train), -1) / 255.0, labels[train])
    score = accuracy_score(labels[test], svm.predict(images[test].reshape(len(test), -1) / 255.0))
    return {
        "dataset": "mnist-test 10k (vision)",
        "metric": "accuracy",
        "vautoml": report["test_metrics"]["accuracy"],
        "baselines": {"RBF SVM": score},
        "report": report,
        "seconds": seconds,
    }


BENCHMARKS = {
    "finance": bench_finance,
    "medical": bench_medical,
    "adult": bench_adult,
    "text": bench_text,
    "vision": bench_vision,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--budget", type=float, default=180.0, help="wall-clock budget of each vautoml search, seconds (default 180)"
    )
    parser.add_argument(
        "--only", default=",".join(BENCHMARKS), help="comma-separated subset of: " + ", ".join(BENCHMARKS)
    )
    args = parser.parse_args()
    if not SHARED.exists():
        sys.exit(f"shared data not found at {SHARED}; set VAUTOML_SHARED_DATA")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only.split(","):
            results.append(BENCHMARKS[name.strip()](Path(tmp), args.budget))

    from rich.console import Console
    from rich.table import Table

    title = f"vautoml vs baselines: same rows, search budget {args.budget:g}s, 2 CPU cores"
    columns = (
        "dataset",
        "metric",
        "vautoml",
        "best baseline",
        "baselines",
        "vautoml - best",
        "trials",
        "stopped because",
        "vautoml seconds",
    )
    rows = []
    for r in results:
        best_name, best = max(r["baselines"].items(), key=lambda item: item[1])
        others = "; ".join(f"{k} {v:.4f}" for k, v in r["baselines"].items())
        search = r["report"]["search"]
        trials = search["trials"]
        rows.append(
            (
                r["dataset"],
                r["metric"],
                f"{r['vautoml']:.4f}",
                best_name,
                others,
                f"{r['vautoml'] - best:+.4f}",
                f"{trials.get('COMPLETED', 0)}/{trials['total']}",
                search.get("stop_reason", ""),
                f"{r['seconds']:.0f}",
            )
        )
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console(width=220).print(table)
    print("\n" + " | ".join(columns).join(("| ", " |")))
    print("|" + " --- |" * len(columns))
    for row in rows:
        print(" | ".join(row).join(("| ", " |")))


if __name__ == "__main__":
    main()
