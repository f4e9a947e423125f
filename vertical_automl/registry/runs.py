"""Browsing the registry: list, show, compare and remove finished runs.

A run is a folder ``<root>/<vertical>/<run-id>/`` with a ``manifest.json``;
publishing renames a complete bundle there in one step, so anything else (a
run in progress or interrupted in ``.runs``, a stray folder) is never listed.
A run whose manifest or report was damaged afterwards (cut short, overwritten,
unreadable) is still listed and removable, marked with what is wrong, so that
one bad file never hides the healthy runs; everything that uses a run refuses it.
Reading needs no Keras, so these commands start fast.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..bundle.files import MANIFEST_FILE, REPORT_FILE
from ..errors import UsageError
from ..records import Manifest, Report
from .layout import FORMAT_VERSION, RUNS, check_run_id


@dataclass(frozen=True)
class Run:
    """A finished run: where it is, its manifest and report, and what is wrong with them if it is damaged.

    A damaged run keeps whichever of the two files could be read (the other
    is read from ``{}``, every field at its default), so the listing can still
    show its vertical and creation time.
    """

    path: Path
    manifest: Manifest
    report: Report
    damage: str | None = None

    @property
    def run_id(self) -> str:
        """The manifest's id; the folder's name when a damaged manifest has none."""
        return self.manifest.run_id or self.path.name

    @property
    def trials(self) -> str:
        """Completed of all trials, e.g. ``3/4``: how ``registry list`` and ``compare`` count them."""
        return f"{self.report.search.completed_trials}/{self.report.search.total_trials}"

    def summary(self) -> dict[str, Any]:
        """One row of ``vautoml registry list``; ``damaged`` says what is wrong (``None`` for a healthy run)."""
        if self.damage is not None:
            return {
                "run_id": self.run_id,
                "vertical": self.manifest.vertical or self.path.parent.name,
                "task": None,
                "created": self.manifest.created,
                "data": None,
                "metric": None,
                "value": None,
                "trials": None,
                "seconds": None,
                "path": str(self.path),
                "damaged": self.damage,
            }
        name, value = self.report.headline()
        return {
            "run_id": self.run_id,
            "vertical": self.manifest.vertical,
            "task": self.report.task,
            "created": self.manifest.created,
            "data": self.manifest.data.source,
            "metric": name,
            "value": value,
            "trials": self.trials,
            "seconds": self.report.time_used_seconds,
            "path": str(self.path),
            "damaged": None,
        }


def read_run(path: Path, damaged: bool = False) -> Run:
    """Read a bundle's manifest and report; a bundle from a newer vautoml is refused, an older one is read.

    A damaged manifest or report is refused too, unless ``damaged``: then the
    run comes back with :attr:`Run.damage` set, for listing and removing it.
    The format version is checked on the raw JSON, before the records read
    it, so a newer bundle is refused for what it is and not misread.
    """
    manifest, manifest_damage = _json_object(path / MANIFEST_FILE)
    report, report_damage = _json_object(path / REPORT_FILE)
    damage = "; ".join(problem for problem in (manifest_damage, report_damage) if problem) or None
    if damage is None:
        version = manifest.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise UsageError(
                f"the run '{path}' was written in bundle format {version}, "
                f"newer than this vautoml reads (format {FORMAT_VERSION})",
                "upgrade vertical-automl (pip install -U vertical-automl) to read it",
            )
    manifest_record, manifest_damage = _record(Manifest, manifest, MANIFEST_FILE)
    report_record, report_damage = _record(Report, report, REPORT_FILE)
    damage = "; ".join(problem for problem in (damage, manifest_damage, report_damage) if problem) or None
    if damage is not None and not damaged:
        raise damaged_run(path, damage)
    return Run(path, manifest_record, report_record, damage)


def _record(kind: type[Manifest] | type[Report], value: dict[str, Any], name: str) -> tuple[Any, str | None]:
    """``value`` read as a record; a file whose values have the wrong types is damage, like one cut short."""
    try:
        return kind.from_json(value), None
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        return kind.from_json({}), f"{name} holds unexpected values ({type(error).__name__}: {error})"


def read_bundle_json(run: Path, name: str) -> dict[str, Any]:
    """One JSON file of a run, e.g. ``preprocessing.json``; a damaged one is refused in one line."""
    value, damage = _json_object(run / name)
    if damage is not None:
        raise damaged_run(run, damage)
    return value


def damaged_run(path: Path, damage: str) -> UsageError:
    """The one-line refusal of a damaged run, naming what is wrong and the command that removes it."""
    fix = f"remove it with 'vautoml registry rm {path} --yes' and search again"
    return UsageError(f"the run '{path}' is damaged: {damage}", fix)


def _json_object(file: Path) -> tuple[dict[str, Any], str | None]:
    """A bundle file's JSON object, or ``{}`` and what is wrong: missing, unreadable, not JSON, not an object."""
    try:
        value = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, f"{file.name} is missing"
    except OSError as error:
        return {}, f"{file.name} cannot be read ({error.strerror or error})"
    except ValueError as error:  # invalid JSON, or bytes that are not UTF-8 text
        return {}, f"{file.name} is not valid JSON ({' '.join(str(error).split())})"
    if not isinstance(value, dict):
        return {}, f"{file.name} holds a JSON {type(value).__name__}, not an object"
    return value, None


