"""The media node's blob spool (store/blobs/spool.py) over a real S3-compatible server that is stopped and
started: uploads leave in write order (a playlist never reaches the store before what it names), nothing
leaves the spool before the store confirmed it, objects of a space the node does not hold wait, a
clash is set aside rather than deleted, and a new spool on the same folder picks up what was left."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from tests.support.s3 import new_bucket, s3_options, s3_server
from tests.support.wait import until
from townhall.s3server import S3Server
from townhall.store.blobs.s3 import S3Blobs
from townhall.store.blobs.spool import SpooledBlobs

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def server() -> Iterator[S3Server]:
    with s3_server() as s3:
        yield s3


def _remote(server: S3Server, bucket: str) -> S3Blobs:
    return S3Blobs(bucket, "p", **s3_options(server.url), timeout_s=1.0, retries=0)


class _Arrivals:
    """The real store, noting the order in which objects arrived in it."""

    def __init__(self, store: S3Blobs) -> None:
        self.store, self.arrived = store, list[str]()

    async def put_immutable(self, key: str, data: bytes, durable: bool = True) -> None:
        await self.store.put_immutable(key, data, durable)
        self.arrived.append(key)

    async def put_mutable(self, key: str, data: bytes, durable: bool = True) -> None:
        await self.store.put_mutable(key, data, durable)
        self.arrived.append(key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def _metric(registry: CollectorRegistry, name: str) -> float:
    value = registry.get_sample_value(name)
    assert value is not None, name
    return value


async def test_uploads_wait_while_the_store_is_away_then_leave_in_order(server: S3Server, tmp_path: Path) -> None:
    bucket = new_bucket(server.url)
    remote, registry = _Arrivals(_remote(server, bucket)), CollectorRegistry()
    spool = SpooledBlobs(remote, tmp_path / "spool", registry)
    server.stop()
    await spool.put_immutable("live/a/p0.0.m4s", b"part 0")
    await spool.put_mutable("live/a/media.m3u8", b"names p0.0")
    await spool.put_immutable("live/a/p0.1.m4s", b"part 1")
    await spool.put_mutable("live/a/media.m3u8", b"names p0.0 p0.1")  # replaced: to the back of the queue
    assert await spool.get("live/a/p0.1.m4s") == b"part 1"  # readable from the spool meanwhile
    assert await spool.get("live/a/media.m3u8") == b"names p0.0 p0.1"
    await until(lambda: _metric(registry, "townhall_blob_upload_failures_total") >= 2, 10, "two failed attempts")
    assert _metric(registry, "townhall_blob_upload_backlog") == 3
    assert (tmp_path / "spool" / "live" / "a" / "p0.0.m4s").is_file()  # nothing deleted before upload

    server.start()
    await asyncio.wait_for(spool.uploaded("live/a/media.m3u8"), 20)
    assert await remote.get("live/a/media.m3u8") == b"names p0.0 p0.1"
    assert await remote.get("live/a/p0.0.m4s") == b"part 0" and await remote.get("live/a/p0.1.m4s") == b"part 1"
    assert remote.arrived == ["live/a/p0.0.m4s", "live/a/p0.1.m4s", "live/a/media.m3u8"]  # the playlist last
    assert spool.backlog == 0 and not list((tmp_path / "spool" / "live" / "a").glob("*.m4s"))
    await spool.stop()


async def test_objects_of_a_space_not_held_wait_and_a_clash_is_set_aside(server: S3Server, tmp_path: Path) -> None:
    bucket = new_bucket(server.url)
    remote, registry = _remote(server, bucket), CollectorRegistry()
    holding = {"a": False, "b": True}
    spool = SpooledBlobs(remote, tmp_path / "spool", registry, may_upload=lambda key: holding[key.split("/")[1]])
    await remote.put_immutable("live/b/p0.0.m4s", b"another node's part")
    await spool.put_immutable("live/a/p0.0.m4s", b"part of a")
    await spool.put_immutable("live/b/p0.0.m4s", b"our part of b")
    await spool.put_immutable("live/b/p0.1.m4s", b"next part of b")
    await asyncio.wait_for(spool.uploaded("live/b/p0.1.m4s"), 10)
    assert await remote.get("live/b/p0.0.m4s") == b"another node's part"  # never overwritten
    assert (tmp_path / "spool" / ".conflicts" / "live" / "b" / "p0.0.m4s").read_bytes() == b"our part of b"
    assert _metric(registry, "townhall_blob_upload_conflicts_total") == 1
    assert await remote.get("live/a/p0.0.m4s") is None and spool.backlog == 1  # a is not held: it waits
    assert _metric(registry, "townhall_blob_spool_held_back") == 1
    await spool.stop()

    # a new spool on the same folder (a restart) finds it, and uploads it once the space is held
    holding["a"] = True
    again = SpooledBlobs(remote, tmp_path / "spool", CollectorRegistry(), may_upload=lambda key: holding["a"])
    assert again.backlog == 1 and await again.list("live/a/") == ["live/a/p0.0.m4s"]
    await again.start()
    await asyncio.wait_for(again.uploaded("live/a/p0.0.m4s"), 10)
    assert await remote.get("live/a/p0.0.m4s") == b"part of a"
    await again.stop()
