"""Real WebRTC on loopback: speakers publish tone bursts over WHIP; the test follows the LL-HLS playlist
with blocking reload, decodes the parts with PyAV and listens for the bursts; the speakers' own
receivers check what each hears (the mix-minus)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess

import numpy as np
import pytest

from tests.media.conftest import Follower, Stage, band_energy, onsets, until
from townhall.media.encoder import OpusDecoder
from townhall.media.mixer import FRAME, RATE, SILENCE, Samples
from townhall.media.synthetic import SignalTrack, WhipSession, whip_publish

pytestmark = [pytest.mark.media, pytest.mark.timeout(60)]

A_HZ, B_HZ = 440.0, 1000.0
PERIOD = 50  # frames: one burst per second per speaker
BURST = 5  # frames: 100 ms


def bursts(freq: float, offset: int) -> callable:  # type: ignore[valid-type]
    t = np.arange(FRAME) / RATE

    def frame(index: int) -> Samples:
        if (index - offset) % PERIOD < BURST:
            phase = 2 * np.pi * freq * (index * FRAME) / RATE
            return (np.sin(2 * np.pi * freq * t + phase) * 0.4 * 32767).astype(np.int16)
        return SILENCE

    return frame


class Ear:
    """What a speaker hears: their mix-minus, decoded on arrival with the arrival time of each frame."""

    def __init__(self) -> None:
        self.decoder = OpusDecoder()
        self.frames: list[tuple[float, Samples]] = []

    def __call__(self, payload: bytes) -> None:
        now = asyncio.get_running_loop().time()
        for frame in self.decoder.decode(payload):
            self.frames.append((now, frame))

    def energy(self, freq: float) -> np.ndarray:
        return band_energy(np.concatenate([f for _, f in self.frames]) if self.frames else np.zeros(0), freq)


async def publish(stage: Stage, token: str, freq: float, offset: int,
                  sent: dict[int, float] | None = None) -> tuple[WhipSession, Ear]:
    ear = Ear()
    track = SignalTrack(bursts(freq, offset), on_sent=(lambda i, t: sent.__setitem__(i, t)) if sent is not None else None)
    session = await whip_publish(stage.whip_url, token, track, ear, http=stage.http)
    return session, ear


async def test_two_speakers_reach_the_programme_in_order_and_hear_only_each_other(stage: Stage) -> None:
    _, token_b = await stage.speaker("speaker_b")
    sent_b: dict[int, float] = {}
    a, ear_a = await publish(stage, await stage.host_token(), A_HZ, 0)
    b, ear_b = await publish(stage, token_b, B_HZ, PERIOD // 2, sent_b)
    await until(lambda: len(stage.live.publishers) == 2, 5, "both publishers attached")
    follower = Follower(stage.http, f"{stage.server.url}/live/{stage.space_id}")
    await follower.follow(3.5)
    await a.close(stage.http)
    await b.close(stage.http)

    audio = follower.audio()
    a_on, b_on = onsets(band_energy(audio, A_HZ)), onsets(band_energy(audio, B_HZ))
    assert len(a_on) >= 2 and len(b_on) >= 2, (a_on, b_on)
    # in order and at the known times: A every second, B half a second after each A
    assert all(abs((y - x) - PERIOD) <= 2 for x, y in zip(a_on, a_on[1:], strict=False)), a_on
    merged = sorted([(i, "A") for i in a_on] + [(i, "B") for i in b_on])
    assert all(p[1] != q[1] for p, q in zip(merged, merged[1:], strict=False)), merged
    for i in a_on:
        nearest_b = min(b_on, key=lambda j: abs(j - (i + PERIOD // 2)))
        assert abs(nearest_b - (i + PERIOD // 2)) <= 3 or nearest_b < i, (a_on, b_on)

    # mix-minus: A hears B and never itself, and the other way round
    assert onsets(ear_a.energy(B_HZ)) and not onsets(ear_a.energy(A_HZ))
    assert onsets(ear_b.energy(A_HZ)) and not onsets(ear_b.energy(B_HZ))
