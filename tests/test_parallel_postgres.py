"""A parallel search on PostgreSQL: a worker joins from "another machine", bad URLs, and the server going away.

Every test runs the real CLI in fresh processes against a real server
(:mod:`postgres_server`: ``VAUTOML_TEST_POSTGRES`` or a throwaway cluster),
each on a database of its own, and reads the study back with psycopg to
prove the trials are in PostgreSQL, not in an SQLite file.

Where a test needs a second worker to be inside a trial at a given moment it
pauses the launcher (SIGSTOP) until that worker has its trial, instead of
hoping the launcher has not used up the trial cap while the worker imports
torch: the order of events is fixed, whatever the machine's load.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import THROWAWAY
from postgres_server import (  # noqa: F401  (the fixtures: pytest finds them in this module)
    Cluster,
    connect,
    free_port,
    own_postgres_fixture,
    postgres_server_fixture,
    postgres_url_fixture,
    with_database,
)

# Heartbeats every 10 s: a launcher paused here for a worker to start is taken for dead only after 40 s.
ENV = {"VAUTOML_LOAD_PLUGINS": THROWAWAY, "VAUTOML_HEARTBEAT_SECONDS": "10"}
TRIALS = 6  # enough that a worker starting early, as the launcher's own do, still finds one left when a test needs it
SEARCH = (
    "search",
    "--plugin",
    "tiny-table",
    "--max-trials",
    str(TRIALS),
    "--epochs",
    "10",
    "--quiet",
    "--folds",  # one validation split: these tests are about the storage, and it keeps each trial short
    "1",
    "--run-name",
    "X",
)
WAIT_SECONDS = 180  # a process not done by then has hung (the wait is a hang check, not a speed test)


@dataclass
class Process:
    """A vautoml command running in the background, its output in a file (a pipe nobody reads would block it)."""

    popen: subprocess.Popen
    output: Path

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def finish(self) -> int:
        try:
            return self.popen.wait(timeout=WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            pytest.fail(f"{self.popen.args[3]} did not exit within {WAIT_SECONDS}s:\n{self.text()[-3000:]}")


def start(tmp_path: Path, name: str, *args: str, env: dict[str, str] | None = None) -> Process:
    output = tmp_path / f"{name}.out"
    with open(output, "wb") as sink:
        popen = subprocess.Popen(
            [sys.executable, "-m", "vertical_automl.cli", *args],
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **ENV, **(env or {})},
        )
    return Process(popen, output)


def run(tmp_path: Path, name: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    process = start(tmp_path, name, *args, env=env)
    return process.finish(), process.text()


def running_workers(url: str, study: str) -> list[str]:
    """The workers (as trials name them) with a trial running in ``study`` now; none while it does not exist yet."""
    try:
        with connect(url) as db:
            rows = db.execute(
                "SELECT a.value_json FROM trials t JOIN studies s USING (study_id) "
                "JOIN trial_user_attributes a ON a.trial_id = t.trial_id AND a.key = 'worker' "
                "WHERE s.study_name = %s AND t.state = 'RUNNING'",
                (study,),
            ).fetchall()
    except Exception as error:  # the launcher has not created the tables yet
        if "does not exist" in str(error):
            return []
        raise
    return [json.loads(value) for (value,) in rows]


def study_trials(url: str, study: str) -> list[tuple[int, str, str]]:
    """Every trial of ``study`` as PostgreSQL holds it: number, state and the worker that ran it."""
    with connect(url) as db:
        return db.execute(
            "SELECT t.number, t.state, a.value_json FROM trials t JOIN studies s USING (study_id) "
            "LEFT JOIN trial_user_attributes a ON a.trial_id = t.trial_id AND a.key = 'worker' "
            "WHERE s.study_name = %s ORDER BY t.number",
            (study,),
        ).fetchall()


def launcher_in_a_trial_after_one_completed(url: str) -> bool:
    """Whether a trial of the study ``X`` is complete (by any worker) and the launcher (worker 0) runs one."""
    if not any(w.startswith("w0@") for w in running_workers(url, "X")):
        return False
    return any(state == "COMPLETE" for _, state, _ in study_trials(url, "X"))


def wait_for(condition: Callable[[], object], what: str, *processes: Process) -> None:
    """Poll ``condition`` until it holds; fail at once, with its output, if one of ``processes`` exits first."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        for process in processes:
            if process.popen.poll() is not None:
                pytest.fail(f"{' '.join(process.popen.args[3:5])} exited before {what}:\n{process.text()[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {WAIT_SECONDS}s")
        time.sleep(0.2)


