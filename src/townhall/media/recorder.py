"""Writes a space's live objects to the blob store, once each, in the order the storage contract needs.

The live objects are the recording: parts, segments, the init section and one small record per segment
(index, media time, duration, size, sha256) that the replay's hash chain builds on. Never re-encodes,
never writes a playlist before the parts and segments it names.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass

from townhall.domain.objects import live_prefix
from townhall.media.mixer import RATE
from townhall.media.packager import Part, Segment
from townhall.store.blobs.base import BlobStore

_MEDIA_KEY = re.compile(r"/[ps](\d+)(?:\.\d+)?\.m4s\Z")


@dataclass(frozen=True, slots=True)
class SegmentRecord:
    """What the replay and its hash chain need to know about one segment, without reading it."""

    space_id: str
    msn: int
    key: str  # blob key of the segment
    media_time: int  # first sample, in 1/48000 s on the programme's timeline
    duration: float  # seconds
    size: int  # bytes
    sha256: str  # hex digest of the segment's bytes
    program_date_time: float  # Unix seconds of its first sample's capture
    parts: tuple[str, ...]  # blob keys of its parts, in order

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> SegmentRecord:
        data = json.loads(raw)
        data["parts"] = tuple(data["parts"])
        return cls(**data)


class Recorder:
    def __init__(self, blobs: BlobStore, space_id: str) -> None:
        self.blobs = blobs
        self.space_id = space_id
        self.prefix = live_prefix(space_id)
        self.last_key: str | None = None  # the newest object written (uploads leave in write order)

    def key(self, name: str) -> str:
        return self.prefix + name

    def record_key(self, msn: int) -> str:
        return f"{self.prefix}records/{msn:010d}.json"

    async def stored_extent(self) -> tuple[int | None, int]:
        """The highest media sequence number stored, and how many parts of it are stored (a segment that
        a stopped or dead node left unfinished has only some)."""
        keys = await self.blobs.list(self.prefix)
        found = [int(m[1]) for key in keys if (m := _MEDIA_KEY.search(key))]
        highest = max(found, default=None)
        if highest is None:
            return None, 0
        return highest, sum(1 for key in keys if key.startswith(f"{self.prefix}p{highest}."))

    async def last_record(self) -> SegmentRecord | None:
        """The newest segment already recorded: a restarted space continues after it."""
        keys = await self.blobs.list(self.prefix + "records/")
        for key in reversed(keys):
            raw = await self.blobs.get(key)
            if raw is not None:
                return SegmentRecord.from_json(raw)
        return None

    def _last(self, key: str) -> str:
        self.last_key = key
        return key

    async def settled(self) -> None:
        """Return once everything written so far is in the shared store."""
        if self.last_key is not None:
            await self.uploaded(self.last_key)

    async def uploaded(self, key: str) -> None:
        """Return once `key` is in the shared store (a media node's spool uploads in the background)."""
        wait = getattr(self.blobs, "uploaded", None)
        if wait is not None:
            await wait(key)

    async def write_init(self, data: bytes) -> None:
        await self.blobs.put_immutable(self._last(self.key("init.mp4")), data)

    async def write_multivariant(self, text: str) -> None:
        await self.blobs.put_mutable(self._last(self.key("master.m3u8")), text.encode())

    async def write_part(self, part: Part) -> None:
        # not synced to disk: its segment holds the same audio durably, and a slow disk must not hold up
        # the live edge (a part waited over a second for fsync under load: decision 0007)
        await self.blobs.put_immutable(self._last(self.key(part.name)), part.data, durable=False)

    async def write_segment(self, segment: Segment, program_date_time: float) -> SegmentRecord:
        """The segment, then its record; both before any stored playlist names the segment."""
        key = self.key(segment.name)
        await self.blobs.put_immutable(key, segment.data)
        record = SegmentRecord(
            space_id=self.space_id,
            msn=segment.msn,
            key=key,
            media_time=segment.start,
            duration=segment.duration / RATE,
            size=len(segment.data),
            sha256=hashlib.sha256(segment.data).hexdigest(),
            program_date_time=program_date_time,
            parts=tuple(self.key(p.name) for p in segment.parts),
        )
        await self.blobs.put_immutable(self._last(self.record_key(segment.msn)), record.to_json())
        return record

    async def read_playlist(self) -> str | None:
        raw = await self.blobs.get(self.key("media.m3u8"))
        return raw.decode() if raw is not None else None

    async def write_playlist(self, text: str) -> None:
        await self.blobs.put_mutable(self._last(self.key("media.m3u8")), text.encode(), durable=False)
