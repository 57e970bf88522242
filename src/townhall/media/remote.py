"""The API process's view of media nodes in other processes (the scaled-out form).

`RemotePublishing` implements the WHIP handler's `Publishing` port: the API checks the token, the rate
and the role as always, then hands the offer to the node that holds the space's lease (found through
the leases and the nodes' heartbeats; during a drain, the successor it names) over its internal endpoint,
and returns the answer as its own; the resource URL stays on the API, so DELETE works through any API
process. `RemoteControl` tells the nodes that a space went live or ended (a signal; the nodes' rounds
find the same from the database).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Protocol

import httpx

from townhall.domain.errors import Conflict, Invalid, NotFound, TownhallError, Unavailable
from townhall.domain.placement import Lease, Member, space_lease
from townhall.media.membership import PLACEMENT_CHANNEL

NODE_HEADER = "X-Townhall-Node"
CLAIM_WAIT_S = 5.0  # a publish to a space no node holds yet waits this long for a claim
OFFER_TIMEOUT_S = 15.0  # ICE gathering on the node included


class Owners(Protocol):
    async def holder(self, name: str, now: float) -> Lease | None: ...
    async def members(self, now: float) -> list[Member]: ...
    async def fenced_get(self, name: str, what: str, now: float) -> bytes | None: ...
    async def close(self) -> None: ...


class Signal(Protocol):
    async def publish(self, channel: str, message: bytes) -> None: ...


_ERRORS: dict[int, type[TownhallError]] = {400: Invalid, 404: NotFound, 409: Conflict}


class RemoteControl:
    """The root's control of spaces when media nodes run elsewhere."""

    def __init__(self, signal: Signal) -> None:
        self.signal = signal

    async def _tell(self, space_id: str, event: str) -> None:
        await self.signal.publish(PLACEMENT_CHANNEL, json.dumps({"space": space_id, "event": event}).encode())

    async def ensure_space(self, space_id: str) -> None:
        await self._tell(space_id, "live")

    async def stop_space(self, space_id: str) -> None:
        await self._tell(space_id, "end")


class RemotePublishing:
    def __init__(self, owners: Owners, signal: Signal, secret: str, clock: Callable[[], float]) -> None:
        self.owners = owners
        self.control = RemoteControl(signal)
        self.secret = secret
        self.clock = clock
        self.rejections: dict[str, int] = {}
        self._http = httpx.AsyncClient(timeout=OFFER_TIMEOUT_S, headers={NODE_HEADER: secret})

    async def _owner(self, space_id: str, wait_s: float) -> Member:
        """The node holding the space; a space nobody holds yet is signalled and waited for briefly."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        signalled = False
        while True:
            lease = await self.owners.holder(space_lease(space_id), self.clock())
            if lease is not None:
                # a drain names the successor (written under the old owner's lease): speakers move to it
                # before the old node stops producing
                successor = await self.owners.fenced_get(space_lease(space_id), "successor", self.clock())
                wanted = successor.decode() if successor is not None else lease.holder
                members = {member.node_id: member for member in await self.owners.members(self.clock())}
                found = members.get(wanted) or members.get(lease.holder)
                if found is not None:
                    return found
            if loop.time() >= deadline:
                raise Unavailable("media_node_unavailable", "no media node runs this space right now; try again")
            if not signalled:
                await self.control.ensure_space(space_id)
                signalled = True
            await asyncio.sleep(0.1)  # a claim takes one membership round; bounded by the deadline

    async def _call(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self._http.send(request)
        except httpx.HTTPError as exc:
            reason = type(exc).__name__
            raise Unavailable("media_node_unavailable", f"the media node did not answer ({reason})") from exc
        if response.status_code >= 400:
            try:
                error = response.json()  # the node answers errors as the API does: {"code", "message"}
                code, message = str(error["code"]), str(error["message"])
            except (ValueError, KeyError, TypeError):
                code, message = "media_node_error", f"the media node answered {response.status_code}"
            if code == "space_not_here":  # the lease moved on since we looked: a speaker tries again
                raise Unavailable("media_node_unavailable", message)
            raise _ERRORS.get(response.status_code, Unavailable)(code, message)
        return response

    async def offer(self, space_id: str, account_id: str, sdp: str, muted: bool) -> tuple[str, str]:
        node = await self._owner(space_id, CLAIM_WAIT_S)
        body = {"account_id": account_id, "sdp": sdp, "muted": muted}
        response = await self._call(self._http.build_request("POST", f"{node.url}/internal/whip/{space_id}", json=body))
        reply = response.json()
        return str(reply["resource_id"]), str(reply["answer"])

    async def end_session(self, space_id: str, resource_id: str, account_id: str) -> bool:
        try:
            node = await self._owner(space_id, 0.0)
        except Unavailable:
            return False  # no node runs the space: the session is gone with its node
        url = f"{node.url}/internal/whip/{space_id}/{resource_id}"
        try:
            await self._call(self._http.build_request("DELETE", url, params={"account_id": account_id}))
        except NotFound:
            return False
        return True

    def rejected(self, code: str) -> None:
        self.rejections[code] = self.rejections.get(code, 0) + 1

    async def close(self) -> None:
        """Closes its HTTP client and the leases it was given (it is their only user in an API process)."""
        await self._http.aclose()
        await self.owners.close()
