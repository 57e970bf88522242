"""A space and its lifecycle: scheduled -> live -> ended, with the limits a host can set.

Pure data and transitions; persistence and events live in services.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, replace
from enum import StrEnum

from townhall.domain.errors import Conflict, Invalid
from townhall.domain.roles import Role


class SpaceState(StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class Space:
    id: str
    host_id: str
    title: str
    state: SpaceState
    created_at: float
    scheduled_start: float | None = None
    listener_cap: int | None = None
    admissions_per_minute: int | None = None  # None: the platform's default (settings)
    under_attack: bool = False  # joins need a proof of work (decision 0010)
    recording: bool = True
    replay_public: bool = True
    started_at: float | None = None
    ended_at: float | None = None
    ended_reason: str | None = None

    @property
    def is_live(self) -> bool:
        return self.state is SpaceState.LIVE


@dataclass(frozen=True, slots=True)
class Member:
    """An account's place in a space: its role, and whether it is muted, blocked or invited."""

    space_id: str
    account_id: str
    handle: str
    role: Role
    muted: bool
    blocked: bool
    invited: bool


@dataclass(frozen=True, slots=True)
class SpaceLimits:
    title_max: int = 140
    cap_max: int = 10_000_000
    rate_max: int = 1_000_000
    schedule_horizon_s: float = 90 * 86400.0


def check_new_space(
    title: str,
    scheduled_start: float | None,
    listener_cap: int | None,
    now: float,
    limits: SpaceLimits,
) -> str:
    """Validate what a host asks for; return the cleaned title."""
    cleaned = " ".join(str(title).split())
    if not cleaned:
        raise Invalid("invalid_title", "a space needs a title")
    if any(unicodedata.category(c) == "Cc" for c in cleaned):  # NUL is refused by PostgreSQL: a 500 once
        raise Invalid("invalid_title", "a title cannot contain control characters")
    if len(cleaned) > limits.title_max:
        raise Invalid("title_too_long", f"the title is longer than {limits.title_max} characters")
    if listener_cap is not None and not (1 <= listener_cap <= limits.cap_max):
        raise Invalid("invalid_cap", f"the listener cap must be between 1 and {limits.cap_max}")
    if scheduled_start is not None:
        if scheduled_start < now - 60:
            raise Invalid("schedule_in_past", "the scheduled start is in the past")
        if scheduled_start > now + limits.schedule_horizon_s:
            raise Invalid("schedule_too_far", "the scheduled start is too far ahead")
    return cleaned


def check_admission(listener_cap: int | None, admissions_per_minute: int | None, limits: SpaceLimits) -> None:
    """The waiting room's two settings: listeners seated at most, and new admissions a minute."""
    if listener_cap is not None and not (1 <= listener_cap <= limits.cap_max):
        raise Invalid("invalid_cap", f"the listener cap must be between 1 and {limits.cap_max}")
    if admissions_per_minute is not None and not (1 <= admissions_per_minute <= limits.rate_max):
        raise Invalid("invalid_rate", f"admissions a minute must be between 1 and {limits.rate_max}")


def start(space: Space, now: float) -> Space:
    if space.state is SpaceState.LIVE:
        return space
    if space.state is SpaceState.ENDED:
        raise Conflict("space_ended", "this space has ended and cannot start again")
    return replace(space, state=SpaceState.LIVE, started_at=now)


def end(space: Space, now: float, reason: str = "host") -> Space:
    if space.state is SpaceState.ENDED:
        return space
    return replace(space, state=SpaceState.ENDED, ended_at=now, ended_reason=reason)
