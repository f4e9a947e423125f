"""A search that runs its trials in several processes: preparing the study, and the workers around the launcher's loop.

:func:`.loop.run_search` calls :meth:`ParallelSearch.prepare` (the study),
then, inside :meth:`ParallelSearch.workers_running` (workers 1..N-1 start
and load while it builds), opens its tuner, :meth:`ParallelSearch.open_search`
(the space and the recipes) and runs its own trials.  Everything after the
trials (ensemble selection, refit, export) is the same as for one process,
on the trials of every worker.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import keras
import keras_tuner as kt

from ..settings import SearchSettings
from .budget import WORKERS_FOLDER, RunClock
from .study import ParallelPlan, worker_name
from .study_oracle import StudyOracle, create_study, set_deadline
from .workers import StudyWorker, WorkerPool, usable_cores


def build_and_release(hypermodel: kt.HyperModel, hp: kt.HyperParameters) -> None:
    """Build a model only to see which hyperparameters it declares, then let it go."""
    hypermodel.build(hp)
    keras.backend.clear_session()


@dataclass(frozen=True)
class ParallelSearch:
    """The run's parallel plan and where the run lives, for the launching process (worker 0, which also exports)."""

    plan: ParallelPlan
    run_id: str
    root: Path
    work: Path
    devices: int = 1  # GPUs (or CPU processes) each worker trains one model on (--devices)

    def prepare(self, settings: SearchSettings, direction: str, clock: RunClock) -> StudyWorker:
        """Write ``parallel.json``, create the study once and share the deadline; this process becomes worker 0."""
        self.plan.save(self.work)
        create_study(self.plan, direction, seed=settings.seed, cap=settings.trial_cap(), tuner=settings.tuner)
        end = clock.end()
        set_deadline(self.plan, None if end is None else end - time.monotonic())
        return StudyWorker(self.plan, worker_name("w0"), 0, finisher=True)

    @contextmanager
    def workers_running(self, report: Callable[[str], None]) -> Iterator[WorkerPool]:
        """Start workers 1..N-1 (they wait for :meth:`open_search`); after the block, end them."""
        pool = WorkerPool(self.run_id, self.root, self.work, self.plan.workers, report, self.devices).start()
        if self.plan.workers > 1:
            report(f"searching with {self.plan.workers} workers; their logs are in {self.work / WORKERS_FOLDER}")
        cores = usable_cores()
        if self.plan.workers > cores:  # allowed (a GPU each, say), but the threads oversubscribe the CPU
            report(
                f"warning: {self.plan.workers} workers on {cores} cores: more threads than cores, so each trial "
                f"runs slower; on a CPU, use --workers {cores} at most"
            )
        try:
            yield pool
        except BaseException:
            pool.stop(interrupted=True)
            raise
        pool.stop()

    @staticmethod
    def open_search(tuner: kt.Tuner) -> None:
        """Explore the space and queue the recipes, then let the workers ask for trials."""
        oracle: StudyOracle = tuner.oracle
        oracle.open_search(lambda hp: build_and_release(tuner.hypermodel, hp))
