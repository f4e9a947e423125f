"""A finished run's ``report.json``: test metrics, the search that found the model, and the model itself.

``test_metrics``, ``sections``, ``dataset`` and ``best_hyperparameters`` stay
mappings: their keys are metric names, a vertical's own section names, split
names and hyperparameter names, open-ended by design.  The parts the core
reads field by field (the decision, the search summary, the model summary)
are records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .decision import Decision

# What ``time_used_seconds`` counts, in the report's own words.
TIME_USED_COVERS = (
    "start-up, loading, search and refit, across every session of the run; "
    "the export (test scoring, report sections, writing the bundle) comes after"
)


@dataclass(frozen=True)
class EnsembleMember:
    """One trial the exported model averages, with its validation score, epochs and weight."""

    trial: str
    score: float | None
    epochs: int | None
    weight: float

    def to_json(self) -> dict[str, Any]:
        return {"trial": self.trial, "score": self.score, "epochs": self.epochs, "weight": self.weight}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> EnsembleMember:
        return cls(str(value["trial"]), value.get("score"), value.get("epochs"), float(value.get("weight", 1.0)))


@dataclass(frozen=True)
class ModelSummary:
    """The exported model: how it was trained (in words), its members, size and refit learning curves."""

    training: str = ""
    refit: bool = True
    epochs: int | None = None
    ensemble: tuple[EnsembleMember, ...] = ()
    ensemble_validation_score: float | None = None
    parameters: int | None = None
    refit_history: tuple[dict[str, Any], ...] = ()  # {"trial": id, "history": {metric: [value per epoch]}}

    def to_json(self) -> dict[str, Any]:
        return {
            "training": self.training,
            "refit": self.refit,
            "epochs": self.epochs,
            "ensemble": [member.to_json() for member in self.ensemble],
            "ensemble_validation_score": self.ensemble_validation_score,
            "parameters": self.parameters,
            "refit_history": [dict(entry) for entry in self.refit_history],
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> ModelSummary:
        return cls(
            training=value.get("training", ""),
            refit=bool(value.get("refit", True)),
            epochs=value.get("epochs"),
            ensemble=tuple(EnsembleMember.from_json(m) for m in value.get("ensemble", ())),
            ensemble_validation_score=value.get("ensemble_validation_score"),
            parameters=value.get("parameters"),
            refit_history=tuple(value.get("refit_history", ())),
        )


@dataclass(frozen=True)
class SplitSummary:
    """``report.json["dataset"]["split"]``: how validation and test were held out (bundles before it have none).

    ``strategy`` is one of :class:`~vertical_automl.data.dataset.SplitMethod`'s;
    ``groups`` counts the distinct groups in each split that has them.
    """

    strategy: str
    test: str = "held out"
    group: str | None = None
    order: str | None = None
    groups: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_json(cls, value: dict[str, Any] | None) -> SplitSummary | None:
        if not value:
            return None
        return cls(
            strategy=str(value["strategy"]),
            test=str(value.get("test", "held out")),
            group=value.get("group"),
            order=value.get("order"),
            groups={str(k): int(v) for k, v in value.get("groups", {}).items()},
        )

    def text(self) -> str:
        """One line for the model card and the report: can a record's near-copy sit on both sides of the split?"""
        if self.order is not None:
            words = f"by time: the latest records by '{self.order}' held out"
            if self.group is not None:
                words += f", in whole groups by '{self.group}' (each placed at its first record)"
        elif self.group is not None:
            way = "stratified" if self.strategy.startswith("stratified") else "random"
            words = f"{way}, each group by '{self.group}' in one split only"
        else:
            words = f"{self.strategy}, records assumed independent (no -O group or -O order)"
        if self.groups:
            words += "; groups: " + ", ".join(f"{split} {n}" for split, n in self.groups.items())
        if self.test == "given":
            words += "; the test split is the given --test-data, so this made the validation split"
        return words


