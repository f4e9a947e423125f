"""A loader added with ``register_data_loaders`` serves predict and evaluate as it served the search.

A plugin that teaches a table vertical a new format (here JSON rows) must not
leave users converting files by hand once the model is trained.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from throwaway_verticals.table import TINY_TABLE

from vertical_automl.pipeline import search
from vertical_automl.plugin_api import DataLoader, LoaderOption, hookimpl, labeled_table
from vertical_automl.plugins import InstalledPlugins
from vertical_automl.predictor import evaluate, load


def is_json_rows(path: Path) -> bool:
    return path.is_file() and path.suffix == ".json"


def load_json_rows(path, options, like=None):
    """A JSON list of {column: value} records, read as a table (the target as in training, or ``label``)."""
    frame = pd.DataFrame(json.loads(path.read_text())).astype(str)
    chosen = {"target_column": like.target if like is not None else options.get("target_column", "label")}
    description = {"format": "json rows", "header": True, "delimiter": ",", "encoding": "utf-8"}
    return labeled_table(frame, chosen, f"json {path}", description, allow_regression=False)


JSON_ROWS = DataLoader(
    "json-rows",
    "a JSON list of records",
    is_json_rows,
    load_json_rows,
    options=(LoaderOption("target_column", "NAME: the label field"),),
)


class TableWithJson:
    @hookimpl
    def register_verticals(self, register):
        register(TINY_TABLE)

    @hookimpl
    def register_data_loaders(self, register):
        register(JSON_ROWS, vertical="tiny-table")


def rows(n: int, seed: int) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    return [
        {"a": float(r[0]), "b": float(r[1]), "c": float(r[2]), "label": "yes" if r[0] + r[1] > 0 else "no"} for r in x
    ]


def test_predict_and_evaluate_read_a_file_with_the_loader_a_plugin_added(tmp_path):
    plugins = InstalledPlugins({"VAUTOML_LOAD_PLUGINS": ""}, plugins=[("with-json", TableWithJson())])
    train, test = tmp_path / "train.json", tmp_path / "test.json"
    train.write_text(json.dumps(rows(160, 0)))
    test.write_text(json.dumps(rows(60, 1)))
    result = search(
        "tiny-table", train, test_data=test, plugins=plugins, max_trials=1, epochs=3, registry=tmp_path / "r"
    )
    predictor = load(result.path, plugins=plugins)
    labels = predictor.predict(test)  # a .json path: no core reader knows it, the plugin's loader does
    assert len(labels) == 60 and set(labels) <= {"yes", "no"}
    frame = pd.DataFrame(rows(60, 1)).astype(str)
    assert labels == predictor.predict(frame)  # the same rows through the table kind's own reader
    evaluated = evaluate(result.path, test, plugins=plugins)
    assert json.dumps(evaluated["test_metrics"], sort_keys=True) == json.dumps(
        result.report["test_metrics"], sort_keys=True
    )
