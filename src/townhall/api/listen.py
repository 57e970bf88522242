"""Listener endpoints: join (seat or waiting room), lease renewal, leave, reactions, room state.

The join is the control plane's hot path; renewals and leaves authenticate with the listener token.
Also the gate in front of the origin's live media: the edge's credential or a listener token.
"""

from __future__ import annotations

import hmac
import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from townhall.api.errors import error_response
from townhall.api.http import bearer, client_address, country_of, ok, op, read_json
from townhall.api.runtime import runtime_of
from townhall.api.schemas import ChallengeOut, JoinIn, JoinOut, ReactionIn
from townhall.domain import tokens
from townhall.domain.counting import is_bot
from townhall.domain.errors import Forbidden, TownhallError, Unavailable
from townhall.services.admission import Joined, JoinResult, Listener, Lobby


async def _listener(request: Request, device_id: str | None) -> Listener:
    """Who joins; crawlers, tools and self-declared load generators (`X-Townhall-Synthetic: 1`) are
    marked synthetic in their token and counted apart."""
    rt = runtime_of(request)
    session = bearer(request)
    account = await rt.accounts.authenticate(session) if session else None
    synthetic = request.headers.get("x-townhall-synthetic") == "1" or is_bot(request.headers.get("user-agent", ""))
    return Listener.of(account, device_id, synthetic)


async def join(request: Request) -> Response:
    rt = runtime_of(request)
    body = await read_json(request, JoinIn)
    space_id = request.path_params["space_id"]
    listener = await _listener(request, body.device_id)
    solution = (body.proof.challenge, body.proof.nonce) if body.proof is not None else None
    result = await rt.admission.join(space_id, listener, client_address(request), country_of(request), solution)
    return _answer(request, space_id, result)


async def queue(request: Request) -> Response:
    """Where am I in the waiting room: the ticket a join gave (the page keeps it across a refresh)."""
    rt = runtime_of(request)
    space_id = request.path_params["space_id"]
    result = await rt.admission.where(space_id, bearer(request) or "", country_of(request))
    return _answer(request, space_id, result)


async def challenge(request: Request) -> Response:
    rt = runtime_of(request)
    found = await rt.admission.challenge(request.path_params["space_id"])
    body = ChallengeOut(challenge=found.text, difficulty=found.bits, expires=found.expires).model_dump()
    return ok(body, headers={"Cache-Control": "no-store"})


def _answer(request: Request, space_id: str, result: JoinResult) -> Response:
    rt = runtime_of(request)
    if isinstance(result, Lobby):  # before the start: no seat, no token, no listen; a place in the pool
        start = result.space.scheduled_start
        lobby = {
            "status": "lobby",
            "scheduled_start": start,
            "starts_in_s": None if start is None else max(0.0, start - rt.clock()),
            "retry_after_s": result.retry_after_s,
            "ticket": result.ticket,
            "position": 0,  # places are drawn when the space starts
        }
        return ok(lobby, status=202)
    (rt.metrics.admitted if isinstance(result, Joined) else rt.metrics.waited).inc()
    if isinstance(result, Joined):
        base = f"{rt.listener_base_url}/e/{result.token}/live/{space_id}"
        return ok(
            {
                "status": "admitted",
                "token": result.token,
                "lease_expires": result.lease_expires,
                # a third of the lease (longer in open spaces) or of the token's life, whichever is shorter
                "renew_every_s": max(1.0, min(result.lease_expires - rt.clock(), rt.settings.listener_token_ttl_s) / 3),
                "playlist_url": f"{base}/master.m3u8",
                "state_url": f"{base}/state.json",
            }
        )
    waiting = {"status": "waiting", "position": result.position, "ticket": result.ticket}
    return ok({**waiting, "poll_after_s": result.poll_after_s}, status=202)


def _listener_token(request: Request) -> tokens.Claims:
    rt = runtime_of(request)
    return tokens.verify(
        bearer(request) or "", rt.keys.keys, rt.clock(), tokens.Scope.LISTEN, request.path_params["space_id"]
    )


async def renew(request: Request) -> Response:
    rt = runtime_of(request)
    claims = _listener_token(request)
    listener = Listener(claims.subject, synthetic=claims.synthetic)
    renewed = await rt.admission.renew(claims.space_id, listener, country_of(request))
    return ok({"lease_expires": renewed.lease_expires, "token": renewed.token})


async def leave(request: Request) -> Response:
    claims = _listener_token(request)
    await runtime_of(request).admission.leave(claims.space_id, Listener(claims.subject))
    return Response(status_code=204)


async def react(request: Request) -> Response:
    rt = runtime_of(request)
    body = await read_json(request, ReactionIn)
    claims = _listener_token(request)
    if await rt.spaces.revocations.revoked(claims.space_id, claims.subject):
        raise Forbidden("token_revoked", REVOKED)
    await rt.room.react(claims.space_id, body.kind, claims.subject)
    return Response(status_code=204)


REVOKED = "this listener token was revoked: removed or blocked from the space, or the account suspended"
REVOKED_HEADER = "X-Townhall-Revoked"


async def revoked_list(request: Request) -> Response:
    """The subjects whose listener tokens for this space are revoked now, space-separated in a header
    the edge reads (VCL cannot read a body); cached by the edge for at most `edge_revocation_ttl_s`."""
    rt = runtime_of(request)
    listed = await rt.spaces.revocations.listed(request.path_params["space_id"])
    headers = {REVOKED_HEADER: " ".join(listed), "Cache-Control": f"public, max-age={rt.settings.room_state_max_age_s}"}
    return ok({"revoked": listed}, headers=headers)


