"""vautoml registry list/show/compare/rm: concurrent writers, incomplete runs never listed, format versions."""

from __future__ import annotations

import json

from helpers import run_vautoml, start_vautoml

# One validation split: the registry is tested, not how trials judge (test_cross_validation.py does that).
SEARCH = ["search", "--plugin", "tiny-table", "--max-trials", "2", "--epochs", "2", "--folds", "1", "--quiet"]


def test_two_concurrent_searches_both_land_and_the_registry_commands_browse_them(tmp_path):
    registry = tmp_path / "registry"
    env = {"OMP_NUM_THREADS": "1"}  # two processes on a small machine
    processes = [start_vautoml(*SEARCH, "--seed", str(seed), "--registry", str(registry), env=env) for seed in (1, 2)]
    for process in processes:
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr
    (registry / "tiny-table" / "stray-folder").mkdir()  # not a run: no manifest
    (registry / ".runs" / "in-progress" / "bundle").mkdir(parents=True)
    (registry / ".runs" / "in-progress" / "bundle" / "manifest.json").write_text("{}")

    listed = json.loads(run_vautoml("registry", "list", "--json", "--registry", str(registry)).stdout)
    assert len(listed) == 2 and len({row["run_id"] for row in listed}) == 2
    for row in listed:
        manifest = json.loads((registry / "tiny-table" / row["run_id"] / "manifest.json").read_text())
        assert all((registry / "tiny-table" / row["run_id"] / name).is_file() for name in manifest["files"])
        assert row["metric"] == "ROC-AUC" and 0.5 < row["value"] <= 1 and row["trials"] == "2/2"
    first, second = (row["run_id"] for row in listed)
    assert listed[0]["created"] <= listed[1]["created"]

    table = run_vautoml("registry", "list", "--vertical", "tiny-table", "--registry", str(registry))
    assert (
        first in table.stdout
        and second in table.stdout
        and "stray" not in table.stdout
        and "in-progress" not in table.stdout
    )
    shown = run_vautoml("registry", "show", first, "--registry", str(registry))
    assert shown.returncode == 0 and "test ROC-AUC" in shown.stdout and "best hyperparameters" in shown.stdout
    compared = json.loads(
        run_vautoml("registry", "compare", first, second, "--json", "--registry", str(registry)).stdout
    )
    assert set(compared["test.binary.roc_auc"]) == {first, second} and "hp.optimizer" in compared

    for args, message in (
        (["show", "stray-folder"], "no finished run 'stray-folder'"),
        (["show", "in-progress"], "continue it with 'vautoml search --resume in-progress'"),
        (["rm", "../tiny-table", "--yes"], "is not a valid run name"),
        (["compare", first], "compare needs at least two runs"),
    ):
        done = run_vautoml("registry", *args, "--registry", str(registry))
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)

    removed = run_vautoml("registry", "rm", first, "--yes", "--registry", str(registry))
    assert removed.returncode == 0 and not (registry / "tiny-table" / first).exists()
    assert [
        row["run_id"]
        for row in json.loads(run_vautoml("registry", "list", "--json", "--registry", str(registry)).stdout)
    ] == [second]


def test_a_bundle_from_a_newer_format_is_refused_and_an_older_one_is_read(tmp_path):
    run = tmp_path / "registry" / "tiny-image" / "r"
    run.mkdir(parents=True)
    (run / "report.json").write_text(json.dumps({"task": "multiclass", "test_metrics": {"accuracy": 0.9}}))
    for version, ok in ((0, True), (1, True), (99, False)):
        (run / "manifest.json").write_text(
            json.dumps({"format_version": version, "run_id": "r", "vertical": "tiny-image", "data": {"source": "x"}})
        )
        done = run_vautoml("registry", "show", "r", "--registry", str(tmp_path / "registry"))
        if ok:
            assert done.returncode == 0 and "0.9000" in done.stdout, done.stderr
        else:
            assert done.returncode == 2 and "bundle format 99, newer than this vautoml reads (format 1)" in done.stderr
            assert "pip install -U vertical-automl" in done.stderr
