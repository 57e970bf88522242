"""Out-of-court disputes (Art. 21) and referrals to law enforcement (Art. 18)."""

from __future__ import annotations

import sqlalchemy as sa

from townhall.services.trust.ports import Dispute, DisputeOutcome, Referral
from townhall.store.sql.tables_trust import disputes, referrals
from townhall.store.sql.trust.base import Row, Sql


def dispute_of(r: Row) -> Dispute:
    return Dispute(
        id=r["id"],
        decision_id=r["decision_id"],
        appeal_id=r["appeal_id"],
        body_name=r["body_name"],
        body_certification_ref=r["body_certification_ref"],
        opened_at=r["opened_at"],
        note=r["note"],
        recorded_by=r["recorded_by"],
        closed_at=r["closed_at"],
        outcome=r["outcome"],
        implemented=None if r["implemented"] is None else bool(r["implemented"]),
        new_decision_id=r["new_decision_id"],
    )


def referral_of(r: Row) -> Referral:
    return Referral(
        id=r["id"],
        notice_id=r["notice_id"],
        decision_id=r["decision_id"],
        member_states=tuple(r["member_states"]),
        authority=r["authority"],
        channel=r["channel"],
        summary=r["summary"],
        sent_at=r["sent_at"],
        recorded_by=r["recorded_by"],
    )


class DisputeRepo(Sql):
    async def get(self, dispute_id: str) -> Dispute | None:
        row = await self.one(sa.select(disputes).where(disputes.c.id == dispute_id))
        return None if row is None else dispute_of(row)

    async def recent(self, limit: int) -> list[Dispute]:
        query = sa.select(disputes).order_by(disputes.c.opened_at.desc()).limit(limit)
        return [dispute_of(r) for r in await self.rows(query)]

    async def between(self, start: float, end: float) -> list[Dispute]:
        query = sa.select(disputes).where(disputes.c.opened_at >= start, disputes.c.opened_at < end)
        return [dispute_of(r) for r in await self.rows(query)]

    async def add(self, d: Dispute) -> None:
        await self.execute(
            disputes.insert().values(
                id=d.id,
                decision_id=d.decision_id,
                appeal_id=d.appeal_id,
                body_name=d.body_name,
                body_certification_ref=d.body_certification_ref,
                opened_at=d.opened_at,
                closed_at=d.closed_at,
                outcome=d.outcome,
                implemented=d.implemented,
                note=d.note,
                new_decision_id=d.new_decision_id,
                recorded_by=d.recorded_by,
            )
        )

    async def close(self, dispute_id: str, done: DisputeOutcome) -> None:
        await self.execute(
            disputes.update()
            .where(disputes.c.id == dispute_id)
            .values(
                closed_at=done.closed_at,
                outcome=done.outcome,
                implemented=done.implemented,
                note=done.note,
                new_decision_id=done.new_decision_id,
            )
        )


class ReferralRepo(Sql):
    async def recent(self, limit: int) -> list[Referral]:
        query = sa.select(referrals).order_by(referrals.c.sent_at.desc()).limit(limit)
        return [referral_of(r) for r in await self.rows(query)]

    async def between(self, start: float, end: float) -> list[Referral]:
        query = sa.select(referrals).where(referrals.c.sent_at >= start, referrals.c.sent_at < end)
        return [referral_of(r) for r in await self.rows(query)]

    async def add(self, r: Referral) -> None:
        await self.execute(
            referrals.insert().values(
                id=r.id,
                notice_id=r.notice_id,
                decision_id=r.decision_id,
                member_states=list(r.member_states),
                authority=r.authority,
                channel=r.channel,
                summary=r.summary,
                sent_at=r.sent_at,
                recorded_by=r.recorded_by,
            )
        )
