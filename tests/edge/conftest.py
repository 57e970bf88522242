"""Fixtures for edge tests: a counting test origin on uvicorn and real varnishd edges on free ports.

Every server binds 127.0.0.1 and is stopped by the fixture that started it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
import uvicorn
from edge_support import CREDENTIAL, KEYS, EdgeFactory, Origin, free_port
from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute
from tests.support.wait import until

from townhall.edge.varnish import Edge
from townhall.settings import Settings


@contextlib.asynccontextmanager
async def serve_origin() -> AsyncIterator[Origin]:
    state = Origin()
    app = Starlette(routes=[WebSocketRoute("/{path:path}", state.socket), Route("/{path:path}", state.handle)])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await until(lambda: server.started or task.done(), 10, "the test origin to start", every=0.01)
    assert not task.done(), "test origin did not start"
    state.url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    yield state
    server.should_exit = True
    await asyncio.wait_for(task, 10)


@pytest.fixture
async def origin() -> AsyncIterator[Origin]:
    async with serve_origin() as state:
        yield state


@pytest.fixture
async def staff_origin() -> AsyncIterator[Origin]:
    """A second origin, standing in for the API process of the staff lane (`edge_staff_url`)."""
    async with serve_origin() as state:
        yield state


@pytest.fixture
async def start_edge() -> AsyncIterator[EdgeFactory]:
    """Start real varnishd edges on free ports (settings overridable); every one is stopped after."""
    edges: list[Edge] = []

    async def start(origin_url: str, keys: dict[str, bytes] = KEYS, **overrides: object) -> Edge:
        # varnishd's default thread count (production keeps more); no revocation list, which this stand-in
        # origin does not serve (tests/trust/test_revocation.py tests it against the real origin)
        overrides = {"edge_threads_min": 100, "edge_revocation_ttl_s": 0, **overrides}
        settings = Settings(edge_host="127.0.0.1", **overrides)  # type: ignore[arg-type]
        edge = Edge(settings, keys, credential=CREDENTIAL, origin=origin_url, port=free_port())
        edges.append(edge)
        return await edge.astart()

    yield start
    for edge in edges:
        await edge.astop()
