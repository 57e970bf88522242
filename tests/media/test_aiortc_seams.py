"""The two places we reach into aiortc (pinned in pyproject.toml): an upgrade that breaks either fails here.

1. Incoming RTP is taken at RTCRtpReceiver._handle_rtp_packet, with the negotiated codecs read from the
   receiver's private codec table, so aiortc's jitter buffer and decoder thread are skipped.
2. Outgoing tracks return av.Packet (ready Opus), which RTCRtpSender packetises without encoding.
"""

from __future__ import annotations

import asyncio
from importlib.metadata import version

import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpReceiver
from aiortc.mediastreams import MediaStreamError
from tests.support.wait import until

from townhall.media.encoder import OpusDecoder
from townhall.media.ingest import DTX_FRAME, PacketTrack, tap_receiver
from townhall.media.mixer import FRAME, RATE
from townhall.media.synthetic import SignalTrack

pytestmark = [pytest.mark.media, pytest.mark.timeout(30)]


def test_aiortc_is_the_version_the_seams_were_written_for() -> None:
    assert version("aiortc").startswith("1.16.")


async def test_receiver_keeps_its_codec_table_where_tap_receiver_reads_it() -> None:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        receiver = pc.addTransceiver("audio").receiver
        assert isinstance(receiver, RTCRtpReceiver)
        assert isinstance(receiver._RTCRtpReceiver__codecs, dict)  # type: ignore[attr-defined]
    finally:
        await pc.close()


async def test_packets_flow_from_a_packet_track_to_a_tapped_receiver_without_aiortc_decoding() -> None:
    sender_pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    receiver_pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    t = np.arange(FRAME) / RATE
    tone = (np.sin(2 * np.pi * 600 * t) * 8000).astype(np.int16)
    sender_pc.addTransceiver(SignalTrack(lambda i: tone), direction="sendonly")
    got: list[bytes] = []
    tracks = []

    @receiver_pc.on("track")
    def on_track(track):  # type: ignore[no-untyped-def]
        tracks.append(track)

    try:
        await sender_pc.setLocalDescription(await sender_pc.createOffer())
        await receiver_pc.setRemoteDescription(sender_pc.localDescription)
        (transceiver,) = receiver_pc.getTransceivers()
        tap_receiver(transceiver.receiver, got.append)
        await receiver_pc.setLocalDescription(await receiver_pc.createAnswer())
        await sender_pc.setRemoteDescription(receiver_pc.localDescription)
        await until(lambda: len(got) >= 25, 10, "25 Opus packets at the tapped receiver")
        decoder = OpusDecoder()
        frames = [f for p in got[5:] for f in decoder.decode(p)]
        assert frames and all(f.shape == (FRAME,) for f in frames)
        assert np.abs(frames[-1]).max() > 4000  # the tone arrived intact
        assert tracks and tracks[0]._queue.qsize() == 0  # aiortc's own decoder produced nothing
    finally:
        await sender_pc.close()
        await receiver_pc.close()


async def test_packet_track_stamps_gaps_in_rtp_time_and_bounds_its_queue() -> None:
    track = PacketTrack(depth=2)
    track.push(b"a", 0.0)
    track.push(b"b", 0.02)
    track.push(b"c", 0.10)  # three frames were never sent
    first = await track.recv()
    second = await track.recv()
    assert bytes(first) == b"b" and first.pts == FRAME  # "a" dropped: the queue holds two
    assert bytes(second) == b"c" and second.pts == 5 * FRAME
    track.stop()
    with pytest.raises(MediaStreamError):
        await asyncio.wait_for(track.recv(), 1)


async def test_a_silent_mix_is_sent_as_a_dtx_frame_every_400_ms_and_speech_resumes_at_once() -> None:
    track = PacketTrack(depth=10)
    for i in range(45):  # 900 ms of silence
        track.push_silence(i * 0.02)
    sent = [await track.recv() for _ in range(3)]
    assert [bytes(p) for p in sent] == [DTX_FRAME] * 3
    assert [p.pts for p in sent] == [0, 20 * FRAME, 40 * FRAME]
    track.push(b"speech", 0.90)
    resumed = await track.recv()
    assert bytes(resumed) == b"speech" and resumed.pts == 45 * FRAME
