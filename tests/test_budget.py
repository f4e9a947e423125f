"""The time budget's arithmetic and the trials' state file, with no Keras and no tuner.

Clocks are built with fixed monotonic times so every deadline is exact.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from vertical_automl.records import RunRequest
from vertical_automl.registry import DamagedRunFolder, open_run
from vertical_automl.search_engine.budget import (
    SLACK,
    STATE_FILE,
    WORKERS_FOLDER,
    RunClock,
    TrialBudget,
    has_finished_work,
    seconds_used,
)
from vertical_automl.search_engine.members import MemberChoice
from vertical_automl.settings import SearchSettings

REQUEST = RunRequest("x", None, None, SearchSettings())

# Two finished trials and one that failed before its first epoch ended.
TRIALS = {
    "0": {"seconds": 12.0, "epochs_run": 5, "build_seconds": 2.0},  # 2 s per epoch, 4 s to build and train one
    "1": {"seconds": 7.0, "epochs_run": 3, "build_seconds": 1.0},  # 2 s per epoch, 3 s to build and train one
    "2": {"seconds": 0.5, "epochs_run": None, "build_seconds": 0.5},
}


def write_state(work: Path, state: dict) -> None:
    work.mkdir(parents=True, exist_ok=True)
    (work / STATE_FILE).write_text(json.dumps(state))


def budget_for(work: Path, budget: float | None, refit_scale: float | None = 1.25) -> TrialBudget:
    # 10 s used before; this session started at monotonic 1000: a budget of 100 s ends at 1090.
    return TrialBudget(RunClock(1000.0, 10.0, budget), work, refit_scale)


def test_without_a_budget_there_is_no_deadline_and_no_trial_is_too_late(tmp_path):
    write_state(tmp_path, {"trials": TRIALS})
    budget = budget_for(tmp_path, None)
    assert not budget.reserves  # the tuner need not even choose the export's members
    assert budget.search_deadline([("0", 3)]) is None
    assert not budget.too_late_for_a_trial(None, 1e12)


def test_with_a_budget_the_deadline_keeps_three_percent_back(tmp_path):
    budget = budget_for(tmp_path, 100.0)
    assert budget.clock.end() == 1090.0
    assert budget.reserves
    assert budget.search_deadline([]) == pytest.approx(1090.0 - 3.0)


def test_the_deadline_reserves_two_builds_and_the_best_epochs_of_each_refit_member(tmp_path):
    write_state(tmp_path, {"trials": TRIALS})
    budget = budget_for(tmp_path, 100.0, refit_scale=1.25)
    # Trial 0: 2 builds of 2 s + 3 best epochs of 2 s scaled by 1.25 = 11.5; trial 1: 2 x 1 s + 2 x 2 s x 1.25 = 7.
    assert budget.search_deadline([("0", 3)]) == pytest.approx(1087.0 - 11.5)
    assert budget.search_deadline([("0", 3), ("1", 2)]) == pytest.approx(1087.0 - 11.5 - 7.0)
    # A trial without a best epoch yet, or without epochs trained, or unknown to the bookkeeping, reserves nothing.
    assert budget.search_deadline([("0", None), ("2", 4), ("9", 4)]) == pytest.approx(1087.0)


def test_without_a_refit_the_deadline_reserves_the_builds_alone(tmp_path):
    """Cross-validated or --no-refit: the export reloads each member's checkpoint and builds its average."""
    write_state(tmp_path, {"trials": TRIALS})
    budget = budget_for(tmp_path, 100.0, refit_scale=None)
    assert budget.search_deadline([("0", 3), ("1", 2)]) == pytest.approx(1087.0 - 2 * 2.0 - 2 * 1.0)
    assert budget.search_deadline([("0", None), ("2", 4)]) == pytest.approx(1087.0)


