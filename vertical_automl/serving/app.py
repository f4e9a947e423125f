"""The ASGI application: V2 routes, raw ``/predict``, ``/metrics``, bearer tokens, body limits, JSON errors.

Every answer that is not a success is ``{"error": "<problem>. Fix: <fix>"}``
(the V2 protocol's error shape) with a 4xx status naming what the client got
wrong; an unexpected failure is a 500 with the same shape and no traceback
(the traceback goes to the server's log).  Two pure-ASGI middlewares wrap
the routes, cheap enough for every request: the outer one times and counts
each request by route template and turns anything unexpected into that 500;
the inner one checks the bearer token and the body size before any route
reads a byte.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import DataError, UsageError, VautomlError
from .batching import BatchDone, Batcher, BatchSettings, ModelError
from .drift import DriftCollector, DriftMonitor
from .metrics import CONTENT_TYPE, ServerMetrics
from .protocol import (
    DEFAULT_MAX_BODY_BYTES,
    MODEL_VERSION,
    NUMPY_TYPES,
    RequestError,
    infer_response,
    model_metadata,
    parse_infer_request,
    parse_json,
    server_metadata,
)
from .raw_inputs import images_from_bytes, raw_from_json
from .runtime import ModelRuntime

log = logging.getLogger("vertical_automl.serving")

PROBES = frozenset({"/v2/health/live", "/v2/health/ready"})  # answered without a token: orchestrators call them
UNMATCHED = "(unmatched)"
INLINE_BODY_BYTES = 64 * 1024  # bodies up to this are parsed and encoded on the event loop (see _prepare)
T = TypeVar("T")  # the route label of a request no route matches


@dataclass
class ServedModel:
    """One run as the server holds it: its runtime, its drift monitor (if its bundle has a profile), its state."""

    runtime: ModelRuntime
    monitor: DriftMonitor | None = None  # fed every batch of encoded rows; None: the run has no input profile
    ready: bool = False  # loaded and answered its warm-up request

    @property
    def name(self) -> str:
        return self.runtime.name


@dataclass(frozen=True)
class AppSettings:
    version: str  # vautoml's, for GET /v2
    api_key: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    batch: BatchSettings = field(default_factory=BatchSettings)
    on_fatal: Callable[[str], None] | None = None  # told when a model fails its warm-up (the server then stops)


class BodyTooLarge(Exception):
    """The streamed body passed ``--max-body-bytes`` (a request without Content-Length, or one that lied)."""


def create_app(models: Sequence[ServedModel], settings: AppSettings) -> FastAPI:
    """The application serving ``models`` (already loaded); the inference thread runs while its lifespan does."""
    served = {model.name: model for model in models}
    metrics = ServerMetrics([model.runtime for model in models])
    monitors = {model.name: model.monitor for model in models if model.monitor is not None}
    metrics.registry.register(DriftCollector(monitors))  # its families are there, empty, when no run has a profile

    def record_batch(batch: BatchDone) -> None:
        metrics.record_batch(batch)
        monitor = served[batch.model].monitor
        if monitor is not None:
            monitor.observe(batch.x)

    batcher = Batcher({model.name: model.runtime for model in models}, settings.batch, record_batch)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        batcher.start()
        warming = asyncio.create_task(_warm_up(models, batcher, metrics, settings.on_fatal))
        try:
            yield
        finally:
            warming.cancel()
            await run_in_threadpool(batcher.stop)

    app = FastAPI(
        title="vautoml", version=settings.version, docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.add_exception_handler(RequestError, _request_error)
    app.add_exception_handler(VautomlError, _vautoml_error)
    app.add_exception_handler(ModelError, _model_error)
    app.add_exception_handler(BodyTooLarge, _too_large)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_middleware(_Gate, api_key=settings.api_key, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(_Observed, metrics=metrics)

    def model_named(name: str, version: str | None = None) -> ServedModel:
        model = served.get(name)
        if model is None:
            known = ", ".join(sorted(served)) or "none"
            raise RequestError(404, f"there is no model {name!r}", f"use one of: {known}")
        if version is not None and version not in (MODEL_VERSION, name):
            raise RequestError(404, f"model {name} has no version {version!r}", f"use version {MODEL_VERSION}")
        return model

    def ready_model(name: str, version: str | None) -> ServedModel:
        model = model_named(name, version)
        if not model.ready:
            raise RequestError(503, f"model {name} is still warming up", f"wait until /v2/models/{name}/ready says so")
        return model

    @app.get("/v2")
    async def server_info() -> dict[str, Any]:
        return server_metadata(settings.version)

    @app.get("/v2/health/live")
    async def live() -> dict[str, Any]:
        return {"live": True}

    @app.get("/v2/health/ready")
    async def ready() -> JSONResponse:
        is_ready = all(model.ready for model in models)
        return JSONResponse({"ready": is_ready}, status_code=200 if is_ready else 503)

    async def model_info(name: str, version: str | None = None) -> dict[str, Any]:
        return model_metadata(model_named(name, version).runtime)

    async def model_ready(name: str, version: str | None = None) -> JSONResponse:
        model = model_named(name, version)
        return JSONResponse({"name": name, "ready": model.ready}, status_code=200 if model.ready else 503)

    async def infer(request: Request, name: str, version: str | None = None) -> JSONResponse:
        model = ready_model(name, version)
        if "inference-header-content-length" in request.headers:
            raise RequestError(400, "binary tensor data is not supported", "send the tensors as JSON")
        body = await request.body()
        with batcher.ticket(name) as ticket:
            parsed = await _prepare(len(body), parse_infer_request, body, model.runtime)
            future = ticket.submit(parsed.x)
        scores = await asyncio.wrap_future(future)
        labels = model.runtime.labels(scores)
        metrics.record_predictions(model.runtime, labels)
        return JSONResponse(infer_response(model.runtime, parsed, scores, labels))

    async def predict(request: Request, name: str, version: str | None = None) -> JSONResponse:
        model = ready_model(name, version)
        runtime = model.runtime
        with batcher.ticket(name) as ticket:
            if request.headers.get("content-type", "").startswith("multipart/form-data"):
                files = await _uploads(request, runtime)
                x, request_id = await _prepare(sum(map(len, files)), _encode_uploads, runtime, files), None
            else:  # JSON whatever the content type says: curl -d sends JSON as a form's type
                body = await request.body()
                x, request_id = await _prepare(len(body), _encode_json, runtime, body)
            future = ticket.submit(x)
        scores = await asyncio.wrap_future(future)
        labels = runtime.labels(scores)
        metrics.record_predictions(runtime, labels)
        return JSONResponse(_predictions(runtime, scores, labels, request_id))

    async def metrics_text() -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    app.get("/metrics")(metrics_text)
    for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        app.get(prefix)(model_info)
        app.get(prefix + "/ready")(model_ready)
        app.post(prefix + "/infer")(infer)
        app.post(prefix + "/predict")(predict)
    return app


async def _prepare(size: int, function: Callable[..., T], *args: Any) -> T:
    """``function(*args)``, parsing and encoding a request body of ``size`` bytes: on the event loop when small.

    A small request parses and encodes in about a millisecond; handing that to
    a worker thread and back costs more than it saves on a busy two-core
    machine (the GIL keeps pandas serial either way), while a large body would
    hold up every other request on the loop.
    """
    if size <= INLINE_BODY_BYTES:
        return function(*args)
    return await run_in_threadpool(function, *args)


async def _warm_up(
    models: Sequence[ServedModel], batcher: Batcher, metrics: ServerMetrics, on_fatal: Callable[[str], None] | None
) -> None:
    """Each model answers example rows through the batcher before it is ready: readiness means it really serves."""
    for model in models:
        try:
            x = await run_in_threadpool(example_rows, model.runtime)
            model.runtime.labels(await asyncio.wrap_future(batcher.warm_up(model.name, x)))
        except Exception as error:
            message = f"model {model.name} failed its warm-up request ({type(error).__name__}: {error})"
            log.error(message)
            if on_fatal is not None:
                on_fatal(message)
            return
        model.ready = True
        metrics.ready.labels(model.name).set(1)


@dataclass(frozen=True)
class _DeclaredInput:
    """A runtime's input as ``export.check_inputs`` reads a Keras model's (``.inputs[0].shape`` and ``.dtype``)."""

    shape: tuple[int | None, ...]
    dtype: str

    @property
    def inputs(self) -> list[_DeclaredInput]:
        return [self]


def example_rows(runtime: ModelRuntime) -> np.ndarray:
    """Rows like the run's real encoded inputs (those ``vautoml export`` checks with), for the warm-up request."""
    from ..export import check_inputs

    spec = runtime.input
    declared = _DeclaredInput((None, *spec.shape[1:]), np.dtype(NUMPY_TYPES[spec.datatype]).name)
    return check_inputs(declared, runtime.preprocessor.spec, plugins=runtime.preprocessor.plugins)


