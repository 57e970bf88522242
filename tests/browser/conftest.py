"""Fixtures for the browser tests: the townhall server on a free port in the test's loop (from
tests/conftest.py), and real headless Chromium processes, each with a fake microphone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.browser.support import Browsers, browsers
from tests.support.servers import LiveServer, free_port, live_server
from townhall.settings import Settings

LEASE_TTL_S = 6.0  # short, so a test sees pages renew their seat (every ttl/3) within seconds


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"lease_ttl_s": LEASE_TTL_S})


@pytest.fixture
async def chromium(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Browsers]:
    async with browsers(tmp_path, request.node.name) as b:
        yield b
        assert not b.errors, f"uncaught errors in the pages: {b.errors}"


@pytest.fixture
async def server_behind_edge(settings: Settings) -> AsyncIterator[LiveServer]:
    """The server with a real Varnish edge in front: listeners get playlist and state URLs on the edge."""
    from townhall.edge.varnish import Edge

    edge_port = free_port()
    behind = settings.model_copy(update={"listener_base_url": f"http://127.0.0.1:{edge_port}"})
    async with live_server(behind) as server:
        edge_settings = Settings(edge_host="127.0.0.1", edge_requests_per_ip=0)
        edge = Edge(
            edge_settings,
            server.runtime.keys.keys,
            credential=server.runtime.edge_secret,
            origin=server.url,
            port=edge_port,
        )
        await edge.astart()
        try:
            yield server
        finally:
            await edge.astop()
