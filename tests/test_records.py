"""The typed records read and write the JSON files earlier versions wrote, unchanged.

Golden files are bundles and a run folder written by commit 334a048 (tests/golden/README.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vertical_automl.records import Decision, ExportRecord, Manifest, Report, RunRequest
from vertical_automl.settings import SearchSettings

GOLDEN = Path(__file__).parent / "golden" / "registry"
BUNDLES = sorted(p for p in GOLDEN.glob("*/*") if p.parent.name != ".runs")


def read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_there_are_golden_bundles_of_every_input_kind():
    kinds = {read(bundle / "preprocessing.json")["input"]["kind"] for bundle in BUNDLES}
    assert kinds == {"table", "text", "image"}
    assert {read(bundle / "report.json")["task"] for bundle in BUNDLES} == {"binary", "multiclass", "regression"}


@pytest.mark.parametrize("bundle", BUNDLES, ids=lambda p: p.name)
def test_report_and_manifest_round_trip_unchanged(bundle):
    for name, record in (("report.json", Report), ("manifest.json", Manifest)):
        text = (bundle / name).read_text(encoding="utf-8")
        again = record.from_json(json.loads(text)).to_json()
        assert json.dumps(again, indent=2) + "\n" == text  # same keys, same order, same values


def test_report_fields_are_typed():
    report = Report.from_json(read(GOLDEN / "medical" / "golden-table-binary" / "report.json"))
    assert isinstance(report.decision_threshold, Decision)
    assert 0.0 < report.decision_threshold.threshold < 1.0
    assert report.search.completed_trials == report.search.total_trials == 2
    assert report.model.ensemble[0].trial == report.search.best_trial
    assert report.headline() == ("ROC-AUC", report.test_metrics["binary"]["roc_auc"])
    regression = Report.from_json(read(GOLDEN / "finance" / "golden-table-regression" / "report.json"))
    assert regression.decision_threshold is None
    assert regression.headline() == ("MAE", regression.test_metrics["mae"])


def test_an_old_minimal_report_reads_with_defaults():
    """A report without the later fields (stop reason, phases, ensemble score) still reads."""
    report = Report.from_json({"run_id": "r", "vertical": "v", "task": "multiclass", "test_metrics": {"accuracy": 0.5}})
    assert report.search.stop_reason is None and report.search.phase_seconds == {}
    assert report.headline() == ("accuracy", 0.5)
    assert report.time_used_seconds is None


def test_run_request_round_trip_and_differences():
    saved = read(GOLDEN / ".runs" / "golden-interrupted" / "run.json")
    request = RunRequest.from_json(saved)
    # A run saved before cross-validation and --devices existed resumes as it started: one split, one process.
    assert request.to_json() == {**saved, "settings": {**saved["settings"], "folds": 1, "devices": 1}}
    assert request.settings.time_budget == 300.0 and request.fingerprint is not None
    fresh = RunRequest(request.plugin, request.data, request.test_data, request.settings, validation_fraction=0.2)
    assert fresh.differences(request) == []  # the fingerprint is not part of the request a user repeats
    changed = RunRequest("other", request.data, request.test_data, SearchSettings(seed=1), cost_fp=2.0)
    assert changed.differences(request) == ["plugin", "settings", "cost_fp"]


def test_run_request_missing_key_is_an_error():
    saved = read(GOLDEN / ".runs" / "golden-interrupted" / "run.json")
    del saved["settings"]
    with pytest.raises(KeyError):
        RunRequest.from_json(saved)


def test_decision_keeps_transfer_fields_only_when_moved():
    plain = Decision(0.4, "Youden's J", 10)
    assert plain.to_json() == {"threshold": 0.4, "method": "Youden's J", "validation_examples": 10}
    moved = Decision(0.3, "moved", 10, trials_threshold=0.4, positive_share=0.25)
    assert Decision.from_json(moved.to_json()) == moved


def test_manifest_files_grow_in_one_place():
    manifest = Manifest("r", "v", files=("model.keras", "report.json"))
    grown = manifest.with_files("report.json", "report.html", "report.html")
    assert grown.files == ("model.keras", "report.json", "report.html")
    export = ExportRecord("model.onnx", 1e-7, 16, {"onnx": "1"}, "2026-12-01T00:00:00Z")
    exported = grown.with_export("onnx", export).with_export("onnx", export)
    assert exported.files[-1] == "model.onnx" and exported.files.count("model.onnx") == 1
    assert Manifest.from_json(exported.to_json()) == exported
    assert "exports" not in manifest.to_json()


def test_a_manifest_with_values_of_the_wrong_type_marks_the_run_damaged(tmp_path):
    """Listed (and removable) as damaged, never a crash: one bad file must not hide the healthy runs."""
    import shutil

    from vertical_automl.errors import UsageError
    from vertical_automl.registry.runs import find_run, list_runs

    shutil.copytree(GOLDEN, tmp_path / "registry")
    bundle = tmp_path / "registry" / "text" / "golden-text"
    manifest = read(bundle / "manifest.json")
    manifest["data"] = None
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    runs = {run.run_id: run.damage for run in list_runs(tmp_path / "registry")}
    assert runs["golden-text"].startswith("manifest.json holds unexpected values")
    assert [damage for run_id, damage in runs.items() if run_id != "golden-text"] == [None, None, None]
    with pytest.raises(UsageError, match="is damaged: manifest.json holds unexpected values"):
        find_run(tmp_path / "registry", "golden-text")
