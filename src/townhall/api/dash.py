"""Chunked CMAF (low-latency DASH) beside LL-HLS: the MPD, the segments streamed as they are made, a clock.

Built on the `LiveOrigin` port alone (api/origin.py), so the embedded media node and the relay answer
it alike: a segment `c<msn>.m4s` is the LL-HLS parts of segment <msn>, each written down the response
the moment the blocking reload says it exists. One encode: the chunks are the stored parts' bytes,
the recording and the replay's hash chain are untouched. Only edges (or a listener's tokened path)
reach it, through the same LiveGate.

A segment request is answered with headers at once and held open from before its first chunk to its
last (Varnish streams it to every listener who asks meanwhile, with one origin request). Bounded: a
segment more than one ahead of the one being made is refused at once, and the whole hold is bounded by
the segment's time plus a margin. If the programme stalls mid-segment the connection is cut rather
than closed, so no cache keeps a short segment as if it were whole.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute
from starlette.types import Send

from townhall.api.errors import error_response
from townhall.api.http import op
from townhall.api.origin import IMMUTABLE, MP4, PLAYLIST, LiveOrigin
from townhall.api.runtime import Runtime, runtime_of
from townhall.domain.errors import Unavailable
from townhall.domain.ids import ID_PATTERN
from townhall.domain.objects import live_prefix
from townhall.media.mpd import (
    CLOCK_PATH,
    MPD_TYPE,
    ChunkTiming,
    LiveState,
    anchor,
    decode_time,
    live_state,
    render,
)
from townhall.media.playlist import part_uri, segment_uri

log = logging.getLogger("townhall.api")
NUMBER = re.compile(r"^\d{1,12}\Z")
AHEAD_SEGMENTS = 1  # a request for the segment after the one being made is held; further is refused
HOLD_MARGIN_S = 3.0  # beyond the segment's own time, before a stalled programme cuts the stream


class SegmentStalled(Exception):
    """The programme stopped delivering mid-segment: the response is cut, not completed."""


class ChunkStream(StreamingResponse):
    """Chunks down a response as they come. A stalled programme ends it without the final empty chunk
    (the server then closes the connection), so neither an edge nor a player takes the segment as whole."""

    async def stream_response(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        try:
            async for chunk in self.body_iterator:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except SegmentStalled as exc:
            log.warning("chunked segment cut: %s", exc)
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _missing(code: str = "not_found", message: str = "no such stream object") -> Response:
    return error_response(404, code, message, {"Cache-Control": "no-cache"})


def _timing(rt: Runtime) -> ChunkTiming:
    return ChunkTiming(rt.settings.media_part_frames, rt.settings.media_parts_per_segment)


async def _object(rt: Runtime, space_id: str, name: str) -> bytes | None:
    data = await rt.origin.media_object(space_id, name)
    if data is None:
        data = await rt.blobs.get(live_prefix(space_id) + name)
    return data


async def manifest(request: Request) -> Response:
    rt = runtime_of(request)
    space_id = request.path_params["space_id"]
    if not ID_PATTERN.match(space_id):
        return _missing()
    text = await rt.origin.playlist(space_id, None)
    if text is None:
        return _missing("not_live", "this space is not live")
    state = live_state(text)
    if state.ended:
        return _missing("not_live", "this space has ended")
    timing = _timing(rt)
    first = await _first_chunk(rt, space_id, state)
    decode = decode_time(first[1]) if first is not None else None
    at = anchor(state, timing, first[0], decode) if first is not None and decode is not None else None
    if at is None:
        raise Unavailable("stream_starting", "the stream has no audio yet", retry_after=1)
    window_s = rt.settings.media_playlist_segments * timing.segment_s / 2
    body = render(
        state,
        timing,
        at,
        int(rt.settings.media_aac_bit_rate * 1.25),
        time.time(),
        f"{rt.listener_base_url}{CLOCK_PATH}",
        window_s,
    )
    return Response(body, media_type=MPD_TYPE, headers={"Cache-Control": PLAYLIST})


async def _first_chunk(rt: Runtime, space_id: str, state: LiveState) -> tuple[int, bytes] | None:
    """The first chunk of the newest segment listed, whose decode time anchors the template."""
    for msn, _ in reversed(state.anchors):
        data = await _object(rt, space_id, part_uri(msn, 0))
        if data is not None:
            return msn, data
    return None


async def segment(request: Request) -> Response:
    rt = runtime_of(request)
    space_id, number = request.path_params["space_id"], request.path_params["number"]
    if not ID_PATTERN.match(space_id) or not NUMBER.match(number):
        return _missing()
    msn = int(number)
    text = await rt.origin.playlist(space_id, None)
    state = live_state(text) if text is not None else None
    if state is None or state.ended or msn < state.next_msn:  # complete (or never made): served whole
        data = await _object(rt, space_id, segment_uri(msn))
        if data is None:
            return _missing()
        return Response(data, media_type=MP4, headers={"Cache-Control": IMMUTABLE})
    if msn > state.next_msn + AHEAD_SEGMENTS:
        return _missing("segment_too_early", f"segment {msn} is not being made yet (now {state.next_msn})")
    timing = _timing(rt)
    ahead = msn - state.next_msn + 1  # segments' time until this one is complete, at most
    hold_s = ahead * timing.segment_s + HOLD_MARGIN_S
    chunks = _chunks(rt.origin, rt, space_id, msn, state, timing.parts_per_segment, hold_s)
    return ChunkStream(chunks, media_type=MP4, headers={"Cache-Control": IMMUTABLE})


async def _chunks(
    origin: LiveOrigin, rt: Runtime, space_id: str, msn: int, state: LiveState, parts: int, hold_s: float
) -> AsyncIterator[bytes]:
    """Each part of segment `msn`, the moment the playlist says it exists (blocking reload on the
    preload hint, so no polling); stops early only when the space has ended."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + hold_s
    for index in range(parts):
        while not state.has(msn, index):
            if loop.time() > deadline or state.position is None:
                raise SegmentStalled(f"space {space_id}: part {index} of segment {msn} did not come")
            try:
                text = await origin.playlist(space_id, state.position)
            except Unavailable as exc:  # the hold timed out: the programme stalled
                raise SegmentStalled(str(exc)) from exc
            if text is None:  # stopped here: what is stored says whether it ended
                stored = await rt.blobs.get(live_prefix(space_id) + "media.m3u8")
                text = stored.decode() if stored is not None else None
                if text is None or "#EXT-X-ENDLIST" not in text:
                    raise SegmentStalled(f"space {space_id} stopped here mid-segment")
            state = live_state(text)
        data = await _object(rt, space_id, part_uri(msn, index))
        if data is None:
            if state.ended:
                return  # the space ended inside this segment: it is complete as it stands
            raise SegmentStalled(f"space {space_id}: part {index} of segment {msn} is gone")
        yield data


async def clock(request: Request) -> Response:
    """The server's time for players (DASH UTCTiming, http-iso): never cached, by anyone."""
    now = time.time()
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
    headers = {"Cache-Control": "no-store", "Access-Control-Allow-Origin": "*"}
    return Response(text, media_type="text/plain", headers=headers)


def routes() -> list[BaseRoute]:
    """Before the origin's routes: `c<n>.m4s` would otherwise match its `{name}.m4s`."""
    t = "origin"
    base = "/live/{space_id}"
    return [
        op(
            "GET",
            f"{base}/chunked.mpd",
            manifest,
            tag=t,
            errors=(404, 503),
            summary="Low-latency DASH manifest (chunked CMAF) of a live space (edge only)",
        ),
        op(
            "GET",
            base + "/c{number}.m4s",
            segment,
            tag=t,
            errors=(404,),
            summary="A segment as chunked CMAF, streamed chunk by chunk while it is made (edge only)",
        ),
        op("GET", CLOCK_PATH, clock, tag=t, summary="The server's clock (ISO 8601, for DASH UTCTiming)"),
    ]
