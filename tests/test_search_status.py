"""``vautoml search status RUN_ID``: a search watched from another terminal, while it runs, after a kill, and done.

Every status here is the real command in its own process, on a real search
(the tiny-table vertical) or a real lock.  A search is frozen with SIGSTOP
before a status that must see a trial running, so the trial cannot end in
between, then killed with SIGKILL: the status must then say 'interrupted'
and how to resume.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner
from helpers import run_vautoml, start_vautoml

from vertical_automl.cli import main
from vertical_automl.records import RunRequest
from vertical_automl.registry.lock import locked_run
from vertical_automl.search_engine import run_status
from vertical_automl.search_engine.records import TrialRecord, TrialStatus
from vertical_automl.search_engine.study import ParallelPlan, open_storage
from vertical_automl.settings import SearchSettings

FAST = {"VAUTOML_HEARTBEAT_SECONDS": "1"}  # a killed worker's trial looks dead after 4 s, in the status too


def status(registry: Path, run_id: str, *flags: str) -> subprocess.CompletedProcess:
    return run_vautoml("search", "status", run_id, "--registry", str(registry), *flags, env=FAST)


def status_json(registry: Path, run_id: str) -> dict:
    done = status(registry, run_id, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def start_search(registry: Path, run_id: str, *flags: str) -> subprocess.Popen:
    """A search in its own process group, so that its workers are frozen and killed with it."""
    # One validation split: the status of processes is tested here, not how a trial judges; it keeps trials short.
    command = ["search", "--plugin", "tiny-table", "--quiet", "--folds", "1", "--registry", str(registry)]
    command += ["--run-name", run_id]
    return start_vautoml(*command, *flags, env=FAST, start_new_session=True)


def wait_for(process: subprocess.Popen, probe, timeout: float = 150):
    """Call ``probe`` until it returns something true, while the search still runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        found = probe()
        if found:
            return found
        time.sleep(1)  # each probe starts a status process: polled faster, they slow the search they watch
    raise AssertionError("the search never reached the state the test waits for")


def freeze_when(search: subprocess.Popen, registry: Path, run_id: str, wanted) -> dict:
    """Stop the search and its workers (SIGSTOP) at a moment its status shows a trial ``wanted`` accepts: that status.

    Frozen, no trial can end between the status and what the test does next.
    """

    def frozen() -> dict | None:
        os.killpg(search.pid, signal.SIGSTOP)
        done = status(registry, run_id, "--json")
        found = json.loads(done.stdout) if done.returncode == 0 else {"trials": []}
        if any(wanted(trial) for trial in found["trials"]):
            return found
        os.killpg(search.pid, signal.SIGCONT)
        return None

    return wait_for(search, frozen)


def kill(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def table_rows(text: str) -> dict[str, list[str]]:
    """The trials table's rows by trial id: the cells between rich's vertical bars."""
    rows = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("│").split("│")]
        if line.startswith("│") and cells[0].isdigit():
            rows[cells[0]] = cells
    return rows


def test_status_of_a_finished_parallel_run_lists_every_trial_with_its_worker(tmp_path):
    registry = tmp_path / "registry"
    searched = run_vautoml(
        *("search", "--plugin", "tiny-table", "--max-trials", "4", "--epochs", "5", "--quiet", "--workers", "2"),
        "--folds",  # one validation split: the status of a finished run is tested, not how its trials judge
        "1",
        *("--registry", str(registry), "--run-name", "done"),
    )
    assert searched.returncode == 0, searched.stderr  # 'vautoml search --plugin ...' still runs a search
    bundle = registry / "tiny-table" / "done"
    trials = json.loads((bundle / "trials.json").read_text())
    report = json.loads((bundle / "report.json").read_text())

    shown = status(registry, "done")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"run done: finished; {bundle}")
    assert "plugin tiny-table, tuner random, at most 4 trials, at most 5 epochs each" in shown.stdout
    assert f"next: exported to {bundle}" in shown.stdout
    rows = table_rows(shown.stdout)
    assert sorted(rows) == sorted(t["trial_id"] for t in trials)
    for trial in trials:
        assert trial["worker"] and trial["worker"] in rows[trial["trial_id"]]
        assert rows[trial["trial_id"]][1] == trial["status"]

    found = status_json(registry, "done")
    assert found["state"] == "finished" and found["folder"] == str(bundle)
    keys = ("trial_id", "status", "score", "best_epoch", "epochs_run", "seconds", "worker", "error")
    assert [{key: row[key] for key in keys} for row in found["trials"]] == [
        {key: t[key] for key in keys} for t in trials
    ]
    assert found["counts"]["completed"] == report["search"]["trials"]["COMPLETED"] == 4
    assert (found["best_trial"], found["best_score"]) == (
        report["search"]["best_trial"],
        report["search"]["best_score"],
    )
    assert {w["name"] for w in found["workers"]} == {t["worker"] for t in trials}
    assert found["watch"] == []  # the study went with the run folder


