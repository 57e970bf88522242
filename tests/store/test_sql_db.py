"""A database server that cannot be reached, or a connection lost under a query, is
`Unavailable("database_unavailable")` with a Retry-After, never the driver's error."""

from __future__ import annotations

import asyncpg
import pytest
import sqlalchemy as sa

from tests.support.servers import free_port
from townhall.domain.errors import Unavailable
from townhall.store.sql.db import open_engine

pytestmark = pytest.mark.timeout(60)


async def test_a_database_server_that_is_not_there_is_unavailable() -> None:
    engine = open_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/postgres")
    try:
        with pytest.raises(Unavailable) as raised:
            async with engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
        assert (raised.value.code, raised.value.retry_after) == ("database_unavailable", 2.0)
    finally:
        await engine.dispose()


async def test_a_connection_lost_under_a_transaction_is_unavailable() -> None:
    engine = open_engine("postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    try:
        async with engine.connect() as conn:
            pid = (await conn.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one()
            admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
            try:
                await admin.execute("SELECT pg_terminate_backend($1)", pid)
            finally:
                await admin.close()
            with pytest.raises(Unavailable) as raised:
                await conn.execute(sa.text("SELECT 1"))
            assert raised.value.code == "database_unavailable"
        async with engine.connect() as conn:  # the pool replaces the lost connection
            assert (await conn.execute(sa.text("SELECT 1"))).scalar_one() == 1
    finally:
        await engine.dispose()


async def test_an_idle_connection_lost_in_the_pool_is_replaced_without_an_error() -> None:
    engine = open_engine("postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    try:
        async with engine.connect() as conn:
            pid = (await conn.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one()
        admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        async with engine.connect() as conn:  # the pre-ping finds it dead and opens another
            assert (await conn.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one() != pid
    finally:
        await engine.dispose()
