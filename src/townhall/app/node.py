"""The scaled-out form's two roles, built here and nowhere else (docs/decisions/0008).

`townhall media`: a media node in its own process. Its audio clock runs on the media thread as in the
embedded form; its main loop holds the leases (`media.membership`), relays playlists and parts to every
API process through the hot state (`media.relay.LiveRelay`), extends each space's hash chain (fenced:
only while it holds the space) and answers the API's internal WHIP calls.

`townhall api`: the control plane and origin with no media node: listeners are answered from the relay
(`media.relay.RemoteOrigin`), speakers' offers go to the owner (`media.remote.RemotePublishing`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from townhall.api.errors import HANDLERS, error_response
from townhall.api.replay import KEYS_PATH
from townhall.app import database_url, edge_secret, media_config, open_blobs, open_leases, open_state
from townhall.app.roster import RosterReader
from townhall.domain.errors import Invalid, NotFound
from townhall.domain.spaces import SpaceState
from townhall.media.membership import Membership
from townhall.media.node import MediaNode
from townhall.media.recorder import SegmentRecord
from townhall.media.relay import LiveRelay
from townhall.media.remote import NODE_HEADER
from townhall.media.thread import HostState, ThreadedMedia
from townhall.services.context import Context
from townhall.services.recording_keys import ReplayKeys
from townhall.services.replay import ReplayService
from townhall.settings import Settings
from townhall.store.blobs.spool import SpooledBlobs, space_of
from townhall.store.sql import db as sqldb
from townhall.store.sql.repos import MemberRepo, SpaceRepo
from townhall.store.sql.repos_recording import ChainRepo, RecordingRepo
from townhall.store.state.base import StateStore
from townhall.store.state.leases import MemoryLeases, RedisLeases

log = logging.getLogger("townhall")


def node_id(settings: Settings) -> str:
    return settings.node_id or f"{socket.gethostname()}-{os.getpid()}"


@dataclass
class MediaRole:
    settings: Settings
    db: AsyncEngine
    state: StateStore
    leases: MemoryLeases | RedisLeases
    media: ThreadedMedia
    membership: Membership
    relay: LiveRelay
    replay: ReplayService
    registry: CollectorRegistry
    secret: str
    roster: RosterReader
    blobs: SpooledBlobs


def build_media_role(settings: Settings, clock: Callable[[], float] = time.time) -> MediaRole:
    s = settings
    s.data_dir.mkdir(parents=True, exist_ok=True)
    engine = sqldb.open_engine(database_url(s))
    state, leases = open_state(s), open_leases(s)
    registry = CollectorRegistry()
    # the programme writes to this node's disk first; uploads to the shared store follow in the background,
    # only while this node may write the space (docs/deploy.md, faults)
    remote = open_blobs(s)
    blobs = SpooledBlobs(
        remote,
        s.data_dir / "spool",
        registry,
        may_upload=lambda key: (sid := space_of(key)) is None or membership.may_upload(sid),
    )
    host_state = HostState(state)
    spaces = SpaceRepo(engine)

    async def live_spaces() -> set[str]:
        return {space.id for space in await spaces.find([SpaceState.LIVE], 100_000)}

    public = s.public_url.rstrip("/") or f"http://{s.host}:{s.port}"
    url = s.node_url.rstrip("/") or f"http://{s.host}:{s.port}"
    # the node asks the membership for each space's fence, the membership starts and stops the node's
    # spaces: the lambdas bind `membership` once it exists
    relay = LiveRelay(state, leases, lambda sid: membership.lease_of(sid), lambda sid: membership.lost(sid), clock)
    node = MediaNode(
        media_config(s),
        blobs,
        host_state,
        registry,
        relay=relay,
        fence_for=lambda sid: membership.fence_for(sid),
        clock=clock,
    )
    media = ThreadedMedia(node, host_state)
    membership = Membership(
        node_id(s), url, leases, state, media, live_spaces, s.media_lease_ttl_s, clock, s.media_lease_grace_s
    )
    Gauge(
        "townhall_media_lease_unrenewed_seconds",
        "how long this node has not been able to renew its leases (0 while it can)",
        registry=registry,
    ).set_function(membership.unrenewed_s)
    ctx = Context(settings=s, state=state, clock=clock)
    path = s.replay_keys_file or str(s.data_dir / "replay-keys.json")
    keys = ReplayKeys(Path(path)).load(clock())
    replay = ReplayService(ctx, state, ChainRepo(engine), RecordingRepo(engine), remote, keys, public + KEYS_PATH)

    def chain(space_id: str, record: SegmentRecord) -> None:
        held = membership.fence_for(space_id)
        if held is not None and held.valid():  # a node that lost the space writes no chain link
            replay.on_segment(space_id, record)

    media.on_segment(chain)
    replay.on_head.append(media.set_chain_head)
    roster = RosterReader(media, MemberRepo(engine), s.media_roster_reconcile_s)
    return MediaRole(
        s, engine, state, leases, media, membership, relay, replay, registry, edge_secret(s), roster, blobs
    )


def media_app(role: MediaRole) -> Starlette:
    """The media node's own HTTP endpoints: internal WHIP for API processes, health and metrics."""
    media, membership = role.media, role.membership

    def _authorised(request: Request) -> None:
        if request.headers.get(NODE_HEADER) != role.secret:
            raise NotFound("not_found", "no such endpoint")

    def _here(space_id: str) -> None:
        if membership.lease_of(space_id) is None:
            raise NotFound("space_not_here", "this media node does not run this space")

    async def offer(request: Request) -> Response:
        _authorised(request)
        space_id = request.path_params["space_id"]
        _here(space_id)
        try:
            body = await request.json()
            account_id, sdp, muted = str(body["account_id"]), str(body["sdp"]), bool(body["muted"])
        except (ValueError, KeyError, TypeError) as exc:
            raise Invalid("invalid_body", "an internal offer is {account_id, sdp, muted}") from exc
        resource_id, answer = await media.offer(space_id, account_id, sdp, muted)
        return JSONResponse({"resource_id": resource_id, "answer": answer})

    async def hang_up(request: Request) -> Response:
        _authorised(request)
        space_id, resource_id = request.path_params["space_id"], request.path_params["resource_id"]
        if not await media.end_session(space_id, resource_id, request.query_params.get("account_id", "")):
            raise NotFound("whip_session_not_found", "no such publishing session")
        return Response(status_code=204)

    async def healthz(request: Request) -> Response:
        return JSONResponse(
            {
                "status": "ok",
                "node": membership.node_id,
                "spaces": sorted(membership.held),
                "upload_backlog": role.blobs.backlog,
            }
        )

    async def readyz(request: Request) -> Response:
        if await role.state.ping():
            return JSONResponse({"status": "ready", "node": membership.node_id})
        return error_response(503, "state_unavailable", "the hot state does not answer", {"Retry-After": "2"})

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(role.registry), media_type=CONTENT_TYPE_LATEST)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        role.relay.start_writing()
        await media.start()
        await role.replay.start()
        await membership.start()
        await role.roster.start()
        try:
            yield
        finally:
            await role.roster.stop()
            await membership.stop()
            await media.stop()
            await role.relay.stop_writing()
            await role.replay.stop()
            await role.leases.close()
            await role.state.close()
            await role.db.dispose()

    routes = [
        Route("/internal/whip/{space_id}", offer, methods=["POST"]),
        Route("/internal/whip/{space_id}/{resource_id}", hang_up, methods=["DELETE"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
    ]
    return Starlette(routes=routes, exception_handlers=HANDLERS, lifespan=lifespan)
