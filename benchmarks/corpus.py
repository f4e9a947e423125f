"""Quality across many datasets (issue 24): vautoml against classical baselines on repeated splits, with error bars.

One dataset's margin is mostly test-set noise, so ``quality.py --corpus`` runs
the 12 datasets of the shared development corpus (``corpus/CORPUS.md``, read
through its TOML block) plus quality.py's five headline datasets.  Datasets
under 2,000 rows get 3 stratified 80/20 splits (seeds 0-2), larger ones 1
(regression: plain shuffled splits).  On each split vautoml's exported model
and every baseline are scored on the same test rows; the margin to the
strongest baseline gets a paired-bootstrap standard error over those rows, so
a margin within one SE counts as a tie.  Each finished split is appended to a
JSON-lines file, so a long run can stop and ``--resume``.
"""

from __future__ import annotations

import json
import math
import re
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SMALL = 2000  # fewer rows than this: 3 splits, since one small test set says little
RESAMPLES = 500
METRICS = {"binary": "ROC-AUC", "multiclass": "accuracy", "regression": "R^2"}
JOINED_TEXT = {"ag-news": ("title", "description")}  # the usual setup: one text column made of both


@dataclass
class Case:
    """One dataset ready to split: features ``x`` (a frame, or an image array), raw labels ``y``, how vautoml reads it.

    ``missing_zero`` columns have 0 for "not measured": the baselines see NaN
    there, vautoml is told with its own ``missing_values`` option.  ``fixed``
    is a dataset's own (train, test) rows, used instead of random splits.
    """

    name: str
    task: str  # binary, multiclass or regression
    kind: str  # table, text or images
    plugin: str
    x: Any
    y: np.ndarray
    target: str
    options: dict[str, str] = field(default_factory=dict)
    positive: str | None = None
    missing_zero: tuple[str, ...] = ()
    fixed: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def seeds(self) -> tuple[int, ...]:
        return (0,) if self.fixed is not None or len(self.y) >= SMALL else (0, 1, 2)

    def truth(self, rows: np.ndarray) -> np.ndarray:
        """Labels as the metric compares them: positive or not, class names as text, or numbers."""
        y = self.y[rows]
        if self.task == "regression":
            return y.astype(float)
        return y.astype(str) == self.positive if self.task == "binary" else y.astype(str)


def corpus_specs(folder: Path) -> dict[str, dict[str, Any]]:
    """The ``[[dataset]]`` tables of CORPUS.md's TOML block, by name: the one description of how to read each file."""
    block = re.search(r"```toml\n(.*?)```", (folder / "CORPUS.md").read_text(encoding="utf-8"), re.S)
    return {spec["name"]: spec for spec in tomllib.loads(block.group(1))["dataset"]}


def corpus_case(folder: Path, spec: dict[str, Any]) -> Case:
    """Read one corpus dataset with CORPUS.md's pandas options, drop its ``drop`` columns, and say how vautoml reads it.

    Tables go to the finance vertical (it takes binary, multiclass and
    regression targets); text sets to the text vertical, with only the text column.
    """
    read = {key: spec[key] for key in ("sep", "na_values", "keep_default_na", "quoting", "encoding")}
    read.update({"header": None, "names": spec["names"]} if spec["header"] == "none" else {"header": spec["header"]})
    frame = pd.read_csv(folder / spec["path"], **read)
    if frame.shape != (spec["rows"], spec["columns"]):
        raise ValueError(f"{spec['path']} reads as {frame.shape}, CORPUS.md says {(spec['rows'], spec['columns'])}")
    frame = frame.drop(columns=spec["drop"])
    target = spec["target"]
    y = frame.pop(target).to_numpy()
    options = {"target_column": target}
    if spec["kind"] == "text":
        parts = JOINED_TEXT.get(spec["name"], (spec["text_column"],))
        column = "text" if len(parts) > 1 else parts[0]
        frame = pd.DataFrame({column: frame[list(parts)].astype(str).agg(" ".join, axis=1)})
        options["text_column"] = column
    positive = str(spec["positive"]) if "positive" in spec else None
    if positive is not None:
        options["positive_class"] = positive
    plugin = "text" if spec["kind"] == "text" else "finance"
    return Case(spec["name"], spec["task"], spec["kind"], plugin, frame, y, target, options, positive)


