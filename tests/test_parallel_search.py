"""Parallel search (``--workers``, ``vautoml worker``): every worker's trials in the export, and the faults of issue 16.

Real processes on a real study: a worker is killed with SIGKILL mid-trial,
the launcher too, and the search must still end in an exported run.
Heartbeats are shortened (``VAUTOML_HEARTBEAT_SECONDS=2``: a silent worker
counts as dead after 8 s, with room for a loaded machine) so the tests do not wait 20 s for each.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from helpers import invoke_vautoml, only_run, run_vautoml, start_vautoml

ENV = {"VAUTOML_HEARTBEAT_SECONDS": "2", "VAUTOML_LOAD_PLUGINS": "throwaway-verticals"}
SEARCH = ["search", "--plugin", "tiny-table", "--quiet"]  # the default seed, 0: KerasTuner's "no seed"


def start(registry: Path, *args: str) -> subprocess.Popen:
    """A search to kill: about processes, not how a trial judges, so one validation split keeps its trials short.

    Cross-validated trials on workers are the two-worker test's (the default).
    """
    return start_vautoml(*SEARCH, "--folds", "1", "--registry", str(registry), *args, env=ENV)


def larger_table(tmp_path: Path) -> Path:
    """The bundled breast cancer table ten times over (5,690 rows, jittered): trials of several seconds.

    On the bundled 569 rows a whole trial takes about a second, so a worker
    seen mid-trial has often finished it before the kill lands; the kill
    tests need a trial that is still running a few seconds later.
    """
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    features = frame.columns.drop("target")
    larger = frame.loc[frame.index.repeat(10)].reset_index(drop=True)
    noise = np.random.default_rng(0).normal(0, 0.05, (len(larger), len(features)))
    larger[features] = larger[features] * (1 + noise)
    data = tmp_path / "larger.csv"
    larger.to_csv(data, index=False)
    return data


def study_trials(run: Path) -> list:
    """The run's Optuna trials, read the way ``optuna trials`` would (empty until the study exists)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    database = run / "study.db"
    if not database.exists():
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return optuna.load_study(study_name=run.name, storage=f"sqlite:///{database}").get_trials()
        except Exception:  # the launcher is still creating it
            return []


