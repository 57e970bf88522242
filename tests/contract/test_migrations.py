"""Migrations on SQLite and PostgreSQL: every area's Alembic branch reaches its head, and running
them again (every start does) changes nothing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

from townhall.store.sql import db

pytestmark = pytest.mark.timeout(90)


def scripts() -> ScriptDirectory:
    cfg = Config()
    cfg.set_main_option("script_location", str(db.MIGRATIONS))
    return ScriptDirectory.from_config(cfg)


def applied(script: ScriptDirectory, versions: set[str]) -> set[str]:
    """Every revision the recorded versions stand on, through down revisions and dependencies."""
    seen: set[str] = set()
    todo = list(versions)
    while todo:
        rev = script.get_revision(todo.pop())
        if rev is None or rev.revision in seen:
            continue
        seen.add(rev.revision)
        for parents in (rev.down_revision, rev.dependencies):
            todo.extend([parents] if isinstance(parents, str) else list(parents or ()))
    return seen


async def schema(url: str) -> tuple[set[str], set[str]]:
    engine = db.open_engine(url)
    try:
        async with engine.connect() as conn:
            versions = {r[0] for r in (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).all()}
            tables = set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    return versions, tables


async def test_migrations_reach_every_head_and_can_run_again(database_url: str) -> None:
    await db.migrate(database_url)
    first = await schema(database_url)
    await db.migrate(database_url)
    assert await schema(database_url) == first
    versions, tables = first
    script = scripts()
    assert applied(script, versions) == {r.revision for r in script.walk_revisions()}
    assert set(db.all_metadata().tables) <= tables
    assert {"accounts", "sessions", "spaces", "space_members"} <= tables
