"""The shared record of a parallel search: an Optuna study on an RDB storage, and what vautoml keeps on its trials.

Every worker of a parallel search (``vautoml search --workers N``, ``vautoml
worker``) is a peer: it asks the study for a trial, trains it and tells the
study the result.  There is no coordinator process to lose; the storage is
the coordinator.  Why Optuna on shared storage rather than KerasTuner's
chief/worker mode is in ``docs/parallel-engines.md``: a worker killed
mid-trial is found by its missing heartbeats (:data:`HEARTBEAT_SECONDS`) and
its trial retried (:func:`retry_stale_trial`), where KerasTuner's chief waits
for it forever.

One machine needs no server: the storage is ``sqlite:///<run folder>/study.db``.
Several machines share a PostgreSQL database (``--storage
postgresql+psycopg://...``) and the registry folder.  ``parallel.json`` in the
run folder says which (:class:`ParallelPlan`), so a worker or ``vautoml
search status`` needs nothing but the run.

This module owns the names of what vautoml writes on a study and its trials
(:class:`TrialKeys`), and counts trials against the cap (:func:`slots_used`).
Plain Optuna, no Keras: ``vautoml search status`` reads a study without the
training stack.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import SearchError, UsageError
from ..registry import damaged_run_folder

if TYPE_CHECKING:  # pragma: no cover - Optuna loads only for a parallel search
    import optuna

PLAN_FILE = "parallel.json"  # in the run folder: where the study is and how many workers the search started
STUDY_FILE = "study.db"  # the one-machine storage, in the run folder
MAX_ATTEMPTS = 3  # a trial whose worker died is run at most this often (a trial that kills its worker each time)
MAX_WORKERS = 256
CREATION_ATTEMPTS = 3  # opening a fresh database that other processes are creating the tables of at that moment
PARALLEL_TUNERS = ("random", "bayesian")  # hyperband brackets and grid order need one process that plans them


def heartbeat_seconds() -> int:
    """How often a running trial tells the storage its worker is alive (``VAUTOML_HEARTBEAT_SECONDS``, default 5).

    A trial whose worker missed :func:`grace_seconds` of heartbeats is taken
    for dead and retried.  Tests shorten it; 5 s costs one small write per
    worker every 5 s and finds a dead worker within 20 s.
    """
    return max(1, int(os.environ.get("VAUTOML_HEARTBEAT_SECONDS", "5")))


def grace_seconds() -> int:
    """Silence after which a running trial's worker counts as dead: four heartbeats."""
    return 4 * heartbeat_seconds()


class TrialKeys:
    """The user attributes vautoml writes on each Optuna trial (the study is the search's record)."""

    WORKER = "worker"  # which worker ran it: host/pid and its name
    TRIAL_ID = "trial_id"  # KerasTuner's id, the trial number zero-padded
    VALUES = "hyperparameters"  # every active value, Fixed ones included (Optuna's params hold only the sampled)
    STATUS = "status"  # KerasTuner's status when the trial ended: COMPLETED, FAILED, INVALID, STOPPED
    SCORE = "score"
    BEST_STEP = "best_step"
    ERROR = "error"  # the error's last lines
    SECONDS = "seconds"
    BUILD_SECONDS = "build_seconds"
    TREE_SECONDS = "tree_seconds"  # fitting its trees, before the first epoch
    EPOCHS_RUN = "epochs_run"
    RECIPE = "recipe"  # the vertical's recipe this trial runs, by index
    RETRY_OF = "retry_of"  # the number of the trial this one runs again, its worker having died
    RETRY_REASON = "retry_reason"  # why that trial was run again
    ATTEMPT = "attempt"  # 1 for a fresh trial, 2 for its first retry ...
    SKIPPED = "skipped"  # asked for beyond the trial cap by a worker that lost a race; never trained


class StudyKeys:
    """The study's own user attributes, written by the process that launches (or resumes) the search."""

    DEADLINE = "deadline_unix"  # when the search must stop starting trials (time.time()), or None
    CAP = "trial_cap"
    SEED = "seed"
    TUNER = "tuner"
    SPACE = "space"  # the explored search space (KerasTuner's HyperParameters config), the same for every worker


@dataclass(frozen=True)
class ParallelPlan:
    """Where a parallel search keeps its study, and how many workers its launcher runs (``parallel.json``)."""

    storage: str
    study: str
    workers: int

    @classmethod
    def one_machine(cls, work: Path, run_id: str, workers: int) -> ParallelPlan:
        return cls(f"sqlite:///{(work / STUDY_FILE).resolve()}", run_id, workers)

    def save(self, work: Path) -> None:
        temporary = work / (PLAN_FILE + ".tmp")
        temporary.write_text(json.dumps(asdict(self), indent=2))
        os.replace(temporary, work / PLAN_FILE)

    @classmethod
    def read(cls, work: Path) -> ParallelPlan | None:
        """The run's plan, or ``None`` for a run that searches in one process."""
        path = work / PLAN_FILE
        if not path.exists():
            return None
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as error:
            raise damaged_run_folder(work, f"{PLAN_FILE} cannot be read: {error}") from error

    def with_workers(self, workers: int) -> ParallelPlan:
        return ParallelPlan(self.storage, self.study, workers)


