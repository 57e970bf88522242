"""Listener load benchmark: N simulated LL-HLS players against a real Varnish edge on loopback.

Starts a live space (bench/live_space.py: the real app, media node and a synthetic speaker), a townhall
edge in front of it, and a probe that learns each part's creation straight from the origin. Each
player joins, follows the playlist with blocking reloads, fetches every part and renews its lease.
Usage: .venv/bin/python bench/listeners.py [--levels 100,1000,5000] [--seconds 15] [--protocol hls|chunked]
Prints per-level figures, then `availability p95 at N=max = X ms`, then, last,
`origin requests/s at N=max over N=100 = R`. With `--protocol chunked` each level runs twice, LL-HLS
then chunked CMAF (low-latency DASH players as dash.js behaves: the MPD, one segment request held open
while the segment is made, the MPD again every 5 s and the clock 4 times a minute), the figures side
by side; the last line is `requests per listener-second (chunked) = R`. Every loop is bounded in count
and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import math
import multiprocessing
import os
import random
import re
import resource
import secrets
import signal
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

from hls_client import Answer, Connection, once
from townhall.edge.varnish import Edge
from townhall.services.keys import parse_keys
from townhall.settings import Settings

PART = re.compile(rb'#EXT-X-PART:[^\n]*URI="p(\d+)\.(\d+)\.m4s"')
HINT = re.compile(rb'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="p(\d+)\.(\d+)\.m4s"')
PART_S = 1024 * 10 / 48_000
AUDIO_BIT_RATE = 64_000
MAX_CATCH_UP = 12  # parts a player fetches in one go after falling behind
WARM_UP_S = 3.0
MAX_RUN_S = 600.0  # no process of a level runs longer than this, whatever happens
JSON = "Content-Type: application/json\r\n"
BROWSER_HEADERS = "Accept-Encoding: gzip, deflate, br\r\n"  # as a browser sends; bodies stay compressed


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _text(answer_body: bytes) -> bytes:
    return gzip.decompress(answer_body) if answer_body[:2] == b"\x1f\x8b" else answer_body


def _listed(body: bytes) -> list[tuple[int, int]]:
    return [(int(m), int(i)) for m, i in PART.findall(body)]


def _hint(body: bytes) -> tuple[int, int] | None:
    found = HINT.search(body)
    return (int(found[1]), int(found[2])) if found else None


# --- the probe: when did each part come to exist at the origin -------------------------------
async def _probe(origin_port: int, space: str, secret: str, pipe: Pipe) -> tuple[dict[str, float], list[float]]:
    """Follow the origin's playlist with blocking reloads (as an edge does, with the edge's credential, which
    the origin's LiveGate asks for) until told to stop (or MAX_RUN_S)."""
    conn = await Connection.open("127.0.0.1", origin_port)
    created: dict[str, float] = {}
    asked: list[float] = []  # when the probe itself asked the origin (subtracted from its count)
    base = f"/live/{space}/media.m3u8"
    credential = f"X-Townhall-Edge: {secret}\r\n"
    answer = await conn.get(base, credential)
    if answer.status != 200:
        raise SystemExit(f"the probe was refused by the origin: {answer.status} {answer.body[:200]!r}")
    deadline = time.monotonic() + MAX_RUN_S
    for _ in range(int(MAX_RUN_S / PART_S) * 3):
        wanted = _hint(answer.body)
        if wanted is None or time.monotonic() > deadline or pipe.poll():
            break
        asked.append(time.time())
        answer = await conn.get(f"{base}?_HLS_msn={wanted[0]}&_HLS_part={wanted[1]}", credential)
        now = time.time()
        for msn, index in _listed(answer.body):
            created.setdefault(f"{msn}.{index}", now)
    conn.close()
    return created, asked


def probe_main(origin_port: int, space: str, secret: str, pipe: Pipe) -> None:
    """Runs in its own process so a busy load generator cannot delay the creation stamps."""
    import uvloop

    pipe.send(uvloop.run(_probe(origin_port, space, secret, pipe)))


