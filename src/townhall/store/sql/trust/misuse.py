"""The misuse rules' memory (Art. 23): strikes counted against a subject and the measures taken."""

from __future__ import annotations

import sqlalchemy as sa

from townhall.domain.misuse import Measure
from townhall.services.trust.ports import MisuseMeasure, Strike
from townhall.store.sql.tables_trust import measures, strikes
from townhall.store.sql.trust.base import Row, Sql


def measure_of(r: Row) -> MisuseMeasure:
    return MisuseMeasure(
        id=r["id"],
        subject_kind=r["subject_kind"],
        subject_id=r["subject_id"],
        kind=r["kind"],
        action=r["action"],
        at=r["at"],
        until=r["until"],
        decision_id=r["decision_id"],
    )


class MisuseRepo(Sql):
    async def strike_times(self, subject_id: str, kind: str, since: float) -> list[float]:
        query = sa.select(strikes.c.created_at).where(
            strikes.c.subject_id == subject_id, strikes.c.kind == kind, strikes.c.created_at > since
        )
        return [float(r["created_at"]) for r in await self.rows(query)]

    async def measures(self, subject_id: str, kind: str) -> list[Measure]:
        query = sa.select(measures).where(measures.c.subject_id == subject_id, measures.c.kind == kind)
        return [measure_of(r).measure() for r in await self.rows(query)]

    async def measures_between(self, start: float, end: float) -> list[MisuseMeasure]:
        query = sa.select(measures).where(measures.c.at >= start, measures.c.at < end)
        return [measure_of(r) for r in await self.rows(query)]

    async def strike(self, s: Strike) -> None:
        await self.execute(
            strikes.insert().values(
                id=s.id,
                subject_kind=s.subject_kind,
                subject_id=s.subject_id,
                kind=s.kind,
                source_id=s.source_id,
                created_at=s.created_at,
            )
        )

    async def take(self, m: MisuseMeasure) -> None:
        await self.execute(
            measures.insert().values(
                id=m.id,
                subject_kind=m.subject_kind,
                subject_id=m.subject_id,
                kind=m.kind,
                action=m.action,
                at=m.at,
                until=m.until,
                decision_id=m.decision_id,
            )
        )