def check_workers(workers: int, tuner: str) -> None:
    """Refuse worker counts and tuners a parallel search cannot run, before any data is read."""
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
        raise UsageError(
            f"workers must be an integer from 1 to {MAX_WORKERS}, got {workers!r}", "pass e.g. --workers 2"
        )
    if tuner not in PARALLEL_TUNERS:
        raise UsageError(
            f"--tuner {tuner} plans its trials in one process and cannot run in parallel",
            f"use --tuner {' or '.join(PARALLEL_TUNERS)} with --workers or --storage, or leave those out",
        )


def worker_name(label: str) -> str:
    """A worker as a trial records it: its label, host and process id (``w1@gpu-box/4242``)."""
    return f"{label}@{socket.gethostname()}/{os.getpid()}"


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """The RDB storage at ``url`` with heartbeats on and :func:`retry_stale_trial` for trials of dead workers.

    A storage that cannot be reached, or a URL whose database driver is not
    installed, is refused in one line naming the URL (without its password).
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    engine: dict[str, Any] = {}
    if url.startswith("sqlite"):
        engine = {"connect_args": {"timeout": 60}}  # workers wait for each other's writes instead of failing
    try:
        return _rdb_storage(url, engine)
    except ImportError as error:
        raise UsageError(
            f"the storage {without_password(url)} needs a database driver that is not installed ({error})",
            "for PostgreSQL: pip install 'psycopg[binary]' and use postgresql+psycopg://...",
        ) from error
    except Exception as error:  # SQLAlchemy's OperationalError and friends: the server is not there
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise UsageError(
            f"cannot open the search storage {without_password(url)}: {first}",
            "check that the database server is running and the address is right",
        ) from error


def _rdb_storage(url: str, engine: dict[str, Any]) -> optuna.storages.RDBStorage:
    """Optuna's storage, opened again when another process was creating the same new database at that moment.

    Processes that open one fresh database at once (a search starting, and
    ``vautoml search status`` or ``optuna trials`` on it) race to create its
    tables: the loser sees an ``IntegrityError`` (the version row is there) or
    "table ... already exists", and either means the tables now exist.
    """
    import optuna
    import sqlalchemy

    def opened() -> optuna.storages.RDBStorage:
        with quiet_optuna():
            return optuna.storages.RDBStorage(
                url,
                engine_kwargs=engine,
                heartbeat_interval=heartbeat_seconds(),
                grace_period=grace_seconds(),
                heartbeat_stale_trial_callback=retry_stale_trial,
            )

    for _ in range(CREATION_ATTEMPTS - 1):
        try:
            return opened()
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError) as error:
            if isinstance(error, sqlalchemy.exc.OperationalError) and "already exists" not in str(error):
                raise  # the server is not there, or refused: not a race
            time.sleep(0.5)
    return opened()


@contextmanager
def storage_guard(study: str) -> Iterator[None]:
    """A storage that went away mid-search (a database restart, a lost network) is one line, not a traceback."""
    import optuna
    import sqlalchemy

    try:
        yield
    except (optuna.exceptions.StorageInternalError, sqlalchemy.exc.SQLAlchemyError) as error:
        raise storage_lost(error, study) from error


def storage_lost(error: BaseException, study: str) -> SearchError:
    """The error for a storage lost mid-search, naming its real cause (Optuna's own wrapper text says little)."""
    cause = error
    while cause.__cause__ is not None:
        cause = cause.__cause__
    first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    return SearchError(
        f"lost the search storage: {first}",
        f"start the database again, then continue with vautoml search --resume {study} "
        "(if no trial had finished, start the search again)",
    )


def without_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    return f"{scheme}{sep}{credentials.split(':', 1)[0]}:***@{host}"


def retry_stale_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """Optuna failed ``trial`` because its worker stopped sending heartbeats: queue it to run again.

    Runs in whichever worker noticed, once per trial (the storage lets only one
    process fail it).  A finished trial's attributes cannot change, so the
    reason goes on the retry; a trial that has taken its worker down
    :data:`MAX_ATTEMPTS` times is left failed.
    """
    attempt = int(trial.user_attrs.get(TrialKeys.ATTEMPT, 1))
    if attempt >= MAX_ATTEMPTS:
        return
    worker = trial.user_attrs.get(TrialKeys.WORKER, "its worker")
    reason = f"{worker} stopped sending heartbeats for {grace_seconds()}s (killed or lost)"
    requeue(study, trial, reason, attempt)


def requeue(study: optuna.Study, trial: optuna.trial.FrozenTrial, reason: str, attempt: int) -> None:
    """Queue ``trial``'s values as a new trial that retries it, saying why.

    A trial that died before it chose its values (killed between Optuna's ask
    and its first heartbeat) queues none: its retry draws them as a fresh
    trial would.
    """
    attrs: dict[str, Any] = {
        TrialKeys.RETRY_OF: trial.number,
        TrialKeys.RETRY_REASON: reason,
        TrialKeys.ATTEMPT: attempt + 1,
    }
    values = trial.user_attrs.get(TrialKeys.VALUES, dict(trial.params))
    if values:
        attrs[TrialKeys.VALUES] = values
    if TrialKeys.RECIPE in trial.user_attrs:
        attrs[TrialKeys.RECIPE] = trial.user_attrs[TrialKeys.RECIPE]
    study.enqueue_trial(dict(trial.params), user_attrs=attrs)


def beatless_trials(storage: optuna.storages.RDBStorage, study_id: int) -> dict[int, int]:
    """Running trials asked over :func:`grace_seconds` ago that never beat: the storage's id to the trial's number.

    Their worker died between Optuna's ask and its first heartbeat (a SIGKILL
    lands there now and then).  Optuna's stale check passes over a trial with
    no heartbeat, so without this it would stay running for good: a launcher
    waiting for it would never finish, and a status would show it running.
    The start time is the asking process's clock; a trial is beatless only for
    the moment between two writes, so another host's clock skew matters only
    if it is larger than the grace period and a check lands in that moment.
    """
    import sqlalchemy
    from optuna.storages._rdb import models  # no public query tells a trial that never beat
    from optuna.trial import TrialState

    since = datetime.now() - timedelta(seconds=grace_seconds())  # Optuna gives start times in local time
    old = [
        trial.number
        for trial in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
        if trial.datetime_start is not None and trial.datetime_start < since
    ]
    if not old:
        return {}
    ids = {storage.get_trial_id_from_study_id_trial_number(study_id, number): number for number in old}
    beat = models.TrialHeartbeatModel
    with storage.engine.connect() as connection:
        beaten = set(connection.execute(sqlalchemy.select(beat.trial_id).where(beat.trial_id.in_(list(ids)))).scalars())
    return {trial_id: number for trial_id, number in ids.items() if trial_id not in beaten}


def fail_silent_trials(study: optuna.Study, storage: optuna.storages.RDBStorage) -> None:
    """Fail, and queue again, the running trials whose worker is gone: stale heartbeats, or none ever (beatless)."""
    import optuna
    from optuna.trial import TrialState

    optuna.storages.fail_stale_trials(study)
    for trial_id in beatless_trials(storage, storage.get_study_id_from_name(study.study_name)):
        try:
            failed = storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another process failed it first, and queued its retry
        if failed:
            retry_stale_trial(study, storage.get_trial(trial_id))


def replaced_trials(trials: Sequence[optuna.trial.FrozenTrial]) -> dict[int, tuple[str, int]]:
    """The trials another trial runs again, by number: why (its worker died, or Ctrl-C) and the retry's number."""
    return {
        int(t.user_attrs[TrialKeys.RETRY_OF]): (str(t.user_attrs.get(TrialKeys.RETRY_REASON, "retried")), t.number)
        for t in trials
        if TrialKeys.RETRY_OF in t.user_attrs
    }


def slots_used(trials: Sequence[optuna.trial.FrozenTrial]) -> int:
    """How many of the trial cap's places the study's trials take.

    Every trial counts, waiting ones (recipes, retries) included, except a
    failed one that a retry replaces and one skipped beyond the cap.
    """
    replaced = replaced_trials(trials)
    return sum(1 for t in trials if t.number not in replaced and TrialKeys.SKIPPED not in t.user_attrs)


@contextmanager
def quiet_optuna() -> Iterator[None]:
    """Without Optuna's notes on heartbeats: "experimental", and "meant for ``Study.optimize``".

    vautoml keeps the heartbeats itself (:class:`Heartbeat`); the notes would
    repeat on every trial of every worker and say nothing a user can act on.
    """
    import optuna

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed")
        yield


class Heartbeat:
    """Tells the storage, every :func:`heartbeat_seconds`, that the worker running a trial is alive.

    A daemon thread, so a worker that crashes cannot be kept alive by it
    (Optuna's own heartbeat thread is not a daemon: a crash after it started
    left the spike's workers hanging for good).  The first beat is written
    before :meth:`start` returns, so a worker killed at once is still found.
    """

    def __init__(self, storage: optuna.storages.RDBStorage, trial_id: int) -> None:
        self.storage, self.trial_id = storage, trial_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"vautoml-heartbeat-{trial_id}", daemon=True)

    def start(self) -> Heartbeat:
        self.storage.record_heartbeat(self.trial_id)
        self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(heartbeat_seconds()):
            try:
                self.storage.record_heartbeat(self.trial_id)
            except Exception:  # the storage went away: the trial's tell will say so; a dead beat must not crash
                continue

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=heartbeat_seconds() + 5)
