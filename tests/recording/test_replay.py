"""The replay as published: chain heads live and durable, the VOD playlist over the very segments,
the remuxed download, the signed manifest, gaps, unpublished recordings kept then swept, and
`townhall verify` on a folder naming each kind of tampering."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import httpx
import pytest

from tests.recording.conftest import ended_space, feed, synthetic_programme
from townhall.domain import replay as chain
from townhall.services.remux import duration_s

pytestmark = pytest.mark.timeout(60)


async def _published(app: Any, space_id: str, **kw: Any) -> Any:
    rt = app.state.runtime
    await feed(rt, space_id, **kw)
    await rt.recording.replay.ended(ended_space(space_id))
    for task in list(rt.recording.replay._tasks):
        await task
    return await rt.recording.replay.recordings.get(space_id)


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_each_segment_extends_the_chain_and_publishes_the_head(rec_app: Any) -> None:
    rt = rec_app.state.runtime
    await feed(rt, "sp_chain1")
    links = [x for x, _ in await rt.recording.replay.links.links("sp_chain1")]
    assert [x.msn for x in links] == list(range(6))
    assert links[0].head == chain.next_head(chain.genesis("sp_chain1"), links[0].sha256, 0, 0)
    head = await rt.recording.replay.live_head("sp_chain1")
    assert head == {"msn": 5, "head": links[-1].head, "media_time": links[-1].media_time}
    async with _client(rec_app) as c:
        r = await c.get("/api/spaces/sp_chain1/chain")
    assert r.json()["head"] == links[-1].head


async def test_chain_survives_a_restart_and_ignores_repeats(rec_app: Any) -> None:
    from townhall.services.replay import ReplayService

    rt = rec_app.state.runtime
    await feed(rt, "sp_restart")
    old = rt.recording.replay
    fresh = ReplayService(rt.ctx, old.state, old.links, old.recordings, rt.blobs, old.keys, old.keys_url)
    _, segments = synthetic_programme()
    seg = segments[5]
    from types import SimpleNamespace

    again = SimpleNamespace(
        msn=5,
        key=f"live/sp_restart/{seg.name}",
        media_time=seg.start,
        duration=1.92,
        sha256=hashlib.sha256(seg.data).hexdigest(),
        program_date_time=0.0,
    )
    assert await fresh.extend("sp_restart", again) is None
    assert len(await old.links.links("sp_restart")) == 6


async def test_ended_space_publishes_vod_playlist_download_and_signed_manifest(rec_app: Any) -> None:
    record = await _published(rec_app, "sp_pub01")
    assert record.state == "published" and record.segments == 6
    async with _client(rec_app) as c:
        playlist = await c.get("/replay/sp_pub01/index.m3u8")
        assert playlist.status_code == 200 and "immutable" in playlist.headers["cache-control"]
        text = playlist.text
        assert "#EXT-X-PLAYLIST-TYPE:VOD" in text and text.rstrip().endswith("#EXT-X-ENDLIST")
        _, segments = synthetic_programme()
        for seg in segments:  # the very bytes heard live, not copies re-encoded
            assert (await c.get(f"/replay/sp_pub01/{seg.name}")).content == seg.data
        audio = (await c.get("/replay/sp_pub01/audio.m4a")).content
        assert abs(duration_s(audio) - sum(s.duration for s in segments) / 48_000) < 0.05
        manifest = (await c.get("/replay/sp_pub01/manifest.json")).content
        keys = (await c.get("/.well-known/townhall/replay-keys.json")).json()
        info = (await c.get("/api/spaces/sp_pub01/replay")).json()
    payload, signature = chain.parse_signed(manifest)
    assert chain.check_signature(payload, signature, chain.keys_from_jwks(keys)) is None
    assert payload["files"]["audio.m4a"] == hashlib.sha256(audio).hexdigest()
    assert info["final_head"] == payload["final_head"] and info["segments"] == 6


async def test_gaps_are_marked_in_playlist_and_manifest(rec_app: Any) -> None:
    await _published(rec_app, "sp_gaps1", skip=(2,), pause_before=4)
    async with _client(rec_app) as c:
        text = (await c.get("/replay/sp_gaps1/index.m3u8")).text
        payload, _ = chain.parse_signed((await c.get("/replay/sp_gaps1/manifest.json")).content)
    assert "#EXT-X-GAP" in text and text.count("#EXT-X-DISCONTINUITY") == 2
    assert [(g["after_msn"], g["before_msn"], g["missing"]) for g in payload["gaps"]] == [(1, 3, [2]), (3, 4, [])]


async def test_unpublished_recording_is_kept_then_swept_after_retention(settings: Any, backend: str) -> None:
    from tests.recording.conftest import running_app

    async with running_app(settings.model_copy(update={"replay_retention_days": 0.0}), backend) as app:
        rt = app.state.runtime
        await feed(rt, "sp_private")
        await rt.recording.replay.ended(ended_space("sp_private", public=False))
        for task in list(rt.recording.replay._tasks):
            await task
        assert (await rt.recording.replay.recordings.get("sp_private")).state == "kept"
        async with _client(app) as c:
            r = await c.get("/replay/sp_private/index.m3u8")
        assert r.status_code == 403 and r.json()["code"] == "replay_not_public"
        assert await rt.blobs.exists("live/sp_private/s0.m4s")  # kept for review
        assert await rt.recording.replay.sweep() == ["sp_private"]
        assert not await rt.blobs.exists("live/sp_private/s0.m4s")
        async with _client(app) as c:
            assert (await c.get("/replay/sp_private/index.m3u8")).json()["code"] == "replay_deleted"


async def test_concurrent_finishes_publish_once(rec_app: Any) -> None:
    rt = rec_app.state.runtime
    await feed(rt, "sp_twice1")
    await rt.recording.replay.recordings.ending("sp_twice1", True, 1_700_000_100.0, None)
    first, second = await asyncio.gather(
        rt.recording.replay.finish("sp_twice1"), rt.recording.replay.finish("sp_twice1")
    )
    assert first == second and first.state == "published"


async def test_media_node_hook_returns_at_once_and_chains_in_order(rec_app: Any) -> None:
    from types import SimpleNamespace

    rt = rec_app.state.runtime
    _, segments = synthetic_programme()
    for seg in segments:
        info = SimpleNamespace(
            msn=seg.msn,
            key=f"live/sp_hook01/{seg.name}",
            media_time=seg.start,
            duration=seg.duration / 48_000,
            sha256=hashlib.sha256(seg.data).hexdigest(),
            program_date_time=1_700_000_000.0 + seg.msn * 1.92,
        )
        assert rt.recording.replay.on_segment("sp_hook01", info) is None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while len(await rt.recording.replay.links.links("sp_hook01")) < len(segments):
        assert loop.time() < deadline, "the queued segments were not chained"
        await asyncio.sleep(0.05)
    assert [x.msn for x, _ in await rt.recording.replay.links.links("sp_hook01")] == [s.msn for s in segments]


async def test_publication_waits_for_segments_chained_after_the_playlist_closed(rec_app: Any) -> None:
    """A media node in another process may still be chaining its last segments when it closes the playlist."""
    from types import SimpleNamespace

    rt = rec_app.state.runtime
    replay = rt.recording.replay
    init, segments = synthetic_programme()
    await rt.blobs.put_immutable("live/sp_late01/init.mp4", init)
    infos = []
    for seg in segments:
        await rt.blobs.put_immutable(f"live/sp_late01/{seg.name}", seg.data)
        infos.append(
            SimpleNamespace(
                msn=seg.msn,
                key=f"live/sp_late01/{seg.name}",
                media_time=seg.start,
                duration=seg.duration / 48_000,
                sha256=hashlib.sha256(seg.data).hexdigest(),
                program_date_time=1_700_000_000.0 + seg.msn * 1.92,
            )
        )
    for info in infos[:4]:
        await replay.extend("sp_late01", info)
    closed = "#EXTM3U\n" + "".join(f"#EXTINF:1.92,\n{s.name}\n" for s in segments) + "#EXT-X-ENDLIST\n"
    await rt.blobs.put_mutable("live/sp_late01/media.m3u8", closed.encode())

    async def late() -> None:
        await asyncio.sleep(0.5)
        for info in infos[4:]:
            await replay.extend("sp_late01", info)

    await replay.recordings.ending("sp_late01", True, 1_700_000_100.0, None)
    _, record = await asyncio.gather(late(), replay.finish("sp_late01"))
    assert record.state == "published" and record.segments == len(segments)
