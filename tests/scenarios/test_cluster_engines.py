"""The scaled-out form on the engines a deployment runs: `townhall api` and two `townhall media` processes
with their hot state and leases on a three-master Redis Cluster and their media in an S3-compatible
bucket. A space is claimed, its parts stored in the bucket and served through the API; a SIGKILLed owner
is replaced and the playlist continues after what it stored."""

from __future__ import annotations

import re
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.api import register
from tests.support.cluster import as_edge, processes_env
from tests.support.s3 import moto_s3, new_bucket, s3_options
from tests.support.servers import postgres_database
from tests.support.state import CLUSTER_URL, redis_prefix
from tests.support.wait import until
from townhall.cluster import Cluster, cluster

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
NAMED = re.compile(r'(?:URI="|^)[ps](\d+)(?:\.\d+)?\.m4s', re.MULTILINE)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_s3() as endpoint:
        yield endpoint


@pytest.fixture
async def running(tmp_path: Path, s3_endpoint: str) -> AsyncIterator[tuple[Cluster, str]]:
    bucket, o = new_bucket(s3_endpoint), s3_options(s3_endpoint)
    async with postgres_database() as db, redis_prefix(cluster=True) as prefix:
        env = processes_env(
            db,
            CLUSTER_URL,
            prefix,
            TOWNHALL_BLOB_URL=f"s3://{bucket}/th",
            TOWNHALL_BLOB_S3_ENDPOINT=o["endpoint"],
            TOWNHALL_BLOB_S3_REGION=o["region"],
            TOWNHALL_BLOB_S3_ACCESS_KEY_ID=o["access_key_id"],
            TOWNHALL_BLOB_S3_SECRET_ACCESS_KEY=o["secret_access_key"],
        )
        async with cluster(tmp_path, env, apis=1, media=2) as c:
            yield c, bucket


def _msns(playlist: str) -> list[int]:
    return [int(m) for m in NAMED.findall(playlist)]


async def _beyond(api: httpx.AsyncClient, live: str, msn: int) -> str | None:
    r = await api.get(f"{live}/media.m3u8")
    return r.text if r.status_code == 200 and any(m > msn for m in _msns(r.text)) else None


async def test_a_space_on_redis_cluster_and_s3_is_served_and_survives_its_owner(
    running: tuple[Cluster, str], s3_endpoint: str
) -> None:
    from townhall.store.blobs.s3 import S3Blobs

    c, bucket = running
    async with as_edge(c.apis[0].url) as api:
        host = await register(api)
        space_id = (await api.post("/api/spaces", json={"title": "engines"}, headers=host["headers"])).json()["id"]
        assert (await api.post(f"/api/spaces/{space_id}/start", headers=host["headers"])).status_code == 200
        owner = await until(lambda: c.owner(space_id), 10, "a media node to claim the space")
        live = f"/live/{space_id}"
        first = await until(lambda: _beyond(api, live, 0), 15, "the playlist to name a second segment")
        msn = max(_msns(first))
        fetched = await api.get(f"{live}/s0.m4s")
        assert fetched.status_code == 200 and fetched.content[4:8] in (b"styp", b"moof")

        bucket_view = S3Blobs(bucket, "th", **s3_options(s3_endpoint))
        assert await bucket_view.get(f"live/{space_id}/s0.m4s") == fetched.content  # stored in the bucket

        c.kill(owner, signal.SIGKILL)
        other = await until(lambda: c.owner(space_id), 10, "the other node to claim the space")
        assert other is not owner
        after = await until(lambda: _beyond(api, live, msn), 15, "a segment from the new owner")
        assert max(_msns(after)) > msn