def wait_for(condition, process: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        assert process.poll() is None, process.communicate()
        time.sleep(1)  # each probe opens the study: polled faster, it slows the search it watches
    raise AssertionError("the search did not get there in time")


def running_in(run: Path, worker: str) -> bool:
    """Whether ``worker`` (w0, w1, ...) is in the middle of a trial that has logged an epoch."""
    for trial in study_trials(run):
        if trial.state.name == "RUNNING" and str(trial.user_attrs.get("worker", "")).startswith(worker + "@"):
            log = run / "logs" / f"trial_{trial.user_attrs.get('trial_id')}.csv"
            if log.exists() and len(log.read_text().splitlines()) >= 2:
                return True
    return False


def worker_pids(run_name: str) -> list[int]:
    found = subprocess.run(["pgrep", "-f", f"worker {run_name} "], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


def trials_of(bundle: Path) -> list[dict]:
    return json.loads((bundle / "trials.json").read_text())


def test_two_workers_run_the_trial_list_one_worker_runs_and_the_export_names_each_trials_worker(tmp_path):
    alone = invoke_vautoml(  # the reference run, in this process: its trials are compared, not its process
        *SEARCH,
        "--max-trials",
        "8",  # 7 recipes, then a random trial: the values a worker draws are what may differ
        "--epochs",
        "2",
        "--folds",  # cross-validated, as by default, on the fewest folds: the workers, not the folds, are tested
        "2",
        "--workers",
        "1",
        "--storage",
        f"sqlite:///{tmp_path / 'alone.db'}",
        "--registry",
        str(tmp_path / "one"),
        env=ENV,
    )
    assert alone.returncode == 0, alone.stderr
    two = run_vautoml(
        *SEARCH,
        "--max-trials",
        "8",
        "--epochs",
        "2",
        "--folds",
        "2",
        "--workers",
        "2",
        "--registry",
        str(tmp_path / "two"),
        env=ENV,
    )
    assert two.returncode == 0, two.stderr
    assert "searching with 2 workers" in two.stderr and "8/8 trials completed (2 at once)" in two.stdout
    one_trials, two_trials = trials_of(only_run(tmp_path / "one")), trials_of(only_run(tmp_path / "two"))
    # --seed fixes the proposals by trial number, not by worker: the same eight hyperparameter sets
    assert [t["hyperparameters"] for t in one_trials] == [t["hyperparameters"] for t in two_trials]
    assert [t["status"] for t in two_trials] == ["COMPLETED"] * 8
    assert all(t["worker"].split("@")[0] in ("w0", "w1") for t in two_trials)
    report = json.loads((only_run(tmp_path / "two") / "report.json").read_text())
    assert report["search"]["trials"]["total"] == 8
    assert sum(report["search"]["workers"].values()) == 8  # the trials each worker ran, by worker
    assert report["search"]["at_once"] == 2 and report["search"]["threads"] == max(1, len(os.sched_getaffinity(0)) // 2)
    markdown = (only_run(tmp_path / "two") / "report.md").read_text()
    assert "| worker |" in markdown  # the leaderboard says who ran each
    assert "**Trials at once:** 2, " in markdown


def test_a_worker_killed_mid_trial_has_its_trial_run_again_and_the_search_still_exports(tmp_path):
    registry = tmp_path / "registry"
    data = larger_table(tmp_path)
    process = start(
        registry, "--data", str(data), "--max-trials", "4", "--epochs", "10", "--workers", "2", "--run-name", "kill-one"
    )
    run = registry / ".runs" / "kill-one"
    wait_for(lambda: running_in(run, "w1"), process)
    for pid in worker_pids("kill-one"):
        os.kill(pid, signal.SIGKILL)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    assert "worker w1 exited with code -9" in stderr
    trials = trials_of(only_run(registry))
    failed = [t for t in trials if t["status"] == "FAILED"]
    assert len(failed) == 1 and failed[0]["worker"].startswith("w1@")
    assert "stopped sending heartbeats" in failed[0]["error"] and "run again as trial" in failed[0]["error"]
    retry_id = failed[0]["error"].rsplit(" ", 1)[-1]
    retry = next(t for t in trials if t["trial_id"] == retry_id)
    assert retry["status"] == "COMPLETED" and retry["hyperparameters"] == failed[0]["hyperparameters"]
    assert sum(t["status"] == "COMPLETED" for t in trials) == 4  # the cap counts the retry, not the lost trial


def test_killing_the_launcher_stops_its_workers_and_resume_finishes_the_run(tmp_path):
    registry = tmp_path / "registry"
    data = larger_table(tmp_path)
    process = start(
        registry,
        "--data",
        str(data),
        "--max-trials",
        "4",
        "--epochs",
        "12",
        "--workers",
        "2",
        "--run-name",
        "kill-launcher",
    )
    run = registry / ".runs" / "kill-launcher"
    wait_for(lambda: running_in(run, "w0") and bool(worker_pids("kill-launcher")), process)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    gone_by = time.monotonic() + 60  # issue 16: no worker waits more than a minute for a dead coordinator
    while worker_pids("kill-launcher") and time.monotonic() < gone_by:
        time.sleep(0.2)
    assert not worker_pids("kill-launcher"), "a worker outlived its launcher by a minute"
    assert (run / "parallel.json").exists()

    # A worker that cannot load the plugin, or that is pointed at nothing, says so in one line before any trial.
    unloaded = run_vautoml(
        "worker", "kill-launcher", "--registry", str(registry), env={**ENV, "VAUTOML_LOAD_PLUGINS": "nothing-here"}
    )
    assert unloaded.returncode == 3 and unloaded.stderr.count("\n") == 1 and "tiny-table" in unloaded.stderr
    assert "Traceback" not in unloaded.stderr
    missing = run_vautoml("worker", "no-such-run", "--registry", str(registry), env=ENV)
    assert missing.returncode == 2 and "no run 'no-such-run' in progress" in missing.stderr

    resumed = run_vautoml("search", "--resume", "kill-launcher", "--registry", str(registry), "--quiet", env=ENV)
    assert resumed.returncode == 0, resumed.stderr
    trials = trials_of(only_run(registry))
    assert sum(t["status"] == "COMPLETED" for t in trials) == 4
    lost = [t for t in trials if t["status"] == "FAILED"]
    assert lost and all("stopped sending heartbeats" in t["error"] for t in lost)


def test_a_worker_reading_other_data_than_the_run_refuses(tmp_path):
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    data = tmp_path / "cancer.csv"
    frame.to_csv(data, index=False)
    registry = tmp_path / "registry"
    process = start(
        registry,
        "--data",
        str(data),
        "--max-trials",
        "6",
        "--epochs",
        "40",
        "--workers",
        "1",
        "--storage",
        f"sqlite:///{tmp_path / 's.db'}",
        "--run-name",
        "moved",
    )
    run = registry / ".runs" / "moved"
    wait_for(lambda: (run / "parallel.json").exists(), process)
    frame.iloc[:-5].to_csv(data, index=False)
    changed = run_vautoml("worker", "moved", "--registry", str(registry), env=ENV)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert changed.returncode != 0
    assert "is not the data run 'moved' started with" in changed.stderr and "Traceback" not in changed.stderr


@pytest.mark.parametrize("tuner", ["hyperband", "grid"])
def test_tuners_that_plan_in_one_process_are_refused_with_workers(tmp_path, tuner):
    refused = run_vautoml(*SEARCH, "--tuner", tuner, "--workers", "2", "--registry", str(tmp_path), env=ENV)
    assert refused.returncode == 2
    assert f"--tuner {tuner} plans its trials in one process" in refused.stderr
    assert not any(tmp_path.iterdir())
