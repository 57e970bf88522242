"""Synthetic speakers: an aiortc WHIP client that publishes speech (espeak-ng) or a generated signal.

Used by `townhall demo`, the media tests and the benchmarks; it goes through the same WHIP path as
a browser. Never touches the server's internals: only HTTP and WebRTC.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import shutil
import subprocess
import tempfile
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import httpx
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from townhall.domain import backoff
from townhall.media.encoder import OpusEncoder
from townhall.media.ingest import DTX_EVERY, TIME_BASE, tap_receiver
from townhall.media.mixer import FRAME, RATE, Samples

log = logging.getLogger("townhall.media")

Signal = Callable[[int], Samples]  # frame index -> 20 ms of int16 mono audio


class SignalTrack(MediaStreamTrack):
    """Sends `signal` as Opus packets in real time (paced on the loop clock, one packet per 20 ms).

    With `dtx`, behaves like a browser told `usedtx=1`: when digital silence starts it sends a one-byte
    DTX frame, then one every 400 ms and nothing in between (the RTP clock still advances).
    """

    kind = "audio"

    def __init__(self, signal: Signal, on_sent: Callable[[int, float], None] | None = None, dtx: bool = False) -> None:
        super().__init__()
        self.signal = signal
        self.on_sent = on_sent
        self.dtx = dtx
        self.encoder = OpusEncoder(32_000, 0)
        self.index = 0
        self._start: float | None = None
        self._last_sent = -DTX_EVERY
        self._resting = False

    async def recv(self) -> av.Packet:  # type: ignore[type-arg]
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            delay = self._start + self.index * FRAME / RATE - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            index, samples = self.index, self.signal(self.index)
            self.index += 1
            payload = self.encoder.encode(samples) or b""
            resting = self.dtx and not samples.any()
            if resting:
                if self._resting and index - self._last_sent < DTX_EVERY:
                    continue  # silent: send nothing
                payload = payload[:1]  # a TOC byte alone: a DTX frame, at once and then every 400 ms
            self._resting = resting
            self._last_sent = index
            packet = av.Packet(payload)
            packet.pts = index * FRAME
            packet.time_base = TIME_BASE
            if self.on_sent is not None:
                self.on_sent(index, loop.time())
            return packet


class WhipRefused(Exception):
    def __init__(self, status: int, body: str, retry_after: float = 0.0) -> None:
        super().__init__(f"WHIP refused: {status} {body[:200]}")
        self.status = status
        self.body = body
        self.retry_after = retry_after  # seconds the server asked for (Retry-After), 0 when it did not


@dataclass
class WhipSession:
    pc: RTCPeerConnection
    resource_url: str
    token: str

    async def close(self, http: httpx.AsyncClient | None = None) -> None:
        """Hang up: DELETE the session resource (RFC 9725), then close the peer connection."""
        with contextlib.suppress(httpx.HTTPError):
            if http is not None:
                await http.delete(self.resource_url, headers={"Authorization": f"Bearer {self.token}"})
            else:
                async with httpx.AsyncClient(timeout=5) as client:
                    await client.delete(self.resource_url, headers={"Authorization": f"Bearer {self.token}"})
        await self.pc.close()


async def whip_publish(
    url: str,
    token: str,
    track: MediaStreamTrack,
    on_audio: Callable[[bytes], None] | None = None,
    http: httpx.AsyncClient | None = None,
) -> WhipSession:
    """Offer sendrecv audio to a WHIP endpoint; `on_audio` gets each Opus packet of the mix-minus heard."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    transceiver = pc.addTransceiver(track, direction="sendrecv")
    tap_receiver(transceiver.receiver, on_audio or (lambda payload: None))
    await pc.setLocalDescription(await pc.createOffer())
    headers = {"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"}
    try:
        if http is not None:
            response = await http.post(url, content=pc.localDescription.sdp, headers=headers)
        else:
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.post(url, content=pc.localDescription.sdp, headers=headers)
        if response.status_code != 201:
            wait = backoff.retry_after_s(response.headers.get("retry-after"), time.time())
            raise WhipRefused(response.status_code, response.text, wait)
        await pc.setRemoteDescription(RTCSessionDescription(response.text, "answer"))
    except BaseException:
        await pc.close()
        raise
    return WhipSession(pc, str(httpx.URL(url).join(response.headers["location"])), token)


# --- what the synthetic speakers say ------------------------------------------------------------
LINES = (
    (
        "Welcome to townhall. This is a live space with two synthetic speakers.",
        "Every word you hear went through WebRTC, the mixer, and low latency HLS.",
    ),
    (
        "The server mixes our voices once and encodes the programme once.",
        "And each of us hears the other one, like a phone call.",
    ),
)


