"""Opening the relational database from its URL, migrating it, and checking it is reachable.

Chooses nothing itself: app.py passes the URL. SQLite runs in WAL mode with foreign keys on. A database
server that cannot be reached, or a connection lost under a query, is `Unavailable("database_unavailable")`
(503 with Retry-After), never the driver's error.
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Dialect, ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from townhall.domain.errors import Unavailable

MIGRATIONS = Path(__file__).parent / "migrations"
RETRY_AFTER_S = 2.0


def unavailable() -> Unavailable:
    return Unavailable("database_unavailable", "the database is unreachable; try again shortly", RETRY_AFTER_S)


def _connect(dialect: Dialect, _record: object, cargs: tuple[object, ...], cparams: dict[str, object]) -> object:
    """Open a DBAPI connection as SQLAlchemy would, a failure to reach the server raised as `Unavailable`
    (the driver raises those errors before SQLAlchemy's own translation sees them)."""
    try:
        return dialect.connect(*cargs, **cparams)
    except (OSError, dialect.loaded_dbapi.Error) as exc:
        raise unavailable() from exc


def _on_error(context: ExceptionContext) -> None:
    """A connection lost under a statement is `Unavailable`; every other error stays as it is. One found
    dead by the pool's pre-ping is not: the pool replaces it and the caller never knows."""
    if context.is_disconnect and not context.is_pre_ping:
        raise unavailable() from context.original_exception


def all_metadata() -> sa.MetaData:
    """The shared metadata with every area's table module imported into it."""
    from townhall.store.sql import tables

    package = importlib.import_module("townhall.store.sql")
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("tables_"):
            importlib.import_module(f"townhall.store.sql.{info.name}")
    return tables.metadata


def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def open_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        sa.event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    sa.event.listen(engine.sync_engine, "do_connect", _connect)
    sa.event.listen(engine.sync_engine, "handle_error", _on_error)
    return engine


def sqlite_writer(engine: AsyncEngine) -> sa.Engine | None:
    """For a SQLite database, a plain (thread-side) engine on the same file, else None.

    A write of several statements through aiosqlite hops between the event loop and its thread once per
    statement, and under load each hop waits a full loop turn; on this engine, run in a worker thread,
    the whole transaction is one hop. The file is in WAL mode, so both engines share it safely.
    """
    if engine.url.get_backend_name() != "sqlite":
        return None
    writer = sa.create_engine(
        engine.url.set(drivername="sqlite"), connect_args={"timeout": 30, "check_same_thread": False}
    )
    sa.event.listen(writer, "connect", _sqlite_pragmas)
    return writer


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
