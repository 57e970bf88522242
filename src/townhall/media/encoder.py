"""Codecs through PyAV: the programme's AAC-LC encoder, and the Opus encoder and decoder of the speakers' path.

Each call is a fraction of a millisecond (measured in docs/decisions/0003), so they run on the event
loop in the tick; nothing here does I/O or keeps more than one frame of audio.
"""

from __future__ import annotations

import fractions
import logging

import av
import numpy as np

from townhall.media.mixer import FRAME, RATE, Samples

log = logging.getLogger("townhall.media")

TIME_BASE = fractions.Fraction(1, RATE)
AAC_FRAME = 1024  # samples per AAC-LC access unit
AAC_PRIMING = 1024  # samples of encoder delay at the start of the AAC stream


class AacEncoder:
    """int16 mono 20 ms frames in, AAC-LC access units (1024 samples each) out, in order."""

    def __init__(self, bit_rate: int = 64_000) -> None:
        self.codec = av.CodecContext.create("aac", "w")
        self.codec.sample_rate = RATE
        self.codec.layout = "mono"
        self.codec.format = "fltp"
        self.codec.bit_rate = bit_rate
        self.codec.time_base = TIME_BASE
        # FFmpeg's "fast" coder costs half the default two-loop search (0.15 against 0.29 ms a frame,
        # measured) at the same rate; at 64 kbit/s for speech the difference is not audible
        self.codec.options = {"aac_coder": "fast"}
        self.codec.open()
        self._pending = np.zeros(0, dtype=np.float32)
        self._pts = 0

    @property
    def audio_specific_config(self) -> bytes:
        return bytes(self.codec.extradata or b"")

    def encode(self, samples: Samples) -> list[bytes]:
        self._pending = np.concatenate((self._pending, samples.astype(np.float32) / 32768.0))
        out: list[bytes] = []
        while self._pending.size >= AAC_FRAME:
            chunk, self._pending = self._pending[:AAC_FRAME], self._pending[AAC_FRAME:]
            frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="fltp", layout="mono")
            frame.sample_rate = RATE
            frame.pts = self._pts
            frame.time_base = TIME_BASE
            self._pts += AAC_FRAME
            out.extend(bytes(p) for p in self.codec.encode(frame))
        return out


class OpusEncoder:
    """Mono Opus at low complexity, one 20 ms packet per frame: the mix-minus a speaker hears."""

    def __init__(self, bit_rate: int = 32_000, complexity: int = 0) -> None:
        self.codec = av.CodecContext.create("libopus", "w")
        self.codec.sample_rate = RATE
        self.codec.layout = "mono"
        self.codec.format = "s16"
        self.codec.bit_rate = bit_rate
        self.codec.time_base = TIME_BASE
        self.codec.options = {"application": "voip", "compression_level": str(complexity)}
        self.codec.open()
        self._pts = 0

    def encode(self, samples: Samples) -> bytes | None:
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = TIME_BASE
        self._pts += FRAME
        packets = self.codec.encode(frame)
        return bytes(packets[0]) if packets else None


class OpusDecoder:
    """One speaker's Opus packets to int16 mono 20 ms frames; a corrupt packet yields nothing."""

    def __init__(self) -> None:
        self.codec = av.CodecContext.create("libopus", "r")
        self.codec.sample_rate = RATE
        self.codec.layout = "mono"
        self.codec.format = "s16"

    def decode(self, payload: bytes) -> list[Samples]:
        """The packet's audio as 20 ms frames (browsers send one; 40 or 60 ms packets give several)."""
        try:
            frames = self.codec.decode(av.Packet(payload))
        except av.FFmpegError as exc:
            log.debug("opus decode failed: %s", exc)
            return []
        if not frames:
            return []
        arrays = [f.to_ndarray().reshape(-1) for f in frames]
        samples = (arrays[0] if len(arrays) == 1 else np.concatenate(arrays)).astype(np.int16, copy=False)
        if samples.size == FRAME:
            return [samples]
        padded = np.zeros(-(-samples.size // FRAME) * FRAME, dtype=np.int16)
        padded[: samples.size] = samples
        return list(padded.reshape(-1, FRAME))
