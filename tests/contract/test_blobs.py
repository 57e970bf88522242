"""The blob contract (store/blobs/base.py) on every implementation: immutable objects written once,
mutable ones replaced whole, listing and deleting by prefix, and keys that cannot escape the store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.s3 import moto_s3, new_bucket, s3_options
from townhall.store.blobs.base import BlobExists, BlobStore
from townhall.store.blobs.local import LocalBlobs

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_s3() as endpoint:
        yield endpoint


@pytest.fixture(params=["local", "s3"])
async def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    if request.param == "local":
        yield LocalBlobs(tmp_path / "blobs")
        return
    from townhall.store.blobs.s3 import S3Blobs

    endpoint = request.getfixturevalue("s3_endpoint")
    yield S3Blobs(new_bucket(endpoint), "deploy/one", **s3_options(endpoint))


async def test_an_immutable_object_reads_back_once_written(blobs: BlobStore) -> None:
    assert await blobs.get("live/s1/p0.m4s") is None
    assert await blobs.exists("live/s1/p0.m4s") is False
    await blobs.put_immutable("live/s1/p0.m4s", b"\x00part")
    assert await blobs.exists("live/s1/p0.m4s") is True
    assert await blobs.get("live/s1/p0.m4s") == b"\x00part"


async def test_writing_the_same_bytes_again_is_a_no_op(blobs: BlobStore) -> None:
    await blobs.put_immutable("live/s1/init.mp4", b"init")
    await blobs.put_immutable("live/s1/init.mp4", b"init")
    assert await blobs.get("live/s1/init.mp4") == b"init"


async def test_writing_different_bytes_to_an_immutable_object_raises(blobs: BlobStore) -> None:
    await blobs.put_immutable("live/s1/p1.m4s", b"first")
    with pytest.raises(BlobExists):
        await blobs.put_immutable("live/s1/p1.m4s", b"second")
    assert await blobs.get("live/s1/p1.m4s") == b"first"


async def test_concurrent_writers_of_one_key_never_both_win(blobs: BlobStore) -> None:
    payloads = [bytes([i]) * 64 * 1024 for i in range(1, 9)]
    for attempt in range(5):
        key = f"live/race/p{attempt}.m4s"
        results = await asyncio.gather(*(blobs.put_immutable(key, p) for p in payloads), return_exceptions=True)
        winners = [p for p, r in zip(payloads, results, strict=True) if r is None]
        assert len(winners) == 1, f"{len(winners)} writers of {key} were told they wrote it"
        assert all(isinstance(r, BlobExists) for r in results if r is not None), results
        assert await blobs.get(key) == winners[0]


async def test_concurrent_writers_of_the_same_bytes_all_succeed(blobs: BlobStore) -> None:
    results = await asyncio.gather(*(blobs.put_immutable("live/same/p0.m4s", b"part") for _ in range(8)))
    assert results == [None] * 8
    assert await blobs.get("live/same/p0.m4s") == b"part"


async def test_a_mutable_object_is_replaced(blobs: BlobStore) -> None:
    await blobs.put_mutable("live/s1/index.m3u8", b"#EXTM3U\n1")
    await blobs.put_mutable("live/s1/index.m3u8", b"#EXTM3U\n2")
    assert await blobs.get("live/s1/index.m3u8") == b"#EXTM3U\n2"


async def test_readers_never_see_a_torn_mutable_object(blobs: BlobStore) -> None:
    versions = [bytes([i]) * 256 * 1024 for i in range(1, 9)]
    await blobs.put_mutable("live/s2/index.m3u8", versions[0])
    torn: list[int] = []

    async def read_while_writing() -> None:
        for _ in range(60):
            data = await blobs.get("live/s2/index.m3u8")
            if data not in versions:
                torn.append(len(data or b""))

    async def write_all() -> None:
        for v in versions[1:] * 3:
            await blobs.put_mutable("live/s2/index.m3u8", v)

    await asyncio.gather(read_while_writing(), write_all())
    assert torn == []


async def test_listing_is_by_prefix_and_sorted(blobs: BlobStore) -> None:
    for key in ("live/s1/p2.m4s", "live/s1/p10.m4s", "live/s2/p0.m4s", "replay/s1/index.m3u8"):
        await blobs.put_immutable(key, b"x")
    await blobs.put_mutable("live/s1/index.m3u8", b"#EXTM3U")
    assert await blobs.list("live/s1/") == ["live/s1/index.m3u8", "live/s1/p10.m4s", "live/s1/p2.m4s"]
    assert await blobs.list("live/") == sorted(await blobs.list("live/s1/") + ["live/s2/p0.m4s"])
    assert await blobs.list("nothing/") == []
    assert len(await blobs.list("")) == 5


async def test_deleting_a_prefix_removes_only_its_objects(blobs: BlobStore) -> None:
    for key in ("live/s1/a", "live/s1/deep/b", "live/s10/c"):
        await blobs.put_immutable(key, b"x")
    assert await blobs.delete_prefix("live/s1/") == 2
    assert await blobs.list("live/") == ["live/s10/c"]
    assert await blobs.delete_prefix("live/s1/") == 0
    await blobs.put_immutable("live/s1/a", b"other bytes")  # a deleted immutable key may be written anew
    assert await blobs.get("live/s1/a") == b"other bytes"


@pytest.mark.parametrize("key", ["", "/etc/passwd", "../outside", "live/../../outside", "live//p", "live/./p"])
async def test_keys_that_could_escape_the_store_are_rejected(blobs: BlobStore, key: str) -> None:
    with pytest.raises(ValueError):
        await blobs.put_immutable(key, b"x")
    with pytest.raises(ValueError):
        await blobs.put_mutable(key, b"x")
    with pytest.raises(ValueError):
        await blobs.get(key)


@pytest.mark.parametrize("prefix", ["", "/", "../", "live/../../"])
async def test_deleting_an_unsafe_or_empty_prefix_is_rejected(blobs: BlobStore, prefix: str) -> None:
    await blobs.put_immutable("live/s1/a", b"x")
    with pytest.raises(ValueError):
        await blobs.delete_prefix(prefix)
    assert await blobs.get("live/s1/a") == b"x"


async def test_the_local_store_exposes_files_for_sendfile(tmp_path: Path) -> None:
    store = LocalBlobs(tmp_path / "b")
    await store.put_immutable("live/s1/p0.m4s", b"part")
    path = store.local_path("live/s1/p0.m4s")
    assert path.read_bytes() == b"part"
    assert path.is_relative_to(tmp_path / "b")


async def test_a_write_that_need_not_be_durable_is_visible_at_once(blobs: BlobStore) -> None:
    """`durable=False` (a live part, the live playlist) keeps the contract: visible when the call
    returns, write-once for immutable objects, replaced whole for mutable ones."""
    await blobs.put_immutable("live/s1/p9.m4s", b"part", durable=False)
    assert await blobs.get("live/s1/p9.m4s") == b"part"
    with pytest.raises(BlobExists):
        await blobs.put_immutable("live/s1/p9.m4s", b"other", durable=False)
    await blobs.put_mutable("live/s1/media.m3u8", b"#EXTM3U 1", durable=False)
    await blobs.put_mutable("live/s1/media.m3u8", b"#EXTM3U 2", durable=False)
    assert await blobs.get("live/s1/media.m3u8") == b"#EXTM3U 2"


async def test_a_local_store_syncs_to_disk_only_what_must_outlive_the_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    local = LocalBlobs(tmp_path / "blobs")
    await local.put_immutable("live/s1/s0.m4s", b"segment")
    await local.put_mutable("live/s1/master.m3u8", b"#EXTM3U")
    assert len(synced) == 2
    await local.put_immutable("live/s1/p0.0.m4s", b"part", durable=False)
    await local.put_mutable("live/s1/media.m3u8", b"#EXTM3U", durable=False)
    assert len(synced) == 2  # a slow disk's fsync no longer holds up a part (decision 0007)


async def test_the_recorder_syncs_segments_and_records_not_parts_or_the_live_playlist(tmp_path: Path) -> None:
    from townhall.media.packager import Part, Segment
    from townhall.media.recorder import Recorder

    class Noting(LocalBlobs):
        def __init__(self, root: Path) -> None:
            super().__init__(root)
            self.writes: dict[str, bool] = {}

        async def put_immutable(self, key: str, data: bytes, durable: bool = True) -> None:
            self.writes[key.rsplit("/", 1)[-1]] = durable
            await super().put_immutable(key, data, durable)

        async def put_mutable(self, key: str, data: bytes, durable: bool = True) -> None:
            self.writes[key.rsplit("/", 1)[-1]] = durable
            await super().put_mutable(key, data, durable)

    store = Noting(tmp_path / "blobs")
    recorder = Recorder(store, "s1")
    part = Part(0, 0, b"part", 0, 1024)
    await recorder.write_part(part)
    await recorder.write_segment(Segment(0, (part,), b"segment", 0, 1024), 1_764_170_000.0)
    await recorder.write_playlist("#EXTM3U")
    assert store.writes == {part.name: False, "s0.m4s": True, "0000000000.json": True, "media.m3u8": False}
