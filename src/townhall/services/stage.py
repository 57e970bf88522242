"""A live space that nobody hosts ends by itself, as listeners of live audio apps expect: when no host,
co-host or speaker has been on stage (publishing) for a grace period, the platform ends it with the reason
`unattended`, and its listeners are told why (the space's `ended` event and its `ended_reason`).

The media node that runs a space marks the stage as attended in the hot state while anyone publishes
(`stage_attended`); this watch, in every control-plane process, ends what has gone quiet. A process that
has just started gives every space the whole grace period from its start, so a restart never ends a space
whose host is about to reconnect."""

from __future__ import annotations

import asyncio
import logging

from townhall.domain.channels import STAGE_MARK_EVERY_S, stage_attended_key
from townhall.domain.errors import TownhallError
from townhall.domain.spaces import SpaceState
from townhall.services.context import Context, every
from townhall.services.spaces import SpaceService
from townhall.store.state.base import Values

log = logging.getLogger("townhall")

REASON = "unattended"


class StageWatch:
    def __init__(self, ctx: Context, values: Values, spaces: SpaceService, grace_s: float) -> None:
        self.ctx = ctx
        self.values = values
        self.spaces = spaces
        self.grace_s = grace_s
        self.watching_since = ctx.clock()
        self._task: asyncio.Task[None] | None = None

    async def last_attended(self, space_id: str) -> float | None:
        """Until when the stage was surely attended: the media node's last mark, which it renews every
        STAGE_MARK_EVERY_S while anyone publishes."""
        raw = await self.values.get(stage_attended_key(space_id), self.ctx.clock())
        return float(raw) + STAGE_MARK_EVERY_S if raw else None

    async def sweep(self) -> list[str]:
        """End each live space whose stage has been empty for the grace period; the ids ended."""
        now, ended = self.ctx.clock(), []
        for space in await self.spaces.find([SpaceState.LIVE], self.ctx.settings.list_limit_max):
            last = max(space.started_at or 0.0, self.watching_since, await self.last_attended(space.id) or 0.0)
            if now - last < self.grace_s:
                continue
            try:
                await self.spaces.end(None, space.id, reason=REASON)
            except TownhallError:  # another process ended it first
                continue
            log.info("space %s ended: nobody on stage for %.0f s", space.id, now - last)
            ended.append(space.id)
        return ended

    async def start(self) -> None:
        if self.grace_s > 0:
            period = min(30.0, max(1.0, self.grace_s / 10))
            self._task = asyncio.create_task(every(period, self.sweep, "stage watch"), name="stage-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
