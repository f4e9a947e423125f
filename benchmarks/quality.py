"""Model quality: vautoml's default search against strong classical baselines, same split, same run.

For each vertical's real dataset in ../shared/data (see its SOURCES.md) this
script makes one fixed stratified 80/20 split (seed 0), runs vautoml's
default search on the 80% with a fixed wall-clock budget (the search then
holds out its own validation split from that 80%), scores the exported model
on the 20%, and trains the baselines on the same 80% and scores them on the
same 20%:

* tables (finance: German credit; medical: Pima diabetes; finance at scale:
  adult census, 32,561 training rows scored on its own 16,281-row test file
  instead of a split): logistic regression, histogram gradient boosting and
  a random forest;
* text (SMS spam): TF-IDF + logistic regression;
* images (MNIST test set, 10,000 digits): an RBF SVM.

Binary tasks compare test ROC-AUC, MNIST compares accuracy.  The search runs
as a user's would: no trial cap, so the budget ends it.  It prints one table
(and the same as Markdown, for the README) with the margin to the best
baseline, the trials run and why the search stopped; nothing is asserted.

``--corpus`` runs the 12 datasets of ../shared/data/corpus and these five on
repeated splits with standard errors, wins/ties/losses and vautoml's average
rank (see corpus.py); ``--baselines-only`` prints just the baselines' scores.
The searches use the default workers (one per core); ``VAUTOML_WORKERS=1``
measures one process.  Run nothing else meanwhile (two torch processes on 2
cores slow each other many times over).  Run:  python benchmarks/quality.py [--budget 180] [--only finance,adult]
[--corpus [--resume] [--results PATH] [--baselines-only] [--max-rows N]]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import os
import sys
import tempfile
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from corpus import METRICS, Case, corpus_case, corpus_specs, evaluate_split, run_corpus, summarise

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VAUTOML_SHARED_DATA", REPO.parent / "shared" / "data"))
PIMA_ZERO_MEANS_MISSING = [1, 2, 3, 4, 5]  # 0-based: glucose, blood pressure, skin thickness, insulin, BMI


def headerless(path: Path) -> pd.DataFrame:
    """A file without a header, its columns named as vautoml names them (column_1, ...), so options can name them."""
    frame = pd.read_csv(path, header=None)
    frame.columns = [f"column_{i}" for i in range(1, frame.shape[1] + 1)]
    return frame


def german() -> Case:
    frame = headerless(SHARED / "german-credit" / "german.csv")
    options = {"target_column": "column_21", "positive_class": "2"}  # 2 = bad credit
    y = frame.pop("column_21").to_numpy()
    return Case("finance", "binary", "table", "finance", frame, y, "column_21", options, "2")


def pima() -> Case:
    frame = headerless(SHARED / "pima-indians-diabetes" / "pima-indians-diabetes.csv")
    zero = tuple(f"column_{i + 1}" for i in PIMA_ZERO_MEANS_MISSING)
    options = {"target_column": "column_9", "missing_values": ",".join(zero) + "=0", "positive_class": "1"}
    y = frame.pop("column_9").to_numpy()
    return Case("medical", "binary", "table", "medical", frame, y, "column_9", options, "1", zero)


def adult() -> Case:
    """Adult census: its own train and test files (the test labels lose their trailing full stop); '?' is missing."""
    parts = [
        pd.read_csv(SHARED / "adult-census" / name, skipinitialspace=True) for name in ("adult.data", "adult.test")
    ]
    frame = pd.concat(parts, ignore_index=True)
    y = frame.pop("income").str.rstrip(".").to_numpy()
    fixed = (np.arange(len(parts[0])), np.arange(len(parts[0]), len(frame)))
    options = {"target_column": "income", "missing_values": "?", "positive_class": ">50K"}
    return Case("adult", "binary", "table", "finance", frame, y, "income", options, ">50K", fixed=fixed)


def sms() -> Case:
    path = SHARED / "sms-spam-collection" / "SMSSpamCollection"
    frame = pd.read_csv(path, sep="\t", quoting=csv.QUOTE_NONE, keep_default_na=False, encoding="utf-8")
    options = {"text_column": "SMS", "target_column": "Label", "positive_class": "spam"}
    return Case("text", "binary", "text", "text", frame[["SMS"]], frame["Label"].to_numpy(), "Label", options, "spam")


def mnist() -> Case:
    folder = SHARED / "mnist-test"
    images = np.frombuffer(gzip.open(folder / "t10k-images-idx3-ubyte.gz").read(), np.uint8, offset=16)
    labels = np.frombuffer(gzip.open(folder / "t10k-labels-idx1-ubyte.gz").read(), np.uint8, offset=8)
    return Case("vision", "multiclass", "images", "vision", images.reshape(-1, 28, 28), labels, "label")


HEADLINE = {
    "finance": ("german-credit (finance)", german),
    "medical": ("pima-indians-diabetes (medical)", pima),
    "adult": ("adult-census (finance, 32k rows)", adult),
    "text": ("sms-spam-collection (text)", sms),
    "vision": ("mnist-test 10k (vision)", mnist),
}


def print_table(title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """A rich table for the terminal, then the same rows as Markdown for the README."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console(width=240).print(table)
    print("\n" + " | ".join(columns).join(("| ", " |")))
    print("|" + " --- |" * len(columns))
    for row in rows:
        print(" | ".join(row).join(("| ", " |")))


