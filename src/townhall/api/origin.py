"""The LL-HLS origin: multivariant and media playlists (with blocking reload), init section, parts, segments.

Only edges should reach it. Every answer is the same for every listener and cacheable: media objects
immutable for a year, playlists for a second, misses `no-cache` so an edge does not keep a 404.
"""

from __future__ import annotations

import re
from typing import Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from townhall.api.errors import error_response
from townhall.api.http import op
from townhall.api.runtime import runtime_of
from townhall.domain.ids import ID_PATTERN
from townhall.domain.objects import live_prefix
from townhall.media.playlist import blocking_request

IMMUTABLE = "public, max-age=31536000, immutable"
PLAYLIST = "public, max-age=1"
M3U8 = "application/vnd.apple.mpegurl"
MP4 = "audio/mp4"
MEDIA_NAME = re.compile(r"^(p\d{1,12}\.\d{1,4}|s\d{1,12})\Z")


def _missing() -> Response:
    return error_response(404, "not_found", "no such stream object", {"Cache-Control": "no-cache"})


def _playlist(text: str | bytes) -> Response:
    return Response(text, media_type=M3U8, headers={"Cache-Control": PLAYLIST})


class LiveOrigin(Protocol):
    """The live spaces this process can answer for (the local media node today)."""

    async def multivariant(self, space_id: str) -> str | None:
        """None when the space is not live here."""

    async def playlist(self, space_id: str, wanted: tuple[int, int | None] | None) -> str | None:
        """The live playlist, held until `wanted` (msn, part) exists; None when not live here."""

    async def media_object(self, space_id: str, filename: str) -> bytes | None:
        """A recent part or segment, or the init section; None when not here (the blob store may have it)."""


async def _stored(request: Request, space_id: str, name: str) -> bytes | None:
    return await runtime_of(request).blobs.get(live_prefix(space_id) + name)


async def multivariant(request: Request) -> Response:
    space_id = request.path_params["space_id"]
    if not ID_PATTERN.match(space_id):
        return _missing()
    text = await runtime_of(request).origin.multivariant(space_id) or await _stored(request, space_id, "master.m3u8")
    return _playlist(text) if text is not None else _missing()


async def media_playlist(request: Request) -> Response:
    space_id = request.path_params["space_id"]
    wanted = blocking_request(request.query_params)  # 400 for invalid _HLS_msn / _HLS_part
    if not ID_PATTERN.match(space_id):
        return _missing()
    text = await runtime_of(request).origin.playlist(space_id, wanted)
    if text is None:  # ended (its last playlist carries EXT-X-ENDLIST) or never here
        stored = await _stored(request, space_id, "media.m3u8")
        return _playlist(stored) if stored is not None else _missing()
    return _playlist(text)


async def media_object(request: Request) -> Response:
    space_id = request.path_params["space_id"]
    name = request.path_params.get("name")
    filename = "init.mp4" if name is None else f"{name}.m4s"
    if not ID_PATTERN.match(space_id) or (name is not None and not MEDIA_NAME.match(name)):
        return _missing()
    data = await runtime_of(request).origin.media_object(space_id, filename)
    if data is None:
        data = await _stored(request, space_id, filename)
    if data is None:
        return _missing()
    return Response(data, media_type=MP4, headers={"Cache-Control": IMMUTABLE})


def routes() -> list[BaseRoute]:
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
