"""Table loading and encoding: typing, missing values, targets, and every bad input named with its line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import shared_dataset

from vertical_automl import DataError
from vertical_automl.data.split import split_dataset, task_of
from vertical_automl.data.tabular import load_table, read_table_inputs

GOOD = (
    "age,income,region,outcome\n"
    + "\n".join(
        f"{20 + i % 40},{1000 + 37 * i},{'north' if i % 3 else 'south'},{'yes' if i % 4 == 0 else 'no'}"
        for i in range(60)
    )
    + "\n"
)


def write(tmp_path, text, name="data.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def load(path, allow_regression=True, **options):
    return load_table(path, options, None, allow_regression)


def test_csv_with_header_types_columns_and_picks_the_named_target(tmp_path):
    data = load(write(tmp_path, GOOD))
    assert data.target == "outcome" and data.class_names == ("no", "yes")
    kinds = {c.name: c.kind for c in data.encoder.columns}
    assert kinds == {"age": "numeric", "income": "numeric", "region": "categorical"}
    assert list(data.x.index[:2]) == [2, 3]  # file line numbers (line 1 is the header)


def test_target_by_position_and_no_header(tmp_path):
    body = GOOD.split("\n", 1)[1]
    data = load(write(tmp_path, body), header="false", target_column="-1")
    assert data.target == "column_4" and list(data.x.columns) == ["column_1", "column_2", "column_3"]
    assert load(write(tmp_path, body), header="false", target_column="3").target == "column_3"


def test_missing_target_column_names_the_columns(tmp_path):
    with pytest.raises(
        DataError,
        match=r"column 'label' \(--target-column\) is not in the table; its columns are age, income, region, outcome",
    ):
        load(write(tmp_path, GOOD), target_column="label")


def test_empty_target_cells_are_reported_by_line(tmp_path):
    text = GOOD.replace("\n21,1037,north,no\n", "\n21,1037,north,\n")
    with pytest.raises(DataError, match=r"target column 'outcome' .* is empty on line 3\b"):
        load(write(tmp_path, text))


def test_one_class_is_refused_before_any_training(tmp_path):
    text = GOOD.replace(",yes\n", ",no\n")
    with pytest.raises(DataError, match="only one class"):
        split_dataset(load(write(tmp_path, text)), "binary")


def test_missing_cells_are_imputed_with_training_medians_and_an_indicator(tmp_path):
    text = GOOD.replace("\n21,1037,", "\nNA,1037,").replace("\n22,1074,", "\n,1074,")
    data = load(write(tmp_path, text))
    train = data.subset(np.arange(40))
    encoder = train.encoder.fit(train.x)
    age = next(c for c in encoder.columns if c.name == "age")
    present = [float(v) for v in train.x["age"] if v not in ("", "NA")]
    assert age.indicator and age.fill == np.median(present)
    row = encoder.transform(data.x.iloc[[1]])[0]  # the NA row
    assert row[0] == age.fill and row[1] == 1.0
    assert "age (missing)" in encoder.feature_names()


def test_declared_sentinels_mean_missing_only_where_declared(tmp_path):
    text = (
        "glucose,pregnancies,outcome\n"
        + "\n".join(f"{0 if i % 5 == 0 else 100 + i},{i % 3},{i % 2}" for i in range(40))
        + "\n"
    )
    data = load(write(tmp_path, text), missing_values="glucose=0")
    encoder = data.encoder.fit(data.x)
    glucose, pregnancies = encoder.columns
    assert glucose.missing_values == ("0",) and glucose.indicator and glucose.fill > 100
    assert pregnancies.missing_values == () and not pregnancies.indicator  # zero pregnancies stay a value
    assert load(write(tmp_path, text), missing_values="0").encoder.columns[1].missing_values == ("0",)


def test_unseen_category_at_predict_time_takes_the_other_slot(tmp_path):
    data = load(write(tmp_path, GOOD))
    encoder = data.encoder.fit(data.x)
    new = pd.DataFrame({"age": ["30"], "income": ["2000"], "region": ["atlantis"]})
    encoded = encoder.transform(new)[0]
    names = encoder.feature_names()
    assert encoded[names.index("region=(other)")] == 1.0 and encoded[names.index("region=north")] == 0.0
    assert encoder.spec()["columns"][2]["categories"] == ["north", "south"]


def test_json_records_encode_as_the_same_rows_of_a_csv_would(tmp_path):
    """A category coded as a number keeps its text when another record lacks it (pandas would make 1 into 1.0)."""
    text = "age,grade,outcome\n" + "\n".join(f"{20 + i % 40},{1 + i % 3},{'yes' if i % 4 else 'no'}" for i in range(60))
    data = load(write(tmp_path, text + "\n"), categorical="grade")
    encoder = data.encoder.fit(data.x)
    records = [{"age": 31, "grade": 2}, {"age": 40, "grade": None}, {"grade": 1}]
    from_csv = read_table_inputs(write(tmp_path, "age,grade\n31,2\n40,\n,1\n", "new.csv"), encoder.spec()).x
    from_records = read_table_inputs(records, encoder.spec()).x
    np.testing.assert_array_equal(encoder.transform(from_records), encoder.transform(from_csv))
    names = encoder.feature_names()
    assert encoder.transform(from_records)[0][names.index("grade=2")] == 1.0


def test_infinite_and_non_numeric_cells_are_reported_with_the_fix(tmp_path):
    with pytest.raises(DataError, match=r"column 'income' .* is infinite on line 5\b.*--missing-values income=inf"):
        load(write(tmp_path, GOOD.replace("\n23,1111,", "\n23,inf,")))
    with pytest.raises(DataError, match=r"column 'income' .* holds numbers except on line 5 \(e.g. '11x1'\)"):
        load(write(tmp_path, GOOD.replace("\n23,1111,", "\n23,11x1,")))


def test_undecodable_bytes_name_the_line_and_the_encoding_option(tmp_path):
    raw = GOOD.encode().replace(b"\n22,1074,north", b"\n22,1074,n\xf6rth")
    with pytest.raises(DataError, match=r"line 4 is not valid utf-8 .*-O encoding=latin-1"):
        load(write(tmp_path, raw))
    assert "nörth" in set(load(write(tmp_path, raw), encoding="latin-1").x["region"])


def test_numeric_target_with_many_values_is_a_regression_unless_told(tmp_path):
    data = load(write(tmp_path, GOOD), target_column="income")
    assert data.is_regression and task_of(data) == "regression" and data.y.dtype == np.float32
    with pytest.raises(DataError, match="does not do regression"):
        load(write(tmp_path, GOOD), allow_regression=False, target_column="income", task="regression")
    with pytest.raises(DataError, match="continuous target, but this vertical only classifies"):
        load(write(tmp_path, GOOD), allow_regression=False, target_column="income")
    assert (
        len(
            load(
                write(tmp_path, GOOD), allow_regression=False, target_column="income", task="classification"
            ).class_names
        )
        == 60
    )


def test_parquet_reads_like_csv(tmp_path):
    frame = pd.read_csv(write(tmp_path, GOOD))
    frame.loc[3, "income"] = None
    frame.to_parquet(tmp_path / "data.parquet")
    data = load(tmp_path / "data.parquet")
    assert data.class_names == ("no", "yes") and data.x.index.name == "row"
    assert data.encoder.fit(data.x).columns[1].indicator


def test_test_table_must_have_the_training_target(tmp_path):
    train = load(write(tmp_path, GOOD))
    with pytest.raises(DataError, match="has no target column 'outcome'"):
        load_table(write(tmp_path, GOOD.replace("outcome", "result"), "test.csv"), {}, train, True)
    test = load_table(write(tmp_path, GOOD, "test.csv"), {}, train, True)
    assert test.encoder is train.encoder and list(test.x.columns) == ["age", "income", "region"]


def test_german_credit_reads_without_header(tmp_path):
    path = shared_dataset("german-credit") / "german.csv"
    data = load(path, header="false")
    assert data.target == "column_21" and data.class_counts() == {"1": 700, "2": 300}
    kinds = [c.kind for c in data.encoder.columns]
    assert kinds.count("numeric") == 7 and kinds.count("categorical") == 13
    dataset = split_dataset(data, "binary", seed=0)
    assert dataset.train.x.dtype == np.float32 and dataset.info.input_shape == (dataset.train.x.shape[1],)
    assert len(dataset.info.statistics["mean"]) == dataset.train.x.shape[1]


def test_positive_class_option_reorders_two_classes(tmp_path):
    from vertical_automl import UsageError
    from vertical_automl.pipeline.inputs import with_positive_class as _with_positive_class

    data = load(write(tmp_path, GOOD))
    reordered, _ = _with_positive_class(data, None, "no")
    assert reordered.class_names == ("yes", "no") and (reordered.y == 1 - data.y).all()
    with pytest.raises(UsageError, match="positive_class 'maybe' is not one of the classes no, yes"):
        _with_positive_class(data, None, "maybe")


def test_number_coded_columns_can_be_declared_categorical(tmp_path):
    data = load(write(tmp_path, GOOD), categorical="age")
    assert {c.name: c.kind for c in data.encoder.columns}["age"] == "categorical"
    with pytest.raises(DataError, match=r"unknown data option\(s\) numeric"):
        load(write(tmp_path, GOOD), numeric="age")
