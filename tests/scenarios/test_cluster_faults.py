"""Faults of the scaled-out form's dependencies, on real processes: Redis down when a process starts,
a mute decided while Redis is away, and the blob store failing under a live space (issue 13, faults)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as redis_asyncio

from tests.conftest import TEST_KEYS
from tests.scenarios.test_cluster import _beyond, _msns, _published
from tests.support.api import live_space, register
from tests.support.cluster import claimed_space, processes_env
from tests.support.s3 import new_bucket, s3_options, s3_server
from tests.support.servers import REDIS_URL, PrivateRedis, free_port, postgres_database, private_redis
from tests.support.state import redis_prefix
from tests.support.wait import until
from townhall.cli import main
from townhall.cluster import Cluster, Process, cluster_env
from townhall.media.synthetic import SignalTrack, looping, tone, whip_publish
from townhall.s3server import ACCESS_KEY, REGION, SECRET_KEY
from townhall.store.blobs.s3 import S3Blobs

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


async def _ready_status(process: Process) -> int | None:
    async with httpx.AsyncClient(timeout=2) as client:
        with contextlib.suppress(httpx.HTTPError):
            return (await client.get(process.url + "/readyz")).status_code
    return None


async def test_processes_started_while_redis_is_down_serve_not_ready_then_become_ready(tmp_path: Path) -> None:
    """`townhall api` and `townhall media` started with Redis down: both serve /readyz 503 (they do not
    exit) and become ready by themselves once Redis answers."""
    redis = PrivateRedis(free_port(), tmp_path)  # its port is chosen; the server is not started yet
    async with postgres_database() as db:
        env = processes_env(db, redis.url)
        c = Cluster(cluster_env(tmp_path, env), tmp_path)
        try:
            api = await c.start_process("api", "api-1", wait=False)  # first: it migrates the database
            await until(lambda: _is_not_ready(api), 90, "the API process to answer /readyz 503")
            media = await c.start_process("media", "media-1", wait=False)
            await until(lambda: _is_not_ready(media), 90, "the media node to answer /readyz 503")
            assert api.alive and media.alive

            await redis.start()
            for process in (api, media):
                await c.ready(process)  # 200 without a restart
            async with httpx.AsyncClient(base_url=api.url, timeout=10) as client:
                body = (await client.get("/readyz")).json()
                assert (body["status"], body["state"], body["database"]) == ("ready", "ok", "ok")
        finally:
            await c.stop()
            await redis.stop()


async def test_a_mute_decided_while_redis_is_away_reaches_the_mixer(tmp_path: Path) -> None:
    """A host on air (a loud tone) mutes themself while Redis is stopped: the API accepts the decision
    (204, written to the database), the media node enforces it by re-reading the roster while Redis is
    still away, and once Redis returns the node reports the host as silent."""
    async with postgres_database() as db, private_redis(tmp_path) as redis:
        env = processes_env(db, redis.url)
        async with claimed_space(tmp_path, env) as (running, api, host, space_id, node):
            token = (await api.post(f"/api/spaces/{space_id}/speaker-token", headers=host["headers"])).json()["token"]
            session = await whip_publish(
                f"{running.apis[0].url}/whip/{space_id}", token, SignalTrack(looping(tone(440, 1.0)))
            )
            try:
                await until(lambda: _speaking(redis.url, space_id), 20, "the host to be heard in the mix")

                await redis.stop()
                muted = await api.post(
                    f"/api/spaces/{space_id}/mute",
                    json={"account_id": host["account_id"], "muted": True},
                    headers=host["headers"],
                )
                assert muted.status_code == 204, muted.text  # accepted: the database holds the decision
                await until(lambda: _counter(node, "townhall_media_roster_enforced_total"), 10, "the mute enforced")

                await redis.start()
                await until(lambda: _speaking(redis.url, space_id, expect=[]), 10, "the node to report the host silent")
                room = (await api.get(f"/api/spaces/{space_id}/state")).json()
                assert [s["muted"] for s in room["speakers"] if s["account_id"] == host["account_id"]] == [True]
            finally:
                await session.pc.close()


async def test_townhall_cluster_runs_the_s3_test_server_and_stops_it_on_ctrl_c(tmp_path: Path) -> None:
    """`townhall cluster` starts the S3 test server, prints its URL, the media nodes record into its
    bucket, and Ctrl-C (SIGINT) stops it with everything else."""
    async with postgres_database() as db:
        env = {**os.environ, "TOWNHALL_DATABASE_URL": db, "TOWNHALL_TOKEN_KEYS": TEST_KEYS}
        env.pop("TOWNHALL_BLOB_URL", None)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "townhall", "cluster", "--apis", "1", "--media", "1", "--data-dir", str(tmp_path)),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert proc.stdout is not None
        printed: list[str] = []
        try:
            async with asyncio.timeout(180):
                while not any("studio:" in line for line in printed):
                    line = (await proc.stdout.readline()).decode()
                    assert line, "townhall cluster exited:\n" + "".join(printed)
                    printed.append(line)
            s3 = re.search(r"s3:\s+(http://127\.0\.0\.1:\d+) bucket (\S+)", "".join(printed))
            api = re.search(r"api:\s+(http://127\.0\.0\.1:\d+)", "".join(printed))
            assert s3 is not None and api is not None, "".join(printed)
            async with httpx.AsyncClient(base_url=api[1], timeout=15) as client:
                host = await register(client)
                await live_space(client, host)
            async with httpx.AsyncClient(timeout=5) as client:
                listing = lambda: client.get(f"{s3[1]}/{s3[2]}", params={"list-type": "2"})  # noqa: E731
                await until(lambda: _lists(listing, ".m4s</Key>"), 30, "parts recorded into the S3 test server")
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGINT)
            code = await asyncio.wait_for(proc.wait(), 60)
        assert code == 0, "".join(printed)
        async with httpx.AsyncClient(timeout=2) as client:
            with pytest.raises(httpx.ConnectError):
                await client.get(s3[1])  # stopped with the rest


async def test_parts_flow_while_the_s3_store_is_stopped_and_the_backlog_drains_when_it_returns(
    tmp_path: Path,
) -> None:
    """The S3 server stopped mid-space for several seconds: the programme goes on (parts named in the
    playlist are fetchable), the media node spools what it cannot upload and says so (metrics, log); once
    the server is back the backlog drains in order, the store holds every part its playlist names, and
    the replay, chained across the outage, verifies."""
    with s3_server() as s3:
        bucket = new_bucket(s3.url)
        async with postgres_database() as db, redis_prefix() as prefix:
            env = processes_env(db, f"{REDIS_URL}/0", prefix, **_s3_env(s3.url, bucket))
            async with claimed_space(tmp_path, env) as (running, api, host, space_id, node):
                live = f"/live/{space_id}"
                await until(lambda: _beyond(api, live, 0), 15, "a complete segment")
                before = max(_msns((await api.get(f"{live}/media.m3u8")).text))

                s3.stop()
                await until(lambda: _counter(node, "townhall_blob_upload_failures_total"), 15, "a failed upload")
                during = await until(lambda: _beyond(api, live, before + 2), 20, "parts while the store is away")
                for name in re.findall(r'URI="(p\d+\.\d+\.m4s)"', during)[-4:]:  # named: fetchable
                    assert (await api.get(f"{live}/{name}")).status_code == 200, name
                assert await _counter(node, "townhall_blob_upload_backlog") >= 5
                assert "blob store: upload failed" in node.log.read_text()
                outage_msns = set(range(before + 1, max(_msns(during)) + 1))

                s3.start()  # same port, same objects
                await until(lambda: _backlog_empty(node), 60, "the backlog to drain")
                store = S3Blobs(bucket, "deploy", **s3_options(s3.url))
                stored = await store.get(f"live/{space_id}/media.m3u8")
                assert stored is not None
                # every part and segment it names (a preload hint names the part still to come)
                for name in re.findall(r'(?:^#EXT-X-PART:.*URI="|^)([ps]\d+(?:\.\d+)?\.m4s)', stored.decode(), re.M):
                    assert await store.exists(f"live/{space_id}/{name}"), name
                for msn in outage_msns:
                    assert await store.exists(f"live/{space_id}/s{msn}.m4s"), msn

                assert (await api.post(f"/api/spaces/{space_id}/end", headers=host["headers"])).status_code == 200
                replay = await until(lambda: _published(api, space_id), 60, "the replay to be published")
                manifest = (await api.get(replay["manifest_url"])).json()["payload"]
                assert not [g for g in manifest["gaps"] if g["before_msn"] in outage_msns], manifest["gaps"]
                code = await asyncio.to_thread(main, ["verify", f"{running.apis[0].url}/r/{space_id}"])
                assert code == 0


async def test_a_media_node_restarted_with_a_backlog_uploads_its_spool(tmp_path: Path) -> None:
    """A media node killed while the S3 server is away leaves its backlog on disk; restarted (same data
    folder) once the store is back, it claims the space again and uploads what it had spooled."""
    with s3_server() as s3:
        bucket = new_bucket(s3.url)
        async with postgres_database() as db, redis_prefix() as prefix:
            env = processes_env(db, f"{REDIS_URL}/0", prefix, **_s3_env(s3.url, bucket))
            async with claimed_space(tmp_path, env) as (running, api, _host, space_id, node):
                await until(lambda: _beyond(api, f"/live/{space_id}", 0), 15, "a complete segment")

                s3.stop()
                await until(lambda: _counter_at_least(node, "townhall_blob_upload_backlog", 20), 20, "a backlog")
                running.kill(node, signal.SIGKILL)
                await node.proc.wait()
                spool = tmp_path / "media-1" / "spool" / "live" / space_id
                left = {p.name for p in spool.glob("s*.m4s")}
                assert left, "the killed node left its backlog on disk"

                s3.start()
                again = await running.start_process("media", "media-1")  # same name, same data folder
                await until(lambda: running.owner(space_id), 15, "the restarted node to claim the space again")
                await until(lambda: _backlog_empty(again), 60, "the spool to drain")
                store = S3Blobs(bucket, "deploy", **s3_options(s3.url))
                for name in left:
                    assert await store.exists(f"live/{space_id}/{name}"), name
                assert not list(spool.glob("*.m4s"))


async def test_a_store_that_hangs_does_not_hold_up_the_programme(tmp_path: Path) -> None:
    """The S3 server paused (SIGSTOP: connections accepted, nothing answered, each request waits for its
    timeout): parts keep coming at their pace, and the backlog drains once it answers again."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "townhall.s3server",
        "--port",
        str(port),
        "--bucket",
        "slow",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        assert b"s3 test server on" in await asyncio.wait_for(proc.stdout.readline(), 60)
        async with postgres_database() as db, redis_prefix() as prefix:
            env = processes_env(db, f"{REDIS_URL}/0", prefix, **_s3_env(f"http://127.0.0.1:{port}", "slow"))
            async with claimed_space(tmp_path, env) as (_running, api, _host, space_id, node):
                live = f"/live/{space_id}"
                await until(lambda: _beyond(api, live, 0), 15, "a complete segment")
                before = max(_msns((await api.get(f"{live}/media.m3u8")).text))

                proc.send_signal(signal.SIGSTOP)
                try:
                    # three segments (5.8 s of audio) while every upload hangs for 2 s before failing
                    await until(lambda: _beyond(api, live, before + 3), 12, "parts while the store hangs")
                    assert await _counter(node, "townhall_blob_upload_backlog") >= 5
                finally:
                    proc.send_signal(signal.SIGCONT)  # before the cluster stops
                await until(lambda: _backlog_empty(node), 60, "the backlog to drain")
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.terminate()
        await proc.wait()


