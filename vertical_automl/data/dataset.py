"""Containers for labelled data and its train/validation/test split.

Loaders return :class:`LabeledData`: every example, its target (a class
index into ``class_names``, or a number for regression), ``input_spec`` (the
plain-JSON description of the raw input) and, for inputs that need statistics
learned from data (category lists, a vocabulary), an unfitted
:class:`~vertical_automl.data.encoding.Encoder`.  The core fits that encoder
on the training split only and turns every split into model-ready arrays;
its JSON description travels into ``preprocessing.json`` so a downstream app
can repeat the same steps without vautoml.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    from .encoding import Encoder

TASKS = ("binary", "multiclass", "regression")
FLOAT32_MAX = float(np.finfo(np.float32).max)
# Regression losses square the error in float32: a target past ~1.8e19 makes them infinite. Kept well below that.
MAX_REGRESSION_TARGET = 1e15


@dataclass(frozen=True)
class LabeledData:
    """Examples ``x`` with targets ``y``.

    ``x`` is an array (images), a pandas DataFrame of raw strings (tables) or
    an array of strings (text).  ``y`` holds class indices into
    ``class_names``, or float targets when ``class_names`` is empty
    (regression).  ``target`` names what ``y`` is, for reports.

    ``groups`` (one id per record) keeps records that belong together (the
    windows of one machine run, the visits of one patient, the loans of one
    customer) in one split, so no score is earned by recognising a group seen
    in training.  ``order`` (one sortable value per record: a time, a
    sequence number) makes the split follow time: the latest records are the
    test split, the ones before them validation.  ``split_by`` names the
    columns they came from, for reports.
    """

    x: Any
    y: np.ndarray
    class_names: tuple[str, ...]
    input_spec: dict[str, Any]
    source: str
    encoder: Encoder | None = None
    target: str = "label"
    groups: np.ndarray | None = None
    order: np.ndarray | None = None
    split_by: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.y)

    @property
    def is_regression(self) -> bool:
        return not self.class_names

    def class_counts(self) -> dict[str, int]:
        if self.is_regression:
            return {}
        counts = np.bincount(self.y, minlength=len(self.class_names))
        return {name: int(n) for name, n in zip(self.class_names, counts)}

    def fingerprint(self) -> str:
        """sha256 of the examples and targets (and groups and order, when set): the same data gives the same id."""
        digest = hashlib.sha256()
        for array in (_fingerprint_array(self.x), np.asarray(self.y)):
            contiguous = np.ascontiguousarray(array)
            digest.update(str((contiguous.dtype.str, contiguous.shape)).encode())
            digest.update(contiguous.tobytes())
        digest.update("\n".join(self.class_names).encode())
        for name, values in (("groups", self.groups), ("order", self.order)):
            if values is not None:  # only when set, so data without them keeps the fingerprint it always had
                digest.update(f"\x1d{name}\x1d".encode())
                digest.update(np.ascontiguousarray(_fingerprint_array(values)).tobytes())
        return digest.hexdigest()

    def subset(self, index: np.ndarray) -> LabeledData:
        x = self.x.iloc[index].reset_index(drop=True) if hasattr(self.x, "iloc") else self.x[index]
        groups = self.groups[index] if self.groups is not None else None
        order = self.order[index] if self.order is not None else None
        return replace(self, x=x, y=self.y[index], groups=groups, order=order)


def _fingerprint_array(x: Any) -> np.ndarray:
    """A hashable array for any kind of ``x`` (tables and text become their cell text)."""
    if hasattr(x, "iloc"):
        return np.frombuffer(
            ("\x1f".join(map(str, x.columns)) + "\x1e" + x.to_csv(index=False)).encode(), dtype=np.uint8
        )
    x = np.asarray(x)
    if x.dtype == object and any(isinstance(item, np.ndarray) for item in x.flat):
        # Ragged arrays (windows of several lengths): str() of an array over 1000 values abbreviates it, so two
        # datasets differing in one reading would look the same; each element's bytes are hashed instead.
        digest = hashlib.sha256()
        for item in x.flat:
            item = np.ascontiguousarray(item)
            digest.update(str((item.dtype.str, item.shape)).encode())
            digest.update(item.tobytes())
        return np.frombuffer(digest.digest(), dtype=np.uint8)
    if x.dtype.kind in "OU":
        return np.frombuffer("\x1e".join(map(str, x.tolist())).encode(), dtype=np.uint8)
    return x


@dataclass(frozen=True)
class DatasetInfo:
    """What a model builder needs to know about the data, and nothing more.

    ``statistics`` carries numbers learned on the training split that belong
    inside the model (feature means and variances for a ``Normalization``
    layer, the target's mean and spread for a regression head);
    ``class_weights`` balances the classes when a trial asks for it.

    Keys a builder can rely on, whatever the loader:

    * floating-point inputs: ``mean``, ``variance``, ``min`` and ``max``,
      lists with one float per entry of the last axis (a feature, a channel),
      taken over every other axis of the encoded training split; an encoder's
      own values for these keys win (integer inputs such as token ids get none);
    * regression: ``target_mean`` and ``target_std`` (never 0).

    Everything else comes from the loader's encoder (``Encoder.statistics``).
    """

    task: str
    input_shape: tuple[int, ...]
    class_names: tuple[str, ...]
    input_spec: dict[str, Any] = field(default_factory=dict)
    statistics: dict[str, Any] = field(default_factory=dict)
    class_weights: dict[int, float] | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


@dataclass(frozen=True)
class SplitMethod:
    """How the validation and test splits were held out, so a report says whether its scores can leak.

    ``strategy`` is ``stratified`` or ``random`` (records independent),
    ``stratified groups`` / ``random groups`` (each group of ``group`` in one
    split), ``time`` or ``time, whole groups`` (the latest by ``order`` held
    out).  ``test_given``: the test split is the user's ``--test-data``, so
    the strategy made the validation split only.
    """

    strategy: str
    test_given: bool = False
    group: str | None = None
    order: str | None = None


@dataclass(frozen=True)
class Dataset:
    """Model-ready train, validation and test splits plus what produced them.

    ``raw_test`` is the test split as loaded (before encoding), for reports
    that perturb raw columns; ``encoder`` is the fitted encoder, or ``None``
    when the loader's arrays go into the model as they are.
    """

    train: LabeledData
    validation: LabeledData
    test: LabeledData
    info: DatasetInfo
    raw_test: LabeledData | None = None
    encoder: Encoder | None = None
    split: SplitMethod = SplitMethod("stratified")

    def train_and_validation(self) -> LabeledData:
        """Both fitting splits together, for the final refit of the best model."""
        train, validation = self.train, self.validation
        return replace(
            train,
            x=np.concatenate([train.x, validation.x]),
            y=np.concatenate([train.y, validation.y]),
            groups=_joined(train.groups, validation.groups),
            order=_joined(train.order, validation.order),
        )

    def selection_data(self, cross_validated: bool) -> LabeledData:
        """The rows candidates are judged on: the validation split, or, cross-validated, every train+validation row."""
        return self.train_and_validation() if cross_validated else self.validation

    def summary(self) -> dict[str, Any]:
        splits = {}
        for name, split in (("train", self.train), ("validation", self.validation), ("test", self.test)):
            entry: dict[str, Any] = {"examples": len(split)}
            if split.is_regression:
                entry["target_mean"], entry["target_std"] = float(np.mean(split.y)), float(np.std(split.y))
            else:
                entry["class_counts"] = split.class_counts()
            splits[name] = entry
        return {
            "source": self.train.source,
            "test_source": self.test.source,
            "target": self.train.target,
            "input_shape": list(self.info.input_shape),
            "classes": list(self.info.class_names),
            "splits": splits,
            "split": self.split_summary(),
        }

    def split_summary(self) -> dict[str, Any]:
        """The report's ``split`` entry: the strategy, the columns it followed and the groups in each split."""
        method = self.split
        entry: dict[str, Any] = {"strategy": method.strategy, "test": "given" if method.test_given else "held out"}
        if method.group is not None:
            entry["group"] = method.group
            entry["groups"] = {
                name: len(set(split.groups.tolist()))
                for name, split in (("train", self.train), ("validation", self.validation), ("test", self.test))
                if split.groups is not None
            }
        if method.order is not None:
            entry["order"] = method.order
        return entry


def _joined(first: np.ndarray | None, second: np.ndarray | None) -> np.ndarray | None:
    return np.concatenate([first, second]) if first is not None and second is not None else None


def validate_labeled(data: LabeledData, what: str = "the data") -> None:
    """Reject data no model can learn from, with a message that says what to change."""
    if len(data) == 0:
        raise DataError(f"{what} ({data.source}) holds no examples", "point --data at a non-empty dataset")
    if data.is_regression:
        if not np.isfinite(data.y).all():
            raise DataError(
                f"{what} ({data.source}) has NaN or infinite target values", "remove those rows or repair their target"
            )
        if np.ptp(data.y) == 0:
            raise DataError(
                f"the target of {what} ({data.source}) has one value for every row",
                "a regression needs a target that varies",
            )
        largest = float(np.max(np.abs(data.y)))
        if largest > MAX_REGRESSION_TARGET:
            raise DataError(
                f"the target of {what} ({data.source}) reaches {largest:.3g}, more than float32 training handles "
                f"(at most {MAX_REGRESSION_TARGET:.0e}, so that squared errors stay finite)",
                "rescale the target (e.g. to thousands or millions of its unit, or its logarithm) and search again",
            )
    else:
        present = np.unique(data.y)
        if len(present) < 2:
            only = data.class_names[int(present[0])]
            raise DataError(
                f"{what} ({data.source}) has only one class ('{only}')",
                "a classifier needs examples of at least two classes",
            )
    check_model_values(data.x, what, data.source)


def check_model_values(x: object, what: str, source: str) -> None:
    """Refuse numbers a float32 model cannot carry: NaN, infinities, and magnitudes beyond float32's range.

    Models train in float32, where a finite float64 such as 1e39 becomes
    infinite and every trial's loss becomes NaN.
    """
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        return
    flat = x.reshape(len(x), -1)
    bad = ~np.isfinite(flat)
    if bad.any():
        raise DataError(
            f"{what} ({source}) contains NaN or infinite values in {int(bad.any(axis=1).sum())} example(s)",
            "remove or repair those examples",
        )
    huge = np.abs(flat) > FLOAT32_MAX
    if huge.any():
        rows = np.flatnonzero(huge.any(axis=1))
        raise DataError(
            f"{what} ({source}) has values beyond float32's range (about 3.4e38) in {len(rows)} example(s), "
            f"e.g. {float(flat[rows[0]][huge[rows[0]]][0]):.3g}",
            "rescale those values (e.g. to other units or a logarithm) or remove those examples",
        )