def subsample(case: Case, rows: int) -> Case:
    """At most ``rows`` rows (stratified for classes, seed 0): only when asked for, since all rows is the benchmark."""
    from sklearn.model_selection import train_test_split

    if case.fixed is not None or len(case.y) <= rows:
        return case
    kept, _ = train_test_split(np.arange(len(case.y)), train_size=rows, stratify=strata(case), random_state=0)
    kept = np.sort(kept)
    x = case.x.iloc[kept] if isinstance(case.x, pd.DataFrame) else case.x[kept]
    return Case(**{**case.__dict__, "x": x, "y": case.y[kept]})


def strata(case: Case) -> np.ndarray | None:
    return None if case.task == "regression" else case.y.astype(str)


def split(case: Case, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and test rows: the dataset's own, else 80/20 (stratified for classes) with ``seed``."""
    from sklearn.model_selection import train_test_split

    if case.fixed is not None:
        return case.fixed
    index = np.arange(len(case.y))
    return tuple(train_test_split(index, test_size=0.2, stratify=strata(case), random_state=seed))


def write_split(case: Case, train: np.ndarray, test: np.ndarray, work: Path) -> tuple[Path, Path]:
    """The split as vautoml's files: CSV with a header for tables and text, ``.npz`` for images."""
    paths = []
    for part, rows in (("train", train), ("test", test)):
        if case.kind == "images":
            path = work / f"{case.name}_{part}.npz"
            np.savez(path, x=case.x[rows], y=case.y[rows])
        else:
            path = work / f"{case.name}_{part}.csv"
            case.x.iloc[rows].assign(**{case.target: case.y[rows]}).to_csv(path, index=False)
        paths.append(path)
    return paths[0], paths[1]


def vautoml_run(case: Case, train: Path, test: Path, budget: float, seed: int) -> tuple[dict, float, np.ndarray]:
    """Search as a user would (the budget ends it); the export's test predictions are taken before its registry goes.

    Predictions are in the baselines' form: binary, the probability of
    ``case.positive``; multiclass, class names; regression, numbers.
    """
    from vertical_automl import load, search
    from vertical_automl.search_engine.progress import LogProgress

    class Prefixed:
        def write(self, text: str) -> None:
            lines = text.splitlines(keepends=True)
            sys.stderr.write("".join(f"  [{case.plugin}] {line}" if line.strip() else line for line in lines))

        def flush(self) -> None:
            sys.stderr.flush()

    with tempfile.TemporaryDirectory() as registry:
        started = time.perf_counter()
        result = search(
            case.plugin,
            train,
            test_data=test,
            data_options=case.options,
            time_budget=budget,
            seed=seed,
            registry=registry,
            progress=LogProgress(Prefixed()),
        )
        seconds = time.perf_counter() - started
        predictor = load(result.path)
        if case.task == "binary":
            predicted = predictor.predict_proba(test)[:, predictor.class_names.index(case.positive)]
        else:
            predicted = np.asarray(predictor.predict(test), dtype=float if case.task == "regression" else str)
        return result.report, seconds, predicted


def tabular_baselines(case: Case, train: np.ndarray, test: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """Linear model, histogram gradient boosting and random forest on the same rows, predicted on the test rows.

    String columns are categorical; a missing category is a category of its
    own.  The linear model sees median-imputed (plus missing indicators),
    standardised numbers and one-hot categories; the trees see ordinal codes.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import (
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    frame = case.x.copy()
    for column in case.missing_zero:
        frame[column] = frame[column].mask(frame[column] == 0)
    num = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    cat = [c for c in frame.columns if c not in num]
    frame[num] = frame[num].astype(float)
    frame[cat] = frame[cat].astype(object).fillna("(missing)")
    codes = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    regression = case.task == "regression"
    linear = make_pipeline(
        ColumnTransformer(
            [
                ("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()), num),
                ("cat", OneHotEncoder(handle_unknown="ignore"), cat),
            ]
        ),
        Ridge() if regression else LogisticRegression(max_iter=2000),
    )
    boosting = HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier
    boosted = make_pipeline(
        ColumnTransformer([("cat", codes, cat)], remainder="passthrough"),
        boosting(categorical_features=list(range(len(cat))), random_state=seed),
    )
    forest = RandomForestRegressor if regression else RandomForestClassifier
    trees = make_pipeline(
        ColumnTransformer([("cat", codes, cat), ("num", SimpleImputer(strategy="median"), num)]),
        forest(n_estimators=300, n_jobs=1, random_state=seed),
    )
    linear_name = "ridge regression" if regression else "logistic regression"
    models = {linear_name: linear, "hist gradient boosting": boosted, "random forest": trees}
    return {name: fitted(model, case, frame.iloc[train], train, frame.iloc[test]) for name, model in models.items()}


def fitted(model: Any, case: Case, x_train: Any, train: np.ndarray, x_test: Any) -> np.ndarray:
    """Fit on the training rows; predict the test rows as vautoml's are compared (binary: P(positive))."""
    model.fit(x_train, case.truth(train))
    return model.predict_proba(x_test)[:, 1] if case.task == "binary" else model.predict(x_test)


def baselines(case: Case, train: np.ndarray, test: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Each baseline's test predictions: tables as above, TF-IDF + logistic regression for text, RBF SVM for images."""
    if case.kind == "table":
        return tabular_baselines(case, train, test, seed)
    if case.kind == "text":
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        texts = case.x.iloc[:, 0].to_numpy()
        model = make_pipeline(
            TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1), LogisticRegression(max_iter=2000, C=10)
        )
        return {"TF-IDF + logistic regression": fitted(model, case, texts[train], train, texts[test])}
    from sklearn.svm import SVC

    pixels = case.x.reshape(len(case.x), -1) / 255.0
    return {"RBF SVM": fitted(SVC(kernel="rbf"), case, pixels[train], train, pixels[test])}


def score(task: str, y: np.ndarray, predicted: np.ndarray) -> float:
    """ROC-AUC, accuracy or R^2: higher is better for all three, so a margin is vautoml minus baseline."""
    from sklearn.metrics import r2_score, roc_auc_score

    if task == "binary":
        return float(roc_auc_score(y, predicted))
    return float(np.mean(y == predicted)) if task == "multiclass" else float(r2_score(y, predicted))


def paired_se(task: str, y: np.ndarray, ours: np.ndarray, theirs: np.ndarray) -> float:
    """Standard error of the margin from resampling the test rows, the same rows for both contenders."""
    rng = np.random.default_rng(0)
    margins = []
    for _ in range(RESAMPLES):
        rows = rng.integers(0, len(y), len(y))
        if task != "binary" or 0 < y[rows].sum() < len(rows):  # an AUC needs both classes
            margins.append(score(task, y[rows], ours[rows]) - score(task, y[rows], theirs[rows]))
    return float(np.std(margins, ddof=1))


def evaluate_split(case: Case, seed: int, budget: float, work: Path, with_vautoml: bool = True) -> dict[str, Any]:
    """One split's JSON record: every contender's test score, vautoml's margin SE against each baseline, its rank."""
    train, test = split(case, seed)
    y, task = case.truth(test), case.task
    record: dict[str, Any] = {"dataset": case.name, "seed": seed, "budget": budget, "task": task, "rows": len(case.y)}
    if with_vautoml:
        report, seconds, ours = vautoml_run(case, *write_split(case, train, test, work), budget, seed)
        if report["task"] != task:
            raise ValueError(f"vautoml read the target as a {report['task']} task, not {task}")
        search = report["search"]
        record.update(trials=[search["trials"].get("COMPLETED", 0), search["trials"]["total"]], seconds=seconds)
        record.update(stop_reason=search.get("stop_reason", ""), vautoml=score(task, y, ours))
        record.update(at_once=search.get("at_once", 1), folds=search["settings"].get("folds"))
        metrics = report["test_metrics"]  # vautoml's own score of the same rows: a check that both read them alike
        said = (
            metrics["binary"]["roc_auc"] if task == "binary" else metrics["accuracy" if task == "multiclass" else "r2"]
        )
        if abs(said - record["vautoml"]) > 1e-4:
            print(f"  note: report.json says {said:.5f}, its predictions {record['vautoml']:.5f}", file=sys.stderr)
    started = time.perf_counter()
    predicted = baselines(case, train, test, seed)
    record["baseline_seconds"] = time.perf_counter() - started
    record["baselines"] = {name: score(task, y, p) for name, p in predicted.items()}
    if task == "regression":
        record["rmse"] = {name: rmse(y, p) for name, p in predicted.items()}
    if with_vautoml:
        if task == "regression":
            record["rmse"]["vautoml"] = rmse(y, ours)
        record["se"] = {name: paired_se(task, y, ours, p) for name, p in predicted.items()}
        others = np.array(list(record["baselines"].values()))
        record["rank"] = 1 + float(np.sum(others > record["vautoml"]) + 0.5 * np.sum(others == record["vautoml"]))
    return record


def rmse(y: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - predicted) ** 2)))


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """A dataset's splits: mean margin to the baseline with the best mean, its SE and between-split SD, W/T/L, rank."""
    n = len(records)
    means = {name: float(np.mean([r["baselines"][name] for r in records])) for name in records[0]["baselines"]}
    strongest = max(means, key=means.get)
    summary = {"splits": n, "strongest": strongest, "baseline": means[strongest], "means": means}
    if "vautoml" not in records[0]:
        return summary
    margins = [r["vautoml"] - r["baselines"][strongest] for r in records]
    margin = float(np.mean(margins))
    se = math.sqrt(sum(r["se"][strongest] ** 2 for r in records)) / n
    summary.update(vautoml=float(np.mean([r["vautoml"] for r in records])), margin=margin, se=se)
    summary.update(
        sd=float(np.std(margins, ddof=1)) if n >= 2 else None, rank=float(np.mean([r["rank"] for r in records]))
    )
    summary["outcome"] = "T" if abs(margin) <= se else ("W" if margin > 0 else "L")
    summary["trials"] = [sum(r["trials"][i] for r in records) for i in (0, 1)]
    summary["seconds"] = float(np.mean([r["seconds"] for r in records]))
    if "rmse" in records[0]:
        summary["rmse"] = [float(np.mean([r["rmse"][k] for r in records])) for k in ("vautoml", strongest)]
    return summary