def espeak(text: str, voice: str) -> Samples | None:
    """Speech from espeak-ng at 48 kHz mono, or None when espeak-ng is not installed."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "say.wav"
        result = subprocess.run([exe, "-v", voice, "-s", "160", "-w", str(out), text], capture_output=True, timeout=30)
        if result.returncode != 0 or not out.exists():
            return None
        with wave.open(str(out)) as w:
            rate, raw = w.getframerate(), w.readframes(w.getnframes())
    speech = np.frombuffer(raw, dtype=np.int16).astype(np.float32)
    times = np.arange(0, len(speech) / rate, 1 / RATE)
    return np.interp(times, np.arange(len(speech)) / rate, speech).astype(np.int16)


def tone(freq: float, seconds: float, amplitude: float = 0.3) -> Samples:
    t = np.arange(int(seconds * RATE)) / RATE
    envelope = np.minimum(1.0, np.minimum(t, seconds - t) * 50)  # 20 ms fades: no clicks
    samples: Samples = (np.sin(2 * np.pi * freq * t) * envelope * amplitude * 32767).astype(np.int16)
    return samples


def conversation(voices: tuple[str, str] = ("en-us", "en-gb")) -> tuple[Samples, Samples]:
    """Both parts of a looping two-person exchange: each talks while the other is silent."""
    parts: tuple[list[Samples], list[Samples]] = ([], [])
    gap = np.zeros(int(0.4 * RATE), dtype=np.int16)
    for pair in LINES:
        for who, text in enumerate(pair):
            said = espeak(text, voices[who])
            if said is None:  # a recognisable signal: each speaker a rising three-note figure of its own
                base = 330.0 if who == 0 else 440.0
                said = np.concatenate([tone(base * r, 0.35) for r in (1.0, 1.25, 1.5)])
            for speaker, turns in enumerate(parts):
                turns.append(np.concatenate([said if who == speaker else np.zeros_like(said), gap]))
    return np.concatenate(parts[0]), np.concatenate(parts[1])


def looping(samples: Samples) -> Signal:
    padded = np.concatenate([samples, np.zeros(-len(samples) % FRAME, dtype=np.int16)])

    def frame(index: int) -> Samples:
        start = (index * FRAME) % len(padded)
        chunk: Samples = padded[start : start + FRAME]
        return chunk

    return frame


async def run_synthetic_speakers(whip_url_for: Callable[[int], str], tokens: list[str], stop: asyncio.Event) -> None:
    """Publish synthetic speakers until `stop` is set, then hang up.

    `whip_url_for(i)` is speaker i's WHIP endpoint (for instance `f"{base}/whip/{space_id}"` for all),
    `tokens[i]` their speaker token; one speaker per token (two make a conversation, taking turns).
    Speech comes from espeak-ng when installed, otherwise a tone figure per speaker. A refused or
    dropped session is retried with backoff (domain/backoff.py: full jitter, Retry-After honoured), so the
    demo survives a server restart without storming it.
    """
    both = await asyncio.to_thread(conversation)
    scripts = [both[i % 2] for i in range(len(tokens))]

    async def speak(i: int) -> None:
        failures = 0
        while not stop.is_set():
            try:
                session = await whip_publish(whip_url_for(i), tokens[i], SignalTrack(looping(scripts[i])))
            except (WhipRefused, httpx.HTTPError, OSError) as exc:
                failures += 1
                retry_after = exc.retry_after if isinstance(exc, WhipRefused) else 0.0
                wait = backoff.delay(failures, retry_after, random.random, base_s=1.0, cap_s=30.0)
                log.warning("synthetic speaker %d could not publish (%s); again in %.1f s", i, exc, wait)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
                continue
            failures = 0
            while not stop.is_set() and session.pc.connectionState not in ("failed", "closed"):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
            await session.close()

    await asyncio.gather(*(speak(i) for i in range(len(tokens))))


def tone_bursts(freq: float, period_frames: int = 50, burst_frames: int = 5, offset: int = 0) -> Signal:
    """A 100 ms tone burst every second (by default): easy to find again in a decoded programme."""
    t = np.arange(FRAME) / RATE

    def frame(index: int) -> Samples:
        if (index - offset) % period_frames >= burst_frames:
            return np.zeros(FRAME, dtype=np.int16)
        phase = 2 * np.pi * freq * index * FRAME / RATE
        return (np.sin(2 * np.pi * freq * t + phase) * 0.4 * 32767).astype(np.int16)

    return frame


async def _publish_until_killed(url: str, tokens: list[str], freq: float) -> None:
    sessions = [
        await whip_publish(url, token, SignalTrack(tone_bursts(freq * (i + 1), offset=10 * i)))
        for i, token in enumerate(tokens)
    ]
    print("publishing", len(sessions), flush=True)
    await asyncio.Event().wait()


def main() -> None:
    """`python -m townhall.media.synthetic WHIP_URL TOKEN [TOKEN...]`: publish tone bursts until killed."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("url")
    parser.add_argument("tokens", nargs="+")
    parser.add_argument("--freq", type=float, default=440.0)
    args = parser.parse_args()
    asyncio.run(_publish_until_killed(args.url, args.tokens, args.freq))


if __name__ == "__main__":
    main()
