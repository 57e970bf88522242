"""The audit log: a hash chain of entries (format in domain/audit.py) and the head row that serialises
appends (writing it first takes SQLite's write lock or PostgreSQL's row lock)."""

from __future__ import annotations

import json
from collections.abc import Mapping

import sqlalchemy as sa

from townhall.domain import audit
from townhall.store.sql.tables_trust import audit_head, audit_log
from townhall.store.sql.trust.base import Row, Sql


def audit_of(r: Row) -> audit.AuditEntry:
    return audit.AuditEntry(
        seq=int(r["seq"]),
        at=r["at"],
        actor_kind=r["actor_kind"],
        actor_id=r["actor_id"],
        action=r["action"],
        object_type=r["object_type"],
        object_id=r["object_id"],
        payload=json.loads(r["payload"]),
        prev_hash=r["prev_hash"],
        hash=r["hash"],
    )


class AuditRepo(Sql):
    async def entries(self, after_seq: int = 0, limit: int | None = None) -> list[audit.AuditEntry]:
        query = sa.select(audit_log).where(audit_log.c.seq > after_seq).order_by(audit_log.c.seq)
        if limit is not None:
            query = query.limit(limit)
        return [audit_of(r) for r in await self.rows(query)]

    async def head(self) -> tuple[int, str]:
        row = await self.one(sa.select(audit_head).where(audit_head.c.id == 1))
        return (0, audit.GENESIS) if row is None else (int(row["seq"]), str(row["hash"]))

    async def between(self, start: float, end: float) -> list[audit.AuditEntry]:
        query = sa.select(audit_log).where(audit_log.c.at >= start, audit_log.c.at < end).order_by(audit_log.c.seq)
        return [audit_of(r) for r in await self.rows(query)]

    async def append(
        self, at: float, actor: tuple[str, str], action: str, obj: tuple[str, str], payload: Mapping[str, object]
    ) -> audit.AuditEntry:
        """Within a unit only (the head's update and the entry must commit together)."""
        await self.execute(audit_head.update().where(audit_head.c.id == 1).values(seq=audit_head.c.seq + 1))
        head = await self.one(sa.select(audit_head).where(audit_head.c.id == 1))
        if head is None:
            raise LookupError("the audit log's head row is missing: run the migrations")
        seq = int(head["seq"])
        prev = await self.one(sa.select(audit_log.c.hash).where(audit_log.c.seq == seq - 1))
        prev_hash = str(prev["hash"]) if prev is not None else audit.GENESIS
        entry = audit.seal(prev_hash, seq, at, actor[0], actor[1], action, obj[0], obj[1], payload)
        await self.execute(
            audit_log.insert().values(
                seq=entry.seq,
                at=entry.at,
                actor_kind=entry.actor_kind,
                actor_id=entry.actor_id,
                action=entry.action,
                object_type=entry.object_type,
                object_id=entry.object_id,
                payload=audit.canonical(dict(entry.payload)),
                prev_hash=entry.prev_hash,
                hash=entry.hash,
            )
        )
        await self.execute(audit_head.update().where(audit_head.c.id == 1).values(hash=entry.hash))
        return entry
