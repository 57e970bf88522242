"""Nothing acknowledged is lost: a real `townhall serve` process is killed (SIGKILL) in the middle of a
burst of joins and beacons, restarted on the same data, and still counts every acknowledged event;
retrying the unacknowledged beacons then brings the views to exactly the number of distinct events."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.api import auth
from tests.support.servers import REDIS_URL, free_port
from tests.support.state import redis_prefix

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
UA = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"}
KEYS = "kk1:" + "44" * 32


@contextlib.asynccontextmanager
async def serve(data_dir: Path, port: int, state_url: str, prefix: str) -> AsyncIterator[asyncio.subprocess.Process]:
    env = {
        **os.environ,
        "TOWNHALL_TOKEN_KEYS": KEYS,
        "TOWNHALL_STATE_URL": state_url,
        "TOWNHALL_STATE_PREFIX": prefix,
        "TOWNHALL_LOG_LEVEL": "warning",
        "TOWNHALL_DATA_DIR": str(data_dir),
        "TOWNHALL_BEACONS_PER_MINUTE_PER_IP": "100000",
    }
    log = data_dir.parent / f"serve-{port}.log"
    with log.open("ab") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from townhall.cli import main; raise SystemExit(main())",
            "serve",
            "--port",
            str(port),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
            async with asyncio.timeout(30):
                while True:
                    with contextlib.suppress(httpx.HTTPError):
                        if (await c.get("/healthz")).status_code == 200:
                            break
                    assert proc.returncode is None, log.read_text()[-3000:]
                    await asyncio.sleep(0.1)
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
        await asyncio.wait_for(proc.wait(), 10)


async def _setup(c: httpx.AsyncClient) -> str:
    r = await c.post("/api/accounts", json={"handle": "killhost", "password": "correct horse"})
    headers = auth(r.json()["session_token"])
    sid = (await c.post("/api/spaces", json={"title": "kill test"}, headers=headers)).json()["id"]
    assert (await c.post(f"/api/spaces/{sid}/start", headers=headers)).status_code == 200
    return str(sid)


def _beacon(sid: str, n: int) -> dict[str, Any]:
    return {
        "device_id": f"device-k{n:06d}",
        "events": [
            {"id": f"evt-{n:06d}-{k:02d}", "type": "impression", "space_id": sid, "surface": "space_page"}
            for k in range(10)
        ],
    }


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    """The server's Redis keys live under a prefix of their own, deleted afterwards."""
    async with redis_prefix() as p:
        yield p


@pytest.mark.parametrize("state", ["memory", "redis"])
async def test_acknowledged_counts_survive_a_kill(tmp_path: Path, state: str, prefix: str) -> None:
    port = free_port()
    state_url = "memory://" if state == "memory" else f"{REDIS_URL}/0"
    acked_joins: set[int] = set()
    acked_beacons: set[int] = set()
    joins_sent = beacons_sent = 0
    burst_underway = asyncio.Event()

    def acked(kind: set[int], i: int) -> None:
        kind.add(i)
        if len(acked_joins) + len(acked_beacons) >= 210:
            burst_underway.set()

    async with serve(tmp_path / "data", port, state_url, prefix) as proc:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=UA, timeout=10) as c:
            sid = await _setup(c)

            async def one_join(i: int) -> None:
                r = await c.post(f"/api/spaces/{sid}/join", json={"device_id": f"device-j{i:06d}"})
                if r.status_code == 200:
                    acked(acked_joins, i)

            async def one_beacon(i: int) -> None:
                r = await c.post("/api/beacons", json=_beacon(sid, i))
                if r.status_code == 200:
                    acked(acked_beacons, i)

            for wave in range(4):  # bursts that complete
                await asyncio.gather(
                    *(one_join(wave * 25 + i) for i in range(25)), *(one_beacon(wave * 25 + i) for i in range(25))
                )
            joins_sent = beacons_sent = 100
            last = [asyncio.create_task(one_join(100 + i)) for i in range(50)]
            last += [asyncio.create_task(one_beacon(100 + i)) for i in range(50)]
            joins_sent = beacons_sent = 150
            await asyncio.wait_for(burst_underway.wait(), 20)  # kill with the burst in flight
            proc.send_signal(signal.SIGKILL)
            await asyncio.gather(*last, return_exceptions=True)
    assert len(acked_beacons) >= 100 and len(acked_joins) >= 100

    async with serve(tmp_path / "data", port, state_url, prefix):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=UA, timeout=10) as c:
            listens = (await c.get(f"/api/spaces/{sid}/counts")).json()["listens"]
            views = (await c.get(f"/api/spaces/{sid}/counts")).json()["views"]
            assert len(acked_joins) <= listens["live_joins"] <= joins_sent
            unique = listens["live_unique_listeners"]  # a HyperLogLog estimate
            assert len(acked_joins) * 0.98 <= unique <= joins_sent * 1.02
            assert len(acked_beacons) * 10 <= views["post_views"] <= beacons_sent * 10
            for i in set(range(beacons_sent)) - acked_beacons:  # clients retry what was not acknowledged
                r = await c.post("/api/beacons", json=_beacon(sid, i))
                assert r.status_code == 200
            views = (await c.get(f"/api/spaces/{sid}/counts")).json()["views"]
    assert views["post_views"] == beacons_sent * 10
