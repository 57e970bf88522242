"""The listener-facing room state: one small JSON document per space, the same for every listener.

Built at most once per `room_state_max_age_s` per process and served with an ETag through the edge;
never pushed per listener. Reactions are counted per second in hot state and summed over a window.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from townhall.domain.errors import Gone, Invalid
from townhall.domain.roles import VOICES
from townhall.domain.spaces import Space, SpaceState
from townhall.services.admission import AdmissionService
from townhall.services.context import Context
from townhall.services.spaces import SpaceService
from townhall.store.state.base import Counters, Values

REACTIONS = ("clap", "heart", "laugh", "hundred", "raised_hand", "thumbs_up")

# Extra fields for the document (the replay chain head, counts...), added by other areas.
StateContributor = Callable[[Space], Awaitable[dict[str, object]]]


class RoomState(Counters, Values, Protocol):
    """What the room needs of the hot state: reactions counted per second, who is speaking."""


@dataclass(frozen=True, slots=True)
class RoomDocument:
    body: bytes
    etag: str
    built_at: float


class RoomService:
    def __init__(self, ctx: Context, state: RoomState, spaces: SpaceService, admission: AdmissionService) -> None:
        self.ctx = ctx
        self.state = state
        self.spaces = spaces
        self.admission = admission
        self.contributors: list[StateContributor] = []
        self._docs: dict[str, RoomDocument] = {}

    async def react(self, space_id: str, kind: str, listener_key: str) -> None:
        if kind not in REACTIONS:
            raise Invalid("unknown_reaction", f"reaction must be one of: {', '.join(REACTIONS)}")
        space = await self.spaces.cached(space_id)
        if space.state is not SpaceState.LIVE:
            raise Gone("space_not_live", "reactions are open only while the space is live")
        s = self.ctx.settings
        await self.ctx.limit(
            f"rl:react:{space_id}:{listener_key}",
            s.reactions_per_minute,
            60,
            "too_many_reactions",
            "slow down: too many reactions",
        )
        now = self.ctx.clock()
        await self.state.hincr(f"react:{space_id}:{int(now)}", kind, 1, s.reaction_window_s + 5, now)

    async def reactions(self, space_id: str) -> dict[str, int]:
        now = self.ctx.clock()
        totals: dict[str, int] = {}
        for second in range(int(now) - self.ctx.settings.reaction_window_s + 1, int(now) + 1):
            for kind, n in (await self.state.hgetall(f"react:{space_id}:{second}", now)).items():
                totals[kind] = totals.get(kind, 0) + n
        return totals

    async def speaking(self, space_id: str) -> set[str]:
        raw = await self.state.get(f"speaking:{space_id}", self.ctx.clock())
        return set(json.loads(raw)) if raw else set()

    async def document(self, space_id: str) -> RoomDocument:
        now = self.ctx.clock()
        cached = self._docs.get(space_id)
        if cached is not None and now - cached.built_at < self.ctx.settings.room_state_max_age_s:
            return cached
        space = await self.spaces.cached(space_id)
        doc = await self._build(space)
        body = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
        built = RoomDocument(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"', now)
        self._docs[space_id] = built
        if len(self._docs) > 10_000:
            self._docs = {k: v for k, v in self._docs.items() if now - v.built_at < 10}
        return built

    async def _build(self, space: Space) -> dict[str, object]:
        roster = await self.spaces.roster(space.id)
        speaking = await self.speaking(space.id)
        listeners, waiting = await self.admission.counts(space)
        host = next((m for m in roster if m.account_id == space.host_id), None)
        order = {"host": 0, "cohost": 1, "speaker": 2}
        voices = sorted((m for m in roster if m.role in VOICES and not m.blocked), key=lambda m: order[m.role.value])
        doc: dict[str, object] = {
            "space": {
                "id": space.id,
                "title": space.title,
                "state": space.state.value,
                "host": host.handle if host else None,
                "started_at": space.started_at,
                "ended_at": space.ended_at,
                "scheduled_start": space.scheduled_start,
                "listener_cap": space.listener_cap,
            },
            "speakers": [
                {
                    "account_id": m.account_id,
                    "handle": m.handle,
                    "role": m.role.value,
                    "muted": m.muted,
                    "speaking": m.account_id in speaking and not m.muted,
                }
                for m in voices
            ],
            "listeners": listeners,
            "waiting": waiting,
            "reactions": await self.reactions(space.id),
        }
        for contribute in self.contributors:
            doc.update(await contribute(space))
        return doc
