"""One process per run: an exclusive lock on ``<root>/.runs/<run-id>.lock``.

Without it a second ``vautoml search --run-name X`` (or ``--resume X``)
started while X is still running takes the live run folder for an
interrupted one and "resumes" it: both processes then write the same tuner
state and checkpoints, and the first to fail deletes the folder with every
finished trial in it.  The lock is taken before anything of the run is read
or written, so the second process refuses in one line and touches nothing.

The lock is the operating system's (``fcntl.flock``), so it is released when
its process ends, however it ends (``kill -9`` included): a stale lock file
never blocks a resume.  The file is removed when the run lets go of it;
because another process may have opened the file just before it was
removed, a lock is only taken on a file that is still the one at the path.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from ..errors import UsageError
from .layout import RUNS
from .run_folder import check_runs_folder


class RunBusy(UsageError):
    """Another live process holds the run."""


def lock_path(root: Path, run_id: str) -> Path:
    return root / RUNS / f"{run_id}.lock"


def run_holder(root: Path, run_id: str) -> str | None:
    """The pid holding the run's lock, or ``None``: a shared lock, taken and let go at once, fails while it is held."""
    try:
        descriptor = os.open(lock_path(root, run_id), os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)  # let go as the descriptor closes
    except BlockingIOError:
        return _holder(descriptor) or "another process"
    finally:
        os.close(descriptor)
    return None


@contextlib.contextmanager
def locked_run(root: Path, run_id: str) -> Iterator[None]:
    """Hold ``run_id`` for the block; raise :class:`RunBusy` at once if another process holds it.

    ``.runs``, and the registry folders the lock had to create, are removed
    again afterwards when they are empty, so a refused or failed search
    leaves the registry as it found it.
    """
    check_runs_folder(root, run_id)
    path = lock_path(root, run_id)
    created = [p for p in path.parent.parents if not p.exists()]
    descriptor = _acquire(path, run_id)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(descriptor)
        # .runs goes once no run is in it (as the run folder's own clean-up would, but for this lock file);
        # then the registry folders the lock created, deepest first. A folder still in use is not empty.
        for folder in (path.parent, *created):
            with contextlib.suppress(OSError):
                folder.rmdir()


def _acquire(path: Path, run_id: str) -> int:
    while True:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # the holder removed an empty .runs between the two calls
            continue
        except OSError as error:
            raise UsageError(
                f"cannot create the lock of run '{run_id}' in '{path.parent}' ({error.strerror})",
                "pass a writable folder with --registry",
            ) from error
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = _holder(descriptor)
            os.close(descriptor)
            if error.errno not in (errno.EWOULDBLOCK, errno.EACCES, errno.EAGAIN):
                raise
            by = f"process {holder}" if holder else "another process"
            raise RunBusy(
                f"run '{run_id}' is in use by {by} on this machine; nothing was changed",
                f"let it finish, or stop it and continue the run with 'vautoml search --resume {run_id}'",
            ) from None
        if _still_at(path, descriptor):
            os.ftruncate(descriptor, 0)
            os.write(descriptor, str(os.getpid()).encode())
            return descriptor
        os.close(descriptor)  # locked a file its holder had just removed: try the new one


def _still_at(path: Path, descriptor: int) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(descriptor).st_ino
    except FileNotFoundError:
        return False


def _holder(descriptor: int) -> str:
    """The pid the holder wrote into the lock file, if it has yet."""
    with contextlib.suppress(OSError):
        return os.pread(descriptor, 32, 0).decode(errors="replace").strip()
    return ""
