"""How commands print numbers, a run's test metrics in one line, and tables as wide as the terminal allows."""

from __future__ import annotations

from typing import Any


def number(value: Any) -> str:
    """A metric or setting as a table cell: floats to 4 decimals (large ones with separators), ``None`` as '-'."""
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.1f}"
    return "-" if value is None else str(value)


def metrics_summary(report: dict[str, Any]) -> str:
    """The test metrics that matter for the task, in one line (``search`` and ``evaluate`` end with it)."""
    metrics = report["test_metrics"]
    if report["task"] == "regression":
        return f"test MAE {metrics['mae']:.4g}, RMSE {metrics['rmse']:.4g}, R2 {metrics['r2']:.4f}"
    if report["task"] == "binary":
        binary = metrics["binary"]
        return (
            f"test ROC-AUC {binary['roc_auc']:.4f}, accuracy {metrics['accuracy']:.4f} "
            f"at threshold {binary['threshold']:.3f}, macro F1 {metrics['macro_f1']:.4f}"
        )
    return f"test accuracy {metrics['accuracy']:.4f}, macro F1 {metrics['macro_f1']:.4f}"


def console() -> Any:
    """A rich console at least 120 columns wide, so tables keep their columns in a pipe or a narrow terminal."""
    from rich.console import Console

    return Console(width=max(120, Console().width))
