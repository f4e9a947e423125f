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

import math
import os
from typing import Any

import keras
import numpy as np

from . import graph

STEP_KEY = "training_step"  # in History.params: "own", or "keras fit: <why>"
CHOICE_VARIABLE = "VAUTOML_TRAINING_STEP"  # "fit": every model trains with Model.fit (an escape hatch, and the A/B)
HANDLED = frozenset({"batch_size", "epochs", "verbose", "callbacks", "validation_data", "sample_weight", "shuffle"})
VALIDATION_BATCH = 512  # rows per validation batch: inference only, so larger than any training batch we search


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
    return _Loop(model, batch_size, verbose, callbacks or []).run(x, y, sample_weight, epochs, validation_data, shuffle)


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


class _Loop:
    """One call of :func:`fit`: the model, its callbacks, and the tensors on the model's device."""

    def __init__(self, model: keras.Model, batch_size: int, verbose: int, callbacks: list) -> None:
        import torch

        self.model, self.batch_size, self.verbose = model, int(batch_size), verbose
        self.callbacks = callbacks
        self.variables = list(model.trainable_variables)
        self.plans: graph.Plans = {}
        self.device = self.variables[0].value.device if self.variables else torch.device("cpu")
        base = keras.callbacks.Callback
        self.batch_begin = [c for c in callbacks if _overrides(c, base, "on_train_batch_begin", "on_batch_begin")]
        self.batch_end = [c for c in callbacks if _overrides(c, base, "on_train_batch_end", "on_batch_end")]

    def run(
        self, x: Any, y: Any, sample_weight: Any, epochs: int, validation_data: Any, shuffle: bool
    ) -> keras.callbacks.History:
        import torch

        model = self.model
        x_t, y_t, w_t = (as_tensors(data, self.device) for data in (x, y, sample_weight))
        rows = len(keras.tree.flatten(x)[0])
        steps = math.ceil(rows / self.batch_size)
        callbacks = keras.callbacks.CallbackList(
            self.callbacks,
            add_history=True,
            add_progbar=self.verbose != 0,
            model=model,
            verbose=self.verbose,
            epochs=epochs,
            steps=steps,
        )
        model.stop_training = False
        callbacks.on_train_begin()
        logs: dict[str, float] = {}
        for epoch in range(epochs):
            callbacks.on_epoch_begin(epoch)
            order = np.random.permutation(rows) if shuffle else np.arange(rows)
            order_t = torch.from_numpy(order).to(self.device)
            total = torch.zeros((), device=self.device)
            for step in range(steps):
                for callback in self.batch_begin:
                    callback.on_train_batch_begin(step, {})
                batch = order_t[step * self.batch_size : (step + 1) * self.batch_size]
                loss = self.step(rows_of(x_t, batch), rows_of(y_t, batch), rows_of(w_t, batch))
                total += loss * len(batch)
                for callback in self.batch_end:
                    callback.on_train_batch_end(step, {})
            logs = {"loss": float(total) / rows}
            if validation_data is not None:
                logs.update(self.validate(*validation_data))
            callbacks.on_epoch_end(epoch, logs)
            if model.stop_training:
                break
        callbacks.on_train_end(logs)
        model.history.params[STEP_KEY] = "own"
        return model.history

    def step(self, x: Any, y: Any, sample_weight: Any) -> Any:
        """One optimizer step on one batch, as ``TorchTrainer.train_step`` takes it; the batch's loss, detached."""
        import torch

        model = self.model
        y_pred = graph.forward(model, x, training=True, plans=self.plans)
        for variable in self.variables:
            variable.value.grad = None
        loss = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
        model.optimizer.scale_loss(loss).backward()
        with torch.no_grad():
            model.optimizer.apply([variable.value.grad for variable in self.variables], self.variables)
        return loss.detach()

    def validate(self, x: Any, y: Any, sample_weight: Any = None) -> dict[str, float]:
        """The compiled loss and metrics on the validation data, named ``val_*`` as ``fit`` names them."""
        batch = max(self.batch_size, VALIDATION_BATCH)
        scores = self.model.evaluate(x, y, sample_weight=sample_weight, batch_size=batch, verbose=0, return_dict=True)
        return {f"val_{name}": float(value) for name, value in scores.items()}


def keras_chosen() -> bool:
    """Whether the user sent every model to Keras's own ``fit`` and ``predict`` (``VAUTOML_TRAINING_STEP=fit``)."""
    return os.environ.get(CHOICE_VARIABLE, "").strip().lower() == "fit"


def numeric_arrays(data: Any) -> bool:
    """Whether every leaf of ``data`` is a numeric NumPy array (``None``, no data, counts as such)."""
    leaves = [] if data is None else keras.tree.flatten(data)
    return all(isinstance(leaf, np.ndarray) and leaf.dtype.kind in "biuf" for leaf in leaves)


def as_tensors(data: Any, device: Any) -> Any:
    """NumPy arrays as tensors on ``device``, floats in float32 (as Keras's data adapters cast them)."""
    import torch

    def convert(array: np.ndarray) -> Any:
        tensor = torch.from_numpy(np.ascontiguousarray(array))
        if tensor.is_floating_point():
            tensor = tensor.to(torch.float32)
        return tensor.to(device)

    return None if data is None else keras.tree.map_structure(convert, data)


def rows_of(data: Any, index: Any) -> Any:
    """The rows ``index`` of every tensor in ``data`` (``None`` stays ``None``)."""
    return None if data is None else keras.tree.map_structure(lambda tensor: tensor[index], data)


def _overrides(callback: keras.callbacks.Callback, base: type, *methods: str) -> bool:
    return any(getattr(type(callback), method) is not getattr(base, method) for method in methods)
