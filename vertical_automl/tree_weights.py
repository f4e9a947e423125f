"""Fitted trees as the weights of frozen stock layers: Hummingbird's matrix form, checked against the trees.

Any tree ensemble, as tree tables (:data:`Table`), compiles into four
frozen layers (Nakandala et al., OSDI 2020), built in
:func:`vertical_automl.trees.boosted_trees` and ``random_forest``:

1. *select*: ``Dense`` with a one-hot kernel, bias ``-t``: every internal
   node reads its feature less ``t``, the training value nearest its cut (so
   float32 gets the sign of ``x - t`` right for the value it could flip);
2. *compare*: ``EinsumDense`` per node, ``1 + s * (cut - t) - s * (x - t)``
   with ``s = SHARPNESS / width`` and ``ReLU(max_value=1)``: 1 (go left) up
   to the trees' own cut, 0 a thousandth of ``width`` above it, where
   ``width`` is the distance from the cut to the next training value up: the
   trees' rule (float64 ``x <= cut``), in float32, for every value seen or not;
3. *route*: per tree, +1 for each left turn on a leaf's path and -1 for each
   right turn, bias ``rights - depth + 1``, ``ReLU``: 1 at the leaf the row
   reaches, 0 at every other;
4. *sum*: the leaves' values, bias the baseline: the ensemble's raw score
   (a booster's exactly as ``_raw_predict`` gives it).

NumPy only: no Keras here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

SHARPNESS = 1000.0  # a comparison goes from left to right over gap / SHARPNESS past the threshold

# A tree in the form compile_trees reads, whatever fitted it: per node, leaf or not, its children, the feature and
# cut of a split (left when ``x <= cut``), and a leaf's values, one per output.
Table = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def booster_tables(booster: Any, outputs: int) -> tuple[list[Table], np.ndarray]:
    """A fitted HistGradientBoosting's trees (one per output per iteration, in that order) and its baseline score."""
    tables = []
    for per_class in booster._predictors:
        for k, predictor in enumerate(per_class):
            nodes = predictor.nodes
            values = np.zeros((len(nodes), outputs))
            values[:, k] = nodes["value"]
            leaf = nodes["is_leaf"].astype(bool)
            tables.append((leaf, nodes["left"], nodes["right"], nodes["feature_idx"], nodes["num_threshold"], values))
    return tables, np.asarray(booster._baseline_prediction, np.float32).reshape(-1)[:outputs]


def raw_scores(weights: dict[str, list], x: np.ndarray) -> np.ndarray:
    """The compiled layers' raw scores in NumPy (float64): what the Keras layers compute, to check a compilation."""
    select, compare, route, total = (weights[name] for name in ("select", "compare", "route", "sum"))
    left = np.clip((x.astype(np.float64) @ select[0] + select[1]) * compare[0] + compare[1], 0.0, 1.0)
    trees, nodes, _ = route[0].shape
    reached = np.maximum(np.einsum("btn,tnl->btl", left.reshape(len(x), trees, nodes), route[0]) + route[1], 0.0)
    return np.einsum("btl,tlk->bk", reached, total[0]) + total[1]


def compile_trees(
    tables: list[Table], x: np.ndarray, shape: tuple[int, ...], outputs: int, baseline: np.ndarray
) -> dict[str, list]:
    """The weights of the select, compare, route and sum layers for fitted trees (see the module's steps).

    ``x`` is every row the trees saw: each node subtracts one of their
    values next to its cut (:func:`_comparison`; a float32 cut could round
    across a value) and ramps within a thousandth of the distance to the next
    value up, so every seen value falls clear of the transition.  Unused slots (trees that early stopping
    never grew, leaves a tree did not need) add nothing.
    """
    trees, nodes, leaves = shape
    features = x.shape[1]
    select = np.zeros((features, trees * nodes), np.float32)
    threshold = np.zeros(trees * nodes, np.float32)
    scale = np.zeros(trees * nodes, np.float32)
    offset = np.ones(trees * nodes, np.float32)
    route = np.zeros((trees, nodes, leaves), np.float32)
    route_bias = np.full((trees, leaves), -1.0, np.float32)
    values = np.zeros((trees, leaves, outputs), np.float32)
    sorted_columns = [np.unique(x[:, f]).astype(np.float64) for f in range(features)]  # compared as scikit-learn does
    for tree, (leaf, left_child, right_child, feature_of, cut_of, value_of) in enumerate(tables):
        splits = np.flatnonzero(~leaf)
        slots = {int(i): s for s, i in enumerate(splits)}
        for slot, (node, path) in enumerate(_leaves(leaf, left_child, right_child, slots)):
            values[tree, slot] = value_of[node]
            rights = 0
            for split_slot, left in path:
                route[tree, split_slot, slot] = 1.0 if left else -1.0
                rights += not left
            route_bias[tree, slot] = rights - len(path) + 1
        for split_slot, node in enumerate(splits):
            column = tree * nodes + split_slot
            feature, cut = int(feature_of[node]), float(cut_of[node])
            reference, steep = _comparison(sorted_columns[feature], cut)
            select[feature, column] = 1.0
            threshold[column] = reference
            scale[column] = -steep
            offset[column] = 1.0 + steep * (cut - reference)
    return {
        "select": [select, -threshold],
        "compare": [scale, offset],
        "route": [route, route_bias],
        "sum": [values, np.asarray(baseline, np.float32)],
    }


def _comparison(seen: np.ndarray, cut: float) -> tuple[float, float]:
    """The value a node subtracts (a seen one, so float32 keeps every row's side) and the ramp's steepness.

    The ramp ``1 + steep * (cut - x)`` falls from 1 at the cut to 0 at a
    thousandth of ``width`` past it, ``width`` being the distance from the cut
    to the nearest seen value above (rows the booster held out for early
    stopping can sit much nearer the cut than the gap between its own bins).
    It subtracts the nearest seen value below the cut, or the one above when
    that one is nearer: float32 then rounds ``x - reference`` exactly for the
    nearer value, the one whose side a rounding could flip.
    """
    below, above = seen[seen <= cut], seen[seen > cut]
    width = float(above[0]) - cut if len(above) else 1.0
    if not len(below) or (len(above) and width < cut - float(below[-1])):  # ``seen`` is never empty
        return float(above[0]), SHARPNESS / width
    return float(below[-1]), SHARPNESS / width


def _leaves(
    leaf: np.ndarray, left: np.ndarray, right: np.ndarray, slots: dict[int, int]
) -> list[tuple[int, list[tuple[int, bool]]]]:
    """Each leaf's node and its path from the root down: (split slot, went left), ``slots`` being each split's slot."""
    found, stack = [], [(0, [])]
    while stack:
        index, path = stack.pop()
        if leaf[index]:
            found.append((index, path))
            continue
        slot = slots[index]
        stack.append((int(right[index]), [*path, (slot, False)]))
        stack.append((int(left[index]), [*path, (slot, True)]))
    return found
