"""A run in progress: its folder ``<root>/.runs/<run-id>/``, from its start to publishing its bundle.

A run works in its run folder: the request it was started with
(``run.json``), the tuner's state, per-trial logs, and the bundle being
assembled.  The bundle is renamed to ``<root>/<vertical>/<run-id>`` only when
every file is written (same file system, so the rename is atomic), and the run
folder is then removed.  A search that fails before any trial
completed removes its run folder, and the registry folders it created, so
nothing half-written is left behind; one with finished work (a completed
trial, or a resumed run) keeps it, and so does an interrupted one (Ctrl-C, or
killed) and one stopped by a full disk: ``vautoml search --resume RUN_ID``
continues from there.  A search whose every trial failed leaves only the
record of those trials, in ``<root>/.failed/<run-id>/``, which nothing lists.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..bundle.files import TRIALS_FILE
from ..errors import RunInterrupted, UsageError
from ..records import RunRequest
from .disk import disk_full, disk_full_error
from .layout import FAILED, REQUEST_FILE, RUNS, run_folder

# What a resume reads from run.json.


def saved_request(root: Path, run_id: str) -> RunRequest | None:
    """What an interrupted run was started with, or ``None`` if there is no such run folder."""
    check_runs_folder(root, run_id)
    folder = run_folder(root, run_id)
    request = read_run_file(folder / REQUEST_FILE)
    if request is None:
        return None
    missing = set(RunRequest.KEYS) - request.keys()
    if missing:
        raise damaged_run_folder(folder, f"{REQUEST_FILE} lacks {', '.join(sorted(missing))}")
    try:
        return RunRequest.from_json(request)
    except (KeyError, TypeError, ValueError) as error:
        raise damaged_run_folder(folder, f"{REQUEST_FILE} is not a run request ({error})") from error


def read_run_file(path: Path) -> dict[str, Any] | None:
    """A JSON object the run folder keeps (the request, the trials' bookkeeping), ``None`` if absent.

    A damaged one is refused as :class:`DamagedRunFolder`.
    """
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else "is not valid JSON"
        raise damaged_run_folder(path.parent, f"{path.name} {reason}") from error
    if not isinstance(value, dict):
        raise damaged_run_folder(path.parent, f"{path.name} holds a JSON {type(value).__name__}, not an object")
    return value


class DamagedRunFolder(UsageError):
    """A run folder whose state cannot be trusted: resuming it would fail later, or silently differ."""


def damaged_run_folder(folder: Path, reason: str) -> DamagedRunFolder:
    """The one line for a damaged run folder, which is left as it is for the user to look at or remove."""
    return DamagedRunFolder(
        f"the run folder '{folder}' is damaged ({reason})", f"remove the folder '{folder}' and start the run again"
    )


def check_runs_folder(root: Path, run_id: str) -> None:
    """Name the file that stands where ``.runs`` or the run's folder should be, rather than a path below it."""
    for folder in (root / RUNS, run_folder(root, run_id)):
        if folder.exists() and not folder.is_dir():
            kept = "its run folders" if folder.name == RUNS else "the folder of run " + repr(run_id)
            raise UsageError(f"'{folder}' is a file, where vautoml keeps {kept}", f"move or remove the file '{folder}'")


@contextmanager
def open_run(
    root: Path, run_id: str, request: RunRequest, *, has_finished_work: Callable[[Path], bool]
) -> Iterator[Path]:
    """Yield the run's folder, creating it with ``run.json`` unless it is being resumed.

    Afterwards the folder is removed (the bundle has been published, or the
    search failed before any trial completed), except after an interruption,
    which keeps it for ``--resume`` and is re-raised as :class:`RunInterrupted`,
    and a failure of a run with finished work in it: a resumed run, or one for
    which ``has_finished_work(folder)`` says yes (a plugin's report section
    failing after a long search must not throw the search away). That error
    gets a note on how to continue.  The search's own bookkeeping answers
    ``has_finished_work`` (:func:`vertical_automl.search_engine.budget.has_finished_work`);
    the registry only keeps or removes folders, and imports no search code.
    """
    work = run_folder(root, run_id)
    resumed = work.exists()
    created = [p for p in (work, *work.parents) if not p.exists()]
    try:
        work.mkdir(parents=True, exist_ok=True)
        if not (work / REQUEST_FILE).exists():
            temporary = work / (REQUEST_FILE + ".tmp")
            temporary.write_text(json.dumps(request.to_json(), indent=2))
            os.replace(temporary, work / REQUEST_FILE)
    except OSError as error:
        raise UsageError(
            f"cannot create a run folder in the registry '{root}' ({error.strerror})",
            "pass a writable folder with --registry",
        ) from error
    shutil.rmtree(work / "bundle", ignore_errors=True)  # a bundle half-written by a killed session
    try:
        yield work
    except KeyboardInterrupt as interrupt:
        raise RunInterrupted(run_id) from interrupt
    except BaseException as error:
        if disk_full(error):
            shutil.rmtree(work / "bundle", ignore_errors=True)  # frees the space; the search's state stays
            raise disk_full_error(root, run_id) from error
        if isinstance(error, DamagedRunFolder):
            raise
        if resumed or has_finished_work(work):
            shutil.rmtree(work / "bundle", ignore_errors=True)
            error.add_note(
                f"Run '{run_id}' is kept with its finished trials: continue it with 'vautoml search --resume {run_id}'"
            )
            raise
        _remove(work, created)
        raise
    _remove(work, created)




def keep_failed_trials(root: Path, run_id: str, trials: list[dict[str, Any]], logs: Path) -> Path | None:
    """Write a failed search's trials (each with its error) and their logs to ``<root>/.failed/<run-id>/``.

    The run folder itself is removed as after any failure: it holds no model
    worth resuming, but the user needs every trial's error to fix the cause.
    Returns the trials file, or ``None`` where it could not be written (the
    search's own error then goes out without it, rather than this one).
    """
    record = root / FAILED / run_id
    try:
        shutil.rmtree(record, ignore_errors=True)  # an earlier failure of a run of this name: its logs would mix in
        if logs.is_dir():
            shutil.copytree(logs, record / "logs", dirs_exist_ok=True)
        record.mkdir(parents=True, exist_ok=True)
        (record / TRIALS_FILE).write_text(json.dumps(trials, indent=2) + "\n", encoding="utf-8")
    except OSError:
        return None
    return record / TRIALS_FILE


def _remove(work: Path, created: list[Path]) -> None:
    shutil.rmtree(work, ignore_errors=True)
    _remove_if_empty(work.parent)  # .runs, once no run is in progress
    for folder in created[2:]:  # the registry folders above it that this run created, deepest first
        _remove_if_empty(folder)


def publish(bundle: Path, root: Path, vertical: str, run_id: str) -> Path:
    """Move a finished bundle to ``<root>/<vertical>/<run_id>`` in one rename."""
    target = root / vertical / run_id
    target.parent.mkdir(parents=True, exist_ok=True)
    os.rename(bundle, target)
    return target


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
