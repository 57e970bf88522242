"""The chunked path's MPD, read off the LL-HLS playlist: live edge, anchors, and a template that maps
segment numbers to the parts' media time and the wall clock, also for a resumed programme."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from townhall.media.mpd import ChunkTiming, anchor, decode_time, live_state, render
from townhall.media.packager import Packager
from townhall.media.playlist import LiveWindow, PlaylistPart, PlaylistSegment, Timing

TIMING = ChunkTiming(10, 9)
SEG = 9 * 10 * 1024
NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}


def window_with(segments: int, open_parts: int, first_msn: int = 0, t0: float = 1_800_000_000.0) -> LiveWindow:
    timing = Timing(10 * 1024 / 48000, 9)
    window = LiveWindow(timing, next_msn=first_msn, discontinuity_sequence=2)
    part_s = timing.part_duration
    for msn in range(first_msn, first_msn + segments):
        parts = tuple(PlaylistPart(f"p{msn}.{i}.m4s", part_s) for i in range(9))
        pdt = t0 + (msn - first_msn) * 9 * part_s
        for p in parts:
            window.add_part(p, pdt)
        window.close_segment(PlaylistSegment(msn, f"s{msn}.m4s", 9 * part_s, pdt, parts))
    msn = first_msn + segments
    for i in range(open_parts):
        window.add_part(PlaylistPart(f"p{msn}.{i}.m4s", part_s), t0 + segments * 9 * part_s)
    return window


def test_live_state_reads_the_edge_and_every_segments_start() -> None:
    state = live_state(window_with(10, 4).render())
    assert state.position == (10, 4) and not state.ended and state.discontinuity == 2
    assert state.first_msn == 2 and [m for m, _ in state.anchors] == [*range(2, 10), 10]
    assert state.has(10, 3) and not state.has(10, 4) and not state.has(11, 0)
    ended = window_with(3, 0)
    ended.ended = True
    assert live_state(ended.render()).ended and live_state(ended.render()).has(99, 0)


def test_the_anchor_is_the_same_from_any_segment_and_maps_numbers_to_media_time() -> None:
    # a resumed programme: media time not a multiple of the segment (the numbering continues)
    resume_at, first = 5 * SEG + 3 * 10 * 1024, 6
    state = live_state(window_with(8, 2, first_msn=first).render())
    anchors = {anchor(state, TIMING, msn, resume_at + (msn - first) * SEG) for msn in range(first, first + 8)}
    assert len(anchors) == 1
    (at,) = anchors
    assert at.presentation_time_offset >= 0
    for msn in range(first, first + 8):
        assert at.presentation_time_offset + (msn - at.start_number) * SEG == resume_at + (msn - first) * SEG
    assert abs(at.availability_start + (first - at.start_number) * SEG / 48000 - 1_800_000_000.0) < 0.002


def test_the_mpd_turns_on_the_chunked_path() -> None:
    state = live_state(window_with(4, 1).render())
    at = anchor(state, TIMING, 0, 0)
    assert at is not None
    mpd = ET.fromstring(render(state, TIMING, at, 80_000, 1_800_000_010.0, "http://edge/api/clock", 7.68))
    template = mpd.find(".//d:SegmentTemplate", NS)
    assert template is not None and template.get("availabilityTimeComplete") == "false"
    assert template.get("media") == "c$Number$.m4s" and template.get("initialization") == "init.mp4"
    assert mpd.find("d:Period", NS).get("id") == "run2"  # type: ignore[union-attr]
    assert mpd.get("availabilityStartTime") == "2027-01-15T08:00:00.000Z"


def test_decode_time_of_a_packaged_part() -> None:
    packager = Packager(10, 9, first_msn=3, start=12345 * 1024)
    part = None
    for _ in range(10):
        part, _segment = packager.add(b"\x00" * 20)
    assert part is not None and decode_time(part.data) == 12345 * 1024
    assert decode_time(b"no boxes") is None