def test_a_refit_reserves_the_trees_once_and_the_epochs_without_them(tmp_path):
    """A trees trial's fit before its first epoch is no epoch: 8 s of trees and 4 s over 2 epochs, a 1 s build."""
    write_state(
        tmp_path, {"trials": {"0": {"seconds": 13.0, "epochs_run": 2, "build_seconds": 1.0, "tree_seconds": 8.0}}}
    )
    budget = budget_for(tmp_path, 100.0, refit_scale=1.25)
    assert budget.search_deadline([("0", 1)]) == pytest.approx(1087.0 - 2 * 1.0 - (8.0 + 2.0 * 1) * 1.25)
    assert budget.shortest_trial_start() == pytest.approx(1.0 + 8.0 + 2.0)
    without_refit = budget_for(tmp_path, 100.0, refit_scale=None)  # the fold models are loaded, not fitted again
    assert without_refit.search_deadline([("0", 1)]) == pytest.approx(1087.0 - 2 * 1.0)


def test_the_shortest_trial_start_is_the_quickest_build_and_first_epoch(tmp_path):
    assert budget_for(tmp_path, 100.0).shortest_trial_start() == 0.0  # no trial yet: nothing to go by
    write_state(tmp_path, {"trials": TRIALS})
    budget = budget_for(tmp_path, 100.0)
    assert budget.shortest_trial_start() == pytest.approx(3.0)  # trial 1; trial 2 trained no epoch
    assert budget.too_late_for_a_trial(100.0, 97.0)  # 97 + 3 reaches the deadline
    assert not budget.too_late_for_a_trial(100.0, 96.5)


def test_the_state_file_round_trips_and_is_written_without_a_temporary_left(tmp_path):
    work = tmp_path / "run"
    work.mkdir()
    clock = RunClock(time.monotonic() - 5.0, 10.0, 100.0)
    budget = TrialBudget(clock, work, 1.0)
    for trial_id, epochs in (("1", 2), ("0", 4)):
        budget.trial_trained(trial_id, epochs)
        budget.trial_ran(trial_id, 9.0, 1.0, 2.0 if trial_id == "0" else 0.0)
    budget.trial_ran("2", 0.5, 0.5)  # failed: no epochs
    budget.save(trial_id for trial_id in ("1", "0"))  # any iterable of ids, written sorted
    state = json.loads((work / STATE_FILE).read_text())
    assert state["trials"] == {
        "1": {"seconds": 9.0, "epochs_run": 2, "build_seconds": 1.0, "tree_seconds": 0.0},
        "0": {"seconds": 9.0, "epochs_run": 4, "build_seconds": 1.0, "tree_seconds": 2.0},
        "2": {"seconds": 0.5, "epochs_run": None, "build_seconds": 0.5, "tree_seconds": 0.0},
    }
    assert state["completed"] == ["0", "1"]
    assert 15.0 <= state["seconds_used"] < 15.0 + 60.0
    assert seconds_used(work) == state["seconds_used"]
    assert sorted(p.name for p in work.iterdir()) == [STATE_FILE]
    again = TrialBudget(clock, work, 1.0)
    assert again.seconds == budget.seconds and again.build_seconds == budget.build_seconds
    assert again.epochs_run == {"1": 2, "0": 4, "2": None}  # the failed trial's epochs read back as none
    assert again.tree_seconds == budget.tree_seconds
    # trial 0: a 1 s build, 2 s of trees and 6 s over 4 epochs; trial 1: 1 s and 8 s over 2
    assert again.shortest_trial_start() == budget.shortest_trial_start() == pytest.approx(1.0 + 2.0 + 6.0 / 4)


def test_a_state_file_from_before_build_times_were_kept_reads_them_as_zero(tmp_path):
    write_state(tmp_path, {"trials": {"0": {"seconds": 6.0, "epochs_run": 3}}, "seconds_used": 7.5})
    budget = budget_for(tmp_path, 100.0)
    assert budget.build_seconds == {"0": 0.0} and budget.shortest_trial_start() == pytest.approx(2.0)
    assert seconds_used(tmp_path) == 7.5
    assert seconds_used(tmp_path / "absent") == 0.0  # a run whose first trial has not ended