def test_status_of_a_parallel_run_in_progress_a_dead_worker_and_the_killed_search(tmp_path):
    registry = tmp_path / "registry"
    # More trials than the test watches (it kills the search at the end, so they cost nothing): it must still be
    # running after a worker's heartbeats go stale, and 8 trials of 20 epochs ended in 31 s with the training step.
    search = start_search(registry, "live", "--workers", "2", "--max-trials", "30", "--epochs", "20")
    try:

        def two_running() -> bool:
            done = status(registry, "live", "--json")  # refused until the search has taken its run
            trials = json.loads(done.stdout)["trials"] if done.returncode == 0 else []
            return len([t for t in trials if t["status"] == "RUNNING" and t["worker"]]) == 2

        wait_for(search, two_running)
        frozen = freeze_when(
            search, registry, "live", lambda t: t["status"] == "RUNNING" and "w1@" in (t["worker"] or "")
        )
        text = status(registry, "live").stdout
        running = {t["trial_id"]: t["worker"] for t in frozen["trials"] if t["status"] == "RUNNING"}
        assert frozen["state"] == "running" and frozen["held_by"] == str(search.pid)
        assert running and all(running.values())
        assert all(t["seconds"] > 0 for t in frozen["trials"] if t["status"] == "RUNNING")
        assert {w["name"] for w in frozen["workers"]} >= set(running.values())
        for trial_id, worker in running.items():
            assert table_rows(text)[trial_id][1] == "RUNNING" and worker in table_rows(text)[trial_id]
        assert "optuna trials --study-name live --storage sqlite:///" in text
        assert "optuna-dashboard sqlite:///" in text and "pip install optuna-dashboard" in text

        # Worker w1 dies mid-trial; the launcher fails its trial once the heartbeats are overdue, and runs it again.
        dead_trial, dead = next((i, w) for i, w in running.items() if w.startswith("w1@"))
        os.kill(int(dead.rsplit("/", 1)[1]), signal.SIGKILL)
        os.killpg(search.pid, signal.SIGCONT)

        def retried() -> dict:
            rows = {t["trial_id"]: t for t in status_json(registry, "live")["trials"]}
            return rows if rows[dead_trial]["status"] == "FAILED" else {}

        rows = wait_for(search, retried)
        error = rows[dead_trial]["error"]
        assert dead in error and "stopped sending heartbeats" in error and "; run again as trial " in error
        retry = rows[error.rsplit(" ", 1)[1]]
        assert retry["status"] != "FAILED" and (retry["status"] == "COMPLETED" or dead_trial in retry["note"])
        trials = freeze_when(search, registry, "live", lambda t: t["status"] == "RUNNING")["trials"]
        last = {t["trial_id"] for t in trials if t["status"] == "RUNNING"}
    finally:
        kill(search)

    killed = status(registry, "live")
    assert killed.returncode == 0, killed.stderr
    assert killed.stdout.startswith("run live: interrupted;")
    assert f"next: continue it with 'vautoml search --resume live --registry {registry}'" in killed.stdout

    def silent() -> dict:  # the killed search's trials, once their heartbeats are overdue
        found = status_json(registry, "live")
        rows = {t["trial_id"]: t for t in found["trials"]}
        return found if all(rows[i]["status"] == "INTERRUPTED" for i in last) else {}

    deadline, found = time.monotonic() + 30, {}
    while not found and time.monotonic() < deadline:
        found = silent()
        time.sleep(0.5)
    assert found, "the killed search's trials still look running"
    assert all("--resume runs it again" in t["note"] for t in found["trials"] if t["trial_id"] in last)
    assert found["counts"]["interrupted"] == len(last) and found["counts"]["running"] == 0

    # A status reads the study with Optuna, and loads neither Keras nor KerasTuner.
    script = (
        "import sys; from vertical_automl.cli import main\n"
        f"main(['search', 'status', 'live', '--registry', {str(registry)!r}], standalone_mode=False)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'keras', 'keras_tuner', 'torch', 'optuna'}))"
    )
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env={**os.environ, **FAST})
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip().splitlines()[-1] == "['optuna']"


def test_status_of_a_one_process_run_running_then_killed(tmp_path):
    registry = tmp_path / "registry"
    search = start_search(registry, "solo", "--max-trials", "6", "--epochs", "40")
    run = registry / ".runs" / "solo"
    try:

        def mid_second_trial() -> bool:  # trial 0 done, trial 1 has logged an epoch
            state, log = run / "trials_state.json", run / "logs" / "trial_1.csv"
            return state.exists() and log.exists() and len(log.read_text().splitlines()) >= 2

        wait_for(search, mid_second_trial)
        frozen = freeze_when(search, registry, "solo", lambda t: t["status"] == "RUNNING" and t["epochs_run"])
    finally:
        kill(search)
    assert frozen["state"] == "running" and frozen["held_by"] == str(search.pid)
    rows = {t["trial_id"]: t for t in frozen["trials"]}
    (trial_id,) = [i for i, t in rows.items() if t["status"] == "RUNNING"]  # one process, one trial at a time
    assert rows["0"]["status"] == "COMPLETED" and rows["0"]["score"] is not None and rows["0"]["seconds"] > 0
    assert int(trial_id) >= 1 and rows[trial_id]["epochs_run"] >= 1 and rows[trial_id]["seconds"] >= 0
    assert frozen["best_trial"] == "0" and frozen["direction"] == "max" and frozen["workers"] == []

    killed = status(registry, "solo")
    assert killed.returncode == 0, killed.stderr
    assert killed.stdout.startswith("run solo: interrupted;")
    assert f"next: continue it with 'vautoml search --resume solo --registry {registry}'" in killed.stdout
    assert "optuna" not in killed.stdout  # one process: no study to watch
    table = table_rows(killed.stdout)
    assert table["0"][1] == "COMPLETED" and table[trial_id][1] == "INTERRUPTED" and "--resume" in table[trial_id][-1]
    counts = status_json(registry, "solo")["counts"]
    assert counts == {
        "completed": int(trial_id),
        "failed": 0,
        "stopped": 0,
        "running": 0,
        "waiting": 0,
        "interrupted": 1,
    }


