"""Damaged runs: one bad file never hides the rest of the registry, and is refused in one line wherever a run is used.

Every test starts from a copy of one real tiny image bundle: a registry with
a healthy run beside a damaged copy (a cut-short or overwritten manifest or
report, a truncated, garbage, missing or unsafe ``model.keras``), or an
export killed half-way.  Each checks the exit code, the single ``Error: ...
Fix: ...`` line, and that the healthy run is untouched afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import invoke_vautoml, only_run, run_vautoml

import vertical_automl
from vertical_automl import export as portable
from vertical_automl.errors import UsageError
from vertical_automl.registry.runs import find_run, list_runs, remove_run


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    registry = tmp_path_factory.mktemp("damaged") / "registry"
    done = run_vautoml(
        "search", "--plugin", "tiny-image", "--max-trials", "1", "--epochs", "1", "--quiet", "--registry", str(registry)
    )
    assert done.returncode == 0, done.stderr
    return only_run(registry)


@pytest.fixture
def registry(tmp_path, bundle) -> Path:
    """A registry holding a copy of the healthy bundle under its own id."""
    root = tmp_path / "registry"
    shutil.copytree(bundle, root / "tiny-image" / bundle.name)
    return root


def add_copy(registry: Path, bundle: Path, run_id: str) -> Path:
    """Another copy of the bundle in ``registry``, its manifest renamed to ``run_id``."""
    run = registry / "tiny-image" / run_id
    shutil.copytree(bundle, run)
    manifest = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**manifest, "run_id": run_id}, indent=2))
    return run


def contents(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones included) by relative path, with its digest."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def one_error(done: subprocess.CompletedProcess, exit_code: int = 2) -> str:
    """The one error line of a failed command, ``Error: ... Fix: ...``: no traceback, no advice to drop safe mode."""
    assert done.returncode == exit_code, (done.returncode, done.stderr)
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "Fix: " in errors[0], done.stderr
    assert "Traceback" not in done.stderr and "safe_mode=False" not in done.stderr, done.stderr
    return errors[0]


def assert_healthy(registry: Path, bundle: Path, *others: str) -> None:
    """The healthy run is listed as healthy with its files as they were; ``others`` are the only other runs listed."""
    done = run_vautoml("registry", "list", "--json", "--registry", str(registry))
    assert done.returncode == 0, done.stderr
    rows = {row["run_id"]: row for row in json.loads(done.stdout)}
    assert set(rows) == {bundle.name, *others}
    assert rows[bundle.name]["damaged"] is None and rows[bundle.name]["value"] is not None
    assert contents(registry / "tiny-image" / bundle.name) == contents(bundle)
    assert not (registry / ".runs").exists()


# name: (file, what is written there (None: removed), words of the reason)
DAMAGE = {
    "manifest cut short": ("manifest.json", b'{"format_version": 1, "run_id": ', "manifest.json is not valid JSON"),
    "manifest overwritten with bytes": ("manifest.json", bytes(range(256)) * 4, "manifest.json is not valid JSON"),
    "manifest not an object": ("manifest.json", b"[1, 2, 3]", "manifest.json holds a JSON list, not an object"),
    "report missing": ("report.json", None, "report.json is missing"),
    "report cut short": ("report.json", b'{"task": "multi', "report.json is not valid JSON"),
}


def damage(run: Path, name: str) -> str:
    file, data, reason = DAMAGE[name]
    if data is None:
        (run / file).unlink()
    else:
        (run / file).write_bytes(data)
    return reason


@pytest.mark.parametrize("name", DAMAGE)
def test_a_damaged_run_is_listed_as_damaged_refused_by_show_and_removed_by_rm(registry, bundle, name):
    run = add_copy(registry, bundle, "damaged-run")
    reason = damage(run, name)
    run_id = run.name  # the manifest's id, or for a damaged manifest the folder's name (here the same)

    done = run_vautoml("registry", "list", "--json", "--registry", str(registry))
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [row["run_id"] for row in rows] == [bundle.name, run_id]  # damaged runs last
    assert rows[1]["damaged"].startswith(reason) and rows[1]["vertical"] == "tiny-image" and rows[1]["path"] == str(run)
    assert rows[1]["value"] is None and rows[0]["damaged"] is None

    table = run_vautoml("registry", "list", "--registry", str(registry))
    assert table.returncode == 0, table.stderr
    assert "DAMAGED" in table.stdout and f"run {run_id} is damaged: {reason}" in table.stdout
    assert f"vautoml registry rm {run} --yes" in table.stdout

    line = one_error(run_vautoml("registry", "show", "damaged-run", "--registry", str(registry)))
    assert f"the run '{run}' is damaged: {reason}" in line and f"vautoml registry rm {run} --yes" in line
    one_error(run_vautoml("registry", "compare", bundle.name, "damaged-run", "--registry", str(registry)))
    assert_healthy(registry, bundle, run_id)

    by = "damaged-run" if name.endswith("short") else str(run)  # by id and by folder
    removed = run_vautoml("registry", "rm", by, "--yes", "--registry", str(registry))
    assert removed.returncode == 0 and removed.stdout.strip() == f"removed {run}", removed.stderr
    assert not run.exists()
    assert_healthy(registry, bundle)


def test_an_unreadable_manifest_is_listed_as_damaged_and_refused(registry, bundle, monkeypatch):
    """Simulated in-process: the tests may run as root, who reads a file whatever its mode."""
    run = add_copy(registry, bundle, "unreadable-run")
    read_text = Path.read_text

    def refuse(path: Path, *args, **kwargs) -> str:
        if path == run / "manifest.json":
            raise PermissionError(13, "Permission denied", str(path))
        return read_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", refuse)
    damage = {listed.run_id: listed.damage for listed in list_runs(registry)}
    assert damage == {bundle.name: None, run.name: "manifest.json cannot be read (Permission denied)"}
    with pytest.raises(UsageError) as refused:
        find_run(registry, run.name)
    assert str(refused.value).count("Fix: ") == 1 and "\n" not in str(refused.value)
    assert "is damaged: manifest.json cannot be read (Permission denied)" in str(refused.value)
    remove_run(find_run(registry, run.name, damaged=True))
    monkeypatch.undo()
    assert not run.exists()
    assert_healthy(registry, bundle)


@pytest.mark.parametrize("name", ["manifest cut short", "report missing"])
def test_predict_evaluate_and_export_refuse_a_damaged_run_in_one_line(registry, bundle, name, tmp_path):
    run = add_copy(registry, bundle, "damaged-run")
    reason = damage(run, name)
    before = contents(run)
    data = tmp_path / "digits.npz"
    data.write_bytes(b"not read: the run is refused first")
    commands = (
        ("predict", "--model", "damaged-run", "--data", str(data)),
        ("evaluate", "--model", str(run), "--data", str(data)),
        ("export", "damaged-run", "--format", "weights"),
    )
    for command in commands:
        line = one_error(invoke_vautoml(*command, "--registry", str(registry)))
        assert f"is damaged: {reason}" in line, command
    with pytest.raises(UsageError, match="is damaged"):
        vertical_automl.load(run)
    with pytest.raises(UsageError, match="is damaged"):
        portable.export_model(run, "weights")
    assert contents(run) == before  # refused before anything was written
    assert_healthy(registry, bundle, run.name)


def save_unsafe_model(path: Path) -> None:
    """A small Keras model with a Python lambda in it, which safe mode refuses to deserialize."""
    import keras

    inputs = keras.Input((8, 8, 1))
    doubled = keras.layers.Lambda(lambda x: x * 2.0)(inputs)
    keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(doubled))).save(path)


# name: how model.keras is damaged, and the words of the one-line error
MODEL_DAMAGE = {
    "truncated": ("is damaged (it is truncated or corrupt", "re-export it"),
    "garbage": ("is damaged (it is truncated or corrupt", "re-export it"),
    "bit flips": ("is damaged (it is corrupt: model.weights.h5 inside it fails its checksum)", "re-export it"),
    "missing": ("is missing its model.keras", "search again"),
    "unsafe": (
        "is unsafe: it holds code that Keras's safe mode refuses to run",
        "do not load model files you do not trust",
    ),
}


@pytest.mark.parametrize("name", MODEL_DAMAGE)
def test_a_damaged_or_unsafe_model_file_is_refused_in_one_line_by_predict_and_export(registry, bundle, name, tmp_path):
    run = add_copy(registry, bundle, f"model-{name.replace(' ', '-')}")
    model = run / "model.keras"
    good = model.read_bytes()
    if name == "truncated":
        model.write_bytes(good[: len(good) // 2])
    elif name == "garbage":
        model.write_bytes(b"\x89not a zip archive\x00" * 300)
    elif name == "bit flips":
        middle = len(good) // 2
        model.write_bytes(good[:middle] + bytes(b ^ 0xFF for b in good[middle : middle + 64]) + good[middle + 64 :])
    elif name == "missing":
        model.unlink()
    else:
        save_unsafe_model(model)
    problem, fix = MODEL_DAMAGE[name]
    before = contents(run)

    line = one_error(
        invoke_vautoml("predict", "--model", run.name, "--data", str(tmp_path), "--registry", str(registry))
    )
    assert problem in line and fix in line.split("Fix: ")[1] and "File not found" not in line
    with pytest.raises(UsageError, match=problem.split(" (")[0]) as refused:
        portable.export_model(run, "weights")  # the same helper loads the model for the export
    assert "safe_mode=False" not in str(refused.value) and fix in str(refused.value)
    if name == "unsafe":
        one_error(invoke_vautoml("export", run.name, "--format", "weights", "--registry", str(registry)))
    assert contents(run) == before
    assert_healthy(registry, bundle, run.name)


# Runs the CLI in a process that SIGKILLs itself when the export is about to rename model.onnx into the run: the
# temporary is written and checked, the run not yet touched. Deterministic, where killing from outside as soon as
# the temporary appears raced a sub-second window and missed it on a loaded machine.
KILLED_BEFORE_RENAME = """
import os, signal, sys
rename = os.replace
def replace(source, target, *args, **kwargs):
    if os.path.basename(os.fspath(target)) == "model.onnx":
        os.kill(os.getpid(), signal.SIGKILL)
    return rename(source, target, *args, **kwargs)
