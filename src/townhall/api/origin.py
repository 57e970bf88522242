"""The LL-HLS origin: multivariant and media playlists (with blocking reload), init section, parts, segments.

Only edges should reach it. Every answer is the same for every listener and cacheable: media objects
immutable for a year, playlists for a second, misses `no-cache` so an edge does not keep a 404.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from townhall.api.errors import error_response
from townhall.api.http import op
from townhall.api.runtime import runtime_of
from townhall.domain.errors import TownhallError
from townhall.domain.ids import ID_PATTERN
from townhall.media.playlist import blocking_request
from townhall.media.programme import Programme
from townhall.media.recorder import live_prefix

IMMUTABLE = "public, max-age=31536000, immutable"
PLAYLIST = "public, max-age=1"
M3U8 = "application/vnd.apple.mpegurl"
MP4 = "audio/mp4"
MEDIA_NAME = re.compile(r"^(p\d{1,12}\.\d{1,4}|s\d{1,12})$")


def _missing() -> Response:
    return error_response(404, "not_found", "no such stream object", {"Cache-Control": "no-cache"})


def _playlist(text: str | bytes) -> Response:
    return Response(text, media_type=M3U8, headers={"Cache-Control": PLAYLIST})


async def _stored(request: Request, space_id: str, name: str) -> bytes | None:
    data: bytes | None = await runtime_of(request).blobs.get(live_prefix(space_id) + name)
    return data


async def multivariant(request: Request) -> Response:
    space_id = request.path_params["space_id"]
    if not ID_PATTERN.match(space_id):
        return _missing()
    live = runtime_of(request).media.spaces.get(space_id)
    text = live.programme.multivariant if live is not None else await _stored(request, space_id, "master.m3u8")
    return _playlist(text) if text is not None else _missing()


async def media_playlist(request: Request) -> Response:
    space_id = request.path_params["space_id"]
    wanted = blocking_request(request.query_params)  # 400 for invalid _HLS_msn / _HLS_part
    if not ID_PATTERN.match(space_id):
        return _missing()
    live = runtime_of(request).media.spaces.get(space_id)
    if live is None:  # ended (its last playlist carries EXT-X-ENDLIST) or never here
        stored = await _stored(request, space_id, "media.m3u8")
        return _playlist(stored) if stored is not None else _missing()
    programme = live.programme
    if wanted is None:
        return _playlist(programme.playlist)
    hold = 3 * programme.window.timing.target_duration  # RFC 8216bis: at most three target durations
    return _playlist(await programme.wait_for(wanted[0], wanted[1], hold))


async def media_object(request: Request) -> Response:
    space_id = request.path_params["space_id"]
    name = request.path_params.get("name")
    filename = "init.mp4" if name is None else f"{name}.m4s"
    if not ID_PATTERN.match(space_id) or (name is not None and not MEDIA_NAME.match(name)):
        return _missing()
    live = runtime_of(request).media.spaces.get(space_id)
    data = live.programme.cached(filename) if live is not None else None
    if data is None and live is not None and name is not None and name.startswith("p"):
        data = await _preloaded(live.programme, name, filename)
    if data is None:
        data = await _stored(request, space_id, filename)
    if data is None:
        return _missing()
    return Response(data, media_type=MP4, headers={"Cache-Control": IMMUTABLE})


async def _preloaded(programme: Programme, name: str, filename: str) -> bytes | None:
    """A request for the part named by EXT-X-PRELOAD-HINT is held until the part exists."""
    msn, index = (int(x) for x in name[1:].split("."))
    if (msn, index) != programme.window.position:
        return None
    try:
        await programme.wait_for(msn, index, 3 * programme.window.timing.part_target)
    except TownhallError:
        return None
    return programme.cached(filename)


def routes(runtime: object | None = None) -> list[BaseRoute]:
    t = "origin"
    base = "/live/{space_id}"
    return [
        op("GET", f"{base}/master.m3u8", multivariant, summary="Multivariant playlist (edge only)", tag=t),
        op(
            "GET",
            f"{base}/media.m3u8",
            media_playlist,
            tag=t,
            errors=(400, 404, 503),
            summary="LL-HLS media playlist; _HLS_msn/_HLS_part hold until that part exists (edge only)",
        ),
        op("GET", f"{base}/init.mp4", media_object, summary="fMP4 initialisation section (edge only)", tag=t),
        op("GET", base + "/{name}.m4s", media_object, summary="A part or segment (edge only)", tag=t, errors=(404,)),
    ]
