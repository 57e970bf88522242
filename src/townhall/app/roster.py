"""The roster, re-read by the media node that runs a space: every `media_roster_reconcile_s` it reads from
the database whether each of its publishers is muted and may still speak, and enforces that.

The events on `space:<id>` are the fast path; the database row is the decision. A mute, unmute or
removal written while Redis was away (its event lost), or an event dropped by a pub/sub reconnect, is
enforced on the next re-read: within `media_roster_reconcile_s`, with Redis or without it.
"""

from __future__ import annotations

import asyncio
import contextlib

from townhall.domain.roles import VOICES
from townhall.media.thread import ThreadedMedia
from townhall.services.context import every
from townhall.store.sql.repos import MemberRepo


async def reconcile_roster(media: ThreadedMedia, members: MemberRepo) -> int:
    """One re-read of the roster of every space with publishers; how many decisions it enforced."""
    enforced = 0
    for space_id, voices in (await media.voices()).items():
        rows = await members.of_accounts(space_id, voices)
        roster = {m.account_id: (m.muted, not m.blocked and m.role in VOICES) for m in rows}
        enforced += await media.reconcile(space_id, roster)
    return enforced


class RosterReader:
    """Runs `reconcile_roster` every `period_s` seconds while started."""

    def __init__(self, media: ThreadedMedia, members: MemberRepo, period_s: float) -> None:
        self.media, self.members, self.period_s = media, members, period_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None and self.period_s > 0:
            work = lambda: reconcile_roster(self.media, self.members)  # noqa: E731
            self._task = asyncio.create_task(every(self.period_s, work, "roster re-read"), name="roster-re-read")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