# --- the players --------------------------------------------------------------------------------
@dataclass
class Tally:
    window: tuple[float, float] = (0.0, 0.0)  # wall-clock window in which requests and bytes count
    requests: int = 0
    wire_bytes: int = 0  # response headers and bodies, as they cross the network
    errors: Counter[str] = field(default_factory=Counter)
    arrivals: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # part -> last byte
    renewals: int = 0
    started: int = 0  # players past their first playlist
    cpu_s: float = 0.0  # the worker's CPU time inside the window


@dataclass
class Stage:
    space: str
    edge_port: int
    origin_port: int  # the control plane and origin (one process in the embedded form)
    protocol: str = "hls"  # "hls" (LL-HLS players) or "chunked" (low-latency DASH players)
    edge_secret: str = ""  # the probe reads the origin as an edge does
    tally: Tally = field(default_factory=Tally)
    stop_at: float = float("inf")  # loop time at which players stop
    spread: bool = False  # each player from an address of its own (127.2.x.y), as real listeners come

    def source(self, number: int) -> str:
        if self.spread:
            return f"127.2.{number // 250}.{1 + number % 250}"
        return f"127.0.0.{2 + number // 20_000}"  # a source address per 20,000 players

    async def api(self, method: str, path: str, body: bytes = b"", headers: str = "", number: int = -1) -> Answer:
        """A control-plane request; with `spread`, a player's own goes through the edge from its address."""
        if self.spread and number >= 0:
            return await once("127.0.0.1", self.edge_port, method, path, body, headers, self.source(number))
        return await once("127.0.0.1", self.origin_port, method, path, body, headers)


async def join(stage: Stage, n: int) -> list[tuple[str, float]]:
    """n listeners join through the control plane (64 at a time); returns (token, renew every s)."""
    gate = asyncio.Semaphore(64)

    async def one(i: int) -> tuple[str, float]:
        device = json.dumps({"device_id": f"bench-{secrets.token_hex(8)}"}).encode()
        async with gate:
            answer = await stage.api("POST", f"/api/spaces/{stage.space}/join", device, JSON)
        if answer.status != 200:
            raise SystemExit(f"join refused: {answer.status} {answer.body[:200]!r}")
        body = json.loads(answer.body)
        return body["token"], float(body["renew_every_s"])

    return list(await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(n))), 60 + n / 20))


@dataclass
class Link:
    """A player's keep-alive connection to the edge; reopened (and counted) if the edge closes it."""

    port: int
    source: str
    conn: Connection | None = None

    async def get(self, path: str, tally: Tally) -> Answer:
        if self.conn is not None:
            try:
                return await self.conn.get(path, BROWSER_HEADERS)
            except ConnectionError:  # as a player does: count it, reconnect, ask again
                tally.errors["connection_closed"] += 1
                self.close()
        self.conn = await Connection.open("127.0.0.1", self.port, local_host=self.source)
        return await self.conn.get(path, BROWSER_HEADERS)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


async def _fetch(link: Link, path: str, tally: Tally) -> bytes | None:
    answer = await link.get(path, tally)
    if tally.window[0] <= time.time() < tally.window[1]:
        tally.requests += 1
        tally.wire_bytes += len(answer.head) + 4 + len(answer.body)
    if answer.status != 200:
        tally.errors[f"http_{answer.status}"] += 1
        return None
    return _text(answer.body)


async def _renew(stage: Stage, bearer: str, tally: Tally, number: int = -1) -> None:
    """One lease renewal; a refusal is counted by its status and stable code (whose refusal it was)."""
    answer = await stage.api("POST", f"/api/spaces/{stage.space}/lease", b"", f"{JSON}{bearer}", number)
    tally.renewals += 1
    if answer.status != 200:
        try:
            code = json.loads(answer.body).get("code", "")
        except ValueError:
            code = "not_json"
        tally.errors[f"renew_{answer.status}_{code}"] += 1


