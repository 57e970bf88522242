"""A space's programme out: mix -> AAC -> parts and segments -> blob store -> live playlist and its waiters.

Encoding runs inside the tick (cheap, in order); storing runs in two tasks per space so a slow disk
never delays a tick, nor a part. A part becomes fetchable, and the live playlist names it, once it is
stored (not synced: a crashed process leaves it in the page cache, so a restart never reuses a name a
listener heard). A segment is named live as soon as its last part is: its audio is all in stored parts.
Its own copy, synced, its record, the hash chain and the stored playlist follow in a second task,
so a segment's fsync (hundreds of milliseconds on a busy disk) never holds up the parts after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from townhall.domain.errors import Unavailable
from townhall.domain.placement import Handoff
from townhall.media.encoder import AAC_FRAME, AAC_PRIMING, AacEncoder
from townhall.media.metrics import MediaMetrics
from townhall.media.mixer import FRAME, RATE, SILENCE, Samples
from townhall.media.packager import Packager, Part, Segment, init_segment
from townhall.media.playlist import (
    LiveWindow,
    PlaylistPart,
    PlaylistSegment,
    Timing,
    discontinuity_sequence,
    multivariant,
    part_uri,
)
from townhall.media.recorder import Recorder, SegmentRecord
from townhall.media.relay import LivePlaylist
from townhall.store.blobs.base import BlobExists

log = logging.getLogger("townhall.media")

SegmentHook = Callable[[str, SegmentRecord], Awaitable[None] | None]
MAX_SKIPS = 1000  # stalls remembered (older ones are long past every part still to be stored)
STOP_UPLOAD_WAIT_S = 2.0  # a stopping programme waits this long for its last segments to be uploaded
MAX_BACKFILL_FRAMES = 50  # at most a second of silence covers a handover; longer is a gap, shown as one
ARMED_WAIT_S = 6.0  # a successor's parts wait this long for its lease (the old node may lag), then are dropped


class Fence(Protocol):
    """Whether this node may still write the space (scaled-out form: its lease is current)."""

    def valid(self) -> bool: ...


class Relay(Protocol):
    """Hands the live objects to every API process (media/relay.py); never blocks the caller."""

    def start(self, space_id: str, init: bytes, multivariant: str) -> None: ...
    def media_object(self, space_id: str, name: str, data: bytes) -> None: ...
    def playlist(self, space_id: str, playlist: LivePlaylist) -> None: ...


@dataclass(frozen=True, slots=True)
class ProgrammeConfig:
    frames_per_part: int = 10
    parts_per_segment: int = 9
    window_segments: int = 8
    aac_bit_rate: int = 64_000
    cached_parts: int = 64  # recent parts and segments served from memory

    @property
    def timing(self) -> Timing:
        return Timing(self.frames_per_part * AAC_FRAME / RATE, self.parts_per_segment)


@dataclass(frozen=True, slots=True)
class _Cut:
    part: Part | None  # None: the end's flush closes a segment whose parts are all stored
    segment: Segment | None
    due: float  # loop time of the tick that completed the part


@dataclass(frozen=True, slots=True)
class _Closed:
    segment: Segment
    program_date_time: float
    playlist: str  # the live playlist as it was when the segment was named: stored after the segment


class Programme:
    def __init__(
        self,
        space_id: str,
        config: ProgrammeConfig,
        recorder: Recorder,
        metrics: MediaMetrics,
        wall_offset: float,
        hooks: list[SegmentHook],
        relay: Relay | None = None,
        fence: Fence | None = None,
        backfill_from: float | None = None,
        handoff: Handoff | None = None,
    ) -> None:
        self.space_id = space_id
        self.config = config
        self.recorder = recorder
        self.metrics = metrics
        self.hooks = hooks
        self.relay = relay  # the scaled-out form: objects and playlists for every API process
        self.fence = fence  # the scaled-out form: nothing is written once the space's lease is lost
        self.fenced_out = False
        self.backfill_from = backfill_from  # Unix time the previous node's last part ended (a drain)
        # a drain's successor, started before the cut (make before break): it produces from the cut on,
        # and writes nothing until its lease is handed over (`_await_fence`)
        self.handoff = handoff
        if handoff is not None:
            self.backfill_from = handoff.at
        self._armed = handoff is not None
        self.stop_after: int | None = None  # a drain's old node: the last segment it writes
        self.finished = asyncio.Event()  # set once segment `stop_after` and its playlist are stored
        self._stopping = False
        self._fence_opened = asyncio.Event()
        self.last_part_end: float | None = None  # Unix time the newest stored part's audio ends
        self.wall_offset = wall_offset  # Unix time minus loop time
        self.encoder = AacEncoder(config.aac_bit_rate)
        self.packager = Packager(config.frames_per_part, config.parts_per_segment)
        self.window = LiveWindow(config.timing, window=config.window_segments)
        self.init = init_segment(self.encoder.audio_specific_config, config.aac_bit_rate)
        self.multivariant = multivariant(int(config.aac_bit_rate * 1.25), int(config.aac_bit_rate * 1.1))
        self.playlist = self.window.render()
        self._origin: float | None = None  # loop time at which media time `packager_start` entered the mix
        self._skips: list[tuple[int, float]] = []  # (media time, seconds): audio the stalled clock lost
        self.packager_start = 0
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._changed = asyncio.Event()
        self._outbox: asyncio.Queue[_Cut | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closing: asyncio.Queue[_Closed | None] = asyncio.Queue()
        self._closer: asyncio.Task[None] | None = None
        self._announcing: asyncio.Queue[SegmentRecord | None] = asyncio.Queue()
        self._announcer: asyncio.Task[None] | None = None
        self.last_publish: float | None = None

    async def start(self) -> None:
        if self.handoff is not None:  # the cut was agreed: nothing to read, nothing written before the lease
            h = self.handoff
            self.window.discontinuity_sequence = h.discontinuity_sequence
            self.packager = Packager(
                self.config.frames_per_part, self.config.parts_per_segment, first_msn=h.msn, start=h.media_time
            )
            self.window.next_msn = h.msn
            self.playlist = self.window.render()
            self._run_tasks()
            log.info("space %s: programme armed to start at msn %d at %.3f", self.space_id, h.msn, h.at)
            return
        last, (highest, parts) = await self.recorder.last_record(), await self.recorder.stored_extent()
        if highest is not None:  # a restarted space continues after everything already stored and heard
            resume_at = self._resume_at(last, highest, parts)
            if last is not None and last.msn == highest - 1 and parts and self._may_write():
                await self._close_unfinished(last, highest, parts)
            # on a new encoder, as a new timeline for players (EXT-X-DISCONTINUITY-SEQUENCE, RFC 8216bis 4.4.3.3)
            stored = await self.recorder.read_playlist()
            self.window.discontinuity_sequence = discontinuity_sequence(stored) + 1
            self.packager = Packager(
                self.config.frames_per_part, self.config.parts_per_segment, first_msn=highest + 1, start=resume_at
            )
            self.window.next_msn = highest + 1
        await self._write_heads()
        self.playlist = self.window.render()
        self._relay_playlist()
        await self.recorder.write_playlist(self.playlist)
        self._run_tasks()
        log.info("space %s: programme starts at msn %d", self.space_id, self.packager.msn)

    def _run_tasks(self) -> None:
        self._task = asyncio.create_task(self._store_loop(), name=f"programme-{self.space_id}")
        self._closer = asyncio.create_task(self._close_loop(), name=f"programme-segments-{self.space_id}")
        self._announcer = asyncio.create_task(self._announce_loop(), name=f"programme-chain-{self.space_id}")

    async def _write_heads(self) -> None:
        try:
            await self.recorder.write_init(self.init)
        except BlobExists:  # another encoder build wrote it: older segments keep theirs, ours is served live
            log.warning("space %s: stored init.mp4 differs from this encoder's", self.space_id)
        await self.recorder.write_multivariant(self.multivariant)
        if self.relay is not None:
            self.relay.start(self.space_id, self.init, self.multivariant)

    async def _await_fence(self) -> None:
        """A drain's successor: its first part waits (not dropped) until the lease is handed over, which
        the old node does once its last segment is stored; bounded, after which `_may_write` drops."""
        waited = asyncio.get_running_loop().time()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._fence_opened.wait(), ARMED_WAIT_S)
        waited = asyncio.get_running_loop().time() - waited
        log.info("space %s: lease handed over; the first part waited %.0f ms for it", self.space_id, 1000 * waited)
        if self._may_write():
            await self._write_heads()

    def fence_opened(self) -> None:
        """A drain's successor: the lease is this node's now (the membership confirmed it)."""
        self._fence_opened.set()

    def plan_handoff(self, lead_s: float) -> Handoff | None:
        """A drain's cut: the end of the first segment that ends at least `lead_s` from now. This node
        writes nothing after that segment; the returned cut tells the successor where to start."""
        if self._origin is None or self._task is None:
            return None
        now = asyncio.get_running_loop().time() + self.wall_offset
        segment_samples = self.config.parts_per_segment * self.packager.part_samples
        msn, end = self.packager.msn, self.packager.segment_start + segment_samples
        while self.program_date_time(end) < now + lead_s:
            msn, end = msn + 1, end + segment_samples
        self.stop_after = msn
        return Handoff(msn + 1, end, self.program_date_time(end), self.window.discontinuity_sequence + 1)

    async def finish(self, timeout_s: float) -> float | None:
        """Wait until the cut's last segment is stored; the Unix time its audio ends (None on timeout)."""
        try:
            await asyncio.wait_for(self.finished.wait(), timeout_s)
        except TimeoutError:
            log.warning("space %s: the drain's last segment was not stored in time", self.space_id)
            return None
        return self.last_part_end

    async def _close_unfinished(self, last: SegmentRecord, msn: int, parts: int) -> None:
        """The segment a stopped or crashed node left unfinished (its parts stored, heard live, never closed):
        closed now from those parts as a shorter segment, so it is in the chain and the replay too."""
        samples = self.packager.part_samples
        start = last.media_time + round(last.duration * RATE)
        found: list[Part] = []
        for index in range(parts):
            data = await self.recorder.blobs.get(self.recorder.key(part_uri(msn, index)))
            if data is None:
                break
            found.append(Part(msn, index, data, start + index * samples, samples))
        if not found:
            return
        segment = Segment(msn, tuple(found), b"".join(p.data for p in found), start, len(found) * samples)
        try:
            record = await self.recorder.write_segment(segment, last.program_date_time + last.duration)
        except BlobExists:  # closed already (a node that stopped after writing it)
            return
        log.info("space %s: closed unfinished segment %d from %d stored parts", self.space_id, msn, len(found))
        self._announcing.put_nowait(record)  # chained once it is in the shared store, like any other

    def _resume_at(self, last: SegmentRecord | None, highest: int, parts: int) -> int:
        """Media time after the newest stored part: past every sample a listener may have heard, so the
        resumed programme never overlaps the old one (the wall-clock gap shows in PROGRAM-DATE-TIME)."""
        segment_samples = self.config.parts_per_segment * self.packager.part_samples
        if last is None:
            return highest * segment_samples + parts * self.packager.part_samples
        after_last = last.media_time + round(last.duration * RATE)
        if highest <= last.msn:
            return after_last
        return after_last + (highest - last.msn - 1) * segment_samples + parts * self.packager.part_samples

    def program_date_time(self, media_time: int) -> float:
        """Unix time at which the sample at `media_time` entered the mix (AAC priming removed), counting
        every stretch the media clock lost before it (`clock_skipped`)."""
        assert self._origin is not None
        lost = sum(seconds for at, seconds in self._skips if media_time >= at)
        return self.wall_offset + self._origin + lost + (media_time - self.packager_start - AAC_PRIMING) / RATE

    def clock_skipped(self, seconds: float) -> None:
        """The media clock stalled past catching up and lost `seconds` of audio (the node re-based it): what
        follows entered the mix that much later. PROGRAM-DATE-TIME stays true to the wall clock from the next
        sample on, so the stretch shows as a gap in the replay's signed manifest, never as audio that was not
        carried (`find_gaps`: a wall-clock jump between segments)."""
        if self._origin is not None and seconds > 0:
            self._skips.append((self.packager.time, seconds))
            del self._skips[:-MAX_SKIPS]

    def feed(self, samples: Samples, tick_time: float) -> None:
        """One 20 ms frame of the full mix, taken at loop time `tick_time`; called from the tick."""
        if self._origin is None:
            if self._before_cut(tick_time):
                return  # a drain's successor: the node it takes over from still produces this audio
            frames = self._handover_frames(tick_time)
            self._origin = tick_time - frames * FRAME / RATE
            self.packager_start = self.packager.time
            for _ in range(frames):
                self._encode(SILENCE, tick_time)
        self._encode(samples, tick_time)

    def _first_input(self) -> float | None:
        """Unix time of the first sample this programme encodes when it continues another node's: one
        encoder delay after the cut, so its first part's PROGRAM-DATE-TIME is the cut itself."""
        return None if self.backfill_from is None else self.backfill_from + AAC_PRIMING / RATE

    def _before_cut(self, tick_time: float) -> bool:
        first = self._first_input()
        return first is not None and tick_time + self.wall_offset + FRAME / RATE / 2 < first

    def _handover_frames(self, tick_time: float) -> int:
        """Frames of silence for the time since the node that handed this space over stopped (its last
        part's end, `backfill_from`), so the programme stays on the wall clock across a drain and the
        parts covering the handover are ready at once instead of one part time later."""
        first = self._first_input()
        if first is None:
            return 0
        behind = tick_time + self.wall_offset - first
        return max(0, min(MAX_BACKFILL_FRAMES, round(behind * RATE / FRAME)))

    def _encode(self, samples: Samples, tick_time: float) -> None:
        for unit in self.encoder.encode(samples):
            part, segment = self.packager.add(unit)
            if part is not None:
                self._outbox.put_nowait(_Cut(part, segment, tick_time))

    async def _store_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while (cut := await self._outbox.get()) is not None:
            if self._armed:
                self._armed = False
                await self._await_fence()
            try:
                await self._store(cut, loop)
            except Exception:
                name = cut.part.name if cut.part is not None else cut.segment.name if cut.segment else "?"
                log.exception("could not store %s of space %s", name, self.space_id)

    async def _store(self, cut: _Cut, loop: asyncio.AbstractEventLoop) -> None:
        """The part, stored then published at once; a segment it completes is named live with it and
        handed to `_close_loop` to be stored, so a segment's writes never make the next part late."""
        part, segment = cut.part, cut.segment
        first = part if part is not None else segment
        if self.stop_after is not None and first is not None and first.msn > self.stop_after:
            return  # after a drain's cut: the successor writes these
        if not self._may_write():
            return
        if part is not None:
            await self._store_part(part, cut.due, loop)
        if segment is None or not self._may_write():
            return
        self._remember(segment.name, segment.data)
        if self.relay is not None:
            self.relay.media_object(self.space_id, segment.name, segment.data)
        program_date_time = self.program_date_time(segment.start)
        self.window.close_segment(
            PlaylistSegment(
                segment.msn,
                segment.name,
                segment.duration / RATE,
                program_date_time,
                tuple(PlaylistPart(p.name, p.duration / RATE) for p in segment.parts),
            )
        )
        self._publish_playlist()
        self._relay_playlist()
        self._closing.put_nowait(_Closed(segment, program_date_time, self.playlist))

    async def _close_loop(self) -> None:
        """Each segment named live, in order: its copy and record (synced), then the playlist that named it
        (no stored playlist names a segment before its record), then its turn in the hash chain (a drain's
        old node is `finished` only once both are stored)."""
        while (closed := await self._closing.get()) is not None:
            if not self._may_write():
                continue
            try:
                record = await self.recorder.write_segment(closed.segment, closed.program_date_time)
            except Exception:
                log.exception("could not store segment %s of space %s", closed.segment.name, self.space_id)
                continue
            if self._may_write():
                try:
                    await self.recorder.write_playlist(closed.playlist)
                except Exception:
                    log.exception("could not store the playlist of space %s", self.space_id)
            self._announcing.put_nowait(record)

    async def _announce_loop(self) -> None:
        """Each stored segment to the hooks (the hash chain), in order, once it is in the shared store:
        a media node's spool may still be uploading it (the blob store slow or away)."""
        while (record := await self._announcing.get()) is not None:
            try:
                await self.recorder.uploaded(self.recorder.record_key(record.msn))
            except Exception:
                log.exception("space %s: waiting for segment %d to be uploaded failed", self.space_id, record.msn)
                continue
            await self._announce(record)
            if record.msn == self.stop_after:
                self.finished.set()

    async def _store_part(self, part: Part, due: float, loop: asyncio.AbstractEventLoop) -> None:
        await self.recorder.write_part(part)
        self._remember(part.name, part.data)
        if self.relay is not None:
            self.relay.media_object(self.space_id, part.name, part.data)
        self.window.add_part(PlaylistPart(part.name, part.duration / RATE), self.program_date_time(part.start))
        self.last_part_end = self.program_date_time(part.start + part.duration)
        self._publish_playlist()
        self._relay_playlist()
        now = loop.time()
        self.metrics.parts.inc()
        self.metrics.part_lateness.observe(max(0.0, now - due))
        self.last_publish = now

    def _publish_playlist(self) -> None:
        self.playlist = self.window.render()
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _may_write(self) -> bool:
        """False once the fence says another node may run this space: no part, playlist or chain link
        is written after that, even one already encoded."""
        if self.fence is None or self.fence.valid():
            return True
        if not self.fenced_out:
            self.fenced_out = True
            self.metrics.fenced_writes.inc()
            log.warning("space %s: this node's lease lapsed; it writes nothing more of it", self.space_id)
        return False

    def _relay_playlist(self) -> None:
        if self.relay is not None:
            self.relay.playlist(self.space_id, LivePlaylist.of(self.window, self.playlist))

    async def _announce(self, record: SegmentRecord) -> None:
        for hook in list(self.hooks):
            try:
                result = hook(self.space_id, record)
                if result is not None:
                    await result
            except Exception:
                log.exception("on_segment hook failed for space %s", self.space_id)

    def _remember(self, name: str, data: bytes) -> None:
        self._cache[name] = data
        while len(self._cache) > self.config.cached_parts:
            self._cache.popitem(last=False)

    @property
    def last_msn(self) -> int | None:
        """The newest complete segment's number (None before the first)."""
        return self.window.next_msn - 1 if self.window.next_msn > 0 else None

    def cached(self, name: str) -> bytes | None:
        if name == "init.mp4":
            return self.init
        return self._cache.get(name)

    async def wait_for(self, msn: int, part: int | None, hold_s: float) -> str:
        """The playlist once it holds segment `msn` (part `part`): RFC 8216bis blocking reload."""
        self.window.check_reachable(msn, part)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + hold_s
        while not self.window.has(msn, part):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise Unavailable("hls_hold_timeout", "the requested part did not arrive in time")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return self.playlist

    async def stop(self, ended: bool = True) -> None:
        """Store what is queued; when the space has ended, close the playlist with EXT-X-ENDLIST (a node
        shutting down leaves it open: the space goes on when a node takes it up again)."""
        if self._task is None:
            return
        self._stopping = True
        self._fence_opened.set()
        if ended and self._origin is not None:  # the unfinished last segment goes into the replay too
            part, segment = self.packager.flush()
            if part is not None or segment is not None:
                self._outbox.put_nowait(_Cut(part, segment, asyncio.get_running_loop().time()))
        self._outbox.put_nowait(None)
        await self._task
        self._task = None
        if self._closer is not None:
            self._closing.put_nowait(None)
            await self._closer
            self._closer = None
        self.window.ended = ended
        self._publish_playlist()
        try:
            if self.finished.is_set() or not self._may_write():
                return  # a drain's old node: its last playlist is stored, the successor writes the next
            self._relay_playlist()
            await self.recorder.write_playlist(self.playlist)
        finally:
            await self._settle_announcements()

    async def _settle_announcements(self) -> None:
        """Wait up to `STOP_UPLOAD_WAIT_S` for everything written to be uploaded (before a handover
        releases the lease) and chained; a segment still waiting for the blob store after that stays out
        of the chain (its upload still goes on while this node may write the space)."""
        announcer, self._announcer = self._announcer, None
        if announcer is None:
            return
        self._announcing.put_nowait(None)
        try:
            async with asyncio.timeout(STOP_UPLOAD_WAIT_S):
                await self.recorder.settled()
                await asyncio.shield(announcer)
        except TimeoutError:
            log.warning(
                "space %s: %d segments not uploaded in %.0f s stay out of its hash chain",
                self.space_id,
                self._announcing.qsize(),
                STOP_UPLOAD_WAIT_S,
            )
            announcer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await announcer
