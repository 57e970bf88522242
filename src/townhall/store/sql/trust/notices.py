"""Notices (Art. 16) as stored: received, queued by urgency, decided once."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import sqlalchemy as sa

from townhall.domain.errors import Conflict
from townhall.domain.notices import Notice, NoticeItem, NoticeState, SourceKind, TargetKind
from townhall.store.sql.tables_trust import notices
from townhall.store.sql.trust.base import Row, Sql


def notice_row(n: Notice) -> dict[str, Any]:
    return {
        "id": n.id,
        "received_at": n.received_at,
        "source_kind": n.source_kind.value,
        "notifier_account_id": n.notifier_account_id,
        "notifier_name": n.notifier_name,
        "notifier_email": n.notifier_email,
        "reporter_key": n.reporter_key,
        "category": n.category,
        "keywords": list(n.keywords),
        "explanation": n.explanation,
        "is_illegal_content_claim": n.is_illegal_content_claim,
        "bona_fide": n.bona_fide,
        "threat_to_life": n.threat_to_life,
        "items": [{**asdict(i), "kind": i.kind.value} for i in n.items],
        "target_kind": n.target.kind.value,
        "target_id": n.target.target_id,
        "state": n.state.value,
        "decided_at": n.decided_at,
        "decision_id": n.decision_id,
        "manifestly_unfounded": n.manifestly_unfounded,
    }


def notice_of(r: Row) -> Notice:
    return Notice(
        id=r["id"],
        received_at=r["received_at"],
        source_kind=SourceKind(r["source_kind"]),
        items=tuple(NoticeItem(**{**i, "kind": TargetKind(i["kind"])}) for i in r["items"]),
        category=r["category"],
        explanation=r["explanation"],
        is_illegal_content_claim=bool(r["is_illegal_content_claim"]),
        bona_fide=bool(r["bona_fide"]),
        reporter_key=r["reporter_key"],
        keywords=tuple(r["keywords"]),
        threat_to_life=bool(r["threat_to_life"]),
        notifier_account_id=r["notifier_account_id"],
        notifier_name=r["notifier_name"],
        notifier_email=r["notifier_email"],
        state=NoticeState(r["state"]),
        decided_at=r["decided_at"],
        decision_id=r["decision_id"],
        manifestly_unfounded=bool(r["manifestly_unfounded"]),
    )


class NoticeRepo(Sql):
    async def get(self, notice_id: str) -> Notice | None:
        row = await self.one(sa.select(notices).where(notices.c.id == notice_id))
        return None if row is None else notice_of(row)

    async def queued(self, limit: int) -> list[Notice]:
        """Queued notices, threats to life and trusted flaggers' first, then the oldest."""
        trusted = sa.case((notices.c.source_kind == SourceKind.TRUSTED_FLAGGER.value, 1), else_=0)
        query = (
            sa.select(notices)
            .where(notices.c.state == NoticeState.QUEUED.value)
            .order_by(notices.c.threat_to_life.desc(), trusted.desc(), notices.c.received_at)
            .limit(limit)
        )
        return [notice_of(r) for r in await self.rows(query)]

    async def between(self, start: float, end: float) -> list[Notice]:
        query = sa.select(notices).where(notices.c.received_at >= start, notices.c.received_at < end)
        return [notice_of(r) for r in await self.rows(query)]

    async def by_reporter(self, reporter_key: str, since: float) -> list[Notice]:
        query = sa.select(notices).where(notices.c.reporter_key == reporter_key, notices.c.received_at > since)
        return [notice_of(r) for r in await self.rows(query)]

    async def add(self, n: Notice) -> None:
        await self.execute(notices.insert().values(**notice_row(n)))

    async def decided(self, n: Notice) -> None:
        """Only a queued notice can be decided: a second moderator deciding at the same time loses."""
        changed = await self.execute(
            notices.update()
            .where(notices.c.id == n.id, notices.c.state == NoticeState.QUEUED.value)
            .values(
                state=n.state.value,
                decided_at=n.decided_at,
                decision_id=n.decision_id,
                manifestly_unfounded=n.manifestly_unfounded,
            )
        )
        if changed != 1:
            raise Conflict("notice_not_queued", f"notice {n.id} was decided meanwhile")