async def player(stage: Stage, number: int, token: str, renew_every_s: float) -> None:
    """One LL-HLS player as hls.js behaves: blocking reload, then each new part, one at a time."""
    tally, loop = stage.tally, asyncio.get_running_loop()
    link = Link(stage.edge_port, stage.source(number))
    base = f"/e/{token}/live/{stage.space}"
    bearer = f"Authorization: Bearer {token}\r\n"
    try:
        for path in ("master.m3u8", "init.mp4"):
            await _fetch(link, f"{base}/{path}", tally)
        playlist = await _fetch(link, f"{base}/media.m3u8", tally) or b""
        tally.started += 1
        listed = _listed(playlist)
        last = listed[-1] if listed else (0, -1)
        # Listeners joined at different times, so their renewals are spread over the period.
        renew_at = loop.time() + random.uniform(0, renew_every_s)
        for _ in range(int(MAX_RUN_S / PART_S) * 2):
            wanted = _hint(playlist)
            if wanted is None or loop.time() > stage.stop_at:
                break
            reloaded = await _fetch(link, f"{base}/media.m3u8?_HLS_msn={wanted[0]}&_HLS_part={wanted[1]}", tally)
            if reloaded is None:  # as a player does after an error: wait a part, then a plain reload
                await asyncio.sleep(PART_S)
                playlist = await _fetch(link, f"{base}/media.m3u8", tally) or b""
                continue
            playlist = reloaded
            for msn, index in [p for p in _listed(playlist) if p > last][-MAX_CATCH_UP:]:
                if await _fetch(link, f"{base}/p{msn}.{index}.m4s", tally) is not None:
                    tally.arrivals[f"{msn}.{index}"].append(time.time())
                last = (msn, index)
            if loop.time() > renew_at:
                renew_at += renew_every_s
                await _renew(stage, bearer, tally, number)
    except (ConnectionError, OSError) as error:
        tally.errors[type(error).__name__] += 1
    finally:
        link.close()


# --- chunked CMAF players (low-latency DASH, as dash.js behaves with the origin's MPD) ----------------
MPD_EVERY_S = 5.0  # the MPD's minimumUpdatePeriod
CLOCK_EVERY_S = 15.0  # dash.js re-synchronises its clock about 4 times a minute (specs/chunked.md)
PARTS_PER_SEGMENT = 9


@dataclass(frozen=True)
class Template:
    start: int
    ast: float  # Unix time of segment `start`'s first sample
    segment_s: float
    offset_s: float  # availabilityTimeOffset

    @classmethod
    def of(cls, mpd: bytes) -> Template:
        from datetime import datetime

        text = mpd.decode()
        ast = re.search(r'availabilityStartTime="([^"]+)"', text)
        tpl = re.search(r'<SegmentTemplate timescale="(\d+)" duration="(\d+)" startNumber="(\d+)"', text)
        ato = re.search(r'availabilityTimeOffset="([\d.]+)"', text)
        if ast is None or tpl is None or ato is None:
            raise ValueError("not our MPD")
        return cls(
            int(tpl[3]),
            datetime.fromisoformat(ast[1].replace("Z", "+00:00")).timestamp(),
            int(tpl[2]) / int(tpl[1]),
            float(ato[1]),
        )

    def being_made(self, now: float) -> int:
        return self.start + math.floor((now - self.ast) / self.segment_s)

    def available_at(self, number: int) -> float:
        return self.ast + (number - self.start + 1) * self.segment_s - self.offset_s