@pytest.mark.parametrize(
    "text, reason",
    [("{bad", "trials_state.json is not valid JSON"), ("[1]", "trials_state.json holds a JSON list, not an object")],
)
def test_a_damaged_state_file_is_refused_as_a_damaged_run_folder(tmp_path, text, reason):
    (tmp_path / STATE_FILE).write_text(text)
    for read in (lambda: budget_for(tmp_path, 100.0), lambda: seconds_used(tmp_path)):
        with pytest.raises(DamagedRunFolder) as raised:
            read()
        assert f"the run folder '{tmp_path}' is damaged ({reason})" in str(raised.value)
        assert f"remove the folder '{tmp_path}' and start the run again" in str(raised.value)
    assert (tmp_path / STATE_FILE).read_text() == text  # left for the user to look at


@pytest.mark.parametrize(
    "state, finished",
    [
        (None, False),  # no trial ended yet
        ({"trials": {}, "completed": []}, False),
        ({"trials": TRIALS, "completed": []}, False),  # trials ran, none completed
        ({"trials": TRIALS, "completed": ["0"]}, True),
        ({"trials": TRIALS}, True),  # an older state file without the completed list
    ],
)
def test_has_finished_work_reads_the_completed_trials(tmp_path, state, finished):
    if state is not None:
        write_state(tmp_path, state)
    assert has_finished_work(tmp_path) is finished


@pytest.mark.parametrize("completed, finished", [(["0"], True), ([], False)])
def test_a_parallel_workers_completed_trial_is_finished_work_before_the_launchers_first(tmp_path, completed, finished):
    # The launcher failing (its storage gone) while its first trial runs must not remove the run folder
    # holding the checkpoints of trials its workers already finished.
    write_state(tmp_path, {"trials": {}, "completed": []})
    (tmp_path / WORKERS_FOLDER / "w0").mkdir(parents=True)
    (tmp_path / WORKERS_FOLDER / "w1.log").write_text("a log, not bookkeeping\n")
    write_state(tmp_path / WORKERS_FOLDER / "w1", {"trials": TRIALS, "completed": completed})
    assert has_finished_work(tmp_path) is finished


@pytest.mark.parametrize(
    "record, finished", [('{"status": "COMPLETED"}', True), ('{"status": "RUNNING"}', False), ("{", True)]
)
def test_a_trial_kerastuner_recorded_as_completed_is_finished_work_before_any_state_file(tmp_path, record, finished):
    # KerasTuner writes trial.json as a trial ends, before the study and the state file hear of it: a process
    # stopped in between (the launcher losing its database) must not remove a run the study says has a result.
    write_state(tmp_path, {"trials": {}, "completed": []})
    trial = tmp_path / "tuner" / "search" / "trial_3"
    trial.mkdir(parents=True)
    (trial / "trial.json").write_text(record)
    assert has_finished_work(tmp_path) is finished


def test_unreadable_bookkeeping_counts_as_finished_work(tmp_path):
    (tmp_path / STATE_FILE).write_text("{bad")
    assert has_finished_work(tmp_path) is True  # keep the run rather than lose it


@pytest.mark.parametrize("completed, kept", [(["0"], True), ([], False)])
def test_open_run_keeps_a_failed_run_only_when_the_bookkeeping_says_it_has_finished_work(tmp_path, completed, kept):
    root = tmp_path / "registry"
    with pytest.raises(RuntimeError) as raised:
        with open_run(root, "r1", REQUEST, has_finished_work=has_finished_work) as work:
            write_state(work, {"trials": TRIALS, "completed": completed})
            raise RuntimeError("a report section failed")
    assert (root / ".runs" / "r1").is_dir() is kept
    notes = getattr(raised.value, "__notes__", [])
    assert any("--resume r1" in note for note in notes) is kept


