"""Operations endpoints and middleware: liveness, readiness, Prometheus metrics, OpenAPI, JSON access logs.

Never part of a listener's path; nothing here is cached by the edge.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import GaugeMetricFamily
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from townhall import __version__
from townhall.api.http import op
from townhall.api.runtime import Runtime, runtime_of
from townhall.domain.spaces import SpaceState

access = logging.getLogger("townhall.access")
NOT_READY_RETRY_AFTER_S = 2  # as the state and database adapters tell clients when their backend is down


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "alive"}, headers={"Cache-Control": "no-store"})


async def readyz(request: Request) -> Response:
    rt = runtime_of(request)
    db_ok = await rt.ping_db()
    state_ok = await rt.state.ping()
    body: dict[str, object] = {"database": "ok" if db_ok else "down", "state": "ok" if state_ok else "down"}
    if db_ok and state_ok and rt.started:
        return JSONResponse({"status": "ready", **body}, headers={"Cache-Control": "no-store"})
    body["started"] = rt.started  # false until the startup hooks ran (they wait for the hot state)
    return JSONResponse(
        {"code": "not_ready", "message": "a backend is unreachable", **body},
        status_code=503,
        headers={"Cache-Control": "no-store", "Retry-After": str(NOT_READY_RETRY_AFTER_S)},
    )


async def metrics(request: Request) -> Response:
    rt = runtime_of(request)
    await refresh_gauges(rt)
    return Response(
        generate_latest(rt.metrics.registry), media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"}
    )


async def refresh_gauges(rt: Runtime) -> None:
    live = await rt.spaces.find([SpaceState.LIVE], rt.settings.list_limit_max)
    listeners = waiting = 0
    for space in live:
        seated, queued = await rt.admission.counts(space)
        listeners += seated
        waiting += queued
    rt.gauges.values = {
        "townhall_live_spaces": ("Spaces live now (up to list_limit_max)", len(live)),
        "townhall_listeners": ("Listeners holding a seat in live spaces", listeners),
        "townhall_waiting_room": ("Listeners waiting for a seat", waiting),
    }


def implied_errors(route: Any, info: dict[str, Any]) -> set[int]:
    """The statuses an operation answers because of what it is, beyond those its handler raises: any
    request may be shed (503, `api/shedding.py`) except liveness; a body may be malformed (400), too
    large (413) or stall (408); a credential may be missing or wrong (401); a path names a thing that
    may not exist (404); the middleware's gates answer 403 and 451 on their paths."""
    found = set() if route.path == "/healthz" else {503}
    if info["body"] is not None:
        found |= {400, 408, 413}
    if info["auth"] != "none":
        found.add(401)
    if route.param_convertors:
        found.add(404)
    if route.path.startswith(("/live/", "/replay/")):
        found.add(451)  # withheld in the caller's country (WithheldGate)
        if route.path.startswith("/live/") and not route.path.endswith("/state.json"):
            found.add(403)  # live media: a listener token or the edge's credential (LiveGate)
    if route.path.startswith("/api/admin/"):
        found.add(403)  # staff only
    if info["auth"] == "session" and route.path.startswith("/api/spaces/{space_id}/"):
        found |= {403, 410}  # acting in a space: a role may not, or the space has ended
    return found


def openapi_document(routes: list[Any], title: str, version: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}

    def ref(model: Any) -> dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            schemas[name] = sub
        schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    problem = {
        "description": "error",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                }
            }
        },
    }
    overloaded = {
        **problem,
        "description": "overloaded (code `overloaded`, or a backend down): retry after `Retry-After` seconds",
        "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
    }
    for route in routes:
        info = getattr(route, "openapi", None)
        if info is None:
            continue
        operation: dict[str, Any] = {"summary": info["summary"], "tags": [info["tag"]], "responses": {}}
        params = [p for p in route.param_convertors]
        if params:
            operation["parameters"] = [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params
            ]
        if info["body"] is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(info["body"])}},
            }
        ok_resp: dict[str, Any] = {"description": "success"}
        if info["response"] is not None:
            ok_resp["content"] = {"application/json": {"schema": ref(info["response"])}}
        operation["responses"][str(info["status"])] = ok_resp
        for status in sorted({*info["errors"], *implied_errors(route, info)}):
            operation["responses"][str(status)] = problem if status != 503 else overloaded
        if info["auth"] != "none":
            operation["security"] = [{"bearer": []}]
            operation["description"] = f"Authorization: Bearer <{info['auth']}>"
        paths.setdefault(route.path_format, {})[info["method"]] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