async def chunked_player(stage: Stage, number: int, token: str, renew_every_s: float) -> None:
    """One low-latency DASH player: the MPD, the init section and the clock, then each segment on one
    request the edge holds open while the segment is made (starting, as dash.js does, with the previous,
    complete one); the MPD every 5 s, the clock 4 times a minute, the lease as the page renews it."""
    tally, loop = stage.tally, asyncio.get_running_loop()
    link = Link(stage.edge_port, f"127.0.0.{2 + number // 20_000}")
    base = f"/e/{token}/live/{stage.space}"
    bearer = f"Authorization: Bearer {token}\r\n"
    try:
        mpd = await _fetch(link, f"{base}/chunked.mpd", tally)
        await _fetch(link, f"{base}/init.mp4", tally)
        await _fetch(link, "/api/clock", tally)
        if mpd is None:
            return
        template = Template.of(mpd)
        tally.started += 1
        now = loop.time()
        mpd_at, clock_at = now + random.uniform(0, MPD_EVERY_S), now + random.uniform(0, CLOCK_EVERY_S)
        renew_at = now + random.uniform(0, renew_every_s)
        segment = template.being_made(time.time()) - 1
        for _ in range(int(MAX_RUN_S / template.segment_s) * 2):
            if loop.time() > stage.stop_at:
                break
            if await _fetch(link, f"{base}/c{segment}.m4s", tally) is None:
                await asyncio.sleep(PART_S)  # as a player does after an error: ask again for the live edge
                segment = template.being_made(time.time())
                continue
            tally.arrivals[f"{segment}.{PARTS_PER_SEGMENT - 1}"].append(time.time())  # its last chunk
            segment += 1
            if loop.time() > mpd_at:
                mpd_at += MPD_EVERY_S
                await _fetch(link, f"{base}/chunked.mpd", tally)
            if loop.time() > clock_at:
                clock_at += CLOCK_EVERY_S
                await _fetch(link, "/api/clock", tally)
            if loop.time() > renew_at:
                renew_at += renew_every_s
                await _renew(stage, bearer, tally)
            await asyncio.sleep(max(0.0, template.available_at(segment) - time.time()))
    except (ConnectionError, OSError) as error:
        tally.errors[type(error).__name__] += 1
    finally:
        link.close()


# --- load workers: players spread over processes, so the load generator gets its share of CPU ---
async def _cpu_in_window(tally: Tally) -> None:
    await asyncio.sleep(max(0.0, tally.window[0] - time.time()))
    started = os.times()
    await asyncio.sleep(max(0.0, tally.window[1] - time.time()))
    ended = os.times()
    tally.cpu_s = ended.user + ended.system - started.user - started.system


async def _work(stage: Stage, first: int, tokens: list[tuple[str, float]], pipe: Pipe) -> Tally:
    """Run these players; say when all have started; count inside the window the main process sends."""
    loop = asyncio.get_running_loop()
    stage.stop_at = loop.time() + MAX_RUN_S
    play = chunked_player if stage.protocol == "chunked" else player
    jobs = asyncio.gather(*(play(stage, first + i, token, every) for i, (token, every) in enumerate(tokens)))
    for _ in range(int(MAX_RUN_S / 0.05)):
        if stage.tally.started >= len(tokens) or jobs.done():
            break
        await asyncio.sleep(0.05)
    pipe.send("ready")
    stage.tally.window = await asyncio.to_thread(pipe.recv)
    stage.stop_at = loop.time() + stage.tally.window[1] + 1.0 - time.time()
    await asyncio.wait_for(asyncio.gather(_cpu_in_window(stage.tally), jobs), stage.tally.window[1] - time.time() + 30)
    return stage.tally


def worker_main(stage: Stage, first: int, tokens: list[tuple[str, float]], pipe: Pipe) -> None:
    import uvloop

    pipe.send(uvloop.run(_work(stage, first, tokens, pipe)))


