"""The one mapping from errors to HTTP: status, stable `code`, human `message`, as JSON.

Nothing a client sends may produce a 500; an unexpected error is logged with its request id and
answered with a generic JSON 500 that says so.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket

from townhall.api.runtime import runtime_of
from townhall.domain.errors import RateLimited, TownhallError, Unavailable

log = logging.getLogger("townhall.api")

STATUS = {
    "invalid": 400,
    "unauthenticated": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "gone": 410,
    "too_large": 413,
    "unsupported_media_type": 415,
    "rate_limited": 429,
    "legally_withheld": 451,
    "unavailable": 503,
}

CLIENT_CLOSED_REQUEST = 499

HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: object
) -> JSONResponse:
    body: dict[str, object] = {"code": code, "message": message}
    body.update(extra)
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store", **(headers or {})})


async def on_townhall_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TownhallError)
    headers = {}
    if isinstance(exc, RateLimited | Unavailable) and exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    if hasattr(request.app.state, "runtime"):  # a media node's own app has no Runtime, and counts its own
        runtime_of(request).metrics.rejected.labels(exc.code).inc()
    if exc.kind == "unauthenticated":
        headers["WWW-Authenticate"] = "Bearer"
    return error_response(
        STATUS.get(exc.kind, 400),
        exc.code,
        exc.message,
        headers,
        **{k: v for k, v in exc.details.items() if isinstance(v, str | int | float | bool | list)},
    )


async def on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValidationError)
    problems = [
        {"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in exc.errors(include_url=False)
    ][:20]
    first = problems[0] if problems else {"field": "", "problem": "invalid"}
    return error_response(400, "invalid_body", f"{first['field'] or 'body'}: {first['problem']}", problems=problems)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code
    if exc.status_code == 404:
        message = "no such resource"
    return error_response(exc.status_code, code, message, dict(exc.headers or {}))


async def on_client_gone(request: Request, exc: Exception) -> Response:
    """The client went away before its request was read: nobody to answer, nothing went wrong here.
    Recorded as 499 (nginx's "client closed request") so the access log and metrics do not call it a 5xx."""
    assert isinstance(exc, ClientDisconnect)
    log.debug("client disconnected mid-request", extra={"path": request.url.path})
    return Response(status_code=CLIENT_CLOSED_REQUEST)


async def on_unexpected(request: Request | WebSocket, exc: Exception) -> Response:
    log.exception("unexpected error", extra={"path": request.url.path})
    return error_response(500, "internal_error", "something went wrong on our side; it has been logged")


HANDLERS = {
    TownhallError: on_townhall_error,
    ClientDisconnect: on_client_gone,
    ValidationError: on_validation_error,
    HTTPException: on_http_exception,
    Exception: on_unexpected,
}
