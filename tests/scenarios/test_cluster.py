"""The scaled-out form as processes: `townhall api` and two `townhall media` nodes on one PostgreSQL
database, one Redis and one blob folder. A node claims a live space; any API process answers its
playlist and parts and takes a speaker's WHIP offer to the owner; a SIGKILLed owner's space is claimed by
the other node within 5 s and continues after the last stored segment; and a node that lost its lease
while paused writes nothing more when it wakes."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import signal
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from aiortc import RTCConfiguration, RTCPeerConnection

from tests.support.api import register
from tests.support.cluster import as_edge, processes_env
from tests.support.servers import REDIS_URL, postgres_database, private_redis
from tests.support.state import redis_prefix
from tests.support.wait import until
from townhall.cli import main
from townhall.cluster import Cluster, cluster
from townhall.media.mixer import SILENCE
from townhall.media.synthetic import SignalTrack

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
MEDIA_NAME = re.compile(r"/([ps])(\d+)(?:\.(\d+))?\.m4s$")
NAMED = re.compile(r'(?:URI="|^)[ps](\d+)(?:\.\d+)?\.m4s', re.MULTILINE)


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Cluster]:
    async with postgres_database() as db, redis_prefix() as prefix:
        env = processes_env(db, f"{REDIS_URL}/0", prefix)
        async with cluster(tmp_path, env, apis=1, media=2) as c:
            yield c


async def _live_space(api: httpx.AsyncClient, host: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    host = host or await register(api)
    r = await api.post("/api/spaces", json={"title": "On the cluster"}, headers=host["headers"])
    space_id = r.json()["id"]
    assert (await api.post(f"/api/spaces/{space_id}/start", headers=host["headers"])).status_code == 200
    return space_id, host


def _msns(playlist: str) -> list[int]:
    return [int(m) for m in NAMED.findall(playlist)]


def _stored(blobs: Path, space_id: str) -> set[str]:
    return {p.name for p in (blobs / "live" / space_id).glob("*.m4s")}


async def _publish(api: httpx.AsyncClient, space_id: str, host: dict[str, Any]) -> tuple[RTCPeerConnection, Any]:
    token = (await api.post(f"/api/spaces/{space_id}/speaker-token", headers=host["headers"])).json()["token"]
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver(SignalTrack(lambda i: SILENCE), direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())
    headers = {"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"}
    r = await api.post(f"/whip/{space_id}", content=pc.localDescription.sdp, headers=headers, timeout=30)
    return pc, r


async def test_a_killed_owner_is_replaced_within_five_seconds(running: Cluster) -> None:
    api_url = running.apis[0].url
    async with as_edge(api_url) as api:
        space_id, host = await _live_space(api)
        owner = await until(lambda: running.owner(space_id), 10, "a media node to claim the space")
        other = next(node for node in running.media if node is not owner)

        # listeners, through any API process: the playlist, a blocking reload and the part it names
        live = f"/live/{space_id}"
        first = await until(lambda: _named(api, live), 10, "the playlist to name a part")
        hint = re.search(r'PRELOAD-HINT:TYPE=PART,URI="p(\d+)\.(\d+)\.m4s"', first)
        assert hint is not None
        msn, part = int(hint[1]), int(hint[2])
        held = await api.get(f"{live}/media.m3u8", params={"_HLS_msn": msn, "_HLS_part": part})
        assert held.status_code == 200 and f'URI="p{msn}.{part}.m4s"' in held.text
        fetched = await api.get(f"{live}/p{msn}.{part}.m4s")
        assert fetched.status_code == 200 and fetched.content[4:8] in (b"styp", b"moof")

        # a speaker's offer through the API reaches the owner
        pc, r = await _publish(api, space_id, host)
        try:
            assert r.status_code == 201, r.text
            assert r.headers["Location"].startswith(f"/whip/{space_id}/")
        finally:
            await pc.close()

        before = max(_msns((await api.get(f"{live}/media.m3u8")).text))
        killed_at = time.monotonic()
        running.kill(owner, signal.SIGKILL)
        assert await until(lambda: running.owner(space_id), 8, "the other node to claim the space") is other
        claimed_s = time.monotonic() - killed_at

        # the playlist continues on the same URL, after everything the dead node stored
        after = await until(lambda: _beyond(api, live, before), 10, "a part from the new owner")
        resumed_s = time.monotonic() - killed_at
        assert min(_msns(after)) > before
        assert "#EXT-X-DISCONTINUITY-SEQUENCE:1\n" in after  # a new encoder: a new timeline for the player
        assert claimed_s < 5.0 and resumed_s < 6.0, (claimed_s, resumed_s)

        pc, r = await _publish(api, space_id, host)  # a speaker publishing again reaches the new owner
        try:
            assert r.status_code == 201, r.text
        finally:
            await pc.close()
        await until(lambda: _beyond(api, live, min(_msns(after)) + 1), 10, "a complete segment from the new owner")

        # the replay: the chain continued from the last stored link, the stretch nobody stored is a gap
        assert (await api.post(f"/api/spaces/{space_id}/end", headers=host["headers"])).status_code == 200
        replay = await until(lambda: _published(api, space_id), 60, "the replay to be published")
        manifest = (await api.get(replay["manifest_url"])).json()["payload"]
        spans_the_kill = [
            g
            for g in manifest["gaps"]
            if (g["after_msn"] is None or g["after_msn"] <= before) and g["before_msn"] > before
        ]
        assert spans_the_kill, manifest["gaps"]
        code = await asyncio.to_thread(main, ["verify", f"{api_url}/r/{space_id}"])
        assert code == 0


async def test_a_node_that_lost_its_lease_writes_nothing_more(running: Cluster, tmp_path: Path) -> None:
    blobs = tmp_path / "blobs"
    async with as_edge(running.apis[0].url) as api:
        space_id, _ = await _live_space(api)
        owner = await until(lambda: running.owner(space_id), 10, "a media node to claim the space")
        other = next(node for node in running.media if node is not owner)
        live = f"/live/{space_id}"
        await until(lambda: _named(api, live), 10, "the playlist to name a part")
        before = max(_msns((await api.get(f"{live}/media.m3u8")).text))

        running.kill(owner, signal.SIGSTOP)  # paused, not dead: its lease lapses while it sleeps
        await until(lambda: _claimed_by(running, other, space_id), 8, "the other node to claim it")
        new_first = min(_msns(await until(lambda: _beyond(api, live, before), 10, "a part from the new owner")))
        old_only = {n for n in _stored(blobs, space_id) if _msn(n) < new_first}

        running.kill(owner, signal.SIGCONT)  # it wakes with parts encoded and a playlist to write
        await until(lambda: _fenced_out(owner), 10, "the old owner to notice it lost the space")
        assert await running.owner(space_id) is other
        assert {n for n in _stored(blobs, space_id) if _msn(n) < new_first} == old_only  # not one write more
        assert min(_msns((await api.get(f"{live}/media.m3u8")).text)) >= new_first  # nor a playlist


async def test_a_drained_owner_hands_its_space_over_at_a_segment_boundary(running: Cluster, tmp_path: Path) -> None:
    """SIGTERM on the owner: make before break. The successor starts its programme before the cut and
    takes the lease in one step (a transfer, not a lapse); the programme continues with the next media
    sequence number, every part and segment stored once, and PROGRAM-DATE-TIME contiguous across the
    cut (the bound is on the timeline the listener is given, not on this machine's load). A space that
    goes live during the drain is placed on the other node even though the draining one is less loaded."""
    blobs = tmp_path / "blobs"
    first, second = running.media
    async with as_edge(running.apis[0].url) as api:
        host = await register(api)
        spaces = []
        for expected in (first, second, first):  # loads: first 2, second 1 (ties go to the lower id)
            space_id, _ = await _live_space(api, host)
            assert await until(lambda s=space_id: running.owner(s), 10, "a node to claim the space") is expected
            spaces.append(space_id)
        drained = spaces[1]
        live = f"/live/{drained}"
        await until(lambda: _named(api, live), 10, "the playlist to name a part")
        pc, r = await _publish(api, drained, host)  # a speaker on the node about to drain
        assert r.status_code == 201, r.text
        late = (await api.post("/api/spaces", json={"title": "During the drain"}, headers=host["headers"])).json()
        timeline: Timeline = {}
        following = asyncio.create_task(_follow(api, live, timeline))
        try:
            await until(lambda: _listed(timeline, 12), 15, "a dozen parts before the drain")
            running.kill(second, signal.SIGTERM)
            await until(lambda: _draining(running, second.name), 10, "the node to say it is draining")
            assert (await api.post(f"/api/spaces/{late['id']}/start", headers=host["headers"])).status_code == 200
            placed = await until(lambda: running.owner(late["id"]), 10, "a node to claim the new space")
            drain_still_running = second.alive
            await asyncio.wait_for(second.proc.wait(), 20)  # it hands over, then exits
            assert await running.owner(drained) is first
            await until(lambda: _after_cut(timeline) >= 12, 15, "a dozen parts from the successor")
        finally:
            following.cancel()
            await pc.close()
        # the replay's chain runs through the cut: the old node chained its last segment, the successor the next
        assert (await api.post(f"/api/spaces/{drained}/end", headers=host["headers"])).status_code == 200
        replay = await until(lambda: _published(api, drained), 60, "the replay to be published")
        manifest = (await api.get(replay["manifest_url"])).json()["payload"]
    assert await asyncio.to_thread(main, ["verify", f"{running.apis[0].url}/r/{drained}"]) == 0
    assert second.proc.returncode in (0, -signal.SIGTERM)  # uvicorn ends by raising the signal it handled
    # one timeline: every part of every media sequence number, each starting where the one before ended
    parts = sorted(timeline)
    first_msn, last_msn = parts[0][0], parts[-1][0]
    expected = [(m, i) for m in range(first_msn, last_msn + 1) for i in range(9)]
    assert parts == [p for p in expected if parts[0] <= p <= parts[-1]], parts
    cut = min(p for p, (_, _, ds) in timeline.items() if ds > timeline[parts[0]][2])
    assert cut[1] == 0 and cut > parts[0]  # the cut is a segment boundary
    for before, after in itertools.pairwise(parts):
        start, duration, ds = timeline[before]
        next_start, _, next_ds = timeline[after]
        assert abs(next_start - (start + duration)) < 0.05, (after, next_start - start - duration)
        assert next_ds == ds + (1 if after == cut else 0)  # the successor's encoder: a new timeline
    assert not [g for g in manifest["gaps"] if (g["after_msn"] or 0) < cut[0] <= g["before_msn"]], manifest["gaps"]
    stored = {p.name for p in (blobs / "live" / drained).glob("*.m4s")}
    for msn in range(0, last_msn):  # every part and segment of both nodes, none missing
        assert f"s{msn}.m4s" in stored and all(f"p{msn}.{i}.m4s" in stored for i in range(9)), msn
    assert placed is first and drain_still_running  # the draining node was the less loaded, yet not chosen
    old_log, new_log = second.log.read_text(), first.log.read_text()
    assert f"claimed space {late['id']}" not in old_log
    assert f"node {second.name} handed space {drained} to {first.name}" in old_log  # planned, not break-first
    moved = old_log.index(f"node {second.name} moved the speakers of space {drained} to {first.name}")
    assert moved < old_log.index(f"handed space {drained}")  # speakers move before the old node stops
    assert f"node {first.name} took space {drained} over" in new_log  # the lease was transferred
    assert f"claimed space {drained}" not in new_log  # ... not claimed after a release or a lapse
    assert "could not store" not in old_log + new_log and "Traceback" not in old_log + new_log


async def _follow(api: httpx.AsyncClient, live: str, timeline: dict[tuple[int, int], tuple[float, float, int]]) -> None:
    """A listener's blocking playlist reloads; notes each part it is given: (msn, index) -> (start by
    PROGRAM-DATE-TIME, duration, discontinuity sequence)."""
    wanted: dict[str, int] = {}
    while True:
        r = await api.get(f"{live}/media.m3u8", params=wanted)
        if r.status_code != 200:
            wanted = {}
            await asyncio.sleep(0.05)  # pacing retries while no node answers, not synchronisation
            continue
        ds_found = re.search(r"^#EXT-X-DISCONTINUITY-SEQUENCE:(\d+)$", r.text, re.M)
        ds = int(ds_found[1]) if ds_found else 0
        start = 0.0
        for line in r.text.splitlines():
            if line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
                start = datetime.fromisoformat(line.split(":", 1)[1].replace("Z", "+00:00")).timestamp()
            elif m := re.match(r'#EXT-X-PART:DURATION=([\d.]+),URI="p(\d+)\.(\d+)\.m4s"', line):
                timeline.setdefault((int(m[2]), int(m[3])), (start, float(m[1]), ds))
                start += float(m[1])
        hint = re.search(r'PRELOAD-HINT:TYPE=PART,URI="p(\d+)\.(\d+)\.m4s"', r.text)
        wanted = {"_HLS_msn": int(hint[1]), "_HLS_part": int(hint[2])} if hint else {}


Timeline = dict[tuple[int, int], tuple[float, float, int]]


def _listed(timeline: Timeline, count: int) -> bool:
    return len(timeline) >= count


def _after_cut(timeline: Timeline) -> int:
    """Parts listed on a newer timeline than the first one seen (the successor's)."""
    first = timeline[min(timeline)][2] if timeline else 0
    return sum(1 for _, _, ds in timeline.values() if ds > first)


async def _draining(c: Cluster, node_id: str) -> bool:
    client = aioredis.from_url(REDIS_URL)
    try:
        raw = await client.hget(f"{c.env['TOWNHALL_STATE_PREFIX']}media-nodes", node_id)
    finally:
        await client.aclose()
    return raw is not None and bool(json.loads(raw)["draining"])


# --- helpers ------------------------------------------------------------------------------------
async def _named(api: httpx.AsyncClient, live: str) -> str | None:
    r = await api.get(f"{live}/media.m3u8")
    return r.text if r.status_code == 200 and "PRELOAD-HINT" in r.text and "#EXT-X-PART:" in r.text else None


async def _beyond(api: httpx.AsyncClient, live: str, msn: int) -> str | None:
    r = await api.get(f"{live}/media.m3u8")
    return r.text if r.status_code == 200 and any(m > msn for m in _msns(r.text)) else None


async def _published(api: httpx.AsyncClient, space_id: str) -> dict[str, Any] | None:
    r = await api.get(f"/api/spaces/{space_id}/replay")
    return r.json() if r.status_code == 200 else None


async def _claimed_by(c: Cluster, node: Any, space_id: str) -> bool:
    return await c.owner(space_id) is node


def _msn(name: str) -> int:
    m = MEDIA_NAME.search("/" + name)
    assert m is not None
    return int(m[2])


async def _fenced_out(node: Any) -> bool:
    async with httpx.AsyncClient(timeout=2) as client:
        with_metrics = (await client.get(node.url + "/metrics")).text
        health = (await client.get(node.url + "/healthz")).json()
    fenced = re.search(r"^townhall_media_fenced_out_total ([\d.]+)$", with_metrics, re.M)
    return not health["spaces"] and fenced is not None and float(fenced[1]) >= 1


async def test_parts_keep_flowing_while_redis_is_away(tmp_path: Path) -> None:
    """Redis stopped for longer than the lease time: the owner keeps its space (nobody can claim it
    meanwhile) and stores parts throughout; when Redis returns empty, it claims the space again and
    listeners are answered again; the other node never runs it."""
    blobs = tmp_path / "blobs"
    async with postgres_database() as db, private_redis(tmp_path) as redis:
        env = processes_env(db, redis.url)
        async with (
            cluster(tmp_path, env, apis=1, media=2) as running,
            as_edge(running.apis[0].url) as api,
        ):
            space_id, _ = await _live_space(api)
            owner = await until(lambda: running.owner(space_id), 10, "a media node to claim the space")
            other = next(node for node in running.media if node is not owner)
            live = f"/live/{space_id}"
            await until(lambda: _named(api, live), 10, "the playlist to name a part")
            before = max(_msns((await api.get(f"{live}/media.m3u8")).text))

            await redis.stop()
            stopped = time.time()
            await until(lambda: _stored_after(blobs, space_id, stopped + 4.0), 15, "a part stored 4 s into the outage")
            await redis.start()

            await until(lambda: _beyond(api, live, before + 2), 15, "listeners answered again after the outage")
            assert await running.owner(space_id) is owner
            assert space_id not in (await _health(other))["spaces"]


def _stored_after(blobs: Path, space_id: str, when: float) -> bool:
    return any(p.stat().st_mtime > when for p in (blobs / "live" / space_id).glob("p*.m4s"))


async def _health(node: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=2) as client:
        health: dict[str, Any] = (await client.get(node.url + "/healthz")).json()
        return health
