"""Spaces and the people in them: create, start, end; invite, requests to speak, mute, demote, remove.

Every role change goes through `domain.roles.allowed`; every change is published on `space:<id>`.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Protocol

from townhall.domain import spaces as rules
from townhall.domain.accounts import Account, ensure_active
from townhall.domain.admission import space_policy
from townhall.domain.errors import Conflict, Forbidden, Gone, NotFound, RateLimited, Unavailable
from townhall.domain.roles import MAX_COHOSTS, MAX_SPEAKERS, VOICES, Action, Role, allowed
from townhall.domain.spaces import Member, Space, SpaceLimits, SpaceState
from townhall.domain.tokens import Claims, Scope, account_subject, sign
from townhall.services.context import Context
from townhall.services.keys import TokenKeys
from townhall.services.revocation import Revocations
from townhall.store.state.base import Queues

log = logging.getLogger("townhall")

SpaceHook = Callable[[Space], Awaitable[object]]
SPACE_CACHE_S = 2.0
SPACE_READ_GRACE_S = 4.0  # an older copy still answers while one caller reads it again (a slow database)


class Spaces(Protocol):
    """Where spaces are kept (the root passes the SQL repository)."""

    async def create(self, space: Space) -> None: ...
    async def get(self, space_id: str) -> Space | None: ...
    async def save_state(self, space: Space) -> None: ...
    async def find(self, states: list[SpaceState], limit: int, host_id: str | None = None) -> list[Space]: ...
    async def hosted_since(self, host_id: str, since: float) -> int: ...


class Members(Protocol):
    """Where each space's members and their roles are kept."""

    async def of_space(self, space_id: str) -> list[Member]: ...
    async def get(self, space_id: str, account_id: str) -> Member | None: ...
    async def upsert(self, space_id: str, account_id: str, now: float, **values: object) -> None: ...
    async def spaces_of(self, account_id: str, roles: list[Role]) -> list[str]: ...


class AccountLookup(Protocol):
    async def get(self, account_id: str) -> Account | None: ...
    async def handles(self, account_ids: set[str]) -> dict[str, str]: ...


