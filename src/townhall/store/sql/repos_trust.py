"""Repository of trust and safety: rows of tables_trust.py to domain objects and back, and a unit of
work that writes a decision, its statements, inbox entries and audit entries in one transaction.
No rules here; the audit chain's format is in domain/audit.py.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from townhall.domain import audit
from townhall.domain.appeals import Appeal, AppealOutcome, AppealState, AppellantRole
from townhall.domain.errors import Conflict
from townhall.domain.misuse import Measure, MisuseAction
from townhall.domain.moderation import ActionKind, Automation, Basis, Decision, DecisionState, Ground, Proposal
from townhall.domain.notices import Notice, NoticeItem, NoticeState, SourceKind, TargetKind
from townhall.store.sql.tables_trust import (
    account_history,
    appeals,
    audit_head,
    audit_log,
    decisions,
    disputes,
    inbox,
    measures,
    notices,
    orders,
    referrals,
    restrictions,
    statements,
    strikes,
)

Row = Mapping[str, Any]


# --- conversions ----------------------------------------------------------------------------------
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


def proposal_json(p: Proposal) -> dict[str, Any]:
    out = asdict(p)
    out.update(
        action=p.action.value,
        target_kind=p.target_kind.value,
        ground=p.ground.value if p.ground else None,
        automated_decision=p.automated_decision.value,
        keywords=list(p.keywords),
        countries=list(p.countries),
    )
    return out


def proposal_of(d: Mapping[str, Any]) -> Proposal:
    return Proposal(
        **{
            **d,
            "action": ActionKind(d["action"]),
            "target_kind": TargetKind(d["target_kind"]),
            "ground": Ground(d["ground"]) if d["ground"] else None,
            "automated_decision": Automation(d["automated_decision"]),
            "keywords": tuple(d["keywords"]),
            "countries": tuple(d["countries"]),
        }
    )


def decision_row(d: Decision) -> dict[str, Any]:
    return {
        "id": d.id,
        "puid": d.puid,
        "basis": d.basis.value,
        "action": d.action.value,
        "target_kind": d.proposal.target_kind.value,
        "target_id": d.proposal.target_id,
        "affected_account_id": d.affected_account_id,
        "proposal": proposal_json(d.proposal),
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
        proposal=proposal_of(r["proposal"]),
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


# --- writing --------------------------------------------------------------------------------------
class Writer:
    """One transaction. `audit` comes first in every unit so appends are serialised by the head row."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def audit(
        self,
        at: float,
        actor: tuple[str, str],
        action: str,
        obj: tuple[str, str],
        payload: Mapping[str, object],
    ) -> audit.AuditEntry:
        # Writing the head first takes the write lock (SQLite) or the row lock (PostgreSQL).
        await self.conn.execute(audit_head.update().where(audit_head.c.id == 1).values(seq=audit_head.c.seq + 1))
        head = (await self.conn.execute(sa.select(audit_head).where(audit_head.c.id == 1))).mappings().one()
        seq = int(head["seq"])
        prev = (await self.conn.execute(sa.select(audit_log.c.hash).where(audit_log.c.seq == seq - 1))).scalar()
        entry = audit.seal(prev or audit.GENESIS, seq, at, actor[0], actor[1], action, obj[0], obj[1], payload)
        await self.conn.execute(
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
        await self.conn.execute(audit_head.update().where(audit_head.c.id == 1).values(hash=entry.hash))
        return entry

    async def insert(self, table: sa.Table, **values: Any) -> None:
        await self.conn.execute(table.insert().values(**values))

    async def update(self, table: sa.Table, key: str, **values: Any) -> None:
        await self.conn.execute(table.update().where(table.c.id == key).values(**values))

    async def notice(self, n: Notice) -> None:
        await self.insert(notices, **notice_row(n))

    async def notice_decided(self, n: Notice) -> None:
        """Only a queued notice can be decided: a second moderator deciding at the same time loses."""
        result = await self.conn.execute(
            notices.update()
            .where(notices.c.id == n.id, notices.c.state == NoticeState.QUEUED.value)
            .values(
                state=n.state.value,
                decided_at=n.decided_at,
                decision_id=n.decision_id,
                manifestly_unfounded=n.manifestly_unfounded,
            )
        )
        if result.rowcount != 1:
            raise Conflict("notice_not_queued", f"notice {n.id} was decided meanwhile")

    async def decision(self, d: Decision) -> None:
        await self.insert(decisions, **decision_row(d))

    async def decision_state(self, d: Decision) -> None:
        await self.update(decisions, d.id, state=d.state.value)

    async def appeal(self, a: Appeal, new: bool = False) -> None:
        if new:
            await self.insert(appeals, **appeal_row(a))
            return
        result = await self.conn.execute(
            appeals.update()
            .where(appeals.c.id == a.id, appeals.c.state == AppealState.OPEN.value)
            .values(**appeal_row(a))
        )
        if result.rowcount != 1:
            raise Conflict("appeal_decided", "this appeal was decided meanwhile")

    async def lift_restrictions(self, decision_id: str, now: float, by: str) -> None:
        await self.conn.execute(
            restrictions.update()
            .where(restrictions.c.decision_id == decision_id, restrictions.c.lifted_at.is_(None))
            .values(lifted_at=now, lifted_by=by)
        )


# --- the repository -------------------------------------------------------------------------------
class TrustRepo:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @contextlib.asynccontextmanager
    async def unit(self) -> AsyncIterator[Writer]:
        async with self.engine.begin() as conn:
            yield Writer(conn)

    async def _rows(self, query: sa.Select[Any]) -> list[Row]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [{str(k): v for k, v in r.items()} for r in rows]  # plain str keys for JSON encoders

    async def _one(self, query: sa.Select[Any]) -> Row | None:
        found = await self._rows(query.limit(1))
        return found[0] if found else None

    async def notice(self, notice_id: str) -> Notice | None:
        row = await self._one(sa.select(notices).where(notices.c.id == notice_id))
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
        return [notice_of(r) for r in await self._rows(query)]

    async def notices_between(self, start: float, end: float) -> list[Notice]:
        query = sa.select(notices).where(notices.c.received_at >= start, notices.c.received_at < end)
        return [notice_of(r) for r in await self._rows(query)]

    async def notices_by_reporter(self, reporter_key: str, since: float) -> list[Notice]:
        query = sa.select(notices).where(notices.c.reporter_key == reporter_key, notices.c.received_at > since)
        return [notice_of(r) for r in await self._rows(query)]

    async def decision(self, decision_id: str) -> Decision | None:
        row = await self._one(sa.select(decisions).where(decisions.c.id == decision_id))
        return None if row is None else decision_of(row)

    async def decisions_between(self, start: float, end: float, limit: int | None = None) -> list[Decision]:
        query = (
            sa.select(decisions)
            .where(decisions.c.decided_at >= start, decisions.c.decided_at < end)
            .order_by(decisions.c.decided_at)
        )
        if limit is not None:
            query = query.limit(limit)
        return [decision_of(r) for r in await self._rows(query)]

    async def decisions_pending_effects(self) -> list[Decision]:
        query = sa.select(decisions).where(decisions.c.effects_done_at.is_(None)).order_by(decisions.c.decided_at)
        return [decision_of(r) for r in await self._rows(query)]

    async def effects_done(self, decision_id: str, now: float) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(decisions.update().where(decisions.c.id == decision_id).values(effects_done_at=now))

    async def active_restrictions(self, action: ActionKind, now: float) -> list[Row]:
        query = sa.select(restrictions).where(
            restrictions.c.action == action.value,
            restrictions.c.lifted_at.is_(None),
            sa.or_(restrictions.c.ends_at.is_(None), restrictions.c.ends_at > now),
        )
        return await self._rows(query)

    async def restrictions_of(self, target_id: str) -> list[Row]:
        return await self._rows(sa.select(restrictions).where(restrictions.c.target_id == target_id))

    async def restrictions_between(self, start: float, end: float) -> list[Row]:
        query = sa.select(restrictions).where(restrictions.c.starts_at >= start, restrictions.c.starts_at < end)
        return await self._rows(query)

    async def statement(self, statement_id: str) -> Row | None:
        return await self._one(sa.select(statements).where(statements.c.id == statement_id))

    async def statements_of_decision(self, decision_id: str) -> list[Row]:
        return await self._rows(sa.select(statements).where(statements.c.decision_id == decision_id))

    async def statements_between(self, start: float, end: float) -> list[Row]:
        query = (
            sa.select(statements)
            .where(statements.c.created_at >= start, statements.c.created_at < end)
            .order_by(statements.c.created_at, statements.c.id)
        )
        return await self._rows(query)

    async def pending_statements(self, limit: int) -> list[Row]:
        query = (
            sa.select(statements)
            .where(statements.c.tdb_state == "pending")
            .order_by(statements.c.created_at, statements.c.id)
            .limit(limit)
        )
        return await self._rows(query)

    async def record_tdb(self, decision_id: str, state: str, uuid: str | None, error: str, now: float) -> None:
        """The outcome of a submission, for every statement of the decision (one puid per decision)."""
        async with self.engine.begin() as conn:
            await conn.execute(
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

    async def inbox(self, account_id: str, limit: int) -> list[Row]:
        query = (
            sa.select(inbox)
            .where(inbox.c.account_id == account_id)
            .order_by(inbox.c.created_at.desc(), inbox.c.id)
            .limit(limit)
        )
        return await self._rows(query)

    async def appeal(self, appeal_id: str) -> Appeal | None:
        row = await self._one(sa.select(appeals).where(appeals.c.id == appeal_id))
        return None if row is None else appeal_of(row)

    async def appeals(self, state: AppealState | None, limit: int, decision_id: str | None = None) -> list[Appeal]:
        query = sa.select(appeals)
        if state is not None:
            query = query.where(appeals.c.state == state.value)
        if decision_id is not None:
            query = query.where(appeals.c.decision_id == decision_id)
        return [appeal_of(r) for r in await self._rows(query.order_by(appeals.c.lodged_at).limit(limit))]

    async def appeals_by(self, appellant_id: str, since: float) -> list[Appeal]:
        query = sa.select(appeals).where(appeals.c.appellant_id == appellant_id, appeals.c.lodged_at > since)
        return [appeal_of(r) for r in await self._rows(query)]

    async def appeals_between(self, start: float, end: float) -> list[Appeal]:
        query = sa.select(appeals).where(appeals.c.lodged_at >= start, appeals.c.lodged_at < end)
        return [appeal_of(r) for r in await self._rows(query)]

    async def history(self, account_id: str) -> list[Row]:
        query = (
            sa.select(account_history).where(account_history.c.account_id == account_id).order_by(account_history.c.seq)
        )
        return await self._rows(query)

    async def order(self, order_id: str) -> Row | None:
        return await self._one(sa.select(orders).where(orders.c.id == order_id))

    async def orders(self, limit: int) -> list[Row]:
        return await self._rows(sa.select(orders).order_by(orders.c.received_at.desc()).limit(limit))

    async def orders_between(self, start: float, end: float) -> list[Row]:
        query = sa.select(orders).where(orders.c.received_at >= start, orders.c.received_at < end)
        return await self._rows(query)

    async def dispute(self, dispute_id: str) -> Row | None:
        return await self._one(sa.select(disputes).where(disputes.c.id == dispute_id))

    async def disputes(self, limit: int) -> list[Row]:
        return await self._rows(sa.select(disputes).order_by(disputes.c.opened_at.desc()).limit(limit))

    async def disputes_between(self, start: float, end: float) -> list[Row]:
        return await self._rows(sa.select(disputes).where(disputes.c.opened_at >= start, disputes.c.opened_at < end))

    async def referrals(self, limit: int) -> list[Row]:
        return await self._rows(sa.select(referrals).order_by(referrals.c.sent_at.desc()).limit(limit))

    async def referrals_between(self, start: float, end: float) -> list[Row]:
        return await self._rows(sa.select(referrals).where(referrals.c.sent_at >= start, referrals.c.sent_at < end))

    async def strike_times(self, subject_id: str, kind: str, since: float) -> list[float]:
        query = sa.select(strikes.c.created_at).where(
            strikes.c.subject_id == subject_id, strikes.c.kind == kind, strikes.c.created_at > since
        )
        return [r["created_at"] for r in await self._rows(query)]

    async def measures(self, subject_id: str, kind: str) -> list[Measure]:
        query = sa.select(measures).where(measures.c.subject_id == subject_id, measures.c.kind == kind)
        return [Measure(MisuseAction(r["action"]), r["at"], r["until"]) for r in await self._rows(query)]

    async def measures_between(self, start: float, end: float) -> list[Row]:
        return await self._rows(sa.select(measures).where(measures.c.at >= start, measures.c.at < end))

    async def audit_entries(self, after_seq: int = 0, limit: int | None = None) -> list[audit.AuditEntry]:
        query = sa.select(audit_log).where(audit_log.c.seq > after_seq).order_by(audit_log.c.seq)
        if limit is not None:
            query = query.limit(limit)
        return [audit_of(r) for r in await self._rows(query)]

    async def audit_head(self) -> tuple[int, str]:
        row = await self._one(sa.select(audit_head).where(audit_head.c.id == 1))
        return (0, audit.GENESIS) if row is None else (int(row["seq"]), row["hash"])

    async def audit_between(self, start: float, end: float) -> list[audit.AuditEntry]:
        query = sa.select(audit_log).where(audit_log.c.at >= start, audit_log.c.at < end).order_by(audit_log.c.seq)
        return [audit_of(r) for r in await self._rows(query)]
