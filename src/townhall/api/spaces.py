"""Spaces endpoints: lifecycle, listing, the roster and every role action of the host and speakers."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from townhall.api.accounts import current_account
from townhall.api.http import ok, op, read_json
from townhall.api.runtime import runtime_of
from townhall.api.schemas import (
    CapIn,
    MemberOut,
    MuteIn,
    QueueOut,
    RosterOut,
    SpaceIn,
    SpaceList,
    SpaceOut,
    SpeakerTokenOut,
    TargetIn,
)
from townhall.domain.accounts import Account
from townhall.domain.errors import Invalid
from townhall.domain.spaces import Member, Space, SpaceState


def space_out(request: Request, space: Space, host: str | None = None) -> dict[str, object]:
    rt = runtime_of(request)
    return SpaceOut(
        id=space.id,
        title=space.title,
        state=space.state.value,
        host_id=space.host_id,
        host=host,
        created_at=space.created_at,
        scheduled_start=space.scheduled_start,
        started_at=space.started_at,
        ended_at=space.ended_at,
        ended_reason=space.ended_reason,
        listener_cap=space.listener_cap,
        admissions_per_minute=space.admissions_per_minute or rt.settings.admissions_per_minute_default,
        under_attack=space.under_attack or rt.settings.under_attack,
        recording=space.recording,
        replay_public=space.replay_public,
        page_url=f"{rt.public_url}/s/{space.id}",
    ).model_dump()


def member_out(m: Member) -> dict[str, object]:
    return MemberOut(
        account_id=m.account_id, handle=m.handle, role=m.role.value, muted=m.muted, invited=m.invited
    ).model_dump()


async def create(request: Request) -> Response:
    host = await current_account(request)
    body = await read_json(request, SpaceIn)
    space = await runtime_of(request).spaces.create(
        host,
        body.title,
        body.scheduled_start,
        body.listener_cap,
        body.recording,
        body.replay_public,
        body.admissions_per_minute,
    )
    return ok(space_out(request, space, host.handle), status=201)


async def listing(request: Request) -> Response:
    wanted = request.query_params.get("state", "live,scheduled")
    try:
        states = [SpaceState(s) for s in wanted.split(",") if s]
        limit = int(request.query_params.get("limit", "50"))
    except ValueError as exc:
        raise Invalid("invalid_query", "state must be live, scheduled or ended; limit a number") from exc
    rt = runtime_of(request)
    found = await rt.spaces.find(states, limit)
    hidden = await rt.trust.effects.undiscoverable() if rt.trust is not None else set()
    shown = [s for s in found if s.id not in hidden]
    hosts = await rt.spaces.host_handles(shown)
    return ok({"spaces": [space_out(request, s, hosts.get(s.host_id)) for s in shown]})


async def fetch(request: Request) -> Response:
    rt = runtime_of(request)
    space = await rt.spaces.get(request.path_params["space_id"])
    host = await rt.spaces.role_of(space.id, space.host_id)
    return ok(space_out(request, space, host.handle if host else None))


async def _host_handle(request: Request, space: Space, actor: Account) -> str | None:
    """The host's handle: the actor's when the host acted, else looked up (a co-host starts or ends too)."""
    if actor.id == space.host_id:
        return actor.handle
    return (await runtime_of(request).spaces.host_handles([space])).get(space.host_id)


async def start(request: Request) -> Response:
    actor = await current_account(request)
    space = await runtime_of(request).spaces.start(actor, request.path_params["space_id"])
    return ok(space_out(request, space, await _host_handle(request, space, actor)))


async def end(request: Request) -> Response:
    actor = await current_account(request)
    space = await runtime_of(request).spaces.end(actor, request.path_params["space_id"])
    return ok(space_out(request, space, await _host_handle(request, space, actor)))


async def set_cap(request: Request) -> Response:
    actor = await current_account(request)
    body = await read_json(request, CapIn)
    keep_rate = "admissions_per_minute" not in body.model_fields_set
    space = await runtime_of(request).spaces.set_cap(
        actor, request.path_params["space_id"], body.listener_cap, body.admissions_per_minute, keep_rate
    )
    return ok(space_out(request, space, actor.handle))


async def roster(request: Request) -> Response:
    members = await runtime_of(request).spaces.roster(request.path_params["space_id"])
    return ok({"members": [member_out(m) for m in members if not m.blocked]})


async def ask(request: Request) -> Response:
    actor = await current_account(request)
    position = await runtime_of(request).spaces.request_to_speak(actor, request.path_params["space_id"])
    return ok({"position": position}, status=201)


async def withdraw(request: Request) -> Response:
    actor = await current_account(request)
    await runtime_of(request).spaces.withdraw_request(actor, request.path_params["space_id"])
    return Response(status_code=204)


async def requests(request: Request) -> Response:
    actor = await current_account(request)
    found = await runtime_of(request).spaces.requests(actor, request.path_params["space_id"])
    return ok({"members": [member_out(m) for m in found]})


def _targeted(method_name: str):  # type: ignore[no-untyped-def]
    async def handler(request: Request) -> Response:
        actor = await current_account(request)
        body = await read_json(request, TargetIn)
        service = runtime_of(request).spaces
        await getattr(service, method_name)(actor, request.path_params["space_id"], body.account_id)
        return Response(status_code=204)

    return handler


async def mute(request: Request) -> Response:
    actor = await current_account(request)
    body = await read_json(request, MuteIn)
    await runtime_of(request).spaces.mute(actor, request.path_params["space_id"], body.account_id, body.muted)
    return Response(status_code=204)


async def accept_invite(request: Request) -> Response:
    actor = await current_account(request)
    await runtime_of(request).spaces.accept_invite(actor, request.path_params["space_id"])
    return Response(status_code=204)


async def speaker_token(request: Request) -> Response:
    rt = runtime_of(request)
    actor = await current_account(request)
    space_id = request.path_params["space_id"]
    token = await rt.spaces.speaker_token(actor, space_id)
    return ok({"token": token, "whip_url": f"{rt.public_url}/whip/{space_id}"})


def routes() -> list[Route]:
    t = "spaces"
    s = "/api/spaces/{space_id}"
    session = "session"
    targeted = [
        ("accept", "accept_request", "Accept a listener's request to speak"),
        ("decline", "decline_request", "Decline a request to speak"),
        ("invite", "invite", "Invite a listener to speak"),
        ("cohost", "make_cohost", "Make someone a co-host (host only)"),
        ("demote", "move_to_listener", "Move a speaker back to listener (or step down yourself)"),
        ("remove", "remove", "Remove someone from the space and block them from rejoining"),
    ]
    return [
        op(
            "POST",
            "/api/spaces",
            create,
            summary="Create or schedule a space",
            tag=t,
            body=SpaceIn,
            response=SpaceOut,
            auth=session,
            status=201,
            errors=(400, 401, 403, 429),
        ),
        op(
            "GET",
            "/api/spaces",
            listing,
            summary="List live and scheduled spaces (?state=live,scheduled,ended)",
            tag=t,
            response=SpaceList,
        ),
        op("GET", s, fetch, summary="One space", tag=t, response=SpaceOut, errors=(404,)),
        op(
            "POST",
            f"{s}/start",
            start,
            summary="Go live",
            tag=t,
            response=SpaceOut,
            auth=session,
            errors=(401, 403, 404, 409),
        ),
        op(
            "POST",
            f"{s}/end",
            end,
            summary="End the space",
            tag=t,
            response=SpaceOut,
            auth=session,
            errors=(401, 403, 404),
        ),
        op(
            "PUT",
            f"{s}/cap",
            set_cap,
            summary="Set or lift the listener cap",
            tag=t,
            body=CapIn,
            response=SpaceOut,
            auth=session,
        ),
        op(
            "GET",
            f"{s}/members",
            roster,
            summary="Host, co-hosts, speakers and known listeners",
            tag=t,
            response=RosterOut,
        ),
        op(
            "POST",
            f"{s}/requests",
            ask,
            summary="Ask to speak",
            tag=t,
            response=QueueOut,
            auth=session,
            status=201,
            errors=(401, 403, 409, 429),
        ),
        op(
            "DELETE",
            f"{s}/requests/mine",
            withdraw,
            summary="Withdraw your request to speak",
            tag=t,
            auth=session,
            status=204,
        ),
        op(
            "GET",
            f"{s}/requests",
            requests,
            summary="Pending requests to speak (host and co-hosts)",
            tag=t,
            response=RosterOut,
            auth=session,
        ),
        *[
            op(
                "POST",
                f"{s}/{path}",
                _targeted(method),
                summary=summary,
                tag=t,
                body=TargetIn,
                auth=session,
                status=204,
                errors=(400, 401, 403, 404, 409),
            )
            for path, method, summary in targeted
        ],
        op(
            "POST",
            f"{s}/mute",
            mute,
            summary="Mute or unmute (others: host and co-hosts mute; unmute only yourself)",
            tag=t,
            body=MuteIn,
            auth=session,
            status=204,
            errors=(401, 403, 404),
        ),
        op(
            "POST",
            f"{s}/invite/accept",
            accept_invite,
            summary="Accept an invitation to speak",
            tag=t,
            auth=session,
            status=204,
        ),
        op(
            "POST",
            f"{s}/speaker-token",
            speaker_token,
            summary="A token to publish over WHIP",
            tag=t,
            response=SpeakerTokenOut,
            auth=session,
            errors=(401, 403, 404, 410),
        ),
    ]