class SpaceService:
    def __init__(
        self,
        ctx: Context,
        speak_queue: Queues,
        spaces: Spaces,
        members: Members,
        accounts: AccountLookup,
        keys: TokenKeys,
        revocations: Revocations,
    ) -> None:
        self.ctx = ctx
        self.revocations = revocations  # listener tokens of the removed and the suspended
        self.speak_queue = speak_queue  # requests to speak, per space
        self.spaces = spaces
        self.members = members
        self.accounts = accounts
        self.keys = keys
        self.on_live: list[SpaceHook] = []
        self.on_end: list[SpaceHook] = []
        self._cache: dict[str, tuple[float, Space]] = {}
        self._reading: set[str] = set()  # spaces whose copy one caller is reading again

    @property
    def limits(self) -> SpaceLimits:
        s = self.ctx.settings
        return SpaceLimits(title_max=s.title_max, cap_max=s.listener_cap_max, rate_max=s.admissions_per_minute_max)

    # --- lifecycle ------------------------------------------------------------------------------
    async def create(
        self,
        host: Account,
        title: str,
        scheduled_start: float | None,
        listener_cap: int | None,
        recording: bool = True,
        replay_public: bool = True,
        admissions_per_minute: int | None = None,
    ) -> Space:
        now = self.ctx.clock()
        ensure_active(host, now)
        cleaned = rules.check_new_space(title, scheduled_start, listener_cap, now, self.limits)
        rules.check_admission(listener_cap, admissions_per_minute, self.limits)
        if await self.spaces.hosted_since(host.id, now - 3600) >= self.ctx.settings.spaces_per_hour_per_account:
            raise RateLimited("too_many_spaces", "you have created too many spaces this hour", retry_after=60)
        space = Space(
            id=self.ctx.make_id(),
            host_id=host.id,
            title=cleaned,
            state=SpaceState.SCHEDULED,
            created_at=now,
            scheduled_start=scheduled_start,
            listener_cap=listener_cap,
            admissions_per_minute=admissions_per_minute,
            recording=recording,
            replay_public=replay_public and recording,
        )
        await self.spaces.create(space)
        return space

    async def get(self, space_id: str) -> Space:
        space = await self.spaces.get(space_id) if isinstance(space_id, str) and len(space_id) <= 64 else None
        if space is None:
            raise NotFound("space_not_found", "no such space")
        self._cache[space_id] = (self.ctx.clock() + SPACE_CACHE_S, space)
        return space

    async def cached(self, space_id: str) -> Space:
        """The space as of at most two seconds ago, for hot paths such as joins and renewals. When the copy
        is due, one caller reads it again and the others keep the older copy meanwhile (for at most
        `SPACE_READ_GRACE_S` more), so a busy process does not send every request at once to the database."""
        hit = self._cache.get(space_id)
        now = self.ctx.clock()
        if hit is not None and (hit[0] > now or (space_id in self._reading and hit[0] + SPACE_READ_GRACE_S > now)):
            return hit[1]
        self._reading.add(space_id)
        try:
            return await self.get(space_id)
        finally:
            self._reading.discard(space_id)

    def forget(self, space_id: str) -> None:
        self._cache.pop(space_id, None)

    async def find(self, states: list[SpaceState], limit: int, host_id: str | None = None) -> list[Space]:
        limit = max(1, min(limit, self.ctx.settings.list_limit_max))
        return await self.spaces.find(states, limit, host_id)

    async def host_handles(self, found: list[Space]) -> dict[str, str]:
        """The handle of each listed space's host (one lookup for the whole list)."""
        return await self.accounts.handles({s.host_id for s in found})

    async def start(self, actor: Account, space_id: str) -> Space:
        space, _ = await self._acting(actor, space_id, Action.START)
        live = rules.start(space, self.ctx.clock())
        if live is not space:
            await self.spaces.save_state(live)
            self._cache[space_id] = (self.ctx.clock() + SPACE_CACHE_S, live)
            for hook in self.on_live:
                await hook(live)
            await self.ctx.publish(space_id, {"type": "started"})
        return live

    async def end(self, actor: Account | None, space_id: str, reason: str = "host") -> Space:
        """End a space; `actor` None means the platform (moderation, suspension)."""
        if actor is None:
            space = await self.get(space_id)
        else:
            space, _ = await self._acting(actor, space_id, Action.END, allow_ended=True)
        ended = rules.end(space, self.ctx.clock(), reason)
        if ended is not space:
            await self.spaces.save_state(ended)
            self._cache[space_id] = (self.ctx.clock() + SPACE_CACHE_S, ended)
            for hook in self.on_end:
                await hook(ended)
            await self.ctx.publish(space_id, {"type": "ended", "reason": reason})
        return ended

    # --- who is in the space --------------------------------------------------------------------
    async def roster(self, space_id: str) -> list[Member]:
        return await self.members.of_space(space_id)

    async def role_of(self, space_id: str, account_id: str) -> Member | None:
        return await self.members.get(space_id, account_id)

    async def _acting(
        self, actor: Account, space_id: str, action: Action, allow_ended: bool = False
    ) -> tuple[Space, Role]:
        ensure_active(actor, self.ctx.clock())
        space = await self.get(space_id)
        if space.state is SpaceState.ENDED and not allow_ended:
            raise Gone("space_ended", "this space has ended")
        member = await self.members.get(space_id, actor.id)
        if member is not None and member.blocked:
            raise Forbidden("removed_from_space", "you were removed from this space")
        role = member.role if member else Role.LISTENER
        if action in (Action.START, Action.END, Action.PUBLISH, Action.REQUEST_TO_SPEAK, Action.ACCEPT_INVITE):
            if not allowed(action, role):
                raise Forbidden("not_allowed", f"a {role.value} may not {action.value.replace('_', ' ')}")
        return space, role

    async def _target(self, space_id: str, handle_or_id: str) -> Member:
        member = await self.members.get(space_id, handle_or_id)
        if member is None:
            raise NotFound("member_not_found", "that person is not in this space")
        return member

    async def _check(
        self, actor: Account, space_id: str, action: Action, target_id: str, absent_is_listener: bool = False
    ) -> Space:
        """The actor may take `action` on the target; someone with no member row yet (a signed-in listener
        who never asked to speak) counts as a listener where `absent_is_listener`. Writes nothing."""
        space, role = await self._acting(actor, space_id, action)
        member = await self.members.get(space_id, target_id)
        if member is None:
            if not absent_is_listener:
                raise NotFound("member_not_found", "that person is not in this space")
            await self.accounts_active(target_id)
        elif member.blocked and action is not Action.REMOVE:
            raise Forbidden("target_removed", "that person was removed from this space")
        target_role = member.role if member is not None else Role.LISTENER
        if not allowed(action, role, target_role, on_self=target_id == actor.id):
            raise Forbidden(
                "not_allowed", f"a {role.value} may not {action.value.replace('_', ' ')} a {target_role.value}"
            )
        return space

    async def _room_for(self, space_id: str, account_id: str, role: Role) -> None:
        """Raise 409 when the space has no room left for one more `role` (co-host or speaker)."""
        if role in (Role.COHOST, Role.SPEAKER):
            roster = await self.members.of_space(space_id)
            count = sum(1 for m in roster if m.role is role and m.account_id != account_id)
            if role is Role.COHOST and count >= MAX_COHOSTS:
                raise Conflict("too_many_cohosts", f"a space has at most {MAX_COHOSTS} co-hosts")
            if role is Role.SPEAKER and count >= MAX_SPEAKERS:
                raise Conflict("too_many_speakers", f"a space has at most {MAX_SPEAKERS} speakers besides its hosts")

    async def _set_role(self, space_id: str, account_id: str, role: Role) -> None:
        await self._room_for(space_id, account_id, role)
        now = self.ctx.clock()
        await self.members.upsert(space_id, account_id, now, role=role.value, invited=False, muted=role not in VOICES)
        await self.speak_queue.qremove(f"speakq:{space_id}", account_id)
        await self.ctx.publish(space_id, {"type": "role", "account_id": account_id, "role": role.value})

    # --- requests and invitations ---------------------------------------------------------------
    async def request_to_speak(self, actor: Account, space_id: str) -> int:
        await self._acting(actor, space_id, Action.REQUEST_TO_SPEAK)
        s = self.ctx.settings
        await self.ctx.limit(
            f"rl:speakreq:{space_id}:{actor.id}",
            s.speak_requests_per_minute,
            60,
            "too_many_requests_to_speak",
            "you have asked to speak too often; wait a minute",
        )
        key = f"speakq:{space_id}"
        if not await self.speak_queue.qpush(key, actor.id, s.speak_requests_max):
            raise Conflict("request_queue_full", "the host has too many requests to speak right now")
        await self.members.upsert(space_id, actor.id, self.ctx.clock())
        await self.ctx.publish(
            space_id, {"type": "request", "account_id": actor.id, "handle": actor.handle, "pending": True}
        )
        return len(await self.speak_queue.qlist(key))

    async def withdraw_request(self, actor: Account, space_id: str) -> None:
        if await self.speak_queue.qremove(f"speakq:{space_id}", actor.id):
            await self.ctx.publish(space_id, {"type": "request", "account_id": actor.id, "pending": False})

    async def requests(self, actor: Account, space_id: str) -> list[Member]:
        _, role = await self._acting(actor, space_id, Action.INVITE)
        if not allowed(Action.INVITE, role, Role.LISTENER):
            raise Forbidden("not_allowed", "only the host and co-hosts see requests to speak")
        ids = await self.speak_queue.qlist(f"speakq:{space_id}")
        found = [await self.members.get(space_id, i) for i in ids]
        return [m for m in found if m is not None]

    async def accept_request(self, actor: Account, space_id: str, target_id: str) -> None:
        await self._check(actor, space_id, Action.ACCEPT_REQUEST, target_id)
        if target_id not in await self.speak_queue.qlist(f"speakq:{space_id}"):
            raise NotFound("no_request", "that listener has not asked to speak")
        await self._ensure_can_hold_role(target_id)
        await self._set_role(space_id, target_id, Role.SPEAKER)

    async def decline_request(self, actor: Account, space_id: str, target_id: str) -> None:
        await self._check(actor, space_id, Action.DECLINE_REQUEST, target_id)
        if not await self.speak_queue.qremove(f"speakq:{space_id}", target_id):
            raise NotFound("no_request", "that listener has not asked to speak")
        await self.ctx.publish(
            space_id, {"type": "request", "account_id": target_id, "pending": False, "declined": True}
        )

    async def invite(self, actor: Account, space_id: str, target_id: str) -> None:
        await self._check(actor, space_id, Action.INVITE, target_id, absent_is_listener=True)
        # Refused now, not only when accepted: a suspended account, or a space with no speaker's place left.
        await self._ensure_can_hold_role(target_id)
        member = await self.members.get(space_id, target_id)
        if member is None or member.role not in VOICES:
            await self._room_for(space_id, target_id, Role.SPEAKER)
        await self.members.upsert(space_id, target_id, self.ctx.clock(), invited=True)
        await self.ctx.publish(space_id, {"type": "invite", "account_id": target_id})

    async def accept_invite(self, actor: Account, space_id: str) -> None:
        await self._acting(actor, space_id, Action.ACCEPT_INVITE)
        member = await self.members.get(space_id, actor.id)
        if member is None or not member.invited:
            raise Forbidden("not_invited", "you have not been invited to speak")
        await self._set_role(space_id, actor.id, Role.SPEAKER)

    async def make_cohost(self, actor: Account, space_id: str, target_id: str) -> None:
        # A signed-in listener with no member row yet (never asked to speak) may be made co-host directly.
        await self._check(actor, space_id, Action.MAKE_COHOST, target_id, absent_is_listener=True)
        await self._ensure_can_hold_role(target_id)
        await self._set_role(space_id, target_id, Role.COHOST)

    async def accounts_active(self, account_id: str) -> Account:
        account = await self.accounts.get(account_id)
        if account is None:
            raise NotFound("account_not_found", "no such account")
        return account

    async def _ensure_can_hold_role(self, account_id: str) -> None:
        ensure_active(await self.accounts_active(account_id), self.ctx.clock())

    # --- mute, demote, remove -------------------------------------------------------------------
    async def mute(self, actor: Account, space_id: str, target_id: str, muted: bool) -> None:
        action = Action.MUTE if muted else Action.UNMUTE
        await self._check(actor, space_id, action, target_id)
        await self.members.upsert(space_id, target_id, self.ctx.clock(), muted=muted)
        await self._decided(space_id, {"type": "mute", "account_id": target_id, "muted": muted})

    async def _decided(self, space_id: str, event: dict[str, object]) -> None:
        """Announce a roster decision already written to the database. The event is the fast path; the
        media node running the space also re-reads its publishers' rows (app/roster.py), so a decision
        whose event cannot be sent (Redis away) is still enforced: it is accepted, not refused."""
        try:
            await self.ctx.publish(space_id, event)
        except Unavailable as exc:
            log.warning(
                "space %s: %s decided while the hot state is away (%s); the media node enforces it from the "
                "database on its next roster re-read",
                space_id,
                event.get("type"),
                exc.code,
            )

    async def move_to_listener(self, actor: Account, space_id: str, target_id: str) -> None:
        await self._check(actor, space_id, Action.MOVE_TO_LISTENER, target_id)
        await self._set_role(space_id, target_id, Role.LISTENER)

    async def remove(self, actor: Account, space_id: str, target_id: str) -> None:
        await self._check(actor, space_id, Action.REMOVE, target_id, absent_is_listener=True)
        await self.members.upsert(space_id, target_id, self.ctx.clock())  # a listener may have no row yet
        await self.platform_remove(space_id, target_id)

    async def is_blocked(self, space_id: str, account_id: str) -> bool:
        member = await self.members.get(space_id, account_id)
        return member is not None and member.blocked

    # --- speaking -------------------------------------------------------------------------------
    async def publisher(self, space_id: str, account_id: str) -> Member:
        """The member allowed to publish audio now, or an error saying why not."""
        account = await self.accounts_active(account_id)
        ensure_active(account, self.ctx.clock())
        space = await self.get(space_id)
        if space.state is SpaceState.ENDED:
            raise Gone("space_ended", "this space has ended")
        if space.state is not SpaceState.LIVE:
            raise Conflict("space_not_live", "this space is not live yet")
        member = await self.members.get(space_id, account_id)
        if member is None or member.blocked or not allowed(Action.PUBLISH, member.role):
            raise Forbidden("not_a_speaker", "only the host, co-hosts and speakers may publish audio")
        return member

    async def speaker_token(self, actor: Account, space_id: str) -> str:
        await self._acting(actor, space_id, Action.PUBLISH)
        expires = int(self.ctx.clock()) + self.ctx.settings.speaker_token_ttl_s
        claims = Claims(self.keys.signing_kid, Scope.SPEAK, space_id, account_subject(actor.id), expires)
        return sign(claims, self.keys.signing_key)

    async def suspend_voices(self, account_id: str, until: float | None = None) -> list[str]:
        """Take away host and speaker rights everywhere; end the spaces the account hosts that are live
        (scheduled ones stay scheduled, to start after a reinstatement); revoke its listener tokens in
        every space (renewals refused, media refused by the origin and the edge)."""
        await self.revocations.revoke(None, account_subject(account_id), until)
        ended: list[str] = []
        for space_id in await self.members.spaces_of(account_id, [Role.HOST, Role.COHOST, Role.SPEAKER]):
            space = await self.get(space_id)
            if space.state is SpaceState.ENDED:
                continue
            if space.host_id == account_id:
                if space.state is SpaceState.LIVE:
                    await self.end(None, space_id, reason="host_suspended")
                    ended.append(space_id)
            else:
                await self.members.upsert(space_id, account_id, self.ctx.clock(), role=Role.LISTENER.value, muted=True)
                await self.ctx.publish(space_id, {"type": "suspended", "account_id": account_id})
        return ended

    async def reinstate(self, account_id: str) -> None:
        """A suspension reversed: the account's listener tokens work again (its roles are not given back)."""
        await self.revocations.restore(None, account_subject(account_id))

    # --- platform actions (moderation) ----------------------------------------------------------
    # Taken by platform moderators, not by the host (no role check here; the trust area checks the
    # moderator role and records the decision). Same effects and events as the host's actions.
    async def platform_mute(self, space_id: str, account_id: str) -> None:
        await self._target(space_id, account_id)
        await self.members.upsert(space_id, account_id, self.ctx.clock(), muted=True)
        await self._decided(space_id, {"type": "mute", "account_id": account_id, "muted": True})

    async def platform_remove(self, space_id: str, account_id: str) -> None:
        await self._target(space_id, account_id)
        await self.members.upsert(
            space_id, account_id, self.ctx.clock(), role=Role.LISTENER.value, blocked=True, muted=True, invited=False
        )
        await self.speak_queue.qremove(f"speakq:{space_id}", account_id)
        # The seat and the stream go too: tokens revoked (renewals, origin, edge), the seat freed now.
        space = await self.get(space_id)
        await self.revocations.revoke(space_id, account_subject(account_id))
        default, live = self.ctx.settings.admissions_per_minute_default, space.state is SpaceState.LIVE
        policy = space_policy(space.listener_cap, space.admissions_per_minute, default, live, secrets.token_hex(16))
        await self.revocations.unseat(space_id, policy, account_subject(account_id))
        await self.ctx.publish(space_id, {"type": "removed", "account_id": account_id})

    async def platform_unblock(self, space_id: str, account_id: str) -> None:
        """Undo a platform removal (a reversed decision): the person may join again, as a listener."""
        await self._target(space_id, account_id)
        await self.members.upsert(space_id, account_id, self.ctx.clock(), blocked=False)
        await self.revocations.restore(space_id, account_subject(account_id))

    async def set_cap(
        self, actor: Account, space_id: str, cap: int | None, admissions_per_minute: int | None, keep_rate: bool = False
    ) -> Space:
        """Set the waiting room's two settings (`keep_rate`: the pace stays as it is)."""
        space, _ = await self._acting(actor, space_id, Action.START)
        rate = space.admissions_per_minute if keep_rate else admissions_per_minute
        rules.check_admission(cap, rate, self.limits)
        updated = replace(space, listener_cap=cap, admissions_per_minute=rate)
        await self.spaces.save_state(updated)
        self.forget(space_id)
        return updated

    async def set_under_attack(self, space_id: str, on: bool) -> Space:
        """The "under attack" switch of one space (the trust area checks the admin role and audits)."""
        space = await self.get(space_id)
        updated = replace(space, under_attack=on)
        await self.spaces.save_state(updated)
        self.forget(space_id)
        return updated
