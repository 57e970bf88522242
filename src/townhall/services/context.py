"""What every service receives: settings, the clock, the id source, the event publisher and rate limits.

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
from townhall.settings import Settings
from townhall.store.state.base import PubSub, RateLimits


async def every(period_s: float, work: Callable[[], Awaitable[object]], what: str) -> None:
    """Run `work` every `period_s` seconds until cancelled; a failed round is logged, the next one runs
    (a backend that is down is one line per round, not a stack trace)."""
    log = logging.getLogger("townhall")
    while True:
        await asyncio.sleep(period_s)
        try:
            await work()
        except Unavailable as exc:
            log.warning("%s failed: %s (%s)", what, exc.message, exc.code)
        except Exception:
            log.exception("%s failed", what)


def new_id() -> str:
    return id_from_bytes(secrets.token_bytes(12))


class ContextState(PubSub, RateLimits, Protocol):
    """What the context itself needs of the hot state: the spaces' event channels and rate limits."""


@dataclass
class Context:
    settings: Settings
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
