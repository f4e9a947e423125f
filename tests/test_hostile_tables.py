"""Hostile inputs a tester found (issue 12): read alike by vautoml and the model card, or refused in one line.

Searches here are real but tiny (one trial, one epoch) on small generated files.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from helpers import invoke_vautoml, only_run, run_model_card, vautoml_predictions

TINY = ["--max-trials", "1", "--epochs", "1", "--seed", "0", "--quiet"]


def table_lines(rows: int = 80, delimiter: str = ",", decimal: str = ".", seed: int = 0) -> list[str]:
    """Header and rows of a small table: two numeric columns, one categorical, a yes/no outcome that depends on them."""
    rng = random.Random(seed)
    lines = [delimiter.join(["age", "ratio", "region", "outcome"])]
    for i in range(rows):
        age, ratio = 20 + i % 40, round(rng.uniform(0, 3), 2)
        outcome = "yes" if age / 20 + ratio + rng.random() > 3.5 else "no"
        cells = [str(age), str(ratio).replace(".", decimal), "north" if i % 3 else "south", outcome]
        lines.append(delimiter.join(cells))
    return lines


def write(path, lines: list[str], prefix: str = "") -> None:
    path.write_text(prefix + "\n".join(lines) + "\n", encoding="utf-8")


def search(data, registry, *options: str):
    return invoke_vautoml(
        "search",
        "--plugin",
        "tiny-table",
        "--data",
        str(data),
        *options,
        *TINY,
        "--registry",
        str(registry),
    )


def predict(run, data, workdir):
    output = workdir / "predictions.csv"
    return invoke_vautoml("predict", "--model", str(run), "--data", str(data), "--output", str(output))


def assert_one_error_line(done, *parts: str, code: int = 2) -> str:
    """The CLI's contract for a user error: the exit code, and stderr is exactly one 'Error: ... Fix: ...' line."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == code, done.stderr
    assert len(lines) == 1 and lines[0].startswith("Error: ") and ". Fix: " in lines[0], done.stderr
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


def assert_no_run(registry) -> None:
    assert not [p for p in registry.glob("*/*") if p.is_dir()], list(registry.glob("*/*"))


def card_agrees_with_predict(run, new_rows, workdir) -> np.ndarray:
    """The model card's code (no vautoml) and ``vautoml predict`` on the same file: same probabilities and labels."""
    rows = {"new_rows.csv": new_rows.read_text(encoding="utf-8")}
    out = run_model_card(run, workdir, files=rows, result='{"p": p.tolist(), "labels": labels}')
    labels, probabilities = vautoml_predictions(run, new_rows, workdir)
    assert np.allclose(probabilities[:, 1], out["p"], atol=1e-5) and labels == out["labels"]
    return probabilities


# (4) -O positive_class on every kind of data: images, texts and tables.


def _image_data(tmp_path):
    rng = np.random.default_rng(0)
    y = np.array(["cat", "dog"] * 20)
    x = (rng.integers(0, 100, (40, 8, 8)) + (y == "dog")[:, None, None] * 120).astype(np.uint8)
    np.savez(tmp_path / "pets.npz", x=x, y=y)
    return tmp_path / "pets.npz", "cat"


def _text_data(tmp_path):
    rng = random.Random(0)
    words = {"ham": "lunch see you later home call me".split(), "spam": "win prize cash free call now claim".split()}
    texts = [f"{label}\t{' '.join(rng.choices(words[label], k=6))}" for label in ["ham", "spam"] * 30]
    lines = ["label\tmessage", *texts]
    write(tmp_path / "messages.tsv", lines)
    return tmp_path / "messages.tsv", "ham"


def _loans_data(tmp_path):
    write(tmp_path / "loans.csv", table_lines())
    return tmp_path / "loans.csv", "no"


def _patients_data(tmp_path):
    lines = [line.replace(",yes", ",malignant").replace(",no", ",benign") for line in table_lines()]
    write(tmp_path / "patients.csv", lines)
    return tmp_path / "patients.csv", "benign"


VERTICAL_DATA = [
    ("tiny-image", _image_data),
    ("tiny-text", _text_data),
    ("tiny-table", _loans_data),
    ("tiny-table", _patients_data),
]


@pytest.mark.parametrize("plugin, make_data", VERTICAL_DATA, ids=[make.__name__[1:] for _, make in VERTICAL_DATA])
def test_positive_class_works_on_every_kind_of_data(tmp_path, plugin, make_data):
    data, positive = make_data(tmp_path)  # the class that sorts first, so the classes really are re-ordered
    registry = tmp_path / "registry"
    option = f"positive_class={positive}"
    done = invoke_vautoml(
        "search",
        "--plugin",
        plugin,
        "--data",
        str(data),
        "-O",
        option,
        *TINY,
        "--registry",
        str(registry),
    )
    assert done.returncode == 0, done.stderr
    prep = json.loads((only_run(registry) / "preprocessing.json").read_text())
    assert prep["output"]["positive_class"] == positive and prep["class_names"][1] == positive


# (6) Duplicate column names are refused; a byte-order mark is read the same way by both paths.


@pytest.fixture(scope="module")
def bom_run(tmp_path_factory):
    """One tiny table run trained on a UTF-8 file with a byte-order mark and spaces after the header's commas."""
    work = tmp_path_factory.mktemp("bom")
    lines = table_lines()
    lines[0] = "age, ratio, region, outcome"
    write(work / "train.csv", lines, prefix="\ufeff")
    registry = work / "registry"
    done = search(work / "train.csv", registry)
    assert done.returncode == 0, done.stderr
    return only_run(registry)


