"""LL-HLS playlists (RFC 8216bis) as text: the live window of a space, and blocking-reload rules.

Pure: no clock, no I/O. The text is identical for every listener (nothing per request goes into it),
so one rendering serves the whole audience through the edge.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from townhall.domain.errors import Invalid

VERSION = 6  # EXT-X-MAP without I-frames-only needs 6; nothing we use needs more
ADVANCE_PART_LIMIT = 3  # RFC 8216bis 6.2.5.2: a request further ahead is answered 400 at once
CODECS = "mp4a.40.2"  # AAC-LC


@dataclass(frozen=True, slots=True)
class Timing:
    part_duration: float  # seconds (10 AAC frames: 0.21333)
    parts_per_segment: int

    @property
    def part_target(self) -> float:
        return math.ceil(self.part_duration * 100_000) / 100_000

    @property
    def part_hold_back(self) -> float:
        return 3 * self.part_target

    @property
    def segment_duration(self) -> float:
        return self.part_duration * self.parts_per_segment

    @property
    def target_duration(self) -> int:
        return max(1, round(self.segment_duration))


CHAIN_TAG = "#EXT-X-TOWNHALL-CHAIN"


@dataclass(frozen=True, slots=True)
class PlaylistPart:
    uri: str
    duration: float


@dataclass(frozen=True, slots=True)
class PlaylistSegment:
    msn: int
    uri: str
    duration: float
    program_date_time: float  # Unix seconds of its first sample's capture
    parts: tuple[PlaylistPart, ...]


def normalise(msn: int, part: int, parts_per_segment: int) -> tuple[int, int]:
    """RFC 8216bis 6.2.5.2: a part index past the last of its segment means part 0 of the next."""
    extra, index = divmod(part, parts_per_segment)
    return msn + extra, index


@dataclass(frozen=True, slots=True)
class LiveEdge:
    """Where a live playlist ends, and the rules a blocking request (`_HLS_msn`, `_HLS_part`) meets
    there: the same for the media node's own window and for a playlist relayed to another process."""

    next_msn: int  # the segment being filled
    position: tuple[int, int]  # (msn, part) of the next part to be published
    parts_per_segment: int
    ended: bool

    def has(self, msn: int, part: int | None) -> bool:
        """Whether the playlist already holds segment `msn` (or its part `part`)."""
        if self.ended:
            return True
        if part is None:
            return msn < self.next_msn
        return normalise(msn, part, self.parts_per_segment) < self.position

    def check_reachable(self, msn: int, part: int | None) -> None:
        """Reject a blocking request too far ahead of the live edge (400, not a hold)."""
        last_msn = self.next_msn - 1
        if msn > last_msn + 2:
            raise Invalid("hls_msn_too_far", f"_HLS_msn={msn} is more than two segments ahead of {last_msn}")
        if part is not None:
            pps = self.parts_per_segment
            want_msn, want_part = normalise(msn, part, pps)
            edge_msn, edge_part = self.position
            ahead = (want_msn * pps + want_part) - (edge_msn * pps + edge_part - 1)
            if ahead > ADVANCE_PART_LIMIT:
                raise Invalid("hls_part_too_far", f"_HLS_part={part} is more than {ADVANCE_PART_LIMIT} parts ahead")


