"""A stall of the audio clock (past what the node catches up) loses that audio; the replay must say so: the
stretch is a gap in the signed manifest with its true wall-clock length, PROGRAM-DATE-TIME stays true to
the wall clock after it, and `townhall verify` reports the time the programme did not carry."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.support.servers import live_server
from tests.support.wait import until
from townhall.commands.verify import check
from townhall.media.recorder import SegmentRecord
from townhall.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.media, pytest.mark.timeout(90)]

STALL_S = 3.0


async def test_a_stalled_clock_is_a_gap_of_its_true_length_and_time_stays_true_after_it(settings: Settings) -> None:
    async with live_server(settings) as server:
        rt = server.runtime
        host = (await rt.accounts.register("stall_host", "password-host", "127.0.0.1")).account
        space = await rt.spaces.start(host, (await rt.spaces.create(host, "A stalled clock", None, None)).id)
        seen: list[tuple[float, SegmentRecord]] = []  # (when it was stored, as the wall clock says, record)
        rt.media.on_segment(lambda sid, rec: seen.append((time.time(), rec)) if sid == space.id else None)

        await until(lambda: _count(seen, 2), 30, "two segments before the stall")
        media_loop = rt.media._loop  # the media thread's loop: block it as a CPU-starved process would
        media_loop.call_soon_threadsafe(time.sleep, STALL_S)
        stalled_at = len(seen)
        await until(lambda: _count(seen, stalled_at + 3), 40, "three segments after the stall")

        for stored_at, record in seen[stalled_at + 1 :]:  # whole segments after the stall
            lag = stored_at - (record.program_date_time + record.duration)
            assert 0 <= lag < 1.0, f"segment {record.msn}: its PROGRAM-DATE-TIME is {lag:.2f} s off the wall clock"

        await rt.spaces.end(host, space.id)
        replay = await until(lambda: _published(rt, space.id), 30, "the replay published")
        assert replay is not None
        verdict = await asyncio.to_thread(check, f"{server.url}/replay/{space.id}/", None)
        assert verdict.verified, verdict.text()
        manifest = (await _manifest(server, space.id))["payload"]["gaps"]
        stalls = [g for g in manifest if not g["missing"]]
        assert len(stalls) == 1, manifest
        assert abs(stalls[0]["milliseconds"] / 1000 - STALL_S) < 0.5, stalls
        assert "s the programme did not carry" in verdict.text()


async def _count(seen: list[Any], n: int) -> bool:
    return len(seen) >= n


async def _published(rt: Any, space_id: str) -> Any:
    replay = await rt.recording.replay.finish(space_id)
    return replay if replay is not None and replay.state == "published" else None


async def _manifest(server: Any, space_id: str) -> dict[str, Any]:
    async with server.edge_client() as http:
        r = await http.get(f"/replay/{space_id}/manifest.json")
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out


async def test_the_unfinished_last_segment_is_in_the_replay(settings: Settings) -> None:
    """Ending a space mid-segment publishes its last parts as a shorter final segment (they were heard)."""
    async with live_server(settings) as server:
        rt = server.runtime
        host = (await rt.accounts.register("end_host", "password-host", "127.0.0.1")).account
        space = await rt.spaces.start(host, (await rt.spaces.create(host, "Ends mid-segment", None, None)).id)

        await until(lambda: _mid_segment(rt, space.id), 30, "a segment done and four parts of the next")
        ended_at = time.time()
        await rt.spaces.end(host, space.id)
        await until(lambda: _published(rt, space.id), 30, "the replay published")
        payload = (await _manifest(server, space.id))["payload"]
        last, full = payload["segments"][-1], payload["segments"][0]
        assert last["duration"] < full["duration"], "the last segment is the unfinished one, shorter"
        last_end = last["program_date_time_ms"] / 1000 + last["duration"] / payload["timescale"]
        assert ended_at - last_end < 0.5, f"the replay ends {ended_at - last_end:.2f} s before the space ended"
        verdict = await asyncio.to_thread(check, f"{server.url}/replay/{space.id}/", None)
        assert verdict.verified, verdict.text()


async def test_a_segment_left_unfinished_by_a_stop_is_closed_by_the_restart_and_replayed(settings: Settings) -> None:
    """A node that stops (or dies) mid-segment leaves its parts stored and heard; the next start closes that
    segment from them, so the chain and the replay hold it too."""
    async with live_server(settings) as server:
        rt = server.runtime
        host = (await rt.accounts.register("restart_host", "password-host", "127.0.0.1")).account
        space = await rt.spaces.start(host, (await rt.spaces.create(host, "Restarted mid-segment", None, None)).id)
        await until(lambda: _mid_segment(rt, space.id), 30, "a segment done and four parts of the next")
        unfinished = (await rt.media.playlist(space.id, None) or "").count("#EXTINF")  # its msn: segments before it
    async with live_server(settings) as server:  # the same data: the space resumes
        rt = server.runtime
        await until(lambda: _mid_segment(rt, space.id), 30, "the resumed programme")
        await rt.spaces.end(host, space.id)
        await until(lambda: _published(rt, space.id), 30, "the replay published")
        payload = (await _manifest(server, space.id))["payload"]
        closed = {x["msn"]: x for x in payload["segments"]}.get(unfinished)
        assert closed is not None, f"segment {unfinished}, heard live, is not in the replay"
        assert closed["duration"] < payload["segments"][0]["duration"]  # four or more parts, not nine
        assert not any(unfinished in g["missing"] for g in payload["gaps"]), payload["gaps"]
        verdict = await asyncio.to_thread(check, f"{server.url}/replay/{space.id}/", None)
        assert verdict.verified, verdict.text()


async def _mid_segment(rt: Any, space_id: str) -> bool:
    text = await rt.media.playlist(space_id, None) or ""
    open_parts = text.rsplit("#EXTINF", 1)[-1].split("\n", 2)[-1].count("#EXT-X-PART:")
    return text.count("#EXTINF") >= 1 and open_parts >= 4
