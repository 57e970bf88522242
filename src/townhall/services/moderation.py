"""Trust and safety use cases (EU DSA): notices in, moderators' decisions out, each with its statement
of reasons, restrictions, account history, notifier messages, misuse strikes and audit entries, written
in one transaction before anything is acknowledged; then the decision's effects are applied.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from townhall.domain import appeals as appeal_rules
from townhall.domain import misuse as misuse_rules
from townhall.domain import moderation as decision_rules
from townhall.domain import notices as notice_rules
from townhall.domain.accounts import Account, AccountStatus, PlatformRole
from townhall.domain.errors import Conflict, Forbidden, Invalid, NotFound
from townhall.domain.moderation import ActionKind, Automation, Basis, Decision, Ground, Proposal, check_proposal
from townhall.domain.notices import Notice, NoticeItem, NoticeState, SourceKind, TargetKind
from townhall.domain.spaces import SpaceState
from townhall.services.accounts import AccountService
from townhall.services.context import Context
from townhall.services.spaces import SpaceService
from townhall.services.trust.withholding import LEGAL_DEMAND, LOCAL_LAW, Withholdings
from townhall.store.sql.repos_trust import TrustRepo, Writer
from townhall.store.sql.tables_trust import account_history, inbox, restrictions, statements, strikes
from townhall.trust import reasons

SYSTEM = ("system", "misuse_policy")
AfterHook = Callable[[Decision, list[Notice], float], Awaitable[None]]
QUEUE_SCAN = 2000  # queued notices ranked per look at the queue (threats and trusted flaggers first)
MISUSE_TOS = "Misuse policy (Article 23 DSA): repeated manifestly illegal content after a warning"


def require(account: Account, role: PlatformRole) -> None:
    if not account.has_role(role):
        raise Forbidden("not_a_moderator" if role is PlatformRole.MODERATOR else "not_an_admin", f"only a {role} may")


@dataclass(frozen=True, slots=True)
class Target:
    """What a decision acts on, resolved: the affected account and when the content appeared."""

    kind: TargetKind
    target_id: str
    affected_account_id: str | None
    content_created_at: float


@dataclass(frozen=True, slots=True)
class Outcome:
    decision: Decision
    statement_id: str | None


class ModerationService:
    def __init__(
        self,
        ctx: Context,
        repo: TrustRepo,
        accounts: AccountService,
        spaces: SpaceService,
        withholdings: Withholdings,
        reporter_secret: bytes,
    ) -> None:
        self.ctx = ctx
        self.repo = repo
        self.accounts = accounts
        self.spaces = spaces
        self.withholdings = withholdings
        self.secret = reporter_secret
        self.after: list[AfterHook] = []  # run once a decision is applied (the misuse rules, Art. 23)

    # --- notices (Art. 16) -------------------------------------------------------------------------
    def reporter_key(self, account: Account | None, client: str) -> str:
        """A keyed hash naming the reporter for rate limits and Art. 23(2): the account, else the address
        (an IPv6 /64, which one subscriber usually holds whole). No raw address is stored."""
        who = f"a:{account.id}" if account else f"n:{_network(client)}"
        return hmac.new(self.secret, who.encode(), hashlib.sha256).hexdigest()[:40]

    async def resolve(self, kind: str, target_id: str) -> Target:
        """The item a notice or decision names: `space`, `replay`, `clip` or `account` (id or handle)."""
        if kind in ("space", "replay", TargetKind.SPACE_LIVE, TargetKind.SPACE_REPLAY):
            space = await self.spaces.get(target_id)
            live = space.state is SpaceState.LIVE and kind != "replay"
            return Target(
                TargetKind.SPACE_LIVE if live else TargetKind.SPACE_REPLAY, space.id, space.host_id, space.created_at
            )
        if kind == TargetKind.ACCOUNT:
            try:
                account = await self.accounts.get(target_id)
            except NotFound:
                account = await self.accounts.by_handle(target_id)
            return Target(TargetKind.ACCOUNT, account.id, account.id, account.created_at)
        if kind == TargetKind.CLIP:
            return Target(TargetKind.CLIP, target_id, None, self.ctx.clock())
        raise Invalid("invalid_target_kind", "kind must be space, replay, clip or account")

    async def submit_notice(
        self, draft: Notice, raw_items: Sequence[tuple[str, str, int | None, int | None]], reporter: Account | None
    ) -> Notice:
        """Accept a notice from anyone (signed in or not); committed before it is acknowledged."""
        s = self.ctx.settings
        await self.ctx.limit(
            f"rl:notice:{draft.reporter_key}",
            s.notices_per_hour_per_reporter,
            3600,
            "too_many_notices",
            "you have sent many notices in the last hour; try again later",
        )
        limits = notice_rules.NoticeLimits(s.notice_items_max, s.notice_explanation_max)
        notice_rules.check_items(
            (NoticeItem(TargetKind.CLIP, i[1], i[2], i[3]) for i in raw_items), limits
        )  # shape first, before any lookup
        items = []
        for kind, target_id, start, end in raw_items:
            target = await self.resolve(kind, target_id)
            items.append(NoticeItem(target.kind, target.target_id, start, end))
        now = self.ctx.clock()
        trusted = reporter is not None and PlatformRole.TRUSTED_FLAGGER in reporter.platform_roles
        notice = replace(
            draft,
            id=self.ctx.make_id(),
            received_at=now,
            items=tuple(items),
            source_kind=SourceKind.TRUSTED_FLAGGER if trusted else SourceKind.PUBLIC,
            notifier_account_id=reporter.id if reporter else None,
        )
        notice_rules.check_notice(notice, reasons.CATEGORIES, reasons.KEYWORDS, limits)
        kind = misuse_rules.StrikeKind.MANIFESTLY_UNFOUNDED_NOTICE
        if misuse_rules.suspended_until(await self.repo.measures(notice.reporter_key, kind), now) is not None:
            notice = replace(notice, state=NoticeState.NOT_PROCESSED)  # Art. 23(2): logged and counted only
        async with self.repo.unit() as w:
            await w.audit(
                now,
                ("notifier", notice.notifier_account_id or "anonymous"),
                "notice.received",
                ("notice", notice.id),
                {"category": notice.category, "target": notice.target.target_id, "state": notice.state.value},
            )
            await w.notice(notice)
        return notice

    async def queue(self, moderator: Account, limit: int) -> list[tuple[int, Notice]]:
        require(moderator, PlatformRole.MODERATOR)
        queued = await self.repo.queued(QUEUE_SCAN)
        live = set()
        for target in {n.target.target_id for n in queued if n.target.kind is TargetKind.SPACE_LIVE}:
            try:
                if (await self.spaces.cached(target)).state is SpaceState.LIVE:
                    live.add(target)
            except NotFound:
                continue
        return notice_rules.queue_order(queued, live)[:limit]

    async def undiscoverable(self) -> set[str]:
        """Spaces, replays and clips restricted from discovery now (for listings, search, recommendations)."""
        rows = await self.repo.active_restrictions(ActionKind.RESTRICT_DISCOVERY, self.ctx.clock())
        return {r["target_id"] for r in rows}

    async def notice(self, moderator: Account, notice_id: str) -> Notice:
        require(moderator, PlatformRole.MODERATOR)
        found = await self.repo.notice(notice_id)
        if found is None:
            raise NotFound("notice_not_found", "no such notice")
        return found

    # --- decisions (Art. 17) -----------------------------------------------------------------------
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
        extra: Any = None,
        supersedes: tuple[str | None, str] | None = None,
    ) -> Outcome:
        """Check, record (decision, restriction, statement, inbox, history, strikes, audit) in one
        transaction, then apply the effects. `extra(writer, decision)` adds to the same transaction;
        `supersedes` is (appeal id or None, decision id) for a reversal."""
        now = self.ctx.clock()
        target = await self.resolve(proposal.target_kind, proposal.target_id)
        proposal = check_proposal(
            replace(proposal, target_kind=target.kind, target_id=target.target_id),
            now,
            reasons.CATEGORIES,
            reasons.KEYWORDS,
        )
        notices = [await self._queued(n) for n in dict.fromkeys(notice_ids or [])]
        affected = None if proposal.action is ActionKind.NO_ACTION else target.affected_account_id
        if supersedes is not None:  # a reversal informs whoever the reversed decision affected
            original = await self.repo.decision(supersedes[1])
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
        async with self.repo.unit() as w:
            actor = SYSTEM if basis is Basis.MISUSE else ("moderator", decided_by)
            await w.audit(now, actor, "decision.made", ("decision", decision.id), _audit_facts(decision))
            await w.decision(decision)
            statement_id = await self._restrict_and_inform(w, decision, now)
            for n in notices:
                await self._notice_decided(w, n, decision, now)
            if extra is not None:
                await extra(w, decision)
        await self.apply(decision)
        await self._after(decision, notices, now)
        return Outcome(decision, statement_id)

    async def _queued(self, notice_id: str) -> Notice:
        found = await self.repo.notice(notice_id)
        if found is None:
            raise NotFound("notice_not_found", f"no notice {notice_id}")
        if found.state is not NoticeState.QUEUED:
            raise Conflict("notice_not_queued", f"notice {notice_id} is {found.state.value}")
        return found

    async def _restrict_and_inform(self, w: Writer, d: Decision, now: float) -> str | None:
        p = d.proposal
        if d.restricts:
            reason = LEGAL_DEMAND if d.basis in (Basis.ART9_ORDER, Basis.AUTHORITY_OTHER) else LOCAL_LAW
            await w.insert(
                restrictions,
                id=self.ctx.make_id(),
                decision_id=d.id,
                action=p.action.value,
                target_kind=p.target_kind.value,
                target_id=p.target_id,
                countries=list(p.countries),
                label=reason if p.action is ActionKind.WITHHOLD else (p.label or None),
                starts_at=now,
                ends_at=p.until,
            )
        if p.action is ActionKind.SUSPEND_ACCOUNT and d.affected_account_id:
            before = await self.accounts.get(d.affected_account_id)
            status = AccountStatus.SUSPENDED if before.suspended(now) else AccountStatus.ACTIVE
            await self.history_event(w, d.affected_account_id, status, AccountStatus.SUSPENDED, d, now)
        if d.affected_account_id is None or d.action is ActionKind.NO_ACTION:
            return None
        return await self._statement(w, d, d.affected_account_id, now)

    async def _statement(self, w: Writer, d: Decision, recipient: str, now: float) -> str:
        months = self.ctx.settings.appeal_window_months
        window = appeal_rules.window_ends(d.decided_at, months)
        payload = reasons.to_tdb(d, self.ctx.settings.dsa_terms_url)
        statement_id = self.ctx.make_id()
        text = reasons.body(d, window, months)
        await w.insert(
            statements,
            id=statement_id,
            decision_id=d.id,
            recipient_account_id=recipient,
            created_at=now,
            body=text,
            window_ends_at=window,
            tdb_payload=json.dumps(payload) if payload else None,
            tdb_state="pending" if payload else "not_applicable",
        )
        await self.inform(
            w,
            recipient,
            "statement_of_reasons",
            statement_id,
            {"decision_id": d.id, "action": d.action.value, "text": text, "appeal_until": window},
            now,
        )
        return statement_id

    async def inform(self, w: Writer, account_id: str, kind: str, ref: str, body: dict[str, Any], now: float) -> None:
        await w.insert(
            inbox, id=self.ctx.make_id(), account_id=account_id, created_at=now, kind=kind, ref_id=ref, body=body
        )

    async def history_event(
        self,
        w: Writer,
        account_id: str,
        before: AccountStatus,
        after: AccountStatus,
        d: Decision,
        now: float,
        appeal_id: str | None = None,
    ) -> None:
        p = d.proposal
        why = p.legal_explanation if p.ground is Ground.ILLEGAL else p.tos_explanation
        await w.insert(
            account_history,
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

    async def undo(self, w: Writer, original: Decision, new: Decision, now: float, appeal_id: str | None) -> None:
        """In the reversal's transaction: supersede the original, lift its restrictions, and write the
        reinstatement into the account's history (the account itself is reinstated by `apply`)."""
        await w.decision_state(decision_rules.reversed_by(original))
        await w.lift_restrictions(original.id, now, new.id)
        if original.action is ActionKind.SUSPEND_ACCOUNT and original.affected_account_id:
            await self.history_event(
                w, original.affected_account_id, AccountStatus.SUSPENDED, AccountStatus.ACTIVE, new, now, appeal_id
            )

    async def _notice_decided(self, w: Writer, n: Notice, d: Decision, now: float) -> None:
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

    async def strike(self, w: Writer, subject_kind: str, subject: str, kind: str, source: str, now: float) -> None:
        await w.insert(
            strikes,
            id=self.ctx.make_id(),
            subject_kind=subject_kind,
            subject_id=subject,
            kind=kind,
            source_id=source,
            created_at=now,
        )

    # --- effects -----------------------------------------------------------------------------------
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
            await self.spaces.suspend_voices(d.affected_account_id)
        elif d.action is ActionKind.REVERSAL and d.supersedes_id:
            original = await self.repo.decision(d.supersedes_id)
            if original and original.action is ActionKind.SUSPEND_ACCOUNT and original.affected_account_id:
                await self.accounts.set_status(original.affected_account_id, AccountStatus.ACTIVE, None)
            if original and original.action is ActionKind.REMOVE_SPEAKER and original.proposal.speaker_id:
                await self.spaces.platform_unblock(original.proposal.target_id, original.proposal.speaker_id)
        self.withholdings.invalidate()
        await self.repo.effects_done(d.id, self.ctx.clock())

    async def resume(self) -> None:
        """At start: apply the effects of decisions recorded just before a crash."""
        for d in await self.repo.decisions_pending_effects():
            await self.apply(d)

    async def _after(self, d: Decision, notices: list[Notice], now: float) -> None:
        if d.proposal.target_kind in (TargetKind.SPACE_LIVE, TargetKind.SPACE_REPLAY):
            event: dict[str, object] = {"type": "moderation", "decision_id": d.id, "action": d.action.value}
            if d.affected_account_id:
                event["account_id"] = d.affected_account_id
            if d.action is ActionKind.WITHHOLD:
                event["countries"] = list(d.proposal.countries)
            await self.ctx.publish(d.proposal.target_id, event)
        for hook in self.after:
            await hook(d, notices, now)


def _network(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:100]
    return str(ipaddress.ip_network(f"{ip}/64", strict=False)) if ip.version == 6 else str(ip)


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
