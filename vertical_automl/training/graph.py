"""A Keras functional model's forward pass without ``Layer.__call__``: each layer's own ``call``, in graph order.

``Layer.__call__`` costs 50-100 µs a layer on the torch backend (input
conversion, autocasting, masks, name scopes, the call context: keras-team/keras
#22674), which on a small table model is more than the arithmetic: measured on
German credit's default model, batch 64, 2 threads, a forward pass took 3.75 ms
through ``__call__`` and 1.7 ms calling each layer's ``call`` (forward and
backward 4.5 -> 2.3 ms).  The layers and their weights stay Keras's own, so the
model trains, saves and loads exactly as before; only the bookkeeping is skipped,
and :func:`unsupported` refuses every model where that bookkeeping does real work
(masks, activity regularizers, mixed precision, layers not built yet).

A layer made of other layers (an RNN, ``Bidirectional``, ``MultiHeadAttention``)
is still called through ``__call__``, which hands the training flag down to
its sublayers, and so is any layer class that is not Keras's own (a plugin's
layer may ``add_loss`` in ``call``: ``__call__`` clears those losses each step,
a direct ``call`` would pile them up); a nested functional model is walked the
same way as the outer one.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import keras

from .lowered import lowered

MASKING_LAYERS = (keras.layers.Masking,)
Plans = dict  # (id of a model, training flag) -> {operation: callable}; one per fit or predict call


def unsupported(model: keras.Model) -> str | None:
    """Why :func:`forward` cannot run ``model`` exactly as Keras would, or ``None`` when it can."""
    if keras.backend.backend() != "torch":
        return f"the {keras.backend.backend()} backend (the step runs on torch)"
    if not _is_functional(model):
        return f"{type(model).__name__} is not a functional model"
    for layer in _layers(model):
        name = f"layer {layer.name!r} ({type(layer).__name__})"
        if not layer.built:
            return f"{name} is not built"
        if getattr(layer, "activity_regularizer", None) is not None:
            return f"{name} has an activity regularizer (added to the loss by Layer.__call__)"
        if isinstance(layer, MASKING_LAYERS) or getattr(layer, "mask_zero", False):
            return f"{name} makes a mask (propagated by Layer.__call__)"
        policy = layer.dtype_policy
        if policy.compute_dtype != policy.variable_dtype:
            return f"{name} computes in {policy.compute_dtype} (mixed precision is cast by Layer.__call__)"
    return None


def forward(model: keras.Model, inputs: Any, training: bool, plans: Plans | None = None) -> Any:
    """``model(inputs, training=training)``, calling each layer's ``call`` directly (see the module docstring).

    ``plans`` keeps what runs each layer between calls; the caller owns it (a
    global cache keyed by model kept nested models alive after their trial).
    """
    table = _callables(model, training, {} if plans is None else plans)
    return model._run_through_graph(model._standardize_inputs(inputs), operation_fn=table.__getitem__)


def _callables(model: keras.Model, training: bool, plans: Plans) -> dict[Any, Callable[..., Any]]:
    """What runs each operation of ``model``'s graph, made once per model and training flag in ``plans``."""
    key = (id(model), training)
    if key not in plans:
        plans[key] = {op: _callable(op, training, plans) for op in model.operations}
    return plans[key]


def _callable(op: Any, training: bool, plans: Plans) -> Callable[..., Any]:
    if _is_functional(op):
        return lambda *args, **kwargs: forward(op, args[0], training, plans)
    direct = lowered(op, training) if isinstance(op, keras.layers.Layer) else None
    if direct is not None:  # the graph's recorded keyword arguments (training, mask=None) are settled already
        return lambda *args, **kwargs: direct(*args)
    accepts_training = "training" in inspect.signature(op.call).parameters
    if isinstance(op, keras.layers.Layer) and (_sublayers(op) or not _stock(op)):  # see the module docstring
        return (lambda *a, **k: op(*a, **{**k, "training": training})) if accepts_training else op
    if accepts_training:
        return lambda *a, **k: op.call(*a, **{**k, "training": training})  # the graph recorded its own flag
    return op.call


def _layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every layer inside ``model``, nested models and sublayers included."""
    found = []
    for layer in model.layers:
        found.append(layer)
        found.extend(_layers(layer) if _is_functional(layer) else _sublayers(layer))
    return found


def _sublayers(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    return list(layer._flatten_layers(include_self=False, recursive=True))


def _stock(op: Any) -> bool:
    """Whether ``op``'s class is Keras's own, whose ``call`` is known to need nothing from ``__call__``."""
    return type(op).__module__.startswith("keras.")


def _is_functional(op: Any) -> bool:
    return isinstance(op, keras.Model) and hasattr(op, "_run_through_graph") and hasattr(op, "_standardize_inputs")
