"""Appeals (Art. 20) and the account status history they and decisions write."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import sqlalchemy as sa

from townhall.domain.appeals import Appeal, AppealOutcome, AppealState, AppellantRole
from townhall.domain.errors import Conflict
from townhall.services.trust.ports import HistoryEntry
from townhall.store.sql.tables_trust import account_history, appeals
from townhall.store.sql.trust.base import Row, Sql


def appeal_row(a: Appeal) -> dict[str, Any]:
    row = asdict(a)
    row.update(role=a.role.value, state=a.state.value, outcome=a.outcome.value if a.outcome else None)
    return row


def appeal_of(r: Row) -> Appeal:
    return Appeal(
        **{
            **{k: r[k] for k in appeals.c.keys()},
            "role": AppellantRole(r["role"]),
            "state": AppealState(r["state"]),
            "outcome": AppealOutcome(r["outcome"]) if r["outcome"] else None,
        }
    )


def history_of(r: Row) -> HistoryEntry:
    return HistoryEntry(
        seq=int(r["seq"]),
        account_id=r["account_id"],
        from_status=r["from_status"],
        to_status=r["to_status"],
        until=r["until"],
        reason_code=r["reason_code"],
        public_reason=r["public_reason"],
        decision_id=r["decision_id"],
        appeal_id=r["appeal_id"],
        actor_kind=r["actor_kind"],
        actor_id=r["actor_id"],
        effective_at=r["effective_at"],
        internal_note=r["internal_note"],
    )


class AppealRepo(Sql):
    async def get(self, appeal_id: str) -> Appeal | None:
        row = await self.one(sa.select(appeals).where(appeals.c.id == appeal_id))
        return None if row is None else appeal_of(row)

    async def listed(self, state: AppealState | None, limit: int, decision_id: str | None = None) -> list[Appeal]:
        query = sa.select(appeals)
        if state is not None:
            query = query.where(appeals.c.state == state.value)
        if decision_id is not None:
            query = query.where(appeals.c.decision_id == decision_id)
        return [appeal_of(r) for r in await self.rows(query.order_by(appeals.c.lodged_at).limit(limit))]

    async def by_appellant(self, appellant_id: str, since: float) -> list[Appeal]:
        query = sa.select(appeals).where(appeals.c.appellant_id == appellant_id, appeals.c.lodged_at > since)
        return [appeal_of(r) for r in await self.rows(query)]

    async def between(self, start: float, end: float) -> list[Appeal]:
        query = sa.select(appeals).where(appeals.c.lodged_at >= start, appeals.c.lodged_at < end)
        return [appeal_of(r) for r in await self.rows(query)]

    async def add(self, a: Appeal) -> None:
        await self.execute(appeals.insert().values(**appeal_row(a)))

    async def decided(self, a: Appeal) -> None:
        """Only an open appeal can be decided: a second reviewer deciding at the same time loses."""
        changed = await self.execute(
            appeals.update()
            .where(appeals.c.id == a.id, appeals.c.state == AppealState.OPEN.value)
            .values(**appeal_row(a))
        )
        if changed != 1:
            raise Conflict("appeal_decided", "this appeal was decided meanwhile")


class HistoryRepo(Sql):
    async def of_account(self, account_id: str) -> list[HistoryEntry]:
        query = (
            sa.select(account_history).where(account_history.c.account_id == account_id).order_by(account_history.c.seq)
        )
        return [history_of(r) for r in await self.rows(query)]

    async def add(self, e: HistoryEntry) -> None:
        values = asdict(e)
        del values["seq"]  # given by the database, in order
        await self.execute(account_history.insert().values(**values))
