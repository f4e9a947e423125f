"""The on-disk model registry: ``<root>/<vertical>/<run-id>/``.

A run is assembled in ``<root>/.staging/<run-id>/`` (same file system, so
the final rename is atomic) and moved into place only when every file is
written.  A failed or interrupted search removes its staging folder, and the
registry folders it created, so nothing half-written is left behind.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import UsageError

STAGING = ".staging"


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
        raise UsageError(f"cannot create a run folder in the registry '{root}' ('{existing}' is not a writable folder)", "pass a writable folder with --registry")


@contextmanager
def staged_run(root: Path, run_id: str) -> Iterator[Path]:
    """Yield a private work folder for one run; remove it and any folders created for it afterwards."""
    work = root / STAGING / run_id
    created = [p for p in (work.parent, *work.parent.parents) if not p.exists()]
    try:
        work.mkdir(parents=True)
    except OSError as error:
        raise UsageError(f"cannot create a run folder in the registry '{root}' ({error.strerror})", "pass a writable folder with --registry") from error
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)
        for folder in created:  # deepest first
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