def run_corpus(
    cases: dict[str, Callable[[], Case]],
    budget: float,
    results: Path,
    resume: bool = False,
    baselines_only: bool = False,
    max_rows: int | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every split of every case, each appended to ``results`` as it ends; returns the splits' records and the failures.

    With ``resume``, splits already in ``results`` (same dataset, seed,
    budget and rows) are taken from there instead of run again; failed ones
    run again.  A failure is printed and recorded, and the run goes on.
    ``baselines_only`` skips vautoml and writes nothing.
    """
    lines = results.read_text(encoding="utf-8").splitlines() if resume and results.exists() else []
    done = {key(r): r for r in map(json.loads, filter(str.strip, lines)) if "error" not in r}
    records, failures = [], []

    def failed(record: dict[str, Any]) -> None:
        failures.append(record)
        print(f"[corpus] {record['dataset']} seed {record['seed']} failed: {record['error']}", file=sys.stderr)
        save(record)

    def save(record: dict[str, Any]) -> None:
        if not baselines_only:
            results.parent.mkdir(parents=True, exist_ok=True)
            with results.open("a", encoding="utf-8") as out:
                out.write(json.dumps(record) + "\n")

    with tempfile.TemporaryDirectory() as tmp:
        for name, build in cases.items():
            try:
                case = subsample(build(), max_rows) if max_rows else build()
            except Exception as error:  # a dataset that cannot be read is reported; the others still run
                failed({"dataset": name, "seed": None, "budget": budget, "error": f"{type(error).__name__}: {error}"})
                continue
            for seed in case.seeds:
                if not baselines_only and (name, seed, budget, len(case.y)) in done:
                    records.append(done[name, seed, budget, len(case.y)])
                    continue
                print(f"[corpus] {name} ({len(case.y)} rows, {case.task}) seed {seed}", file=sys.stderr)
                try:
                    records.append(evaluate_split(case, seed, budget, Path(tmp), with_vautoml=not baselines_only))
                except Exception as error:  # one dataset's failure must not end a 95-minute run
                    failed(
                        {"dataset": name, "seed": seed, "budget": budget, "error": f"{type(error).__name__}: {error}"}
                    )
                    continue
                save(records[-1])
    return records, failures


def key(record: dict[str, Any]) -> tuple[str, int, float, int]:
    return record["dataset"], record["seed"], record["budget"], record["rows"]