def _encode_json(runtime: ModelRuntime, body: bytes) -> tuple[np.ndarray, str | None]:
    """A JSON predict request's raw inputs through the run's preprocessing, as model-ready rows."""
    request = parse_json(body, '{"inputs": ...}')
    if not isinstance(request, dict) or "inputs" not in request:
        raise RequestError(400, "the body has no 'inputs'", 'send {"inputs": ...}: records, strings, images or arrays')
    unknown = sorted(set(request) - {"inputs", "id"})
    if unknown:
        raise RequestError(400, f"the body has unknown field(s) {', '.join(unknown)}", 'send {"inputs": ...}')
    request_id = request.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise RequestError(400, "'id' is not a string", "send the id as a JSON string, or leave it out")
    spec = runtime.preprocessor.spec
    return _model_ready(runtime, runtime.encode(raw_from_json(request["inputs"], spec["kind"], spec)).x), request_id


async def _uploads(request: Request, runtime: ModelRuntime) -> list[bytes]:
    """The files of a multipart predict request, in order; only image models take them."""
    if runtime.preprocessor.spec["kind"] != "image":
        raise RequestError(
            415, f"model {runtime.name} takes {runtime.preprocessor.spec['kind']} inputs, not file uploads", _JSON_FIX
        )
    form = await request.form()
    try:
        files = []
        for key, value in form.multi_items():
            if not isinstance(value, UploadFile):
                raise RequestError(400, f"form field {key!r} is not a file", "send only image files in the form")
            files.append(await value.read())
        return files
    finally:
        await form.close()