def headline(names: list[str], budget: float) -> None:
    """The five headline datasets, one split each (seed 0; adult's own test file)."""
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            results.append((HEADLINE[name][0], evaluate_split(HEADLINE[name][1](), 0, budget, Path(tmp))))
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
    for title, r in results:
        best_name, best = max(r["baselines"].items(), key=lambda item: item[1])
        others = "; ".join(f"{k} {v:.4f}" for k, v in r["baselines"].items())
        completed, total = r["trials"]
        rows.append(
            (
                title,
                METRICS[r["task"]],
                f"{r['vautoml']:.4f}",
                best_name,
                others,
                f"{r['vautoml'] - best:+.4f}",
                f"{completed}/{total}",
                r["stop_reason"],
                f"{r['seconds']:.0f}",
            )
        )
    print_table(f"vautoml vs baselines: same rows, search budget {budget:g}s, 2 CPU cores", columns, rows)


def corpus(args: argparse.Namespace) -> None:
    """The corpus and the headline datasets on repeated splits: one row per dataset, then wins/ties/losses."""
    folder = SHARED / "corpus"
    cases = {name: partial(corpus_case, folder, spec) for name, spec in corpus_specs(folder).items()}
    cases.update({name: build for name, (_, build) in HEADLINE.items()})
    names = [n.strip() for n in args.only.split(",")] if args.only else list(cases)
    unknown = [n for n in names if n not in cases]
    if unknown:
        sys.exit(f"unknown dataset(s) {', '.join(unknown)}; choose from: {', '.join(cases)}")
    chosen = {name: cases[name] for name in names}
    records, failures = run_corpus(chosen, args.budget, args.results, args.resume, args.baselines_only, args.max_rows)
    columns = ["dataset", "task", "rows", "metric", "splits"]
    if args.baselines_only:
        columns += ["baselines (mean over splits)", "strongest", "RMSE (strongest)", "baseline seconds"]
    else:
        columns += ["vautoml", "strongest baseline", "margin", "SE", "split SD", "W/T/L", "avg rank", "RMSE (v / b)"]
        columns += ["trials", "seconds"]
    rows, outcomes, ranks = [], [], []
    for name in chosen:
        mine = [r for r in records if r["dataset"] == name]
        if not mine:
            continue
        s, first = summarise(mine), mine[0]
        row = [HEADLINE[name][0] if name in HEADLINE else name, first["task"], str(first["rows"])]
        row += [METRICS[first["task"]], str(s["splits"])]
        if args.baselines_only:
            seconds = np.mean([r["baseline_seconds"] for r in mine])
            rmse = f"{np.mean([r['rmse'][s['strongest']] for r in mine]):.4g}" if "rmse" in first else ""
            row += ["; ".join(f"{k} {v:.4f}" for k, v in s["means"].items()), s["strongest"], rmse, f"{seconds:.0f}"]
        else:
            outcomes.append(s["outcome"])
            ranks.append(s["rank"])
            sd = f"{s['sd']:.4f}" if s["sd"] is not None else ""
            rmse = " / ".join(f"{v:.4g}" for v in s["rmse"]) if "rmse" in s else ""
            row += [f"{s['vautoml']:.4f}", f"{s['strongest']} {s['baseline']:.4f}", f"{s['margin']:+.4f}"]
            row += [f"{s['se']:.4f}", sd, s["outcome"], f"{s['rank']:.2f}", rmse]
            row += [f"{s['trials'][0]}/{s['trials'][1]}", f"{s['seconds']:.0f}"]
        rows.append(tuple(row))
    what = "baselines only" if args.baselines_only else f"vautoml vs baselines, search budget {args.budget:g}s"
    print_table(f"Corpus quality: {what}, same rows, 2 CPU cores", tuple(columns), rows)
    if outcomes:
        wins, ties, losses = (outcomes.count(o) for o in "WTL")
        print(
            f"\nvautoml over {len(outcomes)} datasets: {wins} wins, {ties} ties, {losses} losses "
            f"(a tie is within one SE); mean rank {np.mean(ranks):.2f} (1 = best of vautoml and the baselines)"
        )
    for f in failures:
        print(f"failed: {f['dataset']} seed {f['seed']}: {f['error']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--budget", type=float, default=180.0, help="wall-clock budget of each vautoml search, seconds (default 180)"
    )
    parser.add_argument(
        "--only",
        help="comma-separated subset of: " + ", ".join(HEADLINE) + " (with --corpus also the corpus dataset names)",
    )
    parser.add_argument("--corpus", action="store_true", help="the corpus and headline datasets on repeated splits")
    parser.add_argument(
        "--results",
        type=Path,
        default=REPO / "benchmarks" / "results" / "quality-corpus.jsonl",
        help="--corpus: JSON-lines file each finished split is appended to (default benchmarks/results/...)",
    )
    parser.add_argument("--resume", action="store_true", help="--corpus: skip the splits already in --results")
    parser.add_argument("--baselines-only", action="store_true", help="--corpus: the baselines alone, no vautoml")
    parser.add_argument(
        "--max-rows", type=int, help="--corpus: subsample larger datasets to this many rows (default: all rows)"
    )
    args = parser.parse_args()
    if not SHARED.exists():
        sys.exit(f"shared data not found at {SHARED}; set VAUTOML_SHARED_DATA")
    if args.corpus:
        corpus(args)
    else:
        headline([n.strip() for n in (args.only or ",".join(HEADLINE)).split(",")], args.budget)


if __name__ == "__main__":
    main()
