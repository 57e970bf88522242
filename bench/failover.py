"""Failover and drain on the scaled-out form, measured as a listener hears them through a real Varnish edge.

Starts on loopback one `townhall api`, two `townhall media` nodes (a fresh PostgreSQL database, a Redis
key prefix, one blob folder) and a Varnish edge in front of the API; makes a live space and follows it
as an LL-HLS listener does (blocking playlist reload, then each new part) through the edge.
1. SIGKILLs the node that owns the space: `failover gap` is from the kill to the first part of the new
   owner fetched through the edge (goal <= 5 s).
2. Starts a third node and SIGTERMs the owner (a drain, make before break: decision 0008): `drain gap`
   is the longest wait between two consecutive parts fetched around it (goal <= 500 ms; a part is
   213 ms); it also says between which parts that wait was, and the longest wait in steady state.
Run: .venv/bin/python bench/failover.py     (prints `failover gap = S s` last)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import asyncpg
import httpx

from townhall.cluster import Cluster, cluster, free_port
from townhall.edge.varnish import Edge
from townhall.services.keys import parse_keys
from townhall.settings import Settings

KEYS = "kf1:" + "44" * 32
SECRET = "failover-bench-edge-secret-0123456789abcd"
PART = re.compile(r'#EXT-X-PART:DURATION=([\d.]+),URI="(p(\d+)\.(\d+)\.m4s)"')
PDT = re.compile(r"#EXT-X-PROGRAM-DATE-TIME:(\S+)")
DSEQ = re.compile(r"#EXT-X-DISCONTINUITY-SEQUENCE:(\d+)")
HINT = re.compile(r'PRELOAD-HINT:TYPE=PART,URI="p(\d+)\.(\d+)\.m4s"')


@contextlib.asynccontextmanager
async def database() -> AsyncIterator[str]:
    name = f"townhall_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def _parts(playlist: str) -> list[tuple[str, int, int, float]]:
    """Each part named: (uri, msn, index, Unix time its audio ends), from the segment's PROGRAM-DATE-TIME."""
    out: list[tuple[str, int, int, float]] = []
    start = 0.0
    for line in playlist.splitlines():
        if m := PDT.match(line):
            start = datetime.fromisoformat(m[1].replace("Z", "+00:00")).timestamp()
        elif m := PART.match(line):
            duration, name, msn, part = float(m[1]), m[2], int(m[3]), int(m[4])
            out.append((name, msn, part, start + (part + 1) * duration))
    return out


class Listener:
    """Follows the playlist through the edge and fetches each new part once; notes when each arrived."""

    def __init__(self, http: httpx.AsyncClient, base: str) -> None:
        self.http, self.base = http, base
        self.arrivals: list[tuple[int, int, float]] = []  # msn, part, monotonic time fetched
        self.errors = 0
        self.arrived = asyncio.Condition()
        self.lateness: list[float] = []  # wall-clock arrival minus the end of the part's audio (from its PDT)
        self.late_by: dict[tuple[int, int], float] = {}
        self.timelines: dict[tuple[int, int], int] = {}  # each part's DISCONTINUITY-SEQUENCE (a new one per node)

    async def run(self, stop: asyncio.Event) -> None:
        wanted: tuple[int, int] | None = None
        seen: set[str] = set()
        first = True
        while not stop.is_set():
            params = {"_HLS_msn": wanted[0], "_HLS_part": wanted[1]} if wanted else None
            try:
                r = await self.http.get(f"{self.base}/media.m3u8", params=params)
            except httpx.HTTPError:
                self.errors += 1
                wanted = None
                continue
            if r.status_code != 200:
                self.errors += 1
                wanted = None
                await asyncio.sleep(0.05)
                continue
            dseq = DSEQ.search(r.text)
            for name, msn, part, ends_at in _parts(r.text):
                self.timelines.setdefault((msn, part), int(dseq[1]) if dseq else 0)
                if name in seen:
                    continue
                seen.add(name)
                if first:
                    continue  # start at the live edge
                got = await self.http.get(f"{self.base}/{name}")
                if got.status_code == 200:
                    self.lateness.append(time.time() - ends_at)
                    self.late_by[(msn, part)] = time.time() - ends_at
                    async with self.arrived:
                        self.arrivals.append((msn, part, time.monotonic()))
                        self.arrived.notify_all()
            first = False
            hint = HINT.search(r.text)
            wanted = (int(hint[1]), int(hint[2])) if hint else None

    async def part_after(self, msn: int, since: float, within: float) -> float:
        """When the first part numbered above `msn` arrived after `since`."""

        def found() -> list[float]:
            return [at for m, _, at in self.arrivals if m > msn and at >= since]

        async with asyncio.timeout(within), self.arrived:
            await self.arrived.wait_for(found)
            return found()[0]

    async def parts(self, count: int, within: float) -> None:
        async with asyncio.timeout(within), self.arrived:
            await self.arrived.wait_for(lambda: len(self.arrivals) >= count)

    def longest_wait(self, start: float, end: float) -> float:
        times = [at for _, _, at in self.arrivals if start <= at <= end]
        return max((b - a for a, b in itertools.pairwise(times)), default=float("inf"))

    def wait_at_cut(self, start: float, end: float) -> float | None:
        """The wait between the old node's last part and the successor's first (a new timeline)."""
        seen = [a for a in self.arrivals if start <= a[2] <= end]
        for a, b in itertools.pairwise(seen):
            if self.timelines.get((b[0], b[1]), 0) > self.timelines.get((a[0], a[1]), 0):
                return b[2] - a[2]
        return None

    def where_longest(self, start: float, end: float) -> str:
        """The two parts around the longest wait in [start, end], and when the second arrived (relative
        to `start`): to tell a wait at the drain's cut from a stall elsewhere on a loaded machine."""
        seen = [a for a in self.arrivals if start <= a[2] <= end]
        pairs = list(itertools.pairwise(seen))
        if not pairs:
            return "no parts"
        a, b = max(pairs, key=lambda ab: ab[1][2] - ab[0][2])
        late = self.late_by.get((b[0], b[1]), float("nan"))
        return (
            f"between p{a[0]}.{a[1]} and p{b[0]}.{b[1]}, {b[2] - start:.2f} s into the window, "
            f"the second {1000 * late:.0f} ms after its audio ended"
        )


