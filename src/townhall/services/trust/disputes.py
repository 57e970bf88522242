"""Out-of-court dispute settlement (DSA Art. 21) and referrals of suspected crimes to law enforcement
(Art. 18): recorded by staff with their outcomes; a body's decision for the recipient, once implemented,
reverses the decision like a successful appeal. Never reverses a decision already reversed.
"""

from __future__ import annotations

from dataclasses import dataclass

from townhall.domain import moderation as decisions
from townhall.domain.accounts import Account, PlatformRole
from townhall.domain.errors import Conflict, Invalid, NotFound
from townhall.domain.moderation import COUNTRY, Basis, Decision, DecisionState
from townhall.services.trust.decisions import ModerationService, Outcome
from townhall.services.trust.ports import Dispute, DisputeOutcome, Referral, TrustUnit
from townhall.services.trust.staff import require

OUTCOMES = ("for_recipient", "for_provider", "settled", "withdrawn")
TEXT_MAX = 300


@dataclass(frozen=True, slots=True)
class ReferralDraft:
    member_states: tuple[str, ...]
    authority: str
    channel: str
    summary: str
    notice_id: str | None = None
    decision_id: str | None = None


def _text(value: str, name: str, limit: int = TEXT_MAX) -> str:
    cleaned = value.strip()
    if not cleaned or len(cleaned) > limit:
        raise Invalid(f"invalid_{name}", f"{name.replace('_', ' ')} is required, at most {limit} characters")
    return cleaned


class DisputeService:
    def __init__(self, moderation: ModerationService) -> None:
        self.moderation = moderation
        self.stores = moderation.stores
        self.ctx = moderation.ctx

    async def open(
        self, admin: Account, decision_id: str, body_name: str, certification: str, appeal_id: str | None
    ) -> Dispute:
        require(admin, PlatformRole.ADMIN)
        decision = await self.moderation.decision(decision_id)
        now = self.ctx.clock()
        dispute_id = self.ctx.make_id()
        async with self.stores.units.begin() as w:
            await w.audit(
                now, ("admin", admin.id), "dispute.opened", ("dispute", dispute_id), {"decision": decision.id}
            )
            dispute = Dispute(
                id=dispute_id,
                decision_id=decision.id,
                appeal_id=appeal_id,
                body_name=_text(body_name, "body_name"),
                body_certification_ref=_text(certification, "body_certification_ref"),
                opened_at=now,
                note="",
                recorded_by=admin.id,
            )
            await w.open_dispute(dispute)
        return await self.get(admin, dispute_id)

    async def get(self, admin: Account, dispute_id: str) -> Dispute:
        require(admin, PlatformRole.ADMIN)
        found = await self.stores.disputes.get(dispute_id)
        if found is None:
            raise NotFound("dispute_not_found", "no such dispute")
        return found

    async def recent(self, admin: Account, limit: int) -> list[Dispute]:
        require(admin, PlatformRole.ADMIN)
        return await self.stores.disputes.recent(limit)

    async def close(
        self, admin: Account, dispute_id: str, outcome: str, implemented: bool, note: str
    ) -> tuple[Dispute, Outcome | None]:
        """Record the body's outcome; implementing one for the recipient reverses the decision."""
        dispute = await self.get(admin, dispute_id)
        if dispute.closed_at is not None:
            raise Conflict("dispute_closed", "this dispute is already closed")
        if outcome not in OUTCOMES:
            raise Invalid("invalid_outcome", f"outcome must be one of {', '.join(OUTCOMES)}")
        decision = await self.moderation.decision(dispute.decision_id)
        now = self.ctx.clock()

        async def closing(w: TrustUnit, new: Decision | None) -> None:
            payload = {"outcome": outcome, "implemented": implemented, "new_decision": new.id if new else None}
            await w.audit(now, ("admin", admin.id), "dispute.closed", ("dispute", dispute_id), payload)
            done = DisputeOutcome(now, outcome, implemented, note.strip()[:5000], new.id if new else None)
            await w.close_dispute(dispute_id, done)
            if new is not None:
                await self.moderation.undo(w, decision, new, now, dispute.appeal_id)

        reverses = outcome == "for_recipient" and implemented and decision.restricts
        if not reverses or decision.state is DecisionState.SUPERSEDED:
            async with self.stores.units.begin() as w:
                await closing(w, None)
            return await self.get(admin, dispute_id), None
        reversal = decisions.reversal(
            decision, "", admin.id, dispute.appeal_id, f"{dispute.body_name}: {note}", now, Basis.DISPUTE_OUTCOME
        )
        done = await self.moderation.record(
            admin.id,
            reversal.proposal,
            Basis.DISPUTE_OUTCOME,
            extra=closing,
            supersedes=(dispute.appeal_id, decision.id),
        )
        return await self.get(admin, dispute_id), done

    async def refer(self, moderator: Account, referral: ReferralDraft) -> Referral:
        """Art. 18: record that a suspected crime threatening life or safety was reported to the police."""
        require(moderator, PlatformRole.MODERATOR)
        states = tuple(sorted({c.strip().upper() for c in referral.member_states}))
        if not states or not all(COUNTRY.match(c) for c in states):
            raise Invalid("invalid_member_states", "name the Member States concerned as ISO codes, e.g. DE")
        if referral.notice_id is None and referral.decision_id is None:
            raise Invalid("referral_without_subject", "name the notice or the decision the referral is about")
        now = self.ctx.clock()
        referral_id = self.ctx.make_id()
        async with self.stores.units.begin() as w:
            payload = {"member_states": list(states), "notice": referral.notice_id, "decision": referral.decision_id}
            await w.audit(now, ("moderator", moderator.id), "referral.sent", ("referral", referral_id), payload)
            recorded = Referral(
                id=referral_id,
                notice_id=referral.notice_id,
                decision_id=referral.decision_id,
                member_states=states,
                authority=_text(referral.authority, "authority"),
                channel=_text(referral.channel, "channel", 100),
                summary=_text(referral.summary, "summary", 5000),
                sent_at=now,
                recorded_by=moderator.id,
            )
            await w.refer(recorded)
        return recorded

    async def referrals(self, moderator: Account, limit: int) -> list[Referral]:
        require(moderator, PlatformRole.MODERATOR)
        return await self.stores.referrals.recent(limit)
