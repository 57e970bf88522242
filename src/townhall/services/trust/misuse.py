"""Misuse (DSA Art. 23) as it runs: after each decision, a strike for manifestly illegal content or a
manifestly unfounded notice; then the domain's rules say warn or suspend, and this records it (a
suspension of an account is a decision with its statement of reasons). Never suspends without a warning.
"""

from __future__ import annotations

from dataclasses import replace

from townhall.domain import misuse as misuse_rules
from townhall.domain.appeals import Appeal
from townhall.domain.moderation import ActionKind, Basis, Decision, Ground
from townhall.domain.notices import Notice, TargetKind
from townhall.services.trust.decisions import SYSTEM, ModerationService
from townhall.services.trust.ports import MisuseMeasure, TrustUnit

WHAT = {
    misuse_rules.StrikeKind.MANIFESTLY_ILLEGAL_CONTENT: "content that was manifestly illegal",
    misuse_rules.StrikeKind.MANIFESTLY_UNFOUNDED_NOTICE: "notices that were manifestly unfounded",
    misuse_rules.StrikeKind.MANIFESTLY_UNFOUNDED_COMPLAINT: "complaints that were manifestly unfounded",
}
MISUSE_TOS = "Misuse policy (Article 23 DSA): repeated manifestly illegal content after a warning"


class MisuseService:
    def __init__(self, moderation: ModerationService) -> None:
        self.moderation = moderation
        self.stores = moderation.stores
        self.ctx = moderation.ctx

    @property
    def policy(self) -> misuse_rules.MisusePolicy:
        s = self.ctx.settings
        return misuse_rules.MisusePolicy(
            window_s=s.misuse_window_days * 86400.0,
            strikes_to_warn=s.misuse_strikes_to_warn,
            suspend_s=s.misuse_suspend_days * 86400.0,
            repeat_suspend_s=s.misuse_repeat_suspend_days * 86400.0,
            notifier_min_share=s.misuse_notifier_min_share,
        )

    async def after_decision(self, d: Decision, notices: list[Notice], now: float) -> None:
        if d.proposal.manifestly and d.restricts and d.proposal.ground is Ground.ILLEGAL and d.affected_account_id:
            await self._account(d, now)
        if d.action is ActionKind.NO_ACTION and d.proposal.manifestly:
            for n in notices:
                await self._notifier(n, d, now)

    async def _account(self, d: Decision, now: float) -> None:
        account_id = d.affected_account_id or ""
        kind = misuse_rules.StrikeKind.MANIFESTLY_ILLEGAL_CONTENT
        async with self.stores.units.begin() as w:
            await w.audit(now, SYSTEM, "misuse.strike", ("account", account_id), {"decision_id": d.id})
            await self.moderation.strike(w, "account", account_id, kind, d.id, now)
        times = await self.stores.misuse.strike_times(account_id, kind, now - self.policy.window_s)
        verdict = misuse_rules.assess(times, await self.stores.misuse.measures(account_id, kind), now, self.policy)
        if verdict.action is misuse_rules.MisuseAction.WARN:
            await self._measure("account", account_id, kind, verdict, now, account_id)
        elif verdict.action is misuse_rules.MisuseAction.SUSPEND:
            proposal = replace(
                d.proposal,
                action=ActionKind.SUSPEND_ACCOUNT,
                target_kind=TargetKind.ACCOUNT,
                target_id=account_id,
                ground=Ground.INCOMPATIBLE,
                tos_ground=MISUSE_TOS,
                tos_explanation=f"{verdict.strikes} decisions on manifestly illegal content within "
                f"{self.ctx.settings.misuse_window_days} days, after a prior warning.",
                tos_also_illegal=True,
                until=verdict.until,
                manifestly=False,
                speaker_id=None,
                countries=(),
            )

            async def note(w: TrustUnit, suspension: Decision) -> None:
                await self._measure_row(w, "account", account_id, kind, verdict, now, suspension.id)

            await self.moderation.record(d.decided_by, proposal, Basis.MISUSE, extra=note)

    async def _notifier(self, n: Notice, d: Decision, now: float) -> None:
        kind = misuse_rules.StrikeKind.MANIFESTLY_UNFOUNDED_NOTICE
        since = now - self.policy.window_s
        sent = await self.stores.notices.by_reporter(n.reporter_key, since)
        share = sum(1 for x in sent if x.manifestly_unfounded) / max(1, len(sent))
        times = await self.stores.misuse.strike_times(n.reporter_key, kind, since)
        verdict = misuse_rules.assess(
            times, await self.stores.misuse.measures(n.reporter_key, kind), now, self.policy, share
        )
        if verdict.action is not misuse_rules.MisuseAction.NONE:
            await self._measure("notifier", n.reporter_key, kind, verdict, now, n.notifier_account_id)

    async def after_unfounded_complaint(self, appeal: Appeal, now: float) -> None:
        kind = misuse_rules.StrikeKind.MANIFESTLY_UNFOUNDED_COMPLAINT
        since = now - self.policy.window_s
        lodged = await self.stores.appeals.by_appellant(appeal.appellant_id, since)
        times = await self.stores.misuse.strike_times(appeal.appellant_id, kind, since)
        share = len(times) / max(1, len(lodged))
        history = await self.stores.misuse.measures(appeal.appellant_id, kind)
        verdict = misuse_rules.assess(times, history, now, self.policy, share)
        if verdict.action is not misuse_rules.MisuseAction.NONE:
            await self._measure("complainant", appeal.appellant_id, kind, verdict, now, appeal.appellant_id)

    async def _measure(
        self,
        subject_kind: str,
        subject: str,
        kind: str,
        verdict: misuse_rules.Verdict,
        now: float,
        account_id: str | None,
    ) -> None:
        async with self.stores.units.begin() as w:
            await self._measure_row(w, subject_kind, subject, kind, verdict, now, None)
            if account_id:
                text = _misuse_text(kind, verdict, self.ctx.settings.misuse_window_days)
                await self.moderation.inform(
                    w, account_id, f"misuse_{verdict.action.value}", subject, {"text": text}, now
                )

    async def _measure_row(
        self,
        w: TrustUnit,
        subject_kind: str,
        subject: str,
        kind: str,
        verdict: misuse_rules.Verdict,
        now: float,
        decision_id: str | None,
    ) -> None:
        payload = {"kind": kind, "strikes": verdict.strikes, "until": verdict.until}
        await w.audit(now, SYSTEM, f"misuse.{verdict.action.value}", (subject_kind, subject), payload)
        measure = MisuseMeasure(
            id=self.ctx.make_id(),
            subject_kind=subject_kind,
            subject_id=subject,
            kind=kind,
            action=verdict.action.value,
            at=now,
            until=verdict.until,
            decision_id=decision_id,
        )
        await w.take_measure(measure)


def _misuse_text(kind: str, verdict: misuse_rules.Verdict, window_days: int) -> str:
    what = WHAT[misuse_rules.StrikeKind(kind)]
    if verdict.action is misuse_rules.MisuseAction.WARN:
        return (
            f"Warning: {verdict.strikes} times in {window_days} days you provided {what}. If it happens again, "
            "we will suspend it for a period (Article 23 DSA). You can contest this through an appeal or in court."
        )
    return (
        f"Because you again provided {what} after a warning, processing is suspended until {verdict.until}. "
        "You can contest this through an appeal, an out-of-court dispute settlement body or in court."
    )
