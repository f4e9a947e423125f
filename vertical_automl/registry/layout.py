"""Where the model registry keeps things on disk, and the names it accepts.

``<root>/<vertical>/<run-id>/`` holds each finished run's bundle; beside them,
``<root>/.runs/<run-id>/`` holds a run in progress or interrupted (with its
``run.json``), and ``<root>/.failed/<run-id>/`` what a search whose every
trial failed left.  Names starting with a dot are never taken for a vertical.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from pathlib import Path

from ..errors import UsageError

FORMAT_VERSION = 1  # of the bundle; readers refuse newer ones and read older ones
RUNS = ".runs"
FAILED = ".failed"
REQUEST_FILE = "run.json"
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")


def default_root() -> Path:
    """``$VAUTOML_REGISTRY`` if set, else ``./registry``."""
    return Path(os.environ.get("VAUTOML_REGISTRY") or "registry")


def new_run_id() -> str:
    """Unique and sortable by creation time: ``20261123-142501-3f9a1c``."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def check_writable(root: Path) -> None:
    """Fail before any work if runs could not be written under ``root``."""
    existing = next(p for p in (root, *root.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(
            f"cannot create a run folder in the registry '{root}' ('{existing}' is not a writable folder)",
            "pass a writable folder with --registry",
        )


def check_run_id(run_id: str, flag: str = "--run-name") -> str:
    """A run id or name must be one plain folder name: no slashes, no ``..``, nothing absolute."""
    if not RUN_NAME.fullmatch(run_id) or ".." in run_id:
        raise UsageError(
            f"{flag} '{run_id}' is not a valid run name",
            "use up to 80 letters, digits, '.', '_' or '-', starting with a letter or digit (no slashes or '..')",
        )
    return run_id


def run_folder(root: Path, run_id: str) -> Path:
    return root / RUNS / run_id


def published_run(root: Path, run_id: str) -> Path | None:
    """The finished run ``run_id`` in any vertical's folder, if there is one."""
    if not root.is_dir():
        return None
    return next((p for p in root.glob(f"*/{run_id}") if not p.parent.name.startswith(".") and p.is_dir()), None)


def interrupted_runs(root: Path) -> list[str]:
    folder = root / RUNS
    return sorted(p.name for p in folder.iterdir() if (p / REQUEST_FILE).exists()) if folder.is_dir() else []
