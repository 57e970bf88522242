"""Shared by the SQL contract suites: one migrated database per module, on SQLite and on PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.servers import postgres_database
from townhall.store.sql import db


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["sqlite", "postgresql"])
async def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[AsyncEngine]:
    async with contextlib.AsyncExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sql') / 'contract.db'}"
        else:
            url = await stack.enter_async_context(postgres_database())
        await db.migrate(url)
        eng = db.open_engine(url)
        yield eng
        await eng.dispose()
