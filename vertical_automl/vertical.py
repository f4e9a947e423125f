"""The contract between the core and an industry vertical.

A vertical is declarative: a name, the tasks it handles, where its data can
come from (:class:`DataLoader`), how to build a compiled model for one point
of the search space (``build_model(hp, info)``), which validation metric the
search optimises per task, extra report sections, and notes for the model
card.  Everything else (splitting, encoding, searching, refitting, scoring,
exporting) is the core's job, so every vertical gets it the same way.

The task comes from the data, not from the vertical: a numeric target with
many values is a regression, two classes a binary and more a multiclass
task; the vertical says which of those it accepts (``tasks``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .data.dataset import TASKS, DatasetInfo, LabeledData
from .data.loader import DataLoader
from .heads import DEFAULT_OBJECTIVES
from .space import Dimension

if TYPE_CHECKING:  # pragma: no cover - typing only, keeps imports light
    import keras
    import keras_tuner

    from .report.sections import Evaluation, ReportSection
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


@dataclass(frozen=True)
class Vertical:
    """An industry vertical as a plugin registers it.

    ``objectives`` maps a task to ``(metric, "max"|"min")``; tasks it leaves
    out use :data:`~vertical_automl.heads.DEFAULT_OBJECTIVES` (``val_auc``
    for binary, ``val_accuracy`` for multiclass, ``val_mae`` for regression).
    ``data_example`` is the command shown when there is no built-in dataset.
    ``report_sections(evaluation)`` adds the vertical's own report sections
    (e.g. the metrics its field reads) computed on the test split.
    ``ensemble_size`` > 1 lets the export average up to that many trials
    (one model file), chosen and weighted by greedy ensemble selection on
    their validation predictions (:mod:`vertical_automl.search_engine.ensemble_selection`): on small,
    noisy tables it steadies a choice made on a small validation split.
    ``recipes`` are hyperparameter values (partial dicts) the random and
    Bayesian tuners try first, in order, before sampling: a vertical's known
    strong configurations, so even a short budget runs them.
    ``usage_code(input_spec)`` returns the Python lines that turn a raw input
    (an image file, a CSV row, a string) into the array ``x`` the model
    takes; the model card shows them to downstream developers (default: the
    input kind's ``usage_code``; see :class:`~vertical_automl.data.input_kind.InputKind`).
    The lines must assign ``x``; ``prep`` (``preprocessing.json``, loaded),
    ``np``, ``json``, ``os`` and ``keras`` are in scope before them.
    ``dimensions`` are the vertical's own search dimensions
    (:class:`~vertical_automl.space.Dimension`), which ``[space]`` in
    ``search.toml`` can set like the shared ones.
    """

    name: str
    description: str
    build_model: Callable[[keras_tuner.HyperParameters, DatasetInfo], keras.Model]
    tasks: tuple[str, ...] = ("binary", "multiclass")
    loaders: tuple[DataLoader, ...] = ()
    default_data: Callable[[], LabeledData] | None = None
    default_data_description: str = ""
    data_example: str = ""
    objectives: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    report_sections: Callable[[Evaluation], list[ReportSection]] | None = None
    ensemble_size: int = 1
    model_card_notes: tuple[str, ...] = ()
    usage_code: Callable[[dict[str, Any]], list[str]] | None = None
    recipes: tuple[dict[str, Any], ...] = ()
    dimensions: tuple[Dimension, ...] = ()

    def objective(self, task: str) -> tuple[str, str]:
        """The validation metric the search optimises for ``task``, and its direction."""
        return tuple(self.objectives.get(task, DEFAULT_OBJECTIVES[task]))  # type: ignore[return-value]

    def problems(self) -> list[str]:
        """What is wrong with this declaration (empty when valid)."""
        found = []
        if not isinstance(self.name, str) or not NAME_PATTERN.match(self.name):
            found.append(f"vertical name {self.name!r} must be lowercase letters, digits, '-' or '_' (at most 40)")
        unknown = [t for t in (self.tasks if isinstance(self.tasks, tuple) else ()) if t not in TASKS]
        if not isinstance(self.tasks, tuple) or not self.tasks or unknown:
            found.append(
                f"vertical {self.name!r} has tasks {self.tasks!r}; expected a tuple drawn from {', '.join(TASKS)}"
            )
        if not callable(self.build_model):
            found.append(f"vertical {self.name!r} has a build_model that is not callable")
        for task, objective in dict(self.objectives).items():
            if task not in TASKS or not (
                isinstance(objective, tuple) and len(objective) == 2 and objective[1] in ("max", "min")
            ):
                found.append(
                    f"vertical {self.name!r} has objective {objective!r} for task {task!r}; "
                    f"expected a task from {', '.join(TASKS)} and (metric, 'max' or 'min')"
                )
        if not isinstance(self.ensemble_size, int) or not 1 <= self.ensemble_size <= 20:
            found.append(
                f"vertical {self.name!r} has ensemble_size {self.ensemble_size!r}; expected a whole number from 1 to 20"
            )
        if not isinstance(self.recipes, tuple) or not all(isinstance(r, dict) for r in self.recipes):
            found.append(
                f"vertical {self.name!r} has recipes {self.recipes!r}; "
                "expected a tuple of dicts of hyperparameter values"
            )
        if self.report_sections is not None and not callable(self.report_sections):
            found.append(f"vertical {self.name!r} has report_sections that is not callable")
        for loader in self.loaders:
            if not isinstance(loader, DataLoader):
                found.append(f"vertical {self.name!r} lists a loader that is not a DataLoader: {loader!r}")
            else:
                found += [f"vertical {self.name!r}: {problem}" for problem in loader.problems()]
        if not isinstance(self.dimensions, tuple) or not all(isinstance(d, Dimension) for d in self.dimensions):
            found.append(f"vertical {self.name!r} has dimensions {self.dimensions!r}; expected a tuple of Dimension")
        else:
            found += [f"vertical {self.name!r}: {problem}" for d in self.dimensions for problem in d.problems()]
            names = [d.name for d in self.dimensions]
            found += [
                f"vertical {self.name!r} declares dimension {n!r} twice"
                for n in sorted(set(names))
                if names.count(n) > 1
            ]
        return found
