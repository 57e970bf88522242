"""What a live room costs the media node: CPU seconds per room-second for two-speaker rooms, the rooms
one core holds in real time, and a 13-speaker room with two talking (senders without DTX, as the
spec measured, and with DTX, as browsers that honour the answer's usedtx=1).

The townhall app (control plane, media node, origin) runs in its own process; the speakers are real
aiortc WHIP clients in this process (`--pin` puts the two on different cores). CPU is read from
/proc/<pid>/stat over a steady window after a warm-up; "in real time" means part lateness p99 under
50 ms and no mixer underruns over that window (from the node's /metrics).

    .venv/bin/python bench/media_rooms.py [--rooms 4] [--seconds 20] [--warmup 5] [--pin]

Also `--serve` (used by bench/latency.py): start the app with rooms and speakers, print their tokens.
Prints its figure last. Binds 127.0.0.1 only; everything it starts, it stops.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

from townhall.media.synthetic import SignalTrack, WhipSession, tone_bursts, whip_publish

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- the server process -------------------------------------------------------------------------
async def serve(rooms: int, speakers: int) -> None:
    from townhall.commands.serve import serving
    from townhall.settings import Settings

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="townhall-media-bench-") as data_dir:
        settings = Settings(
            data_dir=Path(data_dir),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            whip_offers_per_second=1000,
            spaces_per_hour_per_account=10_000,
        )
        async with serving(settings) as served:
            rt = served.runtime
            host = (await rt.accounts.register("bench_host", "bench-password", "127.0.0.1")).account
            out: list[dict[str, Any]] = []
            for r in range(rooms):
                space = await rt.spaces.start(host, (await rt.spaces.create(host, f"room {r}", None, None)).id)
                tokens = [str(await rt.spaces.speaker_token(host, space.id))]
                for s in range(1, speakers):
                    guest = (await rt.accounts.register(f"guest_{r}_{s}", "bench-password", "127.0.0.1")).account
                    await rt.spaces.invite(host, space.id, guest.id)
                    await rt.spaces.accept_invite(guest, space.id)
                    if s <= 2 and speakers > 11:  # 13 voices: the host, two co-hosts and ten speakers
                        await rt.spaces.make_cohost(host, space.id, guest.id)
                    tokens.append(str(await rt.spaces.speaker_token(guest, space.id)))
                out.append({"space": space.id, "tokens": tokens})
            print(
                json.dumps({"url": f"http://127.0.0.1:{port}", "rooms": out, "edge_secret": rt.edge_secret}), flush=True
            )
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()


# --- the measuring side -------------------------------------------------------------------------
class Server:
    """The app in a child process: its rooms, tokens, CPU time and metrics."""

    def __init__(self, process: asyncio.subprocess.Process, info: dict[str, Any]) -> None:
        self.process = process
        self.url: str = info["url"]
        self.rooms: list[dict[str, Any]] = info["rooms"]
        self.edge_secret: str = info["edge_secret"]  # reads live media at the origin as the edge does

    @classmethod
    async def start(cls, rooms: int, speakers: int, pinned: bool) -> Server:
        log = tempfile.TemporaryFile("w+")  # the server's stderr: shown only if it fails to start
        process = await asyncio.create_subprocess_exec(
            "nice",
            "-n",
            str(-os.nice(0)),  # undo this process's niceness: the server runs at normal priority
            sys.executable,
            __file__,
            "--serve",
            "--rooms",
            str(rooms),
            "--speakers",
            str(speakers),
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
        )
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 120)
        if not line:
            log.seek(0)
            raise RuntimeError(f"the media server did not start: {log.read()[-2000:]!r}")
        if pinned:
            pin(process.pid, 0)
        return cls(process, json.loads(line))

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime

    async def metrics(self, http: httpx.AsyncClient) -> dict[str, float]:
        text = (await http.get(f"{self.url}/metrics")).text
        values: dict[str, float] = {}
        for name, labels, value in re.findall(r"^(townhall_media_[a-z_]+)(\{[^}]*\})? (\S+)$", text, re.M):
            key = name + labels
            values[key] = values.get(key, 0.0) + float(value)
        return values

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


def pin(pid: int, core: int) -> None:
    """Keep the server and the speakers on different cores where there are two."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) >= 2:
        os.sched_setaffinity(pid, {cores[core % len(cores)]})