def test_an_unknown_run_is_one_line_exit_2_and_creates_nothing(tmp_path):
    registry = tmp_path / "registry"
    for run_id, message in (("nope", "Error: no run 'nope' in the registry"), ("../up", "is not a valid run name")):
        done = status(registry, run_id)
        assert done.returncode == 2 and done.stdout == ""
        assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1 and "Fix:" in done.stderr
    assert not registry.exists()


def test_a_search_holding_its_lock_before_its_run_folder_is_running(tmp_path):
    """Between taking the lock and writing run.json a search reads its data: it runs, with no trials yet."""
    registry = tmp_path / "registry"
    with locked_run(registry, "early"):
        found = status_json(registry, "early")
    assert found["state"] == "running" and found["held_by"] == str(os.getpid()) and found["trials"] == []
    assert status(registry, "early").returncode == 2  # released: nothing is left of it


def test_a_run_that_finishes_while_its_status_is_read_is_shown_finished(tmp_path, monkeypatch):
    """The search publishes between the status's first look and its reading of the study, which went with the move."""
    registry, run_id = tmp_path / "registry", "golden-table-regression"
    work = registry / ".runs" / run_id
    work.mkdir(parents=True)
    (work / "run.json").write_text(json.dumps(RunRequest("finance", None, None, SearchSettings()).to_json()))
    ParallelPlan.one_machine(work, run_id, 2).save(work)  # its study.db: gone by the time it is opened
    golden = Path(__file__).parent / "golden" / "registry" / "finance" / run_id

    def publish_as_the_status_looks(root: Path, run: str) -> None:
        shutil.copytree(golden, root / "finance" / run)

    monkeypatch.setattr(run_status, "run_holder", publish_as_the_status_looks)
    found = run_status.read_status(registry, run_id)
    assert found.state == "finished" and found.folder == str(registry / "finance" / run_id)


def test_a_killed_runs_trial_that_never_beat_shows_interrupted(tmp_path, monkeypatch):
    """Killed between Optuna's ask and its first heartbeat, a trial must not show running for good."""
    import optuna

    monkeypatch.setenv("VAUTOML_HEARTBEAT_SECONDS", "1")
    registry, run_id = tmp_path / "registry", "cut"
    work = registry / ".runs" / run_id
    work.mkdir(parents=True)
    (work / "run.json").write_text(json.dumps(RunRequest("finance", None, None, SearchSettings()).to_json()))
    plan = ParallelPlan.one_machine(work, run_id, 2)
    plan.save(work)
    optuna.create_study(storage=open_storage(plan.storage), study_name=plan.study).ask()
    assert [t.status for t in run_status.read_status(registry, run_id).trials] == ["RUNNING"]  # it may be starting
    time.sleep(4.2)  # VAUTOML_HEARTBEAT_SECONDS=1: four silent seconds and a trial's worker counts as dead
    found = run_status.read_status(registry, run_id)
    assert found.state == "interrupted" and [t.status for t in found.trials] == ["INTERRUPTED"]
    assert "--resume runs it again" in found.trials[0].note


def test_a_failed_run_shows_every_trials_error(tmp_path):
    registry = tmp_path / "registry"
    folder = registry / ".failed" / "broken"
    folder.mkdir(parents=True)
    rows = [
        TrialRecord(str(i), TrialStatus.FAILED, None, None, 1, 0.5, {}, error=f"ValueError: bad width {i}").to_json()
        for i in range(2)
    ]
    (folder / "trials.json").write_text(json.dumps(rows))
    shown = status(registry, "broken")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("run broken: failed;") and "every trial failed" in shown.stdout
    assert [cells[-1] for cells in table_rows(shown.stdout).values()] == [
        "ValueError: bad width 0",
        "ValueError: bad width 1",
    ]


def test_search_help_lists_status_and_the_group_still_needs_a_plugin():
    runner = CliRunner()
    helped = runner.invoke(main, ["search", "--help"])
    assert helped.exit_code == 0 and "Commands:" in helped.output and "status" in helped.output
    bare = runner.invoke(main, ["search"])
    assert bare.exit_code == 2 and "missing option --plugin" in bare.output
