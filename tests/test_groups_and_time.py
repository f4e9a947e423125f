"""Splits that keep groups whole and follow time: no group in two splits, the latest records held out, errors."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from helpers import invoke_vautoml, only_run, shared_dataset
from sklearn.model_selection import train_test_split

from vertical_automl import DataError
from vertical_automl.data.dataset import LabeledData
from vertical_automl.data.split import split_dataset
from vertical_automl.data.tabular import load_table
from vertical_automl.records import Report

SPLITS = ("train", "validation", "test")


def records(n: int = 240, groups: int = 30, seed: int = 0, regression: bool = False) -> LabeledData:
    """``n`` records of ``groups`` customers, each with a time; the label depends on the features."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    y = (rng.normal(size=n) + x[:, 0]).astype("float32") if regression else (x[:, 0] > 0).astype(int)
    return LabeledData(
        x, y, () if regression else ("no", "yes"), {"kind": "arrays"}, "synthetic records",
        groups=np.array([f"c{i % groups}" for i in range(n)], dtype=object),
        order=rng.permutation(n).astype(float),
        split_by={"group": "customer", "order": "date"},
    )  # fmt: skip


def groups_of(dataset, split: str) -> set[str]:
    return set(getattr(dataset, split).groups.tolist())


@pytest.mark.parametrize("regression", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_no_group_is_in_two_splits(seed, regression):
    data = replace(records(seed=seed, regression=regression), order=None)
    dataset = split_dataset(data, "regression" if regression else "binary", seed=seed)
    train, validation, test = (groups_of(dataset, s) for s in SPLITS)
    assert not (train & validation) and not (train & test) and not (validation & test)
    assert len(train | validation | test) == 30 and sum(len(getattr(dataset, s)) for s in SPLITS) == 240
    split = dataset.summary()["split"]
    assert split["strategy"] == ("random groups" if regression else "stratified groups")
    assert split["group"] == "customer" and split["groups"] == {s: len(groups_of(dataset, s)) for s in SPLITS}
    way = "20% of groups by 'customer'" if regression else "stratified 20% in whole groups by 'customer'"
    assert dataset.test.source == f"{way} held out of synthetic records"


def test_the_latest_records_are_held_out():
    data = replace(records(), groups=None)
    dataset = split_dataset(data, "binary", seed=3)
    assert dataset.train.order.max() <= dataset.validation.order.min() <= dataset.validation.order.max()
    assert dataset.validation.order.max() <= dataset.test.order.min()
    assert (len(dataset.train), len(dataset.validation), len(dataset.test)) == (153, 39, 48)
    assert dataset.test.source == "latest 20% by 'date' held out of synthetic records"
    assert dataset.summary()["split"] == {"strategy": "time", "test": "held out", "order": "date"}


def starts(split: LabeledData) -> pd.Series:
    """Each group's time: its first record's."""
    return pd.DataFrame({"g": split.groups, "t": split.order}).groupby("g")["t"].min()


def test_time_with_groups_places_whole_groups_by_their_first_record():
    dataset = split_dataset(records(), "binary", seed=0)
    train, validation, test = (groups_of(dataset, s) for s in SPLITS)
    assert not (train & validation) and not (train & test) and not (validation & test)
    assert starts(dataset.train).max() <= starts(dataset.validation).min()
    assert starts(dataset.validation).max() <= starts(dataset.test).min()
    assert len(dataset.test) >= 48  # whole groups until at least 20% of the records
    assert dataset.summary()["split"]["strategy"] == "time, whole groups"


def test_same_seed_same_split_and_plain_data_splits_as_before():
    data = replace(records(), order=None)
    first, again = split_dataset(data, "binary", seed=5), split_dataset(data, "binary", seed=5)
    other = split_dataset(data, "binary", seed=6)
    for split in SPLITS:
        assert np.array_equal(getattr(first, split).x, getattr(again, split).x)
    assert groups_of(first, "test") != groups_of(other, "test")
    # Without groups or order: exactly the indices train_test_split gave before groups existed.
    plain = replace(data, groups=None, split_by={})
    dataset = split_dataset(plain, "binary", seed=5)
    rest, test = train_test_split(np.arange(240), test_size=0.2, stratify=plain.y, random_state=5)
    train, _ = train_test_split(rest, test_size=0.2, stratify=plain.y[rest], random_state=5)
    assert np.array_equal(dataset.test.x, plain.x[test]) and np.array_equal(dataset.train.x, plain.x[train])
    assert dataset.summary()["split"] == {"strategy": "stratified", "test": "held out"}
    assert plain.fingerprint() == replace(plain, split_by={"group": "x"}).fingerprint() != data.fingerprint()


def test_test_data_given_groups_and_order_make_the_validation_split():
    data, test = records(), replace(records(n=40, seed=9), groups=None, order=None)
    dataset = split_dataset(data, "binary", test_data=test, seed=0)
    assert dataset.test is test and not (groups_of(dataset, "train") & groups_of(dataset, "validation"))
    assert starts(dataset.train).max() <= starts(dataset.validation).min()
    split = dataset.summary()["split"]
    assert split["test"] == "given" and set(split["groups"]) == {"train", "validation"}
    assert "made the validation split" in Report("r", "v", "binary", {}, dataset=dataset.summary()).split.text()


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: replace(d, groups=np.array(["a", "b"] * 120, dtype=object), order=None), "fewer than the 3 splits"),
        (lambda d: replace(d, groups=d.groups[:-1]), "has 240 records but 239 groups values"),
        (lambda d: replace(d, order=np.r_[d.order[:-1], np.nan]), r"order \('date'\) .* missing \(NaN\) for 1"),
        (
            lambda d: replace(d, order=np.array(["2024-01-01"] * 239 + [None], dtype="datetime64[ns]")),
            "missing",
        ),
        (lambda d: replace(d, order=np.array(["soon"] * 240, dtype=object)), "neither numbers nor datetimes"),
        (lambda d: replace(d, groups=np.array([None] + ["a", "b", "c"] * 80)[:240]), "missing"),
    ],
)
def test_bad_groups_and_order_are_one_line_errors(change, message):
    with pytest.raises(DataError, match=message) as error:
        split_dataset(change(records()), "binary")
    assert "\n" not in str(error.value) and "Fix:" in str(error.value)


