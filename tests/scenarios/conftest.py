"""The two forms every journey runs on: embedded (SQLite + memory) and scaled out (PostgreSQL +
Redis, each test in a fresh database and under its own Redis prefix), and townhall instances on them."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.support.servers import REDIS_URL, postgres_database
from tests.support.state import redis_prefix
from townhall.settings import Settings


@dataclass
class Clock:
    """The instances' clock, moved by the test (leases, tickets, the room document's age)."""

    now: float = field(default_factory=time.time)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Instance:
    client: httpx.AsyncClient
    runtime: Any


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["embedded", "scaled"])
async def form(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Settings]:
    """Settings of one deployment form; instances built from the same settings share its stores."""
    if request.param == "embedded":
        yield settings
        return
    async with postgres_database() as url, redis_prefix() as prefix:
        yield settings.model_copy(update={"database_url": url, "state_url": f"{REDIS_URL}/0", "state_prefix": prefix})


@contextlib.asynccontextmanager
async def instance(settings: Settings, clock: Clock) -> AsyncIterator[Instance]:
    """One townhall process (its own runtime, engine and state connection), served in-process."""
    from townhall.app import build_app, build_runtime

    runtime = build_runtime(settings, clock)
    app = build_app(runtime=runtime)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=10) as client:
            yield Instance(client, runtime)
