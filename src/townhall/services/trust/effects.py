"""What a recorded decision does to the platform, after its transaction committed: a space ended, a
speaker removed or muted, an account suspended or reinstated, the withholding view refreshed, listeners
told; then the subscribers of `after` (the misuse rules, Art. 23). Idempotent, so it may run again after
a crash (`resume` at start applies what was recorded but not yet done).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from townhall.domain.accounts import AccountStatus
from townhall.domain.moderation import ActionKind, Decision
from townhall.domain.notices import Notice, TargetKind
from townhall.services.accounts import AccountService
from townhall.services.context import Context
from townhall.services.spaces import SpaceService
from townhall.services.trust.ports import DecisionStore, RestrictionStore
from townhall.services.trust.withholding import Withholdings

AfterHook = Callable[[Decision, list[Notice], float], Awaitable[None]]


class Effects:
    def __init__(
        self,
        ctx: Context,
        decisions: DecisionStore,
        restrictions: RestrictionStore,
        accounts: AccountService,
        spaces: SpaceService,
        withholdings: Withholdings,
    ) -> None:
        self.ctx = ctx
        self.decisions = decisions
        self.restrictions = restrictions
        self.accounts = accounts
        self.spaces = spaces
        self.withholdings = withholdings
        self.after: list[AfterHook] = []  # run once a decision is applied (the misuse rules, Art. 23)

    async def apply(self, d: Decision) -> None:
        """Carry out what the recorded decision says; idempotent, so it may run again after a crash."""
        p = d.proposal
        if d.action is ActionKind.END_SPACE:
            await self.spaces.end(None, p.target_id, reason="moderation")
        elif d.action is ActionKind.REMOVE_SPEAKER and p.speaker_id:
            await self.spaces.platform_remove(p.target_id, p.speaker_id)
        elif d.action is ActionKind.MUTE_SPEAKER and p.speaker_id:
            await self.spaces.platform_mute(p.target_id, p.speaker_id)
        elif d.action is ActionKind.SUSPEND_ACCOUNT and d.affected_account_id:
            await self.accounts.set_status(d.affected_account_id, AccountStatus.SUSPENDED, p.until)
            await self.spaces.suspend_voices(d.affected_account_id, p.until)
        elif d.action is ActionKind.REVERSAL and d.supersedes_id:
            original = await self.decisions.get(d.supersedes_id)
            if original and original.action is ActionKind.SUSPEND_ACCOUNT and original.affected_account_id:
                await self.accounts.set_status(original.affected_account_id, AccountStatus.ACTIVE, None)
                await self.spaces.reinstate(original.affected_account_id)
            if original and original.action is ActionKind.REMOVE_SPEAKER and original.proposal.speaker_id:
                await self.spaces.platform_unblock(original.proposal.target_id, original.proposal.speaker_id)
        self.withholdings.invalidate()
        await self.decisions.effects_done(d.id, self.ctx.clock())

    async def resume(self) -> None:
        """At start: apply the effects of decisions recorded just before a crash."""
        for d in await self.decisions.pending_effects():
            await self.apply(d)

    async def announce(self, d: Decision, notices: list[Notice], now: float) -> None:
        """Tell the space's listeners, then run the `after` subscribers in order."""
        if d.proposal.target_kind in (TargetKind.SPACE_LIVE, TargetKind.SPACE_REPLAY):
            event: dict[str, object] = {"type": "moderation", "decision_id": d.id, "action": d.action.value}
            if d.affected_account_id:
                event["account_id"] = d.affected_account_id
            if d.action is ActionKind.WITHHOLD:
                event["countries"] = list(d.proposal.countries)
            await self.ctx.publish(d.proposal.target_id, event)
        for hook in self.after:
            await hook(d, notices, now)

    async def undiscoverable(self) -> set[str]:
        """Spaces, replays and clips restricted from discovery now (for listings, search, recommendations)."""
        found = await self.restrictions.active(ActionKind.RESTRICT_DISCOVERY, self.ctx.clock())
        return {r.target_id for r in found}
