"""The training loop trials, folds and refits use: Keras's ``fit`` semantics at a fraction of its per-step cost.

On the torch backend ``Model.fit`` spends more time per step than a small
table model's arithmetic (measured on German credit's default model, batch 64:
8,572 samples/s): callbacks and ``pythonify_logs`` at every batch, a
``DataLoader`` re-indexing NumPy arrays, and ``Layer.__call__`` on every layer.
:func:`fit` keeps what the result depends on and drops the rest:

* kept exactly: the model's own variables, its compiled loss with its loss
  weights and sample weights, ``model.losses`` (L1/L2), the compiled optimizer
  (``optimizer.apply``: clipping, weight decay, the learning rate a callback
  sets), training-mode layers (dropout, batch-normalisation statistics),
  every callback at the epoch level (early stopping, the checkpoint, the CSV
  log, KerasTuner's reporting, the deadline) and the batch-level hooks of the
  callbacks that define them (the learning-rate schedule, Ctrl-C);
* done once per epoch instead of every step: the training loss (summed on
  the device, read once) and the validation metrics (``Model.evaluate``);
* done once per call: the arrays moved to the model's device, indexed there.

Batch-level callbacks get no logs: a non-finite loss is caught at the epoch
end.  Any model or argument the loop does not cover goes to ``Model.fit``
instead, and the reason is kept in ``history.params["training_step"]`` for the
trial's log (:data:`STEP_KEY`).
"""

from __future__ import annotations

import os
from functools import partial
from typing import Any

import keras
import numpy as np

from . import devices, graph
from .loop import STEP_KEY, Loop
from .shared import SharedLoop

__all__ = ["STEP_KEY", "fit", "keras_chosen", "numeric_arrays", "why_not"]

CHOICE_VARIABLE = "VAUTOML_TRAINING_STEP"  # "fit": every model trains with Model.fit (an escape hatch, and the A/B)
HANDLED = frozenset({"batch_size", "epochs", "verbose", "callbacks", "validation_data", "sample_weight", "shuffle"})


def fit(
    model: keras.Model,
    x: Any,
    y: Any,
    *,
    batch_size: int = 32,
    epochs: int = 1,
    verbose: int = 0,
    callbacks: list[keras.callbacks.Callback] | None = None,
    validation_data: tuple[Any, Any] | None = None,
    sample_weight: Any = None,
    shuffle: bool = True,
    **others: Any,
) -> keras.callbacks.History:
    """Train ``model`` as ``model.fit`` with these arguments would; returns the same ``History``."""
    reason = why_not(model, x, y, sample_weight, validation_data, others)
    if reason is not None:
        history = model.fit(
            x,
            y,
            batch_size=batch_size,
            epochs=epochs,
            verbose=verbose,
            callbacks=callbacks,
            validation_data=validation_data,
            sample_weight=sample_weight,
            shuffle=shuffle,
            **others,
        )
        history.params[STEP_KEY] = f"keras fit: {reason}"
        return history
    group = devices.current()
    loop = Loop if group is None else partial(SharedLoop, group)
    return loop(model, batch_size, verbose, callbacks or []).run(x, y, sample_weight, epochs, validation_data, shuffle)


def why_not(model: keras.Model, x: Any, y: Any, sample_weight: Any, validation_data: Any, others: dict) -> str | None:
    """Why :func:`fit` hands this call to ``Model.fit``, or ``None`` when its own loop covers it."""
    if keras_chosen():
        return f"{CHOICE_VARIABLE}=fit"
    if others.keys() - HANDLED:
        return f"fit arguments it does not cover: {', '.join(sorted(others.keys() - HANDLED))}"
    if not model.compiled or model.optimizer is None:
        return "the model is not compiled with an optimizer"
    if type(model).train_step is not keras.Model.train_step:
        return f"{type(model).__name__} defines its own train_step"
    for name, data in (("x", x), ("y", y), ("sample_weight", sample_weight), ("validation_data", validation_data)):
        if not numeric_arrays(data):
            return f"{name} is not numeric NumPy arrays"
    return graph.unsupported(model)


def keras_chosen() -> bool:
    """Whether the user sent every model to Keras's own ``fit`` and ``predict`` (``VAUTOML_TRAINING_STEP=fit``)."""
    return os.environ.get(CHOICE_VARIABLE, "").strip().lower() == "fit"


def numeric_arrays(data: Any) -> bool:
    """Whether every leaf of ``data`` is a numeric NumPy array (``None``, no data, counts as such)."""
    leaves = [] if data is None else keras.tree.flatten(data)
    return all(isinstance(leaf, np.ndarray) and leaf.dtype.kind in "biuf" for leaf in leaves)
