"""Recording onto S3-compatible storage end to end: a space's programme stored in a real S3 server
(moto on loopback), the space ended, its replay published there, served from the bucket through the
API and verified by `townhall verify`; and a bucket that is down is a 503, never a driver error."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.recording.conftest import SEGMENTS, ended_space, feed
from tests.support.api import register
from tests.support.s3 import moto_s3, new_bucket, s3_options
from tests.support.servers import free_port, live_server
from tests.support.wait import until
from townhall.cli import main
from townhall.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_s3() as endpoint:
        yield endpoint


def on_s3(settings: Settings, endpoint: str, bucket: str) -> Settings:
    o = s3_options(endpoint)
    return settings.model_copy(
        update={
            "blob_url": f"s3://{bucket}/townhall/one",
            "blob_s3_endpoint": o["endpoint"],
            "blob_s3_region": o["region"],
            "blob_s3_access_key_id": o["access_key_id"],
            "blob_s3_secret_access_key": o["secret_access_key"],
            "blob_s3_timeout_s": 3.0,
            "blob_s3_retries": 0,
        }
    )


async def test_a_replay_recorded_onto_s3_is_served_from_the_bucket_and_verifies(
    settings: Settings, s3_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from townhall.store.blobs.s3 import S3Blobs

    bucket = new_bucket(s3_endpoint)
    async with live_server(on_s3(settings, s3_endpoint, bucket)) as server:
        rt = server.runtime
        assert isinstance(rt.blobs, S3Blobs)
        await feed(rt, "sp_s3")
        await rt.recording.replay.ended(ended_space("sp_s3"))
        for task in list(rt.recording.replay._tasks):
            await task
        code = await asyncio.to_thread(main, ["verify", f"{server.url}/r/sp_s3"])
        out = capsys.readouterr().out
        assert code == 0 and out.startswith("verified"), out
        async with server.client() as client:
            audio = await client.get("/replay/sp_s3/audio.m4a")
        assert audio.status_code == 200 and len(audio.content) > 1000

    # every object is in the bucket under the URL's prefix, none on the local disk
    bucket_view = S3Blobs(bucket, "townhall/one", **s3_options(s3_endpoint))
    replay = await bucket_view.list("replay/sp_s3/")
    assert replay == ["replay/sp_s3/audio.m4a", "replay/sp_s3/index.m3u8", "replay/sp_s3/manifest.json"]
    live = await bucket_view.list("live/sp_s3/")
    assert {f"live/sp_s3/s{i}.m4s" for i in range(SEGMENTS)} <= set(live)
    assert not (settings.data_dir / "blobs").exists() or not any((settings.data_dir / "blobs").rglob("*.m4s"))


async def test_a_live_space_records_onto_s3_and_its_clips_and_replay_come_from_the_bucket(
    settings: Settings, s3_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real media node: a started space's programme stored in S3, a clip cut live, the space ended,
    its replay published in the bucket, a clip cut from it, and `townhall verify` on its page."""
    from townhall.services.remux import duration_s
    from townhall.store.blobs.s3 import S3Blobs

    bucket = new_bucket(s3_endpoint)
    async with live_server(on_s3(settings, s3_endpoint, bucket)) as server, server.client() as c:
        rt = server.runtime
        host = await register(c)
        sid = (await c.post("/api/spaces", json={"title": "on s3"}, headers=host["headers"])).json()["id"]
        assert (await c.post(f"/api/spaces/{sid}/start", headers=host["headers"])).status_code == 200

        async def two_segments() -> bool:
            return len(await rt.recording.replay.links.links(sid)) >= 2

        await until(two_segments, 30, "two recorded segments")
        live = await c.post(f"/api/spaces/{sid}/clips", json={"duration_s": 3}, headers=host["headers"])
        assert live.status_code == 201, live.text
        assert (await c.post(f"/api/spaces/{sid}/end", headers=host["headers"])).status_code == 200

        async def published() -> bool:
            return (await c.get(f"/api/spaces/{sid}/replay")).status_code == 200

        await until(published, 40, "the published replay")
        clip = await c.post(
            f"/api/spaces/{sid}/clips", json={"start_s": 1.0, "duration_s": 2.0}, headers=host["headers"]
        )
        assert clip.status_code == 201, clip.text
        audio = await c.get(f"/replay/{sid}/clips/{clip.json()['id']}.m4a")
        assert audio.status_code == 200 and abs(duration_s(audio.content) - 2.0) < 0.1
        code = await asyncio.to_thread(main, ["verify", f"{server.url}/r/{sid}"])
        out = capsys.readouterr().out
        assert code == 0 and out.startswith("verified"), out

    bucket_view = S3Blobs(bucket, "townhall/one", **s3_options(s3_endpoint))
    stored = await bucket_view.list(f"live/{sid}/")
    assert f"live/{sid}/init.mp4" in stored and f"live/{sid}/media.m3u8" in stored
    assert any(k.endswith(".m4s") for k in stored)
    assert len(await bucket_view.list(f"replay/{sid}/clips/")) == 2  # the live clip and the replay clip
    assert "#EXT-X-ENDLIST" in ((await bucket_view.get(f"live/{sid}/media.m3u8")) or b"").decode()


async def test_a_segment_changed_in_the_bucket_is_named_by_verify(
    settings: Settings, s3_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from townhall.store.blobs.s3 import S3Blobs

    bucket = new_bucket(s3_endpoint)
    async with live_server(on_s3(settings, s3_endpoint, bucket)) as server:
        rt = server.runtime
        await feed(rt, "sp_s3b")
        await rt.recording.replay.ended(ended_space("sp_s3b"))
        for task in list(rt.recording.replay._tasks):
            await task
        # tampering behind the service's back: the bucket's owner overwrites one stored segment
        bucket_view = S3Blobs(bucket, "townhall/one", **s3_options(s3_endpoint))
        data = bytearray(await bucket_view.get("live/sp_s3b/s3.m4s") or b"")
        data[len(data) // 2] ^= 0x01
        await bucket_view.put_mutable("live/sp_s3b/s3.m4s", bytes(data))
        code = await asyncio.to_thread(main, ["verify", f"{server.url}/r/sp_s3b"])
        out = capsys.readouterr().out
        assert code == 1 and "segment 3 (s3.m4s) was changed" in out, out


async def test_a_bucket_that_is_down_is_a_503_with_retry_after(settings: Settings) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    async with live_server(on_s3(settings, dead, "th-down")) as server:
        async with server.edge_client() as client:
            response = await client.get("/live/sp_nowhere/master.m3u8")
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "blobs_unavailable"
    assert response.headers.get("Retry-After") == "1"
