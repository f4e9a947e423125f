"""Which fold each training row belongs to, for cross-validated selection (:mod:`vertical_automl.search_engine.folds`).

Keras-free, beside the other splits, so the run can settle its folds before
any model is built.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def assign_folds(y: np.ndarray, task: str, folds: int, seed: int, groups: np.ndarray | None = None) -> np.ndarray:
    """The fold (0..folds-1) of every row: stratified by class, whole groups kept together, fixed by ``seed``."""
    from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

    rows = np.arange(len(y))
    if groups is not None:
        splitter: Any = (
            GroupKFold(folds, shuffle=True, random_state=seed)
            if task == "regression"
            else StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
        )
        pieces = splitter.split(rows, y, groups)
    elif task == "regression":
        pieces = KFold(folds, shuffle=True, random_state=seed).split(rows)
    else:
        pieces = StratifiedKFold(folds, shuffle=True, random_state=seed).split(rows, y)
    assigned = np.empty(len(y), dtype=np.int64)
    for fold, (_, held_out) in enumerate(pieces):
        assigned[held_out] = fold
    return assigned


def usable_folds(wanted: int, y: np.ndarray, task: str, groups: np.ndarray | None) -> int:
    """``wanted``, or fewer when the rarest class (or the number of groups) cannot fill that many folds.

    A fold without a class would leave its model's out-of-fold scores
    meaningless for it; fewer than 2 folds means one validation split.
    """
    limit = wanted
    if task != "regression":
        limit = min(limit, int(np.bincount(np.asarray(y, dtype=np.int64)).min(initial=len(y))))
    if groups is not None:
        limit = min(limit, len(np.unique(groups)))
    return max(1, limit)
