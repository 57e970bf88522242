"""Decisions (Art. 17) and their statements of reasons, with each statement's Transparency Database state."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from townhall.domain.moderation import Basis, Decision, DecisionState, proposal_fields, proposal_from
from townhall.services.trust.ports import Statement
from townhall.store.sql.tables_trust import decisions, statements
from townhall.store.sql.trust.base import Row, Sql


def decision_row(d: Decision) -> dict[str, Any]:
    return {
        "id": d.id,
        "puid": d.puid,
        "basis": d.basis.value,
        "action": d.action.value,
        "target_kind": d.proposal.target_kind.value,
        "target_id": d.proposal.target_id,
        "affected_account_id": d.affected_account_id,
        "proposal": proposal_fields(d.proposal),
        "decided_by": d.decided_by,
        "decided_at": d.decided_at,
        "content_created_at": d.content_created_at,
        "state": d.state.value,
        "notice_ids": list(d.notice_ids),
        "source_trusted_flagger": d.source_trusted_flagger,
        "source_illegal_claim": d.source_illegal_claim,
        "order_id": d.order_id,
        "appeal_id": d.appeal_id,
        "supersedes_id": d.supersedes_id,
    }


def decision_of(r: Row) -> Decision:
    return Decision(
        id=r["id"],
        basis=Basis(r["basis"]),
        proposal=proposal_from(r["proposal"]),
        affected_account_id=r["affected_account_id"],
        decided_by=r["decided_by"],
        decided_at=r["decided_at"],
        content_created_at=r["content_created_at"],
        state=DecisionState(r["state"]),
        notice_ids=tuple(r["notice_ids"]),
        source_trusted_flagger=bool(r["source_trusted_flagger"]),
        source_illegal_claim=bool(r["source_illegal_claim"]),
        order_id=r["order_id"],
        appeal_id=r["appeal_id"],
        supersedes_id=r["supersedes_id"],
    )


def statement_of(r: Row) -> Statement:
    return Statement(
        id=r["id"],
        decision_id=r["decision_id"],
        recipient_account_id=r["recipient_account_id"],
        created_at=r["created_at"],
        body=r["body"],
        window_ends_at=r["window_ends_at"],
        tdb_payload=r["tdb_payload"],
        tdb_state=r["tdb_state"],
        tdb_uuid=r["tdb_uuid"],
        tdb_attempts=int(r["tdb_attempts"]),
        tdb_last_error=r["tdb_last_error"],
        tdb_submitted_at=r["tdb_submitted_at"],
    )


class DecisionRepo(Sql):
    async def get(self, decision_id: str) -> Decision | None:
        row = await self.one(sa.select(decisions).where(decisions.c.id == decision_id))
        return None if row is None else decision_of(row)

    async def between(self, start: float, end: float, limit: int | None = None) -> list[Decision]:
        query = (
            sa.select(decisions)
            .where(decisions.c.decided_at >= start, decisions.c.decided_at < end)
            .order_by(decisions.c.decided_at)
        )
        if limit is not None:
            query = query.limit(limit)
        return [decision_of(r) for r in await self.rows(query)]

    async def pending_effects(self) -> list[Decision]:
        query = sa.select(decisions).where(decisions.c.effects_done_at.is_(None)).order_by(decisions.c.decided_at)
        return [decision_of(r) for r in await self.rows(query)]

    async def effects_done(self, decision_id: str, now: float) -> None:
        await self.execute(decisions.update().where(decisions.c.id == decision_id).values(effects_done_at=now))

    async def add(self, d: Decision) -> None:
        await self.execute(decisions.insert().values(**decision_row(d)))

    async def set_state(self, d: Decision) -> None:
        await self.execute(decisions.update().where(decisions.c.id == d.id).values(state=d.state.value))


class StatementRepo(Sql):
    async def get(self, statement_id: str) -> Statement | None:
        row = await self.one(sa.select(statements).where(statements.c.id == statement_id))
        return None if row is None else statement_of(row)

    async def of_decision(self, decision_id: str) -> list[Statement]:
        query = sa.select(statements).where(statements.c.decision_id == decision_id).order_by(statements.c.id)
        return [statement_of(r) for r in await self.rows(query)]

    async def between(self, start: float, end: float) -> list[Statement]:
        query = (
            sa.select(statements)
            .where(statements.c.created_at >= start, statements.c.created_at < end)
            .order_by(statements.c.created_at, statements.c.id)
        )
        return [statement_of(r) for r in await self.rows(query)]

    async def pending(self, limit: int) -> list[Statement]:
        query = (
            sa.select(statements)
            .where(statements.c.tdb_state == "pending")
            .order_by(statements.c.created_at, statements.c.id)
            .limit(limit)
        )
        return [statement_of(r) for r in await self.rows(query)]

    async def record_submission(self, decision_id: str, state: str, uuid: str | None, error: str, now: float) -> None:
        """The outcome of a submission, for every statement of the decision (one puid per decision)."""
        await self.execute(
            statements.update()
            .where(statements.c.decision_id == decision_id, statements.c.tdb_state == "pending")
            .values(
                tdb_state=state,
                tdb_uuid=uuid,
                tdb_last_error=error or None,
                tdb_attempts=statements.c.tdb_attempts + 1,
                tdb_submitted_at=now,
            )
        )

    async def add(self, s: Statement) -> None:
        await self.execute(
            statements.insert().values(
                id=s.id,
                decision_id=s.decision_id,
                recipient_account_id=s.recipient_account_id,
                created_at=s.created_at,
                body=s.body,
                window_ends_at=s.window_ends_at,
                tdb_payload=s.tdb_payload,
                tdb_state=s.tdb_state,
            )
        )
