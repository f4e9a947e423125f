"""Concurrent requests gathered into one model call, on the server's one inference thread.

A model scores 32 rows in about the time it scores one, and two torch calls
at once on a small machine only fight over its cores.  So every model call
of a server happens on one thread, and each call takes every queued request
of its model (up to ``max_batch_rows``); results are split back per request.

Waiting costs latency, so the thread waits only for requests already on
their way: a handler takes a :class:`Ticket` before it parses and encodes
its body, and while tickets are out for the model whose request is next,
the thread waits for them up to ``max_wait`` after that request arrived.
A lone client never waits; 32 clients share a few model calls.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from .runtime import ModelRuntime

log = logging.getLogger(__name__)

DEFAULT_MAX_BATCH_ROWS = 64
DEFAULT_MAX_WAIT_MS = 5.0


@dataclass(frozen=True)
class BatchSettings:
    max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS
    max_wait_s: float = DEFAULT_MAX_WAIT_MS / 1000


@dataclass(frozen=True)
class BatchDone:
    """One model call, as metrics and the drift monitor see it: its model, requests, rows and real inputs."""

    model: str
    requests: int
    x: np.ndarray  # only the requests' rows (no warm-up rows), for the drift monitor


@dataclass
class _Job:
    model: str
    x: np.ndarray
    future: Future[np.ndarray]
    warm_up: bool
    arrived: float = field(default_factory=time.monotonic)


class ModelError(Exception):
    """The model failed or gave non-finite scores; the app answers 500 and logs it."""


class Batcher:
    """The inference thread, its queue per model, and the tickets of requests on their way."""

    def __init__(
        self,
        runtimes: dict[str, ModelRuntime],
        settings: BatchSettings,
        on_batch: Callable[[BatchDone], None],
    ) -> None:
        self._runtimes = runtimes
        self._settings = settings
        self._on_batch = on_batch
        self._queues: dict[str, deque[_Job]] = {name: deque() for name in runtimes}
        self._coming = dict.fromkeys(runtimes, 0)
        self._condition = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, name="vautoml-inference", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Score what is queued, then end the thread (after the server stopped taking requests)."""
        with self._condition:
            self._stopping = True
            self._condition.notify()
        self._thread.join()

    def ticket(self, model: str) -> Ticket:
        """Announce a request for ``model`` that will be submitted soon (see the module docstring)."""
        with self._condition:
            self._coming[model] += 1
        return Ticket(self, model)

    def _submit(self, model: str, x: np.ndarray, warm_up: bool, announced: bool) -> Future[np.ndarray]:
        future: Future[np.ndarray] = Future()
        with self._condition:
            if self._stopping:
                raise RuntimeError("the inference thread has stopped")
            if announced:
                self._coming[model] -= 1
            self._queues[model].append(_Job(model, x, future, warm_up))
            self._condition.notify()
        return future

    def warm_up(self, model: str, x: np.ndarray) -> Future[np.ndarray]:
        """Score example rows through the same queue and thread as requests, without counting them as traffic."""
        return self._submit(model, x, warm_up=True, announced=False)

    def _withdraw(self, model: str) -> None:
        with self._condition:
            self._coming[model] -= 1
            self._condition.notify()

    def _serve(self) -> None:
        while True:
            jobs = self._next_batch()
            if jobs is None:
                return
            self._score(jobs)

    def _next_batch(self) -> list[_Job] | None:
        """The jobs of the model whose oldest request waited longest, once no more are worth waiting for."""
        settings = self._settings
        with self._condition:
            while not self._stopping and not any(self._queues.values()):
                self._condition.wait()
            waiting = [queue for queue in self._queues.values() if queue]
            if not waiting:
                return None  # stopping, and nothing left to score
            queue = min(waiting, key=lambda q: q[0].arrived)
            model = queue[0].model
            deadline = queue[0].arrived + settings.max_wait_s
            while (
                not self._stopping
                and self._coming[model] > 0
                and sum(len(job.x) for job in queue) < settings.max_batch_rows
                and (remaining := deadline - time.monotonic()) > 0
            ):
                self._condition.wait(remaining)
            jobs = [queue.popleft()]
            rows = len(jobs[0].x)
            while queue and rows + len(queue[0].x) <= settings.max_batch_rows:
                rows += len(queue[0].x)
                jobs.append(queue.popleft())
            return jobs

    def _score(self, jobs: list[_Job]) -> None:
        runtime = self._runtimes[jobs[0].model]
        x = jobs[0].x if len(jobs) == 1 else np.concatenate([job.x for job in jobs])
        try:
            scores = runtime.scores(x)
            if not np.isfinite(scores).all():
                raise ModelError(f"model {runtime.name} gave non-finite scores (NaN or infinity)")
        except Exception as error:
            log.exception("model %s failed on a batch of %d rows", runtime.name, len(x))
            failure = error if isinstance(error, ModelError) else ModelError(f"model {runtime.name} failed: {error}")
            for job in jobs:
                job.future.set_exception(failure)
            return
        start = 0
        for job in jobs:
            job.future.set_result(scores[start : start + len(job.x)])
            start += len(job.x)
        real = [job for job in jobs if not job.warm_up]
        if real:
            rows = x if len(real) == len(jobs) else np.concatenate([job.x for job in real])
            try:
                self._on_batch(BatchDone(runtime.name, len(real), rows))
            except Exception:  # metrics or drift failing must not fail predictions
                log.exception("recording a batch of model %s failed", runtime.name)


class Ticket:
    """A request on its way to the batcher: submit its rows once, or leave without (the ``with`` block ends)."""

    def __init__(self, batcher: Batcher, model: str) -> None:
        self._batcher = batcher
        self._model = model
        self._open = True

    def submit(self, x: np.ndarray) -> Future[np.ndarray]:
        future = self._batcher._submit(self._model, x, warm_up=False, announced=True)
        self._open = False
        return future

    def __enter__(self) -> Ticket:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._open:
            self._open = False
            self._batcher._withdraw(self._model)