async def owner_of(c: Cluster, space_id: str, within: float, not_: object = None) -> object:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        node = await c.owner(space_id)
        if node is not None and node is not not_:
            return node
        await asyncio.sleep(0.05)
    raise TimeoutError("no media node took the space")


async def main() -> None:
    with tempfile.TemporaryDirectory(prefix="townhall-failover-") as tmp:
        work = Path(tmp)
        async with database() as db:
            env = {
                "TOWNHALL_DATABASE_URL": db,
                "TOWNHALL_STATE_URL": "redis://127.0.0.1:6379/0",
                "TOWNHALL_STATE_PREFIX": f"bench-{uuid.uuid4().hex[:8]}:",
                "TOWNHALL_TOKEN_KEYS": KEYS,
                "TOWNHALL_EDGE_SECRET": SECRET,
                "TOWNHALL_LOG_LEVEL": os.environ.get("TOWNHALL_LOG_LEVEL", "warning"),
            }
            async with cluster(work, env, apis=1, media=2) as c:
                settings = Settings(data_dir=work / "edge", token_keys=KEYS, edge_secret=SECRET)
                edge = Edge(settings, parse_keys(KEYS).keys, credential=SECRET, origin=c.apis[0].url, port=free_port())
                await edge.astart()
                try:
                    await run(c, edge)
                finally:
                    await edge.astop()
                    if keep := os.environ.get("BENCH_KEEP_LOGS"):  # a folder to copy the processes' logs to
                        shutil.copytree(work, keep, ignore=shutil.ignore_patterns("blobs", "*.db*"), dirs_exist_ok=True)


async def run(c: Cluster, edge: Edge) -> None:
    async with httpx.AsyncClient(base_url=c.apis[0].url, timeout=30) as api:
        r = await api.post("/api/accounts", json={"handle": "benchhost", "password": "correct horse"})
        headers = {"Authorization": f"Bearer {r.json()['session_token']}"}
        space_id = (await api.post("/api/spaces", json={"title": "Failover"}, headers=headers)).json()["id"]
        await api.post(f"/api/spaces/{space_id}/start", headers=headers)
        token = (await api.post(f"/api/spaces/{space_id}/join", json={"device_id": "bench-listener-1"})).json()["token"]
    owner = await owner_of(c, space_id, 15)
    stop = asyncio.Event()
    async with httpx.AsyncClient(timeout=30) as http:
        listener = Listener(http, f"{edge.url}/e/{token}/live/{space_id}")
        following = asyncio.create_task(listener.run(stop))
        try:
            await listener.parts(40, 60)
            late = sorted(listener.lateness)
            p50, p95 = late[len(late) // 2], late[int(len(late) * 0.95)]
            print(
                f"part availability through the edge (arrival minus the end of the part's audio): "
                f"p50 {1000 * p50:.0f} ms, p95 {1000 * p95:.0f} ms over {len(late)} parts (goal p95 <= 213 + 150 ms)"
            )
            before = listener.arrivals[-1][0]
            steady = listener.longest_wait(listener.arrivals[1][2], listener.arrivals[-1][2])
            killed = time.monotonic()
            c.kill(owner, signal.SIGKILL)  # type: ignore[arg-type]
            resumed = await listener.part_after(before, killed, 30)
            failover = resumed - killed
            print(
                f"killed the owner at msn {before}; first part of the new owner through the edge after {failover:.2f} s"
            )

            await c.start_process("media", "media-3")
            owner = await owner_of(c, space_id, 10)
            await asyncio.sleep(4)  # steady parts before the drain
            drained = time.monotonic()
            c.kill(owner, signal.SIGTERM)  # type: ignore[arg-type]
            await owner_of(c, space_id, 15, not_=owner)
            await asyncio.sleep(3)  # steady parts after it
            drain = listener.longest_wait(drained - 1.0, time.monotonic())
            where = listener.where_longest(drained - 1.0, time.monotonic())
            at_cut = listener.wait_at_cut(drained - 1.0, time.monotonic())
            print(
                f"drain: longest wait between parts around the SIGTERM {1000 * drain:.0f} ms ({where}; the window "
                f"starts 1 s before the SIGTERM; a part is 213 ms); before the kill, in steady state: "
                f"{1000 * steady:.0f} ms; at the cut (old node's last part to the successor's first): "
                + (f"{1000 * at_cut:.0f} ms" if at_cut is not None else "not seen")
            )
        finally:
            stop.set()
            following.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await following
    print(f"listener errors (timeouts, 503s) {listener.errors}; load average {os.getloadavg()[0]:.1f}")
    print(f"drain gap = {1000 * drain:.0f} ms (goal <= 500)")
    print(f"failover gap = {failover:.2f} s (goal <= 5)")


if __name__ == "__main__":
    asyncio.run(main())