async def room_state(request: Request) -> Response:
    rt = runtime_of(request)
    doc = await rt.room.document(request.path_params["space_id"])
    headers = {"ETag": doc.etag, "Cache-Control": f"public, max-age={rt.settings.room_state_max_age_s}"}
    if request.headers.get("if-none-match") == doc.etag:
        return Response(status_code=304, headers=headers)
    return Response(doc.body, media_type="application/json", headers=headers)


def routes() -> list[Route]:
    t = "listening"
    s = "/api/spaces/{space_id}"
    return [
        op(
            "POST",
            f"{s}/join",
            join,
            summary="Join as a listener: a seat and a listener token (200), a place in the waiting "
            "room (202, status waiting), or the lobby of a space not started yet (202, status lobby: no seat, "
            "no listen counted); call again to poll",
            tag=t,
            body=JoinIn,
            response=JoinOut,
            errors=(400, 401, 403, 404, 410, 429, 451),
        ),
        op(
            "POST",
            f"{s}/queue",
            queue,
            summary="Where am I in the waiting room (Authorization: Bearer <ticket>): a seat and a "
            "listener token (200), or the place (202)",
            tag=t,
            auth="waiting-room ticket",
            response=JoinOut,
            errors=(401, 403, 404, 410, 451),
        ),
        op(
            "POST",
            f"{s}/challenge",
            challenge,
            summary="A proof-of-work challenge for the next join (difficulty 0 unless the space is under attack)",
            tag=t,
            response=ChallengeOut,
            errors=(404,),
        ),
        op(
            "POST",
            f"{s}/lease",
            renew,
            summary="Renew the seat and get a fresh listener token (Authorization: Bearer <listener token>); "
            "403 token_revoked once removed, blocked or suspended, 451 once withheld in your country",
            tag=t,
            auth="listener token",
            errors=(401, 403, 404, 410, 451),
        ),
        op(
            "DELETE",
            f"{s}/lease",
            leave,
            summary="Leave and free the seat",
            tag=t,
            auth="listener token",
            status=204,
            errors=(401, 403),
        ),
        op(
            "POST",
            f"{s}/reactions",
            react,
            summary="Send a reaction",
            tag=t,
            body=ReactionIn,
            auth="listener token",
            status=204,
            errors=(400, 401, 403, 410, 429),
        ),
        op("GET", f"{s}/state", room_state, summary="Room state: speakers, who is speaking, counts, reactions", tag=t),
        op("GET", "/live/{space_id}/state.json", room_state, summary="Room state as the edge serves it", tag=t),
        op(
            "GET",
            "/live/{space_id}/revoked",
            revoked_list,
            summary="Subjects whose listener tokens for this space are revoked (edge only; header X-Townhall-Revoked)",
            tag=t,
        ),
    ]


EDGE_CREDENTIAL = "x-townhall-edge"
# The live stream's objects (playlists, init section, parts, segments): anything under /live/<id>/
# but the room state, which is public at /api/spaces/<id>/state as well.
_LIVE = re.compile(r"^/+live(/|\Z)")
_PUBLIC = re.compile(r"^/live/[^/]+/state\.json\Z")


def from_edge(scope: Scope, credential: str) -> bool:
    """Whether the request carries the edge's credential (compared in constant time)."""
    given = next((v for k, v in scope.get("headers", ()) if k == EDGE_CREDENTIAL.encode()), b"")
    return bool(given) and hmac.compare_digest(given, credential.encode())


class LiveGate:
    """The origin serves live media to two callers only: the edge, which proves itself with its
    credential (one fetch for every listener whose token it checked), and a listener whose valid token
    prefixes the path (`/e/<token>/live/<space>/...`, the embedded default with no edge in front).
    It reads the decoded path the router reads, so no spelling of a URL gets around it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        elif path.startswith("/e/"):
            await self._tokened(path, scope, receive, send)
        elif _LIVE.match(path) and not _PUBLIC.match(path) and not self._from_edge(scope):
            message = "live media needs a listener token (join the space) or the edge's credential"
            await error_response(403, "token_missing", message)(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    @staticmethod
    def _from_edge(scope: Scope) -> bool:
        return from_edge(scope, scope["app"].state.runtime.edge_secret)

    async def _tokened(self, path: str, scope: Scope, receive: Receive, send: Send) -> None:
        parts = path.split("/", 5)  # "", "e", token, "live", space, rest
        if len(parts) < 6 or parts[3] != "live" or parts[5] == "revoked":  # the revocation list: edges only
            await error_response(404, "not_found", "no such resource")(scope, receive, send)
            return
        rt = scope["app"].state.runtime
        try:
            claims = tokens.verify(parts[2], rt.keys.keys, rt.clock(), tokens.Scope.LISTEN, parts[4])
            if await rt.spaces.revocations.revoked(claims.space_id, claims.subject):
                raise Forbidden("token_revoked", REVOKED)
        except Unavailable as exc:
            await error_response(503, exc.code, exc.message, {"Retry-After": "1"})(scope, receive, send)
            return
        except TownhallError as exc:
            await error_response(403, exc.code, exc.message)(scope, receive, send)
            return
        rest = "/" + "/".join(parts[3:])
        await self.app({**scope, "path": rest, "raw_path": rest.encode()}, receive, send)
