"""A full disk: found before writing where it can be, recognised and named in one line where it is not.

A search's checkpoints and bundle and ``vautoml export``'s files are checked
against the free space before they are written (:func:`check_space`); any
other write can still fill the disk, so :func:`disk_full` recognises the
operating system's error in whatever a library wrapped it in.
"""

from __future__ import annotations

import errno
import math
import os
import shutil
from pathlib import Path
from typing import Any

from ..errors import StorageError
from .layout import run_folder


def disk_full(error: BaseException) -> bool:
    """Whether ``error``, or an error it was raised from, says the disk is full.

    h5py and KerasTuner re-raise the operating system's error in their own
    types, sometimes with the errno only in the text, so the chain is walked
    and the text read too.
    """
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if any(text in str(seen) for text in ("No space left on device", "Disk quota exceeded", "errno = 28")):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def check_space(folder: Path, needed: int, what: str) -> None:
    """Raise the operating system's "disk full" error before writing ``needed`` bytes that would not fit.

    A write that fails part-way is worse than one never started: h5py cannot
    recover from it (it printed a traceback per open object, then crashed the
    process), and a half-written file can look like a complete one.
    """
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise OSError(
            errno.ENOSPC,
            f"No space left on device: {free / 2**20:.1f} MiB free, {needed / 2**20:.1f} MiB needed {what}",
            str(folder),
        )


def room_to_save(model: Any) -> int:
    """Free bytes to insist on before saving a Keras ``model``.

    Twice its weights (HDF5 overhead, a second copy) and 1 MiB.
    """
    import numpy as np

    return 2 * sum(math.prod(v.shape) * np.dtype(str(v.dtype)).itemsize for v in model.weights) + 2**20


def disk(path: Path) -> str:
    """A disk as a user can find it: the path, its mount point and its free space."""
    existing = next(p for p in (path, *path.parents) if p.exists())
    mount = existing.resolve()
    while not os.path.ismount(mount):
        mount = mount.parent
    return f"'{path}' (mounted at {mount}, {shutil.disk_usage(existing).free / 2**20:.1f} MiB free)"


def disk_full_error(root: Path, run_id: str) -> StorageError:
    """The one line a full disk gets in a search: which disk, that the run is kept and how to continue."""
    return StorageError(
        f"the disk holding the registry {disk(root)} is full; "
        f"run '{run_id}' is kept in {run_folder(root, run_id)} with its finished trials",
        f"free space on that disk, then continue with 'vautoml search --resume {run_id}'",
    )
