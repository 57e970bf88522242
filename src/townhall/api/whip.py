"""WHIP endpoints (RFC 9725): POST an SDP offer to publish into a space, DELETE the session to hang up.

Every check (token, rate, role, SDP shape) runs before a peer connection exists, so a refused offer
sets nothing up. Never trickles ICE: the answer carries every gathered candidate.
"""

from __future__ import annotations

import re
from typing import Protocol

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from townhall.api.http import bearer, op
from townhall.api.runtime import runtime_of
from townhall.domain import tokens
from townhall.domain.errors import (
    Invalid,
    NotFound,
    RateLimited,
    TooLarge,
    TownhallError,
    Unauthenticated,
    UnsupportedMediaType,
)
from townhall.media.ingest import validate_offer

SDP = "application/sdp"


class Publishing(Protocol):
    """Where a speaker's audio goes: the media node running the space (this process's, today)."""

    async def offer(self, space_id: str, account_id: str, sdp: str, muted: bool) -> tuple[str, str]:
        """Answer a validated, authorised offer: (resource id, SDP answer)."""

    async def end_session(self, space_id: str, resource_id: str, account_id: str) -> bool:
        """Hang up the account's session; False when there is no such session."""

    def rejected(self, code: str) -> None:
        """Count an offer refused before it reached the media node."""


def _account_of(request: Request, space_id: str) -> str:
    rt = runtime_of(request)
    token = bearer(request)
    if token is None:
        raise Unauthenticated("token_missing", "publishing needs Authorization: Bearer <speaker token>")
    claims = tokens.verify(token, rt.keys.keys, rt.clock(), tokens.Scope.SPEAK, space_id)
    account_id, _ = tokens.subject_ids(claims.subject)
    if account_id is None:
        raise Unauthenticated("token_not_an_account", "a speaker token names an account")
    return account_id


async def _read_offer(request: Request, limit: int) -> str:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != SDP:
        raise UnsupportedMediaType("unsupported_media_type", "a WHIP offer is sent as Content-Type: application/sdp")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise TooLarge("sdp_too_large", f"the SDP offer is larger than {limit} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge("sdp_too_large", f"the SDP offer is larger than {limit} bytes")
    try:
        return body.decode()
    except UnicodeDecodeError as exc:
        raise Invalid("sdp_malformed", "the SDP offer is not UTF-8 text") from exc


async def publish(request: Request) -> Response:
    rt = runtime_of(request)
    s = rt.settings
    space_id = request.path_params["space_id"]
    try:
        account_id = _account_of(request, space_id)
        if not await rt.state.hit(f"whip:{account_id}", s.whip_offers_per_second, 1.0, rt.clock()):
            raise RateLimited("whip_rate_limited", "too many publish attempts; wait a second", retry_after=1.0)
        try:
            sdp = await _read_offer(request, s.whip_sdp_max_bytes)
        except TooLarge as exc:  # RFC 9725 and our issue: a bad offer is a 400
            raise Invalid(exc.code, exc.message) from exc
        validate_offer(sdp, s.whip_sdp_max_bytes)
        member = await rt.spaces.publisher(space_id, account_id)
        resource_id, answer = await rt.publishing.offer(space_id, account_id, sdp, bool(member.muted))
    except TownhallError as exc:
        rt.publishing.rejected(exc.code)
        raise
    location = f"/whip/{space_id}/{resource_id}"
    return Response(
        answer,
        status_code=201,
        media_type=SDP,
        headers={"Location": location, "ETag": f'"{resource_id}"', "Cache-Control": "no-store"},
    )


async def hang_up(request: Request) -> Response:
    rt = runtime_of(request)
    space_id, resource_id = request.path_params["space_id"], request.path_params["resource_id"]
    account_id = _account_of(request, space_id)
    if not await rt.publishing.end_session(space_id, resource_id, account_id):
        raise NotFound("whip_session_not_found", "no such publishing session")
    return Response(status_code=200, headers={"Cache-Control": "no-store"})


_ENDPOINT = re.compile(r"^/whip/[^/]+$")
_RESOURCE = re.compile(r"^/whip/[^/]+/[^/]+$")
_CORS = {
    # Tokens, never cookies, are the only authority, so any origin may call: a broadcaster's own page publishes.
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Location, ETag, Link, Retry-After, Accept-Post, Accept-Patch",
}


class WhipCors:
    """CORS for the WHIP endpoint and its resources (RFC 9725 section 4.2: endpoints MUST support OPTIONS for
    CORS, and SHOULD answer it with Accept-Post). A browser WHIP client on another origin preflights its POST
    (Authorization and Content-Type: application/sdp make it non-simple) and reads Location and ETag from the
    answer; every answer under /whip/, errors included, carries the headers it needs to read it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        endpoint, resource = bool(_ENDPOINT.match(path)), bool(_RESOURCE.match(path))
        if scope["type"] != "http" or not (endpoint or resource):
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            methods = "POST, OPTIONS" if endpoint else "PATCH, DELETE, OPTIONS"  # PATCH: 405, no trickle ICE
            headers = {
                **_CORS,
                "Allow": methods,
                "Access-Control-Allow-Methods": methods,
                "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
                "Access-Control-Max-Age": "86400",
                "Cache-Control": "no-store",
            }
            if endpoint:
                headers["Accept-Post"] = SDP
            await Response(status_code=204, headers=headers)(scope, receive, send)
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                for name, value in _CORS.items():
                    out[name] = value
            await send(message)

        await self.app(scope, receive, with_cors)


def routes() -> list[BaseRoute]:
    t = "media"
    return [
        op(
            "POST",
            "/whip/{space_id}",
            publish,
            summary="Publish a speaker's audio (WHIP, RFC 9725)",
            tag=t,
            auth="speaker token",
            status=201,
            errors=(400, 401, 403, 404, 409, 410, 429),
        ),
        op(
            "DELETE",
            "/whip/{space_id}/{resource_id}",
            hang_up,
            summary="Hang up a WHIP session",
            tag=t,
            auth="speaker token",
            errors=(401, 403, 404),
        ),
    ]