def lateness_p99(before: dict[str, float], after: dict[str, float]) -> float:
    """Upper bound of the part lateness p99 over the window, from the histogram's buckets."""
    prefix = "townhall_media_part_lateness_seconds_bucket"
    buckets = sorted(
        (float(re.search(r'le="([^"]+)"', k).group(1)), after[k] - before.get(k, 0.0))  # type: ignore[union-attr]
        for k in after
        if k.startswith(prefix)
    )
    total = buckets[-1][1] if buckets else 0.0
    return next((le for le, n in buckets if n >= 0.99 * total), float("inf")) if total else float("nan")


async def publish_room(server: Server, room: dict[str, Any], talking: int, dtx: bool) -> list[WhipSession]:
    """Every speaker of a room: the first `talking` take turns with tone bursts, the rest send silence
    (with `dtx`, as browsers that honour the answer's usedtx=1: nearly nothing while silent)."""
    sessions = []
    for i, token in enumerate(room["tokens"]):
        signal_ = (
            tone_bursts(300.0 + 100 * i, period_frames=100, burst_frames=50, offset=50 * i)
            if i < talking
            else tone_bursts(1.0, period_frames=1, burst_frames=0)
        )
        track = SignalTrack(signal_, dtx=dtx)
        sessions.append(await whip_publish(f"{server.url}/whip/{room['space']}", token, track))
    return sessions


async def measure(
    rooms: int, speakers: int, talking: int, seconds: float, warmup: float, pinned: bool, dtx: bool = False
) -> dict[str, float]:
    server = await Server.start(rooms, speakers, pinned)
    sessions: list[WhipSession] = []
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            for room in server.rooms:
                sessions += await publish_room(server, room, talking, dtx)
            await asyncio.sleep(warmup)
            m0, c0 = await server.metrics(http), server.cpu_seconds()
            await asyncio.sleep(seconds)
            m1, c1 = await server.metrics(http), server.cpu_seconds()
        publishers = sum(v for k, v in m1.items() if k.startswith("townhall_media_publishers"))
        return {
            "share": (c1 - c0) / seconds / rooms,
            "publishers": publishers,
            "underruns": m1.get("townhall_media_mixer_underruns_total", 0)
            - m0.get("townhall_media_mixer_underruns_total", 0),
            "late_ticks": m1.get("townhall_media_late_ticks_total", 0) - m0.get("townhall_media_late_ticks_total", 0),
            "lateness_p99": lateness_p99(m0, m1),
            "parts": m1.get("townhall_media_parts_total", 0) - m0.get("townhall_media_parts_total", 0),
        }
    finally:
        for session in sessions:
            await session.pc.close()
        await server.stop()


def report(label: str, rooms: int, r: dict[str, float], seconds: float) -> None:
    expected_parts = rooms * seconds / (10 * 1024 / 48_000)
    print(
        f"{label}: {100 * r['share']:.1f}% of a core per room over {seconds:.0f} s "
        f"({r['publishers']:.0f} publishers; parts {r['parts']:.0f}/{expected_parts:.0f}; "
        f"part lateness p99 <= {1000 * r['lateness_p99']:.0f} ms; underruns {r['underruns']:.0f}; "
        f"late ticks {r['late_ticks']:.0f})",
        flush=True,
    )


async def main(args: argparse.Namespace) -> None:
    if args.pin:
        pin(os.getpid(), 1)
    os.nice(10)  # the speakers yield to the media server (the server process is started at normal priority)
    pair = await measure(args.rooms, 2, 2, args.seconds, args.warmup, args.pin)
    report(f"{args.rooms} two-speaker rooms", args.rooms, pair, args.seconds)
    big = await measure(1, 13, 2, args.seconds, args.warmup, args.pin)
    report("one 13-speaker room, 2 talking", 1, big, args.seconds)
    quiet = await measure(1, 13, 2, args.seconds, args.warmup, args.pin, dtx=True)
    report("one 13-speaker room, 2 talking, senders with DTX", 1, quiet, args.seconds)
    print(
        f"media_rooms: two-speaker room {100 * pair['share']:.1f}% of a core "
        f"({1 / pair['share']:.1f} rooms per core, {args.rooms} rooms in one process; goal <= 8%); "
        f"13-speaker room with 2 talking {100 * big['share']:.1f}% of a core (goal <= 50%; "
        f"{100 * quiet['share']:.1f}% when senders use DTX); "
        f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
        flush=True,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rooms", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--pin", action="store_true", help="server on one core, speakers on another")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--speakers", type=int, default=2, help=argparse.SUPPRESS)
    cli = parser.parse_args()
    if cli.serve:
        asyncio.run(serve(cli.rooms, cli.speakers))
    else:
        asyncio.run(main(cli))
