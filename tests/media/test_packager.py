"""fMP4 packaging: an init section and parts that FFmpeg decodes; a segment is exactly its parts."""

from __future__ import annotations

import io

import av
import numpy as np

from townhall.media.encoder import AAC_FRAME, AacEncoder
from townhall.media.mixer import FRAME
from townhall.media.packager import Packager, init_segment


def encode_seconds(seconds: float) -> tuple[AacEncoder, list[bytes]]:
    encoder = AacEncoder()
    units: list[bytes] = []
    t = np.arange(FRAME) / 48_000
    for i in range(int(seconds * 50)):
        units += encoder.encode((np.sin(2 * np.pi * 440 * (t + i * 0.02)) * 8000).astype(np.int16))
    return encoder, units


def test_parts_of_ten_frames_and_segments_of_nine_parts_decode_in_ffmpeg() -> None:
    encoder, units = encode_seconds(4.2)
    packager = Packager(frames_per_part=10, parts_per_segment=9)
    parts, segments = [], []
    for unit in units:
        part, segment = packager.add(unit)
        if part:
            parts.append(part)
        if segment:
            segments.append(segment)
    assert len(segments) == 2 and len(parts) >= 18
    assert [p.name for p in parts[:2]] == ["p0.0.m4s", "p0.1.m4s"] and segments[1].name == "s1.m4s"
    assert segments[0].data == b"".join(p.data for p in parts[:9])
    assert all(p.duration == 10 * AAC_FRAME for p in parts)
    assert parts[9].start == 90 * AAC_FRAME and parts[9].msn == 1 and parts[9].index == 0

    init = init_segment(encoder.audio_specific_config, 64_000)
    with av.open(io.BytesIO(init + segments[0].data + segments[1].data), mode="r", format="mp4") as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name == "aac" and stream.sample_rate == 48_000
        decoded = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(stream)])
    assert len(decoded) == 180 * AAC_FRAME
    # the tone survives: strong energy at 440 Hz after the priming
    spectrum = np.abs(np.fft.rfft(decoded[4096 : 4096 + 48_000]))
    assert abs(np.argmax(spectrum) - 440) <= 2


def test_init_section_is_deterministic_so_a_restart_rewrites_the_same_bytes() -> None:
    encoder = AacEncoder()
    assert init_segment(encoder.audio_specific_config, 64_000) == init_segment(
        AacEncoder().audio_specific_config, 64_000
    )
