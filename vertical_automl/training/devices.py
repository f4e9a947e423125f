"""The processes that train one model together (``--devices N``): starting them, their collectives, closing them.

Rank 0 is the process that searches (the launcher, or a worker of a parallel
search); ranks 1..N-1 are helper processes (:mod:`.replicas`) started when the
first fit asks for the group and kept until the search ends, so a trial pays
for a replica's build, not for a process and a Keras import.  NCCL joins them
on GPUs (rank r trains on the r-th of the GPUs its process was given), gloo on
a CPU (the cores shared out among the ranks).

A fit that failed halfway (Ctrl-C, a diverged trial, a helper gone) leaves the
ranks out of step, so the group is closed at once and the next fit starts a
new one (:meth:`DeviceGroup.abort`).  Plain torch, no Keras.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

TIMEOUT_SECONDS = 1800  # a collective (a helper waiting for the next fit, too) waits this long before it fails
JOIN_SECONDS = 30  # a closing helper is given this long to exit before it is killed
HELPER_MODULE = "vertical_automl.training.replicas"

_current: DeviceGroup | None = None  # the group fits train on while :func:`group` is open


class DeviceGroup:
    """``size`` processes, this one rank 0, training one model at a time; started on first use.

    ``gpus`` are the ``CUDA_VISIBLE_DEVICES`` names of the GPUs, one per rank
    (empty: CPU and gloo); ``logs`` the folder each helper writes its output to.
    """

    rank = 0  # this process; the helpers are ranks 1..size-1

    def __init__(self, size: int, gpus: list[str], logs: Path) -> None:
        self.size, self.gpus, self.logs = size, gpus, logs
        self.helpers: list[subprocess.Popen] = []
        self.fits = 0  # fits trained on the group so far: each replica seeds its dropout from it and its rank

    @property
    def backend(self) -> str:
        return "nccl" if self.gpus else "gloo"

    @property
    def started(self) -> bool:
        return bool(self.helpers)

    def start(self) -> None:
        """Start the helpers and join them in one process group (it waits for all of them).

        On a CPU the threads this process has (a worker's share of the cores)
        are shared out among the ranks, rank 0 (this process) included.
        """
        import torch
        import torch.distributed as dist

        threads = max(1, torch.get_num_threads() // self.size)
        if not self.gpus:
            torch.set_num_threads(threads)

        address = f"tcp://127.0.0.1:{free_port()}"
        self.logs.mkdir(parents=True, exist_ok=True)
        for rank in range(1, self.size):
            environment = {**os.environ, "KERAS_BACKEND": "torch"}
            if self.gpus:
                environment["CUDA_VISIBLE_DEVICES"] = self.gpus[rank]
            with open(self.logs / f"rank{rank}.log", "ab") as log:
                arguments = [address, str(rank), str(self.size), str(threads), self.backend]
                command = [sys.executable, "-m", HELPER_MODULE, *arguments]
                self.helpers.append(subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT))
        dist.init_process_group(
            self.backend, init_method=address, rank=0, world_size=self.size, timeout=timedelta(seconds=TIMEOUT_SECONDS)
        )

    def send(self, job: dict[str, Any] | None) -> None:
        """Hand every helper the next fit (``None``: the search is over, exit)."""
        import torch.distributed as dist

        dist.broadcast_object_list([job], src=0)

    def close(self) -> None:
        """Tell the helpers to exit and wait for them; kill any that does not."""
        if not self.started:
            return
        with contextlib.suppress(Exception):
            self.send(None)
        self._end()

    def abort(self) -> None:
        """The ranks are out of step: stop the helpers now; the next fit starts a new group."""
        for helper in self.helpers:
            helper.kill()
        self._end()

    def _end(self) -> None:
        import torch.distributed as dist

        for helper in self.helpers:
            try:
                helper.wait(timeout=JOIN_SECONDS)
            except subprocess.TimeoutExpired:
                helper.kill()
                helper.wait()
        self.helpers = []
        if dist.is_initialized():
            with contextlib.suppress(Exception):
                dist.destroy_process_group()


def free_port() -> int:
    """A TCP port nobody listens on now, for the group's rendezvous on this machine."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def current() -> DeviceGroup | None:
    """The group fits train on, started if it was not; ``None`` when each fit trains in this process alone."""
    if _current is not None and not _current.started:
        _current.start()
    return _current


@contextlib.contextmanager
def group(size: int, gpus: list[str], logs: Path) -> Iterator[None]:
    """Train every fit inside on ``size`` processes (nothing changes for ``size`` 1); the helpers exit after."""
    global _current
    if size <= 1:
        yield
        return
    _current = DeviceGroup(size, gpus, logs)
    try:
        yield
    finally:
        _current.close()
        _current = None
