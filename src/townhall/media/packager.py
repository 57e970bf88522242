"""Fragmented MP4 (CMAF) for the programme: one init section, parts of whole AAC frames, segments of parts.

Pure bytes in, bytes out: no clock, no I/O. A part is one moof+mdat; a segment is the concatenation
of its parts, so a segment and its parts are the same media and neither is ever re-encoded.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from townhall.media.encoder import AAC_FRAME
from townhall.media.mixer import RATE
from townhall.media.playlist import part_uri, segment_uri

TRACK_ID = 1
_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return box(kind, struct.pack(">I", (version << 24) | flags), *payload)


def _descriptor(tag: int, body: bytes) -> bytes:
    assert len(body) < 128
    return bytes((tag, len(body))) + body


def _esds(asc: bytes, bit_rate: int) -> bytes:
    decoder_specific = _descriptor(0x05, asc)
    # objectTypeIndication 0x40 (MPEG-4 audio), streamType 5 (audio) << 2 | upstream 0 | reserved 1
    decoder_config = _descriptor(0x04, struct.pack(">BBBHII", 0x40, 0x15, 0, 0, bit_rate, bit_rate) + decoder_specific)
    es = _descriptor(0x03, struct.pack(">HB", TRACK_ID, 0) + decoder_config + _descriptor(0x06, b"\x02"))
    return full_box(b"esds", 0, 0, es)


def init_segment(asc: bytes, bit_rate: int, channels: int = 1) -> bytes:
    """ftyp + moov for one AAC-LC audio track at 48 kHz; deterministic (no creation times)."""
    ftyp = box(b"ftyp", b"iso6", struct.pack(">I", 0), b"iso6cmfcmp41")
    mvhd = full_box(
        b"mvhd",
        0,
        0,
        struct.pack(">IIII", 0, 0, 1000, 0),
        struct.pack(">IH10x", 0x10000, 0x100),
        _MATRIX,
        bytes(24),
        struct.pack(">I", TRACK_ID + 1),
    )
    tkhd = full_box(
        b"tkhd",
        0,
        3,
        struct.pack(">IIIII", 0, 0, TRACK_ID, 0, 0),
        bytes(8),
        struct.pack(">hhhH", 0, 0, 0x100, 0),
        _MATRIX,
        struct.pack(">II", 0, 0),
    )
    mdhd = full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, RATE, 0, 0x55C4, 0))  # language "und"
    hdlr = full_box(b"hdlr", 0, 0, struct.pack(">I4s12x", 0, b"soun"), b"townhall\x00")
    mp4a = box(
        b"mp4a",
        bytes(6),
        struct.pack(">H", 1),
        bytes(8),
        struct.pack(">HHHHI", channels, 16, 0, 0, RATE << 16),
        _esds(asc, bit_rate),
    )
    stbl = box(
        b"stbl",
        full_box(b"stsd", 0, 0, struct.pack(">I", 1), mp4a),
        full_box(b"stts", 0, 0, struct.pack(">I", 0)),
        full_box(b"stsc", 0, 0, struct.pack(">I", 0)),
        full_box(b"stsz", 0, 0, struct.pack(">II", 0, 0)),
        full_box(b"stco", 0, 0, struct.pack(">I", 0)),
    )
    dinf = box(b"dinf", full_box(b"dref", 0, 0, struct.pack(">I", 1), full_box(b"url ", 0, 1)))
    minf = box(b"minf", full_box(b"smhd", 0, 0, struct.pack(">hH", 0, 0)), dinf, stbl)
    trak = box(b"trak", tkhd, box(b"mdia", mdhd, hdlr, minf))
    mvex = box(b"mvex", full_box(b"trex", 0, 0, struct.pack(">IIIII", TRACK_ID, 1, AAC_FRAME, 0, 0)))
    return ftyp + box(b"moov", mvhd, trak, mvex)


def fragment(sequence: int, base_time: int, samples: list[bytes]) -> bytes:
    """moof + mdat holding `samples` (AAC access units of 1024 samples) from media time `base_time`."""
    tfhd = full_box(b"tfhd", 0, 0x020008, struct.pack(">II", TRACK_ID, AAC_FRAME))  # base is moof; duration
    tfdt = full_box(b"tfdt", 1, 0, struct.pack(">Q", base_time))
    sizes = b"".join(struct.pack(">I", len(s)) for s in samples)

    def moof(data_offset: int) -> bytes:
        trun = full_box(b"trun", 0, 0x000201, struct.pack(">Ii", len(samples), data_offset), sizes)
        return box(b"moof", full_box(b"mfhd", 0, 0, struct.pack(">I", sequence)), box(b"traf", tfhd, tfdt, trun))

    size = len(moof(0))
    return moof(size + 8) + box(b"mdat", *samples)


@dataclass(frozen=True, slots=True)
class Part:
    msn: int  # media sequence number of the segment it belongs to
    index: int  # its place in that segment, from 0
    data: bytes
    start: int  # media time of its first sample, in 1/48000 s
    duration: int  # in samples

    @property
    def name(self) -> str:
        return part_uri(self.msn, self.index)


@dataclass(frozen=True, slots=True)
class Segment:
    msn: int
    parts: tuple[Part, ...]
    data: bytes
    start: int
    duration: int

    @property
    def name(self) -> str:
        return segment_uri(self.msn)


class Packager:
    """Cuts a stream of AAC access units into parts and segments, each returned the moment it is whole."""

    def __init__(self, frames_per_part: int, parts_per_segment: int, first_msn: int = 0, start: int = 0) -> None:
        self.frames_per_part = frames_per_part
        self.parts_per_segment = parts_per_segment
        self.msn = first_msn
        self.time = start  # media time of the next access unit
        self._units: list[bytes] = []
        self._part_start = start
        self._parts: list[Part] = []

    @property
    def part_samples(self) -> int:
        return self.frames_per_part * AAC_FRAME

    @property
    def next_part(self) -> tuple[int, int]:
        """(msn, index) of the part being filled: the preload hint."""
        return self.msn, len(self._parts)

    def add(self, unit: bytes) -> tuple[Part | None, Segment | None]:
        if not self._units:
            self._part_start = self.time
        self._units.append(unit)
        self.time += AAC_FRAME
        if len(self._units) < self.frames_per_part:
            return None, None
        index = len(self._parts)
        sequence = self.msn * self.parts_per_segment + index + 1
        data = fragment(sequence, self._part_start, self._units)
        part = Part(self.msn, index, data, self._part_start, len(self._units) * AAC_FRAME)
        self._units = []
        self._parts.append(part)
        if len(self._parts) < self.parts_per_segment:
            return part, None
        return part, self._close_segment()

    def flush(self) -> tuple[Part | None, Segment | None]:
        """At the end of the programme: the access units not yet cut as a last, shorter part, and the parts of
        the unfinished segment as a last, shorter segment (valid HLS), so nothing heard is left out."""
        part = None
        if self._units:
            index = len(self._parts)
            sequence = self.msn * self.parts_per_segment + index + 1
            data = fragment(sequence, self._part_start, self._units)
            part = Part(self.msn, index, data, self._part_start, len(self._units) * AAC_FRAME)
            self._units = []
            self._parts.append(part)
        return part, (self._close_segment() if self._parts else None)

    def _close_segment(self) -> Segment:
        parts, self._parts = tuple(self._parts), []
        segment = Segment(
            self.msn, parts, b"".join(p.data for p in parts), parts[0].start, sum(p.duration for p in parts)
        )
        self.msn += 1
        return segment