os.replace = replace
from vertical_automl.cli import main
sys.exit(main(sys.argv[1:]))
"""


def kill_export_mid_write(registry: Path, bundle: Path) -> list[Path]:
    """Run an ONNX export that is killed (SIGKILL) right before its rename into the run; the temporaries it left."""
    command = [sys.executable, "-c", KILLED_BEFORE_RENAME, "export", bundle.name, "--format", "onnx"]
    export = subprocess.run([*command, "--registry", str(registry)], capture_output=True, timeout=300)
    assert export.returncode == -signal.SIGKILL, export.stderr.decode()[-500:]
    run = registry / "tiny-image" / bundle.name
    temporaries = list(run.parent.glob(f"{portable.TEMPORARY}*model.onnx")) + [
        p for p in run.iterdir() if p.name.startswith(".")
    ]
    assert temporaries, "the killed export left no temporary: it was not killed half-way"
    return temporaries


def test_an_export_killed_half_way_leaves_the_run_as_it_was_and_the_next_export_cleans_up(registry, bundle):
    pytest.importorskip("onnxruntime")
    run = registry / "tiny-image" / bundle.name
    temporaries = kill_export_mid_write(registry, bundle)
    assert contents(run) == contents(bundle)  # nothing inside the run: no temporary, no half-written manifest
    assert all(path.parent == run.parent for path in temporaries)
    assert_healthy(registry, bundle)  # the leftover beside the run is not listed

    done = invoke_vautoml("export", bundle.name, "--format", "weights", "--registry", str(registry))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in run.parent.iterdir()) == [bundle.name]  # the killed export's temporary is gone
    assert set(contents(run)) == {*contents(bundle), "model.weights.h5"}
    assert json.loads((run / "manifest.json").read_text())["exports"]["weights"]["file"] == "model.weights.h5"


def test_stale_temporaries_are_removed_and_those_of_running_exports_kept(tmp_path, bundle):
    outside = tmp_path / "anywhere" / "my-run"  # a run given as a folder, outside any registry
    shutil.copytree(bundle, outside)
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    dead, alive = int(finished.stdout), os.getpid()
    stale = outside.parent / f"{portable.TEMPORARY}{dead}-0123abcd-model.onnx"
    running = outside.parent / f"{portable.TEMPORARY}{alive}-4567cdef-manifest.json"
    old_in_run = [outside / ".89abcdef-model.onnx", outside / ".fedcba98-manifest.json"]  # where earlier versions wrote
    for path in (stale, running, *old_in_run):
        path.write_text("partial")

    result = portable.export_model(outside, "weights")
    assert result.path == outside / "model.weights.h5"
    assert not stale.exists() and running.exists() and not any(path.exists() for path in old_in_run)
    assert sorted(p.name for p in outside.parent.iterdir()) == sorted([running.name, outside.name])
    assert set(contents(outside)) == {*contents(bundle), "model.weights.h5"}
    shown = run_vautoml("registry", "show", str(outside))
    assert shown.returncode == 0 and "weights: model.weights.h5" in shown.stdout, shown.stderr
