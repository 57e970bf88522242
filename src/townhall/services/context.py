"""What every service receives: settings, the clock, hot state, id source and the event publisher.

Built once in app.py; services never construct their own adapters.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from townhall.domain.ids import id_from_bytes
from townhall.settings import Settings
from townhall.store.state.base import StateStore


def new_id() -> str:
    return id_from_bytes(secrets.token_bytes(12))


@dataclass
class Context:
    settings: Settings
    state: StateStore
    clock: Callable[[], float]
    make_id: Callable[[], str] = field(default=new_id)

    async def publish(self, space_id: str, event: dict[str, object]) -> None:
        """Send an event to the space's channel: media nodes and host/speaker pages listen there."""
        await self.state.publish(f"space:{space_id}", json.dumps(event, separators=(",", ":")).encode())

    async def limit(self, key: str, limit: int, window_s: float, code: str, message: str) -> None:
        from townhall.domain.errors import RateLimited

        now = self.clock()
        if not await self.state.hit(key, limit, window_s, now):
            raise RateLimited(code, message, retry_after=max(1.0, window_s - (now % window_s)))
