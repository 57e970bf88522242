"""A space's lifecycle and what a host may ask for when creating one."""

from __future__ import annotations

import pytest

from townhall.domain import spaces
from townhall.domain.errors import Conflict, Invalid
from townhall.domain.spaces import Space, SpaceLimits, SpaceState

LIMITS = SpaceLimits(title_max=20, cap_max=100)


def new_space() -> Space:
    return Space("s1", "h1", "t", SpaceState.SCHEDULED, created_at=0.0)


def test_lifecycle_goes_scheduled_live_ended() -> None:
    live = spaces.start(new_space(), 10.0)
    assert live.state is SpaceState.LIVE and live.started_at == 10.0
    ended = spaces.end(live, 20.0, "host")
    assert ended.state is SpaceState.ENDED and ended.ended_at == 20.0 and ended.ended_reason == "host"


def test_an_ended_space_cannot_start_again() -> None:
    with pytest.raises(Conflict):
        spaces.start(spaces.end(new_space(), 1.0), 2.0)


def test_ending_twice_keeps_the_first_end() -> None:
    ended = spaces.end(new_space(), 1.0)
    assert spaces.end(ended, 5.0) is ended


@pytest.mark.parametrize(
    ("title", "start", "cap", "code"),
    [
        ("   ", None, None, "invalid_title"),
        ("x" * 21, None, None, "title_too_long"),
        ("ok", None, 0, "invalid_cap"),
        ("ok", None, 101, "invalid_cap"),
        ("ok", -1000.0, None, "schedule_in_past"),
        ("ok", 1e12, None, "schedule_too_far"),
    ],
)
def test_bad_requests_are_refused_with_a_code(title: str, start: float | None, cap: int | None, code: str) -> None:
    with pytest.raises(Invalid) as err:
        spaces.check_new_space(title, start, cap, 0.0, LIMITS)
    assert err.value.code == code


def test_title_whitespace_is_folded() -> None:
    assert spaces.check_new_space("  a   b ", None, 5, 0.0, LIMITS) == "a b"
