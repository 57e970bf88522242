"""What a handler may reach: the process's adapters and services, typed, built by the composition root
(`townhall.app`). Handlers get it with `runtime_of(request)`, the one lookup of `app.state.runtime`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from townhall.api.ops import GaugeCollector
    from townhall.api.origin import LiveOrigin
    from townhall.api.replay import Recording
    from townhall.api.trust.common import Trust
    from townhall.api.whip import Publishing
    from townhall.media.thread import ThreadedMedia
    from townhall.metrics import Metrics
    from townhall.services.accounts import AccountService
    from townhall.services.admission import AdmissionService
    from townhall.services.context import Context
    from townhall.services.keys import TokenKeys
    from townhall.services.room import RoomService
    from townhall.services.spaces import SpaceService
    from townhall.settings import Settings
    from townhall.store.blobs.base import BlobStore
    from townhall.store.state.base import StateStore

Hook = Callable[[], Awaitable[None]]


@dataclass
class Runtime:
    """Everything one process holds: settings, adapters, services. Built by `townhall.app.build_runtime`."""

    settings: Settings
    clock: Callable[[], float]
    db: AsyncEngine
    ping_db: Callable[[], Awaitable[bool]]
    state: StateStore
    blobs: BlobStore
    keys: TokenKeys
    edge_secret: str
    metrics: Metrics
    gauges: GaugeCollector
    ctx: Context
    accounts: AccountService
    spaces: SpaceService
    admission: AdmissionService
    room: RoomService
    recording: Recording
    trust: Trust
    public_url: str
    listener_base_url: str
    origin: LiveOrigin  # the live spaces this process answers for
    publishing: Publishing  # where speakers' offers go
    media: ThreadedMedia | None = None  # this process's media node, when it runs one
    startup: list[Hook] = field(default_factory=list)
    shutdown: list[Hook] = field(default_factory=list)
    started: bool = False  # every startup hook has run (a process started while Redis was down: not yet)


def runtime_of(conn: HTTPConnection) -> Runtime:
    """The runtime of the app serving this request (or websocket)."""
    rt: Runtime = conn.app.state.runtime
    return rt
