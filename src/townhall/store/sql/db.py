"""Opening the relational database from its URL, migrating it, and checking it is reachable.

Chooses nothing itself: app.py passes the URL. SQLite runs in WAL mode with foreign keys on.
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def all_metadata() -> sa.MetaData:
    """The shared metadata with every area's table module imported into it."""
    from townhall.store.sql import tables

    package = importlib.import_module("townhall.store.sql")
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("tables_"):
            importlib.import_module(f"townhall.store.sql.{info.name}")
    return tables.metadata


def open_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def _upgrade(url: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    command.upgrade(cfg, "heads")


async def migrate(url: str) -> None:
    """Apply every branch's migrations (each area owns a branch); safe to run at every start."""
    await asyncio.to_thread(_upgrade, url)


async def ping(engine: AsyncEngine) -> bool:
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
        return True
    except Exception:
        return False
