"""Chunked CMAF (low-latency DASH) at the origin: the MPD, segments streamed chunk by chunk as the
programme makes them (the same bytes as the LL-HLS parts), refusals, and ffmpeg decoding it live."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from datetime import datetime

import pytest
from tests.media.conftest import Stage
from tests.media.test_live import A_HZ, publish
from tests.support.wait import until

from townhall.media.mpd import decode_time

pytestmark = [pytest.mark.media, pytest.mark.timeout(60)]
NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}


async def test_the_mpd_turns_on_chunked_low_latency_and_names_the_clock(stage: Stage) -> None:
    programme = stage.live.programme
    await until(lambda: programme.window.next_msn >= 1, 5, "a first segment")
    response = await stage.http.get(f"/live/{stage.space_id}/chunked.mpd")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/dash+xml")
    assert response.headers["cache-control"] == "public, max-age=1"
    mpd = ET.fromstring(response.text)
    assert mpd.get("type") == "dynamic"
    template = mpd.find(".//d:SegmentTemplate", NS)
    assert template is not None
    # without these two dash.js silently loads whole segments (specs/chunked.md, trap 1)
    assert template.get("availabilityTimeComplete") == "false"
    assert abs(float(template.get("availabilityTimeOffset", "0")) - 8 * 10 * 1024 / 48000) < 0.002
    assert template.get("duration") == str(9 * 10 * 1024) and template.get("timescale") == "48000"
    # the template maps segment numbers to the parts' media time
    start, pto = int(template.get("startNumber", "")), int(template.get("presentationTimeOffset", ""))
    for msn in (0, programme.last_msn):
        first = (
            programme.cached(f"p{msn}.0.m4s") or (await stage.http.get(f"/live/{stage.space_id}/p{msn}.0.m4s")).content
        )
        assert decode_time(first) == pto + (msn - start) * 9 * 10 * 1024
    timing = mpd.find("d:UTCTiming", NS)
    assert timing is not None and timing.get("value", "").endswith("/api/clock")
    latency = mpd.find(".//d:ServiceDescription/d:Latency", NS)
    assert latency is not None and latency.get("target")
    clock = await stage.http.get("/api/clock")
    assert clock.status_code == 200 and clock.headers["cache-control"] == "no-store" and clock.text.endswith("Z")


async def test_a_segment_is_streamed_chunk_by_chunk_as_each_part_is_made(stage: Stage) -> None:
    programme = stage.live.programme
    await until(lambda: programme.window.next_msn >= 1, 5, "a first segment")
    msn = programme.window.next_msn + 1  # the one after the segment being made: held from before its start
    loop = asyncio.get_running_loop()
    arrivals: list[tuple[float, int]] = []
    body = bytearray()
    async with stage.http.stream("GET", f"/live/{stage.space_id}/c{msn}.m4s") as response:
        assert response.status_code == 200
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert "content-length" not in response.headers  # chunked: its length is not known yet
        async for data in response.aiter_raw():
            body.extend(data)
            arrivals.append((loop.time(), len(body)))
    parts = [programme.cached(f"p{msn}.{i}.m4s") for i in range(9)]
    assert all(p is not None for p in parts)
    assert bytes(body) == b"".join(p for p in parts if p is not None)  # the LL-HLS parts, one encode
    assert bytes(body) == (await stage.http.get(f"/live/{stage.space_id}/s{msn}.m4s")).content
    # each chunk came as it was made, not all at the end: the first reached us a segment's time early
    first_chunk = len(parts[0] or b"")
    first_at = next(t for t, n in arrivals if n >= first_chunk)
    assert arrivals[-1][0] - first_at > 1.4, arrivals
    # a complete segment is served whole, with its length
    whole = await stage.http.get(f"/live/{stage.space_id}/c{msn}.m4s")
    assert whole.content == bytes(body) and whole.headers["content-length"] == str(len(body))


async def test_segments_too_far_ahead_and_bad_names_are_refused_at_once(stage: Stage) -> None:
    programme = stage.live.programme
    await until(lambda: programme.window.next_msn >= 1, 5, "a first segment")
    loop = asyncio.get_running_loop()
    live = f"/live/{stage.space_id}"
    for path, code in [
        (f"{live}/c{programme.window.next_msn + 3}.m4s", "segment_too_early"),
        (f"{live}/c{10**12}.m4s", "not_found"),
        (f"{live}/cx.m4s", "not_found"),
        ("/live/nospace1/chunked.mpd", "not_live"),
        ("/live/nospace1/c1.m4s", "not_found"),
    ]:
        started = loop.time()
        response = await stage.http.get(path)
        assert response.status_code == 404 and response.json()["code"] == code, (path, response.text)
        assert response.headers["cache-control"] == "no-cache"
        assert loop.time() - started < 0.2
    # the live gate: no edge credential and no token, no stream
    async with stage.server.client() as anonymous:
        response = await anonymous.get(f"{live}/c{programme.window.next_msn}.m4s")
        assert response.status_code == 403


async def test_ffmpeg_decodes_the_chunked_stream_live_through_a_listener_token(stage: Stage) -> None:
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg, "ffmpeg is installed on this machine"
    a, _ = await publish(stage, await stage.host_token(), A_HZ, 0)
    await until(lambda: stage.live.programme.window.next_msn >= 1, 5, "a first segment")
    joined = await stage.http.post(f"/api/spaces/{stage.space_id}/join", json={"device_id": "ffmpeg-device"})
    mpd_url = joined.json()["playlist_url"].replace("master.m3u8", "chunked.mpd")
    process = await asyncio.create_subprocess_exec(
        ffmpeg, "-nostdin", "-v", "error", "-i", mpd_url, "-t", "5", "-f", "wav", "-",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 30)
    await a.close(stage.http)
    assert process.returncode == 0 and not err.strip(), err.decode()
    assert len(out) > 4 * 48000 * 2  # at least 4 s of 16-bit mono decoded


async def test_after_the_media_clock_stalls_the_mpd_follows_the_wall_clock(stage: Stage) -> None:
    """The ticker re-bases after a stall (the lost time is not replayed): segments come that much later
    than before, and the MPD's availability start moves with them, or players would ask too early."""
    programme = stage.live.programme
    await until(lambda: programme.window.next_msn >= 1, 5, "a first segment")

    async def availability_start() -> float:
        text = (await stage.http.get(f"/live/{stage.space_id}/chunked.mpd")).text
        found = re.search(r'availabilityStartTime="([^"]+)"', text)
        assert found is not None, text
        return datetime.fromisoformat(found[1].replace("Z", "+00:00")).timestamp()

    before = await availability_start()
    stage.rt.media._loop.call_soon_threadsafe(time.sleep, 1.5)  # the media thread stalls 1.5 s
    await asyncio.sleep(0.1)
    stalled_at = programme.window.next_msn
    await until(lambda: programme.window.next_msn >= stalled_at + 2, 15, "two segments after the stall")
    moved = await availability_start() - before
    assert 1.3 < moved < 1.7, moved
