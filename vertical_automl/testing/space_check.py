"""Check (c): the vertical's search space builds distinct compiled models whose output fits the task.

A builder that ignores its hyperparameters searches nothing, however many
trials run; one whose head does not match the task fails only after the
first trial has trained.  Both show up here in seconds, before any search.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..data.dataset import Dataset
from .failure import Failure
from .runs import Shared
from .subject import Subject

POINTS = 4  # random points of the space built, besides its defaults
ROWS = 8  # rows each model predicts to show its output fits the task


def check_space(subject: Subject, shared: Shared) -> None:
    """The defaults and ``POINTS`` random points each build a compiled model; at least two models differ."""
    import keras
    import keras_tuner as kt

    vertical, _ = subject.vertical()
    dataset = shared.dataset()
    known = kt.HyperParameters()  # the space found so far: what KerasTuner's oracles sample from
    signatures = {}
    for point in range(POINTS + 1):
        hp = kt.HyperParameters()
        if point:  # point 0 is the defaults, which also declare the space
            for index, parameter in enumerate(known.space):
                hp.merge([parameter])
                if hp.is_active(parameter):
                    hp.values[parameter.name] = parameter.random_sample(subject.seed + 1000 * point + index)
        keras.utils.clear_session()
        model = built(vertical.build_model, hp, dataset)
        known.merge(hp.space)
        check_output(model, dataset, hp.values)
        signatures.setdefault(signature(model), hp.values)
    if len(signatures) < 2:
        raise Failure(
            f"{POINTS + 1} points of the search space ({len(known.space)} hyperparameters: "
            f"{', '.join(p.name for p in known.space) or 'none'}) all built the same model",
            "let the hyperparameters decide the model (use the space, blocks and heads helpers or Dimension.value(hp))",
        )


def built(build_model: Any, hp: Any, dataset: Dataset) -> Any:
    from .. import space
    from ..search_engine.hypermodel import check_built

    with space.using(space.SpaceConfig()):
        model = build_model(hp, dataset.info)
    try:
        check_built(model)
    except TypeError as error:
        raise Failure(f"{error} (hyperparameters {hp.values})", "return model.compile(...)'d keras.Model") from None
    return model


def check_output(model: Any, dataset: Dataset, values: dict[str, Any]) -> None:
    """Scores shaped for the task: a probability per class that sums to 1, or one finite value per row."""
    from .. import heads
    from ..scoring import scores_from_output

    info = dataset.info
    x = dataset.train.x[:ROWS]
    scores = scores_from_output(model.predict(x, verbose=0), info.task, heads.has_members(model))
    expected = (len(x),) if info.task == "regression" else (len(x), info.num_classes)
    fix = "end the model with heads.output(x, info) (or heads.member_output) and compile it with heads.compile_model"
    if scores.shape != expected:
        raise Failure(
            f"the model built for {values} outputs scores shaped {scores.shape} for a {info.task} task "
            f"({expected} expected)",
            fix,
        )
    if not np.isfinite(scores).all():
        raise Failure(f"the model built for {values} outputs NaN or infinite values on the sample", fix)
    if info.task != "regression" and not (
        (scores >= -1e-6).all() and (scores <= 1 + 1e-6).all() and np.allclose(scores.sum(axis=1), 1, atol=1e-4)
    ):
        raise Failure(f"the model built for {values} outputs values that are not class probabilities", fix)


def signature(model: Any) -> str:
    """The model's architecture and optimizer as text, without the names Keras numbers afresh in every build."""
    layers = [(type(layer).__name__, _nameless(layer.get_config())) for layer in model.layers]
    optimizer = _nameless(model.optimizer.get_config()) if model.optimizer is not None else None
    return json.dumps([layers, optimizer, model.count_params()], sort_keys=True, default=str)


def _nameless(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _nameless(v) for k, v in value.items() if k not in ("name", "inbound_nodes")}
    if isinstance(value, (list, tuple)):
        return [_nameless(v) for v in value]
    return value