async def _counter_at_least(process: Process, name: str, least: float) -> bool:
    return await _counter(process, name) >= least


def _s3_env(endpoint: str, bucket: str) -> dict[str, str]:
    return {
        "TOWNHALL_BLOB_URL": f"s3://{bucket}/deploy",
        "TOWNHALL_BLOB_S3_ENDPOINT": endpoint,
        "TOWNHALL_BLOB_S3_REGION": REGION,
        "TOWNHALL_BLOB_S3_ACCESS_KEY_ID": ACCESS_KEY,
        "TOWNHALL_BLOB_S3_SECRET_ACCESS_KEY": SECRET_KEY,
        "TOWNHALL_BLOB_S3_TIMEOUT_S": "2",
        "TOWNHALL_BLOB_S3_RETRIES": "0",
    }


@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A real filesystem of `size` at `path` (mounting needs root: skipped otherwise)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(folder: Path) -> Path:
    """Fill the filesystem of `folder` to the last byte; returns the filler file."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        with contextlib.suppress(OSError):  # ENOSPC: full
            while True:
                os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)
    return filler


async def test_a_full_blob_folder_stalls_nothing_and_drains_once_space_is_freed(tmp_path: Path) -> None:
    """The shared blob folder is a tmpfs that fills: the programme goes on, the node keeps what it cannot
    store in its own spool (nothing deleted) and says so; once space is freed everything is stored."""
    with _tmpfs(tmp_path / "blobs", "8m") as blobs:
        async with postgres_database() as db, redis_prefix() as prefix:
            env = processes_env(db, f"{REDIS_URL}/0", prefix, TOWNHALL_BLOB_URL=f"file://{blobs}")
            async with claimed_space(tmp_path, env) as (_running, api, _host, space_id, node):
                live = f"/live/{space_id}"
                await until(lambda: _beyond(api, live, 0), 15, "a complete segment")
                before = max(_msns((await api.get(f"{live}/media.m3u8")).text))

                filler = await asyncio.to_thread(_fill, blobs)
                await until(lambda: _counter(node, "townhall_blob_upload_failures_total"), 15, "a failed write")
                during = await until(lambda: _beyond(api, live, before + 2), 20, "parts while the folder is full")
                for name in re.findall(r'URI="(p\d+\.\d+\.m4s)"', during)[-4:]:
                    assert (await api.get(f"{live}/{name}")).status_code == 200, name
                backlog = await _counter(node, "townhall_blob_upload_backlog")
                spooled = list((tmp_path / "media-1" / "spool" / "live" / space_id).glob("*.m4s"))
                assert backlog >= 5 and len(spooled) >= 5, (backlog, spooled)  # kept on the node's own disk
                assert "No space left on device" in node.log.read_text()
                last = max(_msns(during))

                filler.unlink()
                await until(lambda: _backlog_empty(node), 60, "the backlog to drain")
                stored = {p.name for p in (blobs / "live" / space_id).glob("s*.m4s")}
                assert {f"s{msn}.m4s" for msn in range(before + 1, last + 1)} <= stored
                assert not list((tmp_path / "media-1" / "spool" / "live" / space_id).glob("*.m4s"))


async def _backlog_empty(node: Process) -> bool:
    async with httpx.AsyncClient(timeout=2) as client:
        return (await client.get(node.url + "/healthz")).json()["upload_backlog"] == 0


async def _lists(listing: Any, text: str) -> bool:
    return text in (await listing()).text


async def _speaking(url: str, space_id: str, expect: list[str] | None = None) -> bool:
    """Whether the media node's own report of who is speaking (it writes it to Redis) is `expect`
    (default: anyone)."""
    client = redis_asyncio.from_url(url)
    try:
        raw = await client.hget(f"th:val:speaking:{space_id}", "v")
    except redis_asyncio.ConnectionError:
        return False
    finally:
        await client.aclose()
    if raw is None:
        return False
    speaking = json.loads(raw)
    return speaking == expect if expect is not None else bool(speaking)


async def _counter(process: Process, name: str) -> float:
    async with httpx.AsyncClient(timeout=2) as client:
        text = (await client.get(process.url + "/metrics")).text
    found = re.search(rf"^{name} ([\d.e+]+)$", text, re.M)
    return float(found[1]) if found else 0.0


async def _is_not_ready(process: Process) -> bool:
    if not process.alive:
        raise AssertionError(f"{process.name} exited:\n{process.log.read_text()[-3000:]}")
    return await _ready_status(process) == 503
