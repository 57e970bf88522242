"""A served instance on PostgreSQL whose database stops taking connections and takes them again: while
it refuses, a request that needs SQL answers 503 with the stable code `database_unavailable` and a
Retry-After (never a 500) and readiness is 503; once it accepts again, both recover on their own.
The shared server stays up: only this test's database refuses (ALLOW_CONNECTIONS false, sessions ended)."""

from __future__ import annotations

import asyncpg
import pytest

from tests.support.servers import live_server, postgres_database
from tests.support.wait import until
from townhall.settings import Settings

pytestmark = pytest.mark.timeout(120)
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


async def _accepting(name: str, accepting: bool) -> None:
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(accepting).lower()}')
        if not accepting:
            await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
    finally:
        await admin.close()


async def test_sql_requests_and_readiness_answer_503_while_the_database_refuses_and_recover(
    settings: Settings,
) -> None:
    async with postgres_database() as url:
        name = url.rsplit("/", 1)[1]
        async with live_server(settings.model_copy(update={"database_url": url})) as server, server.client() as c:
            assert (await c.get("/api/spaces")).status_code == 200
            await _accepting(name, False)
            try:
                refused = await c.get("/api/spaces")
                assert refused.status_code == 503, refused.text
                assert refused.json()["code"] == "database_unavailable"
                assert refused.headers["Retry-After"] == "2"
                ready = await c.get("/readyz")
                assert (ready.status_code, ready.json()["database"]) == (503, "down")
            finally:
                await _accepting(name, True)

            async def listed() -> bool:
                return (await c.get("/api/spaces")).status_code == 200

            async def ready_again() -> bool:
                return (await c.get("/readyz")).status_code == 200

            await until(listed, 20, "the spaces list once the database accepts again", every=0.1)
            await until(ready_again, 20, "readiness once the database accepts again", every=0.1)
