"""The parallel search's bookkeeping on a real Optuna study, without training: the cap, retries, plans and threads."""

from __future__ import annotations

import pytest

from vertical_automl.errors import UsageError
from vertical_automl.pipeline.execution import Execution
from vertical_automl.search_engine import study as study_module
from vertical_automl.search_engine import workers as worker_pool
from vertical_automl.search_engine.records import TrialRecord, TrialStatus
from vertical_automl.search_engine.study import (
    Heartbeat,
    ParallelPlan,
    TrialKeys,
    beatless_trials,
    check_workers,
    fail_silent_trials,
    open_storage,
    replaced_trials,
    requeue,
    slots_used,
    without_password,
)
from vertical_automl.search_engine.workers import (
    DEFAULT_WORKERS_LIMIT,
    WORKERS_VARIABLE,
    WorkerPool,
    default_workers,
    threads_per_worker,
)
from vertical_automl.settings import SearchSettings


@pytest.fixture
def study(tmp_path):
    import optuna

    return optuna.create_study(storage=open_storage(f"sqlite:///{tmp_path / 'study.db'}"), study_name="run")


def test_a_dead_workers_trial_gives_its_place_in_the_cap_to_its_retry(study):
    import optuna

    study.enqueue_trial({"x": 1}, user_attrs={TrialKeys.RECIPE: 0, TrialKeys.VALUES: {"x": 1}})
    assert slots_used(study.get_trials()) == 1  # a queued recipe holds its place
    first = study.ask()
    first.suggest_int("x", 0, 9)
    first.set_user_attr(TrialKeys.VALUES, {"x": 1})
    study.tell(first, state=optuna.trial.TrialState.FAIL)
    assert slots_used(study.get_trials()) == 1  # failed for good: it counts
    requeue(study, study.get_trials()[0], "w1@box/7 stopped sending heartbeats", attempt=1)
    trials = study.get_trials()
    assert slots_used(trials) == 1  # the retry took the failed trial's place
    assert replaced_trials(trials) == {0: ("w1@box/7 stopped sending heartbeats", 1)}
    retry = trials[1]
    assert retry.user_attrs[TrialKeys.ATTEMPT] == 2 and retry.user_attrs[TrialKeys.VALUES] == {"x": 1}
    again = study.ask()
    assert again.number == 1 and again.suggest_int("x", 0, 9) == 1  # the retry runs the same values


def test_a_trial_whose_worker_died_before_its_first_heartbeat_is_failed_and_queued_again(tmp_path, monkeypatch):
    """A SIGKILL between Optuna's ask and the first heartbeat left the trial running for good (Optuna skips it)."""
    import optuna

    storage = open_storage(f"sqlite:///{tmp_path / 'study.db'}")
    study = optuna.create_study(storage=storage, study_name="run")
    study_id = storage.get_study_id_from_name(study.study_name)
    orphan, alive = study.ask(), study.ask()
    Heartbeat(storage, storage.get_trial_id_from_study_id_trial_number(study_id, alive.number)).start().stop()
    assert beatless_trials(storage, study_id) == {}  # within the grace period a worker may still be starting it
    monkeypatch.setattr(study_module, "grace_seconds", lambda: 0)
    orphan_id = storage.get_trial_id_from_study_id_trial_number(study_id, orphan.number)
    assert beatless_trials(storage, study_id) == {orphan_id: orphan.number}
    fail_silent_trials(study, storage)
    fail_silent_trials(study, storage)  # found again by another worker: still one retry
    assert [t.state.name for t in study.get_trials()[:2]] == ["FAIL", "RUNNING"]  # the beating one is alive
    retries = [t for t in study.get_trials() if TrialKeys.RETRY_OF in t.user_attrs]
    assert [t.user_attrs[TrialKeys.RETRY_OF] for t in retries] == [0]
    assert all(TrialKeys.VALUES not in t.user_attrs for t in retries)  # nothing chosen yet: drawn afresh
    assert slots_used(study.get_trials()) == 2


def test_a_trial_skipped_beyond_the_cap_takes_no_place(study):
    import optuna

    trial = study.ask()
    trial.set_user_attr(TrialKeys.SKIPPED, "beyond the trial cap")
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    assert slots_used(study.get_trials()) == 0


