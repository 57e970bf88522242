"""Recording and replay: extends the hash chain as each segment completes (the media node's on_segment
hook, queued so the media node never waits), publishes the live head, and when the space ends publishes
the replay (VOD playlist over the very segments heard, a remuxed download, an Ed25519-signed manifest)
or keeps it unpublished for review.

Never re-encodes and never rewrites a published object; recordings not published are deleted by the
sweep after the retention period.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol

from townhall.domain import replay as chain
from townhall.domain.channels import programme_channel, programme_stopped_key
from townhall.domain.errors import Forbidden, Gone, NotFound
from townhall.domain.recordings import Recording
from townhall.domain.spaces import Space
from townhall.services.context import Context, every
from townhall.services.recording_keys import ReplayKeys
from townhall.services.remux import remux_m4a
from townhall.store.blobs.base import BlobStore
from townhall.store.sql.repos_recording import ChainRepo, RecordingRepo
from townhall.store.state.base import PubSub, Values

log = logging.getLogger("townhall.replay")
LAST_SEGMENT = re.compile(rb"^s(\d+)\.m4s$", re.MULTILINE)
HEAD_TTL_S = 2 * 86400  # the live head outlives the space briefly; the replay's manifest keeps it for good


class ReplayState(Values, PubSub, Protocol):
    """What replay needs of the hot state: the live chain head (kept and announced), and the media node's
    note that a programme stopped."""


class SegmentInfo(Protocol):
    """What the media node tells about each stored segment (media.recorder.SegmentRecord)."""

    @property
    def msn(self) -> int: ...
    @property
    def key(self) -> str: ...
    @property
    def media_time(self) -> int: ...
    @property
    def duration(self) -> float: ...
    @property
    def sha256(self) -> str: ...
    @property
    def program_date_time(self) -> float: ...


def live_prefix(space_id: str) -> str:
    return f"live/{space_id}/"


def replay_prefix(space_id: str) -> str:
    return f"replay/{space_id}/"


def chain_key(space_id: str) -> str:
    return f"chain:{space_id}"


class ReplayService:
    def __init__(
        self,
        ctx: Context,
        state: ReplayState,
        links: ChainRepo,
        recordings: RecordingRepo,
        blobs: BlobStore,
        keys: ReplayKeys,
        keys_url: str,
    ) -> None:
        self.ctx = ctx
        self.state = state
        self.links = links
        self.recordings = recordings
        self.blobs = blobs
        self.keys = keys
        self.keys_url = keys_url
        self._last: dict[str, chain.Link] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._inbox: dict[str, asyncio.Queue[SegmentInfo]] = {}
        self._chainers: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._finishing: dict[str, asyncio.Future[Recording | None]] = {}
        self._sweeper: asyncio.Task[None] | None = None
        # told (space, msn, head) as each link is stored: the media node lists the head in its playlist
        self.on_head: list[Callable[[str, int, str], object]] = []

    # --- live: the chain grows with each segment ------------------------------------------------
    def on_segment(self, space_id: str, info: SegmentInfo) -> None:
        """The media node's hook: queue the segment and return at once, so a slow database never delays
        the next part; one task per space extends the chain in order."""
        inbox = self._inbox.get(space_id)
        if inbox is None:
            inbox = self._inbox[space_id] = asyncio.Queue()
            self._chainers[space_id] = asyncio.create_task(self._chain(space_id, inbox), name=f"chain-{space_id}")
        inbox.put_nowait(info)

    async def _chain(self, space_id: str, inbox: asyncio.Queue[SegmentInfo]) -> None:
        while True:
            info = await inbox.get()
            try:
                await self.extend(space_id, info)
            except Exception:
                log.exception("could not chain segment %s of space %s", info.msn, space_id)
            finally:
                inbox.task_done()

    async def _settle(self, space_id: str) -> None:
        """Wait until every queued segment of the space is chained, then stop its task."""
        inbox, task = self._inbox.pop(space_id, None), self._chainers.pop(space_id, None)
        if inbox is not None:
            await inbox.join()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def extend(self, space_id: str, info: SegmentInfo) -> chain.Link | None:
        """Extend the space's chain with a stored segment, persist the link, publish the new head."""
        async with self._locks.setdefault(space_id, asyncio.Lock()):
            previous = self._last.get(space_id) or await self.links.last(space_id)
            if previous is not None and info.msn <= previous.msn:
                return None  # told twice (a restarted node): the chain already holds it
            link = chain.extend(
                previous,
                space_id,
                msn=info.msn,
                media_time=info.media_time,
                duration=round(info.duration * chain.TIMESCALE),
                sha256=info.sha256,
                uri=info.key.rsplit("/", 1)[-1],
                program_date_time_ms=round(info.program_date_time * 1000),
            )
            await self.links.add(space_id, link, info.key)
            self._last[space_id] = link
            head = {"msn": link.msn, "head": link.head, "media_time": link.media_time}
            await self.state.put(chain_key(space_id), json.dumps(head).encode(), self.ctx.clock(), ttl_s=HEAD_TTL_S)
            await self.state.publish(chain_key(space_id), json.dumps(head).encode())
            for tell in self.on_head:
                tell(space_id, link.msn, link.head)
            return link

    async def live_head(self, space_id: str) -> dict[str, object] | None:
        raw = await self.state.get(chain_key(space_id), self.ctx.clock())
        return json.loads(raw) if raw else None

    async def room_fields(self, space: Space) -> dict[str, object]:
        """room.contributors: the current chain head, so every listener can keep the commitments."""
        head = await self.live_head(space.id)
        return {"chain": head} if head else {}

    # --- end: publish or keep -------------------------------------------------------------------
    async def ended(self, space: Space) -> None:
        """spaces.on_end hook: note the recording durably, then finish it in the background."""
        ended_at = space.ended_at or self.ctx.clock()
        keep_until = None if space.replay_public else ended_at + self.ctx.settings.replay_retention_days * 86400
        await self.recordings.ending(space.id, space.replay_public, ended_at, keep_until)
        self._spawn(self.finish(space.id))

    def _spawn(self, work: Coroutine[Any, Any, object]) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def finish(self, space_id: str) -> Recording | None:
        """Wait for the media node to close the live playlist, then publish (or keep) the recording.
        Callers at the same time share one run (the end hook, a resumed start, the demo waiting)."""
        running = self._finishing.get(space_id)
        if running is None:
            running = self._finishing[space_id] = asyncio.ensure_future(self._finish(space_id))
            running.add_done_callback(lambda _: self._finishing.pop(space_id, None))
        return await asyncio.shield(running)

    async def _finish(self, space_id: str) -> Recording | None:
        try:
            await self._wait_for_last_segment(space_id)
            record = await self.recordings.get(space_id)
            if record is None or record.state != "ending":
                return record
            if record.public:
                await self.publish(space_id, record)
            else:
                await self.recordings.update(space_id, state="kept")
            self._last.pop(space_id, None)
            self._locks.pop(space_id, None)
            return await self.recordings.get(space_id)
        except Exception:
            log.exception("could not finish the recording of space %s", space_id)
            return None

    async def _wait_for_last_segment(self, space_id: str) -> None:
        """Await (to a deadline) the media node's note that the space's programme stopped, then the chain
        holding the last segment it names (chained here, from the queue `_settle` drains, or by another
        process, whose heads arrive on the chain's channel)."""
        state, wait_s = self.state, self.ctx.settings.replay_publish_wait_s
        notes, heads = state.subscribe(programme_channel(space_id)), state.subscribe(chain_key(space_id))
        try:  # subscribed before reading: nothing published from now on is missed
            async with asyncio.timeout(wait_s):
                last = await self._last_msn(space_id, notes)
                await self._settle(space_id)
                while last is not None and ((link := await self.links.last(space_id)) is None or link.msn < last):
                    await anext(aiter(heads))
        except TimeoutError:
            log.warning(
                "space %s: the recording did not settle in %.0f s; publishing what was chained", space_id, wait_s
            )
        finally:
            for subscription in (notes, heads):
                if isinstance(subscription, AsyncGenerator):  # unsubscribe now, not when collected
                    await subscription.aclose()

    async def _last_msn(self, space_id: str, notes: AsyncIterator[bytes]) -> int | None:
        """The number of the space's last segment, from the media node's note (awaited if not yet written);
        after a restart that lost the hot state, from the closed playlist it stored."""
        note = await self.state.get(programme_stopped_key(space_id), self.ctx.clock())
        if note is None:
            playlist = await self.blobs.get(live_prefix(space_id) + "media.m3u8")
            if playlist is None:
                return None  # never went live: nothing was recorded
            if b"#EXT-X-ENDLIST" in playlist:
                named = LAST_SEGMENT.findall(playlist)
                return int(named[-1]) if named else None
            note = await anext(aiter(notes))
        last = json.loads(note).get("last_msn")
        return last if isinstance(last, int) else None

    async def assemble(self, space_id: str, rows: list[tuple[chain.Link, str]], into: Path) -> str:
        """Write the init section and the chained segments, each checked against its link, into one
        fragmented MP4 file (segment by segment, never the whole recording in memory); the init's SHA-256."""
        init = await self.blobs.get(live_prefix(space_id) + "init.mp4")
        if init is None:
            raise NotFound("recording_missing", "the recording of this space is not stored")
        out = await asyncio.to_thread(into.open, "wb")
        try:
            await asyncio.to_thread(out.write, init)
            for link, key in rows:
                data = await self.blobs.get(key)
                if data is None or hashlib.sha256(data).hexdigest() != link.sha256:
                    raise Gone("recording_damaged", f"segment {link.msn} of this recording is missing or damaged")
                await asyncio.to_thread(out.write, data)
        finally:
            await asyncio.to_thread(out.close)
        return hashlib.sha256(init).hexdigest()

    async def remux(
        self,
        space_id: str,
        rows: list[tuple[chain.Link, str]],
        start_s: float | None = None,
        end_s: float | None = None,
    ) -> tuple[bytes, str]:
        """One .m4a from the chosen segments (trimmed to [start_s, end_s) of media time); and the init's hash."""
        with tempfile.TemporaryDirectory(prefix="townhall-replay-") as tmp:
            source = Path(tmp) / "source.mp4"
            init_sha = await self.assemble(space_id, rows, source)
            return await asyncio.to_thread(remux_m4a, source, start_s, end_s), init_sha

    async def publish(self, space_id: str, record: Recording) -> None:
        rows = await self.links.links(space_id)
        if not rows:
            await self.recordings.update(space_id, state="kept", segments=0)
            return
        links = [link for link, _ in rows]
        audio, init_sha = await self.remux(space_id, rows)
        gaps = chain.find_gaps(links)
        files = {"init.mp4": init_sha, "audio.m4a": hashlib.sha256(audio).hexdigest()}
        payload = chain.build_manifest(space_id, links, gaps, files, round(record.ended_at * 1000), self.keys_url)
        signer = self.keys.signing
        prefix = replay_prefix(space_id)
        await self.blobs.put_immutable(prefix + "audio.m4a", audio)
        await self.blobs.put_immutable(prefix + "manifest.json", chain.sign_manifest(payload, signer.kid, signer.key))
        await self.blobs.put_immutable(prefix + "index.m3u8", chain.vod_playlist(links, gaps).encode())
        await self.recordings.update(
            space_id,
            state="published",
            segments=len(links),
            duration_ms=sum(x.duration for x in links) * 1000 // chain.TIMESCALE,
            final_head=payload["final_head"],
            kid=signer.kid,
            published_at=self.ctx.clock(),
        )

    async def published(self, space_id: str) -> Recording:
        """The recording of a space whose replay anyone may fetch, or the reason it may not."""
        record = await self.recordings.get(space_id)
        if record is None:
            raise NotFound("replay_not_found", "this space has no replay (yet)")
        if record.state == "deleted":
            raise Gone("replay_deleted", "this recording was deleted")
        if not record.public:
            raise Forbidden("replay_not_public", "the host chose not to publish this replay")
        if record.state != "published":
            raise NotFound("replay_not_ready", "the replay is being published; try again shortly")
        return record

    # --- background: resume unfinished work, delete what outlived its retention ------------------
    async def start(self) -> None:
        for record in await self.recordings.in_state("ending"):
            self._spawn(self.finish(record.space_id))
        self._sweeper = asyncio.create_task(
            every(self.ctx.settings.recording_sweep_s, self.sweep, "recording sweep"), name="recording-sweep"
        )

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for space_id in list(self._inbox):
            await self._settle(space_id)
        for task in list(self._tasks):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(task), self.ctx.settings.replay_publish_wait_s)

    async def sweep(self) -> list[str]:
        """Delete the recordings kept for review past their retention; returns their space ids."""
        deleted: list[str] = []
        for record in await self.recordings.expired(self.ctx.clock()):
            await self.blobs.delete_prefix(live_prefix(record.space_id))
            await self.blobs.delete_prefix(replay_prefix(record.space_id))
            await self.recordings.update(record.space_id, state="deleted")
            deleted.append(record.space_id)
        return deleted
