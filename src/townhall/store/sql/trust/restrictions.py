"""Restrictions a decision put in place (withheld, labelled, out of discovery), in force until lifted."""

from __future__ import annotations

import sqlalchemy as sa

from townhall.domain.moderation import ActionKind
from townhall.services.trust.ports import Restriction
from townhall.store.sql.tables_trust import restrictions
from townhall.store.sql.trust.base import Row, Sql


def restriction_of(r: Row) -> Restriction:
    return Restriction(
        id=r["id"],
        decision_id=r["decision_id"],
        action=r["action"],
        target_kind=r["target_kind"],
        target_id=r["target_id"],
        countries=tuple(r["countries"]),
        label=r["label"],
        starts_at=r["starts_at"],
        ends_at=r["ends_at"],
        lifted_at=r["lifted_at"],
        lifted_by=r["lifted_by"],
    )


class RestrictionRepo(Sql):
    async def active(self, action: ActionKind, now: float) -> list[Restriction]:
        query = sa.select(restrictions).where(
            restrictions.c.action == action.value,
            restrictions.c.lifted_at.is_(None),
            sa.or_(restrictions.c.ends_at.is_(None), restrictions.c.ends_at > now),
        )
        return [restriction_of(r) for r in await self.rows(query)]

    async def of_target(self, target_id: str) -> list[Restriction]:
        query = sa.select(restrictions).where(restrictions.c.target_id == target_id)
        return [restriction_of(r) for r in await self.rows(query)]

    async def between(self, start: float, end: float) -> list[Restriction]:
        query = sa.select(restrictions).where(restrictions.c.starts_at >= start, restrictions.c.starts_at < end)
        return [restriction_of(r) for r in await self.rows(query)]

    async def add(self, r: Restriction) -> None:
        await self.execute(
            restrictions.insert().values(
                id=r.id,
                decision_id=r.decision_id,
                action=r.action,
                target_kind=r.target_kind,
                target_id=r.target_id,
                countries=list(r.countries),
                label=r.label,
                starts_at=r.starts_at,
                ends_at=r.ends_at,
            )
        )

    async def lift(self, decision_id: str, now: float, by: str) -> None:
        await self.execute(
            restrictions.update()
            .where(restrictions.c.decision_id == decision_id, restrictions.c.lifted_at.is_(None))
            .values(lifted_at=now, lifted_by=by)
        )