def test_a_split_without_some_class_names_the_class_and_the_split():
    data = replace(records(), order=None)
    y = data.y.copy()
    y[:] = 0
    y[data.groups == "c3"] = 1  # every 'yes' in one customer: only one split can hold them
    with pytest.raises(DataError, match=r"the (train|validation|test) split holds no example of class 'yes'"):
        split_dataset(replace(data, y=y), "binary")
    late = replace(records(), groups=None)
    y = np.where(late.order < 150, 1, 0)  # 'yes' only early: the latest records have none
    with pytest.raises(DataError, match="the test split holds no example of class 'yes'"):
        split_dataset(replace(late, y=y), "binary")
    with pytest.raises(DataError, match="needs at least 5"):  # 4 groups cannot make 5 stratified folds
        split_dataset(replace(data, groups=np.array([f"c{i % 4}" for i in range(240)], dtype=object)), "binary")


def table(tmp_path, rows: int = 120, customers: int = 24):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "customer": [f"cust-{i % customers}" for i in range(rows)],
            "date": pd.date_range("2023-01-01", periods=rows, freq="D").strftime("%Y-%m-%d"),
            "amount": rng.normal(100, 20, rows).round(2),
            "kind": rng.choice(["card", "cash"], rows),
        }
    )
    frame["label"] = np.where(frame["amount"] > 100, "late", "paid")
    path = tmp_path / "loans.csv"
    frame.to_csv(path, index=False)
    return path, frame


def test_table_group_and_order_columns_leave_the_features(tmp_path):
    path, _ = table(tmp_path)
    data = load_table(path, {"group": "customer", "order": "date"}, None, allow_regression=True)
    assert list(data.x.columns) == ["amount", "kind"]
    assert data.split_by == {"group": "customer", "order": "date"} and data.order.dtype.kind == "M"
    assert data.groups[0] == "cust-0" and data.encoder.description["split_by"] == data.split_by
    dataset = split_dataset(data, "binary", seed=0)
    assert dataset.test.source.startswith("latest 20% by 'date' (whole groups by 'customer', each at its first")
    numbered = load_table(path, {"order": "3"}, None, allow_regression=True)  # by position: amount, as numbers
    assert numbered.order.dtype == np.float64 and "amount" not in numbered.x.columns
    assert "split_by" not in load_table(path, {}, None, allow_regression=True).encoder.description


