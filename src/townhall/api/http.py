"""Small helpers every endpoint module shares: declaring an operation (with its OpenAPI facts),
reading a bounded JSON body, and finding the caller. Nothing here knows a particular area.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from townhall.api.runtime import runtime_of
from townhall.domain.errors import Invalid, TooLarge

M = TypeVar("M", bound=BaseModel)
Handler = Callable[[Request], Awaitable[Response]]


def op(
    method: str,
    path: str,
    handler: Handler,
    *,
    summary: str,
    tag: str,
    body: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    auth: str = "none",
    status: int = 200,
    errors: tuple[int, ...] = (),
) -> Route:
    """A route that also carries what the OpenAPI document says about it."""
    route = Route(path, handler, methods=[method])
    route.openapi = {  # type: ignore[attr-defined]
        "method": method.lower(),
        "summary": summary,
        "tag": tag,
        "body": body,
        "response": response,
        "auth": auth,
        "status": status,
        "errors": errors,
    }
    return route


async def read_json(request: Request, model: type[M], max_bytes: int | None = None) -> M:
    limit = max_bytes or runtime_of(request).settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise TooLarge("body_too_large", f"the request body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge("body_too_large", f"the request body is larger than {limit} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raw = b"{}"
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise Invalid("invalid_json", "the request body is not valid JSON") from exc
        raise


def bearer(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if not conn.scope.get("query_string"):
        return None
    return conn.query_params.get("access_token") or None


def client_address(conn: HTTPConnection) -> str:
    return conn.client.host if conn.client else "unknown"


def country_of(conn: HTTPConnection) -> str | None:
    name = runtime_of(conn).settings.country_header
    value = conn.headers.get(name, "").strip().upper()
    return value if len(value) == 2 and value.isalpha() else None


class FastJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def ok(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return FastJSONResponse(data, status_code=status, headers={"Cache-Control": "no-store", **(headers or {})})
