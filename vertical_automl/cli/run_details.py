"""The rows ``vautoml registry show`` prints for a run, each read from a field of its manifest or report."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .output import number

if TYPE_CHECKING:
    from ..records import Manifest, Report, SearchSummary
    from ..registry.runs import Run


def show_rows(run: Run) -> list[tuple[str, object]]:
    """(field, value) from the folder to the files: where the run is, its data, search, model, metrics, exports."""
    manifest, report = run.manifest, run.report
    page = run.path / "report.html"
    return [
        ("folder", str(run.path)),
        *((("report", str(page)),) if page.exists() else ()),
        ("vertical / task", f"{manifest.vertical} / {report.task}"),
        ("created", manifest.created),
        ("data", f"{manifest.data.source} (sha256 {(manifest.data.fingerprint or '')[:12]})"),
        ("test data", manifest.data.test_source),
        ("search", _search_line(report.search)),
        ("trials", _trials_line(report.search)),
        ("time", _time_line(report.search)),
        ("model", report.model.training),
        *_test_metric_rows(report),
        ("best hyperparameters", ", ".join(f"{k}={number(v)}" for k, v in report.best_hyperparameters.items())),
        ("report sections", ", ".join(report.sections) or "-"),
        ("versions", ", ".join(f"{k} {v}" for k, v in manifest.libraries.items())),
        ("exports", _exports_line(manifest)),
        ("files", _files_line(manifest)),
    ]


def _search_line(search: SearchSummary) -> str:
    return (
        f"{search.tuner}, objective {search.objective} ({search.direction}), "
        f"best {number(search.best_score)} in trial {search.best_trial}"
    )


def _trials_line(search: SearchSummary) -> str:
    """Trials by status (``total`` first), and why the search stopped early if it did."""
    counts = ", ".join(f"{status} {count}" for status, count in search.trials.items())
    return counts + (f"; stopped early: {search.stopped_early}" if search.stopped_early else "")


def _time_line(search: SearchSummary) -> str:
    budget = f" of a {search.time_budget_seconds:g}s budget" if search.time_budget_seconds else ""
    return f"{search.time_used_seconds or 0:.1f}s used{budget}"


def _test_metric_rows(report: Report) -> list[tuple[str, str]]:
    """The headline metric first, then every numeric test metric, the binary ones (ROC-AUC, threshold...) included."""
    name, value = report.headline()
    metrics = {**report.test_metrics, **report.test_metrics.get("binary", {})}
    return [
        ("test " + name, number(value)),
        *(
            (f"test {key}", number(metric))
            for key, metric in metrics.items()
            if isinstance(metric, (int, float)) and key != "examples"
        ),
    ]


def _exports_line(manifest: Manifest) -> str:
    exports = (
        f"{fmt}: {export.file} (max difference {export.max_abs_difference:.2g})"
        for fmt, export in manifest.exports.items()
    )
    return ", ".join(exports) or "-"


def _files_line(manifest: Manifest) -> str:
    """The bundle's own files by name; its plots and trial logs, which can run to hundreds, only counted."""
    named = ", ".join(f for f in manifest.files if not f.startswith(("logs/", "plots/")))
    plots = sum(f.startswith("plots/") for f in manifest.files)
    logs = sum(f.startswith("logs/") for f in manifest.files)
    return f"{named}, {plots} plots and {logs} trial logs"
