"""What every request passes before and after its route: the bearer token, the body limit, metrics, JSON errors.

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

import hmac
import logging
import time

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import DataError, UsageError, VautomlError
from .batching import ModelError
from .metrics import ServerMetrics
from .protocol import RequestError

log = logging.getLogger("vertical_automl.serving")

PROBES = frozenset({"/v2/health/live", "/v2/health/ready"})  # answered without a token: orchestrators call them
UNMATCHED = "(unmatched)"  # the route label of a request no route matches


def install(app: FastAPI, metrics: ServerMetrics, api_key: str | None, max_body_bytes: int) -> None:
    """Put the error handlers and both middlewares on ``app``."""
    app.add_exception_handler(RequestError, _request_error)
    app.add_exception_handler(VautomlError, _vautoml_error)
    app.add_exception_handler(ModelError, _model_error)
    app.add_exception_handler(BodyTooLarge, _too_large)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_middleware(_Gate, api_key=api_key, max_body_bytes=max_body_bytes)
    app.add_middleware(_Observed, metrics=metrics)


class BodyTooLarge(Exception):
    """The streamed body passed ``--max-body-bytes`` (a request without Content-Length, or one that lied)."""


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _request_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestError)
    return error_response(error.status, str(error))


async def _vautoml_error(request: Request, error: Exception) -> JSONResponse:
    """The run's preprocessing refusing the inputs (wrong columns, wrong image size) is the client's to fix."""
    if isinstance(error, (DataError, UsageError)):
        return error_response(400, str(error))
    log.error("request %s %s failed: %s", request.method, request.url.path, error)
    return error_response(500, str(error))


async def _model_error(request: Request, error: Exception) -> JSONResponse:
    return error_response(500, f"{error}. Fix: see the server's log, and report it if the inputs were valid")


async def _too_large(request: Request, error: Exception) -> JSONResponse:
    return error_response(413, str(error))


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
    return error_response(error.status_code, message, error.headers)


class _Gate:
    """The bearer token (everywhere but the probes) and the body size (declared and streamed), before any route."""

    def __init__(self, app: ASGIApp, api_key: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.token = api_key.encode() if api_key else None
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        if self.token is not None and scope["path"] not in PROBES:
            given = headers.get(b"authorization", b"")
            scheme, _, token = given.partition(b" ")
            # compare_digest: its time does not depend on where the token differs, so it leaks nothing of the key
            if not (hmac.compare_digest(token.strip(), self.token) and scheme.lower() == b"bearer"):
                problem = "the bearer token is wrong" if given else "this server needs a bearer token"
                response = error_response(
                    401,
                    f"{problem}. Fix: send the header 'Authorization: Bearer <the server's --api-key>'",
                    {"WWW-Authenticate": "Bearer"},
                )
                return await response(scope, receive, send)
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            return await error_response(413, self._too_large())(scope, receive, send)
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
            await error_response(500, "the server failed unexpectedly. Fix: see the server's log, and report it")(
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
