"""Containers for labelled data and its train/validation/test split.

Loaders return :class:`LabeledData`: every example with an integer class
index, the class names those indices stand for, and ``input_spec``, the plain
JSON description of what the model expects (shape, layout, value range, how
raw files were turned into arrays).  The input spec travels unchanged into
``preprocessing.json`` so a downstream app can repeat the same steps.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DataError


@dataclass(frozen=True)
class LabeledData:
    """Examples ``x`` with class indices ``y`` into ``class_names``."""

    x: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]
    input_spec: dict[str, Any]
    source: str

    def __len__(self) -> int:
        return len(self.y)

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.y, minlength=len(self.class_names))
        return {name: int(n) for name, n in zip(self.class_names, counts)}

    def fingerprint(self) -> str:
        """sha256 of the arrays and labels: the same data gives the same id."""
        digest = hashlib.sha256()
        for array in (self.x, self.y):
            contiguous = np.ascontiguousarray(array)
            digest.update(str((contiguous.dtype.str, contiguous.shape)).encode())
            digest.update(contiguous.tobytes())
        digest.update("\n".join(self.class_names).encode())
        return digest.hexdigest()

    def subset(self, index: np.ndarray) -> LabeledData:
        return LabeledData(self.x[index], self.y[index], self.class_names, self.input_spec, self.source)


@dataclass(frozen=True)
class DatasetInfo:
    """What a model builder needs to know about the data, and nothing more."""

    task: str
    input_shape: tuple[int, ...]
    class_names: tuple[str, ...]
    input_spec: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


@dataclass(frozen=True)
class Dataset:
    """Train, validation and test splits plus the info the model builder reads."""

    train: LabeledData
    validation: LabeledData
    test: LabeledData
    info: DatasetInfo

    def train_and_validation(self) -> LabeledData:
        """Both fitting splits together, for the final refit of the best model."""
        return LabeledData(
            np.concatenate([self.train.x, self.validation.x]),
            np.concatenate([self.train.y, self.validation.y]),
            self.train.class_names,
            self.train.input_spec,
            self.train.source,
        )

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.train.source,
            "test_source": self.test.source,
            "input_shape": list(self.info.input_shape),
            "classes": list(self.info.class_names),
            "splits": {
                name: {"examples": len(split), "class_counts": split.class_counts()}
                for name, split in (("train", self.train), ("validation", self.validation), ("test", self.test))
            },
        }


def validate_labeled(data: LabeledData, what: str = "the data") -> None:
    """Reject data no model can learn from, with a message that says what to change."""
    if len(data) == 0:
        raise DataError(f"{what} ({data.source}) holds no examples", "point --data at a non-empty dataset")
    present = np.unique(data.y)
    if len(present) < 2:
        only = data.class_names[int(present[0])]
        raise DataError(
            f"{what} ({data.source}) has only one class ('{only}')",
            "a classifier needs examples of at least two classes",
        )
    if np.issubdtype(data.x.dtype, np.floating) and not np.isfinite(data.x).all():
        bad = int((~np.isfinite(data.x)).reshape(len(data.x), -1).any(axis=1).sum())
        raise DataError(
            f"{what} ({data.source}) contains NaN or infinite values in {bad} example(s)",
            "remove or repair those examples",
        )
