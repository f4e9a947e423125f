"""The example third-party plugin in examples/ registers and really searches."""

from __future__ import annotations

import json
import sys

from helpers import REPO, only_run

from vertical_automl.pipeline import search
from vertical_automl.plugins import InstalledPlugins


def test_example_plugin_searches_and_exports(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "examples" / "vautoml-acme"))
    monkeypatch.delitem(sys.modules, "vautoml_acme", raising=False)
    import vautoml_acme

    plugins = InstalledPlugins({"VAUTOML_LOAD_PLUGINS": ""}, plugins=[("acme", vautoml_acme)])
    assert plugins.records["acme"].verticals == ["acme"]
    result = search("acme", plugins=plugins, max_trials=2, epochs=3, registry=tmp_path)
    assert only_run(tmp_path) == result.path
    trials = json.loads((result.path / "trials.json").read_text())
    assert {"depth", "width", "initializer", "optimizer", "dropout", "batch_norm"} <= set(trials[0]["hyperparameters"])
    assert result.report["test_metrics"]["accuracy"] > 0.3
