"""Low-latency DASH with chunked CMAF beside LL-HLS: the MPD of a live space, read off its LL-HLS playlist.

Pure: no clock but the one passed in, no I/O. The same encode serves both: a DASH segment `c<msn>.m4s`
is the LL-HLS segment `s<msn>.m4s` (its parts' moof+mdat chunks, concatenated), streamed by the origin
chunk by chunk while it is being made. The template is fixed for a programme's run, so a cached MPD
never moves where a player starts: the live edge comes from the clock (UTCTiming), not from the MPD.

Traps this avoids (specs/chunked.md): dash.js 5 turns its low-latency path on only when the MPD says
`availabilityTimeComplete="false"`, with `availabilityTimeOffset` about one segment minus one chunk so the
player asks for a segment as its first chunk appears; without both it silently loads whole segments.
`availabilityStartTime` is the wall time of the programme's first sample, the AAC priming taken off
(the playlist's PROGRAM-DATE-TIME already is).
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass
from datetime import UTC, datetime

from townhall.media.encoder import AAC_FRAME
from townhall.media.mixer import RATE
from townhall.media.playlist import CODECS

SEGMENT_PREFIX = "c"  # c<msn>.m4s: the segment as a chunked stream (s<msn>.m4s is the same bytes, whole)
MPD_TYPE = "application/dash+xml"
CLOCK_PATH = "/api/clock"
# players reload the MPD this often: after the media clock re-based (a stall), they learn the new anchor
UPDATE_S = 5.0
TARGET_LATENCY_MS = 800  # the ServiceDescription's target; players tuned by us set their own (decision 0011)

_MEDIA_SEQUENCE = re.compile(r"^#EXT-X-MEDIA-SEQUENCE:(\d+)$", re.M)
_DISCONTINUITY = re.compile(r"^#EXT-X-DISCONTINUITY-SEQUENCE:(\d+)$", re.M)
_HINT = re.compile(r'^#EXT-X-PRELOAD-HINT:TYPE=PART,URI="p(\d+)\.(\d+)\.m4s"$', re.M)
_SEGMENT = re.compile(r"^#EXT-X-PROGRAM-DATE-TIME:(\S+)\n(?:#EXT-X-PART:[^\n]*\n)*#EXTINF:[^\n]*\ns(\d+)\.m4s$", re.M)
_OPEN = re.compile(r"^#EXT-X-PROGRAM-DATE-TIME:(\S+)\n(?:#EXT-X-PART:[^\n]*\n)*#EXT-X-PRELOAD-HINT", re.M)


@dataclass(frozen=True, slots=True)
class LiveState:
    """What the origin needs to know about a live playlist to serve the chunked path."""

    position: tuple[int, int] | None  # (msn, part) of the next part to be published; None once ended
    ended: bool
    discontinuity: int
    first_msn: int  # the oldest segment listed
    anchors: tuple[tuple[int, float], ...]  # (msn, Unix time of its first sample) of the segments listed

    @property
    def next_msn(self) -> int:
        return self.position[0] if self.position is not None else self.first_msn

    def has(self, msn: int, part: int) -> bool:
        """Whether part `part` of segment `msn` is published (all of it once the space has ended)."""
        return self.ended or self.position is None or (msn, part) < self.position


def live_state(playlist: str) -> LiveState:
    """Read the live edge, the timeline and the anchors off an LL-HLS media playlist (media/playlist.py)."""
    ended = "#EXT-X-ENDLIST" in playlist
    hint = _HINT.search(playlist)
    sequence = _MEDIA_SEQUENCE.search(playlist)
    discontinuity = _DISCONTINUITY.search(playlist)
    anchors = [(int(m[2]), _unix(m[1])) for m in _SEGMENT.finditer(playlist)]
    position = (int(hint[1]), int(hint[2])) if hint is not None and not ended else None
    open_pdt = _OPEN.search(playlist)
    if position is not None and open_pdt is not None and position[1] > 0:
        anchors.append((position[0], _unix(open_pdt[1])))
    return LiveState(
        position,
        ended,
        int(discontinuity[1]) if discontinuity else 0,
        int(sequence[1]) if sequence else 0,
        tuple(anchors),
    )


def _unix(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def decode_time(chunk: bytes) -> int | None:
    """The base media decode time (tfdt) of a CMAF chunk (media/packager.py writes version 1)."""
    at = chunk.find(b"tfdt")
    if at < 4 or len(chunk) < at + 16:
        return None
    if chunk[at + 4] == 1:
        return int(struct.unpack_from(">Q", chunk, at + 8)[0])
    return int(struct.unpack_from(">I", chunk, at + 8)[0])


@dataclass(frozen=True, slots=True)
class ChunkTiming:
    frames_per_part: int  # AAC frames per chunk (a chunk is an LL-HLS part)
    parts_per_segment: int

    @property
    def chunk_samples(self) -> int:
        return self.frames_per_part * AAC_FRAME

    @property
    def segment_samples(self) -> int:
        return self.chunk_samples * self.parts_per_segment

    @property
    def segment_s(self) -> float:
        return self.segment_samples / RATE

    @property
    def availability_offset_s(self) -> float:
        """A segment may be asked for once its first chunk exists: one segment less one chunk early."""
        return (self.segment_samples - self.chunk_samples) / RATE


@dataclass(frozen=True, slots=True)
class Anchor:
    """How this run's segment numbers map to media time and to the wall clock."""

    start_number: int
    presentation_time_offset: int  # media time (1/48000 s) of segment `start_number`'s first sample
    availability_start: float  # Unix time of that sample


