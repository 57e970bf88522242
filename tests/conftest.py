"""Shared fixtures: settings on a temporary data directory, the app in-process or on a real port,
and every backend implementation for the contract suites."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.servers import LiveServer, ensure_services, live_server, postgres_database
from townhall.settings import Settings

TEST_KEYS = "kt1:" + "11" * 32 + ",kt0:" + "22" * 32


def pytest_sessionstart(session: pytest.Session) -> None:
    ensure_services()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per session; each test starts from a copy (migrating takes seconds)."""
    import asyncio

    from townhall.store.sql.db import migrate

    path = tmp_path_factory.mktemp("template") / "townhall.db"
    asyncio.run(migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture
def settings(tmp_path: Path, migrated_sqlite: Path) -> Settings:
    (tmp_path / "data").mkdir()
    shutil.copyfile(migrated_sqlite, tmp_path / "data" / "townhall.db")
    # argon2 at its lightest: the tests exercise hashing, not its cost
    return Settings(
        data_dir=tmp_path / "data",
        token_keys=TEST_KEYS,
        log_level="warning",
        password_hash_time_cost=1,
        password_hash_memory_kib=1024,
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    """The ASGI app with its lifespan run (migrations applied), for in-process requests."""
    from townhall.app import build_app

    application = build_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=10) as c:
        yield c


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[LiveServer]:
    async with live_server(settings) as s:
        yield s


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'contract.db'}"
        return
    async with postgres_database() as url:
        yield url