@dataclass(slots=True)
class LiveWindow:
    """The sliding window of a live media playlist: complete segments, then the open one's parts."""

    timing: Timing
    next_msn: int = 0  # the segment being filled
    window: int = 8  # complete segments listed
    parts_listed: int = 3  # complete segments that still list their parts (>= 3 target durations)
    segments: deque[PlaylistSegment] = field(default_factory=deque)
    open_parts: list[PlaylistPart] = field(default_factory=list)
    open_program_date_time: float | None = None
    ended: bool = False
    chain: tuple[int, str] | None = None  # (msn, head) of the replay hash chain's latest link
    # bumped when a programme resumes on another encoder (a restart or a failover): the segments from
    # here on start a new timeline for the player, whose previous segments are no longer listed
    discontinuity_sequence: int = 0

    def add_part(self, part: PlaylistPart, program_date_time: float) -> None:
        if not self.open_parts:
            self.open_program_date_time = program_date_time
        self.open_parts.append(part)

    def close_segment(self, segment: PlaylistSegment) -> None:
        self.segments.append(segment)
        while len(self.segments) > self.window:
            self.segments.popleft()
        self.next_msn = segment.msn + 1
        self.open_parts = []
        self.open_program_date_time = None

    @property
    def position(self) -> tuple[int, int]:
        """(msn, part index) of the next part to be published (part 0 of the next segment once the
        open one has all its parts, even before it is closed)."""
        return self._normalise(self.next_msn, len(self.open_parts))

    def _normalise(self, msn: int, part: int) -> tuple[int, int]:
        return normalise(msn, part, self.timing.parts_per_segment)

    @property
    def edge(self) -> LiveEdge:
        return LiveEdge(self.next_msn, self.position, self.timing.parts_per_segment, self.ended)

    def has(self, msn: int, part: int | None) -> bool:
        """Whether the playlist already holds segment `msn` (or its part `part`)."""
        return self.edge.has(msn, part)

    def check_reachable(self, msn: int, part: int | None) -> None:
        """Reject a blocking request too far ahead of the live edge (400, not a hold)."""
        self.edge.check_reachable(msn, part)

    def render(self) -> str:
        t = self.timing
        lines = [
            "#EXTM3U",
            f"#EXT-X-VERSION:{VERSION}",
            f"#EXT-X-TARGETDURATION:{t.target_duration}",
            f"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={t.part_hold_back:.5f}",
            f"#EXT-X-PART-INF:PART-TARGET={t.part_target:.5f}",
            f"#EXT-X-MEDIA-SEQUENCE:{self.segments[0].msn if self.segments else self.next_msn}",
            *([f"#EXT-X-DISCONTINUITY-SEQUENCE:{self.discontinuity_sequence}"] if self.discontinuity_sequence else []),
            "#EXT-X-INDEPENDENT-SEGMENTS",
            '#EXT-X-MAP:URI="init.mp4"',
        ]
        if self.chain is not None:
            # the replay hash chain's head as each segment completes (decision 0005); players ignore
            # tags they do not know (RFC 8216bis 4.1), so anyone listening can keep the commitments
            lines.append(f'{CHAIN_TAG}:MSN={self.chain[0]},HEAD="{self.chain[1]}"')
        with_parts = len(self.segments) - self.parts_listed
        for i, segment in enumerate(self.segments):
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{_iso(segment.program_date_time)}")
            if i >= with_parts:
                lines.extend(_part_line(p) for p in segment.parts)
            lines.append(f"#EXTINF:{_seconds(segment.duration)},")
            lines.append(segment.uri)
        if self.ended:
            lines.append("#EXT-X-ENDLIST")
            return "\n".join(lines) + "\n"
        if self.open_parts and self.open_program_date_time is not None:
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{_iso(self.open_program_date_time)}")
            lines.extend(_part_line(p) for p in self.open_parts)
        msn, index = self.position
        lines.append(f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="{part_uri(msn, index)}"')
        return "\n".join(lines) + "\n"


def part_uri(msn: int, index: int) -> str:
    return f"p{msn}.{index}.m4s"


def segment_uri(msn: int) -> str:
    return f"s{msn}.m4s"


def _part_line(part: PlaylistPart) -> str:
    return f'#EXT-X-PART:DURATION={_seconds(part.duration)},URI="{part.uri}",INDEPENDENT=YES'


def _seconds(duration: float) -> str:
    """A duration rounded up to the microsecond, so a segment's parts add up to at least its EXTINF: rounded
    to the nearest 10 µs, nine 1024-sample parts (21.333… ms each) came to 30 µs less than their segment,
    the end of the buffer fell inside the segment but past its last part, and hls.js fetched that last part
    a few hundred times before it moved on."""
    return f"{math.ceil(round(duration * 1_000_000, 3)) / 1_000_000:.6f}"


def _iso(unix_seconds: float) -> str:
    return datetime.fromtimestamp(unix_seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def multivariant(bandwidth: int, average_bandwidth: int) -> str:
    return (
        "#EXTM3U\n"
        f"#EXT-X-VERSION:{VERSION}\n"
        "#EXT-X-INDEPENDENT-SEGMENTS\n"
        f'#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},AVERAGE-BANDWIDTH={average_bandwidth},CODECS="{CODECS}"\n'
        "media.m3u8\n"
    )


def blocking_request(query: Mapping[str, str]) -> tuple[int, int | None] | None:
    """Parse `_HLS_msn`/`_HLS_part`: None for a plain reload; 400 for values the RFC calls invalid."""
    msn_s, part_s = query.get("_HLS_msn"), query.get("_HLS_part")
    if msn_s is None:
        if part_s is not None:
            raise Invalid("hls_part_without_msn", "_HLS_part needs _HLS_msn")
        return None
    msn = _decimal(msn_s, "_HLS_msn")
    return msn, None if part_s is None else _decimal(part_s, "_HLS_part")


def _decimal(value: str, name: str) -> int:
    if not value.isdigit() or not value.isascii() or len(value) > 18:
        raise Invalid("hls_invalid_query", f"{name} must be a decimal integer")
    return int(value)


DISCONTINUITY_SEQUENCE = re.compile(r"^#EXT-X-DISCONTINUITY-SEQUENCE:(\d+)$", re.MULTILINE)


def discontinuity_sequence(playlist: str | None) -> int:
    """The discontinuity sequence number a stored live playlist carried (0 when none)."""
    found = DISCONTINUITY_SEQUENCE.search(playlist or "")
    return int(found[1]) if found else 0
