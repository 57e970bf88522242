"""Real WebRTC on loopback: speakers publish tone bursts over WHIP; the test follows the LL-HLS playlist
with blocking reload, decodes the parts with PyAV and listens for the bursts; the speakers' own
receivers check what each hears (the mix-minus)."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from tests.media.conftest import Follower, Stage, band_energy, onsets
from tests.support.wait import until

from townhall.media.encoder import OpusDecoder
from townhall.media.mixer import Samples
from townhall.media.synthetic import SignalTrack, WhipSession, tone_bursts, whip_publish

pytestmark = [pytest.mark.media, pytest.mark.timeout(60)]

A_HZ, B_HZ, C_HZ = 440.0, 1000.0, 2000.0
PERIOD = 50  # frames: one burst per second per speaker
BURST = 5  # frames: 100 ms


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


async def publish(
    stage: Stage, token: str, freq: float, offset: int, sent: dict[int, float] | None = None
) -> tuple[WhipSession, Ear]:
    ear = Ear()
    on_sent = (lambda i, t: sent.__setitem__(i, t)) if sent is not None else None
    track = SignalTrack(tone_bursts(freq, PERIOD, BURST, offset), on_sent=on_sent)
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
    assert all(abs((y - x) - PERIOD) <= 10 for x, y in itertools.pairwise(a_on)), a_on  # 1 s, +-0.2 s
    merged = sorted([(i, "A") for i in a_on] + [(i, "B") for i in b_on])
    assert all(p[1] != q[1] for p, q in itertools.pairwise(merged)), merged
    for i in a_on[:-1]:  # B half a second after each A
        assert any(abs(j - (i + PERIOD // 2)) <= 10 for j in b_on), (a_on, b_on)

    # mix-minus: A hears B and never itself, and the other way round
    assert onsets(ear_a.energy(B_HZ)) and not onsets(ear_a.energy(A_HZ))
    assert onsets(ear_b.energy(A_HZ)) and not onsets(ear_b.energy(B_HZ))


def delay_figures(stage: Stage) -> tuple[int, float, float, float]:
    """Count, mean, p50 and p95 (bucket bounds) of the server-added mix-minus delay so far."""
    samples = stage.rt.media.node.metrics.minus_delay.collect()[0].samples
    buckets = sorted((float(x.labels["le"]), x.value) for x in samples if x.name.endswith("_bucket"))
    count = next(x.value for x in samples if x.name.endswith("_count"))
    total = next(x.value for x in samples if x.name.endswith("_sum"))
    p50 = next(le for le, n in buckets if n >= 0.5 * count)
    p95 = next(le for le, n in buckets if n >= 0.95 * count)
    return int(count), total / max(count, 1), p50, p95


@pytest.mark.parametrize("speakers", [2, 3], ids=["forwarded", "mixed"])
async def test_server_added_delay_of_the_mix_minus_is_under_60_ms(stage: Stage, speakers: int) -> None:
    a, ear_a = await publish(stage, await stage.host_token(), A_HZ, 0)
    b, _ = await publish(stage, (await stage.speaker("speaker_b"))[1], B_HZ, PERIOD // 2)
    others = [await publish(stage, (await stage.speaker("speaker_c"))[1], C_HZ, 10)] if speakers == 3 else []
    await until(lambda: len(stage.live.publishers) == speakers, 5, "publishers attached")
    await until(lambda: len(onsets(ear_a.energy(B_HZ))) >= 2, 10, "A hearing two of B's bursts")
    for session, _ in [(a, None), (b, None), *others]:
        await session.close(stage.http)
    count, mean, p50, p95 = delay_figures(stage)
    print(
        f"mix-minus server-added delay ({'forwarded' if speakers == 2 else 'mixed'}): {count} packets, "
        f"mean {1000 * mean:.1f} ms, p50 <= {1000 * p50:.0f} ms, p95 <= {1000 * p95:.0f} ms"
    )
    assert count > 50 and p50 <= 0.060  # the median packet; the mean and tail depend on the machine's load


async def test_a_muted_speaker_is_absent_from_the_programme_and_every_mix_minus(stage: Stage) -> None:
    b_account, token_b = await stage.speaker("speaker_b")
    await stage.rt.spaces.mute(stage.host, stage.space_id, b_account.id, True)
    a, ear_a = await publish(stage, await stage.host_token(), A_HZ, 0)
    b, _ = await publish(stage, token_b, B_HZ, PERIOD // 2)
    c, _ = await publish(stage, (await stage.speaker("speaker_c"))[1], C_HZ, 10)  # someone A does hear
    await until(lambda: len(stage.live.publishers) == 3, 5, "three publishers attached")
    muted = Follower(stage.http, f"{stage.server.url}/live/{stage.space_id}")
    await muted.follow(2.5)
    heard_while_muted = list(ear_a.frames)
    await stage.rt.spaces.mute(b_account, stage.space_id, b_account.id, False)  # a speaker unmutes themself
    unmuted = Follower(stage.http, f"{stage.server.url}/live/{stage.space_id}")
    await unmuted.follow(2.5)
    for session in (a, b, c):
        await session.close(stage.http)

    programme = muted.audio()
    assert onsets(band_energy(programme, A_HZ)) and onsets(band_energy(programme, C_HZ))
    assert not onsets(band_energy(programme, B_HZ)), "muted B leaked into the programme"
    a_heard = np.concatenate([f for _, f in heard_while_muted])
    assert onsets(band_energy(a_heard, C_HZ)), "A hears C"
    assert not onsets(band_energy(a_heard, B_HZ)), "muted B leaked into A's mix-minus"
    assert onsets(band_energy(unmuted.audio(), B_HZ)), "B unmuted must be heard again"


async def test_killing_a_publisher_leaves_the_programme_running_in_silence(stage: Stage) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "townhall.media.synthetic",
        stage.whip_url,
        await stage.host_token(),
        "--freq",
        str(A_HZ),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        await until(lambda: len(stage.live.publishers) == 1, 20, "the publisher process to connect")
        before = Follower(stage.http, f"{stage.server.url}/live/{stage.space_id}")
        await before.follow(1.5)
        assert onsets(band_energy(before.audio(), A_HZ)), "the publisher's bursts before the kill"
    finally:
        process.kill()
        await process.wait()
    after = Follower(stage.http, f"{stage.server.url}/live/{stage.space_id}")
    await after.follow(2.0)
    positions = [(m, i) for m, i, _, _ in after.parts]
    assert len(positions) >= 7, "the playlist kept advancing after the publisher died"
    assert positions == sorted(positions)
    tail = after.audio()[len(after.audio()) // 2 :]
    assert np.abs(tail).max() < 0.01, "after the kill the programme is silence"


async def test_ffprobe_reads_the_stream(stage: Stage) -> None:
    ffprobe = shutil.which("ffprobe")
    assert ffprobe, "ffprobe is installed on this machine"
    a, _ = await publish(stage, await stage.host_token(), A_HZ, 0)
    await until(lambda: stage.live.programme.window.next_msn >= 1, 5, "a first segment")
    joined = await stage.http.post(f"/api/spaces/{stage.space_id}/join", json={"device_id": "ffprobe-device"})
    process = await asyncio.create_subprocess_exec(
        ffprobe,
        "-v",
        "error",
        "-show_streams",
        "-show_format",
        "-of",
        "json",
        joined.json()["playlist_url"],  # as any listener: a token in the path
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 20)
    await a.close(stage.http)
    assert process.returncode == 0, err.decode()
    (stream,) = json.loads(out)["streams"]
    assert stream["codec_name"] == "aac" and stream["sample_rate"] == "48000" and stream["profile"] == "LC"


async def test_blocking_reload_answers_as_soon_as_the_part_exists(stage: Stage) -> None:
    programme = stage.live.programme
    base = f"/live/{stage.space_id}/media.m3u8"
    await until(lambda: programme.window.next_msn >= 1, 5, "a first segment")
    loop = asyncio.get_running_loop()
    waits = []
    for _ in range(5):
        msn, index = programme.window.position
        response = await stage.http.get(base, params={"_HLS_msn": msn, "_HLS_part": index})
        answered = loop.time()
        assert response.status_code == 200 and f'URI="p{msn}.{index}.m4s"' in response.text
        assert response.headers["cache-control"] == "public, max-age=1"
        waits.append(answered - programme.last_publish)
    assert float(np.median(waits)) < 0.05 and max(waits) < 0.15, waits  # not a poll: woken by the part

    msn, index = programme.window.position  # the preload hint: a request for it is held until it exists
    response = await stage.http.get(f"/live/{stage.space_id}/p{msn}.{index}.m4s")
    assert response.status_code == 200 and response.content == programme.cached(f"p{msn}.{index}.m4s")
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"

    msn, index = programme.window.position
    for params, code in [
        ({"_HLS_part": "1"}, "hls_part_without_msn"),
        ({"_HLS_msn": "abc"}, "hls_invalid_query"),
        ({"_HLS_msn": msn + 2}, "hls_msn_too_far"),
        ({"_HLS_msn": msn, "_HLS_part": index + 4}, "hls_part_too_far"),
    ]:
        started = loop.time()
        response = await stage.http.get(base, params=params)
        assert response.status_code == 400 and response.json()["code"] == code, (params, response.text)
        assert loop.time() - started < 0.1  # refused at once, not held


async def test_origin_cache_headers_suit_the_edge(stage: Stage) -> None:
    programme = stage.live.programme
    await until(lambda: programme.window.next_msn >= 1, 5, "a first segment")
    live = f"/live/{stage.space_id}"
    for name in ("init.mp4", "p0.0.m4s", "s0.m4s"):
        response = await stage.http.get(f"{live}/{name}")
        assert response.status_code == 200
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["content-type"] == "audio/mp4"
    for name in ("master.m3u8", "media.m3u8"):
        response = await stage.http.get(f"{live}/{name}")
        assert response.headers["cache-control"] == "public, max-age=1"
        assert response.headers["content-type"].startswith("application/vnd.apple.mpegurl")
        assert "set-cookie" not in response.headers
    for path in (f"{live}/p999.0.m4s", "/live/nospace1/media.m3u8", f"{live}/x.m4s"):
        response = await stage.http.get(path)
        assert response.status_code == 404 and response.headers["cache-control"] == "no-cache"
        assert response.json()["code"] == "not_found"
    # stored objects are the same bytes the origin serves, and the playlist names nothing unstored
    blobs = stage.rt.blobs
    assert await blobs.get(f"live/{stage.space_id}/p0.0.m4s") == (await stage.http.get(f"{live}/p0.0.m4s")).content
    text = (await stage.http.get(f"{live}/media.m3u8")).text
    named = "\n".join(x for x in text.splitlines() if not x.startswith("#EXT-X-PRELOAD-HINT"))  # a hint: not yet
    for uri in re.findall(r'(?:URI="|^)([ps][\d.]+m4s)', named, re.M):
        assert await blobs.exists(f"live/{stage.space_id}/{uri}"), uri


async def test_each_segment_is_recorded_with_its_hash_and_announced(stage: Stage) -> None:
    seen = []
    stage.rt.media.on_segment(lambda space_id, record: seen.append((space_id, record)))
    await until(lambda: len(seen) >= 1, 5, "a segment announced")
    space_id, record = seen[0]
    data = await stage.rt.blobs.get(record.key)
    assert space_id == stage.space_id and data is not None and len(data) == record.size
    assert hashlib.sha256(data).hexdigest() == record.sha256
    assert record.duration == pytest.approx(1.92) and len(record.parts) == 9
    stored = await stage.rt.blobs.get(f"live/{stage.space_id}/records/{record.msn:010d}.json")
    assert stored is not None and json.loads(stored)["sha256"] == record.sha256


async def test_ending_the_space_closes_the_playlist_and_keeps_the_recording(stage: Stage) -> None:
    await until(lambda: stage.live.programme.window.next_msn >= 1, 5, "a first segment")
    await stage.rt.spaces.end(stage.host, stage.space_id)
    assert stage.space_id not in stage.rt.media.node.spaces
    text = (await stage.http.get(f"/live/{stage.space_id}/media.m3u8")).text
    assert text.rstrip().endswith("#EXT-X-ENDLIST")
    assert (await stage.http.get(f"/live/{stage.space_id}/s0.m4s")).status_code == 200


async def test_a_space_restarted_on_a_new_node_continues_after_what_is_stored(stage: Stage) -> None:
    from townhall.media.node import MediaNode

    threaded, space_id = stage.rt.media, stage.space_id
    node = threaded.node
    await until(lambda: node.spaces[space_id].programme.window.position >= (1, 2), 10, "segment 0 and parts of 1")
    await threaded.stop_space(space_id, ended=False)  # as if the process died with segment 1 half written
    stored = await stage.rt.blobs.list(f"live/{space_id}/")
    highest = max(int(re.search(r"/[ps](\d+)", k)[1]) for k in stored if k.endswith(".m4s"))  # type: ignore[index]
    fresh = MediaNode(node.config, stage.rt.blobs, stage.rt.state)
    try:
        live = await fresh.ensure_space(space_id)
        await fresh.start()
        assert live.programme.window.next_msn == highest + 1
        await until(lambda: live.programme.window.position > (highest + 1, 0), 5, "a new part after the restart")
        assert await stage.rt.blobs.exists(f"live/{space_id}/init.mp4")
    finally:
        await fresh.stop()


async def test_a_speaker_in_dtx_is_heard_and_its_silences_are_not_underruns(stage: Stage) -> None:
    underruns = stage.rt.media.node.metrics.underruns
    before = underruns._value.get()
    track = SignalTrack(tone_bursts(A_HZ, PERIOD, BURST, 0), dtx=True)
    session = await whip_publish(stage.whip_url, await stage.host_token(), track, http=stage.http)
    await until(lambda: len(stage.live.publishers) == 1, 5, "the publisher attached")
    follower = Follower(stage.http, f"{stage.server.url}/live/{stage.space_id}")
    await follower.follow(2.5)
    await session.close(stage.http)
    assert len(onsets(band_energy(follower.audio(), A_HZ))) >= 2
    assert underruns._value.get() - before <= 1  # the silences the sender announced (DTX) are not underruns


async def test_a_node_shutting_down_leaves_a_live_spaces_playlist_open(stage: Stage) -> None:
    await until(lambda: stage.live.programme.window.next_msn >= 1, 5, "a first segment")
    await stage.rt.media.stop()  # a deploy restarts the process; the space is still live
    stored = await stage.rt.blobs.get(f"live/{stage.space_id}/media.m3u8")
    assert stored is not None and b"#EXT-X-ENDLIST" not in stored and b"s0.m4s" in stored
