"""Resuming a run: after SIGKILL or Ctrl-C the run folder keeps the tuner state, and finished trials never run again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers import only_run, run_vautoml, start_vautoml

from vertical_automl import interrupts

SEARCH = ["search", "--plugin", "tiny-table", "--max-trials", "4", "--quiet"]


def start_search(registry: Path, *extra: str) -> subprocess.Popen:
    return start_vautoml(*SEARCH, "--registry", str(registry), *extra)


def wait_until_mid_trial(process: subprocess.Popen, logs: Path, finished: int, timeout: float = 240) -> None:
    """Wait until ``finished`` trials are done and the next one has logged at least one epoch."""
    state = logs.parent / "trials_state.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        running = logs / f"trial_{finished}.csv"
        done = len(json.loads(state.read_text())["trials"]) if state.exists() else 0
        if done == finished and running.exists() and len(running.read_text().splitlines()) >= 2:
            return
        assert done <= finished, "the search ran past the point where the test meant to stop it"
        time.sleep(0.02)
    raise AssertionError("the search did not reach the trial to interrupt in time")


def finished_trials(run: Path) -> dict[str, dict]:
    trials = {}
    for path in (run / "tuner" / "search").glob("trial_*/trial.json"):
        trial = json.loads(path.read_text())
        if trial["status"] == "COMPLETED":
            trials[trial["trial_id"]] = {"values": trial["hyperparameters"]["values"], "score": trial["score"]}
    return trials


def test_sigkill_mid_trial_then_resume_runs_no_finished_trial_twice(tmp_path):
    registry = tmp_path / "registry"
    # Cross-validated (the default on small tables), so finished folds must not run again either; four trials
    # of eight epochs leave two to run after the kill, all this test needs.
    process = start_search(registry, "--run-name", "night-run", "--epochs", "8")
    run = registry / ".runs" / "night-run"
    wait_until_mid_trial(process, run / "logs", finished=2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = finished_trials(run)
    logs_before = {name: (run / "logs" / f"trial_{name}.csv").read_text() for name in before}
    assert sorted(before) == ["0", "1"]
    assert not list(registry.glob("tiny-table/*"))  # nothing published by the killed process

    resumed = run_vautoml("search", "--resume", "night-run", "--registry", str(registry))
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming run night-run" in resumed.stderr
    ran_again = [line.split()[1] for line in resumed.stderr.splitlines() if line.startswith("trial ")]
    assert ran_again == ["2", "3"]  # the killed trial 2 restarts; 0 and 1 do not run again

    bundle = only_run(registry)  # one complete run, and no run folder left behind
    assert bundle == registry / "tiny-table" / "night-run"
    trials = json.loads((bundle / "trials.json").read_text())
    assert [t["trial_id"] for t in trials] == ["0", "1", "2", "3"]
    for trial in trials[:2]:  # the finished trials are kept as they were
        assert (
            trial["hyperparameters"] == before[trial["trial_id"]]["values"]
            and trial["score"] == before[trial["trial_id"]]["score"]
        )
        assert trial["seconds"] > 0 and trial["epochs_run"]  # their bookkeeping survived the kill
        assert (bundle / "logs" / f"trial_{trial['trial_id']}.csv").read_text() == logs_before[trial["trial_id"]]
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert all((bundle / name).exists() for name in manifest["files"])
    report = json.loads((bundle / "report.json").read_text())
    assert report["search"]["resumed"] is True and report["search"]["trials"] == {"total": 4, "COMPLETED": 4}


def test_ctrl_c_keeps_the_run_and_the_same_command_with_run_name_continues_it(tmp_path):
    """About the run and its name, not how trials judge: one validation split keeps the trials short."""
    registry = tmp_path / "registry"
    search = [*SEARCH, "--folds", "1", "--epochs", "15"]
    process = start_vautoml(*search, "--registry", str(registry), "--run-name", "ctrl-c")
    wait_until_mid_trial(process, registry / ".runs" / "ctrl-c" / "logs", finished=1)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "Continue it with: vautoml search --resume ctrl-c" in stderr.splitlines()[-1]
    assert (registry / ".runs" / "ctrl-c" / "run.json").exists()

    changed = run_vautoml(*search, "--seed", "3", "--run-name", "ctrl-c", "--registry", str(registry))
    assert changed.returncode == 2 and "was started with other settings than given now" in changed.stderr
    again = run_vautoml(*search, "--run-name", "ctrl-c", "--registry", str(registry))
    assert again.returncode == 0, again.stderr
    assert [line.split()[1] for line in again.stderr.splitlines() if line.startswith("trial ")] == ["1", "2", "3"]
    assert only_run(registry).name == "ctrl-c"
    finished = run_vautoml(*search, "--run-name", "ctrl-c", "--registry", str(registry))
    assert finished.returncode == 2 and "already finished" in finished.stderr


def test_resume_errors_name_the_problem_and_create_nothing(tmp_path):
    registry = tmp_path / "registry"
    for args, message in (
        (["--resume", "nope"], "no interrupted run 'nope'"),
        (["--resume", "../escape"], "is not a valid run name"),
        (["--plugin", "tiny-table", "--run-name", "a/b"], "is not a valid run name"),
        (["--plugin", "tiny-table", "--run-name", ".."], "is not a valid run name"),
        (["--resume", "x", "--plugin", "tiny-table"], "leave out --plugin"),
    ):
        done = run_vautoml("search", *args, "--registry", str(registry))
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) <= 3
    assert not registry.exists()


def test_a_first_ctrl_c_waits_for_a_safe_point_and_a_second_one_interrupts_at_once():
    with interrupts.deferred():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the handler has run: nothing was raised in the middle of this code
        with pytest.raises(KeyboardInterrupt):
            interrupts.check()
    with pytest.raises(KeyboardInterrupt), interrupts.deferred():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)  # interrupted here by the second Ctrl-C, before check()
        raise AssertionError("the second Ctrl-C did not interrupt")
    interrupts.check()  # outside a block, and after it, nothing is pending
