"""Availability latency: from a marker's capture at a WHIP client to the moment the LL-HLS part holding it
can be fetched by a client that follows the playlist with blocking reload (as hls.js does).

The app runs in its own process (bench/media_rooms.py --serve) with one space and three speakers: the
first sends tone markers (60 ms every 260 ms, each marker's pitch one of eight, so each is recognised
again), the other two are silent and hear the mix (so the mixed mix-minus path is measured too).
This process publishes, follows the playlist, fetches every part, decodes them with PyAV and finds
each marker's first part. Goal: p95 <= part duration + 150 ms.

    .venv/bin/python bench/latency.py [--markers 120]

Prints its figure last. Binds 127.0.0.1 only; everything it starts, it stops.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import av
import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from media_rooms import Server, lateness_p99
from townhall.media.mixer import FRAME, RATE, Samples
from townhall.media.synthetic import SignalTrack, WhipSession, tone_bursts, whip_publish

EVERY = 13  # frames between marker starts: 260 ms, so markers fall at every place within a part
LENGTH = 3  # frames: 60 ms
PITCHES = [500.0 + 250.0 * i for i in range(8)]
PART_SAMPLES = 10 * 1024
PART_URI = re.compile(r'^#EXT-X-PART:.*URI="(p[\d.]+m4s)"', re.M)  # not the preload hint: it may not exist yet


def markers(sent: dict[int, float], enough: asyncio.Event, last: list[int]) -> SignalTrack:
    """The marker speaker's track; `enough` is set once marker `last[0]` has been sent."""
    t = np.arange(FRAME) / RATE

    def frame(index: int) -> Samples:
        if index % EVERY >= LENGTH:
            return np.zeros(FRAME, dtype=np.int16)
        freq = PITCHES[(index // EVERY) % len(PITCHES)]
        samples: Samples = (np.sin(2 * np.pi * freq * (t + index * FRAME / RATE)) * 0.4 * 32767).astype(np.int16)
        return samples

    def on_sent(index: int, at: float) -> None:
        if index % EVERY == 0:
            sent[index // EVERY] = at
            if index // EVERY >= last[0]:
                enough.set()

    return SignalTrack(frame, on_sent)


@dataclass
class Follower:
    base: str
    parts: list[tuple[str, bytes, float]] = field(default_factory=list)  # name, data, when first named
    init: bytes = b""

    async def run(self, http: httpx.AsyncClient, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        self.init = (await http.get(f"{self.base}/init.mp4")).content
        text = (await http.get(f"{self.base}/media.m3u8")).text
        seen = set(PART_URI.findall(text))  # start at the live edge
        while not stop.is_set():
            hint = re.search(r'PRELOAD-HINT:TYPE=PART,URI="p(\d+)\.(\d+)\.m4s"', text)
            assert hint, text
            response = await http.get(f"{self.base}/media.m3u8", params={"_HLS_msn": hint[1], "_HLS_part": hint[2]})
            named_at = loop.time()
            text = response.text
            for name in PART_URI.findall(text):
                if name not in seen:
                    seen.add(name)
                    self.parts.append((name, (await http.get(f"{self.base}/{name}")).content, named_at))


def find_markers(follower: Follower) -> list[tuple[int, float]]:
    """(pitch index, time its first part was named) for each marker found in the decoded parts."""
    with av.open(io.BytesIO(follower.init + b"".join(p[1] for p in follower.parts)), mode="r", format="mp4") as c:
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
    windows = audio[: len(audio) // FRAME * FRAME].reshape(-1, FRAME)
    t = np.arange(FRAME) / RATE
    energies = np.stack([np.abs(windows @ np.exp(-2j * np.pi * f * t)) / FRAME for f in PITCHES], axis=1)
    loud = energies.max(axis=1) > 0.02
    found = []
    for w in range(1, len(loud)):
        if loud[w] and not loud[max(0, w - 5) : w].any():
            part = min((w * FRAME + FRAME - 1) // PART_SAMPLES, len(follower.parts) - 1)  # part holding its start
            found.append((int(np.argmax(energies[w])), follower.parts[part][2]))
    return found


def mix_minus_delay(metrics: dict[str, float]) -> str:
    buckets = sorted(
        (float(m[1]), v)
        for k, v in metrics.items()
        if (m := re.search(r'mix_minus_delay_seconds_bucket\{le="([^"]+)"', k))
    )
    count = metrics.get("townhall_media_mix_minus_delay_seconds_count", 0.0)
    if not count:
        return "no mix-minus packets"
    mean = metrics["townhall_media_mix_minus_delay_seconds_sum"] / count
    p95 = next(le for le, n in buckets if n >= 0.95 * count)
    return f"mean {1000 * mean:.1f} ms, p95 <= {1000 * p95:.0f} ms over {count:.0f} packets"


async def main(wanted: int) -> None:
    server = await Server.start(1, 3, pinned=False)
    sessions: list[WhipSession] = []
    try:
        room = server.rooms[0]
        whip = f"{server.url}/whip/{room['space']}"
        sent: dict[int, float] = {}
        enough, last = asyncio.Event(), [1 << 30]
        sessions.append(await whip_publish(whip, room["tokens"][0], markers(sent, enough, last)))
        for token in room["tokens"][1:]:
            sessions.append(await whip_publish(whip, token, SignalTrack(tone_bursts(1.0, 1, 0))))
        await asyncio.sleep(3)  # warm up: connections settle, the playlist has parts
        follower = Follower(f"{server.url}/live/{room['space']}")
        stop = asyncio.Event()
        async with httpx.AsyncClient(timeout=30, headers={"X-Townhall-Edge": server.edge_secret}) as http:
            following = asyncio.create_task(follower.run(http, stop))
            first = max(sent, default=0) + 1
            last[0] = first + wanted + 4
            await asyncio.wait_for(enough.wait(), wanted * EVERY * FRAME / RATE * 3 + 30)
            await asyncio.sleep(1.5)  # the last markers' parts
            stop.set()
            await following
            metrics = await server.metrics(http)
        latencies = []
        for pitch, named_at in find_markers(follower):
            candidates = [at for k, at in sent.items() if k >= first and k % len(PITCHES) == pitch and at <= named_at]
            if candidates and named_at - max(candidates) < 2.0:
                latencies.append(named_at - max(candidates))

        assert latencies, "no marker was found in the programme"
        part_ms = PART_SAMPLES / RATE * 1000
        p50, p95 = np.percentile(latencies, 50) * 1000, np.percentile(latencies, 95) * 1000
        print(f"markers sent {max(sent) - first + 1}, found {len(latencies)}; parts fetched {len(follower.parts)}")
        print(f"mix-minus server-added delay (mixed path, 3 speakers): {mix_minus_delay(metrics)}")
        print(
            f"part lateness p99 (tick that completed a part to the part being fetchable) <= "
            f"{1000 * lateness_p99({}, metrics):.0f} ms; "
            f"late ticks {metrics.get('townhall_media_late_ticks_total', 0):.0f}"
        )
        print(
            f"latency: availability p50 {p50:.0f} ms, p95 {p95:.0f} ms over {len(latencies)} markers "
            f"(part {part_ms:.0f} ms; goal p95 <= {part_ms + 150:.0f} ms; "
            f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)",
            flush=True,
        )
    finally:
        for session in sessions:
            await session.pc.close()
        await server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--markers", type=int, default=120)
    asyncio.run(main(parser.parse_args().markers))
