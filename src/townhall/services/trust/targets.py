"""What a notice or a decision names, resolved: `space`, `replay`, `clip` or `account` (id or handle),
with the account it affects and when the content appeared."""

from __future__ import annotations

from dataclasses import dataclass

from townhall.domain.errors import Invalid, NotFound
from townhall.domain.notices import TargetKind
from townhall.domain.spaces import SpaceState
from townhall.services.accounts import AccountService
from townhall.services.context import Context
from townhall.services.spaces import SpaceService


@dataclass(frozen=True, slots=True)
class Target:
    """What a decision acts on, resolved: the affected account and when the content appeared."""

    kind: TargetKind
    target_id: str
    affected_account_id: str | None
    content_created_at: float


class Targets:
    def __init__(self, ctx: Context, accounts: AccountService, spaces: SpaceService) -> None:
        self.ctx = ctx
        self.accounts = accounts
        self.spaces = spaces

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
