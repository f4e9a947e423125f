"""Stratified train/validation/test splitting (scikit-learn), with readable errors."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from sklearn.model_selection import train_test_split

from ..errors import DataError
from .dataset import Dataset, DatasetInfo, LabeledData, validate_labeled


def _stratified(index: np.ndarray, y: np.ndarray, fraction: float, seed: int, source: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        return train_test_split(index, test_size=fraction, stratify=y[index], random_state=seed)
    except ValueError as error:  # e.g. fewer held-out examples than classes
        raise DataError(
            f"cannot split {len(index)} examples of {len(np.unique(y[index]))} classes from {source} so that every split holds every class ({error})",
            "add examples: each class needs a few in train, validation and test",
        ) from error


def _check_class_sizes(data: LabeledData, splits_needed: int) -> None:
    counts = data.class_counts()
    name, smallest = min(counts.items(), key=lambda item: item[1])
    if smallest < splits_needed:
        raise DataError(
            f"class '{name}' has {smallest} example(s) in {data.source}, too few to appear in "
            f"each of the {splits_needed} splits (train, validation{', test' if splits_needed == 3 else ''})",
            f"add examples so every class has at least {splits_needed}, or remove class '{name}'",
        )


def split_dataset(
    data: LabeledData,
    task: str,
    test_data: LabeledData | None = None,
    validation_fraction: float = 0.2,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> Dataset:
    """Hold out a stratified test split (unless ``test_data`` is given), then a validation split.

    The test split is never seen by the search or the refit; it only scores
    the exported model.
    """
    validate_labeled(data, "the training data")
    if task == "binary" and len(data.class_names) != 2:
        raise DataError(f"a binary task needs exactly two classes, but {data.source} has {len(data.class_names)}", "keep two classes in the data")
    index = np.arange(len(data))
    if test_data is None:
        _check_class_sizes(data, 3)
        index, test_index = _stratified(index, data.y, test_fraction, seed, data.source)
        test = replace(data.subset(test_index), source=f"stratified {test_fraction:.0%} held out of {data.source}")
    else:
        _check_class_sizes(data, 2)
        if len(test_data) == 0:
            raise DataError(f"the test data ({test_data.source}) holds no examples", "point --test-data at a non-empty dataset")
        test = test_data
    train_index, validation_index = _stratified(index, data.y, validation_fraction, seed, data.source)
    info = DatasetInfo(
        task=task,
        input_shape=tuple(int(d) for d in data.x.shape[1:]),
        class_names=data.class_names,
        input_spec=data.input_spec,
    )
    return Dataset(data.subset(train_index), data.subset(validation_index), test, info)
