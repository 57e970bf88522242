"""Clips: up to a minute cut by any listener from a live space or its replay, made from the original
segments by remuxing and trimming at access-unit boundaries (never re-encoded), stored once.

Never cuts from a space whose host chose not to publish its recording.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from townhall.domain.errors import Forbidden, Gone, Invalid, NotFound
from townhall.domain.objects import replay_prefix
from townhall.domain.replay.chain import TIMESCALE, Link
from townhall.domain.spaces import SpaceState
from townhall.services.context import Context
from townhall.services.replay import ReplayService
from townhall.services.spaces import SpaceService

TITLE_MAX = 140
CLIP_MIN_S = 0.1  # shorter rounds to no audio at all (a fuzzer sent 2.2e-308)
CLIP_START_MAX_S = 10_000_000.0  # about 115 days: far past any recording, still finite in media time


def clip_key(space_id: str, clip_id: str) -> str:
    return f"{replay_prefix(space_id)}clips/{clip_id}.m4a"


def covering(links: list[Link], start: int, end: int) -> list[Link]:
    """The segments whose media time overlaps [start, end)."""
    return [x for x in links if x.media_time < end and x.media_time + x.duration > start]


class Clips(Protocol):
    """Where clips are kept, one row each."""

    async def add(self, row: Mapping[str, object]) -> None: ...
    async def get(self, clip_id: str) -> dict[str, Any] | None: ...
    async def of_space(self, space_id: str, limit: int) -> list[dict[str, Any]]: ...


class ClipService:
    def __init__(self, ctx: Context, clips: Clips, spaces: SpaceService, replay: ReplayService) -> None:
        self.ctx = ctx
        self.clips = clips
        self.spaces = spaces
        self.replay = replay
        # (space id, country) -> raise to refuse: withholding by country (the trust area), 451
        self.gates: list[Callable[[str, str | None], Awaitable[None]]] = []

    async def create(
        self,
        space_id: str,
        creator: str,
        duration_s: float,
        start_s: float | None = None,
        title: str = "",
        country: str | None = None,
    ) -> dict[str, Any]:
        """Cut a clip; `start_s` is seconds from the start of the recording, None for the latest audio.
        Refused (451) where the space is withheld in the requester's `country`."""
        s = self.ctx.settings
        if not (CLIP_MIN_S <= duration_s <= s.clip_max_s):
            raise Invalid(
                "invalid_clip_length", f"a clip lasts at least {CLIP_MIN_S:g} and at most {s.clip_max_s:g} seconds"
            )
        if start_s is not None and not (0 <= start_s <= CLIP_START_MAX_S):
            raise Invalid("invalid_clip_start", f"start_s must be from 0 to {CLIP_START_MAX_S:g} seconds")
        space = await self.spaces.get(space_id)
        for gate in self.gates:
            await gate(space.id, country)
        if not space.replay_public:
            raise Forbidden("clips_not_allowed", "the host chose not to publish this space's recording")
        if space.state is SpaceState.ENDED:
            await self.replay.published(space_id)  # the replay must be out, and not deleted
        elif space.state is not SpaceState.LIVE:
            raise Invalid("space_not_started", "this space has not started")
        await self.ctx.limit(
            f"rl:clip:{creator}", s.clips_per_hour_per_viewer, 3600, "too_many_clips", "you have cut many clips"
        )
        rows = await self.replay.links.links(space_id)
        links = [link for link, _ in rows]
        if not links:
            raise NotFound("nothing_recorded", "nothing has been recorded yet")
        origin = links[0].media_time
        recorded_end = links[-1].media_time + links[-1].duration
        length = round(duration_s * TIMESCALE)
        start = origin + round(start_s * TIMESCALE) if start_s is not None else max(origin, recorded_end - length)
        end = min(start + length, recorded_end)
        if start >= recorded_end:
            raise Invalid("clip_out_of_range", "the clip starts after the end of the recording")
        wanted = {x.msn for x in covering(links, start, end)}
        chosen = [(x, key) for x, key in rows if x.msn in wanted]
        audio, _ = await self.replay.remux(space_id, chosen, start / TIMESCALE, end / TIMESCALE)
        clip_id = self.ctx.make_id()
        await self.replay.blobs.put_immutable(clip_key(space_id, clip_id), audio)
        row = {
            "id": clip_id,
            "space_id": space_id,
            "creator": creator,
            "title": " ".join(title.split())[:TITLE_MAX],
            "start_ms": (start - origin) * 1000 // TIMESCALE,
            "duration_ms": (end - start) * 1000 // TIMESCALE,
            "source": "live" if space.state is SpaceState.LIVE else "replay",
            "blob_key": clip_key(space_id, clip_id),
            "sha256": hashlib.sha256(audio).hexdigest(),
            "segments": [{"msn": x.msn, "sha256": x.sha256} for x, _ in chosen],
            "created_at": self.ctx.clock(),
        }
        await self.clips.add(row)
        return row

    async def get(self, clip_id: str) -> dict[str, Any]:
        row = await self.clips.get(clip_id) if isinstance(clip_id, str) and len(clip_id) <= 64 else None
        if row is None:
            raise NotFound("clip_not_found", "no such clip")
        record = await self.replay.recordings.get(row["space_id"])
        if record is not None and record.state == "deleted":
            raise Gone("clip_deleted", "the recording this clip came from was deleted")
        return row

    async def of_space(self, space_id: str) -> list[dict[str, Any]]:
        return await self.clips.of_space(space_id, self.ctx.settings.list_limit_max)