def test_a_byte_order_mark_is_read_the_same_by_the_model_card_and_predict(bom_run, tmp_path):
    prep = json.loads((bom_run / "preprocessing.json").read_text())
    assert [c["name"] for c in prep["input"]["columns"]] == ["age", "ratio", "region"]
    assert prep["input"]["encoding"] == "utf-8"
    new_rows = tmp_path / "new_rows.csv"
    lines = table_lines(rows=30, seed=1)
    lines[0] = "age, ratio, region, outcome"
    write(new_rows, lines, prefix="\ufeff")
    probabilities = card_agrees_with_predict(bom_run, new_rows, tmp_path)
    assert probabilities[:, 1].std() > 0  # the age column was read (not all missing): rows differ


def test_duplicate_column_names_are_refused_by_search_and_predict(bom_run, tmp_path):
    lines = table_lines()
    lines[0] = "age,ratio,age,outcome"
    write(tmp_path / "dup.csv", lines)
    registry = tmp_path / "registry"
    done = search(tmp_path / "dup.csv", registry)
    assert_one_error_line(done, "duplicate column names: age", "Fix: rename the columns")
    assert_no_run(registry)
    assert_one_error_line(predict(bom_run, tmp_path / "dup.csv", tmp_path), "duplicate column names: age")
    assert not (tmp_path / "predictions.csv").exists()


def test_a_column_without_a_name_is_refused(tmp_path):
    lines = table_lines()
    lines[0] = ",ratio,region,outcome"  # e.g. a saved pandas index: csv.DictReader and pandas would name it differently
    write(tmp_path / "unnamed.csv", lines)
    registry = tmp_path / "registry"
    assert_one_error_line(search(tmp_path / "unnamed.csv", registry), "without a name in its header line (position 1)")
    assert_no_run(registry)


# (10b) Decimal commas: refused unless -O decimal=, says so; then read alike by search, predict and the model card.


def test_decimal_commas_without_the_option_are_refused_naming_the_column(tmp_path):
    write(tmp_path / "semi.txt", table_lines(delimiter=";", decimal=","))  # .txt: the delimiter is sniffed
    registry = tmp_path / "registry"
    done = search(tmp_path / "semi.txt", registry)
    line = assert_one_error_line(
        done,
        "column(s) 'ratio'",
        "look like numbers with decimal commas (e.g. '",
        "-O decimal=,",
        "-O categorical=ratio",
    )
    assert "'age'" not in line and "'region'" not in line
    assert_no_run(registry)


def test_decimal_option_is_recorded_and_applied_by_predict_and_the_model_card(tmp_path):
    write(tmp_path / "semi.csv", table_lines(delimiter=";", decimal=","))
    registry = tmp_path / "registry"
    done = search(tmp_path / "semi.csv", registry, "-O", "delimiter=;", "-O", "decimal=,")
    assert done.returncode == 0, done.stderr
    run = only_run(registry)
    spec = json.loads((run / "preprocessing.json").read_text())["input"]
    assert spec["decimal"] == "," and spec["delimiter"] == ";"
    kinds = {c["name"]: c["type"] for c in spec["columns"]}
    assert kinds == {"age": "numeric", "ratio": "numeric", "region": "categorical"}
    ratio = next(c for c in spec["columns"] if c["name"] == "ratio")
    assert 0 < ratio["fill"] < 3  # the median of numbers such as 1,5, not a category
    write(tmp_path / "new_rows.csv", table_lines(rows=30, delimiter=";", decimal=",", seed=2))
    card_agrees_with_predict(run, tmp_path / "new_rows.csv", tmp_path)


def test_a_decimal_option_other_than_point_or_comma_is_refused(tmp_path):
    write(tmp_path / "data.csv", table_lines())
    registry = tmp_path / "registry"
    done = search(tmp_path / "data.csv", registry, "-O", "decimal=;")
    assert_one_error_line(done, "option decimal=';' is not a decimal mark", "-O decimal=,")
    assert_no_run(registry)


# (10e) Hints that point the right way.


def test_an_empty_csv_says_it_is_empty(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    registry = tmp_path / "registry"
    line = assert_one_error_line(search(tmp_path / "empty.csv", registry), "empty.csv' is empty")
    assert "delimiter" not in line
    assert_no_run(registry)


@pytest.mark.parametrize("delimiter, option", [(";", "-O delimiter=';'"), ("\t", "-O delimiter=tab")])
def test_a_csv_split_by_another_delimiter_says_which_option_to_pass(tmp_path, delimiter, option):
    write(tmp_path / "other.csv", table_lines(delimiter=delimiter))
    registry = tmp_path / "registry"
    done = search(tmp_path / "other.csv", registry)
    assert_one_error_line(done, "reads as one column with the delimiter ','", f"Fix: pass {option}")
    assert_no_run(registry)


def test_a_non_number_at_prediction_time_says_to_repair_the_cells_not_to_use_a_search_flag(bom_run, tmp_path):
    lines = table_lines(rows=10)
    lines[3] = lines[3].replace(lines[3].split(",")[0], "forty", 1)
    write(tmp_path / "rows.csv", lines)
    done = predict(bom_run, tmp_path / "rows.csv", tmp_path)
    line = assert_one_error_line(
        done,
        "column 'age' is not a finite number on line 4 (e.g. 'forty')",
        "Fix: repair those cells",
        "preprocessing.json",
    )
    assert "--missing-values" not in line
