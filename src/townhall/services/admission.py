"""Joining a space as a listener: a seat with a renewable lease and a signed listener token, or a
place in the waiting room. The hot path of the control plane: no SQL for anonymous listeners.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from townhall.domain import tokens
from townhall.domain.accounts import Account, ensure_active
from townhall.domain.admission import Admission, Admitted, Waiting
from townhall.domain.errors import Forbidden, Gone, Invalid, LegallyWithheld, NotFound
from townhall.domain.ids import check_device
from townhall.domain.spaces import Space, SpaceState
from townhall.domain.tokens import Claims, Scope, sign
from townhall.services.context import Context
from townhall.services.keys import TokenKeys
from townhall.services.spaces import SpaceService
from townhall.store.state.base import SeatBook


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
    position: int


@dataclass(frozen=True, slots=True)
class Lobby:
    """The space has not started: the listener waits in its lobby, with no seat, no token and no listen
    counted; `retry_after_s` says when to ask again (it starts when the host starts it)."""

    space: Space
    retry_after_s: float = 3.0


@dataclass(frozen=True, slots=True)
class Renewed:
    token: str  # a fresh listener token: tokens are short-lived, each renewal extends it
    lease_expires: float


JoinResult = Joined | Queued | Lobby
SpaceGate = Callable[[Space, Listener, str | None], Awaitable[None]]
JoinHook = Callable[[Space, Listener, Admission], Awaitable[None]]
RenewHook = Callable[[Space, Listener], Awaitable[None]]


class AdmissionService:
    def __init__(self, ctx: Context, seats: SeatBook, spaces: SpaceService, keys: TokenKeys) -> None:
        self.ctx = ctx
        self.seats = seats
        self.spaces = spaces
        self.keys = keys
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

    async def _result(self, space: Space, listener: Listener, outcome: Admitted | Waiting) -> JoinResult:
        if isinstance(outcome, Waiting):
            return Queued(space, outcome.position)
        return Joined(space, self._token(space.id, listener), outcome.lease_expires)

    async def join(self, space_id: str, listener: Listener, client: str, country: str | None = None) -> JoinResult:
        s = self.ctx.settings
        await self.ctx.limit(
            f"rl:join:{client}",
            s.joins_per_minute_per_ip,
            60,
            "too_many_joins",
            "too many joins from this address; try again shortly",
        )
        space = await self._open_space(space_id, listener, country)
        if space.state is SpaceState.SCHEDULED:
            return Lobby(space)  # not a live seat, not a live listen: nothing is booked or counted
        now = self.ctx.clock()
        outcome = await self.seats.join(space.id, listener.key, space.listener_cap, now)
        for hook in self.on_join:
            await hook(space, listener, outcome)
        return await self._result(space, listener, outcome)

    async def renew(self, space_id: str, listener: Listener, country: str | None = None) -> Renewed:
        """Keep the seat and get a fresh listener token; refused (and the seat freed) once the listener
        was removed, blocked or suspended, or the space is withheld in their country."""
        space = await self.spaces.cached(space_id)
        if space.state is SpaceState.ENDED:
            raise Gone("space_ended", "this space has ended")
        revocations = self.spaces.revocations
        if await revocations.revoked(space.id, listener.key):
            await revocations.unseat(space.id, space.listener_cap, listener.key)
            raise Forbidden("token_revoked", "you were removed from this space or your account was suspended")
        try:
            for gate in self.space_gates:
                await gate(space, listener, country)
        except LegallyWithheld:
            await revocations.unseat(space.id, space.listener_cap, listener.key)
            raise
        expires = await self.seats.renew(space.id, listener.key, space.listener_cap, self.ctx.clock())
        if expires is None:
            raise NotFound("lease_lost", "your seat was released; join again")
        for hook in self.on_renew:
            await hook(space, listener)
        return Renewed(self._token(space.id, listener), expires)

    async def leave(self, space_id: str, listener: Listener) -> None:
        space = await self.spaces.cached(space_id)
        await self.seats.leave(space.id, listener.key, space.listener_cap, self.ctx.clock())

    async def counts(self, space: Space) -> tuple[int, int]:
        now = self.ctx.clock()
        seated = await self.seats.seated(space.id, space.listener_cap, now)
        queued = await self.seats.queued(space.id, space.listener_cap, now)
        return seated, queued
