"""Accounts as the rules see them: status, suspension with an optional end, platform roles.

Pure: whether an account may act is a function of the account and the time passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from townhall.domain.errors import Forbidden, Invalid


class AccountStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class PlatformRole(StrEnum):
    ADMIN = "admin"
    MODERATOR = "moderator"
    TRUSTED_FLAGGER = "trusted_flagger"


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    handle: str
    status: AccountStatus
    created_at: float
    suspended_until: float | None = None
    platform_roles: frozenset[PlatformRole] = frozenset()

    def suspended(self, now: float) -> bool:
        if self.status is not AccountStatus.SUSPENDED:
            return False
        return self.suspended_until is None or self.suspended_until > now

    def has_role(self, role: PlatformRole) -> bool:
        return role in self.platform_roles or PlatformRole.ADMIN in self.platform_roles


def ensure_active(account: Account, now: float) -> None:
    """Raise when a suspended account tries anything that grants or uses a role."""
    if account.suspended(now):
        raise Forbidden("account_suspended", "this account is suspended")


def parse_roles(text: str) -> frozenset[PlatformRole]:
    return frozenset(PlatformRole(r) for r in text.split(",") if r in PlatformRole.__members__.values())


def check_password(password: str, minimum: int, maximum: int) -> None:
    if not isinstance(password, str) or len(password) < minimum:
        raise Invalid("password_too_short", f"the password needs at least {minimum} characters")
    if len(password) > maximum:
        raise Invalid("password_too_long", f"the password may have at most {maximum} characters")