@contextmanager
def paused(process: Process) -> Iterator[None]:
    """The process stopped (SIGSTOP) for the block, then continued."""
    os.kill(process.popen.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(process.popen.pid, signal.SIGCONT)


def published_trials(registry: Path) -> list[dict]:
    return json.loads((registry / "tiny-table" / "X" / "trials.json").read_text())


def test_a_worker_joins_a_search_on_postgresql_from_another_terminal(tmp_path: Path, postgres_url: str) -> None:
    """``vautoml worker`` with only the run id and the registry runs trials of a search whose study is in PostgreSQL."""
    registry = tmp_path / "registry"
    launcher = start(
        tmp_path, "search", *SEARCH, "--workers", "1", "--storage", postgres_url, "--registry", str(registry)
    )
    wait_for(lambda: running_workers(postgres_url, "X"), "a running trial of the launcher", launcher)
    with paused(launcher):
        joined = start(tmp_path, "worker", "worker", "X", "--registry", str(registry), "--name", "other")
        wait_for(lambda: any(w.startswith("other@") for w in running_workers(postgres_url, "X")), "joined", joined)

    assert launcher.finish() == 0, launcher.text()
    assert joined.finish() == 0, joined.text()
    assert "worker other@" in joined.text() and "has none left" in joined.text()
    rows = published_trials(registry)
    assert {row["worker"].split("@")[0] for row in rows} == {"w0", "other"}
    in_postgres = study_trials(postgres_url, "X")
    completed = [(number, worker) for number, state, worker in in_postgres if state == "COMPLETE"]
    assert len(completed) == TRIALS
    assert sorted(json.loads(worker) for _, worker in completed) == sorted(
        row["worker"] for row in rows if row["status"] == "COMPLETED"
    )
    assert not (registry / ".runs" / "X").exists()


@pytest.mark.parametrize("wrong", ["password", "port"])
def test_a_storage_that_refuses_fails_in_one_line_without_the_password(
    tmp_path: Path, postgres_url: str, wrong: str
) -> None:
    """A wrong password or port: exit 2, one line naming the URL with its password hidden, and no run folder left."""
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url)
    if wrong == "password":
        if url.password is None:
            pytest.skip("VAUTOML_TEST_POSTGRES names a server that asks no password")
        url = url.set(password="not-the-password")
    else:
        url = url.set(port=free_port())
    storage = url.render_as_string(hide_password=False)
    registry = tmp_path / "registry"

    code, output = run(tmp_path, "search", *SEARCH, "--storage", storage, "--registry", str(registry))

    assert code == 2, output
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in output, output
    assert url.render_as_string(hide_password=True) in errors[0], errors[0]  # the password as ***
    assert not url.password or url.password not in output
    leftovers = list((registry / ".runs").iterdir()) if (registry / ".runs").exists() else []
    assert leftovers == [], f"a refused storage left run folders behind: {leftovers}"


def test_the_server_stopping_stops_every_worker_and_resume_finishes_the_search(
    tmp_path: Path, own_postgres: Cluster
) -> None:
    """PostgreSQL going down mid-trial: both workers exit with one clear line; after a restart, --resume finishes."""
    with connect(own_postgres.url, autocommit=True) as admin:
        admin.execute('CREATE DATABASE "search"')
    url = with_database(own_postgres.url, "search")
    registry = tmp_path / "registry"
    launcher = start(tmp_path, "search", *SEARCH, "--workers", "2", "--storage", url, "--registry", str(registry))
    # After a finished trial: a launcher that fails before any removes the run, with nothing to resume.  That
    # trial may be w1's: the run folder is kept for it all the same (w1's own bookkeeping counts).
    wait_for(lambda: launcher_in_a_trial_after_one_completed(url), "a completed trial", launcher)
    Path("/tmp/hfw.txt").open("a").write(f"{time.time():.2f} test: condition {study_trials(url, 'X')}\n")
    with paused(launcher):
        wait_for(lambda: any(w.startswith("w1@") for w in running_workers(url, "X")), "a trial of worker w1", launcher)
        Path("/tmp/hfw.txt").open("a").write(f"{time.time():.2f} test: stopping {study_trials(url, 'X')}\n")
        own_postgres.stop()  # while both workers are inside a trial

    stopped = time.monotonic()
    code = launcher.finish()
    print(f"the launcher exited {time.monotonic() - stopped:.1f}s after the server stopped")
    output = launcher.text()
    assert code != 0, output
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in output, output
    kept = registry / ".runs" / "X"
    assert (kept / "workers" / "w1.log").is_file(), f"{output}\n{sorted(map(str, registry.rglob('*')))}"
    worker_log = (kept / "workers" / "w1.log").read_text(errors="replace").strip()
    # w1 stops on its own once its trial's result cannot be told, unless the launcher got there first and passed
    # it a Ctrl-C (a trial of w1 that started after the launcher's ends later): one clear line either way.
    worker_error = worker_log.splitlines()[-1]
    assert worker_error.startswith(("Error: lost the search storage", "Interrupted;")), worker_log[-2000:]
    assert "Traceback" not in worker_log, worker_log[-2000:]

    own_postgres.start()
    resume = ("search", "--resume", "X", "--registry", str(registry), "--quiet")
    code, output = run(tmp_path, "resume", *resume, env={"VAUTOML_HEARTBEAT_SECONDS": "1"})  # stale in 4 s, not 40
    assert code == 0, output
    rows = published_trials(registry)
    assert sum(row["status"] == "COMPLETED" for row in rows) == TRIALS
    states = [state for _, state, _ in study_trials(url, "X")]
    assert states.count("COMPLETE") == TRIALS and "RUNNING" not in states

    assert errors[0].startswith("Error: lost the search storage") and "--resume X" in errors[0], errors[0]
