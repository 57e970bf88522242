"""Accounts and sessions: register, log in, authenticate a bearer token, change status and roles.

Passwords are hashed with argon2 off the event loop; session tokens are random, signed (so the edge can
route a session it did not forge to the staff lane, domain/tokens.py `sign_session`) and stored hashed.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from typing import Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from townhall.domain.accounts import Account, AccountStatus, check_password
from townhall.domain.errors import NotFound, Unauthenticated
from townhall.domain.ids import check_handle
from townhall.domain.tokens import sign_session
from townhall.services.context import Context
from townhall.services.keys import TokenKeys

SEEN_SESSIONS_MAX = 100_000  # sessions remembered as seen valid, the oldest forgotten first
SEEN_SESSION_S = 3600.0  # how long a session seen valid keeps its priority without being seen again


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts(Protocol):
    """Where accounts are kept (the root passes the SQL repository)."""

    async def create(self, account_id: str, handle: str, password_hash: str, now: float) -> Account: ...
    async def by_handle(self, handle: str) -> tuple[Account, str] | None: ...
    async def get(self, account_id: str) -> Account | None: ...
    async def set_status(self, account_id: str, status: AccountStatus, until: float | None) -> None: ...
    async def set_roles(self, account_id: str, roles: frozenset[str]) -> None: ...


class Sessions(Protocol):
    """Where sign-in sessions are kept, by the hash of their token."""

    async def create(self, token_hash: str, account_id: str, now: float, expires_at: float) -> None: ...
    async def account_for(self, token_hash: str, now: float) -> Account | None: ...
    async def delete(self, token_hash: str) -> None: ...


@dataclass(frozen=True, slots=True)
class SignedIn:
    account: Account
    session_token: str
    expires_at: float


class AccountService:
    def __init__(self, ctx: Context, accounts: Accounts, sessions: Sessions, keys: TokenKeys) -> None:
        self.ctx = ctx
        self.keys = keys  # a session token is signed (domain/tokens.py sign_session) so the edge can route it
        self.accounts = accounts
        self.sessions = sessions
        self.hasher = PasswordHasher(
            time_cost=ctx.settings.password_hash_time_cost, memory_cost=ctx.settings.password_hash_memory_kib
        )
        # a hash to verify against when the handle is unknown, so timing does not reveal handles
        self._dummy_hash = self.hasher.hash("not-a-password")
        # sessions seen valid lately (hash -> expiry), newest last: a hint for priority admission
        # (api/shedding.py) that costs no lookup; never an authorisation, which is `authenticate`'s
        self._seen: dict[str, float] = {}

    def seen_valid(self, bearer: str) -> bool:
        """Whether this session token was valid when last checked here (a hint: it may since have been
        revoked; `authenticate` still decides)."""
        expires = self._seen.get(token_hash(bearer))
        return expires is not None and expires > self.ctx.clock()

    def _remember(self, hashed: str, expires: float) -> None:
        self._seen.pop(hashed, None)
        self._seen[hashed] = expires
        if len(self._seen) > SEEN_SESSIONS_MAX:
            del self._seen[next(iter(self._seen))]

    async def register(self, handle: str, password: str, client: str) -> SignedIn:
        s = self.ctx.settings
        await self.ctx.limit(
            f"rl:register:{client}",
            s.register_per_minute_per_ip,
            60,
            "too_many_registrations",
            "too many accounts registered from this address; try again later",
        )
        check_handle(handle)
        check_password(password, s.password_min, s.password_max)
        hashed = await asyncio.to_thread(self.hasher.hash, password)
        account = await self.accounts.create(self.ctx.make_id(), handle, hashed, self.ctx.clock())
        return await self._new_session(account)

    async def login(self, handle: str, password: str, client: str) -> SignedIn:
        s = self.ctx.settings
        await self.ctx.limit(
            f"rl:login:{client}",
            s.login_per_minute_per_ip,
            60,
            "too_many_logins",
            "too many sign-in attempts from this address; try again later",
        )
        found = await self.accounts.by_handle(handle) if isinstance(handle, str) else None
        stored = found[1] if found else self._dummy_hash
        try:
            await asyncio.to_thread(self.hasher.verify, stored, str(password)[: s.password_max])
        except (VerificationError, InvalidHashError):
            found = None
        if found is None:
            raise Unauthenticated("bad_credentials", "handle or password is wrong")
        return await self._new_session(found[0])

    async def _new_session(self, account: Account) -> SignedIn:
        now = self.ctx.clock()
        expires = now + self.ctx.settings.session_ttl_s
        token = sign_session(secrets.token_urlsafe(32), int(expires), self.keys.signing_kid, self.keys.signing_key)
        await self.sessions.create(token_hash(token), account.id, now, expires)
        self._remember(token_hash(token), min(expires, now + SEEN_SESSION_S))
        return SignedIn(account, token, expires)

    async def authenticate(self, bearer: str | None) -> Account:
        if not bearer:
            raise Unauthenticated("not_signed_in", "sign in first (Authorization: Bearer <session token>)")
        account = await self.sessions.account_for(token_hash(bearer), self.ctx.clock())
        if account is None:
            self._seen.pop(token_hash(bearer), None)
            raise Unauthenticated("session_invalid", "the session has expired or is not valid; sign in again")
        self._remember(token_hash(bearer), self.ctx.clock() + SEEN_SESSION_S)
        return account

    async def logout(self, bearer: str) -> None:
        self._seen.pop(token_hash(bearer), None)
        await self.sessions.delete(token_hash(bearer))

    async def get(self, account_id: str) -> Account:
        account = await self.accounts.get(account_id)
        if account is None:
            raise NotFound("account_not_found", "no such account")
        return account

    async def by_handle(self, handle: str) -> Account:
        found = await self.accounts.by_handle(handle)
        if found is None:
            raise NotFound("account_not_found", "no such account")
        return found[0]

    async def set_status(self, account_id: str, status: AccountStatus, until: float | None = None) -> Account:
        await self.get(account_id)
        await self.accounts.set_status(account_id, status, until)
        return await self.get(account_id)

    async def grant(self, account_id: str, role: str) -> Account:
        account = await self.get(account_id)
        await self.accounts.set_roles(account_id, frozenset({*account.platform_roles, role}))
        return await self.get(account_id)