_JSON_FIX = 'send application/json {"inputs": ...}'


def _encode_uploads(runtime: ModelRuntime, files: list[bytes]) -> np.ndarray:
    pixels = images_from_bytes(files, runtime.preprocessor.spec)
    return _model_ready(runtime, runtime.encode(pixels).x)


def _model_ready(runtime: ModelRuntime, x: np.ndarray) -> np.ndarray:
    """Encoded rows in the model's dtype, refused here if their shape is not the model's: one bad request must not
    fail the batch it would have joined.
    """
    spec = runtime.input
    if x.ndim != len(spec.shape) or tuple(x.shape[1:]) != tuple(spec.shape[1:]) or len(x) == 0:
        raise RequestError(
            400,
            f"the inputs encode to shape {list(x.shape)}, but model {runtime.name} takes [N, "
            + ", ".join(map(str, spec.shape[1:]))
            + "]",
            "send inputs like the run's training data",
        )
    return x.astype(NUMPY_TYPES[spec.datatype], copy=False)


def _predictions(runtime: ModelRuntime, scores: np.ndarray, labels: list[Any], request_id: str | None) -> dict:
    """``/predict``'s answer: what ``vautoml predict`` prints, one record per input."""
    preprocessor = runtime.preprocessor
    answer: dict[str, Any] = {"model_name": runtime.name, "model_version": MODEL_VERSION}
    if request_id is not None:
        answer["id"] = request_id
    if preprocessor.task == "regression":
        answer["predictions"] = [{"prediction": value} for value in labels]
        return answer
    classes = preprocessor.class_names
    answer["predictions"] = [
        {"label": label, "probabilities": dict(zip(classes, row))} for label, row in zip(labels, scores.tolist())
    ]
    if preprocessor.threshold() is not None:
        answer["decision_threshold"] = preprocessor.threshold()
    return answer


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _request_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestError)
    return _error(error.status, str(error))


