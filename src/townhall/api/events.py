"""The event WebSocket of host and speaker pages: `/api/spaces/<id>/events?access_token=<session>`.

Relays the state store channel `space:<id>`; voices see every event, other accounts only their own and
the space's start and end. Never sends anything before the session is authenticated.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from townhall.api.errors import STATUS
from townhall.api.http import bearer
from townhall.api.runtime import runtime_of
from townhall.domain.errors import TownhallError
from townhall.domain.roles import VOICES, Role

EVERYONE = frozenset({"started", "ended"})


def visible(event: dict[str, Any], account_id: str, role: Role) -> bool:
    """Whether someone with `role` in the space sees `event` (voices see all; others their own)."""
    return role in VOICES or event.get("type") in EVERYONE or event.get("account_id") == account_id


def role_after(event: dict[str, Any], account_id: str, role: Role) -> Role:
    """The role someone holds once `event` has happened."""
    if event.get("account_id") != account_id:
        return role
    kind = event.get("type")
    if kind == "role":
        return Role(str(event.get("role")))
    if kind in ("removed", "suspended"):
        return Role.LISTENER
    return role


async def _refuse(ws: WebSocket, exc: TownhallError) -> None:
    """Accept, say why in the usual error shape, and close with 4000 + the HTTP status."""
    status = STATUS.get(exc.kind, 400)
    await ws.accept()
    await ws.send_json({"type": "error", "code": exc.code, "message": exc.message})
    await ws.close(code=4000 + status, reason=exc.code)


async def _relay(ws: WebSocket, messages: AsyncIterator[bytes], account_id: str, role: Role) -> None:
    async for raw in messages:
        try:
            event = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(event, dict):
            continue
        role = role_after(event, account_id, role)
        if visible(event, account_id, role):
            await ws.send_json(event)


async def _drain(ws: WebSocket) -> None:
    """Read (and ignore) whatever the client sends, text or bytes, until it goes away."""
    while (await ws.receive())["type"] != "websocket.disconnect":
        pass


async def events(ws: WebSocket) -> None:
    rt = runtime_of(ws)
    space_id = ws.path_params["space_id"]
    try:
        account = await rt.accounts.authenticate(bearer(ws))
        space = await rt.spaces.get(space_id)
    except TownhallError as exc:
        await _refuse(ws, exc)
        return
    member = await rt.spaces.role_of(space.id, account.id)
    role = member.role if member is not None and not member.blocked else Role.LISTENER
    messages = rt.state.subscribe(f"space:{space.id}")  # registered now: nothing after the hello is missed
    await ws.accept()
    await ws.send_json({"type": "hello", "space_id": space.id, "state": space.state.value, "role": role.value})
    relay = asyncio.create_task(_relay(ws, messages, account.id, role))
    drain = asyncio.create_task(_drain(ws))
    done, pending = await asyncio.wait({relay, drain}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            await task
    for task in done:
        if task is relay and not task.cancelled() and task.exception() is not None:
            with contextlib.suppress(RuntimeError):
                await ws.close(code=1011)


def routes() -> list[WebSocketRoute]:
    return [WebSocketRoute("/api/spaces/{space_id}/events", events)]
