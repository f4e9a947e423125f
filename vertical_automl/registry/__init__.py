"""The model registry: finished runs in ``<root>/<vertical>/<run-id>/``, and the runs on their way there.

``<root>`` is ``--registry``, else ``$VAUTOML_REGISTRY``, else ``./registry``.
Each finished run is one bundle (:mod:`vertical_automl.bundle`), renamed in
whole, so a listed run is always complete.  The modules, in the order a run
meets them:

* :mod:`.layout`: where things are on disk (``.runs``, ``.failed``, ``run.json``),
  run ids and the names they may take, the bundle format version;
* :mod:`.lock`: one process per run, so two searches never share a run folder;
* :mod:`.run_folder`: the run in progress, from creating its folder to keeping it
  for ``--resume`` or publishing its bundle;
* :mod:`.disk`: a full disk, found before writing or named in one line;
* :mod:`.runs`: reading finished runs back (list, show, compare, remove), without Keras.

The names below are re-exported for the modules that import them from the
package; new code imports them from the module that defines them.  Two are
left out because a module has the same name: ``layout.run_folder`` (the path
of a run folder) and ``disk.disk`` (a disk as a user can find it).  Nothing
here imports Keras, and numpy only when a model's size is measured.
"""

from .disk import check_space, disk_full, disk_full_error, room_to_save
from .layout import (
    FAILED,
    FORMAT_VERSION,
    REQUEST_FILE,
    RUN_NAME,
    RUNS,
    check_run_id,
    check_writable,
    default_root,
    interrupted_runs,
    new_run_id,
    published_run,
)
from .lock import RunBusy, lock_path, locked_run
from .run_folder import (
    DamagedRunFolder,
    check_runs_folder,
    damaged_run_folder,
    keep_failed_trials,
    open_run,
    publish,
    read_run_file,
    saved_request,
)
from .runs import Run, comparison, damaged_run, find_run, list_runs, read_bundle_json, read_run, remove_run

__all__ = [
    "FAILED",
    "FORMAT_VERSION",
    "REQUEST_FILE",
    "RUNS",
    "RUN_NAME",
    "DamagedRunFolder",
    "Run",
    "RunBusy",
    "check_run_id",
    "check_runs_folder",
    "check_space",
    "check_writable",
    "comparison",
    "damaged_run",
    "damaged_run_folder",
    "default_root",
    "disk_full",
    "disk_full_error",
    "find_run",
    "interrupted_runs",
    "keep_failed_trials",
    "list_runs",
    "lock_path",
    "locked_run",
    "new_run_id",
    "open_run",
    "publish",
    "published_run",
    "read_bundle_json",
    "read_run",
    "read_run_file",
    "remove_run",
    "room_to_save",
    "saved_request",
]