def test_the_plan_round_trips_and_a_run_keeps_its_engine(tmp_path):
    settings = SearchSettings()
    plan = ParallelPlan.one_machine(tmp_path, "night", 3)
    assert plan.storage == f"sqlite:///{(tmp_path / 'study.db').resolve()}"
    assert Execution(workers=1).plan(tmp_path, "night", False, settings) is None  # --workers 1: one process
    plan.save(tmp_path)
    assert ParallelPlan.read(tmp_path) == plan
    assert Execution().plan(tmp_path, "night", True, settings) == plan  # resumed with the workers it started with
    assert Execution(workers=5).plan(tmp_path, "night", True, settings).workers == 5
    with pytest.raises(UsageError, match="keeps its trials in the storage it started with"):
        Execution(storage="postgresql+psycopg://db/x").plan(tmp_path, "night", True, settings)
    with pytest.raises(UsageError, match="started in one process and continues in one"):
        Execution(workers=2).plan(tmp_path / "other", "day", True, settings)
    assert Execution().plan(tmp_path / "other", "day", True, settings) is None  # and without --workers, it does


def test_a_new_search_runs_one_worker_per_core_by_default(tmp_path, monkeypatch):
    monkeypatch.delenv(WORKERS_VARIABLE, raising=False)
    monkeypatch.setattr(worker_pool, "visible_gpus", lambda: [])
    monkeypatch.setattr(worker_pool, "usable_cores", lambda: 4)
    plan = Execution().plan(tmp_path, "night", False, SearchSettings())
    assert plan.workers == 4 and plan.storage == f"sqlite:///{(tmp_path / 'study.db').resolve()}"
    assert default_workers("random", trial_cap=3) == 3  # never more workers than trials
    assert default_workers("hyperband", None) == 1  # it plans its brackets in one process
    assert Execution().plan(tmp_path / "grid", "g", False, SearchSettings(tuner="grid")) is None
    monkeypatch.setattr(worker_pool, "usable_cores", lambda: 64)
    assert default_workers("random", None) == DEFAULT_WORKERS_LIMIT
    monkeypatch.setattr(worker_pool, "visible_gpus", lambda: ["0", "1"])
    assert default_workers("bayesian", None) == 2  # one per GPU


def test_the_default_worker_count_can_be_set_in_the_environment(monkeypatch):
    monkeypatch.setattr(worker_pool, "usable_cores", lambda: 4)
    monkeypatch.setenv(WORKERS_VARIABLE, "1")
    assert default_workers("random", None) == 1
    monkeypatch.setenv(WORKERS_VARIABLE, "3")
    assert default_workers("random", None) == 3
    for wrong in ("0", "two", "-1", "300"):
        monkeypatch.setenv(WORKERS_VARIABLE, wrong)
        with pytest.raises(UsageError, match=f"VAUTOML_WORKERS must be a whole number from 1 to 256, got '{wrong}'"):
            default_workers("random", None)


def test_workers_and_tuners_are_checked_before_anything_runs():
    check_workers(4, "random")
    check_workers(4, "bayesian")
    for workers in (0, 257, True):
        with pytest.raises(UsageError, match="workers must be an integer from 1 to 256"):
            check_workers(workers, "random")
    with pytest.raises(UsageError, match="--tuner hyperband plans its trials in one process"):
        check_workers(2, "hyperband")


def test_threads_split_so_workers_never_oversubscribe_the_cores():
    assert [threads_per_worker(n, cores=8) for n in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]


class StartedWorker:
    """What ``subprocess.Popen`` would have started: its command and environment; it has exited cleanly."""

    def __init__(self, command, env, **_options):
        self.command, self.env = command, env

    def poll(self):
        return 0

    def wait(self, timeout=None):
        return 0


