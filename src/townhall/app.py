"""The composition root: reads settings, opens each store from its URL, builds the services and
returns the ASGI app. The only place that chooses implementations; no other module does.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from townhall.metrics import Metrics
from townhall.services.accounts import AccountService
from townhall.services.admission import AdmissionService
from townhall.services.context import Context
from townhall.services.keys import TokenKeys, load_or_create_secrets, parse_keys
from townhall.services.room import RoomService
from townhall.services.spaces import SpaceService
from townhall.settings import Settings
from townhall.store.blobs.base import BlobStore
from townhall.store.sql import db as sqldb
from townhall.store.sql.repos import AccountRepo, MemberRepo, SessionRepo, SpaceRepo
from townhall.store.state.base import StateStore

log = logging.getLogger("townhall")
Hook = Callable[[], Awaitable[None]]


def database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    return f"sqlite+aiosqlite:///{(settings.data_dir / 'townhall.db').resolve()}"


def open_state(settings: Settings) -> StateStore:
    url = settings.state_url
    if url.startswith("memory://"):
        from townhall.store.state.memory import MemoryState

        return MemoryState(settings.lease_ttl_s, settings.wait_ticket_ttl_s)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from townhall.store.state.redis import RedisState

        s = settings
        return RedisState(url, s.lease_ttl_s, s.wait_ticket_ttl_s, s.state_prefix, s.state_max_connections)
    raise ValueError(f"TOWNHALL_STATE_URL: unknown scheme in {url!r} (memory:// or redis://)")


def open_blobs(settings: Settings) -> BlobStore:
    url = settings.blob_url or f"file://{(settings.data_dir / 'blobs').resolve()}"
    if url.startswith("file://"):
        from townhall.store.blobs.local import LocalBlobs

        return LocalBlobs(Path(url.removeprefix("file://")))
    raise ValueError(f"TOWNHALL_BLOB_URL: unknown scheme in {url!r} (file://)")


def token_keys(settings: Settings) -> TokenKeys:
    if settings.token_keys:
        return parse_keys(settings.token_keys)
    return parse_keys(load_or_create_secrets(settings.data_dir)["token_keys"])


def edge_secret(settings: Settings) -> str:
    """The credential edges fetch live media from the origin with (a shared secret, never a default)."""
    return settings.edge_secret or load_or_create_secrets(settings.data_dir)["edge_secret"]


@dataclass
class Runtime:
    """Everything one process holds: settings, adapters, services. Built by `build_runtime`."""

    settings: Settings
    clock: Callable[[], float]
    db: AsyncEngine
    state: StateStore
    blobs: BlobStore
    keys: TokenKeys
    edge_secret: str
    metrics: Metrics
    ctx: Context
    accounts: AccountService
    spaces: SpaceService
    admission: AdmissionService
    room: RoomService
    public_url: str
    listener_base_url: str
    media: Any = None  # the media node, when this process runs one
    recording: Any = None  # replay, clips and counting (wired by api/replay.py)
    trust: Any = None  # trust and safety, DSA (wired by api/trust.py)
    startup: list[Hook] = field(default_factory=list)
    shutdown: list[Hook] = field(default_factory=list)
    gauges: Any = None

    async def db_ping(self) -> bool:
        return await sqldb.ping(self.db)

    async def refresh_gauges(self) -> None:
        from townhall.domain.spaces import SpaceState

        live = await self.spaces.find([SpaceState.LIVE], self.settings.list_limit_max)
        listeners = waiting = 0
        for space in live:
            seated, queued = await self.admission.counts(space)
            listeners += seated
            waiting += queued
        self.gauges.values = {
            "townhall_live_spaces": ("Spaces live now (up to list_limit_max)", len(live)),
            "townhall_listeners": ("Listeners holding a seat in live spaces", listeners),
            "townhall_waiting_room": ("Listeners waiting for a seat", waiting),
        }


def build_runtime(settings: Settings, clock: Callable[[], float] = time.time) -> Runtime:
    from townhall.api.ops import GaugeCollector

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = sqldb.open_engine(database_url(settings))
    state = open_state(settings)
    keys = token_keys(settings)
    metrics = Metrics()
    ctx = Context(settings=settings, state=state, clock=clock)
    accounts = AccountService(ctx, AccountRepo(engine), SessionRepo(engine))
    spaces = SpaceService(ctx, SpaceRepo(engine), MemberRepo(engine), AccountRepo(engine), keys)
    admission = AdmissionService(ctx, spaces, keys)
    public = settings.public_url.rstrip("/") or f"http://{settings.host}:{settings.port}"
    gauges = GaugeCollector()
    metrics.registry.register(gauges)
    return Runtime(
        settings=settings,
        clock=clock,
        db=engine,
        state=state,
        blobs=open_blobs(settings),
        keys=keys,
        edge_secret=edge_secret(settings),
        metrics=metrics,
        ctx=ctx,
        accounts=accounts,
        spaces=spaces,
        admission=admission,
        room=RoomService(ctx, spaces, admission),
        public_url=public,
        listener_base_url=settings.listener_base_url.rstrip("/") or public,
        gauges=gauges,
    )


def media_node(rt: Runtime) -> Any:
    """The media node of this process, started and stopped with the app, told when spaces go live and end."""
    from townhall.domain.spaces import SpaceState
    from townhall.media.node import MediaConfig, MediaNode

    node = MediaNode(MediaConfig.from_settings(rt.settings), rt.blobs, rt.state, rt.metrics.registry)

    async def resume_live() -> None:
        await node.start()
        for space in await rt.spaces.find([SpaceState.LIVE], rt.settings.list_limit_max):
            await node.ensure_space(space)

    async def ended(space: Any) -> None:
        await node.stop_space(space.id)

    rt.spaces.on_live.append(node.ensure_space)
    rt.spaces.on_end.append(ended)
    rt.startup.append(resume_live)
    rt.shutdown.append(node.stop)
    return node


def area_routes(rt: Runtime) -> list[BaseRoute]:
    """Each area's routes; an area wires itself in here with one line."""
    from townhall.api import accounts, events, listen, ops, origin, replay, spaces, trust, web, whip

    return [
        *ops.routes(),
        *accounts.routes(),
        *spaces.routes(),
        *listen.routes(),
        *web.routes(),
        *whip.routes(rt),
        *origin.routes(rt),
        *events.routes(),
        *replay.routes(rt),
        *trust.routes(rt),
    ]


def build_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Starlette:
    from townhall.api.errors import HANDLERS
    from townhall.api.listen import LiveGate
    from townhall.api.ops import AccessLog
    from townhall.api.trust import WithheldGate

    rt = runtime or build_runtime(settings or Settings())
    if rt.media is None:
        rt.media = media_node(rt)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await sqldb.migrate(str(rt.db.url.render_as_string(hide_password=False)))
        for hook in rt.startup:
            await hook()
        try:
            yield
        finally:
            for hook in reversed(rt.shutdown):
                await hook()
            await rt.state.close()
            await rt.db.dispose()

    routes = area_routes(rt)

    async def release_seats(space: Any) -> None:
        # last of the end hooks (counting reads the final figures first): an ended space holds no seats
        await rt.state.drop_space(space.id)

    rt.spaces.on_end.append(release_seats)
    app = Starlette(
        routes=routes,
        middleware=[Middleware(AccessLog), Middleware(LiveGate), Middleware(WithheldGate)],
        exception_handlers=HANDLERS,
        lifespan=lifespan,
    )
    app.state.runtime = rt
    return app
