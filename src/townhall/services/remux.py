"""One audio file from fMP4 segments by remuxing with PyAV: the replay's download and clips, trimmed at
access-unit boundaries. Packets are copied as they are; nothing is decoded or re-encoded.

Blocking (file and CPU work): callers run it in a thread, never on the event loop.
"""

from __future__ import annotations

import io
import tempfile
from fractions import Fraction
from pathlib import Path

import av


def remux_m4a(fmp4: Path, start_s: float | None = None, end_s: float | None = None) -> bytes:
    """An .m4a (MP4, faststart) of a fragmented MP4 file (init section then segments), keeping the
    packets whose time lies in [start_s, end_s)."""
    with tempfile.TemporaryDirectory(prefix="townhall-remux-") as tmp:
        out_path = Path(tmp) / "out.m4a"
        source = av.open(str(fmp4), "r", format="mp4")
        sink = av.open(str(out_path), "w", format="ipod", options={"movflags": "+faststart"})
        try:
            audio = source.streams.audio[0]
            base = audio.time_base or Fraction(1, audio.rate or 48_000)
            stream = sink.add_stream_from_template(audio)
            first: int | None = None
            for packet in source.demux(audio):
                if packet.dts is None or packet.pts is None:
                    continue
                at = float(packet.pts * base)
                if (start_s is not None and at < start_s) or (end_s is not None and at >= end_s):
                    continue
                if first is None:
                    first = packet.pts
                packet.pts -= first  # the file starts at zero; the source timeline is in the manifest
                packet.dts -= first
                packet.stream = stream
                sink.mux(packet)
        finally:
            sink.close()
            source.close()
        return out_path.read_bytes()


def duration_s(data: bytes) -> float:
    """Playable length of an audio file, from its container."""
    with av.open(io.BytesIO(data), "r") as f:
        stream = f.streams.audio[0]
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        return float((f.duration or 0) / av.time_base)
