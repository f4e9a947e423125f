"""The worker processes of a parallel search on one machine: their threads, their GPU, and starting them.

``vautoml search --workers N`` runs worker 0 in its own process (it also
finishes the run: refit and export) and starts workers 1..N-1 as
``vautoml worker`` processes (:class:`WorkerPool`).  Each gets
``cores // N`` threads, so workers x threads never exceed the cores: two
torch processes that each spin a thread per core on the same cores slow
each other down 30-70x (``shared/DESIGN.md`` section 8).  With GPUs, each
worker sees one of them (``CUDA_VISIBLE_DEVICES``), round robin.

A started worker writes its log to ``workers/<name>.log`` in the run folder;
one that exits with an error is reported with that log's last line, and the
search goes on with the others.  Started workers stop asking for trials once
their launcher is gone (``--parent``), so ``kill -9`` of the launcher leaves
no process running on: each finishes the trial in hand, which the study
keeps for ``--resume``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError
from .budget import WORKERS_FOLDER
from .study import MAX_WORKERS, PARALLEL_TUNERS, ParallelPlan

STOP_WAIT_SECONDS = 60  # how long the launcher waits for its workers to exit once the study has no trials left
DEFAULT_WORKERS_LIMIT = 8  # the most workers a search starts on its own: each holds its own torch, data and model
DEVICE_LOGS = "logs/devices"  # in the run folder: the output of each --devices helper process of the launcher
WORKERS_VARIABLE = "VAUTOML_WORKERS"  # the worker count a search uses when --workers is left out


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), which a container or ``taskset`` may limit."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """Threads each of ``workers`` processes gets so that together they never use more than the cores."""
    return max(1, (cores or usable_cores()) // max(1, workers))


def default_workers(tuner: str, trial_cap: int | None, devices: int = 1) -> int:
    """How many trials a new search runs at once when ``--workers`` is left out: one per core, or one per GPU.

    Measured on 2 cores (``benchmarks/parallel.py``): two one-thread
    workers run 1.7-1.9x the trials per hour of one two-thread process, for
    tables and for images, because our models are too small for torch's
    threads to keep two cores busy.  So a CPU search runs one worker per
    core (at most :data:`DEFAULT_WORKERS_LIMIT`, each then with
    ``cores // workers`` threads), and never more workers than trials.  With
    GPUs each worker gets one, so there are as many workers as GPUs.  With
    ``--devices N`` each worker takes N GPUs (or N cores' processes).  Tuners
    that plan in one process (hyperband, grid) keep one.
    ``$VAUTOML_WORKERS`` sets the default instead (``1``: one process).
    """
    if tuner not in PARALLEL_TUNERS:
        return 1
    chosen = os.environ.get(WORKERS_VARIABLE, "").strip()
    if chosen:
        if not chosen.isdigit() or not 1 <= int(chosen) <= MAX_WORKERS:
            raise UsageError(
                f"{WORKERS_VARIABLE} must be a whole number from 1 to {MAX_WORKERS}, got '{chosen}'",
                f"set e.g. {WORKERS_VARIABLE}=1 for one process, or unset it",
            )
        return int(chosen)
    gpus = len(visible_gpus())
    wanted = gpus // devices or min(usable_cores() // devices, DEFAULT_WORKERS_LIMIT)
    if trial_cap is not None:
        wanted = min(wanted, trial_cap)
    return max(1, wanted)


def training_group(devices: int, logs: Path) -> contextlib.AbstractContextManager:
    """This process's ``--devices`` group: the first ``devices`` GPUs it sees, or its threads shared out.

    The helpers write to ``logs``.
    """
    from ..training import devices as device_groups

    if devices <= 1:
        return contextlib.nullcontext()
    gpus = visible_gpus()
    if gpus and len(gpus) < devices:
        raise UsageError(
            f"--devices {devices} needs {devices} GPUs for each worker; this process sees {len(gpus)}",
            "give fewer --devices, or fewer --workers",
        )
    return device_groups.group(devices, gpus[:devices], logs)


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as ``CUDA_VISIBLE_DEVICES`` names them (empty without CUDA)."""
    import torch

    if not torch.cuda.is_available():
        return []
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    names = [n.strip() for n in listed.split(",") if n.strip()] if listed else []
    return names or [str(i) for i in range(torch.cuda.device_count())]


def limit_threads(threads: int) -> None:
    """Use ``threads`` CPU threads in this process (torch's pool, and OpenMP's for any library loaded later)."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(threads)


def torch_threads() -> int | None:
    """The CPU threads torch uses now, if it is loaded."""
    if "torch" not in sys.modules:
        return None
    import torch

    return torch.get_num_threads()


@dataclass
class StudyWorker:
    """This process as a worker of a parallel search: its plan, its name and number, and whether it finishes the run."""

    plan: ParallelPlan
    name: str
    index: int
    finisher: bool
    keep_going: Callable[[], bool] = field(default=lambda: True)
    started_by_launcher: bool = False  # it can see its launcher alive (keep_going), so it may wait longer for it


def parent_alive(parent: int) -> Callable[[], bool]:
    """Whether the launcher that started this worker still runs (a re-parented worker's parent id changes)."""
    return lambda: os.getppid() == parent


@dataclass
class WorkerPool:
    """Workers 1..N-1 of a search, started as ``vautoml worker`` processes; worker 0 is the launching process."""

    run_id: str
    root: Path
    work: Path
    workers: int
    report: Callable[[str], None]
    devices: int = 1  # GPUs each worker takes (--devices)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    _threads_before: int | None = None
    _reported: set[str] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> WorkerPool:
        """Start the workers, each with its share of threads and, where there are GPUs, its own (``devices`` each)."""
        threads = threads_per_worker(self.workers)
        gpus = visible_gpus() if self.workers > 1 else []
        logs = self.work / WORKERS_FOLDER
        logs.mkdir(exist_ok=True)
        for index in range(1, self.workers):
            name = f"w{index}"
            env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
            if gpus:
                mine = range(index * self.devices, (index + 1) * self.devices)
                env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus[k % len(gpus)] for k in mine)
            command = [
                sys.executable,
                "-m",
                "vertical_automl.cli",
                "worker",
                self.run_id,
                "--registry",
                str(self.root.resolve()),
                "--name",
                name,
                "--index",
                str(index),
                "--threads",
                str(threads),
                "--parent",
                str(os.getpid()),
            ]
            with open(logs / f"{name}.log", "ab") as log:
                self.processes[name] = subprocess.Popen(
                    command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
                )
        # Worker 0, this process, keeps the first visible GPU (torch's default device), and its share of the cores.
        self._threads_before = torch_threads()
        limit_threads(threads)
        threading.Thread(target=self._watch, name="vautoml-workers", daemon=True).start()
        return self

    def _watch(self) -> None:
        """Report a worker that exits with an error, once, while the search runs."""
        while not self._stop.wait(1.0):
            self.report_failures()

    def report_failures(self) -> None:
        for name, process in self.processes.items():
            code = process.poll()
            if code not in (None, 0) and name not in self._reported:
                self._reported.add(name)
                self.report(f"worker {name} exited with code {code}: {self.last_line(name)}")

    def last_line(self, name: str) -> str:
        try:
            lines = (self.work / WORKERS_FOLDER / f"{name}.log").read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return lines[-1] if lines else "(empty log)"

    def stop(self, interrupted: bool = False) -> None:
        """End the workers once the search is over, or, ``interrupted``, at once.

        When the launcher's loop ends, the study has no trial left and none
        running (the launcher waited for them), so a worker still alive holds
        no trial: it is still starting up, or about to exit.  It is stopped
        rather than waited for.  ``interrupted`` (Ctrl-C, an error) passes the
        Ctrl-C on instead, so each worker hands its trial back to the study.
        A worker that does not exit within :data:`STOP_WAIT_SECONDS` is killed.
        """
        self._stop.set()
        self.report_failures()  # the ones that failed on their own, before the launcher ended the rest
        for name, process in self.processes.items():
            if process.poll() is None:
                self._reported.add(name)
                process.send_signal(signal.SIGINT if interrupted else signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=STOP_WAIT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._threads_before is not None:  # the refit and export have the machine to themselves again
            limit_threads(self._threads_before)
