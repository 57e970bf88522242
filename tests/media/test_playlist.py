"""LL-HLS playlist text against the MUSTs of RFC 8216bis, and the blocking reload rules."""

from __future__ import annotations

import re

import pytest

from townhall.domain.errors import Invalid
from townhall.media.playlist import (
    LiveWindow,
    PlaylistPart,
    PlaylistSegment,
    Timing,
    blocking_request,
    discontinuity_sequence,
    multivariant,
)

TIMING = Timing(10 * 1024 / 48_000, 9)


def window_with(segments: int, open_parts: int) -> LiveWindow:
    w = LiveWindow(TIMING, window=4)
    t0 = 1_790_000_000.0
    for msn in range(segments):
        parts = tuple(PlaylistPart(f"p{msn}.{i}.m4s", TIMING.part_duration) for i in range(9))
        for part in parts:
            w.add_part(part, t0)
        w.close_segment(PlaylistSegment(msn, f"s{msn}.m4s", TIMING.segment_duration, t0 + msn * 1.92, parts))
    for i in range(open_parts):
        w.add_part(PlaylistPart(f"p{segments}.{i}.m4s", TIMING.part_duration), t0 + segments * 1.92)
    return w


def attrs(line: str) -> dict[str, str]:
    return dict(re.findall(r'([A-Z-]+)=("[^"]*"|[^,]*)', line.split(":", 1)[1]))


def test_media_playlist_meets_the_rfc_musts() -> None:
    text = window_with(6, 3).render()
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U" and text.endswith("\n")
    target = int(next(x for x in lines if x.startswith("#EXT-X-TARGETDURATION:")).split(":")[1])
    extinfs = [float(x.split(":")[1].rstrip(",")) for x in lines if x.startswith("#EXTINF:")]
    assert extinfs and all(round(d) <= target for d in extinfs)  # 4.3.3.1
    part_target = float(attrs(next(x for x in lines if x.startswith("#EXT-X-PART-INF:")))["PART-TARGET"])
    parts = [attrs(x) for x in lines if x.startswith("#EXT-X-PART:")]
    assert parts and all(float(p["DURATION"]) <= part_target for p in parts)  # 4.4.4.9
    control = attrs(next(x for x in lines if x.startswith("#EXT-X-SERVER-CONTROL:")))
    assert control["CAN-BLOCK-RELOAD"] == "YES"
    assert float(control["PART-HOLD-BACK"]) >= 2 * part_target  # 4.4.3.8: at least twice
    assert float(control["PART-HOLD-BACK"]) == pytest.approx(3 * part_target)  # our choice: three parts
    assert lines.count('#EXT-X-MAP:URI="init.mp4"') == 1
    assert int(next(x for x in lines if x.startswith("#EXT-X-MEDIA-SEQUENCE:")).split(":")[1]) == 2  # window 4
    assert lines[-1] == '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="p6.3.m4s"'
    assert sum(x.startswith("#EXT-X-PROGRAM-DATE-TIME:") for x in lines) == 5
    assert re.search(r"#EXT-X-PROGRAM-DATE-TIME:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text)
    # parts are listed only near the live edge (the last three segments and the open one)
    assert "p2.0.m4s" not in text and "p3.0.m4s" in text
    # every segment URI follows its EXTINF
    for i, line in enumerate(lines):
        if line.startswith("#EXTINF:"):
            assert re.fullmatch(r"s\d+\.m4s", lines[i + 1])


def test_an_ended_playlist_closes_with_endlist_and_no_hint() -> None:
    w = window_with(2, 0)
    w.ended = True
    text = w.render()
    assert text.rstrip().endswith("#EXT-X-ENDLIST") and "PRELOAD-HINT" not in text


def test_multivariant_points_at_the_media_playlist_with_codecs() -> None:
    text = multivariant(80_000, 70_000)
    assert text.startswith("#EXTM3U\n") and 'CODECS="mp4a.40.2"' in text and text.endswith("media.m3u8\n")


@pytest.mark.parametrize(
    "query",
    [
        {"_HLS_part": "1"},
        {"_HLS_msn": "-1"},
        {"_HLS_msn": "x"},
        {"_HLS_msn": "1", "_HLS_part": "1.5"},
        {"_HLS_msn": "9" * 30},
    ],
)
def test_invalid_blocking_queries_are_rejected(query: dict[str, str]) -> None:
    with pytest.raises(Invalid):
        blocking_request(query)


def test_blocking_reload_waits_for_the_part_and_rejects_what_is_too_far_ahead() -> None:
    w = window_with(3, 2)  # last complete segment 2; open segment 3 has parts 0 and 1
    assert blocking_request({}) is None
    assert blocking_request({"_HLS_msn": "3", "_HLS_part": "2"}) == (3, 2)
    assert w.has(3, 1) and not w.has(3, 2) and w.has(2, None) and not w.has(3, None)
    assert w.has(2, 9) and not w.has(3, 9)  # a part past the last of its segment is part 0 of the next
    w.check_reachable(3, 2)
    w.check_reachable(3, 4)  # three ahead of the last part (3.1): allowed
    with pytest.raises(Invalid):
        w.check_reachable(3, 5)
    with pytest.raises(Invalid):
        w.check_reachable(5, None)  # last msn 2 plus two is 4
    w.check_reachable(4, None)


def test_a_full_segment_not_yet_closed_hints_the_next_segments_first_part() -> None:
    w = window_with(2, 9)  # segment 2 has all nine parts; its segment file is still being written
    assert w.position == (3, 0)
    assert w.render().rstrip().endswith('#EXT-X-PRELOAD-HINT:TYPE=PART,URI="p3.0.m4s"')
    assert w.has(2, 8) and not w.has(2, None) and not w.has(3, 0)


def test_a_segments_parts_add_up_to_its_extinf_as_written() -> None:
    """Each part's written duration covers its audio, so the parts of a complete segment add up to at least
    its EXTINF: short by even 30 µs (rounded to 10 µs), the end of a player's buffer falls inside the segment
    but past its last part, and hls.js fetched that last part hundreds of times on joining."""
    lines = window_with(4, 2).render().splitlines()
    listed: list[float] = []
    for line in lines:
        if line.startswith("#EXT-X-PART:"):
            listed.append(float(attrs(line)["DURATION"]))
            assert listed[-1] >= TIMING.part_duration
        elif line.startswith("#EXTINF:"):
            extinf = float(line.split(":")[1].rstrip(","))
            assert extinf >= TIMING.segment_duration - 1e-9  # to the nanosecond
            if listed:
                assert sum(listed) >= extinf, (sum(listed), extinf)
            listed = []


def test_the_replay_chain_head_is_listed_as_a_tag_players_ignore() -> None:
    from townhall.media.playlist import CHAIN_TAG, LiveWindow, Timing

    window = LiveWindow(Timing(0.21333, 9))
    assert CHAIN_TAG not in window.render()
    window.chain = (4, "ab" * 32)
    assert f'{CHAIN_TAG}:MSN=4,HEAD="{"ab" * 32}"' in window.render().splitlines()


def test_a_resumed_programme_starts_a_new_timeline_for_players() -> None:
    window = LiveWindow(Timing(0.21333, 9))
    assert "DISCONTINUITY-SEQUENCE" not in window.render()  # a programme's first encoder: no tag
    window.discontinuity_sequence = discontinuity_sequence(window.render()) + 1
    resumed = window.render()
    assert "#EXT-X-DISCONTINUITY-SEQUENCE:1\n" in resumed
    assert discontinuity_sequence(resumed) + 1 == 2  # and the next resume counts on from it
