"""Notices (DSA Art. 16): anyone reports a space, replay, clip or account; committed before it is
acknowledged; moderators read the queue most urgent first. A notifier suspended for misuse (Art. 23(2))
is recorded and counted, not processed.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Sequence
from dataclasses import replace

from townhall.domain import misuse as misuse_rules
from townhall.domain import notices as notice_rules
from townhall.domain.accounts import Account, PlatformRole
from townhall.domain.errors import NotFound
from townhall.domain.notices import Notice, NoticeItem, NoticeState, SourceKind, TargetKind
from townhall.domain.spaces import SpaceState
from townhall.services.context import Context
from townhall.services.spaces import SpaceService
from townhall.services.trust.ports import TrustStores
from townhall.services.trust.staff import require
from townhall.services.trust.targets import Targets
from townhall.trust import reasons

QUEUE_SCAN = 2000  # queued notices ranked per look at the queue (threats and trusted flaggers first)


class NoticeService:
    def __init__(
        self, ctx: Context, stores: TrustStores, targets: Targets, spaces: SpaceService, reporter_secret: bytes
    ) -> None:
        self.ctx = ctx
        self.stores = stores
        self.targets = targets
        self.spaces = spaces
        self.secret = reporter_secret

    def reporter_key(self, account: Account | None, client: str) -> str:
        """A keyed hash naming the reporter for rate limits and Art. 23(2): the account, else the address
        (an IPv6 /64, which one subscriber usually holds whole). No raw address is stored."""
        who = f"a:{account.id}" if account else f"n:{_network(client)}"
        return hmac.new(self.secret, who.encode(), hashlib.sha256).hexdigest()[:40]

    async def submit(
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
            target = await self.targets.resolve(kind, target_id)
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
        if misuse_rules.suspended_until(await self.stores.misuse.measures(notice.reporter_key, kind), now) is not None:
            notice = replace(notice, state=NoticeState.NOT_PROCESSED)  # Art. 23(2): logged and counted only
        async with self.stores.units.begin() as w:
            await w.audit(
                now,
                ("notifier", notice.notifier_account_id or "anonymous"),
                "notice.received",
                ("notice", notice.id),
                {"category": notice.category, "target": notice.target.target_id, "state": notice.state.value},
            )
            await w.receive_notice(notice)
        return notice

    async def queue(self, moderator: Account, limit: int) -> list[tuple[int, Notice]]:
        require(moderator, PlatformRole.MODERATOR)
        queued = await self.stores.notices.queued(QUEUE_SCAN)
        live = set()
        for target in {n.target.target_id for n in queued if n.target.kind is TargetKind.SPACE_LIVE}:
            try:
                if (await self.spaces.cached(target)).state is SpaceState.LIVE:
                    live.add(target)
            except NotFound:
                continue
        return notice_rules.queue_order(queued, live)[:limit]

    async def get(self, moderator: Account, notice_id: str) -> Notice:
        require(moderator, PlatformRole.MODERATOR)
        found = await self.stores.notices.get(notice_id)
        if found is None:
            raise NotFound("notice_not_found", "no such notice")
        return found


def _network(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:100]
    return str(ipaddress.ip_network(f"{ip}/64", strict=False)) if ip.version == 6 else str(ip)
