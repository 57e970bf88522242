"""WHIP ingest over aiortc: answer a speaker's SDP offer, take their Opus packets, send back their mix-minus.

Two changes around aiortc (pinned; tests/media/test_aiortc_seams.py fails on an upgrade that breaks
them): incoming RTP is taken at the receiver before aiortc's jitter buffer and decoder thread (which add
60-80 ms and a thread hop per frame), and the outgoing track hands aiortc ready Opus packets (no encode
or audio-level loop inside aiortc). Never blocks the loop; never sets anything up for a bad offer.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import av
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket
from aiortc.sdp import SessionDescription

from townhall.domain.errors import Invalid
from townhall.media.encoder import OpusDecoder
from townhall.media.mixer import FRAME, RATE

log = logging.getLogger("townhall.media")

TIME_BASE = fractions.Fraction(1, RATE)
DTX_FRAME = bytes([0x48])  # an Opus TOC byte alone (SILK wideband, 20 ms): no audio, the decoder conceals
DTX_EVERY = 20  # frames between DTX frames while silent (400 ms, as libopus does)
DTX_PAYLOAD = 2  # bytes: an Opus packet this small is a DTX frame (its sender goes quiet after it)
OpusSink = Callable[[bytes], None]
FINGERPRINT_BYTES = {"sha-256": 32, "sha-384": 48, "sha-512": 64}  # what a DTLS stack can check (RFC 8122)
HEX_PAIRS = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2})*")


def validate_offer(sdp: str, max_bytes: int) -> None:
    """Reject what cannot be an audio offer before any peer connection exists (400)."""
    if len(sdp.encode()) > max_bytes:
        raise Invalid("sdp_too_large", f"the SDP offer is larger than {max_bytes} bytes")
    if not sdp.startswith("v=0"):
        raise Invalid("sdp_malformed", "the body is not an SDP offer (it must start with v=0)")
    try:
        parsed = SessionDescription.parse(sdp)
    except (ValueError, IndexError, KeyError) as exc:
        raise Invalid("sdp_malformed", f"the SDP offer cannot be parsed: {exc}") from exc
    audio = [m for m in parsed.media if m.kind == "audio"]
    if len(audio) != 1:
        raise Invalid("sdp_no_audio", "the offer must carry exactly one audio section")
    if not any(c.mimeType.lower() == "audio/opus" for c in audio[0].rtp.codecs):
        raise Invalid("sdp_no_opus", "the offer's audio section must offer Opus")
    if audio[0].dtls is None or not audio[0].dtls.fingerprints:
        raise Invalid("sdp_no_fingerprint", "the offer has no DTLS fingerprint")
    for fingerprint in audio[0].dtls.fingerprints:
        size = FINGERPRINT_BYTES.get(fingerprint.algorithm.lower())
        if size is None or not HEX_PAIRS.fullmatch(fingerprint.value) or len(fingerprint.value) != 3 * size - 1:
            raise Invalid(
                "sdp_bad_fingerprint",
                "the DTLS fingerprint must be sha-256, sha-384 or sha-512 as colon-separated hex bytes",
            )
    if audio[0].direction not in (None, "sendrecv", "sendonly"):
        raise Invalid("sdp_bad_direction", "a speaker's audio section must be sendrecv or sendonly")
    if audio[0].ice is None or not (audio[0].ice.usernameFragment and audio[0].ice.password):
        raise Invalid("sdp_no_ice_credentials", "the offer has no ICE username fragment and password")


def ask_for_dtx(answer: str) -> str:
    """Add `usedtx=1` to the answer's Opus format: a browser then stops sending while its speaker is
    silent (Opus DTX), so a seat costs the node little until its speaker talks."""
    lines = answer.split("\r\n")
    pt = next((m[1] for line in lines if (m := re.match(r"a=rtpmap:(\d+) opus/", line, re.I))), None)
    if pt is None:
        return answer
    fmtp = f"a=fmtp:{pt} "
    if any(line.startswith(fmtp) for line in lines):
        lines = [f"{x};usedtx=1" if x.startswith(fmtp) and "usedtx=" not in x else x for x in lines]
    else:
        at = next(i for i, x in enumerate(lines) if x.startswith(f"a=rtpmap:{pt} "))
        lines.insert(at + 1, f"{fmtp}usedtx=1")
    return "\r\n".join(lines)


def tap_receiver(receiver: RTCRtpReceiver, sink: OpusSink) -> None:
    """Deliver each Opus payload to `sink` on arrival, in sequence order, bypassing aiortc's decode path."""
    codecs: dict[int, RTCRtpCodecParameters] = receiver._RTCRtpReceiver__codecs  # type: ignore[attr-defined]
    last: list[int | None] = [None]

    async def handle(packet: RtpPacket, arrival_time_ms: int) -> None:
        codec = codecs.get(packet.payload_type)
        if codec is None or codec.mimeType.lower() != "audio/opus" or not packet.payload:
            return
        previous = last[0]
        if previous is not None and (packet.sequence_number - previous) % 65536 >= 32768:
            return  # late or duplicate: its 20 ms has already been mixed as silence
        last[0] = packet.sequence_number
        sink(packet.payload)

    receiver._handle_rtp_packet = handle  # type: ignore[method-assign]


