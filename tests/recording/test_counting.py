"""Counting on both state backends: joins, renewals, beacons with retries, 24 h de-duplication,
views kept apart from listens, bots apart, peaks sampled from leases, HLL within 2 %."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import httpx
import pytest

from tests.support.api import auth, join, live_space, register
from townhall.domain.counting import Event, Kind
from townhall.services.counting import Counted

pytestmark = pytest.mark.timeout(90)
_ids = itertools.count()
UA = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"}


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 50000)), base_url="http://t", headers=UA
    )


def _event(kind: str, space_id: str, **kw: Any) -> dict[str, Any]:
    return {"id": f"evt-{next(_ids):08d}-x", "type": kind, "space_id": space_id, **kw}


async def _counts(c: httpx.AsyncClient, space_id: str) -> dict[str, Any]:
    r = await c.get(f"/api/spaces/{space_id}/counts")
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def test_joins_are_exact_and_renewals_never_count(rec_app: Any) -> None:
    async with _client(rec_app) as c:
        host = await register(c)
        sid = (await live_space(c, host))["id"]
        tokens = []
        for i in range(5):
            r = await join(c, sid, f"device-{i:04d}xx")
            tokens.append(r.json()["token"])
        await join(c, sid, "device-0000xx")  # the same device joins again: a join, not a new listener
        for token in tokens:
            for _ in range(3):
                assert (await c.post(f"/api/spaces/{sid}/lease", headers=auth(token))).status_code == 200
        counts = await _counts(c, sid)
        room = (await c.get(f"/api/spaces/{sid}/state")).json()
    assert room["counts"] == {"peak": 0, "joins": 6, "unique_listeners": 5}  # on the listener page too
    listens = counts["listens"]
    assert listens["live_joins"] == 6
    assert listens["live_unique_listeners"] == 5
    assert listens["live_concurrent"] == 5
    assert counts["combined_unique_reach"] == 5


async def test_peak_is_sampled_from_leases(rec_app: Any) -> None:
    rt = rec_app.state.runtime
    async with _client(rec_app) as c:
        host = await register(c)
        sid = (await live_space(c, host))["id"]
        tokens = [(await join(c, sid)).json()["token"] for _ in range(3)]
        await rt.recording.counting.sample_peaks()
        for token in tokens[:2]:
            await c.delete(f"/api/spaces/{sid}/lease", headers=auth(token))
        await rt.recording.counting.sample_peaks()
        listens = (await _counts(c, sid))["listens"]
    assert listens["live_concurrent"] == 1 and listens["live_peak_concurrent"] == 3


async def test_retried_beacons_never_double_count(rec_app: Any) -> None:
    async with _client(rec_app) as c:
        host = await register(c)
        sid = (await live_space(c, host))["id"]
        batch = {
            "device_id": "device-beacon1",
            "events": [_event("impression", sid, surface="space_page") for _ in range(4)],
        }
        first = (await c.post("/api/beacons", json=batch)).json()
        retry = (await c.post("/api/beacons", json=batch)).json()
        assert first == {"accepted": 4, "counted": 4, "duplicates": 0}
        assert retry == {"accepted": 4, "counted": 0, "duplicates": 4}
        views = (await _counts(c, sid))["views"]
    assert views["post_views"] == 4 and views["combined_views"] == 4
    assert "counted more than once" in views["combined_views_label"]


async def test_views_count_every_time_and_never_add_to_listens(rec_app: Any) -> None:
    async with _client(rec_app) as c:
        host = await register(c)
        sid = (await live_space(c, host))["id"]
        events = [_event("impression", sid, surface="share_card") for _ in range(3)]
        events.append(_event("impression", sid, surface="embed"))
        await c.post("/api/beacons", json={"device_id": "device-viewer1", "events": events})
        counts = await _counts(c, sid)
    assert counts["views"]["post_views"] == 3 and counts["views"]["embed_views"] == 1
    assert counts["views"]["combined_views"] == 3
    assert counts["listens"]["live_joins"] == 0 and counts["listens"]["replay_plays"] == 0


async def test_bots_are_counted_apart(rec_app: Any) -> None:
    async with _client(rec_app) as c:
        host = await register(c)
        sid = (await live_space(c, host))["id"]
        ev = [_event("impression", sid, surface="space_page")]
        await c.post(
            "/api/beacons", json={"device_id": "device-bot0001", "events": ev}, headers={"User-Agent": "Googlebot/2.1"}
        )
        counts = await _counts(c, sid)
    assert counts["views"]["post_views"] == 0 and counts["synthetic"]["post_views"] == 1
    assert counts["combined_unique_reach"] == 0


async def test_replay_play_counts_once_per_viewer_per_day_after_sixty_seconds(rec_app: Any) -> None:
    rt = rec_app.state.runtime
    await rt.recording.replay.recordings.ending("sp_plays1", True, 1.0, None)
    await rt.recording.replay.recordings.update("sp_plays1", state="published", duration_ms=600_000)
    async with _client(rec_app) as c:
        short = [_event("replay_play", "sp_plays1", played_s=30)]
        r = (await c.post("/api/beacons", json={"device_id": "device-play001", "events": short})).json()
        assert r["counted"] == 0
        for _ in range(2):  # the same listener plays twice within 24 h
            ev = [_event("replay_play", "sp_plays1", played_s=61)]
            await c.post("/api/beacons", json={"device_id": "device-play001", "events": ev})
        ev = [_event("replay_play", "sp_plays1", played_s=75)]
        await c.post("/api/beacons", json={"device_id": "device-play002", "events": ev})
    counts = await rt.recording.counting.space_counts(await _space("sp_plays1"), None)
    assert counts["listens"]["replay_plays"] == 2
    assert counts["listens"]["replay_unique_listeners"] == 2


async def _space(space_id: str) -> Any:
    from tests.recording.conftest import ended_space

    return ended_space(space_id)


async def test_hyperloglog_is_within_two_percent_at_100k(rec_app: Any) -> None:
    counting = rec_app.state.runtime.recording.counting
    space = await _space("sp_hll100k")
    n = 100_000
    for start in range(0, n, 10_000):
        batch = [Counted(Event(Kind.JOIN, space.id, f"viewer-{i}")) for i in range(start, start + 10_000)]
        await counting.record(batch)
    counts = await counting.space_counts(space, None)
    assert counts["listens"]["live_joins"] == n
    assert abs(counts["listens"]["live_unique_listeners"] - n) / n <= 0.02


async def test_stopping_drains_every_batch_handed_in(rec_app: Any) -> None:
    counting = rec_app.state.runtime.recording.counting
    space = await _space("sp_drain1")
    calls = [
        asyncio.ensure_future(counting.record([Counted(Event(Kind.JOIN, space.id, f"v{i}-{k}")) for k in range(50)]))
        for i in range(20)
    ]
    await asyncio.sleep(0)
    await counting.stop()
    outcomes = await asyncio.gather(*calls)
    assert sum(o.counted for o in outcomes) == 1000
    assert (await counting.ledger.totals(f"space:{space.id}"))["joins"] == 1000
    await counting.start()  # the app's shutdown stops it again
