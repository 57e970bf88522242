"""The unit of work of the trust area: one transaction over every aggregate's repository, implementing
the services' `TrustUnit` port. Nothing is visible to others until the unit commits."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from townhall.domain.appeals import Appeal
from townhall.domain.audit import AuditEntry
from townhall.domain.moderation import Decision
from townhall.domain.notices import Notice
from townhall.services.trust.ports import (
    Dispute,
    DisputeOutcome,
    HistoryEntry,
    InboxEntry,
    MisuseMeasure,
    Order,
    OrderOutcome,
    Referral,
    Restriction,
    Statement,
    Strike,
    TrustUnit,
)
from townhall.store.sql.trust.appeals import AppealRepo, HistoryRepo
from townhall.store.sql.trust.audit import AuditRepo
from townhall.store.sql.trust.decisions import DecisionRepo, StatementRepo
from townhall.store.sql.trust.disputes import DisputeRepo, ReferralRepo
from townhall.store.sql.trust.inbox import InboxRepo
from townhall.store.sql.trust.misuse import MisuseRepo
from townhall.store.sql.trust.notices import NoticeRepo
from townhall.store.sql.trust.orders import OrderRepo
from townhall.store.sql.trust.restrictions import RestrictionRepo


class SqlTrustUnit:
    def __init__(self, conn: AsyncConnection) -> None:
        self._audit = AuditRepo(conn)
        self._notices = NoticeRepo(conn)
        self._decisions = DecisionRepo(conn)
        self._statements = StatementRepo(conn)
        self._restrictions = RestrictionRepo(conn)
        self._inbox = InboxRepo(conn)
        self._history = HistoryRepo(conn)
        self._appeals = AppealRepo(conn)
        self._misuse = MisuseRepo(conn)
        self._orders = OrderRepo(conn)
        self._disputes = DisputeRepo(conn)
        self._referrals = ReferralRepo(conn)

    async def audit(
        self, at: float, actor: tuple[str, str], action: str, obj: tuple[str, str], payload: Mapping[str, object]
    ) -> AuditEntry:
        return await self._audit.append(at, actor, action, obj, payload)

    async def receive_notice(self, notice: Notice) -> None:
        await self._notices.add(notice)

    async def notice_decided(self, notice: Notice) -> None:
        await self._notices.decided(notice)

    async def record_decision(self, decision: Decision) -> None:
        await self._decisions.add(decision)

    async def decision_state(self, decision: Decision) -> None:
        await self._decisions.set_state(decision)

    async def restrict(self, restriction: Restriction) -> None:
        await self._restrictions.add(restriction)

    async def lift_restrictions(self, decision_id: str, now: float, by: str) -> None:
        await self._restrictions.lift(decision_id, now, by)

    async def issue_statement(self, statement: Statement) -> None:
        await self._statements.add(statement)

    async def inform(self, entry: InboxEntry) -> None:
        await self._inbox.add(entry)

    async def add_history(self, entry: HistoryEntry) -> None:
        await self._history.add(entry)

    async def lodge_appeal(self, appeal: Appeal) -> None:
        await self._appeals.add(appeal)

    async def appeal_decided(self, appeal: Appeal) -> None:
        await self._appeals.decided(appeal)

    async def strike(self, strike: Strike) -> None:
        await self._misuse.strike(strike)

    async def take_measure(self, measure: MisuseMeasure) -> None:
        await self._misuse.take(measure)

    async def record_order(self, order: Order) -> None:
        await self._orders.add(order)

    async def order_acted(self, order_id: str, outcome: OrderOutcome) -> None:
        await self._orders.acted(order_id, outcome)

    async def open_dispute(self, dispute: Dispute) -> None:
        await self._disputes.add(dispute)

    async def close_dispute(self, dispute_id: str, outcome: DisputeOutcome) -> None:
        await self._disputes.close(dispute_id, outcome)

    async def refer(self, referral: Referral) -> None:
        await self._referrals.add(referral)


class SqlUnits:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[TrustUnit]:
        async with self.engine.begin() as conn:
            yield SqlTrustUnit(conn)