STATIC_DOC = "public, max-age=300"


def _once(request: Request, name: str, render: Callable[[], bytes]) -> bytes:
    """A document that changes only with the code, rendered on first use and kept by the app: a flood of
    requests for it costs a dictionary lookup each, never the rendering again."""
    cache: dict[str, bytes] = request.app.state.__dict__.setdefault("rendered", {})
    if name not in cache:
        cache[name] = render()
    return cache[name]


def _document(request: Request) -> dict[str, Any]:
    return openapi_document(request.app.routes, "townhall control plane", __version__)


async def openapi(request: Request) -> Response:
    body = _once(request, "openapi.json", lambda: orjson.dumps(_document(request)))
    return Response(body, media_type="application/json", headers={"Cache-Control": STATIC_DOC})


async def docs(request: Request) -> Response:
    """A self-contained reference page (no CDN scripts): every operation from the OpenAPI document."""
    body = _once(request, "docs.html", lambda: _docs_page(_document(request)).encode())
    return Response(body, media_type="text/html; charset=utf-8", headers={"Cache-Control": STATIC_DOC})


def _docs_page(doc: dict[str, Any]) -> str:
    rows = []
    for path, methods in doc["paths"].items():
        for method, o in methods.items():
            statuses = ", ".join(o["responses"])
            rows.append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>{path}</code></td>"
                f"<td>{o['summary']}</td><td>{statuses}</td></tr>"
            )
    return (
        "<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport content='width=device-width'>"
        "<title>townhall API</title><style>body{font:15px system-ui;margin:2em}td{padding:4px 8px;"
        "border-bottom:1px solid #ddd;vertical-align:top}</style><h1>townhall API</h1>"
        "<p>Machine-readable: <a href='/api/openapi.json'>/api/openapi.json</a>. Errors are JSON "
        '<code>{"code", "message"}</code>.</p><table><tr><th>method</th><th>path</th><th>what</th>'
        f"<th>statuses</th></tr>{''.join(rows)}</table></html>"
    )


def routes() -> list[Route]:
    t = "operations"
    return [
        op("GET", "/healthz", healthz, summary="Alive", tag=t),
        op("GET", "/readyz", readyz, summary="Database and state backend reachable", tag=t, errors=(503,)),
        op("GET", "/metrics", metrics, summary="Prometheus metrics", tag=t),
        op("GET", "/api/openapi.json", openapi, summary="This document", tag=t),
        op("GET", "/api/docs", docs, summary="Readable API reference", tag=t),
    ]


class AccessLog:
    """One JSON line per request with its id, and the latency histogram; adds X-Request-Id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._observers: dict[tuple[str, int], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = os.urandom(8).hex()
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # a new list: the one in the message may be shared (never grow someone else's)
                message = {**message, "headers": [*message.get("headers", ()), (b"x-request-id", rid.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            name = getattr(route, "path", "unmatched")
            observe = self._observers.get((name, status))
            if observe is None:
                histogram = scope["app"].state.runtime.metrics.requests
                observe = self._observers[(name, status)] = histogram.labels(name, f"{status // 100}xx").observe
            observe(elapsed)
            if access.isEnabledFor(logging.INFO):
                space = (scope.get("path_params") or {}).get("space_id")
                access.info(
                    json.dumps(
                        {
                            "request_id": rid,
                            "method": scope["method"],
                            "path": scope["path"],
                            "status": status,
                            "ms": round(elapsed * 1000, 2),
                            "space_id": space,
                        }
                    )
                )


class GaugeCollector:
    """Gauges computed when scraped (live spaces, listeners, waiting), from a callback."""

    def __init__(self) -> None:
        self.values: dict[str, tuple[str, float]] = {}

    def collect(self):  # type: ignore[no-untyped-def]
        for name, (help_text, value) in self.values.items():
            yield GaugeMetricFamily(name, help_text, value=value)
