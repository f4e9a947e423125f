"""Held-out splits that keep groups whole and follow time, for data whose records are not independent.

A random split of overlapping windows of one machine run, or of several
visits of one patient, puts near-copies of a test record into training, and
the test score measures recognition instead of prediction.  With
``LabeledData.groups`` each group lands in exactly one split
(scikit-learn's ``StratifiedGroupKFold`` for classes, ``GroupShuffleSplit``
for regression, both seeded).  With ``LabeledData.order`` the split follows
time: the latest records are held out, so the model is scored on a future it
never saw.  With both, whole groups are placed by time; a group's time is its
*first* record, so the held-out groups are the ones that began last (the
newest customers, patients or runs), which is how a model meets them once
deployed.

Time splits ignore the seed (ties keep the records' own order), so they are
the same on every run; group splits depend on the seed only.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from .dataset import LabeledData

MIN_GROUPS = 3  # train, validation, test each need one


@dataclass(frozen=True)
class SplitKeys:
    """What a grouped or time split works from: a code per record's group and a sortable number per record."""

    codes: np.ndarray | None  # int codes 0..n-1, one per record (first appearance first)
    times: np.ndarray | None  # float64 or int64, one per record
    group: str  # the column (or name) the groups came from, for messages
    order: str

    @property
    def group_count(self) -> int:
        return 0 if self.codes is None else int(self.codes.max()) + 1


def split_keys(data: LabeledData) -> SplitKeys:
    """Check ``data.groups`` and ``data.order`` (one value per record, none missing) and turn them into keys."""
    group, order = data.split_by.get("group", "groups"), data.split_by.get("order", "order")
    for name, values in (("groups", data.groups), ("order", data.order)):
        if values is not None and len(values) != len(data):
            raise DataError(
                f"{data.source} has {len(data)} records but {len(values)} {name} values",
                f"give exactly one {name} value per record (LabeledData.{name})",
            )
    codes = times = None
    if data.groups is not None:
        import pandas as pd

        codes, _ = pd.factorize(np.asarray(data.groups, dtype=object))
        _refuse_missing(codes < 0, f"group ('{group}')", data.source)
        if codes.max() + 1 < MIN_GROUPS:
            raise DataError(
                f"{data.source} has {codes.max() + 1} group(s) by '{group}', fewer than the {MIN_GROUPS} splits "
                "(train, validation, test) that each need a group of their own",
                "give data with more groups, or leave out -O group",
            )
    if data.order is not None:
        times = _times(np.asarray(data.order), order, data.source)
    return SplitKeys(codes, times, group, order)


def _times(order: np.ndarray, name: str, source: str) -> np.ndarray:
    """Order values as numbers: datetimes become nanoseconds, numbers stay as they are; NaN and NaT are refused."""
    if order.dtype.kind == "M":
        _refuse_missing(np.isnat(order), f"order ('{name}')", source)
        return order.astype("datetime64[ns]").astype(np.int64)
    if order.dtype.kind in "iub":
        return order.astype(np.int64)
    try:
        times = order.astype(np.float64)
    except (TypeError, ValueError) as error:
        raise DataError(
            f"the order ('{name}') of {source} holds values that are neither numbers nor datetimes",
            "give numbers (a sequence number, a Unix time) or numpy datetime64 values",
        ) from error
    _refuse_missing(np.isnan(times), f"order ('{name}')", source)
    return times


def _refuse_missing(missing: np.ndarray, what: str, source: str) -> None:
    if missing.any():
        where = np.flatnonzero(missing)
        shown = ", ".join(str(i) for i in where[:5]) + (" ..." if len(where) > 5 else "")
        raise DataError(
            f"the {what} of {source} is missing (NaN) for {len(where)} record(s), at positions {shown}",
            "fill in those values or drop those records",
        )


