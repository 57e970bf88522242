"""Orders from authorities (Art. 9, 10): recorded with their receipt, closed with their outcome."""

from __future__ import annotations

import sqlalchemy as sa

from townhall.services.trust.ports import Order, OrderOutcome
from townhall.store.sql.tables_trust import orders
from townhall.store.sql.trust.base import Row, Sql


def order_of(r: Row) -> Order:
    return Order(
        id=r["id"],
        kind=r["kind"],
        authority=r["authority"],
        member_state=r["member_state"],
        legal_basis=r["legal_basis"],
        reasons=r["reasons"],
        target_kind=r["target_kind"],
        target_id=r["target_id"],
        territorial_scope=tuple(r["territorial_scope"]),
        deadline=r["deadline"],
        category=r["category"],
        received_at=r["received_at"],
        receipt_confirmed_at=r["receipt_confirmed_at"],
        outcome_note=r["outcome_note"],
        state=r["state"],
        recorded_by=r["recorded_by"],
        effect_given_at=r["effect_given_at"],
        outcome=r["outcome"],
        decision_id=r["decision_id"],
    )


class OrderRepo(Sql):
    async def get(self, order_id: str) -> Order | None:
        row = await self.one(sa.select(orders).where(orders.c.id == order_id))
        return None if row is None else order_of(row)

    async def recent(self, limit: int) -> list[Order]:
        query = sa.select(orders).order_by(orders.c.received_at.desc()).limit(limit)
        return [order_of(r) for r in await self.rows(query)]

    async def between(self, start: float, end: float) -> list[Order]:
        query = sa.select(orders).where(orders.c.received_at >= start, orders.c.received_at < end)
        return [order_of(r) for r in await self.rows(query)]

    async def add(self, o: Order) -> None:
        await self.execute(
            orders.insert().values(
                id=o.id,
                kind=o.kind,
                authority=o.authority,
                member_state=o.member_state,
                legal_basis=o.legal_basis,
                reasons=o.reasons,
                target_kind=o.target_kind,
                target_id=o.target_id,
                territorial_scope=list(o.territorial_scope),
                deadline=o.deadline,
                category=o.category,
                received_at=o.received_at,
                receipt_confirmed_at=o.receipt_confirmed_at,
                effect_given_at=o.effect_given_at,
                outcome=o.outcome,
                outcome_note=o.outcome_note,
                decision_id=o.decision_id,
                state=o.state,
                recorded_by=o.recorded_by,
            )
        )

    async def acted(self, order_id: str, done: OrderOutcome) -> None:
        await self.execute(
            orders.update()
            .where(orders.c.id == order_id)
            .values(
                effect_given_at=done.effect_given_at,
                outcome=done.outcome,
                outcome_note=done.outcome_note,
                state=done.outcome,
                decision_id=done.decision_id,
            )
        )