def anchor(state: LiveState, timing: ChunkTiming, msn: int, decode: int) -> Anchor | None:
    """The run's anchor from one segment's number and its first chunk's decode time: segment numbers
    and media time advance together within a run, so the result is the same whichever segment is used
    (only the milliseconds of PROGRAM-DATE-TIME vary; the latest of the estimates is kept, as the
    playlist truncates them)."""
    if not state.anchors:
        return None
    d = timing.segment_samples
    delta = decode - msn * d  # media time of a (virtual) segment 0 in this run
    start = 0 if delta >= 0 else math.ceil(-delta / d)
    offset = delta + start * d
    # PROGRAM-DATE-TIME of segment m is ast + (m - start) * d / RATE: every listed segment estimates ast
    ast = max(pdt - (m - start) * d / RATE for m, pdt in state.anchors)
    return Anchor(start, offset, math.floor(ast * 1000) / 1000)


def _iso(unix_seconds: float) -> str:
    return datetime.fromtimestamp(unix_seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _duration(seconds: float) -> str:
    return f"PT{seconds:.3f}".rstrip("0").rstrip(".") + "S"


def render(
    state: LiveState,
    timing: ChunkTiming,
    at: Anchor,
    bandwidth: int,
    published: float,
    clock_url: str,
    window_s: float,
) -> str:
    """The MPD: one dynamic Period for this run (a restarted programme starts a new one), SegmentTemplate
    with $Number$, chunked availability, the server's clock and the latency target."""
    seg = timing.segment_s
    ato = timing.availability_offset_s
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" '
        'profiles="urn:mpeg:dash:profile:isoff-live:2011,urn:mpeg:dash:profile:cmaf:2019" type="dynamic" '
        f'availabilityStartTime="{_iso(at.availability_start)}" publishTime="{_iso(published)}" '
        f'minimumUpdatePeriod="{_duration(UPDATE_S)}" minBufferTime="{_duration(timing.chunk_samples / RATE)}" '
        f'timeShiftBufferDepth="{_duration(window_s)}" maxSegmentDuration="{_duration(seg)}" '
        f'suggestedPresentationDelay="{_duration(TARGET_LATENCY_MS / 1000)}">\n'
        '  <ServiceDescription id="0">\n'
        f'    <Latency target="{TARGET_LATENCY_MS}" min="{TARGET_LATENCY_MS // 2}" max="{TARGET_LATENCY_MS * 3}"/>\n'
        '    <PlaybackRate min="0.9" max="1.2"/>\n'
        "  </ServiceDescription>\n"
        f'  <Period id="run{state.discontinuity}" start="PT0S">\n'
        f'    <AdaptationSet id="0" contentType="audio" mimeType="audio/mp4" codecs="{CODECS}" lang="und" '
        'segmentAlignment="true" startWithSAP="1">\n'
        f'      <Representation id="audio" bandwidth="{bandwidth}" audioSamplingRate="{RATE}">\n'
        "        <AudioChannelConfiguration "
        'schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011" value="1"/>\n'
        f'        <SegmentTemplate timescale="{RATE}" duration="{timing.segment_samples}" '
        f'startNumber="{at.start_number}" presentationTimeOffset="{at.presentation_time_offset}" '
        f'availabilityTimeOffset="{ato:.3f}" availabilityTimeComplete="false" '
        f'initialization="init.mp4" media="{SEGMENT_PREFIX}$Number$.m4s"/>\n'
        "      </Representation>\n"
        "    </AdaptationSet>\n"
        "  </Period>\n"
        f'  <UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="{clock_url}"/>\n'
        "</MPD>\n"
    )
