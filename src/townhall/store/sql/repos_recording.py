"""Repositories of recording and counting: chain links, recordings, clips, and the counting ledger
(exact totals, de-duplication keys, journal of unique viewers) written one batch per transaction.

No rules here: what a batch contains is decided by domain/counting.py through services/counting.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from townhall.domain.recordings import Recording
from townhall.domain.replay import Link
from townhall.store.sql.db import sqlite_writer
from townhall.store.sql.tables_recording import (
    clips,
    count_journal,
    count_seen,
    count_totals,
    recordings,
    replay_links,
)

CHUNK = 500  # rows per IN (...) or multi-row statement


def _link(row: Any) -> Link:
    return Link(row.msn, row.media_time, row.duration, row.sha256, row.uri, row.program_date_time_ms, row.head)


class ChainRepo:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def add(self, space_id: str, link: Link, blob_key: str) -> bool:
        """Store a link; False when that segment was already chained (a repeated hook)."""
        async with self.engine.begin() as conn:
            found = await conn.execute(
                sa.select(replay_links.c.head).where(
                    replay_links.c.space_id == space_id, replay_links.c.msn == link.msn
                )
            )
            if found.first() is not None:
                return False
            await conn.execute(
                replay_links.insert().values(
                    space_id=space_id,
                    msn=link.msn,
                    media_time=link.media_time,
                    duration=link.duration,
                    sha256=link.sha256,
                    uri=link.uri,
                    blob_key=blob_key,
                    program_date_time_ms=link.program_date_time_ms,
                    head=link.head,
                )
            )
        return True

    async def last(self, space_id: str) -> Link | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(replay_links)
                    .where(replay_links.c.space_id == space_id)
                    .order_by(replay_links.c.msn.desc())
                    .limit(1)
                )
            ).first()
        return _link(row) if row is not None else None

    async def links(self, space_id: str) -> list[tuple[Link, str]]:
        """Every link of a space in order, with the blob key of its segment."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(replay_links).where(replay_links.c.space_id == space_id).order_by(replay_links.c.msn)
            )
            return [(_link(row), row.blob_key) for row in rows]


class RecordingRepo:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def ending(self, space_id: str, public: bool, ended_at: float, delete_after: float | None) -> None:
        async with self.engine.begin() as conn:
            found = await conn.execute(sa.select(recordings.c.space_id).where(recordings.c.space_id == space_id))
            if found.first() is None:
                await conn.execute(
                    recordings.insert().values(
                        space_id=space_id, state="ending", public=public, ended_at=ended_at, delete_after=delete_after
                    )
                )

    async def update(self, space_id: str, **values: object) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(recordings.update().where(recordings.c.space_id == space_id).values(**values))

    async def get(self, space_id: str) -> Recording | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(recordings).where(recordings.c.space_id == space_id))).first()
        return Recording(**row._mapping) if row is not None else None

    async def in_state(self, state: str) -> list[Recording]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(recordings).where(recordings.c.state == state))
            return [Recording(**row._mapping) for row in rows]

    async def expired(self, now: float) -> list[Recording]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(recordings).where(recordings.c.delete_after <= now, recordings.c.state != "deleted")
            )
            return [Recording(**row._mapping) for row in rows]


class ClipRepo:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def add(self, row: Mapping[str, object]) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(clips.insert().values(**row))

    async def get(self, clip_id: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(clips).where(clips.c.id == clip_id))).first()
        return dict(row._mapping) if row is not None else None

    async def of_space(self, space_id: str, limit: int) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(clips).where(clips.c.space_id == space_id).order_by(clips.c.created_at.desc()).limit(limit)
            )
            return [dict(row._mapping) for row in rows]


@dataclass(slots=True)
class Batch:
    """One transaction's worth of counting: keys that must be new, increments, unique viewers."""

    claims: dict[str, float] = field(default_factory=dict)  # key -> expires_at; first claim wins
    totals: dict[tuple[str, str], int] = field(default_factory=dict)
    uniques: dict[str, set[str]] = field(default_factory=dict)


class CountLedger:
    """Exact totals and de-duplication in SQL: what is acknowledged is committed here first."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.writer = sqlite_writer(engine)

    async def taken(self, keys: Iterable[str], now: float) -> set[str]:
        """Which of `keys` are claimed and not yet expired."""
        wanted = list(keys)
        found: set[str] = set()
        async with self.engine.connect() as conn:
            for i in range(0, len(wanted), CHUNK):
                rows = await conn.execute(
                    sa.select(count_seen.c.key).where(
                        count_seen.c.key.in_(wanted[i : i + CHUNK]), count_seen.c.expires_at > now
                    )
                )
                found.update(r.key for r in rows)
        return found

    async def commit(self, batch: Batch, now: float) -> int | None:
        """Write the batch in one transaction; the id of its journal row (None without uniques)."""
        if self.writer is not None:
            return await asyncio.to_thread(self._commit_on_writer, batch, now)
        async with self.engine.begin() as conn:
            return await conn.run_sync(_commit, batch, now)

    def _commit_on_writer(self, batch: Batch, now: float) -> int | None:
        assert self.writer is not None
        with self.writer.begin() as conn:
            return _commit(conn, batch, now)

    async def raise_to(self, subject: str, metric: str, value: int) -> None:
        """Keep the maximum (peak concurrent listeners)."""
        async with self.engine.begin() as conn:
            done = await conn.execute(
                count_totals.update()
                .where(count_totals.c.subject == subject, count_totals.c.metric == metric, count_totals.c.n < value)
                .values(n=value)
            )
            if done.rowcount == 0:
                found = await conn.execute(
                    sa.select(count_totals.c.n).where(
                        count_totals.c.subject == subject, count_totals.c.metric == metric
                    )
                )
                if found.first() is None:
                    await conn.execute(count_totals.insert().values(subject=subject, metric=metric, n=value))

    async def totals(self, subject: str) -> dict[str, int]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(count_totals.c.metric, count_totals.c.n).where(count_totals.c.subject == subject)
            )
            return {r.metric: int(r.n) for r in rows}

    async def journal_after(self, after_id: int, limit: int) -> list[tuple[int, dict[str, list[str]]]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(count_journal.c.id, count_journal.c.uniques)
                .where(count_journal.c.id > after_id)
                .order_by(count_journal.c.id)
                .limit(limit)
            )
            return [(r.id, r.uniques) for r in rows]

    async def forget_expired(self, now: float) -> int:
        async with self.engine.begin() as conn:
            done = await conn.execute(count_seen.delete().where(count_seen.c.expires_at <= now))
            return int(done.rowcount or 0)


def _commit(conn: sa.Connection, batch: Batch, now: float) -> int | None:
    journal_id = None
    if batch.claims:
        keys = list(batch.claims)
        for i in range(0, len(keys), CHUNK):
            conn.execute(count_seen.delete().where(count_seen.c.key.in_(keys[i : i + CHUNK])))
        conn.execute(count_seen.insert(), [{"key": k, "expires_at": t} for k, t in batch.claims.items()])
    for (subject, metric), n in batch.totals.items():
        done = conn.execute(
            count_totals.update()
            .where(count_totals.c.subject == subject, count_totals.c.metric == metric)
            .values(n=count_totals.c.n + n)
        )
        if done.rowcount == 0:
            conn.execute(count_totals.insert().values(subject=subject, metric=metric, n=n))
    if batch.uniques:
        body = {k: sorted(v) for k, v in batch.uniques.items()}
        inserted = conn.execute(count_journal.insert().values(created_at=now, uniques=body))
        journal_id = int(inserted.inserted_primary_key[0])  # type: ignore[index]
    return journal_id
