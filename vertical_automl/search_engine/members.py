"""Which trials the export averages: greedy ensemble selection on their saved predictions, or the best trial alone.

Asked twice, with one answer: at the end of the search, for the export
(:func:`.loop.run_search`), and while it runs, by the time budget, which keeps
back the refit of the trials the export would average if the search ended now
(:meth:`.tuner._TrialBookkeeping.search_deadline`).  Keeping back the refit of
the ``ensemble_size`` best trials instead stopped one-split searches far short
of their budget: on SMS at 3 minutes, about 90 s were kept for five refits of
an export that had one member.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from . import ensemble_selection
from .records import TrialRecord, TrialStatus

if TYPE_CHECKING:
    import keras_tuner as kt

    from ..data.dataset import Dataset
    from ..settings import SearchSettings
    from ..vertical import Vertical


@dataclass
class MemberChoice:
    """The run's rule for choosing members: at most how many, by which objective, judged on which labels.

    ``judged_on`` are the labels of the rows the trials' saved predictions
    score: the validation split, or every train+validation row when the
    trials were cross-validated.
    """

    size: int
    task: str
    objective: str
    direction: str
    judged_on: np.ndarray
    _expected: tuple[frozenset[str], tuple[str, ...]] = (frozenset(), ())

    @classmethod
    def of(cls, vertical: Vertical, dataset: Dataset, settings: SearchSettings) -> MemberChoice:
        task = dataset.info.task
        objective, direction = settings.objective_for(vertical, task)
        return cls(
            vertical.ensemble_size, task, objective, direction, dataset.selection_data(settings.cross_validated).y
        )

    def select(self, tuner: kt.Tuner, completed: list[TrialRecord]) -> ensemble_selection.Selection:
        """Greedy ensemble selection over the ``completed`` trials' saved predictions, or the best trial alone.

        Verticals with ``ensemble_size`` 1, and runs whose trials left no
        predictions (older runs resumed), export the best trial.
        """
        best_id = tuner.oracle.get_best_trials(1)[0].trial_id
        best = next(r for r in completed if r.trial_id == best_id)
        alone = ensemble_selection.Selection(
            (best.trial_id,), (1.0,), float(best.score), tuner.validation_predictions(best.trial_id)
        )
        if self.size <= 1:
            return alone
        candidates = [
            ensemble_selection.Candidate(r.trial_id, float(r.score), tuner.validation_predictions(r.trial_id))
            for r in completed
        ]
        if any(c.scores is None for c in candidates):
            return alone
        return ensemble_selection.select(
            candidates, self.judged_on, self.objective, self.direction, self.task, self.size
        )

    def expected(self, tuner: kt.Tuner) -> tuple[str, ...]:
        """The trials :meth:`select` would choose if the search ended now; none before a trial completes.

        Chosen again only when another trial has completed: the budget asks
        at every epoch end, and a selection costs up to a second on large data.
        """
        key = frozenset(t.trial_id for t in tuner.oracle.trials.values() if t.status == TrialStatus.COMPLETED)
        if key != self._expected[0]:
            in_order = (t for t in tuner.oracle.start_order if t in key)  # as the end of the search lists them
            completed = [r for r in map(tuner.record, in_order) if r.score is not None]
            self._expected = (key, self.select(tuner, completed).trial_ids if completed else ())
        return self._expected[1]
