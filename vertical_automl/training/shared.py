"""One model trained by several processes at once (``--devices N``): DistributedDataParallel's algorithm in our loop.

Why not torch's ``DistributedDataParallel`` wrapper: it wraps a module's
``forward``, and our loop runs the functional graph layer by layer
(:mod:`.graph`) on the Keras model's own variables.  What DDP does is kept as
it is: every rank starts from rank 0's weights; each global batch is shared
out (rank r takes rows r, r+N, ...); each rank's gradients, weighted by its
share of the rows, are summed over the ranks in one ``all_reduce`` of a flat
buffer per step (DDP's buckets); every rank then applies the same optimizer
update, so the replicas stay equal.  Losses are means over the batch, so the
summed gradient is the whole batch's: N ranks train as one process would with
the same global batch, up to float rounding (``tests/test_devices.py``).

Rank 0 keeps the model: it alone runs the callbacks (early stopping, the
deadline, checkpoints, logs), validates, and decides when training stops; the
learning rate a callback sets there travels in the same buffer.  Batch
normalisation's moving statistics stay each rank's own (DDP's default does
not synchronise them either): rank 0's, from its share of each batch, are
the ones saved.  A rank whose share of a short last batch is empty runs one
row at weight 0, so every rank's gradients have the same shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import keras

from .devices import DeviceGroup
from .loop import STEP_KEY, Loop, as_tensors, rows_of


@dataclass(frozen=True)
class Rank:
    """A helper's place in the group (rank 0 is the :class:`.devices.DeviceGroup` itself)."""

    rank: int
    size: int


class SharedLoop(Loop):
    """:class:`.loop.Loop` on every rank of a group: rank 0 with the callbacks, the helpers following it."""

    def __init__(self, group: DeviceGroup | Rank, model: keras.Model, batch_size: int, verbose: int, callbacks: list):
        super().__init__(model, batch_size, verbose, callbacks)
        self.group, self.rank, self.size = group, group.rank, group.size
        self.name = f"own, data-parallel on {self.size} devices ({'nccl' if self.device.type == 'cuda' else 'gloo'})"

    def run(
        self, x: Any, y: Any, sample_weight: Any, epochs: int, validation_data: Any, shuffle: bool
    ) -> keras.callbacks.History:
        """Rank 0: hand the helpers this fit, then train it with them; alone, saying why, where they cannot."""
        assert isinstance(self.group, DeviceGroup)
        self.group.fits += 1
        optimizer = self.model.optimizer
        job = {
            "model": keras.saving.serialize_keras_object(self.model),
            "compile": self.model.get_compile_config(),
            "weights": self.model.get_weights(),
            # A second fit of the same model (or a resumed optimizer) goes on from the optimizer's state, not afresh.
            "optimizer": [keras.ops.convert_to_numpy(v) for v in optimizer.variables] if optimizer.built else None,
            "data": (x, y, sample_weight),
            "batch_size": self.batch_size,
            "epochs": epochs,
            "shuffle": shuffle,
            "seed": self.group.fits,
        }
        try:
            self.group.send(job)
            problems = [problem for problem in gather("") if problem]
        except BaseException:
            self.group.abort()
            raise
        if problems:
            history = Loop(self.model, self.batch_size, self.verbose, self.callbacks).run(
                x, y, sample_weight, epochs, validation_data, shuffle
            )
            history.params[STEP_KEY] = f"own, on rank 0 alone: a replica could not be built ({problems[0]})"
            return history
        try:
            return super().run(x, y, sample_weight, epochs, validation_data, shuffle)
        except BaseException:  # the helpers wait at a step this rank will not reach: start a new group next time
            self.group.abort()
            raise

    def follow(self, x: Any, y: Any, sample_weight: Any, epochs: int, shuffle: bool) -> None:
        """A helper's part of the fit: the same epochs and steps as rank 0, with no callbacks and no validation."""
        x_t, y_t, w_t = (as_tensors(data, self.device) for data in (x, y, sample_weight))
        rows = len(keras.tree.flatten(x)[0])
        for _ in range(epochs):
            order = self.epoch_order(rows, shuffle)
            for step in range(math.ceil(rows / self.batch_size)):
                self.step(x_t, y_t, w_t, order[step * self.batch_size : (step + 1) * self.batch_size])
            if self.stops(False):
                return

    def epoch_order(self, rows: int, shuffle: bool) -> Any:
        """Rank 0's order, the same on every rank."""
        import torch
        import torch.distributed as dist

        order = super().epoch_order(rows, shuffle) if self.rank == 0 else torch.empty(rows, dtype=torch.int64)
        order = order.to(self.device)
        dist.broadcast(order, src=0)
        return order

    def stops(self, stop_training: bool) -> bool:
        """Rank 0's decision, the same on every rank."""
        import torch
        import torch.distributed as dist

        flag = torch.tensor([1 if stop_training else 0], dtype=torch.int64, device=self.device)
        dist.broadcast(flag, src=0)
        return bool(flag.item())

    def step(self, x: Any, y: Any, sample_weight: Any, batch: Any) -> Any:
        """This rank's share of the batch, the gradients summed over the ranks, the same update everywhere."""
        import torch
        import torch.distributed as dist

        mine, share = batch[self.rank :: self.size], 0.0
        if len(mine):
            share = len(mine) / len(batch)
        else:
            mine = batch[:1]
        loss = self.backward(rows_of(x, mine), rows_of(y, mine), rows_of(sample_weight, mine), share)
        gradients = self.gradients()
        optimizer = self.model.optimizer
        rate = torch.zeros(1, device=self.device)
        if self.rank == 0:
            rate += keras.ops.convert_to_tensor(optimizer.learning_rate, "float32").reshape(1).to(self.device)
        flat = torch.cat([g.reshape(-1) for g in gradients if g is not None] + [loss.detach().reshape(1), rate])
        dist.all_reduce(flat)
        offset, summed = 0, []
        for gradient in gradients:
            if gradient is None:
                summed.append(None)
                continue
            summed.append(flat[offset : offset + gradient.numel()].view_as(gradient))
            offset += gradient.numel()
        if self.rank != 0 and isinstance(optimizer.learning_rate, keras.Variable):
            optimizer.learning_rate.assign(flat[-1])
        with torch.no_grad():
            optimizer.apply(summed, self.variables)
        return flat[-2]


def gather(problem: str) -> list[str]:
    """Every rank's ``problem`` ("" for none), on every rank."""
    import torch.distributed as dist

    problems: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(problems, problem)
    return [str(p) for p in problems]


def follow_job(job: dict[str, Any], rank: Rank) -> None:
    """A helper trains its replica of rank 0's model through one fit (or says why it cannot build it)."""
    try:
        keras.utils.set_random_seed(int(job["seed"]) * 1009 + rank.rank)  # dropout masks differ by rank and by fit
        model = keras.saving.deserialize_keras_object(job["model"])
        model.compile_from_config(job["compile"])
        model.set_weights(job["weights"])
        if job["optimizer"] is not None:
            model.optimizer.build(model.trainable_variables)
            if len(model.optimizer.variables) != len(job["optimizer"]):
                raise ValueError("the optimizer's state does not match rank 0's")
            for variable, value in zip(model.optimizer.variables, job["optimizer"]):
                variable.assign(value)
        problem = ""
    except Exception as error:
        problem = f"rank {rank.rank}: {type(error).__name__}: {error}"
    if any(gather(problem)):
        return
    x, y, sample_weight = job["data"]
    SharedLoop(rank, model, job["batch_size"], 0, []).follow(x, y, sample_weight, job["epochs"], job["shuffle"])