async def _vautoml_error(request: Request, error: Exception) -> JSONResponse:
    """The run's preprocessing refusing the inputs (wrong columns, wrong image size) is the client's to fix."""
    if isinstance(error, (DataError, UsageError)):
        return _error(400, str(error))
    log.error("request %s %s failed: %s", request.method, request.url.path, error)
    return _error(500, str(error))


async def _model_error(request: Request, error: Exception) -> JSONResponse:
    return _error(500, f"{error}. Fix: see the server's log, and report it if the inputs were valid")


async def _too_large(request: Request, error: Exception) -> JSONResponse:
    return _error(413, str(error))


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    """Starlette's own refusals (no route, wrong method, an unreadable multipart body) in the V2 error shape."""
    assert isinstance(error, HTTPException)
    method, path = request.method, request.url.path
    if error.status_code == 404:
        message = f"there is no route {path}. Fix: see GET /v2, /v2/models/NAME and POST /v2/models/NAME/infer"
    elif error.status_code == 405:
        allowed = (error.headers or {}).get("Allow", "")
        message = f"method {method} is not allowed on {path}. Fix: use {allowed or 'another method'}"
    else:
        message = f"the request cannot be read ({error.detail}). Fix: check the body and its content type"
    return _error(error.status_code, message, error.headers)


class _Gate:
    """The bearer token (everywhere but the probes) and the body size (declared and streamed), before any route."""

    def __init__(self, app: ASGIApp, api_key: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.token = f"Bearer {api_key}".encode() if api_key else None
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        if self.token is not None and scope["path"] not in PROBES:
            given = headers.get(b"authorization", b"")
            if not hmac.compare_digest(given, self.token):
                problem = "the bearer token is wrong" if given else "this server needs a bearer token"
                response = _error(
                    401,
                    f"{problem}. Fix: send the header 'Authorization: Bearer <the server's --api-key>'",
                    {"WWW-Authenticate": "Bearer"},
                )
                return await response(scope, receive, send)
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            return await _error(413, self._too_large())(scope, receive, send)
        return await self.app(scope, self._limited(receive), send)

    def _too_large(self) -> str:
        return (
            f"the body is larger than this server's limit of {self.max_body_bytes} bytes. "
            "Fix: send fewer inputs per request, or start the server with a larger --max-body-bytes"
        )

    def _limited(self, receive: Receive) -> Receive:
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge(self._too_large())
            return message

        return limited


class _Observed:
    """Counts and times every request by route template and status, and answers the unexpected with a JSON 500."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = 500
        started = False

        async def observed_send(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        except Exception:
            log.exception("unexpected error answering %s %s", scope["method"], scope["path"])
            if started:
                raise
            status = 500
            await _error(500, "the server failed unexpectedly. Fix: see the server's log, and report it")(
                scope, receive, send
            )
        finally:
            route = self._template(scope)
            self.metrics.requests.labels(route, scope["method"], str(status)).inc()
            self.metrics.latency.labels(route, scope["method"]).observe(time.perf_counter() - start)

    def _template(self, scope: Scope) -> str:
        """The matched route's path template; for a request refused before routing, the route it would have hit."""
        route = scope.get("route")
        if route is not None:
            return route.path
        for candidate in scope["app"].router.routes:  # scope["app"]: the FastAPI app, set before any middleware
            match, _ = candidate.matches(scope)
            if match is not Match.NONE:
                return candidate.path
        return UNMATCHED