@pytest.mark.parametrize(
    "edit, options, message",
    [
        ({}, {"group": "label"}, "column 'label' is both the target and -O group"),
        ({}, {"order": "amount", "ignore": "amount"}, "column 'amount' is both ignored and -O order"),
        ({"customer": (4, "")}, {"group": "customer"}, "group column 'customer' .* missing on line 6"),
        ({"date": (2, "03/04/2023")}, {"order": "date"}, r"order column 'date' .* on line 4 \(e.g. '03/04/2023'\)"),
        ({"date": (7, "")}, {"order": "date"}, "order column 'date' .* on line 9"),
        ({}, {"order": "kind"}, "order column 'kind' .* not a number or an ISO 8601"),
    ],
)
def test_table_split_column_errors_name_the_column_and_the_lines(tmp_path, edit, options, message):
    path, frame = table(tmp_path)
    for column, (row, value) in edit.items():
        frame.loc[row, column] = value
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=message):
        load_table(path, options, None, allow_regression=True)


def test_real_table_split_by_age_holds_out_the_oldest(tmp_path):
    """Pima diabetes (768 rows, no header) with column 8 (Age) as the order: ties and integers, real data."""
    path = shared_dataset("pima-indians-diabetes") / "pima-indians-diabetes.csv"
    data = load_table(path, {"header": "false", "order": "8"}, None, allow_regression=False)
    dataset = split_dataset(data, "binary", seed=0)
    assert dataset.train.order.max() <= dataset.validation.order.min()
    assert dataset.validation.order.max() <= dataset.test.order.min() and len(dataset.test) == 154
    assert "column_8" not in data.x.columns and len(data.x.columns) == 7


def test_search_from_the_cli_with_group_and_order(tmp_path):
    path, _ = table(tmp_path, rows=160, customers=32)
    registry = tmp_path / "registry"
    done = invoke_vautoml(
        "search", "--plugin", "tiny-table", "--data", str(path), "-O", "group=customer", "-O", "order=date",
        "--max-trials", "1", "--epochs", "2", "--seed", "0", "--registry", str(registry),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "split by time: the latest records by 'date' held out, in whole groups by 'customer'" in done.stderr
    run = only_run(registry)
    report = json.loads((run / "report.json").read_text())
    split = report["dataset"]["split"]
    assert split["strategy"] == "time, whole groups" and split["group"] == "customer" and split["order"] == "date"
    assert sum(split["groups"].values()) == 32
    assert report["dataset"]["test_source"].startswith("latest 20% by 'date'")
    assert "Split: by time: the latest records by" in (run / "model_card.md").read_text()
    assert "whole groups by" in (run / "report.md").read_text()
    assert "customer" not in json.loads((run / "preprocessing.json").read_text())["input"]["features"]
    new_rows = tmp_path / "new.csv"  # the split's columns are not inputs: predicting needs neither
    pd.read_csv(path).drop(columns=["customer", "date", "label"]).head(5).to_csv(new_rows, index=False)
    output = tmp_path / "predictions.csv"
    done = invoke_vautoml(
        "predict", "--model", run.name, "--data", str(new_rows), "--output", str(output), "--registry", str(registry)
    )
    assert done.returncode == 0, done.stderr
    assert len(pd.read_csv(output)) == 5


def test_text_tables_take_group_and_order_too(tmp_path):
    from vertical_automl.data.text import load_text_table

    words = ["refund please", "love it", "broken again", "works great", "never arrived", "five stars"]
    lines = ["sender,sent,message,label"] + [
        f"user{i % 12},{1000 + i},{words[i % 6]} {i},{'bad' if i % 2 == 0 else 'good'}" for i in range(96)
    ]
    path = tmp_path / "messages.csv"
    path.write_text("\n".join(lines) + "\n")
    data = load_text_table(path, {"text_column": "message", "group": "sender", "order": "sent"})
    assert data.split_by == {"group": "sender", "order": "sent"} and data.order[0] == 1000.0
    dataset = split_dataset(data, "binary", seed=0)
    assert not groups_of(dataset, "train") & groups_of(dataset, "test")
    with pytest.raises(DataError, match="column 'message' is both the text and -O group"):
        load_text_table(path, {"text_column": "message", "group": "message"})