def test_the_budget_and_the_records_load_no_keras():
    code = (
        "import sys\n"
        "import vertical_automl.search_engine.budget, vertical_automl.search_engine.records\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('keras', 'keras_tuner', 'torch')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


class Oracle:
    """A tuner's oracle, as far as the budget and the member choice read it: completed trials, their scores."""

    def __init__(self) -> None:
        self.trials: dict = {}
        self.start_order: list[str] = []

    def completed(self, trial_id: str, score: float, best_epochs: int) -> None:
        import keras_tuner as kt

        trial = kt.engine.trial.Trial(kt.HyperParameters(), trial_id=trial_id, status="COMPLETED")
        trial.score, trial.best_step = score, best_epochs - 1
        self.trials[trial_id] = trial
        self.start_order.append(trial_id)

    def get_best_trials(self, count: int) -> list:
        return sorted(self.trials.values(), key=lambda t: -t.score)[:count]


def bookkept_tuner(kind: type, budget: TrialBudget, oracle: object, folder: Path, y: np.ndarray) -> object:
    """A tuner of ``kind`` with only what choosing members and the deadline need: no model, no search."""
    tuner = object.__new__(kind)
    tuner.budget, tuner.oracle, tuner.predictions_dir = budget, oracle, folder
    tuner.members = MemberChoice(5, "binary", "val_auc", "max", y)
    return tuner


def test_the_budget_keeps_back_the_refit_of_the_members_ensemble_selection_would_choose(tmp_path):
    """Not the refit of the five best trials: a trial selection leaves out reserves nothing, one it adds does."""
    from vertical_automl.search_engine.tuner import BookkeptTuner

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    predictions = tmp_path / "predictions"
    predictions.mkdir()
    budget = TrialBudget(RunClock(1000.0, 0.0, 180.0), tmp_path, refit_scale=1.25)
    oracle = Oracle()
    tuner = bookkept_tuner(BookkeptTuner, budget, oracle, predictions, y)
    assert tuner.search_deadline() == pytest.approx(1180.0 - SLACK * 180)  # nothing completed: nothing to refit

    def finish(trial_id: str, noise: float) -> float:
        """A trial of 10 epochs in 21 s (a 1 s build), best at epoch 8, its predictions as noisy as ``noise``."""
        p = 1 / (1 + np.exp(-(2 * y - 1 + rng.normal(0, noise, len(y)))))
        np.save(predictions / f"trial_{trial_id}.npy", np.column_stack([1 - p, p]))
        budget.trial_ran(trial_id, 21.0, 1.0)
        budget.trial_trained(trial_id, 10)
        oracle.completed(trial_id, roc_auc_score(y, p), 8)
        return 2 * 1.0 + 2.0 * 8 * 1.25

    one = finish("00", 1.0)
    finish("01", 4.0)  # far below the best: no candidate, so no refit to keep back
    assert tuner.members.expected(tuner) == ("00",)
    assert tuner.search_deadline() == pytest.approx(1180.0 - SLACK * 180 - one)
    two = finish("02", 1.0)  # as good, with independent errors: averaging helps, so it joins
    assert set(tuner.members.expected(tuner)) == {"00", "02"}
    assert tuner.search_deadline() == pytest.approx(1180.0 - SLACK * 180 - one - two)


def test_a_worker_reserves_the_refit_of_a_best_trial_another_worker_finished_while_it_trains(tmp_path):
    """The deadline a running trial checks at each epoch end counts the study's trials, not this worker's alone."""
    from vertical_automl.search_engine.tuner import StudyTuner

    budget = TrialBudget(RunClock(1000.0, 0.0, 180.0), tmp_path, refit_scale=1.25)

    class Study(Oracle):  # the oracle of a worker whose peer has just finished trial 00000 (16 epochs in 106 s, best 8)
        def sync(self) -> None:
            self.completed("00000", 0.8, 8)
            budget.trial_ran("00000", 106.0, 2.0)
            budget.trial_trained("00000", 16)

        workers: dict = {}

    tuner = bookkept_tuner(StudyTuner, budget, Study(), tmp_path / "predictions", np.zeros(4))
    reserve = SLACK * 180 + 2 * 2.0 + (104.0 / 16) * 8 * 1.25
    assert tuner.search_deadline() == pytest.approx(1000.0 + 180.0 - reserve)
