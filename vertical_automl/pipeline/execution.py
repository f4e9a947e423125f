"""How a run's trials are executed: in this process, or by parallel workers on a shared study.

Not part of the run's request (``run.json``): the same search may continue
with more or fewer workers.  Which storage holds a parallel run's trials is
fixed when it starts, in ``parallel.json`` (:class:`.study.ParallelPlan`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from ..search_engine.study import ParallelPlan
from ..search_engine.workers import default_workers
from ..settings import SearchSettings


@dataclass(frozen=True)
class Execution:
    """``workers`` and the ``storage`` URL a new parallel run uses.

    ``workers=None`` continues a run as it started, and gives a new run the
    default (:func:`.default_workers`: one per core or GPU).
    """

    workers: int | None = None
    storage: str | None = None

    def plan(self, work: Path, run_id: str, resumed: bool, settings: SearchSettings) -> ParallelPlan | None:
        """The run's parallel plan, or ``None`` to search in this process as before.

        A run continues on the engine it started on: a one-process run has
        its trials in KerasTuner's files, a parallel one in its study.
        """
        saved = ParallelPlan.read(work)
        if saved is not None:
            if self.storage is not None and self.storage != saved.storage:
                raise UsageError(
                    f"run '{run_id}' keeps its trials in the storage it started with", "leave out --storage"
                )
            return saved.with_workers(self.workers or saved.workers)
        if resumed:
            if (self.workers or 1) == 1 and self.storage is None:
                return None
            raise UsageError(
                f"run '{run_id}' started in one process and continues in one", "leave out --workers and --storage"
            )
        workers = self.workers or default_workers(settings.tuner, settings.trial_cap(), settings.devices)
        if workers == 1 and self.storage is None:
            return None
        if self.storage is None:
            return ParallelPlan.one_machine(work, run_id, workers)
        return ParallelPlan(self.storage, run_id, workers)
