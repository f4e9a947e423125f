"""``vautoml serve``: load each run once, bind the port, run uvicorn, stop cleanly.

The order is what makes failures readable: every run is loaded (and its
preprocessing rebuilt) before the port is bound, so a missing or damaged run
stops the command with its one-line error and nothing listening; the port is
bound here rather than by uvicorn, so a port in use is one line too.  The
models warm up once uvicorn runs (liveness answers meanwhile, readiness
after); a model failing its warm-up stops the server with that error.
"""

from __future__ import annotations

import errno
import logging
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import uvicorn

from ..errors import UsageError, VautomlError
from ..registry.runs import Run, find_run
from .app import AppSettings, ServedModel, create_app
from .batching import BatchSettings
from .drift import load_monitor
from .protocol import DEFAULT_MAX_BODY_BYTES
from .runtime import RuntimeKind, load_runtime

if TYPE_CHECKING:  # pragma: no cover
    from ..plugins import InstalledPlugins

DRIFT_WINDOW = 1000  # encoded rows per model the drift monitor compares with the training profile
LISTEN_BACKLOG = 2048  # connections the kernel queues while the server is busy (uvicorn's default)
GRACEFUL_SHUTDOWN_S = 10  # in-flight requests get this long to finish after Ctrl-C or SIGTERM


@dataclass(frozen=True)
class ServeConfig:
    """Everything ``vautoml serve`` was asked for."""

    runs: tuple[str, ...]
    registry: Path
    host: str = "127.0.0.1"
    port: int = 8080
    runtime: RuntimeKind = RuntimeKind.KERAS
    api_key: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    batch: BatchSettings = field(default_factory=BatchSettings)


def load_models(
    config: ServeConfig, echo: Callable[[str], None], plugins: InstalledPlugins | None = None
) -> list[ServedModel]:
    """Each run's runtime and drift monitor, loaded once; any failure is the run's one-line error."""
    runs: dict[str, Run] = {}
    for name in config.runs:
        run = find_run(config.registry, name)
        if run.run_id in runs:
            raise UsageError(f"run {run.run_id} is given twice", "give each run once")
        runs[run.run_id] = run
    models = []
    for run in runs.values():
        runtime = load_runtime(run, config.runtime, plugins)
        runtime.preprocessor.encoder  # noqa: B018 - rebuilds the kind and encoder now, so a missing plugin fails here
        monitor = load_monitor(run.path, window=DRIFT_WINDOW)  # None: a run from before input profiles existed
        models.append(ServedModel(runtime, monitor))
        task = runtime.preprocessor.task
        drift = "drift monitored" if monitor is not None else "no drift profile"
        echo(
            f"loaded {run.run_id} ({runtime.preprocessor.spec['kind']} {task}, {runtime.kind}, {drift}) from {run.path}"
        )
    return models


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free one), or a one-line error saying why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP spelled out, unlike socket.create_server: asyncio turns Nagle's algorithm off (TCP_NODELAY) only
    # on connections whose socket says TCP, and with Nagle on each response waits ~40 ms for the delayed ACK.
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(LISTEN_BACKLOG)
        return listener
    except socket.gaierror as error:
        listener.close()
        raise UsageError(f"--host '{host}' is not an address of this machine ({error.strerror})", _HOST_FIX) from None
    except OSError as error:
        listener.close()
        if error.errno == errno.EADDRINUSE:
            raise UsageError(
                f"port {port} on {host} is already in use", "stop what is using it, or choose another --port"
            ) from None
        if error.errno == errno.EACCES:
            raise UsageError(f"binding port {port} on {host} is not permitted", "use a --port above 1023") from None
        if error.errno == errno.EADDRNOTAVAIL:
            raise UsageError(f"--host '{host}' is not an address of this machine", _HOST_FIX) from None
        raise UsageError(f"cannot listen on {host}:{port} ({error.strerror or error})", _HOST_FIX) from None


_HOST_FIX = "use 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)"


def serve(config: ServeConfig, echo: Callable[[str], None], plugins: InstalledPlugins | None = None) -> None:
    """Load the runs, bind, and serve until Ctrl-C or SIGTERM (then finish in-flight requests and return)."""
    from .. import __version__

    models = load_models(config, echo, plugins)
    listener = bind(config.host, config.port)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    fatal: list[str] = []

    def stop_on(message: str) -> None:
        fatal.append(message)
        server.should_exit = True

    settings = AppSettings(__version__, config.api_key, config.max_body_bytes, config.batch, stop_on)
    app = create_app(models, settings)
    server = _Server(
        uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
            server_header=False,
        )
    )
    host, port = listener.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    echo(
        f"serving {len(models)} model(s) at http://{shown}:{port}/v2 (ready once warmed up: GET /v2/health/ready; "
        "Ctrl-C stops)"
    )
    server.run(sockets=[listener])
    if fatal:
        raise VautomlError(fatal[0], "check the run with 'vautoml predict', and see the log above")
    echo(f"stopped ({server.stopped_by or 'shut down'})")


class _Server(uvicorn.Server):
    """uvicorn's server, except that Ctrl-C or SIGTERM ends ``vautoml serve`` normally after the graceful
    shutdown (exit 0 and a last line), where uvicorn would re-raise the signal once it has shut down.
    """

    stopped_by: str | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self._captured_signals.clear()  # what uvicorn re-raises after its shutdown
        self.stopped_by = signal.Signals(sig).name
