"""Joining a space as a listener: a seat with a renewable lease and a signed listener token, or a
place in the waiting room with a signed ticket the page keeps and polls with (decision 0010).
The hot path of the control plane: no SQL for anonymous listeners.

Under attack (the space's switch or the platform's setting), a join needs a solved proof-of-work
challenge; a join without one is answered exactly like a place in the queue, with a decoy ticket
(signed under a derived key, so only the server tells them apart) whose place never comes.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from townhall.domain import proof, tokens
from townhall.domain.accounts import Account, ensure_active
from townhall.domain.admission import Admission, Admitted, Policy, Waiting, space_policy
from townhall.domain.errors import Forbidden, Gone, Invalid, LegallyWithheld, NotFound, TownhallError
from townhall.domain.ids import check_device
from townhall.domain.spaces import Space, SpaceState
from townhall.domain.tokens import Claims, Scope, sign
from townhall.services.context import Context
from townhall.services.keys import TokenKeys
from townhall.services.spaces import SpaceService
from townhall.store.state.base import SeatBook, Uniques

DECOY = b"townhall decoy waiting-room ticket"


@dataclass(frozen=True, slots=True)
class Listener:
    """Who is listening: an account, or an anonymous device; `key` is the seat and viewer key."""

    key: str
    account: Account | None = None
    synthetic: bool = False

    @classmethod
    def of(cls, account: Account | None, device_id: str | None, synthetic: bool = False) -> Listener:
        if account is not None:
            return cls(tokens.account_subject(account.id), account, synthetic)
        if device_id is None:
            raise Invalid("listener_unknown", "sign in or send a device_id to join")
        return cls(tokens.device_subject(check_device(device_id)), None, synthetic)


@dataclass(frozen=True, slots=True)
class Joined:
    space: Space
    token: str
    lease_expires: float


@dataclass(frozen=True, slots=True)
class Queued:
    space: Space
    position: int  # 0 before the start: places are drawn when the space opens
    ticket: str = ""
    poll_after_s: float = 5.0


@dataclass(frozen=True, slots=True)
class Lobby:
    """The space has not started: the listener waits in its lobby, with no seat, no token and no listen
    counted; `retry_after_s` says when to ask again (it starts when the host starts it)."""

    space: Space
    retry_after_s: float = 3.0
    ticket: str = ""  # the place in the pool, drawn when the space starts (decision 0010)


@dataclass(frozen=True, slots=True)
class Renewed:
    token: str  # a fresh listener token: tokens are short-lived, each renewal extends it
    lease_expires: float


JoinResult = Joined | Queued | Lobby
SpaceGate = Callable[[Space, Listener, str | None], Awaitable[None]]
JoinHook = Callable[[Space, Listener, Admission], Awaitable[None]]
RenewHook = Callable[[Space, Listener], Awaitable[None]]


class AdmissionService:
    def __init__(
        self, ctx: Context, seats: SeatBook, spaces: SpaceService, keys: TokenKeys, seen: Uniques | None = None
    ) -> None:
        self.ctx = ctx
        self.seats = seats
        self.spaces = spaces
        self.keys = keys
        self.seen = seen  # spent proof-of-work challenges (needed only under attack)
        self._seed = secrets.token_hex(16)  # orders a pool at the start (only the first opening call's counts)
        self._line_length: dict[str, tuple[float, int]] = {}
        self._decoy_keys = {kid: tokens.hmac_hex(key, DECOY).encode() for kid, key in keys.keys.items()}
        self.space_gates: list[SpaceGate] = []  # withholding by country and the like (trust area)
        self.on_join: list[JoinHook] = []  # counting (uniques, joins) and the like
        self.on_renew: list[RenewHook] = []

    async def _open_space(self, space_id: str, listener: Listener, country: str | None) -> Space:
        space = await self.spaces.cached(space_id)
        if space.state is SpaceState.ENDED:
            raise Gone("space_ended", "this space has ended")
        for gate in self.space_gates:
            await gate(space, listener, country)
        if listener.account is not None:
            ensure_active(listener.account, self.ctx.clock())
            if await self.spaces.is_blocked(space_id, listener.account.id):
                raise Forbidden("removed_from_space", "you were removed from this space")
        return space

    def _token(self, space_id: str, listener: Listener) -> str:
        expires = int(self.ctx.clock()) + self.ctx.settings.listener_token_ttl_s
        claims = Claims(self.keys.signing_kid, Scope.LISTEN, space_id, listener.key, expires, listener.synthetic)
        return sign(claims, self.keys.signing_key)

    def policy(self, space: Space) -> Policy:
        default = self.ctx.settings.admissions_per_minute_default
        live = space.state is SpaceState.LIVE
        return space_policy(space.listener_cap, space.admissions_per_minute, default, live, self._seed)

    def under_attack(self, space: Space) -> bool:
        return space.under_attack or self.ctx.settings.under_attack

    def _ticket(self, space_id: str, listener: Listener, key: bytes) -> str:
        expires = int(self.ctx.clock()) + self.ctx.settings.waiting_ticket_ttl_s
        claims = Claims(self.keys.signing_kid, Scope.WAIT, space_id, listener.key, expires, listener.synthetic)
        return sign(claims, key)

    def _poll_after(self, space: Space, position: int) -> float:
        """Polls far back in line are rare (the place is held minutes after a poll); near the head, often."""
        if position <= 0:  # before the start: the page watches the room state and asks when it goes live
            return 60.0
        per_minute = self.policy(space).rate or 60_000
        wait_s = position / (per_minute / 60)  # until this place is seated, at the pace
        return float(min(120.0, max(2.0, wait_s / 4)))

    def _queued(self, space: Space, position: int, ticket: str) -> Queued:
        return Queued(space, position, ticket, self._poll_after(space, position))

    async def _result(self, space: Space, listener: Listener, outcome: Admitted | Waiting) -> JoinResult:
        if isinstance(outcome, Waiting):
            return self._queued(space, outcome.position, self._ticket(space.id, listener, self.keys.signing_key))
        return Joined(space, self._token(space.id, listener), outcome.lease_expires)

    # --- under attack: a proof of work before a join is answered ----------------------------------
    async def challenge(self, space_id: str) -> proof.Challenge:
        """A fresh challenge; difficulty 0 (no work) while the space is not under attack."""
        space = await self.spaces.cached(space_id)
        s = self.ctx.settings
        bits = s.pow_difficulty_bits if self.under_attack(space) else 0
        key = self.keys.signing_key
        return proof.issue(key, space.id, self.ctx.clock(), s.pow_challenge_ttl_s, bits, secrets.token_urlsafe(12))

    async def _proven(self, space: Space, solution: tuple[str, str] | None) -> bool:
        if solution is None:
            return False
        now = self.ctx.clock()
        found = proof.check(
            solution[0], solution[1], self.keys.signing_key, space.id, now, self.ctx.settings.pow_difficulty_bits
        )
        if found is None or self.seen is None:
            return False
        return await self.seen.first_seen(f"pow:{space.id}:{found.id}", found.expires - now + 1, now)

    async def _decoy_position(self, space: Space, ticket: str) -> int:
        """Somewhere near the back of the real line, never the head: the same shape as a real place."""
        if space.state is not SpaceState.LIVE:
            return 0
        now = self.ctx.clock()
        at, queued = self._line_length.get(space.id, (float("-inf"), 0))
        if now - at > 1.0:  # one look at the line a second per space, however many decoys poll
            queued = await self.seats.queued(space.id, self.policy(space), now)
            if len(self._line_length) > 10_000:
                self._line_length.clear()
            self._line_length[space.id] = (now, queued)
        spread = 20 + queued // 20
        return (
            queued + 1 + int(tokens.hmac_hex(self._decoy_keys[self.keys.signing_kid], ticket.encode())[:8], 16) % spread
        )

    async def _decoy(self, space: Space, listener: Listener) -> Queued:
        ticket = self._ticket(space.id, listener, self._decoy_keys[self.keys.signing_kid])
        return self._queued(space, await self._decoy_position(space, ticket), ticket)

    # --- joining and the waiting room -------------------------------------------------------------
    async def join(
        self,
        space_id: str,
        listener: Listener,
        client: str,
        country: str | None = None,
        solution: tuple[str, str] | None = None,
    ) -> JoinResult:
        s = self.ctx.settings
        await self.ctx.limit(
            f"rl:join:{client}",
            s.joins_per_minute_per_ip,
            60,
            "too_many_joins",
            "too many joins from this address; try again shortly",
        )
        space = await self._open_space(space_id, listener, country)
        if self.under_attack(space) and not await self._proven(space, solution):
            return await self._decoy(space, listener)
        now = self.ctx.clock()
        outcome = await self.seats.join(space.id, listener.key, self.policy(space), now)
        if space.state is SpaceState.SCHEDULED:  # the lobby: a place in the pool drawn at the start,
            return self._lobby(space, listener)  # not a live seat, not a live listen: nothing is counted
        for hook in self.on_join:
            await hook(space, listener, outcome)
        return await self._result(space, listener, outcome)

    def _lobby(self, space: Space, listener: Listener, ticket: str | None = None) -> Lobby:
        return Lobby(space, ticket=ticket or self._ticket(space.id, listener, self.keys.signing_key))

    async def where(self, space_id: str, ticket: str, country: str | None = None) -> JoinResult:
        """Where am I: a cheap poll with the waiting-room ticket (no join, no per-address limit). A place
        that lapsed (no poll for `wait_ticket_ttl_s`) is taken again at the back of the line."""
        space = await self.spaces.cached(space_id)
        if space.state is SpaceState.ENDED:
            raise Gone("space_ended", "this space has ended")
        now = self.ctx.clock()
        try:
            claims = tokens.verify(ticket, self.keys.keys, now, Scope.WAIT, space.id)
        except TownhallError as real:
            try:
                tokens.verify(ticket, self._decoy_keys, now, Scope.WAIT, space.id)
            except TownhallError:
                raise real from None
            return self._queued(space, await self._decoy_position(space, ticket), ticket)
        listener = Listener(claims.subject, synthetic=claims.synthetic)
        policy = self.policy(space)
        outcome = await self.seats.poll(space.id, listener.key, policy, now)
        if outcome is None:
            outcome = await self.seats.join(space.id, listener.key, policy, now)
        if space.state is SpaceState.SCHEDULED:
            return self._lobby(space, listener, ticket)
        if isinstance(outcome, Waiting):
            return self._queued(space, outcome.position, ticket)
        await self._still_welcome(space, listener, country)
        for hook in self.on_join:
            await hook(space, listener, outcome)
        return Joined(space, self._token(space.id, listener), outcome.lease_expires)

    async def _still_welcome(self, space: Space, listener: Listener, country: str | None) -> None:
        """The checks of a join, again when a place in line comes (a removal may have come first)."""
        for gate in self.space_gates:
            await gate(space, listener, country)
        account_id, _ = tokens.subject_ids(listener.key)
        if account_id is not None and await self.spaces.is_blocked(space.id, account_id):
            await self.seats.leave(space.id, listener.key, self.policy(space), self.ctx.clock())
            raise Forbidden("removed_from_space", "you were removed from this space")

    async def renew(self, space_id: str, listener: Listener, country: str | None = None) -> Renewed:
        """Keep the seat and get a fresh listener token; refused (and the seat freed) once the listener
        was removed, blocked or suspended, or the space is withheld in their country."""
        space = await self.spaces.cached(space_id)
        if space.state is SpaceState.ENDED:
            raise Gone("space_ended", "this space has ended")
        revocations = self.spaces.revocations
        if await revocations.revoked(space.id, listener.key):
            await revocations.unseat(space.id, self.policy(space), listener.key)
            raise Forbidden("token_revoked", "you were removed from this space or your account was suspended")
        try:
            for gate in self.space_gates:
                await gate(space, listener, country)
        except LegallyWithheld:
            await revocations.unseat(space.id, self.policy(space), listener.key)
            raise
        expires = await self.seats.renew(space.id, listener.key, self.policy(space), self.ctx.clock())
        if expires is None:
            raise NotFound("lease_lost", "your seat was released; join again")
        for hook in self.on_renew:
            await hook(space, listener)
        return Renewed(self._token(space.id, listener), expires)

    async def leave(self, space_id: str, listener: Listener) -> None:
        space = await self.spaces.cached(space_id)
        await self.seats.leave(space.id, listener.key, self.policy(space), self.ctx.clock())

    async def counts(self, space: Space) -> tuple[int, int]:
        now = self.ctx.clock()
        seated = await self.seats.seated(space.id, self.policy(space), now)
        queued = await self.seats.queued(space.id, self.policy(space), now)
        return seated, queued