@dataclass(frozen=True)
class SearchSummary:
    """How the search ran: tuner, objective, trials by status, why it stopped, and where the time went.

    ``trials`` counts them: ``total`` and one entry per status (``COMPLETED``,
    ``FAILED``, ...).  ``time_used_seconds`` is the time the budget counts,
    across every session of a resumed run.  ``workers`` counts the trials
    each worker of a parallel search ran (empty for a search in one process);
    ``at_once`` is how many trials ran at the same time, with ``threads``
    CPU threads each (reports written before these existed: 1 and unknown).
    """

    tuner: str | None = None
    objective: str | None = None
    direction: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    best_trial: str | None = None
    best_score: float | None = None
    stopped_early: str | None = None
    stop_reason: str | None = None
    trials: dict[str, int] = field(default_factory=dict)
    search_seconds: float | None = None
    time_budget_seconds: float | None = None
    time_used_seconds: float | None = None
    time_used_covers: str = TIME_USED_COVERS
    phase_seconds: dict[str, float] = field(default_factory=dict)
    resumed: bool = False
    workers: dict[str, int] = field(default_factory=dict)
    at_once: int = 1
    threads: int | None = None

    @property
    def completed_trials(self) -> int:
        return int(self.trials.get("COMPLETED", 0))

    @property
    def total_trials(self) -> int:
        return int(self.trials.get("total", 0))

    def to_json(self) -> dict[str, Any]:
        return {
            "tuner": self.tuner,
            "objective": self.objective,
            "direction": self.direction,
            "settings": dict(self.settings),
            "best_trial": self.best_trial,
            "best_score": self.best_score,
            "stopped_early": self.stopped_early,
            "stop_reason": self.stop_reason,
            "trials": dict(self.trials),
            "search_seconds": self.search_seconds,
            "time_budget_seconds": self.time_budget_seconds,
            "time_used_seconds": self.time_used_seconds,
            "time_used_covers": self.time_used_covers,
            "phase_seconds": dict(self.phase_seconds),
            "resumed": self.resumed,
            **({"workers": dict(self.workers)} if self.workers else {}),  # a one-process run's report is as before
            # reports written before these existed read as before
            **({"at_once": self.at_once, "threads": self.threads} if self.threads is not None else {}),
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> SearchSummary:
        return cls(
            tuner=value.get("tuner"),
            objective=value.get("objective"),
            direction=value.get("direction"),
            settings=dict(value.get("settings", {})),
            best_trial=value.get("best_trial"),
            best_score=value.get("best_score"),
            stopped_early=value.get("stopped_early"),
            stop_reason=value.get("stop_reason"),
            trials=dict(value.get("trials", {})),
            search_seconds=value.get("search_seconds"),
            time_budget_seconds=value.get("time_budget_seconds"),
            time_used_seconds=value.get("time_used_seconds"),
            time_used_covers=value.get("time_used_covers", TIME_USED_COVERS),
            phase_seconds=dict(value.get("phase_seconds", {})),
            resumed=bool(value.get("resumed", False)),
            workers=dict(value.get("workers", {})),
            at_once=int(value.get("at_once", 1)),
            threads=value.get("threads"),
        )


@dataclass(frozen=True)
class Report:
    """``report.json``: what ``registry list/show/compare``, the model card and ``vautoml search`` print.

    ``test_metrics`` holds the core's metrics for the task (see
    :mod:`vertical_automl.evaluate`): ``accuracy``, ``macro_f1``, ... and, for
    binary tasks, ``binary`` (ROC-AUC, threshold, sensitivity...); ``mae``,
    ``rmse``, ``r2`` for regression.  ``sections`` maps each report section's
    name to its title and data.
    """

    run_id: str
    vertical: str
    task: str
    test_metrics: dict[str, Any]
    decision_threshold: Decision | None = None
    sections: dict[str, Any] = field(default_factory=dict)
    dataset: dict[str, Any] = field(default_factory=dict)
    best_hyperparameters: dict[str, Any] = field(default_factory=dict)
    model: ModelSummary = field(default_factory=ModelSummary)
    search: SearchSummary = field(default_factory=SearchSummary)
    seconds: float | None = None
    format_version: int = 1

    def headline(self) -> tuple[str, float | None]:
        """The test metric a reader looks at first: ROC-AUC (binary), accuracy (multiclass), MAE (regression)."""
        return headline_metric(self.task, self.test_metrics)

    @property
    def split(self) -> SplitSummary | None:
        """How the data was split; ``None`` for bundles written before the report said."""
        return SplitSummary.from_json(self.dataset.get("split"))

    @property
    def time_used_seconds(self) -> float | None:
        """The budgeted time; bundles that predate the search summary's own field have only ``seconds``."""
        return self.search.time_used_seconds if self.search.time_used_seconds is not None else self.seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "run_id": self.run_id,
            "vertical": self.vertical,
            "task": self.task,
            "test_metrics": self.test_metrics,
            "decision_threshold": self.decision_threshold.to_json() if self.decision_threshold else None,
            "sections": self.sections,
            "dataset": self.dataset,
            "best_hyperparameters": self.best_hyperparameters,
            "model": self.model.to_json(),
            "search": self.search.to_json(),
            "seconds": self.seconds,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Report:
        decision = value.get("decision_threshold")
        return cls(
            run_id=value.get("run_id", ""),
            vertical=value.get("vertical", ""),
            task=value.get("task", ""),
            test_metrics=dict(value.get("test_metrics", {})),
            decision_threshold=Decision.from_json(decision) if decision else None,
            sections=dict(value.get("sections", {})),
            dataset=dict(value.get("dataset", {})),
            best_hyperparameters=dict(value.get("best_hyperparameters", {})),
            model=ModelSummary.from_json(value.get("model", {})),
            search=SearchSummary.from_json(value.get("search", {})),
            seconds=value.get("seconds"),
            format_version=int(value.get("format_version", 1)),
        )


def headline_metric(task: str, test_metrics: dict[str, Any]) -> tuple[str, float | None]:
    """The headline of test metrics as :func:`~vertical_automl.scoring.score_test_split` makes them, for ``task``.

    Shared by the report and by whatever measures a run again on other rows
    (``vautoml export --quantize``), so both name and read the same metric.
    """
    if task == "binary":
        return "ROC-AUC", test_metrics.get("binary", {}).get("roc_auc")
    if task == "regression":
        return "MAE", test_metrics.get("mae")
    return "accuracy", test_metrics.get("accuracy")
