"""The run's data: read by the vertical's loaders, classes ordered, task found and checked.

Everything here happens before Keras loads, so bad input fails in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..data.arrays import align_to_classes
from ..data.dataset import LabeledData
from ..data.input_kind import InputKind
from ..data.split import task_of
from ..errors import DataError, PluginError, UsageError
from ..heads import OBJECTIVES
from ..kinds import encoder_name, input_kind
from ..loading import load_source, load_training_data
from ..plugins import InstalledPlugins
from ..records import DataFingerprint, RunRequest
from ..settings import SearchSettings
from ..vertical import Vertical


@dataclass(frozen=True)
class RunInputs:
    """The training data, the ``--test-data`` if any, the task they make, their input kind, and their fingerprint."""

    training: LabeledData
    held_out: LabeledData | None
    task: str
    kind: InputKind

    @property
    def fingerprint(self) -> DataFingerprint:
        return DataFingerprint(
            self.training.fingerprint(), self.held_out.fingerprint() if self.held_out is not None else None
        )


def read_inputs(plugins: InstalledPlugins, vertical: Vertical, request: RunRequest) -> RunInputs:
    """Load the request's data and check that the vertical, the costs and the objective fit its task."""
    options = dict(request.data_options)
    positive_class = options.pop("positive_class", None)
    training = load_training_data(plugins, vertical, Path(request.data) if request.data else None, options)
    held_out = None
    if request.test_data is not None:
        held_out = load_source(plugins, vertical, Path(request.test_data), options, like=training)
        if not training.is_regression:
            held_out = align_to_classes(held_out, training.class_names)
    if positive_class is not None:
        training, held_out = with_positive_class(training, held_out, positive_class)
    task = task_for(vertical, training)
    if (request.cost_fp is not None or request.cost_fn is not None) and task != "binary":
        raise UsageError(
            f"--cost-fp and --cost-fn set a binary decision threshold, but this is a {task} task", "leave them out"
        )
    check_objective(vertical, task, request.settings)
    return RunInputs(training, held_out, task, kind_of(plugins, vertical, training, held_out))


def kind_of(
    plugins: InstalledPlugins, vertical: Vertical, training: LabeledData, held_out: LabeledData | None
) -> InputKind:
    """The training data's input kind, refused now if a bundle could not repeat its preprocessing after the search.

    The kind must be one predict can find (the core's, or declared by a
    loader), and the encoder the loader attached must be of the kind's
    encoder class exactly, since predict and evaluate rebuild
    ``kind.encoder`` and nothing else.
    """
    name = training.input_spec.get("kind")
    try:
        kind = input_kind(str(name), plugins)
    except DataError:
        raise PluginError(
            f"the {vertical.name} vertical's loader gives data of input kind '{name}', which no loader declares, "
            "so its bundles could not predict",
            "declare it with DataLoader(kind=InputKind(...))",
        ) from None
    attached = type(training.encoder) if training.encoder is not None else None
    if attached is not kind.encoder:  # a subclass too: predict would rebuild it as kind.encoder, not as itself
        said = encoder_name(kind.encoder) if kind.encoder else "none"
        got = encoder_name(attached) if attached else "none"
        raise PluginError(
            f"the {vertical.name} vertical's loader attaches encoder {got}, but input kind '{name}' declares {said}",
            "make InputKind.encoder the class of the encoder the kind's loaders attach",
        )
    if held_out is not None and held_out.input_spec.get("kind") != name:
        raise DataError(
            f"the test data ({held_out.source}) is of input kind '{held_out.input_spec.get('kind')}', "
            f"the training data of '{name}'",
            "give --test-data in the same format as the training data",
        )
    return kind


def check_unchanged(saved: RunRequest | None, inputs: RunInputs, run_id: str, request: RunRequest) -> None:
    """A resumed run must read the data it started with: mixing two datasets would make every number wrong."""
    if saved is not None and saved.fingerprint != inputs.fingerprint:
        raise DataError(
            f"the data of run '{run_id}' changed since it started ({request.data or 'built-in dataset'})",
            "resuming would mix two datasets; start a new run (another --run-name, or none)",
        )


def with_positive_class(
    training: LabeledData, held_out: LabeledData | None, positive: str
) -> tuple[LabeledData, LabeledData | None]:
    """Re-order two classes so ``positive`` is index 1, the class a binary model scores."""
    if training.is_regression or len(training.class_names) != 2:
        raise UsageError(
            f"positive_class is for two-class data, but {training.source} has "
            f"{len(training.class_names) or 'no'} classes",
            "leave out -O positive_class",
        )
    if positive not in training.class_names:
        raise UsageError(
            f"positive_class '{positive}' is not one of the classes {', '.join(training.class_names)}",
            "pass one of those names",
        )
    order = (next(c for c in training.class_names if c != positive), positive)
    return align_to_classes(training, order), (align_to_classes(held_out, order) if held_out is not None else None)


def task_for(vertical: Vertical, data: LabeledData) -> str:
    """The data's task, if the vertical handles it."""
    task = task_of(data)
    if task not in vertical.tasks:
        what = {
            "regression": "a numeric target (regression)",
            "binary": "two classes",
            "multiclass": f"{len(data.class_names)} classes",
        }[task]
        hint = " (pass -O task=classification for a numeric class label)" if task == "regression" else ""
        raise DataError(
            f"the {vertical.name} vertical handles {' and '.join(vertical.tasks)} tasks, but {data.source} has {what}",
            f"use data with a suitable target{hint}",
        )
    return task


def check_objective(vertical: Vertical, task: str, settings: SearchSettings) -> None:
    """A configured objective must be a metric the task's models report."""
    if settings.objective is None:
        return
    allowed = dict.fromkeys([*OBJECTIVES[task], vertical.objective(task)[0]])
    if settings.objective not in allowed:
        raise UsageError(
            f"objective '{settings.objective}' is not reported for {task} tasks", f"use one of: {', '.join(allowed)}"
        )
