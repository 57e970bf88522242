"""Appeals (DSA Art. 20) and account history: the affected user or the notifier appeals within the
window; a different moderator upholds or reverses with reasons; a reversal lifts the restrictions and
reinstates a suspended account, keeping its history. Never deletes history.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, replace
from typing import Any

from townhall.domain import appeals as rules
from townhall.domain import moderation as decisions
from townhall.domain.accounts import Account, AccountStatus, PlatformRole
from townhall.domain.appeals import Appeal, AppealOutcome, AppealState
from townhall.domain.errors import Conflict, Invalid, NotFound
from townhall.domain.misuse import StrikeKind, suspended_until
from townhall.domain.moderation import Basis, Decision
from townhall.services.trust.decisions import ModerationService, Outcome
from townhall.services.trust.ports import HistoryEntry, TrustUnit
from townhall.services.trust.staff import require

OUT_OF_COURT = (
    "If you disagree, you may refer the dispute to a certified out-of-court dispute settlement body "
    "(Article 21 DSA) or go to court."
)


class AppealService:
    def __init__(self, moderation: ModerationService) -> None:
        self.moderation = moderation
        self.stores = moderation.stores
        self.ctx = moderation.ctx
        self.after_unfounded: list[Callable[[Appeal, float], Awaitable[None]]] = []  # the misuse rules

    async def lodge(self, account: Account, decision_id: str, text: str) -> Appeal:
        decision = await self.moderation.decision(decision_id)
        notifiers = frozenset(
            n.notifier_account_id
            for n in [await self.stores.notices.get(i) for i in decision.notice_ids]
            if n is not None and n.notifier_account_id
        )
        now = self.ctx.clock()
        appeal = rules.lodge(
            self.ctx.make_id(),
            decision,
            account.id,
            notifiers,
            text,
            decision.decided_at,
            self.ctx.settings.appeal_window_months,
            now,
        )
        if any(
            a.appellant_id == account.id for a in await self.stores.appeals.listed(AppealState.OPEN, 100, decision.id)
        ):
            raise Conflict("appeal_open", "you already have an open appeal against this decision")
        kind = StrikeKind.MANIFESTLY_UNFOUNDED_COMPLAINT
        if suspended_until(await self.stores.misuse.measures(account.id, kind), now) is not None:
            appeal = replace(appeal, state=AppealState.NOT_PROCESSED)  # recorded and counted, not reviewed
        async with self.stores.units.begin() as w:
            payload = {"decision": decision.id, "state": appeal.state.value}
            await w.audit(now, ("account", account.id), "appeal.lodged", ("appeal", appeal.id), payload)
            await w.lodge_appeal(appeal)
            if appeal.state is AppealState.OPEN:
                await w.decision_state(decisions.under_appeal(decision))
        return appeal

    async def open_appeals(self, moderator: Account, limit: int) -> list[Appeal]:
        require(moderator, PlatformRole.MODERATOR)
        return await self.stores.appeals.listed(AppealState.OPEN, limit)

    async def decide(
        self, reviewer: Account, appeal_id: str, outcome: AppealOutcome, reasons: str, unfounded: bool = False
    ) -> tuple[Appeal, Outcome | None]:
        """Uphold or reverse; `unfounded` marks an upheld complaint as manifestly unfounded (Art. 23(2))."""
        require(reviewer, PlatformRole.MODERATOR)
        appeal = await self.stores.appeals.get(appeal_id)
        if appeal is None:
            raise NotFound("appeal_not_found", "no such appeal")
        decision = await self.moderation.decision(appeal.decision_id)
        now = self.ctx.clock()
        decided = rules.decide(appeal, decision, reviewer.id, outcome, reasons, now)
        if unfounded and outcome is not AppealOutcome.UPHELD:
            raise Invalid("unfounded_needs_upheld", "only an upheld complaint can be manifestly unfounded")
        if outcome is AppealOutcome.UPHELD:
            async with self.stores.units.begin() as w:
                await self._close(w, decided, decision, reviewer, now)
                await w.decision_state(decisions.upheld(decision))
                if unfounded:
                    kind = StrikeKind.MANIFESTLY_UNFOUNDED_COMPLAINT
                    await self.moderation.strike(w, "complainant", appeal.appellant_id, kind, appeal.id, now)
            if unfounded:
                for hook in self.after_unfounded:
                    await hook(decided, now)
            return decided, None
        reversal = decisions.reversal(decision, self.ctx.make_id(), reviewer.id, appeal.id, decided.reasons, now)

        async def supersede(w: TrustUnit, new: Decision) -> None:
            await self._close(w, replace(decided, new_decision_id=new.id), decision, reviewer, now)
            await self.moderation.undo(w, decision, new, now, appeal.id)

        done = await self.moderation.record(
            reviewer.id, reversal.proposal, Basis.APPEAL_REVERSAL, extra=supersede, supersedes=(appeal.id, decision.id)
        )
        return replace(decided, new_decision_id=done.decision.id), done

    async def _close(self, w: TrustUnit, appeal: Appeal, decision: Decision, reviewer: Account, now: float) -> None:
        await w.audit(
            now,
            ("moderator", reviewer.id),
            f"appeal.{appeal.outcome.value if appeal.outcome else 'decided'}",
            ("appeal", appeal.id),
            {"decision": decision.id, "new_decision": appeal.new_decision_id},
        )
        await w.appeal_decided(appeal)
        body = {
            "decision_id": decision.id,
            "outcome": appeal.outcome.value if appeal.outcome else None,
            "reasons": appeal.reasons,
            "redress": OUT_OF_COURT,
        }
        await self.moderation.inform(w, appeal.appellant_id, "appeal_decided", appeal.id, body, now)

    async def history(self, viewer: Account, account_id: str) -> list[dict[str, Any]]:
        """The account's status history: the holder sees it, moderators see it with internal notes."""
        internal = viewer.has_role(PlatformRole.MODERATOR)
        if viewer.id != account_id:
            require(viewer, PlatformRole.MODERATOR)
        entries = with_expiry(await self.stores.history.of_account(account_id), self.ctx.clock())
        return [{k: v for k, v in asdict(e).items() if internal or k != "internal_note"} for e in entries]


def with_expiry(entries: list[HistoryEntry], now: float) -> list[HistoryEntry]:
    """A suspension for a period ends by itself; show that end as a step of the history (derived, not
    stored: nothing runs at the moment it ends)."""
    if not entries:
        return entries
    last = entries[-1]
    if last.to_status != AccountStatus.SUSPENDED.value or last.until is None or last.until > now:
        return entries
    ended = HistoryEntry(
        account_id=last.account_id,
        from_status=AccountStatus.SUSPENDED.value,
        to_status=AccountStatus.ACTIVE.value,
        until=None,
        reason_code="suspension_period_ended",
        public_reason="The suspension period ended.",
        decision_id=last.decision_id,
        appeal_id=None,
        actor_kind="system_expiry",
        actor_id="system",
        effective_at=last.until,
        internal_note="",
    )
    return [*entries, ended]