# --- one level: N players for a measured window ---------------------------------------------
async def origin_live_requests(stage: Stage) -> float:
    """The origin's own count of the LL-HLS requests it answered (its Prometheus histogram)."""
    text = (await stage.api("GET", "/metrics")).body.decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("townhall_http_request_seconds_count{") and 'route="/live/' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and all its descendants (varnishd's manager and its cache child)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(int(child)) for child in children)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def run_level(stage: Stage, edge: Edge, n: int, seconds: float, workers: int) -> dict[str, Any]:
    """One level for the stage's protocol."""
    tokens = await join(stage, n)
    before = edge.stats()
    spawn = multiprocessing.get_context("spawn")
    pipes, processes = [], []
    here, there = spawn.Pipe()
    processes.append(spawn.Process(target=probe_main, args=(stage.origin_port, stage.space, stage.edge_secret, there)))
    pipes.append(here)
    share = math.ceil(n / workers)
    for w in range(workers):
        here, there = spawn.Pipe()
        part = Stage(stage.space, stage.edge_port, stage.origin_port, stage.protocol)
        processes.append(
            spawn.Process(target=worker_main, args=(part, w * share, tokens[w * share : (w + 1) * share], there))
        )
        pipes.append(here)
    for process in processes:
        process.daemon = True
        process.start()
    for pipe in pipes[1:]:  # every player has started: the window opens after a warm-up
        await asyncio.wait_for(asyncio.to_thread(pipe.recv), MAX_RUN_S)
    window = (time.time() + WARM_UP_S, time.time() + WARM_UP_S + seconds)
    for pipe in pipes[1:]:
        pipe.send(window)
    await asyncio.sleep(max(0.0, window[0] - time.time()))
    start = (await origin_live_requests(stage), edge.stats(), cpu_seconds(edge.pid))
    await asyncio.sleep(max(0.0, window[1] - time.time()))
    end = (await origin_live_requests(stage), edge.stats(), cpu_seconds(edge.pid))
    await asyncio.sleep(1.0)
    pipes[0].send("stop")
    results = [await asyncio.wait_for(asyncio.to_thread(pipe.recv), 60) for pipe in pipes]
    for process in processes:
        process.join(10)
    after = edge.stats()
    (created, probe_asked), tallies = results[0], results[1:]
    elapsed = window[1] - window[0]
    latencies = [
        (arrived - created[part]) * 1000
        for tally in tallies
        for part, times in tally.arrivals.items()
        if part in created
        for arrived in times
        if window[0] <= arrived <= window[1]
    ]
    errors: Counter[str] = sum((tally.errors for tally in tallies), Counter())
    listener_requests = sum(tally.requests for tally in tallies)
    return {
        "protocol": stage.protocol,
        "listeners": n,
        "listener_req_s": listener_requests / elapsed,
        "origin_req_s": (end[0] - start[0] - sum(window[0] <= t < window[1] for t in probe_asked)) / elapsed,
        "edge_backend_req_s": (end[1]["MAIN.backend_req"] - start[1]["MAIN.backend_req"]) / elapsed,
        "edge_dropped": sum(end[1][c] - start[1][c] for c in ("MAIN.sess_dropped", "MAIN.req_dropped")),
        # why varnishd closed client connections over the whole level (sc_rem_close: the client did)
        "edge_closes": {
            name[8:]: after[name] - before[name]
            for name in after
            if name.startswith("MAIN.sc_") and name != "MAIN.sc_rem_close" and after[name] > before.get(name, 0)
        },
        "bytes_per_listener_s": sum(tally.wire_bytes for tally in tallies) / elapsed / n,
        "audio_bytes_s": AUDIO_BIT_RATE / 8,
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "renewals": sum(tally.renewals for tally in tallies),
        "availability_p50_ms": percentile(latencies, 0.50),
        "availability_p95_ms": percentile(latencies, 0.95),
        "parts_timed": len(latencies),
        "load_generator_cpu": sum(tally.cpu_s for tally in tallies) / elapsed,
        "edge_cpu": (end[2] - start[2]) / elapsed,
        "load_average": os.getloadavg()[0],
    }


def report(row: dict[str, Any]) -> None:
    print(
        f"{row['protocol']:>7} N={row['listeners']:>6}  listener req/s {row['listener_req_s']:8.0f} "
        f"({row['listener_req_s'] / row['listeners']:.2f} per listener-s)  "
        f"origin req/s {row['origin_req_s']:5.1f} (edge says {row['edge_backend_req_s']:.1f})  "
        f"bytes/listener-s {row['bytes_per_listener_s']:6.0f} (audio {row['audio_bytes_s']:.0f})  "
        f"errors {row['errors']} {row['error_kinds'] or ''} "
        f"(edge dropped {row['edge_dropped']}, closed {row['edge_closes'] or 'none'})  "
        f"availability p50 {row['availability_p50_ms']:.0f} ms p95 {row['availability_p95_ms']:.0f} ms "
        f"({row['parts_timed']} parts)  CPU: varnishd {row['edge_cpu']:.2f}, load generator "
        f"{row['load_generator_cpu']:.2f} cores (machine load average {row['load_average']:.1f})",
        flush=True,
    )


async def main(levels: list[int], seconds: float, workers: int, save: str | None, protocol: str = "hls") -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    keys = f"bench{secrets.token_hex(2)}:{secrets.token_hex(32)}"
    edge_secret = secrets.token_urlsafe(32)
    origin_port, edge_port = free_port(), free_port()
    stage_log = tempfile.TemporaryFile()  # the space's own log, shown only if it fails to start
    stage_process = await asyncio.create_subprocess_exec(
        sys.executable, str(Path(__file__).with_name("live_space.py")), "--port", str(origin_port),
        "--listener-base-url", f"http://127.0.0.1:{edge_port}",
        stdout=asyncio.subprocess.PIPE, stderr=stage_log,
        env={**os.environ, "TOWNHALL_TOKEN_KEYS": keys, "TOWNHALL_EDGE_SECRET": edge_secret},
    )  # fmt: skip
    assert stage_process.stdout is not None
    line = await asyncio.wait_for(stage_process.stdout.readline(), 60)
    if not line:
        stage_log.seek(0)
        raise SystemExit(f"the live space did not start:\n{stage_log.read().decode(errors='replace')[-3000:]}")
    live = json.loads(line)
    this = asyncio.current_task()
    assert this is not None
    for sig in (signal.SIGINT, signal.SIGTERM):  # cancel, so the finally below stops varnishd and the space
        asyncio.get_running_loop().add_signal_handler(sig, this.cancel)
    settings = Settings(edge_host="127.0.0.1", edge_requests_per_ip=0)
    edge = Edge(settings, parse_keys(keys).keys, credential=edge_secret, origin=live["origin"], port=edge_port)
    rows: list[dict[str, Any]] = []
    try:
        await edge.astart()
        protocols = ["hls", "chunked"] if protocol == "chunked" else [protocol]
        for n in levels:
            for each in protocols:
                rows.append(
                    await run_level(
                        Stage(live["space"], edge_port, origin_port, each, edge_secret), edge, n, seconds, workers
                    )
                )
                report(rows[-1])
    finally:
        await edge.astop()
        stage_process.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stage_process.wait(), 15)
    hls_rows = [r for r in rows if r["protocol"] == "hls"]
    top, base = hls_rows[-1], hls_rows[0]
    if save:
        await asyncio.to_thread(Path(save).write_text, json.dumps(rows, indent=1))
        print(f"figures saved to {save} (bench/capacity.py --figures {save})")
    print(f"availability p95 at N={top['listeners']} = {top['availability_p95_ms']:.0f} ms")
    print(f"origin requests/s at N={top['listeners']} over N={base['listeners']} = "
          f"{top['origin_req_s'] / base['origin_req_s']:.2f}")  # fmt: skip
    chunked = [r for r in rows if r["protocol"] == "chunked"]
    if chunked:
        c_top, c_base = chunked[-1], chunked[0]
        print(f"segment availability (chunked, last chunk) p50 {c_top['availability_p50_ms']:.0f} ms "
              f"p95 {c_top['availability_p95_ms']:.0f} ms at N={c_top['listeners']}")  # fmt: skip
        print(f"origin requests/s at N={c_top['listeners']} over N={c_base['listeners']} (chunked) = "
              f"{c_top['origin_req_s'] / c_base['origin_req_s']:.2f}")  # fmt: skip
        print(f"requests per listener-second (LL-HLS) = {top['listener_req_s'] / top['listeners']:.2f}")
        print(f"requests per listener-second (chunked) = {c_top['listener_req_s'] / c_top['listeners']:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="100,1000,5000", help="comma-separated listener counts")
    parser.add_argument("--seconds", type=float, default=15.0, help="measured window per level")
    parser.add_argument("--workers", type=int, default=2, help="load generator processes")
    parser.add_argument("--protocol", choices=("hls", "chunked"), default="hls", help="chunked: both, side by side")
    parser.add_argument("--save", help="write the per-level figures as JSON here (for bench/capacity.py)")
    args = parser.parse_args()
    import uvloop

    levels = [int(n) for n in args.levels.split(",")]
    uvloop.run(main(levels, args.seconds, args.workers, args.save, args.protocol))
