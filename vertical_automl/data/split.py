"""Train/validation/test splitting (scikit-learn) and encoding learned on the training split.

Classification splits are stratified; regression splits are random; data
with groups or an order is split by :mod:`.grouped_split` instead.  When
the loader supplied an encoder, it is fitted on the training split only and
then applied to every split, so no statistic leaks from validation or test
data into the model.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils.class_weight import compute_class_weight

from ..errors import DataError
from .dataset import Dataset, DatasetInfo, LabeledData, SplitMethod, check_model_values, validate_labeled
from .grouped_split import check_classes, describe, hold_out, split_keys, strategy

MIN_REGRESSION_EXAMPLES = 20


def _split(
    index: np.ndarray, y: np.ndarray, fraction: float, seed: int, source: str, stratify: bool
) -> tuple[np.ndarray, np.ndarray]:
    try:
        return train_test_split(index, test_size=fraction, stratify=y[index] if stratify else None, random_state=seed)
    except ValueError as error:  # e.g. fewer held-out examples than classes
        raise DataError(
            f"cannot split {len(index)} examples of {len(np.unique(y[index]))} classes from {source} "
            f"so that every split holds every class ({error})",
            "add examples: each class needs a few in train, validation and test",
        ) from error


def _check_class_sizes(data: LabeledData, splits_needed: int) -> None:
    if data.is_regression:
        if len(data) < MIN_REGRESSION_EXAMPLES:
            raise DataError(
                f"{data.source} has {len(data)} rows, too few to train, validate and test a regression",
                f"give at least {MIN_REGRESSION_EXAMPLES} rows",
            )
        return
    counts = data.class_counts()
    name, smallest = min(counts.items(), key=lambda item: item[1])
    if smallest < splits_needed:
        raise DataError(
            f"class '{name}' has {smallest} example(s) in {data.source}, too few to appear in "
            f"each of the {splits_needed} splits (train, validation{', test' if splits_needed == 3 else ''})",
            f"add examples so every class has at least {splits_needed}, or remove class '{name}'",
        )


def task_of(data: LabeledData) -> str:
    """regression for numeric targets, binary for two classes, multiclass for more."""
    if data.is_regression:
        return "regression"
    return "binary" if len(data.class_names) == 2 else "multiclass"


def split_dataset(
    data: LabeledData,
    task: str,
    test_data: LabeledData | None = None,
    validation_fraction: float = 0.2,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> Dataset:
    """Hold out a test split (unless ``test_data`` is given), then a validation split, then encode.

    The test split is never seen by the search or the refit; it only scores
    the exported model.
    """
    validate_labeled(data, "the training data")
    if task == "binary" and len(data.class_names) != 2:
        raise DataError(
            f"a binary task needs exactly two classes, but {data.source} has {len(data.class_names)}",
            "keep two classes in the data",
        )
    stratify = not data.is_regression
    if data.groups is not None or data.order is not None:
        return _split_by_groups_or_time(data, task, test_data, validation_fraction, test_fraction, seed)
    index = np.arange(len(data))
    if test_data is None:
        _check_class_sizes(data, 3)
        index, test_index = _split(index, data.y, test_fraction, seed, data.source, stratify)
        test = replace(
            data.subset(test_index),
            source=f"{'stratified ' if stratify else 'random '}{test_fraction:.0%} held out of {data.source}",
        )
    else:
        _check_test_data(data, test_data)
        test = test_data
    train_index, validation_index = _split(index, data.y, validation_fraction, seed, data.source, stratify)
    dataset = encode_splits(data.subset(train_index), data.subset(validation_index), test, task)
    method = SplitMethod("stratified" if stratify else "random", test_given=test_data is not None)
    return replace(dataset, split=method)


def _check_test_data(data: LabeledData, test_data: LabeledData) -> None:
    _check_class_sizes(data, 2)
    if len(test_data) == 0:
        raise DataError(
            f"the test data ({test_data.source}) holds no examples", "point --test-data at a non-empty dataset"
        )


def _split_by_groups_or_time(
    data: LabeledData,
    task: str,
    test_data: LabeledData | None,
    validation_fraction: float,
    test_fraction: float,
    seed: int,
) -> Dataset:
    """Hold out whole groups or the latest records (:mod:`.grouped_split`); with ``--test-data``, validation only."""
    keys = split_keys(data)
    stratify = not data.is_regression
    index = np.arange(len(data))
    held: dict[str, np.ndarray] = {}
    if test_data is None:
        _check_class_sizes(data, 3)
        index, held["test"] = hold_out(keys, data.y, index, test_fraction, seed, stratify)
    else:
        _check_test_data(data, test_data)
    train_index, validation_index = hold_out(keys, data.y, index, validation_fraction, seed, stratify)
    if stratify:
        for split, positions in {**held, "train": train_index, "validation": validation_index}.items():
            check_classes(data.y, positions, data.class_names, split, strategy(keys, stratify))
    test = test_data
    if test is None:
        how = describe(keys, test_fraction, stratify)
        test = replace(data.subset(held["test"]), source=f"{how} held out of {data.source}")
    dataset = encode_splits(data.subset(train_index), data.subset(validation_index), test, task)
    method = SplitMethod(
        strategy(keys, stratify),
        test_given=test_data is not None,
        group=keys.group if keys.codes is not None else None,
        order=keys.order if keys.times is not None else None,
    )
    return replace(dataset, split=method)


def encode_splits(train: LabeledData, validation: LabeledData, test: LabeledData, task: str) -> Dataset:
    """Fit the loader's encoder on ``train`` and turn all three splits into model-ready arrays."""
    encoder = train.encoder.fit(train.x) if train.encoder is not None else None

    def encoded(split: LabeledData) -> LabeledData:
        if encoder is None:
            return split
        x = encoder.transform(split.x)
        check_model_values(x, "the encoded data", split.source)
        return replace(split, x=x, encoder=None, input_spec={**split.input_spec, **encoder.spec()})

    train_ready, validation_ready, test_ready = encoded(train), encoded(validation), encoded(test)
    own = encoder.statistics(train_ready.x) if encoder is not None else {}
    statistics = {**input_statistics(train_ready.x), **own}  # the encoder's values win
    class_weights = None
    if task == "regression":
        statistics = {**statistics, "target_mean": float(np.mean(train.y)), "target_std": float(np.std(train.y) or 1.0)}
    else:
        present = np.unique(train.y)
        weights = compute_class_weight("balanced", classes=present, y=train.y)
        class_weights = {int(c): float(w) for c, w in zip(present, weights)}
    info = DatasetInfo(
        task=task,
        input_shape=tuple(int(d) for d in train_ready.x.shape[1:]),
        class_names=train.class_names,
        input_spec=train_ready.input_spec,
        statistics=statistics,
        class_weights=class_weights,
    )
    return Dataset(train_ready, validation_ready, test_ready, info, raw_test=test, encoder=encoder)


def input_statistics(x: object) -> dict[str, list[float]]:
    """``mean``, ``variance``, ``min``, ``max`` of floating model inputs, per last axis over all the others.

    Every builder can then standardise its input (a ``Normalization`` layer)
    whether or not the loader has an encoder; integer inputs (token ids) get
    none, as their numbers are not magnitudes.
    """
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating) or len(x) == 0:
        return {}
    values = x.reshape(-1, 1) if x.ndim == 1 else x.reshape(-1, x.shape[-1])
    values = values.astype(np.float64)
    return {
        "mean": values.mean(axis=0).tolist(),
        "variance": values.var(axis=0).tolist(),
        "min": values.min(axis=0).tolist(),
        "max": values.max(axis=0).tolist(),
    }