def hold_out(
    keys: SplitKeys, y: np.ndarray, index: np.ndarray, fraction: float, seed: int, stratify: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``index`` into kept and held-out positions: the latest ``fraction`` by time, or whole groups."""
    if keys.times is not None:
        return _latest(keys, index, fraction)
    return _groups(keys, y, index, fraction, seed, stratify)


def _latest(keys: SplitKeys, index: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    times = keys.times[index]
    wanted = min(len(index) - 1, max(1, math.ceil(fraction * len(index))))
    if keys.codes is None:
        ranked = index[np.argsort(times, kind="stable")]
        return np.sort(ranked[:-wanted]), np.sort(ranked[-wanted:])
    present, inverse = np.unique(keys.codes[index], return_inverse=True)
    if len(present) < 2:
        raise _too_few_groups(keys, len(present), 2)
    starts = np.full(len(present), times.max(), dtype=times.dtype)
    np.minimum.at(starts, inverse, times)  # each group's first record
    sizes = np.bincount(inverse)
    latest_first = np.lexsort((-present, -starts))  # latest start first; ties: the group seen last first
    taken = np.searchsorted(np.cumsum(sizes[latest_first]), wanted) + 1
    held = np.isin(inverse, latest_first[: min(taken, len(present) - 1)])
    return index[~held], index[held]


def _groups(
    keys: SplitKeys, y: np.ndarray, index: np.ndarray, fraction: float, seed: int, stratify: bool
) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold

    codes = keys.codes[index]
    present = len(np.unique(codes))
    if stratify:
        folds = group_folds(fraction)
        if present < folds:
            raise _too_few_groups(keys, present, folds)
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        with warnings.catch_warnings():  # "least populated class" warnings: missing classes are checked after
            warnings.simplefilter("ignore", UserWarning)
            kept, held = next(splitter.split(index, y[index], codes))
    else:
        if present < 2:
            raise _too_few_groups(keys, present, 2)
        splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
        kept, held = next(splitter.split(index, groups=codes))
    return index[kept], index[held]


def group_folds(fraction: float) -> int:
    """How many stratified group folds hold out about ``fraction``: one fold of ``round(1 / fraction)``."""
    return max(2, round(1 / fraction))


def _too_few_groups(keys: SplitKeys, present: int, needed: int) -> DataError:
    return DataError(
        f"only {present} group(s) by '{keys.group}' are left to split, but holding out whole groups needs "
        f"at least {needed}",
        "give data with more groups, hold out a larger fraction, or give --test-data",
    )


def check_classes(y: np.ndarray, index: np.ndarray, class_names: tuple[str, ...], split: str, way: str) -> None:
    """A split without some class cannot train on it or score it: say which class and split, and what to do."""
    counts = np.bincount(y[index], minlength=len(class_names))
    missing = [name for name, count in zip(class_names, counts) if count == 0]
    if missing:
        raise DataError(
            f"the {split} split holds no example of class '{missing[0]}' once split by {way}",
            f"add examples of class '{missing[0]}' in more groups or at more times, give --test-data, "
            "or leave out -O group / -O order",
        )


def describe(keys: SplitKeys, fraction: float, stratify: bool) -> str:
    """How a held-out split was made, in the words of its ``source`` ("latest 20% by 'date' held out of ...")."""
    if keys.times is not None and keys.codes is not None:
        return f"latest {fraction:.0%} by '{keys.order}' (whole groups by '{keys.group}', each at its first record)"
    if keys.times is not None:
        return f"latest {fraction:.0%} by '{keys.order}'"
    if stratify:
        return f"stratified {1 / group_folds(fraction):.0%} in whole groups by '{keys.group}'"
    return f"{fraction:.0%} of groups by '{keys.group}'"


def strategy(keys: SplitKeys, stratify: bool) -> str:
    """The split's strategy, one word or two, for the report's ``split`` entry."""
    if keys.times is not None:
        return "time, whole groups" if keys.codes is not None else "time"
    return "stratified groups" if stratify else "random groups"
