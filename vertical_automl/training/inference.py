"""A model's outputs during training (each epoch's validation pass), without ``Model.predict``'s overhead.

A trial predicts its validation rows (or, cross-validated, every row through
every fold model) at every epoch end, to score the epoch exactly.
``Model.predict`` builds a data loader and a callback list and runs
``Layer.__call__`` on every layer each time; on small models that costs as much
as the epoch's training.  :func:`predict` runs the same graph as the training
step (:func:`.graph.forward`, inference mode, no gradients) on tensors kept on
the model's device, and falls back to ``Model.predict`` for a model the graph
run does not cover (or with ``VAUTOML_TRAINING_STEP=fit``).  It is for the search only: a finished run predicts through
``vertical_automl.predictor``, which imports no training code.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from . import graph
from .loop import as_tensors, rows_of
from .step import keras_chosen, numeric_arrays


def predict(model: keras.Model, x: Any, batch_size: int) -> Any:
    """``model.predict(x, batch_size=batch_size)``: NumPy arrays in the model's output structure."""
    if keras_chosen() or graph.unsupported(model) is not None or not numeric_arrays(x):
        return model.predict(x, batch_size=batch_size, verbose=0)
    import torch

    device = model.weights[0].value.device if model.weights else torch.device("cpu")
    rows = len(keras.tree.flatten(x)[0])
    parts, plans = [], {}
    with torch.no_grad():
        for start in range(0, rows, batch_size):
            output = graph.forward(
                model, as_tensors(rows_of(x, slice(start, start + batch_size)), device), training=False, plans=plans
            )
            parts.append(keras.tree.map_structure(lambda tensor: tensor.detach().cpu().numpy(), output))
    return keras.tree.map_structure(lambda *pieces: np.concatenate(pieces), *parts)
