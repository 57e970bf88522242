"""Each account's inbox: statements of reasons, decisions on its notices, appeal outcomes, warnings."""

from __future__ import annotations

import sqlalchemy as sa

from townhall.services.trust.ports import InboxEntry
from townhall.store.sql.tables_trust import inbox
from townhall.store.sql.trust.base import Row, Sql


def entry_of(r: Row) -> InboxEntry:
    return InboxEntry(
        id=r["id"], account_id=r["account_id"], created_at=r["created_at"], kind=r["kind"], ref_id=r["ref_id"],
        body=r["body"],
    )  # fmt: skip


class InboxRepo(Sql):
    async def of_account(self, account_id: str, limit: int) -> list[InboxEntry]:
        query = (
            sa.select(inbox)
            .where(inbox.c.account_id == account_id)
            .order_by(inbox.c.created_at.desc(), inbox.c.id)
            .limit(limit)
        )
        return [entry_of(r) for r in await self.rows(query)]

    async def add(self, e: InboxEntry) -> None:
        await self.execute(
            inbox.insert().values(
                id=e.id, account_id=e.account_id, created_at=e.created_at, kind=e.kind, ref_id=e.ref_id,
                body=dict(e.body),
            )
        )  # fmt: skip
