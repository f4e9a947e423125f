"""Bundles written by commit 334a048 still list, show, predict, evaluate and export, with the same results.

The golden bundles (tests/golden/README.md) were made by the built-in verticals
of that day; what 334a048 printed for them is in tests/golden/expected/.
``evaluate`` reads labelled data through the run's vertical's loaders, so it
needs the built-in plugins installed (the README's install command has them).
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import invoke_vautoml, run_vautoml

GOLDEN = Path(__file__).parent / "golden"
EXPECTED = GOLDEN / "expected"
INPUTS = {
    "golden-table-binary": "loans.csv",
    "golden-table-regression": "prices.csv",
    "golden-text": "tickets.csv",
    "golden-image": "digits.npz",
}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the golden registry: commands that write (export) must not change the repository's files."""
    copy = tmp_path_factory.mktemp("golden") / "registry"
    shutil.copytree(GOLDEN / "registry", copy)
    return copy


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_list_gives_what_334a048_gave(registry):
    done = run_vautoml("registry", "list", "--json", "--registry", str(registry))
    assert done.returncode == 0, done.stderr
    expected = json.loads((EXPECTED / "list.json").read_text())
    for row in [*expected, *(listed := json.loads(done.stdout))]:
        row.pop("path")  # the registry's own location
    assert listed == expected


def _fields(table: str) -> list[tuple[str, str]]:
    """The (field, value) rows of a ``registry show`` table, wrapped lines joined, without the run's location."""
    found: list[list[str]] = []
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("│").split("│")]
        if len(cells) != 2:
            continue
        if cells[0]:
            found.append([cells[0], cells[1]])
        elif found:
            found[-1][1] += " " + cells[1]
    return [(field, value) for field, value in found if field not in ("folder", "report")]


@pytest.mark.parametrize("run", INPUTS)
def test_show_gives_what_334a048_gave(registry, run):
    done = run_vautoml("registry", "show", run, "--registry", str(registry))
    assert done.returncode == 0, done.stderr
    expected = _fields((EXPECTED / f"{run}.show.txt").read_text(encoding="utf-8"))
    assert expected and _fields(done.stdout) == expected


@pytest.mark.parametrize("run", INPUTS)
def test_predict_gives_what_334a048_gave(registry, run, tmp_path):
    output = tmp_path / "predictions.csv"
    done = invoke_vautoml(
        "predict", "--model", run, "--data", str(GOLDEN / "inputs" / INPUTS[run]), "--output", str(output),
        "--registry", str(registry),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    got, expected = rows(output), rows(EXPECTED / f"{run}.predict.csv")
    assert [list(row) for row in got] == [list(row) for row in expected]  # same columns
    for mine, theirs in zip(got, expected, strict=True):
        assert mine["input"] == theirs["input"]
        if "label" in theirs:
            assert mine["label"] == theirs["label"]
        numbers = [key for key in theirs if key.startswith(("probability_", "prediction"))]
        assert np.allclose([float(mine[k]) for k in numbers], [float(theirs[k]) for k in numbers], atol=2e-6)


@pytest.mark.parametrize("run", [run for run in INPUTS if run != "golden-image"])
def test_evaluate_gives_what_334a048_gave(registry, run, tmp_path):
    output = tmp_path / "evaluation.json"
    done = invoke_vautoml(
        "evaluate", "--model", run, "--data", str(GOLDEN / "inputs" / INPUTS[run]), "--output", str(output),
        "--registry", str(registry),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    got, expected = json.loads(output.read_text()), json.loads((EXPECTED / f"{run}.evaluate.json").read_text())
    assert got.pop("data").split()[-1].endswith(INPUTS[run]) and expected.pop("data")
    assert got.keys() == expected.keys()
    assert got["examples"] == expected["examples"] and got["task"] == expected["task"]
    assert got["decision_threshold"] == expected["decision_threshold"]
    assert got["sections"].keys() == expected["sections"].keys()
    assert _close(got["test_metrics"], expected["test_metrics"])


def _close(got: object, expected: object) -> bool:
    """Equal structure, numbers within float noise (the same model on the same rows)."""
    if isinstance(expected, dict):
        return (
            isinstance(got, dict)
            and got.keys() == expected.keys()
            and all(_close(got[k], v) for k, v in expected.items())
        )
    if isinstance(expected, list):
        return isinstance(got, list) and len(got) == len(expected) and all(map(_close, got, expected))
    if isinstance(expected, float):
        return isinstance(got, (int, float)) and bool(np.isclose(got, expected, atol=1e-6, equal_nan=True))
    return got == expected


def test_export_adds_to_an_old_manifest(registry):
    done = invoke_vautoml("export", "golden-image", "--format", "onnx", "--registry", str(registry))
    assert done.returncode == 0, done.stderr
    manifest = json.loads((registry / "vision" / "golden-image" / "manifest.json").read_text())
    assert manifest["exports"]["onnx"]["max_abs_difference"] < 1e-4
    assert manifest["files"][-1] == "model.onnx"
    before = json.loads((GOLDEN / "registry" / "vision" / "golden-image" / "manifest.json").read_text())
    assert manifest["files"][:-1] == before["files"]
    assert {k: v for k, v in manifest.items() if k not in ("files", "exports")} == {
        k: v for k, v in before.items() if k != "files"
    }
