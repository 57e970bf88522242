"""What every service receives: its limits (the settings, given by the root), the clock, hot state, id source
and the event publisher.

Built once in app.py; services never construct their own adapters. Any other hot state a service needs
comes to it as its own narrow port (store/state/base.py), passed by the root.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from townhall.domain.errors import RateLimited, Unavailable
from townhall.domain.ids import id_from_bytes
from townhall.store.state.base import PubSub, RateLimits


async def every(period_s: float, work: Callable[[], Awaitable[object]], what: str) -> None:
    """Run `work` every `period_s` seconds until cancelled; a failed round is logged, the next one runs
    (a backend that is down is one line per round, not a stack trace)."""
    log = logging.getLogger("townhall")
    while True:
        await asyncio.sleep(period_s)
        try:
            await work()
        except Exception as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # the cancel landed in a driver that reported it as its own error ("the database is
                # unreachable"): going on would never stop, and a media node's drain waited behind it
                raise asyncio.CancelledError() from exc
            if isinstance(exc, Unavailable):
                log.warning("%s failed: %s (%s)", what, exc.message, exc.code)
            else:
                log.exception("%s failed", what)


def new_id() -> str:
    return id_from_bytes(secrets.token_bytes(12))


class Limits(Protocol):
    """The settings services read: limits, windows and time-to-lives. The root passes its settings, which
    have every one of these; services never import the settings module."""

    appeal_window_months: int
    clip_max_s: float
    clips_per_hour_per_viewer: int
    count_peak_sample_s: float
    dsa_terms_url: str
    joins_per_minute_per_ip: int
    admissions_per_minute_default: int
    admissions_per_minute_max: int
    under_attack: bool
    pow_difficulty_bits: int
    pow_challenge_ttl_s: int
    waiting_ticket_ttl_s: int
    list_limit_max: int
    listener_cap_max: int
    listener_token_ttl_s: int
    login_per_minute_per_ip: int
    misuse_notifier_min_share: float
    misuse_repeat_suspend_days: int
    misuse_strikes_to_warn: int
    misuse_suspend_days: int
    misuse_window_days: int
    notice_explanation_max: int
    notice_items_max: int
    notices_per_hour_per_reporter: int
    password_hash_memory_kib: int
    password_hash_time_cost: int
    password_max: int
    password_min: int
    reaction_window_s: int
    reactions_per_minute: int
    recording_sweep_s: float
    register_per_minute_per_ip: int
    replay_publish_wait_s: float
    replay_retention_days: float
    room_state_max_age_s: int
    session_ttl_s: int
    spaces_per_hour_per_account: int
    speak_requests_max: int
    speak_requests_per_minute: int
    speaker_token_ttl_s: int
    title_max: int


class ContextState(PubSub, RateLimits, Protocol):
    """What the context itself needs of the hot state: the spaces' event channels and rate limits."""


@dataclass
class Context:
    settings: Limits
    state: ContextState
    clock: Callable[[], float]
    make_id: Callable[[], str] = field(default=new_id)

    async def publish(self, space_id: str, event: dict[str, object]) -> None:
        """Send an event to the space's channel: media nodes and host/speaker pages listen there."""
        await self.state.publish(f"space:{space_id}", json.dumps(event, separators=(",", ":")).encode())

    async def limit(self, key: str, limit: int, window_s: float, code: str, message: str) -> None:
        now = self.clock()
        if not await self.state.hit(key, limit, window_s, now):
            raise RateLimited(code, message, retry_after=max(1.0, window_s - (now % window_s)))
