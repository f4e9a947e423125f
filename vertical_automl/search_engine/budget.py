"""The run's clock and each trial's time: when the search must stop, and the state file that outlives a session.

With a time budget the search keeps back what the rest of the run will
need: no trial starts, and a running one stops at an epoch end, once the time
left is less than the estimated finish.  The finish is, for each current best
trial the export is made of, two model builds (reloading its checkpoint, then
the refit, or the fold models' average when cross-validated) and, where it is
refitted, its trees' fitting time and its seconds per epoch times its best
epoch count, both scaled from the train split to train+validation; plus 3 % of
the budget as slack (tuner bookkeeping between trials, reloading the best).

This module alone reads and writes ``trials_state.json``: the trials'
seconds, epochs, build and trees times, the completed trials and the seconds the run
has used, written after every trial so a resumed run keeps its clock and its
estimates.  Plain Python, no Keras or KerasTuner: the tuner hands it plain
data (trial ids and epoch counts), so the arithmetic is testable without one.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..registry import DamagedRunFolder, read_run_file

STATE_FILE = "trials_state.json"  # the trials' bookkeeping, written after every trial
WORKERS_FOLDER = "workers"  # in the run folder: each worker's log and its own STATE_FILE, in <worker>/
TRIAL_FILES = "tuner/search/trial_*/trial.json"  # KerasTuner's record of each trial (every worker's), in the run folder
SLACK = 0.03  # of the budget, kept back for the tuner's own work between trials and reloading the best


@dataclass
class RunClock:
    """Wall-clock accounting of one run, across the sessions of a resumed run.

    ``started`` is this session's ``time.monotonic()`` at its start;
    ``spent_before`` the seconds earlier sessions of the run used.
    """

    started: float
    spent_before: float = 0.0
    budget: float | None = None

    def used(self) -> float:
        return self.spent_before + time.monotonic() - self.started

    def end(self) -> float | None:
        """The monotonic time at which the budget runs out, or ``None``."""
        return self.started + self.budget - self.spent_before if self.budget is not None else None


def read_state(work: Path) -> dict[str, Any]:
    """The run folder's bookkeeping (empty before the first trial ends); a damaged file is refused."""
    return read_run_file(work / STATE_FILE) or {}


def seconds_used(work: Path) -> float:
    """The seconds earlier sessions of the run used, so a resumed run's budget counts them."""
    return float(read_state(work).get("seconds_used", 0.0))


def has_finished_work(work: Path) -> bool:
    """Whether the run's bookkeeping, or KerasTuner's trial records, list a completed trial; unreadable counts as yes.

    :func:`vertical_automl.registry.open_run` asks it whether a failed run's folder is worth keeping.  In a
    parallel search each worker keeps its own bookkeeping, and a launcher failing before its own first trial
    ends must not remove trials its workers finished, so theirs counts too.
    """
    for folder in (work, *sorted(p for p in (work / WORKERS_FOLDER).glob("*") if p.is_dir())):
        try:
            state = read_state(folder)
        except DamagedRunFolder:
            return True
        if state.get("completed", state.get("trials")):
            return True
    return any(_completed(path) for path in work.glob(TRIAL_FILES))


def _completed(trial_file: Path) -> bool:
    """Whether KerasTuner's ``trial.json`` records a completed trial; an unreadable one counts as yes.

    KerasTuner writes it as the trial ends, before the study hears of the
    result and before the budget's state file is saved: a process stopped
    (or failing) between the two still leaves this trace of a finished trial.
    """
    try:
        return json.loads(trial_file.read_text(encoding="utf-8")).get("status") == "COMPLETED"
    except (OSError, ValueError, AttributeError):
        return True


