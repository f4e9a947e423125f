"""The loop :func:`.step.fit` runs: epochs of optimizer steps on tensors indexed on the model's device.

One process trains here; :class:`.shared.SharedLoop` trains the same loop on
several (``--devices``) by overriding its three hooks: the epoch's row order,
the step, and whether training stops after an epoch.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

from . import graph

STEP_KEY = "training_step"  # in History.params: "own", or "keras fit: <why>"
VALIDATION_BATCH = 512  # rows per validation batch: inference only, so larger than any training batch we search


class Loop:
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
            order_t = self.epoch_order(rows, shuffle)
            total = torch.zeros((), device=self.device)
            for step in range(steps):
                for callback in self.batch_begin:
                    callback.on_train_batch_begin(step, {})
                batch = order_t[step * self.batch_size : (step + 1) * self.batch_size]
                loss = self.step(x_t, y_t, w_t, batch)
                total += loss * len(batch)
                for callback in self.batch_end:
                    callback.on_train_batch_end(step, {})
            logs = {"loss": float(total) / rows}
            if validation_data is not None:
                logs.update(self.validate(*validation_data))
            callbacks.on_epoch_end(epoch, logs)
            if self.stops(model.stop_training):
                break
        callbacks.on_train_end(logs)
        model.history.params[STEP_KEY] = self.name
        return model.history

    name = "own"  # what the trial's log says trained it

    def epoch_order(self, rows: int, shuffle: bool) -> Any:
        """The order the epoch visits the rows in, as a tensor on the device."""
        import torch

        order = np.random.permutation(rows) if shuffle else np.arange(rows)
        return torch.from_numpy(order).to(self.device)

    def stops(self, stop_training: bool) -> bool:
        """Whether training ends after this epoch, as the callbacks decided."""
        return stop_training

    def step(self, x: Any, y: Any, sample_weight: Any, batch: Any) -> Any:
        """One optimizer step on the rows ``batch``, as ``TorchTrainer.train_step`` takes it; its loss, detached."""
        import torch

        loss = self.backward(rows_of(x, batch), rows_of(y, batch), rows_of(sample_weight, batch))
        with torch.no_grad():
            self.model.optimizer.apply(self.gradients(), self.variables)
        return loss.detach()

    def backward(self, x: Any, y: Any, sample_weight: Any, scale: float = 1.0) -> Any:
        """The gradients of the loss on these rows (times ``scale``) into the variables; returns that loss."""
        model = self.model
        y_pred = graph.forward(model, x, training=True, plans=self.plans)
        for variable in self.variables:
            variable.value.grad = None
        loss = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True) * scale
        model.optimizer.scale_loss(loss).backward()
        return loss

    def gradients(self) -> list[Any]:
        """Each trainable variable's gradient, ``None`` where the loss does not reach it (the optimizer skips those)."""
        return [variable.value.grad for variable in self.variables]

    def validate(self, x: Any, y: Any, sample_weight: Any = None) -> dict[str, float]:
        """The compiled loss and metrics on the validation data, named ``val_*`` as ``fit`` names them."""
        batch = max(self.batch_size, VALIDATION_BATCH)
        scores = self.model.evaluate(x, y, sample_weight=sample_weight, batch_size=batch, verbose=0, return_dict=True)
        return {f"val_{name}": float(value) for name, value in scores.items()}


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
