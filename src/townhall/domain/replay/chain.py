"""The hash chain over a space's segments, and the gaps in it: what the replay commits to as it is recorded.

Pure: no I/O, no clock. The chain format is decision 0005; changing a byte of it breaks every replay.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from typing import Any

CHAIN_VERSION = "townhall-replay-chain/v1"
TIMESCALE = 48_000  # media time and durations are counted in samples at 48 kHz
GAP_TOLERANCE_S = 1.0  # more wall-clock time than this between two segments is a gap


@dataclass(frozen=True, slots=True)
class Link:
    """One segment as the chain commits to it, and the head after it."""

    msn: int  # media sequence number (the segment's index)
    media_time: int  # first sample on the programme timeline, in 1/TIMESCALE s
    duration: int  # in samples
    sha256: str  # hex digest of the segment's bytes
    uri: str  # segment file name, relative to the playlist
    program_date_time_ms: int  # Unix milliseconds of its first sample's capture
    head: str  # hex chain head after this segment


@dataclass(frozen=True, slots=True)
class Gap:
    """Audio that listeners did not hear: segments never stored, or wall-clock time with no audio."""

    after_msn: int | None  # the last segment before the gap (None: the replay starts with it)
    before_msn: int
    missing: tuple[int, ...]  # media sequence numbers never recorded
    seconds: float

    def as_json(self) -> dict[str, Any]:
        return {
            "after_msn": self.after_msn,
            "before_msn": self.before_msn,
            "missing": list(self.missing),
            "milliseconds": round(self.seconds * 1000),
        }


def genesis(space_id: str) -> str:
    """The head before the first segment: binds the chain to its space."""
    return hashlib.sha256(f"{CHAIN_VERSION}:{space_id}".encode()).hexdigest()


def next_head(previous: str, sha256: str, msn: int, media_time: int) -> str:
    """SHA-256 over the previous head, the segment's hash, its index and its media time (64-bit big endian)."""
    if msn < 0 or media_time < 0:
        raise ValueError("msn and media time must be non-negative")
    data = bytes.fromhex(previous) + bytes.fromhex(sha256) + msn.to_bytes(8, "big") + media_time.to_bytes(8, "big")
    return hashlib.sha256(data).hexdigest()


def extend(
    previous: Link | None,
    space_id: str,
    *,
    msn: int,
    media_time: int,
    duration: int,
    sha256: str,
    uri: str,
    program_date_time_ms: int,
) -> Link:
    """The link for the next segment; segments must arrive in increasing index order."""
    if previous is not None and msn <= previous.msn:
        raise ValueError(f"segment {msn} arrived after segment {previous.msn}")
    if len(sha256) != 64:
        raise ValueError("sha256 must be 64 hex digits")
    prev_head = previous.head if previous is not None else genesis(space_id)
    head = next_head(prev_head, sha256, msn, media_time)
    return Link(msn, media_time, duration, sha256, uri, program_date_time_ms, head)


def find_gaps(links: list[Link], first_msn: int = 0) -> list[Gap]:
    """Missing indices, and wall-clock jumps (a media node restarted) between consecutive segments."""
    gaps: list[Gap] = []
    if links and links[0].msn > first_msn:
        gaps.append(Gap(None, links[0].msn, tuple(range(first_msn, links[0].msn)), 0.0))
    for prev, cur in itertools.pairwise(links):
        missing = tuple(range(prev.msn + 1, cur.msn))
        expected_ms = prev.program_date_time_ms + prev.duration * 1000 // TIMESCALE
        silent_s = (cur.program_date_time_ms - expected_ms) / 1000
        if missing or silent_s > GAP_TOLERANCE_S:
            gaps.append(Gap(prev.msn, cur.msn, missing, max(0.0, silent_s)))
    return gaps