class TrialBudget:
    """Each trial's seconds, epochs trained, model-build and trees seconds, and the deadlines the budget sets from them.

    Read from the run folder ``work`` when a session starts and saved there
    by :meth:`save` after every trial.  ``refit_scale`` is the rows of
    train+validation over the train split's, ``None`` when the export keeps
    the trials' own weights (``--no-refit``, cross-validation) instead of a refit.
    """

    def __init__(self, clock: RunClock, work: Path, refit_scale: float | None) -> None:
        self.clock, self.state_file = clock, work / STATE_FILE
        self.refit_scale = refit_scale
        saved = read_state(work).get("trials", {})
        self.seconds: dict[str, float] = {k: v["seconds"] for k, v in saved.items()}
        self.epochs_run: dict[str, int | None] = {k: v["epochs_run"] for k, v in saved.items()}
        self.build_seconds: dict[str, float] = {k: v.get("build_seconds", 0.0) for k, v in saved.items()}
        self.tree_seconds: dict[str, float] = {k: v.get("tree_seconds", 0.0) for k, v in saved.items()}

    @property
    def reserves(self) -> bool:
        """Whether :meth:`search_deadline` needs the export's members: only with a budget."""
        return self.clock.end() is not None

    def search_deadline(self, best: Sequence[tuple[str, int | None]]) -> float | None:
        """When the search must stop to leave room for the export's model, or ``None`` without a budget.

        ``best`` are the trials the export would be made of if the search ended
        now, each as its id and its best epoch count (``None`` when it has none yet).
        Without a refit the builds alone are kept back: loading a
        cross-validated trial's checkpoint builds its fold models, and their
        average is built again (about 1 s each for five small fold models).
        """
        end = self.clock.end()
        if end is None:
            return None
        reserve = SLACK * (self.clock.budget or 0.0)
        for trial_id, best_epochs in best:
            epochs, build = self.epochs_run.get(trial_id), self.build_seconds.get(trial_id, 0.0)
            if epochs and best_epochs is not None:
                reserve += 2 * build
                if self.refit_scale is not None:
                    reserve += (self.tree_seconds.get(trial_id, 0.0) + self._per_epoch(trial_id) * best_epochs) * (
                        self.refit_scale
                    )
        return end - reserve

    def _per_epoch(self, trial_id: str) -> float:
        """The trial's seconds per epoch, its build and trees left out; only for a trial that trained an epoch."""
        before = self.build_seconds.get(trial_id, 0.0) + self.tree_seconds.get(trial_id, 0.0)
        return max(0.0, self.seconds.get(trial_id, 0.0) - before) / (self.epochs_run[trial_id] or 1)

    def shortest_trial_start(self) -> float:
        """The least time a new trial needs for its build, its trees and its first epoch, from the trials so far."""
        starts = [
            self.build_seconds.get(k, 0.0) + self.tree_seconds.get(k, 0.0) + self._per_epoch(k)
            for k in self.seconds
            if self.epochs_run.get(k)
        ]
        return min(starts, default=0.0)

    def too_late_for_a_trial(self, deadline: float | None, now: float) -> bool:
        """Whether a trial started at ``now`` could not even build and train one epoch before ``deadline``."""
        return deadline is not None and now + self.shortest_trial_start() >= deadline

    def trial_trained(self, trial_id: str, epochs: int) -> None:
        """A trial finished training after ``epochs`` epochs (fewer than asked when it stopped early)."""
        self.epochs_run[trial_id] = epochs

    def trial_ran(self, trial_id: str, seconds: float, build_seconds: float, tree_seconds: float = 0.0) -> None:
        """A trial ended, completed or not, after ``seconds``.

        Of them, ``build_seconds`` built its model and ``tree_seconds`` fitted its trees.
        """
        self.seconds[trial_id] = seconds
        self.build_seconds[trial_id] = build_seconds
        self.tree_seconds[trial_id] = tree_seconds

    def save(self, completed: Iterable[str]) -> None:
        """Write the trials' times, the ``completed`` trial ids and the time used so far, atomically.

        ``completed`` also tells a failing run whether it holds work worth keeping (:func:`has_finished_work`).
        """
        trials = {
            k: {
                "seconds": self.seconds[k],
                "epochs_run": self.epochs_run.get(k),
                "build_seconds": self.build_seconds.get(k, 0.0),
                "tree_seconds": self.tree_seconds.get(k, 0.0),
            }
            for k in self.seconds
        }
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(
            json.dumps({"trials": trials, "completed": sorted(completed), "seconds_used": self.clock.used()})
        )
        os.replace(temporary, self.state_file)