class PacketTrack(MediaStreamTrack):
    """An outgoing audio track fed with Opus packets; aiortc only packetises them (no encode).

    Each packet may carry the loop time its oldest audio reached the server; `on_delay` then gets the
    server-added delay as the packet is handed to aiortc's sender.
    """

    kind = "audio"

    def __init__(self, depth: int = 4, on_delay: Callable[[float], None] | None = None) -> None:
        super().__init__()
        self._queue: deque[tuple[bytes, int, float | None]] = deque()
        self._ready = asyncio.Event()
        self._depth = depth
        self._pts = 0
        self._last_push: float | None = None
        self._resting = False
        self._quiet = 0
        self.on_delay = on_delay

    def push(self, payload: bytes, now: float, source: float | None = None) -> None:
        self._resting = False
        self._enqueue(payload, now, source)

    def push_silence(self, now: float) -> None:
        """The mix this track carries is digital silence: send a DTX frame now and every 400 ms,
        nothing in between (as a browser's Opus DTX does), so a pause costs no encode and no packets."""
        if self._resting and self._quiet < DTX_EVERY:
            self._quiet += 1
            return
        self._resting, self._quiet = True, 1
        self._enqueue(DTX_FRAME, now, None)

    def _enqueue(self, payload: bytes, now: float, source: float | None) -> None:
        # RTP time follows the wall clock across gaps, so the far end's jitter buffer sees them as gaps
        if self._last_push is not None:
            skipped = round((now - self._last_push) * RATE / FRAME) - 1
            if skipped > 0:
                self._pts += skipped * FRAME
        self._last_push = now
        self._queue.append((payload, self._pts, source))
        self._pts += FRAME
        while len(self._queue) > self._depth:
            self._queue.popleft()
        self._ready.set()

    async def recv(self) -> av.Packet:  # type: ignore[type-arg]
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        payload, pts, source = self._queue.popleft()
        if source is not None and self.on_delay is not None:
            self.on_delay(asyncio.get_running_loop().time() - source)
        packet = av.Packet(payload)
        packet.pts = pts
        packet.time_base = TIME_BASE
        return packet

    def stop(self) -> None:
        super().stop()
        self._ready.set()


@dataclass(eq=False)
class Publisher:
    """One speaker's WHIP session in a space."""

    resource_id: str
    account_id: str
    pc: RTCPeerConnection
    out: PacketTrack | None  # None when the offer was sendonly (no mix-minus wanted)
    decoder: OpusDecoder = field(default_factory=OpusDecoder)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    async def close(self) -> None:
        if self.out is not None:
            self.out.stop()
        await self.pc.close()
        self.closed.set()


async def answer_offer(
    sdp: str,
    resource_id: str,
    account_id: str,
    sink: Callable[[Publisher, bytes], None],
    on_gone: Callable[[Publisher], None],
    on_delay: Callable[[float], None] | None = None,
) -> tuple[Publisher, str]:
    """Create the peer connection for a validated offer; returns the publisher and the SDP answer
    with every ICE candidate gathered (no trickle)."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        (transceiver,) = [t for t in pc.getTransceivers() if t.kind == "audio"]
        # aiortc keeps the offer's direction as seen from our side: "recvonly" means a send-only client
        wants_audio = transceiver._offerDirection in ("sendrecv", "sendonly")
        out = PacketTrack(on_delay=on_delay) if wants_audio else None
        if out is not None:
            pc.addTrack(out)
        publisher = Publisher(resource_id, account_id, pc, out)
        tap_receiver(transceiver.receiver, lambda payload: sink(publisher, payload))
        await pc.setLocalDescription(await pc.createAnswer())
    except Exception as exc:  # whatever aiortc refuses in the offer is the client's to fix
        await pc.close()
        raise Invalid("sdp_rejected", f"the SDP offer cannot be answered: {exc}") from exc

    @pc.on("connectionstatechange")
    def _state() -> None:
        if pc.connectionState in ("failed", "closed"):
            on_gone(publisher)

    return publisher, ask_for_dtx(pc.localDescription.sdp)