def list_runs(root: Path, vertical: str | None = None) -> list[Run]:
    """Every finished run under ``root``, oldest first (run ids sort by creation time); damaged ones last, marked."""
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if vertical is not None and folder.name != vertical:
            continue
        for run in sorted(p for p in folder.iterdir() if (p / MANIFEST_FILE).is_file()):
            found.append(read_run(run, damaged=True))
    return sorted(found, key=lambda run: (run.damage is not None, run.manifest.created or "", run.run_id))


def find_run(root: Path, run: str, damaged: bool = False) -> Run:
    """A run by id (looked up in ``root``) or by the path of its folder; a damaged one only if ``damaged``."""
    candidate = Path(run)
    if (candidate / MANIFEST_FILE).is_file():
        return read_run(candidate, damaged)
    check_run_id(run, "run id")
    matches = (
        [p for p in root.glob(f"*/{run}") if p.parent.name != RUNS and (p / MANIFEST_FILE).is_file()]
        if root.is_dir()
        else []
    )
    if not matches:
        waiting = (root / RUNS / run).is_dir()
        hint = (
            f"it was interrupted; continue it with 'vautoml search --resume {run}'"
            if waiting
            else "see 'vautoml registry list' for the run ids"
        )
        raise UsageError(f"no finished run '{run}' in the registry '{root}'", hint)
    return read_run(matches[0], damaged)


def remove_run(run: Run) -> None:
    """Delete a run: first renamed out of the listing (atomic), then removed.

    The trash is named after the folder, not the manifest's id, which a damaged run may lack.
    """
    trash = run.path.parent.parent / RUNS / f"removing-{run.path.name}"
    trash.parent.mkdir(exist_ok=True)
    shutil.rmtree(trash, ignore_errors=True)  # left by an earlier removal that was killed
    os.rename(run.path, trash)
    shutil.rmtree(trash)
    for folder in (trash.parent, run.path.parent):
        try:
            folder.rmdir()
        except OSError:
            pass


def _scalars(prefix: str, values: dict[str, Any]) -> dict[str, Any]:
    """The numbers and strings of a nested dict, flattened to ``a.b`` keys."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_scalars(name + ".", value))
        elif isinstance(value, (int, float, str, bool)) or value is None:
            flat[name] = value
    return flat


def comparison(runs: list[Run]) -> dict[str, dict[str, Any]]:
    """Rows (metric or hyperparameter) x columns (run ids): test metrics, search summary and best hyperparameters."""
    columns = {}
    for run in runs:
        report, search = run.report, run.report.search
        values = {
            "vertical": run.manifest.vertical,
            "task": report.task,
            "data": run.manifest.data.source,
            **_scalars(
                "test.",
                {k: v for k, v in report.test_metrics.items() if k not in ("per_class", "confusion_matrix")},
            ),
            "search.tuner": search.tuner,
            "search.objective": search.objective,
            "search.best_score": search.best_score,
            "search.trials": run.trials,
            "search.time_used_seconds": search.time_used_seconds,
            "model.parameters": report.model.parameters,
            "model.refit": report.model.refit,
            **_scalars("hp.", report.best_hyperparameters),
        }
        columns[run.run_id] = values
    rows: dict[str, dict[str, Any]] = {}
    for run_id, values in columns.items():
        for key, value in values.items():
            rows.setdefault(key, {})[run_id] = value
    return rows