def test_each_worker_gets_one_gpu_round_robin_and_its_share_of_threads(tmp_path, monkeypatch):
    # The CUDA machine is not in CI: the GPUs the launcher sees are given, the processes recorded, not run.
    monkeypatch.setattr(worker_pool, "visible_gpus", lambda: ["2", "5"])  # e.g. CUDA_VISIBLE_DEVICES=2,5
    monkeypatch.setattr(worker_pool, "usable_cores", lambda: 8)
    monkeypatch.setattr(worker_pool.subprocess, "Popen", StartedWorker)
    pool = WorkerPool("r1", tmp_path, tmp_path, 4, report=lambda line: None).start()
    pool.stop()
    started = {name: process.env for name, process in pool.processes.items()}
    # Worker 0, the launcher, keeps torch's default device: the first visible GPU, "2".
    assert {name: env["CUDA_VISIBLE_DEVICES"] for name, env in started.items()} == {"w1": "5", "w2": "2", "w3": "5"}
    assert {env["OMP_NUM_THREADS"] for env in started.values()} == {"2"}
    assert all(process.command[-4:-2] == ["--threads", "2"] for process in pool.processes.values())


@pytest.mark.parametrize("cores, warned", [(2, True), (3, False)])
def test_more_workers_than_cores_is_run_with_a_warning_that_names_the_fix(tmp_path, monkeypatch, cores, warned):
    from vertical_automl.search_engine import parallel

    monkeypatch.setattr(worker_pool, "visible_gpus", lambda: [])
    monkeypatch.setattr(worker_pool.subprocess, "Popen", StartedWorker)
    monkeypatch.setattr(parallel, "usable_cores", lambda: cores)
    search = parallel.ParallelSearch(ParallelPlan.one_machine(tmp_path, "r1", 3), "r1", tmp_path, tmp_path)
    lines: list[str] = []
    with search.workers_running(lines.append) as pool:
        assert len(pool.processes) == 2
    warnings = [line for line in lines if line.startswith("warning:")]
    expected = [
        "warning: 3 workers on 2 cores: more threads than cores, so each trial runs slower; "
        "on a CPU, use --workers 2 at most"
    ]
    assert warnings == (expected if warned else [])


def test_a_storage_url_is_shown_without_its_password():
    assert (
        without_password("postgresql+psycopg://ann:s3cret@db:5432/runs") == "postgresql+psycopg://ann:***@db:5432/runs"
    )
    assert without_password("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


def test_an_unreachable_storage_is_one_line_naming_it_without_the_password():
    with pytest.raises(UsageError) as refused:
        open_storage("postgresql+psycopg://ann:s3cret@127.0.0.1:1/runs")
    assert "s3cret" not in str(refused.value) and "ann:***@127.0.0.1:1" in str(refused.value)


@pytest.mark.parametrize(
    "race",
    [
        "(sqlite3.OperationalError) table study_directions already exists",
        'duplicate key value violates unique constraint "alembic_version_pkc"',
    ],
)
def test_opening_a_database_that_another_process_is_creating_tries_again(tmp_path, monkeypatch, race):
    # A search starting while `vautoml search status` or `optuna trials` opens its fresh study.db: who loses the
    # race to create the tables sees one of these, once; CI saw both fail a search.
    import optuna
    import sqlalchemy

    real, calls = optuna.storages.RDBStorage, []

    def racing(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            kind = sqlalchemy.exc.OperationalError if "already exists" in race else sqlalchemy.exc.IntegrityError
            raise kind("CREATE TABLE ...", {}, Exception(race))
        return real(*args, **kwargs)

    monkeypatch.setattr(optuna.storages, "RDBStorage", racing)
    storage = open_storage(f"sqlite:///{tmp_path / 'study.db'}")
    assert len(calls) == 2 and storage.get_all_studies() == []


def test_a_storage_that_is_not_there_is_not_tried_again(tmp_path, monkeypatch):
    import optuna

    real, calls = optuna.storages.RDBStorage, []
    monkeypatch.setattr(optuna.storages, "RDBStorage", lambda *a, **k: calls.append(a) or real(*a, **k))
    with pytest.raises(UsageError, match="unable to open database file"):
        open_storage(f"sqlite:///{tmp_path / 'no-such-folder' / 'study.db'}")
    assert len(calls) == 1


def test_a_trial_record_names_its_worker_only_in_a_parallel_search():
    alone = TrialRecord("0", TrialStatus.COMPLETED, 0.9, 3, 4, 1.0, {"units": 8})
    assert "worker" not in alone.to_json()
    parallel = TrialRecord("0", TrialStatus.COMPLETED, 0.9, 3, 4, 1.0, {"units": 8}, worker="w1@box/7")
    assert TrialRecord.from_json(parallel.to_json()) == parallel
