"""The replay's VOD playlist (RFC 8216): written over the recorded segments, and read back to verify."""

from __future__ import annotations

from datetime import UTC, datetime

from townhall.domain.replay.chain import TIMESCALE, Gap, Link


def _iso(ms: int) -> str:
    stamp = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def vod_playlist(links: list[Link], gaps: list[Gap], init_uri: str = "init.mp4") -> str:
    """RFC 8216 VOD playlist over the recorded segments; missing ones are EXT-X-GAP, restarts discontinuities."""
    target = max((x.duration for x in links), default=TIMESCALE)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:8",
        f"#EXT-X-TARGETDURATION:{max(1, -(-target // TIMESCALE))}",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        f"#EXT-X-MEDIA-SEQUENCE:{links[0].msn if links else 0}",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        f'#EXT-X-MAP:URI="{init_uri}"',
    ]
    before = {g.before_msn: g for g in gaps if g.after_msn is not None}
    for i, link in enumerate(links):
        gap = before.get(link.msn)
        if gap is not None:
            prev = links[i - 1]
            span = link.media_time - (prev.media_time + prev.duration)
            each = span // len(gap.missing) if gap.missing and span > 0 else prev.duration
            for msn in gap.missing:
                lines += ["#EXT-X-GAP", f"#EXTINF:{each / TIMESCALE:.5f},", f"s{msn}.m4s"]
            lines.append("#EXT-X-DISCONTINUITY")
        if i == 0 or gap is not None:
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{_iso(link.program_date_time_ms)}")
        lines += [f"#EXTINF:{link.duration / TIMESCALE:.5f},", link.uri]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def playlist_uris(text: str) -> list[str]:
    """The segment URIs a player would fetch, in order (EXT-X-GAP entries are not fetched)."""
    uris: list[str] = []
    gap = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line == "#EXT-X-GAP":
            gap = True
        elif not line.startswith("#"):
            if not gap:
                uris.append(line)
            gap = False
    return uris
