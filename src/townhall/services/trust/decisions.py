"""Decisions (DSA Art. 17): a moderator's, an order's, an appeal's or the misuse rules' decision is
checked, then recorded with everything it implies (restriction, statement of reasons, inbox messages,
account history, strikes, audit entry) in one transaction before anything is acknowledged; then its
effects are applied (effects.py).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from townhall.domain import appeals as appeal_rules
from townhall.domain import misuse as misuse_rules
from townhall.domain import moderation as decision_rules
from townhall.domain import notices as notice_rules
from townhall.domain.accounts import Account, AccountStatus, PlatformRole
from townhall.domain.errors import Conflict, NotFound
from townhall.domain.moderation import ActionKind, Automation, Basis, Decision, Ground, Proposal, check_proposal
from townhall.domain.notices import Notice, NoticeState, SourceKind
from townhall.services.accounts import AccountService
from townhall.services.context import Context
from townhall.services.spaces import SpaceService
from townhall.services.trust.effects import Effects
from townhall.services.trust.ports import (
    HistoryEntry,
    InboxEntry,
    Restriction,
    Statement,
    Strike,
    TrustStores,
    TrustUnit,
)
from townhall.services.trust.staff import require
from townhall.services.trust.targets import Targets
from townhall.services.trust.withholding import LEGAL_DEMAND, LOCAL_LAW
from townhall.trust import reasons

SYSTEM = ("system", "misuse_policy")
Extra = Callable[[TrustUnit, Decision], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Outcome:
    decision: Decision
    statement_id: str | None


class ModerationService:
    def __init__(
        self,
        ctx: Context,
        stores: TrustStores,
        accounts: AccountService,
        spaces: SpaceService,
        targets: Targets,
        effects: Effects,
    ) -> None:
        self.ctx = ctx
        self.stores = stores
        self.accounts = accounts
        self.spaces = spaces
        self.targets = targets
        self.effects = effects

    async def decision(self, decision_id: str) -> Decision:
        found = await self.stores.decisions.get(decision_id)
        if found is None:
            raise NotFound("decision_not_found", "no such decision")
        return found

    async def decide(self, moderator: Account, proposal: Proposal, notice_ids: list[str]) -> Outcome:
        require(moderator, PlatformRole.MODERATOR)
        basis = Basis.NOTICE if notice_ids else Basis.OWN_INITIATIVE
        return await self.record(moderator.id, proposal, basis, notice_ids)

    async def record(
        self,
        decided_by: str,
        proposal: Proposal,
        basis: Basis,
        notice_ids: list[str] | None = None,
        order_id: str | None = None,
        extra: Extra | None = None,
        supersedes: tuple[str | None, str] | None = None,
    ) -> Outcome:
        """Check, record (decision, restriction, statement, inbox, history, strikes, audit) in one
        transaction, then apply the effects. `extra(unit, decision)` adds to the same transaction;
        `supersedes` is (appeal id or None, decision id) for a reversal."""
        now = self.ctx.clock()
        target = await self.targets.resolve(proposal.target_kind, proposal.target_id)
        proposal = check_proposal(
            replace(proposal, target_kind=target.kind, target_id=target.target_id),
            now,
            reasons.CATEGORIES,
            reasons.KEYWORDS,
        )
        notices = [await self._queued(n) for n in dict.fromkeys(notice_ids or [])]
        affected = None if proposal.action is ActionKind.NO_ACTION else target.affected_account_id
        if supersedes is not None:  # a reversal informs whoever the reversed decision affected
            original = await self.stores.decisions.get(supersedes[1])
            affected = original.affected_account_id if original else affected
        elif proposal.action in (ActionKind.REMOVE_SPEAKER, ActionKind.MUTE_SPEAKER):
            member = await self.spaces.role_of(target.target_id, proposal.speaker_id or "")
            if member is None:
                raise NotFound("member_not_found", "that speaker is not in this space")
            affected = member.account_id
        decision = Decision(
            id=self.ctx.make_id(),
            basis=basis,
            proposal=proposal,
            affected_account_id=affected,
            decided_by=decided_by,
            decided_at=now,
            content_created_at=target.content_created_at,
            notice_ids=tuple(n.id for n in notices),
            source_trusted_flagger=any(n.source_kind is SourceKind.TRUSTED_FLAGGER for n in notices),
            source_illegal_claim=any(n.is_illegal_content_claim for n in notices) or not notices,
            order_id=order_id,
            appeal_id=supersedes[0] if supersedes else None,
            supersedes_id=supersedes[1] if supersedes else None,
        )
        statement_id: str | None = None
        async with self.stores.units.begin() as w:
            actor = SYSTEM if basis is Basis.MISUSE else ("moderator", decided_by)
            await w.audit(now, actor, "decision.made", ("decision", decision.id), _audit_facts(decision))
            await w.record_decision(decision)
            statement_id = await self._restrict_and_inform(w, decision, now)
            for n in notices:
                await self._notice_decided(w, n, decision, now)
            if extra is not None:
                await extra(w, decision)
        await self.effects.apply(decision)
        await self.effects.announce(decision, notices, now)
        return Outcome(decision, statement_id)

    async def _queued(self, notice_id: str) -> Notice:
        found = await self.stores.notices.get(notice_id)
        if found is None:
            raise NotFound("notice_not_found", f"no notice {notice_id}")
        if found.state is not NoticeState.QUEUED:
            raise Conflict("notice_not_queued", f"notice {notice_id} is {found.state.value}")
        return found

    async def _restrict_and_inform(self, w: TrustUnit, d: Decision, now: float) -> str | None:
        p = d.proposal
        if d.restricts:
            reason = LEGAL_DEMAND if d.basis in (Basis.ART9_ORDER, Basis.AUTHORITY_OTHER) else LOCAL_LAW
            restriction = Restriction(
                id=self.ctx.make_id(),
                decision_id=d.id,
                action=p.action.value,
                target_kind=p.target_kind.value,
                target_id=p.target_id,
                countries=p.countries,
                label=reason if p.action is ActionKind.WITHHOLD else (p.label or None),
                starts_at=now,
                ends_at=p.until,
            )
            await w.restrict(restriction)
        if p.action is ActionKind.SUSPEND_ACCOUNT and d.affected_account_id:
            before = await self.accounts.get(d.affected_account_id)
            status = AccountStatus.SUSPENDED if before.suspended(now) else AccountStatus.ACTIVE
            await self.history_event(w, d.affected_account_id, status, AccountStatus.SUSPENDED, d, now)
        if d.affected_account_id is None or d.action is ActionKind.NO_ACTION:
            return None
        return await self._statement(w, d, d.affected_account_id, now)

    async def _statement(self, w: TrustUnit, d: Decision, recipient: str, now: float) -> str:
        months = self.ctx.settings.appeal_window_months
        window = appeal_rules.window_ends(d.decided_at, months)
        payload = reasons.to_tdb(d, self.ctx.settings.dsa_terms_url)
        statement = Statement(
            id=self.ctx.make_id(),
            decision_id=d.id,
            recipient_account_id=recipient,
            created_at=now,
            body=reasons.body(d, window, months),
            window_ends_at=window,
            tdb_payload=json.dumps(payload) if payload else None,
            tdb_state="pending" if payload else "not_applicable",
        )
        await w.issue_statement(statement)
        await self.inform(
            w,
            recipient,
            "statement_of_reasons",
            statement.id,
            {"decision_id": d.id, "action": d.action.value, "text": statement.body, "appeal_until": window},
            now,
        )
        return statement.id

    async def inform(
        self, w: TrustUnit, account_id: str, kind: str, ref: str, body: dict[str, Any], now: float
    ) -> None:
        await w.inform(InboxEntry(self.ctx.make_id(), account_id, now, kind, ref, body))

    async def history_event(
        self,
        w: TrustUnit,
        account_id: str,
        before: AccountStatus,
        after: AccountStatus,
        d: Decision,
        now: float,
        appeal_id: str | None = None,
    ) -> None:
        p = d.proposal
        why = p.legal_explanation if p.ground is Ground.ILLEGAL else p.tos_explanation
        if d.action is ActionKind.REVERSAL:  # the reversal's own reasons, not those of what it reversed
            why = p.facts
        entry = HistoryEntry(
            account_id=account_id,
            from_status=before.value,
            to_status=after.value,
            until=p.until if after is AccountStatus.SUSPENDED else None,
            reason_code=d.basis.value,
            public_reason=why.strip() or p.facts,
            decision_id=d.id,
            appeal_id=appeal_id,
            actor_kind="system" if d.basis is Basis.MISUSE else "moderator",
            actor_id=d.decided_by,
            effective_at=now,
            internal_note=p.facts,
        )
        await w.add_history(entry)

    async def undo(self, w: TrustUnit, original: Decision, new: Decision, now: float, appeal_id: str | None) -> None:
        """In the reversal's transaction: supersede the original, lift its restrictions, and write the
        reinstatement into the account's history (the account itself is reinstated by the effects)."""
        await w.decision_state(decision_rules.reversed_by(original))
        await w.lift_restrictions(original.id, now, new.id)
        if original.action is ActionKind.SUSPEND_ACCOUNT and original.affected_account_id:
            await self.history_event(
                w, original.affected_account_id, AccountStatus.SUSPENDED, AccountStatus.ACTIVE, new, now, appeal_id
            )

    async def _notice_decided(self, w: TrustUnit, n: Notice, d: Decision, now: float) -> None:
        unfounded = d.action is ActionKind.NO_ACTION and d.proposal.manifestly
        await w.notice_decided(notice_rules.decide(n, d.id, now, unfounded))
        if unfounded:
            kind = misuse_rules.StrikeKind.MANIFESTLY_UNFOUNDED_NOTICE
            await self.strike(w, "notifier", n.reporter_key, kind, n.id, now)
        if n.notifier_account_id:  # Art. 16(5): the notifier learns the outcome and how to appeal
            window = appeal_rules.window_ends(d.decided_at, self.ctx.settings.appeal_window_months)
            await self.inform(
                w,
                n.notifier_account_id,
                "notice_decided",
                n.id,
                {
                    "decision_id": d.id,
                    "action": d.action.value,
                    "appeal_until": window,
                    "automated": d.proposal.automated_decision is not Automation.NOT,  # Art. 16(6)
                    "redress": reasons.redress(window, self.ctx.settings.appeal_window_months),
                },
                now,
            )

    async def strike(self, w: TrustUnit, subject_kind: str, subject: str, kind: str, source: str, now: float) -> None:
        await w.strike(Strike(self.ctx.make_id(), subject_kind, subject, kind, source, now))


def _audit_facts(d: Decision) -> dict[str, object]:
    p = d.proposal
    return {
        "action": p.action.value,
        "basis": d.basis.value,
        "target": [p.target_kind.value, p.target_id],
        "affected": d.affected_account_id,
        "ground": p.ground.value if p.ground else None,
        "category": p.category,
        "countries": list(p.countries),
        "until": p.until,
        "notices": list(d.notice_ids),
        "order": d.order_id,
        "appeal": d.appeal_id,
        "supersedes": d.supersedes_id,
    }
