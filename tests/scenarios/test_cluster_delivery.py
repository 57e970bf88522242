"""The scaled-out API process serves the edge's live media on its delivery port, a server on a thread
and event loop of its own that reads the relay over connections of its own (api/delivery.py): a flood
at the public port cannot hold up the parts the edge passes on (decision 0007). On real processes:
PostgreSQL, Redis, `townhall api` and `townhall media`."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support.cluster import EDGE_SECRET, ClaimedSpace, claimed_space, processes_env
from tests.support.servers import REDIS_URL, postgres_database
from tests.support.state import redis_prefix
from tests.support.wait import until
from townhall.media.thread import CLOCK_NICE

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
HINT = re.compile(r'PRELOAD-HINT:TYPE=PART,URI="p(\d+)\.(\d+)\.m4s"')


@pytest.fixture
async def claimed(tmp_path: Path) -> AsyncIterator[ClaimedSpace]:
    async with postgres_database() as db, redis_prefix() as prefix:
        async with claimed_space(tmp_path, processes_env(db, f"{REDIS_URL}/0", prefix)) as claimed:
            yield claimed


async def test_the_api_process_serves_the_relayed_space_to_the_edge_on_its_delivery_port(
    claimed: ClaimedSpace,
) -> None:
    api = claimed.running.apis[0]
    assert api.delivery_port, "`townhall cluster` gives each API process a delivery port"
    base = f"http://127.0.0.1:{api.delivery_port}/live/{claimed.space_id}"
    edge = {"X-Townhall-Edge": EDGE_SECRET}
    async with httpx.AsyncClient(timeout=15) as http:
        refused = await http.get(f"{base}/media.m3u8")
        assert refused.status_code == 403 and refused.json()["code"] == "edge_credential_required"
        assert (await http.get(f"http://127.0.0.1:{api.delivery_port}/api/spaces", headers=edge)).status_code == 404

        async def hinted() -> re.Match[str] | None:
            return HINT.search((await http.get(f"{base}/media.m3u8", headers=edge)).text)

        hint = await until(hinted, 20, "the relayed playlist, read on the delivery server's own loop")
        msn, part = hint.group(1), hint.group(2)
        # a blocking reload for the hinted part: held on the delivery loop until the relay says it exists
        held = await http.get(f"{base}/media.m3u8", params={"_HLS_msn": msn, "_HLS_part": part}, headers=edge)
        assert held.status_code == 200 and f'URI="p{msn}.{part}.m4s"' in held.text
        media = await http.get(f"{base}/p{msn}.{part}.m4s", headers=edge)
        assert media.status_code == 200 and b"moof" in media.content[:64]
        manifest = await http.get(f"{base}/chunked.mpd", headers=edge)
        assert manifest.status_code == 200 and "<MPD" in manifest.text


async def test_a_media_node_runs_every_thread_ahead_of_its_neighbours(claimed: ClaimedSpace) -> None:
    """`townhall media` raises its whole process (every thread: the clock's and the one holding the GIL
    between ticks), where it may; the API process keeps the default."""
    if os.geteuid() != 0:
        pytest.skip("raising a priority needs CAP_SYS_NICE")
    node, api = claimed.node.proc.pid, claimed.running.apis[0].proc.pid
    threads = [int(t) for t in os.listdir(f"/proc/{node}/task")]
    niceness = {t: os.getpriority(os.PRIO_PROCESS, t) for t in threads}
    assert len(threads) > 2 and set(niceness.values()) == {CLOCK_NICE}, niceness
    assert os.getpriority(os.PRIO_PROCESS, api) == 0
