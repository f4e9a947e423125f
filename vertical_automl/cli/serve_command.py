"""``vautoml serve``: finished runs behind HTTP (the Open Inference Protocol V2, raw ``/predict``, ``/metrics``).

FastAPI, uvicorn and Keras load only once the command runs, through
:mod:`vertical_automl.serving.server`.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..serving.batching import DEFAULT_MAX_BATCH_ROWS, DEFAULT_MAX_WAIT_MS
from ..serving.protocol import DEFAULT_MAX_BODY_BYTES
from ..serving.runtime import RuntimeKind
from .options import REGISTRY_OPTION, registry_root


@click.command()
@click.argument("runs", nargs=-1, required=True, metavar="RUN|PATH [RUN|PATH ...]")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on; 0.0.0.0 for every interface."
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port to listen on (0: any free one).",
)
@click.option(
    "--runtime",
    type=click.Choice([kind.value for kind in RuntimeKind]),
    default=RuntimeKind.KERAS.value,
    show_default=True,
    help="keras: the run's model.keras; onnx: its model.onnx on onnxruntime alone (vautoml export RUN --format onnx "
    "first); onnx-int8: its model.int8.onnx (vautoml export RUN --format onnx --quantize int8 --data LABELLED first).",
)
@click.option(
    "--api-key",
    envvar="VAUTOML_API_KEY",
    show_envvar=True,
    default=None,
    help="Require 'Authorization: Bearer KEY' on every route but /v2/health/live and /v2/health/ready.",
)
@click.option(
    "--max-batch-size",
    type=click.IntRange(1, 4096),
    default=DEFAULT_MAX_BATCH_ROWS,
    show_default=True,
    help="Most rows of concurrent requests scored in one model call.",
)
@click.option(
    "--max-wait-ms",
    type=click.FloatRange(0, 1000),
    default=DEFAULT_MAX_WAIT_MS,
    show_default=True,
    help="Longest a request waits for others already on their way to share its model call (a lone one never waits).",
)
@click.option(
    "--max-body-bytes",
    type=click.IntRange(1024),
    default=DEFAULT_MAX_BODY_BYTES,
    show_default=True,
    help="Largest request body accepted; larger ones get 413.",
)
@REGISTRY_OPTION
def serve(
    runs: tuple[str, ...],
    host: str,
    port: int,
    runtime: str,
    api_key: str | None,
    max_batch_size: int,
    max_wait_ms: float,
    max_body_bytes: int,
    root: Path | None,
) -> None:
    """Serve finished runs over HTTP: the Open Inference Protocol (V2) that KServe, Triton and MLServer clients
    speak, POST /v2/models/RUN/predict on raw inputs, and Prometheus /metrics.

    Each run is loaded once and answers at /v2/models/<run id>; Ctrl-C or SIGTERM stops the server after the
    requests in flight.
    """
    from ..serving.batching import BatchSettings
    from ..serving.server import ServeConfig
    from ..serving.server import serve as run_server

    config = ServeConfig(
        runs=runs,
        registry=registry_root(root),
        host=host,
        port=port,
        runtime=RuntimeKind(runtime),
        api_key=api_key or None,
        max_body_bytes=max_body_bytes,
        batch=BatchSettings(max_batch_size, max_wait_ms / 1000),
    )
    run_server(config, click.echo)
