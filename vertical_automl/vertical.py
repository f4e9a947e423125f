"""The contract between the core and an industry vertical.

A vertical is declarative: a name, a task, where its data can come from
(:class:`DataLoader`), how to build a compiled model for one point of the
search space (``build_model(hp, info)``), which validation metric the search
maximises, and notes for the model card.  Everything else (splitting,
searching, refitting, scoring, exporting) is the core's job, so every
vertical gets it the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from .data.dataset import DatasetInfo, LabeledData

if TYPE_CHECKING:  # pragma: no cover - typing only, keeps imports light
    import keras
    import keras_tuner

TASKS = ("binary", "multiclass")
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


@dataclass(frozen=True)
class DataLoader:
    """Reads one kind of source into :class:`LabeledData`.

    ``can_load(path)`` must be cheap (look at the suffix or whether it is a
    folder); ``load(path, options, like)`` does the work.  ``options`` are the
    user's ``--data-option KEY=VALUE`` pairs; ``like`` is the training data
    when reading ``--test-data``, so the test set is read the same way.
    """

    name: str
    description: str
    can_load: Callable[[Path], bool]
    load: Callable[[Path, Mapping[str, str], LabeledData | None], LabeledData]


@dataclass(frozen=True)
class Vertical:
    """An industry vertical as a plugin registers it.

    ``usage_code(input_spec)`` returns the Python lines that turn a raw input
    (an image file, a CSV row) into the array ``x`` the model takes; the
    model card shows them to downstream developers.
    """

    name: str
    description: str
    task: str
    build_model: Callable[["keras_tuner.HyperParameters", DatasetInfo], "keras.Model"]
    loaders: tuple[DataLoader, ...] = ()
    default_data: Callable[[], LabeledData] | None = None
    default_data_description: str = ""
    objective: str = "val_accuracy"
    objective_direction: str = "max"
    model_card_notes: tuple[str, ...] = ()
    usage_code: Callable[[dict[str, Any]], list[str]] | None = None

    def problems(self) -> list[str]:
        """What is wrong with this declaration (empty when valid)."""
        found = []
        if not isinstance(self.name, str) or not NAME_PATTERN.match(self.name):
            found.append(f"vertical name {self.name!r} must be lowercase letters, digits, '-' or '_' (at most 40)")
        if self.task not in TASKS:
            found.append(f"vertical {self.name!r} has task {self.task!r}; expected one of {', '.join(TASKS)}")
        if not callable(self.build_model):
            found.append(f"vertical {self.name!r} has a build_model that is not callable")
        if self.objective_direction not in ("max", "min"):
            found.append(f"vertical {self.name!r} has objective_direction {self.objective_direction!r}; expected 'max' or 'min'")
        for loader in self.loaders:
            if not isinstance(loader, DataLoader):
                found.append(f"vertical {self.name!r} lists a loader that is not a DataLoader: {loader!r}")
        return found
